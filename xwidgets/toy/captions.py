"""The toy world in a text model's terms: the samples' captions, and the ground truth of a textual explanation
(which attributes of a vocabulary a sample truly shows, and which its species rule depends on).

    import xwidgets as xw
    data = xw.toy.dataset(440, seed=1)
    text = xw.text.fit(xw.toy.classifier(), data, captions=xw.toy.captions(data))
    truth = xw.toy.vocabulary_labels(text.vocabulary, data)          # [N, A] bool
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.errors import invalid
from ..text.vocabulary import Vocabulary, mine_attributes

__all__ = ["captions", "vocabulary_labels", "evidence_attributes"]


def captions(data: object) -> list[list[str]]:
    """The captions of toy samples (3 to 5 strings each): a :class:`~xwidgets.toy.ToyDataset` or a sequence of
    toy samples."""
    samples = _samples(data, "data")
    if not all(hasattr(s, "captions") for s in samples):
        raise invalid("data", "items without captions", "toy samples (each has .captions)")
    return [list(s.captions) for s in samples]


def vocabulary_labels(vocabulary: Vocabulary, samples: object) -> np.ndarray:
    """``[N, A]`` bool: the vocabulary attributes each toy sample truly shows, mined from its complete description
    (every visible attribute) with the vocabulary's lexicon. ``samples``: a ToyDataset or a sequence of samples."""
    samples = _samples(samples, "samples")
    positions = {a: i for i, a in enumerate(vocabulary.attributes)}
    labels = np.zeros((len(samples), len(vocabulary)), dtype=bool)
    for n, sample in enumerate(samples):
        for attribute in mine_attributes(sample.description, vocabulary.lexicon):
            if attribute in positions:
                labels[n, positions[attribute]] = True
    return labels


def evidence_attributes(vocabulary: Vocabulary, sample) -> set[str]:
    """The vocabulary attributes a toy sample's species rule depends on, e.g. ``{"yellow head", "red eye"}``."""
    found = {a for phrase in sample.evidence_phrases for a in mine_attributes(phrase, vocabulary.lexicon)}
    return found & set(vocabulary.attributes)


def _samples(data: object, name: str) -> Sequence:
    """The samples of a ToyDataset, or ``data`` itself when it is a non-empty sequence."""
    samples = getattr(data, "samples", data)
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Sequence) or not samples:
        raise invalid(name, type(data).__name__, "a toy dataset (xw.toy.dataset) or a non-empty list of samples")
    return samples
