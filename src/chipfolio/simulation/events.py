"""Events that can befall a portfolio, how often (documented assumptions), and their timeline.

Events are sampled per scenario from its own random generator and depend only on the offers
(the "world"), never on a strategy, so every strategy faces the same future. A ``Timeline``
turns a scenario's events into per-offer, per-step arrays the engine reads: the fraction of
held chips that deliver, whether new capacity can be ordered, the price multiplier, and the
steps after which a strategy re-plans.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from chipfolio.simulation.demand import HOURS_PER_MONTH, step_overlap

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

SPOT = "spot"
CONTRACTED = ("reserved", "committed")


class EventKind(StrEnum):
    """What happened."""

    PROVIDER_OUTAGE = "provider_outage"
    REGION_OUTAGE = "region_outage"
    LATE_DELIVERY = "late_delivery"
    PRICE_CHANGE = "price_change"
    RENEWAL = "renewal"
    SPOT_PREEMPTION = "spot_preemption"
    CAPACITY_CUT = "capacity_cut"


@dataclass(frozen=True, slots=True)
class Event:
    """One event: when, how long (``inf`` = to the end), on which offers, how hard.

    ``magnitude`` is the fraction of capacity lost (outages 1.0, preemptions and cuts less),
    the price multiplier (price changes, renewals) or the delay in hours (late deliveries).
    """

    kind: EventKind
    start_hour: float
    duration_hours: float
    target: str
    offers: tuple[int, ...]
    magnitude: float

    @property
    def end_hour(self) -> float:
        return self.start_hour + self.duration_hours


@dataclass(frozen=True, slots=True)
class World:
    """What events are drawn over: the offers' labels and windows, and the horizon."""

    providers: tuple[str, ...]
    silicon: tuple[str, ...]
    regions: tuple[str, ...]
    pricing: tuple[str, ...]
    available_from_hour: tuple[float, ...]
    available_until_hour: tuple[float, ...]
    horizon_hours: float

    @property
    def n_offers(self) -> int:
        return len(self.providers)

    def offers_where(self, labels: Sequence[str], value: str) -> tuple[int, ...]:
        return tuple(i for i, label in enumerate(labels) if label == value)


@dataclass(frozen=True, slots=True)
class EventAssumptions:
    """Event rates and sizes; rates are per 30 days (720 h). Defaults are stated assumptions.

    See docs/simulation.md for the reasoning behind each default.
    """

    provider_outages_per_month: float = 0.15
    provider_outage_median_hours: float = 12.0
    region_outages_per_month: float = 0.10
    region_outage_median_hours: float = 6.0
    outage_duration_sigma: float = 0.8
    late_delivery_probability: float = 0.3
    late_delivery_mean_hours: float = 168.0
    late_start_probability: float = 0.05
    late_start_mean_hours: float = 48.0
    spot_moves_per_month: float = 4.0
    spot_move_sd: float = 0.05
    list_price_changes_per_month: float = 0.1
    list_price_change_mean: float = 0.05
    list_price_change_sd: float = 0.10
    renewal_change_mean: float = 0.10
    renewal_change_sd: float = 0.15
    preemptions_per_month: float = 8.0
    preemption_mean_hours: float = 3.0
    preemption_fraction_range: tuple[float, float] = (0.3, 1.0)
    capacity_cuts_per_month: float = 0.05
    capacity_cut_fraction_range: tuple[float, float] = (0.2, 0.5)

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                if not (math.isfinite(v) and v >= 0):
                    raise ValueError(f"event assumption {name} must be finite and >= 0: {value}")
        for name in ("preemption_fraction_range", "capacity_cut_fraction_range"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"event assumption {name} must be 0 <= lo <= hi <= 1")
        if max(self.late_delivery_probability, self.late_start_probability) > 1.0:
            raise ValueError("late delivery probabilities must be <= 1")


def _poisson_starts(rng: np.random.Generator, per_month: float, horizon: float) -> list[float]:
    count = int(rng.poisson(per_month * horizon / HOURS_PER_MONTH))
    return sorted(float(s) for s in rng.uniform(0.0, horizon, size=count))


