"""`chipfolio report`: one self-contained HTML file with the plan, leverage and assumptions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

import chipfolio
from chipfolio.analysis.leverage import LeverageOptions, LeverageReport
from chipfolio.app import leverage_options, leverage_portfolio
from chipfolio.errors import InputError
from chipfolio.interfaces.report import ReportInput, SimulationSummary, load_simulation
from chipfolio.interfaces.report.page import render_report
from chipfolio.interfaces.settings import chipfolio_home
from chipfolio.workloads.spec import Portfolio, load_portfolio


def _perf_model_line(portfolio: Portfolio) -> str:
    modelled = [w.name for w in portfolio.spec.workloads if w.model is not None]
    if not modelled:
        return "not used: every workload gives measured throughput per chip"
    from chipfolio.perfmodel import default_calibration

    cal = default_calibration()
    err = cal.fit_error
    fit = ""
    if "median_abs_pct" in err:
        fit = f"; median |error| {err['median_abs_pct']:.1f}%"
        if "worst_abs_pct" in err:
            fit += f", worst {err['worst_abs_pct']:.1f}%"
    return (
        f"calibration '{cal.label}' fitted on {cal.rows} measurements{fit}; "
        f"used for {', '.join(modelled)}"
    )


def assumptions(
    portfolio: Portfolio,
    report: LeverageReport,
    options: LeverageOptions,
    simulation: tuple[str, SimulationSummary] | None,
) -> dict[str, str]:
    """The facts a reader needs to trust (or reproduce) the report."""
    plan = report.plan
    s = plan.solver
    gap = "—" if s.gap is None else f"{s.gap:.2e}"
    p = plan.policy
    items = {
        "portfolio": f"{portfolio.file}"
        + (f" ({portfolio.spec.name})" if portfolio.spec.name else ""),
        "horizon": f"{plan.horizon_hours:g} hours; all costs are totals over the horizon",
        "policy": (
            f"max_share {p.max_share:g} by {p.share_by.value}, min_vendors {p.min_vendors}, "
            f"n_minus_1 {p.n_minus_1:g}"
        ),
        "catalog snapshot": plan.catalog_snapshot,
        "performance model": _perf_model_line(portfolio),
        "solver": f"{s.name}, status {s.status}, gap {gap}, {s.seconds:.2f} s "
        f"({s.columns:,} variables, {s.rows:,} constraints)",
        "leverage analysis": (
            f"{report.solves} solves in {report.seconds:.1f} s; MIP gap "
            f"{options.solve.mip_gap:g} per solve; walk-away multipliers to "
            f"{options.multiplier_rel_tol:g} relative where searched by bisection"
        ),
        "walk-away price": (
            "the largest uniform multiplier on all of a vendor's prices at which an optimal plan "
            "still buys from it; the $/chip-hour figure applies it to the average price paid"
        ),
        "shadow prices": "LP-relaxation duals of the capacity rows, per chip-hour, net of price",
        "HHI": "sum of squared percentage shares of spend (0-10,000)",
    }
    if simulation is not None:
        file, sim = simulation
        items["simulation"] = f"{file}: {sim.scenarios} scenarios, seed {sim.seed}"
    items["chipfolio"] = chipfolio.__version__
    return items


def run_report(
    file: Path, html_out: Path, simulation_file: Path | None, options: LeverageOptions
) -> Path:
    if not html_out.parent.is_dir():
        raise InputError(
            "the folder to write into does not exist", file=str(html_out), field="--html"
        )
    simulation = load_simulation(simulation_file) if simulation_file is not None else None
    portfolio = load_portfolio(file)
    report = leverage_portfolio(portfolio, chipfolio_home() / "catalogs", options)
    title = f"chipfolio report — {portfolio.spec.name or Path(portfolio.file).stem}"
    sim_pair = (str(simulation_file), simulation) if simulation is not None else None
    data = ReportInput(
        title=title,
        source=" — ".join(x for x in (portfolio.file, portfolio.spec.description) if x),
        leverage=report,
        assumptions=assumptions(portfolio, report, options, sim_pair),
        simulation=simulation,
    )
    text = render_report(data)
    try:
        html_out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write the report: {exc.strerror or exc}", file=str(html_out), field="--html"
        ) from exc
    return html_out


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        file: Path = typer.Argument(..., help="Portfolio YAML file (see docs/portfolio.md)."),
        html_out: Path = typer.Option(
            ..., "--html", metavar="OUT", help="Write the HTML report to OUT."
        ),
        simulation: Path | None = typer.Option(
            None,
            "--simulation",
            metavar="SIM.json",
            help="JSON from `chipfolio simulate --json` to add scenario distributions.",
        ),
        time_limit: float = typer.Option(
            600.0,
            "--time-limit",
            metavar="S",
            help="Wall-clock limit for the leverage analysis, in seconds (answers it cuts "
            "short are marked).",
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
        """A self-contained HTML report: allocation, vendors, leverage, frontier, N-1."""
        options = leverage_options(time_limit, gap, workers)
        out = run_report(file, html_out, simulation, options)
        size_mb = out.stat().st_size / 1e6
        Console().print(f"wrote {out} ({size_mb:.1f} MB); open it in a browser")
