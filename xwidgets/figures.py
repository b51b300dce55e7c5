"""The figure kit every ``figure.py`` draws with (matplotlib): the paper style and its print-width presets, the
figure class Jupyter shows as an image, the HeatmapView's blend, and saving as PDF, SVG or PNG.

Every ``figure()`` takes ``style``: ``"one-column"`` (3.3 in wide, a journal's single column), ``"two-column"``
(7 in, the full text width) or ``"auto"`` (the default: one column for a figure of at most two image panels, two
columns otherwise). The figure is drawn at that print width with type of at least 8 pt, so it is included at
100 % (``includegraphics`` without ``width=``) and its type is never scaled down. Constrained layout keeps every
title and label inside the canvas, so a plain ``figure.savefig(path)`` keeps them too.

The overlay is the same blend as the HeatmapView draws in the browser (``js/src/lib/blend.js``): a pixel whose
value is at least ``threshold`` becomes ``(1 − alpha)·image + alpha·colormap(value)`` in ``"overlay"`` mode, or
stays the image while the rest turns grey in ``"kept"`` mode or darker in ``"dim"`` mode; ``"contour"`` draws
iso-lines of the map over the untouched image. Text stays text in PDF and SVG (TrueType fonts
embedded, SVG text not outlined).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from .core.atomic import write_atomic
from .core.errors import invalid

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = [
    "FIGURE_FORMATS",
    "FIGURE_STYLES",
    "DEFAULT_STYLE",
    "MIN_POINTS",
    "PAPER_STYLE",
    "CURVE_COLOURS",
    "KEPT_GREY",
    "BLEND_MODES",
    "CONTOUR_STEPS",
    "CONTOUR_GAP",
    "contour_levels",
    "PaperFigure",
    "blend",
    "figure_width",
    "fit_text",
    "image_array",
    "map_array",
    "save_figure",
    "OLD_SIZE_KEYWORDS",
    "without_old_sizes",
]

FIGURE_FORMATS = ("pdf", "svg", "png")
KEPT_GREY = 128 / 255
"""The grey of the pixels a ``"kept"`` blend hides."""
#: The blend modes of :func:`blend` and the HeatmapView, in its menu's order.
BLEND_MODES = ("overlay", "contour", "dim", "kept")
#: The fixed levels a ``"contour"`` blend draws above the threshold, and how far above it each must lie.
CONTOUR_STEPS = (0.25, 0.5, 0.75)
CONTOUR_GAP = 0.15
#: Print widths in inches of the ``style`` presets: a journal's single column and its full text width.
FIGURE_STYLES = {"one-column": 3.3, "two-column": 7.0}
#: The ``style`` of every figure unless one is given: ``"one-column"`` up to two image panels, else ``"two-column"``.
DEFAULT_STYLE = "auto"
#: The smallest type (points) of any text in a figure, at its print width.
MIN_POINTS = 8
#: matplotlib settings of every paper figure: embedded TrueType fonts, SVG text kept as text, 8 pt type (9 pt
#: figure titles), thin lines, and constrained layout's padding.
PAPER_STYLE: dict[RcKeyType, Any] = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "font.size": MIN_POINTS,
    "axes.titlesize": MIN_POINTS,
    "axes.labelsize": MIN_POINTS,
    "figure.titlesize": MIN_POINTS + 1,
    "legend.fontsize": MIN_POINTS,
    "legend.title_fontsize": MIN_POINTS,
    "xtick.labelsize": MIN_POINTS,
    "ytick.labelsize": MIN_POINTS,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "figure.constrained_layout.h_pad": 0.03,
    "figure.constrained_layout.w_pad": 0.03,
}
#: Okabe-Ito colours (colourblind-safe) for the curves of up to four methods.
CURVE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")


class PaperFigure(Figure):
    """A matplotlib ``Figure`` that Jupyter shows as an image and that saves with the paper style.

    The figures here are built without pyplot (nothing is registered globally, nothing leaks in scripts), and a
    bare ``Figure`` displays only as text in a notebook unless ``%matplotlib inline`` ran; ``_repr_png_`` draws it
    as :func:`save_figure` does. ``savefig`` applies :data:`PAPER_STYLE`, so a plain ``figure.savefig("f.pdf")``
    also embeds TrueType fonts; the canvas is the figure's print size (no ``bbox_inches`` is needed).
    """

    def savefig(self, fname: Any, *args: Any, **kwargs: Any) -> None:
        with matplotlib.rc_context(PAPER_STYLE):
            super().savefig(fname, *args, **kwargs)

    def _repr_png_(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=150)
        return buffer.getvalue()


def figure_width(style: str, panels: int = 1) -> float:
    """The print width in inches of ``style`` (a key of :data:`FIGURE_STYLES`, or ``"auto"``: one column for at
    most two image ``panels``, two columns otherwise)."""
    if style == "auto":
        style = "one-column" if panels <= 2 else "two-column"
    if not isinstance(style, str) or style not in FIGURE_STYLES:
        presets = ", ".join(f"{name!r} ({inches:g} in)" for name, inches in FIGURE_STYLES.items())
        raise invalid("style", repr(style), f"one of {presets} or 'auto'")
    return FIGURE_STYLES[style]


def fit_text(text: str, inches: float, points: float = MIN_POINTS) -> str:
    """``text`` wrapped into lines at most ``inches`` wide at ``points`` type (an average glyph of the sans-serif
    font is about 0.55 em wide): between its " · " phrases where they fit, inside a phrase (at word boundaries) only
    where the phrase alone is too wide, so "I-GOS · scarlet crestling" never breaks inside the class name."""
    import textwrap

    characters = max(int(inches * 72 / (0.55 * points)), 8)
    lines: list[str] = []
    for phrase in text.split(" · "):
        joined = f"{lines[-1]} · {phrase}" if lines else phrase
        if lines and len(joined) <= characters:
            lines[-1] = joined
        else:
            lines.extend(textwrap.wrap(phrase, width=characters, break_long_words=False) or [phrase])
    return "\n".join(lines) or text


def blend(
    image: np.ndarray,
    heat: np.ndarray,
    *,
    colormap: str = "viridis",
    alpha: float = 0.5,
    threshold: float = 0.0,
    mode: str = "overlay",
) -> np.ndarray:
    """The HeatmapView's blend: ``image`` ``[H, W, 3]`` in [0, 1] and ``heat`` ``[H, W]`` in [0, 1] -> RGB.

    ``mode`` is one of :data:`BLEND_MODES`: ``"overlay"`` colours the pixels at or above ``threshold``
    (``(1 − alpha)·image + alpha·colormap(value)``); ``"contour"`` draws iso-lines at :func:`contour_levels`
    over the untouched image, each in the colormap's colour of its level with a black or white casing beside
    it; ``"dim"`` darkens the pixels below ``threshold`` to ``(1 − alpha)·image``; ``"kept"`` greys them out.
    ``colormap`` is any matplotlib colormap; the HeatmapView's are viridis, cividis, magma, inferno and gray."""
    if colormap not in matplotlib.colormaps:
        raise invalid("colormap", colormap, "a matplotlib colormap name, e.g. viridis, cividis, magma or inferno")
    if mode not in BLEND_MODES:
        raise invalid("mode", mode, "one of " + ", ".join(BLEND_MODES))
    for name, value in (("alpha", alpha), ("threshold", threshold)):
        if not 0.0 <= value <= 1.0:
            raise invalid(name, value, "a number in [0, 1]")
    heat = np.clip(np.nan_to_num(np.asarray(heat, np.float32), nan=0.0), 0.0, 1.0).astype(np.float64)
    image = np.asarray(image, np.float64)
    below = (heat < threshold)[..., None]
    lut = matplotlib.colormaps[colormap].resampled(256)(np.arange(256))[:, :3]
    if mode == "kept":
        return np.where(below, KEPT_GREY, image)
    if mode == "dim":
        return np.where(below, (1.0 - alpha) * image, image)
    if mode == "contour":
        return _draw_contours(image.copy(), heat, lut, threshold)
    colour = lut[_lut_index(heat)]
    return np.where(below, image, (1.0 - alpha) * image + alpha * colour)


