"""Map payloads and build times per view level (图层载荷), at tiny / small / full scale.

    python bench/bench_layers.py [--scales tiny small full] [--root /tmp]

Reads ``{root}/demo_{scale}`` (skipped when missing) and prints, per level of :data:`layers.geometry.LEVELS`:

* the grid layer of the **whole city** at that level's detail: prepare time (coverage simplify +
  quantise), JSON build time, vertices, bytes as Dash sends them (ASCII-escaped JSON), as UTF-8 (what
  orjson would send), gzip of that, with grid names added; the baseline in the same process is the
  unsimplified, full-precision layer (what a naive ``choropleth_map`` ships);
* what each level really shows: county and township outlines for the city view, one township's grids;
* a recolour (``layers.deck.recolour``: one byte a feature), H3 layers, point clusters, a KDE bitmap;
* Fisher–Jenks classes here against mapclassify (its pure-Python FisherJenksSampled, numba absent).

Browser timings (first map, recolour visible) are measured later with the dashboard in headless
Chromium; these are the server-side figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
import warnings
from pathlib import Path

import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import shapely

from geo.heat import h3_aggregate, kde_surface
from layers import colours, deck, geometry


def _mb(n: int) -> str:
    return f"{n / 1e6:7.2f} MB"


def _sizes(text: str) -> tuple[int, int, int]:
    obj = json.loads(text)
    return geometry.payload_bytes(obj), len(text.encode("utf-8")), len(gzip.compress(text.encode("utf-8"), 6))


def grid_vertices(geoms: np.ndarray) -> int:
    return int(shapely.get_num_coordinates(geoms).sum())


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def bench_scale(folder: Path) -> None:
    grids = gpd.read_parquet(folder / "grids.parquet")
    admin = gpd.read_parquet(folder / "admin_units.parquet")
    incidents = gpd.read_parquet(folder / "incidents.parquet", columns=["grid_code", "category", "geometry"])
    n = len(grids)
    print(f"\n== {folder.name}: {n:,} grids, {len(incidents):,} incidents")

    raw = geometry.feature_collection_json(grids, "grid_code")
    dash_raw, _, gz_raw = _sizes(raw)
    verts_raw = int(grid_vertices(grids.geometry.to_numpy()))
    print(
        f"baseline (full precision, unsimplified): {verts_raw / n:5.1f} vertices/grid, dash {_mb(dash_raw)}, "
        f"gzip {_mb(gz_raw)}"
    )
    print(
        f"{'level':9} {'tol m':>5} {'prepare':>8} {'json':>6} {'vert/grid':>9} {'dash':>10} {'utf8':>10} "
        f"{'gzip':>10} {'+names':>10} {'vs base':>7}"
    )
    prepared = {}
    for level in ("grid", "village", "township", "county", "city"):
        spec = geometry.LEVELS[level]
        frame, t_prep = _timed(geometry.prepare, grids, level)
        prepared[level] = frame
        text, t_json = _timed(geometry.feature_collection_json, frame, "grid_code")
        d, u, z = _sizes(text)
        named = geometry.payload_bytes(
            json.loads(geometry.feature_collection_json(frame, "grid_code", "grid_name"))
        )
        verts = grid_vertices(frame.geometry.to_numpy()) / n
        print(
            f"{level:9} {spec.tolerance_m:5.0f} {t_prep:7.2f}s {t_json:5.2f}s {verts:9.1f} {_mb(d)} {_mb(u)} "
            f"{_mb(z)} {_mb(named)} {d / dash_raw:6.1%}"
        )

    counties = admin[admin.level == "county"]
    towns = admin[admin.level == "township"]
    city_view = [
        geometry.level_geojson(counties, "city", "unit_code", "unit_name"),
        geometry.level_geojson(towns, "city", "unit_code", "unit_name"),
    ]
    print(
        f"city view, {len(counties)} counties + {len(towns)} townships with names: "
        f"{_mb(geometry.payload_bytes(city_view))}"
    )
    sizes = grids.groupby(grids["grid_code"].str.slice(0, 9)).size()
    town = sizes.idxmax()
    one = prepared["township"][prepared["township"]["grid_code"].str.startswith(town)]
    fc = geometry.feature_collection(one, "grid_code", "grid_name")
    print(
        f"township view, largest township {town} ({len(one)} grids, names): {_mb(geometry.payload_bytes(fc))}"
    )

    counts = incidents.groupby("grid_code").size().reindex(grids["grid_code"], fill_value=0)
    cls, t_cls = _timed(colours.classify, counts.to_numpy(), "fisher_jenks", 5)
    upd, t_rec = _timed(deck.recolour, counts.to_numpy(), cls)
    print(
        f"recolour all {n:,} grids: {geometry.payload_bytes(upd):,} bytes, classify {t_cls * 1000:.1f} ms, "
        f"expression {t_rec * 1000:.1f} ms"
    )
    rng = np.random.default_rng(0)
    sample = counts.to_numpy()[rng.choice(n, size=min(n, 1500), replace=False)].astype(float)
    _, t_ours = _timed(colours.fisher_jenks_bins, counts.to_numpy(), 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, t_mc = _timed(mapclassify.FisherJenksSampled, counts.to_numpy(), k=5)
        _, t_mc_small = _timed(mapclassify.FisherJenks, sample[:300], k=5)
    _, t_ours_small = _timed(colours.fisher_jenks_bins, sample[:300], 5)
    print(
        f"Fisher-Jenks {n:,} values: ours {t_ours * 1000:.1f} ms vs mapclassify.FisherJenksSampled "
        f"{t_mc:.2f} s ({t_mc / t_ours:,.0f}x); 300 values: ours {t_ours_small * 1000:.1f} ms vs "
        f"FisherJenks {t_mc_small * 1000:.0f} ms"
    )

    for res in (7, 8, 9):
        agg, t_agg = _timed(h3_aggregate, incidents, res)
        layer, t_layer = _timed(deck.h3_layer, agg, elevation=True)
        print(
            f"H3 res {res}: {len(agg):,} cells, aggregate {t_agg:.2f} s, layer {t_layer * 1000:.0f} ms, "
            f"{_mb(geometry.payload_bytes(layer))}"
        )
    for res in (7, 8):
        pts, t_pts = _timed(deck.points_layer, incidents, cluster_resolution=res)
        print(
            f"points clustered on H3 res {res}: {len(pts[0]['data']):,} clusters, {t_pts:.2f} s, "
            f"{_mb(geometry.payload_bytes(pts))}"
        )
    few, t_few = _timed(deck.points_layer, incidents.head(deck.DEFAULT_MAX_POINTS))
    size = _mb(geometry.payload_bytes(few))
    print(f"{deck.DEFAULT_MAX_POINTS:,} points (binary): {t_few * 1000:.0f} ms, {size}")
    surface, t_kde = _timed(kde_surface, incidents, 300.0, 100.0)
    kde, t_bmp = _timed(deck.kde_layer, surface)
    print(
        f"KDE {surface.density.shape[1]}x{surface.density.shape[0]} cells at 100 m: surface {t_kde:.2f} s, "
        f"bitmap {t_bmp:.2f} s, {_mb(geometry.payload_bytes(kde))}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", nargs="*", default=["tiny", "small", "full"])
    ap.add_argument("--root", default="/tmp")
    args = ap.parse_args()
    pd.set_option("display.width", 140)
    for scale in args.scales:
        folder = Path(args.root) / f"demo_{scale}"
        if not (folder / "manifest.json").exists():
            print(f"\n== demo_{scale}: missing, skipped")
            continue
        bench_scale(folder)


if __name__ == "__main__":
    main()
