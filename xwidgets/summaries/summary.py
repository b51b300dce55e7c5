"""Visual summaries of one class: a dataset-level method fitted on the class's images, whose ``explain`` finds the
accepted summaries (the parts the network uses again and again) on new images.

    summaries = xw.fit(model, images, "ember thrush", method="summaries")     # or xw.summaries.fit(...)
    summaries.accepted                     # the clusters of salient regions that look alike across images
    shown = summaries.explain(new_images)  # which of those parts each new image shows, with boxes

The kernel runs named steps (images → masks → regions → proposals → clusters), each cached under the parameters
it reads in a :class:`~xwidgets.core.steps.StepCache` passed as ``cache=``: changing a later step's parameter
reruns that step and those after it, never the ones before. The clustering preference reclusters in well under a
second without recomputing masks or matching; the mask threshold or minimum area redo the regions and what
follows, but not the crisp masks (the dataset pass). The mathematics and departures: ``docs/summaries.md``.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Hashable

import numpy as np
import torch

from ..core.deprecation import warn_deprecated
from ..core.errors import invalid
from ..core.hooks import find_layer
from ..core.layers import default_layer_on
from ..core.methods import get_spec, register
from ..core.models import Classifier, check_model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import Progress, as_progress, shows_progress
from ..core.scoring import forward_batched
from ..core.sources import StoredImages, image_count, image_source, read_images, stored_images
from ..core.steps import StepCache
from ..core.targets import class_index
from .clusters import accept_clusters, cluster_proposals
from .masks import (
    CRISP_PARAMS,
    STORED_MASK_METHODS,
    CrispMasks,
    crisp_masks,
    heatmap_masks,
    igos_masks,
    stored_masks,
)
from .proposals import Proposals, describe_proposals, match_scores, proposals
from .regions import REGION_PARAMS, Regions, salient_regions

__all__ = [
    "SUMMARY_PARAMS",
    "STEPS",
    "MASK_METHODS",
    "SummaryResult",
    "SummaryExplanation",
    "SummaryPipeline",
    "summaries",
    "fit",
    "common_class",
    "summaries_per_model",
]

SUMMARY_PARAMS = ParamSet(
    "summaries",
    *CRISP_PARAMS.values(),
    *REGION_PARAMS.values(),
    Param(
        "coverage", "float", 0.75, "share of a proposal box the crisp mask must cover", low=0.05, high=1.0, step=0.05
    ),
    Param(
        "preference_factor",
        "float",
        1.3,
        "affinity propagation preference = factor × median similarity (larger: fewer summaries)",
        low=0.05,
        high=20.0,
        step=0.05,
    ),
    Param(
        "ssim_factor",
        "float",
        0.9,
        "a summary is accepted when its median SSIM ≥ class median − "
        "(1 − factor) × |class median| (factor × median if that is ≥ 0; larger: stricter)",
        low=0.0,
        high=2.0,
        step=0.05,
    ),
    Param("top", "int", 10, "samples per summary (the exemplar and the best match of other images)", low=2, high=50),
)

#: The pipeline's cached steps and the parameters each reads (a step also reruns when an earlier one changed).
STEPS = {
    "images": (),
    "masks": tuple(CRISP_PARAMS),
    "regions": tuple(REGION_PARAMS),
    "proposals": ("coverage",),
    "clusters": ("preference_factor", "top", "ssim_factor"),
}
#: How the masks are made: the paper's two-stage crisp masks, I-GOS maps (with ``mask_params`` I-GOS's), or the
#: maps a dataset run stored (``data`` a run of I-GOS or iGOS++: no mask is optimised).
MASK_METHODS = ("two_stage", "igos", "stored")


@dataclasses.dataclass(kw_only=True)
class SummaryResult(Result):
    """The summaries of one class: the fitted explanation whose :meth:`explain` finds them on new images.

    Attributes:
        images: ``[N, 3, H, W]`` the kept images; ``saliency`` ``[N, 1, H, W]`` their crisp maps; ``indices``
            ``[N]`` their positions among the images given.
        boxes: ``[P, 4]`` the proposals' boxes; ``box_image`` ``[P]`` the image row of each; ``descriptors``
            ``[P, D]`` their L2-normalised features of ``params["layer"]``.
        summaries: one dict per cluster: ``exemplar``, ``members``, ``samples`` (proposal indices), ``ssim`` and
            ``accepted``.
        target: the class; ``target_name`` its label; ``skipped``: the images left out and why.
        model: the classifier it was fitted with (not saved: pass it to :meth:`explain` after a load).
    """

    images: torch.Tensor
    saliency: torch.Tensor
    indices: torch.Tensor
    boxes: torch.Tensor
    box_image: torch.Tensor
    descriptors: torch.Tensor
    summaries: list = dataclasses.field(default_factory=list)
    target: int = 0
    target_name: str = ""
    skipped: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        self.model: Classifier | None = None

    @property
    def accepted(self) -> list[dict]:
        """The accepted summaries."""
        return [s for s in self.summaries if s["accepted"]]

    def figure(self, index: int | list[int] | None = None, *, path=None, **style):
        """A mosaic of accepted summary ``index`` (0-based), of a list of them, or of all (None, the default):
        one row each (:func:`~xwidgets.summaries.figure.summary_figure`), saved to ``path`` when given."""
        from .figure import summary_figure

        return summary_figure(self, index, path=path, **style)

    @shows_progress("summaries.explain")
    def explain(self, images: object, model: Classifier | None = None, *, progress=True) -> SummaryExplanation:
        """Which accepted summaries each of ``images`` shows, and where.

        Each image gets crisp masks for the summarised class (whatever the network predicts for it), salient
        regions and proposals with the fitting's parameters. A proposal's match to a summary is its largest cosine
        to one of the summary's samples (their descriptors); a summary is shown on an image when the image's best
        match reaches the summary's threshold, halfway between how well its samples match each other and how well
        the proposals of the fitting images outside the summary match it.

        Args:
            images: new images (any form ``xw.fit`` takes as data), at the model's input size after preparation.
            model: the classifier (default the one it was fitted with; pass it after a load).
            progress: True (a bar after a second), False, a Progress or ``callback(fraction, message)``.

        Cost: the masks' optimisation on the new images (as in the fit), then matrix products.
        """
        model = self._model_arg(model)
        if not self.accepted:
            raise invalid(
                "summaries",
                "no accepted summary",
                "a fit that accepted at least one summary (lower "
                "ssim_factor or preference_factor, or fit on more images)",
            )
        pixels = _pixels(model, images)
        masks = _masks(model, pixels, self.target, self.params, keep_all=True, progress=progress.part(0.0, 0.9))
        regions = salient_regions(model, masks, **_values(self.params, REGION_PARAMS))
        found = describe_proposals(
            model,
            masks,
            proposals(masks, regions, coverage=self.params["coverage"], mask_threshold=self.params["mask_threshold"]),
            self.params["layer"],
        )
        matches, boxes = _best_matches(found, self._sample_descriptors(), pixels.shape[0])
        thresholds = torch.tensor([self._threshold(summary) for summary in self.accepted])
        progress.report(1.0, "summaries found on the new images")
        return SummaryExplanation(
            method="summaries",
            params=dict(self.params),
            images=masks.images,
            saliency=masks.saliency,
            scores=masks.scores,
            matches=matches,
            boxes=boxes,
            thresholds=thresholds,
            shown=matches >= thresholds,
            target=self.target,
            target_name=self.target_name,
        )

    def _threshold(self, summary: dict) -> float:
        """Halfway between how close the summary's samples are to each other (the median cosine of each to its
        nearest other sample) and how close the proposals of the images outside the summary come to it (the
        median of their largest cosine to a sample)."""
        samples = self.descriptors[summary["samples"]]
        inside = set(self.box_image[summary["samples"]].tolist())
        outside = torch.tensor([int(i) not in inside for i in self.box_image.tolist()], dtype=torch.bool)
        if not bool(outside.any()):
            outside = torch.ones(len(self.box_image), dtype=torch.bool)
            outside[summary["members"]] = False
        if not bool(outside.any()):
            return float(_nearest_sample(samples).median())
        others = (self.descriptors[outside] @ samples.T).max(1).values
        return float((_nearest_sample(samples).median() + others.median()) / 2)

    def _sample_descriptors(self) -> list[torch.Tensor]:
        return [self.descriptors[s["samples"]] for s in self.accepted]

    def _model_arg(self, model: Classifier | None) -> Classifier:
        model = model if model is not None else self.model
        if model is None:
            raise invalid(
                "model",
                None,
                "the classifier the summaries were fitted with; a loaded result has none attached, so pass it",
            )
        check_model(model, Classifier)
        find_layer(model.module, self.params["layer"])
        return model


@dataclasses.dataclass(kw_only=True)
class SummaryExplanation(Result):
    """The accepted summaries of a class found on B new images (:meth:`SummaryResult.explain`); S summaries.

    Attributes:
        images: ``[B, 3, H, W]`` the images at the model's input size; ``saliency`` ``[B, 1, H, W]`` their crisp
            maps for the class; ``scores`` ``[B]`` the class's probability on each.
        matches: ``[B, S]`` the best proposal's largest cosine to a sample of each summary (0 without proposals);
            ``boxes`` ``[B, S, 4]`` that proposal's box (x0, y0, x1, y1; zeros without proposals).
        thresholds: ``[S]`` the least match a summary accepts (see :meth:`SummaryResult.explain`).
        shown: ``[B, S]`` bool, ``matches >= thresholds``: the summaries each image shows.
        target, target_name: the class.
    """

    images: torch.Tensor
    saliency: torch.Tensor
    scores: torch.Tensor
    matches: torch.Tensor
    boxes: torch.Tensor
    thresholds: torch.Tensor
    shown: torch.Tensor
    target: int = 0
    target_name: str = ""

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def parts(self, index: int = 0) -> list[int]:
        """The accepted summaries (0-based numbers) image ``index`` shows, best match first."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self):
            raise invalid("index", index, f"an image index in 0..{len(self) - 1}")
        shown = self.shown[index].nonzero().flatten().tolist()
        return sorted(shown, key=lambda s: -float(self.matches[index, s]))

    def figure(self, index: int | list[int] = 0, *, path=None, **style):
        """Image ``index`` (or a list of them) with the box of every summary it shows, in the summary's colour
        (:func:`~xwidgets.summaries.figure.explanation_figure`), saved to ``path`` when given."""
        from .figure import explanation_figure

        return explanation_figure(self, index, path=path, **style)


