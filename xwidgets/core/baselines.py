"""Baselines: the images that perturbations fade towards, computed in pixel space ([0, 1]).

Normalise a baseline with the model (:meth:`~xwidgets.core.models.Model.normalize`) before compositing; the
OSU-family methods composite in normalised space (``docs/architecture.md#masks-and-baselines``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import invalid
from .params import Param, ParamSet

__all__ = ["BASELINE_KINDS", "BASELINE_PARAMS", "gaussian_blur", "make_baseline"]

BASELINE_KINDS = ("blur", "black", "mean", "constant", "noise")

BASELINE_PARAMS = ParamSet(
    "baseline",
    Param("baseline", "choice", "blur", "what removed pixels become", choices=BASELINE_KINDS),
    Param("blur_kernel", "int", 51, "Gaussian blur kernel size in pixels (odd)", low=1, high=255, step=2),
    Param("blur_sigma", "float", 50.0, "Gaussian blur sigma in pixels", low=0.1, high=200.0),
)


def gaussian_blur(images: torch.Tensor, kernel_size: int = 51, sigma: float = 50.0) -> torch.Tensor:
    """Blur ``[B, C, H, W]`` images with a separable Gaussian of odd ``kernel_size`` and ``sigma`` (pixels).

    Borders are reflected (as OpenCV's default, which the official I-GOS code used); when the kernel is larger
    than the image, edge pixels are replicated instead.
    """
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise invalid("blur_kernel", kernel_size, "an odd positive int")
    if not sigma > 0:
        raise invalid("blur_sigma", sigma, "a positive number")
    if images.ndim != 4:
        raise invalid("images", images, "a [B, C, H, W] tensor")
    radius = kernel_size // 2
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=torch.float32)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    weights = (weights / weights.sum()).to(images.dtype)
    channels = images.shape[1]
    height, width = images.shape[-2:]
    mode = "reflect" if radius < min(height, width) else "replicate"
    out = F.pad(images, (radius, radius, 0, 0), mode=mode)
    out = F.conv2d(out, weights.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    out = F.pad(out, (0, 0, radius, radius), mode=mode)
    return F.conv2d(out, weights.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def make_baseline(
    images: torch.Tensor,
    kind: str = "blur",
    *,
    blur_kernel: int = 51,
    blur_sigma: float = 50.0,
    color: tuple[float, float, float] = (0.5, 0.5, 0.5),
    seed: int = 0,
) -> torch.Tensor:
    """The baseline of each image, ``[B, 3, H, W]`` in [0, 1], same device and dtype as ``images``.

    Kinds:
        ``"blur"``: Gaussian blur with ``blur_kernel`` and ``blur_sigma`` (I-GOS: 51 and 50 at 224 px);
        ``"black"``: zeros (SAG's baseline);
        ``"mean"``: each image's own mean colour;
        ``"constant"``: the RGB ``color`` in [0, 1] (e.g. a dataset's mean colour, or SANE's grey or white);
        ``"noise"``: uniform noise in [0, 1] drawn from a local generator seeded with ``seed`` (per image, so
        every image of a batch gets the noise it would get alone).
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        raise invalid("images", images, "a [B, 3, H, W] tensor in [0, 1]")
    if kind == "blur":
        return gaussian_blur(images, blur_kernel, blur_sigma)
    if kind == "black":
        return torch.zeros_like(images)
    if kind == "mean":
        return images.mean(dim=(2, 3), keepdim=True).expand_as(images).contiguous()
    if kind == "constant":
        if len(color) != 3 or any(not 0.0 <= float(c) <= 1.0 for c in color):
            raise invalid("color", color, "three RGB values in [0, 1]")
        value = torch.tensor(color, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        return value.expand_as(images).contiguous()
    if kind == "noise":  # one generator per image: an image's baseline does not depend on its batch
        noise = torch.stack(
            [
                torch.rand(
                    images.shape[1:],
                    dtype=torch.float32,
                    generator=torch.Generator(device="cpu").manual_seed(int(seed)),
                )
                for _ in range(images.shape[0])
            ]
        )
        return noise.to(images.device, images.dtype)
    raise invalid("baseline", kind, "one of " + ", ".join(BASELINE_KINDS))
