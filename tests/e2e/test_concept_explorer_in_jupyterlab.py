"""The ConceptExplorer in JupyterLab: the contribution bars render, clicking a bar or a concept card changes the
map on the image, picking another image explains it, moving k retrains under a visible progress bar, and cancelling
a retraining puts k and the progress bar back to the fit that is shown.

Issue 19: the contribution bars lie inside the plot area with room to spare, the tick labels are readable and never
overlap, the "cancel training" label is whole, counts have proper plurals, and no title, metrics or status line
wraps inside a "·"-separated phrase."""

import pytest

from .steps import draws, kernel, run_notebook, shoot, wait_redrawn
from .test_heatmap_explorer_in_jupyterlab import _set_slider
from .test_text_explorer_in_jupyterlab import assert_readable_chart, assert_the_wrap_check_sees_a_wrap, wrapped_phrases
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS, KERNEL_IDLE

pytestmark = pytest.mark.e2e

EXPLORER = ".xw-concept-explorer"
IMAGE = f"{EXPLORER} .xw-heatmap.xw-concept-image"
BARS = f"{EXPLORER} .xw-concept-bars"
CARDS = f"{EXPLORER} .xw-concept-cards .xw-gallery"
PICKER = f"{EXPLORER} .xw-concept-picker .xw-gallery"
STATUS = f"{EXPLORER} .xw-run-status"
METRICS = f"{EXPLORER} .xw-concept-metrics"
CANCEL = f"{EXPLORER} .xw-concept-cancel"
LINES = (f"{IMAGE} .xw-title", f"{EXPLORER} .xw-concept-summary", METRICS, STATUS)
#: Whether an element's content fits it (nothing cut, no ellipsis).
FITS = "(e) => e.scrollWidth <= e.clientWidth"


def test_concept_explorer_bars_cards_images_and_retraining(lab, page):
    run_notebook(
        page, lab, "03_concepts.ipynb", f"{CARDS}[data-ready='true'][data-groups='5']", name="concept_explorer"
    )

    # The bars: one bqplot rect per concept, its height signed by the contribution.
    page.wait_for_function(f"() => document.querySelectorAll('{BARS} rect.bar').length === 5", timeout=30000)
    contributions = [float(v) for v in kernel(page, "print(*explorer.explanation.contributions[0].tolist())").split()]
    assert len(contributions) == 5 and sum(c > 0 for c in contributions) >= 1
    assert int(page.get_attribute(PICKER, "data-items")) == 12
    shoot(page, EXPLORER, "concept_explorer.png")
    assert_readable_chart(page, BARS, margin=4, vertical=True)
    assert_the_wrap_check_sees_a_wrap(page)
    assert not wrapped_phrases(page, *LINES)
    metrics = page.locator(METRICS).inner_text()
    assert "(s)" not in metrics and ("1 attempt" in metrics or " attempts" in metrics)
    assert page.locator(CANCEL).evaluate(FITS)

    # a. Clicking a bar selects its concept and changes the map on the image.
    target = max(range(5), key=lambda c: contributions[c])
    other = (
        next(c for c in range(5) if c != target and contributions[c] > 0)
        if sum(c > 0 for c in contributions) > 1
        else (target + 1) % 5
    )
    kernel(page, f"explorer.select_concept({other})")
    before, heatmap = draws(page, IMAGE), kernel(page, "print(hash(bytes(explorer.image_view.heatmap)))")
    page.locator(f"{BARS} rect.bar").nth(target).click()
    wait_redrawn(page, IMAGE, before)
    assert kernel(page, "print(explorer.concept)") == str(target)
    assert kernel(page, "print(hash(bytes(explorer.image_view.heatmap)))") != heatmap
    assert page.locator(f"{IMAGE} .xw-title").inner_text().startswith(f"concept {target + 1}:")
    assert page.get_attribute(CARDS, "data-selected-group") == f"concept{target}"

    # b. Clicking a concept card selects that concept everywhere.
    before = draws(page, IMAGE)
    page.locator(f"{CARDS} [data-group-id='concept{other}']").click()
    wait_redrawn(page, IMAGE, before)
    assert kernel(page, "print(explorer.concept, [int(i) for i in explorer.bars.selected])") == f"{other} [{other}]"
    shoot(page, EXPLORER, "concept_explorer_card.png")

    # c. Picking another image explains it.
    logit = kernel(page, "print(float(explorer.explanation.logits[0]))")
    page.locator(f"{PICKER} [data-item-id='image4']").click()
    page.wait_for_function(f"() => document.querySelector('{PICKER}').dataset.selectedItem === 'image4'", timeout=30000)
    page.wait_for_function(KERNEL_IDLE, timeout=30000)
    assert kernel(page, "print(explorer.image_index)") == "4"
    assert kernel(page, "print(float(explorer.explanation.logits[0]))") != logit

    # d. Moving k retrains from the cached features under a progress bar, then redraws with 3 bars.
    _set_slider(page, EXPLORER, "k", 3)
    page.wait_for_function(
        f"() => document.querySelector('{STATUS}').innerText.includes('training attempt')", timeout=60000
    )
    assert page.locator(f"{EXPLORER} .xw-concept-cancel").is_enabled()
    shoot(page, EXPLORER, "concept_explorer_training.png")
    assert not wrapped_phrases(page, STATUS)
    assert page.locator(CANCEL).evaluate(FITS)
    page.wait_for_function(
        f"() => document.querySelector('{METRICS}').innerText.includes('fitted in')"
        f" && document.querySelectorAll('{BARS} rect.bar').length === 3"
        f" && document.querySelector('{CARDS}').dataset.groups === '3'",
        timeout=240000,
    )
    assert kernel(page, "print(explorer.space.k)") == "3"
    shoot(page, EXPLORER, "concept_explorer_retrained.png")
    assert_readable_chart(page, BARS, margin=4, vertical=True)
    assert not wrapped_phrases(page, *LINES)
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected


