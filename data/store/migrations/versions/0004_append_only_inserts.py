"""Append-only tables refuse an insert whose key exists (no rewrite through ``REPLACE``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

SQLite's ``INSERT OR REPLACE`` / ``REPLACE`` deletes the row holding the key and inserts the new one
without firing the ``BEFORE DELETE`` trigger of revision 0001 (delete triggers fire on a replacement only
while ``recursive_triggers`` is on): an audit entry (审计日志) or a work-order event could be rewritten
in place. A ``BEFORE INSERT`` trigger now refuses any insert naming a key that exists, whatever its
conflict clause (``OR REPLACE``, ``OR IGNORE``, ``ON CONFLICT DO UPDATE``). PostgreSQL has no ``REPLACE``
and its ``ON CONFLICT DO UPDATE`` fires the statement-level ``UPDATE`` trigger of revision 0001 already;
the same row-level refusal is added there too, so that both stores hold the same rule.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Append-only table → its key column.
KEYS = {"work_order_events": "event_id", "audit_log": "audit_id"}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name, key in KEYS.items():
            op.execute(
                f"CREATE TRIGGER {name}_no_replace BEFORE INSERT ON {name} "
                f"WHEN EXISTS (SELECT 1 FROM {name} WHERE {key} = NEW.{key}) "
                f"BEGIN SELECT RAISE(ABORT, '{name} is append-only'); END"
            )
    elif dialect == "postgresql":
        for name, key in KEYS.items():
            op.execute(
                f"CREATE FUNCTION {name}_no_replace() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN IF EXISTS (SELECT 1 FROM {name} WHERE {key} = NEW.{key}) THEN "
                f"RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END IF; RETURN NEW; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name}_no_replace BEFORE INSERT ON {name} "
                f"FOR EACH ROW EXECUTE FUNCTION {name}_no_replace()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in KEYS:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {name}_no_replace")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name}_no_replace ON {name}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}_no_replace()")
