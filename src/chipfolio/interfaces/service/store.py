"""Writes and reads of portfolios and jobs; every write carries its audit entry in the same
transaction, so a record and the log line saying who made it commit together or not at all."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from chipfolio.catalog import Catalog
from chipfolio.catalog.snapshots import offers_csv_text, parse_offers_csv
from chipfolio.errors import CatalogError
from chipfolio.interfaces.service.inputs import PortfolioInput
from chipfolio.interfaces.service.models import (
    JOB_TABLES,
    AuditEntry,
    CatalogSnapshot,
    JobKind,
    JobStatus,
    PortfolioRow,
    PortfolioVersion,
    SimulationRow,
)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite hands back naive datetimes: they were stored in UTC)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def audit(session: Session, actor: str, action: str, target: str, **detail: Any) -> None:
    session.add(AuditEntry(token_name=actor, action=action, target=target, detail=detail))


def default_name(given: PortfolioInput, name: str | None) -> str:
    return name or given.portfolio.spec.name or f"portfolio-{given.sha256[:12]}"


def save_version(
    session: Session, given: PortfolioInput, name: str, actor: str
) -> tuple[PortfolioVersion, bool]:
    """Store ``given`` as the next version of portfolio ``name`` (created if new).

    The same text as the newest version is not stored twice: that version is returned with
    ``False``. Two writers creating the same new name race on its unique constraint; the
    loser's transaction fails with IntegrityError and is retried by the caller.
    """
    # the row lock queues concurrent writers of one portfolio (PostgreSQL; SQLite's writers
    # are already serialized by BEGIN IMMEDIATE), so version numbers have no gaps or clashes
    row = session.scalar(select(PortfolioRow).where(PortfolioRow.name == name).with_for_update())
    if row is None:
        row = PortfolioRow(name=name, created_by=actor)
        session.add(row)
        session.flush()
        audit(session, actor, "portfolio.create", f"portfolio:{row.id}", name=name)
    latest = session.scalar(
        select(PortfolioVersion)
        .where(PortfolioVersion.portfolio_id == row.id)
        .order_by(PortfolioVersion.version.desc())
        .limit(1)
    )
    if latest is not None and latest.sha256 == given.sha256 and latest.format == given.format:
        return latest, False
    version = PortfolioVersion(
        portfolio_id=row.id,
        version=(latest.version + 1) if latest else 1,
        format=given.format,
        text=given.text,
        sha256=given.sha256,
        created_by=actor,
    )
    session.add(version)
    session.flush()
    audit(
        session,
        actor,
        "portfolio.version",
        f"portfolio:{row.id}",
        version=version.version,
        version_id=version.id,
        sha256=given.sha256,
    )
    return version, True


def page(
    session: Session,
    query: Select[*tuple[Any, ...]],
    limit: int,
    offset: int,
    record: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """One page of an ordered query as ``{total, limit, offset, items}``: ``total`` counts
    every row of the query, ``items`` holds ``record(*row)`` of the rows in the page."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.execute(query.limit(limit).offset(offset))
    items = [record(*row) for row in rows]
    return {"total": total or 0, "limit": limit, "offset": offset, "items": items}


def version_record(v: PortfolioVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "portfolio_id": v.portfolio_id,
        "version": v.version,
        "format": v.format,
        "sha256": v.sha256,
        "created_at": iso(v.created_at),
        "created_by": v.created_by,
    }


def with_latest_version() -> Select[PortfolioRow, int | None]:
    """Portfolios with their newest version number, in one query."""
    latest = (
        select(func.max(PortfolioVersion.version))
        .where(PortfolioVersion.portfolio_id == PortfolioRow.id)
        .scalar_subquery()
    )
    return select(PortfolioRow, latest)


def portfolio_record(row: PortfolioRow, latest: int | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "created_at": iso(row.created_at),
        "created_by": row.created_by,
        "latest_version": latest,
    }


def create_job(
    session: Session,
    kind: JobKind,
    version: PortfolioVersion,
    options: dict[str, Any],
    actor: str,
    **columns: Any,
) -> int:
    table = JOB_TABLES[kind]
    row = table(
        portfolio_version_id=version.id,
        options=options,
        status=JobStatus.QUEUED.value,
        created_by=actor,
        **columns,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor,
        f"{kind.value}.create",
        f"{kind.value}:{row.id}",
        portfolio_version_id=version.id,
        options=options,
    )
    return row.id


def job_record(kind: JobKind, row: Any, version: PortfolioVersion | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "kind": kind.value,
        "status": row.status,
        "portfolio_id": version.portfolio_id if version else None,
        "portfolio_version": version.version if version else None,
        "portfolio_version_id": row.portfolio_version_id,
        "options": row.options,
        "error": row.error,
        "error_details": row.error_details or [],
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "created_by": row.created_by,
    }
    if kind is JobKind.PLAN:
        out |= {
            "catalog_snapshot": row.catalog_snapshot,
            "solver": row.solver,
            "solver_status": row.solver_status,
            "plan_status": row.plan_status,
            "total_cost_usd": row.total_cost_usd,
            "solve_seconds": row.solve_seconds,
        }
    if isinstance(row, SimulationRow):
        out["progress"] = {"done": row.scenarios_done, "total": row.scenarios_total}
    return out


def record_snapshot(session: Session, catalog: Catalog, info: dict[str, Any]) -> None:
    """Keep a catalog snapshot and its offers in the database (once per id), so a plan's
    snapshot can be read back even where its folder is gone."""
    row = session.get(CatalogSnapshot, catalog.snapshot_id)
    if row is not None and row.offers_csv is not None:
        return
    text = offers_csv_text(catalog.offers)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if row is None:
        row = CatalogSnapshot(
            id=catalog.snapshot_id,
            created=info["created"],
            offers=len(catalog.offers),
            sources=list(info["sources"]),
            bundled=bool(info["bundled"]),
        )
        session.add(row)
    row.offers_csv, row.offers_sha256 = text, digest


def has_snapshot(session: Session, snapshot_id: str) -> bool:
    """Whether a snapshot's offers are kept in the database (without reading them)."""
    kept = select(CatalogSnapshot.id).where(
        CatalogSnapshot.id == snapshot_id, CatalogSnapshot.offers_csv.is_not(None)
    )
    return session.scalar(kept) is not None


def stored_catalog(session: Session, snapshot_id: str) -> Catalog | None:
    """A snapshot kept in the database (checked against its recorded hash), if there is one."""
    row = session.get(CatalogSnapshot, snapshot_id)
    if row is None or row.offers_csv is None:
        return None
    if hashlib.sha256(row.offers_csv.encode("utf-8")).hexdigest() != row.offers_sha256:
        raise CatalogError(f"database snapshot {snapshot_id}: offers do not match their hash")
    where = f"database:{snapshot_id}"
    return Catalog(snapshot_id, parse_offers_csv(row.offers_csv, snapshot_id, where))


def stored_snapshots(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(CatalogSnapshot).order_by(CatalogSnapshot.recorded_at))
    return [
        {
            "id": r.id,
            "created": r.created,
            "offers": r.offers,
            "sources": list(r.sources),
            "bundled": r.bundled,
            "location": f"database:{r.id}",
        }
        for r in rows
        if r.offers_csv is not None
    ]
