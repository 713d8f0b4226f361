"""标准地址 standard-address models: addresses lived in but unregistered (空挂), records outside every grid,
new addresses not yet visited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geo.assign import assign_xy, get_index
from geo.crs import projected_crs_for
from geo.models.base import (
    as_bool,
    collect,
    empty_warnings,
    finish,
    fmt_date,
    fmt_num,
    grade,
    member,
    period_of,
    register,
    upto,
)

ASPECT = "标准地址"


@register(
    "ADDR-01",
    "空挂地址预警",
    ASPECT,
    reads={
        "addresses": ("address_id", "address", "grid_code", "households", "created_at"),
        "population": ("person_id", "address_id", "registered", "registered_at"),
        "incidents": ("incident_id", "occurred_at", "address_id"),
        "disputes": ("dispute_id", "reported_at", "address_id"),
    },
    history={"incidents": lambda p: p["lookback_days"], "disputes": lambda p: p["lookback_days"]},
)
def vacant_registration(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Residential address with activity but nobody registered there (空挂: 有人有事、无人登记).

    An address with households where, as of ``as_of``, not one resident is registered (登记在册) in the
    actual-population (实有人口) system, yet there is activity: residents found living there unregistered,
    police incidents (警情) or disputes (矛盾纠纷) at the address within ``lookback_days``. Activity counts
    one per unregistered resident and per record; the model fires at ``min_activity``. Addresses younger
    than ``grace_days`` are left to ADDR-03 (new address not visited).

    Why it matters: people and trouble at an address the system believes empty are exactly what "一标三实"
    collection must not miss; the grid worker should visit and register the residents, the officer should
    know who is behind the calls.

    Severity by activity: ``medium_activity`` → 中, ``high_activity`` → 高. Key: address + period.
    """
    addr = layers["addresses"]
    addr = addr[
        (pd.to_datetime(addr["created_at"]) <= as_of - pd.Timedelta(days=params["grace_days"])).to_numpy()
        & (pd.to_numeric(addr["households"], errors="coerce").fillna(0) > 0).to_numpy()
    ]
    pop = layers["population"]
    reg_at = pd.to_datetime(pop["registered_at"])
    registered = as_bool(pop["registered"]) & (reg_at.isna() | (reg_at <= as_of))
    n_reg = registered.groupby(pop["address_id"], observed=True).sum()
    n_reg.index = n_reg.index.astype("str")
    unreg = pop[~registered.to_numpy()][["person_id", "address_id"]].rename(columns={"person_id": "rid"})
    unreg = unreg.astype({"address_id": "str"})
    inc = upto(layers["incidents"], "occurred_at", as_of, params["lookback_days"])
    dis = upto(layers["disputes"], "reported_at", as_of, params["lookback_days"])
    records = pd.concat(
        [
            unreg.assign(kind="person"),
            inc[["incident_id", "address_id"]].rename(columns={"incident_id": "rid"}).assign(kind="incident"),
            dis[["dispute_id", "address_id"]].rename(columns={"dispute_id": "rid"}).assign(kind="dispute"),
        ],
        ignore_index=True,
    )
    records = records[member(records.address_id, addr.address_id)]
    counts = records.groupby(["address_id", "kind"]).size().unstack("kind", fill_value=0)
    counts = counts.reindex(columns=["person", "incident", "dispute"], fill_value=0)
    counts["activity"] = counts.sum(axis=1)
    counts["registered"] = counts.index.map(n_reg).fillna(0).astype(int)
    hit = counts[(counts.registered == 0) & (counts.activity >= params["min_activity"])]
    if hit.empty:
        return empty_warnings()
    info = addr.drop_duplicates("address_id").set_index("address_id").reindex(hit.index)
    evidence = collect(records[member(records.address_id, hit.index)], "address_id", "rid").reindex(hit.index)
    ids = hit.index.to_series().astype("str")
    reason = (
        "标准地址 "
        + ids
        + "（"
        + info["address"].astype("str").fillna("")
        + "）近 "
        + str(params["lookback_days"])
        + " 天警情 "
        + hit["incident"].astype(str)
        + " 起、矛盾纠纷 "
        + hit["dispute"].astype(str)
        + " 起，居住未登记人员 "
        + hit["person"].astype(str)
        + " 人，但登记在册 0 人，疑似空挂，请上门核实并采集登记"
    )
    return finish(
        "ADDR-01",
        layers,
        as_of,
        params,
        grid_code=info["grid_code"],
        severity=grade(hit.activity, params["medium_activity"], params["high_activity"]),
        reason=reason,
        evidence_ids=evidence,
        evidence_key="ADDR-01:" + ids + ":" + period_of(as_of, params),
    )


def _confirm_outside(candidates: np.ndarray, points: np.ndarray, grids: gpd.GeoDataFrame) -> np.ndarray:
    """Keep the raster's "outside every grid" answers that shapely confirms (they are few; a warning
    should not rest on a lookup structure alone)."""
    idx = np.flatnonzero(candidates)
    if len(idx) == 0:
        return candidates
    tree = shapely.STRtree(np.asarray(grids.geometry.array, dtype=object))
    inside = np.unique(tree.query(points[idx], predicate="intersects")[0])
    out = candidates.copy()
    out[idx[inside]] = False
    return out


