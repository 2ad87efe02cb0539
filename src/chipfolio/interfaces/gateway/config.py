"""POOLS.yaml and the plan JSON: validated, cross-checked, turned into a routing table.

POOLS.yaml::

    models: {chat: chat}              # request "model" -> plan workload
    pools:
      - {name: maia-eastus, workload: chat, offer: az-maia, url: http://127.0.0.1:9001/v1}
      - {name: trn2-use1, workload: chat, offer: aws-trn2, url: https://trn2.example/v1,
         ca_file: lab-ca.pem, api_key_env: TRN2_KEY}
    settings: {first_token_timeout_s: 10}   # optional, see GatewaySettings

Every problem is one line naming the file and the field. Workload and offer names are checked
against the plan (with "did you mean"); a pool may name an offer the plan does not use only
with ``fallback: true`` (it then gets weight 0 and takes traffic only when the weighted pools
cannot).

A pool's transport (:class:`PoolTransport`) is resolved here too: the TLS context of an
``https://`` pool (system trust, or only its ``ca_file``; verification on unless
``tls_verify: false``, which logs a warning) and its credential, read from the environment
variable ``api_key_env`` or the file ``api_key_file`` (never from the YAML) and kept out of every
``repr``, log line and report.
"""

from __future__ import annotations

import json
import logging
import math
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from chipfolio.errors import FieldIssue, InputError, SchemaError, UnknownNameError
from chipfolio.interfaces.gateway.access import Access, load_access
from chipfolio.planner import Plan
from chipfolio.routing import (
    BreakerPolicy,
    OfferPrice,
    PlanAllocation,
    PoolSpec,
    RetryPolicy,
    RoutingPolicy,
    RoutingTable,
    build_routing_table,
    offer_prices,
)
from chipfolio.textfile import read_text_file

log = logging.getLogger("chipfolio.gateway")

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_KEY_BYTES = 16 * 1024
_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
# headers the gateway writes itself; a pool's credential may not replace them
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "accept"}
)
_Strict = ConfigDict(extra="forbid", frozen=True)
_Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:/@+-]+$")]


