"""Benchmark of the fifteen push models (数据赋能模型) on a demo city.

Runs every model (or those named) on the layers of ``--data`` at ``--as-of`` and prints, per model, the
warnings and the seconds it took; then the loading time, the total and the peak memory (max RSS). Two
baselines run in the same process on the same data, to justify choices in :mod:`geo.models`:

* loading the population layer's key columns as categoricals (Parquet dictionary pages) against plain
  Arrow strings, and grouping 8 M rows by address with each;
* :func:`geo.models.base.member` (``pyarrow.compute.is_in``) against ``Series.isin`` for a pool of every
  address id.

Usage::

    python bench/bench_models.py [--data /tmp/demo_full] [--as-of 2026-10-31] [--no-baselines] [ID ...]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geo.models as gm
from geo.models.base import member


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(data: Path, as_of: str, ids: list[str] | None) -> dict[str, int]:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    warnings, counts = gm.run_dir(data, as_of, ids or None, timings=timings)
    total = time.perf_counter() - t0
    print(f"data {data}  as_of {gm.to_as_of(as_of)}")
    print(f"{'model':<8} {'aspect':<6} {'name':<18} {'warnings':>9} {'seconds':>8}")
    for mid, n in counts.items():
        m = gm.MODELS[mid]
        print(f"{mid:<8} {m.aspect:<6} {m.name:<18} {n:>9} {timings[mid]:>8.2f}")
    print(f"load (columns and history the models need): {timings['load']:.2f} s")
    print(f"models: {sum(v for k, v in timings.items() if k != 'load'):.2f} s")
    print(f"total: {total:.2f} s, {len(warnings)} warnings, peak memory {peak_mb():.0f} MB")
    sev = warnings.groupby(["model_id", "severity"]).size().unstack(fill_value=0)
    print("by severity:\n" + sev.reindex(columns=["高", "中", "低"], fill_value=0).to_string())
    zero = [m for m, n in counts.items() if n == 0]
    print("models with no warning: " + (", ".join(zero) if zero else "none"))
    return counts


def baselines(data: Path) -> None:
    path = data / "population.parquet"
    cols = ["address_id", "grid_code", "resident_kind"]
    t0 = time.perf_counter()
    plain = pd.read_parquet(path, columns=cols)
    t_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain.groupby("address_id").size()
    g_plain = time.perf_counter() - t0
    mem_plain = plain.memory_usage(deep=True).sum() / 1e6
    t0 = time.perf_counter()
    cat = pd.read_parquet(path, columns=cols, read_dictionary=cols)
    t_cat = time.perf_counter() - t0
    t0 = time.perf_counter()
    cat.groupby("address_id", observed=True).size()
    g_cat = time.perf_counter() - t0
    mem_cat = cat.memory_usage(deep=True).sum() / 1e6
    print(f"\nbaseline: population key columns ({len(plain):,} rows)")
    print(f"  read  : strings {t_plain:.2f} s, categoricals {t_cat:.2f} s (ratio {t_plain / t_cat:.1f}x)")
    print(
        f"  memory: strings {mem_plain:.0f} MB, categoricals {mem_cat:.0f} MB "
        f"(ratio {mem_plain / mem_cat:.1f}x)"
    )
    print(
        f"  group by address: strings {g_plain:.2f} s, categoricals {g_cat:.2f} s "
        f"(ratio {g_plain / g_cat:.1f}x)"
    )
    del plain, cat
    ids = pd.read_parquet(data / "addresses.parquet", columns=["address_id"])["address_id"]
    sample = ids.sample(min(200_000, len(ids)), random_state=0)
    t0 = time.perf_counter()
    a = sample.isin(ids).to_numpy()
    t_isin = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = member(sample, ids)
    t_member = time.perf_counter() - t0
    assert (a == b).all()
    print(f"baseline: {len(sample):,} ids in a pool of {len(ids):,} addresses")
    print(
        f"  Series.isin {t_isin:.2f} s, member (pyarrow is_in) {t_member:.2f} s "
        f"(ratio {t_isin / t_member:.1f}x)"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/demo_full"))
    ap.add_argument("--as-of", default="2026-10-31")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("ids", nargs="*")
    args = ap.parse_args(argv)
    run(args.data, args.as_of, args.ids)
    if not args.no_baselines:
        baselines(args.data)


if __name__ == "__main__":
    main()
