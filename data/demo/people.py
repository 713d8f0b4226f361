"""People and places of the demo city: staff (人员力量), standard addresses (标准地址), actual population
(实有人口: 户籍 and 流动) and persons of concern (关注人员), with planted data-quality defects."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.demo.names import (
    ORIGIN_PROVINCES,
    ORIGIN_REGION_CODES,
    ROAD_SUFFIX,
    person_names,
    phones,
    place_names,
)
from data.idnumber import make_id_numbers

PERSONS_PER_HOUSEHOLD = 2.6
FLOATING_SHARE = {True: 0.20, False: 0.08}  # urban, rural: floating residents per registered resident
POC_SHARE = 0.0025
VISIT_INTERVAL = {"红": 7, "橙": 15, "黄": 30, "绿": 90}
RISK_P = (0.05, 0.15, 0.30, 0.50)
POC_CATEGORY_P = (0.12, 0.18, 0.22, 0.12, 0.10, 0.26)


def sample_points_in(geoms: np.ndarray, owner: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform random point inside ``geoms[owner[i]]`` for every i (vectorised rejection sampling)."""
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)
    out = np.full((len(owner), 2), np.nan)
    todo = np.arange(len(owner))
    while len(todo):
        b = bounds[owner[todo]]
        x = rng.uniform(b[:, 0], b[:, 2])
        y = rng.uniform(b[:, 1], b[:, 3])
        ok = shapely.contains_xy(geoms[owner[todo]], x, y)
        out[todo[ok], 0] = x[ok]
        out[todo[ok], 1] = y[ok]
        todo = todo[~ok]
    return out


def make_staff(grids: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, rng: np.random.Generator):
    """Grid heads and workers per grid, officers and auxiliaries per 警格; a few planted vacancies.

    Returns (staff frame, district officer ids aligned with ``districts``).
    """
    comp = (grids.grid_type == "综合").to_numpy()
    n = len(grids)
    part = np.where(comp, rng.integers(2, 5, n), rng.integers(1, 3, n))
    vol = np.where(comp, rng.integers(0, 4, n), 0)
    full = np.where(comp & (rng.random(n) > 0.015), 1, 0)  # ~1.5 % of grids lack a full-time worker
    roles = [("网格长", np.ones(n, int)), ("专职网格员", full), ("兼职网格员", part), ("网格志愿者", vol)]
    unit = np.concatenate([np.repeat(grids.grid_code.to_numpy(), c) for _, c in roles])
    role = np.concatenate([np.full(c.sum(), r) for r, c in roles])
    nd = len(districts)
    has_officer = rng.random(nd) > 0.01  # ~1 % of 警格 without a community officer
    aux = rng.integers(1, 3, nd)
    p_unit = np.concatenate(
        [districts.district_code.to_numpy()[has_officer], np.repeat(districts.district_code.to_numpy(), aux)]
    )
    p_role = np.concatenate([np.full(has_officer.sum(), "社区民警"), np.full(aux.sum(), "辅警")])
    staff = pd.DataFrame(
        {
            "staff_id": np.concatenate(
                [
                    np.char.add("W", np.char.zfill(np.arange(1, len(unit) + 1).astype(str), 8)),
                    np.char.add("J", np.char.zfill(np.arange(1, len(p_unit) + 1).astype(str), 6)),
                ]
            ),
            "role": np.concatenate([role, p_role]),
            "unit_code": np.concatenate([unit, p_unit]),
        }
    )
    staff["name"] = person_names(rng, len(staff))
    staff["phone"] = phones(rng, len(staff))
    births = np.datetime64("1965-01-01") + rng.integers(0, 365 * 35, len(staff)).astype("timedelta64[D]")
    staff["id_number"] = make_id_numbers(
        np.full(len(staff), "320600"), births, rng.integers(0, 1000, len(staff))
    )
    staff["active"] = rng.random(len(staff)) > 0.01
    officers = staff[staff.role == "社区民警"].set_index("unit_code").staff_id
    officer_ids = districts.district_code.map(officers)
    staff = staff[["staff_id", "name", "role", "unit_code", "phone", "id_number", "active"]]
    return staff, officer_ids


