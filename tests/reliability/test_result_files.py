"""Result files: saving is atomic, and every file that is not a whole result of the asked type is refused clearly.

- A process SIGKILLed in the middle of ``Result.save`` (its writes slowed down) leaves the old file whole and
  loadable; its temporary file never has the final name, and a later save and load ignore it.
- A save that raises leaves the old file and no temporary file; figures and exported pages are written the same way.
- ``load`` of a directory, a missing file, an empty file, random bytes, a truncated file, a newer format version,
  a result of another type (a SAG result loaded as a heatmap result), a file missing a tensor, a plain
  ``torch.save`` of a dict and a pickle each raise an ``InvalidArgument`` naming ``path``, saying what was found
  and what is expected; the pickle is never run.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import pytest
import torch

import xwidgets as xw
from xwidgets.core.atomic import PARTIAL_SUFFIX, write_atomic
from xwidgets.core.errors import InvalidArgument
from xwidgets.core.results import FORMAT_VERSION, Result
from xwidgets.figures import save_figure
from xwidgets.heatmaps.igos import IGOSResult
from xwidgets.heatmaps.result import SaliencyResult
from xwidgets.sag.sag import SAGResult

matplotlib.use("Agg")

REPOSITORY = Path(__file__).resolve().parents[2]

# The child saves a 4 MB result onto PATH, its torch.save writing 64 KB every 20 ms (about 1.3 s in all); it prints
# "writing" once the first bytes are in the temporary file, so the parent can kill it mid-save.
SLOW_SAVE = """
import sys, time, torch
from xwidgets.heatmaps.result import SaliencyResult
real_save = torch.save

def slow_save(payload, handle):
    buffer = __import__("io").BytesIO()
    real_save(payload, buffer)
    data = buffer.getvalue()
    for start in range(0, len(data), 65536):
        handle.write(data[start:start + 65536])
        handle.flush()
        if start == 0:
            print("writing", flush=True)
        time.sleep(0.02)

