"""The event loop: one strategy through one sampled future, on an injected clock.

All state of a run lives in one ``_Run`` object; time comes from a ``Clock`` and randomness
never enters here (a scenario's future is drawn beforehand, see ``scenario.py``), so a run is
a pure function of (model, future, strategy's re-planner, initial allocation, reaction).

Semantics per step: orders due arrive (and the instances they replace are released), held
instances serve demand as far as they deliver, the step is billed, training progresses and
deadlines are checked; then, if an event landed or demand or prices drifted, the strategy
re-plans. A re-plan's added instances arrive after a lead time and pay a migration cost.

Between scheduled changes (arrivals, capacity cuts) holdings are constant, so the loop
advances in vectorised blocks: it computes a whole block at once and stops at the first step
after which a re-plan triggers or a training job finishes. Events are sparse, so a run is a
handful of blocks rather than one Python iteration per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from chipfolio.simulation.model import (
    SECONDS_PER_HOUR,
    BoolArray,
    Clock,
    FloatArray,
    Future,
    IntArray,
    Outcome,
    Reaction,
    Replanner,
    ReplanRequest,
    Schedule,
    SimModel,
)

NEVER = np.iinfo(np.int64).max
DONE_TOLERANCE = 1e-9


@dataclass(eq=False)
class _Block:
    """Steps ``ks`` with the current holdings: capacity and training progress per step."""

    ks: IntArray
    capacity: FloatArray  # [w, k] tokens/s delivered
    gain: FloatArray  # [w, k] training tokens made in the step
    after: FloatArray  # [w, k] training progress at the end of the step


@dataclass(eq=False)
class _Segment:
    """A later part of a schedule, for the workloads in ``rows``.

    Its increases apply at ``raise_step`` (the step containing its start), though never on
    an offer before ``earliest[o]`` (the lead time from when it was planned); its decreases
    at ``set_step`` (the first step starting at or after its start), so a planned switch
    never leaves a gap.
    """

    raise_step: int
    set_step: int
    rows: BoolArray
    instances: FloatArray
    earliest: IntArray


@dataclass(eq=False)
class _Run:
    """Mutable state of one run (never leaves this module)."""

    model: SimModel
    clock: Clock
    future: Future
    replanner: Replanner
    reaction: Reaction
    schedule: Schedule
    held: FloatArray = field(init=False)
    segments: list[_Segment] = field(init=False)
    initial_steps: IntArray = field(init=False)
    initial_plans: tuple[FloatArray, ...] = field(init=False)
    order_qty: FloatArray = field(init=False)
    order_step: IntArray = field(init=False)
    release_qty: FloatArray = field(init=False)
    per_instance: FloatArray = field(init=False)
    progress: FloatArray = field(init=False)
    done: BoolArray = field(init=False)
    missed: BoolArray = field(init=False)
    planned_level: FloatArray = field(init=False)
    planned_price: FloatArray = field(init=False)
    planned_orderable: FloatArray = field(init=False)
    limit_chips: FloatArray = field(init=False)
    cut_steps: IntArray = field(init=False)
    last_replan_step: int = -(10**9)
    cost_usd: float = 0.0
    migration_usd: float = 0.0
    demanded: float = 0.0
    unserved: float = 0.0
    slo_met_steps: FloatArray = field(init=False)
    replans: int = 0
    # constants of the run, computed once (the model and clock do not change)
    token_budget: FloatArray = field(init=False)
    done_budget: FloatArray = field(init=False)
    unit_usd: FloatArray = field(init=False)
    step_seconds: float = field(init=False)
    cooldown_steps: int = field(init=False)
    check_hour: FloatArray = field(init=False)
    check_step: IntArray = field(init=False)
    cut_set: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        self.held = np.asarray(self.schedule.first, dtype=np.float64).copy()
        shape = self.held.shape
        n_w, n_o = shape
        self.segments = self._later_segments(self.schedule, 0.0, np.zeros(n_o, dtype=np.int64))
        self.segments = [seg for seg in self.segments if seg.raise_step < self.clock.n_steps]
        self.initial_steps = np.array([0] + [seg.set_step for seg in self.segments], np.int64)
        self.initial_plans = (self.held.copy(), *(seg.instances for seg in self.segments))
        self.per_instance = self.model.tokens_per_s_per_instance()
        self.order_qty = np.zeros(shape)
        self.order_step = np.full(shape, NEVER, dtype=np.int64)
        self.release_qty = np.zeros(shape)
        self.progress = np.zeros(n_w)
        self.done = np.zeros(n_w, dtype=bool)
        self.missed = np.zeros(n_w, dtype=bool)
        self.planned_level = np.ones(n_w)
        self.planned_price = np.ones(n_o)
        self.planned_orderable = np.ones(n_o)
        self.limit_chips = self.model.capacity_chips.astype(np.float64).copy()
        self.cut_steps = np.flatnonzero((self.future.timeline.cut < 1.0).any(0)).astype(np.int64)
        self.slo_met_steps = np.zeros(n_w)
        self.token_budget = self.model.token_budget
        self.done_budget = self.token_budget * (1.0 - DONE_TOLERANCE)
        self.unit_usd = self.model.chips_per_instance * self.model.usd_per_chip_hour
        self.step_seconds = self.clock.step_hours * SECONDS_PER_HOUR
        self.cooldown_steps = max(
            1, math.ceil(self.reaction.lead_new_offer_hours / self.clock.step_hours)
        )
        self.check_hour = np.minimum(self.model.deadline_hours, self.model.horizon_hours)
        self.check_step = (
            np.ceil(self.check_hour / self.clock.step_hours - 1e-9).astype(np.int64) - 1
        )
        self.cut_set = frozenset(self.cut_steps.tolist())

    # ----- the loop ------------------------------------------------------------------------
    def run(self) -> Outcome:
        step = 0
        while step < self.clock.n_steps:
            self._arrivals(step)
            self._segments_due(step)
            self._cuts(step)
            last, touched = self._advance(step, self._next_change(step))
            if touched.any():
                self._replan(last, touched)
            step = last + 1
        return self._outcome()

    def _next_change(self, step: int) -> int:
        """The first step after ``step`` at which holdings change by schedule."""
        pending = self.order_step[self.order_step > step]
        cuts = self.cut_steps[self.cut_steps > step]
        candidates = [self.clock.n_steps]
        for seg in self.segments:
            candidates += [k for k in (seg.raise_step, seg.set_step) if k > step]
        later = self.initial_steps[self.initial_steps > step]
        if later.size:
            candidates.append(int(later.min()))
        if pending.size:
            candidates.append(int(pending.min()))
        if cuts.size:
            candidates.append(int(cuts.min()))
        return min(candidates)

    def _advance(self, start: int, end: int) -> tuple[int, BoolArray]:
        """Serve, bill and train from ``start`` up to the first step that needs a decision;
        that step, and the workloads a re-plan after it is about.

        The triggers of the last step are those found for the block, less the training
        that finished in it: finishing only zeroes that job's holdings, which no other
        workload's trigger reads.
        """
        block = self._block(np.arange(start, end))
        finishing = self._first_finish(block)
        limit = finishing + 1 if finishing is not None else block.ks.size
        touched = self._triggers(block.ks[:limit], block.after[:, :limit])
        fires = np.flatnonzero(touched.any(0))
        last = int(fires[0]) if fires.size else limit - 1
        last = min(last, limit - 1)
        self._commit(block, last + 1)
        now: BoolArray = touched[:, last] & ~self.done
        return start + last, now

    def _block(self, ks: IntArray) -> _Block:
        used = np.flatnonzero(self.held.any(0))
        delivering = self.future.timeline.delivering[used, ks[0] : ks[-1] + 1]
        capacity = (self.held[:, used] * self.per_instance[:, used]) @ delivering
        training = ~self.model.inference & ~self.done
        gain = np.where(training[:, None], capacity * self.step_seconds, 0.0)
        after = self.progress[:, None] + np.cumsum(gain, axis=1)
        return _Block(ks, capacity, gain, after)

    def _first_finish(self, block: _Block) -> int | None:
        training = ~self.model.inference & ~self.done
        reached = training[:, None] & (block.after >= self.done_budget[:, None])
        hits = np.flatnonzero(reached.any(0))
        return int(hits[0]) if hits.size else None

    # ----- committing a block ------------------------------------------------------------
    def _commit(self, block: _Block, count: int) -> None:
        ks = block.ks[:count]
        capacity = block.capacity[:, :count]
        self._serve(ks, capacity)
        self._deadlines(ks, block, count)
        training = ~self.model.inference & ~self.done
        self.progress = np.where(training, block.after[:, count - 1], self.progress)
        finished = training & (self.progress >= self.done_budget)
        self._bill(ks, self._idle_share(block, count, finished))
        if finished.any():
            for seg in self.segments:
                seg.rows = seg.rows & ~finished
            self.done |= finished
            self.held[finished] = 0.0
            self.order_qty[finished] = 0.0
            self.order_step[finished] = NEVER
            self.release_qty[finished] = 0.0

    def _serve(self, ks: IntArray, capacity: FloatArray) -> None:
        inference = self.model.inference
        if not inference.any():
            return
        path, k0, k1 = self.future.demand, int(ks[0]), int(ks[-1]) + 1
        multiplier = path.level[:, k0:k1] * path.burst[:, k0:k1]
        demand = self.model.mean_demand_tokens_per_s[:, None] * multiplier
        short = np.maximum(demand - capacity, 0.0)
        seconds = self.step_seconds
        self.demanded += float(demand[inference].sum()) * seconds
        self.unserved += float(short[inference].sum()) * seconds
        met = short <= demand * self.reaction.slo_unserved_tolerance
        self.slo_met_steps += np.where(inference, met.sum(1), 0)

    def _idle_share(self, block: _Block, count: int, finished: BoolArray) -> FloatArray:
        """Per workload, the share of the last step after its training finished."""
        idle = np.zeros(self.model.n_workloads)
        k = count - 1
        for w in np.flatnonzero(finished).tolist():
            before = block.after[w, k] - block.gain[w, k]
            needed = (self.token_budget[w] - before) / max(block.gain[w, k], 1e-300)
            idle[w] = 1.0 - min(max(needed, 0.0), 1.0)
        return idle

    def _bill(self, ks: IntArray, idle_last: FloatArray) -> None:
        """Bill the steps ``ks``; in the last one, training that finished stops paying."""
        timeline = self.future.timeline
        m = self.model
        used = np.flatnonzero(self.held.any(0) | (m.take_or_pay_chips > 0))
        held = self.held[:, used]
        cpi = m.chips_per_instance[used][None, :]
        chips = np.repeat((held * cpi).sum(0)[:, None], ks.size, axis=1)
        chips[:, -1] -= (held * cpi * idle_last[:, None]).sum(0)
        contracted = np.maximum(chips, m.take_or_pay_chips[used][:, None])
        k0, k1 = int(ks[0]), int(ks[-1]) + 1
        billed = np.where(
            m.contracted[used][:, None],
            contracted * timeline.billable[used, k0:k1],
            chips * timeline.delivering[used, k0:k1],
        )
        price = m.usd_per_chip_hour[used][:, None] * timeline.price[used, k0:k1]
        self.cost_usd += float((billed * price).sum()) * self.clock.step_hours

    def _deadlines(self, ks: IntArray, block: _Block, count: int) -> None:
        """Training whose deadline (or the horizon's end) falls in these steps: on time?"""
        training = ~self.model.inference & ~self.done
        check, step_of_check = self.check_hour, self.check_step
        due = training & (step_of_check >= ks[0]) & (step_of_check <= ks[-1])
        for w in np.flatnonzero(due).tolist():
            k = int(step_of_check[w] - ks[0])
            before = block.after[w, k] - block.gain[w, k]
            into = check[w] - ks[k] * self.clock.step_hours
            at_check = before + block.capacity[w, k] * into * SECONDS_PER_HOUR
            if at_check < self.done_budget[w]:
                self.missed[w] = True

    # ----- schedules ----------------------------------------------------------------------
    def _later_segments(
        self, schedule: Schedule, hour: float, earliest: IntArray
    ) -> list[_Segment]:
        """The parts of ``schedule`` (planned at ``hour``) after its first, as steps."""
        out = []
        rows = np.ones(self.model.n_workloads, dtype=bool)
        for offset, instances in zip(schedule.hours[1:], schedule.instances[1:], strict=True):
            start = (hour + offset) / self.clock.step_hours
            raise_step = max(math.floor(start + 1e-9), 0)
            set_step = max(math.ceil(start - 1e-9), raise_step)
            out.append(_Segment(raise_step, set_step, rows.copy(), instances, earliest))
        return out

    def _segments_due(self, step: int) -> None:
        for seg in self.segments:
            rows = seg.rows & ~self.done
            if not rows.any():
                continue
            if seg.raise_step == step:
                self._raise(seg, rows, step)
            if seg.set_step == step:
                want = seg.instances
                self.held = np.where(rows[:, None], np.minimum(self.held, want), self.held)
                extra = np.maximum(want - self.held, 0.0)
                self.order_qty = np.where(
                    rows[:, None], np.minimum(self.order_qty, extra), self.order_qty
                )
                self.release_qty = np.where(rows[:, None], 0.0, self.release_qty)
                seg.rows = seg.rows & ~rows
        self.segments = [seg for seg in self.segments if seg.rows.any()]

    def _raise(self, seg: _Segment, rows: BoolArray, step: int) -> None:
        """A segment's increases: at once, or as orders where the lead time is not over."""
        up = np.where(rows[:, None], np.maximum(seg.instances - self._target(), 0.0), 0.0)
        ready = (seg.earliest <= step)[None, :]
        self.held += np.where(ready, up, 0.0)
        later = (up > 0) & ~ready
        waiting = self.order_qty > 0
        self.order_step = np.where(
            later,
            np.where(waiting, np.maximum(self.order_step, seg.earliest[None, :]), seg.earliest),
            self.order_step,
        ).astype(np.int64)
        self.order_qty = np.where(later, self.order_qty + up, self.order_qty)

    def _initial_now(self, step: int) -> FloatArray:
        index = int(np.searchsorted(self.initial_steps, step, side="right")) - 1
        return self.initial_plans[max(index, 0)]

    # ----- arrivals and cuts ---------------------------------------------------------------
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
        if step not in self.cut_set:
            return
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

    # ----- re-planning ---------------------------------------------------------------------
    def _target(self) -> FloatArray:
        target: FloatArray = self.held + self.order_qty - self.release_qty
        return np.maximum(target, 0.0)

    def _rates(self, ks: IntArray, progress: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(tokens/s still needed, hours left for it) ``[w, k]`` at the end of each step."""
        hour = (ks + 1) * self.clock.step_hours
        horizon_left = np.maximum(self.model.horizon_hours - hour, 1e-9)[None, :]
        deadline_left = self.model.deadline_hours[:, None] - hour[None, :]
        flexible = self.model.inference[:, None] | (deadline_left <= 0)
        hours_left = np.where(flexible, horizon_left, np.minimum(deadline_left, horizon_left))
        remaining = np.maximum(self.token_budget[:, None] - progress, 0.0)
        training_rate = remaining / (hours_left * SECONDS_PER_HOUR)
        level = self.future.demand.level[:, int(ks[0]) : int(ks[-1]) + 1]
        inference_rate = self.model.demand_tokens_per_s[:, None] * level
        rate = np.where(self.model.inference[:, None], inference_rate, training_rate)
        return rate * (1.0 + self.reaction.replan_headroom), hours_left

    def _triggers(self, ks: IntArray, progress: FloatArray) -> BoolArray:
        """``[w, k]``: the workloads a re-plan after step ``ks[k]`` would be about."""
        timeline = self.future.timeline
        k0, k1 = int(ks[0]), int(ks[-1]) + 1
        active = (~self.done)[:, None] & (ks < self.clock.n_steps - 1)[None, :]
        target = self._target()
        used = np.flatnonzero(target.any(0))
        held_on = (target[:, used] > 0).astype(np.float64)
        orderable = timeline.orderable[:, k0:k1]
        changed = orderable[used] != self.planned_orderable[used][:, None]
        touched = (held_on @ changed.astype(np.float64)) > 0
        recovering = timeline.replan[k0:k1]
        if recovering.any():
            recovering = recovering & (orderable > self.planned_orderable[:, None]).any(0)
            moved = np.abs(target - self._initial_now(k0)).sum(1) > 0
            touched |= moved[:, None] & recovering[None, :]
        cooled = ks - self.last_replan_step >= self.cooldown_steps
        if cooled.any():  # drift and price moves count only once the cool-down is over
            drifted = self._drifted(ks, target, progress, used) | self._repriced(ks, target, used)
            touched |= drifted & cooled[None, :]
        result: BoolArray = touched & active
        return result

    def _repriced(self, ks: IntArray, target: FloatArray, used: IntArray) -> BoolArray:
        """``[w, k]``: what a workload holds now costs more than the threshold off its plan.

        ``used``: the offers ``target`` holds anything on.
        """
        usd = target[:, used] * self.unit_usd[used][None, :]
        planned = usd @ self.planned_price[used]
        now = usd @ self.future.timeline.price[used, int(ks[0]) : int(ks[-1]) + 1]
        ratio = now / np.maximum(planned, 1e-300)[:, None]
        repriced: BoolArray = (planned[:, None] > 0) & (
            np.abs(ratio - 1.0) > self.reaction.price_drift_threshold
        )
        return repriced

    def _drifted(
        self, ks: IntArray, target: FloatArray, progress: FloatArray, used: IntArray
    ) -> BoolArray:
        inference = self.model.inference[:, None]
        ratio = (
            self.future.demand.level[:, int(ks[0]) : int(ks[-1]) + 1] / self.planned_level[:, None]
        )
        up, down = self.reaction.demand_up_threshold, self.reaction.demand_down_threshold
        demand_drift = inference & ((ratio > 1.0 + up) | (ratio < 1.0 - down))
        rate, _ = self._rates(ks, progress)
        hours = (ks + 1).astype(np.float64) * self.clock.step_hours
        planned = self._scheduled_rate(hours, target)
        behind = ~inference & (planned < rate * (1.0 - self.reaction.training_behind_threshold))
        drifted: BoolArray = demand_drift | behind
        return drifted

    def _scheduled_rate(self, hours: FloatArray, target: FloatArray) -> FloatArray:
        """``[w, k]`` tokens/s the schedule delivers on average from ``hours[k]`` to the
        workload's end.

        The current target, then each later segment from when it starts (a plan may run a
        job slowly until a reserved block opens, then faster).
        """
        horizon = self.model.horizon_hours
        deadline = self.model.deadline_hours[:, None]
        hour = hours[None, :]
        end = np.where(deadline > hour, np.minimum(deadline, horizon), horizon)
        span = np.maximum(end - hour, 1e-9)
        rate = np.broadcast_to((target * self.per_instance).sum(1)[:, None], span.shape)
        total = rate * span
        for seg in sorted(self.segments, key=lambda seg: seg.raise_step):
            start = np.maximum(seg.raise_step * self.clock.step_hours, hour)
            seg_rate = (seg.instances * self.per_instance).sum(1)[:, None]
            live = seg.rows[:, None] & (start < end)
            total = total + np.where(live, (seg_rate - rate) * (end - start), 0.0)
            rate = np.where(live, seg_rate, rate)
        average: FloatArray = total / span
        return average

    def _replan(self, step: int, touched: BoolArray) -> None:
        timeline = self.future.timeline
        ks = np.array([step])
        rate, hours_left = self._rates(ks, self.progress[:, None])
        request = ReplanRequest(
            hour=self.clock.end(step),
            active=~self.done,
            touched=touched,
            demand_tokens_per_s=rate[:, 0],
            hours_left=hours_left[:, 0],
            capacity_factor=timeline.orderable[:, step].copy(),
            capacity_limit_chips=self.limit_chips.copy(),
            price_multiplier=timeline.price[:, step].copy(),
            available_until_hour=timeline.available_until_hour,
            target=self._target(),
        )
        new_plan = self.replanner.replan(request)
        self.replans += 1
        self.last_replan_step = step
        self.planned_orderable = request.capacity_factor
        self.planned_price = request.price_multiplier
        self.planned_level = np.where(
            touched, self.future.demand.level[:, step], self.planned_level
        )
        if new_plan is not None:
            parked = request.capacity_factor <= 0.0
            self._order(step, touched & ~self.done, new_plan, parked)

    def _order(self, step: int, touched: BoolArray, plan: Schedule, parked: BoolArray) -> None:
        """Order what the new target adds (after a lead time) and release what it drops.

        Releases wait until the workload's new instances arrive (make before break).
        Instances on offers that are down or not yet delivered (``parked``) are kept: a
        reservation is not cancelled because its provider is out for a while.
        """
        new_target = plan.first
        for seg in self.segments:
            seg.rows = seg.rows & ~touched
        rows = np.flatnonzero(touched)
        self.order_qty[rows] = 0.0
        self.order_step[rows] = NEVER
        self.release_qty[rows] = 0.0
        delta = np.where(touched[:, None], new_target - self.held, 0.0)
        up, down = np.maximum(delta, 0.0), np.maximum(-delta, 0.0)
        down = np.where(parked[None, :], 0.0, down)
        in_use = self.held.sum(0) > 0
        lead = np.where(
            in_use, self.reaction.lead_same_offer_hours, self.reaction.lead_new_offer_hours
        )
        hours = (self.clock.end(step) + lead) / self.clock.step_hours
        arrive = np.maximum(np.ceil(hours - 1e-9).astype(np.int64), step + 1)
        self.order_qty = np.where(up > 0, up, self.order_qty)
        self.order_step = np.where(up > 0, arrive[None, :], self.order_step).astype(np.int64)
        waits: BoolArray = np.asarray((up > 0).any(axis=1), dtype=np.bool_)
        self.release_qty = np.where(waits[:, None], down, self.release_qty)
        self.held = np.where(waits[:, None], self.held, self.held - down)
        later = self._later_segments(plan, self.clock.end(step), arrive)
        for seg in later:
            seg.rows = touched.copy()
            seg.raise_step = max(seg.raise_step, step + 1)
            seg.set_step = max(seg.set_step, seg.raise_step)
        self.segments += [seg for seg in later if seg.raise_step < self.clock.n_steps]

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
    initial: Schedule,
    reaction: Reaction,
) -> Outcome:
    """Play one strategy through one future, starting from its initial plan's schedule."""
    expected = (model.n_workloads, len(model.offer_ids))
    if any(m.shape != expected for m in initial.instances):
        raise ValueError(f"initial allocation must have shape {expected}")
    run = _Run(model, clock, future, replanner, reaction, initial)
    return run.run()
