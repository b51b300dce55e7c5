"""Hypothesis strategies for the view and explorer constructors: the values a user's notebook may pass them.

Every strategy mixes values that should be accepted with values that should be refused, so that a property test
reaches both sides: images of random shapes, dtypes and ranges (NaN, inf, 1x1, empty, ``meta`` tensors, PIL modes,
paths that are not images), maps of the wrong size or rank, numbers at and past their bounds and of the wrong type
(huge ints that overflow a float, NaN, strings), labels of odd types, graphs with missing, unknown or cyclic edges
and duplicate ids, galleries with empty groups and boxes outside their image, tiles whose thumbnail is not an array
(PNG bytes), and explorer arguments (models of the wrong kind, method names, targets, ``params`` dicts with unknown
names, values past their declared range and wrong types, seeds, colormaps, page sizes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from hypothesis import strategies as st

from xwidgets.core.params import ParamSet
from xwidgets.views.heatmap import COLORMAPS, MODES

#: Numbers past every bound: a float overflow (``float(10**400)`` raises), the int64 edge and its neighbours.
HUGE_INTS = (2**31, 2**53 + 1, 2**63, -(2**63) - 1, 10**400)
_DTYPES = ("uint8", "uint16", "int8", "int32", "int64", "float16", "float32", "float64", "bool", "complex64")
_PIL_MODES = ("RGB", "RGBA", "L", "LA", "P", "1", "I;16", "I", "F", "CMYK")
_JUNK = (None, 0, 1.5, "", "x", b"\x89PNG\r\n", [], {}, (), object(), Path("/no/such/image.png"), Path(__file__))


def junk() -> st.SearchStrategy:
    """Values of the wrong kind for almost any argument."""
    return st.sampled_from(_JUNK)


# ------------------------------------------------------------------------------------------------ numbers
def odd_numbers() -> st.SearchStrategy:
    """Numbers of every kind: NaN, inf, huge ints, bools, numpy and torch scalars, strings that look like numbers."""
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-5, 5),
        st.sampled_from(HUGE_INTS),
        st.booleans(),
        st.sampled_from([np.float32(0.5), np.float64("nan"), np.int64(3), np.int8(-1), np.uint8(200)]),
        st.sampled_from(["0.5", "1", "nan"]),
        st.builds(torch.tensor, st.floats(-1, 2)),
        junk(),
    )


def unit_numbers() -> st.SearchStrategy:
    """Values for a ``[0, 1]`` argument (alpha, threshold): mostly inside, some at and past the ends, odd types."""
    inside = st.floats(0, 1)
    return st.one_of(inside, inside, st.sampled_from([0, 1, 0.0, 1.0, -1e-9, 1 + 1e-9, 2]), odd_numbers())


def sizes(low: int, high: int) -> st.SearchStrategy:
    """Values for an int argument in ``[low, high]``: inside, at and past the ends, and of the wrong type."""
    return st.one_of(
        st.integers(low, high),
        st.integers(low, high),
        st.sampled_from([low, high, low - 1, high + 1, 0, -1]),
        st.sampled_from([np.int64(low), np.int32(high), np.int16(-1)]),
        odd_numbers(),
    )


def optional_sizes(low: int, high: int) -> st.SearchStrategy:
    return st.one_of(st.none(), sizes(low, high))


def texts() -> st.SearchStrategy:
    """Labels, captions, titles: any text (markup and control characters included) or a non-str."""
    plain = st.text(max_size=24)
    return st.one_of(
        plain,
        plain,
        plain,
        st.sampled_from(["<img src=x onerror=alert(1)>", "</script>", "a · b", "\x00", "é" * 40]),
        st.integers(-3, 3),
        st.binary(max_size=4),
        st.lists(st.text(max_size=3), max_size=2),
        st.sampled_from([np.str_("numpy text"), None]),
    )


def names(valid: tuple[str, ...]) -> st.SearchStrategy:
    """A choice by name: a valid one, a near miss (case, spaces), any text, or a non-str."""
    return st.one_of(
        st.sampled_from(valid),
        st.sampled_from(valid),
        st.sampled_from(valid),
        st.sampled_from(valid).map(str.upper),
        st.sampled_from(valid).map(lambda name: f" {name}"),
        st.text(max_size=8),
        st.integers(-1, len(valid)),
        junk(),
    )


def colormaps() -> st.SearchStrategy:
    return st.one_of(names(COLORMAPS), st.sampled_from(["jet", "Viridis", "hot"]))


def modes() -> st.SearchStrategy:
    return names(MODES)


# ------------------------------------------------------------------------------------------------- arrays
@st.composite
def arrays(draw, max_side: int = 10) -> np.ndarray:
    """A numpy array of 0 to 5 dimensions (sides 0..``max_side``, often 1 or 3 or 4 channels last), of any of
    :data:`_DTYPES`, with values from a range that fits the dtype, or past it, or NaN / inf."""
    ndim = draw(st.integers(0, 5))
    shape = draw(st.lists(st.integers(0, max_side), min_size=ndim, max_size=ndim))
    if ndim >= 3 and draw(st.booleans()):
        shape[-1] = draw(st.sampled_from([1, 3, 4]))
    dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    scale = draw(st.sampled_from([1.0, 255.0, 65535.0, 1e6, -1.0, 1e-6]))
    values = rng.random(shape) * scale
    with np.errstate(all="ignore"):
        array = values.astype(dtype)
        special = draw(st.sampled_from([None, np.nan, np.inf, -np.inf, -1.0]))
        if special is not None and array.size and dtype.kind in "fc":
            array.flat[draw(st.integers(0, array.size - 1))] = special
    return array


@st.composite
def valid_arrays(draw, max_side: int = 12) -> np.ndarray:
    """An image numpy accepts: ``[H, W, 3]`` uint8 or float in [0, 1], sides 1..``max_side``."""
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if draw(st.booleans()):
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return rng.random((height, width, 3)).astype(draw(st.sampled_from(["float32", "float64"])))


@st.composite
def tensors(draw, max_side: int = 10) -> torch.Tensor:
    """A torch tensor made from :func:`arrays` (channels first when it has 3 dimensions), sometimes on the ``meta``
    device, non-contiguous, or requiring grad."""
    array = draw(arrays(max_side))
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.ndim == 3:
        tensor = tensor.permute(2, 0, 1)
    how = draw(st.sampled_from(["plain", "meta", "grad", "strided"]))
    if how == "meta":
        return torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")
    if how == "grad" and tensor.is_floating_point():
        return tensor.clone().requires_grad_(True)
    if how == "strided" and tensor.ndim >= 2:
        return tensor.transpose(-1, -2)
    return tensor


@st.composite
def pil_images(draw):
    from PIL import Image

    mode = draw(st.sampled_from(_PIL_MODES))
    size = (draw(st.integers(0, 8)), draw(st.integers(0, 8)))
    colour = draw(st.sampled_from([0, 1, 200, 70000, -3, 2.5]))
    if mode in ("RGB", "RGBA", "CMYK", "LA") and isinstance(colour, int):
        colour = tuple([abs(colour) % 256] * len(mode))
    try:
        return Image.new(mode, size, colour)
    except (TypeError, ValueError, OverflowError):
        return Image.new(mode, size)


def images(max_side: int = 10) -> st.SearchStrategy:
    """One image argument, in any form a user may pass: numpy, torch, PIL, a path, a list, or junk."""
    one = st.one_of(valid_arrays(max_side), arrays(max_side), tensors(max_side), pil_images(), junk())
    return st.one_of(one, st.lists(one, max_size=3))


def small_images() -> st.SearchStrategy:
    """Node and item images: mostly valid tiny ones (encoding them is the slow part), sometimes anything."""
    return st.one_of(valid_arrays(6), valid_arrays(6), valid_arrays(6), images(6))


@st.composite
def heatmaps(draw, max_side: int = 12):
    """A map argument: None, a valid ``[H, W]`` map in [0, 1] of any size, or an array / tensor of another rank,
    dtype or range."""
    kind = draw(st.sampled_from(["none", "valid", "array", "tensor", "junk"]))
    if kind == "none":
        return None
    if kind == "valid":
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        shape = [draw(st.integers(1, max_side)), draw(st.integers(1, max_side))]
        shape = [1] * draw(st.integers(0, 2)) + shape
        values = rng.random(shape).astype(draw(st.sampled_from(["float32", "float64", "float16"])))
        return torch.from_numpy(values) if draw(st.booleans()) else values
    if kind == "array":
        return draw(arrays(max_side))
    if kind == "tensor":
        return draw(tensors(max_side))
    return draw(junk())


# ------------------------------------------------------------------------------------------------- graphs
def ids() -> st.SearchStrategy:
    """Node, group and item ids: a few short names (so duplicates come up), "", and non-str ids."""
    valid = st.sampled_from(["a", "b", "c", "d", "<b>"])
    return st.one_of(valid, valid, valid, st.sampled_from(["", " "]), st.integers(0, 2), junk())


def levels() -> st.SearchStrategy:
    return st.one_of(st.integers(0, 4), st.integers(0, 4), st.sampled_from([-1, 1000, 1001, 10**9]), odd_numbers())


def colours() -> st.SearchStrategy:
    valid = st.sampled_from(["#1f77b4", "red", "rgb(1,2,3)"])
    return st.one_of(valid, valid, st.sampled_from(["", "  ", "x;}</style>"]), texts(), junk())


def _maybe(draw, strategy, chance: int = 3):
    """A value of ``strategy`` about once in ``chance`` draws, else the marker that the key is left out."""
    return draw(strategy) if draw(st.integers(0, chance - 1)) == 0 else _LEFT_OUT


_LEFT_OUT = object()


def _entry(draw, required: dict, optional: dict) -> dict:
    """A dict of the ``required`` keys (each left out now and then) and some ``optional`` ones, sometimes with an
    unknown key."""
    entry = {}
    for key, strategy in required.items():
        if draw(st.integers(0, 19)):
            entry[key] = draw(strategy)
    for key, strategy in optional.items():
        value = _maybe(draw, strategy, chance=4)
        if value is not _LEFT_OUT:
            entry[key] = value
    if not draw(st.integers(0, 29)):
        entry[draw(st.sampled_from(["Id", "size", 3]))] = 1
    return entry


@st.composite
def graphs(draw):
    """``(nodes, edges)``: nodes with duplicate, missing or odd ids and odd levels, orders, colours and labels;
    edges between known, unknown and equal ids, cycles included."""
    nodes = [
        draw(st.sampled_from([None, "node"]))
        if not draw(st.integers(0, 19))
        else _entry(
            draw,
            {"id": ids(), "image": small_images()},
            {"label": texts(), "level": levels(), "order": odd_numbers(), "colour": colours(), "detail": texts()},
        )
        for _ in range(draw(st.integers(0, 4)))
    ]
    known = [n["id"] for n in nodes if isinstance(n, dict) and "id" in n] or ["a"]
    end = st.one_of(st.sampled_from(known), st.sampled_from(known), st.sampled_from(known), ids())
    edges = [
        _entry(
            draw,
            {"source": end, "target": end},
            {"colour": colours(), "width": st.one_of(st.floats(0, 40), odd_numbers()), "label": texts()},
        )
        for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3])))
    ]
    if draw(st.integers(0, 9)) == 0:
        nodes = draw(junk())
    if draw(st.integers(0, 5)) == 0:
        edges = draw(junk())
    return nodes, edges


@st.composite
def boxes(draw):
    return _entry(
        draw,
        {key: st.one_of(st.floats(-2, 8), st.integers(0, 8), odd_numbers()) for key in ("x0", "y0", "x1", "y1")},
        {"colour": colours()},
    )


@st.composite
def galleries(draw):
    """Groups: duplicate ids across groups and items, empty groups, missing images, boxes inside and outside their
    image, odd titles and colours."""
    groups = []
    for _ in range(draw(st.integers(0, 3))):
        items = [
            _entry(
                draw,
                {"id": ids(), "image": small_images()},
                {"caption": texts(), "detail": texts(), "boxes": st.lists(boxes(), max_size=2) | junk()},
            )
            for _ in range(draw(st.integers(0, 3)))
        ]
        group = _entry(
            draw,
            {"id": ids()},
            {"title": texts(), "detail": texts(), "colour": colours(), "items": st.just(items) | junk()},
        )
        groups.append(group)
    return draw(junk()) if draw(st.integers(0, 5)) == 0 else groups


@st.composite
def thumbnails(draw):
    """A tile's thumbnail: a uint8 ``[T, T, 3]`` array mostly; PNG bytes, a float array, a tensor, a PIL image."""
    if draw(st.integers(0, 2)):
        return draw(valid_arrays(8).map(lambda a: (a * 255).astype(np.uint8) if a.dtype.kind == "f" else a))
    return draw(st.one_of(arrays(8), tensors(8), pil_images(), st.just(b"\x89PNG\r\n\x1a\n"), junk()))


