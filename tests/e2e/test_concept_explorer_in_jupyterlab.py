"""The ConceptExplorer in JupyterLab: the contribution bars render, clicking a bar or a concept card changes the
map on the image, picking another image explains it, and moving k retrains under a visible progress bar."""

import pytest

from .conftest import OUT
from .test_heatmap_explorer_in_jupyterlab import _set_slider
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS, KERNEL_IDLE, RUN_IN_KERNEL

pytestmark = pytest.mark.e2e

EXPLORER = ".xw-concept-explorer"
IMAGE = f"{EXPLORER} .xw-heatmap.xw-concept-image"
BARS = f"{EXPLORER} .xw-concept-bars"
CARDS = f"{EXPLORER} .xw-concept-cards .xw-gallery"
PICKER = f"{EXPLORER} .xw-concept-picker .xw-gallery"
STATUS = f"{EXPLORER} .xw-run-status"


def _kernel(page, code):
    return page.evaluate(RUN_IN_KERNEL, code).strip()


def _draws(page):
    return int(page.get_attribute(IMAGE, "data-draws") or 0)


def _wait_redrawn(page, before):
    page.wait_for_function(f"() => {{ const e = document.querySelector(\"{IMAGE}\");"
                           f" return e.dataset.ready === 'true' && Number(e.dataset.draws) > {before}; }}",
                           timeout=30000)


def _shoot(page, name):
    page.evaluate(f"document.querySelector('{EXPLORER}').scrollIntoView({{block: 'start'}})")
    page.screenshot(path=str(OUT / name))


def test_concept_explorer_bars_cards_images_and_retraining(lab, page):
    page.set_viewport_size({"width": 1280, "height": 1300})
    page.goto(f"{lab['url']}/lab/tree/03_concepts.ipynb?token={lab['token']}&reset")
    page.wait_for_function(KERNEL_IDLE, timeout=90000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    try:
        page.wait_for_selector(f"{CARDS}[data-ready='true'][data-groups='5']", timeout=240000)
    except Exception:
        OUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUT / "concept_explorer_timeout.png"), full_page=True)
        raise
    page.wait_for_function(KERNEL_IDLE, timeout=180000)
    OUT.mkdir(exist_ok=True)

    # The bars: one bqplot rect per concept, its height signed by the contribution.
    page.wait_for_function(f"() => document.querySelectorAll('{BARS} rect.bar').length === 5", timeout=30000)
    contributions = [float(v) for v in _kernel(page, "print(*explorer.explanation.contributions[0].tolist())").split()]
    assert len(contributions) == 5 and sum(c > 0 for c in contributions) >= 1
    assert int(page.get_attribute(PICKER, "data-items")) == 12
    _shoot(page, "concept_explorer.png")

    # a. Clicking a bar selects its concept and changes the map on the image.
    target = max(range(5), key=lambda c: contributions[c])
    other = next(c for c in range(5) if c != target and contributions[c] > 0) if sum(
        c > 0 for c in contributions) > 1 else (target + 1) % 5
    _kernel(page, f"explorer.select_concept({other})")
    before, heatmap = _draws(page), _kernel(page, "print(hash(bytes(explorer.image_view.heatmap)))")
    page.locator(f"{BARS} rect.bar").nth(target).click()
    _wait_redrawn(page, before)
    assert _kernel(page, "print(explorer.concept)") == str(target)
    assert _kernel(page, "print(hash(bytes(explorer.image_view.heatmap)))") != heatmap
    assert page.locator(f"{IMAGE} .xw-title").inner_text().startswith(f"concept {target + 1}:")
    assert page.get_attribute(CARDS, "data-selected-group") == f"concept{target}"

    # b. Clicking a concept card selects that concept everywhere.
    before = _draws(page)
    page.locator(f"{CARDS} [data-group-id='concept{other}']").click()
    _wait_redrawn(page, before)
    assert _kernel(page, "print(explorer.concept, [int(i) for i in explorer.bars.selected])") == f"{other} [{other}]"
    _shoot(page, "concept_explorer_card.png")

    # c. Picking another image explains it.
    logit = _kernel(page, "print(float(explorer.explanation.logits[0]))")
    page.locator(f"{PICKER} [data-item-id='image4']").click()
    page.wait_for_function(f"() => document.querySelector('{PICKER}').dataset.selectedItem === 'image4'",
                           timeout=30000)
    page.wait_for_function(KERNEL_IDLE, timeout=30000)
    assert _kernel(page, "print(explorer._current)") == "4"
    assert _kernel(page, "print(float(explorer.explanation.logits[0]))") != logit

    # d. Moving k retrains from the cached features under a progress bar, then redraws with 3 bars.
    _set_slider(page, EXPLORER, "k", 3)
    page.wait_for_function(f"() => document.querySelector('{STATUS}').innerText.includes('training attempt')",
                           timeout=60000)
    assert page.locator(f"{EXPLORER} .xw-concept-cancel").is_enabled()
    _shoot(page, "concept_explorer_training.png")
    page.wait_for_function(f"() => document.querySelector('{STATUS}').innerText.startsWith('fitted in')"
                           f" && document.querySelectorAll('{BARS} rect.bar').length === 3"
                           f" && document.querySelector('{CARDS}').dataset.groups === '3'", timeout=240000)
    assert _kernel(page, "print(explorer.space.k)") == "3"
    _shoot(page, "concept_explorer_retrained.png")
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
