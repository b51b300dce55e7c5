"""The toy world as a source: the same birds as xw.toy.dataset, rendered only when loaded, with ground truth."""

import pickle

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.toy.world import ToyWorld


@pytest.fixture
def renders(monkeypatch):
    """Counts the birds ToyWorld renders."""
    calls = []
    sample = ToyWorld.sample

    def counted(self, species, seed):
        calls.append((species, seed))
        return sample(self, species, seed)

    monkeypatch.setattr(ToyWorld, "sample", counted)
    return calls


def test_the_toy_source_gives_the_birds_of_xw_toy_dataset():
    n, seed = 13, 4  # more than the 11 species: the species cycle
    dataset = xw.toy.dataset(n, seed=seed)
    source = xw.data.toy(n, seed=seed)
    assert (source.kind, len(source)) == ("toy", n)
    assert source.classes == [s.name for s in xw.toy.SPECIES]
    for i, sample in enumerate(dataset.samples):
        assert source.item(i) == xw.data.SourceItem(i, f"toy-{seed}-{i}", None, sample.species)
        assert torch.equal(source.load(i), dataset[i][0])
        truth = source.ground_truth(i)
        assert truth.dtype == bool and truth.shape == (112, 112)
        assert np.array_equal(truth, sample.evidence) and truth.any()


def test_a_thousand_toy_birds_render_only_when_loaded(renders):
    source = xw.data.toy(1000, seed=1)
    assert len(source) == 1000 and source.item(999).label == 999 % len(xw.toy.SPECIES)
    assert renders == []
    source.load(500)
    source.ground_truth(500)
    assert len(renders) == 1, "load and ground_truth of one image render it once"


def test_the_size_argument_renders_smaller_birds():
    source = xw.data.toy(2, seed=0, size=64)
    assert source.load(1).shape == (3, 64, 64) and source.ground_truth(1).shape == (64, 64)
    assert source.image_size() == (64, 64)


def test_a_toy_dataset_becomes_a_toy_source_with_ground_truth_without_rendering_again(renders):
    dataset = xw.toy.dataset(5, seed=2)
    renders.clear()
    source = xw.data.as_source(dataset)
    assert source.kind == "toy" and len(source) == 5
    for i, sample in enumerate(dataset.samples):
        assert source.item(i).label == sample.species
        assert source.item(i).id == f"toy-sample-{sample.species}-{sample.seed}"
        assert torch.equal(source.load(i), dataset[i][0])
        assert np.array_equal(source.ground_truth(i), sample.evidence)
    assert renders == []


def test_toy_sources_reopen_from_their_description_and_pickle_without_their_renders():
    for source in (xw.data.toy(6, seed=9), xw.data.as_source(xw.toy.dataset(3, seed=1))):
        source.load(1)
        description = source.describe()
        reopened = xw.data.from_description(description)
        assert reopened.describe() == description and reopened.fingerprint() == source.fingerprint()
        assert [reopened.item(i) for i in range(len(source))] == [source.item(i) for i in range(len(source))]
        assert torch.equal(reopened.load(1), source.load(1))
        copy = pickle.loads(pickle.dumps(source))
        assert len(copy.rendered) == 0 and torch.equal(copy.load(1), source.load(1))


def test_a_toy_world_of_other_species_is_not_reopened():
    from xwidgets.toy.species import SPECIES

    world = ToyWorld(SPECIES[:4])
    dataset = xw.toy.ToyDataset(world.samples(4, seed=0), world)
    source = xw.data.as_source(dataset)
    assert source.classes == [s.name for s in SPECIES[:4]]
    assert xw.data.from_description(source.describe()) is None


@pytest.mark.parametrize(("args", "argument"), [((0,), "n"), ((2.5,), "n"), ((3, "1"), "seed"), ((3, 0, 8), "size")])
def test_bad_toy_arguments_are_errors_naming_them(args, argument):
    kwargs = {"size": args[2]} if len(args) == 3 else {}
    with pytest.raises(xw.XWidgetsError, match=rf"^{argument}"):
        xw.data.toy(*args[:2], **kwargs)
