"""Explaining a match: the pair's saliency, and the attributes that best say why the two images match.

SANE (``docs/similarity.md#sane``) explains a pair (query q, reference r) of a similarity model by attributes:
an attribute model predicts, per image, a score per attribute and an m×m map per attribute; attributes are ranked
by what the pair's images show and where the pair's saliency is. The exact mixing rule of the paper could not be
verified, so this module writes down the two it offers. For pair b and attribute a, with s_a(x) the attribute
model's score on image x and A_a(x) its map (softmax over the cells):

``rule="pair"`` (the default), a function of the pair:

* with ``exclusive=True`` (the default) and an attribute model that knows groups of mutually exclusive values
  (:attr:`~xwidgets.similarity.attributes.AttributeModel.groups`; a tail has one shape, a beak one colour), s_a(x)
  is first set to 0 on an image where a is not its group's best value, or, in a group the image may show none of
  (a "plain" pattern has no attribute), where s_a(x) < 0.5
  (:func:`~xwidgets.similarity.attributes.exclusive_scores`);
* confidence_a = min(s_a(q), s_a(r)): what both images have. With a ``loss="bce"`` attribute model the scores are
  per-attribute probabilities, so the smaller one is how sure the model is that both show the attribute;
* agreement_a = the mean, over the images whose saliency is known (the query against the reference, and with
  ``both=True`` the reference against the query), of Σ_cells A_a(x) · z(S_x): z(S_x) is the image's saliency map
  average-pooled to the m×m cells and standardised over them (mean 0, standard deviation 1; all 0 for a flat map),
  so agreement_a is how many standard deviations more salient than the image's average the attribute's cells are;
* score_a = confidence_a · exp(``saliency_weight`` · agreement_a).

``rule="sane"``, the rule of the earlier versions, after SANE's evaluation script:

* confidence: ``confidence="pair"`` is the geometric mean √(ĉ_a(q) · ĉ_a(r)) of the attribute's score on both
  images, each divided by that image's largest score; ``confidence="query"`` is ĉ_a(q) alone, as SANE's script;
* agreement: the query's saliency pooled to the m×m cells and divided by its sum gives S; g_a = 1 − ‖A_a(q) − S‖₂,
  min-max scaled over the attributes of the pair (SANE's training loss compares with softmax(S), which for values in
  [0, 1] over 16 cells is nearly uniform, so the flattest map would always agree best);
* score_a = confidence_a + ``attribute_weight`` · g_a (SANE's ``--attr_weight``, default 1).

Why the pair rule and ``exclusive`` are the defaults, measured on the toy world (the share of pairs whose shared
attribute ranks in the top 3, against a control reference that shares nothing):
``docs/similarity.md#departures-with-measurements``. In short: ranking by what both images show gains most (0.64
against SANE's 0.50, and 0.21 with the earlier attribute model); ``exclusive`` brings the control near chance (0.08,
chance 0.04); the saliency term is neutral on the toy world and kept at a small weight.

:func:`explain_match` computes the saliency of the query against the reference and, with ``both=True`` (the
default), of the reference against the query, then ranks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from ..core.deprecation import warn_deprecated
from ..core.errors import close_matches, invalid, one_of
from ..core.methods import get_spec, register
from ..core.models import Embedder, check_model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import Progress, shows_progress
from ..core.steps import StepCache
from .attributes import AttributeModel, exclusive_scores
from .saliency import OLD_METHOD_NAMES, PairSaliency, pair_method_title, prepare_images

__all__ = ["SANE_PARAMS", "RULES", "PAIR_SALIENCY", "MatchExplanation", "sane", "explain_match", "rank_attributes"]

RULES = ("pair", "sane")
PAIR_SALIENCY = ("pair_rise", "pair_sliding_window", "pair_mask")
"""The pair saliency methods SANE can read its saliency from."""

SANE_PARAMS = ParamSet(
    "sane",
    Param(
        "saliency_method",
        "choice",
        "pair_rise",
        "the pair saliency method whose maps the ranking reads (its own parameters are passed through with the others)",
        choices=PAIR_SALIENCY,
    ),
    Param("both", "bool", True, "also explain the reference against the query (twice the saliency cost)"),
    Param(
        "rule",
        "choice",
        "pair",
        "rank by what both images show and where the pair's saliency is, or by SANE's confidence + weight × agreement",
        choices=RULES,
    ),
    Param(
        "exclusive",
        "bool",
        True,
        "pair rule: where the attribute model knows groups of mutually exclusive "
        "values (a tail has one shape), an attribute counts on an image only as its group's best value",
    ),
    Param(
        "saliency_weight",
        "float",
        0.5,
        "pair rule: how strongly the saliency agreement multiplies the "
        "confidence (score = confidence · exp(weight · agreement))",
        low=0.0,
        high=10.0,
        step=0.1,
    ),
    Param(
        "attribute_weight",
        "float",
        1.0,
        "SANE rule: weight of the saliency agreement against the confidence (SANE's attr_weight)",
        low=0.0,
        high=10.0,
        step=0.1,
    ),
    Param(
        "confidence",
        "choice",
        "pair",
        "SANE rule: the attribute's confidence on both images (geometric mean) or on the query only (SANE's script)",
        choices=("pair", "query"),
    ),
)
SANE_STEPS = {
    "saliency": ("saliency_method", "both"),
    "ranking": ("rule", "exclusive", "saliency_weight", "attribute_weight", "confidence"),
}
"""SANE's cached steps: the pair's saliency (both ways), then the ranking, which reuses it."""


@dataclasses.dataclass(kw_only=True)
class MatchExplanation(Result):
    """Explanations of B matches (see the module docstring).

    Attributes:
        queries, references: ``[B, 3, H, W]`` pixel space.
        similarity: ``[B]`` cosine similarity of each unperturbed pair.
        saliency: ``[B, 1, H, W]`` in [0, 1], the query's saliency for the match;
        reference_saliency: the reference's saliency against the query (None when ``both=False``).
        attributes, phrases, parts: the attribute model's attribute ids, words and parts.
        query_confidence, reference_confidence: ``[B, A]`` each image's attribute scores as the rule reads them
            (the pair rule: as the attribute model gives them, with ``exclusive`` 0 where not the group's best
            value; the SANE rule: divided by the image's largest).
        confidence, agreement, scores: ``[B, A]`` the ranking's terms and its score (``params["rule"]`` says
            which rule).
        attribute_maps: ``[B, A, m, m]`` the query's attribute maps (softmax over the cells).
        saliency_method: the saliency method's name; its parameters are in ``params``.
    """

    queries: torch.Tensor
    references: torch.Tensor
    similarity: torch.Tensor
    saliency: torch.Tensor
    reference_saliency: torch.Tensor | None = None
    attributes: list = dataclasses.field(default_factory=list)
    phrases: list = dataclasses.field(default_factory=list)
    parts: list = dataclasses.field(default_factory=list)
    query_confidence: torch.Tensor
    reference_confidence: torch.Tensor
    confidence: torch.Tensor
    agreement: torch.Tensor
    scores: torch.Tensor
    attribute_maps: torch.Tensor
    saliency_method: str = ""

    def __len__(self) -> int:
        return int(self.queries.shape[0])

    def _pair(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self):
            raise invalid("index", index, f"a pair index in 0..{len(self) - 1}")
        return index

    def attribute_index(self, attribute: int | str) -> int:
        """The index of an attribute given as index, id (``"wing.color=blue"``) or phrase (``"blue wings"``)."""
        if isinstance(attribute, int) and not isinstance(attribute, bool) and 0 <= attribute < len(self.attributes):
            return attribute
        if isinstance(attribute, str):
            if attribute in self.attributes:
                return self.attributes.index(attribute)
            if attribute in self.phrases:
                return self.phrases.index(attribute)
        shown = ", ".join(self.phrases[:8]) + (" …" if len(self.phrases) > 8 else "")
        raise invalid("attribute", repr(attribute), f"an attribute index, id or phrase ({shown})")

    def ranking(self, index: int = 0, top: int = 5) -> list[dict]:
        """The top attributes of pair ``index``: dicts with ``attribute``, ``phrase``, ``part``, ``score``,
        ``confidence``, ``agreement``."""
        b = self._pair(index)
        order = self.scores[b].argsort(descending=True, stable=True)[:top].tolist()
        return [
            {
                "attribute": self.attributes[a],
                "phrase": self.phrases[a],
                "part": self.parts[a],
                "score": float(self.scores[b, a]),
                "confidence": float(self.confidence[b, a]),
                "agreement": float(self.agreement[b, a]),
            }
            for a in order
        ]

    def attribute_map(self, attribute: int | str, index: int = 0) -> torch.Tensor:
        """The query's map of ``attribute`` upsampled to the input, ``[H, W]`` in [0, 1]."""
        grid = self.attribute_maps[self._pair(index), self.attribute_index(attribute)]
        up = F.interpolate(grid[None, None], size=tuple(self.queries.shape[-2:]), mode="bilinear", align_corners=False)[
            0, 0
        ]
        low, high = up.min(), up.max()
        return (up - low) / (high - low) if high > low else torch.zeros_like(up)

    def figure(self, index: int = 0, *, path=None, **style):
        """The pair with both saliency maps and the top attributes' maps; saved to ``path`` (``.pdf``, ``.svg``,
        ``.png``) when given. ``style``: ``top``, ``colormap``, ``alpha``, ``threshold``, ``style``
        (``"one-column"``, ``"two-column"`` or ``"auto"``), ``title``
        (:func:`~xwidgets.similarity.figure.match_figure`)."""
        from ..figures import without_old_sizes
        from .figure import match_figure

        style = without_old_sizes(style)
        return match_figure(self, index, path=path, method_title=pair_method_title(self.saliency_method), **style)


