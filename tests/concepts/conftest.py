"""Shared fixtures of the concept tests: one toy dataset, its features and one fitted space, built once."""

import contextlib

import pytest
import torch

import xwidgets as xw
from xwidgets.concepts import extract_features, fit


@contextlib.contextmanager
def single_thread():
    # SRAE training is thousands of tiny steps; on the 2-core test machine with another process busy, two torch
    # threads ran them about 10x slower than one (an 80-epoch fit: 18-25 s against 2.5 s). Scoped to these tests
    # (and to the session fixtures that train) so that the rest of the suite keeps its threads.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with single_thread():
        yield


@pytest.fixture(scope="session")
def toy_model():
    return xw.toy.classifier()


@pytest.fixture(scope="session")
def toy_data():
    """440 balanced toy samples (40 per species) with their ground truth."""
    return xw.toy.dataset(440, seed=9601)


@pytest.fixture(scope="session")
def toy_images(toy_data):
    return toy_data.images()


@pytest.fixture(scope="session")
def toy_features(toy_model, toy_images):
    return extract_features(toy_model, toy_images, "features")


@pytest.fixture(scope="session")
def spotwing(toy_model, toy_features):
    """A space of "spotwing" with every default (retries included); at this seed the first attempt is accepted."""
    with single_thread():
        return fit(toy_model, features=toy_features, target="spotwing", seed=9603)
