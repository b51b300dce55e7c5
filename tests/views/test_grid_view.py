"""ThumbnailGridView: tiles validated and encoded, the selection from a click, and the blend traits."""

import io

import numpy as np
import pytest
from PIL import Image

import xwidgets as xw
from xwidgets.views import ThumbnailGridView
from xwidgets.views.grid import thumbnail_png


def _tile(key, frame="correct", size=8, **extra):
    rng = np.random.default_rng(int(key) if key.isdigit() else 0)
    return {
        "key": key,
        "thumbnail": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
        "map": rng.integers(0, 256, (size, size), dtype=np.uint8),
        "caption": f"crestling · 0.9{key}",
        "tooltip": f"toy-0-{key}",
        "frame": frame,
        **extra,
    }


def _click(view, key):
    """What the comm delivers when the browser sets ``selected`` (the real ipywidgets message path)."""
    view._handle_msg(
        {"content": {"data": {"method": "update", "state": {"selected": key}, "buffer_paths": []}}, "buffers": []}
    )


def test_tiles_travel_as_png_and_raw_uint8_maps():
    tile = _tile("3")
    view = ThumbnailGridView([tile, _tile("4", frame="wrong", map=None)], columns=4, tile_size=80)
    first, second = view.tiles
    decoded = np.asarray(Image.open(io.BytesIO(first["thumbnail"])))
    np.testing.assert_array_equal(decoded, tile["thumbnail"])
    assert first["map"] == tile["map"].tobytes() and second["map"] == b""
    assert (first["frame"], second["frame"]) == ("correct", "wrong")
    assert view.tile_keys == ["3", "4"] and (view.columns, view.tile_size) == (4, 80)


def test_a_click_selects_and_calls_back_once():
    view = ThumbnailGridView([_tile("1"), _tile("2")])
    got = []
    view.on_select(got.append)
    _click(view, "2")
    assert view.selected == "2" and got == ["2"]
    view.selected = ""
    assert got == ["2"]


def test_new_tiles_keep_a_selection_that_is_still_there_and_drop_one_that_is_not():
    view = ThumbnailGridView([_tile("1"), _tile("2")])
    view.selected = "2"
    view.set_tiles([_tile("2"), _tile("3")])
    assert view.selected == "2"
    view.set_tiles([_tile("5")])
    assert view.selected == ""
    view.set_tiles([_tile("5"), _tile("6")], selected="6")
    assert view.selected == "6"


@pytest.mark.parametrize(
    "tiles, named",
    [
        ("not tiles", "tiles"),
        ([{"key": "1"}], "tiles[0]['thumbnail']"),
        ([_tile("1"), _tile("1")], "tiles[1]['key']"),
        ([_tile("1", frame="maybe")], "tiles[0]['frame']"),
        ([_tile("1", map=np.zeros((4, 4), np.uint8))], "tiles[0]['map']"),
        ([_tile("1", map=np.zeros((8, 8), np.float32))], "tiles[0]['map']"),
        ([_tile("1", thumbnail=np.zeros((8, 8, 3), np.float32))], "tiles[0]['thumbnail']"),
        ([_tile("1", caption=3)], "tiles[0]['caption']"),
        ([_tile("1", extra=1)], "tiles[0]"),
        ([_tile("", frame="none")], "tiles[0]['key']"),
    ],
)
def test_bad_tiles_name_the_argument(tiles, named):
    with pytest.raises(xw.XWidgetsError, match=named.replace("[", r"\[").replace("]", r"\]")):
        ThumbnailGridView(tiles)


def test_a_failed_update_changes_nothing():
    view = ThumbnailGridView([_tile("1")])
    before = view.tiles
    with pytest.raises(xw.XWidgetsError, match="selected"):
        view.set_tiles([_tile("2")], selected="9")
    assert view.tiles is before


@pytest.mark.parametrize(
    "name, value", [("columns", 0), ("tile_size", 4), ("alpha", 1.5), ("colormap", "jet"), ("mode", "x")]
)
def test_bad_settings_are_refused(name, value):
    with pytest.raises(xw.XWidgetsError, match=name):
        ThumbnailGridView([_tile("1")], **{name: value})


def test_selecting_an_unknown_key_is_refused():
    view = ThumbnailGridView([_tile("1")])
    with pytest.raises(xw.XWidgetsError, match="selected"):
        view.selected = "7"


def test_thumbnail_png_refuses_non_rgb():
    with pytest.raises(xw.XWidgetsError, match="thumbnail"):
        thumbnail_png(np.zeros((4, 4), np.uint8))
