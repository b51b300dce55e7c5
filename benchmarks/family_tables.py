"""The per-family speed table and the pretrained-model table of issue 17 (items 6 and 8).

- Families: torchvision ResNet-50, VGG-16, DenseNet-121, MobileNetV3-Large, EfficientNet-B0, ConvNeXt-Tiny,
  RegNetY-800MF, ViT-B/16 and Swin-T (random weights: the cost does not depend on them) and the pretrained
  EfficientNet-Lite0 of the ``pretrained`` extra, at 224², one image. For each: the bare model's forward and
  forward + backward time at the chunk sizes the kernels use, and for I-GOS, iGOS++, RISE, occlusion, integrated
  gradients and Grad-CAM the kernel's wall time, its forward-only and fwd+bwd images, and the ratio
  wall / (the bare model's time for the same chunks). The machine is shared, so each round times every kernel and
  the bare chunks it needs close together in one process, and a cell gives the median over the rounds with the
  range (min–max) beside it.
- Pretrained: I-GOS and SAG at their defaults on the pretrained EfficientNet-Lite0 and scikit-image's photos
  (``chelsea``, a cat; ``coffee``, a cup): time, passes, beam levels and roots, per image.
"""

from __future__ import annotations

import contextlib
import statistics
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field

import torch
import torchvision

import xwidgets as xw
from meters import BarePasses, PassCount, count_passes, synchronize
from xwidgets.core.layers import default_layer

__all__ = ["FAMILIES", "KERNEL_PARAMS", "family_section", "pretrained_section"]

#: torchvision classification models, one per family of issue 17, the cheapest first (a partial run says most).
FAMILIES = (
    "mobilenet_v3_large",
    "efficientnet_b0",
    "regnet_y_800mf",
    "resnet50",
    "densenet121",
    "convnext_tiny",
    "swin_t",
    "vgg16",
    "vit_b_16",
)
PRETRAINED = "efficientnet-lite0 (pretrained)"

#: Fewer iterations / masks / windows than the defaults so the table runs in minutes on a CPU: the ratio is per
#: image pass, so it does not depend on them. Each chunk a kernel runs is priced at the bare time of its size.
KERNEL_PARAMS = {
    "igos": {"iterations": 1, "ig_steps": 4},
    "igospp": {"iterations": 1, "ig_steps": 1},
    "rise": {"masks": 16},
    "occlusion": {"window": 56, "stride": 56},
    "integrated_gradients": {"steps": 4},
    "gradcam": {},
}
QUICK_PARAMS = {
    "igos": {"iterations": 1, "ig_steps": 1},
    "igospp": {"iterations": 1, "ig_steps": 1},
    "rise": {"masks": 4},
    "occlusion": {"window": 112, "stride": 112},
    "integrated_gradients": {"steps": 2},
    "gradcam": {},
}
SIZE = (224, 224)
TARGET_RATIO = 1.3


@dataclass
class KernelRuns:
    """One kernel on one model over the rounds: wall times, the bare time of the same chunks, the last passes."""

    seconds: list = field(default_factory=list)
    bare: list = field(default_factory=list)
    passes: PassCount | None = None
    error: str | None = None

    @property
    def ratios(self) -> list[float]:
        return [s / b for s, b in zip(self.seconds, self.bare) if b > 0]


def family_model(name: str, device: str) -> xw.core.Model:
    """A family's model: torchvision ``name`` with random weights and ImageNet normalisation, or the pretrained
    EfficientNet-Lite0 for :data:`PRETRAINED`."""
    if name == PRETRAINED:
        return xw.efficientnet_lite0(device=device)
    torch.manual_seed(0)
    module = torchvision.models.get_model(name, weights=None).eval()
    return xw.Classifier(
        module,
        preprocessing=xw.core.Preprocessing(mean=xw.core.IMAGENET_MEAN, std=xw.core.IMAGENET_STD),
        device=device,
        name=name,
    )


def _time_kernel(model, method: str, params: dict, image: torch.Tensor) -> tuple[float, PassCount]:
    with count_passes(model) as passes:
        synchronize(model.device)
        start = time.perf_counter()
        xw.explain(model, image, method=method, progress=xw.core.runner.Progress(), **params)
        synchronize(model.device)
        seconds = time.perf_counter() - start
    return seconds, passes


