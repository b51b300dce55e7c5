import pytest
import torch

from xwidgets.core import find_layer, record_layer
from xwidgets.core.errors import InvalidArgument


def _hook_count(module):
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in module.modules())


def test_records_activation_and_gradient(tiny_module):
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    with record_layer(tiny_module, "features.2", gradients=True) as layer:
        out = tiny_module(x)
        out[:, 1].sum().backward()
    assert layer.activation.shape == (2, 8, 8, 8)
    assert layer.gradient.shape == layer.activation.shape and layer.gradient.abs().sum() > 0
    assert _hook_count(tiny_module) == 0


def test_hooks_are_removed_when_the_block_raises(tiny_module):
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    with pytest.raises(ValueError), record_layer(tiny_module, "features.0", gradients=True) as layer:
        tiny_module(x)
        raise ValueError("boom")
    assert _hook_count(tiny_module) == 0
    assert layer.activation.grad_fn is not None and not layer.activation._backward_hooks


def test_hooks_are_removed_when_the_forward_raises(tiny_module):
    with pytest.raises(RuntimeError), record_layer(tiny_module, "features.0"):
        tiny_module(torch.rand(1, 4, 8, 8))  # wrong channel count
    assert _hook_count(tiny_module) == 0


def test_unknown_layer_lists_conv_layers(tiny_module):
    with pytest.raises(InvalidArgument, match=r"features\.0, features\.2"):
        find_layer(tiny_module, "layer4")
    assert find_layer(tiny_module, tiny_module.fc) is tiny_module.fc
    with pytest.raises(InvalidArgument, match="submodule"):
        find_layer(tiny_module, torch.nn.Conv2d(1, 1, 1))
