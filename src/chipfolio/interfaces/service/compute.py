"""What each background job computes, through the core's public functions only.

Each function takes a stored portfolio version and the job's options and returns the result
document as JSON text: a plan exactly as ``chipfolio plan --json`` writes it, a leverage
analysis as ``chipfolio leverage --json``, a simulation as ``chipfolio simulate --json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chipfolio.catalog import Catalog, load_catalog
from chipfolio.interfaces.service.inputs import parse_stored
from chipfolio.planner import Plan, Problem, SolveOptions, build_problem, solve_problem
from chipfolio.planner.build import catalog_choice
from chipfolio.workloads.spec import Portfolio


@dataclass(frozen=True, slots=True)
class Inputs:
    """A stored portfolio version and where catalogs and trace files live."""

    format: str
    text: str
    catalog_home: Path | None
    data_dir: Path | None


def _problem(inputs: Inputs) -> tuple[Portfolio, Problem, Catalog | None]:
    portfolio = parse_stored(inputs.format, inputs.text, inputs.data_dir)
    wanted, snapshot = catalog_choice(portfolio)
    catalog = load_catalog(snapshot, home=inputs.catalog_home) if wanted else None
    return portfolio, build_problem(portfolio, catalog), catalog


def plan_json(plan: Plan) -> str:
    """The plan document, byte for byte what ``chipfolio plan --json`` writes (less its \\n)."""
    return json.dumps(plan.to_json(), indent=2)


def run_plan(inputs: Inputs, options: dict[str, Any]) -> tuple[Plan, Catalog | None]:
    _, problem, catalog = _problem(inputs)
    solve = SolveOptions(time_limit_s=float(options["time_limit_s"]), mip_gap=float(options["gap"]))
    return solve_problem(problem, solve), catalog


def run_leverage(inputs: Inputs, options: dict[str, Any]) -> str:
    from chipfolio.analysis.leverage import LeverageOptions, analyze_leverage
    from chipfolio.errors import InputError

    portfolio, problem, _ = _problem(inputs)
    if problem.budget_usd is not None:
        raise InputError(
            "the leverage analysis needs a least-cost portfolio; remove 'budget_usd'",
            file=portfolio.file,
            field="budget_usd",
        )
    gap = float(options["gap"])
    solve = SolveOptions(time_limit_s=float(options["time_limit_s"]), mip_gap=gap)
    report = analyze_leverage(
        problem, LeverageOptions(solve=solve, cost_rel_tol=max(1e-5, 2 * gap), workers=1)
    )
    return json.dumps(report.to_json(), indent=2)


def run_simulation(inputs: Inputs, options: dict[str, Any], progress: Callable[[int], None]) -> str:
    from chipfolio.simulation.inputs import Assumptions, workload_demand
    from chipfolio.simulation.runners import LocalExecutor
    from chipfolio.simulation.strategies import parse_strategies
    from chipfolio.simulation.study import simulate

    portfolio, problem, _ = _problem(inputs)
    demand = workload_demand(portfolio, problem)
    assumptions = Assumptions()  # the CLI's defaults
    sim = simulate(
        problem,
        scenarios=int(options["scenarios"]),
        seed=int(options["seed"]),
        strategies=parse_strategies(str(options["strategies"])),
        executor=LocalExecutor(workers=1),
        progress=progress,
        portfolio=portfolio.spec.name or "portfolio",
        profiles=demand.profiles,
        mean_demand_tokens_per_s=demand.mean_tokens_per_s,
        events=assumptions.events,
        demand=assumptions.demand,
        reaction=assumptions.reaction,
        step_hours=assumptions.step_hours,
        replan_mode=assumptions.replan,
        plan_options=SolveOptions(),
    )
    return json.dumps(sim.to_json(), indent=2)
