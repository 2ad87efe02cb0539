"""Import offers from a sourced price table (the layout of ``shared/data/cloud_prices.csv``).

Columns: provider, sku, accelerator, chips, usd_per_instance_hour, usd_per_chip_hour,
pricing_type, region, date, provenance, source. Each row is a published list, capacity-block
or commitment price with its own source and date; the row's ``pricing_type`` text decides the
pricing model:

* "Capacity Blocks" -> reserved, flagged ``capacity_block``;
* "on-demand" -> on_demand, plus one committed offer per "N-yr CUD $X" mentioned;
* "superseded" -> skipped (a newer price replaced it).

Regions are read from region codes in the ``region`` text (``us-east-1 / us-east-2`` gives
two offers). When the text names broad areas instead ("US East / Europe West"), one offer per
area is made with an area id (``us-east``) and flagged ``region_approximate`` (so is a code that
is not of the provider's region form, see ``catalog/regions.py``): plans may price with such
offers, exporters do not launch into them. "assumed" in the
text flags ``region_assumed``. Rows without any region, unverified rows and rows whose chip is
not in the registry are skipped with a counted reason. Provenance "reported" is flagged.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chipfolio.catalog.chips import ChipRegistry, registry
from chipfolio.catalog.regions import is_region_code
from chipfolio.catalog.sources.limits import plausible_price
from chipfolio.catalog.sources.parts import AWS_INSTANCE_CHIPS
from chipfolio.catalog.sources.report import Flag, ImportReport, ReportBuilder, Skip
from chipfolio.domain import Chip, Offer, PricingModel
from chipfolio.errors import InputError

COLUMNS = (
    "provider",
    "sku",
    "accelerator",
    "chips",
    "usd_per_instance_hour",
    "usd_per_chip_hour",
    "pricing_type",
    "region",
    "date",
    "provenance",
    "source",
)
PROVIDERS: Mapping[str, str] = {"aws": "aws", "google cloud": "gcp", "gcp": "gcp", "azure": "azure"}
_REGION_CODE = re.compile(r"\b(?:[a-z]{2}-[a-z]+-\d+|[a-z]+-[a-z]+\d+)\b")
_AREAS: Mapping[str, str] = {
    "us east": "us-east",
    "us west": "us-west",
    "us central": "us-central",
    "europe west": "europe-west",
    "asia northeast": "asia-northeast",
    "asia southeast": "asia-southeast",
}
_CUD = re.compile(r"(\d+)-yr CUD \$([0-9.]+)")
_VENDOR_WORDS = re.compile(r"^(nvidia|amd|google|aws|intel|microsoft)\s+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Regions:
    """The regions a row's text names and how sure we are of them."""

    names: tuple[str, ...]
    flags: tuple[str, ...]


def read_regions(text: str, provider: str | None = None) -> Regions:
    """The regions ``text`` names; anything that is not one of ``provider``'s region codes
    (an area such as "Asia Northeast", or another cloud's code) is flagged approximate."""
    codes = tuple(dict.fromkeys(_REGION_CODE.findall(text)))
    flags = (str(Flag.REGION_ASSUMED),) if "assumed" in text.lower() else ()
    if codes:
        real = provider is None or all(is_region_code(provider, c) is not False for c in codes)
        return Regions(codes, flags if real else (*flags, str(Flag.REGION_APPROXIMATE)))
    lowered = text.lower()
    areas = tuple(area for phrase, area in _AREAS.items() if phrase in lowered)
    return Regions(areas, (*flags, str(Flag.REGION_APPROXIMATE)) if areas else flags)


def _chip(row: Mapping[str, str], chips: ChipRegistry) -> Chip | None:
    for name in (row["accelerator"], _VENDOR_WORDS.sub("", row["accelerator"])):
        chip = chips.find(name)
        if chip is not None:
            return chip
    inferred = AWS_INSTANCE_CHIPS.get(row["sku"].strip())
    return chips.find(inferred[0]) if inferred else None


def _prices(row: Mapping[str, str], chips: int) -> list[tuple[PricingModel, float, str]]:
    """(pricing, USD per instance-hour, term label) for every price the row states."""
    text = row["pricing_type"]
    per_instance = row["usd_per_instance_hour"].strip()
    usd = float(per_instance) if per_instance else float(row["usd_per_chip_hour"]) * chips
    if "capacity block" in text.lower():
        return [(PricingModel.RESERVED, usd, "")]
    out = [(PricingModel.ON_DEMAND, usd, "")]
    for years, per_chip in _CUD.findall(text):
        out.append((PricingModel.COMMITTED, float(per_chip) * chips, f"{years}y"))
    return out


