"""The HeatmapExplorer in JupyterLab: a slider re-runs I-GOS (map and curves change), scrubbing the chart shows the
perturbed image, and switching the method recomputes the panel. Labels name the result that is drawn (issue 18): the
scrub panel's "map" menu follows a method switch, and a figure drawn right after a switch titles the map it draws
with that map's own method and target. A person can read it (issue 19): hovering over the curves scrubs them, with
one cursor; the x axis shows where the curves change; no control label is cut and none is the bare "alpha"; status
lines wrap only between phrases."""

import pytest

from .conftest import OUT
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS, KERNEL_IDLE, RUN_IN_KERNEL

pytestmark = pytest.mark.e2e

PANEL = ".xw-panel-0"
CANVAS_PIXELS = """(selector) => {
  const c = document.querySelector(selector + ' .xw-canvas');
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
}"""
CURVE_PATHS = """() => Array.from(document.querySelectorAll('.xw-curves .curve path.line'))
  .map(p => p.getAttribute('d') || '')"""


def _draws(page, selector):
    return int(page.get_attribute(f"{selector} .xw-heatmap", "data-draws") or 0)


def _wait_redraw(page, selector, before, timeout=60000):
    page.wait_for_function(
        f"() => {{ const e = document.querySelector('{selector} .xw-heatmap');"
        f" return e && e.dataset.ready === 'true' && Number(e.dataset.draws) > {before}; }}",
        timeout=timeout,
    )


def _wait_status(page, selector, text, timeout=90000):
    page.wait_for_selector(f"{selector} .xw-run-status:has-text('{text}')", timeout=timeout)


def _set_slider(page, selector, name, value):
    """Type a value into an ipywidgets slider's editable readout, as a user does, and press Enter."""
    slider = page.locator(f"{selector} .widget-slider").filter(has=page.locator(f"label:text-is('{name}')"))
    readout = slider.locator(".widget-readout")
    readout.scroll_into_view_if_needed()
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


