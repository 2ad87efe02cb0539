"""Frontier tracing against cost functions with a known tightest feasible cap."""

from __future__ import annotations

import itertools

import pytest

from chipfolio.analysis.frontier import FrontierPoint, PointStatus, cap_grid, trace_frontier


def evaluator(threshold: float, calls: list[float] | None = None):  # type: ignore[no-untyped-def]
    """Feasible for caps >= threshold; cost rises as the cap tightens below 0.6."""

    def evaluate(cap: float) -> FrontierPoint:
        if calls is not None:
            calls.append(cap)
        if cap < threshold:
            return FrontierPoint(cap, None, PointStatus.INFEASIBLE)
        return FrontierPoint(cap, 100.0 + 50.0 * max(0.0, 0.6 - cap), PointStatus.OPTIMAL)

    return evaluate


def test_grid_is_clean_and_stops_at_the_floor() -> None:
    assert cap_grid(0.05, 0.25)[:3] == [1.0, 0.95, 0.9]
    assert cap_grid(0.05, 0.25)[-1] == 0.25
    assert cap_grid(0.1, 0.34)[-1] == 0.4


def test_tightest_cap_is_found_by_bisection() -> None:
    calls: list[float] = []
    frontier = trace_frontier(evaluator(0.4137, calls), n_vendors=4, cap_tol=1e-4)
    assert frontier.tightest_feasible_max_share == pytest.approx(0.4137, abs=1e-4)
    assert frontier.tightest_feasible_max_share >= 0.4137
    tight = [p for p in frontier.points if p.tightest]
    assert len(tight) == 1 and tight[0].status is PointStatus.OPTIMAL
    assert frontier.solves == len(calls)
    # grid: 1.0 .. 0.45 feasible (12), 0.40 infeasible (1), then ~9 bisection steps
    assert frontier.solves <= 13 + 10


def test_points_run_from_loose_to_tight_and_cost_never_falls() -> None:
    frontier = trace_frontier(evaluator(0.3), n_vendors=3)
    caps = [p.max_share for p in frontier.points]
    assert caps == sorted(caps, reverse=True)
    costs = [p.cost_usd for p in frontier.points if p.cost_usd is not None]
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(costs))


def test_floor_is_tried_when_the_whole_grid_is_feasible() -> None:
    calls: list[float] = []
    frontier = trace_frontier(evaluator(0.0, calls), n_vendors=3, cap_tol=1e-3)
    # the last probe sits half a tolerance above the 1/3 floor (an exact split is a knife edge)
    assert calls[-1] == pytest.approx(1 / 3 + 0.5e-3)
    assert frontier.tightest_feasible_max_share == pytest.approx(1 / 3 + 0.5e-3)


def test_infeasible_at_one_gives_no_frontier() -> None:
    frontier = trace_frontier(evaluator(2.0), n_vendors=2)
    assert frontier.tightest_feasible_max_share is None
    assert [p.status for p in frontier.points] == [PointStatus.INFEASIBLE]


def test_single_vendor_only_has_the_loose_point() -> None:
    frontier = trace_frontier(evaluator(0.0), n_vendors=1)
    assert [p.max_share for p in frontier.points] == [1.0]
    assert frontier.tightest_feasible_max_share == 1.0


def test_unknown_status_counts_as_no_plan() -> None:
    def evaluate(cap: float) -> FrontierPoint:
        if cap < 0.7:
            return FrontierPoint(cap, None, PointStatus.UNKNOWN)
        return FrontierPoint(cap, 1.0, PointStatus.FEASIBLE)

    frontier = trace_frontier(evaluate, n_vendors=4, cap_tol=1e-3)
    assert frontier.tightest_feasible_max_share == pytest.approx(0.7, abs=1e-3)
    assert frontier.to_json()[0] == {
        "max_share": 1.0,
        "cost_usd": 1.0,
        "status": "feasible",
        "tightest": False,
        "max_share_used": None,
    }


def test_plans_below_the_cap_are_reused_without_solving() -> None:
    """A plan using at most 62% per vendor answers every cap from 1.0 down to 0.62."""
    calls: list[float] = []

    def evaluate(cap: float) -> FrontierPoint:
        calls.append(cap)
        if cap < 0.41:
            return FrontierPoint(cap, None, PointStatus.INFEASIBLE)
        used = min(cap, 0.62) if cap >= 0.5 else 0.5 * cap + 0.2  # 0.45 -> 0.425 used
        cost = 100.0 + 50.0 * max(0.0, 0.62 - used)
        return FrontierPoint(cap, cost, PointStatus.OPTIMAL, max_share_used=used)

    frontier = trace_frontier(evaluate, n_vendors=4, cap_tol=1e-3)
    assert calls[:2] == [1.0, 0.6]  # 0.95 ... 0.65 reuse the plan solved at 1.0
    by_cap = {p.max_share: p for p in frontier.points}
    assert by_cap[0.8].cost_usd == by_cap[1.0].cost_usd == 100.0
    assert frontier.tightest_feasible_max_share == pytest.approx(0.41, abs=1e-3)
    assert frontier.solves == len(calls) < 13
    for point in frontier.points:
        if point.max_share_used is not None:
            assert point.max_share_used <= point.max_share + 1e-12


def test_tightest_cap_is_proven_only_when_the_cap_below_is_infeasible() -> None:
    proven = trace_frontier(evaluator(0.4137), n_vendors=4, cap_tol=1e-3)
    assert proven.tightest_proven

    def unknown_below(cap: float) -> FrontierPoint:
        if cap < 0.4137:  # a limit stopped the solve: nothing proven either way
            return FrontierPoint(cap, None, PointStatus.UNKNOWN)
        return FrontierPoint(cap, 100.0, PointStatus.OPTIMAL)

    open_ = trace_frontier(unknown_below, n_vendors=4, cap_tol=1e-3)
    assert open_.tightest_feasible_max_share == pytest.approx(0.4137, abs=1e-3)
    assert not open_.tightest_proven


def test_an_equal_split_needs_no_infeasible_point_below_it() -> None:
    frontier = trace_frontier(evaluator(0.0), n_vendors=4, cap_tol=1e-3)
    assert frontier.tightest_feasible_max_share == pytest.approx(0.25, abs=1e-3)
    assert frontier.tightest_proven
