"""Conformance suite: tiny problems with hand-computed optima, run against every solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
from planner_cases import Of, Wl, make_problem

from chipfolio.errors import InfeasibleError
from chipfolio.planner import (
    Plan,
    Policy,
    Problem,
    ShareBy,
    SolveOptions,
    Solver,
    SolveStatus,
    get_solver,
    solve_problem,
)
from chipfolio.planner.formulation import build_formulation

EXACT = SolveOptions(mip_gap=0.0, time_limit_s=20)
SOLVERS = ["highs"]


@pytest.fixture(params=SOLVERS)
def solver(request: pytest.FixtureRequest) -> Solver:
    return get_solver(request.param)


def plan(problem: Problem, solver: Solver, **options: object) -> Plan:
    opts = SolveOptions(**{"mip_gap": 0.0, "time_limit_s": 20, **options})  # type: ignore[arg-type]
    return solve_problem(problem, opts, solver)


def chips(p: Plan, workload: str | None, offer: str) -> int:
    return sum(a.chips for a in p.allocations if a.workload == workload and a.offer == offer)


def test_single_offer_rounds_up_to_whole_instances(solver: Solver) -> None:
    # 1000 tok/s at 100 tok/s/chip on 4-chip instances: 3 instances, 12 chips, $2 x 12 x 100 h
    p = plan(make_problem([Of("a", "x", 2.0, k=4)], [Wl("w", 1000, [100])]), solver)
    assert p.total_cost_usd == pytest.approx(2400.0)
    assert chips(p, "w", "a") == 12
    assert p.allocations[0].instances == 3


def test_cheapest_per_token_wins(solver: Solver) -> None:
    # a: $0.02 per tok/s-hour, b: $0.015 -> 5 chips of b
    offers = [Of("a", "x", 2.0), Of("b", "y", 3.0)]
    p = plan(make_problem(offers, [Wl("w", 1000, [100, 200])]), solver)
    assert p.total_cost_usd == pytest.approx(1500.0)
    assert chips(p, "w", "b") == 5 and chips(p, "w", "a") == 0


def test_capacity_forces_a_split(solver: Solver) -> None:
    offers = [Of("a", "x", 2.0), Of("b", "y", 3.0, cap=3)]
    p = plan(make_problem(offers, [Wl("w", 1000, [100, 200])]), solver)
    assert p.total_cost_usd == pytest.approx(3 * 3 * 100 + 4 * 2 * 100)


def test_capacity_is_shared_between_workloads(solver: Solver) -> None:
    offers = [Of("a", "x", 1.0, cap=10), Of("b", "y", 5.0)]
    wl = [Wl("u", 800, [100, 100]), Wl("v", 800, [100, 100])]
    p = plan(make_problem(offers, wl), solver)
    assert chips(p, "u", "a") + chips(p, "v", "a") == 10
    assert p.total_cost_usd == pytest.approx(10 * 100 + 6 * 5 * 100)


def test_issue_minimal_example_share_cap_forces_equal_spend(solver: Solver) -> None:
    # Two vendors capped at 50% must spend exactly the same: 5840 a = 18688 b -> a=112, b=35
    offers = [
        Of("az-maia", "azure", 2.0, k=4, cap=4096, chip="maia-200", vendor="microsoft"),
        Of("aws-trn2", "aws", 1.6, k=16, cap=2048, chip="trainium2", vendor="aws"),
    ]
    policy = Policy(max_share=0.5, share_by=ShareBy.PROVIDER, min_vendors=2, n_minus_1=0.6)
    problem = make_problem(offers, [Wl("chat", 500_000, [900, 600], critical=True)], policy, 730)
    p = plan(problem, solver)
    assert p.total_cost_usd == pytest.approx(1_308_160.0)
    assert p.vendor_shares["azure"] == pytest.approx(0.5)
    assert p.n_minus_1["aws"]["chat"] == pytest.approx(403_200 / 500_000)
    assert p.n_minus_1["azure"]["chat"] == pytest.approx(336_000 / 500_000)


def test_min_vendors_adds_the_cheapest_second_vendor(solver: Solver) -> None:
    offers = [Of("a", "pa", 1.0), Of("b", "pb", 10.0)]
    policy = Policy(min_vendors=2)
    p = plan(make_problem(offers, [Wl("w", 1000, [100, 100], critical=True)], policy), solver)
    assert p.total_cost_usd == pytest.approx((9 * 1 + 1 * 10) * 100)


def test_min_vendors_ignores_non_critical_workloads(solver: Solver) -> None:
    offers = [Of("a", "pa", 1.0), Of("b", "pb", 10.0)]
    p = plan(make_problem(offers, [Wl("w", 1000, [100, 100])], Policy(min_vendors=2)), solver)
    assert p.total_cost_usd == pytest.approx(1000.0)


def test_n_minus_1_keeps_half_outside_each_vendor(solver: Solver) -> None:
    offers = [Of("a", "pa", 1.0), Of("b", "pb", 2.0)]
    policy = Policy(n_minus_1=0.5)
    p = plan(make_problem(offers, [Wl("w", 1000, [100, 100], critical=True)], policy), solver)
    assert p.total_cost_usd == pytest.approx((5 * 1 + 5 * 2) * 100)
    assert min(row["w"] for row in p.n_minus_1.values()) >= 0.5


def test_share_by_silicon_groups_providers_of_one_chip_maker(solver: Solver) -> None:
    # two clouds sell the same NVIDIA chip; by silicon they are one vendor -> AMD must get half
    offers = [
        Of("n1", "c1", 1.0, vendor="nvidia"),
        Of("n2", "c2", 1.0, vendor="nvidia"),
        Of("m1", "c1", 2.0, vendor="amd", chip="mi300x"),
    ]
    policy = Policy(max_share=0.5, share_by=ShareBy.SILICON)
    p = plan(make_problem(offers, [Wl("w", 1000, [100, 100, 100])], policy), solver)
    assert p.vendor_shares["amd"] == pytest.approx(0.5)
    # equal spend: n x $1 = m x $2 with n + m >= 10 -> m = 4, n = 8
    assert p.total_cost_usd == pytest.approx((8 * 1 + 4 * 2) * 100)


def test_take_or_pay_commitment_is_used_first(solver: Solver) -> None:
    # c: 20 chips committed (paid anyway), list $1 > d's $0.5; 10 chips needed -> all on c
    offers = [Of("c", "pc", 1.0, cap=30, top=20), Of("d", "pd", 0.5)]
    p = plan(make_problem(offers, [Wl("w", 1000, [100, 100])]), solver)
    assert chips(p, "w", "c") == 10
    assert p.total_cost_usd == pytest.approx(20 * 1.0 * 100)
    idle = [a for a in p.allocations if a.workload is None]
    assert len(idle) == 1 and idle[0].chips == 10 and idle[0].cost_usd == pytest.approx(1000)


def test_take_or_pay_overflow_goes_to_the_cheapest(solver: Solver) -> None:
    offers = [Of("c", "pc", 1.0, cap=30, top=20), Of("d", "pd", 0.5)]
    p = plan(make_problem(offers, [Wl("w", 2500, [100, 100])]), solver)
    assert chips(p, "w", "c") == 20 and chips(p, "w", "d") == 5
    assert p.total_cost_usd == pytest.approx(2000 + 5 * 0.5 * 100)


def test_unused_commitment_is_still_paid(solver: Solver) -> None:
    offers = [Of("c", "pc", 1.0, cap=30, top=20), Of("d", "pd", 0.5)]
    p = plan(make_problem(offers, [Wl("w", 1000, [0, 100])]), solver)
    assert p.total_cost_usd == pytest.approx(2000 + 10 * 0.5 * 100)
    assert p.cost_by_vendor_usd["pc"] == pytest.approx(2000)


def test_reserved_block_with_start_date_takes_over_when_it_arrives(solver: Solver) -> None:
    # on-demand at $3 covers hours 0-40, the $1 reservation from hour 40 on
    offers = [Of("od", "p1", 3.0), Of("rsv", "p1", 1.0, start=40)]
    p = plan(make_problem(offers, [Wl("w", 1000, [100, 100])]), solver)
    assert p.total_cost_usd == pytest.approx(10 * 3 * 40 + 10 * 1 * 60)
    windows = sorted((a.offer, a.from_hour, a.to_hour) for a in p.allocations)
    assert windows == [("od", 0.0, 40.0), ("rsv", 40.0, 100.0)]


def test_capacity_is_checked_when_a_reservation_starts(solver: Solver) -> None:
    # two workloads share the offer; each runs in its own window, so 10 chips suffice
    offers = [Of("shared", "p1", 1.0, cap=10), Of("late", "p2", 0.1, start=50), Of("x", "p3", 9.0)]
    wl = [Wl("u", 1000, [100, 100, 100]), Wl("v", 1000, [100, 0, 100])]
    p = plan(make_problem(offers, wl), solver)
    # u uses shared for 0-50 then the cheap late block; v needs shared all the time -> conflict
    # at hours 0-50: 10 chips of shared serve one workload, the other pays $9 there
    best = min(
        10 * 1 * 50 + 10 * 0.1 * 50 + 10 * 9 * 100,  # v on x, u on shared then late
        10 * 9 * 50 + 10 * 0.1 * 50 + 10 * 1 * 100,  # u on x then late, v on shared
    )
    assert p.total_cost_usd == pytest.approx(best)


def test_training_pays_only_until_its_deadline(solver: Solver) -> None:
    # 3.6e8 tokens by hour 50 -> 2000 tok/s; 20 chips x $1 x 50 h
    offers = [Of("a", "p", 1.0)]
    job = Wl("t", 3.6e8 / (50 * 3600), [100], kind="training", deadline=50)
    p = plan(make_problem(offers, [job]), solver)
    assert p.total_cost_usd == pytest.approx(20 * 1.0 * 50)
    assert p.workload("t").finish_hour == pytest.approx(50)


def test_gang_job_stays_in_one_offer(solver: Solver) -> None:
    # 16 chips needed; two offers of 10 each -> only a 20-chip offer can take the gang job
    offers = [Of("a", "p1", 1.0, cap=10), Of("b", "p2", 1.0, cap=10), Of("c", "p3", 3.0, cap=20)]
    job = Wl("t", 1600, [100, 100, 100], kind="training", gang=True)
    p = plan(make_problem(offers, [job]), solver)
    assert {a.offer for a in p.allocations} == {"c"}
    assert p.total_cost_usd == pytest.approx(16 * 3 * 100)
    split = Wl("t", 1600, [100, 100, 100], kind="training", gang=False)
    q = plan(make_problem(offers, [split]), solver)
    assert q.total_cost_usd == pytest.approx(16 * 1 * 100)


def test_gang_job_on_a_late_reservation_needs_more_chips(solver: Solver) -> None:
    # a reservation from hour 50 of 100 has half the time: the job needs twice the chips there
    offers = [Of("late", "p1", 1.0, start=50), Of("now", "p2", 2.5)]
    job = Wl("t", 1000, [100, 100], kind="training", gang=True)
    p = plan(make_problem(offers, [job]), solver)
    assert chips(p, "t", "late") == 20
    assert p.total_cost_usd == pytest.approx(20 * 1 * 50)


def test_instances_per_unit_keeps_replicas_whole(solver: Solver) -> None:
    problem = make_problem([Of("a", "p", 1.0, k=4)], [Wl("w", 1000, [100])])
    import dataclasses

    problem = dataclasses.replace(problem, instances_per_unit=np.array([[2]]))
    p = plan(problem, solver)
    assert p.allocations[0].instances % 2 == 0
    assert p.total_cost_usd == pytest.approx(16 * 1.0 * 100)


def test_budget_mode_serves_the_most_it_can(solver: Solver) -> None:
    # $1000 buys 10 chip-hours x 100 h? -> 10 chips at $1 for 100 h = $1000 -> 1000 tok/s
    offers = [Of("a", "p", 1.0)]
    wl = [Wl("u", 1000, [100]), Wl("v", 1000, [50])]
    p = plan(make_problem(offers, wl, budget=1000.0), solver)
    assert p.total_cost_usd <= 1000.0 + 1e-6
    assert p.workload("u").served_fraction == pytest.approx(1.0)  # cheaper to serve per fraction
    assert p.workload("v").served_fraction == pytest.approx(0.0)
    assert p.budget_usd == 1000.0


def test_budget_mode_serves_critical_workloads_in_full(solver: Solver) -> None:
    offers = [Of("a", "p", 1.0)]
    wl = [Wl("u", 1000, [100]), Wl("v", 1000, [50], critical=True)]
    p = plan(make_problem(offers, wl, budget=2500.0), solver)
    assert p.workload("v").served_fraction >= 1.0
    assert p.workload("u").served_fraction == pytest.approx(0.5)


def test_infeasible_raises_with_a_reason(solver: Solver) -> None:
    offers = [Of("a", "pa", 1.0, cap=5)]
    with pytest.raises(InfeasibleError) as err:
        plan(make_problem(offers, [Wl("w", 1000, [100])]), solver)
    assert "supply at most 500 tokens/s" in str(err.value)
    assert err.value.exit_code == 2


def test_total_cost_is_the_sum_of_allocation_costs(solver: Solver) -> None:
    offers = [Of("c", "pc", 1.3, cap=30, top=7, k=2), Of("d", "pd", 0.7, k=8), Of("e", "pe", 0.9)]
    policy = Policy(max_share=0.6, n_minus_1=0.3)
    wl = [Wl("u", 3333, [100, 90, 80], critical=True), Wl("v", 777, [0, 50, 60])]
    p = plan(make_problem(offers, wl, policy), solver)
    doc = p.to_json()
    assert doc["total_cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in doc["allocations"]))
    assert p.total_cost_usd == pytest.approx(sum(a.cost_usd for a in p.allocations))
    assert sum(p.vendor_shares.values()) == pytest.approx(1.0)
    assert max(p.vendor_shares.values()) <= 0.6 + 1e-9


def test_solver_result_matches_the_plan(solver: Solver) -> None:
    offers = [Of("a", "pa", 1.0), Of("b", "pb", 2.0)]
    problem = make_problem(
        offers, [Wl("w", 1000, [100, 100], critical=True)], Policy(n_minus_1=0.5)
    )
    result = solver.solve(build_formulation(problem), EXACT)
    assert result.status is SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(1500.0)
    assert result.mip_gap == pytest.approx(0.0, abs=1e-9)
    assert solver.capabilities.integer and solver.capabilities.row_duals


def test_lp_relaxation_is_a_lower_bound_with_duals(solver: Solver) -> None:
    problem = make_problem([Of("a", "p", 2.0, k=4)], [Wl("w", 1000, [100])])
    lp = solver.solve(build_formulation(problem), SolveOptions(relax=True))
    assert lp.objective == pytest.approx(2000.0)  # 10 chips, fractional instances
    assert lp.row_duals is not None
    assert lp.row_duals[0] == pytest.approx(2.0 * 100 / 100)  # $ per extra tok/s


def test_deterministic_results(solver: Solver) -> None:
    offers = [Of(f"o{i}", f"p{i % 3}", 1 + 0.1 * i, k=1 + i % 4) for i in range(12)]
    rng = np.random.default_rng(3)
    wl = [Wl(f"w{j}", 900 + 100 * j, list(rng.integers(20, 120, 12))) for j in range(5)]
    problem = make_problem(offers, wl, Policy(max_share=0.5, n_minus_1=0.4))
    a = plan(problem, solver).to_json()
    b = plan(problem, solver).to_json()
    for doc in (a, b):
        doc["solver"].pop("seconds")
        doc["solver"].pop("build_seconds")
    assert a == b


def test_horizon_and_snapshot_are_recorded(solver: Solver) -> None:
    p = plan(make_problem([Of("a", "p", 1.0)], [Wl("w", 100, [100])], horizon=24), solver)
    doc = p.to_json()
    assert doc["horizon_hours"] == 24 and doc["catalog_snapshot"] == "none"
    assert doc["solver"]["name"] == "highs" and doc["status"] == "optimal"
    assert math.isclose(doc["total_cost_usd"], 24.0)
