"""Baseline saliency methods: Grad-CAM, integrated gradients, RISE and occlusion.

Every method has the call shape ``method(model, images, target=None, **params) -> SaliencyResult`` and batches:
B images and all their perturbations (IG path points, RISE masks, occlusion windows) go through micro-batched
forwards (:func:`~xwidgets.core.scoring.microbatched`), with no per-image Python loop.

Grad-CAM's default layer is the rectified output of the last spatial block
(:func:`~xwidgets.core.layers.default_layer`), as in the paper, not the last ``Conv2d``: that convolution's output
comes before the normalisation, the residual sum and the activation, and where it is negative on the evidence the
map is all zero. On the toy classifier the default moved from ``features.conv4`` to ``features`` (after bn4 and
relu4) and the mean evidence energy rose from 0.166 to 0.181 (medians over 5 seeds × 50 images; higher on every
seed). Every method's result flags maps that were constant before normalisation (``SaliencyResult.degenerate``).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..core.baselines import BASELINE_KINDS, make_baseline
from ..core.errors import invalid
from ..core.hooks import find_layer, record_layer
from ..core.layers import default_layer, grid_cells, layer_map
from ..core.memory import Phase, Workload, held_images
from ..core.methods import register
from ..core.models import Model, check_model
from ..core.params import Param, ParamSet
from ..core.runner import as_progress, shows_progress
from ..core.scoring import microbatched, score_masks
from .result import SaliencyResult, make_result, normalise_maps, prepare

__all__ = [
    "GRADCAM_PARAMS",
    "IG_PARAMS",
    "RISE_PARAMS",
    "OCCLUSION_PARAMS",
    "gradcam",
    "integrated_gradients",
    "rise",
    "occlusion",
    "rise_masks",
    "draw_rise_cells",
    "render_rise_masks",
]

GRADCAM_PARAMS = ParamSet("gradcam")
IG_PARAMS = ParamSet(
    "integrated_gradients",
    Param(
        "steps",
        "int",
        20,
        "points on the straight path from the baseline to the image",
        low=1,
        high=512,
        label="path points",
        slider=(1, 100),
    ),
    Param("baseline", "choice", "black", "the path's start", choices=BASELINE_KINDS),
)
RISE_PARAMS = ParamSet(
    "rise",
    Param(
        "masks",
        "int",
        2000,
        "random masks (RISE: 4000 at 224 px; SANE: 2000 at 112 px)",
        low=1,
        high=20000,
        step=100,
        slider=(100, 8000),
    ),
    Param(
        "grid",
        "int",
        7,
        "cells per side of the random binary grid (RISE: 7; SANE: 8)",
        low=2,
        high=64,
        slider=(2, 16),
    ),
    Param("keep", "float", 0.5, "probability that a cell is kept", low=0.01, high=0.99, label="keep probability"),
    Param(
        "normalise_by",
        "choice",
        "frequency",
        "divide by N·p (RISE) or by each pixel's kept count (SANE)",
        choices=("probability", "frequency"),
        label="normalise by",
    ),
    Param("baseline", "choice", "mean", "what masked pixels become", choices=BASELINE_KINDS),
)
OCCLUSION_PARAMS = ParamSet(
    "occlusion",
    Param(
        "window",
        "int",
        16,
        "side of the square occluder in pixels",
        low=1,
        high=1024,
        label="window (px)",
        slider=(2, 64),
    ),
    Param(
        "stride",
        "int",
        8,
        "step between occluder positions in pixels",
        low=1,
        high=1024,
        label="stride (px)",
        slider=(1, 32),
    ),
    Param("baseline", "choice", "mean", "what occluded pixels become", choices=BASELINE_KINDS),
)


def _baseline(model: Model, pixels: torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    if kind == "mean" and model.preprocessing.mean is not None:
        return model.normalize(make_baseline(pixels, "constant", color=model.preprocessing.mean))
    return model.normalize(make_baseline(pixels, kind, seed=seed))


def _gradcam_layer_output(
    model: Model, layer: object, recorded: torch.Tensor | None, gradient: torch.Tensor | None, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(recorded, gradient)``, the layer's output and the score's gradient there, checked to be a map on the path
    to the score (else an error naming ``layer``, with the model's last conv layers)."""
    if recorded is not None and grid_cells(recorded, size) > 1 and gradient is not None:
        return recorded, gradient
    shape = "no output" if recorded is None else f"a {list(recorded.shape)} output"
    convs = [name for name, m in model.module.named_modules() if isinstance(m, nn.Conv2d)]
    raise invalid(
        "layer",
        f"{layer!r}, a layer with {shape}" if isinstance(layer, str) else f"a {type(layer).__name__} with {shape}",
        "a layer on the path to the score whose output is a map [N, C, h, w] (h·w > 1), a "
        "channels-last map [N, h, w, C] or tokens on the image grid (the default layer is "
        f"xw.core.default_layer; the model's last conv layers: {', '.join(convs[-6:]) or 'none'})",
    )


