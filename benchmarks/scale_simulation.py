"""A discrete-event simulation of a dataset run (issue 20): how long `xw.explain_dataset` takes on many GPUs, and
which stage limits it.

The run is the Ray engine's pipeline, stage by stage, each stage a first-in-first-out server:

- the driver's **scheduler** hands shard tasks to the actor pool, ``dispatch_seconds`` of driver time per task
  (serialised over all workers); each worker holds up to ``in_flight`` tasks (the one it runs and those queued);
- **loading** (decode + resize) of a shard's S images at ``load_images_per_second`` images/s per loader: one loader
  per node shared by its ``workers_per_node`` workers (a node's decoding pool), or with ``loader_per_worker`` one
  per worker (each actor decodes its own shards, as the Ray engine's ``load_shard`` does); with ``prefetch`` the
  next shard is loaded while the current one is explained, without it the worker loads and then explains;
- **explaining** on the worker: ``task_seconds`` of per-task overhead (Ray's scheduling, argument and result
  serialisation) plus S × ``seconds_per_image``;
- **store writes**: the driver commits every shard (Parquet + arrays + marker), ``commit_seconds`` per commit plus
  S × ``bytes_per_image`` at ``write_megabytes_per_second``; one writer for the whole run.

The pool starts after ``startup_seconds`` (actors and model replicas start in parallel). The wall time is the last
commit. The **bottleneck** is the busiest server: the worker pool (split into explaining and task overhead, by
which of the two took more of its time), a node's loader, the writer or the scheduler.

``python benchmarks/scale_simulation.py`` prints the projection for ImageNet-val (50,000 images) with I-GOS and
SAG on 1, 8 and 64 GPUs from the per-image costs given on the command line (defaults: the figures docs/scale.md
uses, each documented at :data:`DEFAULTS`).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

__all__ = [
    "Cluster",
    "Simulation",
    "Stages",
    "Workload",
    "bounds",
    "projection_rows",
    "simulate",
]

IMAGENET_VAL = 50_000


@dataclass(frozen=True)
class Workload:
    """What is explained: ``images`` images in shards of ``shard_size``; each image adds ``bytes_per_image`` to
    the store (its float16 map, thumbnail, thumbnail map and record)."""

    images: int
    shard_size: int = 16
    bytes_per_image: float = 224 * 224 * 2 + 64 * 64 * 4 + 600

    def shard_sizes(self) -> list[int]:
        """Images per shard; the last shard holds the remainder."""
        full, rest = divmod(self.images, self.shard_size)
        return [self.shard_size] * full + ([rest] if rest else [])


@dataclass(frozen=True)
class Stages:
    """The cost of each stage. Times in seconds, rates per second; ``math.inf`` rates make a stage free."""

    seconds_per_image: float
    load_images_per_second: float = math.inf
    write_megabytes_per_second: float = math.inf
    commit_seconds: float = 0.0
    task_seconds: float = 0.0
    dispatch_seconds: float = 0.0
    startup_seconds: float = 0.0


@dataclass(frozen=True)
class Cluster:
    """``workers`` GPU workers (one model replica each), ``workers_per_node`` to a node; each holds up to
    ``in_flight`` tasks; loading per node or per worker, overlapped with explaining (``prefetch``) or not."""

    workers: int
    workers_per_node: int = 8
    in_flight: int = 2
    prefetch: bool = True
    loader_per_worker: bool = False

    @property
    def loaders(self) -> int:
        return self.workers if self.loader_per_worker else self.nodes

    def loader_of(self, worker: int) -> int:
        return worker if self.loader_per_worker else worker // self.workers_per_node

    @property
    def nodes(self) -> int:
        return math.ceil(self.workers / self.workers_per_node)


@dataclass
class Simulation:
    """The outcome: wall time and first commit (s from the start, startup included) and each server's busy time
    (s) over the run."""

    wall_seconds: float
    first_commit_seconds: float
    explaining_seconds: float
    overhead_seconds: float
    loading_seconds: list[float]
    writing_seconds: float
    scheduling_seconds: float
    workers: int
    startup_seconds: float

    def utilisation(self) -> dict[str, float]:
        """Busy fraction of each server in [0, 1] over the time after startup; the pool's is its mean over
        workers, loading's the busiest loader's."""
        span = max(self.wall_seconds - self.startup_seconds, 1e-12)
        return {
            "workers": (self.explaining_seconds + self.overhead_seconds) / (self.workers * span),
            "loading": max(self.loading_seconds) / span,
            "store writes": self.writing_seconds / span,
            "scheduling": self.scheduling_seconds / span,
        }

    @property
    def bottleneck(self) -> str:
        """``"explaining"``, ``"task overhead"``, ``"loading"``, ``"store writes"`` or ``"scheduling"``."""
        busy = self.utilisation()
        stage = max(busy, key=lambda name: busy[name])
        if stage != "workers":
            return stage
        return "explaining" if self.explaining_seconds >= self.overhead_seconds else "task overhead"


@dataclass
class _Clock:
    """The event queue: callbacks run in time order (ties in the order they were scheduled)."""

    now: float = 0.0
    events: list = field(default_factory=list)
    order: itertools.count = field(default_factory=itertools.count)

    def at(self, time: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self.events, (time, next(self.order), callback))

    def run(self) -> None:
        while self.events:
            self.now, _, callback = heapq.heappop(self.events)
            callback()


class _Server:
    """A first-in-first-out server. Jobs are submitted at the clock's current time, which never decreases, so a
    job starts when both it has arrived and the job before it has finished."""

    def __init__(self, clock: _Clock):
        self.clock, self.free_at, self.busy = clock, 0.0, 0.0

    def submit(self, seconds: float, then: Callable[[], None]) -> None:
        start = max(self.clock.now, self.free_at)
        self.free_at = start + seconds
        self.busy += seconds
        self.clock.at(self.free_at, then)


class _Worker:
    """One actor: a queue of dispatched shards, explained one at a time in order."""

    def __init__(self, run: _Run, loader: _Server):
        self.run, self.loader = run, loader
        self.queue: deque[int] = deque()
        self.loaded: set[int] = set()
        self.busy = False

    def receive(self, shard: int) -> None:
        self.queue.append(shard)
        if self.run.cluster.prefetch:
            self.loader.submit(self.run.load_seconds(shard), lambda: self._loaded(shard))
        self._next()

    def _loaded(self, shard: int) -> None:
        self.loaded.add(shard)
        self._next()

    def _next(self) -> None:
        if self.busy or not self.queue:
            return
        if self.run.cluster.prefetch and self.queue[0] not in self.loaded:
            return
        shard, self.busy = self.queue.popleft(), True
        if self.run.cluster.prefetch:
            self._explain(shard)
        else:
            self.loader.submit(self.run.load_seconds(shard), lambda: self._explain(shard))

    def _explain(self, shard: int) -> None:
        explaining = self.run.sizes[shard] * self.run.stages.seconds_per_image
        self.run.explaining += explaining
        self.run.overhead += self.run.stages.task_seconds
        self.run.clock.at(self.run.clock.now + self.run.stages.task_seconds + explaining, lambda: self._done(shard))

    def _done(self, shard: int) -> None:
        self.busy = False
        self.run.commit(shard)
        self.run.request_task(self)
        self._next()


class _Run:
    """The whole pipeline: scheduler, per-node loaders, workers and the writer on one clock."""

    def __init__(self, workload: Workload, stages: Stages, cluster: Cluster):
        self.workload, self.stages, self.cluster = workload, stages, cluster
        self.sizes = workload.shard_sizes()
        self.pending: deque[int] = deque(range(len(self.sizes)))
        self.clock = _Clock(now=stages.startup_seconds)
        self.scheduler, self.writer = _Server(self.clock), _Server(self.clock)
        self.scheduler.free_at = self.writer.free_at = stages.startup_seconds
        self.loaders = [_Server(self.clock) for _ in range(cluster.loaders)]
        for loader in self.loaders:
            loader.free_at = stages.startup_seconds
        self.workers = [_Worker(self, self.loaders[cluster.loader_of(i)]) for i in range(cluster.workers)]
        self.explaining = self.overhead = 0.0
        self.commits: list[float] = []

    def load_seconds(self, shard: int) -> float:
        return self.sizes[shard] / self.stages.load_images_per_second

    def request_task(self, worker: _Worker) -> None:
        self.scheduler.submit(self.stages.dispatch_seconds, lambda: self._dispatch(worker))

    def _dispatch(self, worker: _Worker) -> None:
        if self.pending:
            worker.receive(self.pending.popleft())

    def commit(self, shard: int) -> None:
        megabytes = self.sizes[shard] * self.workload.bytes_per_image / 1e6
        seconds = self.stages.commit_seconds + megabytes / self.stages.write_megabytes_per_second
        self.writer.submit(seconds, self._committed)

    def _committed(self) -> None:
        self.commits.append(self.clock.now)

    def simulate(self) -> Simulation:
        for _ in range(self.cluster.in_flight):
            for worker in self.workers:
                self.request_task(worker)
        self.clock.run()
        return Simulation(
            wall_seconds=max(self.commits),
            first_commit_seconds=min(self.commits),
            explaining_seconds=self.explaining,
            overhead_seconds=self.overhead,
            loading_seconds=[loader.busy for loader in self.loaders],
            writing_seconds=self.writer.busy,
            scheduling_seconds=self.scheduler.busy,
            workers=self.cluster.workers,
            startup_seconds=self.stages.startup_seconds,
        )


def simulate(workload: Workload, stages: Stages, cluster: Cluster) -> Simulation:
    """Simulate one run of ``workload`` on ``cluster`` with ``stages``' costs."""
    if workload.images < 1 or workload.shard_size < 1 or cluster.workers < 1 or cluster.in_flight < 1:
        raise ValueError(f"need images, shard_size, workers and in_flight >= 1, got {workload} and {cluster}")
    return _Run(workload, stages, cluster).simulate()


