"""The method contract, checked on every registered method (``xwidgets.core.methods.specs()``) in the toy world.

A method registered with ``@register`` is picked up here by its kind, with its ``spec.quick`` settings:

- every target form names the same class the same way (heatmap and graph: None, an int, a class name, a list of
  ints, a list of names, a ``ClassTarget``; dataset: an int and a class name; pair: ``target`` must be None and
  ``reference=`` is required, both refused with an ``XWidgetsError`` naming the argument);
- B = 3 images explained together equal three calls of B = 1 (same seed);
- ``save``/``load`` round-trips every field, and ``figure(index=0, *, path=None, **style)`` writes ``path``;
- cancelling through a ``Progress`` stops the work within one iteration, counted in forward passes of the model;
- a bad parameter (an unknown name, a number out of its declared range, a wrong type) raises an ``XWidgetsError``
  naming the parameter.

A pair method's inputs besides ``reference`` and a dataset method's inputs (``spec.inputs``) come from
:data:`INPUTS`; a method needing an input with no toy value there fails with that name, so add it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import re
from collections.abc import Callable, Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import xwidgets as xw
from xwidgets.core.errors import Cancelled, InvalidArgument, XWidgetsError
from xwidgets.core.methods import MethodSpec, specs
from xwidgets.core.runner import Progress
from xwidgets.core.targets import ClassTarget

matplotlib.use("Agg")

SPECS = specs()
BY_NAME = {spec.name: spec for spec in SPECS}
NAMES = list(BY_NAME)
# Fields that describe the call rather than the explanation: when and with what it ran, the work it did for the
# whole batch (SAG's stats, a pair method's forward passes), and how the target was written (a ClassTarget of one
# class describes itself with one class, the same class given as an int with one per image), and its provenance
# (fingerprints of the images it was given, the target as written).
BOOKKEEPING = {"timings", "versions", "stats", "forward_passes", "target", "provenance"}
# B = 3 against three B = 1 calls: float32 forwards of a batch and of one image differ in the last bits (~1e-6 of a
# score); maps are normalised to [0, 1], and iterative methods carry the difference through a few quick
# iterations. 1e-4 is what the I-GOS noise-free batching test needs at 3 iterations (tests/heatmaps/test_igos.py).
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
DATASET_IMAGES = 110  # 10 per species: every class is in the data a dataset method fits on
SEED = 18001


#: input name -> ``(world) -> value``: the toy value of each input a kernel takes besides its parameters.
INPUTS: dict[str, Callable] = {
    "attribute_model": lambda world: world.attribute_model,
    "captions": lambda world: xw.toy.captions(world.data),
}


class ForwardPasses:
    """Counts forward passes of a module (its own forward calls, one per micro-batch) while entered."""

    def __init__(self, module: torch.nn.Module):
        self.module, self.count, self._handle = module, 0, None
        self.at_cancel: int | None = None  # the count when a CancelAtFirstReport cancelled

    def _hook(self, *_):
        self.count += 1

    def __enter__(self):
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *_):
        self._handle.remove()


class World:
    """The toy models and images every check uses, and each method's runs on them, computed once per module."""

    def __init__(self):
        self.classifier = xw.toy.classifier()
        self.embedder = xw.toy.embedder()
        self.images = xw.toy.dataset(3, seed=SEED).images()  # 3 species: 3 different classes
        pairs = xw.toy.pairs(3, seed=SEED)
        self.queries = torch.stack([p.first.tensor for p in pairs])
        self.references = torch.stack([p.second.tensor for p in pairs])
        self.data = xw.toy.dataset(DATASET_IMAGES, seed=SEED + 1)
        with torch.no_grad():
            self.top = self.classifier(self.images).argmax(1).tolist()
        self.traced = functools.cache(self._traced)
        self.plain = functools.cache(self._plain)

    @functools.cached_property
    def attribute_model(self):
        return xw.toy.attribute_model()

    def model(self, spec: MethodSpec):
        return self.embedder if spec.kind == "pair" else self.classifier

    def inputs(self, spec: MethodSpec) -> dict:
        missing = [name for name in spec.inputs if name != "reference" and name not in INPUTS]
        if missing:
            pytest.fail(f"{spec.name} needs {missing}, which tests/test_contract.py has no toy value for (INPUTS)")
        return {name: INPUTS[name](self) for name in spec.inputs if name != "reference"}

    def call(self, spec: MethodSpec, index: slice | int | None = None, target=None, **params):
        """Run ``spec`` through the public call shape on images ``index`` (all 3 by default) with its quick
        settings; a dataset method is fitted on :attr:`data` instead (``index`` is then ignored)."""
        settings = {"progress": False, **spec.quick, **self.inputs(spec), **params}
        if spec.kind == "dataset":
            return xw.fit(self.classifier, self.data, target, method=spec.name, **settings)
        chosen = slice(None) if index is None else slice(index, index + 1) if isinstance(index, int) else index
        if spec.kind == "pair":
            return xw.explain(
                self.embedder,
                self.queries[chosen],
                target,
                reference=self.references[chosen],
                method=spec.name,
                **settings,
            )
        return xw.explain(self.classifier, self.images[chosen], target, method=spec.name, **settings)

    def _traced(self, name: str) -> tuple:
        """The quick run of ``name`` on all images with the default target (a dataset method: fitted with the class
        of the data's first image, as an int), traced: ``(result, reports, passes)``, ``reports`` its progress
        reports as ``(fraction, forward passes so far)``, ``passes`` the forward passes of the whole run."""
        spec = BY_NAME[name]
        reports = []
        target = self.default_target(spec)
        with ForwardPasses(self.model(spec).module) as passes:
            result = self.call(
                spec, target=target, progress=Progress(lambda fraction, _: reports.append((fraction, passes.count)))
            )
        return result, reports, passes.count

    def _plain(self, name: str, index: int | None = None):
        """The quick run of ``name`` with the default target on all images (``index`` None) or on one."""
        return self.traced(name)[0] if index is None else self.call(BY_NAME[name], index)

    def default_target(self, spec: MethodSpec) -> int | None:
        """The target of the traced run: the data's first class for a dataset method, the default otherwise."""
        return self.data_class if spec.kind == "dataset" else None

    def fitted(self, name: str):
        """A dataset method fitted with the class of the data's first image, given as an int."""
        return self.traced(name)[0]

    @property
    def data_class(self) -> int:
        return int(self.data.samples[0].species)

    def explained(self, name: str, index: int | None = None):
        """The fitted dataset method's explanation of all images (``index`` None) or of one."""
        chosen = self.images if index is None else self.images[index : index + 1]
        return self.fitted(name).explain(chosen)

    def per_image(self, spec: MethodSpec, index: int | None = None):
        """The per-image explanation of every kind: a run, or a fitted dataset method's ``explain``."""
        return self.explained(spec.name, index) if spec.kind == "dataset" else self.plain(spec.name, index)


