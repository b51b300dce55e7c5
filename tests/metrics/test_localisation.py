import numpy as np
import pytest
import torch

from xwidgets.core.errors import InvalidArgument
from xwidgets.metrics import HIGHER_IS_BETTER, energy_in_mask, pointing_game, topk_iou


def _masks():
    masks = torch.zeros(2, 40, 40, dtype=torch.bool)
    masks[0, 5:10, 5:10] = True
    masks[1, 30:35, 30:35] = True
    return masks


def test_pointing_game_tolerance():
    masks = _masks()
    maps = torch.zeros(2, 1, 40, 40)
    maps[0, 0, 7, 7] = 1.0  # inside
    maps[1, 0, 20, 20] = 1.0  # 10 px from the box corner (30, 30): sqrt(200) ≈ 14.1
    assert pointing_game(maps, masks).tolist() == [True, True]
    assert pointing_game(maps, masks, tolerance=10).tolist() == [True, False]
    assert pointing_game(maps, masks, tolerance=0).tolist() == [True, False]


def test_energy_and_iou_with_a_control():
    masks = _masks()
    perfect = masks[:, None].float()
    uniform = torch.ones(2, 1, 40, 40)
    assert torch.allclose(energy_in_mask(perfect, masks), torch.ones(2))
    assert torch.allclose(energy_in_mask(uniform, masks), torch.full((2,), 25 / 1600))
    assert torch.allclose(topk_iou(perfect + 0.01, masks), torch.ones(2))
    random = torch.rand(2, 1, 40, 40, generator=torch.Generator().manual_seed(0))
    assert float(topk_iou(random, masks).max()) < 0.2
    half = topk_iou(perfect, masks, fraction=50 / 1600)
    assert torch.allclose(half, torch.full((2,), 0.5))
    assert energy_in_mask(np.zeros((2, 40, 40), np.float32), masks.numpy()).tolist() == [0.0, 0.0]
    assert all(HIGHER_IS_BETTER.values())


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: energy_in_mask(torch.rand(2, 1, 30, 30), m), "shape"),
        (lambda m: energy_in_mask(-torch.rand(2, 1, 40, 40), m), "negative"),
        (lambda m: pointing_game(torch.full((2, 40, 40), float("nan")), m), "NaN"),
        (lambda m: topk_iou(torch.rand(2, 40, 40), m, fraction=1.5), "fraction"),
        (lambda m: pointing_game(torch.rand(2, 40, 40), m, tolerance=-1), "tolerance"),
        (lambda m: energy_in_mask(torch.rand(2, 40, 40), m[0]), "masks"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(InvalidArgument, match=message):
        call(_masks())
