"""Layer 2: the JS unit tests (vitest) and the JSDoc type check, run from pytest so CI reads one summary line.

The bundles in ``xwidgets/static`` are rebuilt once per session by the ``js_bundles`` fixture (tests/conftest.py),
which every test that runs the views' JS asks for; no test depends on this file running first.
"""

from pathlib import Path

STATIC = Path(__file__).parents[1] / "xwidgets" / "static"


def test_bundle_builds(js_bundles):
    for name in ("heatmap", "graph", "gallery"):
        bundle = STATIC / f"{name}.js"
        assert bundle.stat().st_size > 1000 and f"built ../xwidgets/static/{name}.js" in js_bundles.stdout
    assert "xw-heatmap" in (STATIC / "heatmap.js").read_text()


def test_vitest_suite_passes(npm):
    result = npm("test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_jsdoc_types_check(npm):
    result = npm("run", "typecheck")
    assert result.returncode == 0, result.stdout + result.stderr
