"""The engine on hand-made futures, against figures worked out by hand.

A greedy re-planner (every touched workload moves wholly to the cheapest orderable offer)
stands in for the planner so the expected numbers are easy to derive.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from chipfolio.planner.problem import OfferTable, Policy, Problem, WorkloadTable
from chipfolio.simulation.demand import DemandPath
from chipfolio.simulation.engine import run_strategy
from chipfolio.simulation.events import Event, EventAssumptions, EventKind, build_timeline
from chipfolio.simulation.model import (
    Clock,
    FloatArray,
    Future,
    Outcome,
    Reaction,
    ReplanRequest,
    Schedule,
    SimModel,
)
from chipfolio.simulation.scenario import build_model

HORIZON = 240.0
CLOCK = Clock.over(HORIZON, 6.0)
SECONDS = 3600.0


def problem(
    pricing: tuple[str, str] = ("on_demand", "on_demand"),
    take_or_pay: tuple[float, float] = (0.0, 0.0),
    training: bool = False,
) -> Problem:
    """Offer a: $2/chip-h, 1000 tok/s/chip; offer b: $3/chip-h, 1000 tok/s/chip; 8 chips each."""
    offers = OfferTable(
        ids=["a", "b"],
        providers=["p1", "p2"],
        vendors=["nvidia", "amd"],
        chips=["h100-sxm", "mi300x"],
        regions=["r1", "r2"],
        pricing=list(pricing),
        chips_per_instance=[8, 8],
        usd_per_chip_hour=[2.0, 3.0],
        capacity_chips=[math.inf, math.inf],
        take_or_pay_chips=list(take_or_pay),
        available_from_hour=[0.0, 0.0],
        available_until_hour=[math.inf, math.inf],
    )
    kind = "training" if training else "inference"
    workloads = WorkloadTable(
        names=["w"],
        kinds=[kind],
        demand_tokens_per_s=[16_000.0],  # exactly 2 instances
        critical=[False],
        gang=[False],
        deadline_hours=[200.0 if training else math.inf],
        weight=[1.0],
    )
    return Problem(
        offers=offers,
        workloads=workloads,
        tokens_per_s_per_chip=np.array([[1000.0, 1000.0]]),
        allowed=np.ones((1, 2), dtype=bool),
        policy=Policy(),
        horizon_hours=HORIZON,
    )


class Greedy:
    """Moves each touched workload wholly to the cheapest orderable offer."""

    def __init__(self, model: SimModel, refuse: bool = False) -> None:
        self.model = model
        self.refuse = refuse
        self.requests: list[ReplanRequest] = []

    def replan(self, request: ReplanRequest) -> Schedule | None:
        self.requests.append(request)
        if self.refuse:
            return None
        rate = self.model.tokens_per_s_per_instance()
        price = self.model.usd_per_chip_hour * request.price_multiplier
        target = request.target.copy()
        for w in np.flatnonzero(request.touched & request.active):
            usable = (request.capacity_factor > 0) & (rate[w] > 0)
            cost = np.where(usable, price * self.model.chips_per_instance / rate[w], np.inf)
            o = int(np.argmin(cost))
            target[w] = 0.0
            target[w, o] = math.ceil(request.demand_tokens_per_s[w] / rate[w, o] - 1e-9)
        return Schedule.constant(target)


def future(model: SimModel, events: list[Event], level: FloatArray | None = None) -> Future:
    timeline = build_timeline(
        model.world, events, CLOCK.step_hours, CLOCK.n_steps, EventAssumptions()
    )
    ones = np.ones((model.n_workloads, CLOCK.n_steps))
    return Future(timeline, DemandPath(level if level is not None else ones, ones.copy(), 0))


def run(
    p: Problem,
    events: list[Event],
    initial: list[list[float]] | Schedule,
    *,
    refuse: bool = False,
    level: FloatArray | None = None,
    reaction: Reaction | None = None,
) -> tuple[Outcome, Greedy]:
    model = build_model(p)
    greedy = Greedy(model, refuse)
    outcome = run_strategy(
        model,
        CLOCK,
        future(model, events, level),
        greedy,
        initial if isinstance(initial, Schedule) else Schedule.constant(np.array(initial, float)),
        reaction or Reaction(replan_headroom=0.0),
    )
    return outcome, greedy


def test_clock_tiles_the_horizon() -> None:
    clock = Clock.over(730.0, 6.0)
    assert clock.n_steps == 122 and clock.step_hours * 122 == pytest.approx(730.0)
    assert Clock.over(240.0, 6.0).n_steps == 40
    assert CLOCK.first_step_from(60.0) == 10 and CLOCK.first_step_from(60.5) == 11
    with pytest.raises(ValueError):
        Clock.over(240.0, 0.0)


def test_a_calm_future_costs_the_plan_and_serves_everything() -> None:
    outcome, greedy = run(problem(), [], [[2, 0]])
    assert outcome.cost_usd == pytest.approx(16 * 2.0 * HORIZON)
    assert outcome.unserved_fraction == 0.0 and outcome.slo_attainment == 1.0
    assert outcome.replans == 0 and not greedy.requests
    assert outcome.demanded_tokens == pytest.approx(16_000 * HORIZON * SECONDS)


def test_an_outage_is_unserved_until_replacements_arrive_then_moves_back() -> None:
    # offer a is out from hour 30 to 100; the strategy notices at hour 36 (end of step 5),
    # orders 2 instances of b that arrive 24 h later (hour 60) and moves back at hour 102.
    outage = Event(EventKind.PROVIDER_OUTAGE, 30.0, 70.0, "p1", (0,), 1.0)
    outcome, greedy = run(problem(), [outage], [[2, 0]])
    assert outcome.unserved_tokens == pytest.approx(16_000 * 30.0 * SECONDS)
    assert outcome.unserved_fraction == pytest.approx(30.0 / HORIZON)
    assert [r.hour for r in greedy.requests] == [36.0, 102.0]
    on_a = 16 * 2.0 * (HORIZON - 70.0)  # on-demand: nothing billed while out
    on_b = 16 * 3.0 * (102.0 - 60.0)
    warmup = 16 * 3.0 * Reaction().inference_warmup_hours
    assert outcome.migration_usd == pytest.approx(warmup)
    assert outcome.cost_usd == pytest.approx(on_a + on_b + warmup)
    # steps fully or partly short: 5 (30-36, half) through 9 (54-60)
    assert outcome.slo_attainment == pytest.approx((40 - 5) / 40)


def test_a_reservation_is_billed_through_an_outage_and_kept() -> None:
    outage = Event(EventKind.PROVIDER_OUTAGE, 30.0, 70.0, "p1", (0,), 1.0)
    outcome, _ = run(problem(pricing=("reserved", "on_demand")), [outage], [[2, 0]])
    on_a = 16 * 2.0 * HORIZON
    on_b = 16 * 3.0 * (102.0 - 60.0) + 16 * 3.0 * Reaction().inference_warmup_hours
    assert outcome.cost_usd == pytest.approx(on_a + on_b)


def test_take_or_pay_bills_the_commitment_even_when_unused() -> None:
    outcome, _ = run(
        problem(pricing=("committed", "on_demand"), take_or_pay=(64.0, 0.0)), [], [[2, 0]]
    )
    assert outcome.cost_usd == pytest.approx(64 * 2.0 * HORIZON)


def test_without_a_replan_an_outage_loses_exactly_its_share() -> None:
    outage = Event(EventKind.PROVIDER_OUTAGE, 30.0, 70.0, "p1", (0,), 1.0)
    outcome, greedy = run(problem(), [outage], [[2, 0]], refuse=True)
    assert outcome.unserved_fraction == pytest.approx(70.0 / HORIZON)
    assert outcome.migration_usd == 0.0 and len(greedy.requests) == 2


def test_demand_growth_triggers_a_replan_sized_for_the_new_level() -> None:
    level = np.ones((1, CLOCK.n_steps))
    level[0, 10:] = 1.2
    reaction = Reaction(replan_headroom=0.0, lead_same_offer_hours=6.0)
    outcome, greedy = run(problem(), [], [[2, 0]], level=level, reaction=reaction)
    assert [r.hour for r in greedy.requests] == [66.0]
    assert greedy.requests[0].demand_tokens_per_s[0] == pytest.approx(16_000 * 1.2)
    # 3 instances from step 12 (hour 72) on; steps 10 and 11 are short by 3,200 tok/s
    assert outcome.unserved_tokens == pytest.approx(3_200 * 12.0 * SECONDS)


def test_training_meets_its_deadline_and_stops_paying_when_done() -> None:
    # 16,000 tok/s for 200 h; 3 instances (24,000 tok/s) finish it at hour 133.3
    outcome, _ = run(problem(training=True), [], [[3, 0]])
    assert outcome.deadline_misses == 0 and outcome.training_workloads == 1
    finish_hour = 16_000 * 200.0 / 24_000  # billed up to the moment the budget is done
    assert outcome.cost_usd == pytest.approx(24 * 2.0 * finish_hour)


def test_training_misses_its_deadline_when_it_cannot_recover() -> None:
    outage = Event(EventKind.PROVIDER_OUTAGE, 30.0, 20.0, "p1", (0,), 1.0)
    outcome, _ = run(problem(training=True), [outage], [[2, 0]], refuse=True)
    assert outcome.deadline_misses == 1


def test_training_behind_schedule_replans_to_catch_up() -> None:
    outage = Event(EventKind.PROVIDER_OUTAGE, 30.0, 20.0, "p1", (0,), 1.0)
    outcome, greedy = run(problem(training=True), [outage], [[2, 0]])
    assert outcome.deadline_misses == 0
    assert any(r.demand_tokens_per_s[0] > 16_000 for r in greedy.requests)


def test_a_capacity_cut_takes_instances_away() -> None:
    cut = Event(EventKind.CAPACITY_CUT, 120.0, math.inf, "nvidia", (0,), 0.5)
    outcome, greedy = run(problem(), [cut], [[4, 0]], refuse=True)
    # 4 instances until hour 120, then 2 (still enough for the 2-instance demand)
    assert outcome.cost_usd == pytest.approx(32 * 2.0 * 120.0 + 16 * 2.0 * 120.0)
    assert outcome.unserved_fraction == 0.0
    assert greedy.requests[0].capacity_limit_chips[0] == pytest.approx(16.0)


def test_initial_allocation_shape_is_checked() -> None:
    model = build_model(problem())
    with pytest.raises(ValueError):
        run_strategy(
            model,
            CLOCK,
            future(model, []),
            Greedy(model),
            Schedule.constant(np.zeros((2, 2))),
            Reaction(),
        )


def test_a_scheduled_switch_happens_on_time_without_a_gap() -> None:
    # 2 instances of a until hour 63, then 2 of b: the switch falls inside step 10 (60-66);
    # b comes in at the start of that step and a leaves at its end, so nothing is short.
    plan = Schedule((0.0, 63.0), (np.array([[2.0, 0.0]]), np.array([[0.0, 2.0]])))
    outcome, greedy = run(problem(), [], plan)
    assert outcome.unserved_fraction == 0.0 and not greedy.requests
    on_a, on_b = 16 * 2.0 * 66.0, 16 * 3.0 * (HORIZON - 60.0)
    assert outcome.cost_usd == pytest.approx(on_a + on_b)
    assert outcome.migration_usd == 0.0  # a planned switch is part of the plan


def test_a_replanned_switch_waits_for_the_lead_time() -> None:
    class Later(Greedy):
        def replan(self, request: ReplanRequest) -> Schedule | None:
            self.requests.append(request)
            first = request.target.copy()
            second = np.array([[0.0, 2.0]])
            return Schedule((0.0, 6.0), (first, second))  # b wanted 6 h after deciding

    model = build_model(problem())
    outage = Event(EventKind.PROVIDER_OUTAGE, 30.0, 200.0, "p1", (0,), 1.0)
    later = Later(model)
    outcome = run_strategy(
        model, CLOCK, future(model, [outage]), later,
        Schedule.constant(np.array([[2.0, 0.0]])), Reaction(replan_headroom=0.0),
    )  # fmt: skip
    # decided at hour 36; b is new, so it arrives after 24 h (hour 60), not at hour 42
    assert outcome.unserved_fraction == pytest.approx(30.0 / HORIZON)
