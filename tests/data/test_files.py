"""Folder and path-list sources: listing, labels, lazy decoding of every image mode, broken files named."""

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import xwidgets as xw
from xwidgets.data import UnreadableImage

from .images import write_image


def test_a_class_folder_lists_sorted_images_with_labels_and_ignores_the_rest(class_folder):
    source = xw.data.folder(class_folder)
    assert source.kind == "folder"
    assert source.classes == ["cat", "dog", "empty"]  # an empty class folder is still a class
    assert len(source) == 5
    items = [source.item(i) for i in range(len(source))]
    assert [i.id for i in items] == ["cat/b.png", "cat/deep/a.JPG", "dog/1.png", "dog/2.jpeg", "dog/3.bmp"]
    assert [i.label for i in items] == [0, 0, 1, 1, 1]
    assert [i.index for i in items] == list(range(5))
    assert items[1].path == os.path.join(class_folder, "cat", "deep", "a.JPG")
    image = source.load(3)
    assert image.shape == (3, 24, 20) and image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert torch.allclose(image, torch.full_like(image, 100 / 255), atol=1 / 255)


def test_a_flat_folder_is_an_unlabelled_source(tmp_path):
    for name in ("b.png", "a.png", "c.gif"):
        write_image(tmp_path / name, mode="P" if name.endswith("gif") else "RGB")
    source = xw.data.folder(tmp_path)
    assert source.classes is None
    assert [source.item(i).id for i in range(3)] == ["a.png", "b.png", "c.gif"]
    assert all(source.item(i).label is None for i in range(3))
    assert source.load(2).shape == (3, 24, 20)


def test_extensions_choose_the_listed_files(class_folder):
    source = xw.data.folder(class_folder, extensions=["PNG"])
    assert [source.item(i).id for i in range(len(source))] == ["cat/b.png", "dog/1.png"]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: write_image(root / "one.png"), "not a folder"),
        (lambda root: (root / "a" / "b").mkdir(parents=True) or root, "holds no image"),
        (lambda root: (write_image(root / "top.png"), write_image(root / "cls" / "x.png"))[0].parent, "top level"),
    ],
)
def test_a_folder_that_is_no_image_folder_is_an_error_naming_root(tmp_path, make, words):
    with pytest.raises(xw.XWidgetsError, match=f"root.*{words}"):
        xw.data.folder(make(tmp_path))


def test_bad_folder_arguments_are_errors_naming_them(tmp_path):
    with pytest.raises(xw.XWidgetsError, match="root"):
        xw.data.folder(3)
    with pytest.raises(xw.XWidgetsError, match="extensions"):
        xw.data.folder(tmp_path, extensions=".png")


@pytest.fixture
def scratch(tmp_path):
    """A scratch folder in memory (/dev/shm) where the machine has one: making 50,000 files on a busy disk takes
    a minute, and the test times the listing, not the disk. Else ``tmp_path``."""
    if not os.path.isdir("/dev/shm"):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="xw-sources-") as folder:
        yield Path(folder)


def test_listing_50000_files_is_quick_and_opens_none(scratch, monkeypatch):
    for c in range(10):
        os.mkdir(scratch / f"class{c:02d}")
        for i in range(5000):  # empty files: any decode would fail, and none is attempted here
            os.close(os.open(scratch / f"class{c:02d}" / f"{i:05d}.jpg", os.O_CREAT | os.O_WRONLY))
    opened = []
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a))
    start = time.perf_counter()
    source = xw.data.folder(scratch)
    seconds = time.perf_counter() - start
    assert len(source) == 50_000 and source.item(49_999).id == "class09/04999.jpg"
    assert source.item(49_999).label == 9
    assert opened == []
    assert seconds < 1.0, f"listing 50,000 files took {seconds:.2f} s"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("L", 100 / 255), ("LA", 100 / 255), ("RGBA", 100 / 255), ("P", None), ("I;16", 100 * 257 / 65535), ("1", 1.0)],
)
def test_grey_alpha_palette_16_bit_and_bilevel_images_are_converted_to_rgb(tmp_path, mode, expected):
    path = write_image(tmp_path / f"{mode.replace(';', '')}.png", mode=mode)
    image = xw.data.paths([path]).load(0)
    assert image.shape == (3, 24, 20) and image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    if expected is not None:
        assert torch.allclose(image, torch.full_like(image, expected), atol=1 / 255)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("truncated png", "corrupt or truncated"),
        ("truncated jpeg", "corrupt or truncated"),
        ("text named .jpg", "not an image file"),
        ("zero bytes", "empty file"),
        ("missing", "no such file"),
    ],
)
def test_a_broken_file_is_unreadable_naming_the_file_and_the_reason(broken_files, kind, reason):
    path = broken_files[kind]
    source = xw.data.paths([path])
    assert source.item(0).path == str(path)  # listing never opens the file
    with pytest.raises(UnreadableImage) as caught:
        source.load(0)
    assert isinstance(caught.value, xw.XWidgetsError)
    assert str(caught.value).startswith(f"{path}: ") and reason in str(caught.value)
    assert caught.value.where == str(path)


