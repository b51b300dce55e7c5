"""iGOS++'s bilateral TV with edge weights computed once per image equals the per-mask definition (issue 17, item 6:
the line search used to recompute the weights of a full copy of the image for every trial mask)."""

import torch

from xwidgets.heatmaps.igospp import IGOSPP_PARAMS, _Context, bilateral_total_variation, edge_weights


class _Prepared:
    def __init__(self, inputs):
        self.inputs, self.scores, self.target = inputs, torch.ones(inputs.shape[0]), None


def _regulariser_both_ways(batch: int, masks_per_image: int):
    generator = torch.Generator().manual_seed(batch)
    images = torch.randn(batch, 3, 32, 24, generator=generator)
    masks = torch.rand(batch * masks_per_image, 1, 7, 7, generator=generator)
    owner = torch.arange(batch).repeat_interleave(masks_per_image)
    values = IGOSPP_PARAMS.resolve({})
    context = _Context(None, _Prepared(images), images * 0, values, generator)
    cached = context._regulariser(masks, owner)
    direct = values["lambda_l1"] * (1 - masks).flatten(1).mean(1) + values["lambda_tv"] * bilateral_total_variation(
        masks, images[owner], values["tv_beta"], values["btv_sigma"]
    )
    return cached, direct


def test_one_image_many_masks_matches_the_definition():
    cached, direct = _regulariser_both_ways(1, 12)
    torch.testing.assert_close(cached, direct, rtol=1e-6, atol=1e-7)


def test_several_images_match_the_definition():
    cached, direct = _regulariser_both_ways(3, 5)
    torch.testing.assert_close(cached, direct, rtol=1e-6, atol=1e-7)


def test_edge_weights_shapes_and_range():
    images = torch.randn(2, 3, 10, 8)
    across_columns, across_rows = edge_weights(images, 0.01)
    assert across_columns.shape == (2, 1, 10, 7) and across_rows.shape == (2, 1, 9, 8)
    assert float(across_columns.min()) >= 0 and float(across_rows.max()) <= 1


def test_igospp_computes_the_edge_weights_once_per_call(monkeypatch):
    import importlib

    import xwidgets as xw

    module = importlib.import_module("xwidgets.heatmaps.igospp")  # the package's `igospp` is the function

    calls = []

    def counting(images, sigma):
        calls.append(images.shape[0])
        return edge_weights(images, sigma)

    monkeypatch.setattr(module, "edge_weights", counting)
    torch.manual_seed(0)
    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)
    ).eval()
    images = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(3))
    xw.explain(xw.Classifier(network), images, method="igospp", iterations=3, ig_steps=2, resolution=6, progress=False)
    assert calls == [2]  # once, for both images, however many iterations and line-search trials
