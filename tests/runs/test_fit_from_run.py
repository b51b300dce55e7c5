"""Dataset-level methods fitted on a stored run (issue 20, item 6): summaries read the stored I-GOS maps instead
of optimising masks, text and concepts read their dataset pass from the store's features cache, an incomplete
run fits on what it has (with a warning) and an empty one is refused."""

import contextlib
import copy
import importlib
import json
import shutil

import pytest
import torch

import xwidgets as xw
from xwidgets.core.sources import StoredImages, image_count, image_source, read_images
from xwidgets.runs import open_run
from xwidgets.runs.features import features_paths

pytest.importorskip("pyarrow")
pytest.importorskip("zarr")

COUNT, SEED = 64, 3
IGOS = {"iterations": 3, "ig_steps": 4, "resolution": 7}  # I-GOS's quick settings: the run takes seconds
CONCEPTS = {"k": 2, "epochs": 5, "pretrain_epochs": 1, "retries": 0}
IGOS_MODULE = importlib.import_module("xwidgets.heatmaps.igos")  # the package's attribute ``igos`` is the function


@pytest.fixture(scope="module")
def model():
    return xw.toy.classifier()


@pytest.fixture(scope="module")
def data():
    return xw.toy.dataset(COUNT, seed=SEED)


def explain(model, data, store):
    return xw.explain_dataset(model, data, method="igos", store=store, metrics=False, progress=False, **IGOS)


@pytest.fixture(scope="module")
def stored(model, data, tmp_path_factory):
    """The store of an I-GOS run over the 64 toy images (made once; tests that change it work on a copy)."""
    store = tmp_path_factory.mktemp("run") / "toy-igos"
    explain(model, data, store)
    return store


@pytest.fixture
def copied(stored, tmp_path):
    """A fresh copy of the run's store, for tests that cut it short or fill its cache."""
    shutil.copytree(stored, tmp_path / "store")
    return tmp_path / "store"


@contextlib.contextmanager
def counted_forwards(model):
    """Count the images the model's module sees in forward passes: ``with counted_forwards(m) as seen: ...``."""
    seen = [0]

    def count(module, inputs, output):
        seen[0] += len(inputs[0])

    handle = model.module.register_forward_hook(count)
    try:
        yield seen
    finally:
        handle.remove()


@pytest.fixture
def igos_iterations(monkeypatch):
    """Count I-GOS iterations (each computes one integrated-gradient direction), whoever calls the kernel."""
    calls = [0]
    direction = IGOS_MODULE._integrated_direction

    def counting(*args, **kwargs):
        calls[0] += 1
        return direction(*args, **kwargs)

    monkeypatch.setattr(IGOS_MODULE, "_integrated_direction", counting)
    return calls


def other_model(model):
    """The toy classifier with one weight nudged: another fingerprint, the same architecture."""
    other = copy.deepcopy(model)
    with torch.no_grad():
        next(other.module.parameters()).add_(0.01)
    return other


def run_images(run):
    return torch.stack([run.image(int(i)) for i in run.column("index")])


# ------------------------------------------------------------------------------------------------ reading
def test_a_run_is_a_source_of_its_explained_images_in_index_order(model, data, stored):
    run = open_run(stored)
    source = image_source(run)
    assert isinstance(source, StoredImages) and image_source(run) is source  # one adapter per Run object
    assert image_count(run) == len(source) == COUNT
    assert torch.equal(read_images(model, run, 5, 9), data.images()[5:9])
    assert torch.equal(source[7], data.images()[7])
    assert source.map_method == "igos" and source.map_params["iterations"] == 3 and source.map_params["seed"] == 0


def test_a_model_with_another_geometry_reads_the_source_images_prepared_its_own_way(model, data, stored):
    resized = copy.copy(model)
    resized.preprocessing = xw.core.Preprocessing(resize=(96, 96))
    pixels = read_images(resized, open_run(stored), 3, 5)
    assert pixels.shape == (2, 3, 96, 96) and torch.equal(pixels, resized.prepare(data.images()[3:5]))