def _gradient(score: torch.Tensor, activation: torch.Tensor | None) -> torch.Tensor | None:
    """d(score)/d(activation) as the activation stands now, or None when the score does not depend on it."""
    if activation is None or not activation.requires_grad:
        return None
    (gradient,) = torch.autograd.grad(score, activation, allow_unused=True)
    return gradient


def gradcam_memory(work: Workload) -> list[Phase]:
    """Grad-CAM's memory (:mod:`~xwidgets.core.memory`): one gradient pass of the B images at once, with the
    input's gradient and the layer's map upsampled to the input."""
    return [Phase("gradient", work.batch, held=held_images(work), per_item=work.planes(6))]


def integrated_gradients_memory(work: Workload) -> list[Phase]:
    """Integrated gradients' memory: B·steps gradient passes, each a path point and its gradient (~15 planes),
    with every point's RGB gradient kept and concatenated (6 planes each)."""
    points = work.batch * work.params["steps"]
    return [Phase("gradient", points, held=held_images(work) + work.planes(6 * points), per_item=work.planes(15))]


def rise_memory(work: Workload) -> list[Phase]:
    """RISE's memory: a chunk of ``max_batch // B`` masks rendered at full size (2.3 planes each with the
    upsampled cells) and repeated per image, scored in forward passes of one composite and mask each."""
    masks = min(work.params["masks"], max(1, work.chunk // work.batch))
    rows = masks * work.batch
    held = held_images(work) + work.planes(2.3 * masks + rows + 1)
    return [Phase("forward", rows, held=held, per_item=work.planes(5))]


def occlusion_memory(work: Workload) -> list[Phase]:
    """Occlusion's memory: a chunk of ``max_batch // B`` windows' full-size masks, repeated per image, with their
    complements (B + 2 planes per window), and the summed maps and coverage (B + 1 planes), scored in forward
    passes of one composite and mask each."""
    window, stride = work.params["window"], work.params["stride"]
    windows = math.prod(len(range(0, max(0, side - window) + 1, stride)) for side in work.size)
    chunk = min(windows, max(1, work.chunk // work.batch))
    held = held_images(work) + work.planes((work.batch + 2) * chunk + work.batch + 1)
    return [Phase("forward", work.batch * windows, held=held, per_item=work.planes(5))]


@register(
    "gradcam",
    title="Grad-CAM",
    kind="heatmap",
    params=GRADCAM_PARAMS,
    result=SaliencyResult,
    summary="the gradient-weighted sum of a layer's feature maps (one backward pass; layer= picks the layer, "
    "default xw.core.default_layer)",
    docs="baselines.md#grad-cam",
    steps={"map": tuple(GRADCAM_PARAMS)},
    explorer="xwidgets.heatmaps.explorer:HeatmapExplorer",
    render="render",
    example='xw.explain(xw.toy.classifier(), xw.toy.dataset(1).images(), method="gradcam")',
    quick={},
    memory=gradcam_memory,
)
@shows_progress("gradcam")
def gradcam(
    model: Model,
    images: object,
    target: object = None,
    *,
    layer: str | nn.Module | None = None,
    size: int | tuple[int, int] | None = None,
    progress=True,
    **params,
) -> SaliencyResult:
    """Grad-CAM (Selvaraju et al., ICCV'17): ReLU of the gradient-weighted sum of a layer's feature maps.

    Args:
        layer: the layer's name (or module); default :func:`~xwidgets.core.layers.default_layer`, the rectified
            output of the last spatial block (ResNet ``layer4``, VGG's last ReLU; on ViT the last block's first
            LayerNorm), found by tracing the first image. Channels-last maps and tokens are read on the image grid
            (:func:`~xwidgets.core.layers.layer_map`). The map is upsampled bilinearly from the layer's grid to
            the input.

    The gradient is taken with respect to the layer's output as it stands after the forward pass, so an in-place
    operation that follows the layer (DenseNet's ReLU after ``features``) is seen by both the activation and its
    gradient. A map that is constant before normalisation is flagged (``SaliencyResult.degenerate``, a warning).
    """
    start = time.perf_counter()
    GRADCAM_PARAMS.resolve(params)
    as_progress(progress).check()
    if layer is not None:
        find_layer(check_model(model).module, layer)
    prepared = prepare(model, images, target, size)
    if layer is None:
        layer = default_layer(model.module, prepared.inputs)

    def work(lo: int, hi: int) -> torch.Tensor:  # one forward and backward pass of images lo..hi-1
        inputs = prepared.inputs[lo:hi].detach().requires_grad_(True)
        with record_layer(model.module, layer) as record:
            score = prepared.target(model.forward(inputs), torch.arange(lo, hi, device=model.device)).sum()
            gradient = _gradient(score, record.activation)
        recorded, gradient = _gradcam_layer_output(model, layer, record.activation, gradient, prepared.size)
        activation = layer_map(recorded, prepared.size)
        weights = layer_map(gradient, prepared.size).mean(dim=(2, 3), keepdim=True)
        return F.relu((weights * activation).sum(1, keepdim=True)).detach()

    with model.frozen(), torch.enable_grad():
        cam = microbatched(model, prepared.batch, work)
    cam = F.interpolate(cam, size=prepared.size, mode="bilinear", align_corners=False)
    name = layer if isinstance(layer, str) else type(layer).__name__
    return make_result("gradcam", {"layer": name}, prepared, normalise_maps(cam), time.perf_counter() - start)


@register(
    "integrated_gradients",
    title="Integrated gradients",
    kind="heatmap",
    params=IG_PARAMS,
    result=SaliencyResult,
    summary="gradients averaged along the straight path from a baseline to the image",
    docs="baselines.md#integrated-gradients",
    steps={"map": tuple(IG_PARAMS)},
    explorer="xwidgets.heatmaps.explorer:HeatmapExplorer",
    render="render",
    example='xw.explain(xw.toy.classifier(), xw.toy.dataset(1).images(), method="integrated_gradients")',
    quick={"steps": 8},
    memory=integrated_gradients_memory,
)
@shows_progress("integrated_gradients")
def integrated_gradients(
    model: Model,
    images: object,
    target: object = None,
    *,
    size: int | tuple[int, int] | None = None,
    progress=True,
    **params,
) -> SaliencyResult:
    """Integrated gradients (Sundararajan et al., ICML'17) in normalised input space.

    The path integral is a right Riemann sum over ``steps`` points; all B × steps points are scored in
    micro-batched forward/backward passes. The map is the absolute attribution summed over channels.
    """
    start = time.perf_counter()
    values = IG_PARAMS.resolve(params)
    progress = as_progress(progress)
    prepared = prepare(model, images, target, size)
    baseline = _baseline(model, prepared.pixels, values["baseline"])
    steps, batch = values["steps"], prepared.batch
    owner = torch.arange(batch, device=model.device).repeat_interleave(steps)
    alphas = (torch.arange(1, steps + 1, device=model.device, dtype=prepared.inputs.dtype) / steps).repeat(batch)
    delta = prepared.inputs - baseline

    def work(lo: int, hi: int) -> torch.Tensor:
        progress.check()
        rows = owner[lo:hi]
        points = (baseline[rows] + alphas[lo:hi].view(-1, 1, 1, 1) * delta[rows]).detach().requires_grad_(True)
        with torch.enable_grad():
            score = prepared.target(model.forward(points), rows).sum()
            (grad,) = torch.autograd.grad(score, points)
        progress.report(hi / len(owner), "integrated gradients")
        return grad

    with model.frozen():
        grads = microbatched(model, len(owner), work)
    average = grads.float().view(batch, steps, *grads.shape[1:]).mean(1)  # summed in float32
    saliency = (average * delta).abs().sum(1, keepdim=True)
    return make_result("integrated_gradients", values, prepared, normalise_maps(saliency), time.perf_counter() - start)


def rise_masks(
    count: int,
    size: tuple[int, int],
    *,
    grid: int = 8,
    keep: float = 0.5,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """RISE's random smooth masks ``[count, 1, H, W]`` in [0, 1] (1 keeps the pixel), drawn from ``generator``.

    Binary ``grid``×``grid`` cells kept with probability ``keep`` are upsampled bilinearly to ``grid + 1`` cells of
    ``ceil(H / grid)`` pixels and cropped at a random shift, the generator of :func:`rise` and of
    :func:`xwidgets.similarity.pair_saliency`, so one seed gives the same masks in both.
    """
    cells, shifts = draw_rise_cells(count, size, grid, keep, generator)
    return render_rise_masks(cells, shifts, size, torch.device(device))


def draw_rise_cells(
    count: int, size: tuple[int, int], grid: int, keep: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The random state of ``count`` RISE masks: cells ``[count, 1, grid, grid]`` and pixel shifts ``[count, 2]``."""
    height, width = size
    cells = (torch.rand(count, 1, grid, grid, generator=generator) < keep).float()
    cell_h, cell_w = -(-height // grid), -(-width // grid)
    shifts = torch.stack(
        [
            torch.randint(0, cell_h, (count,), generator=generator),
            torch.randint(0, cell_w, (count,), generator=generator),
        ],
        1,
    )
    return cells, shifts


def render_rise_masks(
    cells: torch.Tensor, shifts: torch.Tensor, size: tuple[int, int], device: torch.device
) -> torch.Tensor:
    """Smooth masks ``[n, 1, H, W]`` in [0, 1]: cells upsampled bilinearly to ``(grid + 1)`` cells of
    ``ceil(H / grid)`` pixels, then cropped at the shift (RISE's construction)."""
    height, width = size
    grid = cells.shape[-1]
    cell_h, cell_w = -(-height // grid), -(-width // grid)
    up = F.interpolate(
        cells.to(device), size=((grid + 1) * cell_h, (grid + 1) * cell_w), mode="bilinear", align_corners=False
    )
    rows = (shifts[:, 0].to(device)[:, None] + torch.arange(height, device=device)[None]).clamp_max(up.shape[-2] - 1)
    cols = (shifts[:, 1].to(device)[:, None] + torch.arange(width, device=device)[None]).clamp_max(up.shape[-1] - 1)
    index = torch.arange(cells.shape[0], device=device)[:, None, None]
    return up[index, 0, rows[:, :, None], cols[:, None, :]][:, None]


@register(
    "rise",
    title="RISE",
    kind="heatmap",
    params=RISE_PARAMS,
    result=SaliencyResult,
    summary="the score-weighted average of random smooth masks (forward passes only)",
    docs="baselines.md#rise",
    steps={"map": tuple(RISE_PARAMS)},
    explorer="xwidgets.heatmaps.explorer:HeatmapExplorer",
    render="render",
    example='xw.explain(xw.toy.classifier(), xw.toy.dataset(1).images(), method="rise")',
    quick={"masks": 200},
    memory=rise_memory,
)
@shows_progress("rise")
def rise(
    model: Model,
    images: object,
    target: object = None,
    *,
    seed: int = 0,
    size: int | tuple[int, int] | None = None,
    progress=True,
    **params,
) -> SaliencyResult:
    """RISE (Petsiuk et al., BMVC'18): the score-weighted average of random smooth masks.

    Masks are binary ``grid``×``grid`` cells kept with probability ``keep``, upsampled bilinearly to a
    ``(grid + 1)`` cell larger size and randomly shifted (the paper's construction), drawn from a local
    generator seeded with ``seed``. ``normalise_by="frequency"`` divides each pixel by how often it was kept
    (SANE's correction); ``"probability"`` divides by N·p as in RISE.
    """
    start = time.perf_counter()
    values = RISE_PARAMS.resolve(params)
    progress = as_progress(progress)
    prepared = prepare(model, images, target, size)
    height, width = prepared.size
    count, grid, batch = values["masks"], values["grid"], prepared.batch
    generator = torch.Generator().manual_seed(int(seed))
    cells, shifts = draw_rise_cells(count, (height, width), grid, values["keep"], generator)
    baseline = _baseline(model, prepared.pixels, values["baseline"], seed)
    total = torch.zeros(batch, 1, height, width, device=model.device)
    kept = torch.zeros(1, 1, height, width, device=model.device)

    def masks_for(lo: int, hi: int) -> torch.Tensor:
        return render_rise_masks(cells[lo:hi], shifts[lo:hi], (height, width), model.device)

    chunk = max(1, model.max_batch // batch)  # masks per pass; score_masks micro-batches and backs off inside
    for lo in range(0, count, chunk):
        progress.check()
        hi = min(count, lo + chunk)
        masks = masks_for(lo, hi)
        owner = torch.arange(batch, device=model.device).repeat(hi - lo)
        rows = masks.repeat_interleave(batch, 0)
        scores = score_masks(model, prepared.inputs, baseline, rows, prepared.target, owner).view(hi - lo, batch)
        total.add_(torch.einsum("kb,khw->bhw", scores.float(), masks[:, 0].float())[:, None])
        kept.add_(masks.sum(0, keepdim=True))
        progress.report(hi / count, "RISE masks")
    denominator = kept.clamp_min(1.0) if values["normalise_by"] == "frequency" else count * values["keep"]
    saliency = total / denominator
    return make_result("rise", values, prepared, normalise_maps(saliency), time.perf_counter() - start, seed)


@register(
    "occlusion",
    title="Occlusion",
    kind="heatmap",
    params=OCCLUSION_PARAMS,
    result=SaliencyResult,
    summary="the score drop when a sliding window is replaced by the baseline",
    docs="baselines.md#occlusion",
    steps={"map": tuple(OCCLUSION_PARAMS)},
    explorer="xwidgets.heatmaps.explorer:HeatmapExplorer",
    render="render",
    example='xw.explain(xw.toy.classifier(), xw.toy.dataset(1).images(), method="occlusion")',
    quick={"window": 32, "stride": 32},
    memory=occlusion_memory,
)
@shows_progress("occlusion")
def occlusion(
    model: Model,
    images: object,
    target: object = None,
    *,
    size: int | tuple[int, int] | None = None,
    progress=True,
    **params,
) -> SaliencyResult:
    """Occlusion (Zeiler & Fergus, ECCV'14): the score drop when a square window is replaced by the baseline,
    averaged over the windows covering each pixel. The windows of all images are scored in batched passes, a
    chunk of windows at a time (only one chunk's masks are in memory, and a cancel stops at the next chunk)."""
    start = time.perf_counter()
    values = OCCLUSION_PARAMS.resolve(params)
    progress = as_progress(progress)
    progress.check()
    prepared = prepare(model, images, target, size)
    height, width = prepared.size
    window, stride = values["window"], values["stride"]
    if window > min(height, width):
        raise invalid("window", window, f"at most the side of the images ({height}x{width} px)")
    corners = _occlusion_windows((height, width), window, stride).to(model.device)
    count, batch = corners.shape[0], prepared.batch
    baseline = _baseline(model, prepared.pixels, values["baseline"])
    unoccluded = prepared.scores.to(model.device).float()
    total = torch.zeros(batch, 1, height, width, device=model.device)
    coverage = torch.zeros(1, 1, height, width, device=model.device)
    chunk = max(1, model.max_batch // batch)  # windows per pass; score_masks micro-batches and backs off inside
    for lo in range(0, count, chunk):
        progress.check()
        hi = min(count, lo + chunk)
        covered = _window_masks(corners[lo:hi], window, (height, width))  # [k, 1, H, W], 1 inside the window
        owner = torch.arange(batch, device=model.device).repeat(hi - lo)
        rows = (1.0 - covered).repeat_interleave(batch, 0)
        scores = score_masks(model, prepared.inputs, baseline, rows, prepared.target, owner).view(hi - lo, batch)
        total.add_(torch.einsum("kb,khw->bhw", unoccluded - scores.float(), covered[:, 0])[:, None])
        coverage.add_(covered.sum(0, keepdim=True))
        progress.report(hi / count, f"scored {hi}/{count} occluded windows")
    saliency = F.relu(total / coverage.clamp_min(1.0))
    return make_result("occlusion", values, prepared, normalise_maps(saliency), time.perf_counter() - start)


def _occlusion_windows(size: tuple[int, int], window: int, stride: int) -> torch.Tensor:
    """The top-left corners ``[N, 2]`` (long, row then column) of the ``window``-pixel occluders that slide by
    ``stride`` over an image of ``size`` ``(H, W)``, row by row; N = 0 when the window is larger than the image."""
    tops = torch.arange(0, size[0] - window + 1, stride)
    lefts = torch.arange(0, size[1] - window + 1, stride)
    return torch.cartesian_prod(tops, lefts).view(-1, 2)


def _window_masks(corners: torch.Tensor, window: int, size: tuple[int, int]) -> torch.Tensor:
    """Masks ``[N, 1, H, W]`` float, 1 inside the square ``window`` at each of ``corners`` ``[N, 2]`` and 0 elsewhere
    (on the corners' device)."""
    rows = torch.arange(size[0], device=corners.device)
    columns = torch.arange(size[1], device=corners.device)
    inside_rows = (rows >= corners[:, :1]) & (rows < corners[:, :1] + window)  # [N, H]
    inside_columns = (columns >= corners[:, 1:]) & (columns < corners[:, 1:] + window)  # [N, W]
    return (inside_rows[:, :, None] & inside_columns[:, None, :]).float()[:, None]
