"""Progress bars on long calls (issue 17): shown by default after a delay, silenced per call or globally, one bar
for nested calls, closed on errors and interrupts, never from explorer jobs; callbacks keep their reports."""

import itertools
import threading
import time

import pytest
import torch

import xwidgets as xw
from xwidgets.core import runner
from xwidgets.core.runner import ProgressBar, Runner, progress_enabled, set_progress, shows_progress

QUICK = {
    "rise": {"masks": 48},
    "igos": {"iterations": 3, "ig_steps": 2, "resolution": 8},
    "igospp": {"iterations": 2, "ig_steps": 2, "resolution": 8},
    "integrated_gradients": {"steps": 8},
    "occlusion": {"window": 4, "stride": 4},
}


@pytest.fixture
def recorded(monkeypatch):
    """Every bar made, recorded; the environment and the global switch as shipped, reset afterwards."""
    made = []

    class Recorded(ProgressBar):
        def __init__(self, name, **kwargs):
            super().__init__(name, **kwargs)
            made.append(self)

    monkeypatch.setattr(runner, "ProgressBar", Recorded)
    monkeypatch.delenv(runner.PROGRESS_ENV, raising=False)
    yield made
    set_progress(None)


@pytest.fixture
def bars(recorded, monkeypatch):
    """Bars drawn at once (no 1 s delay), recorded."""
    monkeypatch.setattr(runner, "BAR_DELAY", 0.0)
    return recorded


def _closed(bar: ProgressBar) -> bool:
    return bar._bar.disable


def test_slow_call_shows_a_named_bar_after_the_delay_that_reaches_100_percent(
    classifier, images, sleepy, recorded, capsys
):
    slow = xw.Classifier(sleepy(classifier.module, 0.06).eval(), preprocessing=classifier.preprocessing, max_batch=4)
    start = time.perf_counter()
    xw.heatmaps.rise(slow, images[:1], masks=32)
    assert time.perf_counter() - start > runner.BAR_DELAY + 0.2
    drawn = capsys.readouterr().err
    assert "rise:" in drawn and "RISE masks" in drawn and "<00:0" in drawn  # name, stage, ETA
    assert len(recorded) == 1 and recorded[0]._bar.n == pytest.approx(1.0) and _closed(recorded[0])
    assert drawn.endswith("\r")  # a finished bar is cleared from the line


def test_fast_call_prints_nothing(classifier, images, capsys):
    xw.explain(classifier, images, method="rise", **QUICK["rise"])
    assert capsys.readouterr().err == ""


def test_progress_false_and_the_global_switch_silence_the_bar(classifier, images, bars, monkeypatch, capsys):
    xw.explain(classifier, images, method="igos", progress=False, **QUICK["igos"])
    assert bars == [] and capsys.readouterr().err == ""
    set_progress(False)
    xw.explain(classifier, images, method="igos", **QUICK["igos"])
    assert bars == [] and capsys.readouterr().err == "" and not progress_enabled()
    set_progress(None)
    monkeypatch.setenv(runner.PROGRESS_ENV, "0")
    xw.metrics.deletion_insertion(classifier, images, torch.rand(3, 1, 16, 16))
    assert bars == [] and capsys.readouterr().err == ""
    monkeypatch.setenv(runner.PROGRESS_ENV, "1")
    xw.explain(classifier, images, method="igos", **QUICK["igos"])
    assert len(bars) == 1 and "igos:" in capsys.readouterr().err
    with pytest.raises(xw.XWidgetsError, match="enabled"):
        set_progress("off")


def test_every_long_call_shows_one_bar_reaching_100_percent(classifier, images, bars, capsys):
    for method, params in QUICK.items():
        xw.explain(classifier, images, method=method, **params)
    xw.metrics.deletion_insertion(classifier, images, torch.rand(3, 1, 16, 16))
    assert [bar._bar.desc for bar in bars] == [*QUICK, "deletion_insertion"]
    assert all(_closed(bar) and bar._bar.n == pytest.approx(1.0) for bar in bars)
    assert capsys.readouterr().err.count("deletion_insertion:") >= 1


def test_nested_calls_show_one_bar(classifier, images, bars, capsys):
    xw.sag.sag(classifier, images[:1], grid=4, heuristic_iterations=2, max_roots=2)  # SAG runs I-GOS inside
    assert [bar._bar.desc for bar in bars] == ["sag"]

    @shows_progress("outer")
    def outer(*, progress=True):
        first = xw.explain(classifier, images, method="rise", **QUICK["rise"])  # default: no own bar
        xw.explain(classifier, images, method="occlusion", progress=progress.part(0.5, 1.0), **QUICK["occlusion"])
        return first

    outer()
    assert [bar._bar.desc for bar in bars] == ["sag", "outer"] and all(_closed(bar) for bar in bars)
    drawn = capsys.readouterr().err
    assert "igos:" not in drawn and "rise:" not in drawn and "occlusion:" not in drawn


