"""``xw.explain_dataset`` end to end: a stored run of toy images that reads back, repeats bit for bit, takes every
target form, refuses every bad argument before it makes a store, and skips a corrupt file without stopping."""

import doctest
import json

import numpy as np
import pytest
import torch
from PIL import Image

import xwidgets as xw
from xwidgets.runs.explain import model_fingerprint


@pytest.fixture(scope="module")
def model():
    return xw.toy.classifier()


def run_gradcam(model, source, store, **options):
    options = {"shard_size": 16, "progress": False, **options}
    return xw.explain_dataset(model, source, method="gradcam", store=store, **options)


def records(run):
    """The run's records without the timing column, which is the only one that varies between runs."""
    return run.records.drop_columns(["seconds"])


@pytest.fixture(scope="module")
def toy_run(model, tmp_path_factory):
    return run_gradcam(model, xw.data.toy(64, seed=1), tmp_path_factory.mktemp("runs") / "toy")


def test_a_run_of_64_toy_images_stores_every_image_once(toy_run, model):
    run = toy_run
    assert run.total == run.count == 64 and run.complete and run.skipped == []
    run.validate()
    table = run.to_pandas()
    assert table["index"].tolist() == list(range(64))
    assert (table["correct"] == (table["predicted"] == table["label"])).all()
    assert table["correct"].mean() > 0.5 and table["gt_energy"].notna().all()
    assert run.map(5).shape == (112, 112) and run.map(5).min() >= 0 and run.map(5).max() <= 1
    assert run.thumbnail(5).shape == (64, 64, 3) and run.thumbnail_map(5).shape == (64, 64)
    manifest = run.manifest
    assert manifest["method"] == "gradcam" and manifest["method_title"] == "Grad-CAM" and manifest["kind"] == "heatmap"
    assert manifest["model"]["fingerprint"] == model_fingerprint(model) and len(model_fingerprint(model)) == 16
    assert manifest["model"]["preprocessing"] == {"resize": None, "crop": None}
    assert manifest["model"]["input_size"] == [112, 112] == manifest["map_shape"]
    assert manifest["source"]["count"] == 64 and manifest["shard_size"] == 16 and manifest["top_k"] == 5
    assert manifest["target"] is None and manifest["metrics"] is True


def test_a_model_with_other_weights_has_another_fingerprint(model):
    other = xw.toy.classifier()
    assert model_fingerprint(other) == model_fingerprint(model)
    with torch.no_grad():
        next(other.module.parameters()).add_(1e-3)
    assert model_fingerprint(other) != model_fingerprint(model)


def test_two_runs_give_identical_records_and_maps(toy_run, model, tmp_path):
    again = run_gradcam(model, xw.data.toy(64, seed=1), tmp_path / "again")
    assert records(again).equals(records(toy_run))
    assert np.array_equal(again.maps[:], toy_run.maps[:])


def test_the_decoding_workers_give_the_same_run(toy_run, model, tmp_path):
    prefetched = run_gradcam(model, xw.data.toy(64, seed=1), tmp_path / "workers", num_workers=1)
    assert records(prefetched).equals(records(toy_run))
    assert np.array_equal(prefetched.maps[:], toy_run.maps[:])


def test_every_target_form(model, tmp_path):
    source = xw.data.toy(8, seed=2)
    labels = [source.item(i).label for i in range(8)]
    for target, expected in ((3, [3] * 8), (model.labels[6], [6] * 8), ("label", labels)):
        run = run_gradcam(model, source, tmp_path / str(target), target=target, metrics=False)
        assert run.column("target").tolist() == expected, target
        assert run.manifest["target"] == target
    with pytest.raises(xw.XWidgetsError, match=r"target.*'label' for a source without labels"):
        run_gradcam(model, xw.toy.dataset(4, seed=2).images(), tmp_path / "unlabelled", target="label")


def test_progress_reports_images_throughput_and_skipped(model, tmp_path):
    messages = []
    source = xw.data.toy(8, seed=3)
    run_gradcam(
        model, source, tmp_path / "p", shard_size=4, metrics=False, progress=lambda f, m: messages.append((f, m))
    )
    assert [f for f, _ in messages] == [0.5, 1.0]
    assert messages[0][1].startswith("4 / 8 images · ") and messages[-1][1].endswith("images/s · 0 skipped")


def bad(model, tmp_path, match, source=None, **options):
    store = tmp_path / "bad"
    options = {"method": "gradcam", "store": store, "progress": False, **options}
    with pytest.raises(xw.XWidgetsError, match=match):
        xw.explain_dataset(model, xw.data.toy(4) if source is None else source, **options)
    assert not store.exists(), "a refused call leaves no store behind"


