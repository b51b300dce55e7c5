"""TextExplorer: words, bars, filters, retrieval and image picks, driven from Python as the browser drives them."""

import threading

import numpy as np
import pytest
from ipywidgets.widgets.widget import _instances

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument


@pytest.fixture
def explorer(text_model, held_out):
    view = xw.TextExplorer(text_model, held_out.images()[:24]).wait()
    yield view
    view.close()


def heatmap_bytes(view):
    return bytes(view.image_view.heatmap)


def first_image_with(explorer, enough):
    """The first pool image whose sentence's words satisfy ``enough`` (explained with the explorer's settings)."""
    explanation = explorer.text_model.explain(explorer.images, **explorer.params)
    return next(i for i in range(len(explanation)) if enough(explanation.words(i)))


def test_sentence_words_are_buttons_that_ground_their_phrase(explorer):
    explorer.select_image(first_image_with(explorer, lambda words: len(words) >= 2))
    explorer.wait()
    words = explorer.explanation.words(0)
    assert [b.description for b in explorer.word_buttons] == [w["phrase"] for w in words]
    assert explorer.attribute == words[0]["attributes"][0] and explorer.grounded == words[0]["attributes"]
    assert explorer.word_buttons[0].button_style == "info" and explorer.word_buttons[1].button_style == ""
    before = heatmap_bytes(explorer)
    explorer.word_buttons[1].click()
    assert explorer.attribute == words[1]["attributes"][0] and explorer.grounded == words[1]["attributes"]
    assert explorer.word_buttons[1].button_style == "info" and explorer.word_buttons[0].button_style == ""
    assert heatmap_bytes(explorer) != before
    assert words[1]["phrase"] in explorer.image_view.title
    assert explorer.attribute_menu.value == explorer.attribute


def test_a_phrase_button_grounds_every_attribute_of_the_phrase(explorer):
    explorer.select_image(first_image_with(explorer, lambda words: any(len(w["attributes"]) > 1 for w in words)))
    explorer.wait()
    words = explorer.explanation.words(0)
    position = next(p for p, w in enumerate(words) if len(w["attributes"]) > 1)
    explorer.word_buttons[position].click()
    attributes = words[position]["attributes"]
    assert explorer.grounded == attributes and words[position]["phrase"] in explorer.image_view.title
    shown = explorer.image_view.values
    assert np.allclose(shown, explorer.explanation.map(attributes, 0).numpy(), atol=1e-6)
    assert not np.allclose(shown, explorer.explanation.map(attributes[0], 0).numpy(), atol=1e-3)
    explorer.select_attribute(attributes[1])  # a bar or the menu grounds one attribute
    assert explorer.grounded == [attributes[1]]
    assert np.allclose(explorer.image_view.values, explorer.explanation.map(attributes[1], 0).numpy(), atol=1e-6)


def test_bars_show_the_ranking_and_a_click_selects(explorer):
    ranking = explorer.explanation.ranking(0, 8)
    assert list(explorer.bars.x) == [r["phrase"] for r in ranking]
    assert explorer.bars.y.tolist() == pytest.approx([r["lift"] for r in ranking], rel=1e-5)
    explorer.bars.selected = [4]
    assert explorer.attribute == ranking[4]["attribute"]
    explorer.controls["rank"].value = "probability"
    explorer.wait()
    assert explorer.bars.y.tolist() == pytest.approx(
        [r["probability"] for r in explorer.explanation.ranking(0, 8, by="probability")], rel=1e-5
    )
    assert explorer._y_axis.label == "p(a|x,y)"


