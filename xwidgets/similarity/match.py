"""Explaining a match: the pair's saliency, and the attributes that best say why the two images match.

SANE (METHODS.md section 8) explains a pair (query q, reference r) of a similarity model by attributes: an attribute
model predicts, for the query, a confidence per attribute and an m×m map per attribute; attributes are ranked by
mixing the confidence with how well the attribute's map agrees with the pair's saliency map. The exact mixing rule
of the paper could not be verified, so this module writes down the one it uses. For pair b and attribute a:

* confidence. ``confidence="pair"`` (the default) is the geometric mean √(ĉ_a(q) · ĉ_a(r)) of the attribute's
  confidence on both images, each divided by that image's largest confidence, so an attribute only one image
  shows cannot explain why they match; ``confidence="query"`` is ĉ_a(q) alone, as the SANE evaluation script does;
* agreement: the saliency map of q (explained against r) average-pooled to the attribute maps' m×m cells and
  divided by its sum gives S; g_a = 1 − ‖A_a(q) − S‖₂, with A_a(q) the attribute's map (softmax over the cells);
  g is then min-max scaled over the attributes of the pair, so that ``attribute_weight`` trades two numbers of the
  same range. The training loss of the attribute model compares with softmax(S) instead, as SANE does; for
  ranking that would not do, because the softmax of values in [0, 1] over 16 cells is nearly uniform (no cell
  above e/(15 + e) ≈ 0.15), so the flattest attribute map would always agree best;
* score_a = confidence_a + attribute_weight · g_a (SANE's ``--attr_weight``, default 1).

:func:`explain_match` computes the saliency of the query against the reference and, with ``both=True``, of the
reference against the query (for showing both sides), then ranks.
"""

from __future__ import annotations

import dataclasses
import time

import torch
import torch.nn.functional as F

from ..core.errors import invalid
from ..core.models import Embedder
from ..core.params import Param, ParamSet
from ..core.results import Result
from ..core.runner import as_progress
from .attributes import AttributeModel
from .saliency import PAIR_PARAMS, SALIENCY_METHODS, PairSaliency, pair_saliency

__all__ = ["MATCH_PARAMS", "MatchExplanation", "explain_match", "rank_attributes"]

MATCH_PARAMS = ParamSet(
    "match",
    Param("attribute_weight", "float", 1.0, "weight of the saliency agreement against the confidence (SANE's "
          "attr_weight)", low=0.0, high=10.0, step=0.1),
    Param("confidence", "choice", "pair", "the attribute's confidence on both images (geometric mean) or on the "
          "query only (SANE's script)", choices=("pair", "query")),
    Param("reference_mode", "choice", "fixed", "keep the reference's embedding fixed (SANE's main setting) or "
          "perturb it too", choices=("fixed", "variable")),
)


@dataclasses.dataclass
class MatchExplanation(Result):
    """Explanations of B matches (see the module docstring).

    Attributes:
        queries, references: ``[B, 3, H, W]`` pixel space.
        similarity: ``[B]`` cosine similarity of each unperturbed pair.
        saliency: ``[B, 1, H, W]`` in [0, 1], the query's saliency for the match;
        reference_saliency: the reference's saliency against the query (None when ``both=False``).
        attributes, phrases, parts: the attribute model's attribute ids, words and parts.
        query_confidence, reference_confidence: ``[B, A]`` each image's confidences, divided by its largest.
        confidence, agreement, scores: ``[B, A]`` the ranking's terms and its score.
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
                    saliency: torch.Tensor, *, attribute_weight: float = 1.0, confidence: str = "pair"
                    ) -> dict[str, torch.Tensor]:
    """The ranking terms of the module docstring for B pairs.

    Args:
        query_scores, reference_scores: ``[B, A]`` attribute scores of the queries and the references.
        maps: ``[B, A, m, m]`` the queries' attribute maps (each sums to 1 over its cells).
        saliency: ``[B, 1, H, W]`` the queries' saliency maps.
    Returns:
        a dict of ``[B, A]`` tensors: ``query_confidence``, ``reference_confidence``, ``confidence``, ``agreement``
        and ``scores``.
    """
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


def explain_match(embedder: Embedder, queries: object, references: object, attribute_model: AttributeModel, *,
                  method: str = "rise", both: bool = True, seed: int = 0, progress=None,
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
        progress: a Progress or ``callback(fraction, message)``; cancellable.
        saliency: the query's :class:`PairSaliency` already computed (skips that pass).
        params: :data:`MATCH_PARAMS` (``attribute_weight``, ``confidence``, ``reference_mode``) and the
            saliency method's parameters (:data:`~xwidgets.similarity.PAIR_PARAMS`).
    """
    if not isinstance(embedder, Embedder):
        raise invalid("embedder", type(embedder).__name__, "an xw.Embedder (a similarity model)")
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
    terms = rank_attributes(query_prediction.scores, reference_prediction.scores, query_prediction.maps,
                            saliency.maps, attribute_weight=match_values["attribute_weight"],
                            confidence=match_values["confidence"])
    progress.report(1.0, "ranked attributes")
    return MatchExplanation(
        method="sane", params={**match_values, **method_values, "both": both}, seed=seed,
        timings={"total": time.perf_counter() - started}, queries=saliency.queries,
        references=saliency.references, similarity=saliency.similarity, saliency=saliency.maps,
        reference_saliency=None if reverse is None else reverse.maps, attributes=list(attribute_model.attributes),
        phrases=list(attribute_model.phrases), parts=list(attribute_model.parts),
        attribute_maps=query_prediction.maps, saliency_method=method, **terms)