def rank_attributes(
    query_scores: torch.Tensor,
    reference_scores: torch.Tensor,
    maps: torch.Tensor,
    saliency: torch.Tensor,
    *,
    reference_maps: torch.Tensor | None = None,
    reference_saliency: torch.Tensor | None = None,
    rule: str = "pair",
    saliency_weight: float = 0.5,
    attribute_weight: float = 1.0,
    confidence: str = "pair",
    groups: Sequence[str] | None = None,
    open_groups: Sequence[str] = (),
) -> dict[str, torch.Tensor]:
    """The ranking terms of the module docstring for B pairs.

    Args:
        query_scores, reference_scores: ``[B, A]`` attribute scores of the queries and the references, in [0, 1].
        maps: ``[B, A, m, m]`` the queries' attribute maps (each sums to 1 over its cells).
        saliency: ``[B, 1, H, W]`` the queries' saliency maps (against their references).
        reference_maps, reference_saliency: the same for the references (against their queries), or None: the
            pair rule then reads the saliency on the query only; the SANE rule never reads them.
        rule: ``"pair"`` or ``"sane"``; saliency_weight: the pair rule's; attribute_weight and confidence: the
            SANE rule's.
        groups, open_groups: the attribute model's exclusive groups (:class:`AttributeModel`), or None: the pair
            rule then reads both images' scores through :func:`~xwidgets.similarity.attributes.exclusive_scores`.
    Returns:
        a dict of ``[B, A]`` tensors: ``query_confidence``, ``reference_confidence``, ``confidence``, ``agreement``
        and ``scores``.
    """
    if rule == "sane":
        return _sane_terms(query_scores, reference_scores, maps, saliency, attribute_weight, confidence)
    if groups:
        query_scores = exclusive_scores(query_scores, groups, open_groups)
        reference_scores = exclusive_scores(reference_scores, groups, open_groups)
    agreement = _standard_agreement(maps, saliency)
    if reference_maps is not None and reference_saliency is not None:
        agreement = (agreement + _standard_agreement(reference_maps, reference_saliency)) / 2
    chosen = torch.minimum(query_scores, reference_scores)
    return {
        "query_confidence": query_scores,
        "reference_confidence": reference_scores,
        "confidence": chosen,
        "agreement": agreement,
        "scores": chosen * torch.exp(saliency_weight * agreement),
    }


