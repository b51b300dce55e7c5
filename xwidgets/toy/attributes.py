"""The toy embedder's attribute model (SANE's attribute head, :mod:`xwidgets.similarity.attributes`): the toy
world's worded attributes as labels, their exclusive groups, the shipped model and the script that trains it.

    import xwidgets as xw
    model = xw.toy.attribute_model()                 # shipped, on xw.toy.embedder()
    prediction = model.predict(images)               # scores [B, A], confidences [B, A], maps [B, A, 4, 4]

Reproduce the shipped file with ``python -m xwidgets.toy.attributes``. The recipe departs from SANE's, measured
on the toy world:

* SANE's optimiser settings (lr 5e-4 × 0.985 per epoch, batch 256, 300 epochs) on 1,500 images left the head
  undertrained: held-out mAP 0.49. With :data:`ATTRIBUTE_TRAINING` (lr 5e-3 × 0.95 per epoch, batch 128, 60 epochs)
  on 3,000 images it is 0.69 (0.13 is chance). The loss hardly changes the mAP: in a side run on the same 3,000
  images (lr 5e-3, cosine schedule, 60 epochs; 600 fresh test images) BCE gave 0.729 and SANE's loss 0.731.
* For explaining pairs the loss matters little too. On 2 × 40 fresh pairs sharing one worded attribute, ranking by
  the smaller of the two images' scores put the shared attribute in the top 3 for 0.80 of the pairs with the BCE
  head's sigmoid scores and 0.78 with the SANE head's softmax scores (BCE is the default: each score is then the
  attribute's own probability, not a share of the other attributes'). What matters is to read the scores:
  dividing them by the calibration thresholds (``confidences``) dropped the rate to 0.38 and 0.28 (a threshold
  below the typical score lifts an attribute the model seldom scores high, true or not).
* No saliency term (``lambda_h`` 0), for the reason in :mod:`xwidgets.similarity.attributes`' note on it; the SANE
  recipe stays available (``loss="sane"``, ``lambda_h=5e-3``, ``saliency_images=320``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch

from ..core.errors import invalid
from ..core.models import Embedder
from ..core.runner import as_progress, shows_progress
from ..core.targets import similarity_to
from ..heatmaps.baselines import rise
from ..similarity.attributes import AttributeModel, train_attributes
from .models import WEIGHTS, embedder
from .species import ATTRIBUTES
from .world import condition_phrase, dataset

__all__ = [
    "ATTRIBUTE_WEIGHTS",
    "ATTRIBUTE_TRAINING",
    "attribute_labels",
    "attribute_groups",
    "attribute_model",
    "train_attribute_model",
]

#: The shipped attribute model of the toy embedder (:func:`train_attribute_model` writes it).
ATTRIBUTE_WEIGHTS = WEIGHTS / "attributes.xwr"

#: The shipped model's training settings (see the module docstring for the measured reasons).
ATTRIBUTE_TRAINING = {"loss": "bce", "lambda_h": 0.0, "lr": 5e-3, "lr_decay": 0.95, "epochs": 60, "batch_size": 128}


def attribute_labels(samples: Sequence) -> tuple[list[str], torch.Tensor]:
    """The toy world's worded attributes and which samples show them.

    Ids are ``"part.attribute=value"`` for every value that captions have words for
    (:func:`~xwidgets.toy.condition_phrase` is not None): a crest's presence and the "plain" patterns are left
    out. A crest's colour counts only when the sample has a crest (an absent crest shows no colour).

    Args:
        samples: toy samples (a :class:`~xwidgets.toy.ToyDataset` or a sequence of ``ToySample``).

    Returns:
        ``(ids, labels)``: the A ids in :data:`~xwidgets.toy.ATTRIBUTES` order, and ``[N, A]`` bool labels.
    """
    samples = getattr(samples, "samples", samples)
    if (
        isinstance(samples, (str, bytes))
        or not isinstance(samples, Sequence)
        or not samples
        or any(not isinstance(getattr(s, "attributes", None), dict) for s in samples)
    ):
        raise invalid("samples", type(samples).__name__, "a non-empty sequence of toy samples (xw.toy.dataset)")
    ids = [
        f"{key}={value}"
        for key, values in ATTRIBUTES.items()
        for value in values
        if condition_phrase(key, value) is not None
    ]
    position = {a: i for i, a in enumerate(ids)}
    labels = torch.zeros(len(samples), len(ids), dtype=torch.bool)
    for n, sample in enumerate(samples):
        for key, value in sample.attributes.items():
            if key == "crest.color" and sample.attributes.get("crest.shape") != "present":
                continue
            index = position.get(f"{key}={value}")
            if index is not None:
                labels[n, index] = True
    return ids, labels


def attribute_groups(ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """The exclusive groups of toy attribute ids (``"part.attribute=value"``): an id's group is its
    ``"part.attribute"``. Open groups: those with a value that has no words (a "plain" pattern), and the crest's
    colour (a bird may have no crest). Returns ``(groups, open_groups)`` for
    :class:`~xwidgets.similarity.attributes.AttributeModel`."""
    groups = [a.split("=", 1)[0] for a in ids]
    open_groups = sorted(
        {
            g
            for g in groups
            if g == "crest.color" or (g in ATTRIBUTES and any(condition_phrase(g, v) is None for v in ATTRIBUTES[g]))
        }
    )
    return groups, open_groups


def attribute_model() -> AttributeModel:
    """The shipped attribute model of the toy embedder (``xwidgets/toy/weights/attributes.xwr``), with
    :func:`xw.toy.embedder() <xwidgets.toy.embedder>` attached so
    :meth:`~xwidgets.similarity.attributes.AttributeModel.predict` needs only images, and its exclusive groups
    (:func:`attribute_groups`; the shipped file predates them)."""
    model = AttributeModel.load(ATTRIBUTE_WEIGHTS)
    if not model.groups:
        model.groups, model.open_groups = attribute_groups(model.attributes)
    model.embedder = embedder()
    return model


@shows_progress("train_attribute_model")
def train_attribute_model(
    path: str | Path | None = ATTRIBUTE_WEIGHTS,
    n: int = 3000,
    seed: int = 3,
    *,
    saliency_images: int = 0,
    partners: int = 2,
    masks: int = 400,
    progress=True,
    **params,
) -> AttributeModel:
    """Train the toy embedder's attribute model the way the shipped file was made, and write it to ``path``.

    Steps: render ``n`` toy images (``xw.toy.dataset(n, seed)``; the tests use other seeds); label them with
    :func:`attribute_labels`; train the head (:func:`~xwidgets.similarity.train_attributes`) with
    :data:`ATTRIBUTE_TRAINING` over the defaults. With ``saliency_images`` > 0 (SANE's recipe; pass ``lambda_h``
    too), that many images, drawn at random, first get RISE similarity saliency maps (fixed reference, grid 8,
    frequency normalisation, ``masks`` masks) against ``partners`` partners, each sharing one attribute of the image
    drawn at random.

    Args:
        path: where to write the model (default the shipped file); None writes nothing.
        n, seed: the number of images and the dataset's seed.
        saliency_images, partners, masks: how many images get saliency maps, against how many partners, with how
            many RISE masks (0 images: no saliency maps, as shipped).
        progress: a :class:`~xwidgets.core.runner.Progress` or ``callback(fraction, message)``.
        params: :data:`~xwidgets.similarity.ATTRIBUTE_PARAMS` that replace :data:`ATTRIBUTE_TRAINING`'s.
    """
    progress = as_progress(progress)
    started = time.perf_counter()
    model = embedder()
    data = dataset(n, seed=seed)
    ids, labels = attribute_labels(data.samples)
    images = data.images()
    saliency, pairs = None, 0
    if saliency_images > 0:
        saliency, pairs = _saliency_maps(
            model, images, labels, seed, saliency_images, partners, masks, progress.part(0.0, 0.85)
        )
    phrases = [condition_phrase(*a.split("=")) for a in ids]
    saliency_seconds = time.perf_counter() - started
    trained = train_attributes(
        model,
        images,
        labels,
        ids,
        saliency=saliency,
        seed=seed,
        phrases=phrases,
        progress=progress.part(0.85 if saliency_images > 0 else 0.0, 1.0),
        **{**ATTRIBUTE_TRAINING, **params},
    )
    trained.groups, trained.open_groups = attribute_groups(ids)
    trained.params = {
        **trained.params,
        "toy": {
            "n": n,
            "dataset_seed": seed,
            "saliency_images": saliency_images,
            "partners": partners,
            "saliency_maps_total": pairs,
            "rise_masks": masks,
            "rise_grid": 8,
        },
    }
    trained.timings = {
        "render_and_saliency": round(saliency_seconds, 2),
        **trained.timings,
        "total": round(time.perf_counter() - started, 2),
    }
    if path is not None:
        trained.save(path)
    return trained


def _partners(labels: torch.Tensor, chosen: torch.Tensor, partners: int, generator: torch.Generator) -> list[list[int]]:
    """For each chosen image, ``partners`` other images each sharing a randomly drawn attribute of it."""
    result = []
    for index in chosen.tolist():
        own = labels[index].nonzero()[:, 0]
        picks: list[int] = []
        for _ in range(partners):
            attribute = int(own[torch.randint(len(own), (1,), generator=generator)])
            pool = labels[:, attribute].nonzero()[:, 0]
            pool = pool[(pool != index) & ~torch.isin(pool, torch.tensor(picks, dtype=torch.long))]
            if len(pool):
                picks.append(int(pool[torch.randint(len(pool), (1,), generator=generator)]))
        result.append(picks)
    return result


def _saliency_maps(
    model: Embedder,
    images: torch.Tensor,
    labels: torch.Tensor,
    seed: int,
    count: int,
    partners: int,
    masks: int,
    progress,
) -> tuple[list, int]:
    """RISE similarity maps of ``count`` random images against partners sharing an attribute: a list of N entries
    (None or ``[J, H, W]``) for :func:`~xwidgets.similarity.train_attributes`, and the number of maps."""
    n = len(images)
    generator = torch.Generator().manual_seed(seed + 1)  # not the stream train_attributes splits with
    chosen = torch.randperm(n, generator=generator)[: min(count, n)]
    pairs = [
        (int(i), p) for i, picks in zip(chosen.tolist(), _partners(labels, chosen, partners, generator)) for p in picks
    ]
    maps: list[list[torch.Tensor]] = [[] for _ in range(n)]
    chunk = 32
    for lo in range(0, len(pairs), chunk):
        batch = pairs[lo : lo + chunk]
        queries = images[[q for q, _ in batch]]
        references = images[[r for _, r in batch]]
        result = rise(
            model,
            queries,
            target=similarity_to(model, references),
            seed=seed + lo,
            masks=masks,
            grid=8,
            normalise_by="frequency",
            progress=progress.part(lo / len(pairs), (lo + len(batch)) / len(pairs)),
        )
        for (query, _), saliency in zip(batch, result.saliency):
            maps[query].append(saliency[0])
    return [torch.stack(m) if m else None for m in maps], len(pairs)


def main(argv: list[str] | None = None) -> None:
    """``python -m xwidgets.toy.attributes [--out PATH] [--threads N]``: train and write the shipped model."""
    import argparse

    parser = argparse.ArgumentParser(description="Train the toy embedder's attribute model and write it.")
    parser.add_argument(
        "--out", default=str(ATTRIBUTE_WEIGHTS), help="where to write the model (default the shipped file)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's choice)")
    arguments = parser.parse_args(argv)
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    last = [-1.0]

    def report(fraction: float, message: str) -> None:
        if fraction - last[0] >= 0.05 or fraction == 1.0:
            last[0] = fraction
            print(f"{fraction:5.0%} {message}", flush=True)

    trained = train_attribute_model(arguments.out, progress=report)
    print("wrote", arguments.out, f"({Path(arguments.out).stat().st_size / 1e3:.0f} kB)")
    print("timings", trained.timings)
    print("metrics", trained.metrics)


if __name__ == "__main__":
    main()
