"""The result base class: tensors plus the method, every parameter, the seed, library versions and timings.

A method's result is a dataclass deriving from :class:`Result`. ``save(path)`` writes one file holding a JSON
manifest and the tensors; ``Result.load(path)`` returns an instance of the same subclass. Files are read with
``torch.load(weights_only=True)``, so loading never runs pickled code.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path
from typing import Any, TypeVar

import torch

from .errors import XWidgetsError, invalid

__all__ = ["Result", "library_versions", "FORMAT"]

FORMAT = "xwidgets-result"
FORMAT_VERSION = 1
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

    Subclasses add fields: tensors (saved as tensors, moved to the CPU) and JSON-safe values (saved in the
    manifest). Their class name identifies them in saved files, so keep it stable.
    """

    method: str
    params: dict[str, Any]
    seed: int | None = None
    versions: dict[str, str] = dataclasses.field(default_factory=library_versions)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

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
        """Write the result to one file (conventionally ``*.xwr``) and return its path."""
        path = Path(path)
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
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"manifest": text, "tensors": tensors}, path)
        return path

    @classmethod
    def load(cls: type[_R], path: str | Path) -> _R:
        """Read a file written by :meth:`save`; returns an instance of the saved subclass (``cls`` or a subclass
        of it)."""
        path = Path(path)
        if not path.is_file():
            raise invalid("path", f"'{path}', which is not a file", "a file written by Result.save")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            manifest = json.loads(payload["manifest"])
            tensors = payload["tensors"]
        except Exception:  # torch raises several types for files that are not ours
            raise invalid(
                "path", f"'{path}', which is not an xwidgets result file", "a file written by Result.save"
            ) from None
        if manifest.get("format") != FORMAT:
            raise invalid("path", f"'{path}' of format {manifest.get('format')!r}", f"format {FORMAT!r}")
        if manifest.get("format_version", 0) > FORMAT_VERSION:
            raise invalid(
                "path",
                f"format version {manifest['format_version']}",
                f"version {FORMAT_VERSION} or older (upgrade xwidgets to read it)",
            )
        kind = _REGISTRY.get(manifest["type"], Result if manifest["type"] == "Result" else None)
        if kind is None:
            raise invalid(
                "path",
                f"a saved {manifest['type']}",
                "a result type this xwidgets version knows (import the module that defines it first)",
            )
        if not (kind is cls or issubclass(kind, cls)):
            raise invalid("path", f"a saved {manifest['type']}", f"a {cls.__name__}")
        return kind(**manifest["fields"], **tensors)
