"""How many images a SAG scores for one image: the count behind the SAGExplorer's time estimate.

The beam search stops once ``max_roots`` roots are found, which on a model with a confident, local decision takes a
few levels; when fewer roots exist it runs every level, one per patch. The count here is of that longest search: at
the defaults (7×7 grid, beam 3, 15 successors) 15 sets at the first level, 45 at each level while 15 patches are
missing, then fewer, 1,860 sets in all; with the I-GOS heuristic and the clean passes, 1,889 forward and 40 gradient
images. The minimisation of the roots and the graph's nodes are not counted. On the pretrained EfficientNet-Lite0
and scikit-image's cat the search ran all 49 levels and the SAG scored 1,983 forward images, 5 % more
(benchmarks/results/pretrained_cpu.md); on six toy images (seeds 9700), whose searches stopped after 5 to 21
levels, it scored 310 to 1,257.
"""

from __future__ import annotations

from ..heatmaps.cost import image_counts
from ..heatmaps.igos import IGOS_PARAMS

__all__ = ["sag_images", "search_images"]


def sag_images(values: dict, size: tuple[int, int]) -> tuple[int, int]:
    """``(forward, gradient)`` images a SAG with the resolved parameter ``values`` scores for one image of
    ``size`` when its search runs every level: the clean passes, the I-GOS heuristic, the empty set and the beam
    search (not the minimisation and the graph)."""
    heuristic = IGOS_PARAMS.resolve(
        {
            "resolution": values["grid"],
            "iterations": values["heuristic_iterations"],
            "ig_steps": values["heuristic_ig_steps"],
        }
    )
    forward, gradient = image_counts("igos", heuristic, size)
    return 3 + forward + search_images(values), gradient


def search_images(values: dict) -> int:
    """Patch sets the beam search scores when it runs every level: ``successors`` at the first level, then
    ``beam_width`` states each growing by at most ``successors`` of the patches they miss."""
    cells = values["grid"] ** 2
    return sum(
        (1 if level == 1 else values["beam_width"]) * min(values["successors"], cells - level + 1)
        for level in range(1, cells + 1)
    )
