"""Routing policy for the inference gateway: pure, typed, framework-free, no I/O.

Plan weights per pool (:mod:`.weights`), smooth weighted selection (:mod:`.balancer`), a circuit
breaker per pool (:mod:`.breaker`), a retry budget with jittered backoff (:mod:`.retry`),
per-client rate limits (:mod:`.ratelimit`) and the :class:`Router` that joins them
(:mod:`.router`); served tokens per pool (:mod:`.usage`) and the plan-against-actual
comparison (:mod:`.actual`). Time is always passed in (``now`` in seconds on any monotonic
clock) and randomness comes from an injected ``random.Random``, so every decision is
reproducible in tests. The HTTP side lives in ``chipfolio.interfaces.gateway``.
"""

from __future__ import annotations

from chipfolio.routing.actual import OfferPrice, offer_prices, plan_vs_actual
from chipfolio.routing.balancer import SmoothWeighted
from chipfolio.routing.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from chipfolio.routing.ratelimit import RateLimiter
from chipfolio.routing.retry import RetryBudget, RetryPolicy, backoff_s
from chipfolio.routing.router import (
    Failure,
    PoolStats,
    Router,
    RoutingPolicy,
)
from chipfolio.routing.usage import TokenMeter
from chipfolio.routing.weights import (
    PlanAllocation,
    PoolSpec,
    PoolWeight,
    RoutingTable,
    build_routing_table,
)

__all__ = [
    "BreakerPolicy",
    "BreakerState",
    "CircuitBreaker",
    "Failure",
    "OfferPrice",
    "PlanAllocation",
    "PoolSpec",
    "PoolStats",
    "PoolWeight",
    "RateLimiter",
    "RetryBudget",
    "RetryPolicy",
    "Router",
    "RoutingPolicy",
    "RoutingTable",
    "SmoothWeighted",
    "TokenMeter",
    "backoff_s",
    "build_routing_table",
    "offer_prices",
    "plan_vs_actual",
]
