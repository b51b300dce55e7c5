"""Paper figures an author can submit: every figure type at both print-width presets, saved with a plain
``savefig``, keeps every text inside the canvas, at 8 pt or more, clear of the data and of other texts; class
names, not indices; vector text in the PDF."""

import io

import pytest
from figure_kinds import KINDS, draw
from layout import layout_problems, texts

from xwidgets.core.errors import InvalidArgument
from xwidgets.figures import FIGURE_STYLES, figure_width


@pytest.mark.parametrize("style", ["one-column", "two-column"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_figure_reads_at_print_size(toy_results, kind, style):
    """A plain savefig keeps every title and label on the canvas; every text is >= 8 pt at the preset's width;
    no text or legend lies on the lines, bars or images; no two texts overlap."""
    figure = draw(toy_results, kind, style=style)
    assert figure.get_figwidth() == pytest.approx(FIGURE_STYLES[style])
    assert layout_problems(figure) == []


@pytest.mark.parametrize("kind", KINDS)
def test_default_style_is_a_preset_width(toy_results, kind):
    figure = draw(toy_results, kind)
    assert figure.get_figwidth() in FIGURE_STYLES.values()


def test_titles_name_the_class_not_its_index(toy_results):
    heatmap = draw(toy_results, "heatmap")
    assert [a.get_title() for a in heatmap.axes if a.images] == ["I-GOS · azure jay"]
    sag = draw(toy_results, "sag", style="two-column")
    assert any(t.get_text().startswith("azure jay · P") for t in texts(sag))


def test_sag_figure_has_its_colour_legend_and_edge_labels(toy_results):
    figure = draw(toy_results, "sag", style="two-column")
    result = toy_results["sag"]
    legend = [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    assert {"score > 90 %", "drop ≥ 60 points", "−Pn: patch removed"} <= set(legend)
    labels = sorted(t.get_text() for t in figure.texts if t.get_text().startswith("−P"))
    assert labels == sorted(f"−P{e['removed']}" for e in result.edges[0])


def test_pdf_text_is_text_with_embedded_truetype_fonts(toy_results, tmp_path):
    figure = draw(toy_results, "concepts", style="one-column")
    figure.savefig(tmp_path / "f.pdf")  # plain savefig: the figure applies the paper style itself
    pdf = (tmp_path / "f.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf
    import pypdfium2

    page = pypdfium2.PdfDocument(str(tmp_path / "f.pdf"))[0]
    assert page.get_width() == pytest.approx(72 * 3.3, abs=0.5)  # print width, nothing cropped or padded
    assert "goldcap" in page.get_textpage().get_text_range()


@pytest.mark.parametrize("style", ["three-column", 3.3, None])
def test_bad_style_names_the_presets(toy_results, style):
    with pytest.raises(InvalidArgument, match=r"style.*'one-column' \(3.3 in\).*'two-column' \(7 in\)"):
        draw(toy_results, "heatmap", style=style)
    with pytest.raises(InvalidArgument, match="style"):
        figure_width(style)


def test_plain_savefig_png_keeps_the_canvas(toy_results):
    figure = draw(toy_results, "heatmaps with curves", style="two-column")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    from PIL import Image

    assert Image.open(buffer).size == (700, round(100 * figure.get_figheight()))
