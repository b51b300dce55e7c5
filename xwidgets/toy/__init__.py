"""The toy world: procedural part-based birds with ground truth, and tiny shipped models.

    import xwidgets as xw
    data = xw.toy.dataset(100, seed=7)          # a torch Dataset of ToySample
    model = xw.toy.classifier()                 # an xw.Classifier, 11 species
"""

from .evidence import occlude
from .models import EMBEDDING_DIM, TOY_PREPROCESSING, ToyCNN, classifier, embedder
from .render import MIN_SIZE, render_bird
from .species import ATTRIBUTES, COLORS, PART_IDS, PARTS, SPECIES, Species, check_species
from .world import ToyDataset, ToyPair, ToySample, ToyWorld, condition_phrase, dataset, pairs

__all__ = [
    "occlude", "EMBEDDING_DIM", "TOY_PREPROCESSING", "ToyCNN", "classifier", "embedder", "MIN_SIZE", "render_bird",
    "ATTRIBUTES", "COLORS", "PART_IDS", "PARTS", "SPECIES", "Species", "check_species",
    "ToyDataset", "ToyPair", "ToySample", "ToyWorld", "condition_phrase", "dataset", "pairs",
]
