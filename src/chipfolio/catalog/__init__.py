"""Catalog: the chip registry and priced offers, read from versioned snapshots.

The names below are the catalog's public API; importers live in ``catalog.sources``.
"""

from chipfolio.catalog.chips import ChipRegistry, chip_record, registry
from chipfolio.catalog.offers import Catalog, offer_record
from chipfolio.catalog.snapshots import (
    SnapshotInfo,
    build_snapshot,
    default_snapshot_id,
    list_snapshots,
    load_catalog,
)

__all__ = [
    "Catalog",
    "ChipRegistry",
    "SnapshotInfo",
    "build_snapshot",
    "chip_record",
    "default_snapshot_id",
    "list_snapshots",
    "load_catalog",
    "offer_record",
    "registry",
]
