"""Explain infeasibility: which requirements conflict, and by how much.

Three steps, cheapest first:

1. Static checks that need no solver: a workload (or a time slot of it) no offer can serve,
   a gang job no single offer can hold, fewer vendors than min_vendors or max_share needs,
   demand or N-1 throughput above what every usable offer could supply at full capacity.
2. Relax one requirement family at a time (capacity, take-or-pay, share caps, min_vendors,
   N-1, budget, gang) and re-solve; the families whose removal restores feasibility are the
   conflict. The LP relaxation is used when it is itself infeasible, else the MILP.
3. For each such family, solve an *elastic* version (its rows may be violated at a cost) and
   report how far the closest plan is from meeting each violated row.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable
from itertools import combinations

import numpy as np

from chipfolio.planner.formulation import build_formulation
from chipfolio.planner.model import REQUIREMENT, Formulation
from chipfolio.planner.problem import FloatArray, Problem
from chipfolio.planner.solvers import get_solver
from chipfolio.planner.solvers.base import SolveOptions, SolveResult
from chipfolio.planner.structure import Structure, build_structure

RELAXABLE = ("capacity", "take_or_pay", "share_cap", "min_vendors", "n_minus_1", "budget", "gang")
DIAGNOSE_TIME_LIMIT_S = 10.0
SLACK_TOL = 1e-6


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _slot(problem: Problem, s: Structure, slot: int) -> str:
    name = str(problem.workloads.names[s.slot_workload[slot]])
    start, end = float(s.slot_start_hour[slot]), float(s.slot_end_hour[slot])
    whole = start == 0 and end == float(s.workload_end_hour[s.slot_workload[slot]])
    return f"'{name}'" if whole else f"'{name}' (hours {start:g}-{end:g})"


# ----- step 1: static checks ----------------------------------------------------------------


def _slot_supply(s: Structure, col_mask: FloatArray | None = None) -> FloatArray:
    """Tokens/s each slot could get if every usable column ran at its upper bound."""
    coef = s.inc_coef if col_mask is None else s.inc_coef * col_mask[s.inc_col]
    upper = s.col_upper[s.inc_col]
    coef = np.where(coef > 0, coef * np.where(coef > 0, upper, 0.0), 0.0)
    supply = np.bincount(s.inc_slot, weights=coef, minlength=s.n_slots)
    return supply.astype(np.float64)


def _coverage(problem: Problem, s: Structure) -> list[str]:
    out = []
    covered = np.bincount(s.inc_slot, minlength=s.n_slots) > 0
    gang = problem.workloads.gang
    for slot in np.flatnonzero(~covered).tolist():
        w = int(s.slot_workload[slot])
        if gang[w]:
            out.append(_gang_message(problem, w))
        else:
            out.append(f"{_slot(problem, s, slot)} has no offer it can use at that time")
    supply = _slot_supply(s)
    for slot in np.flatnonzero(covered & (supply < s.slot_demand * (1 - 1e-9))).tolist():
        if gang[s.slot_workload[slot]]:
            continue
        out.append(
            f"demand of {_slot(problem, s, slot)} is {_n(s.slot_demand[slot])} tokens/s but all "
            f"offers it may use supply at most {_n(supply[slot])} tokens/s at full capacity"
        )
    return out


def _gang_message(problem: Problem, w: int) -> str:
    name = str(problem.workloads.names[w])
    runnable = np.flatnonzero(problem.runnable[w])
    if not runnable.size:
        return f"'{name}' has no offer it can use"
    offers = problem.offers
    end = min(float(problem.workloads.deadline_hours[w]), problem.horizon_hours)
    start = np.clip(offers.available_from_hour[runnable], 0, problem.horizon_hours)
    hours = np.maximum(end - start, 1e-300)
    per_chip = problem.tokens_per_s_per_chip[w, runnable]
    needed = problem.workloads.demand_tokens_per_s[w] * end / (per_chip * hours)
    best = int(np.argmin(needed))
    cap = offers.capacity_chips[runnable]
    return (
        f"gang job '{name}' needs all its chips in one offer: at least {_n(needed[best])} chips "
        f"of {offers.chips[runnable[best]]}, but the largest offer it can use holds "
        f"{_n(float(cap.max()))} chips (set splittable: true to spread it)"
    )


def _vendor_counts(problem: Problem, s: Structure) -> list[str]:
    policy, out = problem.policy, []
    col_label = s.col_label
    crit = problem.workloads.critical[s.slot_workload]
    for slot in np.flatnonzero(crit).tolist():
        cols = s.inc_col[s.inc_slot == slot]
        labels = sorted({s.labels[i] for i in col_label[cols].tolist()})
        if not labels:
            continue
        if policy.min_vendors > len(labels):
            out.append(
                f"min_vendors {policy.min_vendors} for {_slot(problem, s, slot)}: only "
                f"{len(labels)} vendor(s) can run it ({', '.join(labels)})"
            )
        if policy.n_minus_1 > 0:
            out.extend(_n1_static(problem, s, slot, labels))
    if policy.caps_shares:
        has = (np.bincount(col_label, minlength=len(s.labels)) > 0) | (
            np.bincount(s.offer_label, weights=s.fixed_usd_by_offer, minlength=len(s.labels)) > 0
        )
        need = math.ceil(1.0 / policy.max_share - 1e-9)
        if int(has.sum()) < need:
            out.append(
                f"max_share {policy.max_share:g} needs spending spread over at least {need} "
                f"vendors; only {int(has.sum())} can be used"
            )
    return out


def _n1_static(problem: Problem, s: Structure, slot: int, labels: list[str]) -> list[str]:
    frac = problem.policy.n_minus_1
    need = frac * float(s.slot_demand[slot])
    out = []
    for label in labels:
        keep = (np.asarray(s.labels)[s.col_label] != label).astype(np.float64)
        supply = float(_slot_supply(s, keep)[slot])
        if supply < need * (1 - 1e-9):
            out.append(
                f"n_minus_1 {frac:g} for {_slot(problem, s, slot)} needs {_n(need)} tokens/s "
                f"outside {label}; offers outside {label} supply at most {_n(supply)} tokens/s "
                f"({supply / float(s.slot_demand[slot]):.2f}x demand)"
            )
    return out


# ----- steps 2 and 3: relax, then quantify --------------------------------------------------


def _solve(form: Formulation, options: SolveOptions, relax: bool) -> SolveResult:
    limit = min(options.time_limit_s, DIAGNOSE_TIME_LIMIT_S)
    if options.deadline_s is not None:  # absolute, set by diagnose() from its deadline
        limit = max(0.05, min(limit, options.deadline_s - time.perf_counter()))
    limited = dataclasses.replace(options, relax=relax, time_limit_s=limit)
    return get_solver(options.solver).solve(form, limited)


def _elastic(form: Formulation, family: str) -> tuple[Formulation, np.ndarray, np.ndarray]:
    """The formulation with ``family``'s requirement rows softened by costed slack columns."""
    rows = form.rows_of(family, REQUIREMENT)
    lower_rows = rows[np.isfinite(form.row_lower[rows])]
    upper_rows = rows[np.isfinite(form.row_upper[rows])]
    slack_rows = np.concatenate([lower_rows, upper_rows])
    signs = np.concatenate([np.ones(lower_rows.size), -np.ones(upper_rows.size)])
    scale = np.maximum(
        np.abs(np.concatenate([form.row_lower[lower_rows], form.row_upper[upper_rows]])), 1.0
    )
    import scipy.sparse as sp

    n = slack_rows.size
    extra = sp.csc_matrix((signs, (slack_rows, np.arange(n))), shape=(form.n_rows, n))
    widened = dataclasses.replace(
        form,
        c=np.concatenate([np.zeros(form.n_cols), 1.0 / scale]),
        objective_offset=0.0,
        A=sp.hstack([form.A, extra], format="csc"),
        col_lower=np.concatenate([form.col_lower, np.zeros(n)]),
        col_upper=np.concatenate([form.col_upper, np.full(n, np.inf)]),
        integrality=np.concatenate([form.integrality, np.zeros(n, np.int64)]),
    )
    return widened, slack_rows, form.n_cols + np.arange(n)


