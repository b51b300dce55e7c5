"""A Model pickles without its thread lock (Ray ships replicas to actors), and ``Model.to`` moves it."""

import copy
import pickle
import threading

import pytest
import torch
from torch import nn

import xwidgets as xw
from xwidgets.toy import models as toy_models


def _round_trip(model):
    return pickle.loads(pickle.dumps(model))


def _same_outputs(a, b, images):
    with torch.no_grad():
        return torch.equal(a(images), b(images))


def test_toy_classifier_pickles_with_a_fresh_lock():
    model = toy_models.classifier()
    model.pass_times[(3, 112, 112)] = (0.01, 0.02)
    copy_ = _round_trip(model)
    assert type(copy_) is type(model)
    assert copy_.lock is not model.lock
    assert isinstance(copy_.lock, type(threading.RLock()))
    assert copy_.lock.acquire(blocking=False) and copy_.lock.acquire(blocking=False)  # re-entrant, like the original
    copy_.lock.release()
    copy_.lock.release()
    assert copy_.labels == model.labels and copy_.name == model.name
    assert copy_.preprocessing == model.preprocessing and copy_.max_batch == model.max_batch
    assert copy_.pass_times == model.pass_times
    assert _same_outputs(model, copy_, torch.rand(2, 3, 112, 112, generator=torch.Generator().manual_seed(0)))
    assert "lock" in model.__dict__  # pickling did not strip the original


def test_toy_embedder_deep_copies():
    model = toy_models.embedder()
    copy_ = copy.deepcopy(model)
    assert copy_.module is not model.module
    assert _same_outputs(model, copy_, torch.rand(1, 3, 112, 112, generator=torch.Generator().manual_seed(1)))


def test_wrapped_torchvision_model_pickles():
    import torchvision

    module = torchvision.models.resnet18(weights=None, num_classes=7).eval()
    model = xw.Classifier(module, preprocessing=xw.core.Preprocessing(resize=(64, 64), mean=(0.5,) * 3, std=(0.2,) * 3))
    copy_ = _round_trip(model)
    assert isinstance(copy_, xw.Classifier) and copy_.lock is not model.lock
    assert _same_outputs(model, copy_, torch.rand(2, 3, 80, 96, generator=torch.Generator().manual_seed(2)))


def test_to_moves_module_and_normalisation():
    model = xw.Classifier(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval(), max_batch=5)
    assert model.to("cpu") is model and model.device == torch.device("cpu") and model.max_batch == 5
    toy = toy_models.classifier().to("cpu")
    assert toy._mean.device == toy.device and toy.max_batch == 16


def test_to_rejects_a_bad_device():
    with pytest.raises(xw.XWidgetsError, match="device"):
        toy_models.classifier().to("nonsense")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_to_cuda_moves_everything():
    model = _round_trip(toy_models.classifier()).to("cuda")
    assert model.device == next(model.module.parameters()).device and model.device.type == "cuda"
    assert model._mean.device == model.device and model.max_batch == 256
    assert model(torch.rand(1, 3, 112, 112)).device == model.device
