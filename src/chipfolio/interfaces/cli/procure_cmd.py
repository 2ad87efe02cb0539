"""`chipfolio procure`: which commitments to sign now and later, under uncertain demand."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from chipfolio.app import procure_file
from chipfolio.errors import GapNotMetError, InputError
from chipfolio.interfaces.cli.json_out import write_json
from chipfolio.interfaces.cli.solve_flags import check_solve_flags
from chipfolio.interfaces.report.procurement import write_procurement_report
from chipfolio.planner import SolveOptions
from chipfolio.procurement import ProcurementResult


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.0f}"


def _commitment_table(result: ProcurementResult) -> Table:
    table = Table()
    for name in ("contract", "provider", "chip", "sign", "periods", "scenarios"):
        table.add_column(name)
    for name in ("chips", "committed"):
        table.add_column(name, justify="right")
    n_scen = len(result.scenarios)
    for c in result.commitments:
        which = "all" if len(c.scenarios) == n_scen else ", ".join(c.scenarios)
        if len(which) > 40:
            which = f"{len(c.scenarios)} scenarios (p={c.probability:.2f})"
        table.add_row(
            c.contract,
            c.provider,
            c.chip,
            "[bold]now[/]" if c.sign_period == 0 else f"p{c.sign_period}",
            f"{c.start_period}-{c.end_period}",
            which,
            f"{c.chips:,}",
            _money(c.committed_usd),
        )
    return table


def _scenario_table(result: ProcurementResult) -> Table:
    table = Table()
    table.add_column("scenario")
    for name in ("probability", "cost", "on-demand", "unserved"):
        table.add_column(name, justify="right")
    for s in result.scenarios[:50]:
        table.add_row(
            s.name,
            f"{s.probability:.3f}",
            _money(s.cost_usd),
            _money(s.on_demand_usd),
            f"{s.unserved_fraction:.1%}",
        )
    return table


def show_result(result: ProcurementResult, file: str, console: Console) -> None:
    s = result.solver
    gap = "—" if result.gap is None else f"{result.gap:.2%}"
    console.print(
        f"[bold]{result.name or file}[/]: [bold]{result.status}[/] procurement, expected cost "
        f"[bold]{_money(result.expected_cost_usd)}[/], CVaR95 {_money(result.cvar_95_usd)}"
    )
    console.print(
        f"value of the stochastic solution {_money(result.vss_usd)} · "
        f"value of perfect information {_money(result.evpi_usd)}"
    )
    for note in result.notes:
        console.print(f"[bold yellow]note:[/] {note}")
    console.print(
        f"[dim]solver {s.get('name')} {s.get('status')} gap {gap} · build "
        f"{s.get('build_seconds', 0.0):.2f} s, solve {s.get('seconds', 0.0):.2f} s · "
        f"{s.get('columns', 0):,} variables ({s.get('integer_columns', 0):,} integer), "
        f"{s.get('rows', 0):,} constraints, {s.get('tree_nodes', 0):,} tree nodes[/]"
    )
    if result.peak_mw is not None:
        console.print(f"peak power {result.peak_mw:,.2f} MW (PUE {result.pue:g})")
    if result.sampling and result.sampling.get("out_of_sample_usd") is not None:
        saa = result.sampling
        console.print(
            f"sample of {saa['scenarios']} scenarios: in-sample {_money(saa['in_sample_usd'])}, "
            f"out-of-sample ({saa['out_of_sample_scenarios']}) "
            f"{_money(saa['out_of_sample_usd'])}, gap {_money(saa['gap_usd'])} "
            f"(± {_money(saa['std_error_usd'])})"
        )
    for n in result.negotiation:
        be = n.break_even_usd_per_chip_hour
        console.print(
            f"negotiate {n.contract}: value {_money(n.value_usd)}, break-even "
            f"{'—' if be is None else f'${be:,.3f}'}/chip-h (now ${n.usd_per_chip_hour:,.3f}); "
            f"shorter term ({n.shorter_term_periods}) worth {_money(n.shorter_term_value_usd)}"
        )
    now = result.sign_now
    console.print(f"\n[bold]Sign now[/]: {len(now)} commitment(s)")
    console.print("\n[bold]Commitments (now and planned)[/]")
    console.print(_commitment_table(result))
    console.print("\n[bold]Cost by scenario[/]")
    console.print(_scenario_table(result))


def run_procure(
    file: Path,
    json_out: str | None,
    time_limit: float,
    gap: float,
    values: bool,
    require_gap: float | None = None,
    html_out: Path | None = None,
) -> None:
    check_solve_flags(time_limit, gap, require_gap)
    if html_out is not None and not html_out.parent.is_dir():
        raise InputError(
            "the folder to write into does not exist", file=str(html_out), field="--html"
        )
    options = SolveOptions(time_limit_s=time_limit, mip_gap=gap)
    result = procure_file(file, options, values=values)
    if json_out is not None:
        write_json(result.to_json(), json_out, "result")
    if html_out is not None:
        write_procurement_report(result, result.name or file.stem, str(file), html_out)
    if json_out != "-":
        console = Console()
        show_result(result, str(file), console if console.is_terminal else Console(width=200))
    if require_gap is not None and (result.gap is None or result.gap > require_gap + 1e-12):
        proven = "no bound" if result.gap is None else f"proven gap {result.gap:.2%}"
        raise GapNotMetError(
            f"the procurement is not proven within --require-gap {require_gap:.2%} "
            f"({proven}); it was still written"
        )


def register(app: typer.Typer) -> None:
    @app.command("procure")
    def procure(
        file: Path = typer.Argument(..., help="Procurement YAML file (see docs/procurement.md)."),
        json_out: str | None = typer.Option(
            None, "--json", metavar="OUT", help="Write the result as JSON to OUT ('-' = stdout)."
        ),
        time_limit: float = typer.Option(
            60.0,
            "--time-limit",
            metavar="S",
            help="Wall-time limit in seconds for all solves, from the parsed file (kept).",
        ),
        gap: float = typer.Option(
            0.001, "--gap", metavar="G", help="Relative optimality gap to stop at (0.001 = 0.1%)."
        ),
        values: bool = typer.Option(
            True,
            "--values/--no-values",
            help="Also compute VSS and EVPI (three more solves sharing the time limit).",
        ),
        require_gap: float | None = typer.Option(
            None,
            "--require-gap",
            metavar="G",
            help="Exit with code 4 (after writing) when the proven gap exceeds G.",
        ),
        html_out: Path | None = typer.Option(
            None, "--html", metavar="OUT", help="Also write the HTML report to OUT."
        ),
    ) -> None:
        """Commitments to sign now and later, minimising expected cost (or with CVaR)."""
        run_procure(file, json_out, time_limit, gap, values, require_gap, html_out)
