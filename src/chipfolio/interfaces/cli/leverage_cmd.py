"""`chipfolio leverage`: walk-away prices, cost of losing each vendor, shadow prices, frontier."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from chipfolio.analysis.leverage import SAFETY_TIME_LIMIT_S, LeverageOptions, LeverageReport
from chipfolio.app import leverage_options, leverage_portfolio, problem_for
from chipfolio.interfaces.cli.json_out import write_json
from chipfolio.interfaces.settings import chipfolio_home
from chipfolio.planner.problem import Problem
from chipfolio.workloads.spec import Portfolio, load_portfolio


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.0f}"


def load_problem(file: Path) -> tuple[Portfolio, Problem]:
    """Read a portfolio file and build its planning problem (catalog per the file)."""
    portfolio = load_portfolio(file)
    return portfolio, problem_for(portfolio, chipfolio_home() / "catalogs")


def analyze_file(file: Path, options: LeverageOptions) -> tuple[Portfolio, LeverageReport]:
    """Read a portfolio file and run its leverage analysis."""
    portfolio = load_portfolio(file)
    return portfolio, leverage_portfolio(portfolio, chipfolio_home() / "catalogs", options)


def _vendor_table(report: LeverageReport) -> Table:
    table = Table()
    table.add_column("vendor")
    for name in ("share", "spend", "$/chip-h", "walk-away", "walk-away $/chip-h"):
        table.add_column(name, justify="right")
    for name in ("cost without", "cost of losing it"):
        table.add_column(name, justify="right")
    table.add_column("note")
    for v in report.vendors:
        bound = ">= " if v.search_method == "at_least" else ""  # a certified lower bound only
        walk = "—" if v.walk_away_multiplier is None else f"{bound}x{v.walk_away_multiplier:.3f}"
        walk_price = v.walk_away_usd_per_chip_hour
        avg = v.usd_per_chip_hour
        table.add_row(
            v.vendor,
            f"{v.share:.1%}",
            _money(v.cost_usd),
            "—" if avg is None else f"${avg:,.2f}",
            walk,
            "—" if walk_price is None else f"${walk_price:,.2f}",
            _money(v.cost_without_usd) if v.cost_without_usd is not None else "[red]no plan[/]",
            _money(v.leverage_usd),
            f"[dim]{v.reason}[/]" if v.reason else "",
        )
    return table


def _shadow_table(report: LeverageReport) -> Table:
    table = Table()
    for name in ("offer", "vendor", "chip"):
        table.add_column(name)
    for name in ("price $/chip-h", "used / capacity", "+1 chip-hour worth"):
        table.add_column(name, justify="right")
    for s in report.shadow_prices:
        table.add_row(
            s.offer,
            s.vendor,
            s.chip,
            f"${s.list_usd_per_chip_hour:,.2f}",
            f"{s.used_chips:,} / {s.capacity_chips:,.0f}",
            f"${s.usd_per_chip_hour:,.3f}",
        )
    return table


def _frontier_table(report: LeverageReport) -> Table:
    table = Table()
    table.add_column("max share", justify="right")
    table.add_column("plan cost", justify="right")
    table.add_column("status")
    for p in report.frontier.points:
        mark = " [bold](tightest)[/]" if p.tightest else ""
        table.add_row(f"{p.max_share:.3f}", _money(p.cost_usd), p.status.value + mark)
    return table


def show_leverage(report: LeverageReport, portfolio: Portfolio, console: Console) -> None:
    plan, c = report.plan, report.concentration
    name = portfolio.spec.name or portfolio.file
    console.print(
        f"[bold]{name}[/]: plan cost [bold]{_money(report.plan_cost_usd)}[/] "
        f"({plan.status.value}), vendors by {plan.share_by}"
    )
    equiv = f", like {c.equivalent_vendors:.1f} equal vendors" if c.equivalent_vendors else ""
    console.print(
        f"HHI of spend [bold]{c.hhi:,.0f}[/] of 10,000{equiv} · policy costs "
        f"[bold]{_money(report.policy_cost_usd)}[/] over no diversification "
        f"({_money(report.cost_without_policy_usd)})"
    )
    console.print(
        f"[dim]{report.solves} solves in {report.seconds:.1f} s · walk-away = largest uniform "
        "price multiplier at which the plan still buys from the vendor[/]"
    )
    if report.stopped_by_time_limit:
        console.print(
            "[bold yellow]The time limit cut the analysis short:[/] figures marked "
            "time_limit or unknown are only what was proven by then (raise --time-limit)."
        )
    console.print("\n[bold]Vendors[/]")
    console.print(_vendor_table(report))
    console.print("\n[bold]Shadow prices of binding capacity[/]")
    if report.shadow_prices:
        console.print(_shadow_table(report))
    else:
        console.print("[dim]no capacity limit binds[/]")
    tight = report.frontier.tightest_feasible_max_share
    tight_text = "none" if tight is None else f"{tight:.3f}"
    if tight is not None and not report.frontier.tightest_proven:
        tight_text += ", tighter caps not settled"
    console.print(f"\n[bold]Cost versus max share[/] (tightest feasible cap {tight_text})")
    console.print(_frontier_table(report))


def register(app: typer.Typer) -> None:
    @app.command("leverage")
    def leverage(
        file: Path = typer.Argument(..., help="Portfolio YAML file (see docs/portfolio.md)."),
        json_out: str | None = typer.Option(
            None, "--json", metavar="OUT", help="Write the analysis as JSON to OUT ('-' = stdout)."
        ),
        time_limit: float = typer.Option(
            SAFETY_TIME_LIMIT_S,
            "--time-limit",
            metavar="S",
            help="Wall-clock limit for the whole analysis, in seconds. Within it every "
            "answer stops on a work limit and does not depend on the machine; answers it cuts "
            "short are marked time_limit (vendors) or unknown (frontier points).",
        ),
        gap: float = typer.Option(
            1e-3, "--gap", metavar="G", help="Relative MIP gap of every solve (0.001 = 0.1%)."
        ),
        workers: int = typer.Option(
            0,
            "--workers",
            metavar="N",
            help="Processes for the searches (0 = decide from solve time).",
        ),
    ) -> None:
        """Walk-away prices, cost of losing each vendor, shadow prices and the frontier."""
        options = leverage_options(time_limit, gap, workers)
        portfolio, report = analyze_file(file, options)
        if json_out is not None:
            write_json(report.to_json(), json_out, "leverage analysis")
        if json_out != "-":
            console = Console()
            show_leverage(report, portfolio, console if console.is_terminal else Console(width=200))
