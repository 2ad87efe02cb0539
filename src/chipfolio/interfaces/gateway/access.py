"""Who may use the gateway: client keys (hashed at rest) and the admin key.

``--client-keys FILE`` is a YAML list::

    - {name: chat-frontend, sha256: 9f86d0...}                  # any workload, no limit
    - {name: batch-evals, sha256: 2c26b4..., workloads: [code], requests_per_s: 20}

``sha256`` is the hex SHA-256 of the key (``printf %s "$KEY" | sha256sum``); the keys themselves
are never stored. A request names its key as ``Authorization: Bearer <key>``; the gateway
hashes it and looks the hash up. ``--client-keys-db URL`` adds the unrevoked tokens of the
service's token store (its ``api_tokens`` table, which keeps the same SHA-256 digests), read
with a plain query from here, as keys with every workload and no rate limit.
``--admin-key-file FILE`` holds the admin key itself (a secret file, e.g. a mounted Kubernetes
secret); only its hash is kept in memory.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from chipfolio.errors import FieldIssue, InputError, SchemaError, UnknownNameError
from chipfolio.textfile import read_text_file

MAX_KEYS_FILE_BYTES = 4 * 1024 * 1024
MIN_ADMIN_KEY_CHARS = 16
_Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:/@+-]+$")]


class ClientKeyEntry(BaseModel):
    """One client key of the ``--client-keys`` file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: _Name
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    workloads: list[_Name] | None = Field(None, min_length=1)
    requests_per_s: float | None = Field(None, gt=0, le=1e6, allow_inf_nan=False)

    @field_validator("sha256", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError("YAML read this digest as a number: put the 64 hex digits in quotes")
        return value


_ENTRIES = TypeAdapter(list[ClientKeyEntry])


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A client as the gateway knows it: a name, what it may use, how fast."""

    name: str
    workloads: frozenset[str] | None = None  # None: every workload
    requests_per_s: float | None = None  # None: no limit

    def may_use(self, workload: str) -> bool:
        return self.workloads is None or workload in self.workloads


@dataclass(frozen=True, slots=True)
class Access:
    """The key checks of one gateway configuration.

    ``keys`` None: no client keys (anyone who reaches the port may send requests);
    ``admin_sha256`` None: the admin endpoints are off."""

    keys: Mapping[str, ClientKey] | None = None  # lowercase hex SHA-256 -> client
    admin_sha256: bytes | None = field(default=None, repr=False)
    client_keys_file: str | None = None
    admin_key_file: str | None = None
    client_keys_db: str | None = field(default=None, repr=False)  # a URL may hold a password

    def client(self, authorization: bytes | None) -> ClientKey | None:
        """The client whose key the ``Authorization`` header carries, or None."""
        keys = self.keys
        if keys is None or authorization is None:
            return None
        key = _bearer(authorization)
        if key is None:
            return None
        return keys.get(hashlib.sha256(key).hexdigest())

    def admin(self, authorization: bytes | None) -> bool:
        """Whether the header carries the admin key (constant-time comparison)."""
        if self.admin_sha256 is None or authorization is None:
            return False
        key = _bearer(authorization)
        return key is not None and hmac.compare_digest(
            hashlib.sha256(key).digest(), self.admin_sha256
        )

    def names(self) -> set[str]:
        return set() if self.keys is None else {k.name for k in self.keys.values()}


def _bearer(authorization: bytes) -> bytes | None:
    scheme, _, key = authorization.strip().partition(b" ")
    key = key.strip()
    return key if scheme.lower() == b"bearer" and key else None


def _read(path: Path, what: str, limit: int) -> str:
    return read_text_file(path, limit=limit, kind=f"a {what}", what=what)


def _loc(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "(top)"


def load_client_keys(path: str | Path, workloads: Collection[str]) -> dict[str, ClientKey]:
    """Parse and check a ``--client-keys`` file against the workloads the gateway serves."""
    file = str(path)
    text = _read(Path(path), "client keys file", MAX_KEYS_FILE_BYTES)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(
            f"not valid YAML: {getattr(exc, 'problem', None) or 'invalid YAML'}",
            file=file,
            line=None if mark is None else mark.line + 1,
        ) from exc
    if not isinstance(data, list) or not data:
        raise InputError("expected a non-empty YAML list of {name, sha256}", file=file)
    try:
        entries = _ENTRIES.validate_python(data)
    except ValidationError as exc:
        issues = [
            FieldIssue(_loc(tuple(e["loc"])), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
        raise SchemaError(file, issues) from exc
    keys: dict[str, ClientKey] = {}
    names: dict[str, int] = {}
    for i, e in enumerate(entries):
        digest = e.sha256.lower()
        if e.name in names:
            raise InputError(
                f"duplicate key name '{e.name}' (first used by [{names[e.name]}])",
                file=file,
                field=f"[{i}].name",
            )
        if digest in keys:
            raise InputError(
                f"the same sha256 as '{keys[digest].name}': one key, two names",
                file=file,
                field=f"[{i}].sha256",
            )
        for j, w in enumerate(e.workloads or ()):
            if w not in workloads:
                raise UnknownNameError(
                    "workload", w, sorted(workloads), file=file, field=f"[{i}].workloads[{j}]"
                )
        names[e.name] = i
        keys[digest] = ClientKey(
            e.name, None if e.workloads is None else frozenset(e.workloads), e.requests_per_s
        )
    return keys


def load_admin_key(path: str | Path) -> bytes:
    """SHA-256 of the admin key held in ``path`` (whitespace around it removed)."""
    file = str(path)
    key = _read(Path(path), "admin key file", 16 * 1024).strip()
    if len(key) < MIN_ADMIN_KEY_CHARS:
        raise InputError(
            f"the admin key must be at least {MIN_ADMIN_KEY_CHARS} characters "
            "(e.g. `openssl rand -hex 32`)",
            file=file,
        )
    if not all(0x21 <= ord(c) <= 0x7E for c in key):
        raise InputError(
            "the admin key has characters an HTTP header cannot carry "
            "(spaces, control characters or non-ASCII)",
            file=file,
        )
    return hashlib.sha256(key.encode()).digest()


def load_service_keys(url: str) -> dict[str, ClientKey]:
    """The unrevoked tokens of the service's token store, as client keys by digest."""
    where = "--client-keys-db"
    try:
        import sqlalchemy as sa
    except ImportError as exc:  # pragma: no cover - sqlalchemy is in the service extra
        raise InputError(
            "reading the service's tokens needs its extra: pip install 'chipfolio[service]'",
            field=where,
        ) from exc
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InputError(
            "expected a database URL, e.g. sqlite:///chipfolio.db", field=where
        ) from exc
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if not db or db == ":memory:" or not Path(db).is_file():
            raise InputError(f"no such database file: {db or '(none)'}", field=where)
    query = "SELECT name, token_sha256 FROM api_tokens WHERE revoked_at IS NULL"
    try:
        engine = sa.create_engine(parsed)
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.text(query)).all()
        finally:
            engine.dispose()
    except sa.exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        first = (str(orig if orig is not None else exc).splitlines() or ["error"])[0]
        raise InputError(
            f"cannot read the service's tokens from {shown} ({first}); is it a chipfolio "
            "service database (chipfolio serve)?",
            field=where,
        ) from exc
    keys: dict[str, ClientKey] = {}
    for name, digest in rows:
        if isinstance(name, str) and isinstance(digest, str) and len(digest) == 64:
            keys[digest.lower()] = ClientKey(name)
    return keys


def _merge(
    file_keys: dict[str, ClientKey], db_keys: dict[str, ClientKey], file: str
) -> dict[str, ClientKey]:
    names = {k.name for k in file_keys.values()}
    for digest, key in db_keys.items():
        if digest in file_keys:
            raise InputError(
                f"the service token '{key.name}' is also listed as '{file_keys[digest].name}'",
                file=file,
            )
        if key.name in names:
            raise InputError(
                f"key name '{key.name}' is used both here and by a service token", file=file
            )
    return {**file_keys, **db_keys}


def load_access(
    client_keys_file: str | Path | None,
    admin_key_file: str | Path | None,
    workloads: Collection[str],
    client_keys_db: str | None = None,
) -> Access:
    keys = None if client_keys_file is None else load_client_keys(client_keys_file, workloads)
    if client_keys_db is not None:
        db_keys = load_service_keys(client_keys_db)
        keys = db_keys if keys is None else _merge(keys, db_keys, str(client_keys_file))
    admin = None if admin_key_file is None else load_admin_key(admin_key_file)
    return Access(
        None if keys is None else MappingProxyType(keys),
        admin,
        None if client_keys_file is None else str(client_keys_file),
        None if admin_key_file is None else str(admin_key_file),
        client_keys_db,
    )
