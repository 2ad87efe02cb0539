"""A MILP run under an objective bound counts only solutions below it (HiGHS adapter)."""

from __future__ import annotations

import numpy as np
import pytest

from chipfolio.planner.solvers.base import SolveResult, SolveStatus
from chipfolio.planner.solvers.highs import _within_bound


def _run(objective: float | None, dual: float | None) -> SolveResult:
    x = None if objective is None else np.array([1.0])
    status = SolveStatus.OPTIMAL if x is not None else SolveStatus.INFEASIBLE
    return SolveResult(status, x, objective, 0.0, dual, 0.1, "highs", "kOptimal")


def test_a_solution_below_the_bound_is_kept() -> None:
    run = _run(440.0, 439.0)
    assert _within_bound(run, 444.0) is run
    assert _within_bound(_run(500.0, 499.0), float("inf")).objective == 500.0


def test_a_solution_above_the_bound_with_the_bound_proven_means_none_cheaper() -> None:
    # HiGHS 1.16 returned 468 "optimal" under a bound of 444 with a proven bound of 454
    out = _within_bound(_run(468.0, 454.0), 444.0)
    assert out.status is SolveStatus.INFEASIBLE
    assert out.x is None and out.objective is None


@pytest.mark.parametrize("dual", [430.0, None])
def test_a_solution_above_the_bound_without_proof_settles_nothing(dual: float | None) -> None:
    out = _within_bound(_run(468.0, dual), 444.0)
    assert out.status is SolveStatus.NO_SOLUTION
    assert out.x is None
