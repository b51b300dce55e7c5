"""sane: the pair's saliency both ways, the attribute ranking, save/load, bad input, and ground truth."""

import threading

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.core.errors import XWidgetsError
from xwidgets.similarity import MatchExplanation


def explain_sane(embedder, queries, references, attributes, method="pair_rise", **params):
    """SANE through the one call shape, with ``method`` the saliency method."""
    return xw.explain(
        embedder,
        queries,
        reference=references,
        method="sane",
        attribute_model=attributes,
        saliency_method=method,
        **params,
    )


def explain_pair(embedder, queries, references, method, **params):
    return xw.explain(embedder, queries, reference=references, method=method, **params)


@pytest.fixture(scope="module")
def toy():
    return xw.toy.embedder(), xw.toy.attribute_model()


@pytest.fixture(scope="module")
def pair_images():
    data = xw.toy.dataset(4, seed=9794)
    return data.images()[:2], data.images()[2:]


def test_explanation_ranks_every_attribute_and_explains_both_sides(toy, pair_images):
    embedder, attributes = toy
    queries, references = pair_images
    explanation = explain_sane(embedder, queries, references, attributes, method="pair_sliding_window", stride=16)
    count = len(attributes.attributes)
    assert explanation.scores.shape == (2, count) and explanation.attribute_maps.shape == (2, count, 4, 4)
    assert explanation.reference_saliency.shape == explanation.saliency.shape == (2, 1, 112, 112)
    assert torch.allclose(explanation.scores, explanation.confidence * (0.5 * explanation.agreement).exp())
    both_shown = torch.minimum(explanation.query_confidence, explanation.reference_confidence)
    assert torch.equal(explanation.confidence, both_shown)
    expected = explain_pair(embedder, queries, references, method="pair_sliding_window", stride=16)
    assert torch.allclose(explanation.saliency, expected.maps)
    reverse = explain_pair(embedder, references, queries, method="pair_sliding_window", stride=16)
    assert torch.allclose(explanation.reference_saliency, reverse.maps)
    ranking = explanation.ranking(1, 4)
    assert [r["score"] for r in ranking] == sorted([r["score"] for r in ranking], reverse=True)
    assert ranking[0]["score"] == pytest.approx(float(explanation.scores[1].max()))
    heat = explanation.attribute_map(ranking[0]["phrase"], 1)
    assert heat.shape == (112, 112) and float(heat.max()) == 1.0
    weighted = explain_sane(
        embedder, queries, references, attributes, both=False, saliency_weight=0.0, saliency=expected
    )
    assert weighted.reference_saliency is None and torch.allclose(weighted.scores, weighted.confidence)
    sane = explain_sane(embedder, queries, references, attributes, both=False, rule="sane", saliency=expected)
    assert torch.allclose(sane.scores, sane.confidence + sane.agreement)


def test_save_load_and_figure(toy, pair_images, tmp_path):
    embedder, attributes = toy
    explanation = explain_sane(embedder, *pair_images, attributes, masks=100)
    loaded = MatchExplanation.load(explanation.save(tmp_path / "match.xwr"))
    assert loaded.ranking(1) == explanation.ranking(1)
    figure = loaded.figure(1, top=2, path=tmp_path / "match.pdf")
    assert len(figure.axes) == 4 and (tmp_path / "match.pdf").stat().st_size > 5_000


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("classifier", "embedder"),
        ("attribute model", "attribute_model"),
        ("method", "saliency_method: got 'lime'"),
        ("weight", "attribute_weight"),
        ("confidence", "confidence"),
        ("rule", "rule"),
        ("saliency", "saliency"),
        ("sizes", "size"),
        ("wrong output", r"embedder: got .*Spatial.*expected a module returning embedding vectors \[N, D\]"),
    ],
)
def test_bad_input_raises_and_leaves_nothing_behind(toy, pair_images, case, pattern):
    embedder, attributes = toy
    queries, references = pair_images
    kwargs, model = {"masks": 50}, embedder
    if case == "classifier":
        model = xw.toy.classifier()
    elif case == "attribute model":
        attributes = object()
    elif case == "method":
        kwargs["method"] = "lime"
    elif case == "weight":
        kwargs["attribute_weight"] = -1.0
    elif case == "confidence":
        kwargs["confidence"] = "both"
    elif case == "rule":
        kwargs["rule"] = "oracle"
    elif case == "saliency":
        kwargs["saliency"] = torch.rand(2, 1, 112, 112)
    elif case == "sizes":
        references = torch.rand(2, 3, 96, 96)
    elif case == "wrong output":

        class Spatial(torch.nn.Module):  # returns feature maps, not vectors
            def forward(self, x):
                return x[:, :, ::8, ::8]

        model = xw.Embedder(Spatial().eval())
    threads = threading.active_count()
    with pytest.raises(XWidgetsError, match=pattern):
        explain_sane(model, queries, references, attributes, **kwargs)
    assert all(len(m._forward_hooks) == 0 for m in embedder.module.modules())
    assert threading.active_count() == threads


