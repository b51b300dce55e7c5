"""HeatmapExplorer: the live tool for one image's saliency, with its faithfulness curves.

It composes :class:`~xwidgets.views.HeatmapView` panels, controls generated from each method's declared parameters
(the heatmap methods of the registry, :func:`~xwidgets.core.methods.specs`), the top-5 classes to pick the target,
and a bqplot chart of the deletion and insertion curves. It is layout and render on the
:class:`~xwidgets.views.explorer.Explorer` base, which runs the work: one run computes every panel, each panel's map
and curves being cached steps keyed by (method, parameters, target, seed), so a change to one panel recomputes that
panel only. I-GOS and iGOS++ stream their mask (tagged with its panel) while they optimise; moving a control cancels
the stale run. Hovering over the chart (or moving the step slider) shows the perturbed image that the curve scored at
that step; the chart zooms to where the curves change (a confident class's curves change within the first pixels).
Every label is drawn from :attr:`~xwidgets.views.explorer.Explorer.shown`, so none names a method or a target the
picture was not computed with; :meth:`~xwidgets.views.explorer.Explorer.figure` draws what is shown.

Defaults follow the model's speed where it runs. The explorer times one pass of the model on the image
(:func:`~xwidgets.core.cost.pass_time`, once per model and input size) and estimates each method from the images it
scores (:mod:`xwidgets.heatmaps.cost`). It starts with I-GOS where that takes at most
:data:`~xwidgets.core.cost.INTERACTIVE_SECONDS` (the toy classifier: about 2 s), and with Grad-CAM otherwise (the
pretrained EfficientNet-Lite0 on a 2-core CPU: I-GOS estimated at 2 to 3 min, Grad-CAM under a second), saying
so; the selector shows every method's estimate. A map is drawn as soon as it is computed, before its curves are scored.
"""

from __future__ import annotations

import dataclasses
import html
import inspect
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import bqplot as bq
import ipywidgets as widgets
import torch

from ..core.cost import INTERACTIVE_SECONDS, device_words, format_seconds, pass_time
from ..core.errors import invalid, one_of
from ..core.masks import upsample_mask
from ..core.methods import MethodSpec, get_spec, specs
from ..core.models import Classifier, Model, check_model
from ..core.params import check_seed
from ..core.targets import ClassTarget, Target, resolve_target
from ..figures import CURVE_COLOURS
from ..metrics import PRESETS, CurveResult, deletion_insertion, perturbed_images
from ..views import COLORMAPS, HeatmapView, controls_for
from ..views.explorer import Explorer, close_widgets, phrase_line
from .cost import curve_images, image_counts
from .figure import saliency_figure
from .result import SaliencyResult, mask_resolution, normalise_maps

__all__ = ["HeatmapExplorer", "HeatmapPanel", "PanelResult", "Throttle", "change_window"]

#: The method shown first when it fits the time budget, and the one shown instead when it does not.
DEFAULT_METHOD, FAST_METHOD = "igos", "gradcam"
#: Seconds between two steps that hovering over the curves applies (the moves in between are merged into the
#: latest), so a sweep of the pointer sends a few perturbed images, not one per mouse event.
HOVER_INTERVAL = 0.08
#: The scrub cursor's width on the chart, the chart's width and its margins, in CSS pixels (the right margin holds
#: half of the last tick label).
CURSOR_PX, _CHART_PX = 3, 460
_CHART_MARGIN = {"top": 40, "bottom": 45, "left": 50, "right": 24}
#: The upper ends the zoomed x axis picks from (fractions of pixels), and the fewest steps it shows.
ZOOM_ENDS, ZOOM_MIN_STEPS = (0.1, 0.2, 0.3, 0.5), 8
_HEATMAP = ("heatmap",)


@dataclasses.dataclass(frozen=True)
class PanelResult:
    """What one panel shows: its map's ``result``, the ``curves`` scored on it and the ``key`` both were cached
    under (method, parameter values, target, seed)."""

    result: SaliencyResult
    curves: CurveResult
    key: tuple


