"""Hypothesis strategies for the call shape's inputs: images, targets, seeds, method parameters and models, broken
and odd ones mixed with good ones, for :mod:`.test_fuzz_calls`.

Pixel data is drawn as a shape, a dtype, a value range and a numpy seed, then built with numpy: hypothesis draws
a few small choices per image instead of thousands of pixels, so an example stays cheap to draw and to shrink.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from hypothesis import strategies as st
from PIL import Image

from xwidgets.core.methods import MethodSpec
from xwidgets.core.params import Param

__all__ = [
    "DTYPES",
    "RANGES",
    "image_arrays",
    "images",
    "targets",
    "good_targets",
    "mostly",
    "seeds",
    "params_for",
    "CHEAP",
]

#: dtypes an image may come in; the accepted ones (uint8, float16/32/64) and the refused ones.
DTYPES = ("bool", "uint8", "int8", "int64", "float16", "float32", "float64", "complex64")
#: value ranges: in [0, 1], negative, above 1, 0..255 as floats, with NaN, with inf, constant.
RANGES = ("unit", "negative", "above_one", "bytes_as_float", "nan", "inf", "constant")
SIDES = st.one_of(st.sampled_from([0, 1, 2, 3, 5, 7, 8, 16, 31, 112]), st.integers(0, 160))
#: Where a parameter's declared range holds values that make a call slow (thousands of forward passes), the
#: part of it the fuzzer uses for values that must succeed: ``name -> (low, high)``, or ``(method, name)``.
#: Values past the declared range are drawn all the same (they are refused before any work).
CHEAP: dict[object, tuple[float, float]] = {
    "iterations": (1, 4),
    "ig_steps": (1, 4),
    "steps": (1, 12),
    "masks": (1, 120),
    "reference_masks": (1, 6),
    ("occlusion", "window"): (8, 1024),
    ("occlusion", "stride"): (24, 1024),
    ("pair_sliding_window", "window"): (8, 1024),
    ("pair_sliding_window", "stride"): (24, 1024),
    "reference_window": (8, 1024),
    "reference_stride": (24, 1024),
    ("sag", "grid"): (2, 4),
    "beam_width": (1, 3),
    "successors": (1, 8),
    "max_roots": (1, 2),
    "removals_per_node": (1, 3),
    "heuristic_iterations": (1, 1),
    "heuristic_ig_steps": (1, 4),
    "median_kernel": (1, 15),
    "blur_kernel": (1, 61),
    "epochs": (1, 4),
    "pretrain_epochs": (0, 1),
    "pt_warmup": (0, 4),
    "retries": (0, 0),
    "k": (1, 4),
    "smooth_iterations": (0, 8),
    "sharp_iterations": (0, 8),
    "smooth_resolution": (4, 16),
    "top_k": (1, 3),
    "top": (2, 4),
    "top_images": (1, 4),
    "batch_size": (8, 4096),
}


def _values(shape: tuple[int, ...], dtype: str, kind: str, seed: int) -> np.ndarray:
    """Pixel values of ``shape`` in range ``kind`` as numpy ``dtype`` (casts of out-of-range values wrap, as a
    user's would)."""
    rng = np.random.default_rng(seed)
    values = rng.random(shape)
    values = {
        "unit": values,
        "negative": values - 1.5,
        "above_one": values * 3.0,
        "bytes_as_float": np.floor(values * 255.0),
        "nan": np.where(values < 0.1, np.nan, values),
        "inf": np.where(values < 0.1, np.inf, values),
        "constant": np.full(shape, 0.5),
    }[kind]
    if dtype == "bool":
        return values > 0.5
    if dtype in ("uint8", "int8", "int64"):
        scale = 255.0 if kind in ("unit", "constant") else 1.0
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(values * scale, nan=0.0, posinf=255.0).astype(dtype)
    return values.astype(dtype)


@st.composite
def image_arrays(draw, *, layout: str = "bchw", batch: st.SearchStrategy | None = None) -> np.ndarray:
    """A numpy array of pixels: ``layout`` ``"bchw"``, ``"chw"`` or ``"hwc"``; channels 1..5, sides 0..160."""
    count = draw(batch if batch is not None else st.integers(0, 4))
    channels = draw(st.sampled_from([1, 2, 3, 3, 3, 4, 5]))
    height, width = draw(SIDES), draw(SIDES)
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(st.sampled_from(RANGES))
    shape = {
        "bchw": (count, channels, height, width),
        "chw": (channels, height, width),
        "hwc": (height, width, channels),
    }[layout]
    return _values(shape, dtype, kind, draw(st.integers(0, 2**16)))


def _tensor(array: np.ndarray, how: str) -> torch.Tensor:
    """A tensor of ``array``'s values: plain, non-contiguous, requiring grad, or on the meta device."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if how == "noncontiguous" and tensor.ndim >= 3:
        tensor = tensor.transpose(-1, -2).contiguous().transpose(-1, -2)
    elif how == "requires_grad" and tensor.is_floating_point():
        tensor = tensor.clone().requires_grad_(True)
    elif how == "meta":
        tensor = torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")
    return tensor


@st.composite
def tensor_images(draw, batch: st.SearchStrategy | None = None) -> torch.Tensor:
    """A tensor ``[B, C, H, W]`` or ``[C, H, W]``: odd shapes and dtypes, non-contiguous, requires_grad or meta."""
    layout = draw(st.sampled_from(["bchw", "bchw", "chw"]))
    array = draw(image_arrays(layout=layout, batch=batch))
    how = draw(st.sampled_from(["plain", "plain", "noncontiguous", "requires_grad", "meta"]))
    return _tensor(array, how)


@st.composite
def pil_images(draw) -> Image.Image:
    """A PIL image of an odd mode and size (at least 1x1: PIL has no empty images)."""
    mode = draw(st.sampled_from(["RGB", "RGBA", "L", "1", "P", "I;16", "I", "F", "CMYK", "LA"]))
    height, width = max(1, draw(SIDES)), max(1, draw(SIDES))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    rgb = Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8))
    if mode in ("I;16", "I", "F"):
        return rgb.convert("L").convert(mode)
    return rgb.convert(mode)


def _junk() -> st.SearchStrategy:
    return st.sampled_from(
        [None, "", "not an image", "/no/such/file.png", Path("/no/such/dir/"), 3, 2.5, b"bytes", {"a": 1}, []]
    )


def images(batch: st.SearchStrategy | None = None, *, good: st.SearchStrategy | None = None) -> st.SearchStrategy:
    """Anything a user may pass as ``images``: good toy images (``good``), tensors, numpy HWC/BHWC arrays, PIL
    images, lists mixing all of these and sizes, missing paths, strings, None and other junk."""
    single = st.one_of(
        tensor_images(batch),
        image_arrays(layout="hwc"),
        image_arrays(layout="bchw", batch=batch).map(lambda a: a.transpose(0, 2, 3, 1)),
        pil_images(),
        _junk(),
    )
    lists = st.lists(st.one_of(single, *([good] if good is not None else [])), min_size=0, max_size=3)
    choices = [single, lists]
    if good is not None:
        choices += [good, good]
    return st.one_of(*choices)


def targets(classes: int, labels: list[str]) -> st.SearchStrategy:
    """Targets good and bad: ints (negative, >= classes, 2**63, -2**63-1), bools, floats, numpy ints, class names
    valid and invalid, lists of the wrong length, nested lists, tensors (0-d, 1-d, float, on meta)."""
    ints = st.one_of(
        st.integers(-3, classes + 2),
        st.sampled_from([2**63, -(2**63) - 1, 2**63 - 1, -(2**63), 2**64, 10**30]),
    )
    names = st.one_of(st.sampled_from(labels), st.sampled_from(["", "no such bird", labels[0].upper(), "0"]))
    scalars = st.one_of(
        st.none(),
        ints,
        st.booleans(),
        st.sampled_from([0.0, 1.0, 2.5, math.nan, math.inf]),
        ints.filter(lambda i: -(2**63) <= i < 2**63).map(np.int64),
        st.integers(0, classes - 1).map(np.uint8),
        names,
    )
    lists = st.lists(st.one_of(ints, names, st.booleans()), max_size=5)
    tensors = st.one_of(
        st.integers(-2, classes + 1).map(torch.tensor),
        st.lists(st.integers(-2, classes + 1), max_size=5).map(lambda v: torch.tensor(v, dtype=torch.long)),
        st.lists(st.one_of(st.floats(-2, classes), st.just(math.nan)), max_size=4).map(torch.tensor),
        st.integers(0, 4).map(lambda n: torch.zeros(n, dtype=torch.long, device="meta")),
    )
    nested = st.lists(lists, min_size=1, max_size=3)
    return st.one_of(scalars, lists, tensors, nested, st.just(object()))


def good_targets(classes: int, labels: list[str]) -> st.SearchStrategy:
    """Targets that name a class: None (the top-1), an index, a name, a numpy int, a one-element list."""
    index = st.integers(0, classes - 1)
    return st.one_of(st.none(), index, st.sampled_from(labels), index.map(np.int64), index.map(lambda i: [i]))


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """``good`` three times in four, else ``bad``: a call breaks one or two of its arguments at a time, so that
    good calls (and their results) are fuzzed as well as refusals."""
    return st.integers(0, 3).flatmap(lambda roll: bad if roll == 3 else good)


def seeds() -> st.SearchStrategy:
    """``seed`` values: small, negative, huge (past int64 and uint64), floats, NaN, None, bools, strings, numpy."""
    return st.one_of(
        st.integers(0, 2**16),
        st.sampled_from([-1, -(2**63), 2**63 - 1, 2**63, 2**64, 10**40]),
        st.sampled_from([1.0, 1.5, math.nan, math.inf, None, True, "0", np.int64(7), np.int32(-2)]),
    )


def _bounds(spec: MethodSpec, param: Param) -> tuple[float | None, float | None]:
    """``param``'s range narrowed to its cheap part (:data:`CHEAP`) for values that must succeed."""
    low, high = param.low, param.high
    cheap = CHEAP.get((spec.name, param.name), CHEAP.get(param.name))
    if cheap is not None:
        low = cheap[0] if low is None else max(low, cheap[0])
        high = cheap[1] if high is None else min(high, cheap[1])
    return low, high


def _valid(spec: MethodSpec, param: Param) -> st.SearchStrategy:
    """Values inside the declared range (its cheap part), its ends included."""
    if param.kind == "bool":
        return st.booleans()
    if param.kind == "choice":
        return st.sampled_from(param.choices)
    low, high = _bounds(spec, param)
    if param.kind == "int":
        low_i = math.ceil(low) if low is not None else -(10**6)
        high_i = math.floor(high) if high is not None else 10**6
        return st.one_of(st.sampled_from([low_i, high_i]), st.integers(low_i, high_i))
    low_f = low if low is not None else -1e6
    high_f = high if high is not None else 1e6
    return st.one_of(st.sampled_from([low_f, high_f]), st.floats(low_f, high_f))


def _invalid(param: Param) -> st.SearchStrategy:
    """Values past the declared range, non-finite numbers and values of the wrong type."""
    wrong = st.sampled_from([None, "1", [1], math.nan, math.inf, -math.inf, 1 + 2j, object()])
    if param.kind == "bool":
        return st.one_of(wrong, st.sampled_from([0, 1, "True", np.bool_(True)]))
    if param.kind == "choice":
        return st.one_of(wrong, st.sampled_from([str(param.choices[0]).upper(), "", 0, True]))
    past = []
    if param.low is not None:
        past += [param.low - 1, param.low - 1e-9 if param.kind == "float" else param.low - 1]
    if param.high is not None:
        past += [param.high + 1, param.high * 2 + 1, 2**63]
    whole = [True, 1.5] if param.kind == "int" else [True]
    return st.one_of(wrong, st.sampled_from(past + whole) if past or whole else wrong)


@st.composite
def params_for(draw, spec: MethodSpec, *, bad: bool = True) -> dict:
    """Keyword parameters of ``spec``: its quick settings, some declared parameters set to values in range, at
    its ends and (with ``bad``) past them, of the wrong type, non-finite, and unknown names."""
    values = dict(spec.quick)
    names = draw(st.lists(st.sampled_from(list(spec.params)), max_size=4, unique=True)) if spec.params else []
    for name in names:
        param = spec.params[name]
        choices = [_valid(spec, param)] + ([_invalid(param)] if bad else [])
        values[name] = draw(st.one_of(*choices))
    if bad and draw(st.integers(0, 9)) == 9:
        values[draw(st.sampled_from(["resolutoin", "Iterations", "layer_name", "colour"]))] = 1
    return values
