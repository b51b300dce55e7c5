"""Static pictures in a widget's display data, for pages where the widget manager cannot load.

A widget with :class:`StaticFallback` is displayed with a ``text/html`` picture of what it shows (a PNG in a
``<div class="xw-static-fallback">``) beside its widget view. JupyterLab, Notebook 7 and Voilà render the widget
view (it ranks first) and never show the picture. :mod:`xwidgets.views.static_html` exports a notebook to HTML with
the picture placed after the widget; the picture's own CSS hides it as soon as a view of the widget has drawn
(``data-ready="true"``), so a reader sees it only where the widget manager or its modules could not load
(offline, a CDN blocked) instead of a blank cell.
"""

from __future__ import annotations

import base64
import html
import io
import uuid
from typing import Any

__all__ = ["FALLBACK_CLASS", "WIDGET_VIEW", "StaticFallback", "fallback_html", "figure_png"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: The class of the ``<div>`` holding a static picture (the HTML export looks for it).
FALLBACK_CLASS = "xw-static-fallback"
#: Hide a picture once the widget output just before it holds a drawn view (lab and classic nbconvert templates).
HIDE_WHEN_DRAWN = (
    f".jp-OutputArea-child:has([data-ready='true']) + .jp-OutputArea-child .{FALLBACK_CLASS},"
    f".output_area:has([data-ready='true']) + .output_area .{FALLBACK_CLASS}{{display:none}}"
    f".{FALLBACK_CLASS} img{{display:block;max-width:100%;height:auto;border:1px solid #d0d7de}}"
    f".{FALLBACK_CLASS} .xw-static-caption{{font-size:12px;color:#57606a;margin:4px 0 0}}"
)
#: Resolution of an explorer's picture: 8 pt type is 13 px tall and a two-column figure (7 in) 840 px wide.
FALLBACK_DPI = 120


def fallback_html(png: bytes | None, caption: str) -> str:
    """The ``text/html`` of a static picture: ``png`` (PNG bytes, or None for a caption alone) and ``caption``
    (plain text), in a ``<div class="xw-static-fallback">`` whose style hides it once the widget has drawn."""
    picture = ""
    if png:
        encoded = base64.b64encode(png).decode("ascii")
        picture = f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(caption)}">'
    return (
        f'<div class="{FALLBACK_CLASS}"><style>{HIDE_WHEN_DRAWN}</style>{picture}'
        f'<p class="xw-static-caption">{html.escape(caption)}</p></div>'
    )


def figure_png(figure: Any, dpi: int = FALLBACK_DPI) -> bytes:
    """PNG bytes of a matplotlib ``figure`` drawn with the figure kit's style at ``dpi``, cropped to its ink."""
    import matplotlib

    from ..figures import PAPER_STYLE

    buffer = io.BytesIO()
    with matplotlib.rc_context(PAPER_STYLE):
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.04)
    return buffer.getvalue()


class StaticFallback:
    """Mixin for a widget: its display data carries a static picture beside the widget view.

    A subclass implements :meth:`static_png` (and may override :meth:`static_caption`). Each display gets a
    display id, so :meth:`refresh_static` can redraw the picture of every place the widget is shown (an explorer
    calls it when its run has ended, from :meth:`~xwidgets.views.explorer.Explorer.wait`).
    """

    def static_caption(self) -> str:
        """The picture's caption, under it in the exported page (plain text)."""
        return "A static picture: the interactive widget did not load here (its JavaScript comes from a CDN)."

    def static_png(self) -> bytes | None:
        """PNG bytes of what the widget shows now, or None when there is nothing to draw yet."""
        raise NotImplementedError

    def static_html(self) -> str:
        """The ``text/html`` picture of the display data (:func:`fallback_html` of :meth:`static_png`)."""
        return fallback_html(self.static_png(), self.static_caption())

    def display_bundle(self) -> dict[str, Any]:
        """The display data: the widget library's (``text/plain`` and the widget view) plus :meth:`static_html`."""
        given = self._repr_mimebundle_()  # type: ignore[attr-defined]
        bundle = dict((given[0] if isinstance(given, tuple) else given) or {})  # anywidget gives (data, metadata)
        if WIDGET_VIEW in bundle:
            bundle["text/html"] = self.static_html()
        return bundle

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display_id = uuid.uuid4().hex
        self.__dict__.setdefault("_static_displays", []).append(display_id)
        display(self.display_bundle(), raw=True, display_id=display_id)

    @property
    def displayed(self) -> bool:
        """Whether the widget has been displayed (so :meth:`refresh_static` has pictures to redraw)."""
        return bool(self.__dict__.get("_static_displays"))

    def refresh_static(self) -> None:
        """Redraw the static picture of every display of the widget (nothing when it was never displayed)."""
        if not self.displayed:
            return
        from IPython.display import update_display

        bundle = self.display_bundle()
        for display_id in self.__dict__["_static_displays"]:
            update_display(bundle, display_id=display_id, raw=True)
