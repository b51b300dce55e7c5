"""Salient regions of crisp masks: threshold, 8-connected components, a minimum area, and a ranking by how much
hiding each region lowers the target's probability (``docs/summaries.md``; the official ``rank_regions``).

A region is hidden by replacing its pixels with the same blurred copy the masks were optimised against; every
region of every image is scored in one micro-batched forward. The drop is relative to the image's own
probability, ``(p − p_hidden) / p``; the official code recorded ``1 − p_hidden``, which ranks the regions of one
image identically but cannot be compared across images.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..core.errors import invalid
from ..core.masks import composite
from ..core.models import Classifier
from ..core.params import Param, ParamSet
from ..core.scoring import score
from ..core.targets import ClassTarget
from .masks import CrispMasks, scaled_blur

__all__ = ["REGION_PARAMS", "Regions", "salient_regions"]

REGION_PARAMS = ParamSet(
    "regions",
    Param(
        "mask_threshold",
        "float",
        0.5,
        "saliency at or above which a pixel belongs to a region",
        low=0.01,
        high=0.99,
        step=0.01,
    ),
    Param("min_area", "float", 0.01, "smallest region kept, as a fraction of the image", low=0.0, high=0.5, step=0.005),
    Param("top_k", "int", 3, "regions kept per image, the largest drops first", low=1, high=20),
)


@dataclasses.dataclass
class Regions:
    """The kept regions of all images, in one flat list ordered by image, then by drop (largest first).

    Attributes:
        masks: ``[R, H, W]`` bool, one per region.
        image: ``[R]`` long, the row of each region's image in the :class:`~xwidgets.summaries.masks.CrispMasks`.
        boxes: ``[R, 4]`` float ``(x0, y0, x1, y1)`` pixel bounds (x1, y1 exclusive).
        areas: ``[R]`` fraction of the image each region covers.
        drops: ``[R]`` relative drop of the target's probability when the region is hidden.
        params: the region parameters used.
    """

    masks: torch.Tensor
    image: torch.Tensor
    boxes: torch.Tensor
    areas: torch.Tensor
    drops: torch.Tensor
    params: dict

    def __len__(self) -> int:
        return int(self.image.shape[0])


def _components(saliency: np.ndarray, threshold: float, min_pixels: float) -> list[np.ndarray]:
    """The 8-connected components of ``saliency >= threshold`` with at least ``min_pixels`` pixels."""
    from skimage.measure import label  # loads scipy: on first use, not at import

    labels = label(saliency >= threshold, connectivity=2)
    return [labels == index for index in range(1, int(labels.max()) + 1) if (labels == index).sum() >= min_pixels]


def salient_regions(model: Classifier, masks: CrispMasks, **params) -> Regions:
    """The top regions of every image's crisp mask, ranked by the drop they cause.

    Args:
        model: the classifier the masks were computed for.
        masks: :class:`~xwidgets.summaries.masks.CrispMasks`.
        params: any of :data:`REGION_PARAMS` (``mask_threshold``, ``min_area``, ``top_k``).

    Cost: one forward pass per candidate region, all in one micro-batched call.
    """
    if not isinstance(masks, CrispMasks):
        raise invalid("masks", type(masks).__name__, "CrispMasks from crisp_masks")
    values = REGION_PARAMS.resolve(params)
    saliency = masks.saliency[:, 0].numpy()
    height, width = saliency.shape[-2:]
    candidates, owners = [], []
    for row, image_saliency in enumerate(saliency):
        for component in _components(image_saliency, values["mask_threshold"], values["min_area"] * height * width):
            candidates.append(component)
            owners.append(row)
    if not candidates:
        empty = torch.zeros(0, dtype=torch.long)
        return Regions(
            torch.zeros(0, height, width, dtype=torch.bool),
            empty,
            torch.zeros(0, 4),
            torch.zeros(0),
            torch.zeros(0),
            values,
        )
    region_masks = torch.from_numpy(np.stack(candidates))
    owner = torch.tensor(owners, dtype=torch.long)
    pixels = masks.images.to(model.device, model.dtype)
    inputs = model.normalize(pixels)
    crisp = masks.params
    baselines = model.normalize(scaled_blur(pixels, crisp["baseline_kernel"], crisp["baseline_sigma"]))
    keep = (~region_masks).to(model.device, model.dtype).unsqueeze(1)
    target = ClassTarget([masks.target] * pixels.shape[0])
    with torch.no_grad():
        hidden = (
            score(model, composite(inputs, baselines, keep, owner.to(model.device)), target, owner.to(model.device))
            .float()
            .cpu()
        )
    base = masks.scores[owner].float()
    drops = (base - hidden) / base.clamp(min=1e-12)
    best = []
    for row in range(saliency.shape[0]):
        members = (owner == row).nonzero().flatten()
        order = members[drops[members].argsort(descending=True)]
        best.extend(order[: values["top_k"]].tolist())
    chosen = torch.tensor(best, dtype=torch.long)
    kept_masks = region_masks[chosen]
    ys = kept_masks.any(dim=2)
    xs = kept_masks.any(dim=1)
    boxes = torch.stack([_first(xs), _first(ys), _last(xs) + 1, _last(ys) + 1], dim=1).float()
    return Regions(
        masks=kept_masks,
        image=owner[chosen],
        boxes=boxes,
        areas=kept_masks.flatten(1).float().mean(1),
        drops=drops[chosen],
        params=values,
    )


def _first(rows: torch.Tensor) -> torch.Tensor:
    return rows.float().argmax(dim=1)


def _last(rows: torch.Tensor) -> torch.Tensor:
    return rows.shape[1] - 1 - rows.flip(1).float().argmax(dim=1)
