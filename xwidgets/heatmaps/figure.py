"""Publication figures of saliency maps and their deletion / insertion curves (matplotlib).

The overlay is the same blend as the HeatmapView draws in the browser (``js/src/lib/blend.js``): a pixel whose
value is at least ``threshold`` becomes ``(1 − alpha)·image + alpha·colormap(value)`` in ``"overlay"`` mode, or
stays the image while the rest turns grey in ``"kept"`` mode. Images are drawn at their native resolution with
nearest-neighbour sampling; text stays text in PDF and SVG (TrueType fonts embedded, SVG text not outlined).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..core.errors import invalid
from ..figures import CURVE_COLOURS, PAPER_STYLE, PaperFigure, blend, image_array, map_array

__all__ = ["saliency_figure"]


def saliency_figure(
    images: Sequence,
    maps: Sequence,
    titles: Sequence[str] | None = None,
    *,
    curves: Sequence[dict] | None = None,
    colormap: str = "viridis",
    alpha: float = 0.5,
    threshold: float = 0.0,
    mode: str = "overlay",
    panel_inches: float = 1.9,
) -> Figure:
    """One panel per (image, map) pair, a shared colorbar, and optionally a panel of deletion/insertion curves.

    Args:
        images: images ``[3, H, W]`` (or ``[H, W, 3]``) in [0, 1], one per panel.
        maps: saliency maps ``[H, W]`` (or ``[1, H, W]``) in [0, 1], high = important; None draws the image alone.
        titles: one title per panel.
        curves: one dict per method with ``label``, ``fractions`` ``[K + 1]``, ``deletion`` and ``insertion``
            ``[K + 1]``, ``deletion_auc`` and ``insertion_auc``; drawn in one extra panel, deletion dashed.
        colormap, alpha, threshold, mode: as in the HeatmapView.
        panel_inches: the width of one image panel in inches (a two-column paper figure is about 7 in wide).

    Returns:
        a matplotlib ``Figure`` (not shown; save it with :func:`save_figure` or ``fig.savefig``).
    """
    if len(images) != len(maps) or not images:
        raise invalid("maps", f"{len(maps)} maps for {len(images)} images", "one map (or None) per image")
    titles = list(titles) if titles is not None else [""] * len(images)
    if len(titles) != len(images):
        raise invalid("titles", f"{len(titles)} titles", f"one per panel ({len(images)})")
    panels = len(images) + (1 if curves else 0)
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(
            figsize=(panel_inches * panels + (0.6 if curves else 0.0), panel_inches + 0.55), layout="constrained"
        )
        widths = [1.0] * len(images) + ([1.35] if curves else [])
        axes = figure.subplots(1, panels, width_ratios=widths, squeeze=False)[0]
        shown = None
        for axis, image, heat, title in zip(axes, images, maps, titles):
            pixels = image_array(image)
            drawn = (
                pixels
                if heat is None
                else blend(pixels, map_array(heat), colormap=colormap, alpha=alpha, threshold=threshold, mode=mode)
            )
            axis.imshow(drawn, interpolation="nearest")
            axis.set_title(title)
            axis.set_axis_off()
            shown = shown if heat is None else axis
        if shown is not None and mode == "overlay":
            scalar = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=colormap)
            bar = figure.colorbar(
                scalar, ax=list(axes[: len(images)]), location="bottom", shrink=0.5, aspect=25, pad=0.02
            )
            bar.set_label("saliency (high = important)")
            bar.set_ticks([0, 0.5, 1])
        if curves:
            _draw_curves(axes[-1], curves)
    return figure


def _draw_curves(axis, curves: Sequence[dict]) -> None:
    for index, curve in enumerate(curves):
        colour = CURVE_COLOURS[index % len(CURVE_COLOURS)]
        x = np.asarray(curve["fractions"], float)
        axis.plot(
            x,
            np.asarray(curve["insertion"], float),
            color=colour,
            lw=1.2,
            label=f"{curve['label']} insertion ({float(curve['insertion_auc']):.3f})",
        )
        axis.plot(
            x,
            np.asarray(curve["deletion"], float),
            color=colour,
            lw=1.2,
            ls="--",
            label=f"{curve['label']} deletion ({float(curve['deletion_auc']):.3f})",
        )
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("fraction of pixels inserted / deleted")
    axis.set_ylabel("target score")
    axis.legend(loc="center right", frameon=False, title="curve (AUC)", title_fontsize=7)
    axis.spines[["top", "right"]].set_visible(False)
