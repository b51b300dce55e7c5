"""I-GOS: integrated-gradients optimised saliency (Qi, Khorram, Li; AAAI 2020), re-implemented from the paper.
The mathematics, the defaults, the departures from the official code and their measurements: ``docs/igos.md``.

Minimise, over a low-resolution mask M in [0, 1]^{r×r} (1 keeps a pixel, 0 replaces it with the baseline)::

    F(M) = f_c(Φ(I, Ĩ, M)) + λ1 · mean|1 − M| + λ2 · TV_β(M)

with f_c the target's score, Ĩ the blurred baseline and Φ the composite in normalised space. The descent direction
replaces the gradient of f_c by integrated gradients along the mask scale t_s = s/S, each point with fresh noise,
*averaged* over S (:func:`_integrated_direction`; all points of all images in one micro-batched pass).

- ``optimiser="line_search"``: the revised Armijo test over α₀·0.2^k, every trial of every image scored in one
  batched forward, the largest accepted α taken; F is noise-free (``"plain"``, the original) or IG-averaged
  (``"integrated"``, IGOS_pp).
- ``optimiser="nag"``: Nesterov steps, θ clipped to [0, 1], step ``nag_step · (r/28)²`` (:func:`nag_step`).

``relative_score`` (a departure, on by default) divides a class probability by its value on the image in the
objective and the direction, so λ1 and λ2 weigh the same for unsure models; the λ1 schedule's thresholds are then
fractions of f_c(I) too (why, with measurements: ``docs/igos.md#departures-from-the-official-code``).

The map shown is ``1 − M`` upsampled and min-max normalised (high = salient); the raw mask (low = salient) is
kept as ``IGOSResult.mask``. Iterations and IG steps are never swapped (the IGOS_pp CLI swaps them).
"""

from __future__ import annotations

import dataclasses
import time

import torch

from ..core.baselines import BASELINE_KINDS, make_baseline
from ..core.masks import composite, upsample_adjoint, upsample_mask
from ..core.memory import Phase, Workload, held_images
from ..core.methods import register
from ..core.models import Model
from ..core.noise import ImageNoise
from ..core.params import Param, ParamSet
from ..core.runner import as_progress, shows_progress
from ..core.scoring import microbatched, score_masks
from ..core.targets import ClassTarget
from .result import SaliencyResult, mask_resolution, normalise_maps, prepare

__all__ = ["IGOS_PARAMS", "IGOSResult", "igos", "nag_step", "total_variation"]

ARMIJO_BETA, SHRINK, ALPHA_MIN = 1e-4, 0.2, 1e-5

RELATIVE_SCORE = Param(
    "relative_score",
    "bool",
    True,
    "divide a probability by its value on the image, so λ1 and λ2 weigh the same for unsure and confident models",
    label="relative score",
)
NAG_STEP = Param(
    "nag_step",
    "float",
    2.0,
    "NAG's fixed step at 28×28 cells, scaled by (r/28)² at r×r",
    low=0.01,
    high=1e4,
    log=True,
    label="NAG step",
    slider=(0.1, 100.0),
)


def nag_step(step_at_28: float, resolution: int) -> float:
    """The fixed NAG step on an r×r mask: ``step_at_28 · (r / 28)²``.

    Every term's gradient with respect to one cell shrinks like 1/r² (the data term sums over the H²/r² pixels a
    cell covers; the regularisers are means over r² cells), so scaling the step by r² keeps one ``nag_step``
    stable at every resolution of the explorer's slider. The default 2 is measured on the toy classifier
    (stable from 1 to 3 over 5 to 30 iterations; 10 and above overshoot and the masks collapse); the README's
    α = 1000 at 224×224 cells corresponds to 1000 / 64 ≈ 16 here.
    """
    return step_at_28 * (resolution / 28) ** 2


