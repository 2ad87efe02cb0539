"""`chipfolio calibrate`: refit the performance model to measurements and show its error.

Which calibration the estimate commands use: ``--calibration FILE`` when given, else the
user's saved one (``chipfolio calibrate FILE --save`` writes it to
``$CHIPFOLIO_HOME/calibration.json``), else the calibration shipped with the package.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from chipfolio.errors import InputError
from chipfolio.interfaces.settings import chipfolio_home
from chipfolio.perfmodel.calibration import (
    ErrorSummary,
    RowResult,
    evaluate,
    fit_calibration,
    summarize,
)
from chipfolio.perfmodel.efficiency import (
    UNCALIBRATED,
    Calibration,
    default_calibration,
    load_calibration,
)
from chipfolio.perfmodel.measurements import ResultsFile, read_results_csv

CALIBRATION_FILE = "calibration.json"
FILE_HELP = (
    "Measurements CSV (the columns of published_results.csv). Omit it to show the "
    "calibration in use."
)


def user_calibration_path() -> Path:
    return chipfolio_home() / CALIBRATION_FILE


def active_calibration(path: Path | None) -> Calibration:
    """The calibration estimates should use (explicit file, saved user file, or shipped)."""
    if path is not None:
        return load_calibration(path)
    saved = user_calibration_path()
    if saved.is_file():
        return load_calibration(saved)
    return default_calibration()


def _row_json(before: RowResult, after: RowResult) -> dict[str, object]:
    m = before.measurement
    return {
        "line": m.line,
        "chip": m.chip.id,
        "count": m.count,
        "model": m.model.name if m.model else None,
        "metric": str(m.metric),
        "precision": str(m.precision),
        "measured": m.value,
        "predicted_before": before.predicted,
        "predicted": after.predicted,
        "error_pct": None if after.error is None else round(after.error * 100, 2),
        "note": after.reason,
        "label": m.label,
    }


def _summary_json(s: ErrorSummary) -> dict[str, object]:
    return {
        "rows": s.rows,
        "median_abs_pct": round(s.median_abs_pct, 2),
        "worst_abs_pct": round(s.worst_abs_pct, 2),
        "chips": s.chips,
        "vendors": s.vendors,
    }


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"


def _pct(r: RowResult) -> str:
    if r.error is None:
        return "—"
    colour = "green" if abs(r.error) <= 0.15 else "yellow" if abs(r.error) <= 0.3 else "red"
    return f"[{colour}]{r.error * 100:+.1f}%[/]"


def _rows_table(before: list[RowResult], after: list[RowResult]) -> Table:
    table = Table(title="Measured vs predicted (before = calibration in use, after = refit)")
    for name in (
        "line",
        "chip",
        "n",
        "model",
        "metric",
        "measured",
        "before",
        "err",
        "after",
        "err",
    ):
        table.add_column(
            name, justify="right" if name not in ("chip", "model", "metric") else "left"
        )
    for b, a in zip(before, after, strict=True):
        m = b.measurement
        table.add_row(
            str(m.line), m.chip.id, str(m.count), m.model.name if m.model else "—",
            f"{m.metric} ({m.precision})", _fmt(m.value), _fmt(b.predicted), _pct(b),
            _fmt(a.predicted), _pct(a),
        )  # fmt: skip
    return table


def _params_table(cal: Calibration) -> Table:
    table = Table(title=f"Fitted parameters ({cal.label})")
    for name in ("stack", "matmul", "HBM", "µs/layer", "µs/step", "µs/sequence"):
        table.add_column(name, justify="left" if name == "stack" else "right")
    rows = [("default", cal.default), *((str(k), v) for k, v in sorted(cal.stacks.items()))]
    for name, eff in rows:
        table.add_row(
            name, f"{eff.matmul:.3f}", f"{eff.hbm:.3f}", f"{eff.layer_overhead_us:.1f}",
            f"{eff.step_overhead_us:.1f}", f"{eff.sequence_overhead_us:.2f}",
        )  # fmt: skip
    table.caption = (
        f"comm efficiency {cal.comm_efficiency:.3f}, collective latency "
        f"{cal.collective_latency_us:.1f} µs, training factor {cal.training_matmul_factor:.3f}, "
        f"fp4 factor {cal.fp4_matmul_factor:.3f}"
    )
    return table


def _report(results: ResultsFile, base: Calibration, fitted: Calibration, saved: Path | None,
            as_json: bool) -> None:  # fmt: skip
    rows = list(results.measurements)
    before, after = evaluate(rows, base), evaluate(rows, fitted)
    if as_json:
        payload = {
            "rows": [_row_json(b, a) for b, a in zip(before, after, strict=True)],
            "skipped": [{"line": s.line, "reason": s.reason} for s in results.skipped],
            "summary_before": _summary_json(summarize(before)),
            "summary": _summary_json(summarize(after)),
            "calibration": fitted.to_json(),
            "saved_to": str(saved) if saved else None,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # pipes and files get whole ids, not ellipses
    console.print(_rows_table(before, after))
    for skip in results.skipped:
        console.print(f"[yellow]skipped line {skip.line}:[/] {skip.reason}", highlight=False)
    s = summarize(after)
    console.print(
        f"refit: {s.rows} rows on {s.chips} chips of {s.vendors} vendors; median abs error "
        f"{s.median_abs_pct:.1f}%, worst {s.worst_abs_pct:.1f}% (in-sample)"
    )
    console.print(_params_table(fitted))
    if saved:
        console.print(f"saved to {saved}; estimates now use it (delete the file to revert)")


def register(app: typer.Typer) -> None:
    @app.command("calibrate")
    def calibrate(
        file: Path | None = typer.Argument(None, help=FILE_HELP),
        save: bool = typer.Option(False, "--save", help="Save the refit for later estimates."),
        from_prior: bool = typer.Option(
            False, "--from-prior", help="Fit from textbook priors instead of the shipped fit."
        ),
        strict: bool = typer.Option(False, "--strict", help="Fail on rows the model cannot use."),
        calibration: Path | None = typer.Option(
            None, "--calibration", help="Start from this calibration JSON."
        ),
        as_json: bool = typer.Option(False, "--json", help="JSON for programs."),
    ) -> None:
        """Refit the efficiency parameters to FILE; print per-row predicted vs measured."""
        base = active_calibration(calibration)
        if file is None:
            if as_json:
                typer.echo(json.dumps(base.to_json(), indent=2))
            else:
                Console().print(_params_table(base))
            return
        results = read_results_csv(file)
        if strict and results.skipped:
            first = results.skipped[0]
            raise InputError(first.reason, file=str(file), line=first.line)
        if not results.measurements:
            raise InputError("no row the model can use", file=str(file))
        prior = UNCALIBRATED if from_prior else base
        fitted = fit_calibration(results.measurements, prior, label=f"fitted on {file.name}")
        saved = None
        if save:
            saved = user_calibration_path()
            fitted.save(saved)
        _report(results, base, fitted, saved, as_json)
