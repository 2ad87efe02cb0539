"""Administration: who am I, API tokens, and the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from chipfolio.errors import InputError
from chipfolio.interfaces.service.auth import Principal, create_token, parse_role, revoke_token
from chipfolio.interfaces.service.models import ApiToken, AuditEntry
from chipfolio.interfaces.service.routes.schemas import ID_MAX, TokenIn
from chipfolio.interfaces.service.state import ServiceState, admin, service, viewer
from chipfolio.interfaces.service.store import iso, page

router = APIRouter(prefix="/api/v1", tags=["admin"])


@router.get("/whoami", summary="The calling token's name and role")
def whoami(who: Principal = Depends(viewer)) -> dict[str, Any]:
    return {"name": who.name, "role": who.role.value}


@router.get("/tokens", summary="API tokens (names and roles; never the secrets)")
def list_tokens(
    _: Principal = Depends(admin), state: ServiceState = Depends(service)
) -> dict[str, Any]:
    with state.db.read() as session:
        rows = session.scalars(select(ApiToken).order_by(ApiToken.id))
        items = [
            {
                "name": r.name,
                "role": r.role,
                "created_at": iso(r.created_at),
                "revoked": r.revoked_at is not None,
            }
            for r in rows
        ]
    return {"items": items}


@router.post("/tokens", status_code=201, summary="Create a token; its secret is shown once")
def new_token(
    body: TokenIn, who: Principal = Depends(admin), state: ServiceState = Depends(service)
) -> JSONResponse:
    role = parse_role(body.role)
    secret = create_token(state.db, body.name, role, who.name)
    return JSONResponse({"name": body.name, "role": role.value, "token": secret}, 201)


@router.delete("/tokens/{name}", status_code=204, summary="Revoke a token")
def delete_token(
    name: str = Path(min_length=1, max_length=120),
    who: Principal = Depends(admin),
    state: ServiceState = Depends(service),
) -> Response:
    if name == who.name:
        raise HTTPException(409, "a token cannot revoke itself")
    try:
        revoke_token(state.db, name, who.name)
    except InputError as exc:
        raise HTTPException(404, exc.reason) from exc
    state.tokens.drop()  # other instances see the revocation counter move
    return Response(status_code=204)


@router.get("/audit", summary="The audit log, newest first")
def audit_log(
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=ID_MAX),
    _: Principal = Depends(admin),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    def record(r: AuditEntry) -> dict[str, Any]:
        return {
            "id": r.id,
            "at": iso(r.at),
            "token_name": r.token_name,
            "action": r.action,
            "target": r.target,
            "detail": r.detail,
        }

    with state.db.read() as session:
        query = select(AuditEntry).order_by(AuditEntry.id.desc())
        return page(session, query, limit, offset, record)
