"""Mask upsampling and the perturbation composite ``Φ(I, B, M) = I ⊙ up(M) + B ⊙ (1 − up(M))``.

M = 1 keeps the image's pixel and M = 0 replaces it with the baseline (``docs/architecture.md#masks-and-baselines``).
The OSU-family code upsamples with ``nn.UpsamplingBilinear2d``, i.e. bilinear with ``align_corners=True``, which is
the default here.
Compose in normalised space: pass ``model.normalize(images)`` and ``model.normalize(baseline)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import describe, invalid

__all__ = ["upsample_mask", "upsample_adjoint", "composite"]


def upsample_mask(masks: torch.Tensor, size: tuple[int, int], *, align_corners: bool = True) -> torch.Tensor:
    """Bilinearly upsample low-resolution masks ``[N, 1, h, w]`` to ``[N, 1, *size]``.

    ``align_corners=True`` (the default) matches the official I-GOS, iGOS++ and SAG code.
    """
    if not isinstance(masks, torch.Tensor) or masks.ndim != 4 or masks.shape[1] != 1:
        raise invalid("masks", masks, "a [N, 1, h, w] float tensor")
    if not masks.is_floating_point():
        raise invalid("masks", masks, "a float tensor (cast binary masks with .float())")
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    return F.interpolate(masks, size=tuple(size), mode="bilinear", align_corners=align_corners)


def upsample_adjoint(grads: torch.Tensor, resolution: tuple[int, int], *, align_corners: bool = True) -> torch.Tensor:
    """Apply the transpose of :func:`upsample_mask` to full-resolution gradients ``[N, 1, H, W]``.

    Returns ``[N, 1, h, w]`` with h, w = ``resolution``: the gradient with respect to the low-resolution masks
    when ``grads`` is the gradient with respect to their upsampled versions. Upsampling is linear, so a sum of
    many full-resolution gradients needs this once, not once per term (I-GOS's IG path, iGOS++'s four paths).
    """
    leaf = grads.new_zeros(grads.shape[0], 1, *resolution).requires_grad_(True)
    with torch.enable_grad():
        up = upsample_mask(leaf, (grads.shape[-2], grads.shape[-1]), align_corners=align_corners)
        if up is leaf:
            return grads
        (adjoint,) = torch.autograd.grad(up, leaf, grad_outputs=grads)
    return adjoint


def composite(
    images: torch.Tensor,
    baselines: torch.Tensor,
    masks: torch.Tensor,
    owner: torch.Tensor | None = None,
    *,
    align_corners: bool = True,
) -> torch.Tensor:
    """Blend each image with its baseline through a mask: ``I ⊙ up(M) + B ⊙ (1 − up(M))``.

    Args:
        images: ``[B, C, H, W]`` images (normalised space for the OSU-family methods).
        baselines: ``[B, C, H, W]`` baselines in the same space.
        masks: ``[N, 1, h, w]`` masks in [0, 1] at any resolution (1 keeps the pixel). Differentiable.
        owner: ``[N]`` long, the image each mask belongs to; default ``arange(N)`` (then N must equal B).

    Returns:
        ``[N, C, H, W]`` composites on the images' device.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise invalid("images", images, "a [B, C, H, W] tensor")
    if not isinstance(baselines, torch.Tensor) or baselines.shape != images.shape:
        raise invalid("baselines", baselines, f"a tensor of the images' shape {tuple(images.shape)}")
    if not isinstance(masks, torch.Tensor) or masks.ndim != 4 or masks.shape[1] != 1:
        raise invalid("masks", masks, "a [N, 1, h, w] float tensor")
    for name, tensor in (("baselines", baselines), ("masks", masks)):
        if tensor.device != images.device:
            raise invalid(name, describe(tensor), f"a tensor on the images' device {images.device}")
    if owner is None:
        if masks.shape[0] != images.shape[0]:
            raise invalid(
                "masks",
                f"{masks.shape[0]} masks for {images.shape[0]} images",
                "one mask per image, or an owner index per mask",
            )
        image_rows, baseline_rows = images, baselines
    else:
        if owner.ndim != 1 or owner.shape[0] != masks.shape[0] or owner.dtype != torch.long:
            raise invalid("owner", owner, f"a long tensor [{masks.shape[0]}] (one image index per mask)")
        owner = owner.to(images.device)
        image_rows, baseline_rows = images[owner], baselines[owner]
    up = upsample_mask(masks.to(images.dtype), (images.shape[-2], images.shape[-1]), align_corners=align_corners)
    return baseline_rows + (image_rows - baseline_rows) * up
