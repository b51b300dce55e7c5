"""Static HTML of an executed notebook: every explorer shows, with a kernel or without, online or offline.

An explorer's (or a view's) display data carries, beside its widget view, a static picture of what it shows
(:class:`~xwidgets.views.fallback.StaticFallback`). nbconvert's HTML templates render one format per output, the
widget view when the notebook holds its widget state, so a plain ``jupyter nbconvert --to html`` drops the
picture, and a page read offline (where requirejs, the widget manager and the widget modules cannot come from
their CDNs) shows blank cells. :class:`WidgetFallbacks` moves each picture into an output of its own right
after its widget; the picture's CSS hides it as soon as a view of the widget has drawn, so it shows only where
the widgets could not load.

Export an executed notebook (saved with its widget state; ``execute=True`` runs it first)::

    xw.export_html("00_tour.ipynb", "00_tour.html")

or with nbconvert's command line::

    jupyter nbconvert --to html --HTMLExporter.preprocessors=xwidgets.views.static_html.WidgetFallbacks 00_tour.ipynb

In the page, the views' colormap, alpha, threshold and hover keep working (their maths runs in JS); the
explorers' kernel notes say that the controls which re-run a method need a running kernel.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

from ..core.atomic import write_atomic
from ..core.errors import invalid
from .fallback import FALLBACK_CLASS, WIDGET_VIEW

__all__ = ["WidgetFallbacks", "export_html", "split_fallbacks"]


def split_fallbacks(notebook: nbformat.NotebookNode) -> int:
    """Move the static picture of every widget output of ``notebook`` (in place) into a ``display_data`` output
    right after it; the widget output keeps its other formats. Returns how many pictures were moved."""
    moved = 0
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            outputs.append(output)
            data = output.get("data", {})
            if WIDGET_VIEW in data and FALLBACK_CLASS in str(data.get("text/html", "")):
                picture = data.pop("text/html")
                outputs.append(nbformat.v4.new_output("display_data", data={"text/html": picture}))
                moved += 1
        cell.outputs = outputs
    return moved


class WidgetFallbacks(Preprocessor):
    """nbconvert preprocessor: :func:`split_fallbacks` on the notebook being exported (a copy)."""

    def preprocess(self, nb: nbformat.NotebookNode, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        split_fallbacks(nb)
        return nb, resources


def export_html(
    notebook: str | Path | nbformat.NotebookNode,
    html_path: str | Path | None = None,
    *,
    execute: bool = False,
    timeout: int = 600,
    template: str = "lab",
) -> str:
    """The static HTML of ``notebook`` (a path to an ``.ipynb``, or a notebook node, left unchanged), with the
    explorers' static pictures for pages where the widgets cannot load; also written to ``html_path`` if given.

    Args:
        notebook: the notebook; it should be executed and saved with its widget state (JupyterLab: Settings →
            Save Widget State Automatically; nbclient: ``store_widget_state=True``), unless ``execute``.
        html_path: where to write the page (None: only return it).
        execute: run the notebook first with nbclient (in its folder, widget state stored), ``timeout`` seconds
            per cell at most.
        template: nbconvert's HTML template, ``"lab"`` or ``"classic"``.
    """
    if template not in ("lab", "classic"):
        raise invalid("template", repr(template), "'lab' or 'classic'")
    if isinstance(notebook, nbformat.NotebookNode):
        node, folder, name = copy.deepcopy(notebook), Path.cwd(), "notebook"
    else:
        path = Path(notebook)
        if not path.is_file():
            raise invalid("notebook", str(path), "the path of an existing .ipynb file, or a notebook node")
        node, folder, name = nbformat.read(path, as_version=4), path.resolve().parent, path.stem
    if execute:
        from nbclient import NotebookClient

        resources = {"metadata": {"path": str(folder)}}
        NotebookClient(node, timeout=timeout, store_widget_state=True, resources=resources).execute()
    exporter = HTMLExporter(template_name=template)
    exporter.register_preprocessor(WidgetFallbacks(), enabled=True)
    page, _ = exporter.from_notebook_node(node, resources={"metadata": {"name": name, "path": str(folder)}})
    if html_path is not None:
        write_atomic(html_path, lambda handle: handle.write(page.encode("utf-8")))
    return page
