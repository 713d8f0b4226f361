"""Running the load (负载运行): accounts in a store, the server as ``onemap serve`` runs it, locust headless.

Shared by ``bench/bench_load.py`` (figures) and ``tests/test_load.py`` (zero errors, faults). The users'
behaviour is ``bench/locustfile.py``. Locust runs in a process of its own: it patches the standard library
for gevent when imported, which must not happen inside pytest or the server; this module never imports it
(the locustfile imports this one for the request bodies).
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data.store.base import Store

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
#: Analyst accounts of a load run: (user, role, level of the unit it is bound to).
ANALYST_ACCOUNTS = (
    ("load_admin", "admin", "city"),
    ("load_leader", "leader", "city"),
    ("load_county_1", "analyst", "county"),
    ("load_county_2", "analyst", "county"),
    ("load_station", "leader", "station"),
)
WALL_ACCOUNTS = (("load_wall", "display", "city"),)
#: Appended by the locustfile to a request's name when it answered, as it should during an outage, that
#: the data is unavailable.
DEGRADED = " [数据暂不可用]"


def make_accounts(store: Store, path: Path) -> dict[str, list[list[str]]]:
    """Create the load run's accounts (random passwords; reset when they exist) and write them as JSON.

    Analysts are bound to the city, to counties and to a station, so the server computes several scopes;
    the walls to the city.

    Parameters
    ----------
    store : Store
    path : Path
        JSON file for ``locust --accounts`` (mode 0600).

    Returns
    -------
    dict
        ``{"analysts": [[user, password], ...], "walls": [...]}``.
    """
    from data.store import users as U

    units = {level: store.units(level).unit_code.tolist() for level in ("city", "county", "station")}
    used: dict[str, int] = {}
    out: dict[str, list[list[str]]] = {"analysts": [], "walls": []}
    for kind, accounts in (("analysts", ANALYST_ACCOUNTS), ("walls", WALL_ACCOUNTS)):
        for user, role, level in accounts:
            codes = units[level] or units["city"]
            unit = codes[used.get(level, 0) % len(codes)]
            used[level] = used.get(level, 0) + 1
            password = secrets.token_urlsafe(12)
            try:
                U.add_user(store, user, password, role, unit)
            except ValueError:
                U.set_password(store, user, password)
            out[kind].append([user, password])
    path.write_text(json.dumps(out), encoding="utf-8")
    path.chmod(0o600)
    return out


def prop(ident: Any, name: str, value: Any) -> dict[str, Any]:
    """One input or state of a Dash callback request: component id, property, value."""
    return {"id": ident, "property": name, "value": value}


def dash_body(dep: dict, inputs: list, state: list, changed: str) -> dict:
    """The ``/_dash-update-component`` body the browser sends for callback ``dep``.

    Parameters
    ----------
    dep : dict
        The callback's entry in ``/_dash-dependencies`` (its ``output`` key names the outputs).
    inputs, state : list
        :func:`prop` values in the callback's order (a list of them for a pattern-matching input).
    changed : str
        ``id.property`` of the input that fired.

    Returns
    -------
    dict
    """
    key = dep["output"]
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = []
    for part in parts:
        ident, name = part.rsplit(".", 1)
        outputs.append({"id": ident, "property": name.split("@")[0]})  # "@…" marks allow_duplicate
    return {
        "output": key,
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": inputs,
        "state": state,
        "changedPropIds": [changed],
    }


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The dashboard served by ``onemap serve`` (waitress) in a process of its own, on a loopback port.

    Parameters
    ----------
    data_dir : Path
        ``--data`` of ``onemap serve``: the SQLite store when ``url`` is empty, and the session key.
    url : str
        Database URL (``ONEMAP_DATABASE_URL``); empty for the SQLite store of ``data_dir``.
    log : Path
        Where the server's output goes.
    """

    def __init__(self, data_dir: Path, url: str, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "ONEMAP_DATABASE_URL": url, "ONEMAP_DATA": str(data_dir)}
        cmd = [sys.executable, "-m", "onemap.cli", "serve", "--data", str(data_dir), "--port", str(self.port)]
        with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until ``/healthz`` answers; raise with the server's log when it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                break
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"the server did not start: {self.log.read_text(errors='replace')[-3000:]}")

    @property
    def alive(self) -> bool:
        """True while the server process runs."""
        return self.proc.poll() is None

    def stop(self) -> None:
        """Stop the server process (SIGTERM, then SIGKILL after 20 s)."""
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)


@dataclass
class LoadOptions:
    """One locust run: users, duration and pacing (see ``bench/locustfile.py``)."""

    analysts: int = 50
    walls: int = 10
    seconds: float = 60.0
    spawn_rate: float = 20.0
    wall_period: float = 10.0
    think: float = 6.0
    outage_ok: bool = False


def start_locust(host: str, accounts: Path, out_prefix: Path, opts: LoadOptions) -> subprocess.Popen:
    """Start locust headless against ``host``; its CSV figures go to ``<out_prefix>_stats.csv``."""
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--users",
        str(opts.analysts + opts.walls),
        "--spawn-rate",
        str(opts.spawn_rate),
        "--run-time",
        f"{int(opts.seconds)}s",
        "--stop-timeout",
        "30",
        "--csv",
        str(out_prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--accounts",
        str(accounts),
        "--walls",
        str(opts.walls),
        "--wall-period",
        str(opts.wall_period),
        "--think",
        str(opts.think),
        *(["--outage-ok"] if opts.outage_ok else []),
    ]
    with open(f"{out_prefix}.log", "wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def run_locust(host: str, accounts: Path, out_prefix: Path, opts: LoadOptions) -> list[dict[str, str]]:
    """Run locust to the end and return its figures (:func:`read_stats`)."""
    proc = start_locust(host, accounts, out_prefix, opts)
    proc.wait(opts.seconds + 180)
    return read_stats(out_prefix)


def read_stats(out_prefix: Path) -> list[dict[str, str]]:
    """The rows of locust's ``<out_prefix>_stats.csv`` (one per request name, the last one ``Aggregated``).

    Times are milliseconds; columns ``Name``, ``Request Count``, ``Failure Count``, ``50%``, ``95%``,
    ``99%``, ``Requests/s`` among others.
    """
    with open(f"{out_prefix}_stats.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_failures(out_prefix: Path) -> list[dict[str, str]]:
    """The rows of locust's ``<out_prefix>_failures.csv`` (method, name, error, occurrences)."""
    path = Path(f"{out_prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def table(rows: list[dict[str, str]]) -> str:
    """Locust's figures as a text table: requests, failures and p50/p95/p99 (ms) per request name."""
    lines = [f"{'request':<34} {'count':>7} {'fail':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'req/s':>7}"]
    for r in rows:
        lines.append(
            f"{r['Name'] or r['Type']:<34} {r['Request Count']:>7} {r['Failure Count']:>5} "
            f"{r['50%']:>7} {r['95%']:>7} {r['99%']:>7} {float(r['Requests/s']):>7.2f}"
        )
    return "\n".join(lines)
