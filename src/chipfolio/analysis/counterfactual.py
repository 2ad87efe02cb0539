"""One counterfactual solve: a transformed problem -> its plan or the reason there is none.

The analyses solve many variants of one problem (a vendor's prices scaled, a vendor removed,
the policy relaxed, a tighter share cap). Unlike ``solve_problem`` this never runs the
infeasibility diagnosis — an infeasible variant is an answer here (a cap too tight, a vendor
nothing can replace), not an error — so each variant costs exactly one solve.

Variants are close to each other, so plans already found are reused:

* **Warm start.** A known plan is carried between variants as units per column *key*
  (workload, offer, committed part, whole job). In the variant's model its units are pinned
  and the remaining variables completed by a small solve; a completed plan is feasible there,
  so it is handed to the solver as its starting incumbent.
* **Cost bound.** The cost ``B`` of any feasible plan bounds every column: all costs are
  non-negative in least-cost mode, so ``c_j x_j <= B - fixed`` and each allocation column gets
  the finite upper bound ``floor((B - fixed) / c_j)``. It removes no optimal plan, makes HiGHS
  several times faster here, and avoids a presolve crash that some share-cap models trigger
  in HiGHS 1.11-1.15 with unbounded integer columns.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from chipfolio.errors import SolverError
from chipfolio.planner.decode import decode
from chipfolio.planner.model import Formulation
from chipfolio.planner.plan import Plan, PlanStatus
from chipfolio.planner.problem import FloatArray, Problem
from chipfolio.planner.solve import build, get_solver
from chipfolio.planner.solvers.base import SolveOptions, Solver, SolveResult, SolveStatus
from chipfolio.planner.structure import Structure

Units = Mapping[str, float]  # column key -> units of a plan (non-zero entries only)
COMPLETE_TIME_LIMIT_S = 5.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one counterfactual solve (``plan`` None when there is no plan)."""

    status: SolveStatus
    plan: Plan | None
    seconds: float
    units: Units = field(default_factory=dict)

    @property
    def cost_usd(self) -> float | None:
        return None if self.plan is None else self.plan.total_cost_usd

    def exact(self, rel_tol: float) -> bool:
        """Proven optimal to within ``rel_tol`` (the Newton step's exactness condition)."""
        if self.plan is None or self.plan.status is not PlanStatus.OPTIMAL:
            return False
        gap = self.plan.solver.gap
        return gap is not None and gap <= rel_tol


def column_keys(problem: Problem, s: Structure) -> list[str]:
    """A key per allocation column that means the same thing in every variant."""
    names = problem.workloads.names[s.col_workload].tolist()
    offers = problem.offers.ids[s.col_offer].tolist()
    committed = s.virtual.committed[s.col_virtual].tolist()
    whole = s.col_whole_job.tolist()
    return [
        f"{w}|{o}|{'c' if c else 'o'}|{'j' if j else 'u'}"
        for w, o, c, j in zip(names, offers, committed, whole, strict=True)
    ]


def bound_by_cost(form: Formulation, cost_bound_usd: float) -> Formulation:
    """Give every priced allocation column the finite upper bound a cost bound implies."""
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


def with_cutoff(form: Formulation, cutoff_usd: float) -> Formulation:
    """``form`` plus the row "objective <= cutoff": only plans cheaper than it stay feasible.

    Used where only a plan below a known cost matters (is the vendor still worth buying?):
    when none exists the solver proves infeasibility, typically at the root, instead of
    closing a gap between near-equal plans.
    """
    row = sp.csr_matrix(form.c.reshape(1, -1))
    return dataclasses.replace(
        form,
        A=sp.vstack([form.A, row]).tocsc(),
        row_lower=np.append(form.row_lower, -np.inf),
        row_upper=np.append(form.row_upper, cutoff_usd - form.objective_offset),
        row_names=[*form.row_names, "objective_cutoff"],
        row_family=[*form.row_family, "objective_cutoff"],
        row_role=[*form.row_role, "definition"],
        row_key_a=np.append(form.row_key_a, -1),
        row_key_b=np.append(form.row_key_b, -1),
    )


