"""MatchExplorer: why do these two images match?

The query and the reference side by side in :class:`~xwidgets.views.HeatmapView` panels, each with its saliency for
the match (the query explained against the reference and the reference against the query), and a button that swaps
them. Below them, the saliency method and controls generated from its declared parameters, the ranking's controls,
and the progress bar with its cancel button: every change re-runs ``sane`` on a worker thread (a change of the
ranking alone reuses the pair's saliency), and a newer change cancels the stale run. Below, the top-ranked
attributes, each as its map on the query (click one to show it on the query; "show saliency" goes back), then the
pool of images: click one to make it the reference.

Every panel, title and label is drawn from the explanation shown and the settings it was computed with; the job
control, the progress and the cancel (which puts the controls and the pair back) are the
:class:`~xwidgets.views.explorer.Explorer` base's.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any, cast

import ipywidgets as widgets
import torch

from ..core.deprecation import warn_deprecated
from ..core.errors import XWidgetsError, invalid
from ..core.images import to_batch
from ..core.methods import get_spec
from ..core.models import Embedder, check_model
from ..core.params import check_seed
from ..core.sources import ImageSequence, dataset_image, image_count, image_source
from ..figures import blend
from ..views import GalleryView, HeatmapView, control_for, thumbnail
from ..views.explorer import Explorer, close_widgets, phrase_line
from .attributes import AttributeModel
from .match import PAIR_SALIENCY, SANE_PARAMS, MatchExplanation, sane
from .saliency import OLD_METHOD_NAMES

__all__ = ["MatchExplorer"]

_TOP = 5
_THUMB = 72
_POOL = 16
#: SANE's parameters with a control of their own (the saliency method has its menu).
_RANKING = tuple(name for name in SANE_PARAMS if name not in ("saliency_method", "both"))


class MatchExplorer(Explorer):
    """Explain matches between images of a pool, live.

    Args:
        embedder: the similarity model, an :class:`~xwidgets.core.models.Embedder`.
        images: the pool, a ``[N, 3, H, W]`` tensor or a sequence of single images (at least two).
        attribute_model: the attribute model of this embedder (``xw.toy.attribute_model()`` for the toy embedder).
        query, reference: pool indices of the first pair.
        method: the saliency method, one of :data:`~xwidgets.similarity.PAIR_SALIENCY` (``"pair_rise"``, ...).
        params: overrides of the method's parameters and of :data:`~xwidgets.similarity.SANE_PARAMS`.
        seed: the saliency's seed.
        run: explain the first pair at once (False: call :meth:`run`).

    Attributes:
        explanation: the :class:`~xwidgets.similarity.MatchExplanation` shown (None until the first run ends);
        query, reference: the pool indices of the pair the controls hold (the shown pair is in
        ``shown.settings``); method: the saliency method the controls hold; attribute: the attribute shown on the
        query (None: its saliency).
    """

    work_name = "the match explanation"

    def __init__(
        self,
        embedder: Embedder,
        images: object,
        attribute_model: AttributeModel,
        *,
        query: int = 0,
        reference: int = 1,
        method: str = "pair_rise",
        params: dict | None = None,
        seed: int = 0,
        run: bool = True,
    ):
        method = _method_name(method)
        check_model(embedder, Embedder, name="embedder")
        if not isinstance(attribute_model, AttributeModel):
            raise invalid("attribute_model", type(attribute_model).__name__, "an AttributeModel")
        if params is not None and not isinstance(params, dict):
            raise invalid("params", params, "a dict of parameter values")
        check_seed(seed)
        self.images = image_source(images)
        self._count = image_count(self.images)
        if self._count < 2:
            raise invalid("images", f"{self._count} image", "at least two images (a query and a reference)")
        self._check_pair(query, reference)
        params = dict(params or {})
        values = SANE_PARAMS.resolve({k: v for k, v in params.items() if k in SANE_PARAMS})
        given = {k: v for k, v in params.items() if k not in SANE_PARAMS}
        self._method_values = {
            name: get_spec(name).params.resolve(given if name == method else {}) for name in PAIR_SALIENCY
        }
        self.embedder, self.attribute_model, self.seed, self._both = embedder, attribute_model, seed, values["both"]
        self._pixels = [self._prepare(i) for i in range(self._count)]
        self.query, self.reference, self.method = query, reference, method
        self.attribute: str | None = None
        super().__init__()
        self._build(values)
        self.add_class("xw-match-explorer")
        self.watch({"saliency_method": self.method_menu}, lambda: self._switch_method(self.method_menu.value))
        self.watch(self.ranking_controls)
        self.swap_button.on_click(lambda _: self.swap())
        self.saliency_button.on_click(lambda _: self.show_saliency())
        self.attributes_view.on_select(self._on_attribute)
        self.pool_view.on_select(self._on_pool)
        self._draw_pool()
        if run:
            self.run()

    def _build(self, values: Mapping[str, Any]) -> None:
        """Create the widgets and lay them out: the pair on top; below it the method's controls beside the
        ranking's and the progress; the summary; the ranked attributes; the pool."""
        self.query_view = HeatmapView(
            self._pixels[self.query],
            None,
            alpha=0.55,
            threshold=0.35,
            display_width=260,
            show_controls=False,
            title="query",
        )
        self.query_view.add_class("xw-match-query")
        self.reference_view = HeatmapView(
            self._pixels[self.reference],
            None,
            alpha=0.55,
            threshold=0.35,
            display_width=260,
            show_controls=False,
            title="reference",
        )
        self.reference_view.add_class("xw-match-reference")
        self.swap_button = widgets.Button(
            description="⇄ swap",
            tooltip="swap the query and the reference",
            layout=widgets.Layout(width="90px", margin="100px 6px 0 6px"),
        )
        self.swap_button.add_class("xw-match-swap")
        self.saliency_button = widgets.Button(description="show saliency", layout=widgets.Layout(width="120px"))
        self.saliency_button.add_class("xw-match-show-saliency")
        self.summary = widgets.HTML("")
        self.summary.add_class("xw-match-summary")
        self.method_menu = widgets.Dropdown(
            options=[(get_spec(m).title, m) for m in PAIR_SALIENCY], value=self.method, description="saliency"
        )
        self.method_menu.add_class("xw-match-method")
        self.ranking_controls = {name: control_for(SANE_PARAMS[name], values[name]) for name in _RANKING}
        self.method_controls: dict[str, widgets.Widget] = {}
        self.method_box = widgets.VBox([])
        self._show_method_controls()
        self.attributes_view = GalleryView(
            [],
            title="why they match · the top attributes, each as its map on the query · click one",
            thumbnail_size=_THUMB,
        )
        self.attributes_view.add_class("xw-match-attributes")
        self.pool_view = GalleryView(
            [], title="the pool · click an image to make it the reference", thumbnail_size=56, wrap=True
        )
        self.pool_view.add_class("xw-match-pool")
        for control in (self.method_menu, *self.ranking_controls.values()):
            control.layout.width = "330px"
        method_column = widgets.VBox([self.method_menu, self.method_box], layout=widgets.Layout(width="340px"))
        ranking_column = widgets.VBox(
            [*self.ranking_controls.values(), self.progress_box, self.saliency_button],
            layout=widgets.Layout(width="340px", margin="0 0 0 16px"),
        )
        pair = widgets.HBox([self.query_view, widgets.VBox([self.swap_button]), self.reference_view])
        self.children = [
            pair,
            self.summary,
            widgets.HBox([method_column, ranking_column]),
            self.attributes_view,
            self.pool_view,
        ]

    # ---------------------------------------------------------------------------------------- settings
    @property
    def explanation(self) -> MatchExplanation | None:
        """The explanation shown, or None before the first run ends."""
        return None if self.shown is None else self.shown.value

    @property
    def params(self) -> dict:
        """The kernel's parameters as the controls hold them: the saliency method and its parameters, and the
        ranking's."""
        return {
            "saliency_method": self.method,
            "both": self._both,
            **{name: c.value for name, c in self.method_controls.items()},
            **{name: c.value for name, c in self.ranking_controls.items()},
        }

    def _check_pair(self, query: object, reference: object) -> None:
        for name, value in (("query", query), ("reference", reference)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self._count:
                raise invalid(name, value, f"a pool index in 0..{self._count - 1}")

    def _prepare(self, index: int) -> torch.Tensor:
        source = (
            self.images[index : index + 1]
            if isinstance(self.images, torch.Tensor)
            else to_batch(dataset_image(cast(ImageSequence, self.images)[index]), name=f"images[{index}]")
        )
        return self.embedder.prepare(source, name=f"images[{index}]")[0].cpu()

    def _show_method_controls(self) -> None:
        """Build the controls of ``self.method``'s parameters from its remembered values (closing the old ones)."""
        old = self.method_controls
        self.unwatch(list(old))
        params, values = get_spec(self.method).params, self._method_values[self.method]
        self.method_controls = {name: control_for(params[name], values[name]) for name in params}
        for control in self.method_controls.values():
            control.layout.width = "330px"
        self.method_box.children = list(self.method_controls.values())
        close_widgets(old)  # with their layouts and styles
        self.watch(self.method_controls)

    def _use_method(self, method: str) -> None:
        """Remember the current method's control values and show ``method``'s controls."""
        self._method_values[self.method] = {name: c.value for name, c in self.method_controls.items()}
        self.method = method
        with self.quietly():
            self.method_menu.value = method
            self._show_method_controls()

    def _switch_method(self, method: str) -> None:
        self._use_method(method)
        self.run()

    def set_controls(self, values: Mapping[str, Any]) -> None:
        """Set the controls, the saliency method and the pair to ``values`` without starting a run (a cancel puts
        back the shown explanation's settings this way)."""
        if values.get("saliency_method", self.method) != self.method:
            self._use_method(values["saliency_method"])
        self.query, self.reference = values.get("query", self.query), values.get("reference", self.reference)
        super().set_controls(values)
        self._draw_pool()

    # ------------------------------------------------------------------------------------------ running
    def run(self) -> None:
        """Explain the current pair with the current controls; cancels a running explanation."""
        settings = {"query": self.query, "reference": self.reference, **self.params}
        params = {k: v for k, v in settings.items() if k not in ("query", "reference")}
        query, reference = self._pixels[self.query][None], self._pixels[self.reference][None]
        embedder, attribute_model, seed, cache = self.embedder, self.attribute_model, self.seed, self.steps

        def work(progress):
            return sane(
                embedder,
                query,
                reference=reference,
                attribute_model=attribute_model,
                seed=seed,
                progress=progress,
                cache=cache,
                **params,
            )

        self.start(work, settings, message=f"explaining #{self.query} against #{self.reference}…")

    # ------------------------------------------------------------------------------------------ drawing
    def render(self) -> None:
        """Draw the pair, the summary and the ranked attributes from the explanation shown and its settings."""
        if self.shown is None:
            return
        explanation, settings = self.shown.value, self.shown.settings
        self.draw_pair(explanation, settings)
        self.draw_attributes(explanation, settings)

    def draw_pair(self, explanation: MatchExplanation, settings: Mapping[str, Any]) -> None:
        """The query (its saliency, or the chosen attribute's map), the reference and the summary line."""
        query, reference = settings["query"], settings["reference"]
        if self.attribute is None:
            self.query_view.set_data(image=explanation.queries[0], heatmap=explanation.saliency[0, 0])
            self.query_view.title = f"query #{query} · its saliency for the match"
        else:
            phrase = explanation.phrases[explanation.attribute_index(self.attribute)]
            self.query_view.set_data(image=explanation.queries[0], heatmap=explanation.attribute_map(self.attribute))
            self.query_view.title = f"query #{query} · attribute “{phrase}”"
        reverse = explanation.reference_saliency
        self.reference_view.set_data(
            image=explanation.references[0], heatmap=None if reverse is None else reverse[0, 0]
        )
        self.reference_view.title = (
            f"reference #{reference}" if reverse is None else f"reference #{reference} · its saliency for the match"
        )
        top = explanation.ranking(0, 1)[0]
        title = get_spec(settings["saliency_method"]).title
        self.summary.value = phrase_line(
            f"#{query} against #{reference}",
            f"cosine similarity <b>{float(explanation.similarity[0]):.2f}</b>",
            f"top attribute: <b>{html.escape(top['phrase'])}</b>",
            f"{html.escape(title)} saliency in {sum(explanation.timings.values()):.1f} s",
            escape=False,
        )

    def draw_attributes(self, explanation: MatchExplanation, settings: Mapping[str, Any]) -> None:
        """The top-ranked attributes, each as its map on the query, with how its score is made."""
        image = explanation.queries[0].permute(1, 2, 0).numpy()
        items = []
        for rank, row in enumerate(explanation.ranking(0, _TOP), start=1):
            heat = explanation.attribute_map(row["attribute"], 0).numpy()
            items.append(
                {
                    "id": f"attribute{explanation.attribute_index(row['attribute'])}",
                    "image": thumbnail(blend(image, heat, alpha=0.55, threshold=0.35), _THUMB),
                    "caption": f"{rank}. {row['phrase']}",
                    "detail": _score_detail(row, settings["rule"]),
                }
            )
        chosen = None if self.attribute is None else f"attribute{explanation.attribute_index(self.attribute)}"
        shown = chosen in [item["id"] for item in items]
        self.attributes_view.set_groups(
            [
                {
                    "id": "attributes",
                    "title": "ranked attributes",
                    "detail": f"{get_spec(settings['saliency_method']).title} saliency",
                    "items": items,
                }
            ],
            selected_group=None if shown else "attributes",
            selected_item=chosen if shown else None,
        )

    def _draw_pool(self) -> None:
        shown = range(min(_POOL, self._count))
        self.pool_view.set_groups(
            [
                {
                    "id": "pool",
                    "items": [
                        {
                            "id": f"image{i}",
                            "image": thumbnail(self._pixels[i], 56),
                            "caption": f"#{i}" + (" · query" if i == self.query else ""),
                        }
                        for i in shown
                    ],
                }
            ],
            selected_item=f"image{self.reference}" if self.reference in shown else None,
        )

    # ------------------------------------------------------------------------------------------ actions
    def set_pair(self, query: int | None = None, reference: int | None = None) -> None:
        """Explain another pair of pool images (either index may stay)."""
        query = self.query if query is None else query
        reference = self.reference if reference is None else reference
        self._check_pair(query, reference)
        self.query, self.reference, self.attribute = query, reference, None
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
        self.render()

    def show_saliency(self) -> None:
        """Show the query's saliency again."""
        self.attribute = None
        self.render()

    def _on_attribute(self, group: str, item: str) -> None:
        if item.startswith("attribute") and self.explanation is not None:
            index = int(item.removeprefix("attribute"))
            if self.explanation.attributes[index] != self.attribute:
                self.show_attribute(index)

    def _on_pool(self, group: str, item: str) -> None:
        if item.startswith("image"):
            index = int(item.removeprefix("image"))
            if index != self.reference:
                self.set_pair(reference=index)

    # ------------------------------------------------------------------------------------------ output
    def draw_figure(self, **style: Any):
        """The shown pair, both saliency maps and the top attributes' maps
        (:func:`~xwidgets.similarity.figure.match_figure`), in the query view's blend (``style`` overrides it)."""
        return self.current.value.figure(0, **{**self.query_view.blending, **style})


def _method_name(method: object) -> str:
    """The saliency method's registry name; a name from before the registry (``"rise"``) is accepted for one
    release, with a DeprecationWarning."""
    if isinstance(method, str) and method in OLD_METHOD_NAMES:
        warn_deprecated(f"MatchExplorer(method={method!r}) is deprecated: use method={OLD_METHOD_NAMES[method]!r}")
        return OLD_METHOD_NAMES[method]
    if method not in PAIR_SALIENCY:
        raise invalid("method", repr(method), "one of " + ", ".join(map(repr, PAIR_SALIENCY)))
    return method


def _score_detail(row: dict, rule: str) -> str:
    """How a ranked attribute's score is made, in words (see :mod:`~xwidgets.similarity.match`)."""
    if rule == "sane":
        return (
            f"score {row['score']:.2f} = confidence {row['confidence']:.2f} + weight × agreement {row['agreement']:.2f}"
        )
    return (
        f"score {row['score']:.2f} = confidence on both {row['confidence']:.2f} × exp(weight × "
        f"agreement {row['agreement']:.2f})"
    )
