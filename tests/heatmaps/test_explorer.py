"""HeatmapExplorer without a browser: runs, streaming, cancellation, cached panels, linked curves and scrubbing, labels
drawn from the shown state, figures, errors."""

import inspect
import re
import threading
import time

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget import _instances
from matplotlib.legend import Legend

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument, XWidgetsError
from xwidgets.heatmaps import HeatmapExplorer
from xwidgets.heatmaps.explorer import Throttle, change_window
from xwidgets.toy import ToyWorld


@pytest.fixture(scope="module")
def toy():
    return xw.toy.classifier(), ToyWorld().samples(2, seed=9600)


@pytest.fixture
def explorer(toy):
    model, samples = toy
    created = HeatmapExplorer(model, samples[0].image, compare="gradcam", params={"iterations": 4, "ig_steps": 8})
    created.wait()
    yield created
    created.close()


def test_runs_both_panels_and_links_view_chart_and_status(explorer):
    igos_panel, gradcam_panel = explorer.panels
    assert igos_panel.result.method == "igos" and gradcam_panel.result.method == "gradcam"
    for index, panel in enumerate(explorer.panels):
        assert np.allclose(panel.view.values, panel.result.saliency[0, 0].numpy(), atol=1e-6)
        assert np.allclose(explorer._insertion[index].y, panel.curves.insertion[0].numpy())
        assert np.allclose(explorer._deletion[index].y, panel.curves.deletion[0].numpy())
        assert f"{float(panel.curves.insertion_auc[0]):.3f}" in panel.status.value
        assert f"{panel.spec.title} insertion, AUC {float(panel.curves.insertion_auc[0]):.3f}" in explorer.legend.value
    assert explorer.progress.value == 1.0 and explorer.status.value == ""
    assert igos_panel.result.params["iterations"] == 4
    assert igos_panel.controls["resolution"].max == 112  # the slider stops at the image side
    top1 = int(explorer.model(explorer.pixels).argmax())
    assert explorer.target_selector.value == top1 and len(explorer.target_selector.options) == 5


def test_scrubbing_shows_the_scored_perturbation(explorer):
    steps = explorer.panels[0].curves.fractions.numel() - 1
    assert explorer.scrub.max == steps == 50
    start = explorer.scrub_view._pixels.clone()
    explorer.scrub.value = 0
    assert torch.allclose(explorer.scrub_view._pixels, explorer.pixels[0].cpu(), atol=1 / 255)
    explorer.scrub.value = 10
    deleted = explorer.scrub_view._pixels.clone()
    assert "20% deleted" in explorer.scrub_view.title and not torch.equal(deleted, start)
    assert float(np.mean(explorer._selector.selected)) == pytest.approx(0.2, abs=2e-3)  # the one cursor
    # the scrubbed image is the one the curve scored: the model gives the curve's value on it
    score = float(explorer.model(deleted[None]).softmax(1)[0, explorer.target_selector.value])
    assert score == pytest.approx(float(explorer.panels[0].curves.deletion[0, 10]), abs=2e-2)
    explorer.scrub_curve.value = "insertion"
    assert "20% inserted" in explorer.scrub_view.title
    explorer._selector.selected = np.array([0.098, 0.102])  # the pointer over the chart drives the slider
    _wait_until(lambda: explorer.scrub.value == 5)
    explorer.scrub_panel.value = 1
    assert explorer.scrub_view.title.startswith("Grad-CAM")


def _wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_hovering_is_throttled_and_the_last_position_wins(explorer, monkeypatch):
    """A sweep of the pointer (one selection per mouse event) sends a few perturbed images, not one per event,
    and ends on the step under the pointer; the cursor stays where the pointer drew it."""
    sent = []
    set_data = explorer.scrub_view.set_data
    monkeypatch.setattr(explorer.scrub_view, "set_data", lambda **data: (sent.append(1), set_data(**data)))
    start = time.monotonic()
    positions = np.linspace(0.0, 0.2, 41)
    for x in positions:
        explorer._selector.selected = np.array([x - 0.0015, x + 0.0015])
        time.sleep(0.002)
    elapsed = time.monotonic() - start
    _wait_until(lambda: "20% deleted" in explorer.scrub_view.title)  # the last step, applied by the timer
    assert explorer.scrub.value == 10 and not explorer._hover.pending
    assert 1 <= len(sent) <= elapsed / xw.heatmaps.explorer.HOVER_INTERVAL + 2 < len(positions)
    assert explorer._selector.selected.tolist() == pytest.approx([0.2 - 0.0015, 0.2 + 0.0015])


