"""Reading a run store: open_run's speed and laziness, the Run accessors, validation, repair and refusals."""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import zarr

import xwidgets as xw
from tests.runs.store_helpers import manifest, map_of, record, result, write_store
from xwidgets.core.models import Model, Preprocessing
from xwidgets.runs.store import RunWriter, open_run


def test_accessors_read_records_and_one_chunk_each(tmp_path):
    write_store(tmp_path / "run", count=10, shard_size=4, skip={5})
    run = open_run(tmp_path / "run")
    assert (run.total, run.count, run.complete, run.method) == (10, 9, True, "igos")
    assert run.params == {"iterations": 5} and len(run) == 9
    assert run.skipped == [{"index": 5, "id": "toy-0-5", "path": "/data/5.png", "error": "corrupt PNG"}]
    assert "igos, 9 / 10 images, 1 skipped, complete" in repr(run)
    assert run.column("index").tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert run.column("deletion_auc").dtype == np.float32
    frame = run.to_pandas()
    assert len(frame) == 9 and frame.loc[frame["index"] == 8, "predicted_name"].item() == "c"
    item = run.item(8)
    assert set(item) == set(record(8, 2))
    for column, value in record(8, 2).items():
        assert item[column] == (pytest.approx(value) if isinstance(value, (float, list)) else value), column
    heat = run.map(6)
    assert heat.dtype == np.float32 and heat.shape == (8, 8)
    np.testing.assert_allclose(heat, map_of(6, 8), atol=5e-4)
    assert run.thumbnail(6).shape == (4, 4, 3) and run.thumbnail(6).dtype == np.uint8
    assert run.thumbnail_map(6).shape == (4, 4)
    assert run.maps.shape == (10, 8, 8)


def test_indices_without_a_record_say_why(tmp_path):
    write_store(tmp_path / "run", count=10, shard_size=4, shards=[1], skip={5})
    run = open_run(tmp_path / "run")
    assert not run.complete and "incomplete" in repr(run)
    with pytest.raises(xw.XWidgetsError, match=r"index: got 5, an image the run skipped \(corrupt PNG\)"):
        run.map(5)
    with pytest.raises(xw.XWidgetsError, match=r"index: got 0, whose shard is not committed yet"):
        run.item(0)
    with pytest.raises(xw.XWidgetsError, match=r"index: got 10, expected a source index in 0\.\.9"):
        run.thumbnail(10)
    with pytest.raises(xw.XWidgetsError, match=r"name: got 'colour', expected one of 'index'"):
        run.column("colour")


def test_an_empty_run_has_an_empty_table(tmp_path):
    RunWriter.open(tmp_path / "run", manifest())
    run = open_run(tmp_path / "run")
    assert run.count == 0 and run.records.num_rows == 0 and "index" in run.records.column_names
    run.validate()


def test_open_run_refuses_what_is_not_a_readable_store(tmp_path):
    with pytest.raises(xw.XWidgetsError, match=r"does not exist: expected a run store"):
        open_run(tmp_path / "nowhere")
    (tmp_path / "folder").mkdir()
    with pytest.raises(xw.XWidgetsError, match=r"has no manifest\.json"):
        open_run(tmp_path / "folder")
    (tmp_path / "folder" / "manifest.json").write_text(json.dumps({"format": "xwidgets-result"}))
    with pytest.raises(xw.XWidgetsError, match=r"format 'xwidgets-result', expected 'xwidgets-run'"):
        open_run(tmp_path / "folder")
    write_store(tmp_path / "run")
    stored = json.loads((tmp_path / "run" / "manifest.json").read_text())
    (tmp_path / "run" / "manifest.json").write_text(json.dumps({**stored, "format_version": 2}))
    with pytest.raises(xw.XWidgetsError, match=r"written by a newer xwidgets \(store format_version 2"):
        open_run(tmp_path / "run")
    with pytest.raises(xw.XWidgetsError, match=r"written by a newer xwidgets"):
        RunWriter.open(tmp_path / "run", manifest())
    with pytest.raises(xw.XWidgetsError, match=r"path: got 3"):
        open_run(3)


def test_a_truncated_shard_is_named_by_validate_and_records_and_repair_recomputes_it(tmp_path):
    store = tmp_path / "run"
    write_store(store, count=10, shard_size=4)
    file = store / "records" / "shard-00001.parquet"
    file.write_bytes(file.read_bytes()[:-40])
    run = open_run(store)
    fix = r"shard-00001\.parquet' does not match its sha256 \(truncated or changed\)\. Call run\.repair\(\)"
    with pytest.raises(xw.XWidgetsError, match=fix):
        run.validate()
    with pytest.raises(xw.XWidgetsError, match=fix):
        run.records  # noqa: B018
    assert run.repair() == [1]
    assert open_run(store).count == 6
    writer = RunWriter.open(store, manifest(10, 4))
    assert writer.pending_shards() == [1]
    writer.write_shard(1, result(writer, 1))
    repaired = open_run(store)
    repaired.validate()
    assert repaired.column("index").tolist() == list(range(10))


