"""Fuzzing of every view constructor, the views' public traits, and every explorer constructor (issue 21, item 1).

The property (:func:`~.fuzzing.outcome`): a construction either succeeds, or raises an ``XWidgetsError`` naming the
argument; never another exception, never a hang, and nothing left behind (a refused explorer closes the widgets it
had built, its threads and hooks). An accepted view holds what its browser code needs (PNG bytes that decode at the
image's size, a finite map in [0, 1] of that size); an accepted explorer's first run ends with a finite result, or
with an ``XWidgetsError`` naming an argument, shown on its status line. A trait set from Python keeps its old value
when refused; a value the browser sends that is refused is rolled back (or cleared, for a selection).

Found failures are kept as ``@example``s with a comment naming what used to break. ``XWIDGETS_FUZZ_SCALE=10`` runs a
long local hunt.
"""

from __future__ import annotations

import copy
import io
import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

import xwidgets as xw
from xwidgets.core.errors import XWidgetsError
from xwidgets.core.methods import get_spec
from xwidgets.summaries.summary import SUMMARY_PARAMS
from xwidgets.views import GalleryView, GraphView, HeatmapView, KernelNote, ThumbnailGridView

from . import strategies_widgets as s
from .conftest import FUZZ_SCALE
from .fuzzing import COUNTS, HANG_SECONDS, outcome

#: Seconds an accepted explorer's first run may take (the toy models run each in well under a second).
RUN_SECONDS = 60.0


@pytest.fixture(scope="module", autouse=True)
def tally():
    """Print the fuzzed calls per entry point when the module ends (``pytest -s`` shows them)."""
    yield
    for entry in sorted({entry for entry, _ in COUNTS}):
        calls, ok, refused = (COUNTS[entry, kind] for kind in ("calls", "ok", "refused"))
        print(f"\n{entry}: {calls} calls, {ok} accepted, {refused} refused", end="")


def examples(count: int):
    """Hypothesis settings for ``count`` examples in CI, times :data:`FUZZ_SCALE` in a local hunt."""
    return settings(max_examples=count * FUZZ_SCALE)


def _png_size(png: bytes) -> tuple[int, int]:
    """``(height, width)`` of PNG bytes (fails the test when they do not decode)."""
    with Image.open(io.BytesIO(bytes(png))) as image:
        image.load()
        return image.height, image.width


def _closed(make, check):
    """A call for :func:`outcome`: build a widget, check it, close it (whatever the check says)."""

    def call():
        widget = make()
        try:
            check(widget)
        finally:
            widget.close()
        return widget

    return call


def _given(**kwargs) -> dict:
    """The keyword arguments that were drawn (a strategy leaves one out by drawing :data:`MISSING`)."""
    return {name: value for name, value in kwargs.items() if value is not MISSING}


MISSING = object()


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """An argument left at its default half the time."""
    return st.one_of(st.just(MISSING), st.just(MISSING), strategy)


# ----------------------------------------------------------------------------------------------- views
def check_heatmap_view(view: HeatmapView) -> None:
    assert view.height >= 1 and view.width >= 1
    assert _png_size(view.image) == (view.height, view.width)
    if view.values is not None:
        assert view.values.shape == (view.height, view.width)
        assert np.isfinite(view.values).all() and view.values.min() >= 0 and view.values.max() <= 1
    assert 0 <= view.alpha <= 1 and 0 <= view.threshold <= 1 and 16 <= view.display_width <= 4096
    assert _png_size(view.static_png()) == (view.height, view.width)


HEATMAP_STYLE = {
    "colormap": s.colormaps(),
    "alpha": s.unit_numbers(),
    "threshold": s.unit_numbers(),
    "mode": s.modes(),
    "title": s.texts(),
    "display_width": s.optional_sizes(16, 4096),
    "show_controls": st.one_of(st.booleans(), s.junk()),
    "show_legend": st.one_of(st.booleans(), st.sampled_from([np.bool_(True), 1, "yes"])),
}


