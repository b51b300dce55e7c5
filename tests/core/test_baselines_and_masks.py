import pytest
import torch

from xwidgets.core import composite, gaussian_blur, make_baseline, upsample_mask
from xwidgets.core.errors import InvalidArgument


def test_blur_preserves_constants_and_smooths_edges():
    flat = torch.full((1, 3, 20, 20), 0.3)
    assert torch.allclose(gaussian_blur(flat, 9, 3.0), flat, atol=1e-6)
    step = torch.zeros(1, 3, 20, 20)
    step[..., 10:] = 1
    blurred = gaussian_blur(step, 9, 3.0)
    assert 0.0 < float(blurred[0, 0, 5, 9]) < 1.0
    assert blurred.var() < step.var()
    big_kernel = gaussian_blur(step, 51, 50.0)  # kernel larger than the image: replicate padding
    assert big_kernel.shape == step.shape and torch.isfinite(big_kernel).all()


def test_each_baseline_kind():
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert make_baseline(images, "black").eq(0).all()
    mean = make_baseline(images, "mean")
    assert torch.allclose(mean[:, :, 0, 0], images.mean((2, 3)))
    assert torch.allclose(
        make_baseline(images, "constant", color=(0.1, 0.2, 0.3))[1, :, 4, 4], torch.tensor([0.1, 0.2, 0.3])
    )
    noise = make_baseline(images, "noise", seed=3)
    assert torch.equal(noise, make_baseline(images, "noise", seed=3))
    assert not torch.equal(noise, make_baseline(images, "noise", seed=4))
    assert make_baseline(images, "blur", blur_kernel=5, blur_sigma=2.0).shape == images.shape


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "zebra"}, "baseline"),
        ({"kind": "blur", "blur_kernel": 4}, "odd"),
        ({"kind": "constant", "color": (2, 0, 0)}, "RGB values"),
        ({"kind": "blur", "blur_sigma": 0}, "positive"),
    ],
)
def test_bad_baseline_arguments(kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        make_baseline(torch.rand(1, 3, 8, 8), **kwargs)


def test_upsample_uses_align_corners_true():
    mask = torch.tensor([[[[0.0, 1.0]]]])
    up = upsample_mask(mask, (1, 5))
    assert torch.allclose(up[0, 0, 0], torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))  # corners kept exactly
    assert not torch.allclose(upsample_mask(mask, (1, 5), align_corners=False), up)


def test_composite_keeps_and_replaces_with_owner():
    images = torch.rand(2, 3, 4, 4)
    baselines = torch.zeros(2, 3, 4, 4)
    masks = torch.stack([torch.ones(1, 2, 2), torch.zeros(1, 2, 2), torch.full((1, 2, 2), 0.5)])
    out = composite(images, baselines, masks, torch.tensor([1, 0, 1]))
    assert torch.allclose(out[0], images[1]) and out[1].eq(0).all() and torch.allclose(out[2], images[1] / 2)


def test_composite_errors():
    images = torch.rand(2, 3, 4, 4)
    with pytest.raises(InvalidArgument, match="baselines"):
        composite(images, torch.zeros(1, 3, 4, 4), torch.ones(2, 1, 2, 2))
    with pytest.raises(InvalidArgument, match="one mask per image"):
        composite(images, images, torch.ones(3, 1, 2, 2))
    with pytest.raises(InvalidArgument, match="owner"):
        composite(images, images, torch.ones(3, 1, 2, 2), torch.tensor([0, 1]))
    with pytest.raises(InvalidArgument, match="device"):
        composite(images, images, torch.ones(2, 1, 2, 2, device="meta"))
    with pytest.raises(InvalidArgument, match="float"):
        upsample_mask(torch.ones(2, 1, 2, 2, dtype=torch.long), (4, 4))
