"""Leverage analysis on problems whose answers are worked out by hand."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from problems import Q, problem

from chipfolio.analysis.counterfactual import solve_outcome
from chipfolio.analysis.leverage import (
    LeverageOptions,
    WalkAwayReason,
    analyze_leverage,
    candidate_vendors,
)
from chipfolio.analysis.variants import Answer, Variants
from chipfolio.errors import InfeasibleError, SolverError
from chipfolio.planner.problem import Policy, Problem
from chipfolio.planner.solvers.base import SolveStatus

OPTS = LeverageOptions()

# demand 1000 tok/s at 100 tok/s/chip = 10 chips for 10 hours
TWO = problem([Q("A", 2.0), Q("B", 3.0)])


def cost(p: Problem) -> float | None:
    return solve_outcome(p, OPTS.solve).cost_usd


def test_known_answer_two_vendors() -> None:
    report = analyze_leverage(TWO)
    assert report.plan_cost_usd == pytest.approx(200.0)
    a, b = report.vendor("A"), report.vendor("B")
    assert a.share == pytest.approx(1.0) and b.share == 0.0
    assert a.walk_away_multiplier == pytest.approx(1.5)
    assert a.cost_without_usd == pytest.approx(1.5 * report.plan_cost_usd)
    assert a.leverage_usd == pytest.approx(0.5 * report.plan_cost_usd)
    assert a.walk_away_usd_per_chip_hour == pytest.approx(3.0)
    # B would win the business below $2: 2/3 of its price
    assert b.walk_away_multiplier == pytest.approx(2.0 / 3.0)
    assert b.leverage_usd == pytest.approx(0.0)
    assert report.concentration.hhi == pytest.approx(10_000.0)
    assert report.policy_cost_usd == pytest.approx(0.0)


def test_known_answer_shadow_price_of_a_binding_capacity() -> None:
    capped = problem([Q("A", 2.0, capacity=4), Q("B", 3.0)])
    report = analyze_leverage(capped)
    assert [s.offer for s in report.shadow_prices] == ["A-0"]
    shadow = report.shadow_prices[0]
    assert shadow.usd_per_chip_hour == pytest.approx(1.0, rel=1e-5)
    assert shadow.binds_in_plan and shadow.used_chips == 4
    # counterfactual: 3 more chips for the 10-hour horizon save $1 x 3 x 10
    base = cost(capped)
    more = cost(capped.with_capacity(np.array([True, False]), 7.0))
    assert base is not None and more is not None
    assert (base - more) / (3 * 10.0) == pytest.approx(shadow.usd_per_chip_hour, rel=1e-5)


def test_shadow_prices_match_counterfactual_resolves() -> None:
    """Two workloads with different speeds on three capped offers (whole-chip answers)."""
    tput = [[100.0, 100.0, 100.0], [50.0, 100.0, 100.0]]
    p = problem(
        [Q("A", 2.0, capacity=6), Q("B", 2.5, capacity=8), Q("C", 4.0)],
        demands=(1000.0, 500.0),
        tokens_per_s_per_chip=tput,
        horizon_hours=100.0,
    )
    report = analyze_leverage(p)
    base = cost(p)
    assert base is not None
    checked = 0
    for shadow in report.shadow_prices:
        mask = p.offers.ids == shadow.offer
        more = cost(p.with_capacity(mask, shadow.capacity_chips + 1))
        assert more is not None
        assert (base - more) / 100.0 == pytest.approx(shadow.usd_per_chip_hour, rel=1e-5)
        checked += 1
    assert checked == 2
    by_offer = {s.offer: s.usd_per_chip_hour for s in report.shadow_prices}
    assert by_offer == pytest.approx({"A-0": 2.0, "B-1": 1.5}, rel=1e-5)


def test_contract_fully_committed_is_reported_net_of_its_price() -> None:
    p = problem([Q("A", 2.0, capacity=4, take_or_pay=4), Q("B", 3.0)])
    report = analyze_leverage(p)
    assert report.shadow_prices[0].usd_per_chip_hour == pytest.approx(1.0, rel=1e-5)


def _bought(p: Problem, label: str, m: float) -> bool:
    mask = p.vendor_of_offers() == label
    outcome = solve_outcome(p.scale_prices(mask, m), OPTS.solve)
    assert outcome.plan is not None
    return outcome.plan.cost_by_vendor_usd.get(label, 0.0) > 1e-9


@pytest.mark.parametrize(
    "policy",
    [Policy(), Policy(max_share=0.6), Policy(min_vendors=2, n_minus_1=0.3)],
    ids=["none", "cap", "n-1"],
)
def test_walk_away_is_the_breakpoint(policy: Policy) -> None:
    p = problem(
        [
            Q("A", 2.0, capacity=7),
            Q("B", 2.6),
            Q("C", 3.1, capacity=6),
            Q("D", 3.5),
        ],
        demands=(1000.0, 600.0),
        tokens_per_s_per_chip=[[100.0, 90.0, 120.0, 100.0], [80.0, 100.0, 100.0, 60.0]],
        policy=policy,
    )
    # with room to search, every multiplier is the breakpoint itself
    report = analyze_leverage(p, dataclasses.replace(OPTS, search_solves=40))
    for v in report.vendors:
        if v.walk_away_multiplier is None:
            continue
        m = v.walk_away_multiplier
        assert v.search_method != "at_least", v
        assert _bought(p, v.vendor, m * 0.99), v
        assert not _bought(p, v.vendor, m * 1.01), v
    # with the default budget a search may stop early, but what it reports is still certain
    for v in analyze_leverage(p).vendors:
        if v.walk_away_multiplier is not None:
            assert _bought(p, v.vendor, v.walk_away_multiplier * 0.99), v


def test_policy_that_needs_every_vendor_gives_no_multiplier() -> None:
    p = problem([Q("A", 2.0), Q("B", 3.0)], policy=Policy(min_vendors=2))
    report = analyze_leverage(p)
    for v in report.vendors:
        assert v.walk_away_multiplier is None
        assert v.reason_code is WalkAwayReason.POLICY_REQUIRES
        assert v.cost_without_usd is None and v.leverage_usd is None
        assert v.reason and "policy" in v.reason


def test_vendor_nothing_can_replace() -> None:
    p = problem([Q("A", 2.0), Q("B", 1.0, capacity=3)])
    report = analyze_leverage(p)
    a = report.vendor("A")
    assert a.walk_away_multiplier is None
    assert a.reason_code is WalkAwayReason.IRREPLACEABLE
    assert report.vendor("B").walk_away_multiplier == pytest.approx(2.0)


def test_take_or_pay_walk_away_counts_the_commitment() -> None:
    # A: 10 chips committed at $2 (paid anyway). Without A the plan pays B $3 -> m* = 1.5;
    # with A's prices x m the commitment costs 200m, so the contract is worth it while m < 1.5
    p = problem([Q("A", 2.0, capacity=10, take_or_pay=10), Q("B", 3.0)])
    a = analyze_leverage(p).vendor("A")
    assert a.walk_away_multiplier == pytest.approx(1.5)


def test_policy_cost_hhi_and_frontier() -> None:
    policy = Policy(max_share=0.5, min_vendors=2, n_minus_1=0.5)
    p = problem([Q("A", 2.0), Q("B", 3.0), Q("C", 2.5)], policy=policy)
    report = analyze_leverage(p, dataclasses.replace(OPTS, frontier_cap_tol=1e-3))
    free = cost(p.with_policy(Policy()))
    assert free == pytest.approx(200.0)
    assert report.policy_cost_usd == pytest.approx(report.plan_cost_usd - 200.0)
    shares = [v.share for v in report.vendors]
    assert report.concentration.hhi == pytest.approx(sum((100 * s) ** 2 for s in shares))
    points = report.frontier.points
    assert points[0].max_share == 1.0
    costs = [pt.cost_usd for pt in points if pt.cost_usd is not None]
    assert costs == sorted(costs)
    at_policy = [pt for pt in points if pt.max_share == pytest.approx(0.5)]
    assert at_policy and at_policy[0].cost_usd == pytest.approx(report.plan_cost_usd)
    tight = report.frontier.tightest_feasible_max_share
    assert tight is not None and tight == pytest.approx(1 / 3, abs=1e-3)
    assert cost(p.with_policy(dataclasses.replace(policy, max_share=tight))) is not None


def test_frontier_points_out_of_time_keep_the_plans_already_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A frontier solve that times out is still feasible where a known plan fits its cap."""
    import chipfolio.analysis.leverage as leverage_module

    policy = Policy(max_share=0.5, min_vendors=2, n_minus_1=0.5)
    p = problem([Q("A", 2.0), Q("B", 3.0), Q("C", 2.5)], policy=policy)
    real = Variants.answer

    def out_of_time(self: Variants, change: object = None, **kwargs: object) -> Answer:
        if getattr(change, "__qualname__", "").startswith("Variants.cap"):  # a frontier point
            return Answer(SolveStatus.NO_SOLUTION, None, None, None, None)  # no plan in time
        return real(self, change, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(leverage_module.Variants, "answer", out_of_time)
    report = analyze_leverage(p, OPTS)
    plan_share = max(v.share for v in report.vendors)
    for pt in report.frontier.points:
        if pt.max_share >= plan_share + 1e-9:
            assert pt.status.has_plan, pt
            assert pt.cost_usd is not None
            assert pt.cost_usd <= report.plan_cost_usd * (1 + 1e-9), pt


def test_json_has_the_issue_keys() -> None:
    data = analyze_leverage(TWO).to_json()
    assert {"plan_cost_usd", "vendors", "shadow_prices", "hhi", "policy_cost_usd"} <= set(data)
    assert "frontier" in data
    for v in data["vendors"]:  # type: ignore[union-attr]
        assert {
            "vendor",
            "share",
            "cost_usd",
            "walk_away_multiplier",
            "reason",
            "cost_without_usd",
            "leverage_usd",
        } <= set(v)
    for pt in data["frontier"]:  # type: ignore[union-attr]
        assert {"max_share", "cost_usd", "status"} <= set(pt)


def test_process_pool_gives_the_same_answer() -> None:
    p = problem([Q("A", 2.0, capacity=7), Q("B", 2.6), Q("C", 3.1)], demands=(1000.0, 600.0))
    one = analyze_leverage(p, OPTS).to_json()
    two = analyze_leverage(p, dataclasses.replace(OPTS, workers=2)).to_json()
    one.pop("analysis"), two.pop("analysis")
    assert one == two


def test_infeasible_problem_raises() -> None:
    p = problem([Q("A", 2.0, capacity=2)])
    with pytest.raises(InfeasibleError):
        analyze_leverage(p)


def test_unusable_vendors_are_not_candidates() -> None:
    p = problem([Q("A", 2.0), Q("B", 3.0)], tokens_per_s_per_chip=[[100.0, 0.0]])
    assert candidate_vendors(p) == ["A"]


@pytest.mark.parametrize(
    "policy",
    [Policy(), Policy(max_share=0.6), Policy(max_share=0.5, min_vendors=2, n_minus_1=0.5)],
    ids=["none", "cap", "all"],
)
def test_cost_bound_never_changes_the_optimum(policy: Policy) -> None:
    p = problem(
        [Q("A", 2.0, capacity=7, take_or_pay=3), Q("B", 2.6), Q("C", 3.1, capacity=6), Q("D", 3.5)],
        demands=(1000.0, 600.0),
        tokens_per_s_per_chip=[[100.0, 90.0, 120.0, 100.0], [80.0, 100.0, 100.0, 60.0]],
        policy=policy,
    )
    free = solve_outcome(p, OPTS.solve)
    assert free.cost_usd is not None
    bounded = solve_outcome(p, OPTS.solve, cost_bound_usd=free.cost_usd)
    assert bounded.cost_usd == pytest.approx(free.cost_usd, rel=1e-6)


def test_shadow_price_range_from_lp_ranging() -> None:
    # A (4 chips, $2) binds and B ($3) covers the rest of 10 chips: one more A chip saves $1
    # per hour until A alone covers the demand (10 chips); below 4 the value is the same
    capped = problem([Q("A", 2.0, capacity=4), Q("B", 3.0)])
    shadow = analyze_leverage(capped).shadow_prices[0]
    assert shadow.valid_from_chips == pytest.approx(0.0, abs=1e-6)
    assert shadow.valid_to_chips == pytest.approx(10.0, rel=1e-6)
    base = cost(capped)
    inside = cost(capped.with_capacity(np.array([True, False]), 9.0))
    beyond = cost(capped.with_capacity(np.array([True, False]), 12.0))
    assert base is not None and inside is not None and beyond is not None
    assert (base - inside) / (5 * 10.0) == pytest.approx(shadow.usd_per_chip_hour, rel=1e-6)
    # past the range the extra chips are worth less: only 6 of the 8 extra are used
    assert (base - beyond) / (8 * 10.0) < shadow.usd_per_chip_hour - 1e-6
    data = shadow.to_json()
    assert data["valid_for_capacity_chips"] == [0.0, 10.0]


def _burn(seconds: float) -> None:
    import time

    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        pass


def test_answers_do_not_depend_on_load_or_workers() -> None:
    """Solves stop on node counts, never on the clock: the same JSON under CPU stress."""
    import multiprocessing

    p = problem(
        [Q("A", 2.0, capacity=7, take_or_pay=3), Q("B", 2.6), Q("C", 3.1, capacity=6), Q("D", 3.5)],
        demands=(1000.0, 600.0),
        tokens_per_s_per_chip=[[100.0, 90.0, 120.0, 100.0], [80.0, 100.0, 100.0, 60.0]],
        policy=Policy(max_share=0.6, min_vendors=2, n_minus_1=0.3),
    )

    def answers(workers: int) -> dict[str, object]:
        data = analyze_leverage(p, dataclasses.replace(OPTS, workers=workers)).to_json()
        data.pop("analysis")
        return data

    quiet = answers(1)
    burners = [multiprocessing.Process(target=_burn, args=(60.0,)) for _ in range(2)]
    for b in burners:
        b.start()
    try:
        stressed = [answers(1), answers(2)]
    finally:
        for b in burners:
            b.terminate()
            b.join()
    assert stressed == [quiet, quiet]


def test_time_limit_spent_before_the_base_plan_is_a_clear_error() -> None:
    with pytest.raises(SolverError, match="within the time limit"):
        analyze_leverage(TWO, dataclasses.replace(OPTS, time_limit_s=0.0))


def test_no_solve_starts_after_the_deadline() -> None:
    variants = Variants(TWO, OPTS.solve, deadline=time.time() - 1.0)
    before = variants.live.solves
    found = variants.answer(variants.scale("A", 1.2))
    assert found.stopped_by_clock and not found.has_plan
    assert found.status is SolveStatus.NO_SOLUTION
    assert variants.live.solves == before


def test_vendors_cut_short_by_the_time_limit_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the clock runs out, every later answer is marked and the report says so."""
    import chipfolio.analysis.leverage as leverage_module

    policy = Policy(max_share=0.7, min_vendors=2)
    p = problem(
        [Q("A", 2.0, capacity=7), Q("B", 2.6), Q("C", 3.1)], demands=(1000.0, 600.0), policy=policy
    )
    real = Variants.answer
    calls = [0]

    def clock_runs_out(self: Variants, change: object = None, **kwargs: object) -> Answer:
        calls[0] += 1
        if calls[0] > 2:  # the base plan and the loosest frontier point are answered
            return Answer(SolveStatus.NO_SOLUTION, None, None, None, None, True)
        return real(self, change, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(leverage_module.Variants, "answer", clock_runs_out)
    report = analyze_leverage(p, OPTS)
    assert report.stopped_by_time_limit
    used = [v for v in report.vendors if v.cost_usd > 0]
    assert used and all(v.reason_code is WalkAwayReason.CLOCK for v in used)
    assert all(v.walk_away_multiplier is None for v in used)
    data = report.to_json()
    assert data["analysis"]["stopped_by_time_limit"] is True  # type: ignore[index]
    assert not any(v["walk_away_exact"] for v in data["vendors"])  # type: ignore[union-attr]
    assert data["cost_without_policy_usd"] is None and data["policy_cost_usd"] is None
    assert data["tightest_feasible_proven"] is False


def test_an_analysis_inside_its_time_limit_is_not_marked() -> None:
    report = analyze_leverage(TWO, dataclasses.replace(OPTS, time_limit_s=600.0))
    assert not report.stopped_by_time_limit
    assert report.to_json()["tightest_feasible_proven"] is True
    assert report.vendor("A").walk_away_multiplier == pytest.approx(1.5)
