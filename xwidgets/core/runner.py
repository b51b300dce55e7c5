"""Background execution for long work: progress, streaming of intermediate results, and cancellation.

A long kernel (an optimisation, a beam search, a dataset pass) takes a ``progress`` argument and, every
iteration, calls :meth:`Progress.report`, :meth:`Progress.stream` with its current state, and
:meth:`Progress.check`, which raises :class:`~xwidgets.core.errors.Cancelled` once the work is cancelled. The
same kernel runs headless with ``progress=None`` or ``progress=False``.

A long *public* call is wrapped with :func:`shows_progress`: called with ``progress=True`` (its default) it shows a
:class:`ProgressBar` (``tqdm.auto``: an ipywidgets bar in a notebook, text in a terminal) that appears only once
the call has run for :data:`BAR_DELAY` seconds, carries the call's name, its stage message and an ETA, and is
closed when the call ends (cleared), fails or is interrupted (left where it stopped). One bar per thread: a call
made while a bar is open (SAG's I-GOS heuristic, the summaries' masks) and work running in a :class:`Job` (an
explorer, whose bar is its widget) open none. ``progress=False`` silences one call; :func:`set_progress` or
``XWIDGETS_PROGRESS=0`` silences them all.

:class:`Runner` runs such work on a worker thread so a widget's kernel stays responsive, one job at a time:
submitting a new job cancels the stale one (a new slider value makes the running optimisation obsolete). Jobs still
running when the interpreter exits (a script that never waited for its explorer) are cancelled and joined at exit
(:func:`stop_live_jobs`, for at most :data:`EXIT_TIMEOUT` seconds), so no worker is still inside torch when the
interpreter tears down (which aborted the process with "terminate called without an active exception").
"""

from __future__ import annotations

import atexit
import functools
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .errors import Cancelled, XWidgetsError, invalid

__all__ = [
    "Progress",
    "Job",
    "Runner",
    "as_progress",
    "ProgressBar",
    "progress_for",
    "shows_progress",
    "set_progress",
    "progress_enabled",
    "BAR_DELAY",
    "BAR_INTERVAL",
    "PROGRESS_ENV",
    "EXIT_TIMEOUT",
    "LOCK_POLL",
    "live_jobs",
    "stop_live_jobs",
]

BAR_DELAY = 1.0
"""Seconds a call runs before its bar appears (tqdm's ``delay``): calls that end sooner print nothing."""
BAR_INTERVAL = 0.1
"""The least seconds between two redraws of a bar (tqdm's ``mininterval``), so a fast loop is not slowed."""
PROGRESS_ENV = "XWIDGETS_PROGRESS"
"""Environment variable: ``0``, ``false``, ``off`` or ``no`` turns the default bars off (see :func:`set_progress`)."""

EXIT_TIMEOUT = 5.0
"""Seconds the interpreter's exit waits, in all, for cancelled jobs to reach their next check and end."""
LOCK_POLL = 0.02
"""Seconds between two checks of the cancellation while :meth:`Progress.holding` waits for a lock."""

_switch: bool | None = None
_thread_state = threading.local()
_live_jobs: weakref.WeakSet[Job] = weakref.WeakSet()


