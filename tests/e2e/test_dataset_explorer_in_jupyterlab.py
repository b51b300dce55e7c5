"""The DatasetExplorer in JupyterLab on a stored run of 64 toy images (Grad-CAM, the toy classifier): the grid draws
every thumbnail with its map, filtering to wrong predictions leaves only wrong frames and the count line agrees,
brushing the histogram leaves fewer tiles, and clicking a tile opens that image's HeatmapExplorer below the grid,
titled with the image's class. Readability: captions are never cut nor broken inside a phrase, tiles never overlap,
text is at least 11 px, and the histogram's count axis never repeats a tick label."""

import nbformat
import pytest

from .conftest import OUT
from .readability import BROKEN_PHRASES
from .steps import kernel, run_notebook, shoot
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS

pytestmark = pytest.mark.e2e

NOTEBOOK = "dataset_explorer_e2e.ipynb"
EXPLORER = ".xw-dataset-explorer"
GRID = f"{EXPLORER} .xw-grid"
SUMMARY = f"{EXPLORER} .xw-dataset-summary"
CHART = f"{EXPLORER} .xw-dataset-chart"
DETAIL = f"{EXPLORER} .xw-dataset-detail"
CELL = """\
import tempfile
import xwidgets as xw

model = xw.toy.classifier()
run = xw.explain_dataset(model, xw.data.toy(64, size=72), method="gradcam", store=tempfile.mkdtemp() + "/toy-gradcam",
                         shard_size=16, progress=False)
explorer = xw.DatasetExplorer(run, model, page_size=48)
explorer
"""

#: Tiles, their captions and frames: boxes that overlap, captions cut or too small, in the grid at `root`.
GRID_DEFECTS = """(root) => { const grid = document.querySelector(root);
  const tiles = [...grid.querySelectorAll('.xw-grid-tile')].map((t) => t.getBoundingClientRect());
  const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
                        && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const overlaps = tiles.flatMap((a, i) => tiles.slice(i + 1).some((b) => hit(a, b)) ? [`tile ${i} overlaps`] : []);
  const cut = [...grid.querySelectorAll('.xw-grid-caption')].filter((c) => c.scrollWidth > c.clientWidth + 1)
    .map((c) => `cut caption: ${c.textContent}`);
  const small = [...grid.querySelectorAll('.xw-grid-caption')]
    .filter((c) => parseFloat(getComputedStyle(c).fontSize) < 11).map((c) => `small caption: ${c.textContent}`);
  const scrolls = grid.scrollWidth > grid.clientWidth + 1 ? ['the grid scrolls sideways'] : [];
  return [...overlaps, ...cut, ...small, ...scrolls]; }"""

#: Tick labels of the chart's count axis that repeat (a count axis with fractional ticks rounded to the same number).
REPEATED_TICKS = """(chart) => [...document.querySelectorAll(chart + ' .axis')].flatMap((axis) => {
  const ticks = [...axis.querySelectorAll('.tick text')].filter((t) => t.textContent.trim() !== '');
  const lefts = ticks.map((t) => Math.round(t.getBoundingClientRect().right));
  if (ticks.length < 2 || new Set(lefts).size !== 1) return [];  // not the vertical axis
  const labels = ticks.map((t) => t.textContent.trim());
  return labels.filter((t, i) => labels.indexOf(t) !== i); })"""

GRID_STATE = """(root) => { const grid = document.querySelector(root);
  return {ready: grid.dataset.ready, tiles: [...grid.querySelectorAll('.xw-grid-tile')].map((t) => t.dataset.frame),
          maps: [...grid.querySelectorAll('.xw-grid-tile')].filter((t) => t.dataset.map === 'true').length}; }"""


def _wait_tiles(page, count):
    page.wait_for_function(
        f"() => {{ const g = document.querySelector('{GRID}');"
        f" return g.dataset.ready === 'true' && g.querySelectorAll('.xw-grid-tile').length === {count}; }}",
        timeout=30000,
    )


