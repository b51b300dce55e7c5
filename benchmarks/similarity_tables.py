"""The similarity-explanation benchmark tables of issue 9: SANE's pair saliency (RISE, sliding window, mask) with a
fixed and a variable reference, single pair and batched (wall time per pair, forward and forward + backward images
per pair counted by hooks, peak memory), attribute prediction, the MatchExplorer's cost per click
(``xw.explain(..., method="sane", both=True)`` at RISE defaults) and the ``sane`` deletion/insertion metric for one
pair.

Models: the toy embedder (112², toy pairs) everywhere, and torchvision ResNet-50 with random weights at 224²
(``xw.Embedder.from_torchvision``, its final layer replaced by the identity) only on a CUDA device: on these 2 CPU
cores its mask rows alone would take many minutes. Quality is measured by the tests (tests/similarity), not here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torchvision

import xwidgets as xw
from meters import measure, memory_kind
from xwidgets.core.methods import get_spec

__all__ = ["similarity_section"]

PAIR_SEED = 9900  # xw.toy.pairs seed of the query/reference pairs
METHODS = ("pair_rise", "pair_sliding_window", "pair_mask")
MODES = ("fixed", "variable")
# SANE's defaults, as the pair methods' registered parameters declare them; --quick runs far fewer perturbations.
QUICK_PARAMS = {"pair_rise": {"masks": 200}, "pair_sliding_window": {"stride": 16}, "pair_mask": {"iterations": 20}}


def _time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"


def _memory(peak: int | None) -> str:
    return "n/a" if peak is None else f"{peak / 2**20:.0f} MiB"


def _describe(method: str, params: dict) -> str:
    values = get_spec(method).params.resolve(params)
    if method == "pair_rise":
        return f"pair_rise ({values['masks']} masks)"
    if method == "pair_sliding_window":
        return f"pair_sliding_window ({values['window']} px, stride {values['stride']})"
    return f"pair_mask ({values['iterations']} iterations)"


def _saliency_rows(
    name: str, embedder, queries, references, batches: tuple[int, ...], modes: tuple[str, ...], quick: bool
) -> list[str]:
    rows = []
    for method in METHODS:
        params = QUICK_PARAMS[method] if quick else {}
        for mode in modes:
            for batch in batches:
                results = []

                def call() -> None:
                    results.append(
                        xw.explain(
                            embedder,
                            queries[:batch],
                            reference=references[:batch],
                            method=method,
                            reference_mode=mode,
                            seed=0,
                            **params,
                        )
                    )

                # The mask method runs `iterations` forward + backward passes per pair: batched, time it once.
                warm_up = not (method == "pair_mask" and batch > 1)
                measurement = measure(embedder, call, batch, warm_up=warm_up, repeats=1)
                passes = measurement.passes
                reported = results[-1].forward_passes / batch
                rows.append(
                    f"| {name} | {_describe(method, params)} | {mode} | {batch} | "
                    f"{_time(measurement.seconds)} | {_time(measurement.per_image)} | "
                    f"{passes.forward_only_images / batch:.0f} | {passes.backward_images / batch:.0f} | "
                    f"{reported:.0f} | {_memory(measurement.peak_bytes)} | "
                    f"{'yes' if measurement.warm_up else 'no'} |"
                )
    return rows


def _use_rows(name: str, embedder, queries, references, quick: bool) -> list[str]:
    """Attribute prediction, the explorer's click and the deletion/insertion metric."""
    attribute_model = xw.toy.attribute_model()
    rows = []

    def row(label: str, call, count: int, batch: str) -> None:
        measurement = measure(embedder, call, count, repeats=1)
        passes = measurement.passes
        rows.append(
            f"| {name} | {label} | {batch} | {_time(measurement.seconds)} | {_time(measurement.per_image)} | "
            f"{passes.forward_only_images} | {passes.backward_images} | {_memory(measurement.peak_bytes)} | "
            f"{'yes' if measurement.warm_up else 'no'} |"
        )

    for batch in (1, 16):
        row(
            f"attribute_model.predict ({len(attribute_model.attributes)} attributes)",
            lambda: attribute_model.predict(queries[:batch], embedder),
            batch,
            f"B = {batch}",
        )
    rise = QUICK_PARAMS["pair_rise"] if quick else {}
    row(
        f"sane (both=True), {_describe('pair_rise', rise)}: the MatchExplorer's cost per click",
        lambda: xw.explain(
            embedder,
            queries[:1],
            reference=references[:1],
            method="sane",
            attribute_model=attribute_model,
            saliency_method="pair_rise",
            both=True,
            **rise,
        ),
        1,
        "1 pair",
    )
    maps = xw.explain(embedder, queries[:1], reference=references[:1], method="pair_rise", **rise).maps
    target = xw.similarity_to(embedder, references[:1])
    row(
        "deletion_insertion(preset='sane') of one RISE map",
        lambda: xw.metrics.deletion_insertion(embedder, queries[:1], maps, target=target, preset="sane"),
        1,
        "1 pair",
    )
    return rows


