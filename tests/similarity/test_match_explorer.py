"""MatchExplorer: the pair, both saliency maps, ranked attributes, reference picks, swap and method switches,
driven from Python as the browser drives them."""

import threading

import pytest
from ipywidgets.widgets.widget import _instances

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument

FAST = {"masks": 200}


@pytest.fixture(scope="module")
def toy():
    return xw.toy.embedder(), xw.toy.dataset(8, seed=9793).images(), xw.similarity.toy_attribute_model()


@pytest.fixture
def explorer(toy):
    embedder, images, attributes = toy
    view = xw.MatchExplorer(embedder, images, attributes, query=0, reference=1, params=FAST)
    view.wait()
    yield view
    view.close()


def test_both_sides_and_the_ranked_attributes_are_shown(explorer):
    explanation = explorer.explanation
    assert bytes(explorer.query_view.heatmap) and bytes(explorer.reference_view.heatmap)
    assert explanation.saliency.shape == (1, 1, 112, 112) and explanation.reference_saliency.shape == (1, 1, 112, 112)
    items = explorer.attributes_view.groups[0]["items"]
    ranking = explanation.ranking(0, 5)
    assert [item["caption"] for item in items] == [f"{i}. {r['phrase']}" for i, r in enumerate(ranking, start=1)]
    assert "cosine similarity" in explorer.summary.value and ranking[0]["phrase"] in explorer.summary.value
    assert explorer.status.value.startswith("RISE in") and explorer.runs_finished == 1
    assert explanation.params["masks"] == 200


def test_picking_a_reference_swapping_and_attribute_clicks(explorer):
    before = bytes(explorer.reference_view.heatmap)
    explorer.pool_view.select(item="image4")
    explorer.wait()
    assert explorer.reference == 4 and bytes(explorer.reference_view.heatmap) != before
    assert explorer.reference_view.title.startswith("reference #4")
    assert "query" in [i["caption"] for i in explorer.pool_view.groups[0]["items"]][0]
    explorer.attributes_view.select(item=explorer.attributes_view.groups[0]["items"][2]["id"])
    assert explorer.attribute == explorer.explanation.ranking(0, 3)[2]["attribute"]
    assert "attribute" in explorer.query_view.title
    explorer.saliency_button.click()
    assert explorer.attribute is None and "saliency" in explorer.query_view.title
    explorer.swap_button.click()
    explorer.wait()
    assert (explorer.query, explorer.reference) == (4, 0) and explorer.runs_finished == 3


def test_switching_the_method_rebuilds_its_controls_and_reruns(explorer):
    explorer.method_menu.value = "sliding_window"
    explorer.wait()
    assert set(explorer.method_controls) == set(xw.similarity.PAIR_PARAMS["sliding_window"])
    assert explorer.explanation.saliency_method == "sliding_window"
    explorer.method_controls["stride"].value = 16
    explorer.wait()
    assert explorer.explanation.params["stride"] == 16
    explorer.match_controls["rule"].value = "sane"
    explorer.wait()
    explorer.match_controls["confidence"].value = "query"
    explorer.wait()
    assert explorer.explanation.params["confidence"] == "query" and explorer.explanation.params["rule"] == "sane"
    assert "+ weight × agreement" in explorer.attributes_view.groups[0]["items"][0]["detail"]
    explorer.method_menu.value = "rise"                    # back: the rise values given at construction remain
    explorer.wait()
    assert explorer.explanation.params["masks"] == 200


def test_figure_and_close_leave_nothing(explorer, tmp_path):
    figure = explorer.figure(tmp_path / "match.png")
    assert (tmp_path / "match.png").stat().st_size > 10_000 and len(figure.axes) == 5
    threads = threading.active_count()
    explorer.close()
    assert threading.active_count() <= threads
    assert explorer.query_view.comm is None and explorer.pool_view.comm is None


@pytest.mark.parametrize("build, message", [
    (lambda e, im, a: xw.MatchExplorer(xw.toy.classifier(), im, a), "embedder"),
    (lambda e, im, a: xw.MatchExplorer(e, im, object()), "attribute_model"),
    (lambda e, im, a: xw.MatchExplorer(e, im, a, method="lime"), "method"),
    (lambda e, im, a: xw.MatchExplorer(e, im[:1], a), "at least two images"),
    (lambda e, im, a: xw.MatchExplorer(e, im, a, reference=8), "reference"),
    (lambda e, im, a: xw.MatchExplorer(e, im, a, params={"masks": 0}), "masks"),
    (lambda e, im, a: xw.MatchExplorer(e, im, a, params={"attribute_weight": -1.0}), "attribute_weight"),
])
def test_bad_input_is_named_and_leaves_nothing(toy, build, message):
    embedder, images, attributes = toy
    before_widgets, before_threads = set(_instances), threading.active_count()
    with pytest.raises(InvalidArgument, match=message):
        build(embedder, images, attributes)
    assert set(_instances) == before_widgets and threading.active_count() == before_threads
