"""Filter-level attribute distributions: fitting them from captions, and explaining decisions in words.

After Guo, Anderson, Pearson and Farrell, "Fine-grained textual summarization" / "Semantic Network Interpretation"
(arXiv 1805.08969; ``docs/text.md``). No official code exists; this module is the estimator written down.

**Fitting** (:func:`fit`, or ``xw.fit(model, data, target=None, *, method="text", captions=...)``; one batched pass
over captioned images, no gradients). For a convolutional layer with
filters f and an image x, let r_f(x) be the filter's spatial mean response. Over the N described images
(those whose captions name a vocabulary attribute):

* the image's caption distribution p(a|x) (:func:`~xwidgets.text.caption_distribution`);
* the filter's *excess* response e_f(x) = max(r_f(x) − μ_f, 0), with μ_f the filter's mean over the images.
  Subtracting μ_f is the per-filter normalisation that keeps non-selective filters (which fire on every bird)
  from spreading the dataset's attribute frequencies over everything;
* the latent image given the filter, p(x|f) = e_f(x) / Z_f with Z_f = Σ_x' e_f(x') (uniform p(x));
* the **filter-level attribute distribution**, marginalising the latent image::

      p(a|f) = Σ_x p(a|x) · p(x|f)

  A filter with Z_f = 0 (dead, or constant) learns nothing: p(a|f) = p(a), the prior
  p(a) = (1/N) Σ_x p(a|x), and it is marked ``alive = False``.

**Image level, through the network** (retrieval). For any image, with uniform p(f) over live filters, Bayes gives
p(f|x) ∝ p(x|f) = e_f(x) / Z_f, and::

      p̂(a|x) = Σ_f p(a|f) · p(f|x)

Images are ranked for an attribute by p̂(a|x) (:meth:`TextModel.attribute_scores`).

**Decision level** (:meth:`TextModel.explain`). For image x and class y, filter f contributes
c_f = Σ_ij A_fij · ∂s_y/∂A_fij to the class logit s_y (one backward pass). For a network that ends in a global
average pool and a linear layer this is exactly r_f(x) · w_yf, the activation times the class weight. Then::

      p(f|x,y) = max(c_f, 0) / Σ_f' max(c_f', 0)
      p(a|x,y) = Σ_f p(a|f) · p(f|x,y)

Attributes are ranked by their lift p(a|x,y) / p(a) (``rank="lift"``, the default: it discounts attributes that
are merely frequent in the captions) or by p(a|x,y) (``rank="probability"``).

**Sentence**: only attributes the decision supports are named. An attribute's evidence is how much the decision
raises its probability, e(a) = p(a|x,y) − p(a), and an attribute is *supported* when
e(a) ≥ ``min_evidence`` · max_a' e(a') (:func:`supported_attributes`; default 0.4, so the strongest attribute
always is). Walking down the ranking of the supported attributes, an attribute of a new part becomes a new
phrase until ``words`` parts are named; a supported attribute of a part already named joins that phrase, wherever it
ranks, when its adjective is of another kind (a pattern beside a colour, a shape beside a colour: "a long red
beak", even with ``words`` = 1). So a part is never repeated, a phrase names every supported adjective of its part
(one per kind), and the sentence stops when the evidence runs out: "This is a spotwing because it has spotted blue
wings." rather than "... spotted blue wings, a red head and green eyes." for a bird without either.

*Departure (the stopping rule).* Naming a fixed ``words`` parts by lift named attributes the image does not have
(lift amplifies rare attributes whose prior is small); the evidence e(a) is an absolute gain such attributes cannot
reach, so with ``min_evidence`` = 0.4 far more of the named attributes are true of the image, with the species
rule's attributes all still named. Weighting by the image's own p̂(a|x) did not help. Measured on the toy world in
``docs/text.md#departures-and-choices``.

**Grounding**: attribute a's map on image x sums the filters' activation maps, each divided by the filter's mean
response s_f, weighted by how much more likely a is under the filter than a priori::

      M_a(x) = Σ_f max(p(a|f) − p(a), 0) · A_f(x) / s_f

A phrase of several attributes ("a long red beak") is grounded by the mean of its attributes' maps, each
rescaled to [0, 1] (:meth:`TextExplanation.map`), so each of its words is grounded.

**Top filters behind a word**: each filter's share of p(a|x,y), p(a|f) · p(f|x,y) / p(a|x,y).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..concepts.features import Features, extract_features
from ..core.deprecation import warn_deprecated
from ..core.errors import invalid
from ..core.hooks import find_layer, record_layer
from ..core.layers import default_layer_on, layer_map, spatial_activation
from ..core.methods import register
from ..core.models import Classifier, check_model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import as_progress, shows_progress
from ..core.scoring import microbatched
from ..core.sources import image_count, image_source, read_images, stored_images
from ..core.targets import class_index
from .captions import CaptionedImages
from .vocabulary import BIRD_LEXICON, Lexicon, Vocabulary, build_vocabulary, caption_distribution, check_captions

__all__ = ["TEXT_PARAMS", "TextModel", "TextExplanation", "fit", "compose_sentence", "supported_attributes"]

TEXT_PARAMS = ParamSet(
    "text",
    Param(
        "min_images",
        "int",
        5,
        "an attribute enters the vocabulary when the captions of this many images name it",
        low=1,
        high=100000,
    ),
    Param("words", "int", 3, "parts named in the sentence", low=1, high=8),
    Param(
        "rank",
        "choice",
        "lift",
        "rank attributes by lift p(a|x,y)/p(a) or by probability p(a|x,y)",
        choices=("lift", "probability"),
    ),
    Param(
        "min_evidence",
        "float",
        0.4,
        "name an attribute only while its evidence p(a|x,y) − p(a) is at least "
        "this fraction of the strongest attribute's (0: every attribute above its prior)",
        low=0.0,
        high=1.0,
        step=0.05,
    ),
)


@dataclasses.dataclass(kw_only=True)
class TextModel(Result):
    """A fitted filter-level attribute model of one layer (see the module docstring for the equations).

    Attributes:
        attributes: the vocabulary's attribute ids (``"red eye"``), A of them.
        image_counts: for each attribute, the number of fitting images whose captions name it.
        lexicon: the lexicon's words (``adjectives``, ``parts``, ``plural_parts``, ``synonyms``).
        attribute_given_filter: ``[C, A]`` p(a|f); each row sums to 1.
        prior: ``[A]`` p(a), the mean caption distribution.
        filter_mean: ``[C]`` μ_f, each filter's mean response over the described images.
        filter_mass: ``[C]`` Z_f = Σ_x max(r_f(x) − μ_f, 0).
        filter_scale: ``[C]`` s_f, each filter's mean absolute response (normalises the grounding maps).
        alive: ``[C]`` bool, filters with Z_f > 0.
        layer, layer_shape: the layer and its ``[C, h, w]`` output for one image.
        model_name, labels: the classifier's name and class names.
        images, described: images seen, and those whose captions named a vocabulary attribute.
        target: the class :meth:`~TextModel.explain` explains by default (None: each image's top-1 class).
    """

    attributes: list = dataclasses.field(default_factory=list)
    image_counts: list = dataclasses.field(default_factory=list)
    lexicon: dict = dataclasses.field(default_factory=dict)
    attribute_given_filter: torch.Tensor
    prior: torch.Tensor
    filter_mean: torch.Tensor
    filter_mass: torch.Tensor
    filter_scale: torch.Tensor
    alive: torch.Tensor
    layer: str = ""
    layer_shape: list = dataclasses.field(default_factory=list)
    model_name: str = ""
    labels: list | None = None
    images: int = 0
    described: int = 0
    target: int | None = None

    def __post_init__(self):
        self.model: Classifier | None = None
        self.features: Features | None = None

    @property
    def vocabulary(self) -> Vocabulary:
        """The attribute vocabulary, with its lexicon (renders attributes as phrases)."""
        lexicon = Lexicon(
            self.lexicon["adjectives"],
            self.lexicon["parts"],
            frozenset(self.lexicon["plural_parts"]),
            self.lexicon.get("synonyms", {}),
        )
        return Vocabulary(tuple(self.attributes), tuple(self.image_counts), lexicon)

    # ------------------------------------------------------------------------------------- image level
    def filter_posterior(self, responses: torch.Tensor) -> torch.Tensor:
        """``[N, C]`` p(f|x) from pooled responses ``[N, C]``: Bayes with uniform p(f) over live filters.
        An image below every filter's mean gets the uniform distribution over live filters."""
        excess = (responses.float() - self.filter_mean).clamp_min(0)
        likelihood = torch.where(self.alive, excess / self.filter_mass.clamp_min(1e-12), torch.zeros_like(excess))
        total = likelihood.sum(1, keepdim=True)
        uniform = self.alive.float().expand_as(likelihood) / self.alive.float().sum().clamp_min(1)
        return torch.where(total > 0, likelihood / total.clamp_min(1e-30), uniform)

    @shows_progress("text.attribute_scores")
    def attribute_scores(
        self,
        images: object = None,
        model: Classifier | None = None,
        *,
        features: Features | None = None,
        batch_size: int | None = None,
        progress=True,
    ) -> torch.Tensor:
        """``[N, A]`` p̂(a|x) = Σ_f p(a|f) p(f|x), computed through the network, for ranking images.

        Pass ``images`` (one batched pass) or ``features`` read from this layer by
        :func:`~xwidgets.concepts.extract_features`.
        """
        if features is None:
            if images is None:
                raise invalid("images", None, "images to score, or features=...")
            features = extract_features(
                self._model_arg(model), images, self.layer, batch_size=batch_size, progress=progress
            )
        self._check_features(features)
        return self.filter_posterior(features.features) @ self.attribute_given_filter

    def rank_images(self, attribute: int | str, scores: torch.Tensor, top: int | None = None) -> torch.Tensor:
        """Image indices ``[top]`` sorted by p̂(a|x) for ``attribute`` (an id, phrase or index), best first."""
        column = self._attribute_index(attribute)
        if not isinstance(scores, torch.Tensor) or scores.ndim != 2 or scores.shape[1] != len(self.attributes):
            raise invalid("scores", scores, f"a [N, {len(self.attributes)}] tensor from attribute_scores()")
        order = scores[:, column].argsort(descending=True, stable=True)
        if top is not None:
            if isinstance(top, bool) or not isinstance(top, int) or top < 1:
                raise invalid("top", top, "a positive int or None")
            order = order[:top]
        return order

    # ---------------------------------------------------------------------------------- decision level
    @shows_progress("text.explain")
    def explain(
        self,
        images: object,
        model: Classifier | None = None,
        *,
        target: object = None,
        batch_size: int | None = None,
        progress=True,
        **params,
    ) -> TextExplanation:
        """Explain the model's decision on each image in words, with grounding maps for every attribute.

        Args:
            images: one image, a ``[B, 3, H, W]`` tensor or a sequence of single images.
            model: the classifier the model was fitted on; default the one :func:`fit` attached (pass it after
                a load).
            target: the class to explain: None (the class :func:`fit` was given, else each image's top-1), an
                index, a label, or one per image. An image whose top-1 class is another one is told so ("This is
                not a goldcap but an ember thrush; of a goldcap it has red eyes.").
            batch_size: images per forward and backward pass (default the model's ``max_batch``).
            progress: True (a progress bar after a second), False, a Progress or ``callback(fraction, message)``.
            words, rank, min_evidence: see :data:`TEXT_PARAMS`.

        Cost: one forward and one backward pass per batch; the rest are matrix products.
        """
        model = self._model_arg(model)
        target = self.target if target is None else target
        settings = TEXT_PARAMS.resolve({**params})
        images = image_source(images)
        count = image_count(images)
        batch_size = model.max_batch if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise invalid("batch_size", repr(batch_size), "a positive int, or None for the model's max_batch")
        started = time.perf_counter()
        names = ("images", "classes", "predicted", "logits", "contributions", "responses", "activations")
        with (
            model.lock,
            model.frozen(),
            torch.enable_grad(),
            record_layer(model.module, self.layer, gradients=True) as record,
        ):

            def work(start: int, stop: int) -> tuple[torch.Tensor, ...]:  # backs off on out-of-memory
                progress.check()
                pixels = read_images(model, images, start, stop)
                inputs = model.normalize(pixels).detach().requires_grad_(True)
                output = model.forward(inputs)
                activation = spatial_activation(record, self.layer, pixels)
                self._check_channels(activation.shape[1])
                if not bool(torch.isfinite(output).all()):
                    raise invalid(
                        "images", "images for which the model outputs NaN or infinity", "finite images in [0, 1]"
                    )
                classes = _classes(target, model, output, start, stop, count)
                scores = output.gather(1, classes[:, None].to(output.device))[:, 0]
                scores.sum().backward()
                if record.gradient is None:
                    raise invalid(
                        "layer",
                        f"{self.layer!r}, which is not on the path to the class score",
                        "a convolutional layer the logits depend on",
                    )
                gradient = layer_map(record.gradient, (pixels.shape[-2], pixels.shape[-1]), layer=self.layer)
                contribution = (activation * gradient).sum(dim=(2, 3))
                record.activation, record.gradient = None, None
                progress.report(stop / count, f"images {stop}/{count}")
                return (
                    pixels.detach().float().cpu(),
                    classes.cpu(),
                    output.detach().argmax(1).cpu(),
                    scores.detach().float().cpu(),
                    contribution.detach().float().cpu(),
                    activation.detach().float().mean(dim=(2, 3)).cpu(),
                    activation.detach().float().cpu(),
                )

            joined = dict(zip(names, microbatched(model, count, work, batch=batch_size)))
        explanation = self._explain_from(joined, settings)
        explanation.timings = {"explain": time.perf_counter() - started}
        return explanation

    def _explain_from(self, state: dict, settings: dict) -> TextExplanation:
        contributions, activations = state["contributions"], state["activations"]
        positive = contributions.clamp_min(0)
        total = positive.sum(1, keepdim=True)
        weights = torch.where(total > 0, positive / total.clamp_min(1e-30), self.filter_posterior(state["responses"]))
        probabilities = weights @ self.attribute_given_filter
        lift = probabilities / self.prior.clamp_min(1e-12)
        grounding_weights = (self.attribute_given_filter - self.prior).clamp_min(0)  # [C, A]
        scaled = activations / self.filter_scale.clamp_min(1e-12)[None, :, None, None]
        grounding = torch.einsum("ca,bchw->bahw", grounding_weights, scaled)
        vocabulary = self.vocabulary
        names = [self._class_name(int(c)) for c in state["classes"]]
        sentences, chosen, phrases = [], [], []
        evidence = probabilities - self.prior
        for b in range(len(names)):
            key = lift[b] if settings["rank"] == "lift" else probabilities[b]
            order = key.argsort(descending=True, stable=True).tolist()
            order = supported_attributes(order, evidence[b], settings["min_evidence"])
            predicted = int(state["predicted"][b])
            sentence, groups, named = compose_sentence(
                order,
                vocabulary,
                names[b],
                settings["words"],
                predicted=None if predicted == int(state["classes"][b]) else self._class_name(predicted),
            )
            sentences.append(sentence)
            chosen.append(groups)
            phrases.append(named)
        return TextExplanation(
            method="text",
            params={"layer": self.layer, **settings},
            images=state["images"],
            classes=state["classes"],
            class_names=names,
            logits=state["logits"],
            attribute_probabilities=probabilities,
            lift=lift,
            filter_weights=weights,
            contributions=contributions,
            activations=activations,
            grounding=grounding,
            sentences=sentences,
            sentence_attributes=chosen,
            sentence_phrases=phrases,
            attributes=list(self.attributes),
            phrases=[vocabulary.phrase(a) for a in self.attributes],
            prior=self.prior.clone(),
            attribute_given_filter=self.attribute_given_filter.clone(),
        )

    # ---------------------------------------------------------------------------------------- checks
    def _model_arg(self, model: Classifier | None) -> Classifier:
        model = model if model is not None else self.model
        if model is None:
            raise invalid(
                "model",
                None,
                f"the classifier this text model was fitted on ({self.model_name}); a "
                "loaded model has none attached, so pass it",
            )
        check_model(model, Classifier)
        find_layer(model.module, self.layer)
        return model

    def _check_channels(self, channels: int) -> None:
        if channels != self.layer_shape[0]:
            raise invalid(
                "model",
                f"a layer {self.layer!r} with {channels} channels",
                f"the model the text model was fitted on ({self.model_name}, {self.layer_shape[0]} channels)",
            )

    def _check_features(self, features: Features) -> None:
        if not isinstance(features, Features):
            raise invalid("features", type(features).__name__, "Features from xw.concepts.extract_features")
        if features.layer != self.layer:
            raise invalid("features", f"features of layer {features.layer!r}", f"features of layer {self.layer!r}")
        self._check_channels(int(features.features.shape[1]))

    def _attribute_index(self, attribute: int | str) -> int:
        if isinstance(attribute, int) and not isinstance(attribute, bool):
            if not 0 <= attribute < len(self.attributes):
                raise invalid("attribute", attribute, f"an attribute index in 0..{len(self.attributes) - 1}")
            return attribute
        return self.vocabulary.index(attribute)

    def _class_name(self, index: int) -> str:
        return str(self.labels[index]) if self.labels and index < len(self.labels) else f"class {index}"


def _classes(
    target: object, model: Classifier, output: torch.Tensor, start: int, stop: int, count: int
) -> torch.Tensor:
    """The class index per image of this batch: top-1, one index or label for all, or one per image."""
    classes, labels = output.shape[1], model.labels
    if target is None:
        return output.detach().argmax(1)
    if isinstance(target, (str, int, np.integer)) and not isinstance(target, bool):
        return torch.full((stop - start,), class_index(target, labels, classes), dtype=torch.long)
    if isinstance(target, torch.Tensor):
        target = target.tolist()
    if isinstance(target, (list, tuple)):
        if len(target) != count:
            raise invalid("target", f"{len(target)} targets", f"one target per image ({count})")
        return torch.tensor(
            [class_index(target[i], labels, classes, name=f"target[{i}]") for i in range(start, stop)], dtype=torch.long
        )
    raise invalid("target", type(target).__name__, "None, a class index or label, or one per image")


def supported_attributes(order: list[int], evidence: torch.Tensor, min_evidence: float) -> list[int]:
    """The attributes of ``order`` (a ranking, best first) that the decision supports, in the same order.

    ``evidence`` ``[A]`` is p(a|x,y) − p(a); an attribute is kept when its evidence is at least ``min_evidence``
    (in [0, 1]) times the largest. The attribute of largest evidence always is, so a sentence names one part.
    """
    floor = min_evidence * float(evidence.max().clamp_min(0))
    return [a for a in order if float(evidence[a]) >= floor]


def compose_sentence(
    order: list[int], vocabulary: Vocabulary, class_name: str, words: int, *, predicted: str | None = None
) -> tuple[str, list, list]:
    """The sentence for a ranking of attribute indices (best first) explaining ``class_name``; ``predicted``, the
    network's own class when it is another one, turns "This is a X because it has ..." into "This is not a X but
    a Y; of a X it has ...".

    ``order`` holds the supported attributes only (:func:`supported_attributes`): the first ``words`` parts in it
    are named, and every later attribute of a named part joins its phrase when no adjective of its kind is there
    yet, however low it ranks (a window on the rank dropped "long" from "a long red beak" with ``words`` = 1).

    Returns ``(sentence, groups, phrases)``: per part in the sentence, its attribute ids and its phrase.
    """
    groups: dict[str, list[str]] = {}
    kinds = vocabulary.lexicon.adjectives
    for index in order:
        attribute = vocabulary.attributes[index]
        part, adjective = vocabulary.part(attribute), vocabulary.adjective(attribute)
        if part not in groups:
            if len(groups) < words:
                groups[part] = [attribute]
            continue
        used = {kinds.get(vocabulary.adjective(a)) for a in groups[part]}
        if kinds.get(adjective) not in used:
            groups[part].append(attribute)
    phrases = [
        vocabulary.lexicon.render(part, [vocabulary.adjective(a) for a in attrs]) for part, attrs in groups.items()
    ]
    named = f"{_article(class_name)} {class_name}"
    if not phrases:  # no attribute the captions taught has evidence on this image (a text model fitted on few)
        verdict = f"This is {named}"
        if predicted is not None:
            verdict = f"This is not {named} but {_article(predicted)} {predicted}"
        return f"{verdict}; no part the captions name explains it.", [], []
    listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    sentence = (
        f"This is {named} because it has {listed}."
        if predicted is None
        else f"This is not {named} but {_article(predicted)} {predicted}; of {named} it has {listed}."
    )
    return sentence, [list(a) for a in groups.values()], phrases


def _article(name: str) -> str:
    return "an" if name[:1].lower() in "aeiou" else "a"


@dataclasses.dataclass(kw_only=True)
class TextExplanation(Result):
    """Textual explanations of B decisions (see :meth:`TextModel.explain`).

    Attributes:
        images: ``[B, 3, H, W]`` pixel space at the model's input size.
        classes, class_names, logits: the explained class per image, its name, and its logit.
        attribute_probabilities: ``[B, A]`` p(a|x,y).
        lift: ``[B, A]`` p(a|x,y) / p(a).
        filter_weights: ``[B, C]`` p(f|x,y); contributions ``[B, C]`` c_f, each filter's share of the logit.
        activations: ``[B, C, h, w]`` the layer's output; grounding ``[B, A, h, w]`` M_a(x) at layer resolution.
        sentences: one sentence per image; sentence_attributes: per image, per named part, its attribute ids;
            sentence_phrases: per image, the phrase of each named part ("spotted blue wings").
        attributes, phrases: the vocabulary's ids and how they read.
        prior, attribute_given_filter: p(a) ``[A]`` and p(a|f) ``[C, A]`` of the model (for :meth:`top_filters`).
    """

    images: torch.Tensor
    classes: torch.Tensor
    class_names: list = dataclasses.field(default_factory=list)
    logits: torch.Tensor
    attribute_probabilities: torch.Tensor
    lift: torch.Tensor
    filter_weights: torch.Tensor
    contributions: torch.Tensor
    activations: torch.Tensor
    grounding: torch.Tensor
    sentences: list = dataclasses.field(default_factory=list)
    sentence_attributes: list = dataclasses.field(default_factory=list)
    sentence_phrases: list = dataclasses.field(default_factory=list)
    attributes: list = dataclasses.field(default_factory=list)
    phrases: list = dataclasses.field(default_factory=list)
    prior: torch.Tensor
    attribute_given_filter: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def attribute_index(self, attribute: int | str) -> int:
        """The index of an attribute given as index, id (``"red eye"``) or phrase (``"red eyes"``)."""
        if isinstance(attribute, int) and not isinstance(attribute, bool):
            if 0 <= attribute < len(self.attributes):
                return attribute
        elif isinstance(attribute, str):
            if attribute in self.attributes:
                return self.attributes.index(attribute)
            if attribute in self.phrases:
                return self.phrases.index(attribute)
        shown = ", ".join(self.attributes[:12]) + (" …" if len(self.attributes) > 12 else "")
        raise invalid("attribute", repr(attribute), f"an attribute index, id or phrase ({shown})")

    def _image(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self):
            raise invalid("index", index, f"an image index in 0..{len(self) - 1}")
        return index

    def map(self, attribute: int | str | list, index: int = 0) -> torch.Tensor:
        """The grounding map of ``attribute`` on image ``index``: ``[H, W]`` in [0, 1] at input resolution.

        ``attribute`` is one attribute (index, id or phrase), a phrase of image ``index``'s sentence, or a list of
        attributes. A phrase of several attributes ("a long red beak": long beak and red beak) is grounded by the
        mean of its attributes' maps (each in [0, 1]), rescaled to [0, 1], so every word of it counts.
        """
        b = self._image(index)
        grids = self.grounding[b, self._attribute_columns(attribute, b)]
        up = F.interpolate(grids[None], size=tuple(self.images.shape[-2:]), mode="bilinear", align_corners=False)[0]
        return _normalised(torch.stack([_normalised(m) for m in up]).mean(0))

    def _attribute_columns(self, attribute: int | str | list, index: int) -> list[int]:
        """The attribute indices a map grounds: a list's, a sentence phrase's, or one attribute's."""
        if isinstance(attribute, (list, tuple)):
            if not attribute:
                raise invalid(
                    "attribute",
                    "an empty list",
                    "an attribute, a phrase of the sentence, or a non-empty list of attributes",
                )
            return [self.attribute_index(a) for a in attribute]
        if isinstance(attribute, str) and attribute in self.sentence_phrases[index]:
            return [
                self.attribute_index(a)
                for a in self.sentence_attributes[index][self.sentence_phrases[index].index(attribute)]
            ]
        return [self.attribute_index(attribute)]

    def maps(self, index: int = 0) -> torch.Tensor:
        """All attributes' grounding maps on image ``index``, ``[A, H, W]`` each in [0, 1]."""
        grids = self.grounding[self._image(index)]
        up = F.interpolate(grids[None], size=tuple(self.images.shape[-2:]), mode="bilinear", align_corners=False)[0]
        return torch.stack([_normalised(m) for m in up])

    def ranking(self, index: int = 0, top: int = 10, by: str = "lift") -> list[dict]:
        """The top attributes of image ``index``: dicts with ``attribute``, ``phrase``, ``probability``, ``lift``."""
        if by not in ("lift", "probability"):
            raise invalid("by", repr(by), "'lift' or 'probability'")
        b = self._image(index)
        key = self.lift[b] if by == "lift" else self.attribute_probabilities[b]
        order = key.argsort(descending=True, stable=True)[:top].tolist()
        return [
            {
                "attribute": self.attributes[a],
                "phrase": self.phrases[a],
                "probability": float(self.attribute_probabilities[b, a]),
                "lift": float(self.lift[b, a]),
            }
            for a in order
        ]

    def top_filters(self, attribute: int | str, index: int = 0, top: int = 5) -> list[dict]:
        """The filters behind ``attribute`` in image ``index``'s decision, by their share
        p(a|f)·p(f|x,y)/p(a|x,y): dicts with ``filter``, ``share``, ``p_attribute`` (p(a|f)), ``lift``
        (p(a|f)/p(a)), ``weight`` (p(f|x,y)) and ``contribution`` (c_f)."""
        a, b = self.attribute_index(attribute), self._image(index)
        joint = self.attribute_given_filter[:, a] * self.filter_weights[b]
        total = float(joint.sum())
        order = joint.argsort(descending=True, stable=True)[:top].tolist()
        return [
            {
                "filter": f,
                "share": float(joint[f]) / total if total > 0 else 0.0,
                "p_attribute": float(self.attribute_given_filter[f, a]),
                "lift": float(self.attribute_given_filter[f, a] / self.prior[a].clamp_min(1e-12)),
                "weight": float(self.filter_weights[b, f]),
                "contribution": float(self.contributions[b, f]),
            }
            for f in order
            if joint[f] > 0
        ]

    def filter_map(self, filter: int, index: int = 0) -> torch.Tensor:
        """Filter ``filter``'s activation on image ``index``, ``[H, W]`` in [0, 1] at input resolution."""
        b = self._image(index)
        if isinstance(filter, bool) or not isinstance(filter, int) or not 0 <= filter < self.activations.shape[1]:
            raise invalid("filter", filter, f"a filter index in 0..{self.activations.shape[1] - 1}")
        grid = self.activations[b, filter]
        return _normalised(
            F.interpolate(grid[None, None], size=tuple(self.images.shape[-2:]), mode="bilinear", align_corners=False)[
                0, 0
            ]
        )

    def words(self, index: int = 0) -> list[dict]:
        """The sentence's phrases for image ``index``: dicts with ``phrase`` and its ``attributes`` ids."""
        b = self._image(index)
        return [
            {"phrase": phrase, "attributes": list(group)}
            for phrase, group in zip(self.sentence_phrases[b], self.sentence_attributes[b])
        ]

    def figure(self, index: int = 0, *, path=None, **style):
        """The image, the sentence and each named attribute's grounding map
        (:func:`~xwidgets.text.figure.text_figure`), saved to ``path`` when given."""
        from ..figures import without_old_sizes
        from .figure import text_figure

        return text_figure(self, index, path=path, **without_old_sizes(style))


def _normalised(grid: torch.Tensor) -> torch.Tensor:
    low, high = grid.min(), grid.max()
    return (grid - low) / (high - low) if high > low else torch.zeros_like(grid)


def _looks_like_captions(value: object) -> bool:
    """Whether ``value`` is one list of caption strings per image (the old third positional argument of fit)."""
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) > 0
        and all(isinstance(item, Sequence) and not isinstance(item, str) for item in value)
    )


