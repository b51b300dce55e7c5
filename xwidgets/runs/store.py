"""The on-disk store of a dataset run: :class:`RunWriter` writes it shard by shard, :func:`open_run` reads it.

A store is a directory that pyarrow/pandas, zarr and json read without xwidgets::

    manifest.json                  the run's definition (xwidgets.runs.manifest), written once, atomically
    records/shard-00000.parquet    one Parquet file (zstd) per committed shard, rows sorted by index
    arrays.zarr/                   maps, thumbnails, thumbnail_maps, row = source index (xwidgets.runs.arrays)
    commits/shard-00000.json       the commit marker of a shard, written last
    tmp/                           staging, emptied whenever the store is opened for writing

Shard ``s`` covers the source indices ``[s * shard_size, min((s + 1) * shard_size, count))``; it is committed
iff its marker exists. A commit writes the array rows, then the Parquet file to tmp/, renames it into records/,
then renames the marker into commits/ (each file fsynced before its rename). A run killed at any point leaves
at most array rows and a Parquet file without a marker: readers ignore them and a resumed run recomputes the
shard whole, rewriting the same rows. Every image therefore appears exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import XWidgetsError, invalid, one_of
from .arrays import array_specs, create_arrays, open_arrays, write_rows
from .manifest import complete_manifest, first_difference, fsync_directory, read_manifest, write_json_atomic

if TYPE_CHECKING:
    import pandas
    import pyarrow
    import torch

    from ..data.sources import ImageSource
    from .records import ShardResult

__all__ = ["RECORD_TYPES", "record_schema", "RunWriter", "Run", "open_run", "require_libraries"]

#: The per-image record columns: ``(name, type, nullable)``; types are pyarrow type names, ``list<...>`` lists.
RECORD_TYPES: tuple[tuple[str, str, bool], ...] = (
    ("index", "int64", False),
    ("id", "string", False),
    ("path", "string", True),
    ("label", "int64", True),
    ("label_name", "string", True),
    ("shard", "int32", False),
    ("top_classes", "list<int64>", False),
    ("top_scores", "list<float32>", False),
    ("predicted", "int64", False),
    ("predicted_name", "string", True),
    ("confidence", "float32", False),
    ("correct", "bool_", True),
    ("target", "int64", False),
    ("target_name", "string", True),
    ("target_score", "float32", False),
    ("deletion_auc", "float32", True),
    ("insertion_auc", "float32", True),
    ("gt_energy", "float32", True),
    ("gt_pointing", "bool_", True),
    ("gt_iou", "float32", True),
    ("roots", "list<list<int64>>", True),
    ("dnf", "string", True),
    ("outputs", "string", False),
    ("seconds", "float32", False),
)
_COLUMN_NAMES = tuple(name for name, _, _ in RECORD_TYPES)
_INSTALL = "pip install 'xwidgets[datasets]'"


def require_libraries(what: str) -> tuple[Any, Any]:
    """Import ``(pyarrow, zarr)``, or raise XWidgetsError saying that ``what`` needs them and how to install."""
    try:
        import pyarrow
        import pyarrow.parquet
        import zarr
    except ImportError as error:  # the reason is kept: an installed zarr can fail on a dependency of its own
        raise XWidgetsError(f"{what} needs pyarrow and zarr: {_INSTALL} ({error})") from None
    return pyarrow, zarr


def _arrow_type(pa: Any, name: str) -> Any:
    if name.startswith("list<"):
        return pa.list_(_arrow_type(pa, name[5:-1]))
    return getattr(pa, name)()


@lru_cache(maxsize=1)
def record_schema() -> pyarrow.Schema:
    """The Parquet schema of the records (:data:`RECORD_TYPES`), built once; every shard is written with it."""
    pa, _ = require_libraries("the run store")
    return pa.schema([pa.field(name, _arrow_type(pa, kind), nullable=null) for name, kind, null in RECORD_TYPES])


def __getattr__(name: str) -> Any:
    if name == "RECORD_SCHEMA":
        return record_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def records_table(records: Sequence[dict], shard: int) -> pyarrow.Table:
    """The records of one shard as a table of :func:`record_schema`; ``shard`` fills a missing ``shard`` key.

    A missing nullable key writes null; an unknown key, a missing required key or a value of the wrong type
    raises XWidgetsError naming the column."""
    pa, _ = require_libraries("the run store")
    schema = record_schema()
    for position, record in enumerate(records):
        unknown = sorted(set(record) - set(_COLUMN_NAMES))
        if unknown:
            raise XWidgetsError(
                f"records[{position}] has unknown column {unknown[0]!r}; the columns are {one_of(_COLUMN_NAMES)}"
            )
    columns = []
    for field in schema:
        values = [record.get(field.name, shard if field.name == "shard" else None) for record in records]
        if not field.nullable and any(value is None for value in values):
            position = next(k for k, value in enumerate(values) if value is None)
            raise XWidgetsError(f"records[{position}] has no value for the required column {field.name!r}")
        try:
            columns.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as error:
            raise XWidgetsError(f"column {field.name!r}: values do not convert to {field.type} ({error})") from None
    return pa.Table.from_arrays(columns, schema=schema)


def _shard_name(shard: int) -> str:
    return f"shard-{shard:05d}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RunWriter:
    """Writes a store shard by shard; one process writes a store (the Ray engine writes from its driver).

    Use :meth:`open`, not the constructor. Attributes: ``path``, ``manifest`` (as stored), ``count`` (images in
    the source), ``shard_size``, ``shard_count``."""

    def __init__(self, path: Path, manifest: dict):
        self.path = path
        self.manifest = manifest
        self.count: int = manifest["source"]["count"]
        self.shard_size: int = manifest["shard_size"]
        self.shard_count = -(-self.count // self.shard_size)
        self._committed = {int(file.stem.split("-")[1]) for file in (path / "commits").glob("shard-*.json")}
        self._arrays: Any = None

    @classmethod
    def open(cls, path: str | os.PathLike, manifest: dict, *, overwrite: bool = False) -> RunWriter:
        """Open the store at ``path`` for writing, creating it from ``manifest`` where there is none.

        An existing store must have been written for the same run: the first of the manifest's defining fields
        (:data:`xwidgets.runs.manifest.DEFINING_FIELDS`) that differs raises XWidgetsError with both values,
        unless ``overwrite=True``, which deletes the store and creates it anew. A directory that is neither
        empty nor a store is never touched. Opening empties tmp/."""
        require_libraries("writing a run store")
        wanted = complete_manifest(manifest)
        store = Path(path)
        if store.exists() and not store.is_dir():
            raise invalid("store", f"'{store}', which is a file", "a directory for the run store")
        if store.is_dir() and any(store.iterdir()):
            if not (store / "manifest.json").is_file():
                raise invalid(
                    "store",
                    f"'{store}', a non-empty directory that is not a run store (no manifest.json)",
                    "an empty or new directory, or an existing run store",
                )
            stored = read_manifest(store)
            if overwrite:
                shutil.rmtree(store)
            else:
                _check_same_run(store, stored, wanted)
                writer = cls(store, stored)
                writer._empty_staging()
                return writer
        _create_store(store, wanted)
        return cls(store, wanted)

    def shard_indices(self, shard: int) -> range:
        """The source indices of ``shard``: ``range(shard * shard_size, min((shard + 1) * shard_size, count))``."""
        if not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < self.shard_count:
            raise invalid("shard", shard, f"a shard number in 0..{self.shard_count - 1}")
        return range(shard * self.shard_size, min((shard + 1) * self.shard_size, self.count))

    def pending_shards(self) -> list[int]:
        """The shards without a commit marker, ascending: what a resumed run still has to compute."""
        return [shard for shard in range(self.shard_count) if shard not in self._committed]

    def write_shard(self, shard: int, result: ShardResult) -> None:
        """Commit one shard's result atomically: array rows, Parquet to tmp/ and into records/, marker last.

        ``result`` (:class:`xwidgets.runs.records.ShardResult`) must hold every index of the shard exactly once,
        either as a record or as skipped; a shard already committed is refused (XWidgetsError)."""
        if shard in self._committed:
            raise XWidgetsError(
                f"shard {shard} of '{self.path}' is already committed; a store never rewrites a committed shard"
            )
        indices = self._check_result(shard, result)
        table = records_table(result.records, shard)
        self._write_arrays(indices, result)
        name = _shard_name(shard)
        staged = self.path / "tmp" / f"{name}.parquet"
        digest = _write_parquet(table, staged)
        os.replace(staged, self.path / "records" / f"{name}.parquet")
        fsync_directory(self.path / "records")
        marker = {
            "shard": shard,
            "indices": indices,
            "skipped": [_skipped_entry(entry) for entry in result.skipped],
            "rows": table.num_rows,
            "file": f"records/{name}.parquet",
            "sha256": digest,
            "seconds": float(result.seconds),
            "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        write_json_atomic(marker, self.path / "commits" / f"{name}.json", self.path / "tmp" / f"{name}.json")
        self._committed.add(shard)

    def _check_result(self, shard: int, result: ShardResult) -> list[int]:
        """The result's indices as ints, after checking they and the skipped ones cover the shard exactly once
        and that the records and arrays have one row per index of the right shape."""
        expected = self.shard_indices(shard)
        indices = [int(i) for i in result.indices]
        skipped = [int(entry["index"]) for entry in result.skipped]
        if indices != sorted(set(indices)):
            raise invalid("result.indices", indices[:8], "ascending indices without repeats")
        if sorted(indices + skipped) != list(expected):
            raise invalid(
                "result",
                f"{len(indices)} records and {len(skipped)} skipped for shard {shard}",
                f"each index of {expected.start}..{expected.stop - 1} exactly once, as a record or skipped",
            )
        if [record.get("index") for record in result.records] != indices:
            raise invalid("result.records", "records whose 'index' values differ from result.indices", "one each")
        specs = array_specs(len(indices), self.manifest["map_shape"], self.manifest["thumbnail_size"])
        for name, (shape, _) in specs.items():
            value = np.asarray(getattr(result, name))
            if value.shape != shape:
                raise invalid(f"result.{name}", f"shape {value.shape}", f"shape {shape}")
        maps = np.asarray(result.maps)
        if maps.size and not (np.isfinite(maps).all() and maps.min() >= -1e-3 and maps.max() <= 1 + 1e-3):
            raise invalid("result.maps", f"values in [{maps.min()}, {maps.max()}]", "finite values in [0, 1]")
        return indices

    def _write_arrays(self, indices: list[int], result: ShardResult) -> None:
        if self._arrays is None:
            self._arrays = open_arrays(self.path / "arrays.zarr", mode="r+")
        maps = np.clip(np.asarray(result.maps, dtype=np.float32), 0.0, 1.0).astype(np.float16)
        write_rows(self._arrays["maps"], indices, maps)
        write_rows(self._arrays["thumbnails"], indices, np.asarray(result.thumbnails, dtype=np.uint8))
        write_rows(self._arrays["thumbnail_maps"], indices, np.asarray(result.thumbnail_maps, dtype=np.uint8))

    def _empty_staging(self) -> None:
        staging = self.path / "tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()

    def __repr__(self) -> str:
        done = len(self._committed)
        return f"RunWriter('{self.path}': {done} / {self.shard_count} shards committed)"


def _check_same_run(store: Path, stored: dict, wanted: dict) -> None:
    difference = first_difference(stored, wanted)
    if difference is not None:
        field, old, new = difference
        raise XWidgetsError(
            f"store='{store}' holds another run: its {field} is {old!r}, this run's is {new!r}. Pass "
            "overwrite=True to replace it, or another store= to keep both"
        )


def _create_store(store: Path, manifest: dict) -> None:
    """Build the whole empty store in a sibling directory, then rename it into place (atomic creation)."""
    store.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{store.name}.creating-", dir=store.parent))
    try:
        for folder in ("records", "commits", "tmp"):
            (building / folder).mkdir()
        count = manifest["source"]["count"]
        create_arrays(building / "arrays.zarr", count, manifest["map_shape"], manifest["thumbnail_size"])
        write_json_atomic(manifest, building / "manifest.json", building / "tmp" / "manifest.json")
        os.replace(building, store)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    fsync_directory(store.parent)


def _write_parquet(table: pyarrow.Table, file: Path) -> str:
    """Write ``table`` to ``file`` (zstd), fsync it and return the sha256 of its bytes."""
    import pyarrow.parquet as pq

    pq.write_table(table, file, compression="zstd")
    with open(file, "rb") as handle:
        digest = _sha256(handle.read())
        os.fsync(handle.fileno())
    return digest


def _skipped_entry(entry: dict) -> dict:
    """A skipped image as stored: ``{index, id, path, error}`` with JSON types."""
    path = entry.get("path")
    return {
        "index": int(entry["index"]),
        "id": str(entry.get("id", entry["index"])),
        "path": None if path is None else str(path),
        "error": str(entry.get("error", "")),
    }


# ------------------------------------------------------------------------------------------------- reading
def open_run(path: str | os.PathLike) -> Run:
    """Open the run store at ``path`` for reading. Fast: reads the manifest and the commit markers only (no
    record, no array), so a store of 50,000 images opens in milliseconds.

    Raises XWidgetsError when ``path`` is not a run store, was written by a newer xwidgets, or a marker is
    damaged. Records and arrays load lazily (:attr:`Run.records`, :meth:`Run.map`)."""
    if not isinstance(path, (str, os.PathLike)):
        raise invalid("path", path, "the directory of a run store (str or Path)")
    store = Path(path)
    return Run(store, read_manifest(store), _read_markers(store))


def _read_markers(store: Path) -> list[dict]:
    """The commit markers of ``store``, in shard order."""
    markers = []
    for file in sorted((store / "commits").glob("shard-*.json")):
        try:
            marker = json.loads(file.read_text())
            _ = marker["shard"], marker["indices"], marker["skipped"], marker["file"], marker["sha256"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise XWidgetsError(
                f"commit marker '{file}' is damaged ({error!r}): delete it and call explain_dataset again to "
                "recompute that shard"
            ) from None
        markers.append(marker)
    return markers


class Run:
    """A stored dataset run, read lazily: the manifest and markers at once, records and arrays on first use.

    Attributes:
        path: the store directory.
        manifest: the run's manifest (dict).
        method: the method's name, e.g. ``"igos"``.
        params: the method's resolved parameters.
        total: images in the source.
        count: images with a record (committed, not skipped).
        complete: whether every shard is committed.
        skipped: ``{index, id, path, error}`` of each unreadable image of the committed shards.

    A Run is a snapshot: shards committed after :func:`open_run` appear when the store is opened again."""

    def __init__(self, path: Path, manifest: dict, markers: list[dict]):
        self.path = path
        self.manifest = manifest
        self.method: str = manifest["method"]
        self.params: dict = manifest["params"]
        self.total: int = manifest["source"]["count"]
        self.shard_size: int = manifest["shard_size"]
        self.shard_count = -(-self.total // self.shard_size)
        self.markers = markers
        self.count = sum(len(marker["indices"]) for marker in markers)
        self.complete = len(markers) == self.shard_count
        self.skipped: list[dict] = [entry for marker in markers for entry in marker["skipped"]]
        self._source: ImageSource | None = None

    # ---------------------------------------------------------------------------------------- records
    @cached_property
    def records(self) -> pyarrow.Table:
        """Every committed record, one row per image, sorted by ``index`` (:data:`RECORD_TYPES`). Read once,
        from the committed Parquet files only; XWidgetsError naming a file whose bytes do not match its marker."""
        pa, _ = require_libraries("Run.records")
        if not self.markers:
            return record_schema().empty_table()
        return pa.concat_tables([self._read_shard(marker) for marker in self.markers])

    def _read_shard(self, marker: dict) -> pyarrow.Table:
        table, problem = self._load_shard(marker)
        if problem is not None:
            raise self._bad_shard(marker, problem)
        return table

    def _load_shard(self, marker: dict) -> tuple[Any, str | None]:
        """``(table, None)``, or ``(None, problem)`` when the shard's file is missing or not its marker's bytes."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        file = self.path / marker["file"]
        try:
            data = file.read_bytes()
        except OSError:
            return None, f"its file '{file}' is missing"
        if _sha256(data) != marker["sha256"]:
            return None, f"'{file}' does not match its sha256 (truncated or changed)"
        return pq.read_table(pa.BufferReader(data)), None

    def _bad_shard(self, marker: dict, problem: str) -> XWidgetsError:
        name = _shard_name(marker["shard"])
        return XWidgetsError(
            f"shard {marker['shard']} of '{self.path}' is damaged: {problem}. Call run.repair() (or delete "
            f"commits/{name}.json) and then explain_dataset again to recompute it"
        )

    def to_pandas(self) -> pandas.DataFrame:
        """The records as a pandas DataFrame (one row per image, sorted by ``index``)."""
        return self.records.to_pandas()

    def column(self, name: str) -> np.ndarray:
        """One record column as a numpy array (object arrays for strings and lists; NaN/None for nulls)."""
        if name not in self.records.column_names:
            raise invalid("name", repr(name), one_of(self.records.column_names))
        return self.records.column(name).to_numpy(zero_copy_only=False)

    @cached_property
    def _row_of(self) -> dict[int, int]:
        return {int(index): row for row, index in enumerate(self.column("index"))}

    def item(self, index: int) -> dict:
        """The record of source image ``index`` as a dict of Python values."""
        row = self._row(index)
        return {name: values[0] for name, values in self.records.slice(row, 1).to_pydict().items()}

    def _row(self, index: int) -> int:
        """The records row of source index ``index``; XWidgetsError saying why an index has no record."""
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < self.total:
            raise invalid("index", index, f"a source index in 0..{self.total - 1}")
        row = self._row_of.get(int(index))
        if row is not None:
            return row
        for entry in self.skipped:
            if entry["index"] == index:
                given = f"{index}, an image the run skipped ({entry['error']})"
                raise invalid("index", given, "an image with a record")
        given = f"{index}, whose shard is not committed yet"
        raise invalid("index", given, "an image with a record (resume the run to compute it)")

    # ----------------------------------------------------------------------------------------- arrays
    @cached_property
    def _arrays(self) -> Any:
        require_libraries("Run.maps")
        return open_arrays(self.path / "arrays.zarr")

    @property
    def maps(self) -> Any:
        """The zarr array of maps ``[total, H, W]`` float16 (row = source index; rows without a record are 0).
        Lazy: indexing it reads only the chunks asked for."""
        return self._arrays["maps"]

    def map(self, index: int) -> np.ndarray:
        """The map of source image ``index``: ``[H, W]`` float32 in [0, 1], high = important (one chunk read)."""
        self._row(index)
        return np.asarray(self.maps[int(index)], dtype=np.float32)

    def thumbnail(self, index: int) -> np.ndarray:
        """The thumbnail of source image ``index``: ``[T, T, 3]`` uint8 (one chunk read)."""
        self._row(index)
        return np.asarray(self._arrays["thumbnails"][int(index)])

    def thumbnail_map(self, index: int) -> np.ndarray:
        """The map of source image ``index`` at thumbnail size: ``[T, T]`` uint8, map * 255 (one chunk read)."""
        self._row(index)
        return np.asarray(self._arrays["thumbnail_maps"][int(index)])

    # ----------------------------------------------------------------------------------------- images
    def image(self, index: int, source: object = None) -> torch.Tensor:
        """Source image ``index`` as the model saw it: ``[3, H, W]`` float32 pixel image in [0, 1] at the
        model's input size (its resize, then its centre crop, as recorded in ``manifest["model"]``).

        The source is reopened from the manifest's description, or ``source`` is used (needed where the run's
        source cannot be reopened, e.g. a torch Dataset). The source must have the run's image count and
        fingerprint: XWidgetsError otherwise."""
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < self.total:
            raise invalid("index", index, f"a source index in 0..{self.total - 1}")
        image = self._image_source(source).load(int(index))
        return _model_geometry(image, self.manifest["model"])

    def _image_source(self, source: object) -> ImageSource:
        from ..data import as_source, from_description

        if source is None:
            if self._source is None:
                reopened = from_description(self.manifest["source"])
                if reopened is None:
                    kind = self.manifest["source"].get("kind")
                    raise invalid(
                        "source",
                        f"None, and this run's {kind} source cannot be reopened from its description",
                        "the run's source: run.image(index, source=dataset)",
                    )
                self._source = self._check_source(reopened, "the reopened source")
            return self._source
        return self._check_source(as_source(source, "source"), "source")

    def _check_source(self, source: ImageSource, name: str) -> ImageSource:
        stored = self.manifest["source"]
        if len(source) != self.total:
            raise invalid(name, f"a source of {len(source)} images", f"this run's source of {self.total} images")
        if source.fingerprint() != stored.get("fingerprint"):
            raise invalid(
                name,
                f"a source with fingerprint {source.fingerprint()} (its files or contents changed)",
                f"this run's source, fingerprint {stored.get('fingerprint')}",
            )
        return source

    # --------------------------------------------------------------------------------------- checking
    def validate(self) -> None:
        """Check the whole store; XWidgetsError naming the first problem's shard or file.

        Each marker's Parquet file exists and matches its sha256, holds exactly the marker's indices (in order)
        and they lie in the marker's shard; no index is in two shards; the arrays have the manifest's shapes."""
        problems = self._shard_problems()
        if problems:
            marker, problem = problems[0]
            raise self._bad_shard(marker, problem)
        self._check_arrays()

    def repair(self) -> list[int]:
        """Delete the commit markers of damaged shards (those :meth:`validate` rejects), so that calling
        ``explain_dataset`` again recomputes them; returns the shard numbers removed. Reopen the run after."""
        removed = []
        for marker, _ in self._shard_problems():
            (self.path / "commits" / f"{_shard_name(marker['shard'])}.json").unlink(missing_ok=True)
            removed.append(marker["shard"])
        return sorted(set(removed))

    def _shard_problems(self) -> list[tuple[dict, str]]:
        """``(marker, problem)`` for each damaged shard, in shard order."""
        problems: list[tuple[dict, str]] = []
        owner: dict[int, int] = {}
        for marker in self.markers:
            problem = self._marker_problem(marker, owner)
            if problem is None:
                table, problem = self._load_shard(marker)
                problem = problem or _table_problem(table, marker)
            if problem is not None:
                problems.append((marker, problem))
        return problems

    def _marker_problem(self, marker: dict, owner: dict[int, int]) -> str | None:
        shard = marker["shard"]
        if not isinstance(shard, int) or not 0 <= shard < self.shard_count:
            return f"its marker names shard {shard!r}, outside 0..{self.shard_count - 1}"
        span = range(shard * self.shard_size, min((shard + 1) * self.shard_size, self.total))
        indices = [entry["index"] for entry in marker["skipped"]] + list(marker["indices"])
        outside = [i for i in indices if i not in span]
        if outside:
            return f"its marker lists index {outside[0]}, outside the shard's {span.start}..{span.stop - 1}"
        for index in indices:
            if index in owner:
                return f"index {index} is also in shard {owner[index]}"
            owner[index] = shard
        return None

    def _check_arrays(self) -> None:
        specs = array_specs(self.total, self.manifest["map_shape"], self.manifest["thumbnail_size"])
        for name, (shape, dtype) in specs.items():
            try:
                array = self._arrays[name]
            except (KeyError, FileNotFoundError):
                where = self.path / "arrays.zarr"
                raise XWidgetsError(f"'{where}' has no array {name!r}: the store is damaged") from None
            if tuple(array.shape) != shape or np.dtype(array.dtype) != np.dtype(dtype):
                raise XWidgetsError(
                    f"'{self.path / 'arrays.zarr' / name}' has shape {tuple(array.shape)} and dtype {array.dtype}, "
                    f"expected {shape} and {dtype} from the manifest: the store is damaged"
                )

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        state = "complete" if self.complete else "incomplete: call explain_dataset again to resume"
        return (
            f"Run('{self.path}': {self.method}, {self.count:,} / {self.total:,} images, "
            f"{len(self.skipped):,} skipped, {state})"
        )


