import threading

import pytest

from xwidgets.core import Cancelled, Progress, Runner, as_progress
from xwidgets.core.errors import InvalidArgument, XWidgetsError


def optimise(steps, *, progress, gate=None, fail_at=None):
    """A stand-in kernel: streams its state each step and checks for cancellation."""
    state = 0
    for step in range(steps):
        progress.check()
        if gate is not None:
            gate.wait(5)
        if step == fail_at:
            raise ValueError("diverged")
        state += 1
        progress.stream({"step": step, "state": state})
        progress.report((step + 1) / steps, f"step {step + 1}/{steps}")
    return state


def test_runs_in_background_and_streams():
    runner = Runner()
    partials, reports, done = [], [], []
    job = runner.submit(
        optimise, 5, on_partial=partials.append, on_progress=lambda f, m: reports.append((f, m)), on_done=done.append
    )
    assert job.result(timeout=5) == 5
    assert [p["step"] for p in partials] == [0, 1, 2, 3, 4]
    assert reports[-1] == (1.0, "step 5/5") and done == [5] and job.status == "done"
    assert job._thread is not threading.current_thread()


def test_cancel_stops_at_next_check_and_leaves_no_thread():
    gate = threading.Event()
    runner = Runner()
    done = []
    job = runner.submit(optimise, 1000, gate=gate, on_done=done.append)
    runner.cancel()
    gate.set()
    with pytest.raises(Cancelled):
        job.result(timeout=5)
    assert job.status == "cancelled" and done == [] and job.done
    assert not [t for t in threading.enumerate() if t.name.startswith("xwidgets-")]


def test_new_submission_cancels_the_stale_job():
    gate = threading.Event()
    runner = Runner()
    first = runner.submit(optimise, 1000, gate=gate)
    second = runner.submit(optimise, 3)
    gate.set()
    assert second.result(timeout=5) == 3
    first.wait(5)
    assert first.status == "cancelled" and runner.job is second
    runner.close()


def test_errors_reach_on_error_and_result():
    errors = []
    job = Runner().submit(optimise, 5, fail_at=2, on_error=errors.append)
    with pytest.raises(ValueError, match="diverged"):
        job.result(timeout=5)
    assert job.status == "failed" and isinstance(errors[0], ValueError)


def test_result_timeout_while_running():
    gate = threading.Event()
    runner = Runner()
    job = runner.submit(optimise, 3, gate=gate)
    with pytest.raises(XWidgetsError, match="still running"):
        job.result(timeout=0.05)
    gate.set()
    runner.close()
    assert job.done


def test_stream_interval_throttles_but_force_delivers():
    seen = []
    progress = Progress(on_partial=seen.append, stream_interval=60.0)
    for step in range(10):
        progress.stream(step)
    progress.stream("final", force=True)
    assert seen == [0, "final"]


def test_headless_progress_forms():
    calls = []
    assert optimise(3, progress=as_progress(None)) == 3
    assert optimise(3, progress=as_progress(lambda f, m: calls.append(f))) == 3 and calls[-1] == 1.0
    with pytest.raises(InvalidArgument):
        as_progress(42)
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        optimise(3, progress=progress)


def test_a_part_maps_its_fractions_and_shares_cancellation_and_streaming():
    reports, states = [], []
    whole = Progress(lambda f, m: reports.append((f, m)), states.append)
    step = whole.part(0.3, 1.0)
    step.report(0.0, "a")
    step.report(0.5, "b")
    step.report(1.0, "c")
    assert reports == [(0.3, "a"), (pytest.approx(0.65), "b"), (1.0, "c")]
    step.stream({"x": 1})
    assert states == [{"x": 1}] and step.wants_partials
    whole.cancel()
    assert step.cancelled
    with pytest.raises(Cancelled):
        step.check()