class HeatmapExplorer(Explorer):
    """Explore one image's saliency live: pick the method, its parameters and the target; read the curves.

    Args:
        model: a wrapped :class:`~xwidgets.core.models.Classifier` (the top-5 classes are offered as targets) or
            :class:`~xwidgets.core.models.Embedder` (then ``target`` is required, e.g. ``xw.similarity_to``).
        image: one image in any form :func:`~xwidgets.core.images.to_batch` accepts.
        method: the first panel's method, a heatmap method of ``xw.methods("heatmap")``. Default: I-GOS when its
            estimate on this model and image is at most :data:`~xwidgets.core.cost.INTERACTIVE_SECONDS`, else
            Grad-CAM (a note then gives I-GOS's estimate; it stays one click away in the selector).
        compare: a second method shown side by side (None: one panel).
        target: a class index or class name (default: the top-1 class), or any target for an embedder.
        params, compare_params: parameter overrides for each panel's method (with ``method=None``, I-GOS's: they
            count in its estimate, and apply whenever I-GOS is selected).
        preset: the deletion / insertion protocol (``"igos"``, ``"rise"`` or ``"sane"``).
        colormap: the HeatmapViews' colormap.
        seed: the seed of the stochastic methods.
        run: start computing at once (False: call :meth:`run`).

    Attributes:
        panels: one :class:`HeatmapPanel` per method shown.
        target_selector: the top-5 class buttons (None for an embedder).
        chart: the bqplot figure of the curves; ``legend`` its AUCs; ``zoom`` the checkbox that shows only the
            start where the curves change (:attr:`x_range`, on by default); ``scrub`` the step slider, moved by
            hovering over the chart (no click needed; a double-click pins the cursor), ``scrub_curve`` and
            ``scrub_panel`` which curve it follows, ``scrub_view`` the perturbed image.
        pass_time: the model's measured :class:`~xwidgets.core.cost.PassTime` on this image.
        notice: a line saying why the first method is not I-GOS (empty when it is).
    """

    stream_interval = 0.15
    work_name = "the maps"

    def __init__(
        self,
        model: Model,
        image: object,
        *,
        method: str | None = None,
        compare: str | None = None,
        target: object = None,
        params: dict | None = None,
        compare_params: dict | None = None,
        preset: str = "igos",
        colormap: str = "viridis",
        seed: int = 0,
        run: bool = True,
    ):
        pixels, picked, fixed = _checked(
            model, image, method, compare, target, params, compare_params, preset, colormap, seed
        )
        super().__init__()
        self.model, self.pixels, self.preset, self.seed = model, pixels, preset, seed
        self.pass_time = pass_time(model, pixels)
        self.notice = widgets.HTML("")
        self.notice.add_class("xw-default-note")
        self._fixed_target = fixed
        self.target_selector = self.target_picker(model, pixels, picked) if isinstance(model, Classifier) else None
        remembered = {}
        if method is None:
            method = self._default_method(params)
            if method != DEFAULT_METHOD:  # the params were I-GOS's: kept for when it is picked
                remembered, params = {DEFAULT_METHOD: params or {}}, None
        self.panels = [HeatmapPanel(self, method, params, 0, colormap, remembered)]
        if compare is not None:
            self.panels.append(HeatmapPanel(self, compare, compare_params, 1, colormap))
        self._build_chart()
        rows = [
            widgets.HBox(self.panels, layout=widgets.Layout(flex_flow="row wrap")),
            self.progress_box,
            widgets.HBox([self._chart_box, self._scrub_box], layout=widgets.Layout(flex_flow="row wrap")),
        ]
        header = [self.target_selector] if self.target_selector is not None else []
        self.children = header + [self.notice] + rows
        self.add_class("xw-heatmap-explorer")
        if self.target_selector is not None:
            self.watch({"target": self.target_selector})
        for panel in self.panels:
            self.watch({panel.method_key: panel.method_selector})
            panel.watch_controls()
        if run:
            self.run()

    # ------------------------------------------------------------------------------------------- target
    @property
    def target(self) -> object:
        """The target the controls select now: the picked class, or the embedder's target."""
        if self.target_selector is not None:
            return ClassTarget([self.target_selector.value])
        return self._fixed_target

    def target_text(self, result: SaliencyResult | None = None) -> str:
        """The name of ``result``'s target (default: the target the controls select now)."""
        if result is not None:
            classes = result.target.get("classes")
            return self._label(classes[0]) if classes else result.target.get("type", "target")
        if self.target_selector is not None:
            return self._label(self.target_selector.value)
        return self._fixed_target.describe()["type"] if isinstance(self._fixed_target, Target) else "target"

    def _label(self, index: int) -> str:
        labels = self.model.labels
        return labels[index] if labels is not None and index < len(labels) else f"class {index}"

    # -------------------------------------------------------------------------------------- estimates
    def estimate(self, method: str, params: dict | None = None) -> float:
        """Estimated seconds of one ``method`` map with ``params`` on this model and image (the curves apart)."""
        values = get_spec(method, kinds=_HEATMAP).params.resolve(params)
        forward, gradient = image_counts(method, values, tuple(self.pixels.shape[-2:]))
        return self.pass_time.seconds(forward, gradient)

    def curves_estimate(self) -> float:
        """Estimated seconds of the deletion and insertion curves scored after every map."""
        return self.pass_time.seconds(curve_images(self.preset, tuple(self.pixels.shape[-2:])))

    def _default_method(self, params: dict | None) -> str:
        """I-GOS if its estimate fits :data:`INTERACTIVE_SECONDS`, else Grad-CAM, with a note saying why."""
        slow = self.estimate(DEFAULT_METHOD, params)
        if slow <= INTERACTIVE_SECONDS:
            return DEFAULT_METHOD
        names = _title(DEFAULT_METHOD), _title(FAST_METHOD)
        self.notice.value = "<i>{}.</i>".format(
            phrase_line(
                f"Started with {names[1]} ({format_seconds(self.estimate(FAST_METHOD))})",
                f"{names[0]} would take {format_seconds(slow)} on {device_words(self.model)}",
                "pick it in the method menu to run it",
            )
        )
        return FAST_METHOD

    # -------------------------------------------------------------------------------------------- runs
    def settings(self) -> dict:
        """The controls' values now, keyed as :meth:`watch` registered them: ``target``, then per panel its
        method (``method-<i>``) and parameters (``<i>.<name>``)."""
        values = {"target": self.target_selector.value} if self.target_selector is not None else {}
        for panel in self.panels:
            values[panel.method_key] = panel.method
            values.update({f"{panel.index}.{name}": value for name, value in panel.params.items()})
        return values

    def run(self) -> None:
        """Recompute every panel with the current controls (a running computation is cancelled). Maps and curves
        whose method, parameters, target and seed are unchanged come from the cache; each map is drawn as soon as
        it is computed, before its curves are scored."""
        target, curves = self.target, self.curves_estimate()
        jobs = [
            (panel.index, panel.spec, panel.params, self.estimate(panel.method, panel.params)) for panel in self.panels
        ]
        total = max(sum(seconds + curves for *_, seconds in jobs), 1e-9)
        for panel in self.panels:
            panel.show_estimate()

        def work(progress):
            shown, done = [], 0.0
            for index, spec, params, seconds in jobs:
                part = progress.part(done / total, (done + seconds + curves) / total, tag={"panel": index})
                shown.append(self._panel_work(part, index, spec, params, target, seconds / (seconds + curves)))
                done += seconds + curves
            return tuple(shown)

        names = " and ".join(spec.title for _, spec, *_ in jobs)
        self.start(work, self.settings(), message=f"computing {names}…")

    def _panel_work(
        self, progress, index: int, spec: MethodSpec, params: dict, target: object, share: float
    ) -> PanelResult:
        """One panel's map and curves, each a cached step (runs on the worker thread); ``share`` is the map's
        part of the panel's progress."""
        key = (spec.name, spec.cache_key("map", params), _target_key(target), self.seed)

        def compute_map() -> SaliencyResult:
            kwargs = {"seed": self.seed} if _takes_seed(spec) else {}
            with progress.holding(self.model.lock):  # hooks see only this run's passes; a stale run stops waiting
                result = spec.kernel(
                    self.model, self.pixels, target, progress=progress.part(0.0, share), **kwargs, **params
                )
            progress.check()
            progress.stream({"result": result}, force=True)
            return result

        def compute_curves() -> CurveResult:
            with progress.holding(self.model.lock):
                return deletion_insertion(
                    self.model,
                    self.pixels,
                    result.saliency,
                    target,
                    preset=self.preset,
                    progress=progress.part(share, 1.0, streams=False),
                )

        progress.report(0.0, f"{spec.title}: computing the map")
        result = self.cached(f"map-{index}", key, compute_map)
        progress.report(share, f"{spec.title}: scoring the deletion and insertion curves")
        curves = self.cached(f"curves-{index}", key + (self.preset,), compute_curves)
        progress.check()
        return PanelResult(result, curves, key)

    # ------------------------------------------------------------------------------------------- state
    def show_partial(self, state: dict, settings: dict) -> None:
        """Draw a panel's streamed state: I-GOS's current mask, or a finished map whose curves are being scored."""
        panel = self.panels[state["panel"]]
        if "result" in state:
            result = state["result"]
            panel.draw(result.saliency[0, 0], self._title(result))
            curves = format_seconds(self.curves_estimate())
            panel.status.value = phrase_line(
                f"{_title(result.method)}: {result.timings.get('total', float('nan')):.2f} s",
                f"scoring the deletion and insertion curves ({curves})…",
            )
        elif "mask" in state:
            mask = state["mask"][:1].float()
            heat = normalise_maps(upsample_mask(1.0 - mask, tuple(self.pixels.shape[-2:])))
            method = _title(settings[panel.method_key])
            target = self._label(settings["target"]) if "target" in settings else self.target_text()
            panel.draw(heat[0, 0], f"{method} · {target} · iteration {state.get('iteration', '')}")
            panel.status.value = phrase_line(f"{method}: iteration {state.get('iteration', '')}…")

    def render(self) -> None:
        """Draw every panel, the curves, their legend and the scrubbed image from :attr:`shown`."""
        shown = self.shown.value if self.shown is not None else ()
        for panel in self.panels:
            panel.show_estimate()
            if panel.index < len(shown):
                panel.render(shown[panel.index], self._title(shown[panel.index].result))
        for index, (insertion, deletion) in enumerate(zip(self._insertion, self._deletion)):
            _draw_curve_lines(insertion, deletion, shown[index] if index < len(shown) else None)
        self.legend.value = _legend_html(shown)
        selected = self.scrub_panel.value
        self.scrub_panel.options = [(_title(p.result.method), i) for i, p in enumerate(shown)]
        self.scrub_panel.layout.display = "flex" if len(shown) > 1 else "none"
        if shown:
            self.scrub_panel.value = selected if selected is not None and selected < len(shown) else 0
            self.scrub.max = shown[0].curves.fractions.numel() - 1
        self._show_x_range()
        self._show_step()

    def _title(self, result: SaliencyResult) -> str:
        """``"<method> · <target>"`` of a result (what its map shows)."""
        return f"{_title(result.method)} · {self.target_text(result)}"

    # ------------------------------------------------------------------------------------------- chart
    def _build_chart(self) -> None:
        x, y = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale(min=0.0, max=1.0)
        self._insertion = [
            bq.Lines(
                x=[0.0, 1.0],
                y=[0.0, 0.0],
                scales={"x": x, "y": y},
                colors=[CURVE_COLOURS[i]],
                stroke_width=2,
                labels=["insertion"],
            )
            for i in range(len(self.panels))
        ]
        self._deletion = [
            bq.Lines(
                x=[0.0, 1.0],
                y=[0.0, 0.0],
                scales={"x": x, "y": y},
                colors=[CURVE_COLOURS[i]],
                stroke_width=2,
                line_style="dashed",
                labels=["deletion"],
            )
            for i in range(len(self.panels))
        ]
        self._x_axis = bq.Axis(scale=x, label="pixels inserted / deleted", tick_format=".0%")
        axes = [self._x_axis, bq.Axis(scale=y, orientation="vertical", label="target score", tick_format=".1f")]
        # The cursor: a selector that follows the pointer without a click once it holds a selection (bqplot's
        # FastIntervalSelector; its IndexSelector waits for a click), drawn as one thin band; double-click pins it.
        self._selector = bq.interacts.FastIntervalSelector(
            scale=x, marks=[], size=CURSOR_PX, color="#24292f", selected=self._cursor_at(0.0)
        )
        self._selector.observe(self._on_selector, names="selected")
        self._hover = Throttle(HOVER_INTERVAL, self._scrub_from_hover)
        self._cursor_from_hover = False
        self.chart = bq.Figure(
            marks=[*self._insertion, *self._deletion],
            axes=axes,
            interaction=self._selector,
            title="insertion (solid) and deletion (dashed)",
            fig_margin=_CHART_MARGIN,
            layout=widgets.Layout(width=f"{_CHART_PX}px", height="300px", margin="0 16px 0 0"),
        )
        self.chart.add_class("xw-curves")
        self.zoom = widgets.Checkbox(value=True, description="zoom to where the curves change", indent=False)
        self.zoom.add_class("xw-curves-zoom")
        self.zoom.observe(lambda _: self._show_x_range(), names="value")
        self.legend = widgets.HTML("")
        self.legend.add_class("xw-curves-legend")
        self._chart_box = widgets.VBox([self.chart, self.zoom, self.legend])
        self.scrub = widgets.IntSlider(
            value=0, min=0, max=1, description="step", continuous_update=True, style={"description_width": "40px"}
        )
        self.scrub.add_class("xw-scrub")
        self.scrub_curve = widgets.ToggleButtons(
            options=["deletion", "insertion"], value="deletion", style={"button_width": "80px"}
        )
        self.scrub_panel = widgets.Dropdown(
            options=[],
            description="map",
            style={"description_width": "40px"},
            layout=widgets.Layout(width="200px", display="none"),
        )
        self.scrub_panel.add_class("xw-scrub-panel")
        self.scrub_view = HeatmapView(
            self.pixels[0], None, title="perturbed image", show_controls=False, display_width=256
        )
        self.scrub_view.add_class("xw-scrub-view")
        for control in (self.scrub, self.scrub_curve, self.scrub_panel):
            control.observe(lambda change: None if change["new"] is None else self._show_step(), names="value")
        self._scrub_box = widgets.VBox([self.scrub_view, self.scrub_curve, self.scrub_panel, self.scrub])
        self._scrub_box.add_class("xw-scrub-box")

    @property
    def x_range(self) -> tuple[float, float]:
        """The fractions of pixels the chart's x axis shows now, ``(0, high)`` with ``high`` in (0, 1]."""
        scale = self._x_axis.scale
        return float(scale.min), float(scale.max)

    def _show_x_range(self) -> None:
        """Show all fractions, or with :attr:`zoom` on, the start where the shown curves change
        (:func:`change_window`); the axis label says which part is shown."""
        shown = self.shown.value if self.shown is not None else ()
        curves = [c for p in shown for c in (p.curves.insertion[0], p.curves.deletion[0])]
        high = change_window(shown[0].curves.fractions, curves) if shown and self.zoom.value else 1.0
        label = "pixels inserted / deleted"
        self._x_axis.label = label if high >= 1.0 else f"{label} (the first {high:.0%})"
        self._x_axis.scale.max = high
        self._move_cursor()

    def _cursor_at(self, fraction: float) -> list[float]:
        """The selection that draws the cursor at ``fraction`` (the selector is a band :data:`CURSOR_PX` wide)."""
        low, high = self.x_range
        half = (high - low) * CURSOR_PX / 2 / (_CHART_PX - _CHART_MARGIN["left"] - _CHART_MARGIN["right"])
        return [fraction - half, fraction + half]

    def _move_cursor(self) -> None:
        """Put the cursor on the scrubbed step (hidden when the step lies past the shown x range), unless the
        pointer placed it there."""
        if self._cursor_from_hover or self.shown is None or self.scrub_panel.value is None:
            return
        fractions = self.shown.value[self.scrub_panel.value].curves.fractions
        fraction = float(fractions[min(self.scrub.value, fractions.numel() - 1)])
        self._selector.selected = self._cursor_at(fraction) if fraction <= 1.01 * self.x_range[1] else None

    def _on_selector(self, change) -> None:
        """The pointer moved over the chart: scrub to the step nearest the cursor (throttled)."""
        selected = change["new"]
        if selected is None or len(selected) != 2 or self.shown is None or self.scrub_panel.value is None:
            return
        fractions = self.shown.value[self.scrub_panel.value].curves.fractions
        step = int(torch.argmin((fractions - float(sum(selected)) / 2).abs()))
        if step != self.scrub.value or self._hover.pending:
            self._hover(step)

    def _scrub_from_hover(self, step: int) -> None:
        """Set the step slider from the pointer, leaving the cursor where the pointer drew it."""
        self._cursor_from_hover = True
        try:
            self.scrub.value = min(step, self.scrub.max)
        finally:
            self._cursor_from_hover = False

    def _show_step(self) -> None:
        """Show the image the selected curve of the selected shown map scored at the slider's step."""
        if self.shown is None or self.scrub_panel.value is None:
            return
        shown = self.shown.value[self.scrub_panel.value]
        curve = self.scrub_curve.value
        images = self.cached(
            f"perturbed-{self.scrub_panel.value}-{curve}",
            shown.key + (self.preset, curve),
            lambda: perturbed_images(self.model, self.pixels, shown.result.saliency, curve, preset=self.preset)[0],
        )
        step = min(self.scrub.value, images.shape[0] - 1)
        fraction = float(shown.curves.fractions[step])
        score = float(getattr(shown.curves, curve)[0, step])
        self.scrub_view.set_data(image=images[step])
        verb = "deleted" if curve == "deletion" else "inserted"
        self.scrub_view.title = f"{_title(shown.result.method)} · {fraction:.0%} {verb} · score {score:.3f}"
        self._move_cursor()

    def close(self) -> None:
        """Stop a pending hover update, then close as every explorer does."""
        hover = getattr(self, "_hover", None)
        if hover is not None:
            hover.cancel()
        super().close()

    # ------------------------------------------------------------------------------------------ figure
    def draw_figure(self, **style: Any):
        """Each shown map over the image, titled with the method and target it was computed with, in the first
        panel's colormap, alpha, threshold and mode (``style`` overrides them), and the curves with their AUCs."""
        shown = self.current.value
        view = self.panels[0].view
        style = {**view.blending, **style}
        curves = [
            {
                "label": _title(p.result.method),
                "fractions": p.curves.fractions,
                "deletion": p.curves.deletion[0],
                "insertion": p.curves.insertion[0],
                "deletion_auc": p.curves.deletion_auc[0],
                "insertion_auc": p.curves.insertion_auc[0],
            }
            for p in shown
        ]
        return saliency_figure(
            [self.pixels[0].cpu()] * len(shown),
            [p.result.saliency[0] for p in shown],
            [self._title(p.result) for p in shown],
            curves=curves,
            **style,
        )


