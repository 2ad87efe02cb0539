"""The engine's inputs and outputs: clock, portfolio arrays, reactions, futures, outcomes.

Plain immutable values (and one Protocol, ``Replanner``) shared by the engine, the
strategies and the scenario runner; nothing here holds state or does work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from chipfolio.simulation.demand import DemandPath
from chipfolio.simulation.events import Timeline, World

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

SECONDS_PER_HOUR = 3600.0


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
    (inference) at its price. An offer going down or coming back triggers a re-plan of the
    workloads concerned at once. Demand rising above (or falling below) what the last plan
    assumed by more than ``demand_up_threshold`` (``demand_down_threshold``), a training job
    whose planned throughput falls more than ``training_behind_threshold`` short of what
    finishes it on time, or what a workload holds costing more than
    ``price_drift_threshold`` off its planned cost (price moves) trigger a re-plan at most
    once per new-offer lead time. Re-plans size demand ``replan_headroom`` above the need so
    growth and preemptions do not outrun them at once. A step meets a workload's SLO when at most
    ``slo_unserved_tolerance`` of its demand in that step goes unserved.
    """

    lead_new_offer_hours: float = 24.0
    lead_same_offer_hours: float = 6.0
    checkpoint_transfer_hours: float = 2.0
    inference_warmup_hours: float = 0.5
    demand_up_threshold: float = 0.02
    demand_down_threshold: float = 0.10
    training_behind_threshold: float = 0.05
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
    """A strategy's planner: a new schedule from the decision hour on, or None (no change).

    Only the rows of the request's touched workloads are read from the answer.
    """

    def replan(self, request: ReplanRequest) -> Schedule | None: ...


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


@dataclass(frozen=True, eq=False)
class Schedule:
    """A plan over time: ``instances[i]`` (a ``[w, o]`` matrix) holds from ``hours[i]`` on.

    Hours count from the moment the plan was made (0 for an initial plan, the decision hour
    for a re-plan); ``hours[0]`` is 0 and hours increase. Plans change over time when an
    offer opens or closes inside the horizon (a reserved block that starts on day 14).
    """

    hours: tuple[float, ...]
    instances: tuple[FloatArray, ...]

    def __post_init__(self) -> None:
        if not self.hours or self.hours[0] != 0.0 or len(self.hours) != len(self.instances):
            raise ValueError("a schedule starts at hour 0 with one matrix per start hour")
        if any(b <= a for a, b in zip(self.hours, self.hours[1:], strict=False)):
            raise ValueError("schedule hours must increase")

    @classmethod
    def constant(cls, instances: FloatArray) -> Schedule:
        return cls((0.0,), (np.asarray(instances, dtype=np.float64),))

    @property
    def first(self) -> FloatArray:
        return self.instances[0]

    def at(self, hour: float) -> FloatArray:
        """The matrix in force at ``hour`` (relative)."""
        index = int(np.searchsorted(np.asarray(self.hours), hour, side="right")) - 1
        return self.instances[max(index, 0)]
