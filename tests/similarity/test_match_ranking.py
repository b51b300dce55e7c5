"""The ranking rule of a match explanation, on hand-made inputs."""

import torch

from xwidgets.similarity.match import rank_attributes


def one_hot_map(cell, side=4):
    grid = torch.zeros(side * side)
    grid[cell] = 1.0
    return grid.view(side, side)


def test_agreement_prefers_the_attribute_whose_map_sits_where_the_saliency_is():
    maps = torch.stack([one_hot_map(0), one_hot_map(15), torch.full((4, 4), 1 / 16)])[None]     # [1, 3, 4, 4]
    saliency = torch.zeros(1, 1, 16, 16)
    saliency[..., 12:, 12:] = 1.0                                                                # bottom-right cell
    scores = torch.tensor([[0.2, 0.2, 0.2]])
    terms = rank_attributes(scores, scores, maps, saliency, attribute_weight=1.0)
    assert terms["agreement"][0].argmax() == 1 and float(terms["agreement"][0].max()) == 1.0
    assert float(terms["agreement"][0].min()) == 0.0                                            # min-max scaled
    assert terms["scores"][0].argmax() == 1
    # with no weight on the agreement, equal confidences tie
    flat = rank_attributes(scores, scores, maps, saliency, attribute_weight=0.0)["scores"][0]
    assert torch.allclose(flat, torch.ones(3))


def test_pair_confidence_needs_the_attribute_on_both_images():
    maps = torch.full((1, 3, 4, 4), 1 / 16)
    saliency = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(9791))
    query = torch.tensor([[0.5, 0.4, 0.1]])
    reference = torch.tensor([[0.01, 0.4, 0.1]])
    pair = rank_attributes(query, reference, maps, saliency, confidence="pair")
    assert pair["confidence"][0].argmax() == 1                       # attribute 0 is confident on the query only
    assert torch.allclose(pair["confidence"], (pair["query_confidence"] * pair["reference_confidence"]).sqrt())
    alone = rank_attributes(query, reference, maps, saliency, confidence="query")
    assert alone["confidence"][0].argmax() == 0 and float(alone["confidence"][0, 0]) == 1.0
