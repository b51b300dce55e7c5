"""SAGExplorer without a browser: the graph, patch toggling with live scores, node clicks, controls, figure, errors;
labels drawn from the state they belong to after a target switch or a cancel."""

import inspect
import threading

import pytest
import torch
from either_model import A, B, centre

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument
from xwidgets.sag import SAGExplorer


def _click(view, x, y):
    view._on_custom_message(view, {"event": "click", "x": x, "y": y}, [])


def _select(view, node_id):
    view._handle_msg(
        {"content": {"data": {"method": "update", "state": {"selected": node_id}, "buffer_paths": []}}, "buffers": []}
    )


def test_graph_shows_both_roots_and_patch_clicks_rescore(either):
    model, image = either
    explorer = SAGExplorer(model, image).wait()
    try:
        view_ids = [n["id"] for n in explorer.graph_view.nodes]
        assert view_ids == [n["id"] for n in explorer.result.nodes[0]] and len(view_ids) == 2
        assert "P8" in explorer.dnf_text.value and "P40" in explorer.dnf_text.value
        assert all(n["label"].endswith("%") for n in explorer.graph_view.nodes)
        # everything shown: the full image's score
        explorer.set_visible(range(49))
        full = explorer.wait_score()
        assert full == pytest.approx(float(torch.softmax(model.forward(image[None]), 1)[0, 1]), abs=1e-5)
        # hide A by clicking it: B alone still carries the decision
        _click(explorer.image_view, centre(A)[1], centre(A)[0])
        assert A not in explorer.visible and explorer.wait_score() > 0.9 * full
        # hide B as well: nothing is left
        _click(explorer.image_view, centre(B)[1], centre(B)[0])
        assert explorer.wait_score() < 0.1 and "of the full image" in explorer.score_text.value
        # clicking a graph node loads its patches
        root = explorer.result.nodes[0][0]
        _select(explorer.graph_view, root["id"])
        assert explorer.visible == sorted(root["patches"])
        assert explorer.wait_score() == pytest.approx(root["score"], abs=1e-5)
    finally:
        explorer.close()


def test_controls_rerun_and_cancel_and_figure(either, tmp_path):
    model, image = either
    explorer = SAGExplorer(model, image).wait()
    try:
        first = explorer.result
        explorer.controls["max_roots"].value = 1
        explorer.wait()
        assert explorer.result is not first and len(explorer.result.roots[0]) == 1
        assert explorer.result.params["max_roots"] == 1
        explorer.controls["grid"].value = 4
        assert explorer.visible == list(range(16))
        explorer.wait()
        assert explorer.result.params["grid"] == 4
        figure = explorer.figure(tmp_path / "sag.pdf")
        assert (tmp_path / "sag.pdf").read_bytes()[:4] == b"%PDF" and len(figure.axes) == len(explorer.result.nodes[0])
    finally:
        explorer.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("xwidgets-") and t.is_alive()]


