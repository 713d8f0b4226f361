"""Tests for layers/: browser geometry, colour scales, deck.gl layers, the offline base, figures, 3D view."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import dash
import deckgl_dash
import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import shapely

from geo.heat import cells_of, h3_aggregate, kde_surface, monthly_series, time_profile
from geo.kpi import kpi_table, per_grid_base, rank, read_layers, three_up_four_down, yoy_by_category
from layers import basemap, colours, deck, figures, geometry, hex3d

CJK = re.compile(r"[\u4e00-\u9fff]")
URL = re.compile(r"https?://", re.IGNORECASE)
LEVELS_FINE_TO_COARSE = ("grid", "village", "township", "county", "city")


# --------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def grids(tiny_demo) -> gpd.GeoDataFrame:
    return gpd.read_parquet(Path(tiny_demo) / "grids.parquet")


@pytest.fixture(scope="module")
def incidents(tiny_demo) -> gpd.GeoDataFrame:
    return gpd.read_parquet(Path(tiny_demo) / "incidents.parquet")


@pytest.fixture(scope="module")
def admin(tiny_demo) -> gpd.GeoDataFrame:
    return gpd.read_parquet(Path(tiny_demo) / "admin_units.parquet")


@pytest.fixture(scope="module")
def grid_fc(grids) -> dict:
    return geometry.level_geojson(grids, "township", "grid_code", "grid_name")


@pytest.fixture(scope="module")
def counts(grids, incidents) -> pd.Series:
    return incidents.groupby("grid_code").size().reindex(grids["grid_code"], fill_value=0)


def _metric(geoms) -> np.ndarray:
    return gpd.GeoSeries(np.asarray(geoms, dtype=object), crs=4326).to_crs(4549).to_numpy()


def _overlap_m2(geoms_m) -> float:
    """Area counted twice: sum of areas minus the area of their union."""
    return float(shapely.area(geoms_m).sum() - shapely.area(shapely.union_all(geoms_m)))


def _jittered_coverage(n: int = 4, seed: int = 0) -> np.ndarray:
    """An n × n block of quadrilaterals sharing jittered vertices (a valid coverage), lon/lat near Nantong
    with 7-decimal coordinates."""
    rng = np.random.default_rng(seed)
    xs = 120.9 + np.arange(n + 1) * 0.01
    ys = 32.0 + np.arange(n + 1) * 0.01
    gx, gy = np.meshgrid(xs, ys)
    gx = np.round(gx + rng.uniform(-0.003, 0.003, gx.shape) * (gx > xs[0]) * (gx < xs[-1]), 7)
    gy = np.round(gy + rng.uniform(-0.003, 0.003, gy.shape) * (gy > ys[0]) * (gy < ys[-1]), 7)
    cells = []
    for i in range(n):
        for j in range(n):
            ring = [(gx[i, j], gy[i, j]), (gx[i, j + 1], gy[i, j + 1]), (gx[i + 1, j + 1], gy[i + 1, j + 1])]
            ring += [(gx[i + 1, j], gy[i + 1, j])]
            cells.append(shapely.Polygon(ring))
    return np.array(cells, dtype=object)


# --------------------------------------------------------------------------------------------------
# geometry


def test_payload_falls_with_level(grids):
    sizes = [
        geometry.payload_bytes(geometry.level_geojson(grids, lvl, "grid_code"))
        for lvl in LEVELS_FINE_TO_COARSE
    ]
    assert all(a > b for a, b in itertools.pairwise(sizes)), sizes
    assert sizes[-1] < 0.6 * sizes[0]


def test_vertices_fall_with_level(grids):
    verts = [
        shapely.get_num_coordinates(geometry.prepare(grids, lvl).geometry.to_numpy()).sum()
        for lvl in LEVELS_FINE_TO_COARSE
    ]
    assert all(a >= b for a, b in itertools.pairwise(verts)), verts
    assert verts[-1] < verts[0]


@pytest.mark.parametrize("tolerance", [20.0, 150.0])
def test_coverage_simplify_keeps_the_tiling(grids, tolerance):
    original = _metric(grids.geometry)
    simplified = _metric(geometry.simplify_coverage(grids, tolerance))
    naive = shapely.simplify(original, tolerance)  # per polygon: neighbours drift apart
    total = shapely.area(original).sum()
    assert _overlap_m2(simplified) < 1e-9 * total
    assert _overlap_m2(naive) > 1e-5 * total  # the check can fail: plain simplify overlaps
    union_change = abs(
        shapely.area(shapely.union_all(simplified)) - shapely.area(shapely.union_all(original))
    )
    assert union_change < 1e-3 * total
    assert shapely.get_num_coordinates(simplified).sum() < shapely.get_num_coordinates(original).sum()


def test_quantise_rounds_and_keeps_shared_edges():
    cover = _jittered_coverage()
    assert shapely.coverage_is_valid(cover)
    q = geometry.quantise(cover, 5)
    xy = shapely.get_coordinates(q)
    assert np.allclose(xy * 1e5, np.round(xy * 1e5), rtol=0, atol=1e-6)
    before = shapely.get_coordinates(cover) * 1e5
    assert not np.allclose(before, np.round(before), rtol=0, atol=1e-6)
    assert shapely.is_valid(q).all()
    assert shapely.coverage_is_valid(q)  # shared vertices rounded alike: still edge-matched
    assert _overlap_m2(_metric(q)) < 1e-3


def test_quantise_repairs_what_rounding_breaks():
    # a spike thinner than the rounding step folds onto itself when rounded to 3 decimals
    spike = shapely.Polygon([(0, 0), (1, 0), (1, 1), (0.5004, 1), (0.5002, 0.5), (0.5, 1), (0, 1)])
    assert spike.is_valid
    rounded = shapely.transform(spike, lambda c: np.round(c, 3))
    assert not rounded.is_valid
    fixed = geometry.quantise(np.array([spike], dtype=object), 3)[0]
    assert fixed.is_valid and fixed.area == pytest.approx(spike.area, rel=1e-2)


def test_simplification_drops_only_secondary_slivers():
    big = shapely.box(120.9, 32.0, 120.91, 32.01)
    sliver = shapely.box(120.92, 32.0, 120.92002, 32.00002)  # ~2 m × 2 m
    alone = shapely.box(120.95, 32.0, 120.95002, 32.00002)  # a whole unit that small stays
    out = geometry.simplify_coverage(
        np.array([shapely.MultiPolygon([big, sliver]), alone], dtype=object), 0, min_part_m2=100
    )
    assert out[0].geom_type == "Polygon" and out[0].equals_exact(big, 1e-9)
    assert not out[1].is_empty


def test_feature_collection_is_compact_and_aligned(grids, counts):
    frame = geometry.prepare(grids.head(30), "village")
    values = counts.iloc[::-1].astype(float)  # indexed by code, in another order
    values.iloc[0] = np.nan
    fc = geometry.feature_collection(frame, "grid_code", "grid_name", values)
    feats = fc["features"]
    assert [f["id"] for f in feats] == list(range(30))
    assert all(set(f["properties"]) == {"code", "name", "value"} for f in feats)
    by_code = {f["properties"]["code"]: f["properties"]["value"] for f in feats}
    for code in frame["grid_code"]:
        expected = values.get(code)
        assert (by_code[code] is None) if pd.isna(expected) else by_code[code] == pytest.approx(expected)
    assert geometry.feature_codes(fc) == frame["grid_code"].tolist()
    assert json.loads(geometry.feature_collection_json(frame, "grid_code")) == geometry.feature_collection(
        frame, "grid_code"
    )
    w, s, e, n = geometry.bounds_of(fc)
    assert w < e and s < n and 120 < w < 122


def test_payload_bytes_counts_chinese_as_dash_sends_it():
    obj = {"name": "网格"}
    assert geometry.payload_bytes(obj, encoding="utf8") == len('{"name":"网格"}'.encode())
    assert geometry.payload_bytes(obj) == len('{"name":"\\u7f51\\u683c"}')


# --------------------------------------------------------------------------------------------------
# colours


@pytest.mark.parametrize("scheme", ["quantiles", "equal_interval", "fisher_jenks", "natural_breaks"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_classes_are_monotone_with_chinese_labels(counts, scheme, theme):
    cls = colours.classify(counts.to_numpy(), scheme, 5, theme=theme, unit="起")
    assert list(cls.bins) == sorted(cls.bins) and len(set(cls.bins)) == len(cls.bins)
    idx = cls.classify(np.sort(counts.to_numpy()))
    assert (np.diff(idx) >= 0).all() and idx.min() == 0 and idx.max() == cls.k - 1
    lum = [colours._relative_luminance(c) for c in cls.colours]
    steps = np.diff(lum)
    assert (steps < 0).all() if theme == "light" else (steps > 0).all()
    assert all(CJK.search(label) for label in cls.labels)
    assert cls.no_data_label == "无数据"
    legend = cls.legend()
    assert [e["label"] for e in legend] == [*cls.labels, "无数据"] and legend[0]["colour"].startswith("rgba(")


def test_classify_edges_and_missing():
    cls = colours.classify([1, 2, 3, 10, 20, 30, 100], "fisher_jenks", 3)
    assert cls.bins == (10.0, 30.0, 100.0)  # least within-class squares: {1, 2, 3, 10} {20, 30} {100}
    assert cls.classify([0, 10, 10.5, 30, 31, 1e9, np.nan, None]).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert cls.labels == ("10及以下", "11–30", "31及以上")
    few = colours.classify([5, 5, 5], "quantiles", 5)
    assert few.k == 1 and few.classify([5]).tolist() == [0]
    assert few.labels == ("5",)
    # a class of one whole number says just it: never "2–2 起" nor "0 起及以下" for counts
    small = colours.classify([0, 0, 1, 2, 2, 3, 7], "fisher_jenks", 5, unit="起")
    assert small.labels == ("0 起", "1 起", "2 起", "3 起", "4 起及以上"), small.labels
    assert colours.classify([0, 1, 1, 2], "fisher_jenks", 3, unit="起").labels == ("0 起", "1 起", "2 起")
    assert not any(re.search(r"(\d+)–\1\b", label) for label in small.labels)
    spread = colours.classify([0, 1, 2, 5, 9, 14, 30, 31, 40], "fisher_jenks", 3, unit="起")
    assert spread.labels == ("5 起及以下", "6–14 起", "15 起及以上"), spread.labels


@pytest.mark.filterwarnings("ignore:Numba not installed")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fisher_jenks_equals_mapclassify(seed):
    rng = np.random.default_rng(seed)
    y = np.round(rng.gamma(2.0, 10.0, 60), 3)
    assert np.allclose(colours.fisher_jenks_bins(y, 5), mapclassify.FisherJenks(y, k=5).bins)


def _within_ssd(y: np.ndarray, bins: np.ndarray) -> float:
    k = np.searchsorted(bins, y, side="left")
    return float(sum(((y[k == c] - y[k == c].mean()) ** 2).sum() for c in np.unique(k)))


@pytest.mark.filterwarnings("ignore:Numba not installed")
def test_fisher_jenks_with_ties_is_optimal():
    rng = np.random.default_rng(7)
    y = rng.negative_binomial(2, 0.2, 90).astype(float)  # many ties
    ours = _within_ssd(y, colours.fisher_jenks_bins(y, 4))
    theirs = _within_ssd(y, mapclassify.FisherJenks(y, k=4).bins)
    assert ours <= theirs + 1e-9


def test_gi_classes_diverge_and_match_hotspots():
    from geo.hotspots import GI_CLASSES, NOT_TESTABLE

    cls = colours.gi_classes()
    assert dict(zip(cls.categories, cls.labels, strict=True)) == GI_CLASSES
    assert cls.no_data_label == NOT_TESTABLE
    hot, cold = cls.colours[:3], cls.colours[4:]
    assert all(c[0] > c[2] for c in hot) and all(c[2] > c[0] for c in cold)
    assert cls.classify([3.0, -3, 0, np.nan]).tolist() == [0, 6, 3, 7]
    assert [c[3] for c in cls.colours][3] < cls.colours[0][3]  # 不显著 stays faint


def test_category_and_work_order_palettes():
    cls = colours.category_classes(theme="dark")
    assert cls.labels[:2] == ("刑事", "治安") and len(set(cls.colours)) == len(cls.colours)
    assert cls.classify(["电诈", "未知", None]).tolist() == [5, 8, 8]
    wo = colours.work_order_classes()
    assert wo.labels[0] == "待签收" and "超期" in wo.labels


# --------------------------------------------------------------------------------------------------
# deck layers


def _deckgl_dash_compiler() -> tuple[re.Pattern, str, str]:
    """The operator test and the ``new Function`` wrapper deckgl-dash applies to ``@@=`` strings, read
    from the installed bundle (so the test follows the version installed)."""
    bundle = (Path(deckgl_dash.__file__).parent / "deckgl_dash.min.js").read_text(encoding="utf-8")
    m = re.search(
        r'startsWith\("@@="\)\)\{var t=e\.slice\(3\);return/(.+?)/\.test\(t\)\?function\(e\)\{try\{var t='
        r'new Function\("d","(.*?)"\.concat\(e,"(.*?)"\)\)',
        bundle,
    )
    assert m, "deckgl-dash no longer compiles @@= expressions the way layers.deck assumes"
    return re.compile(m.group(1)), m.group(2), m.group(3)


def _run_accessor(expr: str, objects: list[dict]) -> list:
    """Evaluate a deckgl-dash accessor in node exactly as the bundle compiles it."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    _, head, tail = _deckgl_dash_compiler()
    script = (
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        f'const f = new Function("d", "{head}" + input.expr + "{tail}");'
        "process.stdout.write(JSON.stringify(input.objects.map(f)));"
    )
    out = subprocess.run(
        [node, "-e", script],
        input=json.dumps({"expr": expr[3:], "objects": objects}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def test_grid_layer_serialises_with_update_triggers(grid_fc, counts):
    layer = deck.grid_layer(grid_fc, counts, None)
    assert layer["@@type"] == "GeoJsonLayer" and layer["pickable"] is True
    assert layer["getFillColor"].startswith("@@=")
    assert set(layer["updateTriggers"]) == {"getFillColor"}
    text = json.dumps(layer, ensure_ascii=False)
    assert json.loads(text)["updateTriggers"] == layer["updateTriggers"]
    operators, _, _ = _deckgl_dash_compiler()
    assert operators.search(layer["getFillColor"][3:])  # compiled as JavaScript, not read as a path


def test_fill_expression_gives_each_feature_its_class_colour(grid_fc, counts):
    cls = colours.classify(counts.to_numpy(), "quantiles", 5)
    codes = geometry.feature_codes(grid_fc)
    values = counts.reindex(codes).to_numpy().astype(float)
    values[3] = np.nan
    update = deck.recolour(values, cls)
    feats = grid_fc["features"][:40]
    got = _run_accessor(update["getFillColor"], [{"id": f["id"], "properties": {}} for f in feats])
    assert got == cls.rgba(values[:40]).tolist()


def test_recolour_changes_the_trigger_only_when_colours_change(grid_fc, counts):
    codes = geometry.feature_codes(grid_fc)
    cls = colours.classify(counts.to_numpy())
    a = deck.recolour(counts, cls, codes=codes)
    b = deck.recolour(counts.copy(), cls, codes=codes)
    c = deck.recolour(counts.iloc[::-1].to_numpy(), cls)
    assert a == b
    assert c["updateTriggers"]["getFillColor"] != a["updateTriggers"]["getFillColor"]
    patch = deck.patch_layer(dash.Patch(), 2, c)
    ops = patch.to_plotly_json()["operations"]
    assert {tuple(o["location"]) for o in ops} == {(2, "getFillColor"), (2, "updateTriggers", "getFillColor")}
    # one byte a feature, not the geometry
    assert geometry.payload_bytes(c) < len(codes) + 600


def test_grid_layer_from_a_url(grid_fc, counts):
    codes = geometry.feature_codes(grid_fc)
    by_url = deck.grid_layer("/geo/grids-township.json", counts, codes=codes)
    inline = deck.grid_layer(grid_fc, counts)
    assert by_url["data"] == "/geo/grids-township.json"
    assert by_url["getFillColor"] == inline["getFillColor"]
    plain = deck.grid_layer("/geo/grids-township.json")
    assert isinstance(plain["getFillColor"], list) and plain["updateTriggers"] == {"getFillColor": "constant"}


def test_recolour_by_code_needs_codes(counts):
    with pytest.raises(ValueError, match="codes"):
        deck.recolour(counts, colours.classify(counts))


def test_h3_layer(incidents):
    agg = h3_aggregate(incidents, 8)
    flat = deck.h3_layer(agg)
    tall = deck.h3_layer(agg, elevation=True)
    assert flat["@@type"] == "H3HexagonLayer" and flat["highPrecision"] is True and flat["extruded"] is False
    assert tall["extruded"] is True and "getElevation" in tall["updateTriggers"]
    assert len(flat["data"]) == len(agg) and set(flat["data"][0]) == {"h", "v", "k"}
    assert tall["elevationScale"] * agg["count"].max() == pytest.approx(3000.0)
    got = _run_accessor(flat["getFillColor"], flat["data"][:20])
    palette = colours.classify(agg["count"].to_numpy()).palette()
    assert got == [palette[r["k"]] for r in flat["data"][:20]]


def test_hotspot_layer_colours_gi_bins(grid_fc):
    codes = geometry.feature_codes(grid_fc)
    gi = pd.DataFrame(
        {"gi_bin": np.resize([3, 2, 1, 0, -1, -2, -3], len(codes)), "testable": True}, index=codes
    )
    gi.iloc[0, gi.columns.get_loc("testable")] = False
    layer = deck.hotspot_layer(grid_fc, gi)
    got = _run_accessor(layer["getFillColor"], [{"id": i} for i in range(8)])
    pal = colours.gi_classes().palette()
    assert got == [pal[7], pal[1], pal[2], pal[3], pal[4], pal[5], pal[6], pal[0]]
    cells = pd.DataFrame({"h3": ["88309d1315fffff", "88309d66c9fffff"]})
    hx = deck.hotspot_layer(cells, [3, -3])
    assert hx["@@type"] == "H3HexagonLayer" and [r["k"] for r in hx["data"]] == [0, 6]


def test_points_layer_sends_points_or_clusters(incidents):
    few = deck.points_layer(incidents.head(500))
    assert len(few) == 1 and few[0]["@@type"] == "ScatterplotLayer" and "@@binary" in few[0]["data"]
    assert few[0]["data"]["@@binary"]["length"] == 500
    many = deck.points_layer(incidents, max_points=1000, cluster_resolution=7)
    clusters, labels = many
    assert clusters["@@type"] == "ScatterplotLayer" and labels["@@type"] == "TextLayer"
    assert sum(r["n"] for r in clusters["data"]) == len(incidents)
    assert geometry.payload_bytes(many) < 1_000_000
    lon, lat = incidents.geometry.x.to_numpy(), incidents.geometry.y.to_numpy()
    kept = deck.points_layer(incidents, max_points=1000, cluster_resolution=7, cells=cells_of(lon, lat, 7))
    assert kept == many
    with pytest.raises(ValueError, match="resolution"):
        deck.points_layer(incidents, max_points=1000, cluster_resolution=8, cells=cells_of(lon, lat, 7))


def _png_size(data_url: str) -> tuple[int, int, bytes]:
    raw = __import__("base64").b64decode(data_url.split(",", 1)[1])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", raw[16:24])
    idat = raw[raw.index(b"IDAT") + 4 : raw.rindex(b"IEND") - 8]
    return w, h, zlib.decompress(idat)


def test_kde_layer_is_an_inline_bitmap(incidents):
    surface = kde_surface(incidents, 300.0, 200.0)
    layer = deck.kde_layer(surface, max_side=256)
    assert layer["@@type"] == "BitmapLayer" and layer["image"].startswith("data:image/png;base64,")
    w, h, pixels = _png_size(layer["image"])
    assert max(w, h) <= 256 and len(pixels) == h * (1 + 4 * w)
    corners = np.array(layer["bounds"])
    assert corners.shape == (4, 2)
    lon, lat = incidents.geometry.x, incidents.geometry.y
    assert corners[:, 0].min() < lon.min() and corners[:, 0].max() > lon.max()
    assert corners[:, 1].min() < lat.min() and corners[:, 1].max() > lat.max()
    alpha = np.frombuffer(pixels, np.uint8).reshape(h, 1 + 4 * w)[:, 1:].reshape(h, w, 4)[..., 3]
    assert 0 < (alpha > 0).mean() < 1


def test_view_state_frames_the_bounds():
    vs = deck.view_state_for((0.0, 0.0, 1.0, 0.5), width_px=552, height_px=552, padding_px=20)
    assert vs["zoom"] == pytest.approx(np.log2(360), abs=0.01)
    assert vs["longitude"] == pytest.approx(0.5) and 0.24 < vs["latitude"] < 0.26


def test_deck_map_component(grid_fc, counts):
    layers = [deck.grid_layer(grid_fc, counts)]
    m = deck.deck_map(
        "map", layers, geometry.bounds_of(grid_fc), tooltip=deck.tooltip_config({"grids": "{name}"})
    )
    props = m.to_plotly_json()["props"]
    assert props["enableEvents"] == ["click"] and props["layers"][0]["id"] == "grids"
    assert props["initialViewState"]["zoom"] > 5
    assert deck.layer_index(props["layers"], "grids") == 0


# --------------------------------------------------------------------------------------------------
# offline


def test_no_external_url_in_layers_styles_or_components(admin, grids, grid_fc, counts, incidents):
    counties = geometry.level_geojson(admin[admin.level == "county"], "city", "unit_code", "unit_name")
    towns = geometry.level_geojson(admin[admin.level == "township"], "city", "unit_code")
    style = basemap.local_style(counties, towns, theme="dark")
    produced = [
        basemap.base_layers(counties, towns),
        style,
        basemap.maplibre_config(style),
        deck.grid_layer(grid_fc, counts),
        deck.district_outline_layer(towns),
        deck.h3_layer(h3_aggregate(incidents, 8), elevation=True),
        deck.points_layer(incidents.head(100)),
        deck.points_layer(incidents, max_points=10),
        deck.kde_layer(kde_surface(incidents, 300.0, 300.0), max_side=128),
        deck.deck_map("m", [deck.grid_layer(grid_fc)], geometry.bounds_of(grid_fc)).to_plotly_json(),
    ]
    assert basemap.external_urls(produced) == []
    assert not URL.search(json.dumps(produced, ensure_ascii=False))
    assert "glyphs" not in style and "sprite" not in style
    assert {layer["type"] for layer in style["layers"]} <= {"background", "fill", "line"}


def test_tile_url_is_off_by_default_and_detected_when_set():
    default = basemap.local_style()
    assert not any(s.get("type") == "raster" for s in default["sources"].values())
    site = basemap.local_style(tile_url="http://10.1.2.3:8080/pgis/{z}/{x}/{y}.png")
    assert basemap.external_urls(site) == ["http://10.1.2.3:8080/pgis/{z}/{x}/{y}.png"]
    assert basemap.external_urls(site, allowed_origins=["http://10.1.2.3:8080"]) == []
    with pytest.raises(ValueError, match="placeholders"):
        basemap.local_style(tile_url="http://10.1.2.3/pgis/tile.png")
    counties = {"type": "FeatureCollection", "features": []}
    assert [la["id"] for la in basemap.base_layers(counties)] == ["base-counties"]
    tiled = basemap.base_layers(counties, tile_url="http://10.1.2.3:8080/pgis/{z}/{x}/{y}.png")
    assert [la["@@type"] for la in tiled] == ["TileLayer", "GeoJsonLayer"] and tiled[1]["filled"] is False
    assert basemap.external_urls(tiled, allowed_origins=["http://10.1.2.3:8080"]) == []
    with pytest.raises(TypeError):
        basemap.maplibre_config("https://basemaps.cartocdn.com/gl/positron-gl-style/style.json")


def test_hex3d_html_is_offline(incidents):
    agg = h3_aggregate(incidents, 8).head(300)
    page = hex3d.hex3d_html(agg)
    assert not URL.search(page), URL.findall(page)[:3]
    assert '<script src="/assets-pydeck/index.js"></script>' in page
    assert "createDeck(" in page and "H3HexagonLayer" in page and '"highPrecision":true' in page
    bundle = hex3d.pydeck_bundle_path()
    assert bundle.is_file() and "createDeck" in bundle.read_text(encoding="utf-8", errors="ignore")
    with pytest.raises(ValueError):
        hex3d.offline_html(page, "https://cdn.example.org/index.js")


def test_offline_html_strips_every_remote_tag():
    page = (
        "<html><head>"
        '<script src="https://api.tiles.mapbox.com/mapbox-gl.js"></script>'
        "<script src='https://cdn.jsdelivr.net/npm/x/index.js'></script>"
        '<link rel="stylesheet" href="https://unpkg.com/maplibre-gl.css" />'
        "<link rel=stylesheet href=https://cdn.jsdelivr.net/widgets.css />"
        "</head><body></body></html>"
    )
    out = hex3d.offline_html(page, "/local/index.js")
    assert not URL.search(out) and out.count("<script") == 1 and "/local/index.js" in out


# --------------------------------------------------------------------------------------------------
# figures


@pytest.fixture(scope="module")
def kpi_layers(tiny_demo):
    return read_layers(tiny_demo)


def _check_figure(fig: go.Figure, title_part: str) -> None:
    assert isinstance(fig, go.Figure) and fig.data
    assert title_part in fig.layout.title.text and CJK.search(fig.layout.title.text)
    assert not URL.search(fig.to_json())
    assert "Noto Sans CJK SC" in fig.layout.template.layout.font.family


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_figures_build_with_chinese_titles(incidents, kpi_layers, tiny_demo, theme):
    scale = 2.0 if theme == "dark" else 1.0
    heat = figures.hour_weekday_heatmap(time_profile(incidents), theme=theme, font_scale=scale)
    _check_figure(heat, "时段")
    assert list(heat.data[0].y) == ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
    monthly = figures.monthly_figure(monthly_series(incidents, by="category"), theme=theme)
    _check_figure(monthly, "月度")
    assert [t.name for t in monthly.data][:2] == ["刑事", "治安"]
    base = per_grid_base(kpi_layers)
    table = kpi_table(base, "township", "2026-01-01", "2026-10-31")
    ranking = figures.ranking_figure(rank(table, "closure_rate"), title="乡镇街道 办结率 排名", theme=theme)
    _check_figure(ranking, "排名")
    assert any(s.line.dash == "dash" for s in ranking.layout.shapes)  # the target line
    bars = figures.kpi_bar_figure({"登记率": 97.5, "走访覆盖率": 80.0}, {"登记率": 100.0}, theme=theme)
    _check_figure(bars, "质态")
    yoy = yoy_by_category(kpi_layers["incidents"], None, "2026-01-01", "2026-10-31")
    fig = figures.yoy_figure(yoy, theme=theme)
    _check_figure(fig, "同比")
    arrows = [a.text for a in fig.layout.annotations]
    assert len(arrows) == 8 and all(a[0] in "↑↓—持" for a in arrows)
    score = figures.three_up_four_down_figure(three_up_four_down(base, "320600", "2026-01-01", "2026-10-31"))
    _check_figure(score, "三提升四下降")
    orders = pd.read_parquet(Path(tiny_demo) / "work_orders.parquet", columns=["state"])
    donut = figures.status_donut(orders["state"].value_counts(), theme=theme)
    _check_figure(donut, "工单")
    assert donut.data[0].labels[0] in colours.WORK_ORDER_COLOURS


def test_yoy_arrows_point_the_right_way():
    yoy = pd.DataFrame(
        {"current": [5, 12, 4], "previous": [10, 8, 4], "change_pct": [-50.0, 50.0, 0.0]},
        index=["刑事", "治安", "火警"],
    )
    fig = figures.yoy_figure(yoy)
    assert [a.text for a in fig.layout.annotations] == ["↓50.0%", "↑50.0%", "持平"]


def test_static_map_figure_draws_one_trace_per_class(grids, counts):
    frame = geometry.prepare(grids, "county")
    cls = colours.classify(counts.to_numpy(), "quantiles", 4, unit="起")
    fig = figures.static_map_figure(
        frame, counts.to_numpy(), cls, title="崇川区 警情分布", legend_title="警情（起）"
    )
    _check_figure(fig, "警情分布")
    present = sorted(set(cls.classify(counts.to_numpy()).tolist()))
    assert [t.name for t in fig.data] == [cls.labels[c] for c in present]
    assert all(t.fill == "toself" for t in fig.data)
    assert fig.layout.yaxis.scaleratio == pytest.approx(1 / np.cos(np.radians(32.2)), rel=0.02)
