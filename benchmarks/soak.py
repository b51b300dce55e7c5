"""Soak every explorer from Python (issue 21, item 2): N moves the way a user makes them, and what they leave.

For each explorer (HeatmapExplorer, SAGExplorer, ConceptExplorer, SummaryExplorer, TextExplorer, MatchExplorer,
DatasetExplorer) on the toy world, a seeded driver makes ``moves`` moves through the explorer's own controls and
views, delivered as the browser delivers them (the comm's ``update`` and ``custom`` messages: a slider's value, a
menu's index, a button click, a HeatmapView click, a GraphView / GalleryView / ThumbnailGridView selection, a bqplot
bar or brush selection). Most moves come in rapid fire, as a slider is dragged, so each one cancels the stale run;
now and then (probability ``1 / wait_every`` after a move) the driver waits for the run to finish.

It records, every ``sample_every`` moves, the process's RSS, threads, torch hooks on the explorer's models and live
widgets (:mod:`tests.reliability.probes`); and for every move that cancelled a running job (on the explorer's runner,
a side lane, or an explorer opened inside it), the *cancel latency* (from the move until the stale job's worker
thread ended), the ``progress.check()`` calls that thread made after the cancel (1 = stopped at its first check,
within one iteration) and the model forward passes it started after the cancel. At the end it waits, checks that
the explorer shows the latest request (the shown settings equal the controls' values, and the views draw that
result), closes the explorer and names what was left behind.

``python benchmarks/soak.py --moves 1000 --out benchmarks/results/soak_cpu.md`` writes the table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import sys
import tempfile
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import xwidgets as xw  # noqa: E402
from tests.reliability.probes import hook_count, left_behind, live_widget_ids, rss_bytes, snapshot  # noqa: E402
from xwidgets.core.runner import Job, Progress, Runner, live_jobs  # noqa: E402
from xwidgets.views.explorer import Explorer  # noqa: E402

__all__ = ["SOAKS", "SoakResult", "soak", "soak_all", "table", "main"]

#: The share of moves counted as warm-up: RSS and widgets are compared with their values at its end.
WARM_UP = 0.1
MIB = 2**20


# ------------------------------------------------------------------------------------------- the browser
def browser_update(widget: widgets.Widget, **state: Any) -> None:
    """Deliver ``state`` to ``widget`` as the browser does when the user changes it (a comm ``update``)."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


def browser_custom(widget: widgets.Widget, content: dict) -> None:
    """Deliver a custom message from the browser (a button's click, a HeatmapView's click)."""
    widget._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def click(button: widgets.Button) -> None:
    """A click on ``button`` in the browser (none on a disabled button)."""
    if not button.disabled:
        browser_custom(button, {"event": "click"})


class Hands:
    """The user's hands: seeded moves on controls. A slider moves a few steps either side of the value it had when
    first touched (a drag, not a jump to the ends of a long range), a menu picks another option, a checkbox toggles.
    A slider is known by its type, label and range, so one that an explorer builds anew (a method switched away
    and back) keeps its first value as home: the moves do not drift, a few steps per switch, to the end of the
    range (an occlusion stride of 1: ~9,000 windows, half the soak's time).

    Args:
        rng: the seeded generator every choice comes from.
        reach: how many steps either side of its first value a slider goes.
    """

    def __init__(self, rng: np.random.Generator, reach: int = 3):
        self.rng, self.reach = rng, reach
        self._home: dict[tuple, float] = {}

    def pick(self, options: list) -> Any:
        """One of ``options``, uniformly."""
        return options[int(self.rng.integers(len(options)))]

    def move(self, control: widgets.Widget, allowed: list | None = None) -> None:
        """Move ``control`` to another value the way the browser sends it; ``allowed`` limits a menu's options."""
        if isinstance(control, (widgets.Dropdown, widgets.ToggleButtons)):
            options = [value for _, value in _labelled(control.options)]
            indices = [i for i, value in enumerate(options) if allowed is None or value in allowed]
            others = [i for i in indices if options[i] != control.value] or indices
            browser_update(control, index=self.pick(others))
        elif isinstance(control, widgets.Checkbox):
            browser_update(control, value=not control.value)
        elif isinstance(control, widgets.FloatRangeSlider):
            low, high = sorted(self.rng.choice(np.linspace(control.min, control.max, 11), 2, replace=False))
            browser_update(control, value=[float(low), float(high)])
        elif isinstance(control, widgets.FloatLogSlider):
            home = self._home.setdefault(_known_as(control), float(np.log(control.value) / np.log(control.base)))
            exponent = np.clip(home + self._steps() * control.step, control.min, control.max)
            browser_update(control, value=float(control.base**exponent))
        elif isinstance(control, (widgets.IntSlider, widgets.FloatSlider)):
            home = self._home.setdefault(_known_as(control), control.value)
            value = min(max(home + self._steps() * control.step, control.min), control.max)
            browser_update(control, value=int(value) if isinstance(control, widgets.IntSlider) else float(value))
        else:
            raise TypeError(f"no move for a {type(control).__name__}")

    def _steps(self) -> int:
        return int(self.rng.integers(-self.reach, self.reach + 1))