def test_the_chart_zooms_to_where_the_curves_change(explorer):
    assert explorer.x_range == (0.0, 0.2)  # a confident class: the curves settle after 4 % of the pixels
    assert explorer._x_axis.label == "pixels inserted / deleted (the first 20%)"
    explorer.scrub.value = 30  # 60 %: past the zoomed range, the cursor is hidden
    assert explorer._selector.selected is None and "60% deleted" in explorer.scrub_view.title
    explorer.zoom.value = False
    assert explorer.x_range == (0.0, 1.0) and explorer._x_axis.label == "pixels inserted / deleted"
    assert float(np.mean(explorer._selector.selected)) == pytest.approx(0.6, abs=2e-3)
    explorer.zoom.value = True
    assert explorer.x_range == (0.0, 0.2) and explorer._selector.selected is None


def test_change_window_picks_the_range_where_curves_change():
    fractions = torch.linspace(0, 1, 51)
    drop = torch.cat([torch.tensor([1.0, 0.3]), torch.full((49,), 0.05)])  # settles after 2 % of the pixels
    assert change_window(fractions, [drop, 1 - drop]) == 0.2  # at least 8 steps shown
    late = (1 - fractions).clamp(min=0.2)  # changes until 80 %
    assert change_window(fractions, [drop, late]) == 1.0
    middle = torch.where(fractions < 0.25, 1.0, 0.0)  # a step at 25 %: 1.5 x 0.26 → the next end, 0.5
    assert change_window(fractions, [middle]) == 0.5
    assert change_window(fractions, [torch.full((51,), 0.4)]) == 1.0  # flat: nothing to zoom to
    assert change_window(torch.linspace(0, 1, 5), [torch.tensor([1.0, 0, 0, 0, 0])]) == 1.0  # few steps


def test_throttle_applies_the_first_value_at_once_and_the_last_after_the_interval():
    applied = []
    throttle = Throttle(0.2, applied.append)
    throttle(1)
    throttle(2)
    throttle(3)
    assert applied == [1] and throttle.pending
    _wait_until(lambda: applied == [1, 3])
    assert not throttle.pending
    throttle(4)  # within the interval of the last apply: waits, then is dropped by cancel
    throttle.cancel()
    time.sleep(0.3)
    assert applied == [1, 3] and not throttle.pending


def test_controls_have_readable_labels_and_useful_slider_spans(toy):
    model, samples = toy
    explorer = HeatmapExplorer(
        model, samples[0].image, method="igos", params={"iterations": 100}, compare="rise", run=False
    )
    try:
        igos, rise = (panel.controls for panel in explorer.panels)
        assert igos["alpha"].description == "step size (alpha)" and igos["alpha"].tooltip.startswith("alpha: ")
        assert "alpha" in explorer.panels[0].params  # the kernel keyword is unchanged
        assert (igos["iterations"].min, igos["iterations"].max) == (1, 100)  # 1-60, widened to the given 100
        assert isinstance(igos["alpha"], widgets.FloatLogSlider) and 10 ** igos["alpha"].max == pytest.approx(1e4)
        assert (rise["masks"].min, rise["masks"].max, rise["masks"].step) == (100, 8000, 100)
        assert len({control.style.description_width for control in igos.values()}) == 1  # one column of labels
    finally:
        explorer.close()