@pytest.fixture(scope="module")
def world():
    return World()


def methods_of(*kinds: str) -> list:
    chosen = [name for name in NAMES if BY_NAME[name].kind in kinds]
    return chosen or [pytest.param(None, marks=pytest.mark.skip(reason=f"no {'/'.join(kinds)} method registered"))]


# ---------------------------------------------------------------------------------------------------- comparisons


def assert_same(a, b, where: str, **tolerance) -> None:
    """``a`` equals ``b`` field by field (tensors and arrays within ``tolerance``; exact when none is given);
    tuples and lists are both sequences (a saved file knows lists only)."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), f"{where}: {type(a).__name__} against {type(b).__name__}"
        for field in dataclasses.fields(a):
            assert_same(getattr(a, field.name), getattr(b, field.name), f"{where}.{field.name}", **tolerance)
    elif isinstance(a, (torch.Tensor, np.ndarray)):
        a, b = (
            torch.as_tensor(np.asarray(a) if isinstance(a, np.ndarray) else a),
            torch.as_tensor(np.asarray(b) if isinstance(b, np.ndarray) else b),
        )
        assert a.shape == b.shape and a.dtype == b.dtype, f"{where}: {a.shape} {a.dtype} against {b.shape} {b.dtype}"
        if tolerance and a.is_floating_point():
            close = torch.isclose(a.float(), b.float(), equal_nan=True, **tolerance)
            assert bool(close.all()), (
                f"{where}: {int((~close).sum())} of {close.numel()} values differ, by up to "
                f"{float((a.float() - b.float()).abs().nan_to_num().max()):.3g}"
            )
        else:
            assert torch.equal(a, b) or (a.is_floating_point() and torch.allclose(a, b, 0, 0, equal_nan=True)), where
    elif isinstance(a, Mapping):
        assert isinstance(b, Mapping) and set(a) == set(b), (
            f"{where}: keys {sorted(map(str, a))} against {sorted(map(str, b)) if isinstance(b, Mapping) else b}"
        )
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]", **tolerance)
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: {a!r:.200} against {b!r:.200}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]", **tolerance)
    elif isinstance(a, float) and tolerance:
        assert b == pytest.approx(a, rel=tolerance["rtol"], abs=tolerance["atol"], nan_ok=True), (
            f"{where}: {a!r} against {b!r}"
        )
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r:.200} against {b!r:.200}"


def explanation_fields(result) -> dict:
    """The result's fields without :data:`BOOKKEEPING`."""
    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name not in BOOKKEEPING}


