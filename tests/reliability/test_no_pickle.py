"""Loading never runs pickled code: a file crafted with a pickle payload, placed where each loader of xwidgets reads,
is refused with an XWidgetsError naming its path, and the payload never runs.

The payload is an object whose ``__reduce__`` writes a marker file: had any loader unpickled it, the marker would
exist. Loaders covered (a grep of the package for ``torch.load``, ``pickle``, ``joblib`` and ``np.load``):

- ``Result.load`` and every registered result type (``.xwr``: saliency, SAG, concept spaces, summaries, text
  models, attribute models...), and the toy attribute model's shipped file;
- model weights: ``xw.Classifier.from_torchvision(weights_path=...)`` and ``efficientnet_lite0`` (both through
  ``core.models.load_state_dict_file``), the toy classifier's and embedder's shipped weights;
- ``xw.open_run`` stores: the manifest and commit markers (JSON), the Parquet records (a column claiming pyarrow's
  old pickled extension type), the zarr arrays (an object array whose codec is pickle), and the features cache
  that dataset-level fits read from a run.

``runs/ray_engine.py`` unpickles only what its own actors return over Ray, never a file, and is not a loader.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.core.errors import XWidgetsError
from xwidgets.core.results import _REGISTRY, Result


class Payload:
    """Unpickling this writes :attr:`marker` (a path)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pickled code ran"))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "MARKER"
    yield path
    assert not path.exists(), "a loader ran the pickled payload"


def crafted_torch_file(path: Path, marker: Path) -> Path:
    """A ``torch.save`` file whose payload writes ``marker`` when unpickled without ``weights_only``."""
    torch.save({"manifest": Payload(marker), "tensors": {}, "state_dict": Payload(marker)}, path)
    return path


def refused(call, path: Path) -> XWidgetsError:
    with pytest.raises(XWidgetsError) as caught:
        call()
    assert str(path) in str(caught.value), f"the error names no path: {caught.value}"
    return caught.value


def test_the_payload_runs_when_unpickled(tmp_path):
    """The control: the crafted file does run code under a plain unpickler."""
    marker = tmp_path / "MARKER"
    path = crafted_torch_file(tmp_path / "bad.xwr", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize("kind", sorted(_REGISTRY), ids=str)
def test_result_load_of_every_result_type_refuses_a_pickle(kind, tmp_path, marker):
    path = crafted_torch_file(tmp_path / f"{kind}.xwr", marker)
    refused(lambda: _REGISTRY[kind].load(path), path)
    refused(lambda: Result.load(path), path)


def test_the_toy_attribute_model_file(tmp_path, marker, monkeypatch):
    from xwidgets.toy import attributes

    path = crafted_torch_file(tmp_path / "attributes.xwr", marker)
    monkeypatch.setattr(attributes, "ATTRIBUTE_WEIGHTS", path)
    refused(attributes.attribute_model, path)


def test_weights_path_of_a_torchvision_model(tmp_path, marker):
    pytest.importorskip("torchvision")
    path = crafted_torch_file(tmp_path / "resnet.pth", marker)
    refused(lambda: xw.Classifier.from_torchvision("resnet18", weights_path=path), path)


def test_the_efficientnet_weights_file(tmp_path, marker, monkeypatch):
    from xwidgets.core import pretrained

    path = crafted_torch_file(tmp_path / "lite0.pth", marker)
    monkeypatch.setattr(pretrained, "_lite0_network_and_weights", lambda: (torch.nn.Linear(2, 2), str(path)))
    refused(pretrained.efficientnet_lite0, path)


@pytest.mark.parametrize("name", ["classifier", "embedder"])
def test_the_toy_weights(name, tmp_path, marker, monkeypatch):
    from xwidgets.toy import models

    crafted_torch_file(tmp_path / f"{name}.pt", marker)
    monkeypatch.setattr(models, "WEIGHTS", tmp_path)
    refused(getattr(models, name), tmp_path / f"{name}.pt")


# ------------------------------------------------------------------------------------------------- run stores
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small, whole run store (Grad-CAM on 6 toy birds, one shard)."""
    path = tmp_path_factory.mktemp("runs") / "run"
    xw.explain_dataset(xw.toy.classifier(), xw.data.toy(6), method="gradcam", store=path, metrics=False, progress=False)
    return path


@pytest.fixture
def copy(store, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(store, target)
    return target


def test_a_pickle_in_place_of_the_manifest(copy, marker):
    (copy / "manifest.json").write_bytes(pickle.dumps(Payload(marker)))
    refused(lambda: xw.open_run(copy), copy / "manifest.json")


def test_a_pickle_in_place_of_a_commit_marker(copy, marker):
    shard = next((copy / "commits").glob("shard-*.json"))
    shard.write_bytes(pickle.dumps(Payload(marker)))
    refused(lambda: xw.open_run(copy), shard)


def test_parquet_records_with_a_pickled_extension_type(copy, marker):
    """A column whose metadata names pyarrow's old pickled extension type (``arrow.py_extension_type``, the payload
    as its serialized form): reading the records and turning them into pandas never unpickles it."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    run = xw.open_run(copy)
    table = run.records
    metadata = {b"ARROW:extension:name": b"arrow.py_extension_type", b"ARROW:extension:metadata": b""}
    metadata[b"ARROW:extension:metadata"] = pickle.dumps(Payload(marker))
    fields = [f.with_metadata(metadata) if f.name == "id" else f for f in table.schema]
    crafted = pa.Table.from_arrays(table.columns, schema=pa.schema(fields))
    marker_file = next((copy / "commits").glob("shard-*.json"))
    commit = json.loads(marker_file.read_text())
    pq.write_table(crafted, copy / commit["file"])
    commit["sha256"] = hashlib.sha256((copy / commit["file"]).read_bytes()).hexdigest()
    marker_file.write_text(json.dumps(commit))
    reopened = xw.open_run(copy)
    assert len(reopened.to_pandas()) == run.count  # read as its plain storage: the payload stays bytes


