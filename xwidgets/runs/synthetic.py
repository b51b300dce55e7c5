"""A synthetic run store for tests and benchmarks: records, maps and thumbnails made up, written by the real writer.

:func:`synthetic_run` builds a store of any size in seconds, without a model or a source, so that the
DatasetExplorer's filter-to-redraw latency and the store's open time can be measured at 10,000 images and the
explorer tested on known answers. It is a fixture, not a run: its manifest says ``"method": "gradcam"`` and
``"source": {"kind": "synthetic"}``, a source that cannot be reopened (``run.image`` needs ``source=``).

What it holds, deterministic for a given ``seed``: labels drawn evenly from :data:`SYNTHETIC_CLASSES`; the prediction
right for about 85 % of the images; confidences, deletion and insertion AUCs and ground-truth energies drawn in
[0, 1]; one image in :data:`SKIP_EVERY` listed as skipped; each map a Gaussian blob, each thumbnail a disc of its
label's colour on a grey background.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..core.errors import invalid
from .records import ShardResult
from .store import Run, RunWriter, open_run

__all__ = ["SYNTHETIC_CLASSES", "SKIP_EVERY", "synthetic_run"]

#: The class names of a synthetic run.
SYNTHETIC_CLASSES = ("crestling", "dotwing", "longtail", "redcap", "stripeback", "bluefoot")
#: One image in this many is recorded as skipped (unreadable).
SKIP_EVERY = 97
#: The fraction of images whose prediction is right.
ACCURACY = 0.85
#: Images per shard of a synthetic store.
SHARD_SIZE = 500
_COLOURS = np.array([[213, 94, 0], [0, 114, 178], [0, 158, 115], [204, 121, 167], [230, 159, 0], [86, 180, 233]])


def synthetic_run(path: str | os.PathLike, n: int, *, seed: int = 0, size: int = 112, thumbnail_size: int = 64) -> Run:
    """Write a synthetic run store of ``n`` images at ``path`` (replacing one there) and open it.

    Args:
        path: the store directory (new, empty, or a store to overwrite).
        n: the images in the source, >= 1.
        seed: the seed of every made-up value.
        size: the side of the maps (the model's input size), >= 8.
        thumbnail_size: the side T of the thumbnails, 8..size.

    Returns:
        The :class:`~xwidgets.runs.store.Run`, complete: ``n - len(run.skipped)`` records.
    """
    bounds = (("n", n, 1, 10**7), ("size", size, 8, 4096), ("thumbnail_size", thumbnail_size, 8, size))
    for name, value, low, high in bounds:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise invalid(name, value, f"an int in [{low}, {high}]")
    writer = RunWriter.open(path, _manifest(n, seed, size, thumbnail_size), overwrite=True)
    for shard in writer.pending_shards():
        indices = writer.shard_indices(shard)
        writer.write_shard(shard, _shard(shard, indices, seed, size, thumbnail_size))
    return open_run(path)


def _manifest(n: int, seed: int, size: int, thumbnail_size: int) -> dict:
    digest = f"synthetic-{seed:08d}"[-16:]
    return {
        "method": "gradcam",
        "method_title": "Grad-CAM",
        "kind": "heatmap",
        "params": {},
        "seed": seed,
        "target": None,
        "top_k": 3,
        "metrics": True,
        "model": {
            "name": "synthetic",
            "class": "Classifier",
            "fingerprint": digest,
            "labels": list(SYNTHETIC_CLASSES),
            "input_size": [size, size],
        },
        "source": {"kind": "synthetic", "fingerprint": digest, "count": n, "classes": list(SYNTHETIC_CLASSES)},
        "shard_size": SHARD_SIZE,
        "map_shape": [size, size],
        "thumbnail_size": thumbnail_size,
    }


def _shard(shard: int, indices: range, seed: int, size: int, side: int) -> ShardResult:
    """The made-up result of one shard (its values depend on the seed and the shard only)."""
    rng = np.random.default_rng([seed, shard])
    every = np.asarray(indices)
    kept = every[every % SKIP_EVERY != SKIP_EVERY - 1]
    count, classes = len(kept), len(SYNTHETIC_CLASSES)
    labels = kept % classes
    right = rng.random(count) < ACCURACY
    predicted = np.where(right, labels, (labels + 1 + rng.integers(0, classes - 1, count)) % classes)
    confidence = np.where(right, 0.5 + 0.5 * rng.random(count), 0.2 + 0.6 * rng.random(count)).astype(np.float32)
    centres = rng.uniform(0.2, 0.8, (count, 2))
    records = [
        _record(int(index), int(labels[k]), int(predicted[k]), float(confidence[k]), rng, shard)
        for k, index in enumerate(kept)
    ]
    return ShardResult(
        shard=shard,
        indices=[int(i) for i in kept],
        records=records,
        maps=_blobs(centres, size),
        thumbnails=_thumbnails(centres, labels, side, rng),
        thumbnail_maps=(_blobs(centres, side) * 255).round().astype(np.uint8),
        skipped=[
            {"index": int(i), "id": f"synthetic-{i}", "path": None, "error": "synthetic: an unreadable image"}
            for i in every[every % SKIP_EVERY == SKIP_EVERY - 1]
        ],
        seconds=0.0,
    )


def _record(index: int, label: int, predicted: int, confidence: float, rng: np.random.Generator, shard: int) -> dict:
    others = [c for c in range(len(SYNTHETIC_CLASSES)) if c != predicted][:2]
    rest = (1.0 - confidence) * np.array([0.6, 0.4])
    return {
        "index": index,
        "id": f"synthetic-{index}",
        "path": None,
        "label": label,
        "label_name": SYNTHETIC_CLASSES[label],
        "shard": shard,
        "top_classes": [predicted, *others],
        "top_scores": [confidence, *(float(v) for v in rest)],
        "predicted": predicted,
        "predicted_name": SYNTHETIC_CLASSES[predicted],
        "confidence": confidence,
        "correct": label == predicted,
        "target": predicted,
        "target_name": SYNTHETIC_CLASSES[predicted],
        "target_score": confidence,
        "deletion_auc": float(rng.random() * 0.6),
        "insertion_auc": float(0.3 + rng.random() * 0.7),
        "gt_energy": float(rng.beta(2, 2)),
        "gt_pointing": bool(rng.random() < 0.7),
        "gt_iou": float(rng.random()),
        "roots": None,
        "dnf": None,
        "outputs": json.dumps({"synthetic": True}),
        "seconds": 0.0,
    }


def _blobs(centres: np.ndarray, side: int) -> np.ndarray:
    """``[n, side, side]`` float32 Gaussian blobs in [0, 1] around ``centres`` (fractions of the side)."""
    axis = (np.arange(side, dtype=np.float32) + 0.5) / side
    dy = (axis[None, :, None] - centres[:, 0, None, None].astype(np.float32)) ** 2
    dx = (axis[None, None, :] - centres[:, 1, None, None].astype(np.float32)) ** 2
    return np.exp(-(dy + dx) / (2 * 0.12**2)).astype(np.float32)


def _thumbnails(centres: np.ndarray, labels: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, side, side, 3]`` uint8: a disc of each label's colour at its map's centre on a noisy grey ground."""
    axis = (np.arange(side) + 0.5) / side
    rows = (axis[None, :, None] - centres[:, 0, None, None]) ** 2
    near = rows + (axis[None, None, :] - centres[:, 1, None, None]) ** 2 < 0.04
    ground = rng.integers(150, 200, (len(labels), side, side, 1)).repeat(3, axis=3)
    return np.where(near[..., None], _COLOURS[labels][:, None, None, :], ground).astype(np.uint8)
