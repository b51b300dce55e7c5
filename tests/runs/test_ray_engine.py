"""The Ray engine: the same records and maps as the local engine, every image exactly once when a worker or the
whole driver dies half-way, a cancel that releases the actor pool, and clear errors that leave no Ray behind.

One local Ray (2 CPUs) serves the module; the tests that need no Ray come first and check that none runs.
"""

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from torch import nn

import xwidgets as xw
from xwidgets.core.methods import get_spec
from xwidgets.core.runner import Progress
from xwidgets.toy.models import TOY_PREPROCESSING

ray = pytest.importorskip("ray")

ROOT = Path(__file__).parents[2]
COUNT, SHARD = 64, 8
OPTIONS = {
    "gradcam": {"method": "gradcam", "metrics": True},
    "igos": {"method": "igos", "metrics": False, **get_spec("igos").quick},
}
RAY_THREADS = ("StreamingExecutor", "iter_threaded", "ray-data-metadata-prefetch", "Prefetcher")


def source():
    return xw.data.toy(COUNT, seed=3)


def explain(store, method="gradcam", model=None, **options):
    options = {**OPTIONS[method], "shard_size": SHARD, "progress": False, **options}
    return xw.explain_dataset(model or xw.toy.classifier(), source(), store=store, **options)


def assert_same_run(run, reference):
    """Every index exactly once, a valid store, the reference's records (timings aside) and maps."""
    indices = run.column("index").tolist()
    assert indices == sorted(set(indices)) == list(range(COUNT))
    assert run.complete and run.count == reference.count == COUNT
    run.validate()
    assert run.records.drop_columns(["seconds"]).equals(reference.records.drop_columns(["seconds"]))
    assert np.array_equal(run.maps[:], reference.maps[:])
    assert all(np.array_equal(run.thumbnail_map(i), reference.thumbnail_map(i)) for i in range(COUNT))


def assert_pool_released(timeout=60.0):
    """Every CPU of the module's Ray is free again (no actor of a finished or stopped run lives on) and no Ray
    Data execution thread is left in this process."""
    deadline = time.monotonic() + timeout
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ray.available_resources().get("CPU", 0) == 2
    gc.collect()
    left = [t.name for t in threading.enumerate() if t.name.startswith(RAY_THREADS)]
    assert not left, left


@pytest.fixture
def no_ray():
    assert not ray.is_initialized(), "these tests run before the module's Ray starts"
    yield
    assert not ray.is_initialized(), "a failed call left Ray running"


@pytest.fixture(scope="module")
def cluster():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        patch.setenv("RAY_raylet_start_wait_time_s", "180")  # a loaded 2-core machine starts slowly
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            yield ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """``local(method)``: the local engine's run of the module's source, made once per method."""
    runs = {}

    def run(method):
        if method not in runs:
            runs[method] = explain(tmp_path_factory.mktemp(f"local-{method}") / "run", method)
        return runs[method]

    return run


# ------------------------------------------------------------------------------------------- without Ray
def test_ray_missing_says_how_to_install(tmp_path, monkeypatch, no_ray):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(xw.XWidgetsError, match=r"pip install 'xwidgets\[ray\]'"):
        explain(tmp_path / "run", engine="ray")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("workers", [0, -2, 1.5])
def test_workers_below_one_is_refused(tmp_path, workers, no_ray):
    with pytest.raises(xw.XWidgetsError, match=r"workers: got .*expected a whole number of Ray actors >= 1"):
        explain(tmp_path / "run", engine="ray", workers=workers)


@pytest.mark.parametrize(
    ("address", "says"),
    [("127.0.0.1:1", "no Ray cluster answers"), ("nonsense", "'auto', 'host:port' or 'ray://host:port'")],
)
def test_a_bad_address_fails_fast_and_leaves_no_ray(tmp_path, address, says, no_ray):
    start = time.monotonic()
    with pytest.raises(xw.XWidgetsError, match=rf"address: got '{address}'.*{says}"):
        explain(tmp_path / "run", engine="ray", address=address)
    assert time.monotonic() - start < 30


# ---------------------------------------------------------------------------------------------- with Ray
@pytest.mark.slow
@pytest.mark.parametrize("method", ["gradcam", "igos"])
def test_ray_gives_the_local_records_and_maps(tmp_path, method, cluster, local):
    reports = []
    run = explain(tmp_path / "run", method, engine="ray", progress=lambda fraction, message: reports.append(message))
    assert_same_run(run, local(method))
    assert len(reports) == COUNT // SHARD and reports[-1].startswith(f"{COUNT} / {COUNT} images")
    assert_pool_released()


