"""Reproduce the shipped toy models: ``python -m xwidgets.toy.train`` (about 5 minutes on 2 CPU cores).

Trains the species classifier and the attribute embedder on freshly rendered samples (training seed 1,
validation seed 2; the tests use other seeds) and writes ``xwidgets/toy/weights/{classifier,embedder}.pt``.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..core.atomic import write_atomic
from .models import EMBEDDING_DIM, TOY_PREPROCESSING, WEIGHTS, ToyCNN, attribute_targets
from .species import ATTRIBUTES, SPECIES
from .world import ToyWorld

__all__ = ["render_set", "train_classifier", "train_embedder", "main"]

TRAIN_SEED, VALIDATION_SEED = 1, 2


def _render_chunk(args: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start, stop, seed = args
    torch.set_num_threads(1)  # one process per core; more threads per process only contend
    world = ToyWorld()
    base = np.random.default_rng(seed).integers(0, 2**31, size=stop)
    samples = [world.sample(i % len(world.species), int(base[i])) for i in range(start, stop)]
    return (
        np.stack([s.image for s in samples]),
        np.array([s.species for s in samples]),
        np.stack([attribute_targets(s.attributes).numpy() for s in samples]),
    )


def render_set(n: int, seed: int, workers: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render ``n`` samples exactly as ``ToyWorld().samples(n, seed)`` would, in ``workers`` processes.

    Returns uint8 images ``[n, 3, H, W]``, species ``[n]`` and attribute indices ``[n, len(ATTRIBUTES)]``.
    """
    bounds = np.linspace(0, n, workers * 4 + 1).astype(int)
    chunks = [(int(a), int(b), seed) for a, b in itertools.pairwise(bounds) if b > a]
    with get_context("spawn").Pool(workers) as pool:
        parts = pool.map(_render_chunk, chunks)
    images = torch.from_numpy(np.concatenate([p[0] for p in parts])).permute(0, 3, 1, 2).contiguous()
    return (
        images,
        torch.from_numpy(np.concatenate([p[1] for p in parts])),
        torch.from_numpy(np.concatenate([p[2] for p in parts])),
    )


def _normalise(images: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(TOY_PREPROCESSING.mean).view(1, 3, 1, 1)
    std = torch.tensor(TOY_PREPROCESSING.std).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def _fit(
    model: torch.nn.Module,
    images: torch.Tensor,
    loss_fn: Callable,
    epochs: int,
    report: Callable,
    name: str,
    batch: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
) -> None:
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(images) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    step = 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for i in range(len(images) // batch):
            rows = order[i * batch : (i + 1) * batch]
            loss = loss_fn(model(_normalise(images[rows])), rows)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach())
            step += 1
        report(f"{name}: epoch {epoch + 1}/{epochs}, mean loss {total / (len(images) // batch):.4f}")
    model.eval()


@torch.no_grad()
def _predict(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(_normalise(images[i : i + 256])) for i in range(0, len(images), 256)])


def train_classifier(train, validation, epochs: int, report: Callable) -> tuple[ToyCNN, float]:
    """Train the species classifier; return it and its validation accuracy."""
    images, species, _ = train
    torch.manual_seed(0)
    model = ToyCNN(len(SPECIES))
    _fit(
        model,
        images,
        lambda out, rows: F.cross_entropy(out, species[rows], label_smoothing=0.05),
        epochs,
        report,
        "classifier",
    )
    accuracy = float((_predict(model, validation[0]).argmax(1) == validation[1]).float().mean())
    return model, accuracy


def train_embedder(train, validation, epochs: int, report: Callable) -> tuple[ToyCNN, float]:
    """Train the embedder: linear attribute heads on the L2-normalised embedding. Returns it and the mean
    validation attribute accuracy."""
    images, _, attributes = train
    torch.manual_seed(1)
    model = ToyCNN(EMBEDDING_DIM)
    sizes = [len(v) for v in ATTRIBUTES.values()]
    heads = torch.nn.Linear(EMBEDDING_DIM, sum(sizes))
    scale = 10.0

    def loss_fn(out, rows):
        logits = heads(scale * F.normalize(out, dim=1)).split(sizes, dim=1)
        return sum(F.cross_entropy(logit, attributes[rows, k]) for k, logit in enumerate(logits)) / len(sizes)

    wrapper = torch.nn.ModuleDict({"model": model, "heads": heads})
    wrapper.forward = model.forward  # the optimiser must see the heads too
    _fit(wrapper, images, loss_fn, epochs, report, "embedder")
    with torch.no_grad():
        logits = heads(scale * F.normalize(_predict(model, validation[0]), dim=1)).split(sizes, dim=1)
        accuracy = float(
            torch.stack(
                [(logit.argmax(1) == validation[2][:, k]).float().mean() for k, logit in enumerate(logits)]
            ).mean()
        )
    return model, accuracy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the shipped toy models.")
    parser.add_argument("--train", type=int, default=11000, help="training samples")
    parser.add_argument("--validation", type=int, default=1100, help="validation samples")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    start = time.perf_counter()

    def report(message: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f} s] {message}", flush=True)

    report(f"rendering {args.train} training and {args.validation} validation samples")
    train = render_set(args.train, TRAIN_SEED)
    validation = render_set(args.validation, VALIDATION_SEED)
    report("rendered")
    model, accuracy = train_classifier(train, validation, args.epochs, report)
    report(f"classifier validation accuracy {accuracy:.4f}")
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "classifier.pt", lambda handle: torch.save(model.state_dict(), handle))
    embed, attribute_accuracy = train_embedder(train, validation, args.epochs, report)
    report(f"embedder validation attribute accuracy {attribute_accuracy:.4f}")
    write_atomic(args.out / "embedder.pt", lambda handle: torch.save(embed.state_dict(), handle))
    report(f"wrote {args.out}")


if __name__ == "__main__":
    main()
