"""Nothing injected, the Python side: user text reaches the browser escaped in HTML and as plain data elsewhere.

Every view and explorer is opened with hostile text (:data:`~.hostile.HOSTILE`, all in one label,
:data:`~.hostile.JOINED`) wherever a user's text goes: a classifier's class names and name (target picker, titles,
status and summary lines, chart labels), a view's titles, captions, labels and tooltips, a dataset folder's class
folders and file names, the attribute names of the SANE attribute model, the message of an error raised inside a
run, an explorer's static picture and ``xw.export_html``'s page. For each, every string sent to the browser is
checked (:func:`~.hostile.widget_texts`): an HTML value creates no element or handler of ours
(:func:`~.hostile.unsafe_html`), no text shows escaped twice, and each hostile string shows literally somewhere.
The browser half is tests/e2e/test_injection_in_jupyterlab.py.
"""

from __future__ import annotations

import html
import re

import nbformat
import numpy as np
import pytest
from PIL import Image

import xwidgets as xw
from xwidgets.toy.models import TOY_PREPROCESSING

from .hostile import (
    FILE_NAMES,
    HOSTILE,
    JOINED,
    MARKUP,
    PWNED,
    Failing,
    double_escaped,
    missing,
    running_scripts,
    shown_text,
    unsafe_html,
    widget_texts,
)

#: entry point -> hostile strings routed through it (the README's "injection cases" is their total).
CASES: dict[str, int] = {}


def hostile_labels(count: int) -> list[str]:
    """``count`` distinct class names, each holding every hostile string."""
    return [f"{index}: {JOINED}" for index in range(count)]


@pytest.fixture(scope="module")
def model():
    """The toy classifier with hostile class names and a hostile name."""
    toy = xw.toy.classifier()
    return xw.Classifier(toy.module, preprocessing=TOY_PREPROCESSING, labels=hostile_labels(11), name=JOINED)


@pytest.fixture(scope="module")
def data():
    return xw.toy.dataset(22, seed=9811)


def check(entry: str, root, wanted=HOSTILE) -> None:
    """The property of the module docstring for the widget ``root`` (and every widget it holds)."""
    htmls, texts = widget_texts(root)
    unsafe = {value[:80]: found for value in htmls if (found := unsafe_html(value))}
    assert not unsafe, f"{entry}: HTML that user text turned into markup: {unsafe}"
    shown = [shown_text(value) for value in htmls] + texts
    assert not double_escaped(shown), f"{entry}: shown escaped twice: {double_escaped(shown)}"
    assert not missing(shown, wanted), f"{entry}: not shown literally: {missing(shown, wanted)}"
    CASES[entry] = len(wanted)


def close(widget) -> None:
    widget.close()


def test_the_checks_catch_markup_left_unescaped_and_text_escaped_twice():
    """The checks themselves: a label put into HTML unescaped, or escaped twice, is caught."""
    assert "<img> element" in unsafe_html(f"<b>{JOINED}</b>") and "unescaped '&lt;b&gt;'" in unsafe_html(JOINED)
    assert not unsafe_html(f"<b>{html.escape(JOINED)}</b>")
    assert double_escaped([shown_text(html.escape(html.escape(JOINED)))]) == list(MARKUP)
    assert missing([shown_text(html.escape(JOINED))]) == []


# ------------------------------------------------------------------------------------------------------- views
def test_heatmap_view_title_and_note(data):
    view = xw.HeatmapView(data.samples[0].image, np.random.default_rng(0).random((112, 112)), title=JOINED)
    view.note = JOINED
    check("HeatmapView", view)
    view.close()


def test_graph_view_labels_details_edges_and_title(data):
    nodes = [
        {"id": JOINED, "image": data.samples[0].image, "label": JOINED, "detail": JOINED},
        {"id": "b", "image": data.samples[1].image, "label": JOINED, "level": 1, "detail": JOINED},
    ]
    view = xw.GraphView(nodes, [{"source": JOINED, "target": "b", "label": JOINED}], title=JOINED, selected=JOINED)
    check("GraphView", view)
    view.close()


def test_gallery_view_titles_captions_and_tooltips(data):
    items = [{"id": JOINED, "image": data.samples[0].image, "caption": JOINED, "detail": JOINED}]
    view = xw.GalleryView([{"id": JOINED, "title": JOINED, "detail": JOINED, "items": items}], title=JOINED)
    check("GalleryView", view)
    view.close()


def test_thumbnail_grid_captions_and_tooltips(data):
    from xwidgets.views import ThumbnailGridView

    thumbnail = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    tile = {"key": JOINED, "thumbnail": thumbnail, "caption": JOINED, "tooltip": JOINED}
    view = ThumbnailGridView([tile], empty_text=JOINED)
    check("ThumbnailGridView", view)
    view.close()


def test_kernel_note_text():
    from xwidgets.views.kernel_note import KernelNote

    note = KernelNote(JOINED)
    check("KernelNote", note)
    note.close()


# --------------------------------------------------------------------------------------------------- explorers
def test_heatmap_explorer_picker_titles_legend_and_status(model, data):
    explorer = xw.HeatmapExplorer(model, data.samples[0].image, method="gradcam", compare="occlusion", target=3)
    explorer.wait(120)
    check("HeatmapExplorer", explorer)
    explorer.close()