class Progress:
    """What a long kernel reports to, and how it learns it was cancelled.

    Args:
        on_progress: called as ``on_progress(fraction, message)`` with fraction in [0, 1].
        on_partial: called as ``on_partial(state)`` with an intermediate result (e.g. the current mask).
        stream_interval: the least time in seconds between two ``on_partial`` calls; states streamed sooner are
            skipped, except that :meth:`stream` with ``force=True`` always delivers.
        cancel_event: the event that cancels the work when set (a :class:`Job` supplies its own).
    """

    def __init__(
        self,
        on_progress: Callable[[float, str], Any] | None = None,
        on_partial: Callable[[Any], Any] | None = None,
        *,
        stream_interval: float = 0.0,
        cancel_event: threading.Event | None = None,
    ):
        self._on_progress = on_progress
        self._on_partial = on_partial
        self._interval = stream_interval
        self._last_stream = -float("inf")
        self._cancel = cancel_event or threading.Event()

    def report(self, fraction: float, message: str = "") -> None:
        """Report that ``fraction`` (0..1) of the work is done, with an optional message."""
        if self._on_progress is not None:
            self._on_progress(min(max(float(fraction), 0.0), 1.0), message)

    @property
    def wants_partials(self) -> bool:
        """True when someone listens to :meth:`stream`; kernels may skip building states nobody reads."""
        return self._on_partial is not None

    def stream(self, state: Any, *, force: bool = False) -> None:
        """Hand an intermediate result to the listener (throttled by ``stream_interval`` unless ``force``)."""
        if self._on_partial is None:
            return
        now = time.monotonic()
        if force or now - self._last_stream >= self._interval:
            self._last_stream = now
            self._on_partial(state)

    def part(self, low: float, high: float, *, streams: bool = True, tag: dict | None = None) -> Progress:
        """A Progress for one step of the work: its fractions 0..1 report as ``low..high`` of the whole, it
        streams to the same listener (unless ``streams=False``: a sub-step whose states the listener does not
        expect, such as SAG's I-GOS heuristic), and it shares this one's cancellation. With ``tag``, every
        state it streams (a dict) carries those entries too, e.g. which panel of an explorer it belongs to."""

        def report(fraction: float, message: str) -> None:
            self.report(low + (high - low) * fraction, message)

        listener = self._on_partial if streams else None
        if listener is not None and tag:
            listener = functools.partial(_tagged, listener, dict(tag))
        return Progress(report, listener, stream_interval=self._interval, cancel_event=self._cancel)

    def cancel(self) -> None:
        """Ask the work to stop at its next :meth:`check`."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was asked for."""
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was asked for; kernels call this once per iteration."""
        if self._cancel.is_set():
            raise Cancelled("the computation was cancelled")

    @contextmanager
    def holding(self, lock: Any) -> Iterator[None]:
        """Hold ``lock`` (a model's lock) for the block, waiting for it only while the work is still wanted: the
        wait checks the cancellation every :data:`LOCK_POLL` seconds, so a stale run queued behind another run
        ends within that instead of when the lock is free; once the lock is held, it checks once more before the
        block's first pass. Raises :class:`Cancelled` (the lock not held) when cancelled."""
        while not lock.acquire(timeout=LOCK_POLL):
            self.check()
        try:
            self.check()
            yield
        finally:
            lock.release()


def _tagged(listener: Callable[[Any], Any], tag: dict, state: Any) -> None:
    """Hand ``state`` to ``listener`` with ``tag``'s entries added (a state that is not a dict goes as it is)."""
    listener({**state, **tag} if isinstance(state, dict) else state)


def as_progress(progress: Progress | Callable[[float, str], Any] | bool | None) -> Progress:
    """Accept a :class:`Progress`, a plain ``callback(fraction, message)``, or None / False / True (no listener
    here: a bar is opened only by the public call's :func:`shows_progress` wrapper)."""
    if progress is None or isinstance(progress, bool):
        return Progress()
    if isinstance(progress, Progress):
        return progress
    if callable(progress):
        return Progress(on_progress=progress)
    raise invalid(
        "progress",
        progress,
        "True (a progress bar), False or None (silent), a Progress, or a callable (fraction, message)",
    )


def set_progress(enabled: bool | None) -> None:
    """Turn the default progress bars of every long call on (True) or off (False) for this session; None goes
    back to the environment variable ``XWIDGETS_PROGRESS`` (bars on unless it is 0, false, off or no).
    A ``progress=`` callback or :class:`Progress` passed to a call still receives its reports."""
    global _switch
    if enabled is not None and not isinstance(enabled, bool):
        raise invalid("enabled", enabled, "True, False, or None (follow XWIDGETS_PROGRESS)")
    _switch = enabled


def progress_enabled() -> bool:
    """Whether a call with ``progress=True`` shows a bar: :func:`set_progress`'s choice, else the environment."""
    if _switch is not None:
        return _switch
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


@functools.cache
def _bar_class() -> type:
    """``tqdm.auto.tqdm`` (imported on first use) without tqdm's monitor thread, so a call leaves no thread."""
    from tqdm.auto import tqdm

    return type("XWidgetsBar", (tqdm,), {"monitor_interval": 0})


class ProgressBar:
    """A ``tqdm.auto`` bar fed as ``bar(fraction, message)``: fraction in [0, 1] (the bar never moves back),
    the message shown after the ETA. Drawn only after ``delay`` seconds and at most every ``interval`` seconds.
    A finished bar is cleared (a loop of calls leaves no trail of bars, and nests under the caller's own tqdm
    bar); one closed short of the end (an error, an interrupt) stays where it stopped, red in a notebook.

    Args:
        name: the call's name, shown before the bar.
        delay, interval: see :data:`BAR_DELAY` and :data:`BAR_INTERVAL`.
    """

    def __init__(self, name: str, *, delay: float | None = None, interval: float | None = None):
        self._bar = _bar_class()(
            total=1.0,
            desc=name,
            delay=BAR_DELAY if delay is None else delay,
            mininterval=BAR_INTERVAL if interval is None else interval,
            miniters=0,
            leave=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
        )

    def __call__(self, fraction: float, message: str = "") -> None:
        if message:
            self._bar.set_postfix_str(message, refresh=False)
        self._bar.update(max(0.0, min(float(fraction), 1.0) - self._bar.n))

    def finish(self) -> None:
        """Move the bar to 100 % (the work ended) and close it, clearing it."""
        self._bar.update(1.0 - self._bar.n)
        self._bar.leave = False
        self.close()

    def close(self) -> None:
        """Close the bar where it stands (a failed or interrupted call's bar stays short of 100 %)."""
        self._bar.close()


@contextmanager
def _no_bars() -> Iterator[None]:
    """While inside, calls on this thread open no bar (one is open already, or a widget shows the progress)."""
    before = getattr(_thread_state, "quiet", False)
    _thread_state.quiet = True
    try:
        yield
    finally:
        _thread_state.quiet = before


@contextmanager
def progress_for(progress: Progress | Callable[[float, str], Any] | bool | None, name: str) -> Iterator[Progress]:
    """The :class:`Progress` a public call named ``name`` runs with: a :class:`ProgressBar` when ``progress`` is
    True, bars are enabled and none is open on this thread (closed on exit: finished and cleared when the body
    succeeded, left where it stopped otherwise); otherwise :func:`as_progress` of it."""
    if progress is not True or not progress_enabled() or getattr(_thread_state, "quiet", False):
        yield as_progress(progress)
        return
    bar = ProgressBar(name)
    try:
        with _no_bars():
            yield Progress(bar)
        bar.finish()
    finally:
        bar.close()


def shows_progress(name: str) -> Callable[[Callable], Callable]:
    """Decorate a long public call taking a keyword ``progress``: ``progress=True`` (the default) shows a bar
    named ``name`` (see :func:`progress_for`), False or None silences it, a callback or :class:`Progress` gets
    the reports as before. The decorated function always receives a :class:`Progress`."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def call(
            *args: Any, progress: Progress | Callable[[float, str], Any] | bool | None = True, **kwargs: Any
        ) -> Any:
            with progress_for(progress, name) as resolved:
                return fn(*args, progress=resolved, **kwargs)

        return call

    return decorate


class Job:
    """One computation running on its own worker thread. Create it through :meth:`Runner.submit`.

    Attributes:
        status: ``"running"``, then ``"done"``, ``"cancelled"`` or ``"failed"``.
        started, cancelled_at, ended: ``time.monotonic()`` when the job started, when it was first asked to stop
            (None if never) and when its thread finished its work (None while running); ``ended - cancelled_at``
            is how long a cancelled job took to stop.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        *,
        on_progress,
        on_partial,
        on_done,
        on_error,
        stream_interval: float,
    ):
        self._event = threading.Event()
        self.progress = Progress(on_progress, on_partial, stream_interval=stream_interval, cancel_event=self._event)
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._on_done, self._on_error = on_done, on_error
        self._value: Any = None
        self._error: BaseException | None = None
        self.status = "running"
        self.started = time.monotonic()
        self.cancelled_at: float | None = None
        self.ended: float | None = None
        self._thread = threading.Thread(
            target=self._main, name=f"xwidgets-{getattr(fn, '__name__', 'job')}", daemon=True
        )
        _live_jobs.add(self)
        self._thread.start()

    def _main(self) -> None:
        _thread_state.quiet = True  # the job's progress goes to its listener (an explorer's widget), not a bar
        try:
            value = self._fn(*self._args, progress=self.progress, **self._kwargs)
            if self._event.is_set():
                raise Cancelled("the computation was cancelled")
            self._value, self.status = value, "done"
            if self._on_done is not None:
                self._on_done(value)
        except Cancelled as error:
            # without its traceback: that would keep the kernel's frames, and their tensors, alive in a cycle
            # (job, error, traceback, this frame) until the garbage collector runs, one per stale run
            self._error, self.status = _detached(error), "cancelled"
        except BaseException as error:  # reported through on_error / result(); never lost
            self._error, self.status = error, "failed"
            if self._on_error is not None:
                self._on_error(error)
        finally:
            self.ended = time.monotonic()

    def cancel(self) -> None:
        """Ask the job to stop; it ends at its kernel's next ``progress.check()``."""
        if self.cancelled_at is None:
            self.cancelled_at = time.monotonic()
        self._event.set()

    @property
    def done(self) -> bool:
        """True once the worker thread has finished (done, cancelled or failed)."""
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends or ``timeout`` seconds pass; return whether it ended."""
        self._thread.join(timeout)
        return self.done

    def result(self, timeout: float | None = None) -> Any:
        """The job's return value; re-raises its error (``Cancelled`` if it was cancelled)."""
        if not self.wait(timeout):
            raise XWidgetsError(f"the job is still running after timeout={timeout} s")
        if self._error is not None:
            raise self._error
        return self._value