def _describe(
    problem: Problem, s: Structure, form: Formulation, row: int, slack: float, x: np.ndarray
) -> str:
    family = form.row_family[row]
    a, b = int(form.row_key_a[row]), int(form.row_key_b[row])
    policy = problem.policy
    if family in ("capacity", "take_or_pay"):
        what = "capacity" if family == "capacity" else "committed take-or-pay amount"
        limit = float(form.row_upper[row])
        return (
            f"{what} of offer '{problem.offers.ids[b]}' ({_n(limit)} chips) is short by "
            f"{_n(math.ceil(slack))} chips for the workloads that must use it"
        )
    if family == "n_minus_1":
        demand = float(s.slot_demand[a])
        need = policy.n_minus_1 * demand
        have = max(0.0, need - slack)
        return (
            f"n_minus_1 {policy.n_minus_1:g} for {_slot(problem, s, a)} needs {_n(need)} tokens/s "
            f"outside {s.labels[b]}; at most {_n(have)} tokens/s ({have / demand:.2f}x demand) "
            "can be had there alongside the other requirements"
        )
    if family == "min_vendors":
        return (
            f"min_vendors {policy.min_vendors} for {_slot(problem, s, a)}: at most "
            f"{policy.min_vendors - round(slack)} vendor(s) can be used alongside the other "
            "requirements"
        )
    if family == "share_cap":
        block = form.var_blocks["vendor_cost"]
        costs = x[block.offset : block.stop]
        total = float(costs.sum())
        label_index = int(
            np.flatnonzero(form.row_key_a[form.rows_of("share_cap", REQUIREMENT)] == a)[0]
        )
        share = float(costs[label_index]) / total if total > 0 else 1.0
        return (
            f"max_share {policy.max_share:g}: the closest plan still puts {share:.0%} of the cost "
            f"on {s.labels[a]}"
        )
    if family == "budget":
        budget = problem.budget_usd or 0.0
        return (
            f"budget ${_n(budget)} is short by ${_n(slack)}: the critical workloads need at "
            f"least ${_n(budget + slack)}"
        )
    if family == "gang":
        return f"gang job '{problem.workloads.names[b]}' cannot be placed in one offer"
    return f"{form.row_names[row]} cannot be met (short by {slack:,.3g})"


