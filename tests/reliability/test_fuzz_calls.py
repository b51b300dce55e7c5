"""Fuzzing the one call shape: ``xw.explain`` with every per-image method (heatmaps, SAG, the pair methods with a
fuzzed ``reference=``), ``xw.fit`` with every dataset method, and the argument checks of ``xw.explain_dataset``.

The property (:func:`.fuzzing.outcome`): a call succeeds with a finite result of the documented shape, or raises an
``XWidgetsError`` naming the argument; never another exception, never a hang, nothing left behind. Failures the
fuzzer found are kept below as plain regression tests, each with a comment naming what used to break.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import math
import os
import threading
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import xwidgets as xw
from xwidgets.core.methods import specs
from xwidgets.core.targets import similarity_to

from .conftest import FUZZ_SCALE
from .fuzzing import COUNTS, outcome
from .strategies_calls import good_targets, images, mostly, params_for, seeds, targets

PER_IMAGE = specs(("heatmap", "graph"))
PAIRS = specs("pair")
DATASET = specs("dataset")
#: Refusals per entry point and the argument they named (printed by the last test, for the hunt's report).
REFUSALS: collections.Counter = collections.Counter()
#: Examples per method and entry point in CI (``XWIDGETS_FUZZ_SCALE`` multiplies them for a long hunt).
EXAMPLES = {"explain": 60, "pair": 40, "fit": 10, "explain_dataset": 80}


class World:
    """The toy models and good images every fuzzed call draws from, made once per module."""

    def __init__(self):
        self.classifier = xw.toy.classifier()
        self.embedder = xw.toy.embedder()
        self.images = xw.toy.dataset(4, seed=2101).images()
        self.references = xw.toy.dataset(4, seed=2102).images()
        self.data = xw.toy.dataset(22, seed=2103)
        self.attribute_model = xw.toy.attribute_model()
        self.captions = xw.toy.captions(self.data)
        self.labels = list(self.classifier.labels)

    def model(self, key: str, kind: str):
        """The model a fuzzed call gets: ``"right"`` (a Classifier, or the Embedder of a pair method), ``"other"``
        (the other kind), ``"raw"`` (a bare ``nn.Module``), ``"train"`` (the right model with its module in train
        mode: the caller restores eval), or None."""
        right, other = (self.embedder, self.classifier) if kind == "pair" else (self.classifier, self.embedder)
        chosen = {"right": right, "other": other, "raw": right.module, "train": right, "none": None}[key]
        if key == "train":
            right.module.train()
        return chosen


@pytest.fixture(scope="module")
def world():
    return World()


MODELS = mostly(st.just("right"), st.sampled_from(["other", "raw", "train", "none"]))


def good_images(world: World, source: str = "images") -> st.SearchStrategy:
    """Slices of the toy images (1..4), whole or cropped to an odd size."""
    pool = getattr(world, source)

    def cut(args):
        count, height, width = args
        return pool[:count, :, :height, :width]

    return st.tuples(st.integers(1, 4), st.integers(1, 112), st.integers(1, 112)).map(cut)


def _restore(world: World) -> None:
    world.classifier.module.eval()
    world.embedder.module.eval()


def _tensors(result) -> list[tuple[str, torch.Tensor]]:
    return [
        (field.name, value)
        for field in dataclasses.fields(result)
        if isinstance(value := getattr(result, field.name), torch.Tensor)
    ]


def assert_finite(result) -> None:
    """Every float tensor of a result dataclass is finite."""
    for name, tensor in _tensors(result):
        if tensor.is_floating_point():
            assert bool(torch.isfinite(tensor).all()), f"{type(result).__name__}.{name} holds NaN or inf"


def assert_maps(maps: torch.Tensor, batch: int, size: tuple[int, int], what: str) -> None:
    """``maps`` is ``[batch, 1, *size]`` float in [0, 1]."""
    assert tuple(maps.shape) == (batch, 1, *size), f"{what} has shape {tuple(maps.shape)}, not {(batch, 1, *size)}"
    assert float(maps.min()) >= 0.0 and float(maps.max()) <= 1.0, f"{what} leaves [0, 1]"


def check_explained(result, spec) -> None:
    """The documented shape of a per-image result: a saliency ``[B, 1, H, W]`` in [0, 1] at the input
    resolution, or SAG's per-image graphs over ``[B, 3, H, W]`` images."""
    assert_finite(result)
    batch, size = result.images.shape[0], tuple(result.images.shape[-2:])
    if spec.kind == "graph":
        assert len(result.roots) == len(result.nodes) == batch and tuple(result.scores.shape) == (batch,)
        return
    assert_maps(result.saliency, batch, size, f"{spec.name}'s saliency")