@examples(150)
@given(image=s.images(), heatmap=s.heatmaps(), style=st.fixed_dictionaries({}, optional=HEATMAP_STYLE))
# a str alpha, a title of another type, or a float display width raised traitlets' TraitError
@example(image=np.zeros((4, 4, 3), np.uint8), heatmap=None, style={"alpha": "0.5"})
@example(image=np.zeros((4, 4, 3), np.uint8), heatmap=None, style={"title": 5})
@example(image=np.zeros((4, 4, 3), np.uint8), heatmap=None, style={"display_width": 300.0})
# a str display width raised TypeError (compared with the image width before its trait checked it)
@example(image=np.zeros((4, 4, 3), np.uint8), heatmap=None, style={"display_width": "300"})
# a meta tensor raised NotImplementedError (cannot copy out of meta tensor)
@example(image=torch.empty(3, 4, 4, device="meta"), heatmap=None, style={})
@example(image=np.zeros((4, 4, 3), np.uint8), heatmap=torch.empty(4, 4, device="meta"), style={})
# an empty 0x0 PIL image of mode "I" raised ValueError (the minimum of an empty array)
@example(image=Image.new("I", (0, 0)), heatmap=None, style={})
def test_heatmap_view(image, heatmap, style):
    outcome(
        "HeatmapView",
        _closed(lambda: HeatmapView(image, heatmap, **style), check_heatmap_view),
        ["image", "heatmap", *style],
    )


def check_graph_view(view: GraphView) -> None:
    ids = [node["id"] for node in view.nodes]
    assert len(set(ids)) == len(ids)
    for node in view.nodes:
        assert _png_size(node["image"]) == (node["height"], node["width"])
        assert math.isfinite(node["order"]) and node["level"] >= 0
    for edge in view.edges:
        assert edge["source"] in ids and edge["target"] in ids and edge["source"] != edge["target"]
        assert math.isfinite(edge["width"]) and edge["width"] > 0
    assert view.selected == "" or view.selected in ids


@examples(150)
@given(
    graph=s.graphs(),
    options=st.fixed_dictionaries(
        {},
        optional={
            "title": s.texts(),
            "thumbnail_size": s.sizes(16, 512),
            "selected": s.ids(),
            "display_width": s.optional_sizes(64, 8192),
            "display_height": s.optional_sizes(64, 8192),
            "enlarged_size": s.sizes(32, 2048),
        },
    ),
)
# an order, level or edge width of 10**400 raised OverflowError (int too large to convert to float)
@example(graph=([{"id": "a", "image": np.zeros((2, 2, 3), np.uint8), "order": 10**400}], []), options={})
@example(graph=([{"id": "a", "image": np.zeros((2, 2, 3), np.uint8), "level": 10**400}], []), options={})
@example(
    graph=(
        [{"id": "a", "image": np.zeros((2, 2, 3), np.uint8)}, {"id": "b", "image": np.zeros((2, 2, 3), np.uint8)}],
        [{"source": "a", "target": "b", "width": 10**400}],
    ),
    options={},
)
# a cycle is drawn (rows come from the levels, not from the edges): accepted
@example(
    graph=(
        [{"id": "a", "image": np.zeros((2, 2, 3), np.uint8)}, {"id": "b", "image": np.zeros((2, 2, 3), np.uint8)}],
        [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}],
    ),
    options={},
)
def test_graph_view(graph, options):
    nodes, edges = graph
    outcome(
        "GraphView",
        _closed(lambda: GraphView(nodes, edges, **options), check_graph_view),
        ["nodes", "edges", *options],
    )


def check_gallery_view(view: GalleryView) -> None:
    items = [item for group in view.groups for item in group["items"]]
    assert len({item["id"] for item in items}) == len(items)
    for item in items:
        assert _png_size(item["image"]) == (item["height"], item["width"])
        for box in item["boxes"]:
            assert 0 <= box["x0"] < box["x1"] <= item["width"] and 0 <= box["y0"] < box["y1"] <= item["height"]