def assert_same_explanation(a, b, where: str) -> None:
    assert type(a) is type(b), f"{where}: {type(a).__name__} against {type(b).__name__}"
    assert_same(explanation_fields(a), explanation_fields(b), where, **TOLERANCE)


def assert_batched_matches(batched, singles: Sequence, where: str) -> None:
    """Each per-image part of ``batched`` (a tensor with 3 rows where each single has 1, a list of 3 where each
    single has 1) equals the singles' parts in order; every other value equals each single's."""
    if dataclasses.is_dataclass(batched):
        for name, value in explanation_fields(batched).items():
            assert_batched_matches(value, [getattr(s, name) for s in singles], f"{where}.{name}")
    elif isinstance(batched, Mapping):
        for key, value in batched.items():
            assert_batched_matches(value, [s[key] for s in singles], f"{where}[{key!r}]")
    elif _is_per_image(batched, singles):
        joined = torch.cat(list(singles)) if isinstance(batched, torch.Tensor) else [s[0] for s in singles]
        assert_same(batched, joined, where, **TOLERANCE)
    else:
        for i, single in enumerate(singles):
            assert_same(batched, single, f"{where} (image {i})", **TOLERANCE)


def _is_per_image(batched, singles: Sequence) -> bool:
    if isinstance(batched, torch.Tensor):
        return (
            batched.ndim > 0
            and batched.shape[0] == len(singles)
            and all(isinstance(s, torch.Tensor) and s.ndim > 0 and s.shape[0] == 1 for s in singles)
        )
    return (
        isinstance(batched, list)
        and len(batched) == len(singles)
        and all(isinstance(s, list) and len(s) == 1 for s in singles)
    )


def names_argument(error: BaseException, name: str) -> bool:
    """Whether ``error`` names the argument ``name`` (as its ``argument``, or as a word of its message)."""
    text = error.argument if isinstance(error, InvalidArgument) else str(error)
    return name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)


# ---------------------------------------------------------------------------------------------------- target forms


