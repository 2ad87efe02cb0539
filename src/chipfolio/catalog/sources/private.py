"""Private offers and contracts from YAML: negotiated leases, reservations, commitments.

A file is either a list of offers or a mapping with one key, ``offers``, holding that list.
Each offer is validated by a pydantic model that forbids unknown fields; every problem is
reported with the file, the line (from the YAML parser's marks) and the field, and all problems
of a file are reported together. ``parse_private_offers`` validates already-parsed items (the
planner's portfolio file reuses it for its own ``offers:`` list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chipfolio.catalog.chips import ChipRegistry, registry
from chipfolio.catalog.regions import is_region_code
from chipfolio.catalog.sources.limits import MAX_CHIPS, MAX_USD_PER_CHIP_HOUR
from chipfolio.catalog.sources.report import Flag
from chipfolio.domain import Offer, PricingModel
from chipfolio.errors import FieldIssue, InputError, SchemaError, UnknownNameError
from chipfolio.textfile import read_text_file

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_OFFERS = 100_000
PRIVATE_FLAG = "private"

Price = Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=1, le=MAX_CHIPS, strict=True)]
Amount = Annotated[int, Field(ge=0, le=MAX_CHIPS, strict=True)]
Text = Annotated[str, Field(min_length=1, max_length=200, strict=True)]


class PrivateOfferSpec(BaseModel):
    """One private offer as written in YAML (see docs/catalog.md for every field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Text
    provider: Text
    chip: Text
    region: Text
    usd_per_chip_hour: Price | None = None
    usd_per_instance_hour: Price | None = None
    chips_per_instance: Count = 1
    capacity_chips: Amount | None = None
    zone: Text | None = None
    instance_type: Text | None = None
    pricing: PricingModel = PricingModel.RESERVED
    term_start: date | None = None
    term_end: date | None = None
    take_or_pay_chips: Amount | None = None
    source: Annotated[str, Field(min_length=1, max_length=2000, strict=True)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.usd_per_chip_hour is None) == (self.usd_per_instance_hour is None):
            raise ValueError("give exactly one of usd_per_chip_hour or usd_per_instance_hour")
        if self.per_chip_price() > MAX_USD_PER_CHIP_HOUR:
            raise ValueError(
                f"price {self.per_chip_price():g} USD per chip-hour is implausible "
                f"(over {MAX_USD_PER_CHIP_HOUR:g})"
            )
        if self.term_start and self.term_end and self.term_end <= self.term_start:
            raise ValueError("term_end must be after term_start")
        if (
            self.take_or_pay_chips is not None
            and self.capacity_chips is not None
            and self.take_or_pay_chips > self.capacity_chips
        ):
            raise ValueError("take_or_pay_chips cannot exceed capacity_chips")
        return self

    def per_chip_price(self) -> float:
        if self.usd_per_chip_hour is not None:
            return self.usd_per_chip_hour
        assert self.usd_per_instance_hour is not None
        return self.usd_per_instance_hour / self.chips_per_instance

    def per_instance_price(self) -> float:
        if self.usd_per_instance_hour is not None:
            return self.usd_per_instance_hour
        assert self.usd_per_chip_hour is not None
        return self.usd_per_chip_hour * self.chips_per_instance


FIELDS = tuple(PrivateOfferSpec.model_fields)


@dataclass(frozen=True, slots=True)
class ItemLines:
    """Where one offer and each of its fields start in the YAML file (1-based lines)."""

    line: int | None
    fields: Mapping[str, int]

    def of(self, name: str | None) -> int | None:
        return self.fields.get(name, self.line) if name else self.line


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _issue(error: Mapping[str, Any], prefix: str, lines: ItemLines) -> FieldIssue:
    loc = [str(p) for p in error["loc"]]
    name = loc[0] if loc else None
    kind = error["type"]
    if kind == "extra_forbidden":
        message = f"unknown field '{name}' (expected one of: {', '.join(FIELDS)})"
    elif kind == "missing":
        message = "required field is missing"
    else:
        reason = str(error["msg"]).removeprefix("Value error, ")
        message = reason if name is None else f"{reason}, got {_short(error.get('input'))}"
    field = f"{prefix}.{name}" if name else prefix
    return FieldIssue(field=field, message=message, line=lines.of(name))


def _offer(
    spec: PrivateOfferSpec, chips: ChipRegistry, file: str, snapshot_id: str, lines: ItemLines
) -> Offer:
    chip = chips.find(spec.chip)
    if chip is None:
        raise UnknownNameError(
            "chip", spec.chip, chips.known_names(), file=file, line=lines.of("chip"), field="chip"
        )
    return Offer(
        id=spec.id,
        provider=spec.provider,
        vendor=chip.vendor,
        chip=chip.id,
        instance_type=spec.instance_type or f"{chip.id}x{spec.chips_per_instance}",
        chips_per_instance=spec.chips_per_instance,
        region=spec.region,
        zone=spec.zone,
        pricing=spec.pricing,
        usd_per_instance_hour=spec.per_instance_price(),
        source=spec.source or f"private:{file}",
        snapshot_id=snapshot_id,
        capacity_chips=spec.capacity_chips,
        term_start=spec.term_start,
        term_end=spec.term_end,
        take_or_pay_chips=spec.take_or_pay_chips,
        flags=_flags(spec.provider, spec.region),
    )


def _flags(provider: str, region: str) -> tuple[str, ...]:
    """``private``, plus ``region_approximate`` when the region is not one of the provider's
    region codes (an area such as ``asia-northeast``): priced, but never a launch target."""
    if is_region_code(provider, region) is False:
        return (PRIVATE_FLAG, str(Flag.REGION_APPROXIMATE))
    return (PRIVATE_FLAG,)


def parse_private_offers(
    items: list[dict[str, object]],
    file: str,
    snapshot_id: str,
    *,
    lines: Sequence[ItemLines] | None = None,
    field_prefix: str = "offers",
    chips: ChipRegistry | None = None,
) -> list[Offer]:
    """Validate offer items (already parsed from YAML or JSON) into offers.

    Raises SchemaError listing every bad field (with its line when ``lines`` is given) or
    UnknownNameError for a chip the registry does not know.
    """
    chips = chips or registry()
    if not isinstance(items, list):
        raise InputError(f"expected a list of offers, got {type(items).__name__}", file=file)
    if len(items) > MAX_OFFERS:
        raise InputError(f"too many offers ({len(items)} > {MAX_OFFERS})", file=file)
    issues: list[FieldIssue] = []
    specs: list[tuple[PrivateOfferSpec, ItemLines]] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        where = lines[index] if lines and index < len(lines) else ItemLines(None, {})
        prefix = f"{field_prefix}[{index}]"
        if not isinstance(item, dict):
            kind = type(item).__name__
            issues.append(FieldIssue(prefix, f"expected a mapping of offer fields, got {kind}"))
            continue
        try:
            spec = PrivateOfferSpec.model_validate(item)
        except ValidationError as exc:
            issues.extend(_issue(e, prefix, where) for e in exc.errors())
            continue
        if spec.id in seen:
            message = (
                f"duplicate offer id '{spec.id}' (first used by {field_prefix}[{seen[spec.id]}])"
            )
            issues.append(FieldIssue(f"{prefix}.id", message, where.of("id")))
            continue
        seen[spec.id] = index
        specs.append((spec, where))
    if issues:
        raise SchemaError(file, issues)
    return [_offer(spec, chips, file, snapshot_id, where) for spec, where in specs]


def _read_text(path: Path) -> str:
    return read_text_file(path, limit=MAX_FILE_BYTES, kind="a YAML file")


def _item_lines(node: yaml.Node | None) -> list[ItemLines]:
    if isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if k.value == "offers"), None)
    if not isinstance(node, yaml.SequenceNode):
        return []
    out: list[ItemLines] = []
    for item in node.value:
        fields: dict[str, int] = {}
        if isinstance(item, yaml.MappingNode):
            fields = {str(k.value): k.start_mark.line + 1 for k, _ in item.value}
        out.append(ItemLines(item.start_mark.line + 1, fields))
    return out


def read_yaml(path: Path) -> tuple[object, yaml.Node | None]:
    """Parse a YAML file safely; returns the data and its node tree (for line numbers)."""
    text = _read_text(path)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputError(f"invalid YAML: {exc.problem or exc}", file=str(path), line=line) from exc
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError) as exc:
        raise InputError(f"invalid YAML: {exc}", file=str(path)) from exc
    finally:
        loader.dispose()
    return data, node


def load_private_offers(path: Path, snapshot_id: str = "private") -> list[Offer]:
    """Read a private-offers YAML file into offers (see the module docstring for its shape)."""
    data, node = read_yaml(path)
    file = str(path)
    if isinstance(data, dict):
        extra = sorted(str(k) for k in data if k != "offers")
        if extra:
            raise InputError(
                f"unknown top-level key '{extra[0]}' (expected 'offers')", file=file, field=extra[0]
            )
        data = data.get("offers")
    if not isinstance(data, list):
        got = "nothing" if data is None else type(data).__name__
        raise InputError(
            f"expected a list of offers (or 'offers:' with a list), got {got}", file=file
        )
    return parse_private_offers(data, file, snapshot_id, lines=_item_lines(node))
