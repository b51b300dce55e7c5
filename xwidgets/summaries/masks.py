"""Crisp masks for visual summaries (Carletti, Godi, Aghaei, Cristani; arXiv 1801.09103), the first step of the
pipeline (the mathematics: ``docs/summaries.md``).

A Fong–Vedaldi deletion game in two stages, for B images of one class optimised together. A mask M in [0, 1]
keeps a pixel at 1 and replaces it by a blurred copy at 0; with p_c the target's softmax probability::

    L(M) = p_c(Φ(I, blur(I), up(M))) + l1 · mean|1 − M| + tv · TV_β(M) + lasso · mean|M (1 − M)|

1. **Smooth**: a ``smooth_resolution``² mask (the official 28 = 224 / 8) initialised to a centred disc of zeros,
   Adam for ``smooth_iterations`` steps (300) with l1 0.5, tv 0.01, β 3 and no lasso; the upsampled mask is
   Gaussian-blurred (σ 5 at 224 px) inside the objective.
2. **Sharp**: a full-resolution mask initialised from the smooth one, Adam for ``sharp_iterations`` steps (150)
   with l1 0.01, tv 1, β 3 and the binarising ``lasso`` term 2, no blur.

Masks are clamped to [0, 1] after every step. The saliency is ``1 − M`` (high = what the network needs).

Choices of ours, where the paper gives no value or the official code does something we do not copy:

- pixel sizes (the baseline blur 11 px / σ 10 and the mask blur σ 5) are given at 224 px and scaled to the image
  side;
- the disc of zeros has a radius of a quarter of the side (``disc_radius``);
- the official blur of the mask was not differentiable (it overwrote the tensor's data, so gradients flowed as if
  there were no blur); ``blur_gradient=True`` (default) differentiates through it, ``False`` reproduces the
  official straight-through behaviour;
- the official code skips images the network does not classify as the target; so do we, and
  :class:`CrispMasks` lists them with the reason.

:func:`igos_masks` is the alternative the issue asks for: I-GOS maps (:func:`~xwidgets.heatmaps.igos`), min-max
normalised per image, in the same :class:`CrispMasks` form, so every later step runs on them unchanged. They are
smoother than the two-stage masks (no binarising term), so fewer pixels pass the region threshold.

:func:`stored_masks` reads those maps from a dataset run instead (``xw.explain_dataset(..., method="igos")``):
a run stores each image's ``saliency[i, 0]``, already ``1 − M`` upsampled and min-max normalised (high =
salient), which is exactly the form :func:`igos_masks` gives the later steps, so nothing is converted and no
I-GOS iteration runs. The raw low-resolution mask M is not stored; ``smooth`` holds ``1 − saliency`` at full
resolution (low = salient, as M). :func:`heatmap_masks` computes the same form for new images with the run's
method and parameters (what :meth:`~xwidgets.summaries.SummaryResult.explain` needs).
"""

from __future__ import annotations

import dataclasses
import time

import torch

from ..core.baselines import gaussian_blur
from ..core.errors import invalid
from ..core.masks import composite, upsample_mask
from ..core.methods import get_spec
from ..core.models import Classifier, check_model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import Progress, as_progress, shows_progress
from ..core.scoring import forward_batched, microbatched
from ..core.sources import StoredImages
from ..heatmaps.igos import total_variation

__all__ = [
    "CRISP_PARAMS",
    "STORED_MASK_METHODS",
    "CrispMasks",
    "crisp_masks",
    "igos_masks",
    "stored_masks",
    "heatmap_masks",
    "scaled_blur",
]

#: The methods of a dataset run whose stored maps summaries take as masks (the optimised-mask family).
STORED_MASK_METHODS = ("igos", "igospp")

