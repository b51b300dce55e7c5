"""The second stage of visual summaries on hand-made inputs: proposals, matching, clustering and acceptance."""

import numpy as np
import torch

import xwidgets as xw
from xwidgets.summaries import CrispMasks, Regions
from xwidgets.summaries.clusters import accept_clusters, cluster_proposals
from xwidgets.summaries.proposals import Proposals, match_scores, proposals


def _masks(saliency: torch.Tensor, images: torch.Tensor) -> CrispMasks:
    count = images.shape[0]
    return CrispMasks(
        method="crisp_masks",
        params={},
        saliency=saliency,
        smooth=saliency[:, :, ::4, ::4],
        images=images,
        indices=torch.arange(count),
        scores=torch.ones(count),
        masked_scores=torch.zeros(count),
        target=0,
    )


def test_a_salient_square_yields_its_own_box_and_nothing_outside_the_mask():
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(9640))
    saliency = torch.zeros(2, 1, 64, 64)
    saliency[:, :, 10:30, 20:44] = 1.0
    boxes = torch.tensor([[20.0, 10.0, 44.0, 30.0], [20.0, 10.0, 44.0, 30.0]])
    regions = Regions(
        masks=saliency[:, 0] > 0.5,
        image=torch.arange(2),
        boxes=boxes,
        areas=torch.full((2,), 0.12),
        drops=torch.ones(2),
        params={},
    )
    found = proposals(_masks(saliency, images), regions)
    assert len(found) >= 2 and set(found.image.tolist()) == {0, 1}
    assert bool((found.coverage > 0.75).all())
    for box in found.boxes.tolist():
        x0, y0, x1, y1 = box
        inside = max(0, min(x1, 44) - max(x0, 20)) * max(0, min(y1, 30) - max(y0, 10))
        assert inside > 0.75 * (x1 - x0) * (y1 - y0)  # every box sits mostly on the square
    assert [20.0, 10.0, 44.0, 30.0] in found.boxes.tolist()


def test_matching_prefers_the_same_part_at_a_consistent_offset_and_never_pairs_an_image_with_itself():
    # two images, each with a "head" box and a "tail" box; descriptors: heads alike, tails alike
    boxes = torch.tensor([[10, 10, 20, 20], [60, 60, 80, 80], [14, 12, 24, 22], [64, 62, 84, 82]], dtype=torch.float32)
    head, tail = torch.tensor([1.0, 0.0, 0.2]), torch.tensor([0.0, 1.0, 0.2])
    found = Proposals(
        boxes=boxes,
        image=torch.tensor([0, 0, 1, 1]),
        coverage=torch.ones(4),
        descriptors=torch.nn.functional.normalize(torch.stack([head, tail, head, tail]), dim=1),
    )
    scores = match_scores(found)
    assert scores[0, 2] > scores[0, 3] and scores[1, 3] > scores[1, 2]
    assert float(scores[0, 1]) == float(scores.min()) == float(scores[2, 3])
    # the same appearance at an inconsistent offset scores lower: move image 1's head far from where the tail says
    moved = Proposals(boxes=boxes.clone(), image=found.image, coverage=found.coverage, descriptors=found.descriptors)
    moved.boxes[2] = torch.tensor([90.0, 5.0, 100.0, 15.0])
    assert match_scores(moved)[0, 2] < scores[0, 2]


def test_affinity_propagation_finds_the_two_parts_with_one_member_per_image():
    image = torch.tensor([0, 0, 1, 1, 2, 2])
    part = torch.tensor([0, 1, 0, 1, 0, 1])
    scores = torch.where(part.unsqueeze(0) == part.unsqueeze(1), 0.9, 0.1)
    scores = torch.where(image.unsqueeze(0) == image.unsqueeze(1), 0.0, scores)
    clusters = cluster_proposals(scores, image)
    assert len(clusters) == 2
    for cluster in clusters:
        members = cluster["members"]
        assert members[0] == cluster["exemplar"]
        assert len({int(part[m]) for m in members}) == 1  # pure
        assert sorted(int(image[m]) for m in members) == [0, 1, 2]  # one per image
    assert cluster_proposals(torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)) == []


def test_a_lower_preference_gives_fewer_clusters():
    generator = torch.Generator().manual_seed(9641)
    points = torch.randn(30, 2, generator=generator)
    scores = -torch.cdist(points, points)
    image = torch.arange(30)
    many = cluster_proposals(scores, image, preference_factor=0.5)
    few = cluster_proposals(scores, image, preference_factor=3.0)
    assert len(few) < len(many)


def test_clusters_of_alike_crops_are_accepted_and_noise_is_not():
    generator = torch.Generator().manual_seed(9642)
    pattern = torch.rand(1, 3, 40, 40, generator=generator)
    images = torch.cat([pattern.repeat(3, 1, 1, 1), torch.rand(3, 3, 40, 40, generator=generator)])
    boxes = torch.tensor([[0.0, 0.0, 40.0, 40.0]]).repeat(6, 1)
    image = torch.arange(6)
    clusters = [
        {"exemplar": 0, "members": [0, 1, 2]},
        {"exemplar": 3, "members": [3, 4, 5]},
        {"exemplar": 5, "members": [5]},
    ]
    judged = accept_clusters(clusters, images, boxes, image)
    assert judged[0]["accepted"] and judged[0]["ssim"] > 0.99 and judged[0]["samples"] == [0, 1, 2]
    assert not judged[1]["accepted"] and judged[1]["ssim"] < 0.2
    assert not judged[2]["accepted"] and np.isnan(judged[2]["ssim"])


def test_the_toy_pipeline_runs_from_masks_to_an_accepted_head_summary():
    from xwidgets.summaries import crisp_masks, salient_regions
    from xwidgets.summaries.proposals import describe_proposals

    world = xw.toy.ToyWorld()
    goldcap = [s.name for s in world.species].index("goldcap")
    samples = [world.sample(goldcap, seed=9630 + i) for i in range(8)]
    model = xw.toy.classifier()
    masks = crisp_masks(
        model, np.stack([s.image for s in samples]), target=goldcap, smooth_iterations=100, sharp_iterations=60
    )
    found = describe_proposals(model, masks, proposals(masks, salient_regions(model, masks)), "features")
    assert found.descriptors.shape[0] == len(found) > 0
    assert torch.allclose(found.descriptors.norm(dim=1), torch.ones(len(found)), atol=1e-5)
    judged = accept_clusters(
        cluster_proposals(match_scores(found), found.image), masks.images, found.boxes, found.image
    )
    accepted = [c for c in judged if c["accepted"]]
    assert accepted
    labels = torch.from_numpy(np.stack([s.labels for s in samples]))[masks.indices]
    head = xw.toy.PART_IDS["head"]
    for cluster in accepted:
        on_head = 0
        for member in cluster["samples"]:
            x0, y0, x1, y1 = (int(v) for v in found.boxes[member].tolist())
            box = labels[int(found.image[member]), y0:y1, x0:x1]
            on_head += float((box == head).float().mean()) > 0.3
        assert on_head >= len(cluster["samples"]) - 1
