"""SAGExplorer: one image's structured attention graph, and the patches to play with.

Left, the image in a :class:`~xwidgets.views.HeatmapView` with the patch grid and the patch numbers (``P10``, as
in the graph's formula; a checkbox hides them) drawn over it: click a patch to hide or show it, and the target's
score on what is shown updates with one forward pass (the counterfactual play users learn most from). Right, a
legend and the graph in a :class:`~xwidgets.views.GraphView`, at a readable size in a box that scrolls: each node
shows its patch set (the rest darkened to 10 %), framed by its relative confidence and labelled with it (with its
probability instead where the full image gives a class it does not predict less than the floor, so the threshold
is absolute), with edges coloured by the drop in confidence and labelled with the patch they remove. Hovering a
node outlines its patches on the image; clicking it enlarges it and loads its patches into the image, to edit
from there. The search runs on the :class:`~xwidgets.views.explorer.Explorer` base's runner: roots appear as the
beam search finds them, and a new control value cancels the stale search; a change to ``overlap`` or
``shown_roots`` only redraws the graph from the roots found (the ``"search"`` step is cached). The editor's score
runs on a side lane, so it never cancels the search.

How long a search may take depends on the model. The explorer times one pass of the model on the image
(:func:`~xwidgets.core.cost.pass_time`) and shows the longest search's estimate (:func:`~xwidgets.sag.cost.sag_images`).
It starts, and re-runs on a new control value, only where that estimate is at most :data:`SEARCH_BUDGET` seconds
(the toy classifier: about 4 s, for searches that took 2 to 4 s); otherwise it says so and waits for the search
button (the pretrained EfficientNet-Lite0 on an idle 2-core CPU: about 2.5 min at the defaults; a coarser grid is
quicker, and the estimate follows the controls).
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from ..core.baselines import make_baseline
from ..core.cost import INTERACTIVE_SECONDS, device_words, format_seconds, pass_time
from ..core.errors import invalid
from ..core.models import Classifier, Model, check_model
from ..core.params import check_seed
from ..core.targets import ClassTarget, class_index
from ..views import GraphView, HeatmapView, control_for
from ..views.explorer import Explorer, Shown, phrase_line
from ..views.graph import THUMBNAIL_SIZES, bounded_int, optional_size
from .cost import sag_images
from .graph import EDGE_COLOURS, NODE_COLOURS, view_graph
from .patch_grid import draw_patch_grid, patch_at
from .patches import insertion_images, score_patch_sets
from .sag import SAG_PARAMS, SAGResult, reference_scores, sag

__all__ = ["SAGExplorer", "CONTROLS", "SEARCH_BUDGET"]

#: The parameters the explorer offers as controls (the others keep their values from ``params``).
CONTROLS = ("threshold", "beam_width", "grid", "max_roots", "overlap", "shown_roots")
#: The longest search, in estimated seconds, that starts without a click. The estimate is of a search that runs
#: every level, which most stop well before, so the budget is three times the interactive one.
SEARCH_BUDGET = 3 * INTERACTIVE_SECONDS
#: The side lane that scores the editor's patches.
SCORE_LANE = "score"
#: The patch editor's width, and the size of its patch numbers, in CSS px.
EDITOR_WIDTH, NUMBER_SIZE = 280, 12


class SAGExplorer(Explorer):
    """Explore one image's SAG live.

    Args:
        model: a wrapped :class:`~xwidgets.core.models.Classifier`.
        image: one image in any form :func:`~xwidgets.core.images.to_batch` accepts.
        target: the class, as an index or a class name (default: the top-1 class); the top-5 classes are offered
            as buttons.
        params: overrides of :data:`~xwidgets.sag.SAG_PARAMS`.
        seed: the heuristic's seed.
        thumbnail_size: the graph's node size in CSS pixels (thumbnails and text are never scaled down).
        graph_width: the width of the graph's box in CSS pixels (a wider graph scrolls sideways in it); None: the
            room beside the image.
        graph_height: the greatest height of the graph's box in CSS pixels (a taller graph scrolls); None: no
            bound.
        run: start the search at once (True), or leave it to :meth:`run` and the search button (False). Default
            (None): start at once, and re-run on every new control value or target, when the longest search's
            estimate (:meth:`estimate`) is at most :data:`SEARCH_BUDGET`; else show the estimate and wait for the
            button.

    Attributes:
        image_view: the patch editor (its image is the input enlarged :attr:`editor_scale` times, so that its
        patch numbers are readable); ``numbers`` the checkbox that shows them; ``graph_view`` the graph, with
        ``legend`` above it; ``controls`` the generated controls;
        result: the :class:`~xwidgets.sag.SAGResult` shown (``shown.value``); ``visible`` the patches shown in the
        editor and ``patch_score`` their score, a :class:`~xwidgets.views.explorer.Shown` with the editor settings
        it was computed with; ``search_button`` starts the search; ``estimate_text`` says how long it may take;
        ``pass_time`` is the model's measured :class:`~xwidgets.core.cost.PassTime` on this image.
    """

    work_name = "the SAG search"

    def __init__(
        self,
        model: Model,
        image: object,
        *,
        target: object = None,
        params: dict | None = None,
        seed: int = 0,
        thumbnail_size: int = 80,
        graph_width: int | None = None,
        graph_height: int | None = 660,
        run: bool | None = None,
    ):
        check_model(model, Classifier)
        if params is not None and not isinstance(params, dict):
            raise invalid("params", params, "a dict of SAG parameter values")
        thumbnail_size = bounded_int("thumbnail_size", thumbnail_size, *THUMBNAIL_SIZES)
        graph_width = optional_size("graph_width", graph_width)
        graph_height = optional_size("graph_height", graph_height)
        values = SAG_PARAMS.resolve(params)
        check_seed(seed)
        pixels = model.prepare(image, name="image")
        if pixels.shape[0] != 1:
            raise invalid("image", f"a batch of {pixels.shape[0]} images", "a single image")
        if values["grid"] > min(pixels.shape[-2:]):
            height, width = pixels.shape[-2:]
            raise invalid(
                "image",
                f"a {height}x{width} image at the model's input",
                f"at least {values['grid']} pixels a side for grid={values['grid']} patches a side "
                "(a larger image, or a smaller params['grid'])",
            )
        inputs = model.normalize(pixels)
        with torch.no_grad(), model.frozen():
            probabilities = torch.softmax(model.forward(inputs).float(), 1)[0].cpu()
        if target is not None:
            target = class_index(target, model.labels, probabilities.shape[0])
        super().__init__()
        self.model, self.pixels, self.inputs, self.seed, self._fixed = model, pixels, inputs, seed, values
        self._probabilities = probabilities
        self.visible: list[int] = list(range(values["grid"] ** 2))
        self.patch_score: Shown | None = None
        self.target_selector = self.target_picker(model, pixels, target)
        self.pass_time = pass_time(model, pixels)
        self.editor_scale = max(1, round(2 * EDITOR_WIDTH / max(pixels.shape[-2:])))
        self._build(values, thumbnail_size, (graph_width, graph_height))
        editor = (*self.controls.values(), self.target_selector)
        for control in editor:  # the editor follows every setting, quiet changes too
            control.observe(self._on_setting, names="value")
        self.watch({**self.controls, "target": self.target_selector}, self._rerun)
        self._draw_visible()
        self._score_visible()
        self._show_estimate()
        if run or (run is None and self.interactive):
            self.run()
        elif run is None:
            self.status.value = self._waiting_message()

    def _build(self, values: dict, thumbnail_size: int, graph_box: tuple[int | None, int | None]) -> None:
        self.image_view = HeatmapView(
            self._editor_image(values),
            None,
            title="click patches to hide or show them",
            display_width=EDITOR_WIDTH,
            show_controls=False,
            show_legend=False,
        )
        self.image_view.add_class("xw-sag-image")
        self.numbers = widgets.Checkbox(value=True, description="patch numbers", indent=False)
        self.numbers.layout.width = "auto"
        self.numbers.add_class("xw-sag-numbers")
        self.score_text = _html("xw-sag-score")
        self.show_all = _button("show all patches", "xw-sag-show-all")
        self.hide_all = _button("hide all patches", "xw-sag-hide-all")
        self.search_button = _button("search", "xw-sag-search", icon="play", width="92px")
        self.estimate_text = _html("xw-estimate")
        self.summary_text = _html("xw-sag-summary")
        self.dnf_text = _html("xw-sag-dnf")
        self.legend = _html("xw-sag-legend")
        self.legend.value = _legend()
        self.graph_view = GraphView(
            [],
            [],
            title="",
            thumbnail_size=thumbnail_size,
            enlarged_size=224,
            display_width=graph_box[0],
            display_height=graph_box[1],
        )
        self.graph_view.add_class("xw-sag-graph")
        self.controls = {name: control_for(SAG_PARAMS[name], values[name]) for name in CONTROLS}
        self.controls["grid"].max = min(self.controls["grid"].max, self.pixels.shape[-2], self.pixels.shape[-1])
        for control in self.controls.values():
            control.layout.width = "300px"
        left = widgets.VBox(
            [
                self.image_view,
                self.numbers,
                self.score_text,
                widgets.HBox([self.show_all, self.hide_all]),
                widgets.HBox([self.search_button, self.estimate_text], layout=widgets.Layout(align_items="center")),
                self.progress_box,
                self.summary_text,
                *self.controls.values(),
            ],
            layout=widgets.Layout(margin="0 12px 0 0", width="304px", flex="0 0 auto"),
        )
        right = widgets.VBox(
            [self.dnf_text, self.legend, self.graph_view], layout=widgets.Layout(flex="1 1 0", min_width="0")
        )
        self.children = [self.target_selector, widgets.HBox([left, right], layout=widgets.Layout(flex_flow="row"))]
        self.add_class("xw-sag-explorer")
        self.image_view.on_click(self._on_patch_click)
        self.graph_view.on_select(self._on_node)
        self.graph_view.observe(lambda _: self._draw_visible(), names="hovered")
        self.numbers.observe(lambda _: self._draw_visible(), names="value")
        self.show_all.on_click(lambda _: self.set_visible(range(self.grid**2)))
        self.hide_all.on_click(lambda _: self.set_visible([]))
        self.search_button.on_click(lambda _: self.run())

    # ---------------------------------------------------------------------------------------- settings
    def _label(self, index: int) -> str:
        labels = self.model.labels
        return labels[index] if labels is not None and index < len(labels) else f"class {index}"

    @property
    def grid(self) -> int:
        return int(self.controls["grid"].value)

    @property
    def params(self) -> dict:
        """Every SAG parameter: the controls' current values over those given at construction."""
        return {**self._fixed, **{name: control.value for name, control in self.controls.items()}}

    @property
    def settings(self) -> dict:
        """What a search now would run with: every parameter and the target's class index."""
        return {**self.params, "target": int(self.target_selector.value)}

    @property
    def result(self) -> SAGResult | None:
        """The SAG shown (None before the first search ends, or after a setting cleared it)."""
        return None if self.shown is None else self.shown.value

    # -------------------------------------------------------------------------------------- estimates
    def estimate(self) -> float:
        """Estimated seconds of the longest search at the current settings (every beam level run)."""
        forward, gradient = sag_images(self.params, (self.pixels.shape[-2], self.pixels.shape[-1]))
        return self.pass_time.seconds(forward, gradient)

    @property
    def interactive(self) -> bool:
        """Whether the search starts by itself: its estimate is at most :data:`SEARCH_BUDGET`."""
        return self.estimate() <= SEARCH_BUDGET

    def _show_estimate(self) -> None:
        took, where = (
            phrase_line(f"longest search {format_seconds(self.estimate())}"),
            phrase_line(f"on {device_words(self.model)}"),
        )
        self.estimate_text.value = f"<span style='color:#57606a;font-size:12px'>{took} {where}</span>"

    def _waiting_message(self) -> str:
        took = phrase_line(f"{format_seconds(self.estimate())} on {device_words(self.model)}")
        return (
            f"<i>Not started: the longest search (all {self.grid**2} beam levels) would take {took}. Press search, "
            "or lower grid or beam width first.</i>"
        )

    def _rerun(self) -> None:
        """A new setting: search again at once when that is quick, else drop the stale graph and wait."""
        self._show_estimate()
        if self.interactive:
            self.run()
        else:
            self.clear(self._waiting_message())

    # ---------------------------------------------------------------------------------------- search
    def run(self) -> None:
        """Start the search with the current controls and target; a running search is cancelled."""
        settings = self.settings
        params = {name: value for name, value in settings.items() if name != "target"}

        def work(progress):
            with progress.holding(self.model.lock):  # a search cancelled while it waits stops before its first pass
                return sag(
                    self.model,
                    self.pixels,
                    settings["target"],
                    seed=self.seed,
                    cache=self.steps,
                    progress=progress,
                    **params,
                )

        self.start(work, settings, message=f"searching… (longest {format_seconds(self.estimate())})")

    def show_partial(self, state: dict, settings: dict) -> None:
        """Draw the roots found so far, level by level."""
        if state.get("phase") != "search":
            return
        roots = [{**root, "id": f"root{i}", "level": 0, "order": i} for i, root in enumerate(state["roots"][0])]
        images = [self._node_image(root, settings) for root in roots]
        self.graph_view.set_graph(*view_graph(roots, [], images, state["floored"][0]))
        self.dnf_text.value = f"<b><bdi>{html.escape(self._label(settings['target']))}</bdi></b>: " + phrase_line(
            f"beam search level {state['level']}", f"{_count(len(roots), 'root')} so far…"
        )
        self.summary_text.value = ""  # the cost of the graph no longer drawn

    def render(self) -> None:
        """Draw the graph, its roots' formula and the search's cost from :attr:`shown` (empty when None)."""
        if self.shown is None:
            self.graph_view.set_graph([], [])
            self.dnf_text.value = self.summary_text.value = ""
            return
        result, settings = self.shown.value, self.shown.settings
        images = [self._node_image(n, settings) for n in result.nodes[0]]
        self.graph_view.set_graph(*view_graph(result.nodes[0], result.edges[0], images, result.floored[0]))
        note = html.escape(result.note(0))
        clauses = (result.dnf(0) or "none").split(" | ")  # each on one line, "|" ending all but the last
        formula = " ".join(
            f"<span style='white-space:nowrap'><code>{html.escape(clause)}</code>{' <b>|</b>' * (i < len(clauses) - 1)}"
            "</span>"
            for i, clause in enumerate(clauses)
        )
        counts = phrase_line(_count(len(result.roots[0]), "root"), f"{len(result.shown[0])} diverse shown")
        target = f"<bdi>{html.escape(self._label(settings['target']))}</bdi>"
        self.dnf_text.value = f"<b>{target}</b>: {counts}: {formula}" + (f"<br><i>{note}</i>" if note else "")
        self.summary_text.value = phrase_line(
            f"SAG: {result.timings['total']:.2f} s",
            _count(result.stats["forward_images"], "forward pass", "forward passes"),
            _count(result.stats["levels"], "beam level"),
        )

    def _node_image(self, node: dict, settings: dict) -> torch.Tensor:
        """The node's thumbnail: the image with only its patches (the rest at the baseline), at most 96 px."""
        image = insertion_images(self.pixels[0], [node["patches"]], settings["grid"], settings["patches"])[0]
        if max(image.shape[-2:]) > 96:
            image = torch.nn.functional.interpolate(image[None], size=(96, 96), mode="area")[0]
        return image

    # ---------------------------------------------------------------------------------------- patches
    def _on_node(self, node_id: str) -> None:
        if self.shown is None or self.shown.settings["grid"] != self.grid:
            return
        node = next((n for n in self.shown.value.nodes[0] if n["id"] == node_id), None)
        if node is not None:
            self.set_visible(node["patches"])

    def _on_patch_click(self, x: int, y: int, value) -> None:
        """A click at pixel (x, y) of the editor's enlarged image toggles the patch under it."""
        size = (self.pixels.shape[-2], self.pixels.shape[-1])
        patch = patch_at(
            int(x) // self.editor_scale, int(y) // self.editor_scale, size, self.grid, self.params["patches"]
        )
        self.set_visible(sorted(set(self.visible) ^ {patch}))

    def _on_setting(self, change) -> None:
        if change["owner"] is self.controls["grid"]:
            self.visible = list(range(self.grid**2))
            self._draw_visible()
        self._score_visible()

    def set_visible(self, patches) -> None:
        """Show exactly ``patches`` in the editor and score what is shown (one forward pass, off the kernel)."""
        cells = self.grid**2
        patches = sorted({int(p) for p in patches})
        if any(not 0 <= p < cells for p in patches):
            raise invalid("patches", patches, f"patch numbers in 0..{cells - 1}")
        self.visible = patches
        self._draw_visible()
        self._score_visible()

    def _editor_settings(self) -> dict:
        return {**self.settings, "visible": tuple(self.visible)}

    def _score_visible(self) -> None:
        """Score the editor's patches for the current target and parameters on the side lane; until the score
        comes, the text says what is being scored (never an older score)."""
        settings = self._editor_settings()
        self.patch_score = None
        self._draw_score(settings, None)

        def work(progress):
            with progress.holding(self.model.lock):  # a stale score queued behind the search ends at once
                baseline = self.model.normalize(
                    make_baseline(
                        self.pixels,
                        settings["baseline"],
                        blur_kernel=settings["blur_kernel"],
                        blur_sigma=settings["blur_sigma"],
                        seed=self.seed,
                    )
                )
                with self.model.frozen():
                    scores = score_patch_sets(
                        self.model,
                        self.inputs,
                        baseline,
                        ClassTarget([settings["target"]]),
                        [list(settings["visible"])],
                        [0],
                        settings["grid"],
                        settings["patches"],
                    )
            return float(scores[0])

        self.side(SCORE_LANE, work, lambda score: self._on_score(score, settings))

    def _on_score(self, score: float, settings: dict) -> None:
        if settings != self._editor_settings():
            return
        self.patch_score = Shown(score, settings)
        self._draw_score(settings, score)

    def wait_score(self, timeout: float | None = 30.0) -> float | None:
        """Block until the editor's score is computed; returns it."""
        self.wait_side(SCORE_LANE, timeout)
        return None if self.patch_score is None else self.patch_score.value

    def _draw_score(self, settings: dict, score: float | None) -> None:
        """The editor's text for ``settings`` (visible patches, target, parameters) and their ``score`` (None:
        pending)."""
        target, cells = settings["target"], settings["grid"] ** 2
        full = float(self._probabilities[target])
        predicted = torch.tensor([target == int(self._probabilities.argmax())])
        reference = float(reference_scores(torch.tensor([full]), predicted, settings["floor"])[0])
        value = "…" if score is None else f"<b>{score:.3f}</b>"
        label = html.escape(self._label(target))
        phrases = [f"{len(settings['visible'])} of {cells} patches shown", f"p({label}) = {value}"]
        if reference <= full and score is not None:
            phrases.append(f"<b>{100 * score / reference:.0f}%</b> of the full image")
        text = phrase_line(*phrases, escape=False)
        if reference > full:
            needed = settings["threshold"] * reference
            text += (
                f"<br>the full image gives only {phrase_line(f'p = {full:.2g}')} (below the floor "
                f"{settings['floor']:g}): a root needs {phrase_line(f'p ≥ {needed:.3f}')}"
            )
        self.score_text.value = text

    def _editor_image(self, params: dict, numbers: bool = True, outline: list[int] | None = None) -> np.ndarray:
        """The editor's image: the visible patches (the others at 25 %), enlarged :attr:`editor_scale` times,
        with the patch grid, the patch numbers (``numbers``) and the ``outline`` patches' boundary;
        ``[s·H, s·W, 3]`` uint8."""
        grid, patches = params["grid"], params["patches"]
        shown = insertion_images(self.pixels[0], [self.visible], grid, patches, 0.25)[0]
        pixels_per_css = self.pixels.shape[-1] * self.editor_scale / EDITOR_WIDTH
        return draw_patch_grid(
            shown,
            grid,
            patches,
            scale=self.editor_scale,
            label_px=NUMBER_SIZE * pixels_per_css if numbers else 0.0,
            outline=outline or [],
            line_px=max(1, round(pixels_per_css)),
        )

    def _hovered_patches(self) -> list[int]:
        """The patches of the graph node under the mouse ([] when none, or when the graph is of another grid)."""
        hovered = self.graph_view.hovered
        if not hovered or self.shown is None or self.shown.settings["grid"] != self.grid:
            return []
        return next((list(n["patches"]) for n in self.shown.value.nodes[0] if n["id"] == hovered), [])

    def _draw_visible(self) -> None:
        image = self._editor_image(self.params, self.numbers.value, self._hovered_patches())
        self.image_view.set_data(image=image)

    # ---------------------------------------------------------------------------------------- output
    def draw_figure(self, **style: Any):
        """The graph shown, for a paper (:func:`~xwidgets.sag.figure.graph_figure`), titled with the target it
        was searched for and its roots."""
        result, settings = self.current.value, self.current.settings
        style.setdefault("title", f"{self._label(settings['target'])} · {result.dnf(0) or 'no root found'}")
        return result.figure(0, **style)


