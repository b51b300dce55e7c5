"""The tour in JupyterLab: its first cell puts a live explanation of a pretrained model on the first screen.

Only the first code cell runs (the rest of the tour is executed by tests/test_notebooks.py): the HeatmapExplorer on
EfficientNet-Lite0 and scikit-image's cat must draw its map within the first screen, say why it started with
Grad-CAM, and redraw when another of the top-5 classes is clicked. The screenshot of that first screen is saved
as tests/e2e/out/tour_first_screen.png.
"""

import re

import pytest

from .conftest import OUT

pytestmark = pytest.mark.e2e

KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle'; }"""

RUN_IN_KERNEL = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  let text = '';
  const future = kernel.requestExecute({code, silent: false, store_history: false});
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') text += msg.content.text;
    if (msg.header.msg_type === 'error') text += 'ERROR ' + msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return text.trim();
}"""

RUN_FIRST_CODE_CELL = """async () => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  notebook.activeCellIndex = notebook.widgets.findIndex(cell => cell.model.type === 'code');
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""

PANEL = ".xw-heatmap-explorer .xw-panel-0 .xw-heatmap"
CANVAS_PIXELS = """(selector) => {
  const c = document.querySelector(selector + ' .xw-canvas');
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
}"""

# Harmless JupyterLab page errors (ANYWIDGET.md: subshell requests cancelled around kernel restarts).
ALLOWED_PAGE_ERRORS = ("create_subshell_request",)


def _wait_for_map(page, title, after_draws=-1):
    page.wait_for_function(
        f"() => {{ const e = document.querySelector('{PANEL}');"
        f" return e && e.dataset.ready === 'true' && Number(e.dataset.draws) > {after_draws}"
        f" && e.querySelector('.xw-title').textContent.startsWith({title!r}); }}",
        timeout=180000,
    )


def test_tour_first_screen_shows_a_live_explanation_of_a_real_model(lab, page):
    page.goto(f"{lab['url']}/lab/tree/00_tour.ipynb?token={lab['token']}&reset")
    page.wait_for_function(KERNEL_IDLE, timeout=90000)
    page.evaluate(RUN_FIRST_CODE_CELL)
    OUT.mkdir(exist_ok=True)
    try:
        _wait_for_map(page, "Grad-CAM · ")
    except Exception:
        page.screenshot(path=str(OUT / "tour_failed.png"))
        raise
    page.screenshot(path=str(OUT / "tour_first_screen.png"))  # what a newcomer sees, nothing scrolled

    canvas = page.locator(f"{PANEL} .xw-canvas")
    box = canvas.bounding_box()
    assert box["y"] + box["height"] / 2 < page.viewport_size["height"], "the map is below the first screen"
    assert canvas.evaluate("c => [c.width, c.height]") == [224, 224]
    pixels = page.evaluate(CANVAS_PIXELS, PANEL)
    assert len(set(pixels[:: 4 * 97])) > 20, "the canvas looks blank"
    note = page.inner_text(".xw-default-note")
    assert "Started with Grad-CAM" in note and "I-GOS would take" in note
    title = page.inner_text(f"{PANEL} .xw-title")
    top1 = title.split(" · ")[1]
    assert top1.endswith("cat"), title

    # Live: another of the top-5 classes recomputes the map in the kernel and redraws it.
    draws = int(page.get_attribute(PANEL, "data-draws"))
    second = page.locator(".xw-heatmap-explorer .xw-target button").nth(1)
    label = re.split(r"\s+p = ", second.inner_text())[0].strip()
    second.click()
    _wait_for_map(page, f"Grad-CAM · {label}", after_draws=draws)
    assert page.evaluate(CANVAS_PIXELS, PANEL) != pixels
    assert page.evaluate(RUN_IN_KERNEL, "print(explorer.target_text())") == label
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
