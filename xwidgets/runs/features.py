"""A stored run as the data of a dataset-level method: its images, its maps and a features cache in the store.

``xw.fit(model, run, method="summaries" | "text" | "concepts")`` takes a :class:`~xwidgets.runs.store.Run`
(``xw.open_run(path)``) as ``data``. The kernels know runs only through
:class:`~xwidgets.core.sources.StoredImages`; :class:`RunImages` is that interface for a Run, registered with
:func:`~xwidgets.core.sources.register_stored` when this package is imported. What a fit reads:

- **images**: the run's explained images (committed, not skipped) in ascending source index, position i being
  the i-th of them, read a slice at a time with :meth:`Run.image` (the run's model's geometry; a model with
  another geometry gets the source's images prepared its own way). An incomplete run gives the images it has,
  with a warning saying how many are missing; a run with none is refused.
- **maps** (summaries): the stored maps, only for the model the run was made with (compared by weights
  fingerprint).
- **features** (text, concepts): one layer's dataset pass, cached by :func:`cached_features`.

The features cache of layer ``L`` is ``features/L.zarr`` (zarr format 2, readable without xwidgets) beside
``features/L.json``::

    features  [total, C] float32   the spatial mean of the layer's output (xwidgets.concepts.Features.features)
    logits    [total, K] float32   the classifier's logits
    present   [total]    bool      which rows hold an image's values (row = source index, as in arrays.zarr)

and the JSON ``{"format": "xwidgets-features", "layer", "layer_shape", "model": {"name", "fingerprint"},
"labels", "token", "rows", "written_at"}``. The cache is keyed by the layer (its file name) and the model's
fingerprint (in the JSON): another model's fit recomputes it. A write copies the cache to a staging directory,
adds the new rows, swaps it in with renames and writes the JSON last (atomically), with a token the zarr group's
attributes repeat: a reader uses the arrays only when both tokens agree, so a write killed at any point leaves a
cache that is read whole or recomputed, never half-read. A run resumed later adds rows for its new images only.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import warnings
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..concepts.features import Features
from ..core.errors import invalid
from ..core.models import Model
from ..core.sources import StoredImages, register_stored
from .arrays import numeric_arrays, write_rows
from .explain import model_fingerprint
from .manifest import fsync_directory, write_json_atomic
from .store import Run, require_libraries

__all__ = ["FEATURES_FORMAT", "RunImages", "run_images", "check_run_model", "cached_features", "features_paths"]

FEATURES_FORMAT = "xwidgets-features"
_ADAPTERS: weakref.WeakKeyDictionary[Run, RunImages] = weakref.WeakKeyDictionary()


def run_images(run: Run) -> RunImages:
    """The :class:`RunImages` of ``run`` (one per Run object, so a fit that reads it twice warns once)."""
    adapter = _ADAPTERS.get(run)
    if adapter is None:
        adapter = _ADAPTERS[run] = RunImages(run)
    return adapter


class RunImages(StoredImages):
    """The explained images of a :class:`~xwidgets.runs.store.Run` (or of a part of them), as the dataset-level
    kernels read them (:class:`~xwidgets.core.sources.StoredImages`).

    Attributes:
        run: the run.
        indices: ``[n]`` the source index of each position, ascending.
        rows: ``[n]`` the records row of each position.
    """

    def __init__(self, run: Run, rows: Sequence[int] | np.ndarray | None = None):
        self.run = run
        self.map_method = run.method
        self.map_params = {**run.params, "seed": run.manifest.get("seed", 0)}
        if rows is None:
            rows = range(run.count)
            _check_explained(run)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.indices = _committed_indices(run)[self.rows]

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getitem__(self, position: int) -> torch.Tensor:
        return self.run.image(int(self.indices[self._position(position)]))

    def __repr__(self) -> str:
        return f"RunImages({len(self)} images of {self.run!r})"

    def _position(self, position: int) -> int:
        if isinstance(position, bool) or not isinstance(position, (int, np.integer)) or not 0 <= position < len(self):
            raise invalid("index", position, f"an image position in 0..{len(self) - 1}")
        return int(position)

    def part(self, positions: Sequence[int] | np.ndarray) -> RunImages:
        """The images at ``positions`` (ascending) as a RunImages of their own."""
        return RunImages(self.run, self.rows[np.asarray(positions, dtype=np.int64)])

    def read(self, model: Model, start: int, stop: int) -> torch.Tensor:
        """Images ``start:stop`` as ``model`` sees them: ``run.image(i)`` when ``model`` prepares images as the
        run's model did, else the source's images prepared by ``model``."""
        indices = [int(i) for i in self.indices[start:stop]]
        if _same_geometry(model, self.run.manifest["model"]):
            return torch.stack([self.run.image(i) for i in indices]).to(model.device, model.dtype)
        source = self.run._image_source(None)
        return torch.cat([model.prepare(source.load(i), name=f"data[{i}]") for i in indices])

    def maps(self, model: Model, positions: Sequence[int]) -> torch.Tensor:
        """``[n, 1, H, W]`` float32: the stored maps of ``positions``, for the run's own model only."""
        check_run_model(self.run, model)
        indices = self.indices[np.asarray(positions, dtype=np.int64)]
        maps = self.run.maps.get_orthogonal_selection((indices, slice(None), slice(None)))
        return torch.from_numpy(np.asarray(maps, dtype=np.float32)).unsqueeze(1)

    def targets(self) -> torch.Tensor:
        return torch.from_numpy(self.run.column("target")[self.rows].astype(np.int64))

    def per_image(self, values: Any, name: str) -> Any:
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == len(self):
            return values
        if len(values) != self.run.total:
            raise invalid(
                name,
                f"{len(values)} values",
                f"one per explained image of the run ({len(self)}) or per image of its source ({self.run.total})",
            )
        return [values[int(i)] for i in self.indices]

    def cached_features(self, model: Model, layer: str, compute: Callable[[StoredImages], Any]) -> Features:
        return cached_features(self, model, layer, compute)


