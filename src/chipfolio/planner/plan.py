"""The Plan: an immutable answer (allocations, costs, shares, N-1 table, solver facts) + JSON.

``Plan.to_json()`` is the contract of ``chipfolio plan --json``: ``status``,
``total_cost_usd`` (always the sum of the allocations' ``cost_usd``), ``allocations``,
``vendor_shares``, ``n_minus_1``, ``solver``, ``catalog_snapshot`` plus ``share_by``,
``cost_by_vendor_usd``, ``workloads``, ``policy``, ``horizon_hours`` and ``budget_usd``; and
``gap`` (proven, relative), ``bound_usd`` (a proven lower bound on cost) and ``warnings``
(plain-words reasons not to trust the plan blindly, e.g. a gap above the one requested).
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
    instance_type: str | None = None
    zone: str | None = None

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
            "instance_type": self.instance_type,
            "zone": self.zone,
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
        if self.demand_tokens_per_s <= 0:
            return 0.0  # a document that did not state the demand
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
    requested_gap: float | None = None
    time_limit_s: float | None = None

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
            "requested_gap": self.requested_gap,
            "time_limit_s": self.time_limit_s,
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

    @property
    def gap(self) -> float | None:
        """The proven relative gap between this plan and the best possible (None: no bound)."""
        return self.solver.gap

    @property
    def bound_usd(self) -> float | None:
        """A proven lower bound on the cost of any plan (None when none was proven; in budget
        mode the objective is not cost, so there is none either)."""
        bound = self.solver.dual_bound
        if bound is None or self.budget_usd is not None:
            return None
        return min(float(bound), self.total_cost_usd)

    @property
    def proof_short(self) -> bool:
        """True when the plan is not proven within the requested gap (a limit stopped it)."""
        if self.status is PlanStatus.OPTIMAL:
            return False
        wanted = self.solver.requested_gap
        return self.gap is None or wanted is None or self.gap > wanted + 1e-12

    def warnings(self) -> tuple[str, ...]:
        """What a buyer must know before trusting this plan, in plain words."""
        if not self.proof_short:
            return ()
        limit = self.solver.time_limit_s
        fix = "raise --time-limit" + (f" (was {limit:.3g} s)" if limit is not None else "")
        if self.gap is None:
            return (
                "not proven: no bound on the best possible plan was found within the time "
                f"limit, so this plan could be far from the cheapest; {fix}",
            )
        wanted = self.solver.requested_gap
        asked = "" if wanted is None else f", requested {wanted:.2%}"
        if self.budget_usd is not None:
            what = f"a plan serving up to {self.gap:.1%} more within the budget may exist"
        else:
            what = f"a plan up to {self.gap:.1%} cheaper may exist"
        return (f"not proven optimal: {what} (proven gap {self.gap:.2%}{asked}); {fix}",)

    def allocations_of(self, workload: str) -> tuple[Allocation, ...]:
        return tuple(a for a in self.allocations if a.workload == workload)

    def workload(self, name: str) -> WorkloadOutcome:
        for outcome in self.workloads:
            if outcome.name == name:
                return outcome
        raise KeyError(name)

    @classmethod
    def from_json(cls, data: object, source: str = "plan JSON") -> Plan:
        """The Plan a ``chipfolio plan --json`` document describes: the one reader of plan
        JSON (exporters and the gateway use it). Bad input raises InputError naming
        ``source`` and the field; documents from before ``instance_type`` and ``zone``
        existed get them from catalog offer ids."""
        from chipfolio.planner.plan_reader import read_plan

        return read_plan(data, source)

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
            "gap": None if self.gap is None else round(self.gap, JSON_DIGITS),
            "bound_usd": None if self.bound_usd is None else round(self.bound_usd, 2),
            "warnings": list(self.warnings()),
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
