"""What the dataset engines' ``DataLoader`` reads: a source's images decoded and brought to the model's input
geometry (resize, centre crop; pixel space [0, 1], before normalisation), one image at a time, never raising for
an image that cannot be used.

The geometry runs on the CPU without the model's weights (a parameter-free copy of its preprocessing), so
``DataLoader`` worker processes never touch the model's device and pickle almost nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.determinism import one_torch_thread
from ..core.errors import XWidgetsError, invalid
from ..core.models import Model
from .base import ImageSource

__all__ = ["PreparedImages", "PreparedBatch", "collate_prepared", "prepared_size"]

#: Readable images :func:`prepared_size` looks at to find a run's image size when the model does not fix it.
PROBE = 8


def pixel_geometry(model: Model) -> Model:
    """A weightless CPU float32 model with ``model``'s preprocessing: its ``prepare`` does the geometry only."""
    if not isinstance(model, Model):
        raise invalid("model", type(model).__name__, "an xwidgets model (xw.Classifier or xw.Embedder)")
    return Model(nn.Identity().eval(), preprocessing=model.preprocessing, name=model.name)


def prepared_size(source: ImageSource, model: Model) -> tuple[int, int] | None:
    """The ``(H, W)`` every image of a run of ``model`` over ``source`` has after ``model.prepare``.

    Where the preprocessing fixes it (a centre crop, or a resize to ``(H, W)``) or the source knows its images'
    size (:meth:`~ImageSource.image_size`), found without loading any image; otherwise (no resize, or a resize
    of the shorter side) the most common prepared size of the first :data:`PROBE` readable images (the earliest
    on a tie). None when no image is readable.
    """
    pre, geometry = model.preprocessing, pixel_geometry(model)
    if pre.crop is not None:
        return (int(pre.crop[0]), int(pre.crop[1]))
    if isinstance(pre.resize, tuple):
        return (int(pre.resize[0]), int(pre.resize[1]))
    known = source.image_size()
    if known is not None:
        shape = geometry.prepare(torch.zeros(3, *known), name="source").shape
        return (int(shape[-2]), int(shape[-1]))
    sizes = Counter[tuple[int, int]]()
    for index in range(len(source)):
        try:
            shape = geometry.prepare(source.load(index), name=source.location(index)).shape
        except XWidgetsError:
            continue
        sizes[(int(shape[-2]), int(shape[-1]))] += 1
        if sizes.total() == PROBE:
            break
    return sizes.most_common(1)[0][0] if sizes else None


class PreparedImages(torch.utils.data.Dataset):
    """Images ``indices`` of ``source`` prepared for ``model``; item ``k`` is ``(index, image, error)``.

    ``image`` is ``[3, H, W]`` float32 in [0, 1] at the run's size on the CPU, and ``error`` is ``""``; for an
    image that cannot be used (unreadable, corrupt, or a size the model's preprocessing does not bring to the
    run's size) ``image`` is None and ``error`` reads ``"<file>: <reason>"``. Items never raise.

    Args:
        source: the images.
        model: the model whose preprocessing geometry is applied (its weights are not kept).
        indices: the source indices to read, in order.
        size: the run's ``(H, W)``; default :func:`prepared_size` (engines compute it once and pass it).
    """

    def __init__(
        self,
        source: ImageSource,
        model: Model,
        indices: Sequence[int],
        *,
        size: tuple[int, int] | None = None,
    ):
        if not isinstance(source, ImageSource):
            raise invalid("source", type(source).__name__, "an xw.data source (xw.data.as_source(...))")
        self.source = source
        self.geometry = pixel_geometry(model)
        self.indices = [int(i) for i in indices]
        self.size = tuple(size) if size is not None else prepared_size(source, model)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> tuple[int, torch.Tensor | None, str]:
        index = self.indices[k]
        try:
            where = self.source.location(index)
            with one_torch_thread():
                image = self.geometry.prepare(self.source.load(index), name=where)[0]
        except XWidgetsError as error:
            return index, None, str(error)
        if self.size is not None and tuple(image.shape[-2:]) != self.size:
            return index, None, _size_error(where, image.shape[-2:], self.size)
        return index, image, ""


def _size_error(where: str, size: Sequence[int], expected: Sequence[int]) -> str:
    return (
        f"{where}: an image of {size[0]}x{size[1]} after the model's preprocessing, but this run's images are "
        f"{expected[0]}x{expected[1]} (give the model a preprocessing that resizes to one size)"
    )


@dataclass
class PreparedBatch:
    """One collated batch of :class:`PreparedImages` items.

    Attributes:
        indices: the source indices of the usable images, in item order.
        images: ``[n, 3, H, W]`` float32 in [0, 1], one per index (``[0, 3, 0, 0]`` when none is usable).
        skipped: one ``{"index", "id", "path", "error"}`` per unusable image.
    """

    indices: list[int]
    images: torch.Tensor
    skipped: list[dict] = field(default_factory=list)


def collate_prepared(
    items: Sequence[tuple[int, torch.Tensor | None, str]], *, source: ImageSource | None = None
) -> PreparedBatch:
    """Collate :class:`PreparedImages` items into a :class:`PreparedBatch` (a ``DataLoader``'s ``collate_fn``).

    ``source`` fills each skipped image's id and path (pass it with ``functools.partial(collate_prepared,
    source=source)``); without it they are the index as text and None. An image whose size differs from the
    batch's first is skipped too (only when the run's size could not be found beforehand). Never raises for an
    image.
    """
    indices: list[int] = []
    images: list[torch.Tensor] = []
    skipped: list[dict] = []
    for index, image, error in items:
        if image is not None and images and image.shape != images[0].shape:
            where = source.location(index) if source is not None else f"image {index}"
            skipped.append(_skipped(index, _size_error(where, image.shape[-2:], images[0].shape[-2:]), source))
        elif image is None:
            skipped.append(_skipped(index, error, source))
        else:
            indices.append(int(index))
            images.append(image)
    stacked = torch.stack(images) if images else torch.empty(0, 3, 0, 0)
    return PreparedBatch(indices, stacked, skipped)


def _skipped(index: int, error: str, source: ImageSource | None) -> dict:
    item = source.item(index) if source is not None else None
    return {
        "index": int(index),
        "id": item.id if item is not None else str(index),
        "path": item.path if item is not None else None,
        "error": error,
    }
