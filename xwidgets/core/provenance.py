"""What a result records so that it can be reproduced bit for bit, and the call that reproduces it.

``xw.explain`` and ``xw.fit`` run a method through :func:`run_recorded`, which fills the result's ``provenance``
(saved in its manifest with the method, every parameter, the seed and the library versions):

- ``model``: name, class, ``fingerprint`` (:func:`model_fingerprint`, of the weights), ``device`` and ``dtype``;
- ``images``: the fingerprint, shape and dtype of the input images as the kernel reads them (per-image methods:
  after ``to_batch`` with the call's ``size``; dataset methods: every image prepared for the model);
- ``inputs``: a fingerprint of each other input of the method (a pair method's ``reference``, ``captions``,
  ``attribute_model``);
- ``method`` (the registry's name) and ``arguments``: the call's keyword arguments (parameters, ``seed=``,
  ``size=``, a kernel's ``layer=``) as given; ``target``: the target as given (None, an int, a name, a list of
  them; a ``Target`` as its description);
- ``torch_threads``: torch's thread count. On the CPU most kernels give the same bits on any count, but oneDNN's
  backward pass of a strided convolution does not (on this machine: batches of 3 on 1 and on 2 threads), so the
  gradient methods (``pair_mask``, the summaries' masks) depend on it. :func:`reproduce` re-runs on this count.

:func:`reproduce` takes a saved result (or its path), the same model and the same images, checks their fingerprints
against the manifest and returns a bit-identical result on the same device, dtype and library versions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from .errors import XWidgetsError, invalid
from .images import to_batch
from .methods import MethodSpec, get_spec
from .models import Model
from .results import Result
from .sources import image_count, read_images
from .targets import ClassTarget, Target

__all__ = ["model_fingerprint", "tensor_fingerprint", "provenance", "run_recorded", "reproduce", "torch_threads"]

FINGERPRINT_DIGITS = 16
"""Hex digits kept of a sha256 fingerprint (64 bits: a collision among a million files is below 1e-7)."""
_READ_CHUNK = 64  # images read at a time to fingerprint a dataset
_MODEL_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_fingerprint(model: Model) -> str:
    """16 hex digits of the sha256 of the model's state_dict: every tensor's name, dtype, shape and bytes.

    Cached per module until a tensor of its state is replaced or changed in place (its ``_version`` moves), so an
    explorer's every run does not hash the weights again.
    """
    state = model.module.state_dict()
    key = tuple((name, t.data_ptr(), t._version) for name, t in sorted(state.items()))
    cached = _MODEL_FINGERPRINTS.get(model.module)
    if cached is not None and cached[0] == key:
        return cached[1]
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(_tensor_bytes(tensor))
    fingerprint = digest.hexdigest()[:FINGERPRINT_DIGITS]
    _MODEL_FINGERPRINTS[model.module] = (key, fingerprint)
    return fingerprint


def tensor_fingerprint(*tensors: torch.Tensor) -> str:
    """16 hex digits of the sha256 of ``tensors``' dtypes, shapes and bytes, in order."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(f"{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(_tensor_bytes(tensor))
    return digest.hexdigest()[:FINGERPRINT_DIGITS]


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes()


def _input_fingerprint(name: str, arguments: Mapping[str, Any]) -> str:
    """The fingerprint of the input ``name`` among a call's keyword ``arguments``: a pair method's ``reference``
    as the pixels its kernel reads, anything else by :func:`_value_fingerprint`."""
    if name == "reference":
        return tensor_fingerprint(to_batch(arguments[name], size=arguments.get("size"), name=name))
    return _value_fingerprint(arguments[name])


def _value_fingerprint(value: object) -> str:
    """A fingerprint of a method input besides the images: a model's weights, a result's manifest and tensors, a
    tensor's bytes, or the JSON of anything else (captions)."""
    if isinstance(value, Model):
        return model_fingerprint(value)
    if isinstance(value, torch.Tensor):
        return tensor_fingerprint(value)
    if isinstance(value, Result):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        tensors = [v for v in fields.values() if isinstance(v, torch.Tensor)]
        kept = {k: v for k, v in fields.items() if not isinstance(v, torch.Tensor) and k not in _CALL_FIELDS}
        return _json_fingerprint(kept) + tensor_fingerprint(*tensors)[: FINGERPRINT_DIGITS // 2]
    return _json_fingerprint(value)


_CALL_FIELDS = ("timings", "versions", "provenance")  # what a result records of its call, not of its content


def _json_fingerprint(value: object) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_DIGITS]


def _images_record(spec: MethodSpec, model: Model, images: object, size: object) -> dict[str, Any]:
    """The fingerprint, shape and dtype of the images the kernel read."""
    if spec.kind != "dataset":
        try:
            batch = to_batch(images, size=size)  # type: ignore[arg-type]
        except XWidgetsError:  # images of mixed sizes for a model that resizes them: one fingerprint over each
            if not isinstance(images, (list, tuple)):
                raise
            parts = [to_batch(image) for image in images]
            digest = hashlib.sha256("".join(tensor_fingerprint(part) for part in parts).encode())
            shapes = [list(part.shape[1:]) for part in parts]
            return {"fingerprint": digest.hexdigest()[:FINGERPRINT_DIGITS], "shape": shapes, "dtype": "torch.float32"}
        return {"fingerprint": tensor_fingerprint(batch), "shape": list(batch.shape), "dtype": str(batch.dtype)}
    if images is None:
        return {"fingerprint": None, "shape": None, "dtype": None}
    count, digest, shape, dtype = image_count(images), hashlib.sha256(), None, None
    for start in range(0, count, _READ_CHUNK):
        chunk = read_images(model, images, start, min(start + _READ_CHUNK, count)).cpu()
        digest.update(_tensor_bytes(chunk))
        shape, dtype = [count, *chunk.shape[1:]], str(chunk.dtype)
    return {"fingerprint": digest.hexdigest()[:FINGERPRINT_DIGITS], "shape": shape, "dtype": dtype}


