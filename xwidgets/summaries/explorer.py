"""SummaryExplorer: the visual summaries of one class, live.

Top, the accepted summaries in a :class:`~xwidgets.views.GalleryView`, one row each: its samples cropped around
their region, in context (the image dimmed outside the proposal), wrapping onto as many lines as the row needs.
Click a summary to see its members below, each full image with the region outlined. Until the first summaries are
drawn, the same place shows the dataset pass: what it is doing, how many images are done, and the images done so
far, each dimmed outside its mask. Right, the controls (preference, minimum area, mask threshold), the progress
bar of the dataset pass, a line saying what is shown, and a bqplot chart comparing models by their number of
accepted summaries. Each model's :class:`~xwidgets.core.steps.StepCache` makes the preference re-cluster at once;
the area and threshold redo the regions and what follows; neither recomputes the crisp masks.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..core.errors import XWidgetsError, invalid
from ..core.models import Classifier, check_model
from ..core.sources import image_count, image_source, read_images, stored_images
from ..core.steps import StepCache
from ..core.targets import class_index
from ..views import GalleryView, control_for, thumbnail
from ..views.explorer import Explorer, phrase_line
from .figure import OUTLINE, OUTSIDE_GREY, in_context, summary_colour
from .summary import SUMMARY_PARAMS, SummaryResult, summaries

__all__ = ["SummaryExplorer", "CONTROLS"]

#: The parameters the explorer offers as controls (the others keep their values from ``params``).
CONTROLS = ("preference_factor", "min_area", "mask_threshold")
_CROP = 72
#: Side of a thumbnail of the dataset pass, and the most of them shown (the latest images done).
_PASS_THUMB, _PASS_SHOWN = 56, 32
#: What the explorer keeps of a streamed state of the dataset pass (see :func:`_pass_line`).
_PASS_KEYS = ("summary_pass", "count", "batch", "step", "steps", "done", "message")


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
        for name, values in (("mask_params", mask_params), ("params", params)):
            if values is not None and not isinstance(values, dict):
                raise invalid(name, values, "a dict of summary parameter values")
        if target is not None:
            class_index(target, model.labels, len(model.labels) if model.labels else None)
        source = image_source(images)
        if stored_images(source) is None:  # read once here, so a bad image is refused as images[i], not data[i]
            read_images(model, source, 0, image_count(source))
        self._fixed = SUMMARY_PARAMS.resolve({**(mask_params or {}), **(params or {})})
        super().__init__()
        self.images, self.target, self.name = images, target, model.name
        self.models = {model.name: model, **(compare or {})}
        self.caches = {name: self.steps if name == model.name else StepCache() for name in self.models}
        self.selected: int | None = None

        self.summaries = GalleryView(
            [],
            title="summaries: the parts the network uses again and again · click one",
            thumbnail_size=_CROP,
            wrap=True,
        )
        self.summaries.add_class("xw-summary-gallery")
        self.pass_status = widgets.HTML("")
        self.pass_status.add_class("xw-summary-pass-status")
        self.pass_view = GalleryView([], thumbnail_size=_PASS_THUMB, wrap=True)
        self.pass_view.add_class("xw-summary-pass")
        self.pass_box = widgets.VBox([self.pass_status, self.pass_view], layout=widgets.Layout(display="none"))
        self._pass: dict[str, Any] = {}
        self.members = GalleryView([], title="", thumbnail_size=112, wrap=True)
        self.members.add_class("xw-summary-members")
        self.controls = {name: control_for(SUMMARY_PARAMS[name], self._fixed[name]) for name in CONTROLS}
        for control in self.controls.values():
            control.layout.width = "320px"
        self.progress.layout.width = "230px"
        self.headline = widgets.HTML("")
        self.headline.add_class("xw-summary-status")
        self._build_chart()
        self.chart.add_class("xw-summary-chart")
        side = widgets.VBox(
            [*self.controls.values(), self.progress_box, self.headline, self.chart],
            layout=widgets.Layout(width="340px", margin="0 0 0 12px"),
        )
        gallery = widgets.VBox([self.pass_box, self.summaries], layout=widgets.Layout(flex="1 1 0", min_width="0"))
        self.children = [widgets.HBox([gallery, side]), self.members]
        self.add_class("xw-summary-explorer")
        self.summaries.on_select(self._on_summary)
        self.watch(self.controls)
        if run:
            self.run()

    def _build_chart(self) -> None:
        """The bqplot chart of accepted summaries per model: the count axis starts at 0 with one tick per whole
        count, its labels left of the axis line, clear of the bars (which start a padding away from it)."""
        x, self._count_scale = bq.OrdinalScale(), bq.LinearScale(min=0.0, max=1.0)
        self.bars = bq.Bars(
            x=list(self.models),
            y=[0] * len(self.models),
            scales={"x": x, "y": self._count_scale},
            colors=["#0072B2"],
            padding=0.4,
        )
        self._count_axis = bq.Axis(
            scale=self._count_scale,
            orientation="vertical",
            label="accepted summaries",
            tick_format="d",
            tick_values=[0, 1],
            grid_lines="dashed",
            label_offset="36px",
        )
        self.chart = bq.Figure(
            marks=[self.bars],
            axes=[bq.Axis(scale=x, label="model", grid_lines="none"), self._count_axis],
            fig_margin={"top": 16, "bottom": 44, "left": 56, "right": 12},
            padding_x=0.0,
            padding_y=0.0,
            layout=widgets.Layout(width="320px", height="220px"),
        )

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
                with progress.holding(model.lock):  # a run cancelled while it waits stops before its first pass
                    results[name] = summaries(
                        model,
                        self.images,
                        target,
                        cache=self.caches[name],
                        progress=progress.part(index / len(names), (index + 1) / len(names), tag={"model": name}),
                        **params,
                    )
                target = results[names[0]].target  # every model summarises the first model's class
            return results

        self._pass = {"model": self.name, "thumbnails": []}
        self._draw_pass()
        self.start(work, params, message="computing the summaries…")

    # ------------------------------------------------------------------------------------ the dataset pass
    def show_partial(self, state: Any, settings: dict) -> None:
        """Follow the dataset pass from the kernel's streamed states (``summary_pass`` dicts, tagged with the
        model's name): the step it is at, the images done, and the images done so far with their masks."""
        if not isinstance(state, Mapping) or "summary_pass" not in state:
            return
        record = self._pass
        if state.get("model", self.name) != record.get("model"):
            record.clear()
            record.update(model=state.get("model", self.name), thumbnails=[])
        record.update({key: state[key] for key in _PASS_KEYS if key in state})
        if "images" in state and record["model"] == self.name:
            record["thumbnails"] = (record["thumbnails"] + _dimmed_thumbnails(state))[-_PASS_SHOWN:]
        self._draw_pass()

    def _draw_pass(self) -> None:
        """Show the dataset pass where the summaries go while none is shown (hide it once they are)."""
        if self.shown is not None:
            self.pass_box.layout.display = "none"
            return
        self.pass_box.layout.display = "flex"
        self.pass_status.value = _pass_line(self._pass)
        thumbnails = self._pass.get("thumbnails", [])
        self.pass_view.layout.display = "flex" if thumbnails else "none"
        self.pass_view.set_groups(
            [
                {
                    "id": "done",
                    "title": f"{_counted(len(thumbnails), 'image')} done so far · dimmed outside the mask",
                    "items": [
                        {"id": f"done{index}", "image": picture, "caption": f"image {index}"}
                        for index, picture in thumbnails
                    ],
                }
            ]
            if thumbnails
            else []
        )

    # ---------------------------------------------------------------------------------------- drawing
    def render(self) -> None:
        """Draw the gallery, the members of the selected summary, the chart and the headline from :attr:`shown`."""
        result: SummaryResult = self.current.value[self.name]
        counts = self.counts
        top = max(counts.values()) + 1
        with self.chart.hold_sync():
            self._count_scale.max = float(top)
            self._count_axis.tick_values = list(range(0, top + 1))
            self.bars.y = [counts[name] for name in self.models]
        self._draw_pass()
        self.summaries.set_groups(self._groups(result))
        count = len(result.accepted)
        phrases = [
            f"<b>{count}</b> {'summary' if count == 1 else 'summaries'} of {html.escape(result.target_name)}",
            f"accepted of {_counted(len(result.summaries), 'cluster')}",
            f"from {_counted(result.images.shape[0], 'image')}",
        ]
        if result.skipped:
            phrases.append(
                f"{_counted(len(result.skipped), 'image')} skipped (not classified as "
                f"{html.escape(result.target_name)})"
            )
        self.headline.value = phrase_line(*phrases, escape=False)
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
                    "detail": f"{_counted(len(items), 'sample')} · median SSIM {summary['ssim']:.2f}",
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
        self.members.title = f"summary {number + 1} · its members on their images, the region outlined"
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


