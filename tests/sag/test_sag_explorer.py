"""SAGExplorer without a browser: the graph, patch toggling with live scores, node clicks, controls, figure, errors;
labels drawn from the state they belong to after a target switch or a cancel."""

import inspect
import re
import threading

import pytest
import torch
from either_model import A, B, centre

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument
from xwidgets.sag import SAGExplorer


def _click(explorer, x, y):
    """A click on input pixel (x, y), in the editor's enlarged image (``editor_scale`` times the input)."""
    scale, view = explorer.editor_scale, explorer.image_view
    view._on_custom_message(view, {"event": "click", "x": x * scale + scale // 2, "y": y * scale + scale // 2}, [])


def _text(markup):
    """What an HTML label reads, without its tags."""
    return re.sub(r"<[^>]+>", "", markup)


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
        _click(explorer, centre(A)[1], centre(A)[0])
        assert A not in explorer.visible and explorer.wait_score() > 0.9 * full
        # hide B as well: nothing is left
        _click(explorer, centre(B)[1], centre(B)[0])
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
        assert not job.done and _text(explorer.status.value).startswith("searching… (longest ≈ ")
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
        assert explorer.dnf_text.value.startswith("<b><bdi>neither</bdi></b>")  # the class name isolated
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


# ------------------------------------------------------------------------------- readable at a glance (issue 19)
def _editor_pixels(explorer):
    """The editor's image as the browser gets it: ``[H, W, 3]`` uint8 decoded from the PNG bytes."""
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(explorer.image_view.image)).convert("RGB")).astype(int)


def test_the_editor_numbers_the_patches_and_outlines_a_hovered_node(either):
    from xwidgets.sag.explorer import EDITOR_WIDTH
    from xwidgets.sag.patch_grid import OUTLINE_COLOUR, patch_cells

    model, image = either
    explorer = SAGExplorer(model, image).wait()
    try:
        scale = explorer.editor_scale
        assert scale == 10 and explorer.image_view.width == 56 * scale >= 2 * EDITOR_WIDTH  # crisp numbers
        numbered = _editor_pixels(explorer)
        explorer.numbers.value = False
        plain = _editor_pixels(explorer)
        assert 0.02 < (abs(numbered - plain).max(-1) > 24).mean() < 0.5
        explorer.numbers.value = True
        assert (_editor_pixels(explorer) == numbered).all()
        # hovering a graph node outlines its patches, and only those
        root = explorer.result.nodes[0][0]
        explorer.graph_view.hovered = root["id"]
        blue = (abs(_editor_pixels(explorer) - OUTLINE_COLOUR[:3]) < 30).all(-1)
        cells = [patch_cells((56, 56), 7, "bilinear")[p] for p in root["patches"]]
        ys, xs = blue.nonzero()
        assert len(xs) > 100
        assert xs.min() >= min(c[0] for c in cells) * scale - 4 and xs.max() <= max(c[2] for c in cells) * scale + 4
        assert ys.min() >= min(c[1] for c in cells) * scale - 4 and ys.max() <= max(c[3] for c in cells) * scale + 4
        explorer.graph_view.hovered = ""
        assert (_editor_pixels(explorer) == numbered).all()
    finally:
        explorer.close()


def test_status_lines_wrap_between_phrases_and_count_in_words(either):
    from xwidgets.sag.explorer import _count
    from xwidgets.sag.graph import EDGE_COLOURS, NODE_COLOURS

    model, image = either
    explorer = SAGExplorer(model, image).wait()
    try:
        phrase = r'<span class="xw-phrase" style="white-space:nowrap">([^<]*)</span>'
        summary = re.findall(phrase, explorer.summary_text.value)
        assert len(summary) == 3 and summary[0].startswith("SAG: ") and summary[1].endswith("forward passes")
        assert re.fullmatch(r"\d+ beam levels?", summary[2]), summary
        assert re.findall(phrase, explorer.dnf_text.value) == ["2 roots", "2 diverse shown"]
        assert re.findall(phrase, explorer.estimate_text.value)[1] == "on this CPU"
        assert all("(s)" not in text.value for text in (explorer.summary_text, explorer.dnf_text, explorer.status))
        # the legend shows every frame and edge colour, with what it means
        legend = explorer.legend.value
        assert all(colour in legend for colour in NODE_COLOURS + EDGE_COLOURS)
        assert all(word in _text(legend) for word in ("Frame", "over 90 %", "Arrow", "−P17", "60 or more", "roots"))
        assert [_count(1, "root"), _count(3, "root"), _count(1, "forward pass", "forward passes")] == [
            "1 root",
            "3 roots",
            "1 forward pass",
        ]
    finally:
        explorer.close()


def test_the_graph_keeps_its_size_and_scrolls(either):
    model, image = either
    explorer = SAGExplorer(model, image, run=False, thumbnail_size=96, graph_width=400, graph_height=300)
    try:
        view = explorer.graph_view
        assert (view.thumbnail_size, view.display_width, view.display_height) == (96, 400, 300)
        defaults = SAGExplorer(model, image, run=False)
        assert (defaults.graph_view.thumbnail_size, defaults.graph_view.display_width) == (80, None)
        assert defaults.graph_view.display_height == 660
        defaults.close()
    finally:
        explorer.close()
