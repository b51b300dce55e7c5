"""Hypothesis runs derandomized (the same examples on every machine, so CI cannot pass by luck one day and fail the
next) with no example database in the repo and no per-example deadline (a hang is caught by
:func:`~.fuzzing.outcome`'s alarm instead). ``XWIDGETS_FUZZ_SCALE=10`` multiplies every fuzz test's examples for a
long local hunt."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "xwidgets",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.load_profile("xwidgets")

FUZZ_SCALE = max(1, int(os.environ.get("XWIDGETS_FUZZ_SCALE", "1")))