def _instance_type(row: Mapping[str, str], chip: Chip, chips: int) -> str:
    sku = row["sku"].strip()
    if chip.id.startswith("tpu") and " " in sku:
        return f"{chip.id}-{chips}"
    return sku


def _flags(row: Mapping[str, str], pricing_text: str) -> tuple[str, ...]:
    provenance = row["provenance"].lower()
    flags = []
    if provenance.startswith("reported"):
        flags.append(str(Flag.REPORTED))
    if "mirror" in provenance:
        flags.append(str(Flag.VENDOR_MIRROR))
    if "capacity block" in pricing_text.lower():
        flags.append(str(Flag.CAPACITY_BLOCK))
    return tuple(flags)


def _row_offers(
    row: Mapping[str, str], line: int, chips: ChipRegistry, report: ReportBuilder, label: str
) -> list[Offer]:
    if "superseded" in row["pricing_type"].lower():
        report.skip(line, Skip.SUPERSEDED, field="pricing_type")
        return []
    if "unverified" in row["provenance"].lower():
        report.skip(line, Skip.UNVERIFIED, field="provenance")
        return []
    chip = _chip(row, chips)
    if chip is None:
        report.skip(line, Skip.UNKNOWN_CHIP, field="accelerator", detail=row["accelerator"])
        return []
    provider = PROVIDERS.get(row["provider"].strip().lower(), row["provider"].strip().lower())
    regions = read_regions(row["region"], provider)
    if not regions.names:
        report.skip(line, Skip.NO_REGION, field="region", detail=row["region"])
        return []
    count = int(row["chips"])
    instance_type = _instance_type(row, chip, count)
    flags = _flags(row, row["pricing_type"]) + regions.flags
    source = f"{label} line {line} ({row['date']}; {row['provenance']}): {row['source']}"
    offers = []
    for pricing, usd, term in _prices(row, count):
        if not plausible_price(usd, count):
            report.skip(line, Skip.INVALID_PRICE, field="usd_per_instance_hour", detail=str(usd))
            continue
        for region in regions.names:
            suffix = f":{term}" if term else ""
            offers.append(
                Offer(
                    id=f"{provider}:{instance_type}:{region}:-:{pricing}{suffix}",
                    provider=provider,
                    vendor=chip.vendor,
                    chip=chip.id,
                    instance_type=instance_type,
                    chips_per_instance=count,
                    region=region,
                    zone=None,
                    pricing=pricing,
                    usd_per_instance_hour=usd,
                    source=source + (f" [{term} commitment]" if term else ""),
                    snapshot_id="",
                    flags=flags,
                )
            )
    return offers


def _check(row: Mapping[str, str]) -> str | None:
    """The first column that cannot be read, or None."""
    try:
        count = int(row["chips"])
    except ValueError:
        return "chips"
    if not 1 <= count <= 1_000_000:
        return "chips"
    for column in ("usd_per_instance_hour", "usd_per_chip_hour"):
        text = row[column].strip()
        try:
            if text and not math.isfinite(float(text)):
                return column
        except ValueError:
            return column
    if not (row["usd_per_instance_hour"].strip() or row["usd_per_chip_hour"].strip()):
        return "usd_per_instance_hour"
    return None


def import_price_table(
    path: Path, *, chips: ChipRegistry | None = None, label: str | None = None
) -> tuple[list[Offer], ImportReport]:
    """Offers from a sourced price table; skipped rows are counted in the report."""
    chips = chips or registry()
    label = label or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read price table: {exc}", file=str(path)) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"not a price table (missing {', '.join(missing)})", file=str(path), field=missing[0]
        )
    report = ReportBuilder(file=str(path), kind="price-table")
    offers: list[Offer] = []
    for values in reader:
        if not values:
            continue
        report.rows += 1
        line = reader.line_num
        if len(values) != len(header):
            detail = f"expected {len(header)} fields, got {len(values)}"
            report.skip(line, Skip.MALFORMED, detail=detail)
            continue
        row = dict(zip(header, values, strict=True))
        bad = _check(row)
        if bad is not None:
            report.skip(line, Skip.MALFORMED, field=bad, detail=row[bad][:40])
            continue
        made = _row_offers(row, line, chips, report, label)
        for flag in dict.fromkeys(f for offer in made for f in offer.flags):
            report.flag(line, Flag(flag))
        offers.extend(made)
    report.offers = len(offers)
    return offers, ImportReport((report.build(),))
