"""The SummaryExplorer in JupyterLab: summaries render, clicking one shows its members outlined on their images,
and moving the preference re-clusters."""

import pytest

from .steps import kernel, run_notebook, shoot
from .test_heatmap_explorer_in_jupyterlab import _set_slider
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS, KERNEL_IDLE

pytestmark = pytest.mark.e2e

EXPLORER = ".xw-summary-explorer"
SUMMARIES = f"{EXPLORER} .xw-summary-gallery .xw-gallery"
MEMBERS = f"{EXPLORER} .xw-summary-members .xw-gallery"
STATUS = f"{EXPLORER} .xw-summary-status"


def test_summary_explorer_renders_shows_members_and_reclusters(lab, page):
    run_notebook(
        page,
        lab,
        "04_summaries.ipynb",
        f"{STATUS}:has-text('accepted of')",
        name="summary_explorer",
        height=1200,
        timeout=300000,
    )
    accepted = int(kernel(page, "print(len(explorer.result.accepted))"))
    page.wait_for_function(
        f"() => document.querySelector('{SUMMARIES}').dataset.groups === '{accepted}'", timeout=30000
    )
    assert accepted >= 1
    assert page.locator(f"{EXPLORER} .xw-summary-chart rect.bar").count() == 2  # toy classifier, perturbed
    shoot(page, EXPLORER, "summary_explorer.png")

    # Clicking the last summary's header shows its members, each with its region outlined.
    last = accepted - 1
    page.locator(f"{SUMMARIES} [data-group-id='summary{last}']").click()
    samples = int(kernel(page, f"print(len(explorer.result.accepted[{last}]['samples']))"))
    page.wait_for_function(
        f"() => {{ const m = document.querySelector('{MEMBERS}');"
        f" return m.dataset.ready === 'true' && m.dataset.items === '{samples}'; }}",
        timeout=30000,
    )
    assert kernel(page, "print(explorer.selected)") == str(last)
    assert page.locator(f"{MEMBERS} .xw-gallery-box").count() == samples
    shoot(page, EXPLORER, "summary_explorer_members.png")

    # Moving the preference re-clusters (from the cached matching) and redraws the gallery.
    draws = int(page.get_attribute(SUMMARIES, "data-draws"))
    _set_slider(page, EXPLORER, "preference_factor", 4)
    page.wait_for_function(
        f"() => Number(document.querySelector('{SUMMARIES}').dataset.draws) > {draws}"
        f" && document.querySelector('{STATUS}').innerText.includes('accepted of')",
        timeout=60000,
    )
    page.wait_for_function(KERNEL_IDLE, timeout=30000)
    assert kernel(page, "print(explorer.wait().result.params['preference_factor'])") == "4.0"
    clusters = int(kernel(page, "print(len(explorer.result.summaries))"))
    assert f"of {clusters} clusters" in page.locator(STATUS).inner_text()
    shoot(page, EXPLORER, "summary_explorer_reclustered.png")
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