@examples(150)
@given(
    groups=s.galleries(),
    options=st.fixed_dictionaries(
        {},
        optional={
            "title": s.texts(),
            "thumbnail_size": s.sizes(16, 512),
            "wrap": st.one_of(st.booleans(), s.junk()),
            "selected_group": s.ids(),
            "selected_item": s.ids(),
        },
    ),
)
# a box corner of 10**400 raised OverflowError
@example(
    groups=[
        {
            "id": "g",
            "items": [
                {
                    "id": "i",
                    "image": np.zeros((4, 4, 3), np.uint8),
                    "boxes": [{"x0": 0, "y0": 0, "x1": 10**400, "y1": 2}],
                }
            ],
        }
    ],
    options={},
)
def test_gallery_view(groups, options):
    outcome(
        "GalleryView",
        _closed(lambda: GalleryView(groups, **options), check_gallery_view),
        ["groups", *options],
    )


def check_grid_view(view: ThumbnailGridView) -> None:
    for tile in view.tiles:
        height, width = _png_size(tile["thumbnail"])
        assert len(tile["map"]) in (0, height * width)


@examples(120)
@given(
    tile_list=s.tiles(),
    options=st.fixed_dictionaries(
        {},
        optional={
            "columns": s.sizes(1, 32),
            "tile_size": s.sizes(16, 512),
            "colormap": s.colormaps(),
            "alpha": s.unit_numbers(),
            "threshold": s.unit_numbers(),
            "mode": s.modes(),
            "empty_text": s.texts(),
        },
    ),
)
# a str alpha, a float column count or a non-str empty text raised TraitError
@example(tile_list=[], options={"alpha": "0.5"})
@example(tile_list=[], options={"columns": 2.0})
@example(tile_list=[], options={"empty_text": None})
def test_thumbnail_grid_view(tile_list, options):
    outcome(
        "ThumbnailGridView",
        _closed(lambda: ThumbnailGridView(tile_list, **options), check_grid_view),
        ["tiles", *options],
    )


@examples(60)
@given(text=s.texts(), timeout_ms=maybe(s.sizes(100, 60000)))
# a non-str text or a float timeout raised TraitError
@example(text=None, timeout_ms=MISSING)
@example(text="x", timeout_ms=500.0)
def test_kernel_note(text, timeout_ms):
    kwargs = _given(timeout_ms=timeout_ms)
    outcome("KernelNote", _closed(lambda: KernelNote(text, **kwargs), lambda note: None), ["text", *kwargs])


# ---------------------------------------------------------------------------------------------- traits
def _tiny() -> np.ndarray:
    return np.full((4, 4, 3), 128, np.uint8)


def _views() -> dict:
    """name -> (a valid view, the strategies of its public traits)."""
    unit = s.unit_numbers()
    return {
        "HeatmapView": (
            lambda: HeatmapView(_tiny(), np.full((4, 4), 0.5)),
            {
                "alpha": unit,
                "threshold": unit,
                "colormap": s.colormaps(),
                "mode": s.modes(),
                "title": s.texts(),
                "note": s.texts(),
                "display_width": s.sizes(16, 4096),
                "show_controls": st.one_of(st.booleans(), s.junk()),
                "show_legend": st.one_of(st.booleans(), s.junk()),
            },
        ),
        "GraphView": (
            lambda: GraphView([{"id": "a", "image": _tiny()}, {"id": "b", "image": _tiny()}]),
            {
                "title": s.texts(),
                "thumbnail_size": s.sizes(16, 512),
                "enlarged_size": s.sizes(32, 2048),
                "display_width": s.optional_sizes(64, 8192),
                "display_height": s.optional_sizes(64, 8192),
                "selected": s.ids(),
            },
        ),
        "GalleryView": (
            lambda: GalleryView([{"id": "a", "items": [{"id": "b", "image": _tiny()}]}, {"id": "c"}]),
            {
                "title": s.texts(),
                "thumbnail_size": s.sizes(16, 512),
                "wrap": st.one_of(st.booleans(), s.junk()),
                "selected_group": s.ids(),
                "selected_item": s.ids(),
            },
        ),
        "ThumbnailGridView": (
            lambda: ThumbnailGridView([{"key": "a", "thumbnail": _tiny()}, {"key": "b", "thumbnail": _tiny()}]),
            {
                "columns": s.sizes(1, 32),
                "tile_size": s.sizes(16, 512),
                "colormap": s.colormaps(),
                "alpha": unit,
                "threshold": unit,
                "mode": s.modes(),
                "empty_text": s.texts(),
                "selected": s.ids(),
            },
        ),
        "KernelNote": (lambda: KernelNote("note"), {"text": s.texts(), "timeout_ms": s.sizes(100, 60000)}),
    }


