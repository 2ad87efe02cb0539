"""What each background job computes, through the core's public functions only.

Each function takes a stored portfolio version and the job's options and returns the result
document as JSON text: a plan exactly as ``chipfolio plan --json`` writes it, a leverage
analysis as ``chipfolio leverage --json``, a simulation as ``chipfolio simulate --json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chipfolio.catalog import load_catalog
from chipfolio.errors import ChipfolioError, InfeasibleError
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


def _problem(inputs: Inputs) -> tuple[Portfolio, Problem]:
    portfolio = parse_stored(inputs.format, inputs.text, inputs.data_dir)
    wanted, snapshot = catalog_choice(portfolio)
    catalog = load_catalog(snapshot, home=inputs.catalog_home) if wanted else None
    return portfolio, build_problem(portfolio, catalog)


def run_plan(inputs: Inputs, options: dict[str, Any]) -> Plan:
    _, problem = _problem(inputs)
    solve = SolveOptions(time_limit_s=float(options["time_limit_s"]), mip_gap=float(options["gap"]))
    return solve_problem(problem, solve)


def run_leverage(inputs: Inputs, options: dict[str, Any]) -> str:
    from chipfolio.analysis.leverage import LeverageOptions, analyze_leverage
    from chipfolio.errors import InputError

    portfolio, problem = _problem(inputs)
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

    portfolio, problem = _problem(inputs)
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


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a job produced, as plain picklable values (it may come from a worker process):
    the columns to write, or the error and its details."""

    updates: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    details: tuple[str, ...] = ()


def _failed(exc: ChipfolioError) -> Outcome:
    details = tuple(exc.conflicts) if isinstance(exc, InfeasibleError) else ()
    return Outcome(error=str(exc), details=details)


def plan_job(inputs: Inputs, options: dict[str, Any]) -> Outcome:
    """A plan job, start to end (runs in a worker thread or process)."""
    try:
        plan = run_plan(inputs, options)
    except ChipfolioError as exc:
        return _failed(exc)
    doc = plan.to_json()
    updates = {
        # byte for byte what ``chipfolio plan --json`` writes (less its final newline)
        "result_json": json.dumps(doc, indent=2),
        "catalog_snapshot": plan.catalog_snapshot,
        "solver": plan.solver.name,
        "solver_status": plan.solver.status,
        "plan_status": plan.status.value,
        "total_cost_usd": doc["total_cost_usd"],
        "solve_seconds": plan.solver.seconds,
    }
    return Outcome(updates)


def leverage_job(inputs: Inputs, options: dict[str, Any]) -> Outcome:
    """A leverage job, start to end (runs in a worker thread or process)."""
    try:
        return Outcome({"result_json": run_leverage(inputs, options)})
    except ChipfolioError as exc:
        return _failed(exc)


def simulation_job(
    inputs: Inputs, options: dict[str, Any], progress: Callable[[int], None]
) -> Outcome:
    """A simulation job (in a worker thread: its progress is written as it goes)."""
    try:
        return Outcome({"result_json": run_simulation(inputs, options, progress)})
    except ChipfolioError as exc:
        return _failed(exc)


def watch_parent(parent_pid: int) -> None:
    """Worker-process initializer: exit as soon as the service process is gone (even after
    ``kill -9``, which gives it no chance to stop its workers)."""
    import os
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.25)
        os._exit(0)

    threading.Thread(target=watch, name="chipfolio-parent-watch", daemon=True).start()


def warm_up() -> None:
    """Import what jobs need, so a new worker process answers its first job sooner."""
    import chipfolio.analysis.leverage
    import chipfolio.planner.solvers.highs  # noqa: F401
