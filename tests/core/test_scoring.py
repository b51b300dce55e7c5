import pytest
import torch
from torch import nn

import xwidgets as xw
from xwidgets.core import XWidgetsError, make_baseline, resolve_target, score, score_masks


def _setup(classifier, images):
    x = classifier.prepare(images)
    xn = classifier.normalize(x)
    target = resolve_target(None, classifier, classifier.forward(xn).detach())
    return xn, classifier.normalize(make_baseline(x, "blur", blur_kernel=5, blur_sigma=2.0)), target


def test_microbatched_scores_equal_unbatched(classifier, images):
    xn, baselines, target = _setup(classifier, images)
    masks = torch.rand(11, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    owner = torch.arange(11) % 3
    whole = score_masks(classifier, xn, baselines, masks, target, owner)
    classifier.max_batch = 2
    forwarded = classifier.images_forwarded
    chunked = score_masks(classifier, xn, baselines, masks, target, owner)
    assert torch.allclose(whole, chunked, atol=1e-6)
    assert classifier.images_forwarded - forwarded == 11
    direct = score(classifier, xw.core.composite(xn, baselines, masks, owner), target, owner)
    assert torch.allclose(direct, whole, atol=1e-6)


class RaisesOnceWhenBig(nn.Module):
    """Raises an out-of-memory error the first time it sees more than ``limit`` images."""

    def __init__(self, inner, limit, error):
        super().__init__()
        self.inner, self.limit, self.error, self.raised, self.batches = inner, limit, error, False, []

    def forward(self, x):
        if x.shape[0] > self.limit and not self.raised:
            self.raised = True
            raise self.error
        self.batches.append(x.shape[0])
        return self.inner(x)


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
        RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried"),
    ],
)
def test_out_of_memory_backs_off_and_remembers(tiny_module, images, error):
    flaky = RaisesOnceWhenBig(tiny_module, 4, error).eval()
    model = xw.Classifier(flaky, max_batch=16)
    reference = xw.Classifier(tiny_module)
    xn = model.normalize(model.prepare(images.repeat(4, 1, 1, 1)))  # 12 images
    target = resolve_target(0, reference, reference.forward(xn))
    scores = score(model, xn, target)
    assert flaky.raised and model.max_batch == 6
    assert flaky.batches == [6, 6]
    assert torch.allclose(scores, score(reference, xn, target), atol=1e-6)


def test_other_errors_are_not_swallowed(tiny_module, images):
    model = xw.Classifier(RaisesOnceWhenBig(tiny_module, 0, RuntimeError("shape mismatch")).eval())
    xn = model.normalize(model.prepare(images))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        score(model, xn, xw.core.ClassTarget([0]))
    assert model.max_batch == 16  # the CPU default, unchanged


def test_out_of_memory_on_one_image_is_reported(tiny_module, images):
    class AlwaysOOM(nn.Module):
        def forward(self, x):
            raise torch.OutOfMemoryError("CUDA out of memory")

    model = xw.Classifier(AlwaysOOM().eval(), max_batch=4)
    with pytest.raises(XWidgetsError, match="even with one image per pass"):
        score(model, images, xw.core.ClassTarget([0]))
    assert model.max_batch == 1


def test_scoring_leaves_parameter_gradients_alone(classifier, images):
    xn, baselines, target = _setup(classifier, images)
    score_masks(classifier, xn, baselines, torch.rand(3, 1, 2, 2), target)
    assert all(p.grad is None for p in classifier.module.parameters())
    assert all(p.requires_grad for p in classifier.module.parameters())
