"""SAGExplorer: one image's structured attention graph, and the patches to play with.

Left, the image in a :class:`~xwidgets.views.HeatmapView` with the patch grid drawn over it: click a patch to hide
or show it, and the target's score on what is shown updates with one forward pass (the counterfactual play users
learn most from). Right, the graph in a :class:`~xwidgets.views.GraphView`: each node shows its patch set (the rest
darkened to 10 %), framed by its relative confidence and labelled with it (with its probability instead where the
full image gives a class it does not predict less than the floor, so the threshold is absolute), with edges
coloured by the drop in confidence. Clicking a node enlarges it and loads its patches into the image, to edit
from there. The search runs through a :class:`~xwidgets.core.runner.Runner`: roots appear as the beam search
finds them, and a new control value cancels the stale search.

How long a search may take depends on the model. The explorer times one pass of the model on the image
(:func:`~xwidgets.core.cost.pass_time`) and shows the longest search's estimate (:func:`~xwidgets.sag.cost.sag_images`).
It starts, and re-runs on a new control value, only where that estimate is at most :data:`SEARCH_BUDGET` seconds
(the toy classifier: about 4 s, for searches that took 2 to 4 s); otherwise it says so and waits for the search
button (the pretrained EfficientNet-Lite0 on an idle 2-core CPU: about 2.5 min at the defaults; a coarser grid is
quicker, and the estimate follows the controls).
"""

from __future__ import annotations

import threading

import ipywidgets as widgets
import torch

from ..core.baselines import make_baseline
from ..core.cost import INTERACTIVE_SECONDS, device_words, format_seconds, pass_time
from ..core.errors import XWidgetsError, invalid
from ..core.models import Classifier, Model, check_model
from ..core.runner import Runner
from ..core.targets import ClassTarget, resolve_target
from ..views import GraphView, HeatmapView, control_for
from .cost import sag_images
from .graph import edge_colour, node_colour, node_label
from .patches import insertion_images, score_patch_sets
from .sag import SAG_PARAMS, SAGResult, reference_scores, sag

__all__ = ["SAGExplorer", "CONTROLS"]

#: The parameters the explorer offers as controls (the others keep their values from ``params``).
CONTROLS = ("threshold", "beam_width", "grid", "max_roots", "overlap", "shown_roots")
_TOP = 5
#: The longest search, in estimated seconds, that starts without a click. The estimate is of a search that runs
#: every level, which most stop well before, so the budget is three times the interactive one.
SEARCH_BUDGET = 3 * INTERACTIVE_SECONDS


