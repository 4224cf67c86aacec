"""Fusing the keyword and vector legs: weighted min-max, reciprocal rank, single-leg modes."""

from __future__ import annotations

import pytest

from domain.common.errors import InvariantViolation
from domain.knowledge.retrieval import FusionWeights, LegScores, SearchMode, fuse
from domain.tenants.tenant import FusionMethod

CANDIDATES = [
    LegScores("bm25-best", keyword=12.0, vector=0.20),
    LegScores("vector-best", keyword=0.0, vector=0.90),
    LegScores("both-good", keyword=9.0, vector=0.80),
    LegScores("weak", keyword=3.0, vector=0.10),
]
DEFAULT = FusionWeights(keyword=0.3, vector=0.7)


def ranking(
    mode: SearchMode, fusion: FusionMethod = FusionMethod.WEIGHTED, weights: FusionWeights = DEFAULT
) -> list[str]:
    return [item.key for item in fuse(CANDIDATES, mode, fusion, weights)]


def test_weighted_fusion_normalises_each_leg_then_applies_the_weights() -> None:
    fused = {item.key: item for item in fuse(CANDIDATES, SearchMode.HYBRID, FusionMethod.WEIGHTED, DEFAULT)}
    # keyword min-max over [0, 12]; vector min-max over [0.1, 0.9].
    assert fused["both-good"].score == pytest.approx(0.3 * 9 / 12 + 0.7 * 0.7 / 0.8)
    assert fused["vector-best"].score == pytest.approx(0.7)
    assert fused["bm25-best"].score == pytest.approx(0.3 + 0.7 * 0.1 / 0.8)
    assert fused["weak"].score == pytest.approx(0.3 * 3 / 12)
    assert ranking(SearchMode.HYBRID) == ["both-good", "vector-best", "bm25-best", "weak"]
    assert (fused["both-good"].keyword_rank, fused["both-good"].vector_rank) == (2, 2)
    # A chunk without any query word has no keyword rank.
    assert fused["vector-best"].keyword_rank is None


def test_the_weights_decide_between_the_legs() -> None:
    assert ranking(SearchMode.HYBRID, weights=FusionWeights(keyword=1.0, vector=0.0))[0] == "bm25-best"
    assert ranking(SearchMode.HYBRID, weights=FusionWeights(keyword=0.0, vector=1.0))[0] == "vector-best"
    # Only the ratio matters.
    assert ranking(SearchMode.HYBRID, weights=FusionWeights(keyword=3, vector=7)) == ranking(SearchMode.HYBRID)


def test_reciprocal_rank_fusion_is_scaled_to_one_for_a_double_first() -> None:
    fused = fuse(CANDIDATES, SearchMode.HYBRID, FusionMethod.RRF, FusionWeights(keyword=0.5, vector=0.5))
    scores = {item.key: item.score for item in fused}
    assert scores["both-good"] == pytest.approx((0.5 / 62 + 0.5 / 62) / (1 / 61))
    assert scores["vector-best"] == pytest.approx((0.5 / 61) / (1 / 61))
    assert all(0 < score <= 1 for score in scores.values())
    # Being found by both legs counts more than being first in one: the vector-only chunk comes last.
    assert [item.key for item in fused] == ["bm25-best", "both-good", "weak", "vector-best"]


def test_single_leg_modes() -> None:
    keyword = fuse(CANDIDATES, SearchMode.KEYWORD, FusionMethod.WEIGHTED, DEFAULT)
    assert [(item.key, item.score) for item in keyword] == [("bm25-best", 1.0), ("both-good", 0.75), ("weak", 0.25)]
    vector = fuse(CANDIDATES, SearchMode.VECTOR, FusionMethod.WEIGHTED, DEFAULT)
    assert [item.key for item in vector] == ["vector-best", "both-good", "bm25-best", "weak"]
    assert vector[0].score == pytest.approx(0.9)


def test_without_a_vector_leg_weighted_fusion_ranks_by_keywords() -> None:
    candidates = [LegScores("a", 2.0, None), LegScores("b", 5.0, None)]
    assert [item.key for item in fuse(candidates, SearchMode.HYBRID, FusionMethod.WEIGHTED, DEFAULT)] == ["b", "a"]
    assert fuse([], SearchMode.HYBRID, FusionMethod.WEIGHTED, DEFAULT) == []


def test_weights_must_not_both_be_zero() -> None:
    with pytest.raises(InvariantViolation):
        FusionWeights(keyword=0, vector=0)
