"""The memory guard (issue 21, item 4): a run whose estimated peak does not fit is refused before any large
allocation, with the estimate, the memory available and the fixes; normal runs are not refused; the estimate is
honest against measured peaks; and the size a refusal suggests really runs within the budget."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import xwidgets as xw
from xwidgets.core import memory
from xwidgets.core.methods import specs

from .probes import rss_bytes

ROOT = Path(__file__).resolve().parents[2]
GB = 2**30
#: The measured peak over the estimate must lie in this range (measured on this 2-core CPU: 0.53 to 0.63).
HONEST = (0.45, 2.0)
IMAGENET = xw.core.Preprocessing(resize=232, crop=(224, 224), mean=xw.core.IMAGENET_MEAN, std=xw.core.IMAGENET_STD)


def _refusal(model, images, method="igos", **params) -> xw.XWidgetsError:
    with pytest.raises(xw.XWidgetsError) as caught:
        xw.explain(model, images, method=method, progress=False, **params)
    return caught.value


def test_the_3000x4000_photo_is_refused_at_once(monkeypatch):
    # The reported case: I-GOS on a 3000x4000 photo was killed by the OS at about 15 GB, with no Python error.
    monkeypatch.setenv(memory.ENV, "15G")
    model, photo = xw.toy.classifier(), np.zeros((3000, 4000, 3), np.uint8)
    before, start = rss_bytes(), time.perf_counter()
    error = _refusal(model, photo)
    seconds, grown = time.perf_counter() - start, rss_bytes() - before
    assert seconds < 0.5, seconds
    assert grown < 100 * 2**20, f"RSS grew by {grown / 2**20:.0f} MB before the refusal"
    text = str(error)
    assert error.argument == "images" and "3000x4000" in text and "estimated peak of" in text
    assert "12.0 GB (80% of the 15.0 GB" in text
    assert re.search(r"size=\(\d+, \d+\) or smaller", text) and "max_batch=" in text


@pytest.fixture(scope="module")
def models() -> dict:
    """The normal cases: the toy classifier at 112, torchvision's ResNet-50 and ViT-B/16 with random weights at
    224, and a user's CNN (no resize) at 512."""
    torch.manual_seed(0)
    return {
        "toy 112": (xw.toy.classifier(), 112),
        "resnet50 224": (xw.Classifier(torchvision.models.resnet50().eval(), preprocessing=IMAGENET), 500),
        "vit_b_16 224": (xw.Classifier(torchvision.models.vit_b_16().eval(), preprocessing=IMAGENET), 500),
        "user CNN 512": (xw.Classifier(xw.toy.models.ToyCNN(10).eval()), 512),
    }


@pytest.mark.parametrize("available", [None, 80 * GB], ids=["this machine", "80 GB GPU"])
def test_normal_runs_are_not_refused(models, available):
    for name, (model, side) in models.items():
        chunk = model.max_batch
        model.max_batch = 256 if available else chunk  # a GPU's default micro-batch
        try:
            for spec in specs(("heatmap", "graph")):
                values = spec.params.resolve({})
                found = memory.check(spec.memory, model, [(side, side)], values, title=spec.title, available=available)
                assert found is not None and found.fits, (name, spec.name, found)
        finally:
            model.max_batch = chunk


def test_pair_runs_are_not_refused():
    embedder = xw.toy.embedder()
    for spec in specs("pair"):
        if spec.memory is not None:
            found = memory.check(spec.memory, embedder, [(112, 112)] * 2, spec.params.resolve({}), title=spec.title)
            assert found is not None and found.fits, spec.name


def test_a_run_that_fits_runs(monkeypatch):
    monkeypatch.setenv(memory.ENV, "1G")
    model = xw.toy.classifier()
    result = xw.explain(model, torch.rand(1, 3, 112, 112), method="igos", progress=False, iterations=1, ig_steps=2)
    assert result.saliency.shape == (1, 1, 112, 112)


def test_explorer_status_line_shows_the_refusal(monkeypatch):
    monkeypatch.setenv(memory.ENV, "1G")
    explorer = xw.heatmaps.HeatmapExplorer(xw.toy.classifier(), torch.rand(3, 800, 800), method="igos")
    try:
        with pytest.raises(xw.XWidgetsError, match="estimated peak"):
            explorer.wait()
        assert "images" in explorer.status.value and "estimated peak" in explorer.status.value
    finally:
        explorer.close()


def _measured(runs: list[str]) -> list[dict]:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop(memory.ENV, None)
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "tests.reliability.memory_peaks", *runs],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_the_estimate_is_honest_and_the_suggested_size_runs(monkeypatch):
    budget = 1.5 * GB
    monkeypatch.setenv(memory.ENV, str(int(budget)))
    refused = str(_refusal(xw.toy.classifier(), torch.zeros(1, 3, 2000, 2000), iterations=1, ig_steps=16))
    side = int(re.search(r"size=\((\d+), (\d+)\)", refused).group(1))
    monkeypatch.delenv(memory.ENV)
    sizes = (192, 320, 448)
    rows = _measured([f"{m}:{s}" for m in ("igos", "sag", "rise", "pair_rise") for s in sizes] + [f"igos:{side}"])
    print("\nmethod size estimate measured ratio")
    for row in rows:
        ratio = row["measured"] / row["estimate"]
        print(
            row["method"],
            row["size"],
            memory.format_bytes(row["estimate"]),
            memory.format_bytes(row["measured"]),
            f"{ratio:.2f}",
        )
        assert HONEST[0] <= ratio <= HONEST[1], row
    assert rows[-1]["measured"] <= memory.SAFETY * budget, (side, rows[-1])
    assert math.isclose(rows[-1]["size"], side)
