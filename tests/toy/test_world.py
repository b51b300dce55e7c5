import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument, XWidgetsError
from xwidgets.toy import ATTRIBUTES, PART_IDS, SPECIES, Species, ToyWorld


@pytest.fixture(scope="module")
def samples():
    return ToyWorld().samples(66, seed=101)


def test_renders_deterministically_from_the_seed():
    world = ToyWorld()
    a, b, c = world.sample(3, 42), world.sample(3, 42), world.sample(3, 43)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels) and a.captions == b.captions
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (112, 112, 3) and a.image.dtype == np.uint8 and a.labels.shape == (112, 112)


def test_each_sample_matches_exactly_its_species(samples):
    world = ToyWorld()
    for s in samples:
        assert world.matching(s.attributes) == [s.species]
        assert s.species_name == SPECIES[s.species].name
        assert set(s.attributes) == set(ATTRIBUTES)


def test_part_maps_show_the_parts_and_evidence_lies_on_them(samples):
    for s in samples:
        visible = set(np.unique(s.labels)) - {0}
        expected = {PART_IDS[p] for p in ("head", "beak", "eye", "body", "wing", "tail", "legs")}
        if s.attributes["crest.shape"] == "present":
            expected.add(PART_IDS["crest"])
        assert expected <= visible
        assert PART_IDS["crest"] not in visible or s.attributes["crest.shape"] == "present"
        evidence_ids = [PART_IDS[p] for p in s.evidence_parts]
        assert s.evidence.any() and np.array_equal(s.evidence, np.isin(s.labels, evidence_ids))
        clause_parts = {p for i in SPECIES[s.species].matches(s.attributes) for p in SPECIES[s.species].clause_parts(i)}
        assert set(s.evidence_parts) == clause_parts


def test_colours_render_where_the_attributes_say(samples):
    from xwidgets.toy import COLORS

    for s in samples:
        head = s.image[s.part_mask("head")].astype(float)
        expected = np.array(COLORS[s.attributes["head.color"]], float)
        assert np.median(np.abs(head - expected).sum(1)) < 20  # the head's typical pixel is its colour


def test_backgrounds_carry_bird_colours(samples):
    """Colour alone never decides: bird colours appear as distractors in the background."""
    from xwidgets.toy import COLORS

    palette = np.array(list(COLORS.values()), float)
    hits = 0
    for s in samples[:20]:
        background = s.image[s.labels == 0].astype(float)
        distance = np.abs(background[:, None, :] - palette[None]).sum(2).min(1)
        hits += (distance < 10).mean() > 0.01
    assert hits >= 18


def test_disjunctive_species_show_either_clause():
    world = ToyWorld()
    twinmark = [s.name for s in SPECIES].index("twinmark")
    evidence = {world.sample(twinmark, seed).evidence_parts for seed in range(40)}
    assert ("beak",) in evidence and ("tail",) in evidence and ("beak", "tail") in evidence
    assert SPECIES[twinmark].disjunctive and " OR " in SPECIES[twinmark].rule


def test_captions_are_varied_and_name_attributes(samples):
    for s in samples:
        assert 3 <= len(s.captions) <= 5
        for caption in s.captions:
            assert caption.endswith(".") and ("bird" in caption)
        text = " ".join(s.captions)
        assert any(
            color in text for color in ("red", "orange", "yellow", "green", "blue", "purple", "black", "white", "brown")
        )
    templates = {c.split(" ")[0] for s in samples for c in s.captions}
    assert len(templates) >= 3
    hooked = next(s for s in samples if s.attributes["beak.shape"] == "hooked" and any("beak" in c for c in s.captions))
    assert any(f"hooked {hooked.attributes['beak.color']} beak" in c for c in hooked.captions)


def test_dataset_is_a_balanced_torch_dataset():
    data = xw.toy.dataset(22, seed=5)
    image, _ = data[3]
    assert isinstance(data, torch.utils.data.Dataset) and len(data) == 22
    assert image.shape == (3, 112, 112) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert data.targets().bincount().tolist() == [2] * 11
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    batch, labels = next(iter(loader))
    assert batch.shape == (8, 3, 112, 112) and labels.shape == (8,)


def test_pairs_list_what_they_share():
    for pair in xw.toy.pairs(10, seed=3):
        for key, value in pair.first.attributes.items():
            assert (key in pair.shared) == (pair.second.attributes[key] == value)


def test_other_sizes():
    sample = ToyWorld(size=64).sample(0, 1)
    assert sample.image.shape == (64, 64, 3) and sample.evidence.any()


@pytest.mark.parametrize("size", [32, 63, 100.0])
def test_too_small_sizes_are_refused(size):
    with pytest.raises(InvalidArgument, match="at least 64"):
        ToyWorld(size=size)


@pytest.mark.parametrize(
    "species, message",
    [
        ((Species("a", ({"crest.shape": "absent", "crest.color": "red"},)), SPECIES[1]), "absent crest"),
        ((Species("a", ({"beak.shape": "square"},)), SPECIES[1]), "cannot be 'square'"),
        ((Species("a", ({"tail.length": "long"},)), SPECIES[1]), "unknown attribute"),
        ((Species("a", ()), SPECIES[1]), "no clause"),
    ],
)
def test_impossible_species_are_refused(species, message):
    with pytest.raises(XWidgetsError, match=message):
        ToyWorld(species)


def test_a_shadowed_species_has_no_possible_sample():
    """Every sample of 'b' also satisfies 'a', so 'b' can never be the only match."""
    a = Species("a", ({"beak.color": "red"},))
    b = Species("b", ({"beak.color": "red", "beak.shape": "long"},))
    world = ToyWorld((a, b))
    assert world.sample(0, 1).species == 0
    with pytest.raises(XWidgetsError, match="'b' has no possible sample"):
        world.sample(1, 1)


def test_bad_indices_and_counts():
    world = ToyWorld()
    with pytest.raises(InvalidArgument, match="species"):
        world.sample(11, 0)
    with pytest.raises(InvalidArgument, match="positive"):
        world.samples(0)
    with pytest.raises(InvalidArgument, match="positive"):
        xw.toy.pairs(-1)
    with pytest.raises(InvalidArgument, match="part"):
        world.sample(0, 0).part_mask("nose")
