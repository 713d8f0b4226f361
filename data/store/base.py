"""The store interface (数据存储接口): every read and write of the app and the models goes through it.

:class:`Store` holds the queries, written once in SQLAlchemy Core with bound parameters only (no value is
ever formatted into SQL text); the two backends fill in what differs: :class:`data.store.sqlite.SQLiteStore`
(embedded, the default) and :class:`data.store.postgis.PostGISStore` (production).

Units and scopes. A *unit* is a code of either hierarchy (county, township, village, grid; bureau, station,
district, or the city) or a :class:`geo.units.Unit`; it selects the grids below it through the
``grid_units`` table. A *scope* (权限范围) limits any query to what a user may see: ``None`` (everything),
a unit, or a collection of grid codes; an empty collection sees nothing (default deny). Both become
``grid_code IN (SELECT grid_code FROM grid_units WHERE ...)`` in the SQL the database runs, so rows outside
the scope never leave the database.

Dates. ``start`` and ``end`` are days, both included: ``start=2026-10-01, end=2026-10-31`` is October.
Times are naive local time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
import sqlalchemy as sa

from data.schema import INCIDENT_CATEGORIES, LAYERS, SEVERITIES, STORAGE_CRS
from data.store import tables as T
from data.store._arrow import frame_to_arrow, shape_batch
from geo.units import LEVEL_COLUMN, Unit

__all__ = [
    "LEVELS",
    "NotFoundError",
    "Page",
    "Scope",
    "StaleVersionError",
    "Store",
    "StoreError",
    "UnknownUnitError",
    "is_unavailable",
]

#: Unit levels of both hierarchies, each a column of ``grid_units``.
LEVELS = ("city", "county", "township", "village", "grid", "bureau", "station", "district")
_CHAINS = (
    ("city", "county", "township", "village", "grid"),
    ("city", "bureau", "station", "district", "grid"),
)
#: Level of the ``incident_counts`` rows counting incidents outside every known grid.
OUTSIDE = "outside"
#: Levels with rows of their own in ``incident_counts`` (see :data:`data.store.derived.ROLLUP_STEPS`).
COUNTED_LEVELS = ("grid", "township", "county", "city", "station", "bureau")
#: Time dimensions an aggregate can be grouped by.
TIME_DIMS = ("day", "month", "hour", "weekday")
_FILL_LIMIT = 2_000_000
MAX_PAGE_SIZE = 10_000

Scope = str | Unit | Iterable[str] | None


class StoreError(RuntimeError):
    """A store operation failed (the message says which and why)."""


class UnknownUnitError(LookupError):
    """A unit code that is in neither hierarchy."""


class NotFoundError(LookupError):
    """A record (e.g. a work order) that does not exist."""


class LimitReachedError(StoreError):
    """An actor already has as many audit entries of an action in the window as allowed (限额已满)."""

    def __init__(self, actor: str, action: str, at_most: int, window: dt.timedelta) -> None:
        super().__init__(f"{actor} already has {at_most} {action} entries in the last {window} (已达上限)")
        self.actor, self.action, self.at_most, self.window = actor, action, at_most, window


class StaleVersionError(StoreError):
    """Somebody else changed the record since it was read (optimistic locking): reload and retry."""

    def __init__(self, order_id: str, expected: int | None, actual: int, state: str) -> None:
        super().__init__(
            f"work order {order_id} was changed by someone else (expected version {expected}, it is now "
            f"version {actual} in state {state}); reload it and try again (请刷新后重试)"
        )
        self.order_id, self.expected, self.actual, self.state = order_id, expected, actual, state


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached or is busy for now (数据暂不可用).

    The server stopped or restarting, a connection cut under a query, no free connection in the pool, a
    locked SQLite file: asking again later may succeed, so callers show a "try again" message (and the
    API answers ``503``) instead of failing with an internal error. Bugs (SQL errors, constraint
    violations, bad values) are not such errors.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    bool
    """
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError)


@dataclass
class Page:
    """One page of records: the rows, the total count (``None`` when not counted) and the position."""

    frame: pd.DataFrame
    total: int | None
    page: int
    page_size: int

    @property
    def pages(self) -> int | None:
        """Number of pages, ``None`` when the total was not counted."""
        return None if self.total is None else max(1, math.ceil(self.total / self.page_size))


