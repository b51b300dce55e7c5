"""SAG where the relative threshold means nothing: a target the model does not predict (the floor makes the
threshold absolute) and a baseline that alone already passes (the empty root). Fresh seeds 16040-16069."""

import warnings

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.core.models import Classifier
from xwidgets.sag import SAGResult
from xwidgets.sag.patches import score_patch_sets


class DarkIsClassOne(torch.nn.Module):
    """Class 1 grows as the image darkens, so a black baseline alone scores above any real image."""

    def forward(self, x):
        logit = 6.0 * (0.6 - x.mean((1, 2, 3)))
        return torch.stack([torch.zeros_like(logit), logit], 1)


def _toy_batch(model, seeds, baseline):
    """Toy images of the given seeds (species cycling), their inputs, baselines and class probabilities."""
    world = xw.toy.ToyWorld()
    images = np.stack([world.sample(k % len(world.species), seed).image for k, seed in enumerate(seeds)])
    pixels = model.prepare(images)
    inputs = model.normalize(pixels)
    baselines = model.normalize(xw.core.baselines.make_baseline(pixels, baseline))
    with torch.no_grad():
        probabilities = torch.softmax(model.forward(inputs), 1)
    return images, inputs, baselines, probabilities


def _random_sets_passing(model, inputs, baselines, target, roots, thresholds, seed):
    """Fraction of random patch sets, 20 per non-empty root and of its size, scoring at or above its threshold."""
    generator = torch.Generator().manual_seed(seed)
    owners, sets = [], []
    for image, image_roots in enumerate(roots):
        for root in image_roots:
            for _ in range(20 if root["patches"] else 0):
                owners.append(image)
                sets.append(torch.randperm(49, generator=generator)[: len(root["patches"])].tolist())
    scores = score_patch_sets(model, inputs, baselines, target, sets, owners, 7, "bilinear")
    return float((scores >= torch.tensor([thresholds[o] for o in owners])).float().mean())


@pytest.mark.slow
def test_a_target_the_model_does_not_predict_gets_an_absolute_threshold_and_meaningful_roots(toy_model):
    seeds = range(16040, 16045)
    images, inputs, baselines, probabilities = _toy_batch(toy_model, seeds, "black")
    second = probabilities.argsort(1, descending=True)[:, 1]  # the runner-up: not predicted
    with pytest.warns(UserWarning, match="the baseline alone already scores"):  # one image's black baseline passes
        result = xw.explain(toy_model, images, second.tolist(), method="sag", max_roots=3)
    full = probabilities.gather(1, second[:, None])[:, 0]
    floored = [i for i in range(len(seeds)) if float(full[i]) < 0.1]
    roots = [[r for r in result.roots[i] if r["patches"]] for i in floored]
    assert len(floored) >= 4 and sum(map(len, roots)) >= 6
    # every root reaches the absolute threshold 0.9 × floor; the official rule asked for 0.9 × p(full) ≈ 0.01
    assert min(r["score"] for rs in roots for r in rs) >= 0.09 - 1e-6
    assert max(n["relative"] for i in floored for n in result.nodes[i]) <= 1 / 0.1 + 1e-6
    # control: random patch sets of the roots' sizes rarely reach that threshold (measured 0-4.5 % per image,
    # 0.2-1.5 % pooled)
    kept = [result.roots[i] for i in floored]
    random_rate = _random_sets_passing(
        toy_model,
        inputs[floored],
        baselines[floored],
        xw.core.ClassTarget(second[floored]),
        kept,
        [0.09] * len(floored),
        16046,
    )
    assert random_rate <= 0.25
    assert all(result.floored[i] for i in floored)
    assert torch.allclose(result.references[floored], torch.tensor(0.1))
    figure = result.figure(floored[0])
    labels = [ax.get_xlabel() for ax in figure.axes]
    assert labels and all(label.startswith("p = ") for label in labels)
    assert "below the floor 0.1" in figure.get_suptitle()


@pytest.mark.slow
def test_a_predicted_target_keeps_the_relative_threshold(toy_model):
    images, _, _, _ = _toy_batch(toy_model, range(16050, 16053), "black")
    result = xw.explain(toy_model, images, method="sag", max_roots=2)
    for image, roots in enumerate(result.roots):
        assert roots
        for root in roots:
            assert root["score"] >= 0.9 * float(result.scores[image]) - 1e-6
            assert root["relative"] == pytest.approx(root["score"] / float(result.scores[image]))
    assert not any(result.floored) and not any(result.baseline_passes)
    assert torch.equal(result.references, result.scores)
    # a top-1 class keeps the relative rule even far below the floor (a 1000-class model may predict at 0.004)
    from xwidgets.sag.sag import reference_scores

    references = reference_scores(torch.tensor([0.004, 0.004, 0.5]), torch.tensor([True, False, False]), 0.1)
    assert torch.allclose(references, torch.tensor([0.004, 0.1, 0.5]))


