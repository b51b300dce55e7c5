"""Builders shared by the store tests: a manifest, synthetic shard results, a store written through RunWriter."""

from __future__ import annotations

import json

import numpy as np

from xwidgets.runs.records import ShardResult
from xwidgets.runs.store import RunWriter


def manifest(count=10, shard_size=4, size=8, thumb=4, **changes):
    """A complete run manifest of a toy-like source of ``count`` images, maps ``size`` x ``size``."""
    base = {
        "method": "igos",
        "method_title": "I-GOS",
        "kind": "heatmap",
        "params": {"iterations": 5},
        "seed": 0,
        "target": None,
        "top_k": 2,
        "metrics": True,
        "model": {
            "name": "toy",
            "class": "Classifier",
            "fingerprint": "0123456789abcdef",
            "labels": ["a", "b", "c"],
            "input_size": [size, size],
            "preprocessing": {"resize": None, "crop": None},
        },
        "source": {"kind": "toy", "n": count, "seed": 0, "fingerprint": "fedcba9876543210", "count": count},
        "shard_size": shard_size,
        "map_shape": [size, size],
        "thumbnail_size": thumb,
    }
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = base
        for key in parents:
            target = target[key]
        target[last] = value
    return base


def record(index, shard):
    """One full record of image ``index`` with values derived from the index (every column set)."""
    label = index % 3
    return {
        "index": index,
        "id": f"toy-0-{index}",
        "path": None,
        "label": label,
        "label_name": "abc"[label],
        "shard": shard,
        "top_classes": [index % 3, (index + 1) % 3],
        "top_scores": [0.75, 0.25],
        "predicted": index % 3,
        "predicted_name": "abc"[index % 3],
        "confidence": 0.75,
        "correct": True,
        "target": index % 3,
        "target_name": "abc"[index % 3],
        "target_score": 0.75,
        "deletion_auc": index / 100,
        "insertion_auc": 1 - index / 100,
        "gt_energy": 0.5,
        "gt_pointing": index % 2 == 0,
        "gt_iou": 0.25,
        "roots": None,
        "dnf": None,
        "outputs": json.dumps({"final_score": index}),
        "seconds": 0.01,
    }


def map_of(index, size):
    """A deterministic map in [0, 1] that differs per index: ``[size, size]`` float32."""
    grid = np.linspace(0, 1, size * size, dtype=np.float32).reshape(size, size)
    return (grid + index / 97) % 1


def result(writer, shard, skip=()):
    """The ShardResult of ``shard`` with synthetic records and arrays; indices in ``skip`` are skipped."""
    size = writer.manifest["map_shape"][0]
    side = writer.manifest["thumbnail_size"]
    span = writer.shard_indices(shard)
    indices = [i for i in span if i not in skip]
    skipped = [i for i in span if i in skip]
    offsets = np.array(indices, np.int64).astype(np.uint8)
    return ShardResult(
        shard=shard,
        indices=indices,
        records=[record(i, shard) for i in indices],
        maps=np.stack([map_of(i, size) for i in indices]).reshape(len(indices), size, size),
        thumbnails=np.full((len(indices), side, side, 3), 7, np.uint8) + offsets[:, None, None, None],
        thumbnail_maps=np.full((len(indices), side, side), 3, np.uint8) + offsets[:, None, None],
        skipped=[{"index": i, "id": f"toy-0-{i}", "path": f"/data/{i}.png", "error": "corrupt PNG"} for i in skipped],
        seconds=0.5,
    )


def write_store(path, count=10, shard_size=4, shards=None, skip=(), **changes):
    """A store at ``path`` with ``shards`` (default all) committed through RunWriter; returns the writer."""
    writer = RunWriter.open(path, manifest(count, shard_size, **changes))
    for shard in writer.pending_shards() if shards is None else shards:
        writer.write_shard(shard, result(writer, shard, skip))
    return writer
