"""The SRAE's maths (shapes, contributions, pull-away, log penalty, acceptance), its training loop (bias centring,
pull-away warm-up, determinism, random state, retries, cancellation) and the contrastive excitation-backprop concept
maps, against hand computations."""

import math
import time

import pytest
import torch

from xwidgets.concepts import (
    CONCEPT_PARAMS,
    SRAE,
    decision_agreement,
    excitation_maps,
    fit,
    locality,
    pull_away,
    r_squared,
    srae_loss,
    train_srae,
)
from xwidgets.concepts.maps import upsample_maps
from xwidgets.concepts.srae import (
    ACCEPT_RATIO,
    _centre_bias,
    acceptance,
    attempt_seed,
    default_hidden,
    log_penalty,
    mean_contributions,
    passes_contribution_rule,
    pull_away_weight,
)
from xwidgets.core.errors import Cancelled
from xwidgets.core.runner import Progress


@pytest.fixture(scope="module")
def scaled(toy_features):
    """200 toy feature vectors scaled as fit() scales them, and the "spotwing" logit (class 3)."""
    x = toy_features.features[:200]
    return x / x.pow(2).mean().sqrt(), toy_features.logits[:200, 3]


@pytest.fixture(scope="module")
def judge(toy_features):
    """Faithfulness of an SRAE for "spotwing" on 80 toy images outside ``scaled``, as fit() judges attempts."""
    x = toy_features.features[:200]
    held = toy_features.features[200:280] / x.pow(2).mean().sqrt()
    logits = toy_features.logits[200:280]

    def faithfulness(model):
        with torch.no_grad():
            prediction = model(held)[2]
        return {
            "r2": r_squared(prediction, logits[:, 3]),
            "decision_agreement": decision_agreement(logits, prediction, 3),
        }

    return faithfulness


def _settings(**overrides):
    return CONCEPT_PARAMS.resolve(overrides)


# ----------------------------------------------------------------------------------------------- the network
def test_forward_shapes_keep_a_batch_of_one():
    srae = SRAE(6, 3, (5, 4)).eval()
    generator = torch.Generator().manual_seed(9610)
    for batch in (1, 4):
        x = torch.rand(batch, 6, generator=generator)
        with torch.no_grad():
            z, reconstruction, prediction = srae(x)
        assert z.shape == (batch, 3) and reconstruction.shape == (batch, 6) and prediction.shape == (batch,)
        assert [s.shape for s in srae.encode(x)] == [(batch, 6), (batch, 5), (batch, 4), (batch, 3)]
        assert float(z.min()) >= 0 and float(reconstruction.min()) >= 0  # ReLUs on both sides
        # the contributions z_k·w_k sum with the bias to ŷ
        assert torch.allclose(srae.contributions(z).sum(1) + srae.head.bias, prediction, atol=1e-6)
        assert torch.allclose(srae.contributions(z), z * srae.head.weight[0])
    assert default_hidden(4096) == (800, 100) and default_hidden(64) == (128, 64)


