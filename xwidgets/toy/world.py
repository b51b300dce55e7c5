"""Samples of the toy world: species-conforming attributes, rendered images, part maps, evidence and captions.

Every sample matches exactly one species. Half of the samples also carry a near miss of another species (all
but one condition of one of its clauses), so the model has to read the rules rather than a single cue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.errors import XWidgetsError, invalid
from .render import MIN_SIZE, render_bird
from .species import ATTRIBUTES, PART_IDS, PARTS, SPECIES, Species, check_species

__all__ = ["ToySample", "ToyPair", "ToyWorld", "ToyDataset", "dataset", "pairs"]

_MAX_TRIES = 400


@dataclass
class ToySample:
    """One toy image with its ground truth.

    Attributes:
        image: ``[H, W, 3]`` uint8 RGB.
        species: the species index in the world's species list; ``species_name`` its name.
        attributes: a value for every key of :data:`~xwidgets.toy.species.ATTRIBUTES`.
        labels: ``[H, W]`` uint8 part ids (:data:`~xwidgets.toy.species.PART_IDS`; 0 is background).
        evidence_parts: the parts the species rule depends on for this sample (the clauses it satisfies).
        captions: 3 to 5 sentences generated from the attributes.
        seed: the seed that reproduces the sample with :meth:`ToyWorld.sample`.
        evidence_conditions: the conditions ``"part.attribute" -> value`` of the clauses the sample satisfies.
    """

    image: np.ndarray
    species: int
    species_name: str
    attributes: dict[str, str]
    labels: np.ndarray
    evidence_parts: tuple[str, ...]
    captions: list[str]
    seed: int
    evidence_conditions: dict[str, str] = field(default_factory=dict)

    @property
    def description(self) -> str:
        """A complete, truthful caption naming every visible part with all its attributes."""
        return "a bird with " + ", ".join(_phrases(self.attributes).values()) + "."

    @property
    def evidence_phrases(self) -> list[str]:
        """One phrase per evidence condition that words can name, e.g. ``["yellow head", "red eyes"]``
        (a crest's presence and a plain pattern have no adjective, so they are left out)."""
        phrases = (condition_phrase(key, value) for key, value in self.evidence_conditions.items())
        return [p for p in phrases if p is not None]

    @property
    def evidence(self) -> np.ndarray:
        """``[H, W]`` bool mask of the evidence parts' pixels."""
        return np.isin(self.labels, [PART_IDS[p] for p in self.evidence_parts])

    def part_mask(self, part: str) -> np.ndarray:
        """``[H, W]`` bool mask of one part's visible pixels."""
        if part not in PART_IDS:
            raise invalid("part", part, "one of " + ", ".join(PARTS))
        return self.labels == PART_IDS[part]

    @property
    def tensor(self) -> torch.Tensor:
        """The image as a ``[3, H, W]`` float tensor in [0, 1]."""
        return torch.from_numpy(self.image).permute(2, 0, 1).float().div(255.0)


@dataclass
class ToyPair:
    """Two samples and the attributes they share (``{key: value}`` where both agree)."""

    first: ToySample
    second: ToySample
    shared: dict[str, str] = field(default_factory=dict)


class ToyWorld:
    """A configured world: its species and image size.

    Args:
        species: the species (default :data:`~xwidgets.toy.species.SPECIES`).
        size: the image side in pixels (default 112, at least 64).
        near_miss: the fraction of samples that carry a near miss of another species.
    """

    def __init__(self, species: Sequence[Species] = SPECIES, size: int = 112, near_miss: float = 0.5):
        check_species(species)
        if not isinstance(size, int) or isinstance(size, bool) or size < MIN_SIZE:
            raise invalid(
                "size", size, f"an int of at least {MIN_SIZE}: smaller images cannot show the eye, legs and patterns"
            )
        if not 0.0 <= near_miss <= 1.0:
            raise invalid("near_miss", near_miss, "a fraction in [0, 1]")
        self.species = tuple(species)
        self.size = size
        self.near_miss = near_miss

    # ------------------------------------------------------------------------------- attributes
    def matching(self, attributes: dict[str, str]) -> list[int]:
        """The indices of the species whose rule ``attributes`` satisfy."""
        return [i for i, s in enumerate(self.species) if s.matches(attributes)]

    def sample_attributes(self, species: int, rng: np.random.Generator) -> tuple[dict[str, str], tuple[str, ...]]:
        """Attributes that satisfy ``species`` and no other, and the evidence parts they show."""
        if not isinstance(species, (int, np.integer)) or not 0 <= species < len(self.species):
            raise invalid("species", species, f"a species index in 0..{len(self.species) - 1}")
        target = self.species[species]
        for _ in range(_MAX_TRIES):
            attributes = {key: values[rng.integers(len(values))] for key, values in ATTRIBUTES.items()}
            if rng.random() < self.near_miss:
                self._add_near_miss(attributes, species, rng)
            chosen = [int(rng.integers(len(target.clauses)))]
            if target.disjunctive and rng.random() < 0.3:
                chosen = list(range(len(target.clauses)))
            for index in chosen:
                attributes.update(target.clauses[index])
            if self.matching(attributes) == [species]:
                parts = sorted({p for i in target.matches(attributes) for p in target.clause_parts(i)}, key=PARTS.index)
                return attributes, tuple(parts)
        raise XWidgetsError(
            f"species {target.name!r} has no possible sample: in {_MAX_TRIES} tries every sample "
            f"that satisfies '{target.rule}' also matched another species"
        )

    def _add_near_miss(self, attributes: dict[str, str], species: int, rng: np.random.Generator) -> None:
        other = self.species[(species + 1 + int(rng.integers(len(self.species) - 1))) % len(self.species)]
        clause = other.clauses[int(rng.integers(len(other.clauses)))]
        attributes.update(clause)
        key = list(clause)[int(rng.integers(len(clause)))]
        choices = [v for v in ATTRIBUTES[key] if v != clause[key]]
        attributes[key] = choices[int(rng.integers(len(choices)))]

    # ---------------------------------------------------------------------------------- samples
    def sample(self, species: int, seed: int) -> ToySample:
        """One sample of ``species``, reproducible from ``seed``."""
        rng = np.random.default_rng([int(seed), int(species)])
        attributes, evidence_parts = self.sample_attributes(species, rng)
        image, labels = render_bird(attributes, rng, self.size)
        captions = make_captions(attributes, evidence_parts, rng)
        target = self.species[species]
        conditions = {k: v for i in target.matches(attributes) for k, v in target.clauses[i].items()}
        return ToySample(
            image, int(species), target.name, attributes, labels, evidence_parts, captions, int(seed), conditions
        )

    def samples(self, n: int, seed: int = 0) -> list[ToySample]:
        """``n`` samples with species cycling through the list (balanced), reproducible from ``seed``."""
        if not isinstance(n, int) or n < 1:
            raise invalid("n", n, "a positive number of samples")
        base = np.random.default_rng(int(seed)).integers(0, 2**31, size=n)
        return [self.sample(i % len(self.species), int(base[i])) for i in range(n)]


def make_captions(attributes: dict[str, str], evidence_parts: Sequence[str], rng: np.random.Generator) -> list[str]:
    """3 to 5 captions of varied templates, each naming 1 to 3 attribute phrases (evidence parts twice as likely)."""
    phrases = _phrases(attributes)
    parts = list(phrases)
    weights = np.array([2.0 if p in evidence_parts else 1.0 for p in parts])
    captions = []
    for _ in range(int(rng.integers(3, 6))):
        count = int(rng.integers(1, 4))
        picked = rng.choice(len(parts), size=count, replace=False, p=weights / weights.sum())
        chosen = [phrases[parts[i]] for i in picked]
        template = _TEMPLATES[count][int(rng.integers(len(_TEMPLATES[count])))]
        captions.append(template.format(*chosen))
    return captions


_TEMPLATES = {
    1: ("a small bird with {}.", "this bird has {}.", "a bird that shows {}."),
    2: ("a small bird with {} and {}.", "this bird has {} and {}.", "{} and {} mark this little bird."),
    3: ("a small bird with {}, {} and {}.", "this bird has {}, {} and {}.", "a little bird with {}, {}, and {}."),
}


_PATTERN_WORDS = {"plain": "", "striped": "striped ", "spotted": "spotted "}
_TAIL_WORDS = {"fan": "fan-shaped", "fork": "forked", "pointed": "pointed"}
_PART_NOUNS = {"eye": "eyes", "wing": "wings"}


def condition_phrase(key: str, value: str) -> str | None:
    """The words captions use for one condition, e.g. ``("wing.pattern", "spotted")`` -> ``"spotted wings"``;
    None for a condition without an adjective (a crest's presence or absence, a plain pattern)."""
    if key not in ATTRIBUTES or value not in ATTRIBUTES[key]:
        raise invalid("condition", f"{key}={value!r}", "an attribute of xw.toy.ATTRIBUTES with one of its values")
    part = key.split(".")[0]
    if key == "crest.shape" or value == "plain":
        return None
    adjective = _TAIL_WORDS[value] if key == "tail.shape" else value
    return f"{adjective} {_PART_NOUNS.get(part, part)}"


def _phrases(a: dict[str, str]) -> dict[str, str]:
    pattern, tail = _PATTERN_WORDS, _TAIL_WORDS
    phrases = {
        "head": f"a {a['head.color']} head",
        "beak": f"a {a['beak.shape']} {a['beak.color']} beak",
        "eye": f"{a['eye.color']} eyes",
        "body": f"a {pattern[a['body.pattern']]}{a['body.color']} body",
        "wing": f"{pattern[a['wing.pattern']]}{a['wing.color']} wings",
        "tail": f"a {tail[a['tail.shape']]} {a['tail.color']} tail",
        "legs": f"{a['legs.color']} legs",
    }
    if a["crest.shape"] == "present":
        phrases["crest"] = f"a {a['crest.color']} crest"
    return phrases


class ToyDataset(torch.utils.data.Dataset):
    """A torch dataset of toy samples: item ``i`` is ``(image [3, H, W] float in [0, 1], species index)``."""

    def __init__(self, samples: Sequence[ToySample], world: ToyWorld):
        self.samples = list(samples)
        self.world = world

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[index]
        return sample.tensor, sample.species

    def images(self) -> torch.Tensor:
        """All images as one ``[N, 3, H, W]`` float batch."""
        return torch.stack([s.tensor for s in self.samples])

    def targets(self) -> torch.Tensor:
        """All species indices, ``[N]`` long."""
        return torch.tensor([s.species for s in self.samples])


def dataset(n: int, seed: int = 0, *, size: int = 112, species: Sequence[Species] = SPECIES) -> ToyDataset:
    """``n`` balanced toy samples as a :class:`ToyDataset`, reproducible from ``seed``."""
    world = ToyWorld(species, size)
    return ToyDataset(world.samples(n, seed), world)


def pairs(n: int, seed: int = 0, *, size: int = 112, species: Sequence[Species] = SPECIES) -> list[ToyPair]:
    """``n`` pairs of samples of random species, each with the attributes the two share."""
    world = ToyWorld(species, size)
    rng = np.random.default_rng(int(seed))
    result = []
    for _ in range(n if isinstance(n, int) and n > 0 else _bad_count(n)):
        a, b = (world.sample(int(rng.integers(len(world.species))), int(rng.integers(2**31))) for _ in range(2))
        shared = {k: v for k, v in a.attributes.items() if b.attributes[k] == v}
        result.append(ToyPair(a, b, shared))
    return result


def _bad_count(n: object) -> int:
    raise invalid("n", n, "a positive number of pairs")
