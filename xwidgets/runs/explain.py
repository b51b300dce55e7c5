"""``xw.explain_dataset``: explain every image of a source with a per-image method and store the results.

The call checks every argument (the method's parameters included) before it creates or opens a store, writes the
manifest (model, method, parameters, seed, target, source and their fingerprints), and runs the store's pending
shards on an engine: ``"local"`` (:mod:`xwidgets.runs.local`) or ``"ray"`` (:mod:`xwidgets.runs.ray_engine`).
Calling it again with the same arguments resumes a stopped run where it stopped.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, TypeGuard

import torch

from ..core.errors import Cancelled, InvalidArgument, invalid, one_of
from ..core.models import Classifier, Model, check_model
from ..core.provenance import model_fingerprint
from ..core.runner import Progress, shows_progress
from ..core.targets import class_index
from ..data import ImageSource, as_source, prepared_size
from .local import RunProgress, run_local
from .records import METRICS_PRESET, RunPlan, run_spec
from .store import Run, RunWriter, open_run

__all__ = ["ENGINES", "explain_dataset", "model_fingerprint"]

ENGINES = ("local", "ray")
"""Where a run's shards are explained: in this process, or in a Ray actor pool."""
THUMBNAIL_SIZES = (16, 256)
"""The least and largest thumbnail side, in pixels."""


@shows_progress("explain_dataset")
def explain_dataset(
    model: Classifier,
    source: Any,
    method: str = "igos",
    target: Any = None,
    *,
    store: str | os.PathLike,
    engine: str = "local",
    seed: int = 0,
    shard_size: int = 16,
    top_k: int = 5,
    metrics: bool = True,
    thumbnail_size: int = 64,
    overwrite: bool = False,
    num_workers: int = 0,
    workers: int | None = None,
    address: str | None = None,
    progress: Progress | Any = True,
    **params: Any,
) -> Run:
    """Explain every image of ``source`` with a per-image method and write the results to the store ``store``.

    Each image gets a record (id, path, label, top-k classes and probabilities, the target and its score, the
    deletion/insertion AUCs, on the toy world its ground-truth scores, a SAG's roots and DNF, the method's own
    small outputs) and a map. The store is written shard by shard, each shard committed atomically, so a run that
    stops (cancelled, interrupted, killed) resumes where it stopped when called again with the same arguments,
    with no image lost or written twice. Unreadable images are skipped and listed in ``run.skipped``.

    Store layout: ``manifest.json``, ``records/shard-*.parquet`` (pyarrow / pandas), ``arrays.zarr`` (maps
    ``[N, H, W]``, thumbnails, thumbnail maps; zarr) and ``commits/shard-*.json`` (the markers that commit shards).

    Args:
        model: an ``xw.Classifier`` (its preprocessing brings every image to its input size).
        source: the images: an ``xw.data`` source, a folder in the ImageFolder layout, a list of paths, a torch
            ``Dataset`` (e.g. ``xw.toy.dataset(n)``) or an ``[N, 3, H, W]`` tensor.
        method: a heatmap method (``"igos"``, ``"gradcam"``, ...) or ``"sag"``.
        target: what to explain: None (each image's top-1 class), a class index or name (every image), or
            ``"label"`` (each image's own label; the source needs labels).
        store: the store's directory: created, or resumed when it holds a run with these arguments.
        engine: ``"local"`` (this process, on the model's device) or ``"ray"`` (an actor pool, one model
            replica per actor; needs ``pip install 'xwidgets[ray]'``).
        seed: the seed of the stochastic methods (results do not depend on how images are grouped).
        shard_size: images per shard, the unit of commit and resumption (>= 1).
        top_k: classes kept per image, 1 to the model's class count.
        metrics: compute deletion and insertion AUCs (the ``rise`` preset); False leaves them null.
        thumbnail_size: the side of the stored thumbnails in pixels, 16 to 256.
        overwrite: delete an existing store at ``store`` (of another run) and start afresh.
        num_workers: the local engine's image-decoding processes (0: decode in this process).
        workers: the Ray engine's actor count (default: one per GPU, else one per CPU).
        address: the Ray cluster to join (``"auto"`` on a cluster); default a local Ray.
        progress: True (a progress bar with throughput and ETA), False, a ``Progress`` or a callback
            ``(fraction, message)``. Cancelling it stops the run after the current shard's commit.
        params: the method's parameters (``help(xw.explain)`` lists them), checked before any store is made.

    Returns:
        The stored run, ``xw.open_run(store)``.

    Example:
        >>> import tempfile
        >>> import xwidgets as xw
        >>> store = tempfile.mkdtemp() + "/toy-gradcam"
        >>> run = xw.explain_dataset(xw.toy.classifier(), xw.data.toy(8), method="gradcam", store=store,
        ...                          shard_size=4, metrics=False, progress=False)
        >>> run.count, run.complete, run.map(0).shape
        (8, True, (112, 112))
    """
    model = _checked_model(model)
    source = as_source(source, "source")
    spec = run_spec(method)
    values = spec.params.resolve(params)
    _check_options(
        seed=seed, shard_size=shard_size, metrics=metrics, thumbnail_size=thumbnail_size, overwrite=overwrite
    )
    _check_engine(engine, num_workers, workers, address)
    path = _store_path(store)
    input_size, classes = _probe(model, source)
    top_k = _checked_top_k(top_k, classes)
    described = _checked_target(target, model, source, classes)
    plan = RunPlan(
        method=spec.name,
        target=described,
        params=values,
        seed=seed,
        top_k=top_k,
        metrics=metrics,
        thumbnail_size=thumbnail_size,
        label_classes=_label_classes(source, model),
        label_names=tuple(source.classes) if source.classes else None,
        size=input_size,
    )
    manifest = _manifest(model, source, spec, plan, input_size, shard_size)
    fresh = not path.exists() or (path.is_dir() and not any(path.iterdir()))
    writer = RunWriter.open(path, manifest, overwrite=overwrite)
    counter = _counter(writer, progress, path, len(source))
    try:
        if engine == "ray":
            from .ray_engine import run_ray

            run_ray(writer, model, source, plan, counter, workers=workers, address=address)
        else:
            run_local(writer, model, source, plan, counter, num_workers=num_workers)
    except InvalidArgument:
        # A parameter that only the images' size refutes (window=1024 for 112-pixel images) is refused by the
        # kernel on the first shard: a store this call created holds nothing of use, so it goes too.
        if fresh and len(writer.pending_shards()) == writer.shard_count:
            shutil.rmtree(path, ignore_errors=True)
        raise
    except Cancelled as error:
        raise Cancelled(counter.stopped()) from error
    except KeyboardInterrupt:
        print(counter.stopped(), file=sys.stderr)
        raise
    return open_run(path)