def _nearest(points: np.ndarray, grids: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row of the nearest grid of each point and the distance in metres (projected CRS)."""
    geoms = np.asarray(grids.geometry.array, dtype=object)
    tree = shapely.STRtree(geoms)
    src, row = tree.query_nearest(points, all_matches=False)
    order = np.argsort(src, kind="stable")
    row = row[order]
    centre = shapely.centroid(shapely.union_all(points))
    tr = pyproj.Transformer.from_crs(4326, projected_crs_for(centre.x, centre.y), always_xy=True)
    dist = shapely.distance(
        shapely.transform(points, tr.transform, interleaved=False),
        shapely.transform(geoms[row], tr.transform, interleaved=False),
    )
    return row, dist


@register(
    "ADDR-02",
    "网格外地址警情预警",
    ASPECT,
    reads={
        "addresses": ("address_id", "address", "grid_code", "created_at", "geometry"),
        "incidents": ("incident_id", "occurred_at", "category", "grid_code", "geometry"),
        "grids": ("grid_code", "grid_name", "district_code", "geometry"),
    },
    history={"incidents": lambda p: p["incident_lookback_days"]},
)
def outside_grids(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Address or incident lying outside every grid, or address inside a grid other than its own (落图错误).

    Every standard address and every police incident must fall in a grid, or nobody is responsible for
    it. The model tests each address (created by ``as_of``) and each incident of the last
    ``incident_lookback_days`` against the grid polygons (exact point-in-polygon with the cached lookup
    raster of :mod:`geo.assign`); with ``check_declared_grid`` it also flags an address whose point lies
    in a grid other than the one recorded for it (its ``grid_code``).

    Why it matters: a record outside the grids is invisible on every grid's screen and in every KPI; a
    wrongly placed address sends work orders to the wrong grid worker. The warning goes to the nearest
    grid (outside points) or the grid holding the point (misplaced addresses), which checks the location.

    Severity: address outside every grid 高, incident outside 中, misplaced address 低. Keys: address +
    period; incident id.
    """
    grids = layers["grids"]
    if not isinstance(grids, gpd.GeoDataFrame):
        grids = gpd.GeoDataFrame(grids, geometry="geometry", crs=4326)
    index = get_index(grids)
    codes = grids["grid_code"].astype("str").to_numpy()
    names = grids["grid_name"].astype("str").to_numpy()
    addr = upto(layers["addresses"], "created_at", as_of)
    inc = upto(layers["incidents"], "occurred_at", as_of, params["incident_lookback_days"])
    a_geom = np.asarray(addr.geometry.array if hasattr(addr, "geometry") else addr["geometry"], dtype=object)
    i_geom = np.asarray(inc.geometry.array if hasattr(inc, "geometry") else inc["geometry"], dtype=object)
    a_row = assign_xy(shapely.get_x(a_geom), shapely.get_y(a_geom), index)
    i_row = assign_xy(shapely.get_x(i_geom), shapely.get_y(i_geom), index)
    declared = addr["grid_code"].astype("str").to_numpy()
    a_out = _confirm_outside(a_row < 0, a_geom, grids)
    misplaced = np.zeros(len(addr), bool)
    if params["check_declared_grid"]:
        cand = ~a_out & (codes[np.maximum(a_row, 0)] != declared)
        # A point on a shared edge or in an overlap is assigned to the smallest code; it is not misplaced
        # if its own grid covers it too.
        own = pd.Index(codes).get_indexer(declared)
        check = np.flatnonzero(cand & (own >= 0))
        geoms = np.asarray(grids.geometry.array, dtype=object)
        covered = np.zeros(len(addr), bool)
        covered[check] = shapely.intersects_xy(
            geoms[own[check]], shapely.get_x(a_geom[check]), shapely.get_y(a_geom[check])
        )
        misplaced = cand & ~covered
    i_out = _confirm_outside(i_row < 0, i_geom, grids)
    parts = []
    period = period_of(as_of, params)
    out_pts = np.concatenate([a_geom[a_out], i_geom[i_out]])
    if len(out_pts):
        near, dist = _nearest(out_pts, grids)
        na = int(a_out.sum())
        dist_txt = fmt_num(dist, 0).to_numpy()
        a_ids = addr["address_id"].astype("str").to_numpy()[a_out]
        a_txt = addr["address"].astype("str").fillna("").to_numpy()[a_out]
        parts.append(
            pd.DataFrame(
                {
                    "grid": codes[near[:na]],
                    "severity": "高",
                    "reason": "标准地址 "
                    + a_ids
                    + "（"
                    + a_txt
                    + "）坐标落在所有网格之外，距最近网格 "
                    + codes[near[:na]]
                    + "（"
                    + names[near[:na]]
                    + "）约 "
                    + dist_txt[:na]
                    + " 米，请核实坐标并划入网格",
                    "ids": [[a] for a in a_ids],
                    "key": "ADDR-02:" + a_ids + ":" + period,
                }
            )
        )
        i_ids = inc["incident_id"].astype("str").to_numpy()[i_out]
        when = fmt_date(inc["occurred_at"]).to_numpy()[i_out]
        cat = inc["category"].astype("str").to_numpy()[i_out]
        parts.append(
            pd.DataFrame(
                {
                    "grid": codes[near[na:]],
                    "severity": "中",
                    "reason": "警情 "
                    + i_ids
                    + "（"
                    + cat
                    + "，"
                    + when
                    + "）坐标落在所有网格之外，距最近网格 "
                    + codes[near[na:]]
                    + "（"
                    + names[near[na:]]
                    + "）约 "
                    + dist_txt[na:]
                    + " 米，请核实发生地点并补录网格",
                    "ids": [[i] for i in i_ids],
                    "key": "ADDR-02:" + i_ids,
                }
            )
        )
    if misplaced.any():
        m_ids = addr["address_id"].astype("str").to_numpy()[misplaced]
        holder = codes[a_row[misplaced]]
        parts.append(
            pd.DataFrame(
                {
                    "grid": holder,
                    "severity": "低",
                    "reason": "标准地址 "
                    + m_ids
                    + "（"
                    + addr["address"].astype("str").fillna("").to_numpy()[misplaced]
                    + "）登记属网格 "
                    + np.where(pd.isna(declared[misplaced]), "（空）", declared[misplaced].astype(str))
                    + "，但坐标落在网格 "
                    + holder
                    + "（"
                    + names[a_row[misplaced]]
                    + "）内，请核实归属",
                    "ids": [[a] for a in m_ids],
                    "key": "ADDR-02:" + m_ids + ":" + period,
                }
            )
        )
    if not parts:
        return empty_warnings()
    w = pd.concat(parts, ignore_index=True)
    return finish(
        "ADDR-02",
        layers,
        as_of,
        params,
        grid_code=w.grid,
        severity=w.severity,
        reason=w.reason,
        evidence_ids=w.ids,
        evidence_key=w.key,
    )


@register(
    "ADDR-03",
    "新增地址未走访预警",
    ASPECT,
    reads={
        "addresses": ("address_id", "address", "grid_code", "created_at"),
        "visits": ("visit_id", "target_kind", "target_id", "visited_at"),
    },
    history={"visits": lambda p: p["lookback_days"]},
)
def new_address_unvisited(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """New standard address not visited within ``visit_within_days`` of its collection (新增地址未核实).

    Addresses collected (``created_at``) between ``lookback_days`` and ``visit_within_days`` days before
    ``as_of`` that have no address visit (走访, ``target_kind = address``) from their collection up to
    ``as_of``.

    Why it matters: a new building or house is where unregistered residents, group rentals and
    unchecked hazards first appear; "一标三实" requires the grid worker to visit and verify it promptly.

    Severity by days past the visit deadline: ``medium_overdue_days`` → 中, ``high_overdue_days`` → 高.
    Key: address id (one warning per new address).
    """
    addr = layers["addresses"]
    created = pd.to_datetime(addr["created_at"])
    new = addr[
        (
            (created > as_of - pd.Timedelta(days=params["lookback_days"]))
            & (created <= as_of - pd.Timedelta(days=params["visit_within_days"]))
        ).to_numpy()
    ]
    vis = upto(layers["visits"], "visited_at", as_of)
    vis = vis[(vis["target_kind"] == "address").to_numpy()]
    v = (
        vis[["target_id", "visited_at"]]
        .astype({"target_id": "str"})
        .merge(
            new[["address_id", "created_at"]].astype({"address_id": "str"}),
            left_on="target_id",
            right_on="address_id",
        )
    )
    visited = v.loc[(pd.to_datetime(v.visited_at) >= pd.to_datetime(v.created_at).dt.normalize()).to_numpy()]
    hit = new[~member(new["address_id"], visited["address_id"])]
    if hit.empty:
        return empty_warnings()
    age = (as_of - pd.to_datetime(hit["created_at"])).dt.days.to_numpy()
    overdue = age - params["visit_within_days"]
    ids = hit["address_id"].astype("str").to_numpy()
    reason = (
        "新增标准地址 "
        + ids
        + "（"
        + hit["address"].astype("str").fillna("").to_numpy()
        + "）于 "
        + fmt_date(hit["created_at"]).to_numpy()
        + " 采集，已 "
        + age.astype(str)
        + " 天未走访核实（要求 "
        + str(params["visit_within_days"])
        + " 天内），请网格员上门核实人、房、单位信息"
    )
    return finish(
        "ADDR-03",
        layers,
        as_of,
        params,
        grid_code=hit["grid_code"].to_numpy(),
        severity=grade(overdue, params["medium_overdue_days"], params["high_overdue_days"]),
        reason=reason,
        evidence_ids=[[a] for a in ids],
        evidence_key="ADDR-03:" + pd.Series(ids),
    )
