"""Kernel side of the browser soak (tests/e2e/test_soak_in_jupyterlab.py): the notebook the soak writes into the
lab's root, and the probe functions its first cell defines in the kernel.

The probe cell loads tests/reliability/probes.py by its path (the kernel runs in the lab's root, where ``tests`` is not
importable) and defines, in the kernel:

- ``StaleRuns(runner)``: wraps a :class:`~xwidgets.core.runner.Runner`'s ``submit`` and ``cancel`` to time every
  stale run, from the moment a newer run or a cancel made it stale to the moment its work returned on its thread;
- ``soak_settle(explorer)``: waits until no run, side job, hover timer or job thread is alive;
- ``soak_probe(explorer, stale)``: prints one JSON line of what the kernel holds now (RSS, threads, torch hooks on
  the model, live widgets, whether a run is in flight, the shown settings and the controls' settings, the stale
  runs' latencies);
- ``soak_controls(explorer)``: prints, in the order the browser lays them out, each control's label and the value it
  shows (sliders: the number, menus and toggle buttons: the selected label, checkboxes: checked), so the test can
  compare them with what the browser's controls show.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

PROBES = Path(__file__).parents[1] / "reliability" / "probes.py"

PROBE_CELL = '''\
import ctypes, functools, gc, importlib.util, json, sys, threading, time
import ipywidgets as widgets

_spec = importlib.util.spec_from_file_location("xw_soak_probes", PROBES_PATH)
probes = sys.modules["xw_soak_probes"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probes)


class StaleRuns:
    """Times the runs of ``runner`` that went stale: ``latencies()`` are the seconds from a newer submission (or a
    cancel) to the stale run's work returning on its thread."""

    def __init__(self, runner):
        self.records = []
        submit, cancel = runner.submit, runner.cancel

        def watched_submit(fn, *args, on_progress=None, **kwargs):
            self._went_stale()
            record = {"stale": None, "ended": None, "last": None, "doing": None, "after": []}

            def progressed(fraction, message):
                record["last"] = (time.monotonic(), message)
                if record["stale"] is not None:
                    record["after"].append(message)
                if on_progress is not None:
                    on_progress(fraction, message)

            @functools.wraps(fn)
            def timed(*a, **k):
                try:
                    return fn(*a, **k)
                finally:
                    record["ended"] = time.monotonic()

            self.records.append(record)
            return submit(timed, *args, on_progress=progressed, **kwargs)

        def watched_cancel():
            self._went_stale()
            cancel()

        runner.submit, runner.cancel = watched_submit, watched_cancel

    def _went_stale(self):
        now = time.monotonic()
        for record in self.records:
            if record["ended"] is None and record["stale"] is None:
                record["stale"], record["doing"] = now, record["last"] and record["last"][1]

    def stopped(self):
        return [r for r in self.records if r["stale"] is not None and r["ended"] is not None]

    def latencies(self):
        return [r["ended"] - r["stale"] for r in self.stopped()]

    def steps_after(self):
        """How many progress reports (iterations, beam levels, scored batches) each stale run made after it went
        stale."""
        return [len(r["after"]) for r in self.stopped()]

    def slowest(self, count=3):
        """The ``count`` slowest stale runs: [seconds to stop, what it was doing when it went stale (its last
        progress message)]."""
        stopped = sorted(self.stopped(), key=lambda r: r["stale"] - r["ended"])
        return [[r["ended"] - r["stale"], r["doing"], r["after"]] for r in stopped[:count]]

    def busiest(self, count=3):
        """The ``count`` stale runs that reported most after they went stale: [what they were doing then, what
        they reported after]."""
        stopped = sorted(self.stopped(), key=lambda r: -len(r["after"]))
        return [[r["doing"], r["after"]] for r in stopped[:count]]

    def pending(self):
        return sum(r["stale"] is not None and r["ended"] is None for r in self.records)


def _busy(explorer):
    lanes = getattr(explorer, "_lanes", {}).values()
    threads = [t for t in threading.enumerate() if t.name.startswith("xwidgets-") or isinstance(t, threading.Timer)]
    return explorer.running or any(r.job is not None and not r.job.done for r in lanes) or bool(threads)


def soak_settle(explorer, quiet=0.5, timeout=60.0):
    """Wait until nothing of ``explorer`` has run for ``quiet`` seconds (a change still on its way from the browser
    starts a run within that); print the seconds waited, or "busy" after ``timeout``."""
    start = idle = time.monotonic()
    while time.monotonic() - idle < quiet:
        if _busy(explorer):
            idle = time.monotonic()
        if idle - start > timeout:
            print("busy")
            return
        time.sleep(0.02)
    print(f"{idle - start:.2f}")


def _settings(explorer):
    settings = explorer.settings
    return settings() if callable(settings) else settings


def _trim():
    """Collect garbage and hand freed heap pages back to the system (glibc), so RSS measures what is held."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def soak_probe(explorer, stale):
    """Print one JSON line: what the kernel holds now (RSS after :func:`_trim`)."""
    _trim()
    now = probes.snapshot(explorer.model.module)
    shown = explorer.shown
    print(json.dumps({
        "rss": now.rss,
        "threads": len(now.threads),
        "thread_names": sorted(now.thread_names.values()),
        "hooks": now.hooks,
        "widgets": len(now.widgets),
        "running": explorer.running,
        "busy": _busy(explorer),
        "shown": None if shown is None else shown.settings,
        "settings": _settings(explorer),
        "stale": stale.latencies(),
        "stale_pending": stale.pending(),
        "steps_after": stale.steps_after(),
        "slowest": stale.slowest(),
        "busiest": stale.busiest(),
        "runs": len(stale.records),
    }, default=str))


_VALUED = (widgets.IntSlider, widgets.FloatSlider, widgets.FloatLogSlider, widgets.Dropdown, widgets.Checkbox,
           widgets.ToggleButtons)


def _controls(widget):
    if isinstance(widget, _VALUED):
        shown = widget.label if isinstance(widget, (widgets.Dropdown, widgets.ToggleButtons)) else widget.value
        yield [widget.description, shown]
    for child in getattr(widget, "children", ()):
        yield from _controls(child)


def soak_controls(explorer):
    """Print, as JSON and in layout order, [label, value] of every control of ``explorer``."""
    print(json.dumps(list(_controls(explorer)), default=str))
'''

HEATMAP_CELL = """\
import xwidgets as xw
from xwidgets.heatmaps import HeatmapExplorer

model = xw.toy.classifier()
bird = xw.toy.ToyWorld().samples(1, seed=31)[0].image
explorer = HeatmapExplorer(model, bird, method="igos", compare="gradcam", params={"iterations": 6}, run=False)
stale = StaleRuns(explorer.runner)
explorer.run()
explorer
"""

SAG_CELL = """\
import xwidgets as xw

model = xw.toy.classifier()
bird = xw.toy.ToyWorld().sample(9, seed=42).image
explorer = xw.SAGExplorer(model, bird, params={"baseline": "blur"}, graph_height=560, run=False)
stale = StaleRuns(explorer.runner)
explorer.run()
explorer
"""


def write_notebook(root: Path, name: str, explorer_cell: str) -> str:
    """Write ``<name>.ipynb`` into ``root`` (the lab's root): the probe cell, then ``explorer_cell``, which builds
    ``explorer`` (its first run timed by ``stale = StaleRuns(explorer.runner)``) and shows it. Returns the file
    name."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell(PROBE_CELL.replace("PROBES_PATH", repr(str(PROBES)))),
        nbformat.v4.new_code_cell(explorer_cell),
    ]
    path = root / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path.name