def test_explorer_reruns_on_a_slider_scrubs_and_switches_method(lab, page):
    page.goto(f"{lab['url']}/lab/tree/01_heatmaps.ipynb?token={lab['token']}&reset")
    page.wait_for_function(KERNEL_IDLE, timeout=90000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(".xw-heatmap-explorer", timeout=120000)
    _wait_status(page, PANEL, "· insertion")
    _wait_status(page, ".xw-panel-1", "· insertion")
    page.wait_for_function(KERNEL_IDLE, timeout=180000)
    OUT.mkdir(exist_ok=True)
    page.locator(".xw-target").scroll_into_view_if_needed()
    page.evaluate("document.querySelector('.xw-target').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(OUT / "heatmap_explorer.png"))

    # Move a slider: I-GOS re-runs, its map is redrawn and its curves change.
    pixels, paths = page.evaluate(CANVAS_PIXELS, PANEL), page.evaluate(CURVE_PATHS)
    assert len(paths) == 4 and all(paths), paths  # 2 insertion, 2 deletion (the cursor is the selector's band)
    status = page.locator(f"{PANEL} .xw-run-status").inner_text()
    before = _draws(page, PANEL)
    _set_slider(page, PANEL, "mask resolution", 7)
    _wait_redraw(page, PANEL, before)
    page.wait_for_function(
        f"() => !document.querySelector('{PANEL} .xw-run-status').innerText.includes('running')"
        f" && document.querySelector('{PANEL} .xw-run-status').innerText !== {status!r}",
        timeout=90000,
    )
    _wait_status(page, PANEL, "· insertion")
    assert page.evaluate(RUN_IN_KERNEL, "print(explorer.panels[0].result.mask.shape[-1])") == "7"
    assert page.evaluate(CANVAS_PIXELS, PANEL) != pixels
    page.wait_for_function(
        f"(old) => {{ const now = ({CURVE_PATHS})(); return now.join() !== old.join(); }}", arg=paths, timeout=30000
    )

    # Scrub the curves chart: a click (not needed: see the hover test) leaves the cursor following the mouse.
    chart = page.locator(".xw-curves svg.svg-figure").first
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    scrub_before = _draws(page, ".xw-scrub-box")
    chart.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.5})
    page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.5, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5, steps=5)
    _wait_redraw(page, ".xw-scrub-box", scrub_before)
    step = int(page.evaluate(RUN_IN_KERNEL, "print(explorer.scrub.value)"))
    assert 0 < step < 50
    title = page.locator(".xw-scrub-box .xw-title").inner_text()
    assert "deleted" in title and "score" in title, title
    page.screenshot(path=str(OUT / "heatmap_explorer_scrubbed.png"))

    # Switch the second panel's method: it recomputes with the new method and its own controls.
    # Each option carries its time estimate ("Occlusion (≈ 1 s)", spaces drawn as no-break spaces), so pick the
    # option by its method name.
    labels = page.locator(".xw-panel-1 .xw-method select option").evaluate_all("options => options.map(o => o.text)")
    labels = [label.replace("\xa0", " ") for label in labels]
    occlusion = next((index for index, label in enumerate(labels) if label.startswith("Occlusion (")), None)
    assert occlusion is not None, labels
    page.locator(".xw-panel-1 .xw-method select").select_option(index=occlusion)
    _wait_status(page, ".xw-panel-1", "Occlusion:")
    _wait_status(page, ".xw-panel-1", "· insertion")  # the map, then its curves: the run is done
    assert page.evaluate(RUN_IN_KERNEL, "print(explorer.panels[1].result.method)") == "occlusion"
    assert page.locator(".xw-panel-1 .widget-slider label:text-is('window (px)')").count() == 1
    page.evaluate("document.querySelector('.xw-target').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(OUT / "heatmap_explorer_switched.png"))
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected


RUN_UP_TO_THE_EXPLORER = """async () => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  notebook.activeCellIndex = notebook.widgets.findIndex(
    cell => cell.model.type === 'code' && cell.model.sharedModel.getSource().includes('HeatmapExplorer(model'));
  await window.jupyterapp.commands.execute('notebook:run-all-above');
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""


def _open_explorer(page, lab):
    """Run 01_heatmaps.ipynb up to its explorer (I-GOS beside Grad-CAM) and wait until both panels are done."""
    page.goto(f"{lab['url']}/lab/tree/01_heatmaps.ipynb?token={lab['token']}&reset")
    page.wait_for_function(KERNEL_IDLE, timeout=90000)
    page.evaluate(RUN_UP_TO_THE_EXPLORER)
    page.wait_for_selector(".xw-heatmap-explorer", timeout=180000)
    _wait_status(page, PANEL, "· insertion")
    _wait_status(page, ".xw-panel-1", "· insertion")
    page.wait_for_function(KERNEL_IDLE, timeout=180000)


def _select_method(page, panel, name):
    """Pick ``name`` in a panel's method menu (options read "iGOS++ (≈ 3 s)")."""
    menu = page.locator(f"{panel} .xw-method select")
    labels = [
        label.replace("\xa0", " ")
        for label in menu.locator("option").evaluate_all("options => options.map(o => o.text)")
    ]
    index = next((i for i, label in enumerate(labels) if label.startswith(f"{name} (")), None)
    assert index is not None, labels
    menu.select_option(index=index)


def _kernel_sees(page, code, expected, timeout=30.0):
    """Wait until ``print(code)`` in the kernel gives ``expected`` (a widget change has reached the kernel)."""
    import time

    deadline = time.monotonic() + timeout
    while (seen := page.evaluate(RUN_IN_KERNEL, f"print({code})")) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert seen == expected, seen


def _scrub_menu(page):
    return [
        o.replace("\xa0", " ")
        for o in page.locator(".xw-scrub-box select option").evaluate_all("options => options.map(o => o.text)")
    ]


def test_the_scrub_menu_follows_a_method_switch(lab, page):
    _open_explorer(page, lab)
    assert _scrub_menu(page) == ["I-GOS", "Grad-CAM"]
    _select_method(page, PANEL, "iGOS++")
    _wait_status(page, PANEL, "iGOS++:", timeout=180000)
    _wait_status(page, PANEL, "· insertion", timeout=180000)  # the map, then its curves: the run is done
    page.wait_for_function(KERNEL_IDLE, timeout=60000)
    assert page.evaluate(RUN_IN_KERNEL, "print(explorer.panels[0].result.method)") == "igospp"
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.xw-scrub-box select option'))"
        ".map(o => o.text).join('|') === 'iGOS++|Grad-CAM'",
        timeout=10000,
    )
    legend = page.inner_text(".xw-curves-legend")
    assert "iGOS++ insertion" in legend and "I-GOS" not in legend, legend
    page.wait_for_function(
        "() => document.querySelector('.xw-scrub-box .xw-title').textContent.startsWith('iGOS++ · ')", timeout=10000
    )  # the scrubbed image is iGOS++'s
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected


