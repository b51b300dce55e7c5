"""Textual explanations: filter-level attribute distributions learned from captions (``docs/text.md``).

    import xwidgets as xw
    data = xw.toy.dataset(440, seed=1)
    model = xw.toy.classifier()
    text = xw.text.fit(model, data, captions=xw.toy.captions(data), layer="features")
    explanation = text.explain(data.images()[:1])
    explanation.sentences[0]      # 'This is a goldcap because it has red eyes and a yellow head.'

``xw.fit(model, data, target=None, *, method="text", captions=...)`` is the same call; ``xw.text.TextExplorer``
browses a fitted model on a pool of images.
"""

from ..core.deprecation import moved
from .captions import IMAGE_SUFFIXES, CaptionedImages, load_cub, read_captions
from .metrics import average_precision, phrase_truth, pointing_accuracy, retrieval_map, sentence_scores
from .model import TEXT_PARAMS, TextExplanation, TextModel, compose_sentence, fit, supported_attributes
from .vocabulary import (
    BIRD_LEXICON,
    Lexicon,
    Vocabulary,
    build_vocabulary,
    caption_distribution,
    check_captions,
    mine_attributes,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "CaptionedImages",
    "load_cub",
    "read_captions",
    "TEXT_PARAMS",
    "TextExplanation",
    "TextModel",
    "compose_sentence",
    "fit",
    "supported_attributes",
    "BIRD_LEXICON",
    "Lexicon",
    "Vocabulary",
    "build_vocabulary",
    "caption_distribution",
    "check_captions",
    "mine_attributes",
    "average_precision",
    "phrase_truth",
    "pointing_accuracy",
    "retrieval_map",
    "sentence_scores",
    "TextExplorer",
]

#: The toy world's adapters moved to :mod:`xwidgets.toy` (kept until the next release, with a DeprecationWarning).
_moved = moved(
    __name__,
    {
        "toy_captions": "xwidgets.toy:captions",
        "toy_attribute_labels": "xwidgets.toy:vocabulary_labels",
        "toy_evidence_attributes": "xwidgets.toy:evidence_attributes",
    },
)


def __getattr__(name: str) -> object:
    """``TextExplorer`` is imported on first use, so the kernels run where no widget library is installed; the
    moved toy adapters are served with a DeprecationWarning."""
    if name == "TextExplorer":
        from .explorer import TextExplorer

        return TextExplorer
    return _moved(name)