def _standard_agreement(maps: torch.Tensor, saliency: torch.Tensor) -> torch.Tensor:
    """``[B, A]``: Σ over the m×m cells of each attribute map times the saliency pooled to the cells and
    standardised over them (0 for a flat saliency map)."""
    pooled = F.adaptive_avg_pool2d(saliency.float(), maps.shape[-1]).flatten(1)  # [B, m·m]
    spread = pooled.std(1, correction=0, keepdim=True)
    standard = torch.where(
        spread > 1e-6, (pooled - pooled.mean(1, keepdim=True)) / spread.clamp_min(1e-6), torch.zeros_like(pooled)
    )
    return (maps.flatten(2) * standard[:, None, :]).sum(2)


def _sane_terms(
    query_scores: torch.Tensor,
    reference_scores: torch.Tensor,
    maps: torch.Tensor,
    saliency: torch.Tensor,
    attribute_weight: float,
    confidence: str,
) -> dict[str, torch.Tensor]:
    """The SANE rule's terms (module docstring)."""
    side = maps.shape[-1]
    query = query_scores / query_scores.max(1, keepdim=True).values.clamp_min(1e-12)
    reference = reference_scores / reference_scores.max(1, keepdim=True).values.clamp_min(1e-12)
    chosen = (query * reference).clamp_min(0).sqrt() if confidence == "pair" else query
    pooled = F.adaptive_avg_pool2d(saliency.float(), side).flatten(1).clamp_min(0)  # [B, m·m]
    total = pooled.sum(1, keepdim=True)
    cells = torch.where(total > 0, pooled / total.clamp_min(1e-12), torch.full_like(pooled, 1 / pooled.shape[1]))
    distance = (maps.flatten(2) - cells[:, None, :]).norm(dim=2)  # [B, A]
    raw = 1 - distance
    low, high = raw.min(1, keepdim=True).values, raw.max(1, keepdim=True).values
    agreement = torch.where(high > low, (raw - low) / (high - low).clamp_min(1e-12), torch.zeros_like(raw))
    return {
        "query_confidence": query,
        "reference_confidence": reference,
        "confidence": chosen,
        "agreement": agreement,
        "scores": chosen + attribute_weight * agreement,
    }