def _outages(rng: np.random.Generator, world: World, a: EventAssumptions) -> list[Event]:
    events: list[Event] = []
    for provider in sorted(set(world.providers)):
        offers = world.offers_where(world.providers, provider)
        for start in _poisson_starts(rng, a.provider_outages_per_month, world.horizon_hours):
            hours = a.provider_outage_median_hours * math.exp(
                rng.normal(0, a.outage_duration_sigma)
            )
            events.append(Event(EventKind.PROVIDER_OUTAGE, start, hours, provider, offers, 1.0))
    pairs = sorted(set(zip(world.providers, world.regions, strict=True)))
    for provider, region in pairs:
        offers = tuple(
            i
            for i in range(world.n_offers)
            if world.providers[i] == provider and world.regions[i] == region
        )
        for start in _poisson_starts(rng, a.region_outages_per_month, world.horizon_hours):
            hours = a.region_outage_median_hours * math.exp(rng.normal(0, a.outage_duration_sigma))
            target = f"{provider}/{region}"
            events.append(Event(EventKind.REGION_OUTAGE, start, hours, target, offers, 1.0))
    return events


def _late_deliveries(rng: np.random.Generator, world: World, a: EventAssumptions) -> list[Event]:
    """Contracted capacity arrives late: often when its delivery lies ahead, rarely at hour 0."""
    events: list[Event] = []
    for i in range(world.n_offers):
        due = world.available_from_hour[i]
        future = due > 0.0
        contracted = world.pricing[i] in CONTRACTED or future
        chance = a.late_delivery_probability if future else a.late_start_probability
        mean = a.late_delivery_mean_hours if future else a.late_start_mean_hours
        late = rng.random() < chance
        delay = rng.exponential(mean)
        if contracted and late and due < world.horizon_hours:
            events.append(Event(EventKind.LATE_DELIVERY, due, delay, str(i), (i,), delay))
    return events


def _price_changes(rng: np.random.Generator, world: World, a: EventAssumptions) -> list[Event]:
    events: list[Event] = []
    horizon = world.horizon_hours
    for i in range(world.n_offers):
        if world.pricing[i] != SPOT:
            continue
        level = 1.0
        for start in _poisson_starts(rng, a.spot_moves_per_month, horizon):
            level *= math.exp(rng.normal(0.0, a.spot_move_sd))
            events.append(Event(EventKind.PRICE_CHANGE, start, math.inf, str(i), (i,), level))
    for provider in sorted(set(world.providers)):
        offers = tuple(
            i
            for i in world.offers_where(world.providers, provider)
            if world.pricing[i] == "on_demand"
        )
        level = 1.0
        for start in _poisson_starts(rng, a.list_price_changes_per_month, horizon):
            level *= math.exp(rng.normal(a.list_price_change_mean, a.list_price_change_sd))
            if offers:
                events.append(
                    Event(EventKind.PRICE_CHANGE, start, math.inf, provider, offers, level)
                )
    for i in range(world.n_offers):
        factor = math.exp(rng.normal(a.renewal_change_mean, a.renewal_change_sd))
        end = world.available_until_hour[i]
        if world.pricing[i] in CONTRACTED and end < horizon:
            events.append(Event(EventKind.RENEWAL, end, math.inf, str(i), (i,), factor))
    return events


def _preemptions(rng: np.random.Generator, world: World, a: EventAssumptions) -> list[Event]:
    events: list[Event] = []
    lo, hi = a.preemption_fraction_range
    for i in range(world.n_offers):
        if world.pricing[i] != SPOT:
            continue
        for start in _poisson_starts(rng, a.preemptions_per_month, world.horizon_hours):
            hours = rng.exponential(a.preemption_mean_hours)
            lost = rng.uniform(lo, hi)
            events.append(Event(EventKind.SPOT_PREEMPTION, start, hours, str(i), (i,), lost))
    return events


def _capacity_cuts(rng: np.random.Generator, world: World, a: EventAssumptions) -> list[Event]:
    events: list[Event] = []
    lo, hi = a.capacity_cut_fraction_range
    for vendor in sorted(set(world.silicon)):
        offers = world.offers_where(world.silicon, vendor)
        for start in _poisson_starts(rng, a.capacity_cuts_per_month, world.horizon_hours):
            cut = rng.uniform(lo, hi)
            events.append(Event(EventKind.CAPACITY_CUT, start, math.inf, vendor, offers, cut))
    return events


