"""Why do these match? Similarity explanations after SANE (Plummer et al., ECCV 2020; METHODS.md section 8).

    import xwidgets as xw
    embedder = xw.toy.embedder()
    attributes = xw.similarity.toy_attribute_model()
    explanation = xw.similarity.explain_match(embedder, query, reference, attributes, method="rise")
    explanation.ranking(0)            # the attributes that best say why the pair matches
    explanation.figure()

Every heatmap method of :mod:`xwidgets.heatmaps` also explains a pair through a similarity target:
``xw.explain(embedder, query, target=xw.similarity_to(embedder, reference), method="igos")``.
"""

from .attributes import (ATTRIBUTE_PARAMS, AttributeHead, AttributeModel, AttributePrediction, toy_attribute_labels,
                         toy_attribute_model, train_attributes, train_toy_attribute_model)
from .match import MATCH_PARAMS, MatchExplanation, explain_match, rank_attributes
from .saliency import PAIR_PARAMS, REFERENCE_MODES, SALIENCY_METHODS, PairSaliency, pair_saliency

__all__ = [
    "ATTRIBUTE_PARAMS", "AttributeHead", "AttributeModel", "AttributePrediction", "toy_attribute_labels",
    "toy_attribute_model", "train_attributes", "train_toy_attribute_model",
    "MATCH_PARAMS", "MatchExplanation", "explain_match", "rank_attributes",
    "PAIR_PARAMS", "REFERENCE_MODES", "SALIENCY_METHODS", "PairSaliency", "pair_saliency",
]
