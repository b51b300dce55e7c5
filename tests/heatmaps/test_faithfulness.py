"""Faithfulness of every heatmap method on the toy world, against its ground truth (issue 4).

Over 100 unseen toy images (``ToyWorld().samples(100, seed=9400)``: the shipped classifier was trained on seeds 1
and 2, other tests and the benchmarks use 9001 to 9300 and small seeds), explaining each image's true species
with ``xw.toy.classifier()`` (98 of the 100 are classified correctly):

1. every heatmap method (``xw.methods("heatmap")``) puts more of its saliency on the ground-truth evidence than a
   random map and than its own maps shuffled across images;
2. I-GOS and iGOS++ beat Grad-CAM and integrated gradients on insertion AUC − deletion AUC (``preset="igos"``),
   on the mean and on most images, and all four beat a random map by far;
3. for the 4 disjunctive species, the I-GOS maximum lands on an evidence part. A sample's evidence parts are the
   parts of every clause its attributes satisfy, so when both alternatives are present (18 of the 36 samples
   here) a hit on either counts; on the 18 samples that satisfy one clause only, the maximum must land on that
   clause's part and not on the other alternative's part, which is drawn in the image but is not evidence.

Each method's maps are computed once per module (all 100 images in one batched call) and reused.

## Measurements (seed 9400, 100 images; the thresholds below keep a margin under these)

| method (settings here)            | energy in evidence | × random map | × shuffled maps | ins − del |
|-----------------------------------|--------------------|--------------|-----------------|-----------|
| igos (defaults)                   | 0.310              | 12.4         | 5.2             | 0.839     |
| igospp (iterations=5, ig_steps=5) | 0.089              | 3.6          | 1.9             | 0.828     |
| gradcam (defaults)                | 0.181              | 7.2          | 3.9             | 0.805     |
| integrated_gradients (defaults)   | 0.125              | 5.0          | 3.0             | 0.759     |
| rise (masks=200)                  | 0.075              | 3.0          | 2.4             | –         |
| occlusion (stride=16)             | 0.308              | 12.3         | 6.4             | –         |
| random map (control)              | 0.025              | 1            | –               | 0.014     |

ins − del: insertion AUC − deletion AUC with ``preset="igos"``, mean over the 100 images.
The evidence covers 2.5 % of the pixels on average, so a random map's energy is about 0.025.
Paired wins on ins − del: I-GOS beats Grad-CAM on 84 % of the images and integrated gradients on 100 %;
iGOS++ on 68 % and 95 % (Grad-CAM's wins were measured at its old default layer ``features.conv4``; at today's
default ``features`` its evidence energy rose from 0.168 to 0.181 and its mean ins − del stayed 0.805).
Disjunctive species, I-GOS maximum inside the evidence: 31/36 (0.86; shuffled maps 0.08, random map 0.06); on
single-clause samples 0.89 on the satisfied clause's part and 0.00 on the other alternative's part.

iGOS++'s maximum lands on the evidence of a disjunctive species far less often (0.28 at these settings, 0.14 at
defaults; its product mask spreads over the bird: energy 0.09), so test 3 checks I-GOS only.

Reduced settings, and why: iGOS++ at defaults (15 iterations, 4 IG paths of 20 points) costs 3.3 s per image on
these 2 cores when the machine is quiet (about 330 s for 100 images; I-GOS at defaults 0.8 s per image). With
``iterations=5, ig_steps=5`` it takes 47 s for the 100 images and scores the same: ins − del 0.828 (defaults
0.826, 3 iterations 0.832, 5 iterations of 10 points 0.828), paired wins 0.68 / 0.95 (defaults 0.71 / 0.92),
energy 0.089 (defaults 0.091). RISE at its default 2000 masks and occlusion at stride 8 would cost 10× and 3.5×
the settings used, and these already clear the asserted margins. I-GOS, Grad-CAM and integrated gradients run
at their defaults.

Run time of this file: 186 s wall (3:06; 356 s CPU over the 2 cores, peak RSS 1.5 GB) on a quiet machine, of
which I-GOS 78 s, iGOS++ 47 s, RISE 14 s, the five deletion/insertion runs about 7 s each. On a loaded shared
machine every number here grew 3 to 10 times.
"""

