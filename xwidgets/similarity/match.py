"""Explaining a match: the pair's saliency, and the attributes that best say why the two images match.

SANE (METHODS.md section 8) explains a pair (query q, reference r) of a similarity model by attributes: an attribute
model predicts, per image, a score per attribute and an m×m map per attribute; attributes are ranked by what the
pair's images show and where the pair's saliency is. The exact mixing rule of the paper could not be verified, so
this module writes down the two it offers. For pair b and attribute a, with s_a(x) the attribute model's score on
image x and A_a(x) its map (softmax over the cells):

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

Measured on the toy world (toy embedder, shipped attribute model, RISE with 500 masks, ``both=True``): 6 sets
(seeds 16601..16606) of 40 fresh pairs that share exactly one worded attribute, its part visible on both images;
the share of pairs whose shared attribute is in the top 3, median (worst, best), for the pair's reference and for a
control reference that shares no worded attribute with the query. Chance is 3/82 = 0.04; a ranking that knew only
the query's true attributes and picked 3 of them would hit 0.28.

=============================================================  =====================  =====================
rule (attribute model)                                         reference              control reference
=============================================================  =====================  =====================
pair, ``exclusive``, ``saliency_weight`` 0.5 (default)         0.64 (0.50, 0.78)      0.08 (0.10, 0.05)
pair, ``exclusive``, ``saliency_weight`` 0 or random maps      0.64 (0.50, 0.78)      0.08 (0.10, 0.05)
pair, not exclusive, ``saliency_weight`` 0.5                   0.75 (0.58, 0.88)      0.21 (0.33, 0.15)
pair, ``saliency_weight`` 0 / 1 / 2                            0.76 / 0.69 / 0.54     0.24 / 0.21 / 0.21
pair, 0.5, random saliency maps instead                        0.75 (0.55, 0.83)      0.24 (0.30, 0.10)
sane, ``attribute_weight`` 1, pair confidence                  0.50 (0.38, 0.63)      0.13 (0.20, 0.10)
sane, ``attribute_weight`` 0                                   0.75 (0.55, 0.83)      0.23 (0.30, 0.15)
sane, ``confidence="query"``                                   0.33 (0.18, 0.40)      0.29 (0.38, 0.15)
sane, w 1, pair confidence (earlier model and default)         0.21 (0.13, 0.30)      0.06 (0.13, 0.03)
sane, w 0 (earlier model)                                      0.35 (0.20, 0.48)      0.16 (0.38, 0.13)
=============================================================  =====================  =====================

So the gain comes from the attribute model (see :mod:`~xwidgets.similarity.attributes`: the earlier one was
undertrained) and from ranking by what both images show; SANE's agreement term costs a third of the hits, and its
query-only confidence does not depend on the reference. The pair rule's saliency term is neutral on the toy world
(random maps do as well): the toy embedder's RISE maps are higher on the shared part than on the rest of the bird
(0.63 against 0.44 on average over 2 × 40 pairs; 0.51 against 0.48 against the control reference) but as high
on the background, and the 4×4 attribute maps are coarse. It is kept at a small weight so that the ranking
follows the pair's saliency where the attribute maps and the saliency are sharper. With a reference that shares
nothing and ``exclusive=False``, the rate falls only to about the level of knowing only the query's attributes (0.21
against 0.28), not to chance: the attribute model's false positives on the control reference decide the rest, and
almost all are another value of a shape the query shows (a fan tail scored 0.25–0.46 for "fork"). Hence
``exclusive``: with it the control's rate is near chance (0.08 against 0.04), at a cost with the pair's reference
(0.64 against 0.75: the shared value is sometimes not the model's best on one of the images; on the queries the
model's best shape is the true one for only 0.69 of the shared shapes). Softer versions within the groups kept the
control at 0.20–0.23: s_a / max(Σ_group s, 1), s_a / Σ_group s, a softmax of the logits in the group (same seeds). A
control hit that stays is the model's best value on the control being the query's (0.10 of the colours and shapes).
With ``exclusive`` few attributes have a non-zero score on both images, so the saliency term rarely changes the top
3 (the same rates with weight 0 or random maps); attributes at 0 follow in the attribute order. On 10 further sets
(seeds 16631..16640, flat saliency), 0.70 (0.53, 0.78) against 0.05 (0.15, 0.00), and without ``exclusive`` 0.78
(0.65, 0.85) against 0.26 (0.33, 0.18).

:func:`explain_match` computes the saliency of the query against the reference and, with ``both=True`` (the
default), of the reference against the query, then ranks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..core.errors import invalid
from ..core.models import Embedder, check_model
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import as_progress, shows_progress
from .attributes import AttributeModel, exclusive_scores
from .saliency import PAIR_PARAMS, SALIENCY_METHODS, PairSaliency, pair_saliency

__all__ = ["MATCH_PARAMS", "RULES", "MatchExplanation", "explain_match", "rank_attributes"]

RULES = ("pair", "sane")

MATCH_PARAMS = ParamSet(
    "match",
    Param("rule", "choice", "pair", "rank by what both images show and where the pair's saliency is, or by SANE's "
          "confidence + weight × agreement", choices=RULES),
    Param("exclusive", "bool", True, "pair rule: where the attribute model knows groups of mutually exclusive "
          "values (a tail has one shape), an attribute counts on an image only as its group's best value"),
    Param("saliency_weight", "float", 0.5, "pair rule: how strongly the saliency agreement multiplies the "
          "confidence (score = confidence · exp(weight · agreement))", low=0.0, high=10.0, step=0.1),
    Param("attribute_weight", "float", 1.0, "SANE rule: weight of the saliency agreement against the confidence "
          "(SANE's attr_weight)", low=0.0, high=10.0, step=0.1),
    Param("confidence", "choice", "pair", "SANE rule: the attribute's confidence on both images (geometric mean) "
          "or on the query only (SANE's script)", choices=("pair", "query")),
    Param("reference_mode", "choice", "fixed", "keep the reference's embedding fixed (SANE's main setting) or "
          "perturb it too", choices=("fixed", "variable")),
)


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

    queries: torch.Tensor = None
    references: torch.Tensor = None
    similarity: torch.Tensor = None
    saliency: torch.Tensor = None
    reference_saliency: torch.Tensor | None = None
    attributes: list = dataclasses.field(default_factory=list)
    phrases: list = dataclasses.field(default_factory=list)
    parts: list = dataclasses.field(default_factory=list)
    query_confidence: torch.Tensor = None
    reference_confidence: torch.Tensor = None
    confidence: torch.Tensor = None
    agreement: torch.Tensor = None
    scores: torch.Tensor = None
    attribute_maps: torch.Tensor = None
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
        return [{"attribute": self.attributes[a], "phrase": self.phrases[a], "part": self.parts[a],
                 "score": float(self.scores[b, a]), "confidence": float(self.confidence[b, a]),
                 "agreement": float(self.agreement[b, a])} for a in order]

    def attribute_map(self, attribute: int | str, index: int = 0) -> torch.Tensor:
        """The query's map of ``attribute`` upsampled to the input, ``[H, W]`` in [0, 1]."""
        grid = self.attribute_maps[self._pair(index), self.attribute_index(attribute)]
        up = F.interpolate(grid[None, None], size=tuple(self.queries.shape[-2:]), mode="bilinear",
                           align_corners=False)[0, 0]
        low, high = up.min(), up.max()
        return (up - low) / (high - low) if high > low else torch.zeros_like(up)

    def figure(self, index: int = 0, path=None, **style):
        """The pair with both saliency maps and the top attributes' maps
        (:func:`~xwidgets.similarity.figure.match_figure`), saved to ``path`` when given."""
        from .figure import match_figure

        return match_figure(self, index, path=path, **style)


