"""Classroom: a code-free demo for a class watching a projector, built from the package's kernels and views.

Pick a bird (a :class:`~xwidgets.views.GalleryView` of toy birds), guess which parts decide it (a toggle per part),
then reveal, one at a time: the I-GOS map (``xw.explain(..., method="igos")`` in a
:class:`~xwidgets.views.HeatmapView`), scored against the guess with the toy world's part masks; the SAG graph
(``xw.explain(..., method="sag")`` in a :class:`~xwidgets.views.GraphView`), each root named by the parts it
covers; and the sentence (``xw.fit(..., method="text")`` on captioned toy birds), beside the toy world's rule.

Every reveal is computed on first use and cached per bird: about a second each on 2 CPU cores, and a few seconds
once for the text model. Text is large (a class reads it from the back of the room).

    import xwidgets as xw
    xw.Classroom()
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from .api import explain, fit
from .core.errors import invalid
from .core.models import Classifier
from .sag.graph import view_graph
from .sag.patches import upsampled_patch_masks
from .toy import PARTS, ToySample, ToyWorld, captions, classifier, dataset
from .views import GalleryView, GraphView, HeatmapView
from .views.explorer import close_widgets

__all__ = ["Classroom", "DEFAULT_BIRDS", "part_heat", "landed_parts", "score_guess", "covered_parts"]

#: The default birds, ``(species index, seed)`` in the default world: goldcap, hookbill, forktail, azure jay
#: (evidence on the head and eye, the beak, the tail, the crest or the wing); the toy classifier is sure of each.
DEFAULT_BIRDS = ((5, 42), (1, 42), (4, 2), (9, 42))
#: A part the map lands on is at least this fraction as hot as the hottest part.
LANDS_ON = 0.5
#: A SAG root covers a part when its patches hold at least this fraction of the part's pixels.
COVERS = 0.5
#: Captioned toy birds the text model learns its words from, and their seed (unseen by the default birds).
TEXT_IMAGES, TEXT_SEED = 220, 9601
#: I-GOS at its official defaults: about a second on 2 CPU cores.
IGOS_PARAMS: dict = {}
#: A small SAG: a narrower beam that stops at 3 roots, and a graph of the strong nodes only (one or two levels under
#: the roots), so that the search takes a second or two on 2 CPU cores and the graph fits a projector.
SAG_PARAMS: dict = {
    "baseline": "blur",
    "max_roots": 3,
    "beam_width": 2,
    "successors": 8,
    "expand_threshold": 0.7,
    "removals_per_node": 2,
}

BIG, HUGE = "22px", "28px"


# ------------------------------------------------------------------------------------------------- scoring
def part_heat(saliency: object, sample: ToySample) -> dict[str, float]:
    """How hot the map is on each part the bird shows.

    Args:
        saliency: ``[H, W]`` (or ``[1, 1, H, W]``) float map in [0, 1], high = important, at the image's size.
        sample: the toy bird, for its part masks.

    Returns:
        ``{part: heat}`` for every visible part in :data:`~xwidgets.toy.PARTS` order, heat = the map's mean inside
        the part over its mean on the whole image (1 = as hot as the average pixel, 0 for an all-zero map).
    """
    values = torch.as_tensor(saliency, dtype=torch.float32).reshape(sample.labels.shape).numpy()
    mean = float(values.mean())
    heat = {}
    for part in PARTS:
        mask = sample.part_mask(part)
        if mask.any():
            heat[part] = float(values[mask].mean()) / mean if mean > 0 else 0.0
    return heat


def landed_parts(heat: Mapping[str, float], share: float = LANDS_ON) -> list[str]:
    """The parts the map lands on: those at least ``share`` (0..1] as hot as the hottest, hottest first."""
    if not 0.0 < share <= 1.0:
        raise invalid("share", share, "a fraction in (0, 1]")
    top = max(heat.values(), default=0.0)
    if top <= 0:
        return []
    return sorted((p for p, h in heat.items() if h >= share * top), key=lambda p: -heat[p])


def score_guess(guess: Iterable[str], landed: Sequence[str]) -> dict[str, list[str]]:
    """Compare a guess with the parts the map lands on.

    Returns:
        ``{"found": guessed parts the map lands on, "missed": parts it lands on that were not guessed,
        "extra": guessed parts it does not land on}``, each in :data:`~xwidgets.toy.PARTS` order.
    """
    guessed = set(guess)
    unknown = guessed - set(PARTS)
    if unknown:
        raise invalid("guess", sorted(unknown), "parts among " + ", ".join(PARTS))
    ordered = [p for p in PARTS if p in guessed]
    return {
        "found": [p for p in ordered if p in landed],
        "missed": [p for p in PARTS if p in landed and p not in guessed],
        "extra": [p for p in ordered if p not in landed],
    }


def covered_parts(patches: Sequence[int], grid: int, sample: ToySample, share: float = COVERS) -> list[str]:
    """The parts a SAG root's patches (numbered row-major on a ``grid`` x ``grid`` grid) cover: at least
    ``share`` of the part's visible pixels fall inside them; in :data:`~xwidgets.toy.PARTS` order."""
    inside = upsampled_patch_masks([patches], grid, sample.labels.shape, "hard")[0, 0].numpy() > 0.5
    covered = []
    for part in PARTS:
        mask = sample.part_mask(part)
        if mask.any() and (mask & inside).sum() >= share * mask.sum():
            covered.append(part)
    return covered


