"""Property tests: on tiny random instances the plan is optimal and obeys every constraint.

The reference is an exhaustive search over instance counts using an evaluator that shares no
code with the formulation (planner_cases.evaluate). Capacities bound every offer to a few
instances so the search is complete.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner_cases import Of, Wl, brute_force, evaluate, instances, make_problem

from chipfolio.errors import InfeasibleError
from chipfolio.planner import Policy, Problem, ShareBy, SolveOptions, solve_problem

MAX_INSTANCES = 3
EXACT = SolveOptions(mip_gap=0.0, time_limit_s=20)


@st.composite
def tiny_problems(draw: st.DrawFn) -> Problem:
    n_offers = draw(st.integers(2, 3))
    n_work = draw(st.integers(1, 2))
    providers = draw(
        st.lists(st.sampled_from(["pa", "pb", "pc"]), min_size=n_offers, max_size=n_offers)
    )
    offers = []
    for i in range(n_offers):
        k = draw(st.sampled_from([1, 2, 4]))
        top = draw(st.sampled_from([0, 0, 0, k]))
        offers.append(
            Of(
                id=f"o{i}",
                provider=providers[i],
                price=draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])),
                k=k,
                cap=k * MAX_INSTANCES,
                top=top,
                vendor=draw(st.sampled_from(["nvidia", "amd"])),
            )
        )
    workloads = []
    for j in range(n_work):
        tput = draw(
            st.lists(st.sampled_from([0, 10, 20, 30, 50]), min_size=n_offers, max_size=n_offers)
        )
        if not any(tput):
            tput[0] = 10
        workloads.append(
            Wl(
                f"w{j}",
                draw(st.sampled_from([10, 25, 40, 60, 90])),
                tput,
                critical=draw(st.booleans()),
            )
        )
    policy = Policy(
        max_share=draw(st.sampled_from([1.0, 1.0, 0.7, 0.5])),
        share_by=draw(st.sampled_from([ShareBy.PROVIDER, ShareBy.SILICON])),
        min_vendors=draw(st.sampled_from([1, 1, 2])),
        n_minus_1=draw(st.sampled_from([0.0, 0.0, 0.3, 0.6])),
    )
    return make_problem(offers, workloads, policy, horizon=10.0)


def _check(problem: Problem, prune: bool) -> None:
    best = brute_force(problem, MAX_INSTANCES)
    options = SolveOptions(mip_gap=0.0, time_limit_s=20, prune=prune)
    if math.isinf(best):
        with pytest.raises(InfeasibleError):
            solve_problem(problem, options)
        return
    plan = solve_problem(problem, options)
    ok, cost = evaluate(problem, instances(problem, plan.allocations))
    assert ok, "the plan violates a constraint"
    assert cost == pytest.approx(plan.total_cost_usd, rel=1e-6)
    assert plan.total_cost_usd == pytest.approx(best, rel=1e-6), "the plan is not optimal"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_problems())
def test_plan_is_optimal_and_feasible(problem: Problem) -> None:
    _check(problem, prune=False)


@st.composite
def problems_with_twins(draw: st.DrawFn) -> Problem:
    """Offers that are near-copies (same provider and chip, other price or capacity), so
    pruning has something to remove."""
    base = draw(tiny_problems())
    offers = []
    for i in range(len(base.offers)):
        offers.append(
            Of(
                id=str(base.offers.ids[i]),
                provider=str(base.offers.providers[i]),
                price=float(base.offers.usd_per_chip_hour[i]),
                k=int(base.offers.chips_per_instance[i]),
                cap=draw(st.sampled_from([math.inf, float(base.offers.capacity_chips[i])])),
                vendor=str(base.offers.vendors[i]),
            )
        )
    twin = offers[0]
    offers.append(
        Of(
            "twin",
            twin.provider,
            draw(st.sampled_from([twin.price, twin.price * 1.5])),
            k=twin.k,
            vendor=twin.vendor,
        )
    )
    tput = np.column_stack([base.tokens_per_s_per_chip, base.tokens_per_s_per_chip[:, :1]])
    workloads = [
        Wl(
            str(base.workloads.names[j]),
            float(base.workloads.demand_tokens_per_s[j]),
            list(tput[j]),
            bool(base.workloads.critical[j]),
        )
        for j in range(len(base.workloads))
    ]
    return make_problem(offers, workloads, base.policy, horizon=10.0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems_with_twins())
def test_pruning_never_changes_the_optimum(problem: Problem) -> None:
    unlimited = np.isinf(problem.offers.capacity_chips)
    if unlimited.any():  # unbounded offers: compare pruned and unpruned solves directly
        try:
            full = solve_problem(problem, SolveOptions(mip_gap=0.0, prune=False)).total_cost_usd
        except InfeasibleError:
            with pytest.raises(InfeasibleError):
                solve_problem(problem, SolveOptions(mip_gap=0.0, prune=True))
            return
        pruned = solve_problem(problem, SolveOptions(mip_gap=0.0, prune=True))
        assert pruned.total_cost_usd == pytest.approx(full, rel=1e-7)
        ok, _ = evaluate(problem, instances(problem, pruned.allocations))
        assert ok
    else:
        _check(problem, prune=True)
