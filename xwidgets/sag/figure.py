"""A structured attention graph as a publication figure (matplotlib).

The layout is the one the explorer's GraphView draws: rows by ``level`` (patches removed from the roots), nodes
ordered within a row by ``order``, each row centred. Each node is its insertion image (the hidden patches at
10 % intensity) at native resolution, framed in the colour of its relative-confidence bin and labelled with that
confidence (with its score instead where the threshold is absolute: a class the model does not predict, below
the floor); each edge is an arrow coloured by the drop and labelled with the patch it removes ("−P10"), which is
outlined on the child, as in the paper's drawings. A legend below the graph says what the frame, arrow and
outline colours mean; the title names the class and the roots' DNF. Text stays text in PDF and SVG.
"""

from __future__ import annotations

import matplotlib
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
from matplotlib.textpath import TextToPath

from ..figures import DEFAULT_STYLE, MIN_POINTS, PAPER_STYLE, PaperFigure, figure_width, fit_text, save_figure
from .graph import EDGE_COLOURS, NODE_COLOURS, edge_colour, node_colour, node_label

__all__ = ["graph_figure", "REMOVED_OUTLINE"]

#: The outline of the patch an edge removes, on the child's image (sky blue: clear of the frame colours).
REMOVED_OUTLINE = "#56B4E9"
_LABEL = MIN_POINTS * 1.5 / 72  # the height of one line of text, inches
#: The places along its arrow an edge's label may sit, in order of preference (0: the parent, 1: the child).
EDGE_LABEL_AT = (0.7, 0.55, 0.4, 0.82, 0.3, 0.2)
_GAP = 0.42  # the vertical room between a node's label and the next row, where the arrows and their labels run


def graph_figure(result, index: int = 0, *, path=None, style: str = DEFAULT_STYLE, title: str | None = None) -> Figure:
    """Draw image ``index`` of a :class:`~xwidgets.sag.SAGResult`: the graph below its diverse roots.

    Args:
        result: the SAG result; ``index``: which image.
        path: save there too (``.pdf``, ``.svg`` or ``.png``).
        style: ``"one-column"`` (3.3 in wide), ``"two-column"`` (7 in) or ``"auto"`` (one column for a graph
            at most two nodes wide). Thumbnails are as large as the widest row allows, at most 1.1 in.
        title: the line above the graph (default: the target class and the roots' DNF); the result's
            :meth:`~xwidgets.sag.SAGResult.note`, when there is one, follows below it.
    """
    nodes, edges = result.nodes[index], result.edges[index]
    levels = sorted({n["level"] for n in nodes}) or [0]
    rows = {level: sorted((n for n in nodes if n["level"] == level), key=lambda n: n["order"]) for level in levels}
    columns = max([len(r) for r in rows.values()] + [1])
    width = figure_width(style, columns)
    cell = min((width - 0.1) / columns, 1.45)
    thumbnail = min(cell * 0.8, 1.1)
    heading = _heading(result, index, width, title)
    top = 0.08 + _LABEL * (len(heading.splitlines()) + 0.3)
    gap = _GAP + 2.0 * max(0.0, 0.6 - cell)  # narrow cells: more room for the arrows' labels
    row_height = thumbnail + _LABEL + gap
    legend = 0.12 + 3 * _LABEL
    height = top + len(levels) * row_height - gap + 0.1 + legend
    with matplotlib.rc_context(PAPER_STYLE):
        figure = PaperFigure(figsize=(width, height))
        boxes = {}  # node id -> (left, bottom) of its thumbnail, inches from the figure's lower left
        for row_number, level in enumerate(levels):
            row = rows[level]
            left0 = (width - len(row) * cell) / 2 + (cell - thumbnail) / 2
            bottom = height - top - row_number * row_height - thumbnail
            for column, node in enumerate(row):
                boxes[node["id"]] = (left0 + column * cell, bottom)
        axes = _draw_nodes(figure, result, index, nodes, boxes, thumbnail)
        placed: list[tuple[float, float, float, float]] = []  # the edge labels' boxes so far, inches
        for edge in edges:
            _draw_edge(figure, result, edge, (boxes, axes, thumbnail), placed)
        figure.suptitle(heading, y=1 - 0.06 / height, va="top", fontsize=MIN_POINTS + 1)
        _legend(figure, legend / height)
    if path is not None:
        save_figure(figure, path)
    return figure


