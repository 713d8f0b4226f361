"""Benchmark: the dashboard under load (负载), analysts and video walls over real HTTP on loopback.

Usage::

    .venv/bin/python bench/bench_load.py --data /tmp/load_small [--store sqlite|postgis]
        [--analysts 50] [--walls 10] [--seconds 120] [--wall-period 10] [--think 6]

``--data`` is a folder of GeoParquet layers (``onemap demo --scale small --seed 0 --out DIR``). They are
loaded into a store of the run's own: a SQLite file in a temporary folder, or a throwaway PostgreSQL +
PostGIS server (:func:`data.store.testing.throwaway_server`). The server runs as ``onemap serve`` runs it
(waitress, :data:`dashboard.serve.THREADS` threads) in a process of its own; the users are
``bench/locustfile.py`` in a locust process: analysts open screens, change filters, drill to a grid and
export; walls rotate and refresh every ``--wall-period`` seconds.

Prints, per request kind, the requests, failures and latency p50/p95/p99 (ms, locust's rounding: 10 ms
steps above 100 ms), and the run's request rate. Not a test: it asserts nothing about speed
(``tests/test_load.py`` runs the same load and asserts there are no errors).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import loadrun


def main(argv: list[str] | None = None) -> None:
    from data.store import load_layers, open_store
    from data.store.testing import throwaway_server

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of demo layers (GeoParquet)")
    ap.add_argument("--store", choices=("sqlite", "postgis"), default="sqlite")
    ap.add_argument("--analysts", type=int, default=50)
    ap.add_argument("--walls", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--wall-period", type=float, default=10.0, help="seconds between a wall's refreshes")
    ap.add_argument("--think", type=float, default=6.0, help="an analyst's longest pause between actions (s)")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="onemap_load_"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        url = ""
        if args.store == "postgis":
            url = stack.enter_context(throwaway_server(dbname="onemap_load")).url
        store = open_store(url, data_dir=work)
        t = time.perf_counter()
        load_layers(store, args.data)
        print(f"{args.data} loaded into {args.store} in {time.perf_counter() - t:.1f} s", flush=True)
        loadrun.make_accounts(store, work / "accounts.json")
        store.close()
        server = loadrun.Server(work, url, work / "server.log")
        stack.callback(server.stop)
        server.wait_ready()
        opts = loadrun.LoadOptions(
            analysts=args.analysts,
            walls=args.walls,
            seconds=args.seconds,
            wall_period=args.wall_period,
            think=args.think,
        )
        print(
            f"{opts.analysts} analysts + {opts.walls} walls for {opts.seconds:g} s against {server.base} "
            f"(think ≤ {opts.think:g} s, wall refresh every {opts.wall_period:g} s) …",
            flush=True,
        )
        rows = loadrun.run_locust(server.base, work / "accounts.json", work / "locust", opts)
        print(loadrun.table(rows))
        for f in loadrun.read_failures(work / "locust")[:20]:
            print(f"  failure: {f['Method']} {f['Name']} ×{f['Occurrences']}: {f['Error'][:200]}")
        print(f"server still running: {server.alive}")


if __name__ == "__main__":
    main()