def _known_as(control: widgets.Widget) -> tuple:
    """What identifies a slider across rebuilds: its type, label and range."""
    return type(control).__name__, str(control.description), control.min, control.max


def _labelled(options: Any) -> list[tuple[Any, Any]]:
    """A selection widget's options as (label, value) pairs."""
    return [option if isinstance(option, tuple) else (option, option) for option in options]


# ------------------------------------------------------------------------------------- instrumentation
@dataclass
class JobTrace:
    """What a job's worker thread did: when it ended, and the checks and forward passes it made after its cancel."""

    ended: float | None = None
    computing: bool = True
    checks_after: int = 0
    forwards_after: int = 0


class Tracer:
    """Follows every :class:`~xwidgets.core.runner.Job` while inside :meth:`watching`: the end time of its thread,
    and the ``progress.check()`` calls and model forward passes its thread makes once the job is cancelled (a check
    of any Progress on that thread counts, also one a kernel made for itself, whose checks would never stop it)."""

    def __init__(self) -> None:
        self.traces: weakref.WeakKeyDictionary[Job, JobTrace] = weakref.WeakKeyDictionary()
        self._running: dict[int, Job] = {}

    def trace(self, job: Job) -> JobTrace:
        return self.traces.setdefault(job, JobTrace())

    def _cancelled_job(self) -> Job | None:
        """The job of this thread when it was cancelled while its kernel still computes."""
        job = self._running.get(threading.get_ident())
        if job is None or not job.progress.cancelled or not self.trace(job).computing:
            return None
        return job

    @contextlib.contextmanager
    def watching(self, modules: list[torch.nn.Module]) -> Iterator[Tracer]:
        """Instrument Job, Progress.check and the forward of ``modules`` (restored on exit)."""
        main, check = Job._main, Progress.check
        tracer = self

        def traced_main(job: Job) -> None:
            trace, work = tracer.trace(job), job._fn

            def kernel(*args: Any, **kwargs: Any) -> Any:
                try:
                    return work(*args, **kwargs)
                finally:
                    trace.computing = False  # what follows draws the result (on_done), no kernel iteration

            job._fn = kernel
            tracer._running[threading.get_ident()] = job
            try:
                main(job)
            finally:
                tracer._running.pop(threading.get_ident(), None)
                tracer.trace(job).ended = time.monotonic()

        def traced_check(progress: Progress) -> None:
            job = tracer._cancelled_job()
            if job is not None:
                tracer.trace(job).checks_after += 1
            check(progress)

        Job._main, Progress.check = traced_main, traced_check  # type: ignore[method-assign]
        forwards = [self._count_forwards(module) for module in modules]
        try:
            yield self
        finally:
            Job._main, Progress.check = main, check  # type: ignore[method-assign]
            for module in forwards:
                del module.forward

    def _count_forwards(self, module: torch.nn.Module) -> torch.nn.Module:
        forward = module.forward

        def counted(*args: Any, **kwargs: Any) -> Any:
            job = self._cancelled_job()
            if job is not None:
                self.trace(job).forwards_after += 1
            return forward(*args, **kwargs)

        module.forward = counted  # type: ignore[method-assign]
        return module


def runners(explorer: Explorer) -> list[Runner]:
    """The explorer's runner, its side lanes' and those of explorers opened inside it (the DatasetExplorer's)."""
    found = [explorer.runner, *explorer._lanes.values()]
    for value in list(vars(explorer).values()):
        if isinstance(value, Explorer) and value is not explorer:
            found += runners(value)
    return found


def running_jobs(explorer: Explorer, tracer: Tracer) -> list[Job]:
    """The jobs of :func:`runners` still running and not cancelled."""
    jobs = [runner.job for runner in runners(explorer)]
    return [job for job in jobs if job is not None and tracer.trace(job).ended is None and not job.progress.cancelled]


def settle(explorer: Explorer, timeout: float = 120.0) -> None:
    """Wait for the explorer's run, then for every job of :func:`runners` (side lanes, inner explorers) to end,
    then for the stale jobs still ending (one drawing a result that went stale while it was drawn), at most
    ``timeout`` seconds for those: one still running after that counts as a stale run that never ended."""
    explorer.wait(timeout)
    for runner in runners(explorer):
        if runner.job is not None:
            runner.job.wait(timeout)
    for value in list(vars(explorer).values()):
        if isinstance(value, Explorer) and value is not explorer:
            value.wait(timeout)
    deadline = time.monotonic() + timeout
    for job in live_jobs():
        job.wait(max(0.0, deadline - time.monotonic()))


