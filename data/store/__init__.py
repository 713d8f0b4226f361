"""The store (数据存储): one interface for every read and write of the app and the models.

Embedded by default: a SQLite file in WAL mode beside the GeoParquet layers (``<data_dir>/onemap.sqlite``),
no server needed. In production: PostgreSQL + PostGIS, chosen by ``ONEMAP_DATABASE_URL``
(:data:`data.settings.DATABASE_URL`). The schema is created and upgraded by Alembic migrations
(``data/store/migrations``) when the store is opened.

>>> store = open_store(data_dir="var/demo")          # doctest: +SKIP
>>> load_layers(store, "var/demo")                   # doctest: +SKIP
>>> store.aggregate_incidents("320612", "2026-10-01", "2026-10-31", by="day")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from data import settings
from data.store.base import (
    LEVELS,
    NotFoundError,
    Page,
    Scope,
    StaleVersionError,
    Store,
    StoreError,
    UnknownUnitError,
)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_NAME = "onemap.sqlite"

__all__ = [
    "LEVELS",
    "MIGRATIONS_DIR",
    "SQLITE_NAME",
    "NotFoundError",
    "Page",
    "Scope",
    "StaleVersionError",
    "Store",
    "StoreError",
    "TransitionError",
    "UnknownUnitError",
    "load_layers",
    "open_store",
]


def open_store(url: str | None = None, data_dir: str | Path | None = None, *, migrate: bool = True) -> Store:
    """Open the store, creating or upgrading its schema.

    Parameters
    ----------
    url : str, optional
        Database URL: ``postgresql://…`` for PostGIS, ``sqlite:///…`` for a SQLite file. Default
        :data:`data.settings.DATABASE_URL` (``ONEMAP_DATABASE_URL``); when that is empty too, the
        embedded store ``<data_dir>/onemap.sqlite``.
    data_dir : str or Path, optional
        Folder of the layers for the embedded store (default :data:`data.settings.DATA_DIR`).
    migrate : bool
        Run ``alembic upgrade head`` (default True).

    Returns
    -------
    Store
        A :class:`~data.store.sqlite.SQLiteStore` or :class:`~data.store.postgis.PostGISStore`; open it
        once and share it (it is thread-safe), ``close()`` when done.
    """
    from data.store.postgis import PostGISStore
    from data.store.sqlite import SQLiteStore

    url = settings.DATABASE_URL if url is None else url
    if not url:
        folder = Path(settings.DATA_DIR if data_dir is None else data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        store: Store = SQLiteStore.from_path(folder / SQLITE_NAME)
    elif url.startswith("sqlite"):
        store = SQLiteStore(url)
    elif url.startswith(("postgresql", "postgres:")):
        store = PostGISStore(url)
    else:
        raise ValueError(f"unsupported database URL {url!r}: use postgresql://… or sqlite:///…")
    if migrate:
        try:
            store.migrate()
        except Exception:
            store.close()
            raise
    return store


def __getattr__(name: str):
    # lazy: keeps `import data.store` light and avoids an import cycle with workflow/load
    if name == "load_layers":
        from data.store.load import load_layers

        return load_layers
    if name == "TransitionError":
        from data.store.workflow import TransitionError

        return TransitionError
    raise AttributeError(name)
