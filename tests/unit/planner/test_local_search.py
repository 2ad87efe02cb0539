"""Local search on rounded plans: exact integer covers, never dearer, every row still met,
share caps kept, and the same input gives the same plan."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chipfolio.planner import SolveOptions, get_solver
from chipfolio.planner.build import build_problem
from chipfolio.planner.colgen import column_generation
from chipfolio.planner.rounding import round_plan
from chipfolio.planner.search import _cover, improve_plan, priced_costs
from chipfolio.planner.solve import build
from chipfolio.planner.strategy import _complete
from chipfolio.workloads.spec import LineIndex, portfolio_from_data

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from bench_planner import generate_portfolio


def _brute_force(cost: np.ndarray, coef: np.ndarray, most: np.ndarray, need: float) -> float:
    best = np.inf
    for x in itertools.product(*[range(int(m) + 1) for m in most]):
        v = np.array(x, dtype=float)
        if v @ coef >= need - 1e-9:
            best = min(best, float(v @ cost))
    return best


@pytest.mark.parametrize("seed", range(25))
def test_cover_is_the_exact_least_cost_integer_cover(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5))
    coef = rng.uniform(1.0, 10.0, n).round(1)
    cost = (coef * rng.uniform(0.8, 1.3, n)).round(2)
    most = rng.integers(0, 6, n).astype(float)
    need = float(rng.uniform(1.0, 30.0))
    x = _cover(cost, coef, most, need)
    best = _brute_force(cost, coef, most, need)
    if not np.isfinite(best):
        assert x is None
        return
    assert x is not None
    assert (x <= most).all() and (x >= 0).all() and np.allclose(x, np.round(x))
    assert x @ coef >= need - 1e-9
    assert float(x @ cost) == pytest.approx(best)


@pytest.fixture(scope="module")
def rounded() -> tuple[object, ...]:
    data = generate_portfolio(60, 200, seed=3)
    problem = build_problem(portfolio_from_data(data, "<generated>", Path.cwd(), LineIndex()))
    built = build(problem)
    f, s = built.formulation, built.structure
    lp = column_generation(f, s, SolveOptions(), get_solver(), time.perf_counter() + 60)
    assert lp.x is not None and lp.row_duals is not None
    units = None
    for margin in (0.0, 0.003, 0.01, 0.03):
        from chipfolio.planner.colgen import restrict
        from chipfolio.planner.repair import tighten_shares

        x = lp.x
        if margin:
            keep = np.ones(f.n_cols, dtype=bool)
            keep[: s.n_cols] = lp.generated
            tight = restrict(tighten_shares(f, margin, problem.policy.max_share), keep)
            res = get_solver().solve(tight, SolveOptions(relax=True))
            assert res.x is not None
            x = np.zeros(f.n_cols)
            x[keep] = res.x
        units = round_plan(built.problem, s, f, x)
        if units is not None:
            break
    assert units is not None
    return built, lp, units


def test_improved_plan_is_never_dearer_and_meets_every_row(rounded: tuple[object, ...]) -> None:
    built, lp, units = rounded
    f, s = built.formulation, built.structure  # type: ignore[attr-defined]
    better = improve_plan(built.problem, s, f, units, lp.row_duals)  # type: ignore[attr-defined]
    cost = f.c[: s.n_cols]
    assert float(better @ cost) <= float(units @ cost) + 1e-6
    assert np.allclose(better, np.round(better)) and (better >= 0).all()
    done = _complete(f, better, SolveOptions(), get_solver())
    assert done is not None and done.x is not None
    activity = f.A @ done.x
    assert (activity >= f.row_lower - 1e-6 * (1 + abs(f.row_lower))).all()
    assert (activity <= f.row_upper + 1e-6 * (1 + abs(f.row_upper))).all()
    # share caps hold on the plan itself (cost per vendor <= max_share of the total)
    spend = np.bincount(s.col_label, weights=better * s.col_usd_per_x, minlength=len(s.labels))
    cap = built.problem.policy.max_share  # type: ignore[attr-defined]
    assert (spend <= cap * spend.sum() * (1 + 1e-9) + 1e-6).all()


def test_improvement_is_deterministic(rounded: tuple[object, ...]) -> None:
    built, lp, units = rounded
    f, s = built.formulation, built.structure  # type: ignore[attr-defined]
    first = improve_plan(built.problem, s, f, units, lp.row_duals)  # type: ignore[attr-defined]
    second = improve_plan(built.problem, s, f, units.copy(), lp.row_duals)  # type: ignore[attr-defined]
    assert np.array_equal(first, second)


def test_improvement_finds_savings_on_a_rounded_plan(rounded: tuple[object, ...]) -> None:
    built, lp, units = rounded
    f, s = built.formulation, built.structure  # type: ignore[attr-defined]
    better = improve_plan(built.problem, s, f, units, lp.row_duals)  # type: ignore[attr-defined]
    cost = f.c[: s.n_cols]
    assert float(better @ cost) < float(units @ cost)


def test_priced_costs_add_the_price_of_a_binding_cap(rounded: tuple[object, ...]) -> None:
    built, lp, _ = rounded
    f, s = built.formulation, built.structure  # type: ignore[attr-defined]
    priced = priced_costs(f, s.n_cols, lp.row_duals)  # type: ignore[attr-defined]
    assert priced.shape == (s.n_cols,)
    assert (priced > 0).all()
    assert not np.allclose(priced, f.c[: s.n_cols])


def _caps_hold(built: object, s: object, units: np.ndarray) -> bool:
    spend = np.bincount(s.col_label, weights=units * s.col_usd_per_x, minlength=len(s.labels))  # type: ignore[attr-defined]
    cap = built.problem.policy.max_share  # type: ignore[attr-defined]
    return bool((spend <= cap * spend.sum() * (1 + 1e-9) + 1e-6).all())


@pytest.mark.parametrize("gang_first", [False, True])
def test_rounding_repaired_to_the_caps_meets_every_row(
    rounded: tuple[object, ...], gang_first: bool
) -> None:
    from chipfolio.planner.repair import repair_shares

    built, lp, _ = rounded
    f, s = built.formulation, built.structure  # type: ignore[attr-defined]
    problem = built.problem  # type: ignore[attr-defined]
    raw = round_plan(problem, s, f, lp.x, shares=False, gang_first=gang_first)  # type: ignore[attr-defined]
    assert raw is not None
    fixed = repair_shares(problem, s, f, raw)
    assert fixed is not None
    assert _caps_hold(built, s, fixed)
    done = _complete(f, fixed, SolveOptions(), get_solver())
    assert done is not None and done.x is not None
    activity = f.A @ done.x
    assert (activity >= f.row_lower - 1e-6 * (1 + abs(f.row_lower))).all()
    assert (activity <= f.row_upper + 1e-6 * (1 + abs(f.row_upper))).all()
