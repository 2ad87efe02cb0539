"""Planner: from a portfolio problem to a least-cost plan, on one seam (build, solve, decode).

Entry points: ``build_model(problem)`` -> ``Model`` (once), ``solve(model, options, *, mode,
start, cutoff, bounds)`` -> ``Solution``, ``decode(model, solution)`` -> ``Plan``; and the
whole path at once, ``solve_problem(problem, options)`` (diagnosing infeasibility),
``plan_portfolio`` / ``build_problem`` for a portfolio file, ``solve_relaxation`` for LP
bounds and shadow prices. ``Plan.from_json`` reads a plan document back.

The analyses and the simulation use only the names listed here (an architecture test holds
it): rounding, share-cap repair and pin-and-complete live in the planner, once.
"""

from chipfolio.planner.build import build_problem, plan_portfolio
from chipfolio.planner.diagnose import diagnose
from chipfolio.planner.formulation import build_formulation
from chipfolio.planner.live import LiveModel, prune_is_safe
from chipfolio.planner.memo import Memo, content_key
from chipfolio.planner.model import Formulation
from chipfolio.planner.plan import Allocation, Plan, PlanStatus, SolverInfo, WorkloadOutcome
from chipfolio.planner.problem import (
    FloatArray,
    IntArray,
    OfferTable,
    PerfModel,
    Policy,
    Problem,
    ShareBy,
    WorkloadKind,
    WorkloadTable,
)
from chipfolio.planner.repair import tighten_shares
from chipfolio.planner.rounding import round_plan
from chipfolio.planner.seam import (
    Bounds,
    Model,
    Solution,
    SolveMode,
    build_model,
    cost_bounds,
    decode,
    pinned_bounds,
    rounded_plan,
    solve,
)
from chipfolio.planner.shares import SHARE_MARGINS, shares_hold
from chipfolio.planner.solve import Relaxation, solve_problem, solve_relaxation
from chipfolio.planner.solvers import get_solver
from chipfolio.planner.solvers.base import (
    Ranging,
    SolveOptions,
    Solver,
    SolverCapabilities,
    SolveResult,
    SolveStatus,
)
from chipfolio.planner.solvers.lp_session import LpSession
from chipfolio.planner.structure import Structure, build_structure

__all__ = [
    "SHARE_MARGINS",
    "Allocation",
    "Bounds",
    "FloatArray",
    "Formulation",
    "IntArray",
    "LiveModel",
    "LpSession",
    "Memo",
    "Model",
    "OfferTable",
    "PerfModel",
    "Plan",
    "PlanStatus",
    "Policy",
    "Problem",
    "Ranging",
    "Relaxation",
    "ShareBy",
    "Solution",
    "SolveMode",
    "SolveOptions",
    "SolveResult",
    "SolveStatus",
    "Solver",
    "SolverCapabilities",
    "SolverInfo",
    "Structure",
    "WorkloadKind",
    "WorkloadOutcome",
    "WorkloadTable",
    "build_formulation",
    "build_model",
    "build_problem",
    "build_structure",
    "content_key",
    "cost_bounds",
    "decode",
    "diagnose",
    "get_solver",
    "pinned_bounds",
    "plan_portfolio",
    "prune_is_safe",
    "round_plan",
    "rounded_plan",
    "shares_hold",
    "solve",
    "solve_problem",
    "solve_relaxation",
    "tighten_shares",
]