def worded_shared(first, second):
    """The attribute ids two toy samples both show and captions name (a crest's colour only when both have one)."""
    shared = {
        f"{k}={v}"
        for k, v in first.attributes.items()
        if second.attributes[k] == v and xw.toy.condition_phrase(k, v) is not None
    }
    if not first.attributes["crest.shape"] == second.attributes["crest.shape"] == "present":
        shared = {a for a in shared if not a.startswith("crest.color")}
    return shared


def pairs_sharing_one_attribute(seed, count):
    """``count`` toy pairs that share exactly one worded attribute, its part visible on both images, each with a
    control reference that shares no worded attribute with the query."""
    pairs = xw.toy.pairs(6 * count, seed=seed)
    chosen = [(p, *worded_shared(p.first, p.second)) for p in pairs if len(worded_shared(p.first, p.second)) == 1]
    chosen = [(p, a) for p, a in chosen if all(s.part_mask(a.split(".")[0]).any() for s in (p.first, p.second))]
    assert len(chosen) >= count
    pool = [p.second for p in pairs]
    controls = [
        next(s for s in pool[i + 1 :] + pool[:i] if not worded_shared(p.first, s))
        for i, (p, _) in enumerate(chosen[:count])
    ]
    return chosen[:count], controls


def top3_rate(explanation, shared):
    return float(np.mean([a in [r["attribute"] for r in explanation.ranking(i, 3)] for i, a in enumerate(shared)]))


@pytest.mark.slow
def test_the_shared_attribute_ranks_in_the_top_three_for_its_pair_and_not_for_a_reference_sharing_nothing(toy):
    """Fresh pairs sharing exactly one worded attribute (82 attributes: chance is 3/82 = 0.04 for the top 3; a
    ranking that knew only the query's attributes would hit about 0.28), with the cheapest saliency (sliding window,
    stride 16). Measured with these settings on 6 seeds × 30 pairs (seeds 16611..16616), median (worst, best):
    the default pair rule (``exclusive``: an attribute counts on an image only as its group's best value) puts the
    shared attribute in the top 3 for 0.68 (0.53, 0.83) of the pairs, and for 0.07 (0.10, 0.00) against a control
    reference that shares nothing with the query; the margin is 0.53 or more on every seed (on this seed 0.73
    against 0.07). Without ``exclusive``: 0.77 (0.67, 0.83) against 0.25 (0.30, 0.13), on this seed 0.83 against
    0.27. Before that (SANE's rule with the geometric-mean confidence, the earlier shipped attribute model): 0.20
    (0.17, 0.30) against 0.07 (0.23, 0.07); on this seed 0.20 against 0.23."""
    embedder, attributes = toy
    chosen, controls = pairs_sharing_one_attribute(16613, 30)
    queries = torch.stack([p.first.tensor for p, _ in chosen])
    references = torch.stack([p.second.tensor for p, _ in chosen])
    control = torch.stack([s.tensor for s in controls])
    shared = [a for _, a in chosen]
    settings = {"method": "pair_sliding_window", "stride": 16}
    matched = top3_rate(explain_sane(embedder, queries, references, attributes, **settings), shared)
    unrelated = top3_rate(explain_sane(embedder, queries, control, attributes, **settings), shared)
    assert matched >= 0.45 and unrelated <= 0.2 and matched >= unrelated + 0.35
