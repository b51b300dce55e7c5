"""What a reviewer checks on a paper figure, as functions over a drawn matplotlib figure: every text inside the
canvas, at least 8 pt, clear of the data (lines, bars, images) and of every other text."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

SLACK = 0.5  # pixels at 100 dpi a box may touch another's edge by (anti-aliasing, rounding)


def drawn(figure: Figure, dpi: int = 100) -> Figure:
    """``figure`` saved with a plain ``savefig`` (no ``bbox_inches``), so every extent below is what a PDF holds;
    an Agg canvas is attached for the extents."""
    FigureCanvasAgg(figure)
    figure.savefig(io.BytesIO(), format="png", dpi=dpi)
    return figure


def _drawn_ticks(axes: Axes) -> set[Text]:
    if not axes.axison:
        return set()
    shown = set()
    for axis in (axes.xaxis, axes.yaxis):
        low, high = sorted(axis.get_view_interval())
        span = max(high - low, 1e-12)
        for tick in axis.get_major_ticks() + axis.get_minor_ticks():
            if axis.get_visible() and low - 1e-6 * span <= tick.get_loc() <= high + 1e-6 * span:
                shown |= {label for label in (tick.label1, tick.label2) if label.get_visible()}
    return shown


def texts(figure: Figure) -> list[Text]:
    """Every text the figure draws: titles, labels, tick labels in view, legend entries, annotations."""
    ticks, shown = set(), set()
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks |= {tick.label1, tick.label2}
        shown |= _drawn_ticks(axes)
    found = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return [t for t in found if t not in ticks or t in shown]


def _segments(points: np.ndarray, per_segment: int = 24) -> np.ndarray:
    """``points`` ``[N, 2]`` with ``per_segment`` points along each segment between consecutive ones."""
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) < 2:
        return points
    steps = np.linspace(0.0, 1.0, per_segment)[None, :, None]
    return (points[:-1, None] + steps * (points[1:, None] - points[:-1, None])).reshape(-1, 2)


def data_extents(figure: Figure) -> tuple[list[np.ndarray], list[np.ndarray], list[Bbox]]:
    """The data drawn, in display coordinates: line points ``[N, 2]``, arrow points ``[N, 2]``, and bar and
    image boxes."""
    renderer = figure.canvas.get_renderer()
    lines, arrows, boxes = [], [], []
    for axes in figure.axes:
        for line in axes.lines:
            if line.get_visible() and isinstance(line, Line2D):
                lines.append(_segments(line.get_transform().transform(line.get_xydata())))
        for patch in axes.patches:
            if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_fill():
                boxes.append(patch.get_window_extent(renderer))
        for image in axes.images:
            if isinstance(image, AxesImage) and image.get_visible():
                boxes.append(image.get_window_extent(renderer))
    for arrow in figure.findobj(FancyArrowPatch):
        for polygon in arrow.get_path().to_polygons():
            arrows.append(_segments(arrow.get_transform().transform(polygon)))
    return lines, arrows, boxes


def _overlap(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 - SLACK and b.x0 < a.x1 - SLACK and a.y0 < b.y1 - SLACK and b.y0 < a.y1 - SLACK


def _crosses(box: Bbox, points: np.ndarray) -> bool:
    inside = (
        (points[:, 0] > box.x0 + SLACK)
        & (points[:, 0] < box.x1 - SLACK)
        & (points[:, 1] > box.y0 + SLACK)
        & (points[:, 1] < box.y1 - SLACK)
    )
    return bool(inside.any())


def layout_problems(figure: Figure) -> list[str]:
    """Everything a reviewer would flag in ``figure`` after a plain savefig: a text cut by the canvas, under
    8 pt, on the data (an arrow's own label, set on a white ground, may sit on arrows), or on another text; a
    legend on the data. Empty when the figure is clean."""
    drawn(figure)
    renderer = figure.canvas.get_renderer()
    canvas = figure.bbox
    found = texts(figure)
    boxes = {t: t.get_window_extent(renderer) for t in found}
    lines, arrows, data = data_extents(figure)
    legends = [legend for legend in figure.findobj(Legend) if legend.get_visible()]
    problems = []
    for text, box in boxes.items():
        name = repr(text.get_text()[:40])
        inside = canvas.x0 - SLACK <= box.x0 and box.x1 <= canvas.x1 + SLACK
        if not (inside and canvas.y0 - SLACK <= box.y0 and box.y1 <= canvas.y1 + SLACK):
            problems.append(f"{name} is cut by the canvas ({box} outside {canvas})")
        if text.get_fontsize() < 8:
            problems.append(f"{name} is {text.get_fontsize():g} pt (< 8 pt)")
    for owner in [*found, *legends]:
        box = boxes[owner] if isinstance(owner, Text) else owner.get_window_extent(renderer)
        name = repr(owner.get_text()[:40]) if isinstance(owner, Text) else "the legend"
        if any(_crosses(box, points) for points in lines):
            problems.append(f"{name} lies on a line")
        labels_an_arrow = isinstance(owner, Text) and owner.get_bbox_patch() is not None  # on a white ground
        if not labels_an_arrow and any(_crosses(box, points) for points in arrows):
            problems.append(f"{name} lies on an arrow")
        if any(_overlap(box, other) for other in data):
            problems.append(f"{name} lies on a bar or an image")
    for i, first in enumerate(found):
        for second in found[i + 1 :]:
            if _overlap(boxes[first], boxes[second]):
                problems.append(f"{first.get_text()[:30]!r} overlaps {second.get_text()[:30]!r}")
    return problems
