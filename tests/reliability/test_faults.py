"""Faults in the middle of a run (issue 21, item 3; saving is tests/reliability/test_result_files.py).

- **Out of memory mid-batch**: a model whose forward raises an out-of-memory error (``torch.OutOfMemoryError``, a CUDA
  ``RuntimeError``, the CPU allocator's ``RuntimeError``) the first time each pass of a method runs a batch of more than
  one image. Every registered method backs off to smaller micro-batches and finishes with the result of a run without
  the fault (within the batching tolerance of tests/test_contract.py). A batch of one that still runs out of memory
  raises an ``XWidgetsError`` that says what to do.
- **An exception in a kernel on the worker thread**, for every explorer: the status line shows it, the bar turns red,
  ``wait()`` re-raises it, a control change starts a new run, and once the fault is gone the next run is shown.
- **Kernel interrupt** (SIGINT in the main thread) during a headless I-GOS, SAG and fit: no hooks left, the model's
  lock free, its ``requires_grad`` flags and eval mode as they were, and the next call works. During ``wait()``: the
  wait stops, the run is cancelled, the explorer stays usable.
- **close() with a run in flight**, for every explorer: it returns within about one iteration, leaves no threads,
  widgets or hooks, and nothing is logged from the stale run.
- **Interpreter exit with live explorers** of every kind: exit code 0, nothing on stderr, within a few seconds.

:data:`SURVIVED` collects ``(fault, method or explorer)`` for the README's count of faults injected and survived.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

# The contract's comparison of two explanations, its batching tolerance and toy inputs (tests/ is on sys.path).
from test_contract import INPUTS, assert_same_explanation

import xwidgets as xw
from xwidgets.core.errors import XWidgetsError
from xwidgets.core.methods import specs

from .probes import assert_nothing_left, hook_count, left_behind, snapshot

SPECS = {spec.name: spec for spec in specs()}
SEED = 21003
SURVIVED: set[tuple[str, str]] = set()

#: The out-of-memory errors a device raises, as PyTorch words them (CUDA, and the CPU allocator).
OUT_OF_MEMORY = {
    "torch.OutOfMemoryError": lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    "CUDA RuntimeError": lambda: RuntimeError("CUDA out of memory. Tried to allocate 512.00 MiB (GPU 0; 79.1 GiB)"),
    "CPU RuntimeError": lambda: RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB"),
}


class InjectedFault(RuntimeError):
    """The exception a faulty model raises inside a kernel."""


def call_site() -> str:
    """``file:line`` of the innermost xwidgets frame calling the model, outside the model wrapper and the scorer:
    which pass of a method runs a forward."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = frame.filename.replace(os.sep, "/")
        if "/xwidgets/" in path and not path.endswith(("core/models.py", "core/scoring.py")):
            return f"{path.split('/xwidgets/')[-1]}:{frame.lineno}"
    return "?"


class Fault:
    """While entered, ``module``'s forward raises ``error()`` on the calls ``fails(call, batch, site)`` picks (call
    counts from 1; batch is the input's first dimension; site is :func:`call_site`). ``raised`` counts the faults,
    ``calls`` the forwards, ``sites`` the passes seen."""

    def __init__(self, module: torch.nn.Module, fails: Callable[[int, int, str], bool], error: Callable[[], Exception]):
        self.module, self.fails, self.error = module, fails, error
        self.calls, self.raised, self.sites = 0, 0, set()

    def __enter__(self) -> Fault:
        forward = type(self.module).forward

        def faulty(inputs: torch.Tensor, *args, **kwargs):
            self.calls += 1
            if self.fails(self.calls, int(inputs.shape[0]), call_site()):
                self.raised += 1
                raise self.error()
            return forward(self.module, inputs, *args, **kwargs)

        self.module.forward = faulty
        return self

    def __exit__(self, *exc: object) -> None:
        del self.module.forward


def first_big_batch_of_each_pass() -> Callable[[int, int, str], bool]:
    """Fail the first forward of more than one image of every pass (call site): each pass meets the fault once."""
    seen: set[str] = set()

    def fails(call: int, batch: int, site: str) -> bool:
        if batch <= 1 or site in seen:
            return False
        seen.add(site)
        return True

    return fails


