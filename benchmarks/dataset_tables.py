"""The dataset-run tables of issue 20, written to benchmarks/results/datasets_<device>.md by ``run.py --only datasets``.

Sections (each says how it was measured):

- ``engines``: images/s of `xw.explain_dataset` on 512 toy images with I-GOS at its defaults and Grad-CAM, the
  local engine (torch on 2 threads) against the Ray engine at equal cores (2 actors of 1 CPU and 1 thread each):
  the whole call including the actors' start, and the steady rate after the first committed shard; Ray's own
  start (``ray.init``) separately.
- ``overhead``: Ray's per-task costs from no-op shard tasks through Ray Data actor pools of 2, 4 and 8 actors
  (``num_cpus=0.25``): the interval between results at the driver and the gap between tasks on an actor, and the
  pool's start; then the simulator of scale_simulation.py against real runs (sleeping tasks of a known cost, and
  the engine rows above).
- ``store``: writing and opening a 10,000-image store (the real writer, synthetic records and maps), its size on
  disk, and the per-commit cost of 16-image shards at 112² and 224² maps (the simulator's write figures).
- ``explorer``: the DatasetExplorer on that 10,000-image store: a filter change to the new page's tiles (Python
  side: filtering, sorting, reading the page's thumbnails, the tiles handed to the grid), median and p95 over 20
  changes.
- ``gpu`` (CUDA only): ResNet-50 (random weights, 224², synthetic images) I-GOS at defaults through the local
  engine and one Ray actor, images/s and the GPU's busy fraction (``nvidia-smi``'s utilization.gpu sampled every
  100 ms: the share of each sample period in which a kernel ran).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import xwidgets as xw
from scale_simulation import Cluster, Stages, Workload, simulate

__all__ = ["SECTIONS", "dataset_sections"]

SECTIONS = ("engines", "overhead", "store", "explorer", "gpu")
TOY_SEED = 9500
ENGINE_IMAGES = 512
STORE_IMAGES = 10_000
FILTER_CHANGES = 20
SHARD_SIZE = 16


# ------------------------------------------------------------------------------------------------ timing helpers
@dataclass
class RunTiming:
    """One `explain_dataset` call: its wall time and when each shard's commit was reported (s from the start)."""

    images: int
    seconds: float = 0.0
    commits: list[tuple[float, float]] = field(default_factory=list)  # (seconds, fraction done)
    shard_seconds: list[float] = field(default_factory=list)  # each shard's explaining time where it ran (markers)

    @property
    def rate(self) -> float:
        """Images/s over the whole call."""
        return self.images / self.seconds

    @property
    def first_commit(self) -> float:
        return self.commits[0][0]

    @property
    def steady_rate(self) -> float:
        """Images/s between the first and the last commit (the pool is up and the model warm)."""
        (start, done), (end, last) = self.commits[0], self.commits[-1]
        return (last - done) * self.images / max(end - start, 1e-9)