def contour_levels(threshold: float) -> list[float]:
    """The iso-levels of a ``"contour"`` blend: ``threshold`` (when above 0), then each of
    :data:`CONTOUR_STEPS` at least :data:`CONTOUR_GAP` above it, ascending; 0 to 4 levels in (0, 1]."""
    levels = [threshold] if threshold > 0 else []
    return levels + [step for step in CONTOUR_STEPS if step - threshold >= CONTOUR_GAP - 1e-6]


def _lut_index(values: np.ndarray | float) -> np.ndarray:
    """Values in [0, 1] -> colormap entries 0..255, rounding half up as the browser's ``Math.round`` does."""
    return np.floor(np.asarray(values) * 255 + 0.5).astype(int)


def _draw_contours(image: np.ndarray, heat: np.ndarray, lut: np.ndarray, threshold: float) -> np.ndarray:
    """Paint each level's line (pixels at or above it with a 4-neighbour below) in ``lut``'s colour of the
    level, and its casing (pixels below it with a 4-neighbour at or above) black for a light line and white
    for a dark one (luma < 128/255), lowest level first; ``image`` ``[H, W, 3]`` is modified and returned."""
    for level in contour_levels(threshold):
        inside = heat >= level
        differs = np.zeros_like(inside)
        differs[:, 1:] |= inside[:, 1:] != inside[:, :-1]
        differs[:, :-1] |= inside[:, :-1] != inside[:, 1:]
        differs[1:] |= inside[1:] != inside[:-1]
        differs[:-1] |= inside[:-1] != inside[1:]
        line = lut[_lut_index(level)]
        casing = 1.0 if float(np.dot(np.round(line * 255), (0.299, 0.587, 0.114))) < 128 else 0.0
        image[differs & inside] = line
        image[differs & ~inside] = casing
    return image


