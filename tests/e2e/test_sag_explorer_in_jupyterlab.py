"""The SAGExplorer in JupyterLab: patch clicks on the editor re-score what is shown, a graph node loads its patches,
a control re-runs the search and redraws the graph, and a target switch re-scores the editor for the new target."""

import json
import re

import pytest

from .conftest import OUT
from .steps import run_notebook
from .test_heatmap_explorer_in_jupyterlab import _set_slider
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS, KERNEL_IDLE, RUN_IN_KERNEL

pytestmark = pytest.mark.e2e

EXPLORER = ".xw-sag-explorer"
EDITOR = f"{EXPLORER} .xw-heatmap.xw-sag-image"
GRAPH = f"{EXPLORER} .xw-sag-graph .xw-graph"
SCORE = f"{EXPLORER} .xw-sag-score"
STATUS = f"{EXPLORER} .xw-run-status"
SUMMARY = f"{EXPLORER} .xw-sag-summary"
GRID, SIZE = 7, 112  # the notebook's grid and the toy image's side


def _editor_draws(page):
    return int(page.get_attribute(EDITOR, "data-draws") or 0)


def _kernel(page, code):
    return page.evaluate(RUN_IN_KERNEL, code)


def _click_patch(page, patch):
    """Click the editor's canvas on the centre of a bilinear patch (cell centres at i·(H − 1)/(g − 1))."""
    canvas = page.locator(f"{EDITOR} .xw-canvas")
    box = canvas.bounding_box()
    row, col = divmod(patch, GRID)
    step = (SIZE - 1) / (GRID - 1)
    x, y = (col * step + 0.5) / SIZE * box["width"], (row * step + 0.5) / SIZE * box["height"]
    before = _editor_draws(page)
    canvas.click(position={"x": x, "y": y})
    page.wait_for_function(
        f'() => {{ const e = document.querySelector("{EDITOR}");'
        f" return e.dataset.ready === 'true' && Number(e.dataset.draws) > {before}; }}",
        timeout=30000,
    )


def _wait_score(page, shown):
    """Wait for the score of ``shown`` patches; returns its text and its share of the full image's score (%)."""
    page.wait_for_function(
        f"() => {{ const t = document.querySelector('{SCORE}').innerText;"
        f" return t.startsWith('{shown} of {GRID * GRID} patches shown') && t.includes('of the full image'); }}",
        timeout=30000,
    )
    text = page.locator(SCORE).inner_text()
    return text, int(re.search(r"(\d+)% of the full image", text).group(1))


def _shoot(page, name):
    page.evaluate(f"document.querySelector('{EXPLORER}').scrollIntoView({{block: 'start'}})")
    page.screenshot(path=str(OUT / name))


