"""Soak of the HeatmapExplorer and the SAGExplorer in JupyterLab (issue 21): 200 moves each, made the way a user
makes them, and nothing grows.

Each test writes its own notebook into the lab's root (:mod:`.soak_kernel`): the probe functions, then the explorer
on a toy bird (I-GOS at 6 iterations beside Grad-CAM, so that a run ends in a second or two while quick moves still
catch runs in flight; SAG on the azure jay). Then 200 moves from a seeded sequence: slider moves by keyboard
(ArrowRight / ArrowLeft, PageUp / PageDown on the focused handle) and by drag, menu changes, target buttons, clicks
and hovers on the views (the map's canvas, the curves chart, the patch editor, the graph's nodes), buttons and
checkboxes; a third of them rapid-fire, most a short pause apart, some after the run has ended. Every 20 moves,
once the explorer is idle, a row records the kernel's RSS, threads, torch hooks and live widgets, and the page's DOM
elements and JS heap (after a forced garbage collection, through the Chrome DevTools Protocol).

Asserted: kernel RSS growth after the warm-up (the first 40 moves) within :data:`RSS_GROWTH`; threads back to the
baseline and no torch hook at every idle checkpoint; live widgets and DOM elements not growing; every stale run
stopped within :data:`STALE_STOP` seconds of the change that made it stale; no page error (JupyterLab's
``create_subshell_request`` aside); and at the end the explorer shows the latest request: the kernel's
``shown.settings`` are the controls' settings, the browser's controls show those values, and the views drew that
result. The rows go to tests/e2e/out/soak_<explorer>.json and the end states to soak_<explorer>_end.png.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import statistics
import time

import pytest

from .conftest import OUT
from .soak_kernel import HEATMAP_CELL, SAG_CELL, write_notebook
from .steps import kernel, run_notebook, shoot
from .test_tour_in_jupyterlab import ALLOWED_PAGE_ERRORS

pytestmark = pytest.mark.e2e

#: Moves per explorer (``XWIDGETS_SOAK_SCALE=10`` makes 2,000, for a long local hunt), the warm-up, and how often a
#: row is recorded.
MOVES, WARM_UP, EVERY = 200 * max(1, int(os.environ.get("XWIDGETS_SOAK_SCALE", "1"))), 40, 20
#: The most the kernel's RSS may grow after the warm-up (:func:`rss_growth`). Measured on 2 shared cores under load 6
#: to 9: HeatmapExplorer −18, 12 and 22 MiB, SAGExplorer 21, 29 and 33 MiB (and a headless SAG soak of 600 changes
#: swings ±15 MiB with no trend); twice the largest.
RSS_GROWTH = 64 * 2**20
#: The most the page's DOM elements may grow from the end of the warm-up (at the same methods shown).
DOM_GROWTH = 40
#: The most the page's JS heap (used, after a forced garbage collection) may grow from the end of the warm-up.
JS_HEAP_GROWTH = 8 * 2**20
#: The longest a stale run may take to stop, in seconds: one I-GOS iteration or one SAG beam level takes about 0.15 s
#: here; the margin is for a 2-core machine shared with the browser and JupyterLab.
STALE_STOP = 2.0
#: The most progress reports a stale run may make after it went stale: the one closing the step in flight (an I-GOS
#: iteration, a beam level, a scored batch, SAG's graph), and for SAG's graph, the last step, "SAG done".
STALE_STEPS = 2
#: Chance that a move follows the previous one at once, and that the user waits for the run to end after it.
RAPID, READS = 0.35, 0.05

TRACEBACK = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']:has-text('Traceback')"
CONTROLS_SHOWN = """(root) => {
  const label = (e) => (e.querySelector(e.matches('.widget-checkbox') ? '.widget-label-basic span' : '.widget-label')
    || {}).textContent || '';
  return [...document.querySelector(root).querySelectorAll(
      '.widget-slider, .widget-dropdown, .widget-checkbox, .widget-toggle-buttons')].map((e) => {
    if (e.matches('.widget-slider')) return [label(e), Number(e.querySelector('.widget-readout').textContent)];
    if (e.matches('.widget-dropdown')) {
      const s = e.querySelector('select');
      return [label(e), s.selectedIndex < 0 ? null : s.options[s.selectedIndex].text];
    }
    if (e.matches('.widget-checkbox')) return [label(e), e.querySelector('input').checked];
    const active = e.querySelector('button.mod-active');
    return [label(e), active ? active.textContent : null];
  });
}"""


#: Per panel of the HeatmapExplorer: its title, whether its view holds the shown result (not a streamed state), its
#: map's method and target as the shown settings say, and its status line.
HEATMAP_DRAWN = """print(json.dumps([[p.view.title, p._drawn is explorer.shown.value[p.index]
  and p.result.method == explorer.shown.settings[p.method_key]
  and p.result.target["classes"] == [explorer.shown.settings["target"]]
  and p.view.title == explorer._title(p.result), p.status.value] for p in explorer.panels]))"""


# ------------------------------------------------------------------------------------------------- moves
class User:
    """Moves on one explorer (``root``, a selector) as a person makes them, from a seeded ``rng``."""

    def __init__(self, page, root: str, rng: random.Random):
        self.page, self.root, self.rng = page, root, rng

    def slider(self, label: str, within: str = ""):
        scope = f"{self.root} {within}".strip()
        return self.page.locator(f"{scope} .widget-slider").filter(has=self.page.locator(f"label:text-is('{label}')"))

    def value(self, slider) -> float:
        return float(slider.locator(".noUi-handle").get_attribute("aria-valuenow"))

    def press(self, slider, low: float, high: float, step: float, keys=("ArrowRight", "ArrowLeft")) -> None:
        """Focus the slider's handle and press the key (up or down by ``step``) that keeps it in [low, high]."""
        value = self.value(slider)
        up = value + step <= high + 1e-9
        down = value - step >= low - 1e-9
        key = keys[0] if up and (not down or self.rng.random() < 0.5) else keys[1]
        handle = slider.locator(".noUi-handle")
        handle.focus()
        self.page.keyboard.press(key)

    def drag(self, slider, low: float, high: float, units: int) -> None:
        """Drag the slider's handle by ``units`` steps up or down, whichever stays in [low, high]."""
        handle = slider.locator(".noUi-handle")
        value = self.value(slider)
        span = float(handle.get_attribute("aria-valuemax")) - float(handle.get_attribute("aria-valuemin"))
        sign = 1 if value + units <= high and (value - units < low or self.rng.random() < 0.5) else -1
        track = slider.locator(".noUi-target").bounding_box()
        box = handle.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.move(x + sign * units * track["width"] / span, y, steps=4)
        self.page.mouse.up()

    def click_in(self, selector: str) -> None:
        """Click at a random point of the element ``selector``."""
        box = self.page.locator(selector).bounding_box()
        self.page.mouse.click(
            box["x"] + box["width"] * self.rng.uniform(0.1, 0.9), box["y"] + box["height"] * self.rng.uniform(0.1, 0.9)
        )

    def hover_in(self, selector: str) -> None:
        """Move the pointer (no click) to a random point of the element ``selector``, in a few steps."""
        box = self.page.locator(selector).bounding_box()
        self.page.mouse.move(
            box["x"] + box["width"] * self.rng.uniform(0.05, 0.95),
            box["y"] + box["height"] * self.rng.uniform(0.2, 0.8),
            steps=3,
        )

    def target(self, buttons=(0, 0, 1, 2)) -> None:
        """Click one of the target buttons, drawn from ``buttons`` (the top-1 class is button 0)."""
        self.page.locator(f"{self.root} .xw-target button").nth(self.rng.choice(buttons)).click()

    def cancel(self) -> None:
        """Click the cancel button if a run is in flight (else only hover it). The run may end between the check and
        the click, disabling the button: the click then lands on a disabled button and does nothing, as a user's
        would (``force``: no 30 s wait for it to be enabled again)."""
        button = self.page.locator(f"{self.root} .xw-cancel")
        if button.is_enabled():
            button.click(force=True)
        else:
            button.hover()