def _draw_nodes(figure, result, index: int, nodes, boxes: dict, thumbnail: float) -> dict:
    """One framed thumbnail per node at ``boxes[id]`` with its confidence below; returns id -> axes."""
    width, height = figure.get_size_inches()
    images = result.insertion_images([n["patches"] for n in nodes], index) if nodes else result.images[:0]
    axes = {}
    for node, picture in zip(nodes, images):
        left, bottom = boxes[node["id"]]
        ax = figure.add_axes((left / width, bottom / height, thumbnail / width, thumbnail / height))
        ax.imshow(picture.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(node_colour(node["relative"]))
            spine.set_linewidth(2.5)
        ax.set_xlabel(node_label(node["score"], node["relative"], result.floored[index]), labelpad=2)
        axes[node["id"]] = ax
    return axes


def _draw_edge(figure, result, edge: dict, nodes: tuple, placed: list) -> None:
    """The arrow from the parent's label to the child's frame, labelled on a white ground with the patch it
    removes, and that patch outlined on the child. ``nodes`` is (the thumbnails' lower-left corners in inches,
    their axes, their side in inches), by node id; the label takes the first place along the arrow
    (:data:`EDGE_LABEL_AT`) clear of the labels ``placed`` before it, and is added to them."""
    boxes, axes, thumbnail = nodes
    (x0, y0), (x1, y1) = boxes[edge["source"]], boxes[edge["target"]]
    start = (x0 + thumbnail / 2, y0 - _LABEL - 0.06)
    end = (x1 + thumbnail / 2, y1 + thumbnail + 0.03)
    colour = edge_colour(edge["drop"])
    figure.add_artist(
        FancyArrowPatch(
            start,
            end,
            transform=figure.dpi_scale_trans,
            arrowstyle="-|>,head_length=3,head_width=1.6",
            color=colour,
            linewidth=0.8 + 1.6 * min(max(edge["drop"], 0), 1),
            shrinkA=0,
            shrinkB=0,
        )
    )
    text = f"−P{edge['removed']}"
    x, y = _label_place(start, end, text, placed)
    figure.text(
        x,
        y,
        text,
        transform=figure.dpi_scale_trans,
        ha="center",
        va="center",
        color="#222222",
        bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none"},
    )
    size = result.images.shape[-2:]
    axes[edge["target"]].add_patch(
        Rectangle(
            *_patch_box(edge["removed"], result.grid, size, result.params["patches"]),
            fill=False,
            edgecolor=REMOVED_OUTLINE,
            linewidth=1.2,
        )
    )


def _label_place(start, end, text: str, placed: list) -> tuple[float, float]:
    """The centre (inches) of an edge label: the first place along the arrow from ``start`` to ``end`` whose box
    (the text's width at 8 pt plus the ground's margin) overlaps no box in ``placed``; the box is appended to
    ``placed``."""
    points, _, _ = TextToPath().get_text_width_height_descent(text, FontProperties(size=MIN_POINTS), ismath=False)
    half_w, half_h = (points / 72 + 0.08) / 2, _LABEL / 2
    for along in EDGE_LABEL_AT:
        x, y = start[0] + along * (end[0] - start[0]), start[1] + along * (end[1] - start[1])
        box = (x - half_w, y - half_h, x + half_w, y + half_h)
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            break
    placed.append(box)
    return x, y


def _legend(figure, height: float) -> None:
    """What the colours mean, in the ``height`` (a fraction of the figure) below the graph: node frames by
    the share of the full image's score they keep, arrows by the drop, and the removed patch's outline."""
    frames = [
        Patch(facecolor="none", edgecolor=c, linewidth=2.0, label=t)
        for c, t in zip(NODE_COLOURS, ("score > 90 %", "score 50–90 %", "score ≤ 50 %"))
    ]
    drops = ("drop < 20 points", "drop 20–60 points", "drop ≥ 60 points")
    arrows = [Line2D([], [], color=c, linewidth=w, label=t) for c, t, w in zip(EDGE_COLOURS, drops, (1, 1.6, 2.2))]
    outline = Patch(facecolor="none", edgecolor=REMOVED_OUTLINE, linewidth=1.2, label="−Pn: patch removed")
    figure.legend(
        handles=[*frames, *arrows, outline],
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=3 if figure.get_figwidth() > 5 else 2,
        frameon=False,
        handlelength=1.4,
        columnspacing=1.0,
        borderaxespad=0.2,
    )


def _heading(result, index: int, width: float, title: str | None) -> str:
    """``title`` (default: the class and the roots' DNF), then the result's note, wrapped to ``width`` inches."""
    name = result.class_name(index)
    first = title if title is not None else (f"{name} · " if name else "") + (result.dnf(index) or "no root found")
    note = result.note(index)
    return "\n".join(fit_text(line, width - 0.2, MIN_POINTS + 1) for line in (first, note) if line)


def _patch_box(patch: int, grid: int, size, patches: str) -> tuple[tuple[float, float], float, float]:
    """(corner, width, height) in pixels of a patch: its square for hard patches; for bilinear ones the pixels
    nearer its cell centre than any other (cell centres sit at i·(H − 1)/(g − 1) under align_corners=True)."""
    row, col = divmod(patch, grid)
    height, width = size
    if patches == "hard":
        return (col * width / grid - 0.5, row * height / grid - 0.5), width / grid, height / grid
    step_y, step_x = (height - 1) / (grid - 1), (width - 1) / (grid - 1)
    top, left = max(row - 0.5, 0) * step_y, max(col - 0.5, 0) * step_x
    bottom, right = min(row + 0.5, grid - 1) * step_y, min(col + 0.5, grid - 1) * step_x
    return (left - 0.5, top - 0.5), right - left + 1, bottom - top + 1
