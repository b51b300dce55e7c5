import numpy as np
import pytest
import torch
from either_model import SIZE, A, B, EitherEvidence, centre

import xwidgets as xw
from xwidgets.core.models import Classifier


@pytest.fixture(scope="module")
def either():
    model = Classifier(EitherEvidence().eval(), labels=["neither", "either"])
    image = torch.full((3, SIZE, SIZE), 0.5)
    for patch, colour in ((A, (1.0, 0.0, 0.0)), (B, (0.0, 0.0, 1.0))):
        row, col = centre(patch)
        image[:, row - 4 : row + 5, col - 4 : col + 5] = torch.tensor(colour).view(3, 1, 1)
    return model, image


@pytest.fixture(scope="session")
def toy_model():
    return xw.toy.classifier()


@pytest.fixture(scope="session")
def toy_images():
    return np.stack([s.image for s in xw.toy.ToyWorld().samples(6, seed=9700)])
