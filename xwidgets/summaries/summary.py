"""Visual summaries of one class as a pipeline of named steps with cached intermediate results.

    pipeline = xw.summaries.SummaryPipeline(model, images, target="goldcap")
    result = pipeline.run()                       # masks, regions, proposals, matching, clusters, acceptance
    result = pipeline.run(preference_factor=2.0)  # re-clusters from the cached matching scores only

Each step's result is cached under the parameters that decide it, so changing a later step's parameter reruns
that step and those after it, never the ones before: the clustering preference reclusters in well under a second
without recomputing masks or matching; the mask threshold or minimum area redo the regions and what follows, but
not the crisp masks (the dataset pass).
"""

from __future__ import annotations

import dataclasses
import time

import torch

from ..core.errors import invalid
from ..core.models import Classifier, check_model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import as_progress, shows_progress
from ..core.targets import class_index
from .clusters import accept_clusters, cluster_proposals
from .masks import CRISP_PARAMS, CrispMasks, crisp_masks, igos_masks
from .proposals import Proposals, describe_proposals, match_scores, proposals
from .regions import REGION_PARAMS, Regions, salient_regions

__all__ = ["SUMMARY_PARAMS", "SummaryPipeline", "SummaryResult", "summaries_per_model"]

SUMMARY_PARAMS = ParamSet(
    "summaries",
    *REGION_PARAMS.values(),
    Param("coverage", "float", 0.75, "share of a proposal box the crisp mask must cover", low=0.05, high=1.0,
          step=0.05),
    Param("preference_factor", "float", 1.3, "affinity propagation preference = factor × median similarity "
          "(larger: fewer summaries)", low=0.05, high=20.0, step=0.05),
    Param("ssim_factor", "float", 0.9, "a summary is accepted when its median SSIM ≥ class median − "
          "(1 − factor) × |class median| (factor × median if that is ≥ 0; larger: stricter)", low=0.0, high=2.0,
          step=0.05),
    Param("top", "int", 10, "samples per summary (the exemplar and the best match of other images)", low=2,
          high=50),
)

_STEPS = {"regions": ("mask_threshold", "min_area", "top_k"), "proposals": ("coverage",),
          "clusters": ("preference_factor", "top"), "acceptance": ("ssim_factor",)}


@dataclasses.dataclass(kw_only=True)
class SummaryResult(Result):
    """The summaries of one class.

    Attributes:
        images: ``[N, 3, H, W]`` the kept images; ``saliency`` ``[N, 1, H, W]`` their crisp maps; ``indices``
            ``[N]`` their positions among the images given.
        boxes: ``[P, 4]`` the proposals' boxes; ``box_image`` ``[P]`` the image row of each.
        summaries: one dict per cluster: ``exemplar``, ``members``, ``samples`` (proposal indices), ``ssim`` and
            ``accepted``.
        target: the class; ``target_name`` its label; ``skipped``: the images left out and why.
    """

    images: torch.Tensor = None
    saliency: torch.Tensor = None
    indices: torch.Tensor = None
    boxes: torch.Tensor = None
    box_image: torch.Tensor = None
    summaries: list = dataclasses.field(default_factory=list)
    target: int = 0
    target_name: str = ""
    skipped: list = dataclasses.field(default_factory=list)

    @property
    def accepted(self) -> list[dict]:
        """The accepted summaries."""
        return [s for s in self.summaries if s["accepted"]]

    def figure(self, **style):
        """A mosaic of the accepted summaries (:func:`~xwidgets.summaries.figure.summary_figure`)."""
        from .figure import summary_figure

        return summary_figure(self, **style)