def timed_run(model, source, method: str, store: Path, **options: Any) -> RunTiming:
    """Run ``explain_dataset`` into a fresh ``store`` and time it through its progress callback."""
    timing = RunTiming(len(source))
    start = time.perf_counter()

    def report(fraction: float, message: str = "") -> None:
        timing.commits.append((time.perf_counter() - start, fraction))

    xw.explain_dataset(model, source, method=method, store=store, overwrite=True, progress=report, **options)
    timing.seconds = time.perf_counter() - start
    markers = sorted((store / "commits").glob("shard-*.json"))
    timing.shard_seconds = [json.loads(marker.read_text())["seconds"] for marker in markers]
    shutil.rmtree(store, ignore_errors=True)
    return timing


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _start_ray(num_cpus: int, num_gpus: int, attempts: int = 3) -> float:
    """Start a local Ray and return the seconds the successful ``ray.init`` took. Ray gives its raylet a fixed 30 s
    to register, which a loaded machine can miss: the start is tried ``attempts`` times."""
    import ray

    for attempt in range(attempts):
        start = time.perf_counter()
        try:
            ray.init(
                address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, log_to_driver=False
            )
            return time.perf_counter() - start
        except Exception as error:  # Ray raises a bare Exception on this timeout
            ray.shutdown()
            if attempt == attempts - 1 or "timed out during startup" not in str(error):
                raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def local_ray(num_cpus: int, num_gpus: int = 0) -> Iterator[float]:
    """A local Ray with ``num_cpus`` CPUs; yields the seconds ``ray.init`` took; shuts it down after."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    seconds = _start_ray(num_cpus, num_gpus)
    try:
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = False
        yield seconds
    finally:
        ray.shutdown()


def _ray_missing(engine: bool = True) -> str | None:
    """Why Ray (and with ``engine`` the Ray engine) cannot run here, or None."""
    try:
        import ray  # noqa: F401

        if engine:
            from xwidgets.runs import ray_engine  # noqa: F401
    except ImportError as error:
        return str(error)
    return None


# ------------------------------------------------------------------------------------------------ engines
@dataclass
class EngineFigures:
    """What the engine rows measured, for the simulator check."""

    local: dict[str, RunTiming] = field(default_factory=dict)
    ray: dict[str, RunTiming] = field(default_factory=dict)
    ray_init: float | None = None
    commit_seconds: float = 0.0  # the writer's time per shard of the toy run (store section), when measured


def engine_section(
    quick: bool, scratch: Path, device: str = "cpu", images: int | None = None
) -> tuple[list[str], EngineFigures]:
    """Local against Ray on the toy classifier at equal resources (2 CPU cores on the CPU, one GPU on CUDA), on
    ``images`` toy images (default :data:`ENGINE_IMAGES`, 64 in a quick run)."""
    images = images or (64 if quick else ENGINE_IMAGES)
    cuda = device.startswith("cuda")
    model = xw.toy.classifier(device=device)
    source = xw.data.toy(images, seed=TOY_SEED)
    figures = EngineFigures()
    methods = ("gradcam",) if quick else ("igos", "gradcam")
    with torch_threads(2):
        for method in methods:
            figures.local[method] = timed_run(model, source, method, scratch / f"local-{method}", shard_size=SHARD_SIZE)
    missing = _ray_missing()
    workers = 1 if cuda else 2
    if missing is None:
        with torch_threads(1), local_ray(num_cpus=4 if cuda else 2, num_gpus=1 if cuda else 0) as init:
            figures.ray_init = init
            for method in methods:
                figures.ray[method] = timed_run(
                    model,
                    source,
                    method,
                    scratch / f"ray-{method}",
                    engine="ray",
                    workers=workers,
                    shard_size=SHARD_SIZE,
                )
    resources = (
        f'one GPU ({torch.cuda.get_device_name()}). *Local*: this process on the GPU. *Ray*: `engine="ray", '
        "workers=1` on a local Ray of 4 CPUs and 1 GPU: one actor holding the GPU"
        if cuda
        else '2 CPU cores. *Local*: this process, torch on 2 threads. *Ray*: `engine="ray", workers=2` on a local '
        "Ray of 2 CPUs: 2 actors of 1 CPU (1 torch thread) each"
    )
    lines = [
        f"## Engines: {images} toy images, local against Ray at equal {'GPUs' if cuda else 'cores'}",
        "",
        f"Toy classifier, `explain_dataset(..., shard_size={SHARD_SIZE})` with metrics (deletion and insertion "
        f"AUCs) and thumbnails, into a fresh store, on {resources}, the driver committing. *Whole run*: the call, "
        "the actors' start and the model's shipping included (Ray itself already started: its `ray.init` is the "
        "last line). *Steady*: images between the first and the last commit over the time between them. "
        "Overhead = local rate / Ray rate − 1 (issue 20's criterion: at most 15 %).",
        "",
        "| method | engine | whole run | images/s (whole run) | first commit after | images/s (steady) |",
        "|---|---|---|---|---|---|",
    ]
    for method in methods:
        for engine, timing in (("local", figures.local.get(method)), ("ray", figures.ray.get(method))):
            if timing is None:
                lines.append(f"| {method} | {engine} | not measured: {missing} | | | |")
                continue
            lines.append(
                f"| {method} | {engine} | {timing.seconds:.1f} s | {timing.rate:.1f} | {timing.first_commit:.1f} s | "
                f"{timing.steady_rate:.1f} |"
            )
    lines += ["", *_overhead_verdicts(figures, methods)]
    if figures.ray_init is not None:
        lines += ["", f"Ray's own start (a local `ray.init`): {figures.ray_init:.1f} s."]
    return lines, figures


def _overhead_verdicts(figures: EngineFigures, methods: tuple[str, ...]) -> list[str]:
    lines = []
    for method in methods:
        local, ray = figures.local.get(method), figures.ray.get(method)
        if local is None or ray is None:
            continue
        for what, ours, theirs in (
            ("whole run", local.rate, ray.rate),
            ("steady", local.steady_rate, ray.steady_rate),
        ):
            overhead = ours / theirs - 1
            verdict = "met" if overhead <= 0.15 else "**not met**"
            lines.append(
                f"- {method}, {what}: Ray's overhead against local {overhead * 100:+.0f} % (≤ 15 %): {verdict}."
            )
    return lines


# ------------------------------------------------------------------------------------------------ Ray overhead
class _ShardProbe:
    """A Ray Data actor standing in for a shard worker: it sleeps ``work`` seconds per task (0: a no-op) and
    returns when it started and ended."""

    def __init__(self, work: float = 0.0):
        self.work = work

    def __call__(self, batch: dict) -> dict:
        start = time.time()
        if self.work:
            time.sleep(self.work)
        return {"shard": batch["shard"], "start": [start], "end": [time.time()], "actor": [os.getpid()]}


@dataclass
class PoolTiming:
    actors: int
    tasks: int
    work: float
    start_seconds: float  # the call to the first result: planning, actor start
    wall_seconds: float  # the call to the last result
    interval: float  # between results at the driver, after the first
    gap: float  # median idle time on an actor between its consecutive tasks


def pool_timing(actors: int, tasks: int, work: float = 0.0) -> PoolTiming:
    """Run ``tasks`` one-row tasks through a Ray Data pool of ``actors`` actors (``num_cpus=0.25`` each)."""
    import ray.data

    dataset = ray.data.from_items([{"shard": s} for s in range(tasks)]).map_batches(
        _ShardProbe,
        fn_constructor_kwargs={"work": work},
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=0.25,
    )
    start, arrivals, rows = time.perf_counter(), [], []
    for row in dataset.iter_rows():
        arrivals.append(time.perf_counter() - start)
        rows.append(row)
    gaps = []
    for actor in {row["actor"] for row in rows}:
        spans = sorted((row["start"], row["end"]) for row in rows if row["actor"] == actor)
        gaps += [following[0] - previous[1] for previous, following in itertools.pairwise(spans)]
    return PoolTiming(
        actors=actors,
        tasks=tasks,
        work=work,
        start_seconds=arrivals[0],
        wall_seconds=arrivals[-1],
        interval=(arrivals[-1] - arrivals[0]) / (tasks - 1),
        gap=statistics.median(gaps) if gaps else 0.0,
    )


@dataclass
class RayCosts:
    """Per-task costs fitted from the no-op pools (s)."""

    task: float  # on an actor between tasks (o in the simulator)
    dispatch: float  # the driver's time per task (serialised)
    pool_start: float


def overhead_section(quick: bool, engines: EngineFigures) -> tuple[list[str], RayCosts | None]:
    """No-op pools of 2, 4 and 8 actors, then the simulator against sleeping tasks and the engine rows."""
    missing = _ray_missing(engine=False)
    if missing is not None:
        return ["## Ray's per-task overhead", "", f"Not measured: {missing}."], None
    tasks = 40 if quick else 200
    with local_ray(num_cpus=2):
        pools = [pool_timing(actors, tasks) for actors in (2, 4, 8)]
        costs = RayCosts(task=pools[0].gap, dispatch=pools[0].interval, pool_start=pools[0].start_seconds)
        checks = [(pool_timing(2, tasks // 2, work), work) for work in (0.05, 0.2)]
    lines = [
        "## Ray's per-task overhead (no-op shard tasks)",
        "",
        f"{tasks} one-row tasks through a Ray Data `map_batches` actor pool (`ActorPoolStrategy(size=n)`, "
        "`num_cpus=0.25`, `batch_size=1`) on a local Ray of 2 CPUs; each task returns at once. *Start*: the call "
        "to the first result (planning and the actors' start). *Interval*: between results at the driver after "
        "the first. *Gap on an actor*: the median idle time of an actor between the end of one task and the start "
        "of its next (the per-task cost an actor pays: argument and result transfer, Ray Data's batching). On 2 "
        "cores the 4- and 8-actor pools are CPU-bound (their processes, the raylet and the driver share the "
        "cores), so the per-task figures come from the 2-actor pool.",
        "",
        "| actors | start | interval per task | gap on an actor |",
        "|---|---|---|---|",
        *(
            f"| {p.actors} | {p.start_seconds:.1f} s | {p.interval * 1000:.1f} ms | {p.gap * 1000:.1f} ms |"
            for p in pools
        ),
        "",
        f"For the simulator: per-task overhead on an actor o = {costs.task * 1000:.1f} ms, the driver's time per "
        f"task ≤ {costs.dispatch * 1000:.1f} ms (the 2-actor interval bounds it), pool start {costs.pool_start:.1f} "
        "s (2 actors; it grows with the actors a machine starts at once).",
        "",
        *_simulator_check(checks, costs, engines),
    ]
    return lines, costs


def _simulator_check(checks: list[tuple[PoolTiming, float]], costs: RayCosts, engines: EngineFigures) -> list[str]:
    """Measured against simulated time from the first result to the last (the pool's start, which the simulator
    takes as given, left out)."""
    lines = [
        "### The simulator against real runs",
        "",
        "scale_simulation.py's prediction, from the per-task figures above, of the time from the first result (or "
        "commit) to the last, against the measured time (the pool's start is an input of the simulator, not a "
        "prediction, so it is left out). For the engine rows the per-image cost is what the actors took per shard "
        "(the commit markers' `seconds`) over the shard's images, and the writer's cost the store section's "
        "per-commit time. Error = predicted / measured − 1.",
        "",
        "| run | measured | predicted | error |",
        "|---|---|---|---|",
    ]
    errors = []
    for timing, work in checks:
        stages = Stages(seconds_per_image=work, task_seconds=costs.task, dispatch_seconds=costs.dispatch)
        simulated = simulate(Workload(timing.tasks, 1), stages, Cluster(timing.actors))
        predicted = simulated.wall_seconds - simulated.first_commit_seconds
        measured = timing.wall_seconds - timing.start_seconds
        errors.append(predicted / measured - 1)
        lines.append(
            f"| {timing.tasks} tasks sleeping {work * 1000:.0f} ms, {timing.actors} actors | {measured:.2f} s | "
            f"{predicted:.2f} s | {errors[-1] * 100:+.0f} % |"
        )
    for method, ray in engines.ray.items():
        per_image = statistics.mean(ray.shard_seconds) / SHARD_SIZE
        stages = Stages(
            seconds_per_image=per_image,
            commit_seconds=engines.commit_seconds,
            task_seconds=costs.task,
            dispatch_seconds=costs.dispatch,
        )
        simulated = simulate(Workload(ray.images, SHARD_SIZE), stages, Cluster(2))
        predicted = simulated.wall_seconds - simulated.first_commit_seconds
        measured = ray.commits[-1][0] - ray.first_commit
        errors.append(predicted / measured - 1)
        lines.append(
            f"| Ray engine, {method}, {ray.images} toy images in shards of {SHARD_SIZE}, 2 actors | "
            f"{measured:.1f} s | {predicted:.1f} s | {errors[-1] * 100:+.0f} % |"
        )
    worst = max(abs(e) for e in errors)
    lines += ["", f"Largest error: {worst * 100:.0f} %."]
    return lines


# ------------------------------------------------------------------------------------------------ store
def _size_on_disk(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _shard_results(run, shard: int, shard_size: int):
    """The records, maps and thumbnails of rows ``[shard * shard_size, (shard + 1) * shard_size)`` of ``run`` as the
    ShardResult of shard ``shard``, its images renumbered to fill the shard (a synthetic run skips some)."""
    from xwidgets.runs.records import ShardResult

    rows = run.records.slice(shard * shard_size, shard_size).to_pylist()
    stored = [row["index"] for row in rows]
    indices = list(range(shard * shard_size, shard * shard_size + len(rows)))
    return ShardResult(
        shard=shard,
        indices=indices,
        records=[{**row, "index": index} for row, index in zip(rows, indices)],
        maps=np.stack([run.map(i) for i in stored]),
        thumbnails=np.stack([run.thumbnail(i) for i in stored]),
        thumbnail_maps=np.stack([run.thumbnail_map(i) for i in stored]),
        skipped=[],
        seconds=0.0,
    )


@dataclass
class CommitCost:
    """One commit of a 16-image shard: seconds in all, of them writing the array rows (maps, thumbnails), and MB."""

    seconds: float
    arrays_seconds: float
    megabytes: float


def commit_timing(scratch: Path, size: int, shards: int) -> CommitCost:
    """The cost of committing a 16-image shard with ``size``² maps: a synthetic run's shards rewritten into a store of
    ``shards`` shards of 16 by the real writer, its array writes (``RunWriter._write_arrays``) timed apart."""
    from xwidgets.runs.store import RunWriter
    from xwidgets.runs.synthetic import synthetic_run

    images = shards * SHARD_SIZE
    original = synthetic_run(scratch / f"commit-source-{size}", images + images // 90 + 2, size=size)
    results = [_shard_results(original, s, SHARD_SIZE) for s in range(shards)]
    manifest = {**original.manifest, "shard_size": SHARD_SIZE}
    manifest["source"] = {**manifest["source"], "count": shards * SHARD_SIZE}
    target = scratch / f"commit-{size}"
    writer = RunWriter.open(target, manifest, overwrite=True)
    arrays = [0.0]
    write_arrays = writer._write_arrays

    def timed_arrays(*args: Any) -> None:
        start = time.perf_counter()
        write_arrays(*args)
        arrays[0] += time.perf_counter() - start

    writer._write_arrays = timed_arrays
    start = time.perf_counter()
    for result in results:
        writer.write_shard(result.shard, result)
    seconds = time.perf_counter() - start
    cost = CommitCost(seconds / shards, arrays[0] / shards, _size_on_disk(target) / 1e6 / shards)
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(scratch / f"commit-source-{size}", ignore_errors=True)
    return cost


def store_section(quick: bool, scratch: Path) -> tuple[list[str], Path, dict]:
    """Write and open a synthetic store of 10,000 images (1,000 in a quick run); the per-commit cost."""
    from xwidgets.runs.synthetic import synthetic_run

    images = 1_000 if quick else STORE_IMAGES
    path = scratch / "store"
    start = time.perf_counter()
    synthetic_run(path, images, size=112)
    written = time.perf_counter() - start
    opens, columns, maps = [], [], []
    for _ in range(5):
        start = time.perf_counter()
        run = xw.open_run(path)
        opens.append(time.perf_counter() - start)
        start = time.perf_counter()
        run.column("confidence")
        columns.append(time.perf_counter() - start)
        start = time.perf_counter()
        run.map(int(run.column("index")[len(run) // 2]))
        maps.append(time.perf_counter() - start)
    shard_size = json.loads((path / "manifest.json").read_text())["shard_size"]
    size = _size_on_disk(path)
    commits = {size: commit_timing(scratch, size, 8 if quick else 32) for size in (112, 224)}
    lines = [
        f"## Store: {images:,} images",
        "",
        f"A synthetic run (`xwidgets.runs.synthetic.synthetic_run`: made-up records, 112² maps, 64² thumbnails, "
        f"shards of {shard_size}) written by the real `RunWriter`; *write* includes making the values up. *Open*: "
        "`xw.open_run` (manifest and commit markers); *first column*: reading every committed Parquet file for "
        '`run.column("confidence")`; *one map*: `run.map(i)` of a middle image. Median of 5 (the first open reads '
        "from the page cache too: the store was just written).",
        "",
        "| what | time |",
        "|---|---|",
        f"| write {images:,} images | {written:.1f} s ({images / written:,.0f} images/s) |",
        f"| open | {statistics.median(opens) * 1000:.1f} ms |",
        f"| first column (all records) | {statistics.median(columns) * 1000:.1f} ms |",
        f"| one map | {statistics.median(maps) * 1000:.2f} ms |",
        f"| size on disk | {size / 1e6:,.0f} MB ({size / images / 1e3:.1f} kB per image) |",
        "",
        f"Commits of {SHARD_SIZE}-image shards, as the engines write them (the records, maps and thumbnails of a "
        "synthetic run rewritten by `RunWriter.write_shard`; the driver's cost per shard in the simulator):",
        "",
        "| maps | per commit | of it, array rows (zarr) | written per commit | throughput |",
        "|---|---|---|---|---|",
        *(
            f"| {size}² | {c.seconds * 1000:.1f} ms | {c.arrays_seconds * 1000:.1f} ms | {c.megabytes:.2f} MB | "
            f"{c.megabytes / c.seconds:.1f} MB/s |"
            for size, c in commits.items()
        ),
    ]
    return lines, path, commits


# ------------------------------------------------------------------------------------------------ explorer
def explorer_section(store: Path, quick: bool) -> list[str]:
    """Filter changes on a DatasetExplorer over ``store``: the time until the new page's tiles are set."""
    try:
        from xwidgets.runs.explorer import DatasetExplorer
    except ImportError as error:
        return ["## DatasetExplorer", "", f"Not measured: {error}."]
    start = time.perf_counter()
    explorer = DatasetExplorer(store)
    opened = time.perf_counter() - start
    changes = _filter_changes(explorer, 5 if quick else FILTER_CHANGES)
    times = []
    for change in changes:
        before = explorer.grid.tiles if hasattr(explorer.grid, "tiles") else None
        start = time.perf_counter()
        change()
        explorer.wait(30)
        times.append(time.perf_counter() - start)
        if before is not None and explorer.grid.tiles is before:
            raise RuntimeError("a filter change left the grid's tiles as they were")
    explorer.close()
    p95 = float(np.percentile(times, 95))
    return [
        f"## DatasetExplorer: filter change to new tiles, {len(explorer.index):,} images",
        "",
        f"`DatasetExplorer(store)` (page of {explorer.page_size}) on the store above; {len(times)} filter changes "
        "(confidence and AUC ranges, class, correct/wrong, sort column and order), each timed from setting the "
        "control to the grid holding the new page's tiles, in Python (the browser's redraw of 48 tiles comes on "
        "top; the e2e test covers it). Opening the explorer (reading its columns, first page): "
        f"{opened * 1000:.0f} ms.",
        "",
        "| filter change | median | p95 | max |",
        "|---|---|---|---|",
        f"| to new tiles | {statistics.median(times) * 1000:.1f} ms | {p95 * 1000:.1f} ms | "
        f"{max(times) * 1000:.1f} ms |",
    ]


