"""Every torchvision family, every method (issue 17, item 1): each family with random weights at 64×64 runs every
heatmap method, SAG, concepts, text, summaries and the similarity methods, with tiny settings, and gives maps of
the right shape that are finite and not constant. Each model is built once (a module-scoped fixture per family)."""

import copy

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

import xwidgets as xw
from xwidgets.core import default_layer, layer_map
from xwidgets.core.models import Embedder

SIDE = 64

#: Each family's default layer under the rule of :mod:`xwidgets.core.layers`, and its penultimate width (the
#: embedding an Embedder made from it returns).
FAMILIES = {
    "resnet18": ("layer4", 512),
    "vgg11": ("features.19", 4096),
    "densenet121": ("features", 1024),
    "mobilenet_v3_small": ("features", 1024),
    "efficientnet_b0": ("features", 1280),
    "convnext_tiny": ("features", 768),
    "regnet_y_400mf": ("trunk_output", 440),
    "vit_b_16": ("encoder.layers.encoder_layer_10", 768),
    "swin_t": ("permute", 768),
}
PREPROCESSING = xw.core.Preprocessing(mean=xw.core.IMAGENET_MEAN, std=xw.core.IMAGENET_STD)

#: Tiny settings of every heatmap method: the point is that each runs on each family, not the quality of its map.
HEATMAPS = {
    "gradcam": {},
    "integrated_gradients": {"steps": 2},
    "rise": {"masks": 8, "grid": 4},
    "occlusion": {"window": 32, "stride": 32},
    "igos": {"iterations": 1, "ig_steps": 1, "resolution": 4, "optimiser": "nag"},
    "igospp": {"iterations": 1, "ig_steps": 1, "resolution": 4, "optimiser": "nag"},
}
PAIRS = {
    "pair_rise": {"masks": 8, "grid": 4},
    "pair_sliding_window": {"window": 32, "stride": 32},
    "pair_mask": {"iterations": 2},
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy():
    """Ten 64×64 toy birds: their pixels ``[10, 3, 64, 64]``, captions and worded attributes."""
    data = xw.toy.dataset(10, seed=17041, size=SIDE)
    pixels = torch.from_numpy(np.stack([s.image for s in data.samples])).permute(0, 3, 1, 2).float() / 255
    ids, labels = xw.toy.attribute_labels(data.samples)
    return pixels, xw.toy.captions(data), ids, labels


def random_family(name: str, inputs: torch.Tensor) -> nn.Module:
    """torchvision's ``name`` with random weights, made to respond to its inputs as a trained network does where
    torchvision's initialisation does not: a zero-initialised head (ViT's) gets small random weights; batch-norm
    statistics are measured on ``inputs`` (they start at mean 0, variance 1, which leaves EfficientNet-B0's last
    features at 1e-14 and, measured, RegNet's at 1e2); the head is scaled to logits of unit spread (else the
    softmax saturates and every probability's gradient is 0)."""
    extra = {"image_size": SIDE} if name == "vit_b_16" else {}
    with torch.random.fork_rng(), torch.no_grad():  # torchvision (and stochastic depth) draw from the global generator
        torch.manual_seed(17042)
        module = torchvision.models.get_model(name, weights=None, num_classes=10, **extra)
        head = [sub for sub in module.modules() if isinstance(sub, nn.Linear)][-1]
        if not head.weight.any():
            head.weight.normal_(0, 0.02)
        norms = [sub for sub in module.modules() if isinstance(sub, nn.modules.batchnorm._BatchNorm)]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over the calibration pass
        if norms:
            module.train()(inputs)
        spread = module.eval()(inputs).std()
        head.weight /= spread
        head.bias /= spread
    return module.requires_grad_(False)


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, toy):
    """``(name, Classifier)`` of one family, built once for all the tests of this module."""
    module = random_family(
        request.param, xw.Classifier(nn.Identity().eval(), preprocessing=PREPROCESSING).normalize(toy[0])
    )
    return request.param, xw.Classifier(module, preprocessing=PREPROCESSING, name=request.param)


def varies(maps: torch.Tensor) -> torch.Tensor:
    """``[B]`` whether each ``[B, ...]`` map takes more than one value."""
    flat = maps.flatten(1)
    return flat.amax(1) > flat.amin(1)


def test_the_default_layer_follows_the_rule(family, toy):
    name, model = family
    layer = default_layer(model.module, model.normalize(toy[0][:1]))
    assert layer == FAMILIES[name][0]
    with xw.core.record_layer(model.module, layer) as record, torch.no_grad():
        model.forward(model.normalize(toy[0][:2]))
    assert (
        layer_map(record.activation, (SIDE, SIDE)).shape[-1] * layer_map(record.activation, (SIDE, SIDE)).shape[-2] > 1
    )


