"""The heatmap benchmark tables of issue 4: speed per method, deletion + insertion curves, and quality.

- Speed: each heatmap method on the toy classifier (112², defaults) and on torchvision ResNet-50 at 224² with
  random weights (cost does not depend on the weights), single image and batched: wall time per image,
  forward-only and forward + backward images, peak memory, and the overhead ratio against the bare model.
- Curves: ``deletion_insertion`` with the ``igos`` and ``rise`` presets on both models.
- Quality: insertion AUC, deletion AUC and ground-truth evidence energy of every method on toy images, with a
  random-map control.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

import xwidgets as xw
from meters import BarePasses, Measurement, measure, memory_kind

__all__ = ["Variant", "variants", "Settings", "speed_section", "curves_section", "targets_section", "quality_section"]

TOY_SEED = 9300


@dataclass(frozen=True)
class Variant:
    """One benchmarked configuration of a heatmap method."""

    label: str
    method: str
    params: dict


def variants() -> list[Variant]:
    """The methods of issue 4; iGOS++ with NAG only when the installed ``IGOSPP_PARAMS`` offers it."""
    optimiser = xw.heatmaps.IGOSPP_PARAMS.get("optimiser")
    has_nag = optimiser is not None and "nag" in optimiser.choices
    rows = [
        Variant("igos", "igos", {}),
        Variant("igospp (line search)", "igospp", {"optimiser": "line_search"} if has_nag else {}),
    ]
    if has_nag:
        rows.append(Variant("igospp (nag)", "igospp", {"optimiser": "nag"}))
    rows += [Variant(name, name, {}) for name in ("gradcam", "integrated_gradients", "rise", "occlusion")]
    return rows


@dataclass
class Settings:
    """How much work each section does: full runs, or ``quick`` smoke runs with fewer images and iterations."""

    quick: bool = False
    failures: list = field(default_factory=list)
    results: dict = field(default_factory=dict)  # (model, row label, B) -> (Measurement, ratio, chunk ratio)

    def fail(self, what: str, error: BaseException) -> str:
        """Record a failed row (its traceback goes to stderr) and return the table cell that says so."""
        traceback.print_exception(error)
        self.failures.append(f"{what}: {type(error).__name__}: {error}")
        return f"failed: {type(error).__name__}: {str(error).splitlines()[0][:120]}"


# ---------------------------------------------------------------------------------------------- models
def toy_images(count: int) -> np.ndarray:
    """``count`` toy images (seed 9300) as ``[N, 112, 112, 3]`` uint8."""
    return np.stack([s.image for s in xw.toy.ToyWorld().samples(count, seed=TOY_SEED)])


def resnet50(device: str) -> xw.core.Model:
    """torchvision ResNet-50 with random weights and ImageNet normalisation."""
    module = torchvision.models.resnet50(weights=None).eval()
    return xw.Classifier(
        module, preprocessing=xw.core.Preprocessing(mean=xw.core.IMAGENET_MEAN, std=xw.core.IMAGENET_STD), device=device
    )


def resnet_images(count: int) -> torch.Tensor:
    """Toy images upsampled to 224² ``[N, 3, 224, 224]`` in [0, 1] (content does not change the cost)."""
    pixels = torch.tensor(toy_images(count)).permute(0, 3, 1, 2).float() / 255
    return F.interpolate(pixels, size=(224, 224), mode="bilinear", align_corners=False).clamp(0, 1)


# CPU-only reductions for ResNet-50 (the overhead ratio does not depend on them). ig_steps=4 keeps iGOS++'s IG
# chunks full (4 paths x 4 points = 16 = the CPU micro-batch), as they are at the defaults (4 x 20 = 80).
RESNET_CPU_PARAMS = {
    "igos": {"iterations": 2},
    "igospp": {"iterations": 1, "ig_steps": 4},
    "rise": {"masks": 64},
    "occlusion": {"stride": 32},
}
RESNET_QUICK_PARAMS = {
    "igos": {"iterations": 1, "ig_steps": 4},
    "igospp": {"iterations": 1, "ig_steps": 1},
    "rise": {"masks": 16},
    "occlusion": {"window": 56, "stride": 56},
    "integrated_gradients": {"steps": 4},
}
TOY_QUICK_PARAMS = {"igos": {"iterations": 3}, "igospp": {"iterations": 2}, "rise": {"masks": 400}}


# ----------------------------------------------------------------------------------------------- cells
def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.2f} ms"


def _mib(count: int | None) -> str:
    return "n/a" if count is None else f"{count / 2**20:.0f} MiB"


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def _runs_text(m: Measurement) -> str:
    return f"median of {m.runs}" if m.runs > 1 else ("1 (after a warm-up)" if m.warm_up else "1 (no warm-up)")


def _ratio_cells(m: Measurement, bare: BarePasses, key: tuple, settings: Settings) -> str:
    """Cells: the bare limit per image, the issue's ratio (bare at the micro-batch) and the ratio at the chunk sizes
    used; the numbers are kept in ``settings.results[key]``."""
    at_cap = bare.limit(m.passes, bare.model.max_batch)
    chunks = bare.limit(m.passes)
    ratio = m.seconds / at_cap if at_cap > 0 else float("nan")
    exact = m.seconds / chunks if chunks > 0 else float("nan")
    settings.results[key] = (m, ratio, exact)
    return f"{_ms(at_cap / m.images)} | **{ratio:.2f}** | {exact:.2f}"


SPEED_HEADER = (
    "| method | settings | B | timed runs | wall per image | forward-only images per image "
    "| fwd+bwd images per image | peak memory | bare model per image | overhead ratio | "
    "ratio at the chunk sizes used |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def _speed_rows(name, model, images, variant_list, batches, params_for, settings, *, warm_up=True) -> list[str]:
    bare = BarePasses(model, _size(images), repeats=5 if warm_up else 1, warm_up=warm_up)
    cap = model.max_batch
    rows = []
    for variant in variant_list:
        params = {**variant.params, **params_for(variant.method)}
        for batch in batches:
            batch_images = images[:batch]
            try:
                m = measure(
                    model,
                    lambda: xw.explain(model, batch_images, method=variant.method, **params),
                    batch,
                    warm_up=warm_up,
                )
                per = m.passes
                cells = _ratio_cells(m, bare, (name, variant.label, batch), settings)
                rows.append(
                    f"| {variant.label} | {_params_text(params)} | {batch} | {_runs_text(m)} | "
                    f"{_ms(m.per_image)} | {per.forward_only_images / batch:g} | "
                    f"{per.backward_images / batch:g} | {_mib(m.peak_bytes)} | {cells} |"
                )
            except Exception as error:  # a broken method must not hide the other rows
                rows.append(
                    f"| {variant.label} | {_params_text(params)} | {batch} | "
                    f"{settings.fail(f'{variant.label} B={batch}', error)} | | | | | | | |"
                )
            print(rows[-1], flush=True)
    bare_line = (
        f"Bare model at micro-batch {cap}: forward {_ms(bare.per_image('forward', cap))} per image, "
        f"forward + backward to the input {_ms(bare.per_image('backward', cap))} per image "
        f"({'median of 5 after a warm-up' if warm_up else 'one run each, model already warm'})."
    )
    return rows + ["", bare_line]


def speed_section(device: str, settings: Settings) -> list[str]:
    """Speed tables for the toy classifier and ResNet-50."""
    cuda = device.startswith("cuda")
    lines = ["## Speed per method", ""]
    model = xw.toy.classifier(device=device)
    images = toy_images(8)
    toy_params = (lambda method: TOY_QUICK_PARAMS.get(method, {})) if settings.quick else (lambda method: {})
    lines += [
        f"### Toy classifier (112², 11 classes), toy images (seed {TOY_SEED}), "
        f"{'quick settings' if settings.quick else 'default parameters'}, micro-batch {model.max_batch}",
        "",
        SPEED_HEADER,
    ]
    lines += _speed_rows("toy", model, images, variants(), (1, 8), toy_params, settings)

    model = resnet50(device)
    batches = (1, 16) if cuda else (1,)
    images = resnet_images(max(batches))
    if cuda and not settings.quick:
        params_for, what = (lambda method: {}), "default parameters"
    else:
        table = RESNET_QUICK_PARAMS if settings.quick else RESNET_CPU_PARAMS
        params_for = lambda method: table.get(method, {})  # noqa: E731
        what = (
            "quick settings"
            if settings.quick
            else "fewer iterations / masks / windows on this CPU (column 'settings'; the ratio does not depend on them)"
        )
    warm = cuda
    if not warm:
        BarePasses(model, (224, 224), repeats=1).seconds("forward", 1)  # warm the model up once
    lines += ["", f"### ResNet-50 at 224², random weights, {what}, micro-batch {model.max_batch}", "", SPEED_HEADER]
    lines += _speed_rows("resnet50", model, images, variants(), batches, params_for, settings, warm_up=warm)
    return lines


def _size(images) -> tuple[int, int]:
    """(H, W) of a ``[N, 3, H, W]`` tensor or ``[N, H, W, 3]`` array."""
    return tuple(images.shape[-2:]) if isinstance(images, torch.Tensor) else tuple(images.shape[1:3])


CURVES_HEADER = (
    "| model | preset | steps per curve | B | timed runs | time per image | forward images per image "
    "| peak memory | bare model per image | overhead ratio | ratio at the chunk sizes used |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def curves_section(device: str, settings: Settings) -> list[str]:
    """Deletion + insertion curves (``igos`` and ``rise`` presets) on both models; random maps (the cost does not
    depend on the map)."""
    cuda = device.startswith("cuda")
    lines = [
        "## Deletion + insertion curves",
        "",
        "Both curves of an image, with the preset's steps each, from `xw.metrics.deletion_insertion` on random "
        "saliency maps (the cost does not depend on the map).",
        "",
        CURVES_HEADER,
    ]
    for key, name, model, images, batches, warm in (
        ("toy", "toy classifier 112²", xw.toy.classifier(device=device), toy_images(8), (1, 8), True),
        (
            "resnet50",
            "ResNet-50 224²",
            resnet50(device),
            resnet_images(16 if cuda else 1),
            (1, 16) if cuda else (1,),
            cuda,
        ),
    ):
        size = _size(images)
        bare = BarePasses(model, size, repeats=5 if warm else 1, warm_up=warm)
        for preset in ("igos", "rise"):
            steps = xw.metrics.PRESETS[preset]["steps"]
            for batch in batches:
                maps = torch.rand(batch, 1, *size, generator=torch.Generator().manual_seed(batch))
                try:
                    m = measure(
                        model,
                        lambda: xw.metrics.deletion_insertion(model, images[:batch], maps, preset=preset),
                        batch,
                        warm_up=warm,
                    )
                    cells = _ratio_cells(m, bare, (key, f"curves {preset}", batch), settings)
                    lines.append(
                        f"| {name} | {preset} | {steps} | {batch} | {_runs_text(m)} | {_ms(m.per_image)} | "
                        f"{m.passes.forward_only_images / batch:g} | {_mib(m.peak_bytes)} | {cells} |"
                    )
                except Exception as error:
                    lines.append(
                        f"| {name} | {preset} | {steps} | {batch} | "
                        f"{settings.fail(f'curves {preset} {name}', error)} | | | | | | |"
                    )
                print(lines[-1], flush=True)
    return lines


def targets_section(device: str, settings: Settings) -> list[str]:
    """Issue 4's speed targets against what the speed and curves sections measured."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    results = settings.results
    lines = ["## Issue 4's targets", ""]
    for batch in (1, 8):
        if ("toy", "igos", batch) in results:
            m = results[("toy", "igos", batch)][0]
            lines.append(
                f"- I-GOS on the toy model, B={batch}: {m.per_image:.2f} s per image (target ≤ 0.5 s on the "
                f"2-core CPU{'; quick settings, not the defaults' if settings.quick else ''}): "
                f"{verdict(m.per_image <= 0.5)}."
            )
    for (model, label, batch), (_, ratio, exact) in results.items():
        if label.startswith("igos"):
            lines.append(
                f"- Overhead ratio, {label} on {model}, B={batch}: {ratio:.2f} (at the chunk sizes used "
                f"{exact:.2f}; target ≤ 1.3): {verdict(ratio <= 1.3)}."
            )
    if device.startswith("cuda"):
        for label, limit in (("igos", 0.2), ("igospp (nag)", 0.8)):
            if ("resnet50", label, 1) in results:
                m = results[("resnet50", label, 1)][0]
                lines.append(
                    f"- {label} on ResNet-50, one image: {m.per_image * 1000:.0f} ms (H100 target ≤ "
                    f"{limit * 1000:.0f} ms): {verdict(m.per_image <= limit)}."
                )
        for batch in (1, 16):
            if ("resnet50", "curves igos", batch) in results:
                m = results[("resnet50", "curves igos", batch)][0]
                lines.append(
                    f"- Deletion + insertion curves (50 steps each) on ResNet-50, B={batch}: "
                    f"{m.per_image * 1000:.1f} ms per image (H100 target ≤ 20 ms): "
                    f"{verdict(m.per_image <= 0.02)}."
                )
        for (model, label, batch), (_, ratio, _) in results.items():
            if model == "resnet50" and batch > 1 and not label.startswith("curves"):
                lines.append(
                    f"- Batched throughput, {label} on ResNet-50, B={batch}: {ratio:.2f}× the limit set by "
                    f"its pass count and the model's batched speed (target ≤ 1.3): {verdict(ratio <= 1.3)}."
                )
    else:
        lines.append(
            "- The H100 targets (ResNet-50 I-GOS ≤ 200 ms, iGOS++ with NAG ≤ 800 ms, curves ≤ 20 ms per "
            "image, batched throughput within 1.3×) need a CUDA device; none was available to this run."
        )
    return lines