def _filter_changes(explorer, count: int) -> list:
    """``count`` control changes cycling through the explorer's filters and sort, each to a value other than the
    control's current one (setting a control to its value changes nothing)."""
    rng = np.random.default_rng(TOY_SEED)
    classes = [value for _, value in explorer.class_filter.options]
    sorts = [value for _, value in explorer.sort_by.options]
    ranges = [name for name in explorer.ranges if name in explorer.columns_present]

    def set_range(name: str, low: float, high: float):
        return lambda: setattr(explorer.ranges[name], "value", (low, high))

    def set_value(control, value):
        return lambda: setattr(control, "value", value)

    changes = []
    for k in range(count):
        kind = k % 4
        if kind == 0:
            low = round(float(rng.uniform(0, 0.5)), 2)
            changes.append(set_range(ranges[k % len(ranges)], low, round(low + 0.4, 2)))
        elif kind == 1:
            changes.append(set_value(explorer.class_filter, classes[1 + (k // 4) % (len(classes) - 1)]))
        elif kind == 2:
            changes.append(set_value(explorer.correct_filter, ("wrong", "correct", "all")[(k // 4) % 3]))
        else:
            changes.append(set_value(explorer.sort_by, sorts[(k // 4 + 1) % len(sorts)]))
    return changes


# ------------------------------------------------------------------------------------------------ GPU
class BusySampler:
    """The GPU's busy fraction: ``nvidia-smi``'s utilization.gpu sampled every 100 ms in a thread (falling back to
    ``torch.cuda.utilization()`` where nvidia-smi is missing)."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.samples = interval, list[float]()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.how = "nvidia-smi utilization.gpu" if shutil.which("nvidia-smi") else "torch.cuda.utilization()"

    def _read(self) -> float:
        if shutil.which("nvidia-smi"):
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "--id=0"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            return float(out.split()[0])
        return float(torch.cuda.utilization())

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._read())
            self._stop.wait(self.interval)

    def __enter__(self) -> BusySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def fraction(self) -> float:
        return float(np.mean(self.samples)) / 100 if self.samples else float("nan")


def _resnet50(device: str):
    import torchvision

    module = torchvision.models.resnet50(weights=None).eval()
    preprocessing = xw.core.Preprocessing(mean=xw.core.IMAGENET_MEAN, std=xw.core.IMAGENET_STD)
    return xw.Classifier(module, preprocessing=preprocessing, device=device)


def gpu_section(quick: bool, scratch: Path) -> list[str]:
    """ResNet-50 I-GOS at defaults through the local engine and one Ray actor on the GPU."""
    if not torch.cuda.is_available():
        return ["## GPU: ResNet-50 I-GOS", "", "Not measured: no CUDA device here."]
    images = 32 if quick else 128
    generator = torch.Generator().manual_seed(TOY_SEED)
    pixels = torch.rand(images, 3, 224, 224, generator=generator)
    source = xw.data.as_source(pixels)
    model = _resnet50("cuda")
    rows: list[str] = []
    engines: list[tuple[str, dict[str, Any]]] = [("local", {})]
    missing = _ray_missing()
    if missing is None:
        engines.append(("ray, 1 actor", {"engine": "ray", "workers": 1}))
    timed_run(model, xw.data.as_source(pixels[:SHARD_SIZE]), "igos", scratch / "gpu-warm", shard_size=SHARD_SIZE)
    for name, options in engines:
        context = local_ray(num_cpus=4, num_gpus=1) if options else contextlib.nullcontext(0.0)
        with context, BusySampler() as busy:
            timing = timed_run(model, source, "igos", scratch / "gpu", shard_size=SHARD_SIZE, **options)
        rows.append(
            f"| {name} | {timing.seconds:.1f} s | {timing.rate:.2f} | {timing.steady_rate:.2f} | "
            f"{1 / timing.steady_rate * 1000:.0f} ms | {busy.fraction * 100:.0f} % |"
        )
    if missing is not None:
        rows.append(f"| ray, 1 actor | not measured: {missing} | | | | |")
    return [
        f"## GPU: ResNet-50 I-GOS at defaults, {images} images",
        "",
        f"torchvision ResNet-50 (random weights: no download here), {images} synthetic 224² images as an "
        f'`[N, 3, 224, 224]` tensor source, `explain_dataset(method="igos", shard_size={SHARD_SIZE})` with '
        "metrics, on "
        f"{torch.cuda.get_device_name()}; one warm-up shard first. *Busy*: {BusySampler().how} sampled every "
        "100 ms over the call, mean (the share of time a kernel ran; the Ray row's call includes the actor's "
        "start, when the GPU idles). *Per image (steady)* is the simulator's per-image cost for I-GOS.",
        "",
        "| engine | whole run | images/s (whole run) | images/s (steady) | per image (steady) | GPU busy |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


# ------------------------------------------------------------------------------------------------ all
def dataset_sections(
    quick: bool, parts: set[str] | None = None, device: str = "cpu", engine_images: int | None = None
) -> dict[str, list[str]]:
    """The sections named in ``parts`` (default: all), by name, as markdown lines; the engine rows run on
    ``device`` over ``engine_images`` toy images (default 512; the simulator check of the overhead section uses
    CPU engine rows only)."""
    parts = set(SECTIONS if parts is None else parts)
    unknown = sorted(parts - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown dataset sections {unknown}; expected some of {SECTIONS}")
    sections: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="xw-datasets-") as tmp:
        scratch = Path(tmp)
        engines = EngineFigures()
        if "engines" in parts:
            sections["engines"], engines = engine_section(quick, scratch, device, engine_images)
            if device != "cpu":
                engines = EngineFigures()
        if parts & {"store", "explorer"}:
            lines, store, commits = store_section(quick, scratch)
            engines.commit_seconds = commits[112].seconds
            if "store" in parts:
                sections["store"] = lines
            if "explorer" in parts:
                sections["explorer"] = explorer_section(store, quick)
        if "overhead" in parts:
            sections["overhead"], _ = overhead_section(quick, engines)
        if "gpu" in parts:
            sections["gpu"] = gpu_section(quick, scratch)
    return {name: sections[name] for name in SECTIONS if name in sections}
