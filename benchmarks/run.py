"""Reproducible benchmarks: core plumbing, heatmap speed and quality tables, written to benchmarks/results/.

`python benchmarks/run.py` writes benchmarks/results/core_<device>.md and benchmarks/results/heatmaps_<device>.md
(<device> is "cpu" or the CUDA device's name as a slug).

Parts (``--only`` picks some; all run by default; ``--quick`` is a smoke run writing *_quick.md files):

- ``core`` (issue 2, core plumbing): scoring N masked composites of one image with ``score_masks`` on a torchvision
  ResNet-18 (random weights, 224x224) at several micro-batch caps; the cost of the out-of-memory back-off; the toy
  classifier's forward and forward + backward (issue 3) and toy rendering; each heatmap method on 11 toy images;
  preparing a HeatmapView's payload at 224, 512 and 1024 px.
- ``heatmaps`` (issue 4): per method on the toy classifier and ResNet-50 (random weights, 224²), single image and
  batched: wall time per image, forward-only and forward + backward images, peak memory and the overhead ratio
  against the bare model (meters.py, heatmap_tables.py); deletion + insertion curves on both models.
- ``quality`` (issue 4): insertion and deletion AUC and evidence energy of every method on 50 toy images, with a
  random-map control.
- ``sag`` (issue 5): SAG at defaults on the toy classifier (and ResNet-50 on CUDA): wall time per image, forward
  passes, beam levels, roots (sag_tables.py), written to benchmarks/results/sag_<device>.md.
- ``concepts`` (issue 6): XNN feature extraction per image, SRAE training for N images (one attempt and with
  retries) and explaining images, on the toy classifier (and ResNet-50 on CUDA) (concept_tables.py), written to
  benchmarks/results/concepts_<device>.md.
- ``summaries`` (issue 7): crisp masks per image, the matching cost at several numbers of images and re-clustering
  (summary_tables.py), written to benchmarks/results/summaries_<device>.md.
- ``text`` (issue 8): fitting filter-level attribute distributions from captions for N images (dataset pass and
  estimator), explaining images in words, retrieval scoring and the explorer's re-explanation on a click, on the
  toy classifier (and ResNet-50 on CUDA), with the toy world's quality against a shuffled-caption control
  (text_tables.py), written to benchmarks/results/text_<device>.md.
- ``similarity`` (issue 9): SANE's pair saliency (RISE, sliding window, mask) at defaults with a fixed and a variable
  reference, one pair and 8 pairs: wall time per pair, forward passes per pair, peak memory; attribute prediction,
  ``explain_match(..., both=True)`` (the MatchExplorer's cost per click) and the ``sane`` deletion/insertion metric,
  on the toy embedder (and ResNet-50 on CUDA) (similarity_tables.py), written to
  benchmarks/results/similarity_<device>.md.
- ``families`` (issue 17, item 6): one row per torchvision family (ResNet-50, VGG-16, DenseNet-121, MobileNetV3,
  EfficientNet-B0, ConvNeXt-T, RegNetY-800MF, ViT-B/16, Swin-T; random weights) and the pretrained EfficientNet-Lite0
  at 224²: the bare model's pass times and, per heatmap method, wall time, chunks run and the ratio to the bare model's
  time for those chunks, median and range over ``--rounds`` interleaved rounds (family_tables.py), written to
  benchmarks/results/families_<device>.md.
- ``pretrained`` (issue 17, item 8): I-GOS and SAG at their defaults on the pretrained EfficientNet-Lite0 and
  scikit-image's photos: time, passes, beam levels, roots (family_tables.py), in
  benchmarks/results/pretrained_<device>.md.
- ``progress`` (issue 17, item 4): the progress bar's overhead on I-GOS and RISE at defaults on the toy classifier
  (bar off, on after its 1 s delay, drawn at once; interleaved rounds) and the price of one report
  (progress_tables.py), written to benchmarks/results/progress_<device>.md.
- ``datasets`` (issue 20): `xw.explain_dataset` on 512 toy images, local against Ray at equal cores (I-GOS and
  Grad-CAM; whole run and steady rate); Ray's per-task overhead from no-op actor pools and the simulator of
  scale_simulation.py checked against real runs; writing and opening a 10,000-image store; the DatasetExplorer's
  filter-to-tiles latency at 10,000 images; on CUDA, ResNet-50 I-GOS with the local engine and one Ray actor and the
  GPU's busy fraction (dataset_tables.py), written to benchmarks/results/datasets_<device>.md
  (benchmarks/gpu_datasets.sh runs it on a lent GPU). ``--dataset-sections`` picks sections, ``--dataset-images``
  the toy images of the engine rows (512 by default; I-GOS takes about 0.5 s per toy image on 2 idle cores).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

import xwidgets as xw
from xwidgets.core import make_baseline, resolve_target, score_masks

RESULTS = Path(__file__).parent / "results"


PARTS = (
    "core",
    "heatmaps",
    "quality",
    "sag",
    "concepts",
    "summaries",
    "text",
    "similarity",
    "families",
    "pretrained",
    "progress",
    "datasets",
)


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


def scoring_rows(device: str, masks: int, repeat: int = 3) -> list[str]:
    module = torchvision.models.resnet18(weights=None).eval()
    model = xw.Classifier(
        module, preprocessing=xw.core.Preprocessing(mean=xw.core.IMAGENET_MEAN, std=xw.core.IMAGENET_STD), device=device
    )
    image = model.prepare(torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)))
    images, baselines = model.normalize(image), model.normalize(make_baseline(image, "blur"))
    target = resolve_target(None, model, model.forward(images).detach())
    grid = torch.rand(masks, 1, 7, 7, generator=torch.Generator().manual_seed(1)).to(device)
    owner = torch.zeros(masks, dtype=torch.long, device=device)
    rows = []
    for cap in (1, 8, 16, 32, masks):
        model.max_batch = cap
        before = model.images_forwarded
        seconds = timed(lambda: score_masks(model, images, baselines, grid, target, owner), repeat)
        passes = (model.images_forwarded - before) // (repeat + 1)  # timed() runs a warm-up and `repeat` runs
        rows.append(
            f"| score_masks, {masks} masks of 1 image, micro-batch {cap} | {seconds:.3f} s | "
            f"{masks / seconds:.0f} img/s | {passes} |"
        )
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
    return (
        f"| score_masks with one simulated OOM at batch {masks} (backs off to {model.max_batch}) | "
        f"{seconds:.3f} s | {masks / seconds:.0f} img/s | {masks} |"
    )


def toy_rows(device: str, repeat: int = 20) -> list[str]:
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
            seconds = timed(fn, repeat)
        rows.append(
            f"| toy classifier, {label}, 20 images at 112x112 | {seconds * 1000:.1f} ms | "
            f"{20 / seconds:.0f} img/s | 20 |"
        )
    start = time.perf_counter()
    ToyWorld().samples(55, seed=5)
    seconds = (time.perf_counter() - start) / 55
    rows.append(
        f"| toy world, rendering one sample (112x112, part map, captions) | {seconds * 1000:.1f} ms | "
        f"{1 / seconds:.0f} img/s | |"
    )
    return rows


def heatmap_rows(device: str, count: int = 11) -> list[str]:
    """Each heatmap method on ``count`` toy images (11: one per species) at 112x112, default parameters."""
    from xwidgets import explain
    from xwidgets.toy import ToyWorld, classifier

    model = classifier(device=device)
    images = np.stack([s.image for s in ToyWorld().samples(count, seed=78)])
    rows = []
    for method in ("igos", "igospp", "gradcam", "integrated_gradients", "rise", "occlusion"):
        before = model.images_forwarded
        start = time.perf_counter()
        explain(model, images, method=method)
        seconds = time.perf_counter() - start
        passes = (model.images_forwarded - before) / count
        rows.append(
            f"| {method} on the toy classifier, {count} images at 112x112, defaults | "
            f"{seconds / count * 1000:.0f} ms per image | {count / seconds:.1f} img/s | "
            f"{passes:.0f} per image |"
        )
    return rows


def view_rows(repeat: int = 3) -> list[str]:
    try:
        from xwidgets.views.heatmap import _encode_heatmap, _encode_image
    except ImportError as error:  # a GPU machine without the widget libraries: the payload is CPU work anyway
        return [f"| HeatmapView payload | not measured here: {error} | | |"]

    rows = []
    for size in (224, 512, 1024):
        photo = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
        heat = np.random.default_rng(1).random((size, size), dtype=np.float32)
        seconds = timed(lambda: (_encode_image(photo), _encode_heatmap(heat, (size, size))), repeat)
        payload = len(_encode_image(photo)[1]) + size * size * 4
        rows.append(
            f"| HeatmapView payload {size}x{size} (PNG + float32 map, {payload / 2**20:.1f} MiB) | "
            f"{seconds * 1000:.1f} ms | | |"
        )
    return rows


def device_name(device: str) -> str:
    """A readable name of the device: the CUDA device's name, or the CPU's model and thread count."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        model = names[0] if names else model
    return f"CPU ({torch.get_num_threads()} threads, {os.cpu_count()} cores, {model})"


