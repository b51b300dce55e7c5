"""The tour in JupyterLab: the HeatmapView draws, its controls recolour it in JS, and clicks reach the kernel."""

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

CANVAS_PIXELS = """() => {
  const c = document.querySelector('.xw-heatmap .xw-canvas');
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
}"""

# Harmless JupyterLab page errors (ANYWIDGET.md: subshell requests cancelled around kernel restarts).
ALLOWED_PAGE_ERRORS = ("create_subshell_request",)


def _draws(page):
    return int(page.get_attribute(".xw-heatmap", "data-draws") or 0)


def _wait_redraw(page, before):
    page.wait_for_function(
        f"() => {{ const e = document.querySelector('.xw-heatmap');"
        f" return e.dataset.ready === 'true' && Number(e.dataset.draws) > {before}; }}", timeout=20000)


def test_tour_heatmap_view_draws_recolours_and_reports_clicks(lab, page):
    page.goto(f"{lab['url']}/lab/tree/00_tour.ipynb?token={lab['token']}&reset")
    page.wait_for_function(KERNEL_IDLE, timeout=90000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(".xw-heatmap[data-ready='true']", timeout=90000)
    page.wait_for_selector(".bqplot svg .bargroup rect", timeout=60000)  # bqplot 0.12 front end renders in Lab 4
    page.wait_for_function(KERNEL_IDLE, timeout=60000)

    OUT.mkdir(exist_ok=True)
    canvas = page.locator(".xw-heatmap .xw-canvas")
    assert canvas.evaluate("c => [c.width, c.height]") == [451, 300]
    original = page.evaluate(CANVAS_PIXELS)
    assert len(set(original[::4 * 97])) > 20, "the canvas looks blank"

    # Alpha in the view's own controls: recoloured in JS, and the kernel sees each new value.
    before = _draws(page)
    page.locator(".xw-heatmap input.xw-alpha").fill("0")
    _wait_redraw(page, before)
    plain = page.evaluate(CANVAS_PIXELS)  # alpha 0: the photo itself
    assert plain != original
    before = _draws(page)
    page.locator(".xw-heatmap input.xw-alpha").fill("1")
    _wait_redraw(page, before)
    opaque = page.evaluate(CANVAS_PIXELS)
    assert page.evaluate(RUN_IN_KERNEL, "print(view.alpha)") == "1.0"

    # A high threshold leaves most pixels uncoloured: far fewer differ from the photo than at threshold 0.15.
    before = _draws(page)
    page.locator(".xw-heatmap input.xw-threshold").fill("0.9")
    _wait_redraw(page, before)
    thresholded = page.evaluate(CANVAS_PIXELS)
    coloured_opaque = sum(a != b for a, b in zip(opaque[::4], plain[::4]))
    coloured_thresholded = sum(a != b for a, b in zip(thresholded[::4], plain[::4]))
    assert coloured_opaque > 0.3 * 451 * 300
    assert 0 < coloured_thresholded < coloured_opaque / 4
    assert page.evaluate(RUN_IN_KERNEL, "print(view.threshold)") == "0.9"

    # The jslinked ipywidgets slider follows the view's alpha in the browser.
    assert page.locator(".widget-slider .widget-readout").first.inner_text().startswith("1.00")

    # A click reaches Python: the kernel's callback writes the pixel into a Label the browser then shows.
    before = _draws(page)
    page.locator(".xw-heatmap input.xw-threshold").fill("0")
    page.locator(".xw-heatmap input.xw-alpha").fill("0.6")
    _wait_redraw(page, before)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    canvas.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.5})  # waits until the canvas is stable
    try:
        label = page.wait_for_selector(".widget-label:has-text('python got click at')", timeout=20000).inner_text()
    except Exception:
        page.screenshot(path=str(OUT / "failed_click.png"))
        raise
    x, y = (int(part.split("=")[1]) for part in label.split(":")[0].split(" at ")[1].split(", "))
    assert abs(x - 225) <= 2 and abs(y - 150) <= 2, label
    assert page.evaluate(RUN_IN_KERNEL, "print(view.last_click[:2])") == f"({x}, {y})"

    page.locator(".xw-heatmap").scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / "tour_heatmap_view.png"))
    page.locator(".bqplot").first.scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / "tour_bqplot.png"))
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
