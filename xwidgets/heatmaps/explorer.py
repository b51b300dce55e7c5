"""HeatmapExplorer: the live tool for one image's saliency, with its faithfulness curves.

It composes :class:`~xwidgets.views.HeatmapView` panels, controls generated from each method's declared parameters,
the top-5 classes to pick the target, and a bqplot chart of the deletion and insertion curves. Every run goes
through a :class:`~xwidgets.core.runner.Runner`: the kernel stays responsive, I-GOS and iGOS++ stream their mask
while they optimise, and moving a control cancels the stale run. Scrubbing the chart (or the step slider) shows
the perturbed image that the curve scored at that step. :meth:`HeatmapExplorer.figure` draws what is shown.

Defaults follow the model's speed where it runs. The explorer times one pass of the model on the image
(:func:`~xwidgets.core.cost.pass_time`, once per model and input size) and estimates each method from the images it
scores (:mod:`xwidgets.heatmaps.cost`). It starts with I-GOS where that takes at most
:data:`~xwidgets.core.cost.INTERACTIVE_SECONDS` (the toy classifier: about 2 s), and with Grad-CAM otherwise (the
pretrained EfficientNet-Lite0 on this 2-core CPU: I-GOS estimated at 2 to 3 min, Grad-CAM under a second), saying
so; the selector shows every method's estimate. A map is drawn as soon as it is computed, before its curves are scored.
"""

from __future__ import annotations

import inspect
import threading

import bqplot as bq
import ipywidgets as widgets
import torch

from ..core.cost import INTERACTIVE_SECONDS, device_words, format_seconds, pass_time
from ..core.errors import XWidgetsError, invalid
from ..core.masks import upsample_mask
from ..core.models import Classifier, Model, check_model
from ..core.runner import Runner
from ..core.targets import ClassTarget, Target, resolve_target
from ..metrics import PRESETS, deletion_insertion, perturbed_images
from ..views import COLORMAPS, HeatmapView, controls_for
from . import METHODS, PARAMS
from .cost import curve_images, image_counts
from ..figures import save_figure
from .figure import saliency_figure
from .result import mask_resolution, normalise_maps

__all__ = ["HeatmapExplorer"]

#: Readable names of the methods, for titles and the selector.
METHOD_NAMES = {"igos": "I-GOS", "igospp": "iGOS++", "gradcam": "Grad-CAM",
                "integrated_gradients": "Integrated gradients", "rise": "RISE", "occlusion": "Occlusion"}
_CURVE_COLOURS = ("#0072B2", "#D55E00")   # Okabe-Ito blue and vermillion, one per panel
_TOP = 5
#: The method shown first when it fits the time budget, and the one shown instead when it does not.
DEFAULT_METHOD, FAST_METHOD = "igos", "gradcam"


