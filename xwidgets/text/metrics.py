"""Measuring textual explanations against ground truth: sentence precision and recall, how often the named words
are true of the image, attribute-retrieval mAP, and grounding pointing accuracy.

Ground truth comes as attribute ids of the model's vocabulary. For the toy world,
:func:`xwidgets.toy.vocabulary_labels` mines each sample's complete description (every visible attribute) and
:func:`xwidgets.toy.evidence_attributes` its evidence phrases (the attributes its species rule depends on) with the
model's own lexicon.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..core.deprecation import moved
from ..core.errors import invalid
from ..metrics.localisation import pointing_game
from .model import TextExplanation

__all__ = ["sentence_scores", "phrase_truth", "average_precision", "retrieval_map", "pointing_accuracy"]

#: Names that moved to :mod:`xwidgets.toy` (kept until the next release, with a DeprecationWarning).
__getattr__ = moved(
    __name__,
    {
        "toy_attribute_labels": "xwidgets.toy:vocabulary_labels",
        "toy_evidence_attributes": "xwidgets.toy:evidence_attributes",
    },
)


def sentence_scores(explanation: TextExplanation, truths: Sequence[set[str]]) -> dict[str, float]:
    """Mean precision and recall of the sentences' attributes against ``truths`` (one set of ids per image).

    Precision: the share of a sentence's attributes that are true; recall: the share of true attributes the
    sentence names. Images with an empty truth set are left out of the recall.
    """
    if len(truths) != len(explanation):
        raise invalid("truths", f"{len(truths)} sets", f"one set of attribute ids per image ({len(explanation)})")
    precision, recall = [], []
    for groups, truth in zip(explanation.sentence_attributes, truths):
        named = {a for group in groups for a in group}
        hits = len(named & set(truth))
        precision.append(hits / max(len(named), 1))
        if truth:
            recall.append(hits / len(truth))
    return {
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)) if recall else float("nan"),
        "images": len(truths),
    }


def phrase_truth(explanation: TextExplanation, truths: Sequence[set[str]]) -> dict:
    """How often the sentences' words are true of their images, against ``truths`` (per image, the set of
    attribute ids the image shows; for the toy world, the rows of :func:`xwidgets.toy.vocabulary_labels`).

    Returns ``named_true``, the share of all named attributes that are true (pooled over images); ``by_position``,
    per phrase position (first, second, ...), the share of sentences with a phrase there whose attributes are all
    true, and ``counts``, how many sentences have a phrase there; ``phrases``, the mean number of phrases.
    """
    if len(truths) != len(explanation):
        raise invalid("truths", f"{len(truths)} sets", f"one set of attribute ids per image ({len(explanation)})")
    hits = named = 0
    by_position: list[list[bool]] = []
    for groups, truth in zip(explanation.sentence_attributes, truths):
        for position, group in enumerate(groups):
            true = [a in truth for a in group]
            hits, named = hits + sum(true), named + len(true)
            if position == len(by_position):
                by_position.append([])
            by_position[position].append(all(true))
    return {
        "named_true": hits / max(named, 1),
        "by_position": [float(np.mean(p)) for p in by_position],
        "counts": [len(p) for p in by_position],
        "phrases": float(np.mean([len(g) for g in explanation.sentence_attributes])),
    }


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision of a ranking by ``scores`` (descending; ties broken by order) for binary ``labels``."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    if labels.sum() == 0:
        raise invalid("labels", "no positive image", "at least one positive")
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision_at[hits].mean())


def retrieval_map(scores: torch.Tensor, labels: np.ndarray, columns: Sequence[int] | None = None) -> dict:
    """Mean average precision of ranking images by ``scores`` ``[N, A]`` for each attribute column with at least
    one positive and one negative in ``labels`` ``[N, A]``; also the chance level (mean positive rate)."""
    values = scores.numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores)
    labels = np.asarray(labels, dtype=bool)
    if values.shape != labels.shape:
        raise invalid("labels", f"shape {list(labels.shape)}", f"the scores' shape {list(values.shape)}")
    columns = range(labels.shape[1]) if columns is None else columns
    usable = [a for a in columns if 0 < labels[:, a].sum() < len(labels)]
    if not usable:
        raise invalid("labels", "no attribute with both positive and negative images", "a mixed set of images")
    aps = [average_precision(values[:, a], labels[:, a]) for a in usable]
    return {
        "map": float(np.mean(aps)),
        "chance": float(np.mean([labels[:, a].mean() for a in usable])),
        "attributes": len(usable),
        "per_attribute": dict(zip(usable, aps)),
    }


def pointing_accuracy(
    explanation: TextExplanation,
    attributes: Sequence[Sequence[str]],
    part_masks: Sequence[dict[str, np.ndarray]],
    *,
    tolerance: int = 0,
) -> dict:
    """The share of (image, attribute) pairs whose grounding map peaks on the attribute's part.

    Args:
        attributes: per image, the attribute ids to ground.
        part_masks: per image, ``part -> [H, W]`` bool mask (for the toy world, ``sample.part_mask``).
        tolerance: pixels around the peak that may touch the part (the pointing game's tolerance).
    """
    if len(attributes) != len(explanation) or len(part_masks) != len(explanation):
        raise invalid("attributes", f"{len(attributes)} lists", f"one list per image ({len(explanation)})")
    maps, masks, parts = [], [], []
    for index, (names, partmasks) in enumerate(zip(attributes, part_masks)):
        for name in names:
            part = name.rsplit(" ", 1)[1]
            if part not in partmasks:
                continue
            maps.append(explanation.map(name, index))
            masks.append(torch.as_tensor(np.asarray(partmasks[part], dtype=bool)))
            parts.append(part)
    if not maps:
        raise invalid("attributes", "no attribute with a part mask", "attributes whose parts have masks")
    hits = pointing_game(torch.stack(maps)[:, None], torch.stack(masks), tolerance=tolerance)
    by_part: dict[str, list[bool]] = {}
    for part, hit in zip(parts, hits.tolist()):
        by_part.setdefault(part, []).append(hit)
    return {
        "accuracy": float(hits.float().mean()),
        "pairs": len(parts),
        "by_part": {part: float(np.mean(v)) for part, v in by_part.items()},
    }