@register(
    "sane",
    title="SANE",
    kind="pair",
    params=SANE_PARAMS,
    result=MatchExplanation,
    summary="the attributes that best say why a query matches its reference, read with the pair's saliency",
    docs="similarity.md#sane",
    steps=SANE_STEPS,
    inputs=("reference", "attribute_model"),
    explorer="xwidgets.similarity.explorer:MatchExplorer",
    render="draw_attributes",
    example=(
        "xw.explain(xw.toy.embedder(), xw.toy.dataset(1, seed=0).images(), reference=xw.toy.dataset(1, "
        'seed=1).images(), method="sane", attribute_model=xw.toy.attribute_model())'
    ),
    quick={"saliency_method": "pair_sliding_window", "both": False},
)
@shows_progress("sane")
def sane(
    embedder: Embedder,
    queries: object,
    target: object = None,
    *,
    reference: object = None,
    attribute_model: AttributeModel | None = None,
    seed: int = 0,
    progress=True,
    saliency: PairSaliency | None = None,
    cache: StepCache | None = None,
    **params,
) -> MatchExplanation:
    """Explain why each query matches its reference: the pair's saliency and the attributes ranked by the rule of
    the module docstring (see ``docs/similarity.md``).

    Args:
        embedder: the similarity model, an :class:`~xwidgets.core.models.Embedder`.
        queries: B queries, any form :func:`~xwidgets.core.images.to_batch` takes.
        target: must be None: the score explained is the cosine similarity to ``reference``.
        reference: B references (one per query) or one for all.
        attribute_model: from :func:`~xwidgets.similarity.train_attributes` on this embedder (the toy embedder's is
            ``xw.toy.attribute_model()``).
        seed: the saliency's seed (the reference's saliency against the query uses ``seed + 1``).
        progress: True (a bar after a second), False, a Progress or ``callback(fraction, message)``; cancellable.
        saliency: the queries' :class:`PairSaliency` against the references, already computed (skips that pass).
        cache: a :class:`~xwidgets.core.steps.StepCache`: the pair's saliency is kept under the images, the seed
            and the saliency's parameters, so a change of the ranking's parameters alone reruns only the ranking.
        params: :data:`SANE_PARAMS` and the parameters of ``saliency_method`` (e.g. ``masks=`` for ``pair_rise``,
            ``reference_mode=``).

    Returns:
        :class:`MatchExplanation`. Cost: the saliency method's, twice with ``both=True``; plus the attribute model
        on the 2B images.
    """
    started = time.perf_counter()
    check_model(embedder, Embedder, name="embedder")
    if target is not None:
        raise invalid("target", target, "None: sane explains the cosine similarity to reference=")
    if reference is None:
        raise invalid("reference", None, "the reference images of sane (one per query, or one for all)")
    if not isinstance(attribute_model, AttributeModel):
        raise invalid(
            "attribute_model",
            type(attribute_model).__name__,
            "an AttributeModel (xw.similarity.train_attributes or xw.toy.attribute_model)",
        )
    if saliency is not None and not isinstance(saliency, PairSaliency):
        raise invalid("saliency", type(saliency).__name__, "a PairSaliency from a pair method, or None")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise invalid("seed", seed, "an int")
    values, saliency_values = _split_params(params)
    forward, reverse = _saliency_both_ways(
        embedder, queries, reference, values, saliency_values, seed, progress, saliency, cache
    )
    # the attributes' passes share the run's cancel (the saliency may come from the cache: a stale run stops here)
    query_prediction = attribute_model.predict(forward.queries, embedder, progress=progress.part(0.95, 0.97))
    reference_prediction = attribute_model.predict(forward.references, embedder, progress=progress.part(0.97, 1.0))
    exclusive = values["exclusive"] and bool(attribute_model.groups)
    terms = rank_attributes(
        query_prediction.scores,
        reference_prediction.scores,
        query_prediction.maps,
        forward.maps,
        reference_maps=reference_prediction.maps,
        reference_saliency=None if reverse is None else reverse.maps,
        groups=attribute_model.groups if exclusive else None,
        open_groups=attribute_model.open_groups,
        **{k: values[k] for k in ("rule", "saliency_weight", "attribute_weight", "confidence")},
    )
    progress.report(1.0, "ranked attributes")
    return MatchExplanation(
        method="sane",
        params={**values, **saliency_values},
        seed=seed,
        timings={"total": time.perf_counter() - started},
        queries=forward.queries,
        references=forward.references,
        similarity=forward.similarity,
        saliency=forward.maps,
        reference_saliency=None if reverse is None else reverse.maps,
        attributes=list(attribute_model.attributes),
        phrases=list(attribute_model.phrases),
        parts=list(attribute_model.parts),
        attribute_maps=query_prediction.maps,
        saliency_method=values["saliency_method"],
        query_confidence=terms["query_confidence"],
        reference_confidence=terms["reference_confidence"],
        confidence=terms["confidence"],
        agreement=terms["agreement"],
        scores=terms["scores"],
    )


