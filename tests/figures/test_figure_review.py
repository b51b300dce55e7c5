"""What a review of every paper figure found, kept fixed: the sizes of the figures before the style presets still
accepted with a warning; a toy sample's uint8 image drawn, not blown out to white; narrow rows centred, not spread
over a two-column figure; summary boxes named in a legend; a one-column SANE figure not made of thumbnails."""

import itertools

import numpy as np
import pytest
from figure_kinds import draw
from layout import drawn, layout_problems

import xwidgets as xw
from xwidgets.figures import OLD_SIZE_KEYWORDS, image_array
from xwidgets.heatmaps.figure import saliency_figure


@pytest.mark.parametrize(
    ("kind", "keyword"),
    [
        ("sag", "thumbnail_inches"),
        ("concepts", "panel_inches"),
        ("text", "panel_inches"),
        ("similarity", "panel_inches"),
    ],
)
def test_old_size_keywords_warn_and_are_ignored(toy_results, kind, keyword):
    with pytest.warns(xw.XWidgetsDeprecationWarning, match=rf"{keyword}=.*style='one-column'"):
        old = draw(toy_results, kind, style="one-column", **{keyword: 2.0})
    assert old.get_size_inches().tolist() == draw(toy_results, kind, style="one-column").get_size_inches().tolist()


def test_the_old_keywords_are_the_ones_the_figures_took():
    assert OLD_SIZE_KEYWORDS == ("panel_inches", "thumbnail_inches")


def test_a_uint8_image_is_drawn_as_itself(toy_results):
    image = xw.toy.ToyWorld().sample(9, seed=42).image  # [112, 112, 3] uint8
    assert image.dtype == np.uint8
    assert np.allclose(image_array(image), image / 255.0)
    figure = saliency_figure([image], [None], ["azure jay"], style="one-column")
    assert np.allclose(figure.axes[0].images[0].get_array(), image / 255.0)


@pytest.mark.parametrize("kind", ["summaries", "summary explanation"])
def test_few_panels_sit_side_by_side_in_a_two_column_figure(toy_results, kind):
    figure = draw(toy_results, kind, style="two-column")
    drawn(figure)
    boxes = sorted((a.get_position().x0, a.get_position().x1) for a in figure.axes if a.images)
    gaps = [right[0] - left[1] for left, right in itertools.pairwise(boxes)]
    assert max(gaps) * figure.get_figwidth() < 0.3, f"panels spread over the width: gaps {gaps}"
    assert layout_problems(figure) == []


def test_summary_boxes_are_named_in_a_legend(toy_results):
    figure = draw(toy_results, "summary explanation", style="one-column")
    found = toy_results["found"]
    shown = sorted({n for i in (0, 1) for n in found.parts(i)})
    labels = [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    assert labels == [f"summary {n + 1}" for n in shown]


def test_one_column_match_figure_puts_the_pair_above_its_attributes(toy_results):
    figure = draw(toy_results, "similarity", style="one-column")
    drawn(figure)
    query, _reference, *attributes = [a for a in figure.axes if a.images]
    inches = figure.get_figwidth()
    assert query.get_position().width * inches > 1.3  # not a 0.6 in thumbnail
    assert all(a.get_position().y1 < query.get_position().y0 for a in attributes)
    assert layout_problems(figure) == []


def test_curve_titles_clear_each_other_beside_a_wide_legend(toy_results):
    """Long method names widen the legend beside the curves; the panels' titles wrap rather than run together."""
    maps = list(toy_results["maps"].values())
    curves = [dict(curve, label="Integrated gradients") for curve in toy_results["curves"]]
    figure = saliency_figure(
        [maps[0].images[0]] * len(maps), [r.saliency[0] for r in maps], curves=curves, style="two-column"
    )
    drawn(figure)
    titles = [a.title for a in figure.axes if a.get_title().startswith(("deletion", "insertion"))]
    left, right = (t.get_window_extent() for t in titles)
    assert left.x1 < right.x0
    assert layout_problems(figure) == []


def test_pair_saliency_figure_warns_for_panel_inches():
    pool = xw.toy.dataset(2, seed=9801).images()
    pair = xw.explain(xw.toy.embedder(), pool[0], reference=pool[1], method="pair_rise", masks=50)
    with pytest.warns(xw.XWidgetsDeprecationWarning, match="panel_inches=.*ignored"):
        figure = pair.figure(0, panel_inches=2.0, style="one-column")
    assert figure.get_figwidth() == pytest.approx(3.3)
