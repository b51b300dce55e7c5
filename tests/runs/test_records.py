"""The per-shard kernel: one shard of 16 toy images becomes records, maps and thumbnails that say the right things.

Records are checked against what they describe: the flags against the labels, the top-k against the model's own
probabilities, the ground-truth energy of a method's map against a random map's, the maps' range and size."""

import json

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.core.methods import get_spec
from xwidgets.runs.records import RECORD_COLUMNS, RunPlan, explain_shard, geometry_free, load_shard, run_spec

SHARD = 16
SPECIES = tuple(s.name for s in xw.toy.SPECIES)


@pytest.fixture(scope="module")
def model():
    return xw.toy.classifier()


@pytest.fixture(scope="module")
def loaded(model):
    source = xw.data.toy(SHARD, seed=0)
    assert tuple(source.classes) == SPECIES
    return load_shard(source, model, range(SHARD))


def shard(model, loaded, method="gradcam", target=None, seed=0, metrics=True, **params):
    batch, items, truth = loaded
    return explain_shard(
        model,
        batch,
        items,
        shard=0,
        method=method,
        target=target,
        params=get_spec(method).params.resolve(params),
        seed=seed,
        top_k=3,
        metrics=metrics,
        ground_truth=truth,
        thumbnail_size=32,
        label_names=SPECIES,
    )


@pytest.fixture(scope="module")
def gradcam(model, loaded):
    return shard(model, loaded)


def column(result, name):
    return [record[name] for record in result.records]


def test_a_gradcam_shard_has_every_column_for_every_image(gradcam, loaded):
    _, items, truth = loaded
    assert gradcam.indices == list(range(SHARD)) and gradcam.skipped == []
    assert all(tuple(record) == RECORD_COLUMNS for record in gradcam.records)
    assert column(gradcam, "index") == list(range(SHARD)) and set(column(gradcam, "shard")) == {0}
    assert column(gradcam, "id") == [item.id for item in items]
    assert column(gradcam, "label") == [item.label for item in items]
    assert column(gradcam, "label_name") == [SPECIES[item.label] for item in items]
    assert all(mask is not None and mask.shape == (112, 112) and mask.any() for mask in truth)
    for name in ("roots", "dnf"):
        assert set(column(gradcam, name)) == {None}
    assert all(json.loads(text)["degenerate"] in (True, False) for text in column(gradcam, "outputs"))
    assert np.isclose(sum(column(gradcam, "seconds")), gradcam.seconds)


def test_top_k_prediction_and_correct_flags_follow_the_model_and_the_labels(gradcam, model, loaded):
    batch, items, _ = loaded
    probabilities = model(batch.images).softmax(1)
    expected, classes = probabilities.topk(3, dim=1)
    assert column(gradcam, "top_classes") == classes.tolist()
    assert np.allclose(column(gradcam, "top_scores"), expected.numpy(), atol=1e-6)
    predicted = classes[:, 0].tolist()
    assert column(gradcam, "predicted") == predicted
    assert column(gradcam, "predicted_name") == [model.labels[p] for p in predicted]
    assert column(gradcam, "correct") == [p == item.label for p, item in zip(predicted, items)]
    assert 0 < sum(column(gradcam, "correct")) <= SHARD  # the toy classifier gets most right
    assert column(gradcam, "target") == predicted  # target None: each image's top-1
    assert np.allclose(column(gradcam, "target_score"), column(gradcam, "confidence"))


def test_maps_thumbnails_and_scores_have_their_shapes_and_ranges(gradcam):
    assert gradcam.maps.shape == (SHARD, 112, 112) and gradcam.maps.dtype == np.float32
    assert gradcam.maps.min() >= 0 and gradcam.maps.max() <= 1 and gradcam.maps.max() == 1
    assert gradcam.thumbnails.shape == (SHARD, 32, 32, 3) and gradcam.thumbnails.dtype == np.uint8
    assert gradcam.thumbnail_maps.shape == (SHARD, 32, 32) and gradcam.thumbnail_maps.max() > 200
    for name in ("deletion_auc", "insertion_auc", "gt_energy", "gt_iou"):
        values = np.array(column(gradcam, name), dtype=float)
        assert ((values >= 0) & (values <= 1)).all(), name
    assert np.mean(column(gradcam, "insertion_auc")) > np.mean(column(gradcam, "deletion_auc"))
    assert set(column(gradcam, "gt_pointing")) <= {True, False}