@st.composite
def tiles(draw):
    """Tiles: keys (duplicates, empty, non-str), thumbnails, maps of the right size or not, frames, texts."""
    out = []
    for _ in range(draw(st.integers(0, 4))):
        thumbnail = draw(thumbnails())
        side = getattr(thumbnail, "shape", (4, 4))[:2]
        exact = st.just(np.zeros(tuple(side), np.uint8)) if len(side) == 2 else arrays(8)
        out.append(
            _entry(
                draw,
                {"key": ids(), "thumbnail": st.just(thumbnail)},
                {
                    "map": st.one_of(st.none(), exact, arrays(8)),
                    "caption": texts(),
                    "tooltip": texts(),
                    "frame": names(("correct", "wrong", "none")),
                },
            )
        )
    return draw(junk()) if draw(st.integers(0, 5)) == 0 else out


# ------------------------------------------------------------------------------------------- explorer args
def seeds() -> st.SearchStrategy:
    return st.one_of(st.integers(0, 3), st.sampled_from([-1, *HUGE_INTS]), odd_numbers())


def targets(labels: list[str]) -> st.SearchStrategy:
    """A target: None, a class index in and out of range (the int64 edge too), a label, a near miss, a list, and
    values of the wrong type."""
    classes = len(labels)
    return st.one_of(
        st.none(),
        st.none(),
        st.none(),
        st.integers(0, classes - 1),
        st.sampled_from(labels),
        st.sampled_from([-1, classes, *HUGE_INTS]),
        st.sampled_from(labels),
        st.sampled_from(labels).map(str.upper),
        st.sampled_from(["no such bird", ""]),
        st.lists(st.integers(-1, classes), min_size=0, max_size=3),
        st.sampled_from([1.0, True, np.int64(2), torch.tensor(1), torch.tensor([0, 1])]),
        junk(),
    )


