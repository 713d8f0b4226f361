"""Events of the demo city: incidents (警情), disputes (矛盾纠纷), hazards (安全隐患), visits (走访),
patrol GPS fixes (巡逻轨迹), cameras (感知设备) and diverted work orders (工单).

Incidents cluster around addresses with heavy-tailed risk, market and town-centre hotspots and a few
emerging hotspots; they follow hour-of-day and weekday profiles, seasonality, and a year-over-year fall in
some categories (criminal, public order, telecom fraud, fire), so that heat maps, hotspot statistics and
KPIs have real structure to find. Planted defects: incidents outside every grid, overdue hazards, missed
visits, unresolved disputes, repeat dispute addresses.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from data.demo.names import person_names, phones
from data.demo.people import sample_points_in

# category: (share, year-over-year ratio, hour profile name)
CATEGORIES = {
    "刑事": (0.06, 0.62, "night"),
    "治安": (0.15, 0.74, "evening"),
    "纠纷": (0.20, 0.93, "evening"),
    "交通": (0.15, 0.91, "rush"),
    "火警": (0.03, 0.60, "day"),
    "电诈": (0.06, 0.40, "day"),
    "求助": (0.25, 1.04, "day"),
    "非警务": (0.10, 1.10, "day"),
}
_H = np.arange(24)
HOUR_PROFILES = {
    "night": 0.4 + np.exp(-(((_H - 1) % 24 - 0) ** 2) / 18) + 0.6 * np.exp(-((_H - 22) ** 2) / 8),
    "evening": 0.25 + np.exp(-((_H - 20) ** 2) / 10) + 0.4 * np.exp(-((_H - 12) ** 2) / 12),
    "rush": 0.2
    + np.exp(-((_H - 8) ** 2) / 2)
    + np.exp(-((_H - 18) ** 2) / 3)
    + 0.3 * np.exp(-((_H - 13) ** 2) / 8),
    "day": 0.15 + np.exp(-((_H - 10) ** 2) / 12) + 0.8 * np.exp(-((_H - 16) ** 2) / 10),
}
WEEKDAY = {
    "evening": [1, 1, 1, 1, 1.2, 1.35, 1.25],
    "night": [1, 1, 1, 1, 1.15, 1.3, 1.2],
    "rush": [1.15, 1.1, 1.1, 1.1, 1.2, 0.75, 0.7],
    "day": [1.05, 1, 1, 1, 1, 0.95, 0.95],
}
MONTH_LEN = 24


def _seasonality(moy: np.ndarray, profile: str, category: str) -> np.ndarray:
    if category == "火警":
        return 1 + 0.35 * np.cos(2 * np.pi * (moy - 1) / 12)
    return 1 + 0.15 * np.sin(2 * np.pi * (moy - 4) / 12)


def _timestamps(n_by_cat: dict[str, int], until: pd.Timestamp, rng: np.random.Generator):
    """Occurrence times per category over the 24 months ending at ``until`` (profiles, trend, season)."""
    end_month = until.to_period("M")
    months = pd.period_range(end=end_month, periods=MONTH_LEN, freq="M")
    starts = months.to_timestamp()
    cats, times = [], []
    for cat, n in n_by_cat.items():
        _, yoy, prof = CATEGORIES[cat]
        m = np.arange(MONTH_LEN)
        w = (
            yoy ** (m / 12.0)
            * _seasonality(months.month.to_numpy(), prof, cat)
            * months.days_in_month.to_numpy()
        )
        per_month = rng.multinomial(n, w / w.sum())
        hours_p = HOUR_PROFILES[prof] / HOUR_PROFILES[prof].sum()
        wd = np.array(WEEKDAY[prof])
        for k, cnt in enumerate(per_month):
            if not cnt:
                continue
            days = months[k].days_in_month
            if months[k] == end_month:
                days = until.day
            dates = starts[k] + pd.to_timedelta(np.arange(days), unit="D")
            dp = wd[dates.day_of_week]
            day = rng.choice(days, size=cnt, p=dp / dp.sum())
            hour = rng.choice(24, size=cnt, p=hours_p)
            sec = rng.integers(0, 3600, cnt)
            times.append(
                starts[k].to_datetime64() + (day * 86400 + hour * 3600 + sec).astype("timedelta64[s]")
            )
            cats.append(np.full(cnt, cat))
    return np.concatenate(cats), np.concatenate(times)


def _weighted_pick(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    cdf = np.cumsum(weights)
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(weights) - 1)


def _metres_to_deg(dx: np.ndarray, dy: np.ndarray, lat: np.ndarray):
    return dx / (111_320.0 * np.cos(np.radians(lat))), dy / 110_540.0


def make_incidents(
    n: int,
    grids: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    population: pd.DataFrame,
    until: pd.Timestamp,
    rng: np.random.Generator,
) -> gpd.GeoDataFrame:
    """``n`` incidents (plus a few hundred planted outside the grids)."""
    shares = np.array([v[0] for v in CATEGORIES.values()])
    n_by_cat = dict(zip(CATEGORIES, rng.multinomial(n, shares / shares.sum()), strict=True))
    cat, when = _timestamps(n_by_cat, until, rng)
    n = len(cat)
    kind = rng.choice(3, size=n, p=[0.55, 0.30, 0.15])  # at an address, around a hotspot, anywhere in a grid
    x = np.empty(n)
    y = np.empty(n)
    grid_idx = np.full(n, -1)
    addr_idx = np.full(n, -1)
    g_index = pd.Index(grids.grid_code)
    a_grid = g_index.get_indexer(addresses.grid_code)
    urban = grids.urban.to_numpy()
    # address risk: heavy-tailed so a few addresses carry many incidents (80-20)
    a_w = (np.maximum(addresses.households.to_numpy(), 1) ** 0.5) * (rng.pareto(1.3, len(addresses)) + 1)
    a_w *= np.where(urban[a_grid], 1.6, 1.0)
    sel = np.flatnonzero(kind == 0)
    pick = _weighted_pick(a_w, len(sel), rng)
    ax, ay = addresses.geometry.x.to_numpy(), addresses.geometry.y.to_numpy()
    x[sel], y[sel], addr_idx[sel], grid_idx[sel] = ax[pick], ay[pick], pick, a_grid[pick]
    # hotspots: markets and busy urban grids
    g_w = grids.households.to_numpy() + 50.0
    market = (grids.dedicated_kind == "商圈市场").to_numpy()
    busy = urban & (rng.random(len(grids)) < 0.03)
    hot = np.flatnonzero(market | busy)
    # most hotspots are a market or a block (σ 120-380 m); some are a whole nightlife or station
    # district spreading over several neighbouring grids (σ 0.7-1.5 km), which Gi* should find
    broad = rng.random(len(hot)) < 0.35
    hot_w = (rng.pareto(1.5, len(hot)) + 1) * np.where(broad, 4.0, 1.0)
    rep = grids.geometry.representative_point()
    hx, hy = rep.x.to_numpy()[hot], rep.y.to_numpy()[hot]
    sel = np.flatnonzero(kind == 1)
    h = _weighted_pick(hot_w, len(sel), rng)
    sigma = np.where(broad, rng.uniform(700, 1500, len(hot)), rng.uniform(120, 380, len(hot)))[h]
    dx, dy = _metres_to_deg(rng.normal(0, sigma), rng.normal(0, sigma), hy[h])
    x[sel], y[sel] = hx[h] + dx, hy[h] + dy
    # emerging hotspots: a few grids whose last 90 days carry extra incidents
    emerging = rng.choice(len(grids), size=max(2, len(grids) // 100), replace=False)
    recent = when >= (until - pd.Timedelta(days=90)).to_datetime64()
    sel = np.flatnonzero(kind == 2)
    boost = np.zeros(len(grids))
    boost[emerging] = g_w.mean() * 4
    gsel = _weighted_pick(g_w, len(sel), rng)
    em_sel = sel[recent[sel]]
    gsel_em = _weighted_pick(g_w + boost * 40, len(em_sel), rng)
    gpick = np.empty(n, int)
    gpick[sel] = gsel
    gpick[em_sel] = gsel_em
    # surges: a few grids where the last 10 days far exceed the grid's own baseline (a new hotspot)
    surge = rng.choice(len(grids), size=max(2, len(grids) // 200), replace=False)
    last10 = when >= (until - pd.Timedelta(days=10)).to_datetime64()
    su_sel = sel[last10[sel]]
    w_surge = g_w.copy()
    w_surge[surge] += g_w.sum() * 0.67 / len(surge)
    gpick[su_sel] = _weighted_pick(w_surge, len(su_sel), rng)
    xy = sample_points_in(grids.geometry.values, gpick[sel], rng)
    x[sel], y[sel], grid_idx[sel] = xy[:, 0], xy[:, 1], gpick[sel]
    # hotspot points need their grid; those that fell outside every grid go back to the hotspot centre
    hs = np.flatnonzero(kind == 1)
    pts = gpd.GeoSeries(gpd.points_from_xy(x[hs], y[hs]), crs=4326)
    pi, gi = grids.sindex.query(pts.values, predicate="within")
    found = np.full(len(hs), -1)
    found[pi] = gi
    lost = found < 0
    x[hs[lost]], y[hs[lost]] = hx[h[lost]], hy[h[lost]]
    found[lost] = hot[h[lost]]
    grid_idx[hs] = found

    # link residents of the address to dispute / public-order / criminal incidents
    pop_addr = pd.Index(addresses.address_id).get_indexer(population.address_id)
    counts = np.bincount(pop_addr, minlength=len(addresses))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    person_ids = np.full(n, None, dtype=object)
    link = (addr_idx >= 0) & np.isin(cat, ["纠纷", "治安", "刑事"]) & (rng.random(n) < 0.4)
    link &= counts[np.maximum(addr_idx, 0)] > 0
    li = np.flatnonzero(link)
    who = first[addr_idx[li]] + (rng.random(len(li)) * counts[addr_idx[li]]).astype(int)
    person_ids[li] = population.person_id.to_numpy()[who]

    out = gpd.GeoDataFrame(
        {
            "occurred_at": when,
            "category": cat,
            "valid": rng.random(n) < 0.92,
            "address_id": np.where(
                addr_idx >= 0, addresses.address_id.to_numpy()[np.maximum(addr_idx, 0)], None
            ),
            "caller_phone": phones(rng, n),
            "person_ids": person_ids,
            "grid_code": grids.grid_code.to_numpy()[grid_idx],
        },
        geometry=gpd.points_from_xy(x, y),
        crs=4326,
    )
    stray = _outside_points(grids, max(5, n // 3000), rng)
    stray_cat, stray_when = _timestamps({"交通": len(stray)}, until, rng)
    stray_df = gpd.GeoDataFrame(
        {
            "occurred_at": stray_when,
            "category": stray_cat,
            "valid": True,
            "address_id": None,
            "caller_phone": phones(rng, len(stray)),
            "person_ids": None,
            "grid_code": None,
        },
        geometry=stray,
        crs=4326,
    )
    out = pd.concat([out, stray_df], ignore_index=True).sort_values("occurred_at", kind="stable")
    out.insert(0, "incident_id", np.char.add("J", np.char.zfill(np.arange(1, len(out) + 1).astype(str), 12)))
    return out.reset_index(drop=True)


def _outside_points(grids: gpd.GeoDataFrame, n: int, rng: np.random.Generator):
    """Points just outside the grids' union (offshore, across the border): planted out-of-grid records."""
    union = grids.geometry.union_all()
    ring = union.buffer(0.03).difference(union.buffer(0.002))
    xy = sample_points_in(np.array([ring]), np.zeros(n, int), rng)
    return gpd.points_from_xy(xy[:, 0], xy[:, 1])


