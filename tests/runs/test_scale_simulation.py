"""The dataset-run simulator of benchmarks/scale_simulation.py reproduces the closed-form cases: pure compute on one
and many workers, the two-stage flow line of loading and explaining (with and without prefetch), a writer-bound, a
loading-bound and a scheduling-bound run, and it names the stage that limits each."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).parents[2] / "benchmarks" / "scale_simulation.py"


@pytest.fixture(scope="module")
def sim():
    spec = importlib.util.spec_from_file_location("scale_simulation", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_simulation"] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("scale_simulation", None)


@pytest.mark.parametrize("images", [64, 70])
def test_one_worker_with_free_stages_takes_images_times_cost(sim, images):
    result = sim.simulate(sim.Workload(images, 16), sim.Stages(seconds_per_image=0.5), sim.Cluster(1))
    assert result.wall_seconds == pytest.approx(images * 0.5)
    assert result.bottleneck == "explaining"
    assert result.utilisation()["workers"] == pytest.approx(1.0)


@pytest.mark.parametrize(("workers", "shards"), [(4, 12), (8, 8), (3, 10)])
def test_many_workers_run_in_waves_of_shards(sim, workers, shards):
    stages = sim.Stages(seconds_per_image=0.1, task_seconds=0.2, startup_seconds=7.0)
    result = sim.simulate(sim.Workload(shards * 16, 16), stages, sim.Cluster(workers))
    waves = math.ceil(shards / workers)
    assert result.wall_seconds == pytest.approx(7.0 + waves * (0.2 + 16 * 0.1))


@pytest.mark.parametrize(("load", "explain"), [(1.0, 3.0), (3.0, 1.0), (2.0, 2.0)])
def test_prefetch_is_a_two_stage_flow_line(sim, load, explain):
    """Johnson's two-machine flow line with identical jobs: a + b + (n - 1) max(a, b)."""
    shards, size = 9, 8
    stages = sim.Stages(seconds_per_image=explain / size, load_images_per_second=size / load)
    result = sim.simulate(sim.Workload(shards * size, size), stages, sim.Cluster(1, prefetch=True))
    assert result.wall_seconds == pytest.approx(load + explain + (shards - 1) * max(load, explain))
    assert result.first_commit_seconds == pytest.approx(load + explain)
    assert result.bottleneck == ("loading" if load > explain else "explaining")


def test_without_prefetch_loading_and_explaining_add_up(sim):
    shards, size = 9, 8
    stages = sim.Stages(seconds_per_image=2.0 / size, load_images_per_second=size / 1.0)
    result = sim.simulate(sim.Workload(shards * size, size), stages, sim.Cluster(1, prefetch=False))
    assert result.wall_seconds == pytest.approx(shards * (1.0 + 2.0))


def test_a_slow_writer_serialises_the_commits(sim):
    """One worker finishes a shard every b s; commits of C > b s queue: the last ends at b + n C."""
    shards, size, commit = 10, 4, 1.5
    stages = sim.Stages(seconds_per_image=0.25, commit_seconds=1.0, write_megabytes_per_second=1.0)
    workload = sim.Workload(shards * size, size, bytes_per_image=0.125e6)  # 0.5 MB per shard at 1 MB/s: 0.5 s
    result = sim.simulate(workload, stages, sim.Cluster(1))
    assert result.wall_seconds == pytest.approx(1.0 + shards * commit)
    assert result.bottleneck == "store writes"
    assert result.writing_seconds == pytest.approx(shards * commit)


def test_loading_is_per_node(sim):
    """16 workers on 2 nodes with instant explaining: each node's loader takes half the shards."""
    shards, size = 32, 10
    stages = sim.Stages(seconds_per_image=1e-9, load_images_per_second=10.0)
    result = sim.simulate(sim.Workload(shards * size, size), stages, sim.Cluster(16, workers_per_node=8))
    assert result.wall_seconds == pytest.approx(shards / 2 * 1.0, rel=1e-6)
    assert result.loading_seconds == pytest.approx([16.0, 16.0])
    assert result.bottleneck == "loading"


def test_a_slow_scheduler_limits_many_workers(sim):
    shards = 100
    stages = sim.Stages(seconds_per_image=0.01, dispatch_seconds=0.5)
    result = sim.simulate(sim.Workload(shards * 4, 4), stages, sim.Cluster(64))
    assert result.wall_seconds == pytest.approx(shards * 0.5 + 4 * 0.01)
    assert result.bottleneck == "scheduling"


def test_task_overhead_dominates_tiny_shards(sim):
    stages = sim.Stages(seconds_per_image=0.001, task_seconds=0.05)
    result = sim.simulate(sim.Workload(400, 1), stages, sim.Cluster(4))
    assert result.wall_seconds == pytest.approx(100 * 0.051)
    assert result.bottleneck == "task overhead"


def test_the_simulation_never_beats_its_bounds(sim):
    workload = sim.Workload(5_000, 16, bytes_per_image=1e5)
    stages = sim.Stages(
        seconds_per_image=0.05,
        load_images_per_second=400.0,
        write_megabytes_per_second=50.0,
        commit_seconds=0.01,
        task_seconds=0.01,
        dispatch_seconds=0.002,
        startup_seconds=3.0,
    )
    for workers in (1, 8, 64):
        cluster = sim.Cluster(workers)
        result = sim.simulate(workload, stages, cluster)
        slowest = max(sim.bounds(workload, stages, cluster).values())
        assert slowest + 3.0 <= result.wall_seconds + 1e-9
        assert result.wall_seconds <= 1.25 * (slowest + 3.0) + 2.0  # within a shard's pipeline fill of the bound


def test_bad_workloads_are_refused(sim):
    with pytest.raises(ValueError, match="workers"):
        sim.simulate(sim.Workload(10, 2), sim.Stages(seconds_per_image=1.0), sim.Cluster(0))


def test_the_projection_covers_both_methods_on_1_8_and_64_gpus(sim):
    rows = sim.projection_rows()
    assert [(row["scenario"], row["method"], row["gpus"]) for row in rows] == [
        (scenario, method, gpus) for scenario in sim.SCENARIOS for method in ("igos", "sag") for gpus in (1, 8, 64)
    ]
    for scenario in sim.SCENARIOS:
        igos = [row["wall_seconds"] for row in rows if row["method"] == "igos" and row["scenario"] == scenario]
        assert igos[0] > igos[1] > igos[2]
    as_built, lighter = (
        [row["wall_seconds"] for row in rows if row["scenario"] == scenario] for scenario in sim.SCENARIOS
    )
    assert all(light <= built for light, built in zip(lighter, as_built))
    assert all(0 < low < high for low, high in (row["dollars"] for row in rows))
    table = sim.projection_table(rows)
    assert len(table) == 2 + len(rows) and all(line.count("|") == 9 for line in table)


def test_actors_decoding_their_own_shards_add_loading_to_each_task(sim):
    """Without prefetch, an actor that decodes its own shards takes S / l + S c per shard, whatever the others do."""
    shards, size = 16, 8
    stages = sim.Stages(seconds_per_image=0.5, load_images_per_second=16.0)
    cluster = sim.Cluster(4, prefetch=False, loader_per_worker=True)
    result = sim.simulate(sim.Workload(shards * size, size), stages, cluster)
    assert result.wall_seconds == pytest.approx(shards / 4 * (size / 16.0 + size * 0.5))
    assert len(result.loading_seconds) == 4