def sample_events(
    rng: np.random.Generator, world: World, assumptions: EventAssumptions
) -> tuple[Event, ...]:
    """All events of one scenario, in a fixed draw order, sorted by start hour then kind."""
    events = [
        *_outages(rng, world, assumptions),
        *_late_deliveries(rng, world, assumptions),
        *_price_changes(rng, world, assumptions),
        *_preemptions(rng, world, assumptions),
        *_capacity_cuts(rng, world, assumptions),
    ]
    events.sort(key=lambda e: (e.start_hour, e.kind.value, e.target))
    return tuple(events)


def count_by_kind(events: Sequence[Event]) -> dict[str, int]:
    counts = Counter(e.kind.value for e in events)
    return {kind.value: counts.get(kind.value, 0) for kind in EventKind}


@dataclass(frozen=True, eq=False)
class Timeline:
    """Per-offer, per-step consequences of a scenario's events (``[o, t]`` arrays).

    ``delivering``: fraction of the step during which held chips deliver (windows, outages,
    late deliveries, preemptions). ``orderable``: capacity factor a re-plan at the end
    of step t may use (0 while down or not yet delivered). ``billable``: fraction of the step
    a contract is billed (from its delivery on; on-demand and spot pay only while delivering).
    ``price``: price multiplier. ``cut``: capacity multiplier applied in step t by capacity
    cuts (the engine takes the cut share of held instances away). ``replan``: a strategy
    re-plans after step t.
    ``available_until_hour``: end of each offer's window once renewals are applied.
    """

    delivering: FloatArray
    orderable: FloatArray
    billable: FloatArray
    price: FloatArray
    cut: FloatArray
    replan: BoolArray
    available_until_hour: FloatArray
    events: tuple[Event, ...] = field(default=())


def build_timeline(
    world: World,
    events: Sequence[Event],
    step_hours: float,
    n_steps: int,
    assumptions: EventAssumptions,
) -> Timeline:
    """Turn events into the arrays the engine steps through."""
    n = world.n_offers
    until = np.asarray(world.available_until_hour, dtype=float).copy()
    window = _windows(world, step_hours, n_steps).copy()
    down = np.zeros((n, n_steps), dtype=bool)
    cut = np.ones((n, n_steps))
    replan = np.zeros(n_steps, dtype=bool)
    step_of = _step_index(step_hours, n_steps)
    # the many small events (spot moves, preemptions) at once; the rare ones one by one
    price = _price_levels(events, n, step_hours, n_steps)
    keep = _kept_through_preemptions(events, n, step_hours, n_steps)
    for event in events:
        offers = list(event.offers)
        start = event.start_hour
        if event.kind in (EventKind.PRICE_CHANGE, EventKind.SPOT_PREEMPTION):
            continue
        if event.kind is EventKind.LATE_DELIVERY:
            end = start + event.duration_hours
            window[offers] *= 1.0 - step_overlap(start, end, step_hours, n_steps)
            _mark_down(down, offers, start, end, step_hours, n_steps)
            replan[step_of(start)] = True
            if end < world.horizon_hours:
                replan[step_of(end)] = True
        elif event.kind is EventKind.RENEWAL:
            first = step_of(start)
            price[offers, first:] *= event.magnitude
            until[offers] = math.inf
            window[offers, first:] = np.maximum(
                window[offers, first:],
                step_overlap(start, world.horizon_hours, step_hours, n_steps)[first:],
            )
        elif event.kind is EventKind.CAPACITY_CUT:
            cut[offers, step_of(start)] *= 1.0 - event.magnitude
            replan[step_of(start)] = True
        else:
            cover = step_overlap(start, event.end_hour, step_hours, n_steps)
            keep[offers] *= 1.0 - event.magnitude * cover
            _mark_down(down, offers, start, event.end_hour, step_hours, n_steps)
            replan[step_of(start)] = True
            if event.end_hour < world.horizon_hours:
                replan[step_of(event.end_hour)] = True
    delivering = window * keep
    orderable = _orderable(down, events, step_hours, n_steps, n)
    billable = window
    return Timeline(
        delivering=delivering,
        orderable=orderable,
        billable=billable,
        price=price,
        cut=cut,
        replan=replan,
        available_until_hour=until,
        events=tuple(events),
    )


