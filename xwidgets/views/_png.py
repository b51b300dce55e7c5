"""PNG encoding of one image for the views: images travel to the browser as PNG bytes, never as JSON lists."""

from __future__ import annotations

import io

import torch

from ..core.errors import invalid
from ..core.images import to_batch, to_numpy_uint8

__all__ = ["encode_image"]


def encode_image(image: object, name: str = "image") -> tuple[torch.Tensor, bytes]:
    """One image -> (``[3, H, W]`` float in [0, 1], PNG bytes of the ``H x W`` RGB image at its own size).

    Args:
        image: one image in any form :func:`~xwidgets.core.images.to_batch` accepts (a batch of one is allowed).
        name: the argument name used in error messages.

    Raises:
        InvalidArgument: for anything ``to_batch`` refuses, or a batch of more than one image.
    """
    from PIL import Image

    batch = to_batch(image, name=name)
    if batch.shape[0] != 1:
        raise invalid(name, f"a batch of {batch.shape[0]} images", "a single image")
    buffer = io.BytesIO()
    Image.fromarray(to_numpy_uint8(batch[0])).save(buffer, format="PNG")
    return batch[0], buffer.getvalue()
