"""Queries for the dashboard and the models, checked against pandas on the same layer files."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from data.schema import INCIDENT_CATEGORIES
from data.store import LEVELS, UnknownUnitError
from geo.units import LEVEL_COLUMN, grid_units

START, END = "2025-03-01", "2025-08-31"


@pytest.fixture(scope="module")
def ref(store_demo):
    """Incidents with every unit code of their grid, and the grid → units table."""
    grids = gpd.read_parquet(store_demo / "grids.parquet")
    gu = grid_units(grids, gpd.read_parquet(store_demo / "districts.parquet"))
    inc = pd.read_parquet(store_demo / "incidents.parquet").merge(gu, on="grid_code")
    inc["day"] = inc.occurred_at.dt.normalize()
    inc["month"] = inc.occurred_at.dt.strftime("%Y-%m")
    inc["hour"] = inc.occurred_at.dt.hour
    inc["weekday"] = (inc.occurred_at.dt.day_of_week + 1) % 7  # SQL: 0 = Sunday
    return inc, gu


def _code(gu, level, i=0):
    return sorted(gu[LEVEL_COLUMN[level]].dropna().unique())[i]


def _expect(inc, by, level=None, code=None, start=START, end=END, cats=None, grids=None):
    sel = inc if level is None else inc[inc[LEVEL_COLUMN[level]] == code]
    if grids is not None:
        sel = sel[sel.grid_code.isin(grids)]
    sel = sel[
        (sel.occurred_at >= pd.Timestamp(start))
        & (sel.occurred_at < pd.Timestamp(end) + pd.Timedelta(days=1))
    ]
    if cats is not None:
        sel = sel[sel.category.isin(cats)]
    return sel.groupby(list(by)).size() if by else pd.Series([len(sel)])


def _got(frame, by):
    nz = frame[frame.n > 0]
    return nz.set_index(list(by)).n if by else frame.n


@pytest.mark.parametrize("level", LEVELS)
def test_counts_by_category_for_a_unit_of_each_level(loaded, ref, level):
    inc, gu = ref
    code = _code(gu, level, 1 if level != "city" else 0)
    got = loaded.aggregate_incidents(code, START, END, by="category")
    assert list(got.category) == list(INCIDENT_CATEGORIES)  # zero rows filled in
    expect = _expect(inc, ["category"], level, code)
    assert expect.sum() > 0
    assert _got(got, ["category"]).sort_index().to_dict() == expect.sort_index().to_dict()
    valid = inc[
        (inc[LEVEL_COLUMN[level]] == code) & inc.valid & inc.occurred_at.between(START, END + " 23:59:59")
    ]
    assert got.n_valid.sum() == len(valid)


@pytest.mark.parametrize(
    "by", [("day",), ("day", "category"), ("month",), ("hour",), ("weekday", "category")]
)
def test_counts_by_time(loaded, ref, by):
    inc, gu = ref
    code = _code(gu, "county")
    cats = ["刑事", "治安", "求助"]
    got = loaded.aggregate_incidents(code, START, END, cats, by=by)
    expect = _expect(inc, by, "county", code, cats=cats)
    assert _got(got, by).sort_index().to_dict() == expect.sort_index().to_dict()
    if by == ("day", "category"):
        assert len(got) == 184 * 3  # every day of the range and every category, zeros included
        assert pd.api.types.is_datetime64_any_dtype(got.day)


@pytest.mark.parametrize(
    ("level", "by"),
    [
        ("city", "county"),
        ("county", "township"),
        ("city", "bureau"),
        ("bureau", "station"),
        ("county", "district"),
        ("township", "grid"),
        ("station", "village"),
    ],
)
def test_counts_by_child_units(loaded, ref, level, by):
    inc, gu = ref
    code = _code(gu, level)
    got = loaded.aggregate_incidents(code, START, END, by=by)
    expect = _expect(inc, [LEVEL_COLUMN[by]], level, code)
    assert _got(got, [by]).sort_index().to_dict() == expect.sort_index().to_dict()
    children = gu.loc[gu[LEVEL_COLUMN[level]] == code, LEVEL_COLUMN[by]].dropna().unique()
    assert set(got[by]) == set(children)  # units without incidents are listed with zero
    assert got.unit_name.notna().all()


def test_scope_limits_every_aggregate(loaded, ref):
    inc, gu = ref
    county = _code(gu, "county")
    district = gu.loc[gu.county_code == county, "district_code"].iloc[0]
    in_both = gu.loc[(gu.county_code == county) & (gu.district_code == district), "grid_code"]
    got = loaded.aggregate_incidents(county, START, END, by="category", scope=district)
    expect = _expect(inc, ["category"], grids=set(in_both))
    assert _got(got, ["category"]).sort_index().to_dict() == expect.sort_index().to_dict()
    # the same through the district's rollup, through an explicit grid list and through the grid path
    same = loaded.aggregate_incidents(None, START, END, by="category", scope=district)
    assert same.n.sum() == _expect(inc, [], "district", district).iloc[0]
    listed = loaded.aggregate_incidents(county, START, END, by="category", scope=list(in_both))
    assert listed.n.sum() == expect.sum()
    by_grid = loaded.aggregate_incidents(county, START, END, by="grid", scope=district)
    assert set(by_grid.grid) == set(in_both)
    # a scope containing the unit changes nothing; no scope sees nothing
    assert (
        loaded.aggregate_incidents(county, START, END, scope=county).n.sum()
        == _expect(inc, [], "county", county).iloc[0]
    )
    assert loaded.aggregate_incidents(county, START, END, by="category", scope=[]).n.sum() == 0
    other = _code(gu, "county", 2)
    assert loaded.aggregate_incidents(county, START, END, by="day", scope=other).n.sum() == 0


def test_scope_limits_records_features_and_figures(loaded, ref):
    _, gu = ref
    district = _code(gu, "district")
    grids = set(gu.loc[gu.district_code == district, "grid_code"])
    page = loaded.records("incidents", scope=district, page_size=10_000)
    assert page.total == len(page.frame) > 0 and set(page.frame.grid_code) <= grids
    assert set(loaded.features("grids", scope=district).grid_code) == grids
    assert set(loaded.grid_figures(scope=district).grid_code) == grids
    assert set(loaded.grids_of(None, scope=district)) == grids
    assert loaded.count("incidents", scope=set()) == 0
    assert set(loaded.read("staff", scope=district, geometry=False).unit_code) <= grids | {district}


def test_records_are_paged_without_overlap(loaded, ref):
    inc, gu = ref
    code = _code(gu, "township")
    filters = {"category": ["刑事", "治安"], "valid": True}
    first = loaded.records("incidents", code, START, END, filters, page=1, page_size=7)
    n = first.total
    expect = inc[
        (inc.township_code == code)
        & inc.category.isin(["刑事", "治安"])
        & inc.valid
        & inc.occurred_at.between(START, END + " 23:59:59")
    ]
    assert n == len(expect) > 7
    seen = []
    for page in range(1, first.pages + 1):
        part = loaded.records("incidents", code, START, END, filters, page=page, page_size=7)
        assert len(part.frame) == (7 if page < first.pages else n - 7 * (first.pages - 1))
        seen += list(part.frame.incident_id)
    assert sorted(seen) == sorted(expect.incident_id) and len(set(seen)) == n
    times = loaded.records("incidents", code, START, END, filters, page_size=50).frame.occurred_at
    assert times.is_monotonic_decreasing  # newest first
    oldest = loaded.records("incidents", code, START, END, filters, order_by="occurred_at", page_size=1)
    assert oldest.frame.occurred_at.iloc[0] == expect.occurred_at.min()


def test_bad_arguments_are_named(loaded):
    with pytest.raises(ValueError, match="no column 'nope'"):
        loaded.records("incidents", filters={"nope": 1})
    with pytest.raises(ValueError, match="by must name"):
        loaded.aggregate_incidents(by="colour")
    with pytest.raises(ValueError, match="page_size"):
        loaded.records("incidents", page_size=0)
    with pytest.raises(ValueError, match="before start"):
        loaded.aggregate_incidents(None, "2025-02-01", "2025-01-01")
    with pytest.raises(UnknownUnitError, match="999999"):
        loaded.aggregate_incidents("999999")
    with pytest.raises(KeyError, match="unknown table"):
        loaded.records("secrets")


def test_features_filter_space_in_the_database(loaded, store_demo):
    cams = gpd.read_parquet(store_demo / "cameras.parquet")
    minx, miny, maxx, maxy = cams.total_bounds
    box = (minx, miny, (minx + maxx) / 2, (miny + maxy) / 2)
    got = loaded.features("cameras", bbox=box)
    expect = cams[cams.intersects(shapely.box(*box))]
    assert 0 < len(got) < len(cams)
    assert set(got.camera_id) == set(expect.camera_id)
    grids = gpd.read_parquet(store_demo / "grids.parquet")
    poly = grids.geometry.iloc[5]
    inside = loaded.features("cameras", intersects=poly)
    assert set(inside.camera_id) == set(cams[cams.intersects(poly)].camera_id)
    code = loaded.grid_at(poly.representative_point().x, poly.representative_point().y)
    assert code == grids.grid_code.iloc[5]
    assert loaded.grid_at(0.0, 0.0) is None


def test_unit_layers_follow_the_unit(loaded, ref):
    _, gu = ref
    station = _code(gu, "station")
    districts = loaded.read("districts", station, geometry=False)
    assert set(districts.district_code) == set(gu.loc[gu.station_code == station, "district_code"])
    assert set(loaded.read("stations", station, geometry=False).station_code) == {station}
    police = loaded.read("police_units", station, geometry=False)
    assert {"bureau", "station", "district"} == set(police.level)
    township = _code(gu, "township")
    admin = loaded.read("admin_units", township, geometry=False)
    assert set(admin.level) == {"city", "county", "township", "village"}


def test_units_and_grid_figures(loaded, ref, store_demo):
    _, gu = ref
    counties = loaded.units(level="county")
    assert set(counties.unit_code) == set(gu.county_code)
    county = counties.unit_code.iloc[0]
    assert set(loaded.units(parent=county).level) == {"township"}
    u = loaded.unit(county)
    assert (u.level, u.hierarchy) == ("county", "admin")
    figs = loaded.grid_figures(by="county")
    grids = gpd.read_parquet(store_demo / "grids.parquet")
    assert figs.households.sum() == grids.households.sum()
    assert figs.grids.sum() == len(grids)
    assert (figs.comprehensive_grids + figs.dedicated_grids == figs.grids).all()
    total = loaded.grid_figures(by=None)
    assert len(total) == 1 and total.population.iloc[0] == grids.population.sum()
    assert (figs.officers > 0).all() and (figs.districts >= figs.officers).all()


def test_aggregate_any_layer(loaded, store_demo, ref):
    _, gu = ref
    disputes = pd.read_parquet(store_demo / "disputes.parquet").merge(gu, on="grid_code")
    county = _code(gu, "county")
    got = loaded.aggregate("disputes", county, by=("status", "month"))
    sel = disputes[disputes.county_code == county]
    expect = sel.groupby([sel.status, sel.reported_at.dt.strftime("%Y-%m").rename("month")]).size()
    assert got.set_index(["status", "month"]).n.sort_index().to_dict() == expect.sort_index().to_dict()
    with pytest.raises(ValueError, match="cannot group"):
        loaded.aggregate("disputes", by="party_names_x")


def test_read_for_models(loaded, store_demo, ref):
    _, gu = ref
    village = _code(gu, "village")
    pop = pd.read_parquet(store_demo / "population.parquet")
    got = loaded.read("population", village, columns=["person_id", "registered", "permit_expiry"])
    expect = pop[pop.grid_code.isin(gu.loc[gu.village_code == village, "grid_code"])]
    assert list(got.columns) == ["person_id", "registered", "permit_expiry"]
    assert sorted(got.person_id) == sorted(expect.person_id)
    assert got.registered.dtype == bool
    assert pd.api.types.is_datetime64_any_dtype(got.permit_expiry)


@pytest.mark.parametrize(
    "filters", [None, {"category": "火警"}, {"category": ["刑事", "交通"], "valid": True}, {"valid": False}]
)
def test_record_totals_count_every_incident(loaded, store_demo, filters):
    inc = pd.read_parquet(store_demo / "incidents.parquet")
    sel = inc[inc.occurred_at.between(START, END + " 23:59:59")]
    for name, value in (filters or {}).items():
        sel = sel[sel[name].isin([value] if isinstance(value, str | bool) else value)]
    page = loaded.records("incidents", None, START, END, filters, page_size=5)
    assert page.total == len(sel)  # incidents outside every grid included
    assert len(page.frame) == 5


def test_hour_profile_has_no_valid_split(loaded):
    got = loaded.aggregate_incidents(None, START, END, by=("hour", "category"))
    assert list(got.columns) == ["hour", "category", "n"] and len(got) == 24 * len(INCIDENT_CATEGORIES)