def _split_params(params: Mapping[str, object]) -> tuple[dict, dict]:
    """SANE's own parameter values and its saliency method's, each validated; a name neither knows is refused."""
    values = SANE_PARAMS.resolve({k: v for k, v in params.items() if k in SANE_PARAMS})
    method = get_spec(values["saliency_method"], kinds=("pair",))
    rest = {k: v for k, v in params.items() if k not in SANE_PARAMS}
    known = [*SANE_PARAMS, *method.params]
    for name in rest:
        if name not in method.params:
            raise invalid(
                name,
                f"an unknown parameter of sane with saliency_method={method.name!r}",
                one_of(known) + close_matches(name, known),
            )
    return values, method.params.resolve(rest)


def _saliency_both_ways(
    embedder: Embedder,
    queries: object,
    reference: object,
    values: dict,
    saliency_values: dict,
    seed: int,
    progress: Progress,
    saliency: PairSaliency | None,
    cache: StepCache | None,
) -> tuple[PairSaliency, PairSaliency | None]:
    """The queries' saliency against the references and, with ``both``, the references' against the queries (read
    from ``cache`` when the images, the seed and the saliency's parameters are those of its entry)."""
    kernel = get_spec(values["saliency_method"], kinds=("pair",)).kernel
    both = values["both"]

    def compute() -> tuple[PairSaliency, PairSaliency | None]:
        forward = saliency
        if forward is None:
            forward = kernel(
                embedder,
                queries,
                reference=reference,
                seed=seed,
                progress=progress.part(0.0, 0.5 if both else 0.95),
                **saliency_values,
            )
        reverse = None
        if both:
            reverse = kernel(
                embedder,
                forward.references,
                reference=forward.queries,
                seed=seed + 1,
                progress=progress.part(0.5, 0.95),
                **saliency_values,
            )
        return forward, reverse

    if cache is None or saliency is not None:
        return compute()
    key = (
        id(embedder),
        _fingerprint(embedder, queries),
        _fingerprint(embedder, reference),
        seed,
        get_spec("sane").cache_key("saliency", values),
        tuple(sorted(saliency_values.items())),
    )
    return cache.get("saliency", key, compute)


