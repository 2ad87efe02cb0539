"""One scenario end to end: the shared setup, its future drawn from (seed, id), every strategy.

Common random numbers: scenario ``i`` draws its whole future (events and demand) from a
generator seeded by ``SeedSequence(seed, spawn_key=(i,))`` -- nothing else -- and then every
strategy plays that same future. Results therefore depend only on (setup, seed, i), never on
which worker ran the scenario or in which order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from chipfolio.planner import Problem, SolveOptions, WorkloadKind
from chipfolio.simulation.demand import DemandAssumptions, RateProfile, sample_demand
from chipfolio.simulation.engine import run_strategy
from chipfolio.simulation.events import (
    CONTRACTED,
    EventAssumptions,
    World,
    build_timeline,
    count_by_kind,
    sample_events,
)
from chipfolio.simulation.model import Clock, Future, Outcome, Reaction, SimModel
from chipfolio.simulation.strategies import PlannerReplanner, ReplanMode, Strategy


def build_model(
    problem: Problem, mean_demand_tokens_per_s: Sequence[float] | None = None
) -> SimModel:
    """The engine's view of ``problem`` (labels, prices, windows, throughputs).

    ``mean_demand_tokens_per_s`` (per workload) is the mean simulated traffic; by default the
    problem's own demand.
    """
    offers, workloads = problem.offers, problem.workloads
    world = World(
        providers=tuple(offers.providers.tolist()),
        silicon=tuple(offers.vendors.tolist()),
        regions=tuple(offers.regions.tolist()),
        pricing=tuple(offers.pricing.tolist()),
        available_from_hour=tuple(float(h) for h in offers.available_from_hour),
        available_until_hour=tuple(float(h) for h in offers.available_until_hour),
        horizon_hours=float(problem.horizon_hours),
    )
    contracted = np.isin(offers.pricing, CONTRACTED) | (offers.take_or_pay_chips > 0)
    return SimModel(
        offer_ids=tuple(offers.ids.tolist()),
        chips_per_instance=offers.chips_per_instance.astype(np.float64),
        usd_per_chip_hour=offers.usd_per_chip_hour.copy(),
        take_or_pay_chips=offers.take_or_pay_chips.copy(),
        capacity_chips=offers.capacity_chips.copy(),
        contracted=contracted,
        workload_names=tuple(workloads.names.tolist()),
        inference=workloads.kinds == WorkloadKind.INFERENCE.value,
        demand_tokens_per_s=workloads.demand_tokens_per_s.copy(),
        mean_demand_tokens_per_s=(
            workloads.demand_tokens_per_s.copy()
            if mean_demand_tokens_per_s is None
            else _positive(mean_demand_tokens_per_s, len(workloads))
        ),
        deadline_hours=workloads.deadline_hours.copy(),
        tokens_per_s_per_chip=problem.tokens_per_s_per_chip.copy(),
        world=world,
    )


def _positive(values: Sequence[float], n: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,) or not (np.isfinite(array).all() and (array > 0).all()):
        raise ValueError(f"mean demand needs {n} finite positive rates")
    return array


@dataclass(frozen=True, eq=False)
class SimulationSetup:
    """Everything a worker needs to run any scenario (picklable; sent once per batch).

    ``token`` names the study so a worker can keep its re-plan caches across batches.
    """

    model: SimModel
    clock: Clock
    strategies: tuple[Strategy, ...]
    profiles: tuple[RateProfile, ...]
    events: EventAssumptions
    demand: DemandAssumptions
    reaction: Reaction
    replan_options: SolveOptions
    replan_mode: ReplanMode
    seed: int
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


def scenario_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of scenario ``index``: a function of (seed, index) alone."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))


def draw_future(setup: SimulationSetup, index: int) -> Future:
    """Sample scenario ``index``'s events and demand."""
    rng = scenario_rng(setup.seed, index)
    model, clock = setup.model, setup.clock
    events = sample_events(rng, model.world, setup.events)
    timeline = build_timeline(model.world, events, clock.step_hours, clock.n_steps, setup.events)
    demand = sample_demand(
        rng,
        model.inference.tolist(),
        setup.profiles,
        clock.step_hours,
        clock.n_steps,
        setup.demand,
    )
    return Future(timeline=timeline, demand=demand)


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """Every strategy's outcome in one scenario, plus what happened in it."""

    index: int
    events: int
    events_by_kind: tuple[tuple[str, int], ...]
    outcomes: tuple[Outcome, ...]


def run_scenario(
    setup: SimulationSetup, index: int, replanners: Sequence[PlannerReplanner]
) -> ScenarioResult:
    """Draw scenario ``index`` once and play every strategy through it."""
    future = draw_future(setup, index)
    outcomes = tuple(
        run_strategy(
            setup.model,
            setup.clock,
            future,
            replanner,
            strategy.initial,
            setup.reaction,
        )
        for strategy, replanner in zip(setup.strategies, replanners, strict=True)
    )
    by_kind = count_by_kind(future.timeline.events)
    by_kind["demand_burst"] = future.demand.bursts
    return ScenarioResult(index, future.n_events, tuple(sorted(by_kind.items())), outcomes)


_WORKER_REPLANNERS: dict[str, list[PlannerReplanner]] = {}


def _replanners(setup: SimulationSetup) -> list[PlannerReplanner]:
    """This process's re-planners for ``setup`` (kept across batches of the same study).

    Their caches hold exact answers keyed by the full problem content, so reusing them
    changes only the speed, never a result.
    """
    found = _WORKER_REPLANNERS.get(setup.token)
    if found is None:
        _WORKER_REPLANNERS.clear()
        found = [
            PlannerReplanner(s, setup.replan_options, setup.replan_mode) for s in setup.strategies
        ]
        _WORKER_REPLANNERS[setup.token] = found
    return found


def run_batch(setup: SimulationSetup, indices: Sequence[int]) -> list[ScenarioResult]:
    """Run scenarios ``indices`` in this process."""
    replanners = _replanners(setup)
    return [run_scenario(setup, index, replanners) for index in indices]
