"""The ranking rule of a match explanation, on hand-made inputs."""

import torch

from xwidgets.similarity.match import rank_attributes


def one_hot_map(cell, side=4):
    grid = torch.zeros(side * side)
    grid[cell] = 1.0
    return grid.view(side, side)


def test_sane_rule_agreement_prefers_the_attribute_whose_map_sits_where_the_saliency_is():
    maps = torch.stack([one_hot_map(0), one_hot_map(15), torch.full((4, 4), 1 / 16)])[None]  # [1, 3, 4, 4]
    saliency = torch.zeros(1, 1, 16, 16)
    saliency[..., 12:, 12:] = 1.0  # bottom-right cell
    scores = torch.tensor([[0.2, 0.2, 0.2]])
    terms = rank_attributes(scores, scores, maps, saliency, rule="sane", attribute_weight=1.0)
    assert terms["agreement"][0].argmax() == 1 and float(terms["agreement"][0].max()) == 1.0
    assert float(terms["agreement"][0].min()) == 0.0  # min-max scaled
    assert terms["scores"][0].argmax() == 1
    # with no weight on the agreement, equal confidences tie
    flat = rank_attributes(scores, scores, maps, saliency, rule="sane", attribute_weight=0.0)["scores"][0]
    assert torch.allclose(flat, torch.ones(3))


def test_sane_rule_pair_confidence_needs_the_attribute_on_both_images():
    maps = torch.full((1, 3, 4, 4), 1 / 16)
    saliency = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(9791))
    query = torch.tensor([[0.5, 0.4, 0.1]])
    reference = torch.tensor([[0.01, 0.4, 0.1]])
    pair = rank_attributes(query, reference, maps, saliency, rule="sane", confidence="pair")
    assert pair["confidence"][0].argmax() == 1  # attribute 0 is confident on the query only
    assert torch.allclose(pair["confidence"], (pair["query_confidence"] * pair["reference_confidence"]).sqrt())
    alone = rank_attributes(query, reference, maps, saliency, rule="sane", confidence="query")
    assert alone["confidence"][0].argmax() == 0 and float(alone["confidence"][0, 0]) == 1.0


def test_pair_rule_is_what_both_images_show_times_where_both_saliencies_are():
    # attribute 0 sits on the top-left cell of both images, 1 on the bottom-right, 2 is flat
    maps = torch.stack([one_hot_map(0), one_hot_map(15), torch.full((4, 4), 1 / 16)])[None]  # [1, 3, 4, 4]
    saliency = torch.zeros(1, 1, 16, 16)
    saliency[..., :4, :4] = 1.0  # top-left cell
    query = torch.tensor([[0.9, 0.9, 0.9]])
    reference = torch.tensor([[0.2, 0.8, 0.6]])
    terms = rank_attributes(
        query, reference, maps, saliency, reference_maps=maps, reference_saliency=saliency, saliency_weight=0.0
    )
    assert torch.allclose(terms["confidence"], torch.tensor([[0.2, 0.8, 0.6]]))  # the smaller of the two
    assert torch.allclose(terms["scores"], terms["confidence"]) and terms["scores"][0].argmax() == 1
    # the saliency is standardised over the 16 cells: the top-left cell is √15 ≈ 3.87 deviations above the mean
    weighted = rank_attributes(
        query, reference, maps, saliency, reference_maps=maps, reference_saliency=saliency, saliency_weight=1.0
    )
    assert torch.allclose(weighted["agreement"][0], torch.tensor([15**0.5, -(15**-0.5), 0.0]), atol=1e-5)
    assert weighted["scores"][0].argmax() == 0
    assert torch.allclose(weighted["scores"], weighted["confidence"] * weighted["agreement"].exp())
    # the agreement averages both sides: a reference saliency elsewhere halves it; a flat saliency adds nothing
    elsewhere = saliency.flip(-1, -2)
    half = rank_attributes(query, reference, maps, saliency, reference_maps=maps, reference_saliency=elsewhere)
    assert torch.allclose(half["agreement"][0, 2], torch.tensor(0.0), atol=1e-6)
    assert torch.allclose(half["agreement"][0, 0], half["agreement"][0, 1], atol=1e-5)
    flat = rank_attributes(query, reference, maps, torch.ones(1, 1, 16, 16), saliency_weight=1.0)
    assert torch.equal(flat["agreement"], torch.zeros(1, 3)) and torch.equal(flat["scores"], flat["confidence"])


def test_pair_rule_with_groups_counts_a_value_only_as_its_groups_best():
    # a tail has one shape: both images show a fan tail, the model also gives "fork" half a chance on both
    groups = ["tail.shape", "tail.shape", "wing.pattern", ""]
    maps = torch.full((1, 4, 4, 4), 1 / 16)
    saliency = torch.ones(1, 1, 8, 8)
    query = torch.tensor([[0.9, 0.5, 0.45, 0.3]])
    reference = torch.tensor([[0.8, 0.45, 0.7, 0.2]])
    plain = rank_attributes(query, reference, maps, saliency)
    assert torch.allclose(plain["confidence"], torch.tensor([[0.8, 0.45, 0.45, 0.2]]))
    grouped = rank_attributes(query, reference, maps, saliency, groups=groups, open_groups=["wing.pattern"])
    # fork is not the best tail shape on either image; a pattern under 0.5 is not shown (the group may be "plain")
    assert torch.allclose(grouped["confidence"], torch.tensor([[0.8, 0.0, 0.0, 0.2]]))
    assert torch.equal(grouped["query_confidence"], torch.tensor([[0.9, 0.0, 0.0, 0.3]]))
    assert torch.equal(rank_attributes(query, reference, maps, saliency, groups=[""] * 4)["scores"], plain["scores"])
