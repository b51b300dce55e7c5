"""The result base class: tensors plus the method, every parameter, the seed, library versions and timings.

A method's result is a dataclass deriving from :class:`Result`. ``save(path)`` writes one file holding a JSON
manifest and the tensors, atomically (:func:`~xwidgets.core.atomic.write_atomic`: a process killed mid-save leaves
the old file whole); ``Result.load(path)`` returns an instance of the same subclass.

A file is a zip archive written by ``torch.save``. Loading checks its first bytes before torch reads it (so a pickle
or any other file is refused unread), then reads it with ``torch.load(weights_only=True)``, so loading never runs
pickled code. Every file that is not a whole result of the asked type gets an error naming ``path``, what was
found (a directory, an empty file, a truncated archive, a plain torch file, a newer format, another result type, a
missing tensor) and what is expected.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import platform
from pathlib import Path
from typing import Any, TypeVar

import torch

from .atomic import write_atomic
from .errors import XWidgetsError, invalid

__all__ = ["Result", "library_versions", "FORMAT"]

FORMAT = "xwidgets-result"
FORMAT_VERSION = 1
EXPECTED = "a result file written by Result.save"
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's archive format; a pickle starts with b"\x80"
_REGISTRY: dict[str, type[Result]] = {}
_R = TypeVar("_R", bound="Result")


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a result depends on."""
    import numpy

    from .. import __version__

    return {
        "xwidgets": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


@dataclasses.dataclass(kw_only=True)
class Result:
    """Base of every method's result.

    Attributes:
        method: the method's name, e.g. ``"igos"``.
        params: every parameter the method ran with (defaults included), JSON-safe.
        seed: the seed of the method's local generator, or None for a deterministic method.
        versions: library versions at creation time (:func:`library_versions`).
        timings: seconds spent per named phase, e.g. ``{"optimise": 1.2}``.
        provenance: what reproduces the result with :func:`~xwidgets.core.provenance.reproduce`: the model's and
            the images' fingerprints, the device, dtype and torch thread count, the call's target and keyword
            arguments (filled by ``xw.explain`` and ``xw.fit``; empty for a kernel called directly).

    Subclasses add fields: tensors (saved as tensors, moved to the CPU) and JSON-safe values (saved in the
    manifest). Their class name identifies them in saved files, so keep it stable.
    """

    method: str
    params: dict[str, Any]
    seed: int | None = None
    versions: dict[str, str] = dataclasses.field(default_factory=library_versions)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def manifest(self) -> dict[str, Any]:
        """Every non-tensor field as a JSON-safe dict, plus the result type and tensor shapes."""
        values, shapes = {}, {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, torch.Tensor):
                shapes[field.name] = list(value.shape)
            else:
                values[field.name] = value
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "type": type(self).__name__,
            "fields": values,
            "tensor_shapes": shapes,
        }

    def save(self, path: str | Path) -> Path:
        """Write the result to one file (conventionally ``*.xwr``) atomically and return its path."""
        manifest = self.manifest()
        try:
            text = json.dumps(manifest)
        except TypeError as error:
            raise XWidgetsError(
                f"{type(self).__name__} has a field that is neither a tensor nor JSON-safe: {error}"
            ) from None
        tensors = {
            f.name: getattr(self, f.name).detach().cpu()
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        payload = {"manifest": text, "tensors": tensors}
        return write_atomic(path, lambda handle: torch.save(payload, handle))

    @classmethod
    def load(cls: type[_R], path: str | Path) -> _R:
        """Read a file written by :meth:`save`; returns an instance of the saved subclass (``cls`` or a subclass
        of it).

        Raises:
            InvalidArgument: naming ``path`` for anything else: no file or a directory, an empty, truncated or
                foreign file (a pickle is never unpickled), a torch file without a manifest, a file of a newer
                format version, a result of a type other than ``cls``, or one missing a tensor its manifest lists.
        """
        path = Path(path)
        manifest, tensors = _read(path)
        kind = _result_type(path, manifest, cls)
        fields = manifest.get("fields")
        if not isinstance(fields, dict):
            raise invalid("path", f"'{path}' with a manifest without fields", EXPECTED)
        _check_tensors(path, manifest, tensors)
        try:
            return kind(**fields, **tensors)
        except TypeError as error:
            raise invalid(
                "path", f"'{path}', a saved {kind.__name__} whose fields this version cannot take ({error})", EXPECTED
            ) from None


def _read(path: Path) -> tuple[dict, dict]:
    """The manifest and the tensors of the result file ``path``; InvalidArgument naming ``path`` otherwise."""
    if path.is_dir():
        raise invalid("path", f"'{path}', a directory", EXPECTED)
    if not path.is_file():
        raise invalid("path", f"'{path}', which is not a file (it does not exist)", EXPECTED)
    with open(path, "rb") as handle:
        head = handle.read(len(_ZIP_MAGIC))
    size = path.stat().st_size
    if size == 0:
        raise invalid("path", f"'{path}', an empty file (0 bytes)", EXPECTED)
    if head != _ZIP_MAGIC:
        what = "a pickle, which xwidgets never unpickles" if head[:1] == b"\x80" else "not a zip archive"
        raise invalid("path", f"'{path}', which is not an xwidgets result file ({size:,} bytes, {what})", EXPECTED)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # weights_only met an object other than tensors and plain values
        raise invalid(
            "path",
            f"'{path}', a torch file holding objects other than tensors, which xwidgets never unpickles "
            f"({str(error).splitlines()[0][:120]})",
            EXPECTED,
        ) from None
    except Exception as error:  # torch raises several types for archives it cannot read
        raise invalid(
            "path",
            f"'{path}', a truncated or damaged result file ({size:,} bytes; torch.load: {str(error)[:160]})",
            f"{EXPECTED} (a save that was interrupted leaves the previous file, never a part)",
        ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("manifest"), str):
        found = f"keys {sorted(map(str, payload))[:8]}" if isinstance(payload, dict) else type(payload).__name__
        raise invalid("path", f"'{path}', a torch file holding {found}: not an xwidgets result (no manifest)", EXPECTED)
    try:
        manifest = json.loads(payload["manifest"])
    except ValueError as error:
        raise invalid("path", f"'{path}' with a damaged manifest ({error})", EXPECTED) from None
    tensors = payload.get("tensors")
    if not isinstance(manifest, dict) or not isinstance(tensors, dict):
        raise invalid("path", f"'{path}' with a manifest or tensors of the wrong type", EXPECTED)
    return manifest, tensors


def _result_type(path: Path, manifest: dict, cls: type[Result]) -> type:
    """The result class ``manifest`` names, checked to be ``cls`` or a subclass and of a format this reads."""
    if manifest.get("format") != FORMAT:
        raise invalid("path", f"'{path}' of format {manifest.get('format')!r}", f"format {FORMAT!r}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise invalid("path", f"'{path}' with format_version={version!r}", f"an int, at most {FORMAT_VERSION}")
    if version > FORMAT_VERSION:
        raise invalid(
            "path",
            f"'{path}' of format version {version}, written by a newer xwidgets",
            f"format version {FORMAT_VERSION} or older (upgrade xwidgets to read it)",
        )
    name = manifest.get("type")
    kind = _REGISTRY.get(name, Result if name == "Result" else None) if isinstance(name, str) else None
    if kind is None:
        raise invalid(
            "path",
            f"'{path}', a saved {name}",
            "a result type this xwidgets version knows (import the module that defines it first)",
        )
    if not (kind is cls or issubclass(kind, cls)):
        raise invalid(
            "path",
            f"'{path}', a saved {name}",
            f"a {cls.__name__} (load it with {name}.load or Result.load)",
        )
    return kind


def _check_tensors(path: Path, manifest: dict, tensors: dict) -> None:
    """Every tensor the manifest lists is there with its shape, and nothing else is."""
    shapes = manifest.get("tensor_shapes")
    if not isinstance(shapes, dict):
        raise invalid("path", f"'{path}' with a manifest without tensor_shapes", EXPECTED)
    missing = [name for name in shapes if not isinstance(tensors.get(name), torch.Tensor)]
    if missing:
        raise invalid(
            "path",
            f"'{path}', a saved {manifest['type']} missing the tensor(s) {missing}",
            f"every tensor its manifest lists: {sorted(shapes)}",
        )
    for name, tensor in tensors.items():
        if name not in shapes or list(tensor.shape) != shapes[name]:
            expected = f"shape {shapes[name]}" if name in shapes else "only the tensors its manifest lists"
            raise invalid(
                "path", f"'{path}', a saved {manifest['type']} whose tensor {name!r} is {list(tensor.shape)}", expected
            )