def measure_family(model: xw.core.Model, params: dict, rounds: int) -> tuple[dict, dict]:
    """``rounds`` rounds of every kernel in ``params`` on one image at 224², each round timing the bare chunks it
    needs afresh (one run per chunk size, shared by the kernels of the round).

    Returns the :class:`KernelRuns` by method and the bare times by ``(kind, chunk size)`` over the rounds.
    """
    image = torch.rand(1, 3, *SIZE, generator=torch.Generator().manual_seed(17))
    BarePasses(model, SIZE, repeats=1, warm_up=True).seconds("backward", 1)  # warm the model up once
    with contextlib.suppress(xw.XWidgetsError):  # Grad-CAM's layer, traced once per model as on a first call
        default_layer(model.module, model.normalize(model.prepare(image)))
    runs = {method: KernelRuns() for method in params}
    bare_times = defaultdict(list)
    for _ in range(rounds):
        bare = BarePasses(model, SIZE, repeats=1, warm_up=False)
        for method, method_params in params.items():
            entry = runs[method]
            if entry.error is not None:
                continue
            try:
                seconds, passes = _time_kernel(model, method, method_params, image)
            except Exception as error:  # a method that fails on a family must not hide the other cells
                traceback.print_exception(error)
                entry.error = f"{type(error).__name__}: {str(error).splitlines()[0][:100]}"
                continue
            entry.seconds.append(seconds)
            entry.bare.append(bare.limit(passes))  # chunk by chunk at the sizes used
            entry.passes = passes
        for key, seconds in bare._seconds.items():
            bare_times[key].append(seconds)
    return runs, bare_times


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}" if seconds >= 0.1 else f"{seconds * 1000:.1f}"


def _spread(values: list[float], cell) -> str:
    """``median (min–max)`` of ``values`` formatted by ``cell``."""
    if len(values) == 1:
        return cell(values[0])
    return f"{cell(statistics.median(values))} ({cell(min(values))}–{cell(max(values))})"


def _chunks_text(counter) -> str:
    return " + ".join(f"{n}×{size}" for size, n in sorted(counter.items(), key=lambda item: -item[0])) or "–"


def _kernel_cell(entry: KernelRuns) -> str:
    if entry.error is not None:
        return f"failed: {entry.error}"
    ratio = _spread(entry.ratios, lambda r: f"{r:.2f}")
    if statistics.median(entry.ratios) > TARGET_RATIO:
        ratio = f"**{ratio}**"
    return f"{_spread(entry.seconds, _ms)} ms; ratio {ratio}"


def _bare_cell(bare_times: dict, kind: str) -> str:
    """``B=b: ms per image`` at the smallest and the largest chunk size timed for ``kind``."""
    sizes = sorted(size for k, size in bare_times if k == kind)
    ends = sorted({sizes[0], sizes[-1]}) if sizes else []
    return ", ".join(f"B={size}: {_spread([t / size for t in bare_times[(kind, size)]], _ms)}" for size in ends) or "–"


