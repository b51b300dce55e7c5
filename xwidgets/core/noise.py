"""Noise drawn per image, so that an image's explanation does not depend on the images explained beside it.

A method given B images explains them in batched passes, but its answer for one image must equal the answer for
that image alone (same seed). One generator for the batch breaks that: the noise an image gets would depend on how
many rows of other images were drawn before its own. :class:`ImageNoise` keeps one generator per image, all seeded
with the same seed, and draws every row from the generator of the image it belongs to, in row order.
"""

from __future__ import annotations

import torch

__all__ = ["ImageNoise"]


class ImageNoise:
    """Gaussian noise for rows of perturbed images, drawn from one generator per original image.

    Args:
        seed: the seed of every image's generator (image b alone and image b in a batch draw the same noise).
        count: the number of original images B.
        device: where the noise is drawn.
    """

    def __init__(self, seed: int, count: int, device: torch.device | str):
        self._generators = [torch.Generator(device=device).manual_seed(int(seed)) for _ in range(count)]

    def like(self, inputs: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
        """Standard normal noise of ``inputs``' shape ``[N, ...]``; row i comes from image ``owner[i]``'s
        generator (``owner`` ``[N]`` long)."""
        rows = owner.tolist()
        if len(set(rows)) == 1:
            return torch.randn(
                inputs.shape, generator=self._generators[rows[0]], device=inputs.device, dtype=inputs.dtype
            )
        return torch.stack(
            [
                torch.randn(inputs.shape[1:], generator=self._generators[b], device=inputs.device, dtype=inputs.dtype)
                for b in rows
            ]
        )