# ----------------------------------------------------------------------------------------- the soaks
@dataclass
class Soak:
    """One explorer's soak.

    Attributes:
        name: the explorer's class name.
        prepare: ``prepare(workdir)`` builds what the explorer needs (models, images, a run store), before the
            first probe: returns a dict handed to ``open``.
        open: ``open(prepared)`` builds the explorer.
        moves: ``moves(explorer, hands)`` the moves possible now, ``{name: (weight, act)}``; ``act()`` makes it.
        requested: ``requested(explorer)`` the settings the controls hold now (what :attr:`Shown.settings` of the
            latest request holds; compared on these keys).
        latest: ``latest(explorer)`` the ways the settled explorer does not show the latest request ([] if none).
        modules: ``modules(prepared)`` the torch modules whose hooks and forward passes are counted.
    """

    name: str
    prepare: Callable[[Path], dict]
    open: Callable[[dict], Explorer]
    moves: Callable[[Any, Hands], dict[str, tuple[float, Callable[[], None]]]]
    requested: Callable[[Any], dict]
    latest: Callable[[Any], list[str]]
    modules: Callable[[dict], list[torch.nn.Module]]


def _toy_classifier(workdir: Path) -> dict:
    return {"model": xw.toy.classifier(), "data": xw.toy.dataset(44, seed=9801)}


def stale_settings(explorer: Any, requested: dict) -> list[str]:
    """The settings of ``requested`` that the shown result was not computed with (empty when it shows them all)."""
    shown = explorer.shown.settings if explorer.shown is not None else {}
    return [f"{k}: shown {shown.get(k)!r}, controls {v!r}" for k, v in requested.items() if shown.get(k) != v]


# HeatmapExplorer: two panels (a fast method menu, RISE with its sliders), the target, the curves' hover and scrub.
HEATMAP_METHODS = ["gradcam", "occlusion", "integrated_gradients", "igos"]


def _heatmap_open(prepared: dict) -> Explorer:
    model, data = prepared["model"], prepared["data"]
    return xw.HeatmapExplorer(
        model, data.samples[0].image, method="gradcam", compare="rise", compare_params={"masks": 64}
    )


def _heatmap_moves(explorer: Any, hands: Hands) -> dict:
    first, second = explorer.panels
    moves = {
        "target": (1.0, lambda: hands.move(explorer.target_selector)),
        "method": (1.0, lambda: hands.move(first.method_selector, HEATMAP_METHODS)),
        "first panel's slider": (2.0 * bool(first.controls), lambda: _slide(hands, first.controls)),
        "RISE slider": (2.0 * bool(second.controls), lambda: _slide(hands, second.controls)),
        "hover over the curves": (2.0, lambda: browser_update(explorer._selector, selected=_hover(hands))),
        "scrub": (1.0, lambda: hands.move(explorer.scrub)),
        "scrub curve": (0.5, lambda: hands.move(explorer.scrub_curve)),
        "zoom": (0.3, lambda: hands.move(explorer.zoom)),
        "click the map": (0.5, lambda: browser_custom(first.view, _map_click(hands, first.view))),
        "cancel": (0.5, lambda: click(explorer.cancel_button)),
    }
    return moves


def _slide(hands: Hands, controls: dict) -> None:
    hands.move(hands.pick(list(controls.values())))


def _hover(hands: Hands) -> list[float]:
    centre = float(hands.rng.uniform(0.0, 0.3))
    return [centre - 0.002, centre + 0.002]


def _map_click(hands: Hands, view: Any) -> dict:
    return {"event": "click", "x": int(hands.rng.integers(view.width)), "y": int(hands.rng.integers(view.height))}


def _heatmap_latest(explorer: Any) -> list[str]:
    problems = []
    for panel, shown in zip(explorer.panels, explorer.shown.value):
        drawn = panel.view.values
        if drawn is None or not np.allclose(drawn, shown.result.saliency[0, 0].numpy(), atol=1e-6):
            problems.append(f"panel {panel.index}'s view does not draw the shown map")
        if shown.result.method != panel.method:
            problems.append(f"panel {panel.index} shows {shown.result.method}, its menu says {panel.method}")
    return problems


# SAGExplorer: its sliders, the target, patch clicks, graph node clicks and hovers, the buttons.
def _sag_open(prepared: dict) -> Explorer:
    return xw.SAGExplorer(prepared["model"], prepared["data"].samples[0].image, params={"max_roots": 2})


