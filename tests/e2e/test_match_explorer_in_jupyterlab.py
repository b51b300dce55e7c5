"""The MatchExplorer in JupyterLab: both saliency maps and the ranked attributes render; picking another reference
from the pool re-explains the pair (the reference, its saliency and the attributes change); an attribute click shows
its map on the query; swap exchanges the two images. Readability: no caption or label is cut, the summary line wraps
only between phrases, and the notebook's pair is a real match (a clearly positive cosine similarity)."""

import pytest

from .readability import BROKEN_PHRASES, CUT_TEXT, PHRASE_COUNT
from .steps import kernel, run_notebook, shoot
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS, KERNEL_IDLE

pytestmark = pytest.mark.e2e

EXPLORER = ".xw-match-explorer"
QUERY = f"{EXPLORER} .xw-heatmap.xw-match-query"
REFERENCE = f"{EXPLORER} .xw-heatmap.xw-match-reference"
ATTRIBUTES = f"{EXPLORER} .xw-match-attributes .xw-gallery"
POOL = f"{EXPLORER} .xw-match-pool .xw-gallery"
SUMMARY = f"{EXPLORER} .xw-match-summary"


def _readable(page, name):
    """No caption, title or label cut, and no phrase broken across lines; ``name`` says which state failed."""
    assert page.locator(f"{ATTRIBUTES} .xw-gallery-caption").count() == 5
    assert not page.evaluate(CUT_TEXT, EXPLORER), (name, page.evaluate(CUT_TEXT, EXPLORER))
    assert not page.evaluate(BROKEN_PHRASES, EXPLORER), (name, page.evaluate(BROKEN_PHRASES, EXPLORER))


def _wait_explained(page, query, reference):
    """Wait until the explorer shows the explanation of ``query`` against ``reference`` (its settings and its
    summary line, which is drawn from them)."""
    page.wait_for_function(KERNEL_IDLE, timeout=60000)
    expected = f"{query} {reference}"
    for _ in range(240):
        shown = kernel(page, "print(*(explorer.shown.settings[k] for k in ('query', 'reference')), explorer.running)")
        if shown == f"{expected} False":
            break
        page.wait_for_timeout(500)
    else:
        raise AssertionError(f"no explanation of #{query} against #{reference} within 2 minutes (shown: {shown})")
    page.wait_for_function(
        f"() => document.querySelector('{SUMMARY}').innerText.startsWith('#{query} against #{reference}')",
        timeout=60000,
    )


def test_match_explorer_reference_pick_attribute_click_and_swap(lab, page):
    run_notebook(
        page, lab, "06_similarity.ipynb", f"{ATTRIBUTES}[data-ready='true'][data-items='5']", name="match_explorer"
    )
    for view in (QUERY, REFERENCE):
        page.wait_for_function(f"() => document.querySelector('{view}').dataset.ready === 'true'", timeout=30000)
    shoot(page, EXPLORER, "match_explorer.png")
    _readable(page, "first pair")
    assert page.evaluate(PHRASE_COUNT, SUMMARY) == 4
    similarity = float(kernel(page, "print(float(explorer.explanation.similarity[0]))"))
    assert similarity > 0.2, f"the notebook's pair has cosine similarity {similarity:.2f}: not a match"
    assert f"cosine similarity {similarity:.2f}" in page.locator(SUMMARY).inner_text()

    # a. Picking another reference from the pool re-explains: the reference, its saliency and the attributes change.
    reference = int(kernel(page, "print(explorer.reference)"))
    query = int(kernel(page, "print(explorer.query)"))
    before = {
        "saliency": kernel(page, "print(hash(bytes(explorer.reference_view.heatmap)))"),
        "ranking": kernel(page, "print([r['score'] for r in explorer.explanation.ranking(0, 5)])"),
    }
    pick = next(i for i in range(16) if i not in (query, reference))
    page.locator(f"{POOL} [data-item-id='image{pick}']").click()
    _wait_explained(page, query, pick)
    assert kernel(page, "print(explorer.reference)") == str(pick)
    assert kernel(page, "print(hash(bytes(explorer.reference_view.heatmap)))") != before["saliency"]
    assert kernel(page, "print([r['score'] for r in explorer.explanation.ranking(0, 5)])") != before["ranking"]
    assert page.locator(f"{REFERENCE} .xw-title").inner_text().startswith(f"reference #{pick}")
    shoot(page, EXPLORER, "match_explorer_reference.png")

    # b. Clicking an attribute shows its map on the query.
    item = page.locator(f"{ATTRIBUTES} [data-item-id]").nth(1)
    item_id = item.get_attribute("data-item-id")
    item.click()
    page.wait_for_function(
        f"() => document.querySelector('{QUERY} .xw-title').innerText.includes('attribute')", timeout=30000
    )
    index = int(item_id.removeprefix("attribute"))
    assert kernel(page, "print(explorer.explanation.attribute_index(explorer.attribute))") == str(index)

    # c. Swap exchanges the query and the reference.
    page.locator(f"{EXPLORER} .xw-match-swap").click()
    _wait_explained(page, pick, query)
    assert kernel(page, "print(explorer.query, explorer.reference)") == f"{pick} {query}"
    shoot(page, EXPLORER, "match_explorer_swapped.png")
    _readable(page, "swapped")
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
