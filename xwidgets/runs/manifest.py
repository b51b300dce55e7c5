"""The manifest of a run store: its format, the fields that define a run, and atomic JSON files.

``manifest.json`` is written once, when a store is created. It names the method, its resolved parameters, the
seed, the target, the model (with a fingerprint of its weights), the source (with a fingerprint of its files),
the shard size and the array shapes. Two calls of ``explain_dataset`` may share a store only when every
:data:`DEFINING_FIELDS` value is equal: otherwise their records would silently mix.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.atomic import fsync_directory, write_atomic
from ..core.errors import XWidgetsError
from ..core.results import library_versions

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DEFINING_FIELDS",
    "complete_manifest",
    "first_difference",
    "read_manifest",
    "write_json_atomic",
    "fsync_directory",
]

FORMAT = "xwidgets-run"
FORMAT_VERSION = 1

#: The fields whose values define a run, as dotted paths into the manifest, in the order they are compared.
DEFINING_FIELDS = (
    "format_version",
    "method",
    "params",
    "seed",
    "target",
    "top_k",
    "metrics",
    "model.fingerprint",
    "source.fingerprint",
    "source.count",
    "shard_size",
    "map_shape",
    "thumbnail_size",
    "versions.xwidgets",
)

_MISSING = object()


def complete_manifest(manifest: dict) -> dict:
    """A JSON-normalised copy of ``manifest`` (tuples become lists) with this xwidgets' ``format`` and
    ``format_version``, and ``created`` and ``versions`` filled in where absent.

    Raises XWidgetsError when a defining field is missing, a size is not a positive int, or a value is not
    JSON-able."""
    if not isinstance(manifest, dict):
        raise XWidgetsError(f"manifest: got {type(manifest).__name__}, expected a dict")
    try:
        complete = json.loads(json.dumps(manifest))
    except (TypeError, ValueError) as error:
        raise XWidgetsError(f"manifest: a value is not JSON-able ({error}); store JSON descriptions") from None
    complete["format"], complete["format_version"] = FORMAT, FORMAT_VERSION
    complete.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    complete.setdefault("versions", library_versions())
    missing = [name for name in DEFINING_FIELDS if lookup(complete, name) is _MISSING]
    if missing:
        raise XWidgetsError(f"manifest: missing {', '.join(missing)}; every field of DEFINING_FIELDS is needed")
    _check_sizes(complete)
    return complete


def _check_sizes(manifest: dict) -> None:
    """The counts and shapes the arrays are created from must be ints (>= 0 for the count, >= 1 for sizes)."""
    sizes = {
        "source.count": (lookup(manifest, "source.count"), 0),
        "shard_size": (manifest["shard_size"], 1),
        "thumbnail_size": (manifest["thumbnail_size"], 1),
    }
    shape = manifest["map_shape"]
    if not (isinstance(shape, list) and len(shape) == 2):
        raise XWidgetsError(f"manifest: map_shape={shape!r}, expected [H, W]")
    sizes.update({"map_shape[0]": (shape[0], 1), "map_shape[1]": (shape[1], 1)})
    for name, (value, least) in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise XWidgetsError(f"manifest: {name}={value!r}, expected an int >= {least}")


def lookup(manifest: dict, dotted: str) -> Any:
    """The value at a dotted path (``"model.fingerprint"``), or a private sentinel when absent."""
    value: Any = manifest
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def first_difference(stored: dict, wanted: dict) -> tuple[str, Any, Any] | None:
    """``(field, stored value, wanted value)`` of the first :data:`DEFINING_FIELDS` entry that differs, or None.

    A field absent from one side reads as None."""
    for name in DEFINING_FIELDS:
        old, new = lookup(stored, name), lookup(wanted, name)
        old, new = (None if old is _MISSING else old), (None if new is _MISSING else new)
        if old != new:
            return name, old, new
    return None


def read_manifest(path: Path) -> dict:
    """Read ``<path>/manifest.json`` and check that it describes a run store this xwidgets can read.

    Raises XWidgetsError for a missing or unreadable manifest, another format, or a newer format version."""
    file = path / "manifest.json"
    if not file.is_file():
        what = "does not exist" if not path.exists() else "has no manifest.json"
        raise XWidgetsError(f"path='{path}' {what}: expected a run store written by xw.explain_dataset")
    try:
        manifest = json.loads(file.read_text())
    except (OSError, ValueError) as error:
        raise XWidgetsError(f"'{file}' is not readable JSON ({error}): the store is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise XWidgetsError(f"'{file}' has format {found!r}, expected {FORMAT!r}: this is not a run store")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise XWidgetsError(f"'{file}' has format_version={version!r}, expected an int >= 1")
    if version > FORMAT_VERSION:
        raise XWidgetsError(
            f"'{path}' was written by a newer xwidgets (store format_version {version}; this xwidgets reads "
            f"up to {FORMAT_VERSION}): upgrade xwidgets to read it"
        )
    return manifest


def write_json_atomic(value: Any, file: Path, staging: Path) -> None:
    """Write ``value`` as JSON through ``staging`` onto ``file`` (:func:`~xwidgets.core.atomic.write_atomic`): a
    reader sees the old file or the whole new one, never a part."""
    write_atomic(file, lambda handle: handle.write(json.dumps(value, indent=1).encode()), staging=staging)
