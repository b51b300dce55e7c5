"""Image files on disk: a folder in the ImageFolder layout (or a flat folder of images) and a list of paths.

Listing never opens or stats a file; only :meth:`~xwidgets.data.base.ImageSource.load` decodes, and a file that
cannot be decoded raises :class:`~xwidgets.data.base.UnreadableImage` naming it.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..core.errors import XWidgetsError, invalid
from ..core.images import to_batch
from .base import ImageSource, SourceItem, UnreadableImage, check_index, digest

__all__ = ["IMAGE_EXTENSIONS", "FolderSource", "PathSource", "folder", "paths", "read_image_file"]

#: The file name endings a folder source lists (compared lower-case): torchvision's ImageFolder's own list.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")


def read_image_file(path: str) -> torch.Tensor:
    """Decode one image file to ``[3, H, W]`` float32 in [0, 1]; grey, palette, RGBA (alpha dropped) and 16-bit
    images are converted. Raises :class:`UnreadableImage` ``"<path>: <reason>"`` for a missing, unreadable,
    empty, truncated or corrupt file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return to_batch(image, name=path)[0]
    except FileNotFoundError:
        raise UnreadableImage(path, "no such file") from None
    except PermissionError:
        raise UnreadableImage(path, "permission denied: the file cannot be read") from None
    except IsADirectoryError:
        raise UnreadableImage(path, "a directory, not an image file") from None
    except UnidentifiedImageError:
        raise UnreadableImage(path, _unidentified(path)) from None
    except XWidgetsError as error:
        raise UnreadableImage(path, str(error).removeprefix(f"{path}: ")) from None
    except Exception as error:  # Pillow reports broken data with OSError, SyntaxError, ValueError, zlib.error...
        raise UnreadableImage(path, f"a corrupt or truncated image ({type(error).__name__}: {error})") from None


def _unidentified(path: str) -> str:
    try:
        size = os.path.getsize(path)
    except OSError:
        size = -1
    return "an empty file (0 bytes)" if size == 0 else "not an image file Pillow can read"


class FileSource(ImageSource):
    """Images that are files: ``ids`` and ``labels`` are known from listing; :meth:`load` decodes one file."""

    def __init__(self, ids: list[str], labels: np.ndarray | None, classes: list[str] | None):
        self.ids = ids
        self.labels = labels
        self.classes = classes

    def __len__(self) -> int:
        return len(self.ids)

    @abstractmethod
    def file(self, index: int) -> str:
        """The path of image ``index``."""

    def item(self, index: int) -> SourceItem:
        index = check_index(index, len(self))
        label = None if self.labels is None else int(self.labels[index])
        return SourceItem(index, self.ids[index], self.file(index), label)

    def load(self, index: int) -> torch.Tensor:
        return read_image_file(self.file(check_index(index, len(self))))

    def fingerprint(self) -> str:
        """A hash of :meth:`describe` minus the location, the ids, the labels and every file's size in bytes (-1
        where missing): a moved copy keeps its fingerprint, an added, removed, renamed or resized file changes it."""
        location = {k: v for k, v in self.describe().items() if k not in ("root", "cwd")}
        sizes = [_size(self.file(i)) for i in range(len(self))]
        return digest(location, self.ids, self.labels, sizes)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


class FolderSource(FileSource):
    """A folder of images: class sub-folders (ImageFolder layout, labelled) or images at its top level
    (unlabelled). Build it with :func:`folder`."""

    kind = "folder"

    def __init__(self, root: Path, extensions: tuple[str, ...]):
        self.root = root
        self.extensions = extensions
        ids, labels, classes = _list_folder(root, extensions)
        super().__init__(ids, labels, classes)

    def file(self, index: int) -> str:
        return os.path.join(self.root, self.ids[index])

    def describe(self) -> dict:
        return {"kind": self.kind, "root": str(self.root), "extensions": list(self.extensions)}


class PathSource(FileSource):
    """A list of image paths, with optional labels. Build it with :func:`paths`."""

    kind = "paths"

    def __init__(self, files: list[str], labels: np.ndarray | None, classes: list[str] | None, cwd: str):
        self.cwd = cwd
        super().__init__(files, labels, classes)

    def file(self, index: int) -> str:
        return os.path.join(self.cwd, self.ids[index])

    def describe(self) -> dict:
        labels = None if self.labels is None else self.labels.tolist()
        return {"kind": self.kind, "paths": self.ids, "labels": labels, "classes": self.classes, "cwd": self.cwd}


def folder(root: str | os.PathLike, *, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> FolderSource:
    """The images under ``root``.

    Two layouts are read:

    - **class sub-folders** (torchvision's ImageFolder): ``root/<class>/**/<image>``; ``classes`` are the sorted
      sub-folder names, an image's label the index of its class; a class folder may be empty;
    - **a flat folder**: images directly in ``root`` and no sub-folders with images; unlabelled (``classes`` is
      None).

    Images are sorted by their path; ids are POSIX paths relative to ``root`` (``"cat/001.jpg"``). Files whose
    name does not end with one of ``extensions`` (any case) and hidden files and folders (``.ipynb_checkpoints``)
    are ignored. Listing opens no file, so 50,000 images list in well under a second.

    Raises:
        XWidgetsError: naming ``root`` when it is missing, not a folder, holds no image, or holds images both at
            its top level and in sub-folders (which of the two layouts is meant is ambiguous).
    """
    if not isinstance(root, (str, os.PathLike)):
        raise invalid("root", type(root).__name__, "a folder path (str or pathlib.Path)")
    path = Path(root).expanduser().absolute()
    if not path.exists():
        raise invalid("root", f"the path '{path}', which does not exist", "a folder of images")
    if not path.is_dir():
        raise invalid("root", f"the path '{path}', which is not a folder", "a folder of images")
    return FolderSource(path, _extensions_arg(extensions))


def _extensions_arg(extensions: object) -> tuple[str, ...]:
    if isinstance(extensions, str) or not isinstance(extensions, Sequence) or not extensions:
        raise invalid("extensions", extensions, "a non-empty list of file endings such as ['.jpg', '.png']")
    if not all(isinstance(e, str) and e for e in extensions):
        raise invalid("extensions", extensions, "file endings as non-empty strings, such as '.jpg'")
    return tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)


