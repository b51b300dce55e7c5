"""Method specs and the registry: one declaration per method.

A method's kernel is registered with :func:`register`, which records its :class:`MethodSpec`: the name, the kind,
the declared parameters, the result type, the cache keys of its steps, the explorer that shows it and the hook
that draws it there, and where its documentation lives. ``xw.explain`` and ``xw.fit`` dispatch through the
registry; explorers, errors, the docs and ``help(xw.explain)`` read the same specs, so nothing is kept in sync by
hand.

The registry fills as the method packages are imported. ``import xwidgets`` (which Python runs before any of its
modules) imports them all, so the registry is complete wherever xwidgets is in use, and core imports nothing above
it.

Kinds and their call shapes (the kernel's own signature):

- ``"heatmap"``: ``kernel(model, images, target=None, *, size=None, seed=..., progress=True, **params)`` returns a
  saliency result ``[B, 1, H, W]``;
- ``"graph"``: the same call shape; the result holds a graph per image (SAG);
- ``"pair"``: ``kernel(embedder, queries, target=None, *, reference, progress=True, **params)``; the target is
  the similarity to the reference, so ``target`` must be None;
- ``"dataset"``: ``kernel(model, data, target=None, *, progress=True, **params)`` fits on many images and returns
  a fitted object whose ``explain(images)`` explains new ones.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .errors import close_matches, invalid, one_of
from .memory import Workload, guard
from .params import ParamSet

__all__ = [
    "KINDS",
    "PER_IMAGE_KINDS",
    "MethodSpec",
    "register",
    "get_spec",
    "method_names",
    "specs",
    "DOCS_URL",
]

KINDS = ("heatmap", "graph", "pair", "dataset")
"""The kinds of method: per-image heatmaps, per-image graphs, pairs (query and reference), dataset-level fits."""
PER_IMAGE_KINDS = ("heatmap", "graph", "pair")
"""The kinds ``xw.explain`` runs; ``"dataset"`` methods run through ``xw.fit``."""
DOCS_URL = "docs/"
"""Where the method pages live, relative to the repository root (one ``<page>.md`` per method)."""

_REGISTRY: dict[str, MethodSpec] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class MethodSpec:
    """The declaration of one method.

    Attributes:
        name: the registry key, e.g. ``"igos"`` (what ``method=`` takes).
        title: the readable name for titles and menus, e.g. ``"I-GOS"``.
        kind: one of :data:`KINDS`.
        params: the method's declared parameters (:class:`~xwidgets.core.params.ParamSet`).
        kernel: the function that computes it, with the call shape of its kind.
        result: the type the kernel returns.
        summary: one line saying what the method shows.
        docs: the method's page under ``docs/`` (e.g. ``"igos.md"``).
        steps: the method's cached steps in order, each mapped to the parameter names its result depends on; a
            step is recomputed only when one of its parameters (or an earlier step) changed.
        inputs: keyword arguments the kernel requires besides its parameters (``"reference"`` of a pair method).
        explorer: the explorer that shows the method, as ``"module:Class"`` (imported only when asked for).
        render: the name of the explorer's method that draws one of this method's results.
        example: one line of code that runs the method on the toy world.
        quick: parameter values that make a small, quick run (previews, the contract tests).
        memory: the method's memory hook, ``memory(work) -> [Phase, ...]`` (:mod:`~xwidgets.core.memory`): what
            each phase of a run holds and what each micro-batch item costs besides the model. The registered
            kernel checks it before it runs and refuses a run whose estimated peak does not fit; None: no check.
    """

    name: str
    title: str
    kind: str
    params: ParamSet
    kernel: Callable[..., Any]
    result: type
    summary: str
    docs: str
    steps: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    explorer: str = ""
    render: str = ""
    example: str = ""
    quick: Mapping[str, object] = dataclasses.field(default_factory=dict)
    memory: Callable[[Workload], Any] | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise invalid("kind", repr(self.kind), one_of(KINDS))
        for step, names in self.steps.items():
            unknown = [n for n in names if n not in self.params]
            if unknown:
                raise invalid(f"steps[{step!r}]", unknown, f"parameters of {self.name}: {', '.join(self.params)}")
        self.params.resolve(self.quick)

    def cache_key(self, step: str, params: Mapping[str, object]) -> tuple:
        """The key of ``step``'s cached result under ``params``: the values of its parameters and of every
        earlier step's, in declaration order (a change upstream invalidates everything after it)."""
        if step not in self.steps:
            raise invalid("step", repr(step), one_of(list(self.steps)))
        key: list[tuple[str, object]] = []
        for name, names in self.steps.items():
            key.extend((p, params.get(p, self.params[p].default)) for p in names)
            if name == step:
                return tuple(key)
        raise AssertionError("unreachable")

    def explorer_class(self) -> type:
        """The explorer class that shows this method (imports the widget libraries)."""
        if not self.explorer:
            raise invalid("method", repr(self.name), "a method with an explorer")
        module, _, name = self.explorer.partition(":")
        return getattr(importlib.import_module(module), name)

    def help(self) -> str:
        """A plain-text block: the title, what it shows, its call, its parameters with ranges and defaults."""
        call = {
            "heatmap": "xw.explain(model, images, target=None, *, method={name!r}, **params)",
            "graph": "xw.explain(model, images, target=None, *, method={name!r}, **params)",
            "pair": "xw.explain(embedder, queries, *, reference=references, method={name!r}, **params)",
            "dataset": "xw.fit(model, data, target=None, *, method={name!r}, **params).explain(images)",
        }
        lines = [
            f"{self.name} ({self.title}, {self.kind}): {self.summary}",
            "    " + call[self.kind].format(name=self.name),
        ]
        if self.inputs:
            lines.append("    requires: " + ", ".join(f"{i}=" for i in self.inputs))
        lines.extend("    " + line for line in (self.params.doc() or "(no tunable parameters)").splitlines())
        if self.example:
            lines.append("    example: " + self.example)
        lines.append(f"    docs: {DOCS_URL}{self.docs}")
        return "\n".join(lines)


