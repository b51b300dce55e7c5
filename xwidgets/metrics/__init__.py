"""Faithfulness and localisation metrics. Each declares whether higher is better."""

from .faithfulness import DELETION_INSERTION_PARAMS, PRESETS, CurveResult, deletion_insertion, perturbed_images
from .localisation import HIGHER_IS_BETTER, energy_in_mask, pointing_game, topk_iou

__all__ = [
    "DELETION_INSERTION_PARAMS",
    "PRESETS",
    "CurveResult",
    "deletion_insertion",
    "perturbed_images",
    "HIGHER_IS_BETTER",
    "energy_in_mask",
    "pointing_game",
    "topk_iou",
]
