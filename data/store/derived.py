"""Tables derived from the layers (派生数据), rebuilt after every load: the unit tables, the grid of each
camera and patrol fix, the incident counts per unit × day × category (with hours of day) and the base
figures per grid. The dashboard's drill-downs read these instead of millions of raw rows.

``incident_counts`` holds grids, townships, counties, the city, stations and bureaus, each level summed
from one below it; villages and 警格 (10–20 grids each) are summed from their grid rows when asked, and
incidents outside every known grid are kept under the level ``outside``.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from data.store import tables as T
from data.store.base import OUTSIDE, Store, _records
from geo.units import LEVEL_COLUMN, grid_units, unit_table

#: Roll-up order of ``incident_counts``: each level is summed from a level below it. Villages and 警格
#: (10–20 grids each) are not stored: their few grid rows are summed when asked, which halves the table.
ROLLUP_STEPS = (
    ("grid", "township"),
    ("township", "county"),
    ("county", "city"),
    ("grid", "station"),
    ("station", "bureau"),
)


def refresh(store: Store) -> dict[str, float]:
    """Rebuild everything derived from the layers: unit tables, the grid of cameras and patrol fixes,
    ``incident_counts`` and ``grid_figures``; then update the planner statistics.

    Returns
    -------
    dict
        Seconds per step.
    """
    timings: dict[str, float] = {}

    def step(name, fn, conn):
        t0 = pd.Timestamp.now()
        fn(conn)
        timings[name] = (pd.Timestamp.now() - t0).total_seconds()

    with store.begin() as conn:
        store._tune_maintenance(conn)
        step("analyze_layers", lambda c: store._analyze(c, list(T.LAYER_TABLES)), conn)
        step("units", lambda c: refresh_units(store, c), conn)
        for layer in T.DERIVED_GRID_CODE:
            if grids_newer(store, conn, layer):
                step(f"grid_of_{layer}", lambda c, layer=layer: store._assign_grids(c, layer), conn)
        step("incident_counts", lambda c: refresh_incident_counts(store, c), conn)
        step("grid_figures", lambda c: refresh_grid_figures(store, c), conn)
    with store.begin() as conn:
        derived = ["units", "grid_units", "incident_counts", "grid_figures", *T.DERIVED_GRID_CODE]
        step("analyze", lambda c: store._analyze(c, derived), conn)
    return timings


def grids_newer(store: Store, conn: sa.Connection, layer: str) -> bool:
    """True when the grids were loaded after ``layer``, whose points got their grid when loaded."""
    ll = T.layer_loads
    when = dict(
        conn.execute(sa.select(ll.c.layer, ll.c.loaded_at).where(ll.c.layer.in_(["grids", layer]))).all()
    )
    if layer not in when:
        return True
    return "grids" in when and when["grids"] >= when[layer]


def refresh_units(store: Store, conn: sa.Connection) -> None:
    """Rebuild ``grid_units`` and ``units`` from the grids, 警格 and both unit layers (:mod:`geo.units`)."""
    lt = T.LAYER_TABLES
    grids = store._frame(conn, sa.select(*[c for c in lt["grids"].c if c.name != "geometry"]))
    binding = store._frame(conn, sa.select(lt["grid_district"]))
    if len(binding):
        bound = grids.grid_code.map(binding.set_index("grid_code").district_code)
        grids["district_code"] = grids["district_code"].where(grids["district_code"].notna(), bound)
    districts = store._frame(conn, sa.select(*[c for c in lt["districts"].c if c.name != "geometry"]))
    admin = store._frame(conn, sa.select(*[c for c in lt["admin_units"].c if c.name != "geometry"]))
    police = store._frame(conn, sa.select(*[c for c in lt["police_units"].c if c.name != "geometry"]))
    gu = grid_units(grids, districts)
    units = unit_table(admin, police, grids).drop_duplicates(["level", "unit_code"])
    store._empty(conn, T.grid_units)
    store._empty(conn, T.units)
    if len(gu):
        conn.execute(sa.insert(T.grid_units), _records(gu))
    if len(units):
        conn.execute(sa.insert(T.units), _records(units))


def refresh_incident_counts(store: Store, conn: sa.Connection) -> None:
    """Rebuild ``incident_counts`` from the incidents."""
    with store._rebuilding(conn, T.incident_counts):
        fill_incident_counts(store, conn)


def fill_incident_counts(store: Store, conn: sa.Connection) -> None:
    """Fill an empty ``incident_counts``: grid rows, ``outside`` rows, then every rolled-up level."""
    ic, gu, inc = T.incident_counts, T.grid_units, T.LAYER_TABLES["incidents"]
    day = store._day(inc.c.occurred_at)
    hour = store._hour(inc.c.occurred_at)
    valid = sa.case((inc.c.valid.is_(sa.false()), 0), else_=1)
    base = (
        sa.select(
            sa.literal("grid").label("level"),
            inc.c.grid_code,
            day.label("day"),
            inc.c.category,
            sa.func.count().label("n"),
            sa.func.sum(valid).label("n_valid"),
            *(sa.func.sum(sa.case((hour == h, 1), else_=0)).label(name) for h, name in enumerate(T.HOURS)),
        )
        .select_from(inc.join(gu, gu.c.grid_code == inc.c.grid_code))
        .group_by(inc.c.grid_code, day, inc.c.category)
    )
    cols = ["level", "unit_code", "day", "category", "n", "n_valid", *T.HOURS]
    conn.execute(sa.insert(ic).from_select(cols, store._key_ordered(base, ic)))
    # incidents outside every known grid (none given, or a code of no grid): level "outside"
    outside = (
        sa.select(
            sa.literal(OUTSIDE).label("level"),
            sa.literal("").label("unit_code"),
            day.label("day"),
            inc.c.category,
            sa.func.count().label("n"),
            sa.func.sum(valid).label("n_valid"),
            *(sa.func.sum(sa.case((hour == h, 1), else_=0)).label(name) for h, name in enumerate(T.HOURS)),
        )
        .select_from(inc.outerjoin(gu, gu.c.grid_code == inc.c.grid_code))
        .where(gu.c.grid_code.is_(None))
        .group_by(day, inc.c.category)
    )
    conn.execute(sa.insert(ic).from_select(cols, store._key_ordered(outside, ic)))
    # each level from one below it (fewer rows to read than the grid level): child → parent codes come
    # from grid_units, where every child has exactly one parent
    for child, parent in ROLLUP_STEPS:
        ccol, pcol = gu.c[LEVEL_COLUMN[child]], gu.c[LEVEL_COLUMN[parent]]
        link = (
            sa.select(ccol.label("child"), pcol.label("parent"))
            .where(pcol.is_not(None))
            .distinct()
            .subquery()
        )
        up = (
            sa.select(
                sa.literal(parent).label("level"),
                link.c.parent,
                ic.c.day,
                ic.c.category,
                *(sa.func.sum(ic.c[name]) for name in ("n", "n_valid", *T.HOURS)),
            )
            .select_from(ic.join(link, link.c.child == ic.c.unit_code))
            .where(ic.c.level == child)
            .group_by(link.c.parent, ic.c.day, ic.c.category)
        )
        conn.execute(sa.insert(ic).from_select(cols, store._key_ordered(up, ic)))


def refresh_grid_figures(store: Store, conn: sa.Connection) -> None:
    """Rebuild ``grid_figures``: one row of base figures per grid."""
    lt, gf = T.LAYER_TABLES, T.grid_figures
    g = lt["grids"]

    def n_true(col):
        return sa.func.sum(sa.case((col.is_(sa.true()), 1), else_=0))

    def per_grid(tbl, grid_col, *aggs, where=()):
        return sa.select(grid_col.label("grid_code"), *aggs).where(*where).group_by(grid_col).subquery()

    pop = lt["population"]
    p = per_grid(
        pop,
        pop.c.grid_code,
        sa.func.count().label("persons"),
        n_true(pop.c.registered).label("registered"),
        n_true(pop.c.verified).label("verified"),
        sa.func.sum(sa.case((pop.c.resident_kind == "流动", 1), else_=0)).label("floating"),
    )
    a = per_grid(lt["addresses"], lt["addresses"].c.grid_code, sa.func.count().label("addresses"))
    poc_t = lt["persons_of_concern"]
    poc = per_grid(poc_t, poc_t.c.grid_code, sa.func.count().label("persons_of_concern"))
    cam_t = lt["cameras"]
    cam = per_grid(
        cam_t,
        cam_t.c.grid_code,
        sa.func.count().label("cameras"),
        n_true(cam_t.c.online).label("cameras_online"),
    )
    st = lt["staff"]
    active = sa.func.coalesce(st.c.active, sa.true()).is_(sa.true())
    staff = per_grid(
        st,
        st.c.unit_code,
        sa.func.sum(sa.case((sa.and_(st.c.role == "专职网格员", active), 1), else_=0)).label("full_time"),
        sa.func.sum(sa.case((sa.and_(st.c.role == "兼职网格员", active), 1), else_=0)).label("part_time"),
    )
    hz_t = lt["hazards"]
    hz = per_grid(
        hz_t,
        hz_t.c.grid_code,
        sa.func.count().label("hazards_open"),
        where=[hz_t.c.rectified_at.is_(None)],
    )
    dp_t = lt["disputes"]
    dp = per_grid(
        dp_t,
        dp_t.c.grid_code,
        sa.func.count().label("disputes_open"),
        where=[dp_t.c.status.in_(("待调解", "调解中", "已上报"))],
    )

    def z(col):
        return sa.func.coalesce(col, 0)

    # grid layer figures win when given; counted staff fill in when the grid layer has none
    stmt = (
        sa.select(
            g.c.grid_code,
            g.c.grid_type,
            z(g.c.households),
            z(g.c.population),
            z(p.c.persons),
            z(p.c.registered),
            z(p.c.verified),
            z(p.c.floating),
            z(a.c.addresses),
            z(poc.c.persons_of_concern),
            z(cam.c.cameras),
            z(cam.c.cameras_online),
            sa.func.coalesce(g.c.full_time_workers, staff.c.full_time, 0),
            sa.func.coalesce(g.c.part_time_workers, staff.c.part_time, 0),
            z(hz.c.hazards_open),
            z(dp.c.disputes_open),
        )
        .select_from(g)
        .outerjoin(p, p.c.grid_code == g.c.grid_code)
        .outerjoin(a, a.c.grid_code == g.c.grid_code)
        .outerjoin(poc, poc.c.grid_code == g.c.grid_code)
        .outerjoin(cam, cam.c.grid_code == g.c.grid_code)
        .outerjoin(staff, staff.c.grid_code == g.c.grid_code)
        .outerjoin(hz, hz.c.grid_code == g.c.grid_code)
        .outerjoin(dp, dp.c.grid_code == g.c.grid_code)
    )
    store._empty(conn, gf)
    conn.execute(sa.insert(gf).from_select(["grid_code", "grid_type", *T.GRID_FIGURES], stmt))
