"""Import offers from a directory in SkyPilot's catalog v8 layout (``<cloud>/vms.csv``).

Columns are read by header name, so every cloud's column order works (aws, gcp, lambda,
nebius, and any other cloud whose header has the required columns). The quirks documented in
``shared/data/skypilot-catalog/SOURCE.md`` are handled row by row, each with a counted reason
in the :class:`ImportReport` (see ``report.py``):

* GCP prices GPU VMs as a host-VM row plus a separate per-GPU row: the two are added when both
  are present; a host row alone (as in the bundled extract) is skipped with a reason.
* GCP TPU slice rows have one row per slice and a $0 host: the chip count is the slice size
  from the name (``tpu-v6e-8`` = 8 chips; v4/v5p names count TensorCores, two per chip).
* ``700.0`` is GCP's sentinel for "no price known": skipped.
* An empty price (reservation-only or unpriced types) is skipped; spot equal to on-demand is a
  placeholder and skipped; spot far below on-demand is kept and flagged.
* Rows map to the exact part (``parts.py``): instance types a provider documents (Azure's
  ``Standard_NC40ads_H100_v5`` is an H100 NVL although the row says ``H100``; Azure's GB200 and
  MI300X VMs and AWS ``trn2.48xlarge`` name no accelerator at all) come from its table, and
  names that cover several parts (``H100``: SXM, PCIe or NVL) are told apart by the instance
  type (``gpu_1x_h100_pcie``) or skipped as ambiguous, never mapped to a different chip. Offers
  whose accelerator came from the table alone are flagged.
* Azure rows that write ``Generation`` unquoted as ``V1,V2`` (one field too many) are read as
  one column.

On-demand prices are regional: a region's zone rows with one price become one offer with no
zone; spot prices are per zone and stay per zone.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chipfolio.catalog.chips import ChipRegistry, normalize_name, registry
from chipfolio.catalog.sources.limits import MAX_CHIPS, SPOT_FLOOR_RATIO, plausible_price
from chipfolio.catalog.sources.parts import (
    accelerator_family,
    gcp_host,
    instance_part,
    name_variant,
)
from chipfolio.catalog.sources.report import Flag, ImportReport, ReportBuilder, Skip
from chipfolio.domain import Chip, Offer, PricingModel
from chipfolio.errors import InputError
from chipfolio.textfile import read_text_file

MAX_FILE_BYTES = 256 * 1024 * 1024
GCP_SENTINEL_USD = 700.0
REQUIRED_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region")
DEFAULT_LABEL = "SkyPilot catalog v8"


@dataclass(frozen=True, slots=True)
class Row:
    """One parsed catalog row (prices None when empty)."""

    line: int
    instance_type: str
    accelerator: str
    count: float | None
    region: str
    zone: str | None
    price: float | None
    spot: float | None


class Malformed(Exception):
    """A row that cannot be parsed; carries the column at fault."""

    def __init__(self, column: str, detail: str) -> None:
        super().__init__(detail)
        self.column = column
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Priced:
    """A row resolved to a chip, ready to become on-demand and spot offers."""

    row: Row
    chip: Chip
    chips: int
    instance_type: str
    price: float | None
    spot: float | None
    flags: tuple[str, ...] = ()


def _number(raw: Mapping[str, str | None], column: str) -> float | None:
    text = (raw.get(column) or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError as exc:
        shown = text if len(text) <= 20 else text[:17] + "..."
        raise Malformed(column, f"not a number: {shown!r}") from exc


def _text(raw: Mapping[str, str | None], column: str, *, required: bool = False) -> str:
    text = (raw.get(column) or "").strip()
    if len(text) > 200:
        raise Malformed(column, "value longer than 200 characters")
    if required and not text:
        raise Malformed(column, "empty")
    return text


def _parse_row(raw: Mapping[str, str | None], line: int) -> Row:
    count = _number(raw, "AcceleratorCount")
    if count is not None and (not math.isfinite(count) or count < 0 or count > MAX_CHIPS):
        raise Malformed("AcceleratorCount", f"not a sensible chip count: {count}")
    return Row(
        line=line,
        instance_type=_text(raw, "InstanceType"),
        accelerator=_text(raw, "AcceleratorName"),
        count=count,
        region=_text(raw, "Region", required=True),
        zone=_text(raw, "AvailabilityZone") or None,
        price=_number(raw, "Price"),
        spot=_number(raw, "SpotPrice"),
    )


@dataclass
class _FileImport:
    """State of importing one vms.csv file."""

    provider: str
    source: str
    chips: ChipRegistry
    report: ReportBuilder
    priced: list[Priced] = field(default_factory=list)
    gcp_accelerators: dict[tuple[str, int, str, str | None], Row] = field(default_factory=dict)
    used_accelerators: set[int] = field(default_factory=set)

    # -- resolution ---------------------------------------------------------------------

    def resolve(self, row: Row) -> Priced | None:
        """The chip and count of a row, or None after counting why it has none."""
        if row.accelerator.lower().startswith("tpu"):
            return self._tpu(row)
        if self.provider == "gcp" and row.instance_type and not row.accelerator:
            return self._gcp_host(row)
        if self.provider == "gcp" and row.accelerator and not row.instance_type:
            return None  # priced together with its host row (see finish())
        part = instance_part(self.provider, row.instance_type)
        if part is not None:
            # The provider's own table names the part (and says what an empty name hides).
            flags = () if row.accelerator else (str(Flag.INFERRED_ACCELERATOR),)
            if row.count and row.count != part.count:
                detail = f"{row.count:g} in the row, {part.count} per {row.instance_type}"
                self.report.skip(
                    row.line,
                    Skip.MALFORMED,
                    field="AcceleratorCount",
                    detail=detail,
                    chip=part.chip,
                )
                return None
            chip = self.known(row, part.chip, part.chip)
            if chip is None:
                return None
            return Priced(row, chip, part.count, row.instance_type, row.price, row.spot, flags)
        if not row.accelerator or not row.count:
            if accelerator_family(self.provider, row.instance_type):
                self.report.skip(
                    row.line,
                    Skip.UNMAPPED_SIZE,
                    field="InstanceType",
                    detail=row.instance_type,
                    chip=row.instance_type,
                )
            else:
                self.report.skip(row.line, Skip.NO_ACCELERATOR, field="AcceleratorName")
            return None
        return self._chip(row, row.accelerator, row.count, row.instance_type, row.price, row.spot)

    def known(self, row: Row, chip_id: str, name: str) -> Chip | None:
        chip = self.chips.find(chip_id)
        if chip is None:
            self.report.skip(
                row.line, Skip.UNKNOWN_CHIP, field="AcceleratorName", detail=name, chip=name
            )
        return chip

    def _chip(
        self,
        row: Row,
        name: str,
        count: float,
        instance_type: str,
        price: float | None,
        spot: float | None,
        flags: tuple[str, ...] = (),
    ) -> Priced | None:
        variant = name_variant(name, instance_type)
        if variant is not None and variant.chip is None:
            detail = f"{name}: {' or '.join(variant.parts)}"
            self.report.skip(
                row.line, Skip.AMBIGUOUS, field="InstanceType", detail=detail, chip=name
            )
            return None
        chip_id = variant.chip if variant is not None and variant.chip is not None else name
        chip = self.known(row, chip_id, chip_id)
        if chip is None:
            return None
        if count != int(count) or count < 1:
            self.report.skip(
                row.line, Skip.MALFORMED, field="AcceleratorCount", detail=str(count), chip=chip.id
            )
            return None
        return Priced(row, chip, int(count), instance_type, price, spot, flags)

    def _tpu(self, row: Row) -> Priced | None:
        tpu = self.chips.tpu_slice(row.accelerator)
        if tpu is None:
            family = row.accelerator.rsplit("-", 1)[0]  # tpu-v3-128 -> tpu-v3
            self.report.skip(
                row.line, Skip.UNKNOWN_CHIP, field="AcceleratorName", detail=family, chip=family
            )
            return None
        chip = self.chips.get(tpu.chip_id)
        # One row per slice; the TPU VM host costs 0, so the row's price is the slice's price.
        return Priced(row, chip, tpu.chips, normalize_name(row.accelerator), row.price, row.spot)

    def _gcp_host(self, row: Row) -> Priced | None:
        host = gcp_host(row.instance_type)
        if host is None:
            self.report.skip(row.line, Skip.NO_ACCELERATOR, field="AcceleratorName")
            return None
        family, count = host
        key = (normalize_name(family.accelerator), count, row.region, row.zone)
        gpu = self.gcp_accelerators.get(key)
        if gpu is None:
            self.report.skip(
                row.line,
                Skip.GCP_HOST_ONLY,
                field="AcceleratorName",
                detail=family.accelerator,
                chip=family.chip,
            )
            return None
        self.used_accelerators.add(gpu.line)
        chip = self.known(row, family.chip, family.chip)
        if chip is None:
            return None
        price = None if row.price is None or gpu.price is None else row.price + gpu.price
        spot = None if row.spot is None or gpu.spot is None else row.spot + gpu.spot
        flags = (str(Flag.GCP_HOST_PLUS_ACCELERATOR),)
        return Priced(row, chip, count, row.instance_type, price, spot, flags)

    # -- prices ---------------------------------------------------------------------------

    def _on_demand(self, item: Priced) -> float | None:
        line, price, chip = item.row.line, item.price, item.chip.id
        if price is None:
            detail = f"{chip} x{item.chips}"
            self.report.skip(line, Skip.NO_PRICE, field="Price", detail=detail, chip=chip)
        elif self.provider == "gcp" and price == GCP_SENTINEL_USD:
            self.report.skip(line, Skip.SENTINEL, field="Price", chip=chip)
        elif not plausible_price(price, item.chips):
            self.report.skip(line, Skip.INVALID_PRICE, field="Price", detail=str(price), chip=chip)
        else:
            return price
        return None

    def _spot(self, item: Priced, on_demand: float | None) -> tuple[float, tuple[str, ...]] | None:
        line, spot, chip = item.row.line, item.spot, item.chip.id
        if spot is None:
            return None
        if self.provider == "gcp" and spot == GCP_SENTINEL_USD:
            self.report.skip(line, Skip.SENTINEL, field="SpotPrice", chip=chip)
            return None
        if not plausible_price(spot, item.chips):
            detail = str(spot)
            self.report.skip(line, Skip.INVALID_PRICE, field="SpotPrice", detail=detail, chip=chip)
            return None
        if on_demand is not None and math.isclose(spot, on_demand, rel_tol=1e-6, abs_tol=1e-4):
            self.report.skip(line, Skip.SPOT_PLACEHOLDER, field="SpotPrice", chip=chip)
            return None
        flag: Flag | None = None
        if on_demand is None:
            flag = Flag.SPOT_WITHOUT_ON_DEMAND
        elif spot < SPOT_FLOOR_RATIO * on_demand:
            flag = Flag.SPOT_FAR_BELOW_ON_DEMAND
        elif spot > on_demand:
            flag = Flag.SPOT_ABOVE_ON_DEMAND
        if flag is None:
            return spot, ()
        detail = f"spot {spot:g} vs on-demand {on_demand:g}" if on_demand else ""
        self.report.flag(line, flag, detail=detail)
        return spot, (str(flag),)

    # -- offers ---------------------------------------------------------------------------

    def _offer(
        self,
        item: Priced,
        pricing: PricingModel,
        usd: float,
        zone: str | None,
        flags: tuple[str, ...],
    ) -> Offer:
        region = item.row.region
        return Offer(
            id=f"{self.provider}:{item.instance_type}:{region}:{zone or '-'}:{pricing}",
            provider=self.provider,
            vendor=item.chip.vendor,
            chip=item.chip.id,
            instance_type=item.instance_type,
            chips_per_instance=item.chips,
            region=region,
            zone=zone,
            pricing=pricing,
            usd_per_instance_hour=usd,
            source=f"{self.source} line {item.row.line}",
            snapshot_id="",
            flags=flags,
        )

    def offers(self) -> list[Offer]:
        """On-demand offers (one per region when its zones agree) and per-zone spot offers."""
        made: list[tuple[Offer, int]] = []
        by_region: dict[tuple[str, str], list[tuple[Priced, float]]] = {}
        for item in self.priced:
            price = self._on_demand(item)
            if price is not None:
                by_region.setdefault((item.instance_type, item.row.region), []).append(
                    (item, price)
                )
            spot = self._spot(item, price)
            if spot is not None:
                flags = item.flags + spot[1]
                offer = self._offer(item, PricingModel.SPOT, spot[0], item.row.zone, flags)
                made.append((offer, item.row.line))
        for group in by_region.values():
            regional = len({price for _, price in group}) == 1
            for item, price in group[:1] if regional else group:
                zone = None if regional else item.row.zone
                offer = self._offer(item, PricingModel.ON_DEMAND, price, zone, item.flags)
                made.append((offer, item.row.line))
        return self._unique(made)

    def _unique(self, made: list[tuple[Offer, int]]) -> list[Offer]:
        seen: set[str] = set()
        unique: list[Offer] = []
        for offer, line in made:
            if offer.id in seen:
                detail = f"conflicting row for {offer.id}"
                self.report.skip(line, Skip.DUPLICATE, detail=detail, chip=offer.chip)
                continue
            seen.add(offer.id)
            unique.append(offer)
            self.report.offered(offer.chip)
        return sorted(unique, key=lambda o: o.id)


def _header(reader: Iterator[list[str]], path: Path) -> list[str]:
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration as exc:
        raise InputError("empty file, expected a SkyPilot vms.csv header", file=str(path)) from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"not a SkyPilot v8 vms.csv header (missing {', '.join(missing)})",
            file=str(path),
            line=1,
            field=missing[0],
        )
    return header


def _read_text(path: Path) -> str:
    return read_text_file(path, limit=MAX_FILE_BYTES, kind="a CSV text file")


_GENERATION = re.compile(r"^V\d+$")


def _join_generation(values: list[str], at: int) -> list[str]:
    """Azure rows that write ``Generation`` unquoted as ``V1,V2`` have one field too many:
    join the two back into the one column (other rows come back unchanged)."""
    pair = values[at : at + 2]
    if len(pair) == 2 and all(_GENERATION.match(v.strip()) for v in pair):
        return [*values[:at], ",".join(pair), *values[at + 2 :]]
    return values


def _rows(state: _FileImport, path: Path, text: str) -> Iterator[Row]:
    """Parsed rows; malformed and duplicate rows are counted and left out."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = _header(reader, path)
    generation = header.index("Generation") if "Generation" in header else None
    seen: set[tuple[str, ...]] = set()
    try:
        for values in reader:
            line = reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            state.report.rows += 1
            if len(values) == len(header) + 1 and generation is not None:
                values = _join_generation(values, generation)
            if len(values) != len(header):
                detail = f"expected {len(header)} fields, got {len(values)}"
                state.report.skip(line, Skip.MALFORMED, detail=detail)
                continue
            key = tuple(values)
            if key in seen:
                state.report.skip(line, Skip.DUPLICATE)
                continue
            seen.add(key)
            try:
                yield _parse_row(dict(zip(header, values, strict=True)), line)
            except Malformed as exc:
                state.report.skip(line, Skip.MALFORMED, field=exc.column, detail=exc.detail)
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", file=str(path), line=reader.line_num) from exc


