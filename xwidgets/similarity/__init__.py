"""Why do these match? Similarity explanations after SANE (Plummer et al., ECCV 2020; see ``docs/similarity.md``).

    import xwidgets as xw
    embedder = xw.toy.embedder()
    attributes = xw.toy.attribute_model()
    explanation = xw.explain(embedder, queries, reference=references, method="sane", attribute_model=attributes)
    explanation.ranking(0)            # the attributes that best say why the pair matches
    explanation.figure(0)
    saliency = xw.explain(embedder, queries, reference=references, method="pair_rise")

The pair methods are ``pair_rise``, ``pair_sliding_window``, ``pair_mask`` (a map on the query) and ``sane`` (the
ranked attributes). Every heatmap method also explains a pair through a similarity target:
``xw.explain(embedder, query, target=xw.similarity_to(embedder, reference), method="igos")``.
"""

import importlib

from .attributes import ATTRIBUTE_PARAMS, AttributeHead, AttributeModel, AttributePrediction, train_attributes
from .match import PAIR_SALIENCY, RULES, SANE_PARAMS, MatchExplanation, explain_match, rank_attributes, sane
from .saliency import (
    MASK_PAIR_PARAMS,
    REFERENCE_MODES,
    RISE_PAIR_PARAMS,
    SLIDING_WINDOW_PAIR_PARAMS,
    PairSaliency,
    pair_mask,
    pair_rise,
    pair_saliency,
    pair_sliding_window,
)

__all__ = [
    "ATTRIBUTE_PARAMS",
    "AttributeHead",
    "AttributeModel",
    "AttributePrediction",
    "train_attributes",
    "SANE_PARAMS",
    "RULES",
    "PAIR_SALIENCY",
    "MatchExplanation",
    "sane",
    "explain_match",
    "rank_attributes",
    "RISE_PAIR_PARAMS",
    "SLIDING_WINDOW_PAIR_PARAMS",
    "MASK_PAIR_PARAMS",
    "REFERENCE_MODES",
    "PairSaliency",
    "pair_rise",
    "pair_sliding_window",
    "pair_mask",
    "pair_saliency",
    "MatchExplorer",
]

#: Names served on first use, from the module that holds them: the explorer (so the kernels run where no widget
#: library is installed) and the deprecated names, which warn there.
_LAZY = {
    "MatchExplorer": "explorer",
    "PAIR_PARAMS": "saliency",
    "SALIENCY_METHODS": "saliency",
    "MATCH_PARAMS": "match",
    "toy_attribute_labels": "attributes",
    "toy_attribute_model": "attributes",
    "train_toy_attribute_model": "attributes",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
