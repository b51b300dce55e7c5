"""A structured attention graph as a publication figure (matplotlib).

The layout is the one the explorer's GraphView draws: rows by ``level`` (patches removed from the roots), nodes
ordered within a row by ``order``, each row centred. Each node is its insertion image (the hidden patches at
10 % intensity) at native resolution, framed in the colour of its relative-confidence bin and labelled with that
confidence (with its score instead where the threshold is absolute: a class the model does not predict, below
the floor); each edge is an arrow coloured by the drop, and the patch it removed is outlined on the child, as in
the paper's drawings. Text stays text in PDF and SVG.
"""

from __future__ import annotations

import textwrap

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch, Rectangle

from ..figures import PAPER_STYLE, PaperFigure, save_figure
from .graph import edge_colour, node_colour, node_label

__all__ = ["graph_figure"]


def graph_figure(
    result, index: int = 0, *, path=None, thumbnail_inches: float = 1.0, title: str | None = None
) -> Figure:
    """Draw image ``index`` of a :class:`~xwidgets.sag.SAGResult`: the graph below its diverse roots.

    Args:
        result: the SAG result; ``index``: which image.
        path: save there too (``.pdf``, ``.svg`` or ``.png``).
        thumbnail_inches: the side of one node's image.
        title: the line above the graph (default: the target class and the roots' DNF); the result's
            :meth:`~xwidgets.sag.SAGResult.note`, when there is one, follows below it.
    """
    nodes, edges = result.nodes[index], result.edges[index]
    grid = result.grid
    with matplotlib.rc_context(PAPER_STYLE):
        levels = sorted({n["level"] for n in nodes}) or [0]
        rows = {level: sorted((n for n in nodes if n["level"] == level), key=lambda n: n["order"]) for level in levels}
        columns = max((len(r) for r in rows.values()), default=1)
        cell_w, cell_h = thumbnail_inches * 1.25, thumbnail_inches * 1.55
        width = max(columns * cell_w, 3.0)
        heading = _heading(result, index, width, title)
        top = 0.31 + 0.14 * len(heading.splitlines())
        height = len(levels) * cell_h + top
        figure = PaperFigure(figsize=(width, height))
        axes = {}
        images = result.insertion_images([n["patches"] for n in nodes], index) if nodes else result.images[:0]
        position = {n["id"]: i for i, n in enumerate(nodes)}
        for row_number, level in enumerate(levels):
            row = rows[level]
            left0 = (width - len(row) * cell_w) / 2
            for column, node in enumerate(row):
                left = left0 + column * cell_w + (cell_w - thumbnail_inches) / 2
                bottom = height - top - (row_number + 1) * cell_h + (cell_h - thumbnail_inches) * 0.6
                ax = figure.add_axes(
                    (left / width, bottom / height, thumbnail_inches / width, thumbnail_inches / height)
                )
                picture = images[position[node["id"]]].permute(1, 2, 0).clamp(0, 1).numpy()
                ax.imshow(picture, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_edgecolor(node_colour(node["relative"]))
                    spine.set_linewidth(2.5)
                ax.set_xlabel(node_label(node["score"], node["relative"], result.floored[index]), labelpad=2)
                axes[node["id"]] = ax
        size = result.images.shape[-2:]
        for edge in edges:
            source, target = axes[edge["source"]], axes[edge["target"]]
            colour = edge_colour(edge["drop"])
            arrow = ConnectionPatch(
                xyA=(0.5, 0.0),
                coordsA=source.transAxes,
                xyB=(0.5, 1.0),
                coordsB=target.transAxes,
                arrowstyle="-|>",
                color=colour,
                linewidth=1.0 + 2.0 * min(max(edge["drop"], 0), 1),
                shrinkA=14,
                shrinkB=2,
            )
            figure.add_artist(arrow)
            target.add_patch(
                Rectangle(
                    *_patch_box(edge["removed"], grid, size, result.params["patches"]),
                    fill=False,
                    edgecolor="#D55E00",
                    linewidth=1.2,
                )
            )
        figure.suptitle(heading, y=1 - 0.12 / height, fontsize=8)
        if path is not None:
            save_figure(figure, path)
        return figure


def _heading(result, index: int, width: float, title: str | None) -> str:
    """``title`` (default: the class and the roots' DNF), then the result's note wrapped to ``width`` inches."""
    classes = result.target.get("classes")
    first = (
        title
        if title is not None
        else (f"class {classes[index if len(classes) > 1 else 0]} · " if classes else "")
        + (result.dnf(index) or "no root found")
    )
    note = result.note(index)
    return first + ("\n" + textwrap.fill(note, width=int(width / 0.06)) if note else "")


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
