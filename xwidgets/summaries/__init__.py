"""Visual summaries (Carletti, Godi, Aghaei, Cristani; arXiv 1801.09103): crisp salient regions of many images of
one class, grouped into the parts the network uses again and again.

``xw.summaries.fit(model, data, target=None, **params)`` (or ``xw.fit(..., method="summaries")``) runs the steps
with cached intermediate results and returns a :class:`SummaryResult`, whose ``explain(images)`` finds the accepted
summaries on new images. Each step is a plain function on the previous one's result: :func:`crisp_masks`
(two-stage deletion masks; or :func:`stored_masks`, the maps of a stored I-GOS run),
:func:`salient_regions` (ranked connected regions), :func:`proposals` and
:func:`describe_proposals` (boxes on the salient parts with the network's features), :func:`match_scores`
(proposal-flow-style matching), :func:`cluster_proposals` (affinity propagation) and :func:`accept_clusters` (SSIM
acceptance). The mathematics and the departures from the official code: ``docs/summaries.md``.
"""

from .clusters import accept_clusters, cluster_proposals
from .masks import (
    CRISP_PARAMS,
    STORED_MASK_METHODS,
    CrispMasks,
    crisp_masks,
    heatmap_masks,
    igos_masks,
    scaled_blur,
    stored_masks,
)
from .proposals import Proposals, describe_proposals, match_scores, proposals
from .regions import REGION_PARAMS, Regions, salient_regions
from .summary import (
    MASK_METHODS,
    STEPS,
    SUMMARY_PARAMS,
    SummaryExplanation,
    SummaryPipeline,
    SummaryResult,
    common_class,
    fit,
    summaries,
    summaries_per_model,
)

__all__ = [
    "accept_clusters",
    "cluster_proposals",
    "CRISP_PARAMS",
    "CrispMasks",
    "crisp_masks",
    "igos_masks",
    "stored_masks",
    "heatmap_masks",
    "STORED_MASK_METHODS",
    "scaled_blur",
    "Proposals",
    "describe_proposals",
    "match_scores",
    "proposals",
    "REGION_PARAMS",
    "Regions",
    "salient_regions",
    "MASK_METHODS",
    "STEPS",
    "SUMMARY_PARAMS",
    "SummaryExplanation",
    "SummaryPipeline",
    "SummaryResult",
    "common_class",
    "fit",
    "summaries",
    "summaries_per_model",
    "SummaryExplorer",
]


def __getattr__(name: str):
    """``SummaryExplorer`` is imported on first use, so the kernels run where no widget library is installed."""
    if name == "SummaryExplorer":
        from .explorer import SummaryExplorer

        return SummaryExplorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
