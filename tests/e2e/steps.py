"""Steps the explorer browser tests share: run a notebook until its explorer is drawn, ask the kernel, count a
HeatmapView's redraws, and take screenshots of one explorer."""

from .conftest import OUT
from .test_tour_in_jupyterlab import KERNEL_IDLE, RUN_IN_KERNEL


def run_notebook(page, lab, notebook, ready, *, name, height=1300, timeout=240000):
    """Open ``notebook``, run all its cells, and wait until ``ready`` (a selector) shows and the kernel is idle.
    On a timeout, a full-page screenshot ``<name>_timeout.png`` says where it stopped."""
    page.set_viewport_size({"width": 1280, "height": height})
    page.goto(f"{lab['url']}/lab/tree/{notebook}?token={lab['token']}&reset")
    page.wait_for_function(KERNEL_IDLE, timeout=90000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    OUT.mkdir(exist_ok=True)
    try:
        page.wait_for_selector(ready, timeout=timeout)
    except Exception:
        page.screenshot(path=str(OUT / f"{name}_timeout.png"), full_page=True)
        raise
    page.wait_for_function(KERNEL_IDLE, timeout=180000)


def kernel(page, code):
    """Run ``code`` in the notebook's kernel and return what it printed, stripped."""
    return page.evaluate(RUN_IN_KERNEL, code).strip()


def draws(page, view):
    """How many times the HeatmapView at selector ``view`` has drawn."""
    return int(page.get_attribute(view, "data-draws") or 0)


def wait_redrawn(page, view, before):
    """Wait until the HeatmapView at ``view`` is ready and has drawn more than ``before`` times."""
    page.wait_for_function(
        f'() => {{ const e = document.querySelector("{view}");'
        f" return e.dataset.ready === 'true' && Number(e.dataset.draws) > {before}; }}",
        timeout=30000,
    )


def shoot(page, explorer, name):
    """Scroll ``explorer`` (a selector) to the top of the page and save a screenshot ``name`` under tests/e2e/out."""
    page.evaluate(f"document.querySelector('{explorer}').scrollIntoView({{block: 'start'}})")
    page.screenshot(path=str(OUT / name))
