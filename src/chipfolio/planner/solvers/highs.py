"""HiGHS adapter: the only module that imports highspy (lazily, at solve time)."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import threading
import time
from typing import Any

import numpy as np

from chipfolio.errors import SolverError
from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import FloatArray, IntArray
from chipfolio.planner.solvers.base import (
    Ranging,
    SolveOptions,
    SolverCapabilities,
    SolveResult,
    SolveStatus,
    relative_gap,
)
from chipfolio.planner.solvers.guard import Incumbent, Report, can_fork, run_guarded

_BANNER_LOCK = threading.Lock()
_banner_silenced = False


def new_highs(highspy: Any) -> Any:
    """A fresh ``Highs`` instance, with the copyright banner kept off standard output.

    highspy 1.16 prints a banner to file descriptor 1 on the first construction in a process,
    before any option can switch it off; it would corrupt ``--json -`` output and piped
    tables. The first construction runs with fd 1 pointed at /dev/null (once, under a lock).
    """
    global _banner_silenced
    if _banner_silenced:
        return highspy.Highs()
    with _BANNER_LOCK:
        if _banner_silenced:
            return highspy.Highs()
        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _banner_silenced = True
        return h


FEASIBLE_SOLUTION = 2  # HiGHS's kSolutionStatusFeasible
LIMIT_STATUSES = {
    "kTimeLimit",
    "kIterationLimit",
    "kSolutionLimit",
    "kInterrupt",
    "kHighsInterrupt",
    "kObjectiveBound",
    "kObjectiveTarget",
    "kMemoryLimit",
}


def _import_highspy() -> Any:
    try:
        import highspy
    except ImportError as exc:  # pragma: no cover - highspy is a core dependency
        raise SolverError("the HiGHS solver is not installed (pip install highspy)") from exc
    return highspy


def _lp(highspy: Any, form: Formulation, relax: bool) -> Any:
    lp = highspy.HighsLp()
    lp.num_col_ = form.n_cols
    lp.num_row_ = form.n_rows
    lp.offset_ = form.objective_offset
    lp.col_cost_ = form.c
    lp.col_lower_ = form.col_lower
    lp.col_upper_ = form.col_upper
    lp.row_lower_ = form.row_lower
    lp.row_upper_ = form.row_upper
    matrix = form.A.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = form.n_cols
    lp.a_matrix_.num_row_ = form.n_rows
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(np.float64)
    if not relax and form.integrality.any():
        kinds = [highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger]
        lp.integrality_ = [kinds[int(i)] for i in form.integrality]
    return lp


def _configure(h: Any, options: SolveOptions, presolve: bool) -> None:
    h.setOptionValue("output_flag", options.verbose)
    h.setOptionValue("time_limit", float(options.time_limit_s))
    h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    h.setOptionValue("random_seed", int(options.seed))
    h.setOptionValue("threads", int(options.threads))
    h.setOptionValue("presolve", "on" if presolve else "off")
    _set_heuristics(h, options.heuristics)


# HiGHS 1.16's primal heuristics and their defaults (on)
_HEURISTICS = (
    ("mip_heuristic_effort", 0.05, 0.0),
    ("mip_heuristic_run_feasibility_jump", True, False),
    ("mip_heuristic_run_rins", True, False),
    ("mip_heuristic_run_rens", True, False),
    ("mip_heuristic_run_root_reduced_cost", True, False),
)


def _set_heuristics(h: Any, on: bool) -> None:
    for name, default, off in _HEURISTICS:
        h.setOptionValue(name, default if on else off)


def _report_improving(h: Any, report: Report) -> None:
    """Pass every improving MIP solution (with the bound proven so far) to ``report``."""

    def found(event: Any) -> None:
        out = event.data_out
        x = np.array(out.mip_solution, dtype=np.float64)
        report(Incumbent(float(out.objective_function_value), x, float(out.mip_dual_bound)))

    h.cbMipImprovingSolution.subscribe(found)


def _stop_at_deadline(h: Any, deadline: list[float]) -> None:
    """Interrupt a run once ``deadline[0]`` (``time.perf_counter``) has passed.

    HiGHS checks its own ``time_limit`` only at some points of some phases (a long
    primal-heuristic sub-MIP or a presolve pass can run far past it); its interrupt callbacks
    are polled inside the simplex, the interior point method and branch and bound. The
    deadline is read at each check, so an instance solved many times sets it per run."""

    def check(event: Any) -> None:
        if time.perf_counter() >= deadline[0]:
            event.interrupt()

    for hook in (h.cbSimplexInterrupt, h.cbIpmInterrupt, h.cbMipInterrupt):
        hook.subscribe(check)


def feasible(form: Formulation, x: FloatArray, tolerance: float = 1e-6) -> bool:
    """True when ``x`` meets every bound, row and integrality of ``form`` (within tolerance)."""
    if x.shape != (form.n_cols,) or not np.isfinite(x).all():
        return False
    slack = tolerance * np.maximum(1.0, np.abs(x))
    if ((x < form.col_lower - slack) | (x > form.col_upper + slack)).any():
        return False
    whole = form.integrality.astype(bool)
    if (np.abs(x[whole] - np.round(x[whole])) > tolerance).any():
        return False
    activity = form.A @ x
    room = tolerance * np.maximum(1.0, np.abs(activity))
    return bool(((activity >= form.row_lower - room) & (activity <= form.row_upper + room)).all())


def _result(raw: str, info: Any, solution: Any, relax: bool, started: float) -> SolveResult:
    """A finished HiGHS run in solver-neutral terms."""
    has_x = info.primal_solution_status == FEASIBLE_SOLUTION
    status = HighsSolver._status(raw, has_x)
    x = np.array(solution.col_value, dtype=np.float64) if status.has_solution else None
    objective = float(info.objective_function_value) if x is not None else None
    bound, gap = HighsSolver._bound_and_gap(info, objective, relax)
    duals = None
    if relax and x is not None and solution.dual_valid:
        duals = np.array(solution.row_dual, dtype=np.float64)
    return SolveResult(
        status=status,
        x=x,
        objective=objective,
        mip_gap=gap,
        dual_bound=bound,
        seconds=time.perf_counter() - started,
        solver=HighsSolver.name,
        raw_status=raw,
        row_duals=duals,
    )


def _within_bound(result: SolveResult, bound: float) -> SolveResult:
    """A run under an objective bound, in the caller's terms: only solutions below it count.

    HiGHS can hand back a solution above its ``objective_bound`` (one a heuristic found while
    the search pruned everything the bound excludes). Such a run proves "none cheaper than
    the bound" when its proven lower bound reaches the bound (INFEASIBLE), and nothing
    otherwise (NO_SOLUTION).
    """
    objective = result.objective
    if not math.isfinite(bound) or objective is None:
        return result
    tol = 1e-9 * max(1.0, abs(bound))
    if objective <= bound + tol:
        return result
    proven = result.dual_bound is not None and result.dual_bound >= bound - tol
    status = SolveStatus.INFEASIBLE if proven else SolveStatus.NO_SOLUTION
    return dataclasses.replace(result, status=status, x=None, objective=None, mip_gap=None)


def _misread(objective: float, recomputed: float) -> bool:
    return abs(objective - recomputed) > 1e-6 * max(1.0, abs(recomputed))


def _objective_misread(form: Formulation, result: SolveResult) -> bool:
    """True when HiGHS's objective is not its own solution's (see ``_start_misread``)."""
    if result.x is None or result.objective is None:
        return False
    return _misread(result.objective, float(form.c @ result.x) + form.objective_offset)


def _start_misread(h: Any) -> bool:
    """True when a MILP run reports an objective its solution does not have.

    HiGHS 1.16 can misprice a MIP start "in the reduced space" after presolve (seen with
    share-cap rows opened: the start's objective there came out 93 below its true 405), and
    then prunes every plan above that wrong value and reports the start as optimal. Such a
    run is repeated without presolve, where the start is priced right.
    """
    x = np.array(h.getSolution().col_value, dtype=np.float64)
    if x.size == 0 or h.getInfo().primal_solution_status != FEASIBLE_SOLUTION:
        return False
    lp = h.getLp()
    recomputed = float(np.array(lp.col_cost_) @ x) + float(lp.offset_)
    return _misread(float(h.getInfo().objective_function_value), recomputed)


class HighsSolver:
    """Solves a Formulation with HiGHS (MILP by branch and bound, LP by simplex/IPM)."""

    name = "highs"
    capabilities = SolverCapabilities(
        integer=True,
        row_duals=True,
        warm_start=True,
        time_limit=True,
        mip_gap=True,
        deterministic=True,
    )

    def solve(
        self, formulation: Formulation, options: SolveOptions, start: FloatArray | None = None
    ) -> SolveResult:
        highspy = _import_highspy()
        started = time.perf_counter()
        if formulation.n_cols == 0:
            return self._empty(formulation, started)
        relax = options.relax or not formulation.integrality.any()
        if not relax and options.hard_deadline and can_fork():
            return self._guarded(highspy, formulation, options, start, started)
        return self._solve(highspy, formulation, options, relax, start, started, None)

    def _solve(
        self,
        highspy: Any,
        formulation: Formulation,
        options: SolveOptions,
        relax: bool,
        start: FloatArray | None,
        started: float,
        report: Report | None,
    ) -> SolveResult:
        result = self._run(
            highspy, formulation, options, relax, start=start, presolve=True, started=started,
            report=report,
        )  # fmt: skip
        if not relax and _objective_misread(formulation, result):
            # see _start_misread: the same solve without presolve
            result = self._run(
                highspy, formulation, options, relax, start=start, presolve=False,
                started=started, report=report,
            )  # fmt: skip
        if result.raw_status == "kUnboundedOrInfeasible":
            result = self._run(
                highspy, formulation, options, relax, start=start, presolve=False,
                started=started, report=report,
            )  # fmt: skip
        return result

    def _guarded(
        self,
        highspy: Any,
        form: Formulation,
        options: SolveOptions,
        start: FloatArray | None,
        started: float,
    ) -> SolveResult:
        """A MILP solve in a child process that is ended at the time limit (see guard)."""
        deadline = started + float(options.time_limit_s)

        def work(report: Report) -> SolveResult:
            return self._solve(highspy, form, options, False, start, started, report)

        run = run_guarded(work, deadline)
        if isinstance(run.result, SolveResult):
            return run.result
        if run.error is not None and run.incumbent is None:
            raise SolverError(f"HiGHS failed: {run.error}")
        best = run.incumbent
        # HiGHS does not report the caller's start through its improving-solution callback:
        # a feasible start that beats what was streamed is the incumbent
        if start is not None and feasible(form, start):
            value = float(form.c @ start) + form.objective_offset
            if best is None or value < best.objective:
                bound = None if best is None else best.bound
                best = Incumbent(value, np.asarray(start, dtype=np.float64), bound)
        if best is None:
            status, x, objective, bound, gap = SolveStatus.NO_SOLUTION, None, None, None, None
        else:
            status, x, objective = SolveStatus.FEASIBLE, best.x, best.objective
            bound = best.bound if best.bound is not None and math.isfinite(best.bound) else None
            gap = None if bound is None else relative_gap(objective, bound)
        return SolveResult(
            status=status,
            x=x,
            objective=objective,
            mip_gap=gap,
            dual_bound=bound,
            seconds=time.perf_counter() - started,
            solver=self.name,
            raw_status="kTimeLimit (stopped at the deadline)",
        )

    def _run(
        self,
        highspy: Any,
        form: Formulation,
        options: SolveOptions,
        relax: bool,
        *,
        start: FloatArray | None,
        presolve: bool,
        started: float,
        report: Report | None = None,
    ) -> SolveResult:
        h = new_highs(highspy)
        try:
            _configure(h, options, presolve)
            status = h.passModel(_lp(highspy, form, relax))
            if status == highspy.HighsStatus.kError:
                raise SolverError("HiGHS rejected the model (invalid matrix or bounds)")
            _stop_at_deadline(h, [started + float(options.time_limit_s)])
            if report is not None:
                _report_improving(h, report)
            if start is not None and not relax:
                warm = highspy.HighsSolution()
                warm.col_value = np.asarray(start, dtype=np.float64)
                warm.value_valid = True
                h.setSolution(warm)
            h.run()
            model_status = h.getModelStatus()
            raw = str(model_status).rsplit(".", 1)[-1]
            info = h.getInfo()
            solution = h.getSolution()
        except SolverError:
            raise
        except Exception as exc:  # translate any library failure at the boundary
            raise SolverError(f"HiGHS failed: {exc}") from exc
        return _result(raw, info, solution, relax, started)

    @staticmethod
    def _status(raw: str, has_x: bool) -> SolveStatus:
        if raw == "kOptimal":
            return SolveStatus.OPTIMAL
        if raw == "kInfeasible":
            return SolveStatus.INFEASIBLE
        if raw == "kUnbounded":
            return SolveStatus.UNBOUNDED
        if raw in LIMIT_STATUSES:
            return SolveStatus.FEASIBLE if has_x else SolveStatus.NO_SOLUTION
        if raw in ("kModelError", "kLoadError", "kSolveError", "kPresolveError"):
            return SolveStatus.ERROR
        return SolveStatus.UNKNOWN

    @staticmethod
    def _bound_and_gap(
        info: Any, objective: float | None, relax: bool
    ) -> tuple[float | None, float | None]:
        if objective is None:
            return None, None
        if relax:
            return objective, 0.0
        bound = float(info.mip_dual_bound)
        if not math.isfinite(bound):
            return None, None
        return bound, relative_gap(objective, bound)

    def _empty(self, form: Formulation, started: float) -> SolveResult:
        """No variables: feasible iff every row admits 0."""
        ok = bool(((form.row_lower <= 1e-9) & (form.row_upper >= -1e-9)).all())
        return SolveResult(
            status=SolveStatus.OPTIMAL if ok else SolveStatus.INFEASIBLE,
            x=np.zeros(0) if ok else None,
            objective=form.objective_offset if ok else None,
            mip_gap=0.0 if ok else None,
            dual_bound=form.objective_offset if ok else None,
            seconds=time.perf_counter() - started,
            solver=self.name,
            raw_status="empty",
            row_duals=np.zeros(form.n_rows) if ok else None,
        )


class HighsLive:
    """One model held in HiGHS and changed in place between solves (no rebuild, no re-pass).

    Two HiGHS instances share every change: one solves the LP relaxation (its basis carries
    over, so a re-solve after a bound or cost change is a warm dual or primal simplex run and
    ranging is available), the other the MILP (started fresh each run from the caller's
    ``start``: HiGHS reuses nothing between MILP runs, and clearing keeps every run a function
    of the model and options alone). Limits: ``node_limit`` is a deterministic work limit (the
    same answer on any machine and load); the wall-clock limit is only a safety net, and a
    solve it stops says so in its raw status.
    """

    def __init__(self, form: Formulation, options: SolveOptions) -> None:
        self._highspy = _import_highspy()
        self._form = form
        self._options = options
        self._lp: Any = None
        self._mip: Any = None
        self._changes: list[tuple[str, tuple[Any, ...]]] = []
        self._deadline = [math.inf]  # time.perf_counter() at which the running solve stops

    def _instance(self, relax: bool) -> Any:
        h = self._lp if relax else self._mip
        if h is not None:
            return h
        h = new_highs(self._highspy)
        _configure(h, self._options, presolve=True)
        status = h.passModel(_lp(self._highspy, self._form, relax))
        if status == self._highspy.HighsStatus.kError:
            raise SolverError("HiGHS rejected the model (invalid matrix or bounds)")
        for name, args in self._changes:
            getattr(h, name)(*args)
        _stop_at_deadline(h, self._deadline)
        if relax:
            self._lp = h
        else:
            self._mip = h
        return h

    def _apply(self, name: str, *args: Any) -> None:
        if self._lp is None or self._mip is None:  # kept to replay on an instance made later
            self._changes.append((name, args))
        for h in (self._lp, self._mip):
            if h is not None:
                getattr(h, name)(*args)

    def change_costs(self, cols: IntArray, values: FloatArray) -> None:
        idx = np.asarray(cols, dtype=np.int32)
        self._apply("changeColsCost", idx.size, idx, np.asarray(values, dtype=np.float64))

    def change_bounds(self, cols: IntArray, lower: FloatArray, upper: FloatArray) -> None:
        idx = np.asarray(cols, dtype=np.int32)
        lo = np.asarray(lower, dtype=np.float64)
        up = np.asarray(upper, dtype=np.float64)
        self._apply("changeColsBounds", idx.size, idx, lo, up)

    def change_row_bounds(self, rows: IntArray, lower: FloatArray, upper: FloatArray) -> None:
        idx = np.asarray(rows, dtype=np.int32)
        lo = np.asarray(lower, dtype=np.float64)
        up = np.asarray(upper, dtype=np.float64)
        self._apply("changeRowsBounds", idx.size, idx, lo, up)

    def change_coefficient(self, row: int, col: int, value: float) -> None:
        self._apply("changeCoeff", int(row), int(col), float(value))

    def change_offset(self, value: float) -> None:
        self._apply("changeObjectiveOffset", float(value))

    def solve(
        self,
        relax: bool,
        options: SolveOptions,
        start: FloatArray | None = None,
        node_limit: int | None = None,
        objective_bound: float | None = None,
    ) -> SolveResult:
        """One run; ``objective_bound`` (MILP only) keeps only solutions with a lower
        objective: with none, the run ends INFEASIBLE ("none cheaper", proven)."""
        started = time.perf_counter()
        h = self._instance(relax)
        self._deadline[0] = started + float(options.time_limit_s)
        bound = math.inf if relax or objective_bound is None else float(objective_bound)
        try:
            limit = float(options.time_limit_s)
            if relax:
                # HiGHS 1.16 counts an instance's run time over all its runs, and the LP
                # instance is re-run without clearing (its basis carries over): the limit is
                # set past the time already spent, so each LP gets its own
                limit += float(h.getRunTime())
            h.setOptionValue("time_limit", limit)
            h.setOptionValue("mip_rel_gap", float(options.mip_gap))
            h.setOptionValue("mip_max_nodes", int(node_limit) if node_limit else 2**31 - 1)
            h.setOptionValue("objective_bound", bound)
            if not relax:
                # set on every run: leaving a new instance's defaults unset gave another
                # search (another base plan on the bundled example) than setting them
                _set_heuristics(h, options.heuristics)
                h.clearSolver()
                if start is not None:
                    warm = self._highspy.HighsSolution()
                    warm.col_value = np.asarray(start, dtype=np.float64)
                    warm.value_valid = True
                    h.setSolution(warm)
            h.run()
            if not relax and _start_misread(h):
                # a misread objective, with or without a start (seen without one too, under
                # tight column bounds): the same run without presolve
                h.setOptionValue("presolve", "off")
                h.clearSolver()
                if start is not None:
                    h.setSolution(warm)
                h.run()
                h.setOptionValue("presolve", "on")
            raw = str(h.getModelStatus()).rsplit(".", 1)[-1]
            if raw == "kUnboundedOrInfeasible":  # settle it without presolve
                h.setOptionValue("presolve", "off")
                h.clearSolver()
                h.run()
                h.setOptionValue("presolve", "on")
                raw = str(h.getModelStatus()).rsplit(".", 1)[-1]
            info = h.getInfo()
            solution = h.getSolution()
        except SolverError:
            raise
        except Exception as exc:  # translate any library failure at the boundary
            raise SolverError(f"HiGHS failed: {exc}") from exc
        return _within_bound(_result(raw, info, solution, relax, started), bound)

    def ranging(self) -> Ranging | None:
        """Sensitivity ranges of the last optimal LP solve (None when there is none)."""
        h = self._lp
        if h is None or str(h.getModelStatus()).rsplit(".", 1)[-1] != "kOptimal":
            return None
        try:
            status, r = h.getRanging()
        except Exception:  # ranging is advisory: a library failure means no ranges
            return None
        if status != self._highspy.HighsStatus.kOk:
            return None

        def arr(values: Any) -> FloatArray:
            return np.array(values, dtype=np.float64)

        return Ranging(
            col_cost_lower=arr(r.col_cost_dn.value_),
            col_cost_upper=arr(r.col_cost_up.value_),
            row_bound_lower=arr(r.row_bound_dn.value_),
            row_bound_upper=arr(r.row_bound_up.value_),
            row_bound_lower_objective=arr(r.row_bound_dn.objective_),
            row_bound_upper_objective=arr(r.row_bound_up.objective_),
        )
