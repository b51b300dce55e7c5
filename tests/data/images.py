"""Image files the source tests write."""

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, size=(20, 24), mode="RGB", value=100, fmt=None) -> Path:
    """A flat image of ``size`` (W, H) in PIL ``mode`` with every pixel ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray(np.full(size[::-1], value * 257, dtype=np.uint16)).save(path)
    else:
        Image.new(mode, size, value if mode in ("L", "P") else (value,) * len(mode)).save(path, format=fmt)
    return path


def truncated(path: Path, source: Path) -> Path:
    """``path``: the first half of the bytes of the image file ``source``."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
