"""ConceptExplorer: a class's XNN explanation space, live.

Top left, the current image in a :class:`~xwidgets.views.HeatmapView` with the selected concept's map over it
and the map's locality (the share of its mass in its top 10 % of cells).
Beside it, a bqplot bar chart of the concepts' contributions to the class logit, with the network's logit, the
faithful prediction ŷ and their gap; click a bar to select that concept. Right, the controls: k and the loss
weights. Changing one retrains from the cached features (the dataset pass, step ``"features"``, is never
repeated) under the :class:`~xwidgets.views.explorer.Explorer` base's progress bar, with a button that cancels; a
newer value cancels the stale run, and a cancel puts the controls back to the fit shown. Below, the concept cards
in a :class:`~xwidgets.views.GalleryView`: each concept's most activating images with its map, and a click selects
the concept. At the bottom, a gallery of images to explain.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any, cast

import bqplot as bq
import ipywidgets as widgets
import torch

from ..core.errors import XWidgetsError, invalid
from ..core.images import to_batch
from ..core.models import Classifier, check_model
from ..core.params import check_seed
from ..core.sources import ImageSequence, dataset_image, image_count
from ..core.targets import class_index
from ..figures import blend
from ..views import GalleryView, HeatmapView, control_for, thumbnail
from ..views.explorer import Explorer, Shown, phrase_line
from ..views.ticks import nice_ticks, tick_format
from .figure import MAP_THRESHOLD, concept_colour
from .space import CONCEPT_PARAMS, ConceptExplanation, ConceptSpace, features_key, fit

__all__ = ["ConceptExplorer", "CONTROLS"]

#: The parameters the explorer offers as controls (the others keep their values from ``params``).
CONTROLS = ("k", "alpha_pred", "alpha_rec", "alpha_pt")
_CARD_SIDE = 80
_GALLERY_SIZE = 12
#: The chart's tick labels: at least 11 px to read at a glance.
_CHART_FONT = "12px"
#: The most ticks the contribution axis shows (round values: :func:`~xwidgets.views.ticks.nice_ticks`).
_TICKS = 5
#: The share of the bars' span left free above the tallest bar and below the deepest one, so no bar touches the
#: axis ends.
_MARGIN = 0.12


class ConceptExplorer(Explorer):
    """Fit and explore the concepts of one class.

    Args:
        model: a wrapped :class:`~xwidgets.core.models.Classifier`.
        images: the images to fit on, a ``[N, 3, H, W]`` tensor or a sequence of single images, of the target
            class and others (the concept cards show the most activating of them).
        target: the class, as an index or a label (None: the class the model predicts most often on ``images``,
            as for :func:`~xwidgets.concepts.fit`).
        layer: the convolutional layer to read (default the stage before the global pool).
        gallery: the images offered for explanation (default the 12 of ``images`` with the highest target logit).
        params: overrides of :data:`~xwidgets.concepts.CONCEPT_PARAMS`.
        space: an already fitted :class:`~xwidgets.concepts.ConceptSpace` of these images (skips the first fit).
        seed: the fit's seed.
        run: start fitting at once (False: call :meth:`run`).

    Attributes:
        space: the fitted space shown (``shown.value``; None until the first fit ends); ``explanation`` the current
        image's :class:`~xwidgets.concepts.ConceptExplanation`; ``concept`` the selected concept and
        ``image_index`` the gallery image shown (0-based).
    """

    work_name = "the concept space"

    def __init__(
        self,
        model: Classifier,
        images: object,
        *,
        target: int | str | None = None,
        layer: str | None = None,
        gallery: object = None,
        params: dict | None = None,
        space: ConceptSpace | None = None,
        seed: int = 0,
        run: bool = True,
    ):
        check_model(model, Classifier)
        if params is not None and not isinstance(params, dict):
            raise invalid("params", params, "a dict of concept-space parameter values")
        if space is not None and (not isinstance(space, ConceptSpace) or space.features is None or space.model is None):
            raise invalid(
                "space",
                type(space).__name__
                if not isinstance(space, ConceptSpace)
                else "a space without its features or model (a loaded one)",
                "a ConceptSpace returned by xw.concepts.fit on these images",
            )
        values = CONCEPT_PARAMS.resolve({**(space.params if space is not None else {}), **(params or {})})
        check_seed(seed)
        if target is not None:
            class_index(target, model.labels, len(model.labels) if model.labels else None)
        count = image_count(images)
        super().__init__()
        self.model, self.images, self.target, self.seed = model, images, target, seed
        self.layer = layer or (space.layer if space is not None else None)
        self._fixed = values
        self._gallery_source = gallery
        self._gallery: list[torch.Tensor] = []
        self.image_index = 0
        self.concept = 0
        self.explanation: ConceptExplanation | None = None
        self._build(values, count)
        self.watch(self.controls)
        if space is not None:
            self.steps.get("features", features_key(model, images, space.layer), lambda: space.features)
            self.shown = Shown(space, self.params)
            self.render()
        elif run:
            self.run()

    def _build(self, values: dict, count: int) -> None:
        self.image_view = HeatmapView(
            torch.zeros(3, 8, 8),
            None,
            alpha=0.6,
            threshold=MAP_THRESHOLD,
            display_width=260,
            show_controls=False,
            title="",
        )
        self.image_view.add_class("xw-concept-image")
        self._x, self._y = bq.OrdinalScale(), bq.LinearScale()
        self.bars = bq.Bars(
            x=[],
            y=[],
            scales={"x": self._x, "y": self._y},
            colors=["#0072B2"],
            interactions={"click": "select"},
            selected_style={"stroke": "#24292f", "stroke-width": "2.5"},
            unselected_style={"opacity": "0.55"},
            padding=0.25,
        )
        tick_style = {"font-size": _CHART_FONT}
        self._value_axis = bq.Axis(
            scale=self._y,
            orientation="vertical",
            label="contribution z × w",
            tick_format=".1f",
            tick_style=tick_style,
        )
        self.chart = bq.Figure(
            marks=[self.bars],
            axes=[bq.Axis(scale=self._x, label="concept", tick_style=tick_style), self._value_axis],
            fig_margin={"top": 12, "bottom": 44, "left": 56, "right": 10},
            layout=widgets.Layout(width="320px", height="250px"),
        )
        self.chart.add_class("xw-concept-bars")
        self.summary = widgets.HTML("")
        self.summary.add_class("xw-concept-summary")
        self.controls = {name: control_for(CONCEPT_PARAMS[name], values[name]) for name in CONTROLS}
        self.controls["k"].max = max(1, min(12, int(count * (1 - values["holdout"])) // 10))
        for control in self.controls.values():
            control.layout.width = "300px"
        self.cancel_button.description = "cancel training"
        self.cancel_button.layout.min_width = "150px"  # the whole label, beside a shorter bar in the 330 px column
        self.progress.layout.width = "160px"
        self.cancel_button.add_class("xw-concept-cancel")
        self.metrics_text = widgets.HTML("")
        self.metrics_text.add_class("xw-concept-metrics")
        self.cards = GalleryView(
            [], title="concept cards: most activating images (click to select)", thumbnail_size=_CARD_SIDE
        )
        self.cards.add_class("xw-concept-cards")
        self.picker = GalleryView([], title="images to explain (click one)", thumbnail_size=64, wrap=True)
        self.picker.add_class("xw-concept-picker")
        middle = widgets.VBox([self.chart, self.summary], layout=widgets.Layout(width="330px"))
        training = widgets.VBox(
            [self.progress_box, self.metrics_text], layout=widgets.Layout(width="330px", margin="0 0 0 12px")
        )
        self.children = [
            widgets.HBox([self.image_view, middle]),
            widgets.HBox([widgets.VBox(list(self.controls.values())), training]),
            self.cards,
            self.picker,
        ]
        self.add_class("xw-concept-explorer")
        self.bars.observe(self._on_bar, names="selected")
        self.cards.on_select(self._on_card)
        self.picker.on_select(self._on_pick)

    # ---------------------------------------------------------------------------------------- settings
    @property
    def params(self) -> dict:
        """Every concept-space parameter: the controls' current values over those given at construction."""
        return {**self._fixed, **{name: control.value for name, control in self.controls.items()}}

    @property
    def space(self) -> ConceptSpace | None:
        """The fitted space shown (None until the first fit ends)."""
        return None if self.shown is None else self.shown.value

    # ---------------------------------------------------------------------------------------- training
    def run(self) -> None:
        """Fit with the current controls (the dataset pass is cached: a refit only trains); cancels a running
        fit."""
        settings = self.params
        target = self.space.target if self.space is not None else self.target

        def work(progress):
            return fit(
                self.model,
                self.images,
                target,
                layer=self.layer,
                seed=self.seed,
                cache=self.steps,
                progress=progress,
                **settings,
            )

        self.start(work, settings, message="fitting…")

    # ------------------------------------------------------------------------------------------ drawing
    def render(self) -> None:
        """Draw the space shown: its metrics, the cards, the gallery and the current image with the selected
        concept."""
        space: ConceptSpace = self.current.value
        if not self._gallery:
            self._gallery = self._pick_gallery(space)
            self.picker.set_groups(
                [
                    {
                        "id": "gallery",
                        "items": [
                            {"id": f"image{i}", "image": thumbnail(image, 64), "caption": f"#{i + 1}"}
                            for i, image in enumerate(self._gallery)
                        ],
                    }
                ],
                selected_item="image0",
            )
        self.concept = min(self.concept, space.k - 1)
        metrics = space.metrics.get("holdout") or space.metrics["train"]
        split = "held-out" if space.metrics.get("holdout") else "training"
        attempts = len(space.attempts)
        self.metrics_text.value = (
            phrase_line(
                f"<b>{html.escape(space.target_name)}</b>",
                f"k = {space.k}",
                f"R² {metrics['r2']:.2f} on {split} images",
                f"decisions kept {100 * metrics['decision_agreement']:.0f}%",
                f"sparsity {metrics['sparsity']:.2f}",
                f"orthogonality {metrics['orthogonality']:.2f}",
                escape=False,
            )
            + "<br>"
            + phrase_line(
                f"fitted in {sum(space.timings.values()):.1f} s",
                f"{attempts} attempt{'' if attempts == 1 else 's'}",
                "accepted" if space.accepted else "not accepted (the best attempt is kept)",
            )
        )
        self._draw_cards(space)
        self._show(space, self.image_index)

    def _pick_gallery(self, space: ConceptSpace) -> list[torch.Tensor]:
        indices: Sequence[int]
        if self._gallery_source is not None:
            count = image_count(self._gallery_source, "gallery")
            source, indices = self._gallery_source, range(count)
        else:
            assert space.features is not None  # fit attaches them; __init__ refuses a space without them
            scores = space.features.logits[:, space.target]
            source, indices = self.images, scores.topk(min(_GALLERY_SIZE, len(scores))).indices.tolist()
        return [self._image(source, i, "gallery") for i in indices]

    def _image(self, source: object, index: int, name: str = "images") -> torch.Tensor:
        where = f"{name}[{index}]"
        item = dataset_image(cast(ImageSequence, source)[index])
        return self.model.prepare(to_batch(item, name=where), name=where)[0].cpu()

    def _draw_cards(self, space: ConceptSpace) -> None:
        indices = sorted({int(i) for i in space.top_images.flatten()})
        explained = space.explain([self._image(self.images, i) for i in indices], progress=False)
        row = {index: n for n, index in enumerate(indices)}
        groups = []
        for concept in range(space.k):
            items = []
            for rank, (index, activation) in enumerate(
                zip(space.top_images[concept].tolist(), space.top_activations[concept].tolist())
            ):
                if activation <= 0:
                    continue
                n = row[index]
                picture = blend(
                    explained.images[n].permute(1, 2, 0).numpy(),
                    explained.maps[n, concept].numpy(),
                    alpha=0.6,
                    threshold=MAP_THRESHOLD,
                )
                items.append(
                    {
                        "id": f"c{concept}-{rank}",
                        "image": thumbnail(picture, _CARD_SIDE),
                        "caption": f"z = {activation:.2f}",
                        "detail": f"image {index} of the fitted set",
                    }
                )
            mean = float(space.mean_contributions[concept])
            groups.append(
                {
                    "id": f"concept{concept}",
                    "title": f"concept {concept + 1}",
                    "detail": f"mean contribution {mean:+.2f}" + ("" if items else " · never active"),
                    "colour": concept_colour(concept),
                    "items": items,
                }
            )
        self.cards.set_groups(groups, selected_group=f"concept{self.concept}")

    def _show(self, space: ConceptSpace, index: int) -> None:
        """Explain gallery image ``index`` with ``space`` and draw it with the selected concept."""
        self.image_index = index
        explanation, k = space.explain(self._gallery[index][None], progress=False), space.k
        self.explanation = explanation
        with self.bars.hold_sync():
            self.bars.x = [f"{c + 1}" for c in range(k)]
            self.bars.y = explanation.contributions[0].tolist()
            self.bars.colors = [concept_colour(c) for c in range(k)]
            self.bars.selected = [self.concept]
        self._y.min, self._y.max = _value_range(explanation.contributions[0].tolist())
        ticks = nice_ticks(self._y.min, self._y.max, _TICKS)
        self._value_axis.tick_values, self._value_axis.tick_format = ticks, tick_format(ticks)
        logit, prediction = float(explanation.logits[0]), float(explanation.predictions[0])
        self.summary.value = (
            phrase_line(
                f"logit y = <b>{logit:.2f}</b>",
                f"ŷ = Σ z × w + b = <b>{prediction:.2f}</b>",
                f"b = {explanation.bias:.2f}",
                escape=False,
            )
            + "<br>"
            + phrase_line(f"faithfulness gap |ŷ − y| = <b>{abs(prediction - logit):.2f}</b>", escape=False)
        )
        self._draw_concept(explanation)

    def _draw_concept(self, explanation: ConceptExplanation) -> None:
        concept = self.concept
        active = float(explanation.activations[0, concept]) > 0
        self.image_view.set_data(image=explanation.images[0], heatmap=explanation.maps[0, concept] if active else None)
        contribution = float(explanation.contributions[0, concept])
        locality = float(explanation.locality[0, concept])
        self.image_view.title = (
            f"concept {concept + 1}: contribution {contribution:+.2f} · locality {locality:.2f}"
            if active
            else f"concept {concept + 1}: inactive on this image"
        )

    # ------------------------------------------------------------------------------------------ clicks
    def select_concept(self, concept: int) -> None:
        """Show concept ``concept`` (0-based) on the current image and select its card and bar."""
        space, explanation = self.space, self.explanation
        if space is None or explanation is None:
            raise XWidgetsError("no concept space yet: wait for the fit (explorer.wait())")
        if isinstance(concept, bool) or not isinstance(concept, int) or not 0 <= concept < space.k:
            raise invalid("concept", concept, f"a concept index in 0..{space.k - 1}")
        self.concept = concept
        if list(self.bars.selected or []) != [concept]:
            self.bars.selected = [concept]
        if self.cards.selected_group != f"concept{concept}":
            self.cards.select(group=f"concept{concept}")
        self._draw_concept(explanation)

    def select_image(self, index: int) -> None:
        """Explain gallery image ``index`` (0-based)."""
        space = self.space
        if space is None:
            raise XWidgetsError("no concept space yet: wait for the fit (explorer.wait())")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self._gallery):
            raise invalid("index", index, f"a gallery index in 0..{len(self._gallery) - 1}")
        if self.picker.selected_item != f"image{index}":
            self.picker.select(item=f"image{index}")
        self._show(space, index)

    def _on_bar(self, change) -> None:
        selected = list(change["new"] if change["new"] is not None else [])
        if len(selected) == 1 and self.space is not None and int(selected[0]) != self.concept:
            self.select_concept(int(selected[0]))

    def _on_card(self, group: str, item: str) -> None:
        if self.space is not None and group.startswith("concept"):
            concept = int(group.removeprefix("concept"))
            if concept != self.concept:
                self.select_concept(concept)

    def _on_pick(self, group: str, item: str) -> None:
        if self.space is not None and item.startswith("image"):
            index = int(item.removeprefix("image"))
            if index != self.image_index:
                self.select_image(index)

    # ------------------------------------------------------------------------------------------ output
    def draw_figure(self, **style: Any):
        """The current image's contributions and concept maps for a paper
        (:func:`~xwidgets.concepts.figure.concept_figure`), in the image view's blend (``style`` overrides it)."""
        if self.explanation is None:
            raise XWidgetsError(f"nothing to draw yet: no finished result of {self.work_name} (call wait() first)")
        return self.explanation.figure(0, **{**self.image_view.blending, **style})


def _value_range(values: list[float]) -> tuple[float, float]:
    """The contribution axis's ``(min, max)``: it spans 0 and every value, with :data:`_MARGIN` of the span free
    beyond the tallest bar and the deepest one (none when no bar goes that way)."""
    low, high = min([*values, 0.0]), max([*values, 0.0])
    pad = _MARGIN * max(high - low, 1e-6)
    return (low - pad if low < 0 else 0.0), (high + pad if high > 0 or low == 0 else 0.0)