def device_slug(device: str) -> str:
    """ "cpu", or the CUDA device's name in lower case with dashes (e.g. "nvidia-h100-80gb-hbm3")."""
    if not device.startswith("cuda"):
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(torch.device(device)).lower()).strip("-")


def load_text() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def core_part(device: str, masks: int, quick: bool, out: Path) -> None:
    """The core-plumbing rows (issues 2 and 3); ``quick``: one timed run per row and 2 images per heatmap method."""
    repeat = 1 if quick else 3
    lines = [
        f"## Core plumbing on {device_name(device)}",
        "",
        f"torch {torch.__version__}, xwidgets {xw.__version__}; median of {repeat} runs after a warm-up"
        f"{' (quick smoke run)' if quick else ''}.",
        "",
        "| what | time | throughput | forward passes (images) |",
        "|---|---|---|---|",
        *scoring_rows(device, masks, repeat),
        backoff_row(device, masks),
        *toy_rows(device, 3 if quick else 20),
        *heatmap_rows(device, 2 if quick else 11),
        *view_rows(repeat),
    ]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {out}")


def provenance(device: str, start: float, load: str) -> str:
    """A line saying when, how, on what and under what load a section was measured."""
    minutes = (time.perf_counter() - start) / 60
    command = " ".join(["python benchmarks/run.py", *sys.argv[1:]])
    return (
        f"_Measured {datetime.datetime.now():%Y-%m-%d %H:%M} by `{command}` on {device_name(device)} in "
        f"{minutes:.1f} min; load average {load} at the "
        f"start, {load_text()} at the end (timings on a shared machine move with it)._"
    )


