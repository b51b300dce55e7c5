"""A stopped run resumes where it stopped: cancelled through its progress, interrupted, or its whole process
killed with SIGKILL half-way. The resumed run holds every image exactly once, validates, and equals a run that
was never stopped."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import xwidgets as xw
from xwidgets.core.methods import get_spec
from xwidgets.core.runner import Progress

IGOS = dict(get_spec("igos").quick)
ROOT = Path(__file__).parents[2]


def explain(store, source, progress=False, **options):
    options = {"method": "gradcam", "shard_size": 8, "metrics": False, **options}
    return xw.explain_dataset(xw.toy.classifier(), source, store=store, progress=progress, **options)


def assert_same_run(resumed, whole):
    """Every index once, a valid store, and the records (timings aside) and maps of the uninterrupted run."""
    indices = resumed.column("index").tolist()
    assert indices == sorted(set(indices)) == list(range(resumed.total))
    assert resumed.complete and resumed.count == whole.count
    resumed.validate()
    assert resumed.records.drop_columns(["seconds"]).equals(whole.records.drop_columns(["seconds"]))
    assert np.array_equal(resumed.maps[:], whole.maps[:])
    assert all(np.array_equal(resumed.thumbnail(i), whole.thumbnail(i)) for i in range(resumed.total))


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    return explain(tmp_path_factory.mktemp("whole") / "run", xw.data.toy(32, seed=6))


def test_a_run_cancelled_after_two_shards_resumes_to_the_same_run(tmp_path, whole):
    store = tmp_path / "run"
    reports = []

    def count(fraction, message):
        reports.append(message)
        if len(reports) == 2:
            progress.cancel()

    progress = Progress(count)
    with pytest.raises(xw.XWidgetsError, match=r"run stopped at 16 / 32 images; call again to resume"):
        explain(store, xw.data.toy(32, seed=6), progress=progress)
    stopped = xw.open_run(store)
    assert stopped.count == 16 and not stopped.complete and len(reports) == 2
    stopped.validate()
    resumed_reports = []
    resumed = explain(store, xw.data.toy(32, seed=6), progress=lambda f, m: resumed_reports.append(m))
    assert resumed_reports[0].startswith("16 / 32 images") and resumed_reports[-1].startswith("32 / 32 images")
    assert_same_run(resumed, whole)


def test_an_interrupted_run_says_where_it_stopped_and_resumes(tmp_path, whole, capsys):
    store = tmp_path / "run"

    def interrupt(fraction, message):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        explain(store, xw.data.toy(32, seed=6), progress=interrupt)
    assert "run stopped at 8 / 32 images; call again to resume" in capsys.readouterr().err
    assert xw.open_run(store).count == 8
    assert_same_run(explain(store, xw.data.toy(32, seed=6)), whole)


def test_a_finished_run_called_again_computes_nothing(tmp_path, whole):
    store = tmp_path / "run"
    explain(store, xw.data.toy(32, seed=6))
    reports = []
    again = explain(store, xw.data.toy(32, seed=6), progress=lambda f, m: reports.append(m))
    assert reports == ["32 / 32 images · 0.0 images/s · 0 skipped"]
    assert_same_run(again, whole)


KILLED = """
import sys
import xwidgets as xw
xw.explain_dataset(
    xw.toy.classifier(), xw.data.toy({count}, seed=7), method="igos", store=sys.argv[1], shard_size={shard},
    metrics=False, progress=False, **{params!r}
)
print("finished")
"""


def test_a_killed_process_resumes_with_every_image_once(tmp_path):
    count, shard = 20, 4
    store = tmp_path / "killed"
    script = textwrap.dedent(KILLED).format(count=count, shard=shard, params=IGOS)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", script, str(store)], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        commits, deadline = store / "commits", time.monotonic() + 240
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
    assert 2 <= len(list(commits.glob("*.json"))) < count // shard and not killed.complete
    killed.validate()
    options = {"method": "igos", "shard_size": shard, "seed": 0, **IGOS}
    resumed = explain(store, xw.data.toy(count, seed=7), **options)
    whole = explain(tmp_path / "whole", xw.data.toy(count, seed=7), **options)
    assert_same_run(resumed, whole)
