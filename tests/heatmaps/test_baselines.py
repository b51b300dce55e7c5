"""Grad-CAM, integrated gradients, RISE and occlusion on the toy world: batching, targets, seeds, hooks, cancel,
save/load and errors. Where their maps land (on the evidence, against random and shuffled maps) is measured for every
method in test_faithfulness.py."""

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.core import Cancelled, Progress
from xwidgets.core.errors import InvalidArgument
from xwidgets.heatmaps import SaliencyResult
from xwidgets.toy import ToyWorld

FAST = {"gradcam": {}, "integrated_gradients": {"steps": 8}, "rise": {"masks": 500}, "occlusion": {}}


@pytest.fixture(scope="module")
def toy():
    samples = ToyWorld().samples(22, seed=9200)
    return (
        xw.toy.classifier(),
        np.stack([s.image for s in samples]),
        torch.tensor(np.stack([s.evidence for s in samples])),
    )


@pytest.mark.parametrize("method", list(FAST))
def test_batched_equals_one_by_one(toy, method):
    model, images, _ = toy
    together = xw.explain(model, images[:3], method=method, **FAST[method]).saliency
    apart = torch.cat([xw.explain(model, images[i : i + 1], method=method, **FAST[method]).saliency for i in range(3)])
    assert torch.allclose(together, apart, atol=1e-4)


def test_targets_change_the_map(toy):
    model, images, _ = toy
    top = xw.explain(model, images[:2], method="gradcam")
    other = xw.explain(model, images[:2], method="gradcam", target=[(int(c) + 1) % 11 for c in top.target["classes"]])
    assert not torch.allclose(top.saliency, other.saliency)


def test_rise_is_reproducible_from_its_seed(toy):
    model, images, _ = toy
    a, b = (xw.explain(model, images[:1], method="rise", masks=200, seed=3) for _ in range(2))
    c = xw.explain(model, images[:1], method="rise", masks=200, seed=4)
    assert torch.equal(a.saliency, b.saliency) and not torch.equal(a.saliency, c.saliency) and a.seed == 3


def test_gradcam_leaves_no_hooks_and_no_parameter_grads(toy):
    model, images, _ = toy
    xw.explain(model, images[:2], method="gradcam", layer="features.conv3")
    assert all(not m._forward_hooks for m in model.module.modules())
    assert all(p.grad is None for p in model.module.parameters())


def test_cancel_through_progress(toy):
    model, images, _ = toy
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        xw.explain(model, images[:1], method="integrated_gradients", progress=progress)


def test_save_and_load(toy, tmp_path):
    model, images, _ = toy
    result = xw.explain(model, images[:2], method="occlusion", window=24, stride=12)
    loaded = xw.core.Result.load(result.save(tmp_path / "map.xwr"))
    assert isinstance(loaded, SaliencyResult) and torch.equal(loaded.saliency, result.saliency)
    assert loaded.params == {"window": 24, "stride": 12, "baseline": "mean"} and loaded.method == "occlusion"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, x: xw.explain(m, x, method="lime"), "method"),
        (lambda m, x: xw.explain(m, x, method="gradcam", layer="layer4"), "layer"),
        (
            lambda m, x: xw.explain(m, x, method="gradcam", layer="head"),
            r"layer: got 'head', a layer with a \[2, 11\] output",
        ),
        (
            lambda m, x: xw.explain(m, x, method="gradcam", layer="pool"),
            r"a \[2, 64, 1, 1\] output, expected a layer on the path to the score",
        ),
        (lambda m, x: xw.explain(m, x, method="gradcam", layer=torch.nn.Conv2d(3, 3, 1)), "a submodule of the model"),
        (lambda m, x: xw.explain(m, x, method="rise", masks=0), "masks"),
        (lambda m, x: xw.explain(m, x, method="occlusion", window=500), "window"),
        (lambda m, x: xw.explain(m, x, method="integrated_gradients", target=11), "target=11"),
        (lambda m, x: xw.explain(m, x, method="gradcam", stepz=3), "unknown parameter of gradcam"),
    ],
)
def test_bad_input(toy, call, message):
    model, images, _ = toy
    with pytest.raises(InvalidArgument, match=message):
        call(model, images[:2])


def test_top_level_explain_dispatches(toy):
    model, images, _ = toy
    assert xw.explain(model, images[:1], method="gradcam").method == "gradcam"
    assert xw.explain(model, images[:1], iterations=2, ig_steps=2).method == "igos"  # I-GOS is the default
