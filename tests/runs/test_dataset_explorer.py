"""DatasetExplorer: filters, sort, brush and pager decide the tiles; a click opens the right image."""

import numpy as np
import pytest

import xwidgets as xw
from xwidgets.runs.explorer import DatasetExplorer
from xwidgets.runs.synthetic import SKIP_EVERY, synthetic_run

PAGE = 24


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return synthetic_run(tmp_path_factory.mktemp("runs") / "synthetic", 300, seed=3, size=32, thumbnail_size=16)


@pytest.fixture
def explorer(run):
    explorer = DatasetExplorer(run, page_size=PAGE, columns=6)
    yield explorer
    explorer.close()


@pytest.fixture(scope="module")
def toy_model():
    return xw.toy.classifier()


@pytest.fixture(scope="module")
def toy_run(toy_model, tmp_path_factory):
    store = tmp_path_factory.mktemp("runs") / "toy"
    return xw.explain_dataset(
        toy_model, xw.data.toy(20), method="gradcam", store=store, metrics=False, shard_size=10, progress=False
    )


def shown_indices(explorer):
    return [int(key) for key in explorer.grid.tile_keys]


def column(run, name):
    return np.array([np.nan if v is None else v for v in run.column(name)], dtype=float)


def _click(view, key):
    """What the comm delivers when a tile is clicked in the browser (the real ipywidgets message path)."""
    view._handle_msg(
        {"content": {"data": {"method": "update", "state": {"selected": key}, "buffer_paths": []}}, "buffers": []}
    )


def test_first_page_summary_and_pager(explorer, run):
    assert run.count == 300 - 300 // SKIP_EVERY
    wrong = int((column(run, "correct") == 0).sum())
    assert explorer.summary.value.count("xw-phrase") == 3
    for phrase in (f"{run.count:,} of 300 images", f"{wrong:,} wrong", f"{len(run.skipped)} skipped"):
        assert phrase in explorer.summary.value
    assert explorer.pager_label.value == f"1–{PAGE} of {run.count:,}"
    assert shown_indices(explorer) == [int(i) for i in run.column("index")[:PAGE]]
    assert explorer.previous_button.disabled and not explorer.next_button.disabled
    explorer.colormap.value = "magma"
    assert explorer.grid.colormap == "magma"


def test_wrong_filter_keeps_only_wrong_predictions(explorer, run):
    explorer.correct_filter.value = "wrong"
    wrong = run.column("index")[column(run, "correct") == 0]
    assert len(explorer.current.value.rows) == len(wrong)
    assert {tile["frame"] for tile in explorer.grid.tiles} == {"wrong"}
    assert shown_indices(explorer) == [int(i) for i in wrong[:PAGE]]
    assert f"{len(wrong)} of 300 images" in explorer.summary.value and f"{len(wrong)} wrong" in explorer.summary.value


def test_class_and_confidence_filters_combine(explorer, run):
    label = column(run, "label")
    confidence = column(run, "confidence")
    explorer.class_filter.value = 2
    explorer.ranges["confidence"].value = (0.6, 0.9)
    keep = (label == 2) & (confidence >= 0.6) & (confidence <= 0.9)
    assert sorted(shown_indices(explorer)) == sorted(int(i) for i in run.column("index")[keep][:PAGE])
    assert len(explorer.current.value.rows) == int(keep.sum())
    assert explorer.class_filter.description == "label"


def test_sort_by_a_column_either_way(explorer, run):
    explorer.sort_by.value = "insertion_auc"
    explorer.sort_order.value = "descending"
    values = [run.item(i)["insertion_auc"] for i in shown_indices(explorer)]
    assert values == sorted(values, reverse=True)
    assert values[0] == pytest.approx(np.nanmax(column(run, "insertion_auc")))
    explorer.sort_order.value = "ascending"
    values = [run.item(i)["insertion_auc"] for i in shown_indices(explorer)]
    assert values == sorted(values)


def test_pager_walks_the_filtered_images(explorer, run):
    everything = [int(i) for i in run.column("index")]
    explorer.next_button.click()
    assert explorer.pager_label.value == f"{PAGE + 1}–{2 * PAGE} of {run.count:,}"
    assert shown_indices(explorer) == everything[PAGE : 2 * PAGE]
    explorer.go_to(10**6)
    last = (run.count - 1) // PAGE
    assert explorer.current.value.page == last and shown_indices(explorer) == everything[last * PAGE :]
    assert explorer.next_button.disabled and not explorer.previous_button.disabled
    explorer.correct_filter.value = "correct"  # a new filter starts at the first page
    assert explorer.current.value.page == 0


