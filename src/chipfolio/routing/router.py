"""The router: which pool serves the next attempt, and what each outcome does to the pools.

A pool is a *candidate* for an attempt when its breaker accepts, it is not cooling down after a
429 (``Retry-After``), its active health check has not marked it down, and the request has not
tried it yet. Among candidates the weighted pools are picked by smooth weighted round robin;
fallback (weight 0) pools only when no weighted pool is a candidate. Reloading a routing table
keeps the breaker, health and counters of every pool whose name survives.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chipfolio.routing.balancer import SmoothWeighted
from chipfolio.routing.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from chipfolio.routing.retry import RetryBudget, RetryPolicy, backoff_s
from chipfolio.routing.weights import PoolSpec, RoutingTable


class Failure(StrEnum):
    """Why an attempt on a pool failed (all but THROTTLED count against its breaker)."""

    CONNECT = "connect"
    STATUS_5XX = "status_5xx"
    TIMEOUT = "timeout"
    FIRST_TOKEN_TIMEOUT = "first_token_timeout"
    CUT = "cut"
    BAD_RESPONSE = "bad_response"  # not HTTP, a second response, or past a size limit
    THROTTLED = "throttled"


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """Breaker, retry and throttling settings shared by all pools."""

    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    default_retry_after_s: float = 1.0
    max_retry_after_s: float = 60.0


@dataclass(slots=True)
class PoolStats:
    """Per-pool counters (attempts, outcomes) and live state other than the breaker."""

    attempts: int = 0
    successes: int = 0
    in_flight: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    throttled_until: float = 0.0
    healthy: bool = True
    health_checks: int = 0
    health_failures: int = 0
    consecutive_health_failures: int = 0


class Router:
    """Routing state for all pools of a routing table."""

    def __init__(
        self,
        table: RoutingTable,
        policy: RoutingPolicy | None = None,
        rng: random.Random | None = None,
        now: float = 0.0,
    ) -> None:
        self.policy = policy or RoutingPolicy()
        self.rng = rng or random.Random(0)
        self.budget = RetryBudget(self.policy.retry, now)
        self.breakers: dict[str, CircuitBreaker] = {}
        self.stats: dict[str, PoolStats] = {}
        self.table = table
        self._balancers: dict[str, SmoothWeighted] = {}
        self._specs: dict[str, PoolSpec] = {}
        self.reloads = 0
        self.load(table)
        self.reloads = 0
        # Told of every change other routers must learn to agree with this one (several
        # workers): (pool, "open" | "closed" | "throttled", seconds). None: nobody listens.
        self.listener: Callable[[str, str, float], None] | None = None

    # --- table ---------------------------------------------------------------------------

    def load(self, table: RoutingTable) -> None:
        """Swap in a new table; pools that keep their name keep their state."""
        specs = {p.name: p for p in table.pools()}
        self.breakers = {
            n: self.breakers.get(n) or CircuitBreaker(self.policy.breaker) for n in specs
        }
        self.stats = {n: self.stats.get(n) or PoolStats() for n in specs}
        self._balancers = {
            w: SmoothWeighted({pw.pool.name: pw.weight for pw in pws})
            for w, pws in table.workloads.items()
        }
        self._specs = specs
        self.table = table
        self.reloads += 1

    def workload_of(self, model: str) -> str | None:
        return self.table.models.get(model)

    # --- selection -----------------------------------------------------------------------

    def available(self, pool: str, now: float) -> bool:
        s = self.stats[pool]
        return s.healthy and s.throttled_until <= now and self.breakers[pool].can_accept(now)

    def pick(self, workload: str, now: float, tried: Collection[str] = ()) -> PoolSpec | None:
        """The pool for the next attempt of a request of ``workload``, or None."""
        balancer = self._balancers.get(workload)
        if balancer is None:
            return None

        def candidate(name: str) -> bool:
            return name not in tried and self.available(name, now)

        name = balancer.pick(candidate)
        return None if name is None else self._specs[name]

    def has_candidate(self, workload: str, now: float, tried: Collection[str] = ()) -> bool:
        """Whether ``pick`` would find a pool (without moving the selection state)."""
        return any(
            name not in tried and self.available(name, now) for name in self.pools_of(workload)
        )

    def pools_of(self, workload: str) -> tuple[str, ...]:
        b = self._balancers.get(workload)
        return () if b is None else b.names

    def soonest_retry_after(self, workload: str, now: float) -> float | None:
        """Seconds until a throttled pool of the workload takes requests again, if any is."""
        waits = [
            self.stats[n].throttled_until - now
            for n in self.pools_of(workload)
            if self.stats[n].throttled_until > now
        ]
        return min(waits) if waits else None

    # --- retries -------------------------------------------------------------------------

    def on_request(self, now: float) -> None:
        self.budget.on_request(now)

    def may_retry(self, attempt: int, now: float) -> bool:
        """Whether a request that made ``attempt`` attempts may make another."""
        return attempt < self.policy.retry.max_attempts and self.budget.try_spend(now)

    def backoff(self, retry: int) -> float:
        r = self.policy.retry
        return backoff_s(retry, self.rng, r.backoff_base_s, r.backoff_max_s)

    # --- outcomes ------------------------------------------------------------------------

    def on_start(self, pool: str, now: float) -> None:
        s = self.stats[pool]
        s.attempts += 1
        s.in_flight += 1
        self.breakers[pool].on_start(now)

    def on_success(self, pool: str, now: float) -> None:
        s = self.stats.get(pool)
        if s is None:  # pool removed by a reload while the request was in flight
            return
        s.in_flight -= 1
        s.successes += 1
        b = self.breakers[pool]
        was_closed = b.state(now) is BreakerState.CLOSED
        b.on_success(now)
        if self.listener is not None and not was_closed and b.state(now) is BreakerState.CLOSED:
            self.listener(pool, "closed", 0.0)

    def on_abandon(self, pool: str, now: float) -> None:
        s = self.stats.get(pool)
        if s is None:
            return
        s.in_flight -= 1
        self.breakers[pool].on_abandon(now)

    def on_failure(
        self, pool: str, kind: Failure, now: float, retry_after_s: float | None = None
    ) -> None:
        s = self.stats.get(pool)
        if s is None:
            return
        s.in_flight -= 1
        s.failures[kind.value] = s.failures.get(kind.value, 0) + 1
        if kind is Failure.THROTTLED:
            wait = self.policy.default_retry_after_s if retry_after_s is None else retry_after_s
            wait = min(max(0.0, wait), self.policy.max_retry_after_s)
            s.throttled_until = max(s.throttled_until, now + wait)
            self.breakers[pool].on_abandon(now)
            if self.listener is not None:
                self.listener(pool, "throttled", wait)
            return
        b = self.breakers[pool]
        before = b.open_until()
        b.on_failure(now)
        after = b.open_until()
        if self.listener is not None and after is not None and after != before:
            self.listener(pool, "open", after - now)

    def adopt(self, pool: str, kind: str, seconds: float, now: float) -> None:
        """Apply what another router reported (see ``listener``); tells no listener."""
        if pool not in self.breakers:
            return
        if kind == "open":
            self.breakers[pool].adopt_open(now, max(0.0, seconds))
        elif kind == "closed":
            self.breakers[pool].adopt_close()
        elif kind == "throttled":
            wait = min(max(0.0, seconds), self.policy.max_retry_after_s)
            s = self.stats[pool]
            s.throttled_until = max(s.throttled_until, now + wait)

    def on_health(self, pool: str, ok: bool, now: float, unhealthy_after: int = 2) -> None:
        """Result of an active health check (no tokens spent)."""
        s = self.stats.get(pool)
        if s is None:
            return
        s.health_checks += 1
        if ok:
            s.consecutive_health_failures = 0
            s.healthy = True
            return
        s.health_failures += 1
        s.consecutive_health_failures += 1
        if s.consecutive_health_failures >= unhealthy_after:
            s.healthy = False

    # --- reporting -----------------------------------------------------------------------

    def snapshot(self, now: float) -> dict[str, Any]:
        """The state as plain data (for /admin/state and /metrics)."""
        workloads: dict[str, Any] = {}
        for workload, pws in self.table.workloads.items():
            pools = []
            for pw in pws:
                name = pw.pool.name
                s = self.stats[name]
                b = self.breakers[name]
                pools.append(
                    {
                        "name": name,
                        "offer": pw.pool.offer,
                        "url": pw.pool.url,
                        "weight": round(pw.weight, 6),
                        "fallback": pw.fallback,
                        "planned_tokens_per_s": round(pw.planned_tokens_per_s, 3),
                        "breaker": b.state(now).value,
                        "breaker_trips": b.trips,
                        "healthy": s.healthy,
                        "throttled_for_s": round(max(0.0, s.throttled_until - now), 3),
                        "available": self.available(name, now),
                        "attempts": s.attempts,
                        "successes": s.successes,
                        "failures": dict(sorted(s.failures.items())),
                        "in_flight": s.in_flight,
                        "health_checks": s.health_checks,
                        "health_failures": s.health_failures,
                    }
                )
            workloads[workload] = pools
        return {
            "models": dict(self.table.models),
            "workloads": workloads,
            "retry_budget": {
                "balance": round(self.budget.balance(now), 3),
                "spent": self.budget.spent,
                "denied": self.budget.denied,
            },
            "reloads": self.reloads,
        }
