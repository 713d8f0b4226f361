"""风险隐患 hazard models: rectification overdue, clusters of same-type hazards, emerging incident
hotspots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.stats import false_discovery_control, poisson

from geo.heat import cells_of
from geo.models.base import (
    as_bool,
    chance_text,
    collect,
    empty_warnings,
    finish,
    fmt_date,
    fmt_num,
    id_sample,
    period_of,
    raise_one,
    register,
    upto,
)

ASPECT = "风险隐患"


@register(
    "HAZ-01",
    "隐患整改超期预警",
    ASPECT,
    reads={
        "hazards": (
            "hazard_id",
            "hazard_type",
            "level",
            "found_at",
            "deadline",
            "rectified_at",
            "address_id",
            "grid_code",
        )
    },
)
def rectification_overdue(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Hazard (安全隐患) past its rectification deadline (整改期限) and not rectified by ``as_of``.

    A hazard found by ``as_of`` whose deadline day has ended before ``as_of`` and whose ``rectified_at``
    is missing or later than ``as_of`` (rectified afterwards: still open at ``as_of``).

    Why it matters: an overdue fire, gas or e-bike charging hazard is the accident the inspection found
    and nobody removed; overdue rectification is a 质态监测 KPI (整改率) and a liability for the grid.

    Severity by hazard level (``severity_by_level``: 重大 高, 较大 中, 一般 低), one step higher once
    ``escalate_after_days`` overdue. Key: hazard id.
    """
    h = upto(layers["hazards"], "found_at", as_of)
    deadline = pd.to_datetime(h["deadline"]).dt.normalize()
    rectified = pd.to_datetime(h["rectified_at"])
    overdue_days = (as_of.normalize() - deadline).dt.days
    fire = ((overdue_days >= 1) & (rectified.isna() | (rectified > as_of))).to_numpy()
    if not fire.any():
        return empty_warnings()
    hit = h[fire]
    od = overdue_days[fire].to_numpy().astype(int)
    ids = hit["hazard_id"].astype("str").to_numpy()
    level = hit["level"].astype("str").to_numpy()
    severity = pd.Series(level).map(params["severity_by_level"]).fillna("中").to_numpy()
    severity = raise_one(severity, od >= params["escalate_after_days"])
    addr = hit["address_id"].astype("str").fillna("").to_numpy()
    reason = (
        "安全隐患 "
        + ids
        + "（"
        + hit["hazard_type"].astype("str").to_numpy()
        + "，"
        + level
        + np.where(addr != "", "，地址 " + addr, "")
        + "）发现于 "
        + fmt_date(hit["found_at"]).to_numpy()
        + "，整改期限 "
        + fmt_date(hit["deadline"]).to_numpy()
        + "，已超期 "
        + od.astype(str)
        + " 天未整改，请督促整改并复查"
    )
    return finish(
        "HAZ-01",
        layers,
        as_of,
        params,
        grid_code=hit["grid_code"],
        severity=severity,
        reason=reason,
        evidence_ids=[[i] for i in ids],
        evidence_key="HAZ-01:" + pd.Series(ids),
    )


def _clusters(h: pd.DataFrame, unit: str, min_count: int) -> pd.DataFrame:
    """Groups of ``(unit, hazard_type)`` with at least ``min_count`` hazards: ``unit_code, hazard_type,
    n, grid`` (the grid holding most of them; smallest code on ties)."""
    c = h.groupby([unit, "hazard_type", "grid_code"]).size().rename("k").reset_index()
    c = c.sort_values(["k", "grid_code"], ascending=[False, True], kind="stable")
    top = c.drop_duplicates([unit, "hazard_type"]).set_index([unit, "hazard_type"])
    n = c.groupby([unit, "hazard_type"]).k.sum()
    out = pd.DataFrame(
        {"n": n, "grid": top["grid_code"].reindex(n.index), "grids": c.groupby([unit, "hazard_type"]).size()}
    )
    out = out[out.n >= min_count].reset_index().rename(columns={unit: "unit_code"})
    return out


