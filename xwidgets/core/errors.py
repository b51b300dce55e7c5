"""The one error family of xwidgets.

Every check on user input raises an :class:`XWidgetsError` (or a subclass) whose message names the argument,
what was given and what was expected, e.g. ``target=1000 but the model has 1000 classes (0..999)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = [
    "XWidgetsError",
    "InvalidArgument",
    "Cancelled",
    "XWidgetsDeprecationWarning",
    "invalid",
    "describe",
    "one_of",
    "close_matches",
]


class XWidgetsError(Exception):
    """Base class of every error xwidgets raises on purpose."""


class InvalidArgument(XWidgetsError, ValueError):
    """An argument has the wrong type, shape, dtype, range, device or value.

    Attributes:
        argument: the name of the offending argument, as the caller spelled it.
        given: a short description of what was passed.
        expected: a short description of what is accepted.
    """

    def __init__(self, argument: str, given: str, expected: str):
        self.argument, self.given, self.expected = argument, given, expected
        super().__init__(f"{argument}: got {given}, expected {expected}")


class Cancelled(XWidgetsError):
    """A long computation was cancelled through its :class:`~xwidgets.core.runner.Progress`."""


class XWidgetsDeprecationWarning(DeprecationWarning):
    """An old name that still works for one release; the message names the new one.

    Every deprecation xwidgets raises uses this class, so it can be filtered on its own
    (``-W error::xwidgets.XWidgetsDeprecationWarning``) without touching other libraries' warnings.
    """


def invalid(argument: str, given: object, expected: str) -> InvalidArgument:
    """Build an :class:`InvalidArgument`; ``given`` may be a value (described briefly) or a ready string."""
    return InvalidArgument(argument, given if isinstance(given, str) else describe(given), expected)


def describe(value: object) -> str:
    """A short, readable description of a value for error messages (tensors and arrays by shape/dtype)."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        device = getattr(value, "device", None)
        where = f" on {device}" if device is not None else ""
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {dtype}{where}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def one_of(choices: Sequence[object], *, none: str = "nothing: there are no choices", limit: int = 30) -> str:
    """``"one of 'a', 'b'"`` for error messages; ``none`` when there are no choices (never an empty list).

    At most ``limit`` choices are shown, then ``"... (N in all)"``.
    """
    if not choices:
        return none
    shown = ", ".join(repr(c) for c in list(choices)[:limit])
    return "one of " + shown + (f", ... ({len(choices)} in all)" if len(choices) > limit else "")


def close_matches(word: str, choices: Sequence[str], *, count: int = 3) -> str:
    """``" (did you mean 'tabby', 'tiger cat'?)"`` for the choices closest to ``word`` (difflib, case-insensitive),
    or ``""`` when none is close."""
    lowered: dict[str, str] = {}
    for choice in choices:
        lowered.setdefault(str(choice).lower(), str(choice))
    found = difflib.get_close_matches(word.lower(), list(lowered), n=count, cutoff=0.7)
    return " (did you mean " + ", ".join(repr(lowered[f]) for f in found) + "?)" if found else ""
