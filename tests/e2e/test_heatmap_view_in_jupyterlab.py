"""The HeatmapView of notebooks/toy_world.ipynb in JupyterLab: the dim and contour blends draw what
``xw.figures.blend`` draws, the legend is as wide as the image with readable ticks (the contour levels in contour
mode), the title does not wrap inside a phrase, and a click on the image names the part under the pointer."""

import itertools

import numpy as np
import pytest

import xwidgets as xw
from xwidgets.figures import blend

from .steps import draws, kernel, run_notebook, shoot, wait_redrawn
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS

VIEW = ".xw-heatmap"
PIXELS = """(view) => { const c = document.querySelector(view + ' canvas.xw-canvas');
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"""
LEGEND = """(view) => { const e = document.querySelector(view); const box = (n) => n.getBoundingClientRect();
  const legend = e.querySelector('.xw-legend'), canvas = e.querySelector('canvas.xw-canvas');
  const ticks = [...legend.querySelectorAll('.xw-tick')];
  return { legend: [box(legend).left, box(legend).right], canvas: [box(canvas).left, box(canvas).right],
    bar: box(e.querySelector('.xw-colorbar')).width, overflow: legend.scrollWidth > legend.clientWidth,
    ticks: ticks.map((t) => [t.textContent, parseFloat(getComputedStyle(t).fontSize), box(t).left, box(t).right]),
    ends: [...legend.querySelectorAll('.xw-legend-end')].map((t) => parseFloat(getComputedStyle(t).fontSize)) }; }"""
TITLE = """(view) => [...document.querySelectorAll(view + ' .xw-title .xw-phrase')].map((p) =>
  ({ text: p.textContent, lines: p.getClientRects().length, cut: p.scrollWidth > p.clientWidth }))"""


@pytest.fixture(scope="module")
def sample():
    """The notebook's sample: ``demo[2]``, species 7 at seed 500."""
    return xw.toy.ToyWorld().sample(7, seed=500)


def _canvas(page):
    flat = np.array(page.evaluate(PIXELS, VIEW), np.uint8)
    return flat.reshape(112, 112, 4)[..., :3].astype(int)


def _expected(sample, mode):
    drawn = blend(sample.image / 255.0, sample.evidence.astype(np.float32), alpha=0.6, threshold=0.3, mode=mode)
    return np.round(drawn * 255).astype(int)


def _check_legend(page, ticks):
    legend = page.evaluate(LEGEND, VIEW)
    left, right = legend["canvas"]
    assert abs(legend["legend"][0] - left) <= 2 and abs(legend["legend"][1] - right) <= 2, legend  # as wide
    assert legend["bar"] >= 0.7 * (right - left) and not legend["overflow"], legend
    assert [t[0] for t in legend["ticks"]] == ticks, legend
    assert all(t[1] >= 11 for t in legend["ticks"]) and all(size >= 11 for size in legend["ends"]), legend
    assert all(left - 1 <= t[2] and t[3] <= right + 1 for t in legend["ticks"]), legend  # nothing sticks out
    spans = sorted((t[2], t[3]) for t in legend["ticks"])
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), legend  # tick labels do not overlap


def _click(page, x, y):
    canvas = page.locator(f"{VIEW} canvas.xw-canvas")
    scale = canvas.evaluate("(c) => c.clientWidth / c.width")
    canvas.click(position={"x": (x + 0.5) * scale, "y": (y + 0.5) * scale})


def _inside(mask):
    """The pixel of ``mask`` nearest its centroid, as (x, y)."""
    ys, xs = np.nonzero(mask)
    nearest = np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2)
    return int(xs[nearest]), int(ys[nearest])


def test_modes_legend_title_and_the_part_under_a_click(lab, page, sample):
    run_notebook(page, lab, "toy_world.ipynb", f"{VIEW}[data-ready='true']", name="heatmap_view", height=1000)
    assert kernel(page, "print(view.mode, view.alpha, view.threshold)") == "dim 0.6 0.3"
    page.locator(VIEW).scroll_into_view_if_needed()

    dim = _canvas(page)
    assert np.abs(dim - _expected(sample, "dim")).max() <= 1  # the browser draws what the figure draws
    background = ~sample.evidence
    assert dim[background].mean() < 0.5 * sample.image[background].mean()  # the rest is dimmed
    assert np.abs(dim[sample.evidence] - sample.image[sample.evidence]).max() <= 1  # the evidence keeps its colours
    _check_legend(page, ["0", "0.3", "1"])
    titles = page.evaluate(TITLE, VIEW)
    assert [t["text"] for t in titles] == [sample.species_name, "evidence parts"], titles
    assert all(t["lines"] == 1 and not t["cut"] for t in titles), titles
    shoot(page, VIEW, "heatmap_view_dim.png")
    long = "a red-winged long-tailed twinmark · its evidence parts · seed 500"
    kernel(page, f"view.title = {long!r}")
    page.wait_for_function(f"() => document.querySelectorAll('{VIEW} .xw-title .xw-phrase').length === 3")
    titles = page.evaluate(TITLE, VIEW)
    assert [t["text"] for t in titles] == long.split(" · ")
    assert all(t["lines"] == 1 and not t["cut"] for t in titles), titles  # wrapped between phrases only
    lines = page.evaluate(f"() => document.querySelector('{VIEW} .xw-title').getBoundingClientRect().height")
    assert lines > 25, lines  # it does wrap: two lines of 13 px type
    shoot(page, VIEW, "heatmap_view_long_title.png")
    kernel(page, f"view.title = {sample.species_name + ' · evidence parts'!r}")

    before = draws(page, VIEW)
    page.select_option(f"{VIEW} select.xw-mode", "contour")
    wait_redrawn(page, VIEW, before)
    contour = _canvas(page)
    assert np.abs(contour - _expected(sample, "contour")).max() <= 1
    far = background & (_expected(sample, "contour") == sample.image).all(axis=2)
    assert far.sum() > 0.8 * background.sum() and np.abs(contour[far] - sample.image[far]).max() <= 1  # untouched
    assert contour[far].mean() > 1.5 * dim[far].mean()  # brighter than dimmed
    assert (contour != sample.image).any(axis=2).sum() > 100  # the lines
    assert page.is_disabled(f"{VIEW} input.xw-alpha")  # contour lines do not use alpha
    _check_legend(page, ["0.3", "0.5", "0.75"])
    shoot(page, VIEW, "heatmap_view_contour.png")

    part = sample.evidence_parts[0]
    x, y = _inside(sample.part_mask(part))
    _click(page, x, y)
    note = page.locator(f"{VIEW} .xw-note")
    note.wait_for(state="visible", timeout=30000)
    page.wait_for_function(
        f"() => document.querySelector('{VIEW} .xw-note').textContent.startsWith('({x}, {y}) {part} (evidence)')",
        timeout=30000,
    )
    colour = sample.attributes[f"{part}.color"]
    assert f"color {colour}" in note.text_content() and kernel(page, "print(view.note)") == note.text_content()
    shoot(page, VIEW, "heatmap_view_click.png")
    bx, by = _inside(sample.labels == 0)
    _click(page, bx, by)
    page.wait_for_function(
        f"() => document.querySelector('{VIEW} .xw-note').textContent === '({bx}, {by}) background'", timeout=30000
    )
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
