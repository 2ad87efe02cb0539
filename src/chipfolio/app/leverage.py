"""Use case: the leverage analysis of a least-cost portfolio."""

from __future__ import annotations

from pathlib import Path

from chipfolio.analysis.leverage import LeverageOptions, LeverageReport, analyze_leverage
from chipfolio.app.problem import problem_for, require_least_cost
from chipfolio.errors import InputError
from chipfolio.planner import SolveOptions
from chipfolio.workloads.spec import Portfolio


def leverage_options(time_limit: float, gap: float, workers: int) -> LeverageOptions:
    """The analysis options from its three knobs, checked (fields named as the CLI flags)."""
    if not time_limit > 0:
        raise InputError(f"must be > 0, got {time_limit}", field="--time-limit")
    if not 0 <= gap < 0.1:
        raise InputError(f"must be in [0, 0.1), got {gap}", field="--gap")
    if workers < 0:
        raise InputError(f"must be >= 0 (0 = one per CPU), got {workers}", field="--workers")
    solve = SolveOptions(time_limit_s=time_limit, mip_gap=gap, hard_deadline=False)
    return LeverageOptions(
        solve=solve, cost_rel_tol=max(1e-5, 2 * gap), workers=workers, time_limit_s=time_limit
    )


def leverage_portfolio(
    portfolio: Portfolio, catalog_home: Path | None, options: LeverageOptions
) -> LeverageReport:
    """Walk-away prices, cost of losing each vendor, shadow prices and the share frontier."""
    problem = problem_for(portfolio, catalog_home)
    require_least_cost(portfolio, problem, "leverage analysis")
    return analyze_leverage(problem, options)
