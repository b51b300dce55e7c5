"""SummaryExplorer: the visual summaries of one class, live.

Top, the accepted summaries in a :class:`~xwidgets.views.GalleryView`, one row each: its samples cropped around
their region, in context (the image dimmed outside the proposal). Click a summary to see its members below, each
full image with the region outlined. Right, the controls (preference, minimum area, mask threshold), the progress
bar of the dataset pass, a line saying what is shown, and a bqplot chart comparing models by their number of
accepted summaries. Each model's :class:`~xwidgets.core.steps.StepCache` makes the preference re-cluster at once;
the area and threshold redo the regions and what follows; neither recomputes the crisp masks.
"""

from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..core.errors import XWidgetsError, invalid
from ..core.models import Classifier, check_model
from ..core.steps import StepCache
from ..views import GalleryView, control_for
from ..views.explorer import Explorer
from .figure import OUTLINE, in_context, summary_colour
from .summary import SUMMARY_PARAMS, SummaryResult, summaries

__all__ = ["SummaryExplorer", "CONTROLS"]

#: The parameters the explorer offers as controls (the others keep their values from ``params``).
CONTROLS = ("preference_factor", "min_area", "mask_threshold")
_CROP = 72


class SummaryExplorer(Explorer):
    """Compute and browse the visual summaries of one class.

    Args:
        model: the :class:`~xwidgets.core.models.Classifier` to summarise.
        images: images of the class (any form ``xw.fit`` takes as data, one size).
        target: the class, an index or a class name; None: the images' most common top-1 class.
        compare: other classifiers ``{name: Classifier}`` whose summary counts the chart shows beside ``model``'s.
        mask_params: overrides of the mask parameters (:data:`~xwidgets.summaries.masks.CRISP_PARAMS`).
        params: overrides of :data:`~xwidgets.summaries.summary.SUMMARY_PARAMS`.
        run: start at once (False: call :meth:`run`).

    Attributes:
        result: the shown :class:`~xwidgets.summaries.SummaryResult`; ``counts`` the accepted summaries per model
        name; ``selected`` the index of the summary shown below (among the accepted ones), or None.
    """

    work_name = "the summaries"

    def __init__(
        self,
        model: Classifier,
        images: object,
        target: int | str | None = None,
        *,
        compare: dict | None = None,
        mask_params: dict | None = None,
        params: dict | None = None,
        run: bool = True,
    ):
        check_model(model, Classifier)
        if compare is not None and not isinstance(compare, dict):
            raise invalid("compare", compare, "a dict {name: Classifier}")
        for name, other in (compare or {}).items():
            check_model(other, Classifier, name=f"compare[{name!r}]")
        if compare and model.name in compare:
            raise invalid("compare", f"the name {model.name!r} twice", "model names that differ from each other")
        if params is not None and not isinstance(params, dict):
            raise invalid("params", params, "a dict of summary parameter values")
        self._fixed = SUMMARY_PARAMS.resolve({**(mask_params or {}), **(params or {})})
        super().__init__()
        self.images, self.target, self.name = images, target, model.name
        self.models = {model.name: model, **(compare or {})}
        self.caches = {name: self.steps if name == model.name else StepCache() for name in self.models}
        self.selected: int | None = None

        self.summaries = GalleryView(
            [], title="summaries: the parts the network uses again and again (click one)", thumbnail_size=_CROP
        )
        self.summaries.add_class("xw-summary-gallery")
        self.members = GalleryView([], title="", thumbnail_size=112, wrap=True)
        self.members.add_class("xw-summary-members")
        self.controls = {name: control_for(SUMMARY_PARAMS[name], self._fixed[name]) for name in CONTROLS}
        for control in self.controls.values():
            control.layout.width = "320px"
        self.progress.layout.width = "230px"
        self.headline = widgets.HTML("")
        self.headline.add_class("xw-summary-status")
        x, y = bq.OrdinalScale(), bq.LinearScale(min=0.0)
        self.bars = bq.Bars(
            x=list(self.models), y=[0] * len(self.models), scales={"x": x, "y": y}, colors=["#0072B2"], padding=0.3
        )
        self._count_axis = bq.Axis(
            scale=y, orientation="vertical", label="accepted summaries", tick_format="d", tick_values=[0, 1]
        )
        self.chart = bq.Figure(
            marks=[self.bars],
            axes=[bq.Axis(scale=x, label="model"), self._count_axis],
            fig_margin={"top": 10, "bottom": 40, "left": 50, "right": 10},
            layout=widgets.Layout(width="320px", height="220px"),
        )
        self.chart.add_class("xw-summary-chart")
        side = widgets.VBox(
            [*self.controls.values(), self.progress_box, self.headline, self.chart],
            layout=widgets.Layout(width="340px", margin="0 0 0 12px"),
        )
        gallery = widgets.VBox([self.summaries], layout=widgets.Layout(flex="1 1 0", min_width="0"))
        self.children = [widgets.HBox([gallery, side]), self.members]
        self.add_class("xw-summary-explorer")
        self.summaries.on_select(self._on_summary)
        self.watch(self.controls)
        if run:
            self.run()

    @property
    def params(self) -> dict:
        """Every summary parameter: the controls' current values over those given at construction."""
        return {**self._fixed, **{name: control.value for name, control in self.controls.items()}}

    @property
    def result(self) -> SummaryResult | None:
        """The shown summaries of the explorer's model, or None before the first run ends."""
        return None if self.shown is None else self.shown.value[self.name]

    @property
    def counts(self) -> dict[str, int]:
        """The accepted summaries per model name, as shown."""
        return {} if self.shown is None else {n: len(r.accepted) for n, r in self.shown.value.items()}

    def run(self) -> None:
        """Summarise with the current controls (each model's cached steps are reused); cancels a running run."""
        params, names = self.params, list(self.models)

        def work(progress):
            results: dict[str, SummaryResult] = {}
            target = self.target
            for index, name in enumerate(names):
                model = self.models[name]
                with model.lock:
                    results[name] = summaries(
                        model,
                        self.images,
                        target,
                        cache=self.caches[name],
                        progress=progress.part(index / len(names), (index + 1) / len(names)),
                        **params,
                    )
                target = results[names[0]].target  # every model summarises the first model's class
            return results

        self.start(work, params, message="computing the summaries…")

    # ---------------------------------------------------------------------------------------- drawing
    def render(self) -> None:
        """Draw the gallery, the members of the selected summary, the chart and the headline from :attr:`shown`."""
        result: SummaryResult = self.current.value[self.name]
        counts = self.counts
        self.bars.y = [counts[name] for name in self.models]
        self._count_axis.tick_values = list(range(0, max(counts.values()) + 2))
        self.summaries.set_groups(self._groups(result))
        skipped = (
            f" · {len(result.skipped)} image(s) skipped (not classified as {result.target_name})"
            if result.skipped
            else ""
        )
        self.headline.value = (
            f"<b>{len(result.accepted)}</b> summaries of {html.escape(result.target_name)} "
            f"accepted of {len(result.summaries)} clusters, from {result.images.shape[0]} images"
            f"{html.escape(skipped)}"
        )
        if self.selected is not None and self.selected < len(result.accepted):
            self.show(self.selected)
        else:
            self.selected = None
            self.members.set_groups([])
            self.members.title = ""

    @staticmethod
    def _groups(result: SummaryResult) -> list[dict]:
        pictures = result.images.permute(0, 2, 3, 1).clamp(0, 1).numpy()
        groups = []
        for number, summary in enumerate(result.accepted):
            items = []
            for rank, proposal in enumerate(summary["samples"]):
                box = result.boxes[proposal].tolist()
                row = int(result.box_image[proposal])
                items.append(
                    {
                        "id": f"s{number}-{rank}",
                        "image": _crop(in_context(pictures[row].copy(), box), box),
                        "detail": f"image {int(result.indices[row])}",
                    }
                )
            groups.append(
                {
                    "id": f"summary{number}",
                    "title": f"summary {number + 1}",
                    "detail": f"{len(items)} samples · median SSIM {summary['ssim']:.2f}",
                    "colour": summary_colour(number),
                    "items": items,
                }
            )
        return groups

    def show(self, number: int) -> None:
        """Show accepted summary ``number`` (0-based): its members on their full images, the region outlined."""
        result = self.result
        if result is None:
            raise XWidgetsError("no summaries yet: wait for the run (explorer.wait())")
        accepted = result.accepted
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < len(accepted):
            raise invalid("number", number, f"an accepted summary in 0..{len(accepted) - 1}")
        self.selected = number
        items = []
        for rank, proposal in enumerate(accepted[number]["samples"]):
            x0, y0, x1, y1 = result.boxes[proposal].tolist()
            row = int(result.box_image[proposal])
            items.append(
                {
                    "id": f"m{rank}",
                    "image": result.images[row],
                    "caption": f"image {int(result.indices[row])}",
                    "boxes": [{"x0": x0, "y0": y0, "x1": x1, "y1": y1, "colour": OUTLINE}],
                }
            )
        self.members.set_groups([{"id": "members", "items": items}])
        self.members.title = f"summary {number + 1}: its members on their images"
        if self.summaries.selected_group != f"summary{number}":
            self.summaries.select(group=f"summary{number}")

    def _on_summary(self, group: str, item: str) -> None:
        number = int(group.removeprefix("summary"))
        if number != self.selected:
            self.show(number)

    def draw_figure(self, **style):
        """The shown summaries as a mosaic for a paper (:func:`~xwidgets.summaries.figure.summary_figure`)."""
        return self.current.value[self.name].figure(**style)


def _crop(picture: np.ndarray, box, margin: float = 0.5) -> np.ndarray:
    """The region of ``picture`` around ``box`` grown by ``margin`` of its size each side, as uint8 (the gallery
    scales it into its square, aspect kept)."""
    height, width = picture.shape[:2]
    x0, y0, x1, y1 = box
    grow_x, grow_y = (x1 - x0) * margin + 4, (y1 - y0) * margin + 4
    left, top = max(0, int(x0 - grow_x)), max(0, int(y0 - grow_y))
    right, bottom = min(width, int(np.ceil(x1 + grow_x))), min(height, int(np.ceil(y1 + grow_y)))
    return (np.clip(picture[top:bottom, left:right], 0, 1) * 255).round().astype(np.uint8)
