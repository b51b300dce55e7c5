import ipywidgets as widgets
import pytest

from xwidgets.core import BASELINE_PARAMS, Param, ParamSet
from xwidgets.core.errors import InvalidArgument
from xwidgets.views import control_for, controls_for


def test_each_kind_gets_its_control():
    params = ParamSet(
        "demo",
        Param("iterations", "int", 15, "steps", low=1, high=100),
        Param("lambda_tv", "float", 20.0, "TV weight", low=0.0, high=100.0),
        Param("lr", "float", 0.1, "step size", low=1e-3, high=10.0, log=True),
        Param("nag", "bool", True, "momentum"),
        Param("sigma", "float", 1.0, "unbounded above", low=0.0),
    )
    controls = controls_for(params, {"iterations": 30})
    assert list(controls) == ["iterations", "lambda_tv", "lr", "nag", "sigma"]
    assert isinstance(controls["iterations"], widgets.IntSlider) and controls["iterations"].value == 30
    assert (controls["iterations"].min, controls["iterations"].max) == (1, 100)
    assert isinstance(controls["lambda_tv"], widgets.FloatSlider) and controls["lambda_tv"].max == 100.0
    assert isinstance(controls["lr"], widgets.FloatLogSlider) and controls["lr"].value == pytest.approx(0.1)
    assert isinstance(controls["nag"], widgets.Checkbox) and controls["nag"].value is True
    assert isinstance(controls["sigma"], widgets.BoundedFloatText)
    assert controls["lambda_tv"].tooltip == "TV weight"


def test_choice_becomes_a_dropdown_and_values_are_checked():
    dropdown = control_for(BASELINE_PARAMS["baseline"], "black")
    assert isinstance(dropdown, widgets.Dropdown) and dropdown.value == "black"
    assert list(dropdown.options) == ["blur", "black", "mean", "constant", "noise"]
    with pytest.raises(InvalidArgument, match="baseline"):
        control_for(BASELINE_PARAMS["baseline"], "zebra")
    with pytest.raises(InvalidArgument, match="Param"):
        control_for("baseline")
