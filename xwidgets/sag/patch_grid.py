"""The SAG explorer's patch editor image: the patch grid, the patch numbers and a node's patches outlined.

Patch ``n`` is row ``n // grid`` and column ``n % grid`` of the grid, numbered as in a SAG's formula
(``"P10 & P11"``). A hard patch is one square of the grid; a bilinear patch's weight peaks at its cell centre
``i·(side − 1)/(grid − 1)``, and its cell is where it weighs most: halfway to the neighbouring centres, so the
border cells are half as wide. The image is drawn larger than the input (``scale`` times, nearest neighbour) so
that numbers at a readable size fit in small cells.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

__all__ = ["patch_cells", "patch_at", "draw_patch_grid", "number_labels", "GRID_COLOUR", "OUTLINE_COLOUR"]

#: The grid lines: white at 55 % opacity (RGBA).
GRID_COLOUR = (255, 255, 255, 140)
#: The outline of a hovered graph node's patches (Okabe–Ito blue, opaque).
OUTLINE_COLOUR = (0, 114, 178, 255)


def _borders(count: int, grid: int, patches: str) -> list[float]:
    """The ``grid + 1`` cell borders along a side of ``count`` pixels, from 0 to ``count``."""
    if patches == "hard":
        inner = [i * count / grid for i in range(1, grid)]
    else:  # halfway between the bilinear cells' centres
        inner = [(i + 0.5) * (count - 1) / (grid - 1) for i in range(grid - 1)]
    return [0.0, *inner, float(count)]


def patch_cells(size: tuple[int, int], grid: int, patches: str) -> list[tuple[float, float, float, float]]:
    """Each patch's cell, ``(left, top, right, bottom)`` in pixels of an image of ``size = (H, W)``.

    Returns ``grid ** 2`` boxes in patch order (row-major); they tile the image.
    """
    height, width = size
    rows, cols = _borders(height, grid, patches), _borders(width, grid, patches)
    return [(cols[c], rows[r], cols[c + 1], rows[r + 1]) for r in range(grid) for c in range(grid)]


def patch_at(x: int, y: int, size: tuple[int, int], grid: int, patches: str) -> int:
    """The patch under pixel ``(x, y)`` (column, row) of an image of ``size = (H, W)``: the square of a hard
    patch, the nearest cell centre of a bilinear one."""
    height, width = size
    if patches == "hard":
        row, col = min(y * grid // height, grid - 1), min(x * grid // width, grid - 1)
    else:
        row, col = round(y * (grid - 1) / (height - 1)), round(x * (grid - 1) / (width - 1))
    return row * grid + col


def draw_patch_grid(
    image: torch.Tensor,
    grid: int,
    patches: str,
    *,
    scale: int = 1,
    label_px: float = 0.0,
    outline: Iterable[int] = (),
    line_px: int = 1,
) -> np.ndarray:
    """The editor's image: ``image`` enlarged ``scale`` times, with the grid lines over it, each patch's number
    (``"P10"``) in its cell when ``label_px > 0``, and the patches in ``outline`` outlined as one shape.

    Args:
        image: ``[3, H, W]`` float in [0, 1].
        grid: patches per side.
        patches: ``"hard"`` or ``"bilinear"`` (where the cells' borders are, :func:`patch_cells`).
        scale: integer enlargement (nearest neighbour), >= 1.
        label_px: the numbers' font size in pixels of the enlarged image (rounded); 0 draws none. Where
            ``"P10"`` is wider than a cell, the number goes without its ``P``; where that is too wide as well,
            only every ``k``-th row and column are numbered, so numbers never overlap.
        outline: patch numbers whose union's boundary is drawn (a graph node's patches).
        line_px: the grid lines' width in pixels of the enlarged image (the outline is three times as wide).

    Returns:
        ``[scale·H, scale·W, 3]`` uint8 numpy array (RGB).
    """
    from PIL import Image, ImageDraw

    height, width = image.shape[-2:]
    pixels = (image.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    canvas = Image.fromarray(pixels.repeat(scale, 0).repeat(scale, 1)).convert("RGBA")
    layer = _grid_layer((height, width), grid, patches, scale, round(label_px), line_px).copy()
    chosen = set(outline)
    if chosen:
        cells = [tuple(v * scale for v in cell) for cell in patch_cells((height, width), grid, patches)]
        _draw_outline(ImageDraw.Draw(layer), cells, grid, chosen, 3 * line_px)
    return np.asarray(Image.alpha_composite(canvas, layer).convert("RGB"))


@lru_cache(maxsize=8)
def _grid_layer(size: tuple[int, int], grid: int, patches: str, scale: int, label_px: int, line_px: int):
    """The transparent RGBA layer of grid lines and numbers for one editor setting (drawn once, then reused)."""
    from PIL import Image, ImageDraw

    layer = Image.new("RGBA", (size[1] * scale, size[0] * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    cells = [tuple(v * scale for v in cell) for cell in patch_cells(size, grid, patches)]
    _draw_lines(draw, cells, grid, line_px)
    if label_px > 0:
        _draw_numbers(draw, cells, grid, label_px)
    return layer


def _draw_lines(draw, cells, grid: int, width: int) -> None:
    """The borders between cells (not the image's own edges)."""
    right, bottom = cells[-1][2], cells[-1][3]
    for c in range(1, grid):
        x = round(cells[c][0])
        draw.line([(x, 0), (x, bottom)], fill=GRID_COLOUR, width=width)
    for r in range(1, grid):
        y = round(cells[r * grid][1])
        draw.line([(0, y), (right, y)], fill=GRID_COLOUR, width=width)


def number_labels(
    cells: list[tuple[float, float, float, float]], grid: int, size: int
) -> list[tuple[str, tuple[float, float], tuple[float, float, float, float]]]:
    """Where the patch numbers go: ``(text, origin, box)`` per numbered patch, ``origin`` where the text is drawn
    from and ``box`` the ink's ``(left, top, right, bottom)`` with its outline, in the pixels of the image that
    ``cells`` (:func:`patch_cells`, in patch order) tile.

    The labels are ``"P10"`` at ``size`` px, each centred on its cell and moved inside the image where the cell is
    at its edge. Where neighbouring labels would overlap, the ``P`` goes, then only every ``k``-th row and column
    are numbered (from the first), so no two boxes overlap.
    """
    font = _font(size)
    stroke = _stroke(size)
    widest = str(grid * grid - 1)
    for prefix in ("P", ""):  # the P goes first where the numbers do not fit
        half_w, half_h = _text_width(prefix + widest, font) / 2 + stroke, size / 2 + stroke
        centres = [_inside(cell, cells[-1][2:], half_w, half_h) for cell in cells]
        xs, ys = [x for x, _ in centres[:grid]], [y for _, y in centres[::grid]]
        step = next(k for k in range(1, grid + 1) if _apart(xs, k, 2 * half_w + 2) and _apart(ys, k, 2 * half_h + 2))
        if step == 1:
            break
    labels = []
    for number, (x, y) in enumerate(centres):
        row, col = divmod(number, grid)
        if row % step or col % step:
            continue
        text = f"{prefix}{number}"
        x0, y0, x1, y1 = font.getbbox(text, stroke_width=stroke)
        origin = (x - (x0 + x1) / 2, y - (y0 + y1) / 2)
        labels.append((text, origin, (origin[0] + x0, origin[1] + y0, origin[0] + x1, origin[1] + y1)))
    return labels


def _draw_numbers(draw, cells, grid: int, size: int) -> None:
    """White numbers with a dark outline (:func:`number_labels`)."""
    font, stroke = _font(size), _stroke(size)
    for text, origin, _ in number_labels(cells, grid, size):
        draw.text(origin, text, font=font, fill=(255, 255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0, 230))


def _stroke(size: int) -> int:
    """The width of the numbers' dark outline for a font of ``size`` px."""
    return max(1, round(size / 8))


def _draw_outline(draw, cells, grid: int, chosen: set[int], width: int) -> None:
    """The boundary of the union of the ``chosen`` cells: each side whose neighbour is not chosen."""
    for number in chosen:
        if not 0 <= number < grid * grid:
            continue
        row, col = divmod(number, grid)
        left, top, right, bottom = (round(v) for v in cells[number])
        sides = (
            (row == 0 or number - grid not in chosen, [(left, top), (right, top)]),
            (row == grid - 1 or number + grid not in chosen, [(left, bottom), (right, bottom)]),
            (col == 0 or number - 1 not in chosen, [(left, top), (left, bottom)]),
            (col == grid - 1 or number + 1 not in chosen, [(right, top), (right, bottom)]),
        )
        for open_side, line in sides:
            if open_side:
                draw.line(line, fill=OUTLINE_COLOUR, width=width)


def _apart(positions: list[float], step: int, gap: float) -> bool:
    """Whether every ``step``-th of the ascending ``positions`` (from the first) is at least ``gap`` from the
    next one."""
    kept = positions[::step]
    return all(b - a >= gap for a, b in pairwise(kept))


def _inside(cell, corner, half_w: float, half_h: float) -> tuple[float, float]:
    """The cell's centre, moved just enough that a label ``2·half_w × 2·half_h`` around it stays inside the image
    (whose bottom-right corner is ``corner``)."""
    left, top, right, bottom = cell
    x = min(max((left + right) / 2, half_w), corner[0] - half_w)
    y = min(max((top + bottom) / 2, half_h), corner[1] - half_h)
    return x, y


def _text_width(text: str, font) -> float:
    x0, _, x1, _ = font.getbbox(text)
    return x1 - x0


@lru_cache(maxsize=8)
def _font(size: int):
    """DejaVu Sans Bold at ``size`` px (the copy matplotlib ships, so every machine draws the same numbers)."""
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"), size)
