"""Portfolios: store a new version (YAML text or JSON), list them, list their versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chipfolio.interfaces.service.auth import Principal
from chipfolio.interfaces.service.inputs import PortfolioInput, parse_input
from chipfolio.interfaces.service.models import PortfolioRow, PortfolioVersion
from chipfolio.interfaces.service.routes.schemas import ID_MAX, Id, PortfolioIn
from chipfolio.interfaces.service.state import ServiceState, planner, service, viewer
from chipfolio.interfaces.service.store import (
    default_name,
    portfolio_record,
    save_version,
    version_record,
)

router = APIRouter(prefix="/api/v1/portfolios", tags=["portfolios"])
RETRIES = 3


def store_portfolio(
    state: ServiceState, given: PortfolioInput, name: str | None, actor: str
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Save a version; a concurrent writer of the same new name makes us retry, not fail."""
    for attempt in range(RETRIES):
        try:
            with state.db.write() as session:
                version, created = save_version(session, given, default_name(given, name), actor)
                row = session.get(PortfolioRow, version.portfolio_id)
                assert row is not None
                return portfolio_record(session, row), version_record(version), created
        except IntegrityError:
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


@router.post("", status_code=201, summary="Store a portfolio (a new version if the name exists)")
def create_portfolio(
    body: PortfolioIn,
    who: Principal = Depends(planner),
    state: ServiceState = Depends(service),
) -> JSONResponse:
    given = parse_input(body.portfolio, state.config.data_dir, ("body", "portfolio"))
    portfolio, version, created = store_portfolio(state, given, body.name, who.name)
    return JSONResponse(
        {"portfolio": portfolio, "version": version, "created": created},
        status_code=201 if created else 200,
    )


@router.get("", summary="List portfolios")
def list_portfolios(
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=ID_MAX),
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    with state.db.read() as session:
        total = session.scalar(select(func.count(PortfolioRow.id))) or 0
        rows = session.scalars(
            select(PortfolioRow).order_by(PortfolioRow.id).limit(limit).offset(offset)
        )
        items = [portfolio_record(session, r) for r in rows]
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def _portfolio(session: Session, portfolio_id: int) -> PortfolioRow:
    row = session.get(PortfolioRow, portfolio_id)
    if row is None:
        raise HTTPException(404, f"no portfolio {portfolio_id}")
    return row


@router.get("/{portfolio_id}", summary="One portfolio")
def get_portfolio(
    portfolio_id: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    with state.db.read() as session:
        return portfolio_record(session, _portfolio(session, portfolio_id))


@router.get("/{portfolio_id}/versions", summary="Versions of a portfolio, oldest first")
def list_versions(
    portfolio_id: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    with state.db.read() as session:
        _portfolio(session, portfolio_id)
        rows = session.scalars(
            select(PortfolioVersion)
            .where(PortfolioVersion.portfolio_id == portfolio_id)
            .order_by(PortfolioVersion.version)
        )
        return {"items": [version_record(v) for v in rows]}


@router.get("/{portfolio_id}/versions/{version}", summary="One version, with its text")
def get_version(
    portfolio_id: Id,
    version: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    with state.db.read() as session:
        row = session.scalar(
            select(PortfolioVersion).where(
                PortfolioVersion.portfolio_id == portfolio_id, PortfolioVersion.version == version
            )
        )
        if row is None:
            raise HTTPException(404, f"no version {version} of portfolio {portfolio_id}")
        return {**version_record(row), "text": row.text}
