"""`chipfolio plan`: plan a portfolio file and show allocations, vendor shares and N-1."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from chipfolio.app import plan_portfolio
from chipfolio.errors import GapNotMetError
from chipfolio.interfaces.cli.json_out import write_json
from chipfolio.interfaces.cli.solve_flags import check_solve_flags
from chipfolio.interfaces.settings import chipfolio_home
from chipfolio.planner import Plan, SolveOptions
from chipfolio.workloads.spec import Portfolio, load_portfolio

MIN_SOLVE_S = 0.05  # what the solver still gets when loading took the whole limit


def _money(value: float) -> str:
    return f"${value:,.0f}"


def _allocation_table(plan: Plan) -> Table:
    table = Table()
    for name in ("workload", "offer", "provider", "chip", "region", "hours"):
        table.add_column(name)
    for name in ("instances", "chips", "tokens/s", "cost"):
        table.add_column(name, justify="right")
    ordered = sorted(
        plan.allocations, key=lambda a: (a.workload is None, a.workload or "", -a.cost_usd)
    )
    for a in ordered:
        table.add_row(
            a.workload or "[dim](unused commitment)[/]",
            a.offer,
            a.provider,
            a.chip,
            a.region,
            f"{a.from_hour:g}-{a.to_hour:g}",
            f"{a.instances:,}",
            f"{a.chips:,}",
            f"{a.tokens_per_s:,.0f}",
            _money(a.cost_usd),
        )
    return table


def _vendor_table(plan: Plan) -> tuple[str, Table]:
    cap = plan.policy.max_share
    title = (
        f"Cost by vendor ({plan.share_by}; cap {cap:.0%})"
        if cap < 1
        else f"Cost by vendor ({plan.share_by})"
    )
    table = Table()
    table.add_column("vendor")
    table.add_column("cost", justify="right")
    table.add_column("share", justify="right")
    for vendor, share in sorted(plan.vendor_shares.items(), key=lambda kv: -kv[1]):
        table.add_row(vendor, _money(plan.cost_by_vendor_usd[vendor]), f"{share:.1%}")
    return title, table


def _n_minus_1_table(plan: Plan) -> tuple[str, Table] | None:
    critical = [w.name for w in plan.workloads if w.critical]
    if not critical or not plan.n_minus_1:
        return None
    need = plan.policy.n_minus_1
    title = "N-1: share of demand kept when a vendor is lost"
    title += f" (required {need:.0%})" if need > 0 else ""
    table = Table()
    table.add_column("vendor lost")
    for name in critical:
        table.add_column(name, justify="right")
    for vendor, row in plan.n_minus_1.items():
        cells = []
        for name in critical:
            kept = row.get(name, 1.0)
            style = "red" if kept < need - 1e-9 else ("yellow" if kept < 1 else "green")
            cells.append(f"[{style}]{kept:.0%}[/]")
        table.add_row(vendor, *cells)
    return title, table


def _workload_table(plan: Plan) -> Table:
    table = Table()
    for name in ("workload", "kind", "critical", "vendors"):
        table.add_column(name)
    for name in ("demand tok/s", "served tok/s", "served"):
        table.add_column(name, justify="right")
    for w in plan.workloads:
        served = f"{w.served_fraction:.0%}"
        if w.finish_hour is not None:
            served += f" (done h{w.finish_hour:,.0f})"
        table.add_row(
            w.name,
            w.kind,
            "yes" if w.critical else "",
            ", ".join(w.vendors),
            f"{w.demand_tokens_per_s:,.0f}",
            f"{w.served_tokens_per_s:,.0f}",
            served,
        )
    return table


def _sections(plan: Plan) -> list[tuple[str, Table]]:
    sections = [
        ("Workloads: demand and what the plan serves", _workload_table(plan)),
        ("Allocations", _allocation_table(plan)),
        _vendor_table(plan),
    ]
    n1 = _n_minus_1_table(plan)
    return sections + ([n1] if n1 is not None else [])


def show_plan(plan: Plan, portfolio: Portfolio, console: Console) -> None:
    s = plan.solver
    gap = "—" if s.gap is None else f"{s.gap:.2%}"
    proof = ""
    if plan.proof_short:
        proof = (
            " [bold yellow](not proven optimal: could be up to "
            + ("an unknown amount" if plan.gap is None else f"{plan.gap:.1%}")
            + " cheaper)[/]"
        )
    headline = (
        f"[bold]{portfolio.spec.name or portfolio.file}[/]: [bold]{plan.status.value}[/] plan"
        f"{proof}, total [bold]{_money(plan.total_cost_usd)}[/] over {plan.horizon_hours:g} h"
    )
    if plan.budget_usd is not None:
        headline += f" (budget {_money(plan.budget_usd)})"
    console.print(headline)
    for warning in plan.warnings():
        console.print(f"[bold yellow]warning:[/] {warning}")
    console.print(
        f"[dim]catalog {plan.catalog_snapshot} · solver {s.name} {s.status} gap {gap} · "
        f"build {s.build_seconds:.2f} s, solve {s.seconds:.2f} s · "
        f"{s.columns:,} variables, {s.rows:,} constraints, "
        f"{s.pruned_offers:,} dominated pairs pruned[/]"
    )
    for title, table in _sections(plan):
        console.print(f"\n[bold]{title}[/]")
        console.print(table)


def run_plan(
    file: Path,
    json_out: str | None,
    time_limit: float,
    gap: float,
    prune: bool,
    require_gap: float | None = None,
) -> None:
    check_solve_flags(time_limit, gap, require_gap)
    portfolio = load_portfolio(file)
    # the time limit counts from the parsed portfolio: loading the catalog and estimating
    # throughputs come out of it too
    deadline = time.perf_counter() + time_limit
    options = SolveOptions(time_limit_s=time_limit, mip_gap=gap, prune=prune)
    plan = plan_portfolio(portfolio, chipfolio_home() / "catalogs", options, deadline)
    if json_out is not None:
        write_json(plan.to_json(), json_out, "plan")
    if json_out != "-":
        console = Console()
        show_plan(plan, portfolio, console if console.is_terminal else Console(width=200))
    if require_gap is not None and (plan.gap is None or plan.gap > require_gap + 1e-12):
        proven = "no bound" if plan.gap is None else f"proven gap {plan.gap:.2%}"
        raise GapNotMetError(
            f"the plan is not proven within --require-gap {require_gap:.2%} ({proven}); "
            "it was still written"
        )


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan(
        file: Path = typer.Argument(..., help="Portfolio YAML file (see docs/portfolio.md)."),
        json_out: str | None = typer.Option(
            None, "--json", metavar="OUT", help="Write the plan as JSON to OUT ('-' = stdout)."
        ),
        time_limit: float = typer.Option(
            60.0,
            "--time-limit",
            metavar="S",
            help="Wall-time limit in seconds from the parsed portfolio to the plan (kept).",
        ),
        gap: float = typer.Option(
            0.001, "--gap", metavar="G", help="Relative optimality gap to stop at (0.001 = 0.1%)."
        ),
        prune: bool = typer.Option(
            True, "--prune/--no-prune", help="Drop dominated offers before solving."
        ),
        require_gap: float | None = typer.Option(
            None,
            "--require-gap",
            metavar="G",
            help=(
                "Exit with code 4 (after writing the plan) when its proven gap exceeds G, "
                "so scripts can refuse a plan the time limit cut short."
            ),
        ),
    ) -> None:
        """Least-cost placement of training and inference across vendors."""
        run_plan(file, json_out, time_limit, gap, prune, require_gap)
