"""ThumbnailGridView: a grid of image thumbnails with their maps, drawn by ``js/src/grid.js``.

Each tile is a small RGB thumbnail (PNG bytes) with a uint8 map of the same size blended on top in the browser, with
the HeatmapView's colormaps and blend (``js/src/lib/blend.js``), so the colormap and alpha answer with no kernel
round trip. A tile has a coloured frame (``"correct"``: blue, ``"wrong"``: vermillion, both with a ✓ or ✗ badge in
the corner so colour is not the only cue; ``"none"``: grey), a caption and a plain-text tooltip. Tiles are focusable;
a click, or Enter on a focused tile, sets the synced :attr:`~ThumbnailGridView.selected` key, and
:meth:`~ThumbnailGridView.on_select` callbacks receive it. The view knows nothing about runs: the DatasetExplorer
fills it one page at a time.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import traitlets

from ..core.errors import invalid
from ._base import ViewWidget
from ._static import bundle
from ._traits import Float, Int, Unicode, invalid_trait
from .heatmap import COLORMAPS, MODES

__all__ = ["FRAMES", "TILE_KEYS", "ThumbnailGridView", "thumbnail_png"]

#: The frames a tile may have: the prediction was right, wrong, or there is no label to judge it by.
FRAMES = ("correct", "wrong", "none")
#: Keys a tile dict may have; ``key`` and ``thumbnail`` are required.
TILE_KEYS = ("key", "thumbnail", "map", "caption", "tooltip", "frame")
#: The bounds of ``columns`` and of ``tile_size`` (CSS px).
COLUMN_RANGE, TILE_SIZE_RANGE = (1, 32), (16, 512)


class ThumbnailGridView(ViewWidget):
    """A grid of thumbnails with their maps blended on top, click-to-select.

    Args:
        tiles: a sequence of dicts, one per tile, with keys

            - ``"key"`` (str, non-empty, unique, required): what :attr:`selected` holds when the tile is clicked;
            - ``"thumbnail"`` (required): ``[T, T, 3]`` (or ``[H, W, 3]``) uint8 numpy RGB image;
            - ``"map"`` (default None): ``[H, W]`` uint8 (0..255 stands for 0..1) at the thumbnail's size, or None;
            - ``"caption"`` (str): under the thumbnail; it wraps between its " · " phrases;
            - ``"tooltip"`` (str): the hover text and accessible name (shown as text, never as HTML);
            - ``"frame"``: one of :data:`FRAMES` (default ``"none"``).
        columns: tiles per row, 1..32.
        tile_size: drawn side of a thumbnail in CSS px, 16..512.
        colormap, alpha, threshold, mode: the blend, as for :class:`~xwidgets.views.HeatmapView`.
        empty_text: shown in place of the grid when there are no tiles.

    Traits (synced): ``tiles`` (the dicts above with the thumbnail as PNG bytes and the map as raw bytes),
    ``columns``, ``tile_size``, ``colormap``, ``alpha``, ``threshold``, ``mode``, ``empty_text`` and ``selected``
    (the key of the selected tile, "" for none; a click in the browser sets it). Replace the tiles with
    :meth:`set_tiles`.
    """

    _esm = bundle("grid")

    tiles = traitlets.List(traitlets.Dict()).tag(sync=True)
    columns = Int(6).tag(sync=True)
    tile_size = Int(96).tag(sync=True)
    colormap = Unicode("viridis").tag(sync=True)
    alpha = Float(0.5).tag(sync=True)
    threshold = Float(0.0).tag(sync=True)
    mode = Unicode("overlay").tag(sync=True)
    selected = Unicode("").tag(sync=True)
    empty_text = Unicode("no images").tag(sync=True)

    def __init__(
        self,
        tiles: Sequence[Mapping] = (),
        *,
        columns: int = 6,
        tile_size: int = 96,
        colormap: str = "viridis",
        alpha: float = 0.5,
        threshold: float = 0.0,
        mode: str = "overlay",
        empty_text: str = "no images",
    ):
        super().__init__(
            tiles=_wire_tiles(tiles),
            columns=columns,
            tile_size=tile_size,
            colormap=colormap,
            alpha=alpha,
            threshold=threshold,
            mode=mode,
            empty_text=empty_text,
        )
        self._select_callbacks: list[Callable[[str], object]] = []
        self.observe(self._on_selected, names="selected")

    @property
    def tile_keys(self) -> list[str]:
        """The keys of the tiles, in grid order."""
        return [tile["key"] for tile in self.tiles]

    def set_tiles(self, tiles: Sequence[Mapping], selected: str | None = None) -> None:
        """Replace every tile in one update (validated first: nothing changes on error). The selection is kept
        where its key is still a tile, else cleared, unless ``selected`` names the key to select."""
        wire = _wire_tiles(tiles)
        keys = {tile["key"] for tile in wire}
        chosen = self.selected if selected is None else selected
        if chosen and chosen not in keys:
            if selected is not None:
                raise invalid("selected", repr(selected), f"'' or the key of one of the {len(wire)} tiles")
            chosen = ""
        with self.hold_sync(), self.hold_trait_notifications():
            self.tiles = wire
            self.selected = chosen

    def on_select(self, callback: Callable[[str], object], remove: bool = False) -> None:
        """Call ``callback(key)`` when a tile is selected (a click, Enter, or setting :attr:`selected`); clearing
        the selection calls nothing. ``remove=True`` unregisters it."""
        if not callable(callback):
            raise invalid("callback", callback, "a callable (key)")
        if remove:
            self._select_callbacks = [c for c in self._select_callbacks if c != callback]
        else:
            self._select_callbacks.append(callback)

    def _on_selected(self, change: dict) -> None:
        if not change["new"]:
            return
        for callback in list(self._select_callbacks):
            callback(change["new"])

    @traitlets.validate("selected")
    def _check_selected(self, proposal):
        value = proposal["value"]
        if value and value not in self.tile_keys:
            raise invalid_trait("selected", repr(value), f"'' or the key of one of the {len(self.tiles)} tiles")
        return value

    @traitlets.validate("columns")
    def _check_columns(self, proposal):
        return _bounded("columns", proposal["value"], COLUMN_RANGE)

    @traitlets.validate("tile_size")
    def _check_tile_size(self, proposal):
        return _bounded("tile_size", proposal["value"], TILE_SIZE_RANGE)

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


def thumbnail_png(pixels: object, name: str = "thumbnail") -> bytes:
    """PNG bytes of an ``[H, W, 3]`` uint8 RGB array."""
    from PIL import Image

    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise invalid(name, _describe(pixels), "an [H, W, 3] uint8 numpy array")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _wire_tiles(tiles: object) -> list[dict]:
    """Validate tiles and turn them into the synced form (PNG thumbnails, raw uint8 maps, every key filled in)."""
    if isinstance(tiles, (str, bytes, Mapping)) or not isinstance(tiles, Sequence):
        raise invalid("tiles", _describe(tiles), "a sequence of tile dicts")
    wire: list[dict] = []
    seen: dict[str, int] = {}
    for i, tile in enumerate(tiles):
        entry = _wire_tile(tile, f"tiles[{i}]")
        if entry["key"] in seen:
            raise invalid(
                f"tiles[{i}]['key']",
                f"{entry['key']!r}, the key of tiles[{seen[entry['key']]}] too",
                "keys that are unique among the tiles",
            )
        seen[entry["key"]] = i
        wire.append(entry)
    return wire


def _wire_tile(tile: object, name: str) -> dict:
    if not isinstance(tile, Mapping):
        raise invalid(name, _describe(tile), "a dict with keys " + ", ".join(TILE_KEYS))
    unknown = sorted(str(k) for k in tile if k not in TILE_KEYS)
    if unknown:
        raise invalid(name, f"the keys {', '.join(unknown)}", "keys among " + ", ".join(TILE_KEYS))
    key = tile.get("key")
    if not isinstance(key, str) or not key:
        raise invalid(f"{name}['key']", repr(key), "a non-empty str")
    pixels = tile.get("thumbnail")
    png = thumbnail_png(pixels, f"{name}['thumbnail']")
    size = tuple(np.asarray(pixels).shape[:2])
    frame = tile.get("frame", "none")
    if frame not in FRAMES:
        raise invalid(f"{name}['frame']", repr(frame), "one of " + ", ".join(FRAMES))
    texts = {}
    for field in ("caption", "tooltip"):
        value = tile.get(field, "")
        if not isinstance(value, str):
            raise invalid(f"{name}['{field}']", _describe(value), "a str")
        texts[field] = value
    return {
        "key": key,
        "thumbnail": png,
        "map": _map_bytes(tile.get("map"), size, f"{name}['map']"),
        "frame": frame,
        **texts,
    }


def _map_bytes(heat: object, size: tuple[int, ...], name: str) -> bytes:
    """A uint8 ``[H, W]`` map at ``size`` -> its raw bytes (empty for None)."""
    if heat is None:
        return b""
    if not isinstance(heat, np.ndarray) or heat.dtype != np.uint8 or heat.shape != tuple(size):
        raise invalid(name, _describe(heat), f"None or a {size[0]}x{size[1]} uint8 numpy array (the thumbnail's size)")
    return np.ascontiguousarray(heat).tobytes()


def _bounded(name: str, value: object, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not bounds[0] <= value <= bounds[1]:
        raise invalid_trait(name, value, f"an int in [{bounds[0]}, {bounds[1]}]")
    return int(value)


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {tuple(value.shape)}"
    return f"an object of type {type(value).__name__}"
