import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument
from xwidgets.metrics import CurveResult, deletion_insertion, perturbed_images
from xwidgets.toy import ToyWorld


@pytest.fixture(scope="module")
def toy():
    samples = ToyWorld().samples(22, seed=9100)
    images = np.stack([s.image for s in samples])
    evidence = torch.tensor(np.stack([s.evidence for s in samples])).float()[:, None]
    noise = torch.rand(evidence.shape, generator=torch.Generator().manual_seed(0))
    smooth = F.avg_pool2d(evidence, 9, 1, 4) + 1e-3 * noise
    return xw.toy.classifier(), images, smooth


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["rise", "igos"])
def test_evidence_maps_beat_random_maps(toy, preset):
    """Quality with a control: maps on the toy evidence delete faster and insert faster than random maps."""
    model, images, evidence = toy
    random = torch.rand(evidence.shape, generator=torch.Generator().manual_seed(1))
    good = deletion_insertion(model, images, evidence, preset=preset)
    control = deletion_insertion(model, images, random, preset=preset)
    # measured (22 images): rise 0.11 / 0.91 against 0.33 / 0.45; igos 0.12 / 0.91 against 0.44 / 0.39
    assert float(good.deletion_auc.mean()) < float(control.deletion_auc.mean()) - 0.1
    assert float(good.insertion_auc.mean()) > float(control.insertion_auc.mean()) + 0.25
    assert float(good.difference.mean()) > 0.6


def test_curve_shapes_and_end_points(toy):
    model, images, evidence = toy
    result = deletion_insertion(model, images[:3], evidence[:3], preset="rise", steps=10)
    assert result.deletion.shape == (3, 11) and result.insertion.shape == (3, 11)
    assert torch.allclose(result.fractions, torch.linspace(0, 1, 11), atol=1e-4)  # whole pixels per step
    with torch.no_grad():
        clean = F.softmax(model(images[:3]), 1).max(1).values
    assert torch.allclose(result.deletion[:, 0], clean, atol=1e-5)  # nothing deleted yet
    assert torch.allclose(result.insertion[:, -1], clean, atol=1e-5)  # everything back
    assert result.higher_is_better == {"deletion_auc": False, "insertion_auc": True}


def test_batched_equals_one_by_one(toy):
    model, images, evidence = toy
    together = deletion_insertion(model, images[:4], evidence[:4], preset="igos")
    apart = [deletion_insertion(model, images[i : i + 1], evidence[i : i + 1], preset="igos") for i in range(4)]
    assert torch.allclose(together.deletion_auc, torch.cat([a.deletion_auc for a in apart]), atol=1e-5)
    assert torch.allclose(together.insertion, torch.cat([a.insertion for a in apart]), atol=1e-5)


def test_auc_rules():
    from xwidgets.metrics.faithfulness import _auc, _min_max

    fractions = torch.tensor([0.0, 0.5, 1.0])
    curve = torch.tensor([[1.0, 0.5, 0.0]])
    assert torch.allclose(_auc(curve, fractions, "trapezoid"), torch.tensor([0.5]))
    assert torch.allclose(_auc(curve, fractions, "right_riemann"), torch.tensor([0.25]))  # start point excluded
    flat = _min_max(torch.full((1, 5), 0.3))
    assert torch.equal(flat, torch.zeros(1, 5))


def test_sane_preset_on_a_flat_similarity_gives_no_nan(toy):
    _, images, evidence = toy

    class Constant(nn.Module):
        def forward(self, x):
            return torch.ones(x.shape[0], 4) + 0 * x.mean()

    embedder = xw.Embedder(Constant().eval())
    target = xw.core.SimilarityTarget(torch.ones(4))
    result = deletion_insertion(embedder, images[:2], evidence[:2], target, preset="sane")
    assert result.deletion.shape == (2, 101)
    assert torch.isfinite(result.deletion_auc).all() and torch.isfinite(result.insertion_auc).all()


def test_save_and_load(toy, tmp_path):
    model, images, evidence = toy
    result = deletion_insertion(model, images[:2], evidence[:2], steps=4)
    loaded = xw.core.Result.load(result.save(tmp_path / "curves.xwr"))
    assert isinstance(loaded, CurveResult) and torch.equal(loaded.insertion, result.insertion)
    assert loaded.params["preset"] == "rise" and loaded.params["steps"] == 4


@pytest.mark.parametrize(
    "saliency, kwargs, message",
    [
        (torch.rand(2, 1, 50, 50), {}, "input size"),
        (torch.full((2, 1, 112, 112), float("nan")), {}, "NaN"),
        (torch.zeros(2, 1, 112, 112, dtype=torch.long), {}, "float"),
        (torch.rand(2, 1, 112, 112), {"preset": "captum"}, "preset"),
        (torch.rand(2, 1, 112, 112), {"stepz": 3}, "unknown parameter"),
        (torch.rand(2, 1, 112, 112), {"steps": 0}, "steps"),
    ],
)
def test_bad_input(toy, saliency, kwargs, message):
    model, images, _ = toy
    with pytest.raises(InvalidArgument, match=message):
        deletion_insertion(model, images[:2], saliency, **kwargs)


def test_perturbed_images_are_the_composites_the_curves_score(classifier, images):
    saliency = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    deleted = perturbed_images(classifier, images, saliency, "deletion", preset="rise", steps=4)
    inserted = perturbed_images(classifier, images, saliency, "insertion", preset="rise", steps=4)
    assert deleted.shape == inserted.shape == (3, 5, 3, 16, 16)
    assert torch.allclose(deleted[:, 0], images) and torch.allclose(inserted[:, -1], images)
    grey = torch.full_like(images, 0.5)  # the rise preset deletes to the mean (0.5 here)
    assert torch.allclose(deleted[:, -1], grey, atol=1e-6)
    probabilities = classifier(deleted[1]).softmax(1)
    curves = deletion_insertion(classifier, images[1:2], saliency[1:2], preset="rise", steps=4)
    top = int(classifier(images[1:2]).argmax())
    assert torch.allclose(probabilities[:, top], curves.deletion[0], atol=1e-5)
    with pytest.raises(InvalidArgument, match="curve"):
        perturbed_images(classifier, images, saliency, "middle")