def test_histogram_brush_filters_the_grid(explorer, run):
    confidence = column(run, "confidence")
    assert explorer.chart_x.value == "confidence" and explorer.chart_y.value == "none"
    bars = explorer.chart.marks[0]
    assert int(np.sum(bars.y)) == run.count
    explorer.brush.selected = np.array([0.55, 0.7])
    keep = (confidence >= 0.55) & (confidence <= 0.7)
    assert len(explorer.current.value.rows) == int(keep.sum()) < run.count
    assert all(0.55 <= run.item(i)["confidence"] <= 0.7 for i in shown_indices(explorer))
    assert int(np.sum(bars.y)) == run.count  # the chart shows what the filters keep, the brush picks from it
    explorer.clear_brush.click()
    assert len(explorer.current.value.rows) == run.count


def test_scatter_brush_filters_on_both_columns(explorer, run):
    explorer.chart_y.value = "gt_energy"
    assert type(explorer.brush).__name__ == "BrushSelector"
    assert len(explorer.chart.marks[0].x) == run.count
    explorer.brush.selected_x = np.array([0.5, 1.0])
    explorer.brush.selected_y = np.array([0.0, 0.5])
    x, y = column(run, "confidence"), column(run, "gt_energy")
    keep = (x >= 0.5) & (y <= 0.5)
    assert len(explorer.current.value.rows) == int(keep.sum())
    assert explorer.settings["brush"] == {"confidence": (0.5, 1.0), "gt_energy": (0.0, 0.5)}


def test_a_click_without_a_model_shows_the_stored_map_and_the_record(explorer, run):
    explorer.correct_filter.value = "wrong"
    index = shown_indices(explorer)[3]
    _click(explorer.grid, str(index))
    record = run.item(index)
    assert f"image {index}" in explorer.detail_title.value and f"label: {record['label_name']}" in (
        explorer.detail_title.value
    )
    view = explorer.detail.children[1].children[0]
    assert isinstance(view, xw.views.HeatmapView)
    stored = run.map(index)
    assert view.values.shape == stored.shape and np.allclose(view.values, stored, atol=1e-3)
    table = explorer.detail.children[1].children[1].value
    assert record["predicted_name"] in table and "wrong" in explorer.detail_title.value


def test_figure_draws_the_page(explorer, tmp_path):
    figure = explorer.figure(tmp_path / "page.png", rows=2, columns=6)
    images = [ax for ax in figure.axes if ax.images]
    assert len(images) == 12 and (tmp_path / "page.png").stat().st_size > 1000
    assert images[0].get_title().endswith(explorer.grid.tiles[0]["caption"])
    assert explorer.static_png()


def test_a_path_opens_the_run(run):
    explorer = DatasetExplorer(str(run.path), page_size=5)
    assert len(explorer.grid.tiles) == 5
    explorer.close()


@pytest.mark.parametrize(
    "args, named",
    [((42,), "run"), (("RUN", "not a model"), "model"), (("RUN",), "page_size")],
)
def test_bad_arguments_name_themselves(run, args, named):
    args = tuple(run if a == "RUN" else a for a in args)
    options = {"page_size": 0} if named == "page_size" else {}
    with pytest.raises(xw.XWidgetsError, match=named):
        DatasetExplorer(*args, **options)


def test_a_click_with_the_model_opens_the_per_image_explorer(toy_run, toy_model):
    explorer = DatasetExplorer(toy_run, toy_model, page_size=8)
    try:
        assert not any(explorer.ranges[name].layout.display != "none" for name in ("deletion_auc", "insertion_auc"))
        assert explorer.ranges["gt_energy"].layout.display != "none"  # the toy world has ground truth
        index = shown_indices(explorer)[5]
        _click(explorer.grid, str(index))
        inner = explorer.image_explorer
        assert isinstance(inner, xw.HeatmapExplorer) and explorer.detail.children[1] is inner
        inner.wait(60)
        record = toy_run.item(index)
        assert inner.panels[0].method == "gradcam"
        assert inner.target_selector.value == record["target"]
        assert np.allclose(inner.pixels[0].numpy(), toy_run.image(index).numpy(), atol=1e-6)
        assert record["label_name"] in explorer.detail_title.value
    finally:
        explorer.close()