class SAGExplorer(widgets.VBox):
    """Explore one image's SAG live.

    Args:
        model: a wrapped :class:`~xwidgets.core.models.Classifier`.
        image: one image in any form :func:`~xwidgets.core.images.to_batch` accepts.
        target: a class index (default: the top-1 class); the top-5 classes are offered as buttons.
        params: overrides of :data:`~xwidgets.sag.SAG_PARAMS`.
        seed: the heuristic's seed.
        thumbnail_size: the graph's node size in CSS pixels.
        graph_width: the graph's drawn width in CSS pixels (a wider graph is scaled down to fit, so it sits beside
            the image in a notebook's output area); None draws it at its natural width.
        run: start the search at once (True), or leave it to :meth:`run` and the search button (False). Default
            (None): start at once, and re-run on every new control value or target, when the longest search's
            estimate (:meth:`estimate`) is at most :data:`SEARCH_BUDGET`; else show the estimate and wait for the
            button.

    Attributes:
        image_view: the patch editor; ``graph_view`` the graph; ``controls`` the generated controls;
        result: the last finished :class:`~xwidgets.sag.SAGResult`; ``visible`` the patches shown in the editor;
        search_button: starts the search; ``estimate_text`` says how long it may take;
        pass_time: the model's measured :class:`~xwidgets.core.cost.PassTime` on this image.
    """

    def __init__(self, model: Model, image: object, *, target: object = None, params: dict | None = None,
                 seed: int = 0, thumbnail_size: int = 84, graph_width: int | None = 460, run: bool | None = None):
        check_model(model, Classifier)
        if params is not None and not isinstance(params, dict):
            raise invalid("params", params, "a dict of SAG parameter values")
        values = SAG_PARAMS.resolve(params)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise invalid("seed", seed, "an int")
        pixels = model.prepare(image, name="image")
        if pixels.shape[0] != 1:
            raise invalid("image", f"a batch of {pixels.shape[0]} images", "a single image")
        if values["grid"] > min(pixels.shape[-2:]):
            raise invalid("grid", values["grid"], f"at most the input's side, {min(pixels.shape[-2:])}")
        self.model, self.pixels, self.seed, self._fixed = model, pixels, seed, values
        self.inputs = model.normalize(pixels)
        with torch.no_grad(), model.frozen():
            output = model.forward(self.inputs)
        if target is not None and (isinstance(target, bool) or not isinstance(target, int)):
            raise invalid("target", target, "a class index (or None for the top-1 class)")
        resolve_target(target, model, output)
        self._probabilities = torch.softmax(output.float(), 1)[0].cpu()
        top = torch.topk(self._probabilities, min(_TOP, self._probabilities.shape[0])).indices.tolist()
        if target is not None and target not in top:
            top.append(target)
        self.target_selector = widgets.ToggleButtons(
            options=[(f"{self._label(c)}  p = {float(self._probabilities[c]):.3f}", c) for c in top],
            value=top[0] if target is None else target, description="target", style={"button_width": "auto"})
        self.target_selector.add_class("xw-target")

        self.runner, self._scorer = Runner(stream_interval=0.1), Runner()
        self.result: SAGResult | None = None
        self.error: BaseException | None = None
        self._token = 0
        self._done = threading.Event()
        self._done.set()
        self.visible: list[int] = list(range(values["grid"] ** 2))
        self._visible_score: float | None = None

        self.image_view = HeatmapView(pixels[0], None, colormap="gray", alpha=0.55, threshold=0.5,
                                      title="click patches to hide or show them", display_width=280,
                                      show_controls=False, show_legend=False)
        self.image_view.add_class("xw-sag-image")
        self.score_text = widgets.HTML("")
        self.score_text.add_class("xw-sag-score")
        self.show_all = widgets.Button(description="show all patches", layout=widgets.Layout(width="138px"))
        self.hide_all = widgets.Button(description="hide all patches", layout=widgets.Layout(width="138px"))
        self.show_all.add_class("xw-sag-show-all")
        self.hide_all.add_class("xw-sag-hide-all")
        self.graph_view = GraphView([], [], title="", thumbnail_size=thumbnail_size, enlarged_size=224,
                                    display_width=graph_width)
        self.graph_view.add_class("xw-sag-graph")
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="280px"))
        self.status = widgets.HTML("")
        self.status.add_class("xw-run-status")
        self.dnf_text = widgets.HTML("")
        self.dnf_text.add_class("xw-sag-dnf")
        self.search_button = widgets.Button(description="search", icon="play", layout=widgets.Layout(width="138px"))
        self.search_button.add_class("xw-sag-search")
        self.estimate_text = widgets.HTML("")
        self.estimate_text.add_class("xw-estimate")
        self.pass_time = pass_time(model, pixels)
        self.controls = {name: control_for(SAG_PARAMS[name], values[name]) for name in CONTROLS}
        self.controls["grid"].max = min(SAG_PARAMS["grid"].high, min(pixels.shape[-2:]))

        for control in self.controls.values():
            control.layout.width = "300px"
        left = widgets.VBox([self.image_view, self.score_text, widgets.HBox([self.show_all, self.hide_all]),
                             widgets.HBox([self.search_button, self.estimate_text]), self.progress, self.status,
                             *self.controls.values()],
                            layout=widgets.Layout(margin="0 12px 0 0", width="304px"))
        right = widgets.VBox([self.dnf_text, self.graph_view], layout=widgets.Layout(flex="1 1 0", min_width="0"))
        super().__init__([self.target_selector, widgets.HBox([left, right], layout=widgets.Layout(flex_flow="row"))])
        self.add_class("xw-sag-explorer")

        self.image_view.on_click(self._on_patch_click)
        self.graph_view.on_select(self._on_node)
        self.show_all.on_click(lambda _: self.set_visible(range(self.grid ** 2)))
        self.hide_all.on_click(lambda _: self.set_visible([]))
        self.search_button.on_click(lambda _: self.run())
        self.target_selector.observe(lambda change: self._rerun(), names="value")
        for name, control in self.controls.items():
            control.observe(self._on_control, names="value")
        self.set_visible(self.visible)
        self._show_estimate()
        if run or (run is None and self.interactive):
            self.run()
        elif run is None:
            self.status.value = self._waiting_message()

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
    def target(self) -> ClassTarget:
        return ClassTarget([self.target_selector.value])

    def _on_control(self, change) -> None:
        if change["owner"] is self.controls["grid"]:
            self.visible = list(range(self.grid ** 2))
            self._draw_visible()
        self._rerun()

    # -------------------------------------------------------------------------------------- estimates
    def estimate(self) -> float:
        """Estimated seconds of the longest search at the current settings (every beam level run)."""
        forward, gradient = sag_images(self.params, tuple(self.pixels.shape[-2:]))
        return self.pass_time.seconds(forward, gradient)

    @property
    def interactive(self) -> bool:
        """Whether the search starts by itself: its estimate is at most :data:`SEARCH_BUDGET`."""
        return self.estimate() <= SEARCH_BUDGET

    def _show_estimate(self) -> None:
        self.estimate_text.value = (f"<span style='color:#57606a;font-size:12px'>longest search "
                                    f"{format_seconds(self.estimate())} on {device_words(self.model)}</span>")

    def _waiting_message(self) -> str:
        return (f"<i>Not started: the longest search (all {self.grid ** 2} beam levels) would take "
                f"{format_seconds(self.estimate())} on {device_words(self.model)}. Press search, or lower grid or "
                "beam width first.</i>")

    def _rerun(self) -> None:
        """A new setting: search again at once when that is quick, else cancel the stale search and wait."""
        self._show_estimate()
        if self.interactive:
            self.run()
            return
        self.runner.cancel()
        self._token += 1
        self._done.set()
        self.progress.value, self.progress.bar_style = 0.0, ""
        self.graph_view.set_graph([], [])
        self.dnf_text.value = ""
        self.status.value = self._waiting_message()

    # ---------------------------------------------------------------------------------------- search
    def run(self) -> None:
        """Start the search with the current controls and target; a running search is cancelled."""
        self._token += 1
        token = self._token
        self._done.clear()
        self.error = None
        self.progress.value, self.progress.bar_style = 0.0, ""
        self.status.value = f"searching… (longest {format_seconds(self.estimate())})"
        self.graph_view.set_graph([], [])
        self.dnf_text.value = ""
        params, target = self.params, self.target

        def work(progress):
            with self.model.lock:
                return sag(self.model, self.pixels, target, seed=self.seed, progress=progress, **params)

        self.runner.submit(work, on_progress=lambda f, m: self._on_progress(token, f, m),
                           on_partial=lambda state: self._on_partial(token, state),
                           on_done=lambda result: self._on_done(token, result),
                           on_error=lambda error: self._on_error(token, error))

    def wait(self, timeout: float | None = None) -> SAGExplorer:
        """Block until the current search has ended (for scripts and notebooks executed headless); ``timeout`` in
        seconds, None to wait however long it takes. Returns at once when no search was started."""
        if not self._done.wait(timeout):
            raise XWidgetsError(f"the SAG search did not finish within timeout={timeout} s")
        if self.error is not None:
            raise self.error
        return self

    def _on_progress(self, token: int, fraction: float, message: str) -> None:
        if token == self._token:
            self.progress.value = fraction
            self.status.value = message.replace("&", "&amp;").replace("<", "&lt;")

    def _on_partial(self, token: int, state: dict) -> None:
        if token != self._token or state.get("phase") != "search":
            return
        roots, floored = state["roots"][0], state["floored"][0]
        nodes = [self._view_node(f"root{i}", root["patches"], root["score"], root["relative"], 0, i, floored)
                 for i, root in enumerate(roots)]
        self.graph_view.set_graph(nodes, [])
        self.status.value = f"beam search level {state['level']}: {len(roots)} root(s) so far…"

    def _on_done(self, token: int, result: SAGResult) -> None:
        if token != self._token:
            return
        self.result = result
        nodes = [self._view_node(n["id"], n["patches"], n["score"], n["relative"], n["level"], n["order"],
                                 result.floored[0]) for n in result.nodes[0]]
        edges = [{"source": e["source"], "target": e["target"], "colour": edge_colour(e["drop"]),
                  "width": 1.5 + 3.0 * min(max(e["drop"], 0.0), 1.0), "label": f"−P{e['removed']}"}
                 for e in result.edges[0]]
        self.graph_view.set_graph(nodes, edges)
        shown = len(result.shown[0])
        note = result.note(0).replace("&", "&amp;").replace("<", "&lt;")
        self.dnf_text.value = (f"<b>{len(result.roots[0])}</b> root(s), <b>{shown}</b> diverse shown: "
                               f"<code>{(result.dnf(0) or 'none').replace('&', '&amp;')}</code>"
                               + (f"<br><i>{note}</i>" if note else ""))
        self.progress.value, self.progress.bar_style = 1.0, "success"
        self.status.value = (f"SAG: {result.timings['total']:.2f} s · {result.stats['forward_images']} forward "
                             f"passes · {result.stats['levels']} beam level(s)")
        self._done.set()

    def _on_error(self, token: int, error: BaseException) -> None:
        if token != self._token:
            return
        self.error = error
        self.progress.bar_style = "danger"
        self.status.value = "error: " + str(error).replace("&", "&amp;").replace("<", "&lt;")
        self._done.set()

    def _view_node(self, node_id: str, patches, score: float, relative: float, level: int, order: float,
                   floored: bool) -> dict:
        params = self.params
        image = insertion_images(self.pixels[0], [patches], params["grid"], params["patches"])[0]
        if max(image.shape[-2:]) > 96:
            image = torch.nn.functional.interpolate(image[None], size=(96, 96), mode="area")[0]
        return {"id": node_id, "image": image.clamp(0, 1), "label": node_label(score, relative, floored),
                "level": int(level), "order": float(order), "colour": node_colour(relative),
                "detail": f"{' & '.join(f'P{p}' for p in sorted(patches))} · p = {score:.3f}"}

    # ---------------------------------------------------------------------------------------- patches
    def _on_node(self, node_id: str) -> None:
        if self.result is None:
            return
        node = next((n for n in self.result.nodes[0] if n["id"] == node_id), None)
        if node is not None:
            self.set_visible(node["patches"])

    def _patch_at(self, x: int, y: int) -> int:
        """The patch under pixel (x, y): the nearest cell centre for bilinear patches, the square for hard ones."""
        height, width = self.pixels.shape[-2:]
        grid = self.grid
        if self.params["patches"] == "hard":
            row, col = min(y * grid // height, grid - 1), min(x * grid // width, grid - 1)
        else:
            row, col = round(y * (grid - 1) / (height - 1)), round(x * (grid - 1) / (width - 1))
        return row * grid + col

    def _on_patch_click(self, x: int, y: int, value) -> None:
        patch = self._patch_at(int(x), int(y))
        visible = set(self.visible)
        visible.symmetric_difference_update({patch})
        self.set_visible(sorted(visible))

    def set_visible(self, patches) -> None:
        """Show exactly ``patches`` in the editor and score what is shown (one forward pass, off the kernel)."""
        cells = self.grid ** 2
        patches = sorted({int(p) for p in patches})
        if any(not 0 <= p < cells for p in patches):
            raise invalid("patches", patches, f"patch numbers in 0..{cells - 1}")
        self.visible = patches
        self._draw_visible()
        params, target, pixels = self.params, self.target, self.pixels

        def work(progress):
            with self.model.lock:
                baseline = self.model.normalize(make_baseline(pixels, params["baseline"],
                                                              blur_kernel=params["blur_kernel"],
                                                              blur_sigma=params["blur_sigma"], seed=self.seed))
                resolved = resolve_target(target, self.model, self.model.forward(self.inputs).detach())
                with self.model.frozen():
                    return score_patch_sets(self.model, self.inputs, baseline, resolved, [patches], [0],
                                            params["grid"], params["patches"])

        self._scorer.submit(work, on_done=lambda score: self._on_score(patches, float(score[0])))

    def wait_score(self, timeout: float | None = 30.0) -> float:
        """Block until the editor's score is computed; returns it."""
        job = self._scorer.job
        if job is not None:
            job.result(timeout)
        return self._visible_score

    def _on_score(self, patches: list[int], score: float) -> None:
        if patches != self.visible:
            return
        self._visible_score = score
        target = self.target_selector.value
        full, params = float(self._probabilities[target]), self.params
        predicted = torch.tensor([target == int(self._probabilities.argmax())])
        reference = float(reference_scores(torch.tensor([full]), predicted, params["floor"])[0])
        label = self._label(target)
        shown = f"{len(patches)} of {self.grid ** 2} patches shown · p({label}) = <b>{score:.3f}</b> · "
        if reference > full:
            self.score_text.value = shown + (f"the full image gives only p = {full:.2g} (below the floor "
                                             f"{params['floor']:g}): a root needs p ≥ "
                                             f"{params['threshold'] * reference:.3f}")
        else:
            self.score_text.value = shown + f"<b>{100 * score / reference:.0f}%</b> of the full image"

    def _draw_visible(self) -> None:
        params = self.params
        shown = insertion_images(self.pixels[0], [self.visible], params["grid"], params["patches"], 0.25)[0]
        self.image_view.set_data(image=shown, heatmap=_grid_lines(self.pixels.shape[-2:], params["grid"],
                                                                  params["patches"]))

    # ---------------------------------------------------------------------------------------- output
    def figure(self, path=None, **style):
        """The current graph for a paper (:func:`~xwidgets.sag.figure.graph_figure`), saved to ``path``
        (``.pdf``, ``.svg`` or ``.png``) when given."""
        if self.result is None:
            raise XWidgetsError("no SAG yet: wait for the search to finish (explorer.wait()) before figure()")
        label = self._label(self.target_selector.value)
        style.setdefault("title", f"{label} · {self.result.dnf(0) or 'no root found'}")
        return self.result.figure(0, path=path, **style)

    def close(self) -> None:
        """Cancel the runs, wait for their threads, and close every child widget."""
        for runner in (getattr(self, "runner", None), getattr(self, "_scorer", None)):
            if runner is not None:
                runner.close()
        for widget in (*getattr(self, "controls", {}).values(), *(getattr(self, n, None) for n in (
                "image_view", "graph_view", "score_text", "show_all", "hide_all", "progress", "status",
                "dnf_text", "target_selector", "search_button", "estimate_text")), *self.children):
            if widget is not None:
                widget.close()
        super().close()


def _grid_lines(size: tuple[int, int], grid: int, patches: str) -> torch.Tensor:
    """``[H, W]`` map, 1 on the borders between patches and 0 elsewhere (drawn over the editor's image)."""
    height, width = size
    lines = torch.zeros(height, width)
    for count, axis in ((height, 0), (width, 1)):
        if patches == "hard":
            borders = [round(i * count / grid) for i in range(1, grid)]
        else:                                   # halfway between the bilinear cells' centres
            borders = [round((i + 0.5) * (count - 1) / (grid - 1)) for i in range(grid - 1)]
        for b in borders:
            if axis == 0:
                lines[min(b, height - 1), :] = 1.0
            else:
                lines[:, min(b, width - 1)] = 1.0
    return lines
