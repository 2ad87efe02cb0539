"""API tokens: random secrets stored as SHA-256 hashes, each with a name and a role.

Tokens are 256-bit random strings, so a plain SHA-256 of the token is a safe stored form
(no dictionary to attack); lookups go by hash, and the secret itself is shown once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from chipfolio.errors import InputError
from chipfolio.interfaces.service.db import Database
from chipfolio.interfaces.service.models import ApiToken, AuditEntry, Role, utcnow

TOKEN_PREFIX = "cfp_"
MIN_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 512


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name and role."""

    name: str
    role: Role

    def may(self, needed: Role) -> bool:
        return self.role.rank >= needed.rank


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError as exc:
        known = ", ".join(r.value for r in Role)
        raise InputError(f"unknown role {text!r} (expected {known})", field="--role") from exc


def check_token_text(token: str, where: str) -> str:
    token = token.strip()
    if not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS:
        raise InputError(
            f"a token must have {MIN_TOKEN_CHARS} to {MAX_TOKEN_CHARS} characters", field=where
        )
    if not token.isascii() or not token.isprintable() or " " in token:
        raise InputError("a token must be printable ASCII without spaces", field=where)
    return token


def check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 120 or not name.isprintable():
        raise InputError("expected 1 to 120 printable characters", field="--name")
    return name


def create_token(db: Database, name: str, role: Role, actor: str, token: str | None = None) -> str:
    """Store a new token (random unless given) under ``name``; returns the secret."""
    name = check_name(name)
    secret = token if token is not None else new_token()
    with db.write() as session:
        if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
            raise InputError(f"a token named {name!r} already exists", field="--name")
        digest = token_hash(secret)
        if session.scalar(select(ApiToken.id).where(ApiToken.token_sha256 == digest)) is not None:
            raise InputError("this token is already registered", field="token")
        session.add(ApiToken(name=name, role=role.value, token_sha256=digest))
        session.add(
            AuditEntry(
                token_name=actor,
                action="token.create",
                target=f"token:{name}",
                detail={"role": role.value},
            )
        )
    return secret


def revoke_token(db: Database, name: str, actor: str) -> None:
    """Revoke the token named ``name`` (kept for the audit trail, refused from now on)."""
    with db.write() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == name).with_for_update())
        if row is None:
            raise InputError(f"no token named {name!r}", field="--name")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(
                AuditEntry(
                    token_name=actor, action="token.revoke", target=f"token:{name}", detail={}
                )
            )


def seed_admin(db: Database, token: str) -> bool:
    """Register ``token`` as an admin (named ``admin``, or ``admin-N``) unless already known."""
    digest = token_hash(token)
    with db.read() as session:
        if session.scalar(select(ApiToken.id).where(ApiToken.token_sha256 == digest)) is not None:
            return False
        names = set(session.scalars(select(ApiToken.name)))
    name, n = "admin", 1
    while name in names:
        n += 1
        name = f"admin-{n}"
    create_token(db, name, Role.ADMIN, "(serve --admin-token)", token)
    return True


def authenticate(db: Database, token: str) -> Principal | None:
    digest = token_hash(token)
    with db.read() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest))
    if row is None or row.revoked_at is not None:
        return None
    return Principal(name=row.name, role=Role(row.role))