IGOS_PARAMS = ParamSet(
    "igos",
    Param(
        "resolution",
        "int",
        28,
        "mask cells per side (any resolution up to the input size)",
        low=1,
        high=1024,
        label="mask resolution",
        slider=(2, 112),
    ),
    Param("iterations", "int", 15, "optimisation steps", low=1, high=500, slider=(1, 60)),
    Param(
        "ig_steps",
        "int",
        20,
        "integrated-gradient points per step",
        low=1,
        high=200,
        label="IG points",
        slider=(1, 50),
    ),
    Param(
        "lambda_l1",
        "float",
        1.0,
        "weight of mean|1 − M| (few pixels deleted)",
        low=0.0,
        high=1000.0,
        label="L1 weight (λ1)",
        slider=(0.0, 20.0),
    ),
    Param(
        "lambda_tv",
        "float",
        20.0,
        "weight of the total variation (smooth masks)",
        low=0.0,
        high=1000.0,
        label="TV weight (λ2)",
        slider=(0.0, 100.0),
    ),
    Param("tv_beta", "float", 2.0, "exponent of the total variation", low=1.0, high=3.0, label="TV exponent (β)"),
    Param(
        "noise",
        "float",
        0.2,
        "std of the Gaussian noise at each IG point (normalised space)",
        low=0.0,
        high=2.0,
        label="IG noise (std)",
    ),
    Param(
        "optimiser",
        "choice",
        "line_search",
        "revised Armijo line search, or Nesterov with a fixed step",
        choices=("line_search", "nag"),
    ),
    Param(
        "alpha",
        "float",
        200.0,
        "initial line-search step (original: 200)",
        low=1e-3,
        high=1e5,
        log=True,
        label="step size (alpha)",
        slider=(1.0, 1e4),
    ),
    NAG_STEP,
    Param(
        "line_search_objective",
        "choice",
        "plain",
        "F in the Armijo test: noise-free (original) or IG-averaged",
        choices=("plain", "integrated"),
        label="Armijo objective",
    ),
    Param(
        "l1_schedule", "bool", True, "lower λ1 for images whose mask does not move (original code)", label="λ1 schedule"
    ),
    RELATIVE_SCORE,
    Param("baseline", "choice", "blur", "what deleted pixels become", choices=BASELINE_KINDS),
    Param(
        "blur_kernel",
        "int",
        51,
        "blur baseline kernel size in pixels (odd)",
        low=1,
        high=255,
        step=2,
        label="blur kernel (px)",
        slider=(1, 151),
    ),
    Param(
        "blur_sigma",
        "float",
        50.0,
        "blur baseline sigma in pixels",
        low=0.1,
        high=200.0,
        step=0.5,
        label="blur sigma (px)",
        slider=(0.5, 100.0),
    ),
)


@dataclasses.dataclass(kw_only=True)
class IGOSResult(SaliencyResult):
    """A :class:`SaliencyResult` plus I-GOS's own state.

    Attributes:
        mask: ``[B, 1, r, r]`` the optimised mask in [0, 1]; **low = salient** (1 keeps the pixel).
        masked_scores: ``[B, T + 1]`` the target's score on the masked image before each step and at the end.
        step_sizes: ``[B, T]`` the step size taken at each iteration.
    """

    mask: torch.Tensor
    masked_scores: torch.Tensor
    step_sizes: torch.Tensor


