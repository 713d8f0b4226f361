"""人口管理 population models: residence permits expiring, suspected group rentals (群租), grids with a low
registration rate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import poisson

from geo.models.base import (
    as_bool,
    chance_text,
    collect,
    empty_warnings,
    finish,
    fmt_num,
    grade,
    id_sample,
    member,
    period_of,
    register,
    upto,
)

ASPECT = "人口管理"


def _known(pop: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Residents known at ``as_of``: rows registered later than ``as_of`` are dropped (no look-ahead)."""
    reg_at = pd.to_datetime(pop["registered_at"])
    return pop[(reg_at.isna() | (reg_at <= as_of)).to_numpy()]


@register(
    "POP-01",
    "居住证到期预警",
    ASPECT,
    reads={"population": ("person_id", "resident_kind", "grid_code", "registered_at", "permit_expiry")},
)
def permit_expiry(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Floating residents whose residence permit (居住证) has just expired or expires soon, per grid.

    Counts, per grid, the floating residents (流动人口) whose ``permit_expiry`` lies within the last
    ``expired_within_days`` days (just expired) or the next ``expiring_within_days`` days (expiring),
    and fires for a grid with at least ``min_persons`` of them. Permits lapsed longer ago are left to
    the registration checks: they usually mean a person has moved away.

    Why it matters: an expired permit cuts the resident off from public services and is the moment the
    person's address and status are re-verified (签注/续办); the grid worker should remind them and update
    the record.

    Severity by persons: ``medium_persons`` → 中, ``high_persons`` → 高. Key: grid + period.
    """
    pop = _known(layers["population"], as_of)
    pop = pop[(pop["resident_kind"] == "流动").to_numpy() & pop["permit_expiry"].notna().to_numpy()]
    days = (pd.to_datetime(pop["permit_expiry"]).dt.normalize() - as_of.normalize()).dt.days
    expired = (days < 0) & (days >= -params["expired_within_days"])
    expiring = (days >= 0) & (days <= params["expiring_within_days"])
    hit = pop[(expired | expiring).to_numpy()].assign(expired=expired[expired | expiring].to_numpy())
    hit = hit.astype({"grid_code": "str"})
    if hit.empty:
        return empty_warnings()
    per = hit.groupby("grid_code").agg(n=("person_id", "size"), n_expired=("expired", "sum"))
    per = per[per.n >= params["min_persons"]]
    if per.empty:
        return empty_warnings()
    evidence = collect(hit[member(hit.grid_code, per.index)], "grid_code", "person_id").reindex(per.index)
    grid = per.index.to_series().astype("str")
    reason = (
        "网格 "
        + grid
        + " 流动人口居住证近 "
        + str(params["expired_within_days"])
        + " 天内已过期 "
        + per.n_expired.astype(str)
        + " 人、"
        + str(params["expiring_within_days"])
        + " 天内到期 "
        + (per.n - per.n_expired).astype(str)
        + " 人（"
        + id_sample(evidence)
        + "），请提醒及时签注续办并核实居住信息"
    )
    return finish(
        "POP-01",
        layers,
        as_of,
        params,
        grid_code=grid,
        severity=grade(per.n, params["medium_persons"], params["high_persons"]),
        reason=reason,
        evidence_ids=evidence,
        evidence_key="POP-01:" + grid + ":" + period_of(as_of, params),
    )


@register(
    "POP-02",
    "疑似群租房预警",
    ASPECT,
    reads={
        "population": ("person_id", "resident_kind", "address_id", "registered_at"),
        "addresses": ("address_id", "address", "grid_code", "households", "created_at"),
    },
)
def group_rental(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Address with far more floating residents than its households and its grid would suggest (疑似群租).

    For each address the expected number of floating residents (流动人口) is its households times the
    floating residents per household of the rest of its grid (leave-one-out, so a large rental does not
    raise its own baseline). The model fires when the observed count is at least ``min_floating``,
    exceeds the expectation by ``min_excess`` and is improbable under a Poisson law with that mean
    (upper-tail p ≤ ``alpha``). A flat "more than N residents" rule would flag every large apartment
    block; the Poisson test scales with the building.

    Why it matters: group rentals (群租房) concentrate fire risk (crowded rooms, e-bike charging),
    unregistered residents and disputes; the grid worker should inspect the address with the officer.

    Severity by excess residents: ``medium_excess`` → 中, ``high_excess`` → 高. Key: address + period.
    """
    pop = _known(layers["population"], as_of)
    floating = (pop["resident_kind"] == "流动").to_numpy()
    n_float = pd.Series(floating, index=pop.index).groupby(pop["address_id"], observed=True).sum()
    n_float.index = n_float.index.astype("str")
    addr = (
        upto(layers["addresses"], "created_at", as_of).drop_duplicates("address_id").set_index("address_id")
    )
    hh = pd.to_numeric(addr["households"], errors="coerce").fillna(0).clip(lower=0)
    f = n_float.reindex(addr.index, fill_value=0).astype(float)
    grid = addr["grid_code"].astype("str")
    g_f = f.groupby(grid).transform("sum")
    g_h = hh.groupby(grid).transform("sum")
    rate = (g_f - f) / np.maximum(g_h - hh, 1.0)
    expected = np.maximum(rate * np.maximum(hh, 1.0), params["min_expected"])
    excess = f - expected
    cand = (f >= params["min_floating"]) & (excess >= params["min_excess"])
    p = pd.Series(1.0, index=addr.index)
    p[cand] = poisson.sf(f[cand] - 1, expected[cand])
    fire = cand & (p <= params["alpha"])
    if not fire.any():
        return empty_warnings()
    hit = addr[fire.to_numpy()]
    ids = hit.index.to_series().astype("str")
    people = pop[floating & member(pop["address_id"], hit.index)].astype({"address_id": "str"})
    evidence = collect(people, "address_id", "person_id").reindex(hit.index)
    reason = (
        "标准地址 "
        + ids
        + "（"
        + hit["address"].astype("str").fillna("")
        + "）登记 "
        + hh[fire].astype(int).astype(str)
        + " 户，居住流动人口 "
        + f[fire].astype(int).astype(str)
        + " 人，按本网格水平预期约 "
        + fmt_num(expected[fire]).to_numpy()
        + " 人（超出 "
        + fmt_num(excess[fire]).to_numpy()
        + " 人，"
        + chance_text(p[fire]).to_numpy()
        + "），疑似群租，请会同民警上门检查消防与登记情况"
    )
    return finish(
        "POP-02",
        layers,
        as_of,
        params,
        grid_code=hit["grid_code"],
        severity=grade(excess[fire], params["medium_excess"], params["high_excess"]),
        reason=reason,
        evidence_ids=evidence,
        evidence_key="POP-02:" + ids + ":" + period_of(as_of, params),
    )


@register(
    "POP-03",
    "网格登记率偏低预警",
    ASPECT,
    reads={
        "population": ("person_id", "grid_code", "registered", "registered_at"),
        "grids": ("grid_code", "grid_name", "district_code"),
    },
)
def low_registration(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Grid whose registration rate (基础信息采集登记率) of actual residents is below ``target_rate``.

    The rate is registered residents over all actual residents (实有人口) of the grid as of ``as_of``
    (a resident registered after ``as_of`` counts as unregistered); grids with fewer than
    ``min_residents`` residents are skipped as too small to judge.

    Why it matters: the registration rate is a 质态监测 KPI with a target of 100 %; a grid far below its
    peers has residents the police cannot find in the system. The grid worker gets the list of
    unregistered residents to collect.

    Severity by the rate: at or below ``medium_rate`` → 中, at or below ``high_rate`` → 高.
    Key: grid + period.
    """
    pop = layers["population"]
    reg_at = pd.to_datetime(pop["registered_at"])
    registered = (as_bool(pop["registered"]) & (reg_at.isna() | (reg_at <= as_of))).to_numpy()
    by_grid = pd.Series(registered, index=pop.index).groupby(pop["grid_code"], observed=True)
    per = pd.DataFrame({"n": by_grid.size(), "reg": by_grid.sum()})
    per.index = per.index.astype("str")
    per["rate"] = per.reg / per.n
    per = per[(per.n >= params["min_residents"]) & (per.rate < params["target_rate"])]
    if per.empty:
        return empty_warnings()
    unreg = pop[~registered & member(pop["grid_code"], per.index)].astype({"grid_code": "str"})
    evidence = collect(unreg, "grid_code", "person_id").reindex(per.index)
    evidence = evidence.map(lambda v: v if isinstance(v, list) else [])
    names = layers["grids"].drop_duplicates("grid_code").set_index("grid_code")["grid_name"]
    grid = per.index.to_series().astype("str")
    reason = (
        "网格 "
        + grid
        + "（"
        + grid.map(names).astype("str").fillna("")
        + "）实有人口 "
        + per.n.astype(str)
        + " 人，已登记 "
        + per.reg.astype(int).astype(str)
        + " 人，登记率 "
        + fmt_num(per.rate * 100).to_numpy()
        + "%，低于目标 "
        + fmt_num(params["target_rate"] * 100 * np.ones(len(per))).to_numpy()
        + "%，未登记 "
        + (per.n - per.reg).astype(int).astype(str)
        + " 人，请组织补采登记"
    )
    return finish(
        "POP-03",
        layers,
        as_of,
        params,
        grid_code=grid,
        severity=grade(-per.rate, -params["medium_rate"], -params["high_rate"]),
        reason=reason,
        evidence_ids=evidence,
        evidence_key="POP-03:" + grid + ":" + period_of(as_of, params),
    )
