"""What images a dataset-level method reads: a batch tensor or a sequence of single images, counted, and read a
slice at a time in the model's pixel space.

A *source* is a ``[N, 3, H, W]`` tensor in [0, 1] or a sequence of single images in any form
:func:`~xwidgets.core.images.to_batch` accepts (a list, or a ``torch.utils.data.Dataset`` whose items are images
or ``(image, label, ...)`` tuples). Concepts, text, summaries and the similarity attributes read their images
through these functions, so a dataset is never decoded all at once and every reader refuses the same mistakes.

A source may also be a dataset explained once and stored on disk (a run of ``xw.explain_dataset``). Core knows
runs only through :class:`StoredImages`, the interface an adapter gives them, and :func:`register_stored`, with
which ``xwidgets.runs`` registers that adapter for its ``Run``; so the readers take a run like any other source
and the kernels never import the package that stores runs (which imports the kernels).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence, Sized
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch

from .errors import invalid
from .images import is_pil, to_batch
from .models import Model

__all__ = [
    "image_source",
    "image_count",
    "read_images",
    "dataset_image",
    "ImageSequence",
    "StoredImages",
    "register_stored",
    "stored_images",
]


class ImageSequence(Protocol):
    """A sequence source as the readers use it: ``source[i]`` is one image or an ``(image, label, ...)`` tuple."""

    def __getitem__(self, index: int, /) -> object: ...


class StoredImages(abc.ABC):
    """A dataset explained once and stored, as the dataset-level kernels read it. Positions ``0..len-1`` are its
    explained images in ascending source index; ``len`` is at least 1 (an adapter refuses an empty store).

    Attributes:
        map_method: the per-image method whose maps the store holds (``"igos"``, ``"gradcam"``, ``"sag"``, ...).
        map_params: that method's resolved parameters, plus ``"seed"``: what recomputing a map would need.
    """

    map_method: str
    map_params: dict

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of explained images."""

    @abc.abstractmethod
    def __getitem__(self, position: int) -> torch.Tensor:
        """Image ``position`` as stored, ``[3, H, W]`` in [0, 1] (for views showing it)."""

    @abc.abstractmethod
    def read(self, model: Model, start: int, stop: int) -> torch.Tensor:
        """Images ``start:stop`` prepared for ``model``: ``[n, 3, H, W]`` pixel space on its device."""

    @abc.abstractmethod
    def maps(self, model: Model, positions: Sequence[int]) -> torch.Tensor:
        """The stored maps of ``positions``, ``[n, 1, H, W]`` float32 in [0, 1] (high = salient). Raises
        XWidgetsError when ``model`` is not the model the store was made with."""

    @abc.abstractmethod
    def per_image(self, values: Any, name: str) -> Any:
        """``values`` given one per image of the run's whole source (or one per stored image), as one per
        stored image: what a caption list of the whole dataset becomes for an incomplete run."""

    @abc.abstractmethod
    def targets(self) -> torch.Tensor:
        """``[len]`` int64: the class each stored map explains."""

    @abc.abstractmethod
    def cached_features(self, model: Model, layer: str, compute: Callable[[StoredImages], Any]) -> Any:
        """One layer's dataset pass, read from the store's cache, or ``compute(part)`` on the images missing from
        it (``part`` is a StoredImages of those) and stored for the next call."""


_ADAPTERS: list[tuple[type, Callable[[Any], StoredImages]]] = []


def register_stored(kind: type, adapter: Callable[[Any], StoredImages]) -> None:
    """Let every reader take objects of type ``kind`` as a source, through ``adapter(obj)`` (a
    :class:`StoredImages`). ``xwidgets.runs`` registers its ``Run`` when it is imported."""
    _ADAPTERS[:] = [(k, a) for k, a in _ADAPTERS if k is not kind] + [(kind, adapter)]


def stored_images(images: object) -> StoredImages | None:
    """``images`` as :class:`StoredImages` when it is one or a registered kind of stored dataset, else None."""
    if isinstance(images, StoredImages):
        return images
    for kind, adapter in _ADAPTERS:
        if isinstance(images, kind):
            return adapter(images)
    return None


def image_source(images: object, name: str = "images") -> object:
    """``images`` as a ``[N, 3, H, W]`` tensor, a sequence of single images or :class:`StoredImages`: one image
    (a ``[3, H, W]`` tensor, an ``[H, W, 3]`` array, a PIL image or a path) becomes a batch of one; a stored run
    becomes its :class:`StoredImages`; tensors and sequences pass through."""
    stored = stored_images(images)
    if stored is not None:
        return stored
    if isinstance(images, torch.Tensor) and images.ndim == 3:
        return images.unsqueeze(0)
    if (isinstance(images, np.ndarray) and images.ndim == 3) or isinstance(images, (str, Path)) or is_pil(images):
        return to_batch(images, name=name)
    return images


def image_count(images: object, name: str = "images") -> int:
    """The number of images in a ``[N, 3, H, W]`` tensor, a sequence of single images or a stored run; raises
    when empty."""
    stored = stored_images(images)
    if stored is not None:
        return len(stored)
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise invalid(name, images, "a [N, 3, H, W] tensor or a sequence of images")
        count = int(images.shape[0])
    elif isinstance(images, (str, bytes)) or (not isinstance(images, Sequence) and not hasattr(images, "__getitem__")):
        raise invalid(name, type(images).__name__, "a [N, 3, H, W] tensor or a sequence of images (list, Dataset)")
    elif isinstance(images, Sized):
        count = len(images)
    else:
        raise invalid(name, type(images).__name__, "a sequence of images with a length")
    if count == 0:
        raise invalid(name, "no images", "at least one image")
    return count


def read_images(model: Model, images: object, start: int, stop: int, name: str = "images") -> torch.Tensor:
    """Images ``start:stop`` of a tensor, sequence or stored run, prepared for ``model`` (``[n, 3, H, W]`` pixel
    space)."""
    stored = stored_images(images)
    if stored is not None:
        return stored.read(model, start, stop)
    if isinstance(images, torch.Tensor):
        return model.prepare(images[start:stop], name=name)
    items = cast(ImageSequence, images)
    batch = [to_batch(dataset_image(items[i]), name=f"{name}[{i}]") for i in range(start, stop)]
    sizes = {tuple(b.shape[-2:]) for b in batch}
    if len(sizes) > 1 and model.preprocessing.resize is None:
        raise invalid(
            name,
            f"images of sizes {sorted(sizes)} in one dataset",
            "images of one size, or a model whose preprocessing resizes them",
        )
    return torch.cat([model.prepare(b, name=f"{name}[{start + i}]") for i, b in enumerate(batch)])


def dataset_image(item: object) -> object:
    """A dataset item's image: the item itself, or the first element of an ``(image, label, ...)`` tuple."""
    return item[0] if isinstance(item, tuple) and item else item
