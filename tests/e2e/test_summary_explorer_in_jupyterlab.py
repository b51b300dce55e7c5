"""The SummaryExplorer in JupyterLab: summaries render, clicking one shows its members outlined on their images,
and moving the preference re-clusters."""

import pytest

from .conftest import OUT
from .test_heatmap_explorer_in_jupyterlab import _set_slider
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS, KERNEL_IDLE, RUN_IN_KERNEL

pytestmark = pytest.mark.e2e

EXPLORER = ".xw-summary-explorer"
SUMMARIES = f"{EXPLORER} .xw-summary-gallery .xw-gallery"
MEMBERS = f"{EXPLORER} .xw-summary-members .xw-gallery"
STATUS = f"{EXPLORER} .xw-run-status"


def _kernel(page, code):
    return page.evaluate(RUN_IN_KERNEL, code).strip()


def _shoot(page, name):
    page.evaluate(f"document.querySelector('{EXPLORER}').scrollIntoView({{block: 'start'}})")
    page.screenshot(path=str(OUT / name))


def test_summary_explorer_renders_shows_members_and_reclusters(lab, page):
    page.set_viewport_size({"width": 1280, "height": 1200})
    page.goto(f"{lab['url']}/lab/tree/04_summaries.ipynb?token={lab['token']}&reset")
    page.wait_for_function(KERNEL_IDLE, timeout=90000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    try:
        page.wait_for_selector(f"{STATUS}:has-text('summaries accepted')", timeout=300000)
    except Exception:
        OUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUT / "summary_explorer_timeout.png"), full_page=True)
        raise
    page.wait_for_function(KERNEL_IDLE, timeout=180000)
    OUT.mkdir(exist_ok=True)
    accepted = int(_kernel(page, "print(len(explorer.result.accepted))"))
    page.wait_for_function(f"() => document.querySelector('{SUMMARIES}').dataset.groups === '{accepted}'",
                           timeout=30000)
    assert accepted >= 1
    assert page.locator(f"{EXPLORER} .xw-summary-chart rect.bar").count() == 2       # toy classifier, perturbed
    _shoot(page, "summary_explorer.png")

    # Clicking the last summary's header shows its members, each with its region outlined.
    last = accepted - 1
    page.locator(f"{SUMMARIES} [data-group-id='summary{last}']").click()
    samples = int(_kernel(page, f"print(len(explorer.result.accepted[{last}]['samples']))"))
    page.wait_for_function(f"() => {{ const m = document.querySelector('{MEMBERS}');"
                           f" return m.dataset.ready === 'true' && m.dataset.items === '{samples}'; }}",
                           timeout=30000)
    assert _kernel(page, "print(explorer.selected)") == str(last)
    assert page.locator(f"{MEMBERS} .xw-gallery-box").count() == samples
    _shoot(page, "summary_explorer_members.png")

    # Moving the preference re-clusters (from the cached matching) and redraws the gallery.
    draws = int(page.get_attribute(SUMMARIES, "data-draws"))
    _set_slider(page, EXPLORER, "preference_factor", 4)
    page.wait_for_function(f"() => Number(document.querySelector('{SUMMARIES}').dataset.draws) > {draws}"
                           f" && document.querySelector('{STATUS}').innerText.includes('summaries accepted')",
                           timeout=60000)
    page.wait_for_function(KERNEL_IDLE, timeout=30000)
    assert _kernel(page, "print(explorer.result.params['preference_factor'])") == "4.0"
    clusters = int(_kernel(page, "print(len(explorer.result.summaries))"))
    assert f"of {clusters} clusters" in page.locator(STATUS).inner_text()
    _shoot(page, "summary_explorer_reclustered.png")
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