def test_mask_streams_while_optimising_and_a_new_value_cancels_the_stale_run(toy):
    model, samples = toy
    explorer = HeatmapExplorer(model, samples[0].image, params={"iterations": 6, "ig_steps": 6}, run=False)
    panel = explorer.panels[0]
    drawn = []
    panel.view.observe(lambda change: drawn.append(change["new"]), names="heatmap")
    explorer.run()
    stale = explorer.runner.job
    panel.controls["iterations"].value = 3  # a new slider value: the running job is cancelled
    explorer.wait()
    assert stale.wait(10) and stale.status == "cancelled"
    assert panel.result.params["iterations"] == 3 and explorer.runner.job.status == "done"
    assert len(drawn) >= 2  # streamed masks before the final map
    explorer.close()


def test_target_and_method_selection_rerun(explorer):
    panel = explorer.panels[1]
    second = explorer.target_selector.options[1][1]
    explorer.target_selector.value = second
    explorer.wait()
    assert panel.result.target["classes"] == [second] and explorer.panels[0].result.target["classes"] == [second]
    assert explorer.panels[0].params["iterations"] == 4  # the controls kept their values
    panel.method_selector.value = "occlusion"
    explorer.wait()
    assert panel.result.method == "occlusion" and set(panel.controls) == {"window", "stride", "baseline"}
    assert panel.accordion.get_title(0) == "Occlusion parameters"
    panel.controls["window"].value = 32
    explorer.wait()
    assert panel.result.params["window"] == 32


def test_errors_from_a_run_are_shown_not_raised_in_the_kernel(toy):
    model, samples = toy
    explorer = HeatmapExplorer(model, samples[0].image, method="occlusion", params={"window": 200})
    with pytest.raises(InvalidArgument, match="window"):
        explorer.wait()
    panel = explorer.panels[0]
    assert "window" in explorer.status.value and explorer.progress.bar_style == "danger"
    panel.controls["window"].value = 24
    explorer.wait()
    assert explorer.error is None and panel.result.params["window"] == 24
    explorer.close()


def test_figure_matches_the_view_and_saves_pdf_svg_png(explorer, tmp_path):
    view = explorer.panels[0].view
    view.colormap, view.alpha, view.threshold = "magma", 0.8, 0.3
    figure = explorer.figure()
    images = [axis.images[0].get_array() for axis in figure.axes if axis.images]
    assert len(images) == 2
    expected = xw.figures.blend(
        explorer.pixels[0].permute(1, 2, 0).numpy(),
        explorer.panels[0].result.saliency[0, 0].numpy(),
        colormap="magma",
        alpha=0.8,
        threshold=0.3,
        mode=view.mode,
    )
    assert np.allclose(np.asarray(images[0]), expected)
    deletion, insertion = (axis for axis in figure.axes if axis.get_title().startswith(("deletion", "insertion")))
    assert len(deletion.lines) == len(insertion.lines) == 2  # one line per panel's method in each curve panel
    legend = [text.get_text() for legend in figure.findobj(Legend) for text in legend.get_texts()]
    assert [entry.split(":")[0] for entry in legend] == ["I-GOS", "Grad-CAM"]
    for suffix in ("pdf", "svg", "png"):
        path = explorer.figure(tmp_path / f"explorer.{suffix}")
        assert path is not None
    assert (tmp_path / "explorer.pdf").read_bytes().startswith(b"%PDF")
    svg = (tmp_path / "explorer.svg").read_text()
    assert ">I-GOS · " in svg  # text stays text (svg.fonttype none)
    assert (tmp_path / "explorer.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(InvalidArgument, match="path"):
        explorer.figure(tmp_path / "explorer.jpg")


def test_embedder_with_a_similarity_target(toy):
    _, samples = toy
    embedder = xw.toy.embedder()
    target = xw.similarity_to(embedder, samples[1].image)
    explorer = HeatmapExplorer(embedder, samples[0].image, method="gradcam", target=target)
    explorer.wait()
    assert explorer.target_selector is None and explorer.panels[0].result.target["type"] == "SimilarityTarget"
    explorer.close()


def test_close_leaves_no_thread_and_no_open_widget(toy):
    model, samples = toy
    before = threading.active_count()
    explorer = HeatmapExplorer(model, samples[0].image, params={"iterations": 30})
    explorer.close()  # mid-run: the job is cancelled and its thread joined
    assert threading.active_count() == before
    assert explorer.comm is None and explorer.panels[0].view.comm is None and explorer.chart.comm is None


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda m, im: HeatmapExplorer(m.module, im), "model"),
        (lambda m, im: HeatmapExplorer(m, im, method="lime"), "method"),
        (lambda m, im: HeatmapExplorer(m, im, compare="shap"), "compare"),
        (lambda m, im: HeatmapExplorer(m, im, target=11), "target=11"),
        (lambda m, im: HeatmapExplorer(m, im, target="red"), "target"),
        (lambda m, im: HeatmapExplorer(m, np.stack([im, im])), "image"),
        (lambda m, im: HeatmapExplorer(m, im, params={"iterations": 0}), "iterations"),
        (lambda m, im: HeatmapExplorer(m, im, compare="igospp", compare_params={"resolution": 200}), "resolution"),
        (lambda m, im: HeatmapExplorer(m, im, compare="rise", compare_params={"size": 3}), "size"),
        (lambda m, im: HeatmapExplorer(m, im, preset="auc"), "preset"),
        (lambda m, im: HeatmapExplorer(m, im, colormap="jet"), "colormap"),
        (lambda m, im: HeatmapExplorer(m, im, seed=1.5), "seed"),
        (lambda m, im: HeatmapExplorer(xw.toy.embedder(), im), "target"),
    ],
)
def test_bad_input_names_the_argument_and_leaves_nothing(toy, build, message):
    model, samples = toy
    before_widgets, before_threads = set(_instances), threading.active_count()
    with pytest.raises(XWidgetsError, match=message):
        build(model, samples[0].image)
    assert set(_instances) == before_widgets and threading.active_count() == before_threads


