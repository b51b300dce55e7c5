"""Wherever the notebook is opened: the kernel note (shown only where no kernel answers), the static pictures in
an explorer's display data, the phrase-wise status lines, and the HTML export that places the pictures."""

import base64
import io
import re

import nbformat
import numpy as np
import pytest
from PIL import Image

import xwidgets as xw
from xwidgets.figures import PaperFigure, blend
from xwidgets.views import HeatmapView, KernelNote
from xwidgets.views.explorer import Explorer, phrase_line
from xwidgets.views.fallback import FALLBACK_CLASS, WIDGET_VIEW
from xwidgets.views.static_html import export_html, split_fallbacks


def custom(content):
    """A front-end custom message as the comm delivers it to ipywidgets."""
    return {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}


class Sum(Explorer):
    """The smallest explorer: its run adds two numbers; its figure is one line."""

    work_name = "the sum"

    def __init__(self):
        super().__init__()
        self.children = [self.progress_box]

    def run(self):
        self.start(lambda progress: 41 + 1, {"terms": (41, 1)})

    def render(self):
        pass

    def draw_figure(self, **style):
        figure = PaperFigure(figsize=(2.0, 1.0))
        figure.add_subplot().plot([0, 1], [0, self.current.value])
        return figure


@pytest.fixture
def displays(monkeypatch):
    """What IPython's display() and update_display() published, as (kind, bundle, display_id)."""
    import IPython.display

    published = []
    monkeypatch.setattr(IPython.display, "display", lambda b, raw, display_id: published.append(("new", b, display_id)))
    monkeypatch.setattr(
        IPython.display, "update_display", lambda b, display_id, raw: published.append(("update", b, display_id))
    )
    return published


def picture(fallback_html):
    """The PNG of a static picture's <img>, decoded to ``[H, W, 3]`` uint8."""
    encoded = re.search(r'src="data:image/png;base64,([^"]+)"', fallback_html).group(1)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB"))


# ------------------------------------------------------------------------------------------ kernel note
def test_the_kernel_note_answers_a_ping_from_the_browser(monkeypatch):
    note = KernelNote("no kernel here")
    sent = []
    monkeypatch.setattr(note, "send", lambda content, buffers=None: sent.append(content))
    note._handle_msg(custom({"event": "ping"}))
    assert sent == [{"event": "pong"}] and note.pings == 1
    note._handle_msg(custom({"event": "click", "x": 1}))
    note._handle_msg(custom("ping"))
    assert sent == [{"event": "pong"}] and note.pings == 1


def test_the_kernel_note_refuses_a_timeout_out_of_range():
    with pytest.raises(xw.XWidgetsError, match=r"timeout_ms.*10.*\[100, 60000\]"):
        KernelNote("text", timeout_ms=10)


def test_every_explorer_holds_a_kernel_note_naming_its_work_and_live_controls():
    explorer = Sum()
    try:
        assert explorer.kernel_note in explorer.progress_box.children
        text = explorer.kernel_note.text
        assert "colormap, alpha, threshold and hover work here" in text
        assert "re-run the sum need a running kernel" in text
    finally:
        explorer.close()


# ------------------------------------------------------------------------------------------ phrase lines
def test_phrase_line_keeps_each_phrase_on_one_line_and_escapes_it():
    line = phrase_line("I-GOS <fast>", "", "42%", "3 s left")
    spans = re.findall(r'<span class="xw-phrase" style="white-space:nowrap">([^<]*)</span>', line)
    assert spans == ["I-GOS &lt;fast&gt;", "42%", "3 s left"]
    assert line.count(" · ") == 2 and "<fast>" not in line
    assert phrase_line("<b>bold</b>", escape=False).count("<b>bold</b>") == 1


def test_the_progress_line_is_built_of_phrases():
    explorer = Sum()
    try:
        explorer._started = 0.0
        explorer._on_progress(explorer._token, 0.5, "line search")
        spans = re.findall(r'white-space:nowrap">([^<]*)</span>', explorer.status.value)
        assert spans[:2] == ["line search", "50%"] and spans[2].endswith("left")
    finally:
        explorer.close()


