"""Rendering of toy birds on cluttered backgrounds, with a part label map. numpy + scikit-image only.

The bird is drawn in a unit frame (x forward towards the beak, y down; the body is centred at the origin), then
scaled, mirrored and placed at random. Images are drawn at twice the size and averaged down, so edges are
smooth; the label map is taken at the centre of each 2x2 block.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage import draw

from ..core.determinism import one_torch_thread
from ..core.errors import invalid
from .species import COLORS, PART_IDS

__all__ = ["MIN_SIZE", "render_bird"]

#: The smallest image size at which every part (the eye, the leg lines, the patterns) stays visible.
MIN_SIZE = 64

# Part geometry in the unit frame (S = 1): polygons as (x, y) vertices, ellipses as (cx, cy, rx, ry).
_BODY = (0.0, 0.0, 0.55, 0.38)
_HEAD = (0.55, -0.45, 0.26, 0.26)
_EYE = (0.64, -0.50, 0.075, 0.075)
_WING = (-0.08, -0.04, 0.40, 0.21)
_BEAKS = {
    "short": [(0.74, -0.55), (1.02, -0.45), (0.74, -0.35)],
    "long": [(0.74, -0.53), (1.34, -0.45), (0.74, -0.39)],
    "hooked": [(0.74, -0.57), (1.00, -0.56), (1.13, -0.44), (1.10, -0.28), (1.02, -0.36), (0.99, -0.45), (0.74, -0.37)],
}
_CREST = [(0.36, -0.58), (0.36, -0.98), (0.50, -0.68), (0.58, -1.06), (0.64, -0.68), (0.80, -0.95), (0.74, -0.60)]
_TAILS = {
    "fan": [(-0.45, -0.12), (-1.05, -0.50), (-1.18, -0.05), (-1.10, 0.38), (-0.45, 0.12)],
    "fork": [(-0.45, -0.10), (-1.18, -0.42), (-0.88, 0.00), (-1.18, 0.42), (-0.45, 0.10)],
    "pointed": [(-0.45, -0.14), (-1.25, 0.02), (-0.45, 0.14)],
}
_LEGS = [((-0.12, 0.30), (-0.18, 0.76)), ((0.14, 0.30), (0.16, 0.76))]
_LEG_WIDTH = 0.07
_EXTENT = (-1.25, 1.35, -1.06, 0.80)  # x min, x max, y min, y max of every part


def render_bird(
    attributes: Mapping[str, str],
    rng: np.random.Generator,
    size: int = 112,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one bird with ``attributes`` on a cluttered background.

    Args:
        attributes: a value for every key of :data:`~xwidgets.toy.species.ATTRIBUTES`.
        rng: the generator every random choice (pose, background) is drawn from.
        size: image side in pixels, at least :data:`MIN_SIZE`.

    Returns:
        ``(image, labels)``: ``[size, size, 3]`` uint8 RGB, and ``[size, size]`` uint8 part ids
        (:data:`~xwidgets.toy.species.PART_IDS`, 0 for the background).
    """
    if not isinstance(size, int) or size < MIN_SIZE:
        raise invalid(
            "size", size, f"an int of at least {MIN_SIZE}: smaller images cannot show the eye, legs and patterns"
        )
    big = 2 * size
    canvas = _background(rng, big)
    labels = np.zeros((big, big), np.uint8)
    scale = big * rng.uniform(0.27, 0.33)
    mirror = -1.0 if rng.random() < 0.5 else 1.0
    x_low, x_high = sorted((mirror * _EXTENT[0], mirror * _EXTENT[1]))
    margin = 0.02 * big
    cx = rng.uniform(margin - x_low * scale, big - margin - x_high * scale)
    cy = rng.uniform(margin - _EXTENT[2] * scale, big - margin - _EXTENT[3] * scale)

    def to_pixels(points):
        points = np.asarray(points, float)
        return cy + points[:, 1] * scale, cx + mirror * points[:, 0] * scale  # rows, cols

    def fill(part, pixels, color):  # pixels: (rows, cols) as skimage.draw returns them
        canvas[pixels] = color
        labels[pixels] = PART_IDS[part]

    def ellipse(spec):
        x, y, rx, ry = spec
        (row,), (col,) = to_pixels([(x, y)])
        return draw.ellipse(row, col, ry * scale, rx * scale, shape=(big, big))

    def polygon(points):
        rows, cols = to_pixels(points)
        return draw.polygon(rows, cols, shape=(big, big))

    color = {key: np.array(COLORS[value], np.uint8) for key, value in attributes.items() if key.endswith(".color")}
    fill("tail", polygon(_TAILS[attributes["tail.shape"]]), color["tail.color"])
    width = max(1.0, _LEG_WIDTH * scale)
    for start, stop in _LEGS:
        rows, cols = to_pixels([start, stop])
        fill("legs", _thick_line(rows, cols, width, big), color["legs.color"])
        foot_rows, foot_cols = to_pixels([stop, (stop[0] + 0.14, stop[1] + 0.02)])
        fill("legs", _thick_line(foot_rows, foot_cols, width, big), color["legs.color"])
    body = ellipse(_BODY)
    fill("body", body, color["body.color"])
    _pattern(canvas, body, attributes["body.pattern"], color["body.color"], scale, rng)
    wing = ellipse(_WING)
    fill("wing", wing, color["wing.color"])
    _pattern(canvas, wing, attributes["wing.pattern"], color["wing.color"], scale, rng)
    _outline(canvas, labels, (PART_IDS["body"],), PART_IDS["wing"])
    if attributes["crest.shape"] == "present":
        fill("crest", polygon(_CREST), color["crest.color"])
    fill("head", ellipse(_HEAD), color["head.color"])
    fill("beak", polygon(_BEAKS[attributes["beak.shape"]]), color["beak.color"])
    eye = ellipse(_EYE)
    fill("eye", eye, color["eye.color"])
    (pupil_row,), (pupil_col,) = to_pixels([(_EYE[0] + 0.015, _EYE[1])])
    canvas[draw.disk((pupil_row, pupil_col), 0.03 * scale, shape=(big, big))] = (10, 10, 10)

    image = canvas.reshape(size, 2, size, 2, 3).mean(axis=(1, 3)).round().astype(np.uint8)
    return image, labels[::2, ::2].copy()


