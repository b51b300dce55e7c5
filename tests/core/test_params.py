import pytest

from xwidgets.core import BASELINE_PARAMS, Param, ParamSet
from xwidgets.core.errors import InvalidArgument

PARAMS = ParamSet(
    "demo",
    Param("iterations", "int", 15, "optimisation steps", low=1, high=500),
    Param("l1", "float", 1.0, "L1 weight", low=0.0, high=100.0),
    Param("lr", "float", 0.1, "step size", low=1e-4, high=10.0, log=True),
    Param("nag", "bool", False, "use Nesterov momentum"),
    Param("baseline", "choice", "blur", "substrate", choices=("blur", "black")),
)


def test_defaults_and_overrides():
    assert PARAMS.defaults() == {"iterations": 15, "l1": 1.0, "lr": 0.1, "nag": False, "baseline": "blur"}
    values = PARAMS.resolve({"iterations": 20.0, "l1": 2, "baseline": "black"})
    assert values["iterations"] == 20 and isinstance(values["iterations"], int)
    assert values["l1"] == 2.0 and isinstance(values["l1"], float) and values["baseline"] == "black"
    assert list(PARAMS) == ["iterations", "l1", "lr", "nag", "baseline"]
    assert "iterations (int, default 15, [1, 500]): optimisation steps" in PARAMS.doc()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"iterations": 0}, r"iterations: got 0, expected a value in \[1, 500\]"),
        ({"iterations": 2.5}, "whole number"),
        ({"l1": float("nan")}, "finite"),
        ({"l1": "big"}, "a number"),
        ({"nag": 1}, "True or False"),
        ({"baseline": "noise"}, "one of 'blur', 'black'"),
        ({"iterationz": 3}, "unknown parameter of demo"),
        ({"iterations": True}, "a number"),
    ],
)
def test_bad_values_name_the_parameter(overrides, message):
    with pytest.raises(InvalidArgument, match=message):
        PARAMS.resolve(overrides)


def test_declarations_are_checked():
    with pytest.raises(InvalidArgument):
        Param("x", "float", 5.0, "out of its own range", low=0, high=1)
    with pytest.raises(InvalidArgument):
        Param("x", "choice", "c", "default not a choice", choices=("a", "b"))
    with pytest.raises(InvalidArgument):
        Param("x", "float", 1.0, "log needs a positive low", low=0, high=2, log=True)
    with pytest.raises(InvalidArgument):
        ParamSet("dup", Param("a", "bool", True, ""), Param("a", "bool", False, ""))
    assert BASELINE_PARAMS["baseline"].default == "blur" and BASELINE_PARAMS["blur_kernel"].default == 51
