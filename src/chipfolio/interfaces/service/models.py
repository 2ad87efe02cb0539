"""The database tables, as SQLAlchemy 2 declarative classes (the schema is in migrations/)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Role(StrEnum):
    """What a token may do: read (viewer), also run analyses (planner), also admin."""

    VIEWER = "viewer"
    PLANNER = "planner"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"viewer": 0, "planner": 1, "admin": 2}[self.value]


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


class JobKind(StrEnum):
    PLAN = "plan"
    LEVERAGE = "leverage"
    SIMULATION = "simulation"


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CatalogSnapshot(Base):
    __tablename__ = "catalog_snapshots"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    created: Mapped[str] = mapped_column(String(10))
    offers: Mapped[int] = mapped_column(Integer)
    sources: Mapped[list[str]] = mapped_column(JSON)
    bundled: Mapped[bool]
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    offers_csv: Mapped[str | None] = mapped_column(Text, nullable=True)
    offers_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PortfolioRow(Base):
    __tablename__ = "portfolios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))


class PortfolioVersion(Base):
    """One immutable version of a portfolio: its text exactly as submitted."""

    __tablename__ = "portfolio_versions"
    __table_args__ = (UniqueConstraint("portfolio_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))


class JobRow(Base):
    """Columns every background job shares: inputs, status, result and timing."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portfolio_version_id: Mapped[int] = mapped_column(
        ForeignKey("portfolio_versions.id", ondelete="RESTRICT")
    )
    options: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_details: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_by: Mapped[str] = mapped_column(String(120))
    # which service instance runs the job, and until when its claim holds (renewed while it runs)
    lease_owner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class PlanRow(JobRow):
    __tablename__ = "plans"

    catalog_snapshot: Mapped[str | None] = mapped_column(String(200), nullable=True)
    solver: Mapped[str | None] = mapped_column(String(64), nullable=True)
    solver_status: Mapped[str | None] = mapped_column(String(64), nullable=True)
    plan_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    total_cost_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    solve_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)


class LeverageRow(JobRow):
    __tablename__ = "leverage_analyses"


class SimulationRow(JobRow):
    __tablename__ = "simulation_runs"

    scenarios_done: Mapped[int] = mapped_column(Integer, default=0)
    scenarios_total: Mapped[int] = mapped_column(Integer)


JOB_TABLES: dict[JobKind, type[JobRow]] = {
    JobKind.PLAN: PlanRow,
    JobKind.LEVERAGE: LeverageRow,
    JobKind.SIMULATION: SimulationRow,
}


class ServiceEpoch(Base):
    """A counter instances poll: ``tokens`` grows at each revocation (caches are dropped)."""

    __tablename__ = "service_epochs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    token_name: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, object]] = mapped_column(JSON)
