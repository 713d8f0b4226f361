"""Briefing maps (简报地图) for leaders: one A4-landscape page per unit and period, as PNG or PDF.

In the manner of a CompStat sheet: a map of the unit's child units coloured by incident count, KPI
cards, incidents per category this period against the same period last year (同比), the last 28 days
against the 28 days before (环比) and the year to date against last year's, the units and grids with
most incidents (with Getis–Ord Gi* hot spots where the unit is small enough), and the closure of work
orders (工单办结). Every figure is computed from the store with the caller's ``scope``, in SQL, from the
precomputed ``incident_counts`` and the work-order tables, never by loading the incidents.

* :func:`brief_data` gathers the figures (:class:`BriefData`);
* :func:`brief_figure` draws the page (a ``plotly.graph_objects.Figure`` of :data:`PAGE_WIDTH` ×
  :data:`PAGE_HEIGHT` px, A4 landscape at 150 dpi);
* :func:`render_brief` and :func:`brief_bytes` export it with kaleido; :func:`brief` does both;
* :func:`brief_filename` names the download.

Offline by construction: the map is filled SVG paths on plain axes (``layers.figures.static_map_figure``,
no map tile, style or glyph), plotly.js comes from the installed plotly package and MathJax is off.

Export server. One persistent kaleido (headless Chromium, one tab) is started on the first export
(about 2.5 s) and reused: then a page takes 0.3–0.8 s as PNG and 0.5–1.5 s as PDF on 2 cores. It
runs on an event loop in a thread of its own; each export submits its own coroutine and waits on its own
future, so no export can receive another's image (what happened with concurrent calls to kaleido's
shared sync server), and :data:`_EXPORT_LOCK` serialises the exports and the server's start and stop.
``kaleido.start_sync_server`` is not used: when the browser cannot start, its server thread dies and
every later call waits forever on its queue, which would hang a dashboard worker; here each step has a
timeout, a failure raises :class:`BriefExportError`, and the next export starts a new browser.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import logging
import math
import os
import re
import threading
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import shapely

from data import clock
from data.schema import INCIDENT_CATEGORIES
from data.store.base import Scope, Store
from geo.kpi import same_period_last_year
from geo.units import LEVEL_COLUMN, LEVEL_ZH, Unit, child_level
from layers.colours import THEMES, classify
from layers.figures import FONT_FAMILY, static_map_figure, template
from layers.geometry import prepare

log = logging.getLogger(__name__)

__all__ = [
    "PAGE_HEIGHT",
    "PAGE_WIDTH",
    "TITLE",
    "BriefData",
    "BriefExportError",
    "brief",
    "brief_bytes",
    "brief_data",
    "brief_figure",
    "brief_filename",
    "change_text",
    "close_renderer",
    "export_page",
    "render_brief",
    "windows_for",
]

#: Title of every briefing (简报标题).
TITLE = "警网融合一张图 · 治安态势简报"
#: Page size in px at scale 1: A4 landscape (297 × 210 mm) at 150 dpi.
PAGE_WIDTH, PAGE_HEIGHT = 1754, 1240
#: Formats :func:`render_brief` writes.
FORMATS = ("png", "pdf")
#: Rows of each "most incidents" table.
TOP_N = 10
#: Gi* runs only on units with this many grids (a city of 13.7 K grids would add seconds).
GI_MIN_GRIDS, GI_MAX_GRIDS = 10, 3000
#: Permutations of the Gi* pseudo p-values (999: a briefing needs the 95 % bin, not the 99 % one).
GI_PERMUTATIONS = 999
#: Child units get a name label on the map when there are at most this many (else the top ones only).
MAX_LABELS = 30
#: Seconds to start the export browser, and to render one page.
START_TIMEOUT_S, RENDER_TIMEOUT_S = 60.0, 120.0

_POLYGON_LAYER = {
    "county": "admin_units",
    "township": "admin_units",
    "village": "admin_units",
    "bureau": "police_units",
    "station": "police_units",
    "district": "police_units",
}
_TOTAL, _VALID = "合计", "有效警情"


class BriefExportError(RuntimeError):
    """The briefing could not be exported (no browser, the browser failed, a timeout)."""


# --------------------------------------------------------------------------------------------------
# the figures


@dataclass
class BriefData:
    """Everything a briefing shows, computed from the store (see :func:`brief_data`).

    Attributes
    ----------
    unit : geo.units.Unit
        The unit (the city when the brief is for everything).
    child_level : str
        Level the map is divided into.
    start, end, generated : datetime.date
        The period (both days included) and the day the brief was made.
    windows : dict of str to (date, date)
        ``period``, ``period_prev`` (same period last year), ``d28``, ``d28_prev``, ``ytd``, ``ytd_prev``.
    categories : pandas.DataFrame
        Indexed by category (8 categories, ``合计``, ``有效警情``), one column per window, incident counts.
    children : pandas.DataFrame
        Per child unit: ``code``, ``name``, ``n`` (this period), ``n_prev`` (same period last year),
        most incidents first.
    top_grids : pandas.DataFrame
        The grids with most incidents this period: ``grid_code``, ``name``, ``n``, ``gi_class``.
    work_orders : dict
        ``orders, open, closed, closed_on_time, overdue, escalated, closure_rate, on_time_rate`` of the
        work orders created in the period (``store.work_order_stats``).
    order_kinds : pandas.DataFrame
        The same per kind of work order (预警推送, 派单 …), a ``kind`` column first.
    map_frame : geopandas.GeoDataFrame
        Child polygons (simplified for the view) with ``code``, ``name``, ``n``.
    hot_grids : geopandas.GeoDataFrame or None
        Grids in a Gi* hot spot (bin > 0), when Gi* ran.
    gi : dict or None
        Gi* summary (``n_units``, ``n_hot``, ``n_cold``, ``permutations``) when it ran, else None.
    scoped : bool
        The figures were limited to a scope.
    """

    unit: Unit
    child_level: str
    start: dt.date
    end: dt.date
    generated: dt.date
    windows: dict[str, tuple[dt.date, dt.date]]
    categories: pd.DataFrame
    children: pd.DataFrame
    top_grids: pd.DataFrame
    work_orders: dict[str, float]
    order_kinds: pd.DataFrame
    map_frame: gpd.GeoDataFrame
    hot_grids: gpd.GeoDataFrame | None = None
    gi: dict[str, Any] | None = None
    scoped: bool = False

    def count(self, window: str, category: str = _TOTAL) -> int:
        """Incidents of a category (default all) in a window (``period``, ``d28`` …)."""
        return int(self.categories.loc[category, window])


def _date(value: Any, name: str) -> dt.date:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} {value!r} is not a date") from exc
    if pd.isna(ts):
        raise ValueError(f"{name} is missing")
    return ts.date()


def windows_for(start: dt.date, end: dt.date) -> dict[str, tuple[dt.date, dt.date]]:
    """The six comparison windows of a brief for the period ``start``..``end`` (days included).

    ``period_prev`` and ``ytd_prev`` are :func:`geo.kpi.same_period_last_year` of ``period`` and of
    ``ytd`` (1 January of the end's year to the end); ``d28`` is the 28 days ending on ``end`` and
    ``d28_prev`` the 28 days before them.
    """
    jan1 = end.replace(month=1, day=1)
    ps, pe = same_period_last_year(start, end)
    ys, ye = same_period_last_year(jan1, end)
    day = dt.timedelta(days=1)
    return {
        "period": (start, end),
        "period_prev": (ps.date(), pe.date()),
        "d28": (end - 27 * day, end),
        "d28_prev": (end - 55 * day, end - 28 * day),
        "ytd": (jan1, end),
        "ytd_prev": (ys.date(), ye.date()),
    }


def _category_table(daily: pd.DataFrame, windows: dict[str, tuple[dt.date, dt.date]]) -> pd.DataFrame:
    """Counts per category (and total, valid) in each window from a ``category × day`` aggregate."""
    rows = list(INCIDENT_CATEGORIES) + sorted(set(daily.get("category", [])) - set(INCIDENT_CATEGORIES))
    out = pd.DataFrame(0, index=pd.Index([*rows, _TOTAL, _VALID], dtype=object), columns=list(windows))
    if daily.empty:
        return out
    day = pd.to_datetime(daily["day"]).dt.date
    for name, (lo, hi) in windows.items():
        part = daily[(day >= lo) & (day <= hi)]
        per_cat = part.groupby("category")["n"].sum()
        out.loc[per_cat.index, name] = per_cat.to_numpy()
        out.loc[_TOTAL, name] = int(part["n"].sum())
        out.loc[_VALID, name] = int(part["n_valid"].sum())
    return out.astype("int64")


def _city(store: Store) -> Unit:
    """The city a brief without a unit is about (``全部辖区`` when the store holds several)."""
    cities = store.units(level="city")
    if len(cities) == 1:
        r = cities.iloc[0]
        return Unit(str(r.unit_code), str(r.unit_name or r.unit_code), "city", "admin", None)
    return Unit("", "全部辖区", "city", "admin", None)


def _child_polygons(
    store: Store, unit: Unit | None, level: str, codes: list[str], scope: Scope
) -> gpd.GeoDataFrame:
    """Polygons of the child units ``codes`` (``code``, geometry), from their layer or dissolved grids."""
    empty = gpd.GeoDataFrame({"code": pd.Series(dtype="str")}, geometry=[], crs=4326)
    if not codes:
        return empty
    if level == "grid":
        frame = store.features("grids", unit, scope=scope, columns=["grid_code"])
        return frame.rename(columns={"grid_code": "code"})[["code", "geometry"]]
    layer = _POLYGON_LAYER[level]
    frame = store.features(layer, filters={"level": level, "unit_code": codes}, columns=["unit_code"])
    frame = frame.rename(columns={"unit_code": "code"})[["code", "geometry"]]
    missing = sorted(set(codes) - set(frame["code"]))
    if missing:  # no polygon loaded for them: draw them as the union of their grids
        col = LEVEL_COLUMN[level]
        grids = store.features("grids", unit, scope=scope, columns=["grid_code"])
        grids = grids.merge(store.grid_units(unit, scope=scope)[["grid_code", col]], on="grid_code")
        grids = grids[grids[col].isin(missing)]
        if len(grids):
            dissolved = grids.dissolve(by=col, as_index=False)
            dissolved = dissolved.rename(columns={col: "code"})[["code", "geometry"]]
            frame = pd.concat([frame, dissolved], ignore_index=True)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)


def _children(store: Store, unit: Unit | None, child: str, windows, scope: Scope) -> pd.DataFrame:
    """Incidents per child unit this period and in the same period last year, most first."""
    (s, e), (ps, pe) = windows["period"], windows["period_prev"]
    now = store.aggregate_incidents(unit, s, e, by=child, scope=scope)
    before = store.aggregate_incidents(unit, ps, pe, by=child, scope=scope)
    out = pd.DataFrame(
        {
            "code": now[child].astype(str).to_numpy(),
            "name": now["unit_name"].fillna(now[child]).astype(str).to_numpy(),
            "n": now["n"].to_numpy(dtype="int64"),
        }
    )
    prev = before.set_index(before[child].astype(str))["n"]
    out["n_prev"] = out["code"].map(prev).fillna(0).astype("int64")
    return out.sort_values(["n", "code"], ascending=[False, True], ignore_index=True)


def _grid_counts(
    store: Store, unit: Unit | None, child: str, children: pd.DataFrame, windows, scope: Scope
) -> pd.DataFrame:
    """Incidents per grid this period (``grid_code, name, n``), most first."""
    if child == "grid":
        out = children.rename(columns={"code": "grid_code"})[["grid_code", "name", "n"]]
    else:
        s, e = windows["period"]
        per_grid = store.aggregate_incidents(unit, s, e, by="grid", scope=scope)
        out = pd.DataFrame(
            {
                "grid_code": per_grid["grid"].astype(str).to_numpy(),
                "name": per_grid["unit_name"].fillna(per_grid["grid"]).astype(str).to_numpy(),
                "n": per_grid["n"].to_numpy(dtype="int64"),
            }
        )
    return out.sort_values(["n", "grid_code"], ascending=[False, True], ignore_index=True)


def _hotspots(
    store: Store, unit: Unit | None, grids: gpd.GeoDataFrame | None, counts: pd.DataFrame, scope: Scope
) -> tuple[pd.Series, gpd.GeoDataFrame | None, dict[str, Any] | None]:
    """Gi* class per grid, the hot-spot grids and a summary; empty classes when Gi* does not run.

    ``grids`` are the unit's grid polygons when already read (``code`` column), else None.
    """
    classes = pd.Series("", index=counts["grid_code"], dtype=object)
    if not GI_MIN_GRIDS <= len(counts) <= GI_MAX_GRIDS:
        return classes, None, None
    from geo.hotspots import contiguity_weights, getis_ord  # esda: seconds of import, only when needed

    if grids is None:
        grids = store.features("grids", unit, scope=scope, columns=["grid_code"])
    else:
        grids = grids.rename(columns={"code": "grid_code"})
    w = contiguity_weights(grids, "queen", id_col="grid_code")
    values = counts.set_index("grid_code")["n"].reindex(pd.Index(w.id_order, dtype=object), fill_value=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the permutation-floor warning is for analysts, not briefings
        result = getis_ord(values.astype("float64"), w, permutations=GI_PERMUTATIONS, seed=0)
    hot = grids[grids["grid_code"].isin(result.index[result["gi_bin"] > 0])]
    summary = {k: result.attrs[k] for k in ("n_units", "n_hot", "n_cold", "permutations")}
    return result["class"].astype(object), hot, summary


def brief_data(
    store: Store,
    unit_code: str | Unit | None,
    start: Any,
    end: Any,
    *,
    scope: Scope = None,
    gi_star: bool = True,
    generated: dt.date | None = None,
) -> BriefData:
    """The figures of a briefing, computed from the store.

    Parameters
    ----------
    store : data.store.base.Store
    unit_code : str, Unit or None
        A unit of either hierarchy; None for the whole city.
    start, end : date-like
        The period, both days included.
    scope : optional
        The caller's scope (权限范围): every figure counts only the grids in it.
    gi_star : bool
        Run Gi* on the unit's grids when it has between :data:`GI_MIN_GRIDS` and :data:`GI_MAX_GRIDS`.
    generated : datetime.date, optional
        Day shown as the generation date (default today).

    Returns
    -------
    BriefData

    Raises
    ------
    data.store.base.UnknownUnitError
        The unit code is in neither hierarchy (the message names it).
    ValueError
        ``start`` is after ``end``, or either is not a date.
    """
    s, e = _date(start, "start"), _date(end, "end")
    if s > e:
        raise ValueError(f"the period starts ({s}) after it ends ({e})")
    query_unit = store.unit(unit_code) if unit_code is not None else None
    unit = query_unit or _city(store)
    child = child_level(unit.level, unit.hierarchy) or "grid"  # a grid's map shows the grid itself
    windows = windows_for(s, e)
    lo = min(a for a, _ in windows.values())
    daily = store.aggregate_incidents(query_unit, lo, e, by=("category", "day"), scope=scope, fill=False)
    children = _children(store, query_unit, child, windows, scope)
    grid_counts = _grid_counts(store, query_unit, child, children, windows, scope)
    polygons = _child_polygons(store, query_unit, child, children["code"].tolist(), scope)

    classes, hot_grids, gi = pd.Series("", index=grid_counts["grid_code"], dtype=object), None, None
    if gi_star:
        grids = polygons if child == "grid" else None
        classes, hot_grids, gi = _hotspots(store, query_unit, grids, grid_counts, scope)
    top = grid_counts.head(TOP_N).copy()
    top["gi_class"] = top["grid_code"].map(classes).fillna("").astype(str)

    map_frame = gpd.GeoDataFrame(
        polygons.merge(children[["code", "name", "n"]], on="code", how="right"), geometry="geometry", crs=4326
    )
    map_frame = map_frame[map_frame.geometry.notna()].reset_index(drop=True)
    if len(map_frame):
        map_frame = prepare(map_frame, unit.level)

    stats = store.work_order_stats(query_unit, s, e, scope=scope)
    return BriefData(
        unit=unit,
        child_level=child,
        start=s,
        end=e,
        generated=generated or clock.today(),
        windows=windows,
        categories=_category_table(daily, windows),
        children=children,
        top_grids=top,
        work_orders={k: (float(stats[k].iloc[0]) if len(stats) else 0.0) for k in stats.columns},
        order_kinds=store.work_order_stats(query_unit, s, e, by="kind", scope=scope),
        map_frame=map_frame,
        hot_grids=hot_grids,
        gi=gi,
        scoped=scope is not None,
    )


# --------------------------------------------------------------------------------------------------
# the page

#: Fonts of the page: DejaVu Sans first for digits and Latin letters, because Chromium's PDF writes many
#: digits of Noto Sans CJK as glyphs without a Unicode mapping (text extraction and search then find
#: U+0000 instead of the numbers); Chinese falls through to the CJK fonts of ``layers.figures``.
BRIEF_FONT = f"DejaVu Sans, {FONT_FAMILY}"
#: Page colours beyond the theme's: the title band and table headers.
_EXTRA_COLOURS = {
    "light": {"band": "#1f3b63", "head": "#34495e"},
    "dark": {"band": "#10294a", "head": "#1f4e79"},
}
#: Left column (map) and right column (cards, tables) in paper coordinates; rows of the bottom tables.
_MAP_X, _RIGHT_X0 = (0.0, 0.47), 0.505
_TOP_Y, _TOP_TITLE_Y = (0.075, 0.375), 0.382


def _pct(now: float, then: float) -> float:
    return (now / then - 1.0) * 100.0 if then > 0 else math.nan


def change_text(now: float, then: float) -> str:
    """``↑12.5%``, ``↓3.0%``, ``持平`` (no change) or ``—`` (nothing to compare with)."""
    if now == then:
        return "持平"
    if then <= 0:
        return "—"
    pct = _pct(now, then)
    return f"↑{pct:.1f}%" if pct > 0 else f"↓{-pct:.1f}%"


def _change_colour(now: float, then: float, t: dict[str, str]) -> str:
    """Red for a rise, green for a fall: every incident category is one the police want fewer of."""
    if now == then or then <= 0:
        return t["muted"]
    return t["bad"] if now > then else t["good"]


def _span(window: tuple[dt.date, dt.date], short: bool = False) -> str:
    a, b = window
    return f"{a:%m-%d}–{b:%m-%d}" if short else f"{a.isoformat()} 至 {b.isoformat()}"


def _text(fig: go.Figure, text: str, x: float, y: float, size: float, colour: str, **kw: Any) -> None:
    """A text in paper coordinates (anchored left/bottom unless told otherwise)."""
    fig.add_annotation(
        text=text,
        x=x,
        y=y,
        xref="paper",
        yref="paper",
        xanchor=kw.pop("xanchor", "left"),
        yanchor=kw.pop("yanchor", "bottom"),
        showarrow=False,
        font={"size": size, "color": colour},
        **kw,
    )


def _table(
    columns: Sequence[Sequence[Any]],
    header: Sequence[str],
    *,
    x: tuple[float, float],
    y: tuple[float, float],
    t: dict[str, str],
    widths: Sequence[float],
    colours: Sequence[Sequence[str]] | None = None,
    align: Sequence[str] | str = "center",
    shaded_last: int = 0,
    header_height: int = 30,
) -> go.Table:
    n = len(columns[0]) if columns else 0
    fill = [t["background"] if i % 2 else t["paper"] for i in range(n)]
    for i in range(max(0, n - shaded_last), n):
        fill[i] = t["land"]
    return go.Table(
        domain={"x": list(x), "y": list(y)},
        columnwidth=list(widths),
        header={
            "values": [f"<b>{h}</b>" for h in header],
            "fill_color": t["head"],
            "font": {"color": "#ffffff", "size": 13.5, "family": BRIEF_FONT},
            "align": "center",
            "height": header_height,
            "line_color": t["gridline"],
        },
        cells={
            "values": [list(c) for c in columns],
            "fill_color": [fill],
            "font": {
                "color": [list(c) for c in colours] if colours else t["text"],
                "size": 14,
                "family": BRIEF_FONT,
            },
            "align": align if isinstance(align, str) else list(align),
            "height": 27,
            "line_color": t["gridline"],
        },
    )


def _header(fig: go.Figure, data: BriefData, t: dict[str, str]) -> None:
    unit = data.unit
    fig.add_shape(
        type="rect",
        xref="paper",
        yref="paper",
        x0=-0.02,
        x1=1.02,
        y0=0.912,
        y1=1.02,
        fillcolor=t["band"],
        line={"width": 0},
        layer="below",
    )
    code = f"，代码 {unit.code}" if unit.code else ""
    scoped = "（限本人权限范围）" if data.scoped else ""
    subtitle = (
        f"{unit.name}（{LEVEL_ZH[unit.level]}{code}）{scoped}　｜　统计期间 {_span(data.windows['period'])}"
        f"　｜　生成日期 {data.generated.isoformat()}"
    )
    _text(fig, f"<b>{TITLE}</b>", 0.0, 0.964, 30, "#ffffff", yanchor="middle")
    _text(fig, subtitle, 0.0, 0.926, 17, "#ffffff", yanchor="middle")
    _text(fig, "内部资料　注意保密", 1.0, 0.964, 15, "#ffd166", xanchor="right", yanchor="middle")


def _map_traces(data: BriefData, theme: str) -> tuple[list, float | None]:
    """Traces of the child-unit choropleth (with labels and Gi* hot grids) and the map's y scale ratio."""
    frame = data.map_frame
    if not len(frame):
        return [], None
    t = THEMES[theme]
    values = frame["n"].to_numpy(dtype=float)
    classes = classify(values, "fisher_jenks", k=5, theme=theme, unit="起")
    # union_all, not coverage_union_all: child polygons from two sources (or real boundaries) need not be
    # noded as one coverage, and there are at most a few hundred of them
    outline = gpd.GeoDataFrame(geometry=[shapely.union_all(frame.geometry.to_numpy())], crs=4326)
    mapfig = static_map_figure(
        frame, values, classes, title="", legend_title="警情（起）", theme=theme, outlines=outline
    )
    traces = list(mapfig.data)
    if data.hot_grids is not None and len(data.hot_grids):
        rings = shapely.get_exterior_ring(shapely.get_parts(data.hot_grids.geometry.to_numpy()))
        xy, which = shapely.get_coordinates(rings, return_index=True)
        xy = np.insert(xy, np.flatnonzero(np.diff(which)) + 1, np.nan, axis=0)
        traces.append(
            go.Scatter(
                x=xy[:, 0],
                y=xy[:, 1],
                mode="lines",
                line={"color": t["bad"], "width": 2.2},
                name="Gi*热点网格",
                hoverinfo="skip",
            )
        )
    ranked = frame.sort_values(["n", "code"], ascending=[False, True])
    labelled = ranked if len(frame) <= MAX_LABELS else ranked.head(TOP_N)
    points = shapely.point_on_surface(labelled.geometry.to_numpy())
    traces.append(
        go.Scatter(
            x=shapely.get_x(points),
            y=shapely.get_y(points),
            mode="text",
            text=[f"{nm}<br>{int(n):,}" for nm, n in zip(labelled["name"], labelled["n"], strict=True)],
            textfont={"size": 11, "color": t["text"], "family": BRIEF_FONT, "shadow": "auto"},
            showlegend=False,
            hoverinfo="skip",
        )
    )
    return traces, mapfig.layout.yaxis.scaleratio


def _map(fig: go.Figure, data: BriefData, theme: str) -> None:
    t = THEMES[theme]
    what = "网格范围" if data.unit.level == "grid" else f"各{LEVEL_ZH[data.child_level]}"
    _text(fig, f"<b>{what}警情分布（{_span(data.windows['period'])}）</b>", _MAP_X[0], 0.872, 17, t["text"])
    traces, ratio = _map_traces(data, theme)
    for trace in traces:
        fig.add_trace(trace)
    fig.update_xaxes(domain=list(_MAP_X), visible=False)
    fig.update_yaxes(domain=[0.125, 0.865], visible=False)
    if ratio is not None:
        fig.update_yaxes(scaleanchor="x", scaleratio=ratio)
    else:
        _text(fig, "无可显示的单元", sum(_MAP_X) / 2, 0.47, 18, t["muted"], xanchor="center")


def _card(
    fig: go.Figure, x: tuple[float, float], lines: tuple[str, str, str], note_colour: str, t: dict[str, str]
) -> None:
    (x0, x1), (y0, y1) = x, (0.755, 0.865)
    fig.add_shape(
        type="rect",
        xref="paper",
        yref="paper",
        x0=x0,
        x1=x1,
        y0=y0,
        y1=y1,
        fillcolor=t["background"],
        line={"color": t["gridline"], "width": 1},
        layer="below",
    )
    label, value, note = lines
    for text, frac, size, colour in (
        (label, 0.80, 14, t["muted"]),
        (f"<b>{value}</b>", 0.47, 28, t["text"]),
        (note, 0.15, 13, note_colour),
    ):
        _text(
            fig, text, (x0 + x1) / 2, y0 + frac * (y1 - y0), size, colour, xanchor="center", yanchor="middle"
        )


def _cards(fig: go.Figure, data: BriefData, t: dict[str, str]) -> None:
    gap = 0.008
    width = (1.0 - _RIGHT_X0 - 4 * gap) / 5
    slots = [(_RIGHT_X0 + i * (width + gap), _RIGHT_X0 + i * (width + gap) + width) for i in range(5)]
    for slot, (label, now_w, then_w, word) in zip(
        slots,
        (
            ("本期警情", "period", "period_prev", "同比"),
            ("近28天警情", "d28", "d28_prev", "环比"),
            ("年初至今警情", "ytd", "ytd_prev", "同比"),
        ),
        strict=False,
    ):
        now, then = data.count(now_w), data.count(then_w)
        note = f"{word} {change_text(now, then)}（{then:,}）"
        _card(fig, slot, (label, f"{now:,}", note), _change_colour(now, then, t), t)
    wo = data.work_orders
    n = int(wo.get("orders", 0))
    overdue = int(wo.get("overdue", 0))
    rate = f"{wo.get('closure_rate', 0.0) * 100:.1f}%" if n else "—"
    on_time = f"{wo.get('on_time_rate', 0.0) * 100:.1f}%" if n else "—"
    _card(
        fig, slots[3], ("工单办结率", rate, f"共 {n:,} 件 · 未办结 {int(wo.get('open', 0)):,}"), t["muted"], t
    )
    note = f"超期 {overdue:,} · 升级 {int(wo.get('escalated', 0)):,}"
    _card(fig, slots[4], ("按期办结率", on_time, note), t["bad"] if overdue else t["muted"], t)


def _categories_section(fig: go.Figure, data: BriefData, t: dict[str, str]) -> None:
    _text(
        fig,
        "<b>分类警情对比（同比：与去年同期比；环比：近28天与前28天比）</b>",
        _RIGHT_X0,
        0.722,
        17,
        t["text"],
    )
    cats, w = data.categories, data.windows
    columns: list[list[Any]] = [[str(c) for c in cats.index]]
    colours: list[list[str]] = [[t["text"]] * len(cats)]
    for now_w, then_w in (("period", "period_prev"), ("d28", "d28_prev"), ("ytd", "ytd_prev")):
        now, then = cats[now_w].to_numpy(), cats[then_w].to_numpy()
        columns += [
            [f"{v:,}" for v in now],
            [f"{v:,}" for v in then],
            [change_text(a, b) for a, b in zip(now, then, strict=True)],
        ]
        colours += [
            [t["text"]] * len(cats),
            [t["muted"]] * len(cats),
            [_change_colour(a, b, t) for a, b in zip(now, then, strict=True)],
        ]

    def small(window: tuple[dt.date, dt.date]) -> str:
        return f'<span style="font-size:11.5px">{_span(window, True)}</span>'

    header = [
        "类别",
        f"本期<br>{small(w['period'])}",
        "去年同期",
        "同比",
        f"近28天<br>{small(w['d28'])}",
        "前28天",
        "环比",
        f"年初至今<br>{small(w['ytd'])}",
        "去年同期",
        "同比",
    ]
    fig.add_trace(
        _table(
            columns,
            header,
            x=(_RIGHT_X0, 1.0),
            y=(0.44, 0.718),
            t=t,
            widths=[1.05, 1.3, 0.95, 1.0, 1.3, 0.95, 1.0, 1.3, 0.95, 1.0],
            colours=colours,
            shaded_last=2,
            header_height=44,
        )
    )


def _children_table(fig: go.Figure, data: BriefData, t: dict[str, str], x: tuple[float, float]) -> None:
    top = data.children.head(TOP_N)
    total = max(data.count("period"), 1)
    columns = [
        [str(i + 1) for i in range(len(top))],
        top["name"].tolist(),
        [f"{v:,}" for v in top["n"]],
        [change_text(a, b) for a, b in zip(top["n"], top["n_prev"], strict=True)],
        [f"{v / total * 100:.1f}%" for v in top["n"]],
    ]
    colours = [
        [t["text"]] * len(top),
        [t["text"]] * len(top),
        [t["text"]] * len(top),
        [_change_colour(a, b, t) for a, b in zip(top["n"], top["n_prev"], strict=True)],
        [t["muted"]] * len(top),
    ]
    header, widths = ["序", "名称", "本期", "同比", "占比"], [0.45, 2.4, 0.9, 1.0, 0.9]
    align = ["center", "left", "right", "right", "right"]
    gi_title = ""
    if data.child_level == "grid" and data.gi is not None:
        classes = data.top_grids.set_index("grid_code")["gi_class"]
        gi = [classes.get(c, "") or "—" for c in top["code"]]
        columns.append(gi)
        colours.append([t["bad"] if c.startswith("热点") else t["muted"] for c in gi])
        header, widths, align = [*header, "Gi*"], [*widths, 1.0], [*align, "center"]
        gi_title = "（Gi* 冷热点）"
    title = f"<b>警情较多的{LEVEL_ZH[data.child_level]} TOP {TOP_N}{gi_title}</b>"
    _text(fig, title, x[0], _TOP_TITLE_Y, 16, t["text"])
    fig.add_trace(_table(columns, header, x=x, y=_TOP_Y, t=t, widths=widths, colours=colours, align=align))


def _grids_table(fig: go.Figure, data: BriefData, t: dict[str, str], x: tuple[float, float]) -> None:
    grids = data.top_grids
    gi = [c or "—" for c in grids["gi_class"]]
    suffix = "（Gi* 冷热点）" if data.gi is not None else ""
    _text(fig, f"<b>警情较多的网格 TOP {TOP_N}{suffix}</b>", x[0], _TOP_TITLE_Y, 16, t["text"])
    fig.add_trace(
        _table(
            [
                [str(i + 1) for i in range(len(grids))],
                grids["name"].tolist(),
                [f"{v:,}" for v in grids["n"]],
                gi,
            ],
            ["序", "网格", "本期", "Gi*"],
            x=x,
            y=_TOP_Y,
            t=t,
            widths=[0.45, 2.6, 0.9, 1.0],
            colours=[
                [t["text"]] * len(grids),
                [t["text"]] * len(grids),
                [t["text"]] * len(grids),
                [t["bad"] if c.startswith("热点") else t["muted"] for c in gi],
            ],
            align=["center", "left", "right", "center"],
        )
    )


def _kinds_table(fig: go.Figure, data: BriefData, t: dict[str, str], x: tuple[float, float]) -> None:
    kinds = data.order_kinds
    _text(fig, "<b>本期工单办理情况（按类型）</b>", x[0], _TOP_TITLE_Y, 16, t["text"])
    n = kinds["orders"].to_numpy()
    fig.add_trace(
        _table(
            [
                kinds["kind"].astype(str).tolist(),
                [f"{v:,}" for v in n],
                [f"{v:,}" for v in kinds["open"]],
                [f"{v:,}" for v in kinds["overdue"]],
                [f"{r * 100:.1f}%" if k else "—" for r, k in zip(kinds["closure_rate"], n, strict=True)],
            ],
            ["类型", "工单", "未办结", "超期", "办结率"],
            x=x,
            y=_TOP_Y,
            t=t,
            widths=[1.6, 0.9, 0.9, 0.9, 1.0],
            colours=[
                [t["text"]] * len(kinds),
                [t["text"]] * len(kinds),
                [t["text"]] * len(kinds),
                [t["bad"] if v else t["muted"] for v in kinds["overdue"]],
                [t["text"]] * len(kinds),
            ],
            align=["left", "right", "right", "right", "right"],
        )
    )


def _top_tables(fig: go.Figure, data: BriefData, t: dict[str, str]) -> None:
    """Most incidents per child unit; then per grid, or work orders by kind when the children are grids."""
    half = (1.0 - _RIGHT_X0 - 0.015) / 2
    left, right = (_RIGHT_X0, _RIGHT_X0 + half), (_RIGHT_X0 + half + 0.015, 1.0)
    _children_table(fig, data, t, left)
    if data.child_level == "grid":
        _kinds_table(fig, data, t, right)
    else:
        _grids_table(fig, data, t, right)


def _footnote(fig: go.Figure, data: BriefData, t: dict[str, str]) -> None:
    w = data.windows
    if data.gi is not None:
        gi = (
            f"热点分析（Gi*）：{data.gi['n_units']:,} 个网格各与相邻网格比较，经多重检验校正，"
            f"热点 {data.gi['n_hot']} 个、冷点 {data.gi['n_cold']} 个。"
        )
    else:
        gi = f"Gi* 仅对含 {GI_MIN_GRIDS}–{GI_MAX_GRIDS:,} 个网格的单元计算。"
    note = (
        f"口径：警情按发生时间计，含全部类别（有效警情另列）；去年同期 {_span(w['period_prev'])}；"
        f"近28天 {_span(w['d28'])}，前28天 {_span(w['d28_prev'])}；"
        f"年初至今的去年同期 {_span(w['ytd_prev'])}。<br>工单为本期内创建的工单。{gi}"
    )
    _text(fig, note, 0.0, -0.012, 11.5, t["muted"], align="left")


def _draw(data: BriefData, theme: str) -> go.Figure:
    t = {**THEMES[theme], **_EXTRA_COLOURS[theme]}
    fig = go.Figure()
    fig.update_layout(
        template=template(theme),
        width=PAGE_WIDTH,
        height=PAGE_HEIGHT,
        margin={"l": 28, "r": 28, "t": 20, "b": 22},
        paper_bgcolor=t["paper"],
        plot_bgcolor=t["paper"],
        font={"family": BRIEF_FONT, "color": t["text"], "size": 14},
        showlegend=True,
        legend={
            "x": _MAP_X[0],
            "y": 0.11,
            "xanchor": "left",
            "yanchor": "top",
            "orientation": "h",
            "bgcolor": t["paper"],
            "bordercolor": t["gridline"],
            "borderwidth": 1,
            "title": {"text": "警情（起）"},
            "font": {"size": 13, "family": BRIEF_FONT},
        },
        meta={
            "unit_code": data.unit.code,
            "unit_name": data.unit.name,
            "start": data.start.isoformat(),
            "end": data.end.isoformat(),
            **{k: data.count(k) for k in data.windows},
        },
    )
    _header(fig, data, t)
    _map(fig, data, theme)
    _cards(fig, data, t)
    _categories_section(fig, data, t)
    _top_tables(fig, data, t)
    _footnote(fig, data, t)
    return fig


def brief_figure(
    store: Store,
    unit_code: str | Unit | None,
    start: Any,
    end: Any,
    *,
    scope: Scope = None,
    theme: str = "light",
    gi_star: bool = True,
    generated: dt.date | None = None,
) -> go.Figure:
    """The briefing page (治安态势简报) of a unit and period, one A4-landscape figure.

    Parameters
    ----------
    store : data.store.base.Store
    unit_code : str, Unit or None
        A unit of either hierarchy; None for the whole city.
    start, end : date-like
        The period, both days included.
    scope : optional
        The caller's scope: every figure counts only the grids in it.
    theme : {"light", "dark"}
    gi_star : bool
        Mark Gi* hot-spot grids (units of :data:`GI_MIN_GRIDS`–:data:`GI_MAX_GRIDS` grids).
    generated : datetime.date, optional
        Generation date shown (default today).

    Returns
    -------
    plotly.graph_objects.Figure
        :data:`PAGE_WIDTH` × :data:`PAGE_HEIGHT` px; ``layout.meta`` holds ``unit_code``,
        ``unit_name``, ``start``, ``end`` and the incident count of each window of :func:`windows_for`
        (``period``, ``period_prev``, ``d28``, ``d28_prev``, ``ytd``, ``ytd_prev``).

    Raises
    ------
    data.store.base.UnknownUnitError
        Unknown unit code.
    ValueError
        ``start`` after ``end``, a bad date or an unknown theme.
    """
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {', '.join(THEMES)}, not {theme!r}")
    data = brief_data(store, unit_code, start, end, scope=scope, gi_star=gi_star, generated=generated)
    return _draw(data, theme)


# --------------------------------------------------------------------------------------------------
# export


def export_page() -> Any:
    """The page kaleido renders figures in: plotly.js from the installed plotly package, no MathJax.

    Without ``mathjax=False`` kaleido's page loads MathJax from a CDN; with it every script of the page
    is a local ``file://`` one (``tests/store/test_brief.py`` checks there is no ``http``).

    Returns
    -------
    kaleido.PageGenerator
    """
    import kaleido

    return kaleido.PageGenerator(mathjax=False)


class _Renderer:
    """One persistent kaleido (headless Chromium) on an event loop of its own thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido: Any = None
        self._registered = False

    def _run(self, coro, timeout: float):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _start(self) -> None:
        import kaleido

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="onemap-brief-kaleido", daemon=True
        )
        self._thread.start()

        async def open_browser():
            k = kaleido.Kaleido(n=1, page_generator=export_page(), timeout=RENDER_TIMEOUT_S)
            await k.open()
            return k

        try:
            self._kaleido = self._run(open_browser(), START_TIMEOUT_S)
        except BaseException as exc:
            self.close()
            raise BriefExportError(
                f"could not start the export browser (headless Chromium, e.g. /usr/bin/chromium): {exc}"
            ) from exc
        if not self._registered:
            atexit.register(self.close)
            self._registered = True

    def render(self, fig: go.Figure | dict, opts: dict[str, Any]) -> bytes:
        if self._kaleido is None or self._thread is None or not self._thread.is_alive():
            self.close()
            self._start()
        future = asyncio.run_coroutine_threadsafe(self._kaleido.calc_fig(fig, opts=opts), self._loop)
        try:
            return future.result(RENDER_TIMEOUT_S + 10)
        except BaseException as exc:
            future.cancel()
            self.close()  # a failed browser is restarted by the next export
            raise BriefExportError(f"exporting the briefing as {opts.get('format')} failed: {exc}") from exc

    def close(self) -> None:
        loop, kal = self._loop, self._kaleido
        self._kaleido = None
        if loop is not None and loop.is_running():
            if kal is not None:
                try:
                    self._run(kal.close(), 20)
                except BaseException:  # closing a broken browser must not raise
                    pass
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if loop is not None and not loop.is_running():
            loop.close()
        self._loop = self._thread = None


#: Held around every export and around starting or stopping the browser (one tab: one page at a time).
_EXPORT_LOCK = threading.Lock()
_RENDERER = _Renderer()


def close_renderer() -> None:
    """Stop the export browser (it starts again on the next export); also run at interpreter exit."""
    with _EXPORT_LOCK:
        _RENDERER.close()


def _format(fmt: str) -> str:
    f = fmt.lower().lstrip(".")
    if f not in FORMATS:
        raise ValueError(f"a briefing is exported as {' or '.join(FORMATS)}, not {fmt!r}")
    return f


def brief_bytes(fig: go.Figure, fmt: str = "png", *, scale: float = 1.0) -> bytes:
    """The briefing page as PNG or PDF bytes (e.g. for a dashboard download).

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        From :func:`brief_figure`.
    fmt : {"png", "pdf"}
    scale : float
        Pixel multiplier of a PNG (2: 3508 × 2480, A4 at 300 dpi); a PDF is vector.

    Returns
    -------
    bytes

    Raises
    ------
    BriefExportError
        No browser, or the export failed.
    """
    f = _format(fmt)
    opts = {
        "format": f,
        "width": fig.layout.width or PAGE_WIDTH,
        "height": fig.layout.height or PAGE_HEIGHT,
        "scale": float(scale),
    }
    with _EXPORT_LOCK:
        out = _RENDERER.render(fig, opts)
    return _with_pdf_info(out, fig) if f == "pdf" else out


def pdf_title(fig: go.Figure) -> str:
    """The document title of a briefing: ``治安态势简报 · <unit> · <start>至<end>``."""
    meta = dict(fig.layout.meta or {})
    parts = ["治安态势简报", str(meta.get("unit_name") or "")]
    if meta.get("start") and meta.get("end"):
        parts.append(f"{meta['start']}至{meta['end']}")
    return " · ".join(p for p in parts if p)


def _with_pdf_info(pdf: bytes, fig: go.Figure) -> bytes:
    """The PDF with a Chinese document title and author (Chromium's export names it after its own page,
    which a PDF reader shows in its title bar), everything else unchanged."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.metadata = {
        "/Title": pdf_title(fig),
        "/Author": "警网融合一张图",
        "/Subject": "治安态势简报",
        "/Creator": "警网融合一张图",
        "/Producer": "警网融合一张图",
    }
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def render_brief(fig: go.Figure, path: str | Path, fmt: str | None = None, *, scale: float = 1.0) -> Path:
    """Write the briefing page to a PNG or PDF file.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        From :func:`brief_figure`.
    path : str or Path
        Output file; its folder is created. Written whole or not at all (a temporary file renamed).
    fmt : {"png", "pdf"}, optional
        Default from the file's suffix.
    scale : float
        Pixel multiplier of a PNG.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        No format given and the suffix is neither ``.png`` nor ``.pdf``.
    BriefExportError
        The export failed.
    """
    out = Path(path)
    if fmt is None:
        if not out.suffix:
            raise ValueError(f"cannot tell the format of {str(out)!r}: give it a .png or .pdf suffix")
        fmt = out.suffix
    data = brief_bytes(fig, fmt, scale=scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    # a temporary name of this process and thread, opened like any new file (so the umask applies)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def brief(
    store: Store,
    unit_code: str | Unit | None,
    start: Any,
    end: Any,
    out: str | Path,
    *,
    scope: Scope = None,
    theme: str = "light",
    fmt: str | None = None,
) -> Path:
    """Make a unit's briefing and write it (``onemap brief --unit CODE --from D --to D --out FILE``).

    Parameters
    ----------
    store : data.store.base.Store
    unit_code : str, Unit or None
        None for the whole city.
    start, end : date-like
        The period, both days included.
    out : str or Path
        ``.png`` or ``.pdf`` file.
    scope : optional
        The caller's scope.
    theme : {"light", "dark"}
    fmt : {"png", "pdf"}, optional
        Default from the suffix of ``out``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    data.store.base.UnknownUnitError
        Unknown unit code (the message names it).
    ValueError
        ``start`` after ``end``, a bad date or format.
    BriefExportError
        The export failed.
    """
    if fmt is None and Path(out).suffix.lower().lstrip(".") not in FORMATS:
        raise ValueError(f"the output {str(out)!r} must end in .png or .pdf")
    fig = brief_figure(store, unit_code, start, end, scope=scope, theme=theme)
    return render_brief(fig, out, fmt)