def heatmap_moves(user: User) -> list[tuple[str, int, object]]:
    """The HeatmapExplorer's moves: (name, weight, do)."""
    page, rng = user.page, user.rng
    panel0, panel1 = ".xw-panel-0", ".xw-panel-1"

    def method() -> None:
        menu = page.locator(f"{panel1} .xw-method select")
        now = _normal(menu.evaluate("s => s.options[s.selectedIndex].text"))
        wanted = "Integrated gradients" if now.startswith("Grad-CAM") else "Grad-CAM"
        texts = [_normal(t) for t in menu.locator("option").evaluate_all("options => options.map(o => o.text)")]
        menu.select_option(index=next(i for i, text in enumerate(texts) if text.startswith(wanted)))

    def colormap() -> None:
        menu = page.locator(f"{panel0} .xw-controls select").first
        menu.select_option(index=rng.randrange(menu.locator("option").count()))

    return [
        ("iterations: arrow key", 5, lambda: user.press(user.slider("iterations", panel0), 3, 10, 1)),
        (
            "iterations: page key",
            1,
            lambda: user.press(user.slider("iterations", panel0), 3, 10, 5, ("PageUp", "PageDown")),
        ),
        ("iterations: drag", 2, lambda: user.drag(user.slider("iterations", panel0), 3, 10, 2)),
        ("mask resolution: arrow key", 2, lambda: user.press(user.slider("mask resolution", panel0), 20, 30, 1)),
        ("L1 weight: arrow key", 1, lambda: user.press(user.slider("L1 weight (λ1)", panel0), 0.4, 2.0, 0.2)),
        ("method menu", 2, method),
        ("target button", 2, user.target),
        ("hover the curves", 3, lambda: user.hover_in(".xw-curves rect.selectormouse")),
        ("click the map", 2, lambda: user.click_in(f"{panel0} .xw-canvas")),
        ("hover the map", 2, lambda: user.hover_in(f"{panel0} .xw-canvas")),
        (
            "map opacity",
            1,
            lambda: page.locator(f"{panel0} .xw-controls input[type=range]").first.fill(f"{rng.uniform(0.2, 0.9):.2f}"),
        ),
        ("colormap menu", 1, colormap),
        (
            "deletion / insertion",
            1,
            lambda: page.locator(".xw-scrub-box .widget-toggle-button").nth(rng.randrange(2)).click(),
        ),
        ("zoom checkbox", 1, lambda: page.locator(".xw-curves-zoom input").click()),
        ("cancel", 1, user.cancel),
    ]