def test_sag_explorer_edits_patches_loads_nodes_and_reruns(lab, page):
    page.set_viewport_size({"width": 1280, "height": 1700})  # the screenshots hold the editor and the graph
    page.goto(f"{lab['url']}/lab/tree/02_sag.ipynb?token={lab['token']}&reset")
    page.wait_for_function(KERNEL_IDLE, timeout=90000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    try:
        page.wait_for_selector(f"{SUMMARY}:has-text('forward passes')", timeout=180000)
    except Exception:
        OUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUT / "sag_explorer_timeout.png"), full_page=True)
        raise
    page.wait_for_function(
        f'() => {{ const g = document.querySelector("{GRAPH}");'
        f" return g && g.dataset.ready === 'true' && Number(g.dataset.nodes) >= 1; }}",
        timeout=30000,
    )
    page.wait_for_function(KERNEL_IDLE, timeout=180000)  # explorer.wait() returned
    OUT.mkdir(exist_ok=True)
    nodes = int(page.get_attribute(GRAPH, "data-nodes"))
    assert nodes == int(_kernel(page, "print(len(explorer.result.nodes[0]))")) > 2
    assert page.locator(f"{GRAPH} g.xw-graph-node[data-level='0']").count() == 2  # two diverse roots
    edges = int(_kernel(page, "print(len(explorer.result.edges[0]))"))
    assert page.locator(f"{GRAPH} path.xw-graph-edge").count() == edges > 0
    labels = page.locator(f"{GRAPH} .xw-graph-label").all_text_contents()  # SVG text: no innerText
    assert len(labels) == nodes and all(re.fullmatch(r"\d+%", label) for label in labels), labels
    assert "P10 & P11 & P17 & P18 | P16 & P17 & P23 & P24" in page.locator(f"{EXPLORER} .xw-sag-dnf").inner_text()
    _shoot(page, "sag_explorer.png")

    # a. Counterfactual play: hide every patch, then click the first root's patches back in one by one.
    root = [int(p) for p in _kernel(page, "print(*explorer.result.nodes[0][0]['patches'])").split()]
    assert sorted(root) == [10, 11, 17, 18]
    before = _editor_draws(page)
    page.locator(f"{EXPLORER} .xw-sag-hide-all").click()
    page.wait_for_function(f'() => Number(document.querySelector("{EDITOR}").dataset.draws) > {before}', timeout=30000)
    hidden_text, hidden_share = _wait_score(page, 0)
    assert hidden_share < 50, hidden_text
    for patch in root:
        _click_patch(page, patch)
    shown_text, shown_share = _wait_score(page, len(root))
    assert shown_text != hidden_text and shown_share >= 90, shown_text  # the root alone keeps the decision
    assert _kernel(page, "print(explorer.visible)") == str(sorted(root))

    # b. Clicking a graph node enlarges it and loads its patches into the editor.
    page.locator(f"{EXPLORER} .xw-sag-show-all").click()
    _wait_score(page, GRID * GRID)
    node = page.locator(f"{GRAPH} g.xw-graph-node").first
    node_id = node.get_attribute("data-id")
    node.scroll_into_view_if_needed()
    node.click()
    page.wait_for_selector(f"{GRAPH} div.xw-graph-enlarged:not([hidden])", timeout=30000)
    page.wait_for_function(
        f'() => {{ const i = document.querySelector("{GRAPH} img.xw-graph-enlarged-image");'
        f" return i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0; }}",
        timeout=30000,
    )
    assert page.get_attribute(GRAPH, "data-selected") == node_id
    assert page.locator(f"{GRAPH} .xw-graph-enlarged-label").inner_text() == labels[0]
    patches = _kernel(
        page, f"print(sorted(next(n['patches'] for n in explorer.result.nodes[0] if n['id'] == {node_id!r})))"
    )
    _wait_score(page, len(patches.split(",")))
    assert _kernel(page, "print(explorer.visible)") == patches
    _shoot(page, "sag_explorer_node.png")

    # c. A control re-runs the search: one root, and the graph is redrawn with a single top node.
    graph_draws = int(page.get_attribute(GRAPH, "data-draws"))
    _set_slider(page, EXPLORER, "max_roots", 1)
    page.wait_for_function(
        f'() => {{ const g = document.querySelector("{GRAPH}");'
        f" return g.dataset.ready === 'true' && Number(g.dataset.draws) > {graph_draws} + 1"
        f" && g.querySelectorAll(\"g.xw-graph-node[data-level='0']\").length === 1"
        f" && document.querySelector('{SUMMARY}').innerText.includes('forward passes'); }}",
        timeout=120000,
    )
    assert _kernel(page, "print(len(explorer.result.roots[0]), explorer.result.params['max_roots'])") == "1 1"
    assert (
        int(page.get_attribute(GRAPH, "data-nodes"))
        == int(_kernel(page, "print(len(explorer.result.nodes[0]))"))
        < nodes
    )
    _shoot(page, "sag_explorer_rerun.png")
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected


