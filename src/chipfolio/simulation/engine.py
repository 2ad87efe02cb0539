"""The event loop: one strategy through one sampled future, step by step on an injected clock.

All state of a run lives in one ``_Run`` object; time comes from a ``Clock`` and randomness
never enters here (a scenario's future is drawn beforehand, see ``scenario.py``), so a run is
a pure function of (model, future, strategy's re-planner, initial allocation, reaction).

Each step: orders due arrive (and the instances they replace are released), held instances
serve demand as far as they deliver, the step is billed, training progresses and deadlines
are checked; then, if an event landed or demand or prices drifted, the strategy re-plans.
A re-plan's added instances arrive after a lead time and are charged a migration cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from chipfolio.simulation.demand import DemandPath
from chipfolio.simulation.events import Timeline, World

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

SECONDS_PER_HOUR = 3600.0
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class Clock:
    """Equal steps that tile the horizon exactly (the step is shortened to fit if needed)."""

    horizon_hours: float
    n_steps: int

    @classmethod
    def over(cls, horizon_hours: float, step_hours: float) -> Clock:
        if not (math.isfinite(step_hours) and step_hours > 0):
            raise ValueError(f"step_hours must be > 0, got {step_hours}")
        return cls(horizon_hours, max(1, math.ceil(horizon_hours / step_hours - 1e-9)))

    @property
    def step_hours(self) -> float:
        return self.horizon_hours / self.n_steps

    def end(self, step: int) -> float:
        return (step + 1) * self.step_hours

    def first_step_from(self, hour: float) -> int:
        """The first step that starts at or after ``hour``."""
        return max(0, math.ceil(hour / self.step_hours - 1e-9))


@dataclass(frozen=True, eq=False)
class SimModel:
    """What the engine needs to know about the portfolio, as arrays (``[w, o]`` matrices).

    ``demand_tokens_per_s`` is what the plan was sized for (for trace-driven inference, often
    a high percentile of the trace's rate); ``mean_demand_tokens_per_s`` is the mean rate the
    simulated traffic fluctuates around. They are equal unless the portfolio planned headroom.
    """

    offer_ids: tuple[str, ...]
    chips_per_instance: FloatArray
    usd_per_chip_hour: FloatArray
    take_or_pay_chips: FloatArray
    capacity_chips: FloatArray
    contracted: BoolArray
    workload_names: tuple[str, ...]
    inference: BoolArray
    demand_tokens_per_s: FloatArray
    mean_demand_tokens_per_s: FloatArray
    deadline_hours: FloatArray
    tokens_per_s_per_chip: FloatArray
    world: World

    @property
    def horizon_hours(self) -> float:
        return self.world.horizon_hours

    @property
    def n_workloads(self) -> int:
        return len(self.workload_names)

    @property
    def token_budget(self) -> FloatArray:
        """Training tokens due within the horizon (inference rows are unused)."""
        hours = np.minimum(self.deadline_hours, self.horizon_hours)
        budget: FloatArray = self.demand_tokens_per_s * hours * SECONDS_PER_HOUR
        return budget

    def tokens_per_s_per_instance(self) -> FloatArray:
        rate: FloatArray = self.tokens_per_s_per_chip * self.chips_per_instance[None, :]
        return rate


@dataclass(frozen=True, slots=True)
class Reaction:
    """How a strategy reacts (documented assumptions; all configurable).

    New capacity on an offer the strategy already holds arrives after
    ``lead_same_offer_hours``; on a new offer after ``lead_new_offer_hours``. Each added chip
    is charged ``checkpoint_transfer_hours`` (training) or ``inference_warmup_hours``
    (inference) at its price. Demand rising above (or falling below) what the last plan
    assumed by more than ``demand_up_threshold`` (``demand_down_threshold``), a training job
    falling behind by more than ``demand_up_threshold``, or a held offer's price moving by
    more than ``price_drift_threshold`` trigger a re-plan (at most once per lead time).
    Re-plans size inference for the current demand level plus ``replan_headroom`` so growth
    does not outrun them at once. A step meets a workload's SLO when at most
    ``slo_unserved_tolerance`` of its demand in that step goes unserved.
    """

    lead_new_offer_hours: float = 24.0
    lead_same_offer_hours: float = 6.0
    checkpoint_transfer_hours: float = 2.0
    inference_warmup_hours: float = 0.5
    demand_up_threshold: float = 0.02
    demand_down_threshold: float = 0.10
    price_drift_threshold: float = 0.10
    replan_headroom: float = 0.02
    slo_unserved_tolerance: float = 0.005

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"reaction setting {name} must be finite and >= 0: {value}")


@dataclass(frozen=True, eq=False)
class Future:
    """One sampled scenario: its event timeline and demand path (shared by all strategies)."""

    timeline: Timeline
    demand: DemandPath

    @property
    def n_events(self) -> int:
        return len(self.timeline.events) + self.demand.bursts


@dataclass(frozen=True, eq=False)
class ReplanRequest:
    """What a strategy knows when it re-plans at ``hour`` (absolute, from horizon start).

    ``demand_tokens_per_s`` is the rate still needed: inference at the current demand level,
    training at what finishes the remaining tokens by the deadline (or the horizon's end once
    it has passed). ``capacity_factor`` scales each offer's capacity (0 while down);
    ``capacity_limit_chips`` caps it further (``inf``: no cap; an allocation limit after a
    capacity cut on an unlimited offer). ``touched`` marks the workloads this re-plan is
    about; ``target`` is the allocation the strategy currently aims for (held plus ordered
    minus to-be-released).
    """

    hour: float
    active: BoolArray
    touched: BoolArray
    demand_tokens_per_s: FloatArray
    hours_left: FloatArray
    capacity_factor: FloatArray
    capacity_limit_chips: FloatArray
    price_multiplier: FloatArray
    available_until_hour: FloatArray
    target: FloatArray


class Replanner(Protocol):
    """A strategy's planner: a new target allocation ``[w, o]`` (instances) or None."""

    def replan(self, request: ReplanRequest) -> FloatArray | None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one strategy experienced in one scenario."""

    cost_usd: float
    migration_usd: float
    demanded_tokens: float
    unserved_tokens: float
    slo_attainment: float
    deadline_misses: int
    training_workloads: int
    replans: int

    @property
    def unserved_fraction(self) -> float:
        return self.unserved_tokens / self.demanded_tokens if self.demanded_tokens > 0 else 0.0


@dataclass(eq=False)
class _Run:
    """Mutable state of one run (never leaves this module)."""

    model: SimModel
    clock: Clock
    future: Future
    replanner: Replanner
    reaction: Reaction
    held: FloatArray
    order_qty: FloatArray = field(init=False)
    order_step: IntArray = field(init=False)
    release_qty: FloatArray = field(init=False)
    initial: FloatArray = field(init=False)
    progress: FloatArray = field(init=False)
    done: BoolArray = field(init=False)
    missed: BoolArray = field(init=False)
    planned_level: FloatArray = field(init=False)
    planned_price: FloatArray = field(init=False)
    planned_orderable: FloatArray = field(init=False)
    limit_chips: FloatArray = field(init=False)
    last_replan_step: int = -(10**9)
    cost_usd: float = 0.0
    migration_usd: float = 0.0
    demanded: float = 0.0
    unserved: float = 0.0
    slo_met_steps: FloatArray = field(init=False)
    replans: int = 0

    def __post_init__(self) -> None:
        shape = self.held.shape
        self.held = self.held.astype(np.float64).copy()
        self.initial = self.held.copy()
        self.order_qty = np.zeros(shape)
        self.order_step = np.full(shape, NEVER, dtype=np.int64)
        self.release_qty = np.zeros(shape)
        n_w, n_o = shape
        self.progress = np.zeros(n_w)
        self.done = np.zeros(n_w, dtype=bool)
        self.missed = np.zeros(n_w, dtype=bool)
        self.planned_level = np.ones(n_w)
        self.planned_price = np.ones(n_o)
        self.planned_orderable = np.ones(n_o)
        self.limit_chips = self.model.capacity_chips.astype(np.float64).copy()
        self.slo_met_steps = np.zeros(n_w)

    # ----- the loop ------------------------------------------------------------------------
    def run(self) -> Outcome:
        per_instance = self.model.tokens_per_s_per_instance()
        for step in range(self.clock.n_steps):
            self._arrivals(step)
            self._cuts(step)
            capacity = (
                self.held * self.future.timeline.delivering[None, :, step] * per_instance
            ).sum(1)
            self._serve(step, capacity)
            self._bill(step)
            self._train(step, capacity)
            touched = self._triggers(step)
            if touched.any():
                self._replan(step, touched)
        return self._outcome()

    def _arrivals(self, step: int) -> None:
        due = self.order_step == step
        if due.any():
            qty = np.where(due, self.order_qty, 0.0)
            self.held += qty
            self._charge_migration(step, qty)
            self.order_qty[due] = 0.0
            self.order_step[due] = NEVER
        waiting = (self.order_step != NEVER).any(1)
        ready = (~waiting)[:, None] & (self.release_qty > 0)
        if ready.any():
            self.held = np.maximum(self.held - np.where(ready, self.release_qty, 0.0), 0.0)
            self.release_qty[ready] = 0.0

    def _cuts(self, step: int) -> None:
        """Capacity cuts: the offer's limit shrinks and held instances beyond it are taken."""
        factor = self.future.timeline.cut[:, step]
        hit = factor < 1.0
        if not hit.any():
            return
        per_instance = self.model.chips_per_instance
        held_chips = (self._target() * per_instance[None, :]).sum(0)
        base = np.where(np.isfinite(self.limit_chips), self.limit_chips, held_chips)
        self.limit_chips = np.where(hit, base * factor, self.limit_chips)
        for o in np.flatnonzero(hit):
            self._fit_offer(int(o), float(self.limit_chips[o]))

    def _fit_offer(self, o: int, limit_chips: float) -> None:
        """Scale held and ordered instances on offer ``o`` down to ``limit_chips``."""
        cpi = self.model.chips_per_instance[o]
        for qty in (self.held, self.order_qty):
            chips = float(qty[:, o].sum() * cpi)
            if chips > limit_chips:
                qty[:, o] = np.floor(qty[:, o] * (limit_chips / chips))

    def _charge_migration(self, step: int, qty: FloatArray) -> None:
        hours = np.where(
            self.model.inference,
            self.reaction.inference_warmup_hours,
            self.reaction.checkpoint_transfer_hours,
        )
        price = self.model.usd_per_chip_hour * self.future.timeline.price[:, step]
        chips = qty * self.model.chips_per_instance[None, :]
        usd = float((chips * price[None, :] * hours[:, None]).sum())
        self.migration_usd += usd
        self.cost_usd += usd

    def _serve(self, step: int, capacity: FloatArray) -> None:
        inference = self.model.inference
        if not inference.any():
            return
        demand = self.model.mean_demand_tokens_per_s * self.future.demand.multiplier[:, step]
        short = np.maximum(demand - capacity, 0.0)
        seconds = self.clock.step_hours * SECONDS_PER_HOUR
        self.demanded += float(demand[inference].sum()) * seconds
        self.unserved += float(short[inference].sum()) * seconds
        met = short <= demand * self.reaction.slo_unserved_tolerance
        self.slo_met_steps += met & inference

    def _bill(self, step: int) -> None:
        timeline = self.future.timeline
        chips = (self.held * self.model.chips_per_instance[None, :]).sum(0)
        billed = np.where(
            self.model.contracted,
            np.maximum(chips, self.model.take_or_pay_chips) * timeline.billable[:, step],
            chips * timeline.delivering[:, step],
        )
        price = self.model.usd_per_chip_hour * timeline.price[:, step]
        self.cost_usd += float((billed * price).sum()) * self.clock.step_hours

    def _train(self, step: int, capacity: FloatArray) -> None:
        training = ~self.model.inference & ~self.done
        if not training.any():
            return
        start, end = step * self.clock.step_hours, self.clock.end(step)
        budget = self.model.token_budget
        check = np.minimum(self.model.deadline_hours, self.model.horizon_hours)
        due_now = training & (check > start) & (check <= end + 1e-9)
        at_check = self.progress + capacity * (check - start) * SECONDS_PER_HOUR
        self.missed |= due_now & (at_check < budget * (1.0 - 1e-9))
        self.progress = np.where(
            training,
            self.progress + capacity * self.clock.step_hours * SECONDS_PER_HOUR,
            self.progress,
        )
        finished = training & (self.progress >= budget * (1.0 - 1e-9))
        if finished.any():
            self.done |= finished
            self.held[finished] = 0.0
            self.order_qty[finished] = 0.0
            self.order_step[finished] = NEVER
            self.release_qty[finished] = 0.0

    # ----- re-planning ---------------------------------------------------------------------
    def _target(self) -> FloatArray:
        target: FloatArray = self.held + self.order_qty - self.release_qty
        return np.maximum(target, 0.0)

    def _needed_rate(self, step: int) -> tuple[FloatArray, FloatArray]:
        """(tokens/s still needed, hours left for it) per workload at the end of ``step``."""
        hour = self.clock.end(step)
        horizon_left = max(self.model.horizon_hours - hour, 1e-9)
        level = self.future.demand.level[:, step]
        deadline_left = self.model.deadline_hours - hour
        hours_left = np.where(
            self.model.inference | (deadline_left <= 0),
            horizon_left,
            np.minimum(deadline_left, horizon_left),
        )
        remaining = np.maximum(self.model.token_budget - self.progress, 0.0)
        training_rate = remaining / (hours_left * SECONDS_PER_HOUR)
        headroom = 1.0 + self.reaction.replan_headroom
        inference_rate = self.model.demand_tokens_per_s * level * headroom
        rate = np.where(self.model.inference, inference_rate, training_rate)
        return rate, hours_left

    def _triggers(self, step: int) -> BoolArray:
        """Which workloads a re-plan after ``step`` is about (none: no re-plan)."""
        active = ~self.done
        timeline = self.future.timeline
        if step + 1 >= self.clock.n_steps:
            return np.zeros_like(active)
        target = self._target()
        orderable = timeline.orderable[:, step]
        drift = np.abs(timeline.price[:, step] / self.planned_price - 1.0)
        changed = (orderable != self.planned_orderable) | (
            drift > self.reaction.price_drift_threshold
        )
        touched = active & (target[:, changed] > 0).any(1)
        if timeline.replan[step] and (orderable > self.planned_orderable).any():
            moved = np.abs(target - self.initial).sum(1) > 0
            touched |= active & moved
        cooled = step - self.last_replan_step >= self._cooldown_steps()
        if cooled:
            touched |= active & self._drifted(step, target)
        return touched

    def _drifted(self, step: int, target: FloatArray) -> BoolArray:
        inference = self.model.inference
        ratio = self.future.demand.level[:, step] / self.planned_level
        up, down = self.reaction.demand_up_threshold, self.reaction.demand_down_threshold
        demand_drift = inference & ((ratio > 1.0 + up) | (ratio < 1.0 - down))
        rate, _ = self._needed_rate(step)
        planned = (target * self.model.tokens_per_s_per_instance()).sum(1)
        behind = ~inference & (planned < rate * (1.0 - up))
        drifted: BoolArray = demand_drift | behind
        return drifted

    def _cooldown_steps(self) -> int:
        return max(1, math.ceil(self.reaction.lead_new_offer_hours / self.clock.step_hours))

    def _replan(self, step: int, touched: BoolArray) -> None:
        timeline = self.future.timeline
        rate, hours_left = self._needed_rate(step)
        request = ReplanRequest(
            hour=self.clock.end(step),
            active=~self.done,
            touched=touched,
            demand_tokens_per_s=rate,
            hours_left=hours_left,
            capacity_factor=timeline.orderable[:, step].copy(),
            capacity_limit_chips=self.limit_chips.copy(),
            price_multiplier=timeline.price[:, step].copy(),
            available_until_hour=timeline.available_until_hour,
            target=self._target(),
        )
        new_target = self.replanner.replan(request)
        self.replans += 1
        self.last_replan_step = step
        self.planned_orderable = request.capacity_factor
        self.planned_price = request.price_multiplier
        self.planned_level = np.where(
            touched, self.future.demand.level[:, step], self.planned_level
        )
        if new_target is not None:
            self._order(step, touched & ~self.done, new_target)

    def _order(self, step: int, touched: BoolArray, new_target: FloatArray) -> None:
        rows = np.flatnonzero(touched)
        self.order_qty[rows] = 0.0
        self.order_step[rows] = NEVER
        self.release_qty[rows] = 0.0
        delta = np.where(touched[:, None], new_target - self.held, 0.0)
        up, down = np.maximum(delta, 0.0), np.maximum(-delta, 0.0)
        in_use = self.held.sum(0) > 0
        lead = np.where(
            in_use, self.reaction.lead_same_offer_hours, self.reaction.lead_new_offer_hours
        )
        arrive = np.array([self.clock.first_step_from(self.clock.end(step) + h) for h in lead])
        arrive = np.maximum(arrive, step + 1)
        self.order_qty = np.where(up > 0, up, self.order_qty)
        self.order_step = np.where(up > 0, arrive[None, :], self.order_step).astype(np.int64)
        waits: BoolArray = np.asarray((up > 0).any(axis=1), dtype=np.bool_)
        self.release_qty = np.where(waits[:, None], down, self.release_qty)
        self.held = np.where(waits[:, None], self.held, self.held - down)

    def _outcome(self) -> Outcome:
        inference = self.model.inference
        n_inf = int(inference.sum())
        slo = float((self.slo_met_steps[inference] / self.clock.n_steps).mean()) if n_inf else 1.0
        return Outcome(
            cost_usd=self.cost_usd,
            migration_usd=self.migration_usd,
            demanded_tokens=self.demanded,
            unserved_tokens=self.unserved,
            slo_attainment=slo,
            deadline_misses=int(self.missed.sum()),
            training_workloads=int((~inference).sum()),
            replans=self.replans,
        )


def run_strategy(
    model: SimModel,
    clock: Clock,
    future: Future,
    replanner: Replanner,
    initial_instances: FloatArray,
    reaction: Reaction,
) -> Outcome:
    """Play one strategy through one future, starting from its initial plan's instances."""
    expected = (model.n_workloads, len(model.offer_ids))
    if initial_instances.shape != expected:
        raise ValueError(f"initial allocation must have shape {expected}")
    run = _Run(model, clock, future, replanner, reaction, initial_instances)
    return run.run()
