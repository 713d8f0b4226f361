"""The client's request id (客户端请求号) of a work-order move, so that a retried move is recognised by it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN in both databases (a batch rebuild would drop the append-only triggers)
    op.add_column(
        "work_order_events",
        sa.Column("client_id", sa.Text(), nullable=True, comment="客户端请求号 (retries of this move)"),
    )


def downgrade() -> None:
    with op.batch_alter_table("work_order_events") as batch:
        batch.drop_column("client_id")