def _list_folder(root: Path, extensions: tuple[str, ...]) -> tuple[list[str], np.ndarray | None, list[str] | None]:
    """(ids, labels [N] int64 or None, classes or None) of the images under ``root``."""
    with os.scandir(root) as entries:
        visible = [e for e in entries if not e.name.startswith(".")]
    classes = sorted(e.name for e in visible if e.is_dir())
    flat = sorted(e.name for e in visible if e.is_file() and e.name.lower().endswith(extensions))
    per_class = [_list_images(root, name, extensions) for name in classes]
    nested = sum(len(ids) for ids in per_class)
    if nested and flat:
        raise invalid(
            "root",
            f"the folder '{root}' with {len(flat):,} images at its top level and {nested:,} in sub-folders",
            "class sub-folders only (the ImageFolder layout, labelled) or images only (a flat folder, unlabelled)",
        )
    if flat:
        return flat, None, None
    if not nested:
        raise invalid(
            "root", f"the folder '{root}', which holds no image file", f"image files ({', '.join(extensions)})"
        )
    labels = np.concatenate([np.full(len(ids), c, dtype=np.int64) for c, ids in enumerate(per_class)])
    return [i for ids in per_class for i in ids], labels, classes


def _list_images(root: Path, sub: str, extensions: tuple[str, ...]) -> list[str]:
    """The sorted POSIX paths, relative to ``root``, of the image files anywhere under ``root/sub``."""
    found = []
    for directory, folders, files in os.walk(os.path.join(root, sub), followlinks=True):
        folders[:] = [f for f in folders if not f.startswith(".")]
        relative = Path(directory).relative_to(root).as_posix()
        found += [f"{relative}/{f}" for f in files if not f.startswith(".") and f.lower().endswith(extensions)]
    return sorted(found)


def paths(
    paths: Sequence[str | os.PathLike],
    labels: Sequence[int] | Sequence[str] | np.ndarray | torch.Tensor | None = None,
    *,
    classes: Sequence[str] | None = None,
) -> PathSource:
    """A list of image files, optionally labelled.

    Args:
        paths: the image paths; relative paths are read from the current folder at the time of this call. A
            missing or corrupt file is not an error here: the run skips it and reports it.
        labels: one per path: class indices (in ``0..len(classes) - 1`` when ``classes`` is given) or class
            names (then ``classes`` defaults to their sorted distinct names).
        classes: the label names.

    Raises:
        XWidgetsError: for an empty list, an entry that is not a path, labels of another length or outside
            ``classes``.
    """
    if isinstance(paths, (str, os.PathLike)) or not isinstance(paths, Sequence) or len(paths) == 0:
        raise invalid("paths", paths, "a non-empty list of image paths")
    bad = next((i for i, p in enumerate(paths) if not isinstance(p, (str, os.PathLike))), None)
    if bad is not None:
        raise invalid(f"paths[{bad}]", type(paths[bad]).__name__, "a path (str or pathlib.Path)")
    files = [os.fspath(p) for p in paths]
    names = _classes_arg(classes)
    indices, names = (None, names) if labels is None else _labels_arg(labels, len(files), names)
    return PathSource(files, indices, names, os.getcwd())


def _classes_arg(classes: object) -> list[str] | None:
    if classes is None:
        return None
    if isinstance(classes, str) or not isinstance(classes, Sequence) or not all(isinstance(c, str) for c in classes):
        raise invalid("classes", classes, "a list of class names (str)")
    if len(set(classes)) != len(classes) or not classes:
        raise invalid("classes", classes, "a non-empty list of distinct class names")
    return list(classes)


def _labels_arg(labels: object, count: int, classes: list[str] | None) -> tuple[np.ndarray, list[str] | None]:
    """Labels as ``[count]`` int64 class indices, and the class names (derived from string labels)."""
    values = labels.tolist() if isinstance(labels, (np.ndarray, torch.Tensor)) else labels
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise invalid("labels", labels, f"a list of {count:,} class indices or class names, one per path")
    if len(values) != count:
        raise invalid("labels", f"{len(values):,} labels", f"one label per path ({count:,})")
    if values and all(isinstance(v, str) for v in values):
        classes = classes if classes is not None else sorted(set(values))
        unknown = sorted(set(values) - set(classes))
        if unknown:
            raise invalid("labels", f"the class names {unknown[:5]}", f"names from classes={classes[:10]}")
        position = {name: i for i, name in enumerate(classes)}
        return np.array([position[v] for v in values], dtype=np.int64), classes
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise invalid("labels", labels, "class indices (int) or class names (str), all of one kind")
    array = np.asarray(values, dtype=np.int64)
    high = len(classes) - 1 if classes is not None else None
    if array.min() < 0 or (high is not None and array.max() > high):
        expected = f"in 0..{high} (classes has {high + 1})" if high is not None else "non-negative"
        raise invalid("labels", f"labels in [{array.min()}, {array.max()}]", f"class indices {expected}")
    return array, classes