def on_worker_call(k: int) -> Callable[[int, int, str], bool]:
    """Fail the ``k``-th forward of an explorer's run (its worker thread's; not the forwards its constructor or a
    side lane makes, nor the memory guard's probe, which runs the model on a tiny input and tolerates its failure)."""
    calls = [0]

    def fails(call: int, batch: int, site: str) -> bool:
        if threading.current_thread().name != "xwidgets-work" or site.startswith("core/memory.py"):
            return False
        calls[0] += 1
        return calls[0] == k

    return fails


# ------------------------------------------------------------------------------------------------------- the world
class World:
    """Toy models, images and small data, made once for the module; each test copies the model it faults."""

    def __init__(self):
        self.classifier = xw.toy.classifier()
        self.embedder = xw.toy.embedder()
        self.attribute_model = xw.toy.attribute_model()
        self.images = xw.toy.dataset(3, seed=SEED).images()
        pairs = xw.toy.pairs(3, seed=SEED)
        self.queries = torch.stack([p.first.tensor for p in pairs])
        self.references = torch.stack([p.second.tensor for p in pairs])
        self.data = xw.toy.dataset(44, seed=SEED + 1)  # 4 per species
        self.data_class = int(self.data.samples[0].species)

    def run(self, spec, model):
        """The spec's quick run on ``model`` (a copy of the toy model of its kind): a per-image explanation of the
        3 images, or a dataset method fitted on the small data and explaining them."""
        settings = {"progress": False, **spec.quick}
        settings.update({name: INPUTS[name](self) for name in spec.inputs if name != "reference"})
        if spec.kind == "dataset":
            return xw.fit(model, self.data, self.data_class, method=spec.name, **settings).explain(self.images)
        if spec.kind == "pair":
            return xw.explain(model, self.queries, reference=self.references, method=spec.name, **settings)
        return xw.explain(model, self.images, method=spec.name, **settings)


@pytest.fixture(scope="module")
def world():
    yield World()
    print(f"\nfaults injected and survived: {len(SURVIVED)}")  # the README's count (pytest -s shows it)
    for fault, where in sorted(SURVIVED):
        print(f"  {fault}: {where}")


def workers() -> list[str]:
    """The names of the live worker threads of xwidgets' runners."""
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("xwidgets-")]


def fresh(model):
    """A deep copy of a toy model (its own module, lock and ``max_batch``), so a fault stays in one test."""
    return copy.deepcopy(model)


# ------------------------------------------------------------------------------------------------ out of memory
@pytest.mark.parametrize("name", list(SPECS))
def test_out_of_memory_mid_run_backs_off_and_finishes_the_same(world, name):
    spec = SPECS[name]
    kind = list(OUT_OF_MEMORY)[list(SPECS).index(name) % len(OUT_OF_MEMORY)]  # each error kind on a third of them
    base = world.embedder if spec.kind == "pair" else world.classifier
    clean = world.run(spec, fresh(base))
    model = fresh(base)
    with Fault(model.module, first_big_batch_of_each_pass(), OUT_OF_MEMORY[kind]) as fault:
        faulty = world.run(spec, model)
    assert fault.raised >= 1, f"{name}: no pass ran a batch of more than one image, so no fault was injected"
    assert model.max_batch < base.max_batch, f"{name}: max_batch {model.max_batch} was not lowered after the fault"
    assert_same_explanation(faulty, clean, f"{name} after {fault.raised} out-of-memory faults ({kind})")
    SURVIVED.add((f"out of memory mid-batch ({kind})", name))


@pytest.mark.parametrize("name", ["gradcam", "rise", "pair_sliding_window", "concepts"])
def test_out_of_memory_with_one_image_per_pass_says_what_to_do(world, name):
    spec = SPECS[name]
    model = fresh(world.embedder if spec.kind == "pair" else world.classifier)
    # every forward fails but the memory guard's probe (which tolerates a failing model): the default layer's trace
    # (one image) included, which used to say "expected an explicit layer name"
    fails = lambda call, batch, site: not site.startswith("core/memory.py")  # noqa: E731
    always = Fault(model.module, fails, OUT_OF_MEMORY["CUDA RuntimeError"])
    with always, pytest.raises(XWidgetsError, match="out of memory") as raised:
        world.run(spec, model)
    message = str(raised.value)
    assert "one image per pass" in message and "size=(H, W)" in message and "free memory" in message, message
    SURVIVED.add(("out of memory with one image", name))


