"""The attribute vocabulary: adjective–part phrases mined from captions, and the captions' p(a|x).

An **attribute** is an adjective of a known kind (colour, pattern or shape) applied to a part noun, e.g.
"red wing" from "a bird with bright red wings". The :class:`Lexicon` says which words are adjectives (and of which
kind), which nouns name which part (``"bill"`` and ``"beak"`` are one part; ``"wings"`` is ``"wing"``), and how a
part is written in a sentence. Mining walks back from each part noun over the adjectives before it, so
"a long red beak" gives "long beak" and "red beak", and "black and white wings" gives "black wing" and
"white wing"; any other word ends the run, so in "a red head and blue wings" the wings are only blue.

Captions give each image an empirical attribute distribution (``docs/text.md``)::

    p(a|x) = n(a, x) / Σ_a' n(a', x)

where ``n(a, x)`` counts the mentions of ``a`` over the captions of image ``x``. An image whose captions name no
attribute of the vocabulary has no distribution; :func:`caption_distribution` gives it a row of zeros rather than
inventing one.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from ..core.errors import invalid

__all__ = [
    "Lexicon",
    "BIRD_LEXICON",
    "Vocabulary",
    "mine_attributes",
    "build_vocabulary",
    "caption_distribution",
    "check_captions",
]

_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


@dataclasses.dataclass(frozen=True)
class Lexicon:
    """The words mining knows.

    Attributes:
        adjectives: adjective -> its kind (``"colour"``, ``"pattern"``, ``"shape"``); spelling variants map to one
            canonical adjective through ``synonyms``.
        parts: noun (any number and synonym) -> the canonical part, e.g. ``{"wings": "wing", "bill": "beak"}``.
        plural_parts: parts written in the plural without an article in sentences ("red eyes", "striped wings").
        synonyms: word -> canonical word applied before lookup (e.g. ``{"gray": "grey"}``).
    """

    adjectives: Mapping[str, str]
    parts: Mapping[str, str]
    plural_parts: frozenset = frozenset()
    synonyms: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.adjectives, Mapping) or not self.adjectives:
            raise invalid("adjectives", self.adjectives, "a non-empty mapping adjective -> kind")
        if not isinstance(self.parts, Mapping) or not self.parts:
            raise invalid("parts", self.parts, "a non-empty mapping noun -> part")
        for word in (*self.adjectives, *self.parts):
            if not isinstance(word, str) or not _WORD.fullmatch(word):
                raise invalid("lexicon word", repr(word), "a lower-case word (letters and hyphens)")
        clash = set(self.adjectives) & set(self.parts)
        if clash:
            raise invalid(
                "lexicon", f"words that are both adjective and part: {sorted(clash)}", "each word in one role"
            )

    def canonical(self, word: str) -> str:
        return self.synonyms.get(word, word)

    def phrase(self, attribute: str) -> str:
        """How an attribute id such as ``"red eye"`` reads in a sentence: ``"red eyes"``, ``"a red head"``."""
        return self.render(attribute.rsplit(" ", 1)[1], attribute.rsplit(" ", 1)[0].split(" "))

    def render(self, part: str, adjectives: Sequence[str]) -> str:
        """A part with its adjectives (shape, pattern, then colour), e.g. ``"spotted blue wings"``."""
        order = {"shape": 0, "pattern": 1, "colour": 2}
        words = sorted(adjectives, key=lambda a: order.get(self.adjectives.get(a, ""), 3))
        if part in self.plural_parts:
            return " ".join([*words, _plural(part)])
        text = " ".join([*words, part])
        return ("an " if text[0] in "aeiou" else "a ") + text


def _plural(part: str) -> str:
    return part if part.endswith("s") else part + "s"


_COLOURS = (
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "black",
    "white",
    "brown",
    "grey",
    "pink",
    "buff",
    "olive",
    "rufous",
    "tan",
    "cream",
    "iridescent",
)
_PATTERNS = ("striped", "spotted", "speckled", "streaked", "barred", "mottled", "solid")
_SHAPES = (
    "long",
    "short",
    "hooked",
    "pointed",
    "forked",
    "fan-shaped",
    "curved",
    "rounded",
    "notched",
    "thick",
    "thin",
    "sharp",
)

#: A lexicon for bird captions: the toy world's words and the common ones of CUB-200 captions (Reed et al.).
BIRD_LEXICON = Lexicon(
    adjectives={
        **{c: "colour" for c in _COLOURS},
        **{p: "pattern" for p in _PATTERNS},
        **{s: "shape" for s in _SHAPES},
    },
    parts={
        "head": "head",
        "crown": "crown",
        "beak": "beak",
        "bill": "beak",
        "beaks": "beak",
        "bills": "beak",
        "eye": "eye",
        "eyes": "eye",
        "crest": "crest",
        "body": "body",
        "belly": "belly",
        "breast": "breast",
        "throat": "throat",
        "back": "back",
        "wing": "wing",
        "wings": "wing",
        "tail": "tail",
        "tails": "tail",
        "leg": "legs",
        "legs": "legs",
        "feet": "legs",
        "tarsus": "legs",
        "nape": "nape",
    },
    plural_parts=frozenset({"eye", "wing", "legs"}),
    synonyms={
        "gray": "grey",
        "stripes": "striped",
        "stripy": "striped",
        "spots": "spotted",
        "fanned": "fan-shaped",
        "fork": "forked",
    },
)


def mine_attributes(caption: str, lexicon: Lexicon = BIRD_LEXICON) -> list[str]:
    """The attributes one caption names, in order, as ``"adjective part"`` ids (repeats kept)."""
    if not isinstance(caption, str):
        raise invalid("caption", type(caption).__name__, "a string")
    words = [lexicon.canonical(w) for w in _WORD.findall(caption.lower())]
    found: list[str] = []
    for i, word in enumerate(words):
        part = lexicon.parts.get(word)
        if part is None:
            continue
        j, run = i - 1, []
        while j >= 0:
            if words[j] in lexicon.adjectives:
                run.append(words[j])
            elif not (words[j] == "and" and j > 0 and words[j - 1] in lexicon.adjectives and run):
                break
            j -= 1
        found.extend(f"{adjective} {part}" for adjective in reversed(run))
    return found


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """The attributes a model describes images with.

    Attributes:
        attributes: attribute ids ``"adjective part"``, sorted by part then adjective.
        image_counts: for each attribute, the number of images whose captions name it.
        lexicon: the lexicon the attributes were mined with (renders them in sentences).
    """

    attributes: tuple[str, ...]
    image_counts: tuple[int, ...]
    lexicon: Lexicon = BIRD_LEXICON

    def __len__(self) -> int:
        return len(self.attributes)

    def index(self, attribute: object) -> int:
        """The position of an attribute id, or of its phrase (``"red eyes"``); raises naming the known ones."""
        if isinstance(attribute, str):
            if attribute in self._positions:
                return self._positions[attribute]
            mined = mine_attributes(attribute, self.lexicon)
            if len(mined) == 1 and mined[0] in self._positions:
                return self._positions[mined[0]]
        shown = ", ".join(self.attributes[:12]) + (" …" if len(self.attributes) > 12 else "")
        raise invalid("attribute", repr(attribute), f"an attribute of the vocabulary ({shown})")

    @property
    def _positions(self) -> dict[str, int]:
        return {a: i for i, a in enumerate(self.attributes)}

    def part(self, attribute: int | str) -> str:
        """The part an attribute describes."""
        name = self.attributes[attribute] if isinstance(attribute, int) else attribute
        return name.rsplit(" ", 1)[1]

    def adjective(self, attribute: int | str) -> str:
        name = self.attributes[attribute] if isinstance(attribute, int) else attribute
        return name.rsplit(" ", 1)[0]

    def phrase(self, attribute: int | str) -> str:
        """How the attribute reads in a sentence, e.g. ``"red eyes"``."""
        name = self.attributes[attribute] if isinstance(attribute, int) else attribute
        return self.lexicon.phrase(name)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.part(i) for i in range(len(self)))


def check_captions(captions: object, count: int | None = None, name: str = "captions") -> list[list[str]]:
    """``captions`` as a list (one per image) of lists of strings; one string per image is one caption.

    Raises when the count differs from ``count`` images, or when an image has no caption (naming the images).
    """
    if isinstance(captions, (str, bytes)) or not isinstance(captions, Sequence):
        raise invalid(name, type(captions).__name__, "a list with one list of caption strings per image")
    result = []
    for i, item in enumerate(captions):
        texts = [item] if isinstance(item, str) else item
        if not isinstance(texts, Sequence) or not all(isinstance(t, str) for t in texts):
            raise invalid(
                f"{name}[{i}]", f"an object of type {type(item).__name__}", "a list of caption strings (or one string)"
            )
        result.append([t for t in texts if t.strip()])
    if count is not None and len(result) != count:
        raise invalid(name, f"captions for {len(result)} images", f"captions for each of the {count} images")
    missing = [i for i, texts in enumerate(result) if not texts]
    if missing:
        raise invalid(
            name,
            f"no caption for {len(missing)} image(s), e.g. images {missing[:10]}",
            "at least one caption per image",
        )
    return result


def build_vocabulary(captions: object, lexicon: Lexicon = BIRD_LEXICON, *, min_images: int = 5) -> Vocabulary:
    """The attributes named in the captions of at least ``min_images`` images.

    Raises when none is (naming the most frequent candidates), since a model cannot describe with no words.
    """
    captions = check_captions(captions)
    if not isinstance(lexicon, Lexicon):
        raise invalid("lexicon", type(lexicon).__name__, "an xw.text.Lexicon")
    if isinstance(min_images, bool) or not isinstance(min_images, int) or min_images < 1:
        raise invalid("min_images", min_images, "a positive int")
    counts: Counter = Counter()
    for texts in captions:
        counts.update({a for text in texts for a in mine_attributes(text, lexicon)})
    kept = [a for a, n in counts.items() if n >= min_images]
    if not kept:
        seen = ", ".join(f"{a} ({n})" for a, n in counts.most_common(5)) or "none"
        raise invalid(
            "captions",
            f"no attribute named in at least min_images={min_images} images (most frequent: {seen})",
            "captions that pair the lexicon's adjectives with its part nouns, e.g. "
            "'a bird with red wings'; or a smaller min_images, or a lexicon with your words",
        )
    kept.sort(key=lambda a: (a.rsplit(" ", 1)[1], a.rsplit(" ", 1)[0]))
    return Vocabulary(tuple(kept), tuple(counts[a] for a in kept), lexicon)


def caption_distribution(vocabulary: Vocabulary, captions: object) -> np.ndarray:
    """``[N, A]`` float64: p(a|x) from each image's captions (mention counts normalised per image).

    An image whose captions name no vocabulary attribute gets a row of zeros (it has no distribution;
    :func:`~xwidgets.text.fit` leaves such images out of the marginalisation and counts them).
    """
    captions = check_captions(captions)
    positions = vocabulary._positions
    counts = np.zeros((len(captions), len(vocabulary)))
    for n, texts in enumerate(captions):
        for text in texts:
            for attribute in mine_attributes(text, vocabulary.lexicon):
                if attribute in positions:
                    counts[n, positions[attribute]] += 1
    totals = counts.sum(1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
