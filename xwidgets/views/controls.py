"""ipywidgets controls generated from declared parameters (:class:`~xwidgets.core.params.Param`).

A control shows the parameter's :attr:`~xwidgets.core.params.Param.display_name` (its keyword and doc in the tooltip),
in a description wide enough for the whole name, and a number's slider spans the declared useful
:attr:`~xwidgets.core.params.Param.slider` range rather than everything the API allows.
"""

from __future__ import annotations

import math
from typing import cast

import ipywidgets as widgets

from ..core.errors import invalid
from ..core.params import Param, ParamSet

__all__ = ["control_for", "controls_for", "description_width"]

#: The narrowest description, in CSS pixels (the ipywidgets default is 80).
MIN_DESCRIPTION = 120
#: A generous width per character of a description at the widgets' 13 px font (DejaVu Sans averages about 7.3),
#: plus the label's right margin, so an estimate never cuts a name.
_CHAR_PX, _LABEL_PAD = 8, 12
#: The width of a slider's track and readout beside its description, in CSS pixels.
_SLIDER_PX = 180


def description_width(params: list[Param]) -> int:
    """The description width in CSS pixels that shows every name of ``params`` whole (at least
    :data:`MIN_DESCRIPTION`); an estimate from the names' lengths, checked in the browser tests."""
    longest = max((len(p.display_name) for p in params if p.kind != "bool"), default=0)
    return max(MIN_DESCRIPTION, _CHAR_PX * longest + _LABEL_PAD)


def control_for(param: Param, value: object = None, *, width: int | None = None) -> widgets.Widget:
    """A control for one parameter, starting at ``value`` (default: the declared default), labelled with its
    display name and with its keyword and doc as tooltip.

    Floats get a slider (logarithmic when ``param.log``), ints an int slider, bools a checkbox and choices a
    dropdown; a slider spans ``param.slider`` (widened to include ``value``). Numbers with neither both bounds nor
    a slider span get a plain text field. ``width`` is the description's width in CSS pixels (default: the
    :func:`description_width` of this one parameter).
    """
    if not isinstance(param, Param):
        raise invalid("param", param, "an xwidgets Param")
    value = param.default if value is None else param.check(value)
    width = description_width([param]) if width is None else width
    tooltip = param.doc if param.label is None else f"{param.name}: {param.doc}"
    common = {"description": param.display_name, "tooltip": tooltip, "style": {"description_width": f"{width}px"}}
    if param.kind == "bool":
        return widgets.Checkbox(value=value, indent=False, **common)
    common["layout"] = widgets.Layout(width=f"{width + _SLIDER_PX}px")
    if param.kind == "choice":
        return widgets.Dropdown(options=list(param.choices), value=value, **common)
    if param.slider is None and (param.low is None or param.high is None):
        return _number_field(param, value, common)
    low, high = param.slider_span(cast(float, value))  # a number: checked above
    if param.kind == "int":
        return widgets.IntSlider(
            value=value, min=int(low), max=int(high), step=int(param.step or 1), continuous_update=False, **common
        )
    if param.log:
        return widgets.FloatLogSlider(
            value=value,
            base=10,
            min=math.log10(low),
            max=math.log10(high),
            step=0.05,
            continuous_update=False,
            readout_format=".3g",
            **common,
        )
    return widgets.FloatSlider(
        value=value,
        min=low,
        max=high,
        step=param.step or (high - low) / 100,
        continuous_update=False,
        readout_format=".3g",
        **common,
    )


def controls_for(params: ParamSet, values: dict | None = None) -> dict[str, widgets.Widget]:
    """One control per declared parameter, in declaration order, keyed by name; their descriptions share one
    width (the :func:`description_width` of the set), so the sliders line up."""
    values = values or {}
    width = description_width(list(params.values()))
    return {name: control_for(param, values.get(name), width=width) for name, param in params.items()}


def _number_field(param: Param, value: object, common: dict) -> widgets.Widget:
    """A text field for a number bounded on at most one side."""
    low, high = param.low, param.high
    if param.kind == "int":
        return widgets.BoundedIntText(
            value=value,
            min=low if low is not None else -(2**31),
            max=high if high is not None else 2**31 - 1,
            **common,
        )
    return widgets.BoundedFloatText(
        value=value, min=low if low is not None else -1e300, max=high if high is not None else 1e300, **common
    )