def import_vms_file(
    path: Path,
    cloud: str,
    *,
    chips: ChipRegistry | None = None,
    label: str = DEFAULT_LABEL,
) -> tuple[list[Offer], ReportBuilder]:
    """Offers from one ``vms.csv`` of ``cloud``; the report counts what was left out and why."""
    provider = cloud.lower()
    source = f"{label} {provider}/{path.name}"
    builder = ReportBuilder(file=str(path), kind=f"skypilot-v8:{provider}")
    state = _FileImport(provider, source, chips or registry(), builder)
    rows = list(_rows(state, path, _read_text(path)))
    if provider == "gcp":
        for row in rows:
            if row.accelerator and not row.instance_type and not row.accelerator.startswith("tpu"):
                key = (normalize_name(row.accelerator), int(row.count or 0), row.region, row.zone)
                if key in state.gcp_accelerators:
                    builder.skip(row.line, Skip.DUPLICATE, detail="second accelerator row")
                else:
                    state.gcp_accelerators[key] = row
    for row in rows:
        item = state.resolve(row)
        if item is not None:
            state.priced.append(item)
    for key, gpu in state.gcp_accelerators.items():
        if gpu.line in state.used_accelerators:
            continue
        if name_variant(gpu.accelerator, "") is None and state.chips.find(gpu.accelerator) is None:
            # attachable GPUs of N1 hosts (T4, V100, ...) that the registry does not hold
            state.known(gpu, gpu.accelerator, gpu.accelerator)
        else:
            builder.skip(
                gpu.line,
                Skip.GCP_ACCELERATOR_ONLY,
                field="InstanceType",
                detail=key[0],
                chip=gpu.accelerator,
            )
    offers = state.offers()
    builder.offers = len(offers)
    return offers, builder


