"""Occlusion of parts, for the evidence checks: does removing a sample's evidence change the prediction?"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ..core.errors import invalid
from .species import PART_IDS, PARTS

__all__ = ["OCCLUSION_GREY", "occlude"]

#: The occluder colour: a neutral grey that is none of the bird colours.
OCCLUSION_GREY = (128, 128, 128)


def occlude(sample, parts: Sequence[str]) -> np.ndarray:
    """The sample's image with ``parts`` painted grey (dilated by one pixel to cover anti-aliased edges).

    Returns a ``[H, W, 3]`` uint8 copy; the sample is unchanged.
    """
    unknown = [p for p in parts if p not in PART_IDS]
    if unknown:
        raise invalid("parts", unknown, "part names among " + ", ".join(PARTS))
    mask = np.isin(sample.labels, [PART_IDS[p] for p in parts])
    mask = ndimage.binary_dilation(mask, iterations=1)
    image = sample.image.copy()
    image[mask] = OCCLUSION_GREY
    return image