def _values(params: dict, declared: ParamSet) -> dict:
    return {name: params[name] for name in declared}


def _pixels(model: Classifier, data: object) -> torch.Tensor:
    """``data`` as ``[N, 3, H, W]`` pixels at the model's input size (a batch, a list, a Dataset, paths)."""
    if isinstance(data, (torch.Tensor, np.ndarray)) and data.ndim == 4:
        return model.prepare(data, name="data")
    source = image_source(data, name="data")
    return read_images(model, source, 0, image_count(source, name="data"), name="data")


def _predictions(model: Classifier, pixels: torch.Tensor) -> torch.Tensor:
    """``[N]`` the top-1 class of each image, in batched forwards without gradients."""
    with torch.no_grad(), model.frozen():
        return forward_batched(model, model.normalize(pixels)).argmax(1).cpu()


def common_class(model: Classifier, predicted: torch.Tensor) -> tuple[int, int]:
    """``(class, count)``: the most common of the ``[N]`` top-1 classes ``predicted`` (the smallest index on a
    tie) and how many images have it."""
    counts = torch.bincount(predicted.long(), minlength=1)
    return int(counts.argmax()), int(counts.max())


def _resolve_target(model: Classifier, target: object, predicted: torch.Tensor) -> int:
    """The class to summarise: ``target`` (an index or a class name), or with None the data's most common top-1
    class, said in a warning."""
    labels = model.labels
    if target is not None:
        return class_index(target, labels, len(labels) if labels else None)
    chosen, count = common_class(model, predicted)
    name = labels[chosen] if labels else f"class {chosen}"
    warnings.warn(
        f"target=None: summarising {name!r}, the most common top-1 class of the data ({count} of "
        f"{predicted.numel()} images); pass target= to choose the class",
        UserWarning,
        stacklevel=4,
    )
    return chosen