def _sag_moves(explorer: Any, hands: Hands) -> dict:
    nodes = [node["id"] for node in explorer.graph_view.nodes]
    slider_names = ["threshold", "beam_width", "max_roots", "overlap", "shown_roots"]
    return {
        "target": (1.0, lambda: hands.move(explorer.target_selector)),
        "slider": (3.0, lambda: hands.move(explorer.controls[hands.pick(slider_names)])),
        "grid": (0.3, lambda: hands.move(explorer.controls["grid"])),
        "click a patch": (2.0, lambda: browser_custom(explorer.image_view, _map_click(hands, explorer.image_view))),
        "click a node": (1.0 * bool(nodes), lambda: browser_update(explorer.graph_view, selected=hands.pick(nodes))),
        "hover a node": (1.0, lambda: browser_update(explorer.graph_view, hovered=hands.pick(nodes + [""]))),
        "patch numbers": (0.3, lambda: hands.move(explorer.numbers)),
        "show all": (0.3, lambda: click(explorer.show_all)),
        "hide all": (0.3, lambda: click(explorer.hide_all)),
        "search": (0.3, lambda: click(explorer.search_button)),
        "cancel": (0.5, lambda: click(explorer.cancel_button)),
    }


def _sag_latest(explorer: Any) -> list[str]:
    problems = []
    drawn = {node["id"] for node in explorer.graph_view.nodes}
    shown = {node["id"] for node in explorer.shown.value.nodes[0]}
    if drawn != shown:
        problems.append(f"the graph draws nodes {sorted(drawn)}, the shown SAG has {sorted(shown)}")
    score = explorer.patch_score
    if score is None or score.settings != explorer._editor_settings():
        problems.append("the editor's score is not of the patches and settings shown")
    return problems


# ConceptExplorer: k and the loss weights retrain; bars, cards and the image picker redraw.
def _concepts_open(prepared: dict) -> Explorer:
    model, data = prepared["model"], prepared["data"]
    return xw.ConceptExplorer(model, data.images(), target="spotwing", params={"retries": 0, "epochs": 5})


def _concepts_moves(explorer: Any, hands: Hands) -> dict:
    space = explorer.space
    k = space.k if space is not None else 1
    cards = [f"concept{c}" for c in range(k)]
    pictures = [item["id"] for group in explorer.picker.groups for item in group["items"]]
    return {
        "slider": (3.0, lambda: hands.move(explorer.controls[hands.pick(list(explorer.controls))])),
        "click a bar": (1.0, lambda: browser_update(explorer.bars, selected=[int(hands.rng.integers(k))])),
        "click a card": (1.0, lambda: browser_update(explorer.cards, selected_group=hands.pick(cards))),
        "pick an image": (
            1.0 * bool(pictures),
            lambda: browser_update(explorer.picker, selected_group="gallery", selected_item=hands.pick(pictures)),
        ),
        "cancel": (0.5, lambda: click(explorer.cancel_button)),
    }


def _concepts_latest(explorer: Any) -> list[str]:
    problems = []
    space, explanation = explorer.space, explorer.explanation
    if explanation is None or len(explorer.bars.y) != space.k:
        problems.append(f"the bars show {len(explorer.bars.y)} concepts, the shown space has k = {space.k}")
    elif not np.allclose(np.asarray(explorer.bars.y, float), explanation.contributions[0].numpy(), atol=1e-5):
        problems.append("the bars are not the shown image's contributions")
    if len(explorer.cards.groups) != space.k:
        problems.append(f"{len(explorer.cards.groups)} concept cards for k = {space.k}")
    return problems


# SummaryExplorer: its three sliders re-cluster or redo the regions (masks cached); summary clicks.
def _summaries_prepare(workdir: Path) -> dict:
    world = xw.toy.ToyWorld()
    thrush = [s.name for s in world.species].index("ember thrush")
    images = np.stack([world.sample(thrush, seed=9630 + i).image for i in range(6)])
    return {"model": xw.toy.classifier(), "images": images}


def _summaries_open(prepared: dict) -> Explorer:
    params = {"smooth_iterations": 10, "sharp_iterations": 10}
    return xw.SummaryExplorer(prepared["model"], prepared["images"], "ember thrush", mask_params=params)


def _summaries_moves(explorer: Any, hands: Hands) -> dict:
    groups = [group["id"] for group in explorer.summaries.groups]
    return {
        "slider": (3.0, lambda: hands.move(explorer.controls[hands.pick(list(explorer.controls))])),
        "click a summary": (
            1.0 * bool(groups),
            lambda: browser_update(explorer.summaries, selected_group=hands.pick(groups)),
        ),
        "cancel": (0.5, lambda: click(explorer.cancel_button)),
    }


def _summaries_latest(explorer: Any) -> list[str]:
    problems = []
    if len(explorer.summaries.groups) != len(explorer.result.accepted):
        problems.append(
            f"the gallery draws {len(explorer.summaries.groups)} summaries, {len(explorer.result.accepted)} accepted"
        )
    return problems


# TextExplorer: its controls re-explain; phrases, bars, the attribute menu redraw; retrieved and picked images
# explain another image.
def _text_prepare(workdir: Path) -> dict:
    prepared = _toy_classifier(workdir)
    model, data = prepared["model"], prepared["data"]
    prepared["text_model"] = xw.text.fit(model, data.images(), captions=xw.toy.captions(data))
    return prepared


