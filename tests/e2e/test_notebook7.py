"""Jupyter Notebook 7: the tour's first screen, the heatmaps notebook and the classroom demo run there as in JupyterLab.

Notebook 7 is built on JupyterLab's components; ``--JupyterNotebookApp.expose_app_in_browser=True`` (the
``notebook7`` fixture) exposes its application as ``window.jupyterapp``, so cells run through the same commands as
in the Lab tests. Each test checks that it is Notebook 7's single-document page (not the Lab), that every view
draws (``data-ready="true"``) and that the bqplot charts are there. Screenshots: tests/e2e/out/notebook7_*.png.
"""

import pytest

from .conftest import OUT
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS, KERNEL_IDLE, RUN_FIRST_CODE_CELL, RUN_IN_KERNEL

pytestmark = pytest.mark.e2e

#: Notebook 7's own page error, raised by its notebook_core bundle on a notebook with no widget too.
NOTEBOOK7_PAGE_ERRORS = (*ALLOWED_PAGE_ERRORS, "reading 'schema'")

#: Notebook 7's single-document notebook page: its app, its page kind on <body>, and no JupyterLab shell.
IS_NOTEBOOK7 = """() => window.jupyterapp.name === 'Jupyter Notebook' && document.body.dataset.notebook === 'notebooks'
  && !document.querySelector('.jp-LabShell')"""

CANVAS_VARIETY = """(selector) => {
  const c = document.querySelector(selector);
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let i = 0; i < data.length; i += 4 * 97) seen.add(data[i] * 65536 + data[i + 1] * 256 + data[i + 2]);
  return seen.size;
}"""


def _open(page, notebook7, name):
    page.goto(f"{notebook7['url']}/notebooks/{name}?token={notebook7['token']}")
    page.wait_for_function(KERNEL_IDLE, timeout=90000)
    assert page.evaluate(IS_NOTEBOOK7), "not Notebook 7's notebook page"


def _wait_done(page, panel, timeout):
    """Wait until ``panel``'s status line gives the shown map's insertion AUC: its map and curves are drawn."""
    page.wait_for_function(
        f"() => {{ const s = document.querySelector('{panel} .xw-run-status');"
        " return !!s && /insertion \\d/.test(s.innerText); }",
        timeout=timeout,
    )


def _no_unexpected_errors(page):
    unexpected = [e for e in page.errors if not any(a in e for a in NOTEBOOK7_PAGE_ERRORS)]
    assert not unexpected, unexpected


def test_the_tour_draws_its_first_explorer_in_notebook7(notebook7, page):
    _open(page, notebook7, "00_tour.ipynb")
    page.evaluate(RUN_FIRST_CODE_CELL)
    OUT.mkdir(exist_ok=True)
    try:
        _wait_done(page, ".xw-panel-0", 180000)
        page.wait_for_selector(".xw-heatmap-explorer .bqplot svg", timeout=60000)
    finally:
        page.screenshot(path=str(OUT / "notebook7_tour.png"))
    view = ".xw-heatmap-explorer .xw-panel-0 .xw-heatmap"
    assert page.get_attribute(view, "data-ready") == "true"
    assert page.evaluate(CANVAS_VARIETY, f"{view} .xw-canvas") > 20, "the map's canvas looks blank"
    shown = page.evaluate(RUN_IN_KERNEL, "print(explorer.panels[0].result.method, explorer.target_text())")
    assert shown.startswith("gradcam ") and shown.endswith("cat"), shown
    _no_unexpected_errors(page)


def test_the_heatmaps_notebook_runs_every_cell_in_notebook7(notebook7, page):
    page.set_viewport_size({"width": 1280, "height": 1300})
    _open(page, notebook7, "01_heatmaps.ipynb")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    OUT.mkdir(exist_ok=True)
    try:
        for panel in (".xw-panel-0", ".xw-panel-1"):
            _wait_done(page, panel, 240000)
        page.wait_for_function(KERNEL_IDLE, timeout=240000)
    except Exception:
        page.screenshot(path=str(OUT / "notebook7_heatmaps_timeout.png"), full_page=True)
        raise
    page.evaluate("document.querySelector('.xw-heatmap-explorer').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(OUT / "notebook7_heatmaps.png"))
    page.evaluate("document.querySelector('.xw-curves').scrollIntoView({block: 'center'})")
    page.screenshot(path=str(OUT / "notebook7_heatmaps_curves.png"))

    views = page.eval_on_selector_all(".xw-heatmap-explorer .xw-heatmap", "es => es.map(e => e.dataset.ready)")
    assert len(views) >= 2 and all(ready == "true" for ready in views), views
    assert page.locator(".xw-heatmap-explorer .xw-curves svg.svg-figure").count() >= 1
    curves = page.eval_on_selector_all(".xw-curves .curve path.line", "ps => ps.map(p => p.getAttribute('d') || '')")
    assert len(curves) >= 4 and all(curves), curves  # insertion and deletion of both panels
    # Every code cell ran, and the last one printed the comparison table.
    counts = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets"
        ".filter(c => c.model.type === 'code').map(c => c.model.executionCount)"
    )
    assert counts and all(counts), counts
    assert page.locator(".jp-RenderedMarkdown table td:text-is('igos')").count() == 1
    _no_unexpected_errors(page)


def test_the_classroom_demo_reveals_its_map_in_notebook7(notebook7, page):
    _open(page, notebook7, "classroom.ipynb")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(".xw-classroom .xw-gallery[data-ready='true']", timeout=120000)
    page.locator(".xw-classroom .xw-classroom-part:text-is('head')").click()
    page.locator(".xw-classroom .xw-reveal-map").click()
    page.wait_for_selector(".xw-classroom .xw-classroom-verdict:has-text('The map lands on')", timeout=90000)
    assert page.get_attribute(".xw-classroom .xw-classroom-image", "data-ready") == "true"
    verdict = page.inner_text(".xw-classroom .xw-classroom-verdict")
    assert "You found" in verdict and "head ★" in verdict, verdict
    page.evaluate("document.querySelector('.xw-classroom').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(OUT / "notebook7_classroom.png"))
    _no_unexpected_errors(page)