def _masks(
    model: Classifier,
    pixels: torch.Tensor,
    target: int,
    params: dict,
    *,
    keep_all: bool = False,
    progress: Progress,
    stored: StoredImages | None = None,
) -> CrispMasks:
    """The masks of a fit (``keep_all`` False: batched) or of an explanation (``keep_all``: every image, each on
    its own, so that its answer does not depend on the images explained beside it). With ``"stored"`` masks a
    fit reads the run's maps (``stored``), and an explanation computes the run's method with its parameters."""
    if params["mask_method"] == "stored" and stored is not None and not keep_all:
        return stored_masks(model, pixels, target, stored)
    if params["mask_method"] == "stored":
        method = params["mask_source"]
        return heatmap_masks(
            model, pixels, target, method=method, keep_all=keep_all, progress=progress, **params["mask_params"]
        )
    if params["mask_method"] == "igos":
        return igos_masks(model, pixels, target, keep_all=keep_all, progress=progress, **params["mask_params"])
    return crisp_masks(
        model,
        pixels,
        target,
        keep_all=keep_all,
        batch_size=1 if keep_all else None,
        progress=progress,
        **_values(params, CRISP_PARAMS),
    )


def _best_matches(found: Proposals, samples: list[torch.Tensor], count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``([count, S] best match, [count, S, 4] its box)`` of each image's proposals to each summary's ``[M, D]``
    sample descriptors; a proposal's match to a summary is its largest cosine to one of the samples."""
    matches, boxes = torch.zeros(count, len(samples)), torch.zeros(count, len(samples), 4)
    if len(found) == 0:
        return matches, boxes
    similarity = torch.stack([(found.described() @ d.T).max(1).values for d in samples], dim=1)  # [P, S]
    for row in found.image.unique().tolist():
        own = (found.image == row).nonzero().flatten()
        best, where = similarity[own].max(dim=0)
        matches[row], boxes[row] = best, found.boxes[own[where]]
    return matches, boxes


def _nearest_sample(descriptors: torch.Tensor) -> torch.Tensor:
    """``[M]`` each sample's largest cosine to another sample of its summary (``[M, D]`` descriptors, M ≥ 2)."""
    cosine = descriptors @ descriptors.T
    return cosine.fill_diagonal_(-1.0).max(1).values


def _mask_method(mask_method: str | None, stored: StoredImages | None) -> str:
    """The mask method: ``mask_method``, or by default ``"stored"`` for a run of I-GOS or iGOS++ and
    ``"two_stage"`` otherwise; ``"stored"`` needs such a run."""
    if mask_method is None:
        return "stored" if stored is not None and stored.map_method in STORED_MASK_METHODS else "two_stage"
    if mask_method not in MASK_METHODS:
        raise invalid("mask_method", repr(mask_method), " or ".join(map(repr, MASK_METHODS)))
    if mask_method == "stored" and (stored is None or stored.map_method not in STORED_MASK_METHODS):
        given = "data that is not a dataset run" if stored is None else f"a run of {stored.map_method!r}"
        raise invalid("mask_method", f"'stored' with {given}", "a run of xw.explain_dataset with method igos or igospp")
    return mask_method


def _mask_settings(mask_method: str, mask_params: dict | None, params: dict) -> tuple[dict, dict]:
    """``(params with the two-stage mask overrides folded in, the I-GOS mask parameters)``."""
    if mask_params is not None and not isinstance(mask_params, dict):
        raise invalid("mask_params", mask_params, "a dict of mask parameters")
    if mask_method == "stored" and mask_params is not None:
        raise invalid("mask_params", mask_params, "None with stored masks: they are the run's, with its parameters")
    if mask_method == "two_stage":
        return {**(mask_params or {}), **params}, {}
    return params, dict(mask_params or {})


def _timed(timings: dict, step: str, compute: Callable[[], object]) -> Callable[[], object]:
    def run():
        started = time.perf_counter()
        value = compute()
        timings[step] = time.perf_counter() - started
        return value

    return run


@register(
    "summaries",
    title="Visual summaries",
    kind="dataset",
    params=SUMMARY_PARAMS,
    result=SummaryResult,
    summary="the parts a classifier uses again and again for one class: salient regions of many images, "
    "matched and clustered; explain() finds them on new images",
    docs="summaries.md",
    steps=STEPS,
    explorer="xwidgets.summaries.explorer:SummaryExplorer",
    render="render",
    example='xw.fit(xw.toy.classifier(), images_of_one_class, "ember thrush", method="summaries")',
    quick={"smooth_iterations": 30, "sharp_iterations": 20},
)
@shows_progress("summaries")
def summaries(
    model: Classifier,
    data: object,
    target: object = None,
    *,
    layer: str | None = None,
    mask_method: str | None = None,
    mask_params: dict | None = None,
    cache: StepCache | None = None,
    progress=True,
    **params,
) -> SummaryResult:
    """Fit the visual summaries of one class on ``data``, its images.

    Args:
        model: a :class:`~xwidgets.core.models.Classifier`.
        data: images of the class (a ``[N, 3, H, W]`` tensor, an ``[N, H, W, 3]`` array, a list, a Dataset, or a
            dataset run, ``xw.open_run(path)``: its explained images in index order, ``indices`` counting them);
            images the network assigns to another class are skipped (listed in ``skipped``).
        target: the class, an index or a class name; None: the data's most common top-1 class (with a warning).
        layer: the convolutional layer whose features describe proposals (default the stage before the global
            pool).
        mask_method: ``"two_stage"`` (the paper's crisp masks), ``"igos"`` (I-GOS maps) or ``"stored"`` (the maps
            a run of I-GOS or iGOS++ stored, read instead of optimised: the run's model must be ``model``, and
            images whose stored map explains another class are skipped). None (default): ``"stored"`` when
            ``data`` is such a run, else ``"two_stage"``.
        mask_params: I-GOS's parameters with ``mask_method="igos"``; with ``"two_stage"``, overrides of the mask
            parameters (the same as passing them in ``params``); None with ``"stored"`` (the run's own).
        cache: a :class:`~xwidgets.core.steps.StepCache` reused across calls on the same model and data: only
            the steps whose parameters changed rerun.
        progress: True (a bar after a second), False, a Progress or ``callback(fraction, message)``; cancellable.
        params: any of :data:`SUMMARY_PARAMS` (the masks', the regions', the proposals' and the clusters').

    Returns:
        A :class:`SummaryResult` with ``model`` attached: ``explain(images)`` finds its summaries on new images.
    """
    check_model(model, Classifier)
    stored = stored_images(data)
    mask_method = _mask_method(mask_method, stored)
    params, igos_params = _mask_settings(mask_method, mask_params, params)
    values = SUMMARY_PARAMS.resolve(params)
    cache = StepCache() if cache is None else cache
    if not isinstance(cache, StepCache):
        raise invalid("cache", type(cache).__name__, "a StepCache (xwidgets.core.steps) or None")
    progress = as_progress(progress)
    timings: dict[str, float] = {}
    pixels, predicted = cache.get(
        "images",
        (id(model), id(data)),
        _timed(timings, "images", lambda: (lambda p: (p, _predictions(model, p)))(_pixels(model, data))),
    )
    target = _resolve_target(model, target, predicted)
    layer = layer or default_layer_on(model, pixels[:1])
    find_layer(model.module, layer)
    settings = {**values, "mask_method": mask_method, "mask_params": igos_params, "layer": layer}
    if stored is not None and mask_method == "stored":
        settings.update(mask_params=dict(stored.map_params), mask_source=stored.map_method)
    context: tuple[Hashable, ...] = (
        id(model),
        id(data),
        target,
        layer,
        mask_method,
        tuple(sorted(igos_params.items())),
    )

    def key(step: str) -> tuple:
        return context + get_spec("summaries").cache_key(step, values)

    def stage(fraction: float, message: str) -> None:
        """Say which step of the pass runs now (to the bar, and streamed for a view); a cancelled run stops here."""
        progress.check()
        progress.report(fraction, message)
        progress.stream({"summary_pass": "matching", "message": message}, force=True)

    masks: CrispMasks = cache.get(
        "masks",
        key("masks"),
        _timed(
            timings,
            "masks",
            lambda: _masks(model, pixels, target, settings, progress=progress.part(0.0, 0.9), stored=stored),
        ),
    )
    stage(0.9, "salient regions of the masks")
    regions: Regions = cache.get(
        "regions",
        key("regions"),
        _timed(timings, "regions", lambda: salient_regions(model, masks, **_values(values, REGION_PARAMS))),
    )
    stage(0.92, "region proposals matched across the images")
    found, scores = cache.get(
        "proposals",
        key("proposals"),
        _timed(timings, "proposals", lambda: _matched(model, masks, regions, values, layer)),
    )
    stage(0.95, "proposals clustered and judged by SSIM")
    judged = cache.get(
        "clusters",
        key("clusters"),
        _timed(
            timings,
            "clusters",
            lambda: accept_clusters(
                cluster_proposals(
                    scores, found.image, preference_factor=values["preference_factor"], top=values["top"]
                ),
                masks.images,
                found.boxes,
                found.image,
                ssim_factor=values["ssim_factor"],
            ),
        ),
    )
    progress.report(1.0, f"{sum(c['accepted'] for c in judged)} summaries accepted")
    labels = model.labels
    result = SummaryResult(
        method="summaries",
        params=settings,
        timings=timings,
        images=masks.images,
        saliency=masks.saliency,
        indices=masks.indices,
        boxes=found.boxes,
        box_image=found.image,
        descriptors=found.descriptors,
        summaries=judged,
        target=target,
        target_name=labels[target] if labels else str(target),
        skipped=masks.skipped,
    )
    result.model = model
    return result


def _matched(
    model: Classifier, masks: CrispMasks, regions: Regions, values: dict, layer: str
) -> tuple[Proposals, torch.Tensor]:
    """The proposals with their descriptors, and their ``[P, P]`` matching scores."""
    found = describe_proposals(
        model,
        masks,
        proposals(masks, regions, coverage=values["coverage"], mask_threshold=values["mask_threshold"]),
        layer,
    )
    return found, match_scores(found)


fit = summaries
"""``xw.summaries.fit(model, data, target=None, **params)``: the same as ``xw.fit(..., method="summaries")``."""


class SummaryPipeline:
    """Deprecated: use ``xw.summaries.fit(model, images, target, cache=StepCache(), **params)`` (or
    ``xw.fit(..., method="summaries")``). Kept for one release; ``run(**params)`` calls it with a cache of its own.
    """

    def __init__(
        self,
        model: Classifier,
        images: object,
        target: int | str,
        *,
        layer: str | None = None,
        mask_params: dict | None = None,
        mask_method: str = "two_stage",
    ):
        warn_deprecated(
            "xw.summaries.SummaryPipeline(model, images, target).run(**params) is deprecated: use "
            "xw.summaries.fit(model, images, target, cache=xw.core.StepCache(), **params)"
        )
        check_model(model, Classifier)
        self.model, self.images = model, images
        self.target = class_index(target, model.labels, len(model.labels) if model.labels else None)
        self.layer = layer or default_layer_on(model, images)
        find_layer(model.module, self.layer)
        _mask_settings(_mask_method(mask_method, None), mask_params, {})
        self.mask_method, self.mask_params = mask_method, mask_params
        self.cache = StepCache()
        self.timings: dict[str, float] = {}

    def run(self, *, progress=True, **params) -> SummaryResult:
        """Run the steps whose parameters changed and return the summaries."""
        result = summaries(
            self.model,
            self.images,
            self.target,
            layer=self.layer,
            mask_method=self.mask_method,
            mask_params=self.mask_params,
            cache=self.cache,
            progress=progress,
            **params,
        )
        self.timings.update(result.timings)
        return result


@shows_progress("summaries_per_model")
def summaries_per_model(models: dict, images: object, target: int | str, *, progress=True, **params) -> dict:
    """The summaries of each model (``{name: Classifier}``) on the same images: the paper's comparison of
    architectures. Returns ``{name: SummaryResult}``; ``len(result.accepted)`` is the count."""
    if not isinstance(models, dict) or not models:
        raise invalid("models", models, "a dict {name: Classifier} with at least one model")
    progress = as_progress(progress)
    results = {}
    for index, (name, model) in enumerate(models.items()):
        step = progress.part(index / len(models), (index + 1) / len(models))
        results[name] = summaries(model, images, target, progress=step, **params)
    return results
