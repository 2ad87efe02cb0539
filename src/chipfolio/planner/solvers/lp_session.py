"""Many small LPs in a row on one HiGHS instance (the simulation's re-plans solve thousands).

``HighsSolver.solve`` builds a fresh ``Highs`` per call and hooks a Python interrupt
callback into its simplex; for an LP of a few dozen columns that set-up costs about as much
as the solve. ``LpSession`` keeps one instance and hands each LP to it with ``passModel``,
which replaces the model and drops every basis and solution of the previous one, so each
LP is solved from scratch with the same options as ``HighsSolver`` and gives the same
answer (the simulation's tests and benchmark compare whole result documents). The time
limit is HiGHS's own (an LP of this size finishes in milliseconds); MILPs and anything that
needs duals, starts or a hard deadline go through ``HighsSolver``.

``presolve=False`` skips HiGHS's presolve: on a re-plan LP of a few dozen columns it takes
longer than the simplex itself (0.25 ms per LP instead of 0.55 on the bundled example's
re-plans). The optimum is the same; where an LP has several optimal vertices the one
found can differ from ``HighsSolver``'s, which is still a deterministic function of the LP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipfolio.errors import SolverError
from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import FloatArray
from chipfolio.planner.solvers.base import SolveOptions
from chipfolio.planner.solvers.highs import FEASIBLE_SOLUTION, LIMIT_STATUSES, new_highs


class LpSession:
    """Solves LP relaxations of formulations one after another on a reused HiGHS instance."""

    def __init__(self, options: SolveOptions, *, presolve: bool = True) -> None:
        self.options = options
        self.presolve = presolve
        self._highspy: Any = None
        self._highs: Any = None

    def _instance(self) -> tuple[Any, Any]:
        if self._highs is None:
            try:
                import highspy
            except ImportError as exc:  # pragma: no cover - highspy is a core dependency
                missing = "the HiGHS solver is not installed (pip install highspy)"
                raise SolverError(missing) from exc
            self._highspy = highspy
            self._highs = new_highs(highspy)
            h, o = self._highs, self.options
            h.setOptionValue("output_flag", o.verbose)
            h.setOptionValue("mip_rel_gap", float(o.mip_gap))
            h.setOptionValue("random_seed", int(o.seed))
            h.setOptionValue("threads", int(o.threads))
        return self._highspy, self._highs

    @property
    def seconds(self) -> float:
        """HiGHS's run time over every LP this session solved (0 before the first)."""
        return 0.0 if self._highs is None else float(self._highs.getRunTime())

    def solve(self, form: Formulation) -> tuple[FloatArray, float] | None:
        """The LP optimum of ``form`` (integrality ignored): (column values, objective).

        None when the LP is infeasible or unbounded or the solve ends without a solution.
        """
        if form.n_cols == 0:  # as HighsSolver: feasible iff every row admits 0
            ok = bool(((form.row_lower <= 1e-9) & (form.row_upper >= -1e-9)).all())
            return (np.zeros(0), float(form.objective_offset)) if ok else None
        highspy, h = self._instance()
        lp = self._lp(highspy, form)
        limit = float(self.options.time_limit_s)
        answer = self._run(highspy, h, lp, presolve=self.presolve, limit=limit)
        if answer == "kUnboundedOrInfeasible" and self.presolve:
            # as HighsSolver: presolve could not tell which; the same LP without it can
            answer = self._run(highspy, h, lp, presolve=False, limit=limit)
        return None if isinstance(answer, str) else answer

    @staticmethod
    def _lp(highspy: Any, form: Formulation) -> tuple[Any, ...]:
        """``passModel``'s arguments for the LP of ``form`` (column-wise, minimise)."""
        matrix = form.A.tocsc()
        return (
            form.n_cols,
            form.n_rows,
            int(matrix.nnz),
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize),
            float(form.objective_offset),
            np.ascontiguousarray(form.c, dtype=np.float64),
            np.ascontiguousarray(form.col_lower, dtype=np.float64),
            np.ascontiguousarray(form.col_upper, dtype=np.float64),
            np.ascontiguousarray(form.row_lower, dtype=np.float64),
            np.ascontiguousarray(form.row_upper, dtype=np.float64),
            matrix.indptr.astype(np.int32),
            matrix.indices.astype(np.int32),
            matrix.data.astype(np.float64),
            np.zeros(form.n_cols, dtype=np.int32),  # every column continuous
        )

    @staticmethod
    def _run(
        highspy: Any, h: Any, lp: tuple[Any, ...], *, presolve: bool, limit: float
    ) -> tuple[FloatArray, float] | str:
        """(values, objective), or HiGHS's model status when there is no solution.

        HiGHS measures its time limit on a clock that adds up every run of the instance
        (neither passModel nor clear resets it), so each run's limit is set past the time
        already spent: every LP gets ``limit`` seconds of its own.
        """
        try:
            h.setOptionValue("presolve", "on" if presolve else "off")
            h.setOptionValue("time_limit", float(h.getRunTime()) + limit)
            if h.passModel(*lp) == highspy.HighsStatus.kError:
                raise SolverError("HiGHS rejected the model (invalid matrix or bounds)")
            h.run()
            raw = str(h.getModelStatus()).rsplit(".", 1)[-1]
            info = h.getInfo()
            has_x = info.primal_solution_status == FEASIBLE_SOLUTION
            if raw != "kOptimal" and not (raw in LIMIT_STATUSES and has_x):
                return raw
            x = np.array(h.getSolution().col_value, dtype=np.float64)
            return x, float(info.objective_function_value)
        except SolverError:
            raise
        except Exception as exc:  # translate any library failure at the boundary
            raise SolverError(f"HiGHS failed: {exc}") from exc
