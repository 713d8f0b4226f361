"""Tests for geo.assign: exact point → grid → 警格 assignment against shapely's own predicates."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon, box

from geo.assign import (
    OUTSIDE,
    UNCERTAIN,
    GridIndex,
    assign_points,
    assign_xy,
    clear_index_cache,
    get_index,
    grid_layer_key,
)

# --------------------------------------------------------------------------------------------------
# Fixtures and references
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grids(tiny_demo) -> gpd.GeoDataFrame:
    return gpd.read_parquet(tiny_demo / "grids.parquet")


@pytest.fixture(scope="module")
def districts(tiny_demo) -> pd.DataFrame:
    return pd.read_parquet(tiny_demo / "districts.parquet")


@pytest.fixture(scope="module")
def incidents(tiny_demo) -> gpd.GeoDataFrame:
    return gpd.read_parquet(tiny_demo / "incidents.parquet")


@pytest.fixture(scope="module")
def index100(grids) -> GridIndex:
    """A 100 m index of the tiny demo: quick to build, with plenty of uncertain cells."""
    return GridIndex.build(grids, cell_m=100)


def reference_codes(x: np.ndarray, y: np.ndarray, grids: gpd.GeoDataFrame) -> np.ndarray:
    """Smallest grid_code among grids whose closed polygon covers each point (None if none), via
    ``geopandas.sjoin(predicate="covered_by")``: independent of geo.assign."""
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=4326)
    joined = gpd.sjoin(pts, grids[["grid_code", "geometry"]], predicate="covered_by", how="inner")
    best = joined.groupby(level=0)["grid_code"].min()
    out = np.full(len(x), None, dtype=object)
    out[best.index.to_numpy()] = best.to_numpy(dtype=object)
    return out


def brute_codes(x: np.ndarray, y: np.ndarray, grids: gpd.GeoDataFrame) -> list[str | None]:
    """The same by a plain loop over every grid (for small samples)."""
    pairs = list(zip(grids["grid_code"], grids.geometry, strict=True))
    return [min((c for c, g in pairs if g is not None and g.covers(Point(a, b))), default=None)
            for a, b in zip(x, y, strict=True)]  # fmt: skip


def codes_of(rows: np.ndarray, grids: gpd.GeoDataFrame) -> np.ndarray:
    codes = grids["grid_code"].to_numpy(dtype=object)
    return np.where(rows >= 0, codes[np.maximum(rows, 0)], None)


def frame(codes: list[str], geoms: list, districts: list[str] | None = None) -> gpd.GeoDataFrame:
    data = {"grid_code": codes, "district_code": districts or ["32061350010001"] * len(codes)}
    return gpd.GeoDataFrame(data, geometry=geoms, crs=4326)


def boundary_points(grids: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Vertices, edge points (t = 1/4, 1/2, 3/4) and the same pushed 1e-9° and 1e-7° off each edge."""
    rings = shapely.get_rings(shapely.get_parts(grids.geometry.to_numpy()))
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    seg = np.flatnonzero(ring[1:] == ring[:-1])
    a, b = xy[seg], xy[seg + 1]
    d = b - a
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-300)[:, None]
    pts = [xy]
    for t in (0.25, 0.5, 0.75):
        m = a + t * d
        pts.append(m)
        for off in (1e-9, -1e-9, 1e-7, -1e-7):
            pts.append(m + off * normal)
    for off in (1e-9, -1e-9):
        pts.append(a + off * normal)
    p = np.concatenate(pts)
    return p[:, 0], p[:, 1]


# --------------------------------------------------------------------------------------------------
# Exactness on the tiny demo
# --------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(st.floats(120.15, 122.02), st.floats(31.58, 32.76)),
        min_size=1,
        max_size=300,
    )
)
def test_random_points_match_shapely(grids, index100, pts):
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    got = codes_of(assign_xy(x, y, index100), grids)
    assert list(got) == list(reference_codes(x, y, grids))