def test_a_folder_in_a_path_list_is_unreadable(tmp_path):
    with pytest.raises(UnreadableImage, match="a directory, not an image file"):
        xw.data.paths([tmp_path]).load(0)


def test_a_file_without_read_permission_is_unreadable(tmp_path, monkeypatch):
    path = write_image(tmp_path / "locked.png")
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads any file: refuse the open the way the system would for another user
        monkeypatch.setattr(Image, "open", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.raises(UnreadableImage, match=r"locked\.png: permission denied"):
        xw.data.paths([path]).load(0)


def test_paths_take_class_indices_or_names(tmp_path):
    files = [write_image(tmp_path / f"{i}.png") for i in range(3)]
    by_index = xw.data.paths(files, [2, 0, 1], classes=["a", "b", "c"])
    assert [by_index.item(i).label for i in range(3)] == [2, 0, 1] and by_index.classes == ["a", "b", "c"]
    by_name = xw.data.paths([str(f) for f in files], labels=["dog", "cat", "dog"])
    assert by_name.classes == ["cat", "dog"] and [by_name.item(i).label for i in range(3)] == [1, 0, 1]
    by_array = xw.data.paths(files, np.array([1, 1, 0]))
    assert by_array.classes is None and by_array.item(0).label == 1
    unlabelled = xw.data.paths(files)
    assert unlabelled.item(1) == xw.data.SourceItem(1, str(files[1]), str(files[1]), None)


def test_relative_paths_are_read_from_the_folder_they_were_given_in(tmp_path, monkeypatch):
    write_image(tmp_path / "sub" / "a.png")
    monkeypatch.chdir(tmp_path)
    source = xw.data.paths(["sub/a.png"])
    monkeypatch.chdir(tmp_path / "sub")
    assert source.item(0).id == "sub/a.png"
    assert source.load(0).shape == (3, 24, 20)


@pytest.mark.parametrize(
    ("args", "kwargs", "argument"),
    [
        (([],), {}, "paths"),
        (("one.png",), {}, "paths"),
        ((["a.png", 3],), {}, r"paths\[1\]"),
        ((["a.png", "b.png"], [0]), {}, "labels"),
        ((["a.png"], [3]), {"classes": ["x", "y"]}, "labels"),
        ((["a.png"], [-1]), {}, "labels"),
        ((["a.png"], ["owl"]), {"classes": ["cat"]}, "labels"),
        ((["a.png", "b.png"], [0, "cat"]), {}, "labels"),
        ((["a.png"],), {"classes": "cat"}, "classes"),
        ((["a.png"],), {"classes": ["a", "a"]}, "classes"),
    ],
)
def test_bad_path_lists_are_errors_naming_the_argument(args, kwargs, argument):
    with pytest.raises(xw.XWidgetsError, match=rf"^{argument}"):
        xw.data.paths(*args, **kwargs)


@pytest.mark.parametrize("index", [-1, 5, 2.0, True, "0"])
def test_a_bad_index_is_an_error_naming_index(class_folder, index):
    source = xw.data.folder(class_folder)
    for read in (source.item, source.load):
        with pytest.raises(xw.XWidgetsError, match=r"^index"):
            read(index)


def test_the_fingerprint_follows_the_files_not_the_location(class_folder, tmp_path):
    before = xw.data.folder(class_folder).fingerprint()
    assert xw.data.folder(class_folder).fingerprint() == before
    moved = class_folder.rename(tmp_path / "moved")
    assert xw.data.folder(moved).fingerprint() == before
    write_image(moved / "dog" / "3.bmp", size=(40, 40))  # same name, other size
    assert xw.data.folder(moved).fingerprint() != before