def quality_section(device: str, settings: Settings) -> list[str]:
    """Insertion/deletion AUC (preset ``igos``) and evidence energy of every method on toy images."""
    count = 10 if settings.quick else 50
    samples = xw.toy.ToyWorld().samples(count, seed=TOY_SEED)
    images = np.stack([s.image for s in samples])
    evidence = torch.tensor(np.stack([s.evidence for s in samples]))
    model = xw.toy.classifier(device=device)
    with torch.no_grad():
        predicted = model(images).argmax(1).cpu()
    correct = int((predicted == torch.tensor([s.species for s in samples])).sum())
    maps = {}
    for variant in variants():
        params = {**variant.params, **(TOY_QUICK_PARAMS.get(variant.method, {}) if settings.quick else {})}
        try:
            maps[variant.label] = (params, xw.explain(model, images, method=variant.method, **params).saliency)
        except Exception as error:
            maps[variant.label] = (params, settings.fail(f"quality {variant.label}", error))
    maps["random maps (control)"] = (
        {"seed": 0},
        torch.rand(count, 1, 112, 112, generator=torch.Generator().manual_seed(0)),
    )
    lines = [
        "## Quality on the toy world",
        "",
        f"{count} toy images (`ToyWorld().samples({count}, seed={TOY_SEED})`), the classifier's top-1 class as "
        f"the target (it is the true species on {correct}/{count}). Insertion and deletion AUC with the `igos` "
        "preset (28×28 blocks, blur 51/σ 50 substrate, 50 steps, right Riemann sum); evidence energy = the "
        "share of the map's total saliency on the species rule's evidence parts "
        "(`energy_in_mask(saliency, sample.evidence)`). Means over the images, ± the standard error.",
        "",
        "| method | settings | insertion AUC ↑ | deletion AUC ↓ | insertion − deletion ↑ | evidence energy ↑ |",
        "|---|---|---|---|---|---|",
    ]
    for label, (params, saliency) in maps.items():
        if isinstance(saliency, str):
            lines.append(f"| {label} | {_params_text(params)} | {saliency} | | | |")
            continue
        curves = xw.metrics.deletion_insertion(model, images, saliency, preset="igos")
        energy = xw.metrics.energy_in_mask(saliency, evidence)
        cells = [
            _mean_se(curves.insertion_auc),
            _mean_se(curves.deletion_auc),
            _mean_se(curves.insertion_auc - curves.deletion_auc),
            _mean_se(energy),
        ]
        lines.append(f"| {label} | {_params_text(params)} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    return lines


def _mean_se(values: torch.Tensor) -> str:
    values = values.double()
    se = float(values.std() / values.numel() ** 0.5) if values.numel() > 1 else 0.0
    return f"{float(values.mean()):.3f} ± {se:.3f}"


def definitions(device: torch.device) -> list[str]:
    """What the speed columns mean."""
    return [
        "Columns: *forward-only images* are images the model forwarded without a backward pass; *fwd+bwd images* "
        "are images whose forward pass was followed by a backward pass to the input (both counted by hooks on the "
        "module, per image explained). *Peak memory*: " + memory_kind(device) + ". *Bare model per image*: "
        "(forward-only images × t_f + fwd+bwd images × t_fb) / B, with t_f the per-image time of a bare forward "
        "(`no_grad`) and t_fb of a bare forward + backward to the input, both at the model's micro-batch size "
        "(`model.max_batch`). *Overhead ratio* = wall time / that bare time (issue 4's target: ≤ 1.3 for I-GOS and "
        "iGOS++). *Ratio at the chunk sizes used* prices every chunk the kernel ran at the bare time of a chunk of "
        "that size, so it leaves out what small, partly filled chunks cost the model itself.",
        "",
        "Timing: wall time per image explained; a warm-up run, then the median of 3 runs when one run is under "
        "2 s, else one run. ResNet-50 on a CPU is too slow to run twice: one run without a warm-up of its own (the "
        "model is warmed once before its first row), and its bare times are single runs too. The `timed runs` "
        "column says which.",
    ]