CRISP_PARAMS = ParamSet(
    "crisp_masks",
    Param("smooth_resolution", "int", 28, "side of the stage-1 mask (official 224 / 8)", low=4, high=224),
    Param("smooth_iterations", "int", 300, "Adam steps of the smooth stage", low=0, high=5000),
    Param("sharp_iterations", "int", 150, "Adam steps of the sharp stage", low=0, high=5000),
    Param("lr", "float", 0.1, "Adam learning rate of both stages", low=1e-4, high=10.0, log=True),
    Param("smooth_l1", "float", 0.5, "weight of mean|1 − M| in the smooth stage", low=0.0, high=100.0),
    Param("smooth_tv", "float", 0.01, "weight of TV_β in the smooth stage", low=0.0, high=100.0),
    Param("sharp_l1", "float", 0.01, "weight of mean|1 − M| in the sharp stage", low=0.0, high=100.0),
    Param("sharp_tv", "float", 1.0, "weight of TV_β in the sharp stage", low=0.0, high=100.0),
    Param("lasso", "float", 2.0, "weight of the binarising mean|M(1 − M)| in the sharp stage", low=0.0, high=100.0),
    Param("tv_beta", "float", 3.0, "exponent β of the total variation", low=1.0, high=5.0),
    Param(
        "mask_blur",
        "float",
        5.0,
        "σ in px (at 224) of the blur of the smooth stage's upsampled mask",
        low=0.0,
        high=50.0,
    ),
    Param(
        "blur_gradient", "bool", True, "differentiate through the mask blur (False: the official straight-through blur)"
    ),
    Param("baseline_kernel", "int", 11, "baseline blur kernel in px at 224 (odd)", low=1, high=255, step=2),
    Param("baseline_sigma", "float", 10.0, "baseline blur σ in px at 224", low=0.1, high=200.0),
    Param(
        "disc_radius",
        "float",
        0.25,
        "radius of the initial disc of zeros, as a fraction of the side",
        low=0.0,
        high=1.0,
    ),
)


@dataclasses.dataclass(kw_only=True)
class CrispMasks(Result):
    """Crisp masks of the images of one class.

    Attributes:
        saliency: ``[N, 1, H, W]`` in [0, 1], ``1 − M`` of the sharp stage, for the N kept images.
        smooth: ``[N, 1, r, r]`` the smooth stage's mask M (low = salient).
        images: ``[N, 3, H, W]`` the kept images in pixel space at the model's input size.
        indices: ``[N]`` their indices among the images given.
        scores: ``[N]`` the target's probability on each kept image; ``masked_scores`` on its sharp composite.
        target: the class index; ``skipped``: ``[{"index": i, "reason": text}]`` for the images left out.
    """

    saliency: torch.Tensor
    smooth: torch.Tensor
    images: torch.Tensor
    indices: torch.Tensor
    scores: torch.Tensor
    masked_scores: torch.Tensor
    target: int = 0
    skipped: list = dataclasses.field(default_factory=list)


