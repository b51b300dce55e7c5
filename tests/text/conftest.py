"""Shared fixtures of the text tests: a captioned toy dataset, a model fitted on it, and held-out images."""

import numpy as np
import pytest

import xwidgets as xw
from xwidgets.concepts import extract_features


@pytest.fixture(scope="session")
def toy_model():
    return xw.toy.classifier()


@pytest.fixture(scope="session")
def captioned():
    """220 balanced toy samples (20 per species) with 3 to 5 captions each."""
    return xw.toy.dataset(220, seed=9710)


@pytest.fixture(scope="session")
def captioned_features(toy_model, captioned):
    return extract_features(toy_model, captioned, "features")


@pytest.fixture(scope="session")
def text_model(toy_model, captioned, captioned_features):
    return xw.text.fit(toy_model, captions=xw.toy.captions(captioned), features=captioned_features)


@pytest.fixture(scope="session")
def shuffled_model(toy_model, captioned, captioned_features, text_model):
    """The control: the same vocabulary and features, with each image given another image's captions."""
    captions = xw.toy.captions(captioned)
    order = np.random.default_rng(9712).permutation(len(captions))
    return xw.text.fit(
        toy_model, captions=[captions[i] for i in order], features=captioned_features, vocabulary=text_model.vocabulary
    )


@pytest.fixture(scope="session")
def held_out():
    """66 samples (6 per species) the model was not fitted on."""
    return xw.toy.dataset(66, seed=9711)
