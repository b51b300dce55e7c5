"""ipywidgets controls generated from declared parameters (:class:`~xwidgets.core.params.Param`)."""

from __future__ import annotations

import math

import ipywidgets as widgets

from ..core.errors import invalid
from ..core.params import Param, ParamSet

__all__ = ["control_for", "controls_for"]

_STYLE = {"description_width": "120px"}


def control_for(param: Param, value: object = None) -> widgets.Widget:
    """A control for one parameter, starting at ``value`` (default: the declared default), with its doc as tooltip.

    Floats get a slider (logarithmic when ``param.log``), ints an int slider, bools a checkbox and choices a
    dropdown. Unbounded numbers get a plain text field.
    """
    if not isinstance(param, Param):
        raise invalid("param", param, "an xwidgets Param")
    value = param.default if value is None else param.check(value)
    common = {"description": param.name, "tooltip": param.doc, "style": _STYLE}
    if param.kind == "bool":
        return widgets.Checkbox(value=value, indent=False, **common)
    if param.kind == "choice":
        return widgets.Dropdown(options=list(param.choices), value=value, **common)
    low, high = param.low, param.high
    if param.kind == "int":
        if low is None or high is None:
            return widgets.BoundedIntText(
                value=value,
                min=low if low is not None else -(2**31),
                max=high if high is not None else 2**31 - 1,
                **common,
            )
        return widgets.IntSlider(
            value=value, min=int(low), max=int(high), step=int(param.step or 1), continuous_update=False, **common
        )
    if low is None or high is None:
        return widgets.BoundedFloatText(
            value=value, min=low if low is not None else -1e300, max=high if high is not None else 1e300, **common
        )
    if param.log:
        return widgets.FloatLogSlider(
            value=value,
            base=10,
            min=math.log10(low),
            max=math.log10(high),
            step=0.05,
            continuous_update=False,
            **common,
        )
    step = param.step or (high - low) / 100
    return widgets.FloatSlider(
        value=value, min=low, max=high, step=step, continuous_update=False, readout_format=".3g", **common
    )


def controls_for(params: ParamSet, values: dict | None = None) -> dict[str, widgets.Widget]:
    """One control per declared parameter, in declaration order, keyed by name."""
    values = values or {}
    return {name: control_for(param, values.get(name)) for name, param in params.items()}