def test_a_baseline_that_already_passes_gives_the_empty_root_not_one_patch_roots(tmp_path, either):
    model = Classifier(DarkIsClassOne().eval(), labels=["light", "dark"])
    noise = torch.rand(5, 3, 56, 56, generator=torch.Generator().manual_seed(16060))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = xw.explain(model, noise, method="sag")
    assert [[r["patches"] for r in roots] for roots in result.roots] == [[[]]] * 5
    assert any("baseline alone already scores" in str(w.message) for w in caught)
    assert result.baseline_passes == [True] * 5 and not any(result.floored)
    assert all(float(b) > 0.9 * float(s) for b, s in zip(result.baseline_scores, result.scores))
    assert result.dnf(0) == "∅" and [n["patches"] for n in result.nodes[0]] == [[]] and result.edges[0] == []
    assert "no patch is needed" in result.note(0)
    loaded = SAGResult.load(result.save(tmp_path / "empty.xwr"))
    assert loaded.baseline_passes == result.baseline_passes and torch.equal(
        loaded.baseline_scores, result.baseline_scores
    )
    # control: where the baseline gives nothing, the search runs as before and finds the two pieces of evidence
    either_model, image = either
    control = xw.explain(either_model, image, method="sag", grid=7)
    assert control.baseline_passes == [False] and len(control.roots[0]) == 2
    assert all(len(r["patches"]) == 1 for r in control.roots[0])


@pytest.mark.slow
def test_random_resnet18_whose_black_baseline_passes_gives_the_empty_root():
    import torchvision

    from xwidgets.core.models import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

    with torch.random.fork_rng():
        torch.manual_seed(16071)
        network = torchvision.models.resnet18(num_classes=1000).eval()
    model = Classifier(network, preprocessing=Preprocessing(resize=(64, 64), mean=IMAGENET_MEAN, std=IMAGENET_STD))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        images = np.stack([xw.toy.ToyWorld().sample(k, 16070 + k).image for k in range(2)])
        result = xw.explain(model, images, method="sag")
    # measured on 5 initialisations × 2 images: the top-1 scores 0.002-0.011 and the black baseline alone 0.93-7.6
    # times that; the official code returns the empty root, the unfixed search returned ten one-patch roots
    assert [[r["patches"] for r in roots] for roots in result.roots] == [[[]], [[]]]
    assert result.baseline_passes == [True, True] and result.floored == [False, False]
    assert all(float(s) < 0.1 for s in result.scores)  # top-1 classes keep the relative rule


@pytest.mark.slow
def test_toy_blur_baseline_passing_for_an_unpredicted_class_gives_only_the_empty_root(toy_model):
    seeds = range(16064, 16070)
    images, inputs, baselines, probabilities = _toy_batch(toy_model, seeds, "blur")
    last = probabilities.argmin(1)
    target = xw.core.ClassTarget(last)
    empty = score_patch_sets(
        toy_model, inputs, baselines, target, [[]] * len(seeds), list(range(len(seeds))), 7, "bilinear"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = xw.explain(toy_model, images, last.tolist(), method="sag", baseline="blur", max_roots=3)
    passing = [i for i in range(len(seeds)) if float(empty[i]) >= 0.09]
    assert len(passing) >= 1  # 2 of these 6 images; 6 of 8 on seeds 16020-16027
    for i in passing:
        assert [r["patches"] for r in result.roots[i]] == [[]]
    assert [i for i, passes in enumerate(result.baseline_passes) if passes] == passing
    assert any("baseline alone" in str(w.message) for w in caught)


def test_explorer_labels_scores_of_an_unpredicted_target_and_says_the_baseline_passes(either):
    model, image = either
    explorer = xw.sag.SAGExplorer(model, image, target=0, run=False)  # p(neither) ≈ 0; the black baseline gives ≈ 1
    try:
        with pytest.warns(UserWarning, match="baseline alone"):
            explorer.run()
            explorer.wait()
        assert [n["label"] for n in explorer.graph_view.nodes] == [f"p = {explorer.result.roots[0][0]['score']:.3f}"]
        assert "∅" in explorer.dnf_text.value and "baseline alone" in explorer.dnf_text.value
        explorer.set_visible(range(49))
        explorer.wait_score()
        assert "below the floor 0.1" in explorer.score_text.value and "%" not in explorer.score_text.value
    finally:
        explorer.close()
