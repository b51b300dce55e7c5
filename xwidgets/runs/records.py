"""The per-shard kernel every engine shares: explain one shard of a source and turn it into store records.

An engine (local or Ray) loads a shard with :func:`load_shard` (the model-prepared images, their metadata and
their ground truth) and explains it with :func:`explain_shard`, which makes one call of the method's kernel for
the whole shard, one batched forward for the top-k classes, one batched deletion/insertion call for the AUCs and
the toy world's localisation scores, and returns a :class:`ShardResult` (records, maps, thumbnails) that the
store's writer commits atomically. The same shard gives bit-identical maps and records wherever it runs: the
kernels draw their noise from per-image generators seeded with the run's seed.

The record columns are listed in :data:`RECORD_COLUMNS`; ``docs/datasets.md`` explains each of them.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import XWidgetsError, invalid, one_of
from ..core.methods import MethodSpec, get_spec, specs
from ..core.models import Model
from ..core.targets import class_index
from ..data import ImageSource, PreparedBatch, PreparedImages, SourceItem, collate_prepared
from ..data.prepared import one_torch_thread
from ..metrics import deletion_insertion, energy_in_mask, pointing_game, topk_iou
from ..sag.patches import patch_grid_masks

__all__ = [
    "RUN_KINDS",
    "RECORD_COLUMNS",
    "METRICS_PRESET",
    "RunPlan",
    "ShardResult",
    "run_spec",
    "explain_shard",
    "load_shard",
    "shard_loader",
    "shard_items",
    "geometry_free",
]

RUN_KINDS = ("heatmap", "graph")
"""The kinds of method a dataset run explains: one map (or graph) per image. Pair methods need a reference per
image and dataset-level methods fit on many images, so neither runs image by image."""
METRICS_PRESET = "rise"
"""The deletion/insertion protocol of the stored AUCs (:data:`xwidgets.metrics.PRESETS`)."""
RECORD_COLUMNS = (
    "index",
    "id",
    "path",
    "label",
    "label_name",
    "shard",
    "top_classes",
    "top_scores",
    "predicted",
    "predicted_name",
    "confidence",
    "correct",
    "target",
    "target_name",
    "target_score",
    "deletion_auc",
    "insertion_auc",
    "gt_energy",
    "gt_pointing",
    "gt_iou",
    "roots",
    "dnf",
    "outputs",
    "seconds",
)
"""The columns of every record, in the order of the Parquet schema."""
_OWN_FIELDS = {"saliency", "images", "scores", "target", "method", "params", "seed", "versions", "timings"}


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """What a run computes for every shard, the same in every engine (it pickles, for Ray's actors).

    Attributes:
        method: the registered method's name (a heatmap or graph method).
        target: None (each image's top-1), a class index or name (every image), or ``"label"`` (each image's own
            label).
        params: the method's resolved parameters.
        seed: the kernels' seed.
        top_k: how many classes each record keeps.
        metrics: whether to compute the deletion and insertion AUCs.
        thumbnail_size: the side T of the thumbnails, in pixels.
        label_classes: the model's class of each source label (source label i is model class
            ``label_classes[i]``), or None where source labels are model classes.
        label_names: the source's class names (its ``classes``), or None.
        size: the run's image size ``(H, W)`` after the model's preprocessing (every image is brought to it or
            skipped), or None to let each loader find it.
    """

    method: str
    target: object
    params: dict
    seed: int
    top_k: int
    metrics: bool
    thumbnail_size: int
    label_classes: tuple[int, ...] | None = None
    label_names: tuple[str, ...] | None = None
    size: tuple[int, int] | None = None

    def explain(
        self, model: Model, batch: PreparedBatch, items: list[SourceItem], truth: list, *, shard: int
    ) -> ShardResult:
        """:func:`explain_shard` of one loaded shard under this plan."""
        return explain_shard(
            model,
            batch,
            items,
            shard=shard,
            method=self.method,
            target=self.target,
            params=self.params,
            seed=self.seed,
            top_k=self.top_k,
            metrics=self.metrics,
            ground_truth=truth,
            thumbnail_size=self.thumbnail_size,
            label_classes=self.label_classes,
            label_names=self.label_names,
            size=self.size,
        )


@dataclasses.dataclass
class ShardResult:
    """The explained images of one shard, ready for :meth:`~xwidgets.runs.store.RunWriter.write_shard`.

    Attributes:
        shard: the shard number.
        indices: the source indices with a record, ascending.
        records: one dict per index with the columns of :data:`RECORD_COLUMNS`.
        maps: ``[n, H, W]`` float32 in [0, 1] at the model's input size.
        thumbnails: ``[n, T, T, 3]`` uint8, the prepared images shrunk (antialiased).
        thumbnail_maps: ``[n, T, T]`` uint8, the maps shrunk the same way, times 255.
        skipped: ``{index, id, path, error}`` of the shard's images that could not be read.
        seconds: the time the shard took to explain.
    """

    shard: int
    indices: list[int]
    records: list[dict]
    maps: np.ndarray
    thumbnails: np.ndarray
    thumbnail_maps: np.ndarray
    skipped: list[dict]
    seconds: float


def run_spec(method: object) -> MethodSpec:
    """The spec of ``method``, which must be a heatmap or graph method; otherwise an XWidgetsError naming the
    methods a dataset run takes."""
    allowed = [s.name for s in specs(RUN_KINDS)]
    try:
        return get_spec(method, kinds=RUN_KINDS)
    except XWidgetsError:
        raise invalid(
            "method",
            repr(method),
            one_of(allowed) + ": explain_dataset runs the per-image heatmap and graph methods (pair methods "
            "need a reference per image, dataset-level methods run through xw.fit)",
        ) from None


def shard_loader(
    source: ImageSource,
    model: Model,
    shards: Sequence[Sequence[int]],
    *,
    size: tuple[int, int] | None = None,
    num_workers: int = 0,
) -> torch.utils.data.DataLoader:
    """A DataLoader yielding one :class:`~xwidgets.data.PreparedBatch` per shard, in order.

    Args:
        shards: the source indices of each shard to load.
        size: the run's image size ``(H, W)`` (:attr:`RunPlan.size`); None finds it from the source.
        num_workers: decoding processes; with one or more the next shards are decoded while one is explained.
    """
    indices = [index for shard in shards for index in shard]
    positions, start = [], 0
    for shard in shards:
        positions.append(list(range(start, start + len(shard))))
        start += len(shard)
    return torch.utils.data.DataLoader(
        PreparedImages(source, model, indices, size=size),
        batch_sampler=positions,
        num_workers=num_workers,
        collate_fn=functools.partial(collate_prepared, source=source),
    )


def shard_items(source: ImageSource, model: Model, batch: PreparedBatch) -> tuple[list[SourceItem], list]:
    """The metadata of a loaded batch's images and their ground-truth masks (``[H, W]`` bool at the model's
    input size, or None where the source has none)."""
    items = [source.item(index) for index in batch.indices]
    truth = [_prepared_truth(model, source.ground_truth(index)) for index in batch.indices]
    return items, truth


def load_shard(
    source: ImageSource,
    model: Model,
    indices: Sequence[int],
    *,
    size: tuple[int, int] | None = None,
    num_workers: int = 0,
) -> tuple[PreparedBatch, list[SourceItem], list]:
    """Load the images ``indices`` of ``source`` at the run's ``size`` (:attr:`RunPlan.size`): the prepared batch
    (unusable images listed in its ``skipped``), the metadata of the loaded images and their ground truth (see
    :func:`shard_items`)."""
    batch = next(iter(shard_loader(source, model, [list(indices)], size=size, num_workers=num_workers)))
    return (batch, *shard_items(source, model, batch))


def _prepared_truth(model: Model, mask: np.ndarray | None) -> np.ndarray | None:
    """A ground-truth mask at load()'s size brought through the model's geometry (resize, crop) to its input."""
    if mask is None:
        return None
    planes = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None].expand(3, -1, -1)
    with one_torch_thread():
        return (model.prepare(planes)[0, 0] > 0.5).cpu().numpy()


def geometry_free(model: Model) -> Model:
    """``model`` for images it has prepared already: the same module and normalisation without resize or crop,
    so that a prepared image is not resized and cropped a second time by the kernels."""
    pre = model.preprocessing
    if pre.resize is None and pre.crop is None:
        return model
    twin = object.__new__(type(model))
    twin.__dict__.update(model.__dict__)
    twin.preprocessing = dataclasses.replace(pre, resize=None, crop=None)
    return twin


def explain_shard(
    model: Model,
    batch: PreparedBatch,
    items: list[SourceItem],
    *,
    shard: int,
    method: str,
    target: object,
    params: dict,
    seed: int,
    top_k: int,
    metrics: bool,
    ground_truth: list,
    thumbnail_size: int,
    label_classes: Sequence[int] | None = None,
    label_names: Sequence[str] | None = None,
    size: tuple[int, int] | None = None,
) -> ShardResult:
    """Explain the loaded images of one shard and build their records.

    Args:
        model: an ``xw.Classifier``.
        batch: the shard's prepared images ``[n, 3, H, W]`` in [0, 1] at the model's input size.
        items: the metadata of ``batch``'s images, in its order.
        shard: the shard number (a record column).
        method, params, seed: the method, its parameters and the kernels' seed.
        target: None, a class index or name, or ``"label"`` (see :class:`RunPlan`).
        top_k: how many classes each record keeps.
        metrics: whether to compute deletion and insertion AUCs (one batched call).
        ground_truth: per image, an ``[H, W]`` bool evidence mask at the input size, or None.
        thumbnail_size: the thumbnails' side T.
        label_classes, label_names: see :class:`RunPlan`.
        size: the run's image size ``(H, W)``: the map size of a shard whose every image was unreadable (default:
            the batch's).

    Returns:
        The :class:`ShardResult`; deterministic for a given shard (only ``seconds`` varies).
    """
    start = time.perf_counter()
    spec = run_spec(method)
    count = len(batch.indices)
    if len(items) != count or len(ground_truth) != count:
        raise invalid("items", f"{len(items)} items, {len(ground_truth)} masks", f"one per loaded image ({count})")
    if count == 0:
        return _empty(shard, batch, size, thumbnail_size, time.perf_counter() - start)
    net = geometry_free(model)
    pixels = batch.images.to(net.device)
    probabilities = _probabilities(net, pixels)
    labels = [_model_label(item, label_classes) for item in items]
    classes = _target_classes(target, net, probabilities, labels, items)
    kwargs: dict[str, Any] = {"seed": seed} if "seed" in inspect.signature(spec.kernel).parameters else {}
    result = spec.kernel(net, pixels, classes, progress=False, **kwargs, **params)
    maps = _maps(spec, result, (int(pixels.shape[-2]), int(pixels.shape[-1])))
    columns = {
        **_top_columns(net, probabilities, classes, labels, top_k),
        **_auc_columns(net, pixels, maps, classes, metrics),
        **_truth_columns(maps, ground_truth),
        **_method_columns(spec, result, count),
    }
    seconds = time.perf_counter() - start
    records = [
        {
            **_item_columns(item, shard, label_names),
            **{name: values[i] for name, values in columns.items()},
            "seconds": seconds / count,
        }
        for i, item in enumerate(items)
    ]
    return ShardResult(
        shard=shard,
        indices=list(batch.indices),
        records=[{name: record[name] for name in RECORD_COLUMNS} for record in records],
        maps=maps.numpy(),
        thumbnails=_thumbnails(pixels, thumbnail_size),
        thumbnail_maps=_thumbnail_maps(maps, thumbnail_size),
        skipped=list(batch.skipped),
        seconds=seconds,
    )


def _empty(shard: int, batch: PreparedBatch, size: tuple[int, int] | None, side: int, seconds: float) -> ShardResult:
    """The result of a shard whose every image was unreadable: no rows, arrays of the run's shapes."""
    height, width = size if size is not None else (int(batch.images.shape[-2]), int(batch.images.shape[-1]))
    return ShardResult(
        shard=shard,
        indices=[],
        records=[],
        maps=np.zeros((0, height, width), np.float32),
        thumbnails=np.zeros((0, side, side, 3), np.uint8),
        thumbnail_maps=np.zeros((0, side, side), np.uint8),
        skipped=list(batch.skipped),
        seconds=seconds,
    )


