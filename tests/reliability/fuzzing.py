"""The property every fuzzed call must hold: it succeeds, or raises an ``XWidgetsError`` naming the argument; it
never raises another exception, never hangs, and leaves no thread, widget or hook behind.

:func:`outcome` runs one call under that property and returns ``"ok"`` with the value, or ``"refused"`` with the
error, so a test can go on to check the value's shape and finiteness. :data:`COUNTS` tallies the calls per entry
point, for the README's reliability table.
"""

from __future__ import annotations

import collections
import re
import signal
import threading
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any

import torch

from xwidgets.core.errors import InvalidArgument, XWidgetsError

from .probes import left_behind, snapshot

__all__ = ["outcome", "COUNTS", "HANG_SECONDS", "names_an_argument", "no_hang"]

#: Seconds one fuzzed call may take before it counts as a hang.
HANG_SECONDS = 60.0
#: entry point -> [calls, successes, refusals]
COUNTS: collections.Counter = collections.Counter()


class Hang(AssertionError):
    """A fuzzed call ran past :data:`HANG_SECONDS`."""


@contextmanager
def no_hang(seconds: float = HANG_SECONDS):
    """Raise :class:`Hang` in the main thread when the block runs longer than ``seconds`` (SIGALRM)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise Hang(f"the call ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def names_an_argument(error: XWidgetsError, arguments: Iterable[str]) -> bool:
    """Whether ``error`` names one of ``arguments``: an ``InvalidArgument`` whose ``argument`` starts with one
    (``images``, ``images[2]``, ``params['alpha']`` all name theirs), or a message that mentions one as a word."""
    names = [name for name in arguments if name]
    if isinstance(error, InvalidArgument):
        argument = error.argument
        if any(argument == n or argument.startswith((f"{n}[", f"{n}.", f"{n} ", f"{n}=")) for n in names):
            return True
    text = str(error)
    return any(re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text) for name in names)


def outcome(
    entry: str,
    call: Callable[[], Any],
    arguments: Iterable[str],
    *modules: torch.nn.Module,
    seconds: float = HANG_SECONDS,
) -> tuple[str, Any]:
    """Run ``call()`` under the fuzzing property (see the module docstring) and return ``("ok", value)`` or
    ``("refused", error)``. ``arguments`` are the names the call was given (an error must name one); ``modules``
    are checked for hooks left behind. Any other exception, a hang, or something left behind fails the test."""
    arguments = list(arguments)
    before = snapshot(*modules)
    COUNTS[entry, "calls"] += 1
    try:
        with no_hang(seconds):
            value = call()
    except XWidgetsError as error:
        assert names_an_argument(error, arguments), (
            f"{entry}: {type(error).__name__} names none of {arguments}: {error}"
        )
        result: tuple[str, Any] = ("refused", error)
    except Hang:
        raise
    except Exception as error:
        raise AssertionError(f"{entry} raised {type(error).__name__} instead of an XWidgetsError: {error}") from error
    else:
        result = ("ok", value)
    found = left_behind(before, *modules, grace=2.0)
    assert not found, f"{entry} left behind: {', '.join(found)}"
    COUNTS[entry, result[0]] += 1
    return result
