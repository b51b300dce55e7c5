"""MatchExplorer: the pair, both saliency maps, ranked attributes, reference picks, swap and method switches,
driven from Python as the browser drives them; built on the Explorer base (its labels drawn from the shown
explanation's settings, a cancel puts the controls and the pair back)."""

import re
import threading

import pytest
from ipywidgets.widgets.widget import _instances

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument
from xwidgets.core.methods import get_spec
from xwidgets.views.explorer import Explorer

FAST = {"masks": 200}


def _text(html: str) -> str:
    """The text of an HTML line, tags removed."""
    return re.sub(r"<[^>]+>", "", html)


@pytest.fixture(scope="module")
def toy():
    return xw.toy.embedder(), xw.toy.dataset(8, seed=9793).images(), xw.toy.attribute_model()


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
    summary = _text(explorer.summary.value)
    assert "RISE (pair) saliency in" in summary and summary.startswith("#0 against #1 · cosine similarity")
    assert explanation.params["masks"] == 200 and explorer.shown.settings["saliency_method"] == "pair_rise"
    assert explorer.query_view.title == "query #0 · its saliency for the match"


def test_the_summary_line_wraps_only_between_phrases(explorer):
    phrases = re.findall(r'<span class="xw-phrase" style="white-space:nowrap">(.*?)</span>', explorer.summary.value)
    assert len(phrases) == 4 and all("·" not in phrase for phrase in phrases)
    assert " · ".join(_text(p) for p in phrases) == _text(explorer.summary.value)


@pytest.mark.parametrize("method", ["pair_rise", "pair_sliding_window", "pair_mask"])
def test_a_pair_run_reports_progress_before_its_first_slow_pass(toy, method):
    """The bar moves as soon as the pair is embedded, before the method's loop (whose first pass can take
    seconds: a mask run's first backward pass), and the message says what runs."""
    embedder, images, _ = toy
    reports = []

    def record(fraction, message):
        reports.append((fraction, message, embedder.images_forwarded))

    before = embedder.images_forwarded
    params = {"pair_rise": {"masks": 50}, "pair_sliding_window": {}, "pair_mask": {"iterations": 3}}[method]
    get_spec(method).kernel(embedder, images[0:1], reference=images[1:2], progress=record, **params)
    early = [r for r in reports if r[2] - before <= 2]  # only the pair's own two embeddings so far
    assert early and all(fraction > 0 for fraction, _, _ in early), reports[:4]
    assert any("embedding the query and the reference" in message for _, message, _ in early)
    assert reports[len(early)][1] != "" and reports[len(early) - 1][0] >= 0.05


def test_picking_a_reference_swapping_and_attribute_clicks(explorer):
    before = bytes(explorer.reference_view.heatmap)
    explorer.pool_view.select(item="image4")
    explorer.wait()
    assert explorer.reference == 4 == explorer.shown.settings["reference"]
    assert bytes(explorer.reference_view.heatmap) != before
    assert explorer.reference_view.title.startswith("reference #4")
    assert "query" in explorer.pool_view.groups[0]["items"][0]["caption"]
    explorer.attributes_view.select(item=explorer.attributes_view.groups[0]["items"][2]["id"])
    assert explorer.attribute == explorer.explanation.ranking(0, 3)[2]["attribute"]
    assert "attribute" in explorer.query_view.title
    explorer.saliency_button.click()
    assert explorer.attribute is None and "saliency" in explorer.query_view.title
    explorer.swap_button.click()
    explorer.wait()
    assert (explorer.query, explorer.reference) == (4, 0)
    assert (explorer.shown.settings["query"], explorer.shown.settings["reference"]) == (4, 0)
    assert explorer.query_view.title.startswith("query #4")
    assert _text(explorer.summary.value).startswith("#4 against #0")


def test_switching_the_method_rebuilds_its_controls_and_reruns(explorer):
    explorer.method_menu.value = "pair_sliding_window"
    explorer.wait()
    assert set(explorer.method_controls) == set(get_spec("pair_sliding_window").params)
    assert explorer.explanation.saliency_method == "pair_sliding_window"
    explorer.method_controls["stride"].value = 16
    explorer.wait()
    assert explorer.explanation.params["stride"] == 16
    explorer.ranking_controls["rule"].value = "sane"
    explorer.wait()
    explorer.ranking_controls["confidence"].value = "query"
    explorer.wait()
    assert explorer.explanation.params["confidence"] == "query" and explorer.explanation.params["rule"] == "sane"
    assert "+ weight × agreement" in explorer.attributes_view.groups[0]["items"][0]["detail"]
    explorer.method_menu.value = "pair_rise"  # back: the rise values given at construction remain
    explorer.wait()
    assert explorer.explanation.params["masks"] == 200


