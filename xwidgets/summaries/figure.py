"""Visual summaries as a publication mosaic (matplotlib), as in the paper: one row per accepted summary, each sample
shown in context (the image greyed outside the proposal, the proposal outlined) at native resolution."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..core.errors import XWidgetsError, invalid
from ..figures import DEFAULT_STYLE, PAPER_STYLE, PaperFigure, figure_width, fit_text, image_array, save_figure

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
    style: str = DEFAULT_STYLE,
    title: str | None = None,
) -> Figure:
    """Draw accepted summary ``index`` of a :class:`~xwidgets.summaries.summary.SummaryResult` (a list of them, or
    None for all), one row each with ``samples`` samples in context; ``style`` is ``"one-column"`` (3.3 in wide),
    ``"two-column"`` (7 in) or ``"auto"`` (two columns: a row holds several samples)."""
    numbers = _rows(result, index)
    rows = [result.accepted[n] for n in numbers]
    columns = max(min(samples, len(r["samples"])) for r in rows)
    images = result.images.permute(0, 2, 3, 1).clamp(0, 1).numpy()
    width = figure_width(style, columns)
    panel = min((width - 0.8) / columns, 1.2)
    heading = fit_text(
        title
        if title is not None
        else f"{result.target_name}: {_count(len(result.accepted), 'summary', 'summaries')} "
        f"from {result.images.shape[0]} images",
        width - 0.2,
        9,
    )
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(
            figsize=(width, (panel + 0.05) * len(rows) + 0.17 * len(heading.splitlines()) + 0.15),
            layout="constrained",
        )
        axes = _centred_grid(figure, len(rows), columns, panel)
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
        figure.suptitle(heading)
    if path is not None:
        save_figure(figure, path)
    return figure


def _centred_grid(figure, rows: int, columns: int, panel: float):
    """``[rows, columns]`` axes of ``panel`` inches, centred: rows of few samples in a wide figure keep their
    panels side by side rather than spread over the width."""
    margin = max(figure.get_figwidth() - 0.8 - columns * (panel + 0.08), 0.0) / 2
    if margin < 0.05:
        return figure.subplots(rows, columns, squeeze=False)
    grid = figure.subplots(rows, columns + 2, squeeze=False, width_ratios=[margin, *[panel] * columns, margin])
    for axis in [*grid[:, 0], *grid[:, -1]]:
        axis.remove()
    return grid[:, 1:-1]


def explanation_figure(
    explanation, index: int | list[int] = 0, *, path=None, style: str = DEFAULT_STYLE, title: str | None = None
) -> Figure:
    """Draw image ``index`` (or a list of them) of a :class:`~xwidgets.summaries.summary.SummaryExplanation`:
    the box of each summary it shows, in that summary's colour (:data:`SUMMARY_COLOURS`) on a white casing, named
    in the title and in a legend of the colours below; ``style`` is ``"one-column"`` (3.3 in wide),
    ``"two-column"`` (7 in) or ``"auto"`` (one column for at most two images)."""
    indices = index if isinstance(index, (list, tuple)) and index else [index]
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(explanation):
            raise invalid("index", index, f"an image index in 0..{len(explanation) - 1}, or a list of them")
    width = figure_width(style, len(indices))
    panel = min((width - 0.1) / len(indices), 1.7)
    names = [
        fit_text(", ".join(f"summary {n + 1}" for n in sorted(explanation.parts(i))) or "no summary", panel)
        for i in indices
    ]
    shown = sorted({n for i in indices for n in explanation.parts(i)})
    lines = max(len(n.splitlines()) for n in names)
    with matplotlib.rc_context(PAPER_STYLE):
        legend = 0.25 if shown else 0.0
        figure = PaperFigure(figsize=(width, panel + 0.17 * (lines + 1) + 0.2 + legend), layout="constrained")
        axes = _centred_grid(figure, 1, len(indices), panel)[0]
        for axis, i, name in zip(axes, indices, names):
            axis.imshow(image_array(explanation.images[i]), interpolation="nearest")
            parts = explanation.parts(i)
            for number in parts:
                axis.add_patch(_outline(explanation.boxes[i, number].tolist(), summary_colour(number)))
            axis.set_title(name)
            axis.set_axis_off()
        figure.suptitle(title if title is not None else f"summaries of {explanation.target_name}")
        if shown:
            handles = [_outline((0, 0, 1, 1), summary_colour(n)) for n in shown]
            for handle, number in zip(handles, shown):
                handle.set_label(f"summary {number + 1}")
            figure.legend(handles=handles, loc="outside lower center", ncols=len(shown), frameon=False)
    if path is not None:
        save_figure(figure, path)
    return figure


def _count(number: int, one: str, many: str) -> str:
    """``"1 summary"``, ``"3 summaries"``."""
    return f"{number} {one if number == 1 else many}"


def summary_colour(number: int) -> str:
    """The colour of accepted summary ``number`` in galleries and figures."""
    return SUMMARY_COLOURS[number % len(SUMMARY_COLOURS)]


def _outline(box, colour: str) -> Rectangle:
    """The outline of ``box`` (x0, y0, x1, y1 in pixels) in ``colour``, 2 pt wide on a white casing that keeps it
    visible on dark and busy images."""
    casing = [patheffects.Stroke(linewidth=3.4, foreground="white"), patheffects.Normal()]
    return Rectangle(
        (box[0] - 0.5, box[1] - 0.5),
        box[2] - box[0],
        box[3] - box[1],
        fill=False,
        edgecolor=colour,
        linewidth=2.0,
        path_effects=casing,
    )