# ---------------------------------------------------------------------------------------------- summaries
def test_summaries_use_the_stored_igos_maps_and_equal_a_fit_that_recomputes_them(model, stored, igos_iterations):
    run = open_run(stored)
    from_store = xw.fit(model, run, 0, method="summaries", progress=False)
    assert igos_iterations[0] == 0, "no I-GOS iteration runs: the masks are the stored maps"
    assert from_store.params["mask_method"] == "stored" and from_store.params["mask_source"] == "igos"
    assert from_store.params["mask_params"] == {**run.params, "seed": 0}

    recomputed = xw.fit(
        model, run_images(run), 0, method="summaries", mask_method="igos", mask_params=dict(run.params), progress=False
    )
    assert igos_iterations[0] == IGOS["iterations"]  # one batched I-GOS over the class's images
    assert torch.equal(from_store.indices, recomputed.indices) and torch.equal(from_store.images, recomputed.images)
    # The store keeps maps as float16: the stored masks are the recomputed ones rounded to float16, exactly
    # (I-GOS draws its noise per image, so the run's shards of 16 and the class's batch give the same maps).
    assert torch.equal(from_store.saliency, recomputed.saliency.half().float())
    assert torch.equal(from_store.boxes, recomputed.boxes)
    assert [(s["members"], s["accepted"]) for s in from_store.summaries] == [
        (s["members"], s["accepted"]) for s in recomputed.summaries
    ]


def test_summaries_of_a_stored_run_explain_new_images_with_the_runs_method(model, stored, igos_iterations):
    run = open_run(stored)
    fitted = xw.fit(model, run, 0, method="summaries", progress=False, ssim_factor=0.0)
    assert fitted.accepted, "a summary to look for"
    shown = fitted.explain(run_images(run)[:2], progress=False)
    assert igos_iterations[0] == IGOS["iterations"]  # the new images' maps: I-GOS with the run's parameters
    assert shown.saliency.shape == (2, 1, 112, 112) and shown.matches.shape == (2, len(fitted.accepted))


def test_stored_maps_are_refused_for_another_model(model, stored):
    with pytest.raises(xw.XWidgetsError, match=r"model: got .*fingerprint .*expected the model the run .* was made"):
        xw.fit(other_model(model), open_run(stored), 0, method="summaries", progress=False)


def test_stored_masks_need_a_run_of_igos_and_no_mask_params(model, data, stored):
    with pytest.raises(xw.XWidgetsError, match="mask_method: got 'stored' with data that is not a dataset run"):
        xw.fit(model, data.images()[:8], 0, method="summaries", mask_method="stored", progress=False)
    with pytest.raises(xw.XWidgetsError, match=r"mask_params: got .*expected None with stored masks"):
        xw.fit(model, open_run(stored), 0, method="summaries", mask_params={"iterations": 5}, progress=False)


# ------------------------------------------------------------------------------------ text and concepts
def test_text_reads_its_dataset_pass_from_the_cache_the_first_fit_wrote(model, data, copied):
    captions = xw.toy.captions(data)
    with counted_forwards(model) as seen:
        first = xw.fit(model, open_run(copied), method="text", captions=captions, layer="features", progress=False)
    assert seen[0] == COUNT
    array_path, meta_path = features_paths(open_run(copied), "features")
    meta = json.loads(meta_path.read_text())
    assert array_path.is_dir() and meta["rows"] == COUNT and meta["model"]["name"] == model.name
    assert meta["model"]["fingerprint"] == open_run(copied).manifest["model"]["fingerprint"]

    with counted_forwards(model) as seen:
        second = xw.fit(model, open_run(copied), method="text", captions=captions, layer="features", progress=False)
    assert seen[0] == 0, "the second fit reads the cache: no forward pass over the dataset"
    direct = xw.fit(model, data, method="text", captions=captions, layer="features", progress=False)
    for fitted in (first, second):
        assert torch.equal(fitted.attribute_given_filter, direct.attribute_given_filter)
        assert torch.equal(fitted.filter_mean, direct.filter_mean)


