"""Visual summaries as a publication mosaic (matplotlib), as in the paper: one row per accepted summary, each sample
shown in context (the image greyed outside the proposal, the proposal outlined) at native resolution."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..core.errors import XWidgetsError, invalid
from ..figures import PAPER_STYLE, PaperFigure, image_array, save_figure

__all__ = [
    "summary_figure",
    "explanation_figure",
    "in_context",
    "summary_colour",
    "OUTSIDE_GREY",
    "OUTLINE",
    "SUMMARY_COLOURS",
]

#: The grey (64 / 255, as in the official renderer) that replaces the image outside a sample's box.
OUTSIDE_GREY = 64 / 255
#: The colour of a sample's outline: cyan, which stands out on the dimmed context and on warm-coloured birds.
OUTLINE = "#00E5FF"
#: One colour per accepted summary (colourblind-safe first), shared by the explorer's gallery and the figures.
SUMMARY_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def in_context(image: np.ndarray, box) -> np.ndarray:
    """``image`` ``[H, W, 3]`` in [0, 1] with everything outside ``box`` (x0, y0, x1, y1) dimmed towards grey."""
    x0, y0, x1, y1 = (int(v) for v in box)
    shown = 0.35 * image + 0.65 * OUTSIDE_GREY
    shown[y0:y1, x0:x1] = image[y0:y1, x0:x1]
    return shown


def _rows(result, index) -> list[int]:
    """The accepted summaries a figure draws: ``index`` (an int or a list of them), or every one for None."""
    count = len(result.accepted)
    if not count:
        raise XWidgetsError("no accepted summary to draw: lower ssim_factor or preference_factor, or add images")
    if index is None:
        return list(range(count))
    numbers = index if isinstance(index, (list, tuple)) else [index]
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < count:
            raise invalid("index", index, f"an accepted summary in 0..{count - 1}, a list of them, or None (all)")
    return list(numbers)


def summary_figure(
    result,
    index: int | list[int] | None = None,
    *,
    samples: int = 6,
    path=None,
    panel_inches: float = 0.9,
    title: str | None = None,
) -> Figure:
    """Draw accepted summary ``index`` of a :class:`~xwidgets.summaries.summary.SummaryResult` (a list of them, or
    None for all), one row each with ``samples`` samples in context."""
    numbers = _rows(result, index)
    rows = [result.accepted[n] for n in numbers]
    columns = max(min(samples, len(r["samples"])) for r in rows)
    images = result.images.permute(0, 2, 3, 1).clamp(0, 1).numpy()
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(
            figsize=(panel_inches * columns + 0.9, panel_inches * len(rows) + 0.4), layout="constrained"
        )
        axes = figure.subplots(len(rows), columns, squeeze=False)
        for row, (number, summary) in enumerate(zip(numbers, rows)):
            for column in range(columns):
                axis = axes[row, column]
                axis.set_xticks([])
                axis.set_yticks([])
                if column >= len(summary["samples"][:samples]):
                    axis.set_axis_off()
                    continue
                proposal = summary["samples"][column]
                box = result.boxes[proposal].tolist()
                axis.imshow(in_context(images[int(result.box_image[proposal])].copy(), box), interpolation="nearest")
                axis.add_patch(_outline(box, OUTLINE))
                for spine in axis.spines.values():
                    spine.set_visible(False)
            axes[row, 0].set_ylabel(f"summary {number + 1}\nSSIM {summary['ssim']:.2f}")
        figure.suptitle(
            title
            if title is not None
            else f"{result.target_name}: {len(result.accepted)} summaries from {result.images.shape[0]} images"
        )
    if path is not None:
        save_figure(figure, path)
    return figure


def explanation_figure(
    explanation, index: int | list[int] = 0, *, path=None, panel_inches: float = 1.6, title: str | None = None
) -> Figure:
    """Draw image ``index`` (or a list of them) of a :class:`~xwidgets.summaries.summary.SummaryExplanation`:
    the box of each summary it shows, in that summary's colour (:data:`SUMMARY_COLOURS`), named in the title."""
    indices = index if isinstance(index, (list, tuple)) and index else [index]
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(explanation):
            raise invalid("index", index, f"an image index in 0..{len(explanation) - 1}, or a list of them")
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(figsize=(panel_inches * len(indices), panel_inches + 0.5), layout="constrained")
        axes = figure.subplots(1, len(indices), squeeze=False)[0]
        for axis, i in zip(axes, indices):
            axis.imshow(image_array(explanation.images[i]), interpolation="nearest")
            parts = explanation.parts(i)
            for number in parts:
                axis.add_patch(_outline(explanation.boxes[i, number].tolist(), summary_colour(number)))
            axis.set_title(", ".join(f"summary {n + 1}" for n in parts) or "no summary")
            axis.set_axis_off()
        figure.suptitle(title if title is not None else f"summaries of {explanation.target_name}")
    if path is not None:
        save_figure(figure, path)
    return figure


def summary_colour(number: int) -> str:
    """The colour of accepted summary ``number`` in galleries and figures."""
    return SUMMARY_COLOURS[number % len(SUMMARY_COLOURS)]


def _outline(box, colour: str) -> Rectangle:
    return Rectangle(
        (box[0] - 0.5, box[1] - 0.5), box[2] - box[0], box[3] - box[1], fill=False, edgecolor=colour, linewidth=1.2
    )
