"""Textual explanations: filter-level attribute distributions learned from captions (METHODS.md section 7).

    import xwidgets as xw
    data = xw.toy.dataset(440, seed=1)
    model = xw.toy.classifier()
    text = xw.text.fit(model, data, xw.text.toy_captions(data), layer="features")
    explanation = text.explain(data.images()[:1])
    explanation.sentences[0]      # 'This is a goldcap because it has red eyes and a yellow head.'
"""

from .captions import IMAGE_SUFFIXES, CaptionedImages, load_cub, read_captions, toy_captions
from .metrics import (average_precision, phrase_truth, pointing_accuracy, retrieval_map, sentence_scores,
                      toy_attribute_labels, toy_evidence_attributes)
from .model import TEXT_PARAMS, TextExplanation, TextModel, compose_sentence, fit, supported_attributes
from .vocabulary import (BIRD_LEXICON, Lexicon, Vocabulary, build_vocabulary, caption_distribution, check_captions,
                         mine_attributes)

__all__ = [
    "IMAGE_SUFFIXES", "CaptionedImages", "load_cub", "read_captions", "toy_captions",
    "TEXT_PARAMS", "TextExplanation", "TextModel", "compose_sentence", "fit", "supported_attributes",
    "BIRD_LEXICON", "Lexicon", "Vocabulary", "build_vocabulary", "caption_distribution", "check_captions",
    "mine_attributes", "average_precision", "phrase_truth", "pointing_accuracy", "retrieval_map", "sentence_scores",
    "toy_attribute_labels", "toy_evidence_attributes",
]
