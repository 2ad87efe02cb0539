"""Smooth weighted round robin: proportional, deterministic, order-free, with exclusions."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chipfolio.routing import SmoothWeighted


def picks(b: SmoothWeighted, n: int, excluded: frozenset[str] = frozenset()) -> list[str | None]:
    return [b.pick(lambda name: name not in excluded) for _ in range(n)]


def test_picks_follow_the_weights_exactly_over_a_cycle() -> None:
    b = SmoothWeighted({"maia": 0.75, "trn2": 0.25})
    counts = Counter(picks(b, 400))
    assert counts == {"maia": 300, "trn2": 100}


def test_picks_are_interleaved_not_bursty() -> None:
    b = SmoothWeighted({"a": 0.5, "b": 0.25, "c": 0.25})
    seq = picks(b, 40)
    for i in range(0, 40, 4):  # every cycle of 4 picks holds each pool at its share
        assert Counter(seq[i : i + 4]) == {"a": 2, "b": 1, "c": 1}
    assert all(seq[i : i + 3] != ["a"] * 3 for i in range(38))


def test_order_of_the_mapping_does_not_matter() -> None:
    one = SmoothWeighted({"a": 2.0, "b": 1.0, "c": 1.0})
    two = SmoothWeighted({"c": 1.0, "b": 1.0, "a": 2.0})
    assert picks(one, 50) == picks(two, 50)


def test_excluded_pools_are_skipped_and_the_rest_keep_their_ratio() -> None:
    b = SmoothWeighted({"a": 0.5, "b": 0.3, "c": 0.2})
    counts = Counter(picks(b, 500, frozenset({"a"})))
    assert counts == {"b": 300, "c": 200}


def test_fallbacks_only_when_no_weighted_pool_is_a_candidate() -> None:
    b = SmoothWeighted({"a": 1.0, "f1": 0.0, "f2": 0.0})
    assert set(picks(b, 20)) == {"a"}
    fallback = picks(b, 4, frozenset({"a"}))
    assert sorted(Counter(fallback).items()) == [("f1", 2), ("f2", 2)]
    assert b.pick(lambda name: False) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=6))
def test_every_pool_stays_within_one_pick_of_its_share(raw: list[int]) -> None:
    weights = {f"p{i}": float(w) for i, w in enumerate(raw)}
    total = sum(weights.values())
    b = SmoothWeighted(weights)
    counts: Counter[str | None] = Counter()
    for n in range(1, 301):
        counts[b.pick(lambda name: True)] += 1
        for name, w in weights.items():
            assert counts[name] == pytest.approx(n * w / total, abs=len(weights))
