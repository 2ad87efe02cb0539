"""The planner's one solve seam: build a Model once, solve it (many times), decode a Plan.

Every caller — ``chipfolio plan``, the analyses' counterfactuals, the simulation's re-plans,
the service — goes through these three steps::

    model = build_model(problem)                      # prune, index, formulate: once
    solution = solve(model, options, mode=..., start=..., cutoff=..., bounds=...)
    plan = decode(model, solution)                    # or None-checks on solution.status

``mode`` says how: ``PLAN`` (the anytime strategy: LP bound, rounding, repair, local search,
then branch and bound for the rest of the time limit; see planner.strategy), ``EXACT`` (the
MILP handed to the solver directly, warm-started from ``start``) or ``LP`` (the relaxation,
with row duals). ``cutoff`` keeps only plans cheaper than a cost; ``bounds`` replaces the
column bounds (a variant of the built model without a rebuild: a vendor's offers closed, a
plan's units pinned, columns bounded by a known cost). Every solve keeps to the time limit
(see solvers.guard).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import scipy.sparse as sp

from chipfolio.planner.decode import decode as decode_units
from chipfolio.planner.formulation import build_formulation
from chipfolio.planner.model import Formulation
from chipfolio.planner.plan import Plan
from chipfolio.planner.problem import FloatArray, Problem
from chipfolio.planner.prune import prune
from chipfolio.planner.solvers import get_solver
from chipfolio.planner.solvers.base import SolveOptions, Solver, SolveResult
from chipfolio.planner.strategy import rounded_completion, solve_model
from chipfolio.planner.structure import Structure, build_structure

# A solver's answer for a Model, in solver-neutral terms (status, values, objective, bound).
Solution = SolveResult


class SolveMode(StrEnum):
    """How ``solve`` works on a model (see the module docstring)."""

    PLAN = "plan"
    EXACT = "exact"
    LP = "lp"


@dataclass(frozen=True, eq=False)
class Model:
    """A problem made ready for a solver: the (pruned) problem, its structure and MILP."""

    problem: Problem
    structure: Structure
    formulation: Formulation
    pruned_pairs: int
    seconds: float

    @property
    def x_columns(self) -> slice:
        """Where the allocation columns (serving units per column) sit in the formulation."""
        block = self.formulation.var_blocks["x"]
        return slice(block.offset, block.stop)

    def column_keys(self) -> list[str]:
        """A key per allocation column that means the same thing in every variant of the
        problem (workload, offer, committed part, whole job, time window), for carrying plans
        across; a variant whose slots differ simply has no column for the key."""
        p, s = self.problem, self.structure
        names = p.workloads.names[s.col_workload].tolist()
        offers = p.offers.ids[s.col_offer].tolist()
        committed = s.virtual.committed[s.col_virtual].tolist()
        whole = s.col_whole_job.tolist()
        # a workload cut into time slots has one column per slot on the same offer
        start, end = s.col_start_hour.round(6).tolist(), s.col_end_hour.round(6).tolist()
        return [
            f"{w}|{o}|{'c' if c else 'o'}|{'j' if j else 'u'}|{a:g}-{b:g}"
            for w, o, c, j, a, b in zip(names, offers, committed, whole, start, end, strict=True)
        ]


def build_model(problem: Problem, *, prune_pairs: bool = True) -> Model:
    """Prune (optionally) and build the formulation, timing the whole step."""
    started = time.perf_counter()
    pruned, count = prune(problem) if prune_pairs else (problem, 0)
    structure = build_structure(pruned)
    form = build_formulation(pruned, structure)
    return Model(pruned, structure, form, count, time.perf_counter() - started)


Bounds = tuple[FloatArray, FloatArray]


def cost_bounds(model: Model, cost_bound_usd: float) -> Bounds:
    """Column bounds implied by the cost of a known feasible plan (least-cost mode): every
    allocation column gets ``floor((B - fixed) / c_j)``. No optimal plan is removed."""
    form = model.formulation
    cols = model.x_columns
    cost = form.c[cols]
    # slack: the model's objective may carry tiny tie-breaking costs beyond the plan's dollars
    slack = 1e-4 * max(abs(cost_bound_usd), 1.0)
    room = max(cost_bound_usd - form.objective_offset, 0.0) + slack
    limit = np.where(cost > 0.0, np.floor(room / np.maximum(cost, 1e-300) + 1e-9), np.inf)
    upper = form.col_upper.copy()
    upper[cols] = np.minimum(upper[cols], limit)
    return form.col_lower.copy(), upper


def pinned_bounds(model: Model, units: FloatArray, base: Bounds | None = None) -> Bounds | None:
    """Bounds with every allocation column fixed to ``units`` (None if a value is out of its
    bounds); solving with them completes the auxiliary variables of that plan."""
    form = model.formulation
    lower, upper = base if base is not None else (form.col_lower, form.col_upper)
    cols = model.x_columns
    if (units > upper[cols] + 1e-9).any():
        return None
    lower, upper = lower.copy(), upper.copy()
    lower[cols] = units
    upper[cols] = units
    return lower, upper


def _with_cutoff(form: Formulation, cutoff_usd: float) -> Formulation:
    """``form`` plus the row "objective <= cutoff": only plans cheaper than it stay feasible
    (when none exists the solver proves infeasibility, typically at the root)."""
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


def solve(
    model: Model,
    options: SolveOptions | None = None,
    *,
    mode: SolveMode = SolveMode.PLAN,
    start: FloatArray | None = None,
    cutoff: float | None = None,
    bounds: Bounds | None = None,
    solver: Solver | None = None,
    deadline: float | None = None,
) -> Solution:
    """Solve ``model`` (see the module docstring); ``deadline`` (``time.perf_counter``)
    defaults to now plus the time limit."""
    options = options or SolveOptions()
    solver = solver or get_solver(options.solver)
    if deadline is None:
        deadline = time.perf_counter() + options.time_limit_s
    form = model.formulation
    if bounds is not None:
        form = dataclasses.replace(form, col_lower=bounds[0], col_upper=bounds[1])
    if cutoff is not None:
        form = _with_cutoff(form, cutoff)
    limited = dataclasses.replace(
        options, time_limit_s=max(0.05, deadline - time.perf_counter()), relax=False
    )
    if mode is SolveMode.LP:
        return solver.solve(form, dataclasses.replace(limited, relax=True))
    if mode is SolveMode.EXACT or bounds is not None or cutoff is not None:
        return solver.solve(form, limited, start)
    return solve_model(model.problem, model.structure, form, options, solver, deadline)


def decode(model: Model, solution: Solution, options: SolveOptions | None = None) -> Plan:
    """The Plan of a solution that has one (costs recomputed from the units)."""
    return decode_units(
        model.problem,
        model.structure,
        model.formulation,
        solution,
        build_seconds=model.seconds,
        pruned_pairs=model.pruned_pairs,
        requested_gap=None if options is None else options.mip_gap,
        time_limit_s=None if options is None else options.time_limit_s,
    )


def rounded_plan(
    model: Model,
    form: Formulation,
    x_lp: FloatArray,
    options: SolveOptions | None = None,
    duals: FloatArray | None = None,
) -> Solution | None:
    """A whole plan from an LP solution of ``form`` (``model``'s formulation, possibly with
    changed bounds, costs or caps): the planner's rounding, share repair, trimming and local
    search, completed by a small solve. None when no rounding survives. Deterministic."""
    opts = dataclasses.replace(options or SolveOptions(), hard_deadline=False)
    solver = get_solver(opts.solver)
    return rounded_completion(model.problem, model.structure, form, x_lp, opts, solver, duals)
