"""Visual summaries (Carletti, Godi, Aghaei, Cristani; arXiv 1801.09103): crisp salient regions of many images of
one class, grouped into the parts the network uses again and again.

:class:`SummaryPipeline` chains the steps with cached intermediate results. Each step is a plain function on the
previous one's result: :func:`crisp_masks` (two-stage deletion masks), :func:`salient_regions` (ranked connected
regions), :func:`proposals` and :func:`describe_proposals` (boxes on the salient parts with the network's
features), :func:`match_scores` (proposal-flow-style matching), :func:`cluster_proposals` (affinity propagation)
and :func:`accept_clusters` (SSIM acceptance).
"""

from .clusters import accept_clusters, cluster_proposals
from .masks import CRISP_PARAMS, CrispMasks, crisp_masks, igos_masks, scaled_blur
from .proposals import Proposals, describe_proposals, match_scores, proposals
from .regions import REGION_PARAMS, Regions, salient_regions
from .summary import SUMMARY_PARAMS, SummaryPipeline, SummaryResult, summaries_per_model

__all__ = ["accept_clusters", "cluster_proposals", "CRISP_PARAMS", "CrispMasks", "crisp_masks", "igos_masks",
           "scaled_blur", "Proposals", "describe_proposals", "match_scores", "proposals", "REGION_PARAMS", "Regions",
           "salient_regions", "SUMMARY_PARAMS", "SummaryPipeline", "SummaryResult", "summaries_per_model"]
