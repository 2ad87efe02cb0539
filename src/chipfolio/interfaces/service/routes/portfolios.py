"""Portfolios: store a new version (YAML text or JSON), list them, list their versions."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from chipfolio.interfaces.service.auth import Principal
from chipfolio.interfaces.service.inputs import PortfolioInput, RequestInputError, parse_input
from chipfolio.interfaces.service.models import PortfolioRow, PortfolioVersion
from chipfolio.interfaces.service.routes.schemas import ID_MAX, Id, PortfolioIn
from chipfolio.interfaces.service.state import ServiceState, planner, service, viewer
from chipfolio.interfaces.service.store import (
    default_name,
    page,
    portfolio_record,
    save_version,
    version_record,
    with_latest_version,
)

router = APIRouter(prefix="/api/v1/portfolios", tags=["portfolios"])
RETRIES = 5


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
                # the version saved (or found unchanged) is the newest, under the row's lock
                record = portfolio_record(row, version.version)
                return record, version_record(version), created
        except IntegrityError:
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


YAML_TYPES = frozenset(
    {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}
)
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PortfolioIn.model_json_schema()},
            "application/yaml": {"schema": {"type": "string", "description": "Portfolio YAML"}},
        },
    }
}


def _invalid(loc: list[str], message: str) -> RequestInputError:
    return RequestInputError(
        [{"loc": loc, "field": None, "line": None, "msg": message, "type": "invalid_body"}]
    )


def _parse_body(raw: bytes, content_type: str, name: str | None) -> PortfolioIn:
    """The request as a PortfolioIn: raw YAML (name from the query) or the JSON document."""
    if content_type in YAML_TYPES:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _invalid(["body"], f"not UTF-8 text (byte {exc.start})") from exc
        data: Any = {"portfolio": text, **({"name": name} if name is not None else {})}
    else:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise _invalid(["body"], f"invalid JSON: {exc}") from exc
    try:
        return PortfolioIn.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc


def _store(body: PortfolioIn, who: Principal, state: ServiceState) -> JSONResponse:
    given = parse_input(body.portfolio, state.config.data_dir, ("body", "portfolio"))
    portfolio, version, created = store_portfolio(state, given, body.name, who.name)
    return JSONResponse(
        {"portfolio": portfolio, "version": version, "created": created},
        status_code=201 if created else 200,
    )


@router.post(
    "",
    status_code=201,
    summary="Store a portfolio (a new version if the name exists)",
    description="JSON `{name?, portfolio}` with YAML text or an object as `portfolio`, or the "
    "YAML file itself as `application/yaml` (name in the query).",
    openapi_extra=_BODY_DOC,
)
async def create_portfolio(
    request: Request,
    name: str | None = Query(
        None, min_length=1, max_length=200, description="Name for a YAML body."
    ),
    who: Principal = Depends(planner),
    state: ServiceState = Depends(service),
) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = _parse_body(await request.body(), content_type, name)
    return await run_in_threadpool(_store, body, who, state)


@router.get("", summary="List portfolios")
def list_portfolios(
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=ID_MAX),
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    with state.db.read() as session:
        query = with_latest_version().order_by(PortfolioRow.id)
        return page(session, query, limit, offset, portfolio_record)


def _missing(portfolio_id: int) -> HTTPException:
    return HTTPException(404, f"no portfolio {portfolio_id}")


@router.get("/{portfolio_id}", summary="One portfolio")
def get_portfolio(
    portfolio_id: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    with state.db.read() as session:
        found = session.execute(
            with_latest_version().where(PortfolioRow.id == portfolio_id)
        ).first()
    if found is None:
        raise _missing(portfolio_id)
    row, latest = found
    return portfolio_record(row, latest)


@router.get("/{portfolio_id}/versions", summary="Versions of a portfolio, oldest first")
def list_versions(
    portfolio_id: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    with state.db.read() as session:
        if session.get(PortfolioRow, portfolio_id) is None:
            raise _missing(portfolio_id)
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