def check_pair(result, spec) -> None:
    """A pair result: maps (or the match's saliency) ``[B, 1, H, W]`` in [0, 1] on the queries."""
    assert_finite(result)
    batch, size = result.queries.shape[0], tuple(result.queries.shape[-2:])
    maps = result.saliency if spec.name == "sane" else result.maps
    assert_maps(maps, batch, size, f"{spec.name}'s maps")
    assert tuple(result.similarity.shape) == (batch,)


def fuzz(entry: str, call, arguments, *modules, seconds: float = 60.0):
    """:func:`.fuzzing.outcome` of ``call`` with the package's warnings silenced, tallying refusals by argument."""
    kind, value = outcome(entry, _quiet(call), arguments, *modules, seconds=seconds)
    if kind == "refused":
        REFUSALS[entry, getattr(value, "argument", "?").split("[")[0].split("=")[0]] += 1
        if os.environ.get("XWIDGETS_FUZZ_VERBOSE"):
            print(f"\n{entry} refused: {value}"[:300])
    return kind, value


def _quiet(call):
    """``call`` with the package's own warnings (degenerate maps, resizes) silenced: warnings are not failures."""

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()

    return run


# ------------------------------------------------------------------------------------------------ xw.explain
@pytest.mark.parametrize("spec", PER_IMAGE, ids=lambda spec: spec.name)
def test_explain_holds_for_fuzzed_calls(world, spec):
    @settings(max_examples=EXAMPLES["explain"] * FUZZ_SCALE)
    @given(data=st.data())
    def run(data):
        key = data.draw(MODELS, label="model")
        images_given = data.draw(mostly(good_images(world), images(good=good_images(world))), label="images")
        target = data.draw(mostly(good_targets(len(world.labels), world.labels), _targets(world)), label="target")
        if key == "other" and data.draw(st.booleans(), label="similarity target"):
            target = similarity_to(world.embedder, world.references[:1])
        params = data.draw(mostly(params_for(spec, bad=False), params_for(spec)), label="params")
        if "seed" in inspect.signature(spec.kernel).parameters and data.draw(st.booleans(), label="fuzz seed"):
            params["seed"] = data.draw(mostly(st.integers(0, 2**16), seeds()), label="seed")
        model = world.model(key, spec.kind)
        try:
            kind, value = fuzz(
                "xw.explain",
                lambda: xw.explain(model, images_given, target, method=spec.name, progress=False, **params),
                ["model", "images", "target", "method", *params],
                world.classifier.module,
                world.embedder.module,
            )
        finally:
            _restore(world)
        if kind == "ok":
            check_explained(value, spec)

    run()


def _targets(world: World) -> st.SearchStrategy:
    return targets(len(world.labels), world.labels)


def good_pairs(world: World) -> st.SearchStrategy:
    """``(queries, reference)``: 1..4 toy queries and as many references, or one for all, cut to one odd size."""

    def cut(args):
        count, height, width, one = args
        return world.images[:count, :, :height, :width], world.references[: 1 if one else count, :, :height, :width]

    return st.tuples(st.integers(1, 4), st.integers(1, 112), st.integers(1, 112), st.booleans()).map(cut)


