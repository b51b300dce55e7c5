"""The toy world's tiny models: a classifier (all convolutions, global average pool, linear head) and an
embedder whose cosine similarity reflects shared attributes. Weights ship in ``xwidgets/toy/weights/``."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from ..core.models import Classifier, Embedder, Preprocessing, load_state_dict_file
from .species import ATTRIBUTES, SPECIES

__all__ = ["ToyCNN", "classifier", "embedder", "WEIGHTS", "TOY_PREPROCESSING", "EMBEDDING_DIM"]

WEIGHTS = Path(__file__).parent / "weights"
#: Toy models take 112x112 images normalised with the toy world's pixel statistics (rounded).
TOY_PREPROCESSING = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
EMBEDDING_DIM = 64


class ToyCNN(nn.Module):
    """Four convolutions (the last, ``features.conv4``, is the natural Grad-CAM / SRAE layer), a global average
    pool and a linear head with ``outputs`` units. Input ``[N, 3, 112, 112]`` normalised; output ``[N, outputs]``."""

    def __init__(self, outputs: int, width: int = 64):
        super().__init__()

        def block(name, cin, cout, stride):
            return [
                (
                    f"conv{name}",
                    nn.Conv2d(cin, cout, 3 if name != "1" else 5, stride, 1 if name != "1" else 2, bias=False),
                ),
                (f"bn{name}", nn.BatchNorm2d(cout)),
                (f"relu{name}", nn.ReLU(inplace=False)),
            ]

        layers = (
            block("1", 3, 16, 2)
            + block("2", 16, 32, 2)
            + [("pool2", nn.MaxPool2d(2))]
            + block("3", 32, 48, 1)
            + block("4", 48, width, 1)
        )
        self.features = nn.Sequential(OrderedDict(layers))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))


def classifier(device: str | torch.device | None = None) -> Classifier:
    """The shipped toy species classifier, wrapped with its preprocessing and species names."""
    module = ToyCNN(len(SPECIES))
    load_state_dict_file(module, WEIGHTS / "classifier.pt")
    return Classifier(
        module.eval(),
        preprocessing=TOY_PREPROCESSING,
        labels=[s.name for s in SPECIES],
        device=device,
        name="toy classifier",
    )


def embedder(device: str | torch.device | None = None) -> Embedder:
    """The shipped toy embedder: ``[N, 64]`` vectors whose cosine similarity grows with shared attributes."""
    module = ToyCNN(EMBEDDING_DIM)
    load_state_dict_file(module, WEIGHTS / "embedder.pt")
    return Embedder(module.eval(), preprocessing=TOY_PREPROCESSING, device=device, name="toy embedder")


def attribute_targets(attributes: dict[str, str]) -> torch.Tensor:
    """One class index per attribute key (the value's position in :data:`ATTRIBUTES`), ``[len(ATTRIBUTES)]``."""
    return torch.tensor([values.index(attributes[key]) for key, values in ATTRIBUTES.items()])
