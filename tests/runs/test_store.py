"""The run store's writer: round trip read by plain pyarrow/pandas/zarr, atomic commits, resumption, refusals."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zarr

import xwidgets as xw
from tests.runs.store_helpers import manifest, map_of, record, result, write_store
from xwidgets.runs import records as records_module
from xwidgets.runs.manifest import DEFINING_FIELDS
from xwidgets.runs.store import RECORD_TYPES, RunWriter, open_run, record_schema, records_table


def test_round_trip_reads_with_plain_libraries(tmp_path):
    store = tmp_path / "run"
    write_store(store, count=10, shard_size=4, skip={5})
    files = sorted((store / "records").glob("*.parquet"))
    assert [f.name for f in files] == ["shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet"]
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    assert frame["index"].tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    want = record(7, 1)
    got = frame.set_index("index").loc[7]
    for column in ("id", "label_name", "predicted", "target_name", "outputs", "gt_pointing"):
        assert got[column] == want[column], column
    assert list(got["top_classes"]) == want["top_classes"]
    assert got["deletion_auc"] == pytest.approx(want["deletion_auc"], abs=1e-6)
    assert pq.read_metadata(files[0]).row_group(0).column(0).compression == "ZSTD"
    assert pq.read_schema(files[0]).equals(record_schema(), check_metadata=False)

    group = zarr.open_group(str(store / "arrays.zarr"), mode="r")
    assert group["maps"].shape == (10, 8, 8) and group["maps"].dtype == np.float16
    assert group["maps"].chunks == (1, 8, 8)
    np.testing.assert_allclose(group["maps"][7], map_of(7, 8), atol=5e-4)
    assert group["thumbnails"][7].shape == (4, 4, 3) and int(group["thumbnails"][7][0, 0, 0]) == 14
    assert int(group["thumbnail_maps"][9][0, 0]) == 12
    assert not group["maps"][5].any(), "a skipped image leaves its row empty"

    marker = json.loads((store / "commits" / "shard-00001.json").read_text())
    assert marker["indices"] == [4, 6, 7] and marker["rows"] == 3
    assert marker["skipped"] == [{"index": 5, "id": "toy-0-5", "path": "/data/5.png", "error": "corrupt PNG"}]
    assert set(marker) == {"shard", "indices", "skipped", "rows", "file", "sha256", "seconds", "written_at"}
    stored = json.loads((store / "manifest.json").read_text())
    assert stored["format"] == "xwidgets-run" and stored["format_version"] == 1
    assert stored["versions"]["xwidgets"] == xw.__version__ and stored["created"]
    assert list((store / "tmp").iterdir()) == []


def test_schema_has_the_record_columns_of_the_kernel():
    assert tuple(name for name, _, _ in RECORD_TYPES) == records_module.RECORD_COLUMNS


def test_missing_nullable_key_writes_null_and_bad_records_name_the_column():
    minimal = {k: v for k, v in record(0, 0).items() if k not in ("path", "label", "correct", "roots", "gt_iou")}
    table = records_table([minimal], shard=0)
    assert table.column("label").to_pylist() == [None] and table.column("roots").to_pylist() == [None]
    with pytest.raises(xw.XWidgetsError, match=r"unknown column 'colour'"):
        records_table([{**record(0, 0), "colour": 1}], shard=0)
    with pytest.raises(xw.XWidgetsError, match=r"column 'predicted'.*int64"):
        records_table([{**record(0, 0), "predicted": "cat"}], shard=0)
    with pytest.raises(xw.XWidgetsError, match=r"required column 'confidence'"):
        records_table([{**record(0, 0), "confidence": None}], shard=0)
    no_shard = {k: v for k, v in record(0, 0).items() if k != "shard"}
    assert records_table([no_shard], shard=3).column("shard").to_pylist() == [3]


def test_pending_shards_after_some_commits(tmp_path):
    writer = write_store(tmp_path / "run", count=10, shard_size=4, shards=[1])
    assert writer.shard_count == 3 and writer.shard_indices(2) == range(8, 10)
    assert writer.pending_shards() == [0, 2]
    again = RunWriter.open(tmp_path / "run", manifest(10, 4))
    assert again.pending_shards() == [0, 2]
    again.write_shard(2, result(again, 2))
    assert RunWriter.open(tmp_path / "run", manifest(10, 4)).pending_shards() == [0]


def test_crash_before_the_marker_is_ignored_and_recomputed(tmp_path, monkeypatch):
    store = tmp_path / "run"
    writer = write_store(store, count=10, shard_size=4, shards=[0])
    broken = result(writer, 1)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed before the marker")

    monkeypatch.setattr("xwidgets.runs.store.write_json_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        writer.write_shard(1, broken)
    monkeypatch.undo()
    assert (store / "records" / "shard-00001.parquet").exists(), "the parquet file is there, the marker is not"
    assert not (store / "commits" / "shard-00001.json").exists()

    run = open_run(store)
    assert run.count == 4 and run.records.column("index").to_pylist() == [0, 1, 2, 3]
    resumed = RunWriter.open(store, manifest(10, 4))
    assert resumed.pending_shards() == [1, 2]
    assert list((store / "tmp").iterdir()) == [], "opening for writing empties the staging folder"
    for shard in resumed.pending_shards():
        resumed.write_shard(shard, result(resumed, shard))
    run = open_run(store)
    run.validate()
    assert run.complete and run.column("index").tolist() == list(range(10))


def test_a_committed_shard_is_never_rewritten(tmp_path):
    writer = write_store(tmp_path / "run", shards=[0])
    with pytest.raises(xw.XWidgetsError, match=r"shard 0 .* already committed"):
        writer.write_shard(0, result(writer, 0))


def test_results_outside_the_shard_or_incomplete_are_refused(tmp_path):
    writer = write_store(tmp_path / "run", count=10, shard_size=4, shards=[])
    other = result(writer, 1)
    with pytest.raises(xw.XWidgetsError, match=r"each index of 0\.\.3 exactly once"):
        writer.write_shard(0, other)
    partial = result(writer, 0)
    partial.indices, partial.records = partial.indices[:3], partial.records[:3]
    with pytest.raises(xw.XWidgetsError, match=r"3 records and 0 skipped for shard 0"):
        writer.write_shard(0, partial)
    wrong_maps = result(writer, 0)
    wrong_maps.maps = wrong_maps.maps[:, :4]
    with pytest.raises(xw.XWidgetsError, match=r"result\.maps.*shape \(4, 4, 8\).*\(4, 8, 8\)"):
        writer.write_shard(0, wrong_maps)
    out_of_range = result(writer, 0)
    out_of_range.maps = out_of_range.maps * 3
    with pytest.raises(xw.XWidgetsError, match=r"result\.maps.*finite values in \[0, 1\]"):
        writer.write_shard(0, out_of_range)
    with pytest.raises(xw.XWidgetsError, match=r"shard.*0\.\.2"):
        writer.shard_indices(3)
    assert writer.pending_shards() == [0, 1, 2] and not list((tmp_path / "run" / "commits").iterdir())


CHANGED = {
    "method": "gradcam",
    "params": {"iterations": 6},
    "seed": 1,
    "target": "label",
    "top_k": 3,
    "metrics": False,
    "model.fingerprint": "1111111111111111",
    "source.fingerprint": "2222222222222222",
    "source.count": 11,
    "shard_size": 5,
    "map_shape": [8, 9],
    "thumbnail_size": 5,
    "versions.xwidgets": "9.9.9",
}


@pytest.mark.parametrize("field", [f for f in DEFINING_FIELDS if f != "format_version"])
def test_another_run_in_the_store_names_the_first_differing_field(tmp_path, field):
    write_store(tmp_path / "run", count=10, shard_size=4, shards=[0])
    other = manifest(10, 4)
    other["versions"] = {"xwidgets": xw.__version__}
    *parents, last = field.split(".")
    target = other
    for key in parents:
        target = target[key]
    target[last] = CHANGED[field]
    stored = json.loads((tmp_path / "run" / "manifest.json").read_text())
    old = stored
    for key in field.split("."):
        old = old[key]
    with pytest.raises(xw.XWidgetsError) as caught:
        RunWriter.open(tmp_path / "run", other)
    message = str(caught.value)
    assert f"its {field} is {old!r}, this run's is {CHANGED[field]!r}" in message
    assert "overwrite=True" in message and "another store=" in message


def test_overwrite_recreates_the_store(tmp_path):
    write_store(tmp_path / "run", count=10, shard_size=4)
    writer = RunWriter.open(tmp_path / "run", manifest(10, 4, method="gradcam"), overwrite=True)
    assert writer.pending_shards() == [0, 1, 2]
    assert not list((tmp_path / "run" / "records").iterdir())
    assert open_run(tmp_path / "run").method == "gradcam"


def test_a_directory_that_is_not_a_store_is_never_touched(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.png").write_bytes(b"not yours")
    for overwrite in (False, True):
        with pytest.raises(xw.XWidgetsError, match=r"store.*not a run store \(no manifest\.json\)"):
            RunWriter.open(folder, manifest(), overwrite=overwrite)
    assert [p.name for p in folder.iterdir()] == ["cat.png"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert RunWriter.open(empty, manifest()).pending_shards() == [0, 1, 2]
    assert not [p for p in tmp_path.iterdir() if ".creating-" in p.name], "no staging directory is left"


def test_a_manifest_missing_a_defining_field_is_refused(tmp_path):
    bad = manifest()
    del bad["model"]["fingerprint"]
    with pytest.raises(xw.XWidgetsError, match=r"manifest: missing model\.fingerprint"):
        RunWriter.open(tmp_path / "run", bad)
    with pytest.raises(xw.XWidgetsError, match=r"manifest: shard_size=0"):
        RunWriter.open(tmp_path / "run", manifest(shard_size=0))
    assert not (tmp_path / "run").exists()


def test_missing_pyarrow_or_zarr_says_how_to_install(tmp_path, monkeypatch):
    for module in ("pyarrow", "zarr"):
        with monkeypatch.context() as patch:
            patch.setitem(__import__("sys").modules, module, None)
            with pytest.raises(xw.XWidgetsError, match=r"needs pyarrow and zarr: pip install 'xwidgets\[datasets\]'"):
                RunWriter.open(tmp_path / "run", manifest())
    assert not (tmp_path / "run").exists()
    write_store(tmp_path / "run")
    run = open_run(tmp_path / "run")
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)
    with pytest.raises(xw.XWidgetsError, match=r"Run\.records needs pyarrow and zarr"):
        run.records  # noqa: B018


def test_plain_tables_concatenate_with_the_schema(tmp_path):
    write_store(tmp_path / "run", count=10, shard_size=4)
    table = pa.concat_tables(pq.read_table(f) for f in sorted((tmp_path / "run" / "records").iterdir()))
    assert table.num_rows == 10 and table.schema.field("correct").nullable
    assert os.path.getsize(tmp_path / "run" / "manifest.json") < 4096
