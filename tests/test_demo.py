"""The demo city generator: determinism, schemas, structure, planted defects, other boundaries."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from data.demo import BOUNDARIES_DIR, SCALES, BoundaryError, build_demo, load_boundaries
from data.demo.territory import county_kind
from data.idnumber import is_valid_id_number
from data.schema import CODE_PATTERNS, LAYERS
from geo.crs import projected_crs_for


def _read(folder, name):
    path = folder / f"{name}.parquet"
    return gpd.read_parquet(path) if LAYERS[name].geometry else pd.read_parquet(path)


def test_same_seed_same_city(tiny_demo, tmp_path):
    again = tmp_path / "again"
    build_demo(again, "tiny", seed=1, gpkg=False, progress=False)
    for name in LAYERS:
        a, b = _read(tiny_demo, name), _read(again, name)
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b), obj=name)


@pytest.fixture(scope="module")
def shifted_demo(tmp_path_factory):
    """The tiny city of seed 1 ending on a pinned day other than the reference (across a year's end)."""
    out = tmp_path_factory.mktemp("shifted") / "city"
    manifest = build_demo(out, "tiny", seed=1, gpkg=False, progress=False, until="2027-01-09")
    assert manifest["until"] == "2027-01-09"
    return out


def test_same_end_day_same_city(shifted_demo, tmp_path):
    again = tmp_path / "again"
    build_demo(again, "tiny", seed=1, gpkg=False, progress=False, until="2027-01-09")
    for name in LAYERS:
        a, b = _read(shifted_demo, name), _read(again, name)
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b), obj=name)


def test_another_end_day_moves_every_date_and_nothing_else(tiny_demo, shifted_demo):
    """Same rows, same values; every date and time 70 days later (the end moved 2026-10-31 → 2027-01-09),
    except birth dates, which the ID numbers carry."""
    shift = pd.Timestamp("2027-01-09") - pd.Timestamp("2026-10-31")
    moved = set()
    for name in LAYERS:
        a, b = pd.DataFrame(_read(tiny_demo, name)), pd.DataFrame(_read(shifted_demo, name))
        assert list(a.columns) == list(b.columns) and len(a) == len(b), name
        for col in a.columns:
            if pd.api.types.is_datetime64_any_dtype(a[col]):
                want = a[col] if (name, col) == ("population", "birth_date") else a[col] + shift
                pd.testing.assert_series_equal(b[col], want, obj=f"{name}.{col}")
                moved.add((name, col))
            else:
                pd.testing.assert_series_equal(b[col], a[col], obj=f"{name}.{col}")
    assert {("incidents", "occurred_at"), ("work_orders", "deadline"), ("hazards", "rectified_at")} <= moved
    inc = _read(shifted_demo, "incidents")
    assert inc.occurred_at.max().date() == pd.Timestamp("2027-01-09").date()
    pop = _read(shifted_demo, "population")
    assert is_valid_id_number(pop.id_number).all()
    assert (pop.id_number.str.slice(6, 14) == pop.birth_date.dt.strftime("%Y%m%d")).all()


def test_a_bad_end_day_is_named(tmp_path):
    for bad in ("2026-13-01", "tomorrow", "31/10/2026"):
        with pytest.raises(ValueError, match="until"):
            build_demo(tmp_path / "x", "tiny", seed=1, gpkg=False, progress=False, until=bad)
    assert not (tmp_path / "x").exists()  # refused before any work


def test_other_seed_other_city(tiny_demo, tmp_path):
    other = tmp_path / "other"
    build_demo(other, "tiny", seed=2, gpkg=False, progress=False)
    a, b = _read(tiny_demo, "grids"), _read(other, "grids")
    assert not a.geometry.geom_equals(b.geometry.reindex(a.index)).all()


def test_every_layer_follows_its_schema(tiny_demo):
    for name, lay in LAYERS.items():
        frame = _read(tiny_demo, name)
        assert len(frame) > 0, name
        missing = set(lay.required) - set(frame.columns)
        assert not missing, (name, missing)
        assert frame[lay.key].is_unique or name == "grid_district", name
        assert frame[lay.required].notna().all().all() or name in ("visits",), (
            name,
            frame[lay.required].isna().sum()[lambda s: s > 0],
        )
        for col in lay.columns:
            if col.name not in frame.columns:
                continue
            values = frame[col.name].dropna()
            if col.pattern:
                bad = ~values.astype(str).str.fullmatch(col.pattern)
                assert not bad.any(), (name, col.name, values[bad].head().tolist())
            if col.choices:
                assert values.isin(col.choices).all(), (name, col.name, set(values) - set(col.choices))
        if lay.geometry:
            assert frame.crs.to_epsg() == 4326, name
            assert frame.geometry.is_valid.all(), name


