"""Measure runs' peak memory against the memory guard's estimate, in a fresh process (run by
test_memory_guard.py as ``python -m tests.reliability.memory_peaks METHOD:SIZE ...``; prints one JSON line per run).

Each run's peak is the process's high-water mark (``VmHWM`` of ``/proc/self/status``), reset before the run
(``/proc/self/clear_refs``), minus the resident memory at the reset. Run it with ``MALLOC_MMAP_THRESHOLD_`` low, so
freed tensors go back to the system and a later run's pages are not already resident.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

import xwidgets as xw
from xwidgets.core import memory
from xwidgets.core.methods import get_spec

#: Parameters that keep each measured run short without changing its memory (the estimate does not depend on
#: iterations; micro-batches stay full).
RUNS = {
    "igos": {"iterations": 1, "ig_steps": 16},
    "sag": {"grid": 4, "max_roots": 1, "heuristic_iterations": 1, "heuristic_ig_steps": 16, "beam_width": 2},
    "rise": {"masks": 64},
    "pair_rise": {"masks": 64},
}


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) * 1024
    raise RuntimeError(field)


def measure(method: str, side: int) -> dict:
    """``{"method", "size", "estimate", "measured"}`` in bytes for one run at ``side``² pixels."""
    spec = get_spec(method)
    pair = spec.kind == "pair"
    model = xw.toy.embedder() if pair else xw.toy.classifier()
    images = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
    params = {**RUNS[method]}
    found = memory.check(
        spec.memory, model, [(side, side)], spec.params.resolve(params), title=spec.title, available=math.inf
    )
    extra = {"reference": images.clone()} if pair else {}
    Path("/proc/self/clear_refs").write_text("5")
    base = _status("VmRSS")
    xw.explain(model, images, method=method, progress=False, **extra, **params)
    return {"method": method, "size": side, "estimate": found.peak, "measured": _status("VmHWM") - base}


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        name, side = argument.split(":")
        print(json.dumps(measure(name, int(side))), flush=True)
