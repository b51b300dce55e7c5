"""DatasetExplorer: browse a stored dataset run, filter and sort its images, and open one in its own explorer.

A paged grid of thumbnails with their maps (:class:`~xwidgets.views.ThumbnailGridView`; the blend runs in the
browser), a frame for a right or a wrong prediction and the caption "predicted · confidence". Filters: the class
(the label where the run has labels, else the prediction), correct / wrong / all, and ranges of the confidence, the
deletion and insertion AUCs and the ground-truth energy; the controls of columns the run does not have are hidden.
Sort by any numeric column, either way. A bqplot histogram of a chosen numeric column (or a scatter of two) shows the
images the filters keep, and its brush filters the grid. A pager says "1–48 of 9,812"; a summary line says how many
images are shown, how many of them are wrong and how many the run skipped.

Clicking a thumbnail opens that image below the grid: with ``model``, in its per-image explorer
(:class:`~xwidgets.heatmaps.HeatmapExplorer`, or :class:`~xwidgets.sag.SAGExplorer` for a graph method) with the
run's method, parameters, seed and the record's target; without one, the stored map large in a
:class:`~xwidgets.views.HeatmapView` beside the image's record.

The record columns are read once (:meth:`~xwidgets.runs.store.Run.column`) and filtered in numpy; a page reads only
its own thumbnails and thumbnail maps. :meth:`figure` draws the current page's first rows of thumbnails.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..core.errors import XWidgetsError, invalid
from ..core.models import Classifier
from ..views import COLORMAPS, HeatmapView, ThumbnailGridView
from ..views.explorer import Explorer, Shown, close_widgets, phrase_line
from .arrays import open_arrays
from .store import Run, open_run

__all__ = ["DatasetExplorer", "NUMERIC_COLUMNS", "RANGE_FILTERS"]

#: The numeric record columns the explorer sorts by and charts, with their titles.
NUMERIC_COLUMNS = {
    "confidence": "confidence",
    "target_score": "target score",
    "deletion_auc": "deletion AUC",
    "insertion_auc": "insertion AUC",
    "gt_energy": "GT energy",
    "gt_iou": "GT IoU",
    "seconds": "seconds per image",
    "index": "index",
}
#: The columns with a range filter (all in [0, 1]).
RANGE_FILTERS = ("confidence", "deletion_auc", "insertion_auc", "gt_energy")
#: The histogram's bins, and the most points the scatter draws (an even sample of the rest).
BINS, SCATTER_POINTS = 30, 4000
#: The frames of a record whose ``correct`` is True, False and null.
_FRAME = {1: "correct", 0: "wrong", -1: "none"}
#: The thumbnails' blend: the map coloured where it is at least 0.3, the rest of the image left as it is.
THUMBNAIL_BLEND: dict[str, Any] = {"colormap": "viridis", "alpha": 0.55, "threshold": 0.3, "mode": "overlay"}
#: The drawn side of a thumbnail in CSS px: wide enough for a caption "scarlet crestling · 0.93" to break only
#: between its phrases.
TILE_SIZE = 112
#: The page sizes a DatasetExplorer accepts.
PAGE_SIZES = (1, 500)
_ALL = -1


@dataclass(frozen=True)
class Page:
    """What the grid shows: ``rows``, the record rows the filters keep in the sort's order; ``page``, the page
    number; ``indices``, the source indices on the page; ``chart_rows``, the rows the chart draws (the filters
    without the brush)."""

    rows: np.ndarray
    page: int
    indices: tuple[int, ...]
    chart_rows: np.ndarray


class DatasetExplorer(Explorer):
    """Browse a stored run (see the module docstring).

    Args:
        run: a :class:`~xwidgets.runs.store.Run` or the path of its store.
        model: the run's classifier (an ``xw.Classifier``): a click opens the image in its per-image explorer.
            None: a click shows the stored map and the record.
        page_size: thumbnails per page, 1..500.
        columns: thumbnails per grid row.

    Attributes:
        grid: the :class:`~xwidgets.views.ThumbnailGridView`; ``summary`` the count line; ``pager_label`` and the
            ``previous_button`` / ``next_button``; ``class_filter``, ``correct_filter``, ``ranges`` (one
            FloatRangeSlider per :data:`RANGE_FILTERS` column), ``sort_by``, ``sort_order``; ``chart`` the bqplot
            figure, ``chart_x`` and ``chart_y`` its columns (``chart_y`` "none": a histogram), ``brush`` its
            selector; ``detail`` the box below the grid, ``detail_title`` its title and ``image_explorer`` the
            per-image explorer opened (None without a model).
        columns_present: the :data:`NUMERIC_COLUMNS` the run has values of.
    """

    work_name = "the page"
    live_controls = "thumbnails' alpha slider and their tooltips"

    def __init__(self, run: Run | str | os.PathLike, model: Any = None, *, page_size: int = 48, columns: int = 8):
        run = _as_run(run)
        if model is not None and not isinstance(model, Classifier):
            raise invalid("model", f"an object of type {type(model).__name__}", "None or an xw.Classifier")
        for name, value in (("page_size", page_size), ("columns", columns)):
            if isinstance(value, bool) or not isinstance(value, int) or not PAGE_SIZES[0] <= value <= PAGE_SIZES[1]:
                raise invalid(name, value, f"an int in [{PAGE_SIZES[0]}, {PAGE_SIZES[1]}]")
        super().__init__()
        self.stored, self.model, self.page_size = run, model, page_size
        self.image_explorer: Any = None
        self._arrays: Any = None
        self._read_columns()
        self._build_filters()
        self._build_chart()
        self.grid = ThumbnailGridView(
            columns=min(columns, 32), tile_size=TILE_SIZE, empty_text="no image matches the filters", **THUMBNAIL_BLEND
        )
        self.grid.on_select(self.open_image)
        self._build_blend_controls()
        self._build_pager()
        self.detail_title = widgets.HTML("")
        self.detail_title.add_class("xw-dataset-detail-title")
        self.detail = widgets.VBox([])
        self.detail.add_class("xw-dataset-detail")
        self.children = [
            self.summary,
            self._filter_box,
            self._chart_box,
            self._pager_box,
            self._blend_box,
            self.grid,
            self.status,
            self.kernel_note,
            self.detail,
        ]
        self.add_class("xw-dataset-explorer")
        self.run_filters()

    # --------------------------------------------------------------------------------------- columns
    def _read_columns(self) -> None:
        """Read the record columns once: floats with NaN for nulls, class columns as ints (-1 for null)."""
        run = self.stored
        self.values = {name: _floats(run.column(name)) for name in NUMERIC_COLUMNS}
        self.index = run.column("index").astype(np.int64)
        self.correct = np.array([-1 if v is None else int(bool(v)) for v in run.column("correct")], np.int8)
        labels = _ints(run.column("label"))
        self.has_labels = bool((labels >= 0).any())
        self.class_column = labels if self.has_labels else _ints(run.column("predicted"))
        names = run.column("label_name" if self.has_labels else "predicted_name")
        self.class_names = _class_names(self.class_column, names, run.manifest["model"].get("labels"))
        self.predicted_names = run.column("predicted_name")
        self.ids = run.column("id")
        self.columns_present = [name for name, values in self.values.items() if np.isfinite(values).any()]

    # --------------------------------------------------------------------------------------- controls
    def _build_filters(self) -> None:
        self.summary = widgets.HTML("")
        self.summary.add_class("xw-dataset-summary")
        classes = [(f"all ({len(self.class_names)})", _ALL)] + [(n, c) for c, n in sorted(self.class_names.items())]
        self.class_filter = widgets.Dropdown(
            options=classes, value=_ALL, description="label" if self.has_labels else "predicted"
        )
        self.class_filter.add_class("xw-dataset-class")
        self.correct_filter = widgets.ToggleButtons(
            options=["all", "correct", "wrong"], value="all", style={"button_width": "70px"}
        )
        self.correct_filter.add_class("xw-dataset-correct")
        if not (self.correct >= 0).any():
            self.correct_filter.layout.display = "none"
        self.ranges = {
            name: widgets.FloatRangeSlider(
                value=(0.0, 1.0),
                min=0.0,
                max=1.0,
                step=0.01,
                description=NUMERIC_COLUMNS[name],
                continuous_update=False,
                style={"description_width": "100px"},
                layout=widgets.Layout(width="340px"),
            )
            for name in RANGE_FILTERS
        }
        for name, slider in self.ranges.items():
            slider.add_class(f"xw-dataset-range-{name}")
            if name not in self.columns_present:
                slider.layout.display = "none"
        sortable = [(NUMERIC_COLUMNS[n], n) for n in self.columns_present]
        self.sort_by = widgets.Dropdown(options=sortable, value="index", description="sort by")
        self.sort_order = widgets.ToggleButtons(
            options=["ascending", "descending"], value="ascending", style={"button_width": "90px"}
        )
        self.sort_by.add_class("xw-dataset-sort")
        self.sort_order.add_class("xw-dataset-order")
        self.watch(
            {
                "class": self.class_filter,
                "correct": self.correct_filter,
                "sort_by": self.sort_by,
                "sort_order": self.sort_order,
                **{f"range_{n}": s for n, s in self.ranges.items()},
            },
            self.run_filters,
        )
        sliders = [s for s in self.ranges.values()]
        self._filter_box = widgets.VBox(
            [
                widgets.HBox([self.class_filter, self.correct_filter], layout=widgets.Layout(flex_flow="row wrap")),
                widgets.HBox(sliders[:2], layout=widgets.Layout(flex_flow="row wrap")),
                widgets.HBox(sliders[2:], layout=widgets.Layout(flex_flow="row wrap")),
                widgets.HBox([self.sort_by, self.sort_order], layout=widgets.Layout(flex_flow="row wrap")),
            ]
        )
        self._filter_box.add_class("xw-dataset-filters")

    def _build_chart(self) -> None:
        charted = [(NUMERIC_COLUMNS[n], n) for n in self.columns_present if n != "index"]
        first = "confidence" if "confidence" in self.columns_present else charted[0][1]
        self.chart_x = widgets.Dropdown(options=charted, value=first, description="chart")
        self.chart_y = widgets.Dropdown(
            options=[("none: histogram", "none"), *charted], value="none", description="against"
        )
        self.chart_x.add_class("xw-dataset-chart-x")
        self.chart_y.add_class("xw-dataset-chart-y")
        self.clear_brush = widgets.Button(description="clear brush", icon="times", layout=widgets.Layout(width="auto"))
        self.clear_brush.add_class("xw-dataset-clear-brush")
        self.clear_brush.on_click(lambda _: self._reset_brush(run=True))
        self.chart = bq.Figure(
            marks=[],
            axes=[],
            fig_margin={"top": 20, "bottom": 45, "left": 55, "right": 20},
            layout=widgets.Layout(width="520px", height="260px"),
        )
        self.chart.add_class("xw-dataset-chart")
        self.brush: Any = None
        for control in (self.chart_x, self.chart_y):
            control.observe(lambda _: self._new_chart(), names="value")
        self._chart_box = widgets.VBox(
            [
                widgets.HBox(
                    [self.chart_x, self.chart_y, self.clear_brush], layout=widgets.Layout(flex_flow="row wrap")
                ),
                self.chart,
            ]
        )
        self._new_chart(run=False)

    def _build_blend_controls(self) -> None:
        """The thumbnails' alpha, linked to the grid in the browser (it works without a kernel), and colormap (a
        Dropdown's value is not synced to the browser, so it is linked in the kernel)."""
        self.colormap = widgets.Dropdown(
            options=COLORMAPS, value=self.grid.colormap, description="colormap", layout=widgets.Layout(width="220px")
        )
        self.alpha = widgets.FloatSlider(
            value=self.grid.alpha,
            min=0.0,
            max=1.0,
            step=0.05,
            description="alpha",
            layout=widgets.Layout(width="260px"),
        )
        self._links = [
            widgets.link((self.colormap, "value"), (self.grid, "colormap")),
            widgets.jslink((self.alpha, "value"), (self.grid, "alpha")),
        ]
        self._blend_box = widgets.HBox([self.colormap, self.alpha], layout=widgets.Layout(flex_flow="row wrap"))
        self._blend_box.add_class("xw-dataset-blend")

    def _build_pager(self) -> None:
        self.previous_button = widgets.Button(
            description="previous", icon="chevron-left", layout=widgets.Layout(width="auto")
        )
        self.next_button = widgets.Button(description="next", icon="chevron-right", layout=widgets.Layout(width="auto"))
        self.previous_button.add_class("xw-dataset-previous")
        self.next_button.add_class("xw-dataset-next")
        self.previous_button.on_click(lambda _: self.go_to(self.current.value.page - 1))
        self.next_button.on_click(lambda _: self.go_to(self.current.value.page + 1))
        self.pager_label = widgets.HTML("")
        self.pager_label.add_class("xw-dataset-pager")
        self._pager_box = widgets.HBox(
            [self.previous_button, self.pager_label, self.next_button], layout=widgets.Layout(align_items="center")
        )

    # ----------------------------------------------------------------------------------------- chart
    def _new_chart(self, run: bool = True) -> None:
        """Build the marks, axes and brush of the chosen chart (a histogram, or a scatter against ``chart_y``)."""
        x_name, y_name = self.chart_x.value, self.chart_y.value
        x_scale = bq.LinearScale(**_domain(self.values[x_name]), allow_padding=False)
        x_axis = bq.Axis(scale=x_scale, label=NUMERIC_COLUMNS[x_name], num_ticks=6, tick_format=".2~f")
        if y_name == "none":
            y_scale = bq.LinearScale(min=0.0, allow_padding=False)
            mark: Any = bq.Bars(x=[0.0], y=[0.0], scales={"x": x_scale, "y": y_scale}, colors=["#0072b2"], padding=0.05)
            brush: Any = bq.interacts.BrushIntervalSelector(scale=x_scale, marks=[mark], color="#d55e00")
            y_label = "images"
        else:
            y_scale = bq.LinearScale(**_domain(self.values[y_name]), allow_padding=False)
            mark = bq.Scatter(
                x=[0.0],
                y=[0.0],
                scales={"x": x_scale, "y": y_scale},
                colors=["#0072b2"],
                default_size=12,
                opacities=[0.6],
            )
            brush = bq.interacts.BrushSelector(x_scale=x_scale, y_scale=y_scale, marks=[mark], color="#d55e00")
            y_label = NUMERIC_COLUMNS[y_name]
        old = [self.brush, *self.chart.marks, *self.chart.axes]
        self.brush, self._mark = brush, mark
        brush.observe(self._on_brush, names=["selected", "selected_x", "selected_y", "brushing"])
        with self.chart.hold_sync():
            self.chart.marks = [mark]
            y_format = "d" if y_name == "none" else ".2~f"
            self.chart.axes = [
                x_axis,
                bq.Axis(scale=y_scale, orientation="vertical", label=y_label, num_ticks=5, tick_format=y_format),
            ]
            self.chart.interaction = brush
        close_widgets(old)  # the old chart's brush, marks, axes and scales
        if run:
            self.run_filters()

    def _on_brush(self, change: dict) -> None:
        if not self._quiet_depth and not self.brush.brushing:
            self.run_filters()

    def _reset_brush(self, run: bool = False) -> None:
        with self.quietly():
            if isinstance(self.brush, bq.interacts.BrushSelector):
                self.brush.selected_x, self.brush.selected_y = None, None
            else:
                self.brush.selected = None
        if run:
            self.run_filters()

    @property
    def brushed(self) -> dict[str, tuple[float, float]]:
        """The ranges the brush selects now: ``{column: (low, high)}``, empty when nothing is brushed."""
        brush = self.brush
        if isinstance(brush, bq.interacts.BrushSelector):
            spans = {self.chart_x.value: brush.selected_x, self.chart_y.value: brush.selected_y}
        else:
            spans = {self.chart_x.value: brush.selected}
        return {
            name: (float(min(span)), float(max(span)))
            for name, span in spans.items()
            if span is not None and len(span) == 2
        }

    def _draw_chart(self, rows: np.ndarray) -> None:
        x = self.values[self.chart_x.value][rows]
        if self.chart_y.value == "none":
            finite = x[np.isfinite(x)]
            domain = _domain(self.values[self.chart_x.value])
            counts, edges = np.histogram(finite, bins=BINS, range=(domain["min"], domain["max"]))
            with self.chart.hold_sync():
                self._mark.x, self._mark.y = (edges[:-1] + edges[1:]) / 2, counts
                self.chart.axes[1].tick_values = _count_ticks(int(counts.max(initial=0)))
            return
        y = self.values[self.chart_y.value][rows]
        keep = np.isfinite(x) & np.isfinite(y)
        x, y = x[keep], y[keep]
        if len(x) > SCATTER_POINTS:
            sample = np.linspace(0, len(x) - 1, SCATTER_POINTS).astype(np.int64)
            x, y = x[sample], y[sample]
        with self._mark.hold_sync():
            self._mark.x, self._mark.y = x, y

    # --------------------------------------------------------------------------------------- filtering
    @property
    def settings(self) -> dict[str, Any]:
        """The filters, sort and brush that decide the rows shown, by name."""
        return {
            "class": self.class_filter.value,
            "correct": self.correct_filter.value,
            "sort_by": self.sort_by.value,
            "sort_order": self.sort_order.value,
            **{f"range_{n}": tuple(s.value) for n, s in self.ranges.items()},
            "brush": self.brushed,
        }

    def filtered_rows(self, *, brush: bool = True) -> np.ndarray:
        """The record rows the filters keep (and the brush, with ``brush``), in the sort's order."""
        keep = np.ones(len(self.index), bool)
        if self.class_filter.value != _ALL:
            keep &= self.class_column == self.class_filter.value
        if self.correct_filter.value != "all":
            keep &= self.correct == (1 if self.correct_filter.value == "correct" else 0)
        spans = {n: tuple(s.value) for n, s in self.ranges.items() if tuple(s.value) != (0.0, 1.0)}
        if brush:
            spans.update(self.brushed)
        for name, (low, high) in spans.items():
            values = self.values[name]
            keep &= (values >= low) & (values <= high)
        rows = np.flatnonzero(keep)
        return self._sorted(rows)

    def _sorted(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` ordered by the sort column (stable; rows without a value last, either way)."""
        values = self.values[self.sort_by.value][rows]
        key = -values if self.sort_order.value == "descending" else values
        return rows[np.argsort(np.where(np.isnan(key), np.inf, key), kind="stable")]

    def run(self) -> None:
        """Apply the filters, sort and brush, and show the first page (what every control change does)."""
        self.run_filters()

    def run_filters(self) -> None:
        """Apply the filters, sort and brush, redraw the chart, and show the first page."""
        chart_rows = self.filtered_rows(brush=False)
        self._draw_chart(chart_rows)
        self._show(self.filtered_rows(), 0, chart_rows)

    def go_to(self, page: int) -> None:
        """Show page ``page`` (0-based, clamped to the pages there are) of the filtered images."""
        shown = self.current.value
        self._show(shown.rows, page, shown.chart_rows)

    @property
    def pages(self) -> int:
        """How many pages the filtered images fill (at least 1)."""
        return max(1, -(-len(self.current.value.rows) // self.page_size))

    def _show(self, rows: np.ndarray, page: int, chart_rows: np.ndarray) -> None:
        last = max(0, -(-len(rows) // self.page_size) - 1)
        page = min(max(int(page), 0), last)
        on_page = rows[page * self.page_size : (page + 1) * self.page_size]
        indices = tuple(int(i) for i in self.index[on_page])
        self.shown = Shown(Page(rows, page, indices, chart_rows), self.settings)
        self.render()

    # ----------------------------------------------------------------------------------------- render
    def render(self) -> None:
        """Draw the grid, the pager and the summary from :attr:`shown`."""
        page = self.current.value
        rows = page.rows[page.page * self.page_size : page.page * self.page_size + len(page.indices)]
        self.grid.set_tiles(self._tiles(rows, page.indices))
        count = len(page.rows)
        first = page.page * self.page_size
        self.pager_label.value = f"{first + 1:,}–{first + len(page.indices):,} of {count:,}" if count else "0 of 0"
        self.previous_button.disabled = page.page == 0
        self.next_button.disabled = first + len(page.indices) >= count
        self.summary.value = self._summary(page.rows)

    def _summary(self, rows: np.ndarray) -> str:
        run = self.stored
        phrases = [
            f"{len(rows):,} of {run.total:,} images",
            f"{int((self.correct[rows] == 0).sum()):,} wrong",
            f"{len(run.skipped):,} skipped",
        ]
        if not run.complete:
            phrases.append(f"run incomplete: {run.count + len(run.skipped):,} of {run.total:,} done")
        return phrase_line(*phrases)

    def _tiles(self, rows: np.ndarray, indices: tuple[int, ...]) -> list[dict]:
        """The grid's tiles of the page: only its own thumbnails and thumbnail maps are read."""
        thumbnails, maps = self._page_arrays(indices)
        return [
            {
                "key": str(index),
                "thumbnail": thumbnails[k],
                "map": maps[k],
                "caption": f"{_text(self.predicted_names[row])} · {self.values['confidence'][row]:.2f}",
                "tooltip": self._tooltip(row),
                "frame": _FRAME[int(self.correct[row])],
            }
            for k, (row, index) in enumerate(zip(rows, indices))
        ]

    def _page_arrays(self, indices: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """``[n, T, T, 3]`` thumbnails and ``[n, T, T]`` thumbnail maps of source ``indices``."""
        side = int(self.stored.manifest["thumbnail_size"])
        if not indices:
            return np.zeros((0, side, side, 3), np.uint8), np.zeros((0, side, side), np.uint8)
        if self._arrays is None:
            self._arrays = open_arrays(self.stored.path / "arrays.zarr")
        wanted = np.asarray(indices, np.int64)
        order = np.argsort(wanted)
        pages = []
        for name in ("thumbnails", "thumbnail_maps"):
            rows = self._arrays[name].get_orthogonal_selection((wanted[order],))  # one batched read, ascending
            page = np.empty_like(rows)
            page[order] = rows
            pages.append(page)
        return pages[0], pages[1]

    def _tooltip(self, row: int) -> str:
        label = self.class_names.get(int(self.class_column[row])) if self.has_labels else None
        predicted = _text(self.predicted_names[row])
        parts = [_text(self.ids[row]), f"label: {label}" if label else "", f"predicted: {predicted}"]
        return " · ".join(p for p in parts if p)

    # ------------------------------------------------------------------------------------------ detail
    def open_image(self, key: str | int) -> None:
        """Open source image ``key`` below the grid (what a click on its thumbnail does)."""
        index = int(key)
        record = self.stored.item(index)
        close_widgets([child for child in self.detail.children if child is not self.detail_title])
        self.image_explorer = None
        self.detail_title.value = "<b>" + phrase_line(*_record_phrases(record)) + "</b>"
        body = self._image_explorer(index, record) if self.model is not None else self._stored_map(index, record)
        self.detail.children = [self.detail_title, body]

    def _image_explorer(self, index: int, record: dict) -> Any:
        from ..core.methods import get_spec

        model = self.model
        assert model is not None  # only called with a model
        image = self.stored.image(index)
        seed = int(self.stored.manifest.get("seed", 0))
        if get_spec(self.stored.method).kind == "graph":
            from ..sag.explorer import SAGExplorer

            self.image_explorer = SAGExplorer(
                model, image, target=int(record["target"]), params=dict(self.stored.params), seed=seed
            )
        else:
            from ..heatmaps.explorer import HeatmapExplorer

            self.image_explorer = HeatmapExplorer(
                model,
                image,
                method=self.stored.method,
                target=int(record["target"]),
                params=dict(self.stored.params),
                seed=seed,
            )
        return self.image_explorer

    def _stored_map(self, index: int, record: dict) -> widgets.Widget:
        stored = self.stored.map(index)
        try:
            image: Any = self.stored.image(index)
        except XWidgetsError:  # a source that cannot be reopened: the thumbnail, enlarged, stands in for it
            image = _enlarged(self.stored.thumbnail(index), stored.shape)
        view = HeatmapView(image, stored, title=f"{self.stored.method} map (stored)", display_width=320)
        view.add_class("xw-dataset-stored-map")
        table = widgets.HTML(_record_table(record))
        table.add_class("xw-dataset-record")
        return widgets.HBox([view, table], layout=widgets.Layout(flex_flow="row wrap", grid_gap="16px"))

    # ----------------------------------------------------------------------------------------- figure
    def draw_figure(self, **style: Any) -> Any:
        """The current page's first rows of thumbnails with their maps (the grid's blend), framed and captioned.

        Keywords: ``style`` (``"one-column"``, ``"two-column"`` or ``"auto"``: two columns), ``rows`` (at most 3)
        and ``columns`` (default the grid's, at most 8)."""
        page = self.current.value
        first = page.page * self.page_size
        rows = page.rows[first : first + len(page.indices)]
        columns = style.pop("columns", min(self.grid.columns, 8))
        return page_figure(self._tiles(rows, page.indices), self._blending(), columns=columns, **style)

    def _blending(self) -> dict[str, Any]:
        grid = self.grid
        return {"colormap": grid.colormap, "alpha": grid.alpha, "threshold": grid.threshold, "mode": grid.mode}


# --------------------------------------------------------------------------------------------- helpers
def _as_run(run: object) -> Run:
    if isinstance(run, Run):
        return run
    if isinstance(run, (str, os.PathLike)):
        return open_run(run)
    raise invalid("run", f"an object of type {type(run).__name__}", "a Run (xw.open_run) or the path of a run store")


def _floats(values: np.ndarray) -> np.ndarray:
    """A record column as float64, NaN where null."""
    return (
        np.array([np.nan if v is None else float(v) for v in values], np.float64)
        if values.dtype == object
        else values.astype(np.float64)
    )


def _ints(values: np.ndarray) -> np.ndarray:
    """A class column as int64, -1 where null."""
    return np.array([-1 if v is None or v != v else int(v) for v in values], np.int64)


def _class_names(classes: np.ndarray, names: np.ndarray, labels: list | None) -> dict[int, str]:
    """``{class: name}`` of the classes in ``classes`` (the record's names, else the model's labels, else "class c")."""
    found: dict[int, str] = {}
    for value, name in zip(classes.tolist(), names.tolist()):
        if value >= 0 and value not in found:
            found[value] = name if name else (labels[value] if labels and value < len(labels) else f"class {value}")
    return found


def _domain(values: np.ndarray) -> dict[str, float]:
    """The scale of a column: [0, 1] for values within it, else the finite values' range (a unit wide at least)."""
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if low >= 0.0 and high <= 1.0:
        return {"min": 0.0, "max": 1.0}
    return {"min": low, "max": high if high > low else low + 1.0}


def _enlarged(thumbnail: np.ndarray, size: tuple[int, ...]) -> Any:
    """A ``[T, T, 3]`` uint8 thumbnail as a ``[3, H, W]`` float image in [0, 1] at ``size`` (bilinear)."""
    import torch
    import torch.nn.functional as F

    pixels = torch.from_numpy(np.ascontiguousarray(thumbnail)).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(pixels, size=tuple(size), mode="bilinear", align_corners=False)[0].clamp(0, 1)


def _count_ticks(most: int) -> np.ndarray:
    """At most six whole-number ticks from 0 to ``most`` (a count axis never shows 0.5 images)."""
    step = max(1, int(np.ceil(most / 5)))
    return np.arange(0, max(most, 1) + 1, step)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _record_phrases(record: dict) -> list[str]:
    """The detail's title: the image, its id, its label and the prediction."""
    correct = record.get("correct")
    verdict = "" if correct is None else ("right" if correct else "wrong")
    return [
        f"image {record['index']}",
        _text(record.get("id")),
        f"label: {record['label_name']}" if record.get("label_name") else "",
        f"predicted: {_text(record.get('predicted_name')) or record['predicted']} ({record['confidence']:.2f})",
        verdict,
    ]


#: The record fields the table under a stored map shows, with their titles.
_TABLE_FIELDS = (
    ("id", "id"),
    ("path", "path"),
    ("label_name", "label"),
    ("predicted_name", "predicted"),
    ("confidence", "confidence"),
    ("target_name", "target"),
    ("target_score", "target score"),
    ("deletion_auc", "deletion AUC"),
    ("insertion_auc", "insertion AUC"),
    ("gt_energy", "GT energy"),
    ("gt_pointing", "GT pointing"),
    ("gt_iou", "GT IoU"),
    ("dnf", "DNF"),
)


def _record_table(record: dict) -> str:
    """HTML of a small table of the record's fields that have a value (every value escaped)."""
    cells = []
    for name, title in _TABLE_FIELDS:
        value = record.get(name)
        if value is None or value == "":
            continue
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        cells.append(
            f"<tr><th style='text-align:left;padding-right:12px'>{html.escape(title)}</th>"
            f"<td>{html.escape(text)}</td></tr>"
        )
    return "<table class='xw-record-table' style='font-size:12px'>" + "".join(cells) + "</table>"


def page_figure(
    tiles: list[dict], blending: dict[str, Any], *, columns: int = 8, rows: int = 3, style: str = "two-column"
) -> Any:
    """A paper figure of grid tiles: up to ``rows`` x ``columns`` thumbnails with their maps blended
    (``blending``: colormap, alpha, threshold, mode, as the grid shows them), each framed by its verdict and
    titled by its caption. ``style``: ``"one-column"``, ``"two-column"`` or ``"auto"`` (two columns)."""
    from ..figures import PaperFigure, blend, figure_width, fit_text

    if isinstance(columns, bool) or not isinstance(columns, int) or not 1 <= columns <= 8:
        raise invalid("columns", columns, "an int in [1, 8]")
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= 3:
        raise invalid("rows", rows, "an int in [1, 3]")
    shown = tiles[: rows * columns]
    if not shown:
        raise XWidgetsError("nothing to draw: no image matches the filters on this page")
    width = figure_width("two-column" if style == "auto" else style)
    used = min(columns, len(shown))
    lines = -(-len(shown) // used)
    cell = width / used
    figure = PaperFigure(figsize=(width, lines * (cell + 0.32)), layout="constrained")
    axes = figure.subplots(lines, used, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    colours = {"correct": "#0072b2", "wrong": "#d55e00", "none": "#8c959f"}
    for k, tile in enumerate(shown):
        ax = axes.flat[k]
        image = tile["thumbnail"].astype(np.float64) / 255
        if tile["map"] is not None:
            image = blend(image, tile["map"].astype(np.float64) / 255, **blending)
        ax.set_axis_on()
        ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(colours[tile["frame"]])
            spine.set_linewidth(2.0)
        mark = {"correct": "✓ ", "wrong": "✗ "}.get(tile["frame"], "")
        ax.set_title(fit_text(mark + tile["caption"], cell), fontsize=8, pad=2)
    return figure
