"""TextExplorer: a decision explained in words, each word grounded on the image.

Top left, the image in a :class:`~xwidgets.views.HeatmapView` with the grounding map of the selected attribute.
Beside it, the sentence, whose phrases are buttons: clicking one grounds the whole phrase on the image (every
attribute it names: "a long red beak" is long and red). Below the sentence, a bqplot bar chart of the image's top
attributes by lift p(a|x,y)/p(a) (or by probability); a bar click selects that attribute. The controls set the
number of parts the sentence names, the ranking, how much evidence a word needs to be named, and any vocabulary
attribute. Below, the filters behind the selected word (each filter's activation on this image, with its share of
p(a|x,y)), then the images of the pool that the network scores highest for the attribute (p̂(a|x) through the
network; click one to explain it), then a gallery of images to explain.

Explaining an image is one forward and backward pass, so every click re-runs the kernel synchronously.
"""

from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets
import torch

from ..concepts.features import dataset_image, extract_features, image_count, image_source
from ..core.errors import invalid
from ..core.images import to_batch
from ..core.models import Classifier
from ..figures import blend
from ..views import GalleryView, HeatmapView, control_for, thumbnail
from .figure import GROUNDING_THRESHOLD
from .model import TEXT_PARAMS, TextExplanation, TextModel

__all__ = ["TextExplorer", "CONTROLS"]

#: The parameters the explorer offers as controls.
CONTROLS = ("words", "rank", "min_evidence")
_BARS = 8
_THUMB = 72
_PICKER = 12
_RETRIEVED = 8
_FILTERS = 5


