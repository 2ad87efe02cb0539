"""What request handlers share: the database, the job runner, metrics, settings, and the
dependency that authenticates a bearer token and checks its role."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chipfolio.catalog import Catalog, load_catalog
from chipfolio.errors import UnknownNameError
from chipfolio.interfaces.service.auth import MAX_TOKEN_CHARS, Principal, TokenCache
from chipfolio.interfaces.service.config import ServiceConfig
from chipfolio.interfaces.service.db import Database
from chipfolio.interfaces.service.jobs import JobRunner
from chipfolio.interfaces.service.metrics import Metrics
from chipfolio.interfaces.service.models import Role
from chipfolio.interfaces.service.store import stored_catalog

LATEST = "latest"


@dataclass
class ServiceState:
    config: ServiceConfig
    db: Database
    runner: JobRunner
    metrics: Metrics
    tokens: TokenCache

    def catalog(self, snapshot: str | None) -> Catalog:
        """A catalog snapshot from disk, else from the database (cached: snapshots are
        immutable, except what 'latest' means)."""
        if snapshot == LATEST:
            return load_catalog(snapshot, home=self.config.catalog_home)
        try:
            return _cached_catalog(snapshot, self.config.catalog_home)
        except UnknownNameError:
            if snapshot is None:
                raise
            with self.db.read() as session:
                kept = stored_catalog(session, snapshot)
            if kept is None:
                raise
            return kept


@functools.lru_cache(maxsize=8)
def _cached_catalog(snapshot: str | None, home: Path | None) -> Catalog:
    return load_catalog(snapshot, home=home)


def service(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer <token>`")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def require(role: Role) -> Callable[..., Principal]:
    """A dependency: the caller's principal, if its token is valid and its role suffices."""

    def check(
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
        state: ServiceState = Depends(service),
    ) -> Principal:
        if credentials is None:
            raise _unauthorized("missing bearer token")
        token = credentials.credentials
        principal = state.tokens.authenticate(token) if len(token) <= MAX_TOKEN_CHARS else None
        if principal is None:
            raise _unauthorized("invalid or revoked token")
        if not principal.may(role):
            raise HTTPException(403, f"this needs the {role.value} role")
        return principal

    return check


viewer = require(Role.VIEWER)
planner = require(Role.PLANNER)
admin = require(Role.ADMIN)
