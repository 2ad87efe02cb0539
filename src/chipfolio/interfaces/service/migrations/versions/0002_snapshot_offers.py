"""Catalog snapshots keep their offers (the stored CSV text and its SHA-256) in the database.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_snapshots") as batch:
        batch.add_column(sa.Column("offers_csv", sa.Text))
        batch.add_column(sa.Column("offers_sha256", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("catalog_snapshots") as batch:
        batch.drop_column("offers_sha256")
        batch.drop_column("offers_csv")
