"""Static HTML: an executed notebook exported with its widget state shows every view and chart with no kernel.

nbclient executes 00_tour and 02_sag (``store_widget_state=True``), :func:`xwidgets.export_html` exports
them (nbconvert's lab template plus the explorers' static pictures), and chromium opens each page at a stand-in
address through Playwright's request routing:

- **CDN served**: the page's requirejs (cdnjs), the widget manager's ``embed-amd.js`` (unpkg) and the widget
  modules (anywidget and bqplot from jsdelivr) are answered with the npm copies in js/node_modules (installed as
  devDependencies at the versions the CDNs would serve); every other request is aborted, so nothing comes from
  the network. Every view draws, the bqplot charts draw an svg, a view's own alpha, mode and colormap controls
  redraw its canvas with no kernel, each explorer's kernel note says which controls need a running kernel, and the
  static pictures stay hidden.
- **offline**: every request but the page's own is aborted; each explorer's output shows its static picture
  (a drawn, non-blank image) instead of a blank cell.
- **in JupyterLab**: the kernel answers a kernel note's ping, and the note stays invisible.
"""

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from xwidgets.views.fallback import FALLBACK_CLASS
from xwidgets.views.static_html import export_html

from .conftest import OUT, ROOT

NODE_MODULES = ROOT / "js" / "node_modules"
PAGE_ORIGIN = "http://xwidgets.test"
VIEWS = ".xw-heatmap, .xw-graph, .xw-gallery"

#: The CDN addresses an nbconvert page loads, each with the npm file that answers it (match -> local path).
CDN_FILES = {
    "requirejs": (
        r"https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[^/]+/require(?:\.min)?\.js",
        lambda m: NODE_MODULES / "requirejs" / "require.js",
    ),
    "html-manager": (
        r"https://(?:unpkg\.com|cdn\.jsdelivr\.net/npm)/@jupyter-widgets/html-manager@[^/]+/dist/(.+)",
        lambda m: NODE_MODULES / "@jupyter-widgets" / "html-manager" / "dist" / m.group(1),
    ),
    "anywidget": (
        r"https://cdn\.jsdelivr\.net/npm/anywidget@[^/]+/dist/(.+)",
        lambda m: NODE_MODULES / "anywidget" / "dist" / m.group(1),
    ),
    "bqplot": (
        r"https://cdn\.jsdelivr\.net/npm/bqplot@[^/]+/dist/(.+)",
        lambda m: NODE_MODULES / "bqplot" / "dist" / m.group(1),
    ),
}

#: The notebooks exported: the tour (every explorer) and the SAG notebook (fast to execute: 01_heatmaps' method
#: table takes minutes on two cores), with the least number of bqplot charts each shows.
NOTEBOOKS = {"00_tour.ipynb": 1, "02_sag.ipynb": 0}

#: True when every view and at least ``least`` bqplot charts have drawn, and every explorer's kernel note rendered.
ALL_DRAWN = """([explorers, least]) => {
  const views = [...document.querySelectorAll('.xw-heatmap, .xw-graph, .xw-gallery')];
  const charts = [...document.querySelectorAll('.bqplot')];
  const notes = document.querySelectorAll(".xw-kernel-note[data-ready='true']").length;
  return notes === explorers && views.length > 0 && views.every((v) => v.dataset.ready === 'true')
    && charts.length >= least && charts.every((c) => c.querySelector('svg .mark, svg path'));
}"""

#: A canvas's pixels as a data URL (to compare a view's picture before and after a control changes).
CANVAS_PIXELS = "(canvas) => canvas.toDataURL()"