def _probabilities(model: Model, pixels: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities ``[n, C]`` (float32, CPU) of prepared images, in one batched forward."""
    with torch.no_grad(), model.frozen():
        output = model.forward(model.normalize(pixels))
    if not bool(torch.isfinite(output).all()):
        raise XWidgetsError("model output: NaN or infinite values for this shard's images (check the model)")
    return F.softmax(output.float(), dim=1).cpu()


def _model_label(item: SourceItem, label_classes: Sequence[int] | None) -> int | None:
    """The model class of an item's label (None for an unlabelled item)."""
    if item.label is None or label_classes is None:
        return item.label
    return int(label_classes[item.label])


def _target_classes(
    target: object, model: Model, probabilities: torch.Tensor, labels: list, items: list[SourceItem]
) -> list[int]:
    """The class each image is explained for: its top-1, one class for all, or its own label."""
    count, classes = probabilities.shape
    if target is None:
        return probabilities.argmax(1).tolist()
    if target == "label":
        missing = [item.index for item, label in zip(items, labels) if label is None]
        if missing:
            raise invalid("target", "'label' for images without a label", f"labels for images {missing[:10]}")
        return [
            class_index(label, model.labels, classes, name=f"label of image {item.index}")
            for item, label in zip(items, labels)
        ]
    return [class_index(target, model.labels, classes)] * count


def _name(model: Model, index: int | None) -> str | None:
    return model.labels[index] if model.labels and index is not None and index < len(model.labels) else None


def _top_columns(
    model: Model, probabilities: torch.Tensor, classes: list[int], labels: list, top_k: int
) -> dict[str, list]:
    """The top-k classes and probabilities, the prediction, its correctness and the target's score."""
    scores, top = probabilities.topk(min(top_k, probabilities.shape[1]), dim=1)
    predicted = top[:, 0].tolist()
    return {
        "top_classes": top.tolist(),
        "top_scores": scores.tolist(),
        "predicted": predicted,
        "predicted_name": [_name(model, p) for p in predicted],
        "confidence": scores[:, 0].tolist(),
        "correct": [None if label is None else p == label for p, label in zip(predicted, labels)],
        "target": list(classes),
        "target_name": [_name(model, c) for c in classes],
        "target_score": probabilities.gather(1, torch.tensor(classes)[:, None])[:, 0].tolist(),
    }


def _auc_columns(
    model: Model, pixels: torch.Tensor, maps: torch.Tensor, classes: list[int], metrics: bool
) -> dict[str, list]:
    """Deletion and insertion AUCs of every map (one batched call), or nulls without metrics."""
    if not metrics:
        return {"deletion_auc": [None] * len(classes), "insertion_auc": [None] * len(classes)}
    curves = deletion_insertion(model, pixels, maps[:, None], classes, preset=METRICS_PRESET, progress=False)
    return {"deletion_auc": curves.deletion_auc.tolist(), "insertion_auc": curves.insertion_auc.tolist()}


def _truth_columns(maps: torch.Tensor, truth: list) -> dict[str, list]:
    """Energy in the evidence, pointing-game hit and top-k IoU of the images with ground truth (nulls elsewhere)."""
    columns: dict[str, list] = {name: [None] * len(truth) for name in ("gt_energy", "gt_pointing", "gt_iou")}
    known = [i for i, mask in enumerate(truth) if mask is not None]
    if not known:
        return columns
    chosen = maps[known]
    masks = torch.from_numpy(np.stack([truth[i] for i in known]))
    for name, values in (
        ("gt_energy", energy_in_mask(chosen, masks).tolist()),
        ("gt_pointing", pointing_game(chosen, masks).tolist()),
        ("gt_iou", topk_iou(chosen, masks).tolist()),
    ):
        for i, value in zip(known, values):
            columns[name][i] = value
    return columns


def _maps(spec: MethodSpec, result: Any, size: tuple[int, int]) -> torch.Tensor:
    """``[n, H, W]`` float32 maps in [0, 1] on the CPU: a heatmap's saliency, or for a graph the fraction of
    the shown roots that contain each patch, upsampled nearest to the input size."""
    if spec.kind == "heatmap":
        return result.saliency[:, 0].float().cpu().clamp(0, 1)
    grid = int(result.params["grid"])
    maps = []
    for roots, shown in zip(result.roots, result.shown):
        sets = [roots[i]["patches"] for i in shown]
        cover = patch_grid_masks(sets, grid).mean(0, keepdim=True) if sets else torch.zeros(1, 1, grid, grid)
        maps.append(F.interpolate(cover, size=size, mode="nearest")[0, 0])
    return torch.stack(maps).float()


def _method_columns(spec: MethodSpec, result: Any, count: int) -> dict[str, list]:
    """``roots`` and ``dnf`` (graphs; nulls for heatmaps) and ``outputs``, the JSON of the method's own small
    per-image values."""
    roots: list[list[list[int]] | None] = [None] * count
    dnfs: list[str | None] = [None] * count
    if spec.kind == "graph":
        roots = [[list(found[i]["patches"]) for i in shown] for found, shown in zip(result.roots, result.shown)]
        dnfs = [result.dnf(i) for i in range(count)]
        outputs = [_graph_outputs(result, i) for i in range(count)]
    else:
        outputs = [_heatmap_outputs(result, i) for i in range(count)]
    return {"roots": roots, "dnf": dnfs, "outputs": [json.dumps(o, sort_keys=True) for o in outputs]}


def _heatmap_outputs(result: Any, index: int) -> dict:
    """The per-image vectors and scalars of a saliency result (I-GOS's masked scores and step sizes, the
    degenerate flag...): every tensor field of at most two dimensions, maps and images left out."""
    outputs = {}
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if field.name in _OWN_FIELDS or not isinstance(value, torch.Tensor) or value.ndim not in (1, 2):
            continue
        outputs[field.name] = value[index].tolist()
    return outputs


def _graph_outputs(result: Any, index: int) -> dict:
    """A SAG's per-image values: scores, the reference, the floor and baseline flags, the shown roots' scores
    and how many roots the search found."""
    roots = result.roots[index]
    return {
        "score": float(result.scores[index]),
        "baseline_score": None if result.baseline_scores is None else float(result.baseline_scores[index]),
        "reference": float(result.references[index]),
        "floored": bool(result.floored[index]),
        "baseline_passes": bool(result.baseline_passes[index]),
        "roots_found": len(roots),
        "shown_scores": [float(roots[i]["score"]) for i in result.shown[index]],
        "shown_relative": [float(roots[i]["relative"]) for i in result.shown[index]],
    }


def _item_columns(item: SourceItem, shard: int, label_names: Sequence[str] | None) -> dict:
    """The columns an item's metadata gives: index, id, path, label and its name, and the shard."""
    name = None
    if label_names is not None and item.label is not None and 0 <= item.label < len(label_names):
        name = str(label_names[item.label])
    return {
        "index": int(item.index),
        "id": item.id,
        "path": item.path,
        "label": item.label,
        "label_name": name,
        "shard": int(shard),
    }


def _thumbnails(pixels: torch.Tensor, side: int) -> np.ndarray:
    """``[n, T, T, 3]`` uint8: the prepared images resized (antialiased) to T x T."""
    small = F.interpolate(pixels.float().cpu(), size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    return (small.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _thumbnail_maps(maps: torch.Tensor, side: int) -> np.ndarray:
    """``[n, T, T]`` uint8: the maps resized (antialiased) to T x T, times 255."""
    small = F.interpolate(maps[:, None], size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    return (small[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
