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
