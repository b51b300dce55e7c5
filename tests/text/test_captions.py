"""Caption loaders: toy captions and the CUB layout (written here as files)."""

import numpy as np
import pytest
from PIL import Image

import xwidgets as xw
from xwidgets.core.errors import InvalidArgument


def write_cub(root, samples, classes=("001.Goldcap", "002.Spotwing"), drop=None):
    images, text = root / "images", root / "text_c10"
    paths = []
    for index, sample in enumerate(samples):
        folder = classes[index % len(classes)]
        (images / folder).mkdir(parents=True, exist_ok=True)
        (text / folder).mkdir(parents=True, exist_ok=True)
        path = images / folder / f"Bird_{index:04d}.png"
        Image.fromarray(sample.image).save(path)
        if index != drop:
            (text / folder / f"Bird_{index:04d}.txt").write_text("\n".join(sample.captions) + "\n")
        paths.append(path)
    return images, text


def test_toy_captions_are_the_samples_captions():
    data = xw.toy.dataset(4, seed=9713)
    assert xw.toy.captions(data) == [s.captions for s in data.samples]
    with pytest.raises(InvalidArgument, match="toy dataset"):
        xw.toy.captions([])


def test_cub_layout_loads_images_captions_and_classes(tmp_path):
    samples = xw.toy.dataset(6, seed=9714).samples
    images, text = write_cub(tmp_path, samples)
    loaded = xw.text.load_cub(images, text)
    assert loaded.class_names == ["001.Goldcap", "002.Spotwing"]
    assert len(loaded) == 6 and loaded.labels == [0, 0, 0, 1, 1, 1]
    by_name = {p.name: c for p, c in zip(loaded.paths, loaded.captions)}
    assert by_name["Bird_0002.png"] == samples[2].captions
    assert len(xw.text.load_cub(images, text, classes=1)) == 3
    assert len(xw.text.load_cub(images, text, classes=["002.Spotwing"], per_class=2)) == 2


def test_cub_images_fit_end_to_end(tmp_path):
    samples = xw.toy.dataset(44, seed=9715).samples
    images, text = write_cub(tmp_path, samples)
    loaded = xw.text.load_cub(images, text)
    model = xw.toy.classifier()
    fitted = xw.text.fit(model, loaded, layer="features", min_images=2)  # CaptionedImages bring captions
    assert fitted.described == 44 and len(fitted.attributes) > 10
    explanation = fitted.explain(loaded.paths[:2])
    assert explanation.sentences[0].startswith("This is a")
    assert np.allclose(
        explanation.images[0].permute(1, 2, 0).numpy(), np.asarray(Image.open(loaded.paths[0])) / 255.0, atol=1e-6
    )


def test_a_missing_caption_file_names_the_image(tmp_path):
    images, text = write_cub(tmp_path, xw.toy.dataset(4, seed=9716).samples, drop=1)
    with pytest.raises(InvalidArgument, match=r"no caption file for 1 of 4 images, e.g. \['002.Spotwing/Bird_0001"):
        xw.text.load_cub(images, text)
    (text / "002.Spotwing" / "Bird_0001.txt").write_text("\n\n")
    with pytest.raises(InvalidArgument, match="empty caption files for 1 images"):
        xw.text.load_cub(images, text)
    with pytest.raises(InvalidArgument, match="images_root"):
        xw.text.load_cub(tmp_path / "nowhere", text)
    with pytest.raises(InvalidArgument, match="classes"):
        xw.text.load_cub(images, text, classes=["003.Nothing"])
