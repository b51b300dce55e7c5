"""xwidgets: explain image classifiers and image-similarity models inside Jupyter.

Kernels (PyTorch) live in the method packages and run headless; anywidget views live in
:mod:`xwidgets.views` and are imported only when first used.
"""

# The one place the version is written: the build reads it from here (pyproject.toml, [tool.hatch.version]).
__version__ = "0.1.0"

# Importing the method packages registers every method (kernels only: no widget library is imported here).
from . import concepts, core, data, heatmaps, metrics, runs, sag, similarity, summaries, text
from .api import build_docs, explain, fit, methods
from .core import (
    Classifier,
    Embedder,
    XWidgetsDeprecationWarning,
    XWidgetsError,
    efficientnet_lite0,
    similarity_to,
    to_batch,
)
from .core.provenance import reproduce
from .runs import explain_dataset, open_run

build_docs()

__all__ = [
    "__version__",
    "core",
    "heatmaps",
    "metrics",
    "sag",
    "toy",
    "views",
    "explain",
    "fit",
    "methods",
    "reproduce",
    "Classifier",
    "Embedder",
    "XWidgetsError",
    "XWidgetsDeprecationWarning",
    "efficientnet_lite0",
    "similarity_to",
    "to_batch",
    "HeatmapView",
    "GraphView",
    "GalleryView",
    "HeatmapExplorer",
    "SAGExplorer",
    "concepts",
    "ConceptExplorer",
    "summaries",
    "SummaryExplorer",
    "text",
    "TextExplorer",
    "similarity",
    "MatchExplorer",
    "Classroom",
    "export_html",
    "data",
    "runs",
    "explain_dataset",
    "open_run",
    "DatasetExplorer",
]


def __getattr__(name: str):
    if name in ("HeatmapView", "GraphView", "GalleryView"):
        from . import views

        return getattr(views, name)
    if name == "HeatmapExplorer":
        from .heatmaps.explorer import HeatmapExplorer

        return HeatmapExplorer
    if name == "SAGExplorer":
        from .sag.explorer import SAGExplorer

        return SAGExplorer
    if name == "SummaryExplorer":
        from .summaries.explorer import SummaryExplorer

        return SummaryExplorer
    if name == "ConceptExplorer":
        from .concepts.explorer import ConceptExplorer

        return ConceptExplorer
    if name == "TextExplorer":
        from .text.explorer import TextExplorer

        return TextExplorer
    if name == "MatchExplorer":
        from .similarity.explorer import MatchExplorer

        return MatchExplorer
    if name == "DatasetExplorer":
        from .runs.explorer import DatasetExplorer

        return DatasetExplorer
    if name == "Classroom":
        from .classroom import Classroom

        return Classroom
    if name == "export_html":
        try:
            from .views.static_html import export_html
        except ImportError as error:  # nbconvert comes with Jupyter, not with xwidgets itself
            raise XWidgetsError(
                f"xw.export_html needs nbconvert and nbclient ({error}): pip install 'xwidgets[lab]'"
            ) from error
        return export_html
    if name in ("sag", "toy", "views", "concepts", "summaries", "text", "similarity", "figures"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'xwidgets' has no attribute {name!r}")