class HeatmapPanel(widgets.VBox):
    """One method's column in a :class:`HeatmapExplorer`: the method menu (each method with its estimated time),
    the view, a status line, the estimate at the current settings, and the controls generated from the method's
    parameters.

    ``remembered`` maps methods to parameter values to restore when they are selected; a method left in the
    menu is remembered with its controls' values.
    """

    def __init__(
        self,
        explorer: HeatmapExplorer,
        method: str,
        params: dict | None,
        index: int,
        colormap: str,
        remembered: dict | None = None,
    ):
        self.explorer, self.index = explorer, index
        self.method_key = f"method-{index}"
        self._remembered = dict(remembered or {})
        self._remembered[method] = params or {}
        options = [
            (f"{s.title} ({format_seconds(explorer.estimate(s.name, self._remembered.get(s.name)))})", s.name)
            for s in specs("heatmap")
        ]
        self.method_selector = widgets.Dropdown(
            options=options,
            value=method,
            description="method",
            style={"description_width": "60px"},
            layout=widgets.Layout(width="300px"),
        )
        self.method_selector.add_class("xw-method")
        self.view = HeatmapView(
            explorer.pixels[0],
            None,
            colormap=colormap,
            alpha=0.5,
            threshold=0.15,
            title=_title(method),
            display_width=256,
        )
        self.status = widgets.HTML("")
        self.status.add_class("xw-run-status")
        self.estimate_text = widgets.HTML("")
        self.estimate_text.add_class("xw-estimate")
        self.controls: dict[str, widgets.Widget] = {}
        self.controls_box = widgets.VBox([])
        self.accordion = widgets.Accordion(
            children=[self.controls_box], selected_index=0 if index == 0 else None, layout=widgets.Layout(width="400px")
        )
        super().__init__(
            [self.method_selector, self.view, self.status, self.estimate_text, self.accordion],
            layout=widgets.Layout(margin="0 16px 8px 0"),
        )
        self.add_class(f"xw-panel-{index}")
        self._drawn: PanelResult | None = None
        self._build_controls(method)
        self.method_selector.observe(self._on_method, names="value")

    @property
    def method(self) -> str:
        """The method the menu selects now."""
        return self.method_selector.value

    @property
    def spec(self) -> MethodSpec:
        return get_spec(self.method, kinds=_HEATMAP)

    @property
    def params(self) -> dict:
        """The current values of the method's controls."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def result(self) -> SaliencyResult | None:
        """The result this panel shows (None before the first run ends)."""
        shown = self.explorer.shown
        return shown.value[self.index].result if shown is not None else None

    @property
    def curves(self) -> CurveResult | None:
        """The curves of the map this panel shows."""
        shown = self.explorer.shown
        return shown.value[self.index].curves if shown is not None else None

    def watch_controls(self) -> None:
        """Register the parameter controls with the explorer (a change re-runs it)."""
        self.explorer.watch({f"{self.index}.{name}": control for name, control in self.controls.items()})

    def _build_controls(self, method: str) -> None:
        spec = get_spec(method, kinds=_HEATMAP)
        self.controls = controls_for(spec.params, spec.params.resolve(self._remembered.get(method)))
        if "resolution" in self.controls:  # a mask has at most one cell per pixel
            resolution = self.controls["resolution"]
            resolution.max = min(resolution.max, *self.explorer.pixels.shape[-2:])
        self.controls_box.children = list(self.controls.values())
        self.accordion.set_title(0, f"{spec.title} parameters")
        self.show_estimate()

    def _on_method(self, change) -> None:
        """Swap the controls for the new method's (the explorer's watch of the menu then re-runs it)."""
        self._remembered[change["old"]] = self.params
        self.explorer.unwatch([f"{self.index}.{name}" for name in self.controls])
        old = list(self.controls.values())
        self._build_controls(change["new"])
        close_widgets(old)  # with their layouts and styles
        self.watch_controls()

    def show_estimate(self) -> None:
        """Say the map's and the curves' estimated seconds at the controls' current settings."""
        explorer = self.explorer
        seconds = explorer.estimate(self.method, self.params)
        line = phrase_line(
            f"estimate on {device_words(explorer.model)}: map {format_seconds(seconds)}",
            f"curves {format_seconds(explorer.curves_estimate())}",
        )
        self.estimate_text.value = f"<span style='color:#57606a;font-size:12px'>{line}</span>"

    def draw(self, heat: torch.Tensor, title: str) -> None:
        """Draw a streamed map ``[H, W]`` in [0, 1] with its title."""
        self.view.set_data(heatmap=heat)
        self.view.title = title
        self._drawn = None

    def render(self, shown: PanelResult, title: str) -> None:
        """Draw the shown map (unless drawn already), its title, and its time and AUCs in the status line."""
        if self._drawn is not shown:
            self.view.set_data(heatmap=shown.result.saliency[0, 0])
            self._drawn = shown
        self.view.title = title
        curves = shown.curves
        seconds = shown.result.timings.get("total", float("nan"))
        self.status.value = phrase_line(
            f"{_title(shown.result.method)}: {seconds:.2f} s",
            f"insertion {float(curves.insertion_auc[0]):.3f}",
            f"deletion {float(curves.deletion_auc[0]):.3f}",
        )


