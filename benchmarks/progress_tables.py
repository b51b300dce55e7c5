"""The progress-bar overhead table of issue 17: I-GOS and RISE at defaults on the toy classifier, one image, with
the bar off (``progress=False``), on as shipped (drawn after ``BAR_DELAY`` = 1 s) and on from the first report
(delay 0, the worst case: every redraw is paid for). The variants run interleaved, one of each per round, so
drift of a shared machine's load hits all three alike; the overhead of a round is its time with the bar over its
time without, taken on the process's CPU time on a CPU device (``time.process_time``: what this process
computed, far less moved by other processes on a shared machine than the wall time, which is shown too) and on the
wall time on a GPU. A second table prices one report through a bar against one through a silent Progress, an upper
bound on the overhead independent of the load: reports per call × price per report.

The bar writes to an in-memory stream here (as it would to a terminal or a notebook's comm), not to this output.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time

import numpy as np
import torch

import xwidgets as xw
from xwidgets.core import runner

__all__ = ["progress_section"]

TOY_SEED = 9400
VARIANTS = ("off", "on (1 s delay)", "on (drawn at once)")


@contextlib.contextmanager
def _variant(name: str):
    """The ``progress`` argument of variant ``name``, with the bar's output captured and its delay set."""
    delay, sink = runner.BAR_DELAY, io.StringIO()
    runner.BAR_DELAY = 0.0 if name == "on (drawn at once)" else delay
    try:
        with contextlib.redirect_stderr(sink):
            yield name != "off"
    finally:
        runner.BAR_DELAY = delay


def _timed_call(model, images, method: str, variant: str, device: torch.device) -> tuple[float, float]:
    """Wall and process CPU seconds of one call."""
    with _variant(variant) as progress:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start, cpu = time.perf_counter(), time.process_time()
        xw.explain(model, images, method=method, progress=progress)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start, time.process_time() - cpu


def _reports(model, images, method: str) -> int:
    """How many reports one call makes (counted through a callback, untimed)."""
    reports = []
    xw.explain(model, images, method=method, progress=lambda fraction, message: reports.append(fraction))
    return len(reports)


def _spread(values: list[float], scale: float = 1.0, unit: str = "s", digits: int = 2) -> str:
    """``median (min–max)`` of ``values`` × ``scale``."""
    low, mid, high = min(values) * scale, statistics.median(values) * scale, max(values) * scale
    return f"{mid:.{digits}f} {unit} ({low:.{digits}f}–{high:.{digits}f})"


def _method_rows(model, images, method: str, rounds: int, device: torch.device) -> tuple[list[str], float, int, float]:
    """The rows of one method, the worst median overhead (ratio − 1) of the bar-on variants, the reports per call
    and the median time per call with the bar off (CPU time on a CPU device, wall time on a GPU)."""
    for variant in VARIANTS:  # warm-up, one of each
        _timed_call(model, images, method, variant, device)
    wall: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            seconds, cpu_seconds = _timed_call(model, images, method, variant, device)
            wall[variant].append(seconds)
            cpu[variant].append(cpu_seconds)
    reports = _reports(model, images, method)
    basis = wall if device.type == "cuda" else cpu
    rows, worst = [], 0.0
    for variant in VARIANTS:
        ratios = [on / off for on, off in zip(basis[variant], basis["off"])]
        overhead = "" if variant == "off" else _spread([r - 1 for r in ratios], 100, "%", 1)
        if variant != "off":
            worst = max(worst, statistics.median(ratios) - 1)
        rows.append(
            f"| {method} | {variant} | {_spread(wall[variant])} | {_spread(cpu[variant])} | {overhead} | {reports} |"
        )
    return rows, worst, reports, statistics.median(basis["off"])


def _bar_price(bars: int = 200) -> float:
    """Seconds to open and finish one bar that is never drawn (a call shorter than the delay)."""
    with contextlib.redirect_stderr(io.StringIO()):
        start = time.perf_counter()
        for _ in range(bars):
            runner.ProgressBar("price").finish()
        return (time.perf_counter() - start) / bars


def _report_price(reports: int = 20_000) -> tuple[float, float]:
    """Seconds per ``Progress.report`` through a bar drawn at once (every 0.1 s) and through a silent one."""
    silent = runner.Progress()
    start = time.perf_counter()
    for step in range(reports):
        silent.report((step + 1) / reports, "step")
    silent_seconds = (time.perf_counter() - start) / reports
    with contextlib.redirect_stderr(io.StringIO()):
        bar = runner.ProgressBar("price", delay=0.0)
        drawn = runner.Progress(bar)
        start = time.perf_counter()
        for step in range(reports):
            drawn.report((step + 1) / reports, "step")
        bar_seconds = (time.perf_counter() - start) / reports
        bar.finish()
    return bar_seconds, silent_seconds


def progress_section(device: str, quick: bool = False) -> list[str]:
    """The section's markdown lines."""
    torch_device = torch.device(device)
    model = xw.toy.classifier(device=device)
    images = np.stack([s.image for s in xw.toy.ToyWorld().samples(1, seed=TOY_SEED)])
    rounds = 2 if quick else 7
    lines = [
        "## Progress bars: overhead on I-GOS and RISE (toy classifier, one 112² image, defaults)",
        "",
        f"{rounds} interleaved rounds after one warm-up of each variant; median (min–max). *Overhead*: per "
        f"round, the call's {'wall' if torch_device.type == 'cuda' else 'CPU'} time with the bar over its time "
        "with `progress=False`, minus 1. *Reports*: `Progress.report` calls per call (each one updates the "
        "bar).",
        "",
        "| method | bar | wall per call | CPU time per call | overhead | reports |",
        "|---|---|---|---|---|---|",
    ]
    worst, calls = 0.0, {}
    for method in ("igos", "rise"):
        rows, method_worst, reports, off = _method_rows(model, images, method, rounds, torch_device)
        lines += rows
        worst, calls[method] = max(worst, method_worst), (reports, off)
    bar_seconds, silent_seconds = _report_price(2_000 if quick else 20_000)
    open_seconds = _bar_price(50 if quick else 200)
    bounds = [
        f"{method} {(open_seconds + reports * (bar_seconds - silent_seconds)) / off * 100:.3f} %"
        for method, (reports, off) in calls.items()
    ]
    lines += [
        "",
        "| price | time |",
        "|---|---|",
        f"| one `Progress.report` through a silent Progress (`progress=False`) | {silent_seconds * 1e6:.2f} µs |",
        f"| one `Progress.report` through a bar drawn at once (redrawn at most every {runner.BAR_INTERVAL} s) "
        f"| {bar_seconds * 1e6:.2f} µs |",
        f"| opening and finishing one bar | {open_seconds * 1e6:.0f} µs |",
        "",
        "Bound on the overhead, independent of the load (one bar + reports × the extra price of a report, over "
        f"the call's median time with the bar off): {', '.join(bounds)}.",
        "",
        f"Worst median overhead of a bar over the two methods: {worst * 100:+.1f} % (target: not measurable, "
        "i.e. within the round-to-round spread of the `off` rows).",
    ]
    return lines
