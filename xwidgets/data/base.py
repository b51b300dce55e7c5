"""What every image source is: a counted, indexed collection of images whose metadata is known without decoding
them, and whose pixels are decoded by :meth:`ImageSource.load` alone.

The dataset engines (:mod:`xwidgets.runs`) read sources through this interface only, so a folder, a list of
paths, a torch ``Dataset``, a tensor and the toy world all explain, store and reopen the same way.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import XWidgetsError, invalid

__all__ = ["SourceItem", "ImageSource", "UnreadableImage", "check_index", "digest"]


@dataclass(frozen=True)
class SourceItem:
    """The metadata of one image, known without decoding it.

    Attributes:
        index: the position in the source, ``0..len(source) - 1`` (the store's row key).
        id: a stable id: the POSIX path relative to the root for folders, the path for path lists,
            ``"toy-<seed>-<i>"`` for the toy world, ``"<i>"`` for torch datasets and tensors.
        path: the image file's path where there is one, else None.
        label: the class index where the source has labels, else None.
    """

    index: int
    id: str
    path: str | None
    label: int | None


class UnreadableImage(XWidgetsError):
    """An image that cannot be decoded: a missing, unreadable, empty, truncated or corrupt file, or a dataset item
    that is not an image. The message is ``"<where>: <reason>"``, ``where`` naming the file (or the dataset item).

    Attributes:
        where: the file path, or ``"dataset[<i>]"`` for an item of a torch dataset or tensor.
        reason: what is wrong with it, in words.
    """

    def __init__(self, where: str, reason: str):
        self.where, self.reason = where, reason
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):
        return type(self), (self.where, self.reason)


class ImageSource(ABC):
    """Base of every image source.

    Attributes:
        kind: ``"folder"``, ``"paths"``, ``"torch"``, ``"tensor"`` or ``"toy"``.
        classes: the label names (a folder's sorted sub-folder names, the toy world's species), or None.
    """

    kind: str = "source"
    classes: list[str] | None = None

    @abstractmethod
    def __len__(self) -> int:
        """The number of images."""

    @abstractmethod
    def item(self, index: int) -> SourceItem:
        """The metadata of image ``index`` (0..len-1), without decoding it; XWidgetsError for a bad index."""

    @abstractmethod
    def load(self, index: int) -> torch.Tensor:
        """Image ``index`` decoded: ``[3, H, W]`` float32 in [0, 1] at its own size, on the CPU.

        Raises:
            UnreadableImage: naming the file (or item) and the reason, for anything that cannot be decoded.
            XWidgetsError: for a bad index.
        """

    @abstractmethod
    def describe(self) -> dict:
        """A JSON-able description with ``"kind"``: enough for :func:`~xwidgets.data.from_description` to reopen
        the source where it can (folders, path lists, the toy world)."""

    def ground_truth(self, index: int) -> np.ndarray | None:
        """The ``[H, W]`` bool evidence mask of image ``index`` at :meth:`load`'s size (the toy world), or None."""
        check_index(index, len(self))
        return None

    def image_size(self) -> tuple[int, int] | None:
        """The ``(H, W)`` every image has when the source knows it without decoding (the toy world, a tensor),
        else None (files and datasets may mix sizes)."""
        return None

    def fingerprint(self) -> str:
        """A short hash (16 hex digits) that changes when the source's images change: of :meth:`describe`, plus
        the file names and sizes for file sources."""
        return digest(self.describe())

    def location(self, index: int) -> str:
        """Where image ``index`` comes from, for messages: its file path, else its id. Never decodes."""
        item = self.item(index)
        return item.path or item.id

    def __repr__(self) -> str:
        classes = f", {len(self.classes)} classes" if self.classes is not None else ""
        return f"<{type(self).__name__} kind={self.kind!r}: {len(self):,} images{classes}>"


def check_index(index: object, count: int, name: str = "index") -> int:
    """``index`` as an int in ``0..count - 1``; XWidgetsError naming ``name`` otherwise (negatives included)."""
    if isinstance(index, torch.Tensor) and index.ndim == 0 and not index.is_floating_point():
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise invalid(name, index, f"an int index in 0..{count - 1}")
    if not 0 <= int(index) < count:
        raise invalid(name, int(index), f"an index in 0..{count - 1} (the source has {count:,} images)")
    return int(index)


def digest(*parts: object) -> str:
    """16 hex digits of the SHA-256 of ``parts`` written as JSON (numpy arrays as lists)."""
    text = json.dumps(parts, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _json_default(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot hash an object of type {type(value).__name__}")