def test_a_ranking_change_reuses_the_pairs_saliency(explorer):
    before = explorer.embedder.images_forwarded
    explorer.ranking_controls["saliency_weight"].value = 2.0
    explorer.wait()
    assert explorer.embedder.images_forwarded - before <= 4  # the attribute model only, no saliency pass
    assert explorer.steps.hits["saliency"] == 1 and explorer.explanation.params["saliency_weight"] == 2.0


def test_labels_show_the_shown_pair_while_another_runs_and_cancel_puts_everything_back(explorer):
    shown = explorer.explanation
    summary, title = explorer.summary.value, explorer.query_view.title
    explorer.ranking_controls["rule"].value = "sane"
    explorer.wait()
    explorer.method_menu.value = "pair_mask"  # a slow run: 5000 Adam steps, both ways
    explorer.method_controls["iterations"].value = 5000
    explorer.pool_view.select(item="image5")
    assert explorer.running and (explorer.method, explorer.reference) == ("pair_mask", 5)
    assert _text(explorer.summary.value).startswith("#0 against #1") and "RISE (pair)" in explorer.summary.value
    assert explorer.query_view.title == title and explorer.shown.settings["reference"] == 1
    explorer.cancel_button.click()
    assert not explorer.running and explorer.explanation is not shown and explorer.shown.settings["rule"] == "sane"
    assert explorer.method == explorer.method_menu.value == "pair_rise"
    assert set(explorer.method_controls) == set(get_spec("pair_rise").params)
    assert explorer.method_controls["masks"].value == 200 and explorer.ranking_controls["rule"].value == "sane"
    assert (explorer.query, explorer.reference) == (0, 1) and explorer.pool_view.selected_item == "image1"
    assert explorer.summary.value != summary and _text(explorer.summary.value).startswith("#0 against #1")
    assert explorer.progress.bar_style == "success" and "cancelled" in explorer.status.value
    explorer.method_menu.value = "pair_mask"  # the mask's values were remembered when left
    assert explorer.method_controls["iterations"].value == 5000
    explorer.cancel()
    assert explorer.method == "pair_rise" and not explorer.running


def test_the_explorer_is_layout_and_render_on_the_base():
    assert issubclass(xw.MatchExplorer, Explorer) and xw.similarity.MatchExplorer is xw.MatchExplorer
    own = vars(xw.MatchExplorer)
    assert not {"cancel", "wait", "close", "start", "_on_done", "_on_error", "_on_progress"} & set(own)
    assert {"run", "render", "draw_figure"} <= set(own)


def test_the_method_names_from_before_the_registry_still_work(toy):
    embedder, images, attributes = toy
    with pytest.warns(DeprecationWarning, match="pair_sliding_window"):
        view = xw.MatchExplorer(embedder, images, attributes, method="sliding_window", run=False)
    assert view.method == "pair_sliding_window"
    view.close()


def test_figure_and_close_leave_nothing(explorer, tmp_path):
    figure = explorer.figure(tmp_path / "match.png")
    assert (tmp_path / "match.png").stat().st_size > 10_000 and len(figure.axes) == 5
    threads = threading.active_count()
    explorer.close()
    assert threading.active_count() <= threads
    assert explorer.query_view.comm is None and explorer.pool_view.comm is None


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda e, im, a: xw.MatchExplorer(xw.toy.classifier(), im, a), "embedder"),
        (lambda e, im, a: xw.MatchExplorer(e, im, object()), "attribute_model"),
        (lambda e, im, a: xw.MatchExplorer(e, im, a, method="lime"), "method"),
        (lambda e, im, a: xw.MatchExplorer(e, im[:1], a), "at least two images"),
        (lambda e, im, a: xw.MatchExplorer(e, im, a, reference=8), "reference"),
        (lambda e, im, a: xw.MatchExplorer(e, im, a, params={"masks": 0}), "masks"),
        (lambda e, im, a: xw.MatchExplorer(e, im, a, params={"attribute_weight": -1.0}), "attribute_weight"),
    ],
)
def test_bad_input_is_named_and_leaves_nothing(toy, build, message):
    embedder, images, attributes = toy
    before_widgets, before_threads = set(_instances), threading.active_count()
    with pytest.raises(InvalidArgument, match=message):
        build(embedder, images, attributes)
    assert set(_instances) == before_widgets and threading.active_count() == before_threads
