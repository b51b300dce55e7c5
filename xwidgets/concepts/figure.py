"""An XNN explanation as a publication figure (matplotlib), laid out as in the paper: the concepts'
contributions to the class logit as bars, beside each concept's map on the image.

The bars are the contributions ``z_k · w_k``; a dashed line marks the faithful prediction ŷ (their sum plus the
bias) and a dotted one the network's own logit y, so the faithfulness gap is visible. Each map panel is the
concept's contrastive excitation-backprop map blended over the image with the HeatmapView's blend and a
perceptual colormap; its frame has the concept's colour. A concept that is inactive on the image (z = 0) is
drawn as the faded image, since it contributes nothing there. Text stays text in PDF and SVG.
"""

from __future__ import annotations

from typing import cast

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..core.errors import invalid
from ..figures import DEFAULT_STYLE, PAPER_STYLE, PaperFigure, blend, figure_width, fit_text, image_array, save_figure

__all__ = ["concept_figure", "CONCEPT_COLOURS", "concept_colour", "MAP_THRESHOLD"]

#: Okabe-Ito colours (colourblind-safe), one per concept in order; the figure and the explorer share them.
CONCEPT_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")

#: Map values below this are not coloured (in the figure, the explorer's image and its cards), so the image stays
#: visible where a concept is absent.
MAP_THRESHOLD = 0.2


def concept_colour(index: int) -> str:
    """The colour of concept ``index`` (0-based), cycling through :data:`CONCEPT_COLOURS`."""
    return CONCEPT_COLOURS[index % len(CONCEPT_COLOURS)]


def concept_figure(
    explanation,
    index: int = 0,
    *,
    concepts=None,
    path=None,
    colormap: str = "viridis",
    alpha: float = 0.6,
    threshold: float = MAP_THRESHOLD,
    mode: str = "overlay",
    style: str = DEFAULT_STYLE,
    title: str | None = None,
) -> Figure:
    """Draw image ``index`` of a :class:`~xwidgets.concepts.space.ConceptExplanation`.

    Args:
        explanation: the explanation; ``index``: which of its images.
        concepts: which concepts get a map panel (0-based; default all, at most 8). Every concept gets a bar.
        path: save there too (``.pdf``, ``.svg`` or ``.png``).
        colormap, alpha, threshold: the overlay's colormap, opacity, and the value under which it is not drawn.
        mode: the blend, as in the HeatmapView (``xwidgets.figures.BLEND_MODES``).
        style: ``"one-column"`` (3.3 in wide: the bars above the maps), ``"two-column"`` (7 in: the bars beside
            them) or ``"auto"`` (two columns: the image and its concepts make at least two panels).
        title: a line above the figure (default: the class, y and ŷ).
    """
    contributions = explanation.contributions[index].tolist()
    k = len(contributions)
    concepts = list(range(min(k, 8))) if concepts is None else list(concepts)
    if not concepts or any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < k for c in concepts):
        raise invalid("concepts", concepts, f"concept indices in 0..{k - 1}")
    logit, prediction = float(explanation.logits[index]), float(explanation.predictions[index])
    image = image_array(explanation.images[index])
    panels = 1 + len(concepts)
    width = figure_width(style, panels + 1)
    stacked = width < 5  # one column: the bars above the maps
    columns = min(panels, 4) if stacked else panels
    rows = -(-panels // columns)
    panel = min((width - (0.1 if stacked else 2.3)) / columns, 1.5)
    bars_height = 0.45 + 0.17 * k
    maps_height = rows * (panel + 0.2)
    height = (bars_height + maps_height if stacked else max(bars_height, maps_height)) + 0.5
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(figsize=(width, height), layout="constrained")
        parts = cast(
            np.ndarray,
            figure.subfigures(2, 1, height_ratios=[bars_height, maps_height])
            if stacked
            else figure.subfigures(1, 2, width_ratios=[2.3, width - 2.3]),
        )
        left, right = parts[0], parts[1]
        _bars(left.subplots(), contributions, explanation.bias, logit, prediction)
        axes = right.subplots(rows, columns, squeeze=False).ravel()
        for axis in axes[panels:]:
            axis.set_axis_off()
        axes[0].imshow(image, interpolation="nearest")
        axes[0].set_title("image")
        axes[0].set_axis_off()
        for axis, concept in zip(axes[1:panels], concepts):
            if float(explanation.activations[index, concept]) > 0:
                heat = explanation.maps[index, concept].detach().cpu().numpy()
                overlay = blend(image, heat, colormap=colormap, alpha=alpha, threshold=threshold, mode=mode)
                axis.imshow(overlay, interpolation="nearest")
                axis.set_title(f"concept {concept + 1}\n{contributions[concept]:+.2f}", color=concept_colour(concept))
            else:  # an inactive concept (z = 0) contributes nothing; its map would mislead
                axis.imshow(0.35 + 0.3 * image, interpolation="nearest")
                axis.set_title(f"concept {concept + 1}\ninactive", color=concept_colour(concept))
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_edgecolor(concept_colour(concept))
                spine.set_linewidth(2.0)
        default = f"{explanation.target_name}: logit y = {logit:.2f}, XNN ŷ = {prediction:.2f}"
        figure.suptitle(fit_text(title if title is not None else default, width - 0.2, 9))
    if path is not None:
        save_figure(figure, path)
    return figure


def _bars(axis, contributions: list[float], bias: float, logit: float, prediction: float) -> None:
    rows = list(range(len(contributions)))
    axis.barh(rows, contributions, color=[concept_colour(i) for i in rows], height=0.7)
    axis.set_yticks(rows, [f"concept {i + 1}" for i in rows])
    axis.invert_yaxis()
    axis.axvline(0.0, color="#333333", linewidth=0.6)
    axis.axvline(
        prediction - bias, color="#333333", linewidth=0.8, linestyle="--", label=f"ŷ − b = {prediction - bias:.2f}"
    )
    axis.axvline(logit - bias, color="#D55E00", linewidth=0.8, linestyle=":", label=f"y − b = {logit - bias:.2f}")
    axis.set_xlabel(f"contribution z·w to the logit (b = {bias:.2f})")
    axis.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False, handlelength=1.6)
    axis.spines[["top", "right"]].set_visible(False)
