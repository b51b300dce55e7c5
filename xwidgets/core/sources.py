"""What images a dataset-level method reads: a batch tensor or a sequence of single images, counted, and read a
slice at a time in the model's pixel space.

A *source* is a ``[N, 3, H, W]`` tensor in [0, 1] or a sequence of single images in any form
:func:`~xwidgets.core.images.to_batch` accepts (a list, or a ``torch.utils.data.Dataset`` whose items are images
or ``(image, label, ...)`` tuples). Concepts, text, summaries and the similarity attributes read their images
through these functions, so a dataset is never decoded all at once and every reader refuses the same mistakes.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from pathlib import Path
from typing import Protocol, cast

import numpy as np
import torch

from .errors import invalid
from .images import is_pil, to_batch
from .models import Model

__all__ = ["image_source", "image_count", "read_images", "dataset_image", "ImageSequence"]


class ImageSequence(Protocol):
    """A sequence source as the readers use it: ``source[i]`` is one image or an ``(image, label, ...)`` tuple."""

    def __getitem__(self, index: int, /) -> object: ...


def image_source(images: object, name: str = "images") -> object:
    """``images`` as a ``[N, 3, H, W]`` tensor or a sequence of single images: one image (a ``[3, H, W]`` tensor,
    an ``[H, W, 3]`` array, a PIL image or a path) becomes a batch of one; tensors and sequences pass through."""
    if isinstance(images, torch.Tensor) and images.ndim == 3:
        return images.unsqueeze(0)
    if (isinstance(images, np.ndarray) and images.ndim == 3) or isinstance(images, (str, Path)) or is_pil(images):
        return to_batch(images, name=name)
    return images


def image_count(images: object, name: str = "images") -> int:
    """The number of images in a ``[N, 3, H, W]`` tensor or a sequence of single images; raises when empty."""
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
    """Images ``start:stop`` of a tensor or sequence, prepared for ``model`` (``[n, 3, H, W]`` pixel space)."""
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
