"""One image conversion: PIL, numpy, tensor or path in; a batched float tensor in [0, 1] out.

Every method and view calls :func:`to_batch` and nothing else to read images, so the accepted forms and their
errors are the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import describe, invalid

__all__ = ["to_batch", "to_numpy_uint8", "resize_batch", "is_pil"]


def to_batch(images: object, *, size: int | tuple[int, int] | None = None, name: str = "images") -> torch.Tensor:
    """Convert images to one float32 RGB batch ``[B, 3, H, W]`` with values in [0, 1], on the CPU.

    Accepted, alone or as a list/tuple of them (a list is stacked; its images must share a size unless ``size``
    is given):

    - a ``PIL.Image`` (any mode; converted to RGB): 16-bit modes (``I;16``, a 16-bit PNG) and ``I`` are read as
      0..65535, ``F`` as floats in [0, 1];
    - a path (``str`` or ``pathlib.Path``) to an image file, read as its PIL image;
    - a numpy array ``[H, W]``, ``[H, W, C]`` or ``[B, H, W, C]`` with C in {1, 3, 4} (alpha is dropped),
      uint8 in 0..255, uint16 in 0..65535 or float in [0, 1];
    - a torch tensor ``[C, H, W]`` or ``[B, C, H, W]`` with C in {1, 3}, uint8 in 0..255, uint16 in 0..65535 or
      float in [0, 1].
      Tensors keep their values but move to the CPU.

    Args:
        images: the image or images.
        size: optional output size, an int (square) or ``(H, W)``; images are resized bilinearly with antialiasing.
        name: the argument name used in error messages.

    Raises:
        InvalidArgument: for unsupported types, shapes, dtypes, values outside the range, NaN or infinity, a
            missing file, or images of different sizes without ``size``.
    """
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise invalid(name, "an empty list", "at least one image")
        parts = [_one(image, f"{name}[{i}]") for i, image in enumerate(images)]
    else:
        parts = [_one(images, name)]
    if size is not None:
        target = _size_arg(size)
        parts = [resize_batch(p, target) for p in parts]
    sizes = {tuple(p.shape[-2:]) for p in parts}
    if len(sizes) > 1:
        raise invalid(name, f"images of different sizes {sorted(sizes)}", "images of one size, or pass size=(H, W)")
    return torch.cat(parts, 0).contiguous()


def resize_batch(batch: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a ``[B, C, H, W]`` float batch to ``size=(H, W)`` bilinearly with antialiasing (identity if equal)."""
    if tuple(batch.shape[-2:]) == tuple(size):
        return batch
    out = F.interpolate(batch, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0)


