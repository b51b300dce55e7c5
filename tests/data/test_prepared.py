"""What the engines' DataLoader reads: prepared images, unusable ones skipped with their reason, never raising."""

import functools
import pickle

import pytest
import torch

import xwidgets as xw
from xwidgets.data import PreparedImages, collate_prepared, prepared_size

from .images import write_image


def with_geometry(classifier, **geometry):
    """``classifier``'s module under a preprocessing with ``geometry`` (resize=, crop=)."""
    pre = xw.core.Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), **geometry)
    return xw.Classifier(classifier.module, preprocessing=pre, labels=classifier.labels)


@pytest.fixture
def mixed(tmp_path, broken_files):
    """A path list: 24x20 images in several modes, one 30x30 image and every kind of broken file."""
    good = [write_image(tmp_path / f"good{i}.png", mode=mode) for i, mode in enumerate(["RGB", "L", "RGBA", "I;16"])]
    odd = write_image(tmp_path / "odd.png", size=(30, 30))
    files = [*good[:2], odd, *broken_files.values(), *good[2:]]
    return xw.data.paths(files, labels=[i % 2 for i in range(len(files))])


def test_unusable_images_come_back_as_none_with_their_reason_and_never_raise(classifier, mixed):
    images = PreparedImages(mixed, classifier, range(len(mixed)))
    assert images.size == (24, 20)  # the most common size among the first readable images
    items = [images[k] for k in range(len(images))]
    usable = [(index, image) for index, image, error in items if image is not None]
    assert [index for index, _ in usable] == [0, 1, 8, 9]
    for _, image in usable:
        assert image.shape == (3, 24, 20) and image.dtype == torch.float32 and image.device.type == "cpu"
        assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    errors = {index: error for index, image, error in items if image is None}
    assert sorted(errors) == [2, 3, 4, 5, 6, 7]
    for index, error in errors.items():
        assert error.startswith(f"{mixed.item(index).path}: "), error
    assert "30x30 after the model's preprocessing" in errors[2] and "24x20" in errors[2]
    assert "empty file" in errors[6] and "no such file" in errors[7]


def test_a_model_that_resizes_takes_every_readable_size(classifier, mixed):
    model = with_geometry(classifier, resize=(16, 16))
    assert prepared_size(mixed, model) == (16, 16)
    images = PreparedImages(mixed, model, [0, 2, 3])
    assert [(index, None if image is None else tuple(image.shape)) for index, image, _ in images] == [
        (0, (3, 16, 16)),
        (2, (3, 16, 16)),
        (3, None),
    ]


def test_an_image_smaller_than_the_crop_is_skipped_naming_it(classifier, mixed):
    images = PreparedImages(mixed, with_geometry(classifier, crop=(22, 22)), [0, 2])
    (_, small, error), (_, large, _) = images[0], images[1]
    assert small is None and error.startswith(f"{mixed.item(0).path}: ") and "crop size 22x22" in error
    assert large.shape == (3, 22, 22)


def test_the_size_is_found_without_loading_where_the_model_or_source_fixes_it(classifier, monkeypatch):
    source = xw.data.toy(50, seed=0, size=64)
    monkeypatch.setattr(type(source), "load", lambda *a: pytest.fail("no image is loaded"))
    assert prepared_size(source, classifier) == (64, 64)
    assert prepared_size(source, with_geometry(classifier, resize=40)) == (40, 40)
    assert prepared_size(source, with_geometry(classifier, resize=48, crop=(32, 30))) == (32, 30)


def test_no_readable_image_gives_no_size(classifier, broken_files):
    source = xw.data.paths(list(broken_files.values()))
    assert prepared_size(source, classifier) is None
    assert all(image is None for _, image, _ in PreparedImages(source, classifier, range(len(source))))


def test_collate_makes_a_batch_and_names_the_skipped_images(classifier, mixed):
    images = PreparedImages(mixed, classifier, range(len(mixed)))
    batch = collate_prepared([images[k] for k in (0, 2, 7, 8)], source=mixed)
    assert batch.indices == [0, 8] and batch.images.shape == (2, 3, 24, 20)
    assert [s["index"] for s in batch.skipped] == [2, 7]
    missing = mixed.item(7)
    assert batch.skipped[1] == {
        "index": 7,
        "id": missing.id,
        "path": missing.path,
        "error": f"{missing.path}: no such file",
    }
    empty = collate_prepared([images[3]])
    assert empty.indices == [] and empty.images.shape == (0, 3, 0, 0)
    assert empty.skipped[0]["id"] == "3" and empty.skipped[0]["path"] is None


def test_collate_skips_a_size_that_differs_from_the_batch_when_no_size_was_known():
    first, other = torch.rand(3, 4, 4), torch.rand(3, 5, 5)
    batch = collate_prepared([(0, first, ""), (1, other, "")])
    assert batch.indices == [0] and "5x5" in batch.skipped[0]["error"] and "4x4" in batch.skipped[0]["error"]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_dataloader_reads_prepared_images_with_and_without_worker_processes(classifier, mixed, workers):
    images = PreparedImages(mixed, classifier, range(len(mixed)))
    loader = torch.utils.data.DataLoader(
        images, batch_size=4, num_workers=workers, collate_fn=functools.partial(collate_prepared, source=mixed)
    )
    batches = list(loader)
    assert [b.indices for b in batches] == [[0, 1], [], [8, 9]]
    assert [s["index"] for b in batches for s in b.skipped] == [2, 3, 4, 5, 6, 7]
    expected = torch.stack([images[k][1] for k in (0, 1)])
    assert torch.equal(batches[0].images, expected)


def test_toy_images_load_in_worker_processes(classifier):
    source = xw.data.toy(6, seed=3)
    loader = torch.utils.data.DataLoader(
        PreparedImages(source, classifier, range(6)), batch_size=3, num_workers=2, collate_fn=collate_prepared
    )
    batches = list(loader)
    assert [b.indices for b in batches] == [[0, 1, 2], [3, 4, 5]]
    assert torch.equal(batches[1].images[2], xw.toy.dataset(6, seed=3)[5][0])


def test_every_source_and_the_prepared_images_pickle(classifier, mixed, class_folder):
    sources = [
        mixed,
        xw.data.folder(class_folder),
        xw.data.toy(3),
        xw.data.as_source(torch.rand(2, 3, 4, 4)),
        xw.data.torch_dataset(torch.utils.data.TensorDataset(torch.rand(2, 3, 4, 4), torch.tensor([0, 1]))),
    ]
    for source in sources:
        copy = pickle.loads(pickle.dumps(source))
        assert copy.describe() == source.describe() and copy.fingerprint() == source.fingerprint()
        assert torch.equal(copy.load(1), source.load(1))
    images = pickle.loads(pickle.dumps(PreparedImages(mixed, classifier, [0, 2])))
    assert images[0][1].shape == (3, 24, 20) and images[1][1] is None


def test_prepared_images_refuse_what_is_not_a_source_or_a_model(classifier):
    with pytest.raises(xw.XWidgetsError, match=r"^source"):
        PreparedImages(["a.png"], classifier, [0])
    with pytest.raises(xw.XWidgetsError, match=r"^model"):
        PreparedImages(xw.data.toy(2), "resnet", [0])
