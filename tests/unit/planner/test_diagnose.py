"""Infeasible portfolios: the message names the conflicting requirement and by how much."""

from __future__ import annotations

import pytest
from planner_cases import Of, Wl, make_problem

from chipfolio.errors import InfeasibleError
from chipfolio.planner import Policy, Problem, SolveOptions, solve_problem
from chipfolio.planner.diagnose import diagnose


def reasons(problem: Problem) -> str:
    with pytest.raises(InfeasibleError) as err:
        solve_problem(problem, SolveOptions(mip_gap=0))
    assert err.value.exit_code == 2
    assert err.value.conflicts and str(err.value).startswith("no feasible plan: ")
    return str(err.value)


TWO = [Of("a", "aws", 1.0, cap=100), Of("z", "azure", 1.0, cap=100)]


def test_not_enough_capacity() -> None:
    text = reasons(make_problem(TWO, [Wl("chat", 30_000, [100, 100])]))
    assert (
        "demand of 'chat' is 30,000 tokens/s but all offers it may use supply at most 20,000"
        in text
    )


def test_n_minus_1_names_the_vendor_and_the_shortfall() -> None:
    offers = [Of("a", "aws", 1.0, cap=100), Of("z", "azure", 1.0, cap=50)]
    text = reasons(
        make_problem(offers, [Wl("chat", 10_000, [100, 100], critical=True)], Policy(n_minus_1=0.8))
    )
    assert "n_minus_1 0.8 for 'chat' needs 8,000 tokens/s outside aws" in text
    assert "at most 5,000 tokens/s (0.50x demand)" in text


def test_min_vendors_counts_vendors_that_can_run_it() -> None:
    text = reasons(
        make_problem(TWO, [Wl("chat", 100, [10, 10], critical=True)], Policy(min_vendors=3))
    )
    assert "min_vendors 3 for 'chat': only 2 vendor(s) can run it (aws, azure)" in text


def test_share_cap_needs_enough_vendors() -> None:
    text = reasons(make_problem(TWO, [Wl("chat", 100, [10, 10])], Policy(max_share=0.3)))
    assert "max_share 0.3 needs spending spread over at least 4 vendors; only 2" in text


def test_share_cap_against_capacity() -> None:
    # azure can hold only a little, so aws's share cannot drop to 50%
    offers = [Of("a", "aws", 1.0), Of("z", "azure", 1.0, cap=2)]
    text = reasons(make_problem(offers, [Wl("chat", 1000, [100, 100])], Policy(max_share=0.5)))
    assert "max_share 0.5" in text and "on aws" in text


def test_gang_job_too_big_names_the_largest_offer() -> None:
    job = Wl("pretrain", 15_000, [100, 100], kind="training", gang=True)
    text = reasons(make_problem(TWO, [job]))
    assert "at least 150 chips" in text and "holds 100 chips" in text and "splittable" in text


def test_budget_too_small_for_critical_workloads() -> None:
    offers = [Of("a", "aws", 1.0)]
    problem = make_problem(offers, [Wl("chat", 1000, [100], critical=True)], budget=500.0)
    text = reasons(problem)
    assert "budget $500 is short by $500" in text and "at least $1,000" in text


def test_no_offer_during_part_of_the_horizon() -> None:
    offers = [Of("late", "aws", 1.0, start=40)]
    text = reasons(make_problem(offers, [Wl("chat", 100, [10])]))
    assert "'chat' (hours 0-40) has no offer it can use at that time" in text


def test_capacity_shared_between_workloads_is_quantified() -> None:
    # each workload alone fits, together they do not: the capacity family is relaxed
    offers = [Of("a", "aws", 1.0, cap=10)]
    text = reasons(make_problem(offers, [Wl("u", 800, [100]), Wl("v", 800, [100])]))
    assert "capacity of offer 'a' (10 chips) is short by 6 chips" in text


def test_diagnose_returns_nothing_for_feasible_problems() -> None:
    assert diagnose(make_problem(TWO, [Wl("chat", 100, [10, 10])])) == []
