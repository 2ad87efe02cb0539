"""`chipfolio profile`: measure the local accelerator and write calibration rows."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from chipfolio.interfaces.profiling import COLUMNS, check_device_option, run_profile
from chipfolio.interfaces.settings import chipfolio_home
from chipfolio.perfmodel.measurements import resolve_chip


def default_output() -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return chipfolio_home() / "profiles" / f"profile-{stamp}.csv"


def write_rows(rows: list[dict[str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def register(app: typer.Typer) -> None:
    @app.command("profile")
    def profile(
        device: str | None = typer.Option(None, "--device", help="cpu, cuda[:N], xla or mps."),
        chip: str | None = typer.Option(
            None, "--chip", help="Registry name of this chip (so calibrate can use the rows)."
        ),
        out: Path | None = typer.Option(None, "--out", help="CSV to write (default: home)."),
        quick: bool = typer.Option(False, "--quick", help="Tiny sizes: a smoke test."),
        layers: bool | None = typer.Option(
            None, "--layers/--no-layers", help="Time a decoder layer (default: on GPUs)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
    ) -> None:
        """Measure matmul TFLOP/s, memory bandwidth and a decoder layer with PyTorch."""
        check_device_option(device)
        rows = run_profile(device=device, chip=chip, quick=quick, layers=layers)
        path = out or default_output()
        write_rows(rows, path)
        if as_json:
            typer.echo(json.dumps({"written_to": str(path), "rows": rows}, indent=2))
            return
        console = Console()
        table = Table(title=f"Profile of {rows[0]['chip']}")
        for name in ("metric", "scenario", "value", "unit"):
            table.add_column(name, justify="right" if name == "value" else "left")
        for r in rows:
            table.add_row(r["metric"], r["scenario"], r["value"], r["unit"])
        console.print(table)
        console.print(f"wrote {path}")
        if resolve_chip(rows[0]["chip"]) is None:
            console.print(
                "[yellow]this device is not a registry chip: pass --chip NAME if it is one, "
                "or calibrate will skip these rows[/]"
            )
        else:
            console.print(f"refit with: chipfolio calibrate {path}")
