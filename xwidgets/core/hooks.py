"""Layer hooks as context managers that always remove themselves, even when an exception escapes.

with record_layer(model.module, "layer4") as layer:
    output = model.forward(inputs)          # layer.activation is [N, C, h, w]
    output[:, 3].sum().backward()           # layer.gradient is d(score)/d(activation)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from .errors import invalid

__all__ = ["find_layer", "LayerRecord", "record_layer"]


def find_layer(module: nn.Module, layer: str | nn.Module, *, name: str = "layer") -> nn.Module:
    """The submodule named ``layer`` (dotted path, as in ``module.named_modules()``), or ``layer`` itself.

    Raises ``InvalidArgument`` listing the convolutional layers when the name is not found.
    """
    if isinstance(layer, nn.Module):
        if not any(sub is layer for sub in module.modules()):
            raise invalid(name, type(layer).__name__, "a submodule of the model")
        return layer
    modules = dict(module.named_modules())
    if not isinstance(layer, str) or layer not in modules or layer == "":
        convs = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)]
        shown = ", ".join(convs[-8:]) or "none"
        raise invalid(name, layer, f"a layer name of the model (its last conv layers: {shown})")
    return modules[layer]


class LayerRecord:
    """What :func:`record_layer` captured: the layer's output and, after a backward pass, its gradient."""

    def __init__(self) -> None:
        self.activation: torch.Tensor | None = None
        self.gradient: torch.Tensor | None = None


@contextlib.contextmanager
def record_layer(module: nn.Module, layer: str | nn.Module, *, gradients: bool = False) -> Iterator[LayerRecord]:
    """Record a layer's output (and, with ``gradients=True``, the gradient reaching it) inside the block.

    The forward hook and every tensor hook are removed on exit, also when the block raises.
    """
    target = find_layer(module, layer)
    record = LayerRecord()
    tensor_handles: list = []

    def on_forward(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        if not isinstance(output, torch.Tensor):
            raise invalid("layer", f"a layer whose output is {type(output).__name__}", "a layer returning a tensor")
        record.activation = output
        if gradients and output.requires_grad:

            def on_gradient(grad: torch.Tensor, recorded: torch.Tensor = output) -> None:
                if recorded is record.activation:  # a module that runs twice: keep its last call's gradient
                    record.gradient = grad

            tensor_handles.append(output.register_hook(on_gradient))

    handle = target.register_forward_hook(on_forward)
    try:
        yield record
    finally:
        handle.remove()
        for tensor_handle in tensor_handles:
            tensor_handle.remove()