def family_section(device: str, quick: bool = False, rounds: int = 3, families=None) -> list[str]:
    """The per-family table's markdown lines."""
    params = QUICK_PARAMS if quick else KERNEL_PARAMS
    names = [PRETRAINED, *FAMILIES] if families is None else list(families)
    methods = list(params)
    rows, passes_rows, slow, batch = [], [], [], None
    for name in names:
        start = time.perf_counter()
        try:
            model = family_model(name, device)
        except Exception as error:
            traceback.print_exception(error)
            rows.append(f"| {name} | failed to build: {type(error).__name__}: {error} |" + " |" * (len(methods) + 1))
            continue
        runs, bare_times = measure_family(model, params, rounds)
        batch = model.max_batch
        cells = [_bare_cell(bare_times, "forward"), _bare_cell(bare_times, "backward")]
        rows.append(f"| {name} | {' | '.join(cells)} | {' | '.join(_kernel_cell(runs[m]) for m in methods)} |")
        passes_rows.append(f"| {name} | " + " | ".join(_passes_cell(runs[m]) for m in methods) + " |")
        slow += [
            (name, m, statistics.median(runs[m].ratios))
            for m in methods
            if runs[m].error is None and statistics.median(runs[m].ratios) > TARGET_RATIO
        ]
        print(rows[-1], f"({time.perf_counter() - start:.0f} s)", flush=True)
        del model
    settings = "; ".join(
        f"{m}: {', '.join(f'{k}={v}' for k, v in values.items()) or 'defaults'}" for m, values in params.items()
    )
    lines = [
        "## Speed per family (issue 17, item 6)",
        "",
        f"One image at 224², micro-batch {batch} (the device's default), random weights except the pretrained "
        f"EfficientNet-Lite0. Settings, smaller than the defaults so the table runs in minutes ({settings}); the "
        f"ratio is per chunk of images, so it does not depend on them. Grad-CAM's default layer is traced once "
        f"per model before the rounds (a forward and a backward, as on an explorer's first call). {rounds} "
        "rounds in one process; in each, every kernel runs once and the bare model runs each chunk size the "
        "round's kernels used once (`no_grad` forward; forward + backward to the input with frozen "
        "parameters). Cells: median (min–max) over the rounds.",
        "",
        "*Bare* columns: ms per image at the smallest and largest chunk size the kernels used. Kernel cells: "
        "wall time of the call in ms; *ratio* = wall time / the bare time of exactly the chunks the kernel ran "
        f"(issue 17's target: ≤ {TARGET_RATIO}; bold above it). Grad-CAM's backward pass stops at its "
        "layer, "
        "so its bare price (a backward to the input) is an upper bound and its ratio falls below 1.",
        "",
        "| family | bare forward, ms per image | bare fwd+bwd, ms per image | " + " | ".join(methods) + " |",
        "|---" * (len(methods) + 3) + "|",
        *rows,
        "",
        "Chunks each kernel ran on one image (forward-only chunks / fwd+bwd chunks, as count × chunk size):",
        "",
        "| family | " + " | ".join(methods) + " |",
        "|---" * (len(methods) + 1) + "|",
        *passes_rows,
        "",
    ]
    if slow:
        lines.append("Above the target: " + "; ".join(f"{m} on {n} ({r:.2f})" for n, m, r in slow) + ".")
    else:
        lines.append(f"Every kernel is within {TARGET_RATIO}× of the bare model on every family (median over rounds).")
    return lines


def _passes_cell(entry: KernelRuns) -> str:
    if entry.passes is None:
        return "–"
    return f"{_chunks_text(entry.passes.forward_only)} / {_chunks_text(entry.passes.backwarded)}"


PHOTOS = ("chelsea", "coffee")


def pretrained_section(device: str, quick: bool = False) -> list[str]:
    """I-GOS and SAG at their defaults (``quick``: 2 iterations / a 3×3 grid) on the pretrained EfficientNet-Lite0
    and scikit-image's photos, one image per call."""
    import skimage.data

    model = family_model(PRETRAINED, device)
    BarePasses(model, SIZE, repeats=1, warm_up=True).seconds("backward", 1)
    igos_params = {"iterations": 2} if quick else {}
    sag_params = {"grid": 3} if quick else {}
    lines = [
        "## I-GOS and SAG on a pretrained model (issue 17, item 8)",
        "",
        f"{model.name} from the `pretrained` extra on scikit-image's photos, one image per call, "
        f"{'quick settings' if quick else 'default parameters'}; the target is the top-1 class. *Bare*: the "
        "same chunks through the bare module, each chunk size timed once right after the call (ratio = wall / "
        "bare); on a loaded machine the pass counts are the numbers to trust.",
        "",
        "| method | photo | top-1 class (p) | wall | forward-only images | fwd+bwd images | beam levels | roots "
        "| bare | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for photo in PHOTOS:
        image = getattr(skimage.data, photo)()
        probabilities = torch.softmax(model(image), 1)[0]
        top = int(probabilities.argmax())
        label = f"{model.labels[top]} ({float(probabilities[top]):.2f})"
        for method, call in (
            (
                "igos",
                lambda: xw.explain(model, image, method="igos", progress=xw.core.runner.Progress(), **igos_params),
            ),
            ("sag", lambda: xw.sag.sag(model, image, progress=xw.core.runner.Progress(), **sag_params)),
        ):
            with count_passes(model) as passes:
                start = time.perf_counter()
                result = call()
                seconds = time.perf_counter() - start
            limit = BarePasses(model, SIZE, repeats=1, warm_up=False).limit(passes)
            levels = result.stats["levels"] if method == "sag" else "–"
            roots = len(result.roots[0]) if method == "sag" else "–"
            lines.append(
                f"| {method} | {photo} | {label} | {seconds:.1f} s | {passes.forward_only_images} | "
                f"{passes.backward_images} | {levels} | {roots} | {limit:.1f} s | {seconds / limit:.2f} |"
            )
            print(lines[-1], flush=True)
    return lines