def total_variation(masks: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """``[N]``: mean |vertical differences|^β + mean |horizontal differences|^β of ``[N, 1, h, w]`` masks."""
    vertical = (masks[..., 1:, :] - masks[..., :-1, :]).abs().pow(beta).flatten(1)
    horizontal = (masks[..., :, 1:] - masks[..., :, :-1]).abs().pow(beta).flatten(1)
    zero = masks.new_zeros(masks.shape[0])
    return (vertical.mean(1) if vertical.shape[1] else zero) + (horizontal.mean(1) if horizontal.shape[1] else zero)


def igos_memory(work: Workload) -> list[Phase]:
    """I-GOS's memory per phase (:mod:`~xwidgets.core.memory`): the direction's B·S gradient passes, each point
    building its full-size mask, composite and noise (~12 planes), with every point's gradient kept and
    concatenated (2 planes each); and the line search's B·(K + 1) forward trials (× S when IG-averaged), each a
    composite and its upsampled mask (~5 planes)."""
    values = work.params
    points = work.batch * values["ig_steps"]
    trials = work.batch * (len(line_search_steps(values["alpha"])) + 1)
    if values["line_search_objective"] == "integrated":
        trials *= values["ig_steps"]
    held = held_images(work)
    return [
        Phase("gradient", points, held=held + work.planes(2 * points), per_item=work.planes(12)),
        Phase("forward", trials, held=held, per_item=work.planes(5)),
    ]


@register(
    "igos",
    title="I-GOS",
    kind="heatmap",
    params=IGOS_PARAMS,
    result=IGOSResult,
    summary="the smallest smooth mask whose deletion drops the score, found by integrated-gradient descent",
    docs="igos.md",
    steps={"map": tuple(IGOS_PARAMS)},
    explorer="xwidgets.heatmaps.explorer:HeatmapExplorer",
    render="render",
    example='xw.explain(xw.toy.classifier(), xw.toy.dataset(1).images(), method="igos")',
    quick={"iterations": 3, "ig_steps": 4, "resolution": 7},
    memory=igos_memory,
)
@shows_progress("igos")
def igos(
    model: Model,
    images: object,
    target: object = None,
    *,
    seed: int = 0,
    size: int | tuple[int, int] | None = None,
    progress=True,
    **params,
) -> IGOSResult:
    """I-GOS saliency of B images, all optimised together in batched passes.

    Args:
        model, images, target: as for every method (target: top-1 by default).
        seed: seeds the IG noise (one generator per image, :class:`~xwidgets.core.noise.ImageNoise`).
        progress: a :class:`~xwidgets.core.runner.Progress` (or callback); each iteration reports, streams
            ``{"iteration": i, "mask": [B, 1, r, r]}`` and checks for cancellation.
        params: see :data:`IGOS_PARAMS` (``IGOS_PARAMS.doc()`` lists them).
    """
    start = time.perf_counter()
    values = IGOS_PARAMS.resolve(params)
    progress = as_progress(progress)
    prepared = prepare(model, images, target, size)
    pixels = prepared.pixels
    baseline = model.normalize(
        make_baseline(
            pixels, values["baseline"], blur_kernel=values["blur_kernel"], blur_sigma=values["blur_sigma"], seed=seed
        )
    )
    noise_source = ImageNoise(seed, prepared.batch, model.device)
    batch, resolution = prepared.batch, mask_resolution(values["resolution"], prepared.size)
    mask = torch.ones(batch, 1, resolution, resolution, device=model.device)
    lambda_l1 = torch.full((batch,), values["lambda_l1"], device=model.device)
    scale = _score_scale(prepared, values["relative_score"])
    iterations = values["iterations"]
    scores, steps = [], []
    theta_previous = torch.zeros_like(mask)
    with model.frozen():
        for iteration in range(iterations):
            progress.check()
            direction = _integrated_direction(model, prepared, baseline, mask, values, noise_source)
            direction = direction / scale.view(-1, 1, 1, 1) + _regulariser_gradient(mask, lambda_l1, values)
            if values["optimiser"] == "nag":
                current = _masked_scores(model, prepared, baseline, mask)
                alpha = torch.full((batch,), nag_step(values["nag_step"], resolution), device=model.device)
                theta = (mask - alpha[0] * direction).clamp(0, 1)
                momentum = iteration / (iteration + 3)
                mask = (theta + momentum * (theta - theta_previous)).clamp(0, 1)
                theta_previous = theta
            else:
                alpha, current = _line_search(
                    model, prepared, baseline, mask, direction, lambda_l1, scale, values, noise_source
                )
                mask = (mask - alpha.view(-1, 1, 1, 1) * direction).clamp(0, 1)
            scores.append(current)
            steps.append(alpha)
            if values["l1_schedule"]:
                moved = (current - scores[0]).abs() / scale
                if iteration == iterations // 2:
                    lambda_l1 = torch.where(moved <= 1e-3, lambda_l1 / 10, lambda_l1)
                if iteration == int(iterations / 1.25):
                    lambda_l1 = torch.where(moved <= 1e-2, lambda_l1 / 5, lambda_l1)
            progress.report((iteration + 1) / iterations, f"I-GOS iteration {iteration + 1}/{iterations}")
            if progress.wants_partials:
                progress.stream({"iteration": iteration + 1, "mask": mask.detach().cpu()})
        scores.append(_masked_scores(model, prepared, baseline, mask))
    up = upsample_mask(1.0 - mask, prepared.size)
    return IGOSResult(
        method="igos",
        params=values,
        seed=int(seed),
        timings={"total": time.perf_counter() - start},
        saliency=normalise_maps(up).cpu(),
        images=pixels.float().cpu(),
        scores=prepared.scores.float().cpu(),
        target=prepared.describe_target(),
        mask=mask.detach().cpu(),
        masked_scores=torch.stack(scores, 1).float().cpu(),
        step_sizes=torch.stack(steps, 1).float().cpu(),
    )


def _integrated_direction(model, prepared, baseline, mask, values, noise_source) -> torch.Tensor:
    """(1/S) Σ_s t_s ∇ f(Φ(t_s M) + ε_s), batched over images and path points.

    Upsampling is linear, so every point's gradient is taken with respect to its full-resolution mask
    t_s·up(M), the S gradients of an image are summed there, and the transpose of the upsampling is applied
    once per image. The composite is Ĩ + (I − Ĩ)·U; a chunk of one image's points broadcasts that image
    instead of copying it per point.
    """
    steps, batch = values["ig_steps"], mask.shape[0]
    up = upsample_mask(mask.detach(), prepared.size)  # [B, 1, H, W]
    delta = prepared.inputs - baseline
    scales = (torch.arange(1, steps + 1, device=mask.device, dtype=mask.dtype) / steps).repeat(batch)
    owner = torch.arange(batch, device=mask.device).repeat_interleave(steps)

    def work(lo: int, hi: int) -> torch.Tensor:
        first, last = lo // steps, (hi - 1) // steps
        rows = slice(first, first + 1) if first == last else owner[lo:hi]
        point_scales = scales[lo:hi].view(-1, 1, 1, 1)
        leaf = (point_scales * up[rows]).requires_grad_(True)
        with torch.enable_grad():
            inputs = torch.addcmul(baseline[rows], delta[rows], leaf)
            if values["noise"] > 0:
                inputs = inputs.add(noise_source.like(inputs, owner[lo:hi]), alpha=values["noise"])
            (grad,) = torch.autograd.grad(prepared.target(model.forward(inputs), owner[lo:hi]).sum(), leaf)
        return grad * point_scales

    grads = microbatched(model, batch * steps, work)
    return upsample_adjoint(grads.view(batch, steps, *up.shape[1:]).mean(1), tuple(mask.shape[-2:]))


def _regularisers(mask: torch.Tensor, lambda_l1: torch.Tensor, values: dict) -> torch.Tensor:
    """``[N]``: λ1·mean|1 − M| + λ2·TV_β(M) per mask."""
    return lambda_l1 * (1.0 - mask).abs().flatten(1).mean(1) + values["lambda_tv"] * total_variation(
        mask, values["tv_beta"]
    )


def _regulariser_gradient(mask, lambda_l1, values) -> torch.Tensor:
    leaf = mask.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(_regularisers(leaf, lambda_l1, values).sum(), leaf)
    return grad


def _masked_scores(model, prepared, baseline, masks, owner=None) -> torch.Tensor:
    return score_masks(model, prepared.inputs, baseline, masks, prepared.target, owner)


def _objective_data(model, prepared, baseline, masks, owner, values, noise_source) -> torch.Tensor:
    """The data term of F per mask ``[N]``: the plain masked score, or the IG-averaged noisy score."""
    if values["line_search_objective"] == "plain":
        data = _masked_scores(model, prepared, baseline, masks, owner)
    else:
        steps = values["ig_steps"]
        scales = torch.arange(1, steps + 1, device=masks.device, dtype=masks.dtype) / steps
        path = (scales.view(1, -1, 1, 1, 1) * masks[:, None]).flatten(0, 1)
        path_owner = owner.repeat_interleave(steps)

        def work(lo: int, hi: int) -> torch.Tensor:
            inputs = composite(prepared.inputs, baseline, path[lo:hi], path_owner[lo:hi])
            if values["noise"] > 0:
                inputs = inputs + values["noise"] * noise_source.like(inputs, path_owner[lo:hi])
            return prepared.target(model.forward(inputs), path_owner[lo:hi])

        with torch.no_grad():
            data = microbatched(model, path.shape[0], work).view(-1, steps).mean(1)
    return data


def _line_search(model, prepared, baseline, mask, direction, lambda_l1, scale, values, noise_source):
    """Revised Armijo over α₀·0.2^k (k = 0.. while ≥ 1e-5), every trial of every image in one batched pass.

    The data term of F is divided by ``scale`` ``[B]`` (:func:`_score_scale`). Returns the chosen α ``[B]`` (the
    largest accepted; the smallest tried when none is) and the plain masked score of the current mask ``[B]``.
    """
    batch = mask.shape[0]
    alphas = torch.tensor(line_search_steps(values["alpha"]), device=mask.device, dtype=mask.dtype)
    trials = (mask[:, None] - alphas.view(1, -1, 1, 1, 1) * direction[:, None]).clamp(0, 1)  # [B, K, 1, r, r]
    candidates = torch.cat([mask[:, None], trials], 1).flatten(0, 1)  # current first
    owner = torch.arange(batch, device=mask.device).repeat_interleave(len(alphas) + 1)
    with torch.no_grad():
        data = _objective_data(model, prepared, baseline, candidates, owner, values, noise_source).view(batch, -1)
        objective = data / scale.view(-1, 1) + _regularisers(candidates, lambda_l1[owner], values).view(batch, -1)
        norm = direction.flatten(1).pow(2).sum(1)
        accepted = objective[:, 1:] <= objective[:, :1] - ARMIJO_BETA * alphas.view(1, -1) * norm.view(-1, 1)
        first = torch.where(
            accepted.any(1), accepted.float().argmax(1), torch.full_like(norm, len(alphas) - 1, dtype=torch.long)
        )
        current = data[:, 0]
    if values["line_search_objective"] == "integrated":
        current = _masked_scores(model, prepared, baseline, mask)
    return alphas[first], current


def line_search_steps(first: float) -> list[float]:
    """The step sizes the Armijo line search tries, largest first: ``first``·SHRINK^k for k = 0, 1, … while at
    least ALPHA_MIN (11 from I-GOS's α₀ = 200)."""
    steps = []
    while first >= ALPHA_MIN:
        steps.append(first)
        first *= SHRINK
    return steps


def _score_scale(prepared, relative: bool) -> torch.Tensor:
    """``[B]`` what the scores are divided by: the target's probability on each image when ``relative`` and the
    target is a class probability, else ones (logits and similarities keep their own scale)."""
    target = prepared.target
    if relative and isinstance(target, ClassTarget) and target.score == "probability":
        return prepared.scores.detach().clamp_min(torch.finfo(prepared.scores.dtype).tiny)
    return torch.ones_like(prepared.scores)
