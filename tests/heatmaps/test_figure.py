"""Paper figures: the blend equals the HeatmapView's, panels and curves are drawn, formats and errors."""

import numpy as np
import pytest
import torch
from matplotlib.legend import Legend

from xwidgets.core.errors import InvalidArgument, XWidgetsError
from xwidgets.figures import blend, save_figure
from xwidgets.heatmaps import SaliencyResult
from xwidgets.heatmaps.figure import saliency_figure


def _result(count=3):
    generator = torch.Generator().manual_seed(0)
    return SaliencyResult(
        method="gradcam",
        params={},
        saliency=torch.rand(count, 1, 16, 16, generator=generator),
        images=torch.rand(count, 3, 16, 16, generator=generator),
        scores=torch.ones(count),
        target={"type": "ClassTarget", "classes": [4, 2, 7][:count]},
    )


def test_blend_follows_the_views_rule():
    image = np.full((2, 2, 3), 0.2)
    heat = np.array([[0.0, 0.4], [0.8, 1.0]])
    out = blend(image, heat, colormap="gray", alpha=0.5, threshold=0.5)
    assert np.allclose(out[0, 0], 0.2) and np.allclose(out[0, 1], 0.2)  # below threshold: the image
    assert np.allclose(out[1, 1], 0.5 * 0.2 + 0.5 * 1.0)  # gray(1) is white
    assert np.allclose(out[1, 0], 0.5 * 0.2 + 0.5 * (round(0.8 * 255) / 255), atol=1e-3)
    kept = blend(image, heat, threshold=0.5, mode="kept")
    assert np.allclose(kept[0, 0], 128 / 255) and np.allclose(kept[1, 1], 0.2)


def test_result_figure_draws_one_image_or_a_list_with_titles_and_a_colorbar():
    figure = _result().figure([0, 1, 2])
    images = [axis for axis in figure.axes if axis.images]
    assert len(images) == 3 and len(figure.axes) == 4  # 3 panels + the colorbar's axis
    assert [axis.get_title() for axis in images] == ["Grad-CAM · class 4", "Grad-CAM · class 2", "Grad-CAM · class 7"]
    drawn = np.asarray(images[0].images[0].get_array())
    assert drawn.shape == (16, 16, 3)  # native resolution, no resampling
    one = [axis for axis in _result().figure().axes if axis.images]
    assert [axis.get_title() for axis in one] == ["Grad-CAM · class 4"]  # index=0 by default
    assert _result().figure(1, titles=["only"]).axes[0].get_title() == "only"


def test_result_figure_saves_to_path(tmp_path):
    figure = _result().figure(2, path=tmp_path / "map.svg")
    assert "Grad-CAM · class 7" in (tmp_path / "map.svg").read_text() and figure.axes[0].get_title()


def test_curves_panel_labels_each_curve_with_its_auc():
    fractions = np.linspace(0, 1, 5)
    curves = [
        {
            "label": "I-GOS",
            "fractions": fractions,
            "deletion": 1 - fractions,
            "insertion": fractions,
            "deletion_auc": 0.5,
            "insertion_auc": 0.25,
        }
    ]
    result = _result(1)
    figure = saliency_figure([result.images[0]], [result.saliency[0]], ["a"], curves=curves)
    deletion, insertion = (axis for axis in figure.axes if axis.lines)
    assert deletion.get_title().startswith("deletion") and insertion.get_title().startswith("insertion")
    assert deletion.lines[0].get_ydata().tolist() == (1 - fractions).tolist()
    legend = [t.get_text() for legend in figure.findobj(Legend) for t in legend.get_texts()]
    assert legend == ["I-GOS: deletion 0.500, insertion 0.250"]


def test_save_figure_formats(tmp_path):
    figure = _result(1).figure()
    assert save_figure(figure, tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")
    svg = save_figure(figure, tmp_path / "f.svg").read_text()
    assert "Grad-CAM · class 4" in svg  # text is text, not outlines
    assert save_figure(figure, tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: blend(np.zeros((2, 2, 3)), np.zeros((2, 2)), colormap="rainbowish"), "colormap"),
        (lambda: blend(np.zeros((2, 2, 3)), np.zeros((2, 2)), alpha=2.0), "alpha"),
        (lambda: blend(np.zeros((2, 2, 3)), np.zeros((2, 2)), mode="hide"), "mode"),
        (lambda: saliency_figure([np.zeros((3, 2, 2))], []), "maps"),
        (lambda: saliency_figure([np.zeros((3, 2, 2))], [None], ["a", "b"]), "titles"),
        (lambda: _result().figure([5]), "index"),
        (lambda: _result().figure(-1), "index"),
        (lambda: _result().figure([]), "index"),
        (lambda: _result().figure("figure.pdf"), r"index: .*pass path="),
        (lambda: save_figure(_result(1).figure(), "figure.jpg"), "path"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(InvalidArgument, match=message):
        call()


def test_figures_display_as_png_in_jupyter_without_pyplot():
    figure = _result(2).figure([0, 1])
    png = figure._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    import matplotlib.pyplot as plt

    assert figure not in [plt.figure(n) for n in plt.get_fignums()]  # nothing registered with pyplot


def test_a_result_without_images_says_what_is_missing_when_drawn():
    """A result made without ``images=`` (the field is optional) refuses to draw with a clear error, not a
    ``TypeError`` from indexing None."""
    result = SaliencyResult(method="gradcam", params={}, saliency=torch.rand(2, 1, 8, 8))
    with pytest.raises(XWidgetsError, match=r"holds no images .*images="):
        result.figure()
