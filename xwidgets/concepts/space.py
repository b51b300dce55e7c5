"""An XNN explanation space for one class: fitting it (:func:`fit`), explaining images in it
(:meth:`ConceptSpace.explain`), and the results both return.

    import xwidgets as xw
    model = xw.toy.classifier()
    space = xw.concepts.fit(model, images, "azure jay", layer="features", k=5)
    # or, as every dataset-level method: xw.fit(model, images, "azure jay", method="concepts", k=5)
    explanation = space.explain(images[:4])     # contributions [4, 5], maps [4, 5, 112, 112]
    explanation.figure()

The regression target is the class's logit on every image given, the others acting as the paper's negatives
(one-vs-all). A fraction of the images (``holdout``) is kept out of training for the metrics. Concepts are sorted
by their mean contribution, the largest first.

One default departs from the official code: the learning rate is 3e-3, not 1e-3, because a notebook's hundreds of
images give 1e-3 too few steps (measured in ``docs/concepts.md#departures-from-the-official-code``). The SRAE's
training departs in two more places, against a dead-ReLU collapse (:mod:`xwidgets.concepts.srae`).

Acceptance (:mod:`xwidgets.concepts.srae`) asks for faithfulness on the held-out images (R² at least ``min_r2``,
decision agreement at least ``min_agreement``) as well as the official contribution rule, and retries with a new
seed (``retries``, 5 by default) until both hold; ``ConceptSpace.accepted`` and ``attempts`` say how it went. The
held-out images thus choose between attempts: their R² is a validation score, optimistic where retries ran (on 70
toy fits the median was 0.80 on both the held-out images and 440 unseen ones, the minimum 0.53 against 0.48). With
``holdout=0`` the training images judge the attempts.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings

import torch
from torch import nn

from ..core.deprecation import moved, warn_deprecated
from ..core.errors import invalid
from ..core.hooks import find_layer, record_layer
from ..core.layers import default_layer_on, spatial_activation
from ..core.methods import register
from ..core.models import Classifier, check_model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import as_progress, shows_progress
from ..core.scoring import microbatched
from ..core.sources import image_count, image_source, read_images
from ..core.steps import StepCache
from ..core.targets import class_index
from .features import Features, extract_features
from .maps import excitation_maps, locality, upsample_maps
from .metrics import contribution_sparsity, decision_agreement, orthogonality, r_squared
from .srae import SRAE, default_hidden, mean_contributions, train_srae

__all__ = ["CONCEPT_PARAMS", "ConceptSpace", "ConceptExplanation", "fit", "SAMPLES_PER_CONCEPT"]

#: Names that moved: the display constants to the figure module (which the explorer shares), the layer choice to
#: core (kept here until the next release, with a DeprecationWarning).
__getattr__ = moved(
    __name__,
    {
        "CONCEPT_COLOURS": "xwidgets.concepts.figure:CONCEPT_COLOURS",
        "concept_colour": "xwidgets.concepts.figure:concept_colour",
        "MAP_THRESHOLD": "xwidgets.concepts.figure:MAP_THRESHOLD",
        "default_layer": "xwidgets.core.layers:default_layer",
    },
)

#: The fewest training samples per concept :func:`fit` accepts.
SAMPLES_PER_CONCEPT = 10

CONCEPT_PARAMS = ParamSet(
    "srae",
    Param("k", "int", 5, "concepts (x-features) in the explanation space", low=1, high=32),
    Param(
        "alpha_pred",
        "float",
        1.0,
        "weight of faithfulness, the MSE between ŷ and the logit",
        low=0.0,
        high=100.0,
        step=0.1,
    ),
    Param(
        "alpha_rec",
        "float",
        10.0,
        "weight of the log-penalty reconstruction of the features",
        low=0.0,
        high=100.0,
        step=0.5,
    ),
    Param(
        "alpha_pt",
        "float",
        10.0,
        "weight of the pull-away term on the contributions z·w",
        low=0.0,
        high=100.0,
        step=0.5,
    ),
    Param("q", "float", 100.0, "sharpness of the log penalty log(1 + q·error)", low=0.01, high=1e5, log=True),
    Param(
        "pull_away",
        "choice",
        "images",
        "pull apart the contribution vectors of images (official default) or the concepts' columns",
        choices=("images", "features"),
    ),
    Param("epochs", "int", 80, "fine-tuning epochs (learning rate ×0.1 every 40)", low=1, high=2000),
    Param("pretrain_epochs", "int", 1, "epochs of each layer-wise pretraining step", low=0, high=100),
    Param(
        "pt_warmup",
        "int",
        20,
        "fine-tuning epochs over which α_pt ramps up from 0 (official 0; see srae)",
        low=0,
        high=2000,
    ),
    Param(
        "lr",
        "float",
        3e-3,
        "Adam learning rate (official 1e-3; see the module docstring)",
        low=1e-5,
        high=1.0,
        log=True,
    ),
    Param("batch_size", "int", 50, "samples per optimisation step", low=1, high=4096),
    Param("retries", "int", 5, "restarts when the acceptance rule fails", low=0, high=20),
    Param(
        "min_r2",
        "float",
        0.5,
        "acceptance: the least held-out R² of ŷ against the logit",
        low=-1.0,
        high=1.0,
        step=0.05,
    ),
    Param(
        "min_agreement",
        "float",
        0.95,
        "acceptance: the least held-out decision agreement",
        low=0.0,
        high=1.0,
        step=0.01,
    ),
    Param("dropout", "float", 0.02, "dropout after the encoder's first layer", low=0.0, high=0.9, step=0.01),
    Param(
        "holdout",
        "float",
        0.2,
        "fraction of the images kept out of training for the metrics",
        low=0.0,
        high=0.5,
        step=0.05,
    ),
    Param("top_images", "int", 6, "top-activating images kept per concept", low=1, high=50),
)


@dataclasses.dataclass(kw_only=True)
class ConceptExplanation(Result):
    """B images explained in a concept space.

    Attributes:
        images: ``[B, 3, H, W]`` pixel space at the model's input size.
        logits: ``[B]`` the network's logit for the target class (y).
        predictions: ``[B]`` the space's faithful prediction ŷ = Σ_k contributions + bias.
        activations: ``[B, k]`` concept activations z.
        contributions: ``[B, k]`` per-concept contributions z_k · w_k to ŷ.
        bias: the linear head's bias b.
        maps: ``[B, k, H, W]`` excitation-backprop concept maps, each scaled to [0, 1] (all zero if it received
            no mass).
        masses: ``[B, k, h, w]`` the unscaled EBP masses on the layer's grid (each sums to at most 1).
        locality: ``[B, k]`` share of each map's mass in its top 10 % of cells.
        target: the class index; ``target_name`` its label.
    """

    images: torch.Tensor
    logits: torch.Tensor
    predictions: torch.Tensor
    activations: torch.Tensor
    contributions: torch.Tensor
    bias: float = 0.0
    maps: torch.Tensor
    masses: torch.Tensor
    locality: torch.Tensor
    target: int = 0
    target_name: str = ""

    @property
    def gaps(self) -> torch.Tensor:
        """``[B]`` the faithfulness gap |ŷ − y|."""
        return (self.predictions - self.logits).abs()

    def figure(self, index: int = 0, *, path=None, **style):
        """The contribution bars beside each concept's map on image ``index``
        (:func:`~xwidgets.concepts.figure.concept_figure`); saved to ``path`` (``.pdf``, ``.svg`` or ``.png``) when
        given."""
        from ..figures import without_old_sizes
        from .figure import concept_figure

        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.images.shape[0]:
            raise invalid("index", index, f"an image index in 0..{self.images.shape[0] - 1}")
        return concept_figure(self, index, path=path, **without_old_sizes(style))


@dataclasses.dataclass(kw_only=True)
class ConceptSpace(Result):
    """A fitted explanation space of one class.

    Attributes:
        target: the class index; ``target_name`` its label.
        layer: the layer the features come from; ``layer_shape`` its ``[C, h, w]``.
        hidden: the SRAE's hidden widths.
        scale: the scalar the features are divided by (their RMS over the training images).
        weights: the SRAE's parameters as one flat tensor.
        accepted: whether the kept attempt passed the acceptance rule: faithful on the held-out images and the
            official contribution rule (see :mod:`xwidgets.concepts.srae`).
        attempts: one record per training attempt: its seed, loss weights and loss terms, mean contributions,
            held-out ``r2`` and ``decision_agreement``, the verdicts ``contribution_rule``, ``faithful`` and
            ``accepted``, and ``kept`` on the attempt this space holds.
        mean_contributions: ``[k]`` mean of z_k · w_k over the training images (sorted, largest first).
        top_images: ``[k, T]`` indices into the fitted images of each concept's most activating images.
        top_activations: ``[k, T]`` their activations z_k.
        holdout_indices: ``[M]`` indices of the images kept out of training.
        metrics: ``{"train": {...}, "holdout": {...}}`` with r2, decision_agreement, sparsity, orthogonality.
        model_name: the classifier's name.
    """

    target: int = 0
    target_name: str = ""
    layer: str = ""
    layer_shape: list = dataclasses.field(default_factory=list)
    hidden: list = dataclasses.field(default_factory=list)
    scale: float = 1.0
    weights: torch.Tensor
    accepted: bool = False
    attempts: list = dataclasses.field(default_factory=list)
    mean_contributions: torch.Tensor
    top_images: torch.Tensor
    top_activations: torch.Tensor
    holdout_indices: torch.Tensor
    metrics: dict = dataclasses.field(default_factory=dict)
    model_name: str = ""

    def __post_init__(self):
        self._srae: SRAE | None = None
        self.model: Classifier | None = None
        self.features: Features | None = None

    @property
    def k(self) -> int:
        """The number of concepts."""
        return int(self.params["k"])

    @property
    def srae(self) -> SRAE:
        """The SRAE rebuilt from :attr:`weights` (eval mode, frozen), on the CPU until :meth:`explain` moves it."""
        if self._srae is None:
            srae = SRAE(self.layer_shape[0], self.k, tuple(self.hidden), self.params["dropout"])
            nn.utils.vector_to_parameters(self.weights.float(), srae.parameters())
            srae.eval().requires_grad_(False)
            self._srae = srae
        return self._srae

    # ------------------------------------------------------------------------------------- explaining
    @shows_progress("concepts.explain")
    def explain(
        self, images: object, model: Classifier | None = None, *, batch_size: int | None = None, progress=True
    ) -> ConceptExplanation:
        """Contributions, ŷ and one concept map per concept for each image.

        Args:
            images: one image, a ``[B, 3, H, W]`` tensor or a sequence of single images (any form ``to_batch``
                accepts).
            model: the classifier the space was fitted on; default the one :func:`fit` attached (a loaded space
                has none, so pass it).
            batch_size: images per forward pass (default the model's ``max_batch``).
            progress: True (a progress bar after a second), False, a Progress or ``callback(fraction, message)``.

        Cost: one forward pass per image; the maps are closed-form (:mod:`xwidgets.concepts.maps`).
        """
        model = self._model_arg(model)
        images = image_source(images)
        count = image_count(images)
        if batch_size is None:
            batch_size = model.max_batch
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise invalid("batch_size", repr(batch_size), "a positive int, or None for the model's max_batch")
        srae = self.srae.to(model.device)
        started = time.perf_counter()
        with model.lock, torch.no_grad(), model.frozen(), record_layer(model.module, self.layer) as record:

            def work(start: int, stop: int) -> tuple[torch.Tensor, ...]:  # backs off on out-of-memory
                progress.check()
                pixels = read_images(model, images, start, stop)
                output = model.forward(model.normalize(pixels))
                activation = spatial_activation(record, self.layer, pixels)
                if list(activation.shape[1:2]) != self.layer_shape[:1]:
                    raise invalid(
                        "model",
                        f"a layer {self.layer!r} with {activation.shape[1]} channels",
                        f"the model the space was fitted on ({self.model_name}, {self.layer_shape[0]} channels)",
                    )
                z, _, yhat = srae(activation.float().mean(dim=(2, 3)) / self.scale)
                masses = excitation_maps(srae, activation, self.scale).cpu()
                record.activation = None
                progress.report(stop / count, f"images {stop}/{count}")
                return pixels.float().cpu(), output[:, self.target].float().cpu(), z.cpu(), yhat.cpu(), masses

            pixels, logits, z, yhat, masses = microbatched(model, count, work, batch=batch_size)
        weight = srae.head.weight[0].cpu()
        return ConceptExplanation(
            method="xnn",
            params={"k": self.k, "layer": self.layer, "maps": "excitation backprop"},
            timings={"explain": time.perf_counter() - started},
            images=pixels,
            logits=logits,
            predictions=yhat,
            activations=z,
            contributions=z * weight,
            bias=float(srae.head.bias[0]),
            maps=upsample_maps(masses, (pixels.shape[-2], pixels.shape[-1])),
            masses=masses,
            locality=locality(masses),
            target=self.target,
            target_name=self.target_name,
        )

    @shows_progress("concepts.refit")
    def refit(self, *, progress=True, seed: int | None = None, **params) -> ConceptSpace:
        """Fit again from the cached features with some parameters changed (no dataset pass), e.g.
        ``space.refit(k=3, alpha_pt=5)``. Needs the features :func:`fit` attached."""
        if self.features is None:
            raise invalid(
                "space",
                "a space without cached features (a loaded one)",
                "a space returned by fit(), or call fit(model, features=...) yourself",
            )
        settings = {**self.params, **CONCEPT_PARAMS.resolve({**self.params, **params})}
        return fit(
            self.model,
            features=self.features,
            target=self.target,
            seed=self.seed if seed is None else seed,
            progress=progress,
            **{name: settings[name] for name in CONCEPT_PARAMS},
        )

    def _model_arg(self, model: Classifier | None) -> Classifier:
        model = model if model is not None else self.model
        if model is None:
            raise invalid("model", None, "the Classifier this space was fitted on (a loaded space has none attached)")
        check_model(model, Classifier)
        return model


def _check_features(features: Features) -> None:
    if not isinstance(features, Features):
        raise invalid("features", type(features).__name__, "Features from extract_features")
    if not torch.isfinite(features.features).all() or not torch.isfinite(features.logits).all():
        raise invalid("images", "images whose features or logits contain NaN or inf", "finite activations")


def _metrics(srae: SRAE, x: torch.Tensor, logits: torch.Tensor, target: int) -> dict:
    if len(x) == 0:
        return {}
    with torch.no_grad():
        z, _, yhat = srae(x)
        contributions = srae.contributions(z)
    y = logits[:, target]
    agreement = decision_agreement(logits, yhat, target)
    return {
        "r2": round(r_squared(yhat, y), 4),
        "decision_agreement": round(agreement, 4),
        "sparsity": round(contribution_sparsity(contributions), 4),
        "orthogonality": round(orthogonality(contributions), 4),
        "images": len(x),
    }


def _sorted_by_contribution(srae: SRAE, x: torch.Tensor) -> torch.Tensor:
    """Permute the concepts so their mean contributions descend; returns that order."""
    order = mean_contributions(srae, x).argsort(descending=True)
    with torch.no_grad():
        last, first = srae.encoder_layers[-1], srae.decoder_layers[0]
        last.weight.copy_(last.weight[order])
        last.bias.copy_(last.bias[order])
        first.weight.copy_(first.weight[:, order])
        srae.head.weight.copy_(srae.head.weight[:, order])
    return order


@register(
    "concepts",
    title="XNN concepts",
    kind="dataset",
    params=CONCEPT_PARAMS,
    result=ConceptSpace,
    summary="a few concepts of one layer, from which the class logit is rebuilt faithfully, each with its "
    "contribution and an excitation-backprop map",
    docs="concepts.md",
    steps={"features": (), "space": tuple(CONCEPT_PARAMS)},
    explorer="xwidgets.concepts.explorer:ConceptExplorer",
    render="render",
    example='xw.fit(xw.toy.classifier(), xw.toy.dataset(60).images(), "goldcap", method="concepts", k=2)',
    quick={"k": 2, "epochs": 5, "pretrain_epochs": 1, "retries": 0},
)
@shows_progress("concepts.fit")
def fit(
    model: Classifier | None,
    data: object = None,
    target: int | str | None = None,
    *,
    layer: str | None = None,
    features: Features | None = None,
    seed: int = 0,
    cache: StepCache | None = None,
    images: object = None,
    progress=True,
    **params,
) -> ConceptSpace:
    """Fit an XNN explanation space of class ``target`` on ``data``; ``space.explain(images)`` then explains images
    in it (method ``"concepts"``: ``xw.fit(model, data, target, method="concepts", **params)``).

    Args:
        model: the :class:`~xwidgets.core.models.Classifier` (attached to the space for :meth:`~ConceptSpace.explain`;
            it may be None when ``features`` are given and no explanation is needed).
        data: a ``[N, 3, H, W]`` tensor or sequence of images of many classes (the target's and others).
            Ignored when ``features`` are given.
        target: the class, as an index or a label. None: the class the model predicts most often on ``data``
            (a warning names it), for data of mostly one class.
        layer: a layer's dotted name (its output a map, a channels-last map or tokens,
            :func:`~xwidgets.core.layers.layer_map`); default :func:`default_layer`, traced on the first image.
        features: :class:`~xwidgets.concepts.features.Features` from an earlier pass (skips the dataset pass).
        seed: seeds the split, the initialisation and the batches.
        cache: a :class:`~xwidgets.core.steps.StepCache` keeping the dataset pass (step ``"features"``) between
            calls on the same model, ``data`` object and layer (an explorer's), so a refit only trains.
        images: the former name of ``data`` (deprecated; kept until the next release).
        progress: a :class:`~xwidgets.core.runner.Progress` or ``callback(fraction, message)``; cancellable.
        params: any of :data:`CONCEPT_PARAMS` (``k``, the loss weights ``alpha_pred``, ``alpha_rec``,
            ``alpha_pt``, ``q``, ...).

    Raises:
        InvalidArgument: for a layer not in the model or not convolutional, k < 1, fewer than
            ``SAMPLES_PER_CONCEPT · k`` training images, an unknown target, or non-finite features.
    """
    settings = CONCEPT_PARAMS.resolve(params)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise invalid("seed", repr(seed), "an int")
    if images is not None:
        warn_deprecated(
            "xw.concepts.fit(model, images=...) is deprecated: pass the images as data, the second "
            "argument: fit(model, data, target)"
        )
        data = images if data is None else data
    progress = as_progress(progress)
    timings: dict[str, float] = {}
    if features is None:
        features = _dataset_pass(model, data, target, layer, settings, cache, progress, timings)
    else:
        _check_features(features)
        if layer is not None and layer != features.layer:
            raise invalid("layer", layer, f"the features' own layer {features.layer!r} (or None)")
        if model is not None and model.name != features.model_name:
            raise invalid("model", model.name, f"the model the features were read from ({features.model_name})")
    _check_features(features)
    count = len(features)
    _check_count(count, settings)
    target = (
        _most_predicted(features) if target is None else class_index(target, features.labels, features.logits.shape[1])
    )

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(count, generator=generator)
    held = round(settings["holdout"] * count)
    holdout, training = order[:held].sort().values, order[held:].sort().values
    device = model.device if model is not None else torch.device("cpu")
    x_all = features.features.float()
    scale = float(x_all[training].pow(2).mean().sqrt())
    if not math.isfinite(scale) or scale <= 0:
        raise invalid(
            "layer",
            f"{features.layer!r}, whose activations are all zero on these images",
            "a layer with non-zero activations",
        )
    x = (x_all / scale).to(device)
    logits = features.logits.float().to(device)
    hidden = default_hidden(x.shape[1])
    judged = (holdout if len(holdout) else training).to(device)
    started = time.perf_counter()
    trained = train_srae(
        x[training.to(device)],
        logits[training.to(device), target],
        k=settings["k"],
        hidden=hidden,
        settings=settings,
        seed=seed,
        judge=lambda srae: _metrics(srae, x[judged], logits[judged], target),
        progress=progress.part(0.3 if "extract" in timings else 0.0, 1.0),
    )
    timings["train"] = time.perf_counter() - started
    srae = trained.model
    _sorted_by_contribution(srae, x[training.to(device)])
    with torch.no_grad():
        z = srae.encode(x)[-1].cpu()
    top = min(settings["top_images"], count)
    top_activations, top_images = z.T.topk(top, dim=1)
    labels = features.labels
    space = ConceptSpace(
        method="srae",
        params=settings,
        seed=seed,
        timings=timings,
        target=target,
        target_name=labels[target] if labels else str(target),
        layer=features.layer,
        layer_shape=list(features.layer_shape),
        hidden=list(hidden),
        scale=scale,
        weights=nn.utils.parameters_to_vector(srae.parameters()).detach().cpu(),
        accepted=trained.accepted,
        attempts=trained.attempts,
        mean_contributions=mean_contributions(srae, x[training.to(device)]).cpu(),
        top_images=top_images,
        top_activations=top_activations,
        holdout_indices=holdout,
        metrics={
            "train": _metrics(srae, x[training.to(device)], logits[training.to(device)], target),
            "holdout": _metrics(srae, x[holdout.to(device)], logits[holdout.to(device)], target),
        },
        model_name=features.model_name,
    )
    space._srae = srae
    space.model, space.features = model, features
    return space


def _dataset_pass(
    model: Classifier | None,
    data: object,
    target: object,
    layer: str | None,
    settings: dict,
    cache: StepCache | None,
    progress,
    timings: dict,
) -> Features:
    """The ``"features"`` step: check the arguments, then read ``layer`` over ``data`` once (progress 0 to 0.3),
    or take the features ``cache`` kept for this model, data object and layer."""
    if model is None:
        raise invalid("model", None, "a Classifier (or pass features=)")
    if data is None:
        raise invalid("data", None, "the images to fit on (or pass features=)")
    check_model(model, Classifier)
    layer = layer or default_layer_on(model, data)
    find_layer(model.module, layer)
    source = image_source(data)
    _check_count(image_count(source), settings)
    if model.labels and target is not None:  # an unknown target fails before the dataset pass
        class_index(target, model.labels, len(model.labels))

    def extract() -> Features:
        started = time.perf_counter()
        extracted = extract_features(model, source, layer, progress=progress.part(0.0, 0.3))
        timings["extract"] = time.perf_counter() - started
        return extracted

    if cache is None:
        return extract()
    return cache.get("features", features_key(model, data, layer), extract)


def features_key(model: Classifier, data: object, layer: str) -> tuple:
    """The :class:`~xwidgets.core.steps.StepCache` key of the ``"features"`` step: the very ``model`` and ``data``
    objects (compared by identity, not hashed) and the layer's name."""
    return _Same(model), _Same(data), layer


class _Same:
    """A cache-key part equal only to a part holding the very same object (which it keeps alive, so its id is
    not reused while the key exists): a dataset is not hashed to tell it apart."""

    def __init__(self, value: object):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)


def _most_predicted(features: Features) -> int:
    """The class the model predicts most often on the fitted images (the lowest index on a tie), said in a
    warning: what ``target=None`` fits."""
    predicted = features.logits.argmax(1)
    counts = torch.bincount(predicted, minlength=features.logits.shape[1])
    target = int(counts.argmax())
    name = features.labels[target] if features.labels else f"class {target}"
    warnings.warn(
        f"target=None: fitting the concepts of {name!r} (class {target}), the class the model predicts "
        f"most often on these {len(features)} images ({int(counts[target])} of them); pass target= to "
        "choose the class",
        UserWarning,
        stacklevel=4,
    )
    return target


def _check_count(count: int, settings: dict) -> None:
    training = count - round(settings["holdout"] * count)
    needed = SAMPLES_PER_CONCEPT * settings["k"]
    if training < needed:
        raise invalid(
            "images",
            f"{count} images ({training} for training after holding out {settings['holdout']:g})",
            f"at least {needed} training images for k={settings['k']} ({SAMPLES_PER_CONCEPT} per concept)",
        )
