"""The 1000 ImageNet-1k class names, in the order of every ImageNet classifier's output.

The names are read from torchvision's weights metadata when asked for, never copied into xwidgets.
"""

from __future__ import annotations

__all__ = ["imagenet_classes"]


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names (index ``i`` names logit ``i``), e.g. ``[..., 'tabby', 'tiger cat', ...]``.

    Read from torchvision's ImageNet weights metadata (the list every torchvision ImageNet model carries).
    """
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