def bounds(workload: Workload, stages: Stages, cluster: Cluster) -> dict[str, float]:
    """Closed-form lower bounds on the wall time after startup (s), one per stage: no run can be faster than its
    slowest stage working without a pause."""
    shards = len(workload.shard_sizes())
    return {
        "workers": (workload.images * stages.seconds_per_image + shards * stages.task_seconds) / cluster.workers,
        "loading": workload.images / (stages.load_images_per_second * cluster.loaders),
        "store writes": shards * stages.commit_seconds
        + workload.images * workload.bytes_per_image / 1e6 / stages.write_megabytes_per_second,
        "scheduling": shards * stages.dispatch_seconds,
    }


@dataclass(frozen=True)
class Defaults:
    """The measured figures the projection in docs/scale.md starts from (each overridable on the command line).

    Per-image costs include the deletion and insertion AUCs a run computes (``metrics=True``). Commit times are
    for a 16-image shard with 224² maps; ``arrays_seconds`` is the part of a commit spent writing the zarr rows.
    """

    igos_seconds: float = 0.148  # ResNet-50 224², I-GOS + AUCs, local engine on an H200 (datasets_nvidia-h200.md)
    sag_seconds: float = 0.62  # ~840 forward images per image on a pretrained 224² model (pretrained_*h100*.md) + 18 ms
    load_per_core: float = 88.0  # decode a ~500×375 JPEG + resize 256 + crop 224, one core (measured, loaded machine)
    commit_seconds: float = 0.054  # the driver's commit of a 224² shard (datasets_cpu.md, store section, quiet)
    arrays_seconds: float = 0.049  # of it, writing the array rows
    task_seconds: float = 0.0113  # Ray per-task gap on an actor (datasets_cpu.md, overhead section)
    dispatch_seconds: float = 0.0059  # the driver's time per task, an upper bound (datasets_cpu.md)
    startup_seconds: float = 30.0  # ray.init and the pool's start with a ResNet-50 replica per actor
    shard_size: int = 16
    tier2_dollars_per_gpu_hour: float = 2.49  # an H100 on demand at a tier-2 cloud (Lambda, Q1 2026 list)
    hyperscaler_dollars_per_gpu_hour: float = 12.29  # AWS p5.48xlarge on demand, $98.32/h for 8 H100 (list)


