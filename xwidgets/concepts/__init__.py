"""XNN explanation spaces (Qi, Khorram, Li; arXiv 1709.05360): a Sparse Reconstruction Autoencoder embeds one
layer of a classifier into k concepts from which the class logit is rebuilt faithfully; each concept is shown by
its contribution to the logit and an excitation-backprop map.

    space = xw.concepts.fit(model, images, target="azure jay", k=5)   # one dataset pass, then training
    explanation = space.explain(image)                                 # contributions, ŷ, maps
    space.refit(k=3)                                                   # retrain from the cached features
"""

from ..core.deprecation import moved
from .features import Features, extract_features
from .maps import excitation_maps, locality
from .metrics import (
    alignment_matrix,
    contribution_sparsity,
    decision_agreement,
    orthogonality,
    part_alignment,
    r_squared,
)
from .space import CONCEPT_PARAMS, SAMPLES_PER_CONCEPT, ConceptExplanation, ConceptSpace, fit
from .srae import SRAE, pull_away, srae_loss, train_srae

__all__ = [
    "Features",
    "extract_features",
    "excitation_maps",
    "locality",
    "alignment_matrix",
    "contribution_sparsity",
    "decision_agreement",
    "orthogonality",
    "part_alignment",
    "r_squared",
    "CONCEPT_PARAMS",
    "SAMPLES_PER_CONCEPT",
    "ConceptExplanation",
    "ConceptSpace",
    "fit",
    "SRAE",
    "pull_away",
    "srae_loss",
    "train_srae",
    "ConceptExplorer",
]

#: ``default_layer`` moved to :mod:`xwidgets.core.layers` (kept here until the next release, with a
#: DeprecationWarning).
_moved_to_core = moved(__name__, {"default_layer": "xwidgets.core.layers:default_layer"})


def __getattr__(name: str):
    """``ConceptExplorer`` is imported on first use, so the kernels run where no widget library is installed."""
    if name == "ConceptExplorer":
        from .explorer import ConceptExplorer

        return ConceptExplorer
    return _moved_to_core(name)
