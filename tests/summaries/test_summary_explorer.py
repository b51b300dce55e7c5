"""SummaryExplorer driven from Python as the browser would drive it."""

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
    assert "summaries of ember thrush accepted" in explorer.headline.value and explorer.progress.value == 1.0


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
