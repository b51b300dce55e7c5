"""Layer 4: JupyterLab on 127.0.0.1 driven by Debian's chromium through Python Playwright.

Browser tests skip with a reason where chromium or Playwright is missing, except in CI (``CI`` set) or when
``XWIDGETS_REQUIRE_BROWSER=1``, where a missing browser fails the run: CI never skips them.
Never run ``playwright install`` (it downloads browser builds); Debian's chromium is used via executable_path.
Every test here is ``slow`` (tests/conftest.py marks them), so ``-m "not slow"`` leaves the browser out.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
OUT = Path(__file__).parent / "out"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_REQUIRED = bool(os.environ.get("CI")) or os.environ.get("XWIDGETS_REQUIRE_BROWSER") == "1"


def _missing_browser(reason: str):
    if BROWSER_REQUIRED:
        pytest.fail(f"browser tests are required here (CI or XWIDGETS_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("Python Playwright is not installed (pip install playwright)")
    if not os.path.exists(CHROMIUM):
        _missing_browser(f"chromium was not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM=path)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory, browser, js_bundles):
    """JupyterLab serving a copy of notebooks/, with the views' JS rebuilt from js/src first (``js_bundles``) and
    ``window.jupyterapp`` exposed, so tests run cells and restart kernels through its commands."""
    yield from _serve_notebooks(
        tmp_path_factory.mktemp("lab"),
        lambda port, root: [
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--IdentityProvider.token=e2e",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabServerApp.extension_manager=readonly",
        ],
        "/api/status",
    )


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    yield page
    context.close()
    OUT.mkdir(exist_ok=True)


def _serve_notebooks(base: Path, command, ready: str):
    """Run a Jupyter front end's server, ``python -m <command(port, root)>``, on a free 127.0.0.1 port with its own
    home, config, runtime and settings dirs under ``base`` and token ``e2e``, serving a copy of notebooks/ (``root``).

    Yields ``{"url", "token", "log", "root"}`` once ``url + ready`` answers (a path; ``?token=e2e`` is added), and
    stops the server at teardown. ``command(port, root)`` returns the module and its arguments.
    """
    root = base / "nb"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = dict(
        os.environ,
        HOME=str(base / "home"),
        JUPYTER_CONFIG_DIR=str(base / "cfg"),
        JUPYTER_RUNTIME_DIR=str(base / "rt"),
        IPYTHONDIR=str(base / "ipy"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "ws"),
    )
    env.pop("ANYWIDGET_HMR", None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = base / "server.log"
    log = open(log_path, "w")  # noqa: SIM115 (open while the server runs; closed at teardown)
    process = subprocess.Popen(
        [sys.executable, "-m", *command(port, root)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=base
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(360):
            if process.poll() is not None:
                raise RuntimeError(f"{command(port, root)[0]} exited:\n" + log_path.read_text())
            try:
                urllib.request.urlopen(f"{url}{ready}?token=e2e", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        else:
            raise RuntimeError(log_path.read_text())
        yield {"url": url, "token": "e2e", "log": log_path, "root": root}
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def notebook7(tmp_path_factory, browser, js_bundles):
    """Jupyter Notebook 7 serving a copy of notebooks/, with ``window.jupyterapp`` exposed (as the ``lab`` fixture
    does for JupyterLab): open ``{url}/notebooks/<name>.ipynb?token=e2e``."""
    yield from _serve_notebooks(
        tmp_path_factory.mktemp("notebook7"),
        lambda port, root: [
            "notebook",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--IdentityProvider.token=e2e",
            f"--ServerApp.root_dir={root}",
            "--JupyterNotebookApp.expose_app_in_browser=True",
        ],
        "/api/status",
    )


@pytest.fixture(scope="session")
def voila(tmp_path_factory, browser, js_bundles):
    """Voilà serving a copy of notebooks/ as dashboards, code hidden: open
    ``{url}/voila/render/<name>.ipynb?token=e2e``; Voilà runs the notebook in a fresh kernel on each visit."""
    base = tmp_path_factory.mktemp("voila")
    (base / "connections").mkdir()
    yield from _serve_notebooks(
        base,
        lambda port, root: [
            "voila",
            str(root),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            "--Voila.token=e2e",
            f"--Voila.connection_dir_root={base / 'connections'}",
            "--show_tracebacks=True",
        ],
        "/",
    )
