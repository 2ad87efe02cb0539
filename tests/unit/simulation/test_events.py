"""Events: sampling is reproducible and respects the world; the timeline encodes each kind."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from chipfolio.simulation.events import (
    Event,
    EventAssumptions,
    EventKind,
    World,
    build_timeline,
    count_by_kind,
    sample_events,
)

STEP = 6.0
STEPS = 40  # 240 h


def world(**changes: object) -> World:
    base = World(
        providers=("aws", "aws", "gcp", "lambda"),
        silicon=("nvidia", "aws", "google", "nvidia"),
        regions=("us-east-1", "us-east-1", "us-central1", "us-west"),
        pricing=("on_demand", "reserved", "on_demand", "spot"),
        available_from_hour=(0.0, 48.0, 0.0, 0.0),
        available_until_hour=(math.inf, math.inf, 120.0, math.inf),
        horizon_hours=240.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def silent() -> EventAssumptions:
    zero = {
        f.name: 0.0
        for f in dataclasses.fields(EventAssumptions)
        if not isinstance(f.default, tuple)
    }
    return EventAssumptions(**zero)


def timeline(events: list[Event], w: World | None = None):  # type: ignore[no-untyped-def]
    return build_timeline(w or world(), events, STEP, STEPS, EventAssumptions())


def test_sampling_is_reproducible_and_sorted() -> None:
    busy = EventAssumptions(provider_outages_per_month=3.0, region_outages_per_month=3.0)
    a = sample_events(np.random.default_rng(11), world(), busy)
    b = sample_events(np.random.default_rng(11), world(), busy)
    assert a == b
    starts = [e.start_hour for e in a]
    assert starts == sorted(starts)
    assert a != sample_events(np.random.default_rng(12), world(), busy)


def test_events_only_hit_offers_that_match_their_target() -> None:
    w = world()
    busy = EventAssumptions(
        provider_outages_per_month=5.0,
        region_outages_per_month=5.0,
        capacity_cuts_per_month=5.0,
        preemptions_per_month=20.0,
        spot_moves_per_month=10.0,
    )
    for seed in range(20):
        for e in sample_events(np.random.default_rng(seed), w, busy):
            assert e.offers, e
            if e.kind is EventKind.PROVIDER_OUTAGE:
                assert {w.providers[i] for i in e.offers} == {e.target}
            if e.kind is EventKind.REGION_OUTAGE:
                provider, region = e.target.split("/")
                assert all(w.providers[i] == provider and w.regions[i] == region for i in e.offers)
            if e.kind in (EventKind.SPOT_PREEMPTION,):
                assert all(w.pricing[i] == "spot" for i in e.offers)
            if e.kind is EventKind.CAPACITY_CUT:
                assert {w.silicon[i] for i in e.offers} == {e.target}
            assert 0.0 <= e.start_hour < w.horizon_hours


def test_no_rates_means_no_events() -> None:
    assert sample_events(np.random.default_rng(0), world(), silent()) == ()


def test_late_delivery_targets_future_and_contracted_capacity_only() -> None:
    sure = dataclasses.replace(silent(), late_delivery_probability=1.0, late_start_probability=0.0)
    sure = dataclasses.replace(sure, late_delivery_mean_hours=10.0)
    events = sample_events(np.random.default_rng(0), world(), sure)
    assert [e.offers for e in events] == [(1,)]
    assert events[0].start_hour == 48.0


def test_renewal_happens_for_contracts_ending_inside_the_horizon() -> None:
    w = world(pricing=("on_demand", "reserved", "committed", "spot"))
    events = sample_events(np.random.default_rng(0), w, silent())
    renewals = [e for e in events if e.kind is EventKind.RENEWAL]
    assert [e.offers for e in renewals] == [(2,)] and renewals[0].start_hour == 120.0


def test_outage_stops_delivery_and_ordering_and_flags_replans() -> None:
    outage = Event(EventKind.PROVIDER_OUTAGE, 30.0, 15.0, "gcp", (2,), 1.0)
    t = timeline([outage])
    # steps 5 (30-36) and 6 (36-42) fully out, step 7 (42-48) half out
    assert t.delivering[2, 5:8].tolist() == [0.0, 0.0, 0.5]
    assert t.delivering[0, 5:8].tolist() == [1.0, 1.0, 1.0]
    # at the end of steps 5 and 6 the offer is still down; at the end of step 7 it is back
    assert t.orderable[2, 4:8].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert t.replan[5] and t.replan[7] and t.replan.sum() == 2
    assert (t.billable[2, 5:8] == 1.0).all()  # a contract would still be billed


def test_windows_limit_delivery_and_billing() -> None:
    t = timeline([])
    assert t.delivering[1, :8].sum() == 0.0 and t.delivering[1, 8] == 1.0  # from hour 48
    assert t.delivering[2, 19] == 1.0 and t.delivering[2, 20] == 0.0  # until hour 120
    assert np.array_equal(t.billable, t.delivering)


def test_late_delivery_shifts_the_window() -> None:
    late = Event(EventKind.LATE_DELIVERY, 48.0, 30.0, "1", (1,), 30.0)
    t = timeline([late])
    assert t.delivering[1, 8:14].tolist() == [0.0] * 5 + [1.0]
    assert t.billable[1, 12] == 0.0  # not paid before delivery
    assert t.replan[8] and t.replan[13]


def test_price_change_sets_a_level_and_renewal_multiplies_it() -> None:
    move = Event(EventKind.PRICE_CHANGE, 13.0, math.inf, "3", (3,), 1.3)
    t = timeline([move])
    assert t.price[3, :2].tolist() == [1.0, 1.0] and (t.price[3, 2:] == 1.3).all()
    renew = Event(EventKind.RENEWAL, 120.0, math.inf, "2", (2,), 1.2)
    t = timeline([renew], world(pricing=("on_demand", "reserved", "committed", "spot")))
    assert t.price[2, 19] == 1.0 and t.price[2, 20] == pytest.approx(1.2)
    assert t.delivering[2, 25] == 1.0 and math.isinf(t.available_until_hour[2])


def test_preemption_loses_delivery_without_a_replan() -> None:
    pre = Event(EventKind.SPOT_PREEMPTION, 12.0, 3.0, "3", (3,), 0.5)
    t = timeline([pre])
    assert t.delivering[3, 2] == pytest.approx(1.0 - 0.5 * 0.5)
    assert not t.replan.any() and (t.orderable == 1.0).all()


def test_capacity_cut_is_recorded_for_the_engine() -> None:
    cut = Event(EventKind.CAPACITY_CUT, 100.0, math.inf, "nvidia", (0, 3), 0.25)
    t = timeline([cut])
    assert t.cut[0, 16] == 0.75 and t.cut[3, 16] == 0.75 and (t.cut[:, :16] == 1.0).all()
    assert t.orderable[0, 16] == 0.75 and t.orderable[0, 39] == 0.75
    assert t.replan[16]
    assert (t.delivering[0] == 1.0).all()  # the engine takes instances away instead


def test_count_by_kind_lists_every_kind() -> None:
    counts = count_by_kind([Event(EventKind.RENEWAL, 1.0, 1.0, "x", (0,), 1.0)])
    assert counts[EventKind.RENEWAL.value] == 1
    assert set(counts) == {k.value for k in EventKind}


@pytest.mark.parametrize(
    "bad",
    [
        {"provider_outages_per_month": -1.0},
        {"late_delivery_probability": 1.5},
        {"preemption_fraction_range": (0.8, 0.2)},
        {"capacity_cut_fraction_range": (0.1, 1.5)},
        {"spot_move_sd": float("nan")},
    ],
)
def test_event_assumptions_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        EventAssumptions(**bad)  # type: ignore[arg-type]
