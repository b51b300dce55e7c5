"""The explanation-space metrics on crafted inputs, and quality against a control on the toy world's ground truth:
a space fitted to the classifier's logits must be faithful and put its concepts' maps on the species' evidence
parts; one fitted to shuffled logits must not."""

import copy

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.concepts import (
    alignment_matrix,
    contribution_sparsity,
    decision_agreement,
    fit,
    orthogonality,
    part_alignment,
    r_squared,
)

# single-clause species: their evidence mask is exactly the parts of their one rule
TARGETS = ["ember thrush", "goldcap", "spotwing", "forktail"]


# ------------------------------------------------------------------------------------------------- metrics
def test_r_squared():
    truth = torch.tensor([1.0, 2.0, 4.0, 7.0])
    assert r_squared(truth.clone(), truth) == pytest.approx(1.0)
    assert r_squared(torch.full((4,), float(truth.mean())), truth) == pytest.approx(0.0, abs=1e-7)
    # residuals (1, 0, 0, -1) against a spread of 21.0: 1 - 2/21
    assert r_squared(truth + torch.tensor([1.0, 0.0, 0.0, -1.0]), truth) == pytest.approx(1 - 2 / 21)
    assert r_squared(-truth, truth) < 0
    assert r_squared(torch.ones(3), torch.ones(3)) == 1.0 and r_squared(torch.zeros(3), torch.ones(3)) == 0.0


def test_decision_agreement():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 0.0]])
    # class 0 decisions: yes, no, no, yes; replaced by (0.5, 4, 0, 3): no, yes, no, yes -> rows 2 and 3 agree
    assert decision_agreement(logits, torch.tensor([0.5, 4.0, 0.0, 3.0]), 0) == pytest.approx(0.5)
    assert decision_agreement(logits, logits[:, 0], 0) == 1.0
    assert decision_agreement(logits, logits[:, 2], 2) == 1.0
    assert torch.equal(logits[:, 0], torch.tensor([2.0, 0.0, 1.0, 4.0]))  # the input is left unchanged


def test_contribution_sparsity():
    one_hot = torch.tensor([[0.0, 3.0, 0.0, 0.0], [-2.0, 0.0, 0.0, 0.0]])
    assert contribution_sparsity(one_hot) == pytest.approx(1.0)
    assert contribution_sparsity(torch.full((3, 4), 0.7)) == pytest.approx(0.0, abs=1e-6)
    # Hoyer of (1, 1, 0, 0): (2 - 2/√2) / (2 - 1); an all-zero image is skipped
    two = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert contribution_sparsity(two) == pytest.approx(2 - 2**0.5, rel=1e-5)
    assert contribution_sparsity(torch.tensor([[0.3], [0.0]])) == 1.0
    assert contribution_sparsity(torch.zeros(2, 3)) == 0.0


def test_orthogonality():
    disjoint = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    assert orthogonality(disjoint) == pytest.approx(1.0)
    assert orthogonality(torch.tensor([[1.0, 1.0], [2.0, 2.0], [0.5, 0.5]])) == pytest.approx(0.0, abs=1e-6)
    # columns (1, 0) and (1, 1): |cos| = 1/√2
    assert orthogonality(torch.tensor([[1.0, 1.0], [0.0, 1.0]])) == pytest.approx(1 - 2**-0.5, rel=1e-5)
    assert orthogonality(torch.ones(5, 1)) == 1.0


