"""Solve a Problem end to end on the seam (build_model, solve, decode), or diagnose why not.

Also the LP relaxation with its duals (``solve_relaxation``) for bounds and shadow prices.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from chipfolio.errors import InfeasibleError, SolverError
from chipfolio.planner.formulation import build_formulation
from chipfolio.planner.model import Formulation
from chipfolio.planner.plan import Plan
from chipfolio.planner.problem import FloatArray, Problem
from chipfolio.planner.seam import Model, build_model, decode, solve
from chipfolio.planner.solvers import get_solver
from chipfolio.planner.solvers.base import SolveOptions, Solver, SolveResult, SolveStatus
from chipfolio.planner.structure import Structure, build_structure

# kept for callers of the earlier names: a built model is a Model
Built = Model


def build(problem: Problem, *, prune_pairs: bool = True) -> Model:
    """Prune (optionally) and build the formulation (see ``build_model``)."""
    return build_model(problem, prune_pairs=prune_pairs)


def _no_plan(
    problem: Problem, result: SolveResult, options: SolveOptions, deadline: float | None = None
) -> Exception:
    if result.status is SolveStatus.INFEASIBLE:
        from chipfolio.planner.diagnose import diagnose

        conflicts = diagnose(problem, options, deadline=deadline)
        head = "no feasible plan: " + conflicts[0] if conflicts else "no feasible plan"
        more = f" (+{len(conflicts) - 1} more: {'; '.join(conflicts[1:])})" if conflicts[1:] else ""
        return InfeasibleError(head + more, conflicts)
    if result.status is SolveStatus.NO_SOLUTION:
        return SolverError(
            f"no plan found within the time limit of {options.time_limit_s:g} s; "
            "raise --time-limit or loosen --gap"
        )
    return SolverError(f"the solver could not solve the model (status: {result.raw_status})")


def solve_problem(
    problem: Problem,
    options: SolveOptions | None = None,
    solver: Solver | None = None,
    *,
    deadline: float | None = None,
) -> Plan:
    """Least-cost (or, with a budget, most-served) plan for ``problem``.

    Raises InfeasibleError naming the conflicting requirements when no plan exists, and
    SolverError when the solver fails or finds nothing within the time limit. Everything
    (pruning, building, solving, decoding) keeps to ``options.time_limit_s``; when it runs
    out, the best plan found is returned with its proven gap (see ``Plan.warnings``).
    ``deadline`` (``time.perf_counter``), when given, replaces now + the time limit: callers
    that spent part of the limit before (loading a catalog, estimating) pass it.
    """
    options = options or SolveOptions()
    if options.relax:
        raise ValueError("solve_problem returns whole instances; use solve_relaxation for LPs")
    if deadline is None:
        deadline = time.perf_counter() + options.time_limit_s
    model = build_model(problem, prune_pairs=options.prune)
    result = solve(model, options, solver=solver, deadline=deadline)
    if not result.status.has_solution:
        # the diagnosis gets what is left of the time limit (at least a second)
        raise _no_plan(problem, result, options, max(deadline, time.perf_counter() + 1.0))
    return decode(model, result, options)


@dataclass(frozen=True, eq=False)
class Relaxation:
    """The LP relaxation's optimum and its duals, for bounds and shadow prices.

    ``capacity_usd_per_chip[o]``: how much the optimal cost falls per extra chip of capacity
    on offer o over the horizon (0 where capacity does not bind). ``demand_usd_per_token_s[w]``:
    how much it rises per extra token/s of demand (summed over the workload's slots).
    """

    objective: float
    x: FloatArray
    formulation: Formulation
    structure: Structure
    capacity_usd_per_chip: FloatArray
    demand_usd_per_token_s: FloatArray
    seconds: float


def solve_relaxation(
    problem: Problem, options: SolveOptions | None = None, solver: Solver | None = None
) -> Relaxation:
    """Solve the LP relaxation (no pruning, so every offer keeps its row) with duals."""
    options = options or SolveOptions()
    solver = solver or get_solver(options.solver)
    structure = build_structure(problem)
    form = build_formulation(problem, structure)
    # capacity then binds on its rows (not on column bounds), so its duals are the prices
    upper = form.col_upper.copy()
    units = np.flatnonzero(~structure.col_whole_job)
    upper[units] = np.inf
    form = dataclasses.replace(form, col_upper=upper)
    result = solver.solve(form, dataclasses.replace(options, relax=True))
    if not result.status.has_solution or result.objective is None:
        raise _no_plan(problem, result, options)
    duals = result.row_duals if result.row_duals is not None else np.zeros(form.n_rows)
    capacity = np.zeros(len(problem.offers))
    for family in ("capacity", "take_or_pay"):
        rows = form.rows_of(family)
        np.add.at(capacity, form.row_key_b[rows], -duals[rows])
    demand = np.zeros(len(problem.workloads))
    rows = form.rows_of("demand")
    np.add.at(demand, form.row_key_b[rows], duals[rows])
    return Relaxation(
        objective=result.objective,
        x=result.value(),
        formulation=form,
        structure=structure,
        capacity_usd_per_chip=capacity,
        demand_usd_per_token_s=demand,
        seconds=result.seconds,
    )