# ------------------------------------------------------------------------------------------------ pair methods
@pytest.mark.parametrize("spec", PAIRS, ids=lambda spec: spec.name)
def test_pair_methods_hold_for_fuzzed_calls(world, spec):
    @settings(max_examples=EXAMPLES["pair"] * FUZZ_SCALE)
    @given(data=st.data())
    def run(data):
        key = data.draw(MODELS, label="model")
        good_queries, good_reference = data.draw(good_pairs(world), label="good pair")
        queries = data.draw(mostly(st.just(good_queries), images(good=good_images(world))), label="images")
        reference = data.draw(
            mostly(st.just(good_reference), st.one_of(st.none(), images(good=good_images(world, "references")))),
            label="reference",
        )
        target = data.draw(mostly(st.none(), targets(3, ["a", "b", "c"])), label="target")
        params = data.draw(mostly(params_for(spec, bad=False), params_for(spec)), label="params")
        if "attribute_model" in spec.inputs:
            params["attribute_model"] = world.attribute_model
        if data.draw(st.booleans(), label="fuzz seed"):
            params["seed"] = data.draw(mostly(st.integers(0, 2**16), seeds()), label="seed")
        model = world.model(key, spec.kind)
        try:
            kind, value = fuzz(
                "xw.explain (pair)",
                lambda: xw.explain(
                    model, queries, target, reference=reference, method=spec.name, progress=False, **params
                ),
                ["model", "embedder", "images", "queries", "target", "reference", "method", *params],
                world.classifier.module,
                world.embedder.module,
            )
        finally:
            _restore(world)
        if kind == "ok":
            check_pair(value, spec)

    run()


# ------------------------------------------------------------------------------------------------ xw.fit
def _fit_data(world: World) -> st.SearchStrategy:
    """Tiny fitting data: the toy dataset, its images as a tensor (whole or a few), odd tensors and junk."""
    good = st.one_of(st.just(world.data), st.just(world.data.images()))
    return mostly(good, st.one_of(st.integers(0, 21).map(lambda n: world.data.images()[:n]), images()))


@pytest.mark.parametrize("spec", DATASET, ids=lambda spec: spec.name)
def test_fit_holds_for_fuzzed_calls(world, spec):
    @settings(max_examples=EXAMPLES["fit"] * FUZZ_SCALE)
    @given(data=st.data())
    def run(data):
        key = data.draw(mostly(st.just("right"), st.sampled_from(["other", "raw", "none"])), label="model")
        fit_data = data.draw(_fit_data(world), label="data")
        target = data.draw(mostly(st.sampled_from([0, world.labels[0]]), _targets(world)), label="target")
        params = data.draw(mostly(params_for(spec, bad=False), params_for(spec)), label="params")
        if "captions" in spec.inputs:
            params["captions"] = data.draw(
                st.one_of(st.just(world.captions), st.just(world.captions[:3]), st.none(), st.just("a red bird")),
                label="captions",
            )
        if spec.name == "concepts" and data.draw(st.booleans(), label="fuzz seed"):
            params["seed"] = data.draw(seeds(), label="seed")
        model = world.model(key, "classifier")
        try:
            kind, value = fuzz(
                "xw.fit",
                lambda: xw.fit(model, fit_data, target, method=spec.name, progress=False, **params),
                ["model", "data", "target", "method", *params],
                world.classifier.module,
                world.embedder.module,
                seconds=120,
            )
        finally:
            _restore(world)
        if kind == "ok":
            kind, explained = fuzz(
                "fitted.explain", lambda: value.explain(world.images[:2], progress=False), ["images", spec.name]
            )
            if kind == "ok":
                assert_finite(explained)

    run()


# ------------------------------------------------------------------------------------------------ explain_dataset
OPTIONS = {
    "engine": st.sampled_from(["local", "Local", "spark", None, 3]),
    "seed": seeds(),
    "shard_size": st.sampled_from([1, 2, 0, -1, 1.0, True, None, 2**63]),
    "top_k": st.sampled_from([1, 3, 11, 12, 0, -1, 2.0, None]),
    "metrics": st.sampled_from([False, 1, None, "no"]),
    "thumbnail_size": st.sampled_from([16, 256, 15, 257, 64.0, None]),
    "overwrite": st.sampled_from([False, True, 0, None]),
    "num_workers": st.sampled_from([0, -1, 1.5, None]),
    "workers": st.sampled_from([None, 2, 0]),
    "address": st.sampled_from([None, "auto", 3]),
}


@pytest.fixture(scope="module")
def zarr_started(world, tmp_path_factory):
    """zarr's process-wide I/O threads, started before the fuzzing: its event loop thread (``zarr_io``) starts
    with the first store, and the loop's default executor adds a thread (``asyncio_<n>``) whenever its others are
    busy, up to asyncio's bound ``min(32, CPUs + 4)``, and keeps them for every later store. Filling that pool once
    here means a thread a fuzzed call leaves behind is one the call made, not the pool growing to its bound."""
    import asyncio

    from zarr.core.sync import sync

    store = tmp_path_factory.mktemp("warm") / "run"
    xw.explain_dataset(world.classifier, world.images[:1], "gradcam", store=store, metrics=False, progress=False)
    workers = min(32, (os.cpu_count() or 1) + 4)
    barrier = threading.Barrier(workers)

    async def fill():
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(None, barrier.wait, 30.0) for _ in range(workers)))

    sync(fill())