def test_a_target_switch_rescores_the_patches_for_the_new_target(lab, page):
    """Issue 18: after a target switch the patch text still said "p(azure jay) = 0.813"."""
    run_notebook(page, lab, "02_sag.ipynb", f"{GRAPH}[data-ready='true']", name="sag_target_switch", height=1700)
    text, _ = _wait_score(page, GRID * GRID)
    assert "p(azure jay) = " in text, text
    button = page.locator(f"{EXPLORER} .xw-target button").nth(1)
    label, probability = re.fullmatch(r"(.+?)\s+p = ([\d.]+)", button.inner_text().strip()).groups()
    button.click()
    wanted = json.dumps(f"p({label}) = ")
    page.wait_for_function(
        f"() => {{ const t = document.querySelector('{SCORE}').innerText;"
        f" return t.includes({wanted}) && !t.includes('…'); }}",
        timeout=60000,
    )
    text = page.locator(SCORE).inner_text()
    assert "azure jay" not in text and f"p({label}) = {probability}" in text, text  # all patches: the full p
    page.wait_for_function(
        f"() => document.querySelector('{EXPLORER} .xw-sag-dnf').innerText.startsWith({json.dumps(label + ':')})",
        timeout=180000,
    )
    _shoot(page, "sag_explorer_target_switch.png")
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected


# ------------------------------------------------------------------------------------ readable at a glance (issue 19)
MEASURE_GRAPH = """(graph) => {
  const root = document.querySelector(graph);
  const box = root.querySelector('.xw-graph-scroll') || root.querySelector('svg.xw-graph-svg');
  const rect = (e) => { const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  return {
    thumbs: [...root.querySelectorAll('image.xw-graph-thumb')].map(rect),
    texts: [...root.querySelectorAll('svg text')].map((t) => ({
      text: t.textContent, font: parseFloat(getComputedStyle(t).fontSize), ...rect(t)})),
    edgeLabels: [...root.querySelectorAll('text.xw-graph-edge-label')].map(rect),
    scroll: {sw: box.scrollWidth, cw: box.clientWidth, sh: box.scrollHeight, ch: box.clientHeight},
  };
}"""
TEXT_PARTS = ", ".join(
    f"{EXPLORER} {part}"
    for part in (".xw-sag-legend", ".xw-sag-dnf", ".xw-sag-summary", ".xw-sag-score", ".xw-estimate")
)
MEASURE_TEXT = """(parts) => [...document.querySelectorAll(parts)]
  .flatMap((e) => [e, ...e.querySelectorAll('*')]).filter((e) => e.textContent.trim())
  .map((e) => ({text: e.textContent.slice(0, 40), font: parseFloat(getComputedStyle(e).fontSize)}))"""
# every "·"-separated phrase and every clause of the formula must sit on one line (it may wrap only between them)
WRAPPED_PHRASES = """(parts) => [...document.querySelectorAll(parts)]
  .filter((e) => new Set([...e.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.bottom))).size > 1)
  .map((e) => e.textContent)"""
PHRASES = f"{EXPLORER} .xw-phrase, {EXPLORER} .xw-sag-dnf code"
CANVAS_PIXELS = """(canvas) => { const c = document.querySelector(canvas);
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"""


def _readable(page, where):
    """Assert that every thumbnail of the graph is drawn at >= 72 px and every text at >= 11 px (computed and
    rendered), and that no two edge labels overlap; returns the measures."""
    seen = page.evaluate(MEASURE_GRAPH, GRAPH)
    labels = seen["edgeLabels"]
    problems = {
        "thumbnails under 72 px": [t for t in seen["thumbs"] if min(t["w"], t["h"]) < 72][:3],
        "texts under 11 px": [t for t in seen["texts"] if t["font"] < 11 or t["h"] < 11][:3],
        "edge labels on each other": [
            (a, b)
            for i, a in enumerate(labels)
            for b in labels[i + 1 :]
            if min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) > 1
            and min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) > 1
        ][:3],
    }
    assert seen["thumbs"] and seen["texts"] and not any(problems.values()), (where, problems)
    return seen


def _changed(before, after):
    """The fraction of RGBA pixels of two equal-size canvases that differ by more than 24 in some channel."""
    pixels = len(before) // 4
    return sum(any(abs(before[4 * i + k] - after[4 * i + k]) > 24 for k in range(3)) for i in range(pixels)) / max(
        pixels, 1
    )