@pytest.mark.parametrize("method", list(HEATMAPS))
def test_every_heatmap_method(family, toy, method):
    name, model = family
    result = xw.explain(model, toy[0][:2], method=method, progress=False, **HEATMAPS[method])
    assert result.saliency.shape == (2, 1, SIDE, SIDE) and bool(torch.isfinite(result.saliency).all())
    assert varies(result.saliency).all() and not result.degenerate.any(), (name, method)
    if method == "gradcam":
        assert result.params["layer"] == FAMILIES[name][0]


def test_sag(family, toy):
    _, model = family
    result = xw.sag.sag(
        model,
        toy[0][:1],
        progress=False,
        grid=2,
        beam_width=1,
        successors=2,
        max_roots=1,
        heuristic_iterations=1,
        heuristic_ig_steps=1,
    )
    assert result.heuristic.shape[-2:] == (2, 2) and bool(torch.isfinite(result.heuristic).all())


def test_concepts(family, toy):
    name, model = family
    target = int(model(toy[0]).argmax(1)[0])
    space = xw.concepts.fit(
        model, toy[0], target=target, k=1, holdout=0.0, epochs=3, pretrain_epochs=1, retries=0, progress=False
    )
    explanation = space.explain(toy[0][:2])
    assert space.layer == FAMILIES[name][0]
    assert explanation.maps.shape == (2, 1, SIDE, SIDE) and bool(torch.isfinite(explanation.maps).all())
    assert varies(explanation.maps).all() and bool(torch.isfinite(explanation.contributions).all())


def test_text(family, toy):
    name, model = family
    pixels, captions, _, _ = toy
    text = xw.text.fit(model, pixels, captions=captions, min_images=1, progress=False)
    explanation = text.explain(pixels[:2])
    assert text.layer == FAMILIES[name][0] and all(s.startswith("This is a ") for s in explanation.sentences)
    assert bool(torch.isfinite(explanation.grounding).all()) and bool(torch.isfinite(explanation.contributions).all())
    assert varies(explanation.grounding.flatten(0, 1)).any()


def test_summaries(family, toy):
    name, model = family
    classes = model(toy[0]).argmax(1)
    target = int(classes.mode().values)  # three images of the class the model predicts most
    result = xw.summaries.fit(
        model, toy[0][classes == target][:3], target, smooth_iterations=1, sharp_iterations=1, progress=False
    )
    assert result.params["layer"] == FAMILIES[name][0] and result.saliency.shape[-2:] == (SIDE, SIDE)
    assert len(result.images) >= 2 and len(result.boxes) > 0 and result.summaries
    assert all(np.isfinite(s["ssim"]) for s in result.summaries if len(s["members"]) > 1)


def test_similarity(family, toy):
    name, model = family
    pixels, _, ids, labels = toy
    embedder = xw.Embedder(
        Embedder._adapt_torchvision(copy.deepcopy(model.module)), preprocessing=PREPROCESSING, name=name
    )
    assert embedder(pixels[:2]).shape == (2, FAMILIES[name][1])
    for method, params in PAIRS.items():
        pair = xw.explain(embedder, pixels[:2], reference=pixels[2:4], method=method, progress=False, **params)
        assert pair.maps.shape == (2, 1, SIDE, SIDE) and varies(pair.maps).all(), method
    attributes = xw.similarity.train_attributes(embedder, pixels, labels, ids, epochs=1, batch_size=10, progress=False)
    predicted = attributes.predict(pixels[:2])
    assert attributes.layer == default_layer(embedder.module, embedder.normalize(pixels[:1]))
    assert predicted.maps.shape == (2, len(ids), 4, 4) and bool(torch.isfinite(predicted.scores).all())


def test_gradcam_on_an_untrained_efficientnet_spans_zero_to_one(toy):
    """torchvision's initialisation leaves EfficientNet-B0's last features near 1e-14 (batch norm's unit variance
    against the blocks' far smaller outputs), so Grad-CAM's map spans about 1e-16 before normalisation; an absolute
    floor of 1e-12 on the span had left its maximum far below 1 (issue 17: 0.007)."""
    with torch.random.fork_rng():
        torch.manual_seed(17044)
        module = torchvision.models.get_model("efficientnet_b0", weights=None, num_classes=10).eval()
    result = xw.heatmaps.gradcam(xw.Classifier(module, preprocessing=PREPROCESSING), toy[0][:2], progress=False)
    assert not result.degenerate.any()
    assert torch.allclose(result.saliency.amax((1, 2, 3)), torch.ones(2)) and float(result.saliency.min()) == 0