def _detached(error: BaseException) -> BaseException:
    """``error`` without its traceback and the exception it was raised while handling (frames it would hold)."""
    error.__context__ = error.__cause__ = None
    return error.with_traceback(None)


class Runner:
    """Runs one :class:`Job` at a time off the caller's thread; a new submission cancels the running one.

    Args:
        stream_interval: passed to each job's :class:`Progress` (seconds between streamed states).
    """

    def __init__(self, *, stream_interval: float = 0.0):
        self._stream_interval = stream_interval
        self._lock = threading.Lock()
        self.job: Job | None = None

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_progress: Callable[[float, str], Any] | None = None,
        on_partial: Callable[[Any], Any] | None = None,
        on_done: Callable[[Any], Any] | None = None,
        on_error: Callable[[BaseException], Any] | None = None,
        **kwargs: Any,
    ) -> Job:
        """Cancel the running job, then start ``fn(*args, progress=..., **kwargs)`` on a worker thread.

        ``on_done(value)`` / ``on_error(error)`` run on the worker thread when the job ends; a cancelled job
        calls neither.
        """
        with self._lock:
            if self.job is not None:
                self.job.cancel()
            self.job = Job(
                fn,
                args,
                kwargs,
                on_progress=on_progress,
                on_partial=on_partial,
                on_done=on_done,
                on_error=on_error,
                stream_interval=self._stream_interval,
            )
            return self.job

    def cancel(self) -> None:
        """Cancel the running job, if any."""
        with self._lock:
            if self.job is not None:
                self.job.cancel()

    def close(self, timeout: float | None = 10.0) -> None:
        """Cancel the running job and wait for its thread to end, so nothing is left running."""
        self.cancel()
        job = self.job
        if job is not None:
            job.wait(timeout)


def live_jobs() -> list[Job]:
    """The jobs whose worker thread is still running (tracked weakly: a forgotten, finished job is not kept)."""
    return [job for job in list(_live_jobs) if not job.done]


def stop_live_jobs(timeout: float = EXIT_TIMEOUT) -> list[Job]:
    """Cancel every running job and wait, at most ``timeout`` seconds in all, for their threads to end; return
    those still running after that (a kernel that does not reach its next ``progress.check()`` in time).
    Registered with :mod:`atexit`, so an explorer left running by a script ends before the interpreter does."""
    jobs = live_jobs()
    for job in jobs:
        job.cancel()
    deadline = time.monotonic() + timeout
    for job in jobs:
        job.wait(max(0.0, deadline - time.monotonic()))
    return [job for job in jobs if not job.done]


atexit.register(stop_live_jobs)