class TextExplorer(widgets.VBox):
    """Explore a fitted :class:`~xwidgets.text.TextModel` on a pool of images.

    Args:
        text_model: from :func:`xwidgets.text.fit`.
        images: the pool: images to explain and to retrieve from (a ``[N, 3, H, W]`` tensor or a sequence of
            single images). They are scored for every attribute once, in one batched pass.
        model: the classifier (default the one ``fit`` attached; pass it for a loaded text model).
        index: the pool image shown first.
        target: the class to explain (default each image's top-1 class).
        params: overrides of ``words``, ``rank`` and ``min_evidence`` (:data:`~xwidgets.text.TEXT_PARAMS`).

    Attributes:
        explanation: the current image's :class:`~xwidgets.text.TextExplanation`; ``attribute`` the selected
        attribute id (its filters and retrieved images are shown); ``grounded`` the attribute ids the map grounds
        (a clicked phrase's, or ``[attribute]``); ``scores`` ``[N, A]`` p̂(a|x) of the pool; ``index`` the current
        pool image.
    """

    def __init__(self, text_model: TextModel, images: object, *, model: Classifier | None = None, index: int = 0,
                 target: object = None, params: dict | None = None):
        if not isinstance(text_model, TextModel):
            raise invalid("text_model", type(text_model).__name__, "a TextModel from xw.text.fit")
        if params is not None and not isinstance(params, dict):
            raise invalid("params", params, "a dict with words, rank and/or min_evidence")
        values = TEXT_PARAMS.resolve({**{k: v for k, v in text_model.params.items() if k in TEXT_PARAMS},
                                       **(params or {})})
        self.text_model = text_model
        self.model = text_model._model_arg(model)
        self.images = image_source(images)
        self._count = image_count(self.images)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self._count:
            raise invalid("index", index, f"a pool image index in 0..{self._count - 1}")
        self.target = target
        self.scores = text_model.attribute_scores(
            features=extract_features(self.model, self.images, text_model.layer))
        self.index = index
        if isinstance(target, (list, tuple)) and len(target) != self._count:
            raise invalid("target", f"{len(target)} targets", f"one target per pool image ({self._count})")
        first = self._explanation_for(index, values)   # bad targets fail here, before any widget exists
        self.explanation: TextExplanation | None = None
        self.attribute: str = ""
        self.grounded: list[str] = []
        vocabulary = text_model.vocabulary

        self.image_view = HeatmapView(torch.zeros(3, 8, 8), None, alpha=0.6, threshold=GROUNDING_THRESHOLD,
                                      display_width=280, show_controls=False, title="")
        self.image_view.add_class("xw-text-image")
        self.sentence_start = widgets.HTML("")
        self.sentence_start.add_class("xw-text-sentence")
        self.word_box = widgets.HBox([], layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        self.word_box.add_class("xw-text-words")
        self.word_buttons: list[widgets.Button] = []
        # Horizontal bars: the phrases read on the left, best at the top.
        self._x, self._y = bq.OrdinalScale(reverse=True), bq.LinearScale(min=0.0)
        self.bars = bq.Bars(x=[], y=[], scales={"x": self._x, "y": self._y}, colors=["#0072B2"],
                            orientation="horizontal", interactions={"click": "select"},
                            selected_style={"stroke": "#24292f", "stroke-width": "2.5"},
                            unselected_style={"opacity": "0.55"}, padding=0.2)
        self._y_axis = bq.Axis(scale=self._y, label="lift p(a|x,y) / p(a)", tick_format=".1f")
        self.chart = bq.Figure(marks=[self.bars], axes=[bq.Axis(scale=self._x, orientation="vertical"),
                                                        self._y_axis],
                               fig_margin={"top": 10, "bottom": 40, "left": 130, "right": 12},
                               layout=widgets.Layout(width="420px", height="250px"))
        self.chart.add_class("xw-text-bars")
        self.controls = {name: control_for(TEXT_PARAMS[name], values[name]) for name in CONTROLS}
        self.attribute_menu = widgets.Dropdown(options=[(vocabulary.phrase(a), a) for a in text_model.attributes],
                                               description="attribute")
        self.attribute_menu.add_class("xw-text-attribute")
        for control in (*self.controls.values(), self.attribute_menu):
            control.layout.width = "300px"
        self.filters = GalleryView([], title="filters behind the word", thumbnail_size=_THUMB)
        self.filters.add_class("xw-text-filters")
        self.retrieved = GalleryView([], title="images the network scores highest for the word (click to explain)",
                                     thumbnail_size=_THUMB)
        self.retrieved.add_class("xw-text-retrieval")
        self.picker = GalleryView([], title="images to explain (click one)", thumbnail_size=56, wrap=True)
        self.picker.add_class("xw-text-picker")
        picks = list(range(min(_PICKER, self._count)))
        if index not in picks:
            picks[-1] = index
        self._picks = picks
        self.picker.set_groups([{"id": "pool", "items": [
            {"id": f"image{i}", "image": thumbnail(self._pixels(i), 56), "caption": f"#{i}"} for i in picks]}])

        right = widgets.VBox([self.sentence_start, self.word_box, self.chart, *self.controls.values(),
                              self.attribute_menu], layout=widgets.Layout(width="440px", margin="0 0 0 12px"))
        super().__init__([widgets.HBox([self.image_view, right]), self.filters, self.retrieved, self.picker])
        self.add_class("xw-text-explorer")

        self.bars.observe(self._on_bar, names="selected")
        self.attribute_menu.observe(self._on_menu, names="value")
        self.retrieved.on_select(self._on_retrieved)
        self.picker.on_select(self._on_pick)
        for control in self.controls.values():
            control.observe(lambda change: self._explain(keep_attribute=True), names="value")
        self._explain(explanation=first)

    # ---------------------------------------------------------------------------------------- settings
    @property
    def params(self) -> dict:
        """``words``, ``rank`` and ``min_evidence`` as the controls hold them."""
        return {name: control.value for name, control in self.controls.items()}

    # ------------------------------------------------------------------------------------------ kernel
    def _pixels(self, index: int) -> torch.Tensor:
        if isinstance(self.images, torch.Tensor):
            return self.model.prepare(self.images[index:index + 1], name=f"images[{index}]")[0].cpu()
        where = f"images[{index}]"
        return self.model.prepare(to_batch(dataset_image(self.images[index]), name=where), name=where)[0].cpu()

    def _explanation_for(self, index: int, params: dict) -> TextExplanation:
        target = self.target[index] if isinstance(self.target, (list, tuple)) else self.target
        return self.text_model.explain(self._pixels(index)[None], self.model, target=target, progress=False,
                                       **{name: params[name] for name in CONTROLS})

    def _explain(self, keep_attribute: bool = False, explanation: TextExplanation | None = None) -> None:
        """Explain the current image with the current controls and redraw everything. The selected attribute
        stays when ``keep_attribute`` or when the new sentence names it (then its whole phrase is grounded);
        otherwise the first phrase is selected."""
        self.explanation = explanation or self._explanation_for(self.index, self.params)
        words = self.explanation.words(0)
        named = [p for p, w in enumerate(words) if self.attribute in w["attributes"]]
        self._draw_sentence(words)
        self._draw_bars()
        if named or not (keep_attribute and self.attribute in self.explanation.attributes):
            self.select_phrase(named[0] if named else 0)
        else:
            self.select_attribute(self.attribute)

    # ------------------------------------------------------------------------------------------ drawing
    def _draw_sentence(self, words: list[dict]) -> None:
        explanation = self.explanation
        name = explanation.class_names[0]
        article = "an" if name[:1].lower() in "aeiou" else "a"
        self.sentence_start.value = (f"<b>This is {article} {html.escape(name)}</b> because it has "
                                     f"<span style='color:#57606a'>(click a phrase to ground it)</span>")
        for button in self.word_buttons:
            button.close()
        self.word_buttons = []
        for position, word in enumerate(words):
            button = widgets.Button(description=word["phrase"], tooltip=" + ".join(word["attributes"]),
                                    layout=widgets.Layout(width="auto", margin="2px 4px 2px 0"))
            button.add_class("xw-text-word")
            button.on_click(lambda _, at=position: self.select_phrase(at))
            self.word_buttons.append(button)
        self.word_box.children = self.word_buttons

    def _draw_bars(self) -> None:
        ranking = self.explanation.ranking(0, top=_BARS, by=self.params["rank"])
        key = "lift" if self.params["rank"] == "lift" else "probability"
        self._ranked = [r["attribute"] for r in ranking]
        with self.bars.hold_sync():
            self.bars.x = [r["phrase"] for r in ranking]
            self.bars.y = [r[key] for r in ranking]
            self.bars.selected = None
        self._y_axis.label = "lift p(a|x,y) / p(a)" if key == "lift" else "p(a|x,y)"

    def _draw_attribute(self, grounded_phrase: str) -> None:
        explanation, attribute = self.explanation, self.attribute
        phrase = explanation.phrases[explanation.attribute_index(attribute)]
        self.image_view.set_data(image=explanation.images[0], heatmap=explanation.map(self.grounded, 0))
        rank = self._ranked.index(attribute) + 1 if attribute in self._ranked else None
        lifts = " / ".join(f"{float(explanation.lift[0, explanation.attribute_index(a)]):.2f}" for a in self.grounded)
        self.image_view.title = f"grounding: {grounded_phrase} · lift {lifts}" + (f" · rank {rank}" if rank else "")
        for button in self.word_buttons:
            selected = attribute in button.tooltip.split(" + ")
            button.button_style = "info" if selected else ""
        selected = [self._ranked.index(attribute)] if attribute in self._ranked else None
        if list(self.bars.selected or []) != (selected or []):
            self.bars.selected = selected
        if self.attribute_menu.value != attribute:
            self.attribute_menu.value = attribute
        self._draw_filters(phrase)
        self._draw_retrieval(phrase)

    def _draw_filters(self, phrase: str) -> None:
        explanation, image = self.explanation, self.explanation.images[0].permute(1, 2, 0).numpy()
        items = []
        for row in explanation.top_filters(self.attribute, 0, top=_FILTERS):
            heat = explanation.filter_map(row["filter"], 0).numpy()
            items.append({"id": f"filter{row['filter']}", "caption": f"f{row['filter']} · {100 * row['share']:.0f}%",
                          "image": thumbnail(blend(image, heat, alpha=0.6, threshold=GROUNDING_THRESHOLD), _THUMB),
                          "detail": f"filter {row['filter']}: p(a|f) = {row['p_attribute']:.3f} "
                                    f"({row['lift']:.1f}× the prior), p(f|x,y) = {row['weight']:.3f}"})
        self.filters.set_groups([{"id": "filters", "title": f"filters behind “{phrase}”",
                                  "detail": "activation on this image · share of p(a|x,y)", "items": items}])

    def _draw_retrieval(self, phrase: str) -> None:
        order = self.text_model.rank_images(self.attribute, self.scores, top=min(_RETRIEVED, self._count)).tolist()
        column = self.text_model._attribute_index(self.attribute)
        self._retrieved = order
        self.retrieved.set_groups([{"id": "retrieved", "title": f"“{phrase}”",
                                    "detail": "ranked by p̂(a|x) through the network", "items": [
            {"id": f"image{i}", "image": thumbnail(self._pixels(i), _THUMB),
             "caption": f"#{i} · {float(self.scores[i, column]) / float(self.text_model.prior[column]):.1f}×",
             "detail": f"pool image {i}: p̂(a|x) = {float(self.scores[i, column]):.4f}"} for i in order]}])

    # ------------------------------------------------------------------------------------------ clicks
    def select_attribute(self, attribute: int | str) -> None:
        """Ground ``attribute`` (an index, id or phrase of the vocabulary) on the current image, show the filters
        behind it and the pool images it retrieves."""
        self.attribute = self.explanation.attributes[self.explanation.attribute_index(attribute)]
        self.grounded = [self.attribute]
        self._draw_attribute(self.explanation.phrases[self.explanation.attribute_index(attribute)])

    def select_phrase(self, position: int) -> None:
        """Ground the sentence's phrase at ``position`` (0 is the first) with all its attributes; the filters and
        retrieved images follow the selected attribute when the phrase names it, else the phrase's first."""
        words = self.explanation.words(0)
        if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < len(words):
            raise invalid("position", position, f"a phrase position in 0..{len(words) - 1}")
        self.grounded = list(words[position]["attributes"])
        if self.attribute not in self.grounded:
            self.attribute = self.grounded[0]
        self._draw_attribute(words[position]["phrase"])

    def select_image(self, index: int, *, keep_attribute: bool = False) -> None:
        """Explain pool image ``index``. The selected attribute stays when ``keep_attribute`` (a click in the
        retrieval gallery keeps it) or when the new sentence names it."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self._count:
            raise invalid("index", index, f"a pool image index in 0..{self._count - 1}")
        self.index = index
        if f"image{index}" != self.picker.selected_item and index in self._picks:
            self.picker.select(item=f"image{index}")
        self._explain(keep_attribute)

    def _on_bar(self, change) -> None:
        selected = list(change["new"] if change["new"] is not None else [])
        if len(selected) == 1 and self._ranked[int(selected[0])] != self.attribute:
            self.select_attribute(self._ranked[int(selected[0])])

    def _on_menu(self, change) -> None:
        if change["new"] and change["new"] != self.attribute:
            self.select_attribute(change["new"])

    def _on_retrieved(self, group: str, item: str) -> None:
        if item and item.startswith("image"):
            index = int(item.removeprefix("image"))
            if index != self.index:
                self.select_image(index, keep_attribute=True)

    def _on_pick(self, group: str, item: str) -> None:
        if item and item.startswith("image"):
            index = int(item.removeprefix("image"))
            if index != self.index:
                self.select_image(index)

    # ------------------------------------------------------------------------------------------ output
    def figure(self, path=None, **style):
        """The image, its sentence and each phrase's grounding map (:func:`~xwidgets.text.figure.text_figure`),
        saved to ``path`` when given."""
        return self.explanation.figure(0, path=path, **style)

    def close(self) -> None:
        """Close every child widget (the explorer runs no thread)."""
        for widget in (*getattr(self, "controls", {}).values(), *getattr(self, "word_buttons", []),
                       *(getattr(self, n, None) for n in ("image_view", "sentence_start", "word_box", "bars", "chart",
                                                           "_y_axis", "attribute_menu", "filters", "retrieved",
                                                           "picker")), *self.children):
            if widget is not None:
                widget.close()
        super().close()

