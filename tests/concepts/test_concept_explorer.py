"""ConceptExplorer: bars, cards, gallery and retraining, driven from Python as the browser would drive them."""

import re
import threading

import pytest
import torch

import xwidgets as xw
from xwidgets.concepts import explorer as explorer_module
from xwidgets.core.errors import InvalidArgument, XWidgetsError
from xwidgets.views.explorer import phrase_line

QUICK = {"retries": 0, "epochs": 20}  # refits in these tests only need to finish, not to be good


@pytest.fixture
def toy(toy_model, toy_data, spotwing):
    return toy_model, toy_data, spotwing


@pytest.fixture
def explorer(toy):
    model, data, space = toy
    view = xw.ConceptExplorer(model, data.images(), target="spotwing", space=space, params=QUICK)
    yield view
    view.close()


def heatmap_bytes(view):
    return bytes(view.image_view.heatmap)


def test_bars_cards_and_gallery_show_the_fitted_space(explorer, toy):
    _, _, space = toy
    explanation = explorer.explanation
    assert list(explorer.bars.x) == ["1", "2", "3", "4", "5"]
    assert torch.allclose(torch.tensor(explorer.bars.y, dtype=torch.float32), explanation.contributions[0], atol=1e-6)
    groups = explorer.cards.groups
    assert [g["id"] for g in groups] == [f"concept{k}" for k in range(5)]
    for concept, group in enumerate(groups):
        active = int((space.top_activations[concept] > 0).sum())
        assert len(group["items"]) == active
        assert group["colour"] == xw.concepts.figure.concept_colour(concept)
    assert len(explorer.picker.groups[0]["items"]) == 12
    gap = abs(float(explanation.predictions[0] - explanation.logits[0]))
    assert f"{gap:.2f}" in explorer.summary.value
    assert "R²" in explorer.metrics_text.value


def test_lines_wrap_between_phrases_and_name_their_counts_in_proper_plurals(explorer):
    """Issue 19: "2 attempt(s)" and lines that wrapped inside a phrase ("held-out images: R²" / "0.85")."""
    text = explorer.metrics_text.value
    assert "(s)" not in text and re.search(r"\b1 attempt\b|\b\d+ attempts\b", text)
    for line in (explorer.metrics_text.value, explorer.summary.value):
        for row in line.split("<br>"):
            phrases = re.findall(r'<span class="xw-phrase"[^>]*>(.*?)</span>', row)
            assert phrases and row == phrase_line(*phrases, escape=False)  # each phrase kept on one line
    assert "Σ z × w" in explorer.summary.value  # no "·" inside a phrase (it separates them)


def test_the_contribution_axis_spans_every_bar_with_room_to_spare():
    low, high = explorer_module._value_range([1.5, 4.4, -0.6, 0.0])
    assert low == pytest.approx(-0.6 - 0.12 * 5.0) and high == pytest.approx(4.4 + 0.12 * 5.0)
    assert explorer_module._value_range([0.0, 2.0]) == (0.0, pytest.approx(2.24))
    assert explorer_module._value_range([-1.0, -3.0]) == (pytest.approx(-3.36), 0.0)


def test_the_chart_reads_at_a_glance(explorer):
    space_low, space_high = explorer._y.min, explorer._y.max
    values = list(explorer.bars.y)
    assert space_low <= min([*values, 0.0]) and space_high > max(values)
    for axis in explorer.chart.axes:
        assert int(axis.tick_style["font-size"].removesuffix("px")) >= 11
    ticks = list(explorer._value_axis.tick_values)
    assert 2 <= len(ticks) <= 5 and space_low <= ticks[0] and ticks[-1] <= space_high
    assert explorer.cancel_button.description == "cancel training" and explorer.cancel_button.layout.width != "138px"


def test_the_gallery_defaults_to_the_images_the_model_scores_highest(explorer, toy):
    model, data, space = toy
    scores = space.features.logits[:, space.target]
    best = scores.topk(12).indices.tolist()
    assert sum(data.samples[i].species == space.target for i in best) >= 10
    assert torch.allclose(explorer._gallery[0], model.prepare(data.images()[best[0]])[0])


def test_clicking_a_bar_or_a_card_selects_the_concept(explorer):
    active = [c for c in range(5) if float(explorer.explanation.activations[0, c]) > 0]
    assert active, "the fixture's space should have an active concept on the first image"
    before = heatmap_bytes(explorer)
    other = next(c for c in range(5) if c != explorer.concept)
    explorer.bars.selected = [other]  # a click in the bar chart
    assert explorer.concept == other
    assert explorer.cards.selected_group == f"concept{other}"
    assert explorer.image_view.title.startswith(f"concept {other + 1}:")
    if float(explorer.explanation.activations[0, other]) > 0 or explorer.concept in active:
        assert heatmap_bytes(explorer) != before
    explorer.cards.select(group="concept0")  # a click on a card
    assert explorer.concept == 0 and list(explorer.bars.selected) == [0]


