"""Display hints of declared parameters (label, slider span) and the controls built from them: readable names that
fit, sliders over the useful span while the API keeps the allowed range."""

import ipywidgets as widgets
import pytest

from xwidgets.core import Param, ParamSet
from xwidgets.core.errors import InvalidArgument
from xwidgets.core.methods import specs
from xwidgets.views import control_for, controls_for
from xwidgets.views.controls import MIN_DESCRIPTION, description_width

STEP = Param(
    "alpha", "float", 200.0, "initial step", low=1e-3, high=1e5, log=True, label="step size (alpha)", slider=(1.0, 1e4)
)
ITERATIONS = Param("iterations", "int", 15, "optimisation steps", low=1, high=500, slider=(1, 60))


def test_label_is_what_a_control_shows_and_the_keyword_stays():
    assert STEP.display_name == "step size (alpha)" and STEP.name == "alpha"
    assert ITERATIONS.display_name == "iterations"  # no label: the name
    params = ParamSet("demo", STEP, ITERATIONS)
    assert params.resolve({"alpha": 50})["alpha"] == 50.0  # the API keyword is unchanged
    control = control_for(STEP)
    assert control.description == "step size (alpha)" and control.tooltip == "alpha: initial step"


def test_the_slider_spans_the_useful_range_and_the_api_the_allowed_one():
    assert ITERATIONS.check(500) == 500  # the API allows 1..500
    slider = control_for(ITERATIONS)
    assert isinstance(slider, widgets.IntSlider) and (slider.min, slider.max, slider.value) == (1, 60, 15)
    wide = control_for(ITERATIONS, 200)  # a value past the span widens the slider to include it
    assert (wide.min, wide.max, wide.value) == (1, 200, 200)
    log = control_for(STEP)
    assert isinstance(log, widgets.FloatLogSlider) and (log.min, log.max) == pytest.approx((0.0, 4.0))
    assert ITERATIONS.slider_span(0.5) == (0.5, 60)
    half_open = Param("sigma", "float", 1.0, "bounded below only", low=0.0, slider=(0.0, 5.0))
    assert isinstance(control_for(half_open), widgets.FloatSlider)  # a span gives a slider where bounds do not
    text = control_for(Param("sigma", "float", 1.0, "bounded below only", low=0.0))
    assert isinstance(text, widgets.BoundedFloatText)


@pytest.mark.parametrize(
    "hints, message",
    [
        ({"label": ""}, "label"),
        ({"label": 3}, "label"),
        ({"slider": (60, 1)}, "slider"),
        ({"slider": (0, 60)}, r"slider: got \(0, 60\), expected two numbers \(low, high\), low < high, inside \[1, 5"),
        ({"slider": (1, 600)}, "slider"),
        ({"slider": [1, 60]}, "slider"),
        ({"slider": (1, "60")}, "slider"),
    ],
)
def test_bad_hints_name_the_argument(hints, message):
    with pytest.raises(InvalidArgument, match=message):
        Param("iterations", "int", 15, "optimisation steps", low=1, high=500, **hints)


def test_hints_are_checked_against_the_kind_and_the_scale():
    with pytest.raises(InvalidArgument, match="slider"):
        Param("nag", "bool", True, "momentum", slider=(0, 1))
    with pytest.raises(InvalidArgument, match=r"inside \[0.0001, 10\]"):  # so positive on a log scale
        Param("lr", "float", 0.1, "step", low=1e-4, high=10.0, log=True, slider=(0.0, 1.0))


def test_descriptions_share_a_width_that_holds_the_longest_name():
    params = ParamSet("demo", STEP, ITERATIONS, Param("line_search_objective", "choice", "a", "F", choices=("a", "b")))
    controls = controls_for(params)
    widths = {control.style.description_width for control in controls.values()}
    assert widths == {f"{description_width(list(params.values()))}px"}
    assert description_width([ITERATIONS]) == MIN_DESCRIPTION
    assert description_width(list(params.values())) >= 8 * len("line_search_objective")


@pytest.mark.parametrize("spec", specs("heatmap"), ids=lambda spec: spec.name)
def test_every_heatmap_control_is_labelled_and_spans_a_useful_range(spec):
    """No heatmap slider spans more than 500 steps of its own, a number whose default sits in the lowest 2 % of
    a linear slider is a mistake (1..500 with default 15 was), and no label is the bare "alpha"."""
    for name, control in controls_for(spec.params).items():
        param = spec.params[name]
        assert control.description != "alpha"
        if isinstance(control, (widgets.IntSlider, widgets.FloatSlider)):
            span = control.max - control.min
            assert span / (param.step or (1 if param.kind == "int" else span / 100)) <= 500, name
            assert param.default == control.min or (param.default - control.min) / span >= 0.02, name
