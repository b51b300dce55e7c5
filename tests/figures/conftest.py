"""Every paper figure type, drawn from real toy-world results at small settings (computed once per session)."""

import numpy as np
import pytest
import torch

import xwidgets as xw


@pytest.fixture(scope="session")
def toy_results():
    """Results of every method on the toy world, small settings (about 20 s on 2 cores)."""
    toy, world = xw.toy.classifier(), xw.toy.ToyWorld()
    bird = world.sample(9, seed=42)
    maps = {m: xw.explain(toy, bird.image, method=m) for m in ("igos", "gradcam", "occlusion")}
    stacked = torch.cat([r.saliency for r in maps.values()])
    curves = xw.metrics.deletion_insertion(toy, np.stack([bird.image] * len(maps)), stacked, preset="igos")
    data = xw.toy.dataset(110, seed=9601)
    goldcaps = [s for s in data.samples if s.species_name == "goldcap"]
    space = xw.fit(toy, data.images(), "goldcap", method="concepts", k=4, layer="features")
    ember = world.species.index(next(s for s in world.species if s.name == "ember thrush"))
    embers = np.stack([world.sample(ember, seed=9630 + i).image for i in range(8)])
    summaries = xw.fit(toy, embers, "ember thrush", method="summaries", smooth_iterations=40, sharp_iterations=20)
    text = xw.fit(toy, data, method="text", captions=xw.toy.captions(data), layer="features")
    pool = xw.toy.dataset(16, seed=9801).images()
    return {
        "maps": maps,
        "curves": [
            {
                "label": r.method,
                "fractions": curves.fractions,
                "deletion": curves.deletion[i],
                "insertion": curves.insertion[i],
                "deletion_auc": curves.deletion_auc[i],
                "insertion_auc": curves.insertion_auc[i],
            }
            for i, r in enumerate(maps.values())
        ],
        "sag": xw.explain(toy, bird.image, method="sag", baseline="blur"),
        "concepts": space.explain(goldcaps[0].tensor),
        "summaries": summaries,
        "found": summaries.explain(embers[:2]),
        "text": text.explain(xw.toy.dataset(11, seed=9602).images()),
        "match": xw.explain(
            xw.toy.embedder(),
            pool[0],
            reference=pool[1],
            method="sane",
            attribute_model=xw.toy.attribute_model(),
            saliency_method="pair_rise",
            masks=200,
        ),
    }
