"""Every method runs in the model's dtype (issue 17, item 5): a bfloat16 or float16 copy of the toy classifier gives
float32 maps in [0, 1] close to the float32 model's, far closer than a random map is."""

import copy
import warnings

import pytest
import torch

import xwidgets as xw

FAST = {
    "igos": {"iterations": 4, "ig_steps": 4},
    "igospp": {"iterations": 4, "ig_steps": 4},
    "rise": {"masks": 300},
    "integrated_gradients": {"steps": 8},
    "occlusion": {},
    "gradcam": {},
}
LOW = {"bfloat16": torch.bfloat16, "float16": torch.float16}
# float16 backward passes run about 45x slower than float32 on this CPU (12.7 s against 0.28 s for 16 toy images), so
# float16 runs the forward-only methods and Grad-CAM's single backward here; bfloat16 runs everything.
FLOAT16_ON_CPU = ("gradcam", "rise", "occlusion")


@pytest.fixture(scope="module")
def full():
    return xw.toy.classifier()


def lowered(model: xw.Classifier, dtype: str) -> xw.Classifier:
    """A copy of ``model`` in ``dtype``, with the same preprocessing and labels."""
    module = copy.deepcopy(model.module).to(LOW[dtype])
    return xw.Classifier(module, preprocessing=model.preprocessing, labels=model.labels)


@pytest.fixture(scope="module", params=list(LOW))
def low(request, full):
    return lowered(full, request.param)


@pytest.fixture(scope="module")
def images():
    world = xw.toy.ToyWorld()
    return xw.to_batch([world.sample(species, seed=830 + species).image for species in (1, 6)])


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.flatten().float(), b.flatten().float()]))[0, 1])


def check_close(reference: torch.Tensor, maps: torch.Tensor, margin: float = 0.5, unit: bool = True) -> float:
    """Float32 maps (in [0, 1] when ``unit``), correlated with the float32 model's maps well above a random map's
    correlation."""
    assert maps.dtype == torch.float32 and maps.shape == reference.shape
    assert not unit or (float(maps.min()) >= 0.0 and float(maps.max()) <= 1.0)
    random = torch.rand(reference.shape, generator=torch.Generator().manual_seed(5))
    close = correlation(reference, maps)
    assert close > 0.9 and close > correlation(reference, random) + margin, close
    return close


def test_the_model_casts_inputs_and_scores_stay_float32(low, images):
    assert low.dtype in LOW.values()
    inputs = low.normalize(low.prepare(images)).float()
    with torch.no_grad():
        output = low.forward(inputs)
    assert output.dtype == low.dtype
    scores = xw.core.ClassTarget([1, 6])(output)
    assert scores.dtype == torch.float32


@pytest.mark.parametrize(
    "dtype, method", [("bfloat16", m) for m in xw.methods("heatmap")] + [("float16", m) for m in FLOAT16_ON_CPU]
)
def test_every_heatmap_method_runs_in_the_models_dtype(full, images, dtype, method):
    low = lowered(full, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xw.heatmaps.DegenerateMapWarning)
        reference = xw.explain(full, images, method=method, progress=False, **FAST[method])
        result = xw.explain(low, images, method=method, progress=False, **FAST[method])
    assert result.target == reference.target
    check_close(reference.saliency, result.saliency)


def test_sag_metrics_summaries_and_text_run_in_the_models_dtype(full, images):
    low = lowered(full, "bfloat16")
    reference = xw.sag.sag(full, images[:1], max_roots=2, progress=False)
    graph = xw.sag.sag(low, images[:1], max_roots=2, progress=False)
    assert graph.heuristic.dtype == torch.float32 and len(graph.roots[0]) >= 1
    check_close(reference.heuristic, graph.heuristic)
    saliency = xw.explain(full, images, method="gradcam", progress=False).saliency
    curves = [xw.metrics.deletion_insertion(model, images, saliency, progress=False) for model in (full, low)]
    assert torch.allclose(curves[0].deletion, curves[1].deletion.float(), atol=0.05)
    masks = [
        xw.summaries.crisp_masks(model, images[:1], 1, smooth_iterations=10, sharp_iterations=5, progress=False)
        for model in (full, low)
    ]
    assert masks[1].images.dtype == torch.float32
    check_close(masks[0].saliency, masks[1].saliency.float())
    data = xw.toy.dataset(60, seed=11)
    texts = [
        xw.text.fit(model, data, captions=xw.toy.captions(data), progress=False, min_images=2).explain(
            images, model, target=full.labels[1]
        )
        for model in (full, low)
    ]
    check_close(texts[0].grounding, texts[1].grounding, unit=False)


@pytest.mark.parametrize("dtype", list(LOW))
def test_pair_saliency_runs_in_the_embedders_dtype(images, dtype):
    full = xw.toy.embedder()
    low = xw.Embedder(copy.deepcopy(full.module).to(LOW[dtype]), preprocessing=full.preprocessing)
    for method in ("pair_rise", "pair_sliding_window"):
        params = {"masks": 300} if method == "pair_rise" else {}
        reference = xw.explain(full, images[:1], reference=images[1:], method=method, progress=False, **params)
        result = xw.explain(low, images[:1], reference=images[1:], method=method, progress=False, **params)
        check_close(reference.maps, result.maps)
