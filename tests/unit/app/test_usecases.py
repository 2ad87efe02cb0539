"""The use cases the CLI and the service share, on the bundled minimal example."""

from __future__ import annotations

from pathlib import Path

import pytest

from chipfolio.analysis.leverage import LeverageOptions
from chipfolio.app import (
    SimulationRequest,
    leverage_options,
    leverage_portfolio,
    plan_portfolio,
    problem_for,
    procure_file,
    simulate_portfolio,
)
from chipfolio.errors import InputError
from chipfolio.planner import SolveOptions
from chipfolio.simulation import LocalExecutor, StrategyName
from chipfolio.workloads.spec import load_portfolio, parse_portfolio_text

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
MINIMAL = EXAMPLES / "minimal.yaml"


def test_plan_portfolio_matches_building_and_solving_by_hand() -> None:
    portfolio = load_portfolio(MINIMAL)
    plan = plan_portfolio(portfolio, None, SolveOptions(time_limit_s=30))
    assert plan.status.value in ("optimal", "feasible")
    problem = problem_for(portfolio, None)
    assert plan.catalog_snapshot == problem.catalog_snapshot
    assert plan.total_cost_usd > 0


def test_an_expired_deadline_still_gives_the_solver_a_moment() -> None:
    plan = plan_portfolio(load_portfolio(MINIMAL), None, SolveOptions(time_limit_s=30), 0.0)
    assert plan.status.value in ("optimal", "feasible")


def test_leverage_refuses_a_budget_with_its_line() -> None:
    text = MINIMAL.read_text() + "\nbudget_usd: 1000000\n"
    portfolio = parse_portfolio_text(text, "capped.yaml", EXAMPLES)
    line = text.splitlines().index("budget_usd: 1000000") + 1
    with pytest.raises(InputError) as info:
        leverage_portfolio(portfolio, None, LeverageOptions())
    assert info.value.location.line == line
    assert info.value.location.field == "budget_usd"
    assert "least-cost" in str(info.value)


def test_leverage_options_are_checked() -> None:
    assert leverage_options(10, 0.01, 0).cost_rel_tol == pytest.approx(0.02)
    for args, flag in (((0, 0.01, 0), "--time-limit"), ((1, 0.5, 0), "--gap")):
        with pytest.raises(InputError) as info:
            leverage_options(*args)
        assert info.value.location.field == flag
    with pytest.raises(InputError):
        leverage_options(1, 0.01, -1)


def test_simulate_portfolio_reports_progress() -> None:
    seen: list[int] = []
    request = SimulationRequest(
        scenarios=4, seed=1, strategies=(StrategyName("cheapest"),), name="minimal"
    )
    sim = simulate_portfolio(
        load_portfolio(MINIMAL), None, request, LocalExecutor(workers=1), seen.append
    )
    doc = sim.to_json()
    assert doc["scenarios"] == 4 and sum(seen) == 4
    assert list(doc["strategies"]) == ["cheapest"]


def test_procure_file_solves_the_minimal_procurement() -> None:
    result = procure_file(
        EXAMPLES / "procurement-minimal.yaml", SolveOptions(time_limit_s=30), values=False
    )
    assert result.status in ("optimal", "feasible")
    assert result.expected_cost_usd > 0