# ------------------------------------------------------------------------ defaults from the model's pass time
def _slow_toy(toy, sleepy, seconds=0.02):
    """The toy classifier made as slow per image as a large model on a CPU (``seconds`` of sleep per image)."""
    model = toy[0]
    return xw.Classifier(sleepy(model.module, seconds).eval(), preprocessing=model.preprocessing, labels=model.labels)


@pytest.mark.parametrize(
    "method, params",
    [
        ("igos", {"iterations": 2, "ig_steps": 3}),
        ("igos", {"iterations": 2, "ig_steps": 3, "optimiser": "nag"}),
        ("igos", {"iterations": 2, "ig_steps": 3, "line_search_objective": "integrated"}),
        ("igospp", {"iterations": 2, "ig_steps": 3}),
        ("igospp", {"iterations": 1, "ig_steps": 2, "optimiser": "nag"}),
        ("igospp", {"iterations": 1, "ig_steps": 2, "line_search_objective": "integrated"}),
        ("integrated_gradients", {"steps": 5}),
        ("rise", {"masks": 40}),
        ("occlusion", {"window": 32, "stride": 16}),
    ],
)
def test_image_counts_are_the_images_each_method_scores(toy, method, params):
    from xwidgets.core.methods import get_spec
    from xwidgets.heatmaps.cost import image_counts

    model, samples = toy
    pixels = model.prepare(samples[0].image)
    before = model.images_forwarded
    xw.explain(model, pixels, method=method, progress=False, **params)
    values = get_spec(method).params.resolve(params)
    assert sum(image_counts(method, values, (112, 112))) == model.images_forwarded - before


def test_curve_images_are_the_images_the_curves_score(toy):
    from xwidgets.heatmaps.cost import curve_images

    model, samples = toy
    pixels = model.prepare(samples[0].image)
    for preset in ("igos", "rise"):
        before = model.images_forwarded
        xw.metrics.deletion_insertion(model, pixels, torch.rand(1, 1, 112, 112), preset=preset)
        assert curve_images(preset, (112, 112)) == model.images_forwarded - before


