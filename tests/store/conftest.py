"""Store fixtures: every store test runs on both backends, SQLite and a real PostGIS server.

The PostGIS server is private to the test session (``data.store.testing.throwaway_postgis``: initdb into a
temporary folder, a free port, stopped and deleted at the end); it never uses a server somebody started.
It starts only when a ``postgis`` test runs. Without PostgreSQL + PostGIS installed those tests are
skipped, except under ``CI`` where they fail (``scripts/test.sh`` installs the Debian packages).

The tiny demo city (with a fifth of its population, to keep loads short) is loaded once per backend into
a template; a test that writes gets its own copy (a file copy for SQLite, ``CREATE DATABASE … TEMPLATE``
for PostgreSQL).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from data.store import load_layers, open_store
from data.store.testing import PostgresUnavailable, create_database, throwaway_server

BACKENDS = ("sqlite", "postgis")
_counter = itertools.count()


@pytest.fixture(scope="session")
def store_demo(tiny_demo, tmp_path_factory):
    """The tiny demo city's layer files with every fifth person of its population (session)."""
    out = tmp_path_factory.mktemp("store_demo")
    for path in tiny_demo.glob("*.parquet"):
        if path.stem == "population":
            table = pq.read_table(path)
            pq.write_table(table.take(list(range(0, table.num_rows, 5))), out / path.name)
        else:
            shutil.copy(path, out / path.name)
    return out


@contextlib.contextmanager
def _postgis(dbname: str):
    """A throwaway PostgreSQL + PostGIS server; the test is skipped without one (it fails under CI)."""
    stack = contextlib.ExitStack()
    try:
        server = stack.enter_context(throwaway_server(dbname=dbname))
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostGIS store tests need PostgreSQL 15 + PostGIS in CI: {exc}")
        pytest.skip(f"PostgreSQL + PostGIS not available: {exc}")
    with stack:
        yield server


@pytest.fixture(scope="session")
def pg_server():
    """URL of the template database on a throwaway PostgreSQL + PostGIS server (session)."""
    with _postgis("onemap_empty") as server:
        yield server.url


@pytest.fixture(scope="module")
def own_pg_server():
    """A throwaway PostgreSQL + PostGIS server of the test module's own, which its tests may stop and
    start again (:class:`data.store.testing.ThrowawayServer`); its database ``onemap`` is empty."""
    with _postgis("onemap") as server:
        yield server


def _pg_template(pg_server, store_demo, loaded: bool) -> str:
    name = "onemap_loaded" if loaded else "onemap_migrated"
    url = create_database(pg_server, name)
    store = open_store(url)
    if loaded:
        load_layers(store, store_demo)
    store.close()
    return name


def _sqlite_template(tmp_path_factory, store_demo, loaded: bool):
    folder = tmp_path_factory.mktemp("loaded" if loaded else "migrated")
    store = open_store(data_dir=folder)
    if loaded:
        load_layers(store, store_demo)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return folder / "onemap.sqlite"


@pytest.fixture(scope="session")
def templates(request, tmp_path_factory, store_demo):
    """Lazily built templates: (backend, loaded) → SQLite file or PostgreSQL database name."""
    cache: dict = {}

    def get(backend: str, loaded: bool):
        if (backend, loaded) not in cache:
            if backend == "sqlite":
                cache[backend, loaded] = _sqlite_template(tmp_path_factory, store_demo, loaded)
            else:
                pg = request.getfixturevalue("pg_server")
                cache[backend, loaded] = _pg_template(pg, store_demo, loaded)
        return cache[backend, loaded]

    return get


def _copy(request, templates, tmp_path_factory, backend: str, loaded: bool):
    """A fresh store copied from a template, and a function that drops it."""
    template = templates(backend, loaded)
    if backend == "sqlite":
        folder = tmp_path_factory.mktemp("store")
        shutil.copy(template, folder / "onemap.sqlite")
        return open_store(data_dir=folder), lambda: None
    pg = request.getfixturevalue("pg_server")
    name = f"t{next(_counter)}"
    url = create_database(pg, name, template=template)

    def drop():
        admin = sa.create_engine(
            sa.engine.make_url(pg).set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return open_store(url), drop


@pytest.fixture(scope="session", params=BACKENDS)
def loaded(request, templates, tmp_path_factory):
    """A store holding the tiny demo city, shared by the session: tests must only read it."""
    store, drop = _copy(request, templates, tmp_path_factory, request.param, True)
    yield store
    store.close()
    drop()


@pytest.fixture(params=BACKENDS)
def store(request, templates, tmp_path_factory):
    """A store of its own holding the tiny demo city (tests may write)."""
    store, drop = _copy(request, templates, tmp_path_factory, request.param, True)
    yield store
    store.close()
    drop()


@pytest.fixture(params=BACKENDS)
def empty_store(request, templates, tmp_path_factory):
    """A store of its own with the schema and no rows."""
    store, drop = _copy(request, templates, tmp_path_factory, request.param, False)
    yield store
    store.close()
    drop()


@pytest.fixture(params=BACKENDS)
def store_url(request, templates, tmp_path_factory):
    """URL of a loaded store of its own, for tests that open several connections or processes."""
    store, drop = _copy(request, templates, tmp_path_factory, request.param, True)
    url = store.engine.url.render_as_string(hide_password=False)
    store.close()
    yield url
    drop()