def _with_note(lines: list[str], note: str) -> list[str]:
    """``lines`` (a section starting with its ``##`` title) with ``note`` under the title."""
    return [lines[0], "", note, *lines[1:]]


SECTION = "<!-- section: {} -->"
SECTIONS = ("targets", "speed", "curves", "quality")


def write_sections(out: Path, header: list[str], sections: dict[str, list[str]]) -> None:
    """Write ``header`` and the sections to ``out``, keeping sections of an earlier run that were not re-run."""
    kept = {}
    if out.exists():
        text = out.read_text()
        for name in SECTIONS:
            start, end = text.find(SECTION.format(name)), text.find(SECTION.format("end " + name))
            if start >= 0 and end > start:
                kept[name] = text[start : end + len(SECTION.format("end " + name))]
    for name, lines in sections.items():
        kept[name] = "\n".join([SECTION.format(name), *lines, SECTION.format("end " + name)])
    body = [kept[name] for name in SECTIONS if name in kept]
    out.write_text("\n".join(header) + "\n\n" + "\n\n".join(body) + "\n")


def heatmaps_part(device: str, parts: set[str], quick: bool, out: Path) -> list[str]:
    """Run the issue-4 parts in ``parts`` and write them into ``out``; return the failed rows."""
    from heatmap_tables import Settings, curves_section, definitions, quality_section, speed_section, targets_section

    settings = Settings(quick=quick)
    sections = {}
    if "heatmaps" in parts:
        start, load = time.perf_counter(), load_text()
        speed, curves = speed_section(device, settings), curves_section(device, settings)
        note = provenance(device, start, load)
        sections["targets"] = _with_note(targets_section(device, settings), note)
        sections["speed"], sections["curves"] = _with_note(speed, note), _with_note(curves, note)
    if "quality" in parts:
        start, load = time.perf_counter(), load_text()
        quality = quality_section(device, settings)
        sections["quality"] = _with_note(quality, provenance(device, start, load))
    header = [
        f"# Heatmap benchmarks (issue 4) on {device_name(device).split(' (')[0]}",
        "",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, xwidgets {xw.__version__}, "
        f"Python {platform.python_version()}. `python benchmarks/run.py` writes this file; "
        "`--only heatmaps` (speed, curves, targets) or `--only quality` rewrites only those sections, and each "
        "section says when and how it was measured.",
        "",
        *definitions(torch.device(device)),
    ]
    if quick:
        header += [
            "",
            "**Quick smoke run** (`--quick`): fewer images, iterations and repeats; not the numbers to quote.",
        ]
    write_sections(out, header, sections)
    print(out.read_text())
    print(f"wrote {out}")
    return settings.failures