def sag_moves(user: User) -> list[tuple[str, int, object]]:
    """The SAGExplorer's moves: (name, weight, do)."""
    page, rng, root = user.page, user.rng, user.root

    def node(action: str) -> None:
        nodes = page.locator(f"{root} g.xw-graph-node")
        count = nodes.count()
        if count:
            getattr(nodes.nth(rng.randrange(count)), action)()

    return [
        ("threshold: arrow key", 3, lambda: user.press(user.slider("threshold"), 0.7, 0.95, 0.05)),
        ("beam_width: arrow key", 2, lambda: user.press(user.slider("beam_width"), 1, 4, 1)),
        ("grid: drag", 1, lambda: user.drag(user.slider("grid"), 5, 8, 1)),
        ("max_roots: page key", 1, lambda: user.press(user.slider("max_roots"), 2, 10, 5, ("PageUp", "PageDown"))),
        ("overlap: arrow key", 2, lambda: user.press(user.slider("overlap"), 0, 3, 1)),
        ("shown_roots: drag", 1, lambda: user.drag(user.slider("shown_roots"), 1, 5, 1)),
        ("target button", 2, lambda: user.target((0, 0, 0, 1, 2))),  # runner-up classes often have no root
        ("click a patch", 4, lambda: user.click_in(f"{root} .xw-sag-image .xw-canvas")),
        ("hover the image", 1, lambda: user.hover_in(f"{root} .xw-sag-image .xw-canvas")),
        ("click a node", 2, lambda: node("click")),
        ("hover a node", 3, lambda: node("hover")),
        ("show / hide all", 1, lambda: page.locator(f"{root} .xw-sag-{rng.choice(['show', 'hide'])}-all").click()),
        ("patch numbers", 1, lambda: page.locator(f"{root} .xw-sag-numbers input").click()),
        ("search button", 1, lambda: page.locator(f"{root} .xw-sag-search").click()),
        ("cancel", 1, user.cancel),
    ]


