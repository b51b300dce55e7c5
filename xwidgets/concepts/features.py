"""Reading one layer of a classifier over a dataset, once: the features an explanation space is fitted to.

XNN (METHODS.md section 5) embeds a high-dimensional layer of the network. We read a **convolutional** layer's
output ``A`` of shape ``[C, h, w]`` and take its spatial mean as the feature vector ``x`` (``[C]``). For networks
that end in a global average pool this is exactly the penultimate vector the head reads (ResNet's ``layer4``, the
toy CNN's ``features``), the analogue of the paper's fc7; for VGG, whose head flattens a 7×7 map, it is the
spatial mean of that map. Keeping the layer spatial is what lets the
concept maps (:mod:`xwidgets.concepts.maps`) pass from a feature back to image positions.

:func:`extract_features` makes one batched pass over the images and returns :class:`Features`, which holds the
features and the model's logits. Fitting, refitting with other settings and the explorer's retraining all start
from this object, so the dataset pass is never repeated; ``Features.save`` keeps it on disk between sessions.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import torch

from ..core.errors import invalid
from ..core.hooks import record_layer
from ..core.images import is_pil, to_batch
from ..core.layers import default_layer, layer_map
from ..core.models import Classifier, Model, check_model
from ..core.results import Result
from ..core.runner import as_progress, shows_progress

__all__ = ["Features", "extract_features", "dataset_image", "image_source", "image_count", "read_images",
           "spatial_activation", "default_layer_on"]


@dataclasses.dataclass(kw_only=True)
class Features(Result):
    """One layer's pooled activations and the model's logits over N images.

    Attributes:
        features: ``[N, C]`` float32, the spatial mean of the layer's output per image.
        logits: ``[N, K]`` float32, the classifier's logits per image.
        layer: the layer's dotted name in the model.
        layer_shape: ``[C, h, w]`` of the layer's output for one image.
        model_name: the classifier's name (a check when the features are reused with a model).
        labels: the classifier's class names, or None.
    """

    features: torch.Tensor = None
    logits: torch.Tensor = None
    layer: str = ""
    layer_shape: list = dataclasses.field(default_factory=list)
    model_name: str = ""
    labels: list | None = None

    def __len__(self) -> int:
        return int(self.features.shape[0])


def image_source(images: object, name: str = "images") -> object:
    """``images`` as a ``[N, 3, H, W]`` tensor or a sequence of single images: one image (a ``[3, H, W]`` tensor,
    an ``[H, W, 3]`` array, a PIL image or a path) becomes a batch of one; tensors and sequences pass through."""
    if isinstance(images, torch.Tensor) and images.ndim == 3:
        return images.unsqueeze(0)
    if isinstance(images, np.ndarray) and images.ndim == 3 or isinstance(images, (str, Path)) or is_pil(images):
        return to_batch(images, name=name)
    return images


def image_count(images: object, name: str = "images") -> int:
    """The number of images in a ``[N, 3, H, W]`` tensor or a sequence of single images; raises when empty."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise invalid(name, images, "a [N, 3, H, W] tensor or a sequence of images")
        count = int(images.shape[0])
    elif isinstance(images, (str, bytes)) or not isinstance(images, Sequence) and not hasattr(images, "__getitem__"):
        raise invalid(name, type(images).__name__, "a [N, 3, H, W] tensor or a sequence of images (list, Dataset)")
    else:
        try:
            count = len(images)
        except TypeError:
            raise invalid(name, type(images).__name__, "a sequence of images with a length") from None
    if count == 0:
        raise invalid(name, "no images", "at least one image")
    return count


def read_images(model: Classifier, images: object, start: int, stop: int, name: str = "images") -> torch.Tensor:
    """Images ``start:stop`` of a tensor or sequence, prepared for ``model`` (``[n, 3, H, W]`` pixel space)."""
    if isinstance(images, torch.Tensor):
        return model.prepare(images[start:stop], name=name)
    batch = [to_batch(dataset_image(images[i]), name=f"{name}[{i}]") for i in range(start, stop)]
    sizes = {tuple(b.shape[-2:]) for b in batch}
    if len(sizes) > 1 and model.preprocessing.resize is None:
        raise invalid(name, f"images of sizes {sorted(sizes)} in one dataset",
                      "images of one size, or a model whose preprocessing resizes them")
    return torch.cat([model.prepare(b, name=f"{name}[{start + i}]") for i, b in enumerate(batch)])


