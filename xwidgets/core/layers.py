"""The default layer to explain a model at, chosen by a rule from one traced forward pass, and the one conversion
of a layer's output into a ``[N, C, h, w]`` map that every layer reader uses.

**Layer outputs as maps** (:func:`layer_map`). Grad-CAM, concepts, text, summaries and the similarity attributes
read a layer as a map ``[N, C, h, w]`` on the image's grid. A layer's output becomes one in one of three ways,
decided from its shape and the input's size ``(H, W)``:

- a map ``[N, C, h, w]`` (convolutional networks) is taken as it is;
- a channels-last map ``[N, h, w, C]`` (Swin's stages, ConvNeXt's inner blocks) is permuted, when its grid
  ``(h, w)`` has an aspect closer to the input's than the channels-first reading ``(w, C)`` has (a tie, such as a
  ``[N, 7, 7, 7]`` output of a square input, is read channels-first);
- tokens ``[N, T, D]`` (ViT) become ``[N, D, h, w]`` when ``T = e + h·w`` with ``h/w = H/W`` exactly and ``e`` at
  most :data:`MAX_EXTRA_TOKENS` leading extra tokens (ViT's class token: ``e = 1``), the fewest ``e`` that fits;
  the extra tokens are dropped and the rest reshaped row by row.

The conversion only indexes, reshapes and permutes, so it applies to a layer's gradient just as to its output.

**The default layer** (:func:`default_layer`) is the last map whose positions still reach the output. On one
forward pass of an example image, with a hook on every module:

1. the model's output must be a ``[N, D]`` vector;
2. the candidates are the module outputs that :func:`layer_map` reads as a map with ``h·w > 1``;
3. one backward pass of a fixed random direction of the output marks the candidates whose map positions receive a
   non-zero gradient; the others cannot explain the output. ViT is the case in point: its head reads the class
   token alone, after a final LayerNorm that acts on each token separately, so the patch tokens of the last
   encoder block's output (and of everything in that block after its attention) have a gradient of exactly zero,
   and Grad-CAM there is a constant map. The last tokens that reach the class token are those the last block's
   attention reads, the output of its first LayerNorm ``ln_1``;
4. take the last marked candidate, in the order the modules returned (the last candidate when none is marked: the
   output is flat at this input, e.g. a random-weight VGG on a blank image, so no layer is better than another);
5. while a pooling module (max/average, adaptive or not) or a LayerNorm produced it, step back to that module's
   input, if a module returned it. Pooling only resamples the block's maps (VGG's last max-pool and its 7×7
   adaptive average), so the rule keeps the finer maps; a LayerNorm only rescales each position, so the rule keeps
   the residual stream it normalises: ViT's last block's input (``encoder.layers.encoder_layer_10`` in
   ``vit_b_16``), the usual Grad-CAM layer for ViTs. On a random-weight ``vit_b_16`` at 64² (40 toy images)
   Grad-CAM's map was constant on 0 images there, on 4 at ``ln_1``'s output and on all 40 at ``ln_2``'s;
6. of the modules that returned that very tensor, take the one that ran last: the outermost block (``layer4``
   rather than ``layer4.1.relu``), whose output in-place activations have already rectified.

On the torchvision families this gives ResNet ``layer4``, VGG's last ReLU, ``features`` for DenseNet, MobileNetV3,
EfficientNet and ConvNeXt, RegNet ``trunk_output``, Swin's ``permute`` (its normalised last stage, turned
channels-first for the pooling) and ViT's last block's input: on CNNs and Swin the tensor the global pooling
consumes, on ViT the tokens the class token last attends to. A model with no candidate at all is refused.

DenseNet rectifies ``features`` with a functional, in-place ReLU outside any module. The rule returns
``features``; because the ReLU is in place, the recorded tensor holds the rectified maps by the time the forward
ends, and a gradient taken with respect to that tensor after the forward (as :func:`~xwidgets.heatmaps.gradcam`
does) is the gradient of the rectified maps.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .errors import invalid
from .models import Model
from .scoring import is_out_of_memory, out_of_memory_error
from .sources import image_count, image_source, read_images

__all__ = [
    "default_layer",
    "default_layer_on",
    "layer_map",
    "spatial_activation",
    "grid_cells",
    "POOLING_LAYERS",
    "MAX_EXTRA_TOKENS",
]

#: Modules that only resample feature maps; the rule looks through them to the maps they pool.
POOLING_LAYERS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)

#: Modules the rule looks through to their input: pooling, and LayerNorm, which only rescales each position.
LOOKED_THROUGH = (*POOLING_LAYERS, nn.LayerNorm)

#: The side of the dummy input used when no example input is given.
EXAMPLE_SIDE = 224

#: The most leading tokens (class, distillation, register tokens) dropped before the patch tokens' grid.
MAX_EXTRA_TOKENS = 8

#: Seeds the random output direction whose gradient tells which layers reach the output.
_DIRECTION_SEED = 17

#: The default layer found for a module, by (input shape, dtype, device, its submodules): tracing costs a
#: forward and a backward pass, which Grad-CAM would otherwise pay on every call.
_DEFAULT_LAYERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class _Call:
    """One module call of the traced forward pass: the module's name, the module, its first input and output."""

    name: str
    module: nn.Module
    input: object
    output: object