def _fit_arguments(
    model: Classifier, data: object, target: object, captions: object
) -> tuple[object, int | None, object]:
    """``(images, class index or None, captions)`` from fit's arguments: a CaptionedImages brings its captions,
    and the old call ``fit(model, images, captions)`` still works for one release, with a DeprecationWarning."""
    if captions is None and _looks_like_captions(target):
        warn_deprecated(
            "xw.text.fit(model, images, captions) is deprecated: the third argument is now the target; "
            "pass captions=... (or data=CaptionedImages)"
        )
        target, captions = None, target
    if isinstance(data, CaptionedImages):
        captions = data.captions if captions is None else captions
        data = data.paths
    labels = model.labels
    index = None if target is None else class_index(target, labels, len(labels) if labels else None)
    return data, index, captions


@register(
    "text",
    title="Textual explanation",
    kind="dataset",
    params=TEXT_PARAMS,
    result=TextModel,
    summary="filter-level attribute distributions learned from captions; explain() says in words why the "
    "network decided, each word grounded on the image",
    docs="text.md",
    inputs=("captions",),
    explorer="xwidgets.text.explorer:TextExplorer",
    render="render",
    example='xw.fit(xw.toy.classifier(), data, method="text", captions=xw.toy.captions(data))',
)
@shows_progress("text.fit")
def fit(
    model: Classifier,
    data: object = None,
    target: object = None,
    *,
    captions: object = None,
    layer: str | None = None,
    features: Features | None = None,
    vocabulary: Vocabulary | None = None,
    lexicon: Lexicon = BIRD_LEXICON,
    batch_size: int | None = None,
    progress=True,
    **params,
) -> TextModel:
    """Fit p(a|f) for every filter of ``layer`` from captioned images (see the module docstring).

    Args:
        model: a :class:`~xwidgets.core.models.Classifier` in eval mode.
        data: the captioned images, a ``[N, 3, H, W]`` tensor or a sequence of single images (a Dataset, paths),
            a :class:`~xwidgets.text.CaptionedImages` (``xw.text.load_cub``), which brings its captions, or a
            dataset run (``xw.open_run(path)``: its explained images, their layer responses cached in the store).
        target: the class the fitted model explains (an index or a class name): every image is explained for it,
            and an image the network assigns to another class is told so. None (default): each image's class.
            The filters' attribute distributions are fitted on every image either way.
        captions: one list of caption strings per image (e.g. the toy world's captions); for a run, one per
            explained image or one per image of its whole source.
        layer: a convolutional layer (default the stage before the global average pool).
        features: this layer's :class:`~xwidgets.concepts.Features` of the images (skips the dataset pass).
        vocabulary: a fixed vocabulary (default mined from the captions with ``lexicon`` and ``min_images``).
        lexicon: the words mining knows (default :data:`~xwidgets.text.BIRD_LEXICON`).
        batch_size: images per forward pass (default the model's ``max_batch``).
        progress: True (a bar after a second), False, a Progress or ``callback(fraction, message)``; cancellable.
        params: any of :data:`TEXT_PARAMS` (``min_images`` for the fit; ``words``, ``rank`` and
            ``min_evidence`` become the defaults of :meth:`TextModel.explain` through the explorer).

    Cost: one forward pass per image, no gradients; the rest is one ``[C, N] × [N, A]`` product.
    """
    check_model(model, Classifier)
    images, target, captions = _fit_arguments(model, data, target, captions)
    settings = TEXT_PARAMS.resolve(params)
    progress = as_progress(progress)
    started = time.perf_counter()
    if features is None:
        if images is None:
            raise invalid("data", None, "the captioned images, or features=... read from them")
        count = image_count(image_source(images))
    else:
        if not isinstance(features, Features):
            raise invalid("features", type(features).__name__, "Features from xw.concepts.extract_features")
        count = len(features)
    if captions is None:
        raise invalid("captions", None, "one list of captions per image (captions=...), or data=CaptionedImages")
    stored = stored_images(images)
    if stored is not None and features is None:
        captions = stored.per_image(captions, "captions")
    captions = check_captions(captions, count)
    if vocabulary is None:
        vocabulary = build_vocabulary(captions, lexicon, min_images=settings["min_images"])
    elif not isinstance(vocabulary, Vocabulary) or len(vocabulary) == 0:
        raise invalid("vocabulary", vocabulary, "a non-empty Vocabulary (xw.text.build_vocabulary)")
    distribution = torch.from_numpy(caption_distribution(vocabulary, captions)).float()
    described = distribution.sum(1) > 0
    if not bool(described.any()):
        raise invalid("captions", "captions naming no attribute of the vocabulary", "captions that describe images")
    if features is None:
        layer = layer if layer is not None else default_layer_on(model, images)
        find_layer(model.module, layer)
        features = extract_features(model, images, layer, batch_size=batch_size, progress=progress.part(0, 0.95))
    elif layer is not None and layer != features.layer:
        raise invalid("layer", repr(layer), f"the features' layer {features.layer!r}, or None")
    responses = features.features.float()[described]
    if not bool(torch.isfinite(responses).all()):
        raise invalid("images", "images whose layer responses are NaN or infinite", "finite images in [0, 1]")
    mean = responses.mean(0)
    excess = (responses - mean).clamp_min(0)
    mass = excess.sum(0)
    alive = mass > 1e-12 * responses.abs().max().clamp_min(1)
    given_filter = excess / mass.clamp_min(1e-30)  # p(x|f), [N, C]
    prior = distribution[described].mean(0)
    attribute_given_filter = given_filter.T @ distribution[described]  # p(a|f), [C, A]
    attribute_given_filter[~alive] = prior
    result = TextModel(
        method="text",
        params={"layer": features.layer, "target": target, **settings},
        timings={**features.timings, "fit": time.perf_counter() - started},
        attributes=list(vocabulary.attributes),
        image_counts=list(vocabulary.image_counts),
        lexicon={
            "adjectives": dict(vocabulary.lexicon.adjectives),
            "parts": dict(vocabulary.lexicon.parts),
            "plural_parts": sorted(vocabulary.lexicon.plural_parts),
            "synonyms": dict(vocabulary.lexicon.synonyms),
        },
        attribute_given_filter=attribute_given_filter,
        prior=prior,
        filter_mean=mean,
        filter_mass=mass,
        filter_scale=responses.abs().mean(0),
        alive=alive,
        layer=features.layer,
        layer_shape=list(features.layer_shape),
        model_name=model.name,
        labels=model.labels,
        images=count,
        described=int(described.sum()),
        target=target,
    )
    if features.model_name and features.model_name != model.name:
        raise invalid("features", f"features of {features.model_name!r}", f"features of this model ({model.name!r})")
    result.model, result.features = model, features
    progress.report(1.0, f"fitted {len(vocabulary)} attributes over {result.described} images")
    return result
