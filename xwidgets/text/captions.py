"""Caption loaders: caption files in the CUB layout (the toy world's captions: :func:`xwidgets.toy.captions`).

The CUB-200-2011 captions of Reed et al. (CVPR 2016, "text_c10") mirror the image tree: the captions of
``images/001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg`` are the lines of
``text_c10/001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.txt``, one caption per line.
:func:`load_cub` reads such a pair of trees (any image extension), :func:`read_captions` reads the captions of
images you have already chosen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from ..core.deprecation import moved
from ..core.errors import invalid

__all__ = ["CaptionedImages", "read_captions", "load_cub", "IMAGE_SUFFIXES"]

#: ``toy_captions`` moved to :func:`xwidgets.toy.captions` (kept until the next release, with a DeprecationWarning).
__getattr__ = moved(__name__, {"toy_captions": "xwidgets.toy:captions"})

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclasses.dataclass
class CaptionedImages:
    """Images on disk with their captions and classes.

    Attributes:
        paths: the image files.
        captions: one list of caption strings per image.
        labels: the class index of each image (the position of its folder in ``class_names``).
        class_names: the class folders' names, sorted.
    """

    paths: list[Path]
    captions: list[list[str]]
    labels: list[int]
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.paths)


def read_captions(image_paths: Sequence[str | Path], images_root: str | Path, text_root: str | Path) -> list[list[str]]:
    """The captions of each image: the lines of the ``.txt`` file at the image's path under ``text_root``.

    Raises naming the images whose caption file is missing or empty.
    """
    images_root, text_root = _directory(images_root, "images_root"), _directory(text_root, "text_root")
    captions, missing, empty = [], [], []
    for path in image_paths:
        path = Path(path)
        try:
            relative = path.resolve().relative_to(images_root.resolve())
        except ValueError:
            raise invalid("image_paths", f"{str(path)!r}, outside images_root", f"images under {images_root}") from None
        text = (text_root / relative).with_suffix(".txt")
        if not text.is_file():
            missing.append(str(relative))
            continue
        lines = [line.strip() for line in text.read_text(encoding="utf-8", errors="replace").splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            empty.append(str(relative))
        captions.append(lines)
    if missing:
        raise invalid(
            "text_root",
            f"no caption file for {len(missing)} of {len(image_paths)} images, e.g. {missing[:3]}",
            f"a .txt file per image under {text_root}, mirroring the image tree",
        )
    if empty:
        raise invalid(
            "text_root",
            f"empty caption files for {len(empty)} images, e.g. {empty[:3]}",
            "at least one caption line per image",
        )
    return captions


def load_cub(
    images_root: str | Path,
    text_root: str | Path,
    *,
    classes: Sequence[str] | int | None = None,
    per_class: int | None = None,
) -> CaptionedImages:
    """Images and captions in the CUB layout: ``images_root/<class>/<image>`` and ``text_root/<class>/<image>.txt``.

    Args:
        images_root: the folder of class folders of images (CUB's ``CUB_200_2011/images``).
        text_root: the folder of class folders of caption files (``text_c10``).
        classes: the class folders to read (names), or the first ``classes`` of them; default all.
        per_class: at most this many images per class (the first in name order); default all.
    """
    images_root, text_root = _directory(images_root, "images_root"), _directory(text_root, "text_root")
    folders = sorted(p.name for p in images_root.iterdir() if p.is_dir())
    if not folders:
        raise invalid("images_root", str(images_root), "a folder of class folders of images (CUB's images/)")
    if isinstance(classes, int) and not isinstance(classes, bool):
        if classes < 1:
            raise invalid("classes", classes, "a positive number of classes or a list of class folder names")
        folders = folders[:classes]
    elif classes is not None:
        if isinstance(classes, str) or not isinstance(classes, Sequence):
            raise invalid("classes", repr(classes), "a list of class folder names or a number of classes")
        unknown = [c for c in classes if c not in folders]
        if unknown:
            raise invalid("classes", unknown, f"class folders of {images_root} (e.g. {folders[:3]})")
        folders = list(classes)
    if per_class is not None and (isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1):
        raise invalid("per_class", per_class, "a positive int or None")
    paths, labels = [], []
    for label, folder in enumerate(folders):
        files = sorted(p for p in (images_root / folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files = files[:per_class] if per_class is not None else files
        paths.extend(files)
        labels.extend([label] * len(files))
    if not paths:
        raise invalid(
            "images_root",
            f"{images_root} with no images in {folders[:3]}",
            f"image files ({', '.join(IMAGE_SUFFIXES)}) in the class folders",
        )
    return CaptionedImages(paths, read_captions(paths, images_root, text_root), labels, list(folders))


def _directory(path: object, name: str) -> Path:
    if not isinstance(path, (str, Path)):
        raise invalid(name, type(path).__name__, "a folder path")
    path = Path(path)
    if not path.is_dir():
        raise invalid(name, str(path), "an existing folder")
    return path
