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

from chipfolio.app import SimulationRequest, leverage_portfolio, plan_portfolio, simulate_portfolio
from chipfolio.errors import ChipfolioError, InfeasibleError
from chipfolio.interfaces.service.inputs import parse_stored
from chipfolio.planner import Plan, SolveOptions
from chipfolio.simulation import Executor
from chipfolio.workloads.spec import Portfolio


@dataclass(frozen=True, slots=True)
class Inputs:
    """A stored portfolio version and where catalogs and trace files live."""

    format: str
    text: str
    catalog_home: Path | None
    data_dir: Path | None


def run_plan(inputs: Inputs, options: dict[str, Any]) -> Plan:
    portfolio = parse_stored(inputs.format, inputs.text, inputs.data_dir)
    solve = SolveOptions(time_limit_s=float(options["time_limit_s"]), mip_gap=float(options["gap"]))
    return plan_portfolio(portfolio, inputs.catalog_home, solve)


def run_leverage(inputs: Inputs, options: dict[str, Any]) -> str:
    from chipfolio.app.leverage import leverage_options

    portfolio = parse_stored(inputs.format, inputs.text, inputs.data_dir)
    analysis = leverage_options(float(options["time_limit_s"]), float(options["gap"]), 1)
    report = leverage_portfolio(portfolio, inputs.catalog_home, analysis)
    return json.dumps(report.to_json(), indent=2)


def simulation_request(portfolio: Portfolio, options: dict[str, Any]) -> SimulationRequest:
    """A stored simulation job's request (the CLI's default assumptions)."""
    from chipfolio.simulation.strategies import parse_strategies

    return SimulationRequest(
        scenarios=int(options["scenarios"]),
        seed=int(options["seed"]),
        strategies=parse_strategies(str(options["strategies"])),
        name=portfolio.spec.name or "portfolio",
    )


def run_simulation(
    inputs: Inputs,
    options: dict[str, Any],
    progress: Callable[[int], None],
    executor: Executor | None = None,
) -> str:
    from chipfolio.simulation import LocalExecutor

    portfolio = parse_stored(inputs.format, inputs.text, inputs.data_dir)
    request = simulation_request(portfolio, options)
    sim = simulate_portfolio(
        portfolio,
        inputs.catalog_home,
        request,
        executor or LocalExecutor(workers=1),
        progress=progress,
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
    inputs: Inputs,
    options: dict[str, Any],
    progress: Callable[[int], None],
    executor: Executor | None = None,
) -> Outcome:
    """A simulation job (in a worker thread: its progress is written as it goes; its
    scenario batches run on ``executor``, one local process by default)."""
    try:
        return Outcome({"result_json": run_simulation(inputs, options, progress, executor)})
    except ChipfolioError as exc:
        return _failed(exc)


def remote_job(job: tuple[str, Inputs, dict[str, Any]]) -> Outcome:
    """A plan or leverage job as one task of an executor (Ray): ``(kind, inputs, options)``."""
    kind, inputs, options = job
    return plan_job(inputs, options) if kind == "plan" else leverage_job(inputs, options)


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