# ----------------------------------------------------------------------------------------------- helpers
def _checked(model, image, method, compare, target, params, compare_params, preset, colormap, seed):
    """Check every argument before a widget exists; return the image's pixels ``[1, 3, H, W]`` and the target as
    :func:`_checked_target` splits it."""
    check_model(model, Model)
    for name, value in (("method", method), ("compare", compare)):
        if value is not None:
            get_spec(value, kinds=_HEATMAP, name=name)
    if preset not in PRESETS:
        raise invalid("preset", preset, one_of(list(PRESETS)))
    check_seed(seed)
    if colormap not in COLORMAPS:
        raise invalid("colormap", colormap, one_of(list(COLORMAPS)))
    pixels = model.prepare(image, name="image")
    if pixels.shape[0] != 1:
        raise invalid("image", f"a batch of {pixels.shape[0]} images", "a single image")
    for name, chosen, values in (
        ("params", method or DEFAULT_METHOD, params),
        ("compare_params", compare, compare_params),
    ):
        if values is not None and not isinstance(values, dict):
            raise invalid(name, values, "a dict of parameter values")
        if chosen is not None:
            resolved = get_spec(chosen, kinds=_HEATMAP).params.resolve(values)  # unknown names, out of range
            if "resolution" in resolved:
                mask_resolution(resolved["resolution"], tuple(pixels.shape[-2:]))
    picked, fixed = _checked_target(model, pixels, target)
    return pixels, picked, fixed


