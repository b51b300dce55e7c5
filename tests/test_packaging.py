"""The wheel carries the built JS, so users need no node; the bundle is not tracked by git; installed alone into an
empty virtual environment, the wheel brings everything every explorer needs."""

import email.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import xwidgets as xw

ROOT = Path(__file__).parents[1]
#: The explorers the wheel alone opens; the DatasetExplorer browses a stored run, which needs the ``datasets`` extra
#: (pyarrow, zarr): without it a run is refused with the extra named (checked below).
EXPLORERS = [name for name in xw.__all__ if name.endswith("Explorer") and name != "DatasetExplorer"]
# torch's own closure (its CUDA build unpacks to ~5.5 GB), installed by pip once per torch version and hard-linked
# into each test's venv; see torch_layer.
LAYERS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "xwidgets-tests" / "torch-layers"


def build_wheel(source: Path, out: Path) -> Path:
    """The xwidgets wheel built from the tree at ``source`` into ``out`` (the JS bundles by the build hook)."""
    built = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return next(out.glob("xwidgets-*.whl"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return build_wheel(ROOT, tmp_path_factory.mktemp("dist"))


def test_wheel_contains_the_bundle(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "xwidgets/static/heatmap.js" in names
    assert {
        "xwidgets/toy/weights/classifier.pt",
        "xwidgets/toy/weights/embedder.pt",
        "xwidgets/toy/weights/attributes.xwr",
    } <= set(names)
    assert not any(name.startswith(("js/", "tests/")) for name in names)


def test_static_is_git_ignored():
    ignored = subprocess.run(["git", "check-ignore", "-q", "xwidgets/static/heatmap.js"], cwd=ROOT)
    assert ignored.returncode == 0


def test_bqplot_pin_declares_a_front_end_published_on_npm():
    """bqplot 0.13 asks CDN-loading front ends for bqplot@^0.6.1, which npm never had (see pyproject.toml)."""
    from bqplot._version import __frontend_version__

    assert __frontend_version__.startswith("^0.5")


def isolated_env() -> dict[str, str]:
    """This process's environment (pip's configuration included) without what would leak its packages in."""
    leaks = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV")
    env = {name: value for name, value in os.environ.items() if name not in leaks}
    return {**env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def pip(python: Path, *args: str) -> str:
    """Run ``python -m pip *args``; its stdout."""
    done = subprocess.run(
        [str(python), "-m", "pip", *args], capture_output=True, text=True, timeout=1200, env=isolated_env()
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout


def torch_requirement(wheel: Path) -> str:
    """The wheel's declared requirement on torch, e.g. ``torch<3,>=2.1``."""
    archive = zipfile.ZipFile(wheel)
    metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
    declared = email.parser.Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist")
    return next(text for text in declared if Requirement(text).name == "torch")


def torch_layer(wheel: Path) -> Path:
    """A venv made by ``python -m venv`` and filled by pip with torch (the version pip picks for the wheel today)
    and its dependencies only; built once, older versions' layers removed.

    torch is declared, so its closure is part of every install of the wheel: starting from it hides no undeclared
    dependency, and spares each run unpacking (and, on a disk mounted with discard, deleting) ~5.5 GB.
    """
    report = pip(
        Path(sys.executable),
        "install",
        "--dry-run",
        "--ignore-installed",
        "--no-deps",
        "--quiet",
        "--report",
        "-",
        torch_requirement(wheel),
    )
    version = json.loads(report)["install"][0]["metadata"]["version"]
    layer = LAYERS / f"torch-{version}-py{sys.version_info.major}.{sys.version_info.minor}"
    if not layer.exists():
        shutil.rmtree(LAYERS, ignore_errors=True)
        LAYERS.mkdir(parents=True)
        staging = Path(tempfile.mkdtemp(dir=LAYERS))
        try:
            subprocess.run([sys.executable, "-m", "venv", str(staging / "venv")], check=True, env=isolated_env())
            pip(staging / "venv" / "bin" / "python", "install", "--no-compile", f"torch=={version}")
            (staging / "venv").rename(layer)
        finally:
            shutil.rmtree(staging)
    return layer


def link_or_copy(source: str, target: str) -> None:
    """Hard-link ``source`` at ``target`` (no data written, none freed on removal), or copy it."""
    try:
        os.link(source, target)
    except OSError:  # another file system than the layer's
        shutil.copy2(source, target)


def declared_closure(site_packages: Path, root: str) -> set[str]:
    """Canonical names of ``root`` and of every distribution its requirements (with their extras) pull in, read
    from the metadata installed in ``site_packages``."""
    installed = {canonicalize_name(d.metadata["Name"]): d for d in distributions(path=[str(site_packages)])}
    seen, pending = set(), [(canonicalize_name(root), "")]
    while pending:
        name, extra = pending.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        for requirement in map(Requirement, installed[name].requires or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                pending += [(canonicalize_name(requirement.name), e) for e in ("", *requirement.extras)]
    return {name for name, _ in seen}


@pytest.fixture
def empty_venv(wheel, tmp_path):
    """A venv holding torch's closure only (a hard-linked copy of :func:`torch_layer`), removed afterwards."""
    venv = tmp_path / "venv"
    try:
        shutil.copytree(torch_layer(wheel), venv, symlinks=True, copy_function=link_or_copy)
        yield venv
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def open_every_explorer(wheel: Path, venv: Path) -> subprocess.CompletedProcess:
    """Install ``wheel`` with its declared dependencies into ``venv`` by pip, check that nothing outside its
    dependency closure is installed, then run tests/open_every_explorer.py there (no Jupyter)."""
    python = venv / "bin" / "python"
    pip(python, "install", "--no-compile", str(wheel))
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    installed = {canonicalize_name(d.metadata["Name"]) for d in distributions(path=[str(site_packages)])}
    undeclared = installed - declared_closure(site_packages, "xwidgets") - {"pip"}
    assert not undeclared, f"the venv holds packages outside xwidgets' dependency closure: {sorted(undeclared)}"
    return subprocess.run(
        [str(python), "-I", str(ROOT / "tests" / "open_every_explorer.py")],
        cwd=venv,
        capture_output=True,
        text=True,
        timeout=600,
        env=isolated_env(),
    )


@pytest.mark.slow  # pip installs the wheel and its dependencies into a fresh venv
def test_the_wheel_alone_opens_every_explorer_in_an_empty_venv(wheel, empty_venv):
    """Issue 17: bqplot 0.12 imports six without declaring it, so the explorers failed on a clean install."""
    opened = open_every_explorer(wheel, empty_venv)
    assert opened.returncode == 0, opened.stdout + opened.stderr[-6000:]
    assert f"xwidgets from {empty_venv}" in opened.stdout
    assert [line.split()[-1] for line in opened.stdout.splitlines() if line.startswith("opened ")] == EXPLORERS
    assert "refused a dataset run: writing a run store needs pyarrow and zarr: pip install 'xwidgets[datasets]'" in (
        opened.stdout
    )
