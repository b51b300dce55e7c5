"""Summaries: affinity propagation over the proposals' matching scores, then SSIM-based acceptance of clusters and
of their samples (METHODS.md section 6, steps 6 to 8 of the official second stage).

- **Clustering** (:func:`cluster_proposals`): scikit-learn's affinity propagation on ``S − max(S)`` with the
  preference ``preference_factor · median`` of those (negative) similarities; the official factor 1.3 makes the
  preference more negative than the median, hence fewer clusters. It re-runs in well under a second, from the
  cached scores.
- **Members**: each cluster keeps its exemplar and, from every other image, the member that matches the exemplar
  best (at most ``top`` = 10 samples).
- **Acceptance** (:func:`accept_clusters`): the grey crops of a cluster's samples, resized to one size (the
  official code warped them onto the exemplar with a dense Proposal Flow field, which is left out), are compared
  pairwise with SSIM. A cluster is accepted when its median SSIM is at least ``ssim_factor`` (0.9) × the median of
  the clusters' medians; a sample is kept when fewer than 60 % of its SSIMs fall below the class-wide median.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity
from sklearn.cluster import AffinityPropagation
from sklearn.exceptions import ConvergenceWarning

__all__ = ["cluster_proposals", "accept_clusters"]

_CROP = 32


def cluster_proposals(scores: torch.Tensor, image: torch.Tensor, *, preference_factor: float = 1.3,
                      top: int = 10, seed: int = 0) -> list[dict]:
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = AffinityPropagation(affinity="precomputed", preference=preference, random_state=seed,
                                    max_iter=400, convergence_iter=30).fit(similarity)
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
        ranked = sorted(best.values(), key=lambda m: -float(scores[exemplar, m]))[:top - 1]
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


def accept_clusters(clusters: list[dict], images: torch.Tensor, boxes: torch.Tensor, image: torch.Tensor, *,
                    ssim_factor: float = 0.9, sample_share: float = 0.6, min_members: int = 2) -> list[dict]:
    """Add ``"ssim"`` (median pairwise SSIM), ``"accepted"`` and ``"samples"`` (the kept members) to each cluster.

    Clusters with fewer than ``min_members`` members (a part seen in one image only) are never accepted.
    ``images`` is ``[N, 3, H, W]`` in [0, 1]; ``boxes`` and ``image`` describe the proposals.
    """
    pairwise: list[np.ndarray | None] = []
    for cluster in clusters:
        members = cluster["members"]
        if len(members) < 2:
            pairwise.append(None)
            continue
        crops = _crops(images, boxes, image, members)
        matrix = np.ones((len(members), len(members)))
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                matrix[a, b] = matrix[b, a] = structural_similarity(crops[a], crops[b], data_range=1.0, win_size=7)
        pairwise.append(matrix)
    medians = [float(np.median(m[~np.eye(len(m), dtype=bool)])) for m in pairwise if m is not None]
    overall = float(np.median(medians)) if medians else 0.0
    every = np.concatenate([m[~np.eye(len(m), dtype=bool)] for m in pairwise if m is not None]) if medians else []
    global_median = float(np.median(every)) if len(every) else 0.0
    result = []
    for cluster, matrix in zip(clusters, pairwise):
        if matrix is None:
            result.append({**cluster, "ssim": float("nan"), "accepted": False, "samples": list(cluster["members"])})
            continue
        off = ~np.eye(len(matrix), dtype=bool)
        median = float(np.median(matrix[off]))
        below = [(matrix[i][off[i]] < global_median).mean() for i in range(len(matrix))]
        samples = [m for m, share in zip(cluster["members"], below) if share < sample_share]
        accepted = len(cluster["members"]) >= min_members and median >= ssim_factor * overall and len(samples) >= 2
        result.append({**cluster, "ssim": median, "accepted": bool(accepted), "samples": samples})
    return result
