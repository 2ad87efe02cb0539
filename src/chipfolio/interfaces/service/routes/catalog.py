"""The catalog: snapshots, offers with filters and pagination, and the chip registry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query

from chipfolio.catalog import chip_record, list_snapshots, load_catalog, offer_record, registry
from chipfolio.catalog.offers import parse_vendor
from chipfolio.interfaces.service.auth import Principal
from chipfolio.interfaces.service.routes.schemas import ID_MAX
from chipfolio.interfaces.service.state import ServiceState, service, viewer
from chipfolio.interfaces.service.store import has_snapshot, record_snapshot, stored_snapshots

router = APIRouter(prefix="/api/v1", tags=["catalog"])


def _filter(description: str) -> Any:
    return Query(None, min_length=1, max_length=200, description=description)


@router.get(
    "/catalog/snapshots",
    summary="Catalog snapshots: bundled, the user's, then those only kept in the database",
)
def snapshots(
    _: Principal = Depends(viewer), state: ServiceState = Depends(service)
) -> dict[str, Any]:
    infos = [s.to_dict() for s in list_snapshots(state.config.catalog_home)]
    on_disk = {i["id"] for i in infos}
    with state.db.read() as session:
        kept = [s for s in stored_snapshots(session) if s["id"] not in on_disk]
    return {"items": infos + kept}


@router.get("/catalog/offers", summary="Offers of one snapshot, cheapest per chip-hour first")
def offers(
    snapshot: str | None = _filter(
        "Snapshot id, 'latest' or 'bundled' (default: the bundled one)."
    ),
    chip: str | None = _filter("Chip id or alias."),
    vendor: str | None = _filter("Silicon vendor."),
    provider: str | None = _filter("Cloud or neocloud."),
    region: str | None = _filter("Region."),
    pricing: str | None = _filter("on_demand, spot, reserved or committed."),
    min_chips: int | None = Query(None, ge=1, le=1_000_000),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=ID_MAX),
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    catalog = state.catalog(snapshot)
    found = catalog.query(
        chip=chip,
        vendor=vendor,
        provider=provider,
        region=region,
        pricing=pricing,
        min_chips=min_chips,
    )
    return {
        "snapshot": catalog.snapshot_id,
        "total": len(found),
        "limit": limit,
        "offset": offset,
        "items": [offer_record(o) for o in found[offset : offset + limit]],
    }


@router.get("/chips", summary="The chip registry (optionally one silicon vendor)")
def chips(
    vendor: str | None = _filter("Silicon vendor."),
    _: Principal = Depends(viewer),
) -> dict[str, Any]:
    found = registry().by_vendor(parse_vendor(vendor)) if vendor else registry().all()
    return {"items": [chip_record(c) for c in found]}


@router.get("/chips/{name}", summary="One chip by id or alias")
def chip(name: str, _: Principal = Depends(viewer)) -> dict[str, Any]:
    found = registry().find(name) if len(name) <= 200 else None
    if found is None:
        raise HTTPException(404, f"unknown chip {name!r}")
    return chip_record(found)


def record_bundled(state: ServiceState) -> None:
    """Keep the bundled snapshots in the database (once each; user snapshots are kept when a
    plan uses them)."""
    for info in list_snapshots(None):
        with state.db.read() as session:
            if has_snapshot(session, info.id):
                continue
        catalog = load_catalog(info.id)
        with state.db.write() as session:
            record_snapshot(session, catalog, info.to_dict())