def rank_attributes(query_scores: torch.Tensor, reference_scores: torch.Tensor, maps: torch.Tensor,
                    saliency: torch.Tensor, *, reference_maps: torch.Tensor | None = None,
                    reference_saliency: torch.Tensor | None = None, rule: str = "pair", saliency_weight: float = 0.5,
                    attribute_weight: float = 1.0, confidence: str = "pair", groups: Sequence[str] | None = None,
                    open_groups: Sequence[str] = ()) -> dict[str, torch.Tensor]:
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
    return {"query_confidence": query_scores, "reference_confidence": reference_scores, "confidence": chosen,
            "agreement": agreement, "scores": chosen * torch.exp(saliency_weight * agreement)}


def _standard_agreement(maps: torch.Tensor, saliency: torch.Tensor) -> torch.Tensor:
    """``[B, A]``: Σ over the m×m cells of each attribute map times the saliency pooled to the cells and
    standardised over them (0 for a flat saliency map)."""
    pooled = F.adaptive_avg_pool2d(saliency.float(), maps.shape[-1]).flatten(1)             # [B, m·m]
    spread = pooled.std(1, correction=0, keepdim=True)
    standard = torch.where(spread > 1e-6, (pooled - pooled.mean(1, keepdim=True)) / spread.clamp_min(1e-6),
                           torch.zeros_like(pooled))
    return (maps.flatten(2) * standard[:, None, :]).sum(2)


