"""Tests for geo.coverage: each function on a crafted case whose answer is known by hand (squares and
points drawn in EPSG:4549, converted to lon/lat), plus a smoke run on the tiny demo city."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import Polygon, box

from geo import coverage as cv
from geo.heat import h3_aggregate, h3_polygons
from geo.units import grid_units

GK = 4549
X0, Y0 = Transformer.from_crs(4326, GK, always_xy=True).transform(120.9, 32.0)
TO_LONLAT = Transformer.from_crs(GK, 4326, always_xy=True)
SIDE = 200.0
VILLAGE_A, VILLAGE_B = "320612001001", "320612001002"
STATION = "320612000001"
D1, D2 = STATION + "01", STATION + "02"


def square(i: int, j: int, grow_left: float = 0.0) -> Polygon:
    return box(X0 + i * SIDE - grow_left, Y0 + j * SIDE, X0 + (i + 1) * SIDE, Y0 + (j + 1) * SIDE)


def grid_code(k: int) -> str:
    return f"{VILLAGE_A if k <= 6 else VILLAGE_B}{k:03d}"


def make_grids(cells: dict[int, Polygon], **columns) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {"grid_code": [grid_code(k) for k in cells]}, geometry=list(cells.values()), crs=GK
    )
    return frame.assign(**columns).to_crs(4326)


def tiling_3x3() -> dict[int, Polygon]:
    """Squares 1..9 row by row; 警格 D1 = columns 0-1, D2 = column 2."""
    return {3 * j + i + 1: square(i, j) for j in range(3) for i in range(3)}


def points_at(xy, **columns) -> gpd.GeoDataFrame:
    x = np.array([p[0] for p in xy], float) + X0
    y = np.array([p[1] for p in xy], float) + Y0
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=GK).assign(**columns).to_crs(4326)


def districts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"district_code": [D1, D2], "station_code": STATION},
        geometry=[
            box(X0, Y0, X0 + 2 * SIDE, Y0 + 3 * SIDE),
            box(X0 + 2 * SIDE, Y0, X0 + 3 * SIDE, Y0 + 3 * SIDE),
        ],
        crs=GK,
    ).to_crs(4326)


# --- gini ------------------------------------------------------------------------------------------


def test_gini_by_hand():
    assert cv.gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert cv.gini([0, 0, 0, 1]) == pytest.approx(0.75)
    assert cv.gini([200, 300]) == pytest.approx(0.1)
    assert np.isnan(cv.gini([]))


# --- tiling --------------------------------------------------------------------------------------


def test_tiling_measures_a_hole_and_an_overlap():
    cells = tiling_3x3()
    del cells[5]  # the centre: a 40,000 m² hole
    cells[9] = square(2, 2, grow_left=20)  # 20 m into square 8: 4,000 m² of overlap
    frame, summary = cv.tiling(make_grids(cells))
    assert summary["gaps"] == 1 and summary["overlaps"] == 1
    assert summary["gap_m2"] == pytest.approx(40_000, abs=1)
    assert summary["overlap_m2"] == pytest.approx(4_000, abs=1)
    assert summary["grid_area_m2"] == pytest.approx(8 * 40_000 + 4_000, abs=1)
    assert summary["jurisdiction_area_m2"] == pytest.approx(9 * 40_000, abs=2)
    assert summary["gap_share"] == pytest.approx(1 / 9, rel=1e-4)
    assert summary["slivers"] == 0
    assert frame.kind.tolist() == ["gap", "overlap"]  # largest first
    assert sorted(frame.grid_codes[1]) == [grid_code(8), grid_code(9)]


def test_tiling_against_a_jurisdiction_and_slivers():
    cells = tiling_3x3()
    cells[9] = square(2, 2, grow_left=0.5)  # 100 m², 0.5 m wide: a sliver
    jur = gpd.GeoSeries([box(X0, Y0, X0 + 3 * SIDE, Y0 + 4 * SIDE)], crs=GK).to_crs(4326)
    frame, summary = cv.tiling(make_grids(cells), jurisdiction=jur)
    assert summary["gap_m2"] == pytest.approx(3 * 40_000, abs=2)  # the row above the grids
    assert summary["jurisdiction_area_m2"] == pytest.approx(12 * 40_000, abs=2)
    assert summary["slivers"] == 1 and summary["sliver_m2"] == pytest.approx(100, abs=0.5)
    assert frame.loc[frame.kind == "overlap", "sliver"].tolist() == [True]


# --- binding -------------------------------------------------------------------------------------


def test_binding_composition_and_problems():
    cells = tiling_3x3()
    bound = {k: D1 if (k - 1) % 3 < 2 else D2 for k in cells}
    bound[1] = ""  # unbound
    bound[9] = D1  # column 2 bound to D1: entirely outside its polygon
    grids = make_grids(
        cells,
        district_code=[bound[k] for k in cells],
        grid_type=["综合"] * 8 + ["专属"],
        households=[100] * 9,
    )
    frame, summary = cv.binding(grids, districts())
    assert summary["grids"] == 9
    assert summary["unbound"] == 1 and summary["bound_once"] == 8
    assert summary["outside_district"] == 1
    probs = summary["problems"].set_index("rule")
    assert probs.loc["unbound_grid", "grid_code"] == grid_code(1)
    assert probs.loc["grid_outside_district", "grid_code"] == grid_code(9)
    assert probs.loc["grid_outside_district", "area_m2"] == pytest.approx(40_000, rel=1e-6)
    rows = frame.set_index("district_code")
    # D1: squares 2, 4, 5, 7, 8 and the misbound 9; D2: 3, 6
    assert rows.loc[D1, "grids"] == 6 and rows.loc[D2, "grids"] == 2
    assert rows.loc[D1, "villages"] == 2 and rows.loc[D2, "villages"] == 1
    assert rows.loc[D1, "dedicated"] == 1 and rows.loc[D1, "comprehensive"] == 5
    assert rows.loc[D1, "households"] == 600 and rows.loc[D1, "grids_outside"] == 1
    assert summary["one_to_many"] == 2 and summary["districts_without_grids"] == []


def test_binding_table_is_authoritative():
    cells = {1: square(0, 0), 2: square(1, 0)}
    grids = make_grids(cells)
    table = pd.DataFrame(
        {"grid_code": [grid_code(1), grid_code(2), grid_code(2)], "district_code": [D1, D1, D2]}
    )
    frame, summary = cv.binding(grids, districts(), table)
    assert summary["unbound"] == 1  # grid 2 is in two 警格
    assert "2 警格" in summary["problems"].detail.iloc[0]
    assert frame.set_index("district_code").loc[D2, "grids"] == 1


# --- staffing ------------------------------------------------------------------------------------


def test_staffing_by_hand():
    grids = pd.DataFrame(
        {
            "grid_code": ["G1", "G2", "G3", "G4"],
            "grid_type": ["综合", "综合", "专属", "综合"],
            "district_code": [D1, D1, D1, D2],
            "households": [300, 200, 0, 100],
        }
    )
    staff = pd.DataFrame(
        {
            "staff_id": ["W1", "W2", "W3", "W4", "W5", "J1", "J2"],
            "role": [
                "专职网格员",
                "专职网格员",
                "兼职网格员",
                "兼职网格员",
                "专职网格员",
                "社区民警",
                "社区民警",
            ],
            "unit_code": ["G1", "G2", "G1", "G1", "G4", D1, D2],
            "active": [True, False, True, True, True, True, False],
        }
    )
    frame, summary = cv.staffing(grids, staff, pd.DataFrame({"district_code": [D1, D2]}))
    rows = frame.set_index("grid_code")
    assert rows.loc["G1", "full_time_workers"] == 1 and rows.loc["G1", "part_time_workers"] == 2
    assert rows.loc["G2", "full_time_workers"] == 0  # their worker is not on duty
    assert np.isnan(rows.loc["G2", "households_per_full_time"])
    assert summary["grids_without_full_time"] == ["G2"]  # the dedicated grid G3 is counted apart
    assert summary["dedicated_without_full_time"] == 1
    assert summary["districts_without_officer"] == [D2]
    assert rows.loc["G1", "officer_id"] == "J1" and rows.loc["G1", "officer_households"] == 500
    assert rows.loc["G1", "officer_grids"] == 3
    assert pd.isna(rows.loc["G4", "officer_id"])
    assert summary["households_per_full_time"] == pytest.approx((300 + 100) / 2)
    assert summary["households_per_officer"] == pytest.approx(500)
    assert summary["gini_grid_households"] == pytest.approx(cv.gini([300, 200, 100]))
    assert summary["gini_officer_households"] == pytest.approx(0.0)


# --- visits --------------------------------------------------------------------------------------

END = pd.Timestamp("2026-10-31")
START = pd.Timestamp("2026-08-01")


def test_visit_coverage_households_and_persons_of_concern():
    g1, g2 = VILLAGE_A + "001", VILLAGE_B + "001"
    addresses = pd.DataFrame(
        {
            "address_id": ["A1", "A2", "A3", "A4", "A5", "A6"],
            "grid_code": [g1, g1, g1, g1, g2, g2],
            "households": [1, 1, 1, 1, 3, 1],
            "created_at": pd.to_datetime(["2020-01-01"] * 5 + ["2026-11-05"]),  # A6: after the end
        }
    )
    persons = pd.DataFrame(
        {
            "poc_id": ["P_red", "P_orange", "P_yellow", "P_green"],
            "grid_code": [g1, g1, g2, g2],
            "risk_colour": ["红", "橙", "黄", "绿"],
            "visit_interval_days": [7, 15, 30, 90],
            "listed_at": END - pd.to_timedelta([400, 400, 10, 100], unit="D"),
        }
    )
    visit_rows = [
        ("address", "A1", START + pd.Timedelta(days=1)),
        ("address", "A2", START + pd.Timedelta(days=30)),
        ("address", "A3", END - pd.Timedelta(hours=1)),
        ("address", "A4", START - pd.Timedelta(days=1)),  # before the period
        ("address", "A5", START),  # the period's first instant counts
        ("address", "A2", END),  # the end is excluded (and A2 is already visited)
        ("person_of_concern", "P_red", END - pd.Timedelta(days=5)),
        ("person_of_concern", "P_orange", END - pd.Timedelta(days=20)),
        ("person_of_concern", "P_orange", END + pd.Timedelta(days=1)),  # after "as of": ignored
    ]
    visits = pd.DataFrame(visit_rows, columns=["target_kind", "target_id", "visited_at"])
    frame, summary = cv.visit_coverage(visits, addresses, persons, START, END)
    rows = frame.set_index("unit_code")
    assert rows.loc[g1, "household_share"] == pytest.approx(0.75)  # 3 of 4 households
    assert rows.loc[g2, "household_share"] == pytest.approx(1.0)  # A6 is not there yet
    assert summary["household_share"] == pytest.approx(6 / 7)
    assert summary["poc_on_time"] == 1 and summary["poc_overdue"] == 2 and summary["poc_not_yet_due"] == 1
    assert summary["poc_share"] == pytest.approx(1 / 3)
    overdue = summary["overdue"].set_index("poc_id")
    assert list(overdue.index) == ["P_green", "P_orange"]  # most overdue first
    assert overdue.loc["P_orange", "days_overdue"] == 5  # visited 20 days ago, due every 15
    assert overdue.loc["P_green", "days_overdue"] == 10  # never visited, listed 100 days ago, due 90
    assert summary["overdue_by_colour"] == {"橙": 1, "绿": 1}
    assert rows.loc[g1, "poc_overdue"] == 1 and rows.loc[g2, "poc_not_yet_due"] == 1
    by_village, _ = cv.visit_coverage(visits, addresses, persons, START, END, by="village")
    assert by_village.set_index("unit_code").loc[VILLAGE_A, "households_visited"] == 3


def test_visit_coverage_by_police_unit_needs_units():
    addresses = pd.DataFrame({"address_id": ["A1"], "grid_code": [grid_code(1)], "households": [2]})
    persons = pd.DataFrame({"poc_id": [], "grid_code": [], "visit_interval_days": []})
    visits = pd.DataFrame({"target_kind": ["address"], "target_id": ["A1"], "visited_at": [START]})
    with pytest.raises(ValueError, match="units"):
        cv.visit_coverage(visits, addresses, persons, START, END, by="district")
    units = grid_units(pd.DataFrame({"grid_code": [grid_code(1)], "district_code": [D1]}))
    frame, _ = cv.visit_coverage(visits, addresses, persons, START, END, by="district", units=units)
    assert frame.unit_code.tolist() == [D1] and frame.household_share.tolist() == [1.0]


# --- patrols -------------------------------------------------------------------------------------


def cell_at(dx: float, dy: float) -> str:
    lon, lat = TO_LONLAT.transform(X0 + dx, Y0 + dy)
    return h3.latlng_to_cell(lat, lon, 8)


def test_peak_window_is_circular_and_breaks_ties_early():
    hourly = np.zeros(24)
    hourly[[22, 23, 0, 1]] = 5
    assert cv.peak_window(hourly, 4).tolist() == [22]
    assert cv.peak_window(np.ones(24), 3).tolist() == [0]


def test_patrol_coverage_counts_fixes_in_each_cells_own_peak_hours():
    far = 5000.0  # a second hotspot 5 km east
    hot_a, hot_b = cell_at(0, 0), cell_at(far, 0)
    assert hot_a != hot_b
    evening = pd.to_datetime([f"2026-10-0{d} {h}:10" for d in (1, 2, 3, 4, 5) for h in (19, 20, 21, 22)])
    morning = pd.to_datetime([f"2026-10-0{d} {h:02d}:10" for d in (1, 2, 3) for h in (9, 10, 11, 12)])
    events = points_at([(0, 0)] * len(evening) + [(far, 0)] * len(morning)).assign(
        occurred_at=evening.append(morning)
    )
    fixes = points_at([(5, 5), (far + 5, 5), (10, 0), (2000, 2000)]).assign(
        recorded_at=pd.to_datetime(
            ["2026-10-20 21:30", "2026-10-20 20:00", "2026-10-21 08:00", "2026-10-20 21:00"]
        ),
        track_id=["T1", "T2", "T3", "T4"],
    )
    frame, summary = cv.patrol_coverage(fixes, [hot_a, hot_b], events)
    rows = frame.set_index("h3")
    assert rows.loc[hot_a, "peak_hours"] == (19, 20, 21, 22)
    assert rows.loc[hot_b, "peak_hours"] == (9, 10, 11, 12)
    assert bool(rows.loc[hot_a, "covered"]) and not bool(rows.loc[hot_b, "covered"])
    assert rows.loc[hot_a, "fixes"] == 2 and rows.loc[hot_a, "fixes_in_peak"] == 1
    assert rows.loc[hot_a, "last_covered_at"] == pd.Timestamp("2026-10-20 21:30")
    assert summary["share"] == pytest.approx(0.5)
    assert summary["fixes_in_hotspots"] == 3
    # fixed peak hours: 20:00 is a peak hour for both cells now
    _, fixed = cv.patrol_coverage(fixes, [hot_a, hot_b], events, peak_hours=[20])
    assert fixed["covered"] == 1 and fixed["share"] == pytest.approx(0.5)  # 21:30 no longer counts
    per_cell = {hot_a: [8], hot_b: [20]}
    _, mapped = cv.patrol_coverage(fixes, [hot_a, hot_b], events, peak_hours=per_cell)
    assert mapped["covered"] == 2
    with pytest.raises(ValueError, match="resolution"):
        cv.patrol_coverage(fixes, [h3.cell_to_parent(hot_a, 7)], events)


# --- cameras -------------------------------------------------------------------------------------


def cameras_at(xy, ranges, online=None) -> gpd.GeoDataFrame:
    n = len(xy)
    return points_at(xy).assign(
        camera_id=[f"C{k}" for k in range(n)],
        range_m=ranges,
        online=online if online is not None else [True] * n,
    )


@pytest.mark.parametrize(("range_m", "covered"), [(60.0, 1), (40.0, 0)])
def test_a_camera_50_m_away_covers_an_incident_within_its_range(range_m, covered):
    incidents = points_at([(50, 0)], category=["治安"])
    frame, summary = cv.camera_coverage(cameras_at([(0, 0)], [range_m]), incidents)
    assert summary["incidents_covered"] == covered
    assert frame.incidents_in_range.tolist() == [covered]
    assert summary["share_by"] == {"治安": float(covered)}


def test_offline_cameras_do_not_count_and_a_farther_wider_camera_does():
    incidents = points_at([(50, 0)])
    offline = cameras_at([(0, 0)], [100.0], online=[False])
    assert cv.camera_coverage(offline, incidents)[1]["incidents_covered"] == 0
    # nine near cameras of 10 m cannot see it; the tenth, 90 m off with a 100 m range, can
    near = [(50 + 15 * np.cos(a), 15 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 9, endpoint=False)]
    cams = cameras_at([*near, (140, 0)], [10.0] * 9 + [100.0])
    assert cv.camera_coverage(cams, incidents)[1]["incidents_covered"] == 1


def test_covered_by_discs_equals_brute_force():
    rng = np.random.default_rng(11)
    px, py = rng.uniform(0, 500, 3000), rng.uniform(0, 500, 3000)
    cx, cy = rng.uniform(0, 500, 400), rng.uniform(0, 500, 400)
    r = rng.uniform(5, 60, 400)
    fast = cv._covered_by_discs(px, py, cx, cy, r, chunk=700)
    d = np.hypot(px[:, None] - cx[None, :], py[:, None] - cy[None, :])
    np.testing.assert_array_equal(fast, (d <= r[None, :]).any(axis=1))


def test_camera_share_of_hotspot_area():
    area = gpd.GeoSeries([box(X0, Y0, X0 + 200, Y0 + 200)], crs=GK).to_crs(4326)
    cams = cameras_at([(100, 100), (1000, 1000)], [50.0, 50.0])
    _, summary = cv.camera_coverage(cams, points_at([(0, 0)]), hotspot_area=area)
    assert summary["hotspot_m2"] == pytest.approx(40_000, rel=1e-6)
    assert summary["hotspot_covered_m2"] == pytest.approx(np.pi * 50**2, rel=0.002)
    assert summary["hotspot_share"] == pytest.approx(np.pi * 2500 / 40_000, rel=0.002)


# --- stations ------------------------------------------------------------------------------------


def test_station_access_population_and_area_by_hand():
    station = points_at([(0, 0)])
    addresses = points_at([(500, 0), (0, 2000), (-4000, 0), (10_000, 0)], households=[10, 10, 20, 60])
    grid = make_grids({1: box(X0 - 1000, Y0 - 1000, X0 + 1000, Y0 + 1000)})
    frame, summary = cv.station_access(station, addresses, grid, km=(1, 3, 5))
    rows = frame.set_index("km")
    assert rows.population_share.tolist() == pytest.approx([0.1, 0.2, 0.4])
    assert summary["population"] == pytest.approx(100 * 2.6)
    assert rows.loc[1.0, "area_share"] == pytest.approx(np.pi / 4, rel=0.002)  # the 1 km disc in 2×2 km
    assert rows.loc[3.0, "area_share"] == pytest.approx(1.0)
    assert summary["straight_line"] is True
    assert summary["per_grid"].nearest_station_km.iloc[0] == pytest.approx(0.0, abs=1e-6)


def test_station_access_spreads_a_polygons_population_by_area():
    station = points_at([(0, 0)])
    grid = make_grids({1: box(X0 - 1000, Y0 - 1000, X0 + 1000, Y0 + 1000)}, population=[1000])
    frame, summary = cv.station_access(station, grid, km=(1,))
    assert frame.population.iloc[0] == pytest.approx(1000 * np.pi / 4, rel=0.002)
    assert summary["area_m2"] == pytest.approx(4e6, rel=1e-6)


# --- the demo city -------------------------------------------------------------------------------


def test_demo_coverage_shows_the_planted_defects(tiny_demo):
    def read(name):
        path = tiny_demo / f"{name}.parquet"
        try:
            return gpd.read_parquet(path)
        except ValueError:  # no geometry column
            return pd.read_parquet(path)

    grids, districts_, staff = read("grids"), read("districts"), read("staff")
    _, tiles = cv.tiling(grids)
    assert tiles["gap_share"] < 0.01
    _, bind = cv.binding(grids, districts_, read("grid_district"))
    assert bind["unbound"] == 0 and 1 <= bind["grids_per_district"] <= 50

    _, staffing = cv.staffing(grids, staff, districts_)
    assert len(staffing["grids_without_full_time"]) >= 1  # planted vacancies
    assert 50 <= staffing["households_per_full_time"] <= 600
    assert 0 <= staffing["gini_grid_households"] < 0.5

    _, visits = cv.visit_coverage(
        read("visits"), read("addresses"), read("persons_of_concern"), "2026-08-02", "2026-10-31"
    )
    assert 0.5 < visits["household_share"] < 1.0
    assert visits["poc_overdue"] >= 1 and (visits["overdue"].days_overdue > 0).all()  # planted misses
    assert 0.5 < visits["poc_share"] < 1.0

    incidents = read("incidents")
    hot = h3_aggregate(incidents, 8).h3.head(20)
    patrol, patrols = cv.patrol_coverage(read("patrol_points"), hot, incidents)
    assert len(patrol) == 20 and 0.0 <= patrols["share"] <= 1.0
    _, cams = cv.camera_coverage(read("cameras"), incidents, h3_polygons(hot))
    assert 0.0 < cams["share"] < 1.0 and 0.0 < cams["hotspot_share"] < 1.0
    access, _ = cv.station_access(read("stations"), read("addresses"), grids)
    assert access.population_share.is_monotonic_increasing and access.area_share.is_monotonic_increasing
    assert 0 < access.population_share.iloc[-1] <= 1
