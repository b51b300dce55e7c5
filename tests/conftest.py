"""Shared fixtures: tiny models that run in milliseconds on the CPU, and the front end built from js/src.

Tiers: ``python -m pytest`` runs everything (CI and the README's command); ``python -m pytest -m "not slow"`` is the
inner loop, a few minutes on a 2-core CPU, and skips the tests marked ``slow`` (browser tests, notebooks, the
packaging venv, and the quality measurements on many toy images).
"""

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import xwidgets as xw

JS = Path(__file__).parents[1] / "js"
E2E = Path(__file__).parent / "e2e"


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items):
    """Every browser test is slow: those under tests/e2e and those marked ``e2e``."""
    for item in items:
        if E2E in Path(item.path).parents or item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.slow)


class TinyNet(nn.Module):
    """Conv -> ReLU -> global pool -> linear; ``classes`` outputs."""

    def __init__(self, classes: int = 5, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


@pytest.fixture
def tiny_module():
    return TinyNet().eval()


@pytest.fixture
def classifier(tiny_module):
    return xw.Classifier(
        tiny_module,
        preprocessing=xw.core.Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
        labels=[f"class {i}" for i in range(5)],
    )


@pytest.fixture
def images():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 16, 16, generator=generator)


class Sleepy(nn.Module):
    """Wraps ``module`` and sleeps ``seconds`` per image of every forward pass: as slow as a large model on a CPU."""

    def __init__(self, module: nn.Module, seconds: float):
        super().__init__()
        self.module, self.seconds = module, seconds

    def forward(self, x):
        time.sleep(self.seconds * x.shape[0])
        return self.module(x)


@pytest.fixture(scope="session")
def sleepy():
    """``sleepy(module, seconds)``: the module made slow (:class:`Sleepy`), to test choices made from pass times."""
    return Sleepy


@pytest.fixture(scope="session")
def npm():
    """``npm(*args)``: run npm in js/ (its CompletedProcess), with js/node_modules installed (``npm ci``) first."""
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to build and test the front end (install node >= 18)")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["npm", *args], cwd=JS, capture_output=True, text=True, timeout=600)

    if not (JS / "node_modules" / ".bin" / "vitest").exists():
        installed = run("ci", "--no-audit", "--no-fund")
        assert installed.returncode == 0, installed.stdout + installed.stderr
    return run


@pytest.fixture(scope="session")
def js_bundles(npm):
    """``xwidgets/static`` rebuilt from js/src once per session (``npm run build``), so a test that runs the views'
    JS (in a browser) sees the current source whichever tests ran before it; the build's CompletedProcess."""
    built = npm("run", "build")
    assert built.returncode == 0, built.stdout + built.stderr
    return built
