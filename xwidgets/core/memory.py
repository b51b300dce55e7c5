"""The memory guard: a run's peak memory, estimated before anything large is allocated, and refused when it does
not fit.

I-GOS on a 3000×4000 photo was killed by the operating system at about 15 GB, with no Python error: on a CPU an
allocation that does not fit is not an exception but the end of the process. So every registered method's kernel
first calls :func:`guard`, which

1. reads the images' sizes without decoding them (:func:`peek`), and the size the method works at after ``size=``
   and the model's preprocessing (:func:`working_size`);
2. measures the model's own activation memory once per model and input size (:func:`activations`: the bytes a
   forward pass and a forward+backward pass of one image keep alive, cached like ``core/cost.py`` caches pass times,
   and scaled by the pixel count);
3. adds the method's own tensors, declared next to each kernel as its ``memory`` hook (a :class:`Workload` in,
   the run's :class:`Phase` list out): what a phase holds throughout (stored gradients, masks at input resolution)
   and what each item of a micro-batch costs besides the model (composites, noise, masks);
4. compares the peak with :data:`SAFETY` of the memory available (:func:`available_bytes`: ``MemAvailable`` and
   the cgroup limit on the CPU, ``torch.cuda.mem_get_info`` on CUDA) and raises an ``XWidgetsError`` naming
   ``images`` with the estimate, the memory available and the fixes: the largest size that fits (``size=(H, W)``
   or a resize), a smaller micro-batch (``max_batch=``) or fewer images per call, where each helps.

No method resizes on its own: a resized image is a different explanation, so the user decides (``docs/*.md``,
section Memory). Tests simulate a small machine with :data:`ENV` (or the ``available`` argument of :func:`check`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import XWidgetsError, invalid
from .images import _size_arg, is_pil
from .models import Model

__all__ = [
    "SAFETY",
    "ENV",
    "Workload",
    "Phase",
    "Activations",
    "Estimate",
    "activations",
    "available_bytes",
    "estimate",
    "held_images",
    "check",
    "guard",
    "peek",
    "working_size",
    "format_bytes",
]

#: The fraction of the available memory a run may plan to use (the rest covers the allocator's slack, the
#: interpreter and whatever else the process allocates meanwhile).
SAFETY = 0.8
#: An environment variable that replaces the measured available memory, in bytes or with a unit (``"2G"``,
#: ``"512M"``): tests simulate a small machine or an 80 GB GPU with it.
ENV = "XWIDGETS_MEMORY_AVAILABLE"
#: Activations are measured at most at this many pixels and scaled by the pixel count above it.
PROBE_PIXELS = 160 * 160
#: A model that does not run at the scaled-down probe is measured at the working size itself up to this many pixels.
EXACT_PIXELS = 512 * 512
#: Bytes of one float32 value: the methods build composites, masks and maps in float32.
FLOAT = 4
#: Copies of the converted input (``to_batch``'s float image and its range-checked copy) while images are read.
CONVERSION_COPIES = 2
#: Images of the working size a run holds throughout: the pixels, the normalised inputs and the baseline.
HELD_IMAGES = 3

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_MEASURED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class Workload:
    """One run as a method's memory hook sees it.

    Attributes:
        batch: the images explained together (B; the data's size for a dataset-level fit).
        size: ``(H, W)`` the size the method works at (after ``size=`` and the model's preprocessing).
        chunk: the micro-batch, ``model.max_batch``.
        params: the method's resolved parameters.
    """

    batch: int
    size: tuple[int, int]
    chunk: int
    params: Mapping[str, Any]

    @property
    def pixels(self) -> int:
        """H·W."""
        return self.size[0] * self.size[1]

    def planes(self, count: float) -> float:
        """Bytes of ``count`` float32 planes ``[H, W]`` (a mask is one plane, an RGB image three)."""
        return count * self.pixels * FLOAT


@dataclasses.dataclass(frozen=True)
class Phase:
    """One phase of a run (a gradient pass over IG points, a line search, a beam level).

    Attributes:
        passes: ``"gradient"`` (forward+backward to the input) or ``"forward"`` (no gradients).
        items: how many images the phase scores; a micro-batch holds ``min(chunk, items)`` of them (0: a phase
            without the model, such as a median filter).
        held: bytes held through the phase: the run's images (:func:`held_images`), stored gradients, masks.
        per_item: bytes per micro-batch item besides the model's activations (the composite, noise, its mask).
    """

    passes: str
    items: int
    held: float = 0.0
    per_item: float = 0.0


@dataclasses.dataclass(frozen=True)
class Activations:
    """The model's own memory for one image at ``pixels`` pixels, in bytes (scaled by pixels elsewhere).

    Attributes:
        forward: the peak of a forward pass without gradients (the largest layer's input and output, twice over
            for the branches a residual block keeps).
        gradient: a forward+backward pass to the input: every tensor autograd saves, plus the backward's largest
            gradient buffers.
        pixels: the probe's H·W.
    """

    forward: float
    gradient: float
    pixels: int

    def at(self, passes: str, pixels: int) -> float:
        """Bytes per image of ``passes`` (``"gradient"`` or ``"forward"``) at ``pixels`` pixels."""
        per_pixel = (self.gradient if passes == "gradient" else self.forward) / self.pixels
        return per_pixel * pixels


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A run's estimated peak and what it was compared with, in bytes."""

    peak: float
    available: float
    size: tuple[int, int]
    batch: int
    chunk: int

    @property
    def fits(self) -> bool:
        """Whether the peak is within :data:`SAFETY` of the available memory."""
        return self.peak <= SAFETY * self.available


# ------------------------------------------------------------------------------------------------ available
def available_bytes(device: torch.device | str = "cpu") -> float:
    """Bytes this process can still allocate on ``device``: :data:`ENV` when set; on CUDA the free memory
    (``torch.cuda.mem_get_info``) plus what PyTorch's cache holds unused; on the CPU ``MemAvailable`` of
    ``/proc/meminfo``, lowered to the cgroup's limit minus its usage where a cgroup limits the process (inf where
    neither can be read)."""
    override = os.environ.get(ENV)
    if override:
        return _parse_bytes(override)
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return float(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    return min(_meminfo_available(), _cgroup_available())


def _parse_bytes(text: str) -> float:
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = cleaned[-1] if cleaned and cleaned[-1] in _UNITS else ""
    try:
        value = float(cleaned[: len(cleaned) - len(unit)]) * _UNITS[unit]
    except ValueError:
        raise invalid(ENV, repr(text), "a number of bytes, optionally with K, M, G or T (e.g. '16G')") from None
    if not value > 0:
        raise invalid(ENV, repr(text), "a positive amount of memory")
    return value


def _meminfo_available() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return math.inf


def _cgroup_available() -> float:
    """The cgroup v2 (``memory.max``) or v1 (``memory.limit_in_bytes``) limit minus the usage; inf without one."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = float(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and float(limit) < 2**60:
            return max(0.0, float(limit) - usage)
    return math.inf


# ------------------------------------------------------------------------------------------------ the model
def activations(model: Model, size: tuple[int, int]) -> Activations | None:
    """The model's activation memory for one image of ``size`` ``(H, W)`` (the model's input size), measured once
    per model, probe size, device and dtype at ``size`` or, above :data:`PROBE_PIXELS`, at the same aspect
    ratio scaled down to it (at ``size`` itself, up to :data:`EXACT_PIXELS`, for a model that runs only at its own
    size); later calls read the cache. None when the model runs at neither (the run's own check then reports
    that)."""
    probes = [_probe_size(size)]
    if size[0] * size[1] <= EXACT_PIXELS and probes[0] != size:
        probes.append(size)  # a fixed-size model (a ViT) runs only at its own size
    for probe in probes:
        found = _measured(model, probe)
        if found is not None:
            return found
    return None


def _measured(model: Model, probe: tuple[int, int]) -> Activations | None:
    key = (probe, str(model.device), model.dtype)
    cache = _MEASURED.setdefault(model.module, {})
    if key not in cache:
        with model.lock, model.frozen():
            try:
                cache[key] = _measure(model, probe)
            except Exception:  # any failure of a user's model at the probe size: no estimate
                cache[key] = None
    return cache[key]


def _probe_size(size: tuple[int, int]) -> tuple[int, int]:
    height, width = size
    if height * width <= PROBE_PIXELS:
        return (height, width)
    scale = math.sqrt(PROBE_PIXELS / (height * width))
    return (max(1, round(height * scale)), max(1, round(width * scale)))


def _measure(model: Model, size: tuple[int, int]) -> Activations:
    inputs = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0)).to(model.device, model.dtype)
    if model.device.type == "cuda":
        return _measure_cuda(model, inputs)
    own = {t.untyped_storage().data_ptr() for t in [*model.module.parameters(), *model.module.buffers()]}
    largest = _largest_layer(model, inputs)
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in own:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    leaf = inputs.clone().requires_grad_(True)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = model.forward(leaf)
    if output.requires_grad:
        torch.autograd.grad(output.float().sum(), leaf)
    forward = 2.0 * largest
    return Activations(forward=forward, gradient=sum(saved.values()) + forward, pixels=size[0] * size[1])


def _largest_layer(model: Model, inputs: torch.Tensor) -> float:
    """The largest input plus output, in bytes, of any submodule in a forward pass without gradients."""
    largest = [float(inputs.numel() * inputs.element_size())]

    def record(_module, given, output) -> None:
        tensors = [t for t in (*given, output) if isinstance(t, torch.Tensor)]
        largest.append(float(sum(t.numel() * t.element_size() for t in tensors)))

    handles = [m.register_forward_hook(record) for m in model.module.modules()]
    try:
        with torch.no_grad():
            model.forward(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return max(largest)


def _measure_cuda(model: Model, inputs: torch.Tensor) -> Activations:
    """Exact peaks from PyTorch's CUDA allocator (``max_memory_allocated`` over what was allocated before)."""
    device = model.device

    def peak(work: Callable[[], object]) -> float:
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        work()
        torch.cuda.synchronize(device)
        return float(torch.cuda.max_memory_allocated(device) - before)

    def gradient() -> None:
        leaf = inputs.clone().requires_grad_(True)
        with torch.enable_grad():
            output = model.forward(leaf)
            if output.requires_grad:
                torch.autograd.grad(output.float().sum(), leaf)

    with torch.no_grad():
        forward = peak(lambda: model.forward(inputs))
    return Activations(forward=forward, gradient=peak(gradient), pixels=int(inputs.shape[-2] * inputs.shape[-1]))


# ------------------------------------------------------------------------------------------------ the images
def peek(images: object) -> list[tuple[int, int]] | None:
    """The ``(H, W)`` of every image in ``images`` (any form :func:`~xwidgets.core.images.to_batch` takes, or a
    sequence of them), read without decoding: array and tensor shapes, a PIL image's size, an image file's header.
    None for anything it cannot read so (the run's own checks then report it)."""
    if isinstance(images, (list, tuple)):
        sizes: list[tuple[int, int]] = []
        for image in images:
            found = peek(image)
            if not found:
                return None
            sizes.extend(found)
        return sizes or None
    if isinstance(images, (torch.Tensor, np.ndarray)):
        return _array_sizes(images)
    if is_pil(images):
        width, height = images.size  # type: ignore[attr-defined]
        return [(height, width)]
    if isinstance(images, (str, Path)):
        return _file_size(Path(images))
    return None


def _array_sizes(array: torch.Tensor | np.ndarray) -> list[tuple[int, int]] | None:
    shape = tuple(int(s) for s in array.shape)
    channels_last = isinstance(array, np.ndarray)
    if len(shape) == 2:
        return [shape]
    if len(shape) == 3:
        return [shape[:2] if channels_last else shape[1:]]
    if len(shape) == 4:
        return [shape[1:3] if channels_last else shape[2:]] * shape[0]
    return None


def _file_size(path: Path) -> list[tuple[int, int]] | None:
    from PIL import Image

    try:
        with Image.open(path) as opened:
            width, height = opened.size
    except (OSError, ValueError):
        return None
    return [(height, width)]


def working_size(model: Model, size: tuple[int, int]) -> tuple[int, int]:
    """The ``(H, W)`` an image of ``size`` has at the model's input: its preprocessing's resize and crop."""
    height, width = size
    resize, crop = model.preprocessing.resize, model.preprocessing.crop
    if isinstance(resize, int):
        scale = resize / min(height, width)
        height, width = max(1, round(height * scale)), max(1, round(width * scale))
    elif resize is not None:
        height, width = resize
    if crop is not None:
        height, width = crop
    return (int(height), int(width))


# ------------------------------------------------------------------------------------------------ the estimate
def estimate(
    phases: Callable[[Workload], Sequence[Phase]],
    model: Model,
    work: Workload,
    read: Sequence[tuple[int, int]] = (),
) -> float | None:
    """Peak bytes of a run: the images ``read`` (their sizes as given) converted, or the run's images at the
    working size held with the method's phases (:class:`Phase`), whichever is larger. None without a measure of
    the model's activations."""
    model_bytes = activations(model, work.size)
    if model_bytes is None:
        return None
    converted = sum(CONVERSION_COPIES * 3 * h * w * FLOAT for h, w in read) + work.planes(3 * work.batch)
    run = max(
        phase.held + min(work.chunk, phase.items) * (phase.per_item + model_bytes.at(phase.passes, work.pixels))
        for phase in phases(work)
    )
    return max(converted, run)


def held_images(work: Workload, copies: int = HELD_IMAGES) -> float:
    """Bytes of the run's images a per-image method holds throughout: ``copies`` RGB images per image (pixels,
    normalised inputs, baseline) and its map."""
    return work.planes((3 * copies + 1) * work.batch)


def check(
    phases: Callable[[Workload], Sequence[Phase]],
    model: Model,
    sizes: Sequence[tuple[int, int]],
    params: Mapping[str, Any],
    *,
    title: str,
    size: tuple[int, int] | None = None,
    name: str = "images",
    available: float | None = None,
) -> Estimate | None:
    """Estimate a run of the method whose memory hook is ``phases`` on images of ``sizes`` (as given) and raise
    an ``InvalidArgument`` naming ``name`` when its peak exceeds :data:`SAFETY` of ``available`` (default
    :func:`available_bytes` of the model's device). Returns the :class:`Estimate` (None when there is none)."""
    read = [size or s for s in sizes]
    work = Workload(
        batch=len(sizes),
        size=max((working_size(model, s) for s in read), key=lambda s: s[0] * s[1]),
        chunk=model.max_batch,
        params=params,
    )
    peak = estimate(phases, model, work, read)
    if peak is None:
        return None
    found = Estimate(
        peak=peak,
        available=available_bytes(model.device) if available is None else available,
        size=work.size,
        batch=work.batch,
        chunk=work.chunk,
    )
    if not found.fits:
        raise invalid(name, _given(sizes, work, found, title), _fixes(phases, model, work, found, bool(size)))
    return found


def _given(sizes: Sequence[tuple[int, int]], work: Workload, found: Estimate, title: str) -> str:
    height, width = max(sizes, key=lambda s: s[0] * s[1])
    count = f"{len(sizes)} images of up to" if len(sizes) > 1 else "an image of"
    return (
        f"{count} {height}x{width} pixels, which {title} works on at {work.size[0]}x{work.size[1]} with "
        f"micro-batches of {work.chunk}: an estimated peak of {format_bytes(found.peak)}"
    )


def _fixes(
    phases: Callable[[Workload], Sequence[Phase]], model: Model, work: Workload, found: Estimate, sized: bool
) -> str:
    budget = SAFETY * found.available
    where = "this GPU" if model.device.type == "cuda" else "this machine"
    fixes = []
    largest = _largest_size(phases, model, work, budget)
    if largest is not None:
        how = "pass size=" if sized or model.preprocessing.resize is None else "resize the images to"
        fixes.append(f"{how}({largest[0]}, {largest[1]}) or smaller (the largest size that fits)")
    chunk = _largest(lambda c: dataclasses.replace(work, chunk=c), phases, model, budget, work.chunk - 1)
    if chunk is not None:
        fixes.append(f"a smaller micro-batch: max_batch={chunk} (model.max_batch = {chunk})")
    count = _largest(lambda b: dataclasses.replace(work, batch=b), phases, model, budget, work.batch - 1)
    if count is not None:
        fixes.append(f"at most {count} images per call")
    advice = "; or ".join(fixes) if fixes else "a machine with more memory: even one small image does not fit"
    return (
        f"a run that fits in {format_bytes(budget)} ({SAFETY:.0%} of the {format_bytes(found.available)} "
        f"{where} has available): {advice}"
    )


def _largest_size(
    phases: Callable[[Workload], Sequence[Phase]], model: Model, work: Workload, budget: float
) -> tuple[int, int] | None:
    """The largest ``(H, W)`` of the working size's aspect ratio whose run fits in ``budget``; None when the
    model's preprocessing fixes the size or nothing of at least 8 pixels a side fits."""
    pre = model.preprocessing
    if pre.crop is not None or not (pre.resize is None or isinstance(pre.resize, int)):
        return None
    height, width = work.size

    def at(scale: float) -> Workload:
        return dataclasses.replace(work, size=(max(1, int(height * scale)), max(1, int(width * scale))))

    low, high = 8 / min(height, width), 1.0
    if low >= high or not _fits(phases, model, at(low), budget):
        return None
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if _fits(phases, model, at(middle), budget) else (low, middle)
    return at(low).size


def _largest(
    change: Callable[[int], Workload],
    phases: Callable[[Workload], Sequence[Phase]],
    model: Model,
    budget: float,
    top: int,
) -> int | None:
    """The largest value in ``1..top`` whose changed workload fits (the estimate grows with it); None if none."""
    if top < 1 or not _fits(phases, model, change(1), budget):
        return None
    low, high = 1, top
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if _fits(phases, model, change(middle), budget) else (low, middle - 1)
    return low


def _fits(phases: Callable[[Workload], Sequence[Phase]], model: Model, work: Workload, budget: float) -> bool:
    peak = estimate(phases, model, work)
    return peak is not None and peak <= budget


def format_bytes(count: float) -> str:
    """A rounded size for messages: ``"512 MB"``, ``"15.2 GB"`` (powers of 1024)."""
    if not math.isfinite(count):
        return "unlimited memory"
    for unit, scale in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count:.0f} bytes"


# ------------------------------------------------------------------------------------------------ the guard
def guard(spec: Any, arguments: Mapping[str, Any]) -> Estimate | None:
    """Check a call of ``spec``'s kernel before it runs (``arguments``: the call bound to the kernel's signature).

    Does nothing for a method without a memory hook, or when the model, the images, ``size=`` or the parameters
    are not what the kernel takes (its own checks then report them). Raises ``InvalidArgument`` naming the
    images' argument when the estimated peak does not fit (:func:`check`)."""
    names = [n for n in ("images", "queries", "data") if n in arguments]
    model = next(iter(arguments.values()), None)
    if spec.memory is None or not names or not isinstance(model, Model):
        return None
    sizes = peek(arguments[names[0]])
    params = arguments.get("params", {})
    try:
        values = spec.params.resolve({k: v for k, v in params.items() if k in spec.params})
        size = None if arguments.get("size") is None else _size_arg(arguments["size"])
    except XWidgetsError:
        return None
    if not sizes or any(min(s) < 1 for s in sizes):
        return None
    return check(spec.memory, model, sizes, values, title=spec.title, size=size, name=names[0])