def _table_problem(table: pyarrow.Table, marker: dict) -> str | None:
    """Why a shard's records disagree with its marker, or None."""
    if table.num_rows != len(marker["indices"]) or table.num_rows != marker.get("rows", table.num_rows):
        return f"its file has {table.num_rows} rows, its marker lists {len(marker['indices'])} indices"
    if table.column("index").to_pylist() != list(marker["indices"]):
        return "its file's indices differ from its marker's"
    return None


def _model_geometry(image: torch.Tensor, model: dict) -> torch.Tensor:
    """Apply the model's recorded preprocessing geometry to a ``[3, H, W]`` image in [0, 1]: resize (an int:
    the shorter side; ``[H, W]``: exactly), then centre crop; without a record, resize to ``input_size``."""
    import torch

    from ..core.images import resize_batch
    from ..core.models import Model, Preprocessing

    batch = image.unsqueeze(0).float()
    geometry = model.get("preprocessing")
    if geometry is None:
        return resize_batch(batch, tuple(model["input_size"]))[0]
    resize, crop = geometry.get("resize"), geometry.get("crop")
    preprocessing = Preprocessing(
        resize=resize if resize is None or isinstance(resize, int) else (int(resize[0]), int(resize[1])),
        crop=None if crop is None else (int(crop[0]), int(crop[1])),
    )
    return Model(torch.nn.Identity().eval(), preprocessing=preprocessing).prepare(batch, name="image")[0]