# ------------------------------------------------------------------------------------------------- probes
def _checkpoint(page, cdp, root: str, moves: int, started: float, seen: str) -> dict:
    """Wait until the explorer is idle, then one row: the kernel's probe, the page's DOM elements and JS heap, and
    ``seen``, what the page shows of the explorer's state (a JS function's value)."""
    for _ in range(5):  # a change on its way from the browser may start a run after the explorer looked idle
        settled = kernel(page, "soak_settle(explorer)")
        assert settled != "busy", f"the explorer was still busy 60 s after move {moves}"
        row = json.loads(kernel(page, "soak_probe(explorer, stale)"))
        if not row["busy"] and not row["stale_pending"]:
            break
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    row.update(
        moves=moves,
        seconds=round(time.monotonic() - started, 1),
        settle=float(settled),
        dom=page.evaluate("document.getElementsByTagName('*').length"),
        explorer_dom=page.evaluate(f"document.querySelector('{root}').getElementsByTagName('*').length"),
        js_heap=int(metrics["JSHeapUsedSize"]),
        listeners=int(metrics["JSEventListeners"]),
        seen=page.evaluate(seen),
    )
    return row


def _soak(page, user: User, moves: list[tuple[str, int, object]], name: str, seen: str = "() => null"):
    """Make :data:`MOVES` moves drawn from ``moves``; a row every :data:`EVERY` moves (and one before), ``seen``
    added (see :func:`_checkpoint`). Returns the rows and how often each move was made."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    names, weights = [m[0] for m in moves], [m[1] for m in moves]
    made = dict.fromkeys(names, 0)
    started = time.monotonic()
    rows = [_checkpoint(page, cdp, user.root, 0, started, seen)]
    for move in range(1, MOVES + 1):
        index = user.rng.choices(range(len(moves)), weights)[0]
        made[names[index]] += 1
        moves[index][2]()
        pause = user.rng.random()
        if pause >= RAPID and move % EVERY:
            if pause < 1 - READS:
                page.wait_for_timeout(user.rng.uniform(50, 300))
            else:
                kernel(page, "soak_settle(explorer)")  # the user reads the result before the next move
        if move % EVERY == 0:
            rows.append(_checkpoint(page, cdp, user.root, move, started, seen))
    (OUT / f"soak_{name}.json").write_text(json.dumps({"rows": rows, "moves": made}, indent=1))
    return rows, made


def _assert_nothing_grows(rows: list[dict], key=lambda row: ()) -> None:
    """Threads back to the baseline and no new hook at every idle checkpoint; RSS, widgets and DOM elements not
    growing after the warm-up. ``key(row)`` names the state widgets and DOM elements are compared within (e.g.
    the methods shown: each method has its own controls)."""
    base = rows[0]
    for row in rows:
        assert row["thread_names"] == base["thread_names"], (row["moves"], row["thread_names"])
        assert row["hooks"] == base["hooks"] == 0, (row["moves"], row["hooks"])
        assert not row["busy"] and row["stale_pending"] == 0, row["moves"]
    growth = rss_growth(rows)
    assert growth <= RSS_GROWTH, f"kernel RSS grew {growth / 2**20:.1f} MiB after the warm-up"
    first: dict = {}
    for row in rows:
        widgets, page_dom, explorer_dom = first.setdefault(key(row), (row["widgets"], row["dom"], row["explorer_dom"]))
        assert row["widgets"] <= widgets, (row["moves"], key(row), row["widgets"], widgets)
        assert row["explorer_dom"] <= explorer_dom + DOM_GROWTH, (row["moves"], key(row), row["explorer_dom"])
        assert row["dom"] <= page_dom + DOM_GROWTH, (row["moves"], key(row), row["dom"], page_dom)
    warm = next(row for row in rows if row["moves"] >= WARM_UP)
    assert max(row["js_heap"] for row in rows) - warm["js_heap"] <= JS_HEAP_GROWTH, [r["js_heap"] for r in rows]
    end = rows[-1]
    assert end["stale"] and max(end["stale"]) <= STALE_STOP, end["slowest"]
    assert max(end["steps_after"]) <= STALE_STEPS, end["busiest"]


def rss_growth(rows: list[dict]) -> int:
    """The kernel's RSS growth after the warm-up, in bytes: the median of the last three rows' RSS less the median
    of the first three rows from the end of the warm-up on (a median, as the allocator's RSS swings by ±15 MiB
    between two idle moments)."""
    warm = [row["rss"] for row in rows if row["moves"] >= WARM_UP]
    return int(statistics.median(warm[-3:]) - statistics.median(warm[:3]))


def _normal(text):
    return " ".join(str(text).replace("\xa0", " ").split()) if isinstance(text, str) else text


def _assert_controls_shown(page, root: str) -> None:
    """The browser's controls show the kernel's values (numbers to the readout's 3 digits)."""
    deadline = time.monotonic() + 20
    while True:
        browser = [[_normal(label), _normal(value)] for label, value in page.evaluate(CONTROLS_SHOWN, root)]
        held = [[_normal(label), _normal(v)] for label, v in json.loads(kernel(page, "soak_controls(explorer)"))]
        same = len(browser) == len(held) and all(_same(b, k) for b, k in zip(browser, held))
        if same or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert same, (len(browser), len(held), [(b, k) for b, k in zip(browser, held) if not _same(b, k)])


def _same(shown: list, held: list) -> bool:
    """Whether a control's [label, value] in the browser is the kernel's (a number to its readout's 3 digits)."""
    (label, value), (held_label, held_value) = shown, held
    if isinstance(held_value, (int, float)) and not isinstance(held_value, bool):
        return label == held_label and math.isclose(value, held_value, rel_tol=5e-3, abs_tol=1e-9)
    return label == held_label and value == held_value


def _report(name: str, rows: list[dict]) -> str:
    """One line of the soak's figures (for the README's reliability table)."""
    warm = next(row for row in rows if row["moves"] >= WARM_UP)
    start, end, stale = rows[0], rows[-1], rows[-1]["stale"]
    mib = 2**20
    return (
        f"{name}: {end['moves']} moves in {end['seconds']:.0f} s; "
        f"kernel RSS after warm-up {warm['rss'] / mib:.0f} MiB, "
        f"growth {rss_growth(rows) / mib:.1f} MiB (max {(max(r['rss'] for r in rows) - warm['rss']) / mib:.1f}); "
        f"threads {start['threads']}→{end['threads']}; hooks {end['hooks']}; widgets {start['widgets']}→"
        f"{end['widgets']}; DOM {start['dom']}→{end['dom']} (explorer {start['explorer_dom']}→{end['explorer_dom']}); "
        f"JS heap {start['js_heap'] / mib:.1f}→{end['js_heap'] / mib:.1f} MiB, "
        f"listeners {start['listeners']}→{end['listeners']}; runs {end['runs']}, stale {len(stale)}, "
        f"stop latency median {statistics.median(stale):.3f} s, max {max(stale):.3f} s, "
        f"at most {max(end['steps_after'])} report(s) after going stale"
    )


def _open(page, lab, notebook: str, root: str, done: str) -> None:
    """Run ``notebook``'s cells; fail at once on a traceback, else wait until the selector ``done`` shows."""
    run_notebook(page, lab, notebook, f"{root}, {TRACEBACK}", name=notebook.removesuffix(".ipynb"), height=1500)
    tracebacks = page.locator(TRACEBACK)
    assert tracebacks.count() == 0, tracebacks.first.inner_text()
    page.wait_for_selector(done, timeout=120000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:hide-all-cell-code')")  # editors render lazily
    page.evaluate(f"document.querySelector('{root}').scrollIntoView({{block: 'start'}})")


def _no_page_errors(page) -> None:
    unexpected = [e for e in page.errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected


# ------------------------------------------------------------------------------------------------- tests
def test_heatmap_explorer_survives_200_moves(lab, page):
    root = ".xw-heatmap-explorer"
    notebook = write_notebook(lab["root"], "soak_heatmap", HEATMAP_CELL)
    _open(page, lab, notebook, root, f"{root} .xw-panel-0 .xw-run-status:has-text('· insertion')")
    draws = int(page.get_attribute(f"{root} .xw-panel-0 .xw-heatmap", "data-draws"))
    user = User(page, root, random.Random(21))
    rows, made = _soak(page, user, heatmap_moves(user), "heatmap")
    print(_report("HeatmapExplorer", rows), made)
    _assert_nothing_grows(rows, key=lambda row: (row["settings"]["method-0"], row["settings"]["method-1"]))

    # The end shows the latest request: the controls' settings, in the kernel and the browser, and in the views.
    _assert_controls_shown(page, root)
    kernel(page, "soak_settle(explorer)")
    assert kernel(page, "print(explorer.shown.settings == explorer.settings())") == "True"
    drawn = json.loads(kernel(page, HEATMAP_DRAWN))
    for index, (title, current, status) in enumerate(drawn):
        assert current, f"panel {index} does not show the shown result"
        shown = page.locator(f"{root} .xw-panel-{index} .xw-heatmap .xw-title").inner_text()
        assert shown == title, (shown, title)
        aucs = re.findall(r"(?:insertion|deletion) \d\.\d{3}", status)
        assert len(aucs) == 2 and all(
            a in page.locator(f"{root} .xw-panel-{index} > .xw-run-status").inner_text() for a in aucs
        ), (status, aucs)
    assert int(page.get_attribute(f"{root} .xw-panel-0 .xw-heatmap", "data-draws")) > draws
    page.mouse.move(0, 0)
    shoot(page, root, "soak_heatmap_end.png")
    _no_page_errors(page)


#: What the page shows of the SAG's graph: its nodes and edges (the DOM holds one group per node and edge).
GRAPH_SEEN = """() => { const g = document.querySelector('.xw-sag-explorer .xw-graph');
  return [Number(g.dataset.nodes), Number(g.dataset.edges)]; }"""
#: The SAG shown and the editor's score, in the kernel.
SAG_SHOWN = """print(json.dumps({"nodes": len(explorer.result.nodes[0]), "edges": len(explorer.result.edges[0]),
  "target": explorer._label(explorer.shown.settings["target"]), "seconds": f"{explorer.result.timings['total']:.2f}",
  "visible": len(explorer.visible), "cells": explorer.grid ** 2,
  "score": None if explorer.patch_score is None or explorer.patch_score.settings != explorer._editor_settings()
  else f"{explorer.patch_score.value:.3f}"}))"""


def test_sag_explorer_survives_200_moves(lab, page):
    root = ".xw-sag-explorer"
    notebook = write_notebook(lab["root"], "soak_sag", SAG_CELL)
    _open(page, lab, notebook, root, f"{root} .xw-sag-summary:has-text('forward passes')")
    user = User(page, root, random.Random(21))
    rows, made = _soak(page, user, sag_moves(user), "sag", GRAPH_SEEN)
    print(_report("SAGExplorer", rows), made)
    _assert_nothing_grows(rows, key=lambda row: tuple(row["seen"]))

    # The end shows the latest request: the search of the controls' settings, and the score of the patches shown.
    _assert_controls_shown(page, root)
    kernel(page, "soak_settle(explorer)")
    assert kernel(page, "print(explorer.shown is not None and explorer.shown.settings == explorer.settings)") == "True"
    shown = json.loads(kernel(page, SAG_SHOWN))
    graph = page.locator(f"{root} .xw-graph")
    assert [int(graph.get_attribute("data-nodes")), int(graph.get_attribute("data-edges"))] == [
        shown["nodes"],
        shown["edges"],
    ]
    assert graph.get_attribute("data-ready") == "true"
    assert page.locator(f"{root} .xw-sag-dnf").inner_text().startswith(shown["target"] + ":")
    assert f"SAG: {shown['seconds']} s" in page.locator(f"{root} .xw-sag-summary").inner_text()
    assert shown["score"] is not None, "the editor's score is not of the patches shown"
    score = page.locator(f"{root} .xw-sag-score").inner_text()
    assert score.startswith(f"{shown['visible']} of {shown['cells']} patches shown") and shown["score"] in score
    assert f"p({shown['target']})" in score, score
    page.mouse.move(0, 0)
    shoot(page, root, "soak_sag_end.png")
    _no_page_errors(page)