def test_codes_nest(tiny_demo):
    grids = _read(tiny_demo, "grids")
    admin = _read(tiny_demo, "admin_units")
    assert (grids.grid_code.str.slice(0, 12) == grids.village_code).all()
    assert (grids.village_code.str.slice(0, 9) == grids.township_code).all()
    assert (grids.township_code.str.slice(0, 6) == grids.county_code).all()
    villages = admin[admin.level == "village"]
    assert set(grids.village_code) == set(villages.unit_code)
    # GB/T 10114: 001-199 residents' committees (社区), 200-399 villagers' committees (村)
    seq = villages.unit_code.str.slice(9).astype(int)
    assert ((seq < 200) == villages.urban).all()
    assert (villages.unit_name.str.endswith("社区") == villages.urban).all()


def test_grids_tile_each_county_exactly(tiny_demo):
    grids = _read(tiny_demo, "grids")
    admin = _read(tiny_demo, "admin_units")
    crs = projected_crs_for(*grids.union_all().centroid.coords[0])
    gm = grids.to_crs(crs)
    for county in admin[admin.level == "county"].itertuples():
        cells = gm[gm.county_code == county.unit_code]
        boundary = gpd.GeoSeries([county.geometry], crs=4326).to_crs(crs).iloc[0]
        union = shapely.union_all(cells.geometry.values)
        assert abs(cells.area.sum() - union.area) < 10.0  # no overlap beyond floating noise (m²)
        # no gap, nothing outside: grids are snapped to a 1 cm grid, so allow a 1 cm band along the edge
        assert union.symmetric_difference(boundary).area < boundary.length * 0.01


def test_structure_matches_the_seeds(tiny_demo):
    grids = _read(tiny_demo, "grids")
    binding = _read(tiny_demo, "grid_district")
    districts = _read(tiny_demo, "districts")
    admin = _read(tiny_demo, "admin_units")
    spec = SCALES["tiny"]
    counts = grids.grid_type.value_counts()
    assert counts["综合"] == spec.comprehensive
    assert abs(counts["专属"] - spec.dedicated) <= spec.dedicated * 0.1
    comp = grids[grids.grid_type == "综合"]
    assert comp[comp.urban].households.between(180, 420).all()
    assert comp[~comp.urban].households.between(200, 300).all()
    assert comp.households.mean() == pytest.approx(260, rel=0.15)
    # 一格一警: every grid in exactly one 警格, and 警格 = 1 community or 2-3 villages of one township
    assert binding.grid_code.is_unique and set(binding.grid_code) == set(grids.grid_code)
    villages_per_district = grids.groupby("district_code").village_code.nunique()
    urban_village = admin[admin.level == "village"].set_index("unit_code").urban
    rural = urban_village[~urban_village]
    rural_per_township = rural.groupby(rural.index.str.slice(0, 9)).size()
    for code, n in villages_per_district.items():
        vs = grids.loc[grids.district_code == code, "village_code"].unique()
        assert len({v[:9] for v in vs}) == 1  # within one township
        if urban_village[vs].all():
            assert n == 1, code
        else:
            assert not urban_village[vs].any()
            assert 2 <= n <= 3 or rural_per_township[vs[0][:9]] == 1, (code, n)
    assert set(districts.district_code) == set(grids.district_code)
    # the smallest 市辖区 is the most urban county
    kinds = admin[admin.level == "county"].assign(kind=lambda f: f.unit_code.map(county_kind))
    share = grids.groupby("county_code").urban.mean()
    core = kinds[kinds.kind == "district"].to_crs(4549).area.idxmin()
    assert share[kinds.loc[core, "unit_code"]] == share.max()


def test_people_and_events_are_realistic(tiny_demo):
    pop = _read(tiny_demo, "population")
    assert is_valid_id_number(pop.id_number.to_numpy()).all()
    assert 0.05 < (pop.resident_kind == "流动").mean() < 0.3
    inc = _read(tiny_demo, "incidents")
    until = pd.Timestamp(json.loads((tiny_demo / "manifest.json").read_text())["until"]) + pd.Timedelta(
        days=1
    )
    assert inc.occurred_at.min() >= until - pd.DateOffset(months=24)
    assert inc.occurred_at.max() < until
    last = inc.occurred_at >= until - pd.DateOffset(years=1)
    by_year = inc.groupby([last, "category"]).size().unstack(0)
    assert by_year.loc["刑事", True] < 0.8 * by_year.loc["刑事", False]  # year-over-year fall
    assert by_year.loc["电诈", True] < 0.6 * by_year.loc["电诈", False]
    traffic_hours = inc[inc.category == "交通"].occurred_at.dt.hour.value_counts()
    assert traffic_hours.idxmax() in (7, 8, 9, 17, 18, 19)
    assert traffic_hours[8] > 3 * traffic_hours[3]
    # a few addresses carry many incidents (80-20)
    per_address = inc.address_id.value_counts()
    top = per_address.head(int(len(per_address) * 0.2)).sum() / per_address.sum()
    assert top > 0.5