def _text_open(prepared: dict) -> Explorer:
    return xw.TextExplorer(prepared["text_model"], prepared["data"].images()[:12])


def _text_moves(explorer: Any, hands: Hands) -> dict:
    words = list(explorer.word_buttons)
    bars = len(explorer.bars.x)
    retrieved = [item["id"] for group in explorer.retrieved.groups for item in group["items"]]
    picks = [item["id"] for group in explorer.picker.groups for item in group["items"]]
    return {
        "slider": (3.0, lambda: hands.move(explorer.controls[hands.pick(list(explorer.controls))])),
        "click a phrase": (1.0 * bool(words), lambda: click(hands.pick(words))),
        "click a bar": (
            1.0 * bool(bars),
            lambda: browser_update(explorer.bars, selected=[int(hands.rng.integers(bars))]),
        ),
        "attribute menu": (0.5, lambda: hands.move(explorer.attribute_menu)),
        "click a retrieved image": (
            0.5 * bool(retrieved),
            lambda: browser_update(explorer.retrieved, selected_group="retrieved", selected_item=hands.pick(retrieved)),
        ),
        "pick an image": (
            1.0,
            lambda: browser_update(explorer.picker, selected_group="pool", selected_item=hands.pick(picks)),
        ),
        "cancel": (0.5, lambda: click(explorer.cancel_button)),
    }


def _text_latest(explorer: Any) -> list[str]:
    problems = []
    shown = explorer.explanation.images[0]
    if not np.allclose(explorer.image_view._pixels.numpy(), shown.numpy(), atol=1 / 255):
        problems.append("the image view does not draw the shown image")
    return problems


# MatchExplorer: the saliency method and its sliders, the ranking's controls, swap, the pool, attributes.
def _match_prepare(workdir: Path) -> dict:
    data = xw.toy.dataset(8, seed=9793)
    return {"embedder": xw.toy.embedder(), "images": data.images(), "attributes": xw.toy.attribute_model()}


def _match_open(prepared: dict) -> Explorer:
    return xw.MatchExplorer(prepared["embedder"], prepared["images"], prepared["attributes"], params={"masks": 64})


def _match_moves(explorer: Any, hands: Hands) -> dict:
    attributes = [item["id"] for group in explorer.attributes_view.groups for item in group["items"]]
    pool = [item["id"] for group in explorer.pool_view.groups for item in group["items"]]
    sliders = {**explorer.method_controls, **explorer.ranking_controls}
    return {
        "saliency method": (0.5, lambda: hands.move(explorer.method_menu, ["pair_rise", "sliding_window"])),
        "slider": (3.0, lambda: hands.move(sliders[hands.pick(list(sliders))])),
        "swap": (0.5, lambda: click(explorer.swap_button)),
        "pick a reference": (
            1.0,
            lambda: browser_update(explorer.pool_view, selected_group="pool", selected_item=hands.pick(pool)),
        ),
        "click an attribute": (
            1.0 * bool(attributes),
            lambda: browser_update(
                explorer.attributes_view, selected_group="attributes", selected_item=hands.pick(attributes)
            ),
        ),
        "show saliency": (0.3, lambda: click(explorer.saliency_button)),
        "cancel": (0.5, lambda: click(explorer.cancel_button)),
    }


def _match_latest(explorer: Any) -> list[str]:
    problems = []
    explanation = explorer.explanation
    attribute = explorer.attribute
    expected = explanation.saliency[0, 0] if attribute is None else explanation.attribute_map(attribute)
    drawn = explorer.query_view.values
    if drawn is None or not np.allclose(drawn, expected.numpy(), atol=1e-6):
        problems.append("the query view does not draw the shown map")
    return problems


# DatasetExplorer: filters, sort, the chart and its brush, the pager, tile clicks opening a HeatmapExplorer.
def _dataset_prepare(workdir: Path) -> dict:
    model = xw.toy.classifier()
    run = xw.explain_dataset(
        model, xw.data.toy(48), method="gradcam", store=workdir / "run", metrics=False, progress=False
    )
    return {"model": model, "run": run}


def _dataset_open(prepared: dict) -> Explorer:
    return xw.DatasetExplorer(prepared["run"], prepared["model"], page_size=12, columns=6)


