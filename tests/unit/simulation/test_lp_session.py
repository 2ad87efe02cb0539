"""LpSession: re-plan LPs on one reused HiGHS instance give HighsSolver's answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import tiny_problem

from chipfolio.planner import build_model
from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import Policy, Problem
from chipfolio.planner.solve import get_solver
from chipfolio.planner.solvers.base import SolveOptions
from chipfolio.planner.solvers.lp_session import LpSession
from chipfolio.simulation.rounding import lp_rounded_schedule

LP = SolveOptions(relax=True)


def variants() -> list[Problem]:
    """Problems whose LPs differ in size, policy, windows and feasibility."""
    base = tiny_problem()
    capped = base.with_policy(Policy(max_share=0.5, min_vendors=2, n_minus_1=0.5))
    out = [base, capped, tiny_problem(with_training=False), tiny_problem(n_minus_1=0.0)]
    out += [base.with_demand(scale) for scale in (0.3, 1.7, 4.0)]
    out += [capped.with_capacity(np.array([True, False, False, False]), 64.0)]
    out += [base.scale_prices(np.array([False, True, False, False]), 0.5)]
    return out


def forms() -> list[Formulation]:
    return [build_model(p).formulation for p in variants()]


def test_each_lp_gets_highs_solver_answer_exactly() -> None:
    session = LpSession(LP)
    solver = get_solver()
    for form in forms() * 2:  # twice: an LP after others on the same instance
        expected = solver.solve(form, LP)
        got = session.solve(form)
        assert got is not None and expected.x is not None
        assert np.array_equal(got[0], expected.x)
        assert got[1] == expected.objective


def test_an_infeasible_lp_gives_none_and_the_next_one_is_solved() -> None:
    session = LpSession(LP)
    p = tiny_problem().with_capacity(np.ones(4, dtype=bool), 0.0)  # nothing to run on
    form = build_model(p).formulation
    assert not get_solver().solve(form, LP).status.has_solution
    assert session.solve(form) is None
    good = forms()[0]
    answer = session.solve(good)
    assert answer is not None and answer[1] == get_solver().solve(good, LP).objective


def test_an_empty_lp_is_feasible_when_its_rows_admit_zero() -> None:
    form = forms()[0]
    empty = dataclasses.replace(
        form,
        c=np.zeros(0),
        A=form.A[:, :0],
        col_lower=np.zeros(0),
        col_upper=np.zeros(0),
        integrality=np.zeros(0, np.int64),
        row_lower=np.full(form.n_rows, -np.inf),
    )
    answer = LpSession(LP).solve(empty)
    assert answer is not None and answer[0].size == 0
    assert answer[1] == form.objective_offset
    blocked = dataclasses.replace(empty, row_lower=np.ones(form.n_rows))
    assert LpSession(LP).solve(blocked) is None


def test_every_lp_has_its_own_time_limit() -> None:
    # HiGHS's clock adds up the runs of one instance; without a per-run limit the LPs
    # after the first `limit` seconds of work would all stop at the limit, unsolved
    limit = 0.01
    session = LpSession(dataclasses.replace(LP, time_limit_s=limit))
    form = forms()[1]
    first = session.solve(form)
    assert first is not None
    for _ in range(20_000):
        if session.seconds > 3 * limit:
            break
        again = session.solve(form)
        assert again is not None and np.array_equal(again[0], first[0])
    assert session.seconds > 3 * limit


@pytest.mark.parametrize("policy", [Policy(), Policy(max_share=0.5, min_vendors=2)])
def test_rounding_through_a_session_is_the_same_schedule(policy: Policy) -> None:
    p = tiny_problem().with_policy(policy)
    session = LpSession(LP)
    options = SolveOptions()
    plain = lp_rounded_schedule(p, get_solver(), options)
    shared = lp_rounded_schedule(p, get_solver(), options, session=session)
    assert plain.schedule is not None and shared.schedule is not None
    assert plain.schedule.hours == shared.schedule.hours
    for a, b in zip(plain.schedule.instances, shared.schedule.instances, strict=True):
        assert np.array_equal(a, b)
    assert (plain.valid, plain.cost, plain.bound, plain.lps) == (
        shared.valid,
        shared.cost,
        shared.bound,
        shared.lps,
    )


def test_without_presolve_each_lp_has_the_same_optimum_and_a_feasible_vertex() -> None:
    session = LpSession(LP, presolve=False)
    solver = get_solver()
    for form in forms():
        expected = solver.solve(form, LP)
        got = session.solve(form)
        assert got is not None and expected.objective is not None
        assert got[1] == pytest.approx(expected.objective, rel=1e-9)
        x = got[0]
        assert (x >= form.col_lower - 1e-7).all() and (x <= form.col_upper + 1e-7).all()
        activity = form.A @ x
        assert (activity >= form.row_lower - 1e-6 * (1 + abs(form.row_lower))).all()
        assert (activity <= form.row_upper + 1e-6 * (1 + abs(form.row_upper))).all()


def test_without_presolve_an_infeasible_lp_gives_none() -> None:
    p = tiny_problem().with_capacity(np.ones(4, dtype=bool), 0.0)
    assert LpSession(LP, presolve=False).solve(build_model(p).formulation) is None
