"""Round tick values for the explorers' bqplot value axes.

bqplot's ``num_ticks`` spaces ticks evenly over the scale's domain, so a domain of [0, 3.4] gets ticks at 0, 1.1,
2.3 and 3.4. :func:`nice_ticks` picks round values instead (steps of 1, 2 or 5 times a power of ten) and
:func:`tick_format` the fewest decimals that tell them apart.
"""

from __future__ import annotations

import math

from ..core.errors import invalid

__all__ = ["nice_ticks", "tick_format"]

_STEPS = (1.0, 2.0, 5.0, 10.0)


def nice_ticks(low: float, high: float, most: int = 5) -> list[float]:
    """At most ``most`` (>= 2) round tick values inside [``low``, ``high``] (``low`` < ``high``), evenly spaced,
    including 0 when the span holds it: ``nice_ticks(0, 3.4)`` is ``[0, 1, 2, 3]``."""
    if isinstance(most, bool) or not isinstance(most, int) or most < 2:
        raise invalid("most", most, "an int >= 2")
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise invalid("low, high", (low, high), "finite numbers with low < high")
    step = _round_step((high - low) / (most - 1))
    while True:
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        if last - first + 1 <= most:
            return [round(i * step, 12) + 0.0 for i in range(first, last + 1)]
        step = _round_step(step * 1.01)


def _round_step(raw: float) -> float:
    """The smallest step of the form 1, 2 or 5 times a power of ten that is at least ``raw`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in _STEPS if m * power >= raw * (1 - 1e-12))


def tick_format(ticks: list[float]) -> str:
    """The d3 (and Python) format with the fewest decimals that writes ``ticks`` exactly: ``".0f"`` for
    ``[0, 1, 2]``, ``".1f"`` for ``[0, 0.5, 1]``, ``".2f"`` for ``[0, 0.25, 0.5]``."""
    for decimals in range(13):
        if all(abs(float(f"{t:.{decimals}f}") - t) < 1e-9 for t in ticks):
            return f".{decimals}f"
    return ".12f"
