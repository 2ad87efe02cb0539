"""API tokens: random secrets stored as SHA-256 hashes, each with a name and a role.

Tokens are 256-bit random strings, so a plain SHA-256 of the token is a safe stored form
(no dictionary to attack); lookups go by hash, and the secret itself is shown once.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select, update

from chipfolio.errors import InputError
from chipfolio.interfaces.service.db import Database
from chipfolio.interfaces.service.models import ApiToken, AuditEntry, Role, ServiceEpoch, utcnow

TOKEN_PREFIX = "cfp_"
TOKENS_EPOCH = "tokens"  # the service_epochs row that grows at each revocation
CACHE_MAX_ENTRIES = 10_000
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
            # every instance polls this counter and drops its token cache when it moves
            session.execute(
                update(ServiceEpoch)
                .where(ServiceEpoch.name == TOKENS_EPOCH)
                .values(value=ServiceEpoch.value + 1)
            )
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


def tokens_epoch(db: Database) -> int:
    """The revocation counter (0 before the first revocation)."""
    with db.read() as session:
        value = session.scalar(select(ServiceEpoch.value).where(ServiceEpoch.name == TOKENS_EPOCH))
    return int(value or 0)


class TokenCache:
    """Verified tokens, kept ``ttl_s`` seconds so most requests skip the token query.

    Revocation is immediate on every instance: before answering from the cache, the
    revocation counter is read again if it was last read more than ``poll_s`` ago, and the
    whole cache is dropped when it has moved. So a revoked token is refused by every instance
    at most ``poll_s`` after the revocation committed, at the price of at most one small query
    per ``poll_s`` per instance. Unknown and revoked tokens are never cached.
    """

    def __init__(self, db: Database, ttl_s: float, poll_s: float) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.poll_s = poll_s
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._epoch: int | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def _check_epoch(self, now: float) -> None:
        with self._lock:
            if now - self._checked < self.poll_s:
                return
            epoch = tokens_epoch(self.db)
            if epoch != self._epoch:
                self._entries.clear()
                self._epoch = epoch
            self._checked = time.monotonic()

    def drop(self) -> None:
        """Forget every cached token (this instance revoked one)."""
        with self._lock:
            self._entries.clear()
            self._checked = float("-inf")

    def authenticate(self, token: str) -> Principal | None:
        if self.ttl_s <= 0:
            return authenticate(self.db, token)
        now = time.monotonic()
        self._check_epoch(now)
        digest = token_hash(token)
        with self._lock:
            hit = self._entries.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        epoch = self._epoch
        principal = authenticate(self.db, token)
        if principal is not None:
            with self._lock:
                if epoch == self._epoch:  # no revocation seen while the token was read
                    if len(self._entries) >= CACHE_MAX_ENTRIES:
                        self._entries.clear()
                    self._entries[digest] = (principal, now + self.ttl_s)
        return principal