@pytest.mark.parametrize("name", methods_of("heatmap", "graph"))
def test_every_target_form_gives_the_same_explanation(world, name):
    spec = BY_NAME[name]
    labels = world.classifier.labels
    top = world.top
    reference = world.plain(name)
    for form, target in {"ints": top, "names": [labels[c] for c in top], "ClassTarget": ClassTarget(top)}.items():
        assert_same_explanation(world.call(spec, target=target), reference, f"{name} target as {form}")
    first = world.plain(name, 0)
    for form, target in {"int": top[0], "name": labels[top[0]], "ClassTarget": ClassTarget([top[0]])}.items():
        assert_same_explanation(world.call(spec, 0, target=target), first, f"{name} target as {form}")


@pytest.mark.parametrize("name", methods_of("pair"))
def test_a_pair_method_takes_no_target_and_needs_a_reference(world, name):
    spec = BY_NAME[name]
    settings = {"progress": False, **spec.quick, **world.inputs(spec)}
    with pytest.raises(XWidgetsError) as refused:
        xw.explain(world.embedder, world.queries, 0, reference=world.references, method=name, **settings)
    assert names_argument(refused.value, "target"), str(refused.value)
    with pytest.raises(XWidgetsError) as refused:
        xw.explain(world.embedder, world.queries, method=name, **settings)
    assert names_argument(refused.value, "reference"), str(refused.value)
    assert isinstance(world.plain(name), spec.result)


@pytest.mark.parametrize("name", methods_of("dataset"))
def test_a_dataset_method_takes_a_class_as_int_or_name(world, name):
    spec = BY_NAME[name]
    by_name = world.call(spec, target=world.classifier.labels[world.data_class])
    assert_same_explanation(by_name, world.fitted(name), f"{name} fitted with a class name")
    try:  # None: every class, where the method explains every class
        world.call(spec, target=None)
    except XWidgetsError as refused:
        assert names_argument(refused, "target"), str(refused)


# ---------------------------------------------------------------------------------------------------- batching


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_one_by_one(world, name):
    spec = BY_NAME[name]
    batched = world.per_image(spec)
    assert_batched_matches(batched, [world.per_image(spec, i) for i in range(3)], f"{name} B=3 against 3 × B=1")


# ---------------------------------------------------------------------------------------------------- results


def results_of(world, spec: MethodSpec) -> list:
    """What a call of ``spec`` returns (for a dataset method: the fitted object and its explanation of images)."""
    if spec.kind == "dataset":
        return [world.fitted(spec.name), world.explained(spec.name)]
    return [world.plain(spec.name)]


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_and_figure(world, name, tmp_path):
    """Every result saves and loads with its fields equal. The explanation of images draws ``figure(0, path=)``;
    a dataset method's fitted object (a model of the data, not of one image) is held to it where it draws."""
    spec = BY_NAME[name]
    results = results_of(world, spec)
    assert isinstance(results[0], spec.result), (
        f"{name} returned a {type(results[0]).__name__}, its spec says {spec.result.__name__}"
    )
    for i, result in enumerate(results):
        kind = type(result)
        assert dataclasses.is_dataclass(result), f"{kind.__name__} is not a dataclass"
        loaded = kind.load(result.save(tmp_path / f"{i}.xwr"))
        assert_same(loaded, result, f"{kind.__name__} loaded")
        if spec.kind == "dataset" and result is results[0] and not hasattr(kind, "figure"):
            continue
        parameters = list(inspect.signature(kind.figure).parameters.values())[1:]
        # An explanation of images draws image 0 by default; a dataset method's fitted object (its summaries, its
        # concepts) has no first image, and draws all of itself by default (index=None).
        fitted = spec.kind == "dataset" and result is results[0]
        assert [(p.name, p.kind, p.default) for p in parameters[:2]] == [
            ("index", inspect.Parameter.POSITIONAL_OR_KEYWORD, None if fitted else 0),
            ("path", inspect.Parameter.KEYWORD_ONLY, None),
        ] and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD, (
            f"{kind.__name__}.figure{inspect.signature(kind.figure)}: expected figure(self, index="
            f"{None if fitted else 0}, *, path=None, **style)"
        )
        path = tmp_path / f"figure{i}.png"
        drawn = result.figure(0, path=path)
        plt.close(getattr(drawn, "figure", drawn) if drawn is not None else "all")
        assert path.is_file() and path.stat().st_size > 0, f"{kind.__name__}.figure(0, path=...) wrote nothing"