def _checked_model(model: object) -> Classifier:
    """A classifier: the records keep its top-k classes."""
    wrapped = check_model(model)
    if not isinstance(wrapped, Classifier):
        raise invalid(
            "model",
            f"the {type(wrapped).__name__} {wrapped.name!r}",
            "an xw.Classifier (each record keeps top-k classes)",
        )
    return wrapped


def _whole(value: object) -> TypeGuard[int]:
    """A whole number (an int that is not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_options(*, seed: object, shard_size: object, metrics: object, thumbnail_size: object, overwrite: object):
    """The run's plain options: whole numbers in range and booleans."""
    if not _whole(seed) or seed < 0:
        raise invalid("seed", seed, "a whole number >= 0")
    if not _whole(shard_size) or shard_size < 1:
        raise invalid("shard_size", shard_size, "a whole number of images >= 1")
    low, high = THUMBNAIL_SIZES
    if not _whole(thumbnail_size) or not low <= thumbnail_size <= high:
        raise invalid("thumbnail_size", thumbnail_size, f"a whole number of pixels in {low}..{high}")
    for name, value in (("metrics", metrics), ("overwrite", overwrite)):
        if not isinstance(value, bool):
            raise invalid(name, value, "True or False")


def _check_engine(engine: object, num_workers: object, workers: object, address: object) -> None:
    """The engine and its own options: ``num_workers`` for the local engine, ``workers`` and ``address`` for Ray."""
    if engine not in ENGINES:
        raise invalid("engine", repr(engine), one_of(ENGINES))
    if not _whole(num_workers) or num_workers < 0:
        raise invalid("num_workers", num_workers, "a whole number of decoding processes >= 0")
    if engine == "local":
        for name, value in (("workers", workers), ("address", address)):
            if value is not None:
                raise invalid(name, value, f"None with engine='local' ({name}= is the Ray engine's option)")
        return
    if workers is not None and (not _whole(workers) or workers < 1):
        raise invalid("workers", workers, "a whole number of Ray actors >= 1, or None for one per GPU or CPU")
    if address is not None and not isinstance(address, str):
        raise invalid("address", address, "a Ray address such as 'auto' or 'ray://host:10001', or None")
    from .ray_engine import require_ray

    require_ray()


