"""iGOS++: bilateral saliency with a deletion and an insertion mask (Khorram, Lawson, Li; ACM CHIL 2021),
re-implemented from the paper. The mathematics, the defaults, the departures from the official code and their
measurements: ``docs/igospp.md``.

Two low-resolution masks start at ones, a deletion mask M_d and an insertion mask M_i; the saliency mask is their
product P = M_d ⊙ M_i (low = salient). With D(M) = Φ(I, Ĩ, M) and N(M) = Φ(Ĩ, I, M)::

    L = f(D(M_d)) − f(N(M_i)) + f(D(P)) − f(N(P)) + λ1 · mean|1 − P| + λ2 · BTV(P)

Each f term becomes an integrated-gradient direction as in I-GOS (deletion path from the blur to D(M), insertion
path from the image to N(M)); the four paths of all images go through one micro-batched forward/backward pass,
gradients reach each factor through the product, the data directions are halved and the regulariser's gradient on P
is added. The bilateral TV (:func:`bilateral_total_variation`) squares colour differences per channel in both
directions (the official code is asymmetric); its edge weights are computed once per call (:func:`edge_weights`).

Departures, each measured in the page: ``relative_score`` (on by default) divides class probabilities by their
value on the image, so P = 1 is no longer a trap for unsure models; the line search's f is noise-free by default
(``line_search_objective="plain"``, about S times cheaper than IGOS_pp's ``"integrated"``); NAG's fixed step is
``nag_step · (r/28)²`` (:func:`~xwidgets.heatmaps.igos.nag_step`) instead of the README's α = 1000.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from ..core.baselines import BASELINE_KINDS, make_baseline
from ..core.masks import upsample_adjoint, upsample_mask
from ..core.memory import Phase, Workload
from ..core.methods import register
from ..core.noise import ImageNoise
from ..core.params import Param, ParamSet
from ..core.runner import as_progress, shows_progress
from ..core.scoring import microbatched
from .igos import (
    ARMIJO_BETA,
    NAG_STEP,
    RELATIVE_SCORE,
    _score_scale,
    igos_memory,
    line_search_steps,
    nag_step,
    total_variation,
)
from .result import SaliencyResult, mask_resolution, normalise_maps, prepare

__all__ = ["IGOSPP_PARAMS", "IGOSPPResult", "igospp", "bilateral_total_variation"]

IGOSPP_PARAMS = ParamSet(
    "igospp",
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
        "integrated-gradient points per path",
        low=1,
        high=200,
        label="IG points",
        slider=(1, 50),
    ),
    Param(
        "lambda_l1",
        "float",
        1.0,
        "weight of mean|1 − P| (README: 10 at 224 cells)",
        low=0.0,
        high=1000.0,
        label="L1 weight (λ1)",
        slider=(0.0, 20.0),
    ),
    Param(
        "lambda_tv",
        "float",
        20.0,
        "weight of the bilateral total variation",
        low=0.0,
        high=1000.0,
        label="BTV weight (λ2)",
        slider=(0.0, 100.0),
    ),
    Param("tv_beta", "float", 2.0, "exponent of the total variation", low=1.0, high=3.0, label="TV exponent (β)"),
    Param(
        "btv_sigma",
        "float",
        0.01,
        "edge sharpness of the bilateral term (normalised image)",
        low=1e-4,
        high=10.0,
        log=True,
        label="bilateral sigma",
        slider=(1e-3, 1.0),
    ),
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
        1000.0,
        "initial line-search step",
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
        "f in the Armijo test: one noise-free pass, or IG-averaged",
        choices=("plain", "integrated"),
        label="Armijo objective",
    ),
    RELATIVE_SCORE,
    Param("baseline", "choice", "blur", "the blurred image Ĩ", choices=BASELINE_KINDS),
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
class IGOSPPResult(SaliencyResult):
    """A :class:`SaliencyResult` plus iGOS++'s masks (all ``[B, 1, r, r]``, low = salient).

    Attributes:
        mask: the product ``deletion_mask ⊙ insertion_mask``, which the saliency shows.
        deletion_mask, insertion_mask: the two factors; not separately interpretable (``docs/igospp.md#defaults``).
        objective: ``[B, T]`` the objective L at each iteration (before the step), in relative scores when
            ``relative_score`` applies.
        step_sizes: ``[B, T]``.
    """

    mask: torch.Tensor
    deletion_mask: torch.Tensor
    insertion_mask: torch.Tensor
    objective: torch.Tensor
    step_sizes: torch.Tensor


def bilateral_total_variation(
    masks: torch.Tensor, images: torch.Tensor, beta: float = 2.0, sigma: float = 0.01
) -> torch.Tensor:
    """``[N]`` BTV of masks ``[N, 1, h, w]`` against the normalised images ``[N, C, H, W]`` they belong to."""
    return _weighted_total_variation(masks, edge_weights(images, sigma), beta)


def edge_weights(images: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The BTV's weights of normalised images ``[N, C, H, W]``: exp(−mean_c (pixel difference)² / σ) across
    columns ``[N, 1, H, W − 1]`` and across rows ``[N, 1, H − 1, W]``, in (0, 1]. They depend on the images
    alone, so an optimisation computes them once, not once per trial mask."""
    weight_x = torch.exp(-(images[..., :, 1:] - images[..., :, :-1]).pow(2).mean(1, keepdim=True) / sigma)
    weight_y = torch.exp(-(images[..., 1:, :] - images[..., :-1, :]).pow(2).mean(1, keepdim=True) / sigma)
    return weight_x, weight_y


def _weighted_total_variation(
    masks: torch.Tensor, weights: tuple[torch.Tensor, torch.Tensor], beta: float
) -> torch.Tensor:
    """``[N]`` BTV of masks ``[N, 1, h, w]`` with :func:`edge_weights` ``weights`` (one per mask, or one
    broadcast to all)."""
    weight_x, weight_y = weights
    up = upsample_mask(masks, (weight_x.shape[-2], weight_y.shape[-1]))
    edge_x = (weight_x * (up[..., :, 1:] - up[..., :, :-1]).abs().pow(beta)).flatten(1).mean(1)
    edge_y = (weight_y * (up[..., 1:, :] - up[..., :-1, :]).abs().pow(beta)).flatten(1).mean(1)
    return 0.5 * (total_variation(masks, beta) + edge_x + edge_y)


def igospp_memory(work: Workload) -> list[Phase]:
    """iGOS++'s memory per phase (:mod:`~xwidgets.core.memory`): I-GOS's (:func:`igos_memory`) with a deletion
    and an insertion row per IG point and per line-search trial, and the edge weights of the bilateral TV."""
    doubled = dataclasses.replace(work, batch=2 * work.batch)
    return [dataclasses.replace(phase, held=phase.held + work.planes(2 * work.batch)) for phase in igos_memory(doubled)]


@register(
    "igospp",
    title="iGOS++",
    kind="heatmap",
    params=IGOSPP_PARAMS,
    result=IGOSPPResult,
    summary="I-GOS with a joint insertion and deletion mask and a bilateral smoothness term",
    docs="igospp.md",
    steps={"map": tuple(IGOSPP_PARAMS)},
    explorer="xwidgets.heatmaps.explorer:HeatmapExplorer",
    render="render",
    example='xw.explain(xw.toy.classifier(), xw.toy.dataset(1).images(), method="igospp")',
    quick={"iterations": 3, "ig_steps": 4, "resolution": 7},
    memory=igospp_memory,
)
@shows_progress("igospp")
def igospp(
    model,
    images: object,
    target: object = None,
    *,
    seed: int = 0,
    size: int | tuple[int, int] | None = None,
    progress=True,
    **params,
) -> IGOSPPResult:
    """iGOS++ saliency of B images, optimised together in batched passes.

    Args:
        model, images, target: as for every method.
        seed: seeds the IG noise.
        progress: reports each iteration, streams ``{"iteration", "mask", "deletion_mask", "insertion_mask"}``
            and checks for cancellation.
        params: see :data:`IGOSPP_PARAMS`.
    """
    start = time.perf_counter()
    values = IGOSPP_PARAMS.resolve(params)
    progress = as_progress(progress)
    prepared = prepare(model, images, target, size)
    baseline = model.normalize(
        make_baseline(
            prepared.pixels,
            values["baseline"],
            blur_kernel=values["blur_kernel"],
            blur_sigma=values["blur_sigma"],
            seed=seed,
        )
    )
    noise_source = ImageNoise(seed, prepared.batch, model.device)
    batch, resolution = prepared.batch, mask_resolution(values["resolution"], prepared.size)
    deletion = torch.ones(batch, 1, resolution, resolution, device=model.device)
    insertion = torch.ones_like(deletion)
    objectives, steps = [], []
    context = _Context(model, prepared, baseline, values, noise_source)
    theta_previous = (torch.zeros_like(deletion), torch.zeros_like(insertion))
    with model.frozen():
        for iteration in range(values["iterations"]):
            progress.check()
            direction_d, direction_i = context.direction(deletion, insertion)
            if values["optimiser"] == "nag":
                alpha = torch.full((batch,), nag_step(values["nag_step"], resolution), device=model.device)
                objective = context.objective(deletion, insertion)
                theta = (
                    (deletion - alpha[0] * direction_d).clamp(0, 1),
                    (insertion - alpha[0] * direction_i).clamp(0, 1),
                )
                momentum = iteration / (iteration + 3)
                deletion, insertion = ((t + momentum * (t - p)).clamp(0, 1) for t, p in zip(theta, theta_previous))
                theta_previous = theta
            else:
                alpha, objective = context.line_search(deletion, insertion, direction_d, direction_i)
                deletion = (deletion - alpha.view(-1, 1, 1, 1) * direction_d).clamp(0, 1)
                insertion = (insertion - alpha.view(-1, 1, 1, 1) * direction_i).clamp(0, 1)
            objectives.append(objective)
            steps.append(alpha)
            progress.report((iteration + 1) / values["iterations"], f"iGOS++ iteration {iteration + 1}")
            if progress.wants_partials:
                progress.stream(
                    {
                        "iteration": iteration + 1,
                        "mask": (deletion * insertion).detach().cpu(),
                        "deletion_mask": deletion.detach().cpu(),
                        "insertion_mask": insertion.detach().cpu(),
                    }
                )
    product = deletion * insertion
    return IGOSPPResult(
        method="igospp",
        params=values,
        seed=int(seed),
        timings={"total": time.perf_counter() - start},
        saliency=normalise_maps(upsample_mask(1.0 - product, prepared.size)).cpu(),
        images=prepared.pixels.float().cpu(),
        scores=prepared.scores.float().cpu(),
        target=prepared.describe_target(),
        mask=product.detach().cpu(),
        deletion_mask=deletion.detach().cpu(),
        insertion_mask=insertion.detach().cpu(),
        objective=torch.stack(objectives, 1).float().cpu(),
        step_sizes=torch.stack(steps, 1).float().cpu(),
    )


class _Context:
    """The fixed pieces of one optimisation and its batched evaluations."""

    def __init__(self, model, prepared, baseline, values, noise_source):
        self.model, self.prepared, self.baseline = model, prepared, baseline
        self.values, self.noise_source = values, noise_source
        self.scale = _score_scale(prepared, values["relative_score"])
        self.edge_weights = edge_weights(prepared.inputs, values["btv_sigma"])

    def _perturbed(self, up, rows, insert, noise_owner=None):
        """Deletion rows Ĩ + (I − Ĩ)·U, insertion rows I − (I − Ĩ)·U, for full-resolution masks U ``[n, 1, H, W]``
        (low U shows Ĩ in deletion rows and I in insertion rows).

        ``rows`` indexes the images (a slice of one image broadcasts it); ``insert`` ``[n]`` bool; plus noise
        when ``noise_owner`` (``[n]``, the image of each row) is given.
        """
        image, blurred = self.prepared.inputs[rows], self.baseline[rows]
        insert = insert.view(-1, 1, 1, 1)
        inputs = torch.addcmul(torch.where(insert, image, blurred), image - blurred, torch.where(insert, -up, up))
        if noise_owner is not None and self.values["noise"] > 0:
            inputs = inputs.add(self.noise_source.like(inputs, noise_owner), alpha=self.values["noise"])
        return inputs

    def _regulariser(self, product, owner):
        values = self.values
        one_image = self.prepared.inputs.shape[0] == 1  # then its weights broadcast, no copy per mask
        vertical, horizontal = self.edge_weights
        weights = self.edge_weights if one_image else (vertical[owner], horizontal[owner])
        btv = _weighted_total_variation(product, weights, values["tv_beta"])
        return values["lambda_l1"] * (1.0 - product).abs().flatten(1).mean(1) + values["lambda_tv"] * btv

    def direction(self, deletion, insertion):
        """The halved IG directions of the four terms, chained through the product, plus the regulariser's.

        Each path point's gradient is taken with respect to its full-resolution mask; the S points of a path are
        summed there and the transpose of the upsampling is applied once per path (upsampling is linear).
        """
        batch, steps = deletion.shape[0], self.values["ig_steps"]
        product = deletion * insertion
        # the four paths per image: deletion on P, insertion on P, deletion on M_d, insertion on M_i
        arguments = torch.stack([product, product, deletion, insertion], 1).flatten(0, 1)  # [B·4, 1, r, r]
        up = upsample_mask(arguments, self.prepared.size)  # [B·4, 1, H, W]
        insert = torch.tensor([False, True, False, True], device=deletion.device)
        per_path = 4 * steps
        scales = (torch.arange(1, steps + 1, device=deletion.device, dtype=deletion.dtype) / steps).repeat(4 * batch)
        path = torch.arange(4 * batch, device=deletion.device).repeat_interleave(steps)
        owner = torch.arange(batch, device=deletion.device).repeat_interleave(per_path)
        row_insert = insert.repeat_interleave(steps).repeat(batch)

        def work(lo: int, hi: int) -> torch.Tensor:
            first, last = lo // per_path, (hi - 1) // per_path
            rows = slice(first, first + 1) if first == last else owner[lo:hi]
            point_scales = scales[lo:hi].view(-1, 1, 1, 1)
            leaf = (point_scales * up[path[lo:hi]]).requires_grad_(True)
            with torch.enable_grad():
                inputs = self._perturbed(leaf, rows, row_insert[lo:hi], owner[lo:hi])
                score = self.prepared.target(self.model.forward(inputs), owner[lo:hi]).sum()
                (grad,) = torch.autograd.grad(score, leaf)
            return grad * point_scales

        grads = microbatched(self.model, batch * per_path, work).view(batch * 4, steps, *up.shape[1:]).mean(1)
        ig = upsample_adjoint(grads, tuple(deletion.shape[-2:])).view(batch, 4, *deletion.shape[1:])
        ig = ig / self.scale.view(-1, 1, 1, 1, 1)
        on_product = ig[:, 0] - ig[:, 1]
        leaf = product.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            (regulariser,) = torch.autograd.grad(
                self._regulariser(leaf, torch.arange(batch, device=leaf.device)).sum(), leaf
            )
        direction_d = 0.5 * (ig[:, 2] + on_product * insertion) + regulariser * insertion
        direction_i = 0.5 * (-ig[:, 3] + on_product * deletion) + regulariser * deletion
        return direction_d, direction_i

    def _scores(self, masks, owner, insert):
        """f per row: one noise-free pass (``plain``) or the noisy IG average (``integrated``)."""
        if self.values["line_search_objective"] == "plain":

            def plain_scores(lo, hi):
                up = upsample_mask(masks[lo:hi], self.prepared.size)
                inputs = self._perturbed(up, owner[lo:hi], insert[lo:hi])
                return self.prepared.target(self.model.forward(inputs), owner[lo:hi])

            return microbatched(self.model, masks.shape[0], plain_scores)
        steps = self.values["ig_steps"]
        scales = torch.arange(1, steps + 1, device=masks.device, dtype=masks.dtype) / steps
        path = (scales.view(1, -1, 1, 1, 1) * masks[:, None]).flatten(0, 1)
        path_owner, path_insert = owner.repeat_interleave(steps), insert.repeat_interleave(steps)

        def path_scores(lo, hi):
            up = upsample_mask(path[lo:hi], self.prepared.size)
            inputs = self._perturbed(up, path_owner[lo:hi], path_insert[lo:hi], path_owner[lo:hi])
            return self.prepared.target(self.model.forward(inputs), path_owner[lo:hi])

        return microbatched(self.model, path.shape[0], path_scores).view(-1, steps).mean(1)

    def _objective_rows(self, deletion, insertion, owner):
        """L for N (deletion, insertion) pairs belonging to images ``owner``."""
        product = deletion * insertion
        count = deletion.shape[0]
        masks = torch.cat([deletion, insertion, product, product])
        insert = torch.tensor([False, True, False, True], device=deletion.device).repeat_interleave(count)
        with torch.no_grad():
            f = self._scores(masks, owner.repeat(4), insert).view(4, count) / self.scale[owner]
            return f[0] - f[1] + f[2] - f[3] + self._regulariser(product, owner)

    def objective(self, deletion, insertion):
        """L ``[B]`` of the current masks (what NAG records; the line search gets it with its trials)."""
        return self._objective_rows(deletion, insertion, torch.arange(deletion.shape[0], device=deletion.device))

    def line_search(self, deletion, insertion, direction_d, direction_i):
        """Revised Armijo with one α for both masks; all trials of all images in one batched evaluation."""
        batch = deletion.shape[0]
        alphas = torch.tensor(
            line_search_steps(self.values["alpha"]), device=deletion.device, dtype=deletion.dtype
        ).view(1, -1, 1, 1, 1)
        trial_d = torch.cat([deletion[:, None], (deletion[:, None] - alphas * direction_d[:, None]).clamp(0, 1)], 1)
        trial_i = torch.cat([insertion[:, None], (insertion[:, None] - alphas * direction_i[:, None]).clamp(0, 1)], 1)
        trials = trial_d.shape[1]
        owner = torch.arange(batch, device=deletion.device).repeat_interleave(trials)
        objective = self._objective_rows(trial_d.flatten(0, 1), trial_i.flatten(0, 1), owner).view(batch, trials)
        norm = (direction_d.flatten(1).pow(2).sum(1) + direction_i.flatten(1).pow(2).sum(1)).view(-1, 1)
        accepted = objective[:, 1:] <= objective[:, :1] - ARMIJO_BETA * alphas.view(1, -1) * norm
        last = torch.full((batch,), trials - 2, device=deletion.device, dtype=torch.long)
        first = torch.where(accepted.any(1), accepted.float().argmax(1), last)
        return alphas.view(-1)[first], objective[:, 0]
