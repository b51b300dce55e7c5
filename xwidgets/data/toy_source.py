"""The toy world as an image source: labelled birds with their ground-truth evidence masks, rendered one at a time
when they are loaded (rendering a bird takes ~20 ms, so 1,000 birds are never drawn up front).

A bird is reproduced by ``ToyWorld.sample(species, seed)``; the source holds only the ``(species, seed)`` plan
and renders on demand, keeping the last few birds so :meth:`~ToySource.load` and
:meth:`~ToySource.ground_truth` of one image render it once.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..core.errors import invalid
from .base import ImageSource, SourceItem, check_index

if TYPE_CHECKING:
    from ..toy.world import ToyDataset, ToySample, ToyWorld

__all__ = ["ToySource", "toy", "toy_from_dataset", "toy_from_description"]

#: Rendered birds a source keeps (load and ground_truth of one image, and a shard's worth of neighbours).
_KEPT = 32


class ToySource(ImageSource):
    """Toy birds: labels are species indices, ``classes`` the species names, :meth:`ground_truth` the evidence.

    Args:
        world: the world that renders them (species, size, near-miss rate).
        plan: ``[N, 2]`` int64 rows ``(species, seed)``; row ``i`` is ``world.sample(species, seed)``.
        ids: one stable id per image.
        recipe: the part of :meth:`describe` that rebuilds ``plan``: ``{"n", "seed"}`` for :func:`toy`,
            ``{"samples": plan}`` for a ToyDataset.
    """

    kind = "toy"

    def __init__(self, world: ToyWorld, plan: np.ndarray, ids: list[str], recipe: dict):
        self.world = world
        self.plan = plan
        self.ids = ids
        self.recipe = recipe
        self.classes = [s.name for s in world.species]
        self.rendered: OrderedDict[int, ToySample] = OrderedDict()

    def __len__(self) -> int:
        return len(self.plan)

    def item(self, index: int) -> SourceItem:
        index = check_index(index, len(self))
        return SourceItem(index, self.ids[index], None, int(self.plan[index, 0]))

    def sample(self, index: int) -> ToySample:
        """The rendered bird ``index`` (a :class:`~xwidgets.toy.ToySample`), from the cache or drawn now."""
        index = check_index(index, len(self))
        if index in self.rendered:
            self.rendered.move_to_end(index)
            return self.rendered[index]
        species, seed = (int(v) for v in self.plan[index])
        self.rendered[index] = self.world.sample(species, seed)
        while len(self.rendered) > _KEPT:
            self.rendered.popitem(last=False)
        return self.rendered[index]

    def load(self, index: int) -> torch.Tensor:
        return self.sample(index).tensor

    def ground_truth(self, index: int) -> np.ndarray:
        """``[H, W]`` bool: the pixels of the parts the bird's species rule depends on (``ToySample.evidence``)."""
        return self.sample(index).evidence

    def image_size(self) -> tuple[int, int]:
        return (self.world.size, self.world.size)

    def describe(self) -> dict:
        world = self.world
        names = [s.name for s in world.species]
        return {"kind": self.kind, "size": world.size, "near_miss": world.near_miss, "species": names, **self.recipe}

    def __getstate__(self) -> dict:
        """Pickle without the rendered birds (a worker process renders its own)."""
        return {**self.__dict__, "rendered": OrderedDict()}


def toy(n: int, seed: int = 0, *, size: int = 112) -> ToySource:
    """``n`` toy birds, the same as ``xw.toy.dataset(n, seed, size=size)`` gives, rendered lazily.

    Ids are ``"toy-<seed>-<i>"``; labels the species indices (balanced, cycling through the species).
    """
    from ..toy.world import ToyWorld

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise invalid("n", n, "a positive number of images")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise invalid("seed", seed, "an int")
    return _seeded(ToyWorld(size=size), n, seed)


def _seeded(world: ToyWorld, n: int, seed: int) -> ToySource:
    """Birds ``0..n-1`` of ``world.samples(n, seed)``, planned without rendering them."""
    seeds = np.random.default_rng(seed).integers(0, 2**31, size=n)  # as ToyWorld.samples draws them
    plan = np.stack([np.arange(n) % len(world.species), seeds], axis=1).astype(np.int64)
    return ToySource(world, plan, [f"toy-{seed}-{i}" for i in range(n)], {"n": n, "seed": seed})


def toy_from_dataset(dataset: ToyDataset) -> ToySource:
    """A :class:`~xwidgets.toy.ToyDataset` as a toy source with ground truth; its already rendered samples are
    kept in this process. Ids are ``"toy-sample-<species>-<seed>"`` (a sample's own reproducible identity)."""
    samples = dataset.samples
    source = _planned(dataset.world, np.array([[s.species, s.seed] for s in samples], dtype=np.int64))
    source.rendered = OrderedDict(enumerate(samples))
    return source


def _planned(world: ToyWorld, plan: np.ndarray) -> ToySource:
    """The birds of an explicit ``(species, seed)`` plan, ``[N, 2]``."""
    plan = plan.reshape(-1, 2)
    ids = [f"toy-sample-{species}-{seed}" for species, seed in plan.tolist()]
    return ToySource(world, plan, ids, {"samples": plan.tolist()})


def toy_from_description(description: dict) -> ToySource | None:
    """Reopen a toy source from :meth:`ToySource.describe`; None where its species are not the default ones (a
    custom species list is not stored, only its names)."""
    from ..toy.species import SPECIES
    from ..toy.world import ToyWorld

    if description.get("species") != [s.name for s in SPECIES]:
        return None
    world = ToyWorld(size=description["size"], near_miss=description["near_miss"])
    if "samples" not in description:
        return _seeded(world, description["n"], description["seed"])
    return _planned(world, np.array(description["samples"], dtype=np.int64))
