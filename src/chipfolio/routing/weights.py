"""Pool weights from a plan: each pool's share of its workload's planned tokens/s.

Rules (also in docs/gateway.md):

- A pool's weight is its offer's share of the workload's ``tokens_per_s`` in the plan, counting
  the allocations active at the chosen hour (``from_hour <= hour < to_hour``).
- Several pools on one (workload, offer) split that offer's share equally.
- A pool whose offer has no allocation for its workload gets weight 0 and is a *fallback*: it
  is chosen only when every weighted pool of the workload is unavailable.
- Weights of a workload's weighted pools sum to 1; the order of the pools list never matters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class PlanAllocation:
    """The part of a plan allocation that routing needs."""

    workload: str | None
    offer: str
    tokens_per_s: float
    from_hour: float = 0.0
    to_hour: float = float("inf")
    cost_usd: float | None = None  # what the plan pays for it over [from_hour, to_hour)
    vendor: str | None = None


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """One serving endpoint: a named pool of one offer serving one workload."""

    name: str
    workload: str
    offer: str
    url: str


@dataclass(frozen=True, slots=True)
class PoolWeight:
    """A pool with its routing weight (0 for a fallback pool) and planned tokens/s."""

    pool: PoolSpec
    weight: float
    planned_tokens_per_s: float

    @property
    def fallback(self) -> bool:
        return self.weight <= 0.0


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """Request model -> workload, and workload -> weighted pools (sorted by pool name)."""

    models: Mapping[str, str]
    workloads: Mapping[str, tuple[PoolWeight, ...]]

    def pools(self) -> tuple[PoolSpec, ...]:
        return tuple(pw.pool for pws in self.workloads.values() for pw in pws)

    def weight_of(self, pool: str) -> float:
        for pws in self.workloads.values():
            for pw in pws:
                if pw.pool.name == pool:
                    return pw.weight
        raise KeyError(pool)


def planned_tokens(
    allocations: Iterable[PlanAllocation], hour: float = 0.0
) -> dict[tuple[str, str], float]:
    """Planned tokens/s per (workload, offer) among allocations active at ``hour``."""
    out: dict[tuple[str, str], float] = defaultdict(float)
    for a in allocations:
        if a.workload is None or not (a.from_hour <= hour < a.to_hour):
            continue
        out[(a.workload, a.offer)] += max(0.0, a.tokens_per_s)
    return dict(out)


def build_routing_table(
    models: Mapping[str, str],
    pools: Sequence[PoolSpec],
    allocations: Iterable[PlanAllocation],
    hour: float = 0.0,
) -> RoutingTable:
    """Weights for every pool; names are assumed cross-checked by the caller."""
    tokens = planned_tokens(allocations, hour)
    per_offer: dict[tuple[str, str], int] = defaultdict(int)
    for p in pools:
        per_offer[(p.workload, p.offer)] += 1
    by_workload: dict[str, list[PoolWeight]] = defaultdict(list)
    for p in pools:
        key = (p.workload, p.offer)
        planned = tokens.get(key, 0.0) / per_offer[key]
        by_workload[p.workload].append(PoolWeight(p, 0.0, planned))
    table: dict[str, tuple[PoolWeight, ...]] = {}
    for workload, pws in by_workload.items():
        total = sum(pw.planned_tokens_per_s for pw in pws)
        weighted = [
            PoolWeight(
                pw.pool,
                pw.planned_tokens_per_s / total if total > 0 else 0.0,
                pw.planned_tokens_per_s,
            )
            for pw in pws
        ]
        table[workload] = tuple(sorted(weighted, key=lambda pw: pw.pool.name))
    return RoutingTable(MappingProxyType(dict(models)), MappingProxyType(table))