def _committed_indices(run: Run) -> np.ndarray:
    return np.asarray(run.column("index"), dtype=np.int64) if run.count else np.zeros(0, np.int64)


def _check_explained(run: Run) -> None:
    """Refuse a run with no explained image; warn when some of its images are not explained yet."""
    if run.count == 0:
        raise invalid(
            "data",
            f"the run at '{run.path}' with no explained image (0 of {run.total:,})",
            "a run with at least one: call xw.explain_dataset again to resume it",
        )
    missing = run.total - run.count - len(run.skipped)
    if missing > 0:
        warnings.warn(
            f"the run at '{run.path}' is incomplete: fitting on its {run.count:,} explained images, {missing:,} "
            f"of its {run.total:,} are not explained yet (call xw.explain_dataset again to finish it)",
            UserWarning,
            stacklevel=2,
        )


def _same_geometry(model: Model, stored: dict) -> bool:
    """Whether ``model`` resizes and crops as the run's model did (``manifest["model"]``)."""
    pre = stored.get("preprocessing")
    if pre is None:
        return False
    mine = json.loads(json.dumps({"resize": model.preprocessing.resize, "crop": model.preprocessing.crop}))
    return mine == {"resize": pre.get("resize"), "crop": pre.get("crop")}


def check_run_model(run: Run, model: Model) -> str:
    """``model``'s fingerprint, when it is the model ``run`` was made with; XWidgetsError naming both otherwise."""
    fingerprint = model_fingerprint(model)
    stored = run.manifest["model"]
    if fingerprint != stored.get("fingerprint"):
        raise invalid(
            "model",
            f"{model.name} (weights fingerprint {fingerprint})",
            f"the model the run at '{run.path}' was made with, {stored.get('name')} (fingerprint "
            f"{stored.get('fingerprint')}): its stored maps explain that model",
        )
    return fingerprint


# ------------------------------------------------------------------------------------------ features cache
def features_paths(run: Run, layer: str) -> tuple[Path, Path]:
    """``(features/<layer>.zarr, features/<layer>.json)`` of ``run``'s store."""
    if not isinstance(layer, str) or not layer or os.sep in layer or layer.startswith("."):
        raise invalid("layer", repr(layer), "a layer's dotted name")
    folder = run.path / "features"
    return folder / f"{layer}.zarr", folder / f"{layer}.json"


