"""Publication figures of saliency maps and their deletion / insertion curves (matplotlib).

The overlay is the same blend as the HeatmapView draws in the browser (``js/src/lib/blend.js``): a pixel whose
value is at least ``threshold`` becomes ``(1 − alpha)·image + alpha·colormap(value)`` in ``"overlay"`` mode, or
stays the image while the rest turns grey in ``"kept"`` mode. Images are drawn at their native resolution with
nearest-neighbour sampling; text stays text in PDF and SVG (TrueType fonts embedded, SVG text not outlined).

With curves, the figure is the I-GOS paper's comparison: the maps of several methods side by side above a
deletion and an insertion panel, one line per method in the method's colour, and a legend beside the panels
(below them in one column) that names each method with its two AUCs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..core.errors import invalid
from ..figures import (
    CURVE_COLOURS,
    DEFAULT_STYLE,
    PAPER_STYLE,
    PaperFigure,
    blend,
    figure_width,
    fit_text,
    image_array,
    map_array,
)

__all__ = ["saliency_figure", "settled_fraction", "MAX_PANEL_INCHES", "ZOOMS"]

#: The largest side of one image panel (inches): wider presets leave margins rather than blow up small images.
MAX_PANEL_INCHES = 1.7
#: The x ranges the curves panels zoom to when every curve has settled before the end (fractions of pixels).
ZOOMS = (0.1, 0.25, 0.5)


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
    style: str = DEFAULT_STYLE,
) -> Figure:
    """One panel per (image, map) pair, a shared colorbar, and optionally deletion and insertion curves below.

    Args:
        images: images ``[3, H, W]`` (or ``[H, W, 3]``) in [0, 1], one per panel.
        maps: saliency maps ``[H, W]`` (or ``[1, H, W]``) in [0, 1], high = important; None draws the image alone.
        titles: one title per panel (wrapped to the panel's width).
        curves: one dict per method with ``label``, ``fractions`` ``[K + 1]``, ``deletion`` and ``insertion``
            ``[K + 1]``, ``deletion_auc`` and ``insertion_auc``; drawn in a deletion and an insertion panel.
        colormap, alpha, threshold, mode: as in the HeatmapView.
        style: ``"one-column"`` (3.3 in wide), ``"two-column"`` (7 in) or ``"auto"`` (one column for at most two
            panels and no curves).

    Returns:
        a matplotlib ``Figure`` (not shown; save it with :func:`~xwidgets.figures.save_figure` or ``fig.savefig``).
    """
    if len(images) != len(maps) or not images:
        raise invalid("maps", f"{len(maps)} maps for {len(images)} images", "one map (or None) per image")
    titles = list(titles) if titles is not None else [""] * len(images)
    if len(titles) != len(images):
        raise invalid("titles", f"{len(titles)} titles", f"one per panel ({len(images)})")
    width = figure_width(style, len(images) + (2 if curves else 0))
    columns = min(len(images), max(int(width // 0.8), 1))
    rows = -(-len(images) // columns)
    panel = min((width - 0.1) / columns, MAX_PANEL_INCHES)
    lines = max(len(fit_text(t, panel).splitlines()) for t in titles) if any(titles) else 0
    maps_height = rows * (panel + 0.16 * lines) + 0.5
    curves_height = (1.55 if width >= 5 else 2.6) if curves else 0.0
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(figsize=(width, maps_height + curves_height), layout="constrained")
        parts = (
            list(cast(np.ndarray, figure.subfigures(2, 1, height_ratios=[maps_height, curves_height])))
            if curves
            else [figure]
        )
        blending = {"colormap": colormap, "alpha": alpha, "threshold": threshold, "mode": mode}
        _draw_maps(parts[0], images, maps, [fit_text(t, panel) for t in titles], (rows, columns), panel, blending)
        if curves:
            _draw_curves(parts[1], curves, legend_below=width < 5)
    return figure


def _draw_maps(figure, images, maps, titles, grid: tuple[int, int], panel: float, blending: dict) -> None:
    """The (image, map) panels on a ``grid`` of (rows, columns) of ``panel`` inches, with the colorbar below."""
    rows, columns = grid
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis in axes[len(images) :]:
        axis.set_axis_off()
    shown = []
    for axis, image, heat, title in zip(axes, images, maps, titles):
        pixels = image_array(image)
        drawn = pixels if heat is None else blend(pixels, map_array(heat), **blending)
        axis.imshow(drawn, interpolation="nearest")
        axis.set_title(title)
        axis.set_axis_off()
        shown += [] if heat is None else [axis]
    if shown and blending["mode"] == "overlay":
        scalar = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=blending["colormap"])
        span = min(1.0, 2.0 / (columns * panel))  # a bar about 2 in long
        bar = figure.colorbar(scalar, ax=list(axes), location="bottom", shrink=span, aspect=20, pad=0.03)
        bar.set_ticks([0, 1], labels=["0 (low)", "1 (high)"])
        bar.set_label("saliency", labelpad=-8)


def _draw_curves(figure, curves: Sequence[dict], *, legend_below: bool) -> None:
    axes = figure.subplots(1, 2, sharey=True)
    handles = []
    for index, curve in enumerate(curves):
        colour = CURVE_COLOURS[index % len(CURVE_COLOURS)]
        x = np.asarray(curve["fractions"], float)
        for axis, kind in zip(axes, ("deletion", "insertion")):
            (line,) = axis.plot(x, np.asarray(curve[kind], float), color=colour, lw=1.2)
        line.set_label(
            f"{curve['label']}: deletion {float(curve['deletion_auc']):.3f}, "
            f"insertion {float(curve['insertion_auc']):.3f}"
        )
        handles.append(line)
    panel = figure.get_figure(root=True).get_figwidth() / (2.2 if legend_below else 4.2)  # the legend takes half
    shown = settled_fraction(curves)
    for axis, kind, better in zip(axes, ("deletion", "insertion"), ("lower", "higher")):
        axis.set_xlim(0, shown)
        axis.set_ylim(0, 1.02)
        axis.set_xticks([0, shown / 2, shown], ["0", f"{shown / 2:g}", f"{shown:g}"])
        axis.set_xlabel(f"fraction {kind[:-3]}ed")
        axis.set_title(fit_text(f"{kind} ({better} AUC is better)", panel))
        axis.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("target score")
    figure.legend(
        handles=handles,
        loc="outside lower center" if legend_below else "outside right center",
        frameon=False,
        title="method: AUC" + ("" if shown == 1 else f" (over 0–1; x axes zoomed to 0–{shown:g})"),
        alignment="left",
    )


def settled_fraction(curves: Sequence[dict], tolerance: float = 0.06) -> float:
    """The x range the curves panels show: the smallest of 0.1, 0.25, 0.5 and 1 beyond which no curve moves by
    more than ``tolerance`` (a confident class's curves settle within a few percent, and would hug the axis)."""
    for limit in ZOOMS:
        if all(_settles(curve, limit, tolerance) for curve in curves):
            return limit
    return 1.0


def _settles(curve: dict, limit: float, tolerance: float) -> bool:
    x = np.asarray(curve["fractions"], float)
    beyond = x >= limit
    return all(np.ptp(np.asarray(curve[kind], float)[beyond]) <= tolerance for kind in ("deletion", "insertion"))
