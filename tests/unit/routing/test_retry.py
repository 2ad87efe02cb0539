"""Retry budget (token bucket) and full-jitter backoff."""

from __future__ import annotations

import random

import pytest

from chipfolio.routing import RetryBudget, RetryPolicy, backoff_s


def test_budget_starts_full_and_runs_dry() -> None:
    b = RetryBudget(RetryPolicy(burst=3.0, ratio=0.0, min_per_s=0.0))
    assert [b.try_spend(0.0) for _ in range(4)] == [True, True, True, False]
    assert b.spent == 3 and b.denied == 1


def test_requests_refill_the_budget_by_the_ratio() -> None:
    b = RetryBudget(RetryPolicy(burst=10.0, ratio=0.25, min_per_s=0.0))
    while b.try_spend(0.0):
        pass
    for _ in range(7):
        b.on_request(0.0)
    assert b.balance(0.0) == pytest.approx(1.75)
    assert b.try_spend(0.0) and not b.try_spend(0.0)


def test_time_refills_at_the_minimum_rate_up_to_the_burst() -> None:
    b = RetryBudget(RetryPolicy(burst=5.0, ratio=0.0, min_per_s=2.0), now=0.0)
    for _ in range(5):
        assert b.try_spend(0.0)
    assert not b.try_spend(0.4)
    assert b.try_spend(0.5)  # 1 token after 0.5 s
    assert b.balance(100.0) == 5.0


def test_backoff_is_jittered_exponential_and_capped() -> None:
    rng = random.Random(7)
    for retry in range(1, 10):
        limit = min(0.1, 0.002 * 2 ** (retry - 1))
        for _ in range(50):
            assert 0.0 <= backoff_s(retry, rng, 0.002, 0.1) <= limit
    assert backoff_s(0, rng, 0.002, 0.1) == 0.0
    assert backoff_s(3, rng, 0.0, 0.1) == 0.0
    one = [backoff_s(2, random.Random(1), 0.01, 1.0) for _ in range(3)]
    assert len(set(one)) == 1  # same seed, same delay


@pytest.mark.parametrize(
    "kw", [{"max_attempts": 0}, {"ratio": -1.0}, {"backoff_base_s": 1.0, "backoff_max_s": 0.5}]
)
def test_nonsense_policies_are_rejected(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kw)  # type: ignore[arg-type]
