"""Versioned catalog snapshots: build, store, list and load them.

A snapshot is a folder named by its id holding ``offers.csv`` (one row per offer) and
``meta.json`` (id, created date, sources, row counts, import report, content hash). The id is
``<created date>-<first 8 hex of the sha256 of offers.csv>``: the same inputs on the same day
give the same id, and a snapshot is never rewritten. Snapshots live in two places:

* bundled with the package (``catalog/data/snapshots``), built from the shared data by
  ``scripts/build_catalog.py``; the one named in ``default.json`` is the default catalog;
* a user directory passed in by the caller (the CLI uses ``<chipfolio home>/catalogs``).

``load_catalog()`` with no snapshot loads the bundled default: a catalog changes only when the
user names another snapshot (or ``latest``, the newest user snapshot), so a plan made today
reads the same offers tomorrow. Writes go to a temporary folder that is renamed into place, so
a failed refresh never leaves a partial or corrupted snapshot behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from chipfolio.catalog.offers import OFFER_FIELDS, Catalog
from chipfolio.catalog.sources.report import ImportReport, SourceReport
from chipfolio.domain import Offer, PricingModel, SiliconVendor
from chipfolio.errors import CatalogError, InputError, UnknownNameError

FORMAT_VERSION = 1
OFFERS_FILE = "offers.csv"
META_FILE = "meta.json"
DEFAULT_FILE = "default.json"
LATEST = "latest"
BUNDLED = "bundled"
# every offer field but the snapshot id, which the snapshot itself supplies
STORED_COLUMNS = tuple(f for f in OFFER_FIELDS if f != "snapshot_id")


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What a snapshot holds and where it came from."""

    id: str
    created: date
    offers: int
    sources: tuple[str, ...]
    report: ImportReport
    bundled: bool
    location: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created.isoformat(),
            "offers": self.offers,
            "sources": list(self.sources),
            "bundled": self.bundled,
            "location": self.location,
            "skipped": self.report.skipped(),
            "flagged": self.report.flagged(),
        }


# -- encoding -------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def offers_csv_text(offers: Iterable[Offer]) -> str:
    """The stored form of offers, sorted by id (the snapshot's content, hashed for its id)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STORED_COLUMNS)
    for o in sorted(offers, key=lambda offer: offer.id):
        writer.writerow(
            _cell(v)
            for v in (
                o.id,
                o.provider,
                o.vendor,
                o.chip,
                o.instance_type,
                o.chips_per_instance,
                o.region,
                o.zone,
                o.pricing,
                o.usd_per_instance_hour,
                o.usd_per_chip_hour,
                o.capacity_chips,
                o.term_start.isoformat() if o.term_start else None,
                o.term_end.isoformat() if o.term_end else None,
                o.take_or_pay_chips,
                "|".join(o.flags),
                o.source,
            )
        )
    return out.getvalue()


def _opt_int(text: str) -> int | None:
    return int(text) if text else None


def _opt_date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _offer_from_row(row: dict[str, str], snapshot_id: str) -> Offer:
    return Offer(
        id=row["id"],
        provider=row["provider"],
        vendor=SiliconVendor(row["vendor"]),
        chip=row["chip"],
        instance_type=row["instance_type"],
        chips_per_instance=int(row["chips_per_instance"]),
        region=row["region"],
        zone=row["zone"] or None,
        pricing=PricingModel(row["pricing"]),
        usd_per_instance_hour=float(row["usd_per_instance_hour"]),
        source=row["source"],
        snapshot_id=snapshot_id,
        capacity_chips=_opt_int(row["capacity_chips"]),
        term_start=_opt_date(row["term_start"]),
        term_end=_opt_date(row["term_end"]),
        take_or_pay_chips=_opt_int(row["take_or_pay_chips"]),
        flags=tuple(f for f in row["flags"].split("|") if f),
    )


def parse_offers_csv(text: str, snapshot_id: str, where: str) -> tuple[Offer, ...]:
    """Offers from stored text; damage is a CatalogError naming the file and line."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if tuple(reader.fieldnames or ()) != STORED_COLUMNS:
        raise CatalogError(f"{where}: not a chipfolio offers table (unexpected columns)")
    offers = []
    for row in reader:
        try:
            offers.append(_offer_from_row(row, snapshot_id))
        except (KeyError, ValueError, TypeError) as exc:
            raise CatalogError(f"{where}:{reader.line_num}: damaged offer row ({exc})") from exc
    return tuple(offers)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def snapshot_id_for(offers_text: str, created: date) -> str:
    return f"{created.isoformat()}-{_sha256(offers_text)[:8]}"


