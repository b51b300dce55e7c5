"""SummaryExplorer driven from Python as the browser would drive it."""

import dataclasses
import re
import threading

import numpy as np
import pytest

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument, XWidgetsError

FAST = {"smooth_iterations": 60, "sharp_iterations": 40}


@pytest.fixture(scope="module")
def images():
    world = xw.toy.ToyWorld()
    species = [s.name for s in world.species].index("ember thrush")
    # 16 images, like the notebook: with 10, a fresh machine (scikit-image 0.26, scikit-learn 1.9) clustered their
    # 9 proposals into singletons and accepted no summary; 16 give 2
    return np.stack([world.sample(species, seed=9630 + i).image for i in range(16)])


@pytest.fixture(scope="module")
def explorer(images):
    view = xw.SummaryExplorer(xw.toy.classifier(), images, "ember thrush", mask_params=FAST)
    view.wait(300)
    yield view
    view.close()


def test_accepted_summaries_fill_the_gallery_and_the_chart(explorer):
    result = explorer.result
    groups = explorer.summaries.groups
    assert len(groups) == len(result.accepted) >= 1
    for group, summary in zip(groups, result.accepted):
        assert len(group["items"]) == len(summary["samples"])
    assert list(explorer.bars.x) == ["toy classifier"] and list(explorer.bars.y) == [len(result.accepted)]
    assert explorer.counts == {"toy classifier": len(result.accepted)}
    assert "of ember thrush" in explorer.headline.value and "accepted of" in explorer.headline.value
    assert explorer.progress.value == 1.0
    assert explorer.summaries.wrap  # a long row wraps instead of hiding its last samples


def test_clicking_a_summary_shows_its_members_outlined(explorer):
    explorer.summaries.select(group="summary0")
    assert explorer.selected == 0
    items = explorer.members.groups[0]["items"]
    samples = explorer.result.accepted[0]["samples"]
    assert len(items) == len(samples)
    for item, proposal in zip(items, samples):
        box = item["boxes"][0]
        assert [box["x0"], box["y0"], box["x1"], box["y1"]] == explorer.result.boxes[proposal].tolist()
        assert (item["width"], item["height"]) == (112, 112)
    assert explorer.members.title.startswith("summary 1")


def test_the_preference_reclusters_without_recomputing_masks(explorer, monkeypatch):
    import xwidgets.summaries.summary as summary_module

    monkeypatch.setattr(summary_module, "crisp_masks", lambda *a, **k: pytest.fail("masks were recomputed"))
    explorer.controls["preference_factor"].value = 4.0
    explorer.wait(60)
    assert explorer.result.params["preference_factor"] == 4.0
    explorer.controls["preference_factor"].value = 1.3
    explorer.wait(60)


def test_figure_and_bad_arguments(explorer, images, tmp_path):
    explorer.figure(tmp_path / "summaries.png")
    assert (tmp_path / "summaries.png").stat().st_size > 1000
    with pytest.raises(InvalidArgument, match="number"):
        explorer.show(99)
    before = threading.active_count()
    model = xw.toy.classifier()
    for kwargs, argument in (
        (dict(compare={"x": "model"}), "compare['x']"),
        (dict(params={"nope": 1}), "nope"),
        (dict(params=[1]), "params"),
    ):
        with pytest.raises(InvalidArgument) as error:
            xw.SummaryExplorer(model, images, "ember thrush", run=False, **kwargs)
        assert error.value.argument == argument
    with pytest.raises(InvalidArgument, match="model"):
        xw.SummaryExplorer(xw.toy.embedder(), images, 0, run=False)
    idle = xw.SummaryExplorer(model, images, "ember thrush", run=False)
    with pytest.raises(XWidgetsError, match="nothing to draw yet"):
        idle.figure()
    with pytest.raises(XWidgetsError, match="no summaries yet"):
        idle.show(0)
    idle.close()
    assert threading.active_count() == before


def test_a_class_the_model_never_predicts_shows_an_error(images):
    view = xw.SummaryExplorer(xw.toy.classifier(), images, "goldcap", mask_params=FAST)
    with pytest.raises(InvalidArgument, match="none of them classified as goldcap"):
        view.wait(60)
    assert view.progress.bar_style == "danger" and "InvalidArgument" in view.status.value
    view.close()


def test_cancel_keeps_the_shown_summaries_and_puts_the_controls_back(explorer):
    shown, headline = explorer.result, explorer.headline.value
    explorer.controls["min_area"].value = 0.03  # redoes the regions and what follows
    explorer.cancel()
    assert explorer.controls["min_area"].value == shown.params["min_area"] == 0.01
    assert explorer.result is shown and explorer.headline.value == headline
    assert "cancelled" in explorer.status.value and not explorer.running
    explorer.controls["preference_factor"].value = 2.0
    explorer.wait(60)
    assert explorer.result.params["preference_factor"] == 2.0 and explorer.result is not shown
    assert f"of {len(explorer.result.summaries)} clusters" in explorer.headline.value
    explorer.controls["preference_factor"].value = 1.3
    explorer.wait(60)


