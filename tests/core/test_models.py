import pytest
import torch
import torchvision
from torch import nn

import xwidgets as xw
from xwidgets.core import Preprocessing
from xwidgets.core.errors import InvalidArgument


def test_classifier_prepares_normalises_and_counts(classifier, images):
    out = classifier(images)
    assert out.shape == (3, 5)
    assert classifier.images_forwarded == 3
    x = classifier.prepare(images)
    assert torch.allclose(classifier.denormalize(classifier.normalize(x)), x, atol=1e-6)
    assert torch.allclose(classifier.normalize(x), (x - 0.5) / 0.25)


def test_train_mode_is_refused_at_wrap_and_at_forward(tiny_module, images):
    with pytest.raises(InvalidArgument, match=r"model\.eval"):
        xw.Classifier(tiny_module.train())
    model = xw.Classifier(tiny_module.eval())
    tiny_module.train()
    with pytest.raises(InvalidArgument, match="training mode"):
        model(images)


def test_frozen_restores_requires_grad(classifier):
    flags = [p.requires_grad for p in classifier.module.parameters()]
    with pytest.raises(RuntimeError), classifier.frozen():
        assert not any(p.requires_grad for p in classifier.module.parameters())
        raise RuntimeError("boom")
    assert [p.requires_grad for p in classifier.module.parameters()] == flags


def test_wrong_output_shape_is_reported(images):
    class Spatial(nn.Module):
        def forward(self, x):
            return x  # [N, 3, H, W], not vectors

    with pytest.raises(InvalidArgument, match=r"model output"):
        xw.Embedder(Spatial().eval())(images)


def test_inputs_on_another_device_are_refused(classifier):
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgument, match="device"):
            xw.Classifier(classifier.module, device="cuda")
    with pytest.raises(InvalidArgument, match="device"):
        classifier.forward(torch.zeros(1, 3, 8, 8, device="meta"))


def test_preprocessing_resizes_shorter_side_and_crops():
    pre = Preprocessing(resize=10, crop=(8, 8))
    model = xw.Classifier(nn.Sequential(nn.Flatten(), nn.LazyLinear(2)).eval(), preprocessing=pre)
    out = model.prepare(torch.rand(1, 3, 20, 40))
    assert out.shape == (1, 3, 8, 8)
    with pytest.raises(InvalidArgument, match="crop"):
        Model = xw.Classifier(nn.Identity().eval(), preprocessing=Preprocessing(crop=(64, 64)))
        Model.prepare(torch.rand(1, 3, 20, 20))


def test_preprocessing_checks_its_arguments():
    with pytest.raises(InvalidArgument, match="mean/std"):
        Preprocessing(mean=(0.5, 0.5, 0.5))
    with pytest.raises(InvalidArgument, match="std"):
        Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.0, 1.0, 1.0))


def test_torchvision_local_weights_file_uses_the_enum_transforms_and_labels(tmp_path):
    reference = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = xw.Classifier.from_torchvision("resnet18", "IMAGENET1K_V1", weights_path=path)
    assert model.preprocessing == Preprocessing(
        resize=256, crop=(224, 224), mean=xw.core.IMAGENET_MEAN, std=xw.core.IMAGENET_STD
    )
    assert len(model.labels) == 1000 and model.labels[0] == "tench"
    image = torch.rand(1, 3, 300, 260)
    x = model.normalize(model.prepare(image))
    assert x.shape == (1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model.forward(x), reference(x), atol=1e-5)


def test_torchvision_embedder_strips_the_head(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    embedder = xw.Embedder.from_torchvision("resnet18", weights_path=path)
    assert embedder(torch.rand(2, 3, 224, 224)).shape == (2, 512)
    assert embedder.labels is None


def test_torchvision_bad_names_weights_and_files(tmp_path):
    with pytest.raises(InvalidArgument, match="torchvision classification model"):
        xw.Classifier.from_torchvision("resnet19", weights_path=tmp_path / "x.pth")
    with pytest.raises(InvalidArgument, match="IMAGENET1K_V1"):
        xw.Classifier.from_torchvision("resnet18", "IMAGENET9K", weights_path=tmp_path / "x.pth")
    with pytest.raises(InvalidArgument, match="not a file"):
        xw.Classifier.from_torchvision("resnet18", weights_path=tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), wrong)
    with pytest.raises(InvalidArgument, match="unexpected keys"):
        xw.Classifier.from_torchvision("resnet18", weights_path=wrong)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"garbage")
    with pytest.raises(InvalidArgument, match="could not read"):
        xw.Classifier.from_torchvision("resnet18", weights_path=junk)


def test_not_a_module():
    with pytest.raises(InvalidArgument, match=r"torch\.nn\.Module"):
        xw.Classifier(lambda x: x)