def test_dataset_explorer_filters_brushes_and_opens_an_image(lab, page):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab["root"] / NOTEBOOK)
    run_notebook(page, lab, NOTEBOOK, f"{GRID}[data-ready='true']", name="dataset_explorer", height=1500)
    page.wait_for_selector(f"{CHART} svg")
    _wait_tiles(page, 48)
    state = page.evaluate(GRID_STATE, GRID)
    assert state["maps"] == 48, state
    shoot(page, EXPLORER, "dataset_explorer.png")
    problems = [
        ("first page", page.evaluate(GRID_DEFECTS, GRID)),
        ("first page captions", page.evaluate(BROKEN_PHRASES, GRID)),
    ]
    assert "64 of 64 images" in page.locator(SUMMARY).inner_text()

    # Only the wrong predictions: every frame is a wrong one, and the count line says how many.
    wrong = int(kernel(page, "print(int((explorer.correct == 0).sum()))"))
    assert 0 < wrong < 48
    page.locator(f"{EXPLORER} .xw-dataset-correct button:has-text('wrong')").click()
    _wait_tiles(page, wrong)
    state = page.evaluate(GRID_STATE, GRID)
    assert set(state["tiles"]) == {"wrong"}, state
    summary = page.locator(SUMMARY).inner_text()
    assert f"{wrong} of 64 images" in summary and f"{wrong} wrong" in summary, summary
    assert page.locator(f"{EXPLORER} .xw-dataset-pager").inner_text() == f"1–{wrong} of {wrong}"
    shoot(page, EXPLORER, "dataset_explorer_wrong.png")
    problems.append(("wrong only", page.evaluate(GRID_DEFECTS, GRID)))
    problems.append(("wrong only: count axis", page.evaluate(REPEATED_TICKS, CHART)))

    # Back to all, then brush the histogram below the median confidence: fewer tiles, and the kernel's brush agrees.
    page.locator(f"{EXPLORER} .xw-dataset-correct button:has-text('all')").click()
    _wait_tiles(page, 48)
    median = float(kernel(page, "import numpy as np; print(float(np.median(explorer.values['confidence'])))"))
    area = page.locator(f"{CHART} .plotarea_events").bounding_box()
    y = area["y"] + area["height"] / 2
    page.mouse.move(area["x"] + 2, y)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * median * 0.5, y, steps=8)
    page.mouse.move(area["x"] + area["width"] * median, y, steps=8)
    page.mouse.up()
    page.wait_for_function(
        f"() => document.querySelector('{EXPLORER} .xw-dataset-pager').textContent.includes('of ')"
        f" && !document.querySelector('{EXPLORER} .xw-dataset-pager').textContent.endsWith('of 64')",
        timeout=30000,
    )
    brushed = int(kernel(page, "print(len(explorer.current.value.rows))"))
    assert 0 < brushed < 64 and kernel(page, "print(sorted(explorer.brushed))") == "['confidence']"
    _wait_tiles(page, min(brushed, 48))
    shoot(page, EXPLORER, "dataset_explorer_brushed.png")

    # A click on a tile opens that image's HeatmapExplorer below the grid, titled with its class.
    tile = page.locator(f"{GRID} .xw-grid-tile").nth(2)
    key = tile.get_attribute("data-key")
    tile.locator("canvas").click()
    label = kernel(page, f"print(run.item({key})['label_name'])")
    page.wait_for_selector(f"{DETAIL} .xw-heatmap[data-ready='true']", timeout=60000)
    title = page.locator(f"{DETAIL} .xw-dataset-detail-title").inner_text()
    assert f"image {key}" in title and label in title, title
    assert kernel(page, "print(type(explorer.image_explorer).__name__, explorer.grid.selected)") == (
        f"HeatmapExplorer {key}"
    )
    assert page.locator(f"{GRID} .xw-grid-tile-selected").get_attribute("data-key") == key
    kernel(page, "explorer.image_explorer.wait(60)")
    page.evaluate(f"document.querySelector('{DETAIL}').scrollIntoView({{block: 'start'}})")
    page.screenshot(path=str(OUT / "dataset_explorer_detail.png"))
    problems.append(("phrases", page.evaluate(BROKEN_PHRASES, f"{EXPLORER} .xw-dataset-summary")))
    assert not [p for p in problems if p[1]], problems
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
