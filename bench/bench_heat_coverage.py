"""Time and peak memory of the heat-map and coverage analytics on the demo cities.

    /tmp/venv/bin/python bench/bench_heat_coverage.py                 # tiny, small, full (skips missing)
    /tmp/venv/bin/python bench/bench_heat_coverage.py --scales tiny small --tracemalloc

Each scale runs in its own child process, which loads the layers it needs once and then runs every
function in turn. For each call it prints the wall time, the items processed per second, the
process's peak resident memory during the call (VmHWM, reset before each call through
``/proc/self/clear_refs``; so it includes the loaded layers — the figure to hold against the issue's
4 GB budget — and every C allocation of GEOS, PROJ, h3), the peak above the memory held before the
call, and with ``--tracemalloc`` the Python/numpy peak that tracemalloc sees. Where the peak cannot
be reset, the lifetime peak of ``resource.getrusage`` is printed instead.

A baseline runs first in the same process: H3 indexing of the incidents by the ways h3 v4 offers,
as ratios to the one :func:`geo.heat.cells_of` uses.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCALES = {"tiny": Path("/tmp/demo_tiny"), "small": Path("/tmp/demo_small"), "full": Path("/tmp/demo_full")}
TABLES = ("staff", "visits", "grid_district")


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(label: str, items: int, unit: str, func, use_tracemalloc: bool):
    gc.collect()
    resettable = _reset_peak()
    before = _status_kb("VmRSS") or 0
    if use_tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1] if use_tracemalloc else None
    if use_tracemalloc:
        tracemalloc.stop()
    if resettable and _status_kb("VmHWM") is not None:
        peak_kb = _status_kb("VmHWM")
    else:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # lifetime peak (kB on Linux)
    rate = items / seconds if seconds > 0 else float("inf")
    line = (
        f"  {label:<34} {seconds:8.2f} s  {items:>10,} {unit:<9} {rate:>12,.0f}/s  "
        f"peak RSS {peak_kb / 1024:7.0f} MB (+{max(peak_kb - before, 0) / 1024:6.0f} MB)"
    )
    if traced is not None:
        line += f"  tracemalloc {traced / 2**20:7.0f} MB"
    print(line, flush=True)
    return result, {"label": label, "seconds": seconds, "items": items, "peak_mb": peak_kb / 1024}


def h3_baseline(incidents, limit: int = 400_000, rounds: int = 3) -> None:
    """H3 indexing by the public ways h3 v4 offers, as ratios of the time of :func:`cells_of`.

    Round robin, best of ``rounds`` each, so that a busy machine slows every way alike.
    """
    import h3
    import h3.api.basic_int as h3basic
    import h3.api.numpy_int as h3int
    import numpy as np

    from geo.heat import cells_of, lonlat_of

    lon, lat = lonlat_of(incidents.iloc[:limit])
    lat_l, lon_l = lat.tolist(), lon.tolist()
    n = len(lat_l)
    ways = {
        "cells_of (numpy_int, list comp.)": lambda: cells_of(lon, lat, 8),
        "string API, list comprehension": lambda: [
            h3.latlng_to_cell(y, x, 8) for y, x in zip(lat_l, lon_l, strict=True)
        ],
        "basic_int, list comprehension": lambda: np.array(
            [h3basic.latlng_to_cell(y, x, 8) for y, x in zip(lat_l, lon_l, strict=True)], dtype=np.uint64
        ),
        "numpy_int map → np.fromiter": lambda: np.fromiter(
            map(h3int.latlng_to_cell, lat_l, lon_l, [8] * n), dtype=np.uint64, count=n
        ),
        "numpy_int np.frompyfunc": lambda: np.frompyfunc(h3int.latlng_to_cell, 3, 1)(lat, lon, 8).astype(
            np.uint64
        ),
    }
    times = dict.fromkeys(ways, float("inf"))
    for _ in range(rounds):
        for name, func in ways.items():
            times[name] = min(times[name], _timed(func))
    base = times["cells_of (numpy_int, list comp.)"]
    print(
        f"  H3 indexing of {n:,} points at resolution 8 (best of {rounds}, round robin), ratio to cells_of:"
    )
    for name, sec in times.items():
        print(f"    {name:<34} {sec:6.3f} s  {n / sec:>12,.0f} points/s  ×{sec / base:4.2f}")


def _timed(func) -> float:
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def run_scale(scale: str, folder: Path, use_tracemalloc: bool) -> list[dict]:
    import geopandas as gpd
    import pandas as pd

    from geo import coverage as cv
    from geo.heat import (
        h3_aggregate,
        h3_polygons,
        kde_surface,
        monthly_series,
        population_to_cells,
        time_profile,
    )

    t0 = time.perf_counter()
    names = (
        "grids",
        "districts",
        "stations",
        "staff",
        "addresses",
        "persons_of_concern",
        "incidents",
        "visits",
        "patrol_points",
        "cameras",
        "grid_district",
    )
    layers = {
        n: (pd.read_parquet if n in TABLES else gpd.read_parquet)(folder / f"{n}.parquet") for n in names
    }
    rss = (_status_kb("VmRSS") or 0) / 1024
    print(f"\n== {scale}: {folder}  (layers loaded in {time.perf_counter() - t0:.1f} s, RSS {rss:.0f} MB)")
    g, inc, addr = layers["grids"], layers["incidents"], layers["addresses"]
    sizes = ", ".join(f"{len(layers[n]):,} {n}" for n in ("districts", "visits", "patrol_points", "cameras"))
    print(f"  {len(g):,} grids, {len(inc):,} incidents, {len(addr):,} addresses, {sizes}")
    h3_baseline(inc)
    rows = []

    def m(label, items, unit, func):
        result, row = measure(label, items, unit, func, use_tracemalloc)
        rows.append(row)
        return result

    until = pd.Timestamp("2026-10-31")
    m("h3_aggregate(by=category)", len(inc), "points", lambda: h3_aggregate(inc, 8, by="category"))
    m(
        "h3_aggregate(population=addresses)",
        len(inc) + len(addr),
        "points",
        lambda: h3_aggregate(inc, 8, population=addr),
    )
    m("population_to_cells(grids, areal)", len(g), "polygons", lambda: population_to_cells(g, 8))
    m("kde_surface(300 m, 100 m cells)", len(inc), "points", lambda: kde_surface(inc, 300, 100))
    m("time_profile", len(inc), "events", lambda: time_profile(inc))
    m("monthly_series(by=category)", len(inc), "events", lambda: monthly_series(inc, by="category"))
    m("tiling", len(g), "polygons", lambda: cv.tiling(g))
    m(
        "binding",
        len(g),
        "polygons",
        lambda: cv.binding(g, layers["districts"], layers["grid_district"]),
    )
    m("staffing", len(g), "grids", lambda: cv.staffing(g, layers["staff"], layers["districts"]))
    m(
        "visit_coverage(90 days)",
        len(layers["visits"]) + len(addr),
        "records",
        lambda: cv.visit_coverage(
            layers["visits"], addr, layers["persons_of_concern"], until - pd.Timedelta(days=90), until
        ),
    )
    hot_cells = h3_aggregate(inc, 8).h3.head(max(20, len(g) // 50))
    m(
        f"patrol_coverage({len(hot_cells)} hotspots)",
        len(layers["patrol_points"]) + len(inc),
        "points",
        lambda: cv.patrol_coverage(layers["patrol_points"], hot_cells, inc),
    )
    hot_area = h3_polygons(hot_cells)
    m(
        "camera_coverage(+hotspot area)",
        len(inc),
        "incidents",
        lambda: cv.camera_coverage(layers["cameras"], inc, hot_area),
    )
    m(
        "station_access(addresses, grids)",
        len(addr) + len(g),
        "pts+polys",
        lambda: cv.station_access(layers["stations"], addr, g),
    )
    peak = max(r["peak_mb"] for r in rows)
    verdict = "within" if peak <= 4096 else "OVER"
    print(f"  peak RSS of the {scale} run: {peak:,.0f} MB ({verdict} the 4 GB budget)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="*", default=list(SCALES), choices=list(SCALES))
    parser.add_argument("--tracemalloc", action="store_true", help="also report tracemalloc's peak (slower)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        rows = run_scale(args.child, SCALES[args.child], args.tracemalloc)
        print("JSON " + json.dumps(rows))
        return
    results: dict[str, list[dict]] = {}
    for scale in args.scales:
        folder = SCALES[scale]
        if not (folder / "manifest.json").exists():
            print(f"\n== {scale}: {folder} missing, skipped")
            continue
        cmd = [sys.executable, __file__, "--child", scale] + (["--tracemalloc"] if args.tracemalloc else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        for line in proc.stdout.splitlines():
            if line.startswith("JSON "):
                results[scale] = json.loads(line[5:])
            else:
                print(line, flush=True)
        if proc.returncode:
            print(proc.stderr[-3000:])
    if len(results) > 1:
        first = next(iter(results))
        print(f"\n== scaling: time ratio to {first} (items ratio in brackets)")
        for k, base_row in enumerate(results[first]):
            cols = []
            for scale, rows in results.items():
                if scale == first:
                    continue
                row = rows[k]
                cols.append(
                    f"{scale}: ×{row['seconds'] / max(base_row['seconds'], 1e-9):7.1f} "
                    f"(×{row['items'] / max(base_row['items'], 1):6.1f})"
                )
            print(f"  {base_row['label']:<34} " + "   ".join(cols))


if __name__ == "__main__":
    main()