K_READOUT = (
    f"() => Array.from(document.querySelectorAll('{EXPLORER} .widget-slider'))"
    ".find(s => s.querySelector('label').innerText.trim() === 'k')"
    ".querySelector('.widget-readout').innerText.trim()"
)
BAR_WIDTH = f"() => document.querySelector('{EXPLORER} .widget-hprogress .progress-bar').style.width"


def test_cancel_training_puts_k_and_the_progress_bar_back_to_the_fit_shown(lab, page):
    """Issue 18: after "cancel training" the k slider read 4 while the chart showed the k = 3 fit, and the progress
    bar stayed at 3.7 %."""
    run_notebook(
        page, lab, "03_concepts.ipynb", f"{CARDS}[data-ready='true'][data-groups='5']", name="concept_explorer_cancel"
    )
    page.wait_for_function(f"() => document.querySelectorAll('{BARS} rect.bar').length === 5", timeout=30000)
    _set_slider(page, EXPLORER, "k", 4)
    page.wait_for_function(
        f"() => document.querySelector('{STATUS}').innerText.includes('training attempt')", timeout=60000
    )
    page.locator(f"{EXPLORER} .xw-concept-cancel").click()
    page.wait_for_function(f"() => document.querySelector('{STATUS}').innerText.includes('cancelled')", timeout=30000)
    page.wait_for_function(KERNEL_IDLE, timeout=60000)
    try:
        page.wait_for_function(f"() => ({K_READOUT})() === '5' && ({BAR_WIDTH})() === '100%'", timeout=15000)
    finally:
        shoot(page, EXPLORER, "concept_explorer_cancelled.png")
    assert page.locator(f"{BARS} rect.bar").count() == 5
    assert kernel(page, "print(explorer.controls['k'].value, explorer.space.k)") == "5 5"
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