def _target_record(target: object) -> object:
    """The target as JSON: None, an int, a name or a list of them as given; a Target as its description."""
    if isinstance(target, torch.Tensor):
        return target.tolist()
    if isinstance(target, Target):
        return target.describe()
    if isinstance(target, (list, tuple)):
        return [_target_record(t) for t in target]
    return int(target) if hasattr(target, "__index__") and not isinstance(target, (bool, str)) else target


def _arguments_record(spec: MethodSpec, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the call as JSON (tuples as lists), without ``progress`` and the inputs that are
    fingerprinted instead; a value JSON cannot hold is recorded as ``{"unrecorded": repr}``."""
    recorded = {}
    for name, value in arguments.items():
        if name == "progress" or name in spec.inputs:
            continue
        try:
            recorded[name] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            recorded[name] = {"unrecorded": repr(value)[:200]}
    return recorded


def provenance(
    spec: MethodSpec, model: Model, images: object, target: object, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """What a result of ``spec`` run on ``model``, ``images`` and ``target`` with keyword ``arguments`` records
    to be reproduced (see the module's docstring), JSON-safe."""
    return {
        "method": spec.name,
        "arguments": _arguments_record(spec, arguments),
        "model": {
            "name": model.name,
            "class": type(model).__name__,
            "fingerprint": model_fingerprint(model),
            "device": str(model.device),
            "dtype": str(model.dtype).removeprefix("torch."),
        },
        "images": _images_record(spec, model, images, arguments.get("size")),
        "inputs": {name: _input_fingerprint(name, arguments) for name in spec.inputs if name in arguments},
        "target": _target_record(target),
        "torch_threads": torch.get_num_threads(),
    }


def run_recorded(spec: MethodSpec, model: Model, images: object, target: object = None, **arguments: Any) -> Any:
    """Run ``spec``'s kernel on ``model`` and ``images`` and record its :func:`provenance` in the result's
    ``provenance`` field (a result without one, e.g. a dataset method's fitted object of another type, is returned
    as the kernel returned it)."""
    result = spec.kernel(model, images, target, **arguments)
    if isinstance(result, Result):
        result.provenance = provenance(spec, model, images, target, arguments)
    return result


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with torch's intra-op thread count set to ``count``, then restore it."""
    before = torch.get_num_threads()
    if count != before:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def reproduce(saved: Result | str | Path, model: Model, images: object, **inputs: Any) -> Result:
    """Run again the call that made ``saved`` (a result, or the path of a saved one) on ``model`` and ``images``.

    The method, its parameters, the seed, the target, ``size`` and the thread count come from ``saved``'s manifest;
    ``model`` and ``images`` (a per-image method's images, a dataset method's data) must have the fingerprints it
    records, and ``inputs`` gives the method's other inputs (``reference=``, ``captions=``, ``attribute_model=``),
    checked the same way. A target the manifest cannot rebuild (a similarity to an embedding, a callable) is passed
    as ``target=``. On the device, dtype and library versions it records, the result is bit-identical.

    Raises:
        XWidgetsError: naming ``saved`` for a result that records no provenance (made by a kernel called
            directly, or saved by an older xwidgets); ``model``, ``images`` or the input whose fingerprint
            differs; ``target`` when the recorded target cannot be rebuilt and none is given.
    """
    result = saved if isinstance(saved, Result) else Result.load(saved)
    record = result.provenance
    if not record:
        raise invalid("saved", f"a {type(result).__name__} without provenance", "a result made by xw.explain or xw.fit")
    spec = get_spec(record["method"])
    _check_fingerprint("model", record["model"]["fingerprint"], model_fingerprint(model))
    target = inputs.pop("target") if "target" in inputs else _rebuilt_target(record["target"])
    arguments = {**_rebuilt_arguments(record["arguments"], inputs), **inputs, "progress": False}
    images_now = _images_record(spec, model, images, arguments.get("size"))
    _check_fingerprint("images", record["images"]["fingerprint"], images_now["fingerprint"])
    for name, fingerprint in record["inputs"].items():
        if name not in inputs:
            raise invalid(name, "nothing", f"the {name}= the saved result was made with")
        _check_fingerprint(name, fingerprint, _input_fingerprint(name, arguments))
    with torch_threads(record["torch_threads"]):
        return run_recorded(spec, model, images, target, **arguments)


def _rebuilt_arguments(recorded: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded keyword arguments as a call takes them (``size`` as a tuple); one recorded only as its repr
    must be among ``given``."""
    arguments = {}
    for name, value in recorded.items():
        if isinstance(value, dict) and set(value) == {"unrecorded"}:
            if name not in given:
                raise invalid(name, f"nothing (the manifest holds only {value['unrecorded']})", f"{name}= given")
            continue
        arguments[name] = tuple(value) if name == "size" and isinstance(value, list) else value
    return arguments


def _check_fingerprint(name: str, recorded: object, found: object) -> None:
    if recorded != found:
        raise invalid(name, f"fingerprint {found}", f"the fingerprint the saved result records, {recorded}")


def _rebuilt_target(recorded: object) -> object:
    """The target a manifest records, as a call takes it; a description of another Target cannot be rebuilt."""
    if not isinstance(recorded, dict):
        return recorded
    if recorded.get("type") == "ClassTarget":
        return ClassTarget(recorded["classes"], score=recorded.get("score", "probability"))
    raise invalid("target", f"a saved {recorded.get('type')} ({recorded})", "target= given to reproduce")
