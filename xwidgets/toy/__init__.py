"""The toy world: procedural part-based birds with ground truth, and tiny shipped models.

    import xwidgets as xw
    data = xw.toy.dataset(100, seed=7)          # a torch Dataset of ToySample
    model = xw.toy.classifier()                 # an xw.Classifier, 11 species
    attributes = xw.toy.attribute_model()       # SANE's attribute head on xw.toy.embedder()
    captions = xw.toy.captions(data)            # 3 to 5 captions per sample, for xw.text.fit

The toy world sits above the method packages: it adapts its ground truth to their terms (attribute labels,
captions, vocabulary labels); no method package imports it.
"""

from .attributes import (
    ATTRIBUTE_TRAINING,
    ATTRIBUTE_WEIGHTS,
    attribute_groups,
    attribute_labels,
    attribute_model,
    train_attribute_model,
)
from .captions import captions, evidence_attributes, vocabulary_labels
from .evidence import occlude
from .models import EMBEDDING_DIM, TOY_PREPROCESSING, ToyCNN, classifier, embedder
from .render import MIN_SIZE, render_bird
from .species import ATTRIBUTES, COLORS, PART_IDS, PARTS, SPECIES, Species, check_species
from .world import ToyDataset, ToyPair, ToySample, ToyWorld, condition_phrase, dataset, pairs

__all__ = [
    "occlude",
    "EMBEDDING_DIM",
    "TOY_PREPROCESSING",
    "ToyCNN",
    "classifier",
    "embedder",
    "MIN_SIZE",
    "render_bird",
    "ATTRIBUTES",
    "COLORS",
    "PART_IDS",
    "PARTS",
    "SPECIES",
    "Species",
    "check_species",
    "ToyDataset",
    "ToyPair",
    "ToySample",
    "ToyWorld",
    "condition_phrase",
    "dataset",
    "pairs",
    "ATTRIBUTE_TRAINING",
    "ATTRIBUTE_WEIGHTS",
    "attribute_groups",
    "attribute_labels",
    "attribute_model",
    "train_attribute_model",
    "captions",
    "evidence_attributes",
    "vocabulary_labels",
]
