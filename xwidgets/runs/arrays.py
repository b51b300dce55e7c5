"""The chunked arrays of a run store (``arrays.zarr``), through the zarr API that zarr 2.18 and 3.x share.

One zarr group holds three arrays whose row is the source index, one chunk per image, so that reading one map
reads one small file and a resumed run rewrites exactly the rows of the shards it recomputes:

- ``maps``: ``[count, H, W]`` float16. A map lies in [0, 1] and is shown with at most 256 colours; float16 keeps
  steps of at most 2**-11 (about 5e-4) there, finer than any colormap or metric resolves, in half the bytes of
  float32: 10,000 smooth 112x112 maps take 201 MB as float16 against 408 MB as float32 (Blosc-LZ4, the zarr
  default), with a largest round-trip error of 2.4e-4.
- ``thumbnails``: ``[count, T, T, 3]`` uint8, the model-prepared image shrunk for the DatasetExplorer grid.
- ``thumbnail_maps``: ``[count, T, T]`` uint8, the map shrunk the same way, times 255.

The group is written in zarr format 2, which both zarr 2.18 and zarr 3 read and write.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..core.errors import XWidgetsError

__all__ = [
    "ARRAY_NAMES",
    "array_specs",
    "create_arrays",
    "open_arrays",
    "numeric_arrays",
    "write_rows",
    "contiguous_runs",
]

ARRAY_NAMES = ("maps", "thumbnails", "thumbnail_maps")


def array_specs(count: int, map_shape: Sequence[int], thumbnail_size: int) -> dict[str, tuple[tuple, str]]:
    """``{name: (shape, dtype)}`` of the three arrays of a store of ``count`` images."""
    height, width = map_shape
    side = thumbnail_size
    return {
        "maps": ((count, height, width), "float16"),
        "thumbnails": ((count, side, side, 3), "uint8"),
        "thumbnail_maps": ((count, side, side), "uint8"),
    }


def _zarr_major(zarr: Any) -> int:
    return int(str(zarr.__version__).split(".")[0])


def create_arrays(path: Path, count: int, map_shape: Sequence[int], thumbnail_size: int) -> None:
    """Create the group at ``path`` with its three arrays (metadata only: no chunk is written)."""
    import zarr

    if _zarr_major(zarr) >= 3:
        group = zarr.open_group(str(path), mode="w", zarr_format=2)
        create = group.create_array
    else:
        group = zarr.open_group(str(path), mode="w")
        create = group.create_dataset
    for name, (shape, dtype) in array_specs(count, map_shape, thumbnail_size).items():
        create(name, shape=shape, chunks=(1, *shape[1:]), dtype=dtype, fill_value=0)


def open_arrays(path: Path, mode: Literal["r", "r+"] = "r") -> Any:
    """The zarr group at ``path`` (``mode`` "r" to read, "r+" to write rows), its :data:`ARRAY_NAMES` checked by
    :func:`numeric_arrays`."""
    import zarr

    try:
        group = zarr.open_group(str(path), mode=mode)
    except Exception as error:  # zarr raises several types for a group that is missing or not zarr
        raise XWidgetsError(f"'{path}' is not a readable zarr group ({error}): the store is damaged") from None
    return numeric_arrays(group, ARRAY_NAMES, path)


def numeric_arrays(group: Any, names: Sequence[str], path: Path) -> Any:
    """``group`` once each array ``names`` of it (at ``path``) is readable and holds numbers: an array of Python
    objects is decoded by a codec such as pickle, which runs code, so it is refused (XWidgetsError naming it)
    before any chunk is read."""
    for name in names:
        try:
            dtype = np.dtype(group[name].dtype)
        except Exception as error:  # zarr 3 refuses object arrays itself; zarr 2 would read them
            raise XWidgetsError(f"'{path / name}' is not a readable array ({error}): the store is damaged") from None
        if dtype.kind not in "biuf":
            raise XWidgetsError(
                f"'{path / name}' holds {dtype} values, expected numbers: the store is damaged or not from "
                "xwidgets, and object arrays are never read (their codec may run code)"
            )
    return group


def contiguous_runs(indices: Sequence[int]) -> Iterator[tuple[int, int, int]]:
    """``(start, stop, offset)`` of each run of consecutive values in ascending ``indices``; ``offset`` is the
    position of ``start`` in ``indices``."""
    offset = 0
    while offset < len(indices):
        end = offset + 1
        while end < len(indices) and indices[end] == indices[end - 1] + 1:
            end += 1
        yield indices[offset], indices[end - 1] + 1, offset
        offset = end


def write_rows(array: Any, indices: Sequence[int], values: np.ndarray) -> None:
    """``array[indices[k]] = values[k]`` for ascending ``indices``, one slice assignment per consecutive run."""
    for start, stop, offset in contiguous_runs(indices):
        array[start:stop] = values[offset : offset + stop - start]
