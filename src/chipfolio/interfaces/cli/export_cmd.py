"""`chipfolio export`: write SkyPilot, Kueue or KubeRay launch specs for a plan JSON.

Pure: it writes files under ``--out`` and launches nothing. What could not be exported (an
unused commitment, a cloud SkyPilot does not know, a chip without a device plugin) is counted
with its reason, and what the user must still fill in is listed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from chipfolio.errors import InputError
from chipfolio.export import TARGETS, ExportResult, export_plan, launch_infos, offer_details
from chipfolio.export.model import PlanView, read_plan
from chipfolio.interfaces.cli.json_out import write_json
from chipfolio.textfile import read_text_file
from chipfolio.workloads.spec import Portfolio, load_portfolio

MAX_PLAN_BYTES = 64 * 1024 * 1024


def load_plan_file(path: Path) -> PlanView:
    file = str(path)
    text = read_text_file(path, limit=MAX_PLAN_BYTES, kind="a plan JSON file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not JSON ({exc.msg}); expected the output of 'chipfolio plan --json'",
            file=file,
            line=exc.lineno,
        ) from exc
    except RecursionError as exc:
        raise InputError("JSON nested too deeply", file=file) from exc
    return read_plan(data, file)


def write_result(result: ExportResult, out: Path) -> list[Path]:
    written = []
    for f in result.files:
        target = out / f.path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.render(), encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"cannot write {target}: {exc.strerror or exc}", file=str(out), field="--out"
            ) from exc
        if f.path.endswith(".sh"):
            target.chmod(0o755)
        written.append(target)
    return written


def _summary(
    plan: PlanView, result: ExportResult, written: list[Path], out: Path, console: Console
) -> None:
    console.print(
        f"[bold]{result.target}[/]: wrote {len(written)} file(s) under {out / result.target}, "
        f"covering {result.exported_share(plan):.0%} of the plan's workload chip-hours"
    )
    if result.skipped:
        table = Table(title=f"{result.target}: allocations not exported")
        table.add_column("count", justify="right")
        table.add_column("reason")
        for reason, count in result.skip_counts().items():
            table.add_row(str(count), reason)
        console.print(table)
    fill = result.fill_ins()
    if fill:
        console.print(f"[bold]{result.target}: fill in before applying[/]")
        for item in fill:
            console.print(f"  - {item}")


def summary_json(plan: PlanView, result: ExportResult, written: list[Path]) -> dict[str, Any]:
    return {
        "target": result.target,
        "files": [str(p) for p in written],
        "exported_chip_hours_share": round(result.exported_share(plan), 6),
        "skipped": [
            {"allocation": s.allocation, "reason": s.reason, "chip_hours": s.chip_hours}
            for s in result.skipped
        ],
        "skip_counts": result.skip_counts(),
        "fill_in": list(result.fill_ins()),
    }


def run_export(
    plan_file: Path,
    target: str,
    out: Path,
    portfolio_file: Path | None,
    json_out: str | None = None,
) -> None:
    targets = TARGETS if target == "all" else (target,)
    if target != "all" and target not in TARGETS:
        raise InputError(
            f"expected one of {', '.join(TARGETS)} or all, got '{target}'", field="--to"
        )
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", file=str(out), field="--out")
    plan = load_plan_file(plan_file)
    portfolio: Portfolio | None = None
    if portfolio_file is not None:
        portfolio = load_portfolio(portfolio_file)
    launch = launch_infos(portfolio) if portfolio is not None else {}
    details = offer_details(plan, portfolio)
    console = Console()
    console = console if console.is_terminal else Console(width=200)
    quiet = json_out == "-"
    if portfolio is None and not quiet:
        console.print(
            "[yellow]no --portfolio: run commands and images are placeholders to fill in[/]"
        )
    summaries = []
    for name in targets:
        result = export_plan(plan, name, launch, details)
        written = write_result(result, out)
        summaries.append(summary_json(plan, result, written))
        if not quiet:
            _summary(plan, result, written, out, console)
    if json_out is not None:
        write_json({"plan": str(plan_file), "exports": summaries}, json_out, "summary")


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        plan_file: Path = typer.Argument(
            ..., metavar="PLAN.json", help="Plan JSON written by 'chipfolio plan --json'."
        ),
        to: str = typer.Option(..., "--to", metavar="TARGET", help="skypilot, kueue, ray, or all."),
        out: Path = typer.Option(..., "--out", metavar="DIR", help="Directory to write into."),
        portfolio: Path | None = typer.Option(
            None,
            "--portfolio",
            metavar="FILE",
            help="The plan's portfolio: workloads' launch sections, offers' instance types.",
        ),
        json_out: str | None = typer.Option(
            None, "--json", metavar="OUT", help="Write a JSON summary to OUT ('-' = stdout)."
        ),
    ) -> None:
        """Write launch specs for a plan (SkyPilot tasks, Kueue queues and jobs, KubeRay)."""
        run_export(plan_file, to, out, portfolio, json_out)
