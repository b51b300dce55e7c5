"""The SAG benchmark table of issue 5: wall time per image at defaults, single and batched, with the forward and
forward + backward images the model ran (counted by hooks), the beam levels, the roots found and peak memory.

Models: the toy classifier (112², toy images) everywhere, and torchvision ResNet-50 at 224² with random weights
(cost depends on the number of levels, which random weights do not make representative, so its row says how
many levels it ran) only on a CUDA device: on these 2 CPU cores one such SAG takes minutes.
"""

from __future__ import annotations

import numpy as np
import torch
import torchvision

import xwidgets as xw
from meters import BarePasses, measure, memory_kind

__all__ = ["sag_section"]

TOY_SEED = 9300


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.2f} ms"


def _row(name: str, model, images, batch: int, warm_up: bool) -> tuple[str, float]:
    results = []
    measurement = measure(model, lambda: results.append(xw.sag.sag(model, images[:batch])), batch, warm_up=warm_up)
    result = results[-1]
    passes = measurement.passes
    bare = BarePasses(model, tuple(result.images.shape[-2:]), repeats=3, warm_up=warm_up)
    limit = bare.limit(passes, model.max_batch) / batch
    roots = np.mean([len(r) for r in result.roots])
    memory = "n/a" if measurement.peak_bytes is None else f"{measurement.peak_bytes / 2**20:.0f} MiB"
    row = (
        f"| {name} | {batch} | {_ms(measurement.per_image)} | {passes.forward_only_images / batch:.0f} | "
        f"{passes.backward_images / batch:.0f} | {result.stats['levels']} | {roots:.1f} | {memory} | "
        f"{_ms(limit)} | {measurement.per_image / limit:.2f} |"
    )
    return row, measurement.per_image


def sag_section(device: str, quick: bool = False) -> list[str]:
    """The section's markdown lines; targets checked against the toy rows (and ResNet-50 on CUDA)."""
    samples = xw.toy.ToyWorld().samples(2 if quick else 8, seed=TOY_SEED)
    toy_images = np.stack([s.image for s in samples])
    toy = xw.toy.classifier(device=device)
    lines = [
        "## SAG at defaults (7×7 grid, threshold 0.9, beam 3 × 15 successors, 10 roots, black baseline)",
        "",
        f"Peak memory: {memory_kind(torch.device(device))}. *Bare model per image*: the same forward-only and "
        "fwd+bwd images through the bare module at the model's micro-batch size; *ratio* = wall / bare.",
        "",
        "| model | B | wall per image | forward-only images per image | fwd+bwd images per image "
        "| beam levels (max over images) | roots per image | peak memory | bare model per image | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    toy_times = {}
    for batch in (1, 2) if quick else (1, 8):
        row, seconds = _row("toy classifier 112²", toy, toy_images, batch, warm_up=True)
        lines.append(row)
        toy_times[batch] = seconds
    resnet_seconds = None
    if torch.device(device).type == "cuda":
        module = torchvision.models.resnet50(weights=None).eval()
        resnet = xw.Classifier(
            module,
            preprocessing=xw.core.Preprocessing(mean=xw.core.IMAGENET_MEAN, std=xw.core.IMAGENET_STD),
            device=device,
        )
        images = torch.rand(4, 3, 224, 224, generator=torch.Generator().manual_seed(TOY_SEED))
        for batch in (1, 4):
            row, seconds = _row("ResNet-50 224² (random weights)", resnet, images, batch, warm_up=True)
            lines.append(row)
            resnet_seconds = resnet_seconds if batch != 1 else seconds
    lines += [
        "",
        "Targets (issue 5):",
        f"- toy classifier on this CPU, one image: {_ms(toy_times[1])} (target ≤ 2 s): "
        f"{'met' if toy_times[1] <= 2.0 else '**not met**'}.",
    ]
    if resnet_seconds is not None:
        lines.append(
            f"- ResNet-50 at 224² on {torch.cuda.get_device_name(torch.device(device))}, one image: "
            f"{_ms(resnet_seconds)} (target ≤ 0.5 s on an H100): "
            f"{'met' if resnet_seconds <= 0.5 else '**not met**'}."
        )
    else:
        lines.append(
            "- ResNet-50 at 224² on an H100 (target ≤ 0.5 s per image): needs a CUDA device; none was "
            "available to this run."
        )
    return lines
