"""The base class of every view: an anywidget that closes what it owns."""

from __future__ import annotations

import anywidget
import ipywidgets as widgets

__all__ = ["ViewWidget"]


class ViewWidget(anywidget.AnyWidget):
    """An anywidget whose :meth:`close` also closes its ``layout`` (a widget of its own, which ipywidgets' close
    leaves open, so every closed view used to leave one ``Layout`` in the registry of live widgets)."""

    def close(self) -> None:
        layout = self._trait_values.get("layout")
        super().close()
        if isinstance(layout, widgets.Widget):
            layout.close()
