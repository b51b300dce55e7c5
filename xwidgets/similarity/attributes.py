"""SANE's attribute model (Plummer et al., ECCV 2020; ``docs/similarity.md#the-attribute-model``): a small head
on an embedder's convolutional features that scores A attributes and gives each an m×m activation map, trained so
that the maps of an image's true attributes agree with the image's similarity saliency maps.

    import xwidgets as xw
    model = xw.toy.attribute_model()                 # shipped, on xw.toy.embedder()
    prediction = model.predict(images)               # scores [B, A], confidences [B, A], maps [B, A, 4, 4]

The head (:class:`AttributeHead`): the layer's output ``[C, h, w]`` is average-pooled to ``mask_size``² cells
(SANE: a ResNet50 at 112 px gives 2048×4×4 directly), a 3×3 convolution (padding 1) gives A maps, and an
attribute's logit is the spatial mean of its map. A map is the softmax of its cells.

Loss on a batch (:func:`attribute_loss`), a classification term plus SANE's heatmap-matching term::

    L = classification + λ_h · mean_j [1 − max_{a ∈ GT(x)} (1 − ‖softmax(A_a) − softmax(S_j)‖₂)]

``loss="bce"`` (the default) makes the classification term a binary cross-entropy per attribute, and the scores
the sigmoid of the logits: each attribute's probability on its own, comparable across images and attributes, which
is what a pair's ranking multiplies or compares (:mod:`~xwidgets.similarity.match`). ``loss="sane"`` is SANE's
``SmoothL1(softmax(logits), y_norm)`` with the scores the softmax over the attributes; ``y_norm`` puts 1/#GT on each
true attribute. The ``S_j`` are the image's cached similarity saliency maps (against partners it matches),
average-pooled to the m×m cells and flattened; the softmax runs over the cells. The second
term is averaged over an image's maps, then over the images of the batch, an image without maps counting 0
(it contributes only the first term): each image weighs the same in both terms, as when every image has maps.
Adam, the learning rate ×``lr_decay`` after each epoch. The embedder stays frozen: its layer is read once over the
images (pooled to m×m) and training runs on that cache.

Choices made here where SANE gives none:

* images without any true attribute have no ``y_norm`` (1/0): they are left out of the loss (with either
  ``loss``, so both train on the same images), and count as negatives of every attribute in the held-out mAP.
  At least one training image must have one.
* a fraction ``holdout`` of the images (default 0.2) is kept out of training for :attr:`AttributeModel.metrics`
  (SANE evaluates on separate test images).
* saliency maps are resized to m×m by area averaging.
* ``confidences`` are calibrated ratios: the score divided by the attribute's threshold, the median score over
  the training images that have the attribute (SANE's Polyvore calibration); 1 means "as confident as the median
  true case". An attribute without a training positive has an infinite threshold, so confidence 0.
* the head's initial weights are drawn uniformly in ±1/√(9C) (PyTorch's default bound) from a local generator.

Note on the second term: RISE maps scaled to [0, 1] and pooled to 16 cells give a nearly flat softmax, so with
λ_h = 5e-3 the term pulls the true attributes' maps toward flat and lowers the held-out mAP on the toy world
(measured in ``docs/similarity.md#departures-with-measurements``). The scale SANE's cached maps had before the
softmax is not verified; we keep the formula as written. ``metrics`` reports the agreement reached and, for
reference, that of a flat map.

The shipped toy model (:func:`xw.toy.attribute_model() <xwidgets.toy.attribute_model>`, trained by
:func:`xw.toy.train_attribute_model() <xwidgets.toy.train_attribute_model>`) departs from SANE's recipe
where measurements on the toy world said so; :mod:`xwidgets.toy.attributes` lists how.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.deprecation import moved
from ..core.errors import describe, invalid
from ..core.hooks import find_layer, record_layer
from ..core.layers import default_layer_on, spatial_activation
from ..core.models import Embedder, check_model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import as_progress, shows_progress
from ..core.scoring import microbatched
from ..core.sources import image_count, image_source, read_images

__all__ = [
    "ATTRIBUTE_PARAMS",
    "AttributeHead",
    "AttributeModel",
    "AttributePrediction",
    "attribute_loss",
    "attribute_scores",
    "exclusive_scores",
    "saliency_cells",
    "train_attributes",
]

#: Names that moved to :mod:`xwidgets.toy` (kept until the next release, with a DeprecationWarning).
__getattr__ = moved(
    __name__,
    {
        "toy_attribute_labels": "xwidgets.toy:attribute_labels",
        "toy_attribute_groups": "xwidgets.toy:attribute_groups",
        "toy_attribute_model": "xwidgets.toy:attribute_model",
        "train_toy_attribute_model": "xwidgets.toy:train_attribute_model",
        "TOY_TRAINING": "xwidgets.toy:ATTRIBUTE_TRAINING",
        "TOY_WEIGHTS": "xwidgets.toy:ATTRIBUTE_WEIGHTS",
    },
)

ATTRIBUTE_PARAMS = ParamSet(
    "sane_attributes",
    Param(
        "lambda_h",
        "float",
        5e-3,
        "weight of the heatmap-matching term (SANE's default; its help text says 5e-6)",
        low=0.0,
        high=10.0,
        step=1e-3,
    ),
    Param("lr", "float", 5e-4, "Adam learning rate", low=1e-6, high=1.0, log=True),
    Param("lr_decay", "float", 0.985, "factor on the learning rate after every epoch", low=0.5, high=1.0, step=0.005),
    Param("epochs", "int", 300, "passes over the training images", low=1, high=5000),
    Param("batch_size", "int", 256, "images per optimisation step", low=1, high=65536),
    Param(
        "mask_size",
        "int",
        4,
        "cells per side of the attribute maps: the layer is average-pooled to this (SANE: 4, a ResNet50 at 112 px)",
        low=1,
        high=32,
    ),
    Param(
        "saliency_maps",
        "int",
        20,
        "cached similarity saliency maps used per image, at most (SANE: 20)",
        low=0,
        high=100,
    ),
    Param(
        "loss",
        "choice",
        "bce",
        "classification term: a binary cross-entropy per attribute with sigmoid scores, "
        "or SANE's SmoothL1 on the softmax over the attributes",
        choices=("bce", "sane"),
    ),
    Param(
        "holdout",
        "float",
        0.2,
        "fraction of the images kept out of training for the metrics",
        low=0.0,
        high=0.5,
        step=0.05,
    ),
)


# ------------------------------------------------------------------------------------------------ the head
class AttributeHead(nn.Module):
    """Average-pool ``[B, C, h, w]`` to ``mask_size``², a 3×3 convolution (padding 1) to A maps, and their
    spatial mean as the logits. ``forward`` returns ``(logits [B, A], maps [B, A, m, m])``, both raw (before
    any softmax). The initial weights come from ``seed`` (a local generator; torch's global one is untouched)."""

    def __init__(self, channels: int, attributes: int, mask_size: int = 4, *, seed: int = 0):
        super().__init__()
        self.mask_size = mask_size
        self.conv = nn.utils.skip_init(nn.Conv2d, channels, attributes, 3, padding=1)
        generator = torch.Generator().manual_seed(int(seed))
        bound = 1.0 / math.sqrt(channels * 9)
        with torch.no_grad():
            self.conv.weight.uniform_(-bound, bound, generator=generator)
            self.conv.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.conv(F.adaptive_avg_pool2d(features, self.mask_size))
        return maps.mean(dim=(2, 3)), maps


def saliency_cells(maps: torch.Tensor, mask_size: int) -> torch.Tensor:
    """Saliency maps ``[..., H, W]`` average-pooled to ``mask_size``² cells, flattened and softmax-normalised over
    the cells: ``[..., mask_size²]``, each row summing to 1 (the ``softmax(S_j)`` of the loss)."""
    lead = maps.shape[:-2]
    pooled = F.adaptive_avg_pool2d(maps.reshape(-1, 1, *maps.shape[-2:]).float(), mask_size)
    return F.softmax(pooled.flatten(1), dim=1).reshape(*lead, mask_size * mask_size)


def _best_agreement(cells: torch.Tensor, saliency: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """``[B, J]``: for each saliency map, ``max_{a ∈ GT} (1 − ‖cells_a − S_j‖₂)``.

    cells ``[B, A, m²]`` (softmax over cells), saliency ``[B, J, m²]`` (softmax over cells), positive ``[B, A]``
    bool. An image without a true attribute gets -inf."""
    distance = (cells[:, None] - saliency[:, :, None]).pow(2).sum(-1).clamp_min(1e-12).sqrt()  # [B, J, A]
    agreement = (1.0 - distance).masked_fill(~positive[:, None], -math.inf)
    return agreement.max(dim=2).values


def attribute_scores(logits: torch.Tensor, loss: str) -> torch.Tensor:
    """``[B, A]`` scores in [0, 1] from raw logits: the sigmoid of each (``loss="bce"``) or the softmax over the
    attributes (``loss="sane"``, rows sum to 1)."""
    return torch.sigmoid(logits) if loss == "bce" else F.softmax(logits, dim=1)


def attribute_loss(
    logits: torch.Tensor,
    maps: torch.Tensor,
    labels: torch.Tensor,
    saliency: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
    lambda_h: float = 5e-3,
    loss: str = "bce",
) -> tuple[torch.Tensor, dict]:
    """The loss on a batch (see the module docstring) and its two terms (detached, no host sync).

    Args:
        logits: ``[B, A]`` the head's raw logits; maps: ``[B, A, m, m]`` its raw maps.
        labels: ``[B, A]`` bool, the true attributes. Rows without one are left out of the loss.
        saliency: ``[B, J, m²]`` the images' saliency maps as :func:`saliency_cells` gives them, or None.
        valid: ``[B, J]`` bool, which of the J maps exist (images may have fewer than J; default all).
        lambda_h: the weight of the heatmap-matching term.
        loss: the classification term, ``"bce"`` (binary cross-entropy per attribute) or ``"sane"`` (SmoothL1
            on the softmax against ``y_norm``).

    Returns:
        ``(loss, {"classification": ..., "saliency": ...})``; the saliency term is 0 when no image has a map.
    """
    labels = labels.bool()
    counts = labels.sum(1, keepdim=True)
    usable = counts[:, 0] > 0
    if not bool(usable.any()):
        classification = logits.sum() * 0
    elif loss == "bce":
        classification = F.binary_cross_entropy_with_logits(logits[usable], labels[usable].float())
    else:
        y_norm = labels.float() / counts.clamp_min(1)
        classification = F.smooth_l1_loss(F.softmax(logits, dim=1)[usable], y_norm[usable])
    heat = logits.sum() * 0.0
    if saliency is not None and saliency.shape[1] > 0:
        if valid is None:
            valid = torch.ones(saliency.shape[:2], dtype=torch.bool, device=saliency.device)
        valid = valid & usable[:, None]
        per_image = valid.sum(1)
        if bool((per_image > 0).any()):
            cells = F.softmax(maps.flatten(2), dim=2)
            best = _best_agreement(cells, saliency, labels)
            miss = torch.where(valid, 1.0 - best, torch.zeros_like(best)).sum(1) / per_image.clamp_min(1)
            heat = miss.sum() / usable.sum()
    total = classification + lambda_h * heat
    return total, {"classification": classification.detach(), "saliency": heat.detach()}


# ---------------------------------------------------------------------------------------------- results
@dataclasses.dataclass(kw_only=True)
class AttributePrediction(Result):
    """Attribute scores and maps of B images.

    Attributes:
        scores: ``[B, A]`` in [0, 1] as in training (:func:`attribute_scores`): each attribute's sigmoid
            probability for a ``loss="bce"`` model, the softmax over the attributes for ``loss="sane"``.
        confidences: ``[B, A]`` the scores divided by the model's per-attribute calibration thresholds (1 = as
            confident as the median training image that has the attribute; 0 for an attribute never seen true).
        maps: ``[B, A, m, m]`` each attribute's map, softmax over the m² cells (sums to 1).
        images: ``[B, 3, H, W]`` the images in pixel space at the embedder's input size.
        attributes, phrases, parts: the model's attribute ids, their words and the part each is on.
    """

    scores: torch.Tensor
    confidences: torch.Tensor
    maps: torch.Tensor
    images: torch.Tensor
    attributes: list = dataclasses.field(default_factory=list)
    phrases: list = dataclasses.field(default_factory=list)
    parts: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(kw_only=True)
class AttributeModel(Result):
    """A trained attribute head for one embedder layer.

    Attributes:
        attributes: ``A`` attribute ids, e.g. ``"wing.color=blue"``; phrases: their words (``"blue wings"``);
            parts: the part each attribute is on (``"wing"``; ``""`` when unknown).
        groups: empty, or ``A`` names of mutually exclusive groups (``"tail.shape"``: a tail has one shape; ``""``
            for an attribute in none); :func:`exclusive_scores` reads them. open_groups: the groups an image can
            show none of (the vocabulary leaves a value out, as the toy's "plain" patterns, or the part may be
            absent). A file saved before these existed loads with none.
        weights: the head's parameters as one flat tensor (the head is rebuilt from it on first use).
        layer: the embedder layer read; layer_shape: its ``[C, h, w]``; mask_size: the maps' side m.
        embedder_name: the embedder's name at training time.
        calibration: ``[A]`` per-attribute thresholds, the median training score over the images that have the
            attribute (inf for an attribute without any).
        metrics: ``holdout_map`` / ``train_map`` (mean average precision of the scores, attributes with both
            positive and negative images), ``holdout_chance`` (the mean positive rate, a random ranking's level),
            ``holdout_saliency_agreement`` / ``train_saliency_agreement`` (mean over saliency maps of
            ``max_{a ∈ GT} 1 − ‖softmax(A_a) − softmax(S_j)‖₂``), ``*_saliency_agreement_flat`` (the same for a flat
            map) and the image counts. Values are None where there was nothing to measure.
        history: per epoch, the mean loss terms ``{"epoch", "classification", "saliency", "loss"}``.
        holdout_indices: ``[M]`` indices of the images kept out of training.
    """

    attributes: list = dataclasses.field(default_factory=list)
    phrases: list = dataclasses.field(default_factory=list)
    parts: list = dataclasses.field(default_factory=list)
    groups: list = dataclasses.field(default_factory=list)
    open_groups: list = dataclasses.field(default_factory=list)
    weights: torch.Tensor
    layer: str = ""
    layer_shape: list = dataclasses.field(default_factory=list)
    mask_size: int = 4
    embedder_name: str = ""
    calibration: torch.Tensor
    metrics: dict = dataclasses.field(default_factory=dict)
    history: list = dataclasses.field(default_factory=list)
    holdout_indices: torch.Tensor

    def __post_init__(self):
        self._head: AttributeHead | None = None
        self.embedder: Embedder | None = None

    @property
    def loss(self) -> str:
        """The classification loss trained with, which decides the scores (a model saved before the option
        existed was trained with SANE's)."""
        return self.params.get("loss", "sane")

    @property
    def head(self) -> AttributeHead:
        """The :class:`AttributeHead` rebuilt from :attr:`weights` (eval mode, frozen, on the CPU until
        :meth:`predict` moves it)."""
        if self._head is None:
            head = AttributeHead(self.layer_shape[0], len(self.attributes), self.mask_size)
            nn.utils.vector_to_parameters(self.weights.float(), head.parameters())
            self._head = head.eval().requires_grad_(False)
        return self._head

    @shows_progress("similarity.predict")
    def predict(
        self, images: object, embedder: Embedder | None = None, *, batch_size: int | None = None, progress=True
    ) -> AttributePrediction:
        """Scores, calibrated confidences and maps of the attributes on ``images``.

        Args:
            images: one image, a ``[B, 3, H, W]`` tensor or a sequence of images (any form ``to_batch`` accepts).
            embedder: the :class:`~xwidgets.core.models.Embedder` the model was trained on; default the one
                attached by :func:`train_attributes` or by ``xw.toy.attribute_model()`` (a loaded file has none).
            batch_size: images per forward pass (default the embedder's ``max_batch``).
            progress: True (a progress bar after a second), False, a Progress or ``callback(fraction, message)``.

        Cost: one forward pass of the embedder per image, and the head on m² cells.
        """
        embedder = embedder if embedder is not None else self.embedder
        if embedder is None:
            raise invalid("embedder", None, "the Embedder this model was trained on (a loaded model has none attached)")
        _check_embedder(embedder)
        images = image_source(images)
        count = image_count(images)
        batch_size = embedder.max_batch if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise invalid("batch_size", batch_size, "a positive int, or None for the embedder's max_batch")
        find_layer(embedder.module, self.layer, name="layer")
        head = self.head.to(embedder.device)
        started = time.perf_counter()
        with embedder.lock, torch.no_grad(), embedder.frozen(), record_layer(embedder.module, self.layer) as record:

            def work(start: int, stop: int) -> tuple[torch.Tensor, ...]:  # backs off on out-of-memory
                progress.check()
                batch = read_images(embedder, images, start, stop)
                features = _layer_output(embedder, record, batch, self.layer)
                if features.shape[1] != self.layer_shape[0]:
                    raise invalid(
                        "embedder",
                        f"a layer {self.layer!r} with {features.shape[1]} channels",
                        f"the embedder the model was trained on ({self.embedder_name}, {self.layer_shape[0]} channels)",
                    )
                batch_logits, batch_maps = head(features.float())
                progress.report(stop / count, f"images {stop}/{count}")
                return batch.float().cpu(), batch_logits.cpu(), batch_maps.cpu()

            pixels, logits, maps = microbatched(embedder, count, work, batch=batch_size)
        scores = attribute_scores(logits, self.loss)
        cells = F.softmax(maps.flatten(2), dim=2).reshape(maps.shape)
        return AttributePrediction(
            method="sane_attributes",
            params={"layer": self.layer, "mask_size": self.mask_size},
            timings={"predict": time.perf_counter() - started},
            scores=scores,
            confidences=scores / self.calibration[None],
            maps=cells,
            images=pixels,
            attributes=list(self.attributes),
            phrases=list(self.phrases),
            parts=list(self.parts),
        )


def exclusive_scores(
    scores: torch.Tensor, groups: Sequence[str], open_groups: Sequence[str] = (), *, threshold: float = 0.5
) -> torch.Tensor:
    """Scores read as values of mutually exclusive groups: an attribute keeps its score on an image only where it is
    its group's best (ties all keep theirs) and, in an open group (one an image may show none of), also at least
    ``threshold`` (for ``loss="bce"`` scores, more likely shown than not); otherwise 0.

    Args:
        scores: ``[B, A]`` attribute scores in [0, 1].
        groups: ``A`` group names, ``""`` for an attribute in no group (kept as it is).
        open_groups: the names of the open groups.
    Returns:
        ``[B, A]``, each value either the score or 0.
    """
    if len(groups) != scores.shape[-1]:
        raise invalid("groups", f"{len(groups)} names", f"one group name per attribute ({scores.shape[-1]})")
    names = sorted({g for g in groups if g})
    if not names:
        return scores
    member = torch.tensor([[g == name for g in groups] for name in names], dtype=torch.bool)  # [G, A]
    best = scores[:, None, :].masked_fill(~member[None], -math.inf).amax(2)  # [B, G]
    group_best = (best[:, :, None] * member[None]).sum(1)  # [B, A]
    grouped = member.any(0)
    opened = torch.tensor([g in set(open_groups) for g in groups], dtype=torch.bool)
    keep = ~grouped | ((scores >= group_best) & (~opened | (scores >= threshold)))
    return torch.where(keep, scores, torch.zeros_like(scores))


# ------------------------------------------------------------------------------------------------- checks
def _check_embedder(embedder: object) -> None:
    if check_model(embedder, Embedder, name="embedder").module.training:
        raise invalid(
            "embedder",
            "an embedder whose module is in training mode (module.training is True)",
            "eval mode: call embedder.module.eval() first",
        )


def _layer_name(embedder: Embedder, layer: str) -> str:
    """The dotted name of ``layer`` (a name or a submodule) in the embedder's module."""
    found = find_layer(embedder.module, layer, name="layer")
    return next(name for name, module in embedder.module.named_modules() if module is found)


def _layer_output(embedder: Embedder, record, pixels: torch.Tensor, layer: str) -> torch.Tensor:
    """Run the embedder on a pixel batch and return the recorded layer output ``[n, C, h, w]``."""
    embedder.forward(embedder.normalize(pixels))
    activation = spatial_activation(record, layer, pixels)
    record.activation = None
    return activation


def _check_labels(labels: object, attributes: object, count: int) -> tuple[list[str], torch.Tensor]:
    if isinstance(attributes, str) or not isinstance(attributes, Sequence) or not attributes:
        raise invalid("attributes", attributes, "a non-empty list of attribute ids (strings)")
    attributes = list(attributes)
    if any(not isinstance(a, str) or not a for a in attributes):
        raise invalid("attributes", attributes, "non-empty strings")
    if len(set(attributes)) != len(attributes):
        raise invalid("attributes", attributes, "unique attribute ids")
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor) or labels.ndim != 2:
        raise invalid("labels", labels, f"a [N, A] tensor of bools or 0/1 ([{count}, {len(attributes)}])")
    if tuple(labels.shape) != (count, len(attributes)):
        raise invalid(
            "labels",
            f"shape {list(labels.shape)}",
            f"[{count}, {len(attributes)}]: one row per image, one column per attribute",
        )
    if labels.dtype != torch.bool:
        if labels.is_complex() or not bool(((labels == 0) | (labels == 1)).all()):
            raise invalid(
                "labels", describe(labels) + " with values other than 0 and 1 (or NaN)", "bools or 0/1 values"
            )
        labels = labels != 0
    return attributes, labels.cpu()


def _word_list(values: object, name: str, attributes: list[str], default: list[str]) -> list[str]:
    if values is None:
        return default
    if (
        isinstance(values, str)
        or not isinstance(values, Sequence)
        or len(values) != len(attributes)
        or any(not isinstance(v, str) for v in values)
    ):
        raise invalid(name, values, f"a list of {len(attributes)} strings, one per attribute")
    return list(values)


def _saliency_cache(saliency: object, count: int, mask_size: int, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cells [N, J, m²], valid [N, J])`` from the ``saliency`` argument (see :func:`train_attributes`)."""
    if saliency is None or limit == 0:
        return torch.zeros(count, 0, mask_size**2), torch.zeros(count, 0, dtype=torch.bool)
    if isinstance(saliency, torch.Tensor):
        if saliency.ndim not in (4, 5):
            raise invalid("saliency", saliency, "a [N, J, H, W] tensor or a list of N entries (None or [J, H, W])")
        entries = list(saliency)
    elif isinstance(saliency, (str, bytes)) or not isinstance(saliency, Sequence):
        raise invalid("saliency", type(saliency).__name__, "a [N, J, H, W] tensor or a list of N entries")
    else:
        entries = list(saliency)
    if len(entries) != count:
        raise invalid("saliency", f"{len(entries)} entries", f"one entry per image ({count}); None for none")
    cells: list[torch.Tensor | None] = []
    for index, entry in enumerate(entries):
        name = f"saliency[{index}]"
        if entry is None:
            cells.append(None)
            continue
        entry = getattr(entry, "saliency", entry)  # a SaliencyResult of the image's maps
        if (
            not isinstance(entry, torch.Tensor)
            or not entry.is_floating_point()
            or entry.ndim not in (2, 3, 4)
            or (entry.ndim == 4 and entry.shape[1] != 1)
            or entry.numel() == 0
        ):
            raise invalid(name, entry, "None or float maps [H, W], [J, H, W] or [J, 1, H, W]")
        if not bool(torch.isfinite(entry).all()):
            raise invalid(name, "maps with NaN or infinite values", "finite saliency values")
        maps = entry.reshape(-1, *entry.shape[-2:])[:limit]
        cells.append(saliency_cells(maps.detach().cpu(), mask_size))
    most = max((c.shape[0] for c in cells if c is not None), default=0)
    stacked = torch.full((count, most, mask_size**2), 1.0 / mask_size**2)
    valid = torch.zeros(count, most, dtype=torch.bool)
    for index, c in enumerate(cells):
        if c is not None:
            stacked[index, : c.shape[0]] = c
            valid[index, : c.shape[0]] = True
    return stacked, valid


# ---------------------------------------------------------------------------------------------- training
def _extract(
    embedder: Embedder, images: object, count: int, layer: str, mask_size: int, progress
) -> tuple[torch.Tensor, list[int]]:
    """The layer read once over the images, pooled to m×m: ``[N, C, m, m]`` float32 on the CPU, and [C, h, w]."""
    shape: list[int] = []
    with embedder.lock, torch.no_grad(), embedder.frozen(), record_layer(embedder.module, layer) as record:

        def work(start: int, stop: int) -> torch.Tensor:  # backs off on out-of-memory
            progress.check()
            activation = _layer_output(embedder, record, read_images(embedder, images, start, stop), layer)
            shape[:] = list(activation.shape[1:])
            progress.report(stop / count, f"features {stop}/{count}")
            return F.adaptive_avg_pool2d(activation.float(), mask_size).cpu()

        features = microbatched(embedder, count, work)
    if not bool(torch.isfinite(features).all()):
        raise invalid("images", "images whose layer activations contain NaN or inf", "finite activations")
    return features, shape


def _evaluate(
    head: AttributeHead,
    features: torch.Tensor,
    labels: torch.Tensor,
    cells: torch.Tensor,
    valid: torch.Tensor,
    loss: str,
) -> dict:
    """mAP and saliency agreement of ``head`` on some images (all on one device)."""
    from ..text.metrics import retrieval_map

    result: dict = {
        "images": int(features.shape[0]),
        "map": None,
        "chance": None,
        "saliency_agreement": None,
        "saliency_agreement_flat": None,
        "saliency_maps": int(valid.sum()),
    }
    if features.shape[0] == 0:
        return result
    with torch.no_grad():
        logits, maps = head(features)
    labels_np = labels.cpu().numpy()
    if any(0 < labels_np[:, a].sum() < len(labels_np) for a in range(labels_np.shape[1])):
        ranking = retrieval_map(attribute_scores(logits, loss).cpu(), labels_np)
        result["map"], result["chance"] = round(ranking["map"], 4), round(ranking["chance"], 4)
    usable = valid & labels.any(1)[:, None]
    if bool(usable.any()):
        cell_maps = F.softmax(maps.flatten(2), dim=2)
        result["saliency_agreement"] = round(float(_best_agreement(cell_maps, cells, labels)[usable].mean()), 4)
        flat = torch.full_like(cell_maps, 1.0 / cell_maps.shape[-1])
        result["saliency_agreement_flat"] = round(float(_best_agreement(flat, cells, labels)[usable].mean()), 4)
    return result


@shows_progress("similarity.train_attributes")
def train_attributes(
    embedder: Embedder,
    images: object,
    labels: object,
    attributes: Sequence[str],
    *,
    saliency: object = None,
    layer: str | None = None,
    seed: int = 0,
    progress=True,
    phrases: Sequence[str] | None = None,
    parts: Sequence[str] | None = None,
    **params,
) -> AttributeModel:
    """Train SANE's attribute head on a frozen embedder's layer (see the module docstring).

    Args:
        embedder: an :class:`~xwidgets.core.models.Embedder` in eval mode (attached to the returned model).
        images: N images, a ``[N, 3, H, W]`` tensor in [0, 1] or a sequence of images (any form ``to_batch``
            accepts, or a dataset of ``(image, label)`` tuples).
        labels: ``[N, A]`` bool (or 0/1) tensor or array: the attributes each image has.
        attributes: the A attribute ids, e.g. ``"wing.color=blue"``.
        saliency: each image's cached similarity saliency maps against partners it matches: a ``[N, J, H, W]``
            tensor, or a list of N entries, each None (no map) or ``[J_i, H, W]`` / ``[J_i, 1, H, W]`` (e.g. a
            :class:`~xwidgets.heatmaps.SaliencyResult`'s ``saliency``), any size, values finite (in [0, 1] as
            saliency methods give them). At most ``saliency_maps`` per image are used. None: no matching term.
        layer: a convolutional layer's dotted name; default the stage before the global pool.
        seed: seeds the held-out split, the initial weights and the batch order.
        progress: a :class:`~xwidgets.core.runner.Progress` or ``callback(fraction, message)``; cancellable.
        phrases: words for each attribute (default the ids); parts: the part each is on (default the text before
            the id's first "." when it has one, e.g. ``"wing"`` for ``"wing.color=blue"``, else ``""``).
        params: any of :data:`ATTRIBUTE_PARAMS` (``lambda_h``, ``lr``, ``epochs``, ``batch_size``, ...).

    Returns:
        an :class:`AttributeModel` with the embedder attached, trained on the embedder's device.

    Raises:
        InvalidArgument: naming the argument, for a non-Embedder or one in training mode, a layer that is not
            convolutional, labels of the wrong shape or with values other than 0/1, no training image with a
            true attribute, malformed or non-finite saliency maps, NaN activations, or bad parameters.
    """
    settings = ATTRIBUTE_PARAMS.resolve(params)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise invalid("seed", seed, "an int")
    progress = as_progress(progress)
    _check_embedder(embedder)
    layer = default_layer_on(embedder, images) if layer is None else _layer_name(embedder, layer)
    images = image_source(images)
    count = image_count(images)
    attributes, labels = _check_labels(labels, attributes, count)
    phrases = _word_list(phrases, "phrases", attributes, list(attributes))
    parts = _word_list(
        parts,
        "parts",
        attributes,
        [a.split("=")[0].split(".")[0] if "." in a.split("=")[0] else "" for a in attributes],
    )
    m = settings["mask_size"]
    cells, valid = _saliency_cache(saliency, count, m, settings["saliency_maps"])

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(count, generator=generator)
    held = round(settings["holdout"] * count)
    holdout, training = order[:held].sort().values, order[held:].sort().values
    if not bool(labels[training].any()):
        raise invalid(
            "labels",
            "no training image with a true attribute",
            "at least one image (outside the held-out fraction) with an attribute",
        )

    timings: dict[str, float] = {}
    started = time.perf_counter()
    features, layer_shape = _extract(embedder, images, count, layer, m, progress.part(0.0, 0.2))
    timings["extract"] = time.perf_counter() - started

    device = embedder.device
    features, labels_d = features.to(device), labels.to(device)
    cells, valid = cells.to(device), valid.to(device)
    head = AttributeHead(
        layer_shape[0], len(attributes), m, seed=int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    )
    head = head.to(device).train()
    optimiser = torch.optim.Adam(head.parameters(), lr=settings["lr"])
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=settings["lr_decay"])
    train_rows = training.to(device)
    usable = train_rows[labels_d[train_rows].any(1)]  # rows without a true attribute have no y_norm
    history: list[dict] = []
    started = time.perf_counter()
    fit_progress = progress.part(0.2, 1.0)
    for epoch in range(settings["epochs"]):
        sums = torch.zeros(3, device=device)
        steps = 0
        shuffled = usable[torch.randperm(len(usable), generator=generator).to(device)]
        for lo in range(0, len(shuffled), settings["batch_size"]):
            progress.check()
            rows = shuffled[lo : lo + settings["batch_size"]]
            logits, maps = head(features[rows])
            loss, terms = attribute_loss(
                logits, maps, labels_d[rows], cells[rows], valid[rows], settings["lambda_h"], settings["loss"]
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            sums += torch.stack([terms["classification"], terms["saliency"], loss.detach()])
            steps += 1
        schedule.step()
        means = (sums / steps).tolist()
        history.append(
            {
                "epoch": epoch + 1,
                "classification": round(means[0], 7),
                "saliency": round(means[1], 6),
                "loss": round(means[2], 7),
            }
        )
        fit_progress.report((epoch + 1) / settings["epochs"], f"epoch {epoch + 1}/{settings['epochs']}")
        progress.stream(history[-1])
    timings["train"] = time.perf_counter() - started
    head.eval().requires_grad_(False)

    with torch.no_grad():
        train_scores = attribute_scores(head(features[train_rows])[0], settings["loss"]).cpu()
    train_labels = labels[training]
    calibration = torch.full((len(attributes),), math.inf)
    for a in range(len(attributes)):
        positives = train_scores[train_labels[:, a], a]
        if positives.numel():
            calibration[a] = positives.median()
    metrics = {}
    hold_rows = holdout.to(device)
    for split, rows in (("train", train_rows), ("holdout", hold_rows)):
        values = _evaluate(head, features[rows], labels_d[rows], cells[rows], valid[rows], settings["loss"])
        metrics.update({f"{split}_{name}": value for name, value in values.items()})
    progress.report(1.0, "trained")
    model = AttributeModel(
        method="sane_attributes",
        params=settings,
        seed=seed,
        timings=timings,
        attributes=attributes,
        phrases=phrases,
        parts=parts,
        weights=nn.utils.parameters_to_vector(head.parameters()).detach().cpu(),
        layer=layer,
        layer_shape=layer_shape,
        mask_size=m,
        embedder_name=embedder.name,
        calibration=calibration,
        metrics=metrics,
        history=history,
        holdout_indices=holdout,
    )
    model._head = head.cpu()
    model.embedder = embedder
    return model
