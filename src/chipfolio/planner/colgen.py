"""LP relaxation by column generation: solve over a few columns, price the rest with the duals.

Large portfolios have a million or more allocation columns, of which the LP optimum uses a
few thousand. Starting from the cheapest columns of every demand slot (per vendor, so share
caps and N-1 have options), we solve the restricted LP, compute every column's reduced cost
``c - A^T y`` with one sparse product, add the most negative ones per slot, and repeat until
none is negative: the restricted optimum is then the optimum of the full LP, a valid lower
bound on the MILP.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import BoolArray, FloatArray, IntArray
from chipfolio.planner.solvers.base import SolveOptions, Solver, SolveStatus
from chipfolio.planner.structure import Structure

START_PER_SLOT = 3
START_PER_SLOT_LABEL = 1
ADD_PER_SLOT = 5
MAX_ROUNDS = 60
RC_TOLERANCE = 1e-7


@dataclass(frozen=True, eq=False)
class LpOutcome:
    """The LP optimum over all columns (``x`` full length) and which x columns were used."""

    status: SolveStatus
    objective: float | None
    x: FloatArray | None
    row_duals: FloatArray | None
    generated: BoolArray
    rounds: int
    seconds: float


def restrict(form: Formulation, keep: BoolArray) -> Formulation:
    """The same model with the x columns outside ``keep`` fixed at zero (removed)."""
    cols = np.flatnonzero(keep)
    return dataclasses.replace(
        form,
        c=form.c[cols],
        A=form.A[:, cols],
        col_lower=form.col_lower[cols],
        col_upper=form.col_upper[cols],
        integrality=form.integrality[cols],
        var_blocks={},
    )


def _rank_in_group(group: IntArray, key: FloatArray) -> IntArray:
    """Rank (0 = best) of each element by ``key`` within its ``group``."""
    order = np.lexsort((key, group))
    sorted_group = group[order]
    start = np.ones(order.size, dtype=bool)
    start[1:] = sorted_group[1:] != sorted_group[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(order.size), 0))
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size) - first
    return rank


def starting_columns(s: Structure, cost: FloatArray, n_x: int) -> BoolArray:
    """The cheapest columns per slot, and per (slot, vendor), by cost per token/s."""
    ratio = cost[:n_x] / np.maximum(s.inc_coef, 1e-300)
    slot = s.inc_slot
    keep = _rank_in_group(slot, ratio) < START_PER_SLOT
    by_label = slot * max(len(s.labels), 1) + s.col_label
    keep |= _rank_in_group(by_label, ratio) < START_PER_SLOT_LABEL
    return keep


def column_generation(
    form: Formulation,
    s: Structure,
    options: SolveOptions,
    solver: Solver,
    deadline: float,
) -> LpOutcome:
    """Solve the LP relaxation of ``form`` by column generation (see the module docstring)."""
    started = time.perf_counter()
    n_x = form.var_blocks["x"].stop
    in_set = np.ones(form.n_cols, dtype=bool)
    in_set[:n_x] = starting_columns(s, form.c, n_x)
    lp_options = dataclasses.replace(options, relax=True)
    rounds = 0
    while True:
        rounds += 1
        limit = max(1.0, deadline - time.perf_counter())
        result = solver.solve(
            restrict(form, in_set), dataclasses.replace(lp_options, time_limit_s=limit)
        )
        if result.status is SolveStatus.INFEASIBLE and not in_set.all():
            wider = in_set[:n_x] | _widen(s, form.c, n_x, in_set[:n_x])
            in_set[:n_x] = wider if wider.sum() > in_set[:n_x].sum() else True
            continue
        if not result.status.has_solution or result.row_duals is None or result.x is None:
            return LpOutcome(
                result.status, None, None, None, in_set[:n_x], rounds, time.perf_counter() - started
            )
        x = np.zeros(form.n_cols)
        x[in_set] = result.x
        reduced = form.c[:n_x] - form.A[:, :n_x].T @ result.row_duals
        scale = np.maximum(np.abs(form.c[:n_x]), 1.0)
        negative = (reduced < -RC_TOLERANCE * scale) & ~in_set[:n_x]
        if not negative.any() or rounds >= MAX_ROUNDS or time.perf_counter() > deadline:
            status = SolveStatus.OPTIMAL if not negative.any() else SolveStatus.FEASIBLE
            return LpOutcome(
                status, result.objective, x, result.row_duals, in_set[:n_x].copy(), rounds,
                time.perf_counter() - started,
            )  # fmt: skip
        cand = np.flatnonzero(negative)
        rank = _rank_in_group(s.inc_slot[cand], reduced[cand])
        in_set[cand[rank < ADD_PER_SLOT]] = True


def _widen(s: Structure, cost: FloatArray, n_x: int, current: BoolArray) -> BoolArray:
    """More starting columns per slot (ten times as many) when the start is infeasible."""
    ratio = cost[:n_x] / np.maximum(s.inc_coef, 1e-300)
    have = np.bincount(s.inc_slot[current], minlength=s.n_slots)
    rank = _rank_in_group(s.inc_slot, ratio)
    widened: BoolArray = rank < np.maximum(10 * have[s.inc_slot], 10)
    return widened
