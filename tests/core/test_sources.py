"""Image sources and layer choice in core (issue 18): what a dataset-level method reads, counted and read a slice
at a time, and the default layer traced on a real image of the source."""

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.core import (
    InvalidArgument,
    Preprocessing,
    dataset_image,
    default_layer_on,
    image_count,
    image_source,
    read_images,
    record_layer,
    spatial_activation,
)


@pytest.fixture(scope="module")
def toy():
    return xw.toy.classifier(), xw.toy.dataset(3, seed=9410)


def test_one_image_becomes_a_batch_of_one_and_batches_pass_through(toy):
    _, data = toy
    images = data.images()
    assert image_source(images[0]).shape == (1, 3, 112, 112)
    assert image_source(np.zeros((8, 8, 3), dtype=np.uint8)).shape == (1, 3, 8, 8)
    assert image_source(images) is images and image_source(data) is data
    assert image_count(images) == image_count(data) == image_count(list(images)) == 3


@pytest.mark.parametrize(
    "given, message",
    [
        (torch.zeros(2, 3, 4), r"images: got Tensor of shape \(2, 3, 4\).*\[N, 3, H, W\]"),
        ("a path", "images: got str"),
        ([], "at least one image"),
        (7, "images: got int"),
    ],
)
def test_sources_that_are_not_images_are_refused_by_name(given, message):
    with pytest.raises(InvalidArgument, match=message):
        image_count(given)


def test_read_images_reads_a_slice_of_a_dataset_of_labelled_items(toy):
    model, data = toy
    items = [(image, 0) for image in data.images()]
    assert dataset_image(items[0]) is items[0][0] and dataset_image(items[0][0]) is items[0][0]
    pixels = read_images(model, items, 1, 3)
    assert pixels.shape == (2, 3, 112, 112) and torch.allclose(pixels, data.images()[1:3])


def test_images_of_different_sizes_need_a_resizing_model(toy):
    model, _ = toy
    images = [torch.rand(3, 112, 112), torch.rand(3, 96, 96)]
    with pytest.raises(InvalidArgument, match=r"images of sizes \[\(96, 96\), \(112, 112\)\]"):
        read_images(model, images, 0, 2)
    resizing = xw.Classifier(
        model.module, preprocessing=Preprocessing(mean=(0.5,) * 3, std=(0.25,) * 3, resize=(112, 112))
    )
    assert read_images(resizing, images, 0, 2).shape == (2, 3, 112, 112)


def test_the_default_layer_is_traced_on_the_first_image_of_the_source(toy):
    model, data = toy
    assert default_layer_on(model, data) == default_layer_on(model, data.images()[0]) == "features"


def test_spatial_activation_names_a_layer_the_pass_never_reached(toy):
    model, data = toy
    pixels = data.images()[:2]
    with record_layer(model.module, "features") as record:
        model(pixels)
        assert spatial_activation(record, "features", pixels).shape[:2] == (2, 64)
        record.activation = None
        with pytest.raises(InvalidArgument, match="'features', which the forward pass never reached"):
            spatial_activation(record, "features", pixels)
