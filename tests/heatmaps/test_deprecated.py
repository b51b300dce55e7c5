"""The heatmap call shapes before issue 18 still work for one release, each with a DeprecationWarning that gives
the new call."""

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.toy import ToyWorld


@pytest.fixture(scope="module")
def toy():
    return xw.toy.classifier(), np.stack([s.image for s in ToyWorld().samples(2, seed=9300)])


def test_heatmaps_explain_with_the_method_before_the_target_warns_and_works(toy):
    model, images = toy
    with pytest.warns(DeprecationWarning, match=r"xw\.explain\(model, images, target=None, \*, method="):
        old = xw.heatmaps.explain(model, images, "gradcam", 3)
    new = xw.explain(model, images, 3, method="gradcam")
    assert old.method == "gradcam" and old.target["classes"] == [3, 3] and torch.equal(old.saliency, new.saliency)


def test_the_method_in_the_target_position_warns_and_works(toy):
    model, images = toy
    with pytest.warns(DeprecationWarning, match="passes the method as the target"):
        old = xw.explain(model, images, "gradcam")
    assert old.method == "gradcam" and torch.equal(old.saliency, xw.explain(model, images, method="gradcam").saliency)


@pytest.mark.parametrize("name", ["METHODS", "PARAMS"])
def test_the_method_dicts_warn_and_follow_the_registry(name):
    with pytest.warns(DeprecationWarning, match=rf"xw\.heatmaps\.{name} is deprecated"):
        table = getattr(xw.heatmaps, name)
    specs = xw.core.methods.specs("heatmap")
    assert list(table) == [s.name for s in specs] == xw.methods("heatmap")
    assert all(table[s.name] is (s.kernel if name == "METHODS" else s.params) for s in specs)