def test_a_fault_that_is_not_out_of_memory_is_not_retried(world):
    model = fresh(world.classifier)
    fault = Fault(model.module, first_big_batch_of_each_pass(), lambda: InjectedFault("not memory"))
    with fault, pytest.raises(InjectedFault):
        xw.explain(model, world.images, method="rise", masks=64, progress=False)
    assert fault.raised == 1 and model.max_batch == world.classifier.max_batch


# ----------------------------------------------------------------------------------------------------- explorers
def dataset_explorer(world, model, tmp_path):
    """A DatasetExplorer on a small gradcam run, with ``model`` so that opening an image runs a HeatmapExplorer."""
    store = tmp_path / "run"
    data = xw.toy.dataset(8, seed=SEED + 2)
    xw.explain_dataset(world.classifier, data, method="gradcam", store=store, progress=False)
    explorer = xw.DatasetExplorer(store, model)
    explorer.open_image(0)
    return explorer


#: explorer -> (opener(world, model, tmp_path, long) -> explorer, the explorer running the kernel, kind of model)
EXPLORERS: dict[str, tuple[Callable, Callable, str]] = {
    "HeatmapExplorer": (
        lambda w, m, tmp, long: xw.HeatmapExplorer(
            m, w.images[0], method="igos", params={"iterations": 200 if long else 3, "ig_steps": 4}
        ),
        lambda e: e,
        "classifier",
    ),
    "SAGExplorer": (
        lambda w, m, tmp, long: xw.SAGExplorer(
            m, w.images[0], params={"grid": 4, "max_roots": 2, "heuristic_iterations": 50 if long else 1}
        ),
        lambda e: e,
        "classifier",
    ),
    "ConceptExplorer": (
        lambda w, m, tmp, long: xw.ConceptExplorer(
            m, w.data.images(), target=w.data_class, params={"k": 2, "epochs": 2000 if long else 5, "retries": 0}
        ),
        lambda e: e,
        "classifier",
    ),
    "SummaryExplorer": (
        lambda w, m, tmp, long: xw.SummaryExplorer(
            m,
            w.data.images(),
            w.data_class,
            mask_params={"smooth_iterations": 300 if long else 10, "sharp_iterations": 10},
        ),
        lambda e: e,
        "classifier",
    ),
    "TextExplorer": (
        lambda w, m, tmp, long: xw.TextExplorer(text_model(w), w.data.images()[:4], model=m),
        lambda e: e,
        "classifier",
    ),
    "MatchExplorer": (
        lambda w, m, tmp, long: xw.MatchExplorer(
            m, w.queries, w.attribute_model, method="pair_rise", params={"masks": 4000 if long else 64}
        ),
        lambda e: e,
        "embedder",
    ),
    "DatasetExplorer": (
        lambda w, m, tmp, long: dataset_explorer(w, m, tmp),
        lambda e: e.image_explorer,
        "classifier",
    ),
}


def text_model(world):
    if not hasattr(world, "_text_model"):
        world._text_model = xw.text.fit(world.classifier, world.data.images(), captions=xw.toy.captions(world.data))
    return world._text_model


def model_for(world, kind: str):
    return fresh(world.embedder if kind == "embedder" else world.classifier)


@contextlib.contextmanager
def errors_logged() -> Iterator[list[str]]:
    """Collect what a worker thread raises (``threading.excepthook``) and what is logged at ERROR (ipywidgets logs
    a failed message or callback there)."""
    found: list[str] = []
    previous = threading.excepthook

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record.getMessage())

    handler = Collect(logging.ERROR)
    logging.getLogger().addHandler(handler)
    threading.excepthook = lambda args: found.append(f"{args.exc_type.__name__}: {args.exc_value}")
    try:
        yield found
    finally:
        threading.excepthook = previous
        logging.getLogger().removeHandler(handler)