def test_planted_defects_are_there(tiny_demo):
    until = pd.Timestamp("2026-10-31")
    inc = _read(tiny_demo, "incidents")
    assert inc.grid_code.isna().sum() >= 5  # outside every grid
    hz = _read(tiny_demo, "hazards")
    overdue = hz.rectified_at.isna() & (hz.deadline < until)
    assert overdue.sum() > 0
    poc = _read(tiny_demo, "persons_of_concern")
    visits = _read(tiny_demo, "visits")
    last = visits[visits.target_kind == "person_of_concern"].groupby("target_id").visited_at.max()
    gap_days = (until - poc.set_index("poc_id").index.map(last).to_series(index=poc.poc_id)).dt.days
    assert (gap_days.to_numpy() > poc.visit_interval_days.to_numpy()).sum() > 0
    pop = _read(tiny_demo, "population")
    assert (pop.permit_expiry < until).sum() > 0
    assert (~pop.registered).sum() > 0
    grids = _read(tiny_demo, "grids")
    staff = _read(tiny_demo, "staff")
    with_worker = set(staff[staff.role == "专职网格员"].unit_code)
    assert (grids.full_time_workers > 0).to_numpy().tolist() == grids.grid_code.isin(with_worker).tolist()


def test_geopackage_export_has_every_layer(tmp_path):
    out = tmp_path / "gpkg"
    build_demo(out, "tiny", seed=3, gpkg=True, progress=False)
    layers = {name for name, _ in pyogrio.list_layers(out / "onemap.gpkg")}
    assert layers == set(LAYERS)
    grids = gpd.read_file(out / "onemap.gpkg", layer="grids")
    assert len(grids) == len(gpd.read_parquet(out / "grids.parquet"))
    assert grids.grid_code.str.fullmatch(CODE_PATTERNS["grid_code"]).all()


def test_other_region_boundaries(tmp_path):
    """Two adjacent counties near Chengdu given in WGS84: the same structure, their own codes."""
    folder = tmp_path / "bounds"
    folder.mkdir()
    a = shapely.box(104.00, 30.60, 104.12, 30.70)
    b = shapely.box(104.12, 30.60, 104.30, 30.72)
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"adcode": "510104", "name": "锦江区"},
                "geometry": a.__geo_interface__,
            },
            {
                "type": "Feature",
                "properties": {"adcode": "510121", "name": "金堂县"},
                "geometry": b.__geo_interface__,
            },
        ],
    }
    (folder / "sichuan.geojson").write_text(json.dumps(fc), encoding="utf-8")
    out = tmp_path / "city"
    manifest = build_demo(
        out, "tiny", seed=0, boundaries=folder, boundaries_crs="EPSG:4326", gpkg=False, progress=False
    )
    assert manifest["city_code"] == "510100"
    grids = gpd.read_parquet(out / "grids.parquet")
    assert set(grids.county_code) == {"510104", "510121"}
    both = (
        gpd.GeoSeries([shapely.segmentize(shapely.union_all([a, b]), 0.0005)], crs=4326).to_crs(4545).iloc[0]
    )
    union = shapely.union_all(grids.to_crs(4545).geometry.values)
    assert union.symmetric_difference(both).area < both.length * 0.01  # within a 1 cm band
    share = grids.groupby("county_code").urban.mean()
    assert share["510104"] > share["510121"]  # the 市辖区 is the urban core
    assert manifest["projected_crs"] == "EPSG:4544"  # CGCS2000 GK zone, central meridian 105°E


def test_bad_boundaries_are_named(tmp_path):
    (tmp_path / "x.geojson").write_text('{"type": "Point", "coordinates": [120, 32]}', encoding="utf-8")
    with pytest.raises(BoundaryError, match=r"x\.geojson"):
        load_boundaries(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BoundaryError, match=r"no \*\.geojson"):
        load_boundaries(empty)


def test_bundled_boundaries_are_converted_from_gcj02():
    city_code, city_name, counties = load_boundaries()
    assert (city_code, city_name) == ("320600", "南通市")
    assert len(counties) == 7
    raw = shapely.geometry.shape(json.loads((BOUNDARIES_DIR / "320613.geojson").read_text()))
    shift = raw.centroid.distance(counties.set_index("county_code").geometry["320613"].centroid)
    assert 0.002 < shift < 0.008  # a few hundred metres in degrees
