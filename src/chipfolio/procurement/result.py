"""What a procurement solve answers: commitments, costs by scenario and period, and the
values of the stochastic solution and of perfect information, with a stable JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chipfolio.planner import FloatArray

JSON_VERSION = 1


def weighted_quantile(values: FloatArray, weights: FloatArray, level: float) -> float:
    """The smallest value v with P(X <= v) >= level (discrete distribution)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    i = int(np.searchsorted(cum, level * cum[-1] - 1e-12))
    return float(values[order][min(i, len(order) - 1)])


def cvar(cost: FloatArray, prob: FloatArray, alpha: float) -> float:
    """Conditional value at risk: the expected cost in the worst (1 - alpha) tail, with the
    boundary scenario counted in part (Rockafellar-Uryasev, discrete distribution)."""
    order = np.argsort(-cost, kind="stable")
    tail = 1.0 - alpha
    left, total = tail, 0.0
    for i in order:
        take = min(float(prob[i]), left)
        total += take * float(cost[i])
        left -= take
        if left <= 1e-15:
            break
    return total / tail


@dataclass(frozen=True)
class Commitment:
    """One signing: chips of a contract from start to end (exclusive), in some scenarios."""

    contract: str
    provider: str
    chip: str
    sign_period: int
    start_period: int
    end_period: int
    chips: int
    committed_usd: float  # the whole term's payments (also past the horizon)
    in_horizon_usd: float  # the part paid within the horizon (what the objective counts)
    take_or_pay: float
    scenarios: list[str]
    probability: float

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "provider": self.provider,
            "chip": self.chip,
            "sign_period": self.sign_period,
            "start_period": self.start_period,
            "end_period": self.end_period,
            "chips": self.chips,
            "committed_usd": self.committed_usd,
            "in_horizon_usd": self.in_horizon_usd,
            "take_or_pay": self.take_or_pay,
            "scenarios": list(self.scenarios),
            "probability": self.probability,
        }


@dataclass(frozen=True)
class ScenarioOutcome:
    name: str
    probability: float
    cost_usd: float
    on_demand_usd: float
    unserved_fraction: float

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "probability": self.probability,
            "cost_usd": self.cost_usd,
            "on_demand_usd": self.on_demand_usd,
            "unserved_fraction": self.unserved_fraction,
        }


@dataclass(frozen=True)
class PeriodSummary:
    """One period, in expectation over the scenarios."""

    period: int
    committed_chips: dict[str, dict[str, float]]  # vendor -> chip -> expected chips
    on_demand_chips: dict[str, float]  # offer -> expected chips
    demand_quantiles: dict[str, dict[str, float]]  # workload -> p5/p50/p95 tokens/s
    vendor_shares: dict[str, float]  # share of the period's expected spend
    expected_cost_usd: float

    def to_json(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "committed_chips": self.committed_chips,
            "on_demand_chips": self.on_demand_chips,
            "demand_quantiles": self.demand_quantiles,
            "vendor_shares": self.vendor_shares,
            "expected_cost_usd": self.expected_cost_usd,
        }


@dataclass(frozen=True)
class ProcurementResult:
    """The answer of ``chipfolio procure``."""

    name: str | None
    status: str  # "optimal" (proven within the requested gap) or "feasible"
    objective_usd: float  # what was minimised (expected cost, or the mix with CVaR)
    expected_cost_usd: float
    cvar_95_usd: float
    cvar_weight: float
    cvar_alpha: float
    gap: float | None
    commitments: list[Commitment]
    scenarios: list[ScenarioOutcome]
    periods: list[PeriodSummary]
    vss_usd: float | None
    evpi_usd: float | None
    hours_per_period: float
    notes: list[str] = field(default_factory=list)
    solver: dict[str, Any] = field(default_factory=dict)

    @property
    def sign_now(self) -> list[Commitment]:
        return [c for c in self.commitments if c.sign_period == 0]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "name": self.name,
            "status": self.status,
            "gap": self.gap,
            "objective_usd": self.objective_usd,
            "expected_cost_usd": self.expected_cost_usd,
            "cvar_95_usd": self.cvar_95_usd,
            "risk": {"cvar_weight": self.cvar_weight, "cvar_alpha": self.cvar_alpha},
            "commitments": [c.to_json() for c in self.commitments],
            "sign_now": [c.to_json() for c in self.sign_now],
            "scenarios": [s.to_json() for s in self.scenarios],
            "periods": [p.to_json() for p in self.periods],
            "vss_usd": self.vss_usd,
            "evpi_usd": self.evpi_usd,
            "hours_per_period": self.hours_per_period,
            "notes": list(self.notes),
            "solver": dict(self.solver),
        }
