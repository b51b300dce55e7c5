"""Summaries: affinity propagation over the proposals' matching scores, then SSIM-based acceptance of clusters and
of their samples (``docs/summaries.md``; steps 6 to 8 of the official second stage).

- **Clustering** (:func:`cluster_proposals`): scikit-learn's affinity propagation on ``S − max(S)`` with the
  preference ``preference_factor · median`` of those (negative) similarities; the official factor 1.3 makes the
  preference more negative than the median, hence fewer clusters. It re-runs in well under a second, from the
  cached scores.
- **Members**: each cluster keeps its exemplar and, from every other image, the member that matches the exemplar
  best (at most ``top`` = 10 samples).
- **Acceptance** (:func:`accept_clusters`): the grey crops of a cluster's samples, resized to one size (the
  official code warped them onto the exemplar with a dense Proposal Flow field, which is left out), are compared
  pairwise with SSIM (:func:`pairwise_ssim`). :func:`judge_clusters` accepts a cluster when its median SSIM
  reaches :func:`ssim_threshold` of the class median (the median of the clusters' medians), and keeps a sample
  when fewer than ``sample_share`` (60 %) of its SSIMs fall below the class-wide median of all pairwise SSIMs.

Departure from the official acceptance rule, ``median ≥ ssim_factor × class median``: SSIM lies in [-1, 1], and
with a negative class median (common without the official warping) that product inverts, so a *higher* factor
became *more lenient*. The threshold used here is ``class median − (1 − ssim_factor) · |class median|``: the
official rule whenever the class median is ≥ 0, and non-decreasing in ``ssim_factor`` for every sign. With a
single cluster the test reduces to ``ssim_factor ≤ 1``; its samples are still pruned. The sample rule has no
factor and is unchanged. Measured on the toy world in ``docs/summaries.md#departures-from-the-official-code``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import invalid

__all__ = ["cluster_proposals", "accept_clusters", "judge_clusters", "pairwise_ssim", "ssim_threshold"]

_CROP = 32


def cluster_proposals(
    scores: torch.Tensor, image: torch.Tensor, *, preference_factor: float = 1.3, top: int = 10, seed: int = 0
) -> list[dict]:
    """Clusters of proposals, each ``{"exemplar": p, "members": [p, ...]}`` (exemplar first, one member per
    image). ``scores`` is the ``[P, P]`` matching matrix, ``image`` the ``[P]`` image of each proposal."""
    count = scores.shape[0]
    if count == 0:
        return []
    if count == 1:
        return [{"exemplar": 0, "members": [0]}]
    similarity = (scores - scores.max()).double().numpy()
    off_diagonal = similarity[~np.eye(count, dtype=bool)]
    preference = preference_factor * float(np.median(off_diagonal))
    from sklearn.cluster import AffinityPropagation  # sklearn costs a second at import: load it on first use
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = AffinityPropagation(
            affinity="precomputed", preference=preference, random_state=seed, max_iter=400, convergence_iter=30
        ).fit(similarity)
    exemplars = model.cluster_centers_indices_
    if exemplars is None or len(exemplars) == 0:
        return []
    clusters = []
    for label, exemplar in enumerate(exemplars):
        members = np.nonzero(model.labels_ == label)[0]
        best: dict[int, int] = {}
        for member in members:
            if member == exemplar:
                continue
            owner = int(image[member])
            if owner == int(image[exemplar]):
                continue
            if owner not in best or scores[exemplar, member] > scores[exemplar, best[owner]]:
                best[owner] = int(member)
        ranked = sorted(best.values(), key=lambda m: -float(scores[exemplar, m]))[: top - 1]
        clusters.append({"exemplar": int(exemplar), "members": [int(exemplar), *ranked]})
    return clusters


def _crops(images: torch.Tensor, boxes: torch.Tensor, image: torch.Tensor, members: list[int]) -> np.ndarray:
    grey = images.mean(dim=1, keepdim=True)
    crops = []
    for member in members:
        x0, y0, x1, y1 = (int(v) for v in boxes[member].tolist())
        crop = grey[int(image[member]), :, y0:y1, x0:x1].unsqueeze(0)
        crops.append(F.interpolate(crop, size=(_CROP, _CROP), mode="bilinear", align_corners=False)[0, 0])
    return torch.stack(crops).numpy()


def pairwise_ssim(
    images: torch.Tensor, boxes: torch.Tensor, image: torch.Tensor, members: list[int]
) -> np.ndarray | None:
    """``[M, M]`` SSIM in [-1, 1] (ones on the diagonal) between the grey crops of ``members``, each resized to
    32 × 32; None for fewer than two members. ``images`` is ``[N, 3, H, W]`` in [0, 1]; ``boxes`` ``[P, 4]``
    (x0, y0, x1, y1) and ``image`` ``[P]`` describe the proposals."""
    if len(members) < 2:
        return None
    from skimage.metrics import structural_similarity  # loads scipy: on first use, not at import

    crops = _crops(images, boxes, image, members)
    matrix = np.ones((len(members), len(members)))
    for a in range(len(members)):
        for b in range(a + 1, len(members)):
            matrix[a, b] = matrix[b, a] = structural_similarity(crops[a], crops[b], data_range=1.0, win_size=7)
    return matrix


def ssim_threshold(class_median: float, ssim_factor: float) -> float:
    """The least median SSIM an accepted cluster needs: ``class_median − (1 − ssim_factor) · |class_median|``.

    Equal to the official ``ssim_factor · class_median`` when ``class_median`` ≥ 0 and, unlike it, non-decreasing
    in ``ssim_factor`` for a negative class median too (see the module docstring). Both medians lie in [-1, 1].
    """
    return class_median - (1.0 - ssim_factor) * abs(class_median)


def _off_diagonal(matrix: np.ndarray) -> np.ndarray:
    return matrix[~np.eye(len(matrix), dtype=bool)]


def judge_clusters(
    clusters: list[dict],
    pairwise: list[np.ndarray | None],
    *,
    ssim_factor: float = 0.9,
    sample_share: float = 0.6,
    min_members: int = 2,
) -> list[dict]:
    """Add ``"ssim"`` (median pairwise SSIM, NaN without a pair), ``"accepted"`` and ``"samples"`` (the kept
    members) to each cluster, given each cluster's ``[M, M]`` SSIM matrix over its ``members`` (None for one).

    A cluster is accepted when it has at least ``min_members`` members, its median SSIM is at least
    :func:`ssim_threshold` of the median of the clusters' medians, and at least two of its samples are kept; a
    sample is kept when fewer than ``sample_share`` of its SSIMs fall below the median of every pairwise SSIM.
    """
    if len(pairwise) != len(clusters):
        raise invalid("pairwise", f"{len(pairwise)} matrices", f"one per cluster ({len(clusters)})")
    judged = [m for m in pairwise if m is not None]
    medians = [float(np.median(_off_diagonal(m))) for m in judged]
    threshold = ssim_threshold(float(np.median(medians)), ssim_factor) if medians else 0.0
    global_median = float(np.median(np.concatenate([_off_diagonal(m) for m in judged]))) if judged else 0.0
    result = []
    for cluster, matrix in zip(clusters, pairwise):
        if matrix is None:
            result.append({**cluster, "ssim": float("nan"), "accepted": False, "samples": list(cluster["members"])})
            continue
        off = ~np.eye(len(matrix), dtype=bool)
        median = float(np.median(matrix[off]))
        below = [(matrix[i][off[i]] < global_median).mean() for i in range(len(matrix))]
        samples = [m for m, share in zip(cluster["members"], below) if share < sample_share]
        accepted = len(cluster["members"]) >= min_members and median >= threshold and len(samples) >= 2
        result.append({**cluster, "ssim": median, "accepted": bool(accepted), "samples": samples})
    return result


def accept_clusters(
    clusters: list[dict],
    images: torch.Tensor,
    boxes: torch.Tensor,
    image: torch.Tensor,
    *,
    ssim_factor: float = 0.9,
    sample_share: float = 0.6,
    min_members: int = 2,
) -> list[dict]:
    """:func:`judge_clusters` on the SSIMs of each cluster's crops (:func:`pairwise_ssim`).

    Clusters with fewer than ``min_members`` members (a part seen in one image only) are never accepted.
    ``images`` is ``[N, 3, H, W]`` in [0, 1]; ``boxes`` and ``image`` describe the proposals.
    """
    pairwise = [pairwise_ssim(images, boxes, image, cluster["members"]) for cluster in clusters]
    return judge_clusters(
        clusters, pairwise, ssim_factor=ssim_factor, sample_share=sample_share, min_members=min_members
    )
