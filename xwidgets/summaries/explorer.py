"""SummaryExplorer: the visual summaries of one class, live.

Top, the accepted summaries in a :class:`~xwidgets.views.GalleryView`, one row each: its samples cropped around
their region, in context (the image dimmed outside the proposal). Click a summary to see its members below, each
full image with the region outlined. Right, the controls (preference, minimum area, mask threshold), a progress bar
for the dataset pass, and a bqplot chart comparing models by their number of accepted summaries. The pipeline's
caches make the preference re-cluster at once; the area and threshold redo the regions and what follows; neither
recomputes the crisp masks.
"""

from __future__ import annotations

import html
import threading

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from ..core.errors import XWidgetsError, invalid
from ..core.models import Classifier, check_model
from ..core.runner import Runner
from ..views import GalleryView, control_for
from .figure import OUTLINE, in_context
from .summary import SUMMARY_PARAMS, SummaryPipeline, SummaryResult

__all__ = ["SummaryExplorer", "CONTROLS"]

#: The parameters the explorer offers as controls (the others keep their values from ``params``).
CONTROLS = ("preference_factor", "min_area", "mask_threshold")
_CROP = 72
_SUMMARY_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


class SummaryExplorer(widgets.VBox):
    """Compute and browse the visual summaries of one class.

    Args:
        model: the :class:`~xwidgets.core.models.Classifier` to summarise.
        images: images of the class (any form ``to_batch`` accepts, one size).
        target: the class, as an index or a label.
        compare: other classifiers ``{name: Classifier}`` whose summary counts the chart shows beside ``model``'s.
        mask_params: overrides of :data:`~xwidgets.summaries.masks.CRISP_PARAMS`.
        params: overrides of :data:`~xwidgets.summaries.summary.SUMMARY_PARAMS`.
        run: start at once (False: call :meth:`run`).

    Attributes:
        result: the current :class:`~xwidgets.summaries.SummaryResult`; ``counts`` the accepted summaries per
        model name; ``selected`` the index of the summary shown below (among the accepted ones), or None.
    """

    def __init__(self, model: Classifier, images: object, target: int | str, *, compare: dict | None = None,
                 mask_params: dict | None = None, params: dict | None = None, run: bool = True):
        check_model(model, Classifier)
        if compare is not None and not isinstance(compare, dict):
            raise invalid("compare", compare, "a dict {name: Classifier}")
        for name, other in (compare or {}).items():
            check_model(other, Classifier, name=f"compare[{name!r}]")
        if params is not None and not isinstance(params, dict):
            raise invalid("params", params, "a dict of summary parameter values")
        values = SUMMARY_PARAMS.resolve(params)
        self._fixed = values
        self.pipelines = {model.name: SummaryPipeline(model, images, target, mask_params=mask_params)}
        for name, other in (compare or {}).items():
            if name in self.pipelines:
                raise invalid("compare", f"the name {name!r} twice", "model names that differ from each other")
            self.pipelines[name] = SummaryPipeline(other, images, target, mask_params=mask_params)
        self.name = model.name
        self.result: SummaryResult | None = None
        self.counts: dict[str, int] = {}
        self.selected: int | None = None
        self.error: BaseException | None = None
        self.runner = Runner()
        self._token = 0
        self._done = threading.Event()
        self._done.set()

        self.summaries = GalleryView([], title="summaries: the parts the network uses again and again (click one)",
                                     thumbnail_size=_CROP)
        self.summaries.add_class("xw-summary-gallery")
        self.members = GalleryView([], title="", thumbnail_size=112, wrap=True)
        self.members.add_class("xw-summary-members")
        self.controls = {name: control_for(SUMMARY_PARAMS[name], values[name]) for name in CONTROLS}
        for control in self.controls.values():
            control.layout.width = "320px"
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="320px"))
        self.status = widgets.HTML("")
        self.status.add_class("xw-run-status")
        x, y = bq.OrdinalScale(), bq.LinearScale(min=0.0)
        self.bars = bq.Bars(x=list(self.pipelines), y=[0] * len(self.pipelines), scales={"x": x, "y": y},
                            colors=["#0072B2"], padding=0.3)
        self._count_axis = bq.Axis(scale=y, orientation="vertical", label="accepted summaries", tick_format="d",
                                   tick_values=[0, 1])
        self.chart = bq.Figure(marks=[self.bars], axes=[bq.Axis(scale=x, label="model"), self._count_axis],
                               fig_margin={"top": 10, "bottom": 40, "left": 50, "right": 10},
                               layout=widgets.Layout(width="320px", height="220px"))
        self.chart.add_class("xw-summary-chart")
        side = widgets.VBox([*self.controls.values(), self.progress, self.status, self.chart],
                            layout=widgets.Layout(width="340px", margin="0 0 0 12px"))
        super().__init__([widgets.HBox([widgets.VBox([self.summaries], layout=widgets.Layout(flex="1 1 0",
                                                                                             min_width="0")),
                                        side]), self.members])
        self.add_class("xw-summary-explorer")
        self.summaries.on_select(self._on_summary)
        for control in self.controls.values():
            control.observe(lambda change: self.run(), names="value")
        if run:
            self.run()

    @property
    def params(self) -> dict:
        """Every summary parameter: the controls' current values over those given at construction."""
        return {**self._fixed, **{name: control.value for name, control in self.controls.items()}}

    # ---------------------------------------------------------------------------------------- running
    def run(self) -> None:
        """Run the pipelines with the current controls (cached steps are reused); cancels a running one."""
        self._token += 1
        token = self._token
        self._done.clear()
        self.error = None
        self.progress.value, self.progress.bar_style = 0.0, ""
        self.status.value = "computing…"
        params = self.params
        names = list(self.pipelines)

        def work(progress):
            results = {}
            for index, name in enumerate(names):
                pipeline = self.pipelines[name]
                with pipeline.model.lock:
                    results[name] = pipeline.run(progress=progress.part(index / len(names),
                                                                        (index + 1) / len(names)), **params)
            return results

        self.runner.submit(work, on_progress=lambda f, m: self._on_progress(token, f, m),
                           on_done=lambda results: self._on_done(token, results),
                           on_error=lambda error: self._on_error(token, error))

    def wait(self, timeout: float | None = None) -> SummaryExplorer:
        """Block until the current run has ended (for scripts and notebooks executed headless); by default as long
        as it takes, else at most ``timeout`` seconds."""
        if not self._done.wait(timeout):
            raise XWidgetsError(f"the summaries did not finish within timeout={timeout} s")
        if self.error is not None:
            raise self.error
        return self

    def _on_progress(self, token: int, fraction: float, message: str) -> None:
        if token == self._token:
            self.progress.value = fraction
            self.status.value = html.escape(message)

    def _on_done(self, token: int, results: dict) -> None:
        if token != self._token:
            return
        self.result = results[self.name]
        self.counts = {name: len(result.accepted) for name, result in results.items()}
        self.bars.y = [self.counts[name] for name in self.pipelines]
        self._count_axis.tick_values = list(range(0, max(self.counts.values()) + 2))
        self._draw_summaries()
        result = self.result
        skipped = f" · {len(result.skipped)} image(s) skipped (not classified as {result.target_name})" \
            if result.skipped else ""
        self.progress.value, self.progress.bar_style = 1.0, "success"
        self.status.value = (f"<b>{len(result.accepted)}</b> summaries accepted of {len(result.summaries)} "
                             f"clusters, from {result.images.shape[0]} images{html.escape(skipped)}")
        self._done.set()

    def _on_error(self, token: int, error: BaseException) -> None:
        if token != self._token:
            return
        self.error = error
        self.progress.bar_style = "danger"
        self.status.value = "error: " + html.escape(str(error))
        self._done.set()

    # ---------------------------------------------------------------------------------------- drawing
    def _draw_summaries(self) -> None:
        result = self.result
        pictures = result.images.permute(0, 2, 3, 1).clamp(0, 1).numpy()
        groups = []
        for number, summary in enumerate(result.accepted):
            items = []
            for rank, proposal in enumerate(summary["samples"]):
                box = result.boxes[proposal].tolist()
                row = int(result.box_image[proposal])
                picture = _crop(in_context(pictures[row].copy(), box), box)
                items.append({"id": f"s{number}-{rank}", "image": picture,
                              "detail": f"image {int(result.indices[row])}"})
            groups.append({"id": f"summary{number}", "title": f"summary {number + 1}",
                           "detail": f"{len(items)} samples · median SSIM {summary['ssim']:.2f}",
                           "colour": _SUMMARY_COLOURS[number % len(_SUMMARY_COLOURS)], "items": items})
        self.summaries.set_groups(groups)
        if self.selected is not None and self.selected < len(groups):
            self.show(self.selected)
        else:
            self.selected = None
            self.members.set_groups([])
            self.members.title = ""

    def show(self, number: int) -> None:
        """Show accepted summary ``number`` (0-based): its members on their full images, the region outlined."""
        if self.result is None:
            raise XWidgetsError("no summaries yet: wait for the run (explorer.wait())")
        accepted = self.result.accepted
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < len(accepted):
            raise invalid("number", number, f"an accepted summary in 0..{len(accepted) - 1}")
        self.selected = number
        result = self.result
        items = []
        for rank, proposal in enumerate(accepted[number]["samples"]):
            x0, y0, x1, y1 = result.boxes[proposal].tolist()
            row = int(result.box_image[proposal])
            items.append({"id": f"m{rank}", "image": result.images[row],
                          "caption": f"image {int(result.indices[row])}",
                          "boxes": [{"x0": x0, "y0": y0, "x1": x1, "y1": y1, "colour": OUTLINE}]})
        self.members.set_groups([{"id": "members", "items": items}])
        self.members.title = f"summary {number + 1}: its members on their images"
        if self.summaries.selected_group != f"summary{number}":
            self.summaries.select(group=f"summary{number}")

    def _on_summary(self, group: str, item: str) -> None:
        number = int(group.removeprefix("summary"))
        if number != self.selected:
            self.show(number)

    # ---------------------------------------------------------------------------------------- output
    def figure(self, path=None, **style):
        """The accepted summaries as a mosaic for a paper (:func:`~xwidgets.summaries.figure.summary_figure`)."""
        if self.result is None:
            raise XWidgetsError("no summaries yet: wait for the run (explorer.wait()) before figure()")
        return self.result.figure(path=path, **style)

    def close(self) -> None:
        """Cancel the run, wait for its thread, and close every child widget."""
        runner = getattr(self, "runner", None)
        if runner is not None:
            runner.close()
        for widget in (*getattr(self, "controls", {}).values(), *(getattr(self, n, None) for n in (
                "summaries", "members", "progress", "status", "bars", "_count_axis", "chart")), *self.children):
            if widget is not None:
                widget.close()
        super().close()


def _crop(picture: np.ndarray, box, margin: float = 0.5) -> np.ndarray:
    """The region of ``picture`` around ``box`` grown by ``margin`` of its size each side, as uint8 (the gallery
    scales it into its square, aspect kept)."""
    height, width = picture.shape[:2]
    x0, y0, x1, y1 = box
    grow_x, grow_y = (x1 - x0) * margin + 4, (y1 - y0) * margin + 4
    left, top = max(0, int(x0 - grow_x)), max(0, int(y0 - grow_y))
    right, bottom = min(width, int(np.ceil(x1 + grow_x))), min(height, int(np.ceil(y1 + grow_y)))
    return (np.clip(picture[top:bottom, left:right], 0, 1) * 255).round().astype(np.uint8)
