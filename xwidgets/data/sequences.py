"""Images held by Python objects: a torch ``Dataset`` (or any sized sequence of images) and a ``[N, 3, H, W]``
tensor. Neither can be reopened from a description: a stored run of one needs ``source=`` to show its images.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence, Sized
from typing import cast

import numpy as np
import torch

from ..core.errors import XWidgetsError, invalid
from ..core.images import to_batch
from ..core.sources import dataset_image
from .base import ImageSource, SourceItem, UnreadableImage, check_index, digest

__all__ = ["TorchSource", "TensorSource", "torch_dataset", "tensor_images"]


class TorchSource(ImageSource):
    """A torch ``Dataset`` whose items are images or ``(image, label, ...)`` tuples. Build it with
    :func:`torch_dataset`.

    Labels are read without loading items from a ``targets`` or ``labels`` sequence (torchvision's convention)
    or a ``TensorDataset``'s second tensor; otherwise, where the first item is an ``(image, label)`` tuple,
    :meth:`item` loads the item to read its label. Paths come from an ImageFolder's ``samples``.
    """

    kind = "torch"

    def __init__(self, dataset: Sequence, classes: list[str] | None):
        self.dataset = dataset
        self.count = len(dataset)
        self.labels = _known_labels(dataset, self.count)
        self.files = _known_paths(dataset, self.count)
        self.labels_in_items = self.labels is None and _first_item_has_label(dataset)
        self.classes = classes if classes is not None else _dataset_classes(dataset)

    def __len__(self) -> int:
        return self.count

    def item(self, index: int) -> SourceItem:
        index = check_index(index, self.count)
        path = None if self.files is None else self.files[index]
        label: int | None = None
        if self.labels is not None:
            label = int(self.labels[index])
        elif self.labels_in_items:
            label = self._label_from_item(index)
        return SourceItem(index, str(index), path, label)

    def _label_from_item(self, index: int) -> int | None:
        try:
            return _label_of(self.dataset[index])
        except Exception:  # an item that cannot be loaded has no label to show; load() reports why
            return None

    def location(self, index: int) -> str:
        index = check_index(index, self.count)
        return self.files[index] if self.files is not None else f"dataset[{index}]"

    def load(self, index: int) -> torch.Tensor:
        where = self.location(index)
        try:
            item = self.dataset[index]
        except Exception as error:  # a dataset's own decoding fails with any exception type
            raise UnreadableImage(where, f"the dataset raised {type(error).__name__}: {error}") from None
        return _image_tensor(dataset_image(item), where)

    def describe(self) -> dict:
        kind = type(self.dataset)
        return {"kind": self.kind, "class": f"{kind.__module__}.{kind.__qualname__}", "classes": self.classes}

    def fingerprint(self) -> str:
        """A hash of :meth:`describe`, the length, the labels and paths known without loading items."""
        return digest(self.describe(), self.count, self.labels, self.files)


class TensorSource(ImageSource):
    """A ``[N, C, H, W]`` tensor of images (C in {1, 3}; uint8, uint16 or float in [0, 1]); unlabelled.
    :func:`~xwidgets.data.as_source` builds it from a tensor."""

    kind = "tensor"

    def __init__(self, images: torch.Tensor):
        self.images = images.detach().cpu()

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def item(self, index: int) -> SourceItem:
        index = check_index(index, len(self))
        return SourceItem(index, str(index), None, None)

    def location(self, index: int) -> str:
        return f"images[{check_index(index, len(self))}]"

    def load(self, index: int) -> torch.Tensor:
        return _image_tensor(self.images[check_index(index, len(self))], self.location(index))

    def image_size(self) -> tuple[int, int]:
        return (int(self.images.shape[-2]), int(self.images.shape[-1]))

    def describe(self) -> dict:
        return {"kind": self.kind, "shape": list(self.images.shape), "dtype": str(self.images.dtype)}

    def fingerprint(self) -> str:
        """A hash of :meth:`describe` and of the tensor's bytes."""
        data = self.images.contiguous().view(torch.uint8).numpy()
        return digest(self.describe(), hashlib.sha256(data.tobytes()).hexdigest())


def _image_tensor(image: object, where: str) -> torch.Tensor:
    """One image in any form :func:`to_batch` reads -> ``[3, H, W]``; UnreadableImage naming ``where`` otherwise."""
    try:
        batch = to_batch(image, name=where)
    except XWidgetsError as error:
        raise UnreadableImage(where, str(error).removeprefix(f"{where}: ")) from None
    if batch.shape[0] != 1:
        raise UnreadableImage(where, f"a batch of {batch.shape[0]} images, expected one image")
    return batch[0]


def torch_dataset(dataset: object, *, classes: Sequence[str] | None = None) -> TorchSource:
    """A torch ``Dataset`` (or any sequence with ``len``) of images or ``(image, label, ...)`` tuples as a source.

    Items are loaded only by :meth:`~TorchSource.load` (an exception the dataset raises there makes the image
    unreadable, not the run). ``classes`` defaults to the dataset's own ``classes`` list where it has one.

    Raises:
        XWidgetsError: naming ``dataset`` for an object without ``len`` and indexing (an ``IterableDataset``),
            or an empty one; naming ``classes`` for a list that is not of names.
    """
    if isinstance(dataset, torch.utils.data.IterableDataset):
        raise invalid("dataset", type(dataset).__name__, "a map-style Dataset with len() and indexing, not iterable")
    if isinstance(dataset, (str, bytes)) or not (isinstance(dataset, Sized) and hasattr(dataset, "__getitem__")):
        raise invalid("dataset", type(dataset).__name__, "a torch Dataset (or sequence) with len() and indexing")
    if len(dataset) == 0:
        raise invalid("dataset", "an empty dataset", "at least one image")
    if classes is not None and (isinstance(classes, str) or not all(isinstance(c, str) for c in classes)):
        raise invalid("classes", classes, "a list of class names (str)")
    return TorchSource(cast(Sequence, dataset), None if classes is None else list(classes))


def tensor_images(images: torch.Tensor, name: str = "source") -> TensorSource:
    """A ``[N, C, H, W]`` tensor (C in {1, 3}, N >= 1) as a source; XWidgetsError naming ``name`` otherwise."""
    if images.ndim != 4 or images.shape[1] not in (1, 3) or min(images.shape) < 1:
        raise invalid(name, images, "a [N, 3, H, W] tensor of images (or [N, 1, H, W])")
    if images.is_meta or not (images.is_floating_point() or images.dtype in (torch.uint8, torch.uint16)):
        raise invalid(name, images, "a tensor of images holding data: float in [0, 1], uint8 or uint16")
    return TensorSource(images)


def _known_labels(dataset: object, count: int) -> np.ndarray | None:
    """``[count]`` int64 labels from a ``targets``/``labels`` attribute or a TensorDataset, else None."""
    candidates = [getattr(dataset, "targets", None), getattr(dataset, "labels", None)]
    if isinstance(dataset, torch.utils.data.TensorDataset) and len(dataset.tensors) > 1:
        candidates.append(dataset.tensors[1])
    for values in candidates:
        array = _int_array(values)
        if array is not None and array.shape == (count,):
            return array
    return None


def _int_array(values: object) -> np.ndarray | None:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    if isinstance(values, (list, tuple)):
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            return None
        values = np.asarray(values)
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "iu":
        return values.astype(np.int64)
    return None


def _known_paths(dataset: object, count: int) -> list[str] | None:
    """The file paths of an ImageFolder-like dataset (``samples``: ``[(path, label), ...]``), else None."""
    samples = getattr(dataset, "samples", None)
    if not isinstance(samples, list) or len(samples) != count:
        return None
    if not all(isinstance(s, tuple) and s and isinstance(s[0], str) for s in samples):
        return None
    return [s[0] for s in samples]


def _first_item_has_label(dataset: Sequence) -> bool:
    try:
        return _label_of(dataset[0]) is not None
    except Exception:  # the first item may be unreadable; then labels are looked for item by item
        return True


def _label_of(item: object) -> int | None:
    """The label of an ``(image, label, ...)`` item: an int or an integer 0-d tensor; None otherwise."""
    if not isinstance(item, tuple) or len(item) < 2:
        return None
    label = item[1]
    if isinstance(label, torch.Tensor) and label.ndim == 0 and not label.is_floating_point():
        return int(label)
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return int(label)
    return None


def _dataset_classes(dataset: object) -> list[str] | None:
    classes = getattr(dataset, "classes", None)
    if isinstance(classes, (list, tuple)) and classes and all(isinstance(c, str) for c in classes):
        return list(classes)
    return None