def test_the_value_axis_holds_every_bar_and_its_printed_value_in_few_readable_ticks(explorer):
    """Issue 19: the axis ended at the longest bar (which ran past it) and showed 14 crowded 10 px ticks."""
    for rank in ("lift", "probability"):
        explorer.controls["rank"].value = rank
        explorer.wait()
        longest = max(explorer.bars.y.tolist())
        assert explorer._y.min == 0.0 and explorer._y.max == pytest.approx(1.25 * longest)
        assert explorer.bars.label_display and explorer.bars.label_display_format == ".2f"
        ticks = list(explorer._y_axis.tick_values)
        assert 2 <= len(ticks) <= 5 and ticks[0] == 0.0 and ticks[-1] <= explorer._y.max
        written = [format(t, explorer._y_axis.tick_format) for t in ticks]
        assert len(set(written)) == len(ticks) and all(float(w) == pytest.approx(t) for w, t in zip(written, ticks))
    for axis in explorer.chart.axes:
        assert int(axis.tick_style["font-size"].removesuffix("px")) >= 11


def test_filters_and_retrieval_follow_the_selected_word(explorer, text_model):
    explorer.select_attribute("red crest")
    rows = explorer.explanation.top_filters("red crest", 0, top=5)
    group = explorer.filters.groups[0]
    assert group["title"] == "filters behind “a red crest”"
    assert [item["id"] for item in group["items"]] == [f"filter{r['filter']}" for r in rows]
    order = text_model.rank_images("red crest", explorer.scores, top=8).tolist()
    assert [item["id"] for item in explorer.retrieved.groups[0]["items"]] == [f"image{i}" for i in order]
    # a click in the retrieval gallery explains that image and keeps the word
    explorer.retrieved.select(item=f"image{order[1]}")
    explorer.wait()
    assert explorer.index == order[1] and explorer.attribute == "red crest"


def test_picking_an_image_explains_it(explorer, held_out):
    sentence = explorer.explanation.sentences[0]
    target = next(i for i in range(1, 12) if held_out.samples[i].species != held_out.samples[0].species)
    explorer.picker.select(item=f"image{target}")
    explorer.wait()
    assert explorer.index == target
    assert explorer.explanation.sentences[0] != sentence
    assert held_out.samples[target].species_name in explorer.explanation.sentences[0]
    explorer.controls["min_evidence"].value = 0.0
    explorer.controls["words"].value = 2
    assert len(explorer.wait().word_buttons) == 2
    explorer.controls["min_evidence"].value = 1.0
    assert len(explorer.wait().word_buttons) == 1


def test_figure_and_close(explorer, tmp_path):
    figure = explorer.figure(tmp_path / "text.png")
    assert (tmp_path / "text.png").stat().st_size > 10_000
    assert len(figure.axes) == 1 + len(explorer.word_buttons)
    threads = threading.active_count()
    explorer.close()
    assert threading.active_count() <= threads
    assert explorer.image_view.comm is None and all(b.comm is None for b in explorer.word_buttons)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda tm, images: xw.TextExplorer(object(), images), "text_model"),
        (lambda tm, images: xw.TextExplorer(tm, images[:3], index=3), "index"),
        (lambda tm, images: xw.TextExplorer(tm, images[:3], params={"words": 0}), "words"),
        (lambda tm, images: xw.TextExplorer(tm, images[:3], target=11), "target: got 11"),
        (lambda tm, images: xw.TextExplorer(tm, images[:0]), "images: got no images"),
        (lambda tm, images: xw.TextExplorer(tm, images[:3], model=xw.toy.embedder()), "model"),
    ],
)
def test_bad_explorer_input_is_named_and_leaves_nothing(text_model, held_out, build, message):
    before_widgets, before_threads = set(_instances), threading.active_count()
    with pytest.raises(InvalidArgument, match=message):
        build(text_model, held_out.images())
    assert set(_instances) == before_widgets and threading.active_count() == before_threads


def test_a_loaded_model_needs_its_classifier(text_model, held_out, tmp_path):
    loaded = xw.text.TextModel.load(text_model.save(tmp_path / "text.xwr"))
    with pytest.raises(InvalidArgument, match="model"):
        xw.TextExplorer(loaded, held_out.images()[:3])
    view = xw.TextExplorer(loaded, held_out.images()[:3], model=text_model.model).wait()
    with pytest.raises(InvalidArgument, match="attribute"):
        view.select_attribute("shiny wheel")
    view.close()
