"""Strategies: policies, initial plans, and re-plans through the real planner."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import tiny_problem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chipfolio.errors import InfeasibleError, InputError, UnknownNameError
from chipfolio.planner.problem import OfferTable, Policy, Problem, ShareBy, WorkloadTable
from chipfolio.planner.solve import get_solver
from chipfolio.planner.solvers.base import SolveOptions
from chipfolio.simulation.model import ReplanRequest
from chipfolio.simulation.rounding import lp_rounded_schedule
from chipfolio.simulation.strategies import (
    PlannerReplanner,
    ReplanMode,
    StrategyName,
    parse_strategies,
    prepare_strategies,
    strategy_policy,
)

OPTIONS = SolveOptions()


def test_parse_strategies_keeps_order_and_rejects_bad_lists() -> None:
    assert parse_strategies("n1, cheapest") == (StrategyName.N1, StrategyName.CHEAPEST)
    with pytest.raises(UnknownNameError, match="did you mean 'capped'"):
        parse_strategies("caped")
    with pytest.raises(InputError, match="twice"):
        parse_strategies("n1,n1")
    with pytest.raises(InputError):
        parse_strategies(" , ")


def test_policies_derive_from_the_file() -> None:
    policy = Policy(max_share=0.6, share_by=ShareBy.SILICON, min_vendors=2, n_minus_1=0.5)
    assert strategy_policy(StrategyName.CHEAPEST, policy) == Policy(share_by=ShareBy.SILICON)
    assert strategy_policy(StrategyName.CAPPED, policy) == Policy(0.6, ShareBy.SILICON, 2, 0.0)
    assert strategy_policy(StrategyName.N1, policy) == policy


def test_initial_plans_get_dearer_as_protection_grows() -> None:
    cheapest, capped, n1 = prepare_strategies(tiny_problem(), tuple(StrategyName), OPTIONS)
    assert cheapest.initial_cost_usd <= capped.initial_cost_usd <= n1.initial_cost_usd
    assert cheapest.initial_cost_usd < n1.initial_cost_usd
    # cheapest puts chat on aws only; n1 spreads it
    chat = 0
    assert np.count_nonzero(cheapest.initial_instances[chat]) == 1
    assert np.count_nonzero(n1.initial_instances[chat]) >= 2


def test_an_impossible_initial_plan_names_the_strategy() -> None:
    p = tiny_problem(n_minus_1=1.0).with_capacity(np.array([False, True, True, True]), 0.0)
    with pytest.raises(InfeasibleError, match="strategy 'n1'"):
        prepare_strategies(p, (StrategyName.CHEAPEST, StrategyName.N1), OPTIONS)


def request(p: Problem, target: np.ndarray, **changes: object) -> ReplanRequest:
    n_w, n_o = len(p.workloads), len(p.offers)
    base = {
        "hour": 24.0,
        "active": np.ones(n_w, dtype=bool),
        "touched": np.ones(n_w, dtype=bool),
        "demand_tokens_per_s": p.workloads.demand_tokens_per_s.copy(),
        "hours_left": np.minimum(p.workloads.deadline_hours, p.horizon_hours) - 24.0,
        "capacity_factor": np.ones(n_o),
        "capacity_limit_chips": np.full(n_o, math.inf),
        "price_multiplier": np.ones(n_o),
        "available_until_hour": p.offers.available_until_hour.copy(),
        "target": target,
    }
    base.update(changes)
    return ReplanRequest(**base)  # type: ignore[arg-type]


def served(p: Problem, instances: np.ndarray, factor: np.ndarray | None = None) -> np.ndarray:
    cpi = p.offers.chips_per_instance[None, :]
    live = np.ones(len(p.offers)) if factor is None else factor
    return (instances * cpi * p.tokens_per_s_per_chip * live[None, :]).sum(1)


@pytest.mark.parametrize("mode", list(ReplanMode))
def test_a_replan_moves_work_off_a_lost_provider(mode: ReplanMode) -> None:
    p = tiny_problem(with_training=False)
    (cheapest,) = prepare_strategies(p, (StrategyName.CHEAPEST,), OPTIONS)
    replanner = PlannerReplanner(cheapest, OPTIONS, mode)
    aws = p.offers.providers == "aws"
    down = np.where(aws, 0.0, 1.0)
    touched = np.array([True, False])  # chat only; batch keeps what it holds
    plan = replanner.replan(
        request(p, cheapest.initial_instances, capacity_factor=down, touched=touched)
    )
    assert plan is not None
    out = plan.first
    assert (out[0, aws] == 0).all()
    assert served(p, out, down)[0] >= p.workloads.demand_tokens_per_s[0] - 1e-6
    assert np.array_equal(out[1], cheapest.initial_instances[1])


def test_identical_replans_come_from_the_cache_and_match() -> None:
    p = tiny_problem(with_training=False)
    (n1,) = prepare_strategies(p, (StrategyName.N1,), OPTIONS)
    replanner = PlannerReplanner(n1, OPTIONS)
    down = np.where(p.offers.providers == "gcp", 0.0, 1.0)
    first = replanner.replan(request(p, n1.initial_instances, capacity_factor=down))
    solves = replanner.solves
    second = replanner.replan(request(p, n1.initial_instances, capacity_factor=down))
    assert first is not None and second is not None
    assert first.hours == second.hours
    assert all(np.array_equal(a, b) for a, b in zip(first.instances, second.instances, strict=True))
    assert replanner.solves == solves and replanner.cache_hits >= 1


def test_n1_relaxes_its_policy_when_only_one_vendor_is_left() -> None:
    p = tiny_problem(with_training=False)
    (n1,) = prepare_strategies(p, (StrategyName.N1,), OPTIONS)
    only_gcp = np.where(p.offers.providers == "gcp", 1.0, 0.0)
    plan = PlannerReplanner(n1, OPTIONS).replan(
        request(p, n1.initial_instances, capacity_factor=only_gcp)
    )
    assert plan is not None
    out = plan.first
    assert (served(p, out, only_gcp) >= p.workloads.demand_tokens_per_s - 1e-6).all()


def test_when_capacity_runs_short_the_replan_serves_what_it_can() -> None:
    p = tiny_problem(with_training=False)
    (cheapest,) = prepare_strategies(p, (StrategyName.CHEAPEST,), OPTIONS)
    only_lambda = np.where(p.offers.providers == "lambda", 1.0, 0.0)  # 512 chips x 1000
    demand = p.workloads.demand_tokens_per_s * 20.0  # 1,000,000 tok/s wanted, 512,000 possible
    plan = PlannerReplanner(cheapest, OPTIONS).replan(
        request(
            p,
            cheapest.initial_instances,
            capacity_factor=only_lambda,
            demand_tokens_per_s=demand,
        )
    )
    assert plan is not None
    out = plan.first
    chips = (out * p.offers.chips_per_instance[None, :]).sum(0)
    assert chips[2] <= 512 and chips[2] >= 512 - 2 * 8
    assert (chips[[0, 1, 3]] == 0).all()
    assert served(p, out, only_lambda).sum() >= 512_000 - 16_000


def test_when_only_some_workloads_can_run_the_others_are_released() -> None:
    # only the Trainium block is up: the training job can run there, chat and batch cannot
    p = tiny_problem()
    (cheapest,) = prepare_strategies(p, (StrategyName.CHEAPEST,), OPTIONS)
    only_trainium = np.where(p.offers.ids == "aws-res", 1.0, 0.0)
    plan = PlannerReplanner(cheapest, OPTIONS).replan(
        request(
            p,
            cheapest.initial_instances,
            capacity_factor=only_trainium,
            demand_tokens_per_s=p.workloads.demand_tokens_per_s * 50.0,
        )
    )
    assert plan is not None
    for matrix in plan.instances:
        assert (matrix[:2] == 0).all()  # nothing left for the inference workloads
        assert (matrix[2, :3] == 0).all()  # training only where it can still run
    assert plan.instances[-1][2, 3] > 0


def test_nothing_left_means_nothing_is_bought() -> None:
    p = tiny_problem(with_training=False)
    (cheapest,) = prepare_strategies(p, (StrategyName.CHEAPEST,), OPTIONS)
    plan = PlannerReplanner(cheapest, OPTIONS).replan(
        request(p, cheapest.initial_instances, capacity_factor=np.zeros(len(p.offers)))
    )
    assert plan is not None and plan.first.sum() == 0


def test_untouched_or_finished_workloads_are_never_replanned() -> None:
    p = tiny_problem()
    (cheapest,) = prepare_strategies(p, (StrategyName.CHEAPEST,), OPTIONS)
    replanner = PlannerReplanner(cheapest, OPTIONS)
    none = np.zeros(len(p.workloads), dtype=bool)
    assert replanner.replan(request(p, cheapest.initial_instances, touched=none)) is None
    assert replanner.solves == 0


@st.composite
def small_problems(draw: st.DrawFn) -> Problem:
    n_o = draw(st.integers(2, 4))
    n_w = draw(st.integers(1, 3))
    prices = draw(st.lists(st.floats(0.5, 5.0), min_size=n_o, max_size=n_o))
    caps = draw(st.lists(st.sampled_from([math.inf, 64.0, 256.0]), min_size=n_o, max_size=n_o))
    rates = draw(
        st.lists(
            st.lists(st.sampled_from([0.0, 300.0, 700.0, 1000.0]), min_size=n_o, max_size=n_o),
            min_size=n_w,
            max_size=n_w,
        )
    )
    tput = np.array(rates)
    tput[:, 0] = np.maximum(tput[:, 0], 500.0)  # offer 0 (unlimited) runs everything
    caps[0] = math.inf
    offers = OfferTable(
        ids=[f"o{i}" for i in range(n_o)],
        providers=[f"p{i % 3}" for i in range(n_o)],
        vendors=["nvidia"] * n_o,
        chips=["h100-sxm"] * n_o,
        regions=["r"] * n_o,
        pricing=["on_demand"] * n_o,
        chips_per_instance=draw(st.lists(st.sampled_from([1, 4, 8]), min_size=n_o, max_size=n_o)),
        usd_per_chip_hour=prices,
        capacity_chips=caps,
        take_or_pay_chips=[0.0] * n_o,
        available_from_hour=[0.0] * n_o,
        available_until_hour=[math.inf] * n_o,
    )
    workloads = WorkloadTable(
        names=[f"w{i}" for i in range(n_w)],
        kinds=["inference"] * n_w,
        demand_tokens_per_s=draw(st.lists(st.floats(1e3, 2e5), min_size=n_w, max_size=n_w)),
        critical=[False] * n_w,
        gang=[False] * n_w,
        deadline_hours=[math.inf] * n_w,
        weight=[1.0] * n_w,
    )
    return Problem(offers, workloads, tput, np.ones_like(tput, dtype=bool), Policy(), 100.0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_rounded_lp_meets_demand_within_capacity_near_the_milp_cost(p: Problem) -> None:
    from chipfolio.planner.solve import solve_problem
    from chipfolio.simulation.strategies import instances_of

    rounded = lp_rounded_schedule(p, get_solver(), OPTIONS)
    assert rounded.valid and rounded.schedule is not None
    assert rounded.schedule.hours == (0.0,)  # nothing opens or closes: one segment
    x = rounded.schedule.first
    chips = (x * p.offers.chips_per_instance[None, :]).sum(0)
    assert (chips <= p.offers.capacity_chips + 1e-9).all()
    got = served(p, x)
    # rounding down on a full offer may leave at most one instance's worth short
    slack = (p.offers.chips_per_instance * p.tokens_per_s_per_chip).max(1)
    assert (got >= p.workloads.demand_tokens_per_s - slack - 1e-6).all()
    exact = instances_of(p, solve_problem(p, OPTIONS))
    usd = p.offers.usd_per_chip_hour * p.offers.chips_per_instance
    assert (x * usd).sum() <= (exact * usd).sum() + (usd.max() * x.shape[1] * x.shape[0]) + 1e-6


def test_a_plan_with_a_reserved_block_becomes_a_schedule() -> None:
    # aws-res (trainium2, $1.5) opens at hour 48; pretrain can use it, so the plan changes
    p = tiny_problem()
    (cheapest,) = prepare_strategies(p, (StrategyName.CHEAPEST,), OPTIONS)
    schedule = cheapest.initial
    assert schedule.hours[0] == 0.0
    res = int(np.flatnonzero(p.offers.ids == "aws-res")[0])
    if len(schedule.hours) > 1:
        assert schedule.hours[1] == 48.0
        assert schedule.first[:, res].sum() == 0 and schedule.instances[1][:, res].sum() > 0
    else:
        assert schedule.first[:, res].sum() == 0


def test_a_capped_replan_counts_what_the_other_workloads_keep() -> None:
    # chat alone would have to split 60/40; with batch's spend on gcp counted, all of chat
    # can sit on aws (the cheapest) while aws stays under 60% of the whole portfolio
    p = tiny_problem(with_training=False).with_policy(
        Policy(max_share=0.6, share_by=ShareBy.PROVIDER)
    )
    (capped,) = prepare_strategies(p, (StrategyName.CAPPED,), OPTIONS)
    target = np.zeros((2, len(p.offers)))
    target[0, 0] = 5  # chat: 5 x 8 H100 on aws = 40,000 tok/s, $80/h
    target[1, 1] = 8  # batch: 8 x 4 TPU on gcp = $83.2/h (more than it needs)
    chat_only = np.array([True, False])
    for mode in ReplanMode:
        plan = PlannerReplanner(capped, OPTIONS, mode).replan(request(p, target, touched=chat_only))
        assert plan is not None
        chat = plan.first[0]
        assert chat[0] == 5 and chat[1:].sum() == 0, (mode, chat)
        assert np.array_equal(plan.first[1], target[1])


@pytest.mark.parametrize("take_or_pay", [0.0, 64.0])
def test_rounding_places_a_gang_job_whole_on_one_offer(take_or_pay: float) -> None:
    offers = OfferTable(
        ids=["a", "b"],
        providers=["p1", "p2"],
        vendors=["nvidia", "nvidia"],
        chips=["h100-sxm", "h100-sxm"],
        regions=["r", "r"],
        pricing=["committed", "on_demand"],
        chips_per_instance=[8, 8],
        usd_per_chip_hour=[2.0, 2.0],
        capacity_chips=[256.0, math.inf],
        take_or_pay_chips=[take_or_pay, 0.0],
        available_from_hour=[0.0, 0.0],
        available_until_hour=[math.inf, math.inf],
    )
    workloads = WorkloadTable(
        names=["train"],
        kinds=["training"],
        demand_tokens_per_s=[100_000.0],
        critical=[False],
        gang=[True],
        deadline_hours=[100.0],
        weight=[1.0],
    )
    tput = np.array([[1000.0, 1000.0]])
    p = Problem(offers, workloads, tput, np.ones((1, 2), dtype=bool), Policy(), 100.0)
    rounded = lp_rounded_schedule(p, get_solver(), OPTIONS)
    assert rounded.schedule is not None
    x = rounded.schedule.first
    assert np.count_nonzero(x[0]) == 1  # one offer holds the whole job
    assert served(p, x)[0] >= 100_000.0


def gang_under_caps() -> Problem:
    """A gang job worth about half the portfolio and chat on small instances, cap 60%.

    The LP splits the gang job between providers to meet the cap; placed whole where the LP
    leaned most it pushes that provider to 64%, so the plain rounding breaks the cap.
    """
    offers = OfferTable(
        ids=["train-p1", "train-p2", "chat-p1", "chat-p2"],
        providers=["p1", "p2", "p1", "p2"],
        vendors=["nvidia"] * 4,
        chips=["h100-sxm"] * 4,
        regions=["r"] * 4,
        pricing=["on_demand"] * 4,
        chips_per_instance=[8, 8, 1, 1],
        usd_per_chip_hour=[2.0, 2.2, 2.0, 2.3],
        capacity_chips=[math.inf] * 4,
        take_or_pay_chips=[0.0] * 4,
        available_from_hour=[0.0] * 4,
        available_until_hour=[math.inf] * 4,
    )
    workloads = WorkloadTable(
        names=["train", "chat"],
        kinds=["training", "inference"],
        demand_tokens_per_s=[64_000.0, 40_000.0],
        critical=[False, False],
        gang=[True, False],
        deadline_hours=[100.0, math.inf],
        weight=[1.0, 1.0],
    )
    tput = np.array([[1000.0, 1000.0, 0.0, 0.0], [0.0, 0.0, 1000.0, 1000.0]])
    allowed = np.ones((2, 4), dtype=bool)
    return Problem(offers, workloads, tput, allowed, Policy(max_share=0.6), 100.0)


def shares(p: Problem, x: np.ndarray) -> dict[str, float]:
    usd = (x * p.offers.chips_per_instance * p.offers.usd_per_chip_hour).sum(0)
    total = float(usd.sum())
    return {str(v): float(usd[p.offers.providers == v].sum()) / total for v in ("p1", "p2")}


def test_a_cap_broken_by_a_whole_gang_job_is_repaired_without_the_milp() -> None:
    from chipfolio.planner.solve import solve_problem
    from chipfolio.simulation.strategies import instances_of

    p = gang_under_caps()
    plain = lp_rounded_schedule(p, get_solver(), OPTIONS, cap_tolerance=0.01, repair=False)
    assert plain.schedule is not None and not plain.valid
    assert max(shares(p, plain.schedule.first).values()) > 0.61

    fixed = lp_rounded_schedule(p, get_solver(), OPTIONS, cap_tolerance=0.01)
    assert fixed.valid and fixed.schedule is not None and fixed.lps > 1
    x = fixed.schedule.first
    assert np.count_nonzero(x[0]) == 1 and x[0].sum() == 8  # the gang job whole, on one offer
    assert max(shares(p, x).values()) <= 0.61
    assert (served(p, x) >= p.workloads.demand_tokens_per_s - 1e-6).all()
    assert fixed.bound <= fixed.cost and 0.0 <= fixed.gap < 0.05
    exact = instances_of(p, solve_problem(p, OPTIONS))
    usd = p.offers.chips_per_instance * p.offers.usd_per_chip_hour
    assert (x * usd).sum() <= 1.02 * (exact * usd).sum()


def test_a_small_capped_model_takes_the_milp_when_rounding_costs_too_much() -> None:
    # a 60% cap over 8-GPU instances: rounding up costs a whole instance per column, well
    # above the LP bound on a model this small, so the exact answer is used
    from chipfolio.simulation.strategies import SMALL_MODEL_GAP

    p = gang_under_caps()
    p = dataclasses.replace(p, offers=p.offers.replace(chips_per_instance=np.full(4, 8)))
    rounded = lp_rounded_schedule(p, get_solver(), OPTIONS, cap_tolerance=0.01)
    assert rounded.gap > SMALL_MODEL_GAP
    (capped,) = prepare_strategies(p, (StrategyName.CAPPED,), OPTIONS)
    target = np.zeros((2, 4))
    answers = [
        PlannerReplanner(capped, OPTIONS, mode).replan(request(p, target)) for mode in ReplanMode
    ]
    assert answers[0] is not None and answers[1] is not None
    assert np.array_equal(answers[0].first, answers[1].first)
