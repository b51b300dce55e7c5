"""Plain mistakes get a plain answer (issue 17, item 5): a raw nn.Module, images of mixed sizes, class names as
targets, 16-bit images."""

import struct
import zlib

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument, XWidgetsError
from xwidgets.core.params import Param, ParamSet


def tiny_net(classes: int = 5) -> nn.Module:
    """A small random conv net in eval mode: conv -> ReLU -> global pool -> linear."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes)
        ).eval()


FAST = {
    "igos": {"iterations": 2, "ig_steps": 2},
    "igospp": {"iterations": 2, "ig_steps": 2},
    "rise": {"masks": 20},
    "integrated_gradients": {"steps": 2},
    "occlusion": {"window": 8, "stride": 8},
    "gradcam": {},
}


@pytest.fixture(scope="module")
def toy():
    return xw.toy.classifier()


@pytest.fixture(scope="module")
def birds():
    world = xw.toy.ToyWorld()
    return [world.sample(species, seed=700 + species) for species in range(3)]


# ------------------------------------------------------------------------------------------- a raw nn.Module
def _entries(raw, images, toy):
    """Every public entry that takes a model, called with the raw module ``raw`` in its place."""
    from xwidgets.concepts import extract_features
    from xwidgets.summaries import crisp_masks, igos_masks

    entries = {f"explain/{method}": lambda m=method: xw.explain(raw, images, method=m) for method in FAST}
    entries.update({f"heatmaps.{s.name}": lambda f=s.kernel: f(raw, images) for s in xw.core.methods.specs("heatmap")})
    entries.update(
        {
            "gradcam with a layer": lambda: xw.heatmaps.gradcam(raw, images, layer="features"),
            "sag": lambda: xw.sag.sag(raw, images),
            "deletion_insertion": lambda: xw.metrics.deletion_insertion(
                raw, images, torch.rand(len(images), 1, 112, 112)
            ),
            "perturbed_images": lambda: xw.metrics.perturbed_images(raw, images, torch.rand(len(images), 1, 112, 112)),
            "concepts.fit": lambda: xw.concepts.fit(raw, images, target=0),
            "fit/concepts": lambda: xw.fit(raw, images, 0, method="concepts"),
            "fit/summaries": lambda: xw.fit(raw, images, 0, method="summaries"),
            "fit/text": lambda: xw.fit(raw, images, method="text", captions=[["a bird"]] * len(images)),
            "extract_features": lambda: extract_features(raw, images, "features"),
            "text.fit": lambda: xw.text.fit(raw, images, captions=[["a bird"]] * len(images)),
            "summaries.fit": lambda: xw.summaries.fit(raw, images, 0),
            "crisp_masks": lambda: crisp_masks(raw, images, 0),
            "igos_masks": lambda: igos_masks(raw, images, 0),
            "HeatmapExplorer": lambda: xw.HeatmapExplorer(raw, images[0], run=False),
            "SAGExplorer": lambda: xw.SAGExplorer(raw, images[0], run=False),
            "ConceptExplorer": lambda: xw.ConceptExplorer(raw, images, target=0, run=False),
            "SummaryExplorer": lambda: xw.SummaryExplorer(raw, images, 0, run=False),
            "SummaryExplorer compare": lambda: xw.SummaryExplorer(toy, images, 0, compare={"mine": raw}, run=False),
        }
    )
    return entries


def _embedder_entries(raw, images):
    from xwidgets.similarity import train_attributes

    attributes = xw.toy.attribute_model()
    entries = {
        f"explain/{method}": lambda m=method: xw.explain(raw, images[:1], reference=images[1:2], method=m)
        for method in xw.methods("pair")
        if method != "sane"
    }
    return {
        **entries,
        "explain/sane": lambda: xw.explain(
            raw, images[:1], reference=images[1:2], method="sane", attribute_model=attributes
        ),
        "train_attributes": lambda: train_attributes(raw, images, torch.zeros(len(images), 2), ["a", "b"]),
        "MatchExplorer": lambda: xw.MatchExplorer(raw, images, attributes, run=False),
        "similarity_to": lambda: xw.similarity_to(raw, images[0]),
    }


def test_a_raw_module_gets_the_wrapping_line_at_every_entry(toy, birds):
    images = [bird.image for bird in birds]
    failures = {}
    for name, call in _entries(toy.module, images, toy).items():
        with pytest.raises(XWidgetsError) as error:
            call()
        message = str(error.value)
        if (
            "raw torch.nn.Module (ToyCNN)" not in message
            or "xw.Classifier(net.eval(), preprocessing=xw.core.Preprocessing(mean=..., std=...))" not in message
        ):
            failures[name] = message
    raw_embedder = xw.toy.embedder().module
    for name, call in _embedder_entries(raw_embedder, images).items():
        with pytest.raises(XWidgetsError) as error:
            call()
        if "xw.Embedder(net.eval(), preprocessing=" not in str(error.value):
            failures[name] = str(error.value)
    assert not failures, failures


def test_a_torchvision_module_is_recognised_by_name():
    net = torchvision.models.resnet18().eval()
    with pytest.raises(InvalidArgument) as error:
        xw.explain(net, torch.rand(1, 3, 32, 32), method="gradcam")
    message = str(error.value)
    assert 'model = xw.Classifier.from_torchvision("resnet18")' in message
    assert (
        "Preprocessing(resize=256, crop=(224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))" in message
    )
    assert xw.core.models.torchvision_name(torchvision.models.resnet18(num_classes=10)) is None  # a new head
    assert xw.core.models.torchvision_name(tiny_net()) is None


# -------------------------------------------------------------------------------------------- mixed sizes
def test_size_is_accepted_wherever_the_error_offers_it(toy, birds):
    mixed = [birds[0].image, birds[1].image[:, :96, :100]]
    with pytest.raises(InvalidArgument, match=r"pass size=\(H, W\)"):
        xw.explain(toy, mixed, method="gradcam")
    for method, params in FAST.items():
        result = xw.explain(toy, mixed, method=method, size=(112, 112), progress=False, **params)
        assert result.saliency.shape == (2, 1, 112, 112), method
    assert xw.sag.sag(toy, mixed, size=112, max_roots=1, progress=False).images.shape == (2, 3, 112, 112)
    saliency = torch.rand(2, 1, 112, 112)
    curves = xw.metrics.deletion_insertion(toy, mixed, saliency, size=(112, 112), progress=False)
    assert curves.deletion.shape[0] == 2
    perturbed = xw.metrics.perturbed_images(toy, mixed, saliency, size=(112, 112))
    assert perturbed.shape[0] == 2 and perturbed.shape[-2:] == (112, 112)


def test_a_resizing_preprocessing_takes_mixed_sizes_without_size(birds):
    net = tiny_net()
    model = xw.Classifier(net, preprocessing=xw.core.Preprocessing(resize=(64, 64)))
    mixed = [birds[0].image, birds[1].image[:, :96, :100]]
    batch = model.prepare(mixed)
    assert batch.shape == (2, 3, 64, 64)
    assert torch.allclose(batch[1:], model.prepare(mixed[1]))


def test_no_empty_list_of_choices_and_close_names_are_suggested(toy, birds):
    with pytest.raises(InvalidArgument) as error:
        xw.explain(toy, birds[0].image, method="gradcam", sise=(112, 112))
    assert "expected none: gradcam has no tunable parameters" in str(error.value)
    assert "one of \n" not in str(error.value) + "\n" and not str(error.value).rstrip().endswith("one of")
    with pytest.raises(InvalidArgument, match=r"did you mean 'masks'\?"):
        xw.explain(toy, birds[0].image, method="rise", mask=10)
    with pytest.raises(InvalidArgument, match=r"did you mean 'integrated_gradients'\?"):
        xw.explain(toy, birds[0].image, method="integrated_gradient")
    with pytest.raises(InvalidArgument, match=r"one of 'a', 'b' \(did you mean 'a'\?\)|did you mean"):
        ParamSet("demo", Param("mode", "choice", "a", "", choices=("a", "b"))).resolve({"mode": "A"})


# --------------------------------------------------------------------------------------- class names as targets
def test_class_names_work_as_targets_for_every_method(toy, birds):
    image = birds[1].image
    name = toy.labels[4]
    for method in ("gradcam", "integrated_gradients"):
        by_name = xw.explain(toy, image, method=method, target=name, progress=False)
        by_index = xw.explain(toy, image, method=method, target=4, progress=False)
        assert torch.equal(by_name.saliency, by_index.saliency) and by_name.target["classes"] == [4]
    pair = xw.explain(toy, [image, image], method="gradcam", target=[name, 2], progress=False)
    assert pair.target["classes"] == [4, 2]
    graph = xw.sag.sag(toy, image, target=name, max_roots=1, progress=False)
    assert graph.target["classes"] == [4]
    typo = name[:-1] + name[-1] * 2
    for call in (
        lambda: xw.explain(toy, image, method="gradcam", target=typo),
        lambda: xw.explain(toy, [image, image], method="gradcam", target=[4, typo]),
        lambda: xw.sag.sag(toy, image, target=typo),
        lambda: xw.concepts.fit(toy, [b.image for b in birds] * 5, target=typo, k=1),
        lambda: xw.fit(toy, [b.image for b in birds] * 5, typo, method="concepts", k=1),
        lambda: xw.fit(toy, [image], typo, method="summaries"),
    ):
        with pytest.raises(InvalidArgument, match=rf"got '{typo}', a name no class has.*did you mean '{name}'"):
            call()


def test_imagenet_names_with_close_matches_on_a_typo():
    from xwidgets.core.imagenet import imagenet_classes

    labels = imagenet_classes()
    model = xw.Classifier(tiny_net(1000), labels=labels)
    images = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    result = xw.explain(model, images, method="gradcam", target="tabby", progress=False)
    assert result.target["classes"] == [labels.index("tabby")]
    with pytest.raises(InvalidArgument) as error:
        xw.explain(model, images, method="gradcam", target="tabbby")
    assert "target: got 'tabbby', a name no class has, expected one of the model's 1000 class names" in str(error.value)
    assert "did you mean 'tabby'" in str(error.value)
    twice = xw.Classifier(tiny_net(3), labels=["cat", "dog", "cat"])
    with pytest.raises(InvalidArgument, match=r"a name that 2 classes share \(\[0, 2\]\)"):
        xw.explain(twice, images, method="gradcam", target="cat")


def test_a_name_for_an_unlabelled_model_is_refused(birds):
    model = xw.Classifier(tiny_net())
    with pytest.raises(InvalidArgument, match="a class name for a model without labels"):
        xw.explain(model, birds[0].image, method="gradcam", target="hookbill")


# ---------------------------------------------------------------------------------------------- 16-bit images
def _write_png16(path, array: np.ndarray) -> None:
    """A 16-bit PNG (grey, grey + alpha, RGB or RGBA) from a uint16 array, written by hand: Pillow cannot."""
    array = np.ascontiguousarray(array, dtype=">u2")
    colour = 0 if array.ndim == 2 else {2: 4, 3: 2, 4: 6}[array.shape[-1]]
    height, width = array.shape[:2]
    rows = b"".join(b"\x00" + row.tobytes() for row in array.reshape(height, -1))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


@pytest.fixture
def grey16():
    return (np.arange(24 * 20).reshape(24, 20) * 136).astype(np.uint16)  # 0 .. 65144


def test_a_16_bit_png_keeps_its_values(tmp_path, grey16):
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    expected = torch.from_numpy(grey16.astype(np.float64) / 65535).float()
    with Image.open(tmp_path / "grey16.png") as opened:
        assert opened.mode == "I;16"
        from_pil = xw.to_batch(opened)
    from_path = xw.to_batch(tmp_path / "grey16.png")
    for batch in (
        from_pil,
        from_path,
        xw.to_batch(grey16),
        xw.to_batch(grey16.astype(">u2")),
        xw.to_batch(Image.fromarray(grey16).convert("I")),
        xw.to_batch(torch.from_numpy(grey16)[None]),
    ):
        assert batch.shape == (1, 3, 24, 20)
        assert torch.allclose(batch[0, 0], expected, atol=1e-6) and torch.equal(batch[0, 0], batch[0, 2])
    assert float((from_path >= 1.0).float().mean()) < 0.01  # was 99.9996 % white


def test_16_bit_rgb_and_rgba_pngs(tmp_path, grey16):
    rgb = np.stack([grey16, grey16 // 2, 65535 - grey16], -1)
    _write_png16(tmp_path / "rgb16.png", rgb)
    _write_png16(tmp_path / "rgba16.png", np.concatenate([rgb, grey16[..., None]], -1))
    _write_png16(tmp_path / "la16.png", np.stack([grey16, grey16], -1))
    expected = torch.from_numpy(rgb.astype(np.float64) / 65535).float().permute(2, 0, 1)
    for name in ("rgb16.png", "rgba16.png"):
        assert torch.allclose(xw.to_batch(tmp_path / name)[0], expected, atol=1 / 255), name
    assert torch.allclose(xw.to_batch(tmp_path / "la16.png")[0, 1], expected[0], atol=1 / 255)
    assert torch.allclose(xw.to_batch(rgb)[0], expected, atol=1e-6)


def test_other_wide_images_are_read_or_refused_plainly(grey16):
    wide = Image.fromarray(grey16.astype(np.int32) * 4)  # mode I beyond 16 bits
    with pytest.raises(InvalidArgument, match=r"mode 'I'\) with values in \[0, 260576\]"):
        xw.to_batch(wide)
    floats = Image.fromarray((grey16 / 65535).astype(np.float32))  # mode F in [0, 1]
    assert torch.allclose(xw.to_batch(floats)[0, 0], torch.from_numpy(grey16 / 65535).float(), atol=1e-6)
    with pytest.raises(InvalidArgument, match=r"uint8 \(0..255\), uint16 \(0..65535\) or float"):
        xw.to_batch(grey16.astype(np.int32))
