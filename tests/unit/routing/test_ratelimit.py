"""Per-client token buckets: burst, refill, the wait reported, independence, reload."""

from __future__ import annotations

import pytest

from chipfolio.routing import RateLimiter


def test_burst_then_steady_rate() -> None:
    rl = RateLimiter()
    assert [rl.take("a", 2.0, 0.0) for _ in range(2)] == [0.0, 0.0]
    assert rl.take("a", 2.0, 0.0) == pytest.approx(0.5)
    assert rl.take("a", 2.0, 0.25) == pytest.approx(0.25)  # half a token back
    assert rl.take("a", 2.0, 0.5) == 0.0
    allowed = sum(rl.take("a", 2.0, 1.0 + i * 0.01) == 0.0 for i in range(300))
    assert allowed == 6  # the token back at t=1, then 2.99 s at 2/s


def test_clients_are_independent_and_a_slow_rate_still_allows_one() -> None:
    rl = RateLimiter()
    assert rl.take("slow", 0.1, 0.0) == 0.0
    assert rl.take("slow", 0.1, 1.0) == pytest.approx(9.0)
    assert rl.take("other", 0.1, 1.0) == 0.0


def test_explicit_burst_and_lowered_limit() -> None:
    rl = RateLimiter()
    assert all(rl.take("a", 1.0, 0.0, burst=5) == 0.0 for _ in range(5))
    assert rl.take("a", 1.0, 0.0, burst=5) > 0
    rl2 = RateLimiter()
    rl2.take("a", 100.0, 0.0)  # 99 tokens left
    assert rl2.take("a", 1.0, 0.0) == 0.0  # capped to the new burst of 1, one taken
    assert rl2.take("a", 1.0, 0.0) == pytest.approx(1.0)


def test_forget_and_bad_rate() -> None:
    rl = RateLimiter()
    rl.take("a", 1.0, 0.0)
    rl.forget_except(set())
    assert rl.take("a", 1.0, 0.0) == 0.0  # a fresh bucket
    with pytest.raises(ValueError):
        rl.take("a", 0.0, 0.0)


def test_tokens_spent_elsewhere_are_charged_here() -> None:
    rl = RateLimiter()
    rl.charge("a", 3, 2.0, 0.0)  # another worker admitted 3 (burst 2): one token owed
    assert rl.take("a", 2.0, 0.0) == pytest.approx(1.0)  # (1 - (-1)) / 2
    assert rl.take("a", 2.0, 1.0) == 0.0
    rl.charge("a", 0, 2.0, 1.0)  # nothing spent: nothing changes
    assert rl.take("a", 2.0, 1.0) == pytest.approx(0.5)