_UNSAFE = re.compile(r'[\\/:*?"<>|\s]+')


def brief_filename(unit_name: str, start: Any, end: Any, fmt: str) -> str:
    """A safe download name: ``治安态势简报_<unit>_<YYYYMMDD>-<YYYYMMDD>.<fmt>``.

    No path separator, control or reserved character (Windows ``\\/:*?"<>|``), no leading dot, at most
    80 characters of unit name.

    Parameters
    ----------
    unit_name : str
    start, end : date-like
    fmt : {"png", "pdf"}

    Returns
    -------
    str
    """
    f = _format(fmt)
    name = unicodedata.normalize("NFKC", str(unit_name or ""))
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = _UNSAFE.sub("_", name).strip("._")[:80] or "unit"
    s, e = _date(start, "start"), _date(end, "end")
    return f"治安态势简报_{name}_{s:%Y%m%d}-{e:%Y%m%d}.{f}"


# --------------------------------------------------------------------------------------------------
# the screens' briefing button (简报)

#: DOM id of the briefing download (in the app's shell).
DOWNLOAD_ID = "brief-download"


def buttons() -> list:
    """The navigation bar's 简报 buttons: the current unit and period as PNG or PDF."""
    from dash import html

    return [
        html.Button(
            f"简报{f.upper()}",
            id={"type": "brief", "fmt": f},
            className="btn btn-brief",
            title=f"下载当前单元与时段的治安态势简报（{f.upper()}）",
        )
        for f in FORMATS
    ]