@pytest.mark.parametrize("error", [ValueError("diverged"), KeyboardInterrupt(), xw.core.Cancelled("stop")])
def test_the_bar_is_closed_when_the_call_fails_or_is_interrupted(classifier, images, bars, error):
    threads = set(threading.enumerate())
    calls = [0]
    forward = classifier.forward

    def failing(inputs):
        calls[0] += 1
        if calls[0] == 3:
            raise error
        return forward(inputs)

    classifier.forward = failing
    with pytest.raises(type(error)):
        xw.explain(classifier, images, method="igos", **QUICK["igos"])
    assert len(bars) == 1 and _closed(bars[0]) and bars[0]._bar.n < 1.0
    assert set(threading.enumerate()) <= threads
    classifier.forward = forward
    xw.explain(classifier, images, method="igos", **QUICK["igos"])  # the next call opens a bar again
    assert len(bars) == 2 and bars[1]._bar.n == pytest.approx(1.0)


def test_bad_progress_is_refused_before_any_work(classifier, images, bars):
    with pytest.raises(xw.XWidgetsError, match="progress") as caught:
        xw.explain(classifier, images, method="rise", progress="yes")
    assert "got yes" in str(caught.value) and "True (a progress bar)" in str(caught.value) and bars == []


def test_explorer_jobs_draw_no_bar_and_keep_their_reports(classifier, images, bars, capsys):
    reports = []
    job = Runner().submit(
        xw.heatmaps.igos, classifier, images, on_progress=lambda f, m: reports.append(f), **QUICK["igos"]
    )
    job.result(timeout=60)
    assert bars == [] and capsys.readouterr().err == ""
    assert reports and reports[-1] == 1.0


@pytest.mark.parametrize(
    "call", ["igos", "igospp", "rise", "integrated_gradients", "occlusion", "sag", "deletion_insertion"]
)
def test_callbacks_get_monotone_fractions_in_0_1(classifier, images, bars, call):
    reports = []

    def record(fraction, message):
        reports.append((fraction, message))

    if call == "sag":
        xw.sag.sag(classifier, images[:2], grid=4, heuristic_iterations=2, max_roots=2, progress=record)
    elif call == "deletion_insertion":
        xw.metrics.deletion_insertion(classifier, images, torch.rand(3, 1, 16, 16), progress=record)
    else:
        xw.explain(classifier, images, method=call, progress=record, **QUICK[call])
    fractions = [fraction for fraction, _ in reports]
    assert bars == [] and fractions and fractions[-1] == 1.0
    assert all(0.0 <= a <= b <= 1.0 for a, b in itertools.pairwise(fractions))
    assert all(isinstance(message, str) and message for _, message in reports)


def test_a_fast_loop_redraws_the_bar_only_every_interval(capsys):
    bar = ProgressBar("loop", delay=0.0, interval=0.5)
    start = time.perf_counter()
    for step in range(20_000):
        bar((step + 1) / 20_000, "step")
    seconds = time.perf_counter() - start
    bar.finish()
    redraws = capsys.readouterr().err.count("\r")
    assert redraws <= 3 + 2 * seconds / 0.5
    assert seconds / 20_000 < 50e-6  # per report, on a loaded 2-core machine


def test_in_a_notebook_the_bar_is_an_ipywidgets_bar(monkeypatch):
    import tqdm.auto
    import tqdm.notebook

    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm.notebook.tqdm)
    monkeypatch.setattr(tqdm.notebook, "display", lambda *args, **kwargs: None)  # no kernel to display to
    runner._bar_class.cache_clear()
    try:
        done, failed = ProgressBar("igos", delay=0.0), ProgressBar("rise", delay=0.0)
        done(0.5, "I-GOS iteration 5/10")
        done.finish()
        failed(0.3, "RISE masks")
        failed.close()
    finally:
        runner._bar_class.cache_clear()
    meter, stopped = done._bar.container.children[1], failed._bar.container.children[1]
    assert type(meter).__name__ == "FloatProgress" and meter.value == pytest.approx(1.0)
    assert done._bar.container.comm is None  # the finished bar's widget is closed
    assert failed._bar.container.comm is not None and stopped.bar_style == "danger"  # a failed one stays, red