def test_random_points_match_brute_force_loop(grids, index100):
    rng = np.random.default_rng(7)
    b = grids.total_bounds
    x = rng.uniform(b[0], b[2], 300)
    y = rng.uniform(b[1], b[3], 300)
    got = codes_of(assign_xy(x, y, index100), grids)
    expected = brute_codes(x, y, grids)
    assert list(got) == expected
    assert any(e is None for e in expected) and any(e is not None for e in expected)


@pytest.fixture(scope="module")
def boundary_sample(grids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A third of :func:`boundary_points` (deterministic) and their reference codes."""
    x, y = boundary_points(grids)
    keep = np.random.default_rng(2).random(len(x)) < 1 / 3
    x, y = x[keep], y[keep]
    return x, y, reference_codes(x, y, grids)


@pytest.mark.parametrize("cell_m", [20.0, 100.0, 2_000.0])
def test_boundary_points_match_shapely(grids, index100, boundary_sample, cell_m):
    index = index100 if cell_m == 100.0 else GridIndex.build(grids, cell_m=cell_m)
    x, y, expected = boundary_sample
    rows, stats = index.lookup_rows(x, y)
    got = codes_of(rows, grids)
    assert list(got) == list(expected)
    # Vertices and shared edges are covered by two or more grids; shapely decided the degenerate ones.
    assert stats["on_edge"] > 0
    assert 0 < stats["shapely_checked"] < stats["exact_checked"]


def test_vertices_shared_by_three_grids_go_to_smallest_code(grids, index100):
    xy = shapely.get_coordinates(grids.geometry.to_numpy())
    tree = shapely.STRtree(grids.geometry.to_numpy())
    q, t = tree.query(shapely.points(xy), predicate="intersects")
    n_cover = np.bincount(q, minlength=len(xy))
    multi = np.flatnonzero(n_cover >= 3)
    assert len(multi) > 0, "the tiny demo should have vertices shared by 3+ grids"
    x, y = xy[multi, 0], xy[multi, 1]
    got = codes_of(assign_xy(x, y, index100), grids)
    codes = grids["grid_code"].to_numpy()
    for i, p in enumerate(multi):
        assert got[i] == min(codes[t[q == p]])


def test_incidents_match_shapely(grids, districts, incidents):
    out = assign_points(incidents, grids, districts)
    x = shapely.get_x(incidents.geometry.to_numpy())
    y = shapely.get_y(incidents.geometry.to_numpy())
    expected = reference_codes(x, y, grids)
    assert list(out["grid_code"].astype(object).where(out["grid_code"].notna(), None)) == list(expected)
    s = out.attrs["assign_summary"]
    assert s["points"] == len(incidents)
    assert s["assigned"] == sum(e is not None for e in expected)
    assert s["outside"] == s["points"] - s["assigned"]
    assert s["exact_checked"] > 0


def test_many_candidates_per_cell_use_shapely(grids):
    index = GridIndex.build(grids, cell_m=200_000)  # a few cells, each with 100+ candidate grids
    assert index.shapely_only.any()
    x, y = boundary_points(grids.iloc[:30])
    rng = np.random.default_rng(3)
    b = grids.total_bounds
    x = np.concatenate([x[::4], rng.uniform(b[0], b[2], 500)])
    y = np.concatenate([y[::4], rng.uniform(b[1], b[3], 500)])
    rows, stats = index.lookup_rows(x, y)
    assert list(codes_of(rows, grids)) == list(reference_codes(x, y, grids))
    assert stats["shapely_checked"] > 0


# --------------------------------------------------------------------------------------------------
# The raster itself
# --------------------------------------------------------------------------------------------------


def _cell_boxes(index: GridIndex, cells: np.ndarray, grow: float = 1e-6) -> np.ndarray:
    nx = index.shape[1]
    i, j = cells % nx, cells // nx
    gx, gy = grow * index.dx, grow * index.dy
    return shapely.box(
        index.x0 + i * index.dx - gx,
        index.y0 + j * index.dy - gy,
        index.x0 + (i + 1) * index.dx + gx,
        index.y0 + (j + 1) * index.dy + gy,
    )


def check_raster_invariants(index: GridIndex, grids: gpd.GeoDataFrame, cells: np.ndarray) -> None:
    """Pure cells lie in the interior of their grid alone; outside cells touch no grid; the
    candidates of an uncertain cell include every grid touching it."""
    geoms = index.geoms
    tree = shapely.STRtree(geoms)
    v = index.raster.reshape(-1)[cells]
    boxes = _cell_boxes(index, cells)
    q, t = tree.query(boxes, predicate="intersects")
    touching = pd.Series(t, index=q).groupby(level=0).apply(set).reindex(range(len(cells)))
    pure = v < UNCERTAIN
    outside = v == OUTSIDE
    for i in np.flatnonzero(pure):
        assert touching[i] == {int(v[i])}
        assert shapely.contains_properly(geoms[int(v[i])], boxes[i])
    for i in np.flatnonzero(outside):
        assert not isinstance(touching[i], set)
    for i in np.flatnonzero(~pure & ~outside):
        k = int(v[i] & ~UNCERTAIN)
        cands = set(index.cand_ids[index.cand_offsets[k] : index.cand_offsets[k + 1]].tolist())
        if isinstance(touching[i], set):
            assert touching[i] <= cands
    assert pure.any() and outside.any() and (~pure & ~outside).any()


def test_raster_invariants_on_tiny_demo(grids, index100):
    rng = np.random.default_rng(11)
    cells = rng.choice(index100.raster.size, 20_000, replace=False)
    # Also every cell near a few grid vertices, where boundaries are dense.
    xy = shapely.get_coordinates(grids.geometry.to_numpy())[::40]
    i = ((xy[:, 0] - index100.x0) / index100.dx).astype(int)
    j = ((xy[:, 1] - index100.y0) / index100.dy).astype(int)
    near = np.concatenate([(j + dj) * index100.shape[1] + (i + di) for di in (-1, 0, 1) for dj in (-1, 0, 1)])
    check_raster_invariants(index100, grids, np.unique(np.concatenate([cells, near])))


def test_edges_clipping_cell_corners_are_marked():
    # Long thin slanted triangles: their edges cut many cells across a corner, with no vertex inside.
    tri = [
        Polygon([(120.0, 32.0), (120.05, 32.0013), (120.0, 32.0021)]),
        Polygon([(120.05, 32.0013), (120.05, 32.0051), (120.0, 32.0021)]),
        Polygon([(120.0, 32.0021), (120.05, 32.0051), (120.0, 32.0077)]),
    ]
    g = frame(["320613001001003", "320613001001001", "320613001001002"], tri)
    index = GridIndex.build(g, cell_m=37.0)
    check_raster_invariants(index, g, np.arange(index.raster.size))


def test_edges_through_cell_centres():
    # Same outer box, hence the same raster; then edges placed exactly through cell centres, where
    # the fill cannot be trusted to classify the centre: those cells must fall back to shapely.
    outer = box(120.5, 32.0, 120.52, 32.015)
    first = GridIndex.build(frame(["320613001001001"], [outer]), cell_m=30)
    nx = first.shape[1]
    xe = float(first.centres(np.array([20]))[0][0])
    ye = float(first.centres(np.array([15 * nx]))[1][0])
    parts = [
        Polygon([(120.5, 32.0), (xe, 32.0), (xe, ye), (120.5, ye)]),
        Polygon([(xe, 32.0), (120.52, 32.0), (120.52, 32.015), (xe, 32.015), (xe, ye)]),
        Polygon([(120.5, ye), (xe, ye), (xe, 32.015), (120.5, 32.015)]),
    ]
    g = frame(["320613001001002", "320613001001003", "320613001001001"], parts)
    index = GridIndex.build(g, cell_m=30)
    assert (index.x0, index.dx, index.y0, index.dy) == (first.x0, first.dx, first.y0, first.dy)
    assert index.shapely_only.any()
    rng = np.random.default_rng(9)
    m = 4000
    off = rng.uniform(-1.5, 1.5, m) * index.dx
    x = np.concatenate([xe + off, rng.uniform(120.5, 120.52, m), [xe, xe, 120.502]])
    y = np.concatenate([rng.uniform(32.0, 32.015, m), ye + off * index.dy / index.dx, [ye, 32.001, ye]])
    rows, stats = index.lookup_rows(x, y)
    assert list(codes_of(rows, g)) == list(reference_codes(x, y, g))
    assert stats["on_edge"] >= 3


def test_orientation_signs_are_exact_or_undecided():
    # Kettner et al.'s "classroom example": near-collinear points where the plain float determinant
    # takes the wrong sign. A non-zero _orient must always be the exact sign.
    from fractions import Fraction

    from geo.assign import _orient

    steps = np.r_[np.arange(64), 2**20, 2**30]  # the last two: clearly off the line, decidable
    i, j = np.meshgrid(steps, steps)
    px = 0.5 + i.ravel() * 2.0**-53
    py = 0.5 + j.ravel() * 2.0**-53
    q, r = (12.0, 12.0), (24.0, 24.0)
    # orient(p, q, r), pivot p, as in the paper (a cyclic permutation keeps the sign).
    got = _orient(px, py, np.full_like(px, q[0]), np.full_like(px, q[1]), np.full_like(px, r[0]),
                  np.full_like(px, r[1]))  # fmt: skip
    exact = []
    for a, b in zip(px, py, strict=True):
        d = (Fraction(q[0]) - Fraction(a)) * (Fraction(r[1]) - Fraction(b)) - (
            Fraction(q[1]) - Fraction(b)
        ) * (Fraction(r[0]) - Fraction(a))
        exact.append((d > 0) - (d < 0))
    exact = np.array(exact)
    naive = np.sign((q[0] - px) * (r[1] - py) - (q[1] - py) * (r[0] - px))
    assert np.any((naive != exact) & (naive != 0))  # the example does defeat plain floats
    decided = got != 0
    assert np.array_equal(got[decided], exact[decided])
    assert decided.any()


# --------------------------------------------------------------------------------------------------
# Crafted layers: exact shared edges and vertices, overlaps, invalid grids
# --------------------------------------------------------------------------------------------------

STEP = 2.0**-8  # dyadic: midpoints of lattice edges are exact doubles lying exactly on the edge


@pytest.fixture(scope="module")
def lattice() -> gpd.GeoDataFrame:
    """3 x 3 squares on a dyadic lattice, codes scrambled against row order."""
    x0, y0 = 120.5, 32.0
    geoms, codes = [], []
    scramble = [5, 2, 8, 1, 9, 4, 7, 3, 6]
    for r in range(3):
        for c in range(3):
            geoms.append(box(x0 + c * STEP, y0 + r * STEP, x0 + (c + 1) * STEP, y0 + (r + 1) * STEP))
            codes.append(f"320613001001{scramble[3 * r + c]:03d}")
    return frame(codes, geoms)


def test_lattice_shared_edges_and_vertices(lattice):
    x0, y0, s = 120.5, 32.0, STEP
    index = GridIndex.build(lattice, cell_m=50)
    code = dict(zip(range(9), lattice["grid_code"], strict=True))  # row r, col c -> position 3r + c
    pts = {
        "edge between (0,0) and (0,1)": ((x0 + s, y0 + 0.5 * s), min(code[0], code[1])),
        "edge between (0,1) and (1,1)": ((x0 + 1.5 * s, y0 + s), min(code[1], code[4])),
        "vertex of four": ((x0 + s, y0 + s), min(code[0], code[1], code[3], code[4])),
        "vertex of four, top right": ((x0 + 2 * s, y0 + 2 * s), min(code[4], code[5], code[7], code[8])),
        "outer corner": ((x0, y0), code[0]),
        "outer edge": ((x0 + 2.5 * s, y0 + 3 * s), code[8]),
        "just inside the outer edge": ((x0 + 2.5 * s, y0 + 3 * s - 1e-9), code[8]),
        "just outside the outer edge": ((x0 + 2.5 * s, y0 + 3 * s + 1e-9), None),
        "just left of an inner edge": ((x0 + s - 1e-9, y0 + 0.5 * s), code[0]),
        "just right of an inner edge": ((x0 + s + 1e-9, y0 + 0.5 * s), code[1]),
        "centre": ((x0 + 1.5 * s, y0 + 1.5 * s), code[4]),
        "far away": ((100.0, 20.0), None),
    }
    x = np.array([p[0][0] for p in pts.values()])
    y = np.array([p[0][1] for p in pts.values()])
    got = list(codes_of(assign_xy(x, y, index), lattice))
    assert got == [p[1] for p in pts.values()]
    assert got == list(reference_codes(x, y, lattice)) == brute_codes(x, y, lattice)


def test_lattice_dense_edge_points_match_shapely(lattice):
    index = GridIndex.build(lattice, cell_m=30)
    x0, y0, s = 120.5, 32.0, STEP
    t = np.arange(0, 3 * 64 + 1) / 64.0 * s  # every 1/64 of a square along each lattice line
    lines = np.arange(4) * s
    x = np.concatenate([np.repeat(x0 + lines, len(t)), np.tile(x0 + t, 4)])
    y = np.concatenate([np.tile(y0 + t, 4), np.repeat(y0 + lines, len(t))])
    rows, stats = index.lookup_rows(x, y)
    assert list(codes_of(rows, lattice)) == list(reference_codes(x, y, lattice))
    assert stats["on_edge"] > 100


def test_overlapping_grids_smallest_code_wins():
    a = box(120.0, 32.0, 120.01, 32.01)
    b = box(120.005, 32.0, 120.015, 32.01)
    g = frame(["320613001001002", "320613001001001"], [a, b])
    pts = gpd.GeoDataFrame(
        {"id": ["only a", "overlap", "only b", "outside", "edge of a inside b"]},
        geometry=[Point(120.002, 32.005), Point(120.007, 32.005), Point(120.012, 32.005),
                  Point(120.02, 32.005), Point(120.01, 32.005)],
        crs=4326,
    )  # fmt: skip
    out = assign_points(pts, g)
    assert list(out["grid_code"].astype(object).where(out["grid_code"].notna(), None)) == [
        "320613001001002",
        "320613001001001",
        "320613001001001",
        None,
        "320613001001001",
    ]
    s = out.attrs["assign_summary"]
    assert s["on_edge"] == 2  # the overlap point and the edge point are covered by both
    assert (s["assigned"], s["outside"]) == (4, 1)


def test_duplicate_codes_earlier_row_wins():
    sq = box(120.0, 32.0, 120.01, 32.01)
    g = frame(["320613001001001", "320613001001001"], [sq, sq], ["32061350010001", "32061350010002"])
    rows = assign_xy([120.005], [32.005], get_index(g))
    assert rows.tolist() == [0]


def test_invalid_grid_is_judged_by_shapely():
    bowtie = Polygon([(120.0, 32.0), (120.01, 32.01), (120.01, 32.0), (120.0, 32.01), (120.0, 32.0)])
    ok = box(120.01, 32.0, 120.02, 32.01)
    g = frame(["320613001001001", "320613001001002"], [bowtie, ok])
    index = GridIndex.build(g, cell_m=20)
    assert index.n_irregular == 1
    rng = np.random.default_rng(5)
    x = rng.uniform(119.999, 120.021, 3000)
    y = rng.uniform(31.999, 32.011, 3000)
    rows, stats = index.lookup_rows(x, y)
    assert list(codes_of(rows, g)) == list(reference_codes(x, y, g))
    assert stats["shapely_checked"] > 0


def test_grids_with_missing_geometry_and_holes():
    outer = Polygon(
        [(120.0, 32.0), (120.03, 32.0), (120.03, 32.03), (120.0, 32.03)],
        [[(120.01, 32.01), (120.02, 32.01), (120.02, 32.02), (120.01, 32.02)]],
    )
    g = frame(
        ["320613001001003", "320613001001001", "320613001001002"],
        [outer, None, box(120.012, 32.012, 120.018, 32.018)],
    )
    index = GridIndex.build(g, cell_m=25)
    pts = [(120.005, 32.005), (120.015, 32.015), (120.011, 32.011), (120.01, 32.015), (120.04, 32.0)]
    x, y = np.array(pts).T
    got = list(codes_of(assign_xy(x, y, index), g))
    assert got == ["320613001001003", "320613001001002", None, "320613001001003", None]
    assert got == list(reference_codes(x, y, g.dropna(subset=["geometry"])))


def test_grid_with_non_finite_coordinates_gets_nothing():
    bad = Polygon([(np.inf, 32.0), (np.inf, 32.01), (-np.inf, 32.01)])
    ok = box(120.0, 32.0, 120.01, 32.01)
    g = frame(["320613001001001", "320613001001002"], [bad, ok])
    index = GridIndex.build(g, cell_m=20)
    ny, nx = index.shape
    assert nx * ny < 10_000  # the extent comes from the finite grid alone
    rows = assign_xy([120.005, 120.02, 120.01], [32.005, 32.005, 32.005], index)
    assert rows.tolist() == [1, -1, 1]


def test_empty_layer_assigns_nothing():
    g = frame(["320613001001001"], [None])
    rows = assign_xy([120.0, np.nan], [32.0, np.nan], GridIndex.build(g))
    assert rows.tolist() == [-1, -1]


# --------------------------------------------------------------------------------------------------
# assign_points: columns, missing geometry, CRS
# --------------------------------------------------------------------------------------------------


def test_missing_and_empty_geometry_count_as_outside(lattice):
    x0, y0, s = 120.5, 32.0, STEP
    pts = gpd.GeoDataFrame(
        {"n": [1, 2, 3, 4, 5]},
        geometry=[Point(x0 + 0.5 * s, y0 + 0.5 * s), None, Point(), Point(np.nan, np.nan),
                  Point(x0 + 1.5 * s, y0 + 0.5 * s)],
        crs=4326,
        index=[10, 11, 12, 13, 14],
    )  # fmt: skip
    out = assign_points(pts, lattice)
    assert list(out.index) == [10, 11, 12, 13, 14]
    assert out["grid_code"].isna().tolist() == [False, True, True, True, False]
    assert out["district_code"].isna().tolist() == [False, True, True, True, False]
    s = out.attrs["assign_summary"]
    assert s == {
        "points": 5,
        "assigned": 2,
        "outside": 3,
        "missing_geometry": 3,
        "on_edge": 0,
        "exact_checked": s["exact_checked"],
        "shapely_checked": s["shapely_checked"],
    }
    assert "grid_code" not in pts.columns  # a copy: the input is untouched


def test_empty_points_and_repeated_index(lattice):
    empty = gpd.GeoDataFrame({"n": []}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    out = assign_points(empty, lattice)
    assert len(out) == 0 and "grid_code" in out.columns
    assert out.attrs["assign_summary"]["points"] == 0
    s = STEP
    pts = gpd.GeoDataFrame(
        {"grid_code": [1, 2]},  # an old column of the same name is replaced
        geometry=[Point(120.5 + 0.5 * s, 32.0 + 0.5 * s), Point(0, 0)],
        crs=4326,
        index=[5, 5],
    )
    out = assign_points(pts, lattice)
    assert list(out.index) == [5, 5]
    assert out["grid_code"].iloc[0] == lattice["grid_code"].iloc[0]
    assert pd.isna(out["grid_code"].iloc[1])


def test_hierarchy_columns(grids, districts, incidents):
    sample = incidents.iloc[:3000]
    out = assign_points(sample, grids, districts)
    got = out[out["grid_code"].notna()]
    assert len(got) > 2900
    by_grid = grids.set_index("grid_code")["district_code"]
    by_district = districts.set_index("district_code")
    assert (got["district_code"] == by_grid.reindex(got["grid_code"]).to_numpy()).all()
    assert (got["station_code"] == by_district["station_code"].reindex(got["district_code"]).to_numpy()).all()
    assert (got["bureau_code"] == by_district["bureau_code"].reindex(got["district_code"]).to_numpy()).all()
    assert (got["village_code"] == got["grid_code"].str.slice(0, 12)).all()
    assert (got["township_code"] == got["grid_code"].str.slice(0, 9)).all()
    assert (got["county_code"] == got["grid_code"].str.slice(0, 6)).all()
    assert got["station_code"].notna().all()
    without = assign_points(sample, grids)
    assert without["station_code"].isna().all() and without["bureau_code"].isna().all()
    pd.testing.assert_series_equal(without["district_code"], out["district_code"])


def test_points_in_a_projected_crs_are_converted(grids, incidents, index100):
    sample = incidents.iloc[:2000]
    out_lonlat = assign_points(sample, grids, index=index100)
    out_metres = assign_points(sample.to_crs(4549), grids, index=index100)
    assert out_metres.crs.to_epsg() == 4326
    pd.testing.assert_series_equal(out_lonlat["grid_code"], out_metres["grid_code"])


def test_non_point_geometry_is_rejected(lattice):
    pts = gpd.GeoDataFrame(geometry=[Point(120.5, 32.0), box(120.5, 32.0, 120.6, 32.1)], crs=4326)
    with pytest.raises(ValueError, match="point geometries"):
        assign_points(pts, lattice)


def test_index_of_another_layer_is_rejected(lattice, grids, index100):
    pts = gpd.GeoDataFrame(geometry=[Point(120.5, 32.0)], crs=4326)
    with pytest.raises(ValueError, match="index built for"):
        assign_points(pts, lattice, index=index100)


def test_assign_xy_rows_and_nan(lattice):
    index = GridIndex.build(lattice, cell_m=50)
    s = STEP
    rows = assign_xy(
        [120.5 + 2.5 * s, np.nan, 0.0, 120.5 + 0.5 * s], [32.0 + 0.5 * s, 32.0, 0.0, np.nan], index
    )
    assert rows.dtype == np.int64
    assert rows.tolist() == [2, -1, -1, -1]


# --------------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------------


def test_cache_reuses_and_rebuilds(lattice):
    clear_index_cache()
    first = get_index(lattice)
    assert get_index(lattice) is first
    assert get_index(lattice.copy()) is first  # same content, another object
    assert get_index(lattice, cell_m=40) is not first

    moved = lattice.copy()
    moved.loc[0, "geometry"] = box(120.5, 32.0, 120.5 + STEP, 32.0 + STEP * 1.01)
    assert grid_layer_key(moved) != grid_layer_key(lattice)
    rebuilt = get_index(moved)
    assert rebuilt is not first

    recoded = lattice.copy()
    recoded.loc[0, "grid_code"] = "320613001001099"
    assert get_index(recoded) is not first
    assert get_index(lattice) is first  # the earlier layer is still cached

    clear_index_cache()
    assert get_index(lattice) is not first
