"""HeatmapView: an image with a float map over it, drawn by ``js/src/heatmap.js``.

The colormap, alpha, threshold and blend-mode maths (overlay, contour lines, dim the rest, kept pixels only) run in
the browser, so the view's own controls answer with no kernel round trip and keep working in a static HTML export;
:func:`xwidgets.figures.blend` is the same maths for paper figures. A click on the image sends the pixel to Python,
where :meth:`HeatmapView.on_click` callbacks receive it; they can answer in the view's :attr:`~HeatmapView.note`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import traitlets

from ..core.errors import invalid
from ._base import ViewWidget
from ._png import encode_image as _encode_image
from ._static import bundle
from ._traits import Bool, Float, Int, Unicode, invalid_trait
from .fallback import StaticFallback

__all__ = ["COLORMAPS", "MODES", "HeatmapView"]

#: Perceptually uniform colormaps; viridis, cividis, magma and inferno are colourblind-safe.
COLORMAPS = ("viridis", "cividis", "magma", "inferno", "gray")
#: Blend modes in the menu's order; the same as :data:`xwidgets.figures.BLEND_MODES` (kept apart so that the views
#: need no matplotlib).
MODES = ("overlay", "contour", "dim", "kept")
#: The defaults, chosen to read at a glance on the toy world's busy backgrounds and on photos: the pixels below
#: 0.3 are darkened to 40 %, the salient region keeps its own colours.
DEFAULT_MODE, DEFAULT_ALPHA, DEFAULT_THRESHOLD = "dim", 0.6, 0.3


class HeatmapView(StaticFallback, ViewWidget):
    """An image with a saliency-style map over it.

    Args:
        image: one image in any form :func:`~xwidgets.core.images.to_batch` accepts (a single image).
        heatmap: ``[H, W]`` (or ``[1, H, W]`` / ``[1, 1, H, W]``) float map in [0, 1], high = important, numpy
            or torch; a map of another size is resized bilinearly to the image. None shows the image alone.
        colormap: one of :data:`COLORMAPS`.
        alpha: opacity of the colour overlay (``mode="overlay"``), or how far the pixels below the threshold are
            darkened toward black (``mode="dim"``), 0..1.
        threshold: pixels whose value is below it are not coloured (``"overlay"``), darkened (``"dim"``) or
            greyed out (``"kept"``); ``"contour"`` draws a line at it and at 0.25, 0.5, 0.75 above it, 0..1.
        mode: one of :data:`MODES`: ``"overlay"`` colours the map over the image; ``"contour"`` draws iso-lines of
            the map, coloured by level, over the untouched image; ``"dim"`` darkens the rest; ``"kept"`` shows only
            the pixels at or above the threshold. The default (dim, alpha 0.6, threshold 0.3) reads at a glance.
        title: a line above the image; it wraps only between phrases separated by ``" · "``.
        display_width: the drawn width in CSS pixels (default: the image width, at least 256 and at most 512).
        show_controls: draw the alpha, threshold, colormap and mode controls under the image.
        show_legend: draw the legend under the image, as wide as it: the colour bar with ticks at 0, 0.5 and 1,
            the contour levels, or the threshold below which pixels are dimmed or greyed.

    Traits ``alpha``, ``threshold``, ``colormap`` and ``mode`` sync both ways and can be ``jslink``-ed. ``note`` is
    a line of text under the image that Python sets (an ``on_click`` callback saying what was clicked).
    """

    _esm = bundle("heatmap")

    image = traitlets.Bytes(b"").tag(sync=True)
    width = Int(0).tag(sync=True)
    height = Int(0).tag(sync=True)
    heatmap = traitlets.Bytes(b"").tag(sync=True)
    colormap = Unicode("viridis").tag(sync=True)
    alpha = Float(DEFAULT_ALPHA).tag(sync=True)
    threshold = Float(DEFAULT_THRESHOLD).tag(sync=True)
    mode = Unicode(DEFAULT_MODE).tag(sync=True)
    title = Unicode("").tag(sync=True)
    note = Unicode("").tag(sync=True)
    display_width = Int(256).tag(sync=True)
    pixelated = Bool(False).tag(sync=True)
    show_controls = Bool(True).tag(sync=True)
    show_legend = Bool(True).tag(sync=True)

    def __init__(
        self,
        image: object,
        heatmap: object = None,
        *,
        colormap: str = "viridis",
        alpha: float = DEFAULT_ALPHA,
        threshold: float = DEFAULT_THRESHOLD,
        mode: str = DEFAULT_MODE,
        title: str = "",
        display_width: int | None = None,
        show_controls: bool = True,
        show_legend: bool = True,
    ):
        pixels, png = _encode_image(image)
        height, width = pixels.shape[-2:]
        heat = _encode_heatmap(heatmap, (height, width))
        if display_width is None:
            display_width = min(max(width, 256), 512)
        super().__init__(
            image=png,
            width=width,
            height=height,
            heatmap=heat,
            colormap=colormap,
            alpha=alpha,
            threshold=threshold,
            mode=mode,
            title=title,
            display_width=display_width,
            show_controls=show_controls,
            show_legend=show_legend,
        )
        self.pixelated = bool(self.display_width >= 2 * width)  # display_width checked by its trait above
        self._pixels = pixels
        self._values = np.frombuffer(heat, dtype="<f4").reshape(height, width) if heat else None
        self._click_callbacks: list[Callable[[int, int, float | None], object]] = []
        self.last_click: tuple[int, int, float | None] | None = None
        self.on_msg(self._on_custom_message)

    # --------------------------------------------------------------------------------------- data
    def set_data(self, image: object = None, heatmap: object = None) -> None:
        """Replace the image and/or the map in one update (None keeps the image; an absent map clears it)."""
        pixels = self._pixels if image is None else _encode_image(image)[0]
        height, width = pixels.shape[-2:]
        heat = _encode_heatmap(heatmap, (height, width))
        with self.hold_sync():
            if image is not None:
                self.image = _encode_image(pixels)[1]
                self.width, self.height = width, height
            self.heatmap = heat
        self._pixels = pixels
        self._values = np.frombuffer(heat, dtype="<f4").reshape(height, width) if heat else None

    def static_png(self) -> bytes:
        """PNG of the image with the map blended as the browser shows it now (the static picture of an HTML
        export; :func:`xwidgets.figures.blend` is the same maths as the view's JS)."""
        from ..figures import blend

        image = self._pixels.permute(1, 2, 0).cpu().numpy().astype(np.float64)
        if self._values is not None:
            image = blend(
                image, self._values, colormap=self.colormap, alpha=self.alpha, threshold=self.threshold, mode=self.mode
            )
        return _encode_image((np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8))[1]

    @property
    def blending(self) -> dict[str, Any]:
        """The blend the browser draws now (``colormap``, ``alpha``, ``threshold``, ``mode``), as keywords for
        :func:`xwidgets.figures.blend` and every figure function, so a figure matches its view."""
        return {"colormap": self.colormap, "alpha": self.alpha, "threshold": self.threshold, "mode": self.mode}

    @property
    def values(self) -> np.ndarray | None:
        """The map as sent to the browser, ``[H, W]`` float32 in [0, 1], or None."""
        return self._values

    # ------------------------------------------------------------------------------------- clicks
    def on_click(self, callback: Callable[[int, int, float | None], object], remove: bool = False) -> None:
        """Call ``callback(x, y, value)`` when the image is clicked (pixel column, row, and the map value there)."""
        if not callable(callback):
            raise invalid("callback", callback, "a callable (x, y, value)")
        if remove:
            self._click_callbacks = [c for c in self._click_callbacks if c is not callback]
        else:
            self._click_callbacks.append(callback)

    def _on_custom_message(self, _widget: object, content: dict, _buffers: list) -> None:
        if not isinstance(content, dict) or content.get("event") != "click":
            return
        x = min(max(int(content.get("x", 0)), 0), self.width - 1)
        y = min(max(int(content.get("y", 0)), 0), self.height - 1)
        value = None if self._values is None else float(self._values[y, x])
        self.last_click = (x, y, value)
        for callback in list(self._click_callbacks):
            callback(x, y, value)

    # -------------------------------------------------------------------------------- validation
    @traitlets.validate("alpha", "threshold")
    def _check_unit(self, proposal):
        value = proposal["value"]
        if not 0.0 <= value <= 1.0:
            raise invalid_trait(proposal["trait"].name, value, "a number in [0, 1]")
        return value

    @traitlets.validate("colormap")
    def _check_colormap(self, proposal):
        if proposal["value"] not in COLORMAPS:
            raise invalid_trait("colormap", proposal["value"], "one of " + ", ".join(COLORMAPS))
        return proposal["value"]

    @traitlets.validate("mode")
    def _check_mode(self, proposal):
        if proposal["value"] not in MODES:
            raise invalid_trait("mode", proposal["value"], "one of " + ", ".join(MODES))
        return proposal["value"]

    @traitlets.validate("display_width")
    def _check_display_width(self, proposal):
        if not 16 <= proposal["value"] <= 4096:
            raise invalid_trait("display_width", proposal["value"], "a width in CSS pixels in [16, 4096]")
        return proposal["value"]


def _encode_heatmap(heatmap: object, size: tuple[int, int]) -> bytes:
    """A map in [0, 1] -> float32 little-endian bytes at ``size`` (empty bytes for None)."""
    if heatmap is None:
        return b""
    if isinstance(heatmap, np.ndarray):
        if not (np.issubdtype(heatmap.dtype, np.floating) or heatmap.dtype == np.bool_):
            raise invalid("heatmap", heatmap, "a float array in [0, 1]")
        heatmap = torch.from_numpy(np.ascontiguousarray(heatmap, dtype=np.float32))
    if not isinstance(heatmap, torch.Tensor):
        raise invalid("heatmap", f"an object of type {type(heatmap).__name__}", "a numpy array or torch tensor")
    if heatmap.dtype == torch.bool:
        heatmap = heatmap.float()
    if not heatmap.is_floating_point():
        raise invalid("heatmap", heatmap, "a float map in [0, 1]")
    if heatmap.is_meta:
        raise invalid("heatmap", heatmap, "a tensor holding data (the meta device has shapes only)")
    heat = heatmap.detach().float().cpu()
    while heat.ndim > 2 and heat.shape[0] == 1:
        heat = heat[0]
    if heat.ndim != 2 or min(heat.shape) < 1:
        raise invalid("heatmap", heatmap, "a single map [H, W], [1, H, W] or [1, 1, H, W]")
    if not bool(torch.isfinite(heat).all()):
        raise invalid(
            "heatmap",
            f"a map with {int((~torch.isfinite(heat)).sum())} NaN or infinite values",
            "finite values in [0, 1]",
        )
    low, high = float(heat.min()), float(heat.max())
    if low < 0.0 or high > 1.0:
        raise invalid("heatmap", f"values in [{low:.4g}, {high:.4g}]", "values in [0, 1] (normalise the map first)")
    if tuple(heat.shape) != tuple(size):
        heat = F.interpolate(heat[None, None], size=size, mode="bilinear", align_corners=False)[0, 0].clamp(0, 1)
    return heat.contiguous().numpy().astype("<f4").tobytes()
