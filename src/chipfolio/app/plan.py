"""Use case: plan a portfolio (least cost, or most served within a budget)."""

from __future__ import annotations

from pathlib import Path

from chipfolio.app.problem import problem_for
from chipfolio.planner import Plan, SolveOptions, solve_problem
from chipfolio.workloads.spec import Portfolio


def plan_portfolio(
    portfolio: Portfolio,
    catalog_home: Path | None,
    options: SolveOptions,
    deadline: float | None = None,
) -> Plan:
    """The plan of ``portfolio``; ``deadline`` (a ``time.perf_counter()`` value) bounds the
    whole of catalog loading, building and solving when given."""
    problem = problem_for(portfolio, catalog_home)
    return solve_problem(problem, options, deadline=deadline)
