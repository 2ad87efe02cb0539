"""`chipfolio catalog`: list offers, refresh a snapshot from a SkyPilot catalog, list snapshots.

``catalog`` is a command group whose callback does the listing, so both
``chipfolio catalog --chip H100 --json`` and ``chipfolio catalog refresh --from DIR`` work.
User snapshots live in ``<chipfolio home>/catalogs``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from chipfolio.catalog.offers import OFFER_FIELDS, Catalog, offer_record
from chipfolio.catalog.snapshots import (
    SnapshotInfo,
    build_snapshot,
    default_snapshot_id,
    list_snapshots,
    load_catalog,
)
from chipfolio.catalog.sources.private import load_private_offers
from chipfolio.domain import Offer
from chipfolio.errors import InputError
from chipfolio.interfaces.cli.chips_cmd import output_format, table_console
from chipfolio.interfaces.settings import chipfolio_home

TABLE_ROWS = 40

catalog_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="Priced offers: list them, refresh from a SkyPilot catalog, list snapshots.",
)


def snapshots_home() -> Path:
    return chipfolio_home() / "catalogs"


def load_with_private(snapshot: str | None, private: list[Path]) -> Catalog:
    """The named (or default) snapshot with the given private-offer files merged in."""
    catalog = load_catalog(snapshot, snapshots_home())
    for path in private:
        catalog = catalog.with_offers(load_private_offers(path))
    return catalog


def _offers_table(offers: list[Offer], total: int, snapshot_id: str) -> Table:
    title = f"{total} offers in snapshot {snapshot_id}, cheapest per chip-hour first"
    if total > len(offers):
        title += f" (showing {len(offers)}; use --limit or --json for more)"
    table = Table(title=title)
    for name in ("provider", "chip", "instance type", "chips", "region", "zone", "pricing"):
        table.add_column(name, justify="right" if name == "chips" else "left")
    table.add_column("$/instance-h", justify="right")
    table.add_column("$/chip-h", justify="right")
    table.add_column("flags")
    with_terms = any(o.term_start or o.term_end or o.take_or_pay_chips for o in offers)
    if with_terms:
        table.add_column("term")
        table.add_column("take-or-pay", justify="right")
    for o in offers:
        term = [_term(o), str(o.take_or_pay_chips or "")] if with_terms else []
        table.add_row(
            o.provider,
            o.chip,
            o.instance_type,
            str(o.chips_per_instance),
            o.region,
            o.zone or "",
            str(o.pricing),
            f"{o.usd_per_instance_hour:,.2f}",
            f"{o.usd_per_chip_hour:,.3f}",
            ", ".join(o.flags),
            *term,
        )
    return table


def _term(offer: Offer) -> str:
    start = offer.term_start.isoformat() if offer.term_start else "…"
    end = offer.term_end.isoformat() if offer.term_end else "…"
    return "" if not (offer.term_start or offer.term_end) else f"{start} to {end}"


def print_offers(offers: list[Offer], fmt: str, limit: int | None, snapshot_id: str) -> None:
    shown = offers[:limit] if limit is not None else offers
    if fmt == "json":
        typer.echo(json.dumps([offer_record(o) for o in shown], indent=2))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(OFFER_FIELDS), lineterminator="\n")
        writer.writeheader()
        for o in shown:
            writer.writerow({**offer_record(o), "flags": "|".join(o.flags)})
    else:
        rows = shown if limit is not None else offers[:TABLE_ROWS]
        table_console().print(_offers_table(rows, len(offers), snapshot_id))


@catalog_app.callback()
def catalog(
    ctx: typer.Context,
    chip: str | None = typer.Option(None, "--chip", help="Chip id or alias (H100, tpu-v6e-8)."),
    vendor: str | None = typer.Option(None, "--vendor", help="Silicon vendor (nvidia, aws...)."),
    provider: str | None = typer.Option(None, "--provider", help="Cloud (aws, gcp, lambda...)."),
    region: str | None = typer.Option(None, "--region", help="Region, e.g. us-east-1."),
    pricing: str | None = typer.Option(
        None, "--pricing", help="on_demand, spot, reserved or committed."
    ),
    min_chips: int | None = typer.Option(
        None, "--min-chips", help="Only instances with at least this many chips."
    ),
    snapshot: str | None = typer.Option(
        None, "--snapshot", help="Snapshot id, 'latest' or 'bundled' (default: bundled)."
    ),
    private: list[Path] = typer.Option([], "--private", help="Private-offers YAML (repeatable)."),
    limit: int | None = typer.Option(None, "--limit", help="Show at most N offers."),
    as_json: bool = typer.Option(False, "--json", help="JSON list for programs."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV for spreadsheets."),
) -> None:
    """List offers, cheapest per chip-hour first."""
    if ctx.invoked_subcommand is not None:
        return
    fmt = output_format(as_json, as_csv)
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}", field="--limit")
    catalog = load_with_private(snapshot, private)
    offers = catalog.query(chip, vendor, provider, region, pricing, min_chips)
    print_offers(offers, fmt, limit, catalog.snapshot_id)


def _report_table(info: SnapshotInfo) -> Table:
    table = Table(title=f"snapshot {info.id}: {info.offers} offers")
    table.add_column("outcome")
    table.add_column("reason")
    table.add_column("count", justify="right")
    for reason, count in info.report.skipped().items():
        table.add_row("skipped", reason, str(count))
    for flag, count in info.report.flagged().items():
        table.add_row("kept, flagged", flag, str(count))
    return table


def _chip_table(info: SnapshotInfo) -> Table | None:
    """Offers and skipped rows per source and chip (registry id, or the source's name)."""
    table = Table(title="per source and chip")
    table.add_column("source")
    table.add_column("chip")
    table.add_column("offers", justify="right")
    table.add_column("skipped", justify="right")
    table.add_column("why skipped")
    for source in info.report.sources:
        where = source.kind.split(":", 1)[-1]
        for chip, counts in source.chips().items():
            reasons = {k: v for k, v in counts.items() if k != "offers"}
            why = "; ".join(f"{k} ({v})" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
            table.add_row(
                where, chip, str(counts.get("offers", 0)), str(sum(reasons.values())), why
            )
    return table if table.row_count else None


@catalog_app.command("refresh")
def refresh(
    from_dir: Path = typer.Option(
        ..., "--from", help="SkyPilot v8 catalog folder (e.g. ~/.sky/catalogs/v8)."
    ),
    private: list[Path] = typer.Option([], "--private", help="Private-offers YAML (repeatable)."),
    prices: list[Path] = typer.Option([], "--prices", help="Sourced price table CSV."),
    as_json: bool = typer.Option(False, "--json", help="JSON summary for programs."),
) -> None:
    """Import a SkyPilot v8 catalog (plus private offers) as a new versioned snapshot."""
    info = build_snapshot(
        from_dir.expanduser(), snapshots_home(), private=private, price_tables=prices
    )
    if as_json:
        typer.echo(json.dumps({**info.to_dict(), "report": info.report.to_dict()}, indent=2))
        return
    console = table_console()
    console.print(_report_table(info))
    chips = _chip_table(info)
    if chips is not None:
        console.print(chips)
    console.print(f"snapshot {info.id} saved in {info.location}; use --snapshot {info.id}")


@catalog_app.command("snapshots")
def snapshots(as_json: bool = typer.Option(False, "--json", help="JSON list.")) -> None:
    """List the bundled and user catalog snapshots."""
    infos = list_snapshots(snapshots_home())
    default = default_snapshot_id()
    if as_json:
        records = [{**i.to_dict(), "default": i.id == default} for i in infos]
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table(title="catalog snapshots (default: bundled; --snapshot latest for newest)")
    for name in ("id", "created", "offers", "where", "sources"):
        table.add_column(name, justify="right" if name == "offers" else "left")
    for i in infos:
        where = "bundled" + (" (default)" if i.id == default else "") if i.bundled else i.location
        table.add_row(i.id, i.created.isoformat(), str(i.offers), where, "; ".join(i.sources))
    table_console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