def test_an_error_inside_a_run_shows_as_text(model, data):
    failing = Failing(model.module)
    classifier = xw.Classifier(failing.eval(), preprocessing=TOY_PREPROCESSING, labels=model.labels, name="failing")
    explorer = xw.HeatmapExplorer(classifier, data.samples[0].image, method="gradcam", run=False)
    failing.fail = True
    explorer.run()
    with pytest.raises(RuntimeError):
        explorer.wait(60)
    assert PWNED in explorer.status.value
    check("explorer error line", explorer)
    explorer.close()


def test_sag_explorer_graph_formula_and_scores(model, data):
    explorer = xw.SAGExplorer(model, data.samples[0].image, target=0, params={"max_roots": 1})
    explorer.wait(180)
    check("SAGExplorer", explorer)
    explorer.close()


def test_concept_explorer_title_bars_and_cards(model, data):
    explorer = xw.ConceptExplorer(model, data.images(), target=3, params={"retries": 0, "epochs": 5, "k": 3})
    explorer.wait(180)
    check("ConceptExplorer", explorer)
    explorer.close()


def test_summary_explorer_headline_and_compared_model_names(model):
    world = xw.toy.ToyWorld()
    images = np.stack([world.sample(6, seed=9630 + i).image for i in range(4)])
    other = xw.Classifier(model.module, preprocessing=TOY_PREPROCESSING, labels=model.labels, name=f"other {JOINED}")
    params = {"smooth_iterations": 5, "sharp_iterations": 5}
    explorer = xw.SummaryExplorer(model, images, 6, compare={f"other {JOINED}": other}, mask_params=params)
    explorer.wait(180)
    check("SummaryExplorer", explorer)
    explorer.close()


def test_text_explorer_sentence_and_class_names(model, data):
    text_model = xw.text.fit(model, data.images(), captions=xw.toy.captions(data), progress=False)
    explorer = xw.TextExplorer(text_model, data.images()[:2])
    explorer.wait(120)
    check("TextExplorer", explorer)
    explorer.close()


def test_match_explorer_attribute_names(data):
    attributes = xw.toy.attribute_model()
    attributes.phrases = [f"{index}: {JOINED}" for index in range(len(attributes.phrases))]
    explorer = xw.MatchExplorer(xw.toy.embedder(), data.images()[:3], attributes, params={"masks": 64})
    explorer.wait(120)
    check("MatchExplorer", explorer)
    explorer.close()


@pytest.fixture(scope="module")
def hostile_folder(data, tmp_path_factory):
    """A class-folder dataset whose class folders and file names are hostile strings."""
    root = tmp_path_factory.mktemp("hostile") / "birds"
    for index, name in enumerate(FILE_NAMES):
        folder = root / f"{index} {name}"
        folder.mkdir(parents=True)
        Image.fromarray(np.asarray(data.samples[index].image)).save(folder / f"{name}.png")
    return root


def test_dataset_explorer_tiles_filters_and_record_of_hostile_file_names(model, hostile_folder, tmp_path):
    run = xw.explain_dataset(
        model, xw.data.folder(hostile_folder), method="gradcam", store=tmp_path / "run", metrics=False, progress=False
    )
    explorer = xw.DatasetExplorer(run, page_size=24)
    explorer.grid.selected = explorer.grid.tile_keys[0]  # a click: the stored map and the record below the grid
    check("DatasetExplorer", explorer, FILE_NAMES)
    explorer.close()
    with_model = xw.DatasetExplorer(run, model, page_size=24)
    with_model.open_image(with_model.grid.tile_keys[0])
    with_model.image_explorer.wait(120)
    check("DatasetExplorer with a model", with_model)
    with_model.close()


def test_static_picture_caption_of_an_error_with_hostile_text(model, data):
    explorer = xw.HeatmapExplorer(model, data.samples[0].image, method="gradcam")
    explorer.wait(120)
    explorer.draw_figure = lambda **style: (_ for _ in ()).throw(RuntimeError(JOINED))
    picture = explorer.static_html()
    assert not unsafe_html(picture.split("<style>")[0] + picture.split("</style>")[1])
    assert missing([shown_text(picture)], MARKUP) == []
    CASES["static picture caption"] = len(HOSTILE)
    explorer.close()


def test_export_html_page_runs_nothing(model, data):
    """``xw.export_html`` of a notebook holding an explorer's output and widget state: the page's scripts are ours
    and nbconvert's; the hostile text is inside the widget state (JSON, ``</script>`` escaped) or escaped."""
    from ipywidgets.embed import dependency_state

    explorer = xw.HeatmapExplorer(model, data.samples[0].image, method="gradcam")
    explorer.wait(120)
    bundle = explorer.display_bundle()
    cell = nbformat.v4.new_code_cell("explorer", outputs=[nbformat.v4.new_output("display_data", data=bundle)])
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(html.escape(JOINED)), cell])
    state = {"version_major": 2, "version_minor": 0, "state": dependency_state(explorer, drop_defaults=False)}
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    page = xw.export_html(notebook)
    assert PWNED in page  # the hostile text is in the page: in the widget state, escaped in the picture's caption
    assert not running_scripts(page)
    outside = re.sub(r"<script\b.*?</script>|<style\b.*?</style>", "", page, flags=re.S)
    created = [f for f in unsafe_html(outside) if not f.endswith(" element") or f in ("<img> element", "<svg> element")]
    assert not created
    CASES["xw.export_html"] = len(HOSTILE)
    explorer.close()


def test_cases_counted():
    """The README's count: hostile strings × entry points tried (run last in this module)."""
    print(f"\ninjection cases: {sum(CASES.values())} over {len(CASES)} entry points")
    assert len(CASES) >= 1
