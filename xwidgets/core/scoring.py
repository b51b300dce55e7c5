"""Scoring of N perturbed images in micro-batches, with automatic back-off on out-of-memory.

Every "score these N perturbed images" loop of every method goes through :func:`microbatched`: it runs the
work in chunks of at most ``model.max_batch`` images, halves the chunk on an out-of-memory error, retries, and
remembers the smaller size on the model for later calls.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .errors import XWidgetsError, invalid
from .masks import composite
from .models import Model
from .runner import Progress
from .targets import Target

__all__ = ["microbatched", "is_out_of_memory", "score", "score_masks"]


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA, MPS and CPU allocator out-of-memory errors."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def microbatched(model: Model, count: int, work: Callable[[int, int], torch.Tensor]) -> torch.Tensor:
    """Run ``work(start, stop)`` over ``range(count)`` in chunks and concatenate the results along dim 0.

    Chunks hold at most ``model.max_batch`` items. On out-of-memory the chunk is halved (the CUDA cache is
    emptied) and retried; the new size is stored in ``model.max_batch``. A chunk of one that still runs out of
    memory raises ``XWidgetsError``.
    """
    if count < 0:
        raise invalid("count", count, "a non-negative number of items")
    pieces, start = [], 0
    while start < count:
        size = min(model.max_batch, count - start)
        try:
            pieces.append(work(start, start + size))
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            if size == 1:
                raise XWidgetsError(
                    f"out of memory scoring a single image on {model.device}; free memory or use a smaller input size"
                ) from error
            model.max_batch = max(1, size // 2)
            if model.device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        start += size
    if not pieces:
        return torch.empty(0, device=model.device)
    return torch.cat(pieces, 0)


def score(model: Model, inputs: torch.Tensor, target: Target, owner: torch.Tensor | None = None) -> torch.Tensor:
    """Scores ``[N]`` of normalised inputs ``[N, 3, H, W]`` under ``target``, without gradients.

    Args:
        model: the wrapped model.
        inputs: a normalised batch on the model's device.
        target: a resolved :class:`~xwidgets.core.targets.Target`.
        owner: ``[N]`` long, the original image of each input (default ``arange(N)``).
    """
    if not isinstance(inputs, torch.Tensor) or inputs.ndim != 4:
        raise invalid("inputs", inputs, "a normalised [N, 3, H, W] tensor")
    owner = _owner_arg(owner, inputs.shape[0], inputs.device)

    def work(start: int, stop: int) -> torch.Tensor:
        return target(model.forward(inputs[start:stop]), owner[start:stop])

    with torch.no_grad(), model.frozen():
        return microbatched(model, inputs.shape[0], work)


def score_masks(
    model: Model,
    images: torch.Tensor,
    baselines: torch.Tensor,
    masks: torch.Tensor,
    target: Target,
    owner: torch.Tensor | None = None,
    *,
    align_corners: bool = True,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Scores ``[N]`` of the composites of N masks, built chunk by chunk so only one chunk is in memory.

    Args:
        images, baselines: normalised ``[B, 3, H, W]`` on the model's device.
        masks: ``[N, 1, h, w]`` in [0, 1] (1 keeps the pixel), any resolution.
        target: a resolved target.
        owner: ``[N]`` long, the image each mask belongs to (default ``arange(N)``, N = B).
        progress: checked before and told the fraction of masks scored after each micro-batch (a long
            single call such as occlusion's windows or the metric curves); None: silent.
    """
    if not isinstance(masks, torch.Tensor) or masks.ndim != 4:
        raise invalid("masks", masks, "a [N, 1, h, w] float tensor")
    if owner is None and masks.shape[0] != images.shape[0]:
        raise invalid(
            "masks",
            f"{masks.shape[0]} masks for {images.shape[0]} images",
            "one mask per image, or an owner index per mask",
        )
    owner = _owner_arg(owner, masks.shape[0], images.device)

    def work(start: int, stop: int) -> torch.Tensor:
        if progress is not None:
            progress.check()
        rows = owner[start:stop]
        inputs = composite(images, baselines, masks[start:stop], rows, align_corners=align_corners)
        scores = target(model.forward(inputs), rows)
        if progress is not None:
            progress.report(stop / masks.shape[0], f"scored {stop}/{masks.shape[0]} perturbed images")
        return scores

    with torch.no_grad(), model.frozen():
        return microbatched(model, masks.shape[0], work)


def _owner_arg(owner: torch.Tensor | None, count: int, device: torch.device) -> torch.Tensor:
    if owner is None:
        return torch.arange(count, device=device)
    if not isinstance(owner, torch.Tensor) or owner.dtype != torch.long or tuple(owner.shape) != (count,):
        raise invalid("owner", owner, f"a long tensor [{count}]")
    return owner.to(device)
