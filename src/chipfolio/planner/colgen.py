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
import scipy.sparse as sp

from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import BoolArray, FloatArray, IntArray
from chipfolio.planner.solvers.base import SolveOptions, Solver, SolveStatus
from chipfolio.planner.structure import Structure

START_PER_SLOT = 3
START_PER_SLOT_LABEL = 1
ADD_PER_SLOT = 60
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


def rank_in_group(group: IntArray, key: FloatArray) -> IntArray:
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
    keep = rank_in_group(slot, ratio) < START_PER_SLOT
    by_label = slot * max(len(s.labels), 1) + s.col_label
    keep |= rank_in_group(by_label, ratio) < START_PER_SLOT_LABEL
    return keep


def _artificials(form: Formulation, n_x: int) -> tuple[IntArray, FloatArray]:
    """Rows that need an artificial column (finite lower bound) and its big-M cost.

    The cost is a thousand times the dearest way any column serves one unit of that row, so
    an artificial is used only when the restricted columns cannot meet the row at all.
    """
    rows = np.flatnonzero(np.isfinite(form.row_lower) & (form.row_lower > 0))
    coo = form.A[:, :n_x].tocoo()
    positive = coo.data > 0
    per_unit = np.zeros(form.n_rows)
    np.maximum.at(per_unit, coo.row[positive], form.c[coo.col[positive]] / coo.data[positive])
    return rows, 1e3 * np.maximum(per_unit[rows], 1.0)


def _with_artificials(
    form: Formulation, keep: BoolArray, rows: IntArray, cost: FloatArray
) -> Formulation:
    """The restricted model plus one costly slack column per row in ``rows``."""
    sub = restrict(form, keep)
    n = rows.size
    extra = sp.csc_matrix((np.ones(n), (rows, np.arange(n))), shape=(form.n_rows, n))
    return dataclasses.replace(
        sub,
        c=np.concatenate([sub.c, cost]),
        A=sp.hstack([sub.A, extra], format="csc"),
        col_lower=np.concatenate([sub.col_lower, np.zeros(n)]),
        col_upper=np.concatenate([sub.col_upper, np.full(n, np.inf)]),
        integrality=np.concatenate([sub.integrality, np.zeros(n, np.int64)]),
    )


def column_generation(
    form: Formulation,
    s: Structure,
    options: SolveOptions,
    solver: Solver,
    deadline: float,
) -> LpOutcome:
    """Solve the LP relaxation of ``form`` by column generation (see the module docstring).

    Rows the first columns cannot meet get costly artificial slack, so every restricted LP
    is feasible and its duals price the missing columns. If artificials remain in use when
    no column prices out, the full LP is solved directly (it may be infeasible).
    """
    started = time.perf_counter()
    n_x = form.var_blocks["x"].stop
    in_set = np.ones(form.n_cols, dtype=bool)
    in_set[:n_x] = starting_columns(s, form.c, n_x)
    art_rows, art_cost = _artificials(form, n_x)
    lp_options = dataclasses.replace(options, relax=True)
    rounds = 0
    while True:
        rounds += 1
        limit = max(1.0, deadline - time.perf_counter())
        model = _with_artificials(form, in_set, art_rows, art_cost)
        result = solver.solve(model, dataclasses.replace(lp_options, time_limit_s=limit))
        if result.status is SolveStatus.INFEASIBLE and not in_set[:n_x].all():
            # artificials cover demand only: rows such as share caps can still make the
            # restricted LP infeasible where the full one is not, so the full LP decides
            return _full_lp(form, lp_options, solver, deadline, rounds, started)
        if not result.status.has_solution or result.row_duals is None or result.x is None:
            return LpOutcome(
                result.status, None, None, None, in_set[:n_x], rounds, time.perf_counter() - started
            )
        n_in = int(in_set.sum())
        artificial = result.x[n_in:]
        x = np.zeros(form.n_cols)
        x[in_set] = result.x[:n_in]
        reduced = form.c[:n_x] - form.A[:, :n_x].T @ result.row_duals
        scale = np.maximum(np.abs(form.c[:n_x]), 1.0)
        negative = (reduced < -RC_TOLERANCE * scale) & ~in_set[:n_x]
        if not negative.any() and (artificial > 1e-9).any():
            return _full_lp(form, lp_options, solver, deadline, rounds, started)
        if not negative.any() or rounds >= MAX_ROUNDS or time.perf_counter() > deadline:
            status = SolveStatus.OPTIMAL if not negative.any() else SolveStatus.FEASIBLE
            objective = (
                None
                if result.objective is None
                else result.objective - float(artificial @ art_cost)
            )
            return LpOutcome(
                status, objective, x, result.row_duals, in_set[:n_x].copy(), rounds,
                time.perf_counter() - started,
            )  # fmt: skip
        cand = np.flatnonzero(negative)
        rank = rank_in_group(s.inc_slot[cand], reduced[cand])
        in_set[cand[rank < ADD_PER_SLOT]] = True


def _full_lp(
    form: Formulation,
    options: SolveOptions,
    solver: Solver,
    deadline: float,
    rounds: int,
    started: float,
) -> LpOutcome:
    n_x = form.var_blocks["x"].stop
    limit = max(1.0, deadline - time.perf_counter())
    result = solver.solve(form, dataclasses.replace(options, time_limit_s=limit))
    status = SolveStatus.OPTIMAL if result.status is SolveStatus.OPTIMAL else result.status
    return LpOutcome(
        status, result.objective, result.x, result.row_duals, np.ones(n_x, dtype=bool), rounds + 1,
        time.perf_counter() - started,
    )  # fmt: skip
