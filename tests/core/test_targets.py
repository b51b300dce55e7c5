import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xwidgets as xw
from xwidgets.core import ClassTarget, SimilarityTarget, resolve_target
from xwidgets.core.errors import InvalidArgument


def test_top1_default_and_owner_expansion(classifier, images):
    output = classifier(images)
    target = resolve_target(None, classifier, output)
    assert target.classes.tolist() == output.argmax(1).tolist()
    probabilities = F.softmax(output, 1)
    owner = torch.tensor([2, 2, 0])
    expected = probabilities[owner, output.argmax(1)[owner]]
    assert torch.allclose(target(output[owner], owner), expected)


def test_int_and_per_image_lists(classifier, images):
    output = classifier(images)
    assert resolve_target(4, classifier, output)(output).tolist() == F.softmax(output, 1)[:, 4].tolist()
    per_image = resolve_target([0, 1, 2], classifier, output)
    assert torch.allclose(per_image(output), F.softmax(output, 1)[[0, 1, 2], [0, 1, 2]])
    logits = ClassTarget([3, 3, 3], score="logit")
    assert torch.allclose(logits(output), output[:, 3])


@pytest.mark.parametrize(
    "target, message",
    [
        (5, "target=5"),
        ([0, 1], "2 classes for 3 images"),
        ([0, 1, -1], "target=-1"),
        (True, "class index"),
        ([0.5, 1, 2], "whole class indices"),
        ("cat", "a name no class has"),
    ],
)
def test_bad_class_targets(classifier, images, target, message):
    output = classifier(images)
    with pytest.raises(InvalidArgument, match=message) as info:
        resolve_target(target, classifier, output)
    assert "0..4" in str(info.value) or "expected" in str(info.value)


def test_out_of_range_message_names_the_class_count(classifier, images):
    with pytest.raises(InvalidArgument) as info:
        resolve_target(1000, classifier, classifier(images))
    assert str(info.value) == "target=1000: got a class outside the model's 5 classes, expected a class in 0..4"


def test_similarity_target_is_cosine_to_reference(images):
    embedder = xw.Embedder(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 6)).eval())
    reference = images[:1]
    target = xw.similarity_to(embedder, reference)
    output = embedder(images)
    expected = F.cosine_similarity(output, embedder(reference).expand(3, -1))
    assert torch.allclose(resolve_target(target, embedder, output)(output), expected, atol=1e-6)
    assert torch.allclose(target(embedder(reference)), torch.ones(1), atol=1e-6)
    per_image = SimilarityTarget(embedder(images.flip(0)))
    assert torch.allclose(per_image(output), F.cosine_similarity(output, output.flip(0)), atol=1e-6)


def test_embedder_target_errors(images):
    embedder = xw.Embedder(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 6)).eval())
    output = embedder(images)
    with pytest.raises(InvalidArgument, match="similarity"):
        resolve_target(None, embedder, output)
    with pytest.raises(InvalidArgument, match="dimension 4"):
        resolve_target(SimilarityTarget(torch.ones(4)), embedder, output)
    with pytest.raises(InvalidArgument, match="2 references for 3 images"):
        resolve_target(SimilarityTarget(torch.ones(2, 6)), embedder, output)
    with pytest.raises(InvalidArgument, match="NaN"):
        SimilarityTarget(torch.tensor([1.0, float("nan")]))
    with pytest.raises(InvalidArgument, match="Embedder"):
        resolve_target(3, embedder, output)


def test_callable_targets_are_checked(classifier, images):
    output = classifier(images)
    good = resolve_target(lambda out, owner: out[:, 1] - out[:, 0], classifier, output)
    assert torch.allclose(good(output), output[:, 1] - output[:, 0])
    with pytest.raises(InvalidArgument, match=r"scores \[3\]"):
        resolve_target(lambda out, owner: out, classifier, output)


def test_nan_model_output_is_reported(classifier, images):
    output = classifier(images)
    output[1, 2] = float("nan")
    with pytest.raises(InvalidArgument, match=r"NaN or infinite values for images \[1\]"):
        resolve_target(None, classifier, output)
