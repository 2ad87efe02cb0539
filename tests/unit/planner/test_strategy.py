"""Large-model machinery: column generation equals the full LP, rounded plans are feasible,
pruning is exact on generated portfolios, and the LP relaxation's shadow prices are right."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from planner_cases import Of, Wl, make_problem

from chipfolio.planner import Policy, SolveOptions, SolveStatus, get_solver, solve_problem
from chipfolio.planner.build import build_problem
from chipfolio.planner.colgen import column_generation
from chipfolio.planner.formulation import build_formulation
from chipfolio.planner.rounding import round_plan
from chipfolio.planner.solve import build, solve_relaxation
from chipfolio.planner.strategy import _rounded
from chipfolio.planner.structure import build_structure
from chipfolio.workloads.spec import LineIndex, portfolio_from_data

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from bench_planner import generate_portfolio


@pytest.fixture(scope="module")
def generated() -> object:
    data = generate_portfolio(40, 150, seed=7)
    return build_problem(portfolio_from_data(data, "<generated>", Path.cwd(), LineIndex()))


def test_column_generation_reaches_the_full_lp(generated: object) -> None:
    built = build(generated)  # type: ignore[arg-type]
    solver = get_solver()
    full = solver.solve(built.formulation, SolveOptions(relax=True))
    lp = column_generation(
        built.formulation, built.structure, SolveOptions(), solver, time.perf_counter() + 60
    )
    assert lp.status is SolveStatus.OPTIMAL
    assert lp.objective == pytest.approx(full.objective, rel=1e-7)
    assert lp.generated.sum() < built.structure.n_cols


def test_rounded_plan_meets_every_row(generated: object) -> None:
    built = build(generated)  # type: ignore[arg-type]
    solver = get_solver()
    f, s = built.formulation, built.structure
    lp = column_generation(f, s, SolveOptions(), solver, time.perf_counter() + 60)
    keep = np.ones(f.n_cols, dtype=bool)
    keep[: s.n_cols] = lp.generated
    done = _rounded(built.problem, s, f, lp.x, keep, SolveOptions(), solver)
    assert done is not None and done.x is not None and done.objective is not None
    assert np.allclose(done.x[: s.n_cols], np.round(done.x[: s.n_cols]))
    activity = f.A @ done.x
    assert (activity >= f.row_lower - 1e-6 * (1 + abs(f.row_lower))).all()
    assert (activity <= f.row_upper + 1e-6 * (1 + abs(f.row_upper))).all()
    assert done.objective >= lp.objective - 1e-6
    direct = round_plan(built.problem, s, f, lp.x)
    assert direct is None or (direct >= 0).all()


def test_plan_gap_is_proven_against_the_lp(generated: object) -> None:
    plan = solve_problem(generated, SolveOptions(time_limit_s=20, mip_gap=0.01))  # type: ignore[arg-type]
    lp = solve_relaxation(generated)  # type: ignore[arg-type]
    assert plan.total_cost_usd >= lp.objective * (1 - 1e-9)
    assert plan.solver.gap is not None
    assert (
        plan.solver.dual_bound is not None and plan.solver.dual_bound <= plan.total_cost_usd + 1e-6
    )


def test_pruning_keeps_the_lp_optimum_on_generated_portfolios(generated: object) -> None:
    solver = get_solver()
    pruned = build(generated, prune_pairs=True)  # type: ignore[arg-type]
    full = build(generated, prune_pairs=False)  # type: ignore[arg-type]
    assert pruned.pruned_pairs > 0
    a = solver.solve(pruned.formulation, SolveOptions(relax=True)).objective
    b = solver.solve(full.formulation, SolveOptions(relax=True)).objective
    assert a == pytest.approx(b, rel=1e-9)


def test_shadow_price_of_binding_capacity() -> None:
    # a at $1 capped at 5 chips, b at $3: one more chip of a saves $2 x 100 h
    problem = make_problem(
        [Of("a", "p", 1.0, cap=5), Of("b", "q", 3.0)], [Wl("w", 1000, [100, 100])]
    )
    lp = solve_relaxation(problem)
    assert lp.objective == pytest.approx(5 * 100 + 5 * 300)
    assert lp.capacity_usd_per_chip[0] == pytest.approx(200.0)
    assert lp.capacity_usd_per_chip[1] == pytest.approx(0.0)
    assert lp.demand_usd_per_token_s[0] == pytest.approx(3.0)  # $3 x 100 h per 100 tok/s


def test_structure_counts_slots_per_availability_change() -> None:
    problem = make_problem(
        [Of("od", "p", 3.0), Of("r", "p", 1.0, start=40)], [Wl("w", 100, [10, 10])]
    )
    s = build_structure(problem)
    assert s.n_slots == 2
    assert list(s.slot_start_hour) == [0, 40] and list(s.slot_end_hour) == [40, 100]
    form = build_formulation(problem, s)
    assert set(form.families()) >= {"demand"}
    assert np.all(form.integrality[: s.n_cols] == 1)


def test_policy_does_not_change_the_built_columns() -> None:
    problem = make_problem(
        [Of("a", "p", 1.0), Of("b", "q", 2.0)], [Wl("w", 100, [10, 10], critical=True)]
    )
    plain = build_formulation(problem)
    strict = build_formulation(
        problem.with_policy(Policy(max_share=0.6, min_vendors=2, n_minus_1=0.5))
    )
    assert strict.n_rows > plain.n_rows
    assert strict.var_blocks["x"].size == plain.var_blocks["x"].size