def make_addresses(
    grids: gpd.GeoDataFrame, village_names: pd.Series, until: pd.Timestamp, rng: np.random.Generator
) -> gpd.GeoDataFrame:
    """Standard addresses: apartment buildings in town, houses in the countryside, a few per dedicated
    grid."""
    hh = grids.households.to_numpy()
    urban = grids.urban.to_numpy()
    comp = (grids.grid_type == "综合").to_numpy()
    per_building = rng.integers(24, 97, len(grids))
    n_addr = np.where(
        comp, np.where(urban, np.maximum(1, np.round(hh / per_building)), hh), rng.integers(1, 9, len(grids))
    ).astype(int)
    owner = np.repeat(np.arange(len(grids)), n_addr)
    # households per address: split each grid's households over its addresses
    share = rng.gamma(4.0, 1.0, len(owner))
    total = np.bincount(owner, weights=share, minlength=len(grids))
    alloc = np.floor(share / total[owner] * hh[owner]).astype(int)
    short = hh - np.bincount(owner, weights=alloc, minlength=len(grids)).astype(int)
    first = np.concatenate([[0], np.cumsum(n_addr)[:-1]])
    np.add.at(alloc, first[short > 0], short[short > 0])
    xy = sample_points_in(grids.geometry.values, owner, rng)
    seq = np.arange(len(owner)) - first[owner] + 1
    vname = grids.village_code.map(village_names).to_numpy()[owner].astype(str)
    road = np.char.add(
        place_names(rng, len(grids), "")[owner].astype(str), rng.choice(ROAD_SUFFIX, len(grids))[owner]
    )
    urban_o = urban[owner]
    text = np.where(
        urban_o,
        np.char.add(
            np.char.add(np.char.add(vname, road), np.char.mod("%d号", seq // 8 + 1)),
            np.char.mod("%d幢", seq % 8 + 1),
        ),
        np.char.add(
            np.char.add(vname, np.char.mod("%d组", seq // 30 + 1)), np.char.mod("%d号", seq % 30 + 1)
        ),
    )
    age_days = rng.integers(60, 3650, len(owner))
    new = rng.random(len(owner)) < 0.03  # new addresses of the last 60 days (the "not yet visited" model)
    age_days[new] = rng.integers(0, 60, new.sum())
    kind = np.where(comp[owner], np.where(urban_o, "住宅楼", "农村自建房"), "单位")
    return gpd.GeoDataFrame(
        {
            "address_id": np.char.add("A", np.char.zfill(np.arange(1, len(owner) + 1).astype(str), 10)),
            "address": text,
            "grid_code": grids.grid_code.to_numpy()[owner],
            "building_kind": kind,
            "households": alloc,
            "created_at": (until.normalize() - pd.to_timedelta(age_days, unit="D")).to_numpy(),
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=4326,
    )


def make_population(
    addresses: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, until: pd.Timestamp, rng: np.random.Generator
) -> pd.DataFrame:
    """Registered (户籍) residents per household and floating (流动) residents per address.

    Planted defects: suspected group rentals (群租: many floating residents at one address), grids with a
    low registration rate, residence permits expired or about to expire, unregistered addresses with
    people living there (空挂).
    """
    g = grids.set_index("grid_code")
    urban = g.urban.reindex(addresses.grid_code).to_numpy()
    hh = addresses.households.to_numpy()
    n_reg = rng.poisson(PERSONS_PER_HOUSEHOLD * hh)
    rate = np.where(urban, FLOATING_SHARE[True], FLOATING_SHARE[False])
    n_float = rng.poisson(rate * np.maximum(n_reg, 1))
    rental = rng.random(len(addresses)) < 0.003
    n_float[rental] += rng.integers(12, 30, rental.sum())
    n = n_reg + n_float
    owner = np.repeat(np.arange(len(addresses)), n)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    rank = np.arange(len(owner)) - starts[owner]
    floating = rank >= n_reg[owner]
    m = len(owner)
    age = np.clip(rng.gamma(5.0, 8.5, m), 0, 98)
    age[floating] = np.clip(rng.normal(33, 9, floating.sum()), 17, 70)
    birth = (until - pd.to_timedelta((age * 365.25).astype(int), unit="D")).to_numpy()
    seq = rng.integers(0, 1000, m)
    gender = np.where(seq % 2 == 1, "男", "女")
    county = addresses.grid_code.str.slice(0, 6).to_numpy()[owner]
    origin_idx = rng.integers(0, len(ORIGIN_PROVINCES), m)
    region = np.where(floating, ORIGIN_REGION_CODES[origin_idx], county)
    grid_codes = addresses.grid_code.to_numpy()[owner]
    low_grids = rng.random(len(grids)) < 0.05  # grids with a poor registration rate
    low = pd.Series(low_grids, index=grids.grid_code).reindex(grid_codes).to_numpy()
    registered = rng.random(m) < np.where(low, 0.78, np.where(floating, 0.93, 0.985))
    # 空挂: some new addresses have residents that nobody registered
    unreg_addr = rng.random(len(addresses)) < 0.004
    registered[unreg_addr[owner]] = False
    reg_days = rng.integers(1, 3 * 365, m)
    registered_at = (until - pd.to_timedelta(reg_days, unit="D")).to_numpy()
    permit = registered_at + np.timedelta64(365, "D") * rng.choice([1, 2, 3], m)
    adult = age >= 16
    pop = pd.DataFrame(
        {
            "person_id": np.char.add("P", np.char.zfill(np.arange(1, m + 1).astype(str), 10)),
            "name": person_names(rng, m),
            "id_number": make_id_numbers(region, birth, seq),
            "phone": np.where(adult, phones(rng, m), None),
            "gender": gender,
            "birth_date": pd.DatetimeIndex(birth).normalize(),
            "resident_kind": np.where(floating, "流动", "户籍"),
            "address_id": addresses.address_id.to_numpy()[owner],
            "grid_code": grid_codes,
            "registered": registered,
            "verified": registered & (rng.random(m) < 0.95),
            "origin": np.where(floating, ORIGIN_PROVINCES[origin_idx], None),
            "registered_at": pd.DatetimeIndex(
                np.where(registered, registered_at, np.datetime64("NaT"))
            ).normalize(),
            "permit_expiry": pd.DatetimeIndex(np.where(floating, permit, np.datetime64("NaT"))).normalize(),
        }
    )
    return pop


def make_persons_of_concern(
    population: pd.DataFrame,
    addresses: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    officer_by_district: pd.Series,
    until: pd.Timestamp,
    rng: np.random.Generator,
) -> gpd.GeoDataFrame:
    """About 0.25 % of adults are listed as persons of concern, each with a risk colour (分色管理)."""
    adult = population.birth_date < until - pd.DateOffset(years=16)
    cand = np.flatnonzero(adult.to_numpy())
    pick = np.sort(rng.choice(cand, size=max(1, int(len(population) * POC_SHARE)), replace=False))
    p = population.iloc[pick]
    colour = rng.choice(["红", "橙", "黄", "绿"], len(p), p=RISK_P)
    district = p.grid_code.map(grids.set_index("grid_code").district_code)
    addr_geom = addresses.set_index("address_id").geometry
    return gpd.GeoDataFrame(
        {
            "poc_id": np.char.add("G", np.char.zfill(np.arange(1, len(p) + 1).astype(str), 7)),
            "person_id": p.person_id.to_numpy(),
            "name": p.name.to_numpy(),
            "id_number": p.id_number.to_numpy(),
            "phone": p.phone.to_numpy(),
            "category": rng.choice(
                ["社区矫正", "严重精神障碍", "刑满释放", "吸毒人员", "重点信访", "六失人员"],
                len(p),
                p=POC_CATEGORY_P,
            ),
            "risk_colour": colour,
            "officer_id": district.map(officer_by_district).to_numpy(),
            "visit_interval_days": pd.Series(colour).map(VISIT_INTERVAL).to_numpy(),
            "address_id": p.address_id.to_numpy(),
            "grid_code": p.grid_code.to_numpy(),
            "listed_at": (
                until.normalize() - pd.to_timedelta(rng.integers(30, 2000, len(p)), unit="D")
            ).to_numpy(),
        },
        geometry=p.address_id.map(addr_geom).values,
        crs=4326,
    )