class PoolEntry(BaseModel):
    """One pool: a name, the workload it serves, its plan offer, its OpenAI base URL, and how
    to reach it (TLS trust, credential)."""

    model_config = _Strict
    name: _Name
    workload: _Name
    offer: _Name
    url: str = Field(min_length=1, max_length=2000)
    fallback: bool = False
    ca_file: str | None = Field(None, min_length=1, max_length=4096)
    tls_verify: bool = True
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    api_key_file: str | None = Field(None, min_length=1, max_length=4096)
    api_key_header: str | None = Field(None, min_length=1, max_length=100, pattern=_HEADER_NAME)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "expected an http:// or https:// URL with a host, e.g. https://10.0.0.5:8000/v1"
            )
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "the URL must not carry credentials (user:password@); use api_key_env or "
                "api_key_file"
            )
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in URL: {exc}") from None
        if parts.query or parts.fragment:
            raise ValueError("the URL must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("api_key_header")
    @classmethod
    def _own_header(cls, value: str | None) -> str | None:
        if value is not None and value.lower() in _RESERVED_HEADERS:
            raise ValueError(f"'{value}' is a header the gateway sets itself")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PoolEntry:
        https = self.url.startswith("https://")
        if self.ca_file is not None and not https:
            raise ValueError("ca_file needs an https:// url")
        if not self.tls_verify and not https:
            raise ValueError("tls_verify needs an https:// url")
        if not self.tls_verify and self.ca_file is not None:
            raise ValueError("ca_file and tls_verify: false contradict each other; keep one")
        if self.api_key_env is not None and self.api_key_file is not None:
            raise ValueError("give api_key_env or api_key_file, not both")
        if (
            self.api_key_header is not None
            and self.api_key_env is None
            and (self.api_key_file is None)
        ):
            raise ValueError("api_key_header needs api_key_env or api_key_file")
        return self


class GatewaySettings(BaseModel):
    """Timeouts, retries, breakers and health checks (all optional)."""

    model_config = _Strict
    connect_timeout_s: float = Field(1.0, gt=0, le=600, allow_inf_nan=False)
    first_token_timeout_s: float = Field(10.0, gt=0, le=3600, allow_inf_nan=False)
    request_timeout_s: float = Field(600.0, gt=0, le=86400, allow_inf_nan=False)
    stream_idle_timeout_s: float = Field(60.0, gt=0, le=86400, allow_inf_nan=False)
    max_attempts: int = Field(3, ge=1, le=20)
    retry_budget_ratio: float = Field(0.2, ge=0, le=10, allow_inf_nan=False)
    retry_budget_min_per_s: float = Field(10.0, ge=0, le=1e6, allow_inf_nan=False)
    retry_budget_burst: float = Field(100.0, ge=0, le=1e6, allow_inf_nan=False)
    backoff_base_s: float = Field(0.002, ge=0, le=60, allow_inf_nan=False)
    backoff_max_s: float = Field(0.1, ge=0, le=600, allow_inf_nan=False)
    breaker_consecutive_failures: int = Field(5, ge=1, le=10_000)
    breaker_error_rate: float = Field(0.5, gt=0, le=1, allow_inf_nan=False)
    breaker_window: int = Field(20, ge=1, le=100_000)
    breaker_min_requests: int = Field(10, ge=1, le=100_000)
    breaker_open_s: float = Field(2.0, gt=0, le=3600, allow_inf_nan=False)
    breaker_max_open_s: float = Field(30.0, gt=0, le=86400, allow_inf_nan=False)
    breaker_half_open_probes: int = Field(1, ge=1, le=1000)
    health_interval_s: float = Field(2.0, gt=0, le=3600, allow_inf_nan=False)
    health_timeout_s: float = Field(1.0, gt=0, le=600, allow_inf_nan=False)
    unhealthy_after: int = Field(2, ge=1, le=1000)
    default_retry_after_s: float = Field(1.0, ge=0, le=3600, allow_inf_nan=False)
    max_retry_after_s: float = Field(60.0, ge=0, le=86400, allow_inf_nan=False)
    upstream_keepalive_s: float = Field(4.0, ge=0, le=3600, allow_inf_nan=False)
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, le=1 << 30)
    max_response_bytes: int = Field(64 * 1024 * 1024, ge=1024, le=1 << 32)
    max_sse_event_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=1 << 30)
    client_request_timeout_s: float = Field(30.0, gt=0, le=3600, allow_inf_nan=False)
    client_idle_timeout_s: float = Field(60.0, gt=0, le=86400, allow_inf_nan=False)
    client_stalled_read_timeout_s: float = Field(60.0, gt=0, le=86400, allow_inf_nan=False)
    max_client_connections: int = Field(10_000, ge=1, le=1_000_000)
    client_keys_refresh_s: float = Field(30.0, ge=0.05, le=86400, allow_inf_nan=False)
    seed: int = 0

    def routing_policy(self) -> RoutingPolicy:
        return RoutingPolicy(
            breaker=BreakerPolicy(
                consecutive_failures=self.breaker_consecutive_failures,
                error_rate=self.breaker_error_rate,
                window=self.breaker_window,
                min_requests=self.breaker_min_requests,
                open_s=self.breaker_open_s,
                max_open_s=max(self.breaker_max_open_s, self.breaker_open_s),
                half_open_probes=self.breaker_half_open_probes,
            ),
            retry=RetryPolicy(
                max_attempts=self.max_attempts,
                ratio=self.retry_budget_ratio,
                min_per_s=self.retry_budget_min_per_s,
                burst=self.retry_budget_burst,
                backoff_base_s=self.backoff_base_s,
                backoff_max_s=max(self.backoff_max_s, self.backoff_base_s),
            ),
            default_retry_after_s=self.default_retry_after_s,
            max_retry_after_s=self.max_retry_after_s,
        )


class PoolsFile(BaseModel):
    """The whole POOLS.yaml."""

    model_config = _Strict
    models: dict[_Name, _Name] = Field(min_length=1)
    pools: list[PoolEntry] = Field(min_length=1, max_length=10_000)
    settings: GatewaySettings = Field(default_factory=GatewaySettings)


@dataclass(frozen=True, slots=True)
class PlanFacts:
    """What the gateway reads from a plan JSON."""

    workloads: tuple[str, ...]
    offers: tuple[str, ...]
    allocations: tuple[PlanAllocation, ...]