def test_toy_explorer_streams_roots_and_closes(toy_model, toy_images):
    explorer = SAGExplorer(toy_model, toy_images[0], params={"max_roots": 3, "baseline": "blur"})
    try:
        explorer.wait(300)
        assert explorer.result.params["baseline"] == "blur"
        assert len(explorer.graph_view.nodes) >= 1 and explorer.progress.bar_style == "success"
        assert "forward passes" in explorer.summary_text.value
    finally:
        explorer.close()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"params": {"grid": 99}}, "grid"),
        ({"params": {"beam": 3}}, "unknown parameter"),
        ({"target": 7}, "target"),
        ({"target": "bird"}, "target"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_input(either, kwargs, message):
    model, image = either
    with pytest.raises(InvalidArgument, match=message):
        SAGExplorer(model, image, run=False, **kwargs)


def test_bad_model_and_images(either):
    model, image = either
    with pytest.raises(InvalidArgument, match="model"):
        SAGExplorer(torch.nn.Identity(), image)
    with pytest.raises(InvalidArgument, match="image"):
        SAGExplorer(model, torch.stack([image, image]))
    explorer = SAGExplorer(model, image, run=False)
    with pytest.raises(InvalidArgument, match="patches"):
        explorer.set_visible([49])
    explorer.close()
    assert isinstance(xw.sag.SAGExplorer, type)


# ---------------------------------------------------------------------- defaults from the model's pass time
def test_the_search_count_bounds_a_search_that_runs_every_level(either):
    from xwidgets.sag import SAG_PARAMS
    from xwidgets.sag.cost import search_images

    model, image = either
    result = xw.explain(model, image, method="sag", progress=False)
    bound = search_images(SAG_PARAMS.resolve({}))
    assert bound == 1860  # 15 + 34 levels of 3 × 15 + 3 × (14 + 13 + … + 1)
    assert result.stats["levels"] >= 45 and 0.9 * bound <= result.stats["scored_sets"] <= bound


def test_a_slow_model_waits_for_the_search_button_and_says_why(either, sleepy):
    from xwidgets.core.cost import format_seconds
    from xwidgets.sag.explorer import SEARCH_BUDGET

    model, image = either
    slow = xw.Classifier(sleepy(model.module, 0.02).eval(), labels=model.labels)
    explorer = SAGExplorer(slow, image)
    try:
        assert explorer.runner.job is None and explorer.estimate() > SEARCH_BUDGET
        assert "Not started" in explorer.status.value and "all 49 beam levels" in explorer.status.value
        assert format_seconds(explorer.estimate()) in explorer.estimate_text.value
        explorer.controls["grid"].value = 3  # at most 117 sets: quick enough to start by itself
        assert explorer.estimate() <= SEARCH_BUDGET and explorer.runner.job is not None
        explorer.wait()
        assert explorer.result.params["grid"] == 3 and explorer.graph_view.nodes
        explorer.controls["grid"].value = 7  # long again: the stale graph goes, and it waits
        assert "Not started" in explorer.status.value and explorer.graph_view.nodes == []
        explorer.search_button.click()
        job = explorer.runner.job
        assert not job.done and explorer.status.value.startswith("searching… (longest ≈ ")
    finally:
        explorer.close()
    assert job.status == "cancelled"


def test_the_toy_model_starts_searching_at_once(toy_model, toy_images):
    from xwidgets.sag.explorer import SEARCH_BUDGET

    explorer = SAGExplorer(toy_model, toy_images[0], params={"max_roots": 3})
    try:
        assert explorer.runner.job is not None and explorer.estimate() < SEARCH_BUDGET / 3  # measured 3.5 to 6.4 s
        assert inspect.signature(SAGExplorer.wait).parameters["timeout"].default is None
    finally:
        explorer.close()


# ---------------------------------------------------------------------------- one state, one view (issue 18)
def test_a_target_switch_rescores_the_patches_for_the_new_target(either):
    model, image = either
    explorer = SAGExplorer(model, image).wait()
    try:
        explorer.wait_score()
        assert "p(either) = <b>" in explorer.score_text.value
        explorer.target_selector.value = 0  # a click on the "neither" button
        assert "p(neither) = " in explorer.score_text.value and "p(either)" not in explorer.score_text.value
        score = explorer.wait_score()
        explorer.wait()
        full = float(torch.softmax(model.forward(image[None]), 1)[0, 0])
        assert score == pytest.approx(full, abs=1e-5) and f"p(neither) = <b>{full:.3f}</b>" in explorer.score_text.value
        assert explorer.patch_score.settings["target"] == 0 and explorer.result.target["classes"] == [0]
        assert explorer.dnf_text.value.startswith("<b>neither</b>")
        assert explorer.figure().get_suptitle().startswith("neither · ")
    finally:
        explorer.close()


def test_class_names_are_targets_and_the_picker_selects_them(either):
    model, image = either
    explorer = SAGExplorer(model, image, target="neither", run=False)
    try:
        assert explorer.target_selector.value == 0 and explorer.settings["target"] == 0
        assert explorer.wait_score() is not None and "p(neither)" in explorer.score_text.value
    finally:
        explorer.close()


def test_cancel_puts_the_controls_back_to_the_graph_shown(toy_model, toy_images):
    explorer = SAGExplorer(toy_model, toy_images[0], params={"max_roots": 3}).wait()
    try:
        shown = explorer.result
        explorer.controls["max_roots"].value = 2
        explorer.cancel()
        assert explorer.controls["max_roots"].value == 3 and explorer.result is shown
        assert explorer.progress.value == 1.0 and "cancelled" in explorer.status.value
        assert explorer.settings == {**explorer.shown.settings}
    finally:
        explorer.close()


def test_graph_controls_redraw_from_the_roots_found(either):
    model, image = either
    explorer = SAGExplorer(model, image).wait()
    try:
        first = explorer.result
        explorer.controls["shown_roots"].value = 1
        explorer.wait()
        assert explorer.steps.hits == {"search": 1} and explorer.result.roots == first.roots
        assert len(explorer.result.shown[0]) == 1 and len(explorer.graph_view.nodes) < len(first.nodes[0])
    finally:
        explorer.close()


def test_the_explorer_is_layout_and_render_on_the_explorer_base():
    from xwidgets.views.explorer import Explorer

    assert issubclass(SAGExplorer, Explorer) and xw.SAGExplorer is SAGExplorer
    own = vars(SAGExplorer)
    assert not {"wait", "cancel", "close", "start", "_on_done", "_on_error", "_on_progress"} & set(own)


def test_current_is_the_shown_result_and_refuses_before_the_first_run(either):
    model, image = either
    explorer = SAGExplorer(model, image, run=False)
    try:
        with pytest.raises(xw.XWidgetsError, match="no result yet"):
            _ = explorer.current
        with pytest.raises(xw.XWidgetsError, match="nothing to draw yet"):
            explorer.figure()
        explorer.run()
        explorer.wait()
        assert explorer.current is explorer.shown and explorer.current.value is explorer.result
    finally:
        explorer.close()
