"""A textual explanation as a publication figure (matplotlib): the image with its sentence, then the grounding
map of each phrase the sentence names.

The sentence is the figure's title, set as text (it stays text in PDF and SVG). A phrase that joins two attributes
of one part ("spotted blue wings") is grounded by the mean of its attributes' maps
(:meth:`~xwidgets.text.TextExplanation.map`). Maps are blended over the image with the HeatmapView's blend
and a perceptual colormap.
"""

from __future__ import annotations

import matplotlib
from matplotlib.figure import Figure

from ..core.errors import invalid
from ..figures import DEFAULT_STYLE, PAPER_STYLE, PaperFigure, blend, figure_width, fit_text, image_array, save_figure

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
    mode: str = "overlay",
    style: str = DEFAULT_STYLE,
    title: str | None = None,
) -> Figure:
    """Draw image ``index`` of a :class:`~xwidgets.text.TextExplanation`.

    Args:
        path: save there too (``.pdf``, ``.svg`` or ``.png``).
        colormap, alpha, threshold: the overlay's colormap, opacity, and the value under which it is not drawn.
        mode: the blend, as in the HeatmapView (``xwidgets.figures.BLEND_MODES``).
        style: ``"one-column"`` (3.3 in wide), ``"two-column"`` (7 in) or ``"auto"`` (one column for the image
            and at most one phrase).
        title: replaces the sentence above the panels.
    """
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(explanation):
        raise invalid("index", index, f"an image index in 0..{len(explanation) - 1}")
    words = explanation.words(index)
    image = image_array(explanation.images[index])
    panels = 1 + len(words)
    width = figure_width(style, panels)
    panel = min((width - 0.1) / panels - 0.06, 1.7)  # less the padding between panels: no empty band below
    text = fit_text(title if title is not None else explanation.sentences[index], width - 0.2, 9)
    names = [fit_text(explanation.class_names[index], panel)] + [fit_text(w["phrase"], panel) for w in words]
    lines = max(len(n.splitlines()) for n in names)
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(
            figsize=(width, panel + 0.17 * (lines + len(text.splitlines())) + 0.25), layout="constrained"
        )
        axes = figure.subplots(1, panels, squeeze=False)[0]
        axes[0].imshow(image, interpolation="nearest")
        axes[0].set_title(names[0])
        for axis, word, name in zip(axes[1:], words, names[1:]):
            heat = explanation.map(word["attributes"], index)
            axis.imshow(
                blend(image, heat.numpy(), colormap=colormap, alpha=alpha, threshold=threshold, mode=mode),
                interpolation="nearest",
            )
            axis.set_title(name)
        for axis in axes:
            axis.set_axis_off()
        figure.suptitle(text)
    if path is not None:
        save_figure(figure, path)
    return figure
