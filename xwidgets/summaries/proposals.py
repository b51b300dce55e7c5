"""Region proposals on the salient parts of each image, and a proposal-flow-style matching score between the
proposals of different images (the second stage of visual summaries, ``docs/summaries.md``).

The official second stage is MATLAB: SelectiveSearch boxes, HOG descriptors and Proposal Flow's local offset
matching (LOM). Here, in Python:

- **Proposals** (:func:`proposals`): the bounding boxes of scikit-image's Felzenszwalb segments at several scales
  (a coarse-to-fine hierarchy, as SelectiveSearch's grouping gives) and of each salient region itself, kept when the
  crisp mask covers more than ``coverage`` (0.75) of the box, as in the official code. Duplicates (intersection
  over the smaller box ≥ 0.5 with a scale ratio < 2) are pruned greedily, keeping the better-covered box; the
  official code kept the box with the best cross-image matching, which needs the matching first.
- **Descriptors**: the network's own features, ROI-aligned from a convolutional layer over each box (the official
  code used HOG), L2-normalised.
- **Matching** (:func:`match_scores`): the appearance similarity of two proposals of different images is the cosine
  of their descriptors. The geometric consistency of a candidate match (a in image i, b in image j) follows LOM's
  idea: the other proposals of image i vote for it with their own best appearance match in image j, each vote
  weighted by that appearance and by a Gaussian of the difference between its offset and the candidate's offset
  (box centres, in fractions of the image side). The score is ``appearance · (1 + consistency) / 2`` with the
  consistency normalised to [0, 1]. Proposal Flow also votes over scales and ends with a dense flow field; both
  are left out.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import XWidgetsError
from ..core.hooks import record_layer
from ..core.layers import spatial_activation
from ..core.models import Classifier
from ..core.scoring import microbatched
from .masks import CrispMasks
from .regions import Regions

__all__ = ["Proposals", "proposals", "describe_proposals", "match_scores"]

_SCALES = (50, 150, 400)


@dataclasses.dataclass
class Proposals:
    """Boxes on the salient parts of every image.

    Attributes:
        boxes: ``[P, 4]`` float ``(x0, y0, x1, y1)`` in pixels (exclusive ends).
        image: ``[P]`` long, the row of each box's image in the crisp masks.
        coverage: ``[P]`` the share of the box the crisp mask covers.
        descriptors: ``[P, D]`` L2-normalised features (filled by :func:`describe_proposals`).
    """

    boxes: torch.Tensor
    image: torch.Tensor
    coverage: torch.Tensor
    descriptors: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.image.shape[0])

    def described(self) -> torch.Tensor:
        """``[P, D]`` the descriptors; raises before :func:`describe_proposals` filled them."""
        if self.descriptors is None:
            raise XWidgetsError("the proposals have no descriptors yet: describe them with describe_proposals")
        return self.descriptors


def _segment_boxes(image: np.ndarray, min_pixels: int) -> list[tuple[int, int, int, int]]:
    from skimage.segmentation import felzenszwalb  # loads scipy: on first use, not at import

    boxes = []
    for scale in _SCALES:
        segments = felzenszwalb(image, scale=scale, sigma=0.5, min_size=max(4, min_pixels // 2))
        for index in np.unique(segments):
            ys, xs = np.nonzero(segments == index)
            if ys.size >= min_pixels:
                boxes.append((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    return boxes


def _prune(boxes: list, coverage: list, overlap: float = 0.5, scale_ratio: float = 2.0) -> list[int]:
    """Greedy duplicate removal: the better-covered box wins against boxes overlapping it by ≥ ``overlap`` of the
    smaller one with a scale ratio under ``scale_ratio``."""
    order = sorted(range(len(boxes)), key=lambda i: -coverage[i])
    kept: list[int] = []
    for i in order:
        x0, y0, x1, y1 = boxes[i]
        area = (x1 - x0) * (y1 - y0)
        duplicate = False
        for j in kept:
            a0, b0, a1, b1 = boxes[j]
            other = (a1 - a0) * (b1 - b0)
            inter = max(0, min(x1, a1) - max(x0, a0)) * max(0, min(y1, b1) - max(y0, b0))
            if inter >= overlap * min(area, other) and max(area, other) < scale_ratio * min(area, other):
                duplicate = True
                break
        if not duplicate:
            kept.append(i)
    return sorted(kept)


def proposals(
    masks: CrispMasks, regions: Regions, *, coverage: float = 0.75, min_area: float = 0.005, mask_threshold: float = 0.5
) -> Proposals:
    """Proposals of every image whose box the crisp mask covers by more than ``coverage``.

    ``min_area`` is the smallest box, as a fraction of the image. The regions' own boxes are always candidates.
    """
    images = masks.images.permute(0, 2, 3, 1).numpy()
    salient = (masks.saliency[:, 0] >= mask_threshold).numpy()
    height, width = salient.shape[-2:]
    min_pixels = max(4, int(min_area * height * width))
    all_boxes, owners, covers = [], [], []
    for row in range(images.shape[0]):
        candidates = _segment_boxes(images[row], min_pixels)
        candidates += [
            (int(x0), int(y0), int(x1), int(y1)) for x0, y0, x1, y1 in regions.boxes[regions.image == row].tolist()
        ]
        boxes, cover = [], []
        for box in dict.fromkeys(candidates):
            x0, y0, x1, y1 = box
            share = float(salient[row, y0:y1, x0:x1].mean())
            if share > coverage and (x1 - x0) * (y1 - y0) >= min_pixels:
                boxes.append(box)
                cover.append(share)
        for i in _prune(boxes, cover):
            all_boxes.append(boxes[i])
            owners.append(row)
            covers.append(cover[i])
    return Proposals(
        torch.tensor(all_boxes, dtype=torch.float32).reshape(-1, 4),
        torch.tensor(owners, dtype=torch.long),
        torch.tensor(covers, dtype=torch.float32),
    )


def describe_proposals(
    model: Classifier, masks: CrispMasks, found: Proposals, layer: str, *, pooled: int = 3
) -> Proposals:
    """Fill ``found.descriptors`` with ROI-aligned, L2-normalised features of ``layer`` (``[P, C·pooled²]``), read
    as a map on the image grid (:func:`~xwidgets.core.layers.layer_map`)."""
    from torchvision.ops import roi_align  # torchvision.ops costs seconds at import: load it on first use

    pixels = masks.images.to(model.device, model.dtype)
    with torch.no_grad(), model.frozen(), record_layer(model.module, layer) as record:

        def work(start: int, stop: int) -> torch.Tensor:  # backs off on out-of-memory
            model.forward(model.normalize(pixels[start:stop]))
            return spatial_activation(record, layer, pixels[start:stop]).float()

        activation = microbatched(model, pixels.shape[0], work)
    scale = activation.shape[-1] / pixels.shape[-1]
    rois = torch.cat([found.image.float().unsqueeze(1), found.boxes], dim=1).to(activation.device)
    pooled_features = roi_align(activation, rois, output_size=pooled, spatial_scale=scale, aligned=True)
    found.descriptors = F.normalize(pooled_features.flatten(1), dim=1).cpu()
    return found


def match_scores(found: Proposals, *, sigma: float = 0.1) -> torch.Tensor:
    """``[P, P]`` matching scores between proposals of different images (see the module docstring); pairs within
    one image get the lowest score of the matrix, so that clusters gather parts of different images."""
    descriptors = found.described()
    appearance = (descriptors @ descriptors.T).clamp(min=0)
    if appearance.shape[0] == 0:  # no salient region in any image: nothing to match (no summary)
        return appearance
    size = torch.maximum(found.boxes[:, 2], found.boxes[:, 3]).max().clamp(min=1)
    centres = (
        torch.stack([(found.boxes[:, 0] + found.boxes[:, 2]) / 2, (found.boxes[:, 1] + found.boxes[:, 3]) / 2], dim=1)
        / size
    )
    scores = torch.zeros_like(appearance)
    images = found.image.unique().tolist()
    for i in images:
        rows = (found.image == i).nonzero().flatten()
        for j in images:
            if i == j:
                continue
            cols = (found.image == j).nonzero().flatten()
            block = appearance[rows][:, cols]  # [a, b]
            offsets = centres[cols].unsqueeze(0) - centres[rows].unsqueeze(1)  # [a, b, 2]
            best = block.argmax(dim=1)  # each a' votes with its best b'
            vote_offset = offsets[torch.arange(len(rows)), best]  # [a', 2]
            vote_weight = block[torch.arange(len(rows)), best]  # [a']
            distance = (offsets.unsqueeze(2) - vote_offset.view(1, 1, -1, 2)).pow(2).sum(-1)  # [a, b, a']
            agreement = torch.exp(-distance / (2 * sigma**2)) * vote_weight.view(1, 1, -1)
            others = 1 - torch.eye(len(rows)).unsqueeze(1)  # a' ≠ a
            consistency = (agreement * others).sum(-1) / max(1, len(rows) - 1)
            scores[rows.unsqueeze(1), cols.unsqueeze(0)] = block * (1 + consistency.clamp(0, 1)) / 2
    same = found.image.unsqueeze(0) == found.image.unsqueeze(1)
    return torch.where(same, scores[~same].min() if bool((~same).any()) else scores.new_tensor(0.0), scores)