def test_pull_away_by_hand():
    rows = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    # along images: cos² of the pairs (0,1), (0,2), (1,2) are 1/2, 0, 1/2; each pair counts twice; B(B-1) = 6
    assert float(pull_away(rows, "images")) == pytest.approx(2 * (0.5 + 0.0 + 0.5) / 6, abs=1e-6)
    # along features: columns (1,1,0) and (0,1,2), cos² = 1/(2·5); counted twice over k(k-1) = 2
    assert float(pull_away(rows, "features")) == pytest.approx(0.1, abs=1e-6)
    assert float(pull_away(rows[:1], "images")) == 0.0 and float(pull_away(rows[:, :1], "features")) == 0.0
    dead = torch.tensor([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    value = pull_away(dead, "images")
    value.backward()
    assert float(value.detach()) == pytest.approx(0.0, abs=1e-12) and bool(torch.isfinite(dead.grad).all())
    assert math.isfinite(float(pull_away(torch.zeros(3, 2), "features")))


def test_log_penalty_by_hand():
    features = torch.zeros(2, 2)
    reconstruction = torch.tensor([[1.0, 0.0], [1.0, 2.0]])
    # per-dimension mean squared errors 1 and 2; q = 3
    expected = (math.log(1 + 3 * 1) + math.log(1 + 3 * 2)) / 2
    assert float(log_penalty(reconstruction, features, 3.0)) == pytest.approx(expected, rel=1e-6)


def test_loss_weights_its_terms_and_pulls_apart_the_contributions_not_z():
    srae = SRAE(4, 3, (5, 4)).eval()
    generator = torch.Generator().manual_seed(9614)  # the weights, not torch's global state, decide the margins
    with torch.no_grad():
        for parameter in srae.parameters():
            parameter.copy_(torch.rand(parameter.shape, generator=generator) - 0.5)
        srae.head.weight.copy_(torch.tensor([[2.0, -0.5, 1.0]]))
        for layer in srae.encoder:
            layer.bias.fill_(0.5)  # every concept alive
    x = torch.rand(6, 4, generator=torch.Generator().manual_seed(9611))
    y = torch.linspace(-1, 1, 6)
    # along images: rows z_i ⊙ w have other cosines than rows z_i (along features a column's scale cancels)
    weights = {"alpha_pred": 2.0, "alpha_rec": 3.0, "alpha_pt": 5.0, "q": 7.0, "pull_away": "images"}
    with torch.no_grad():
        total, terms = srae_loss(srae, x, y, weights)
        z, reconstruction, prediction = srae(x)
    assert float(terms["faithfulness"]) == pytest.approx(float((prediction - y).pow(2).mean()), rel=1e-6)
    assert float(terms["reconstruction"]) == pytest.approx(float(log_penalty(reconstruction, x, 7.0)), rel=1e-6)
    weighted = float(pull_away(z * srae.head.weight[0].detach(), "images"))
    assert float(terms["pull_away"]) == pytest.approx(weighted, rel=1e-6)
    assert abs(weighted - float(pull_away(z, "images"))) > 1e-3
    assert float(total) == pytest.approx(
        2 * float(terms["faithfulness"]) + 3 * float(terms["reconstruction"]) + 5 * float(terms["pull_away"]), rel=1e-6
    )


@pytest.mark.parametrize(
    "means, passes",
    [
        ([1.0, 0.4, -1.0], True),
        ([0.4, -1.0, 1.0], True),
        ([1.0, ACCEPT_RATIO, 0.0], True),
        ([1.0, 0.2, 0.0], False),
        ([1.0, 0.0, -0.5], False),
        ([1.0, -0.1], False),
        ([0.0, 0.0, 0.0], False),
        ([0.5], True),
        ([0.0], False),
        ([-0.5], False),
    ],
)
def test_contribution_rule(means, passes):
    assert passes_contribution_rule(torch.tensor(means)) is passes


@pytest.mark.parametrize(
    "means, r2, agreement, verdict",
    [
        # the collapse the official rule accepted: two tiny positive means, held-out R² -0.08
        ([0.02, 0.01, 0.0, 0.0, 0.0], -0.08, 0.90, (True, False, False)),
        # a faithful space with one positive concept: faithful, but the official rule fails
        ([0.62, 0.0, 0.0, -0.4, -1.9], 0.90, 1.0, (False, True, False)),
        ([0.5, 0.3, 0.0, -0.4, -0.6], 0.80, 1.0, (True, True, True)),
        ([0.5, 0.3, 0.0, -0.4, -0.6], 0.50, 0.95, (True, True, True)),  # both thresholds inclusive
        ([0.5, 0.3, 0.0, -0.4, -0.6], 0.49, 1.0, (True, False, False)),
        ([0.5, 0.3, 0.0, -0.4, -0.6], 0.80, 0.94, (True, False, False)),  # decisions flipped
    ],
)
def test_acceptance_needs_faithfulness_and_the_contribution_rule(means, r2, agreement, verdict):
    settings = _settings()
    assert settings["min_r2"] == 0.5 and settings["min_agreement"] == 0.95
    result = acceptance(torch.tensor(means), {"r2": r2, "decision_agreement": agreement}, settings)
    assert (result["contribution_rule"], result["faithful"], result["accepted"]) == verdict
    stricter = acceptance(
        torch.tensor(means), {"r2": r2, "decision_agreement": agreement}, _settings(min_r2=0.95, min_agreement=1.0)
    )
    assert not stricter["faithful"] and not stricter["accepted"]


# ------------------------------------------------------------------------------------------------- training
def test_bias_centring_starts_every_unit_on_half_the_samples(scaled):
    x, _ = scaled
    layer = torch.nn.Linear(x.shape[1], 32)
    with torch.no_grad():  # on these non-negative features some units start on almost always, some never
        layer.weight.copy_(torch.rand(layer.weight.shape, generator=torch.Generator().manual_seed(9628)) - 0.5)
        active = (layer(x) > 0).float().mean(dim=0)
    assert float(active.min()) < 0.05 and float(active.max()) > 0.95
    _centre_bias(layer, x)
    with torch.no_grad():
        active = (layer(x) > 0).float().mean(dim=0)
    assert float(active.min()) >= 0.45 and float(active.max()) <= 0.55


def test_pull_away_weight_ramps_up_over_the_warmup():
    assert [pull_away_weight(10.0, epoch, 4) for epoch in range(6)] == pytest.approx([0.0, 2.5, 5.0, 7.5, 10.0, 10.0])
    assert pull_away_weight(10.0, 0, 0) == 10.0  # no warm-up: the official schedule
    assert _settings()["pt_warmup"] == 20


def test_training_is_deterministic_and_leaves_the_global_random_state_alone(scaled, judge):
    x, y = scaled
    settings = _settings(k=3, epochs=3, retries=0)
    state = torch.get_rng_state()
    first = train_srae(x, y, k=3, hidden=(16, 8), settings=settings, seed=9612, judge=judge, progress=Progress())
    assert torch.equal(torch.get_rng_state(), state)
    again = train_srae(x, y, k=3, hidden=(16, 8), settings=settings, seed=9612, judge=judge, progress=Progress())
    other = train_srae(x, y, k=3, hidden=(16, 8), settings=settings, seed=9613, judge=judge, progress=Progress())
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(first.model.parameters(), again.model.parameters()):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(first.model.parameters(), other.model.parameters()))
    assert first.attempts == again.attempts
    assert not first.model.training and not any(p.requires_grad for p in first.model.parameters())


def test_acceptance_loop_retries_with_new_seeds_and_reweighted_losses_and_keeps_the_most_faithful(scaled, judge):
    x, y = scaled
    # min_r2 = 1 cannot be met: every attempt is rejected, so all three run
    settings = _settings(k=3, epochs=4, retries=2, min_r2=1.0)
    training = train_srae(x, y, k=3, hidden=(16, 8), settings=settings, seed=9627, judge=judge, progress=Progress())
    attempts = training.attempts
    assert not training.accepted and len(attempts) == 3 and [a["attempt"] for a in attempts] == [0, 1, 2]
    assert not any(a["accepted"] or a["faithful"] for a in attempts)
    assert [a["seed"] for a in attempts] == [attempt_seed(9627, a) for a in range(3)] and len(
        {a["seed"] for a in attempts}
    ) == 3
    assert [a["alpha_rec"] for a in attempts] == pytest.approx([10.0, 12.0, 14.4])
    assert [a["alpha_pt"] for a in attempts] == pytest.approx([10.0, 8.0, 6.4])
    for record in attempts:
        assert record["contribution_rule"] is passes_contribution_rule(torch.tensor(record["mean_contributions"]))
    # the kept model is the attempt with the highest held-out R², and its record says so
    best = max(attempts, key=lambda a: a["r2"])
    assert [a["kept"] for a in attempts] == [a is best for a in attempts]
    assert judge(training.model)["r2"] == pytest.approx(best["r2"], abs=1e-6)
    kept = mean_contributions(training.model, x)
    assert torch.allclose(kept, torch.tensor(best["mean_contributions"]), atol=1e-5)
    assert settings["alpha_rec"] == 10.0 and settings["alpha_pt"] == 10.0  # the caller's settings untouched


def test_cancel_from_the_progress_callback_stops_within_a_step(scaled, toy_features):
    x, y = scaled
    reports = []
    progress = Progress(on_progress=lambda fraction, message: (reports.append(fraction), progress.cancel()))
    state = torch.get_rng_state()
    started = time.perf_counter()
    with pytest.raises(Cancelled):
        train_srae(
            x,
            y,
            k=3,
            hidden=(16, 8),
            settings=_settings(k=3, epochs=500, retries=3),
            seed=9614,
            judge=lambda model: {"r2": 1.0, "decision_agreement": 1.0},
            progress=progress,
        )
    assert len(reports) == 1 and time.perf_counter() - started < 5.0  # the first report (10 steps) is the last
    assert torch.equal(torch.get_rng_state(), state)
    cancelling = Progress(on_progress=lambda fraction, message: cancelling.cancel())
    with pytest.raises(Cancelled):
        fit(None, features=toy_features, target="spotwing", epochs=500, progress=cancelling)


# -------------------------------------------------------------------------------------- excitation maps
def _hand_srae():
    """An SRAE on 2 channels: identity, then [[2, 0], [1, 1]], then concept rows (1, 1) and (-1, 1); no biases."""
    srae = SRAE(2, 2, (2, 2), dropout=0.0).eval()
    with torch.no_grad():
        for layer in srae.encoder:
            layer.bias.zero_()
        srae.encoder[0].weight.copy_(torch.eye(2))
        srae.encoder[1].weight.copy_(torch.tensor([[2.0, 0.0], [1.0, 1.0]]))
        srae.encoder[2].weight.copy_(torch.tensor([[1.0, 1.0], [-1.0, 1.0]]))
    return srae


def test_excitation_maps_by_hand():
    # channel 0 is (1, 3) over two positions, channel 1 is (2, 2): x = (2, 2), a1 = (2, 2), a2 = (4, 4)
    activation = torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]]]])
    maps = excitation_maps(_hand_srae(), activation, 1.0)
    # concept 0, w⁺ = (1, 1): P(a2) = (1/2, 1/2); through [[2, 0], [1, 1]] (column totals 4, 4): P(a1) = (3/4, 1/4);
    #   identity: P(x) = (3/4, 1/4); spatial: 3/4·(1, 3)/4 + 1/4·(2, 2)/4 = (5/16, 11/16). Its dual has w⁺ = 0: no mass.
    # concept 1, w⁺ = (0, 1): P(a2) = (0, 1) -> P(x) = (1/2, 1/2) -> (3/8, 5/8); its dual, w⁺ = (1, 0):
    #   P(a2) = (1, 0) -> P(x) = (1, 0) -> (1/4, 3/4); contrastive: (3/8 - 1/4, 5/8 - 3/4) clamped = (1/8, 0)
    expected = torch.tensor([[[[5 / 16, 11 / 16]], [[1 / 8, 0.0]]]])
    assert maps.shape == (1, 2, 1, 2)
    assert torch.allclose(maps, expected, atol=1e-6)
    assert torch.allclose(excitation_maps(_hand_srae(), activation, 3.0), expected, atol=1e-6)  # scale cancels
    # a negative activation takes no mass: channel 1 at position 1 at -2 leaves channel 1's mass all on position 0
    signed = torch.tensor([[[[1.0, 3.0]], [[6.0, -2.0]]]])  # same x = (2, 2)
    concept0 = excitation_maps(_hand_srae(), signed, 1.0)[0, 0, 0]
    assert torch.allclose(concept0, torch.tensor([3 / 16 + 1 / 4, 9 / 16]), atol=1e-6)


