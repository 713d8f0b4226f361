"""Schema and migrations of the store: Alembic builds what tables.py declares, on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from data import settings
from data.store import SQLITE_NAME, open_store
from data.store import tables as T
from data.store.postgis import PostGISStore, normalise_url
from data.store.sqlite import SQLiteStore


def _ours(name, type_, parent_names):
    # R*Tree tables and GiST indexes are made by the migration outside the metadata (backend-specific)
    if type_ == "table":
        return not (name.startswith("rtree_") or name in ("spatial_ref_sys", "alembic_version"))
    if type_ == "index":
        return not name.endswith("_geometry")
    return True


def test_migrated_schema_matches_tables_py(empty_store):
    with empty_store.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_name": _ours, "compare_type": False, "target_metadata": T.metadata}
        )
        diffs = compare_metadata(ctx, T.metadata)
    assert diffs == []


def test_every_layer_has_a_table_with_its_columns(empty_store):
    insp = sa.inspect(empty_store.engine)
    names = set(insp.get_table_names())
    for layer, tbl in T.LAYER_TABLES.items():
        assert layer in names
        assert {c["name"] for c in insp.get_columns(layer)} == {c.name for c in tbl.columns}


def test_spatial_indexes_exist(empty_store):
    with empty_store.engine.connect() as conn:
        if empty_store.backend == "sqlite":
            rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE name LIKE 'rtree_%'").all()
            virtual = {n for n, sql in rows if sql and "USING rtree" in sql}
            assert virtual == {f"rtree_{name}" for name in T.geometry_layers()}
        else:
            rows = conn.execute(
                sa.text("SELECT tablename FROM pg_indexes WHERE indexdef ILIKE :gist"),
                {"gist": "%USING gist (geometry)%"},
            ).all()
            assert {r[0] for r in rows} == set(T.geometry_layers())
            srid = conn.exec_driver_sql(
                "SELECT srid, type FROM geometry_columns WHERE f_table_name = 'incidents'"
            ).one()
            assert tuple(srid) == (4326, "POINT")


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from data.store import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_open_twice_is_a_no_op(empty_store):
    url = empty_store.engine.url.render_as_string(hide_password=False)
    again = open_store(url)
    try:
        with again.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == _head()
    finally:
        again.close()


@pytest.mark.parametrize("table", T.APPEND_ONLY)
def test_append_only_tables_refuse_update_and_delete(empty_store, table):
    empty_store.append_audit("admin", "unmask", "population:P1", reason="test")
    if table == "work_order_events":
        with empty_store.begin() as conn:
            conn.execute(
                sa.insert(T.work_orders).values(
                    order_id="W1",
                    kind="派单",
                    grid_code="320612001001001",
                    state="待签收",
                    severity="中",
                    created_at=dt.datetime(2026, 10, 1),
                    deadline=dt.datetime(2026, 10, 2),
                    summary="x",
                )
            )
            conn.execute(
                sa.insert(T.work_order_events).values(
                    order_id="W1", to_state="待签收", actor="a", at=dt.datetime(2026, 10, 1), version=1
                )
            )
    tbl = T.TABLES[table]
    for stmt in (sa.update(tbl).values(actor="intruder"), sa.delete(tbl)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), empty_store.begin() as conn:
            conn.execute(stmt)
    with empty_store.engine.connect() as conn:
        rows = conn.execute(sa.select(tbl.c.actor)).scalars().all()
    assert rows and "intruder" not in rows


def test_default_store_is_sqlite_beside_the_layers(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "DATABASE_URL", "")
    store = open_store(data_dir=tmp_path)
    try:
        assert isinstance(store, SQLiteStore)
        assert store.path == (tmp_path / SQLITE_NAME).resolve()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        store.close()


def test_database_url_setting_chooses_the_backend(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite'}")
    store = open_store(migrate=False)
    assert isinstance(store, SQLiteStore) and store.path.name == "x.sqlite"
    store.close()
    pg = open_store("postgresql://u:p@127.0.0.1:1/db", migrate=False)
    assert isinstance(pg, PostGISStore) and pg.engine.url.drivername == "postgresql+psycopg"
    pg.close()
    assert normalise_url("postgres://h/db") == "postgresql+psycopg://h/db"
    with pytest.raises(ValueError, match="unsupported database URL"):
        open_store("mysql://h/db")
