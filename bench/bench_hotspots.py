"""Cost of the hotspot statistics (geo.hotspots) on the demo cities; prints figures, asserts nothing.

Usage::

    /tmp/venv/bin/python bench/bench_hotspots.py [--data /tmp] [--quick]

For each demo city found (``demo_tiny``, ``demo_small``, ``demo_full`` under ``--data``; a missing one
is skipped) it times, on incident counts per grid:

* the Queen weights build (``contiguity_weights``), separately;
* ``esda.G_Local`` called directly (the baseline) and ``getis_ord`` (ratio = wrapper / esda);
* ``esda.Moran_Local`` directly and ``local_moran``;
* ``emerging_hotspots`` over monthly bins (skipped on the full city with ``--quick``);

then the scaling of Gi* (seconds per 1,000 units and the log-log slope between sizes), the vectorised
Mann–Kendall against a pymannkendall loop on the same series, and ``near_repeat`` on 100,000
incidents (baseline: the KD-tree pair query alone). The first esda call of a process is timed apart
(warm-up), since esda compiles its kernels with numba when numba is installed.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
import warnings
from pathlib import Path

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geo import hotspots as hs

try:
    import numba  # noqa: F401

    NUMBA = True
except ImportError:
    NUMBA = False


def timed(fn, repeat: int = 1):
    """(best seconds, last result) over ``repeat`` runs."""
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def bench_city(folder: Path, quick: bool) -> dict | None:
    if not (folder / "grids.parquet").exists():
        print(f"{folder.name}: missing, skipped")
        return None
    grids = gpd.read_parquet(folder / "grids.parquet")
    incidents = pd.read_parquet(folder / "incidents.parquet", columns=["grid_code", "occurred_at"])
    counts = incidents["grid_code"].value_counts().reindex(grids["grid_code"], fill_value=0)
    n = len(grids)
    repeat = 3 if n < 2000 else 1
    t_w, w = timed(lambda: hs.contiguity_weights(grids), repeat)
    y = counts.reindex(w.id_order).to_numpy(float)

    def esda_gi():
        return esda.G_Local(y, w, transform="B", star=True, permutations=999, seed=0, keep_simulations=False)

    def esda_lm():
        return esda.Moran_Local(y, w, transformation="r", permutations=999, seed=0, n_jobs=1)

    t_gi_esda, _ = timed(esda_gi, repeat)
    t_gi, gi = timed(lambda: hs.getis_ord(counts, w), repeat)
    t_lm_esda, _ = timed(esda_lm, repeat)
    w.transform = "O"
    t_lm, _ = timed(lambda: hs.local_moran(counts, w), repeat)
    print(
        f"{folder.name}: {n:,} grids, {len(incidents):,} incidents, mean {w.mean_neighbors:.1f} neighbours\n"
        f"  Queen weights        {t_w:7.3f} s\n"
        f"  esda.G_Local         {t_gi_esda:7.3f} s   getis_ord   {t_gi:7.3f} s   "
        f"ratio {t_gi / t_gi_esda:5.2f}\n"
        f"  esda.Moran_Local     {t_lm_esda:7.3f} s   local_moran {t_lm:7.3f} s   "
        f"ratio {t_lm / t_lm_esda:5.2f}\n"
        f"  Gi* classes: {gi['class'].value_counts().to_dict()} "
        f"(raw significant {gi.attrs['n_significant_raw']}, after FDR {gi.attrs['n_significant']})"
    )
    t_eh = math.nan
    if not (quick and n > 5000):
        t_eh, eh = timed(lambda: hs.emerging_hotspots(incidents, w, bin="M"))
        print(
            f"  emerging_hotspots    {t_eh:7.3f} s   ({eh.attrs['n_bins']} monthly bins, "
            f"{t_eh / eh.attrs['n_bins']:.3f} s per bin; ratio per bin / getis_ord "
            f"{t_eh / eh.attrs['n_bins'] / t_gi:4.2f}) patterns {eh.attrs['patterns']}"
        )
    return {"name": folder.name, "n": n, "w": t_w, "gi": t_gi, "lm": t_lm, "eh": t_eh}


def bench_mann_kendall(n_series: int = 13_700, n_bins: int = 24) -> None:
    import pymannkendall

    x = np.random.default_rng(0).poisson(5, size=(n_series, n_bins)).astype(float)
    t_vec, _ = timed(lambda: hs.mann_kendall(x))
    sample = 500
    t_loop, _ = timed(lambda: [pymannkendall.original_test(row) for row in x[:sample]])
    t_loop_all = t_loop * n_series / sample
    print(
        f"Mann-Kendall on {n_series:,} series of {n_bins}: vectorised {t_vec:.3f} s, pymannkendall loop "
        f"{t_loop_all:.2f} s (extrapolated from {sample}), ratio loop / vectorised {t_loop_all / t_vec:.0f}"
    )


def bench_near_repeat(data: Path, n_events: int = 100_000) -> None:
    """near_repeat on 100 K incidents sampled from each demo city big enough (density differs)."""
    found = False
    for name in ("demo_full", "demo_small"):
        path = data / name / "incidents.parquet"
        if not path.exists():
            continue
        found = True
        incidents = gpd.read_parquet(path, columns=["incident_id", "occurred_at", "geometry"])
        if len(incidents) > n_events:
            incidents = incidents.sample(n=n_events, random_state=0).reset_index(drop=True)
        xy, _ = hs._projected_xy(incidents)
        t_kd, pairs = timed(lambda xy=xy: cKDTree(xy).query_pairs(r=200, output_type="ndarray"))
        n_pairs = len(pairs)
        del pairs
        t_pairs, close = timed(lambda inc=incidents: hs.near_repeat_pairs(inc, 200, 14))
        t_knox, _ = timed(lambda inc=incidents: hs.near_repeat(inc, 200, 14, permutations=0))
        t_perm, table = timed(lambda inc=incidents: hs.near_repeat(inc, 200, 14, permutations=99))
        a = table.attrs
        per_perm = (t_perm - t_knox) / 99
        print(
            f"near repeat on {len(incidents):,} incidents from {name} ({n_pairs:,} pairs within 200 m, "
            f"{len(close):,} also within 14 days)\n"
            f"  KD-tree query alone  {t_kd:7.3f} s\n"
            f"  near_repeat_pairs    {t_pairs:7.3f} s   ratio {t_pairs / t_kd:5.1f}\n"
            f"  near_repeat, Knox    {t_knox:7.3f} s   ratio {t_knox / t_kd:5.1f}\n"
            f"  near_repeat, 99 perm {t_perm:7.3f} s   ratio {t_perm / t_kd:5.1f} "
            f"({per_perm * 1000:.0f} ms per permutation, {per_perm / n_pairs * 1e9:.1f} ns per pair)\n"
            f"  half-distance {a['half_distance_m']:.0f} m, half-life {a['half_life_days']:.1f} d, "
            f"closest excess {a['closest_excess']:+.3f}"
        )
    if not found:
        print("near_repeat: no demo_full or demo_small incidents, skipped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp"))
    parser.add_argument("--quick", action="store_true", help="skip emerging_hotspots on the full city")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"esda {esda.__version__}, numba {'installed' if NUMBA else 'not installed'}")
    # warm-up: numba compilation (when installed) and imports, timed apart
    lattice = gpd.GeoDataFrame(geometry=[shapely.box(i, j, i + 1, j + 1) for i in range(5) for j in range(5)])
    w0 = hs.contiguity_weights(lattice, id_col=None)
    y0 = pd.Series(np.arange(25.0), index=w0.id_order)
    t_warm, _ = timed(lambda: (hs.getis_ord(y0, w0), hs.local_moran(y0, w0)))
    print(f"warm-up (first Gi* + local Moran of the process, 25 units): {t_warm:.2f} s")

    rows = [
        r for r in (bench_city(args.data / f"demo_{s}", args.quick) for s in ("tiny", "small", "full")) if r
    ]
    if len(rows) >= 2:
        print("scaling (seconds per 1,000 units; slope of log seconds on log units between sizes):")
        for r in rows:
            print(
                f"  {r['name']:<11} {r['n']:>7,} units  Gi* {r['gi'] / r['n'] * 1000:.3f}  "
                f"local Moran {r['lm'] / r['n'] * 1000:.3f}  weights {r['w'] / r['n'] * 1000:.3f}"
            )
        for a, b in itertools.pairwise(rows):
            lu = math.log(b["n"] / a["n"])
            print(
                f"  {a['name']} -> {b['name']}: slope Gi* {math.log(b['gi'] / a['gi']) / lu:.2f}, "
                f"local Moran {math.log(b['lm'] / a['lm']) / lu:.2f}, "
                f"weights {math.log(b['w'] / a['w']) / lu:.2f}"
            )
    bench_mann_kendall()
    bench_near_repeat(args.data)


if __name__ == "__main__":
    main()
