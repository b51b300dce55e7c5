"""The SummaryExplorer in JupyterLab: summaries render, clicking one shows its members outlined on their images,
and moving the preference re-clusters. Readability: no text is cut, lines wrap only between phrases, counts take
proper plurals, every sample of a long summary row stays inside the row, outlines are thick, the count chart's tick
labels keep clear of the bars, and while the dataset pass runs the place of the summaries shows its progress."""

import re

import pytest

from .conftest import OUT
from .readability import BROKEN_PHRASES, CUT_TEXT, OUTSIDE_ROW, PHRASE_COUNT, TICKS_ON_BARS, outline_width
from .steps import kernel, run_notebook, shoot
from .test_heatmap_explorer_in_jupyterlab import _set_slider
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS, KERNEL_IDLE

pytestmark = pytest.mark.e2e

EXPLORER = ".xw-summary-explorer"
SUMMARIES = f"{EXPLORER} .xw-summary-gallery .xw-gallery"
MEMBERS = f"{EXPLORER} .xw-summary-members .xw-gallery"
STATUS = f"{EXPLORER} .xw-summary-status"
CHART = f"{EXPLORER} .xw-summary-chart"
#: The summaries' outline colour (xwidgets.summaries.figure.OUTLINE).
OUTLINE = (0x00, 0xE5, 0xFF)
#: A count of one with a plural noun, or of several with a singular one.
BAD_PLURAL = re.compile(r"(?<![\d.])1 (summaries|images|samples|clusters)\b|\b([02-9]|\d\d+) (summary|image|sample)\b")

SECOND_EXPLORER = """async (code) => {
  const panel = window.jupyterapp.shell.currentWidget, notebook = panel.content;
  notebook.activeCellIndex = notebook.widgets.length - 1;
  await window.jupyterapp.commands.execute('notebook:insert-cell-below');
  notebook.activeCell.model.sharedModel.setSource(code);
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""


def _unreadable(page, name):
    """What is hard to read in the explorer now (``name`` says which state): cut text, phrases broken across lines,
    wrong plurals, count-chart tick labels on a bar or outside the chart."""
    text = page.locator(EXPLORER).first.inner_text()
    checks = {
        "cut text": page.evaluate(CUT_TEXT, EXPLORER),
        "broken phrases": page.evaluate(BROKEN_PHRASES, EXPLORER),
        "plurals": BAD_PLURAL.findall(text),
        "ticks on the bars": page.evaluate(TICKS_ON_BARS, CHART),
    }
    return [(name, check, found) for check, found in checks.items() if found]


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
    problems = _unreadable(page, "first result")  # collected, so that one run lists every defect
    if page.evaluate(PHRASE_COUNT, STATUS) < 3:
        problems.append(("first result", "the headline is not made of phrases", page.locator(STATUS).inner_text()))

    # Clicking the last summary's header shows its members, each with its region outlined, thick and haloed.
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
    thumb = page.locator(f"{MEMBERS} .xw-gallery-thumb").first
    thumb.scroll_into_view_if_needed()
    box = page.locator(f"{MEMBERS} rect.xw-gallery-box").first.bounding_box()
    frame = thumb.bounding_box()
    picture = thumb.screenshot(path=str(OUT / "summary_explorer_outline.png"))
    width = outline_width(picture, OUTLINE, round(box["y"] - frame["y"] + box["height"] / 2))
    if width < 3:
        problems.append(("members", "outline width in px", width))

    # Moving the preference re-clusters (from the cached matching) into fewer, longer rows, and redraws the gallery.
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
    assert f"of {clusters} cluster" in page.locator(STATUS).inner_text()
    shoot(page, EXPLORER, "summary_explorer_reclustered.png")
    longest = int(kernel(page, "print(max(len(s['samples']) for s in explorer.result.accepted))"))
    assert longest >= 5  # a row long enough to overflow a single line of 72 px samples
    for number in range(int(kernel(page, "print(len(explorer.result.accepted))"))):
        outside = page.evaluate(OUTSIDE_ROW, f"{SUMMARIES} .xw-gallery-group:nth-child({number + 1})")
        if outside:
            problems.append(("reclustered", f"samples outside the row of summary {number + 1}", outside))
    problems += _unreadable(page, "reclustered")
    assert not problems, "\n".join(map(repr, problems))

    # A second explorer on the same images: while its dataset pass runs, the place of the summaries shows it.
    page.evaluate(
        SECOND_EXPLORER,
        "second = xw.SummaryExplorer(model, images, 'ember thrush', mask_params=fast)\nsecond",
    )
    second = f"{EXPLORER} >> nth=1"
    status = page.locator(second).locator(".xw-summary-pass-status")
    status.wait_for(state="visible", timeout=120000)
    page.wait_for_function(
        f"() => {{ const s = document.querySelectorAll('{EXPLORER}')[1].querySelector('.xw-summary-pass-status');"
        " return s && s.innerText.includes('crisp masks, step'); }",
        timeout=120000,
    )
    status.scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / "summary_explorer_pass.png"))
    line = status.inner_text()
    assert "dataset pass of toy classifier" in line and "of 16 images done" in line, line
    assert "no image finished yet" in line or page.locator(second).locator(".xw-summary-pass [data-item-id]").count()
    gallery = page.locator(second).locator(".xw-summary-gallery").bounding_box()
    assert status.bounding_box()["x"] <= gallery["x"] + 20  # on the left, where the summaries will be
    assert not BAD_PLURAL.search(line), line
    page.wait_for_function(
        f"() => document.querySelectorAll('{STATUS}')[1]?.innerText.includes('accepted of')", timeout=300000
    )
    assert not status.is_visible()  # the summaries took its place
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
