"""TextExplorer: a decision explained in words, each word grounded on the image.

Top left, the image in a :class:`~xwidgets.views.HeatmapView` with the grounding map of the selected attribute.
Beside it, the sentence, whose phrases are buttons: clicking one grounds the whole phrase on the image (every
attribute it names: "a long red beak" is long and red). Below the sentence, a bqplot bar chart of the image's top
attributes by lift p(a|x,y)/p(a) (or by probability), each value printed past its bar's end on an axis with
room for it and a few round ticks; a bar click selects that attribute. The controls set the
number of parts the sentence names, the ranking, how much evidence a word needs to be named, and any vocabulary
attribute. Below, the filters behind the selected word (each filter's activation on this image, with its share of
p(a|x,y)), then the images of the pool that the network scores highest for the attribute (p̂(a|x) through the
network; click one to explain it), then a gallery of images to explain.

Explaining an image (one forward and backward pass) runs on the explorer's runner; selecting a phrase, a bar or an
attribute redraws from the shown explanation without the kernel.
"""

from __future__ import annotations

import html
from typing import cast

import bqplot as bq
import ipywidgets as widgets
import torch

from ..concepts.features import extract_features
from ..core.errors import invalid
from ..core.images import to_batch
from ..core.models import Classifier
from ..core.sources import ImageSequence, dataset_image, image_count, image_source
from ..core.targets import class_index
from ..figures import blend
from ..views import GalleryView, HeatmapView, control_for, thumbnail
from ..views.explorer import Explorer, Shown, close_widgets
from ..views.ticks import nice_ticks, tick_format
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
#: The chart's text size (tick labels, bar values): at least 11 px to read at a glance.
_CHART_FONT = "12px"
#: The most ticks the value axis shows (round values: :func:`~xwidgets.views.ticks.nice_ticks`).
_TICKS = 5
#: The value axis ends this much beyond the longest bar, so the bar and its printed value stay inside the axis.
_HEADROOM = 1.25


