"""MatchExplorer: why do these two images match?

The query and the reference side by side in :class:`~xwidgets.views.HeatmapView` panels, each with its saliency for
the match (the query explained against the reference and the reference against the query), and a button that swaps
them. Below them, the saliency method and controls generated from its declared parameters, the ranking's controls,
and a progress bar with a cancel button: every change re-runs the explanation on a worker thread, and a newer
change cancels the stale run. Below, the top-ranked attributes, each as its map on the query (click one to show it
on the query; "show saliency" goes back), then the pool of images: click one to make it the reference.
"""

from __future__ import annotations

import html
import threading

import ipywidgets as widgets
import torch

from ..concepts.features import dataset_image, image_count, image_source
from ..core.errors import XWidgetsError, invalid
from ..core.images import to_batch
from ..core.models import Embedder, check_model
from ..core.runner import Runner
from ..figures import blend
from ..views import GalleryView, HeatmapView, control_for, thumbnail
from .attributes import AttributeModel
from .figure import METHOD_NAMES
from .match import MATCH_PARAMS, MatchExplanation, explain_match
from .saliency import PAIR_PARAMS, SALIENCY_METHODS

__all__ = ["MatchExplorer"]

_TOP = 5
_THUMB = 72
_POOL = 16


class MatchExplorer(widgets.VBox):
    """Explain matches between images of a pool, live.

    Args:
        embedder: the similarity model, an :class:`~xwidgets.core.models.Embedder`.
        images: the pool, a ``[N, 3, H, W]`` tensor or a sequence of single images (at least two).
        attribute_model: the attribute model of this embedder (:func:`~xwidgets.similarity.toy_attribute_model`
            for the toy embedder).
        query, reference: pool indices of the first pair.
        method: the saliency method, one of :data:`~xwidgets.similarity.SALIENCY_METHODS`.
        params: overrides of the method's parameters and of :data:`~xwidgets.similarity.MATCH_PARAMS`.
        seed: the saliency's seed.
        run: explain the first pair at once (False: call :meth:`run`).

    Attributes:
        explanation: the current :class:`~xwidgets.similarity.MatchExplanation` (None until the first run ends);
        query, reference: the current pool indices; method: the current saliency method; attribute: the attribute
        shown on the query (None: its saliency); runs_finished: explanations installed so far.
    """

    def __init__(self, embedder: Embedder, images: object, attribute_model: AttributeModel, *, query: int = 0,
                 reference: int = 1, method: str = "rise", params: dict | None = None, seed: int = 0,
                 run: bool = True):
        check_model(embedder, Embedder, name="embedder")
        if not isinstance(attribute_model, AttributeModel):
            raise invalid("attribute_model", type(attribute_model).__name__, "an AttributeModel")
        if method not in SALIENCY_METHODS:
            raise invalid("method", repr(method), "one of " + ", ".join(SALIENCY_METHODS))
        if params is not None and not isinstance(params, dict):
            raise invalid("params", params, "a dict of parameter values")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise invalid("seed", seed, "an int")
        self.images = image_source(images)
        self._count = image_count(self.images)
        if self._count < 2:
            raise invalid("images", f"{self._count} image", "at least two images (a query and a reference)")
        for name, value in (("query", query), ("reference", reference)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self._count:
                raise invalid(name, value, f"a pool index in 0..{self._count - 1}")
        params = dict(params or {})
        match_values = MATCH_PARAMS.resolve({k: v for k, v in params.items() if k in MATCH_PARAMS})
        method_params = {k: v for k, v in params.items() if k not in MATCH_PARAMS}
        self._method_values = {name: PAIR_PARAMS[name].resolve(method_params if name == method else {})
                               for name in SALIENCY_METHODS}
        self.embedder, self.attribute_model, self.seed = embedder, attribute_model, seed
        self._pixels_cache = [self._prepare(i) for i in range(self._count)]
        self.query, self.reference, self.method = query, reference, method
        self.attribute: str | None = None
        self.explanation: MatchExplanation | None = None
        self.error: BaseException | None = None
        self.runner = Runner()
        self._token = 0
        self.runs_finished = 0
        self._done = threading.Event()
        self._done.set()

        self.query_view = HeatmapView(self._pixels_cache[query], None, alpha=0.55, threshold=0.35, display_width=260,
                                      show_controls=False, title="query")
        self.query_view.add_class("xw-match-query")
        self.reference_view = HeatmapView(self._pixels_cache[reference], None, alpha=0.55, threshold=0.35,
                                          display_width=260, show_controls=False, title="reference")
        self.reference_view.add_class("xw-match-reference")
        self.swap_button = widgets.Button(description="⇄ swap", tooltip="swap the query and the reference",
                                          layout=widgets.Layout(width="90px", margin="100px 6px 0 6px"))
        self.swap_button.add_class("xw-match-swap")
        self.saliency_button = widgets.Button(description="show saliency", layout=widgets.Layout(width="120px",
                                                                                               margin="0 0 0 8px"))
        self.saliency_button.add_class("xw-match-show-saliency")
        self.summary = widgets.HTML("")
        self.summary.add_class("xw-match-summary")
        self.method_menu = widgets.Dropdown(options=[(METHOD_NAMES[m], m) for m in SALIENCY_METHODS], value=method,
                                            description="saliency")
        self.method_menu.add_class("xw-match-method")
        self.match_controls = {name: control_for(MATCH_PARAMS[name], match_values[name]) for name in MATCH_PARAMS}
        self.method_controls: dict[str, widgets.Widget] = {}
        self.method_box = widgets.VBox([])
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="300px"))
        self.status = widgets.HTML("")
        self.status.add_class("xw-run-status")
        self.cancel_button = widgets.Button(description="cancel", disabled=True, layout=widgets.Layout(width="90px"))
        self.cancel_button.add_class("xw-match-cancel")
        self.attributes_view = GalleryView([], title="why they match: top attributes, each as its map on the query "
                                                     "(click one)", thumbnail_size=_THUMB)
        self.attributes_view.add_class("xw-match-attributes")
        self.pool_view = GalleryView([], title="the pool: click an image to make it the reference",
                                     thumbnail_size=56, wrap=True)
        self.pool_view.add_class("xw-match-pool")
        self._draw_method_controls()
        for control in (self.method_menu, *self.match_controls.values()):
            control.layout.width = "330px"

        # The pair on top; below it the method's controls beside the ranking's, the progress and the summary.
        method_column = widgets.VBox([self.method_menu, self.method_box], layout=widgets.Layout(width="340px"))
        ranking_column = widgets.VBox([*self.match_controls.values(), self.progress, self.status,
                                       widgets.HBox([self.cancel_button, self.saliency_button])],
                                      layout=widgets.Layout(width="340px", margin="0 0 0 16px"))
        pair = widgets.HBox([self.query_view, widgets.VBox([self.swap_button]), self.reference_view])
        super().__init__([pair, self.summary, widgets.HBox([method_column, ranking_column]), self.attributes_view,
                          self.pool_view])
        self.add_class("xw-match-explorer")
        self._draw_pool()

        self.swap_button.on_click(lambda _: self.swap())
        self.saliency_button.on_click(lambda _: self.show_saliency())
        self.method_menu.observe(self._on_method, names="value")
        for control in self.match_controls.values():
            control.observe(lambda change: self.run(), names="value")
        self.attributes_view.on_select(self._on_attribute)
        self.pool_view.on_select(self._on_pool)
        self.cancel_button.on_click(lambda _: self.cancel())
        if run:
            self.run()

    # ---------------------------------------------------------------------------------------- settings
    @property
    def params(self) -> dict:
        """The current method's parameters and the ranking's, as the controls hold them."""
        return {**{name: c.value for name, c in self.method_controls.items()},
                **{name: c.value for name, c in self.match_controls.items()}}

    def _prepare(self, index: int) -> torch.Tensor:
        source = self.images[index:index + 1] if isinstance(self.images, torch.Tensor) else to_batch(
            dataset_image(self.images[index]), name=f"images[{index}]")
        return self.embedder.prepare(source, name=f"images[{index}]")[0].cpu()

    def _draw_method_controls(self) -> None:
        for control in self.method_controls.values():
            control.close()
        values = self._method_values[self.method]
        self.method_controls = {name: control_for(PAIR_PARAMS[self.method][name], values[name])
                                for name in PAIR_PARAMS[self.method]}
        for control in self.method_controls.values():
            control.layout.width = "330px"
            control.observe(lambda change: self._on_method_param(), names="value")
        self.method_box.children = list(self.method_controls.values())

    def _draw_pool(self) -> None:
        shown = list(range(min(_POOL, self._count)))
        self._shown = shown
        self.pool_view.set_groups([{"id": "pool", "items": [
            {"id": f"image{i}", "image": thumbnail(self._pixels_cache[i], 56),
             "caption": f"#{i}" + (" · query" if i == self.query else "")} for i in shown]}],
            selected_item=f"image{self.reference}" if self.reference in shown else None)

    # ------------------------------------------------------------------------------------------ running
    def run(self) -> None:
        """Explain the current pair with the current controls; cancels a running explanation."""
        self._token += 1
        token = self._token
        self._done.clear()
        self.error = None
        self.progress.value, self.progress.bar_style = 0.0, ""
        self.status.value = f"explaining #{self.query} against #{self.reference}…"
        self.cancel_button.disabled = False
        query, reference = self._pixels_cache[self.query][None], self._pixels_cache[self.reference][None]
        method, params, seed = self.method, self.params, self.seed

        def work(progress):
            return explain_match(self.embedder, query, reference, self.attribute_model, method=method,
                                 seed=seed, progress=progress, **params)

        self.runner.submit(work, on_progress=lambda f, m: self._on_progress(token, f, m),
                           on_done=lambda explanation: self._on_done(token, explanation),
                           on_error=lambda error: self._on_error(token, error))

    def cancel(self) -> None:
        """Cancel the running explanation; the last one stays shown."""
        self._token += 1
        self.runner.cancel()
        self.cancel_button.disabled = True
        self.progress.bar_style = "warning"
        self.status.value = "cancelled" + ("; showing the previous explanation" if self.explanation else "")
        self._done.set()

    def wait(self, timeout: float | None = None) -> MatchExplorer:
        """Block until the current explanation has ended (for scripts and headless notebooks); by default as long
        as it takes, else at most ``timeout`` seconds."""
        if not self._done.wait(timeout):
            raise XWidgetsError(f"the match explanation did not finish within timeout={timeout} s")
        if self.error is not None:
            raise self.error
        return self

    def _on_progress(self, token: int, fraction: float, message: str) -> None:
        if token == self._token:
            self.progress.value = fraction
            self.status.value = html.escape(message)

    def _on_error(self, token: int, error: BaseException) -> None:
        if token != self._token:
            return
        self.error = error
        self.progress.bar_style = "danger"
        self.status.value = "error: " + html.escape(str(error))
        self.cancel_button.disabled = True
        self._done.set()

    def _on_done(self, token: int, explanation: MatchExplanation) -> None:
        if token != self._token:
            return
        try:
            self._install(explanation)
        except Exception as error:  # shown, and re-raised by wait()
            self._on_error(token, error)
            return
        self.progress.value, self.progress.bar_style = 1.0, "success"
        self.status.value = (f"{METHOD_NAMES[explanation.saliency_method]} in "
                             f"{sum(explanation.timings.values()):.1f} s")
        self.cancel_button.disabled = True
        self.runs_finished += 1
        self._done.set()

    # ------------------------------------------------------------------------------------------ drawing
    def _install(self, explanation: MatchExplanation) -> None:
        self.explanation = explanation
        self.attribute = None
        self.reference_view.set_data(image=explanation.references[0], heatmap=explanation.reference_saliency[0, 0])
        self.reference_view.title = f"reference #{self.reference}: its saliency for the match"
        self._draw_query()
        similarity = float(explanation.similarity[0])
        top = explanation.ranking(0, 1)[0]
        self.summary.value = (f"cosine similarity <b>{similarity:.2f}</b> · top attribute: "
                              f"<b>{html.escape(top['phrase'])}</b>")
        query = explanation.queries[0].permute(1, 2, 0).numpy()
        items = []
        for rank, row in enumerate(explanation.ranking(0, _TOP), start=1):
            heat = explanation.attribute_map(row["attribute"], 0).numpy()
            items.append({"id": f"attribute{explanation.attribute_index(row['attribute'])}",
                          "image": thumbnail(blend(query, heat, alpha=0.55, threshold=0.35), _THUMB),
                          "caption": f"{rank}. {row['phrase']}",
                          "detail": _score_detail(row, explanation.params["rule"])})
        self.attributes_view.set_groups([{"id": "attributes", "title": "ranked attributes",
                                          "detail": f"{METHOD_NAMES[explanation.saliency_method]} saliency",
                                          "items": items}], selected_group="attributes")   # no attribute shown yet

    def _draw_query(self) -> None:
        explanation = self.explanation
        if self.attribute is None:
            self.query_view.set_data(image=explanation.queries[0], heatmap=explanation.saliency[0, 0])
            self.query_view.title = f"query #{self.query}: its saliency for the match"
        else:
            phrase = explanation.phrases[explanation.attribute_index(self.attribute)]
            self.query_view.set_data(image=explanation.queries[0],
                                     heatmap=explanation.attribute_map(self.attribute, 0))
            self.query_view.title = f"query #{self.query}: attribute “{phrase}”"

    # ------------------------------------------------------------------------------------------ actions
    def set_pair(self, query: int | None = None, reference: int | None = None) -> None:
        """Explain another pair of pool images (either index may stay)."""
        query = self.query if query is None else query
        reference = self.reference if reference is None else reference
        for name, value in (("query", query), ("reference", reference)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self._count:
                raise invalid(name, value, f"a pool index in 0..{self._count - 1}")
        self.query, self.reference = query, reference
        self.query_view.set_data(image=self._pixels_cache[query], heatmap=None)
        self.reference_view.set_data(image=self._pixels_cache[reference], heatmap=None)
        self._draw_pool()
        self.run()

    def swap(self) -> None:
        """Swap the query and the reference, and explain again."""
        self.set_pair(self.reference, self.query)

    def show_attribute(self, attribute: int | str) -> None:
        """Show ``attribute``'s map (an index, id or phrase) on the query."""
        if self.explanation is None:
            raise XWidgetsError("no explanation yet: wait for the run (explorer.wait())")
        self.attribute = self.explanation.attributes[self.explanation.attribute_index(attribute)]
        self._draw_query()

    def show_saliency(self) -> None:
        """Show the query's saliency again."""
        self.attribute = None
        if self.explanation is not None:
            self._draw_query()

    def _on_method(self, change) -> None:
        self._method_values[self.method] = {name: c.value for name, c in self.method_controls.items()}
        self.method = change["new"]
        self._draw_method_controls()
        self.run()

    def _on_method_param(self) -> None:
        self._method_values[self.method] = {name: c.value for name, c in self.method_controls.items()}
        self.run()

    def _on_attribute(self, group: str, item: str) -> None:
        if item and item.startswith("attribute") and self.explanation is not None:
            self.show_attribute(int(item.removeprefix("attribute")))

    def _on_pool(self, group: str, item: str) -> None:
        if item and item.startswith("image"):
            index = int(item.removeprefix("image"))
            if index != self.reference:
                self.set_pair(reference=index)

    # ------------------------------------------------------------------------------------------ output
    def figure(self, path=None, **style):
        """The pair, both saliency maps and the top attributes' maps
        (:func:`~xwidgets.similarity.figure.match_figure`), saved to ``path`` when given."""
        if self.explanation is None:
            raise XWidgetsError("no explanation yet: wait for the run (explorer.wait()) before figure()")
        return self.explanation.figure(0, path=path, **style)

    def close(self) -> None:
        """Cancel the run, wait for its thread, and close every child widget."""
        runner = getattr(self, "runner", None)
        if runner is not None:
            runner.close()
        for widget in (*getattr(self, "method_controls", {}).values(), *getattr(self, "match_controls", {}).values(),
                       *(getattr(self, n, None) for n in (
                           "query_view", "reference_view", "swap_button", "saliency_button", "summary", "method_menu",
                           "method_box", "progress", "status", "cancel_button", "attributes_view", "pool_view")),
                       *self.children):
            if widget is not None:
                widget.close()
        super().close()


def _score_detail(row: dict, rule: str) -> str:
    """How a ranked attribute's score is made, in words (see :mod:`~xwidgets.similarity.match`)."""
    if rule == "sane":
        return (f"score {row['score']:.2f} = confidence {row['confidence']:.2f} + weight × "
                f"agreement {row['agreement']:.2f}")
    return (f"score {row['score']:.2f} = confidence on both {row['confidence']:.2f} × exp(weight × "
            f"agreement {row['agreement']:.2f})")