def test_a_slow_model_starts_with_gradcam_and_offers_igos_with_its_estimate(toy, sleepy):
    from xwidgets.core.cost import INTERACTIVE_SECONDS, format_seconds

    model, samples = _slow_toy(toy, sleepy), toy[1]
    explorer = HeatmapExplorer(model, samples[0].image)
    panel = explorer.panels[0]
    assert explorer.pass_time.gradient >= 0.02 and explorer.pass_time.forward >= 0.02
    slow = explorer.estimate("igos")
    assert slow > INTERACTIVE_SECONDS >= explorer.estimate("gradcam")
    assert panel.method == "gradcam"
    assert "I-GOS would take " + format_seconds(slow) + " on this CPU" in explorer.notice.value
    labels = dict((value, label) for label, value in panel.method_selector.options)
    assert labels["igos"] == f"I-GOS ({format_seconds(slow)})"
    assert "map " in panel.estimate_text.value and "curves " in panel.estimate_text.value
    explorer.wait()
    assert panel.result.method == "gradcam" and panel.curves is not None
    assert inspect.signature(HeatmapExplorer.wait).parameters["timeout"].default is None
    explorer.close()


def test_params_without_a_method_count_in_igos_estimate_and_wait_for_it(toy, sleepy):
    model, samples = _slow_toy(toy, sleepy), toy[1]
    quick = HeatmapExplorer(model, samples[0].image, params={"iterations": 1, "ig_steps": 2}, run=False)
    assert quick.panels[0].method == "igos" and quick.notice.value == ""  # 16 images fit the budget
    quick.close()
    explorer = HeatmapExplorer(model, samples[0].image, params={"iterations": 12}, run=False)
    panel = explorer.panels[0]
    assert panel.method == "gradcam"
    panel.method_selector.value = "igos"  # the user's I-GOS parameters come back with I-GOS
    assert panel.controls["iterations"].value == 12
    explorer.close()
    forwarded = model.images_forwarded
    HeatmapExplorer(model, samples[0].image, method="igos", run=False).close()  # an explicit method is kept
    assert model.images_forwarded == forwarded + 1  # the pass time is cached: only the top-5 pass ran


def test_a_map_is_drawn_before_its_curves_are_scored(toy, sleepy):
    model, samples = _slow_toy(toy, sleepy), toy[1]  # the curves' 103 images sleep 2 s
    explorer = HeatmapExplorer(model, samples[0].image, method="gradcam")
    panel = explorer.panels[0]
    deadline = time.monotonic() + 30
    while "·" not in panel.view.title and time.monotonic() < deadline:
        time.sleep(0.01)
    drawn = panel.view.values.copy()
    assert panel.curves is None and "scoring the deletion and insertion curves" in panel.status.value
    explorer.wait()
    assert np.array_equal(drawn, panel.result.saliency[0, 0].numpy()) and panel.curves is not None
    explorer.close()


def test_the_toy_model_keeps_igos_first(toy):
    from xwidgets.core.cost import INTERACTIVE_SECONDS

    model, samples = toy
    explorer = HeatmapExplorer(model, samples[0].image, run=False)
    assert explorer.panels[0].method == "igos" and explorer.notice.value == ""
    assert explorer.estimate("igos") < INTERACTIVE_SECONDS / 2  # measured ≈ 2 s: room for a loaded CPU
    explorer.close()


# ------------------------------------------------------------------ one runner, cached panels, labels from shown
def test_a_change_to_one_panel_recomputes_that_panel_only(explorer):
    first, second = explorer.panels
    kept, replaced = first.result, second.result
    explorer.steps.hits.clear()
    second.method_selector.value = "occlusion"
    explorer.wait()
    assert first.result is kept and second.result is not replaced and second.result.method == "occlusion"
    steps = {step: count for step, count in explorer.steps.hits.items() if step.startswith(("map", "curves"))}
    assert steps == {"map-0": 1, "curves-0": 1}  # panel 0 came from the cache
    explorer.target_selector.value = explorer.target_selector.options[2][1]
    explorer.wait()
    assert first.result is not kept and first.result.target["classes"] == [explorer.target_selector.value]