def _thick_line(rows, cols, width, big):
    """Pixels of a line segment of the given width (a thin polygon around it)."""
    (r0, r1), (c0, c1) = rows, cols
    length = max(np.hypot(r1 - r0, c1 - c0), 1e-6)
    nr, nc = -(c1 - c0) / length * width / 2, (r1 - r0) / length * width / 2
    return draw.polygon([r0 + nr, r1 + nr, r1 - nr, r0 - nr], [c0 + nc, c1 + nc, c1 - nc, c0 - nc], shape=(big, big))


def _contrast(color: np.ndarray) -> np.ndarray:
    """A pattern colour that stands out on ``color``: near-black on light colours, near-white on dark ones."""
    return np.array((20, 20, 20) if color.astype(float).mean() > 110 else (235, 235, 235), np.uint8)


def _pattern(canvas, pixels, pattern, color, scale, rng):
    """Stripes across, or spots on, the pixels of one part."""
    if pattern == "plain":
        return
    rows, cols = pixels
    ink = _contrast(color)
    if pattern == "striped":
        period = 0.16 * scale
        phase = rng.uniform(0, period)
        keep = ((cols + phase) % period) < period * 0.42
    else:
        period = 0.17 * scale
        offset = rng.uniform(0, period, size=2)
        dr = (rows + offset[0]) % period - period / 2
        dc = (cols + offset[1]) % period - period / 2
        keep = dr * dr + dc * dc < (0.28 * period) ** 2
    canvas[rows[keep], cols[keep]] = ink


def _outline(canvas, labels, inside, part):
    """Darken the boundary of ``part`` where it meets ``inside`` parts, so the wing reads on the body."""
    mask = labels == part
    edge = mask & ~ndimage.binary_erosion(mask, iterations=2)
    near = ndimage.binary_dilation(np.isin(labels, inside), iterations=2)
    canvas[edge & near] = (canvas[edge & near] * 0.45).astype(np.uint8)


def _background(rng: np.random.Generator, big: int) -> np.ndarray:
    """A textured background with distractor shapes in bird colours."""
    base = rng.uniform(90, 200, size=3)
    noise = ndimage.gaussian_filter(rng.normal(0, 1, (big // 8, big // 8, 3)), sigma=(1.5, 1.5, 0)).astype(np.float32)
    with one_torch_thread():  # the same bits on any number of threads
        noise = (
            F.interpolate(
                torch.from_numpy(noise).permute(2, 0, 1)[None], size=(big, big), mode="bilinear", align_corners=False
            )[0]
            .permute(1, 2, 0)
            .numpy()
        )
    grain = rng.normal(0, 6, (big, big, 1))
    canvas = np.clip(base + 30 * noise / (noise.std() + 1e-6) + grain, 0, 255)
    palette = np.array(list(COLORS.values()), float)
    for _ in range(rng.integers(4, 9)):
        color = palette[rng.integers(len(palette))]
        row, col = rng.uniform(0, big, size=2)
        radius = rng.uniform(0.03, 0.08) * big
        kind = rng.integers(3)
        if kind == 0:
            pixels = draw.disk((row, col), radius, shape=(big, big))
        elif kind == 1:
            pixels = draw.rectangle(
                (row - radius, col - radius / 2), (row + radius, col + radius / 2), shape=(big, big)
            )
        else:
            angles = rng.uniform(0, 2 * np.pi) + np.array([0, 2.1, 4.2])
            pixels = draw.polygon(row + radius * np.sin(angles), col + radius * np.cos(angles), shape=(big, big))
        canvas[pixels] = color
    return canvas.astype(np.uint8)
