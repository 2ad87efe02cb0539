"""One counterfactual solve: a transformed problem -> its plan or the reason there is none.

The analyses solve many variants of one problem (a vendor's prices scaled, a vendor removed,
the policy relaxed, a tighter share cap). Unlike ``solve_problem`` this never runs the
infeasibility diagnosis — an infeasible variant is an answer here (a cap too tight, a vendor
nothing can replace), not an error — so each variant costs exactly one solve.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from chipfolio.errors import SolverError
from chipfolio.planner.decode import decode
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


def solve_outcome(problem: Problem, options: SolveOptions, solver: Solver | None = None) -> Outcome:
    """Solve ``problem`` once; infeasible or time-limited variants come back as a status.

    Raises SolverError only when the solver itself fails (not for infeasibility).
    """
    started = time.perf_counter()
    solver = solver or get_solver(options.solver)
    built = build(problem, prune_pairs=options.prune)
    result = solver.solve(built.formulation, options)
    if result.status in (SolveStatus.ERROR, SolveStatus.UNBOUNDED):
        raise SolverError(f"the solver could not solve a counterfactual ({result.raw_status})")
    plan = None
    if result.status.has_solution:
        plan = decode(
            built.problem,
            built.structure,
            built.formulation,
            result,
            build_seconds=built.seconds,
            pruned_pairs=built.pruned_pairs,
        )
    return Outcome(result.status, plan, time.perf_counter() - started)


def vendor_cost_usd(plan: Plan, label: str) -> float:
    """What ``plan`` pays the vendor ``label`` (under the plan's share_by)."""
    return float(plan.cost_by_vendor_usd.get(label, 0.0))
