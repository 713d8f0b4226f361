"""Local users (用户): login name, role, the unit they are scoped to, salted scrypt hash, lock-out state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SQLITE_DATETIME = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"


def _datetime() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", sa.Text(), nullable=False, comment="登录名"),
        sa.Column("name", sa.Text(), nullable=True, comment="姓名"),
        sa.Column("role", sa.Text(), nullable=False, comment="角色 (data.access.ROLES)"),
        sa.Column("unit_code", sa.Text(), nullable=True, comment="管辖单元 (either hierarchy)"),
        sa.Column("staff_id", sa.Text(), nullable=True, comment="对应的网格员/民警"),
        sa.Column("password_hash", sa.Text(), nullable=False, comment="scrypt, salted"),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", _datetime(), nullable=True),
        sa.Column("created_at", _datetime(), nullable=False),
        sa.Column("last_login_at", _datetime(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
        comment="用户 (本地账号)",
    )


def downgrade() -> None:
    op.drop_table("users")
