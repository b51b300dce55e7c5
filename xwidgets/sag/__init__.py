"""Structured attention graphs (SAG): beam search for minimal sufficient patch sets (roots), their diverse
subset, and the patch-deletion graph below them. Method ``"sag"``: ``xw.explain(model, images, target=None, *,
method="sag", **params)`` (:func:`sag` is its kernel); :class:`SAGExplorer` explores one image live."""

from .graph import deletion_graph, dnf
from .sag import SAG_PARAMS, SAG_STEPS, SAGResult, sag
from .search import beam_search, diverse_subset, heuristic_ranking, minimise

__all__ = [
    "SAG_PARAMS",
    "SAG_STEPS",
    "SAGResult",
    "sag",
    "beam_search",
    "minimise",
    "diverse_subset",
    "heuristic_ranking",
    "deletion_graph",
    "dnf",
    "SAGExplorer",
]


def __getattr__(name: str):
    """``SAGExplorer`` is imported on first use, so the kernel runs where no widget library is installed."""
    if name == "SAGExplorer":
        from .explorer import SAGExplorer

        return SAGExplorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