class HeatmapExplorer(widgets.VBox):
    """Explore one image's saliency live: pick the method, its parameters and the target; read the curves.

    Args:
        model: a wrapped :class:`~xwidgets.core.models.Classifier` (the top-5 classes are offered as targets) or
            :class:`~xwidgets.core.models.Embedder` (then ``target`` is required, e.g. ``xw.similarity_to``).
        image: one image in any form :func:`~xwidgets.core.images.to_batch` accepts.
        method: the first panel's method, one of :data:`~xwidgets.heatmaps.METHODS`. Default: I-GOS when its
            estimate on this model and image is at most :data:`~xwidgets.core.cost.INTERACTIVE_SECONDS`, else
            Grad-CAM (a note then gives I-GOS's estimate; it stays one click away in the selector).
        compare: a second method shown side by side (None: one panel).
        target: a class index (default: the top-1 class) or any target for an embedder.
        params, compare_params: parameter overrides for each panel's method (with ``method=None``, I-GOS's: they
            count in its estimate, and apply whenever I-GOS is selected).
        preset: the deletion / insertion protocol (``"igos"``, ``"rise"`` or ``"sane"``).
        colormap: the HeatmapViews' colormap.
        seed: the seed of the stochastic methods.
        run: start computing at once (False: call :meth:`run`).

    Attributes:
        panels: one :class:`HeatmapPanel` per method shown.
        chart: the bqplot figure of the curves; ``scrub`` the step slider; ``scrub_view`` the perturbed image.
        pass_time: the model's measured :class:`~xwidgets.core.cost.PassTime` on this image.
        notice: a line saying why the first method is not I-GOS (empty when it is).
    """

    def __init__(self, model: Model, image: object, *, method: str | None = None, compare: str | None = None,
                 target: object = None, params: dict | None = None, compare_params: dict | None = None,
                 preset: str = "igos", colormap: str = "viridis", seed: int = 0, run: bool = True):
        check_model(model, Model)
        for name, value in (("method", method), ("compare", compare)):
            if value is not None and value not in METHODS:
                raise invalid(name, value, "one of " + ", ".join(METHODS))
        for name, chosen, values in (("params", method or DEFAULT_METHOD, params),
                                     ("compare_params", compare, compare_params)):
            if values is not None and not isinstance(values, dict):
                raise invalid(name, values, "a dict of parameter values")
            if chosen is not None:
                PARAMS[chosen].resolve(values)                 # unknown names and out-of-range values
        if preset not in PRESETS:
            raise invalid("preset", preset, "one of " + ", ".join(PRESETS))
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise invalid("seed", seed, "an int")
        if colormap not in COLORMAPS:
            raise invalid("colormap", colormap, "one of " + ", ".join(COLORMAPS))
        pixels = model.prepare(image, name="image")
        if pixels.shape[0] != 1:
            raise invalid("image", f"a batch of {pixels.shape[0]} images", "a single image")
        for chosen, values in ((method or DEFAULT_METHOD, params), (compare, compare_params)):
            if chosen is not None and "resolution" in PARAMS[chosen]:
                mask_resolution(PARAMS[chosen].resolve(values)["resolution"], tuple(pixels.shape[-2:]))
        self.model, self.pixels, self.preset, self.seed = model, pixels, preset, seed
        self._target_choice = self._target_selector(target)
        self.pass_time = pass_time(model, pixels)
        self.notice = widgets.HTML("")
        self.notice.add_class("xw-default-note")
        remembered = {}
        if method is None:
            method = self._default_method(params)
            if method != DEFAULT_METHOD:                       # the params were I-GOS's: kept for when it is picked
                remembered, params = {DEFAULT_METHOD: params or {}}, None
        panels = [HeatmapPanel(self, method, params, 0, colormap, remembered)]
        if compare is not None:
            panels.append(HeatmapPanel(self, compare, compare_params, 1, colormap))
        self.panels = panels
        self._build_chart()
        rows = [widgets.HBox([p.box for p in panels], layout=widgets.Layout(flex_flow="row wrap")),
                widgets.HBox([self._chart_box, self._scrub_box], layout=widgets.Layout(flex_flow="row wrap"))]
        header = [self.target_selector] if self.target_selector is not None else []
        super().__init__(header + [self.notice] + rows)
        self.add_class("xw-heatmap-explorer")
        if run:
            self.run()

    # ------------------------------------------------------------------------------------------- target
    def _target_selector(self, target: object) -> object:
        """Build the top-5 selector for a classifier; returns the initial target."""
        self.target_selector = None
        if not isinstance(self.model, Classifier):
            if target is None:
                raise invalid("target", None, "a target for an embedder, e.g. xw.similarity_to(model, reference)")
            return target
        with torch.no_grad(), self.model.frozen():
            output = self.model.forward(self.model.normalize(self.pixels))
        if target is not None and (isinstance(target, bool) or not isinstance(target, int)):
            raise invalid("target", target, "a class index (or None for the top-1 class)")
        resolve_target(target, self.model, output)             # range and NaN checks, with their messages
        probabilities = torch.softmax(output.float(), dim=1)[0].cpu()
        classes = probabilities.shape[0]
        top = torch.topk(probabilities, min(_TOP, classes)).indices.tolist()
        if target is not None and target not in top:
            top.append(target)
        options = [(f"{self._label(c)}  p = {float(probabilities[c]):.3f}", c) for c in top]
        self.target_selector = widgets.ToggleButtons(options=options, value=top[0] if target is None else target,
                                                     description="target", style={"button_width": "auto"})
        self.target_selector.add_class("xw-target")
        self.target_selector.observe(lambda change: self.run(), names="value")
        return None

    def _label(self, index: int) -> str:
        labels = self.model.labels
        return labels[index] if labels is not None and index < len(labels) else f"class {index}"

    @property
    def target(self) -> object:
        """The current target: the selected class, or the embedder's target."""
        if self.target_selector is not None:
            return ClassTarget([self.target_selector.value])
        return self._target_choice

    def target_text(self) -> str:
        if self.target_selector is not None:
            return self._label(self.target_selector.value)
        return self._target_choice.describe()["type"] if isinstance(self._target_choice, Target) else "target"

    # -------------------------------------------------------------------------------------- estimates
    def estimate(self, method: str, params: dict | None = None) -> float:
        """Estimated seconds of one ``method`` map with ``params`` on this model and image (the curves apart)."""
        forward, gradient = image_counts(method, PARAMS[method].resolve(params), tuple(self.pixels.shape[-2:]))
        return self.pass_time.seconds(forward, gradient)

    def curves_estimate(self) -> float:
        """Estimated seconds of the deletion and insertion curves scored after every map."""
        return self.pass_time.seconds(curve_images(self.preset, tuple(self.pixels.shape[-2:])))

    def _default_method(self, params: dict | None) -> str:
        """I-GOS if its estimate fits :data:`INTERACTIVE_SECONDS`, else Grad-CAM, with a note saying why."""
        slow = self.estimate(DEFAULT_METHOD, params)
        if slow <= INTERACTIVE_SECONDS:
            return DEFAULT_METHOD
        names = METHOD_NAMES[DEFAULT_METHOD], METHOD_NAMES[FAST_METHOD]
        self.notice.value = (f"<i>Started with {names[1]} ({format_seconds(self.estimate(FAST_METHOD))}): "
                             f"{names[0]} would take {format_seconds(slow)} on {device_words(self.model)}. "
                             f"Pick it in the method menu to run it.</i>")
        return FAST_METHOD

    # -------------------------------------------------------------------------------------------- runs
    def run(self) -> None:
        """Recompute every panel (each cancels its own stale run)."""
        for panel in self.panels:
            panel.run()

    def wait(self, timeout: float | None = None) -> HeatmapExplorer:
        """Block until every panel's current run has ended (for scripts and notebooks executed headless);
        ``timeout`` in seconds per panel, None to wait however long the run takes."""
        for panel in self.panels:
            panel.wait(timeout)
        return self

    def close(self) -> None:
        """Cancel the runs, wait for their threads, and close every child widget (also of a half-built explorer
        whose constructor refused its arguments, which the garbage collector closes)."""
        panels = getattr(self, "panels", ())
        for panel in panels:
            panel.runner.close()
        parts = [getattr(self, name, None) for name in ("chart", "legend", "_chart_box", "scrub", "scrub_curve",
                                                        "scrub_panel", "scrub_view", "target_selector", "_scrub_box",
                                                        "notice")]
        for widget in (*(w for p in panels for w in p.widgets()), *parts, *self.children):
            if widget is not None:
                widget.close()
        super().close()

    # ------------------------------------------------------------------------------------------- chart
    def _build_chart(self) -> None:
        x, y = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale(min=0.0, max=1.0)
        self._insertion = [bq.Lines(x=[0.0, 1.0], y=[0.0, 0.0], scales={"x": x, "y": y}, colors=[_CURVE_COLOURS[i]],
                                    stroke_width=2, labels=[f"{p.name} insertion"])
                           for i, p in enumerate(self.panels)]
        self._deletion = [bq.Lines(x=[0.0, 1.0], y=[0.0, 0.0], scales={"x": x, "y": y}, colors=[_CURVE_COLOURS[i]],
                                   stroke_width=2, line_style="dashed", labels=[f"{p.name} deletion"])
                          for i, p in enumerate(self.panels)]
        self._cursor = bq.Lines(x=[0.0, 0.0], y=[0.0, 1.0], scales={"x": x, "y": y}, colors=["#57606a"],
                                line_style="dotted")
        axes = [bq.Axis(scale=x, label="fraction of pixels inserted / deleted", tick_format=".1f"),
                bq.Axis(scale=y, orientation="vertical", label="target score", tick_format=".1f")]
        self._selector = bq.interacts.IndexSelector(scale=x, marks=[self._cursor])
        self._selector.observe(self._on_selector, names="selected")
        self.chart = bq.Figure(marks=[*self._insertion, *self._deletion, self._cursor], axes=axes,
                               interaction=self._selector, title="insertion (solid) and deletion (dashed)",
                               fig_margin={"top": 40, "bottom": 45, "left": 50, "right": 10},
                               layout=widgets.Layout(width="460px", height="300px", margin="0 16px 0 0"))
        self.chart.add_class("xw-curves")
        self.legend = widgets.HTML("")
        self.legend.add_class("xw-curves-legend")
        self._chart_box = widgets.VBox([self.chart, self.legend])
        self.scrub = widgets.IntSlider(value=0, min=0, max=1, description="step", continuous_update=True,
                                       style={"description_width": "40px"})
        self.scrub.add_class("xw-scrub")
        self.scrub_curve = widgets.ToggleButtons(options=["deletion", "insertion"], value="deletion",
                                                 style={"button_width": "80px"})
        self.scrub_panel = widgets.Dropdown(options=[(p.name, i) for i, p in enumerate(self.panels)], value=0,
                                            description="map", style={"description_width": "40px"},
                                            layout=widgets.Layout(width="200px",
                                                                  display="flex" if len(self.panels) > 1 else "none"))
        self.scrub_view = HeatmapView(self.pixels[0], None, title="perturbed image", show_controls=False,
                                      display_width=256)
        self.scrub_view.add_class("xw-scrub-view")
        for control in (self.scrub, self.scrub_curve, self.scrub_panel):
            control.observe(lambda change: self._show_step(), names="value")
        self._scrub_box = widgets.VBox([self.scrub_view, self.scrub_curve, self.scrub_panel, self.scrub])
        self._scrub_box.add_class("xw-scrub-box")
        self._perturbed: dict[tuple[int, str], torch.Tensor] = {}
        self._lock = threading.Lock()

    def _on_selector(self, change) -> None:
        selected = change["new"]
        if selected is None or len(selected) == 0:
            return
        steps = self.scrub.max
        self.scrub.value = int(round(min(max(float(selected[0]), 0.0), 1.0) * steps))

    def _curves_changed(self, panel: HeatmapPanel) -> None:
        curves = panel.curves
        fractions = curves.fractions.numpy()
        insertion, deletion = self._insertion[panel.index], self._deletion[panel.index]
        with insertion.hold_sync(), deletion.hold_sync():
            insertion.x, insertion.y = fractions, curves.insertion[0].numpy()
            deletion.x, deletion.y = fractions, curves.deletion[0].numpy()
            insertion.labels = [f"{panel.name} insertion, AUC {float(curves.insertion_auc[0]):.3f}"]
            deletion.labels = [f"{panel.name} deletion, AUC {float(curves.deletion_auc[0]):.3f}"]
        self.legend.value = self._legend_html()
        with self._lock:
            self._perturbed = {k: v for k, v in self._perturbed.items() if k[0] != panel.index}
        self.scrub.max = len(fractions) - 1
        if panel.index == self.scrub_panel.value:
            self._show_step()

    def _legend_html(self) -> str:
        """Line samples and AUCs of every panel's curves (drawn under the chart, where long labels fit)."""
        rows = []
        for index, panel in enumerate(self.panels):
            if panel.curves is None:
                continue
            colour = _CURVE_COLOURS[index]
            rows.append(
                f"<div>{_line_sample(colour, False)} {panel.name} insertion, AUC "
                f"{float(panel.curves.insertion_auc[0]):.3f} &nbsp; {_line_sample(colour, True)} deletion, AUC "
                f"{float(panel.curves.deletion_auc[0]):.3f}</div>")
        return "<div style='font-size:12px;line-height:1.6;margin-left:50px'>" + "".join(rows) + "</div>"

    def _show_step(self) -> None:
        panel = self.panels[self.scrub_panel.value]
        if panel.result is None or panel.curves is None:
            return
        curve, step = self.scrub_curve.value, self.scrub.value
        key = (panel.index, curve)
        with self._lock:
            images = self._perturbed.get(key)
            if images is None:
                images = perturbed_images(self.model, self.pixels, panel.result.saliency, curve,
                                          preset=self.preset)[0]
                self._perturbed[key] = images
        step = min(step, images.shape[0] - 1)
        fraction = float(panel.curves.fractions[step])
        score = float(getattr(panel.curves, curve)[0, step])
        self.scrub_view.set_data(image=images[step])
        verb = "deleted" if curve == "deletion" else "inserted"
        self.scrub_view.title = f"{panel.name}: {fraction:.0%} {verb}, score {score:.3f}"
        self._cursor.x = [fraction, fraction]

    # ------------------------------------------------------------------------------------------ figure
    def figure(self, path=None):
        """A matplotlib figure of what the explorer shows now: each panel's map with its current colormap,
        alpha, threshold and mode, and the curves with their AUCs. With ``path`` (``.pdf``, ``.svg`` or
        ``.png``) it is also saved there."""
        ready = [p for p in self.panels if p.result is not None]
        if not ready:
            raise XWidgetsError("nothing to draw yet: the explorer has no finished result (call wait() first)")
        view = ready[0].view
        titles = [f"{p.name} · {self.target_text()}" for p in ready]
        curves = [{"label": p.name, "fractions": p.curves.fractions, "deletion": p.curves.deletion[0],
                   "insertion": p.curves.insertion[0], "deletion_auc": p.curves.deletion_auc[0],
                   "insertion_auc": p.curves.insertion_auc[0]} for p in ready if p.curves is not None]
        figure = saliency_figure([self.pixels[0].cpu()] * len(ready), [p.result.saliency[0] for p in ready],
                                 titles, curves=curves or None, colormap=view.colormap, alpha=view.alpha,
                                 threshold=view.threshold, mode=view.mode)
        if path is not None:
            save_figure(figure, path)
        return figure


