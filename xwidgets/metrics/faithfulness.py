"""Deletion and insertion curves (Petsiuk et al., RISE, BMVC 2018), fully batched, with the protocol presets.

Pixels (or blocks) are ordered by decreasing saliency. *Deletion* starts from the image and replaces the most
salient pixels with a substrate step by step; *insertion* starts from a substrate and puts the most salient
pixels back. Every step of every image is scored in micro-batched forwards (:func:`~xwidgets.core.score_masks`).

The three sources differ in ways that change the numbers (``docs/metrics.md#presets``), so each is a preset and
every choice can be overridden:

============  ==============  =====================  ================  ==========  ======================
preset        resolution      deletion substrate     insertion subst.  steps       AUC rule
============  ==============  =====================  ================  ==========  ======================
``rise``      pixels          normalisation mean     blur 11 / σ 5     28          trapezoid on [0, 1]
``igos``      28×28 blocks    blur 51 / σ 50         blur 51 / σ 50    ≈ 50        right Riemann sum,
                                                                                   without the start point
``sane``      pixels          grey (127)             grey (127)        100         trapezoid on min-max
                                                                                   normalised curves
============  ==============  =====================  ================  ==========  ======================

Lower deletion AUC and higher insertion AUC are better. The ``igos`` rule fixes the official code's slip
(the last partial chunk added ``num_pixels − pixels`` instead of the score times it); this is documented
deviation, not a bug to reproduce.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..core.baselines import make_baseline
from ..core.errors import invalid
from ..core.masks import composite
from ..core.models import Model, check_model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import shows_progress
from ..core.scoring import score_masks
from ..core.targets import resolve_target

__all__ = ["PRESETS", "DELETION_INSERTION_PARAMS", "CurveResult", "deletion_insertion", "perturbed_images"]

SUBSTRATES = ("mean", "blur", "black", "grey", "white")

DELETION_INSERTION_PARAMS = ParamSet(
    "deletion_insertion",
    Param("resolution", "int", 0, "order pixels in blocks of this grid (0: every pixel)", low=0, high=1024),
    Param("steps", "int", 28, "number of steps after the start (the curve has steps + 1 points)", low=1, high=1024),
    Param("deletion_substrate", "choice", "mean", "what deleted pixels become", choices=SUBSTRATES),
    Param("insertion_substrate", "choice", "blur", "what the insertion curve starts from", choices=SUBSTRATES),
    Param("blur_kernel", "int", 11, "blur substrate kernel size (odd)", low=1, high=255, step=2),
    Param("blur_sigma", "float", 5.0, "blur substrate sigma in pixels", low=0.1, high=200.0),
    Param("auc", "choice", "trapezoid", "how the area is taken", choices=("trapezoid", "right_riemann")),
    Param("normalise", "bool", False, "min-max normalise each curve before the AUC (SANE)"),
)

PRESETS: dict[str, dict] = {
    "rise": {
        "resolution": 0,
        "steps": 28,
        "deletion_substrate": "mean",
        "insertion_substrate": "blur",
        "blur_kernel": 11,
        "blur_sigma": 5.0,
        "auc": "trapezoid",
        "normalise": False,
    },
    "igos": {
        "resolution": 28,
        "steps": 50,
        "deletion_substrate": "blur",
        "insertion_substrate": "blur",
        "blur_kernel": 51,
        "blur_sigma": 50.0,
        "auc": "right_riemann",
        "normalise": False,
    },
    "sane": {
        "resolution": 0,
        "steps": 100,
        "deletion_substrate": "grey",
        "insertion_substrate": "grey",
        "blur_kernel": 11,
        "blur_sigma": 5.0,
        "auc": "trapezoid",
        "normalise": True,
    },
}


@dataclasses.dataclass(kw_only=True)
class CurveResult(Result):
    """Deletion and insertion curves of B images.

    Attributes:
        fractions: ``[K + 1]`` fraction of pixels deleted / inserted at each point, from 0 to 1.
        deletion, insertion: ``[B, K + 1]`` scores (normalised to [0, 1] per curve when ``normalise``).
        deletion_auc, insertion_auc: ``[B]`` areas under the curves.
    """

    fractions: torch.Tensor
    deletion: torch.Tensor
    insertion: torch.Tensor
    deletion_auc: torch.Tensor
    insertion_auc: torch.Tensor

    #: Lower deletion AUC is better, higher insertion AUC is better.
    higher_is_better: ClassVar[dict[str, bool]] = {"deletion_auc": False, "insertion_auc": True}

    @property
    def difference(self) -> torch.Tensor:
        """``insertion_auc − deletion_auc`` per image (higher is better; iGOS++'s summary)."""
        return self.insertion_auc - self.deletion_auc


@shows_progress("deletion_insertion")
def deletion_insertion(
    model: Model,
    images: object,
    saliency: torch.Tensor,
    target: object = None,
    *,
    preset: str = "rise",
    size: int | tuple[int, int] | None = None,
    progress=True,
    **overrides,
) -> CurveResult:
    """Deletion and insertion curves of ``saliency`` maps for ``images`` under ``model``.

    Args:
        model: an :class:`~xwidgets.core.models.Classifier` or :class:`~xwidgets.core.models.Embedder`.
        images: B images in any form ``to_batch`` accepts.
        saliency: ``[B, 1, H, W]`` (or ``[B, H, W]``) maps, high = important, at the model's input size.
        target: as everywhere (default: each image's top-1 class; a similarity target for an embedder).
        preset: ``"rise"``, ``"igos"`` or ``"sane"`` (see the module docs).
        size: ``(H, W)`` (or an int) to resize images of different sizes to before the model's preprocessing.
        progress: True (a progress bar after a second), False, a Progress or ``callback(fraction, message)``.
        overrides: any parameter of :data:`DELETION_INSERTION_PARAMS`.
    """
    if preset not in PRESETS:
        raise invalid("preset", preset, "one of " + ", ".join(PRESETS))
    params = DELETION_INSERTION_PARAMS.resolve({**PRESETS[preset], **overrides})
    start = time.perf_counter()
    pixels = check_model(model).prepare(images, size=size)
    batch, _, height, width = pixels.shape
    saliency = _saliency_arg(saliency, batch, (height, width), pixels.device)
    inputs = model.normalize(pixels)
    with torch.no_grad():
        resolved = resolve_target(target, model, model.forward(inputs))
    masks, counts, cells = _step_masks(saliency, params)
    steps = counts.numel() - 1
    owner = torch.arange(batch, device=pixels.device).repeat_interleave(steps + 1)

    curves = {}
    for name, substrate, keep, part in (
        ("deletion", params["deletion_substrate"], 1.0 - masks, (0.0, 0.5)),
        ("insertion", params["insertion_substrate"], masks, (0.5, 1.0)),
    ):
        base = model.normalize(_substrate(model, pixels, substrate, params))
        scores = score_masks(model, inputs, base, keep, resolved, owner, progress=progress.part(*part))
        curves[name] = scores.reshape(batch, steps + 1).float().cpu()
    fractions = counts.float().cpu() / cells
    if params["normalise"]:
        curves = {k: _min_max(v) for k, v in curves.items()}
    aucs = {k: _auc(v, fractions, params["auc"]) for k, v in curves.items()}
    return CurveResult(
        method="deletion_insertion",
        params={"preset": preset, **params, "target": resolved.describe()},
        timings={"total": time.perf_counter() - start},
        fractions=fractions,
        deletion=curves["deletion"],
        insertion=curves["insertion"],
        deletion_auc=aucs["deletion"],
        insertion_auc=aucs["insertion"],
    )


def perturbed_images(
    model: Model,
    images: object,
    saliency: torch.Tensor,
    curve: str = "deletion",
    *,
    preset: str = "rise",
    size: int | tuple[int, int] | None = None,
    **overrides,
) -> torch.Tensor:
    """The images that :func:`deletion_insertion` scores along one curve, in pixel space, for display.

    Args:
        model, images, saliency, preset, size, overrides: as for :func:`deletion_insertion`.
        curve: ``"deletion"`` or ``"insertion"``.

    Returns:
        ``[B, K + 1, 3, H, W]`` float in [0, 1]: step k of image b is ``[b, k]`` (k = 0 is the curve's start).
    """
    if curve not in ("deletion", "insertion"):
        raise invalid("curve", curve, "'deletion' or 'insertion'")
    if preset not in PRESETS:
        raise invalid("preset", preset, "one of " + ", ".join(PRESETS))
    params = DELETION_INSERTION_PARAMS.resolve({**PRESETS[preset], **overrides})
    pixels = check_model(model).prepare(images, size=size)
    batch, _, height, width = pixels.shape
    saliency = _saliency_arg(saliency, batch, (height, width), pixels.device)
    masks, counts, _ = _step_masks(saliency, params)
    points = counts.numel()
    owner = torch.arange(batch, device=pixels.device).repeat_interleave(points)
    keep = 1.0 - masks if curve == "deletion" else masks
    base = _substrate(model, pixels, params[f"{curve}_substrate"], params)
    with torch.no_grad():
        return composite(pixels, base, keep, owner).clamp(0, 1).view(batch, points, 3, height, width).cpu()


def _step_masks(saliency: torch.Tensor, params: dict) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The top-k masks of every step: ``[B·(K+1), 1, h, w]`` (1 = among the k most salient cells), the counts
    k ``[K + 1]`` and the number of cells."""
    order_map = saliency if params["resolution"] == 0 else F.adaptive_avg_pool2d(saliency, params["resolution"])
    cells = order_map.shape[-1] * order_map.shape[-2]
    steps = min(params["steps"], cells)
    counts = torch.linspace(0, cells, steps + 1, device=saliency.device).round().long()
    rank = _ranks(order_map)  # [B, 1, h, w], 0 = most salient
    kept_first = (rank[:, None] < counts.view(1, -1, 1, 1, 1)).float()  # [B, K+1, 1, h, w]: the top-k cells
    return kept_first.reshape(-1, 1, *order_map.shape[-2:]), counts, cells


def _saliency_arg(saliency: object, batch: int, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    if not isinstance(saliency, torch.Tensor) or not saliency.is_floating_point():
        raise invalid("saliency", saliency, f"a float tensor [{batch}, 1, {size[0]}, {size[1]}]")
    if saliency.ndim == 3:
        saliency = saliency[:, None]
    if saliency.ndim != 4 or saliency.shape[:2] != (batch, 1) or tuple(saliency.shape[-2:]) != tuple(size):
        raise invalid("saliency", saliency, f"maps [{batch}, 1, {size[0]}, {size[1]}] at the model's input size")
    if not bool(torch.isfinite(saliency).all()):
        raise invalid("saliency", "maps with NaN or infinite values", "finite values")
    return saliency.detach().to(device, torch.float32)


def _ranks(maps: torch.Tensor) -> torch.Tensor:
    """Rank of each cell by decreasing value (0 = highest); ties keep raster order."""
    flat = maps.flatten(1)
    order = torch.argsort(-flat, dim=1, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return rank.view_as(maps)


def _substrate(model: Model, pixels: torch.Tensor, kind: str, params: dict) -> torch.Tensor:
    if kind == "mean":
        mean = model.preprocessing.mean or (0.5, 0.5, 0.5)
        return make_baseline(pixels, "constant", color=mean)
    if kind in ("grey", "white"):
        value = 127 / 255 if kind == "grey" else 1.0
        return make_baseline(pixels, "constant", color=(value,) * 3)
    return make_baseline(pixels, kind, blur_kernel=params["blur_kernel"], blur_sigma=params["blur_sigma"])


def _min_max(curves: torch.Tensor) -> torch.Tensor:
    """Per-curve min-max normalisation; a flat curve becomes zeros (never NaN)."""
    low, high = curves.min(1, keepdim=True).values, curves.max(1, keepdim=True).values
    span = high - low
    return torch.where(span > 0, (curves - low) / span.clamp_min(1e-12), torch.zeros_like(curves))


def _auc(curves: torch.Tensor, fractions: torch.Tensor, rule: str) -> torch.Tensor:
    if rule == "trapezoid":
        return torch.trapezoid(curves, fractions, dim=1)
    widths = fractions[1:] - fractions[:-1]
    return (curves[:, 1:] * widths).sum(1)