@settings(max_examples=EXAMPLES["explain_dataset"] * FUZZ_SCALE)
@given(data=st.data())
def test_explain_dataset_checks_its_arguments_and_leaves_nothing_when_refused(
    world, zarr_started, tmp_path_factory, data
):
    store = tmp_path_factory.mktemp("store") / "run"
    key = data.draw(mostly(st.just("right"), st.sampled_from(["other", "raw", "none"])), label="model")
    source = data.draw(
        mostly(
            st.sampled_from([world.images[:2], world.data]),
            st.one_of(
                st.just(world.data.images()[:0]),
                images(),
                st.sampled_from([str(store.parent / "missing"), None, 3]),
            ),
        ),
        label="source",
    )
    method = data.draw(mostly(st.sampled_from(["gradcam", "occlusion"]), st.sampled_from(["concepts", "igoss", None])))
    target = data.draw(
        mostly(st.sampled_from([None, "label", 1]), targets(len(world.labels), world.labels)), label="target"
    )
    options = {"metrics": False}
    chosen = data.draw(st.lists(st.sampled_from(list(OPTIONS)), max_size=3, unique=True), label="options")
    options.update({name: data.draw(OPTIONS[name], label=name) for name in chosen})
    if options.get("engine") == "local" or "engine" not in options:
        options.pop("workers", None), options.pop("address", None)
    stored = data.draw(mostly(st.sampled_from([store, str(store)]), st.sampled_from(["", None, 3])), label="store")
    params = (
        data.draw(params_for(xw.core.methods.get_spec("occlusion")), label="params") if method == "occlusion" else {}
    )
    model = world.model(key, "classifier")
    try:
        kind, value = fuzz(
            "xw.explain_dataset",
            lambda: xw.explain_dataset(
                model, source, method, target, store=stored, progress=False, **options, **params
            ),
            ["model", "source", "method", "target", "store", *options, *params],
            world.classifier.module,
        )
    finally:
        _restore(world)
    if kind == "ok":
        # Unreadable images (a tensor row outside [0, 1]) are skipped and listed, as documented.
        assert value.complete and value.count + len(value.skipped) == len(source)
        assert value.count == 0 or np.isfinite(value.map(0)).all()
    else:
        assert not os.path.exists(store), f"a refused call left {sorted(os.listdir(store))} in the store"


def test_report_the_fuzz_counts():
    """Print the calls per entry point (``-s`` shows them) for the README's reliability table."""
    for (entry, what), count in sorted(COUNTS.items()):
        print(f"{entry:24s} {what:8s} {count}")
    for (entry, argument), count in sorted(REFUSALS.items()):
        print(f"{entry:24s} refused naming {argument}: {count}")
    assert not math.isnan(sum(COUNTS.values()))