def control_of(explorer):
    """A watched control of ``explorer`` and a new value for it (a user's move)."""
    for name, control in explorer._watched.items():
        options = getattr(control, "options", None)
        if options and len(options) > 1:
            values = [o[1] if isinstance(o, tuple) else o for o in options]
            return name, control, next(v for v in values if v != control.value)
        if isinstance(control.value, (int, float)) and not isinstance(control.value, bool):
            high = getattr(control, "max", control.value + 1)
            low = getattr(control, "min", control.value - 1)
            return name, control, low if control.value != low else high
    return None


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_an_exception_in_the_kernel_is_shown_and_the_explorer_recovers(world, name, tmp_path):
    opener, runs, kind = EXPLORERS[name]
    model = model_for(world, kind)
    at = 1 if name == "TextExplorer" else 3  # the text explorer's run is one pass
    fault = Fault(model.module, on_worker_call(at), lambda: InjectedFault("injected: the model broke on this call"))
    with fault:
        explorer = opener(world, model, tmp_path, False)
        running = runs(explorer)
        with pytest.raises(InjectedFault, match="the model broke"):
            running.wait(120)
    try:
        assert fault.raised == 1
        assert "InjectedFault" in running.status.value and "the model broke" in running.status.value
        assert running.progress.bar_style == "danger"
        assert running.error is not None and not running.running
        moved = control_of(running)
        if moved is not None:  # a control still starts a run: the fault is gone, so it finishes and is shown
            _, control, value = moved
            control.value = value
            assert running.running or running.shown is not None
        else:
            running.run()
        running.wait(120)
        assert running.shown is not None and running.error is None
        assert running.progress.bar_style == "success" and "InjectedFault" not in running.status.value
        SURVIVED.add(("exception in the kernel on the worker thread", name))
    finally:
        explorer.close()


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_close_with_a_run_in_flight(world, name, tmp_path):
    opener, runs, kind = EXPLORERS[name]
    model = model_for(world, kind)
    before = snapshot(model.module)
    with errors_logged() as errors:
        explorer = opener(world, model, tmp_path, True)
        running = runs(explorer)
        if name == "TextExplorer":
            running.run()
        time.sleep(0.3)
        in_flight = running.running
        started = time.monotonic()
        explorer.close()
        took = time.monotonic() - started
        time.sleep(0.3)  # a stale callback, if any, would come now
    assert not workers(), f"{name}: worker threads still running after close(): {workers()}"
    assert took < 5.0, f"{name}: close() took {took:.1f} s"
    found = left_behind(before, model.module, grace=2.0)
    assert not found, f"{name} left behind: {found}"
    assert not errors, f"{name}: errors after close(): {errors}"
    if in_flight:
        SURVIVED.add(("close() with a run in flight", name))


# ---------------------------------------------------------------------------------------------------- interrupts
@contextlib.contextmanager
def interrupt_after(seconds: float) -> Iterator[None]:
    """Send SIGINT to the main thread after ``seconds`` (a user's Ctrl-C or the notebook's stop button)."""
    timer = threading.Timer(seconds, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()


def model_state(model) -> tuple:
    """What a run must leave as it found: each parameter's requires_grad, each module's training flag, hooks."""
    return (
        tuple(p.requires_grad for p in model.module.parameters()),
        tuple(m.training for m in model.module.modules()),
        hook_count(model.module),
    )


def lock_is_free(model) -> bool:
    """Whether another thread can take the model's lock (a run holding it would block every later run)."""
    got: list[bool] = []

    def take() -> None:
        got.append(model.lock.acquire(timeout=1.0))
        if got[0]:
            model.lock.release()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join()
    return got[0]


HEADLESS = {
    "igos": lambda w, m: xw.explain(m, w.images, method="igos", iterations=400, progress=False),
    "sag": lambda w, m: xw.explain(m, w.images[:1], method="sag", heuristic_iterations=50, grid=9, progress=False),
    "concepts fit": lambda w, m: xw.fit(
        m, w.data, w.data_class, method="concepts", **{**SPECS["concepts"].quick, "epochs": 2000}, progress=False
    ),
}
QUICK = {
    "igos": lambda w, m: xw.explain(m, w.images[:1], method="igos", **SPECS["igos"].quick, progress=False),
    "sag": lambda w, m: xw.explain(m, w.images[:1], method="sag", **SPECS["sag"].quick, progress=False),
    "concepts fit": lambda w, m: xw.fit(
        m, w.data, w.data_class, method="concepts", **SPECS["concepts"].quick, progress=False
    ),
}


@pytest.mark.parametrize("name", list(HEADLESS))
def test_interrupt_during_a_headless_call(world, name):
    model = fresh(world.classifier)
    for p in list(model.module.parameters())[:2]:  # a user's own flags must come back as they were
        p.requires_grad_(True)
    QUICK[name](world, model)  # warm: torch imports some modules on first use, and an interrupt inside an import
    state = model_state(model)  # leaves that module half-initialised for the session (torch's, not ours)
    with assert_nothing_left(model.module, grace=2.0):
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt), interrupt_after(1.0):
            HEADLESS[name](world, model)
        assert time.monotonic() - started < 30, "the interrupt was not taken during the run"
    assert model_state(model) == state
    assert lock_is_free(model)
    QUICK[name](world, model)  # the next call works
    assert model_state(model) == state
    SURVIVED.add(("interrupt (SIGINT) during a headless call", name))


