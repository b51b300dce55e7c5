"""SANE's attribute model (Plummer et al., ECCV 2020; METHODS.md section 8): a small head on an embedder's
convolutional features that scores A attributes and gives each an m×m activation map, trained so that the
maps of an image's true attributes agree with the image's similarity saliency maps.

    import xwidgets as xw
    from xwidgets.similarity.attributes import toy_attribute_model
    model = toy_attribute_model()                    # shipped, on xw.toy.embedder()
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

Note on the second term, measured on the toy world: RISE maps scaled to [0, 1] and pooled to 16 cells vary by
well under 1 across the cells, so their softmax is nearly flat (every cell within a factor e of the others; a flat
map already agrees to 0.97). With λ_h = 5e-3 the term then pulls the true attributes' maps toward flat: on the
shipped model's training set (1,500 images, 640 maps), the held-out mAP was 0.49 against 0.56 with λ_h = 0, and the
mass a true part-colour attribute's map puts on its part's cells fell to about that of a uniform map (with λ_h = 0
it was above it, e.g. 0.33 against 0.24 on the body). Multiplying the maps by 10 or 30 before the softmax (sharper
targets) moved every attribute's map onto the bird, true or not, and lowered the mAP further (0.39, 0.34). The scale
SANE's cached maps had before the softmax is not verified; we keep the formula as written.
``metrics`` reports the agreement reached and, for reference, that of a flat map.

The shipped toy model (:func:`train_toy_attribute_model`) departs from SANE's recipe, measured on the toy world:

* SANE's optimiser settings (lr 5e-4 × 0.985 per epoch, batch 256, 300 epochs) on 1,500 images left the head
  undertrained: held-out mAP 0.49. With :data:`TOY_TRAINING` (lr 5e-3 × 0.95 per epoch, batch 128, 60 epochs) on
  3,000 images it is 0.69 (0.13 is chance). The loss hardly changes the mAP: in a side run on the same 3,000 images
  (lr 5e-3, cosine schedule, 60 epochs; 600 fresh test images) BCE gave 0.729 and SANE's loss 0.731.
* For explaining pairs the loss matters little too. On 2 × 40 fresh pairs sharing one worded attribute, ranking by
  the smaller of the two images' scores put the shared attribute in the top 3 for 0.80 of the pairs with the BCE
  head's sigmoid scores and 0.78 with the SANE head's softmax scores (BCE is the default: each score is then the
  attribute's own probability, not a share of the other attributes'). What matters is to read the scores:
  dividing them by the calibration thresholds (``confidences``) dropped the rate to 0.38 and 0.28 (a threshold
  below the typical score lifts an attribute the model seldom scores high, true or not).
* No saliency term (``lambda_h`` 0), for the reason in the note above; the SANE recipe stays available
  (``loss="sane"``, ``lambda_h=5e-3``, ``saliency_images=320``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import describe, invalid
from ..core.hooks import find_layer, record_layer
from ..core.models import Embedder, check_model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import as_progress, shows_progress

__all__ = ["ATTRIBUTE_PARAMS", "AttributeHead", "AttributeModel", "AttributePrediction", "attribute_loss",
           "attribute_scores", "exclusive_scores", "saliency_cells", "train_attributes", "toy_attribute_groups",
           "toy_attribute_labels", "toy_attribute_model", "train_toy_attribute_model", "TOY_TRAINING",
           "TOY_WEIGHTS"]

#: The shipped toy attribute model (:func:`train_toy_attribute_model` writes it).
TOY_WEIGHTS = Path(__file__).parent / "weights" / "toy_attributes.xwr"

ATTRIBUTE_PARAMS = ParamSet(
    "sane_attributes",
    Param("lambda_h", "float", 5e-3, "weight of the heatmap-matching term (SANE's default; its help text says "
          "5e-6)", low=0.0, high=10.0, step=1e-3),
    Param("lr", "float", 5e-4, "Adam learning rate", low=1e-6, high=1.0, log=True),
    Param("lr_decay", "float", 0.985, "factor on the learning rate after every epoch", low=0.5, high=1.0,
          step=0.005),
    Param("epochs", "int", 300, "passes over the training images", low=1, high=5000),
    Param("batch_size", "int", 256, "images per optimisation step", low=1, high=65536),
    Param("mask_size", "int", 4, "cells per side of the attribute maps: the layer is average-pooled to this "
          "(SANE: 4, a ResNet50 at 112 px)", low=1, high=32),
    Param("saliency_maps", "int", 20, "cached similarity saliency maps used per image, at most (SANE: 20)",
          low=0, high=100),
    Param("loss", "choice", "bce", "classification term: a binary cross-entropy per attribute with sigmoid scores, "
          "or SANE's SmoothL1 on the softmax over the attributes", choices=("bce", "sane")),
    Param("holdout", "float", 0.2, "fraction of the images kept out of training for the metrics", low=0.0,
          high=0.5, step=0.05),
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
    distance = (cells[:, None] - saliency[:, :, None]).pow(2).sum(-1).clamp_min(1e-12).sqrt()   # [B, J, A]
    agreement = (1.0 - distance).masked_fill(~positive[:, None], -math.inf)
    return agreement.max(dim=2).values


def attribute_scores(logits: torch.Tensor, loss: str) -> torch.Tensor:
    """``[B, A]`` scores in [0, 1] from raw logits: the sigmoid of each (``loss="bce"``) or the softmax over the
    attributes (``loss="sane"``, rows sum to 1)."""
    return torch.sigmoid(logits) if loss == "bce" else F.softmax(logits, dim=1)


def attribute_loss(logits: torch.Tensor, maps: torch.Tensor, labels: torch.Tensor,
                   saliency: torch.Tensor | None = None, valid: torch.Tensor | None = None,
                   lambda_h: float = 5e-3, loss: str = "bce") -> tuple[torch.Tensor, dict]:
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

    scores: torch.Tensor = None
    confidences: torch.Tensor = None
    maps: torch.Tensor = None
    images: torch.Tensor = None
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
    weights: torch.Tensor = None
    layer: str = ""
    layer_shape: list = dataclasses.field(default_factory=list)
    mask_size: int = 4
    embedder_name: str = ""
    calibration: torch.Tensor = None
    metrics: dict = dataclasses.field(default_factory=dict)
    history: list = dataclasses.field(default_factory=list)
    holdout_indices: torch.Tensor = None

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
    def predict(self, images: object, embedder: Embedder | None = None, *, batch_size: int | None = None,
                progress=True) -> AttributePrediction:
        """Scores, calibrated confidences and maps of the attributes on ``images``.

        Args:
            images: one image, a ``[B, 3, H, W]`` tensor or a sequence of images (any form ``to_batch`` accepts).
            embedder: the :class:`~xwidgets.core.models.Embedder` the model was trained on; default the one
                attached by :func:`train_attributes` or :func:`toy_attribute_model` (a loaded file has none).
            batch_size: images per forward pass (default the embedder's ``max_batch``).
            progress: True (a progress bar after a second), False, a Progress or ``callback(fraction, message)``.

        Cost: one forward pass of the embedder per image, and the head on m² cells.
        """
        from ..concepts.features import image_count, image_source, read_images

        embedder = embedder if embedder is not None else self.embedder
        if embedder is None:
            raise invalid("embedder", None, "the Embedder this model was trained on (a loaded model has none "
                          "attached)")
        _check_embedder(embedder)
        images = image_source(images)
        count = image_count(images)
        batch_size = embedder.max_batch if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise invalid("batch_size", batch_size, "a positive int, or None for the embedder's max_batch")
        find_layer(embedder.module, self.layer, name="layer")
        head = self.head.to(embedder.device)
        started = time.perf_counter()
        pixels, logits, maps = [], [], []
        with embedder.lock, torch.no_grad(), embedder.frozen(), record_layer(embedder.module, self.layer) as record:
            for start in range(0, count, batch_size):
                progress.check()
                stop = min(start + batch_size, count)
                batch = read_images(embedder, images, start, stop)
                features = _layer_output(embedder, record, batch, self.layer)
                if features.shape[1] != self.layer_shape[0]:
                    raise invalid("embedder", f"a layer {self.layer!r} with {features.shape[1]} channels",
                                  f"the embedder the model was trained on ({self.embedder_name}, "
                                  f"{self.layer_shape[0]} channels)")
                batch_logits, batch_maps = head(features.float())
                pixels.append(batch.float().cpu())
                logits.append(batch_logits.cpu())
                maps.append(batch_maps.cpu())
                progress.report(stop / count, f"images {stop}/{count}")
        scores = attribute_scores(torch.cat(logits), self.loss)
        maps = torch.cat(maps)
        cells = F.softmax(maps.flatten(2), dim=2).reshape(maps.shape)
        return AttributePrediction(
            method="sane_attributes", params={"layer": self.layer, "mask_size": self.mask_size},
            timings={"predict": time.perf_counter() - started}, scores=scores,
            confidences=scores / self.calibration[None], maps=cells, images=torch.cat(pixels),
            attributes=list(self.attributes), phrases=list(self.phrases), parts=list(self.parts))


def exclusive_scores(scores: torch.Tensor, groups: Sequence[str], open_groups: Sequence[str] = (), *,
                     threshold: float = 0.5) -> torch.Tensor:
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
    member = torch.tensor([[g == name for g in groups] for name in names], dtype=torch.bool)     # [G, A]
    best = scores[:, None, :].masked_fill(~member[None], -math.inf).amax(2)                     # [B, G]
    group_best = (best[:, :, None] * member[None]).sum(1)                                      # [B, A]
    grouped = member.any(0)
    opened = torch.tensor([g in set(open_groups) for g in groups], dtype=torch.bool)
    keep = ~grouped | ((scores >= group_best) & (~opened | (scores >= threshold)))
    return torch.where(keep, scores, torch.zeros_like(scores))


# ------------------------------------------------------------------------------------------------- checks
def _check_embedder(embedder: object) -> None:
    check_model(embedder, Embedder, name="embedder")
    if embedder.module.training:
        raise invalid("embedder", "an embedder whose module is in training mode (module.training is True)",
                      "eval mode: call embedder.module.eval() first")


def _layer_name(embedder: Embedder, layer: object) -> str:
    """The dotted name of ``layer`` (a name or a submodule) in the embedder's module."""
    found = find_layer(embedder.module, layer, name="layer")
    return next(name for name, module in embedder.module.named_modules() if module is found)


def _layer_output(embedder: Embedder, record, pixels: torch.Tensor, layer: str) -> torch.Tensor:
    """Run the embedder on a pixel batch and return the recorded layer output ``[n, C, h, w]``."""
    from ..concepts.features import spatial_activation

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
        raise invalid("labels", f"shape {list(labels.shape)}",
                      f"[{count}, {len(attributes)}]: one row per image, one column per attribute")
    if labels.dtype != torch.bool:
        if labels.is_complex() or not bool(((labels == 0) | (labels == 1)).all()):
            raise invalid("labels", describe(labels) + " with values other than 0 and 1 (or NaN)",
                          "bools or 0/1 values")
        labels = labels != 0
    return attributes, labels.cpu()


def _word_list(values: object, name: str, attributes: list[str], default: list[str]) -> list[str]:
    if values is None:
        return default
    if isinstance(values, str) or not isinstance(values, Sequence) or len(values) != len(attributes) \
            or any(not isinstance(v, str) for v in values):
        raise invalid(name, values, f"a list of {len(attributes)} strings, one per attribute")
    return list(values)


def _saliency_cache(saliency: object, count: int, mask_size: int, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cells [N, J, m²], valid [N, J])`` from the ``saliency`` argument (see :func:`train_attributes`)."""
    if saliency is None or limit == 0:
        return torch.zeros(count, 0, mask_size ** 2), torch.zeros(count, 0, dtype=torch.bool)
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
    cells = []
    for index, entry in enumerate(entries):
        name = f"saliency[{index}]"
        if entry is None:
            cells.append(None)
            continue
        entry = getattr(entry, "saliency", entry)          # a SaliencyResult of the image's maps
        if not isinstance(entry, torch.Tensor) or not entry.is_floating_point() or entry.ndim not in (2, 3, 4) \
                or (entry.ndim == 4 and entry.shape[1] != 1) or entry.numel() == 0:
            raise invalid(name, entry, "None or float maps [H, W], [J, H, W] or [J, 1, H, W]")
        if not bool(torch.isfinite(entry).all()):
            raise invalid(name, "maps with NaN or infinite values", "finite saliency values")
        maps = entry.reshape(-1, *entry.shape[-2:])[:limit]
        cells.append(saliency_cells(maps.detach().cpu(), mask_size))
    most = max((c.shape[0] for c in cells if c is not None), default=0)
    stacked = torch.full((count, most, mask_size ** 2), 1.0 / mask_size ** 2)
    valid = torch.zeros(count, most, dtype=torch.bool)
    for index, c in enumerate(cells):
        if c is not None:
            stacked[index, :c.shape[0]] = c
            valid[index, :c.shape[0]] = True
    return stacked, valid


# ---------------------------------------------------------------------------------------------- training
def _extract(embedder: Embedder, images: object, count: int, layer: str, mask_size: int, progress
             ) -> tuple[torch.Tensor, list[int]]:
    """The layer read once over the images, pooled to m×m: ``[N, C, m, m]`` float32 on the CPU, and [C, h, w]."""
    from ..concepts.features import read_images

    pooled, shape = [], None
    batch_size = embedder.max_batch
    with embedder.lock, torch.no_grad(), embedder.frozen(), record_layer(embedder.module, layer) as record:
        for start in range(0, count, batch_size):
            progress.check()
            stop = min(start + batch_size, count)
            activation = _layer_output(embedder, record, read_images(embedder, images, start, stop), layer)
            shape = list(activation.shape[1:])
            pooled.append(F.adaptive_avg_pool2d(activation.float(), mask_size).cpu())
            progress.report(stop / count, f"features {stop}/{count}")
    features = torch.cat(pooled)
    if not bool(torch.isfinite(features).all()):
        raise invalid("images", "images whose layer activations contain NaN or inf", "finite activations")
    return features, shape


def _evaluate(head: AttributeHead, features: torch.Tensor, labels: torch.Tensor, cells: torch.Tensor,
              valid: torch.Tensor, loss: str) -> dict:
    """mAP and saliency agreement of ``head`` on some images (all on one device)."""
    from ..text.metrics import retrieval_map

    result: dict = {"images": int(features.shape[0]), "map": None, "chance": None, "saliency_agreement": None,
                    "saliency_agreement_flat": None, "saliency_maps": int(valid.sum())}
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
def train_attributes(embedder: Embedder, images: object, labels: object, attributes: Sequence[str], *,
                     saliency: object = None, layer: str | None = None, seed: int = 0, progress=True,
                     phrases: Sequence[str] | None = None, parts: Sequence[str] | None = None,
                     **params) -> AttributeModel:
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
    from ..concepts.features import default_layer_on, image_count, image_source

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
    parts = _word_list(parts, "parts", attributes,
                       [a.split("=")[0].split(".")[0] if "." in a.split("=")[0] else "" for a in attributes])
    m = settings["mask_size"]
    cells, valid = _saliency_cache(saliency, count, m, settings["saliency_maps"])

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(count, generator=generator)
    held = round(settings["holdout"] * count)
    holdout, training = order[:held].sort().values, order[held:].sort().values
    if not bool(labels[training].any()):
        raise invalid("labels", "no training image with a true attribute",
                      "at least one image (outside the held-out fraction) with an attribute")

    timings: dict[str, float] = {}
    started = time.perf_counter()
    features, layer_shape = _extract(embedder, images, count, layer, m, progress.part(0.0, 0.2))
    timings["extract"] = time.perf_counter() - started

    device = embedder.device
    features, labels_d = features.to(device), labels.to(device)
    cells, valid = cells.to(device), valid.to(device)
    head = AttributeHead(layer_shape[0], len(attributes), m, seed=int(torch.randint(0, 2**31 - 1, (1,),
                                                                                        generator=generator)))
    head = head.to(device).train()
    optimiser = torch.optim.Adam(head.parameters(), lr=settings["lr"])
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=settings["lr_decay"])
    train_rows = training.to(device)
    usable = train_rows[labels_d[train_rows].any(1)]         # rows without a true attribute have no y_norm
    history: list[dict] = []
    started = time.perf_counter()
    fit_progress = progress.part(0.2, 1.0)
    for epoch in range(settings["epochs"]):
        sums = torch.zeros(3, device=device)
        steps = 0
        shuffled = usable[torch.randperm(len(usable), generator=generator).to(device)]
        for lo in range(0, len(shuffled), settings["batch_size"]):
            progress.check()
            rows = shuffled[lo:lo + settings["batch_size"]]
            logits, maps = head(features[rows])
            loss, terms = attribute_loss(logits, maps, labels_d[rows], cells[rows], valid[rows],
                                         settings["lambda_h"], settings["loss"])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            sums += torch.stack([terms["classification"], terms["saliency"], loss.detach()])
            steps += 1
        schedule.step()
        means = (sums / steps).tolist()
        history.append({"epoch": epoch + 1, "classification": round(means[0], 7), "saliency": round(means[1], 6),
                        "loss": round(means[2], 7)})
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
        method="sane_attributes", params=settings, seed=seed, timings=timings, attributes=attributes,
        phrases=phrases, parts=parts, weights=nn.utils.parameters_to_vector(head.parameters()).detach().cpu(),
        layer=layer, layer_shape=layer_shape, mask_size=m,
        embedder_name=embedder.name, calibration=calibration, metrics=metrics, history=history,
        holdout_indices=holdout)
    model._head = head.cpu()
    model.embedder = embedder
    return model


# ------------------------------------------------------------------------------------------------ the toy
def toy_attribute_labels(samples: Sequence) -> tuple[list[str], torch.Tensor]:
    """The toy world's worded attributes and which samples show them.

    Ids are ``"part.attribute=value"`` for every value that captions have words for
    (:func:`~xwidgets.toy.condition_phrase` is not None): a crest's presence and the "plain" patterns are left
    out. A crest's colour counts only when the sample has a crest (an absent crest shows no colour).

    Args:
        samples: toy samples (a :class:`~xwidgets.toy.ToyDataset` or a sequence of ``ToySample``).

    Returns:
        ``(ids, labels)``: the A ids in :data:`~xwidgets.toy.ATTRIBUTES` order, and ``[N, A]`` bool labels.
    """
    from ..toy import ATTRIBUTES, condition_phrase

    samples = getattr(samples, "samples", samples)
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Sequence) or not samples \
            or any(not isinstance(getattr(s, "attributes", None), dict) for s in samples):
        raise invalid("samples", type(samples).__name__, "a non-empty sequence of toy samples (xw.toy.dataset)")
    ids = [f"{key}={value}" for key, values in ATTRIBUTES.items() for value in values
           if condition_phrase(key, value) is not None]
    position = {a: i for i, a in enumerate(ids)}
    labels = torch.zeros(len(samples), len(ids), dtype=torch.bool)
    for n, sample in enumerate(samples):
        for key, value in sample.attributes.items():
            if key == "crest.color" and sample.attributes.get("crest.shape") != "present":
                continue
            index = position.get(f"{key}={value}")
            if index is not None:
                labels[n, index] = True
    return ids, labels


def toy_attribute_groups(ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """The exclusive groups of toy attribute ids (``"part.attribute=value"``): an id's group is its
    ``"part.attribute"``. Open groups: those with a value that has no words (a "plain" pattern), and the crest's
    colour (a bird may have no crest). Returns ``(groups, open_groups)`` for :class:`AttributeModel`."""
    from ..toy import ATTRIBUTES, condition_phrase

    groups = [a.split("=", 1)[0] for a in ids]
    open_groups = sorted({g for g in groups if g == "crest.color" or g in ATTRIBUTES
                          and any(condition_phrase(g, v) is None for v in ATTRIBUTES[g])})
    return groups, open_groups


def toy_attribute_model() -> AttributeModel:
    """The shipped attribute model of the toy embedder (``xwidgets/similarity/weights/toy_attributes.xwr``),
    with :func:`xw.toy.embedder() <xwidgets.toy.embedder>` attached so :meth:`~AttributeModel.predict` needs
    only images, and its exclusive groups (:func:`toy_attribute_groups`; the shipped file predates them).
    Reproduce it with ``python -m xwidgets.similarity.attributes``."""
    from ..toy import embedder

    model = AttributeModel.load(TOY_WEIGHTS)
    if not model.groups:
        model.groups, model.open_groups = toy_attribute_groups(model.attributes)
    model.embedder = embedder()
    return model


def _toy_partners(labels: torch.Tensor, chosen: torch.Tensor, partners: int, generator: torch.Generator
                  ) -> list[list[int]]:
    """For each chosen image, ``partners`` other images each sharing a randomly drawn attribute of it."""
    result = []
    for index in chosen.tolist():
        own = labels[index].nonzero()[:, 0]
        picks: list[int] = []
        for _ in range(partners):
            attribute = own[torch.randint(len(own), (1,), generator=generator)].item()
            pool = labels[:, attribute].nonzero()[:, 0]
            pool = pool[(pool != index) & ~torch.isin(pool, torch.tensor(picks, dtype=torch.long))]
            if len(pool):
                picks.append(int(pool[torch.randint(len(pool), (1,), generator=generator)]))
        result.append(picks)
    return result


#: The toy model's training settings (see the module docstring for the measured reasons).
TOY_TRAINING = {"loss": "bce", "lambda_h": 0.0, "lr": 5e-3, "lr_decay": 0.95, "epochs": 60, "batch_size": 128}


@shows_progress("train_toy_attribute_model")
def train_toy_attribute_model(path: str | Path | None = TOY_WEIGHTS, n: int = 3000, seed: int = 3, *,
                              saliency_images: int = 0, partners: int = 2, masks: int = 400, progress=True,
                              **params) -> AttributeModel:
    """Train the toy embedder's attribute model the way the shipped file was made, and write it to ``path``.

    Steps: render ``n`` toy images (``xw.toy.dataset(n, seed)``; the tests use other seeds); label them with
    :func:`toy_attribute_labels`; train the head (:func:`train_attributes`) with :data:`TOY_TRAINING` over the
    defaults. With ``saliency_images`` > 0 (SANE's recipe; pass ``lambda_h`` too), that many images, drawn at
    random, first get RISE similarity saliency maps (fixed reference, grid 8, frequency normalisation, ``masks``
    masks) against ``partners`` partners, each sharing one attribute of the image drawn at random.

    Args:
        path: where to write the model (default the shipped file); None writes nothing.
        n, seed: the number of images and the dataset's seed.
        saliency_images, partners, masks: how many images get saliency maps, against how many partners, with how
            many RISE masks (0 images: no saliency maps, as shipped).
        progress: a :class:`~xwidgets.core.runner.Progress` or ``callback(fraction, message)``.
        params: :data:`ATTRIBUTE_PARAMS` that replace :data:`TOY_TRAINING`'s.
    """
    from ..toy import condition_phrase, dataset, embedder

    progress = as_progress(progress)
    started = time.perf_counter()
    model = embedder()
    data = dataset(n, seed=seed)
    ids, labels = toy_attribute_labels(data.samples)
    images = data.images()
    saliency, pairs = None, 0
    if saliency_images > 0:
        saliency, pairs = _toy_saliency(model, images, labels, seed, saliency_images, partners, masks,
                                        progress.part(0.0, 0.85))
    phrases = [condition_phrase(*a.split("=")) for a in ids]
    saliency_seconds = time.perf_counter() - started
    trained = train_attributes(model, images, labels, ids, saliency=saliency, seed=seed, phrases=phrases,
                               progress=progress.part(0.85 if saliency_images > 0 else 0.0, 1.0),
                               **{**TOY_TRAINING, **params})
    trained.groups, trained.open_groups = toy_attribute_groups(ids)
    trained.params = {**trained.params, "toy": {"n": n, "dataset_seed": seed, "saliency_images": saliency_images,
                                                "partners": partners, "saliency_maps_total": pairs,
                                                "rise_masks": masks, "rise_grid": 8}}
    trained.timings = {"render_and_saliency": round(saliency_seconds, 2), **trained.timings,
                       "total": round(time.perf_counter() - started, 2)}
    if path is not None:
        trained.save(path)
    return trained


def _toy_saliency(model: Embedder, images: torch.Tensor, labels: torch.Tensor, seed: int, count: int, partners: int,
                  masks: int, progress) -> tuple[list, int]:
    """RISE similarity maps of ``count`` random images against partners sharing an attribute: a list of N entries
    (None or ``[J, H, W]``) for :func:`train_attributes`, and the number of maps."""
    from ..core.targets import similarity_to
    from ..heatmaps import rise

    n = len(images)
    generator = torch.Generator().manual_seed(seed + 1)      # not the stream train_attributes splits with
    chosen = torch.randperm(n, generator=generator)[:min(count, n)]
    pairs = [(int(i), p) for i, picks in zip(chosen.tolist(), _toy_partners(labels, chosen, partners, generator))
             for p in picks]
    maps: list[list[torch.Tensor]] = [[] for _ in range(n)]
    chunk = 32
    for lo in range(0, len(pairs), chunk):
        batch = pairs[lo:lo + chunk]
        queries = images[[q for q, _ in batch]]
        references = images[[r for _, r in batch]]
        result = rise(model, queries, target=similarity_to(model, references), seed=seed + lo, masks=masks,
                      grid=8, normalise_by="frequency", progress=progress.part(lo / len(pairs),
                                                                               (lo + len(batch)) / len(pairs)))
        for (query, _), saliency in zip(batch, result.saliency):
            maps[query].append(saliency[0])
    return [torch.stack(m) if m else None for m in maps], len(pairs)


if __name__ == "__main__":
    import argparse

    from xwidgets.similarity.attributes import TOY_WEIGHTS as _path, train_toy_attribute_model as _train

    parser = argparse.ArgumentParser(description="Train the toy embedder's attribute model and write it.")
    parser.add_argument("--out", default=str(_path), help="where to write the model (default the shipped file)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's choice)")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    last = [-1.0]

    def _report(fraction: float, message: str) -> None:
        if fraction - last[0] >= 0.05 or fraction == 1.0:
            last[0] = fraction
            print(f"{fraction:5.0%} {message}", flush=True)

    trained = _train(arguments.out, progress=_report)
    print("wrote", arguments.out, f"({Path(arguments.out).stat().st_size / 1e3:.0f} kB)")
    print("timings", trained.timings)
    print("metrics", trained.metrics)
