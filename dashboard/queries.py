"""What the screens ask of the store (查询), cached per (user scope, view), ready to draw.

Every function takes the caller's ``scope`` (from :class:`data.access.Principal`) and passes it to the
store, which applies it in SQL; nothing here widens it. Results are cached for :data:`TTL_S` seconds per
argument tuple (the wall refreshes on its own, so the cache must age), and frames handed out are shared:
callers must not modify them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
import shapely.geometry

from data import clock
from data.store.base import Store, UnknownUnitError
from geo.events import EventIndex
from geo.heat import cells_of, h3_aggregate, lonlat_of
from geo.units import LEVEL_COLUMN, LEVEL_ZH, Unit, child_level
from layers.geometry import feature_collection, prepare

log = logging.getLogger(__name__)

#: Seconds a cached answer is served before it is asked again.
TTL_S = 60.0
#: Seconds the KPI base (all grids' KPI inputs) is kept before it is read again.
KPI_TTL_S = 600.0
#: H3 resolutions the incident index precomputes (the map's: 7 city, 8 county, 9 township and below).
EVENT_RESOLUTIONS = (7, 8, 9)
#: Entries kept (least recently used are dropped).
MAX_ENTRIES = 512

#: Chinese name of each level (the one table is :data:`geo.units.LEVEL_ZH`).
LEVEL_NAMES = LEVEL_ZH
#: Unit layer and code column holding the polygons of each level.
GEOMETRY_OF_LEVEL: dict[str, tuple[str, str, str]] = {
    "city": ("admin_units", "unit_code", "unit_name"),
    "county": ("admin_units", "unit_code", "unit_name"),
    "township": ("admin_units", "unit_code", "unit_name"),
    "village": ("admin_units", "unit_code", "unit_name"),
    "bureau": ("police_units", "unit_code", "unit_name"),
    "station": ("police_units", "unit_code", "unit_name"),
    "district": ("police_units", "unit_code", "unit_name"),
    "grid": ("grids", "grid_code", "grid_name"),
}


class TTLCache:
    """A small thread-safe LRU cache whose entries expire after ``ttl`` seconds."""

    def __init__(self, ttl: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                self._data.move_to_end(key)
                return hit[1]
        value = compute()
        with self._lock:
            self._data[key] = (now, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def _key(scope: Any) -> Hashable:
    return scope if isinstance(scope, str) or scope is None else tuple(sorted(scope))


@dataclass
class Queries:
    """The dashboard's read side over one store (thread-safe; one per server)."""

    store: Store
    ttl: float = TTL_S

    def __post_init__(self) -> None:
        self.cache = TTLCache(self.ttl)
        self._kpi = None
        self._kpi_lock = threading.Lock()
        self._kpi_first = threading.Lock()
        self._kpi_refreshing = False
        self._events: tuple[Any, EventIndex] | None = None  # (the store's load stamp, the index)
        self._events_lock = threading.Lock()
        self._events_building = False

    def _cached(self, name: str, args: tuple, compute: Callable[[], Any]) -> Any:
        return self.cache.get((name, *args), compute)

    # ------------------------------------------------------------------ units
    def as_of(self) -> dt.date:
        """The day the quick ranges (今日, 近7天, 近30天 …) end on and the header shows as 数据截至.

        Live data (its latest incident day is today or yesterday, by the product's clock
        :func:`data.clock.today`): today, so that 今日 is the clock's today even before today's first
        incident; a recorded history (the data ended earlier): its latest incident day; no incidents: today.
        """

        def compute():
            today = clock.today()
            days = self.store.aggregate_incidents(None, by="day", fill=False)
            if not len(days):
                return today
            last = pd.Timestamp(days["day"].max()).date()
            return today if today - dt.timedelta(days=1) <= last <= today else last

        return self._cached("as_of", (), compute)

    def unit(self, code: str | None) -> Unit | None:
        """The unit of ``code`` (``None`` for the city), or ``None`` for an unknown code."""
        if not code:
            return None

        def compute():
            try:
                return self.store.unit(code)
            except (UnknownUnitError, LookupError):
                return None

        return self._cached("unit", (code,), compute)

    def city(self) -> Unit:
        """The city unit (top of both hierarchies)."""

        def compute():
            cities = self.store.units("city")
            row = cities.iloc[0]
            return Unit(row.unit_code, row.unit_name, "city", "admin", None)

        return self._cached("city", (), compute)

    def unit_names(self) -> dict[str, str]:
        """Code → name of every unit (and grid)."""

        def compute():
            u = self.store.units()
            return dict(zip(u.unit_code, u.unit_name, strict=True))

        return self._cached("unit_names", (), compute)

    def visible(self, code: str | None, scope: Any) -> bool:
        """True when some grid of unit ``code`` lies in ``scope``."""
        return self._cached(
            "visible", (code, _key(scope)), lambda: bool(self.store.grids_of(code or None, scope=scope))
        )

    def grid_parent(self, grid: str, hierarchy: str) -> str | None:
        """A grid's parent: its community (admin) or its 警格 (police)."""
        gu = self._cached("grid_units", (), lambda: self.store.grid_units().set_index("grid_code"))
        if grid not in gu.index:
            return None
        return gu.at[grid, "district_code" if hierarchy == "police" else "village_code"]

    def counterpart(self, code: str | None, hierarchy: str) -> str | None:
        """The unit of ``hierarchy`` nearest to unit ``code`` of the other one: the smallest unit of
        ``hierarchy`` holding every grid of ``code`` (a county → its 分局, a township → its 派出所, a
        community → its 警格 when one holds all its grids, else the unit above); a grid stays itself;
        None (the city) when no unit below the city holds them all."""
        unit = self.unit(code) if code else None
        if unit is None or unit.level == "city":
            return None
        if unit.level == "grid":
            return unit.code
        gu = self._cached("grid_units", (), lambda: self.store.grid_units().set_index("grid_code"))
        column = LEVEL_COLUMN[unit.level]
        if column not in gu.columns:
            return None
        rows = gu[gu[column] == unit.code]
        levels = (
            ("district", "station", "bureau") if hierarchy == "police" else ("village", "township", "county")
        )
        for level in levels:
            values = rows[LEVEL_COLUMN[level]].dropna().unique() if len(rows) else []
            if len(values) == 1:
                return str(values[0])
        return None

    def parent(self, unit: Unit, hierarchy: str) -> str | None:
        """The code of the unit above ``unit`` along ``hierarchy`` (None above the city)."""
        if unit.level == "city":
            return None
        if unit.level == "grid":
            return self.grid_parent(unit.code, hierarchy)
        if unit.level in ("county", "bureau"):
            return self.city().code
        return unit.parent_code

    def path(self, code: str | None, hierarchy: str, top: str | None) -> list[Unit]:
        """Units from ``top`` (the user's own unit; None = the city) down to ``code`` (breadcrumb 面包屑)."""
        chain: list[Unit] = []
        u = self.unit(code) or self.city()
        while u is not None:
            chain.append(u)
            if top and u.code == top:
                break
            parent = self.parent(u, hierarchy)
            u = self.unit(parent) if parent else None
            if u is None and parent == self.city().code:
                u = self.city()
        return chain[::-1]

    def child_level(self, unit: Unit | None, hierarchy: str) -> str | None:
        return child_level(unit.level if unit is not None else "city", hierarchy)

    # ------------------------------------------------------------------ figures
    def child_counts(
        self, code: str | None, hierarchy: str, start, end, categories: tuple, scope: Any
    ) -> pd.DataFrame:
        """Incidents per child unit of ``code`` (``code, name, n, n_valid``), largest first."""
        unit = self.unit(code)
        level = self.child_level(unit, hierarchy) or "grid"

        def compute():
            frame = self.store.aggregate_incidents(
                code or None, start, end, list(categories) or None, by=level, scope=scope
            )
            frame = frame.rename(columns={level: "code", "unit_name": "name"})
            if "name" not in frame:
                names = self.unit_names()
                frame["name"] = frame["code"].map(names)
            return frame.sort_values(["n", "code"], ascending=[False, True]).reset_index(drop=True)

        return self._cached("child_counts", (code, level, start, end, categories, _key(scope)), compute)

    def totals(self, code: str | None, start, end, categories: tuple, scope: Any) -> pd.DataFrame:
        """Incidents per category in the unit and days (``category, n, n_valid``)."""
        return self._cached(
            "totals",
            (code, start, end, categories, _key(scope)),
            lambda: self.store.aggregate_incidents(
                code or None, start, end, list(categories) or None, by="category", scope=scope
            ),
        )

    def series(
        self, code: str | None, start, end, categories: tuple, scope: Any, by: str = "day"
    ) -> pd.DataFrame:
        """Incidents per day (or month, hour, weekday)."""
        return self._cached(
            "series",
            (code, start, end, categories, _key(scope), by),
            lambda: self.store.aggregate_incidents(
                code or None, start, end, list(categories) or None, by=by, scope=scope
            ),
        )

    def base_figures(self, code: str | None, by: str | None, scope: Any) -> pd.DataFrame:
        """Base figures (households, population, …) per unit of level ``by`` or in total."""
        return self._cached(
            "base", (code, by, _key(scope)), lambda: self.store.grid_figures(code or None, by=by, scope=scope)
        )

    def layer_counts(
        self, layer: str, code: str | None, start, end, by: Any, scope: Any, filters=None
    ) -> pd.DataFrame:
        """Records of any grid layer counted by ``by`` (see :meth:`Store.aggregate`)."""
        fkey = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (filters or {}).items()))
        return self._cached(
            "layer_counts",
            (
                layer,
                code,
                start,
                end,
                by if isinstance(by, str) or by is None else tuple(by),
                fkey,
                _key(scope),
            ),
            lambda: self.store.aggregate(
                layer, code or None, start, end, by=by, filters=filters, scope=scope
            ),
        )

    def order_stats(self, code: str | None, start, end, by: str | None, scope: Any) -> pd.DataFrame:
        """Work-order closure and timeliness (see :meth:`Store.work_order_stats`)."""
        return self._cached(
            "order_stats",
            (code, start, end, by, _key(scope)),
            lambda: self.store.work_order_stats(code or None, start, end, by=by, scope=scope),
        )

    def _read_kpi_base(self):
        from geo.kpi import KPI_COLUMNS, per_grid_base

        layers = {}
        for name, cols in KPI_COLUMNS.items():
            layers[name] = self.store.read(name, columns=list(cols), geometry=False)
        return per_grid_base(layers, self.city().code)

    def _refresh_kpi_base(self) -> None:
        try:
            base = self._read_kpi_base()
            with self._kpi_lock:
                self._kpi = (time.monotonic(), base)
        except Exception:  # the store is down: keep the base there is, try again on a later request
            log.warning("KPI base not refreshed", exc_info=True)
        finally:
            with self._kpi_lock:
                self._kpi_refreshing = False

    def kpi_base(self):
        """The per-grid KPI base (:func:`geo.kpi.per_grid_base`) of the whole city (scope is applied when
        KPIs are computed for units).

        Reading it means reading every resident, address, visit … of the city (about a minute for the
        full demo), so it is never read on a request's time once there is one: an older base is served
        while a background thread reads a new one every :data:`KPI_TTL_S` seconds. Only a server's very
        first request waits for it (:meth:`warm` starts it at start-up).
        """
        with self._kpi_lock:
            hit = self._kpi
            stale = hit is None or time.monotonic() - hit[0] >= KPI_TTL_S
            if hit is not None and stale and not self._kpi_refreshing:
                self._kpi_refreshing = True
                threading.Thread(target=self._refresh_kpi_base, daemon=True, name="onemap-kpi").start()
            if hit is not None:
                return hit[1]
        with self._kpi_first:  # the first base: one reader, the others wait for it
            with self._kpi_lock:
                if self._kpi is not None:
                    return self._kpi[1]
            base = self._read_kpi_base()
            with self._kpi_lock:
                self._kpi = (time.monotonic(), base)
            return base

    def warmed(self) -> bool:
        """True once what :meth:`warm` started is there (the incident index and a KPI base)."""
        with self._kpi_lock:
            kpi = self._kpi is not None
        with self._events_lock:
            events = self._events is not None
        return kpi and events

    def warm(self) -> None:
        """Start reading, in the background, what the first views would otherwise wait for: the KPI base
        and the incident index (with its H3 cells). A failure is logged; requests then read the store."""

        def run() -> None:
            try:
                self.kpi_base()
            except Exception:
                log.warning("KPI base not read at start-up", exc_info=True)

        self.events()
        threading.Thread(target=run, daemon=True, name="onemap-warm").start()

    def layer_status(self) -> pd.DataFrame:
        return self._cached("layer_status", (), self.store.layer_status)

    # ------------------------------------------------------------------ geometry
    def child_shapes(self, code: str | None, hierarchy: str, scope: Any) -> tuple[dict, list[str], str]:
        """The FeatureCollection of the child units of ``code`` in scope, simplified for the level.

        Returns
        -------
        (dict, list of str, str)
            FeatureCollection (feature ``id`` = position), codes in feature order, child level.
        """
        unit = self.unit(code)
        level = self.child_level(unit, hierarchy) or "grid"

        def compute():
            layer, code_col, name_col = GEOMETRY_OF_LEVEL[level]
            if level == "grid":
                frame = self.store.features("grids", code or None, scope=scope, columns=[code_col, name_col])
            else:
                codes = self.child_counts(code, hierarchy, None, None, (), scope)["code"].tolist()
                frame = self.store.features(layer, filters={"unit_code": codes}, columns=[code_col, name_col])
            frame = frame.sort_values(code_col).reset_index(drop=True)
            view_level = (unit.level if unit is not None else "city") if level != "grid" else level
            shaped = prepare(frame, view_level) if len(frame) else frame
            fc = feature_collection(shaped, code_col, name_col) if len(frame) else _empty_fc()
            return fc, frame[code_col].tolist(), level

        return self._cached("child_shapes", (code, level, _key(scope)), compute)

    def district_shapes(self, code: str | None, view_level: str, scope: Any) -> dict:
        """The FeatureCollection of the 警格 of unit ``code`` in scope, simplified for ``view_level``."""

        def compute():
            frame = self.store.features(
                "districts", code or None, scope=scope, columns=["district_code", "district_name"]
            )
            if not len(frame):
                return _empty_fc()
            frame = frame.sort_values("district_code").reset_index(drop=True)
            return feature_collection(prepare(frame, view_level), "district_code", "district_name")

        return self._cached("district_shapes", (code, view_level, _key(scope)), compute)

    def child_at(self, code: str | None, hierarchy: str, scope: Any, lon: float, lat: float) -> str | None:
        """The child unit of ``code`` drawn under a point of the map (a click on a hexagon or a point
        drills into the unit below it), or None outside every child."""
        fc, codes, _level = self.child_shapes(code, hierarchy, scope)
        if not codes:
            return None

        def compute():
            return shapely.STRtree([shapely.geometry.shape(f["geometry"]) for f in fc["features"]])

        tree = self._cached("child_tree", (code, hierarchy, _key(scope)), compute)
        hits = tree.query(shapely.Point(lon, lat), predicate="intersects")
        return codes[int(min(hits))] if len(hits) else None

    def outline_shapes(self, level: str, scope: Any) -> dict:
        """County (or township) outlines of the whole city for the offline base map."""

        def compute():
            frame = self.store.features(
                "admin_units", filters={"level": level}, columns=["unit_code", "unit_name"]
            )
            return (
                feature_collection(prepare(frame, "city"), "unit_code", "unit_name")
                if len(frame)
                else _empty_fc()
            )

        return self._cached("outlines", (level,), compute)

    # ------------------------------------------------------------------ incidents in memory
    def _events_stamp(self) -> Any:
        """What changes when the incidents are (re)loaded: their row in the store's load log."""
        status = self.layer_status()
        rows = status[status["layer"] == "incidents"] if "layer" in status else status.iloc[0:0]
        return tuple(rows.iloc[0].astype(str)) if len(rows) else None

    def _build_events(self, stamp: Any) -> None:
        try:
            frame = self.store.read("incidents", columns=["occurred_at", "category", "grid_code"])
            index = EventIndex.from_frame(frame)
            for resolution in EVENT_RESOLUTIONS:  # the map's resolutions, before the index is shown
                index.cells(resolution)
            with self._events_lock:
                self._events = (stamp, index)
        except Exception:  # the store is down or the layer odd: the screens keep reading the store
            log.warning("incident index not built", exc_info=True)
        finally:
            with self._events_lock:
                self._events_building = False

    def events(self) -> EventIndex | None:
        """The incidents as an in-memory :class:`geo.events.EventIndex`, or None while it is being built.

        The first call starts building it in the background (a full city's incidents take 10–20 s to
        read); until it is ready, and whenever the store has reloaded the incidents since (checked every
        :data:`TTL_S` seconds), callers read the store as before, so an answer is never stale beyond the
        cache's own age.
        """
        stamp = self._events_stamp()
        with self._events_lock:
            current = self._events
            if current is not None and current[0] == stamp:
                return current[1]
            if self._events_building:
                return None
            self._events_building = True
        threading.Thread(target=self._build_events, args=(stamp,), daemon=True, name="onemap-events").start()
        return None

    def _event_mask(self, index: EventIndex, code, start, end, categories: tuple, scope: Any):
        grids = None
        if code or scope is not None:
            grids = self._cached(
                "grid_set",
                (code, _key(scope)),
                lambda: frozenset(self.store.grids_of(code or None, scope=scope)),
            )
        return index.mask(grids, start, end, categories)

    def incident_points(
        self, code: str | None, start, end, categories: tuple, scope: Any, resolution: int | None = None
    ) -> pd.DataFrame:
        """The incidents of a view as ``lon``, ``lat``, ``category``, ``occurred_at`` (from memory when
        the index is ready, else from the store), with their H3 cell (integer) in ``cell`` when a
        ``resolution`` is given."""
        index = self.events()
        if index is None:
            frame = self.points(
                "incidents",
                code,
                start,
                end,
                scope,
                filters={"category": list(categories)} if categories else None,
                columns=["category", "occurred_at"],
            )
            if resolution is not None:
                frame = frame.assign(cell=cells_of(*lonlat_of(frame), resolution))
            return frame

        def compute():
            mask = self._event_mask(index, code, start, end, categories, scope)
            frame = index.frame(mask)
            return frame if resolution is None else frame.assign(cell=index.cells(resolution)[mask])

        return self._cached(
            "incident_points", (code, start, end, categories, _key(scope), resolution, id(index)), compute
        )

    def incident_cells(
        self, code: str | None, start, end, categories: tuple, scope: Any, resolution: int
    ) -> pd.DataFrame:
        """Incidents of a view per H3 cell (``h3``, ``count``), like :func:`geo.heat.h3_aggregate` of
        :meth:`incident_points`."""
        index = self.events()
        if index is None:
            return h3_aggregate(
                self.incident_points(code, start, end, categories, scope), resolution=resolution
            )
        return self._cached(
            "incident_cells",
            (code, start, end, categories, _key(scope), resolution, id(index)),
            lambda: index.cell_counts(
                self._event_mask(index, code, start, end, categories, scope), resolution
            ),
        )

    def points(
        self,
        layer: str,
        code: str | None,
        start,
        end,
        scope: Any,
        filters=None,
        columns=None,
        limit: int | None = None,
    ) -> gpd.GeoDataFrame:
        """Point features of ``layer`` in the unit (and days, for dated layers)."""
        fkey = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (filters or {}).items()))
        return self._cached(
            "points",
            (layer, code, start, end, fkey, tuple(columns or ()), limit, _key(scope)),
            lambda: self.store.features(
                layer,
                code or None,
                start=start,
                end=end,
                filters=filters,
                scope=scope,
                columns=columns,
                limit=limit,
            ),
        )


def _empty_fc() -> dict:
    return {"type": "FeatureCollection", "features": []}