def test_excitation_maps_of_a_fitted_space_are_sub_stochastic(spotwing, toy_model, toy_images):
    explanation = spotwing.explain(toy_images[:6])
    masses = explanation.masses
    assert masses.shape == (6, spotwing.k, 14, 14)
    assert float(masses.min()) >= 0 and float(masses.sum(dim=(2, 3)).max()) <= 1 + 1e-5
    assert float(masses.sum(dim=(2, 3)).max()) > 0.05  # not trivially zero
    assert torch.allclose(explanation.locality, locality(masses))


def test_locality_and_upsampling():
    one_hot = torch.zeros(1, 1, 10, 10)
    one_hot[0, 0, 3, 4] = 0.7
    uniform = torch.full((1, 1, 10, 10), 0.01)
    assert float(locality(one_hot)[0, 0]) == pytest.approx(1.0)
    assert float(locality(uniform)[0, 0]) == pytest.approx(0.1)
    assert float(locality(uniform, top=0.25)[0, 0]) == pytest.approx(0.25)
    assert float(locality(torch.zeros(1, 1, 10, 10))[0, 0]) == 0.0
    maps = torch.stack([one_hot[0, 0], torch.zeros(10, 10)]).unsqueeze(0)  # [1, 2, 10, 10]
    upsampled = upsample_maps(maps, (40, 30))
    assert upsampled.shape == (1, 2, 40, 30)
    assert float(upsampled[0, 0].max()) == pytest.approx(1.0) and float(upsampled.min()) >= 0.0
    assert float(upsampled[0, 1].abs().max()) == 0.0
