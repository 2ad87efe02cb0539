"""Initial schema: tokens, catalog snapshots, portfolios and versions, jobs, audit log.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _job_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "portfolio_version_id",
            sa.Integer,
            sa.ForeignKey("portfolio_versions.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("error", sa.Text),
        sa.Column("error_details", sa.JSON),
        sa.Column("result_json", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("created_by", sa.String(120), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "catalog_snapshots",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("created", sa.String(10), nullable=False),
        sa.Column("offers", sa.Integer, nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("bundled", sa.Boolean, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_table(
        "portfolios",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
    )
    op.create_table(
        "portfolio_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "portfolio_id",
            sa.Integer,
            sa.ForeignKey("portfolios.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.UniqueConstraint("portfolio_id", "version"),
    )
    op.create_table(
        "plans",
        *_job_columns(),
        sa.Column("catalog_snapshot", sa.String(200)),
        sa.Column("solver", sa.String(64)),
        sa.Column("solver_status", sa.String(64)),
        sa.Column("plan_status", sa.String(32)),
        sa.Column("total_cost_usd", sa.Float),
        sa.Column("solve_seconds", sa.Float),
    )
    op.create_table("leverage_analyses", *_job_columns())
    op.create_table(
        "simulation_runs",
        *_job_columns(),
        sa.Column("scenarios_done", sa.Integer, nullable=False),
        sa.Column("scenarios_total", sa.Integer, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("token_name", sa.String(120), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "audit_log",
        "simulation_runs",
        "leverage_analyses",
        "plans",
        "portfolio_versions",
        "portfolios",
        "catalog_snapshots",
        "api_tokens",
    ):
        op.drop_table(table)
