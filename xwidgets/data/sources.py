"""The one entry to image sources: :func:`as_source` turns what a user passes into an
:class:`~xwidgets.data.base.ImageSource`, and :func:`from_description` reopens a stored run's source.

Every name of the sources interface is importable from here: the source kinds (:func:`folder`, :func:`paths`,
:func:`torch_dataset`, :func:`toy`, tensors), the item and error types, and what the engines' ``DataLoader``
reads (:class:`PreparedImages`, :func:`collate_prepared`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..core.errors import invalid
from .base import ImageSource, SourceItem, UnreadableImage
from .files import IMAGE_EXTENSIONS, FolderSource, PathSource, folder, paths
from .prepared import PreparedBatch, PreparedImages, collate_prepared, prepared_size
from .sequences import TensorSource, TorchSource, tensor_images, torch_dataset
from .toy_source import ToySource, toy, toy_from_dataset, toy_from_description

__all__ = [
    "SourceItem",
    "ImageSource",
    "UnreadableImage",
    "IMAGE_EXTENSIONS",
    "folder",
    "paths",
    "torch_dataset",
    "toy",
    "as_source",
    "from_description",
    "PreparedImages",
    "PreparedBatch",
    "collate_prepared",
    "prepared_size",
    "FolderSource",
    "PathSource",
    "TorchSource",
    "TensorSource",
    "ToySource",
]


def as_source(source: object, name: str = "source") -> ImageSource:
    """``source`` as an :class:`ImageSource`.

    - an ImageSource passes through;
    - a folder path (str or Path) -> :func:`folder`;
    - a list or tuple of paths -> :func:`paths`;
    - an ``xw.toy.dataset(...)`` (a ToyDataset) -> a toy source with labels and ground truth;
    - another torch ``Dataset`` or a list of images -> :func:`torch_dataset`;
    - a ``[N, 3, H, W]`` tensor -> a tensor source.

    Raises:
        XWidgetsError: naming ``name`` for anything else (a missing path, a single image file, an empty list).
    """
    if isinstance(source, ImageSource):
        return source
    if isinstance(source, (str, os.PathLike)):
        return _folder_path(Path(source), name)
    if isinstance(source, torch.Tensor):
        return tensor_images(source, name)
    if isinstance(source, (list, tuple)):
        if source and all(isinstance(p, (str, os.PathLike)) for p in source):
            return paths(source)
        if not source:
            raise invalid(name, "an empty list", "at least one image path or image")
    from ..toy.world import ToyDataset

    if isinstance(source, ToyDataset):
        return toy_from_dataset(source)
    if isinstance(source, (torch.utils.data.Dataset, list, tuple)):
        return torch_dataset(source)
    raise invalid(
        name,
        type(source).__name__,
        "an image folder, a list of image paths, a torch Dataset, xw.toy.dataset(...), a [N, 3, H, W] tensor "
        "or an xw.data source",
    )


def _folder_path(path: Path, name: str) -> ImageSource:
    if not path.exists():
        raise invalid(name, f"the path '{path}', which does not exist", "a folder of images")
    if not path.is_dir():
        raise invalid(name, f"the file '{path}'", "a folder of images (for single files pass a list of paths)")
    return folder(path)


def from_description(description: dict) -> ImageSource | None:
    """Reopen a source from its :meth:`~ImageSource.describe` (a stored run's manifest keeps it): folders,
    path lists and toy sources; None for torch datasets and tensors, which only the user's process holds.

    Raises:
        XWidgetsError: naming ``description`` when it is not a source description; naming ``root`` for a
            folder that is gone.
    """
    kind = description.get("kind") if isinstance(description, dict) else None
    if kind in ("torch", "tensor"):
        return None
    try:
        if kind == "folder":
            return folder(description["root"], extensions=description["extensions"])
        if kind == "paths":
            labels = description["labels"]
            array = None if labels is None else np.asarray(labels, dtype=np.int64)
            return PathSource(list(description["paths"]), array, description["classes"], description["cwd"])
        if kind == "toy":
            return toy_from_description(description)
    except KeyError as error:
        raise invalid("description", f"a {kind} description without {error}", f"{kind}_source.describe()") from None
    raise invalid("description", description, "a source description with kind folder, paths, torch, tensor or toy")
