"""Retry budget (a token bucket fed by requests) and jittered exponential backoff.

Every client request deposits ``ratio`` tokens and the bucket also refills at
``min_per_s`` tokens per second, up to ``burst``; each retry spends one token. Retries
therefore stay a bounded share of traffic when a whole pool fails, instead of multiplying the
load on the pools that are left, while a quiet gateway can still retry a few requests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how fast a request may be retried on another pool."""

    max_attempts: int = 3
    ratio: float = 0.2
    min_per_s: float = 10.0
    burst: float = 100.0
    backoff_base_s: float = 0.002
    backoff_max_s: float = 0.1

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.ratio < 0 or self.min_per_s < 0 or self.burst < 0:
            raise ValueError("retry budget values must be >= 0")
        if self.backoff_base_s < 0 or self.backoff_max_s < self.backoff_base_s:
            raise ValueError("need 0 <= backoff_base_s <= backoff_max_s")


class RetryBudget:
    """Token bucket of retries; ``now`` is passed in."""

    __slots__ = ("_balance", "_last", "denied", "policy", "spent")

    def __init__(self, policy: RetryPolicy | None = None, now: float = 0.0) -> None:
        self.policy = policy or RetryPolicy()
        self._balance = self.policy.burst
        self._last = now
        self.spent = 0
        self.denied = 0

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._balance = min(
                self.policy.burst, self._balance + (now - self._last) * self.policy.min_per_s
            )
            self._last = now

    def balance(self, now: float) -> float:
        self._refill(now)
        return self._balance

    def on_request(self, now: float) -> None:
        self._refill(now)
        self._balance = min(self.policy.burst, self._balance + self.policy.ratio)

    def try_spend(self, now: float) -> bool:
        self._refill(now)
        if self._balance >= 1.0:
            self._balance -= 1.0
            self.spent += 1
            return True
        self.denied += 1
        return False


def backoff_s(retry: int, rng: random.Random, base_s: float, max_s: float) -> float:
    """Full-jitter exponential backoff before retry number ``retry`` (1 for the first)."""
    if retry < 1 or base_s <= 0:
        return 0.0
    return rng.uniform(0.0, min(max_s, base_s * 2.0 ** (retry - 1)))
