"""Use case: plan a portfolio (least cost, or most served within a budget)."""

from __future__ import annotations

import time
from pathlib import Path

from chipfolio.app.problem import problem_for
from chipfolio.planner import Plan, SolveOptions, solve_problem
from chipfolio.workloads.spec import Portfolio

MIN_SOLVE_S = 0.05  # what the solver still gets when loading took the whole limit


def plan_portfolio(
    portfolio: Portfolio,
    catalog_home: Path | None,
    options: SolveOptions,
    deadline: float | None = None,
) -> Plan:
    """The plan of ``portfolio``; ``deadline`` (a ``time.perf_counter()`` value) bounds the
    whole of catalog loading, building and solving when given (the solver always gets at
    least ``MIN_SOLVE_S``)."""
    problem = problem_for(portfolio, catalog_home)
    if deadline is not None:
        deadline = max(deadline, time.perf_counter() + MIN_SOLVE_S)
    return solve_problem(problem, options, deadline=deadline)