def test_validate_finds_mismatched_rows_doubled_indices_missing_files_and_bad_arrays(tmp_path):
    store = tmp_path / "run"
    write_store(store, count=10, shard_size=4)
    marker_file = store / "commits" / "shard-00000.json"
    marker = json.loads(marker_file.read_text())

    def check(changed, message):
        marker_file.write_text(json.dumps(changed))
        with pytest.raises(xw.XWidgetsError, match=message):
            open_run(store).validate()
        marker_file.write_text(json.dumps(marker))

    check({**marker, "indices": [0, 1, 2]}, r"shard 0 .* its file has 4 rows, its marker lists 3 indices")
    check({**marker, "indices": [0, 1, 3, 2]}, r"shard 0 .* its file's indices differ from its marker's")
    check({**marker, "indices": [0, 1, 2, 4]}, r"shard 0 .* index 4, outside the shard's 0\.\.3")
    check({**marker, "file": "records/shard-00009.parquet"}, r"shard 0 .* its file '.*shard-00009.parquet' is missing")
    shard_one = json.loads((store / "commits" / "shard-00001.json").read_text())
    (store / "commits" / "shard-00001.json").write_text(json.dumps({**shard_one, "skipped": [{"index": 2}]}))
    with pytest.raises(xw.XWidgetsError, match=r"shard 1 .* index 2, outside the shard's 4\.\.7"):
        open_run(store).validate()
    (store / "commits" / "shard-00001.json").write_text(json.dumps(shard_one))
    open_run(store).validate()

    group = zarr.open_group(str(store / "arrays.zarr"), mode="r+")
    group["thumbnail_maps"].resize((9, 4, 4))
    with pytest.raises(xw.XWidgetsError, match=r"thumbnail_maps' has shape \(9, 4, 4\).*expected \(10, 4, 4\)"):
        open_run(store).validate()


def test_a_damaged_marker_is_named(tmp_path):
    write_store(tmp_path / "run")
    (tmp_path / "run" / "commits" / "shard-00002.json").write_text('{"shard": 2, "ind')
    with pytest.raises(xw.XWidgetsError, match=r"commit marker '.*shard-00002\.json' is damaged"):
        open_run(tmp_path / "run")


def toy_manifest(source, preprocessing, input_size):
    description = {**source.describe(), "fingerprint": source.fingerprint(), "count": len(source)}
    return manifest(len(source), 4, size=input_size, source=description, model__preprocessing=preprocessing)


def test_image_reopens_the_source_and_applies_the_models_geometry(tmp_path):
    source = xw.data.toy(6, seed=3, size=64)
    geometry = {"resize": 40, "crop": [32, 32]}
    RunWriter.open(tmp_path / "run", toy_manifest(source, geometry, 32))
    run = open_run(tmp_path / "run")
    image = run.image(4)
    model = Model(torch.nn.Identity().eval(), preprocessing=Preprocessing(resize=40, crop=(32, 32)))
    expected = model.prepare(source.load(4))[0]
    assert image.shape == (3, 32, 32)
    torch.testing.assert_close(image, expected)
    torch.testing.assert_close(run.image(4, source=source), expected)
    with pytest.raises(xw.XWidgetsError, match=r"source: got a source of 5 images"):
        run.image(0, source=xw.data.toy(5, seed=3, size=64))
    with pytest.raises(xw.XWidgetsError, match=r"source: got a source with fingerprint .* \(its files or contents"):
        run.image(0, source=xw.data.toy(6, seed=4, size=64))


def test_image_of_a_torch_dataset_needs_the_source(tmp_path):
    images = torch.rand(6, 3, 16, 16)
    source = xw.data.as_source(images)
    RunWriter.open(tmp_path / "run", toy_manifest(source, {"resize": None, "crop": None}, 16))
    run = open_run(tmp_path / "run")
    with pytest.raises(xw.XWidgetsError, match=r"source: got None, and this run's tensor source cannot be reopened"):
        run.image(1)
    torch.testing.assert_close(run.image(1, source=images), images[1])


def test_a_store_reads_with_plain_pyarrow_dataset(tmp_path):
    write_store(tmp_path / "run", count=10, shard_size=4, skip={1})
    markers = sorted((tmp_path / "run" / "commits").glob("*.json"))
    files = [str(tmp_path / "run" / json.loads(m.read_text())["file"]) for m in markers]
    assert pq.ParquetDataset(files).read().num_rows == 9


def write_large_store(path, count=50_000, shard_size=256):
    """A store of ``count`` images in shards of ``shard_size`` with 8x8 maps, written through RunWriter."""
    writer = RunWriter.open(path, manifest(count, shard_size, size=8, thumb=4))
    for shard in writer.pending_shards():
        writer.write_shard(shard, result(writer, shard, skip={shard * shard_size}))
    return writer


@pytest.mark.slow
def test_a_store_of_50000_images_opens_in_under_a_second_without_reading_arrays(tmp_path):
    store = tmp_path / "run"
    write_large_store(store)
    started = time.perf_counter()
    run = open_run(store)
    count, skipped = run.count, len(run.skipped)
    seconds = time.perf_counter() - started
    assert (count, skipped, run.total, run.complete) == (50_000 - 196, 196, 50_000, True)
    assert seconds < 1.0, f"open_run took {seconds:.2f} s"
    (store / "arrays.zarr").rename(tmp_path / "arrays-away")
    hidden = open_run(store)
    assert (hidden.count, len(hidden.skipped), hidden.complete) == (count, skipped, True)
    assert hidden.item(49_999)["index"] == 49_999, "records never touch the arrays"
    (tmp_path / "arrays-away").rename(store / "arrays.zarr")
    started = time.perf_counter()
    assert hidden.map(49_999).shape == (8, 8)
    assert time.perf_counter() - started < 1.0