def test_a_figure_right_after_a_switch_titles_the_map_it_draws(lab, page):
    _open_explorer(page, lab)
    target = page.evaluate(RUN_IN_KERNEL, "print(explorer.target_text())")
    titles = "[' · '.join(a.get_title().split(chr(10))) for a in explorer.figure().axes if a.images]"
    # Hold the model so that the RISE run cannot finish: the figure is drawn while Grad-CAM's map is shown.
    page.evaluate(RUN_IN_KERNEL, "explorer.model.lock.acquire()")
    try:
        _select_method(page, ".xw-panel-1", "RISE")
        _kernel_sees(page, "explorer.panels[1].method_selector.value", "rise")
        assert page.evaluate(RUN_IN_KERNEL, "print(explorer.panels[1].result.method)") == "gradcam"
        shown = page.evaluate(RUN_IN_KERNEL, f"print({titles})")
        assert shown == str([f"I-GOS · {target}", f"Grad-CAM · {target}"]), shown
        drawn = page.evaluate(
            RUN_IN_KERNEL,
            "import numpy as np; f = explorer.figure(); "
            "print(np.allclose(f.axes[1].images[0].get_array(), xw.figures.blend("
            "explorer.pixels[0].permute(1, 2, 0).numpy(), "
            "explorer.panels[1].result.saliency[0, 0].numpy(), alpha=0.5, threshold=0.15, "
            "mode=explorer.panels[1].view.mode)))",
        )
        assert drawn == "True"  # and the map it draws is Grad-CAM's
    finally:
        page.evaluate(RUN_IN_KERNEL, "explorer.model.lock.release()")
    _wait_status(page, ".xw-panel-1", "RISE:", timeout=180000)
    _wait_status(page, ".xw-panel-1", "· insertion", timeout=180000)
    page.wait_for_function(KERNEL_IDLE, timeout=60000)
    after = page.evaluate(RUN_IN_KERNEL, f"explorer.wait(); print({titles})")
    assert after == str([f"I-GOS · {target}", f"RISE · {target}"]), after
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected


PLOT = ".xw-curves rect.selectormouse"  # the chart's plot area (the selector's mouse target)
CURSORS = """() => { const svg = document.querySelector('.xw-curves svg.svg-figure');
  return {bands: svg.querySelectorAll('rect.intsel').length, lines: svg.querySelectorAll('line.indsel').length,
          paths: svg.querySelectorAll('.curve path.line').length}; }"""
CURSOR_X = """() => { const band = document.querySelector('.xw-curves rect.intsel');
  if (band.style.display === 'none') return null;
  return Number(band.getAttribute('x')) + Number(band.getAttribute('width')) / 2; }"""
SETTLED_AT = """() => Array.from(document.querySelectorAll('.xw-curves .curve path.line')).map(path => {
  // the x (in plot pixels) from a curve's first point to where it comes within 10 % of its rise of its last value
  const xy = (path.getAttribute('d').match(/-?[0-9.]+(e-?[0-9]+)?/g) || []).map(Number);
  const points = []; for (let i = 0; i + 1 < xy.length; i += 2) points.push([xy[i], xy[i + 1]]);
  const ys = points.map(p => p[1]), last = ys[ys.length - 1], rise = Math.max(...ys) - Math.min(...ys);
  let settled = points.length - 1;
  while (settled > 0 && Math.abs(ys[settled - 1] - last) <= 0.1 * rise) settled -= 1;
  return points[settled][0] - points[0][0]; })"""
CUT_LABELS = """(root) => Array.from(document.querySelectorAll(`${root} .widget-label, ${root} .widget-label-basic`))
  .filter(label => label.offsetParent !== null && label.textContent.trim() !== '')
  .filter(label => label.scrollWidth > label.clientWidth + 0.5 || label.closest('.widget-inline-hbox, .widget-checkbox')
    .getBoundingClientRect().right > label.closest('.widget-accordion, .xw-scrub-box, .widget-vbox')
    .getBoundingClientRect().right + 0.5)
  .map(label => label.textContent + ' ' + label.scrollWidth + '>' + label.clientWidth)"""
PHRASES_BROKEN = """() => Array.from(document.querySelectorAll('.xw-heatmap-explorer .xw-phrase'))
  .filter(phrase => phrase.offsetParent !== null && phrase.getClientRects().length > 1)
  .map(phrase => phrase.textContent)"""


def _hover(page, fraction_of_plot):
    """Move the mouse (no click) to ``fraction_of_plot`` of the plot area's width, at mid height."""
    box = page.locator(PLOT).bounding_box()
    page.mouse.move(box["x"] + box["width"] * fraction_of_plot, box["y"] + box["height"] * 0.5, steps=8)


def _title_says(page, text):
    """Wait until the perturbed image's title contains ``text``."""
    page.wait_for_function(
        "(text) => document.querySelector('.xw-scrub-box .xw-title').textContent.includes(text)",
        arg=text,
        timeout=10000,
    )


def _controls_read(page, panel):
    """No visible control label of ``panel`` is cut, nor sticks out of its box, and none is the bare "alpha"."""
    cut = page.evaluate(CUT_LABELS, panel)
    assert not cut, cut
    names = page.locator(f"{panel} .widget-accordion .widget-label").all_inner_texts()
    assert names and "alpha" not in names, names