# -- reading --------------------------------------------------------------------------------


def _read(node: Traversable, where: str) -> str:
    try:
        return node.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{where}: cannot read ({exc})") from exc


def _meta(folder: Traversable, where: str) -> dict[str, Any]:
    try:
        meta = json.loads(_read(folder.joinpath(META_FILE), where))
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{where}/{META_FILE}: not valid JSON ({exc.msg})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION or "id" not in meta:
        raise CatalogError(
            f"{where}/{META_FILE}: not a chipfolio snapshot (format {FORMAT_VERSION})"
        )
    return meta


def _info(folder: Traversable, bundled: bool, where: str) -> SnapshotInfo:
    meta = _meta(folder, where)
    try:
        return SnapshotInfo(
            id=str(meta["id"]),
            created=date.fromisoformat(str(meta["created"])),
            offers=int(meta["row_counts"]["offers"]),
            sources=tuple(str(s["label"]) for s in meta["sources"]),
            report=ImportReport.from_dict(meta["import_report"]),
            bundled=bundled,
            location=where,
        )
    except (KeyError, ValueError, TypeError, AssertionError) as exc:
        raise CatalogError(f"{where}/{META_FILE}: damaged metadata ({exc})") from exc


def _bundled_root() -> Traversable:
    return resources.files("chipfolio.catalog.data").joinpath("snapshots")


def _folders(root: Traversable) -> list[Traversable]:
    if not root.is_dir():
        return []
    return sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def list_snapshots(home: Path | None = None) -> list[SnapshotInfo]:
    """Bundled snapshots, then the user's (oldest first). Damaged user folders are errors."""
    infos = [_info(f, True, f"bundled:{f.name}") for f in _folders(_bundled_root())]
    if home is not None:
        infos += sorted(
            (_info(f, False, str(f)) for f in _folders(home)),
            key=lambda info: (info.created, info.id),
        )
    return infos


