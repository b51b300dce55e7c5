"""The default layer is traced once per module and input shape, not on every Grad-CAM call (issue 17, item 6)."""

import torch
from torch import nn

import xwidgets as xw
from xwidgets.core.layers import default_layer


def _small_cnn() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    ).eval()


def _module_calls(module: nn.Module):
    calls = []
    handle = module.register_forward_hook(lambda m, args, out: calls.append(int(out.shape[0])))
    return calls, handle


def test_gradcam_runs_the_model_once_after_the_first_call():
    model = xw.Classifier(_small_cnn())
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    first = xw.explain(model, image, method="gradcam")
    calls, handle = _module_calls(model.module)
    try:
        before = model.images_forwarded
        second = xw.explain(model, image, method="gradcam")
    finally:
        handle.remove()
    # Every pass went through Model.forward (none was a hidden trace), and Grad-CAM needs exactly the top-1
    # forward of prepare and its own forward + backward.
    assert sum(calls) == model.images_forwarded - before == 2
    assert first.saliency.std() > 0.05  # a real map, not a degenerate one
    assert torch.equal(first.saliency, second.saliency)


def test_default_layer_is_traced_again_for_a_new_shape_or_a_replaced_submodule():
    module = _small_cnn()
    calls, handle = _module_calls(module)
    try:
        assert default_layer(module, torch.rand(1, 3, 32, 32)) == "3"
        assert default_layer(module, torch.rand(2, 3, 32, 32)) == "3"  # same image shape: cached
        assert len(calls) == 1
        default_layer(module, torch.rand(1, 3, 40, 40))
        assert len(calls) == 2
        module[3] = nn.Tanh()  # a replaced submodule: traced again
        assert default_layer(module, torch.rand(1, 3, 32, 32)) == "3"
        assert len(calls) == 3
    finally:
        handle.remove()
