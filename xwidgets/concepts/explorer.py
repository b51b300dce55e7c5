"""ConceptExplorer: a class's XNN explanation space, live.

Top left, the current image in a :class:`~xwidgets.views.HeatmapView` with the selected concept's map over it
and the map's locality (the share of its mass in its top 10 % of cells).
Beside it, a bqplot bar chart of the concepts' contributions to the class logit, with the network's logit, the
faithful prediction ŷ and their gap; click a bar to select that concept. Right, the controls: k and the loss
weights. Changing one retrains from the cached features (the dataset pass is never repeated) under a progress bar,
with a button that cancels; a newer value cancels the stale run. Below, the concept cards in a
:class:`~xwidgets.views.GalleryView`: each concept's most activating images with its map, and a click selects the
concept. At the bottom, a gallery of images to explain.
"""

from __future__ import annotations

import html
import threading

import bqplot as bq
import ipywidgets as widgets
import torch

from ..core.errors import XWidgetsError, invalid
from ..core.images import to_batch
from ..core.models import Classifier, check_model
from ..core.runner import Runner
from ..figures import blend
from ..views import GalleryView, HeatmapView, control_for, thumbnail
from .features import dataset_image, image_count
from .space import CONCEPT_PARAMS, MAP_THRESHOLD, ConceptExplanation, ConceptSpace, concept_colour, fit

__all__ = ["ConceptExplorer", "CONTROLS"]

#: The parameters the explorer offers as controls (the others keep their values from ``params``).
CONTROLS = ("k", "alpha_pred", "alpha_rec", "alpha_pt")
_CARD_SIDE = 80
_GALLERY_SIZE = 12


