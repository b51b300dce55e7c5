"""The default layer to explain a model at, chosen by a rule from one traced forward pass.

Grad-CAM and the concept, summary, text and attribute methods explain a model at its last spatial feature maps:
the rectified output of its last convolutional block, the tensor its global pooling consumes (ResNet ``layer4``,
VGG's last ReLU, DenseNet/MobileNet/EfficientNet/ConvNeXt ``features``, RegNet ``trunk_output``). The last
``Conv2d`` is not that layer: its output comes before the normalisation, the residual sum and the activation,
and can be negative exactly where the evidence is.

The rule, on one forward pass with a hook on every module:

1. the model's output must be a ``[N, D]`` vector;
2. take the last module output, in execution order, that is a ``[N, C, h, w]`` map with ``h·w > 1``;
3. if a pooling module (max/average, adaptive or not) produced it, step back to the pooling's input: pooling only
   resamples the block's maps (VGG's last max-pool and its 7×7 adaptive average), so the rule keeps the finer maps;
4. of the modules that returned that very tensor, take the one that ran last: the outermost block (``layer4``
   rather than ``layer4.1.relu``), whose output in-place activations have already rectified.

A token model (ViT: a patch-embedding convolution, then ``[N, tokens, D]`` outputs) has no such map before its
pooling; the rule refuses it rather than choose the patch embedding.

DenseNet rectifies ``features`` with a functional, in-place ReLU outside any module. The rule returns
``features``; because the ReLU is in place, the recorded tensor holds the rectified maps by the time the forward
ends, and a gradient taken with respect to that tensor after the forward (as :func:`~xwidgets.heatmaps.gradcam`
does) is the gradient of the rectified maps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .errors import invalid

__all__ = ["default_layer", "POOLING_LAYERS"]

#: Modules that only resample feature maps; the rule looks through them to the maps they pool.
POOLING_LAYERS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)

#: The side of the dummy input used when no example input is given.
EXAMPLE_SIDE = 224


@dataclass
class _Call:
    """One module call of the traced forward pass: the module's name, the module, its first input and output."""

    name: str
    module: nn.Module
    input: object
    output: object


def default_layer(module: nn.Module, inputs: torch.Tensor | None = None) -> str:
    """The dotted name of the module whose output is the model's last spatial feature map (see the module doc).

    Args:
        module: the model's ``nn.Module``; its training flags are restored after the trace.
        inputs: an example normalised batch ``[N, C, H, W]`` to trace with (its first image is used); default a
            zero image ``[1, C, 224, 224]`` on the module's device, C the first convolution's input channels.

    Raises:
        InvalidArgument: the model has no spatial map before a ``[N, D]`` output, or is a token model.
    """
    example = _example(module) if inputs is None else inputs[:1].detach()
    calls, output = _trace(module, example)
    if not isinstance(output, torch.Tensor) or output.ndim != 2:
        shape = list(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise invalid("layer", f"None on a model whose output is {shape}", "an explicit layer name: the default "
                      "layer is the last feature map before a model's pooling into an [N, D] output")
    spatial = [index for index, call in enumerate(calls) if _is_map(call.output)]
    if not spatial:
        raise invalid("layer", "None on a model with no [N, C, h, w] output (h·w > 1) in any module",
                      "an explicit layer name, or a convolutional model")
    tokens = [call for call in calls[spatial[-1] + 1:] if _is_tokens(call.output)]
    if tokens:
        raise invalid("layer", f"None on a token model (after its last spatial layer {calls[spatial[-1]].name!r}, "
                      f"{tokens[0].name!r} outputs {list(tokens[0].output.shape)})", "a convolutional model: "
                      "token models (ViT) need an explicit layer and a reshape of their tokens into a map")
    return _outermost(calls, _pooled_map(calls, calls[spatial[-1]].output))


def _is_map(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[-2] * value.shape[-1] > 1


def _is_tokens(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.ndim == 3


def _example(module: nn.Module) -> torch.Tensor:
    first = next(module.parameters(), None)
    conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    channels = conv.in_channels if conv is not None else 3
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    return torch.zeros(1, channels, EXAMPLE_SIDE, EXAMPLE_SIDE, device=device, dtype=dtype)


@contextlib.contextmanager
def _evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode inside the block (no batch-norm statistics change); every submodule's flag restored after."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for sub, flag in flags:
            sub.train(flag)


def _trace(module: nn.Module, example: torch.Tensor) -> tuple[list[_Call], object]:
    """Every module call of one forward pass of ``example``, in the order the calls returned, and the output."""
    calls: list[_Call] = []

    def hook_for(name: str):
        def on_forward(sub: nn.Module, inputs: tuple, output: object) -> None:
            calls.append(_Call(name, sub, inputs[0] if inputs else None, output))
        return on_forward

    handles = [sub.register_forward_hook(hook_for(name)) for name, sub in module.named_modules() if name]
    try:
        with torch.no_grad(), _evaluating(module):
            output = module(example)
    except Exception as error:  # any failure of a user's model: say what was tried, keep the cause
        raise invalid("layer", f"None, and tracing the model on a {list(example.shape)} input to find the default "
                      f"layer failed ({type(error).__name__}: {error})", "an explicit layer name") from error
    finally:
        for handle in handles:
            handle.remove()
    return calls, output


def _pooled_map(calls: list[_Call], tensor: torch.Tensor) -> torch.Tensor:
    """``tensor``, or while a pooling module produced it, the spatial map that pooling consumed."""
    while True:
        pooling = next((c for c in calls if c.output is tensor and isinstance(c.module, POOLING_LAYERS)), None)
        if pooling is None or not _is_map(pooling.input) or not any(c.output is pooling.input for c in calls):
            return tensor
        tensor = pooling.input


def _outermost(calls: list[_Call], tensor: torch.Tensor) -> str:
    """The name of the last-returning module that returned ``tensor`` in its last call (so a hook on it sees it)."""
    last_call = {id(call.module): call for call in calls}
    names = [c.name for c in calls if c.output is tensor and last_call[id(c.module)] is c]
    if not names:
        raise invalid("layer", "None on a model whose last feature map comes from a module that runs again later",
                      "an explicit layer name")
    return names[-1]