torch.save = slow_save
new = SaliencyResult(method="new", params={}, saliency=torch.rand(1000, 1, 32, 32))
new.save(sys.argv[1])
print("saved", flush=True)
"""


def saliency_result(method: str = "old", rows: int = 2) -> SaliencyResult:
    generator = torch.Generator().manual_seed(rows)
    return SaliencyResult(method=method, params={"rows": rows}, saliency=torch.rand(rows, 1, 8, 8, generator=generator))


def partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(PARTIAL_SUFFIX))


def refused(path: Path, *found: str, kind: type[Result] = Result) -> InvalidArgument:
    """``kind.load(path)`` raises InvalidArgument naming ``path``, with the path and each of ``found`` in the
    message and what is expected."""
    with pytest.raises(InvalidArgument) as error:
        kind.load(path)
    message = str(error.value)
    assert error.value.argument == "path", message
    assert str(path) in message, message
    for word in found:
        assert word in message, f"{word!r} not in {message!r}"
    assert "expected" in message, message
    return error.value


# ---------------------------------------------------------------------------------------------------- atomic save


def test_a_process_killed_mid_save_leaves_the_old_file(tmp_path):
    path = tmp_path / "result.xwr"
    old = saliency_result()
    old.save(path)
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().decode()
        assert line.strip() == "writing", line + child.stderr.read().decode()[-2000:]
        time.sleep(0.1)
        (stale,) = partials(tmp_path)  # the child is still writing its temporary file
        assert stale.stat().st_size > 0
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    loaded = Result.load(path)
    assert loaded.method == "old" and torch.equal(loaded.saliency, old.saliency)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(PARTIAL_SUFFIX)] == ["result.xwr"]
    (stale,) = partials(tmp_path)
    refused(stale, "truncated or damaged")  # the half-written file itself is refused, clearly
    new = saliency_result("new", rows=3)
    new.save(path)  # a later save ignores the stale temporary file ...
    assert torch.equal(Result.load(path).saliency, new.saliency)  # ... and so does a load
    assert partials(tmp_path) == [stale], "a save left a temporary file of its own"


def test_a_save_that_raises_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "result.xwr"
    old = saliency_result()
    old.save(path)

    def half_then_fail(payload, handle):
        handle.write(b"PK\x03\x04 half of an archive")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        saliency_result("new").save(path)
    monkeypatch.undo()
    assert Result.load(path).method == "old" and partials(tmp_path) == []


def test_figures_are_written_atomically(tmp_path):
    """A figure whose drawing fails leaves the previous PNG whole and no temporary file."""
    path = tmp_path / "figure.png"
    result = saliency_result()
    result.images = torch.rand(2, 3, 8, 8)
    result.figure(0, path=path)
    before = path.read_bytes()
    broken = matplotlib.figure.Figure()
    broken.savefig = lambda *_, **__: (_ for _ in ()).throw(RuntimeError("drawing failed"))
    with pytest.raises(RuntimeError, match="drawing failed"):
        save_figure(broken, path)
    assert path.read_bytes() == before and partials(tmp_path) == []


def test_write_atomic_keeps_the_file_mode_of_a_plain_write(tmp_path):
    plain, atomic = tmp_path / "plain", tmp_path / "atomic"
    plain.write_bytes(b"x")
    write_atomic(atomic, lambda handle: handle.write(b"x"))
    assert atomic.stat().st_mode == plain.stat().st_mode


# ---------------------------------------------------------------------------------------------------- clear load errors


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """A real SAG result and a real Grad-CAM result, saved."""
    folder = tmp_path_factory.mktemp("saved")
    model, images = xw.toy.classifier(), xw.toy.dataset(1, seed=3).images()
    quick = xw.core.methods.get_spec("sag").quick
    sag = xw.explain(model, images, method="sag", progress=False, **quick)
    gradcam = xw.explain(model, images, method="gradcam", progress=False)
    return {"sag": sag.save(folder / "sag.xwr"), "gradcam": gradcam.save(folder / "gradcam.xwr")}


def rewritten(source: Path, target: Path, change) -> Path:
    """``source``'s payload (manifest as a dict, tensors) changed by ``change(manifest, tensors)`` and saved
    as ``target`` in the same format."""
    payload = torch.load(source, weights_only=True)
    manifest, tensors = json.loads(payload["manifest"]), dict(payload["tensors"])
    change(manifest, tensors)
    torch.save({"manifest": json.dumps(manifest), "tensors": tensors}, target)
    return target


def test_a_directory_or_a_missing_file(tmp_path):
    refused(tmp_path, "a directory")
    refused(tmp_path / "missing.xwr", "does not exist")


def test_an_empty_file(tmp_path):
    empty = tmp_path / "empty.xwr"
    empty.write_bytes(b"")
    refused(empty, "empty file")


def test_random_bytes(tmp_path):
    junk = tmp_path / "junk.xwr"
    noise = torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    junk.write_bytes(noise.numpy().tobytes())
    refused(junk, "not an xwidgets result file", "4,096 bytes")


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.999])
def test_a_truncated_file(saved, tmp_path, fraction):
    whole = saved["gradcam"].read_bytes()
    truncated = tmp_path / "truncated.xwr"
    truncated.write_bytes(whole[: int(len(whole) * fraction)])
    refused(truncated, "truncated or damaged")


def test_a_file_of_a_newer_format_version(saved, tmp_path):
    def newer(manifest, tensors):
        manifest["format_version"] = FORMAT_VERSION + 1

    path = rewritten(saved["gradcam"], tmp_path / "newer.xwr", newer)
    refused(path, f"format version {FORMAT_VERSION + 1}", "newer xwidgets", "upgrade xwidgets")


@pytest.mark.parametrize("kind", [SaliencyResult, IGOSResult])
def test_a_sag_result_loaded_as_a_heatmap_result(saved, kind):
    error = refused(saved["sag"], "a saved SAGResult", kind=kind)
    assert f"a {kind.__name__}" in str(error) and "SAGResult.load" in str(error)
    assert isinstance(SAGResult.load(saved["sag"]), SAGResult)
    refused(saved["gradcam"], "a saved SaliencyResult", kind=SAGResult)


def test_a_file_missing_a_tensor(saved, tmp_path):
    path = rewritten(saved["gradcam"], tmp_path / "missing.xwr", lambda manifest, tensors: tensors.pop("saliency"))
    refused(path, "missing the tensor(s) ['saliency']")


def test_a_tensor_of_the_wrong_shape(saved, tmp_path):
    def cropped(manifest, tensors):
        tensors["saliency"] = tensors["saliency"][..., :10]

    refused(rewritten(saved["gradcam"], tmp_path / "cropped.xwr", cropped), "'saliency' is [1, 1, 112, 10]")


def test_a_plain_torch_save_of_a_dict(tmp_path):
    plain = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3), "bias": torch.zeros(1)}, plain)
    refused(plain, "a torch file holding keys ['bias', 'weight']", "no manifest")


class Payload:
    """Writes ``marker`` when unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pickled code ran"))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_is_refused_unread(tmp_path, protocol):
    marker = tmp_path / "marker"
    path = tmp_path / "pickled.xwr"
    path.write_bytes(pickle.dumps({"manifest": Payload(marker)}, protocol=protocol))
    refused(path, "not an xwidgets result file")
    assert not marker.exists(), "loading ran pickled code"


def test_a_torch_archive_holding_a_pickled_object(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "archive.xwr"
    buffer = io.BytesIO()
    torch.save({"manifest": "{}", "tensors": {}, "payload": Payload(marker)}, buffer)
    path.write_bytes(buffer.getvalue())
    refused(path, "objects other than tensors", "never unpickles")
    assert not marker.exists(), "loading ran pickled code"