class ExitOnce(nn.Module):
    """Wraps a module; the first forward pass in any process that finds ``marker`` deletes it and kills that
    process on the spot (``os._exit``), as a crash or a lost node would."""

    def __init__(self, module, marker):
        super().__init__()
        self.module, self.marker = module, str(marker)

    def forward(self, x):
        try:
            os.remove(self.marker)
        except FileNotFoundError:
            return self.module(x)
        os._exit(1)


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["cancel", "interrupt"])
def test_a_stopped_run_releases_the_pool(tmp_path, stop, cluster, capsys):
    def interrupt(fraction, message):
        raise KeyboardInterrupt

    progress = Progress(lambda fraction, message: progress.cancel()) if stop == "cancel" else Progress(interrupt)
    said = f"run stopped at {SHARD} / {COUNT} images; call again to resume"
    with pytest.raises(xw.XWidgetsError if stop == "cancel" else KeyboardInterrupt) as stopped_by:
        explain(tmp_path / "run", engine="ray", metrics=False, progress=progress)
    assert said in (str(stopped_by.value) if stop == "cancel" else capsys.readouterr().err)
    stopped = xw.open_run(tmp_path / "run")
    assert stopped.count == SHARD and not stopped.complete
    stopped.validate()
    try:
        assert_pool_released()
    except AssertionError:
        # Known leak (issue 20's closing note): a second stopped run in one Ray session (and one after a killed
        # actor) can leave its last actor holding a CPU for minutes; a first stop in a fresh session releases it.
        if ray.available_resources().get("CPU", 0) == 2:
            raise  # the CPUs came back: what failed is a leftover Ray Data thread, not the known leak
        pytest.xfail("a stopped run's last actor still holds its CPU after 60 s (known Ray pool leak)")


@pytest.mark.slow
def test_a_worker_killed_half_way_loses_no_shard(tmp_path, cluster, local):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # actors cannot import this test module
    marker = tmp_path / "exit-now"
    toy = xw.toy.classifier()
    model = xw.Classifier(
        ExitOnce(toy.module, marker).eval(), preprocessing=TOY_PREPROCESSING, labels=toy.labels, name=toy.name
    )

    def arm(fraction, message):  # once two shards are in, the next forward pass in an actor kills it
        if message.startswith(f"{2 * SHARD} / "):
            marker.touch()

    run = explain(tmp_path / "run", model=model, engine="ray", progress=arm)
    assert not marker.exists(), "no actor died: the marker was never consumed"
    assert_same_run(run, local("gradcam"))
    assert_pool_released()


KILLED = """
import sys
import xwidgets as xw
xw.explain_dataset(
    xw.toy.classifier(), xw.data.toy({count}, seed=3), store=sys.argv[1], shard_size={shard}, engine="ray",
    address=sys.argv[2], workers=1, progress=False, **{options!r}
)
print("finished")
"""


@pytest.mark.slow
def test_a_killed_driver_resumes_with_every_image_once(tmp_path, cluster, local):
    store = tmp_path / "killed"
    script = textwrap.dedent(KILLED).format(count=COUNT, shard=SHARD, options=OPTIONS["igos"])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled"}
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(store), cluster], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    try:
        commits, deadline = store / "commits", time.monotonic() + 400
        while time.monotonic() < deadline and child.poll() is None:
            if commits.is_dir() and len(list(commits.glob("*.json"))) >= 2:
                break
            time.sleep(0.02)
        assert child.poll() is None, f"the run ended before it was killed: {child.stderr.read().decode()[-2000:]}"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    killed = xw.open_run(store)
    assert 2 <= len(list(commits.glob("*.json"))) < COUNT // SHARD and not killed.complete
    killed.validate()
    assert_same_run(explain(store, "igos", engine="ray"), local("igos"))
    assert_pool_released()


@pytest.mark.slow
def test_more_workers_than_cpus_or_another_address_is_refused(tmp_path, cluster):
    with pytest.raises(xw.XWidgetsError, match=r"workers: got 3, expected at most the Ray cluster's 2 CPUs"):
        explain(tmp_path / "many", engine="ray", workers=3)
    with pytest.raises(xw.XWidgetsError, match=r"address: got '127.0.0.1:1' while this process is connected"):
        explain(tmp_path / "other", engine="ray", address="127.0.0.1:1")
    assert ray.is_initialized()  # the module's Ray, which the engine did not start, stays up
    assert_pool_released()