def _checked_target(model: Model, pixels: torch.Tensor, target: object) -> tuple[int | None, object]:
    """``(class, None)`` for a classifier: its target as a class index (None: the top-1), checked; ``(None,
    target)`` for an embedder, its target as given."""
    if not isinstance(model, Classifier):
        if target is None:
            raise invalid("target", None, "a target for an embedder, e.g. xw.similarity_to(model, reference)")
        return None, target
    if target is None:
        return None, None
    if isinstance(target, bool) or not isinstance(target, (int, str)):
        raise invalid("target", target, "a class index or class name (or None for the top-1 class)")
    with torch.no_grad(), model.frozen():
        resolved = resolve_target(target, model, model.forward(model.normalize(pixels)))  # range, close names
    return int(cast(ClassTarget, resolved).classes[0]), None  # a class index or name resolves to a ClassTarget


def _title(method: str) -> str:
    """The readable name of a heatmap method ("I-GOS")."""
    return get_spec(method, kinds=_HEATMAP).title


def _takes_seed(spec: MethodSpec) -> bool:
    return "seed" in inspect.signature(spec.kernel).parameters


def _target_key(target: object) -> object:
    """What identifies a target in a cache key: the class, or the embedder's target object itself."""
    return tuple(target.classes.tolist()) if isinstance(target, ClassTarget) else id(target)


