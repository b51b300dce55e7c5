"""A seed gives bit-identical results on the CPU for every registered method, and a saved manifest reproduces them.

Every method of ``xwidgets.core.methods.specs()`` runs with its quick settings and a fixed seed on the toy world
(a dataset method is fitted, then explains three images). Checked:

- twice in one process: every tensor equal bit for bit, every other field equal except the timings;
- in a second process on the same torch thread count (this file run as a script saves every result);
- from a saved file alone: ``xw.reproduce(path, model, images)`` gives the same bits, even when this process now runs
  on another thread count (the manifest records the count, and oneDNN's backward pass of a strided convolution
  rounds differently on 1 and 2 threads: ``pair_mask`` and ``summaries`` change without it);
- toy images do not depend on the thread count (the renderer's bilinear upsampling used to: every dataset method
  fitted on toy birds changed with it).

Run as a script, ``python tests/reliability/test_determinism.py FOLDER THREADS`` saves every result in FOLDER.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch

import xwidgets as xw
from xwidgets.core.errors import XWidgetsError
from xwidgets.core.methods import MethodSpec, specs
from xwidgets.core.provenance import model_fingerprint, reproduce, torch_threads
from xwidgets.core.results import Result

SEED = 18021
DATASET_IMAGES = 110  # 10 per species: every class is in the data a dataset method fits on
NOT_COMPARED = {"timings"}  # wall-clock seconds: the only field allowed to differ between two runs
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class World:
    """The toy models and images every method runs on."""

    classifier: xw.Classifier
    embedder: xw.Embedder
    images: torch.Tensor
    queries: torch.Tensor
    references: torch.Tensor
    data: object
    inputs: dict

    @classmethod
    def build(cls) -> World:
        pairs = xw.toy.pairs(3, seed=SEED)
        data = xw.toy.dataset(DATASET_IMAGES, seed=SEED + 1)
        return cls(
            classifier=xw.toy.classifier(),
            embedder=xw.toy.embedder(),
            images=xw.toy.dataset(3, seed=SEED).images(),
            queries=torch.stack([p.first.tensor for p in pairs]),
            references=torch.stack([p.second.tensor for p in pairs]),
            data=data,
            inputs={"attribute_model": xw.toy.attribute_model(), "captions": xw.toy.captions(data)},
        )

    def model(self, spec: MethodSpec):
        return self.embedder if spec.kind == "pair" else self.classifier

    def given(self, spec: MethodSpec) -> object:
        """What the call explains: the data a dataset method fits on, else the (query) images."""
        return self.data if spec.kind == "dataset" else self.queries if spec.kind == "pair" else self.images

    def arguments(self, spec: MethodSpec) -> dict:
        """The call's keywords: quick settings, the fixed seed where the method takes one, its inputs."""
        seeded = {"seed": SEED} if "seed" in inspect.signature(spec.kernel).parameters else {}
        inputs = {name: self.inputs[name] for name in spec.inputs if name != "reference"}
        if "reference" in spec.inputs:
            inputs["reference"] = self.references
        return {"progress": False, **spec.quick, **seeded, **inputs}

    def run(self, spec: MethodSpec) -> dict[str, Result]:
        """``{name: result}`` of one method: ``name`` for the call's result, ``name.explain`` for a fitted dataset
        method's explanation of :attr:`images`."""
        arguments = self.arguments(spec)
        if spec.kind == "dataset":
            fitted = xw.fit(self.classifier, self.data, self.target(spec), method=spec.name, **arguments)
            return {spec.name: fitted, f"{spec.name}.explain": fitted.explain(self.images)}
        if spec.kind == "pair":
            reference = arguments.pop("reference")
            result = xw.explain(self.embedder, self.queries, reference=reference, method=spec.name, **arguments)
            return {spec.name: result}
        return {spec.name: xw.explain(self.classifier, self.images, method=spec.name, **arguments)}

    def target(self, spec: MethodSpec) -> int | None:
        return int(self.data.samples[0].species) if spec.kind == "dataset" else None

    def run_all(self) -> dict[str, Result]:
        results: dict[str, Result] = {}
        for spec in specs():
            results.update(self.run(spec))
        return results


def save_all(results: Mapping[str, Result], folder: Path) -> None:
    for name, result in results.items():
        result.save(folder / f"{name}.xwr")


# ---------------------------------------------------------------------------------------------------- comparison


