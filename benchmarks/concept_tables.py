"""The concept (XNN / SRAE) benchmark table of issue 6: feature extraction per image, training time for N images
(one attempt, and with the acceptance loop's retries), and explaining images, with peak memory and the fitted
space's held-out faithfulness.

Models: the toy classifier (112², toy images, target "goldcap") everywhere, and torchvision ResNet-50 at 224² with
random weights (toy images upsampled; its features are 2048-d, so the SRAE is 2048 → 800 → 100 → k) only on a
CUDA device: on these 2 CPU cores its dataset pass alone takes minutes. Random weights make ResNet-50's R² and
acceptance meaningless, so its rows report time and memory only.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
import torchvision

import xwidgets as xw
from meters import memory_kind, peak_memory, synchronize

__all__ = ["concept_section"]

TOY_SEED = 9610


def _clock(device: torch.device, fn):
    """``(seconds, value, peak bytes or None)`` of one call of ``fn`` (:func:`meters.peak_memory`)."""
    with peak_memory(device) as peak:
        start = time.perf_counter()
        value = fn()
        synchronize(device)
        seconds = time.perf_counter() - start
    return seconds, value, peak["bytes"]


def _time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"


def _memory(peak: int | None) -> str:
    return "n/a" if peak is None else f"{peak / 2**20:.0f} MiB"


def _fit_cells(space) -> str:
    holdout = space.metrics.get("holdout", {})
    return (
        f"{len(space.attempts)} | {'yes' if space.accepted else 'no'} | {holdout.get('r2', float('nan')):.2f} | "
        f"{int((space.mean_contributions > 0).sum())}"
    )


def _rows(
    name: str, model, images: torch.Tensor, target, device: torch.device, *, quality: bool, fit_sizes: tuple[int, ...]
) -> list[str]:
    rows = []
    count = images.shape[0]
    layer = "features" if name.startswith("toy") else "layer4"
    xw.concepts.extract_features(model, images[: model.max_batch], layer)  # warm-up
    seconds, features, peak = _clock(device, lambda: xw.concepts.extract_features(model, images, layer))
    rows.append(
        f"| {name} | feature extraction | {count} images | {_time(seconds)} | {_time(seconds / count)} | "
        f"– | – | – | – | {_memory(peak)} |"
    )
    for size in fit_sizes:
        subset = _subset(features, size)
        for label, retries in (("training, one attempt", 0), ("training, with retries (default 5)", 5)):
            seconds, space, peak = _clock(
                device, lambda: xw.concepts.fit(model, features=subset, target=target, retries=retries, seed=0)
            )
            cells = _fit_cells(space) if quality else f"{len(space.attempts)} | – | – | –"
            rows.append(
                f"| {name} | {label} | {size} images ({size - round(0.2 * size)} train) | {_time(seconds)} | "
                f"{_time(seconds / len(space.attempts))} per attempt | {cells} | {_memory(peak)} |"
            )
    space = xw.concepts.fit(model, features=features, target=target, retries=0, seed=0)
    for batch in (1, 16):
        space.explain(images[:batch])  # warm-up
        seconds, _, peak = _clock(device, lambda: space.explain(images[:batch]))
        rows.append(
            f"| {name} | explain (contributions + {space.k} maps) | B = {batch} | {_time(seconds)} | "
            f"{_time(seconds / batch)} | – | – | – | – | {_memory(peak)} |"
        )
    return rows


def _subset(features, size: int):
    return xw.concepts.Features(
        method=features.method,
        params={**features.params, "images": size},
        features=features.features[:size],
        logits=features.logits[:size],
        layer=features.layer,
        layer_shape=features.layer_shape,
        model_name=features.model_name,
        labels=features.labels,
    )


def concept_section(device: str, quick: bool = False) -> list[str]:
    """The section's markdown lines."""
    torch_device = torch.device(device)
    count = 110 if quick else 440
    data = xw.toy.dataset(count, seed=TOY_SEED)
    toy_images = data.images()
    toy = xw.toy.classifier(device=device)
    lines = [
        "## Concepts (XNN / SRAE) at defaults (k = 5, 80 epochs, batch 50, lr 3e-3, 20 % held out)",
        "",
        f"Peak memory: {memory_kind(torch_device)}. Training starts from cached features (no dataset pass). "
        "*Attempts*: training runs until the acceptance rule holds (at most 1 + retries). *R²*: the held-out "
        "R² of ŷ against the logit; *positive concepts*: concepts with a positive mean contribution.",
        "",
        "| model | step | N | wall | per image / attempt | attempts | accepted | held-out R² "
        "| positive concepts | peak memory |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    sizes = (count,) if quick else (220, 440)
    lines += _rows("toy classifier 112²", toy, toy_images, "goldcap", torch_device, quality=True, fit_sizes=sizes)
    if torch_device.type == "cuda":
        module = torchvision.models.resnet50(weights=None).eval()
        resnet = xw.Classifier(
            module,
            preprocessing=xw.core.Preprocessing(mean=xw.core.IMAGENET_MEAN, std=xw.core.IMAGENET_STD),
            device=device,
        )
        repeats = 1 if quick else 5
        pixels = F.interpolate(
            toy_images.repeat(repeats, 1, 1, 1), size=(224, 224), mode="bilinear", align_corners=False
        ).clamp(0, 1)
        lines += _rows(
            "ResNet-50 224² (random weights)",
            resnet,
            pixels,
            0,
            torch_device,
            quality=False,
            fit_sizes=(pixels.shape[0],),
        )
    else:
        lines += ["", "ResNet-50 rows run only on a CUDA device (`python benchmarks/run.py --only concepts` there)."]
    lines += [
        "",
        f"Toy world: {count} images, 11 species; seed {TOY_SEED}. The training rows' spread between "
        "attempts is the acceptance loop at work: a failed attempt costs a whole training run.",
    ]
    return lines
