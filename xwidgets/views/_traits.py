"""Synced traits whose errors are ``XWidgetsError``\\ s naming the trait, for the views.

traitlets refuses a value of the wrong type (``view.alpha = "0.5"``, ``HeatmapView(title=5)``) with its own
``TraitError``; the trait types here refuse it with an :class:`InvalidTrait` instead, which names the trait as the
user spelled it (the constructor argument of the same name), what was given and what is expected. An
:class:`InvalidTrait` is a ``TraitError`` too, so that a value the browser sends and a view's validator refuses is
rolled back by traitlets (it rolls a held change back on ``TraitError`` only) instead of staying in Python.
"""

from __future__ import annotations

import numbers
from typing import Any, NoReturn

import traitlets

from ..core.errors import InvalidArgument, describe

__all__ = ["Bool", "Float", "InvalidTrait", "Int", "Unicode", "invalid_trait"]


class InvalidTrait(InvalidArgument, traitlets.TraitError):
    """A value refused for a view's trait (an :class:`~xwidgets.core.errors.InvalidArgument` and a ``TraitError``)."""


def invalid_trait(name: str, given: object, expected: str) -> InvalidTrait:
    """Build an :class:`InvalidTrait`; ``given`` may be a value (described briefly) or a ready string."""
    return InvalidTrait(name, given if isinstance(given, str) else describe(given), expected)


class _Named(traitlets.TraitType):
    """Mixin for a traitlets type: a wrong type raises :class:`InvalidTrait` naming the trait."""

    def error(self, obj: Any, value: Any, error: Exception | None = None, info: str | None = None) -> NoReturn:
        name = self.name
        if error is None and name is not None:
            raise invalid_trait(name, describe(value), info or self.info())
        super().error(obj, value, error, info)  # an item of a container trait: traitlets' own chaining


class Float(_Named, traitlets.Float):
    """A float trait: any real number (numpy's too) is taken as a float; one too large for a float is refused."""

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, numbers.Real) and not isinstance(value, float):
            try:
                value = float(value)
            except OverflowError:
                self.error(obj, value)
        return super().validate(obj, value)


class Int(_Named, traitlets.Int):
    """An int trait: any integer (numpy's too, not a bool) is taken as an int."""

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, bool):
            self.error(obj, value)
        if isinstance(value, numbers.Integral):
            value = int(value)
        return super().validate(obj, value)


class Unicode(_Named, traitlets.Unicode):
    """A str trait (bytes are refused, not decoded)."""

    def validate(self, obj: Any, value: Any) -> Any:
        if not isinstance(value, str):
            self.error(obj, value)
        return super().validate(obj, value)


class Bool(_Named, traitlets.Bool):
    """A bool trait."""
