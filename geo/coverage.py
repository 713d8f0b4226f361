"""Coverage analysis (覆盖分析): is every place, household, person and hotspot looked after?

Each function answers one question of DOMAIN.md's "Coverage analysis" and returns ``(frame, summary)``:
a table for drilling down and ranking, and a dict of headline figures for a dashboard card. Summary
values are plain numbers, lists of codes, dicts, or a DataFrame where a list of records is the answer
(overdue persons, binding problems, per-grid detail); no summary holds personal data beyond record ids.

* :func:`tiling` — do the grids tile the jurisdiction (gaps, overlaps, slivers in m²)? One row per
  overlap or gap.
* :func:`binding` — is every grid in exactly one 警格 and inside its polygon; what is each 警格 made
  of? One row per 警格.
* :func:`staffing` — households per grid, full-time worker and community officer; vacancies; Gini of
  the workload. One row per grid.
* :func:`visit_coverage` — share of households visited in a period; persons of concern visited within
  their own interval; overdue lists. One row per grid (or unit).
* :func:`patrol_coverage` — hotspot cells crossed by patrols in their own peak hours. One row per cell.
* :func:`camera_coverage` — incidents and hotspot area within range of an online camera. One row per
  camera.
* :func:`station_access` — area and population within X km of a station (straight line). One row
  per distance.

Distances and areas are measured in the projected CRS :func:`geo.crs.projected_crs_for` picks for the
data (CGCS2000 Gauss–Krüger); every input is lon/lat (EPSG:4326) unless its CRS says otherwise. Time
windows are half-open: ``start <= t < end``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from data import schema
from data.settings import AREA_TOLERANCE_M2
from geo.crs import projected_crs_for, transformer
from geo.heat import (
    PERSONS_PER_HOUSEHOLD,
    _cells_as_int,
    _cells_as_str,
    _local_times,
    cells_of,
    lonlat_of,
)
from geo.units import LEVEL_COLUMN
from geo.validate import validate_frames

__all__ = [
    "binding",
    "camera_coverage",
    "gini",
    "patrol_coverage",
    "peak_window",
    "staffing",
    "station_access",
    "tiling",
    "visit_coverage",
]

#: Role names of the staff layer (data.schema.STAFF_ROLES).
FULL_TIME_ROLE = "专职网格员"
PART_TIME_ROLE = "兼职网格员"
OFFICER_ROLE = "社区民警"
#: Hours in a hotspot cell's peak window when :func:`patrol_coverage` derives it from the events.
PEAK_WINDOW_HOURS = 4
#: Segments per quarter circle of the camera and station discs: the polygon's area falls short of
#: the circle's by 0.16 % at 16 (and 0.04 % at 32).
DISC_QUAD_SEGS = 16


# --------------------------------------------------------------------------------------------------
# helpers


def gini(values: ArrayLike) -> float:
    """Gini coefficient (基尼系数) of non-negative values: 0 = all equal, → 1 = one holds everything.

    ``G = 2 Σᵢ i·x₍ᵢ₎ / (n Σ x) − (n + 1) / n`` over the values sorted ascending (i = 1 … n), the
    same formula as PySAL's ``inequality.gini`` (not a dependency for four lines). NaN for no values
    or a zero total.
    """
    x = np.sort(np.asarray(values, dtype=np.float64)[np.isfinite(values)])
    n, total = len(x), x.sum() if len(x) else 0.0
    if n == 0 or total <= 0:
        return float("nan")
    return float(2.0 * np.sum(np.arange(1, n + 1) * x) / (n * total) - (n + 1) / n)


def _strings(values) -> pd.Series:
    """Stripped strings (pandas ``str`` dtype), ``""`` where missing, on a fresh 0..n-1 index.

    Kept as a pandas string Series rather than an object array: Arrow-backed strings compare, slice
    and group several times faster on the million-row layers.
    """
    s = pd.Series(values).reset_index(drop=True)
    if not pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
        s = s.astype(object).where(s.notna(), "").astype("str")
    return s.fillna("").str.strip()


def _text(values) -> NDArray[np.object_]:
    """:func:`_strings` as an object array, for the small tables."""
    return _strings(values).to_numpy(dtype=object)


def _isin(values: pd.Series, pool) -> NDArray[np.bool_]:
    """``values.isin(pool)`` through one hash factorisation: pandas' Arrow-string ``isin`` builds its
    value set one Python scalar at a time (10 s for the full demo's visits, 0.7 s this way)."""
    pool = pd.Series(pool).reset_index(drop=True)
    codes, _ = pd.factorize(pd.concat([values.reset_index(drop=True), pool], ignore_index=True))
    return np.isin(codes[: len(values)], codes[len(values) :])


def _lonlat_frame(frame) -> gpd.GeoDataFrame:
    if isinstance(frame, shapely.Geometry):
        return gpd.GeoDataFrame(geometry=[frame], crs=schema.STORAGE_CRS)
    if isinstance(frame, gpd.GeoSeries):
        frame = gpd.GeoDataFrame(geometry=frame)
    if frame.crs is None:
        return frame.set_crs(schema.STORAGE_CRS)
    return frame if frame.crs.is_geographic else frame.to_crs(schema.STORAGE_CRS)


def _epsg_of(*frames) -> int:
    """Projected CRS for the first frame with coordinates."""
    for frame in frames:
        if frame is None or not len(frame):
            continue
        if isinstance(frame, gpd.GeoDataFrame | gpd.GeoSeries):
            geoms = _lonlat_frame(frame).geometry.to_numpy()
            geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
            if len(geoms):
                b = shapely.bounds(geoms)
                return projected_crs_for((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2)
        else:
            lon, lat = lonlat_of(frame)
            if np.isfinite(lon).any():
                return projected_crs_for(lon, lat)
    raise ValueError("no layer has coordinates")


def _xy(frame, epsg: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lon, lat = lonlat_of(frame)
    x, y = transformer(4326, epsg).transform(lon, lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _projected(frame, epsg: int) -> NDArray[np.object_]:
    """Projected geometries (None where missing or empty), invalid ones repaired."""
    geoms = _lonlat_frame(frame).geometry.to_numpy()
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    out = np.full(len(geoms), None, dtype=object)
    if (~bad).any():
        good = geoms[~bad]
        invalid = ~shapely.is_valid(good)
        if invalid.any():
            good = good.copy()
            good[invalid] = shapely.make_valid(good[invalid])
        tr = transformer(schema.STORAGE_CRS, epsg)
        out[~bad] = shapely.transform(good, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    return out


def _flag(frame: pd.DataFrame, column: str, default: bool = True) -> NDArray[np.bool_]:
    if column not in frame.columns:
        return np.full(len(frame), default)
    return frame[column].astype("boolean").fillna(False).to_numpy(dtype=bool)


def _unit_of(grid_codes, by: str, units: pd.DataFrame | None) -> pd.Series:
    """The code of the ``by`` unit for each grid code (admin levels from the code's prefix)."""
    codes = _strings(grid_codes)
    prefix = {"grid": 15, "village": 12, "township": 9, "county": 6}
    if by in prefix:
        return codes.str.slice(0, prefix[by])
    if by == "city":
        return codes.str.slice(0, 4).where(codes == "", codes.str.slice(0, 4) + "00")
    if by not in LEVEL_COLUMN:
        raise ValueError(f"by must be one of {', '.join(LEVEL_COLUMN)}, not {by!r}")
    if units is None:
        raise ValueError(f"by={by!r} needs units (geo.units.grid_units(grids, districts))")
    mapping = units.drop_duplicates("grid_code").set_index("grid_code")[LEVEL_COLUMN[by]]
    return _strings(codes.map(mapping))


# --------------------------------------------------------------------------------------------------
# 1. tiling


def tiling(
    grids: gpd.GeoDataFrame, jurisdiction=None, tolerance_m2: float = AREA_TOLERANCE_M2
) -> tuple[pd.DataFrame, dict]:
    """Do the grids tile the jurisdiction (网格全覆盖、无重叠)? Gaps and overlaps in m².

    The overlaps and gaps are those of :func:`geo.validate.validate_frames` (same rules, same sliver
    test: at most ``validate.SLIVER_AREA_M2`` or thinner than ``validate.SLIVER_WIDTH_M``), called on
    the grids' codes and polygons only.

    Parameters
    ----------
    grids : GeoDataFrame
        网格 polygons with ``grid_code``.
    jurisdiction : GeoDataFrame, GeoSeries or shapely geometry, optional
        The area to tile; default the area the grids enclose (their union with holes filled, so a
        hole is a gap).
    tolerance_m2 : float
        Overlaps and gaps at most this large are ignored.

    Returns
    -------
    frame : DataFrame
        One row per overlap or gap, largest first: ``kind`` (overlap/gap), ``grid_codes`` (the two
        overlapping grids, or the grids touching the gap), ``area_m2``, ``sliver`` (bool), ``detail``.
    summary : dict
        ``grids``, ``grid_area_m2`` (sum of grid areas), ``jurisdiction_area_m2`` (the given
        jurisdiction's area; by default the grid area less overlaps plus gaps, exact unless three
        grids overlap at one place), ``overlaps``, ``overlap_m2``, ``gaps``, ``gap_m2``,
        ``gap_share``, ``slivers``, ``sliver_m2``, ``invalid_geometries``.
    """
    cols = [c for c in ("grid_code",) if c in grids.columns]
    layer = _lonlat_frame(grids[[*cols, grids.geometry.name]])
    problems = validate_frames(grids=layer, jurisdiction=jurisdiction, tolerance_m2=tolerance_m2)
    rows = [p for p in problems if p.rule in ("overlap", "gap")]
    frame = pd.DataFrame(
        {
            "kind": [p.rule for p in rows],
            "grid_codes": [list(p.ids) for p in rows],
            "area_m2": np.array([p.area_m2 or 0.0 for p in rows], dtype=np.float64),
            "sliver": np.array([p.severity == "warning" for p in rows], dtype=bool),
            "detail": [p.detail for p in rows],
        }
    )
    frame = frame.sort_values("area_m2", ascending=False, kind="stable").reset_index(drop=True)
    epsg = _epsg_of(layer)
    proj = _projected(layer, epsg)
    grid_area = float(shapely.area(proj[proj != None]).sum())  # noqa: E711 (object array test)
    is_overlap = (frame["kind"] == "overlap").to_numpy()
    overlap_m2 = float(frame.loc[is_overlap, "area_m2"].sum())
    gap_m2 = float(frame.loc[~is_overlap, "area_m2"].sum())
    if jurisdiction is not None:
        jur = _projected(jurisdiction, epsg)
        jur_area = float(shapely.area(shapely.union_all(jur[jur != None])))  # noqa: E711
    else:
        jur_area = grid_area - overlap_m2 + gap_m2
    summary = {
        "grids": len(layer),
        "grid_area_m2": grid_area,
        "jurisdiction_area_m2": jur_area,
        "overlaps": int(is_overlap.sum()),
        "overlap_m2": overlap_m2,
        "gaps": int((~is_overlap).sum()),
        "gap_m2": gap_m2,
        "gap_share": gap_m2 / jur_area if jur_area > 0 else float("nan"),
        "slivers": int(frame["sliver"].sum()),
        "sliver_m2": float(frame.loc[frame["sliver"], "area_m2"].sum()),
        "invalid_geometries": sum(p.rule in ("invalid_geometry", "empty_geometry") for p in problems),
    }
    return frame, summary


# --------------------------------------------------------------------------------------------------
# 2. binding


def _bound_districts(grids: pd.DataFrame, binding: pd.DataFrame | None) -> pd.DataFrame:
    """grid_code → its 警格 codes (distinct, non-empty), from the binding table or the grids."""
    if binding is not None:
        table = pd.DataFrame(
            {"grid_code": _text(binding["grid_code"]), "district_code": _text(binding["district_code"])}
        )
    elif "district_code" in grids.columns:
        table = pd.DataFrame(
            {"grid_code": _text(grids["grid_code"]), "district_code": _text(grids["district_code"])}
        )
    else:
        table = pd.DataFrame({"grid_code": pd.Series(dtype=object), "district_code": pd.Series(dtype=object)})
    return table[(table.grid_code != "") & (table.district_code != "")].drop_duplicates()


def binding(
    grids: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    binding: pd.DataFrame | None = None,
    tolerance_m2: float = AREA_TOLERANCE_M2,
) -> tuple[pd.DataFrame, dict]:
    """Is every grid in exactly one 警格 (一格一警), and inside its polygon? What is each 警格 made of?

    The per-grid problems are :func:`geo.validate.validate_frames`'s ``unbound_grid`` (no 警格,
    several, an unknown one, or the table and the grid disagreeing) and ``grid_outside_district``
    (more than ``tolerance_m2`` and 1 % of the grid outside its 警格's polygon).

    Parameters
    ----------
    grids : GeoDataFrame
        网格 with ``grid_code``, ``district_code`` (unless ``binding`` is given), and optionally
        ``grid_type``, ``households``.
    districts : GeoDataFrame
        警格 polygons with ``district_code``.
    binding : DataFrame, optional
        The grid → 警格 table (``grid_code``, ``district_code``); authoritative when given.
    tolerance_m2 : float
        As in :func:`geo.validate.validate_frames`.

    Returns
    -------
    frame : DataFrame
        One row per 警格 (composition 警格构成): ``district_code``, ``grids``, ``comprehensive``,
        ``dedicated``, ``villages`` (distinct village/community codes), ``households``,
        ``grids_outside`` (its grids lying partly outside it). Grids bound to several 警格 count in
        each.
    summary : dict
        ``grids``, ``bound_once`` (grids in exactly one known 警格 per validation), ``unbound``,
        ``outside_district``, ``districts``, ``districts_without_grids`` (list), ``grids_per_district``
        (mean), ``max_grids_per_district``, ``one_to_one`` (警格 with one grid), ``one_to_many``
        (警格 with more), ``villages_per_district`` (mean), ``problems`` (DataFrame: ``grid_code``,
        ``rule``, ``district_code``, ``area_m2``, ``detail``).
    """
    g = _lonlat_frame(grids)
    keep = [c for c in ("grid_code", "district_code") if c in g.columns]
    d = _lonlat_frame(districts)
    problems = validate_frames(
        grids=g[[*keep, g.geometry.name]],
        districts=d[["district_code", d.geometry.name]],
        binding=binding,
        tolerance_m2=tolerance_m2,
    )
    found = [p for p in problems if p.rule in ("unbound_grid", "grid_outside_district")]
    probs = pd.DataFrame(
        {
            "grid_code": [p.ids[0] for p in found],
            "rule": [p.rule for p in found],
            "district_code": [p.ids[1] if len(p.ids) > 1 else "" for p in found],
            "area_m2": [p.area_m2 for p in found],
            "detail": [p.detail for p in found],
        }
    )
    pairs = _bound_districts(g, binding)
    info = pd.DataFrame(
        {
            "grid_code": _text(g["grid_code"]),
            "grid_type": _text(g["grid_type"]) if "grid_type" in g.columns else "",
            "households": pd.to_numeric(g["households"], errors="coerce").fillna(0).to_numpy()
            if "households" in g.columns
            else 0,
        }
    ).drop_duplicates("grid_code")
    pairs = pairs.merge(info, on="grid_code", how="left")
    pairs["village_code"] = pairs["grid_code"].str.slice(0, 12)
    outside = probs.loc[probs.rule == "grid_outside_district", ["grid_code", "district_code"]].assign(out=1)
    pairs = pairs.merge(outside, on=["grid_code", "district_code"], how="left")
    codes = pd.Index(_text(d["district_code"])).drop_duplicates()
    frame = (
        pairs.groupby("district_code")
        .agg(
            grids=("grid_code", "nunique"),
            comprehensive=("grid_type", lambda s: int((s == "综合").sum())),
            dedicated=("grid_type", lambda s: int((s == "专属").sum())),
            villages=("village_code", "nunique"),
            households=("households", "sum"),
            grids_outside=("out", "sum"),
        )
        .reindex(codes.union(pd.Index(pairs["district_code"].unique()), sort=False))
        .fillna(0)
        .astype(np.int64)
    )
    frame.index.name = "district_code"
    frame = frame.reset_index()
    unbound = probs.loc[probs.rule == "unbound_grid", "grid_code"].nunique()
    known = frame[frame.district_code.isin(codes)]
    summary = {
        "grids": len(info),
        "bound_once": int(len(info) - unbound),
        "unbound": int(unbound),
        "outside_district": int((probs.rule == "grid_outside_district").sum()),
        "districts": len(codes),
        "districts_without_grids": sorted(known.loc[known.grids == 0, "district_code"].tolist()),
        "grids_per_district": float(known.grids.mean()) if len(known) else float("nan"),
        "max_grids_per_district": int(known.grids.max()) if len(known) else 0,
        "one_to_one": int((known.grids == 1).sum()),
        "one_to_many": int((known.grids > 1).sum()),
        "villages_per_district": float(known.villages.mean()) if len(known) else float("nan"),
        "problems": probs,
    }
    return frame, summary


# --------------------------------------------------------------------------------------------------
# 3. staffing


def staffing(grids: pd.DataFrame, staff: pd.DataFrame, districts: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Staffing and workload (力量配置与负荷): households per grid, worker and community officer.

    Counts only staff on duty (``active``; all when the column is absent). A grid's full-time
    workers are its 专职网格员 (``unit_code`` = grid code); a 警格's officer is its on-duty 社区民警
    (``unit_code`` = 警格 code; the first by ``staff_id`` if there are several). An officer's workload
    is every grid of every 警格 whose officer they are. A grid's 警格 is its ``district_code``.

    Vacancies: a 综合 comprehensive grid without a full-time worker is a vacancy (DOMAIN: one per
    grid); 专属 dedicated grids are staffed by their unit and are counted apart. The grid Gini is over
    the households of comprehensive grids (dedicated grids have few or none and would inflate it),
    the officer Gini over officers' households.

    Parameters
    ----------
    grids : DataFrame
        ``grid_code``, ``households``, ``district_code`` and optionally ``grid_type``.
    staff : DataFrame
        ``staff_id``, ``role``, ``unit_code`` and optionally ``active``.
    districts : DataFrame
        ``district_code`` of every 警格 (for 警格 without an officer).

    Returns
    -------
    frame : DataFrame
        One row per grid: ``grid_code``, ``grid_type``, ``district_code``, ``households``,
        ``full_time_workers``, ``part_time_workers``, ``households_per_full_time`` (NaN without one),
        ``officer_id``, ``officer_grids``, ``officer_households``.
    summary : dict
        ``grids``, ``households``, ``grids_without_full_time`` (list of comprehensive grid codes),
        ``dedicated_without_full_time`` (count), ``districts``, ``districts_without_officer`` (list),
        ``officers``, ``households_per_grid``, ``households_per_full_time`` (households of grids
        with a worker / workers), ``households_per_officer``, ``grids_per_officer``,
        ``gini_grid_households``, ``gini_officer_households``, ``officers_table`` (DataFrame:
        ``officer_id``, ``districts``, ``grids``, ``households``).
    """
    on_duty = staff[_flag(staff, "active")]
    role = _text(on_duty["role"])
    unit = _text(on_duty["unit_code"])
    ids = _text(on_duty["staff_id"])
    gcodes = _text(grids["grid_code"])
    frame = pd.DataFrame(
        {
            "grid_code": gcodes,
            "grid_type": _text(grids["grid_type"]) if "grid_type" in grids.columns else "综合",
            "district_code": _text(grids["district_code"]) if "district_code" in grids.columns else "",
            "households": pd.to_numeric(grids["households"], errors="coerce").fillna(0).to_numpy(np.int64),
        }
    )
    full = pd.Series(unit[role == FULL_TIME_ROLE]).value_counts()
    part = pd.Series(unit[role == PART_TIME_ROLE]).value_counts()
    frame["full_time_workers"] = frame.grid_code.map(full).fillna(0).astype(np.int64)
    frame["part_time_workers"] = frame.grid_code.map(part).fillna(0).astype(np.int64)
    frame["households_per_full_time"] = np.where(
        frame.full_time_workers > 0, frame.households / frame.full_time_workers.clip(lower=1), np.nan
    )
    officers = pd.DataFrame(
        {"district_code": unit[role == OFFICER_ROLE], "officer_id": ids[role == OFFICER_ROLE]}
    )
    officers = officers.sort_values("officer_id", kind="stable").drop_duplicates("district_code")
    frame["officer_id"] = frame.district_code.map(officers.set_index("district_code").officer_id)
    d_codes = pd.Index(_text(districts["district_code"])).drop_duplicates()
    load = frame.dropna(subset=["officer_id"]).groupby("officer_id")
    table = pd.DataFrame(
        {
            "districts": officers.groupby("officer_id").district_code.nunique(),
            "grids": load.grid_code.nunique(),
            "households": load.households.sum(),
        }
    ).fillna(0)
    table = table.astype(np.int64).rename_axis("officer_id").reset_index()
    frame["officer_grids"] = frame.officer_id.map(table.set_index("officer_id").grids).astype("Int64")
    frame["officer_households"] = frame.officer_id.map(table.set_index("officer_id").households).astype(
        "Int64"
    )
    comp = (frame.grid_type == "综合").to_numpy()
    vacant = frame.full_time_workers.to_numpy() == 0
    with_worker = ~vacant
    summary = {
        "grids": len(frame),
        "households": int(frame.households.sum()),
        "grids_without_full_time": sorted(frame.grid_code[comp & vacant].tolist()),
        "dedicated_without_full_time": int((~comp & vacant).sum()),
        "districts": len(d_codes),
        "districts_without_officer": sorted(set(d_codes) - set(officers.district_code)),
        "officers": len(table),
        "households_per_grid": float(frame.households.mean()) if len(frame) else float("nan"),
        "households_per_full_time": float(
            frame.households[with_worker].sum() / max(frame.full_time_workers.sum(), 1)
        ),
        "households_per_officer": float(table.households.mean()) if len(table) else float("nan"),
        "grids_per_officer": float(table.grids.mean()) if len(table) else float("nan"),
        "gini_grid_households": gini(frame.households[comp]),
        "gini_officer_households": gini(table.households),
        "officers_table": table,
    }
    return frame, summary


# --------------------------------------------------------------------------------------------------
# 4. visits


def visit_coverage(
    visits: pd.DataFrame,
    addresses: pd.DataFrame,
    persons_of_concern: pd.DataFrame,
    start,
    end,
    by: str = "grid",
    units: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Visit coverage (走访覆盖率): households visited in a period; persons of concern visited in time.

    Households: an address counts as visited when a visit to it (``target_kind == "address"``,
    ``target_id`` = its ``address_id``) falls in ``start <= visited_at < end``; the share is weighted
    by the addresses' ``households`` (3 of 4 households visited = 75 %). Addresses created on or after
    ``end`` are left out.

    Persons of concern (关注人员), as of ``end``: each is due a visit every ``visit_interval_days``
    (by risk colour, 分色管理). With ``last`` the latest visit before ``end`` and ``listed_at`` the
    listing date, the next visit is due at ``max(last, listed_at) + interval``. A person is
    ``on_time`` when ``end - last <= interval``, ``overdue`` when the due date is before ``end``,
    else ``not_yet_due`` (listed recently, not visited yet). The share is on time / (on time +
    overdue). Persons listed on or after ``end`` are left out.

    Parameters
    ----------
    visits : DataFrame
        ``target_kind``, ``target_id``, ``visited_at``.
    addresses : DataFrame
        ``address_id``, ``grid_code``, ``households`` [, ``created_at``].
    persons_of_concern : DataFrame
        ``poc_id``, ``grid_code``, ``visit_interval_days`` [, ``listed_at``, ``risk_colour``,
        ``category``, ``officer_id``].
    start, end : datetime-like
        The period for households and the "as of" moment for persons of concern.
    by : str
        Unit of the rows: ``grid``, ``village``, ``township``, ``county``, ``city`` (from the grid
        code), or a police level (``district``, ``station``, ``bureau``) given ``units``.
    units : DataFrame, optional
        :func:`geo.units.grid_units` of the grids, for police levels.

    Returns
    -------
    frame : DataFrame
        One row per unit: ``unit_code``, ``addresses``, ``addresses_visited``, ``households``,
        ``households_visited``, ``household_share``, ``poc``, ``poc_on_time``, ``poc_overdue``,
        ``poc_not_yet_due``, ``poc_share``; lowest household share first.
    summary : dict
        ``households``, ``households_visited``, ``household_share``, ``poc``, ``poc_on_time``,
        ``poc_overdue``, ``poc_not_yet_due``, ``poc_share``, ``overdue_by_colour`` (dict),
        ``overdue`` (DataFrame, most overdue first: ``poc_id``, ``grid_code``, ``officer_id``,
        ``risk_colour``, ``category``, ``last_visit``, ``due_at``, ``days_overdue``; ids only).
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    when = _local_times(visits["visited_at"]).reset_index(drop=True)
    kind = _strings(visits["target_kind"] if "target_kind" in visits.columns else [""] * len(visits))
    target = _strings(visits["target_id"])
    before_end = (when < end).to_numpy() & when.notna().to_numpy()
    in_period = before_end & (when >= start).to_numpy()

    addr = addresses
    if "created_at" in addr.columns:
        addr = addr[~(pd.to_datetime(addr["created_at"], errors="coerce") >= end).to_numpy()]
    a_visited = target[in_period & (kind != "person_of_concern").to_numpy()]
    hh = pd.to_numeric(addr["households"], errors="coerce").fillna(0).to_numpy(np.float64)
    seen = _isin(_strings(addr["address_id"]), a_visited)
    a = pd.DataFrame(
        {
            "unit_code": _unit_of(addr["grid_code"], by, units),
            "addresses": 1,
            "addresses_visited": seen.astype(np.int64),
            "households": hh,
            "households_visited": hh * seen,
        }
    )

    poc = persons_of_concern
    listed = (
        pd.to_datetime(poc["listed_at"], errors="coerce")
        if "listed_at" in poc.columns
        else pd.Series(pd.NaT, index=poc.index, dtype="datetime64[ns]")
    )
    current = ~(listed >= end).to_numpy()
    poc, listed = poc[current], listed.to_numpy(dtype="datetime64[ns]")[current]
    p_visits = pd.DataFrame({"poc_id": target, "when": when})[before_end & (kind != "address").to_numpy()]
    last = p_visits.groupby("poc_id")["when"].max()
    pid = _strings(poc["poc_id"])
    last_visit = pd.to_datetime(last.reindex(pid)).to_numpy(dtype="datetime64[ns]")
    interval = pd.to_timedelta(
        pd.to_numeric(poc["visit_interval_days"], errors="coerce").to_numpy(np.float64), unit="D"
    )
    # the next visit is due an interval after the later of the last visit and the listing
    base = np.where(np.isnat(last_visit), listed, last_visit)
    base = np.where(np.isnat(listed), base, np.maximum(base, listed))
    due = base + interval.to_numpy()
    end64 = end.to_datetime64()
    on_time = ~np.isnat(last_visit) & (end64 - last_visit <= interval.to_numpy())
    overdue = ~on_time & (np.isnat(due) | (due < end64))
    not_yet = ~on_time & ~overdue
    p = pd.DataFrame(
        {
            "unit_code": _unit_of(poc["grid_code"], by, units),
            "poc": 1,
            "poc_on_time": on_time.astype(np.int64),
            "poc_overdue": overdue.astype(np.int64),
            "poc_not_yet_due": not_yet.astype(np.int64),
        }
    )
    frame = pd.concat([a.groupby("unit_code").sum(), p.groupby("unit_code").sum()], axis=1).fillna(0)
    for col in ("addresses", "addresses_visited", "poc", "poc_on_time", "poc_overdue", "poc_not_yet_due"):
        frame[col] = frame[col].astype(np.int64)
    frame["household_share"] = frame.households_visited / frame.households.where(frame.households > 0)
    frame["poc_share"] = frame.poc_on_time / (frame.poc_on_time + frame.poc_overdue).where(
        frame.poc_on_time + frame.poc_overdue > 0
    )
    cols = ["addresses", "addresses_visited", "households", "households_visited", "household_share"]
    cols += ["poc", "poc_on_time", "poc_overdue", "poc_not_yet_due", "poc_share"]
    frame = frame[cols].rename_axis("unit_code").reset_index()
    frame = frame.sort_values(["household_share", "unit_code"], kind="stable", na_position="last")
    frame = frame.reset_index(drop=True)

    def col(name: str):
        return _text(poc[name]) if name in poc.columns else np.full(len(poc), "")

    days = (end64 - due) / np.timedelta64(1, "D")
    late = pd.DataFrame(
        {
            "poc_id": pid,
            "grid_code": col("grid_code"),
            "officer_id": col("officer_id"),
            "risk_colour": col("risk_colour"),
            "category": col("category"),
            "last_visit": last_visit,
            "due_at": due,
            "days_overdue": np.floor(days),
        }
    )[overdue]
    late = late.sort_values(["days_overdue", "poc_id"], ascending=[False, True], kind="stable")
    n_hh, n_vis = float(a.households.sum()), float(a.households_visited.sum())
    due_total = int(on_time.sum() + overdue.sum())
    summary = {
        "households": n_hh,
        "households_visited": n_vis,
        "household_share": n_vis / n_hh if n_hh > 0 else float("nan"),
        "poc": len(poc),
        "poc_on_time": int(on_time.sum()),
        "poc_overdue": int(overdue.sum()),
        "poc_not_yet_due": int(not_yet.sum()),
        "poc_share": float(on_time.sum() / due_total) if due_total else float("nan"),
        "overdue_by_colour": {
            str(k): int(v) for k, v in late.risk_colour.value_counts().sort_index().items()
        },
        "overdue": late.reset_index(drop=True),
    }
    return frame, summary


# --------------------------------------------------------------------------------------------------
# 5. patrols


def peak_window(hourly: ArrayLike, hours: int = PEAK_WINDOW_HOURS) -> NDArray[np.int64]:
    """Start hour of the busiest run of ``hours`` consecutive hours (circular: 22–01 is a window).

    Parameters
    ----------
    hourly : array_like, shape (n, 24) or (24,)
        Counts per hour of day.
    hours : int
        Window length.

    Returns
    -------
    ndarray of int64
        The start hour per row (ties: the earliest start).
    """
    h = np.atleast_2d(np.asarray(hourly, dtype=np.float64))
    wrapped = np.concatenate([h, h[:, : hours - 1]], axis=1)
    sums = np.cumsum(np.pad(wrapped, ((0, 0), (1, 0))), axis=1)
    window = sums[:, hours : hours + 24] - sums[:, :24]
    return np.argmax(window, axis=1).astype(np.int64)


def _peak_matrix(
    cells: NDArray[np.uint64], events: pd.DataFrame, event_time: str, resolution: int, peak_hours, hours: int
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Boolean (cell × 24) of each hotspot's peak hours, and its event count."""
    n = len(cells)
    lon, lat = lonlat_of(events)
    e_cells = cells_of(lon, lat, resolution)
    idx = np.clip(np.searchsorted(cells, e_cells), 0, max(n - 1, 0))  # cells are sorted
    hit = (cells[idx] == e_cells) if n else np.zeros(len(e_cells), bool)
    times = _local_times(events[event_time])
    hour = times.dt.hour.to_numpy(dtype=np.float64, na_value=np.nan)
    ok = hit & np.isfinite(hour)
    hourly = np.bincount(idx[ok] * 24 + hour[ok].astype(np.int64), minlength=n * 24).reshape(n, 24)
    counts = hourly.sum(axis=1)
    peak = np.zeros((n, 24), dtype=bool)
    if peak_hours is None:
        city = np.bincount(hour[np.isfinite(hour)].astype(np.int64), minlength=24)
        hourly = np.where(counts[:, None] > 0, hourly, city[None, :])  # no event: the city's profile
        first = peak_window(hourly, hours)
        cols = (first[:, None] + np.arange(hours)[None, :]) % 24
        peak[np.arange(n)[:, None], cols] = True
    elif isinstance(peak_hours, Mapping):
        keyed = {
            int(k): v for k, v in zip(_cells_as_int(peak_hours.keys()), peak_hours.values(), strict=True)
        }
        for i, c in enumerate(cells):  # one entry per hotspot, not per fix
            peak[i, list(keyed.get(int(c), ()))] = True
    else:
        peak[:, [int(h) % 24 for h in peak_hours]] = True
    return peak, counts


def patrol_coverage(
    patrol_points: gpd.GeoDataFrame,
    hotspot_cells: Iterable[str] | Iterable[int],
    events: pd.DataFrame,
    peak_hours: Iterable[int] | Mapping | None = None,
    resolution: int = 8,
    window_hours: int = PEAK_WINDOW_HOURS,
    time_col: str = "recorded_at",
    event_time_col: str = "occurred_at",
) -> tuple[pd.DataFrame, dict]:
    """Patrol coverage of hotspots (一格一策): are hotspot cells patrolled in their own peak hours?

    A patrol fix covers a hotspot H3 cell when it lies in the cell during one of the cell's peak
    hours. By default a cell's peak hours are the busiest ``window_hours`` consecutive hours of its
    events' hour-of-day profile (circular, see :func:`peak_window`); a cell without events takes the
    city-wide profile's window.

    Parameters
    ----------
    patrol_points : GeoDataFrame
        GPS fixes with ``recorded_at`` (and ``track_id`` for counting patrols).
    hotspot_cells : iterable of str or int
        The hotspot cells, at ``resolution`` (e.g. the top rows of :func:`geo.heat.h3_aggregate`).
    events : DataFrame
        Points with ``occurred_at``, for the hour profiles.
    peak_hours : iterable of int, or mapping cell → hours, optional
        Fixed peak hours for every cell, or per cell, instead of the events' windows.
    resolution : int
        H3 resolution; the hotspot cells must be at it.
    window_hours : int
        Length of the derived peak window.
    time_col, event_time_col : str
        Timestamp columns of the fixes and the events.

    Returns
    -------
    frame : DataFrame
        One row per hotspot: ``h3``, ``events``, ``peak_hours`` (tuple of hours), ``fixes`` (any
        hour), ``fixes_in_peak``, ``tracks_in_peak``, ``covered``, ``last_covered_at``; uncovered
        first, then by events.
    summary : dict
        ``hotspots``, ``covered``, ``share``, ``fixes``, ``fixes_in_hotspots``,
        ``fixes_in_hotspot_peaks``.

    Raises
    ------
    ValueError
        If a hotspot cell is not at ``resolution``.
    """
    cells = np.unique(_cells_as_int(hotspot_cells))
    res = {h3.get_resolution(h3.int_to_str(int(c))) for c in cells}
    if res - {resolution}:
        raise ValueError(f"hotspot cells are at resolution {sorted(res)}, not {resolution}")
    n = len(cells)
    peak, counts = _peak_matrix(cells, events, event_time_col, resolution, peak_hours, window_hours)
    lon, lat = lonlat_of(patrol_points)
    f_cells = cells_of(lon, lat, resolution)
    pos = np.clip(np.searchsorted(cells, f_cells), 0, max(n - 1, 0))
    inside = (cells[pos] == f_cells) if n else np.zeros(len(f_cells), bool)
    times = _local_times(patrol_points[time_col])
    hour = times.dt.hour.to_numpy(dtype=np.float64, na_value=np.nan)
    timed = np.isfinite(hour)
    in_peak = inside & timed
    in_peak[in_peak] = peak[pos[in_peak], hour[in_peak].astype(np.int64)]
    fixes = np.bincount(pos[inside], minlength=n)
    fixes_peak = np.bincount(pos[in_peak], minlength=n)
    tracks = (
        _text(patrol_points["track_id"]) if "track_id" in patrol_points.columns else np.arange(len(f_cells))
    )
    hits = pd.DataFrame({"cell": pos[in_peak], "track": tracks[in_peak], "when": times.to_numpy()[in_peak]})
    per = hits.groupby("cell").agg(tracks=("track", "nunique"), last=("when", "max"))
    frame = pd.DataFrame(
        {
            "h3": _cells_as_str(cells),
            "events": counts.astype(np.int64),
            "peak_hours": [tuple(int(h) for h in np.flatnonzero(row)) for row in peak],
            "fixes": fixes.astype(np.int64),
            "fixes_in_peak": fixes_peak.astype(np.int64),
            "tracks_in_peak": per.tracks.reindex(np.arange(n), fill_value=0).to_numpy(np.int64),
            "covered": fixes_peak > 0,
            "last_covered_at": per["last"].reindex(np.arange(n)).to_numpy(),
        }
    )
    frame = frame.sort_values(["covered", "events", "h3"], ascending=[True, False, True], kind="stable")
    summary = {
        "hotspots": int(n),
        "covered": int(frame.covered.sum()),
        "share": float(frame.covered.mean()) if n else float("nan"),
        "fixes": len(f_cells),
        "fixes_in_hotspots": int(inside.sum()),
        "fixes_in_hotspot_peaks": int(in_peak.sum()),
    }
    return frame.reset_index(drop=True), summary


# --------------------------------------------------------------------------------------------------
# 6. cameras


def _covered_by_discs(
    px: NDArray, py: NDArray, cx: NDArray, cy: NDArray, radius: NDArray, chunk: int = 200_000
) -> NDArray[np.bool_]:
    """Whether each point lies within ``radius[j]`` of some centre j (exact; KD-tree, chunked).

    Each point's nearest centres within the largest radius are checked against their own radius;
    points whose ``k`` nearest are all within reach are asked again with twice ``k``.
    """
    out = np.zeros(len(px), dtype=bool)
    if not len(cx) or not len(px):
        return out
    tree = cKDTree(np.column_stack([cx, cy]))
    rmax = float(radius.max())
    for lo in range(0, len(px), chunk):
        todo = np.arange(lo, min(lo + chunk, len(px)))
        k = min(8, len(cx))
        while len(todo):
            dist, idx = tree.query(np.column_stack([px[todo], py[todo]]), k=k, distance_upper_bound=rmax)
            dist, idx = dist.reshape(len(todo), k), idx.reshape(len(todo), k)
            found = np.isfinite(dist)
            r = np.where(found, radius[np.minimum(idx, len(cx) - 1)], -1.0)
            out[todo] = (dist <= r).any(axis=1)
            again = found[:, -1] & ~out[todo] & (k < len(cx))  # all k in reach, none covering: ask more
            todo, k = todo[again], min(2 * k, len(cx))
    return out


def camera_coverage(
    cameras: gpd.GeoDataFrame,
    incidents: gpd.GeoDataFrame | pd.DataFrame,
    hotspot_area=None,
    by: str | None = "category",
) -> tuple[pd.DataFrame, dict]:
    """Camera coverage (视频覆盖): incidents and hotspot area within range of an online camera.

    An incident is covered when it lies within ``range_m`` metres (straight line, in a projected CRS)
    of a camera that is ``online`` (all cameras when the column is absent); found with a KD-tree
    (``scipy.spatial.cKDTree``), exact for cameras of different ranges. The hotspot area covered is
    the area of the union of the online cameras' discs (polygons of ``DISC_QUAD_SEGS`` segments per
    quarter, 0.16 % short of a circle) intersected with the hotspot area.

    Parameters
    ----------
    cameras : GeoDataFrame
        ``camera_id``, ``range_m`` [, ``online``, ``camera_kind``].
    incidents : GeoDataFrame or DataFrame
        Incident points.
    hotspot_area : GeoDataFrame, GeoSeries or shapely geometry, optional
        Hotspot polygons in lon/lat (e.g. :func:`geo.heat.h3_polygons` of the hotspot cells).
    by : str, optional
        Incident column to break the covered share down by (default ``category``; skipped if absent).

    Returns
    -------
    frame : DataFrame
        One row per camera: ``camera_id``, ``camera_kind``, ``online``, ``range_m``,
        ``incidents_in_range`` (0 for an offline camera); most incidents first.
    summary : dict
        ``cameras``, ``online``, ``incidents``, ``incidents_covered``, ``share``, ``share_by`` (dict
        per ``by`` value), and with ``hotspot_area``: ``hotspot_m2``, ``hotspot_covered_m2``,
        ``hotspot_share``.
    """
    epsg = _epsg_of(incidents, cameras)
    cx, cy = _xy(cameras, epsg)
    rng = pd.to_numeric(cameras["range_m"], errors="coerce").fillna(0).to_numpy(np.float64)
    online = _flag(cameras, "online") & np.isfinite(cx) & np.isfinite(cy) & (rng > 0)
    px, py = _xy(incidents, epsg)
    has_xy = np.isfinite(px) & np.isfinite(py)
    covered = np.zeros(len(px), dtype=bool)
    covered[has_xy] = _covered_by_discs(px[has_xy], py[has_xy], cx[online], cy[online], rng[online])
    in_range = np.zeros(len(cx), dtype=np.int64)
    if online.any() and has_xy.any():
        # unbalanced, uncompacted: builds twice as fast on 1.6 M incidents, the counts are the same
        tree = cKDTree(np.column_stack([px[has_xy], py[has_xy]]), balanced_tree=False, compact_nodes=False)
        in_range[online] = tree.query_ball_point(
            np.column_stack([cx[online], cy[online]]), r=rng[online], return_length=True
        )
    frame = pd.DataFrame(
        {
            "camera_id": _text(cameras["camera_id"])
            if "camera_id" in cameras.columns
            else np.arange(len(cx)),
            "camera_kind": _text(cameras["camera_kind"]) if "camera_kind" in cameras.columns else "",
            "online": _flag(cameras, "online"),
            "range_m": rng,
            "incidents_in_range": in_range,
        }
    ).sort_values(["incidents_in_range", "camera_id"], ascending=[False, True], kind="stable")
    n = int(has_xy.sum())
    summary: dict = {
        "cameras": len(cx),
        "online": int(_flag(cameras, "online").sum()),
        "incidents": n,
        "incidents_covered": int(covered.sum()),
        "share": float(covered.sum() / n) if n else float("nan"),
    }
    if by is not None and by in incidents.columns:
        groups = pd.Series(covered)[has_xy].groupby(_strings(incidents[by])[has_xy]).mean()
        summary["share_by"] = {str(k): float(v) for k, v in groups.items()}
    if hotspot_area is not None:
        area = _projected(hotspot_area, epsg)
        area = shapely.union_all(area[area != None])  # noqa: E711
        discs = shapely.buffer(shapely.points(cx[online], cy[online]), rng[online], quad_segs=DISC_QUAD_SEGS)
        near = shapely.STRtree(discs).query(area, predicate="intersects") if len(discs) else []
        cover = shapely.intersection(shapely.union_all(discs[np.unique(near)]), area)
        total = float(shapely.area(area))
        summary["hotspot_m2"] = total
        summary["hotspot_covered_m2"] = float(shapely.area(cover))
        summary["hotspot_share"] = float(shapely.area(cover)) / total if total > 0 else float("nan")
    return frame.reset_index(drop=True), summary


# --------------------------------------------------------------------------------------------------
# 7. stations


def _area_within(polys: NDArray[np.object_], discs: NDArray[np.object_]) -> NDArray[np.float64]:
    """Area of each polygon inside the union of ``discs`` (exact overlay, contained pairs skipped)."""
    out = np.zeros(len(polys))
    if not len(discs) or not len(polys):
        return out
    parts = shapely.get_parts(shapely.union_all(discs))  # disjoint pieces: areas add up
    shapely.prepare(parts)
    pi, qi = shapely.STRtree(parts).query(polys, predicate="intersects")
    inside = shapely.contains(parts[qi], polys[pi])
    area = np.where(inside, shapely.area(polys[pi]), 0.0)
    cut = ~inside
    area[cut] = shapely.area(shapely.intersection(polys[pi[cut]], parts[qi[cut]]))
    np.add.at(out, pi, area)
    return out


def station_access(
    stations: gpd.GeoDataFrame,
    population_or_addresses: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame | None = None,
    km: Sequence[float] = (1, 3, 5),
    persons_per_household: float = PERSONS_PER_HOUSEHOLD,
) -> tuple[pd.DataFrame, dict]:
    """Access to police stations (派出所可达性): share of area and population within X km.

    Distances are **straight-line** (Euclidean in a projected CRS), not along roads: a lower bound of
    the travel distance, and the usual first look where no road network is loaded.

    Population: points (标准地址 addresses) weigh ``population`` if present, else ``households`` ×
    ``persons_per_household``, and are within X km when their nearest station is (KD-tree). Polygons
    with ``population`` (grids) have it spread evenly over their area, so the population within X km
    is each polygon's population × its area share within X km.

    Area: the share of the grids' area inside the union of X-km discs around the stations (needs
    ``grids``, or polygons as ``population_or_addresses``).

    Parameters
    ----------
    stations : GeoDataFrame
        Station points (派出所驻地; police rooms 警务室 may be added as further points).
    population_or_addresses : GeoDataFrame
        Addresses with ``households`` (or points with ``population``), or grids with ``population``.
    grids : GeoDataFrame, optional
        The grids whose area is measured (default: ``population_or_addresses`` if it holds polygons).
    km : sequence of float
        Distance bands.
    persons_per_household : float
        Residents per household for addresses.

    Returns
    -------
    frame : DataFrame
        One row per distance: ``km``, ``area_m2``, ``area_share``, ``population``,
        ``population_share`` (area columns NaN without grids).
    summary : dict
        ``stations``, ``population``, ``area_m2``, ``straight_line`` (True), ``mean_distance_km``
        (population-weighted, to the nearest station; for polygons from their representative point),
        and ``per_grid`` (DataFrame, with grids: ``grid_code``, ``area_m2``, ``nearest_station_km`` and
        ``share_within_{X}km`` per band).
    """
    pop_layer = _lonlat_frame(population_or_addresses)
    geoms = pop_layer.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    polygonal = bool(present.any()) and bool(np.isin(shapely.get_type_id(geoms[present]), (3, 6)).all())
    if grids is None and polygonal:
        grids = pop_layer
    epsg = _epsg_of(pop_layer, stations)
    sx, sy = _xy(stations, epsg)
    ok = np.isfinite(sx) & np.isfinite(sy)
    sx, sy = sx[ok], sy[ok]
    if not len(sx):
        raise ValueError("station_access: no station has coordinates")
    tree = cKDTree(np.column_stack([sx, sy]))
    km = [float(k) for k in km]
    station_pts = shapely.points(sx, sy)

    per_grid = None
    area_in = {}
    if grids is not None:
        g = _lonlat_frame(grids)
        proj = _projected(g, epsg)
        use = proj != None  # noqa: E711
        polys = proj[use]
        reps = shapely.point_on_surface(polys)
        dist, _ = tree.query(np.column_stack([shapely.get_x(reps), shapely.get_y(reps)]))
        per_grid = pd.DataFrame(
            {
                "grid_code": _text(g["grid_code"])[use] if "grid_code" in g.columns else np.flatnonzero(use),
                "area_m2": shapely.area(polys),
                "nearest_station_km": dist / 1000.0,
            }
        )
        for k in km:
            discs = shapely.buffer(station_pts, k * 1000.0, quad_segs=DISC_QUAD_SEGS)
            area_in[k] = _area_within(polys, discs)
            per_grid[f"share_within_{k:g}km"] = np.divide(
                area_in[k], per_grid.area_m2, out=np.zeros(len(polys)), where=per_grid.area_m2 > 0
            )

    if polygonal:
        g_pop = pd.to_numeric(pop_layer["population"], errors="coerce").fillna(0).to_numpy(np.float64)
        pop_total = float(g_pop[present].sum())
        pop_in = {k: float((g_pop[present] * per_grid[f"share_within_{k:g}km"].to_numpy()).sum()) for k in km}
        mean_km = (
            float(np.average(per_grid.nearest_station_km, weights=g_pop[present]))
            if pop_total
            else float("nan")
        )
    else:
        px, py = _xy(pop_layer, epsg)
        weight = (
            pd.to_numeric(pop_layer["population"], errors="coerce").fillna(0).to_numpy(np.float64)
            if "population" in pop_layer.columns
            else pd.to_numeric(pop_layer["households"], errors="coerce").fillna(0).to_numpy(np.float64)
            * persons_per_household
        )
        has = np.isfinite(px) & np.isfinite(py)
        dist, _ = tree.query(np.column_stack([px[has], py[has]]))
        w = weight[has]
        pop_total = float(w.sum())
        pop_in = {k: float(w[dist <= k * 1000.0].sum()) for k in km}
        mean_km = float(np.average(dist, weights=w) / 1000.0) if pop_total else float("nan")

    total_area = float(per_grid.area_m2.sum()) if per_grid is not None else float("nan")
    frame = pd.DataFrame(
        {
            "km": km,
            "area_m2": [float(area_in[k].sum()) if per_grid is not None else np.nan for k in km],
            "population": [pop_in[k] for k in km],
        }
    )
    frame["area_share"] = frame.area_m2 / total_area if total_area > 0 else np.nan
    frame["population_share"] = frame.population / pop_total if pop_total > 0 else np.nan
    frame = frame[["km", "area_m2", "area_share", "population", "population_share"]]
    summary = {
        "stations": len(sx),
        "population": pop_total,
        "area_m2": total_area,
        "straight_line": True,
        "mean_distance_km": mean_km,
        "per_grid": per_grid,
    }
    return frame, summary
