"""Image files for the source tests: good ones in every mode a user's folder holds, and broken ones."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .images import truncated, write_image


@pytest.fixture
def class_folder(tmp_path) -> Path:
    """``root/{cat,dog}/...``: 2 cats (one nested deeper), 3 dogs, and files a listing must ignore."""
    root = tmp_path / "pets"
    write_image(root / "cat" / "b.png")
    write_image(root / "cat" / "deep" / "a.JPG", fmt="JPEG")
    for name in ("1.png", "2.jpeg", "3.bmp"):
        write_image(root / "dog" / name)
    (root / "dog" / "notes.txt").write_text("not an image")
    write_image(root / "dog" / ".hidden.png")
    write_image(root / ".ipynb_checkpoints" / "x.png")
    (root / "empty").mkdir()
    return root


@pytest.fixture
def noisy_image(tmp_path) -> Path:
    """A 24x20 RGB PNG of random pixels (compressible only a little, so a truncated copy is really cut)."""
    pixels = np.random.default_rng(0).integers(0, 256, size=(24, 20, 3), dtype=np.uint8)
    path = tmp_path / "noisy.png"
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def broken_files(tmp_path, noisy_image) -> dict[str, Path]:
    """Files that cannot be decoded, by kind."""
    folder = tmp_path / "broken"
    folder.mkdir()
    jpeg = folder / "whole.jpg"
    Image.open(noisy_image).save(jpeg, quality=95)
    text = folder / "text.jpg"
    text.write_text("this is not a JPEG")
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    return {
        "truncated png": truncated(folder / "cut.png", noisy_image),
        "truncated jpeg": truncated(folder / "cut.jpg", jpeg),
        "text named .jpg": text,
        "zero bytes": empty,
        "missing": folder / "missing.png",
    }