def register(
    name: str,
    *,
    title: str,
    kind: str,
    params: ParamSet,
    result: type,
    summary: str,
    docs: str,
    steps: Mapping[str, tuple[str, ...]] | None = None,
    inputs: tuple[str, ...] = (),
    explorer: str = "",
    render: str = "",
    example: str = "",
    quick: Mapping[str, object] | None = None,
    memory: Callable[[Workload], Any] | None = None,
) -> Callable[[Callable], Callable]:
    """Decorate a kernel to register it as method ``name`` (see :class:`MethodSpec` for the fields). The kernel
    is returned wrapped by the memory guard (:func:`guarded`), with its spec as ``kernel.spec``."""

    def decorate(given: Callable) -> Callable:
        if name in _REGISTRY and getattr(_REGISTRY[name].kernel, "__wrapped__", None) is not given:
            raise invalid("name", repr(name), "a method name not registered yet")
        kernel = guarded(given, lambda: _REGISTRY[name])
        spec = MethodSpec(
            name=name,
            title=title,
            kind=kind,
            params=params,
            kernel=kernel,
            result=result,
            summary=summary,
            docs=docs,
            steps=dict(steps or {}),
            inputs=tuple(inputs),
            explorer=explorer,
            render=render,
            example=example,
            quick=dict(quick or {}),
            memory=memory,
        )
        _REGISTRY[name] = spec
        kernel.spec = spec  # type: ignore[attr-defined]
        return kernel

    return decorate


def guarded(kernel: Callable, spec: Callable[[], MethodSpec]) -> Callable:
    """``kernel`` behind the memory guard: each call first estimates its peak memory and refuses, naming the
    images, a run that does not fit (:func:`xwidgets.core.memory.guard`), before anything large is allocated.
    ``xw.explain``, ``xw.fit``, the explorers and the dataset engine all call the kernel so."""
    signature = inspect.signature(kernel)

    @functools.wraps(kernel)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:  # the kernel's own call raises the same error
            return kernel(*args, **kwargs)
        guard(spec(), bound.arguments)
        return kernel(*args, **kwargs)

    return call


def specs(kind: str | tuple[str, ...] | None = None) -> list[MethodSpec]:
    """Every registered spec (of ``kind``, one kind or several), in registration order."""
    kinds = (kind,) if isinstance(kind, str) else kind
    return [s for s in _REGISTRY.values() if kinds is None or s.kind in kinds]


def method_names(kind: str | tuple[str, ...] | None = None) -> list[str]:
    """The names of the registered methods (of ``kind``)."""
    return [s.name for s in specs(kind)]


def get_spec(method: object, *, kinds: tuple[str, ...] = KINDS, name: str = "method") -> MethodSpec:
    """The spec of ``method``, which must be of one of ``kinds``; otherwise an error naming the methods that are
    (with the closest names to a misspelling)."""
    allowed = [s.name for s in _REGISTRY.values() if s.kind in kinds]
    spec = _REGISTRY.get(method) if isinstance(method, str) else None
    if spec is None or spec.kind not in kinds:
        hint = close_matches(method, allowed) if isinstance(method, str) else ""
        where = ""
        if spec is not None:
            where = (
                f" ({method!r} is a dataset-level method: run it with xw.fit)"
                if spec.kind == "dataset"
                else f" ({method!r} is a {spec.kind} method: run it with xw.explain)"
            )
        raise invalid(name, repr(method), one_of(allowed) + hint + where)
    return spec
