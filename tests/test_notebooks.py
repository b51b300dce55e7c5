"""Layer 3: nbclient executes every notebook; the tour's saved widget state is checked."""

import base64
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # every notebook runs in a kernel: minutes

NOTEBOOKS_DIR = Path(__file__).parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def execute(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return notebook


@pytest.fixture(scope="module")
def executed():
    """``executed[name]``: the notebook executed once (on first use); a cell that raises fails the test that asked,
    with nbclient's ``CellExecutionError`` naming the cell and its traceback."""

    class Executed(dict):
        def __missing__(self, name: str) -> nbformat.NotebookNode:
            self[name] = execute(NOTEBOOKS_DIR / name)
            return self[name]

    return Executed()


def widget_models(notebook):
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    return list(state.values())


def test_the_tour_is_among_the_notebooks():
    assert "00_tour.ipynb" in [path.name for path in NOTEBOOKS]


@pytest.mark.parametrize("name", [path.name for path in NOTEBOOKS])
def test_notebook_runs_every_cell(executed, name):
    notebook = executed[name]  # raises CellExecutionError at the first cell that fails
    cells = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip()]
    assert cells and all(cell.get("execution_count") for cell in cells), name
    warned = [
        cell.source.splitlines()[0]
        for cell in cells
        for output in cell.get("outputs", [])
        if "DeprecationWarning" in output.get("text", "")
    ]
    assert not warned, f"{name} uses names deprecated by the one call shape, in the cells starting {warned}"


def test_tour_opens_with_a_live_explorer_on_a_real_model_and_photo(executed):
    notebook = executed["00_tour.ipynb"]
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "xw.efficientnet_lite0()" in first.source and "xw.HeatmapExplorer(model, photo)" in first.source
    assert "sobel" not in "".join(cell.source for cell in notebook.cells).lower()
    models = widget_models(notebook)
    panels = [
        m
        for m in models
        if m["state"].get("_anywidget_id") == "xwidgets.views.heatmap.HeatmapView"
        and m["state"]["show_controls"]
        and m["state"]["width"] == 224
    ]
    assert len(panels) == 1  # the pretrained model's input: 224 x 224
    state = panels[0]["state"]
    assert state["title"].startswith("Grad-CAM · ") and state["title"].endswith("cat")
    heat = next(b for b in panels[0]["buffers"] if b["path"] == ["heatmap"])
    assert len(base64.b64decode(heat["data"])) == 224 * 224 * 4
    notes = [m["state"]["value"] for m in models if "xw-default-note" in m["state"].get("_dom_classes", ())]
    assert any("I-GOS would take" in note for note in notes)  # the slow default, said and offered
    menus = [
        m["state"]["_options_labels"]
        for m in models
        if m["model_name"] == "DropdownModel"
        and any(label.startswith("I-GOS (≈ ") for label in m["state"]["_options_labels"])
    ]
    assert any(re.fullmatch(r"I-GOS \(≈ [\d.]+ (s|min|h)\)", labels[0]) for labels in menus)


def test_tour_shows_each_method_live_and_ends_each_with_its_paper_figure(executed):
    notebook = executed["00_tour.ipynb"]
    widgets = {m["state"].get("_anywidget_id") for m in widget_models(notebook)}
    assert {
        "xwidgets.views.heatmap.HeatmapView",
        "xwidgets.views.graph.GraphView",
        "xwidgets.views.gallery.GalleryView",
    } <= widgets
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    for explorer in (
        "HeatmapExplorer",
        "SAGExplorer",
        "ConceptExplorer",
        "SummaryExplorer",
        "TextExplorer",
        "MatchExplorer",
    ):
        assert any(f"xw.{explorer}(" in source for source in sources), explorer
    figures = [cell for cell in notebook.cells if cell.cell_type == "code" and '.figure("figures/' in cell.source]
    assert len(figures) == 7
    for cell in figures:
        assert any("image/png" in output.get("data", {}) for output in cell.outputs), cell.source
        name = cell.source.split('figure("')[1].split('")')[0]
        assert (Path(__file__).parents[1] / "notebooks" / name).read_bytes().startswith(b"%PDF")


def test_heatmaps_notebook_saves_a_drawn_explorer(executed):
    models = widget_models(executed["01_heatmaps.ipynb"])
    views = [m for m in models if m["state"].get("_anywidget_id") == "xwidgets.views.heatmap.HeatmapView"]
    panels = [v for v in views if v["state"]["show_controls"]]
    assert sorted(v["state"]["title"] for v in panels) == ["Grad-CAM · scarlet crestling", "I-GOS · scarlet crestling"]
    for view in panels:  # both panels drew their final map
        heat = next(b for b in view["buffers"] if b["path"] == ["heatmap"])
        assert len(base64.b64decode(heat["data"])) == 112 * 112 * 4
    scrub = next(v for v in views if not v["state"]["show_controls"])
    assert scrub["state"]["title"].startswith("I-GOS · 0% deleted · score ")
    lines = [m for m in models if m["model_name"] == "LinesModel"]
    labels = [label for m in lines for label in m["state"].get("labels", [])]
    assert any(label.startswith("I-GOS insertion, AUC ") for label in labels)
    assert any(label.startswith("Grad-CAM deletion, AUC ") for label in labels)
    statuses = [m["state"]["value"] for m in models if m["model_name"] == "HTMLModel"]
    assert any("I-GOS: " in s and "insertion" in s for s in statuses)


