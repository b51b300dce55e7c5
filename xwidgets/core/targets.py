"""Targets: callables on a model's output that say which score an explanation explains.

A target is called as ``target(output, owner)``: ``output`` is the model output ``[N, ...]`` for N (perturbed)
images and ``owner`` ``[N]`` (long) gives, for each row, the index of the original image it came from, so one
target serves a batch of B images and all their perturbations. It returns the scores ``[N]``.

Forms accepted wherever a method takes ``target=``:

- ``None``: the model's own top-1 class of each image (classifiers only);
- an int, or a class name of a labelled model (``"tabby"``): that class for every image;
- a list / tuple / 1-D tensor of ints or names: one class per image;
- a :class:`Target`, e.g. :class:`SimilarityTarget` for an embedder;
- any other callable ``(output, owner) -> [N]``.

:func:`resolve_target` turns these into a concrete :class:`Target` after checking them against the unperturbed
output.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .errors import close_matches, describe, invalid

__all__ = [
    "Target",
    "ClassTarget",
    "SimilarityTarget",
    "FunctionTarget",
    "resolve_target",
    "similarity_to",
    "class_index",
]


def _owner(output: torch.Tensor, owner: torch.Tensor | None) -> torch.Tensor:
    if owner is None:
        return torch.arange(output.shape[0], device=output.device)
    return owner.to(output.device)


class Target(ABC):
    """Base class. Subclasses implement ``__call__(output, owner) -> scores [N]`` and :meth:`describe`."""

    @abstractmethod
    def __call__(self, output: torch.Tensor, owner: torch.Tensor | None = None) -> torch.Tensor:
        """Scores ``[N]`` of the rows of ``output``; ``owner[i]`` is the original image of row i."""

    def describe(self) -> dict:
        """A JSON-safe description for result manifests."""
        return {"type": type(self).__name__}


class ClassTarget(Target):
    """The score of one class per image.

    Args:
        classes: ``[B]`` long tensor (or sequence) of class indices, one per original image.
        score: ``"probability"`` (softmax, the default of every method in this family) or ``"logit"``.
    """

    def __init__(self, classes: Sequence[int] | torch.Tensor, score: str = "probability"):
        if score not in ("probability", "logit"):
            raise invalid("score", score, "'probability' or 'logit'")
        try:
            self.classes = torch.as_tensor(classes, dtype=torch.long).reshape(-1)
        except (RuntimeError, TypeError, ValueError, OverflowError):
            raise invalid("classes", classes, "class indices: ints that fit in 64 bits, or a tensor of them") from None
        self.score = score

    def __call__(self, output: torch.Tensor, owner: torch.Tensor | None = None) -> torch.Tensor:
        owner = _owner(output, owner)
        output = output.float()  # scores of a bfloat16 model in float32
        values = F.softmax(output, dim=1) if self.score == "probability" else output
        classes = self.classes.to(output.device)
        classes = classes.expand(output.shape[0]) if classes.numel() == 1 else classes[owner]
        return values.gather(1, classes[:, None])[:, 0]

    def describe(self) -> dict:
        return {"type": "ClassTarget", "classes": self.classes.tolist(), "score": self.score}


class SimilarityTarget(Target):
    """Cosine similarity between each (perturbed) image's embedding and a fixed reference embedding.

    Args:
        reference: ``[D]`` (one reference for every image) or ``[B, D]`` (one per original image).
    """

    def __init__(self, reference: torch.Tensor):
        if not isinstance(reference, torch.Tensor) or reference.ndim not in (1, 2) or not reference.is_floating_point():
            raise invalid("reference", reference, "a float embedding tensor [D] or [B, D]")
        if not bool(torch.isfinite(reference).all()):
            raise invalid("reference", "an embedding with NaN or infinite values", "finite values")
        self.reference = F.normalize(reference.detach().reshape(-1, reference.shape[-1]).float(), dim=1)

    def __call__(self, output: torch.Tensor, owner: torch.Tensor | None = None) -> torch.Tensor:
        owner = _owner(output, owner)
        reference = self.reference.to(output.device)
        reference = reference[owner] if reference.shape[0] > 1 else reference.expand(output.shape[0], -1)
        return (F.normalize(output.float(), dim=1) * reference).sum(1)

    def describe(self) -> dict:
        return {
            "type": "SimilarityTarget",
            "references": int(self.reference.shape[0]),
            "dim": int(self.reference.shape[1]),
        }


class FunctionTarget(Target):
    """A user's callable ``(output, owner) -> [N]`` wrapped as a :class:`Target`."""

    def __init__(self, function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        self.function = function

    def __call__(self, output: torch.Tensor, owner: torch.Tensor | None = None) -> torch.Tensor:
        return self.function(output, _owner(output, owner))

    def describe(self) -> dict:
        return {"type": "FunctionTarget", "function": getattr(self.function, "__qualname__", repr(self.function))}


def similarity_to(model, reference: object) -> SimilarityTarget:
    """A :class:`SimilarityTarget` whose reference is the embedding of ``reference`` images under ``model``.

    Args:
        model: an :class:`~xwidgets.core.models.Embedder`.
        reference: one image or B images in any form that ``to_batch`` accepts.
    """
    from .models import Embedder, check_model

    return SimilarityTarget(check_model(model, Embedder)(reference))


def resolve_target(target: object, model, output: torch.Tensor, *, name: str = "target") -> Target:
    """Check ``target`` against the unperturbed ``output`` ``[B, ...]`` of ``model`` and return a :class:`Target`.

    ``None`` becomes the top-1 class of each image; class names are looked up in ``model.labels``
    (:func:`class_index`). Raises ``InvalidArgument`` for a class out of range, an unknown name (with the closest
    names), a list whose length is not B, a reference embedding of the wrong size, or a callable that returns the
    wrong shape.
    """
    from .models import Classifier, Embedder

    batch = int(output.shape[0])
    finite = torch.isfinite(output).reshape(batch, -1).all(1)
    if not bool(finite.all()):
        bad = (~finite).nonzero()[:, 0].tolist()
        raise invalid(
            "model output",
            f"NaN or infinite values for images {bad[:10]}",
            "finite outputs (check the model and the images)",
        )
    if target is None:
        if isinstance(model, Embedder):
            raise invalid(
                name, "None for an Embedder", "a similarity target, e.g. xw.core.similarity_to(model, reference_image)"
            )
        return ClassTarget(output.argmax(1).cpu())
    if isinstance(target, (bool, bytes, bytearray)):
        raise invalid(name, target, "a class index or name, a list of them, or a Target")
    if isinstance(target, (numbers.Integral, str, Sequence, torch.Tensor)) and not isinstance(target, Target):
        if not isinstance(model, Classifier):
            raise invalid(name, f"class indices for a {type(model).__name__}", "a SimilarityTarget for an Embedder")
        return _class_target(target, model.labels, output, batch, name)
    if isinstance(target, SimilarityTarget):
        if isinstance(model, Embedder):
            _check_reference(target, output, batch, name)
        return target
    if isinstance(target, ClassTarget):
        _check_classes(target.classes, output, batch, name)
        return target
    if isinstance(target, Target) or callable(target):
        concrete = target if isinstance(target, Target) else FunctionTarget(target)
        with torch.no_grad():
            scores = concrete(output, torch.arange(batch, device=output.device))
        if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (batch,):
            raise invalid(name, f"a callable returning {describe(scores)}", f"a callable returning scores [{batch}]")
        return concrete
    raise invalid(
        name, f"an object of type {type(target).__name__}", "None, a class index or name, a list of them, or a Target"
    )


def _class_target(
    target: Any, labels: Sequence[str] | None, output: torch.Tensor, batch: int, name: str
) -> ClassTarget:
    count = int(output.shape[1])
    if isinstance(target, torch.Tensor):
        target = _tensor_classes(target, name)
    if isinstance(target, str):
        return ClassTarget(torch.full((batch,), class_index(target, labels, count, name=name), dtype=torch.long))
    if isinstance(target, numbers.Integral):
        _check_range([int(target)], count, name)
        return ClassTarget(torch.full((batch,), int(target), dtype=torch.long))
    values = list(target)
    if any(isinstance(v, bool) or not isinstance(v, (numbers.Integral, str)) for v in values):
        raise invalid(name, values, "whole class indices or class names")
    if len(values) != batch:
        raise invalid(name, f"{len(values)} classes for {batch} images", f"one class per image ({batch})")
    indices = [
        class_index(v, labels, count, name=f"{name}[{i}]") if isinstance(v, str) else int(v)
        for i, v in enumerate(values)
    ]
    _check_range(indices, count, name)
    return ClassTarget(torch.tensor(indices, dtype=torch.long))


def _tensor_classes(target: torch.Tensor, name: str) -> int | list[int]:
    """A tensor of class indices as an int (0-d) or a list of ints (1-D); other tensors raise ``InvalidArgument``."""
    if target.is_meta or target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise invalid(name, describe(target), "an integer tensor of class indices holding data")
    if target.ndim > 1:
        raise invalid(name, describe(target), "a 0-D or 1-D tensor of class indices, one per image")
    return target.tolist()


def class_index(target: object, labels: Sequence[str] | None, classes: int | None, *, name: str = "target") -> int:
    """The class index of ``target``: an index in ``0..classes-1`` (any index >= 0 when ``classes`` is None, not
    yet known), or a name among ``labels`` (the model's).

    Raises ``InvalidArgument`` for an index out of range, a name for an unlabelled model, a name no class has (with
    the closest names, by difflib) or one that several classes share.
    """
    if isinstance(target, str):
        return _named_class(target, list(labels or []), classes, name)
    indices = "a class index" + (f" in 0..{classes - 1}" if classes is not None else " >= 0")
    if isinstance(target, torch.Tensor):
        whole = _tensor_classes(target, name)
        if not isinstance(whole, int):
            raise invalid(name, describe(target), f"{indices}: one class, a tensor of one element")
        target = whole
    if hasattr(target, "__index__") and not isinstance(target, (bool, np.bool_)):
        try:
            index = int(target.__index__())
        except TypeError:  # a numpy array of more than one element has __index__ too
            raise invalid(name, describe(target), f"{indices}: one class") from None
        if index >= 0 and (classes is None or index < classes):
            return index
        outside = f"a class outside the model's {classes} classes" if classes is not None else "a negative index"
        raise invalid(name, f"{index}, {outside}", indices)
    raise invalid(name, target, indices + (", or a class name" if labels else ""))


def _named_class(target: str, labels: list[str], classes: int | None, name: str) -> int:
    indices = f"an index in 0..{classes - 1}" if classes is not None else "an index"
    if not labels:
        raise invalid(
            name,
            f"{target!r}, a class name for a model without labels",
            f"{indices}, or labels=[...] given to xw.Classifier",
        )
    found = [i for i, label in enumerate(labels) if label == target]
    if len(found) == 1:
        return found[0]
    if found:
        raise invalid(name, f"{target!r}, a name that {len(found)} classes share ({found})", "one of these indices")
    raise invalid(
        name,
        f"{target!r}, a name no class has",
        f"one of the model's {len(labels)} class names or {indices}" + close_matches(target, labels),
    )


def _check_classes(classes: torch.Tensor, output: torch.Tensor, batch: int, name: str) -> None:
    count = int(output.shape[1])
    if classes.numel() not in (1, batch):
        raise invalid(name, f"{classes.numel()} classes for {batch} images", f"one class per image ({batch})")
    _check_range(classes.tolist(), count, name)


def _check_range(classes: list[int], count: int, name: str) -> None:
    """Every class index in ``0..count-1``, checked on Python ints (an index past int64 cannot overflow here)."""
    bad = sorted({c for c in classes if not 0 <= c < count})
    if bad:
        shown = bad[0] if len(bad) == 1 else bad
        raise invalid(f"{name}={shown}", f"a class outside the model's {count} classes", f"a class in 0..{count - 1}")


def _check_reference(target: SimilarityTarget, output: torch.Tensor, batch: int, name: str) -> None:
    refs, dim = target.reference.shape
    if dim != output.shape[1]:
        raise invalid(name, f"a reference of dimension {dim}", f"the embedder's dimension {output.shape[1]}")
    if refs not in (1, batch):
        raise invalid(name, f"{refs} references for {batch} images", f"1 or {batch} references")