import functools
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.metrics import deletion_insertion, energy_in_mask, pointing_game
from xwidgets.toy import PART_IDS, ToySample, ToyWorld

pytestmark = pytest.mark.slow  # every method on 100 images, with deletion and insertion curves

SEED = 9400
COUNT = 100
#: Per-method settings; see the module docstring for the reduced ones and their measured quality.
SETTINGS = {
    "igos": {},
    "igospp": {"iterations": 5, "ig_steps": 5},
    "gradcam": {},
    "integrated_gradients": {},
    "rise": {"masks": 200},
    "occlusion": {"stride": 16},
}


@dataclass
class Toy:
    world: ToyWorld
    samples: list[ToySample]
    model: xw.Classifier
    images: np.ndarray  # [N, H, W, 3] uint8
    species: list[int]  # the explained target: each image's true species
    evidence: torch.Tensor  # [N, H, W] bool, the evidence parts' pixels

    def random_maps(self) -> torch.Tensor:
        """The random-saliency control: i.i.d. uniform ``[N, 1, H, W]`` from a fixed local generator."""
        height, width = self.evidence.shape[-2:]
        return torch.rand(len(self.samples), 1, height, width, generator=torch.Generator().manual_seed(0))


def shuffled(maps: torch.Tensor) -> torch.Tensor:
    """The shuffled control: image i gets image i−1's map (a different species, since species cycle)."""
    return maps[torch.roll(torch.arange(maps.shape[0]), 1)]


@pytest.fixture(scope="module")
def toy() -> Toy:
    world = ToyWorld()
    samples = world.samples(COUNT, seed=SEED)
    return Toy(
        world,
        samples,
        xw.toy.classifier(),
        np.stack([s.image for s in samples]),
        [s.species for s in samples],
        torch.from_numpy(np.stack([s.evidence for s in samples])),
    )


@pytest.fixture(scope="module")
def saliency(toy):
    """``saliency(method)``: the method's ``[N, 1, H, W]`` maps of all images, computed once per module."""

    @functools.cache
    def of(method: str) -> torch.Tensor:
        return xw.explain(toy.model, toy.images, toy.species, method=method, **SETTINGS.get(method, {})).saliency

    return of


@pytest.fixture(scope="module")
def ins_minus_del(toy, saliency):
    """``ins_minus_del(method)``: insertion AUC − deletion AUC ``[N]`` (``preset="igos"``); ``"random"`` scores the
    random-map control. Computed once per module."""

    @functools.cache
    def of(method: str) -> torch.Tensor:
        maps = toy.random_maps() if method == "random" else saliency(method)
        return deletion_insertion(toy.model, toy.images, maps, toy.species, preset="igos").difference

    return of


@pytest.mark.parametrize("method", xw.methods("heatmap"))
def test_every_method_puts_its_saliency_on_the_evidence(toy, saliency, method):
    maps = saliency(method)
    assert maps.shape == (COUNT, 1, *toy.evidence.shape[-2:])
    assert float(maps.min()) >= 0 and float(maps.max()) <= 1
    energy = energy_in_mask(maps, toy.evidence)
    random = energy_in_mask(toy.random_maps(), toy.evidence)
    swapped = energy_in_mask(shuffled(maps), toy.evidence)
    # measured mean energy / random map: igos 12.4, igospp 3.6, gradcam 7.2, integrated_gradients 5.0, rise 3.0,
    # occlusion 12.3 (random map 0.025)
    assert float(energy.mean()) > 2.0 * float(random.mean())
    # measured mean energy / the method's own maps shuffled across images: igos 5.2, igospp 1.9, gradcam 3.9,
    # integrated_gradients 3.0, rise 2.4, occlusion 6.4 (shuffled maps keep each method's smoothness and its
    # bias towards the bird; only the pairing with the image is wrong)
    assert float(energy.mean()) > 1.4 * float(swapped.mean())
    # measured share of images where the map beats the random map: 0.99 to 1.00 for every method
    assert float((energy > random).float().mean()) >= 0.9


