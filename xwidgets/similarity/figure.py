"""A match explanation as a publication figure (matplotlib), laid out as SANE's: the query and the reference, each
with its saliency for the match, then the top-ranked attributes, each as its map on the query.

Maps are blended over the images with the HeatmapView's blend and a perceptual colormap; titles stay text in PDF
and SVG.
"""

from __future__ import annotations

import matplotlib
from matplotlib.figure import Figure

from ..core.errors import invalid
from ..figures import PAPER_STYLE, PaperFigure, blend, image_array, save_figure

__all__ = ["match_figure", "METHOD_NAMES"]

#: Readable names of the saliency methods.
METHOD_NAMES = {"rise": "RISE", "sliding_window": "sliding window", "mask": "mask optimisation"}


def match_figure(explanation, index: int = 0, *, top: int = 3, path=None, colormap: str = "viridis",
                 alpha: float = 0.55, threshold: float = 0.35, panel_inches: float = 1.5,
                 title: str | None = None) -> Figure:
    """Draw pair ``index`` of a :class:`~xwidgets.similarity.MatchExplanation`.

    Args:
        top: how many top-ranked attributes get a panel.
        path: save there too (``.pdf``, ``.svg`` or ``.png``).
        colormap, alpha, threshold: the overlays' colormap, opacity, and the value under which nothing is drawn.
        panel_inches: the side of one image panel.
        title: a line above the figure (default: the similarity and the saliency method).
    """
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(explanation):
        raise invalid("index", index, f"a pair index in 0..{len(explanation) - 1}")
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= len(explanation.attributes):
        raise invalid("top", top, f"a number of attributes in 1..{len(explanation.attributes)}")
    query = image_array(explanation.queries[index])
    reference = image_array(explanation.references[index])
    ranking = explanation.ranking(index, top)
    style = {"colormap": colormap, "alpha": alpha, "threshold": threshold}
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(figsize=(panel_inches * (2 + top), panel_inches + 0.8), layout="constrained")
        axes = figure.subplots(1, 2 + top)
        axes[0].imshow(blend(query, explanation.saliency[index, 0].numpy(), **style), interpolation="nearest")
        axes[0].set_title("query")
        if explanation.reference_saliency is not None:
            axes[1].imshow(blend(reference, explanation.reference_saliency[index, 0].numpy(), **style),
                           interpolation="nearest")
        else:
            axes[1].imshow(reference, interpolation="nearest")
        axes[1].set_title("reference")
        for rank, (axis, row) in enumerate(zip(axes[2:], ranking), start=1):
            heat = explanation.attribute_map(row["attribute"], index).numpy()
            axis.imshow(blend(query, heat, **style), interpolation="nearest")
            axis.set_title(f"{rank}. {row['phrase']}")
        for axis in axes:
            axis.set_axis_off()
        name = METHOD_NAMES.get(explanation.saliency_method, explanation.saliency_method)
        figure.suptitle(title if title is not None else
                        f"cosine similarity {float(explanation.similarity[index]):.2f} · saliency: {name}",
                        fontsize="medium")
    if path is not None:
        save_figure(figure, path)
    return figure