def _dataset_moves(explorer: Any, hands: Hands) -> dict:
    tiles = explorer.grid.tile_keys
    ranges = [slider for slider in explorer.ranges.values() if slider.layout.display != "none"]
    return {
        "class": (1.0, lambda: hands.move(explorer.class_filter)),
        "correct": (0.5, lambda: hands.move(explorer.correct_filter)),
        "range": (1.0 * bool(ranges), lambda: hands.move(hands.pick(ranges))),
        "sort": (0.5, lambda: hands.move(hands.pick([explorer.sort_by, explorer.sort_order]))),
        "chart": (0.5, lambda: hands.move(hands.pick([explorer.chart_x, explorer.chart_y]))),
        "brush": (1.0, lambda: _brush(explorer, hands)),
        "clear brush": (0.3, lambda: click(explorer.clear_brush)),
        "page": (1.0, lambda: click(hands.pick([explorer.previous_button, explorer.next_button]))),
        "open a tile": (1.0 * bool(tiles), lambda: browser_update(explorer.grid, selected=hands.pick(tiles))),
        "inner target": (
            0.5 * (explorer.image_explorer is not None),
            lambda: hands.move(explorer.image_explorer.target_selector),
        ),
    }


def _brush(explorer: Any, hands: Hands) -> None:
    low, high = sorted(float(v) for v in hands.rng.uniform(0.0, 1.0, 2))
    if isinstance(explorer.brush, bq.interacts.BrushSelector):
        browser_update(explorer.brush, selected_x=[low, high], selected_y=[0.0, 1.0], brushing=False)
    else:
        browser_update(explorer.brush, selected=[low, high], brushing=False)


def _dataset_latest(explorer: Any) -> list[str]:
    problems = []
    page = explorer.shown.value
    keys = [str(index) for index in page.indices]
    if explorer.grid.tile_keys != keys:
        problems.append(f"the grid shows tiles {explorer.grid.tile_keys}, the page has {keys}")
    inner = explorer.image_explorer
    if inner is not None:
        problems += [f"the opened image's explorer: {p}" for p in _heatmap_latest(inner)]
    return problems


SOAKS = {
    "HeatmapExplorer": Soak(
        "HeatmapExplorer",
        _toy_classifier,
        _heatmap_open,
        _heatmap_moves,
        lambda e: e.settings(),
        _heatmap_latest,
        lambda p: [p["model"].module],
    ),
    "SAGExplorer": Soak(
        "SAGExplorer",
        _toy_classifier,
        _sag_open,
        _sag_moves,
        lambda e: e.settings,
        _sag_latest,
        lambda p: [p["model"].module],
    ),
    "ConceptExplorer": Soak(
        "ConceptExplorer",
        _toy_classifier,
        _concepts_open,
        _concepts_moves,
        lambda e: e.params,
        _concepts_latest,
        lambda p: [p["model"].module],
    ),
    "SummaryExplorer": Soak(
        "SummaryExplorer",
        _summaries_prepare,
        _summaries_open,
        _summaries_moves,
        lambda e: e.params,
        _summaries_latest,
        lambda p: [p["model"].module],
    ),
    "TextExplorer": Soak(
        "TextExplorer",
        _text_prepare,
        _text_open,
        _text_moves,
        lambda e: {**e.params, "index": e._requested},
        _text_latest,
        lambda p: [p["model"].module],
    ),
    "MatchExplorer": Soak(
        "MatchExplorer",
        _match_prepare,
        _match_open,
        _match_moves,
        lambda e: {"query": e.query, "reference": e.reference, **e.params},
        _match_latest,
        lambda p: [p["embedder"].module],
    ),
    "DatasetExplorer": Soak(
        "DatasetExplorer",
        _dataset_prepare,
        _dataset_open,
        _dataset_moves,
        lambda e: e.settings,
        _dataset_latest,
        lambda p: [p["model"].module],
    ),
}


# ------------------------------------------------------------------------------------------ the driver
@dataclass
class Sample:
    """The probes after move ``move``."""

    move: int
    rss: int
    threads: int
    hooks: int
    widgets: int


@dataclass
class Cancel:
    """One move that cancelled a running job: which move, and what the job's thread did after it."""

    move: int
    name: str
    latency: float
    checks_after: int
    forwards_after: int