def test_every_bad_argument_is_refused_by_name_before_a_store_is_made(model, tmp_path):
    bad(xw.toy.embedder(), tmp_path, r"model.*an xw\.Classifier")
    bad(model.module, tmp_path, r"model.*a raw torch\.nn\.Module")
    bad(model, tmp_path, r"source", source=42)
    bad(model, tmp_path, r"method.*'sane'.*explain_dataset runs the per-image heatmap", method="sane")
    bad(model, tmp_path, r"method.*'concepts'", method="concepts")
    bad(model, tmp_path, r"iterations.*a value in \[1", method="igos", iterations=0)
    bad(model, tmp_path, r"colour.*an unknown parameter of igos", method="igos", colour=1)
    bad(model, tmp_path, r"target: got 99, a class outside the model's 11 classes", target=99)
    bad(model, tmp_path, r"target.*'nope', a name no class has", target="nope")
    bad(model, tmp_path, r"target.*True", target=True)
    bad(model, tmp_path, r"store.*the path of the run's store", store=None)
    bad(model, tmp_path, r"engine.*'spark'.*'local', 'ray'", engine="spark")
    bad(model, tmp_path, r"seed.*a whole number >= 0", seed=-1)
    bad(model, tmp_path, r"shard_size.*>= 1", shard_size=0)
    bad(model, tmp_path, r"top_k.*1\.\.11", top_k=12)
    bad(model, tmp_path, r"top_k", top_k=0)
    bad(model, tmp_path, r"thumbnail_size.*16\.\.256", thumbnail_size=8)
    bad(model, tmp_path, r"thumbnail_size.*16\.\.256", thumbnail_size=300)
    bad(model, tmp_path, r"metrics.*True or False", metrics="yes")
    bad(model, tmp_path, r"overwrite.*True or False", overwrite=1)
    bad(model, tmp_path, r"num_workers.*>= 0", num_workers=-1)
    bad(model, tmp_path, r"workers.*None with engine='local'", workers=2)
    bad(model, tmp_path, r"workers.*Ray actors >= 1", engine="ray", workers=0)
    bad(model, tmp_path, r"address.*a Ray address", engine="ray", address=3)
    bad(model, tmp_path, r"source: got", source=torch.zeros(0, 3, 112, 112))
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(xw.XWidgetsError, match=r"store.*which is a file"):
        xw.explain_dataset(model, xw.data.toy(4), method="gradcam", store=afile, progress=False)


def image_folder(root, count):
    """An ImageFolder tree of toy PNGs in class sub-folders, and one corrupt PNG."""
    data = xw.toy.dataset(count, seed=4)
    for i in range(count):
        image, label = data[i]
        folder = root / f"class-{label:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"bird-{i:02d}.png")
    corrupt = root / "class-00" / "corrupt.png"
    corrupt.parent.mkdir(exist_ok=True)
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    return corrupt


def test_a_corrupt_file_is_skipped_and_listed_and_the_others_are_explained(model, tmp_path):
    corrupt = image_folder(tmp_path / "images", 11)
    source = xw.data.folder(tmp_path / "images")
    run = run_gradcam(model, source, tmp_path / "run", shard_size=4, metrics=False)
    assert run.total == 12 and run.count == 11 and run.complete
    assert len(run.skipped) == 1
    skipped = run.skipped[0]
    assert skipped["path"] == str(corrupt) and "corrupt.png" in skipped["error"]
    assert skipped["index"] not in run.column("index").tolist()
    run.validate()
    assert all(json.loads(text) is not None for text in run.column("outputs"))


def test_a_shard_of_only_unreadable_images_commits_with_no_rows(model, tmp_path):
    corrupt = image_folder(tmp_path / "images", 3)
    run = run_gradcam(model, xw.data.folder(tmp_path / "images"), tmp_path / "run", shard_size=1, metrics=False)
    assert run.complete and run.count == 3 and [s["path"] for s in run.skipped] == [str(corrupt)]
    run.validate()


def test_the_docstring_example_runs():
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for test in finder.find(xw.explain_dataset, "explain_dataset", globs={}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries >= 4


@pytest.mark.parametrize("one_thread_loading", [True, False], ids=["loading on one thread", "control: loading on all"])
def test_a_run_is_the_same_on_one_torch_thread_and_on_two(model, tmp_path, monkeypatch, one_thread_loading):
    """Ray's actors run on one torch thread and the local engine on all of them: the images must not depend on it.
    Image 57 of ``toy(64, seed=3)`` is one whose background, rendered with a bilinear upsample, rounds one pixel
    differently on two threads; the control (loading on every thread) shows the test can see that."""
    import contextlib

    import xwidgets.data.prepared as prepared
    import xwidgets.toy.render as render

    if not one_thread_loading:  # the toy renderer runs its upsample on one thread too (tests/reliability)
        monkeypatch.setattr(prepared, "one_torch_thread", contextlib.nullcontext)
        monkeypatch.setattr(render, "one_torch_thread", contextlib.nullcontext)
    threads = torch.get_num_threads()
    runs = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            source = xw.data.toy(64, seed=3)
            runs.append(run_gradcam(model, source, tmp_path / f"threads-{count}", metrics=False))
    finally:
        torch.set_num_threads(threads)
    same = records(runs[0]).equals(records(runs[1])) and np.array_equal(runs[0].maps[:], runs[1].maps[:])
    if one_thread_loading:
        assert same
    elif same:
        pytest.skip("this machine's torch interpolates alike on one thread and two: the control has nothing to show")


def test_xwidgets_imports_without_the_dataset_extras_and_a_run_says_which_to_install(tmp_path):
    """pyarrow, zarr and Ray are extras: ``import xwidgets`` must not need them, and a run must name the extra
    before it makes anything on disk."""
    import subprocess
    import sys

    script = f"""
import sys
for name in ("pyarrow", "zarr", "ray"):
    sys.modules[name] = None
import xwidgets as xw
try:
    xw.explain_dataset(xw.toy.classifier(), xw.data.toy(4), method="gradcam", store={str(tmp_path / "run")!r},
                       progress=False)
except xw.XWidgetsError as error:
    print("refused:", error)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "pip install 'xwidgets[datasets]'" in done.stdout
    assert not (tmp_path / "run").exists()
