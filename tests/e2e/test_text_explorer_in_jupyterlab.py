"""The TextExplorer in JupyterLab: the sentence renders with its phrases as buttons, clicking a phrase changes the
grounding map on the image, clicking a bar selects that attribute, and clicking a retrieved image explains it."""

import pytest

from .steps import draws, kernel, run_notebook, shoot, wait_redrawn
from .test_heatmap_explorer_in_jupyterlab import _set_slider
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS, KERNEL_IDLE

pytestmark = pytest.mark.e2e

EXPLORER = ".xw-text-explorer"
IMAGE = f"{EXPLORER} .xw-heatmap.xw-text-image"
WORDS = f"{EXPLORER} .xw-text-words button.xw-text-word"
BARS = f"{EXPLORER} .xw-text-bars"
FILTERS = f"{EXPLORER} .xw-text-filters .xw-gallery"
RETRIEVED = f"{EXPLORER} .xw-text-retrieval .xw-gallery"


def test_text_explorer_words_bars_and_retrieval(lab, page):
    run_notebook(page, lab, "05_text.ipynb", f"{RETRIEVED}[data-ready='true'][data-items='8']", name="text_explorer")

    # The sentence: one button per phrase, as the kernel composed it.
    phrases = kernel(page, "print(*[w['phrase'] for w in explorer.explanation.words(0)], sep='|')").split("|")
    assert page.locator(WORDS).all_inner_texts() == phrases and len(phrases) == 2
    page.wait_for_function(f"() => document.querySelectorAll('{BARS} rect.bar').length === 8", timeout=30000)
    shoot(page, EXPLORER, "text_explorer.png")

    # a. Clicking a phrase grounds it: the map on the image changes and the title names the phrase.
    before, heatmap = draws(page, IMAGE), kernel(page, "print(hash(bytes(explorer.image_view.heatmap)))")
    page.locator(WORDS).nth(0).click()
    wait_redrawn(page, IMAGE, before)
    assert kernel(page, "print(explorer.attribute)") == kernel(
        page, "print(explorer.explanation.words(0)[0]['attributes'][0])"
    )
    assert kernel(page, "print(hash(bytes(explorer.image_view.heatmap)))") != heatmap
    assert page.locator(f"{IMAGE} .xw-title").inner_text().startswith(f"grounding: {phrases[0]}")
    assert "mod-info" in (page.locator(WORDS).nth(0).get_attribute("class") or "")
    assert int(page.get_attribute(FILTERS, "data-items")) >= 1
    shoot(page, EXPLORER, "text_explorer_word.png")

    # b. Clicking a bar selects that attribute.
    ranked = kernel(page, "print(*explorer._ranked, sep='|')").split("|")
    before = draws(page, IMAGE)
    page.locator(f"{BARS} rect.bar").nth(5).click()
    wait_redrawn(page, IMAGE, before)
    assert kernel(page, "print(explorer.attribute)") == ranked[5]

    # c. Clicking a retrieved image explains it and keeps the word.
    attribute = ranked[5]
    order = kernel(page, "print(*[i['id'] for i in explorer.retrieved.groups[0]['items']])").split()
    pick = next(i for i in order if i != f"image{kernel(page, 'print(explorer.index)')}")
    page.locator(f"{RETRIEVED} [data-item-id='{pick}']").click()
    page.wait_for_function(KERNEL_IDLE, timeout=30000)
    page.wait_for_function(f"() => document.querySelector('{IMAGE}').dataset.ready === 'true'", timeout=30000)
    assert kernel(page, "explorer.wait(); print(f'image{explorer.index}', explorer.attribute)") == f"{pick} {attribute}"

    # d. Moving the words slider re-explains with one phrase.
    _set_slider(page, EXPLORER, "words", 1)
    page.wait_for_function(f"() => document.querySelectorAll('{WORDS}').length === 1", timeout=30000)
    shoot(page, EXPLORER, "text_explorer_retrieved.png")
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
