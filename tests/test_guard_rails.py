"""The version is written once (``xwidgets/__init__.py``) and everything else reads it; the changelog has a section
for it; CI runs the linters and the type checker that pyproject.toml configures, before the tests."""

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import xwidgets as xw
from xwidgets.core import library_versions

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).parents[1]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_pyproject_reads_the_version_from_the_package():
    project = pyproject()
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "xwidgets/__init__.py"
    assert xw.__version__ not in (ROOT / "pyproject.toml").read_text()


def test_the_build_backend_reads_the_package_version():
    done = subprocess.run(
        [sys.executable, "-m", "hatchling", "version"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == xw.__version__


def test_installed_metadata_and_results_carry_the_package_version():
    assert version("xwidgets") == xw.__version__
    assert library_versions()["xwidgets"] == xw.__version__


def test_changelog_has_a_section_for_the_version_and_one_for_unreleased_changes():
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert any(heading.split(" - ")[0] == xw.__version__ for heading in headings[1:])


def test_ci_runs_ruff_and_mypy_before_the_tests_with_the_pinned_lint_extra():
    script = (ROOT / ".ci" / "run").read_text()
    steps = ["ruff check", "ruff format --check", "mypy", "python -m pytest"]
    positions = [script.index(f"\n{step}") for step in steps[:3]] + [script.index(steps[3])]
    assert positions == sorted(positions)
    assert '".[test,lint]"' in script
    pins = pyproject()["project"]["optional-dependencies"]["lint"]
    assert {pin.split("==")[0] for pin in pins} == {"ruff", "mypy"} and all("==" in pin for pin in pins)


def test_pre_commit_runs_the_same_checks():
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    for entry in ("entry: ruff check", "entry: ruff format", "entry: mypy"):
        assert entry in config