def _pinned(form: Formulation, keys: list[str], units: Units) -> Formulation | None:
    """``form`` with the allocation columns fixed to ``units`` (None if not representable)."""
    index = {k: i for i, k in enumerate(keys)}
    if any(k not in index for k, v in units.items() if v > 0.5):
        return None
    values = np.zeros(len(keys))
    for k, v in units.items():
        if k in index:
            values[index[k]] = v
    block = form.var_blocks["x"]
    lower, upper = form.col_lower.copy(), form.col_upper.copy()
    if (values > upper[block.offset : block.stop] + 1e-9).any():
        return None
    lower[block.offset : block.stop] = values
    upper[block.offset : block.stop] = values
    return dataclasses.replace(form, col_lower=lower, col_upper=upper)


def _best_start(
    form: Formulation,
    keys: list[str],
    starts: Sequence[Units],
    options: SolveOptions,
    solver: Solver,
) -> SolveResult | None:
    """Complete each known plan in this model; the cheapest feasible completion, if any."""
    best: SolveResult | None = None
    opts = dataclasses.replace(
        options, mip_gap=1e-9, time_limit_s=min(options.time_limit_s, COMPLETE_TIME_LIMIT_S)
    )
    for units in starts:
        pinned = _pinned(form, keys, units)
        if pinned is None:
            continue
        done = solver.solve(pinned, opts)
        if done.objective is None or not done.status.has_solution:
            continue
        if best is None or best.objective is None or done.objective < best.objective:
            best = done
    return best


def _units_of(form: Formulation, keys: list[str], x: FloatArray) -> dict[str, float]:
    block = form.var_blocks["x"]
    units = np.rint(np.maximum(x[block.offset : block.stop], 0.0))
    return {keys[i]: float(units[i]) for i in np.flatnonzero(units > 0).tolist()}


def solve_outcome(
    problem: Problem,
    options: SolveOptions,
    solver: Solver | None = None,
    cost_bound_usd: float | None = None,
    starts: Sequence[Units] = (),
    cutoff_usd: float | None = None,
) -> Outcome:
    """Solve ``problem`` once; infeasible or time-limited variants come back as a status.

    ``cost_bound_usd``, when given, must be the cost of some feasible plan of ``problem``
    (least-cost mode only); ``starts`` are known plans of related variants, tried as warm
    starts. Neither changes the optimum. With ``cutoff_usd`` only plans cheaper than it
    count: INFEASIBLE then means "none cheaper". Raises SolverError only when the solver
    fails.
    """
    started = time.perf_counter()
    solver = solver or get_solver(options.solver)
    built = build(problem, prune_pairs=options.prune)
    form = built.formulation
    keys = column_keys(built.problem, built.structure)
    start: FloatArray | None = None
    if problem.budget_usd is None:
        completed = _best_start(form, keys, starts, options, solver) if starts else None
        if completed is not None and completed.objective is not None:
            start = completed.x
            bound = completed.objective
            cost_bound_usd = bound if cost_bound_usd is None else min(cost_bound_usd, bound)
        if cost_bound_usd is not None:
            form = bound_by_cost(form, cost_bound_usd)
        if cutoff_usd is not None:
            form = with_cutoff(form, cutoff_usd)
            if start is not None and completed is not None and completed.objective is not None:
                start = start if completed.objective <= cutoff_usd else None
    result = (
        solver.solve(form, options, start) if start is not None else solver.solve(form, options)
    )
    if result.status in (SolveStatus.ERROR, SolveStatus.UNBOUNDED):
        raise SolverError(f"the solver could not solve a counterfactual ({result.raw_status})")
    if not result.status.has_solution or result.x is None:
        return Outcome(result.status, None, time.perf_counter() - started)
    plan = decode(
        built.problem,
        built.structure,
        form,
        result,
        build_seconds=built.seconds,
        pruned_pairs=built.pruned_pairs,
    )
    return Outcome(
        result.status, plan, time.perf_counter() - started, _units_of(form, keys, result.x)
    )


def vendor_cost_usd(plan: Plan, label: str) -> float:
    """What ``plan`` pays the vendor ``label`` (under the plan's share_by)."""
    return float(plan.cost_by_vendor_usd.get(label, 0.0))
