"""SSIM acceptance of summaries on hand-made SSIM values (issue 16, item 4): a higher ``ssim_factor`` is always
stricter, whatever the sign of the class median; the official ``factor × median`` where that median is ≥ 0; a lone
cluster; the sample rule."""

import numpy as np
import pytest

from xwidgets.core.errors import InvalidArgument
from xwidgets.summaries.clusters import judge_clusters, ssim_threshold

FACTORS = [round(0.05 * step, 2) for step in range(41)]  # 0.0 .. 2.0, the parameter's whole range
CLASS_MEDIANS = {  # cluster medians (dyadic: exact in floating point)
    "negative": [-0.25, -0.125, -0.0625, -0.03125, 0.125],  # class median -0.0625
    "zero": [-0.125, -0.0625, 0.0, 0.0625, 0.125],
    "positive": [0.0625, 0.125, 0.1875, 0.25, 0.3125],  # class median 0.1875
}


def _ssim_matrix(median: float, spread: float = 0.5) -> np.ndarray:
    """A hand-made ``[5, 5]`` SSIM matrix whose off-diagonal median is ``median``: each member is ``spread`` above
    it with its two cyclic neighbours and ``spread`` below it with the two others, so every member keeps half of
    its SSIMs above any class-wide median between ``median ± spread`` (the sample rule keeps all five)."""
    offset = (np.arange(5)[None, :] - np.arange(5)[:, None]) % 5
    matrix = np.where(np.isin(offset, (1, 4)), median + spread, median - spread)
    np.fill_diagonal(matrix, 1.0)
    return matrix


def _accepted(medians: list[float], factor: float) -> set[int]:
    clusters = [{"exemplar": 5 * c, "members": list(range(5 * c, 5 * c + 5))} for c in range(len(medians))]
    judged = judge_clusters(clusters, [_ssim_matrix(m) for m in medians], ssim_factor=factor)
    assert [s["ssim"] for s in judged] == medians
    assert all(s["samples"] == s["members"] for s in judged)
    return {c for c, s in enumerate(judged) if s["accepted"]}


@pytest.mark.parametrize("case", sorted(CLASS_MEDIANS))
def test_a_higher_factor_never_accepts_more_clusters(case):
    medians = CLASS_MEDIANS[case]
    accepted = [_accepted(medians, factor) for factor in FACTORS]
    for lower, (factor, higher) in zip(accepted, zip(FACTORS[1:], accepted[1:])):
        assert higher <= lower, f"{case}: factor {factor} accepts {higher - lower} that a lower factor rejected"
    overall = float(np.median(medians))
    assert accepted[FACTORS.index(1.0)] == {c for c, m in enumerate(medians) if m >= overall}
    if overall != 0.0:
        assert len(accepted[0]) > len(accepted[-1])  # the factor matters either side of zero


def test_the_official_rule_where_the_class_median_is_positive():
    medians = CLASS_MEDIANS["positive"]
    overall = float(np.median(medians))
    for factor in FACTORS:  # no median lies within rounding of factor × overall but at 1.0
        assert ssim_threshold(overall, factor) == pytest.approx(factor * overall)
        assert _accepted(medians, factor) == {c for c, m in enumerate(medians) if m >= factor * overall}


@pytest.mark.parametrize("median", [-0.015625, 0.25])
def test_a_lone_cluster_is_the_class_median_itself(median):
    # 16 toy zebra warblers gave one cluster of median SSIM -0.014: rejected at 0.9 and 0.0, accepted at 1.1
    for factor in (0.0, 0.9, 1.0):
        assert _accepted([median], factor) == {0}
    for factor in (1.1, 2.0):
        assert _accepted([median], factor) == set()


def test_the_sample_rule_does_not_depend_on_the_sign_of_the_ssims():
    base = [_ssim_matrix(m) for m in CLASS_MEDIANS["negative"]]
    base[0][0, 1] = base[0][1, 0] = -0.9  # members 0 and 1 of cluster 0: three of four SSIMs now low
    clusters = [{"exemplar": 5 * c, "members": list(range(5 * c, 5 * c + 5))} for c in range(len(base))]
    kept = [s["samples"] for s in judge_clusters(clusters, base)]
    assert kept[0] == [2, 3, 4] and kept[1:] == [c["members"] for c in clusters[1:]]
    for shift in (-0.05, 0.05, 0.1):
        shifted = [np.where(np.eye(5, dtype=bool), 1.0, m + shift) for m in base]
        assert [s["samples"] for s in judge_clusters(clusters, shifted)] == kept


def test_bad_input():
    with pytest.raises(InvalidArgument, match="pairwise"):
        judge_clusters([{"exemplar": 0, "members": [0, 1]}], [])
