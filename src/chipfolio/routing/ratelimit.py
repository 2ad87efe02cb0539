"""Per-client request rate limits: one token bucket per client name.

A client allowed ``rate_per_s`` requests per second holds a bucket of ``burst`` tokens (at least
one) that refills at that rate; a request takes one token or is refused with the seconds until
one is back. Buckets are kept by name, so reloading the key list keeps each client's balance.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    last: float


class RateLimiter:
    """Token buckets by client name; ``now`` is passed in."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def take(self, name: str, rate_per_s: float, now: float, burst: float | None = None) -> float:
        """0.0 when the request may go now (a token is taken); otherwise the seconds until a
        token is back (nothing is taken)."""
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        cap = max(1.0, rate_per_s if burst is None else burst)
        b = self._buckets.get(name)
        if b is None:
            b = self._buckets[name] = _Bucket(cap, now)
        elif now > b.last:
            b.tokens = min(cap, b.tokens + (now - b.last) * rate_per_s)
            b.last = now
        b.tokens = min(b.tokens, cap)  # a lowered limit applies at once
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / rate_per_s

    def charge(self, name: str, count: int, rate_per_s: float, now: float) -> None:
        """Take ``count`` tokens that other workers spent on this client (may go negative,
        so the next requests here wait for them: the rate holds across workers)."""
        if count <= 0 or rate_per_s <= 0:
            return
        cap = max(1.0, rate_per_s)
        b = self._buckets.get(name)
        if b is None:
            b = self._buckets[name] = _Bucket(cap, now)
        elif now > b.last:
            b.tokens = min(cap, b.tokens + (now - b.last) * rate_per_s)
            b.last = now
        b.tokens -= count

    def forget_except(self, names: set[str]) -> None:
        """Drop the buckets of clients no longer listed."""
        for name in [n for n in self._buckets if n not in names]:
            del self._buckets[name]
