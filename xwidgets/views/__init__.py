"""anywidget views, one per ``js/src/<view>.js``. They know nothing about any method."""

from .controls import control_for, controls_for
from .gallery import GalleryView, thumbnail
from .graph import GraphView
from .grid import ThumbnailGridView
from .heatmap import COLORMAPS, HeatmapView
from .kernel_note import KernelNote

__all__ = [
    "COLORMAPS",
    "GalleryView",
    "GraphView",
    "HeatmapView",
    "KernelNote",
    "ThumbnailGridView",
    "control_for",
    "controls_for",
    "thumbnail",
]
