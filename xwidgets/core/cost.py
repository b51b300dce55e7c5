"""What one pass of a model costs where it runs, measured once, and the time estimates explorers build from it.

An explorer must not start a three-minute optimisation on a model it has never timed. :func:`pass_time` times
forward passes and forward+backward passes of one image (after an untimed warm-up pass), and caches the fastest on
the model (``model.pass_times``, one entry per input size). A method's cost is then counted in images:
``forward`` images scored without gradients and ``gradient`` images scored with a backward pass to the input, and
:meth:`PassTime.seconds` turns those counts into seconds.

The counts are timed at batch 1, where the methods score micro-batches (up to ``model.max_batch``) and do work of
their own around the passes (masks, noise, upsampling). :data:`SLOWDOWN` covers that difference. Measured on this
package's 2-core CPU (Python 3.11, torch threads 1), the time a run took over its count at batch-1 pass times was
1.6 to 2.1: I-GOS (15 iterations, 482 images) 2.13 s on the toy classifier at 112² (count 1.0 s); on the
pretrained EfficientNet-Lite0 at 224², one I-GOS iteration (34 images) 5.1 s (count 3.2 s) and the
deletion and insertion curves (103 images) 7.1 s (count 3.6 s). On a GPU the batch-1 passes are bound by kernel
launches, so there the estimates err long.

The fastest of several timings is kept, so that a spike of other work cannot flip an explorer's choice: the
estimates are of an otherwise idle device. On a busy shared CPU runs take longer (EfficientNet-Lite0's I-GOS on the
cat: ≈ 1.8 min estimated from its fastest passes, 238 s measured at a load average of 8.8 on 2 cores,
benchmarks/results/pretrained_cpu.md).
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch

from .models import Model

__all__ = ["PassTime", "pass_time", "format_seconds", "device_words", "SLOWDOWN", "INTERACTIVE_SECONDS"]

#: A run's time over its image count at batch-1 pass times (measured 1.6 to 2.1 on the CPU; see above).
SLOWDOWN = 2.0
#: The longest estimate an explorer starts on its own: above it, it starts a faster method or waits for a click.
INTERACTIVE_SECONDS = 10.0
#: At most this many timings of each kind of pass, and no more once this many seconds are spent on them.
TIMINGS, TIMING_SECONDS = 5, 0.3


@dataclasses.dataclass(frozen=True)
class PassTime:
    """Seconds per image of one model at one input size.

    Attributes:
        forward: one forward pass without gradients, at batch 1.
        gradient: one forward pass and the backward pass to the input, at batch 1.
    """

    forward: float
    gradient: float

    def seconds(self, forward: int = 0, gradient: int = 0) -> float:
        """Estimated seconds of a run that scores ``forward`` images without and ``gradient`` images with a
        backward pass (batched, as the methods do: :data:`SLOWDOWN` times the batch-1 passes)."""
        return SLOWDOWN * (forward * self.forward + gradient * self.gradient)


def pass_time(model: Model, pixels: torch.Tensor) -> PassTime:
    """Time ``model`` on one image of ``pixels`` (``[B, 3, H, W]`` in [0, 1], the model's input size; the first
    image is used), once per input size: later calls return the cached :class:`PassTime`.

    One untimed forward+backward pass warms up the device's kernels; then each kind of pass is timed (with the
    device synchronised) up to :data:`TIMINGS` times, until :data:`TIMING_SECONDS` are spent, and the fastest
    time is kept: other work on a shared CPU only ever slows a pass down. The model's parameters stay frozen and
    it holds its lock. Cost: about 0.6 s for EfficientNet-Lite0 on a CPU, a few ms for the toy classifier.
    """
    key = tuple(pixels.shape[1:])
    cached = model.pass_times.get(key)
    if cached is not None:
        return cached
    inputs = model.normalize(pixels[:1]).detach()
    with model.lock, model.frozen():
        _gradient_pass(model, inputs)
        gradient = _fastest(model, lambda: _gradient_pass(model, inputs))
        with torch.no_grad():
            forward = _fastest(model, lambda: model.forward(inputs))
    model.pass_times[key] = PassTime(forward=forward, gradient=gradient)
    return model.pass_times[key]


def _gradient_pass(model: Model, inputs: torch.Tensor) -> None:
    leaf = inputs.clone().requires_grad_(True)
    with torch.enable_grad():
        output = model.forward(leaf)
        if output.requires_grad:  # a module that detaches its output has only a forward pass
            torch.autograd.grad(output.float().sum(), leaf)


def _fastest(model: Model, work) -> float:
    """The least time of up to :data:`TIMINGS` runs of ``work``, stopping once :data:`TIMING_SECONDS` are spent."""
    times = [_timed(model, work)]
    while len(times) < TIMINGS and sum(times) < TIMING_SECONDS:
        times.append(_timed(model, work))
    return min(times)


def _timed(model: Model, work) -> float:
    _synchronise(model.device)
    start = time.perf_counter()
    work()
    _synchronise(model.device)
    return time.perf_counter() - start


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def format_seconds(seconds: float) -> str:
    """A rounded duration for a label: ``"≈ 40 ms"``, ``"≈ 3 s"``, ``"≈ 1.5 min"``, ``"≈ 2.1 h"``."""
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 1.0:
        return f"≈ {max(seconds * 1000, 1):.0f} ms"
    if seconds < 60.0:
        return f"≈ {seconds:.0f} s"
    if seconds < 3600.0:
        return f"≈ {seconds / 60:.1f} min"
    return f"≈ {seconds / 3600:.1f} h"


def device_words(model: Model) -> str:
    """Where the model runs, for a label: ``"this CPU"`` or ``"this GPU"``."""
    kind = model.device.type
    return "this CPU" if kind == "cpu" else "this GPU" if kind in ("cuda", "mps") else f"this {kind} device"
