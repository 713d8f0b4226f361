"""Tests for geo.crs: GCJ-02/BD-09 transforms, CRS parsing, conversion to WGS84 and validation."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import prcoords
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, shape

from geo.crs import (
    CRSSpec,
    bd09_to_gcj02,
    bd09_to_wgs84,
    check_lonlat,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    haversine_m,
    parse_crs,
    projected_crs_for,
    to_wgs84,
    to_wgs84_xy,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

BOUNDARY = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "320613.geojson"

# Points within mainland China and Hainan (a rectangle inside the China bounding box).
china_lon = st.floats(min_value=73.5, max_value=135.0, allow_nan=False, allow_infinity=False)
china_lat = st.floats(min_value=18.0, max_value=53.5, allow_nan=False, allow_infinity=False)
china_points = st.lists(st.tuples(china_lon, china_lat), min_size=1, max_size=40)
# Anywhere on Earth away from the poles (the transforms are applied everywhere).
world_points = st.lists(
    st.tuples(
        st.floats(min_value=-180.0, max_value=180.0, allow_nan=False),
        st.floats(min_value=-80.0, max_value=80.0, allow_nan=False),
    ),
    min_size=1,
    max_size=40,
)

CITIES = {
    "Beijing": (116.397, 39.909),
    "Nantong": (120.86, 32.01),
    "Urumqi": (87.617, 43.793),
    "Guangzhou": (113.264, 23.129),
}


def _arrays(points: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(points, dtype=float)
    return arr[:, 0], arr[:, 1]


# ------------------------------------------------------------------------------------------------
# Forward transforms against the independent prcoords package (Coords are (lat, lon))
# ------------------------------------------------------------------------------------------------


@given(china_points)
def test_wgs84_to_gcj02_matches_prcoords(points: list[tuple[float, float]]) -> None:
    lon, lat = _arrays(points)
    glon, glat = wgs84_to_gcj02(lon, lat)
    ref = [prcoords.wgs_gcj((la, lo), False) for lo, la in points]
    rlon = np.array([c.lon for c in ref])
    rlat = np.array([c.lat for c in ref])
    assert np.max(haversine_m(glon, glat, rlon, rlat)) < 0.01


@given(china_points)
def test_gcj02_to_bd09_matches_prcoords(points: list[tuple[float, float]]) -> None:
    lon, lat = _arrays(points)
    blon, blat = gcj02_to_bd09(lon, lat)
    ref = [prcoords.gcj_bd((la, lo)) for lo, la in points]
    assert np.max(haversine_m(blon, blat, [c.lon for c in ref], [c.lat for c in ref])) < 0.01


@given(china_points)
def test_wgs84_to_bd09_matches_prcoords(points: list[tuple[float, float]]) -> None:
    lon, lat = _arrays(points)
    blon, blat = wgs84_to_bd09(lon, lat)
    ref = [prcoords.wgs_bd((la, lo), False) for lo, la in points]
    assert np.max(haversine_m(blon, blat, [c.lon for c in ref], [c.lat for c in ref])) < 0.01


@given(china_points)
def test_exact_inverses_agree_with_prcoords_iterative_inverses(points: list[tuple[float, float]]) -> None:
    # prcoords stops at ~1e-5 deg residual before its last step, so it is only decimetre-exact.
    lon, lat = _arrays(points)
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    ref = [prcoords.gcj_wgs_bored((la, lo), False) for lo, la in points]
    assert np.max(haversine_m(wlon, wlat, [c.lon for c in ref], [c.lat for c in ref])) < 0.1
    glon, glat = bd09_to_gcj02(lon, lat)
    ref = [prcoords.bd_gcj_bored((la, lo), False) for lo, la in points]
    assert np.max(haversine_m(glon, glat, [c.lon for c in ref], [c.lat for c in ref])) < 0.1


# ------------------------------------------------------------------------------------------------
# Round trips (exact inverses)
# ------------------------------------------------------------------------------------------------


@given(china_points)
def test_gcj02_round_trip_is_exact(points: list[tuple[float, float]]) -> None:
    lon, lat = _arrays(points)
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.max(haversine_m(lon, lat, *back)) < 0.001
    # and the other way round: the inverse output maps forward onto its input
    fwd = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert np.max(haversine_m(lon, lat, *fwd)) < 0.001


@given(china_points)
def test_bd09_round_trips_are_exact(points: list[tuple[float, float]]) -> None:
    lon, lat = _arrays(points)
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert np.max(haversine_m(lon, lat, *back)) < 0.001
    back = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert np.max(haversine_m(lon, lat, *back)) < 0.001


@settings(max_examples=50)
@given(world_points)
def test_transforms_apply_and_invert_everywhere(points: list[tuple[float, float]]) -> None:
    lon, lat = _arrays(points)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no convergence warning away from the poles
        back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
        back_bd = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert np.max(haversine_m(lon, lat, *back)) < 0.001
    assert np.max(haversine_m(lon, lat, *back_bd)) < 0.001


def test_outside_china_is_transformed_not_skipped() -> None:
    paris = (2.35, 48.85)
    shift = haversine_m(*paris, *wgs84_to_gcj02(*paris))
    assert shift > 10.0
    assert haversine_m(*paris, *gcj02_to_wgs84(*wgs84_to_gcj02(*paris))) < 0.001


@pytest.mark.parametrize("city", sorted(CITIES))
def test_offsets_in_known_range_in_city_centres(city: str) -> None:
    lon, lat = CITIES[city]
    gcj_shift = haversine_m(lon, lat, *wgs84_to_gcj02(lon, lat))
    bd_shift = haversine_m(lon, lat, *wgs84_to_bd09(lon, lat))
    assert 100.0 < gcj_shift < 700.0
    assert bd_shift > gcj_shift + 200.0
    assert bd_shift < 2000.0
    # GCJ-02 shifts China towards the east (positive longitude offset)
    assert wgs84_to_gcj02(lon, lat)[0] > lon


def test_iteration_non_convergence_warns() -> None:
    glon, glat = wgs84_to_gcj02(120.86, 32.01)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        gcj02_to_wgs84(glon, glat, max_iter=1)
    with pytest.raises(ValueError, match="tol"):
        gcj02_to_wgs84(glon, glat, tol=0.0)


# ------------------------------------------------------------------------------------------------
# Known value: the Nantong 崇川区 reference boundary (GCJ-02)
# ------------------------------------------------------------------------------------------------


def test_nantong_boundary_gcj02_to_wgs84() -> None:
    geom = shape(json.loads(BOUNDARY.read_text(encoding="utf-8")))
    assert isinstance(geom, MultiPolygon)
    src = gpd.GeoSeries([geom])
    out = to_wgs84(src, "gcj02")
    assert isinstance(out, gpd.GeoSeries)
    assert out.crs == pyproj.CRS.from_epsg(4326)
    before = shapely.get_coordinates(geom)
    after = shapely.get_coordinates(out.iloc[0])
    assert before.shape == after.shape
    shift = haversine_m(before[:, 0], before[:, 1], after[:, 0], after[:, 1])
    assert 300.0 < shift.min() and shift.max() < 700.0
    assert shift.max() - shift.min() < 50.0  # almost a pure translation over a district
    # WGS84 is west and north of GCJ-02 around Nantong
    assert np.all(after[:, 0] < before[:, 0])
    assert np.all(after[:, 1] > before[:, 1])
    a0 = src.set_crs(4326).to_crs(4549).area.iloc[0]
    a1 = out.to_crs(4549).area.iloc[0]
    assert abs(a1 - a0) / a0 < 1e-3
    assert out.iloc[0].is_valid


def test_to_wgs84_geodataframe_epsg_matches_geopandas_to_crs() -> None:
    fwd = pyproj.Transformer.from_crs(4326, 4549, always_xy=True)
    x, y = fwd.transform([120.8, 120.9, 121.0], [31.9, 32.0, 32.1])
    geoms = [
        Point(x[0], y[0]),
        LineString(zip(x, y, strict=True)),
        Polygon(zip(x, y, strict=True)),
        None,
        Point(),
    ]
    gdf = gpd.GeoDataFrame({"name": list("abcde")}, geometry=geoms, crs=4549)
    out = to_wgs84(gdf)
    assert isinstance(out, gpd.GeoDataFrame)
    assert out.crs == pyproj.CRS.from_epsg(4326)
    assert list(out["name"]) == list("abcde")
    assert out.geometry.iloc[3] is None and out.geometry.iloc[4].is_empty
    expected = gdf.to_crs(4326)
    for got, exp in zip(out.geometry.iloc[:3], expected.geometry.iloc[:3], strict=True):
        np.testing.assert_allclose(shapely.get_coordinates(got), shapely.get_coordinates(exp), atol=1e-9)
    np.testing.assert_allclose(shapely.get_coordinates(out.geometry.iloc[0])[0], [120.8, 31.9], atol=1e-9)
    assert gdf.crs == pyproj.CRS.from_epsg(4549)  # input untouched


def test_to_wgs84_bd09_keeps_z_and_explicit_crs_wins() -> None:
    blon, blat = wgs84_to_bd09(120.9, 32.0)
    gs = gpd.GeoSeries([Point(blon, blat, 12.5)], crs=4326)  # mislabelled, as often delivered
    out = to_wgs84(gs, "百度")
    p = out.iloc[0]
    assert p.has_z and p.z == 12.5
    assert haversine_m(p.x, p.y, 120.9, 32.0) < 0.001


def test_to_wgs84_errors() -> None:
    with pytest.raises(ValueError, match="no CRS"):
        to_wgs84(gpd.GeoSeries([Point(120, 30)]))
    with pytest.raises(ValueError, match="projected"):
        to_wgs84(gpd.GeoSeries([Point(500000, 3.5e6)], crs=4549), "gcj02")


# ------------------------------------------------------------------------------------------------
# EPSG path
# ------------------------------------------------------------------------------------------------


def test_gauss_kruger_4549_to_wgs84() -> None:
    fwd = pyproj.Transformer.from_crs(4490, 4549, always_xy=True)
    x, y = fwd.transform(120.9, 32.0)
    assert 580_000 < x < 590_000  # 500 km false easting, no zone prefix, ~85 km east of 120E
    assert 3_500_000 < y < 3_560_000
    lon, lat = to_wgs84_xy(x, y, 4549)
    assert isinstance(lon, float) and isinstance(lat, float)
    assert lon == pytest.approx(120.9, abs=1e-9)
    assert lat == pytest.approx(32.0, abs=1e-9)
    lons, lats = to_wgs84_xy([x, np.nan], [y, y], "EPSG:4549")
    np.testing.assert_allclose(lons[:1], [120.9], atol=1e-9)
    assert np.isnan(lons[1]) and np.isnan(lats[1])


def test_to_wgs84_xy_dispatches_gcj_and_bd() -> None:
    glon, glat = wgs84_to_gcj02(120.9, 32.0)
    assert haversine_m(*to_wgs84_xy(glon, glat, "GCJ-02"), 120.9, 32.0) < 0.001
    blon, blat = wgs84_to_bd09(120.9, 32.0)
    assert haversine_m(*to_wgs84_xy(blon, blat, "BD09"), 120.9, 32.0) < 0.001
    assert to_wgs84_xy(120.9, 32.0, "WGS84") == (120.9, 32.0)
    lon, lat = to_wgs84_xy(120.9, 32.0, "CGCS2000")
    assert haversine_m(lon, lat, 120.9, 32.0) < 0.05


# ------------------------------------------------------------------------------------------------
# parse_crs
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "epsg"),
    [
        (4326, "epsg", 4326),
        (np.int64(4549), "epsg", 4549),
        ("EPSG:4326", "epsg", 4326),
        ("epsg:4549", "epsg", 4549),
        ("4490", "epsg", 4490),
        (" 4490 ", "epsg", 4490),
        ("WGS84", "epsg", 4326),
        ("wgs 84", "epsg", 4326),
        ("CGCS2000", "epsg", 4490),
        ("GCJ02", "gcj02", None),
        ("GCJ-02", "gcj02", None),
        ("gcj02", "gcj02", None),
        ("火星", "gcj02", None),
        ("BD09", "bd09", None),
        ("BD-09", "bd09", None),
        ("百度", "bd09", None),
        (pyproj.CRS.from_epsg(4549), "epsg", 4549),
        (pyproj.CRS("EPSG:4326"), "epsg", 4326),
    ],
)
def test_parse_crs_accepts(value: object, kind: str, epsg: int | None) -> None:
    spec = parse_crs(value)
    assert isinstance(spec, CRSSpec)
    assert (spec.kind, spec.epsg) == (kind, epsg)
    assert spec.label
    assert parse_crs(spec) is spec


@pytest.mark.parametrize("value", ["", "mars", "GCJ03", "EPSG:", "EPSG:99999", "UTM", "4326x"])
def test_parse_crs_rejects_text(value: str) -> None:
    with pytest.raises(ValueError, match=r"unknown|accepted"):
        parse_crs(value)


def test_parse_crs_error_lists_accepted_and_rejects_types() -> None:
    with pytest.raises(ValueError, match="accepted") as info:
        parse_crs("mercator-ish")
    for word in ("EPSG", "WGS84", "CGCS2000", "GCJ", "BD"):
        assert word in str(info.value)
    with pytest.raises(TypeError):
        parse_crs(True)
    with pytest.raises(TypeError):
        parse_crs(4326.0)
    with pytest.raises(ValueError, match="EPSG"):
        parse_crs(pyproj.CRS("+proj=tmerc +lon_0=120.5 +ellps=GRS80 +x_0=123 +units=m"))


def test_crsspec_is_frozen() -> None:
    spec = parse_crs("gcj02")
    with pytest.raises(AttributeError):
        spec.kind = "bd09"  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------
# projected_crs_for
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (120.9, 32.0, 4549),  # Nantong
        (73.5, 39.0, 4534),  # western edge of the CM 75E zone
        (75.0, 39.0, 4534),
        (136.5, 47.0, 4554),  # eastern edge of the CM 135E zone
        (134.9, 48.0, 4554),
        (116.4, 39.9, 4548),  # Beijing: CM 117E
        (79.5, 35.0, 4536),  # exactly on a zone edge: halves round up (CM 81E), not to even
        (2.35, 48.85, 32631),  # Paris
        (151.2, -33.9, 32756),  # Sydney
        (-74.0, 40.7, 32618),  # New York
        (120.9, 60.0, 32651),  # north of the GK range
    ],
)
def test_projected_crs_for(lon: float, lat: float, expected: int) -> None:
    assert projected_crs_for(lon, lat) == expected


def test_projected_crs_for_is_a_matching_gauss_kruger_zone() -> None:
    for cm in range(75, 136, 3):
        code = projected_crs_for(cm + 1.0, 35.0)
        crs = pyproj.CRS.from_epsg(code)
        assert f"CM {cm}E" in crs.name and "CGCS2000" in crs.name


def test_projected_crs_for_uses_median_and_ignores_nan() -> None:
    lon = [120.9, 121.0, 120.8, 87.6, np.nan]
    lat = [32.0, 32.1, 31.9, 43.8, np.nan]
    assert projected_crs_for(lon, lat) == 4549
    with pytest.raises(ValueError):
        projected_crs_for([np.nan], [np.nan])


# ------------------------------------------------------------------------------------------------
# check_lonlat, haversine, NaN and scalars
# ------------------------------------------------------------------------------------------------


def test_check_lonlat_classifies_each_case() -> None:
    lon = [120.9, np.nan, 120.9, None, 32.0, 200.0, 120.0, 2.35, -74.0, 0.0, np.inf]
    lat = [32.0, 32.0, np.nan, 32.0, 120.9, 30.0, -95.0, 48.85, 40.7, 0.0, 30.0]
    got = check_lonlat(lon, lat)
    assert isinstance(got, np.ndarray)
    assert got.tolist() == [
        "ok",
        "missing",
        "missing",
        "missing",
        "swapped",
        "out_of_range",
        "out_of_range",
        "outside_china",
        "outside_china",
        "outside_china",
        "out_of_range",
    ]
    assert check_lonlat(121.0, 31.0) == "ok"
    assert isinstance(check_lonlat(121.0, 31.0), str)


def test_check_lonlat_bbox_edges() -> None:
    got = check_lonlat([73.4, 135.1, 73.39, 100.0, 100.0], [40.0, 48.0, 40.0, 3.8, 53.61])
    assert got.tolist() == ["ok", "ok", "outside_china", "ok", "outside_china"]


@given(china_points)
def test_check_lonlat_china_ok_and_swapped(points: list[tuple[float, float]]) -> None:
    lon, lat = _arrays(points)
    assert set(check_lonlat(lon, lat)) == {"ok"}
    assert set(check_lonlat(lat, lon)) == {"swapped"}


def test_haversine_known_values() -> None:
    # one degree of latitude on the mean sphere
    assert haversine_m(120.0, 32.0, 120.0, 33.0) == pytest.approx(math.pi / 180 * 6371008.8, rel=1e-12)
    assert haversine_m(0.0, 0.0, 180.0, 0.0) == pytest.approx(math.pi * 6371008.8, rel=1e-12)
    d = haversine_m([0.0, 10.0], [0.0, 0.0], [0.0, 10.0], [1.0, 0.0])
    np.testing.assert_allclose(d, [111195.08, 0.0], atol=0.01)
    assert np.isnan(haversine_m(np.nan, 0.0, 0.0, 0.0))


@pytest.mark.parametrize(
    "func",
    [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84],
)
def test_nan_propagates_and_scalars_return_floats(func) -> None:
    lon, lat = func([120.9, np.nan, 121.0, None], [32.0, 32.0, np.nan, 31.0])
    assert isinstance(lon, np.ndarray) and lon.dtype == np.float64 and lon.shape == (4,)
    assert np.isfinite(lon[0]) and np.isfinite(lat[0])
    assert np.isnan(lon[1:]).all() and np.isnan(lat[1:]).all()
    slon, slat = func(120.9, 32.0)
    assert type(slon) is float and type(slat) is float
    assert slon == pytest.approx(lon[0], abs=1e-12) and slat == pytest.approx(lat[0], abs=1e-12)
    nlon, nlat = func(np.nan, 32.0)
    assert type(nlon) is float and math.isnan(nlon) and math.isnan(nlat)


def test_arrays_keep_shape_and_broadcast() -> None:
    lon = np.array([[120.0, 121.0], [110.0, 100.0]])
    glon, glat = wgs84_to_gcj02(lon, 32.0)
    assert glon.shape == glat.shape == (2, 2)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    np.testing.assert_allclose(wlon, lon, atol=1e-10)
    np.testing.assert_allclose(wlat, 32.0, atol=1e-10)