def _counted(count: int, noun: str) -> str:
    """``count`` and ``noun`` in its proper number: "1 image", "2 images" (nouns that take an s)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _pass_line(record: Mapping[str, Any]) -> str:
    """The dataset pass in words, as HTML: which model, what runs now, how many images are done."""
    phrases = [f"dataset pass of {html.escape(str(record.get('model', '')))}"]
    count, stage = record.get("count"), record.get("summary_pass")
    if stage is None or count is None:
        return phrase_line(*phrases, "reading the images and the class of each", escape=False)
    if stage == "masks":
        done = record.get("done", 0)
        phrases += [f"crisp masks, step {record.get('step', 0)} of {record.get('steps', 0)}"]
        phrases += [f"<b>{done}</b> of {_counted(count, 'image')} done"]
        if done == 0:
            batch = record.get("batch", count)
            together = "together" if batch >= count else f"in batches of {batch}"
            phrases += [f"no image finished yet: their masks are optimised {together}"]
    else:
        phrases += [html.escape(str(record.get("message", ""))), f"masks of {_counted(count, 'image')} done"]
    return phrase_line(*phrases, escape=False)


def _dimmed_thumbnails(state: Mapping[str, Any]) -> list[tuple[int, np.ndarray]]:
    """``(image index, uint8 thumbnail)`` of each image of a finished batch, dimmed towards grey outside its
    saliency (``images`` ``[n, 3, H, W]`` and ``saliency`` ``[n, 1, H, W]`` in [0, 1])."""
    images = state["images"].permute(0, 2, 3, 1).clamp(0, 1).numpy()
    saliency = state["saliency"].permute(0, 2, 3, 1).clamp(0, 1).numpy()
    dimmed = saliency * images + (1 - saliency) * (0.35 * images + 0.65 * OUTSIDE_GREY)
    return [(int(i), thumbnail(picture, _PASS_THUMB)) for i, picture in zip(state["indices"], dimmed)]
