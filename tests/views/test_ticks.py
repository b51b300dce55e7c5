"""Round tick values for the explorers' value axes (issue 19: "0.0 1.1 2.3 3.4" and 14 crowded ticks)."""

import pytest

from xwidgets.core.errors import InvalidArgument
from xwidgets.views.ticks import nice_ticks, tick_format


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.0, 3.4, [0.0, 1.0, 2.0, 3.0]),
        (0.0, 0.1, [0.0, 0.05, 0.1]),
        (0.0, 12.0, [0.0, 5.0, 10.0]),
        (-3.36, 0.0, [-3.0, -2.0, -1.0, 0.0]),
        (-0.6, 5.0, [0.0, 2.0, 4.0]),
        (0.0, 0.035, [0.0, 0.01, 0.02, 0.03]),
    ],
)
def test_ticks_are_round_evenly_spaced_and_few(low, high, expected):
    ticks = nice_ticks(low, high)
    assert ticks == pytest.approx(expected)
    assert all(low <= t <= high for t in ticks)


@pytest.mark.parametrize("most", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("high", [0.013, 0.7, 1.0, 2.72, 9.99, 47.0, 1234.0])
def test_never_more_ticks_than_asked(high, most):
    ticks = nice_ticks(0.0, high, most)
    assert 1 <= len(ticks) <= most and ticks[0] == 0.0


def test_the_format_writes_each_tick_exactly_with_the_fewest_decimals():
    assert tick_format([0.0, 1.0, 2.0]) == ".0f"
    assert tick_format([0.0, 0.5, 1.0]) == ".1f"
    assert tick_format([0.0, 0.05, 0.1]) == ".2f"
    assert [format(t, tick_format(nice_ticks(0, 0.035))) for t in nice_ticks(0, 0.035)] == [
        "0.00",
        "0.01",
        "0.02",
        "0.03",
    ]


@pytest.mark.parametrize(("args", "name"), [((1.0, 1.0), "low, high"), ((0.0, float("nan")), "low, high")])
def test_an_empty_or_invalid_span_is_named(args, name):
    with pytest.raises(InvalidArgument, match=name):
        nice_ticks(*args)
    with pytest.raises(InvalidArgument, match="most"):
        nice_ticks(0.0, 1.0, 1)