def _store_path(store: object) -> Path:
    """The store's directory: a path that is not an existing file."""
    if not isinstance(store, (str, os.PathLike)) or not str(store):
        raise invalid("store", store, "the path of the run's store directory, e.g. store='runs/val-igos'")
    path = Path(store)
    if path.is_file():
        raise invalid("store", f"'{path}', which is a file", "a directory path for the run's store")
    return path


def _probe(model: Model, source: ImageSource) -> tuple[tuple[int, int], int]:
    """The run's image size ``(H, W)`` after the model's preprocessing, and the model's class count."""
    if len(source) == 0:
        raise invalid("source", "an empty source", "a source with at least one image")
    size = prepared_size(source, model)
    if size is None:
        raise invalid("source", f"a source of {len(source)} images of which none is readable", "readable images")
    with torch.no_grad(), model.frozen():
        output = model.forward(model.normalize(torch.zeros(1, 3, *size, device=model.device)))
    return size, int(output.shape[1])


def _checked_top_k(top_k: object, classes: int) -> int:
    if not _whole(top_k) or not 1 <= top_k <= classes:
        raise invalid("top_k", top_k, f"a whole number of classes in 1..{classes} (the model's class count)")
    return int(top_k)


def _checked_target(target: object, model: Model, source: ImageSource, classes: int) -> object:
    """``target`` as the manifest records it: None, a class index, a class name, or ``"label"``."""
    if target is None:
        return None
    if target == "label":
        if not source.classes and source.item(0).label is None:
            raise invalid("target", "'label' for a source without labels", "None, a class index or a class name")
        if source.classes and _label_classes(source, model) is None and len(source.classes) > classes:
            raise invalid(
                "target",
                f"'label' for a source of {len(source.classes)} classes whose names are not the model's labels",
                f"a source whose labels are the model's classes (named as its labels, or indices below {classes})",
            )
        return "label"
    if isinstance(target, str):
        class_index(target, model.labels, classes)
        return target
    if isinstance(target, bool) or not hasattr(target, "__index__"):
        raise invalid("target", target, "None, a class index or name, or 'label' (each image's own label)")
    return class_index(target, model.labels, classes)


def _label_classes(source: ImageSource, model: Model) -> tuple[int, ...] | None:
    """The model class of each source label, matched by name where every source class name is a model label;
    None where labels are taken as model class indices."""
    names, labels = source.classes, model.labels
    if not names or not labels or not all(name in labels for name in names):
        return None
    return tuple(labels.index(name) for name in names)


def _manifest(
    model: Model, source: ImageSource, spec: Any, plan: RunPlan, input_size: tuple[int, int], shard_size: int
) -> dict:
    """The run's manifest (the store fills ``format``, ``created`` and ``versions``)."""
    pre = model.preprocessing
    return {
        "method": spec.name,
        "method_title": spec.title,
        "kind": spec.kind,
        "params": plan.params,
        "seed": plan.seed,
        "target": plan.target,
        "top_k": plan.top_k,
        "metrics": plan.metrics,
        "metrics_preset": METRICS_PRESET if plan.metrics else None,
        "model": {
            "name": model.name,
            "class": type(model).__name__,
            "fingerprint": model_fingerprint(model),
            "labels": list(model.labels) if model.labels is not None else None,
            "input_size": list(input_size),
            "preprocessing": {"resize": pre.resize, "crop": pre.crop},
        },
        "source": {**source.describe(), "fingerprint": source.fingerprint(), "count": len(source)},
        "shard_size": shard_size,
        "map_shape": list(input_size),
        "thumbnail_size": plan.thumbnail_size,
        "label_classes": list(plan.label_classes) if plan.label_classes is not None else None,
    }


def _counter(writer: RunWriter, progress: Progress, path: Path, total: int) -> RunProgress:
    """The run's progress, counting the images of shards committed before this call."""
    pending = set(writer.pending_shards())
    committed = [s for s in range(writer.shard_count) if s not in pending]
    if not committed:
        return RunProgress(progress, total)
    done = sum(len(writer.shard_indices(s)) for s in committed)
    counter = RunProgress(progress, total, done=done, skipped=len(open_run(path).skipped))
    counter.report(done / total, counter.message())
    return counter
