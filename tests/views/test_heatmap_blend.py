"""The blend modes of ``xw.figures.blend`` (overlay, contour, dim, kept): pixel values, validation, and agreement
with the HeatmapView's own blend in ``js/src/lib/blend.js`` on the same small arrays."""

import json
import shutil
import subprocess
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from xwidgets.core.errors import XWidgetsError
from xwidgets.figures import BLEND_MODES, blend, contour_levels

JS_LIB = Path(__file__).parents[2] / "js" / "src" / "lib"


@pytest.fixture
def square():
    """An 8x8 map with a 2x2 peak of 0.9 inside a 6x6 plateau of 0.6; the image is a flat 0.4 grey."""
    heat = np.zeros((8, 8), np.float32)
    heat[1:7, 1:7] = 0.6
    heat[3:5, 3:5] = 0.9
    return np.full((8, 8, 3), 0.4), heat


def _lut(name="viridis"):
    return matplotlib.colormaps[name].resampled(256)(np.arange(256))[:, :3]


def test_contour_levels_start_at_the_threshold_and_keep_a_gap():
    assert contour_levels(0.0) == [0.25, 0.5, 0.75]
    assert contour_levels(0.3) == [0.3, 0.5, 0.75]
    assert contour_levels(0.35) == [0.35, 0.5, 0.75]  # 0.5 is exactly the gap above: kept
    assert contour_levels(0.4) == [0.4, 0.75]
    assert contour_levels(0.8) == [0.8]


def test_contour_draws_lines_with_casings_over_the_untouched_image(square):
    image, heat = square
    out = blend(image, heat, threshold=0.5, mode="contour")  # levels 0.5 and 0.75
    lut = _lut()
    assert np.allclose(out[0, 3], 1.0)  # outside the plateau, next to it: the white casing of a dark line
    assert np.allclose(out[1, 3], lut[128])  # the plateau's rim: the 0.5 line in viridis(0.5)
    assert np.allclose(out[3, 3], lut[191])  # the peak's rim: the 0.75 line in viridis(0.75)
    assert np.allclose(out[2, 3], 0.0)  # beside the peak: the black casing of the light 0.75 line
    assert np.allclose(out[2, 2], 0.4) and np.allclose(out[7, 7], 0.4)  # away from every line: the image
    assert np.allclose(blend(image, np.zeros((8, 8)), mode="contour"), image)  # a flat map draws no line


def test_dim_darkens_the_rest_by_alpha_and_keeps_the_salient_pixels(square):
    image, heat = square
    out = blend(image, heat, alpha=0.75, threshold=0.5, mode="dim")
    assert np.allclose(out[0, 0], 0.25 * 0.4) and np.allclose(out[1, 1], 0.4) and np.allclose(out[4, 4], 0.4)
    assert np.allclose(blend(image, heat, alpha=0.0, threshold=0.5, mode="dim"), image)


def test_kept_and_overlay_are_unchanged(square):
    image, heat = square
    kept = blend(image, heat, threshold=0.7, mode="kept")
    assert np.allclose(kept[1, 1], 128 / 255) and np.allclose(kept[3, 3], 0.4)
    overlay = blend(image, heat, colormap="gray", alpha=0.5, threshold=0.7)
    # float32(0.9) * 255 is just below 229.5: colour entry 229
    assert np.allclose(overlay[1, 1], 0.4) and np.allclose(overlay[3, 3], 0.5 * 0.4 + 0.5 * 229 / 255)


@pytest.mark.parametrize("mode", ["mask", "Contour", ""])
def test_unknown_mode_is_an_xwidgets_error_naming_the_modes(square, mode):
    image, heat = square
    with pytest.raises(XWidgetsError, match=r"mode.*overlay, contour, dim, kept"):
        blend(image, heat, mode=mode)


def _js_blend(image, heat, cases):
    """Run ``blendHeatmap`` of js/src/lib/blend.js in node on ``image`` (uint8 ``[H, W, 3]``) and ``heat`` for
    each ``(mode, colormap, alpha, threshold)``; returns uint8 ``[H, W, 3]`` arrays."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to check the browser's blend (install node >= 18)")
    height, width = heat.shape
    rgba = np.concatenate([image, np.full((height, width, 1), 255, np.uint8)], axis=2)
    script = f"""
        import {{ blendHeatmap }} from "{(JS_LIB / "blend.js").as_uri()}";
        import {{ colormapLUT }} from "{(JS_LIB / "colormaps.js").as_uri()}";
        const rgba = Uint8ClampedArray.from({json.dumps(rgba.ravel().tolist())});
        const heat = Float32Array.from({json.dumps(heat.ravel().tolist())});
        const cases = {json.dumps(cases)};
        const out = cases.map(([mode, colormap, alpha, threshold]) =>
            Array.from(blendHeatmap(rgba, heat, colormapLUT(colormap), {{ mode, alpha, threshold }}, {width})));
        console.log(JSON.stringify(out));
    """
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [np.array(out, np.uint8).reshape(height, width, 4)[..., :3] for out in json.loads(done.stdout)]


def test_python_and_browser_blends_agree_in_every_mode():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:9, 0:11]
    heat = np.exp(-((xs - 6.0) ** 2 + (ys - 4.0) ** 2) / 10.0).astype(np.float32)
    heat[0, 0] = 0.5  # a value exactly on a level, where ">=" decides
    cases = [
        [mode, colormap, alpha, threshold]
        for mode in BLEND_MODES
        for colormap, alpha, threshold in (("viridis", 0.5, 0.0), ("magma", 0.8, 0.3), ("gray", 0.3, 0.5))
    ]
    browser = _js_blend(image, heat, cases)
    for (mode, colormap, alpha, threshold), drawn in zip(cases, browser):
        figure = blend(image / 255.0, heat, colormap=colormap, alpha=alpha, threshold=threshold, mode=mode)
        difference = np.abs(figure * 255 - drawn.astype(float))
        assert difference.max() <= 1.0, (mode, colormap, alpha, threshold, np.argwhere(difference > 1.0)[:5])