class ConceptExplorer(widgets.VBox):
    """Fit and explore the concepts of one class.

    Args:
        model: a wrapped :class:`~xwidgets.core.models.Classifier`.
        images: the images to fit on, a ``[N, 3, H, W]`` tensor or a sequence of single images, of the target
            class and others (the concept cards show the most activating of them).
        target: the class, as an index or a label.
        layer: the convolutional layer to read (default the stage before the global pool).
        gallery: the images offered for explanation (default the 12 of ``images`` with the highest target logit).
        params: overrides of :data:`~xwidgets.concepts.CONCEPT_PARAMS`.
        space: an already fitted :class:`~xwidgets.concepts.ConceptSpace` of these images (skips the first fit).
        seed: the fit's seed.
        run: start fitting at once (False: call :meth:`run`).

    Attributes:
        space: the current fitted space (None until the first fit ends); ``explanation`` the current image's
        :class:`~xwidgets.concepts.ConceptExplanation`; ``concept`` the selected concept (0-based).
    """

    def __init__(self, model: Classifier, images: object, *, target: int | str, layer: str | None = None,
                 gallery: object = None, params: dict | None = None, space: ConceptSpace | None = None,
                 seed: int = 0, run: bool = True):
        check_model(model, Classifier)
        if params is not None and not isinstance(params, dict):
            raise invalid("params", params, "a dict of concept-space parameter values")
        if space is not None and not isinstance(space, ConceptSpace):
            raise invalid("space", type(space).__name__, "a ConceptSpace from xw.concepts.fit")
        values = CONCEPT_PARAMS.resolve({**(space.params if space is not None else {}), **(params or {})})
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise invalid("seed", seed, "an int")
        self.model, self.images, self.target, self.layer, self.seed = model, images, target, layer, seed
        self._count = image_count(images)
        self._fixed = values
        self._gallery_source = gallery
        self.space: ConceptSpace | None = None
        self.explanation: ConceptExplanation | None = None
        self.concept = 0
        self.error: BaseException | None = None
        self.runner = Runner()
        self._token = 0
        self._done = threading.Event()
        self._done.set()
        self._gallery: list[torch.Tensor] = []
        self._current = 0

        self.image_view = HeatmapView(torch.zeros(3, 8, 8), None, alpha=0.6, threshold=MAP_THRESHOLD,
                                      display_width=260, show_controls=False, title="")
        self.image_view.add_class("xw-concept-image")
        self._x, self._y = bq.OrdinalScale(), bq.LinearScale()
        self.bars = bq.Bars(x=[], y=[], scales={"x": self._x, "y": self._y}, colors=["#0072B2"],
                            interactions={"click": "select"}, selected_style={"stroke": "#24292f",
                                                                               "stroke-width": "2.5"},
                            unselected_style={"opacity": "0.55"}, padding=0.25)
        axes = [bq.Axis(scale=self._x, label="concept"),
                bq.Axis(scale=self._y, orientation="vertical", label="contribution z·w", tick_format=".1f")]
        self.chart = bq.Figure(marks=[self.bars], axes=axes, fig_margin={"top": 10, "bottom": 40, "left": 52,
                                                                          "right": 10},
                               layout=widgets.Layout(width="320px", height="250px"))
        self.chart.add_class("xw-concept-bars")
        self.summary = widgets.HTML("")
        self.summary.add_class("xw-concept-summary")
        self.controls = {name: control_for(CONCEPT_PARAMS[name], values[name]) for name in CONTROLS}
        self.controls["k"].max = max(1, min(12, int(self._count * (1 - values["holdout"])) // 10))
        for control in self.controls.values():
            control.layout.width = "300px"
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="300px"))
        self.status = widgets.HTML("")
        self.status.add_class("xw-run-status")
        self.cancel_button = widgets.Button(description="cancel training", disabled=True,
                                            layout=widgets.Layout(width="138px"))
        self.cancel_button.add_class("xw-concept-cancel")
        self.metrics_text = widgets.HTML("")
        self.metrics_text.add_class("xw-concept-metrics")
        self.cards = GalleryView([], title="concept cards: most activating images (click to select)",
                                 thumbnail_size=_CARD_SIDE)
        self.cards.add_class("xw-concept-cards")
        self.picker = GalleryView([], title="images to explain (click one)", thumbnail_size=64, wrap=True)
        self.picker.add_class("xw-concept-picker")

        middle = widgets.VBox([self.chart, self.summary], layout=widgets.Layout(width="330px"))
        top = widgets.HBox([self.image_view, middle])
        training = widgets.VBox([self.progress, self.status, self.cancel_button, self.metrics_text],
                                layout=widgets.Layout(width="330px", margin="0 0 0 12px"))
        controls = widgets.VBox(list(self.controls.values()))
        super().__init__([top, widgets.HBox([controls, training]), self.cards, self.picker])
        self.add_class("xw-concept-explorer")

        self.bars.observe(self._on_bar, names="selected")
        self.cards.on_select(self._on_card)
        self.picker.on_select(self._on_pick)
        self.cancel_button.on_click(lambda _: self.cancel())
        for control in self.controls.values():
            control.observe(lambda change: self.run(), names="value")
        if space is not None:
            self._install(space)
        elif run:
            self.run()

    # ---------------------------------------------------------------------------------------- settings
    @property
    def params(self) -> dict:
        """Every concept-space parameter: the controls' current values over those given at construction."""
        return {**self._fixed, **{name: control.value for name, control in self.controls.items()}}

    # ---------------------------------------------------------------------------------------- training
    def run(self) -> None:
        """Fit with the current controls (from the cached features once there are some); cancels a running fit."""
        self._token += 1
        token = self._token
        self._done.clear()
        self.error = None
        self.progress.value, self.progress.bar_style = 0.0, ""
        self.status.value = "fitting…"
        self.cancel_button.disabled = False
        params = self.params
        features = self.space.features if self.space is not None else None

        def work(progress):
            return fit(self.model, None if features is not None else self.images, target=self.target,
                       layer=self.layer, features=features, seed=self.seed, progress=progress, **params)

        self.runner.submit(work, on_progress=lambda f, m: self._on_progress(token, f, m),
                           on_done=lambda space: self._on_done(token, space),
                           on_error=lambda error: self._on_error(token, error))

    def cancel(self) -> None:
        """Cancel the running fit; the last fitted space stays shown."""
        self._token += 1
        self.runner.cancel()
        self.cancel_button.disabled = True
        self.progress.bar_style = "warning"
        self.status.value = "training cancelled" + ("; showing the previous fit" if self.space is not None else "")
        self._done.set()

    def wait(self, timeout: float | None = None) -> ConceptExplorer:
        """Block until the current fit has ended (for scripts and notebooks executed headless); by default as long
        as it takes (a real model on a CPU can take minutes), else at most ``timeout`` seconds."""
        if not self._done.wait(timeout):
            raise XWidgetsError(f"the concept fit did not finish within timeout={timeout} s")
        if self.error is not None:
            raise self.error
        return self

    def _on_progress(self, token: int, fraction: float, message: str) -> None:
        if token == self._token:
            self.progress.value = fraction
            self.status.value = html.escape(message)

    def _on_done(self, token: int, space: ConceptSpace) -> None:
        if token != self._token:
            return
        try:
            self._install(space)
        except Exception as error:  # shown, and re-raised by wait()
            self._on_error(token, error)
            return
        self.progress.value, self.progress.bar_style = 1.0, "success"
        accepted = "accepted" if space.accepted else "not accepted (best of the attempts kept)"
        self.status.value = (f"fitted in {sum(space.timings.values()):.1f} s · {len(space.attempts)} attempt(s), "
                             f"{accepted}")
        self.cancel_button.disabled = True
        self._done.set()

    def _on_error(self, token: int, error: BaseException) -> None:
        if token != self._token:
            return
        self.error = error
        self.progress.bar_style = "danger"
        self.status.value = "error: " + html.escape(str(error))
        self.cancel_button.disabled = True
        self._done.set()

    # ------------------------------------------------------------------------------------------ drawing
    def _install(self, space: ConceptSpace) -> None:
        """Show a newly fitted space: the metrics, the cards, the gallery and the current image."""
        self.space = space
        if space.features is None or space.model is None:
            raise invalid("space", "a space without its features or model (a loaded one)",
                          "a space returned by xw.concepts.fit on these images")
        if not self._gallery:
            self._gallery = self._pick_gallery(space)
            self.picker.set_groups([{"id": "gallery", "items": [
                {"id": f"image{i}", "image": thumbnail(image, 64), "caption": f"#{i + 1}"}
                for i, image in enumerate(self._gallery)]}], selected_item="image0")
        self.concept = min(self.concept, space.k - 1)
        metrics = space.metrics.get("holdout") or space.metrics["train"]
        split = "held-out" if space.metrics.get("holdout") else "training"
        self.metrics_text.value = (f"<b>{space.target_name}</b>, {split} images: R² {metrics['r2']:.2f} · decisions "
                                   f"kept {100 * metrics['decision_agreement']:.0f}% · sparsity "
                                   f"{metrics['sparsity']:.2f} · orthogonality {metrics['orthogonality']:.2f}")
        self._draw_cards()
        self._show(self._current)

    def _pick_gallery(self, space: ConceptSpace) -> list[torch.Tensor]:
        if self._gallery_source is not None:
            count = image_count(self._gallery_source, "gallery")
            source, indices = self._gallery_source, range(count)
        else:
            scores = space.features.logits[:, space.target]
            source, indices = self.images, scores.topk(min(_GALLERY_SIZE, len(scores))).indices.tolist()
        return [self._image(source, i, "gallery") for i in indices]

    def _image(self, source: object, index: int, name: str = "images") -> torch.Tensor:
        where = f"{name}[{index}]"
        return self.model.prepare(to_batch(dataset_image(source[index]), name=where), name=where)[0].cpu()

    def _draw_cards(self) -> None:
        space = self.space
        indices = sorted({int(i) for i in space.top_images.flatten()})
        explained = space.explain([self._image(self.images, i) for i in indices], progress=False)
        row = {index: n for n, index in enumerate(indices)}
        groups = []
        for concept in range(space.k):
            items = []
            for rank, (index, activation) in enumerate(zip(space.top_images[concept].tolist(),
                                                           space.top_activations[concept].tolist())):
                if activation <= 0:
                    continue
                n = row[index]
                picture = blend(explained.images[n].permute(1, 2, 0).numpy(),
                                explained.maps[n, concept].numpy(), alpha=0.6, threshold=MAP_THRESHOLD)
                items.append({"id": f"c{concept}-{rank}", "image": thumbnail(picture, _CARD_SIDE),
                              "caption": f"z = {activation:.2f}", "detail": f"image {index} of the fitted set"})
            mean = float(space.mean_contributions[concept])
            groups.append({"id": f"concept{concept}", "title": f"concept {concept + 1}",
                           "detail": f"mean contribution {mean:+.2f}" + ("" if items else " · never active"),
                           "colour": concept_colour(concept), "items": items})
        self.cards.set_groups(groups, selected_group=f"concept{self.concept}")

    def _show(self, index: int) -> None:
        """Explain gallery image ``index`` and draw it with the selected concept."""
        self._current = index
        self.explanation = self.space.explain(self._gallery[index][None], progress=False)
        explanation, k = self.explanation, self.space.k
        contributions = explanation.contributions[0].tolist()
        with self.bars.hold_sync():
            self.bars.x = [f"{c + 1}" for c in range(k)]
            self.bars.y = contributions
            self.bars.colors = [concept_colour(c) for c in range(k)]
            self.bars.selected = [self.concept]
        logit, prediction = float(explanation.logits[0]), float(explanation.predictions[0])
        self.summary.value = (f"logit y = <b>{logit:.2f}</b> · ŷ = Σ z·w + b = <b>{prediction:.2f}</b> "
                              f"(b = {explanation.bias:.2f})<br>faithfulness gap |ŷ − y| = "
                              f"<b>{abs(prediction - logit):.2f}</b>")
        self._draw_concept()

    def _draw_concept(self) -> None:
        explanation, concept = self.explanation, self.concept
        active = float(explanation.activations[0, concept]) > 0
        self.image_view.set_data(image=explanation.images[0], heatmap=explanation.maps[0, concept] if active else None)
        contribution = float(explanation.contributions[0, concept])
        locality = float(explanation.locality[0, concept])
        self.image_view.title = (f"concept {concept + 1}: {contribution:+.2f} · locality {locality:.2f}" if active
                                 else f"concept {concept + 1}: inactive on this image")

    # ------------------------------------------------------------------------------------------ clicks
    def select_concept(self, concept: int) -> None:
        """Show concept ``concept`` (0-based) on the current image and select its card and bar."""
        if self.space is None:
            raise XWidgetsError("no concept space yet: wait for the fit (explorer.wait())")
        if isinstance(concept, bool) or not isinstance(concept, int) or not 0 <= concept < self.space.k:
            raise invalid("concept", concept, f"a concept index in 0..{self.space.k - 1}")
        self.concept = concept
        if list(self.bars.selected or []) != [concept]:
            self.bars.selected = [concept]
        if self.cards.selected_group != f"concept{concept}":
            self.cards.select(group=f"concept{concept}")
        self._draw_concept()

    def select_image(self, index: int) -> None:
        """Explain gallery image ``index`` (0-based)."""
        if self.space is None:
            raise XWidgetsError("no concept space yet: wait for the fit (explorer.wait())")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self._gallery):
            raise invalid("index", index, f"a gallery index in 0..{len(self._gallery) - 1}")
        if self.picker.selected_item != f"image{index}":
            self.picker.select(item=f"image{index}")
        self._show(index)

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
            if index != self._current:
                self.select_image(index)

    # ------------------------------------------------------------------------------------------ output
    def figure(self, path=None, **style):
        """The current image's contributions and concept maps for a paper
        (:func:`~xwidgets.concepts.figure.concept_figure`), saved to ``path`` when given."""
        if self.explanation is None:
            raise XWidgetsError("no explanation yet: wait for the fit (explorer.wait()) before figure()")
        return self.explanation.figure(0, path=path, **style)

    def close(self) -> None:
        """Cancel the fit, wait for its thread, and close every child widget."""
        runner = getattr(self, "runner", None)
        if runner is not None:
            runner.close()
        for widget in (*getattr(self, "controls", {}).values(), *(getattr(self, n, None) for n in (
                "image_view", "bars", "chart", "summary", "progress", "status", "cancel_button", "metrics_text",
                "cards", "picker")), *self.children):
            if widget is not None:
                widget.close()
        super().close()