def test_concepts_read_the_cache_and_fit_the_same_space(model, data, copied):
    with counted_forwards(model) as seen:
        xw.fit(model, open_run(copied), 0, method="concepts", layer="features", progress=False, **CONCEPTS)
        assert seen[0] == COUNT
        cached = xw.fit(model, open_run(copied), 0, method="concepts", layer="features", progress=False, **CONCEPTS)
        assert seen[0] == COUNT, "the second fit made no forward pass"
    direct = xw.fit(model, data, 0, method="concepts", layer="features", progress=False, **CONCEPTS)
    assert torch.equal(cached.features.features, direct.features.features)
    assert torch.equal(cached.features.logits, direct.features.logits)
    assert torch.equal(cached.weights, direct.weights)


def test_the_cache_is_recomputed_for_another_model_or_a_half_written_cache(model, data, copied):
    captions = xw.toy.captions(data)
    fit = lambda net: xw.fit(net, open_run(copied), method="text", captions=captions, layer="features", progress=False)  # noqa: E731
    fit(model)
    other = other_model(model)
    with counted_forwards(other) as seen:
        fit(other)
    assert seen[0] == COUNT
    _, meta_path = features_paths(open_run(copied), "features")
    meta = json.loads(meta_path.read_text())
    assert meta["model"]["fingerprint"] != open_run(copied).manifest["model"]["fingerprint"]
    meta["token"] = "a write that stopped before its JSON"  # the arrays' token no longer matches
    meta_path.write_text(json.dumps(meta))
    with counted_forwards(other) as seen:
        fit(other)
        fit(other)
    assert seen[0] == COUNT, "the mismatched cache is recomputed once, then read"


# --------------------------------------------------------------------------------- incomplete and empty
def test_an_incomplete_run_fits_on_its_explained_images_and_a_resumed_run_adds_only_the_new_rows(model, data, copied):
    (copied / "commits" / "shard-00003.json").unlink()  # the last shard (images 48..63) never committed
    run = open_run(copied)
    assert run.count == 48 and not run.complete
    captions = xw.toy.captions(data)
    with pytest.warns(UserWarning, match=r"incomplete: fitting on its 48 explained images, 16 of its 64 are not"):
        partial = xw.fit(model, run, method="text", captions=captions, layer="features", progress=False)
    assert partial.images == 48
    direct = xw.fit(model, data.images()[:48], method="text", captions=captions[:48], layer="features", progress=False)
    assert torch.equal(partial.attribute_given_filter, direct.attribute_given_filter)

    explain(model, data, copied)  # resumed: shard 3 is computed
    with counted_forwards(model) as seen:
        whole = xw.fit(model, open_run(copied), method="text", captions=captions, layer="features", progress=False)
    assert seen[0] == 16, "only the images the cache lacked are read"
    assert whole.images == COUNT


def test_captions_must_match_the_explained_images_or_the_whole_source(model, data, copied):
    (copied / "commits" / "shard-00003.json").unlink()
    too_few = pytest.raises(xw.XWidgetsError, match=r"captions: got 50 values")
    with pytest.warns(UserWarning, match="incomplete"), too_few:
        xw.fit(model, open_run(copied), method="text", captions=xw.toy.captions(data)[:50], progress=False)


def test_an_empty_run_is_refused(model, copied):
    for marker in (copied / "commits").glob("shard-*.json"):
        marker.unlink()
    for method in ("summaries", "concepts"):
        with pytest.raises(xw.XWidgetsError, match=r"data: got the run at .* with no explained image \(0 of 64\)"):
            xw.fit(model, open_run(copied), 0, method=method, progress=False)