def register(app: Any, q: Any, config: Any) -> None:
    """The callback of the 简报 buttons: the view of the URL, re-derived on the server for the logged-in
    user (unit and period inside their scope), drawn and sent as a download."""
    from dash import ALL, Input, Output, State, dcc, no_update, set_props
    from dash import ctx as dash_ctx

    from dashboard import auth

    @app.callback(
        Output(DOWNLOAD_ID, "data"),
        Input({"type": "brief", "fmt": ALL}, "n_clicks"),
        State("url", "pathname"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def _brief(clicks, pathname, search):
        from dashboard.app import NOTICE_ID, page_context
        from dashboard.state import parse

        trigger = dash_ctx.triggered_id
        principal = auth.current_principal()
        pressed = isinstance(clicks, list) and any(isinstance(c, int) and c > 0 for c in clicks)
        if not pressed or not isinstance(trigger, dict) or principal is None:
            return no_update
        fmt = trigger.get("fmt")
        if fmt not in FORMATS or not principal.can("aggregates"):
            return no_update
        view = page_context(q, principal, parse(str(pathname or "/"), str(search or "")), config)
        fig = brief_figure(q.store, view.unit.code, view.start, view.end, scope=principal.scope)
        try:
            content = brief_bytes(fig, fmt, scale=2.0 if fmt == "png" else 1.0)
        except BriefExportError as exc:
            log.warning("briefing export failed: %s", exc)
            set_props(NOTICE_ID, {"children": "简报生成失败，请稍后重试"})
            return no_update
        return dcc.send_bytes(content, brief_filename(view.unit.name, view.start, view.end, fmt))
