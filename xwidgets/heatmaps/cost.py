"""How many images each heatmap method scores for one image: the counts behind the explorers' time estimates.

Each count is ``(forward, gradient)``: images scored without gradients, and images scored with a backward pass to
the input. :meth:`xwidgets.core.cost.PassTime.seconds` turns a count into seconds on a measured model. The counts
follow the kernels' loops (the clean forward of ``prepare`` included); they ignore the work done around the passes,
which :data:`xwidgets.core.cost.SLOWDOWN` covers.
"""

from __future__ import annotations

from ..core.errors import invalid
from ..metrics import PRESETS
from .igos import line_search_steps

__all__ = ["image_counts", "curve_images", "COUNTED"]

COUNTED = ("gradcam", "integrated_gradients", "rise", "occlusion", "igos", "igospp")
"""The methods :func:`image_counts` knows (a test checks they are every registered heatmap method)."""


def image_counts(method: str, values: dict, size: tuple[int, int]) -> tuple[int, int]:
    """``(forward, gradient)`` images that ``method`` (a heatmap method of the registry, ``xw.methods("heatmap")``)
    scores on one image of ``size`` ``(H, W)`` with the resolved parameter ``values``."""
    if method == "gradcam":
        return 1, 2  # the default layer's trace, then the map's pass
    if method == "integrated_gradients":
        return 1, values["steps"]
    if method == "rise":
        return 1 + values["masks"], 0
    if method == "occlusion":
        rows, cols = (max(0, (side - values["window"]) // values["stride"] + 1) for side in size)
        return 1 + rows * cols, 0
    if method == "igos":
        return 2 + values["iterations"] * _igos_forwards(values), values["iterations"] * values["ig_steps"]
    if method == "igospp":
        return 1 + values["iterations"] * _igospp_forwards(values), values["iterations"] * 4 * values["ig_steps"]
    raise invalid("method", repr(method), "a heatmap method whose cost is known: " + ", ".join(COUNTED))


def curve_images(preset: str, size: tuple[int, int]) -> int:
    """Images the deletion and insertion curves of ``preset`` score (no gradients) for one image of ``size``."""
    params = PRESETS[preset]
    cells = params["resolution"] ** 2 if params["resolution"] else size[0] * size[1]
    return 1 + 2 * (min(params["steps"], cells) + 1)


def _igos_forwards(values: dict) -> int:
    """I-GOS's forward images per iteration (besides its ``ig_steps`` gradient images): NAG's one masked score, or
    the line search's current mask and trials, each one noise-free score or ``ig_steps`` noisy ones (then the
    current mask is scored once more, noise-free)."""
    if values["optimiser"] == "nag":
        return 1
    candidates = len(line_search_steps(values["alpha"])) + 1
    if values["line_search_objective"] == "integrated":
        return candidates * values["ig_steps"] + 1
    return candidates


def _igospp_forwards(values: dict) -> int:
    """iGOS++'s forward images per iteration: four scores (deletion, insertion, and both on the product) of the
    current masks (NAG) or of the current masks and every trial (line search), each noise-free or IG-averaged."""
    points = values["ig_steps"] if values["line_search_objective"] == "integrated" else 1
    candidates = 1 if values["optimiser"] == "nag" else len(line_search_steps(values["alpha"])) + 1
    return 4 * candidates * points
