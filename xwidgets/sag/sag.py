"""Structured attention graphs (Shitole, Li, Kahng, Tadepalli, Fern; NeurIPS 2021), re-implemented from the
paper (the mathematics and defaults: ``docs/sag.md``): :func:`sag` runs the heuristic, the beam search, the
minimisation, the diverse subset and the patch-deletion graph for B images, scoring every batch of patch sets in
one micro-batched forward. It is registered as method ``"sag"``: ``xw.explain(model, images, target,
method="sag", **params)``.

The defaults follow the official beam-search code: a 7×7 grid, roots keep 0.9 of the full image's score, beam
width 3 with 15 successors, at most 10 roots, pairwise overlap ≤ 1 patch, 3 roots shown, nodes expanded above
40 % relative confidence, a black baseline and bilinear patches. The changes are listed in
:mod:`xwidgets.sag.search` and :mod:`xwidgets.sag.graph`, and one more here:

- **A floor under the reference score of a target the model does not predict.** For a target that is not the
  image's top-1 class, the threshold multiplies the *reference* ``max(full score, floor)`` instead of the full
  score, which for such a class is near zero (so almost any patch set, or the baseline alone, passed). Below the
  floor (default 0.1, in the target's units) the threshold is the absolute ``threshold × floor``; relative
  confidences divide by the same reference, and such nodes are labelled with their score. The model's own top-1
  class keeps the official relative rule however low its score; similarity and other targets have no top-1, so
  the floor applies to them.
- **The heuristic of such a target ranks by its logit**, whose gradient does not vanish at p ≈ 0 (the official
  heuristic map came out constant there). The threshold tests still use the probability.

Both are measured in ``docs/sag.md#departures-from-the-official-code``.

The empty set (the baseline alone) is scored before the search, and an image where it already reaches the
threshold gets the empty root, as in the official code; ``baseline_passes`` flags it and a warning says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import warnings
from collections.abc import Callable, Sequence

import torch

from ..core.baselines import BASELINE_KINDS, make_baseline
from ..core.errors import invalid
from ..core.memory import Phase, Workload, held_images
from ..core.methods import get_spec, register
from ..core.models import Model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import as_progress, shows_progress
from ..core.scoring import forward_batched
from ..core.steps import StepCache
from ..core.targets import ClassTarget, FunctionTarget, SimilarityTarget, Target
from ..heatmaps.igos import IGOS_PARAMS, igos, igos_memory
from ..heatmaps.result import DegenerateMapWarning, class_name, prepare
from .graph import deletion_graph, dnf
from .patches import PatchSet, insertion_images, score_patch_sets
from .search import beam_search, diverse_subset, heuristic_ranking

__all__ = ["SAG_PARAMS", "SAG_STEPS", "SAGResult", "sag", "reference_scores"]

SAG_PARAMS = ParamSet(
    "sag",
    Param("grid", "int", 7, "patches per side (the official 224 / 30 → 7)", low=2, high=16),
    Param(
        "threshold",
        "float",
        0.9,
        "a root keeps at least this fraction of the full image's score",
        low=0.05,
        high=1.5,
        step=0.05,
    ),
    Param(
        "floor",
        "float",
        0.1,
        "for a class the model does not predict, scoring below this on the full image, "
        "the threshold is absolute: threshold × floor",
        low=0.001,
        high=1.0,
        step=0.01,
    ),
    Param("beam_width", "int", 3, "beam states kept per level", low=1, high=30),
    Param("successors", "int", 15, "most salient missing patches tried per beam state", low=1, high=64),
    Param("max_roots", "int", 10, "roots per image after which the search stops", low=1, high=20),
    Param("overlap", "int", 1, "most patches two shown roots may share", low=0, high=16),
    Param("shown_roots", "int", 3, "roots drawn in the graph (from the diverse subset)", low=1, high=20),
    Param(
        "expand_threshold",
        "float",
        0.4,
        "graph nodes above this relative confidence get children",
        low=0.0,
        high=1.0,
        step=0.05,
    ),
    Param("removals_per_node", "int", 3, "a node's first patches tried as removals", low=1, high=16),
    Param(
        "patches",
        "choice",
        "bilinear",
        "patch borders: bilinear ramps (official) or hard squares",
        choices=("bilinear", "hard"),
    ),
    Param("baseline", "choice", "black", "what hidden patches show (official: black)", choices=BASELINE_KINDS),
    Param("blur_kernel", "int", 51, "blur baseline kernel size in pixels (odd)", low=1, high=255, step=2),
    Param("blur_sigma", "float", 50.0, "blur baseline sigma in pixels", low=0.1, high=200.0),
    Param("heuristic_iterations", "int", 2, "I-GOS iterations of the heuristic map", low=1, high=50),
    Param("heuristic_ig_steps", "int", 20, "I-GOS integrated-gradient points of the heuristic", low=1, high=100),
)

SAG_STEPS = {
    "search": (
        "grid",
        "threshold",
        "floor",
        "beam_width",
        "successors",
        "max_roots",
        "patches",
        "baseline",
        "blur_kernel",
        "blur_sigma",
        "heuristic_iterations",
        "heuristic_ig_steps",
    ),
    "graph": ("overlap", "shown_roots", "expand_threshold", "removals_per_node"),
}
"""The cached steps of a SAG: the heuristic and the beam search (the costly part), then the diverse subset and
the deletion graph, so a new ``overlap`` or ``shown_roots`` redraws the graph from the roots already found."""


@dataclasses.dataclass(kw_only=True)
class SAGResult(Result):
    """The SAGs of B images.

    Attributes:
        images: ``[B, 3, H, W]`` the images in pixel space at the model's input size.
        scores: ``[B]`` the target's score on each full image.
        baseline_scores: ``[B]`` the target's score on the baseline alone (the empty patch set); None in a result
            saved before it existed.
        references: ``[B]`` the score the threshold and every ``relative`` are fractions of: the full image's,
            or the floor where the full image scores less and the target is not its top-1
            (:func:`reference_scores`).
        floored: per image, whether its reference is the floor, so its threshold is the absolute score
            ``threshold × floor`` and its nodes are labelled with their scores.
        baseline_passes: per image, whether the baseline alone reaches the threshold; its only root is then the
            empty set (no patch is needed) and a warning said so.
        heuristic: ``[B, 1, g, g]`` the I-GOS mask of the heuristic (low = salient).
        target: the resolved target's description.
        rankings: per image, patch numbers from most to least salient.
        roots: per image, every root found, ``{"patches": [...], "score": float, "relative": float}``, in the
            order the search found them; patches in search order, numbered row-major (P = row · g + column);
            ``relative`` is ``score / references[b]``, so at most (largest score) / floor.
        shown: per image, indices into ``roots`` of the diverse subset drawn (highest score first).
        nodes, edges: per image, the patch-deletion graph (:func:`~xwidgets.sag.graph.deletion_graph`).
        stats: ``{"levels", "scored_sets", "forward_images"}`` of the whole call.
    """

    images: torch.Tensor
    scores: torch.Tensor
    baseline_scores: torch.Tensor | None = None
    references: torch.Tensor | None = None
    floored: list = dataclasses.field(default_factory=list)
    baseline_passes: list = dataclasses.field(default_factory=list)
    heuristic: torch.Tensor
    target: dict = dataclasses.field(default_factory=dict)
    rankings: list = dataclasses.field(default_factory=list)
    roots: list = dataclasses.field(default_factory=list)
    shown: list = dataclasses.field(default_factory=list)
    nodes: list = dataclasses.field(default_factory=list)
    edges: list = dataclasses.field(default_factory=list)
    stats: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.references is None:  # saved before the floor existed
            self.references = self.scores
            self.floored = [False] * len(self.scores)
            self.baseline_passes = [False] * len(self.scores)

    @property
    def grid(self) -> int:
        return int(self.params["grid"])

    def _index(self, index: int) -> int:
        if not isinstance(index, int) or not 0 <= index < self.images.shape[0]:
            raise invalid("index", index, f"an image index in 0..{self.images.shape[0] - 1}")
        return index

    def dnf(self, index: int = 0) -> str:
        """The shown roots of image ``index`` as a disjunctive normal form, e.g. ``"P17 & P30 | P10"``."""
        index = self._index(index)
        return dnf([self.roots[index][i] for i in self.shown[index]])

    def class_name(self, index: int = 0) -> str:
        """The class image ``index`` was searched for: the model's label (``class <c>`` without labels), or ""
        for a target that is not a class (a similarity, a callable)."""
        return class_name(self.target, self._index(index)) if self.target.get("classes") else ""

    def note(self, index: int = 0) -> str:
        """What the reader of image ``index``'s graph must know beyond its roots: that the threshold is absolute
        (the full image gives a class it does not predict less than the floor), or that the baseline alone
        passes; ``""`` when neither."""
        index = self._index(index)
        assert self.references is not None  # __post_init__ fills it in a result saved before it existed
        threshold = self.params["threshold"] * float(self.references[index])
        notes = []
        if self.floored[index]:
            notes.append(
                f"the full image scores only {float(self.scores[index]):.2g} for a class the model does "
                f"not predict, below the floor {self.params['floor']:g}: a root must reach the absolute "
                f"score {threshold:.3g}"
            )
        if self.baseline_passes[index] and self.baseline_scores is not None:
            notes.append(
                f"the baseline alone already scores {float(self.baseline_scores[index]):.3g} "
                f"≥ the threshold {threshold:.3g}: no patch is needed (the empty root ∅)"
            )
        return "; ".join(notes)

    def insertion_images(self, patch_sets, index: int = 0, hidden_intensity: float = 0.1) -> torch.Tensor:
        """``[N, 3, H, W]`` display images of image ``index`` showing each patch set (the rest at 10 %)."""
        index = self._index(index)
        return insertion_images(
            self.images[index], [list(s) for s in patch_sets], self.grid, self.params["patches"], hidden_intensity
        )

    def figure(self, index: int = 0, *, path=None, **style):
        """The graph of image ``index`` for a paper (:func:`~xwidgets.sag.figure.graph_figure`); saved to
        ``path`` (``.pdf``, ``.svg`` or ``.png``) when given."""
        from ..figures import without_old_sizes
        from .figure import graph_figure

        return graph_figure(self, self._index(index), path=path, **without_old_sizes(style))


def sag_memory(work: Workload) -> list[Phase]:
    """SAG's memory (:mod:`~xwidgets.core.memory`): the I-GOS heuristic's phases with the heuristic's iterations
    and IG points (:func:`~xwidgets.heatmaps.igos.igos_memory`), then each beam level's B·beam_width·successors
    patch sets, their full-size masks held (one plane each) and scored in forward passes (~5 planes each)."""
    values = work.params
    heuristic = IGOS_PARAMS.resolve({"ig_steps": values["heuristic_ig_steps"], "resolution": 1})
    sets = work.batch * values["beam_width"] * values["successors"]
    beam = Phase("forward", sets, held=held_images(work) + work.planes(sets), per_item=work.planes(5))
    return [*igos_memory(Workload(work.batch, work.size, work.chunk, heuristic)), beam]


@register(
    "sag",
    title="SAG",
    kind="graph",
    params=SAG_PARAMS,
    result=SAGResult,
    summary="minimal patch sets that each keep the decision (roots), and how the score drops as their patches "
    "are removed",
    docs="sag.md",
    steps=SAG_STEPS,
    explorer="xwidgets.sag.explorer:SAGExplorer",
    render="render",
    example='xw.explain(xw.toy.classifier(), xw.toy.dataset(1).images(), method="sag")',
    quick={"grid": 4, "max_roots": 2, "heuristic_iterations": 1, "heuristic_ig_steps": 4},
    memory=sag_memory,
)
@shows_progress("sag")
def sag(
    model: Model,
    images: object,
    target: object = None,
    *,
    seed: int = 0,
    size: int | tuple[int, int] | None = None,
    cache: StepCache | None = None,
    progress=True,
    **params,
) -> SAGResult:
    """Structured attention graphs of B images.

    Args:
        model: a wrapped classifier (or embedder with a similarity target).
        images: B images in any accepted form.
        target: the score to explain (default: each image's top-1 class): a class index, a class name, a list of
            either (one per image), or a Target.
        seed: seeds the heuristic's IG noise.
        size: ``(H, W)`` (or an int) to resize images of different sizes to before the model's preprocessing.
        cache: a :class:`~xwidgets.core.steps.StepCache` keeping the steps of :data:`SAG_STEPS` between calls (an
            explorer's): a call that changes only the graph's parameters reuses the roots found; the search's
            timings and levels are then those of the call that found them.
        progress: reports each phase and level, streams ``{"phase", "level", "roots", "floored"}`` after each
            beam level and ``{"phase": "graph", ...}`` at the end, and checks for cancellation.
        params: see :data:`SAG_PARAMS` (``SAG_PARAMS.doc()`` lists them).
    """
    start = time.perf_counter()
    values = SAG_PARAMS.resolve(params)
    progress = as_progress(progress)
    prepared = prepare(model, images, target, size)
    grid = values["grid"]
    if grid > min(prepared.size):
        height, width = prepared.size
        expected = f"at most the input's side, {min(height, width)} (the images are {height}x{width})"
        raise invalid("grid", grid, expected)
    full = prepared.scores.float().cpu()
    references = reference_scores(full, _predicted(model, prepared), values["floor"])
    floored = (references > full).tolist()
    thresholds = (values["threshold"] * references).tolist()
    forwarded = model.images_forwarded
    baseline = model.normalize(
        make_baseline(
            prepared.pixels,
            values["baseline"],
            blur_kernel=values["blur_kernel"],
            blur_sigma=values["blur_sigma"],
            seed=seed,
        )
    )

    def scorer(owners, sets):
        with model.frozen():
            return (
                score_patch_sets(
                    model, prepared.inputs, baseline, prepared.target, sets, owners, grid, values["patches"]
                )
                .float()
                .cpu()
            )

    def search():
        return _search(model, prepared, values, seed, scorer, floored, thresholds, references, progress)

    cache = cache if cache is not None else StepCache()
    inputs = _inputs_key(model, prepared, seed)
    spec = get_spec("sag", kinds=("graph",))
    found = cache.get("search", (inputs, spec.cache_key("search", values)), search)
    roots = found["roots"]
    graphs = cache.get(
        "graph", (inputs, spec.cache_key("graph", values)), lambda: _graphs(roots, references, values, scorer, progress)
    )
    timings = {**found["timings"], "graph": graphs["seconds"], "total": time.perf_counter() - start}
    stats = {**found["stats"], "forward_images": model.images_forwarded - forwarded}
    progress.report(1.0, "SAG done")
    if progress.wants_partials:
        progress.stream(
            {
                "phase": "graph",
                "roots": roots,
                "shown": graphs["shown"],
                "nodes": graphs["nodes"],
                "edges": graphs["edges"],
            },
            force=True,
        )
    result = SAGResult(
        method="sag",
        params=values,
        seed=int(seed),
        timings=timings,
        images=prepared.pixels.float().cpu(),
        scores=full,
        baseline_scores=found["baseline_scores"],
        references=references,
        floored=floored,
        baseline_passes=[b >= t for b, t in zip(found["baseline_scores"].tolist(), thresholds)],
        heuristic=found["heuristic"],
        target=prepared.describe_target(),
        rankings=found["rankings"],
        roots=roots,
        shown=graphs["shown"],
        nodes=graphs["nodes"],
        edges=graphs["edges"],
        stats=stats,
    )
    _warn_baseline_passes(result)
    return result


def _search(
    model: Model,
    prepared,
    values: dict,
    seed: int,
    scorer,
    floored: list[bool],
    thresholds: list[float],
    references: torch.Tensor,
    progress,
) -> dict:
    """The ``"search"`` step: the I-GOS heuristic, the empty set's scores and the beam search (progress 0 to 0.9).
    Returns ``{"heuristic", "rankings", "baseline_scores", "roots", "stats", "timings"}``."""
    start = time.perf_counter()
    with warnings.catch_warnings():  # a constant heuristic only means row-major ranking; not the user's map
        warnings.simplefilter("ignore", DegenerateMapWarning)
        heuristic = igos(
            model,
            prepared.pixels,
            _heuristic_target(prepared.target, floored),
            seed=seed,
            resolution=values["grid"],
            iterations=values["heuristic_iterations"],
            ig_steps=values["heuristic_ig_steps"],
            lambda_l1=1.0,
            lambda_tv=20.0,
            tv_beta=2.0,
            baseline=values["baseline"],
            blur_kernel=values["blur_kernel"],
            blur_sigma=values["blur_sigma"],
            progress=progress.part(0.0, 0.2, streams=False),
        )
    timings = {"heuristic": time.perf_counter() - start}
    rankings = heuristic_ranking(heuristic.mask)

    def stream(level, roots):
        if progress.wants_partials:
            progress.stream(
                {"phase": "search", "level": level, "roots": _with_relative(roots, references), "floored": floored}
            )

    searched = time.perf_counter()
    baseline_scores = scorer(list(range(len(rankings))), [()] * len(rankings))
    found, stats = beam_search(
        rankings,
        thresholds,
        scorer,
        baseline_scores=baseline_scores.tolist(),
        beam_width=values["beam_width"],
        successors=values["successors"],
        max_roots=values["max_roots"],
        progress=progress.part(0.2, 0.9),
        on_level=stream,
    )
    timings["search"] = time.perf_counter() - searched
    return {
        "heuristic": heuristic.mask.float().cpu(),
        "rankings": rankings,
        "baseline_scores": baseline_scores,
        "roots": _with_relative(found, references),
        "stats": stats,
        "timings": timings,
    }


def _graphs(roots: list[list[dict]], references: torch.Tensor, values: dict, scorer, progress) -> dict:
    """The ``"graph"`` step: each image's diverse subset of ``roots`` and the deletion graph below it (progress
    0.9 to 1). Returns ``{"shown", "nodes", "edges", "seconds"}``, one list entry per image."""
    start = time.perf_counter()
    shown, nodes, edges = [], [], []
    for image, image_roots in enumerate(roots):
        progress.check()
        chosen = diverse_subset(image_roots, values["overlap"])[: values["shown_roots"]]
        image_nodes, image_edges = deletion_graph(
            [image_roots[i] for i in chosen],
            float(references[image]),
            _image_scorer(scorer, image),
            expand_threshold=values["expand_threshold"],
            removals_per_node=values["removals_per_node"],
        )
        shown.append(chosen)
        nodes.append(image_nodes)
        edges.append(image_edges)
        progress.report(0.9 + 0.1 * (image + 1) / len(roots), f"SAG graph, image {image + 1}/{len(roots)}")
    return {"shown": shown, "nodes": nodes, "edges": edges, "seconds": time.perf_counter() - start}


def _image_scorer(scorer, image: int) -> Callable[[Sequence[PatchSet]], torch.Tensor]:
    """``scorer`` on patch sets of image ``image`` alone: sets -> their scores ``[N]``."""
    return lambda sets: scorer([image] * len(sets), sets)


def _inputs_key(model: Model, prepared, seed: int) -> tuple:
    """What a SAG's steps depend on besides its parameters: the model, the images' bytes, the target and the
    seed (the part of a :class:`~xwidgets.core.steps.StepCache` key that no parameter gives)."""
    pixels = hashlib.sha1(prepared.pixels.detach().float().cpu().numpy().tobytes()).hexdigest()
    target = prepared.target
    if isinstance(target, ClassTarget):
        described: object = (tuple(target.classes.tolist()), target.score)
    elif isinstance(target, SimilarityTarget):
        described = hashlib.sha1(target.reference.cpu().numpy().tobytes()).hexdigest()
    else:
        described = id(target)
    return id(model), pixels, tuple(prepared.pixels.shape), described, int(seed)


def reference_scores(full: torch.Tensor, predicted: torch.Tensor, floor: float) -> torch.Tensor:
    """``[B]`` the scores a SAG's threshold and relative confidences are fractions of: each full image's score
    ``[B]``, raised to ``floor`` where it is lower and the target is not the image's top-1 class (``predicted``,
    ``[B]`` bool): a share of a near-zero score would be met by any patch set."""
    return torch.where(predicted.to(full.device), full.float(), full.float().clamp_min(floor))


def _predicted(model: Model, prepared) -> torch.Tensor:
    """``[B]`` bool: whether the target is each image's top-1 class (False for targets other than classes)."""
    target, batch = prepared.target, prepared.pixels.shape[0]
    if not isinstance(target, ClassTarget):
        return torch.zeros(batch, dtype=torch.bool)
    with torch.no_grad(), model.frozen():
        top = forward_batched(model, prepared.inputs).argmax(1).cpu()
    return top == target.classes.expand(batch) if target.classes.numel() == 1 else top == target.classes


