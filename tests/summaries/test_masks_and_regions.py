"""The first two steps of visual summaries: crisp masks (two-stage deletion game) and their ranked regions."""

import threading

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.core.errors import Cancelled, InvalidArgument
from xwidgets.core.runner import Progress
from xwidgets.summaries import CrispMasks, crisp_masks, salient_regions
from xwidgets.summaries.masks import _disc
from xwidgets.toy import PARTS

FAST = {"smooth_iterations": 100, "sharp_iterations": 60}  # about a third of the official steps


@pytest.fixture(scope="module")
def model():
    return xw.toy.classifier()


@pytest.fixture(scope="module")
def goldcaps():
    samples = xw.toy.ToyWorld().samples(66, seed=9620)
    return [s for s in samples if s.species_name == "goldcap"][:5]


@pytest.fixture(scope="module")
def masks(model, goldcaps):
    return crisp_masks(model, np.stack([s.image for s in goldcaps]), target=goldcaps[0].species, **FAST)


def test_masks_are_crisp_small_and_delete_the_class(masks):
    saliency = masks.saliency
    assert saliency.shape == (5, 1, 112, 112) and masks.smooth.shape == (5, 1, 28, 28)
    assert float(((saliency - 0.5).abs() > 0.4).float().mean()) > 0.95  # nearly binary (lasso term)
    area = (saliency >= 0.5).float().mean((1, 2, 3))
    assert bool((area < 0.15).all()) and bool((area > 0).all())
    assert bool((masks.masked_scores < 0.2 * masks.scores).all())  # hiding the region kills p


def test_salient_pixels_land_on_the_evidence_better_than_random_masks_of_the_same_area(masks, goldcaps):
    evidence = torch.from_numpy(np.stack([s.evidence for s in goldcaps]))[masks.indices]
    salient = masks.saliency[:, 0] >= 0.5
    share = ((salient & evidence).sum((1, 2)).float() / salient.sum((1, 2)).float()).mean()
    generator = torch.Generator().manual_seed(9621)
    controls = []
    for image in range(salient.shape[0]):
        count = int(salient[image].sum())
        chosen = torch.randperm(112 * 112, generator=generator)[:count]
        controls.append(float(evidence[image].flatten()[chosen].float().mean()))
    print(f"evidence share of salient pixels {float(share):.3f}, random masks of the same area {np.mean(controls):.3f}")
    assert float(share) > np.mean(controls) + 0.25


def test_the_smooth_stage_starts_from_a_disc_of_zeros():
    disc = _disc(2, 28, 0.25, "cpu", torch.float32)
    assert disc.shape == (2, 1, 28, 28) and float(disc[0, 0, 14, 14]) == 0.0 and float(disc[0, 0, 0, 0]) == 1.0
    assert abs(float((disc[0] == 0).float().mean()) - np.pi * 0.25**2) < 0.02


def test_straight_through_blur_changes_the_optimisation(model, goldcaps):
    images = np.stack([s.image for s in goldcaps[:2]])
    params = {"smooth_iterations": 5, "sharp_iterations": 0}
    exact = crisp_masks(model, images, target=goldcaps[0].species, **params)
    official = crisp_masks(model, images, target=goldcaps[0].species, blur_gradient=False, **params)
    assert not torch.allclose(exact.smooth, official.smooth)


def test_images_of_other_classes_are_skipped_with_the_reason(model, goldcaps, tmp_path):
    other = xw.toy.ToyWorld().sample(0, seed=9622)  # a scarlet crestling
    images = np.stack([goldcaps[0].image, other.image])
    result = crisp_masks(model, images, target=goldcaps[0].species, smooth_iterations=1, sharp_iterations=1)
    assert result.indices.tolist() == [0]
    assert result.skipped == [{"index": 1, "reason": "classified as scarlet crestling, not goldcap"}]
    loaded = xw.core.Result.load(result.save(tmp_path / "skipped.xwr"))
    assert loaded.skipped == result.skipped


def test_regions_are_ranked_by_drop_and_sit_on_parts(model, masks, goldcaps):
    regions = salient_regions(model, masks)
    assert len(regions) >= 4
    labels = torch.from_numpy(np.stack([s.labels for s in goldcaps]))[masks.indices]
    for image in regions.image.unique().tolist():
        drops = regions.drops[regions.image == image]
        assert bool((drops[:-1] >= drops[1:]).all())  # largest drop first
    assert float(regions.areas.min()) >= 0.01
    first = [int((regions.image == i).nonzero()[0]) for i in regions.image.unique().tolist()]
    heads = 0
    for r in first:
        assert bool(regions.masks[r].any())
        x0, y0, x1, y1 = regions.boxes[r].int().tolist()
        ys, xs = regions.masks[r].nonzero(as_tuple=True)
        assert (x0, y0, x1, y1) == (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        parts = torch.bincount(labels[regions.image[r]][regions.masks[r]].long(), minlength=len(PARTS) + 1)
        heads += int(parts.argmax()) == PARTS.index("head") + 1
    assert heads >= len(first) - 1  # goldcap: yellow head and red eye
    assert float(regions.drops[first].mean()) > 0.5


def test_top_k_and_min_area_limit_the_regions(model, masks):
    one = salient_regions(model, masks, top_k=1)
    assert one.image.tolist() == sorted(set(one.image.tolist()))
    assert len(salient_regions(model, masks, min_area=0.3)) == 0


def test_bad_input_raises_and_leaves_nothing_behind(model, goldcaps):
    before = threading.active_count()
    images = np.stack([s.image for s in goldcaps[:2]])
    cases = [
        (lambda: crisp_masks(model, images, target=99), "target"),
        (lambda: crisp_masks(model, images, target=goldcaps[0].species, lasso=-1.0), "lasso"),
        (lambda: crisp_masks(model, images, target=goldcaps[0].species, nope=1), "nope"),
        (lambda: crisp_masks(xw.toy.embedder(), images, target=0), "model"),
        (lambda: crisp_masks(model, [], target=0), "images"),
        (lambda: crisp_masks(model, [goldcaps[0].image, goldcaps[1].image[:64]], target=0), "images"),
        (lambda: crisp_masks(model, images, target=0), "images"),  # no image is class 0
        (lambda: salient_regions(model, "masks"), "masks"),
    ]
    for call, argument in cases:
        with pytest.raises(InvalidArgument) as error:
            call()
        assert error.value.argument.startswith(argument), (argument, str(error.value))
    assert "every image was skipped" in _message(lambda: crisp_masks(model, images, target=0))
    assert all(len(m._forward_hooks) == 0 for m in model.module.modules())
    assert all(p.requires_grad for p in model.module.parameters()) or not any(
        p.requires_grad for p in model.module.parameters()
    )
    assert threading.active_count() == before


def test_cancel_stops_the_optimisation(model, goldcaps):
    images = np.stack([s.image for s in goldcaps[:2]])
    progress = Progress(lambda fraction, message: progress.cancel() if fraction > 0 else None)
    with pytest.raises(Cancelled):
        crisp_masks(model, images, target=goldcaps[0].species, progress=progress)


def test_masks_save_and_load(masks, tmp_path):
    loaded = xw.core.Result.load(masks.save(tmp_path / "masks.xwr"))
    assert isinstance(loaded, CrispMasks) and torch.equal(loaded.saliency, masks.saliency)
    assert loaded.skipped == masks.skipped and loaded.params == masks.params


def _message(call) -> str:
    try:
        call()
    except InvalidArgument as error:
        return str(error)
    return ""
