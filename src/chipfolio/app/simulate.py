"""Use case: the Monte Carlo study of a portfolio's plan under outages and shocks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chipfolio.app.problem import problem_for
from chipfolio.planner import SolveOptions
from chipfolio.simulation import Executor, ReplanMode, Simulation, StrategyName, simulate
from chipfolio.simulation.inputs import Assumptions, workload_demand
from chipfolio.workloads.spec import Portfolio


@dataclass(frozen=True, slots=True)
class SimulationRequest:
    """What to simulate: how many futures, the seed, the strategies and the assumptions
    (``replan`` overrides the assumptions' re-planning mode when given)."""

    scenarios: int
    seed: int
    strategies: tuple[StrategyName, ...]
    assumptions: Assumptions = field(default_factory=Assumptions)
    replan: ReplanMode | None = None
    name: str = "portfolio"


def simulate_portfolio(
    portfolio: Portfolio,
    catalog_home: Path | None,
    request: SimulationRequest,
    executor: Executor,
    progress: Callable[[int], None] | None = None,
) -> Simulation:
    """Run the study on ``executor``; ``progress(n)`` hears of each batch of n scenarios."""
    problem = problem_for(portfolio, catalog_home)
    demand = workload_demand(portfolio, problem)
    assumptions = request.assumptions
    return simulate(
        problem,
        scenarios=request.scenarios,
        seed=request.seed,
        strategies=list(request.strategies),
        executor=executor,
        progress=progress,
        portfolio=request.name,
        profiles=demand.profiles,
        mean_demand_tokens_per_s=demand.mean_tokens_per_s,
        events=assumptions.events,
        demand=assumptions.demand,
        reaction=assumptions.reaction,
        step_hours=assumptions.step_hours,
        replan_mode=request.replan or assumptions.replan,
        plan_options=SolveOptions(),
    )
