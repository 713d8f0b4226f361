"""Server-side sessions (登录会话) that can be revoked, and log-in failures per account and address.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

``sessions``: one row per log-in, keyed by the SHA-256 of the random session id the cookie holds (the id
itself is never stored); revoked by log-out, by disabling the user and by a password change.
``login_failures``: failed log-ins per (login name, client address), and per login name (address ``*``),
for the lock-out of :mod:`data.store.users`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SQLITE_DATETIME = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"


def _datetime() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("session_hash", sa.Text(), nullable=False, comment="SHA-256 of the cookie's session id"),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("created_at", _datetime(), nullable=False),
        sa.Column("last_seen_at", _datetime(), nullable=False, comment="written at most once a minute"),
        sa.Column("revoked_at", _datetime(), nullable=True, comment="log-out, disable, password change"),
        sa.Column("via", sa.Text(), nullable=True, comment="password, sso"),
        sa.Column("address", sa.Text(), nullable=True, comment="client address at log-in"),
        sa.PrimaryKeyConstraint("session_hash", name=op.f("pk_sessions")),
        comment="登录会话 (server-side sessions, revocable)",
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_index("ix_sessions_created_at", "sessions", ["created_at"])
    op.create_table(
        "login_failures",
        sa.Column("account", sa.Text(), nullable=False, comment="login name as typed (known or not)"),
        sa.Column("address", sa.Text(), nullable=False, comment="client address; '*' = the whole account"),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_at", _datetime(), nullable=False),
        sa.Column("locked_until", _datetime(), nullable=True, comment="pair locked / account's next check"),
        sa.PrimaryKeyConstraint("account", "address", name=op.f("pk_login_failures")),
        comment="登录失败计数 (lock-out per account and address)",
    )
    op.create_index("ix_login_failures_account_last_at", "login_failures", ["account", "last_at"])


def downgrade() -> None:
    op.drop_table("login_failures")
    op.drop_table("sessions")
