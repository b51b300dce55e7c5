"""Parameter declarations: every method declares its parameters once, with type, default, range and a doc line.

Methods validate their keyword arguments with :meth:`ParamSet.resolve`; explorers build their controls from the
same declarations (:mod:`xwidgets.views.controls`), and error messages quote them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .errors import close_matches, invalid, one_of

__all__ = ["Param", "ParamSet", "check_seed", "SEED_LIMIT"]

SEED_LIMIT = 2**63
"""Seeds are whole numbers in ``0 .. SEED_LIMIT - 1``: what a torch generator takes and a result file's int64 holds."""

_KINDS = ("float", "int", "bool", "choice")


@dataclass(frozen=True)
class Param:
    """One declared parameter.

    Attributes:
        name: the keyword argument's name.
        kind: ``"float"``, ``"int"``, ``"bool"`` or ``"choice"``.
        default: the default value (from the method's official code where there is one).
        doc: one line saying what it does, with its unit.
        low, high: the inclusive range of a number (either may be None for unbounded).
        choices: the allowed values of a ``"choice"``.
        log: a number whose control should move on a log scale (e.g. a learning rate).
        step: the control's step for a number (a hint for views; not enforced).
        label: the control's readable name (e.g. ``"step size (alpha)"``; None: ``name``). Only views read it: the
            keyword stays ``name``.
        slider: the span ``(low, high)`` a number's slider shows, inside the allowed range (None: the allowed
            range): the allowed range is for the API, this one is where values are useful. A hint for views; a
            value outside it widens the slider to include it.
    """

    name: str
    kind: str
    default: object
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    log: bool = False
    step: float | None = None
    label: str | None = None
    slider: tuple[float, float] | None = None

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise invalid("kind", self.kind, f"one of {_KINDS}")
        if self.kind == "choice" and self.default not in self.choices:
            raise invalid("default", self.default, f"one of the choices {self.choices}")
        if self.log and (self.low is None or self.low <= 0):
            raise invalid("low", self.low, "a positive lower bound for a log-scale parameter")
        if self.label is not None and (not isinstance(self.label, str) or not self.label.strip()):
            raise invalid("label", self.label, "a non-empty string (or None for the name)")
        if self.slider is not None:
            self._check_slider(self.slider)
        self.check(self.default)

    @property
    def display_name(self) -> str:
        """What a control calls the parameter: its :attr:`label`, else its name."""
        return self.label or self.name

    def slider_span(self, value: float) -> tuple[float, float]:
        """The span a slider shows for a number now at ``value``: :attr:`slider` (else the allowed range) widened
        to include ``value``."""
        low, high = self.slider if self.slider is not None else (self.low, self.high)
        if low is None or high is None:
            raise invalid(self.name, self.range_text(), "a bounded range or a slider span for a slider")
        return min(low, value), max(high, value)

    def _check_slider(self, span: object) -> None:
        """A slider span is two numbers ``low < high`` inside the allowed range (so positive on a log scale)."""
        expected = f"two numbers (low, high), low < high, inside {self.range_text()}"
        if self.kind not in ("int", "float"):
            raise invalid("slider", span, f"None: {self.name} is a {self.kind}, not a number")
        if (
            not isinstance(span, tuple)
            or len(span) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in span)
        ):
            raise invalid("slider", span, expected)
        low, high = span
        if not low < high or (self.low is not None and low < self.low) or (self.high is not None and high > self.high):
            raise invalid("slider", span, expected)

    def check(self, value: object, *, prefix: str = "") -> object:
        """Return ``value`` coerced to this parameter's type, or raise ``InvalidArgument`` naming it."""
        name = prefix + self.name
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise invalid(name, value, "True or False")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                hint = close_matches(value, self.choices) if isinstance(value, str) else ""
                raise invalid(name, repr(value), one_of(self.choices) + hint)
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid(name, value, f"a number ({self.kind})")
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise invalid(name, value, "a whole number")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise invalid(name, value, "a finite number")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise invalid(name, value, f"a value in {self.range_text()}")
        return value

    def range_text(self) -> str:
        """The range as text, e.g. ``[0, 1]`` or ``[1, inf)``."""
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{'(' if self.low is None else '['}{low}, {high}{')' if self.high is None else ']'}"


class ParamSet(Mapping):
    """The ordered parameters of one method; a read-only mapping from name to :class:`Param`."""

    def __init__(self, method: str, *params: Param):
        self.method = method
        self._params = {p.name: p for p in params}
        if len(self._params) != len(params):
            raise invalid("params", [p.name for p in params], "unique parameter names")

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def defaults(self) -> dict:
        """Every parameter's default value."""
        return {name: p.default for name, p in self._params.items()}

    def resolve(self, overrides: Mapping[str, object] | None = None) -> dict:
        """Defaults updated with ``overrides``, each validated; an unknown name raises ``InvalidArgument``."""
        values = self.defaults()
        for name, value in (overrides or {}).items():
            if not isinstance(name, str):
                raise invalid("params", f"the key {name!r}", "parameter names (str): " + one_of(list(self._params)))
            if name not in self._params:
                raise invalid(
                    name,
                    f"an unknown parameter of {self.method}",
                    one_of(list(self._params), none=f"none: {self.method} has no tunable parameters")
                    + close_matches(name, list(self._params)),
                )
            values[name] = self._params[name].check(value)
        return values

    def doc(self) -> str:
        """A plain-text table of the parameters, for docstrings and help panels."""
        lines = []
        for p in self._params.values():
            allowed = (
                ", ".join(map(repr, p.choices))
                if p.kind == "choice"
                else "True or False"
                if p.kind == "bool"
                else p.range_text()
            )
            lines.append(f"{p.name} ({p.kind}, default {p.default!r}, {allowed}): {p.doc}")
        return "\n".join(lines)


def check_seed(seed: object, *, name: str = "seed") -> int:
    """``seed`` as an int, or ``InvalidArgument`` naming ``name``: a whole number (a Python or numpy integer, not a
    bool) in ``0 .. 2**63 - 1``."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < SEED_LIMIT:
        raise invalid(name, seed, f"a whole number in 0..{SEED_LIMIT - 1}")
    return int(seed)