def default_snapshot_id() -> str:
    """The bundled snapshot that ``load_catalog()`` loads by default."""
    node = _bundled_root().joinpath(DEFAULT_FILE)
    try:
        return str(json.loads(_read(node, f"bundled:{DEFAULT_FILE}"))["default"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CatalogError(f"bundled:{DEFAULT_FILE}: damaged ({exc})") from exc


def _locate(snapshot: str, home: Path | None) -> tuple[Traversable, str]:
    if snapshot == LATEST:
        user = [s for s in list_snapshots(home) if not s.bundled] if home else []
        if user:
            return Path(user[-1].location), user[-1].location
        snapshot = default_snapshot_id()
    elif snapshot == BUNDLED:
        snapshot = default_snapshot_id()
    plain = (
        snapshot and not snapshot.startswith(".") and "/" not in snapshot and "\\" not in snapshot
    )
    if plain and home is not None and (home / snapshot).is_dir():
        return home / snapshot, str(home / snapshot)
    if plain and _bundled_root().joinpath(snapshot).is_dir():
        return _bundled_root().joinpath(snapshot), f"bundled:{snapshot}"
    known = [s.id for s in list_snapshots(home)] + [LATEST, BUNDLED]
    raise UnknownNameError("snapshot", snapshot, known, field="snapshot")


def load_catalog(snapshot: str | None = None, home: Path | None = None) -> Catalog:
    """The catalog of ``snapshot`` (an id, ``latest`` or ``bundled``); None = bundled default.

    ``home`` is the folder of user snapshots; ids are looked up there first, then among the
    bundled ones. The offers file must match the hash recorded in its metadata.
    """
    folder, where = _locate(snapshot or default_snapshot_id(), home)
    meta = _meta(folder, where)
    text = _read(folder.joinpath(OFFERS_FILE), f"{where}/{OFFERS_FILE}")
    if _sha256(text) != meta.get("offers_sha256"):
        raise CatalogError(f"{where}/{OFFERS_FILE}: content does not match its recorded hash")
    return Catalog(str(meta["id"]), parse_offers_csv(text, str(meta["id"]), where))


# -- writing --------------------------------------------------------------------------------


def _row_counts(offers: Sequence[Offer]) -> dict[str, Any]:
    def count(key: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for offer in offers:
            value = str(getattr(offer, key))
            out[value] = out.get(value, 0) + 1
        return dict(sorted(out.items()))

    return {
        "offers": len(offers),
        "by_provider": count("provider"),
        "by_chip": count("chip"),
        "by_pricing": count("pricing"),
    }


def merge_sources(
    parts: Sequence[tuple[list[Offer], ImportReport]],
) -> tuple[list[Offer], ImportReport]:
    """All offers of several sources; an id seen in an earlier source wins (counted)."""
    from chipfolio.catalog.sources.report import Skip

    seen: set[str] = set()
    offers: list[Offer] = []
    reports: list[SourceReport] = []
    for part_offers, report in parts:
        dropped = 0
        for offer in part_offers:
            if offer.id in seen:
                dropped += 1
                continue
            seen.add(offer.id)
            offers.append(offer)
        sources = list(report.sources)
        if dropped and sources:
            sources[-1] = sources[-1].with_skipped(str(Skip.SAME_OFFER), dropped)
        reports.extend(sources)
    return offers, ImportReport(tuple(reports))


def write_snapshot(
    offers: Sequence[Offer],
    report: ImportReport,
    home: Path,
    *,
    sources: Sequence[dict[str, str]],
    created: date | None = None,
) -> SnapshotInfo:
    """Store offers as a new snapshot under ``home`` (atomically); returns its info.

    Writing the same offers on the same day again returns the existing snapshot.
    """
    created = created or date.today()
    text = offers_csv_text(offers)
    snapshot_id = snapshot_id_for(text, created)
    meta = {
        "format": FORMAT_VERSION,
        "id": snapshot_id,
        "created": created.isoformat(),
        "sources": list(sources),
        "row_counts": _row_counts(offers),
        "offers_sha256": _sha256(text),
        "import_report": report.to_dict(),
    }
    target = home / snapshot_id
    try:
        home.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            return _info(target, False, str(target))
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=home))
        try:
            (staging / OFFERS_FILE).write_text(text, encoding="utf-8")
            (staging / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
            os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        raise CatalogError(f"cannot write snapshot under {home}: {exc}") from exc
    return _info(target, False, str(target))


def _skypilot_root(source_dir: Path) -> Path:
    for candidate in (source_dir / "skypilot-catalog", source_dir):
        if (candidate / "v8").is_dir():
            return candidate
    return source_dir


def build_snapshot(
    source_dir: Path,
    home: Path,
    private: Sequence[Path] = (),
    *,
    price_tables: Sequence[Path] = (),
    created: date | None = None,
    label: str | None = None,
) -> SnapshotInfo:
    """Import a SkyPilot v8 directory (plus price tables and private offers) into a snapshot.

    ``source_dir`` is a v8 folder, a folder holding ``v8/``, or a data folder holding
    ``skypilot-catalog/v8`` (a ``cloud_prices.csv`` beside it is imported too). ``label``
    describes the SkyPilot source in the metadata (default: its path). Everything is read and
    validated before anything is written.
    """
    from chipfolio.catalog.sources.price_table import import_price_table
    from chipfolio.catalog.sources.private import load_private_offers
    from chipfolio.catalog.sources.skypilot_csv import DEFAULT_LABEL, import_skypilot_dir

    if not source_dir.is_dir():
        raise InputError("not a directory", file=str(source_dir), field="--from")
    root = _skypilot_root(source_dir)
    tables = list(price_tables)
    if not tables and (source_dir / "cloud_prices.csv").is_file():
        tables.append(source_dir / "cloud_prices.csv")
    parts = [import_skypilot_dir(root, label=DEFAULT_LABEL)]
    sources = [{"label": label or str(root), "kind": "skypilot-v8"}]
    for table in tables:
        parts.append(import_price_table(table, label=table.name))
        sources.append({"label": str(table), "kind": "price-table"})
    private_offers: list[Offer] = []
    for path in private:
        loaded = load_private_offers(path)
        private_offers.extend(loaded)
        sources.append({"label": str(path), "kind": "private"})
        counted = SourceReport(file=str(path), kind="private", rows=len(loaded), offers=len(loaded))
        parts.append(([], ImportReport((counted,))))
    offers, report = merge_sources(parts)
    catalog = Catalog("", tuple(offers)).with_offers(private_offers)
    return write_snapshot(catalog.offers, report, home, sources=sources, created=created)
