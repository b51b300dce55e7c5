"""What a benchmark row measures around one call: model passes (forward-only and forward + backward, by chunk
size), peak memory, wall time, and the time the bare model needs for the same passes.

All hooks are context managers and are removed when the block ends, even when an exception escapes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

import xwidgets as xw

__all__ = [
    "PassCount",
    "count_passes",
    "peak_memory",
    "memory_kind",
    "Measurement",
    "measure",
    "BarePasses",
    "synchronize",
]

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _malloc_trim() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)``, which hands freed heap memory back to the system (a no-op elsewhere)."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0)


_release_freed_memory = _malloc_trim()


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on ``device`` (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class PassCount:
    """Chunks a model ran, by chunk size (images per chunk).

    Attributes:
        forwarded: every forward chunk, by size.
        backwarded: the chunks whose output a backward pass reached (a subset of ``forwarded``).
    """

    forwarded: Counter = field(default_factory=Counter)
    backwarded: Counter = field(default_factory=Counter)

    @property
    def forward_only(self) -> Counter:
        """Forward chunks that no backward pass reached, by size."""
        return self.forwarded - self.backwarded

    @property
    def forward_only_images(self) -> int:
        return sum(size * n for size, n in self.forward_only.items())

    @property
    def backward_images(self) -> int:
        return sum(size * n for size, n in self.backwarded.items())


@contextlib.contextmanager
def count_passes(model: xw.core.Model) -> Iterator[PassCount]:
    """Count the forward chunks of ``model.module`` and the chunks a backward pass goes through.

    A forward hook records each chunk; when the chunk's output requires grad, a tensor hook on it records the
    backward pass that reaches it (``backward()`` or ``torch.autograd.grad``).
    """
    count = PassCount()

    def on_backward(size: int) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:
            count.backwarded[size] += 1

        return hook

    def on_forward(module, args, output) -> None:
        size = int(output.shape[0])
        count.forwarded[size] += 1
        if output.requires_grad:
            output.register_hook(on_backward(size))

    handle = model.module.register_forward_hook(on_forward)
    before = model.images_forwarded
    try:
        yield count
    finally:
        handle.remove()
    counted = sum(size * n for size, n in count.forwarded.items())
    if counted != model.images_forwarded - before:
        raise RuntimeError(
            f"the forward hook saw {counted} images but Model.images_forwarded grew by "
            f"{model.images_forwarded - before}"
        )


def memory_kind(device: torch.device) -> str:
    """What :func:`peak_memory` measures on ``device``, for table headers."""
    if device.type == "cuda":
        return "peak CUDA memory allocated above the start (torch.cuda.max_memory_allocated)"
    if _CLEAR_REFS.exists():
        return (
            "peak resident memory (RSS) above the RSS at the start, after glibc's malloc_trim(0) has handed "
            "memory freed by earlier calls back (VmHWM after writing 5 to /proc/self/clear_refs); it counts "
            "every allocation of the process, not only tensors"
        )
    return "not measured (no /proc/self/clear_refs on this system)"


def _status_kib(key: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} missing from {_STATUS}")


@contextlib.contextmanager
def peak_memory(device: torch.device) -> Iterator[dict]:
    """Yields a dict whose ``"bytes"`` holds, after the block, its peak memory above the start (None if unknown)."""
    box = {"bytes": None}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        yield box
        torch.cuda.synchronize(device)
        box["bytes"] = torch.cuda.max_memory_allocated(device) - start
        return
    _release_freed_memory()
    try:
        _CLEAR_REFS.write_text("5")
        start = _status_kib("VmRSS")
    except OSError:
        yield box
        return
    yield box
    box["bytes"] = max(0, _status_kib("VmHWM") - start) * 1024


@dataclass
class Measurement:
    """One benchmark row's numbers for a call on ``images`` images.

    Attributes:
        seconds: the median wall time of the timed runs (the single run when ``runs`` is 1).
        runs: how many timed runs the median is over; ``warm_up`` says whether an untimed run came first.
        passes: the passes of the last run.
        peak_bytes: the largest peak memory over all runs (warm-up included).
    """

    images: int
    seconds: float
    runs: int
    warm_up: bool
    passes: PassCount
    peak_bytes: int | None

    @property
    def per_image(self) -> float:
        return self.seconds / self.images


def measure(
    model: xw.core.Model,
    call: Callable[[], object],
    images: int,
    *,
    warm_up: bool = True,
    cheap_seconds: float = 2.0,
    repeats: int = 3,
) -> Measurement:
    """Run ``call`` with passes, memory and time measured.

    With ``warm_up`` the first run is untimed; then ``repeats`` timed runs if that run took under
    ``cheap_seconds``, else one. Without ``warm_up`` the one run is the timed run.
    """

    def run() -> tuple[float, PassCount, int | None]:
        with count_passes(model) as passes, peak_memory(model.device) as memory:
            synchronize(model.device)
            start = time.perf_counter()
            call()
            synchronize(model.device)
            seconds = time.perf_counter() - start
        return seconds, passes, memory["bytes"]

    runs = [run()]
    if warm_up:
        count = repeats if runs[0][0] < cheap_seconds else 1
        runs = runs + [run() for _ in range(count)]
    timed = runs[1:] if warm_up else runs
    peaks = [peak for _, _, peak in runs if peak is not None]
    return Measurement(
        images=images,
        seconds=statistics.median(s for s, _, _ in timed),
        runs=len(timed),
        warm_up=warm_up,
        passes=runs[-1][1],
        peak_bytes=max(peaks) if peaks else None,
    )


class BarePasses:
    """Wall times of the bare model (no kernel around it) on random normalised input, cached by chunk size.

    ``forward`` runs the module under ``no_grad``; ``backward`` runs forward and a backward to the input with the
    parameters frozen, as the gradient methods do. Each time is the median of ``repeats`` runs after a warm-up
    (``warm_up=False`` skips it, for models too slow to run twice).
    """

    def __init__(self, model: xw.core.Model, size: tuple[int, int], *, repeats: int = 5, warm_up: bool = True):
        self.model, self.size, self.repeats, self.warm_up = model, tuple(size), repeats, warm_up
        self._seconds: dict[tuple[str, int], float] = {}

    def seconds(self, kind: str, batch: int) -> float:
        """Wall time of one bare ``kind`` (``"forward"`` or ``"backward"``) pass over ``batch`` images."""
        key = (kind, batch)
        if key not in self._seconds:
            self._seconds[key] = self._time(kind, batch)
        return self._seconds[key]

    def per_image(self, kind: str, batch: int) -> float:
        return self.seconds(kind, batch) / batch

    def _time(self, kind: str, batch: int) -> float:
        model = self.model
        generator = torch.Generator().manual_seed(batch)
        pixels = torch.rand(batch, 3, *self.size, generator=generator).to(model.device, model.dtype)
        inputs = model.normalize(pixels)

        def forward() -> None:
            with torch.no_grad():
                model.module(inputs)

        def backward() -> None:
            leaf = inputs.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                torch.autograd.grad(model.module(leaf)[:, 0].sum(), leaf)

        work = forward if kind == "forward" else backward
        times = []
        with model.frozen():
            if self.warm_up:
                work()
            for _ in range(self.repeats):
                synchronize(model.device)
                start = time.perf_counter()
                work()
                synchronize(model.device)
                times.append(time.perf_counter() - start)
        return statistics.median(times)

    def limit(self, passes: PassCount, batch: int | None = None) -> float:
        """The bare model's time for ``passes``: at micro-batch ``batch`` per image (the issue's definition) when
        given, else chunk by chunk at the sizes the kernel actually used."""
        if batch is not None:
            return passes.forward_only_images * self.per_image(
                "forward", batch
            ) + passes.backward_images * self.per_image("backward", batch)
        return sum(n * self.seconds("forward", size) for size, n in passes.forward_only.items()) + sum(
            n * self.seconds("backward", size) for size, n in passes.backwarded.items()
        )
