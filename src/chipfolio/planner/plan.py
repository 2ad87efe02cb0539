"""The Plan: an immutable answer (allocations, costs, shares, N-1 table, solver facts) + JSON.

``Plan.to_json()`` is the contract of ``chipfolio plan --json``: ``status``,
``total_cost_usd`` (always the sum of the allocations' ``cost_usd``), ``allocations``,
``vendor_shares``, ``n_minus_1``, ``solver``, ``catalog_snapshot`` plus ``share_by``,
``cost_by_vendor_usd``, ``workloads``, ``policy``, ``horizon_hours`` and ``budget_usd``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from chipfolio.planner.problem import Policy

JSON_DIGITS = 6


class PlanStatus(StrEnum):
    """Optimal within the requested gap, or feasible (a limit stopped the proof)."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"


@dataclass(frozen=True, slots=True)
class Allocation:
    """Instances of one offer given to one workload (``workload`` None: idle commitment).

    ``cost_usd`` is chips x list price x hours used; committed chips are valued at the
    contract price too, and what the commitment leaves unused appears as its own allocation
    with ``workload`` None, so the costs add up to what will be paid. ``pricing`` (on_demand,
    spot, reserved, committed) and ``chips_per_instance`` describe the offer, so the plan JSON
    alone is enough to launch it (``chipfolio export``); None where the builder did not know.
    """

    workload: str | None
    offer: str
    provider: str
    vendor: str
    chip: str
    region: str
    instances: int
    chips: int
    cost_usd: float
    tokens_per_s: float
    from_hour: float
    to_hour: float
    committed_chips: int = 0
    pricing: str | None = None
    chips_per_instance: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "offer": self.offer,
            "provider": self.provider,
            "vendor": self.vendor,
            "chip": self.chip,
            "region": self.region,
            "instances": self.instances,
            "chips": self.chips,
            "cost_usd": round(self.cost_usd, 2),
            "tokens_per_s": round(self.tokens_per_s, 3),
            "from_hour": self.from_hour,
            "to_hour": self.to_hour,
            "committed_chips": self.committed_chips,
            "pricing": self.pricing,
            "chips_per_instance": self.chips_per_instance,
        }


@dataclass(frozen=True, slots=True)
class WorkloadOutcome:
    """Demand against what the plan serves (the worst slot for inference; the window average
    for training, whose ``finish_hour`` is when the token budget is done at that rate)."""

    name: str
    kind: str
    critical: bool
    demand_tokens_per_s: float
    served_tokens_per_s: float
    vendors: tuple[str, ...]
    finish_hour: float | None = None

    @property
    def served_fraction(self) -> float:
        return self.served_tokens_per_s / self.demand_tokens_per_s

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "critical": self.critical,
            "demand_tokens_per_s": round(self.demand_tokens_per_s, 3),
            "served_tokens_per_s": round(self.served_tokens_per_s, 3),
            "served_fraction": round(self.served_fraction, JSON_DIGITS),
            "vendors": list(self.vendors),
            "finish_hour": None if self.finish_hour is None else round(self.finish_hour, 3),
        }


@dataclass(frozen=True, slots=True)
class SolverInfo:
    """Which solver ran, its own status, the proven gap, and where the time went."""

    name: str
    status: str
    gap: float | None
    seconds: float
    build_seconds: float
    dual_bound: float | None
    columns: int
    rows: int
    pruned_offers: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "gap": None if self.gap is None else round(self.gap, JSON_DIGITS),
            "seconds": round(self.seconds, 4),
            "build_seconds": round(self.build_seconds, 4),
            "dual_bound": self.dual_bound,
            "columns": self.columns,
            "rows": self.rows,
            "pruned_pairs": self.pruned_offers,
        }


def _frozen_map(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True, eq=False)
class Plan:
    """Where every workload runs, what it costs, and how exposed it is to each vendor."""

    status: PlanStatus
    total_cost_usd: float
    allocations: tuple[Allocation, ...]
    share_by: str
    vendor_shares: Mapping[str, float]
    cost_by_vendor_usd: Mapping[str, float]
    n_minus_1: Mapping[str, Mapping[str, float]]
    workloads: tuple[WorkloadOutcome, ...]
    solver: SolverInfo
    catalog_snapshot: str
    horizon_hours: float
    policy: Policy
    budget_usd: float | None = None
    # (workload, offer) pairs whose throughput rests on an uncalibrated estimate.
    uncalibrated: frozenset[tuple[str, str]] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "vendor_shares", _frozen_map(self.vendor_shares))
        object.__setattr__(self, "cost_by_vendor_usd", _frozen_map(self.cost_by_vendor_usd))
        table = {k: _frozen_map(v) for k, v in self.n_minus_1.items()}
        object.__setattr__(self, "n_minus_1", _frozen_map(table))

    def allocations_of(self, workload: str) -> tuple[Allocation, ...]:
        return tuple(a for a in self.allocations if a.workload == workload)

    def workload(self, name: str) -> WorkloadOutcome:
        for outcome in self.workloads:
            if outcome.name == name:
                return outcome
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``total_cost_usd`` equals the sum of allocation costs."""
        allocations = [
            {**a.to_json(), "uncalibrated_estimate": (a.workload, a.offer) in self.uncalibrated}
            for a in self.allocations
        ]
        total = round(sum(a["cost_usd"] for a in allocations), 2)
        return {
            "status": self.status.value,
            "total_cost_usd": total,
            "allocations": allocations,
            "share_by": self.share_by,
            "vendor_shares": {k: round(v, JSON_DIGITS) for k, v in self.vendor_shares.items()},
            "cost_by_vendor_usd": {k: round(v, 2) for k, v in self.cost_by_vendor_usd.items()},
            "n_minus_1": {
                lost: {w: round(f, JSON_DIGITS) for w, f in row.items()}
                for lost, row in self.n_minus_1.items()
            },
            "workloads": [w.to_json() for w in self.workloads],
            "solver": self.solver.to_json(),
            "catalog_snapshot": self.catalog_snapshot,
            "horizon_hours": self.horizon_hours,
            "budget_usd": self.budget_usd,
            "policy": {
                "max_share": self.policy.max_share,
                "share_by": self.policy.share_by.value,
                "min_vendors": self.policy.min_vendors,
                "n_minus_1": self.policy.n_minus_1,
            },
        }
