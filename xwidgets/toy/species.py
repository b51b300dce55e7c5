"""The toy world's vocabulary and species: part attributes, and species rules kept as data.

A rule is a disjunction of clauses; a clause is a conjunction of conditions ``"part.attribute" == value``. A
sample belongs to a species when one of its clauses holds, and the world only generates samples that match
exactly one species. Disjunctive species (several clauses over different parts) are the cases where a good
explainer should find several explanations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..core.errors import XWidgetsError, invalid

__all__ = ["COLORS", "PARTS", "PART_IDS", "ATTRIBUTES", "Species", "SPECIES", "check_species"]

#: Bird colours, RGB uint8. Backgrounds reuse them, so colour alone never decides a species.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "orange": (245, 140, 25),
    "yellow": (240, 214, 40),
    "green": (44, 160, 44),
    "blue": (31, 90, 220),
    "purple": (148, 72, 189),
    "black": (28, 28, 28),
    "white": (245, 245, 245),
    "brown": (140, 86, 45),
}

#: Parts in drawing order's label ids (0 is the background).
PARTS = ("head", "beak", "eye", "crest", "body", "wing", "tail", "legs")
PART_IDS = {part: index + 1 for index, part in enumerate(PARTS)}

_colors = tuple(COLORS)
#: Every attribute ``"part.attribute"`` with its possible values.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "head.color": _colors,
    "beak.shape": ("short", "long", "hooked"),
    "beak.color": _colors,
    "eye.color": _colors,
    "crest.shape": ("present", "absent"),
    "crest.color": _colors,
    "body.color": _colors,
    "body.pattern": ("plain", "striped", "spotted"),
    "wing.color": _colors,
    "wing.pattern": ("plain", "striped", "spotted"),
    "tail.shape": ("fan", "fork", "pointed"),
    "tail.color": _colors,
    "legs.color": _colors,
}


@dataclass(frozen=True)
class Species:
    """One species: a name and its rule, a tuple of clauses (each a mapping attribute -> value)."""

    name: str
    clauses: tuple[Mapping[str, str], ...]

    @property
    def disjunctive(self) -> bool:
        """True when the rule has several clauses (several pieces of evidence each suffice)."""
        return len(self.clauses) > 1

    def matches(self, attributes: Mapping[str, str]) -> list[int]:
        """The indices of the clauses that ``attributes`` satisfy (empty: not this species)."""
        return [i for i, clause in enumerate(self.clauses) if _holds(clause, attributes)]

    def clause_parts(self, index: int) -> tuple[str, ...]:
        """The parts clause ``index`` depends on."""
        return tuple(sorted({key.split(".")[0] for key in self.clauses[index]}, key=PARTS.index))

    @property
    def rule(self) -> str:
        """A readable rule, e.g. ``crest is present and red  OR  beak is long and red``."""
        return "  OR  ".join(_clause_text(clause) for clause in self.clauses)


def _holds(clause: Mapping[str, str], attributes: Mapping[str, str]) -> bool:
    if any(attributes.get(key) != value for key, value in clause.items()):
        return False
    return "crest.color" not in clause or attributes.get("crest.shape") == "present"  # an absent crest has no colour


def _clause_text(clause: Mapping[str, str]) -> str:
    by_part: dict[str, list[str]] = {}
    for key, value in clause.items():
        part, _ = key.split(".")
        by_part.setdefault(part, []).append(value)
    verb = {"legs": "legs are", "eye": "eyes are"}
    return " and ".join(verb.get(part, f"{part} is") + " " + " and ".join(values) for part, values in by_part.items())


def check_species(species: Sequence[Species]) -> None:
    """Raise ``XWidgetsError`` for a rule that no sample could satisfy (unknown attribute or value,
    contradictory conditions) or duplicate names. Rules shadowed by other species are caught when sampling."""
    names = [s.name for s in species]
    if len(set(names)) != len(names):
        raise invalid("species", names, "unique species names")
    if len(species) < 2:
        raise invalid("species", f"{len(species)} species", "at least two species")
    for s in species:
        if not s.clauses:
            raise XWidgetsError(f"species {s.name!r} has no possible sample: its rule has no clause")
        for clause in s.clauses:
            for key, value in clause.items():
                if key not in ATTRIBUTES:
                    raise XWidgetsError(
                        f"species {s.name!r} has no possible sample: unknown attribute {key!r} "
                        f"(known: {', '.join(ATTRIBUTES)})"
                    )
                if value not in ATTRIBUTES[key]:
                    raise XWidgetsError(
                        f"species {s.name!r} has no possible sample: {key} cannot be {value!r} "
                        f"(possible: {', '.join(ATTRIBUTES[key])})"
                    )
            if "crest.color" in clause and clause.get("crest.shape") == "absent":
                raise XWidgetsError(f"species {s.name!r} has no possible sample: an absent crest has no colour")


#: The shipped species. Six are conjunctive and four disjunctive (two parts, each sufficient).
SPECIES: tuple[Species, ...] = (
    Species("scarlet crestling", ({"crest.shape": "present", "crest.color": "red"},)),
    Species("hookbill", ({"beak.shape": "hooked", "beak.color": "yellow"},)),
    Species("zebra warbler", ({"body.pattern": "striped", "body.color": "white"},)),
    Species("spotwing", ({"wing.pattern": "spotted", "wing.color": "blue"},)),
    Species("forktail", ({"tail.shape": "fork", "tail.color": "black"},)),
    Species("goldcap", ({"head.color": "yellow", "eye.color": "red"},)),
    Species("ember thrush", ({"body.color": "orange", "wing.pattern": "striped"},)),
    Species("twinmark", ({"tail.shape": "fan", "tail.color": "purple"}, {"beak.shape": "long", "beak.color": "red"})),
    Species("meadow tanager", ({"legs.color": "red"}, {"head.color": "green"})),
    Species(
        "azure jay",
        ({"crest.shape": "present", "crest.color": "blue"}, {"wing.color": "purple", "wing.pattern": "plain"}),
    ),
    Species(
        "ashy shrike",
        ({"body.color": "black", "body.pattern": "spotted"}, {"tail.shape": "pointed", "tail.color": "white"}),
    ),
)