def _line_sample(colour: str, dashed: bool) -> str:
    dash = " stroke-dasharray='5,3'" if dashed else ""
    return (f"<svg width='26' height='8' style='vertical-align:middle'><line x1='0' y1='4' x2='26' y2='4' "
            f"stroke='{colour}' stroke-width='2'{dash}/></svg>")


class HeatmapPanel:
    """One method's column in a :class:`HeatmapExplorer`: selector (each method with its estimated time), view,
    progress, the estimate at the current settings, and generated controls.

    ``remembered`` maps methods to parameter values to restore when they are selected; a method left in the
    selector is remembered with its controls' values.
    """

    def __init__(self, explorer: HeatmapExplorer, method: str, params: dict | None, index: int, colormap: str,
                 remembered: dict | None = None):
        self.explorer, self.index = explorer, index
        self._remembered = dict(remembered or {})
        self.runner = Runner(stream_interval=0.15)
        self.result, self.curves, self.error = None, None, None
        self._token = 0
        self._done = threading.Event()
        self._done.set()
        options = [(f"{METHOD_NAMES[m]} ({format_seconds(explorer.estimate(m, self._remembered.get(m)))})", m)
                   for m in METHODS]
        self.method_selector = widgets.Dropdown(options=options, value=method, description="method",
                                                style={"description_width": "60px"},
                                                layout=widgets.Layout(width="300px"))
        self.method_selector.add_class("xw-method")
        self.view = HeatmapView(explorer.pixels[0], None, colormap=colormap, alpha=0.5, threshold=0.15,
                                title=METHOD_NAMES[method], display_width=256)
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="256px"))
        self.status = widgets.HTML("")
        self.status.add_class("xw-run-status")
        self.estimate_text = widgets.HTML("")
        self.estimate_text.add_class("xw-estimate")
        self.controls_box = widgets.VBox([])
        self.accordion = widgets.Accordion(children=[self.controls_box], selected_index=0 if index == 0 else None,
                                           layout=widgets.Layout(width="400px"))
        self.box = widgets.VBox([self.method_selector, self.view, self.progress, self.status, self.estimate_text,
                                 self.accordion],
                                layout=widgets.Layout(margin="0 16px 8px 0"))
        self.box.add_class(f"xw-panel-{index}")
        self._set_method(method, params or {})
        self.method_selector.observe(self._on_method, names="value")

    @property
    def method(self) -> str:
        return self.method_selector.value

    @property
    def name(self) -> str:
        return METHOD_NAMES[self.method]

    def widgets(self) -> list:
        return [self.method_selector, self.view, self.progress, self.status, self.estimate_text, self.accordion,
                self.controls_box, *self.controls.values(), self.box]

    def _set_method(self, method: str, params: dict) -> None:
        values = PARAMS[method].resolve(params)
        for control in getattr(self, "controls", {}).values():
            control.close()
        self.controls = controls_for(PARAMS[method], values)
        if "resolution" in self.controls:                      # a mask has at most one cell per pixel
            self.controls["resolution"].max = min(self.explorer.pixels.shape[-2:])
        for control in self.controls.values():
            control.observe(lambda change: self.run(), names="value")
        self.controls_box.children = list(self.controls.values())
        self.accordion.set_title(0, f"{METHOD_NAMES[method]} parameters")
        self.estimate_text.value = self._estimate_html()[2]

    def _on_method(self, change) -> None:
        self._remembered[change["old"]] = self.params
        self._set_method(change["new"], self._remembered.get(change["new"], {}))
        self.explorer._insertion[self.index].labels = [f"{self.name} insertion"]
        self.explorer._deletion[self.index].labels = [f"{self.name} deletion"]
        self.run()

    @property
    def params(self) -> dict:
        """The current values of the method's controls."""
        return {name: control.value for name, control in self.controls.items()}

    def _estimate_html(self) -> tuple[float, float, str]:
        """The map's and the curves' estimated seconds at the current settings, and the line that says them."""
        explorer = self.explorer
        seconds, curves = explorer.estimate(self.method, self.params), explorer.curves_estimate()
        text = (f"estimate on {device_words(explorer.model)}: map {format_seconds(seconds)}, "
                f"curves {format_seconds(curves)}")
        return seconds, curves, f"<span style='color:#57606a;font-size:12px'>{text}</span>"

    def run(self) -> None:
        """Start the method with the current controls; a running computation is cancelled. The map is drawn when
        it is computed; the deletion and insertion curves are scored after it."""
        explorer, method = self.explorer, self.method
        kernel = METHODS[method]
        kwargs = dict(self.params)
        if "seed" in inspect.signature(kernel).parameters:
            kwargs["seed"] = explorer.seed
        self._token += 1
        token = self._token
        self._done.clear()
        self.error = None
        self.progress.value = 0.0
        self.progress.bar_style = ""
        seconds, curves, self.estimate_text.value = self._estimate_html()
        self.status.value = f"running {self.name}…"
        target = explorer.target
        share = seconds / max(seconds + curves, 1e-9)           # of the progress bar, for the map

        def work(progress):
            with explorer.model.lock:                  # the panels take turns: hooks must see only their passes
                progress.check()
                result = kernel(explorer.model, explorer.pixels, target, progress=progress.part(0.0, share),
                                **kwargs)
                progress.check()
                progress.stream({"result": result}, force=True)
                curves = deletion_insertion(explorer.model, explorer.pixels, result.saliency, target,
                                            preset=explorer.preset)
            return result, curves

        self.runner.submit(work, on_progress=lambda f, m: self._on_progress(token, f),
                           on_partial=lambda state: self._on_partial(token, state),
                           on_done=lambda value: self._on_done(token, value),
                           on_error=lambda error: self._on_error(token, error))

    def wait(self, timeout: float | None = None) -> None:
        if not self._done.wait(timeout):
            raise XWidgetsError(f"the {self.name} run did not finish within timeout={timeout} s")
        if self.error is not None:
            raise self.error

    def _current(self, token: int) -> bool:
        return token == self._token

    def _on_progress(self, token: int, fraction: float) -> None:
        if self._current(token):
            self.progress.value = fraction

    def _on_partial(self, token: int, state: dict) -> None:
        if not self._current(token):
            return
        if "result" in state:
            self._draw_map(state["result"])
            return
        if "mask" not in state:
            return
        mask = state["mask"][:1].float()
        heat = normalise_maps(upsample_mask(1.0 - mask, tuple(self.explorer.pixels.shape[-2:])))
        self.view.set_data(heatmap=heat[0, 0])
        self.status.value = f"{self.name}: iteration {state.get('iteration', '')}…"

    def _on_done(self, token: int, value) -> None:
        if not self._current(token):
            return
        result, curves = value
        self.result, self.curves = result, curves
        self.progress.value, self.progress.bar_style = 1.0, "success"
        seconds = result.timings.get("total", float("nan"))
        self.status.value = (f"{self.name}: {seconds:.2f} s · insertion {float(curves.insertion_auc[0]):.3f} · "
                             f"deletion {float(curves.deletion_auc[0]):.3f}")
        self.explorer._curves_changed(self)
        self._done.set()

    def _draw_map(self, result) -> None:
        """Show a finished map while its curves are scored."""
        self.view.set_data(heatmap=result.saliency[0, 0])
        self.view.title = f"{self.name} · {self.explorer.target_text()}"
        curves = format_seconds(self.explorer.curves_estimate())
        self.status.value = (f"{self.name}: {result.timings.get('total', float('nan')):.2f} s · scoring the deletion "
                             f"and insertion curves ({curves})…")

    def _on_error(self, token: int, error: BaseException) -> None:
        if not self._current(token):
            return
        self.error = error
        self.progress.bar_style = "danger"
        message = str(error).replace("&", "&amp;").replace("<", "&lt;")
        self.status.value = f"<span style='color:#cf222e'>{type(error).__name__}: {message}</span>"
        self._done.set()
