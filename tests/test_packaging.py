"""The wheel carries the built JS, so users need no node; the bundle is not tracked by git."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_wheel_contains_the_bundle(tmp_path):
    built = subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next(tmp_path.glob("xwidgets-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "xwidgets/static/heatmap.js" in names
    assert {"xwidgets/toy/weights/classifier.pt", "xwidgets/toy/weights/embedder.pt",
            "xwidgets/similarity/weights/toy_attributes.xwr"} <= set(names)
    assert not any(name.startswith(("js/", "tests/")) for name in names)


def test_static_is_git_ignored():
    ignored = subprocess.run(["git", "check-ignore", "-q", "xwidgets/static/heatmap.js"], cwd=ROOT)
    assert ignored.returncode == 0


def test_bqplot_pin_declares_a_front_end_published_on_npm():
    """bqplot 0.13 asks CDN-loading front ends for bqplot@^0.6.1, which npm never had (see pyproject.toml)."""
    from bqplot._version import __frontend_version__

    assert __frontend_version__.startswith("^0.5")
