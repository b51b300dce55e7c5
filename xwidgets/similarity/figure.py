"""Similarity explanations as publication figures (matplotlib), laid out as SANE's: the query and the reference,
each with its saliency for the match, then (for a match explanation) the top-ranked attributes, each as its map on
the query.

Maps are blended over the images with the HeatmapView's blend and a perceptual colormap; titles stay text in PDF
and SVG.
"""

from __future__ import annotations

import matplotlib
from matplotlib.figure import Figure

from ..core.errors import invalid
from ..figures import (
    DEFAULT_STYLE,
    PAPER_STYLE,
    PaperFigure,
    blend,
    figure_width,
    fit_text,
    image_array,
    map_array,
    save_figure,
)

__all__ = ["match_figure", "pair_figure"]


def _pair_indices(index: object, count: int) -> list[int]:
    """``index`` (an int or a non-empty list of ints) as a list of pair indices in ``0..count - 1``."""
    indices = index if isinstance(index, list) else [index]
    valid = [i for i in indices if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count]
    if not indices or len(valid) != len(indices):
        raise invalid("index", index, f"a pair index in 0..{count - 1}, or a list of them")
    return valid


def pair_figure(
    saliency,
    index: int | list[int] = 0,
    *,
    path=None,
    method_title: str = "",
    colormap: str = "viridis",
    alpha: float = 0.55,
    threshold: float = 0.35,
    mode: str = "overlay",
    style: str = DEFAULT_STYLE,
    title: str | None = None,
) -> Figure:
    """Draw pairs of a :class:`~xwidgets.similarity.PairSaliency`: one row per pair, the query with its map, then
    the reference (with its map when the method made one).

    Args:
        index: a pair index, or a list of them.
        path: save there too (``.pdf``, ``.svg`` or ``.png``).
        method_title: the method's readable name, in each query's title.
        colormap, alpha, threshold: the overlays' colormap, opacity, and the value under which nothing is drawn.
        mode: the blend, as in the HeatmapView (``xwidgets.figures.BLEND_MODES``).
        style: ``"one-column"`` (3.3 in wide), ``"two-column"`` (7 in) or ``"auto"`` (one column).
        title: a line above the figure (default none).
    """
    indices = _pair_indices(index, len(saliency))
    blending = {"colormap": colormap, "alpha": alpha, "threshold": threshold, "mode": mode}
    width = figure_width(style, 2)
    panel = min((width - 0.1) / 2, 1.7)
    with matplotlib.rc_context(PAPER_STYLE):
        height = (panel + 0.45) * len(indices) + (0.3 if title else 0.1)
        figure = PaperFigure(figsize=(width, height), layout="constrained")
        axes = figure.subplots(len(indices), 2, squeeze=False)
        for row, i in zip(axes, indices):
            reference_map = None if saliency.reference_maps is None else map_array(saliency.reference_maps[i])
            _overlay(
                row[0],
                saliency.queries[i],
                map_array(saliency.maps[i]),
                blending,
                fit_text(f"{method_title or saliency.method} · s = {float(saliency.similarity[i]):.2f}", panel),
            )
            _overlay(row[1], saliency.references[i], reference_map, blending, "reference")
        if title:
            figure.suptitle(fit_text(title, width - 0.2, 9))
    if path is not None:
        save_figure(figure, path)
    return figure


def match_figure(
    explanation,
    index: int = 0,
    *,
    top: int = 3,
    path=None,
    method_title: str = "",
    colormap: str = "viridis",
    alpha: float = 0.55,
    threshold: float = 0.35,
    mode: str = "overlay",
    style: str = DEFAULT_STYLE,
    title: str | None = None,
) -> Figure:
    """Draw pair ``index`` of a :class:`~xwidgets.similarity.MatchExplanation`.

    Args:
        top: how many top-ranked attributes get a panel.
        path: save there too (``.pdf``, ``.svg`` or ``.png``).
        method_title: the saliency method's readable name, in the default title.
        colormap, alpha, threshold: the overlays' colormap, opacity, and the value under which nothing is drawn.
        mode: the blend, as in the HeatmapView (``xwidgets.figures.BLEND_MODES``).
        style: ``"one-column"`` (3.3 in wide), ``"two-column"`` (7 in) or ``"auto"`` (two columns: the pair and
            its attributes make at least three panels).
        title: a line above the figure (default: the similarity and the saliency method).
    """
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(explanation):
        raise invalid("index", index, f"a pair index in 0..{len(explanation) - 1}")
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= len(explanation.attributes):
        raise invalid("top", top, f"a number of attributes in 1..{len(explanation.attributes)}")
    blending = {"colormap": colormap, "alpha": alpha, "threshold": threshold, "mode": mode}
    reference_map = None if explanation.reference_saliency is None else map_array(explanation.reference_saliency[index])
    panels = 2 + top
    width = figure_width(style, panels)
    stacked = width < 5  # one column: the pair above, its attributes below, so neither row is thumbnail-sized
    pair = min((width - 0.1) / (2 if stacked else panels) - 0.06, 1.7)
    panel = min((width - 0.1) / (top if stacked else panels) - 0.06, 1.7)
    ranked = explanation.ranking(index, top)
    titles = ["query", "reference"] + [fit_text(f"{n}. {row['phrase']}", panel) for n, row in enumerate(ranked, 1)]
    name = method_title or explanation.saliency_method
    similarity = float(explanation.similarity[index])
    default = f"cosine similarity {similarity:.2f} · saliency: {name}"
    heading = fit_text(title if title is not None else default, width - 0.2, 9)
    lines = max(len(t.splitlines()) for t in titles) + len(heading.splitlines()) + (1 if stacked else 0)
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(
            figsize=(width, (pair + panel if stacked else panel) + 0.17 * lines + 0.3), layout="constrained"
        )
        axes = _match_axes(figure, top, (pair, panel) if stacked else None)
        _overlay(axes[0], explanation.queries[index], map_array(explanation.saliency[index]), blending, "query")
        _overlay(axes[1], explanation.references[index], reference_map, blending, "reference")
        for axis, row, name in zip(axes[2:], ranked, titles[2:]):
            _overlay(
                axis,
                explanation.queries[index],
                explanation.attribute_map(row["attribute"], index).numpy(),
                blending,
                name,
            )
        figure.suptitle(heading)
    if path is not None:
        save_figure(figure, path)
    return figure


def _match_axes(figure, top: int, stacked: tuple[float, float] | None) -> list:
    """The query's, the reference's and ``top`` attributes' axes: in one row, or with ``stacked`` (the pair's and
    an attribute's panel side, inches) the pair in a row above the attributes."""
    if stacked is None:
        return list(figure.subplots(1, 2 + top))
    grid = figure.add_gridspec(2, 2 * top, height_ratios=list(stacked))
    pair = [figure.add_subplot(grid[0, :top]), figure.add_subplot(grid[0, top:])]
    return pair + [figure.add_subplot(grid[1, 2 * i : 2 * i + 2]) for i in range(top)]


def _overlay(axis, image, heat, blending: dict, title: str) -> None:
    """Draw ``image`` ``[3, H, W]`` on ``axis`` with ``heat`` ``[H, W]`` blended over it (None: the image alone)."""
    pixels = image_array(image)
    axis.imshow(pixels if heat is None else blend(pixels, heat, **blending), interpolation="nearest")
    axis.set_title(title)
    axis.set_axis_off()
