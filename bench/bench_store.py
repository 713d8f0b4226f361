"""Store benchmark (存储性能): load time and drill-down latency at full demo scale, on both stores.

For each store (the embedded SQLite file and PostGIS on a throwaway local server):

1. load every layer of the demo folder (``load_layers``) and print rows and seconds per layer and per
   refresh step;
2. time many random drill-down queries — one unit of either hierarchy (city … grid, 分局 … 警格), a random
   date range (7 to 365 days), a random set of incident categories — and print p50 / p95 / p99 in ms:

   * ``category``: ``aggregate_incidents(unit, start, end, categories, by="category")`` (the drill-down)
   * ``day``: the same by day × category (the trend line)
   * ``children``: the same by the unit's child units (the ranking / map of the level below)
   * ``hour``: by hour of day × category (the hour columns of the precomputed counts)
   * ``scoped``: a county drill-down as an officer scoped to one 警格 sees it
   * ``records``: the first page of the unit's incidents (50 rows, newest first, with the total)
   * ``baseline``: the drill-down computed from the incidents table itself, without the precomputed
     unit × day × category counts, in the same process (the ratio shows what the counts buy).

Goal: p95 <= 300 ms for the drill-down. Run::

    python bench/bench_store.py --data /tmp/demo_full [--backends sqlite postgis] [--queries 300]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from data.schema import INCIDENT_CATEGORIES
from data.store import load_layers, open_store
from data.store.testing import throwaway_postgis
from geo.units import child_level

LEVEL_WEIGHTS = {
    "city": 1,
    "county": 2,
    "bureau": 2,
    "township": 2,
    "station": 2,
    "village": 2,
    "district": 2,
    "grid": 2,
}
SPANS = (7, 30, 90, 365)


def _percentiles(ms: list[float]) -> str:
    a = np.asarray(ms)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return f"p50 {p50:7.1f}  p95 {p95:7.1f}  p99 {p99:7.1f} ms"


def _plan(store, n: int, seed: int, last_day: pd.Timestamp) -> list[dict]:
    """Random drill-downs: (unit, level, start, end, categories, scope district)."""
    rng = np.random.default_rng(seed)
    units = store.units()
    gu = store.grid_units()
    levels = [lv for lv in LEVEL_WEIGHTS if (units.level == lv).any()]
    weights = np.array([LEVEL_WEIGHTS[lv] for lv in levels], dtype=float)
    plan = []
    for _ in range(n):
        level = levels[rng.choice(len(levels), p=weights / weights.sum())]
        codes = units.loc[units.level == level, "unit_code"].to_numpy()
        code = str(codes[rng.integers(len(codes))])
        span = int(rng.choice(SPANS))
        end = last_day - pd.Timedelta(days=int(rng.integers(0, 365)))
        start = end - pd.Timedelta(days=span - 1)
        k = int(rng.integers(0, 4))
        cats = None if k == 0 else list(rng.choice(INCIDENT_CATEGORIES, size=k, replace=False))
        county = str(gu.county_code.iloc[rng.integers(len(gu))])
        districts = gu.loc[gu.county_code == county, "district_code"].dropna().unique()
        plan.append(
            {
                "unit": code,
                "level": level,
                "start": start.date(),
                "end": end.date(),
                "categories": cats,
                "county": county,
                "district": str(districts[rng.integers(len(districts))]),
            }
        )
    return plan


def _time(fn: Callable[[dict], object], plan: list[dict]) -> list[float]:
    for q in plan[:5]:  # warm-up
        fn(q)
    out = []
    for q in plan:
        t0 = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _baseline(store, q: dict) -> pd.DataFrame:
    """The drill-down straight from the incidents table (no precomputed counts)."""
    with store.connect() as conn:
        unit = store._resolve(conn, q["unit"])
        return store._incidents_raw(conn, unit, q["start"], q["end"], q["categories"], ("category",), None)


def run_queries(store, n: int, seed: int) -> dict[str, list[float]]:
    """Time every query kind over the same random plan; returns ms per query, by kind."""
    last = pd.Timestamp(
        store.records("incidents", page_size=1, count=False).frame.occurred_at.iloc[0]
    ).normalize()
    plan = _plan(store, n, seed, last)
    kinds: dict[str, Callable[[dict], object]] = {
        "category": lambda q: store.aggregate_incidents(q["unit"], q["start"], q["end"], q["categories"]),
        "day": lambda q: store.aggregate_incidents(
            q["unit"], q["start"], q["end"], q["categories"], by=("day", "category")
        ),
        "children": lambda q: store.aggregate_incidents(
            q["unit"], q["start"], q["end"], q["categories"], by=child_level(q["level"]) or "category"
        ),
        "hour": lambda q: store.aggregate_incidents(
            q["unit"], q["start"], q["end"], q["categories"], by="hour"
        ),
        "scoped": lambda q: store.aggregate_incidents(
            q["county"], q["start"], q["end"], q["categories"], scope=q["district"]
        ),
        "records": lambda q: store.records(
            "incidents",
            q["unit"],
            q["start"],
            q["end"],
            {"category": q["categories"]} if q["categories"] else None,
            page_size=50,
        ),
        "baseline": lambda q: _baseline(store, q),
    }
    return {name: _time(fn, plan) for name, fn in kinds.items()}


def bench_backend(name: str, url: str | None, data: Path, n: int, seed: int, workdir: Path) -> dict:
    print(f"\n=== {name} ===", flush=True)
    store = open_store(url, data_dir=workdir) if url else open_store(data_dir=workdir)
    try:
        report = load_layers(store, data, progress=lambda line: print("  " + line, flush=True))
        print(f"  load total {report.total_seconds:.1f} s", flush=True)
        if name == "sqlite":
            size = sum(p.stat().st_size for p in workdir.glob("onemap.sqlite*")) / 2**20
        else:
            with store.connect() as conn:
                size = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar() / 2**20
        print(f"  database size {size:,.0f} MB", flush=True)
        times = run_queries(store, n, seed)
        base50, base95 = np.percentile(times["baseline"], [50, 95])
        for kind, ms in times.items():
            ratio = ""
            if kind == "category":
                p50, p95 = np.percentile(ms, [50, 95])
                ratio = f"  (baseline / this: p50 {base50 / p50:5.1f}x, p95 {base95 / p95:5.1f}x)"
            print(f"  {kind:<9} n={len(ms)}  {_percentiles(ms)}{ratio}", flush=True)
        return {
            "load_seconds": report.total_seconds,
            "layer_seconds": report.seconds,
            "refresh_seconds": report.refresh,
            "size_mb": size,
            "latency_ms": {
                k: {p: float(np.percentile(v, p)) for p in (50, 95, 99)} for k, v in times.items()
            },
        }
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, default=Path("/tmp/demo_full"), help="demo folder of GeoParquet layers"
    )
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgis"], choices=["sqlite", "postgis"])
    ap.add_argument("--queries", type=int, default=300, help="random drill-downs per query kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pg-url", default=None, help="use this PostGIS database instead of a throwaway server")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = ap.parse_args()
    if not (args.data / "incidents.parquet").exists():
        raise SystemExit(f"{args.data}: no demo city there (onemap demo --scale full --out {args.data})")
    manifest = args.data / "manifest.json"
    if manifest.exists():
        counts = json.loads(manifest.read_text())["counts"]
        print(
            f"data {args.data}: {counts['grids']:,} grids, {counts['incidents']:,} incidents, "
            f"{counts['population']:,} population"
        )
    results = {}
    for backend in args.backends:
        work = Path(tempfile.mkdtemp(prefix=f"bench-store-{backend}-"))
        try:
            if backend == "sqlite":
                results[backend] = bench_backend(backend, None, args.data, args.queries, args.seed, work)
            elif args.pg_url:
                results[backend] = bench_backend(
                    backend, args.pg_url, args.data, args.queries, args.seed, work
                )
            else:
                settings = {
                    "shared_buffers": "1GB",
                    "maintenance_work_mem": "512MB",
                    "max_wal_size": "8GB",
                    "work_mem": "64MB",
                    "wal_level": "minimal",
                    "max_wal_senders": "0",
                }
                with throwaway_postgis("bench", settings=settings) as url:
                    results[backend] = bench_backend(backend, url, args.data, args.queries, args.seed, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print("\nsummary (drill-down = aggregates for one unit, date range and categories; goal p95 <= 300 ms)")
    for backend, r in results.items():
        lat = r["latency_ms"]["category"]
        print(
            f"  {backend:<8} load {r['load_seconds']:7.1f} s  drill-down p50 {lat[50]:6.1f}  "
            f"p95 {lat[95]:6.1f}  p99 {lat[99]:6.1f} ms  "
            f"(baseline p95 {r['latency_ms']['baseline'][95]:7.1f} ms)"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
