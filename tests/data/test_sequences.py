"""Torch datasets and tensors as sources: labels without loading where the dataset says them, items that fail."""

import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.data import UnreadableImage


class Images(torch.utils.data.Dataset):
    """``count`` grey-level images ``[3, 8, 10]``; items ``(image, label)`` or bare images; item 2 may fail."""

    def __init__(self, count=4, labelled=True, broken=False):
        self.count, self.labelled, self.broken, self.reads = count, labelled, broken, 0

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        self.reads += 1
        if self.broken and index == 2:
            raise OSError("image file is truncated")
        image = torch.full((3, 8, 10), index / 10)
        return (image, index % 2) if self.labelled else image


def test_a_dataset_of_image_label_tuples_gives_labels_and_images():
    source = xw.data.torch_dataset(Images(), classes=["even", "odd"])
    assert (source.kind, len(source), source.classes) == ("torch", 4, ["even", "odd"])
    assert [source.item(i).label for i in range(4)] == [0, 1, 0, 1]
    assert source.item(3) == xw.data.SourceItem(3, "3", None, 1)
    image = source.load(3)
    assert image.shape == (3, 8, 10) and torch.allclose(image, torch.full_like(image, 0.3))


def test_a_dataset_of_bare_images_is_unlabelled_without_loading_every_item():
    dataset = Images(labelled=False)
    source = xw.data.torch_dataset(dataset)
    reads = dataset.reads
    assert [source.item(i).label for i in range(4)] == [None] * 4
    assert dataset.reads == reads, "item() loads nothing when the items carry no label"


def test_targets_labels_and_tensor_datasets_give_labels_without_loading():
    class WithTargets(Images):
        targets = (3, 1, 2, 0)
        classes = ("a", "b", "c", "d")

    dataset = WithTargets()
    source = xw.data.torch_dataset(dataset)
    reads = dataset.reads
    assert [source.item(i).label for i in range(4)] == [3, 1, 2, 0] and source.classes == ["a", "b", "c", "d"]
    assert dataset.reads == reads
    pairs = torch.utils.data.TensorDataset(torch.rand(3, 3, 5, 5), torch.tensor([2, 0, 1]))
    tensors = xw.data.torch_dataset(pairs)
    assert [tensors.item(i).label for i in range(3)] == [2, 0, 1]
    assert torch.equal(tensors.load(1), pairs.tensors[0][1])


def test_an_image_folder_like_dataset_gives_its_paths():
    class Folderish(Images):
        def __init__(self):
            super().__init__(2)
            self.samples = [("/data/a.png", 0), ("/data/b.png", 1)]
            self.targets = [0, 1]

    source = xw.data.torch_dataset(Folderish())
    assert source.item(1) == xw.data.SourceItem(1, "1", "/data/b.png", 1)


def test_an_item_the_dataset_cannot_load_is_unreadable_naming_it():
    source = xw.data.torch_dataset(Images(broken=True))
    assert source.item(2).label is None  # unreadable: no label, and no exception from item()
    with pytest.raises(UnreadableImage, match=r"dataset\[2\]: the dataset raised OSError: image file is truncated"):
        source.load(2)


def test_an_item_that_is_not_an_image_is_unreadable():
    source = xw.data.torch_dataset([torch.rand(3, 4, 4), "not an image", torch.rand(2, 3, 4, 4)])
    assert source.load(0).shape == (3, 4, 4)
    with pytest.raises(UnreadableImage, match=r"^dataset\[1\]: "):
        source.load(1)
    with pytest.raises(UnreadableImage, match=r"^dataset\[2\]: a batch of 2 images"):
        source.load(2)


@pytest.mark.parametrize(
    ("dataset", "kwargs", "argument"),
    [
        (3, {}, "dataset"),
        ("images", {}, "dataset"),
        ([], {}, "dataset"),
        (Images(), {"classes": [1, 2]}, "classes"),
    ],
)
def test_bad_datasets_are_errors_naming_the_argument(dataset, kwargs, argument):
    with pytest.raises(xw.XWidgetsError, match=rf"^{argument}"):
        xw.data.torch_dataset(dataset, **kwargs)


def test_an_iterable_dataset_is_refused():
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            yield torch.rand(3, 4, 4)

    with pytest.raises(xw.XWidgetsError, match=r"^dataset.*map-style"):
        xw.data.torch_dataset(Stream())


def test_a_tensor_source_reads_its_rows():
    images = (torch.rand(5, 3, 6, 7) * 255).to(torch.uint8)
    source = xw.data.as_source(images)
    assert (source.kind, len(source), source.classes, source.image_size()) == ("tensor", 5, None, (6, 7))
    assert source.item(4) == xw.data.SourceItem(4, "4", None, None)
    assert torch.allclose(source.load(4), images[4].float() / 255)
    assert source.describe() == {"kind": "tensor", "shape": [5, 3, 6, 7], "dtype": "torch.uint8"}
    changed = images.clone()
    changed[0, 0, 0, 0] ^= 1
    assert xw.data.as_source(changed).fingerprint() != source.fingerprint()


def test_a_tensor_row_out_of_range_is_unreadable():
    images = torch.rand(2, 3, 4, 4)
    images[1] += 2.0
    with pytest.raises(UnreadableImage, match=r"^images\[1\]: .*\[0, 1\]"):
        xw.data.as_source(images).load(1)


def test_labels_known_from_numpy_targets():
    class NumpyTargets(Images):
        targets = np.array([1, 0, 1, 0], dtype=np.uint8)

    assert xw.data.torch_dataset(NumpyTargets()).item(0).label == 1