def _html(css_class: str) -> widgets.HTML:
    label = widgets.HTML("")
    label.add_class(css_class)
    return label


def _button(description: str, css_class: str, *, icon: str = "", width: str = "138px") -> widgets.Button:
    button = widgets.Button(description=description, icon=icon, layout=widgets.Layout(width=width))
    button.add_class(css_class)
    return button


def _count(number: int, noun: str, plural: str | None = None) -> str:
    """``"1 root"``, ``"3 roots"``: the number and the noun, plural unless the number is 1."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def _swatch(colour: str, kind: str) -> str:
    """A small inline sample of a node frame (``kind="frame"``) or an edge (``"edge"``) in ``colour``."""
    shape = "width:14px;height:10px;border:3px solid" if kind == "frame" else "width:20px;height:0;border-top:4px solid"
    return f"<span style='display:inline-block;vertical-align:middle;margin:0 3px 0 8px;{shape} {colour}'></span>"


def _legend() -> str:
    """What the graph's frames, labels and arrows mean, in three short lines (12 px text)."""
    frames = zip(NODE_COLOURS, ("over 90 %", "50–90 %", "50 % or less"))
    edges = zip(EDGE_COLOURS, ("under 20 points", "20–60", "60 or more"))
    lines = [
        "<b>Image</b>: the node's patches only · <b>top row</b>: the roots, smallest patch sets that keep the "
        "threshold",
        "<b>Frame</b>, %: the score kept, as a share of the full image's"
        + "".join(f"<span style='white-space:nowrap'>{_swatch(c, 'frame')}{t}</span>" for c, t in frames),
        "<b>Arrow</b> −P17: patch 17 removed; colour and width: the score's drop"
        + "".join(f"<span style='white-space:nowrap'>{_swatch(c, 'edge')}{t}</span>" for c, t in edges),
    ]
    return "<div style='font-size:12px;line-height:1.6;color:#24292f'>" + "<br>".join(lines) + "</div>"
