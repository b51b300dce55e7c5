import dataclasses
import json

import pytest
import torch

import xwidgets
from xwidgets.core import Result
from xwidgets.core.errors import InvalidArgument, XWidgetsError


@dataclasses.dataclass
class ToyMapResult(Result):
    saliency: torch.Tensor = None
    classes: list = dataclasses.field(default_factory=list)


def test_save_load_round_trip(tmp_path):
    saliency = torch.rand(2, 1, 5, 5)
    result = ToyMapResult(
        method="toy",
        params={"steps": 3, "baseline": "blur"},
        seed=7,
        timings={"total": 0.25},
        saliency=saliency,
        classes=[1, 4],
    )
    path = result.save(tmp_path / "r.xwr")
    loaded = Result.load(path)
    assert type(loaded) is ToyMapResult
    assert torch.equal(loaded.saliency, saliency)
    assert (loaded.method, loaded.params, loaded.seed, loaded.classes) == ("toy", result.params, 7, [1, 4])
    assert loaded.versions["xwidgets"] == xwidgets.__version__ and loaded.versions["torch"] == torch.__version__
    assert loaded.timings == {"total": 0.25}
    manifest = loaded.manifest()
    assert manifest["tensor_shapes"] == {"saliency": [2, 1, 5, 5]} and json.dumps(manifest)
    assert ToyMapResult.load(path).classes == [1, 4]


def test_load_rejects_other_files(tmp_path):
    with pytest.raises(InvalidArgument, match="not a file"):
        Result.load(tmp_path / "missing.xwr")
    junk = tmp_path / "junk.xwr"
    junk.write_bytes(b"\x00junk")
    with pytest.raises(InvalidArgument, match="not an xwidgets result"):
        Result.load(junk)
    plain = tmp_path / "plain.xwr"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(InvalidArgument, match="not an xwidgets result"):
        Result.load(plain)


def test_unserialisable_field_is_reported(tmp_path):
    bad = ToyMapResult(method="toy", params={"fn": object()}, saliency=torch.zeros(1))
    with pytest.raises(XWidgetsError, match="JSON-safe"):
        bad.save(tmp_path / "bad.xwr")


def test_loading_as_the_wrong_subclass(tmp_path):
    @dataclasses.dataclass
    class OtherResult(Result):
        pass

    path = ToyMapResult(method="toy", params={}, saliency=torch.zeros(1)).save(tmp_path / "r.xwr")
    with pytest.raises(InvalidArgument, match="a OtherResult"):
        OtherResult.load(path)