@dataclass
class SoakResult:
    """One explorer's soak (see the module docstring)."""

    name: str
    moves: int
    seconds: float
    samples: list[Sample]
    cancels: list[Cancel]
    threads_start: int
    threads_max: int
    threads_end: int
    hooks_start: int
    hooks_end: int
    left: list[str]
    latest: list[str]
    waits: int
    orphans: int
    move_counts: Counter = field(default_factory=Counter)

    @property
    def warm(self) -> Sample:
        """The first sample after the warm-up (the first :data:`WARM_UP` of the moves)."""
        return next(s for s in self.samples if s.move >= WARM_UP * self.moves)

    @property
    def end(self) -> Sample:
        """The last sample: after the final wait, before the explorer is closed."""
        return self.samples[-1]

    @property
    def rss_growth(self) -> int:
        """RSS at the end minus RSS after the warm-up, in bytes."""
        return self.end.rss - self.warm.rss

    def latency_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the cancel latencies in ms (0 when no move cancelled a run)."""
        values = sorted(c.latency * 1e3 for c in self.cancels)
        if not values:
            return 0.0
        return float(np.quantile(values, q))


def soak(
    spec: Soak,
    moves: int,
    *,
    seed: int = 0,
    wait_every: int = 25,
    sample_every: int | None = None,
    workdir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> SoakResult:
    """Soak one explorer: ``moves`` seeded moves (see the module docstring); returns what was measured.

    Args:
        spec: the explorer's :class:`Soak`.
        moves: how many moves.
        seed: the seed of the moves.
        wait_every: after a move, the driver waits for the run with probability ``1 / wait_every``.
        sample_every: probe every this many moves (default: ``moves // 50``, at least 1).
        workdir: a scratch directory (run stores); default a temporary one.
        log: called with a line of progress now and then.
    """
    every = sample_every or max(1, moves // 50)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xw-soak-")))
        prepared = spec.prepare(workdir)
        modules = spec.modules(prepared)
        tracer = stack.enter_context(Tracer().watching(modules))
        before = snapshot(*modules)
        threads_start = threading.active_count()
        started = time.perf_counter()
        explorer = spec.open(prepared)
        result = _drive(spec, explorer, tracer, modules, moves, seed, wait_every, every, log)
        result.orphans = orphans(explorer, before.widgets)
        explorer.close()
        result.seconds = time.perf_counter() - started
        result.left = _named(left_behind(before, *modules, grace=10.0))
        result.threads_start, result.threads_end = threads_start, threading.active_count()
        result.hooks_start, result.hooks_end = before.hooks, hook_count(*modules)
    return result


def _named(left: list[str]) -> list[str]:
    """:func:`left_behind`'s list with the widgets counted by type ("3 Layout") instead of listed by id."""
    from ipywidgets.widgets.widget import _instances

    ids = [item.split(" ", 1)[1] for item in left if item.startswith("widget ")]
    types = Counter(type(_instances[i]).__name__ for i in ids if i in _instances)
    return [item for item in left if not item.startswith("widget ")] + [f"{n} {t}" for t, n in types.items()]


def _drive(
    spec: Soak,
    explorer: Any,
    tracer: Tracer,
    modules: list[torch.nn.Module],
    moves: int,
    seed: int,
    wait_every: int,
    every: int,
    log: Callable[[str], None] | None,
) -> SoakResult:
    rng = np.random.default_rng(seed)
    hands = Hands(rng)
    samples, pending, counts = [], [], Counter()
    threads_max, waits, stale_waits = threading.active_count(), 0, []
    explorer.wait(120)
    for move in range(moves):
        options = spec.moves(explorer, hands)
        names = [n for n in options if options[n][0] > 0]
        weights = np.array([options[n][0] for n in names], float)
        name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        running = running_jobs(explorer, tracer)
        moved = time.monotonic()
        options[name][1]()
        counts[name] += 1
        # the traces, not the jobs: a cancelled job's error holds its kernel's frames (and their tensors)
        pending += [(move, name, moved, tracer.trace(job)) for job in running if job.progress.cancelled]
        threads_max = max(threads_max, threading.active_count())
        if rng.random() < 1.0 / wait_every:
            explorer.wait(120)
            waits += 1
            stale_waits += [f"after move {move}: {p}" for p in stale_settings(explorer, spec.requested(explorer))]
        if move % every == 0:
            samples.append(_sample(move, modules))
        if log is not None and move % max(1, moves // 10) == 0:
            log(f"{spec.name}: move {move} of {moves}")
    explorer.wait(120)
    latest = [f"after the last wait: {p}" for p in stale_settings(explorer, spec.requested(explorer))]
    settle(explorer)
    latest += stale_waits + spec.latest(explorer)
    samples.append(_sample(moves, modules))
    cancels = [_cancel(move, name, moved, trace) for move, name, moved, trace in pending]
    return SoakResult(spec.name, moves, 0.0, samples, cancels, 0, threads_max, 0, 0, 0, [], latest, waits, 0, counts)


def orphans(explorer: Explorer, before: frozenset[str] = frozenset()) -> int:
    """Live widgets that the explorer no longer holds: replaced (a view, a chart, controls, buttons) but never
    closed. Counts every live widget not reachable from ``explorer`` through synced traits and, for explorers,
    their attributes, and not among ``before`` (the ids alive before it was built); 0 when nothing replaced was
    left open."""
    held: set[str] = set()
    _hold(explorer, held, set())
    return len(live_widget_ids() - held - before)


def _hold(value: Any, held: set[str], seen: set[int]) -> None:
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, (list, tuple, set)):
        for item in value:
            _hold(item, held, seen)
    elif isinstance(value, dict):
        for item in value.values():
            _hold(item, held, seen)
    elif isinstance(value, widgets.Widget):
        if value.model_id is not None:
            held.add(value.model_id)
        for name in value.keys:
            _hold(getattr(value, name, None), held, seen)
        if isinstance(value, Explorer):
            for attribute in list(vars(value).values()):
                _hold(attribute, held, seen)


def _sample(move: int, modules: list[torch.nn.Module]) -> Sample:
    return Sample(move, rss_bytes(), threading.active_count(), hook_count(*modules), len(live_widget_ids()))


def _cancel(move: int, name: str, moved: float, trace: JobTrace) -> Cancel:
    latency = float("inf") if trace.ended is None else max(0.0, trace.ended - moved)
    return Cancel(move, name, latency, trace.checks_after, trace.forwards_after)


def soak_all(
    moves: int, *, only: list[str] | None = None, seed: int = 0, log: Callable[[str], None] | None = None
) -> list[SoakResult]:
    """:func:`soak` every explorer of :data:`SOAKS` (or those named in ``only``), one after the other."""
    return [soak(SOAKS[name], moves, seed=seed, log=log) for name in (only or list(SOAKS))]


# ------------------------------------------------------------------------------------------- the table
def table(results: list[SoakResult]) -> str:
    """The Markdown table of ``results``, one row per explorer."""
    head = (
        "| explorer | moves | seconds | RSS after warm-up | RSS growth after | threads start / max / end "
        "| hooks start / end | widgets warm-up / end (orphans) | cancelled runs | cancel latency median / p95 / max "
        "| checks after cancel (max) | forward passes after cancel (max) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {r.name} | {r.moves} | {r.seconds:.0f} | {r.warm.rss / MIB:.0f} MiB | {r.rss_growth / MIB:+.1f} MiB "
        f"| {r.threads_start} / {r.threads_max} / {r.threads_end} | {r.hooks_start} / {r.hooks_end} "
        f"| {r.warm.widgets} / {r.end.widgets} ({r.orphans}) | {len(r.cancels)} "
        f"| {r.latency_ms(0.5):.0f} / {r.latency_ms(0.95):.0f} / {r.latency_ms(1.0):.0f} ms "
        f"| {max((c.checks_after for c in r.cancels), default=0)} "
        f"| {max((c.forwards_after for c in r.cancels), default=0)} |"
        for r in results
    ]
    return "\n".join([head, *rows])


def rss_table(results: list[SoakResult]) -> str:
    """RSS in MiB after each tenth of the moves, one row per explorer (where growth happens, and whether it levels
    off)."""
    head = "| explorer | " + " | ".join(f"{10 * k} %" for k in range(1, 11)) + " |\n|---|" + "---|" * 10
    rows = []
    for r in results:
        marks = [next(s for s in r.samples if s.move >= k * r.moves / 10) for k in range(1, 11)]
        rows.append(f"| {r.name} | " + " | ".join(f"{s.rss / MIB:.0f}" for s in marks) + " |")
    return "\n".join([head, *rows])


def problems(result: SoakResult) -> list[str]:
    """What the soak found wrong: things left after close, a final state that is not the latest request, a stale
    run still running at the end."""
    found = [f"left behind after close: {item}" for item in result.left]
    found += [f"not the latest request: {item}" for item in result.latest]
    found += [f"a stale run never ended (move {c.move}, {c.name})" for c in result.cancels if c.latency == float("inf")]
    return found


def _header(moves: int, seconds: float) -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (
        f"# Soak of every explorer from Python (issue 21) on CPU\n\n"
        f"torch {torch.__version__}, xwidgets {xw.__version__}, Python {platform.python_version()}.\n\n"
        f"_Measured {when} by `python benchmarks/soak.py --moves {moves}` on CPU ({torch.get_num_threads()} torch "
        f"threads, {os.cpu_count()} cores) in {seconds / 60:.1f} min; load average {load[0]:.1f} at the end._\n\n"
        f"Each explorer on the toy world gets {moves} seeded moves through its own controls and views, delivered as "
        "the browser delivers them; most in rapid fire (each cancels the stale run), with a wait for the run after "
        "a move with probability 1/25. *RSS growth after*: RSS after the last move (and a final wait) minus RSS after "
        "the first 10 % of the moves. *Threads*: before the explorer was built, the most during the moves, after "
        "close. *Cancel latency*: from a move that cancelled a running job to the end of that job's worker thread. "
        "*Checks after cancel*: the `progress.check()` calls the stale job's thread made after the cancel (1: it "
        "stopped at its first check, within one iteration). *Forward passes after cancel*: model passes that thread "
        "started after the cancel.\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", choices=list(SOAKS), default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "soak_cpu.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    results = soak_all(args.moves, only=args.only, seed=args.seed, log=lambda line: print(line, flush=True))
    seconds = time.perf_counter() - started
    found = [f"{r.name}: {p}" for r in results for p in problems(r)]
    text = _header(args.moves, seconds) + "\n" + table(results) + "\n\nRSS (MiB) after each tenth of the moves:\n\n"
    text += rss_table(results) + "\n"
    if found:
        text += "\nProblems found:\n\n" + "\n".join(f"- {p}" for p in found) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
