"""Voilà: how a teacher shows a demo without code. notebooks/classroom.ipynb and the tour are served as dashboards
(the ``voila`` fixture), with no code cell on the page.

The classroom is exercised as a class would: pick a bird, guess its parts, reveal the I-GOS map (scored against the
guess), the SAG graph and the sentence; every step is checked in the DOM (views drawn, text present, sizes a
projector can show) and photographed: tests/e2e/out/voila_*.png.
"""

import pytest

from .conftest import OUT
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS

pytestmark = pytest.mark.e2e

ROOM = ".xw-classroom"
IMAGE = f"{ROOM} .xw-classroom-image"
CANVAS_PIXELS = """(selector) => {
  const c = document.querySelector(selector + ' .xw-canvas');
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
}"""
FONT_SIZE = "e => parseFloat(getComputedStyle(e).fontSize)"
TEXT = ".widget-html-content > div"  # the text an HTML widget of the demo shows
#: Every element of the demo whose content is wider than its box (clipped or scrolled text), as "tag.class".
OVERFLOWING = """(root) => Array.from(document.querySelector(root).querySelectorAll('*'))
  .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1
          && getComputedStyle(e).overflowX !== 'auto' && getComputedStyle(e).overflowX !== 'scroll')
  .map(e => e.tagName + '.' + e.className)"""


def _open(page, voila, name, ready, timeout=180000):
    """Open ``name`` in Voilà (it runs the notebook in a fresh kernel) and wait for the selector ``ready``."""
    page.goto(f"{voila['url']}/voila/render/{name}?token={voila['token']}", timeout=timeout)
    OUT.mkdir(exist_ok=True)
    try:
        page.wait_for_selector(ready, timeout=timeout)
    except Exception:
        page.screenshot(path=str(OUT / f"voila_{name.split('.')[0]}_timeout.png"))
        raise


def _no_code_on_the_page(page, source):
    assert page.locator(".jp-CodeCell .jp-InputArea:visible").count() == 0
    assert source not in page.inner_text("body"), "a code cell's source is on the page"


def _no_unexpected_errors(page):
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected


def _wait_title(page, text):
    """Wait until the chosen bird's image is titled ``text``."""
    page.wait_for_function(
        f"(text) => document.querySelector('{IMAGE} .xw-title').textContent === text", arg=text, timeout=30000
    )


def _draws(page, selector):
    return int(page.get_attribute(selector, "data-draws") or 0)