def image_array(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """An image ``[3, H, W]`` (tensor) or ``[H, W, 3]``, in [0, 1] or uint8 in 0..255 (a toy sample's ``image``),
    as a float array ``[H, W, 3]`` clipped to [0, 1]."""
    array = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, float)
    if np.asarray(image).dtype == np.uint8 or (isinstance(image, torch.Tensor) and image.dtype == torch.uint8):
        array = array / 255.0
    if array.ndim == 3 and array.shape[0] == 3:
        array = array.transpose(1, 2, 0)
    return np.clip(array, 0.0, 1.0)


def map_array(heat: torch.Tensor | np.ndarray) -> np.ndarray:
    """A map with any leading singleton dimensions as a float array ``[H, W]``."""
    array = heat.detach().float().cpu().numpy() if isinstance(heat, torch.Tensor) else np.asarray(heat, float)
    return array.reshape(array.shape[-2:])


#: The size keywords of the figures before the ``style`` presets, accepted with a warning for one release.
OLD_SIZE_KEYWORDS = ("panel_inches", "thumbnail_inches")


def without_old_sizes(style: dict[str, Any]) -> dict[str, Any]:
    """``style`` (a ``figure()``'s keywords) without :data:`OLD_SIZE_KEYWORDS`, warning for each one given: the
    size now follows from ``style="one-column"``, ``"two-column"`` or ``"auto"``."""
    from .core.deprecation import warn_deprecated

    for name in OLD_SIZE_KEYWORDS:
        if name in style:
            warn_deprecated(
                f"figure({name}=...) is deprecated and ignored: the panels are sized by "
                "style='one-column' (3.3 in), 'two-column' (7 in) or 'auto'"
            )
    return {key: value for key, value in style.items() if key not in OLD_SIZE_KEYWORDS}


def save_figure(figure: Figure, path: str | Path, *, dpi: int = 300) -> Path:
    """Save ``figure`` as PDF, SVG or PNG, chosen by the suffix of ``path``, at its print size; returns the path."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in FIGURE_FORMATS:
        raise invalid("path", f"'{path}' (format {kind or 'none'})", "a path ending in .pdf, .svg or .png")
    with matplotlib.rc_context(PAPER_STYLE):
        return write_atomic(path, lambda handle: figure.savefig(handle, format=kind, dpi=dpi))