def make_disputes(n: int, grids, addresses, population, persons_of_concern, until, rng) -> gpd.GeoDataFrame:
    """Disputes at addresses, with repeat addresses, long-unresolved ones and persons of concern involved."""
    types = ["婚恋家庭", "邻里", "土地", "经济债务", "劳资", "物业", "其他"]
    reported = until - pd.to_timedelta(rng.uniform(0, 730, n), unit="D")
    a_w = np.maximum(addresses.households.to_numpy(), 1) * (rng.pareto(1.5, len(addresses)) + 1)
    addr = _weighted_pick(a_w, n, rng)
    # repeat addresses: 3-5 disputes at one address within 20 days, recently
    n_rep = max(3, n // 1500)
    rep_addr = rng.choice(len(addresses), n_rep, replace=False)
    k = rng.integers(3, 6, n_rep)
    r_addr = np.repeat(rep_addr, k)
    r_base = until - pd.to_timedelta(np.repeat(rng.uniform(0, 25, n_rep), k), unit="D")
    r_when = r_base - pd.to_timedelta(rng.uniform(0, 20, len(r_addr)), unit="D")
    # persons of concern with two disputes in the last 90 days
    n_poc = max(2, len(persons_of_concern) // 200)
    pocs = persons_of_concern.sample(n_poc, random_state=int(rng.integers(1 << 31)))
    p_addr = pd.Index(addresses.address_id).get_indexer(np.repeat(pocs.address_id.to_numpy(), 2))
    p_when = until - pd.to_timedelta(rng.uniform(0, 85, len(p_addr)), unit="D")
    p_person = np.repeat(pocs.person_id.to_numpy(), 2)
    all_addr = np.concatenate([addr, r_addr, p_addr])
    when = np.concatenate([reported.to_numpy(), r_when.to_numpy(), p_when.to_numpy()])
    m = len(all_addr)
    age_days = (until.to_datetime64() - when) / np.timedelta64(1, "D")
    status = np.where(
        age_days > 30,
        rng.choice(["已化解", "调解失败", "已上报", "调解中"], m, p=[0.9, 0.04, 0.03, 0.03]),
        rng.choice(["待调解", "调解中", "已化解", "调解失败"], m, p=[0.25, 0.33, 0.39, 0.03]),
    )
    resolve_days = np.minimum(rng.lognormal(1.5, 0.8, m), np.maximum(age_days, 0.1))
    resolved_at = np.where(
        status == "已化解", when + (resolve_days * 86400).astype("timedelta64[s]"), np.datetime64("NaT")
    )
    pop_addr = pd.Index(addresses.address_id).get_indexer(population.address_id)
    counts = np.bincount(pop_addr, minlength=len(addresses))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts[all_addr] > 0
    who = np.where(has, first[all_addr] + (rng.random(m) * np.maximum(counts[all_addr], 1)).astype(int), 0)
    person = np.where(has, population.person_id.to_numpy()[who], None).astype(object)
    person[len(addr) + len(r_addr) :] = p_person
    other = population.person_id.to_numpy()[rng.integers(0, len(population), m)]
    ids = np.where(
        pd.isna(person), other, np.char.add(np.char.add(person.astype(str), ";"), other.astype(str))
    )
    names = np.char.add(np.char.add(person_names(rng, m), "、"), person_names(rng, m))
    out = gpd.GeoDataFrame(
        {
            "reported_at": when,
            "dispute_type": rng.choice(types, m, p=[0.22, 0.25, 0.08, 0.15, 0.12, 0.12, 0.06]),
            "status": status,
            "level": rng.choice(["一般", "复杂"], m, p=[0.82, 0.18]),
            "party_names": names,
            "person_ids": ids,
            "violence_history": rng.random(m) < 0.03,
            "address_id": addresses.address_id.to_numpy()[all_addr],
            "grid_code": addresses.grid_code.to_numpy()[all_addr],
            "resolved_at": resolved_at,
        },
        geometry=addresses.geometry.values[all_addr],
        crs=4326,
    ).sort_values("reported_at", kind="stable")
    out.insert(0, "dispute_id", np.char.add("M", np.char.zfill(np.arange(1, m + 1).astype(str), 9)))
    return out.reset_index(drop=True)


def make_hazards(n: int, grids, addresses, staff, until, rng) -> gpd.GeoDataFrame:
    """Hazards found by grid staff and officers, with deadlines by level; overdue ones and clusters."""
    types = np.array(["消防", "电动车充电", "燃气", "群租房", "危房", "交通", "治安"])
    addr = _weighted_pick(np.maximum(addresses.households.to_numpy(), 1).astype(float), n, rng)
    htype = rng.choice(types, n, p=[0.25, 0.25, 0.12, 0.1, 0.08, 0.1, 0.1])
    found = until - pd.to_timedelta(rng.uniform(0, 730, n), unit="D")
    # clusters of one type in one grid within 60 days
    n_cl = max(2, len(grids) // 200)
    cl_grid = rng.choice(np.flatnonzero((grids.grid_type == "综合").to_numpy()), n_cl, replace=False)
    a_by_grid = pd.Series(np.arange(len(addresses))).groupby(addresses.grid_code.to_numpy()).apply(np.array)
    c_addr, c_type, c_when = [], [], []
    for gi in cl_grid:
        cand = a_by_grid.get(grids.grid_code.iloc[gi])
        if cand is None:
            continue
        k = int(rng.integers(4, 7))
        c_addr.append(rng.choice(cand, k))
        c_type.append(np.full(k, rng.choice(types)))
        c_when.append(until - pd.to_timedelta(rng.uniform(0, 55, k), unit="D"))
    addr = np.concatenate([addr, *c_addr])
    htype = np.concatenate([htype, *c_type])
    found = np.concatenate([found.to_numpy(), *[w.to_numpy() for w in c_when]]).astype("datetime64[ns]")
    m = len(addr)
    level = rng.choice(["一般", "较大", "重大"], m, p=[0.75, 0.2, 0.05])
    days = pd.Series(level).map({"一般": 30, "较大": 15, "重大": 7}).to_numpy()
    deadline = found + days.astype("timedelta64[D]")
    fate = rng.choice(3, m, p=[0.85, 0.08, 0.07])  # on time, late, still open
    took = np.where(fate == 0, rng.uniform(0.1, 1, m) * days, days + rng.uniform(1, 40, m))
    rect = found + (took * 86400).astype("timedelta64[s]")
    rect = np.where((fate == 2) | (rect > until.to_datetime64()), np.datetime64("NaT"), rect)
    grid_codes = addresses.grid_code.to_numpy()[addr]
    workers = staff[staff.role == "专职网格员"].drop_duplicates("unit_code").set_index("unit_code").staff_id
    finder = pd.Series(grid_codes).map(workers).to_numpy()
    out = gpd.GeoDataFrame(
        {
            "hazard_type": htype,
            "level": level,
            "found_by": finder,
            "found_at": pd.DatetimeIndex(found).normalize(),
            "deadline": pd.DatetimeIndex(deadline).normalize(),
            "rectified_at": pd.DatetimeIndex(rect).normalize(),
            "address_id": addresses.address_id.to_numpy()[addr],
            "grid_code": grid_codes,
        },
        geometry=addresses.geometry.values[addr],
        crs=4326,
    ).sort_values("found_at", kind="stable")
    out.insert(0, "hazard_id", np.char.add("Y", np.char.zfill(np.arange(1, m + 1).astype(str), 9)))
    return out.reset_index(drop=True)


def make_visits(grids, addresses, persons_of_concern, staff, until, rng) -> pd.DataFrame:
    """Visits to persons of concern (by their risk colour's interval; some missed) and to addresses."""
    poc = persons_of_concern
    interval = poc.visit_interval_days.to_numpy().astype(float)
    missed = rng.random(len(poc)) < 0.08
    offset = np.where(
        missed, interval * rng.uniform(1.3, 3.0, len(poc)), interval * rng.uniform(0, 0.8, len(poc))
    )
    k = np.maximum(1, (365 - offset) // (interval * 0.85)).astype(int)
    owner = np.repeat(np.arange(len(poc)), k)
    j = np.arange(len(owner)) - np.repeat(np.cumsum(k) - k, k)
    # consecutive visits a little under the interval apart, going back from the latest one
    gap = interval[owner] * rng.uniform(0.7, 0.95, len(owner))
    gap[j == 0] = 0.0
    cum = np.cumsum(gap)
    back = offset[owner] + cum - (cum - gap)[j == 0][owner]
    poc_when = until - pd.to_timedelta(back, unit="D")
    workers = staff[staff.role == "专职网格员"].drop_duplicates("unit_code").set_index("unit_code").staff_id
    heads = staff[staff.role == "网格长"].drop_duplicates("unit_code").set_index("unit_code").staff_id
    poc_staff = np.where(
        rng.random(len(owner)) < 0.5,
        poc.officer_id.to_numpy()[owner],
        pd.Series(poc.grid_code.to_numpy()[owner]).map(workers).to_numpy(),
    )
    # address visits over the last 90 days; a few grids visit far less
    comp = grids.grid_type == "综合"
    p_grid = np.where(rng.random(len(grids)) < 0.05, 0.45, rng.uniform(0.85, 0.99, len(grids)))
    p_grid = pd.Series(np.where(comp, p_grid, 0.5), index=grids.grid_code)
    visited = rng.random(len(addresses)) < p_grid.reindex(addresses.grid_code).to_numpy()
    recent_new = addresses.created_at.to_numpy() > (until - pd.Timedelta(days=60)).to_datetime64()
    visited &= ~(recent_new & (rng.random(len(addresses)) < 0.5))
    va = addresses[visited]
    a_when = until - pd.to_timedelta(rng.uniform(0, 90, len(va)), unit="D")
    a_when = np.maximum(a_when.to_numpy(), va.created_at.to_numpy())
    a_staff = va.grid_code.map(workers).fillna(va.grid_code.map(heads)).to_numpy()
    poc_target = poc.poc_id.to_numpy()[owner]
    visits = pd.DataFrame(
        {
            "staff_id": np.concatenate([poc_staff, a_staff]),
            "target_kind": np.concatenate(
                [np.full(len(owner), "person_of_concern"), np.full(len(va), "address")]
            ),
            "target_id": np.concatenate([poc_target, va.address_id.to_numpy()]),
            "visited_at": np.concatenate([poc_when.to_numpy(), a_when]),
            "grid_code": np.concatenate([poc.grid_code.to_numpy()[owner], va.grid_code.to_numpy()]),
        }
    )
    visits = (
        visits.dropna(subset=["staff_id"]).sort_values("visited_at", kind="stable").reset_index(drop=True)
    )
    visits.insert(
        0, "visit_id", np.char.add("V", np.char.zfill(np.arange(1, len(visits) + 1).astype(str), 10))
    )
    return visits


def make_patrols(districts, until, rng, days: int = 28, fixes: int = 20) -> gpd.GeoDataFrame:
    """GPS fixes every 3 minutes along officers' foot patrols in their 警格 over the last ``days`` days."""
    d = districts[districts.officer_id.notna()].reset_index(drop=True)
    n_tracks = len(d) * days
    di = np.repeat(np.arange(len(d)), days)
    day = np.tile(np.arange(days), len(d))
    keep = rng.random(n_tracks) < 0.8
    di, day = di[keep], day[keep]
    start_xy = sample_points_in(d.geometry.values, di, rng)
    hour = rng.choice([9, 10, 14, 15, 19, 20, 21], len(di))
    t0 = (until.normalize() - pd.to_timedelta(day + 1, unit="D")).to_numpy() + (hour * 3600).astype(
        "timedelta64[s]"
    )
    heading = rng.uniform(0, 2 * np.pi, len(di))
    turns = rng.normal(0, 0.6, (len(di), fixes)).cumsum(1) + heading[:, None]
    step = rng.uniform(100, 200, (len(di), fixes))
    step[:, 0] = 0
    dx, dy = _metres_to_deg(step * np.cos(turns), step * np.sin(turns), start_xy[:, 1:2])
    x = (start_xy[:, 0:1] + dx.cumsum(1)).ravel()
    y = (start_xy[:, 1:2] + dy.cumsum(1)).ravel()
    track = np.repeat(np.arange(len(di)), fixes)
    when = np.repeat(t0, fixes) + np.tile(np.arange(fixes) * 180, len(di)).astype("timedelta64[s]")
    out = gpd.GeoDataFrame(
        {
            "fix_id": np.char.add("F", np.char.zfill(np.arange(1, len(x) + 1).astype(str), 10)),
            "track_id": np.char.add("T", np.char.zfill(track.astype(str), 8)),
            "staff_id": d.officer_id.to_numpy()[di][track],
            "recorded_at": when,
        },
        geometry=gpd.points_from_xy(x, y),
        crs=4326,
    )
    return out


def make_cameras(grids, incidents, until, rng) -> gpd.GeoDataFrame:
    """Cameras: most near busy places (sampled from incident locations), the rest spread over town grids."""
    n = len(grids) * 2
    n_hot = int(n * 0.6)
    src = incidents.geometry.iloc[rng.integers(0, len(incidents), n_hot)]
    dx, dy = _metres_to_deg(rng.normal(0, 60, n_hot), rng.normal(0, 60, n_hot), src.y.to_numpy())
    hx, hy = src.x.to_numpy() + dx, src.y.to_numpy() + dy
    urban = np.flatnonzero(grids.urban.to_numpy())
    owner = rng.choice(urban if len(urban) else np.arange(len(grids)), n - n_hot)
    xy = sample_points_in(grids.geometry.values, owner, rng)
    x = np.concatenate([hx, xy[:, 0]])
    y = np.concatenate([hy, xy[:, 1]])
    return gpd.GeoDataFrame(
        {
            "camera_id": np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), 8)),
            "camera_kind": rng.choice(
                ["治安监控", "人脸识别", "车辆卡口", "高空瞭望"], n, p=[0.7, 0.15, 0.12, 0.03]
            ),
            "range_m": rng.uniform(30, 80, n).round(1),
            "online": rng.random(n) < 0.95,
            "installed_at": (
                until.normalize() - pd.to_timedelta(rng.integers(30, 3000, n), unit="D")
            ).to_numpy(),
        },
        geometry=gpd.points_from_xy(x, y),
        crs=4326,
    )


def make_work_orders(incidents, grids, until, rng, days: int = 180) -> pd.DataFrame:
    """Non-police incidents of the last ``days`` days diverted to their grid (非警务警情分流)."""
    since = (until - pd.Timedelta(days=days)).to_datetime64()
    src = incidents[
        (incidents.category == "非警务") & (incidents.occurred_at >= since) & incidents.grid_code.notna()
    ]
    n = len(src)
    created = src.occurred_at.to_numpy() + np.timedelta64(10, "m")
    severity = rng.choice(["低", "中", "高"], n, p=[0.7, 0.25, 0.05])
    hours = pd.Series(severity).map({"低": 72, "中": 24, "高": 4}).to_numpy()
    deadline = created + (hours * 3600).astype("timedelta64[s]")
    age_h = (until.to_datetime64() - created) / np.timedelta64(1, "h")
    took_h = rng.lognormal(np.log(hours * 0.4), 0.6)
    done = took_h < age_h
    closed_at = np.where(done, created + (took_h * 3600).astype("timedelta64[s]"), np.datetime64("NaT"))
    open_state = rng.choice(["待签收", "已签收", "处置中", "已反馈"], n, p=[0.2, 0.2, 0.4, 0.2])
    state = np.where(
        done, "已办结", np.where(age_h > hours, rng.choice(["超期", "升级"], n, p=[0.8, 0.2]), open_state)
    )
    return pd.DataFrame(
        {
            "order_id": np.char.add("W", np.char.zfill(np.arange(1, n + 1).astype(str), 9)),
            "kind": "非警务分流",
            "source_id": src.incident_id.to_numpy(),
            "grid_code": src.grid_code.to_numpy(),
            "district_code": src.grid_code.map(grids.set_index("grid_code").district_code).to_numpy(),
            "state": state,
            "severity": severity,
            "created_at": created,
            "deadline": deadline,
            "closed_at": closed_at,
            "summary": "非警务警情分流至网格处置（" + src.incident_id.to_numpy() + "）",
        }
    )