def test_sag_notebook_saves_a_drawn_graph_and_patch_editor(executed):
    notebook = executed["02_sag.ipynb"]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    dnf = "P10 & P11 & P17 & P18 | P16 & P17 & P23 & P24"  # a root on the crest, one on the wing
    assert dnf in printed
    assert any("image/png" in o.get("data", {}) for o in outputs), "result.figure() was not drawn"
    models = widget_models(notebook)
    graphs = [m for m in models if m["state"].get("_anywidget_id") == "xwidgets.views.graph.GraphView"]
    assert len(graphs) == 1
    nodes = graphs[0]["state"]["nodes"]
    assert sum(n["level"] == 0 for n in nodes) == 2 and len(nodes) > 2
    assert all(n["label"].endswith("%") and n["detail"].startswith("P") for n in nodes)
    thumbnails = {b["path"][1]: base64.b64decode(b["data"]) for b in graphs[0]["buffers"] if b["path"][2:] == ["image"]}
    assert sorted(thumbnails) == list(range(len(nodes)))
    assert all(png.startswith(b"\x89PNG") for png in thumbnails.values())
    editors = [
        m
        for m in models
        if m["state"].get("_anywidget_id") == "xwidgets.views.heatmap.HeatmapView"
        and "xw-sag-image" in m["state"]["_dom_classes"]
    ]
    # the 112 px toy image, enlarged 5 times so that its patch numbers are drawn at a readable size
    assert len(editors) == 1 and (editors[0]["state"]["width"], editors[0]["state"]["height"]) == (560, 560)
    assert ("image",) in {tuple(b["path"]) for b in editors[0]["buffers"]}
    html = {tuple(m["state"]["_dom_classes"]): m["state"]["value"] for m in models if m["model_name"] == "HTMLModel"}
    assert "forward passes" in html[("xw-sag-summary",)]  # the search's cost, drawn with its graph
    assert dnf in re.sub(r"<[^>]+>", "", html[("xw-sag-dnf",)]).replace("&amp;", "&")


def test_concepts_notebook_saves_bars_cards_and_a_faithful_space(executed):
    import re

    notebook = executed["03_concepts.ipynb"]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    r2 = float(re.search(r"'r2': (-?[\d.]+)", printed).group(1))
    assert r2 > 0.5, printed  # ŷ follows the logit on held-out images
    assert "concept 1 " in printed and sum(o.get("data", {}).get("image/png") is not None for o in outputs) == 2
    models = widget_models(notebook)
    galleries = {
        tuple(m["state"]["_dom_classes"]): m
        for m in models
        if m["state"].get("_anywidget_id") == "xwidgets.views.gallery.GalleryView"
    }
    cards = galleries[("xw-concept-cards",)]["state"]["groups"]
    assert [g["id"] for g in cards] == [f"concept{k}" for k in range(5)]
    assert sum(len(g["items"]) for g in cards) >= 6
    assert len(galleries[("xw-concept-picker",)]["state"]["groups"][0]["items"]) == 12
    bars = [m for m in models if m["model_name"] == "BarsModel"]
    assert len(bars) == 1 and bars[0]["state"]["selected"] is not None
    images = [
        m
        for m in models
        if m["state"].get("_anywidget_id") == "xwidgets.views.heatmap.HeatmapView"
        and "xw-concept-image" in m["state"]["_dom_classes"]
    ]
    assert len(images) == 1 and (images[0]["state"]["width"], images[0]["state"]["height"]) == (112, 112)
    assert images[0]["state"]["title"].startswith("concept 2:")  # select_concept(1) in the notebook
    html = {tuple(m["state"]["_dom_classes"]): m["state"]["value"] for m in models if m["model_name"] == "HTMLModel"}
    assert "faithfulness gap" in html[("xw-concept-summary",)]


