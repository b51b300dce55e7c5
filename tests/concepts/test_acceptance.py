"""Concept spaces must be faithful by default (issue 16, item 3), on a toy dataset no other test uses.

Before the fix the acceptance rule looked only at the mean contributions. On these 440 images "scarlet crestling"
at fit seed 16316 failed all six attempts and kept a collapsed space (R² below 0 on unseen images); at seed 16317 it
accepted a space with a held-out R² of 0.43. Now acceptance also asks for faithfulness on the held-out images, the
kept attempt is the most faithful one, and a space fitted to shuffled logits is never accepted."""

import copy

import pytest
import torch

import xwidgets as xw
from xwidgets.concepts import extract_features, fit, r_squared

TARGET = "scarlet crestling"


@pytest.fixture(scope="module")
def fresh_features(toy_model):
    """440 toy images of a dataset seed no other test uses."""
    return extract_features(toy_model, xw.toy.dataset(440, seed=16301).images(), "features")


def _unseen_r2(space, features):
    """R² of the space's ŷ against the logit on ``features`` of another dataset, which the fit never saw."""
    with torch.no_grad():
        _, _, prediction = space.srae(features.features / space.scale)
    return r_squared(prediction, features.logits[:, space.target])


@pytest.mark.slow
def test_kept_and_accepted_spaces_are_faithful_and_a_shuffled_control_is_not_accepted(fresh_features, toy_features):
    for seed in (16316, 16317):
        space = fit(None, features=fresh_features, target=TARGET, seed=seed)
        held, unseen = space.metrics["holdout"], _unseen_r2(space, toy_features)
        print(
            f"seed {seed}: accepted {space.accepted} after {len(space.attempts)} attempt(s), held-out R² "
            f"{held['r2']:+.3f}, unseen R² {unseen:+.3f}"
        )
        # accepted or not, the kept space rebuilds the logit on images it never saw. Measured: unseen R² 0.84 and
        # 0.83 (held-out 0.89, rejected by the contribution rule; 0.77, accepted). Before the fix seed 16316 kept a
        # collapsed space (unseen -0.10, held-out -0.06) and seed 16317 accepted one with held-out R² 0.43
        assert unseen > 0.5
        assert not space.accepted or (held["r2"] >= 0.5 and held["decision_agreement"] >= 0.95)
        kept = [a for a in space.attempts if a["kept"]]
        ranked = [a for a in space.attempts if a["accepted"]] or space.attempts
        assert len(kept) == 1 and kept[0]["r2"] == max(a["r2"] for a in ranked)
        assert kept[0]["r2"] == pytest.approx(held["r2"], abs=1e-3)
    control = copy.copy(fresh_features)
    control.logits = fresh_features.logits[
        torch.randperm(len(fresh_features), generator=torch.Generator().manual_seed(16302))
    ]
    # retries=2 for speed: three attempts, none may be accepted (measured: held-out R² -0.13, unseen -0.43)
    shuffled = fit(None, features=control, target=TARGET, seed=16316, retries=2)
    unseen = _unseen_r2(shuffled, toy_features)
    print(
        f"control: accepted {shuffled.accepted}, held-out R² {shuffled.metrics['holdout']['r2']:+.3f}, "
        f"unseen R² {unseen:+.3f}"
    )
    assert not shuffled.accepted and len(shuffled.attempts) == 3
    assert shuffled.metrics["holdout"]["r2"] < 0.2 and unseen < 0.2
