"""Alembic environment of the store (数据库迁移).

``open_store`` runs ``upgrade head`` programmatically and hands over its connection in
``config.attributes["connection"]``. Run by hand, it connects to ``sqlalchemy.url`` of the Alembic
config, else to ``data.settings.DATABASE_URL``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from data import settings
from data.store.tables import metadata

config = context.config


def _include_name(name, type_, parent_names) -> bool:
    # SQLite R*Tree virtual tables (and their shadow tables) and PostGIS' own tables are not ours.
    if type_ == "table":
        return not (name.startswith("rtree_") or name in ("spatial_ref_sys",))
    if type_ == "index":  # GiST indexes ix_<layer>_geometry, made by the migrations for PostGIS only
        return not name.endswith("_geometry")
    return True


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=_include_name,
        compare_type=False,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # two processes opening the store at once: the second waits, then finds the schema current
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(47110815)")
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or settings.DATABASE_URL
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
