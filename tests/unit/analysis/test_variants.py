"""Counterfactuals as changes of one built model agree with rebuilding each variant."""

from __future__ import annotations

import dataclasses

import pytest
from problems import Q, problem

from chipfolio.analysis.counterfactual import solve_outcome
from chipfolio.analysis.variants import Variants
from chipfolio.planner import SolveOptions
from chipfolio.planner.problem import Policy, Problem

EXACT = SolveOptions(mip_gap=1e-9, hard_deadline=False)


def _portfolio(policy: Policy) -> Problem:
    return problem(
        [Q("A", 2.0, capacity=7, take_or_pay=3), Q("B", 2.6), Q("C", 3.1, capacity=6), Q("D", 3.5)],
        demands=(1000.0, 600.0),
        tokens_per_s_per_chip=[[100.0, 90.0, 120.0, 100.0], [80.0, 100.0, 100.0, 60.0]],
        policy=policy,
    )


def _rebuilt(p: Problem) -> float | None:
    return solve_outcome(p, EXACT).cost_usd


POLICIES = [Policy(), Policy(max_share=0.5), Policy(max_share=0.45, min_vendors=2, n_minus_1=0.4)]


@pytest.mark.parametrize("policy", POLICIES, ids=["none", "cap", "all"])
def test_price_scaling_and_closing_match_a_rebuild(policy: Policy) -> None:
    p = _portfolio(policy)
    variants = Variants(p, EXACT)
    base = variants.answer()
    labels = p.vendor_of_offers()
    for label in ("A", "B", "C"):
        mask = labels == label
        for m in (0.5, 1.3, 2.5):
            got = variants.answer(variants.scale(label, m), starts=[base.x])  # type: ignore[list-item]
            want = _rebuilt(p.scale_prices(mask, m))
            assert got.cost_usd == pytest.approx(want, rel=1e-6), (label, m)
        got = variants.answer(variants.close(label))
        want = _rebuilt(p.drop_offers(mask))
        if want is None:
            assert got.cost_usd is None
        else:
            assert got.cost_usd == pytest.approx(want, rel=1e-6), label
    # every change was undone: the model answers the base question again
    assert variants.answer().cost_usd == pytest.approx(base.cost_usd, rel=1e-9)


def test_moving_the_cap_and_dropping_the_policy_match_a_rebuild() -> None:
    policy = Policy(max_share=0.45, min_vendors=2, n_minus_1=0.4)
    p = _portfolio(policy)
    variants = Variants(p, EXACT)
    for cap in (1.0, 0.6, 0.4, 0.3, 0.26):
        got = variants.answer(variants.cap(cap)).cost_usd
        want = _rebuilt(p.with_policy(dataclasses.replace(policy, max_share=cap)))
        assert (got is None) == (want is None), cap
        if want is not None:
            assert got == pytest.approx(want, rel=1e-6), cap
    got = variants.answer(variants.no_policy()).cost_usd
    assert got == pytest.approx(_rebuilt(p.with_policy(Policy())), rel=1e-6)


def test_cutoff_proves_no_cheaper_plan() -> None:
    p = _portfolio(Policy(max_share=0.5))
    variants = Variants(p, EXACT)
    base = variants.answer()
    assert base.cost_usd is not None
    none = variants.answer(cutoff=base.cost_usd * (1 - 1e-4))
    assert none.cost_usd is None and none.status.value == "infeasible"
    some = variants.answer(cutoff=base.cost_usd * (1 + 1e-4))
    assert some.cost_usd == pytest.approx(base.cost_usd, rel=1e-6)