@dataclass(frozen=True, slots=True)
class PoolTransport:
    """How the gateway reaches one pool: address, TLS trust and credential.

    ``credential`` is the preformatted header line (``\r\nname: value``) sent instead of the
    client's ``Authorization``; it never appears in a ``repr``. ``credential_source`` says where
    it came from (``env:NAME`` or ``file:PATH``) for reports, never what it is."""

    host: str
    port: int
    host_header: bytes
    base_path: bytes
    tls: ssl.SSLContext | None = field(default=None, compare=False)
    trust: str | None = None  # "system", "ca_file:PATH" or "unverified" (https only)
    credential: bytes = field(default=b"", repr=False)
    credential_source: str | None = None

    @property
    def pool_key(self) -> tuple[str, int, str | None]:
        """Pools with equal keys can share kept-alive connections."""
        return (self.host, self.port, self.trust)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """A validated POOLS.yaml with its plan: the routing table, the settings and, per pool,
    how to reach it."""

    table: RoutingTable
    settings: GatewaySettings
    pools_file: str
    plan_file: str
    transports: dict[str, PoolTransport] = field(default_factory=dict)
    access: Access = field(default_factory=Access)
    prices: dict[tuple[str | None, str], OfferPrice] = field(default_factory=dict)


def _read_text(path: Path, what: str) -> str:
    return read_text_file(path, limit=MAX_FILE_BYTES, kind=f"a {what}", what=what)


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _number(value: Any, file: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"expected a finite number, got {value!r}", file=file, field=field)
    return float(value)


def load_plan(path: str | Path) -> PlanFacts:
    """Workloads, offers and allocations of a ``chipfolio plan --json`` file."""
    p = Path(path)
    file = str(p)
    try:
        data = json.loads(_read_text(p, "plan JSON"))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", file=file
        ) from exc
    except RecursionError as exc:
        raise InputError("JSON nested too deeply", file=file) from exc
    plan = Plan.from_json(data, file)  # the one reader of plan JSON checks every field
    allocations = tuple(
        PlanAllocation(
            a.workload, a.offer, a.tokens_per_s, a.from_hour, a.to_hour, a.cost_usd, a.vendor
        )
        for a in plan.allocations
    )
    offers = {a.offer for a in plan.allocations}
    workloads = {w.name for w in plan.workloads}
    workloads |= {a.workload for a in plan.allocations if a.workload is not None}
    return PlanFacts(tuple(sorted(workloads)), tuple(sorted(offers)), allocations)


def parse_pools(text: str, file: str) -> PoolsFile:
    """Validate POOLS.yaml text; one-line errors naming the file and field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"not valid YAML: {problem}", file=file, line=line) from exc
    except RecursionError as exc:
        raise InputError("YAML nested too deeply", file=file) from exc
    if not isinstance(data, dict):
        raise InputError("expected a mapping with 'models' and 'pools'", file=file)
    try:
        return PoolsFile.model_validate(data)
    except ValidationError as exc:
        issues = [
            FieldIssue(_field(tuple(e["loc"])), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
        raise SchemaError(file, issues) from exc


def cross_check(pools: PoolsFile, plan: PlanFacts, file: str) -> None:
    """Names in POOLS.yaml must exist in the plan; pool names must be unique."""
    seen: dict[str, int] = {}
    for i, p in enumerate(pools.pools):
        if p.name in seen:
            raise InputError(
                f"duplicate pool name '{p.name}' (first used by pools[{seen[p.name]}])",
                file=file,
                field=f"pools[{i}].name",
            )
        seen[p.name] = i
        if p.workload not in plan.workloads:
            raise UnknownNameError(
                "workload", p.workload, plan.workloads, file=file, field=f"pools[{i}].workload"
            )
        if p.offer not in plan.offers and not p.fallback:
            err = UnknownNameError(
                "offer", p.offer, plan.offers, file=file, field=f"pools[{i}].offer"
            )
            raise InputError(
                f"{err.reason} (not in the plan; set 'fallback: true' to route to it only "
                "when the planned pools cannot take a request)",
                file=file,
                field=f"pools[{i}].offer",
            )
    served = {p.workload for p in pools.pools}
    for model, workload in pools.models.items():
        if workload not in plan.workloads:
            raise UnknownNameError(
                "workload", workload, plan.workloads, file=file, field=f"models.{model}"
            )
        if workload not in served:
            raise InputError(
                f"workload '{workload}' has no pool", file=file, field=f"models.{model}"
            )


def _relative(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p


def _tls_context(
    entry: PoolEntry, i: int, file: str, cache: dict[str, ssl.SSLContext]
) -> tuple[ssl.SSLContext, str]:
    """The pool's TLS context (shared between pools with the same trust) and its trust label."""
    if not entry.tls_verify:
        trust = "unverified"
        log.warning(
            "%s: pool '%s' has tls_verify: false: its certificate is NOT checked, so anyone "
            "on the path can read and change its traffic and its credential",
            file,
            entry.name,
        )
    elif entry.ca_file is not None:
        trust = f"ca_file:{_relative(entry.ca_file, Path(file).parent)}"
    else:
        trust = "system"
    ctx = cache.get(trust)
    if ctx is not None:
        return ctx, trust
    if trust == "unverified":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif trust == "system":
        ctx = ssl.create_default_context()
    else:
        ca = trust.removeprefix("ca_file:")
        where = f"pools[{i}].ca_file"
        if not Path(ca).is_file():
            raise InputError(f"no such file: {ca}", file=file, field=where)
        try:
            ctx = ssl.create_default_context(cafile=ca)
        except (ssl.SSLError, ValueError) as exc:
            raise InputError(
                f"{ca} is not a PEM bundle of CA certificates ({exc})", file=file, field=where
            ) from exc
        except OSError as exc:
            raise InputError(
                f"cannot read {ca}: {exc.strerror or exc}", file=file, field=where
            ) from exc
    ctx.set_alpn_protocols(["http/1.1"])
    cache[trust] = ctx
    return ctx, trust