@st.composite
def param_overrides(draw, params: ParamSet, cheap: dict | None = None, costly: tuple = ()):
    """A ``params`` dict for one method: the ``cheap`` values (so an accepted run stays quick), then a few of the
    declared names set at their low bound, past either bound, to NaN or a wrong type, an unknown name now and then,
    and a non-dict now and then. The ``cheap`` names and the ``costly`` ones only ever get refused values."""
    costly = (*costly, *(cheap or {}))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(junk(), st.lists(st.integers(), max_size=2)))
    chosen = dict(cheap or {})
    declared = list(params)
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        if declared and draw(st.integers(0, 5)):
            name = draw(st.sampled_from(declared))
            value = draw(param_values(params[name]))
            if name in costly and _accepted(params[name], value):
                continue  # a valid value of a costly name would make the run slow: keep the cheap one
            chosen[name] = value
        else:
            chosen[draw(st.sampled_from(["no_such_param", "Masks", "", 5, None]))] = 1
    return chosen


def _accepted(param, value: object) -> bool:
    try:
        param.check(value)
    except Exception:
        return False
    return True


def param_values(param) -> st.SearchStrategy:
    """A value for one declared parameter: its default, its low bound (a float's high bound too: cheap), past
    either bound, NaN, a huge int, a bool, a string, None."""
    picks: list = [param.default, None, "1", True, float("nan"), 10**400]
    if param.kind == "choice":
        picks += [*param.choices, "no such choice", param.choices[0].upper()]
    elif param.kind in ("int", "float"):
        step = 1 if param.kind == "int" else 1e-6
        if param.low is not None:
            picks += [param.low, param.low - step, param.low - 1.5]
        if param.high is not None:
            picks += [param.high + step, param.high * 10 + 1]
            if param.kind == "float":
                picks.append(param.high)
        if param.kind == "int":
            picks.append(param.default + 0.5)
    return st.sampled_from(picks)
