"""A textual explanation as a publication figure (matplotlib): the image with its sentence, then the grounding
map of each phrase the sentence names.

The sentence is the figure's title, set as text (it stays text in PDF and SVG). A phrase that joins two attributes
of one part ("spotted blue wings") is grounded by the mean of its attributes' maps
(:meth:`~xwidgets.text.TextExplanation.map`). Maps are blended over the image with the HeatmapView's blend
and a perceptual colormap.
"""

from __future__ import annotations

import textwrap

import matplotlib
from matplotlib.figure import Figure

from ..core.errors import invalid
from ..figures import PAPER_STYLE, PaperFigure, blend, image_array, save_figure

__all__ = ["text_figure", "GROUNDING_THRESHOLD"]

#: Map values under this are not drawn over the image (the view and the figure agree).
GROUNDING_THRESHOLD = 0.25


def text_figure(
    explanation,
    index: int = 0,
    *,
    path=None,
    colormap: str = "viridis",
    alpha: float = 0.6,
    threshold: float = GROUNDING_THRESHOLD,
    panel_inches: float = 1.6,
    title: str | None = None,
) -> Figure:
    """Draw image ``index`` of a :class:`~xwidgets.text.TextExplanation`.

    Args:
        path: save there too (``.pdf``, ``.svg`` or ``.png``).
        colormap, alpha, threshold: the overlay's colormap, opacity, and the value under which it is not drawn.
        panel_inches: the side of one image panel.
        title: replaces the sentence above the panels.
    """
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(explanation):
        raise invalid("index", index, f"an image index in 0..{len(explanation) - 1}")
    words = explanation.words(index)
    image = image_array(explanation.images[index])
    with matplotlib.rc_context(PAPER_STYLE):
        panels = 1 + len(words)
        figure = PaperFigure(figsize=(panel_inches * panels, panel_inches + 0.9), layout="constrained")
        axes = figure.subplots(1, panels)
        axes[0].imshow(image, interpolation="nearest")
        axes[0].set_title(explanation.class_names[index])
        for axis, word in zip(axes[1:], words):
            heat = explanation.map(word["attributes"], index)
            axis.imshow(
                blend(image, heat.numpy(), colormap=colormap, alpha=alpha, threshold=threshold), interpolation="nearest"
            )
            axis.set_title(word["phrase"])
        for axis in axes:
            axis.set_axis_off()
        text = title if title is not None else explanation.sentences[index]
        figure.suptitle("\n".join(textwrap.wrap(text, width=int(26 * panels))), fontsize="medium")
    if path is not None:
        save_figure(figure, path)
    return figure
