"""SAG's search for minimal sufficient explanations (roots), re-implemented from the paper (``docs/sag.md``).

1. :func:`heuristic_ranking`: a short I-GOS run on the g×g grid (black baseline, 2 iterations, 20 IG steps,
   λ1 = 1, λTV = 20); patches are ranked by the mask, lowest (most salient) first.
2. :func:`beam_search`: from the empty set, every beam state grows by one of the q most salient patches it lacks
   (the global ranking, as in the official code). The empty set itself (the baseline alone) is scored first: an
   image whose baseline already reaches the threshold gets the empty set as its only root and is not searched,
   as in the official code (every other passing set contains it, so none is minimal). Every successor of every
   beam state of every image at a level is scored in **one batched forward**. Successors at or above the
   threshold (``threshold`` × the reference score, see :mod:`xwidgets.sag.sag`) are minimised and become roots
   unless already found; the best of the others, exactly ``beam_width`` of them, form the next beam. The search
   stops once ``max_roots`` roots are found, when no successor is left, or after g² levels.
3. :func:`minimise`: greedy single-patch removal while the score stays at or above the threshold, swept from
   the least salient patch, until a sweep removes nothing. Each step scores one removal of every set being
   minimised in one batched forward. Passing successors are minimised best first, and only as many as the image
   still needs roots (the rest could not be kept anyway); a successor that contains a root already found is
   not minimised again.
4. :func:`diverse_subset`: the largest subset of roots whose pairwise overlap is at most ``overlap`` patches.

Changes from the official beam-search code, each deliberate:

- the beam keeps exactly ``beam_width`` states (the official loop appends before it checks and keeps one more);
- successors, minimisation candidates and graph nodes are scored in batched forwards, not one call per set;
- a root is accepted at or above the threshold (the official test is strictly above);
- only as many passing successors are minimised as roots are still wanted (best first; the official code
  minimised every one of them, which on large sets costs thousands of passes per level), and a passing
  successor that contains a root already found is skipped (its sweep would mostly shrink it back to that root;
  on the hand-built two-evidence model of the tests this cut one search from 59 s to 5 s, both measured on
  a loaded machine);
- the diverse subset breaks ties between subsets of the largest size by their total score (the official DFS
  keeps the first it meets); :func:`diverse_subset` is exact (a maximum-clique search), which is instant for
  the ≤ 20 roots the parameters allow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..core.runner import Progress
from .patches import PatchSet

__all__ = ["heuristic_ranking", "beam_search", "minimise", "diverse_subset"]

#: Scores a list of (image index, patch set) pairs: one batched forward, returns ``[N]``.
Scorer = Callable[[Sequence[int], Sequence[PatchSet]], torch.Tensor]


def heuristic_ranking(masks: torch.Tensor) -> list[list[int]]:
    """Patch numbers of each image ordered from most to least salient: ascending I-GOS mask ``[B, 1, g, g]``
    (low = salient); ties keep row-major order."""
    flat = masks.flatten(1).cpu()
    return [torch.sort(row, stable=True).indices.tolist() for row in flat]


def minimise(
    owners: Sequence[int],
    sets: Sequence[PatchSet],
    thresholds: Sequence[float],
    scores: Sequence[float],
    scorer: Scorer,
) -> tuple[list[PatchSet], list[float]]:
    """Shrink each set by greedy single-patch removal while its image's score stays ≥ its threshold.

    Each set is swept from its last patch (least salient in search order) to its first; a patch whose removal
    keeps the score at or above the threshold is removed at once. Sweeps repeat until one removes nothing, so
    that last sweep has scored every single removal of the final set (the official ``remove_extra_patches`` rule).
    Every step scores one candidate of every set still sweeping in one batched forward.

    Args:
        owners: the image of each set; ``sets``: sets at or above their threshold, patches in search order.
        thresholds: per image; ``scores``: each set's current score.
        scorer: batched scoring of (owner, set) pairs.

    Returns:
        the minimal sets (search order kept) and their scores: removing any one patch of a returned set of two
        or more patches scores below the threshold.
    """
    current, values = [tuple(s) for s in sets], [float(v) for v in scores]
    sweep = {i: list(reversed(current[i])) for i, s in enumerate(current) if len(s) > 1}
    removed = {i: False for i in sweep}
    while sweep:
        trials = [(i, sweep[i].pop(0)) for i in list(sweep)]
        trials = [(i, p) for i, p in trials if len(current[i]) > 1]
        candidates = [tuple(q for q in current[i] if q != p) for i, p in trials]
        results = scorer([owners[i] for i, _ in trials], candidates).tolist() if trials else []
        for (i, _), candidate, value in zip(trials, candidates, results):
            if value >= thresholds[owners[i]]:
                current[i], values[i], removed[i] = candidate, value, True
        for i in list(sweep):
            if sweep[i] and len(current[i]) > 1:
                continue
            if removed[i] and len(current[i]) > 1:
                sweep[i], removed[i] = list(reversed(current[i])), False
            else:
                del sweep[i]
    return current, values


def beam_search(
    rankings: Sequence[Sequence[int]],
    thresholds: Sequence[float],
    scorer: Scorer,
    *,
    baseline_scores: Sequence[float],
    beam_width: int,
    successors: int,
    max_roots: int,
    progress: Progress,
    on_level: Callable[[int, list[list[dict]]], None] | None = None,
) -> tuple[list[list[dict]], dict]:
    """Beam search for the roots of B images at once.

    Args:
        rankings: per image, patch numbers from most to least salient (the heuristic).
        thresholds: per image, the score a set must reach (``threshold`` × the reference score).
        scorer: batched scoring of (owner, set) pairs.
        baseline_scores: per image, the score of the empty set (the baseline alone); an image where it reaches
            the threshold gets the one root ``{"patches": [], ...}`` and is not searched.
        beam_width: states kept per level; ``successors``: q, the most salient missing patches tried per state;
        max_roots: roots per image after which its search stops.
        progress: checked for cancellation every level.
        on_level: called as ``on_level(level, roots)`` after each level (for streaming).

    Returns:
        per image, the roots in the order found, each ``{"patches": [...], "score": float}``; and statistics
        ``{"levels": int, "scored_sets": int}``.
    """
    batch = len(rankings)
    cells = len(rankings[0]) if batch else 0
    beams: list[list[PatchSet]] = [[()] for _ in range(batch)]
    roots: list[list[dict]] = [[] for _ in range(batch)]
    found: list[set[frozenset]] = [set() for _ in range(batch)]
    visited: list[set[frozenset]] = [set() for _ in range(batch)]
    levels = scored = 0
    for image, value in enumerate(baseline_scores):
        if value >= thresholds[image]:
            roots[image].append({"patches": [], "score": float(value)})
            found[image].add(frozenset())
            beams[image] = []
    for level in range(1, cells + 1):
        progress.check()
        owners, sets = [], []
        for image in range(batch):
            if len(roots[image]) >= max_roots:
                continue
            for state in beams[image]:
                missing = [p for p in rankings[image] if p not in state][:successors]
                for patch in missing:
                    grown = (*state, patch)
                    key = frozenset(grown)
                    if key not in visited[image]:
                        visited[image].add(key)
                        owners.append(image)
                        sets.append(grown)
        if not sets:
            break
        levels = level
        values = scorer(owners, sets).tolist()
        scored += len(sets)
        order = sorted(range(len(sets)), key=lambda i: -values[i])
        waiting = [
            i
            for i in order
            if values[i] >= thresholds[owners[i]] and not any(root <= frozenset(sets[i]) for root in found[owners[i]])
        ]
        while waiting:
            # minimise, best first, only as many passing successors per image as it still needs roots; those
            # whose minimal set was already found make room for the next ones
            needed = {image: max_roots - len(roots[image]) for image in range(batch)}
            batch_now = []
            for i in waiting:
                if needed[owners[i]] > 0:
                    batch_now.append(i)
                    needed[owners[i]] -= 1
            if not batch_now:
                break
            chosen = set(batch_now)
            waiting = [i for i in waiting if i not in chosen]
            minimal, minimal_scores = minimise(
                [owners[i] for i in batch_now],
                [sets[i] for i in batch_now],
                thresholds,
                [values[i] for i in batch_now],
                scorer,
            )
            for i, patches, value in zip(batch_now, minimal, minimal_scores):
                image = owners[i]
                key = frozenset(patches)
                if key not in found[image] and len(roots[image]) < max_roots:
                    found[image].add(key)
                    roots[image].append({"patches": list(patches), "score": value})
            waiting = [i for i in waiting if not any(root <= frozenset(sets[i]) for root in found[owners[i]])]
        beams = [[] for _ in range(batch)]
        for i in order:
            image = owners[i]
            if values[i] < thresholds[image] and len(beams[image]) < beam_width:
                beams[image].append(sets[i])
        progress.report(level / cells, f"SAG beam search, level {level}")
        if on_level is not None:
            on_level(level, roots)
        if all(not beam or len(r) >= max_roots for beam, r in zip(beams, roots)):
            break
    return roots, {"levels": levels, "scored_sets": scored}


def diverse_subset(roots: Sequence[dict], overlap: int) -> list[int]:
    """Indices of the largest subset of ``roots`` whose pairwise overlap is at most ``overlap`` patches.

    Among subsets of the largest size the one with the highest total score wins. The result is sorted by score,
    highest first. Exact: a branch-and-bound maximum-clique search on the "compatible" graph.
    """
    count = len(roots)
    sets = [set(r["patches"]) for r in roots]
    scores = [float(r["score"]) for r in roots]
    compatible = [{j for j in range(count) if j != i and len(sets[i] & sets[j]) <= overlap} for i in range(count)]
    best: list[int] = []
    best_key = (0, 0.0)

    def grow(chosen: list[int], candidates: list[int]) -> None:
        nonlocal best, best_key
        key = (len(chosen), sum(scores[i] for i in chosen))
        if key > best_key:
            best, best_key = list(chosen), key
        if len(chosen) + len(candidates) < best_key[0]:
            return
        for position, i in enumerate(candidates):
            if len(chosen) + len(candidates) - position < best_key[0]:
                return
            grow(chosen + [i], [j for j in candidates[position + 1 :] if j in compatible[i]])

    grow([], list(range(count)))
    return sorted(best, key=lambda i: -scores[i])