class SummaryPipeline:
    """Masks → regions → proposals → matching → clusters → acceptance for one class's images, with caches.

    Args:
        model: a :class:`~xwidgets.core.models.Classifier`.
        images: the images of the class (any form :func:`~xwidgets.core.images.to_batch` accepts, one size).
        target: the class, as an index or a label.
        layer: the convolutional layer whose features describe proposals (default the stage before the global
            pool, as for concepts).
        mask_params: overrides of :data:`~xwidgets.summaries.masks.CRISP_PARAMS`, or of I-GOS's parameters with
            ``mask_method="igos"``.
        mask_method: ``"two_stage"`` (the paper's crisp masks, default) or ``"igos"`` (I-GOS maps instead).
    """

    def __init__(self, model: Classifier, images: object, target: int | str, *, layer: str | None = None,
                 mask_params: dict | None = None, mask_method: str = "two_stage"):
        from ..concepts.features import default_layer_on
        from ..core.hooks import find_layer

        check_model(model, Classifier)
        self.model = model
        self.images = images
        self.target = class_index(target, model.labels, len(model.labels) if model.labels else None)
        self.layer = layer or default_layer_on(model, images)
        find_layer(model.module, self.layer)
        if mask_method not in ("two_stage", "igos"):
            raise invalid("mask_method", mask_method, "'two_stage' or 'igos'")
        self.mask_method = mask_method
        self.mask_params = CRISP_PARAMS.resolve(mask_params) if mask_method == "two_stage" else dict(mask_params or {})
        self._cache: dict[str, tuple[tuple, object]] = {}
        self.timings: dict[str, float] = {}

    def _cached(self, step: str, key: tuple, compute):
        held = self._cache.get(step)
        if held is not None and held[0] == key:
            return held[1]
        started = time.perf_counter()
        value = compute()
        self.timings[step] = time.perf_counter() - started
        self._cache[step] = (key, value)
        return value

    @property
    def masks(self) -> CrispMasks | None:
        """The crisp masks, once computed."""
        held = self._cache.get("masks")
        return None if held is None else held[1]

    @shows_progress("summaries")
    def run(self, *, progress=True, **params) -> SummaryResult:
        """Run the steps whose parameters changed (any of :data:`SUMMARY_PARAMS`) and return the summaries."""
        values = SUMMARY_PARAMS.resolve(params)
        progress = as_progress(progress)
        compute = crisp_masks if self.mask_method == "two_stage" else igos_masks
        masks = self._cached("masks", (), lambda: compute(self.model, self.images, self.target,
                                                          progress=progress.part(0.0, 0.9), **self.mask_params))
        keys = {step: tuple(values[name] for name in names) for step, names in _STEPS.items()}
        region_key = keys["regions"]
        regions: Regions = self._cached("regions", region_key, lambda: salient_regions(
            self.model, masks, **{name: values[name] for name in _STEPS["regions"]}))
        found: Proposals = self._cached("proposals", region_key + keys["proposals"], lambda: describe_proposals(
            self.model, masks, proposals(masks, regions, coverage=values["coverage"],
                                         mask_threshold=values["mask_threshold"]), self.layer))
        scores = self._cached("matching", region_key + keys["proposals"], lambda: match_scores(found))
        clusters = self._cached("clusters", region_key + keys["proposals"] + keys["clusters"],
                                lambda: cluster_proposals(scores, found.image,
                                                          preference_factor=values["preference_factor"],
                                                          top=values["top"]))
        judged = self._cached("acceptance", region_key + keys["proposals"] + keys["clusters"] + keys["acceptance"],
                              lambda: accept_clusters(clusters, masks.images, found.boxes, found.image,
                                                      ssim_factor=values["ssim_factor"]))
        progress.report(1.0, f"{sum(c['accepted'] for c in judged)} summaries accepted")
        labels = self.model.labels
        return SummaryResult(method="visual_summaries", params={**values, "masks": self.mask_params,
                                                                "layer": self.layer},
                             timings=dict(self.timings), images=masks.images, saliency=masks.saliency,
                             indices=masks.indices,
                             boxes=found.boxes, box_image=found.image, summaries=judged, target=self.target,
                             target_name=labels[self.target] if labels else str(self.target),
                             skipped=masks.skipped)


@shows_progress("summaries_per_model")
def summaries_per_model(models: dict, images: object, target: int | str, *, progress=True, **params) -> dict:
    """The number of accepted summaries of each model (``{name: Classifier}``) on the same images: the paper's
    comparison of architectures. Returns ``{name: SummaryResult}``; ``len(result.accepted)`` is the count."""
    if not isinstance(models, dict) or not models:
        raise invalid("models", models, "a dict {name: Classifier} with at least one model")
    progress = as_progress(progress)
    results = {}
    for index, (name, model) in enumerate(models.items()):
        step = progress.part(index / len(models), (index + 1) / len(models))
        results[name] = SummaryPipeline(model, images, target).run(progress=step, **params)
    return results