def _heuristic_target(target: Target, floored: list[bool]) -> Target:
    """What the I-GOS heuristic ranks patches by: the target, except that on floored images (a class the model
    does not predict, below the floor) a class probability is replaced by the class logit: the probability's
    gradient vanishes there, and the heuristic map came out constant (patches ranked row-major)."""
    if not any(floored) or not isinstance(target, ClassTarget) or target.score != "probability":
        return target
    logits, logit_rows = ClassTarget(target.classes, score="logit"), torch.tensor(floored)

    def mixed(output: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
        return torch.where(logit_rows.to(output.device)[owner], logits(output, owner), target(output, owner))

    return FunctionTarget(mixed)


def _with_relative(roots: list[list[dict]], references: torch.Tensor) -> list[list[dict]]:
    return [
        [{**root, "relative": root["score"] / float(references[i]) if float(references[i]) > 0 else 0.0} for root in r]
        for i, r in enumerate(roots)
    ]


def _warn_baseline_passes(result: SAGResult) -> None:
    """One warning naming the images whose baseline alone reaches the threshold, and what to try instead."""
    passing = [i for i, passes in enumerate(result.baseline_passes) if passes]
    if passing:
        warnings.warn(
            f"SAG, image {passing[0]}{f' (and {len(passing) - 1} more)' if len(passing) > 1 else ''}: "
            f"{result.note(passing[0])}. Try another baseline (the `baseline` parameter) or a higher "
            "threshold.",
            UserWarning,
            stacklevel=3,
        )
