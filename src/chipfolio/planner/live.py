"""A built model kept in the solver and changed in place: the seam for counterfactuals.

The analyses and the simulation ask many questions of one portfolio — a vendor's prices
times m, a vendor's offers gone, a share cap moved, capacity lost in an event. Each is a
change of column costs, column bounds, row bounds or a few coefficients of the model built
once, so ``LiveModel`` applies them to the solver's copy (HiGHS ``changeColsCost``,
``changeColsBounds``, ``changeRowsBounds``, ``changeCoeff``) and re-solves: an LP re-solve
starts from the previous basis, a MILP from the caller's start. Nothing is rebuilt.

Typical use::

    live = LiveModel(build_model(problem, prune_pairs=False))
    with live.changed():                      # every change inside is undone on exit
        live.scale_label("aws", 1.2)          # or close_label, set_max_share, set_bounds ...
        result = live.solve(SolveMode.EXACT, start=x0, cutoff=w, node_limit=50_000)

Reported results never depend on the machine's speed or load: MILP solves stop on a node
count (``node_limit``), a deterministic work limit; the wall-clock limit in the options is
only a safety net, and a result it cut short has the raw status ``kTimeLimit``.

A model built with pair pruning stays valid for price scaling and vendor removal only when
the policy groups by vendor (pruning merges twins of one vendor label); build with
``prune_pairs=False`` for other changes (see ``prune_is_safe``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import FloatArray, IntArray, Problem
from chipfolio.planner.seam import Model, Solution, SolveMode
from chipfolio.planner.solvers.base import Ranging, SolveOptions, SolveStatus


class LiveBackend(Protocol):
    """What a solver adapter offers for a model changed in place (see solvers.highs)."""

    def change_costs(self, cols: IntArray, values: FloatArray) -> None: ...
    def change_bounds(self, cols: IntArray, lower: FloatArray, upper: FloatArray) -> None: ...
    def change_row_bounds(self, rows: IntArray, lower: FloatArray, upper: FloatArray) -> None: ...
    def change_coefficient(self, row: int, col: int, value: float) -> None: ...
    def change_offset(self, value: float) -> None: ...
    def solve(
        self,
        relax: bool,
        options: SolveOptions,
        start: FloatArray | None = None,
        node_limit: int | None = None,
        objective_bound: float | None = None,
    ) -> Solution: ...
    def ranging(self) -> Ranging | None: ...


def prune_is_safe(problem: Problem) -> bool:
    """True when a pruned model answers vendor price and removal changes exactly: pruning
    then only merges twins under one vendor label, and with share caps only equal-price
    ones, so scaling or closing a label keeps every merge valid."""
    return not problem.policy.is_trivial and problem.policy.caps_shares


def _open_backend(form: Formulation, options: SolveOptions) -> LiveBackend:
    if options.solver != "highs":
        from chipfolio.errors import UnknownNameError

        raise UnknownNameError("solver for in-place changes", options.solver, ("highs",))
    from chipfolio.planner.solvers.highs import HighsLive

    return HighsLive(form, options)


class LiveModel:
    """``model`` held in the solver; changes apply in place and ``changed()`` undoes them."""

    def __init__(self, model: Model, options: SolveOptions | None = None) -> None:
        self.model = model
        self.options = options or SolveOptions()
        base = model.formulation
        self.base = base
        n = base.n_cols
        # one extra row, "objective <= cutoff", free unless a solve asks for a cutoff
        self._cutoff_row = base.n_rows
        self._form = _with_free_cutoff_row(base)
        self.cost = base.c.astype(np.float64).copy()
        self.lower = base.col_lower.astype(np.float64).copy()
        self.upper = base.col_upper.astype(np.float64).copy()
        self.row_lower = base.row_lower.astype(np.float64).copy()
        self.row_upper = base.row_upper.astype(np.float64).copy()
        self.offset = float(base.objective_offset)
        self._coef: dict[tuple[int, int], float] = {}
        self._row_cache: dict[tuple[str, str | None], IntArray] = {}
        self._undo: list[list[tuple[str, tuple[object, ...]]]] = []
        self._backend = _open_backend(self._form, self.options)
        self.solves = 0
        self.seconds = 0.0
        self._x_cols = np.arange(model.x_columns.start, model.x_columns.stop)
        self._n = n

    # ----- changes -------------------------------------------------------------------------

    def _record(self, kind: str, *args: object) -> None:
        if self._undo:
            self._undo[-1].append((kind, args))

    @contextlib.contextmanager
    def changed(self) -> Iterator[LiveModel]:
        """A scope whose changes are undone on exit (scopes nest)."""
        self._undo.append([])
        try:
            yield self
        finally:
            for kind, args in reversed(self._undo.pop()):
                getattr(self, "_restore_" + kind)(*args)

    def set_costs(self, cols: IntArray, values: FloatArray) -> None:
        cols = np.asarray(cols, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        self._record("costs", cols, self.cost[cols].copy())
        self._restore_costs(cols, values)

    def _restore_costs(self, cols: IntArray, values: FloatArray) -> None:
        self.cost[cols] = values
        self._backend.change_costs(cols, values)
        for col, value in zip(cols.tolist(), values.tolist(), strict=True):
            self._backend.change_coefficient(self._cutoff_row, col, value)

    def set_bounds(self, cols: IntArray, lower: FloatArray, upper: FloatArray) -> None:
        cols = np.asarray(cols, dtype=np.int64)
        self._record("bounds", cols, self.lower[cols].copy(), self.upper[cols].copy())
        self._restore_bounds(cols, np.asarray(lower, np.float64), np.asarray(upper, np.float64))

    def _restore_bounds(self, cols: IntArray, lower: FloatArray, upper: FloatArray) -> None:
        self.lower[cols] = lower
        self.upper[cols] = upper
        self._backend.change_bounds(cols, self.lower[cols], self.upper[cols])

    def set_row_bounds(self, rows: IntArray, lower: FloatArray, upper: FloatArray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self._record("row_bounds", rows, self.row_lower[rows].copy(), self.row_upper[rows].copy())
        self._restore_row_bounds(rows, np.asarray(lower, np.float64), np.asarray(upper, np.float64))

    def _restore_row_bounds(self, rows: IntArray, lower: FloatArray, upper: FloatArray) -> None:
        self.row_lower[rows] = lower
        self.row_upper[rows] = upper
        self._backend.change_row_bounds(rows, self.row_lower[rows], self.row_upper[rows])

    def set_coefficient(self, row: int, col: int, value: float) -> None:
        self._record("coefficient", row, col, self.coefficient(row, col))
        self._restore_coefficient(row, col, value)

    def _restore_coefficient(self, row: int, col: int, value: float) -> None:
        self._coef[(row, col)] = value
        self._backend.change_coefficient(row, col, value)

    def coefficient(self, row: int, col: int) -> float:
        if (row, col) in self._coef:
            return self._coef[(row, col)]
        return float(self.base.A[row, col])

    def set_offset(self, value: float) -> None:
        self._record("offset", self.offset)
        self._restore_offset(value)

    def _restore_offset(self, value: float) -> None:
        self.offset = float(value)
        self._backend.change_offset(self.offset)

    # ----- changes in the portfolio's terms ---------------------------------------------------

    def label_index(self, label: str) -> int:
        labels = self.model.structure.labels
        if label not in labels:
            raise KeyError(label)
        return labels.index(label)

    def label_columns(self, label: str) -> IntArray:
        """Allocation columns (formulation indices) of the vendor ``label``."""
        s = self.model.structure
        local = np.flatnonzero(s.col_label == self.label_index(label))
        return self._x_cols[local]

    def label_fixed_usd(self, label: str) -> float:
        """What ``label``'s take-or-pay commitments cost at today's prices (paid unused)."""
        s = self.model.structure
        mask = s.offer_label == self.label_index(label)
        return float(s.fixed_usd_by_offer[mask].sum())

    def _rows(self, family: str, role: str | None = None) -> IntArray:
        """The base formulation's rows of ``family`` (and ``role``), looked up once."""
        key = (family, role)
        if key not in self._row_cache:
            self._row_cache[key] = self.base.rows_of(family, role)
        return self._row_cache[key]

    def _share_rows(self) -> tuple[IntArray, IntArray, IntArray]:
        """(definition rows, requirement rows, vendor_cost columns) of the share caps,
        each indexed by position among the labels present in the model."""
        form = self.base
        defs = self._rows("share_cap", "definition")
        reqs = self._rows("share_cap", "requirement")
        block = form.var_blocks.get("vendor_cost")
        cols = np.arange(block.offset, block.stop) if block is not None else np.zeros(0, int)
        return defs, reqs, cols.astype(np.int64)

    def _label_position(self, label: str) -> int | None:
        """Index of ``label`` among the share-cap rows (None without share caps)."""
        defs, _, _ = self._share_rows()
        want = self.label_index(label)
        for k, row in enumerate(defs.tolist()):
            if int(self.base.row_key_a[row]) == want:
                return k
        return None

    def scale_label(self, label: str, multiplier: float) -> None:
        """Every price of ``label`` (its columns and its commitments) times ``multiplier``."""
        cols = self.label_columns(label)
        self.set_costs(cols, self.base.c[cols] * multiplier)
        fixed = self.label_fixed_usd(label)
        # from today's prices: the scope that scales a label starts from multiplier 1
        self.set_offset(self.offset + fixed * (multiplier - 1.0))
        k = self._label_position(label)
        if k is not None:
            # vendor_cost[v] = m * (sum c_j x_j + fixed_v): divide the definition row's
            # coefficient on vendor_cost[v] (-1) by m
            defs, _, vcols = self._share_rows()
            if multiplier <= 0.0:
                raise ValueError("a price multiplier must be > 0 under share caps")
            self.set_coefficient(int(defs[k]), int(vcols[k]), -1.0 / multiplier)

    def close_label(self, label: str) -> None:
        """``label``'s offers removed: its columns closed and its commitments dropped."""
        cols = self.label_columns(label)
        self.set_bounds(cols, np.zeros(cols.size), np.zeros(cols.size))
        fixed = self.label_fixed_usd(label)
        if fixed:
            self.set_offset(self.offset - fixed)
            k = self._label_position(label)
            if k is not None:
                defs, _, _ = self._share_rows()
                row = defs[k : k + 1]
                self.set_row_bounds(row, np.zeros(1), np.zeros(1))
        # commitment-first rows (a full commitment before any overflow) hold at zero use

    def set_max_share(self, share: float) -> None:
        """Move the share cap to ``share`` (the model must have been built with caps)."""
        _, reqs, vcols = self._share_rows()
        if not reqs.size:
            raise ValueError("the model has no share-cap rows to move")
        n = reqs.size
        for i in range(n):
            for k in range(n):
                value = 1.0 - share if i == k else -share
                self.set_coefficient(int(reqs[i]), int(vcols[k]), value)

    def relax_family(self, family: str, role: str = "requirement") -> None:
        """Open a family's rows of ``role`` (their bounds to +-inf): e.g. ``share_cap``."""
        rows = self._rows(family, role)
        if rows.size:
            self.set_row_bounds(rows, np.full(rows.size, -np.inf), np.full(rows.size, np.inf))

    def cap_label_costs(self, limit_usd: float) -> None:
        """Each label's cost (the share caps' ``vendor_cost`` columns) at most ``limit_usd``;
        nothing without share caps."""
        _, _, vcols = self._share_rows()
        if vcols.size:
            limit = np.minimum(self.upper[vcols], limit_usd)
            self.set_bounds(vcols, self.lower[vcols].copy(), np.maximum(limit, self.lower[vcols]))

    def drop_share_caps(self) -> None:
        """The model as built without share caps: the cap rows opened, and with them the
        commitment-first rows that only share caps need (see constraints.take_or_pay)."""
        self.relax_family("share_cap")
        self.relax_family("take_or_pay", "definition")

    # ----- solving ---------------------------------------------------------------------------

    def solve(
        self,
        mode: SolveMode = SolveMode.EXACT,
        options: SolveOptions | None = None,
        *,
        start: FloatArray | None = None,
        cutoff: float | None = None,
        node_limit: int | None = None,
    ) -> Solution:
        """Solve the model as changed: ``LP`` (warm basis, row duals) or ``EXACT`` (MILP).

        ``cutoff`` keeps only plans cheaper than it (INFEASIBLE then means "none cheaper").
        """
        opts = options or self.options
        started = time.perf_counter()
        relax = mode is SolveMode.LP
        # a MILP takes the cutoff as the solver's objective bound (it prunes on it without
        # the dense extra row, which made its LPs and proofs several times slower); an LP
        # takes it as the cutoff row's bound, and so does a MILP the bound left unsettled
        # (the solver stopped on its gap against a solution above the bound)
        result = None
        if cutoff is not None and not relax:
            result = self._backend.solve(relax, opts, start, node_limit, objective_bound=cutoff)
            if result.status is SolveStatus.NO_SOLUTION and result.raw_status == "kOptimal":
                result = None
        if result is None:
            left = opts.time_limit_s - (time.perf_counter() - started)  # one limit for both
            rest = dataclasses.replace(opts, time_limit_s=max(left, 1e-3))
            result = self._solve_with_row(relax, rest, start, cutoff, node_limit)
        self.solves += 1
        self.seconds += time.perf_counter() - started
        if result.row_duals is not None:
            result = dataclasses.replace(result, row_duals=result.row_duals[: self.base.n_rows])
        return result

    def _solve_with_row(
        self,
        relax: bool,
        opts: SolveOptions,
        start: FloatArray | None,
        cutoff: float | None,
        node_limit: int | None,
    ) -> Solution:
        row = np.array([self._cutoff_row], dtype=np.int64)
        if cutoff is not None:
            self._backend.change_row_bounds(
                row, np.array([-np.inf]), np.array([cutoff - self.offset])
            )
        try:
            return self._backend.solve(relax, opts, start, node_limit)
        finally:
            if cutoff is not None:
                self._backend.change_row_bounds(row, np.array([-np.inf]), np.array([np.inf]))

    def ranging(self) -> Ranging | None:
        """LP sensitivity ranges of the last optimal ``LP`` solve (exact for the LP only)."""
        return self._backend.ranging()

    def formulation(self) -> Formulation:
        """The model as changed, as a plain Formulation (for checks and decoding)."""
        A = self.base.A.tolil(copy=True)
        for (row, col), value in self._coef.items():
            A[row, col] = value
        return dataclasses.replace(
            self.base,
            c=self.cost.copy(),
            objective_offset=self.offset,
            A=A.tocsc(),
            row_lower=self.row_lower.copy(),
            row_upper=self.row_upper.copy(),
            col_lower=self.lower.copy(),
            col_upper=self.upper.copy(),
        )

    def objective(self, x: FloatArray) -> float:
        """The changed model's objective at ``x``."""
        return float(self.cost @ x) + self.offset

    def spend_by_label(self, x: FloatArray) -> FloatArray:
        """What ``x`` pays each label at today's (unscaled) prices, commitments included."""
        s = self.model.structure
        units = np.maximum(x[self.model.x_columns], 0.0)
        n = len(s.labels)
        spend = np.bincount(s.col_label, weights=s.col_usd_per_x * units, minlength=n)
        fixed = np.bincount(s.offer_label, weights=s.fixed_usd_by_offer, minlength=n)
        return np.asarray(spend + fixed, dtype=np.float64)


def _with_free_cutoff_row(form: Formulation) -> Formulation:
    import scipy.sparse as sp

    row = sp.csr_matrix(form.c.reshape(1, -1))
    return dataclasses.replace(
        form,
        A=sp.vstack([form.A, row]).tocsc(),
        row_lower=np.append(form.row_lower, -np.inf),
        row_upper=np.append(form.row_upper, np.inf),
        row_names=[*form.row_names, "objective_cutoff"],
        row_family=[*form.row_family, "objective_cutoff"],
        row_role=[*form.row_role, "definition"],
        row_key_a=np.append(form.row_key_a, -1),
        row_key_b=np.append(form.row_key_b, -1),
    )