def differences(a: object, b: object, where: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ: tensors bit for bit (NaN equal to NaN), dataclass fields but
    :data:`NOT_COMPARED`, mappings by key, sequences (tuples and lists alike: a file knows lists) item by item."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            return [f"{where}: {type(a).__name__} against {type(b).__name__}"]
        return [
            d
            for f in dataclasses.fields(a)
            if f.name not in NOT_COMPARED
            for d in differences(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
        ]
    if isinstance(a, torch.Tensor):
        same = (
            isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and (torch.equal(a, b) or (a.is_floating_point() and torch.allclose(a, b, 0, 0, equal_nan=True)))
        )
        return [] if same else [f"{where}: tensors differ"]
    if isinstance(a, Mapping):
        if not isinstance(b, Mapping) or set(a) != set(b):
            return [f"{where}: keys differ"]
        return [d for key in a for d in differences(a[key], b[key], f"{where}[{key!r}]")]
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return [f"{where}: {a!r:.80} against {b!r:.80}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    same = a == b or (isinstance(a, float) and a != a and isinstance(b, float) and b != b)
    return [] if same else [f"{where}: {a!r:.80} against {b!r:.80}"]


def assert_identical(first: Mapping[str, Result], second: Mapping[str, Result], what: str) -> None:
    assert set(first) == set(second), f"{what}: {sorted(first)} against {sorted(second)}"
    found = {name: differences(first[name], second[name], name) for name in first}
    found = {name: d for name, d in found.items() if d}
    assert not found, f"{what}: not bit-identical: " + json.dumps(found, indent=1)[:3000]


# ---------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world() -> World:
    return World.build()


@pytest.fixture(scope="module")
def first_run(world: World, tmp_path_factory) -> tuple[dict[str, Result], Path, int]:
    """Every method's results, saved, and the thread count they ran on."""
    folder = tmp_path_factory.mktemp("first")
    results = world.run_all()
    save_all(results, folder)
    return results, folder, torch.get_num_threads()


# ---------------------------------------------------------------------------------------------------- tests


def test_every_method_is_registered_here(first_run):
    assert xw.reproduce is reproduce
    results, _, _ = first_run
    expected = {s.name for s in specs()} | {f"{s.name}.explain" for s in specs("dataset")}
    assert set(results) == expected and len(expected) >= 17, sorted(results)


def test_twice_in_one_process_is_bit_identical(world, first_run):
    results, _, threads = first_run
    with torch_threads(threads):
        again = world.run_all()
    assert_identical(results, again, "a second run in this process")


def test_a_second_process_gives_the_same_bits(first_run, tmp_path):
    results, _, threads = first_run
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    script = Path(__file__).resolve()
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(threads)],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    other = {name: Result.load(tmp_path / f"{name}.xwr") for name in results}
    assert_identical(results, other, f"the results of another process on {threads} thread(s)")


def test_a_saved_manifest_records_everything_needed(first_run):
    _, folder, threads = first_run
    for spec in specs():
        loaded = Result.load(folder / f"{spec.name}.xwr")
        record = loaded.provenance
        assert record["method"] == spec.name and loaded.params and loaded.versions["torch"] == torch.__version__
        assert set(record) >= {"arguments", "model", "images", "inputs", "target", "torch_threads"}, record
        assert set(record["model"]) == {"name", "class", "fingerprint", "device", "dtype"}, record["model"]
        assert (record["model"]["device"], record["model"]["dtype"]) == ("cpu", "float32")
        assert len(record["model"]["fingerprint"]) == 16 and len(record["images"]["fingerprint"]) == 16
        assert record["torch_threads"] == threads
        assert set(record["inputs"]) == set(spec.inputs), (spec.name, record["inputs"])
        if "seed" in record["arguments"]:  # a deterministic method may take a seed and record None
            assert record["arguments"]["seed"] == SEED and loaded.seed in (SEED, None), spec.name


def test_reproduce_from_the_file_alone_on_another_thread_count(world, first_run):
    """``reproduce(path, model, images, **inputs)`` re-runs every method bit for bit while this process runs on
    another thread count than the saved run did: it runs on the recorded count."""
    results, folder, threads = first_run
    other_count = 2 if threads == 1 else 1
    reproduced = {}
    with torch_threads(other_count):
        for spec in specs():
            inputs = {k: v for k, v in world.arguments(spec).items() if k in spec.inputs}
            path = folder / f"{spec.name}.xwr"
            reproduced[spec.name] = reproduce(path, world.model(spec), world.given(spec), **inputs)
            assert torch.get_num_threads() == other_count, "reproduce did not restore the thread count"
    assert_identical({name: results[name] for name in reproduced}, reproduced, "reproduce from the saved file")


def test_reproduce_refuses_another_model_or_other_images(world, first_run):
    _, folder, _ = first_run
    path = folder / "gradcam.xwr"
    with pytest.raises(XWidgetsError) as refused:
        reproduce(path, world.classifier, world.images.flip(-1))
    assert refused.value.argument == "images" and "fingerprint" in str(refused.value)
    other = xw.Classifier(copy.deepcopy(world.classifier.module))
    assert model_fingerprint(other) == model_fingerprint(world.classifier)
    with torch.no_grad():
        next(other.module.parameters()).add_(1e-3)  # the cached fingerprint must see an in-place change
    assert model_fingerprint(other) != model_fingerprint(world.classifier)
    with pytest.raises(XWidgetsError) as refused:
        reproduce(path, other, world.images)
    assert refused.value.argument == "model"
    with pytest.raises(XWidgetsError) as refused:
        reproduce(folder / "sane.xwr", world.embedder, world.queries, reference=world.references)
    assert refused.value.argument == "attribute_model"


def test_toy_images_do_not_depend_on_the_thread_count():
    """The toy renderer's background upsampling (a bilinear ``F.interpolate``) rounds its last bit differently on
    one and on several threads; it runs on one thread, so every toy bird is the same on any count."""
    rendered = []
    for threads in (1, 2):
        with torch_threads(threads):
            rendered.append(xw.toy.dataset(24, seed=SEED + 2).images())
    assert torch.equal(rendered[0], rendered[1]), "toy images differ between 1 and 2 torch threads"


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[2]))
    save_all(World.build().run_all(), Path(sys.argv[1]))