def find_vms_files(directory: Path) -> list[tuple[str, Path]]:
    """The (cloud, file) pairs of a v8 catalog directory, in a stable order.

    ``directory`` is the ``v8`` folder (``<cloud>/vms*.csv`` inside) or a folder holding one.
    """
    if not directory.is_dir():
        raise InputError("not a directory", file=str(directory))
    root = directory / "v8" if (directory / "v8").is_dir() else directory
    found: list[tuple[str, Path]] = []
    for cloud_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if cloud_dir.name.startswith(".") or cloud_dir.name == "common":
            continue
        for path in sorted(cloud_dir.glob("vms*.csv")):
            found.append((cloud_dir.name.lower(), path))
    if not found:
        raise InputError("no SkyPilot v8 <cloud>/vms.csv files found", file=str(directory))
    return found


def import_skypilot_dir(
    directory: Path,
    *,
    chips: ChipRegistry | None = None,
    label: str = DEFAULT_LABEL,
) -> tuple[list[Offer], ImportReport]:
    """Offers from every ``<cloud>/vms*.csv`` under ``directory``, with the import report.

    Offers carry an empty ``snapshot_id``; the snapshot that stores them sets it.
    """
    offers: list[Offer] = []
    reports = []
    for cloud, path in find_vms_files(directory):
        file_offers, builder = import_vms_file(path, cloud, chips=chips, label=label)
        offers.extend(file_offers)
        reports.append(builder.build())
    return offers, ImportReport(tuple(reports))
