"""Localisation metrics against ground-truth masks: the pointing game, energy inside the mask, top-k IoU.

Each function takes saliency ``[B, 1, H, W]`` (or ``[B, H, W]``; high = important) and boolean ground-truth
masks ``[B, H, W]`` of the same size (numpy or torch), and returns one value per image. Higher is better for all.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.errors import invalid

__all__ = ["HIGHER_IS_BETTER", "pointing_game", "energy_in_mask", "topk_iou"]

HIGHER_IS_BETTER = {"pointing_game": True, "energy_in_mask": True, "topk_iou": True}


def pointing_game(saliency: object, masks: object, *, tolerance: int = 15) -> torch.Tensor:
    """Hits ``[B]`` (bool): the arg-max of each map lies within ``tolerance`` pixels of its mask.

    Zhang et al. (ECCV'16) as implemented in TorchRay: a hit when a disc of radius ``tolerance`` (15 px) around
    the maximum intersects the mask. Average hits per class and then over classes for the paper's number.
    """
    maps, truth = _pair(saliency, masks)
    if not isinstance(tolerance, int) or tolerance < 0:
        raise invalid("tolerance", tolerance, "a non-negative number of pixels")
    height, width = truth.shape[1:]
    flat = maps.flatten(1).argmax(1)
    rows, cols = flat // width, flat % width
    ys = torch.arange(height).view(1, -1, 1)
    xs = torch.arange(width).view(1, 1, -1)
    disc = (ys - rows.view(-1, 1, 1)) ** 2 + (xs - cols.view(-1, 1, 1)) ** 2 <= tolerance**2
    return (disc & truth).flatten(1).any(1)


def energy_in_mask(saliency: object, masks: object) -> torch.Tensor:
    """The fraction ``[B]`` of each map's total saliency that falls inside its mask (0..1)."""
    maps, truth = _pair(saliency, masks)
    total = maps.flatten(1).sum(1)
    inside = (maps * truth).flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp_min(1e-12), torch.zeros_like(total))


def topk_iou(saliency: object, masks: object, *, fraction: float | None = None) -> torch.Tensor:
    """IoU ``[B]`` between each map's top-k pixels and its mask.

    Args:
        fraction: the share of pixels kept, in (0, 1]; default (None) keeps as many pixels as the mask has.
    """
    maps, truth = _pair(saliency, masks)
    if fraction is not None and not 0.0 < fraction <= 1.0:
        raise invalid("fraction", fraction, "a share of pixels in (0, 1], or None for the mask's size")
    flat, target = maps.flatten(1), truth.flatten(1)
    counts = target.sum(1) if fraction is None else torch.full((flat.shape[0],), round(fraction * flat.shape[1]))
    order = torch.argsort(-flat, dim=1, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(flat.shape[1]).expand_as(order))
    top = rank < counts.view(-1, 1).clamp_min(1)
    union = (top | target).sum(1)
    return (top & target).sum(1) / union.clamp_min(1)


def _pair(saliency: object, masks: object) -> tuple[torch.Tensor, torch.Tensor]:
    maps = torch.as_tensor(saliency) if isinstance(saliency, np.ndarray) else saliency
    truth = torch.as_tensor(masks) if isinstance(masks, np.ndarray) else masks
    if not isinstance(maps, torch.Tensor) or not maps.is_floating_point():
        raise invalid("saliency", saliency, "float maps [B, 1, H, W] or [B, H, W]")
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.ndim != 3:
        raise invalid("saliency", saliency, "float maps [B, 1, H, W] or [B, H, W]")
    if not isinstance(truth, torch.Tensor) or truth.ndim != 3:
        raise invalid("masks", masks, "boolean masks [B, H, W]")
    if truth.shape != maps.shape:
        raise invalid("masks", f"masks of shape {tuple(truth.shape)}", f"the saliency's shape {tuple(maps.shape)}")
    if not bool(torch.isfinite(maps).all()):
        raise invalid("saliency", "maps with NaN or infinite values", "finite values")
    if bool((maps < 0).any()):
        raise invalid("saliency", f"negative values (min {float(maps.min()):.3g})", "non-negative saliency")
    return maps.detach().float().cpu(), truth.detach().bool().cpu()