def test_summaries_notebook_saves_summaries_members_and_the_model_chart(executed):
    import re

    notebook = executed["04_summaries.ipynb"]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    accepted = int(re.search(r"(\d+) summaries accepted of", printed).group(1))
    assert accepted >= 1 and "re-clustered in" in printed
    assert any("image/png" in o.get("data", {}) for o in outputs), "result.figure() was not drawn"
    models = widget_models(notebook)
    galleries = {
        tuple(m["state"]["_dom_classes"]): m["state"]
        for m in models
        if m["state"].get("_anywidget_id") == "xwidgets.views.gallery.GalleryView"
    }
    assert len(galleries[("xw-summary-gallery",)]["groups"]) == accepted
    members = galleries[("xw-summary-members",)]["groups"][0]["items"]  # explorer.show(0)
    assert members and all(len(item["boxes"]) == 1 for item in members)
    bars = [m["state"] for m in models if m["model_name"] == "BarsModel"]
    assert len(bars) == 1


def test_text_notebook_saves_a_sentence_with_word_buttons_and_a_grounded_word(executed):
    notebook = executed["05_text.ipynb"]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "This is a goldcap because it has" in printed
    assert "This is a twinmark because it has a long red beak." in printed  # one phrase keeps both adjectives
    assert any("image/png" in o.get("data", {}) for o in outputs), "explanation.figure() was not drawn"
    models = widget_models(notebook)
    words = [
        m["state"]["description"]
        for m in models
        if m["model_name"] == "ButtonModel" and "xw-text-word" in m["state"]["_dom_classes"]
    ]
    assert len(words) == 2 and "red eyes" in words and "a yellow head" in words
    views = [m for m in models if m["state"].get("_anywidget_id") == "xwidgets.views.heatmap.HeatmapView"]
    grounded = [v for v in views if v["state"]["title"].startswith("grounding: red eyes")]
    assert len(grounded) == 1
    assert any(b["path"] == ["heatmap"] and b["data"] for b in grounded[0].get("buffers", []))
    galleries = {
        tuple(m["state"]["_dom_classes"]): m["state"]
        for m in models
        if m["state"].get("_anywidget_id") == "xwidgets.views.gallery.GalleryView"
    }
    assert len(galleries[("xw-text-retrieval",)]["groups"][0]["items"]) == 8
    assert galleries[("xw-text-filters",)]["groups"][0]["title"] == "filters behind “red eyes”"


def test_similarity_notebook_saves_both_saliency_maps_and_ranked_attributes(executed):
    notebook = executed["06_similarity.ipynb"]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "share: [" in printed and "1. " in printed and "insertion AUC" in printed
    assert any("image/png" in o.get("data", {}) for o in outputs), "explanation.figure() was not drawn"
    models = widget_models(notebook)
    views = {
        tuple(m["state"]["_dom_classes"]): m
        for m in models
        if m["state"].get("_anywidget_id") == "xwidgets.views.heatmap.HeatmapView"
    }
    for side in ("xw-match-query", "xw-match-reference"):
        view = views[(side,)]
        assert "saliency for the match" in view["state"]["title"]
        assert any(b["path"] == ["heatmap"] and b["data"] for b in view.get("buffers", []))
    galleries = {
        tuple(m["state"]["_dom_classes"]): m["state"]
        for m in models
        if m["state"].get("_anywidget_id") == "xwidgets.views.gallery.GalleryView"
    }
    assert len(galleries[("xw-match-attributes",)]["groups"][0]["items"]) == 5
    assert len(galleries[("xw-match-pool",)]["groups"][0]["items"]) == 16


def test_datasets_notebook_runs_both_engines_alike_and_browses_the_wrong_birds(executed):
    notebook = executed["08_datasets.ipynb"]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "1,000 / 1,000 images, 0 skipped, complete" in printed
    assert "records identical: True" in printed and "maps identical: True" in printed
    assert re.search(r"1000 records · \(1000, 88, 88\) float16 maps · gradcam", printed)
    wrong = int(re.search(r"(\d+) of 1000 birds misclassified", printed).group(1))
    assert 0 < wrong < 500
    grids = [
        m["state"]
        for m in widget_models(notebook)
        if m["state"].get("_anywidget_id") == "xwidgets.views.grid.ThumbnailGridView"
    ]
    assert len(grids) == 1
    tiles = grids[0]["tiles"]
    assert len(tiles) == min(48, wrong) and all(tile["frame"] == "wrong" for tile in tiles)
    assert any("image/png" in o.get("data", {}) for o in outputs), "explorer.figure() was not drawn"


def test_reliability_notebook_refuses_the_photo_names_arguments_reproduces_and_shows_labels_as_text(executed):
    notebook = executed["09_reliability.ipynb"]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "images: got an image of 3000x4000 pixels" in printed and "pass size=(" in printed
    assert "expected images of at least" in printed and "target=9223372036854775808" in printed
    assert "bit-identical: True" in printed and "images: got fingerprint" in printed
    pickers = [
        m["state"]
        for m in widget_models(notebook)
        if m["model_name"] == "ToggleButtonsModel" and "xw-target" in m["state"].get("_dom_classes", [])
    ]
    assert any('<img src=x onerror="alert(1)">' in label for p in pickers for label in p["_options_labels"])