def _labels(explorer):
    """Every label that names a method or a target: view titles, panel status lines, the scrub menu, the legend,
    the chart's curve labels and the figure's panel titles."""
    figure = explorer.figure()
    return {
        "views": [p.view.title for p in explorer.panels],
        "status": [re.sub(r"<[^>]+>", "", p.status.value) for p in explorer.panels],
        "scrub": [label for label, _ in explorer.scrub_panel.options],
        "legend": explorer.legend.value,
        "lines": [line.labels[0] for line in explorer._insertion],
        "figure": [" · ".join(axis.get_title().split("\n")) for axis in figure.axes if axis.images],
    }


def test_labels_name_the_shown_result_until_the_new_one_is_drawn(explorer):
    """The stale-state cases of issue 18: after a method or target switch, nothing names the new method or
    target while the old maps are still what is drawn; once the run ends, everything does."""
    panel, target = explorer.panels[0], explorer.target_text()
    before = _labels(explorer)
    assert before["figure"] == [f"I-GOS · {target}", f"Grad-CAM · {target}"]
    assert before["scrub"] == ["I-GOS", "Grad-CAM"]
    with explorer.model.lock:  # the run waits for the model: the old result stays shown
        panel.method_selector.value = "igospp"
        explorer.target_selector.value = explorer.target_selector.options[1][1]
        assert explorer.running and _labels(explorer) == before
        assert panel.accordion.get_title(0) == "iGOS++ parameters"  # the controls are the new method's
    explorer.wait()
    new_target = explorer.target_text()
    after = _labels(explorer)
    assert new_target != target and after["figure"] == [f"iGOS++ · {new_target}", f"Grad-CAM · {new_target}"]
    assert after["scrub"] == ["iGOS++", "Grad-CAM"] and after["views"] == after["figure"]
    assert "iGOS++ insertion, AUC" in after["legend"] and "I-GOS" not in after["legend"]
    assert after["lines"][0].startswith("iGOS++ insertion") and after["status"][0].startswith("iGOS++: ")


def test_cancel_puts_the_controls_back_to_the_shown_settings(explorer):
    panel = explorer.panels[1]
    shown_target = explorer.target_selector.value
    with explorer.model.lock:
        panel.method_selector.value = "rise"
        panel.controls["masks"].value = 300
        explorer.target_selector.value = explorer.target_selector.options[3][1]
        explorer.cancel()
    assert panel.method == "gradcam" and set(panel.controls) == set() and panel.result.method == "gradcam"
    assert explorer.target_selector.value == shown_target and explorer.progress.bar_style == "success"
    assert "cancelled" in explorer.status.value and not explorer.running
    panel.method_selector.value = "rise"  # the cancelled method's values are remembered
    assert panel.controls["masks"].value == 300
    explorer.wait()
    assert panel.result.method == "rise" and panel.result.params["masks"] == 300


def test_streamed_masks_carry_their_panel(toy):
    model, samples = toy
    explorer = HeatmapExplorer(
        model,
        samples[0].image,
        method="igos",
        compare="igospp",
        params={"iterations": 3, "ig_steps": 2},
        compare_params={"iterations": 3, "ig_steps": 2},
        run=False,
    )
    streamed = []
    explorer.show_partial = lambda state, settings: streamed.append((state["panel"], "mask" in state))
    explorer.run()
    explorer.wait()
    assert {(0, True), (1, True), (0, False), (1, False)} <= set(streamed)  # masks, then each finished map
    explorer.close()


def test_a_class_name_picks_the_target(toy):
    model, samples = toy
    explorer = HeatmapExplorer(model, samples[0].image, method="gradcam", target=model.labels[3])
    explorer.wait()
    assert explorer.target_selector.value == 3 and explorer.panels[0].result.target["classes"] == [3]
    assert explorer.panels[0].view.title == f"Grad-CAM · {model.labels[3]}"
    explorer.close()


def test_every_registered_heatmap_method_has_a_cost_estimate():
    from xwidgets.heatmaps.cost import COUNTED, image_counts

    assert sorted(COUNTED) == sorted(xw.methods("heatmap"))
    with pytest.raises(InvalidArgument, match="method"):
        image_counts("lime", {}, (112, 112))
