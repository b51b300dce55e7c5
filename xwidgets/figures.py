"""The figure kit every ``figure.py`` draws with (matplotlib): the paper style, the figure class Jupyter shows as
an image, the HeatmapView's blend, and saving as PDF, SVG or PNG.

The overlay is the same blend as the HeatmapView draws in the browser (``js/src/lib/blend.js``): a pixel whose
value is at least ``threshold`` becomes ``(1 − alpha)·image + alpha·colormap(value)`` in ``"overlay"`` mode, or
stays the image while the rest turns grey in ``"kept"`` mode. Text stays text in PDF and SVG (TrueType fonts
embedded, SVG text not outlined).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from .core.errors import invalid

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = [
    "FIGURE_FORMATS",
    "PAPER_STYLE",
    "CURVE_COLOURS",
    "KEPT_GREY",
    "PaperFigure",
    "blend",
    "image_array",
    "map_array",
    "save_figure",
]

FIGURE_FORMATS = ("pdf", "svg", "png")
KEPT_GREY = 128 / 255
"""The grey of the pixels a ``"kept"`` blend hides."""
#: matplotlib settings of every paper figure: embedded TrueType fonts, SVG text kept as text, 8 pt type.
PAPER_STYLE: dict[RcKeyType, Any] = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
}
#: Okabe-Ito colours (colourblind-safe) for the curves of up to four methods.
CURVE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")


class PaperFigure(Figure):
    """A matplotlib ``Figure`` that Jupyter shows as an image.

    The figures here are built without pyplot (nothing is registered globally, nothing leaks in scripts), and a
    bare ``Figure`` displays only as text in a notebook unless ``%matplotlib inline`` ran; ``_repr_png_`` draws it
    with the same settings as :func:`save_figure`.
    """

    def _repr_png_(self) -> bytes:
        import io

        buffer = io.BytesIO()
        with matplotlib.rc_context(PAPER_STYLE):
            self.savefig(buffer, format="png", dpi=150, bbox_inches="tight", pad_inches=0.02)
        return buffer.getvalue()


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

    ``colormap`` is any matplotlib colormap; the HeatmapView's are viridis, cividis, magma, inferno and gray."""
    if colormap not in matplotlib.colormaps:
        raise invalid("colormap", colormap, "a matplotlib colormap name, e.g. viridis, cividis, magma or inferno")
    if mode not in ("overlay", "kept"):
        raise invalid("mode", mode, "'overlay' or 'kept'")
    for name, value in (("alpha", alpha), ("threshold", threshold)):
        if not 0.0 <= value <= 1.0:
            raise invalid(name, value, "a number in [0, 1]")
    heat = np.clip(np.nan_to_num(heat, nan=0.0), 0.0, 1.0)
    above = (heat >= threshold)[..., None]
    if mode == "kept":
        return np.where(above, image, KEPT_GREY)
    lut = matplotlib.colormaps[colormap].resampled(256)(np.arange(256))[:, :3]
    colour = lut[np.round(heat * 255).astype(int)]
    return np.where(above, (1.0 - alpha) * image + alpha * colour, image)


def image_array(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """An image ``[3, H, W]`` (tensor) or ``[H, W, 3]`` as a float array ``[H, W, 3]`` clipped to [0, 1]."""
    array = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, float)
    if array.ndim == 3 and array.shape[0] == 3:
        array = array.transpose(1, 2, 0)
    return np.clip(array, 0.0, 1.0)


def map_array(heat: torch.Tensor | np.ndarray) -> np.ndarray:
    """A map with any leading singleton dimensions as a float array ``[H, W]``."""
    array = heat.detach().float().cpu().numpy() if isinstance(heat, torch.Tensor) else np.asarray(heat, float)
    return array.reshape(array.shape[-2:])


def save_figure(figure: Figure, path: str | Path, *, dpi: int = 300) -> Path:
    """Save ``figure`` as PDF, SVG or PNG, chosen by the suffix of ``path``; returns the path."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in FIGURE_FORMATS:
        raise invalid("path", f"'{path}' (format {kind or 'none'})", "a path ending in .pdf, .svg or .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(PAPER_STYLE):
        figure.savefig(path, format=kind, dpi=dpi, bbox_inches="tight", pad_inches=0.02)
    return path