def _fingerprint(embedder: Embedder, images: object) -> str:
    """A digest of ``images`` as the embedder reads them (a cache key that does not hold the pixels)."""
    pixels = prepare_images(embedder, images, "images").detach().float().cpu().contiguous()
    return hashlib.sha1(str(tuple(pixels.shape)).encode() + pixels.numpy().tobytes()).hexdigest()


def explain_match(
    embedder: Embedder,
    queries: object,
    references: object,
    attribute_model: AttributeModel,
    *,
    method: str = "rise",
    **params,
) -> MatchExplanation:
    """Deprecated: use ``xw.explain(embedder, queries, reference=references, method="sane",
    attribute_model=attribute_model, saliency_method="pair_rise", **params)``. Kept for one release."""
    warn_deprecated(
        "xw.similarity.explain_match(embedder, queries, references, attribute_model, method=...) is "
        "deprecated: use xw.explain(embedder, queries, reference=references, method='sane', "
        "attribute_model=attribute_model, saliency_method='pair_rise')"
    )
    if method not in OLD_METHOD_NAMES:
        raise invalid("method", repr(method), one_of(list(OLD_METHOD_NAMES)))
    return sane(
        embedder,
        queries,
        reference=references,
        attribute_model=attribute_model,
        saliency_method=OLD_METHOD_NAMES[method],
        **params,
    )


def __getattr__(name: str):
    """``MATCH_PARAMS`` (deprecated) is :data:`SANE_PARAMS` (``reference_mode`` is now the saliency method's)."""
    if name == "MATCH_PARAMS":
        warn_deprecated(
            "xw.similarity.MATCH_PARAMS is deprecated: use xw.similarity.SANE_PARAMS (reference_mode is "
            "now a parameter of the pair saliency methods)"
        )
        return SANE_PARAMS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
