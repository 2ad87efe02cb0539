"""`chipfolio chips`: the chip registry as a table, JSON or CSV."""

from __future__ import annotations

import csv
import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from chipfolio.catalog.chips import chip_record, registry
from chipfolio.catalog.offers import parse_vendor
from chipfolio.domain import Chip
from chipfolio.errors import InputError


def output_format(as_json: bool, as_csv: bool) -> str:
    """'json', 'csv' or 'table'; asking for both machine formats is a usage error."""
    if as_json and as_csv:
        raise InputError("choose one of --json or --csv", field="--json/--csv")
    return "json" if as_json else "csv" if as_csv else "table"


def table_console() -> Console:
    """A console for tables; wide when writing to a pipe or file so ids are not cut."""
    console = Console()
    return console if console.is_terminal else Console(width=220)


def _num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _table(chips: tuple[Chip, ...]) -> Table:
    table = Table(title=f"{len(chips)} accelerators (dense peak TFLOP/s; — = not disclosed)")
    for name in ("id", "vendor", "year", "bf16", "fp8", "fp4", "HBM GiB", "HBM TB/s"):
        table.add_column(name, justify="left" if name in ("id", "vendor") else "right")
    table.add_column("scale-up", justify="right")
    table.add_column("stack")
    for c in chips:
        table.add_row(
            c.id,
            str(c.vendor),
            str(c.year),
            _num(c.bf16_tflops),
            _num(c.fp8_tflops),
            _num(c.fp4_tflops),
            _num(c.hbm_gib, 1),
            _num(c.hbm_tbps, 2),
            str(c.scaleup_domain),
            str(c.stack),
        )
    return table


def show_chips(vendor: str | None, fmt: str) -> None:
    chips = registry().by_vendor(parse_vendor(vendor)) if vendor else registry().all()
    records = [chip_record(c) for c in chips]
    if fmt == "json":
        typer.echo(json.dumps(records, indent=2))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, "aliases": "|".join(r["aliases"])} for r in records)  # type: ignore[arg-type]
    else:
        table_console().print(_table(chips))


def register(app: typer.Typer) -> None:
    @app.command("chips")
    def chips(
        vendor: str | None = typer.Option(None, "--vendor", help="nvidia, amd, google, aws, ..."),
        as_json: bool = typer.Option(False, "--json", help="JSON list for programs."),
        as_csv: bool = typer.Option(False, "--csv", help="CSV for spreadsheets."),
    ) -> None:
        """List every accelerator in the registry with its specs and source."""
        show_chips(vendor, output_format(as_json, as_csv))
