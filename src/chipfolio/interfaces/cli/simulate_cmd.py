"""`chipfolio simulate`: Monte Carlo futures of a portfolio, strategy against strategy."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from chipfolio.app import SimulationRequest, simulate_portfolio
from chipfolio.errors import InputError
from chipfolio.interfaces.cli.json_out import write_json
from chipfolio.interfaces.settings import chipfolio_home
from chipfolio.simulation.inputs import Assumptions, load_assumptions
from chipfolio.simulation.runners import Executor, LocalExecutor, RayExecutor
from chipfolio.simulation.strategies import ReplanMode, parse_strategies
from chipfolio.simulation.study import MAX_SCENARIOS, Simulation
from chipfolio.workloads.spec import load_portfolio


class ExecutorKind(StrEnum):
    LOCAL = "local"
    RAY = "ray"


def _money(value: float) -> str:
    return f"${value:,.0f}"


def _pct(value: float) -> str:
    return f"{value:.2%}"


def _table(doc: dict[str, Any]) -> Table:
    table = Table()
    table.add_column("strategy")
    for name in (
        "plan cost",
        "cost p50",
        "cost p95",
        "unserved p50",
        "unserved p95",
        "unserved p99",
        "SLO mean",
        "deadline miss",
        "re-plans",
    ):
        table.add_column(name, justify="right")
    for name, s in doc["strategies"].items():
        table.add_row(
            name,
            _money(s["initial_plan_cost_usd"]),
            _money(s["cost_usd"]["p50"]),
            _money(s["cost_usd"]["p95"]),
            _pct(s["unserved_fraction"]["p50"]),
            _pct(s["unserved_fraction"]["p95"]),
            _pct(s["unserved_fraction"]["p99"]),
            _pct(s["slo_attainment"]["mean"]),
            _pct(s["deadline_miss_rate"]),
            f"{s['replans_mean']:.1f}",
        )
    return table


def comparison_lines(doc: dict[str, Any]) -> list[str]:
    """One sentence per strategy: what its protection costs and what it buys."""
    comp = doc.get("comparison")
    if not comp:
        return []
    base = comp["baseline"]
    lines = []
    for name, c in comp["strategies"].items():
        premium = c["median_cost_premium_usd"]
        word = "more" if premium >= 0 else "less"
        lines.append(
            f"{name} costs a median {_money(abs(premium))} "
            f"({abs(c['median_cost_premium_fraction']):.1%}) {word} than {base} per scenario; "
            f"p95 unserved demand {_pct(c['p95_unserved'])} vs {_pct(c['p95_unserved_baseline'])}"
            f" ({c['p95_unserved_change'] * 100:+.2f} points)."
        )
    return lines


def show(sim: Simulation, doc: dict[str, Any], console: Console, executor: str) -> None:
    rate = len(sim.results) / sim.seconds if sim.seconds > 0 else float("inf")
    console.print(
        f"[bold]{doc['portfolio'] or 'portfolio'}[/]: {doc['scenarios']:,} scenarios, seed "
        f"{doc['seed']}, {doc['steps']} steps of {doc['step_hours']:g} h over "
        f"{doc['horizon_hours']:g} h"
    )
    console.print(
        f"[dim]{executor} · initial plans {sim.plan_seconds:.2f} s · scenarios "
        f"{sim.seconds:.2f} s ({rate:,.1f}/s) · {sim.events:,} events · "
        f"{sim.replans:,} re-plans ({doc['assumptions']['replan_mode']})[/]"
    )
    console.print(_table(doc))
    for line in comparison_lines(doc):
        console.print(line)


SCENARIOS_PER_AUTO_WORKER = 50  # below this many scenarios per core a process pool does not pay


def auto_workers(workers: int, scenarios: int) -> int:
    """``workers``, or for 0 one process per core, but only when each gets enough scenarios.

    Results do not depend on the count (seeds come from scenario ids), only the speed does.
    """
    if workers < 0:
        raise InputError(f"must be >= 0 (0 = one per core), got {workers}", field="--workers")
    if workers > 0:
        return workers
    cores = os.cpu_count() or 1
    return max(1, min(cores, scenarios // SCENARIOS_PER_AUTO_WORKER))


def _executor(kind: ExecutorKind, workers: int, address: str | None) -> Executor:
    if address is not None and kind is not ExecutorKind.RAY:
        raise InputError("--ray-address needs --executor ray", field="--ray-address")
    if kind is ExecutorKind.RAY:
        return RayExecutor(workers=workers, address=address)
    return LocalExecutor(workers=workers)


def run_simulate(
    file: Path,
    scenarios: int,
    seed: int,
    strategies: str,
    executor_kind: ExecutorKind,
    workers: int,
    ray_address: str | None,
    json_out: str | None,
    assumptions_file: Path | None,
    replan: ReplanMode | None,
) -> None:
    names = parse_strategies(strategies)
    if not 1 <= scenarios <= MAX_SCENARIOS:
        raise InputError(f"must be from 1 to {MAX_SCENARIOS}, got {scenarios}", field="--scenarios")
    if not 0 <= seed < 2**63:
        raise InputError(f"must be from 0 to 2**63-1, got {seed}", field="--seed")
    assumptions = load_assumptions(assumptions_file) if assumptions_file else Assumptions()
    workers = auto_workers(workers, scenarios)
    executor = _executor(executor_kind, workers, ray_address)
    portfolio = load_portfolio(file)
    request = SimulationRequest(
        scenarios=scenarios,
        seed=seed,
        strategies=names,
        assumptions=assumptions,
        replan=replan,
        name=file.name,
    )
    console = Console(stderr=json_out == "-")
    progress = Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    try:
        with progress:
            task = progress.add_task("scenarios", total=scenarios)
            sim = simulate_portfolio(
                portfolio,
                chipfolio_home() / "catalogs",
                request,
                executor,
                progress=lambda n: progress.advance(task, n),
            )
    finally:
        if isinstance(executor, RayExecutor):
            executor.close()
    doc = sim.to_json()
    if json_out is not None:
        write_json(doc, json_out, "results")
    where = f"{executor_kind.value} executor, {workers} worker{'s' if workers > 1 else ''}"
    show(
        sim,
        doc,
        console if console.is_terminal else Console(width=200, stderr=json_out == "-"),
        where,
    )


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_command(
        file: Path = typer.Argument(..., help="Portfolio YAML file (see docs/portfolio.md)."),
        scenarios: int = typer.Option(200, "--scenarios", metavar="N", help="Futures to sample."),
        seed: int = typer.Option(0, "--seed", metavar="S", help="Seed of the whole study."),
        strategies: str = typer.Option(
            "cheapest,capped,n1",
            "--strategies",
            metavar="LIST",
            help="Comma-separated strategies: cheapest, capped, n1.",
        ),
        executor: ExecutorKind = typer.Option(
            ExecutorKind.LOCAL, "--executor", help="Run scenarios in local processes or on Ray."
        ),
        workers: int = typer.Option(
            0,
            "--workers",
            metavar="W",
            help="Processes / Ray CPUs (0 = one per core when there are enough scenarios).",
        ),
        ray_address: str | None = typer.Option(
            None, "--ray-address", metavar="ADDR", help="Join this Ray cluster (e.g. auto)."
        ),
        json_out: str | None = typer.Option(
            None, "--json", metavar="OUT", help="Write results as JSON to OUT ('-' = stdout)."
        ),
        assumptions: Path | None = typer.Option(
            None, "--assumptions", metavar="FILE", help="YAML overriding event/demand rates."
        ),
        replan: ReplanMode | None = typer.Option(
            None, "--replan", help="Re-plan with the rounded LP (fast) or the exact MILP."
        ),
    ) -> None:
        """Monte Carlo of outages, late deliveries, price and demand shocks, re-planned."""
        run_simulate(
            file,
            scenarios,
            seed,
            strategies,
            executor,
            workers,
            ray_address,
            json_out,
            assumptions,
            replan,
        )