def test_alignment_matrix_and_part_alignment():
    labels = torch.zeros(2, 4, 4, dtype=torch.long)
    labels[:, 0, :] = 1
    labels[:, 1, :] = 2
    labels[:, 2, :2] = 3  # rows 2 (right half) and 3 stay background
    maps = torch.zeros(2, 4, 4, 4)
    maps[:, 0, 1, :] = torch.tensor([1.0, 2.0, 3.0, 4.0])  # concept 0: all on part 2
    maps[:, 1] = 1.0  # concept 1: everywhere, but never active
    maps[0, 2, 0, 0], maps[0, 2, 3, 3] = 1.0, 1.0  # concept 2: half part 1, half background ...
    maps[1, 2, 0, 1] = 5.0  # ... then all on part 1
    active = torch.tensor([[True, False, True, True], [True, False, True, True]])  # concept 3 has no mass
    matrix = alignment_matrix(maps, labels, 3, active)
    assert matrix.shape == (4, 4)
    assert torch.allclose(matrix[0], torch.tensor([0.0, 0.0, 1.0, 0.0]))
    assert torch.equal(matrix[1], torch.zeros(4)) and torch.equal(matrix[3], torch.zeros(4))
    assert torch.allclose(matrix[2], torch.tensor([0.25, 0.75, 0.0, 0.0]))
    assert torch.allclose(matrix[[0, 2]].sum(1), torch.ones(2))
    everywhere = alignment_matrix(maps, labels, 3)[1]  # all active by default: the area of each label
    assert torch.allclose(everywhere, torch.tensor([6.0, 4.0, 4.0, 2.0]) / 16)
    assert part_alignment(matrix[[0, 2]]) == pytest.approx((1.0 + 0.75) / 2)
    assert part_alignment(matrix[[0, 2]], torch.tensor([3.0, 1.0])) == pytest.approx((3 * 1.0 + 0.75) / 4)
    assert part_alignment(matrix[[0, 2]], torch.tensor([-1.0, 1.0])) == pytest.approx(0.75)  # negatives count 0
    assert part_alignment(matrix, torch.zeros(4)) == 0.0


# ------------------------------------------------------------------------------------------------- quality
def _evidence_scores(space, samples):
    """The positive-contribution-weighted share of concept-map mass on the evidence parts, and part alignment."""
    explanation = space.explain(torch.stack([s.tensor for s in samples]))
    active = explanation.contributions > 0
    weights = space.mean_contributions.clamp(min=0)
    evidence = torch.from_numpy(np.stack([s.evidence for s in samples])).long()
    labels = torch.from_numpy(np.stack([s.labels for s in samples])).long()
    share = alignment_matrix(explanation.maps, evidence, 1, active)[:, 1]
    evidence_share = float((share * weights).sum() / weights.sum()) if float(weights.sum()) > 0 else 0.0
    matrix = alignment_matrix(explanation.maps, labels, len(xw.toy.PARTS), active)
    assert matrix.shape == (space.k, len(xw.toy.PARTS) + 1)
    return evidence_share, part_alignment(matrix, weights), matrix


@pytest.mark.slow
def test_fitted_space_is_faithful_and_on_the_evidence_unlike_a_control(toy_model, toy_data, toy_features):
    control = copy.copy(toy_features)
    control.logits = toy_features.logits[
        torch.randperm(len(toy_features), generator=torch.Generator().manual_seed(9602))
    ]
    scores = {"fitted": [], "control": []}
    for target in TARGETS:
        species = toy_model.labels.index(target)
        samples = [s for s in toy_data.samples if s.species == species][:16]
        assert len(samples) == 16 and len({s.evidence_parts for s in samples}) == 1  # one clause
        for name, features in (("fitted", toy_features), ("control", control)):
            # retries=0 for speed (one training attempt each instead of up to six)
            space = fit(toy_model, features=features, target=target, seed=9605, retries=0)
            evidence, parts, matrix = _evidence_scores(space, samples)
            scores[name].append((space.metrics["holdout"]["r2"], evidence, parts))
            print(
                f"{target:>12} {name:>7}: held-out R² {space.metrics['holdout']['r2']:+.3f}, evidence share "
                f"{evidence:.3f}, part alignment {parts:.3f}"
            )
            if name == "fitted":
                print(
                    "concept-part alignment (rows: concepts; columns: background, "
                    + ", ".join(xw.toy.PARTS)
                    + "); mean contributions "
                    + str(np.round(space.mean_contributions.numpy(), 2))
                    + "\n"
                    + np.array2string(matrix.numpy(), precision=2)
                )
    fitted, control_means = (np.mean(scores[name], axis=0) for name in ("fitted", "control"))
    print(
        f"mean over {len(TARGETS)} targets (R², evidence share, part alignment): fitted {np.round(fitted, 3)}, "
        f"control {np.round(control_means, 3)}"
    )
    # measured (seed 9605): R² 0.84 vs -0.13; evidence share 0.281 vs 0.034; part alignment 0.230 vs 0.053
    # (before the bias centring and pull-away warm-up of issue 16: 0.80 vs -0.12, 0.284 vs 0.014, 0.229 vs 0.061).
    # (At seed 9603: evidence share 0.203 vs 0.081, part alignment 0.172 vs 0.096.) Margins: about half the gap.
    assert fitted[0] > 0.6 and fitted[0] > control_means[0] + 0.5
    assert fitted[1] > control_means[1] + 0.1
    assert fitted[2] > control_means[2] + 0.07
