"""A Monte Carlo study: plan each strategy once, run N scenarios on an executor, summarise.

``simulate(problem, scenarios=N, seed=S)`` is the library entry point; the CLI wraps it.
Scenarios go to the executor in contiguous batches (a few per worker) so per-task overhead
stays small; the summary is built in scenario order, so the executor never shows in it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chipfolio.errors import InputError
from chipfolio.planner import Problem, SolveOptions, WorkloadKind
from chipfolio.simulation import metrics
from chipfolio.simulation.demand import (
    DEFAULT_PROFILE,
    DemandAssumptions,
    RateProfile,
    bundled_profiles,
)
from chipfolio.simulation.events import EventAssumptions
from chipfolio.simulation.model import Clock, Reaction
from chipfolio.simulation.runners import Executor, LocalExecutor, RayExecutor, batches
from chipfolio.simulation.scenario import (
    ScenarioResult,
    SimulationSetup,
    build_model,
    run_batch,
)
from chipfolio.simulation.strategies import ReplanMode, StrategyName, prepare_strategies

DEFAULT_STEP_HOURS = 6.0
MAX_SCENARIOS = 1_000_000
REPLAN_OPTIONS = SolveOptions(time_limit_s=30.0, mip_gap=1e-3, threads=1, seed=0)


@dataclass(frozen=True, eq=False)
class Simulation:
    """The outcome of a study: per-scenario results, the setup, and wall-clock facts."""

    setup: SimulationSetup
    results: tuple[ScenarioResult, ...]
    assumptions: dict[str, Any]
    seconds: float
    plan_seconds: float
    portfolio: str | None = None

    @property
    def events(self) -> int:
        return sum(r.events for r in self.results)

    @property
    def replans(self) -> int:
        return sum(o.replans for r in self.results for o in r.outcomes)

    def to_json(self) -> dict[str, Any]:
        return metrics.to_json(self.setup, self.results, self.assumptions, self.portfolio)


def _check(scenarios: int, seed: int, step_hours: float) -> None:
    if not 1 <= scenarios <= MAX_SCENARIOS:
        raise InputError(
            f"expected a scenario count from 1 to {MAX_SCENARIOS}, got {scenarios}",
            field="scenarios",
        )
    if not 0 <= seed < 2**63:
        raise InputError(f"expected a seed from 0 to 2**63-1, got {seed}", field="seed")
    if not (math.isfinite(step_hours) and 0.25 <= step_hours <= 168):
        raise InputError(
            f"expected a step from 0.25 to 168 hours, got {step_hours}", field="step_hours"
        )


def default_profiles(problem: Problem) -> tuple[RateProfile, ...]:
    """The bundled conversation-trace profile for every workload."""
    profile = bundled_profiles()[DEFAULT_PROFILE]
    return tuple(profile for _ in range(len(problem.workloads)))


def make_setup(
    problem: Problem,
    *,
    seed: int,
    strategies: Sequence[StrategyName] = tuple(StrategyName),
    profiles: Sequence[RateProfile] | None = None,
    mean_demand_tokens_per_s: Sequence[float] | None = None,
    events: EventAssumptions | None = None,
    demand: DemandAssumptions | None = None,
    reaction: Reaction | None = None,
    step_hours: float = DEFAULT_STEP_HOURS,
    plan_options: SolveOptions | None = None,
    replan_options: SolveOptions | None = None,
    replan_mode: ReplanMode = ReplanMode.FAST,
) -> SimulationSetup:
    """Solve every strategy's initial plan and gather what workers need."""
    profiles = tuple(profiles) if profiles is not None else default_profiles(problem)
    if len(profiles) != len(problem.workloads):
        raise ValueError("one rate profile per workload is required")
    return SimulationSetup(
        model=build_model(problem, mean_demand_tokens_per_s),
        clock=Clock.over(problem.horizon_hours, step_hours),
        strategies=prepare_strategies(problem, strategies, plan_options or SolveOptions()),
        profiles=profiles,
        events=events or EventAssumptions(),
        demand=demand or DemandAssumptions(),
        reaction=reaction or Reaction(),
        replan_options=replan_options or REPLAN_OPTIONS,
        replan_mode=ReplanMode(replan_mode),
        seed=seed,
    )


def assumptions_of(setup: SimulationSetup, problem: Problem) -> dict[str, Any]:
    """The documented assumptions a run used (goes into the JSON)."""
    inference = problem.workloads.kinds == WorkloadKind.INFERENCE.value
    return {
        "events": _plain(dataclasses.asdict(setup.events)),
        "demand": _plain(dataclasses.asdict(setup.demand)),
        "reaction": _plain(dataclasses.asdict(setup.reaction)),
        "demand_profiles": {
            str(name): setup.profiles[w].name
            for w, name in enumerate(problem.workloads.names.tolist())
            if inference[w]
        },
        "replan_mode": setup.replan_mode.value,
        "replan_mip_gap": setup.replan_options.mip_gap,
    }


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def simulate(
    problem: Problem,
    *,
    scenarios: int,
    seed: int,
    strategies: Sequence[StrategyName] = tuple(StrategyName),
    executor: Executor | None = None,
    progress: Callable[[int], None] | None = None,
    portfolio: str | None = None,
    **setup_options: Any,
) -> Simulation:
    """Run ``scenarios`` futures of ``problem`` for every strategy; see ``make_setup``.

    ``progress`` is called with the number of scenarios each finished batch completed.
    """
    _check(scenarios, seed, float(setup_options.get("step_hours", DEFAULT_STEP_HOURS)))
    started = time.perf_counter()
    executor = executor or LocalExecutor(1)
    if isinstance(executor, LocalExecutor | RayExecutor):
        executor.warm()  # workers start while the initial plans are solved
    try:
        setup = make_setup(problem, seed=seed, strategies=strategies, **setup_options)
    except BaseException:
        if isinstance(executor, LocalExecutor):
            executor.close()
        raise
    plan_seconds = time.perf_counter() - started
    chunks = batches(scenarios, executor.workers)
    sizes = [len(c) for c in chunks]

    def on_batch(index: int) -> None:
        if progress is not None:
            progress(sizes[index])

    work = functools.partial(run_batch, setup)
    started = time.perf_counter()
    per_batch = executor.map(work, [list(c) for c in chunks], on_batch)
    seconds = time.perf_counter() - started
    results = tuple(r for batch in per_batch for r in batch)
    return Simulation(
        setup=setup,
        results=results,
        assumptions=assumptions_of(setup, problem),
        seconds=seconds,
        plan_seconds=plan_seconds,
        portfolio=portfolio,
    )