# ---------------------------------------------------------------------------------------------------- cancel


@pytest.mark.parametrize("name", NAMES)
def test_cancel_stops_within_one_iteration(world, name):
    """A full run's reports mark its iterations: one iteration is at most the largest number of forward passes
    between two reports. Cancelled at its first report, the run must raise ``Cancelled`` having run no more than
    that after the cancel. A run that reports nothing before it is done has one iteration: cancelled before it
    starts, it must raise having run fewer passes than a whole run."""
    spec = BY_NAME[name]
    module = world.model(spec).module
    _, reports, whole = world.traced(name)
    if any(fraction < 1 for fraction, _ in reports):
        counts = [count for _, count in reports] + [whole]
        iteration = max(b - a for a, b in itertools.pairwise(counts))
        with ForwardPasses(module) as passes, pytest.raises(Cancelled):
            world.call(spec, target=world.default_target(spec), progress=CancelAtFirstReport(passes))
        after = passes.count - passes.at_cancel
        assert after <= iteration, (
            f"{name} ran {after} forward passes after the cancel; one iteration is "
            f"{iteration} (reports at passes {counts})"
        )
    else:
        cancelled = Progress()
        cancelled.cancel()
        with ForwardPasses(module) as passes, pytest.raises(Cancelled):
            world.call(spec, target=world.default_target(spec), progress=cancelled)
        assert passes.count < whole, f"{name} ran {passes.count} of a whole run's {whole} passes once cancelled"


class CancelAtFirstReport(Progress):
    """A Progress that cancels itself at the first report, noting the forward passes run until then."""

    def __init__(self, passes: ForwardPasses):
        super().__init__()
        self.passes = passes

    def report(self, fraction: float, message: str = "") -> None:
        if not self.cancelled:
            self.passes.at_cancel = self.passes.count
            self.cancel()


# ---------------------------------------------------------------------------------------------------- bad parameters


def outside(param, side: str) -> object:
    """A value of ``param`` just outside its declared range on ``side`` (``"low"`` or ``"high"``)."""
    bound = param.low if side == "low" else param.high
    step = 1 if param.kind == "int" else max(abs(bound), 1.0) * 0.5
    return bound - step if side == "low" else bound + step


def wrong_type(param) -> object:
    """A value of the wrong type for ``param``: a word for a number or a flag, a number for a choice."""
    if param.kind == "choice":
        return next(v for v in (12345, 0.5, None) if v not in param.choices)
    return "many" if param.kind in ("int", "float") else "yes"


def bad_parameters() -> list:
    """``(method, parameter, value)`` for every registered method: an unknown name, each bounded number below
    and above its range, each parameter with a value of the wrong type."""
    cases = [pytest.param(spec.name, "no_such_parameter", 1, id=f"{spec.name}-unknown") for spec in SPECS]
    for spec in SPECS:
        for param in spec.params.values():
            if param.kind in ("int", "float"):
                cases += [
                    pytest.param(spec.name, param.name, outside(param, side), id=f"{spec.name}-{param.name}-{side}")
                    for side in ("low", "high")
                    if getattr(param, side) is not None
                ]
            cases.append(pytest.param(spec.name, param.name, wrong_type(param), id=f"{spec.name}-{param.name}-type"))
    return cases


@pytest.mark.parametrize("name, parameter, value", bad_parameters())
def test_a_bad_parameter_raises_naming_it(world, name, parameter, value):
    with pytest.raises(XWidgetsError) as refused:
        world.call(BY_NAME[name], **{parameter: value})
    assert names_argument(refused.value, parameter), str(refused.value)
