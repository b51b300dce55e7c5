import numpy as np
import pytest
import torch
from PIL import Image

from xwidgets.core import XWidgetsError, to_batch, to_numpy_uint8
from xwidgets.core.errors import InvalidArgument


def _uint8_image(h=12, w=10, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_numpy_uint8_round_trip_is_exact():
    array = _uint8_image()
    batch = to_batch(array)
    assert batch.shape == (1, 3, 12, 10) and batch.dtype == torch.float32
    assert np.array_equal(to_numpy_uint8(batch[0]), array)


def test_pil_path_tensor_and_numpy_agree(tmp_path):
    array = _uint8_image()
    path = tmp_path / "x.png"
    Image.fromarray(array).save(path)
    from_pil = to_batch(Image.fromarray(array))
    from_path = to_batch(path)
    from_str = to_batch(str(path))
    from_tensor = to_batch(torch.from_numpy(array).permute(2, 0, 1))  # uint8 CHW, as torchvision.io reads
    from_float = to_batch(array.astype(np.float32) / 255)
    for other in (from_pil, from_path, from_str, from_tensor, from_float):
        assert torch.allclose(other, from_pil, atol=1e-6)


def test_grayscale_and_rgba_become_rgb():
    gray = np.full((4, 5), 128, np.uint8)
    batch = to_batch(gray)
    assert batch.shape == (1, 3, 4, 5) and torch.allclose(batch, torch.full_like(batch, 128 / 255))
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0] = 255
    assert to_batch(rgba)[0, 0].eq(1).all() and to_batch(rgba).shape[1] == 3
    assert to_batch(Image.fromarray(gray)).shape == (1, 3, 4, 5)


def test_lists_and_batches_stack():
    a, b = _uint8_image(seed=1), _uint8_image(seed=2)
    stacked = to_batch([a, b])
    assert stacked.shape == (2, 3, 12, 10)
    assert torch.equal(to_batch(np.stack([a, b])), stacked)
    assert torch.equal(to_batch(stacked), stacked)


def test_size_resizes_mixed_sizes():
    out = to_batch([_uint8_image(12, 10), _uint8_image(20, 20)], size=(8, 8))
    assert out.shape == (2, 3, 8, 8)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


@pytest.mark.parametrize(
    "value, expected",
    [
        (np.zeros((3, 12, 10), np.uint8), "channels-last"),
        (torch.zeros(12, 10, 3), "channels-first"),
        (np.zeros((4, 4, 3), np.int32), "uint8"),
        (torch.zeros(3, 4, 4, dtype=torch.int64), "uint8"),
        (np.full((4, 4, 3), 2.0), "[0, 1]"),
        (torch.full((3, 4, 4), -0.5), "[0, 1]"),
        (np.full((4, 4, 3), np.nan, np.float32), "finite"),
        (torch.zeros(2, 2, 3, 4, 4), "[B, C, H, W]"),
        ([], "at least one"),
        ("definitely/not/here.png", "existing image file"),
        (42, "PIL image"),
    ],
)
def test_bad_images_name_the_argument_and_expectation(value, expected):
    with pytest.raises(InvalidArgument) as info:
        to_batch(value, name="images")
    assert info.value.argument.startswith("images")
    assert expected in str(info.value)


def test_mixed_sizes_without_size_fail_clearly():
    with pytest.raises(XWidgetsError, match="pass size"):
        to_batch([_uint8_image(12, 10), _uint8_image(20, 20)])


def test_non_image_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(InvalidArgument, match="not an image"):
        to_batch(path)
