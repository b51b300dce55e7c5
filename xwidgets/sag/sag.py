"""Structured attention graphs (Shitole, Li, Kahng, Tadepalli, Fern; NeurIPS 2021), re-implemented from
METHODS.md section 4: :func:`sag` runs the heuristic, the beam search, the minimisation, the diverse subset and
the patch-deletion graph for B images, scoring every batch of patch sets in one micro-batched forward.

The defaults follow the official beam-search code: a 7×7 grid, roots keep 0.9 of the full image's score, beam
width 3 with 15 successors, at most 10 roots, pairwise overlap ≤ 1 patch, 3 roots shown, nodes expanded above
40 % relative confidence, a black baseline and bilinear patches. The changes are listed in
:mod:`xwidgets.sag.search` and :mod:`xwidgets.sag.graph`.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from ..core.baselines import BASELINE_KINDS, make_baseline
from ..core.errors import invalid
from ..core.models import Model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import as_progress
from ..heatmaps.igos import igos
from ..heatmaps.result import prepare
from .graph import deletion_graph, dnf
from .patches import insertion_images, score_patch_sets
from .search import beam_search, diverse_subset, heuristic_ranking

__all__ = ["SAG_PARAMS", "SAGResult", "sag"]

SAG_PARAMS = ParamSet(
    "sag",
    Param("grid", "int", 7, "patches per side (the official 224 / 30 → 7)", low=2, high=16),
    Param("threshold", "float", 0.9, "a root keeps at least this fraction of the full image's score", low=0.05,
          high=1.5, step=0.05),
    Param("beam_width", "int", 3, "beam states kept per level", low=1, high=30),
    Param("successors", "int", 15, "most salient missing patches tried per beam state", low=1, high=64),
    Param("max_roots", "int", 10, "roots per image after which the search stops", low=1, high=20),
    Param("overlap", "int", 1, "most patches two shown roots may share", low=0, high=16),
    Param("shown_roots", "int", 3, "roots drawn in the graph (from the diverse subset)", low=1, high=20),
    Param("expand_threshold", "float", 0.4, "graph nodes above this relative confidence get children", low=0.0,
          high=1.0, step=0.05),
    Param("removals_per_node", "int", 3, "a node's first patches tried as removals", low=1, high=16),
    Param("patches", "choice", "bilinear", "patch borders: bilinear ramps (official) or hard squares",
          choices=("bilinear", "hard")),
    Param("baseline", "choice", "black", "what hidden patches show (official: black)", choices=BASELINE_KINDS),
    Param("blur_kernel", "int", 51, "blur baseline kernel size in pixels (odd)", low=1, high=255, step=2),
    Param("blur_sigma", "float", 50.0, "blur baseline sigma in pixels", low=0.1, high=200.0),
    Param("heuristic_iterations", "int", 2, "I-GOS iterations of the heuristic map", low=1, high=50),
    Param("heuristic_ig_steps", "int", 20, "I-GOS integrated-gradient points of the heuristic", low=1, high=100),
)


@dataclasses.dataclass
class SAGResult(Result):
    """The SAGs of B images.

    Attributes:
        images: ``[B, 3, H, W]`` the images in pixel space at the model's input size.
        scores: ``[B]`` the target's score on each full image.
        heuristic: ``[B, 1, g, g]`` the I-GOS mask of the heuristic (low = salient).
        target: the resolved target's description.
        rankings: per image, patch numbers from most to least salient.
        roots: per image, every root found, ``{"patches": [...], "score": float, "relative": float}``, in the
            order the search found them; patches in search order, numbered row-major (P = row · g + column).
        shown: per image, indices into ``roots`` of the diverse subset drawn (highest score first).
        nodes, edges: per image, the patch-deletion graph (:func:`~xwidgets.sag.graph.deletion_graph`).
        stats: ``{"levels", "scored_sets", "forward_images"}`` of the whole call.
    """

    images: torch.Tensor = None
    scores: torch.Tensor = None
    heuristic: torch.Tensor = None
    target: dict = dataclasses.field(default_factory=dict)
    rankings: list = dataclasses.field(default_factory=list)
    roots: list = dataclasses.field(default_factory=list)
    shown: list = dataclasses.field(default_factory=list)
    nodes: list = dataclasses.field(default_factory=list)
    edges: list = dataclasses.field(default_factory=list)
    stats: dict = dataclasses.field(default_factory=dict)

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

    def insertion_images(self, patch_sets, index: int = 0, hidden_intensity: float = 0.1) -> torch.Tensor:
        """``[N, 3, H, W]`` display images of image ``index`` showing each patch set (the rest at 10 %)."""
        index = self._index(index)
        return insertion_images(self.images[index], [list(s) for s in patch_sets], self.grid,
                                self.params["patches"], hidden_intensity)

    def figure(self, index: int = 0, path=None, **style):
        """The graph of image ``index`` for a paper (:func:`~xwidgets.sag.figure.graph_figure`); saved to
        ``path`` (``.pdf``, ``.svg`` or ``.png``) when given."""
        from .figure import graph_figure

        return graph_figure(self, self._index(index), path=path, **style)


def sag(model: Model, images: object, target: object = None, *, seed: int = 0, progress=None,
        **params) -> SAGResult:
    """Structured attention graphs of B images.

    Args:
        model: a wrapped classifier (or embedder with a similarity target).
        images: B images in any accepted form.
        target: the class to explain (default: each image's top-1).
        seed: seeds the heuristic's IG noise.
        progress: reports each phase and level, streams ``{"phase", "level", "roots"}`` after each beam level
            and ``{"phase": "graph", ...}`` at the end, and checks for cancellation.
        params: see :data:`SAG_PARAMS` (``SAG_PARAMS.doc()`` lists them).
    """
    start = time.perf_counter()
    values = SAG_PARAMS.resolve(params)
    progress = as_progress(progress)
    prepared = prepare(model, images, target)
    grid = values["grid"]
    if grid > min(prepared.size):
        raise invalid("grid", grid, f"at most the input's side, {min(prepared.size)}")
    forwarded = model.images_forwarded
    baseline = model.normalize(make_baseline(prepared.pixels, values["baseline"], blur_kernel=values["blur_kernel"],
                                             blur_sigma=values["blur_sigma"], seed=seed))
    heuristic = igos(model, prepared.pixels, prepared.target, seed=seed, resolution=grid,
                     iterations=values["heuristic_iterations"], ig_steps=values["heuristic_ig_steps"],
                     lambda_l1=1.0, lambda_tv=20.0, tv_beta=2.0, baseline=values["baseline"],
                     blur_kernel=values["blur_kernel"], blur_sigma=values["blur_sigma"])
    timings = {"heuristic": time.perf_counter() - start}
    rankings = heuristic_ranking(heuristic.mask)
    full = prepared.scores.float().cpu()
    thresholds = (values["threshold"] * full).tolist()

    def scorer(owners, sets):
        with model.frozen():
            return score_patch_sets(model, prepared.inputs, baseline, prepared.target, sets, owners, grid,
                                    values["patches"]).float().cpu()

    def stream(level, roots):
        if progress.wants_partials:
            progress.stream({"phase": "search", "level": level, "roots": _with_relative(roots, full)})

    searched = time.perf_counter()
    found, stats = beam_search(rankings, thresholds, scorer, beam_width=values["beam_width"],
                               successors=values["successors"], max_roots=values["max_roots"], progress=progress,
                               on_level=stream)
    roots = _with_relative(found, full)
    timings["search"] = time.perf_counter() - searched
    graphed = time.perf_counter()
    shown, nodes, edges = [], [], []
    for image, image_roots in enumerate(roots):
        progress.check()
        chosen = diverse_subset(image_roots, values["overlap"])[:values["shown_roots"]]
        image_nodes, image_edges = deletion_graph(
            [image_roots[i] for i in chosen], float(full[image]),
            lambda sets, image=image: scorer([image] * len(sets), sets),
            expand_threshold=values["expand_threshold"], removals_per_node=values["removals_per_node"])
        shown.append(chosen)
        nodes.append(image_nodes)
        edges.append(image_edges)
    timings["graph"] = time.perf_counter() - graphed
    timings["total"] = time.perf_counter() - start
    stats["forward_images"] = model.images_forwarded - forwarded
    progress.report(1.0, "SAG done")
    if progress.wants_partials:
        progress.stream({"phase": "graph", "roots": roots, "shown": shown, "nodes": nodes, "edges": edges},
                        force=True)
    return SAGResult(method="sag", params=values, seed=int(seed), timings=timings,
                     images=prepared.pixels.float().cpu(), scores=full, heuristic=heuristic.mask.float().cpu(),
                     target=prepared.target.describe(), rankings=rankings, roots=roots, shown=shown, nodes=nodes,
                     edges=edges, stats=stats)


def _with_relative(roots: list[list[dict]], full: torch.Tensor) -> list[list[dict]]:
    return [[{**root, "relative": root["score"] / float(full[i]) if float(full[i]) > 0 else 0.0} for root in r]
            for i, r in enumerate(roots)]
