"""The solver seam: options, result, status enum and the Solver protocol every adapter meets."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import FloatArray


class SolveStatus(StrEnum):
    """Outcome of one solve, independent of the solver library."""

    OPTIMAL = "optimal"  # proven optimal within the requested gap
    FEASIBLE = "feasible"  # a solution, but a limit stopped the proof
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    NO_SOLUTION = "no_solution"  # a limit was hit before any solution was found
    UNKNOWN = "unknown"  # anything the adapter cannot classify
    ERROR = "error"

    @property
    def has_solution(self) -> bool:
        return self in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)


@dataclass(frozen=True, slots=True)
class SolveOptions:
    """How to solve: limits, tolerance, determinism and pre-solve reductions.

    ``mip_gap`` is relative (0.001 = 0.1%). ``threads`` and ``seed`` are fixed so the same
    model gives the same plan. ``relax`` solves the LP relaxation (row duals then available).
    ``prune`` removes dominated offers per workload before building the model.
    ``hard_deadline`` runs MILP solves where they can be stopped at ``time_limit_s`` (a
    forked process; see solvers.guard) instead of trusting the solver to stop by itself.
    ``deadline_s`` (a ``time.perf_counter`` instant, this process only) caps multi-solve
    procedures such as the infeasibility diagnosis. ``heuristics`` False turns the MILP's
    primal heuristics off, for a solve expected to prove that no plan is cheaper than a
    bound: there they find nothing and take most of the time (the search still finds a
    plan if there is one, only more slowly).
    """

    time_limit_s: float = 60.0
    mip_gap: float = 1e-3
    threads: int = 1
    seed: int = 0
    relax: bool = False
    prune: bool = True
    solver: str = "highs"
    verbose: bool = False
    hard_deadline: bool = True
    deadline_s: float | None = None
    heuristics: bool = True

    def __post_init__(self) -> None:
        if not self.time_limit_s > 0:
            raise ValueError("time_limit_s must be > 0")
        if not 0.0 <= self.mip_gap < 1.0:
            raise ValueError("mip_gap must be in [0, 1)")
        if self.threads < 1:
            raise ValueError("threads must be >= 1")


@dataclass(frozen=True, slots=True)
class SolverCapabilities:
    """What an adapter can do, as data (checked before use, never discovered by failing)."""

    integer: bool
    row_duals: bool
    warm_start: bool
    time_limit: bool
    mip_gap: bool
    deterministic: bool


@dataclass(frozen=True, eq=False)
class SolveResult:
    """A solver's answer in solver-neutral terms.

    ``objective`` includes the formulation's constant offset. ``mip_gap`` is the relative gap
    between the incumbent and the proven bound (0 for an LP); ``dual_bound`` the proven bound.
    ``row_duals`` is set for LP solves (sign: d objective / d row bound).
    """

    status: SolveStatus
    x: FloatArray | None
    objective: float | None
    mip_gap: float | None
    dual_bound: float | None
    seconds: float
    solver: str
    raw_status: str
    row_duals: FloatArray | None = None

    def value(self) -> FloatArray:
        if self.x is None:
            raise ValueError(f"no solution ({self.status})")
        return self.x


@dataclass(frozen=True, eq=False)
class Ranging:
    """LP sensitivity ranges at an optimal basis (exact for the LP, not for a MILP).

    ``col_cost_lower/upper``: the interval of each column's cost over which the current
    solution stays optimal. ``row_bound_lower/upper``: the interval of each row's active
    bound over which the basis (so the row's dual value) stays optimal, and the objective at
    the interval's ends (``row_bound_*_objective``).
    """

    col_cost_lower: FloatArray
    col_cost_upper: FloatArray
    row_bound_lower: FloatArray
    row_bound_upper: FloatArray
    row_bound_lower_objective: FloatArray
    row_bound_upper_objective: FloatArray


class Solver(Protocol):
    """Solves a Formulation; implementations import their library lazily."""

    name: str
    capabilities: SolverCapabilities

    def solve(
        self, formulation: Formulation, options: SolveOptions, start: FloatArray | None = None
    ) -> SolveResult:
        """Solve; ``start`` is an optional feasible point the solver may begin from."""
        ...


def relative_gap(objective: float, bound: float) -> float:
    """|objective - bound| / max(|objective|, tiny), the usual MIP gap definition."""
    return float(abs(objective - bound) / max(abs(objective), 1e-9))


def empty_solution(n: int) -> FloatArray:
    return np.zeros(n)