def test_picking_an_image_explains_it(explorer):
    first = explorer.explanation
    explorer.picker.select(item="image5")
    assert explorer.image_index == 5
    assert not torch.equal(explorer.explanation.images, first.images)
    assert f"{float(explorer.explanation.logits[0]):.2f}" in explorer.summary.value


def test_changing_k_retrains_from_the_cached_features(explorer, monkeypatch):
    calls = []
    real = xw.concepts.space.extract_features
    monkeypatch.setattr(xw.concepts.space, "extract_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    progress = []
    explorer.progress.observe(lambda change: progress.append(change["new"]), names="value")
    explorer.controls["k"].value = 2
    explorer.wait(120)
    assert calls == []
    assert explorer.space.k == 2 and list(explorer.bars.x) == ["1", "2"]
    assert len(explorer.cards.groups) == 2
    assert progress[-1] == 1.0 and any(0.0 < p < 1.0 for p in progress)
    assert explorer.progress.bar_style == "success"


def test_cancel_keeps_the_previous_fit(explorer):
    space = explorer.space
    explorer.controls["alpha_pt"].value = 4.0
    explorer.cancel()
    explorer.runner.job.wait(60)
    assert explorer.space is space
    assert "cancelled" in explorer.status.value
    assert explorer.runner.job.status == "cancelled"


def test_fitting_from_scratch_and_figure(toy, tmp_path):
    model, data, _ = toy
    before = threading.active_count()
    view = xw.ConceptExplorer(model, data.images(), target="spotwing", params={**QUICK, "k": 3}, seed=1)
    with pytest.raises(XWidgetsError):
        view.select_concept(0) if view.space is None else (_ for _ in ()).throw(XWidgetsError("raced"))
    view.wait(120)
    assert view.space is not None and view.space.k == 3
    figure = view.figure(tmp_path / "concepts.pdf")
    assert (tmp_path / "concepts.pdf").stat().st_size > 1000
    assert len(figure.axes) == 2 + 3
    view.close()
    assert threading.active_count() <= before


def test_bad_arguments_raise_and_leave_nothing_behind(toy):
    model, data, space = toy
    before = threading.active_count()
    cases = [
        (dict(model=xw.toy.embedder()), "model"),
        (dict(params=[1]), "params"),
        (dict(params={"k": 0}), "k"),
        (dict(params={"nope": 1}), "nope"),
        (dict(space="space"), "space"),
        (dict(seed=1.5), "seed"),
        (dict(images=[]), "images"),
    ]
    for overrides, argument in cases:
        arguments = dict(model=model, images=data.images(), target="spotwing", space=space, run=False)
        arguments.update(overrides)
        with pytest.raises(InvalidArgument) as error:
            xw.ConceptExplorer(arguments.pop("model"), arguments.pop("images"), **arguments)
        assert error.value.argument == argument
    assert threading.active_count() == before


def test_select_checks_its_arguments(explorer):
    with pytest.raises(InvalidArgument, match="concept"):
        explorer.select_concept(5)
    with pytest.raises(InvalidArgument, match="index"):
        explorer.select_image(12)


def test_close_stops_the_runner_and_closes_children(toy):
    model, data, space = toy
    view = xw.ConceptExplorer(model, data.images(), target="spotwing", space=space, params=QUICK)
    view.controls["k"].value = 2  # a fit is running
    view.close()
    assert view.runner.job.done
    assert view.cards.comm is None and view.image_view.comm is None and view.bars.comm is None
    assert explorer_module.ConceptExplorer is xw.ConceptExplorer


def test_cancel_puts_k_back_to_the_fit_shown_and_fills_the_bar(explorer):
    """Issue 18: after "cancel training" the k slider read 4 while the chart showed the k = 3 fit, and the progress
    bar stayed where the cancelled run left it."""
    space = explorer.space
    explorer.controls["k"].value = 4
    job = explorer.runner.job
    explorer.cancel()
    job.wait(60)
    assert explorer.controls["k"].value == space.k == 5 and explorer.space is space
    assert list(explorer.bars.x) == ["1", "2", "3", "4", "5"] and "k = 5" in explorer.metrics_text.value
    assert explorer.progress.value == 1.0 and explorer.progress.bar_style == "success"
    assert explorer.cancel_button.disabled and explorer.shown.settings["k"] == 5


def test_the_explorer_is_layout_and_render_on_the_explorer_base():
    from xwidgets.views.explorer import Explorer

    assert issubclass(xw.ConceptExplorer, Explorer) and xw.concepts.ConceptExplorer is xw.ConceptExplorer
    own = set(vars(xw.ConceptExplorer))
    assert not {"wait", "cancel", "close", "start", "_on_done", "_on_error", "_on_progress"} & own