def _credential(entry: PoolEntry, i: int, file: str) -> tuple[bytes, str | None]:
    """The preformatted credential header line of a pool and where it came from."""
    if entry.api_key_env is not None:
        source = f"env:{entry.api_key_env}"
        where = f"pools[{i}].api_key_env"
        raw = os.environ.get(entry.api_key_env)
        if raw is None or not raw.strip():
            raise InputError(
                f"environment variable {entry.api_key_env} is not set (or empty)",
                file=file,
                field=where,
            )
        key = raw.strip()
    elif entry.api_key_file is not None:
        path = _relative(entry.api_key_file, Path(file).parent)
        source = f"file:{path}"
        where = f"pools[{i}].api_key_file"
        try:
            if path.stat().st_size > MAX_KEY_BYTES:
                raise InputError(f"{path} is larger than a key can be", file=file, field=where)
            key = path.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError as exc:
            raise InputError(f"{path} is not UTF-8 text", file=file, field=where) from exc
        except OSError as exc:
            raise InputError(
                f"cannot read {path}: {exc.strerror or exc}", file=file, field=where
            ) from exc
        if not key:
            raise InputError(f"{path} is empty", file=file, field=where)
    else:
        return b"", None
    if not all(0x21 <= ord(c) <= 0x7E for c in key):
        # never echo the key: say only where it came from and what is wrong with it
        raise InputError(
            f"the key from {source} has characters an HTTP header cannot carry "
            "(spaces, control characters or non-ASCII)",
            file=file,
            field=where,
        )
    header = (entry.api_key_header or "Authorization").lower()
    value = f"Bearer {key}" if header == "authorization" else key
    return b"\r\n" + header.encode() + b": " + value.encode(), source


def resolve_transports(pools: PoolsFile, file: str) -> dict[str, PoolTransport]:
    """Address, TLS context and credential of every pool."""
    out: dict[str, PoolTransport] = {}
    contexts: dict[str, ssl.SSLContext] = {}
    for i, p in enumerate(pools.pools):
        parts = urlsplit(p.url)
        https = parts.scheme == "https"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if https else 80)
        base = parts.path.rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        tls, trust = _tls_context(p, i, file, contexts) if https else (None, None)
        credential, source = _credential(p, i, file)
        out[p.name] = PoolTransport(
            host,
            port,
            parts.netloc.encode("idna"),
            base.encode(),
            tls,
            trust,
            credential,
            source,
        )
    return out


def load_config(
    pools_path: str | Path,
    plan_path: str | Path,
    hour: float = 0.0,
    *,
    client_keys: str | Path | None = None,
    admin_key_file: str | Path | None = None,
    client_keys_db: str | None = None,
) -> GatewayConfig:
    """Read, validate and cross-check both files (and the key files, when given); build the
    routing table."""
    file = str(pools_path)
    pools = parse_pools(_read_text(Path(pools_path), "pools file"), file)
    plan = load_plan(plan_path)
    cross_check(pools, plan, file)
    transports = resolve_transports(pools, file)
    specs = [PoolSpec(p.name, p.workload, p.offer, p.url) for p in pools.pools]
    table = build_routing_table(pools.models, specs, plan.allocations, hour)
    access = load_access(client_keys, admin_key_file, tuple(table.workloads), client_keys_db)
    return GatewayConfig(
        table,
        pools.settings,
        file,
        str(plan_path),
        transports,
        access,
        offer_prices(plan.allocations),
    )