# ------------------------------------------------------------------------------------------------ found failures
class TwoPools(torch.nn.Module):
    """A model that needs at least 6x6 pixels: a 3x3 convolution without padding, then two 2x2 max-pools."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.pools = torch.nn.Sequential(torch.nn.MaxPool2d(2), torch.nn.MaxPool2d(2))
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.pools(self.conv(x)).mean((2, 3)))


# Was: RuntimeError "Output size is too small" from the toy model's pooling on 1x1 (and 3x7, 4x4) images.
@pytest.mark.parametrize("method", ["gradcam", "igos", "rise", "occlusion", "sag"])
@pytest.mark.parametrize("size", [(1, 1), (3, 7), (4, 4), (112, 4)])
def test_images_below_the_least_size_the_model_runs_on_are_refused_with_that_size(world, method, size):
    image = world.images[:1, :, : size[0], : size[1]]
    settings_ = {**xw.core.methods.get_spec(method).quick, "progress": False}
    with pytest.raises(xw.XWidgetsError, match=rf"images: got images of {size[0]}x{size[1]} pixels.*at least 5x5"):
        xw.explain(world.classifier, image, method=method, **settings_)


def test_the_least_size_is_found_by_trying_the_model():
    model = xw.Classifier(TwoPools().eval())
    assert model.least_input_side() == 6  # 6 -> convolution 4 -> pool 2 -> pool 1; 5 -> 3 -> 1 -> nothing
    with pytest.raises(xw.XWidgetsError, match=r"images: got images of 5x12 pixels.*at least 6x6"):
        xw.explain(model, torch.rand(1, 3, 5, 12), method="rise", masks=8, progress=False)
    result = xw.explain(model, torch.rand(1, 3, 6, 6), method="rise", masks=8, progress=False)
    assert result.saliency.shape == (1, 1, 6, 6)


# Was: RuntimeError "value cannot be converted to type int64_t without overflow" (2**63 and past), TypeError
# "'int' object is not iterable" (a 0-d tensor); a numpy integer was refused as "an object of type int64".
@pytest.mark.parametrize("target", [2**63, -(2**63) - 1, 2**64, [0, 2**63], torch.tensor([2**62]), -1])
def test_class_indices_past_int64_or_the_classes_are_refused(world, target):
    images = world.images[:2]
    with pytest.raises(xw.XWidgetsError, match=r"target.*(a class in 0\.\.10|one class per image)"):
        xw.explain(world.classifier, images, target, method="gradcam", progress=False)


@pytest.mark.parametrize("target", [torch.tensor(3), np.int64(3), np.uint8(3), [np.int32(3)]])
def test_numpy_integers_and_0d_tensors_are_class_indices(world, target):
    result = xw.explain(world.classifier, world.images[:1], target, method="gradcam", progress=False)
    assert result.target["classes"] == [3]


@pytest.mark.parametrize(
    "target", [torch.zeros(1, dtype=torch.long, device="meta"), torch.tensor([1.5]), torch.ones(1, 1, dtype=torch.long)]
)
def test_tensors_that_are_not_class_indices_are_refused(world, target):
    with pytest.raises(xw.XWidgetsError, match=r"target: got Tensor"):
        xw.explain(world.classifier, world.images[:1], target, method="gradcam", progress=False)


def test_class_target_refuses_indices_past_int64():
    # Was: RuntimeError from torch.as_tensor.
    with pytest.raises(xw.XWidgetsError, match=r"classes: got \[9223372036854775808\]"):
        xw.core.targets.ClassTarget([2**63])


# Was: NotImplementedError "Cannot copy out of meta tensor; no data!".
def test_meta_tensors_are_refused_as_images(world):
    with pytest.raises(xw.XWidgetsError, match=r"images: got Tensor of shape \(1, 3, 8, 8\).*meta device"):
        xw.explain(world.classifier, torch.empty(1, 3, 8, 8, device="meta"), method="gradcam", progress=False)


# Was: ValueError "Overflow when unpacking long long" (2**64); -1 and 1.5 ran (as a negative and a truncated seed).
@pytest.mark.parametrize("seed", [2**64, 2**63, -1, 1.5, True, "0", None])
def test_seeds_outside_0_to_int64_are_refused(world, seed):
    with pytest.raises(xw.XWidgetsError, match=r"seed: got .*a whole number in 0\.\.9223372036854775807"):
        xw.explain(world.classifier, world.images[:1], method="rise", masks=8, seed=seed, progress=False)


def test_numpy_seeds_are_whole_numbers(world):
    one = xw.explain(world.classifier, world.images[:1], method="rise", masks=8, seed=np.int64(5), progress=False)
    assert one.seed == 5 and type(one.seed) is int


# Was: errors naming "references", an argument xw.explain does not have (it is reference=).
@pytest.mark.parametrize(
    "reference, message",
    [
        ("nope.png", r"reference: got the path 'nope.png'"),
        (lambda images: images[:, :, :50], r"reference: got images of size 50x112 while the queries are 112x112"),
        (lambda images: torch.cat([images, images]), r"reference: got 2 images for 1 queries"),
    ],
)
def test_pair_errors_name_reference_as_the_call_spells_it(world, reference, message):
    given = reference(world.references[:1]) if callable(reference) else reference
    with pytest.raises(xw.XWidgetsError, match=message):
        xw.explain(
            world.embedder, world.images[:1], reference=given, method="pair_sliding_window", stride=16, progress=False
        )


# Was: TypeError "only integer tensors of a single element can be converted to an index" from class_index, which
# the dataset methods call on their target.
@pytest.mark.parametrize("target", [torch.tensor([], dtype=torch.long), torch.tensor([1, 2]), np.array([1, 2])])
def test_a_dataset_method_refuses_a_target_of_several_classes(world, target):
    with pytest.raises(xw.XWidgetsError, match=r"target: got (Tensor|ndarray) of shape"):
        xw.fit(world.classifier, world.data, target, method="text", captions=world.captions, progress=False)


# Was: "images: got no images", an argument xw.fit does not have (it is data=).
def test_concepts_names_data_when_it_is_empty(world):
    with pytest.raises(xw.XWidgetsError, match=r"^data: got no images"):
        xw.fit(world.classifier, world.data.images()[:0], 0, method="concepts", progress=False)


# Was: "window: got 32, expected at most the image side (20 px)" and "resolution: got 8, expected at most the
# input's side, 5" for a window and a resolution the call never set (the defaults), naming nothing it gave.
@pytest.mark.parametrize(
    "method, params, message",
    [
        ("pair_sliding_window", {"stride": 16}, r"window: got 32, expected at most the side of the images \(20 px\)"),
        ("pair_mask", {"iterations": 1}, r"resolution: got 8, .*\(the images are 6x6\)"),
        ("sane", {"saliency_method": "pair_mask", "both": False}, r"resolution: got 8, .*\(the images are 6x6\)"),
    ],
)
def test_a_default_too_large_for_small_images_names_the_images(world, method, params, message):
    side = 20 if method == "pair_sliding_window" else 6
    extra = {"attribute_model": world.attribute_model} if method == "sane" else {}
    with pytest.raises(xw.XWidgetsError, match=message):
        xw.explain(
            world.embedder,
            world.images[:1, :, :side, :side],
            reference=world.references[:1, :, :side, :side],
            method=method,
            progress=False,
            **params,
            **extra,
        )


@pytest.mark.parametrize(
    "method, side, message",
    [
        ("occlusion", 8, r"window: got 16, expected at most the side of the images \(8x8 px\)"),
        ("igos", 8, r"resolution: got 28, .*\(the images are 8x8 at the model's input\)"),
        ("sag", 6, r"grid: got 7, .*\(the images are 6x6\)"),
    ],
)
def test_a_heatmap_default_too_large_for_small_images_names_the_images(world, method, side, message):
    with pytest.raises(xw.XWidgetsError, match=message):
        xw.explain(world.classifier, world.images[:1, :, :side, :side], method=method, progress=False)


# Was: "images[0]: got a numpy array of dtype bool" and "images: got no images" from xw.fit, whose argument is data.
@pytest.mark.parametrize(
    "data, message",
    [
        (np.zeros((1, 8, 8, 1), bool), r"^data\[0\]: got a numpy array of dtype bool"),
        ("empty", r"^data: got no images"),
    ],
)
@pytest.mark.parametrize("method", ["concepts", "text"])
def test_fit_names_data_as_the_call_spells_it(world, data, message, method):
    given = world.data.images()[:0] if isinstance(data, str) else data
    inputs = {"captions": world.captions[:1], "min_images": 1} if method == "text" else {}
    with pytest.raises(xw.XWidgetsError, match=message):
        xw.fit(world.classifier, given, 0, method=method, progress=False, **inputs)


# Was: a bool tensor source ran, skipped every image as unreadable and returned an empty run.
def test_explain_dataset_refuses_a_tensor_source_of_another_dtype_and_writes_nothing(world, tmp_path):
    store = tmp_path / "run"
    with pytest.raises(xw.XWidgetsError, match=r"^source: got Tensor .*dtype torch.bool"):
        xw.explain_dataset(world.classifier, world.images[:2] > 0.5, "gradcam", store=store, progress=False)
    assert not store.exists()


# Was: occlusion's window=1024 for 112-pixel images was refused by the kernel on the first shard, after the store
# (manifest, records/, arrays.zarr) had been written.
def test_explain_dataset_refused_on_its_first_shard_leaves_no_store(world, tmp_path):
    store = tmp_path / "run"
    with pytest.raises(xw.XWidgetsError, match=r"^window: got 1024"):
        xw.explain_dataset(
            world.classifier, world.images[:2], "occlusion", store=store, progress=False, window=1024, stride=32
        )
    assert not store.exists()
