"""Whole-unit plans being built or changed: what they leave of capacity, and vendor spend.

Shared by the rounding (planner.rounding), the local search (planner.search) and the
share-cap repair (planner.repair).
"""

from __future__ import annotations

import numpy as np

from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import BoolArray, FloatArray, IntArray, Problem
from chipfolio.planner.shares import over_cap, vendor_spend
from chipfolio.planner.structure import Structure

EPS = 1e-7
MAX_GREEDY_STEPS = 10_000
MAX_COMBOS = 2_000


class _State:
    """Units chosen so far and what they leave of capacity and demand."""

    def __init__(self, s: Structure, form: Formulation, units: FloatArray) -> None:
        self.s = s
        self.units = units
        self.cap = s.virtual.capacity_chips[s.check_virtual]
        rows = s.check_inc_row
        self.row_of_col = _csr(s.check_inc_col, rows, s.n_cols)
        use = np.bincount(
            rows,
            weights=s.col_chips_per_x[s.check_inc_col] * units[s.check_inc_col],
            minlength=self.cap.size,
        )
        self.residual = self.cap - use
        self.cost = form.c[: s.n_cols]
        # the formulation's bounds, not the structure's: a variant may have closed columns
        self.upper = np.minimum(s.col_upper, form.col_upper[: s.n_cols])
        self.judge: FloatArray | None = None  # costs that decide a move (default: cost)

    def room(self, cols: IntArray) -> FloatArray:
        """How many more units of each column fit (inf where unlimited)."""
        starts, index = self.row_of_col
        out = np.full(cols.size, np.inf)
        lens = starts[cols + 1] - starts[cols]
        has = lens > 0
        if has.any():
            ends = np.cumsum(lens)
            offsets = np.repeat(starts[cols] - (ends - lens), lens) + np.arange(int(ends[-1]))
            least = np.minimum.reduceat(self.residual[index[offsets]], (ends - lens)[has])
            out[has] = np.floor(least / self.s.col_chips_per_x[cols[has]] + EPS)
        room: FloatArray = np.minimum(out, self.upper[cols] - self.units[cols])
        return room

    def add(self, col: int, n: float) -> None:
        starts, index = self.row_of_col
        self.residual[index[starts[col] : starts[col + 1]]] -= n * self.s.col_chips_per_x[col]
        self.units[col] += n


def _csr(keys: IntArray, values: IntArray, n: int) -> tuple[IntArray, IntArray]:
    order = np.argsort(keys, kind="stable")
    starts = np.zeros(n + 1, dtype=np.int64)
    np.add.at(starts, keys + 1, 1)
    return np.cumsum(starts), values[order]


def fixed_bounds(form: Formulation, units: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Column bounds with the x block pinned to ``units`` (for completing the other vars)."""
    lower, upper = form.col_lower.copy(), form.col_upper.copy()
    lower[: units.size] = units
    upper[: units.size] = units
    return lower, upper


def mask_of(n: int, index: IntArray) -> BoolArray:
    out = np.zeros(n, dtype=bool)
    out[index] = True
    return out


class _Spend:
    """Vendor spend of a plan, for checking share caps after each move."""

    def __init__(self, problem: Problem, s: Structure, units: FloatArray) -> None:
        self.cap = problem.policy.max_share
        self.by_label: FloatArray = vendor_spend(s, units)

    def after(self, delta: FloatArray) -> FloatArray:
        out: FloatArray = self.by_label + delta
        return out

    def over(self, spend: FloatArray) -> BoolArray:
        """Labels whose spend would break the cap (none when caps are off)."""
        return over_cap(spend, self.cap)


def _spread(n: int, index: IntArray, values: FloatArray) -> FloatArray:
    out = np.zeros(n)
    out[index] = values
    return out


def _as_full(st: _State, cols: IntArray, values: FloatArray) -> FloatArray:
    full = np.zeros(st.units.size)
    full[cols] = values
    return full
