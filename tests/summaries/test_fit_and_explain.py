"""Summaries as a dataset-level method: the registered spec, xw.fit, the target None rule, and explain(images) on
new images, checked against the toy world's truth with an occluded part."""

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.toy import PARTS

FAST = {"smooth_iterations": 100, "sharp_iterations": 60}


@pytest.fixture(scope="module")
def model():
    return xw.toy.classifier()


@pytest.fixture(scope="module")
def world():
    return xw.toy.ToyWorld()


def species_index(world, name):
    return [s.name for s in world.species].index(name)


def test_summaries_is_a_registered_dataset_method_with_its_steps(model, world):
    spec = xw.core.methods.get_spec("summaries", kinds=("dataset",))
    assert (spec.title, spec.docs, spec.kind) == ("Visual summaries", "summaries.md", "dataset")
    assert list(spec.steps) == ["images", "masks", "regions", "proposals", "clusters"]
    assert spec.steps["regions"] == ("mask_threshold", "min_area", "top_k")
    assert spec.explorer_class() is xw.SummaryExplorer is xw.summaries.SummaryExplorer
    ember = species_index(world, "ember thrush")
    images = np.stack([world.sample(ember, seed=9630 + i).image for i in range(4)])
    result = xw.fit(model, images, "ember thrush", method="summaries", progress=False, **spec.quick)
    assert isinstance(result, xw.summaries.SummaryResult) and result.target_name == "ember thrush"
    assert result.params["smooth_iterations"] == spec.quick["smooth_iterations"]
    assert result.descriptors.shape[0] == result.boxes.shape[0]


def test_a_cache_reruns_only_the_steps_whose_parameters_changed(model, world):
    ember = species_index(world, "ember thrush")
    images = np.stack([world.sample(ember, seed=9630 + i).image for i in range(4)])
    cache = xw.core.steps.StepCache()
    quick = {"smooth_iterations": 10, "sharp_iterations": 5, "progress": False}
    xw.summaries.fit(model, images, "ember thrush", cache=cache, **quick)
    xw.summaries.fit(model, images, "ember thrush", cache=cache, preference_factor=3.0, **quick)
    assert cache.hits == {"images": 1, "masks": 1, "regions": 1, "proposals": 1}
    assert cache.misses["clusters"] == 2 and cache.misses["masks"] == 1
    xw.summaries.fit(model, images, "ember thrush", cache=cache, min_area=0.02, **quick)
    assert cache.hits["masks"] == 2 and cache.misses["regions"] == 2
    other = images[::-1].copy()  # other data: nothing is reused
    xw.summaries.fit(model, other, "ember thrush", cache=cache, min_area=0.02, **quick)
    assert cache.misses["masks"] == 2


def test_without_a_target_the_most_common_class_is_summarised_with_a_warning(model, world):
    ember, goldcap = species_index(world, "ember thrush"), species_index(world, "goldcap")
    images = np.stack(
        [world.sample(ember, seed=9630 + i).image for i in range(4)]
        + [world.sample(goldcap, seed=9640 + i).image for i in range(2)]
    )
    predicted = model(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).argmax(1)
    assert int(predicted.mode().values) == ember
    with pytest.warns(
        UserWarning,
        match=r"target=None: summarising 'ember thrush', the most common top-1 class of "
        r"the data \(4 of 6 images\)",
    ):
        result = xw.summaries.fit(model, images, progress=False, smooth_iterations=10, sharp_iterations=5)
    assert result.target == ember and len(result.skipped) == 2


def _part(sample, box) -> str:
    """The part most of a box's bird pixels belong to."""
    x0, y0, x1, y1 = (int(v) for v in box)
    counts = np.bincount(sample.labels[y0:y1, x0:x1].ravel(), minlength=len(PARTS) + 1)
    counts[0] = 0
    return PARTS[int(counts.argmax()) - 1]


def _occluded(sample, part: str) -> np.ndarray:
    image = sample.image.copy()
    image[sample.part_mask(part)] = 200  # a light grey patch over the part
    return image


def test_explain_finds_a_part_on_new_images_and_not_where_it_is_occluded(model, world, tmp_path):
    """Azure jays have a blue crest or plain purple wings (either suffices). Their summaries are on the wings; on
    new jays with both, hiding the crest keeps the class and the wing matches, hiding the wings (the class stays,
    from the crest) removes every wing summary."""
    jay = species_index(world, "azure jay")
    fitted = [world.sample(jay, seed=9630 + i) for i in range(16)]
    summaries = xw.summaries.fit(model, np.stack([s.image for s in fitted]), "azure jay", progress=False, **FAST)
    on_wings = [
        number
        for number, summary in enumerate(summaries.accepted)
        if [
            _part(fitted[int(summaries.indices[int(summaries.box_image[p])])], summaries.boxes[p])
            for p in summary["samples"]
        ].count("wing")
        * 2
        > len(summary["samples"])
    ]
    assert on_wings, "no summary on the wings"
    both = [
        s for s in (world.sample(jay, seed=20000 + i) for i in range(40)) if set(s.evidence_parts) == {"crest", "wing"}
    ][:3]
    images = [image for s in both for image in (s.image, _occluded(s, "crest"), _occluded(s, "wing"))]
    shown = summaries.explain(np.stack(images), progress=False)
    assert shown.matches.shape == (9, len(summaries.accepted)) and shown.boxes.shape == (9, len(summaries.accepted), 4)
    original, no_crest, no_wing = (list(range(start, 9, 3)) for start in range(3))
    print("matches", shown.matches.numpy().round(3).tolist(), "thresholds", shown.thresholds.tolist())
    assert bool(shown.scores[no_wing].min() > 0.5), "hiding the wings lost the class: the test needs it kept"
    assert any(shown.parts(i) for i in original), "no new jay shows a wing summary"
    for i in original:
        assert all(_part(both[i // 3], shown.boxes[i, n]) == "wing" for n in shown.parts(i))
    assert not any(set(shown.parts(i)) & set(on_wings) for i in no_wing), "a wing summary on hidden wings"
    assert torch.allclose(shown.matches[no_crest][:, on_wings], shown.matches[original][:, on_wings], atol=0.03)
    figure = shown.figure([0, 2])
    assert len(figure.axes) == 2 and "summary" in figure.axes[0].get_title()
    assert summaries.figure(0).axes and len(summaries.figure().axes) >= len(summaries.figure(0).axes)
    with pytest.raises(xw.XWidgetsError, match="index"):
        summaries.figure(len(summaries.accepted))
    loaded = xw.summaries.SummaryResult.load(summaries.save(tmp_path / "summaries.xwr"))
    with pytest.raises(xw.XWidgetsError, match="model"):
        loaded.explain(images[:1])