def sag_part(device: str, quick: bool, out: Path) -> None:
    """The SAG table of issue 5."""
    from sag_tables import sag_section

    start, load = time.perf_counter(), load_text()
    lines = sag_section(device, quick)
    header = [
        f"# SAG benchmarks (issue 5) on {device_name(device).split(' (')[0]}",
        "",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, xwidgets {xw.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        provenance(device, start, load),
    ]
    out.write_text("\n".join(header + [""] + lines) + "\n")
    print(out.read_text())
    print(f"wrote {out}")


def concepts_part(device: str, quick: bool, out: Path) -> None:
    """The concept table of issue 6."""
    from concept_tables import concept_section

    start, load = time.perf_counter(), load_text()
    lines = concept_section(device, quick)
    header = [
        f"# Concept benchmarks (issue 6) on {device_name(device).split(' (')[0]}",
        "",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, xwidgets {xw.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        provenance(device, start, load),
    ]
    out.write_text("\n".join(header + [""] + lines) + "\n")
    print(out.read_text())
    print(f"wrote {out}")


def summaries_part(device: str, quick: bool, out: Path) -> None:
    """The visual-summaries table of issue 7."""
    from summary_tables import summary_section

    start, load = time.perf_counter(), load_text()
    lines = summary_section(device, quick)
    header = [
        f"# Visual-summary benchmarks (issue 7) on {device_name(device).split(' (')[0]}",
        "",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, xwidgets {xw.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        provenance(device, start, load),
    ]
    out.write_text("\n".join(header + [""] + lines) + "\n")
    print(out.read_text())
    print(f"wrote {out}")


def text_part(device: str, quick: bool, out: Path) -> None:
    """The textual-explanation tables of issue 8."""
    from text_tables import text_section

    start, load = time.perf_counter(), load_text()
    lines = text_section(device, quick)
    header = [
        f"# Textual-explanation benchmarks (issue 8) on {device_name(device).split(' (')[0]}",
        "",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, xwidgets {xw.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        provenance(device, start, load),
    ]
    out.write_text("\n".join(header + [""] + lines) + "\n")
    print(out.read_text())
    print(f"wrote {out}")


def similarity_part(device: str, quick: bool, out: Path) -> None:
    """The similarity-explanation tables of issue 9."""
    from similarity_tables import similarity_section

    start, load = time.perf_counter(), load_text()
    lines = similarity_section(device, quick)
    header = [
        f"# Similarity-explanation benchmarks (issue 9) on {device_name(device).split(' (')[0]}",
        "",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, xwidgets {xw.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        provenance(device, start, load),
    ]
    if quick:
        header += [
            "",
            "**Quick smoke run** (`--quick`): far fewer masks, windows and iterations, B = 2 instead of 8; "
            "not the numbers to quote.",
        ]
    out.write_text("\n".join(header + [""] + lines) + "\n")
    print(out.read_text())
    print(f"wrote {out}")


def families_part(device: str, quick: bool, rounds: int, out: Path) -> None:
    """The per-family speed table of issue 17."""
    from family_tables import family_section

    start, load = time.perf_counter(), load_text()
    lines = family_section(device, quick, rounds)
    header = [
        f"# Speed per model family (issue 17) on {device_name(device).split(' (')[0]}",
        "",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, xwidgets {xw.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        provenance(device, start, load),
    ]
    if quick:
        header += ["", "**Quick smoke run** (`--quick`): fewer passes per kernel; not the numbers to quote."]
    out.write_text("\n".join(header + [""] + lines) + "\n")
    print(out.read_text())
    print(f"wrote {out}")


def pretrained_part(device: str, quick: bool, out: Path) -> None:
    """I-GOS and SAG on the pretrained EfficientNet-Lite0 (issue 17)."""
    from family_tables import pretrained_section

    start, load = time.perf_counter(), load_text()
    lines = pretrained_section(device, quick)
    header = [
        f"# A pretrained model on photos (issue 17) on {device_name(device).split(' (')[0]}",
        "",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, xwidgets {xw.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        provenance(device, start, load),
    ]
    if quick:
        header += ["", "**Quick smoke run** (`--quick`): 2 I-GOS iterations, a 3×3 SAG grid; not the numbers to quote."]
    out.write_text("\n".join(header + [""] + lines) + "\n")
    print(out.read_text())
    print(f"wrote {out}")


def progress_part(device: str, quick: bool, out: Path) -> None:
    """The progress-bar overhead table of issue 17."""
    from progress_tables import progress_section

    start, load = time.perf_counter(), load_text()
    lines = progress_section(device, quick)
    header = [
        f"# Progress-bar benchmarks (issue 17) on {device_name(device).split(' (')[0]}",
        "",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, xwidgets {xw.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        provenance(device, start, load),
    ]
    out.write_text("\n".join(header + [""] + lines) + "\n")
    print(out.read_text())
    print(f"wrote {out}")


def datasets_part(device: str, quick: bool, sections: list[str] | None, images: int | None, out: Path) -> None:
    """The dataset-run tables of issue 20 (``sections`` of dataset_tables.SECTIONS, default all; the GPU section
    measures only on CUDA)."""
    from dataset_tables import dataset_sections

    start, load = time.perf_counter(), load_text()
    sections = dataset_sections(quick, set(sections) if sections else None, device, images)
    header = [
        f"# Dataset runs (issue 20) on {device_name(device).split(' (')[0]}",
        "",
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, xwidgets {xw.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        provenance(device, start, load),
    ]
    if quick:
        header += ["", "**Quick smoke run** (`--quick`): 64 images, fewer tasks and changes; not the numbers to quote."]
    body = [line for lines in sections.values() for line in ["", *lines]]
    out.write_text("\n".join(header + body) + "\n")
    print(out.read_text())
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--masks", type=int, default=64, help="masks scored in the core rows")
    parser.add_argument(
        "--only", action="append", choices=PARTS, help="run only this part (repeat for several); default: all"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (torch.set_num_threads); default: torch's own choice",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run with fewer images, iterations and repeats, written to *_quick.md",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of the families table (median and range over them)"
    )
    parser.add_argument(
        "--dataset-sections",
        nargs="+",
        default=None,
        help="sections of the datasets part (engines, overhead, store, explorer, gpu); default: all",
    )
    parser.add_argument(
        "--dataset-images", type=int, default=None, help="toy images of the datasets part's engine rows (default 512)"
    )
    args = parser.parse_args()
    parts = set(args.only or PARTS)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    RESULTS.mkdir(exist_ok=True)
    suffix = f"{device_slug(args.device)}{'_quick' if args.quick else ''}.md"
    if "core" in parts:
        core_part(args.device, args.masks, args.quick, RESULTS / f"core_{suffix}")
    failures = []
    if parts & {"heatmaps", "quality"}:
        failures = heatmaps_part(args.device, parts, args.quick, RESULTS / f"heatmaps_{suffix}")
    if "sag" in parts:
        sag_part(args.device, args.quick, RESULTS / f"sag_{suffix}")
    if "concepts" in parts:
        concepts_part(args.device, args.quick, RESULTS / f"concepts_{suffix}")
    if "summaries" in parts:
        summaries_part(args.device, args.quick, RESULTS / f"summaries_{suffix}")
    if "text" in parts:
        text_part(args.device, args.quick, RESULTS / f"text_{suffix}")
    if "similarity" in parts:
        similarity_part(args.device, args.quick, RESULTS / f"similarity_{suffix}")
    if "families" in parts:
        families_part(args.device, args.quick, 1 if args.quick else args.rounds, RESULTS / f"families_{suffix}")
    if "pretrained" in parts:
        pretrained_part(args.device, args.quick, RESULTS / f"pretrained_{suffix}")
    if "progress" in parts:
        progress_part(args.device, args.quick, RESULTS / f"progress_{suffix}")
    if "datasets" in parts:
        out = RESULTS / f"datasets_{suffix}"
        datasets_part(args.device, args.quick, args.dataset_sections, args.dataset_images, out)
    if failures:
        print("\nfailed rows:\n" + "\n".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
