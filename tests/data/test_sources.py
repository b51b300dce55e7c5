"""as_source turns what a user passes into a source; from_description reopens what a run stored."""

import json

import pytest
import torch

import xwidgets as xw

from .images import write_image


def test_xw_data_exports_the_sources_interface():
    for name in (
        "folder",
        "paths",
        "torch_dataset",
        "toy",
        "as_source",
        "from_description",
        "SourceItem",
        "ImageSource",
        "UnreadableImage",
        "PreparedImages",
        "PreparedBatch",
        "collate_prepared",
    ):
        assert hasattr(xw.data, name), name
    assert issubclass(xw.data.UnreadableImage, xw.XWidgetsError)
    from xwidgets.data import sources

    assert sources.as_source is xw.data.as_source and sources.PreparedImages is xw.data.PreparedImages


def test_as_source_coerces_each_kind(class_folder, tmp_path):
    toy = xw.data.toy(2)
    assert xw.data.as_source(toy) is toy
    assert xw.data.as_source(class_folder).kind == "folder"
    assert xw.data.as_source(str(class_folder)).classes == ["cat", "dog", "empty"]
    files = [write_image(tmp_path / "a.png"), str(write_image(tmp_path / "b.png"))]
    assert xw.data.as_source(files).kind == "paths"
    assert xw.data.as_source(tuple(files)).kind == "paths"
    toy_dataset = xw.data.as_source(xw.toy.dataset(2, seed=1))
    assert toy_dataset.kind == "toy" and toy_dataset.ground_truth(0) is not None
    pairs = torch.utils.data.TensorDataset(torch.rand(2, 3, 4, 4), torch.tensor([1, 0]))
    assert xw.data.as_source(pairs).kind == "torch"
    assert xw.data.as_source([torch.rand(3, 4, 4), torch.rand(3, 4, 4)]).kind == "torch"
    assert xw.data.as_source(torch.rand(2, 3, 4, 4)).kind == "tensor"
    assert xw.data.folder(class_folder).ground_truth(0) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (42, "int"),
        ({"a": 1}, "dict"),
        ([], "empty list"),
        (torch.rand(3, 4, 4), r"\[N, 3, H, W\]"),
        (torch.rand(2, 5, 4, 4), r"\[N, 3, H, W\]"),
    ],
)
def test_as_source_refuses_anything_else_naming_the_argument(value, words):
    with pytest.raises(xw.XWidgetsError, match=rf"^images: .*{words}"):
        xw.data.as_source(value, name="images")


def test_as_source_refuses_a_missing_path_and_a_single_file(tmp_path):
    with pytest.raises(xw.XWidgetsError, match=r"^source: .*does not exist"):
        xw.data.as_source(tmp_path / "nowhere")
    with pytest.raises(xw.XWidgetsError, match=r"^source: .*pass a list of paths"):
        xw.data.as_source(write_image(tmp_path / "one.png"))


def test_folder_and_path_sources_reopen_from_their_json_description(class_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "rel" / "x.png")
    sources = [
        xw.data.folder(class_folder, extensions=[".png", ".jpg"]),
        xw.data.paths(["rel/x.png", class_folder / "cat" / "b.png"], ["bird", "cat"]),
        xw.data.paths(["rel/x.png"]),
    ]
    for source in sources:
        description = json.loads(json.dumps(source.describe()))
        monkeypatch.chdir(class_folder)  # relative paths stay relative to where they were given
        reopened = xw.data.from_description(description)
        monkeypatch.chdir(tmp_path)
        assert type(reopened) is type(source) and reopened.describe() == source.describe()
        assert reopened.classes == source.classes and reopened.fingerprint() == source.fingerprint()
        assert [reopened.item(i) for i in range(len(source))] == [source.item(i) for i in range(len(source))]
        assert torch.equal(reopened.load(0), source.load(0))


def test_torch_and_tensor_sources_do_not_reopen():
    tensor = xw.data.as_source(torch.rand(2, 3, 4, 4))
    dataset = xw.data.torch_dataset([torch.rand(3, 4, 4)])
    for source in (tensor, dataset):
        description = source.describe()
        assert json.loads(json.dumps(description)) == description
        assert xw.data.from_description(description) is None


def test_a_bad_description_is_an_error_naming_it(tmp_path):
    for description in ({"kind": "video"}, "folder", {"kind": "folder"}):
        with pytest.raises(xw.XWidgetsError, match=r"^description"):
            xw.data.from_description(description)
    with pytest.raises(xw.XWidgetsError, match=r"^root.*does not exist"):
        xw.data.from_description({"kind": "folder", "root": str(tmp_path / "gone"), "extensions": [".png"]})


def test_fingerprints_tell_sources_apart(tmp_path):
    files = [write_image(tmp_path / f"{i}.png") for i in range(3)]
    base = xw.data.paths(files).fingerprint()
    assert len(base) == 16 and int(base, 16) >= 0
    assert xw.data.paths(files).fingerprint() == base
    assert xw.data.paths(files[:2]).fingerprint() != base
    assert xw.data.paths(files, [0, 1, 0]).fingerprint() != base
    assert xw.data.toy(3, seed=0).fingerprint() != xw.data.toy(3, seed=1).fingerprint()
    assert xw.data.toy(3, seed=0).fingerprint() == xw.data.toy(3, seed=0).fingerprint()
