"""One counterfactual solve: a transformed problem -> its plan or the reason there is none.

The leverage analysis now answers its variants as changes of one built model (``variants``);
this module rebuilds each variant from its ``Problem`` and is kept as the independent
reference the tests compare those answers with (and for one-off questions).

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

from chipfolio.errors import SolverError
from chipfolio.planner import (
    Bounds,
    FloatArray,
    Model,
    Plan,
    PlanStatus,
    Problem,
    SolveMode,
    SolveOptions,
    Solver,
    SolveResult,
    SolveStatus,
    build_model,
    cost_bounds,
    decode,
    get_solver,
    pinned_bounds,
    solve,
)

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


def _pinned(model: Model, keys: list[str], units: Units, base: Bounds) -> Bounds | None:
    """Bounds fixing the allocation columns to ``units`` (None if not representable)."""
    index = {k: i for i, k in enumerate(keys)}
    if any(k not in index for k, v in units.items() if v > 0.5):
        return None
    values = np.zeros(len(keys))
    for k, v in units.items():
        if k in index:
            values[index[k]] = v
    return pinned_bounds(model, values, base)


def _best_start(
    model: Model,
    keys: list[str],
    starts: Sequence[Units],
    base: Bounds,
    options: SolveOptions,
    solver: Solver,
) -> SolveResult | None:
    """Complete each known plan in this model; the cheapest feasible completion, if any."""
    best: SolveResult | None = None
    opts = dataclasses.replace(
        options, mip_gap=1e-9, time_limit_s=min(options.time_limit_s, COMPLETE_TIME_LIMIT_S)
    )
    for units in starts:
        pinned = _pinned(model, keys, units, base)
        if pinned is None:
            continue
        done = solve(model, opts, mode=SolveMode.EXACT, bounds=pinned, solver=solver)
        if done.objective is None or not done.status.has_solution:
            continue
        if best is None or best.objective is None or done.objective < best.objective:
            best = done
    return best


def _units_of(model: Model, keys: list[str], x: FloatArray) -> dict[str, float]:
    units = np.rint(np.maximum(x[model.x_columns], 0.0))
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
    model = build_model(problem, prune_pairs=options.prune)
    keys = model.column_keys()
    form = model.formulation
    bounds: Bounds = (form.col_lower, form.col_upper)
    start: FloatArray | None = None
    cutoff: float | None = None
    if problem.budget_usd is None:
        completed = _best_start(model, keys, starts, bounds, options, solver) if starts else None
        if completed is not None and completed.objective is not None:
            start = completed.x
            bound = completed.objective
            cost_bound_usd = bound if cost_bound_usd is None else min(cost_bound_usd, bound)
        if cost_bound_usd is not None:
            bounds = cost_bounds(model, cost_bound_usd)
        if cutoff_usd is not None:
            cutoff = cutoff_usd
            if start is not None and completed is not None and completed.objective is not None:
                start = start if completed.objective <= cutoff_usd else None
    result = solve(
        model, options, mode=SolveMode.EXACT, start=start, cutoff=cutoff, bounds=bounds,
        solver=solver,
    )  # fmt: skip
    if result.status in (SolveStatus.ERROR, SolveStatus.UNBOUNDED):
        raise SolverError(f"the solver could not solve a counterfactual ({result.raw_status})")
    if not result.status.has_solution or result.x is None:
        return Outcome(result.status, None, time.perf_counter() - started)
    plan = decode(model, result)
    units = _units_of(model, keys, result.x)
    return Outcome(result.status, plan, time.perf_counter() - started, units)


def vendor_cost_usd(plan: Plan, label: str) -> float:
    """What ``plan`` pays the vendor ``label`` (under the plan's share_by)."""
    return float(plan.cost_by_vendor_usd.get(label, 0.0))