def _sane_terms(query_scores: torch.Tensor, reference_scores: torch.Tensor, maps: torch.Tensor,
                saliency: torch.Tensor, attribute_weight: float, confidence: str) -> dict[str, torch.Tensor]:
    """The SANE rule's terms (module docstring)."""
    side = maps.shape[-1]
    query = query_scores / query_scores.max(1, keepdim=True).values.clamp_min(1e-12)
    reference = reference_scores / reference_scores.max(1, keepdim=True).values.clamp_min(1e-12)
    chosen = (query * reference).clamp_min(0).sqrt() if confidence == "pair" else query
    pooled = F.adaptive_avg_pool2d(saliency.float(), side).flatten(1).clamp_min(0)          # [B, m·m]
    total = pooled.sum(1, keepdim=True)
    cells = torch.where(total > 0, pooled / total.clamp_min(1e-12), torch.full_like(pooled, 1 / pooled.shape[1]))
    distance = (maps.flatten(2) - cells[:, None, :]).norm(dim=2)                            # [B, A]
    raw = 1 - distance
    low, high = raw.min(1, keepdim=True).values, raw.max(1, keepdim=True).values
    agreement = torch.where(high > low, (raw - low) / (high - low).clamp_min(1e-12), torch.zeros_like(raw))
    return {"query_confidence": query, "reference_confidence": reference, "confidence": chosen,
            "agreement": agreement, "scores": chosen + attribute_weight * agreement}


@shows_progress("similarity.explain_match")
def explain_match(embedder: Embedder, queries: object, references: object, attribute_model: AttributeModel, *,
                  method: str = "rise", both: bool = True, seed: int = 0, progress=True,
                  saliency: PairSaliency | None = None, **params) -> MatchExplanation:
    """Explain why each query matches its reference.

    Args:
        embedder: the similarity model, an :class:`~xwidgets.core.models.Embedder`.
        queries, references: B queries and B references (or one reference for all), any form ``to_batch`` takes.
        attribute_model: from :func:`~xwidgets.similarity.train_attributes` on this embedder (for the toy embedder,
            :func:`~xwidgets.similarity.toy_attribute_model`).
        method: the saliency method, one of :data:`~xwidgets.similarity.SALIENCY_METHODS`.
        both: also explain the reference against the query (twice the saliency cost).
        seed: the saliency's seed.
        progress: True (a bar after a second), False, a Progress or ``callback(fraction, message)``; cancellable.
        saliency: the query's :class:`PairSaliency` already computed (skips that pass).
        params: :data:`MATCH_PARAMS` (``rule``, ``exclusive``, ``saliency_weight``, ``attribute_weight``,
            ``confidence``, ``reference_mode``) and the
            saliency method's parameters (:data:`~xwidgets.similarity.PAIR_PARAMS`).
    """
    check_model(embedder, Embedder, name="embedder")
    if not isinstance(attribute_model, AttributeModel):
        raise invalid("attribute_model", type(attribute_model).__name__,
                      "an AttributeModel (xw.similarity.train_attributes or toy_attribute_model)")
    if method not in SALIENCY_METHODS:
        raise invalid("method", repr(method), "one of " + ", ".join(SALIENCY_METHODS))
    if not isinstance(both, bool):
        raise invalid("both", both, "True or False")
    match_values = MATCH_PARAMS.resolve({k: v for k, v in params.items() if k in MATCH_PARAMS})
    method_values = PAIR_PARAMS[method].resolve({k: v for k, v in params.items() if k not in MATCH_PARAMS})
    progress = as_progress(progress)
    started = time.perf_counter()
    mode = match_values["reference_mode"]
    if saliency is None:
        saliency = pair_saliency(embedder, queries, references, method=method, reference_mode=mode, seed=seed,
                                 progress=progress.part(0.0, 0.5 if both else 0.95), **method_values)
    elif not isinstance(saliency, PairSaliency):
        raise invalid("saliency", type(saliency).__name__, "a PairSaliency from pair_saliency, or None")
    reverse = None
    if both:
        reverse = pair_saliency(embedder, saliency.references, saliency.queries, method=method, reference_mode=mode,
                                seed=seed + 1, progress=progress.part(0.5, 0.95), **method_values)
    query_prediction = attribute_model.predict(saliency.queries, embedder)
    reference_prediction = attribute_model.predict(saliency.references, embedder)
    exclusive = match_values["exclusive"] and bool(attribute_model.groups)
    terms = rank_attributes(query_prediction.scores, reference_prediction.scores, query_prediction.maps,
                            saliency.maps, reference_maps=reference_prediction.maps,
                            reference_saliency=None if reverse is None else reverse.maps,
                            groups=attribute_model.groups if exclusive else None,
                            open_groups=attribute_model.open_groups,
                            **{k: match_values[k] for k in ("rule", "saliency_weight", "attribute_weight",
                                                            "confidence")})
    progress.report(1.0, "ranked attributes")
    return MatchExplanation(
        method="sane", params={**match_values, **method_values, "both": both}, seed=seed,
        timings={"total": time.perf_counter() - started}, queries=saliency.queries,
        references=saliency.references, similarity=saliency.similarity, saliency=saliency.maps,
        reference_saliency=None if reverse is None else reverse.maps, attributes=list(attribute_model.attributes),
        phrases=list(attribute_model.phrases), parts=list(attribute_model.parts),
        attribute_maps=query_prediction.maps, saliency_method=method, **terms)

