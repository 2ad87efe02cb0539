"""Summaries of many scenarios: distributions per strategy, the comparison, and the JSON.

The JSON holds nothing that depends on the machine or executor (no timings, no worker
counts), and numbers are rounded to fixed digits, so the same file, seed and scenario count
give byte-identical output everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chipfolio.simulation.model import Outcome
from chipfolio.simulation.scenario import ScenarioResult, SimulationSetup

USD_DIGITS = 2
FRACTION_DIGITS = 6
BASELINE = "cheapest"
SCHEMA_VERSION = 1


def distribution(values: Sequence[float], digits: int) -> dict[str, float]:
    """p50, p95, p99 and mean of ``values`` (linear interpolation between order statistics)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0}
    p50, p95, p99 = np.quantile(array, [0.5, 0.95, 0.99])
    return {
        "p50": round(float(p50), digits),
        "p95": round(float(p95), digits),
        "p99": round(float(p99), digits),
        "mean": round(float(array.mean()), digits),
    }


def _column(results: Sequence[ScenarioResult], s: int) -> list[Outcome]:
    return [r.outcomes[s] for r in results]


def _strategy_summary(outcomes: Sequence[Outcome], initial_cost_usd: float) -> dict[str, Any]:
    cost = [o.cost_usd for o in outcomes]
    unserved = [o.unserved_fraction for o in outcomes]
    slo = [o.slo_attainment for o in outcomes]
    trainings = sum(o.training_workloads for o in outcomes)
    misses = sum(o.deadline_misses for o in outcomes)
    return {
        "initial_plan_cost_usd": round(initial_cost_usd, USD_DIGITS),
        "cost_usd": distribution(cost, USD_DIGITS),
        "unserved_fraction": distribution(unserved, FRACTION_DIGITS),
        "slo_attainment": distribution(slo, FRACTION_DIGITS),
        "deadline_miss_rate": round(misses / trainings, FRACTION_DIGITS) if trainings else 0.0,
        "deadline_misses": misses,
        "migration_cost_usd": distribution([o.migration_usd for o in outcomes], USD_DIGITS),
        "replans_mean": round(float(np.mean([o.replans for o in outcomes])), 3),
        "samples": {
            "cost_usd": [round(c, USD_DIGITS) for c in cost],
            "unserved_fraction": [round(u, FRACTION_DIGITS) for u in unserved],
        },
    }


def comparison(results: Sequence[ScenarioResult], names: Sequence[str]) -> dict[str, Any] | None:
    """Each strategy against the baseline, paired scenario by scenario (same futures).

    ``median_cost_premium_usd`` is the median over scenarios of (strategy cost - baseline
    cost); ``median_cost_premium_fraction`` the median of their ratio minus one;
    ``p95_unserved_change`` the strategy's p95 unserved fraction minus the baseline's.
    """
    if len(names) < 2 or not results:
        return None
    base = names.index(BASELINE) if BASELINE in names else 0
    base_cost = np.array([r.outcomes[base].cost_usd for r in results])
    base_unserved = np.array([r.outcomes[base].unserved_fraction for r in results])
    out: dict[str, Any] = {"baseline": names[base], "strategies": {}}
    for s, name in enumerate(names):
        if s == base:
            continue
        cost = np.array([r.outcomes[s].cost_usd for r in results])
        unserved = np.array([r.outcomes[s].unserved_fraction for r in results])
        ratio = np.divide(cost, base_cost, out=np.ones_like(cost), where=base_cost > 0)
        out["strategies"][name] = {
            "median_cost_premium_usd": round(float(np.median(cost - base_cost)), USD_DIGITS),
            "median_cost_premium_fraction": round(float(np.median(ratio) - 1.0), FRACTION_DIGITS),
            "p95_unserved": round(float(np.quantile(unserved, 0.95)), FRACTION_DIGITS),
            "p95_unserved_baseline": round(
                float(np.quantile(base_unserved, 0.95)), FRACTION_DIGITS
            ),
            "p95_unserved_change": round(
                float(np.quantile(unserved, 0.95) - np.quantile(base_unserved, 0.95)),
                FRACTION_DIGITS,
            ),
        }
    return out


def _events_summary(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    totals: dict[str, int] = {}
    for r in results:
        for kind, count in r.events_by_kind:
            totals[kind] = totals.get(kind, 0) + count
    return {
        "total": sum(r.events for r in results),
        "mean_per_scenario": round(sum(r.events for r in results) / max(len(results), 1), 3),
        "by_kind": dict(sorted(totals.items())),
    }


def to_json(
    setup: SimulationSetup,
    results: Sequence[ScenarioResult],
    assumptions: Mapping[str, Any],
    portfolio: str | None = None,
) -> dict[str, Any]:
    """The simulation's JSON document (see docs/simulation.md for every key)."""
    ordered = sorted(results, key=lambda r: r.index)
    names = [s.name.value for s in setup.strategies]
    strategies = {
        s.name.value: _strategy_summary(_column(ordered, i), s.initial_cost_usd)
        for i, s in enumerate(setup.strategies)
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "portfolio": portfolio,
        "scenarios": len(ordered),
        "seed": setup.seed,
        "horizon_hours": setup.model.horizon_hours,
        "step_hours": round(setup.clock.step_hours, 6),
        "steps": setup.clock.n_steps,
        "strategies": strategies,
        "comparison": comparison(ordered, names),
        "events": _events_summary(ordered),
        "assumptions": dict(assumptions),
    }
