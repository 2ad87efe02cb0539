"""Job leases (which instance runs a job, until when) and the token revocation epoch.

Several service instances share one database: an instance claims a queued job by writing its
id into ``lease_owner`` and a deadline into ``lease_expires_at``, renews the deadline while it
computes, and a job whose deadline has passed may be claimed by another instance.
``service_epochs`` holds counters that instances poll; ``tokens`` grows by one at each
revocation, so every instance drops its token cache within its poll interval.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JOB_TABLES = ("plans", "leverage_analyses", "simulation_runs")


def upgrade() -> None:
    for table in JOB_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lease_owner", sa.String(120)))
            batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True)))
            batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "service_epochs",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(
        sa.table("service_epochs", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "tokens", "value": 0}],
    )


def downgrade() -> None:
    op.drop_table("service_epochs")
    for table in JOB_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("attempts")
            batch.drop_column("lease_expires_at")
            batch.drop_column("lease_owner")
