"""Query the offers of one catalog snapshot: filters, price order, records and a DataFrame.

A :class:`Catalog` is an immutable value: ``with_offers`` returns a new catalog with private
offers merged in. Records (``offer_record``) are the stable JSON/CSV contract of an offer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chipfolio.catalog.chips import ChipRegistry, registry
from chipfolio.domain import Offer, PricingModel, SiliconVendor
from chipfolio.errors import CatalogError, InputError, UnknownNameError

if TYPE_CHECKING:  # polars is imported only when a DataFrame is asked for
    import polars as pl

# The order of fields in JSON records and CSV columns (the public contract of an offer).
OFFER_FIELDS: tuple[str, ...] = (
    "id",
    "provider",
    "vendor",
    "chip",
    "instance_type",
    "chips_per_instance",
    "region",
    "zone",
    "pricing",
    "usd_per_instance_hour",
    "usd_per_chip_hour",
    "capacity_chips",
    "term_start",
    "term_end",
    "take_or_pay_chips",
    "flags",
    "source",
    "snapshot_id",
)


def offer_record(offer: Offer) -> dict[str, Any]:
    """An offer as a plain JSON-ready mapping (dates as ISO text, flags as a list)."""
    return {
        "id": offer.id,
        "provider": offer.provider,
        "vendor": str(offer.vendor),
        "chip": offer.chip,
        "instance_type": offer.instance_type,
        "chips_per_instance": offer.chips_per_instance,
        "region": offer.region,
        "zone": offer.zone,
        "pricing": str(offer.pricing),
        "usd_per_instance_hour": offer.usd_per_instance_hour,
        "usd_per_chip_hour": offer.usd_per_chip_hour,
        "capacity_chips": offer.capacity_chips,
        "term_start": offer.term_start.isoformat() if offer.term_start else None,
        "term_end": offer.term_end.isoformat() if offer.term_end else None,
        "take_or_pay_chips": offer.take_or_pay_chips,
        "flags": list(offer.flags),
        "source": offer.source,
        "snapshot_id": offer.snapshot_id,
    }


def parse_pricing(text: str | PricingModel) -> PricingModel:
    """A pricing model from text; accepts ``on-demand`` as well as ``on_demand``."""
    if isinstance(text, PricingModel):
        return text
    key = text.strip().lower().replace("-", "_")
    try:
        return PricingModel(key)
    except ValueError as exc:
        raise UnknownNameError("pricing", text, [str(p) for p in PricingModel]) from exc


def parse_vendor(text: str | SiliconVendor) -> SiliconVendor:
    """A silicon vendor from text, case-insensitively."""
    if isinstance(text, SiliconVendor):
        return text
    try:
        return SiliconVendor(text.strip().lower())
    except ValueError as exc:
        raise UnknownNameError("vendor", text, [str(v) for v in SiliconVendor]) from exc


def price_order(offers: Iterable[Offer]) -> list[Offer]:
    """Offers sorted by USD per chip-hour, then id (the catalog's one order)."""
    return sorted(offers, key=lambda o: (o.usd_per_chip_hour, o.id))


@dataclass(frozen=True, slots=True)
class Catalog:
    """The offers of one snapshot (plus any merged private offers)."""

    snapshot_id: str
    offers: tuple[Offer, ...]
    chips: ChipRegistry = field(default_factory=registry, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.offers)

    def get(self, offer_id: str) -> Offer:
        """The offer with ``offer_id``; raises UnknownNameError with suggestions."""
        for offer in self.offers:
            if offer.id == offer_id:
                return offer
        raise UnknownNameError("offer", offer_id, [o.id for o in self.offers])

    def query(
        self,
        chip: str | None = None,
        vendor: str | SiliconVendor | None = None,
        provider: str | None = None,
        region: str | None = None,
        pricing: str | PricingModel | None = None,
        min_chips: int | None = None,
    ) -> list[Offer]:
        """Offers matching every given filter, cheapest per chip-hour first.

        ``chip`` takes any registry name (alias, SkyPilot name); ``provider`` and ``region``
        match case-insensitively; ``min_chips`` keeps offers whose instances hold at least
        that many chips.
        """
        chip_id = self.chips.resolve(chip) if chip else None
        wanted_vendor = parse_vendor(vendor) if vendor else None
        wanted_pricing = parse_pricing(pricing) if pricing else None
        if min_chips is not None and min_chips < 1:
            raise InputError(f"min_chips must be at least 1, got {min_chips}", field="min_chips")
        provider_key = provider.strip().lower() if provider else None
        region_key = region.strip().lower() if region else None
        return price_order(
            o
            for o in self.offers
            if (chip_id is None or o.chip == chip_id)
            and (wanted_vendor is None or o.vendor is wanted_vendor)
            and (provider_key is None or o.provider.lower() == provider_key)
            and (region_key is None or o.region.lower() == region_key)
            and (wanted_pricing is None or o.pricing is wanted_pricing)
            and (min_chips is None or o.chips_per_instance >= min_chips)
        )

    def with_offers(self, extra: Iterable[Offer]) -> Catalog:
        """A new catalog holding these offers too; an id already present is an input error."""
        known = {o.id for o in self.offers}
        added: list[Offer] = []
        for offer in extra:
            if offer.id in known:
                raise InputError(
                    f"offer id '{offer.id}' is already in catalog {self.snapshot_id}",
                    field="id",
                )
            known.add(offer.id)
            added.append(offer)
        return Catalog(self.snapshot_id, self.offers + tuple(added), self.chips)

    def counts(self) -> Mapping[str, int]:
        """Offers per provider (for summaries)."""
        out: dict[str, int] = {}
        for offer in self.offers:
            out[offer.provider] = out.get(offer.provider, 0) + 1
        return dict(sorted(out.items()))

    def frame(self) -> pl.DataFrame:
        """The offers as a polars DataFrame, one row per offer, columns as OFFER_FIELDS.

        polars is optional (``pip install 'chipfolio[dataframe]'``); without it this raises
        :class:`CatalogError` saying so.
        """
        try:
            import polars as pl
        except ModuleNotFoundError as exc:
            raise CatalogError(
                "Catalog.frame() needs polars: pip install 'chipfolio[dataframe]'"
            ) from exc

        records = [offer_record(o) for o in price_order(self.offers)]
        schema: dict[str, Any] = {
            "id": pl.String,
            "provider": pl.String,
            "vendor": pl.String,
            "chip": pl.String,
            "instance_type": pl.String,
            "chips_per_instance": pl.Int64,
            "region": pl.String,
            "zone": pl.String,
            "pricing": pl.String,
            "usd_per_instance_hour": pl.Float64,
            "usd_per_chip_hour": pl.Float64,
            "capacity_chips": pl.Int64,
            "term_start": pl.String,
            "term_end": pl.String,
            "take_or_pay_chips": pl.Int64,
            "flags": pl.List(pl.String),
            "source": pl.String,
            "snapshot_id": pl.String,
        }
        frame = pl.DataFrame(records, schema=schema, orient="row")
        return frame.with_columns(
            pl.col("term_start").str.to_date(), pl.col("term_end").str.to_date()
        )