@register(
    "HAZ-02",
    "同类隐患聚集预警",
    ASPECT,
    reads={"hazards": ("hazard_id", "hazard_type", "found_at", "grid_code", "geometry")},
    history={"hazards": lambda p: p["window_days"]},
)
def hazard_cluster(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """At least ``min_count`` hazards of one type found within ``window_days`` in one grid or H3 cell.

    Groups the hazards found in the ``window_days`` up to ``as_of`` by type and by grid (``units``
    holds ``grid``) and by H3 cell of ``h3_resolution`` (``units`` holds ``h3``; resolution 8 cells are
    about 0.7 km², so a cluster straddling two grids is still found). An H3 cluster wholly inside a grid
    cluster of the same type adds nothing and is dropped.

    Why it matters: several e-bike charging or gas hazards found close together within weeks point to a
    common cause (one landlord, one market, one old estate) that single rectifications will not fix; it
    calls for a concentrated campaign (集中整治).

    Severity 中, 高 from ``high_count`` hazards. Key: unit + type + period.
    """
    h = upto(layers["hazards"], "found_at", as_of, params["window_days"])
    h = h[h["grid_code"].notna().to_numpy()]
    if h.empty:
        return empty_warnings()
    found = []
    units = list(params["units"])
    grid_cl = pd.DataFrame(columns=["unit_code", "hazard_type", "n", "grid"])
    if "grid" in units:
        grid_cl = _clusters(h.assign(unit=h["grid_code"].to_numpy()), "unit", params["min_count"])
        found.append(grid_cl.assign(unit="grid"))
    if "h3" in units and "geometry" in h.columns:
        geom = np.asarray(
            h["geometry"].array if hasattr(h["geometry"], "array") else h["geometry"], dtype=object
        )
        cells = cells_of(shapely.get_x(geom), shapely.get_y(geom), int(params["h3_resolution"]))
        h = h.assign(cell=np.char.mod("%x", cells.astype(np.uint64)))
        h3_cl = _clusters(h[cells != 0], "cell", params["min_count"])
        inside = (h3_cl.grids == 1) & pd.MultiIndex.from_frame(h3_cl[["grid", "hazard_type"]]).isin(
            pd.MultiIndex.from_frame(grid_cl[["unit_code", "hazard_type"]])
        )
        h3_cl = h3_cl[~inside]
        found.append(h3_cl.assign(unit="h3"))
    cl = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    if cl.empty:
        return empty_warnings()
    h = h.assign(unit_grid=h["grid_code"].to_numpy())
    members = []
    for unit, col in (("grid", "unit_grid"), ("h3", "cell")):
        if col in h.columns:
            members.append(
                h[["hazard_id", "hazard_type", col]].rename(columns={col: "unit_code"}).assign(unit=unit)
            )
    m = pd.concat(members, ignore_index=True).merge(cl[["unit", "unit_code", "hazard_type"]])
    evidence = collect(m, ["unit", "unit_code", "hazard_type"], "hazard_id")
    cl = cl.set_index(["unit", "unit_code", "hazard_type"])
    evidence = evidence.reindex(cl.index)
    unit = cl.index.get_level_values(0).to_numpy()
    code = cl.index.get_level_values(1).astype("str").to_numpy()
    htype = cl.index.get_level_values(2).astype("str").to_numpy()
    where = np.where(
        unit == "grid",
        "网格 " + code,
        "H3 单元 " + code + "（主要在网格 " + cl.grid.astype("str").to_numpy() + "）",
    )
    reason = (
        where
        + " 近 "
        + str(params["window_days"])
        + " 天发现同类隐患（"
        + htype
        + "）"
        + cl.n.astype(str).to_numpy()
        + " 处（"
        + id_sample(evidence).to_numpy()
        + "），疑似区域性问题，建议集中整治"
    )
    return finish(
        "HAZ-02",
        layers,
        as_of,
        params,
        grid_code=cl.grid,
        severity=np.where(cl.n >= params["high_count"], "高", "中"),
        reason=reason,
        evidence_ids=evidence,
        evidence_key="HAZ-02:" + unit + ":" + code + ":" + htype + ":" + period_of(as_of, params),
    )


@register(
    "HAZ-03",
    "警情突增热点预警",
    ASPECT,
    reads={
        "incidents": ("incident_id", "occurred_at", "category", "valid", "grid_code"),
        "grids": ("grid_code", "grid_name", "district_code"),
    },
    history={"incidents": lambda p: p["recent_days"] + 7 * p["baseline_weeks"]},
)
def emerging_hotspot(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Grid whose incidents of the last ``recent_days`` far exceed its own baseline (新发警情热点).

    The baseline is the grid's incident rate over the ``baseline_weeks`` weeks before the recent window
    (valid incidents only with ``valid_only``; ``categories`` restricts the categories, empty for all),
    scaled to the window and floored at ``min_baseline``. The recent count is tested against a Poisson
    law with that mean: the grid fires when the count is at least ``min_count``, at least ``min_ratio``
    times the baseline and the upper-tail p-value is at most ``alpha`` (with ``fdr``, p-values are
    first adjusted across all grids by Benjamini–Hochberg, so that thousands of grids tested each week
    do not raise false alarms by chance). A grid's own history is the yardstick, so a busy market grid
    is not flagged for being busy, only for becoming busier.

    Why it matters: a sudden rise (a new gang, a fraud ring, a dispute flaring) is actionable while it
    is new; the station can send patrols (一格一策) before the pattern settles.

    Severity 中, 高 from ``high_ratio`` × the baseline. Key: grid + period (weekly by default).
    """
    span = params["recent_days"] + 7 * params["baseline_weeks"]
    inc = upto(layers["incidents"], "occurred_at", as_of, span)
    keep = inc["grid_code"].notna().to_numpy()
    if params["valid_only"]:
        keep = keep & as_bool(inc["valid"]).to_numpy()
    if params["categories"]:
        keep = keep & inc["category"].isin(params["categories"]).to_numpy()
    inc = inc[keep]
    recent = (
        pd.to_datetime(inc["occurred_at"]) > as_of - pd.Timedelta(days=params["recent_days"])
    ).to_numpy()
    grids = pd.Index(layers["grids"]["grid_code"].astype("str").unique())
    gcode = inc["grid_code"].astype("str").to_numpy()
    n_recent = pd.Series(recent).groupby(gcode).sum().reindex(grids, fill_value=0).astype(float)
    n_base = pd.Series(~recent).groupby(gcode).sum().reindex(grids, fill_value=0).astype(float)
    lam = n_base / (7.0 * params["baseline_weeks"]) * params["recent_days"]
    lam_eff = np.maximum(lam, params["min_baseline"])
    p = pd.Series(poisson.sf(n_recent - 1, lam_eff), index=grids)
    if params["fdr"] and len(p):
        p = pd.Series(false_discovery_control(p.to_numpy(), method="bh"), index=grids)
    ratio = n_recent / lam_eff
    fire = (n_recent >= params["min_count"]) & (ratio >= params["min_ratio"]) & (p <= params["alpha"])
    if not fire.any():
        return empty_warnings()
    hit = fire[fire].index
    ev = inc[recent & pd.Series(gcode).isin(hit).to_numpy()]
    evidence = collect(
        ev.assign(grid_code=ev["grid_code"].astype("str")), "grid_code", "incident_id"
    ).reindex(hit)
    names = layers["grids"].drop_duplicates("grid_code").set_index("grid_code")["grid_name"]
    grid = hit.to_series().astype("str")
    reason = (
        "网格 "
        + grid
        + "（"
        + grid.map(names).astype("str").fillna("")
        + "）近 "
        + str(params["recent_days"])
        + " 天警情 "
        + n_recent[hit].astype(int).astype(str)
        + " 起，前 "
        + str(params["baseline_weeks"])
        + " 周同期均值 "
        + fmt_num(lam[hit]).to_numpy()
        + " 起（"
        + fmt_num(ratio[hit]).to_numpy()
        + " 倍，"
        + chance_text(p[hit]).to_numpy()
        + "），呈新发热点，建议加强巡防"
    )
    return finish(
        "HAZ-03",
        layers,
        as_of,
        params,
        grid_code=grid,
        severity=np.where(ratio[hit] >= params["high_ratio"], "高", "中"),
        reason=reason,
        evidence_ids=evidence,
        evidence_key="HAZ-03:" + grid + ":" + period_of(as_of, params),
    )
