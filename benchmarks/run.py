"""Reproducible benchmarks: `python benchmarks/run.py` writes benchmarks/results/<device>.md.

Rows (issue 2, core plumbing):
- scoring N masked composites of one image with ``score_masks`` on a torchvision ResNet-18 (random weights,
  224x224), at several micro-batch caps: wall time, images per second and forward passes;
- the cost of the out-of-memory back-off, simulated by a model that refuses batches above a size once;
- the toy classifier's forward and forward + backward (to the input) over 20 images, and toy rendering (issue 3);
- each heatmap method (I-GOS, iGOS++, Grad-CAM, integrated gradients, RISE, occlusion) on 11 toy images (issue 4);
- preparing a HeatmapView's payload (PNG encode + float32 map) at 224, 512 and 1024 px.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

import xwidgets as xw
from xwidgets.core import make_baseline, resolve_target, score_masks

RESULTS = Path(__file__).parent / "results"


def timed(fn, repeat: int = 3) -> float:
    """Median wall time of ``fn()`` in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def scoring_rows(device: str, masks: int) -> list[str]:
    module = torchvision.models.resnet18(weights=None).eval()
    model = xw.Classifier(module, preprocessing=xw.core.Preprocessing(mean=xw.core.IMAGENET_MEAN,
                                                                      std=xw.core.IMAGENET_STD), device=device)
    image = model.prepare(torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)))
    images, baselines = model.normalize(image), model.normalize(make_baseline(image, "blur"))
    target = resolve_target(None, model, model.forward(images).detach())
    grid = torch.rand(masks, 1, 7, 7, generator=torch.Generator().manual_seed(1)).to(device)
    owner = torch.zeros(masks, dtype=torch.long, device=device)
    rows = []
    for cap in (1, 8, 16, 32, masks):
        model.max_batch = cap
        before = model.images_forwarded
        seconds = timed(lambda: score_masks(model, images, baselines, grid, target, owner))
        passes = (model.images_forwarded - before) // 4
        rows.append(f"| score_masks, {masks} masks of 1 image, micro-batch {cap} | {seconds:.3f} s | "
                    f"{masks / seconds:.0f} img/s | {passes} |")
    return rows


def backoff_row(device: str, masks: int) -> str:
    class RefusesBigBatches(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.refused = inner, False

        def forward(self, x):
            if x.shape[0] > 16 and not self.refused:
                self.refused = True
                raise torch.OutOfMemoryError("simulated: CUDA out of memory")
            return self.inner(x)

    inner = torchvision.models.resnet18(weights=None).eval()
    flaky = RefusesBigBatches(inner).eval()
    model = xw.Classifier(flaky, device=device, max_batch=masks)
    image = model.prepare(torch.rand(1, 3, 224, 224))
    target = xw.core.ClassTarget([0])
    grid = torch.rand(masks, 1, 7, 7).to(device)
    owner = torch.zeros(masks, dtype=torch.long, device=device)
    start = time.perf_counter()
    score_masks(model, image, image * 0, grid, target, owner)
    seconds = time.perf_counter() - start
    return (f"| score_masks with one simulated OOM at batch {masks} (backs off to {model.max_batch}) | "
            f"{seconds:.3f} s | {masks / seconds:.0f} img/s | {masks} |")


def toy_rows(device: str) -> list[str]:
    """The toy classifier: forward + backward to the input over 20 images, as gradient methods run it."""
    from xwidgets.toy import ToyWorld, classifier

    model = classifier(device=device)
    images = np.stack([s.image for s in ToyWorld().samples(20, seed=77)])
    inputs = model.normalize(model.prepare(images))

    def forward_backward():
        x = inputs.detach().requires_grad_(True)
        with model.frozen():
            model.forward(x)[:, 0].sum().backward()

    def forward():
        with torch.no_grad():
            model.forward(inputs)

    rows = []
    for label, fn in (("forward + backward to the input", forward_backward), ("forward", forward)):
        with torch.enable_grad():
            seconds = timed(fn, repeat=20)
        rows.append(f"| toy classifier, {label}, 20 images at 112x112 | {seconds * 1000:.1f} ms | "
                    f"{20 / seconds:.0f} img/s | 20 |")
    start = time.perf_counter()
    ToyWorld().samples(55, seed=5)
    seconds = (time.perf_counter() - start) / 55
    rows.append(f"| toy world, rendering one sample (112x112, part map, captions) | {seconds * 1000:.1f} ms | "
                f"{1 / seconds:.0f} img/s | |")
    return rows


def heatmap_rows(device: str) -> list[str]:
    """Each heatmap method on 11 toy images (one per species) at 112x112, default parameters."""
    from xwidgets.heatmaps import explain
    from xwidgets.toy import ToyWorld, classifier

    model = classifier(device=device)
    images = np.stack([s.image for s in ToyWorld().samples(11, seed=78)])
    rows = []
    for method in ("igos", "igospp", "gradcam", "integrated_gradients", "rise", "occlusion"):
        before = model.images_forwarded
        start = time.perf_counter()
        explain(model, images, method)
        seconds = time.perf_counter() - start
        passes = (model.images_forwarded - before) / 11
        rows.append(f"| {method} on the toy classifier, 11 images at 112x112, defaults | "
                    f"{seconds / 11 * 1000:.0f} ms per image | {11 / seconds:.1f} img/s | {passes:.0f} per image |")
    return rows


def view_rows() -> list[str]:
    from xwidgets.views.heatmap import _encode_heatmap, _encode_image

    rows = []
    for size in (224, 512, 1024):
        photo = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
        heat = np.random.default_rng(1).random((size, size), dtype=np.float32)
        seconds = timed(lambda: (_encode_image(photo), _encode_heatmap(heat, (size, size))))
        payload = len(_encode_image(photo)[1]) + size * size * 4
        rows.append(f"| HeatmapView payload {size}x{size} (PNG + float32 map, {payload / 2**20:.1f} MiB) | "
                    f"{seconds * 1000:.1f} ms | | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--masks", type=int, default=64)
    args = parser.parse_args()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else \
        f"CPU ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"
    lines = [f"## Core plumbing on {name}", "",
             f"torch {torch.__version__}, xwidgets {xw.__version__}; median of 3 runs after a warm-up.", "",
             "| what | time | throughput | forward passes (images) |", "|---|---|---|---|",
             *scoring_rows(args.device, args.masks), backoff_row(args.device, args.masks), *toy_rows(args.device),
             *heatmap_rows(args.device), *view_rows()]
    RESULTS.mkdir(exist_ok=True)
    tag = "gpu" if args.device.startswith("cuda") else "cpu"
    out = RESULTS / f"core_{tag}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