def test_interrupt_during_wait_cancels_the_run_and_the_explorer_stays_usable(world):
    model = fresh(world.classifier)
    explorer = xw.HeatmapExplorer(model, world.images[0], method="igos", params={"iterations": 3, "ig_steps": 4})
    try:
        explorer.wait(120)
        first = explorer.shown
        explorer.set_controls({"0.iterations": 400})
        explorer.run()
        with pytest.raises(KeyboardInterrupt), interrupt_after(0.5):
            explorer.wait(120)
        assert not explorer.running
        assert explorer.runner.job.wait(10) and not workers(), "the cancelled run did not stop"
        assert explorer.shown is first and "cancelled" in explorer.status.value
        explorer.set_controls({"0.iterations": 4})
        explorer.run()
        explorer.wait(120)
        assert explorer.shown is not first and explorer.shown.settings["0.iterations"] == 4
        SURVIVED.add(("interrupt (SIGINT) during wait()", "HeatmapExplorer"))
    finally:
        explorer.close()


# ----------------------------------------------------------------------------------------------- interpreter exit
EXIT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import torch
    import xwidgets as xw

    torch.set_num_threads(1)
    model, data = xw.toy.classifier(), xw.toy.dataset(12, seed=9801)
    image = data.samples[0].image
    kind = sys.argv[1]
    if kind in ("all", "heatmap"):
        xw.HeatmapExplorer(model, image, method="igos", params={"iterations": 400})
    if kind in ("all", "sag"):
        xw.SAGExplorer(model, image, params={"heuristic_iterations": 50})
    if kind in ("all", "concepts"):
        xw.ConceptExplorer(model, data.images(), target=int(data.samples[0].species), params={"epochs": 2000})
    if kind in ("all", "summaries"):
        xw.SummaryExplorer(model, data.images(), int(data.samples[0].species), mask_params={"smooth_iterations": 900})
    if kind in ("all", "match"):
        xw.MatchExplorer(xw.toy.embedder(), data.images()[:4], xw.toy.attribute_model(), params={"masks": 8000})
    time.sleep(float(sys.argv[2]))
    print("leaving", time.monotonic(), flush=True)
    """
)


@pytest.mark.parametrize("kind, delay", [("all", 1.5), ("match", 0.5)])
def test_interpreter_exit_with_live_explorers(tmp_path, kind, delay):
    script = tmp_path / "leave.py"
    script.write_text(EXIT_SCRIPT)
    package_root = str(Path(xw.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "XWIDGETS_PROGRESS": "0"}
    done = subprocess.run(
        [sys.executable, str(script), kind, str(delay)], capture_output=True, text=True, timeout=240, env=env
    )
    ended = time.monotonic()
    assert done.returncode == 0, f"exit code {done.returncode}; stderr:\n{done.stderr}"
    assert "leaving" in done.stdout
    stderr = "\n".join(line for line in done.stderr.splitlines() if "Warning" not in line and line.strip())
    assert not stderr, f"stderr at exit:\n{done.stderr}"
    left = float(done.stdout.split("leaving")[1].split()[0])
    assert ended - left < 15, f"the interpreter took {ended - left:.1f} s to exit"
    SURVIVED.add(("interpreter exit with live explorers", kind))
