"""Patch sets on a g×g grid, and the insertion images that show them (``docs/sag.md``).

A patch set is a tuple of patch numbers, row-major on the grid (patch p sits at row p // g, column p % g, as in
the official DNF strings "P17 & P30"). Its insertion image keeps the image where the patches are and shows the
baseline (black in the official code) elsewhere. The binary g×g mask is upsampled bilinearly with
``align_corners=True`` by default, so patch borders are soft ramps as in the official code; ``patches="hard"``
upsamples with nearest neighbours instead, so a patch is exactly its square of pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..core.masks import upsample_mask
from ..core.models import Model
from ..core.scoring import score_masks
from ..core.targets import Target

__all__ = ["PatchSet", "patch_grid_masks", "upsampled_patch_masks", "score_patch_sets", "insertion_images"]

PatchSet = tuple[int, ...]


def patch_grid_masks(sets: Sequence[Sequence[int]], grid: int, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[N, 1, g, g]`` float masks, 1 on each set's patches and 0 elsewhere."""
    masks = torch.zeros(len(sets), grid * grid)
    for row, patches in enumerate(sets):
        if len(patches):
            masks[row, list(patches)] = 1.0
    return masks.view(-1, 1, grid, grid).to(device)


def upsampled_patch_masks(
    sets: Sequence[Sequence[int]], grid: int, size: tuple[int, int], patches: str, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``[N, 1, H, W]`` masks of the sets at the input size: ``"bilinear"`` (soft borders) or ``"hard"``."""
    masks = patch_grid_masks(sets, grid, device=device)
    if patches == "hard":
        return F.interpolate(masks, size=size, mode="nearest")
    return upsample_mask(masks, size)


def score_patch_sets(
    model: Model,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    target: Target,
    sets: Sequence[Sequence[int]],
    owners: Sequence[int],
    grid: int,
    patches: str,
) -> torch.Tensor:
    """The target's score ``[N]`` on the insertion image of each set, all N in one micro-batched forward.

    Args:
        inputs, baselines: normalised ``[B, 3, H, W]`` images and baselines on the model's device.
        sets: N patch sets; ``owners``: the image (0..B-1) each set belongs to.
        grid: g; ``patches``: ``"bilinear"`` or ``"hard"``.
    """
    if not sets:
        return torch.empty(0, device=inputs.device)
    owner = torch.tensor(list(owners), dtype=torch.long, device=inputs.device)
    if patches == "hard":
        masks = upsampled_patch_masks(sets, grid, (inputs.shape[-2], inputs.shape[-1]), patches, inputs.device)
    else:
        masks = patch_grid_masks(sets, grid, device=inputs.device)
    return score_masks(model, inputs, baselines, masks, target, owner)


def insertion_images(
    image: torch.Tensor, sets: Sequence[Sequence[int]], grid: int, patches: str, hidden_intensity: float = 0.1
) -> torch.Tensor:
    """Display images ``[N, 3, H, W]`` in [0, 1] of one pixel-space image ``[3, H, W]``: each set's patches
    shown, the rest darkened to ``hidden_intensity`` (the official drawings use 10 %, so the context stays
    readable; the model itself saw the baseline there)."""
    masks = upsampled_patch_masks(sets, grid, (image.shape[-2], image.shape[-1]), patches, image.device)
    return (image.unsqueeze(0) * (hidden_intensity + (1.0 - hidden_intensity) * masks)).clamp(0, 1)
