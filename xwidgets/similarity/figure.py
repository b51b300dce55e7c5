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
from ..figures import PAPER_STYLE, PaperFigure, blend, image_array, map_array, save_figure

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
    panel_inches: float = 1.5,
    title: str | None = None,
) -> Figure:
    """Draw pairs of a :class:`~xwidgets.similarity.PairSaliency`: one row per pair, the query with its map, then
    the reference (with its map when the method made one).

    Args:
        index: a pair index, or a list of them.
        path: save there too (``.pdf``, ``.svg`` or ``.png``).
        method_title: the method's readable name, in each query's title.
        colormap, alpha, threshold: the overlays' colormap, opacity, and the value under which nothing is drawn.
        panel_inches: the side of one image panel.
        title: a line above the figure (default none).
    """
    indices = _pair_indices(index, len(saliency))
    style = {"colormap": colormap, "alpha": alpha, "threshold": threshold}
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(figsize=(panel_inches * 2, (panel_inches + 0.3) * len(indices)), layout="constrained")
        axes = figure.subplots(len(indices), 2, squeeze=False)
        for row, i in zip(axes, indices):
            reference_map = None if saliency.reference_maps is None else map_array(saliency.reference_maps[i])
            _overlay(
                row[0],
                saliency.queries[i],
                map_array(saliency.maps[i]),
                style,
                f"{method_title or saliency.method} · s = {float(saliency.similarity[i]):.2f}",
            )
            _overlay(row[1], saliency.references[i], reference_map, style, "reference")
        if title:
            figure.suptitle(title, fontsize="medium")
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
    panel_inches: float = 1.5,
    title: str | None = None,
) -> Figure:
    """Draw pair ``index`` of a :class:`~xwidgets.similarity.MatchExplanation`.

    Args:
        top: how many top-ranked attributes get a panel.
        path: save there too (``.pdf``, ``.svg`` or ``.png``).
        method_title: the saliency method's readable name, in the default title.
        colormap, alpha, threshold: the overlays' colormap, opacity, and the value under which nothing is drawn.
        panel_inches: the side of one image panel.
        title: a line above the figure (default: the similarity and the saliency method).
    """
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(explanation):
        raise invalid("index", index, f"a pair index in 0..{len(explanation) - 1}")
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= len(explanation.attributes):
        raise invalid("top", top, f"a number of attributes in 1..{len(explanation.attributes)}")
    style = {"colormap": colormap, "alpha": alpha, "threshold": threshold}
    reference_map = None if explanation.reference_saliency is None else map_array(explanation.reference_saliency[index])
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(figsize=(panel_inches * (2 + top), panel_inches + 0.8), layout="constrained")
        axes = figure.subplots(1, 2 + top)
        _overlay(axes[0], explanation.queries[index], map_array(explanation.saliency[index]), style, "query")
        _overlay(axes[1], explanation.references[index], reference_map, style, "reference")
        for rank, (axis, row) in enumerate(zip(axes[2:], explanation.ranking(index, top)), start=1):
            _overlay(
                axis,
                explanation.queries[index],
                explanation.attribute_map(row["attribute"], index).numpy(),
                style,
                f"{rank}. {row['phrase']}",
            )
        name = method_title or explanation.saliency_method
        figure.suptitle(
            title
            if title is not None
            else f"cosine similarity {float(explanation.similarity[index]):.2f} · saliency: {name}",
            fontsize="medium",
        )
    if path is not None:
        save_figure(figure, path)
    return figure


def _overlay(axis, image, heat, style: dict, title: str) -> None:
    """Draw ``image`` ``[3, H, W]`` on ``axis`` with ``heat`` ``[H, W]`` blended over it (None: the image alone)."""
    pixels = image_array(image)
    axis.imshow(pixels if heat is None else blend(pixels, heat, **style), interpolation="nearest")
    axis.set_title(title)
    axis.set_axis_off()