def test_hover_scrubs_with_one_cursor_and_every_label_reads(lab, page):
    _open_explorer(page, lab)
    page.locator(".xw-curves").scroll_into_view_if_needed()
    assert page.evaluate(CURSORS) == {"bands": 1, "lines": 0, "paths": 4}  # one cursor; 2 maps x 2 curves

    # Hover, no click: the step and the perturbed image follow the pointer, and so does the one cursor.
    width = page.locator(PLOT).bounding_box()["width"]
    assert page.evaluate(RUN_IN_KERNEL, "print(explorer.scrub.value)") == "0"
    before = _draws(page, ".xw-scrub-box")
    _hover(page, 0.5)
    _wait_redraw(page, ".xw-scrub-box", before, timeout=20000)
    _kernel_sees(page, "explorer.scrub.value", "5")  # the middle of the zoomed range (0 to 20 %): step 5 of 50
    _title_says(page, "10% deleted")  # the image of the last step arrives after the throttle's interval
    assert abs(page.evaluate(CURSOR_X) - 0.5 * width) <= 3
    before = _draws(page, ".xw-scrub-box")
    _hover(page, 0.9)
    _wait_redraw(page, ".xw-scrub-box", before, timeout=20000)
    _kernel_sees(page, "explorer.scrub.value", "9")
    _title_says(page, "18% deleted")
    assert abs(page.evaluate(CURSOR_X) - 0.9 * width) <= 3 and page.evaluate(CURSORS)["bands"] == 1
    # A double-click pins the cursor (the pointer can leave for the image), another one frees it.
    box = page.locator(PLOT).bounding_box()
    page.mouse.dblclick(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.5)
    _hover(page, 0.3)
    page.wait_for_timeout(500)
    assert page.evaluate(RUN_IN_KERNEL, "print(explorer.scrub.value)") == "9"
    assert abs(page.evaluate(CURSOR_X) - 0.9 * width) <= 3
    page.mouse.dblclick(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    _hover(page, 0.9)
    _kernel_sees(page, "explorer.scrub.value", "9")
    _hover(page, 0.3)
    _kernel_sees(page, "explorer.scrub.value", "3")
    _hover(page, 0.9)
    _kernel_sees(page, "explorer.scrub.value", "9")
    page.evaluate("document.querySelector('.xw-curves').scrollIntoView({block: 'center'})")
    page.screenshot(path=str(OUT / "heatmap_explorer_hover.png"))

    # The x range is where the curves change: each curve's change spans a good part of the plot, not 4 % of it.
    assert page.evaluate(RUN_IN_KERNEL, "print(explorer.x_range)") == "(0.0, 0.2)"
    spans = page.evaluate(SETTLED_AT)
    assert max(spans) >= 0.15 * width, (spans, width)
    axes = page.evaluate("() => Array.from(document.querySelectorAll('.xw-curves .axis')).map(a => a.textContent)")
    assert any("(the first 20%)" in axis for axis in axes), axes

    # Controls: every label whole, the step labelled "step size (alpha)", useful slider spans; for every method.
    assert page.locator(f"{PANEL} .widget-label:text-is('step size (alpha)')").count() == 1
    assert page.evaluate(RUN_IN_KERNEL, "print(explorer.panels[0].controls['iterations'].max)") == "60"
    _controls_read(page, PANEL)
    page.evaluate("document.querySelector('.xw-panel-0 .widget-accordion').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(OUT / "heatmap_explorer_controls.png"))
    page.evaluate(RUN_IN_KERNEL, "explorer.panels[1].accordion.selected_index = 0")
    for name in ("Integrated gradients", "RISE", "Occlusion", "iGOS++"):
        _select_method(page, ".xw-panel-1", name)
        page.wait_for_selector(f".xw-panel-1 .widget-accordion:has-text('{name} parameters')", timeout=30000)
        _controls_read(page, ".xw-panel-1")
    _wait_status(page, ".xw-panel-1", "iGOS++:", timeout=180000)
    _wait_status(page, ".xw-panel-1", "· insertion", timeout=180000)
    page.wait_for_function(KERNEL_IDLE, timeout=60000)

    # Status lines and notes wrap only between their "·"-separated phrases.
    page.set_viewport_size({"width": 900, "height": 900})  # a narrow window makes the long lines wrap
    broken = page.evaluate(PHRASES_BROKEN)
    assert not broken, broken
    assert page.locator(".xw-heatmap-explorer .xw-phrase").count() >= 4
    page.set_viewport_size({"width": 1280, "height": 900})
    page.evaluate("document.querySelector('.xw-target').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(OUT / "heatmap_explorer_readable.png"))
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
