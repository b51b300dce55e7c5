"""Metrics of an explanation space computed without people (XNN's automatic metrics,
``docs/concepts.md#metrics-without-people``), and the toy world's concept–part alignment.

Each is a plain function on tensors; higher is better for all of them.
"""

from __future__ import annotations

import torch

__all__ = [
    "r_squared",
    "decision_agreement",
    "contribution_sparsity",
    "orthogonality",
    "alignment_matrix",
    "part_alignment",
]


def r_squared(prediction: torch.Tensor, truth: torch.Tensor) -> float:
    """Coefficient of determination of ``prediction [N]`` against ``truth [N]`` (1 is perfect; 0 is as good as
    predicting the mean; negative is worse). A constant truth gives 1 if matched exactly, else 0."""
    residual = (prediction - truth).pow(2).sum()
    spread = (truth - truth.mean()).pow(2).sum()
    if spread <= 0:
        return 1.0 if residual <= 0 else 0.0
    return float(1 - residual / spread)


def decision_agreement(logits: torch.Tensor, prediction: torch.Tensor, target: int) -> float:
    """How often the classifier's decision "is it class ``target``?" stays the same when the target's logit in
    ``logits [N, K]`` is replaced by the explanation space's prediction ``[N]``; in [0, 1]."""
    original = logits.argmax(dim=1) == target
    replaced = logits.clone()
    replaced[:, target] = prediction
    return float(((replaced.argmax(dim=1) == target) == original).float().mean())


def contribution_sparsity(contributions: torch.Tensor) -> float:
    """Mean Hoyer sparsity of each image's contribution magnitudes ``|z_k · w_k|`` (``[N, k]``): 1 when one
    concept carries an image's prediction, 0 when all share it equally. Images with no contribution are skipped;
    k = 1 gives 1."""
    k = contributions.shape[1]
    if k == 1:
        return 1.0
    magnitudes = contributions.abs()
    l1, l2 = magnitudes.sum(dim=1), magnitudes.norm(dim=1)
    alive = l2 > 0
    if not bool(alive.any()):
        return 0.0
    root = k**0.5
    return float(((root - l1[alive] / l2[alive]) / (root - 1)).mean())


def orthogonality(contributions: torch.Tensor) -> float:
    """1 minus the mean absolute cosine between the concepts' contribution columns over images (``[N, k]``):
    1 when no two concepts are active on the same images, 0 when they move together. k = 1 gives 1."""
    k = contributions.shape[1]
    if k == 1:
        return 1.0
    columns = contributions.T
    unit = columns / (columns.norm(dim=1, keepdim=True) + 1e-8)
    cosines = (unit @ unit.T).abs()
    return float(1 - (cosines.sum() - cosines.diagonal().sum()) / (k * (k - 1)))


def alignment_matrix(
    maps: torch.Tensor, labels: torch.Tensor, parts: int, active: torch.Tensor | None = None
) -> torch.Tensor:
    """How each concept's map mass is spread over the parts, ``[k, parts + 1]`` (column 0 is the background).

    Args:
        maps: ``[B, k, H, W]`` non-negative concept maps at the labels' resolution.
        labels: ``[B, H, W]`` integer part ids, 0 for background, 1..parts for the parts.
        parts: the number of part ids.
        active: ``[B, k]`` bool, which concepts count on which image (default all); a concept's row averages the
            per-image fractions over its active images, and is all zero if it is active on none.

    Each row is a distribution (it sums to 1) for a concept active somewhere.
    """
    one_hot = torch.nn.functional.one_hot(labels.long(), parts + 1).permute(0, 3, 1, 2).float()  # [B, P+1, H, W]
    mass = torch.einsum("bkhw,bphw->bkp", maps.float(), one_hot)
    totals = mass.sum(dim=-1, keepdim=True)
    fractions = torch.where(totals > 0, mass / totals.clamp(min=1e-12), torch.zeros_like(mass))
    weight = (totals.squeeze(-1) > 0).float()
    if active is not None:
        weight = weight * active.float()
    counts = weight.sum(dim=0)  # [k]
    summed = torch.einsum("bk,bkp->kp", weight, fractions)
    return torch.where(counts.unsqueeze(1) > 0, summed / counts.clamp(min=1).unsqueeze(1), torch.zeros_like(summed))


def part_alignment(matrix: torch.Tensor, weights: torch.Tensor | None = None) -> float:
    """A single score of an alignment matrix ``[k, parts + 1]``: the (weighted) mean over concepts of the largest
    share of a concept's mass that one part (not the background) receives. 1 when every concept sits on one
    part; about ``1 / parts`` when mass is spread evenly. ``weights [k]`` default equal."""
    best = matrix[:, 1:].max(dim=1).values
    if weights is None:
        weights = torch.ones_like(best)
    weights = weights.clamp(min=0)
    if float(weights.sum()) <= 0:
        return 0.0
    return float((best * weights).sum() / weights.sum())
