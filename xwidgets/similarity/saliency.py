"""Pair saliency for similarity models after SANE (Plummer et al., ECCV 2020; ``docs/similarity.md``).

The score explained is the cosine similarity ``s(q, r)`` between the embedding of a (perturbed) query q and the
embedding of its reference r. A map lives on the query: high = the pixels whose presence keeps the pair similar.

Three methods, each batched over the B pairs (every perturbation of every pair goes through micro-batched forward
passes, :func:`~xwidgets.core.scoring.microbatched`):

``rise``
    ``sal(λ) = Σ_i s(q ⊙ M_i, r) M_i(λ) / Σ_i M_i(λ)``: random smooth masks (RISE's generator), composited with
    the baseline in normalised space, normalised per pixel by its sampling frequency (SANE), not by N·p.
``sliding_window``
    square occluders slid over a padded canvas; each pixel's saliency is the mean of ``1 − s(occluded q, r)`` over
    the windows that cover it.
``mask``
    Fong & Vedaldi's meaningful perturbation as SANE runs it: Adam on a coarse mask M (1 keeps the pixel) that
    *minimises* the similarity plus ``λ1·mean|1 − M| + λTV·TV_β(M)``, with a median-blurred baseline; the map is
    ``1 − M``.

``reference_mode="fixed"`` (SANE's main setting) keeps the reference's unperturbed embedding.
``reference_mode="variable"`` perturbs the reference too: RISE and the sliding window average the query maps over
K perturbed references (K random masks, or 6×6 coarse occluders); the mask method optimises a second mask on the
reference jointly and returns it as ``reference_maps``.

Averaging K maps costs N + K forward passes, not N·K: each map is linear in the scores and shares its
normalisation, so the mean of the K maps is the map of the mean score, and the mean over k of the cosines
``<ê(q ⊙ M_i), ê(r ⊙ R_k)>`` is the product of the N query embeddings with the mean of the K unit reference
embeddings (one matrix product).

Choices where SANE's description leaves the details open (SANE's code is not copied; each is spelled out in
``docs/similarity.md#pair-sliding-window`` and ``docs/similarity.md#pair-mask``):

- Sliding window: the query canvas is padded by ``window // 4`` pixels on each side and a pixel's saliency is the
  mean over the windows that cover it; reference occluders (variable mode) use no padding.
- Mask: M starts at 1; fresh noise in normalised space at every step from the local generator; M clamped to [0, 1]
  after each step; TV over rows plus columns at mask resolution; in variable mode two 8×8 halves (one per image, no
  seam term); the median blur replicates the edges.
- Maps of every method are min-max normalised per pair; ``raw`` keeps the values before. A pair whose similarity
  moves by at most :data:`FLAT_SIMILARITY` under every perturbation gets an all-zero map (never NaN).
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch
import torch.nn.functional as F

from ..core.baselines import BASELINE_KINDS, make_baseline
from ..core.deprecation import warn_deprecated
from ..core.errors import InvalidArgument, XWidgetsError, invalid
from ..core.images import to_batch
from ..core.masks import composite, upsample_mask
from ..core.memory import Phase, Workload, held_images
from ..core.methods import register
from ..core.models import Classifier, Embedder, check_model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import Progress, shows_progress
from ..core.scoring import forward_batched, microbatched
from ..heatmaps.baselines import draw_rise_cells, render_rise_masks, rise_masks
from ..heatmaps.result import normalise_maps

__all__ = [
    "REFERENCE_MODES",
    "RISE_PAIR_PARAMS",
    "SLIDING_WINDOW_PAIR_PARAMS",
    "MASK_PAIR_PARAMS",
    "PairSaliency",
    "pair_rise",
    "pair_sliding_window",
    "pair_mask",
    "pair_method_title",
    "pair_saliency",
    "prepare_images",
    "rise_masks",
    "median_blur",
]

REFERENCE_MODES = ("fixed", "variable")

#: A pair whose similarity moves less than this under every perturbation is "flat": its map is all zeros.
FLAT_SIMILARITY = 1e-6

#: The names the pair methods had before the method registry (``pair_saliency(method=...)``), deprecated.
OLD_METHOD_NAMES = {"rise": "pair_rise", "sliding_window": "pair_sliding_window", "mask": "pair_mask"}
#: The share of a pair method's progress bar that its setup fills (embedding the pair, the baselines), reported
#: before the method's first slow pass so that the bar moves from the start.
SETUP_SHARE = 0.05


def _reference_mode() -> Param:
    return Param(
        "reference_mode",
        "choice",
        "fixed",
        "keep the reference's unperturbed embedding (SANE's main setting) or perturb the reference too",
        choices=REFERENCE_MODES,
    )


RISE_PAIR_PARAMS = ParamSet(
    "pair_rise",
    Param("masks", "int", 2000, "random masks on the query (SANE: 2000 at 112 px)", low=1, high=20000),
    Param("grid", "int", 8, "cells per side of the random binary grid (SANE: 8)", low=2, high=64),
    Param("keep", "float", 0.5, "probability that a cell is kept (SANE: 0.5)", low=0.01, high=0.99),
    Param(
        "normalise_by",
        "choice",
        "frequency",
        "divide by each pixel's kept count (SANE) or by N·p (RISE)",
        choices=("frequency", "probability"),
    ),
    Param(
        "baseline",
        "choice",
        "mean",
        "what masked pixels become ('mean': zero in normalised space, SANE)",
        choices=BASELINE_KINDS,
    ),
    _reference_mode(),
    Param(
        "reference_masks",
        "int",
        30,
        "random masks on the reference when reference_mode='variable' (SANE: 30)",
        low=1,
        high=2000,
    ),
)
SLIDING_WINDOW_PAIR_PARAMS = ParamSet(
    "pair_sliding_window",
    Param("window", "int", 32, "side of the square occluder on the query in pixels (SANE: 32)", low=1, high=1024),
    Param("stride", "int", 4, "step between query occluders in pixels (SANE: 4)", low=1, high=1024),
    Param(
        "baseline",
        "choice",
        "mean",
        "what occluded pixels become ('mean': zero in normalised space)",
        choices=BASELINE_KINDS,
    ),
    _reference_mode(),
    Param(
        "reference_window", "int", 32, "side of the reference occluder when reference_mode='variable'", low=1, high=1024
    ),
    Param(
        "reference_stride", "int", 16, "step between reference occluders (SANE: 6×6 = 36 at 112 px)", low=1, high=1024
    ),
)
MASK_PAIR_PARAMS = ParamSet(
    "pair_mask",
    Param("iterations", "int", 500, "Adam steps (SANE: 500)", low=1, high=10000),
    Param("lr", "float", 0.1, "Adam learning rate (SANE: 0.1)", low=1e-4, high=10.0, log=True),
    Param("l1", "float", 0.01, "weight λ1 of mean|1 − M| (SANE: 0.01)", low=0.0, high=100.0),
    Param("tv", "float", 0.2, "weight λTV of the total variation (SANE: 0.2)", low=0.0, high=100.0),
    Param("tv_beta", "float", 3.0, "exponent β of the total variation (SANE: 3)", low=1.0, high=10.0),
    Param("resolution", "int", 8, "mask cells per side, upsampled bilinearly (SANE: 8)", low=2, high=256),
    Param(
        "noise",
        "float",
        0.2,
        "std of the Gaussian noise added to the perturbed input in normalised "
        "space, drawn afresh each step (SANE: 0.2)",
        low=0.0,
        high=10.0,
    ),
    Param(
        "baseline",
        "choice",
        "median",
        "what deleted pixels become (SANE: a median blur)",
        choices=("median", *BASELINE_KINDS),
    ),
    Param("median_kernel", "int", 11, "side of the median filter in pixels, odd (SANE: 11)", low=1, high=101, step=2),
    _reference_mode(),
)


@dataclasses.dataclass(kw_only=True)
class PairSaliency(Result):
    """Saliency maps of B (query, reference) pairs under a similarity model.

    Attributes:
        queries: ``[B, 3, H, W]`` the queries in pixel space ([0, 1]) at the model's input size.
        references: ``[B, 3, H, W]`` the references, likewise (a single reference is repeated B times).
        maps: ``[B, 1, H, W]`` float in [0, 1] on the query; high = important for the match. All zeros for a
            pair whose similarity never changes.
        raw: ``[B, 1, H, W]`` the maps before min-max normalisation: for ``pair_rise`` the similarity-weighted mask
            average (a similarity), for ``pair_sliding_window`` the mean of ``1 − s`` over the covering windows,
            for ``pair_mask`` ``1 − M`` upsampled.
        similarity: ``[B]`` the cosine similarity of each unperturbed pair.
        reference_maps: ``[B, 1, H, W]`` in [0, 1] on the reference, or None; only the variable-reference mask
            method yields them.
        reference_raw: ``[B, 1, H, W]`` the reference maps before normalisation (``1 − M`` of the reference's
            mask), or None.
        reference_mode: ``"fixed"`` or ``"variable"``.
        forward_passes: images the embedder ran on (clean and perturbed, queries and references).
    """

    queries: torch.Tensor
    references: torch.Tensor
    maps: torch.Tensor
    raw: torch.Tensor
    similarity: torch.Tensor
    reference_maps: torch.Tensor | None = None
    reference_raw: torch.Tensor | None = None
    reference_mode: str = "fixed"
    forward_passes: int = 0

    def __len__(self) -> int:
        return int(self.maps.shape[0])

    def figure(self, index: int | list[int] = 0, *, path=None, **style):
        """A matplotlib figure: for pair ``index`` (or each pair of a list of indices), the query with its map, then
        the reference (with its map when the method made one); saved to ``path`` (``.pdf``, ``.svg``, ``.png``)
        when given. ``style``: ``colormap``, ``alpha``, ``threshold``, ``style`` (``"one-column"``,
        ``"two-column"`` or ``"auto"``), ``title`` (:func:`~xwidgets.similarity.figure.pair_figure`)."""
        from ..figures import without_old_sizes
        from .figure import pair_figure

        style = without_old_sizes(style)
        return pair_figure(self, index, path=path, method_title=pair_method_title(self.method), **style)


def pair_method_title(name: str) -> str:
    """The readable title of a pair saliency method (``"pair_rise"`` -> ``"RISE (pair)"``); an unknown name (a
    result saved by another version) is returned as it is."""
    from ..core.methods import specs

    titles = {spec.name: spec.title for spec in specs("pair")}
    return titles.get(OLD_METHOD_NAMES.get(name, name), name)


@dataclasses.dataclass
class _Pairs:
    """Prepared pairs: pixels, normalised inputs and unit embeddings of the unperturbed queries and references."""

    queries: torch.Tensor
    references: torch.Tensor
    query_inputs: torch.Tensor
    reference_inputs: torch.Tensor
    query_unit: torch.Tensor
    reference_unit: torch.Tensor

    @property
    def batch(self) -> int:
        return int(self.queries.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return self.queries.shape[-2], self.queries.shape[-1]


_PAIR_EXAMPLE = (
    "xw.explain(xw.toy.embedder(), xw.toy.dataset(2, seed=0).images(), "
    'reference=xw.toy.dataset(2, seed=1).images(), method="{name}")'
)


def _pair_phase(work: Workload, masks: int) -> Phase:
    """A pair method's forward phase: a chunk of ``256 // B`` of ``masks`` full-size masks (2.3 planes each with
    their upsampled cells) repeated per pair, scored in forward passes of one composite and mask each; the pairs
    hold their queries, references, normalised inputs and baselines."""
    chunk = min(masks, max(1, 256 // work.batch))
    held = held_images(work, copies=5) + work.planes(2.3 * chunk + chunk * work.batch + 1)
    return Phase("forward", chunk * work.batch, held=held, per_item=work.planes(5))


def pair_rise_memory(work: Workload) -> list[Phase]:
    """RISE (pair)'s memory (:mod:`~xwidgets.core.memory`): its masks on the queries (and the reference's)."""
    return [_pair_phase(work, work.params["masks"])]


def pair_sliding_window_memory(work: Workload) -> list[Phase]:
    """Sliding window (pair)'s memory: its occluders on the queries, in chunks like RISE's masks."""
    window, stride = work.params["window"], work.params["stride"]
    count = math.prod((side + 2 * (window // 4) - window) // stride + 1 for side in work.size)
    return [_pair_phase(work, max(1, count))]


def pair_mask_memory(work: Workload) -> list[Phase]:
    """Mask optimisation (pair)'s memory: the median baseline unfolds ``median_kernel``² values of every pixel of
    one image at a time, then B gradient passes (× 2 for a variable reference) of a composite, its noise, the
    mask and their gradients (~24 planes)."""
    side = work.params["median_kernel"] if work.params["baseline"] == "median" else 1
    held = held_images(work, copies=5)
    rows = work.batch * (2 if work.params["reference_mode"] == "variable" else 1)
    return [
        Phase("forward", 0, held=held + work.size[0] * work.size[1] * 3 * side * side * 2 * 4),
        Phase("gradient", rows, held=held, per_item=work.planes(24)),
    ]


@register(
    "pair_rise",
    title="RISE (pair)",
    kind="pair",
    params=RISE_PAIR_PARAMS,
    result=PairSaliency,
    summary="the similarity-weighted average of random smooth masks on the query (forward passes only)",
    docs="similarity.md#pair-rise",
    steps={"map": tuple(RISE_PAIR_PARAMS)},
    inputs=("reference",),
    explorer="xwidgets.similarity.explorer:MatchExplorer",
    render="draw_pair",
    example=_PAIR_EXAMPLE.format(name="pair_rise"),
    quick={"masks": 100, "reference_masks": 4},
    memory=pair_rise_memory,
)
@shows_progress("pair_rise")
def pair_rise(
    embedder: Embedder,
    queries: object,
    target: object = None,
    *,
    reference: object = None,
    seed: int = 0,
    progress=True,
    **params,
) -> PairSaliency:
    """RISE for a pair: ``sal(λ) = Σ_i s(q ⊙ M_i, r) M_i(λ) / Σ_i M_i(λ)`` over random smooth masks ``M_i`` on the
    query, normalised per pixel by its sampling frequency (SANE; see ``docs/similarity.md``).

    Args:
        embedder: an :class:`~xwidgets.core.models.Embedder` whose module returns ``[N, D]`` vectors.
        queries: B images in any form :func:`~xwidgets.core.images.to_batch` accepts (a list may mix sizes when
            the model's preprocessing resizes).
        target: must be None: the score explained is the cosine similarity to ``reference``.
        reference: B images (one per query, pairwise) or one image compared with every query.
        seed: seeds the local generator of the random masks.
        progress: True (a bar), False, a :class:`~xwidgets.core.runner.Progress` or ``callback(fraction,
            message)``; cancellable between micro-batches; streams the current ``{"maps": [B, 1, H, W]}``.
        params: :data:`RISE_PAIR_PARAMS` (defaults from SANE).

    Returns:
        :class:`PairSaliency` with ``maps [B, 1, H, W]`` in [0, 1] at the model's input size. Cost: ``masks``
        forward passes per pair (+ ``reference_masks`` when variable), plus 2 clean passes.
    """
    return _explain_pairs("pair_rise", embedder, queries, target, reference, seed, progress, params)


@register(
    "pair_sliding_window",
    title="Sliding window (pair)",
    kind="pair",
    params=SLIDING_WINDOW_PAIR_PARAMS,
    result=PairSaliency,
    summary="the similarity drop when square windows of the query are occluded",
    docs="similarity.md#pair-sliding-window",
    steps={"map": tuple(SLIDING_WINDOW_PAIR_PARAMS)},
    inputs=("reference",),
    explorer="xwidgets.similarity.explorer:MatchExplorer",
    render="draw_pair",
    example=_PAIR_EXAMPLE.format(name="pair_sliding_window"),
    quick={"stride": 16},
    memory=pair_sliding_window_memory,
)
@shows_progress("pair_sliding_window")
def pair_sliding_window(
    embedder: Embedder,
    queries: object,
    target: object = None,
    *,
    reference: object = None,
    seed: int = 0,
    progress=True,
    **params,
) -> PairSaliency:
    """Sliding-window occlusion for a pair: each query pixel's saliency is the mean of ``1 − s(occluded q, r)``
    over the windows that cover it (see ``docs/similarity.md``). Deterministic but for a ``"noise"`` baseline.

    Args:
        embedder, queries, target, reference, progress: as :func:`pair_rise`.
        seed: seeds the ``"noise"`` baseline (the only random part).
        params: :data:`SLIDING_WINDOW_PAIR_PARAMS`: query occluders slide over a canvas padded by ``window // 4``
            on each side (625 windows of 32 px at stride 4 on 112 px, as SANE's 128 px canvas); reference
            occluders (variable mode) have no padding (6×6 at 112 px).

    Returns:
        :class:`PairSaliency`. Cost per pair: 625 forward passes at 112 px (+ 36 variable), plus 2 clean passes.
    """
    return _explain_pairs("pair_sliding_window", embedder, queries, target, reference, seed, progress, params)


@register(
    "pair_mask",
    title="Mask optimisation (pair)",
    kind="pair",
    params=MASK_PAIR_PARAMS,
    result=PairSaliency,
    summary="a smooth mask on the query optimised to delete the similarity (meaningful perturbation)",
    docs="similarity.md#pair-mask",
    steps={"map": tuple(MASK_PAIR_PARAMS)},
    inputs=("reference",),
    explorer="xwidgets.similarity.explorer:MatchExplorer",
    render="draw_pair",
    example=_PAIR_EXAMPLE.format(name="pair_mask"),
    quick={"iterations": 10},
    memory=pair_mask_memory,
)
@shows_progress("pair_mask")
def pair_mask(
    embedder: Embedder,
    queries: object,
    target: object = None,
    *,
    reference: object = None,
    seed: int = 0,
    progress=True,
    **params,
) -> PairSaliency:
    """Meaningful perturbation for a pair: Adam on a coarse mask M (1 keeps the pixel) that minimises the
    similarity plus ``λ1·mean|1 − M| + λTV·TV_β(M)`` against a median-blurred baseline; the map is ``1 − M``
    (see ``docs/similarity.md``). With ``reference_mode="variable"`` a second mask on the reference is optimised
    jointly and returned as ``reference_maps``.

    Args:
        embedder, queries, target, reference, progress: as :func:`pair_rise`; streams the current maps every 10
            steps.
        seed: seeds the noise added at each step.
        params: :data:`MASK_PAIR_PARAMS`.

    Returns:
        :class:`PairSaliency`. Cost per pair: ``iterations`` forward + backward passes (× 2 variable), plus 2
        clean passes.
    """
    return _explain_pairs("pair_mask", embedder, queries, target, reference, seed, progress, params)


def _explain_pairs(
    name: str,
    embedder: Embedder,
    queries: object,
    target: object,
    reference: object,
    seed: int,
    progress: Progress,
    params: dict,
) -> PairSaliency:
    """The body the three pair methods share: check the call, prepare the pairs, run the method's loop, normalise."""
    start = time.perf_counter()
    if target is not None:
        raise invalid("target", target, f"None: {name} explains the cosine similarity to reference=")
    if reference is None:
        raise invalid("reference", None, f"the reference images of {name} (one per query, or one for all)")
    values = _KERNELS[name][1].resolve(params)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise invalid("seed", seed, "an int")
    _check_embedder(embedder)
    progress.check()
    mode = values["reference_mode"]
    progress.report(SETUP_SHARE / 2, "embedding the query and the reference")
    with embedder.lock, embedder.frozen():
        before = embedder.images_forwarded
        pairs = _prepare_pairs(embedder, queries, reference)
        progress.report(SETUP_SHARE, "pair embedded; preparing the baselines")
        loop = progress.part(SETUP_SHARE, 1.0)
        raw, spread, reference_raw = _KERNELS[name][0](embedder, pairs, values, mode, seed, loop)
        forwards = embedder.images_forwarded - before
    if not bool(torch.isfinite(raw).all()):
        raise XWidgetsError(f"embedder {embedder.name!r} returned NaN or infinite embeddings for perturbed images")
    flat = (spread <= FLAT_SIMILARITY).view(-1, 1, 1, 1)
    maps = torch.where(flat, torch.zeros_like(raw), normalise_maps(raw))
    reference_maps = None
    if reference_raw is not None:
        reference_maps = torch.where(flat, torch.zeros_like(reference_raw), normalise_maps(reference_raw)).float().cpu()
        reference_raw = reference_raw.detach().float().cpu()
    similarity = (pairs.query_unit * pairs.reference_unit).sum(1)
    seeded = name != "pair_sliding_window" or values["baseline"] == "noise"
    return PairSaliency(
        method=name,
        params=values,
        seed=seed if seeded else None,
        timings={"total": time.perf_counter() - start},
        queries=pairs.queries.float().cpu(),
        references=pairs.references.float().cpu(),
        maps=maps.float().cpu(),
        raw=raw.detach().float().cpu(),
        similarity=similarity.float().cpu(),
        reference_maps=reference_maps,
        reference_raw=reference_raw,
        reference_mode=mode,
        forward_passes=int(forwards),
    )


def pair_saliency(embedder: Embedder, queries: object, references: object, *, method: str = "rise", **params):
    """Deprecated: use ``xw.explain(embedder, queries, reference=references, method="pair_rise", **params)``
    (``"pair_sliding_window"``, ``"pair_mask"``). Kept for one release."""
    warn_deprecated(
        "xw.similarity.pair_saliency(embedder, queries, references, method=...) is deprecated: use "
        "xw.explain(embedder, queries, reference=references, method='pair_rise' | 'pair_sliding_window' | "
        "'pair_mask')"
    )
    if method not in OLD_METHOD_NAMES:
        raise invalid("method", method, "one of " + ", ".join(repr(m) for m in OLD_METHOD_NAMES))
    return _KERNELS[OLD_METHOD_NAMES[method]][2](embedder, queries, reference=references, **params)


def __getattr__(name: str):
    """``SALIENCY_METHODS`` and ``PAIR_PARAMS`` (deprecated) are read from the method registry."""
    if name in ("SALIENCY_METHODS", "PAIR_PARAMS"):
        warn_deprecated(
            f"xw.similarity.{name} is deprecated: use xw.methods('pair') and xw.core.methods.get_spec(name).params"
        )
        if name == "SALIENCY_METHODS":
            return tuple(OLD_METHOD_NAMES)
        return {old: _KERNELS[new][1] for old, new in OLD_METHOD_NAMES.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------------------ preparation
def _check_embedder(embedder: object) -> None:
    if isinstance(embedder, Classifier):
        raise invalid(
            "embedder",
            f"a Classifier ({embedder.name})",
            "an xwidgets Embedder: pair saliency explains the cosine similarity of two embeddings "
            "(wrap the module with xw.Embedder)",
        )
    check_model(embedder, Embedder, name="embedder")


def prepare_images(embedder: Embedder, images: object, name: str) -> torch.Tensor:
    """Images -> ``[n, 3, H, W]`` pixel space at the model's size; a list may mix sizes if the model resizes."""
    if not isinstance(images, (list, tuple)) or not images:
        return embedder.prepare(images, name=name)
    parts = [to_batch(image, name=f"{name}[{i}]") for i, image in enumerate(images)]
    sizes = {tuple(p.shape[-2:]) for p in parts}
    if len(sizes) > 1 and embedder.preprocessing.resize is None:
        raise invalid(
            name, f"images of sizes {sorted(sizes)}", "images of one size, or a model whose preprocessing resizes them"
        )
    return torch.cat([embedder.prepare(p, name=f"{name}[{i}]") for i, p in enumerate(parts)])


def _prepare_pairs(embedder: Embedder, queries: object, references: object) -> _Pairs:
    query_pixels = prepare_images(embedder, queries, "queries")
    reference_pixels = prepare_images(embedder, references, "reference")
    count, given = int(query_pixels.shape[0]), int(reference_pixels.shape[0])
    if given == 1 and count > 1:
        reference_pixels = reference_pixels.expand(count, -1, -1, -1).contiguous()
    elif given != count:
        raise invalid(
            "reference",
            f"{given} images for {count} queries",
            f"one reference per query ({count}) or a single reference for all",
        )
    if query_pixels.shape[-2:] != reference_pixels.shape[-2:]:
        (h, w), (qh, qw) = reference_pixels.shape[-2:], query_pixels.shape[-2:]
        raise invalid(
            "reference",
            f"images of size {h}x{w} while the queries are {qh}x{qw}",
            "references of the queries' size, or a model whose preprocessing resizes both to one size",
        )
    query_inputs, reference_inputs = embedder.normalize(query_pixels), embedder.normalize(reference_pixels)
    with torch.no_grad():
        query_unit = _unit(embedder, query_inputs)
        reference_unit = _unit(embedder, reference_inputs)
    for name, unit in (("queries", query_unit), ("references", reference_unit)):
        if not bool(torch.isfinite(unit).all()):
            raise invalid(
                "embedder",
                f"{embedder.name!r}, which returns NaN or infinite embeddings for the {name}",
                "finite embeddings (check the model and the images)",
            )
    return _Pairs(query_pixels, reference_pixels, query_inputs, reference_inputs, query_unit, reference_unit)


def _unit(embedder: Embedder, inputs: torch.Tensor) -> torch.Tensor:
    """Unit-length embeddings ``[N, D]`` (float32) of normalised inputs; a wrong output shape names the model."""
    try:
        output = forward_batched(embedder, inputs)
    except InvalidArgument as error:
        if error.argument != "model output":
            raise
        raise invalid(
            "embedder",
            f"{embedder.name!r}, whose module returns {error.given} for {inputs.shape[0]} images",
            "a module returning embedding vectors [N, D] (flatten or pool its output)",
        ) from None
    return F.normalize(output.float(), dim=1)


def _baseline(embedder: Embedder, pixels: torch.Tensor, kind: str, seed: int, median_kernel: int = 11) -> torch.Tensor:
    """The normalised baseline ``[B, 3, H, W]``; ``"mean"`` is the model's mean colour (zero in normalised space)
    when it has one, else each image's mean."""
    if kind == "median":
        return embedder.normalize(median_blur(pixels, median_kernel))
    if kind == "mean" and embedder.preprocessing.mean is not None:
        return embedder.normalize(make_baseline(pixels, "constant", color=embedder.preprocessing.mean))
    return embedder.normalize(make_baseline(pixels, kind, seed=seed))


def median_blur(images: torch.Tensor, kernel_size: int = 11) -> torch.Tensor:
    """Median filter of ``[B, C, H, W]`` images over ``kernel_size``² windows (odd; edges replicated, as OpenCV's
    ``medianBlur``). Runs image by image to bound the memory of the unfolded windows."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise invalid("median_kernel", kernel_size, "an odd positive int")
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise invalid("images", images, "a [B, C, H, W] tensor")
    if kernel_size == 1:
        return images.clone()
    radius = kernel_size // 2
    channels, height, width = images.shape[1:]
    out = []
    for image in images:
        padded = F.pad(image[None], (radius,) * 4, mode="replicate")
        windows = F.unfold(padded, kernel_size).view(channels, kernel_size * kernel_size, height * width)
        out.append(windows.median(dim=1).values.view(1, channels, height, width))
    return torch.cat(out)


# ------------------------------------------------------------------------------------------------------ RISE
def _rise(embedder, pairs: _Pairs, values: dict, mode: str, seed: int, progress: Progress):
    size, batch, device = pairs.size, pairs.batch, embedder.device
    generator = torch.Generator().manual_seed(seed)
    count = values["masks"]
    cells, shifts = draw_rise_cells(count, size, values["grid"], values["keep"], generator)
    reference, query_progress = pairs.reference_unit, progress
    if mode == "variable":
        k = values["reference_masks"]
        ref_cells, ref_shifts = draw_rise_cells(k, size, values["grid"], values["keep"], generator)
        share = k / (k + count)
        reference = _mean_perturbed_embedding(
            embedder,
            pairs.reference_inputs,
            _baseline(embedder, pairs.references, values["baseline"], seed),
            k,
            lambda lo, hi: render_rise_masks(ref_cells[lo:hi], ref_shifts[lo:hi], size, device),
            progress.part(0, share),
        )
        query_progress = progress.part(share, 1.0)
    baseline = _baseline(embedder, pairs.queries, values["baseline"], seed)
    total = torch.zeros(batch, 1, *size, device=device)
    kept = torch.zeros(1, 1, *size, device=device)
    low = torch.full((batch,), float("inf"), device=device)
    high = torch.full((batch,), -float("inf"), device=device)
    chunk = max(1, 256 // batch)
    query_progress.report(0.0, f"RISE masks on the queries: 0 of {count}")
    for lo in range(0, count, chunk):
        hi = min(count, lo + chunk)
        masks = render_rise_masks(cells[lo:hi], shifts[lo:hi], size, device)
        scores = _scores(embedder, pairs.query_inputs, baseline, masks, reference, query_progress)  # [n, B]
        total.add_(torch.einsum("kb,khw->bhw", scores, masks[:, 0])[:, None])
        kept.add_(masks.sum(0, keepdim=True))
        low, high = torch.minimum(low, scores.min(0).values), torch.maximum(high, scores.max(0).values)
        query_progress.report(hi / count, "RISE masks on the queries")
        if progress.wants_partials:
            progress.stream({"maps": normalise_maps(total / kept.clamp_min(1.0)).cpu(), "done": hi / count})
    denominator = kept.clamp_min(1.0) if values["normalise_by"] == "frequency" else count * values["keep"]
    return total / denominator, high - low, None


def _scores(
    embedder,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    masks: torch.Tensor,
    reference: torch.Tensor,
    progress: Progress,
) -> torch.Tensor:
    """Scores ``[n, B]``: ``<ê(composite of pair b with mask i), reference[b]>`` for n masks shared by B pairs."""
    batch = inputs.shape[0]
    owner = torch.arange(batch, device=inputs.device).repeat(masks.shape[0])
    rows = masks.repeat_interleave(batch, 0)
    unit = _embed_composites(embedder, inputs, baselines, rows, owner, progress)
    return (unit * reference[owner]).sum(1).view(masks.shape[0], batch)


def _embed_composites(embedder, inputs, baselines, masks, owner, progress: Progress) -> torch.Tensor:
    """Unit embeddings ``[N, D]`` of the composites ``inputs[owner] ⊙ M + baselines[owner] ⊙ (1 − M)``."""

    def work(lo: int, hi: int) -> torch.Tensor:
        progress.check()
        batch = composite(inputs, baselines, masks[lo:hi], owner[lo:hi])
        return F.normalize(embedder.forward(batch).float(), dim=1)

    with torch.no_grad():
        return microbatched(embedder, masks.shape[0], work)


def _mean_perturbed_embedding(embedder, inputs, baselines, count: int, masks_for, progress: Progress) -> torch.Tensor:
    """``[B, D]``: the mean over ``count`` masks (shared by the B pairs) of the unit embeddings of the perturbed
    references; its dot product with a unit query embedding is the mean cosine over the K references."""
    batch = inputs.shape[0]
    total = torch.zeros((), device=inputs.device)
    chunk = max(1, 256 // batch)
    for lo in range(0, count, chunk):
        hi = min(count, lo + chunk)
        masks = masks_for(lo, hi)
        owner = torch.arange(batch, device=inputs.device).repeat(hi - lo)
        unit = _embed_composites(embedder, inputs, baselines, masks.repeat_interleave(batch, 0), owner, progress)
        total = total + unit.view(hi - lo, batch, -1).sum(0)
        progress.report(hi / count, "perturbed references")
    return total / count


# -------------------------------------------------------------------------------------------- sliding window
def _cover(size: int, window: int, stride: int, pad: int) -> torch.Tensor:
    """``[n, size]`` 0/1: which pixels of a side of ``size`` each window covers. Windows of ``window`` pixels step
    by ``stride`` over the side padded by ``pad`` on both ends, centred when the steps do not fit exactly."""
    span = size + 2 * pad - window
    offset = (span % stride) // 2 - pad
    starts = torch.arange(0, span + 1, stride) + offset
    pixels = torch.arange(size)
    return ((pixels[None] >= starts[:, None]) & (pixels[None] < starts[:, None] + window)).float()


def _check_windows(values: dict, window: str, stride: str, side: int) -> None:
    if values[window] > side:
        raise invalid(window, values[window], f"at most the side of the images ({side} px)")
    if values[stride] > values[window]:
        raise invalid(stride, values[stride], f"at most {window}={values[window]} (windows must overlap or touch)")


def _window_masks(rows: torch.Tensor, cols: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Keep-masks ``[hi - lo, 1, H, W]`` (0 inside the window) for windows ``lo:hi`` in row-major order."""
    index = torch.arange(lo, hi, device=rows.device)
    i, j = index // cols.shape[0], index % cols.shape[0]
    return (1.0 - rows[i][:, :, None] * cols[j][:, None, :])[:, None]


def _sliding_window(embedder, pairs: _Pairs, values: dict, mode: str, seed: int, progress: Progress):
    (height, width), batch, device = pairs.size, pairs.batch, embedder.device
    _check_windows(values, "window", "stride", min(height, width))
    if mode == "variable":
        _check_windows(values, "reference_window", "reference_stride", min(height, width))
    window, stride = values["window"], values["stride"]
    rows = _cover(height, window, stride, window // 4).to(device)
    cols = _cover(width, window, stride, window // 4).to(device)
    count = rows.shape[0] * cols.shape[0]
    reference, query_progress = pairs.reference_unit, progress
    if mode == "variable":
        ref_rows = _cover(height, values["reference_window"], values["reference_stride"], 0).to(device)
        ref_cols = _cover(width, values["reference_window"], values["reference_stride"], 0).to(device)
        k = ref_rows.shape[0] * ref_cols.shape[0]
        share = k / (k + count)
        reference = _mean_perturbed_embedding(
            embedder,
            pairs.reference_inputs,
            _baseline(embedder, pairs.references, values["baseline"], seed),
            k,
            lambda lo, hi: _window_masks(ref_rows, ref_cols, lo, hi),
            progress.part(0, share),
        )
        query_progress = progress.part(share, 1.0)
    baseline = _baseline(embedder, pairs.queries, values["baseline"], seed)
    chunks = []
    chunk = max(1, 256 // batch)
    query_progress.report(0.0, f"occluders on the queries: 0 of {count}")
    for lo in range(0, count, chunk):
        hi = min(count, lo + chunk)
        chunks.append(
            _scores(
                embedder, pairs.query_inputs, baseline, _window_masks(rows, cols, lo, hi), reference, query_progress
            )
        )
        query_progress.report(hi / count, "occluders on the queries")
    scores = torch.cat(chunks).T  # [B, count]
    drops = (1.0 - scores).view(batch, rows.shape[0], cols.shape[0])
    covered = rows.sum(0)[:, None] * cols.sum(0)[None, :]  # windows covering each pixel
    raw = torch.einsum("bij,iy,jx->byx", drops, rows, cols) / covered.clamp_min(1.0)
    return raw[:, None], scores.max(1).values - scores.min(1).values, None


# ------------------------------------------------------------------------------------------------------ mask
def _total_variation(masks: torch.Tensor, beta: float) -> torch.Tensor:
    """``[N]``: mean |vertical difference|^β + mean |horizontal difference|^β of each ``[N, 1, h, w]`` mask."""
    vertical = (masks[:, :, 1:, :] - masks[:, :, :-1, :]).abs().pow(beta).flatten(1).mean(1)
    horizontal = (masks[:, :, :, 1:] - masks[:, :, :, :-1]).abs().pow(beta).flatten(1).mean(1)
    return vertical + horizontal


def _mask(embedder, pairs: _Pairs, values: dict, mode: str, seed: int, progress: Progress):
    size, batch, device = pairs.size, pairs.batch, embedder.device
    resolution = values["resolution"]
    if resolution > min(size):
        images = f"{size[0]}x{size[1]}"
        raise invalid("resolution", resolution, f"at most the input's side, {min(size)} (the images are {images})")
    generators = [torch.Generator().manual_seed(seed) for _ in range(batch)]  # one per pair: batch-invariant
    variable = mode == "variable"
    sides = [
        (pairs.query_inputs, _baseline(embedder, pairs.queries, values["baseline"], seed, values["median_kernel"]))
    ]
    if variable:
        sides.append(
            (
                pairs.reference_inputs,
                _baseline(embedder, pairs.references, values["baseline"], seed, values["median_kernel"]),
            )
        )
    masks = [torch.ones(batch, 1, resolution, resolution, device=device, requires_grad=True) for _ in sides]
    optimiser = torch.optim.Adam(masks, lr=values["lr"])
    iterations, sigma = values["iterations"], values["noise"]
    low = torch.full((batch,), float("inf"), device=device)
    high = torch.full((batch,), -float("inf"), device=device)
    progress.report(0.0, f"mask optimisation: step 1 of {iterations}")
    for step in range(iterations):
        progress.check()
        optimiser.zero_grad(set_to_none=True)
        noise = [
            torch.stack([torch.randn(inputs.shape[1:], generator=g) for g in generators]).to(device) * sigma
            for inputs, _ in sides
        ]

        def work(lo: int, hi: int, noise: list[torch.Tensor] = noise) -> torch.Tensor:
            progress.check()
            with torch.enable_grad():
                units = []
                for (inputs, baseline), mask, extra in zip(sides, masks, noise):
                    perturbed = composite(inputs[lo:hi], baseline[lo:hi], mask[lo:hi]) + extra[lo:hi]
                    units.append(F.normalize(embedder.forward(perturbed).float(), dim=1))
                other = units[1] if variable else pairs.reference_unit[lo:hi]
                similarity = (units[0] * other).sum(1)
                cells = torch.cat([m[lo:hi] for m in masks], dim=3)  # q‖r side by side for the L1 term
                l1 = (1.0 - cells).abs().flatten(1).mean(1)
                tv = sum(_total_variation(m[lo:hi], values["tv_beta"]) for m in masks) / len(masks)
                (similarity + values["l1"] * l1 + values["tv"] * tv).sum().backward()
            return similarity.detach()

        similarity = microbatched(embedder, batch, work)
        optimiser.step()
        with torch.no_grad():
            for mask in masks:
                mask.clamp_(0.0, 1.0)
        low, high = torch.minimum(low, similarity), torch.maximum(high, similarity)
        progress.report((step + 1) / iterations, "mask optimisation")
        if progress.wants_partials and (step % 10 == 9 or step + 1 == iterations):
            progress.stream({"maps": (1.0 - upsample_mask(masks[0].detach(), size)).cpu(), "iteration": step + 1})
    maps = [1.0 - upsample_mask(m.detach(), size) for m in masks]
    return maps[0], high - low, maps[1] if variable else None


#: Each pair method's loop, its declared parameters and its registered kernel.
_KERNELS = {
    "pair_rise": (_rise, RISE_PAIR_PARAMS, pair_rise),
    "pair_sliding_window": (_sliding_window, SLIDING_WINDOW_PAIR_PARAMS, pair_sliding_window),
    "pair_mask": (_mask, MASK_PAIR_PARAMS, pair_mask),
}