def change_window(fractions: torch.Tensor, curves: Sequence[torch.Tensor], *, tolerance: float = 0.1) -> float:
    """The upper end of the x range where deletion and insertion ``curves`` change, for a chart to zoom to.

    ``fractions`` ``[S + 1]`` in [0, 1] are the curves' x; each curve ``[S + 1]`` is a score per fraction. A curve
    has settled from the first fraction after which it stays within ``tolerance`` of its range (max − min) of its
    last value. The end is the least of :data:`ZOOM_ENDS` that holds 1.5 times the latest such fraction and at
    least :data:`ZOOM_MIN_STEPS` steps; 1.0 when none does (curves that change late, or few steps) or when no curve
    changes at all. A confident class's curves (settled after 4 % of the pixels) give 0.2.
    """
    settled = 0.0
    for curve in curves:
        values = curve.detach().float().cpu()
        far = ((values - values[-1]).abs() > tolerance * float(values.max() - values.min())).nonzero()
        if far.numel():
            settled = max(settled, float(fractions[int(far[-1]) + 1]))
    if settled == 0.0:
        return 1.0
    needed = max(1.5 * settled, float(fractions[min(ZOOM_MIN_STEPS, fractions.numel() - 1)]))
    return next((end for end in ZOOM_ENDS if end >= needed - 1e-9), 1.0)


