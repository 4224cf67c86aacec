"""How the keyword (BM25) and vector (cosine) legs of a search become one ranking.

Both legs are scored on the union of their candidates (a chunk found by one leg still gets its exact score
in the other), then fused:
- weighted: each leg min-max normalised over the candidates to [0, 1], then combined with the tenant's
  weights (default 0.3 keyword / 0.7 vector);
- rrf: reciprocal-rank fusion, sum of weight / (60 + rank) per leg, divided by its best possible value so
  the fused score is in [0, 1] as well and `min_score` means the same kind of thing for both methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Generic, TypeVar

import attrs

from domain.common.errors import InvariantViolation
from domain.tenants.tenant import FusionMethod

KeyT = TypeVar("KeyT")

# The constant of the original RRF paper (Cormack et al., 2009); it damps the weight of the very first ranks.
RRF_K = 60


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    KEYWORD = "keyword"
    VECTOR = "vector"


@attrs.frozen
class LegScores(Generic[KeyT]):
    """One candidate's raw scores: BM25 (0 when no query term occurs in it) and cosine similarity
    (None when the vector leg did not run)."""

    key: KeyT
    keyword: float
    vector: float | None


@attrs.frozen
class FusedScore(Generic[KeyT]):
    key: KeyT
    score: float
    keyword_rank: int | None
    vector_rank: int | None


@attrs.frozen
class FusionWeights:
    keyword: float
    vector: float

    def __attrs_post_init__(self) -> None:
        if self.keyword < 0 or self.vector < 0 or self.keyword + self.vector <= 0:
            raise InvariantViolation("fusion weights must be non-negative and not both zero")

    @property
    def keyword_share(self) -> float:
        return self.keyword / (self.keyword + self.vector)


def fuse(
    candidates: Sequence[LegScores[KeyT]], mode: SearchMode, fusion: FusionMethod, weights: FusionWeights
) -> list[FusedScore[KeyT]]:
    """Best first. Keyword mode scores relative to the best BM25 score, vector mode by cosine similarity."""
    keyword_ranks = _ranks([(item.key, item.keyword) for item in candidates if item.keyword > 0])
    vector_ranks = _ranks([(item.key, item.vector) for item in candidates if item.vector is not None])
    scores: dict[KeyT, float]
    if mode is SearchMode.KEYWORD:
        best = max((item.keyword for item in candidates), default=0.0)
        scores = {item.key: item.keyword / best if best > 0 else 0.0 for item in candidates if item.keyword > 0}
    elif mode is SearchMode.VECTOR:
        scores = {item.key: max(0.0, item.vector) for item in candidates if item.vector is not None}
    elif fusion is FusionMethod.RRF:
        scores = _reciprocal_rank(candidates, keyword_ranks, vector_ranks, weights)
    else:
        scores = _weighted(candidates, weights)
    fused = [FusedScore(key, score, keyword_ranks.get(key), vector_ranks.get(key)) for key, score in scores.items()]
    # Ties (equal fused score) keep the keyword leg's order, then the vector leg's: deterministic output.
    fused.sort(key=lambda item: (-item.score, item.keyword_rank or 1 << 30, item.vector_rank or 1 << 30))
    return fused


def _ranks(scored: list[tuple[KeyT, float]]) -> dict[KeyT, int]:
    ordered = sorted(scored, key=lambda pair: -pair[1])
    return {key: rank for rank, (key, _) in enumerate(ordered, start=1)}


def _min_max(values: list[float]) -> list[float]:
    low, high = min(values), max(values)
    if high - low <= 1e-12:
        return [1.0 if high > 0 else 0.0 for _ in values]
    return [(value - low) / (high - low) for value in values]


def _weighted(candidates: Sequence[LegScores[KeyT]], weights: FusionWeights) -> dict[KeyT, float]:
    if not candidates:
        return {}
    share = weights.keyword_share
    keyword = _min_max([item.keyword for item in candidates])
    vectors = [item.vector for item in candidates]
    if all(value is None for value in vectors):
        return {item.key: value for item, value in zip(candidates, keyword, strict=True)}
    lowest = min(value for value in vectors if value is not None)
    vector = _min_max([lowest if value is None else value for value in vectors])
    return {item.key: share * k + (1.0 - share) * v for item, k, v in zip(candidates, keyword, vector, strict=True)}


def _reciprocal_rank(
    candidates: Sequence[LegScores[KeyT]],
    keyword_ranks: dict[KeyT, int],
    vector_ranks: dict[KeyT, int],
    weights: FusionWeights,
) -> dict[KeyT, float]:
    share = weights.keyword_share
    legs = [(share, keyword_ranks)] + ([(1.0 - share, vector_ranks)] if vector_ranks else [])
    best = sum(weight / (RRF_K + 1) for weight, _ in legs)
    scores = {}
    for item in candidates:
        total = sum(weight / (RRF_K + ranks[item.key]) for weight, ranks in legs if item.key in ranks)
        if total > 0:
            scores[item.key] = total / best
    return scores
