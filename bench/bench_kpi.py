"""KPI (质态监测) cost at any level: per-grid base built once, then tables per level and period.

    python bench/bench_kpi.py [--data DIR]

Prints seconds per step and, as the baseline in the same process, a KPI table rebuilt from the raw
layers (what a naive implementation pays on every filter change).
"""

from __future__ import annotations

import argparse
import resource
import time

from geo import kpi


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="var/demo")
    ap.add_argument("--start", default="2026-08-01")
    ap.add_argument("--end", default="2026-10-31")
    args = ap.parse_args()
    t = time.perf_counter()
    layers = kpi.read_layers(args.data)
    t1 = time.perf_counter()
    print(f"read_layers            {t1 - t:7.2f} s")
    base = kpi.per_grid_base(layers)
    t2 = time.perf_counter()
    print(f"per_grid_base (once)   {t2 - t1:7.2f} s")
    for level in ("grid", "village", "township", "county", "district", "station", "bureau", "city"):
        t = time.perf_counter()
        table = kpi.kpi_table(base, level, args.start, args.end)
        print(f"kpi_table {level:<9}    {1000 * (time.perf_counter() - t):7.0f} ms  ({len(table):,} units)")
    t = time.perf_counter()
    kpi.kpi_table(layers, "county", args.start, args.end)
    naive = time.perf_counter() - t
    t = time.perf_counter()
    kpi.kpi_table(base, "county", args.start, args.end)
    fast = time.perf_counter() - t
    print(
        f"baseline (base rebuilt per call) {naive:.2f} s vs {fast * 1000:.0f} ms: ratio {naive / fast:.0f}x"
    )
    t = time.perf_counter()
    kpi.yoy_by_category(layers["incidents"], None, "2026-01-01", args.end)
    print(f"yoy_by_category city   {1000 * (time.perf_counter() - t):7.0f} ms")
    t = time.perf_counter()
    kpi.compstat(layers["incidents"], None, args.end)
    print(f"compstat city          {1000 * (time.perf_counter() - t):7.0f} ms")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    print(kpi.kpi_table(base, "city", args.start, args.end)[list(kpi.KPIS)].round(1).T.to_string())


if __name__ == "__main__":
    main()
