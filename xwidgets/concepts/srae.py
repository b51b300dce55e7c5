"""The Sparse Reconstruction Autoencoder (SRAE) of XNN (Qi, Khorram, Li; arXiv 1709.05360), re-implemented from
the paper; the mathematics, defaults and departures with their measurements: ``docs/concepts.md``.

Architecture, for features ``x`` (``[B, D]``) and k concepts:

- encoder ``D → h1 → h2 → k``, a ReLU after every layer and dropout (p = 0.02) after the first;
- decoder mirroring it, ``k → h2 → h1 → D``, with ReLUs;
- a linear head ``ŷ = wᵀz + b`` that regresses the class **logit** ``y`` from the concepts ``z``.

Loss on a batch of B samples (:func:`srae_loss`)::

    L = α_pred · mean_i (ŷ_i − y_i)²                                  faithfulness
      + α_rec  · mean_j log(1 + q · mean_i (x̂_ij − x_ij)²)            log-penalty reconstruction
      + α_pt   · PT(z ⊙ w)                                            pull-away on the contributions
    PT(Z) = 1/(B(B−1)) Σ_{i≠i'} cos(Z_i, Z_i')²                       along images (default)
          = 1/(k(k−1)) Σ_{j≠j'} cos(Z_:j, Z_:j')²                     along features

The log penalty makes it cheap to fit some feature dimensions badly: the code reconstructs the part of the
feature space the prediction needs. The pull-away acts on the per-concept contributions ``z_k·w_k`` to the logit,
not on ``z``. Cosines use a 1e-8 offset, so the all-zero rows of dead ReLUs give no NaN.

Training (:func:`train_srae`): greedy layer-wise pretraining of three plain autoencoders (MSE) and a linear
regressor, their weights copied into the stacked SRAE, then fine-tuning with the loss above (Adam, weight decay
1e-4, the learning rate ×0.1 every 40 epochs).

Acceptance (:func:`acceptance`) has two parts, and an attempt must pass both:

- the official contribution rule: the mean contribution over the training samples is positive for at least two
  concepts, the second largest at least 0.3× the largest (with k = 1, one positive concept);
- faithfulness, judged on images the attempt did not train on (``fit`` uses its held-out images): the R² of ŷ
  against the logit at least ``min_r2`` and the decision agreement at least ``min_agreement``.

A failed attempt retrains from a new seed (a fixed function of the fit's seed) with α_rec ×= 1.2 and α_pt ×= 0.8, at
most ``retries`` times. The kept attempt is the first accepted one, else the most faithful (faithful ones first,
then the highest R², then the contribution rule); every attempt's record says why it passed or failed.

Departures from the vendored official code (why, with measurements:
``docs/concepts.md#departures-from-the-official-code``): faithfulness is part of acceptance; against the dead-ReLU
collapse (the pull-away term switching concepts off), each encoder layer's bias is centred so every unit starts on
for half the training inputs, and α_pt ramps up from 0 over ``pt_warmup`` epochs; the features are divided by their
root mean square so ``q`` means the same for every network; a batch of one keeps its shapes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SRAE",
    "srae_loss",
    "pull_away",
    "log_penalty",
    "train_srae",
    "Training",
    "default_hidden",
    "ACCEPT_RATIO",
    "acceptance",
    "passes_contribution_rule",
    "is_faithful",
]

#: The acceptance rule's ratio of the second-largest to the largest mean contribution.
ACCEPT_RATIO = 0.3
_DECAY_EVERY = 40


def default_hidden(dimension: int) -> tuple[int, int]:
    """Hidden widths for ``dimension`` input features: the official (800, 100) for 4096-d fc7 features, and
    (min(800, 2D), min(100, D)) for smaller layers (a 64-channel layer gets (128, 64))."""
    return min(800, 2 * dimension), min(100, dimension)


class SRAE(nn.Module):
    """Encoder, mirrored decoder and linear head. ``forward(x)`` returns ``(z [B, k], x̂ [B, D], ŷ [B])``."""

    def __init__(self, dimension: int, k: int, hidden: tuple[int, int], dropout: float = 0.02):
        super().__init__()
        h1, h2 = hidden
        self.encoder = nn.ModuleList([nn.Linear(dimension, h1), nn.Linear(h1, h2), nn.Linear(h2, k)])
        self.decoder = nn.ModuleList([nn.Linear(k, h2), nn.Linear(h2, h1), nn.Linear(h1, dimension)])
        self.head = nn.Linear(k, 1)
        self.dropout = nn.Dropout(dropout)

    @property
    def encoder_layers(self) -> list[nn.Linear]:
        """The encoder's three linear layers, input side first (:attr:`encoder`, typed)."""
        return [cast(nn.Linear, layer) for layer in self.encoder]

    @property
    def decoder_layers(self) -> list[nn.Linear]:
        """The decoder's three linear layers, concept side first (:attr:`decoder`, typed)."""
        return [cast(nn.Linear, layer) for layer in self.decoder]

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's activations ``[x, a1, a2, z]`` (after each ReLU; dropout after the first in training)."""
        states = [x]
        for index, layer in enumerate(self.encoder):
            value = F.relu(layer(states[-1]))
            states.append(self.dropout(value) if index == 0 else value)
        return states

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``x̂`` ``[B, D]`` of the features from the concepts."""
        value = z
        for layer in self.decoder:
            value = F.relu(layer(value))
        return value

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encode(x)[-1]
        return z, self.decode(z), self.head(z).squeeze(-1)

    def contributions(self, z: torch.Tensor) -> torch.Tensor:
        """Per-concept contributions ``z_k · w_k`` to the logit, ``[B, k]``; they sum with the bias to ŷ."""
        return z * self.head.weight[0]


def _cosine_matrix(rows: torch.Tensor) -> torch.Tensor:
    unit = rows / (rows.norm(dim=1, keepdim=True) + 1e-8)
    return unit @ unit.T


def pull_away(contributions: torch.Tensor, along: str = "images") -> torch.Tensor:
    """The pull-away term: the mean squared cosine between distinct rows (``along="images"``: the B contribution
    vectors) or columns (``"features"``: the k concepts) of ``contributions [B, k]``. 0 when there is one."""
    rows = contributions if along == "images" else contributions.T
    count = rows.shape[0]
    if count < 2:
        return contributions.sum() * 0.0
    cosines = _cosine_matrix(rows)
    off_diagonal = cosines.pow(2).sum() - cosines.diagonal().pow(2).sum()
    return off_diagonal / (count * (count - 1))


def log_penalty(reconstruction: torch.Tensor, features: torch.Tensor, q: float) -> torch.Tensor:
    """``mean_j log(1 + q · mean_i (x̂_ij − x_ij)²)``: reconstruction that is cheap to fail on a few dimensions."""
    return torch.log1p(q * (reconstruction - features).pow(2).mean(dim=0)).mean()


def srae_loss(model: SRAE, x: torch.Tensor, y: torch.Tensor, weights: dict) -> tuple[torch.Tensor, dict]:
    """The SRAE loss of a batch and its three terms (detached 0-d tensors, so no host sync per step).

    ``weights`` holds alpha_pred, alpha_rec, alpha_pt, q and pull_away ("images" or "features")."""
    z, reconstruction, prediction = model(x)
    faithful = F.mse_loss(prediction, y)
    rebuild = log_penalty(reconstruction, x, weights["q"])
    orthogonal = pull_away(model.contributions(z), weights["pull_away"])
    total = weights["alpha_pred"] * faithful + weights["alpha_rec"] * rebuild + weights["alpha_pt"] * orthogonal
    return total, {
        "faithfulness": faithful.detach(),
        "reconstruction": rebuild.detach(),
        "pull_away": orthogonal.detach(),
    }


@dataclasses.dataclass
class Training:
    """What :func:`train_srae` returns: the kept model, whether it passed the acceptance rule, and one record per
    attempt (``"kept"`` marks the one returned)."""

    model: SRAE
    accepted: bool
    attempts: list[dict]


def _batches(count: int, batch: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(count, generator=generator)
    return [order[i : i + batch] for i in range(0, count, batch)]


def _centre_bias(layer: nn.Linear, inputs: torch.Tensor) -> None:
    """Set ``layer``'s bias so that each unit's pre-activation has median 0 over ``inputs [N, D_in]``: every unit
    starts active on half the training samples, none on all or none of them (see the module docstring)."""
    with torch.no_grad():
        layer.bias.copy_(-(inputs @ layer.weight.T).median(dim=0).values)


def _pretrain(model: SRAE, x: torch.Tensor, y: torch.Tensor, settings: dict, generator: torch.Generator, tick) -> None:
    """Greedy layer-wise pretraining: three plain autoencoders (MSE) and the head as a linear regressor. Each
    encoder layer's bias is centred on its inputs first."""
    inputs = x
    for encoder, decoder in zip(model.encoder_layers, reversed(model.decoder_layers)):
        _centre_bias(encoder, inputs)
        optimiser = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=settings["lr"])
        for _ in range(settings["pretrain_epochs"]):
            for rows in _batches(len(inputs), settings["batch_size"], generator):
                tick()
                code = F.relu(encoder(inputs[rows]))
                loss = F.mse_loss(F.relu(decoder(code)), inputs[rows])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        with torch.no_grad():
            inputs = F.relu(encoder(inputs))
    optimiser = torch.optim.Adam(model.head.parameters(), lr=settings["lr"])
    for _ in range(settings["pretrain_epochs"]):
        for rows in _batches(len(inputs), settings["batch_size"], generator):
            tick()
            loss = F.mse_loss(model.head(inputs[rows]).squeeze(-1), y[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()


def pull_away_weight(alpha_pt: float, epoch: int, warmup: int) -> float:
    """α_pt at fine-tuning ``epoch`` (0-based): ramped linearly from 0 over the first ``warmup`` epochs."""
    return alpha_pt if warmup <= 0 else alpha_pt * min(1.0, epoch / warmup)


def _fine_tune(
    model: SRAE, x: torch.Tensor, y: torch.Tensor, settings: dict, weights: dict, generator: torch.Generator, tick
) -> None:
    optimiser = torch.optim.Adam(model.parameters(), lr=settings["lr"], weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=_DECAY_EVERY, gamma=0.1)
    for epoch in range(settings["epochs"]):
        current = {**weights, "alpha_pt": pull_away_weight(weights["alpha_pt"], epoch, settings["pt_warmup"])}
        for rows in _batches(len(x), settings["batch_size"], generator):
            tick()
            loss, _ = srae_loss(model, x[rows], y[rows], current)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        schedule.step()


def mean_contributions(model: SRAE, x: torch.Tensor) -> torch.Tensor:
    """The mean over samples of each concept's contribution ``z_k · w_k``, ``[k]`` (eval mode, no gradients)."""
    with torch.no_grad():
        return model.contributions(model.encode(x)[-1]).mean(dim=0)


def passes_contribution_rule(means: torch.Tensor) -> bool:
    """The official part of acceptance, on mean contributions ``[k]``: at least two positive, the second largest at
    least :data:`ACCEPT_RATIO` × the largest (k = 1: the one concept positive)."""
    positive = means[means > 0].sort(descending=True).values
    if means.numel() == 1:
        return positive.numel() == 1
    return positive.numel() >= 2 and bool(positive[1] >= ACCEPT_RATIO * positive[0])


def is_faithful(faithfulness: dict, settings: dict) -> bool:
    """The faithfulness part of acceptance: ``faithfulness["r2"] >= settings["min_r2"]`` and
    ``faithfulness["decision_agreement"] >= settings["min_agreement"]``."""
    return faithfulness["r2"] >= settings["min_r2"] and faithfulness["decision_agreement"] >= settings["min_agreement"]


def acceptance(means: torch.Tensor, faithfulness: dict, settings: dict) -> dict:
    """The verdict on one attempt: ``{"contribution_rule", "faithful", "accepted"}`` (bools; accepted needs both).

    Args:
        means: ``[k]`` mean contributions over the training samples.
        faithfulness: ``{"r2": float, "decision_agreement": float}`` on samples the attempt did not train on.
        settings: holds ``min_r2`` and ``min_agreement``.
    """
    contribution_rule = passes_contribution_rule(means)
    faithful = is_faithful(faithfulness, settings)
    return {"contribution_rule": contribution_rule, "faithful": faithful, "accepted": contribution_rule and faithful}


def _rank(record: dict) -> tuple:
    """Accepted attempts first, then faithful ones, then by R², then the contribution rule."""
    return record["accepted"], record["faithful"], record["r2"], record["contribution_rule"]


def attempt_seed(seed: int, attempt: int) -> int:
    """The seed of attempt ``attempt`` (0-based) of a fit seeded ``seed``: a new one per attempt, so a retry does
    not repeat a collapsed initialisation."""
    return seed + 7919 * attempt


def _train_attempt(
    x: torch.Tensor, y: torch.Tensor, k: int, hidden: tuple[int, int], settings: dict, weights: dict, seed: int, tick
) -> SRAE:
    generator = torch.Generator().manual_seed(seed)
    torch_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    # the initialisation and dropout draw from torch's global generator: seed it inside a fork, which restores
    # the caller's random state afterwards
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(torch_seed)
        model = SRAE(x.shape[1], k, hidden, settings["dropout"]).to(x.device)
        model.train()
        try:
            _pretrain(model, x, y, settings, generator, tick)
            _fine_tune(model, x, y, settings, weights, generator, tick)
        finally:
            model.eval()
    return model


def train_srae(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    k: int,
    hidden: tuple[int, int],
    settings: dict,
    seed: int,
    judge: Callable[[SRAE], dict],
    progress,
) -> Training:
    """Train an SRAE on features ``x [N, D]`` (already scaled) and logits ``y [N]`` with the acceptance loop.

    Args:
        settings: the resolved :data:`~xwidgets.concepts.space.CONCEPT_PARAMS` (epochs, lr, batch_size,
            pretrain_epochs, pt_warmup, retries, dropout, the loss weights and the acceptance thresholds).
        seed: attempt ``a`` is seeded :func:`attempt_seed` ``(seed, a)``.
        judge: measures a trained attempt's faithfulness on samples it did not train on; returns at least
            ``{"r2": float, "decision_agreement": float}``.
        progress: a :class:`~xwidgets.core.runner.Progress`; it is checked every optimisation step, so a cancel
            stops within one.
    """
    weights = {name: settings[name] for name in ("alpha_pred", "alpha_rec", "alpha_pt", "q", "pull_away")}
    attempts_allowed = settings["retries"] + 1
    steps_per_epoch = math.ceil(len(x) / settings["batch_size"])
    steps = steps_per_epoch * (4 * settings["pretrain_epochs"] + settings["epochs"]) * attempts_allowed
    done = [0]

    def tick() -> None:
        progress.check()
        done[0] += 1
        if done[0] % 10 == 0:
            progress.report(done[0] / steps, f"training attempt {len(attempts) + 1}")

    attempts: list[dict] = []
    best: tuple[tuple, int, SRAE] | None = None
    for attempt in range(attempts_allowed):
        model = _train_attempt(x, y, k, hidden, settings, weights, attempt_seed(seed, attempt), tick)
        with torch.no_grad():
            _, terms = srae_loss(model, x, y, weights)
        means = mean_contributions(model, x)
        faithfulness = judge(model)
        verdict = acceptance(means, faithfulness, settings)
        attempts.append(
            {
                "attempt": attempt,
                "seed": attempt_seed(seed, attempt),
                "alpha_rec": weights["alpha_rec"],
                "alpha_pt": weights["alpha_pt"],
                **verdict,
                "r2": float(faithfulness["r2"]),
                "decision_agreement": float(faithfulness["decision_agreement"]),
                "mean_contributions": [round(float(v), 6) for v in means],
                **{name: round(float(value), 6) for name, value in terms.items()},
            }
        )
        if best is None or _rank(attempts[-1]) > best[0]:
            best = (_rank(attempts[-1]), attempt, model)
        if verdict["accepted"]:
            break
        weights["alpha_rec"] *= 1.2
        weights["alpha_pt"] *= 0.8
    progress.report(1.0, "trained")
    assert best is not None  # retries >= 0, so at least one attempt ran
    _, kept, model = best
    for record in attempts:
        record["kept"] = record["attempt"] == kept
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return Training(model, attempts[kept]["accepted"], attempts)
