"""Plumbing every method shares. Imports torch and numpy only; no widgets."""

from .baselines import BASELINE_KINDS, BASELINE_PARAMS, gaussian_blur, make_baseline
from .errors import Cancelled, InvalidArgument, XWidgetsDeprecationWarning, XWidgetsError
from .hooks import find_layer, record_layer
from .imagenet import imagenet_classes
from .images import to_batch, to_numpy_uint8
from .layers import default_layer, default_layer_on, layer_map, spatial_activation
from .masks import composite, upsample_mask
from .models import IMAGENET_MEAN, IMAGENET_STD, Classifier, Embedder, Model, Preprocessing
from .params import Param, ParamSet
from .pretrained import efficientnet_lite0
from .results import Result, library_versions
from .runner import Job, Progress, ProgressBar, Runner, as_progress, progress_enabled, set_progress, shows_progress
from .scoring import microbatched, score, score_masks
from .sources import dataset_image, image_count, image_source, read_images
from .steps import StepCache
from .targets import ClassTarget, FunctionTarget, SimilarityTarget, Target, resolve_target, similarity_to

__all__ = [
    "BASELINE_KINDS",
    "BASELINE_PARAMS",
    "gaussian_blur",
    "make_baseline",
    "Cancelled",
    "InvalidArgument",
    "XWidgetsDeprecationWarning",
    "XWidgetsError",
    "find_layer",
    "record_layer",
    "to_batch",
    "to_numpy_uint8",
    "imagenet_classes",
    "efficientnet_lite0",
    "default_layer",
    "default_layer_on",
    "layer_map",
    "spatial_activation",
    "composite",
    "upsample_mask",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Classifier",
    "Embedder",
    "Model",
    "Preprocessing",
    "Param",
    "ParamSet",
    "Result",
    "library_versions",
    "Job",
    "Progress",
    "ProgressBar",
    "Runner",
    "as_progress",
    "progress_enabled",
    "set_progress",
    "shows_progress",
    "StepCache",
    "microbatched",
    "score",
    "score_masks",
    "dataset_image",
    "image_count",
    "image_source",
    "read_images",
    "ClassTarget",
    "FunctionTarget",
    "SimilarityTarget",
    "Target",
    "resolve_target",
    "similarity_to",
]