def cached_features(
    images: RunImages | Run, model: Model, layer: str, compute: Callable[[RunImages], Features]
) -> Features:
    """``layer``'s :class:`~xwidgets.concepts.Features` of the run's explained images (row i = position i), read
    from ``features/<layer>.zarr``; the images the cache lacks (all of them the first time, or for another
    model) are computed with ``compute(part)`` (a :class:`RunImages` of those images) and stored first.

    Returns Features whose ``params["computed"]`` counts the images computed by this call (0: all read)."""
    images = run_images(images) if isinstance(images, Run) else images
    run = images.run
    require_libraries("the features cache of a run")
    started = time.perf_counter()
    fingerprint = model_fingerprint(model)
    array_path, meta_path = features_paths(run, layer)
    meta, group = _open_cache(array_path, meta_path, fingerprint)
    present = np.zeros(run.total, bool) if group is None else np.asarray(group["present"][:], dtype=bool)
    missing = np.flatnonzero(~present[images.indices])
    if missing.size:
        computed = compute(images.part(missing))
        meta, group = _write_cache(run, layer, model, fingerprint, group, images.indices[missing], computed)
    assert meta is not None and group is not None
    rows = (images.indices, slice(None))
    return Features(
        method="features",
        params={"layer": layer, "images": len(images), "computed": int(missing.size), "cache": str(array_path)},
        timings={"features_cache": time.perf_counter() - started},
        features=torch.from_numpy(np.asarray(group["features"].get_orthogonal_selection(rows), np.float32)),
        logits=torch.from_numpy(np.asarray(group["logits"].get_orthogonal_selection(rows), np.float32)),
        layer=layer,
        layer_shape=list(meta["layer_shape"]),
        model_name=model.name,
        labels=model.labels,
    )


def _open_cache(array_path: Path, meta_path: Path, fingerprint: str) -> tuple[dict | None, Any]:
    """``(meta, zarr group)`` of the cache when it is whole and of this model, else ``(None, None)``."""
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None, None
    if not isinstance(meta, dict) or meta.get("format") != FEATURES_FORMAT:
        return None, None
    if meta.get("model", {}).get("fingerprint") != fingerprint:
        return None, None
    import zarr

    try:
        group = zarr.open_group(str(array_path), mode="r")
        whole = group.attrs.get("token") == meta.get("token") and {"features", "logits", "present"} <= set(group)
    except (FileNotFoundError, KeyError, ValueError, zarr.errors.GroupNotFoundError):
        return None, None
    return (meta, numeric_arrays(group, ("features", "logits", "present"), array_path)) if whole else (None, None)


def _write_cache(
    run: Run, layer: str, model: Model, fingerprint: str, old: Any, indices: np.ndarray, computed: Features
) -> tuple[dict, Any]:
    """Store ``computed`` (rows for source ``indices``) into a new version of the cache, keeping ``old``'s rows;
    staged beside the cache, swapped in by renames, the JSON written last. Returns the new ``(meta, group)``."""
    import zarr

    array_path, meta_path = features_paths(run, layer)
    folder = array_path.parent
    folder.mkdir(exist_ok=True)
    token = uuid.uuid4().hex
    staging = folder / f".staging-{token}.zarr"
    try:
        group = _staged_group(staging, array_path if old is not None else None, run.total, computed)
        write_rows(group["features"], indices.tolist(), computed.features.float().numpy())
        write_rows(group["logits"], indices.tolist(), computed.logits.float().numpy())
        present = np.asarray(group["present"][:], dtype=bool)
        present[indices] = True
        group["present"][:] = present
        group.attrs["token"] = token
        _swap(staging, array_path, folder / f".old-{token}.zarr")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    meta = {
        "format": FEATURES_FORMAT,
        "layer": layer,
        "layer_shape": list(computed.layer_shape),
        "model": {"name": model.name, "fingerprint": fingerprint},
        "labels": list(model.labels) if model.labels is not None else None,
        "token": token,
        "rows": int(present.sum()),
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(meta, meta_path, folder / f".staging-{token}.json")
    return meta, zarr.open_group(str(array_path), mode="r")


def _staged_group(staging: Path, old: Path | None, total: int, computed: Features) -> Any:
    """A writable copy at ``staging`` of the cache at ``old`` (a valid one, or None), or new empty arrays sized
    for ``computed``."""
    import zarr

    if old is not None:
        shutil.copytree(old, staging)
        return zarr.open_group(str(staging), mode="r+")
    if int(str(zarr.__version__).split(".")[0]) >= 3:
        group = zarr.open_group(str(staging), mode="w", zarr_format=2)
        create = group.create_array
    else:
        group = zarr.open_group(str(staging), mode="w")
        create = group.create_dataset
    chunk = max(1, min(total, 4096))
    for name, columns in (("features", computed.features.shape[1]), ("logits", computed.logits.shape[1])):
        create(name, shape=(total, columns), chunks=(chunk, columns), dtype="float32", fill_value=0)
    create("present", shape=(total,), chunks=(total,), dtype="bool", fill_value=False)
    return group


def _swap(staging: Path, target: Path, retired: Path) -> None:
    """Move ``staging`` onto ``target`` by renames (the old version, if any, moved aside first and deleted)."""
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    fsync_directory(target.parent)
    shutil.rmtree(retired, ignore_errors=True)


register_stored(Run, run_images)