def _resnet50(device: str):
    """ResNet-50 with random weights as an Embedder, through a state dict saved to a temporary file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "resnet50_random.pth"
        torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
        return xw.Embedder.from_torchvision("resnet50", "IMAGENET1K_V2", weights_path=path, device=device)


def similarity_section(device: str, quick: bool = False) -> list[str]:
    """The section's markdown lines."""
    torch_device = torch.device(device)
    batches = (1, 2) if quick else (1, 8)
    pairs = xw.toy.pairs(max(batches[-1], 16), seed=PAIR_SEED)
    queries = np.stack([p.first.image for p in pairs])  # [N, 112, 112, 3] uint8
    references = np.stack([p.second.image for p in pairs])
    embedder = xw.toy.embedder(device=device)
    defaults = (
        "RISE 2000 masks (+ 30 reference masks when variable), sliding window 32 px at stride 4 (625 "
        "windows, + 36 reference occluders when variable), mask 500 Adam iterations (two masks, query and "
        "reference, when variable)"
    )
    saliency_lines = [
        "## Pair saliency (SANE)",
        "",
        "`xw.explain(embedder, queries, reference=references, method=...)` on B (query, reference) pairs from "
        f"`xw.toy.pairs(…, seed={PAIR_SEED})`, "
        f"{'at the quick parameters shown' if quick else 'at SANE defaults: ' + defaults}. Wall: one timed run, "
        "after one untimed warm-up except where the last column says no (the mask method at B > 1, timed once). "
        "*Per pair*: wall / B. Forward-only and forward + backward images per pair are counted by hooks on the "
        "model (meters.py); *reported* is `PairSaliency.forward_passes` / B (every image through the model, the "
        f"2 clean passes included). Peak memory: {memory_kind(torch_device)}.",
        "",
        "| model | method | reference | B | wall | per pair | forward-only images / pair | fwd+bwd images / pair "
        "| reported passes / pair | peak memory | warm-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *_saliency_rows("toy embedder 112²", embedder, queries, references, batches, MODES, quick),
    ]
    if torch_device.type == "cuda":
        resnet = _resnet50(device)
        saliency_lines += _saliency_rows(
            "ResNet-50 224² (random weights)", resnet, queries, references, batches, ("fixed",), quick
        )
        saliency_lines += [
            "",
            "ResNet-50: `xw.Embedder.from_torchvision('resnet50', 'IMAGENET1K_V2', "
            "weights_path=...)` with a random-weight state dict (the enum only sets the "
            "preprocessing: the 112² toy images are resized to 232 and centre-cropped to 224²); "
            "fixed reference only.",
        ]
        del resnet
    else:
        saliency_lines += [
            "",
            "ResNet-50 rows (224², random weights, fixed reference) run only on a CUDA device "
            "(`python benchmarks/run.py --only similarity` there); skipped on this CPU.",
        ]
    use_lines = [
        "## Attributes, the explorer's click and the metric",
        "",
        "Toy embedder with `xw.toy.attribute_model()`. Wall: one timed run after an untimed warm-up; "
        "images counted by hooks. *sane* with `both=True` explains the query against the reference and "
        "the reference against the query, then predicts and ranks the attributes of both: what the MatchExplorer "
        "computes on each click. The metric row times `xw.metrics.deletion_insertion(embedder, query, maps, "
        "target=xw.similarity_to(embedder, reference), preset='sane')` for a map computed beforehand.",
        "",
        "| model | what | B | wall | per image / pair | forward-only images | fwd+bwd images | peak memory | warm-up |",
        "|---|---|---|---|---|---|---|---|---|",
        *_use_rows("toy embedder 112²", embedder, queries, references, quick),
    ]
    return saliency_lines + [""] + use_lines
