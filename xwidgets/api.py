"""The one call shape: :func:`explain` for every per-image method, :func:`fit` for every dataset-level method.

Both dispatch through the method registry (:mod:`xwidgets.core.methods`); their docstrings list every registered
method with its parameters, ranges and defaults (``help(xw.explain)``).
"""

from __future__ import annotations

from typing import Any

from .core.deprecation import warn_deprecated
from .core.errors import InvalidArgument, invalid
from .core.methods import PER_IMAGE_KINDS, get_spec, method_names, specs
from .core.models import Embedder, check_model
from .core.params import check_seed
from .core.provenance import run_recorded

__all__ = ["explain", "fit", "methods"]

_EXPLAIN_DOC = """Explain ``images`` under ``model`` with a per-image method.

    xw.explain(model, images, target=None, *, method="igos", **params)
    xw.explain(embedder, queries, *, reference=references, method="pair_rise", **params)

Args:
    model: an ``xw.Classifier`` or ``xw.Embedder`` (wrap a raw ``torch.nn.Module`` with ``xw.Classifier(module)``).
    images: one image or B images: PIL, numpy HWC, a torch CHW / BCHW tensor in [0, 1], a path, or a list of them.
    target: the score to explain: None (each image's top-1 class), an int, a class name (``"tabby"``), a list of
        either (one per image), or a ``Target`` (e.g. ``xw.similarity_to(embedder, reference)``). Pair methods
        explain the similarity to ``reference`` and take no target.
    method: the method's name (below).
    reference: the reference images of a pair method (one per query, or one for all).
    params: the method's parameters (below), ``seed=`` for the stochastic ones, ``size=(H, W)`` to resize images of
        different sizes, and ``progress=False`` to hide the progress bar.

Returns:
    The method's result: a keyword-only dataclass with ``save(path)``, ``type(result).load(path)`` and
    ``figure(index=0, *, path=None, **style)``.

Example:
    >>> import xwidgets as xw
    >>> model = xw.toy.classifier()
    >>> images = xw.toy.dataset(2, seed=0).images()
    >>> result = xw.explain(model, images, method="gradcam")
    >>> result.saliency.shape
    torch.Size([2, 1, 112, 112])

Dataset-level methods run through ``xw.fit(model, data, target=None, *, method=..., **params)``.

Methods:

"""

_FIT_DOC = """Fit a dataset-level method on ``data`` and return the fitted explanation, whose ``explain(images)``
explains new images.

    fitted = xw.fit(model, data, target=None, *, method="concepts", **params)
    explanation = fitted.explain(images)

Args:
    model: an ``xw.Classifier``.
    data: the images to fit on: a ``[N, 3, H, W]`` tensor, a list of images or paths, a folder, or a torch Dataset.
    target: the class to explain (an int or a class name); None where the method explains every class.
    method: the method's name (below).
    params: the method's parameters (below) and its inputs (e.g. ``captions=`` for ``"text"``).

Methods:

"""


def explain(
    model: Any, images: Any, target: Any = None, *, method: str = "igos", reference: Any = None, **params: Any
) -> Any:
    # The docstring is built from the registry (see _EXPLAIN_DOC and build_docs).
    if (
        isinstance(target, str)
        and method == "igos"
        and target in method_names(PER_IMAGE_KINDS)
        and target not in (getattr(model, "labels", None) or ())
    ):
        warn_deprecated(
            f"xw.explain(model, images, {target!r}) passes the method as the target: the call shape is "
            f"xw.explain(model, images, target=None, *, method={target!r}); the old order is accepted "
            "until the next release"
        )
        method, target = target, None
    spec = get_spec(method, kinds=PER_IMAGE_KINDS)
    _check_seed(params)
    pair = spec.kind == "pair"
    check_model(model, Embedder if pair else None, name="embedder" if pair else "model")
    if pair:
        if reference is None:
            raise invalid("reference", None, f"the reference images of the pair method {method!r}")
        if target is not None:
            raise invalid("target", target, f"None: the pair method {method!r} explains the similarity to reference=")
        return run_recorded(spec, model, images, reference=reference, **params)
    if reference is not None:
        raise invalid(
            "reference",
            "reference images",
            f"no reference: {method!r} is a {spec.kind} method "
            f"(explain a similarity with target=xw.similarity_to(embedder, reference))",
        )
    return run_recorded(spec, model, images, target, **params)


def fit(model: Any, data: Any, target: Any = None, *, method: str, **params: Any) -> Any:
    # The docstring is built from the registry (see _FIT_DOC and build_docs).
    spec = get_spec(method, kinds=("dataset",))
    _check_seed(params)
    try:
        return run_recorded(spec, model, data, target, **params)
    except InvalidArgument as error:
        raise _named_data(error, params) from error.__cause__


def _check_seed(params: dict) -> None:
    """Check a ``seed=`` among the keyword arguments in place (a method without a seed refuses it by name)."""
    if "seed" in params:
        params["seed"] = check_seed(params["seed"])


def _named_data(error: InvalidArgument, params: dict) -> InvalidArgument:
    """A dataset method reads ``data`` lazily through the readers every method shares, which name what they read
    ``images``; ``xw.fit`` has no such argument (unless the deprecated ``images=`` was given), so the error names
    ``data`` instead, with the same index (``images[3]`` -> ``data[3]``)."""
    argument = error.argument
    if "images" in params or not (argument == "images" or argument.startswith("images[")):
        return error
    renamed = InvalidArgument("data" + argument[len("images") :], error.given, error.expected)
    return renamed.with_traceback(error.__traceback__)


def methods(kind: str | None = None) -> list[str]:
    """The names of the registered methods, of one kind (``"heatmap"``, ``"graph"``, ``"pair"``, ``"dataset"``)
    or of all."""
    return method_names(kind)


def build_docs() -> None:
    """Write the method list into :func:`explain`'s and :func:`fit`'s docstrings (after every method package
    registered its methods)."""
    explain.__doc__ = _EXPLAIN_DOC + "\n\n".join(s.help() for s in specs(PER_IMAGE_KINDS))
    fit.__doc__ = _FIT_DOC + "\n\n".join(s.help() for s in specs("dataset"))