VIEWS = _views()


def _json_like(value: object) -> bool:
    """Whether the browser could send ``value`` (a JSON scalar)."""
    return value is None or (type(value) in (bool, int, float, str) and not (type(value) is int and abs(value) > 2**53))


@st.composite
def trait_changes(draw):
    name = draw(st.sampled_from(sorted(VIEWS)))
    traits = VIEWS[name][1]
    trait = draw(st.sampled_from(sorted(traits)))
    return name, trait, draw(traits[trait])


@examples(200)
@given(change=trait_changes(), from_browser=st.booleans())
# a str alpha set from Python raised TraitError; alpha=2.0 from the browser stayed 2.0 in Python (no rollback)
@example(change=("HeatmapView", "alpha", "x"), from_browser=False)
@example(change=("HeatmapView", "alpha", 2.0), from_browser=True)
@example(change=("ThumbnailGridView", "columns", 0), from_browser=True)
@example(change=("GraphView", "thumbnail_size", 10**400), from_browser=False)
def test_view_traits(change, from_browser):
    name, trait, value = change
    view = VIEWS[name][0]()
    try:
        before = getattr(view, trait)
        if from_browser and _json_like(value):
            call = lambda: view.set_state({trait: value})  # noqa: E731 - what a comm message does
        else:
            call = lambda: setattr(view, trait, value)  # noqa: E731
        kind, _ = outcome(f"{name} traits", call, [trait])
        now = getattr(view, trait)
        if kind == "refused":
            assert now == before or (from_browser and now == ""), f"{trait}: {before!r} became {now!r}"
        setattr(view, trait, now)  # what the view holds passes its own checks
    finally:
        view.close()


# -------------------------------------------------------------------------------------------- explorers
@pytest.fixture(scope="module")
def toy():
    """The toy world's models and images, built once."""
    classifier = xw.toy.classifier()
    trained = copy.deepcopy(classifier)
    trained.module.train()  # wrapped in eval mode, switched to training mode afterwards
    data = xw.toy.dataset(60, seed=9811)
    return Toy(
        {
            "classifier": classifier,
            "embedder": xw.toy.embedder(),
            "attributes": xw.toy.attribute_model(),
            "trained": trained,
            "data": data,
            "images": data.images(),
            "image": data.samples[0].image,
        }
    )


class Toy(dict):
    """The toy fixture's dict, printed short in hypothesis' reports."""

    def __repr__(self) -> str:
        return "toy"


MODELS = ("classifier",) * 6 + ("embedder", "raw", "trained", "none", "text")


def _model(toy: dict, kind: str) -> object:
    return {
        "classifier": toy["classifier"],
        "embedder": toy["embedder"],
        "raw": toy["classifier"].module,
        "trained": toy["trained"],
        "none": None,
        "text": "resnet50",
    }[kind]


