"""The visual-summaries benchmark table of issue 7: crisp masks per image (the official 300 + 150 Adam steps),
the matching cost as the number of images grows (proposals, descriptors and the pairwise proposal-flow-style
scores), and re-clustering from the cached scores. Toy classifier, ember thrushes (112²)."""

from __future__ import annotations

import time

import numpy as np
import torch

import xwidgets as xw
from meters import memory_kind, peak_memory, synchronize

__all__ = ["summary_section"]

TOY_SEED = 9670


def _clock(device: torch.device, fn):
    with peak_memory(device) as peak:
        start = time.perf_counter()
        value = fn()
        synchronize(device)
        seconds = time.perf_counter() - start
    return seconds, value, peak["bytes"]


def _mib(count) -> str:
    return "n/a" if count is None else f"{count / 2**20:.0f} MiB"


def summary_section(device: str, quick: bool = False) -> list[str]:
    """The section's markdown lines."""
    torch_device = torch.device(device)
    world = xw.toy.ToyWorld()
    species = [s.name for s in world.species].index("ember thrush")
    sizes = (4, 8) if quick else (8, 16, 32)
    images = np.stack([world.sample(species, seed=TOY_SEED + i).image for i in range(max(sizes))])
    model = xw.toy.classifier(device=device)
    lines = [
        "## Visual summaries (toy classifier, ember thrushes, 112²)",
        "",
        f"Peak memory: {memory_kind(torch_device)}.",
        "",
        "| step | images | wall | per image | proposals | peak memory |",
        "|---|---|---|---|---|---|",
    ]
    batch = images[: 8 if quick else 16]
    iterations = {"smooth_iterations": 30, "sharp_iterations": 15} if quick else {}
    seconds, _, peak = _clock(torch_device, lambda: xw.summaries.crisp_masks(model, batch, species, **iterations))
    label = "crisp masks (300 + 150 Adam steps)" if not quick else "crisp masks (30 + 15 steps, quick)"
    lines.append(
        f"| {label} | {len(batch)} | {seconds:.2f} s | {seconds / len(batch) * 1000:.0f} ms | – | {_mib(peak)} |"
    )
    fast = {"smooth_iterations": 60, "sharp_iterations": 40}
    for size in sizes:
        subset, cache = images[:size], xw.core.StepCache()  # one data object: the cache keys on it
        result = xw.summaries.fit(model, subset, species, cache=cache, **fast)
        count, timings = int(result.boxes.shape[0]), result.timings
        lines.append(
            f"| proposals + descriptors + matching (per image) | {size} | "
            f"{timings['proposals'] * 1000:.0f} ms | {timings['proposals'] / size * 1000:.1f} ms | "
            f"{count} | – |"
        )
        lines.append(f"| clustering (all proposals) | {size} | {timings['clusters'] * 1000:.1f} ms | – | {count} | – |")
        seconds, _, _ = _clock(
            torch_device, lambda: xw.summaries.fit(model, subset, species, cache=cache, preference_factor=2.0, **fast)
        )
        lines.append(
            f"| re-clustering (new preference, cached matching) | {size} | {seconds * 1000:.1f} ms | – | {count} | – |"
        )
    lines += [
        "",
        "The crisp masks are the dataset pass (the official 450 forward + backward passes per image); "
        "the matching rows use masks of 60 + 40 steps, which changes the number of proposals, not the "
        "matching's cost per proposal pair. `xw.summaries.fit(..., cache=StepCache())` times its steps; "
        "the re-clustering row calls it again with a new preference, which reruns only the clustering.",
    ]
    return lines
