"""An explorer's wait() waits as long as its run takes by default (issue 17, item 8): a real model on a CPU can
need minutes, and a default timeout gave up on runs that were going fine."""

import inspect

import pytest

import xwidgets as xw

EXPLORERS = [name for name in xw.__all__ if name.endswith("Explorer") and hasattr(getattr(xw, name), "wait")]


def test_every_explorer_with_a_run_is_checked():
    assert set(EXPLORERS) >= {"HeatmapExplorer", "SAGExplorer", "ConceptExplorer", "SummaryExplorer", "MatchExplorer"}


@pytest.mark.parametrize("name", EXPLORERS)
def test_wait_has_no_default_timeout(name):
    timeout = inspect.signature(getattr(xw, name).wait).parameters["timeout"]
    assert timeout.default is None, f"{name}.wait(timeout={timeout.default})"