@dataclass(frozen=True)
class _Layout:
    """How a layer output lies on the image grid: ``"map"`` ``[N, C, h, w]``, ``"channels_last"`` ``[N, h, w, C]``
    or ``"tokens"`` ``[N, extra + h·w, D]``; ``height``/``width`` are the grid's ``h``/``w``."""

    kind: str
    extra: int = 0
    height: int = 0
    width: int = 0


def layer_map(output: torch.Tensor, size: tuple[int, int], *, layer: object = "layer") -> torch.Tensor:
    """A layer's output (or its gradient) as a map ``[N, C, h, w]`` on the image grid (see the module doc).

    Args:
        output: the recorded output ``[N, C, h, w]``, ``[N, h, w, C]`` or tokens ``[N, T, D]``.
        size: the input image's ``(H, W)`` in pixels, which decides the layout and the token grid.
        layer: the layer's name, for the error.

    Returns:
        ``[N, C, h, w]``, a view of ``output`` for maps and channels-last maps, a copy of the patch tokens for
        tokens (class and other leading tokens dropped). Differentiable.

    Raises:
        InvalidArgument: the output is not a tensor of one of these layouts.
    """
    layout = _layout(output, size)
    if layout is None:
        given = list(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise invalid(
            "layer",
            f"{layer!r}, whose output is {given} on a {size[0]}x{size[1]} input",
            "a layer whose output is a map [N, C, h, w], a channels-last map [N, h, w, C] or tokens "
            f"[N, e + h·w, D] with h/w = H/W and at most {MAX_EXTRA_TOKENS} leading extra tokens e",
        )
    if layout.kind == "channels_last":
        return output.permute(0, 3, 1, 2)
    if layout.kind == "tokens":
        patches = output[:, layout.extra :]
        return patches.transpose(1, 2).reshape(output.shape[0], output.shape[2], layout.height, layout.width)
    return output


def _layout(value: object, size: tuple[int, int]) -> _Layout | None:
    if not isinstance(value, torch.Tensor):
        return None
    if value.ndim == 4:
        if _aspect_error(value.shape[1], value.shape[2], size) < _aspect_error(value.shape[2], value.shape[3], size):
            return _Layout("channels_last", 0, value.shape[1], value.shape[2])
        return _Layout("map", 0, value.shape[2], value.shape[3])
    if value.ndim == 3:
        for extra in range(min(MAX_EXTRA_TOKENS, value.shape[1] - 1) + 1):
            grid = _token_grid(value.shape[1] - extra, size)
            if grid is not None:
                return _Layout("tokens", extra, *grid)
    return None


def _aspect_error(height: int, width: int, size: tuple[int, int]) -> float:
    """``|log(h/w) − log(H/W)|``: how far a ``height × width`` grid's aspect is from the input's (inf when empty)."""
    if height < 1 or width < 1:
        return math.inf
    return abs(math.log(height * size[1] / (width * size[0])))


def _token_grid(count: int, size: tuple[int, int]) -> tuple[int, int] | None:
    """``(h, w)`` with ``h·w = count > 1`` and ``h/w = H/W`` exactly, or None."""
    common = math.gcd(*size)
    rows, cols = size[0] // common, size[1] // common
    scale = math.isqrt(count // (rows * cols))
    if count < 2 or scale * scale * rows * cols != count:
        return None
    return rows * scale, cols * scale


def grid_cells(value: object, size: tuple[int, int]) -> int:
    """``h·w``, the positions of a layer output read as a map by :func:`layer_map` on an input of ``size``;
    0 when it cannot be read as one."""
    layout = _layout(value, size)
    return 0 if layout is None else layout.height * layout.width


def default_layer(module: nn.Module, inputs: torch.Tensor | None = None) -> str:
    """The dotted name of the last layer whose map reaches the model's output (see the module doc).

    Args:
        module: the model's ``nn.Module``; its training flags are restored after the trace.
        inputs: an example normalised batch ``[N, C, H, W]`` to trace with (its first image is used); default a
            standard normal image ``[1, C, 224, 224]`` (seeded) on the module's device, C the first convolution's
            input channels (not a blank image: on one, a random-weight network's ReLUs can all be off).

    Cost: one forward and one backward pass of one image, on the first call for a module, an input shape, dtype
    and device; later calls return the layer found then, unless a submodule was added or replaced since.

    Raises:
        InvalidArgument: the output is not ``[N, D]``, or no module outputs a map (or tokens on a grid).
    """
    example = _example(module) if inputs is None else inputs[:1].detach()
    key = (tuple(example.shape[1:]), example.dtype, example.device, tuple(id(sub) for sub in module.modules()))
    known = _DEFAULT_LAYERS.setdefault(module, {})
    if key not in known:
        known[key] = _traced_default_layer(module, example)
    return known[key]


def default_layer_on(model: Model, images: object) -> str:
    """:func:`default_layer` of ``model``, traced on the first of ``images`` (a source: see
    :mod:`~xwidgets.core.sources`) as the model prepares it, so that a token model is traced at its own input size,
    and on a real image."""
    images = image_source(images)
    image_count(images)
    return default_layer(model.module, model.normalize(read_images(model, images, 0, 1)))


def spatial_activation(record, layer: str, pixels: torch.Tensor) -> torch.Tensor:
    """The layer output recorded (by :func:`~xwidgets.core.hooks.record_layer`) for the batch ``pixels``
    ``[n, 3, H, W]``, as a map ``[n, C, h, w]`` (:func:`layer_map`: a channels-last map is permuted, tokens are put
    on the image grid). Raises naming ``layer`` when the forward pass never reached it or its output is no map."""
    activation = record.activation
    if activation is None:
        raise invalid(
            "layer", f"{layer!r}, which the forward pass never reached", "a layer the model runs for every image"
        )
    if activation.ndim not in (3, 4) or activation.shape[0] != pixels.shape[0]:
        raise invalid(
            "layer",
            f"{layer!r}, whose output is {list(activation.shape)}",
            "a convolutional layer whose output is a map [N, C, h, w], or a token layer [N, T, D] (its "
            "spatial mean is the feature vector)",
        )
    return layer_map(activation, (pixels.shape[-2], pixels.shape[-1]), layer=layer)


def _traced_default_layer(module: nn.Module, example: torch.Tensor) -> str:
    """:func:`default_layer` found by tracing ``example`` ``[1, C, H, W]``."""
    size = (example.shape[-2], example.shape[-1])
    calls, output = _trace(module, example)
    if not isinstance(output, torch.Tensor) or output.ndim != 2:
        shape = list(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise invalid(
            "layer",
            f"None on a model whose output is {shape}",
            "an explicit layer name: the default "
            "layer is the last feature map before a model's pooling into an [N, D] output",
        )
    candidates = {
        index: call.output
        for index, call in enumerate(calls)
        if isinstance(call.output, torch.Tensor) and grid_cells(call.output, size) > 1
    }
    if not candidates:
        raise invalid(
            "layer",
            "None on a model with no map [N, C, h, w] (h·w > 1), channels-last map or grid of "
            "tokens in any module's output",
            "an explicit layer name, or a convolutional or token model",
        )
    reaching = _reaching(candidates, output, size) or list(candidates)
    return _outermost(calls, _looked_through(calls, candidates[reaching[-1]], size))


def _reaching(candidates: dict[int, torch.Tensor], output: torch.Tensor, size: tuple[int, int]) -> list[int]:
    """The candidates (call index -> map output) whose map positions get a non-zero gradient from a fixed random
    direction of the output (random, so that no structure of the output, such as probabilities summing to one,
    cancels it); their call indices in order."""
    if not output.requires_grad:
        return list(candidates)
    tensors = list({id(tensor): tensor for tensor in candidates.values() if tensor.requires_grad}.values())
    generator = torch.Generator().manual_seed(_DIRECTION_SEED)
    direction = torch.randn(output.shape, generator=generator).to(output)
    gradients = torch.autograd.grad((output * direction).sum(), tensors, allow_unused=True)
    reached = {
        id(tensor)
        for tensor, gradient in zip(tensors, gradients)
        if gradient is not None and bool(layer_map(gradient, size).ne(0).any())
    }
    return [index for index, tensor in candidates.items() if id(tensor) in reached]


def _example(module: nn.Module) -> torch.Tensor:
    first = next(module.parameters(), None)
    conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    channels = conv.in_channels if conv is not None else 3
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    generator = torch.Generator().manual_seed(_DIRECTION_SEED)
    return torch.randn(1, channels, EXAMPLE_SIDE, EXAMPLE_SIDE, generator=generator).to(device, dtype)


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
    """Every module call of one forward pass of ``example`` (with gradients, from an input that requires them),
    in the order the calls returned, and the output."""
    calls: list[_Call] = []

    def hook_for(name: str):
        def on_forward(sub: nn.Module, inputs: tuple, output: object) -> None:
            calls.append(_Call(name, sub, inputs[0] if inputs else None, output))

        return on_forward

    handles = [sub.register_forward_hook(hook_for(name)) for name, sub in module.named_modules() if name]
    try:
        with torch.enable_grad(), _evaluating(module):
            output = module(example.requires_grad_(example.is_floating_point()))
    except Exception as error:  # any failure of a user's model: say what was tried, keep the cause
        if is_out_of_memory(error):  # one image already: no layer choice helps, memory does
            raise out_of_memory_error(example.device, error) from error
        raise invalid(
            "layer",
            f"None, and tracing the model on a {list(example.shape)} input to find the default "
            f"layer failed ({type(error).__name__}: {error})",
            "an explicit layer name",
        ) from error
    finally:
        for handle in handles:
            handle.remove()
    return calls, output


def _looked_through(calls: list[_Call], tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``tensor``, or while a pooling module or a LayerNorm produced it, the map that module consumed (when a
    module returned that map, so that a hook can record it)."""
    while True:
        step = next((c for c in calls if c.output is tensor and isinstance(c.module, LOOKED_THROUGH)), None)
        if (
            step is None
            or not isinstance(step.input, torch.Tensor)
            or grid_cells(step.input, size) <= 1
            or not any(c.output is step.input for c in calls)
        ):
            return tensor
        tensor = step.input


def _outermost(calls: list[_Call], tensor: torch.Tensor) -> str:
    """The name of the last-returning module that returned ``tensor`` in its last call (so a hook on it sees it)."""
    last_call = {id(call.module): call for call in calls}
    names = [c.name for c in calls if c.output is tensor and last_call[id(c.module)] is c]
    if not names:
        raise invalid(
            "layer",
            "None on a model whose last feature map comes from a module that runs again later",
            "an explicit layer name",
        )
    return names[-1]
