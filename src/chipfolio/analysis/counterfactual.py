"""One counterfactual solve: a transformed problem -> its plan or the reason there is none.

The analyses solve many variants of one problem (a vendor's prices scaled, a vendor removed,
the policy relaxed, a tighter share cap). Unlike ``solve_problem`` this never runs the
infeasibility diagnosis — an infeasible variant is an answer here (a cap too tight, a vendor
nothing can replace), not an error — so each variant costs exactly one solve.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from chipfolio.errors import SolverError
from chipfolio.planner.decode import decode
from chipfolio.planner.model import Formulation
from chipfolio.planner.plan import Plan, PlanStatus
from chipfolio.planner.problem import Problem
from chipfolio.planner.solve import build, get_solver
from chipfolio.planner.solvers.base import SolveOptions, Solver, SolveStatus


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one counterfactual solve (``plan`` None when there is no plan)."""

    status: SolveStatus
    plan: Plan | None
    seconds: float

    @property
    def cost_usd(self) -> float | None:
        return None if self.plan is None else self.plan.total_cost_usd

    def exact(self, rel_tol: float) -> bool:
        """Proven optimal to within ``rel_tol`` (the Newton step's exactness condition)."""
        if self.plan is None or self.plan.status is not PlanStatus.OPTIMAL:
            return False
        gap = self.plan.solver.gap
        return gap is not None and gap <= rel_tol


def bound_by_cost(form: Formulation, cost_bound_usd: float) -> Formulation:
    """Give every priced allocation column the finite upper bound a cost bound implies.

    In least-cost mode every cost is non-negative, so a plan costing at most ``B`` has
    ``c_j x_j <= B - fixed`` for each column j: ``x_j <= floor((B - fixed) / c_j)`` removes
    no plan that costs at most B, hence no optimal plan when B is any feasible plan's cost.
    Finite bounds make HiGHS much faster on these models (and avoid a presolve crash that
    some share-cap models trigger in HiGHS 1.11-1.15 with unbounded integer columns).
    """
    block = form.var_blocks["x"]
    cols = slice(block.offset, block.stop)
    cost = form.c[cols]
    # slack: the model's objective may carry tiny tie-breaking costs beyond the plan's dollars
    slack = 1e-4 * max(abs(cost_bound_usd), 1.0)
    room = max(cost_bound_usd - form.objective_offset, 0.0) + slack
    limit = np.where(cost > 0.0, np.floor(room / np.maximum(cost, 1e-300) + 1e-9), np.inf)
    upper = form.col_upper.copy()
    upper[cols] = np.minimum(upper[cols], limit)
    return dataclasses.replace(form, col_upper=upper)


def solve_outcome(
    problem: Problem,
    options: SolveOptions,
    solver: Solver | None = None,
    cost_bound_usd: float | None = None,
) -> Outcome:
    """Solve ``problem`` once; infeasible or time-limited variants come back as a status.

    ``cost_bound_usd``, when given, must be the cost of some feasible plan of ``problem``
    (least-cost mode only); it tightens the model without changing its optimum.
    Raises SolverError only when the solver itself fails (not for infeasibility).
    """
    started = time.perf_counter()
    solver = solver or get_solver(options.solver)
    built = build(problem, prune_pairs=options.prune)
    form = built.formulation
    if cost_bound_usd is not None and problem.budget_usd is None:
        form = bound_by_cost(form, cost_bound_usd)
    result = solver.solve(form, options)
    if result.status in (SolveStatus.ERROR, SolveStatus.UNBOUNDED):
        raise SolverError(f"the solver could not solve a counterfactual ({result.raw_status})")
    plan = None
    if result.status.has_solution:
        plan = decode(
            built.problem,
            built.structure,
            form,
            result,
            build_seconds=built.seconds,
            pruned_pairs=built.pruned_pairs,
        )
    return Outcome(result.status, plan, time.perf_counter() - started)


def vendor_cost_usd(plan: Plan, label: str) -> float:
    """What ``plan`` pays the vendor ``label`` (under the plan's share_by)."""
    return float(plan.cost_by_vendor_usd.get(label, 0.0))