#: [width, height, standard deviation of the grey levels] of a loaded <img>.
IMAGE_STATS = """(img) => {
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data; let s = 0, s2 = 0; const n = d.length / 4;
  for (let i = 0; i < d.length; i += 4) { const v = (d[i] + d[i + 1] + d[i + 2]) / 3; s += v; s2 += v * v; }
  return [c.width, c.height, Math.sqrt(Math.max(s2 / n - (s / n) ** 2, 0))];
}"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory, js_bundles):
    """``exported[name]``: (HTML page, number of explorer outputs) of the notebook executed by nbclient with its
    widget state and exported by :func:`xwidgets.export_html`; executed once, on first use."""
    folder = tmp_path_factory.mktemp("static_html") / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))

    class Exported(dict):
        def __missing__(self, name: str):
            notebook = nbformat.read(folder / name, as_version=4)
            with pytest.MonkeyPatch.context() as patch:  # the kernel imports this checkout's xwidgets
                patch.setenv("PYTHONPATH", str(ROOT))
                NotebookClient(
                    notebook, timeout=300, store_widget_state=True, resources={"metadata": {"path": str(folder)}}
                ).execute()
            page = export_html(notebook, folder / name.replace(".ipynb", ".html"))
            self[name] = (page, page.count(f'<div class="{FALLBACK_CLASS}">'))
            return self[name]

    return Exported()


def open_page(page, html, serve_cdn):
    """Open ``html`` at a stand-in address; answer the CDN requests from node_modules when ``serve_cdn``, abort
    every other request. Returns (served CDN names, aborted URLs)."""
    served, aborted = set(), []

    def route(request_route):
        url = request_route.request.url
        if url == f"{PAGE_ORIGIN}/page.html":
            return request_route.fulfill(body=html, content_type="text/html; charset=utf-8")
        for name, (pattern, local) in CDN_FILES.items():
            match = re.fullmatch(pattern, url) if serve_cdn else None
            if match and local(match).is_file():
                served.add(name)
                return request_route.fulfill(path=str(local(match)))
        aborted.append(url)
        return request_route.abort()

    page.route("**/*", route)
    page.goto(f"{PAGE_ORIGIN}/page.html", wait_until="load")
    return served, aborted


@pytest.fixture(scope="module")
def cdn_copies(npm):
    """The npm copies of the CDN files (js/package.json devDependencies), installed with ``npm ci`` if missing."""
    files = [
        NODE_MODULES / "requirejs" / "require.js",
        NODE_MODULES / "@jupyter-widgets" / "html-manager" / "dist" / "embed-amd.js",
        NODE_MODULES / "anywidget" / "dist" / "index.js",
        NODE_MODULES / "bqplot" / "dist" / "index.js",
    ]
    if not all(path.is_file() for path in files):
        installed = npm("ci", "--no-audit", "--no-fund")
        assert installed.returncode == 0, installed.stdout + installed.stderr
    assert all(path.is_file() for path in files), [str(path) for path in files if not path.is_file()]
    return files


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_every_view_and_chart_draws_from_the_npm_copies_of_the_cdn(exported, cdn_copies, page, name):
    html, explorers = exported[name]
    assert explorers >= 1, f"{name}: no explorer output carries a static picture"
    served, aborted = open_page(page, html, serve_cdn=True)
    page.wait_for_function(ALL_DRAWN, arg=[explorers, NOTEBOOKS[name]], timeout=90000)
    expected = set(CDN_FILES) if NOTEBOOKS[name] else set(CDN_FILES) - {"bqplot"}
    assert served == expected, f"served {served}; aborted {aborted}"
    unserved = [url for url in aborted if any(re.fullmatch(pattern, url) for pattern, _ in CDN_FILES.values())]
    assert not unserved, f"CDN files the npm copies lack: {unserved}"
    kinds = {kind for kind in ("heatmap", "graph", "gallery") if page.locator(f".xw-{kind}").count()}
    assert kinds == ({"heatmap", "graph", "gallery"} if name == "00_tour.ipynb" else {"heatmap", "graph"}), kinds

    silent = "(n) => document.querySelectorAll(\".xw-kernel-note[data-kernel='none']\").length === n"
    page.wait_for_function(silent, arg=explorers, timeout=10000)  # each note waits 2.5 s for a kernel's answer
    notes = page.locator(".xw-kernel-note-text")
    assert notes.count() == explorers and all(notes.nth(i).is_visible() for i in range(explorers))
    assert "need a running kernel" in notes.first.inner_text()
    hidden = page.evaluate(f"[...document.querySelectorAll('.{FALLBACK_CLASS}')].map(e => e.offsetParent === null)")
    assert len(hidden) == explorers and all(hidden), "a static picture shows although its widget has drawn"
    assert not [error for error in page.errors if "Canceled future" not in error], page.errors
    OUT.mkdir(exist_ok=True)
    page.locator(VIEWS).first.scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / f"static_{Path(name).stem}_cdn.png"))
    if page.locator(".xw-heatmap .xw-alpha").count():
        change_js_only_controls(page, Path(name).stem)


def change_js_only_controls(page, stem):
    """Move the first HeatmapView's alpha slider, switch it to the overlay mode, then pick another colormap: each
    redraws its canvas with other pixels, with no kernel."""
    heatmap = page.locator(".xw-heatmap:has(.xw-alpha)").first
    heatmap.scroll_into_view_if_needed()
    canvas = heatmap.locator(".xw-canvas")
    pixels = [canvas.evaluate(CANVAS_PIXELS)]
    colormaps = heatmap.locator(".xw-colormap option").all_inner_texts()
    changes = [
        ("alpha", lambda: heatmap.locator(".xw-alpha").fill("0.95")),
        ("mode", lambda: heatmap.locator(".xw-mode").select_option("overlay")),
        ("colormap", lambda: heatmap.locator(".xw-colormap").select_option(colormaps[-1])),
    ]
    for name, change in changes:
        draws = int(heatmap.get_attribute("data-draws"))
        change()
        page.wait_for_function("([e, n]) => Number(e.dataset.draws) > n", arg=[heatmap.element_handle(), draws])
        pixels.append(canvas.evaluate(CANVAS_PIXELS))
        assert pixels[-1] != pixels[-2], f"{name} changed nothing on the canvas"
    page.screenshot(path=str(OUT / f"static_{stem}_cdn_controls.png"))


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_offline_each_explorer_shows_its_static_picture(exported, page, name):
    html, explorers = exported[name]
    _, aborted = open_page(page, html, serve_cdn=False)
    assert any("require" in url for url in aborted) and page.locator(VIEWS).count() == 0
    pictures = page.locator(f".{FALLBACK_CLASS} img")
    assert pictures.count() == explorers, "an explorer output has no static picture (a blank cell offline)"
    page.wait_for_function(f"[...document.querySelectorAll('.{FALLBACK_CLASS} img')].every(i => i.complete)")
    for index in range(explorers):
        picture = pictures.nth(index)
        assert picture.is_visible(), f"static picture {index} is hidden"
        width, height, spread = picture.evaluate(IMAGE_STATS)
        assert width >= 200 and height >= 100 and spread > 10, (index, width, height, spread)
    pictures.first.scroll_into_view_if_needed()
    OUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUT / f"static_{Path(name).stem}_offline.png"))


def test_in_jupyterlab_the_kernel_answers_and_the_note_stays_hidden(lab, page):
    from .steps import KERNEL_IDLE

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell('from xwidgets.views import KernelNote\nKernelNote("no kernel answers")')],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(notebook, lab["root"] / "kernel_note.ipynb")
    page.goto(f"{lab['url']}/lab/tree/kernel_note.ipynb?token={lab['token']}&reset")
    page.wait_for_function(KERNEL_IDLE, timeout=90000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    try:
        page.wait_for_selector(".xw-kernel-note[data-kernel='live']", state="attached", timeout=60000)
    finally:
        OUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUT / "static_kernel_note_in_jupyterlab.png"))
    page.wait_for_timeout(3000)  # past the note's 2.5 s wait: a late "none" would show now
    assert page.get_attribute(".xw-kernel-note", "data-kernel") == "live"
    assert not page.locator(".xw-kernel-note-text").is_visible()
