import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument
from xwidgets.views import COLORMAPS, HeatmapView


@pytest.fixture
def photo():
    return np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)


@pytest.fixture
def heat():
    ys, xs = np.mgrid[0:20, 0:30]
    return (xs / 29.0 * ys / 19.0).astype(np.float32)


def _front_end_update(view, **state):
    """What the comm delivers when the browser changes a trait (the real ipywidgets message path)."""
    view._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


def test_sends_png_and_float32_map(photo, heat):
    from io import BytesIO

    from PIL import Image

    view = HeatmapView(photo, heat)
    assert (view.width, view.height) == (30, 20)
    assert np.array_equal(np.asarray(Image.open(BytesIO(view.image))), photo)
    values = np.frombuffer(view.heatmap, dtype="<f4").reshape(20, 30)
    assert np.allclose(values, heat) and view.values is not None
    state = view.get_state()
    assert state["colormap"] == "viridis" and state["mode"] == "dim"
    assert (state["alpha"], state["threshold"]) == (0.6, 0.3)
    assert view.display_width == 256 and view.pixelated  # small images are enlarged with crisp pixels


def test_map_of_another_size_is_resized(photo):
    view = HeatmapView(photo, torch.ones(1, 1, 5, 6))
    assert view.values.shape == (20, 30) and np.allclose(view.values, 1.0)


def test_click_message_reaches_callbacks_with_the_value(photo, heat):
    view = HeatmapView(photo, heat)
    seen = []
    view.on_click(lambda x, y, v: seen.append((x, y, v)))
    view._handle_custom_msg({"event": "click", "x": 29, "y": 19}, [])
    view._handle_custom_msg({"event": "click", "x": 500, "y": -3}, [])  # clamped into the image
    view._handle_custom_msg({"event": "hover"}, [])  # other events are ignored
    assert seen == [(29, 19, pytest.approx(1.0)), (29, 0, pytest.approx(0.0))]
    assert view.last_click == (29, 0, pytest.approx(0.0))


@pytest.mark.parametrize("mode", ["overlay", "contour", "dim", "kept"])
def test_every_blend_mode_is_accepted_from_python_and_from_the_browser(photo, heat, mode):
    view = HeatmapView(photo, heat, mode=mode)
    assert view.get_state()["mode"] == mode
    _front_end_update(view, mode="kept" if mode != "kept" else "contour")
    assert view.mode in ("kept", "contour") and view.mode != mode


def test_view_modes_are_the_figures_modes():
    from xwidgets.figures import BLEND_MODES
    from xwidgets.views.heatmap import MODES

    assert MODES == BLEND_MODES


def test_a_click_callback_can_answer_in_the_note(photo, heat):
    view = HeatmapView(photo, heat)
    assert view.note == "" and view.get_state()["note"] == ""
    view.on_click(lambda x, y, v: setattr(view, "note", f"({x}, {y}) = {v:.2f}"))
    view._handle_custom_msg({"event": "click", "x": 29, "y": 19}, [])
    assert view.note == "(29, 19) = 1.00" and view.get_state()["note"] == view.note


def test_front_end_trait_updates_apply_in_the_kernel(photo, heat):
    view = HeatmapView(photo, heat)
    changes = []
    view.observe(lambda c: changes.append((c["name"], c["new"])), names=["alpha", "threshold", "mode"])
    _front_end_update(view, alpha=0.9, threshold=0.3, mode="kept")
    assert (view.alpha, view.threshold, view.mode) == (0.9, 0.3, "kept")
    assert ("alpha", 0.9) in changes and ("mode", "kept") in changes


def test_set_data_replaces_image_and_map(photo, heat):
    view = HeatmapView(photo, heat)
    view.set_data(np.zeros((10, 12, 3), np.uint8), np.full((10, 12), 0.5, np.float32))
    assert (view.width, view.height) == (12, 10) and np.allclose(view.values, 0.5)
    view.set_data(heatmap=None)
    assert view.heatmap == b"" and view.values is None and view.width == 12


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"alpha": 1.5}, "alpha"),
        ({"threshold": -0.1}, "threshold"),
        ({"colormap": "jet"}, "colormap"),
        ({"mode": "mask"}, "mode"),
        ({"mode": "dim the rest"}, "mode"),
        ({"display_width": 2}, "display_width"),
    ],
)
def test_bad_settings(photo, heat, kwargs, argument):
    with pytest.raises(InvalidArgument) as info:
        HeatmapView(photo, heat, **kwargs)
    assert info.value.argument == argument


@pytest.mark.parametrize(
    "heatmap, message",
    [
        (np.full((20, 30), np.nan, np.float32), "NaN"),
        (np.full((20, 30), 2.0, np.float32), r"values in \[0, 1\]"),
        (np.zeros((20, 30), np.int64), "float"),
        (np.zeros((2, 20, 30), np.float32), "single map"),
        ("hot", "numpy array or torch tensor"),
    ],
)
def test_bad_heatmaps(photo, heatmap, message):
    with pytest.raises(InvalidArgument, match=message) as info:
        HeatmapView(photo, heatmap)
    assert info.value.argument == "heatmap"


def test_bad_image_and_callback(photo, heat):
    with pytest.raises(InvalidArgument, match="single image"):
        HeatmapView(np.stack([photo, photo]), heat)
    with pytest.raises(InvalidArgument, match="callable"):
        HeatmapView(photo, heat).on_click("not callable")


def test_failed_construction_leaves_no_widget(photo, heat):
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    with pytest.raises(InvalidArgument):
        HeatmapView(photo, np.full((20, 30), np.nan, np.float32))
    with pytest.raises(InvalidArgument):
        HeatmapView(photo, heat, alpha=7)
    assert set(_instances) == before


def test_colormaps_match_matplotlib():
    """The JS lookup tables must equal matplotlib's, so figures and views show the same colours."""
    import re
    from pathlib import Path

    import matplotlib

    source = (Path(__file__).parents[2] / "js/src/lib/colormaps.js").read_text()
    for name in COLORMAPS:
        match = re.search(rf'{name}\s*:\s*"([0-9a-fA-F]+)"', source)
        assert match, name
        table = np.frombuffer(bytes.fromhex(match.group(1)), np.uint8).reshape(256, 3)
        expected = np.round(matplotlib.colormaps[name](np.arange(256) / 255)[:, :3] * 255)
        assert np.abs(table.astype(int) - expected).max() <= 1, name


def test_lazy_top_level_export():
    assert xw.HeatmapView is HeatmapView