class TextExplorer(Explorer):
    """Explore a fitted :class:`~xwidgets.text.TextModel` on a pool of images.

    Args:
        text_model: from :func:`xwidgets.text.fit`.
        images: the pool: images to explain and to retrieve from (a ``[N, 3, H, W]`` tensor or a sequence of
            single images). They are scored for every attribute once, in one batched pass.
        model: the classifier (default the one ``fit`` attached; pass it for a loaded text model).
        index: the pool image shown first.
        target: the class to explain (an index or a class name, or one per pool image); default the text model's
            (each image's top-1 class when it was fitted without one).
        params: overrides of ``words``, ``rank`` and ``min_evidence`` (:data:`~xwidgets.text.TEXT_PARAMS`).
        run: explain the first image at once (False: call :meth:`run`).

    Attributes:
        explanation: the shown image's :class:`~xwidgets.text.TextExplanation`; ``attribute`` the selected
        attribute id (its filters and retrieved images are shown); ``grounded`` the attribute ids the map grounds
        (a clicked phrase's, or ``[attribute]``); ``scores`` ``[N, A]`` p̂(a|x) of the pool; ``index`` the shown
        pool image.
    """

    work_name = "the sentence"

    def __init__(
        self,
        text_model: TextModel,
        images: object,
        *,
        model: Classifier | None = None,
        index: int = 0,
        target: object = None,
        params: dict | None = None,
        run: bool = True,
    ):
        if not isinstance(text_model, TextModel):
            raise invalid("text_model", type(text_model).__name__, "a TextModel from xw.text.fit")
        if params is not None and not isinstance(params, dict):
            raise invalid("params", params, "a dict with words, rank and/or min_evidence")
        values = TEXT_PARAMS.resolve(
            {**{k: v for k, v in text_model.params.items() if k in CONTROLS}, **(params or {})}
        )
        self.text_model = text_model
        self.model = text_model._model_arg(model)
        self.images = image_source(images)
        self._count = image_count(self.images)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self._count:
            raise invalid("index", index, f"a pool image index in 0..{self._count - 1}")
        self.target = _checked_target(target, text_model, self._count)
        picks = list(range(min(_PICKER, self._count)))
        if index not in picks:
            picks[-1] = index
        pictures = {i: thumbnail(self._pixels(i), 56) for i in picks}  # a bad one is refused before any widget exists
        super().__init__()
        self._requested, self._keep = index, False
        self._drawn: Shown | None = None
        self.attribute: str = ""
        self.grounded: list[str] = []
        self._phrase: int | None = 0
        vocabulary = text_model.vocabulary

        self.image_view = HeatmapView(
            torch.zeros(3, 8, 8),
            None,
            alpha=0.6,
            threshold=GROUNDING_THRESHOLD,
            display_width=280,
            show_controls=False,
            title="",
        )
        self.image_view.add_class("xw-text-image")
        self.sentence_start = widgets.HTML("")
        self.sentence_start.add_class("xw-text-sentence")
        self.word_box = widgets.HBox([], layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        self.word_box.add_class("xw-text-words")
        self.word_buttons: list[widgets.Button] = []
        # Horizontal bars: the phrases read on the left, best at the top, each value printed at its bar's end.
        self._x, self._y = bq.OrdinalScale(reverse=True), bq.LinearScale(min=0.0, max=1.0)
        self.bars = bq.Bars(
            x=[],
            y=[],
            scales={"x": self._x, "y": self._y},
            colors=["#0072B2"],
            orientation="horizontal",
            interactions={"click": "select"},
            selected_style={"stroke": "#24292f", "stroke-width": "2.5"},
            unselected_style={"opacity": "0.55"},
            padding=0.2,
            label_display=True,
            label_display_format=".2f",
            label_display_vertical_offset=5,  # along the value axis, for horizontal bars: past the bar's end
            label_font_style={"font-size": _CHART_FONT, "fill": "#24292f", "text-anchor": "start"},
        )
        self._y_axis = bq.Axis(
            scale=self._y,
            label="lift p(a|x,y) / p(a)",
            tick_format=".1f",
            tick_style={"font-size": _CHART_FONT},
        )
        phrase_axis = bq.Axis(scale=self._x, orientation="vertical", tick_style={"font-size": _CHART_FONT})
        self.chart = bq.Figure(
            marks=[self.bars],
            axes=[phrase_axis, self._y_axis],
            fig_margin={"top": 10, "bottom": 44, "left": 150, "right": 14},
            layout=widgets.Layout(width="430px", height="260px"),
        )
        self.chart.add_class("xw-text-bars")
        self.controls = {name: control_for(TEXT_PARAMS[name], values[name]) for name in CONTROLS}
        self.attribute_menu = widgets.Dropdown(
            options=[(vocabulary.phrase(a), a) for a in text_model.attributes], description="attribute"
        )
        self.attribute_menu.add_class("xw-text-attribute")
        for control in (*self.controls.values(), self.attribute_menu):
            control.layout.width = "300px"
        self.filters = GalleryView([], title="filters behind the word", thumbnail_size=_THUMB)
        self.filters.add_class("xw-text-filters")
        self.retrieved = GalleryView(
            [], title="images the network scores highest for the word (click to explain)", thumbnail_size=_THUMB
        )
        self.retrieved.add_class("xw-text-retrieval")
        self.picker = GalleryView([], title="images to explain (click one)", thumbnail_size=56, wrap=True)
        self.picker.add_class("xw-text-picker")
        self._picks = picks
        self.picker.set_groups(
            [
                {
                    "id": "pool",
                    "items": [{"id": f"image{i}", "image": pictures[i], "caption": f"#{i}"} for i in picks],
                }
            ]
        )

        right = widgets.VBox(
            [
                self.sentence_start,
                self.word_box,
                self.chart,
                *self.controls.values(),
                self.attribute_menu,
                self.progress_box,
            ],
            layout=widgets.Layout(width="440px", margin="0 0 0 12px"),
        )
        self.children = [widgets.HBox([self.image_view, right]), self.filters, self.retrieved, self.picker]
        self.add_class("xw-text-explorer")

        self.bars.observe(self._on_bar, names="selected")
        self.attribute_menu.observe(self._on_menu, names="value")
        self.retrieved.on_select(self._on_retrieved)
        self.picker.on_select(self._on_pick)
        self.watch(self.controls)
        if run:
            self.run()

    # ---------------------------------------------------------------------------------------- state
    @property
    def params(self) -> dict:
        """``words``, ``rank`` and ``min_evidence`` as the controls hold them."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def explanation(self) -> TextExplanation | None:
        """The shown explanation (of one image), or None before the first run ends."""
        return None if self.shown is None else self.shown.value[0]

    @property
    def scores(self) -> torch.Tensor | None:
        """``[N, A]`` p̂(a|x) of the pool, once the first run has scored it."""
        return None if self.shown is None else self.shown.value[1]

    @property
    def index(self) -> int:
        """The pool image shown (the one asked for, before the first run ends)."""
        return self._requested if self.shown is None else self.shown.settings["index"]

    # ------------------------------------------------------------------------------------------ kernel
    def _pixels(self, index: int) -> torch.Tensor:
        where = f"images[{index}]"
        if isinstance(self.images, torch.Tensor):
            return self.model.prepare(self.images[index : index + 1], name=where)[0].cpu()
        item = cast(ImageSequence, self.images)[index]
        return self.model.prepare(to_batch(dataset_image(item), name=where), name=where)[0].cpu()

    def run(self) -> None:
        """Explain the asked-for pool image with the current controls (a running explanation is cancelled)."""
        index, params = self._requested, self.params
        target = self.target[index] if isinstance(self.target, list) else self.target

        def work(progress):
            scores = self.cached(
                "pool",
                (),
                lambda: self.text_model.attribute_scores(
                    features=extract_features(self.model, self.images, self.text_model.layer, progress=False)
                ),
            )
            explanation = self.text_model.explain(
                self._pixels(index)[None], self.model, target=target, progress=progress, **params
            )
            return explanation, scores

        self.start(work, {**params, "index": index, "keep_attribute": self._keep})
        self._keep = True

    # ------------------------------------------------------------------------------------------ drawing
    def render(self) -> None:
        """Draw the sentence, the bars, the grounding, the filters and the retrieval from :attr:`shown`. A new
        explanation keeps the selected attribute when its sentence names it (its whole phrase is grounded) or when
        the run was asked to keep it; otherwise its first phrase is selected."""
        explanation, settings = self._explained(), self.current.settings
        self._requested = settings["index"]
        words = explanation.words(0)
        self._draw_sentence(words)
        self._draw_bars()
        if f"image{self.index}" != self.picker.selected_item and self.index in self._picks:
            self.picker.select(item=f"image{self.index}")
        if self._drawn is self.shown:
            self._redraw_selection()
            return
        self._drawn = self.shown
        named = [p for p, w in enumerate(words) if self.attribute in w["attributes"]]
        if not words:  # a sentence that names no part: ground the attribute kept, else the best-ranked one
            kept = settings["keep_attribute"] and self.attribute in explanation.attributes
            self.select_attribute(self.attribute if kept else self._ranked[0])
        elif named or not (settings["keep_attribute"] and self.attribute in explanation.attributes):
            self.select_phrase(named[0] if named else 0)
        else:
            self.select_attribute(self.attribute)

    def _redraw_selection(self) -> None:
        if self._phrase is None:
            self.select_attribute(self.attribute)
        else:
            self.select_phrase(self._phrase)

    def _draw_sentence(self, words: list[dict]) -> None:
        sentence = self._explained().sentences[0]
        opening = sentence[: sentence.index(" it has ") + len(" it has")] if " it has " in sentence else sentence
        hint = " <span style='color:#57606a'>(click a phrase to ground it)</span>" if words else ""
        self.sentence_start.value = f"<b>{html.escape(opening)}</b>{hint}"
        close_widgets(self.word_buttons)  # with their layouts and styles
        self.word_buttons = []
        for position, word in enumerate(words):
            button = widgets.Button(
                description=word["phrase"],
                tooltip=" + ".join(word["attributes"]),
                layout=widgets.Layout(width="auto", margin="2px 4px 2px 0"),
            )
            button.add_class("xw-text-word")
            button.on_click(lambda _, at=position: self.select_phrase(at))
            self.word_buttons.append(button)
        self.word_box.children = self.word_buttons

    def _draw_bars(self) -> None:
        rank = self.current.settings["rank"]
        ranking = self._explained().ranking(0, top=_BARS, by=rank)
        key = "lift" if rank == "lift" else "probability"
        self._ranked = [r["attribute"] for r in ranking]
        values = [r[key] for r in ranking]
        with self.bars.hold_sync():
            self.bars.x = [r["phrase"] for r in ranking]
            self.bars.y = values
            self.bars.selected = None
        self._y.max = _HEADROOM * max([*values, 1e-6])
        ticks = nice_ticks(0.0, self._y.max, _TICKS)
        self._y_axis.tick_values, self._y_axis.tick_format = ticks, tick_format(ticks)
        self._y_axis.label = "lift p(a|x,y) / p(a)" if key == "lift" else "p(a|x,y)"

    def _draw_attribute(self, grounded_phrase: str) -> None:
        explanation, attribute = self._explained(), self.attribute
        phrase = explanation.phrases[explanation.attribute_index(attribute)]
        self.image_view.set_data(image=explanation.images[0], heatmap=explanation.map(self.grounded, 0))
        rank = self._ranked.index(attribute) + 1 if attribute in self._ranked else None
        lifts = " / ".join(f"{float(explanation.lift[0, explanation.attribute_index(a)]):.2f}" for a in self.grounded)
        self.image_view.title = f"grounding: {grounded_phrase} · lift {lifts}" + (f" · rank {rank}" if rank else "")
        for button in self.word_buttons:
            button.button_style = "info" if attribute in button.tooltip.split(" + ") else ""
        selected = [self._ranked.index(attribute)] if attribute in self._ranked else None
        if list(self.bars.selected if self.bars.selected is not None else []) != (selected or []):
            self.bars.selected = selected
        if self.attribute_menu.value != attribute:
            self.attribute_menu.value = attribute
        self._draw_filters(phrase)
        self._draw_retrieval(phrase)

    def _draw_filters(self, phrase: str) -> None:
        explanation = self._explained()
        image = explanation.images[0].permute(1, 2, 0).numpy()
        items = []
        for row in explanation.top_filters(self.attribute, 0, top=_FILTERS):
            heat = explanation.filter_map(row["filter"], 0).numpy()
            items.append(
                {
                    "id": f"filter{row['filter']}",
                    "caption": f"f{row['filter']} · {100 * row['share']:.0f}%",
                    "image": thumbnail(blend(image, heat, alpha=0.6, threshold=GROUNDING_THRESHOLD), _THUMB),
                    "detail": f"filter {row['filter']}: p(a|f) = {row['p_attribute']:.3f} "
                    f"({row['lift']:.1f}× the prior), p(f|x,y) = {row['weight']:.3f}",
                }
            )
        self.filters.set_groups(
            [
                {
                    "id": "filters",
                    "title": f"filters behind “{phrase}”",
                    "detail": "activation on this image · share of p(a|x,y)",
                    "items": items,
                }
            ]
        )

    def _draw_retrieval(self, phrase: str) -> None:
        scores = self.current.value[1]
        order = self.text_model.rank_images(self.attribute, scores, top=min(_RETRIEVED, self._count)).tolist()
        column = self.text_model._attribute_index(self.attribute)
        prior = float(self.text_model.prior[column])
        self.retrieved.set_groups(
            [
                {
                    "id": "retrieved",
                    "title": f"“{phrase}”",
                    "detail": "ranked by p̂(a|x) through the network",
                    "items": [
                        {
                            "id": f"image{i}",
                            "image": thumbnail(self._pixels(i), _THUMB),
                            "caption": f"#{i} · {float(scores[i, column]) / prior:.1f}×",
                            "detail": f"pool image {i}: p̂(a|x) = {float(scores[i, column]):.4f}",
                        }
                        for i in order
                    ],
                }
            ]
        )

    # ------------------------------------------------------------------------------------------ clicks
    def select_attribute(self, attribute: int | str) -> None:
        """Ground ``attribute`` (an index, id or phrase of the vocabulary) on the shown image, show the filters
        behind it and the pool images it retrieves."""
        explanation = self._explained()
        column = explanation.attribute_index(attribute)
        self.attribute, self._phrase = explanation.attributes[column], None
        self.grounded = [self.attribute]
        self._draw_attribute(explanation.phrases[column])

    def select_phrase(self, position: int) -> None:
        """Ground the sentence's phrase at ``position`` (0 is the first) with all its attributes; the filters and
        retrieved images follow the selected attribute when the phrase names it, else the phrase's first."""
        words = self._explained().words(0)
        if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < len(words):
            raise invalid("position", position, f"a phrase position in 0..{len(words) - 1}")
        self.grounded, self._phrase = list(words[position]["attributes"]), position
        if self.attribute not in self.grounded:
            self.attribute = self.grounded[0]
        self._draw_attribute(words[position]["phrase"])

    def select_image(self, index: int, *, keep_attribute: bool = False) -> None:
        """Explain pool image ``index`` (on the runner: :meth:`wait` for it). The selected attribute stays when
        ``keep_attribute`` (a click in the retrieval gallery keeps it) or when the new sentence names it."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self._count:
            raise invalid("index", index, f"a pool image index in 0..{self._count - 1}")
        self._requested, self._keep = index, keep_attribute
        self.run()

    def _explained(self) -> TextExplanation:
        if self.explanation is None:
            raise invalid("explorer", "no explanation yet", "a finished run (explorer.wait())")
        return self.explanation

    def _on_bar(self, change) -> None:
        selected = list(change["new"] if change["new"] is not None else [])
        if len(selected) == 1 and self._ranked[int(selected[0])] != self.attribute:
            self.select_attribute(self._ranked[int(selected[0])])

    def _on_menu(self, change) -> None:
        if change["new"] and change["new"] != self.attribute and self.explanation is not None:
            self.select_attribute(change["new"])

    def _on_retrieved(self, group: str, item: str) -> None:
        if item and item.startswith("image") and int(item.removeprefix("image")) != self._requested:
            self.select_image(int(item.removeprefix("image")), keep_attribute=True)

    def _on_pick(self, group: str, item: str) -> None:
        if item and item.startswith("image") and int(item.removeprefix("image")) != self._requested:
            self.select_image(int(item.removeprefix("image")))

    # ------------------------------------------------------------------------------------------ output
    def draw_figure(self, **style):
        """The image, its sentence and each phrase's grounding map (:func:`~xwidgets.text.figure.text_figure`), in the
        image view's blend (``style`` overrides it)."""
        return self._explained().figure(0, **{**self.image_view.blending, **style})


def _checked_target(target: object, text_model: TextModel, count: int) -> int | list[int] | None:
    """``target`` checked before any widget exists: None (the text model's class, or each image's top-1), one
    class (an index or a name) or one per pool image; class names become indices."""
    labels = text_model.labels
    classes = len(labels) if labels else None
    if target is None:
        return text_model.target
    if isinstance(target, (list, tuple)):
        if len(target) != count:
            raise invalid("target", f"{len(target)} targets", f"one target per pool image ({count})")
        return [class_index(t, labels, classes, name=f"target[{i}]") for i, t in enumerate(target)]
    return class_index(target, labels, classes)