def test_a_class_picks_a_bird_guesses_and_reveals_the_map_graph_and_sentence(voila, page):
    page.set_viewport_size({"width": 1280, "height": 960})
    _open(page, voila, "classroom.ipynb", f"{ROOM} .xw-gallery[data-ready='true']")
    page.wait_for_selector(f"{IMAGE}[data-ready='true']", timeout=60000)
    _no_code_on_the_page(page, "xw.Classroom()")
    assert page.locator("h1:has-text('Which parts make a bird what it is?')").count() == 1  # the markdown shows
    page.screenshot(path=str(OUT / "voila_classroom.png"))

    # Readable from the back of the room: steps, captions, buttons and the image title are large.
    assert min(page.eval_on_selector_all(f"{ROOM} .xw-classroom-step {TEXT}", f"es => es.map({FONT_SIZE})")) >= 26
    assert min(page.eval_on_selector_all(f"{ROOM} .xw-gallery-caption", f"es => es.map({FONT_SIZE})")) >= 18
    assert min(page.eval_on_selector_all(f"{ROOM} .xw-classroom-part", f"es => es.map({FONT_SIZE})")) >= 20
    assert page.eval_on_selector(f"{IMAGE} .xw-title", FONT_SIZE) >= 20
    assert page.locator(f"{ROOM} .xw-gallery-item").count() == 4

    # Pick the second bird and guess two parts.
    page.locator(f"{ROOM} .xw-gallery-item").nth(1).click()
    _wait_title(page, "Bird 2: hookbill")
    for part in ("beak", "tail"):
        page.locator(f"{ROOM} .xw-classroom-part:text-is('{part}')").click()
        page.wait_for_selector(f"{ROOM} .xw-classroom-part.mod-info:text-is('{part}')", timeout=10000)

    # Reveal the map: the bird is redrawn with it, and the guess is scored against the parts it lands on.
    pixels, before = page.evaluate(CANVAS_PIXELS, IMAGE), _draws(page, IMAGE)
    page.locator(f"{ROOM} .xw-reveal-map").click()
    page.wait_for_selector(f"{ROOM} .xw-classroom-verdict:has-text('The map lands on')", timeout=90000)
    _wait_title(page, "Where the model looks")
    page.wait_for_function(
        f"() => {{ const e = document.querySelector('{IMAGE}');"
        f" return e.dataset.ready === 'true' && Number(e.dataset.draws) > {before}; }}",
        timeout=30000,
    )
    assert page.evaluate(CANVAS_PIXELS, IMAGE) != pixels
    verdict = page.inner_text(f"{ROOM} .xw-classroom-verdict")
    landed = verdict.split("The map lands on:")[1].splitlines()[0]
    assert "beak" in landed and "tail" not in landed, verdict  # the hookbill's rule: a hooked yellow beak
    assert "You found 1 of" in verdict and "Not on the map: tail" in verdict, verdict
    assert page.eval_on_selector(f"{ROOM} .xw-classroom-verdict {TEXT}", FONT_SIZE) >= 20
    page.screenshot(path=str(OUT / "voila_classroom_map.png"))
    assert page.evaluate(OVERFLOWING, ROOM) == []  # no title or bar cut off

    # Reveal the SAG graph: drawn with its nodes, and its roots named by the parts they cover.
    page.locator(f"{ROOM} .xw-reveal-graph").click()
    page.wait_for_selector(
        f"{ROOM} .xw-classroom-graph .xw-graph[data-ready='true'] .xw-graph-node", state="attached", timeout=90000
    )
    assert page.locator(f"{ROOM} .xw-classroom-graph .xw-graph-node").count() >= 2
    text = page.inner_text(f"{ROOM} .xw-classroom-graph-text")
    assert "Enough on their own" in text and "beak" in text, text
    page.evaluate(f"document.querySelector('{ROOM} .xw-classroom-graph-text').scrollIntoView({{block: 'start'}})")
    page.screenshot(path=str(OUT / "voila_classroom_graph.png"))

    # Read the sentence, beside the rule the toy world made the species with.
    page.locator(f"{ROOM} .xw-reveal-sentence").click()
    sentence = f"{ROOM} .xw-classroom-sentence"
    page.wait_for_selector(f"{sentence}:has-text('This is a hookbill because')", timeout=120000)
    assert "hooked" in page.inner_text(sentence)
    assert "beak is hooked and yellow" in page.inner_text(sentence)
    assert page.eval_on_selector(f"{sentence} {TEXT}", FONT_SIZE) >= 26
    page.evaluate(f"document.querySelector('{sentence}').scrollIntoView({{block: 'center'}})")
    page.screenshot(path=str(OUT / "voila_classroom_sentence.png"))

    assert page.evaluate(OVERFLOWING, ROOM) == []
    assert page.inner_text(f"{ROOM} .xw-classroom-status") == ""  # no error was shown
    _no_unexpected_errors(page)


def test_the_tour_renders_in_voila_without_code(voila, page):
    panel = ".xw-heatmap-explorer .xw-panel-0"
    _open(page, voila, "00_tour.ipynb", f"{panel} .xw-heatmap[data-ready='true']", timeout=240000)
    page.wait_for_function(
        f"() => {{ const s = document.querySelector('{panel} .xw-run-status');"
        " return !!s && /insertion \\d/.test(s.innerText); }",
        timeout=120000,
    )
    page.wait_for_selector(".xw-heatmap-explorer .bqplot svg", timeout=60000)
    _no_code_on_the_page(page, "xw.efficientnet_lite0()")
    page.evaluate(f"document.querySelector('{panel}').scrollIntoView({{block: 'start'}})")
    page.screenshot(path=str(OUT / "voila_tour.png"))
    views = page.eval_on_selector_all(".xw-heatmap, .xw-graph, .xw-gallery", "es => es.map(e => e.dataset.ready)")
    assert len(views) >= 5 and all(ready == "true" for ready in views), views
    _no_unexpected_errors(page)
