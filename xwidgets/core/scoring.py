"""Scoring of N perturbed images in micro-batches, with automatic back-off on out-of-memory.

Every pass of a method over many images goes through :func:`microbatched`: it runs the work in chunks of at most
``model.max_batch`` images, halves the chunk on an out-of-memory error, retries, and remembers the smaller size on
the model for later calls. That holds for "score these N perturbed images" loops, for gradient passes (each chunk
runs its own forward and backward), for feature passes over a dataset, and for plain forwards of a batch
(:func:`forward_batched`). A chunk of one image that still runs out of memory raises an ``XWidgetsError`` saying what
to do (:func:`out_of_memory_error`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .errors import XWidgetsError, invalid
from .masks import composite
from .models import Model, is_out_of_memory
from .runner import Progress
from .targets import Target

__all__ = ["microbatched", "forward_batched", "is_out_of_memory", "out_of_memory_error", "score", "score_masks"]


def out_of_memory_error(device: torch.device, error: BaseException) -> XWidgetsError:
    """The error raised when even one image at a time runs out of memory on ``device``: what ran out, and what to
    do about it."""
    where = str(device)
    free = "free memory (close other explorers and runs, delete large tensors"
    free += ", torch.cuda.empty_cache())" if device.type == "cuda" else ")"
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return XWidgetsError(
        f"out of memory on {where} even with one image per pass ({first_line[:200]}): {free}, explain smaller "
        "images (size=(H, W), or a model preprocessing that resizes), or move the model to a device with more "
        "memory (model.to(...))"
    )


def microbatched(model: Model, count: int, work: Callable[[int, int], Any], *, batch: int | None = None) -> Any:
    """Run ``work(start, stop)`` over ``range(count)`` in chunks and concatenate the results along dim 0.

    ``work`` returns a tensor, or a tuple of tensors (each concatenated along dim 0 on its own; the result is then
    a tuple), for items ``start..stop-1``; it must depend on nothing but its own chunk, so a retried chunk gives the
    same values. Chunks hold at most ``batch`` items (default ``model.max_batch``). On out-of-memory
    (:func:`is_out_of_memory`) the chunk is halved (the CUDA cache is emptied) and retried, and ``model.max_batch``
    is lowered to the new size for later calls. A chunk of one that still runs out of memory raises
    :func:`out_of_memory_error`.
    """
    if count < 0:
        raise invalid("count", count, "a non-negative number of items")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise invalid("batch", batch, "a positive number of items per chunk, or None (the model's max_batch)")
    limit = batch or model.max_batch
    pieces, start = [], 0
    while start < count:
        size = min(limit, count - start)
        try:
            pieces.append(work(start, start + size))
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            if size == 1:
                raise out_of_memory_error(model.device, error) from error
            limit = max(1, size // 2)
            model.max_batch = min(model.max_batch, limit)
            if model.device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        start += size
    if not pieces:
        return torch.empty(0, device=model.device)
    if isinstance(pieces[0], tuple):
        return tuple(torch.cat(parts, 0) for parts in zip(*pieces))
    return torch.cat(pieces, 0)


def forward_batched(model: Model, inputs: torch.Tensor) -> torch.Tensor:
    """``model.forward`` of normalised ``inputs`` ``[N, 3, H, W]`` in micro-batches (:func:`microbatched`), so a
    batch too large for the device backs off instead of failing: the output ``[N, D]``. Gradients and frozen
    parameters are the caller's choice (use it under ``torch.no_grad()``: a graph kept across chunks saves no
    memory)."""
    return microbatched(model, int(inputs.shape[0]), lambda start, stop: model.forward(inputs[start:stop]))


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
