"""The figure types the paper-figure tests draw, by name, from the ``toy_results`` fixture."""

from xwidgets.heatmaps.figure import saliency_figure


def draw(results: dict, kind: str, **style):
    """Figure ``kind`` of ``results`` with ``style`` (the figure()-s of results, and the curves comparison)."""
    maps = list(results["maps"].values())
    drawers = {
        "heatmap": lambda: maps[0].figure(0, **style),
        "heatmaps with curves": lambda: saliency_figure(
            [maps[0].images[0]] * len(maps),
            [r.saliency[0] for r in maps],
            [r._title(0) for r in maps],
            curves=results["curves"],
            **style,
        ),
        "sag": lambda: results["sag"].figure(0, **style),
        "concepts": lambda: results["concepts"].figure(0, **style),
        "summaries": lambda: results["summaries"].figure(**style),
        "summary explanation": lambda: results["found"].figure([0, 1], **style),
        "text": lambda: results["text"].figure(0, **style),
        "similarity": lambda: results["match"].figure(0, **style),
    }
    return drawers[kind]()


KINDS = (
    "heatmap",
    "heatmaps with curves",
    "sag",
    "concepts",
    "summaries",
    "summary explanation",
    "text",
    "similarity",
)
