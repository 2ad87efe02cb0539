"""Settings of one service instance: database URL, limits, workers, where user data lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chipfolio.errors import InputError

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_SCENARIOS = 5_000


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path.expanduser().resolve()}"


def normalize_db_url(url: str) -> str:
    """Accept ``postgresql://`` / ``postgres://`` and use the psycopg (v3) driver for them."""
    url = url.strip()
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("sqlite:///", "postgresql+psycopg://")):
        return url
    raise InputError(
        "expected sqlite:///PATH or postgresql://USER@HOST/DB",
        field="--db",
    )


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """One service instance's settings (built by ``chipfolio serve`` or by tests)."""

    db_url: str
    catalog_home: Path | None = None
    data_dir: Path | None = None
    admin_token: str | None = None
    job_workers: int = 2
    job_processes: int = 0
    max_body_bytes: int = MAX_BODY_BYTES
    max_scenarios: int = MAX_SCENARIOS
    plan_time_limit_s: float = 60.0
    wait_s_max: float = 30.0
    # several instances on one database: a claimed job's lease, renewed every third of it;
    # a job whose instance stops renewing is claimed by another once the lease has run out
    lease_s: float = 30.0
    poll_s: float = 0.5  # how often an instance looks for queued or abandoned jobs
    instance_id: str | None = None  # this instance's name in leases (default: host:pid:random)
    # a verified token is trusted this long, unless a revocation (seen within
    # ``revocation_poll_s`` on every instance) drops the whole cache first
    token_cache_s: float = 60.0
    revocation_poll_s: float = 0.25
    ray_address: str | None = None  # run plan, leverage and simulation jobs on this Ray cluster
