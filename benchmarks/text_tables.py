"""The textual-explanation benchmark tables of issue 8: fitting the filter-level attribute distributions p(a|f) for N
captioned images (the dataset pass and the estimator apart), explaining images in words (one forward + backward
per batch), scoring images for retrieval, the explorer's synchronous re-explanation on each click, and the toy
world's quality measures against a shuffled-caption control.

Models: the toy classifier (112², layer "features") everywhere, and torchvision ResNet-50 at 224² with random
weights (layer "layer4"; toy images upsampled to 224², with the toy world's captions of those images) only on a
CUDA device. Random weights make ResNet-50's words meaningless, so its rows report time and memory only.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

import xwidgets as xw
from meters import measure, memory_kind

__all__ = ["text_section"]

TOY_SEED = 9720  # the captioned images (fitting, speed rows)
HELD_OUT_SEED = 9721  # the quality table's held-out images
SHUFFLE_SEED = 9722  # the control's caption permutation
CELL = 8  # one cell of the toy classifier's 14x14 layer on a 112-pixel image
RETRIEVAL_IMAGES = 440
POOL = 24  # the explorer row's pool of images


def _time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.1f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _memory(peak: int | None) -> str:
    return "n/a" if peak is None else f"{peak / 2**20:.0f} MiB"


def _fit_rows(
    name: str, model, images: torch.Tensor, captions: list, layer: str, sizes: tuple[int, ...], repeats: int
) -> tuple[list[str], object]:
    """One row per N; returns the rows and the text model fitted on the largest N."""
    rows, fitted = [], None
    xw.concepts.extract_features(model, images[: model.max_batch], layer)  # warm-up
    for size in sizes:
        subset, words = images[:size], captions[:size]
        results = []
        dataset = measure(
            model, lambda: results.append(xw.concepts.extract_features(model, subset, layer)), size, repeats=repeats
        )
        features = results[-1]
        fits = []
        estimator = measure(
            model, lambda: fits.append(xw.text.fit(model, captions=words, features=features)), size, repeats=repeats
        )
        fitted = fits[-1]
        whole = measure(model, lambda: xw.text.fit(model, subset, captions=words, layer=layer), size, repeats=repeats)
        rows.append(
            f"| {name} | {size} | {_time(dataset.seconds)} | {_time(dataset.per_image)} | "
            f"{dataset.passes.forward_only_images / size:.0f} | {_time(estimator.seconds)} | "
            f"{_time(estimator.per_image)} | {_time(whole.seconds)} | {len(fitted.attributes)} | "
            f"{fitted.described} | {_memory(dataset.peak_bytes)} / {_memory(estimator.peak_bytes)} |"
        )
    return rows, fitted


def _explorer_row(name: str, text_model, pool: torch.Tensor, repeats: int) -> str:
    """The explorer's real click: setting the words control re-explains and redraws (sentence, bars, map,
    filters, retrieval)."""
    try:
        explorer = xw.TextExplorer(text_model, pool)
    except ImportError as error:  # a GPU machine without the widget libraries
        return f"| {name} | TextExplorer: a words-control change | 1 | not measured here: {error} | | | | |"
    control = explorer.controls["words"]
    values = iter([2, 3] * (repeats + 2))
    measurement = measure(text_model.model, lambda: setattr(control, "value", next(values)), 1, repeats=repeats)
    explorer.close()
    return (
        f"| {name} | TextExplorer: a words-control change (re-explain + full redraw, pool of {len(pool)}) | 1 | "
        f"{_time(measurement.seconds)} | {_time(measurement.per_image)} | "
        f"{measurement.passes.forward_only_images} | {measurement.passes.backward_images} | "
        f"{_memory(measurement.peak_bytes)} |"
    )


def _use_rows(name: str, model, text_model, images: torch.Tensor, repeats: int) -> list[str]:
    """Explaining, retrieval scoring, re-ranking and the explorer interaction."""
    rows = []

    def row(label: str, call, count: int, batch: str) -> None:
        measurement = measure(model, call, count, repeats=repeats)
        passes = measurement.passes
        rows.append(
            f"| {name} | {label} | {batch} | {_time(measurement.seconds)} | {_time(measurement.per_image)} | "
            f"{passes.forward_only_images} | {passes.backward_images} | {_memory(measurement.peak_bytes)} |"
        )

    one = images[:1]
    for batch in (1, 16):
        row(
            f"explain (sentence + {len(text_model.attributes)} grounding maps)",
            lambda: text_model.explain(images[:batch]),
            batch,
            f"B = {batch}",
        )
    pool = images[:RETRIEVAL_IMAGES]
    row(
        "attribute_scores through the network (retrieval)",
        lambda: text_model.attribute_scores(pool),
        len(pool),
        f"N = {len(pool)}",
    )
    features = xw.concepts.extract_features(model, pool, text_model.layer)
    row(
        "attribute_scores from cached features",
        lambda: text_model.attribute_scores(features=features),
        len(pool),
        f"N = {len(pool)}",
    )
    row("re-explain with words = 2 (a words click)", lambda: text_model.explain(one, words=2), 1, "B = 1")
    row(
        "re-explain with rank = probability (a rank click)",
        lambda: text_model.explain(one, rank="probability"),
        1,
        "B = 1",
    )
    cached = text_model.explain(one)
    vocabulary = text_model.vocabulary

    def rerank() -> None:
        order = cached.lift[0].argsort(descending=True, stable=True).tolist()
        xw.text.compose_sentence(order, vocabulary, cached.class_names[0], 2)

    row("re-rank from the cached explanation (argsort + compose_sentence, no network)", rerank, 1, "B = 1")
    attribute = cached.sentence_attributes[0][0][0]

    def interaction() -> None:
        text_model.explain(one, words=2).map(attribute, 0)

    row(f"explorer interaction: explain + map('{attribute}')", interaction, 1, "B = 1")
    rows.append(_explorer_row(name, text_model, images[:POOL], repeats))
    return rows


def _quality_lines(device: str, quick: bool) -> list[str]:
    """Sentence, retrieval and grounding measures on held-out toy images, taken as
    tests/text/test_text_quality.py takes them."""
    fit_count, held_count = (220, 66) if quick else (440, 220)
    model = xw.toy.classifier(device=device)
    data = xw.toy.dataset(fit_count, seed=TOY_SEED)
    held_out = xw.toy.dataset(held_count, seed=HELD_OUT_SEED)
    fit_features = xw.concepts.extract_features(model, data, "features")
    captions = xw.toy.captions(data)
    fitted = xw.text.fit(model, captions=captions, features=fit_features)
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(captions))
    control = xw.text.fit(
        model, captions=[captions[i] for i in order], features=fit_features, vocabulary=fitted.vocabulary
    )

    samples = held_out.samples
    images = held_out.images()
    features = xw.concepts.extract_features(model, images, "features")
    vocabulary = fitted.vocabulary
    truths = [xw.toy.evidence_attributes(vocabulary, s) for s in samples]
    labels = xw.toy.vocabulary_labels(vocabulary, samples)
    evidence_columns = sorted({vocabulary.index(a) for truth in truths for a in truth})
    masks = [{part: s.part_mask(part) for part in xw.toy.PARTS} for s in samples]
    measures = {}
    for name, text_model in (("fitted", fitted), ("control", control)):
        explanation = text_model.explain(images, model)
        scores = text_model.attribute_scores(features=features)
        evidence = xw.text.retrieval_map(scores, labels, evidence_columns)
        everything = xw.text.retrieval_map(scores, labels)
        pointing = xw.text.pointing_accuracy(explanation, truths, masks)
        described = [{vocabulary.attributes[j] for j in np.flatnonzero(row)} for row in labels]
        measures[name] = {
            **xw.text.sentence_scores(explanation, truths),
            "named_true": xw.text.phrase_truth(explanation, described)["named_true"],
            "map_evidence": evidence["map"],
            "map_all": everything["map"],
            "pointing": pointing["accuracy"],
            "pairs": pointing["pairs"],
            "pointing_cell": xw.text.pointing_accuracy(explanation, truths, masks, tolerance=CELL)["accuracy"],
        }
    chance_evidence = xw.text.retrieval_map(labels.astype(float), labels, evidence_columns)
    chance_all = xw.text.retrieval_map(labels.astype(float), labels)
    # A peak dropped uniformly at random lands on the part with probability the part's area fraction.
    areas = [
        float(np.asarray(m[a.rsplit(" ", 1)[1]], dtype=bool).mean())
        for truth, m in zip(truths, masks)
        for a in truth
        if a.rsplit(" ", 1)[1] in m
    ]
    f, c = measures["fitted"], measures["control"]
    return [
        f"## Quality on the toy world (fit on {fit_count} images, seed {TOY_SEED}; {held_count} held-out images, "
        f"seed {HELD_OUT_SEED})",
        "",
        f"Vocabulary: {len(vocabulary)} attributes mined from the captions; {fitted.described} of {fit_count} "
        f"images described. The control has the same features and vocabulary, each image given another image's "
        f"captions (permutation seed {SHUFFLE_SEED}). Truth: each held-out image's evidence attributes (its "
        "species rule) for the sentences and the pointing game, its complete description for retrieval. Chance: "
        "the mean positive rate for mAP; for pointing at tolerance 0, the mean area fraction of the attribute's "
        "part (a peak placed at random).",
        "",
        "| measure | fitted | shuffled-caption control | chance |",
        "|---|---|---|---|",
        f"| sentence precision (share of named attributes that are evidence) | {f['precision']:.2f} | "
        f"{c['precision']:.2f} | – |",
        f"| sentence recall (share of evidence attributes named) | {f['recall']:.2f} | {c['recall']:.2f} | – |",
        f"| named attributes true of the image (its complete description) | {f['named_true']:.2f} | "
        f"{c['named_true']:.2f} | – |",
        f"| retrieval mAP, evidence attributes ({chance_evidence['attributes']}) | {f['map_evidence']:.2f} | "
        f"{c['map_evidence']:.2f} | {chance_evidence['chance']:.2f} |",
        f"| retrieval mAP, all attributes ({chance_all['attributes']}) | {f['map_all']:.2f} | {c['map_all']:.2f} | "
        f"{chance_all['chance']:.2f} |",
        f"| pointing accuracy, tolerance 0 ({f['pairs']} image–attribute pairs) | {f['pointing']:.2f} | "
        f"{c['pointing']:.2f} | {np.mean(areas):.2f} |",
        f"| pointing accuracy, tolerance {CELL} px (one feature cell) | {f['pointing_cell']:.2f} | "
        f"{c['pointing_cell']:.2f} | – |",
    ]


def text_section(device: str, quick: bool = False) -> list[str]:
    """The section's markdown lines."""
    torch_device = torch.device(device)
    sizes = (110, 220) if quick else (110, 220, 440, 880)
    repeats = 1 if quick else 5
    data = xw.toy.dataset(max(sizes), seed=TOY_SEED)  # species cycle, so every prefix is balanced
    toy_images, toy_captions = data.images(), xw.toy.captions(data)
    toy = xw.toy.classifier(device=device)
    runs = f"{repeats} run{'s' if repeats > 1 else ''}"
    fit_lines = [
        "## Fitting p(a|f) from N captioned images (min_images 5)",
        "",
        f"Peak memory: {memory_kind(torch_device)}. *Dataset pass*: `xw.concepts.extract_features` (one "
        "forward pass per image, no gradients); *estimator*: `xw.text.fit(model, captions=..., "
        "features=...)` from those cached features (mining the vocabulary from the captions, p(a|x), "
        "then p(a|f)); *fit end to end*: `xw.text.fit(model, images, captions=..., layer=...)`, both steps "
        f"in one call; each the median of {runs} after a warm-up. *Described*: images whose captions name a "
        "vocabulary attribute.",
        "",
        "| model | N | dataset pass | per image | forward images per image | estimator | per image "
        "| fit end to end | vocabulary | described | peak memory (pass / estimator) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    use_lines = [
        "## Explaining, retrieval and the explorer",
        "",
        f"The text model fitted on the largest N above. Wall: median of {runs} after a warm-up "
        "(one run when the warm-up took over 2 s); forward-only and forward + backward images counted by "
        "hooks on the model (meters.py). *explain* returns the sentence, p(a|x,y), the lift and the "
        "grounding maps of every vocabulary attribute at layer resolution; *map* upsamples one to the "
        "input. The explorer re-explains synchronously on every words or rank click.",
        "",
        "| model | what | B / N | wall | per image | forward-only images | fwd+bwd images | peak memory |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows, fitted = _fit_rows("toy classifier 112²", toy, toy_images, toy_captions, "features", sizes, repeats)
    fit_lines += rows
    use_lines += _use_rows("toy classifier 112²", toy, fitted, toy_images, repeats)
    if torch_device.type == "cuda":
        module = torchvision.models.resnet50(weights=None).eval()
        resnet = xw.Classifier(
            module,
            preprocessing=xw.core.Preprocessing(mean=xw.core.IMAGENET_MEAN, std=xw.core.IMAGENET_STD),
            device=device,
        )
        pixels = F.interpolate(toy_images, size=(224, 224), mode="bilinear", align_corners=False).clamp(0, 1)
        rows, fitted = _fit_rows(
            "ResNet-50 224² (random weights)", resnet, pixels, toy_captions, "layer4", sizes, repeats
        )
        fit_lines += rows
        use_lines += _use_rows("ResNet-50 224² (random weights)", resnet, fitted, pixels, repeats)
        del pixels
    else:
        fit_lines += [
            "",
            "ResNet-50 rows (here and below) run only on a CUDA device (`python benchmarks/run.py --only text` there).",
        ]
    fit_lines += [
        "",
        f"Toy world: {max(sizes)} images, 11 species, seed {TOY_SEED}; each N is the first N of them "
        "(species cycle, so every prefix is balanced).",
    ]
    return fit_lines + [""] + use_lines + [""] + _quality_lines(device, quick)
