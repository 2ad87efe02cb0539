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
    usd_per_chip_hour: float = 0.0  # the price at signing (after the roadmap's price change)

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
            "usd_per_chip_hour": self.usd_per_chip_hour,
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
    power_mw: dict[str, float] = field(default_factory=dict)  # vendor -> expected MW
    chips_needed: dict[str, float] = field(default_factory=dict)  # p5/p50/p95, best chips

    def to_json(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "committed_chips": self.committed_chips,
            "on_demand_chips": self.on_demand_chips,
            "demand_quantiles": self.demand_quantiles,
            "vendor_shares": self.vendor_shares,
            "expected_cost_usd": self.expected_cost_usd,
            "power_mw": dict(self.power_mw),
            "chips_needed": dict(self.chips_needed),
        }


@dataclass(frozen=True)
class Negotiation:
    """What a proposed contract is worth: its value, break-even price, a shorter term."""

    contract: str
    usd_per_chip_hour: float
    term_periods: int
    value_usd: float | None  # expected cost without it minus with it (>= 0)
    break_even_usd_per_chip_hour: float | None  # highest price at which it is still signed
    shorter_term_periods: int | None
    shorter_term_value_usd: float | None  # cost with the term minus with the shorter term
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "usd_per_chip_hour": self.usd_per_chip_hour,
            "term_periods": self.term_periods,
            "value_usd": self.value_usd,
            "break_even_usd_per_chip_hour": self.break_even_usd_per_chip_hour,
            "shorter_term_periods": self.shorter_term_periods,
            "shorter_term_value_usd": self.shorter_term_value_usd,
            "notes": list(self.notes),
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
    peak_mw: float | None = None  # most MW in any period and scenario (None: watts unknown)
    pue: float = 1.0
    negotiation: list[Negotiation] = field(default_factory=list)
    sampling: dict[str, Any] | None = None  # generated scenarios: in/out-of-sample costs

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
            "power": {"pue": self.pue, "peak_mw": self.peak_mw},
            "negotiation": [n.to_json() for n in self.negotiation],
            "sampling": self.sampling,
        }
