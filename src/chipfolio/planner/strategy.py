"""How a built model is solved: LP bound, rounded plan, then branch and bound with a warm start.

1. The LP relaxation by column generation (planner.colgen): a proven lower bound, fast even
   with millions of columns.
2. Rounded plans from the LP optimum (planner.rounding; gang jobs placed after, then
   before, the other units), each improved by a deterministic local search (each workload
   refilled at least cost, moves judged at the LP's prices of share caps and capacity, then
   at true cost); the cheaper is completed and checked by the solver with its units fixed
   (on the plan's own columns only). A rounding that breaks a share cap is first repaired
   (workloads moved off the vendors above their cap, cheapest per dollar moved first), else
   retried from an LP with slightly tighter caps.
3. If the rounded plan is not already within the requested gap of the LP bound, branch and
   bound runs for the rest of the time limit on the whole model, starting from the rounded
   plan, when the model is small enough for that to pay off; larger models keep the rounded
   plan (without one, branch and bound runs on the columns the LP generated, whose bound is
   not global, so the LP bound is the one reported).

The reported gap is always proven: (plan cost - best valid bound) / plan cost.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from chipfolio.planner.colgen import column_generation, rank_in_group, restrict
from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import BoolArray, FloatArray, Problem
from chipfolio.planner.repair import repair_shares, tighten_shares
from chipfolio.planner.rounding import round_plan
from chipfolio.planner.search import improve_plan
from chipfolio.planner.shares import SHARE_MARGINS
from chipfolio.planner.solvers.base import (
    SolveOptions,
    Solver,
    SolveResult,
    SolveStatus,
    relative_gap,
)
from chipfolio.planner.structure import Structure
from chipfolio.planner.trim import trim_plan
from chipfolio.planner.units import fixed_bounds

FULL_MIP_COLUMNS = 150_000
COMPLETE_TIME_LIMIT_S = 10.0
# a solve is never given less than this (a limit of zero is an error for the solver)
MIN_SOLVE_S = 0.05
# branch and bound (and the restricted MILP) are not started with less time than this left
MIN_MIP_S = 0.5
# the restricted MILP's share of the time left, and how many columns it keeps per group
RESTRICTED_SHARE = 0.3
RESTRICTED_PER_GROUP = 2


def _complete(
    form: Formulation,
    units: FloatArray,
    options: SolveOptions,
    solver: Solver,
    deadline: float | None = None,
) -> SolveResult | None:
    """Solve for the auxiliary variables with the units fixed; None if that is infeasible."""
    lower, upper = fixed_bounds(form, units)
    pinned = dataclasses.replace(form, col_lower=lower, col_upper=upper)
    # columns pinned at zero are left out: the solver then sees only the plan's own columns
    keep = np.ones(form.n_cols, dtype=bool)
    keep[: units.size] = units > 0.5
    limit = min(options.time_limit_s, COMPLETE_TIME_LIMIT_S)
    if deadline is not None:
        limit = min(limit, _left(deadline))
    sub = restrict(pinned, keep)
    result = solver.solve(sub, dataclasses.replace(options, time_limit_s=limit, mip_gap=1e-9))
    if not result.status.has_solution or result.x is None:
        return None
    return dataclasses.replace(result, x=_expand(result.x, keep))


def _rounded(
    problem: Problem,
    s: Structure,
    form: Formulation,
    x_lp: FloatArray,
    keep: BoolArray,
    options: SolveOptions,
    solver: Solver,
    duals: FloatArray | None = None,
    deadline: float | None = None,
) -> SolveResult | None:
    """The first rounding that survives completion, trying tighter share caps if needed;
    each rounding is first improved by local search (priced with the LP's ``duals``)."""
    # a rounding that breaks a share cap is repaired by moving workloads off the vendors
    # above it; should that fail, the next try rounds an LP with slightly tighter caps
    margins = SHARE_MARGINS if _shares_bind(form, x_lp) else SHARE_MARGINS[:1]
    for margin in margins:
        if deadline is not None and time.perf_counter() >= deadline:
            return None
        if margin > 0:
            tight = restrict(tighten_shares(form, margin, problem.policy.max_share), keep)
            limit = options.time_limit_s if deadline is None else _left(deadline)
            lp = solver.solve(tight, dataclasses.replace(options, relax=True, time_limit_s=limit))
            if not lp.status.has_solution or lp.x is None:
                continue
            x_lp = np.zeros(form.n_cols)
            x_lp[keep] = lp.x
        # two roundings (gang jobs placed after or before the others' units), each repaired
        # and improved; the cheaper plan that completes wins
        plans: list[tuple[float, int, FloatArray, FloatArray]] = []
        for gang_first in (False, True):
            units = round_plan(problem, s, form, x_lp, shares=False, gang_first=gang_first)
            if units is not None:
                units = repair_shares(problem, s, form, units)
            if units is not None:
                units = trim_plan(problem, s, form, units)
                better = improve_plan(problem, s, form, units, duals, deadline=deadline)
                plans.append((float(better @ form.c[: s.n_cols]), len(plans), better, units))
        for _, _, better, units in sorted(plans, key=lambda p: (p[0], p[1])):
            done = _complete(form, better, options, solver, deadline)
            if done is None and better is not units:
                done = _complete(form, units, options, solver, deadline)
            if done is not None:
                return done
    return None


def rounded_completion(
    problem: Problem,
    s: Structure,
    form: Formulation,
    x_lp: FloatArray,
    options: SolveOptions,
    solver: Solver,
    duals: FloatArray | None = None,
) -> SolveResult | None:
    """``_rounded`` on the whole formulation (no columns left out), for the seam."""
    keep = np.ones(form.n_cols, dtype=bool)
    return _rounded(problem, s, form, x_lp, keep, options, solver, duals)


def _shares_bind(form: Formulation, x: FloatArray) -> bool:
    """True when some share cap is (nearly) tight in the LP: rounding will likely break it."""
    rows = form.rows_of("share_cap", "requirement")
    if not rows.size:
        return False
    activity = form.A[rows] @ x
    costs = form.var_blocks["vendor_cost"]
    total = float(x[costs.offset : costs.stop].sum())
    return bool((activity >= -1e-4 * max(total, 1.0)).any())


def _result(
    status: SolveStatus,
    x: FloatArray | None,
    objective: float | None,
    bound: float | None,
    started: float,
    raw: str,
    solver: Solver,
) -> SolveResult:
    gap = relative_gap(objective, bound) if objective is not None and bound is not None else None
    return SolveResult(
        status=status,
        x=x,
        objective=objective,
        mip_gap=gap,
        dual_bound=bound,
        seconds=time.perf_counter() - started,
        solver=solver.name,
        raw_status=raw,
    )


def solve_model(
    problem: Problem,
    s: Structure,
    form: Formulation,
    options: SolveOptions,
    solver: Solver,
    deadline: float | None = None,
) -> SolveResult:
    """Solve ``form`` (built from ``problem``) within ``options`` (see the module docstring).

    Every step stops by ``deadline`` (``time.perf_counter``; default: now + the time limit)."""
    started = time.perf_counter()
    if deadline is None:
        deadline = started + options.time_limit_s
    limited = dataclasses.replace(options, time_limit_s=_left(deadline))
    if problem.budget_usd is not None or not solver.capabilities.warm_start or s.n_cols == 0:
        return solver.solve(form, limited)
    lp = column_generation(form, s, limited, solver, deadline)
    if lp.status is SolveStatus.INFEASIBLE:
        return _result(SolveStatus.INFEASIBLE, None, None, None, started, "lp-infeasible", solver)
    if lp.x is None or lp.objective is None:
        return solver.solve(form, dataclasses.replace(options, time_limit_s=_left(deadline)))
    bound = lp.objective if lp.status is SolveStatus.OPTIMAL else -math.inf
    keep = np.ones(form.n_cols, dtype=bool)
    keep[: s.n_cols] = lp.generated
    best = _rounded(problem, s, form, lp.x, keep, options, solver, lp.row_duals, deadline)
    best_x = best.x if best is not None else None
    best_obj = best.objective if best is not None else None
    raw = "lp-bound+rounding"
    if best_obj is None:
        # no rounding survived: a plan from the MILP on a few representative columns
        small = _restricted_mip(problem, s, form, lp.x, options, solver, deadline, lp.row_duals)
        if (
            small is not None
            and small.objective is not None
            and (best_obj is None or small.objective < best_obj)
        ):
            best_x, best_obj, raw = small.x, small.objective, "lp-bound+restricted-mip"
    if best_obj is not None and relative_gap(best_obj, bound) <= options.mip_gap:
        return _result(SolveStatus.OPTIMAL, best_x, best_obj, bound, started, raw, solver)
    if best_x is not None and time.perf_counter() >= deadline - MIN_MIP_S:
        # no time left: the LP bound stands
        return _result(SolveStatus.FEASIBLE, best_x, best_obj, bound, started, raw, solver)
    if form.n_cols > FULL_MIP_COLUMNS:
        # too large for branch and bound on the whole model: it searches the LP's columns
        # plus the restricted set for the rest of the time (its bound is not global)
        keep = keep | restricted_columns(s, form, lp.x)
    found = _branch_and_bound(
        form, s, options, solver, keep, best_x, best_obj, bound, deadline, started
    )
    return _polished(problem, s, form, found, options, solver, deadline, started)


def _polished(
    problem: Problem,
    s: Structure,
    form: Formulation,
    found: SolveResult,
    options: SolveOptions,
    solver: Solver,
    deadline: float,
    started: float,
) -> SolveResult:
    """``found`` with the units no requirement needs trimmed away (see planner.trim)."""
    if not found.status.has_solution or found.x is None or found.objective is None:
        return found
    units = found.x[: s.n_cols]
    trimmed = trim_plan(problem, s, form, units)
    if trimmed is units:
        return found
    done = _complete(form, trimmed, options, solver, max(deadline, time.perf_counter() + 0.5))
    if done is None or done.x is None or done.objective is None:
        return found
    if done.objective >= found.objective:
        return found
    bound = found.dual_bound if found.dual_bound is not None else -math.inf
    gap = relative_gap(done.objective, bound)
    status = SolveStatus.OPTIMAL if gap <= options.mip_gap + 1e-12 else found.status
    return _result(status, done.x, done.objective, bound, started, found.raw_status, solver)


def restricted_columns(s: Structure, form: Formulation, x_lp: FloatArray) -> BoolArray:
    """A small set of columns that still holds good plans: the LP's own, and per demand slot,
    vendor and instance granularity the few cheapest per token/s. Offers that differ only by
    region (the same chip at the same price in twenty regions) are interchangeable here, so
    the set grows with vendors and granularities, not with offers per workload. Gang jobs on
    take-or-pay offers keep both parts of each placement."""
    n_x = s.n_cols
    ratio = form.c[:n_x] / np.maximum(s.inc_coef, 1e-300)
    _, grain = np.unique(s.col_chips_per_x, return_inverse=True)
    group = (s.inc_slot * max(len(s.labels), 1) + s.col_label) * (int(grain.max()) + 1) + grain
    keep = np.ones(form.n_cols, dtype=bool)
    keep[:n_x] = rank_in_group(group, ratio) < RESTRICTED_PER_GROUP
    keep[:n_x] |= x_lp[:n_x] > 1e-9
    linked = ~s.col_whole_job & (s.pair_gang_units[s.col_pair] > 0)
    keep[:n_x] |= linked
    return keep


def _restricted_mip(
    problem: Problem,
    s: Structure,
    form: Formulation,
    x_lp: FloatArray,
    options: SolveOptions,
    solver: Solver,
    deadline: float,
    duals: FloatArray | None,
) -> SolveResult | None:
    """A plan from the MILP restricted to ``restricted_columns``, improved by local search;
    it takes at most a share of the time left, so branch and bound still gets the rest."""
    left = deadline - time.perf_counter()
    if left <= MIN_MIP_S:
        return None
    keep = restricted_columns(s, form, x_lp)
    budget = max(MIN_MIP_S, RESTRICTED_SHARE * left)
    small = restrict(form, keep)
    result = solver.solve(small, dataclasses.replace(options, time_limit_s=budget, relax=False))
    if not result.status.has_solution or result.x is None:
        return None
    units = trim_plan(problem, s, form, _expand(result.x, keep)[: s.n_cols])
    better = improve_plan(problem, s, form, units, duals, deadline=deadline)
    for candidate in (better, units) if better is not units else (units,):
        done = _complete(form, candidate, options, solver, deadline)
        if done is not None:
            return done
    return None


def _left(deadline: float) -> float:
    return max(MIN_SOLVE_S, deadline - time.perf_counter())


def _branch_and_bound(
    form: Formulation,
    s: Structure,
    options: SolveOptions,
    solver: Solver,
    keep: BoolArray,
    best_x: FloatArray | None,
    best_obj: float | None,
    bound: float,
    deadline: float,
    started: float,
) -> SolveResult:
    whole = form.n_cols <= FULL_MIP_COLUMNS
    if best_x is not None:
        keep = keep | (best_x > 0.5)
    model = form if whole else restrict(form, keep)
    start = None if best_x is None else (best_x if whole else best_x[keep])
    mip = solver.solve(model, dataclasses.replace(options, time_limit_s=_left(deadline)), start)
    if whole and mip.status is SolveStatus.INFEASIBLE and best_x is None:
        return mip
    improved = mip.objective is not None and (
        best_obj is None or mip.objective < best_obj - 1e-9 * abs(best_obj)
    )
    if mip.status.has_solution and mip.x is not None and improved:
        best_obj = mip.objective
        best_x = mip.x if whole else _expand(mip.x, keep)
    if whole and mip.dual_bound is not None and mip.status.has_solution:
        bound = max(bound, mip.dual_bound)
    if best_x is None or best_obj is None:
        failed = (
            SolveStatus.INFEASIBLE
            if mip.status is SolveStatus.INFEASIBLE
            else SolveStatus.NO_SOLUTION
        )
        return _result(failed, None, None, None, started, mip.raw_status, solver)
    proven = relative_gap(best_obj, bound) <= options.mip_gap + 1e-12
    if whole and mip.status is SolveStatus.OPTIMAL:
        proven = True
    status = SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE
    raw = mip.raw_status if whole else f"{mip.raw_status} (on generated columns)"
    return _result(status, best_x, best_obj, bound, started, raw, solver)


def _expand(x: FloatArray, keep: BoolArray) -> FloatArray:
    full = np.zeros(keep.size)
    full[keep] = x
    return full
