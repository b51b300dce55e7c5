"""Reading one layer of a classifier over a dataset, once: the features an explanation space is fitted to.

XNN (``docs/concepts.md``) embeds a high-dimensional layer of the network. We read a **convolutional** layer's
output ``A`` of shape ``[C, h, w]`` and take its spatial mean as the feature vector ``x`` (``[C]``). For networks
that end in a global average pool this is exactly the penultimate vector the head reads (ResNet's ``layer4``, the
toy CNN's ``features``), the analogue of the paper's fc7; for VGG, whose head flattens a 7×7 map, it is the
spatial mean of that map. Keeping the layer spatial is what lets the
concept maps (:mod:`xwidgets.concepts.maps`) pass from a feature back to image positions.

:func:`extract_features` makes one batched pass over the images and returns :class:`Features`, which holds the
features and the model's logits. Fitting, refitting with other settings and the explorer's retraining all start
from this object, so the dataset pass is never repeated; ``Features.save`` keeps it on disk between sessions.
Given a dataset run (``xw.open_run(path)``), it reads the features from the run's cache instead
(``features/<layer>.zarr`` in the store, :mod:`xwidgets.runs.features`), making the pass only over the images
the cache lacks, once.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from ..core.deprecation import moved
from ..core.errors import invalid
from ..core.hooks import record_layer
from ..core.layers import spatial_activation
from ..core.models import Classifier, check_model
from ..core.results import Result
from ..core.runner import as_progress, shows_progress
from ..core.scoring import microbatched
from ..core.sources import StoredImages, image_count, image_source, read_images

__all__ = ["Features", "extract_features"]

#: Image sources and layer choice moved to :mod:`xwidgets.core.sources` and :mod:`xwidgets.core.layers`; the two
#: this module does not use itself are kept here until the next release, with a DeprecationWarning.
__getattr__ = moved(
    __name__,
    {
        "dataset_image": "xwidgets.core.sources:dataset_image",
        "default_layer_on": "xwidgets.core.layers:default_layer_on",
    },
)


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

    features: torch.Tensor
    logits: torch.Tensor
    layer: str = ""
    layer_shape: list = dataclasses.field(default_factory=list)
    model_name: str = ""
    labels: list | None = None

    def __len__(self) -> int:
        return int(self.features.shape[0])


@shows_progress("extract_features")
def extract_features(
    model: Classifier, images: object, layer: str, *, batch_size: int | None = None, progress=True
) -> Features:
    """Read ``layer`` over ``images`` in batched forward passes without gradients.

    Args:
        model: a :class:`~xwidgets.core.models.Classifier` in eval mode.
        images: a source (:mod:`~xwidgets.core.sources`): a ``[N, 3, H, W]`` tensor in [0, 1], or a sequence of
            single images in any form :func:`~xwidgets.core.images.to_batch` accepts (a list, or a
            ``torch.utils.data.Dataset`` whose items are images or ``(image, label)`` tuples), or a dataset run
            (``xw.open_run(path)``).
        layer: the dotted name of a convolutional layer, e.g. ``"layer4"`` (ResNet) or ``"features"`` (toy).
        batch_size: images per forward pass (default the model's ``max_batch``).
        progress: a :class:`~xwidgets.core.runner.Progress` or ``callback(fraction, message)``; cancellable.

    Returns:
        :class:`Features` with ``features [N, C]`` and ``logits [N, K]`` on the CPU. For a dataset run, row i is
        its i-th explained image, read from the run's features cache where it has them.
    """
    check_model(model, Classifier)
    images = image_source(images)
    if batch_size is None:
        batch_size = model.max_batch
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise invalid("batch_size", batch_size, "a positive int")
    progress = as_progress(progress)
    if isinstance(images, StoredImages):
        return images.cached_features(
            model, layer, lambda part: _dataset_pass(model, part, layer, batch_size, progress)
        )
    return _dataset_pass(model, images, layer, batch_size, progress)


def _dataset_pass(model: Classifier, images: object, layer: str, batch_size: int, progress) -> Features:
    """The pass of :func:`extract_features` over a source, in batches of ``batch_size`` images."""
    count = image_count(images)
    started = time.perf_counter()
    shape: list[int] = []
    with model.lock, torch.no_grad(), model.frozen(), record_layer(model.module, layer) as record:

        def work(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:  # backs off on out-of-memory
            progress.check()
            pixels = read_images(model, images, start, stop)
            output = model.forward(model.normalize(pixels))
            activation = spatial_activation(record, layer, pixels)
            record.activation = None
            shape[:] = list(activation.shape[1:])
            progress.report(stop / count, f"features {stop}/{count}")
            return activation.float().mean(dim=(2, 3)).cpu(), output.float().cpu()

        features, logits = microbatched(model, count, work, batch=batch_size)
    return Features(
        method="features",
        params={"layer": layer, "batch_size": batch_size, "images": count},
        timings={"extract": time.perf_counter() - started},
        features=features,
        logits=logits,
        layer=layer,
        layer_shape=shape,
        model_name=model.name,
        labels=model.labels,
    )