def dataset_image(item: object) -> object:
    """A dataset item's image: the item itself, or the first element of an ``(image, label, ...)`` tuple."""
    return item[0] if isinstance(item, tuple) and item else item


def default_layer_on(model: Model, images: object) -> str:
    """:func:`~xwidgets.core.layers.default_layer` of ``model``, traced on the first of ``images`` as the model
    prepares it (so that a token model is traced at its own input size, and on a real image)."""
    images = image_source(images)
    image_count(images)
    return default_layer(model.module, model.normalize(read_images(model, images, 0, 1)))


def spatial_activation(record, layer: str, pixels: torch.Tensor) -> torch.Tensor:
    """The layer output recorded for the batch ``pixels`` ``[n, 3, H, W]``, as a map ``[n, C, h, w]``
    (:func:`~xwidgets.core.layers.layer_map`: a channels-last map is permuted, tokens are put on the image grid)."""
    activation = record.activation
    if activation is None:
        raise invalid("layer", f"{layer!r}, which the forward pass never reached",
                      "a layer the model runs for every image")
    if activation.ndim not in (3, 4) or activation.shape[0] != pixels.shape[0]:
        raise invalid("layer", f"{layer!r}, whose output is {list(activation.shape)}",
                      "a convolutional layer whose output is a map [N, C, h, w], or a token layer [N, T, D] (its "
                      "spatial mean is the feature vector)")
    return layer_map(activation, tuple(pixels.shape[-2:]), layer=layer)


@shows_progress("extract_features")
def extract_features(model: Classifier, images: object, layer: str, *, batch_size: int | None = None,
                     progress=True) -> Features:
    """Read ``layer`` over ``images`` in batched forward passes without gradients.

    Args:
        model: a :class:`~xwidgets.core.models.Classifier` in eval mode.
        images: a ``[N, 3, H, W]`` tensor in [0, 1], or a sequence of single images in any form
            :func:`~xwidgets.core.images.to_batch` accepts (a list, or a ``torch.utils.data.Dataset`` whose items
            are images or ``(image, label)`` tuples).
        layer: the dotted name of a convolutional layer, e.g. ``"layer4"`` (ResNet) or ``"features"`` (toy).
        batch_size: images per forward pass (default the model's ``max_batch``).
        progress: a :class:`~xwidgets.core.runner.Progress` or ``callback(fraction, message)``; cancellable.

    Returns:
        :class:`Features` with ``features [N, C]`` and ``logits [N, K]`` on the CPU.
    """
    check_model(model, Classifier)
    images = image_source(images)
    count = image_count(images)
    if batch_size is None:
        batch_size = model.max_batch
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise invalid("batch_size", batch_size, "a positive int")
    progress = as_progress(progress)
    started = time.perf_counter()
    features, logits, shape = [], [], None
    with model.lock, torch.no_grad(), model.frozen(), record_layer(model.module, layer) as record:
        for start in range(0, count, batch_size):
            progress.check()
            stop = min(start + batch_size, count)
            pixels = read_images(model, images, start, stop)
            output = model.forward(model.normalize(pixels))
            activation = spatial_activation(record, layer, pixels)
            shape = list(activation.shape[1:])
            features.append(activation.float().mean(dim=(2, 3)).cpu())
            logits.append(output.float().cpu())
            record.activation = None
            progress.report(stop / count, f"features {stop}/{count}")
    return Features(method="features", params={"layer": layer, "batch_size": batch_size, "images": count},
                    timings={"extract": time.perf_counter() - started}, features=torch.cat(features),
                    logits=torch.cat(logits), layer=layer, layer_shape=shape, model_name=model.name,
                    labels=model.labels)