@pytest.mark.parametrize("ours", ["igos", "igospp"])
@pytest.mark.parametrize("theirs", ["gradcam", "integrated_gradients"])
def test_igos_and_igospp_beat_gradcam_and_ig_on_insertion_minus_deletion(ins_minus_del, ours, theirs):
    mine, other = ins_minus_del(ours), ins_minus_del(theirs)
    # measured mean ins − del: igos 0.839, igospp 0.828, gradcam 0.805, integrated_gradients 0.759; the closest
    # pair (igospp vs gradcam) is +0.023
    assert float(mine.mean()) > float(other.mean()) + 0.01
    # measured paired wins: igos 0.84 vs gradcam, 1.00 vs IG; igospp 0.68 vs gradcam, 0.95 vs IG
    assert float((mine > other).float().mean()) >= 0.6


def test_insertion_minus_deletion_separates_the_methods_from_a_random_map(ins_minus_del):
    control = float(ins_minus_del("random").mean())
    # measured: random map 0.014 (insertion 0.387, deletion 0.373); every method 0.759 or more
    for method in ("igos", "igospp", "gradcam", "integrated_gradients"):
        assert float(ins_minus_del(method).mean()) > control + 0.5


def _other_alternatives(toy: Toy, index: int) -> np.ndarray:
    """``[H, W]`` bool: the pixels of the parts of the clauses that sample ``index`` does not satisfy."""
    sample = toy.samples[index]
    rule = toy.world.species[sample.species]
    satisfied = rule.matches(sample.attributes)
    parts = {p for c in range(len(rule.clauses)) if c not in satisfied for p in rule.clause_parts(c)}
    return np.isin(sample.labels, [PART_IDS[p] for p in parts])


def test_igos_lands_on_an_evidence_part_of_a_disjunctive_species(toy, saliency):
    species = toy.world.species
    disjunctive = [i for i, s in enumerate(toy.samples) if species[s.species].disjunctive]
    assert {toy.samples[i].species_name for i in disjunctive} == {s.name for s in species if s.disjunctive}
    maps = saliency("igos")[disjunctive]
    evidence = toy.evidence[disjunctive]
    hits = pointing_game(maps, evidence, tolerance=0)  # the maximum pixel lies inside the evidence
    shuffled_hits = pointing_game(shuffled(maps), evidence, tolerance=0)
    random_hits = pointing_game(toy.random_maps()[disjunctive], evidence, tolerance=0)
    # measured on the 36 disjunctive samples: I-GOS 0.86 (31/36), shuffled I-GOS maps 0.08, random map 0.06
    assert float(hits.float().mean()) >= 0.65
    assert (
        float(hits.float().mean()) > max(float(shuffled_hits.float().mean()), float(random_hits.float().mean())) + 0.45
    )

    # Samples that satisfy one clause only: their evidence is that clause's part, and the map must pick it rather
    # than the other alternative's part, which the image usually shows too but which is not evidence here.
    single = [
        k
        for k, i in enumerate(disjunctive)
        if len(species[toy.samples[i].species].matches(toy.samples[i].attributes)) == 1
    ]
    assert len(single) >= 10
    other = torch.from_numpy(np.stack([_other_alternatives(toy, disjunctive[k]) for k in single]))
    on_evidence = float(hits[single].float().mean())
    on_other = float(pointing_game(maps[single], other, tolerance=0).float().mean())
    # measured on the 18 single-clause samples: 0.89 on the satisfied clause's part, 0.00 on the other's
    assert on_evidence >= 0.65
    assert on_evidence > on_other + 0.5
