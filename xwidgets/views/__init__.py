"""anywidget views, one per ``js/src/<view>.js``. They know nothing about any method."""

from .controls import control_for, controls_for
from .gallery import GalleryView, thumbnail
from .graph import GraphView
from .heatmap import COLORMAPS, HeatmapView

__all__ = ["COLORMAPS", "GalleryView", "GraphView", "HeatmapView", "control_for", "controls_for", "thumbnail"]
