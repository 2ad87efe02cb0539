"""Planner: from a portfolio problem to a least-cost plan (build model, solve, decode).

Entry points: ``solve_problem(problem, options)`` for a ``Problem`` (pure data, with pure
transformations for what-if analyses), ``plan_portfolio(portfolio, catalog, perf, options)``
and ``build_problem(portfolio, catalog, perf)`` for a portfolio file, and
``solve_relaxation`` for LP bounds and shadow prices.
"""

from chipfolio.planner.build import build_problem, plan_portfolio
from chipfolio.planner.plan import Allocation, Plan, PlanStatus, SolverInfo, WorkloadOutcome
from chipfolio.planner.problem import (
    OfferTable,
    PerfModel,
    Policy,
    Problem,
    ShareBy,
    WorkloadKind,
    WorkloadTable,
)
from chipfolio.planner.solve import Relaxation, get_solver, solve_problem, solve_relaxation
from chipfolio.planner.solvers.base import (
    SolveOptions,
    Solver,
    SolverCapabilities,
    SolveResult,
    SolveStatus,
)

__all__ = [
    "Allocation",
    "OfferTable",
    "PerfModel",
    "Plan",
    "PlanStatus",
    "Policy",
    "Problem",
    "Relaxation",
    "ShareBy",
    "SolveOptions",
    "SolveResult",
    "SolveStatus",
    "Solver",
    "SolverCapabilities",
    "SolverInfo",
    "WorkloadKind",
    "WorkloadOutcome",
    "WorkloadTable",
    "build_problem",
    "get_solver",
    "plan_portfolio",
    "solve_problem",
    "solve_relaxation",
]