class Throttle:
    """Calls ``apply(value)`` with the latest value at most once per ``interval`` seconds: at once when the last
    call is older than that, else when the interval has passed (on a timer thread), with the value given last;
    the values in between are dropped. The curves' hover uses it so a sweep of the pointer does not send one
    perturbed image per mouse event."""

    def __init__(self, interval: float, apply: Callable[[Any], Any]):
        self.interval, self.apply = interval, apply
        self._lock = threading.Lock()
        self._last = -math.inf
        self._value: Any = None
        self._timer: threading.Timer | None = None

    @property
    def pending(self) -> bool:
        """Whether a value waits for its interval to pass."""
        return self._timer is not None

    def __call__(self, value: Any) -> None:
        with self._lock:
            self._value = value
            if self._timer is not None:
                return
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._flush)
                self._timer.daemon = True
                self._timer.start()
                return
        self._flush()

    def cancel(self) -> None:
        """Drop the waiting value (nothing is applied)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._value = None, None

    def _flush(self) -> None:
        with self._lock:
            value, self._value, self._timer = self._value, None, None
            self._last = time.monotonic()
        if value is not None:
            self.apply(value)


def _draw_curve_lines(insertion: bq.Lines, deletion: bq.Lines, shown: PanelResult | None) -> None:
    """Draw one panel's insertion and deletion curves (hidden before its first result)."""
    with insertion.hold_sync(), deletion.hold_sync():
        if shown is None:
            insertion.visible = deletion.visible = False
            return
        curves, name = shown.curves, _title(shown.result.method)
        fractions = curves.fractions.numpy()
        insertion.x, insertion.y = fractions, curves.insertion[0].numpy()
        deletion.x, deletion.y = fractions, curves.deletion[0].numpy()
        insertion.labels = [f"{name} insertion, AUC {float(curves.insertion_auc[0]):.3f}"]
        deletion.labels = [f"{name} deletion, AUC {float(curves.deletion_auc[0]):.3f}"]
        insertion.visible = deletion.visible = True


def _legend_html(shown: tuple[PanelResult, ...]) -> str:
    """Line samples and AUCs of every shown panel's curves (drawn under the chart, where long labels fit)."""
    rows = [
        f"<div>{_line_sample(CURVE_COLOURS[index], False)} {html.escape(_title(p.result.method))} insertion, "
        f"AUC {float(p.curves.insertion_auc[0]):.3f} &nbsp; {_line_sample(CURVE_COLOURS[index], True)} "
        f"deletion, AUC {float(p.curves.deletion_auc[0]):.3f}</div>"
        for index, p in enumerate(shown)
    ]
    return "<div style='font-size:12px;line-height:1.6;margin-left:50px'>" + "".join(rows) + "</div>"


def _line_sample(colour: str, dashed: bool) -> str:
    dash = " stroke-dasharray='5,3'" if dashed else ""
    return (
        f"<svg width='26' height='8' style='vertical-align:middle'><line x1='0' y1='4' x2='26' y2='4' "
        f"stroke='{colour}' stroke-width='2'{dash}/></svg>"
    )