def test_the_graph_reads_at_a_glance_and_the_patches_are_numbered(lab, page):
    """Issue 19: thumbnails were about 35 px and edge labels 5 px (the graph was shrunk to fit); the image had no
    patch numbers; nothing said what the colours mean; status lines broke mid-phrase ("5 beam / level(s)")."""
    run_notebook(page, lab, "02_sag.ipynb", f"{SUMMARY}:has-text('forward passes')", name="sag_readable", height=1300)
    page.wait_for_function(f'() => document.querySelector("{GRAPH}").dataset.ready === "true"', timeout=30000)
    _readable(page, "default search")
    fonts = page.evaluate(MEASURE_TEXT, TEXT_PARTS)
    assert fonts and all(f["font"] >= 11 for f in fonts), [f for f in fonts if f["font"] < 11][:5]
    assert page.evaluate(WRAPPED_PHRASES, PHRASES) == []
    summary = page.locator(SUMMARY).inner_text()
    assert "(s)" not in summary and re.search(r"\d+ beam levels?$", summary), summary
    # the legend says what the frame and arrow colours mean, with one sample per colour
    legend = page.locator(f"{EXPLORER} .xw-sag-legend")
    assert legend.is_visible() and all(w in legend.inner_text() for w in ("Frame", "Arrow", "roots", "−P17"))
    assert legend.locator("span[style*='border']").count() == 6
    _shoot(page, "sag_explorer_readable.png")

    # patch numbers: drawn on the image, and gone when the checkbox is cleared
    canvas = f"{EDITOR} canvas.xw-canvas"
    with_numbers = page.evaluate(CANVAS_PIXELS, canvas)
    before = _editor_draws(page)
    page.locator(f"{EXPLORER} .xw-sag-numbers input[type=checkbox]").uncheck()
    page.wait_for_function(f'() => Number(document.querySelector("{EDITOR}").dataset.draws) > {before}', timeout=30000)
    assert _kernel(page, "print(explorer.numbers.value)").strip() == "False"
    without = page.evaluate(CANVAS_PIXELS, canvas)
    assert len(without) == len(with_numbers) and 0.05 < _changed(with_numbers, without) < 0.5
    page.locator(f"{EXPLORER} .xw-sag-numbers input[type=checkbox]").check()

    # hovering a node outlines its patches on the image (Okabe–Ito blue, 0 114 178)
    node = page.locator(f"{GRAPH} g.xw-graph-node").first
    before = _editor_draws(page)
    node.hover()
    page.wait_for_function(f'() => Number(document.querySelector("{EDITOR}").dataset.draws) > {before}', timeout=30000)
    page.wait_for_function(f"() => document.querySelector('{EDITOR}').dataset.ready === 'true'", timeout=30000)
    assert _kernel(page, "print(explorer.graph_view.hovered)").strip() == node.get_attribute("data-id")
    hovered = page.evaluate(CANVAS_PIXELS, canvas)
    blue = sum(
        abs(hovered[i] - 0) < 30 and abs(hovered[i + 1] - 114) < 30 and abs(hovered[i + 2] - 178) < 30
        for i in range(0, len(hovered), 4)
    )
    assert blue > 200, blue
    _shoot(page, "sag_explorer_hover.png")

    # a big graph (5 roots, 44 nodes, rows of 20) keeps its sizes and scrolls in its box instead of shrinking
    page.mouse.move(0, 0)
    draws = int(page.get_attribute(GRAPH, "data-draws"))
    _kernel(page, "explorer.controls['overlap'].value = 3; explorer.controls['shown_roots'].value = 5")
    page.wait_for_function(
        f'() => {{ const g = document.querySelector("{GRAPH}");'
        f" return g.dataset.ready === 'true' && Number(g.dataset.draws) > {draws}"
        f" && g.querySelectorAll(\"g.xw-graph-node[data-level='0']\").length === 5; }}",
        timeout=120000,
    )
    page.wait_for_function(KERNEL_IDLE, timeout=60000)
    big = _readable(page, "big graph")
    assert len(big["thumbs"]) == int(_kernel(page, "print(len(explorer.result.nodes[0]))")) >= 30
    assert big["scroll"]["sw"] > big["scroll"]["cw"] + 200, big["scroll"]
    assert big["scroll"]["ch"] <= 660, big["scroll"]  # a bounded box (a taller graph scrolls down too)
    _shoot(page, "sag_explorer_big.png")
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