def _quantify(
    problem: Problem,
    s: Structure,
    form: Formulation,
    family: str,
    options: SolveOptions,
    relax: bool,
) -> list[str]:
    elastic, rows, cols = _elastic(form, family)
    result = _solve(elastic, options, relax)
    if not result.status.has_solution or result.x is None:
        return [f"the {family} requirement conflicts with the others"]
    x = result.x
    slack = x[cols]
    relative = slack * elastic.c[cols]
    out = []
    for i in np.argsort(-relative).tolist():
        if relative[i] > SLACK_TOL:
            out.append(_describe(problem, s, form, int(rows[i]), float(slack[i]), x))
    return out or [f"the {family} requirement conflicts with the others"]


def _feasible_without(
    problem: Problem, s: Structure, skip: Iterable[str], options: SolveOptions, relax: bool
) -> bool:
    form = build_formulation(problem, s, skip=skip)
    return _solve(form, options, relax).status.has_solution


def diagnose(
    problem: Problem, options: SolveOptions | None = None, *, deadline: float | None = None
) -> list[str]:
    """Human-readable reasons why ``problem`` has no plan (empty if none could be found).

    With ``deadline`` (``time.perf_counter``), every solve of the diagnosis stops by then."""
    options = options or SolveOptions()
    if deadline is not None:
        options = dataclasses.replace(options, deadline_s=deadline)
    s = build_structure(problem)
    static = _coverage(problem, s) + _vendor_counts(problem, s)
    if static:
        return static
    form = build_formulation(problem, s)
    relax = not _solve(form, options, relax=True).status.has_solution
    if not relax and _solve(form, options, relax=False).status.has_solution:
        return []  # feasible after all (a limit may have stopped the first solve)
    present = [f for f in RELAXABLE if f in form.families() and form.rows_of(f, REQUIREMENT).size]
    culprits = [f for f in present if _feasible_without(problem, s, [f], options, relax)]
    if culprits:
        messages: list[str] = []
        for family in culprits:
            messages += _quantify(problem, s, form, family, options, relax)
        return messages
    for pair in combinations(present, 2):
        if _feasible_without(problem, s, pair, options, relax):
            found: list[str] = []
            for family in pair:
                found += _quantify(problem, s, form, family, options, relax)
            return [
                f"{pair[0]} and {pair[1]} together conflict with demand: " + found[0],
                *found[1:],
            ]
    if not relax:
        return [
            "no plan with whole instances meets every requirement, although a fractional one "
            "does; loosen max_share, n_minus_1 or min_vendors, or add capacity"
        ]
    return ["the requirements conflict with demand and capacity in a way no single family explains"]