def _windows(world: World, step_hours: float, n_steps: int) -> FloatArray:
    """``[o, k]``: fraction of step k inside offer o's availability window (no events).

    The same for every scenario of a study, so the last one computed is kept (read-only).
    """
    key = (world, step_hours, n_steps)
    if _WINDOWS_CACHE and _WINDOWS_CACHE[0][0] == key:
        return _WINDOWS_CACHE[0][1]
    n = world.n_offers
    ends = np.minimum(world.horizon_hours, np.asarray(world.available_until_hour, dtype=float))
    window = (
        np.stack(
            [
                step_overlap(world.available_from_hour[i], ends[i], step_hours, n_steps)
                for i in range(n)
            ]
        )
        if n
        else np.zeros((0, n_steps))
    )
    window.setflags(write=False)
    _WINDOWS_CACHE[:] = [(key, window)]
    return window


_WINDOWS_CACHE: list[tuple[tuple[World, float, int], FloatArray]] = []


def _covers(starts: FloatArray, ends: FloatArray, step_hours: float, n_steps: int) -> FloatArray:
    """``[e, k]``: fraction of step k covered by ``[starts[e], ends[e])``."""
    lo = np.arange(n_steps) * step_hours
    hi = lo + step_hours
    span = np.minimum(hi[None, :], ends[:, None]) - np.maximum(lo[None, :], starts[:, None])
    covered: FloatArray = np.clip(span, 0.0, None) / step_hours
    return covered


def _price_levels(events: Sequence[Event], n: int, step_hours: float, n_steps: int) -> FloatArray:
    """Price multipliers set by price changes: the latest change in force wins.

    Events come sorted by start, so the change with the highest index among those that have
    started by step t is the one in force at t.
    """
    price = np.ones((n, n_steps))
    changes = [e for e in events if e.kind is EventKind.PRICE_CHANGE]
    if not changes:
        return price
    offers = np.concatenate([np.asarray(e.offers, dtype=np.int64) for e in changes])
    order = np.repeat(np.arange(len(changes)), [len(e.offers) for e in changes])
    first = np.minimum(
        (np.asarray([e.start_hour for e in changes]) // step_hours).astype(np.int64), n_steps - 1
    )
    latest = np.full((n, n_steps), -1, dtype=np.int64)
    np.maximum.at(latest, (offers, first[order]), order)
    latest = np.maximum.accumulate(latest, axis=1)
    levels = np.asarray([e.magnitude for e in changes])
    price = np.where(latest >= 0, levels[np.maximum(latest, 0)], 1.0)
    return price


def _kept_through_preemptions(
    events: Sequence[Event], n: int, step_hours: float, n_steps: int
) -> FloatArray:
    """``[o, k]``: share of held capacity that spot preemptions leave delivering."""
    keep = np.ones((n, n_steps))
    hits = [e for e in events if e.kind is EventKind.SPOT_PREEMPTION]
    if not hits:
        return keep
    starts = np.asarray([e.start_hour for e in hits])
    ends = np.asarray([e.end_hour for e in hits])
    share = np.asarray([e.magnitude for e in hits])
    factor = 1.0 - share[:, None] * _covers(starts, ends, step_hours, n_steps)
    offers = np.asarray([e.offers[0] for e in hits], dtype=np.int64)
    np.multiply.at(keep, offers, factor)
    return keep


def _step_index(step_hours: float, n_steps: int) -> _StepOf:
    return _StepOf(step_hours, n_steps)


@dataclass(frozen=True, slots=True)
class _StepOf:
    step_hours: float
    n_steps: int

    def __call__(self, hour: float) -> int:
        return min(self.n_steps - 1, max(0, int(hour // self.step_hours)))


def _mark_down(
    down: BoolArray, offers: list[int], start: float, end: float, step_hours: float, n: int
) -> None:
    """Down at the end of each step whose end falls inside ``[start, end)``."""
    step_end = (np.arange(n) + 1) * step_hours
    inside = (step_end > start) & (step_end < end)
    down[np.ix_(np.asarray(offers, dtype=np.int64), np.flatnonzero(inside))] = True


def _orderable(
    down: BoolArray, events: Sequence[Event], step_hours: float, n_steps: int, n_offers: int
) -> FloatArray:
    """Capacity factor at the end of each step: 0 while down, cut by capacity cuts."""
    factor = np.where(down, 0.0, 1.0)
    step_end = (np.arange(n_steps) + 1) * step_hours
    for event in events:
        if event.kind is EventKind.CAPACITY_CUT:
            hit = (step_end > event.start_hour) & (step_end < event.end_hour)
            rows = np.asarray(event.offers, dtype=np.int64)
            factor[np.ix_(rows, np.flatnonzero(hit))] *= 1.0 - event.magnitude
    result: FloatArray = factor
    return result