def day_bounds(start: Any = None, end: Any = None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``[start 00:00, end + 1 day 00:00)``: the half-open time range of the days start..end."""
    lo = pd.Timestamp(start).normalize().to_pydatetime() if start is not None else None
    hi = (pd.Timestamp(end).normalize() + pd.Timedelta(days=1)).to_pydatetime() if end is not None else None
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError(f"end {end} is before start {start}")
    return lo, hi


def _dims(by: str | Sequence[str] | None) -> tuple[str, ...]:
    if by is None:
        return ()
    return (by,) if isinstance(by, str) else tuple(by)


def _is_below(parent: str, child: str) -> bool:
    return any(parent in c and child in c and c.index(child) > c.index(parent) for c in _CHAINS)


def evidence_key(model_id: str, evidence_ids: str | None, grid_code: str | None) -> str:
    """Stable key of a warning's evidence: SHA-1 of the sorted evidence ids (else of the grid code)."""
    ids = sorted({s for s in str(evidence_ids or "").split(";") if s})
    basis = ";".join(ids) if ids else f"grid:{grid_code}"
    return hashlib.sha1(f"{model_id}|{basis}".encode()).hexdigest()


def _join_ids(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        items = value.split(";")
    else:
        items = [str(v) for v in value]
    items = sorted({s.strip() for s in items if s and s.strip()})
    return ";".join(items) or None


class Store:
    """Reads and writes of the product over one SQLAlchemy engine; thread-safe, open once and share.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Engine of the database (made by :func:`data.store.open_store`).
    """

    backend: ClassVar[str] = "abstract"

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ lifecycle
    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.engine.url.render_as_string(hide_password=True)}>"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def migrate(self) -> str | None:
        """Bring the schema to the newest Alembic revision (``alembic upgrade head``).

        Returns
        -------
        str or None
            The revision the database is at afterwards.
        """
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        from data.store import MIGRATIONS_DIR

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.connect() as conn:
            conn = conn.execution_options(onemap_write=True)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
            return MigrationContext.configure(conn).get_current_revision()

    @contextlib.contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection for reads (one consistent snapshot until it is closed)."""
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A write transaction: committed when the block ends, rolled back entirely on any error.

        In SQLite it takes the write lock at once (``BEGIN IMMEDIATE``), so two writers queue instead of
        failing half-way; in PostgreSQL rows read ``FOR UPDATE`` are locked until the end.
        """
        with self.engine.connect() as conn:
            conn = conn.execution_options(onemap_write=True)
            with conn.begin():
                yield conn

    # ------------------------------------------------------------------ backend hooks
    def _geom_out(self, col: sa.ColumnElement) -> sa.ColumnElement:
        """Expression selecting a geometry column as WKB."""
        raise NotImplementedError

    def _geom_in(self, wkb: bytes | None) -> Any:
        """Value or expression to store one WKB geometry."""
        raise NotImplementedError

    def _spatial_conds(self, tbl: sa.Table, bbox, geom) -> list:
        """Conditions keeping rows whose geometry may intersect ``bbox``/``geom`` (pushed into SQL)."""
        raise NotImplementedError

    def _exact_filter(self, frame: gpd.GeoDataFrame, bbox, geom) -> gpd.GeoDataFrame:
        """The exact predicate, for backends whose SQL filter is only a bounding-box prefilter."""
        return frame

    def _day(self, col: sa.ColumnElement) -> sa.ColumnElement:
        raise NotImplementedError

    def _month(self, col: sa.ColumnElement) -> sa.ColumnElement:
        raise NotImplementedError

    def _hour(self, col: sa.ColumnElement) -> sa.ColumnElement:
        """Hour of day (0–23) of a datetime column, as an integer."""
        return sa.cast(sa.extract("hour", col), sa.Integer)

    def _codes_in(self, col: sa.ColumnElement, codes: Sequence[str]) -> sa.ColumnElement:
        """``col IN codes`` as one bound parameter, whatever the number of codes."""
        raise NotImplementedError

    def _time_out(self, col: sa.ColumnElement) -> sa.ColumnElement:
        return col

    def _unindexed(self, col: sa.ColumnElement) -> sa.ColumnElement:
        """``col`` in a form the planner will not look up in an index (PostgreSQL chooses well alone)."""
        return col

    def _insert_arrow(self, conn: sa.Connection, tbl: sa.Table, data: pa.Table, first_rowid: int) -> int:
        raise NotImplementedError

    def _clear(self, conn: sa.Connection, tbl: sa.Table) -> None:
        raise NotImplementedError

    def _empty(self, conn: sa.Connection, tbl: sa.Table) -> None:
        """Remove every row of a derived table (PostgreSQL: TRUNCATE, leaving no dead rows behind)."""
        conn.execute(sa.delete(tbl))

    def _max_rowid(self, conn: sa.Connection, tbl: sa.Table) -> int:
        return 0

    def _after_insert_rows(self, conn: sa.Connection, tbl: sa.Table, keys: list[str]) -> None:
        """Index maintenance after inserting single rows (SQLite: their R*Tree entries)."""

    def _drop_indexes(self, conn: sa.Connection, tbl: sa.Table) -> None:
        for idx in tbl.indexes:
            idx.drop(conn)

    def _create_indexes(self, conn: sa.Connection, tbl: sa.Table) -> None:
        for idx in tbl.indexes:
            idx.create(conn)

    def _assign_grids(self, conn: sa.Connection, layer: str) -> int:
        """Fill the derived ``grid_code`` of a point layer by point-in-polygon against the grids."""
        raise NotImplementedError

    def _analyze(self, conn: sa.Connection, names: Sequence[str]) -> None:
        raise NotImplementedError

    def _lock_exclusive(self, conn: sa.Connection, tbl: sa.Table) -> None:
        """Keep other writers out of ``tbl`` until the transaction ends (SQLite: the write lock does)."""

    def _tune_maintenance(self, conn: sa.Connection) -> None:
        """Session settings for bulk maintenance inside the current transaction (e.g. sort memory)."""

    def _key_ordered(self, stmt: sa.Select, tbl: sa.Table) -> sa.Select:
        """``stmt`` as inserted into ``tbl`` during a rebuild (SQLite: sorted by the key, see sqlite.py)."""
        return stmt

    @contextlib.contextmanager
    def _rebuilding(self, conn: sa.Connection, tbl: sa.Table) -> Iterator[None]:
        """Empty ``tbl`` for a rebuild in bulk (PostgreSQL drops and rebuilds its primary key around it)."""
        self._empty(conn, tbl)
        yield

    def grid_at(self, lon: float, lat: float) -> str | None:
        """Code of the grid containing a point (``None`` outside every grid).

        Parameters
        ----------
        lon, lat : float
            EPSG:4326 coordinates.

        Returns
        -------
        str or None
        """
        point = shapely.Point(float(lon), float(lat))
        found = self.features("grids", intersects=point, columns=["grid_code"])
        found = found[found.geometry.contains(point)]
        return str(found.grid_code.min()) if len(found) else None

    # ------------------------------------------------------------------ placing one record (writes)
    def grid_covering(self, conn: sa.Connection, lon: float, lat: float) -> str | None:
        """Code of the grid whose closed polygon covers a point, inside the caller's transaction.

        A point on a shared edge or vertex goes to the smallest such ``grid_code`` (the rule of
        ``geo.assign``). SQLite: R*Tree candidates, then shapely ``covers``; PostGIS overrides it with
        ``ST_Covers`` in SQL.

        Parameters
        ----------
        conn : sqlalchemy.Connection
        lon, lat : float
            EPSG:4326 coordinates.

        Returns
        -------
        str or None
            ``None`` outside every grid.
        """
        point = shapely.Point(float(lon), float(lat))
        grids = T.LAYER_TABLES["grids"]
        conds = self._spatial_conds(grids, (point.x, point.y, point.x, point.y), None)
        rows = conn.execute(
            sa.select(grids.c.grid_code, self._geom_out(grids.c.geometry)).where(
                grids.c.geometry.is_not(None), *conds
            )
        ).all()
        hits = sorted(str(code) for code, wkb in rows if shapely.covers(shapely.from_wkb(wkb), point))
        return hits[0] if hits else None

    def grid_row(self, conn: sa.Connection, grid_code: str) -> dict[str, Any] | None:
        """The ``grid_units`` row of a grid (its code in every level of both hierarchies), or None."""
        gu = T.grid_units
        row = conn.execute(sa.select(gu).where(gu.c.grid_code == str(grid_code))).mappings().first()
        return dict(row) if row is not None else None

    def grid_in_scope(self, conn: sa.Connection, grid_code: str, scope: Scope) -> bool:
        """True when ``grid_code`` is a grid of the store lying in ``scope`` (``None``: any grid)."""
        gu = T.grid_units
        conds = [gu.c.grid_code == str(grid_code), *self._scope_conds(conn, scope)]
        stmt = sa.select(gu.c.grid_code).where(*conds)
        return conn.execute(stmt).first() is not None

    def record_in_scope(self, conn: sa.Connection, layer: str, record_id: str, scope: Scope) -> bool:
        """True when the record ``record_id`` of ``layer`` exists and lies in ``scope``."""
        tbl = T.LAYER_TABLES[layer]
        key = tbl.c[LAYERS[layer].key]
        conds = [key == str(record_id), *self._unit_conds(conn, tbl, None, scope)]
        return conn.execute(sa.select(key).where(*conds).limit(1)).first() is not None

    # ------------------------------------------------------------------ frames
    def _select_columns(self, tbl: sa.Table, columns: Sequence[str] | None, geometry: bool) -> list:
        names = list(columns) if columns is not None else [c.name for c in tbl.columns]
        bad = [n for n in names if n not in tbl.c]
        if bad:
            raise ValueError(
                f"{tbl.name} has no column(s) {', '.join(bad)}; columns: {', '.join(c.name for c in tbl.c)}"
            )
        out = []
        for name in names:
            col = tbl.c[name]
            if name == "geometry":
                if geometry:
                    out.append(self._geom_out(col).label("geometry"))
            elif isinstance(col.type, sa.DateTime | sa.Date):
                out.append(self._time_out(col).label(name))
            else:
                out.append(col)
        if geometry and "geometry" in tbl.c and "geometry" not in names:
            out.append(self._geom_out(tbl.c.geometry).label("geometry"))
        return out

    def _frame(self, conn: sa.Connection, stmt: sa.Select, tbl: sa.Table | None = None) -> pd.DataFrame:
        result = conn.execute(stmt)
        cols = list(result.keys())
        # plain tuples: pandas probes each SQLAlchemy Row for attributes, a slow miss each (6x slower)
        rows = list(map(tuple, result.fetchall()))
        frame = pd.DataFrame.from_records(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
        return _coerce(frame, tbl)

    def _to_geo(self, frame: pd.DataFrame) -> gpd.GeoDataFrame:
        geoms = shapely.from_wkb(frame.pop("geometry").to_numpy()) if "geometry" in frame else None
        return gpd.GeoDataFrame(frame, geometry=geoms, crs=STORAGE_CRS)

    # ------------------------------------------------------------------ units and scopes
    def units(self, level: str | None = None, parent: str | None = None) -> pd.DataFrame:
        """Units of both hierarchies: ``unit_code, unit_name, level, hierarchy, parent_code``.

        Parameters
        ----------
        level : str, optional
            Only units of this level (``county`` … ``grid``, ``bureau`` … ``district``).
        parent : str, optional
            Only the units directly below this code.

        Returns
        -------
        pandas.DataFrame
        """
        u = T.units
        stmt = sa.select(u.c.unit_code, u.c.unit_name, u.c.level, u.c.hierarchy, u.c.parent_code)
        if level is not None:
            stmt = stmt.where(u.c.level == level)
        if parent is not None:
            stmt = stmt.where(u.c.parent_code == str(parent))
        with self.connect() as conn:
            return self._frame(conn, stmt.order_by(u.c.level, u.c.unit_code))

    def grid_units(self, unit: str | Unit | None = None, scope: Scope = None) -> pd.DataFrame:
        """Per grid, the code of every unit above it in both hierarchies (see :func:`geo.units.grid_units`).

        Parameters
        ----------
        unit : str or Unit, optional
            Only the grids of this unit.
        scope : optional
            Only the grids in this scope.

        Returns
        -------
        pandas.DataFrame
            ``grid_code, village_code, township_code, county_code, city_code, district_code, station_code,
            bureau_code``.
        """
        gu = T.grid_units
        with self.connect() as conn:
            conds = self._grid_conds(conn, unit, scope)
            return self._frame(conn, sa.select(gu).where(*conds).order_by(gu.c.grid_code))

    def unit(self, code: str | Unit) -> Unit:
        """The unit with ``code``; :class:`UnknownUnitError` naming it when unknown.

        Parameters
        ----------
        code : str or Unit

        Returns
        -------
        geo.units.Unit
        """
        with self.connect() as conn:
            return self._resolve(conn, code)

    def _resolve(self, conn: sa.Connection, code: str | Unit | None) -> Unit | None:
        if code is None or isinstance(code, Unit):
            return code
        u = T.units
        rows = conn.execute(
            sa.select(u.c.unit_code, u.c.unit_name, u.c.level, u.c.hierarchy, u.c.parent_code).where(
                u.c.unit_code == str(code)
            )
        ).all()
        if not rows:
            raise UnknownUnitError(
                f"unknown unit code {code!r} (not in either hierarchy; is the store loaded?)"
            )
        if len(rows) > 1:
            levels = ", ".join(r.level for r in rows)
            raise UnknownUnitError(f"unit code {code!r} is ambiguous ({levels}); pass a geo.units.Unit")
        r = rows[0]
        return Unit(r.unit_code, r.unit_name or r.unit_code, r.level, r.hierarchy, r.parent_code)

    def _scope_conds(self, conn: sa.Connection, scope: Scope) -> list:
        """Conditions on ``grid_units`` keeping the grids of ``scope``."""
        if scope is None:
            return []
        gu = T.grid_units
        if isinstance(scope, str | Unit):
            s = self._resolve(conn, scope)
            return [gu.c[LEVEL_COLUMN[s.level]] == s.code]
        codes = sorted({str(c) for c in scope})
        if not codes:
            return [sa.false()]
        return [self._codes_in(gu.c.grid_code, codes)]

    def _grid_conds(self, conn: sa.Connection, unit: str | Unit | None, scope: Scope) -> list:
        u = self._resolve(conn, unit)
        conds = [T.grid_units.c[LEVEL_COLUMN[u.level]] == u.code] if u is not None else []
        return conds + self._scope_conds(conn, scope)

    def _large(self, conn: sa.Connection, unit, scope: Scope, share: float = 0.05) -> bool:
        """True when ``unit`` within ``scope`` holds at least ``share`` of all grids."""
        if unit is None and scope is None:
            return False
        gu = T.grid_units
        total = conn.execute(sa.select(sa.func.count()).select_from(gu)).scalar_one()
        mine = conn.execute(
            sa.select(sa.func.count()).select_from(gu).where(*self._grid_conds(conn, unit, scope))
        ).scalar_one()
        return total > 0 and mine >= share * total

    def _within(self, conn: sa.Connection, unit: Unit | None, scope: Scope) -> bool:
        """True when every grid of ``unit`` (all grids for ``None``) lies in ``scope``."""
        if scope is None:
            return True
        gu = T.grid_units
        inside = self._scope_conds(conn, scope)
        conds = [gu.c[LEVEL_COLUMN[unit.level]] == unit.code] if unit is not None else []
        outside = sa.not_(sa.func.coalesce(sa.and_(*inside), sa.false()))
        stmt = sa.select(sa.literal(1)).select_from(gu).where(*conds, outside).limit(1)
        return conn.execute(stmt).first() is None

    def grids_of(self, unit: str | Unit | None = None, scope: Scope = None) -> list[str]:
        """Grid codes of ``unit`` (all grids for ``None``) within ``scope``.

        Parameters
        ----------
        unit : str or Unit, optional
        scope : optional

        Returns
        -------
        list of str
        """
        gu = T.grid_units
        with self.connect() as conn:
            conds = self._grid_conds(conn, unit, scope)
            return list(
                conn.execute(sa.select(gu.c.grid_code).where(*conds).order_by(gu.c.grid_code)).scalars()
            )

    def _unit_conds(
        self, conn: sa.Connection, tbl: sa.Table, unit, scope: Scope, by_time: bool = False
    ) -> list:
        """Conditions keeping the rows of ``tbl`` that belong to ``unit`` and ``scope``.

        ``by_time``: the rows are wanted newest first and the unit holds many grids, so reading the time
        index backwards and testing each row's grid beats collecting all the unit's rows and sorting them;
        the grid test is then kept off its index (see :meth:`_unindexed`).
        """
        if unit is None and scope is None:
            return []
        gu = T.grid_units
        base = self._grid_conds(conn, unit, scope)

        def codes(column: str) -> sa.Select:
            return sa.select(gu.c[column]).where(*base)

        name = tbl.name
        if name == "work_order_events":
            wo = T.work_orders
            return [
                tbl.c.order_id.in_(sa.select(wo.c.order_id).where(wo.c.grid_code.in_(codes("grid_code"))))
            ]
        if "grid_code" in tbl.c:
            col = self._unindexed(tbl.c.grid_code) if by_time else tbl.c.grid_code
            return [col.in_(codes("grid_code"))]
        if name in ("districts", "stations"):
            key = "district_code" if name == "districts" else "station_code"
            return [tbl.c[key].in_(codes(key))]
        if name == "staff":
            return [
                sa.or_(tbl.c.unit_code.in_(codes("grid_code")), tbl.c.unit_code.in_(codes("district_code")))
            ]
        if name in ("admin_units", "police_units"):
            cols = (
                ("village_code", "township_code", "county_code", "city_code")
                if name == "admin_units"
                else ("district_code", "station_code", "bureau_code")
            )
            return [sa.or_(*(tbl.c.unit_code.in_(codes(c)) for c in cols))]
        raise ValueError(f"{name} cannot be filtered by unit or scope")

    # ------------------------------------------------------------------ generic reads
    def _filter_conds(self, tbl: sa.Table, filters: dict | None) -> list:
        conds = []
        for name, value in (filters or {}).items():
            if name not in tbl.c or name == "geometry":
                cols = ", ".join(c.name for c in tbl.c if c.name != "geometry")
                raise ValueError(f"{tbl.name} has no column {name!r} to filter on; columns: {cols}")
            col = tbl.c[name]
            if value is None:
                conds.append(col.is_(None))
            elif isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Index | pd.Series):
                vals = [v.item() if isinstance(v, np.generic) else v for v in value]
                conds.append(col.in_(vals) if vals else sa.false())
            else:
                conds.append(col == (value.item() if isinstance(value, np.generic) else value))
        return conds

    def _time_conds(self, tbl: sa.Table, start, end) -> list:
        if start is None and end is None:
            return []
        name = T.TIME_COLUMN.get(tbl.name)
        if name is None:
            raise ValueError(f"{tbl.name} has no time column to filter dates on")
        col = tbl.c[name]
        lo, hi = day_bounds(start, end)
        is_date = isinstance(col.type, sa.Date) and not isinstance(col.type, sa.DateTime)
        conds = []
        if lo is not None:
            conds.append(col >= (lo.date() if is_date else lo))
        if hi is not None:
            conds.append(col < (hi.date() if is_date else hi))
        return conds

    def _order(self, tbl: sa.Table, order_by: str | Sequence[str] | None) -> list:
        if order_by is None:
            time_col = T.TIME_COLUMN.get(tbl.name)
            keys = [c.name for c in tbl.primary_key.columns]
            # newest first, ties by key: the order of the (time, key) index, read backwards without a sort
            return (
                [tbl.c[time_col].desc(), *(tbl.c[k].desc() for k in keys)]
                if time_col
                else [tbl.c[k] for k in keys]
            )
        out = []
        for item in [order_by] if isinstance(order_by, str) else order_by:
            desc = item.startswith("-")
            name = item.lstrip("-")
            if name not in tbl.c or name == "geometry":
                raise ValueError(f"{tbl.name} has no column {name!r} to order by")
            out.append(tbl.c[name].desc() if desc else tbl.c[name])
        keys = [tbl.c[c.name] for c in tbl.primary_key.columns]
        return out + keys

    def records(
        self,
        layer: str,
        unit: str | Unit | None = None,
        start: Any = None,
        end: Any = None,
        filters: dict[str, Any] | None = None,
        page: int = 1,
        page_size: int = 100,
        *,
        scope: Scope = None,
        columns: Sequence[str] | None = None,
        order_by: str | Sequence[str] | None = None,
        count: bool = True,
        geometry: bool = False,
    ) -> Page:
        """One page of a layer's records (or of ``warnings``, ``work_order_events``, ``audit_log``).

        Parameters
        ----------
        layer : str
            A layer of :data:`data.schema.LAYERS` or a store table.
        unit : str or Unit, optional
            Only the records of this unit (either hierarchy).
        start, end : date-like, optional
            Days (both included) on the table's time column (e.g. ``occurred_at``).
        filters : dict, optional
            Column → value (equality), list of values (``IN``) or ``None`` (``IS NULL``).
        page, page_size : int
            1-based page number and rows per page (at most 10,000).
        scope : optional
            The caller's scope, applied in SQL.
        columns : sequence of str, optional
            Columns to return (default all but the geometry).
        order_by : str or sequence of str, optional
            Column names, ``-name`` for descending; default newest first, then the key.
        count : bool
            Count the total (one more query).
        geometry : bool
            Return a GeoDataFrame with the geometry.

        Returns
        -------
        Page
        """
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page must be >= 1 and page_size in 1..{MAX_PAGE_SIZE}")
        tbl = T.table(layer)
        with self.connect() as conn:
            by_time = order_by is None and tbl.name in T.TIME_COLUMN and "grid_code" in tbl.c
            by_time = by_time and self._large(conn, unit, scope)
            conds = (
                self._unit_conds(conn, tbl, unit, scope, by_time)
                + self._time_conds(tbl, start, end)
                + self._filter_conds(tbl, filters)
            )
            frame = self._read(
                conn,
                tbl,
                conds,
                columns,
                geometry,
                self._order(tbl, order_by),
                limit=page_size,
                offset=(page - 1) * page_size,
            )
            total = None
            if count:
                total = self._incident_total(conn, tbl, unit, start, end, filters, scope)
            if count and total is None:
                total = conn.execute(sa.select(sa.func.count()).select_from(tbl).where(*conds)).scalar_one()
        return Page(frame, total, page, page_size)

    def _incident_total(self, conn, tbl, unit, start, end, filters, scope) -> int | None:
        """Number of incidents matching a records() query, from ``incident_counts`` when it can say."""
        f = dict(filters or {})
        if tbl.name != "incidents" or set(f) - {"category", "valid"}:
            return None
        valid = f.get("valid")
        if "valid" in f and not (isinstance(valid, bool | np.bool_) and bool(valid)):
            return None
        cats = f.get("category")
        if cats is not None:
            cats = [cats] if isinstance(cats, str) else list(cats)
        measure = "n_valid" if "valid" in f else "n"
        if unit is None and scope is None:  # the whole store: every city, and incidents outside all grids
            ic = T.incident_counts
            lo, hi = day_bounds(start, end)
            conds = [ic.c.level.in_(["city", OUTSIDE])]
            if lo is not None:
                conds.append(ic.c.day >= lo.date())
            if hi is not None:
                conds.append(ic.c.day < hi.date())
            if cats is not None:
                conds.append(ic.c.category.in_(cats) if cats else sa.false())
            total = conn.execute(sa.select(sa.func.sum(ic.c[measure])).where(*conds)).scalar()
        else:
            frame = self._incidents_rollup(conn, self._resolve(conn, unit), start, end, cats, (), scope)
            total = frame[measure].iloc[0] if len(frame) else 0
        return int(total) if total is not None and total == total else 0

    def _read(self, conn, tbl, conds, columns, geometry, order, limit=None, offset=None) -> pd.DataFrame:
        geometry = geometry and "geometry" in tbl.c
        if columns is None:
            columns = [c.name for c in tbl.columns if c.name != "geometry"]
        stmt = sa.select(*self._select_columns(tbl, columns, geometry)).where(*conds).order_by(*order)
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        frame = self._frame(conn, stmt, tbl)
        return self._to_geo(frame) if geometry else frame

    def read(
        self,
        layer: str,
        unit: str | Unit | None = None,
        start: Any = None,
        end: Any = None,
        filters: dict[str, Any] | None = None,
        *,
        scope: Scope = None,
        columns: Sequence[str] | None = None,
        geometry: bool = True,
    ) -> pd.DataFrame:
        """All matching records of a layer in one frame (for models and exports).

        Parameters are those of :meth:`records`; ``geometry`` (default True) returns a GeoDataFrame for
        layers with a geometry.

        Returns
        -------
        pandas.DataFrame or geopandas.GeoDataFrame
        """
        tbl = T.table(layer)
        with self.connect() as conn:
            conds = (
                self._unit_conds(conn, tbl, unit, scope)
                + self._time_conds(tbl, start, end)
                + self._filter_conds(tbl, filters)
            )
            keys = [tbl.c[c.name] for c in tbl.primary_key.columns]
            return self._read(conn, tbl, conds, columns, geometry, keys)

    def features(
        self,
        layer: str,
        unit: str | Unit | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        *,
        intersects: shapely.Geometry | None = None,
        start: Any = None,
        end: Any = None,
        filters: dict[str, Any] | None = None,
        scope: Scope = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> gpd.GeoDataFrame:
        """Features of a layer with geometry, filtered in the database.

        Parameters
        ----------
        layer : str
            A layer with a geometry.
        unit : str or Unit, optional
            Only the features of this unit.
        bbox : (minx, miny, maxx, maxy), optional
            Only features intersecting this lon/lat box (spatial index in SQL).
        intersects : shapely geometry, optional
            Only features intersecting this lon/lat geometry.
        start, end, filters, scope, columns
            As in :meth:`records`.
        limit : int, optional
            At most this many features.

        Returns
        -------
        geopandas.GeoDataFrame
            In EPSG:4326.
        """
        tbl = T.table(layer)
        if "geometry" not in tbl.c:
            raise ValueError(f"{layer} has no geometry")
        if bbox is not None:
            minx, miny, maxx, maxy = (float(v) for v in bbox)
            if not (minx <= maxx and miny <= maxy):
                raise ValueError(f"bbox must be (minx, miny, maxx, maxy), got {bbox}")
            bbox = (minx, miny, maxx, maxy)
        with self.connect() as conn:
            conds = (
                self._unit_conds(conn, tbl, unit, scope)
                + self._time_conds(tbl, start, end)
                + self._filter_conds(tbl, filters)
                + self._spatial_conds(tbl, bbox, intersects)
            )
            keys = [tbl.c[c.name] for c in tbl.primary_key.columns]
            frame = self._read(conn, tbl, conds, columns, True, keys, limit=limit)
        return self._exact_filter(frame, bbox, intersects)

    def count(
        self,
        layer: str,
        unit: str | Unit | None = None,
        start: Any = None,
        end: Any = None,
        filters: dict[str, Any] | None = None,
        *,
        scope: Scope = None,
    ) -> int:
        """Number of matching records (parameters as in :meth:`records`)."""
        tbl = T.table(layer)
        with self.connect() as conn:
            conds = (
                self._unit_conds(conn, tbl, unit, scope)
                + self._time_conds(tbl, start, end)
                + self._filter_conds(tbl, filters)
            )
            return conn.execute(sa.select(sa.func.count()).select_from(tbl).where(*conds)).scalar_one()

    def counts(self) -> dict[str, int]:
        """Rows per layer table."""
        with self.connect() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(tbl)).scalar_one()
                for name, tbl in T.LAYER_TABLES.items()
            }

    def layer_status(self) -> pd.DataFrame:
        """Per loaded layer: rows, source, load time (data freshness, 数据新鲜度)."""
        with self.connect() as conn:
            return self._frame(conn, sa.select(T.layer_loads).order_by(T.layer_loads.c.layer), T.layer_loads)

    # ------------------------------------------------------------------ aggregates
    def _dim_exprs(self, dims, tbl, day_col, time_col, level_col_fn) -> list:
        out = []
        for d in dims:
            if d == "day":
                out.append(day_col.label("day"))
            elif d == "month":
                out.append(self._month(day_col).label("month"))
            elif d == "hour":
                out.append(self._hour(time_col).label("hour"))
            elif d == "weekday":
                out.append(
                    sa.cast(
                        sa.extract("dow", time_col if time_col is not None else day_col), sa.Integer
                    ).label("weekday")
                )
            elif d in LEVELS:
                out.append(level_col_fn(d).label(d))
            else:
                out.append(tbl.c[d])
        return out

    def aggregate_incidents(
        self,
        unit: str | Unit | None = None,
        start: Any = None,
        end: Any = None,
        categories: Sequence[str] | None = None,
        by: str | Sequence[str] | None = "category",
        *,
        scope: Scope = None,
        fill: bool = True,
    ) -> pd.DataFrame:
        """Incident counts (警情统计) of a unit over days, grouped for drawing.

        Served from the precomputed ``incident_counts`` table (unit × day × category with counts per hour
        of day, refreshed on load), never from the incidents themselves. Incidents outside every grid are
        not counted.

        Parameters
        ----------
        unit : str or Unit, optional
            Unit of either hierarchy; default the whole city.
        start, end : date-like, optional
            Days, both included.
        categories : sequence of str, optional
            Incident categories (刑事, 治安, …); default all.
        by : str or sequence of str
            Any of ``category``, ``day``, ``month``, ``hour``, ``weekday`` and at most one unit level
            (``grid``, ``village``, ``township``, ``county``, ``district``, ``station``, ``bureau``);
            ``None`` for one total row.
        scope : optional
            The caller's scope, applied in SQL.
        fill : bool
            Add zero rows for categories, days, hours, weekdays and child units without incidents.

        Returns
        -------
        pandas.DataFrame
            The ``by`` columns, then ``n`` (incidents) and ``n_valid`` (valid incidents, 有效警情; not kept
            per hour, so absent when ``by`` has ``hour``); a unit level column comes with ``unit_name``.
        """
        dims = _dims(by)
        bad = [d for d in dims if d not in ("category", *TIME_DIMS, *LEVELS)]
        levels = [d for d in dims if d in LEVELS]
        if bad or len(levels) > 1 or len(set(dims)) != len(dims):
            raise ValueError(
                f"by must name distinct dimensions among category, {', '.join(TIME_DIMS)} and one unit level "
                f"({', '.join(LEVELS)}); got {by!r}"
            )
        cats = list(categories) if categories is not None else None
        with self.connect() as conn:
            u = self._resolve(conn, unit)
            frame = self._incidents_rollup(conn, u, start, end, cats, dims, scope)
            frame = _coerce_dims(frame)
            if fill and dims:
                frame = self._fill(conn, frame, dims, u, start, end, cats, scope)
            if levels:
                frame = self._with_names(conn, frame, levels[0])
        return frame

    def _incidents_rollup(self, conn, u, start, end, cats, dims, scope) -> pd.DataFrame:
        ic, gu = T.incident_counts, T.grid_units
        lo, hi = day_bounds(start, end)
        conds = []
        if lo is not None:
            conds.append(ic.c.day >= lo.date())
        if hi is not None:
            conds.append(ic.c.day < hi.date())
        if cats is not None:
            conds.append(ic.c.category.in_(cats) if cats else sa.false())
        level = next((d for d in dims if d in LEVELS), None)
        contained = self._within(conn, u, scope)
        parent = u.level if u is not None else "city"
        source = ic
        if level is None and contained and parent in COUNTED_LEVELS:
            conds.append(ic.c.level == parent)
            if u is not None:
                conds.append(ic.c.unit_code == u.code)
            level_fn = None
        elif level is None and self._scope_inside(conn, scope, u):
            s = self._resolve(conn, scope)
            conds += [ic.c.level == s.level, ic.c.unit_code == s.code]
            level_fn = None
        elif level in COUNTED_LEVELS and contained and _is_below(parent, level):
            child = LEVEL_COLUMN[level]
            sub = sa.select(gu.c[child]).where(*self._grid_conds(conn, u, None))
            conds += [ic.c.level == level, ic.c.unit_code.in_(sub)]

            def level_fn(_d):
                return ic.c.unit_code
        else:
            source = ic.join(gu, gu.c.grid_code == ic.c.unit_code)
            grid_conds = self._grid_conds(conn, u, scope)
            conds += [ic.c.level == "grid", *grid_conds]
            if (
                grid_conds
            ):  # lets the planner seek the key (level, unit_code) per grid, not scan every grid row
                conds.append(ic.c.unit_code.in_(sa.select(gu.c.grid_code).where(*grid_conds)))

            def level_fn(d):
                return gu.c[LEVEL_COLUMN[d]]

        other = [d for d in dims if d != "hour"]
        exprs = self._dim_exprs(other, ic, ic.c.day, None, level_fn)
        if "hour" in dims:  # one column per hour of day, summed, then turned into rows
            measures = [sa.func.sum(ic.c[h]).label(h) for h in T.HOURS]
        else:
            measures = [sa.func.sum(ic.c.n).label("n"), sa.func.sum(ic.c.n_valid).label("n_valid")]
        stmt = sa.select(*exprs, *measures).select_from(source).where(*conds)
        if exprs:
            stmt = stmt.group_by(*exprs).order_by(*exprs)
        frame = self._frame(conn, stmt)
        if "hour" not in dims:
            return frame
        if frame.empty:
            return pd.DataFrame(columns=[*dims, "n"])
        frame = frame.melt(id_vars=other, value_vars=list(T.HOURS), var_name="hour", value_name="n")
        frame["hour"] = frame["hour"].str.slice(1).astype("int64")
        return frame[frame["n"].notna()][[*dims, "n"]].sort_values(list(dims), ignore_index=True)

    def _scope_inside(self, conn, scope, u) -> bool:
        """True when the scope is a unit with counts of its own and every grid of it lies in ``u``."""
        if not isinstance(scope, str | Unit):
            return False
        s = self._resolve(conn, scope)
        return s.level in COUNTED_LEVELS and (u is None or self._within(conn, s, u))

    def _incidents_raw(self, conn, u, start, end, cats, dims, scope) -> pd.DataFrame:
        inc, gu = T.LAYER_TABLES["incidents"], T.grid_units
        conds = [*self._grid_conds(conn, u, scope), *self._time_conds(inc, start, end)]
        if cats is not None:
            conds.append(inc.c.category.in_(cats) if cats else sa.false())
        exprs = self._dim_exprs(
            dims, inc, self._day(inc.c.occurred_at), inc.c.occurred_at, lambda d: gu.c[LEVEL_COLUMN[d]]
        )
        valid = sa.case((inc.c.valid.is_(sa.false()), 0), else_=1)
        stmt = (
            sa.select(*exprs, sa.func.count().label("n"), sa.func.sum(valid).label("n_valid"))
            .select_from(inc.join(gu, gu.c.grid_code == inc.c.grid_code))
            .where(*conds)
        )
        if exprs:
            stmt = stmt.group_by(*exprs).order_by(*exprs)
        return self._frame(conn, stmt)

    def _fill(self, conn, frame, dims, u, start, end, cats, scope) -> pd.DataFrame:
        domains = []
        for d in dims:
            if d == "category":
                domains.append(list(cats) if cats is not None else list(INCIDENT_CATEGORIES))
            elif d in ("day", "month"):
                lo = pd.Timestamp(start) if start is not None else frame[d].min() if len(frame) else None
                hi = pd.Timestamp(end) if end is not None else frame[d].max() if len(frame) else None
                if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
                    return frame
                if d == "day":
                    domains.append(
                        list(pd.date_range(pd.Timestamp(lo).normalize(), pd.Timestamp(hi).normalize()))
                    )
                else:
                    months = pd.period_range(pd.Timestamp(lo), pd.Timestamp(hi), freq="M")
                    domains.append([str(p) for p in months])
            elif d == "hour":
                domains.append(list(range(24)))
            elif d == "weekday":
                domains.append(list(range(7)))
            else:
                gu = T.grid_units
                col = gu.c[LEVEL_COLUMN[d]]
                codes = conn.execute(
                    sa.select(col).where(*self._grid_conds(conn, u, scope), col.is_not(None)).distinct()
                ).scalars()
                domains.append(sorted(codes))
        size = math.prod(len(x) for x in domains)
        if size > _FILL_LIMIT:
            return frame
        if len(dims) == 1:
            index = pd.Index(domains[0], name=dims[0])
            keyed = frame.set_index(dims[0])
        else:
            index = pd.MultiIndex.from_product(domains, names=list(dims))
            keyed = frame.set_index(list(dims))
        full = keyed[[c for c in ("n", "n_valid") if c in keyed]].reindex(index, fill_value=0)
        return full.astype("int64").reset_index()

    def _with_names(self, conn, frame: pd.DataFrame, level: str) -> pd.DataFrame:
        u = T.units
        codes = frame[level].dropna().unique().tolist()
        if not codes:
            return frame.assign(unit_name=pd.Series(dtype="str"))
        rows = conn.execute(
            sa.select(u.c.unit_code, u.c.unit_name).where(
                u.c.level == level, self._codes_in(u.c.unit_code, codes)
            )
        ).all()
        names = dict(rows)
        out = frame.copy()
        out.insert(out.columns.get_loc(level) + 1, "unit_name", out[level].map(names))
        return out

    def aggregate(
        self,
        layer: str,
        unit: str | Unit | None = None,
        start: Any = None,
        end: Any = None,
        by: str | Sequence[str] | None = None,
        filters: dict[str, Any] | None = None,
        *,
        scope: Scope = None,
    ) -> pd.DataFrame:
        """Record counts of any layer with a grid (disputes, hazards, visits, warnings, work orders …).

        Parameters
        ----------
        layer : str
            A table with a ``grid_code`` column.
        unit, start, end, filters, scope
            As in :meth:`records`.
        by : str or sequence of str, optional
            Columns of the table, ``day``/``month``/``hour``/``weekday`` of its time column, and unit
            levels; ``None`` for one total.

        Returns
        -------
        pandas.DataFrame
            The ``by`` columns and ``n``.
        """
        tbl = T.table(layer)
        if "grid_code" not in tbl.c:
            raise ValueError(f"{layer} has no grid_code to aggregate by unit")
        dims = _dims(by)
        time_name = T.TIME_COLUMN.get(layer)
        for d in dims:
            if d in TIME_DIMS and time_name is None:
                raise ValueError(f"{layer} has no time column for {d!r}")
            if d not in TIME_DIMS and d not in LEVELS and (d not in tbl.c or d == "geometry"):
                raise ValueError(f"cannot group {layer} by {d!r}")
        gu = T.grid_units
        with self.connect() as conn:
            conds = [*self._grid_conds(conn, unit, scope), *self._time_conds(tbl, start, end)]
            conds += self._filter_conds(tbl, filters)
            time_col = tbl.c[time_name] if time_name else None
            day = self._day(time_col) if time_col is not None else None
            exprs = self._dim_exprs(dims, tbl, day, time_col, lambda d: gu.c[LEVEL_COLUMN[d]])
            stmt = (
                sa.select(*exprs, sa.func.count().label("n"))
                .select_from(tbl.join(gu, gu.c.grid_code == tbl.c.grid_code))
                .where(*conds)
            )
            if exprs:
                stmt = stmt.group_by(*exprs).order_by(*exprs)
            return _coerce_dims(self._frame(conn, stmt))

    def grid_figures(
        self, unit: str | Unit | None = None, by: str | None = "grid", *, scope: Scope = None
    ) -> pd.DataFrame:
        """Base figures (基础数据) per grid or rolled up: households, population, registrations, persons of
        concern, cameras, grid workers, open hazards and disputes (precomputed on load).

        Parameters
        ----------
        unit : str or Unit, optional
            Only the grids of this unit.
        by : str, optional
            ``grid`` (one row per grid), a unit level (one row per unit of that level, with counts of
            grids, 综合/专属 grids, 警格, stations and community officers), or ``None`` for one total row.
        scope : optional
            The caller's scope, applied in SQL.

        Returns
        -------
        pandas.DataFrame
        """
        gf, gu, dist = T.grid_figures, T.grid_units, T.LAYER_TABLES["districts"]
        if by is not None and by not in LEVELS:
            raise ValueError(f"by must be one of {', '.join(LEVELS)} or None, got {by!r}")
        with self.connect() as conn:
            conds = self._grid_conds(conn, unit, scope)
            if by == "grid":
                stmt = (
                    sa.select(gf, gu.c.district_code)
                    .select_from(gf.join(gu, gu.c.grid_code == gf.c.grid_code))
                    .where(*conds)
                    .order_by(gf.c.grid_code)
                )
                return self._frame(conn, stmt)
            sums = [sa.func.coalesce(sa.func.sum(gf.c[n]), 0).label(n) for n in T.GRID_FIGURES]
            key = [gu.c[LEVEL_COLUMN[by]].label(by)] if by else []
            stmt = (
                sa.select(
                    *key,
                    sa.func.count().label("grids"),
                    sa.func.sum(sa.case((gf.c.grid_type == "综合", 1), else_=0)).label("comprehensive_grids"),
                    sa.func.sum(sa.case((gf.c.grid_type == "专属", 1), else_=0)).label("dedicated_grids"),
                    sa.func.count(sa.distinct(gu.c.district_code)).label("districts"),
                    sa.func.count(sa.distinct(gu.c.station_code)).label("stations"),
                    sa.func.count(sa.distinct(dist.c.officer_id)).label("officers"),
                    *sums,
                )
                .select_from(
                    gf.join(gu, gu.c.grid_code == gf.c.grid_code).outerjoin(
                        dist, dist.c.district_code == gu.c.district_code
                    )
                )
                .where(*conds)
            )
            if key:
                stmt = stmt.group_by(*key).order_by(*key)
            frame = self._frame(conn, stmt)
            num = [c for c in frame.columns if c != by]
            frame[num] = frame[num].fillna(0).astype("int64")
            return self._with_names(conn, frame, by) if by else frame

    # ------------------------------------------------------------------ loading
    def load_arrow(
        self,
        layer: str,
        batches: Iterable[pa.RecordBatch | pa.Table],
        *,
        replace: bool = True,
        source: str | None = None,
    ) -> int:
        """Bulk-load Arrow batches into a layer in one transaction (the fast path of :func:`load_layers`).

        Parameters
        ----------
        layer : str
            Layer name.
        batches : iterable of pyarrow RecordBatch or Table
            Columns named as the layer's schema; geometry as WKB in EPSG:4326.
        replace : bool
            Replace the layer's rows (True) or append. Work orders are always merged: orders already in
            the store (with their trace) are kept, new ones are added with an import event.
        source : str, optional
            Where the rows came from (kept in ``layer_loads``).

        Returns
        -------
        int
            Rows loaded.
        """
        if layer not in T.LAYER_TABLES:
            raise ValueError(f"unknown layer {layer!r}; known layers: {', '.join(T.LAYER_TABLES)}")
        tbl = T.LAYER_TABLES[layer]
        started = dt.datetime.now()
        t0 = pd.Timestamp.now()
        with self.begin() as conn:
            self._tune_maintenance(conn)
            if layer == "work_orders":
                n = self._merge_work_orders(conn, batches, source)
            else:
                if replace:
                    self._clear(conn, tbl)
                    self._drop_indexes(conn, tbl)
                rowid = self._max_rowid(conn, tbl)
                locate = self._grid_locator(conn) if layer in T.DERIVED_GRID_CODE else None
                n = 0
                for batch in batches:
                    data = shape_batch(batch, layer)
                    if locate is not None:
                        data = data.set_column(
                            data.column_names.index("grid_code"),
                            "grid_code",
                            pa.array(locate(data), pa.string()),
                        )
                    if data.num_rows:
                        n += self._insert_arrow(conn, tbl, data, rowid + n)
                if replace:
                    self._create_indexes(conn, tbl)
            total = conn.execute(sa.select(sa.func.count()).select_from(tbl)).scalar_one()
            seconds = (pd.Timestamp.now() - t0).total_seconds()
            ll = T.layer_loads
            conn.execute(sa.delete(ll).where(ll.c.layer == layer))
            conn.execute(
                sa.insert(ll).values(
                    layer=layer, rows=total, source=source, loaded_at=started, seconds=seconds
                )
            )
        return n

    def _grid_locator(self, conn: sa.Connection):
        """A function giving, for the points of an Arrow table, the code of the grid each lies in."""
        grids = T.LAYER_TABLES["grids"]
        rows = conn.execute(
            sa.select(grids.c.grid_code, self._geom_out(grids.c.geometry)).where(
                grids.c.geometry.is_not(None)
            )
        ).all()
        codes = np.array([r[0] for r in rows], dtype=object)
        tree = shapely.STRtree(shapely.from_wkb(np.array([r[1] for r in rows], dtype=object)))

        def locate(data: pa.Table) -> np.ndarray:
            points = shapely.from_wkb(np.asarray(data.column("geometry").to_pylist(), dtype=object))
            return points_in_grids(tree, codes, points)

        return locate

    def load_frame(
        self, layer: str, frame: pd.DataFrame, *, replace: bool = True, source: str | None = None
    ) -> int:
        """Load a (Geo)DataFrame shaped like a layer (e.g. from :func:`geo.io.read_layer`).

        Parameters
        ----------
        layer : str
            Layer name.
        frame : pandas.DataFrame or geopandas.GeoDataFrame
            Rows with the layer's column names.
        replace : bool
            Replace the layer's rows (True) or append.
        source : str, optional
            Where the rows came from.

        Returns
        -------
        int
            Rows loaded.
        """
        return self.load_arrow(layer, [frame_to_arrow(frame, layer)], replace=replace, source=source)

    def _merge_work_orders(self, conn, batches, source) -> int:
        from data.store.workflow import IMPORT_ACTOR, insert_orders, now

        frames = []
        for batch in batches:
            data = shape_batch(batch, "work_orders")
            frames.append(data.to_pandas(timestamp_as_object=False))
        if not frames:
            return 0
        df = pd.concat(frames, ignore_index=True)
        rows = _records(df)
        note = f"导入（{source}）" if source else "导入"
        return len(insert_orders(self, conn, rows, IMPORT_ACTOR, note, now()))

    def refresh(self) -> dict[str, float]:
        """Rebuild everything derived from the layers (see :func:`data.store.derived.refresh`).

        Returns
        -------
        dict
            Seconds per step.
        """
        from data.store.derived import refresh

        return refresh(self)

    # ------------------------------------------------------------------ single-row writes
    def insert_records(self, conn: sa.Connection, layer: str, frame: pd.DataFrame) -> int:
        """Insert a few validated rows into a layer inside the caller's transaction.

        Parameters
        ----------
        conn : sqlalchemy.Connection
            A connection from :meth:`begin`.
        layer : str
            Layer name.
        frame : pandas.DataFrame
            Rows shaped like the layer (``geometry`` as shapely objects, WKT or WKB).

        Returns
        -------
        int
            Rows inserted.
        """
        tbl = T.LAYER_TABLES[layer]
        data = frame_to_arrow(frame, layer)
        rows = []
        for rec in data.to_pylist():
            if "geometry" in rec:
                rec["geometry"] = self._geom_in(rec["geometry"])
            rows.append(rec)
        for rec in rows:
            conn.execute(sa.insert(tbl).values(**rec))
        key = LAYERS[layer].key
        self._after_insert_rows(conn, tbl, [r[key] for r in rows])
        return len(rows)

    # ------------------------------------------------------------------ warnings and work orders
    def upsert_warnings(
        self, frame: pd.DataFrame, *, push: bool = True, now: dt.datetime | None = None
    ) -> tuple[int, int]:
        """Store the warnings (预警) of a model run; a warning already stored is not added twice.

        A warning is identified by ``(model_id, evidence_key)``; ``evidence_key`` defaults to a hash of the
        sorted evidence ids (see :func:`evidence_key`), so re-running a model on the same data adds nothing.

        Parameters
        ----------
        frame : pandas.DataFrame
            Columns ``model_id``, ``grid_code``, ``severity`` (低/中/高), ``reason``; optional
            ``district_code`` (default the grid's 警格), ``evidence_ids`` (list or ';'-joined),
            ``evidence_key``, ``deadline`` (default by severity), ``created_at`` (default now), ``as_of``.
        push : bool
            Also push every new warning as a work order (预警推送) to its grid's worker and officer.
        now : datetime, optional
            Current time (default the clock).

        Returns
        -------
        (int, int)
            Warnings inserted, warnings that were already stored.
        """
        from data.store import workflow

        now = now or workflow.now()
        need = {"model_id", "grid_code", "severity", "reason"}
        missing = need - set(frame.columns)
        if missing:
            raise ValueError(f"warnings need column(s) {', '.join(sorted(missing))}")
        df = pd.DataFrame(frame).copy()
        bad = ~df["severity"].isin(SEVERITIES)
        if bad.any():
            raise ValueError(
                f"{int(bad.sum())} warning(s) with a severity not in {SEVERITIES}: "
                f"{sorted(set(map(str, df.loc[bad, 'severity'])))}"
            )
        df["evidence_ids"] = [_join_ids(v) for v in df["evidence_ids"]] if "evidence_ids" in df else None
        if "evidence_key" not in df:
            df["evidence_key"] = [
                evidence_key(m, e, g)
                for m, e, g in zip(df.model_id, df.evidence_ids, df.grid_code, strict=True)
            ]
        df = df.drop_duplicates(["model_id", "evidence_key"])
        if "created_at" not in df:
            df["created_at"] = now
        if "deadline" not in df:
            df["deadline"] = [
                workflow.deadline_for(s, c) for s, c in zip(df.severity, df.created_at, strict=True)
            ]
        cols = [c.name for c in T.warnings.c if c.name != "warning_id"]
        with self.begin() as conn:
            if "district_code" not in df or df["district_code"].isna().any():
                gu = T.grid_units
                codes = sorted({str(g) for g in df["grid_code"].dropna()})
                mapping = (
                    dict(
                        conn.execute(
                            sa.select(gu.c.grid_code, gu.c.district_code).where(
                                self._codes_in(gu.c.grid_code, codes)
                            )
                        ).all()
                    )
                    if codes
                    else {}
                )
                known = df["district_code"] if "district_code" in df else pd.Series(None, index=df.index)
                df["district_code"] = known.where(known.notna(), df["grid_code"].map(mapping))
            rows = _records(df.reindex(columns=cols))
            existing = 0
            if rows:
                w = T.warnings
                self._lock_exclusive(conn, w)  # the count of existing warnings stays true until commit
                for model_id, part in df.groupby("model_id"):
                    existing += conn.execute(
                        sa.select(sa.func.count()).where(
                            w.c.model_id == model_id,
                            self._codes_in(w.c.evidence_key, list(part.evidence_key)),
                        )
                    ).scalar_one()
                conn.execute(_insert_ignore(conn, w, ["model_id", "evidence_key"]), rows)
            inserted = len(rows) - existing
            if push:
                workflow.push_warnings(self, now=now, conn=conn)
        return inserted, existing

    def warnings(
        self,
        unit: str | Unit | None = None,
        start: Any = None,
        end: Any = None,
        filters: dict[str, Any] | None = None,
        page: int = 1,
        page_size: int = 100,
        *,
        scope: Scope = None,
    ) -> Page:
        """One page of warnings, newest first (parameters as in :meth:`records`)."""
        return self.records("warnings", unit, start, end, filters, page, page_size, scope=scope)

    def work_order(self, order_id: str) -> dict[str, Any]:
        """One work order as a dict (with its ``version`` for optimistic locking).

        Parameters
        ----------
        order_id : str

        Returns
        -------
        dict
        """
        wo = T.work_orders
        with self.connect() as conn:
            row = conn.execute(sa.select(wo).where(wo.c.order_id == order_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no work order {order_id!r}")
        return dict(row)

    def work_orders(
        self,
        unit: str | Unit | None = None,
        *,
        states: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        assignee: str | None = None,
        start: Any = None,
        end: Any = None,
        scope: Scope = None,
        page: int = 1,
        page_size: int = 50,
    ) -> Page:
        """Work orders (工单), newest first: of a unit, in states, of kinds, assigned to someone.

        Parameters
        ----------
        unit : str or Unit, optional
        states, kinds : sequence of str, optional
        assignee : str, optional
            A staff id: orders whose grid worker or officer it is ("my work orders").
        start, end : date-like, optional
            Creation days, both included.
        scope : optional
        page, page_size : int

        Returns
        -------
        Page
        """
        filters: dict[str, Any] = {}
        if states is not None:
            filters["state"] = list(states)
        if kinds is not None:
            filters["kind"] = list(kinds)
        wo = T.work_orders
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page must be >= 1 and page_size in 1..{MAX_PAGE_SIZE}")
        with self.connect() as conn:
            conds = (
                self._unit_conds(conn, wo, unit, scope)
                + self._time_conds(wo, start, end)
                + self._filter_conds(wo, filters)
            )
            if assignee is not None:
                conds.append(sa.or_(wo.c.worker_id == assignee, wo.c.officer_id == assignee))
            frame = self._read(
                conn,
                wo,
                conds,
                None,
                False,
                self._order(wo, None),
                limit=page_size,
                offset=(page - 1) * page_size,
            )
            total = conn.execute(sa.select(sa.func.count()).select_from(wo).where(*conds)).scalar_one()
        return Page(frame, total, page, page_size)

    def work_order_events(self, order_id: str) -> pd.DataFrame:
        """The trace (流转记录) of a work order, oldest first.

        Parameters
        ----------
        order_id : str

        Returns
        -------
        pandas.DataFrame
            ``event_id, order_id, from_state, to_state, actor, at, note, version``.
        """
        ev = T.work_order_events
        with self.connect() as conn:
            stmt = sa.select(ev).where(ev.c.order_id == order_id).order_by(ev.c.event_id)
            return self._frame(conn, stmt, ev)

    def work_order_stats(
        self,
        unit: str | Unit | None = None,
        start: Any = None,
        end: Any = None,
        by: str | None = None,
        *,
        scope: Scope = None,
        now: dt.datetime | None = None,
    ) -> pd.DataFrame:
        """Closure and timeliness of work orders (闭环): per unit level, kind or state, or in total.

        Parameters
        ----------
        unit, start, end, scope
            As in :meth:`records` (days on ``created_at``).
        by : str, optional
            A unit level, ``kind``, ``state`` or ``severity``.
        now : datetime, optional
            Reference time for open orders past their deadline.

        Returns
        -------
        pandas.DataFrame
            ``orders, open, closed, closed_on_time, overdue, escalated, closure_rate, on_time_rate``
            (办结率 and 按期办结率). ``overdue`` (超期) counts the orders still open past their deadline at
            ``now`` (a subset of ``open``, 未办结).
        """
        from data.store import workflow

        now = now or workflow.now()
        wo, gu = T.work_orders, T.grid_units
        if by is not None and by not in (*LEVELS, "kind", "state", "severity"):
            raise ValueError(f"cannot group work orders by {by!r}")
        closed = wo.c.state == workflow.CLOSED
        open_ = wo.c.state != workflow.CLOSED
        # 超期 (one definition on every screen, the wall and the briefing): still open and past its deadline
        # at ``now``, so never more than 未办结; an order closed late counts against 按期办结率 instead
        late = sa.and_(open_, wo.c.deadline < now)

        def n(cond):
            return sa.func.sum(sa.case((cond, 1), else_=0))

        key = []
        if by in LEVELS:
            key = [gu.c[LEVEL_COLUMN[by]].label(by)]
        elif by is not None:
            key = [wo.c[by]]
        with self.connect() as conn:
            conds = [*self._grid_conds(conn, unit, scope), *self._time_conds(wo, start, end)]
            stmt = (
                sa.select(
                    *key,
                    sa.func.count().label("orders"),
                    n(open_).label("open"),
                    n(closed).label("closed"),
                    n(sa.and_(closed, wo.c.closed_at <= wo.c.deadline)).label("closed_on_time"),
                    n(late).label("overdue"),
                    n(wo.c.state == workflow.ESCALATED).label("escalated"),
                )
                .select_from(wo.join(gu, gu.c.grid_code == wo.c.grid_code))
                .where(*conds)
            )
            if key:
                stmt = stmt.group_by(*key).order_by(*key)
            frame = self._frame(conn, stmt)
            num = [c for c in frame.columns if c != by]
            frame[num] = frame[num].fillna(0).astype("int64")
            orders = frame["orders"].where(frame["orders"] > 0)
            frame["closure_rate"] = (frame["closed"] / orders).fillna(0.0)
            frame["on_time_rate"] = (frame["closed_on_time"] / orders).fillna(0.0)
            if by in LEVELS:
                frame = self._with_names(conn, frame, by)
        return frame

    def transition(
        self,
        order_id: str,
        to_state: str,
        actor: str,
        note: str = "",
        expected_version: int | None = None,
        *,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Move a work order to ``to_state`` (see :func:`data.store.workflow.transition`)."""
        from data.store import workflow

        return workflow.transition(self, order_id, to_state, actor, note, expected_version, now=now)

    def sweep_overdue(self, now: dt.datetime | None = None, actor: str = "system") -> int:
        """Mark open work orders past their deadline 超期 (see :func:`data.store.workflow.sweep_overdue`)."""
        from data.store import workflow

        return workflow.sweep_overdue(self, now=now, actor=actor)

    # ------------------------------------------------------------------ audit log
    def append_audit(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        *,
        reason: str | None = None,
        address: str | None = None,
        detail: dict | None = None,
        at: dt.datetime | None = None,
        at_most: int | None = None,
        window: dt.timedelta = dt.timedelta(hours=1),
    ) -> int:
        """Append one entry to the audit log (审计日志); entries can never be changed or deleted.

        Parameters
        ----------
        actor : str
            Who (user id).
        action : str
            What, e.g. ``unmask``.
        target : str, optional
            Which record, e.g. ``population:P0000001``.
        reason : str, optional
            The stated reason.
        address : str, optional
            Client address.
        detail : dict, optional
            Anything else (stored as JSON).
        at : datetime, optional
            When (default now).
        at_most : int, optional
            Rate limit (限额): refuse the entry when ``actor`` already has ``at_most`` entries of ``action``
            in the ``window`` before ``at``. The count and the insert are one transaction that holds a lock
            on the actor (SQLite: the write lock, ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level
            advisory lock on actor and action), so concurrent callers cannot all pass one count.
        window : datetime.timedelta
            The window of ``at_most``.

        Returns
        -------
        int
            The entry's id.

        Raises
        ------
        LimitReachedError
            ``at_most`` is reached; nothing is written.
        """
        from data.store import workflow

        at = at or workflow.now()
        values = dict(
            at=at,
            actor=actor,
            action=action,
            target=target,
            reason=reason,
            address=address,
            detail=json.dumps(detail, ensure_ascii=False, default=str) if detail is not None else None,
        )
        a = T.audit_log
        with self.begin() as conn:
            if at_most is not None:
                self._lock_key(conn, f"audit:{action}:{actor}")
                done = conn.execute(
                    sa.select(sa.func.count()).where(
                        a.c.actor == actor, a.c.action == action, a.c.at >= at - window
                    )
                ).scalar_one()
                if done >= at_most:
                    raise LimitReachedError(actor, action, at_most, window)
            return conn.execute(sa.insert(a).values(**values).returning(a.c.audit_id)).scalar_one()

    def _lock_key(self, conn: sa.Connection, key: str) -> None:
        """Hold a lock named ``key`` until the write transaction on ``conn`` ends.

        SQLite's write transactions hold the database's write lock from their start (``BEGIN
        IMMEDIATE``), which serialises them already; PostgreSQL takes an advisory lock.
        """

    def audit_entries(
        self,
        start: Any = None,
        end: Any = None,
        filters: dict[str, Any] | None = None,
        page: int = 1,
        page_size: int = 100,
    ) -> Page:
        """One page of the audit log, newest first (``filters`` on actor, action, target …)."""
        return self.records("audit_log", None, start, end, filters, page, page_size)


# ---------------------------------------------------------------------- helpers
def _insert_ignore(conn: sa.Connection, tbl: sa.Table, keys: list[str]):
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(tbl).on_conflict_do_nothing(index_elements=keys)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame as dicts of plain Python values (``None`` for missing, datetimes for times)."""
    out = frame.astype(object).where(frame.notna(), None)
    rows = out.to_dict("records")
    for row in rows:
        for k, v in row.items():
            if isinstance(v, pd.Timestamp):
                row[k] = v.to_pydatetime()
            elif isinstance(v, np.generic):
                row[k] = v.item()
    return rows


def points_in_grids(tree: shapely.STRtree, codes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Code of the grid (from ``tree`` over grid polygons, ``codes`` aligned) each point lies in, else None.

    A point on a shared border lies in neither polygon (``within``); the smallest code wins if several do.
    """
    found = np.full(len(points), None, dtype=object)
    if not len(codes) or not len(points):
        return found
    pi, gi = tree.query(points, predicate="within")
    order = np.lexsort((codes[gi].astype(str), pi))
    pi, gi = pi[order], gi[order]
    first = np.unique(pi, return_index=True)[1]
    found[pi[first]] = codes[gi[first]]
    return found


def _coerce(frame: pd.DataFrame, tbl: sa.Table | None) -> pd.DataFrame:
    """Give a frame read from the store the dtypes of its table's columns (vectorised)."""
    if tbl is None or (frame.empty and not len(frame.columns)):
        return frame
    for name in frame.columns:
        if name not in tbl.c or name == "geometry":
            continue
        typ = tbl.c[name].type
        col = frame[name]
        if isinstance(typ, sa.DateTime | sa.Date):
            frame[name] = pd.to_datetime(col, format="ISO8601") if len(col) else col.astype("datetime64[ns]")
        elif isinstance(typ, sa.Boolean):
            frame[name] = col.astype("boolean") if col.isna().any() else col.astype(bool)
        elif isinstance(typ, sa.Integer) and not col.isna().any():
            frame[name] = col.astype("int64")
        elif isinstance(typ, sa.Float):
            frame[name] = col.astype("float64")
    return frame


def _coerce_dims(frame: pd.DataFrame) -> pd.DataFrame:
    if "day" in frame:
        frame["day"] = pd.to_datetime(frame["day"], format="ISO8601")
    if "month" in frame:
        frame["month"] = frame["month"].astype(str)
    for name in ("hour", "weekday", "n", "n_valid"):
        if name in frame:
            frame[name] = frame[name].fillna(0).astype("int64")
    return frame
