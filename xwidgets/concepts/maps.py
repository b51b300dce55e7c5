"""Concept maps by excitation backprop (Zhang et al., ECCV 2016) through the SRAE and the spatial pooling.

XNN shows each concept with an excitation-backprop (EBP) heatmap computed through the CNN and SRAE stack
(``docs/concepts.md#concept-maps-contrastive-excitation-backprop``). EBP passes a probability mass from an
output unit down the network: a unit's mass goes to the units below it in proportion to ``a_i · w⁺_ji`` (the
input activation times the positive part of the weight), so it is conserved layer by layer and lands on the inputs
that excite the unit.

This module runs EBP exactly, in closed form, from concept ``k`` (all the mass on ``z_k``) down

1. the SRAE encoder's three linear layers (``P(a_i) = a_i Σ_j w⁺_ji P(o_j) / Σ_i' w⁺_ji' a_i'``; biases take no
   mass, as in EBP), and
2. the spatial mean that turned the layer's output ``A [C, h, w]`` into the feature vector (every weight is
   ``1/(hw)``, so channel c's mass spreads over positions in proportion to ``A_c,s``),

which gives a map on the layer's ``h × w`` grid that sums to the mass that reached the layer (1 unless a
denominator was 0).

The maps are **contrastive** (EBP's c-MWP, section 3.3 of the EBP paper): the
same pass is run for a dual concept whose top-layer weights are negated, and its map is subtracted, keeping the
positive part. Plain EBP is not discriminative here: on the toy world every concept's plain map put 60-70 % of its
mass on the background and the maps of different concepts were nearly identical; on four species the contrastive
maps put 1.4-2.1× more of their mass on the species' evidence parts than the plain ones.

We stop at the layer the features are read from, as the EBP paper and TorchRay's
``saliency_layer`` do for their maps, rather than continue through the convolutions and batch norms below it: the
concept is a function of that layer, so its map there is exact, and going further would need EBP rules for batch
norm and residual sums that the method does not define. The maps are then bilinearly upsampled to the input. EBP
assumes non-negative activations (the outputs of ReLUs); negative values of a layer that has them take no mass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .srae import SRAE

__all__ = ["excitation_maps", "upsample_maps", "locality"]

_EPS = 1e-12


def _excite(inputs: torch.Tensor, weight: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
    """EBP through one linear layer: ``inputs [B, n_in]``, ``weight [n_out, n_in]``, ``mass [B, k, n_out]``
    -> mass on the inputs ``[B, k, n_in]``."""
    inputs, positive = inputs.clamp(min=0), weight.clamp(min=0)
    totals = inputs @ positive.T  # [B, n_out]
    share = mass / totals.clamp(min=_EPS).unsqueeze(1) * (totals > _EPS).unsqueeze(1)
    return inputs.unsqueeze(1) * (share @ positive)


def _marginal_winning(srae: SRAE, states: list[torch.Tensor], positive: torch.Tensor, top_sign: float) -> torch.Tensor:
    """EBP masses ``[B, k, h, w]`` of every concept, the top layer's weights multiplied by ``top_sign``."""
    k = states[-1].shape[1]
    mass = torch.eye(k, device=positive.device).unsqueeze(0).expand(positive.shape[0], k, k)
    for depth, (layer, inputs) in enumerate(zip(reversed(srae.encoder_layers), reversed(states[:-1]))):
        mass = _excite(inputs, layer.weight * top_sign if depth == 0 else layer.weight, mass)
    channel_totals = positive.sum(dim=(2, 3))  # [B, C]
    share = mass / channel_totals.clamp(min=_EPS).unsqueeze(1) * (channel_totals > _EPS).unsqueeze(1)
    return torch.einsum("bkc,bchw->bkhw", share, positive)


def excitation_maps(srae: SRAE, activation: torch.Tensor, scale: float) -> torch.Tensor:
    """Contrastive EBP maps of every concept on the layer's grid.

    Args:
        srae: the fitted SRAE (eval mode).
        activation: the layer's output ``[B, C, h, w]`` for B images.
        scale: the factor the features were divided by before the SRAE.

    Returns:
        ``[B, k, h, w]`` non-negative masses; each map sums to at most 1.
    """
    features = activation.float().mean(dim=(2, 3)) / scale
    positive = activation.float().clamp(min=0)
    states = srae.encode(features)
    concept = _marginal_winning(srae, states, positive, 1.0)
    dual = _marginal_winning(srae, states, positive, -1.0)
    return (concept - dual).clamp(min=0)


def upsample_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[B, k, h, w]`` masses -> ``[B, k, H, W]`` bilinear maps scaled to [0, 1] per map (all-zero stays 0)."""
    upsampled = F.interpolate(maps, size=size, mode="bilinear", align_corners=False).clamp(min=0)
    peak = upsampled.amax(dim=(2, 3), keepdim=True)
    return torch.where(peak > 0, upsampled / peak.clamp(min=_EPS), torch.zeros_like(upsampled))


def locality(maps: torch.Tensor, top: float = 0.1) -> torch.Tensor:
    """The share of each map's mass inside its top ``top`` fraction of cells, ``[B, k]`` (uniform: ``top``;
    one cell: 1). ``maps`` is ``[B, k, h, w]``; an all-zero map scores 0."""
    flat = maps.flatten(2)
    count = max(1, round(top * flat.shape[-1]))
    totals = flat.sum(dim=-1)
    best = flat.topk(count, dim=-1).values.sum(dim=-1)
    return torch.where(totals > 0, best / totals.clamp(min=_EPS), torch.zeros_like(totals))