def object_array(group: Path, name: str, marker: Path) -> Path:
    """Replace the zarr (format 2) array ``group/name`` by an object array whose pickle codec holds the payload."""
    import numcodecs

    array = group / name
    shutil.rmtree(array)
    array.mkdir()
    meta = {
        "zarr_format": 2,
        "shape": [6],
        "chunks": [6],
        "dtype": "|O",
        "compressor": None,
        "fill_value": None,
        "filters": [{"id": "pickle", "protocol": 5}],
        "order": "C",
    }
    (array / ".zarray").write_text(json.dumps(meta))
    (array / "0").write_bytes(numcodecs.Pickle().encode(np.array([Payload(marker)] * 6, dtype=object)))
    return array


@pytest.mark.parametrize("name", ["maps", "thumbnails", "thumbnail_maps"])
def test_zarr_object_arrays_of_a_store_are_never_read(copy, marker, name):
    pytest.importorskip("numcodecs")
    array = object_array(copy / "arrays.zarr", name, marker)
    run = xw.open_run(copy)
    refused(lambda: run.map(0) if name == "maps" else run.thumbnail(0), array)
    refused(lambda: xw.DatasetExplorer(run), array)


def test_features_cache_with_an_object_array(copy, marker):
    pytest.importorskip("numcodecs")
    from xwidgets.concepts import extract_features
    from xwidgets.runs.features import features_paths

    model, run = xw.toy.classifier(), xw.open_run(copy)
    extract_features(model, run, "features")  # writes the cache that dataset-level fits read
    array_path, _ = features_paths(run, "features")
    array = object_array(array_path, "logits", marker)
    try:  # zarr 2 lists the object array and xwidgets refuses it; zarr 3 cannot open it, so the cache is rebuilt
        features = extract_features(model, xw.open_run(copy), "features")
    except XWidgetsError as error:
        assert str(array) in str(error), error
    else:
        assert features.params["computed"] == 6 and torch.isfinite(features.logits).all()
