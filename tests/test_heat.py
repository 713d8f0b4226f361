"""Tests for geo.heat: H3 counts against a brute-force count, KDE against an exact kernel sum, time
profiles, population on cells; hand-made points drawn in EPSG:4549 and converted to lon/lat."""

from __future__ import annotations

from collections import Counter

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, box

from geo.heat import (
    PERSONS_PER_HOUSEHOLD,
    WEEKDAYS,
    _kernel_values,
    h3_aggregate,
    h3_polygons,
    kde_surface,
    kde_to_geodataframe,
    monthly_series,
    population_to_cells,
    time_profile,
)

GK = 4549  # CGCS2000 3° Gauss–Krüger, central meridian 120°E
X0, Y0 = Transformer.from_crs(4326, GK, always_xy=True).transform(120.9, 32.0)
TO_LONLAT = Transformer.from_crs(GK, 4326, always_xy=True)


def points_at(x, y, **columns) -> gpd.GeoDataFrame:
    """Points at EPSG:4549 offsets (metres) from (X0, Y0), returned in EPSG:4326."""
    x, y = np.asarray(x, float) + X0, np.asarray(y, float) + Y0
    frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=GK).assign(**columns)
    return frame.to_crs(4326)


def scattered(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    half = n // 2
    x = np.concatenate([rng.normal(0, 400, half), rng.uniform(-3000, 3000, n - half)])
    y = np.concatenate([rng.normal(0, 300, half), rng.uniform(-3000, 3000, n - half)])
    return x, y


# --- H3 counts -------------------------------------------------------------------------------------


def test_h3_counts_equal_a_brute_force_count():
    x, y = scattered(2000)
    cats = np.random.default_rng(1).choice(["刑事", "治安", "求助"], len(x))
    pts = points_at(x, y, category=cats)
    out = h3_aggregate(pts, resolution=9, by="category")
    brute = Counter(h3.latlng_to_cell(p.y, p.x, 9) for p in pts.geometry)
    assert dict(zip(out.h3, out["count"], strict=True)) == dict(brute)
    by_cat = Counter((h3.latlng_to_cell(p.y, p.x, 9), c) for p, c in zip(pts.geometry, cats, strict=True))
    for cat in ("刑事", "治安", "求助"):
        assert dict(zip(out.h3, out[cat], strict=True)) == {
            cell: by_cat.get((cell, cat), 0) for cell in brute
        }
    assert list(out.columns) == ["h3", "count", "刑事", "治安", "求助"]  # schema order of categories
    assert out["count"].is_monotonic_decreasing


def test_h3_aggregate_time_window_is_half_open_and_skips_missing_points():
    times = ["2026-01-01 00:00", "2026-01-15 12:00", "2026-02-01 00:00", "2025-12-31 23:59", None]
    pts = points_at([0, 10, 20, 30, 40], [0, 0, 0, 0, 0], occurred_at=pd.to_datetime(times))
    pts.loc[1, "geometry"] = None
    out = h3_aggregate(pts, 8, time_col="occurred_at", start="2026-01-01", end="2026-02-01")
    assert out["count"].sum() == 1  # 01-01 00:00 in; 01-15 has no point; 02-01 and 12-31 out; NaT out
    with pytest.raises(ValueError, match="time_col"):
        h3_aggregate(pts, 8, start="2026-01-01")


def test_h3_aggregate_reads_projected_points_and_lonlat_columns():
    x, y = scattered(300)
    lonlat = points_at(x, y)
    projected = lonlat.to_crs(GK)
    plain = pd.DataFrame({"lon": lonlat.geometry.x, "lat": lonlat.geometry.y})
    a = h3_aggregate(lonlat, 8)
    pd.testing.assert_frame_equal(a, h3_aggregate(projected, 8))
    pd.testing.assert_frame_equal(a, h3_aggregate(plain, 8))


def test_rate_per_1000_from_a_population_series():
    pts = points_at([0, 5, 10], [0, 0, 0])
    cell = h3.latlng_to_cell(pts.geometry.y[0], pts.geometry.x[0], 8)
    out = h3_aggregate(pts, 8, population=pd.Series({cell: 1500.0}))
    assert out.loc[0, "count"] == 3
    assert out.loc[0, "rate_per_1000"] == pytest.approx(2.0)


def test_population_from_addresses_is_households_times_persons_per_household():
    addr = points_at([0, 8, 3000], [0, 0, 3000], households=[10, 30, 5])
    pop = population_to_cells(addr, 8)
    c0 = h3.latlng_to_cell(addr.geometry.y[0], addr.geometry.x[0], 8)
    c2 = h3.latlng_to_cell(addr.geometry.y[2], addr.geometry.x[2], 8)
    assert pop[c0] == pytest.approx(40 * PERSONS_PER_HOUSEHOLD)
    assert pop[c2] == pytest.approx(5 * PERSONS_PER_HOUSEHOLD)
    with_pop = addr.assign(population=[1, 2, 3])  # an explicit population column wins
    assert population_to_cells(with_pop, 8)[c0] == pytest.approx(3)


def test_population_from_polygons_is_spread_by_area():
    side = 6000.0
    density = 0.01  # persons per m²
    square = gpd.GeoDataFrame(
        {"population": [side * side * density]},
        geometry=[box(X0 - side / 2, Y0 - side / 2, X0 + side / 2, Y0 + side / 2)],
        crs=GK,
    ).to_crs(4326)
    pop = population_to_cells(square, 8)
    assert pop.sum() == pytest.approx(side * side * density, rel=1e-9)  # nothing lost
    inner = [c for c in pop.index if shapely.contains(square.geometry[0], h3_polygons([c]).geometry[0])]
    assert len(inner) > 20
    for c in inner:  # a fully covered cell gets its own area's share
        assert pop[c] == pytest.approx(h3.cell_area(c, "m^2") * density, rel=0.01)
    tiny = gpd.GeoDataFrame({"population": [77]}, geometry=[box(X0, Y0, X0 + 5, Y0 + 5)], crs=GK).to_crs(4326)
    tiny_pop = population_to_cells(tiny, 8)
    assert tiny_pop.sum() == pytest.approx(77)
    assert len(tiny_pop) in (1, 2)  # a 5 m square rarely straddles a cell edge


def test_h3_polygons_are_lon_lat_hexagons_of_the_right_area():
    x, y = scattered(50)
    cells = h3_aggregate(points_at(x, y), 8).h3.tolist()[:5]
    hexes = h3_polygons(cells)
    assert hexes.crs.to_epsg() == 4326
    assert hexes.h3.tolist() == cells
    for cell, geom in zip(cells, hexes.geometry, strict=True):
        lat, lng = h3.cell_to_latlng(cell)
        assert geom.contains(Point(lng, lat))  # x = lon
        area = gpd.GeoSeries([geom], crs=4326).to_crs(GK).area[0]
        assert area == pytest.approx(h3.cell_area(cell, "m^2"), rel=0.005)
    as_ints = h3_polygons([h3.str_to_int(c) for c in cells])
    assert as_ints.h3.tolist() == cells
    assert len(h3_polygons([])) == 0


# --- kernel density --------------------------------------------------------------------------------


def exact_density(surface, x, y, bandwidth, kernel, weights=None):
    xs, ys = surface.centres()
    d2 = (xs.ravel()[:, None] - x[None, :]) ** 2 + (ys.ravel()[:, None] - y[None, :]) ** 2
    k = _kernel_values(d2, bandwidth, kernel)
    w = np.ones(len(x)) if weights is None else weights
    return (k @ w).reshape(xs.shape) * 1e6


@pytest.mark.parametrize(("kernel", "cell", "tolerance"), [("quartic", 50, 0.015), ("gaussian", 60, 0.005)])
def test_kde_fft_equals_brute_force_within_tolerance(kernel, cell, tolerance):
    x, y = scattered(300, seed=3)
    surface = kde_surface(points_at(x, y), bandwidth_m=300, cell_m=cell, kernel=kernel, crs=GK)
    exact = exact_density(surface, x + X0, y + Y0, 300, kernel)
    assert surface.density.shape == exact.shape
    assert np.abs(surface.density - exact).max() <= tolerance * exact.max()


def test_kde_of_one_point_peaks_at_three_over_pi_h_squared_and_keeps_mass():
    h, cell = 300.0, 30.0
    dx = (np.floor(X0 / cell) + 0.5) * cell - X0  # put the point on a cell centre
    dy = (np.floor(Y0 / cell) + 0.5) * cell - Y0
    surface = kde_surface(points_at([dx], [dy]), bandwidth_m=h, cell_m=cell, crs=GK)
    assert surface.crs == GK
    assert surface.density.max() == pytest.approx(3 / (np.pi * h**2) * 1e6, rel=0.01)
    assert surface.density.sum() * cell**2 / 1e6 == pytest.approx(1.0, rel=1e-9)
    row, col = np.unravel_index(np.argmax(surface.density), surface.density.shape)
    xs, ys = surface.centres()
    assert xs[row, col] == pytest.approx(X0 + dx, abs=0.01)
    assert ys[row, col] == pytest.approx(Y0 + dy, abs=0.01)
    left, right, bottom, top = surface.extent
    assert right - left == surface.density.shape[1] * cell and top > bottom


def test_kde_weights_and_bounds():
    x, y = scattered(200, seed=5)
    pts = points_at(x, y, w=2.0)
    full = kde_surface(pts, 300, 100, crs=GK)
    doubled = kde_surface(pts, 300, 100, weights="w", crs=GK)
    np.testing.assert_allclose(doubled.density, 2 * full.density, atol=1e-9)
    # a window: cells coincide with the full surface's (both snap to whole cells), points outside
    # the window still reach in
    lo = TO_LONLAT.transform(X0 - 500, Y0 - 500)
    hi = TO_LONLAT.transform(X0 + 500, Y0 + 500)
    window = kde_surface(pts, 300, 100, bounds=(lo[0], lo[1], hi[0], hi[1]), crs=GK)
    a, _, c, _, _, f = full.transform
    col = round((window.transform[2] - c) / a)
    row = round((f - window.transform[5]) / a)
    ny, nx = window.density.shape
    np.testing.assert_allclose(window.density, full.density[row : row + ny, col : col + nx], atol=1e-9)
    with pytest.raises(ValueError, match="kernel"):
        kde_surface(pts, kernel="epanechnikov")


def test_kde_to_geodataframe_keeps_cells_above_the_threshold_in_lonlat():
    x, y = scattered(100)
    surface = kde_surface(points_at(x, y), 300, 100)
    threshold = float(np.quantile(surface.density, 0.9))
    frame = kde_to_geodataframe(surface, threshold)
    assert len(frame) == int((surface.density > threshold).sum())
    assert frame.crs.to_epsg() == 4326
    assert frame.density.is_monotonic_decreasing
    squares = kde_to_geodataframe(surface, threshold, as_polygons=True)
    assert (squares.to_crs(surface.crs).area.round(3) == 100 * 100).all()


# --- time --------------------------------------------------------------------------------------------


def test_time_profile_counts_each_weekday_and_hour():
    times = pd.Series(
        pd.to_datetime(["2024-05-06 08:15", "2024-05-06 08:59", "2024-05-12 23:00", "2024-05-08 00:00", None])
    )  # 2024-05-06 is a Monday
    out = time_profile(pd.DataFrame({"occurred_at": times}))
    assert out.shape == (7, 24)
    assert list(out.index) == list(WEEKDAYS)
    assert out.loc["一", 8] == 2 and out.loc["日", 23] == 1 and out.loc["三", 0] == 1
    assert out.to_numpy().sum() == 4  # NaT not counted


def test_time_profile_converts_aware_times_to_local():
    utc = pd.Series(pd.to_datetime(["2024-05-05 16:30"]).tz_localize("UTC"))  # Monday 00:30 in Shanghai
    out = time_profile(pd.DataFrame({"t": utc}), "t")
    assert out.loc["一", 0] == 1


def test_monthly_series_fills_empty_months_and_splits_by_category():
    events = pd.DataFrame(
        {
            "occurred_at": pd.to_datetime(
                ["2026-01-03 00:00", "2026-01-31 23:00", "2026-03-01 00:00", "2026-03-02 00:00"]
            ),
            "category": ["治安", "刑事", "刑事", "火警"],
        }
    )
    total = monthly_series(events)
    assert total["count"].tolist() == [2, 0, 1 + 1]
    assert total.index[1] == pd.Timestamp("2026-02-01")
    split = monthly_series(events, by="category")
    assert list(split.columns) == ["刑事", "治安", "火警"]
    assert split.sum(axis=1).tolist() == total["count"].tolist()
    assert split.loc["2026-03-01", "刑事"] == 1


# --- the demo city -------------------------------------------------------------------------------


def test_demo_heat_figures_are_sane(tiny_demo):
    incidents = gpd.read_parquet(tiny_demo / "incidents.parquet")
    addresses = gpd.read_parquet(tiny_demo / "addresses.parquet")
    cells = h3_aggregate(incidents, 8, by="category", population=addresses)
    assert cells["count"].sum() == incidents.geometry.notna().sum()
    assert (cells[["刑事", "治安", "纠纷"]].sum(axis=1) <= cells["count"]).all()
    assert cells["population"].sum() <= addresses.households.sum() * PERSONS_PER_HOUSEHOLD + 1e-6
    surface = kde_surface(incidents, 300, 100)
    mass = surface.density.sum() * 0.01  # cells of 0.01 km²
    assert mass == pytest.approx(len(incidents), rel=1e-6)
    profile = time_profile(incidents)
    assert profile.to_numpy().sum() == len(incidents)
    months = monthly_series(incidents, by="category")
    assert months.to_numpy().sum() == len(incidents)
    assert months.index.max() == pd.Timestamp("2026-10-01")