def explorer_images(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the valid images (an accepted run is the costly path), else anything :func:`~.images` draws."""
    return st.one_of(valid, valid, valid, s.images(8))


def run_and_close(make, check):
    """A call for :func:`outcome`: build an explorer, wait for its first run, check the result, close it. A run
    that ends in an error is allowed when it is an ``XWidgetsError`` (then shown on the status line)."""

    def call():
        explorer = make()
        try:
            try:
                explorer.wait(RUN_SECONDS)
            except XWidgetsError:
                assert "color:#cf222e" in explorer.status.value, "a failed run must show its error"
                raise
            check(explorer)
        finally:
            explorer.close()
        return explorer

    return call


def finite(tensor: torch.Tensor) -> bool:
    return bool(torch.isfinite(tensor.float()).all())


def check_saliency(result, shape: tuple) -> None:
    saliency = result.saliency
    assert saliency.shape[-2:] == shape and finite(saliency)
    assert float(saliency.min()) >= 0 and float(saliency.max()) <= 1


CHEAP = {
    "gradcam": {},
    "rise": {"masks": 16},
    "occlusion": {"window": 56, "stride": 56},
    "integrated_gradients": {"steps": 2},
}


@st.composite
def heatmap_arguments(draw, labels):
    method = draw(st.one_of(s.names(tuple(CHEAP)), st.sampled_from(["sag", "pair_rise", "igos "])))
    kwargs = {"method": method}
    if method in CHEAP:
        kwargs["params"] = draw(maybe(s.param_overrides(get_spec(method).params, CHEAP[method])))
    compare = draw(maybe(st.one_of(st.none(), st.sampled_from(tuple(CHEAP)), s.names(("rise",)))))
    if compare is not MISSING:
        kwargs["compare"] = compare
        if compare in CHEAP:
            kwargs["compare_params"] = draw(s.param_overrides(get_spec(compare).params, CHEAP[compare]))
    kwargs["target"] = draw(maybe(s.targets(labels)))
    kwargs["preset"] = draw(maybe(s.names(("igos", "rise", "sane"))))
    kwargs["colormap"] = draw(maybe(s.colormaps()))
    kwargs["seed"] = draw(maybe(s.seeds()))
    return _given(**kwargs)


def _argument_names(kwargs: dict, *positional: str) -> list[str]:
    """What an error may name: the arguments, and the parameter names of their ``params`` dicts."""
    named = [*positional, *kwargs]
    for value in kwargs.values():
        if isinstance(value, dict):
            named += [key for key in value if isinstance(key, str)]
    return named


LABELS = xw.toy.classifier().labels


@examples(25)
@given(model=st.sampled_from(MODELS), image=st.data(), arguments=heatmap_arguments(LABELS))
def test_heatmap_explorer(toy, model, image, arguments):
    picture = image.draw(explorer_images(st.just(toy["image"])))

    def check(explorer):
        for panel in explorer.shown.value:
            check_saliency(panel.result, tuple(explorer.pixels.shape[-2:]))
            assert finite(panel.curves.deletion) and finite(panel.curves.insertion)

    outcome(
        "HeatmapExplorer",
        run_and_close(lambda: xw.HeatmapExplorer(_model(toy, model), picture, **arguments), check),
        _argument_names(arguments, "model", "image"),
        toy["classifier"].module,
        seconds=HANG_SECONDS,
    )


SAG_CHEAP = {"max_roots": 1, "beam_width": 1, "successors": 2, "heuristic_iterations": 1, "heuristic_ig_steps": 2}


@examples(20)
@given(
    model=st.sampled_from(MODELS),
    image=st.data(),
    arguments=st.fixed_dictionaries(
        {"params": s.param_overrides(xw.sag.SAG_PARAMS, SAG_CHEAP)},
        optional={
            "target": s.targets(LABELS),
            "seed": s.seeds(),
            "thumbnail_size": s.sizes(16, 512),
            "graph_width": s.optional_sizes(64, 8192),
            "graph_height": s.optional_sizes(64, 8192),
            "run": st.one_of(st.none(), st.booleans(), s.junk()),
        },
    ),
)
def test_sag_explorer(toy, model, image, arguments):
    picture = image.draw(explorer_images(st.just(toy["image"])))

    def check(explorer):
        if explorer.shown is not None:
            assert explorer.shown.value.roots is not None

    outcome(
        "SAGExplorer",
        run_and_close(lambda: xw.SAGExplorer(_model(toy, model), picture, **arguments), check),
        _argument_names(arguments, "model", "image"),
        toy["classifier"].module,
    )


CONCEPT_CHEAP = {
    "k": 2,
    "epochs": 2,
    "pretrain_epochs": 0,
    "pt_warmup": 0,
    "retries": 0,
    "min_r2": -1.0,
    "min_agreement": 0.0,
}


@examples(12)
@given(
    model=st.sampled_from(MODELS),
    data=st.data(),
    arguments=st.fixed_dictionaries(
        {"params": s.param_overrides(xw.concepts.CONCEPT_PARAMS, CONCEPT_CHEAP)},
        optional={
            "target": s.targets(LABELS),
            "layer": st.one_of(st.sampled_from(["features", "head", "no.such.layer", ""]), s.junk()),
            "gallery": s.junk(),
            "space": s.junk(),
            "seed": s.seeds(),
        },
    ),
)
def test_concept_explorer(toy, model, data, arguments):
    images = data.draw(explorer_images(st.just(toy["images"])))

    def check(explorer):
        assert explorer.shown is not None and finite(explorer.shown.value.weights)

    outcome(
        "ConceptExplorer",
        run_and_close(lambda: xw.ConceptExplorer(_model(toy, model), images, **arguments), check),
        _argument_names(arguments, "model", "images"),
        toy["classifier"].module,
    )


SUMMARY_CHEAP = {"smooth_iterations": 2, "sharp_iterations": 2}


def _with_cheap_values(value: object) -> bool:
    """Whether ``mask_params`` holds the cheap values, or is refused (None or {} would mean the full optimisation,
    minutes a run)."""
    return value is not None and not (isinstance(value, dict) and not set(SUMMARY_CHEAP) <= set(value))


@examples(12)
@given(
    model=st.sampled_from(MODELS),
    data=st.data(),
    arguments=st.fixed_dictionaries(
        # None would be the full default optimisation (minutes): the cheap values stay in every draw
        {"mask_params": s.param_overrides(SUMMARY_PARAMS, SUMMARY_CHEAP).filter(_with_cheap_values)},
        optional={
            "target": s.targets(LABELS),
            "compare": st.one_of(st.none(), s.junk(), st.just({"other": "not a model"})),
            "params": s.param_overrides(SUMMARY_PARAMS, costly=tuple(SUMMARY_CHEAP)),
        },
    ),
)
def test_summary_explorer(toy, model, data, arguments):
    images = data.draw(explorer_images(st.just(toy["images"][:4])))

    def check(explorer):
        assert explorer.shown is not None

    outcome(
        "SummaryExplorer",
        run_and_close(lambda: xw.SummaryExplorer(_model(toy, model), images, **arguments), check),
        _argument_names(arguments, "model", "images"),
        toy["classifier"].module,
    )


@pytest.fixture(scope="module")
def text_model(toy):
    return xw.text.fit(toy["classifier"], toy["images"], captions=xw.toy.captions(toy["data"]))


@examples(15)
@given(
    model=st.sampled_from((*MODELS, "omitted", "omitted")),
    data=st.data(),
    arguments=st.fixed_dictionaries(
        {},
        optional={
            "index": s.sizes(0, 3),
            "target": s.targets(LABELS),
            "params": s.param_overrides(xw.text.TEXT_PARAMS),
        },
    ),
)
# (a pool of one bad image, np.array([0], np.uint8), was refused after the explorer had built its widgets: they
# were left behind; see test_a_text_explorer_refused_for_a_bad_pool_image_leaves_nothing)
def test_text_explorer(toy, text_model, model, data, arguments):
    images = data.draw(explorer_images(st.just(toy["images"][:4])))
    if model != "omitted":
        arguments = {**arguments, "model": _model(toy, model)}
    given_model = data.draw(st.sampled_from([text_model, text_model, text_model, None, "text model"]))

    def check(explorer):
        assert explorer.shown is not None and all(isinstance(line, str) for line in explorer.explanation.sentences)
        assert finite(torch.as_tensor(explorer.scores))

    outcome(
        "TextExplorer",
        run_and_close(lambda: xw.TextExplorer(given_model, images, **arguments), check),
        _argument_names(arguments, "text_model", "images"),
        toy["classifier"].module,
    )


MATCH_CHEAP = {
    "pair_rise": {"masks": 8},
    "pair_sliding_window": {"window": 56, "stride": 56},
    "pair_mask": {"iterations": 2},
}


@examples(15)
@given(model=st.sampled_from(("embedder", "embedder", "classifier", "raw", "none")), data=st.data())
def test_match_explorer(toy, model, data):
    method = data.draw(maybe(s.names(tuple(MATCH_CHEAP))))
    chosen = "pair_rise" if method is MISSING else method
    chosen = chosen if isinstance(chosen, str) else "any"  # a list is drawn too: a dict key must be hashable
    cheap = MATCH_CHEAP.get(chosen, {})
    spec = get_spec(chosen).params if chosen in MATCH_CHEAP else xw.similarity.SANE_PARAMS
    arguments = _given(
        method=method,
        params=data.draw(s.param_overrides(spec, cheap)),
        query=data.draw(maybe(s.sizes(0, 2))),
        reference=data.draw(maybe(s.sizes(0, 2))),
        seed=data.draw(maybe(s.seeds())),
    )
    images = data.draw(explorer_images(st.just(toy["images"][:3])))
    attributes = data.draw(st.sampled_from([toy["attributes"], toy["attributes"], None, "attributes"]))

    def check(explorer):
        explanation = explorer.explanation
        assert explanation is not None and finite(explanation.saliency)

    outcome(
        "MatchExplorer",
        run_and_close(lambda: xw.MatchExplorer(_model(toy, model), images, attributes, **arguments), check),
        _argument_names(arguments, "embedder", "images", "attribute_model"),
        toy["embedder"].module,
    )


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    from xwidgets.runs.synthetic import synthetic_run

    return synthetic_run(tmp_path_factory.mktemp("fuzz") / "run", 40, seed=1, size=16, thumbnail_size=8)


@examples(30)
@given(
    which=st.sampled_from(["run", "run", "path", "missing", "junk"]),
    model=st.sampled_from(("none", "classifier", "embedder", "raw", "text")),
    options=st.fixed_dictionaries({}, optional={"page_size": s.sizes(1, 500), "columns": s.sizes(1, 500)}),
)
def test_dataset_explorer(toy, stored_run, which, model, options):
    from xwidgets.runs.explorer import DatasetExplorer

    run = {"run": stored_run, "path": str(stored_run.path), "missing": "/no/such/run", "junk": 5}[which]

    def check(explorer):
        assert len(explorer.grid.tiles) <= explorer.page_size

    outcome(
        "DatasetExplorer",
        run_and_close(lambda: DatasetExplorer(run, _model(toy, model), **options), check),
        ["run", "model", *options],
    )


@examples(12)
@given(
    model=st.sampled_from(("classifier", "embedder", "raw", "none", "omitted")),
    birds=st.one_of(st.just(MISSING), st.integers(0, 9), s.junk()),
)
def test_classroom(toy, model, birds):
    world = xw.toy.ToyWorld()
    kwargs = {} if model == "omitted" else {"model": _model(toy, model)}
    if birds is not MISSING:
        kwargs["birds"] = [world.sample(i % 11, seed=i) for i in range(birds)] if isinstance(birds, int) else birds

    def make():
        classroom = xw.Classroom(**kwargs)
        assert classroom.picker.selected_item == "bird0"
        return classroom

    outcome("Classroom", _closed(make, lambda classroom: None), list(kwargs), toy["classifier"].module)


def test_a_text_model_fitted_on_few_images_explains_with_no_part_named(toy):
    # a text model fitted on 8 captioned birds supports no attribute on some images: compose_sentence raised
    # IndexError on the empty phrase list, and the TextExplorer's render then selected a phrase that is not there
    few = xw.toy.dataset(8, seed=1)
    text_model = xw.text.fit(toy["classifier"], few.images(), captions=xw.toy.captions(few))

    def check(explorer):
        assert explorer.explanation.sentences[0].endswith("no part the captions name explains it.")
        assert explorer.attribute in explorer.explanation.attributes

    outcome(
        "TextExplorer",
        run_and_close(lambda: xw.TextExplorer(text_model, few.images()[:3]), check),
        ["text_model", "images"],
        toy["classifier"].module,
    )


@pytest.mark.parametrize("mask_params", ["", 0, [], [("smooth_iterations", 2)]])
def test_summary_explorer_refuses_mask_params_that_are_not_a_dict(toy, mask_params):
    # mask_params was merged unchecked: a falsy non-dict ran the full default optimisation, a list raised TypeError
    kind, error = outcome(
        "SummaryExplorer",
        lambda: xw.SummaryExplorer(toy["classifier"], toy["images"][:4], mask_params=mask_params),
        ["mask_params"],
        toy["classifier"].module,
    )
    assert kind == "refused" and error.argument == "mask_params"


def test_summary_with_no_salient_region_has_no_summary(toy):
    # the toy classifier's default target on 6 toy images found no region proposal: match_scores raised
    # RuntimeError (max() of an empty tensor) at the end of the run
    from xwidgets.summaries.proposals import Proposals, match_scores

    empty = Proposals(
        boxes=torch.zeros(0, 4),
        image=torch.zeros(0, dtype=torch.long),
        coverage=torch.zeros(0),
        descriptors=torch.zeros(0, 8),
    )
    assert match_scores(empty).shape == (0, 0)


@pytest.mark.parametrize("seed", [-1, 2**63, np.int8(-3)])
def test_explorers_refuse_seeds_a_generator_cannot_take(toy, seed):
    # the explorers took any int as seed; a torch generator takes 0..2**63 - 1 (and a result file an int64)
    kind, error = outcome(
        "HeatmapExplorer",
        lambda: xw.HeatmapExplorer(toy["classifier"], toy["image"], method="rise", seed=seed),
        ["seed"],
        toy["classifier"].module,
    )
    assert kind == "refused" and error.argument == "seed"


def test_a_text_explorer_refused_for_a_bad_pool_image_leaves_nothing(toy, text_model):
    # the picker's images were read after the widgets were built: a refused pool image left ~50 widgets behind
    kind, error = outcome(
        "TextExplorer",
        lambda: xw.TextExplorer(text_model, np.array([0], np.uint8)),
        ["text_model", "images"],
        toy["classifier"].module,
    )
    assert kind == "refused" and error.argument.startswith("images")


def test_a_sag_explorer_on_an_image_smaller_than_its_grid_names_the_image(toy):
    # a 1x1 image was refused as "grid: got 7", an argument the user never gave
    kind, error = outcome(
        "SAGExplorer",
        lambda: xw.SAGExplorer(toy["classifier"], np.zeros((1, 1, 3), np.uint8)),
        ["model", "image"],
        toy["classifier"].module,
    )
    assert kind == "refused" and error.argument == "image" and "grid=7" in str(error)


def test_a_closed_classroom_leaves_no_widget(toy):
    # Classroom.close() closed the box alone: its ~75 views, buttons and layouts stayed in the widget registry
    outcome("Classroom", _closed(lambda: xw.Classroom(toy["classifier"]), lambda classroom: None), ["model"])


@pytest.mark.parametrize(
    "make",
    [
        # found by the XWIDGETS_FUZZ_SCALE=10 hunt: refused after the explorer had built its widgets (left behind)
        lambda toy: xw.SAGExplorer(toy["classifier"], toy["image"], thumbnail_size=15, run=False),
        lambda toy: xw.SAGExplorer(toy["classifier"], toy["image"], graph_height=10**400, run=False),
        lambda toy: xw.HeatmapExplorer(toy["trained"], toy["image"], method="gradcam"),
        lambda toy: xw.SAGExplorer(toy["trained"], toy["image"], run=False),
        lambda toy: xw.MatchExplorer(_trained_embedder(toy), toy["images"][:3], toy["attributes"]),
    ],
)
def test_refused_explorers_leave_nothing_behind(toy, make):
    kind, _ = outcome(
        "explorers refused late",
        lambda: make(toy),
        ["model", "embedder", "thumbnail_size", "graph_height"],
        toy["classifier"].module,
    )
    assert kind == "refused"


def _trained_embedder(toy):
    """The toy embedder, switched to training mode after wrapping (a copy)."""
    embedder = copy.deepcopy(toy["embedder"])
    embedder.module.train()
    return embedder