def test_without_a_target_the_images_most_common_class_is_summarised(images):
    view = xw.SummaryExplorer(
        xw.toy.classifier(), images[:4], mask_params={"smooth_iterations": 5, "sharp_iterations": 5}
    )
    view.wait(120)
    assert view.result.target_name == "ember thrush" and "ember thrush" in view.headline.value
    view.close()


def _plural_mistakes(text: str) -> list[str]:
    """Counts of 1 with a plural noun, counts of 0 or of 2 or more with a singular one, and "(s)"."""
    singular = re.findall(r"(?<![\d.])1 (?:summaries|images|samples|clusters)\b", text)
    plural = re.findall(r"\b(?:0|[2-9]|\d\d+) (?:summary|image|sample|cluster)\b", text)
    return singular + plural + re.findall(r"\(s\)", text)


def test_every_line_counts_in_proper_plurals(explorer):
    from xwidgets.summaries.explorer import _counted, _pass_line

    assert (_counted(1, "image"), _counted(0, "image"), _counted(3, "sample")) == ("1 image", "0 images", "3 samples")
    texts = [explorer.headline.value, explorer.summaries.title, explorer.members.title]
    texts += [group["detail"] for group in explorer.summaries.groups]
    texts += [
        _pass_line({"model": "m", "summary_pass": "masks", "count": n, "done": 0, "step": 0, "steps": 9})
        for n in (1, 2)
    ]
    assert not [mistake for text in texts for mistake in _plural_mistakes(text)], texts
    single = re.sub(r"<[^>]+>", "", explorer.headline.value)
    assert re.match(r"\d+ summar(y|ies) of ember thrush", single)


def test_one_summary_is_a_summary(explorer):
    """A result with one accepted summary says "1 summary" (the headline of a real result, trimmed to one)."""
    shown, result = explorer.shown, explorer.result
    first = next(i for i, c in enumerate(result.summaries) if c["accepted"])
    kept = [c if i == first else {**c, "accepted": False} for i, c in enumerate(result.summaries)]
    try:
        explorer.shown = type(shown)({explorer.name: dataclasses.replace(result, summaries=kept)}, shown.settings)
        explorer.render()
        assert "<b>1</b> summary of ember thrush" in explorer.headline.value
        assert not _plural_mistakes(explorer.headline.value)
    finally:
        explorer.shown = shown
        explorer.render()


def test_the_lines_wrap_only_between_phrases(explorer):
    from xwidgets.views.explorer import phrase_line

    headline = explorer.headline.value
    phrases = re.findall(r'<span class="xw-phrase" style="white-space:nowrap">(.*?)</span>', headline)
    assert len(phrases) >= 3 and phrase_line(*phrases, escape=False) == headline
    assert all("·" not in phrase for phrase in phrases)


def test_the_count_chart_leaves_room_above_the_tallest_bar(explorer):
    top = max(explorer.counts.values())
    assert explorer._count_scale.max == top + 1
    assert list(explorer._count_axis.tick_values) == list(range(top + 2))


def test_the_dataset_pass_is_shown_where_the_summaries_go_until_they_are(images):
    model = xw.toy.classifier()
    model.max_batch = 2  # two images per batch: the pass streams its images as each batch ends
    view = xw.SummaryExplorer(
        model, images[:4], "ember thrush", mask_params={"smooth_iterations": 10, "sharp_iterations": 10}, run=False
    )
    lines, thumbnails = [], []
    view.pass_status.observe(lambda change: lines.append(change["new"]), names="value")
    view.pass_view.observe(
        lambda change: thumbnails.append(len(change["new"][0]["items"]) if change["new"] else 0), names="groups"
    )
    assert view.pass_box.layout.display == "none"  # nothing runs yet
    view.run()
    assert view.pass_box.layout.display == "flex" and "dataset pass of toy classifier" in view.pass_status.value
    view.wait(120)
    text = [re.sub(r"<[^>]+>", "", line) for line in lines]
    assert any("reading the images" in line for line in text), text
    assert any(
        "crisp masks, step" in line and "0 of 4 images done" in line and "no image finished yet" in line
        for line in text
    ), text
    assert any("2 of 4 images done" in line for line in text), text
    assert any("matched across the images" in line for line in text), text
    assert 2 in thumbnails and 4 in thumbnails, thumbnails
    assert view.pass_box.layout.display == "none" and view.result is not None  # the summaries took its place
    view.close()
