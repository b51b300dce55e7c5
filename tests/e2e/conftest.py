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
    """JupyterLab serving a copy of notebooks/, with the views' JS rebuilt from js/src first (``js_bundles``)."""
    base = tmp_path_factory.mktemp("lab")
    notebooks = base / "nb"
    shutil.copytree(ROOT / "notebooks", notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
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
    log = open(base / "lab.log", "w")  # noqa: SIM115 (open while the server runs; closed at teardown)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--IdentityProvider.token=e2e",
            f"--ServerApp.root_dir={notebooks}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabServerApp.extension_manager=readonly",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/api/status?token=e2e", timeout=1)
                break
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.25)
        else:
            raise RuntimeError((base / "lab.log").read_text())
        if process.poll() is not None:
            raise RuntimeError("JupyterLab exited:\n" + (base / "lab.log").read_text())
        yield {"url": url, "token": "e2e", "log": base / "lab.log"}
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


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
