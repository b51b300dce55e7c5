"""The toy world's adapters live in xw.toy (issue 18); image sources and layer choice live in core. The old names
keep working for one release, each with a DeprecationWarning that names the new home."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import xwidgets as xw

#: (module, old name, new home "module:name")
MOVED = [
    ("xwidgets.similarity", "toy_attribute_model", "xwidgets.toy:attribute_model"),
    ("xwidgets.similarity", "toy_attribute_labels", "xwidgets.toy:attribute_labels"),
    ("xwidgets.similarity", "train_toy_attribute_model", "xwidgets.toy:train_attribute_model"),
    ("xwidgets.similarity.attributes", "toy_attribute_groups", "xwidgets.toy:attribute_groups"),
    ("xwidgets.similarity.attributes", "TOY_TRAINING", "xwidgets.toy:ATTRIBUTE_TRAINING"),
    ("xwidgets.similarity.attributes", "TOY_WEIGHTS", "xwidgets.toy:ATTRIBUTE_WEIGHTS"),
    ("xwidgets.text", "toy_captions", "xwidgets.toy:captions"),
    ("xwidgets.text", "toy_attribute_labels", "xwidgets.toy:vocabulary_labels"),
    ("xwidgets.text", "toy_evidence_attributes", "xwidgets.toy:evidence_attributes"),
    ("xwidgets.text.captions", "toy_captions", "xwidgets.toy:captions"),
    ("xwidgets.text.metrics", "toy_evidence_attributes", "xwidgets.toy:evidence_attributes"),
    ("xwidgets.concepts", "default_layer", "xwidgets.core.layers:default_layer"),
    ("xwidgets.concepts.space", "concept_colour", "xwidgets.concepts.figure:concept_colour"),
    ("xwidgets.concepts.space", "MAP_THRESHOLD", "xwidgets.concepts.figure:MAP_THRESHOLD"),
    ("xwidgets.concepts.features", "dataset_image", "xwidgets.core.sources:dataset_image"),
    ("xwidgets.concepts.features", "default_layer_on", "xwidgets.core.layers:default_layer_on"),
]


@pytest.mark.parametrize("module, old, new", MOVED, ids=[f"{m}.{o}" for m, o, _ in MOVED])
def test_an_old_name_warns_and_is_the_new_object(module, old, new):
    import importlib

    home, name = new.split(":")
    with pytest.warns(DeprecationWarning, match=rf"\.{old} moved to {home}\.{name}"):
        found = getattr(importlib.import_module(module), old)
    assert found is getattr(importlib.import_module(home), name)


def test_an_unknown_name_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'toy_nothing'"):
        xw.text.toy_nothing  # noqa: B018


def test_the_old_import_statement_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match="xwidgets.similarity.attributes.toy_attribute_model moved"):
        from xwidgets.similarity.attributes import toy_attribute_model
    assert toy_attribute_model is xw.toy.attribute_model


def test_captions_are_the_samples_captions_and_bad_data_is_named():
    data = xw.toy.dataset(3, seed=9420)
    assert xw.toy.captions(data) == xw.toy.captions(list(data.samples)) == [s.captions for s in data.samples]
    for bad, message in (([], "data: got list"), ("birds", "data: got str"), ([1, 2], "items without captions")):
        with pytest.raises(xw.XWidgetsError, match=message):
            xw.toy.captions(bad)


def test_vocabulary_labels_and_evidence_mine_the_samples_ground_truth():
    data = xw.toy.dataset(12, seed=9421)
    vocabulary = xw.text.build_vocabulary(xw.toy.captions(data), min_images=1)
    labels = xw.toy.vocabulary_labels(vocabulary, data)
    assert labels.shape == (12, len(vocabulary)) and labels.dtype == np.bool_ and labels.any(axis=1).all()
    for sample, row in zip(data.samples, labels):
        evidence = xw.toy.evidence_attributes(vocabulary, sample)
        shown = {a for a, true in zip(vocabulary.attributes, row) if true}
        assert evidence <= shown, (sample.species, evidence, shown)
    with pytest.raises(xw.XWidgetsError, match="samples: got list"):
        xw.toy.vocabulary_labels(vocabulary, [])


def test_the_shipped_attribute_model_sits_with_the_toy_weights():
    assert xw.toy.ATTRIBUTE_WEIGHTS.parent == Path(xw.toy.__file__).parent / "weights"
    assert xw.toy.ATTRIBUTE_WEIGHTS.is_file() and xw.toy.ATTRIBUTE_WEIGHTS.stat().st_size < 1_000_000
    model = xw.toy.attribute_model()
    ids, labels = xw.toy.attribute_labels(xw.toy.dataset(4, seed=9422))
    assert model.attributes == ids and labels.dtype == torch.bool and model.embedder.name == "toy embedder"
    assert xw.toy.attribute_groups(ids) == (model.groups, model.open_groups)


@pytest.mark.slow
def test_the_training_script_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "xwidgets.toy.attributes", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "--out OUT" in done.stdout and "attribute model" in done.stdout


@pytest.mark.slow
def test_training_the_attribute_model_writes_a_model_that_loads(tmp_path):
    path = tmp_path / "attributes.xwr"
    trained = xw.toy.train_attribute_model(
        path, n=40, seed=9423, saliency_images=3, partners=1, masks=16, epochs=2, lambda_h=5e-3, progress=False
    )
    loaded = xw.core.Result.load(path)
    assert loaded.attributes == trained.attributes and loaded.groups == trained.groups
    assert trained.params["toy"]["saliency_maps_total"] == 3 and trained.params["lambda_h"] == 5e-3
    assert trained.params["epochs"] == 2 and trained.params["lr"] == xw.toy.ATTRIBUTE_TRAINING["lr"]