def scaled_blur(images: torch.Tensor, kernel_at_224: int, sigma_at_224: float) -> torch.Tensor:
    """Gaussian blur whose kernel (kept odd) and σ, given at 224 px, are scaled to the images' side."""
    factor = min(images.shape[-2:]) / 224
    kernel = max(1, round(kernel_at_224 * factor) // 2 * 2 + 1)
    return gaussian_blur(images, kernel, max(sigma_at_224 * factor, 1e-3))


def _disc(count: int, side: int, radius: float, device, dtype) -> torch.Tensor:
    """``[count, 1, side, side]`` ones with a centred disc of zeros of ``radius`` × side."""
    coordinates = (torch.arange(side, device=device, dtype=dtype) + 0.5) / side - 0.5
    distance = (coordinates.view(-1, 1) ** 2 + coordinates.view(1, -1) ** 2).sqrt()
    return (distance > radius).to(dtype).expand(count, 1, side, side).clone()


def _blurred(mask: torch.Tensor, sigma: float, differentiable: bool) -> torch.Tensor:
    if sigma <= 0:
        return mask
    kernel = max(3, int(2 * round(3 * sigma) + 1))
    blurred = gaussian_blur(mask, kernel, sigma)
    return blurred if differentiable else mask + (blurred - mask).detach()


def _stage(model, inputs, baselines, target, mask, iterations, weights, values, expand, progress, done, total):
    """Adam on ``mask`` for ``iterations`` steps; ``expand`` maps the parameter to the full-resolution mask."""
    mask = mask.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([mask], lr=values["lr"])
    rows = torch.arange(inputs.shape[0], device=inputs.device)
    for _ in range(iterations):
        progress.check()
        full = expand(mask)
        probabilities = torch.softmax(model.forward(composite(inputs, baselines, full)).float(), dim=1)
        loss = (
            probabilities[rows, target]
            + weights["l1"] * (1 - mask).abs().flatten(1).mean(1)
            + weights["tv"] * total_variation(mask, values["tv_beta"])
            + weights["lasso"] * (mask * (1 - mask)).abs().flatten(1).mean(1)
        )
        optimiser.zero_grad()
        loss.sum().backward()
        optimiser.step()
        with torch.no_grad():
            mask.clamp_(0.0, 1.0)
        done[0] += 1
        if done[0] % 10 == 0:
            progress.report(done[0] / total, f"crisp masks: step {done[0]} of {total}")
            progress.stream({"summary_pass": "masks", "step": done[0], "steps": total})
    return mask.detach()


def _stream_finished(
    progress: Progress, chunk: torch.Tensor, sharp: torch.Tensor, indices: torch.Tensor, done: tuple[int, int]
) -> None:
    """Stream a finished micro-batch, so a view can show the images done so far: ``images`` ``[n, 3, H, W]`` in
    [0, 1], their ``saliency`` ``[n, 1, H, W]`` in [0, 1] (1 - the sharp mask), ``indices`` (the images' positions
    in the data), and ``done`` of ``count`` images finished."""
    progress.stream(
        {
            "summary_pass": "masks",
            "images": chunk.detach().float().cpu(),
            "saliency": (1.0 - sharp).float().cpu(),
            "indices": indices.tolist(),
            "done": done[0],
            "count": done[1],
        },
        force=True,
    )


def _classified(model: Classifier, images: object, target: int, keep_all: bool = False):
    """``(pixels of the images classified as target, their indices, their probabilities, skipped list)``; with
    ``keep_all`` every image is kept (and none skipped), whatever its class."""
    pixels = model.prepare(images)
    with torch.no_grad(), model.frozen():
        logits = forward_batched(model, model.normalize(pixels)).float()
    classes = logits.shape[1]
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < classes:
        raise invalid("target", target, f"a class index in 0..{classes - 1}")
    predicted = logits.argmax(1)
    if keep_all:
        predicted = torch.full_like(predicted, target)
    kept = (predicted == target).nonzero().flatten()
    labels = model.labels
    label = (lambda c: labels[c]) if labels else str
    skipped = [
        {"index": int(i), "reason": f"classified as {label(int(predicted[i]))}, not {label(target)}"}
        for i in (predicted != target).nonzero().flatten().tolist()
    ]
    if kept.numel() == 0:
        raise invalid(
            "images",
            f"{pixels.shape[0]} images, none of them classified as {label(target)}",
            "images the model assigns to the target class (every image was skipped)",
        )
    return pixels[kept], kept, torch.softmax(logits[kept], 1)[:, target].cpu(), skipped


@shows_progress("igos_masks")
def igos_masks(
    model: Classifier, images: object, target: int, *, keep_all: bool = False, progress=True, **params
) -> CrispMasks:
    """I-GOS maps of the images classified as ``target`` (of every image with ``keep_all``), as
    :class:`CrispMasks` (``smooth`` holds I-GOS's raw low-resolution mask). ``params`` are I-GOS's
    (:data:`~xwidgets.heatmaps.IGOS_PARAMS`)."""
    from ..heatmaps.igos import igos

    check_model(model, Classifier)
    started = time.perf_counter()
    pixels, kept, scores, skipped = _classified(model, images, target, keep_all)
    result = igos(model, pixels, target, progress=progress, **params)
    values = {**CRISP_PARAMS.defaults(), "method": "igos", "igos": result.params}
    return CrispMasks(
        method="igos_masks",
        params=values,
        timings={"masks": time.perf_counter() - started},
        saliency=result.saliency.cpu(),
        smooth=result.mask.cpu(),
        images=pixels.float().cpu(),
        indices=kept.cpu(),
        scores=scores,
        masked_scores=result.masked_scores[:, -1].cpu(),
        target=target,
        skipped=skipped,
    )


@shows_progress("crisp_masks")
def crisp_masks(
    model: Classifier,
    images: object,
    target: int,
    *,
    keep_all: bool = False,
    batch_size: int | None = None,
    progress=True,
    **params,
) -> CrispMasks:
    """The two-stage crisp masks of ``images`` for class ``target``, optimised in micro-batches of
    ``model.max_batch`` images.

    Args:
        model: a :class:`~xwidgets.core.models.Classifier`.
        images: the images of one class, in any form :func:`~xwidgets.core.images.to_batch` accepts.
        target: the class index; images whose top-1 class is another one are skipped (listed in ``skipped``)
            unless ``keep_all`` (new images explained for the class, :meth:`SummaryResult.explain`).
        batch_size: images optimised together (default ``model.max_batch``). The sharp stage's binarising term
            turns the float32 differences between a batched and a single forward (about 1e-6 in the logits) into
            mask pixels that flip, so where an image's answer must not depend on the images beside it
            (:meth:`SummaryResult.explain`) the masks are made one image at a time (``batch_size=1``).
        progress: a :class:`~xwidgets.core.runner.Progress` or ``callback(fraction, message)``; cancellable.
        params: any of :data:`CRISP_PARAMS`.

    Raises:
        InvalidArgument: for a bad target, or when the model predicts ``target`` for none of the images.
    """
    check_model(model, Classifier)
    values = CRISP_PARAMS.resolve(params)
    progress = as_progress(progress)
    started = time.perf_counter()
    pixels, kept, scores, skipped = _classified(model, images, target, keep_all)
    count, (height, width) = pixels.shape[0], pixels.shape[-2:]
    side = values["smooth_resolution"]
    scale = min(height, width) / 224
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise invalid("batch_size", batch_size, "a positive number of images, or None (the model's max_batch)")
    step = batch_size or model.max_batch
    total = max(1, (values["smooth_iterations"] + values["sharp_iterations"]) * -(-count // step))
    done = [0]
    began: dict[int, int] = {}  # the progress count where each chunk began, restored when it is redone
    progress.stream({"summary_pass": "masks", "count": count, "batch": step, "step": 0, "steps": total}, force=True)

    def work(start: int, stop: int) -> tuple[torch.Tensor, ...]:  # a chunk out of memory is redone in halves
        done[0] = began.setdefault(start, done[0])
        chunk = pixels[start:stop]
        inputs = model.normalize(chunk)
        baselines = model.normalize(scaled_blur(chunk, values["baseline_kernel"], values["baseline_sigma"]))
        target_rows = torch.full((chunk.shape[0],), target, device=chunk.device, dtype=torch.long)

        def expand_smooth(mask):
            up = upsample_mask(mask, (height, width))
            return _blurred(up, values["mask_blur"] * scale, values["blur_gradient"])

        smooth = _stage(
            model,
            inputs,
            baselines,
            target_rows,
            _disc(chunk.shape[0], side, values["disc_radius"], chunk.device, torch.float32),
            values["smooth_iterations"],
            {"l1": values["smooth_l1"], "tv": values["smooth_tv"], "lasso": 0.0},
            values,
            expand_smooth,
            progress,
            done,
            total,
        )
        with torch.no_grad():
            start_mask = expand_smooth(smooth).clamp(0.0, 1.0)
        sharp = _stage(
            model,
            inputs,
            baselines,
            target_rows,
            start_mask,
            values["sharp_iterations"],
            {"l1": values["sharp_l1"], "tv": values["sharp_tv"], "lasso": values["lasso"]},
            values,
            lambda mask: mask,
            progress,
            done,
            total,
        )
        with torch.no_grad():
            probabilities = torch.softmax(model.forward(composite(inputs, baselines, sharp)).float(), dim=1)
        if progress.wants_partials:
            _stream_finished(progress, chunk, sharp, kept[start:stop], (stop, count))
        return smooth.cpu(), sharp.cpu(), probabilities[:, target].cpu()

    with model.frozen():
        smooth_masks, sharp_masks, masked = microbatched(model, count, work, batch=step)
    progress.report(1.0, "crisp masks done")
    return CrispMasks(
        method="crisp_masks",
        params=values,
        timings={"masks": time.perf_counter() - started},
        saliency=1.0 - sharp_masks,
        smooth=smooth_masks,
        images=pixels.float().cpu(),
        indices=kept.cpu(),
        scores=scores,
        masked_scores=masked,
        target=target,
        skipped=skipped,
    )


def _blurred_probability(model: Classifier, pixels: torch.Tensor, saliency: torch.Tensor, target: int) -> torch.Tensor:
    """``[N]`` the target's probability once each image's salient part is blurred away: the composite of the
    ``[N, 3, H, W]`` pixels and their baseline blur (:data:`CRISP_PARAMS` defaults) through ``1 − saliency``
    (``[N, 1, H, W]`` in [0, 1]), the same composite the two-stage masks score; batched, no gradients."""
    values = CRISP_PARAMS.defaults()
    pixels = pixels.to(model.device, model.dtype)
    keep = (1.0 - saliency).to(model.device, model.dtype)

    def work(start: int, stop: int) -> torch.Tensor:  # backs off on out-of-memory
        chunk = pixels[start:stop]
        inputs = model.normalize(chunk)
        baselines = model.normalize(scaled_blur(chunk, values["baseline_kernel"], values["baseline_sigma"]))
        output = model.forward(composite(inputs, baselines, keep[start:stop]))
        return torch.softmax(output.float(), dim=1)[:, target].cpu()

    with torch.no_grad(), model.frozen():
        return microbatched(model, pixels.shape[0], work)


def _label(model: Classifier):
    labels = model.labels
    return (lambda c: labels[c]) if labels else str


def stored_masks(model: Classifier, images: torch.Tensor, target: int, stored: StoredImages) -> CrispMasks:
    """The stored maps of a dataset run as :class:`CrispMasks`, for the images classified as ``target`` whose
    stored map explains ``target`` (the others are skipped, with the reason): no optimisation runs.

    Args:
        model: the classifier the run was made with (XWidgetsError otherwise, from ``stored.maps``).
        images: ``[N, 3, H, W]`` the run's images, position i being ``stored``'s image i.
        target: the class index.
        stored: the run, as :class:`~xwidgets.core.sources.StoredImages`; its method one of
            :data:`STORED_MASK_METHODS`.

    ``saliency`` is the stored map (float16 on disk, so within 2**-12 of the map the run computed); ``smooth`` is
    ``1 − saliency`` (the store keeps no low-resolution mask); ``masked_scores`` the target's probability once
    the salient part is blurred away (:func:`_blurred_probability`).
    """
    check_model(model, Classifier)
    if stored.map_method not in STORED_MASK_METHODS:
        raise invalid("data", f"a run of {stored.map_method!r}", f"a run of {' or '.join(STORED_MASK_METHODS)}")
    started = time.perf_counter()
    pixels, kept, scores, skipped = _classified(model, images, target)
    targets = stored.targets()
    explained = targets[kept] == target
    label = _label(model)
    skipped += [
        {"index": int(i), "reason": f"its stored map explains {label(int(targets[i]))}, not {label(target)}"}
        for i in kept[~explained].tolist()
    ]
    if not bool(explained.any()):
        raise invalid(
            "data",
            f"a run none of whose images classified as {label(target)} has a stored map of that class",
            "a run whose target was each image's top-1 class (target=None) or this class",
        )
    pixels, kept, scores = pixels[explained], kept[explained], scores[explained]
    saliency = stored.maps(model, kept.tolist())
    return CrispMasks(
        method="stored_masks",
        params={**CRISP_PARAMS.defaults(), "method": stored.map_method, stored.map_method: dict(stored.map_params)},
        timings={"masks": time.perf_counter() - started},
        saliency=saliency,
        smooth=1.0 - saliency,
        images=pixels.float().cpu(),
        indices=kept.cpu(),
        scores=scores,
        masked_scores=_blurred_probability(model, pixels, saliency, target),
        target=target,
        skipped=sorted(skipped, key=lambda entry: entry["index"]),
    )


@shows_progress("heatmap_masks")
def heatmap_masks(
    model: Classifier,
    images: object,
    target: int,
    *,
    method: str,
    keep_all: bool = False,
    progress=True,
    **params,
) -> CrispMasks:
    """The maps of heatmap ``method`` (e.g. a run's ``"igospp"``) of the images classified as ``target`` (every
    image with ``keep_all``), in the form :func:`stored_masks` gives: ``saliency`` the method's map, ``smooth``
    ``1 − saliency``, ``masked_scores`` the target's probability with the salient part blurred away. ``params``
    are the method's (``seed`` included)."""
    check_model(model, Classifier)
    spec = get_spec(method, kinds=("heatmap",))
    started = time.perf_counter()
    pixels, kept, scores, skipped = _classified(model, images, target, keep_all)
    saliency = spec.kernel(model, pixels, target, progress=progress, **params).saliency.float().cpu()
    return CrispMasks(
        method="heatmap_masks",
        params={**CRISP_PARAMS.defaults(), "method": method, method: dict(params)},
        timings={"masks": time.perf_counter() - started},
        saliency=saliency,
        smooth=1.0 - saliency,
        images=pixels.float().cpu(),
        indices=kept.cpu(),
        scores=scores,
        masked_scores=_blurred_probability(model, pixels, saliency, target),
        target=target,
        skipped=skipped,
    )