# ------------------------------------------------------------------------------------------------- the demo
class Classroom(widgets.VBox):
    """Pick a bird, guess its deciding parts, reveal the I-GOS map, the SAG graph and the sentence.

    Args:
        model: the toy classifier (default :func:`xwidgets.toy.classifier`); an :class:`~xwidgets.Classifier`
            whose labels are the world's species names.
        birds: the toy birds to pick from, 1 to 8 :class:`~xwidgets.toy.ToySample` (default
            :data:`DEFAULT_BIRDS`).
        text_data: the captioned toy birds the sentence model is fitted on (default :data:`TEXT_IMAGES` birds of
            seed :data:`TEXT_SEED`); built on the first sentence.

    Attributes:
        picker: the birds (GalleryView); ``part_buttons`` ``{part: ToggleButton}``; ``reveal_buttons``
            ``{"map" | "graph" | "sentence": Button}``; ``image_view`` the chosen bird and its I-GOS map;
            ``verdict`` the score of the guess; ``graph_view`` the SAG; ``sentence`` the words; ``status`` what is
            being computed, or the last error.
    """

    def __init__(self, model: Classifier | None = None, birds: Sequence[ToySample] | None = None, *, text_data=None):
        self.model = classifier() if model is None else _checked_model(model)
        world = ToyWorld()
        self.world = world
        self.birds = [world.sample(*b) for b in DEFAULT_BIRDS] if birds is None else _checked_birds(birds)
        self._text_data = text_data
        self._maps: dict[int, np.ndarray] = {}
        self._graphs: dict[int, Any] = {}
        self._sentences: dict[int, tuple[str, list[str]]] = {}
        self._text_model: Any = None
        self.index = 0
        super().__init__(self._build(), layout=widgets.Layout(width="100%", padding="8px"))
        self.add_class("xw-classroom")
        self.pick(0)

    # ------------------------------------------------------------------------------------ layout
    def _build(self) -> list[widgets.Widget]:
        self.picker = GalleryView(
            [{"id": "birds", "items": [_bird_item(i, b) for i, b in enumerate(self.birds)]}],
            thumbnail_size=144,
            wrap=True,
            selected_item="bird0",
        )
        self.picker.add_class("xw-classroom-birds")
        self.picker.on_select(self._on_bird)
        self.part_buttons = {part: _toggle(part) for part in PARTS}
        for button in self.part_buttons.values():
            button.observe(self._on_guess, names="value")
        self.reveal_buttons = {
            "map": _button("Show the I-GOS map", "xw-reveal-map"),
            "graph": _button("Show the SAG graph", "xw-reveal-graph"),
            "sentence": _button("Read the sentence", "xw-reveal-sentence"),
        }
        for name, button in self.reveal_buttons.items():
            button.on_click(self._reveal_handler(name))
        self.status = _html("", "xw-classroom-status", size="18px")
        bird = self.birds[0]
        self.image_view = HeatmapView(bird.image, display_width=336, show_controls=False)
        self.image_view.add_class("xw-classroom-image")
        self.verdict = _html("", "xw-classroom-verdict")
        self.graph_view = GraphView([], thumbnail_size=112)
        self.graph_view.add_class("xw-classroom-graph")
        self.graph_text = _html("", "xw-classroom-graph-text")
        self.graph_box = widgets.VBox(
            [self.graph_text, self.graph_view], layout=widgets.Layout(display="none", margin="16px 0 0 0")
        )
        self.sentence = _html("", "xw-classroom-sentence")
        self.sentence.layout.display = "none"
        self.sentence.layout.margin = "16px 0 0 0"
        guess = widgets.HBox(list(self.part_buttons.values()), layout=widgets.Layout(flex_flow="row wrap"))
        guess.add_class("xw-classroom-guess")
        reveal = widgets.HBox(
            [*self.reveal_buttons.values(), self.status],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        steps = widgets.VBox(
            [
                _html("1. Pick a bird", "xw-classroom-step", size=HUGE, bold=True),
                self.picker,
                _html("2. Guess: which parts decide it?", "xw-classroom-step", size=HUGE, bold=True),
                guess,
                _html("3. Ask the model", "xw-classroom-step", size=HUGE, bold=True),
                reveal,
                self.verdict,
            ],
            layout=widgets.Layout(flex="1 1 0", min_width="0", margin="0 24px 0 0"),
        )
        # The map beside the steps: it shows up on the same screen as the button that reveals it.
        stage = widgets.HBox([steps, self.image_view], layout=widgets.Layout(align_items="flex-start"))
        return [_stylesheet(), stage, self.sentence, self.graph_box]

    def close(self) -> None:
        """Close the classroom and every widget it holds (the views, buttons and text lines, and their layouts)."""
        close_widgets(*vars(self).values())  # the widgets held as attributes, and the traits' (its layout)
        super().close()

    # ------------------------------------------------------------------------------------ actions
    @property
    def bird(self) -> ToySample:
        """The chosen bird."""
        return self.birds[self.index]

    @property
    def guess(self) -> list[str]:
        """The parts toggled on, in :data:`~xwidgets.toy.PARTS` order."""
        return [part for part, button in self.part_buttons.items() if button.value]

    @guess.setter
    def guess(self, parts: Iterable[str]) -> None:
        chosen = set(parts)
        unknown = chosen - set(PARTS)
        if unknown:
            raise invalid("guess", sorted(unknown), "parts among " + ", ".join(PARTS))
        for part, button in self.part_buttons.items():
            button.value = part in chosen

    def pick(self, index: int) -> None:
        """Choose bird ``index`` (0..len(birds) - 1): hides every reveal and clears the guess."""
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(self.birds):
            raise invalid("index", index, f"a bird index in 0..{len(self.birds) - 1}")
        self.index = index
        bird = self.bird
        self.guess = []
        self.image_view.set_data(bird.image, None)
        self.image_view.title = f"Bird {index + 1}: {bird.species_name}"
        self.verdict.value = _verdict_prompt()
        self.graph_box.layout.display = "none"
        self.graph_view.set_graph([], [])
        self.sentence.layout.display = "none"
        self.sentence.value = ""
        self.status.value = ""
        if self.picker.selected_item != f"bird{index}":
            self.picker.select(item=f"bird{index}")

    def reveal_map(self) -> np.ndarray:
        """Compute (once per bird) and draw the I-GOS map, and score the guess against it.
        Returns the ``[H, W]`` map in [0, 1]."""
        if self.index not in self._maps:
            result = self._computing(
                "the I-GOS map",
                lambda progress: explain(self.model, self.bird.image, method="igos", progress=progress, **IGOS_PARAMS),
            )
            self._maps[self.index] = result.saliency[0, 0].numpy()
        saliency = self._maps[self.index]
        self.image_view.set_data(None, saliency)
        self.image_view.title = "Where the model looks"
        self._draw_verdict()
        return saliency

    def reveal_graph(self) -> Any:
        """Compute (once per bird) and draw the SAG graph; returns the SAG result."""
        if self.index not in self._graphs:
            self._graphs[self.index] = self._computing(
                "the SAG graph",
                lambda progress: explain(self.model, self.bird.image, method="sag", progress=progress, **SAG_PARAMS),
            )
        result = self._graphs[self.index]
        nodes, edges = _graph_of(result)
        self.graph_view.set_graph(nodes, edges)
        self.graph_text.value = _graph_caption(result, self.bird)
        self.graph_box.layout.display = "flex"
        return result

    def reveal_sentence(self) -> str:
        """Fit the text model (once), explain the chosen bird in words and show them beside the toy world's rule;
        returns the sentence."""
        if self.index not in self._sentences:
            if self._text_model is None:
                self._text_model = self._computing("words from captioned birds (once)", self._fit_text)
            explanation = self._text_model.explain(self.bird.image, self.model, progress=False)
            self._sentences[self.index] = (explanation.sentences[0], list(explanation.sentence_phrases[0]))
        sentence, phrases = self._sentences[self.index]
        rule = self.world.species[self.bird.species].rule
        self.sentence.value = _sentence_html(sentence, phrases, self.bird.species_name, str(rule))
        self.sentence.layout.display = "block"
        return sentence

    # ------------------------------------------------------------------------------------ internals
    def _fit_text(self, progress) -> Any:
        data = dataset(TEXT_IMAGES, seed=TEXT_SEED) if self._text_data is None else self._text_data
        return fit(self.model, data, method="text", captions=captions(data), layer="features", progress=progress)

    def _computing(self, what: str, work: Callable[[Callable[[float, str], None]], Any]) -> Any:
        """Run ``work(progress)`` with the status line saying what is computed and how far it is."""

        def progress(fraction: float, _message: str = "") -> None:
            self.status.value = _status(f"computing {what}… {100 * fraction:.0f} %")

        self.status.value = _status(f"computing {what}…")
        result = work(progress)
        self.status.value = ""
        return result

    def _draw_verdict(self) -> None:
        if self.index not in self._maps:
            self.verdict.value = _verdict_prompt()
            return
        heat = part_heat(self._maps[self.index], self.bird)
        landed = landed_parts(heat)
        self.verdict.value = _verdict_html(heat, landed, self.guess, score_guess(self.guess, landed))

    def _on_guess(self, _change: dict) -> None:
        self._draw_verdict()

    def _on_bird(self, _group: str, item: str) -> None:
        if not item:  # the row's header was clicked: keep the chosen bird selected
            self.picker.select(item=f"bird{self.index}")
        elif item != f"bird{self.index}":
            self.pick(int(item.removeprefix("bird")))

    def _reveal_handler(self, name: str) -> Callable[[widgets.Button], None]:
        reveal = {"map": self.reveal_map, "graph": self.reveal_graph, "sentence": self.reveal_sentence}[name]

        def on_click(_button: widgets.Button) -> None:
            try:
                reveal()
            except Exception as error:  # a click handler's exception is otherwise lost: say it on screen
                self.status.value = _status(f"{type(error).__name__}: {error}", colour="#b00020")

        return on_click


# ------------------------------------------------------------------------------------------------- checks
def _checked_model(model: object) -> Classifier:
    if not isinstance(model, Classifier):
        raise invalid("model", type(model).__name__, "an xw.Classifier of the toy world (xw.toy.classifier())")
    return model


def _checked_birds(birds: object) -> list[ToySample]:
    if isinstance(birds, ToySample) or not isinstance(birds, Sequence) or not 1 <= len(birds) <= 8:
        raise invalid("birds", type(birds).__name__, "a list of 1 to 8 toy birds (xw.toy.ToySample)")
    for i, bird in enumerate(birds):
        if not isinstance(bird, ToySample):
            raise invalid(f"birds[{i}]", type(bird).__name__, "a toy bird (xw.toy.ToySample)")
    return list(birds)


# ------------------------------------------------------------------------------------------------- widgets
def _html(value: str, css_class: str, *, size: str = BIG, bold: bool = False) -> widgets.HTML:
    weight = "font-weight: 700;" if bold else ""
    box = widgets.HTML(value) if not value else widgets.HTML(f'<div style="font-size: {size}; {weight}">{value}</div>')
    box.add_class(css_class)
    box.add_class("xw-classroom-text")
    return box


def _stylesheet() -> widgets.HTML:
    """Projector-sized text inside the classroom's views (their own styles are sized for a laptop screen)."""
    sheet = widgets.HTML(
        "<style>"
        ".xw-classroom .xw-gallery .xw-gallery-caption {font-size: 20px; color: #24292f}"
        ".xw-classroom .xw-heatmap .xw-title {font-size: 22px}"
        ".xw-classroom .xw-heatmap .xw-legend {font-size: 16px}"
        ".xw-classroom .xw-graph .xw-graph-label {font-size: 16px}"
        "</style>"
    )
    sheet.add_class("xw-classroom-style")
    return sheet


def _toggle(part: str) -> widgets.ToggleButton:
    button = widgets.ToggleButton(
        description=part,
        tooltip=f"guess: the {part} decides it",
        layout=widgets.Layout(width="auto", height="48px", margin="4px 8px 4px 0"),
    )
    button.style.font_size = BIG
    button.add_class("xw-classroom-part")
    button.observe(_highlight, names="value")
    return button


def _highlight(change: dict) -> None:
    """A guessed part's button turns blue, so the class sees the guess from the back of the room."""
    change["owner"].button_style = "info" if change["new"] else ""


def _button(label: str, css_class: str) -> widgets.Button:
    button = widgets.Button(
        description=label, layout=widgets.Layout(width="auto", height="52px", margin="4px 12px 4px 0")
    )
    button.style.font_size = BIG
    button.style.font_weight = "bold"
    button.add_class(css_class)
    return button


def _bird_item(index: int, bird: ToySample) -> dict:
    return {"id": f"bird{index}", "image": bird.image, "caption": bird.species_name, "detail": bird.species_name}


def _status(text: str, colour: str = "#444") -> str:
    return f'<div style="font-size: 18px; color: {colour}">{html.escape(text)}</div>'


# ------------------------------------------------------------------------------------------------- texts
def _words(parts: Sequence[str]) -> str:
    """``["head", "eye"]`` -> ``"head and eye"``."""
    if not parts:
        return "none"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _verdict_prompt() -> str:
    return (
        f'<div style="font-size: {BIG}; max-width: 560px; line-height: 1.4">Toggle the parts you think decide it, '
        "then press <b>Show the I-GOS map</b>.</div>"
    )


def _verdict_html(heat: Mapping[str, float], landed: Sequence[str], guess: Sequence[str], score: Mapping) -> str:
    """The map's verdict on the guess, and one bar per visible part (its heat against the hottest part's)."""
    top = max(heat.values(), default=0.0) or 1.0
    lines = [f"The map lands on: <b>{_words(list(landed))}</b>"]
    if guess:
        lines.append(f"You found <b>{len(score['found'])} of {len(landed)}</b>: {_words(score['found'])}")
        if score["extra"]:
            lines.append(f"Not on the map: {_words(score['extra'])}")
    else:
        lines.append("You made no guess yet.")
    bars = "".join(_bar(part, value, top, part in landed, part in guess) for part, value in heat.items())
    return (
        f'<div style="font-size: {BIG}; line-height: 1.4; max-width: 560px">'
        + "".join(f"<div>{line}</div>" for line in lines)
        + f'<div style="margin-top: 10px; font-size: 18px">{bars}</div>'
        '<div style="font-size: 16px; color: #555">heat: the map\'s mean on the part, × its mean on the image</div>'
        "</div>"
    )


def _bar(part: str, value: float, top: float, landed: bool, guessed: bool) -> str:
    colour = "#e66100" if landed else "#9aa0a6"
    mark = " ★" if guessed else ""
    return (
        '<div style="display: flex; align-items: center; gap: 8px; white-space: nowrap">'
        f'<span style="width: 90px">{part}{mark}</span>'
        f'<span style="display: inline-block; height: 18px; width: {round(300 * value / top)}px; '
        f'background: {colour}"></span><span>×{value:.1f}</span></div>'
    )


def _graph_of(result: Any) -> tuple[list[dict], list[dict]]:
    """GraphView nodes and edges of a SAG result's first image, drawn as the SAGExplorer draws them."""
    nodes = result.nodes[0]
    images = result.insertion_images([n["patches"] for n in nodes]) if nodes else torch.empty(0)
    return view_graph(nodes, result.edges[0], list(images), result.floored[0])


def _graph_caption(result: Any, bird: ToySample) -> str:
    """What the graph says in words: each shown root, named by the parts it covers."""
    roots = [result.roots[0][i] for i in result.shown[0]]
    named = [_words(covered_parts(r["patches"], result.grid, bird)) for r in roots]
    items = "".join(f"<li>{html.escape(n)}</li>" for n in named) or "<li>none found</li>"
    return (
        f'<div style="font-size: {BIG}; line-height: 1.4"><b>SAG:</b> each picture in the top row keeps only a few '
        "patches of the bird, and that alone is enough for the model to keep its answer. Lower rows take one patch "
        "away; the percentage is how much of the answer is left."
        f'<div>Enough on their own:</div><ul style="margin: 4px 0">{items}</ul></div>'
    )


def _sentence_html(sentence: str, phrases: Sequence[str], species: str, rule: str) -> str:
    """The sentence with its phrases in bold, and the rule the toy world made the species with."""
    text = html.escape(sentence)
    for phrase in sorted(set(phrases), key=len, reverse=True):
        text = text.replace(html.escape(phrase), f"<b>{html.escape(phrase)}</b>", 1)
    return (
        f'<div style="font-size: {HUGE}; line-height: 1.4; max-width: 1100px">'
        f"<div>“{text}”</div>"
        f'<div style="font-size: {BIG}; color: #444; margin-top: 8px">The toy world\'s rule for a '
        f"{html.escape(species)}: <i>{html.escape(rule)}</i></div></div>"
    )
