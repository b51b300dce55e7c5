"""Background execution for long work: progress, streaming of intermediate results, and cancellation.

A long kernel (an optimisation, a beam search, a dataset pass) takes a ``progress`` argument and, every
iteration, calls :meth:`Progress.report`, :meth:`Progress.stream` with its current state, and
:meth:`Progress.check`, which raises :class:`~xwidgets.core.errors.Cancelled` once the work is cancelled. The
same kernel runs headless with ``progress=None``.

:class:`Runner` runs such work on a worker thread so a widget's kernel stays responsive, one job at a time:
submitting a new job cancels the stale one (a new slider value makes the running optimisation obsolete).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .errors import Cancelled, XWidgetsError, invalid

__all__ = ["Progress", "Job", "Runner", "as_progress"]


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

    def part(self, low: float, high: float) -> Progress:
        """A Progress for one step of the work: its fractions 0..1 report as ``low..high`` of the whole, it
        streams to the same listener, and it shares this one's cancellation."""

        def report(fraction: float, message: str) -> None:
            self.report(low + (high - low) * fraction, message)

        return Progress(report, self._on_partial, stream_interval=self._interval, cancel_event=self._cancel)

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


def as_progress(progress: Progress | Callable[[float, str], Any] | None) -> Progress:
    """Accept a :class:`Progress`, a plain ``callback(fraction, message)``, or None (silent)."""
    if progress is None:
        return Progress()
    if isinstance(progress, Progress):
        return progress
    if callable(progress):
        return Progress(on_progress=progress)
    raise invalid("progress", progress, "a Progress, a callable (fraction, message), or None")


class Job:
    """One computation running on its own worker thread. Create it through :meth:`Runner.submit`."""

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, *, on_progress, on_partial,
                 on_done, on_error, stream_interval: float):
        self._event = threading.Event()
        self.progress = Progress(on_progress, on_partial, stream_interval=stream_interval, cancel_event=self._event)
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._on_done, self._on_error = on_done, on_error
        self._value: Any = None
        self._error: BaseException | None = None
        self.status = "running"
        self._thread = threading.Thread(target=self._main, name=f"xwidgets-{getattr(fn, '__name__', 'job')}",
                                        daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            value = self._fn(*self._args, progress=self.progress, **self._kwargs)
            if self._event.is_set():
                raise Cancelled("the computation was cancelled")
            self._value, self.status = value, "done"
            if self._on_done is not None:
                self._on_done(value)
        except Cancelled as error:
            self._error, self.status = error, "cancelled"
        except BaseException as error:  # reported through on_error / result(); never lost
            self._error, self.status = error, "failed"
            if self._on_error is not None:
                self._on_error(error)

    def cancel(self) -> None:
        """Ask the job to stop; it ends at its kernel's next ``progress.check()``."""
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
            self.job = Job(fn, args, kwargs, on_progress=on_progress, on_partial=on_partial,
                           on_done=on_done, on_error=on_error, stream_interval=self._stream_interval)
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
