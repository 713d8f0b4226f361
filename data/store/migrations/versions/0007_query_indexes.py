"""Indexes on the columns store queries filter or join on that had none (issue 16).

- ``work_orders.warning_id``: :func:`data.store.workflow.push_warnings` looks for warnings without an order
  (``NOT EXISTS … work_orders.warning_id = warnings.warning_id``); without it each push scanned every order
  once per warning (66 K warnings × 112 K orders on the full demo).
- ``incidents (category, occurred_at)``: non-police diversion (非警务分流) and the map's category filter.
- ``warnings (created_at, warning_id)``: warnings of a period for the whole city, newest first.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_work_orders_warning_id", "work_orders", ["warning_id"]),
    ("ix_incidents_category_occurred_at", "incidents", ["category", "occurred_at"]),
    ("ix_warnings_created_at_warning_id", "warnings", ["created_at", "warning_id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
