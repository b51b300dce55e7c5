"""Shared fixtures: tiny models that run in milliseconds on the CPU."""

import time

import pytest
import torch
from torch import nn

import xwidgets as xw


class TinyNet(nn.Module):
    """Conv -> ReLU -> global pool -> linear; ``classes`` outputs."""

    def __init__(self, classes: int = 5, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                                      nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


@pytest.fixture
def tiny_module():
    return TinyNet().eval()


@pytest.fixture
def classifier(tiny_module):
    return xw.Classifier(tiny_module, preprocessing=xw.core.Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
                         labels=[f"class {i}" for i in range(5)])


@pytest.fixture
def images():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 16, 16, generator=generator)


class Sleepy(nn.Module):
    """Wraps ``module`` and sleeps ``seconds`` per image of every forward pass: as slow as a large model on a CPU."""

    def __init__(self, module: nn.Module, seconds: float):
        super().__init__()
        self.module, self.seconds = module, seconds

    def forward(self, x):
        time.sleep(self.seconds * x.shape[0])
        return self.module(x)


@pytest.fixture(scope="session")
def sleepy():
    """``sleepy(module, seconds)``: the module made slow (:class:`Sleepy`), to test choices made from pass times."""
    return Sleepy