DEFAULTS = Defaults()

#: The engine as built (each actor decodes its own shard, then explains it; the driver writes everything), and
#: with the array rows written by the actors (the driver commits only the Parquet file and the marker).
SCENARIOS = ("as built", "actors write arrays")


def projection_stages(seconds_per_image: float, defaults: Defaults, scenario: str) -> Stages:
    """The stages of an ImageNet-val run under ``scenario`` (one of :data:`SCENARIOS`)."""
    commit = defaults.commit_seconds
    if scenario == "actors write arrays":
        commit -= defaults.arrays_seconds
    return Stages(
        seconds_per_image=seconds_per_image,
        load_images_per_second=defaults.load_per_core,
        commit_seconds=commit,
        task_seconds=defaults.task_seconds,
        dispatch_seconds=defaults.dispatch_seconds,
        startup_seconds=defaults.startup_seconds,
    )


def projection_rows(defaults: Defaults = DEFAULTS, gpu_counts=(1, 8, 64)) -> list[dict]:
    """ImageNet-val with I-GOS and SAG on ``gpu_counts`` GPUs under each scenario: one dict per (scenario, method,
    GPUs) with the simulated wall time (s), GPU-hours, dollars at the two prices, the bottleneck and each stage's
    busy fraction. Every actor decodes its own shards on one core without prefetch, as the Ray engine does."""
    rows = []
    workload = Workload(IMAGENET_VAL, defaults.shard_size)
    cluster_of = {gpus: Cluster(gpus, prefetch=False, loader_per_worker=True) for gpus in gpu_counts}
    for scenario in SCENARIOS:
        for method, seconds in (("igos", defaults.igos_seconds), ("sag", defaults.sag_seconds)):
            stages = projection_stages(seconds, defaults, scenario)
            for gpus in gpu_counts:
                result = simulate(workload, stages, cluster_of[gpus])
                hours = result.wall_seconds * gpus / 3600
                rows.append(
                    {
                        "scenario": scenario,
                        "method": method,
                        "gpus": gpus,
                        "wall_seconds": result.wall_seconds,
                        "gpu_hours": hours,
                        "dollars": (
                            hours * defaults.tier2_dollars_per_gpu_hour,
                            hours * defaults.hyperscaler_dollars_per_gpu_hour,
                        ),
                        "bottleneck": result.bottleneck,
                        "utilisation": result.utilisation(),
                    }
                )
    return rows


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def projection_table(rows: list[dict]) -> list[str]:
    """The projection as markdown table lines."""
    lines = [
        "| engine | method | GPUs | wall time | GPU-hours | cost (tier-2 / hyperscaler) | bottleneck "
        "| busy: workers / loading / writes / scheduling |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        busy = " / ".join(f"{value * 100:.0f} %" for value in row["utilisation"].values())
        lines.append(
            f"| {row['scenario']} | {row['method']} | {row['gpus']} | {_duration(row['wall_seconds'])} | "
            f"{row['gpu_hours']:.1f} | "
            f"${row['dollars'][0]:.0f} / ${row['dollars'][1]:.0f} | {row['bottleneck']} | {busy} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in vars(DEFAULTS).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    defaults = replace(DEFAULTS, **vars(parser.parse_args(argv)))
    print("\n".join(projection_table(projection_rows(defaults))))


if __name__ == "__main__":
    main()