def to_numpy_uint8(image: torch.Tensor) -> np.ndarray:
    """Convert one ``[3, H, W]`` (or ``[1, 3, H, W]``) float image in [0, 1] to a ``[H, W, 3]`` uint8 array."""
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3 or image.shape[0] != 3:
        raise invalid("image", image, "a [3, H, W] tensor")
    array = (image.detach().float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
    return array.permute(1, 2, 0).cpu().numpy()


def _size_arg(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return (size, size)
    if (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        return (int(size[0]), int(size[1]))
    raise invalid("size", size, "a positive int or a pair (H, W) of positive ints")


def _one(image: object, name: str) -> torch.Tensor:
    """Convert a single item (which may itself hold a batch) to ``[b, 3, H, W]`` float32 in [0, 1]."""
    if isinstance(image, (str, Path)):
        return _from_path(Path(image), name)
    if is_pil(image):
        return _from_pil(image, name)
    if isinstance(image, np.ndarray):
        return _from_numpy(image, name)
    if isinstance(image, torch.Tensor):
        return _from_tensor(image, name)
    raise invalid(name, f"an object of type {type(image).__name__}", "a PIL image, numpy array, torch tensor or path")


def is_pil(image: object) -> bool:
    """Whether ``image`` is a PIL image (False where Pillow is not installed)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(image, Image.Image)


def _from_path(path: Path, name: str) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise invalid(name, f"the path '{path}', which is not a file", "a path to an existing image file")
    try:
        with Image.open(path) as opened:
            return _from_pil(opened, f"{name} ('{path}')")
    except UnidentifiedImageError:
        raise invalid(name, f"the file '{path}', which is not an image", "a PNG, JPEG or other image file") from None


def _from_pil(image, name: str) -> torch.Tensor:
    """A PIL image of any mode -> ``[1, 3, H, W]``. Pillow's ``convert("RGB")`` clips 16- and 32-bit integer modes
    at 255 (a 16-bit PNG became all white), so those are read as numbers 0..65535 and float mode ``F`` as [0, 1]."""
    if image.width < 1 or image.height < 1:
        raise invalid(name, f"an empty {image.width}x{image.height} PIL image", "an image of at least 1x1 pixels")
    if image.mode.startswith("I;16"):
        return _from_numpy(np.asarray(image).astype(np.uint16), name)
    if image.mode == "I":
        array = np.asarray(image)
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 65535:
            raise invalid(
                name,
                f"a 32-bit integer PIL image (mode 'I') with values in [{low}, {high}]",
                "16-bit values 0..65535 (convert other ranges to floats in [0, 1] yourself)",
            )
        return _from_numpy(array.astype(np.uint16), name)
    if image.mode == "F":
        return _from_numpy(np.asarray(image), name)
    return _from_numpy(np.asarray(image.convert("RGB")), name)


def _from_numpy(array: np.ndarray, name: str) -> torch.Tensor:
    if array.dtype == np.uint8:
        scale = 255.0
    elif array.dtype.kind == "u" and array.dtype.itemsize == 2:  # 16-bit, either byte order
        array, scale = array.astype(np.float32) / 65535.0, 1.0
    elif np.issubdtype(array.dtype, np.floating):
        scale = 1.0
    else:
        raise invalid(
            name, f"a numpy array of dtype {array.dtype}", "dtype uint8 (0..255), uint16 (0..65535) or float (0..1)"
        )
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim == 3:
        if array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3, 4):
            raise invalid(name, describe(array), "a channels-last [H, W, C] array (use array.transpose(1, 2, 0))")
        array = array[None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3, 4) or min(array.shape[:3]) < 1:
        raise invalid(name, describe(array), "a numpy image [H, W], [H, W, C] or [B, H, W, C] with C in {1, 3, 4}")
    tensor = torch.from_numpy(np.require(array, requirements=["C", "W"])).permute(0, 3, 1, 2)
    return _to_unit_rgb(tensor, scale, name)


def _from_tensor(tensor: torch.Tensor, name: str) -> torch.Tensor:
    if tensor.is_meta:
        raise invalid(name, describe(tensor), "a tensor holding data (the meta device has shapes only)")
    if tensor.dtype == torch.uint8:
        scale = 255.0
    elif tensor.dtype == torch.uint16:
        scale = 65535.0
    elif tensor.is_floating_point():
        scale = 1.0
    else:
        raise invalid(
            name, f"a tensor of dtype {tensor.dtype}", "dtype uint8 (0..255), uint16 (0..65535) or a float dtype (0..1)"
        )
    if tensor.ndim == 3:
        if tensor.shape[-1] in (3, 4) and tensor.shape[0] not in (1, 3):
            raise invalid(name, describe(tensor), "a channels-first [C, H, W] tensor (use tensor.permute(2, 0, 1))")
        tensor = tensor[None]
    if tensor.ndim != 4 or tensor.shape[1] not in (1, 3) or min(tensor.shape) < 1:
        raise invalid(name, describe(tensor), "a tensor [C, H, W] or [B, C, H, W] with C in {1, 3}")
    return _to_unit_rgb(tensor.detach().cpu(), scale, name)


def _to_unit_rgb(batch: torch.Tensor, scale: float, name: str) -> torch.Tensor:
    """``[B, C, H, W]`` with C in {1, 3, 4} -> float32 ``[B, 3, H, W]`` in [0, 1], checking values."""
    batch = batch[:, :3].float()
    if scale != 1.0:
        batch = batch / scale
    else:
        finite = torch.isfinite(batch)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise invalid(name, f"an image with {bad} NaN or infinite values", "finite values in [0, 1]")
        low, high = float(batch.min()), float(batch.max())
        if low < 0.0 or high > 1.0:
            raise invalid(
                name,
                f"float values in [{low:.9g}, {high:.9g}]",
                "floats in [0, 1] (divide uint8 data by 255, or pass the uint8 array itself)",
            )
    if batch.shape[1] == 1:
        batch = batch.expand(-1, 3, -1, -1)
    return batch.contiguous()
