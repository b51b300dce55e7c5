"""Layer 2: the JS unit tests (vitest) and the JSDoc type check, run from pytest so CI reads one summary line.

This also rebuilds ``xwidgets/static`` from ``js/src`` first, so every later test sees the current JS.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).parents[1] / "js"


def npm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["npm", *args], cwd=JS, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def node_modules():
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to build and test the front end (install node >= 18)")
    if not (JS / "node_modules" / ".bin" / "vitest").exists():
        installed = npm("ci", "--no-audit", "--no-fund")
        assert installed.returncode == 0, installed.stdout + installed.stderr


def test_bundle_builds(node_modules):
    built = npm("run", "build")
    assert built.returncode == 0, built.stdout + built.stderr
    bundle = JS.parent / "xwidgets" / "static" / "heatmap.js"
    assert bundle.stat().st_size > 1000 and "xw-heatmap" in bundle.read_text()


def test_vitest_suite_passes(node_modules):
    result = npm("test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_jsdoc_types_check(node_modules):
    result = npm("run", "typecheck")
    assert result.returncode == 0, result.stdout + result.stderr
