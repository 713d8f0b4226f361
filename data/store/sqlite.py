"""The embedded store (嵌入式存储): one SQLite file in WAL mode beside the GeoParquet layers, no server.

Geometry is kept as WKB blobs. Each geometry layer has an R*Tree virtual table ``rtree_<layer>`` (built into
SQLite) holding the bounding box of every row under the row's ``rowid``: spatial queries first select the
candidate rowids from the R*Tree in SQL, then shapely applies the exact predicate to those few rows.

Writers take the write lock when their transaction begins (``BEGIN IMMEDIATE``): two writers queue (up to
the busy timeout) instead of one of them failing half-way; readers never wait in WAL mode.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
import sqlalchemy as sa

from data.private import make_private
from data.schema import LAYERS
from data.store import tables as T
from data.store.base import Store

BUSY_TIMEOUT_S = 60


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteStore(Store):
    """The store in one SQLite file.

    Parameters
    ----------
    url : str
        ``sqlite:///path/to/onemap.sqlite``.
    """

    backend = "sqlite"

    def __init__(self, url: str) -> None:
        engine = sa.create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
            pool_size=8,
            max_overflow=16,
        )
        sa.event.listen(engine, "connect", _on_connect)
        sa.event.listen(engine, "begin", _on_begin)
        super().__init__(engine)

    @classmethod
    def from_path(cls, path: str | Path) -> SQLiteStore:
        """The store in the SQLite file ``path`` (created when missing)."""
        return cls(f"sqlite:///{Path(path).resolve()}")

    @property
    def path(self) -> Path:
        """The database file."""
        return Path(self.engine.url.database)

    # ------------------------------------------------------------------ expressions
    def _geom_out(self, col):
        return col

    def _geom_in(self, wkb):
        return wkb

    def _time_out(self, col):
        # raw ISO text, parsed in one vectorised call instead of one Python datetime per value
        return sa.type_coerce(col, sa.Text)

    def _unindexed(self, col):
        # an expression (`col || ''`) is never looked up in an index; SQLite's planner cannot know that a
        # unit's 2,000 grids hold a seventh of a 1.6 M-row table and would collect and sort all its rows
        return col.concat("")

    def _day(self, col):
        return sa.func.substr(col, 1, 10)

    def _month(self, col):
        return sa.func.substr(col, 1, 7)

    def _hour(self, col):
        return sa.cast(sa.func.substr(col, 12, 2), sa.Integer)

    def _codes_in(self, col, codes: Sequence[str]):
        values = sa.func.json_each(sa.literal(json.dumps(list(codes)), sa.Text)).table_valued("value")
        return col.in_(sa.select(values.c.value))

    @staticmethod
    def _rtree(tbl: sa.Table) -> sa.TableClause:
        return sa.table(
            f"rtree_{tbl.name}",
            sa.column("id"),
            sa.column("minx"),
            sa.column("maxx"),
            sa.column("miny"),
            sa.column("maxy"),
        )

    def _spatial_conds(self, tbl, bbox, geom) -> list:
        boxes = ([bbox] if bbox is not None else []) + ([shapely.bounds(geom)] if geom is not None else [])
        if not boxes:
            return []
        minx, miny = max(b[0] for b in boxes), max(b[1] for b in boxes)
        maxx, maxy = min(b[2] for b in boxes), min(b[3] for b in boxes)
        rt = self._rtree(tbl)
        hits = sa.select(rt.c.id).where(
            rt.c.maxx >= minx, rt.c.minx <= maxx, rt.c.maxy >= miny, rt.c.miny <= maxy
        )
        return [sa.literal_column(f"{_quote(tbl.name)}.rowid").in_(hits)]

    def _exact_filter(self, frame, bbox, geom):
        if not len(frame) or (bbox is None and geom is None):
            return frame
        keep = np.ones(len(frame), dtype=bool)
        values = frame.geometry.array
        if bbox is not None:
            keep &= shapely.intersects(np.asarray(values), shapely.box(*bbox))
        if geom is not None:
            shapely.prepare(geom)
            keep &= shapely.intersects(geom, np.asarray(values))
        return frame[keep].reset_index(drop=True)

    # ------------------------------------------------------------------ loading
    def _max_rowid(self, conn, tbl) -> int:
        return conn.exec_driver_sql(f"SELECT coalesce(max(rowid), 0) FROM {_quote(tbl.name)}").scalar_one()

    def _clear(self, conn, tbl) -> None:
        conn.execute(sa.delete(tbl))
        if "geometry" in tbl.c:
            conn.exec_driver_sql(f"DELETE FROM {_quote('rtree_' + tbl.name)}")

    def _insert_arrow(self, conn, tbl, data: pa.Table, first_rowid: int) -> int:
        n = data.num_rows
        columns = []
        for name in data.column_names:
            arr = data.column(name)
            if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
                # timestamp[s] → 'YYYY-MM-DD HH:MM:SS', date32 → 'YYYY-MM-DD': the text SQLAlchemy binds
                arr = pc.cast(arr, pa.string())
            columns.append(arr.to_pylist())
        rowids = range(first_rowid + 1, first_rowid + n + 1)
        names = ", ".join(["rowid", *(_quote(c) for c in data.column_names)])
        marks = ", ".join("?" * (len(columns) + 1))
        sql = f"INSERT INTO {_quote(tbl.name)} ({names}) VALUES ({marks})"
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.executemany(sql, zip(rowids, *columns, strict=True))
            if "geometry" in data.column_names:
                geoms = shapely.from_wkb(np.asarray(data.column("geometry").to_pylist(), dtype=object))
                self._index_bounds(cursor, tbl, np.asarray(rowids), geoms)
        finally:
            cursor.close()
        return n

    def _index_bounds(self, cursor, tbl, rowids: np.ndarray, geoms: np.ndarray) -> None:
        bounds = shapely.bounds(geoms)
        ok = ~np.isnan(bounds).any(axis=1)
        b = bounds[ok]
        rows = zip(
            rowids[ok].tolist(),
            b[:, 0].tolist(),
            b[:, 2].tolist(),
            b[:, 1].tolist(),
            b[:, 3].tolist(),
            strict=True,
        )
        cursor.executemany(
            f"INSERT INTO {_quote('rtree_' + tbl.name)} (id, minx, maxx, miny, maxy) VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    def _after_insert_rows(self, conn, tbl, keys: list[str]) -> None:
        if "geometry" not in tbl.c or not keys:
            return
        key = tbl.c[LAYERS[tbl.name].key]
        rows = conn.execute(
            sa.select(sa.literal_column("rowid"), tbl.c.geometry).where(
                key.in_(keys), tbl.c.geometry.is_not(None)
            )
        ).all()
        if rows:
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                ids = np.array([r[0] for r in rows])
                geoms = shapely.from_wkb(np.array([r[1] for r in rows], dtype=object))
                self._index_bounds(cursor, tbl, ids, geoms)
            finally:
                cursor.close()

    def _assign_grids(self, conn, layer: str) -> int:
        """Point-in-polygon with a shapely STRtree over the grids (the smallest grid code wins a tie)."""
        tbl = T.LAYER_TABLES[layer]
        p = conn.execute(sa.select(sa.literal_column("rowid"), tbl.c.geometry)).all()
        if not p:
            return 0
        locate = self._grid_locator(conn)
        found = locate(pa.table({"geometry": pa.array([r[1] for r in p], pa.binary())}))
        rowids = [r[0] for r in p]
        conn.exec_driver_sql(
            f"UPDATE {_quote(layer)} SET grid_code = ? WHERE rowid = ?",
            list(zip(found.tolist(), rowids, strict=True)),
        )
        return int(sum(v is not None for v in found))

    def _key_ordered(self, stmt, tbl):
        # incident_counts is a WITHOUT ROWID table: rows in key order append to its B-tree
        return stmt.order_by(*stmt.selected_columns[: len(tbl.primary_key.columns)])

    def _analyze(self, conn, names) -> None:
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        for name in names:
            conn.exec_driver_sql(f"ANALYZE {_quote(name)}")


def _on_connect(dbapi_connection, _record) -> None:
    # transactions are begun explicitly in _on_begin (pysqlite's own BEGIN handling is turned off)
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    # personal data: the file readable by its owner only, before the WAL and shared-memory files are
    # made (SQLite gives them the database file's permissions); existing ones are tightened too
    for _seq, name, file in cur.execute("PRAGMA database_list").fetchall():
        if name == "main" and file:
            make_private(file, f"{file}-wal", f"{file}-shm")
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "recursive_triggers=ON",  # a REPLACE fires delete triggers too (revision 0004 refuses it anyway)
        f"busy_timeout={BUSY_TIMEOUT_S * 1000}",
        "cache_size=-131072",
        "mmap_size=1073741824",
        "temp_store=MEMORY",
    ):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _on_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("onemap_write") else "BEGIN")