# ------------------------------------------------------------------------------------------ static pictures
def test_an_explorer_is_displayed_with_a_caption_then_a_picture_after_wait(displays):
    explorer = Sum()
    try:
        explorer._ipython_display_()
        ((kind, bundle, display_id),) = displays
        assert kind == "new" and WIDGET_VIEW in bundle and FALLBACK_CLASS in bundle["text/html"]
        assert "<img" not in bundle["text/html"] and "still running" in bundle["text/html"]
        explorer.run()
        explorer.wait(30)
        kind, bundle, updated = displays[-1]
        assert (kind, updated) == ("update", display_id)
        assert bundle[WIDGET_VIEW]["model_id"] == explorer.model_id
        pixels = picture(bundle["text/html"])
        assert pixels.shape[1] > 100 and pixels.std() > 10  # a drawn line, not a blank image
    finally:
        explorer.close()


def test_wait_redraws_no_picture_for_an_explorer_never_displayed(displays):
    explorer = Sum()
    try:
        explorer.run()
        explorer.wait(30)
        assert displays == [] and not explorer.displayed
    finally:
        explorer.close()


def test_a_figure_that_fails_leaves_a_caption_that_says_why():
    class Broken(Sum):
        def draw_figure(self, **style):
            raise ValueError("no axes today")

    explorer = Broken()
    try:
        explorer.run()
        explorer.wait(30)
        html = explorer.static_html()
        assert "<img" not in html and "ValueError: no axes today" in html
    finally:
        explorer.close()


def test_a_heatmap_views_picture_is_its_blend():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    heat = rng.random((12, 16)).astype(np.float32)
    view = HeatmapView(image, heat, colormap="magma", alpha=0.7, threshold=0.2, mode="overlay")
    bundle = view.display_bundle()
    expected = blend(image / 255.0, heat, colormap="magma", alpha=0.7, threshold=0.2, mode="overlay")
    got = picture(bundle["text/html"])
    assert got.shape == (12, 16, 3)
    assert np.abs(got.astype(float) - expected * 255).max() <= 1.0


# ------------------------------------------------------------------------------------------ HTML export
def widget_notebook(model_id="abc"):
    """A notebook whose one output is a widget view with a static picture, and its widget state."""
    data = {
        "text/plain": "Sum()",
        WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": model_id},
        "text/html": f'<div class="{FALLBACK_CLASS}"><img src="data:image/png;base64,AAAA"></div>',
    }
    cell = nbformat.v4.new_code_cell("Sum()", outputs=[nbformat.v4.new_output("display_data", data=data)])
    html = nbformat.v4.new_output("display_data", data={"text/html": "<b>1</b>"})
    plain = nbformat.v4.new_code_cell("1", outputs=[html])
    notebook = nbformat.v4.new_notebook(cells=[cell, plain])
    state = {
        model_id: {
            "model_name": "VBoxModel",
            "model_module": "@jupyter-widgets/controls",
            "model_module_version": "2.0.0",
            "state": {},
        }
    }
    notebook.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0, "state": state}
    }
    return notebook


def test_split_fallbacks_moves_each_picture_after_its_widget():
    notebook = widget_notebook()
    assert split_fallbacks(notebook) == 1
    widget, fallback = notebook.cells[0].outputs
    assert "text/html" not in widget["data"] and WIDGET_VIEW in widget["data"]
    assert list(fallback["data"]) == ["text/html"] and FALLBACK_CLASS in fallback["data"]["text/html"]
    assert notebook.cells[1].outputs[0]["data"] == {"text/html": "<b>1</b>"}  # other outputs untouched


def test_export_html_shows_the_widget_then_its_picture_and_leaves_the_notebook_alone(tmp_path):
    notebook = widget_notebook()
    page = export_html(notebook, tmp_path / "page.html")
    assert (tmp_path / "page.html").read_text(encoding="utf-8") == page
    widget = page.index('type="application/vnd.jupyter.widget-view+json"')
    assert widget < page.index(f'class="{FALLBACK_CLASS}"')
    assert "text/html" in notebook.cells[0].outputs[0]["data"]  # the caller's notebook is not changed


def test_export_html_names_a_bad_argument(tmp_path):
    with pytest.raises(xw.XWidgetsError, match="template"):
        export_html(widget_notebook(), template="full")
    with pytest.raises(xw.XWidgetsError, match="notebook"):
        export_html(tmp_path / "missing.ipynb")