def random_energy(maps_shape, truth, seed):
    noise = torch.rand(maps_shape, generator=torch.Generator().manual_seed(seed))
    return xw.metrics.energy_in_mask(noise, torch.from_numpy(np.stack(truth))).mean().item()


def test_the_ground_truth_energy_of_a_map_beats_a_random_map(gradcam, loaded):
    _, _, truth = loaded
    method = np.mean(column(gradcam, "gt_energy"))
    control = random_energy(gradcam.maps.shape, truth, seed=0)
    assert method > control + 0.1, (method, control)


def test_without_metrics_the_aucs_are_null(model, loaded):
    result = shard(model, loaded, metrics=False)
    assert set(column(result, "deletion_auc")) == {None} == set(column(result, "insertion_auc"))


def test_an_igos_shard_keeps_its_masked_scores_and_is_deterministic(model, loaded):
    quick = get_spec("igos").quick
    first = shard(model, loaded, method="igos", metrics=False, **quick)
    again = shard(model, loaded, method="igos", metrics=False, **quick)
    assert first.maps.shape == (SHARD, 112, 112) and first.maps.min() >= 0 and first.maps.max() <= 1
    outputs = json.loads(first.records[0]["outputs"])
    assert len(outputs["masked_scores"]) == quick["iterations"] + 1 and len(outputs["step_sizes"]) == 3
    assert np.array_equal(first.maps, again.maps) and np.array_equal(first.thumbnails, again.thumbnails)
    without = [{k: v for k, v in r.items() if k != "seconds"} for r in first.records]
    assert without == [{k: v for k, v in r.items() if k != "seconds"} for r in again.records]


def test_a_sag_shard_records_roots_dnf_and_a_root_coverage_map(model, loaded):
    quick = get_spec("sag").quick
    result = shard(model, loaded, method="sag", metrics=False, **quick)
    grid = quick["grid"]
    for record, graph_map in zip(result.records, result.maps):
        roots = record["roots"]
        assert roots and all(isinstance(p, int) and 0 <= p < grid * grid for root in roots for p in root)
        assert record["dnf"] == " | ".join(" & ".join(f"P{p}" for p in sorted(root)) or "∅" for root in roots)
        cover = np.zeros((grid, grid))
        for root in roots:
            cover.flat[root] += 1 / len(roots)
        cell = 112 // grid
        expected = np.kron(cover, np.ones((cell, cell)))
        assert np.allclose(graph_map, expected, atol=1e-6)
        assert json.loads(record["outputs"])["roots_found"] >= len(roots)


def test_a_target_for_every_image_or_each_images_label(model, loaded):
    _, items, _ = loaded
    assert set(column(shard(model, loaded, target=3, metrics=False), "target")) == {3}
    named = shard(model, loaded, target=model.labels[5], metrics=False)
    assert set(column(named, "target")) == {5} and set(column(named, "target_name")) == {model.labels[5]}
    labelled = shard(model, loaded, target="label", metrics=False)
    assert column(labelled, "target") == [item.label for item in items]


def test_only_heatmap_and_graph_methods_run_over_a_dataset():
    assert run_spec("gradcam").name == "gradcam" and run_spec("sag").kind == "graph"
    for method in ("sane", "concepts", "igoss", 3):
        with pytest.raises(xw.XWidgetsError, match=r"method.*'igos'.*explain_dataset runs the per-image heatmap"):
            run_spec(method)


def test_prepared_images_are_not_resized_or_cropped_twice(model):
    pre = xw.core.Preprocessing(resize=128, crop=(112, 112), mean=(0.5,) * 3, std=(0.25,) * 3)
    cropping = xw.Classifier(model.module, preprocessing=pre, labels=model.labels)
    image = torch.rand(1, 3, 112, 112)
    assert not torch.equal(cropping.prepare(image), image)  # the model itself zooms a 112 image in
    twin = geometry_free(cropping)
    assert torch.equal(twin.prepare(image), image) and twin.module is cropping.module
    assert twin.preprocessing.mean == pre.mean and cropping.preprocessing is pre


def test_a_plan_explains_like_the_kernel_call(model, loaded, gradcam):
    plan = RunPlan(
        method="gradcam", target=None, params={}, seed=0, top_k=3, metrics=True, thumbnail_size=32, label_names=SPECIES
    )
    batch, items, truth = loaded
    result = plan.explain(model, batch, items, truth, shard=0)
    assert np.array_equal(result.maps, gradcam.maps)
    assert [r["label_name"] for r in result.records] == [r["label_name"] for r in gradcam.records]
