"""The pair methods through the one call shape: ``xw.explain(embedder, queries, reference=..., method=...)`` for
pair_rise, pair_sliding_window, pair_mask and sane; their specs; SANE's cached saliency step; and the names from
before the registry, which keep working for one release with a DeprecationWarning."""

import pytest
import torch

import xwidgets as xw
from xwidgets.core.errors import XWidgetsError
from xwidgets.core.methods import get_spec
from xwidgets.core.steps import StepCache
from xwidgets.similarity import MatchExplanation, PairSaliency

QUICK = {"pair_rise": {"masks": 40}, "pair_sliding_window": {"stride": 16}, "pair_mask": {"iterations": 3}}


@pytest.fixture(scope="module")
def toy():
    data = xw.toy.dataset(4, seed=9795).images()
    return xw.toy.embedder(), data[:2], data[2:], xw.toy.attribute_model()


def test_every_pair_method_is_registered_with_what_it_reads():
    assert xw.methods("pair") == ["pair_rise", "pair_sliding_window", "pair_mask", "sane"]
    sane = get_spec("sane")
    assert sane.result is MatchExplanation and sane.inputs == ("reference", "attribute_model")
    assert set(sane.params) == {
        "saliency_method",
        "both",
        "rule",
        "exclusive",
        "saliency_weight",
        "attribute_weight",
        "confidence",
    }
    assert set(sane.steps) == {"saliency", "ranking"} and "reference_mode" not in sane.params
    assert "reference_mode" in get_spec("pair_rise").params and "masks" not in get_spec("pair_mask").params
    assert "pair_rise" in xw.explain.__doc__ and "attribute_model=" in xw.explain.__doc__


@pytest.mark.parametrize("method", list(QUICK))
def test_pair_methods_run_through_xw_explain(toy, method):
    embedder, queries, references, _ = toy
    result = xw.explain(embedder, queries, reference=references, method=method, progress=False, **QUICK[method])
    assert isinstance(result, PairSaliency) and result.method == method and result.maps.shape == (2, 1, 112, 112)
    kernel = get_spec(method).kernel
    direct = kernel(embedder, queries, reference=references, progress=False, **QUICK[method])
    assert torch.allclose(direct.maps, result.maps)
    with pytest.raises(XWidgetsError, match=r"^target"):
        xw.explain(embedder, queries, 3, reference=references, method=method)
    with pytest.raises(XWidgetsError, match=r"^target"):
        kernel(embedder, queries, 3, reference=references)
    with pytest.raises(XWidgetsError, match=r"^reference"):
        kernel(embedder, queries)


def test_sane_runs_through_xw_explain_and_checks_every_parameter(toy):
    embedder, queries, references, attributes = toy
    explanation = xw.explain(
        embedder,
        queries,
        reference=references,
        method="sane",
        attribute_model=attributes,
        saliency_method="pair_sliding_window",
        stride=16,
        progress=False,
    )
    assert isinstance(explanation, MatchExplanation) and explanation.saliency_method == "pair_sliding_window"
    assert explanation.params["stride"] == 16 and explanation.params["rule"] == "pair"
    assert explanation.reference_saliency.shape == (2, 1, 112, 112)
    for params, name in [
        ({"strid": 16}, "strid"),
        ({"masks": 40}, "masks"),  # masks is pair_rise's, not this
        ({"stride": 0}, "stride"),
        ({"saliency_weight": -1.0}, "saliency_weight"),
        ({"saliency_method": "lime"}, "saliency_method"),
        ({"both": 1}, "both"),
    ]:
        with pytest.raises(XWidgetsError, match=rf"^{name}"):
            xw.explain(
                embedder,
                queries,
                reference=references,
                method="sane",
                attribute_model=attributes,
                **{"saliency_method": "pair_sliding_window", **params},
            )
    with pytest.raises(XWidgetsError, match=r"^attribute_model"):
        xw.explain(embedder, queries, reference=references, method="sane")


def test_sane_reuses_the_cached_saliency_when_only_the_ranking_changes(toy):
    embedder, queries, references, attributes = toy
    cache = StepCache()

    def run(**params):
        return xw.similarity.sane(
            embedder,
            queries,
            reference=references,
            attribute_model=attributes,
            cache=cache,
            progress=False,
            **{"saliency_method": "pair_rise", "masks": 40, **params},
        )

    first = run()
    before = embedder.images_forwarded
    second = run(rule="sane", saliency_weight=2.0)
    assert embedder.images_forwarded - before <= 4  # the attribute model's passes, no saliency
    assert torch.equal(first.saliency, second.saliency) and cache.hits == {"saliency": 1}
    assert torch.allclose(second.scores, second.confidence + second.agreement)
    run(masks=41)  # a saliency parameter: recomputed
    assert cache.misses == {"saliency": 2}
    other = xw.similarity.sane(
        embedder, references, reference=queries, attribute_model=attributes, cache=cache, progress=False, masks=41
    )
    assert cache.misses == {"saliency": 3} and not torch.equal(other.saliency, second.saliency)


def test_the_names_from_before_the_registry_warn_and_still_work(toy):
    embedder, queries, references, attributes = toy
    with pytest.warns(DeprecationWarning, match="pair_saliency"):
        old = xw.similarity.pair_saliency(
            embedder,
            queries,
            references,
            method="mask",
            iterations=3,
            seed=4,
            reference_mode="variable",
            progress=False,
        )
    new = xw.explain(
        embedder,
        queries,
        reference=references,
        method="pair_mask",
        iterations=3,
        seed=4,
        reference_mode="variable",
        progress=False,
    )
    assert torch.equal(old.maps, new.maps) and torch.equal(old.reference_maps, new.reference_maps)
    with pytest.warns(DeprecationWarning), pytest.raises(XWidgetsError, match=r"^method"):
        xw.similarity.pair_saliency(embedder, queries, references, method="pair_mask")
    with pytest.warns(DeprecationWarning, match="explain_match"):
        old = xw.similarity.explain_match(
            embedder, queries, references, attributes, method="sliding_window", stride=16, rule="sane", progress=False
        )
    new = xw.explain(
        embedder,
        queries,
        reference=references,
        method="sane",
        attribute_model=attributes,
        saliency_method="pair_sliding_window",
        stride=16,
        rule="sane",
        progress=False,
    )
    assert old.ranking(1) == new.ranking(1)
    with pytest.warns(DeprecationWarning, match="PAIR_PARAMS"):
        assert xw.similarity.PAIR_PARAMS["rise"] is get_spec("pair_rise").params
    with pytest.warns(DeprecationWarning, match="SALIENCY_METHODS"):
        assert xw.similarity.SALIENCY_METHODS == ("rise", "sliding_window", "mask")
    with pytest.warns(DeprecationWarning, match="MATCH_PARAMS"):
        assert xw.similarity.MATCH_PARAMS is xw.similarity.SANE_PARAMS
    with pytest.raises(AttributeError):
        xw.similarity.NOT_A_NAME  # noqa: B018
