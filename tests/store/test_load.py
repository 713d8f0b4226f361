"""Load and faults over real HTTP on loopback (issue #6), on a PostGIS server of this module's own.

The dashboard runs as ``onemap serve`` runs it (waitress, a process of its own) over the tiny demo city in
a throwaway PostgreSQL + PostGIS server; locust (``bench/locustfile.py``, in a process of its own) plays
50 analysts and 10 video walls. ``ONEMAP_LOAD_SECONDS`` sets the length of the load run (default 60).

* Under load: no failed request (non-2xx, an error shown, a callback answer without its outputs) and
  every screen, the wall, filters, drill-downs and exports answered. Latency is not asserted: it is
  measured by ``bench/bench_load.py`` and reported in the README.
* The database stopped mid-run: walls keep their figures and say how old they are, analysts read
  "数据暂不可用，请稍后刷新", the REST API and log-in answer ``503`` JSON, the server process lives on,
  and everything answers normally again once the database is back.
* A work-order transition cut by a database crash between its two statements leaves nothing half-done.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from bench import loadrun
from dashboard.app import router_request
from data.store import load_layers, open_store
from data.store import workflow as wf
from data.store.base import is_unavailable
from data.store.users import add_user

LOAD_SECONDS = float(os.environ.get("ONEMAP_LOAD_SECONDS", "60"))
OUTAGE_S = 20.0
#: The callbacks the probes fire, as ``/_dash-dependencies`` names them.
WALL_REFRESH = {
    "output": "..wall-body.children...wall-title.children...wall-progress.children..."
    "wall-status.children...wall-status.className...wall-good.data.."
}
DOWN = "数据暂不可用，请稍后刷新"


class Browser:
    """A browser's HTTP side: a cookie jar and JSON requests (urllib, no retries)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, str]:
        """(status, headers, text) of one request."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(req, timeout=120) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode()

    def log_in(self, user: str, password: str) -> int:
        return self.request("POST", "/login", {"user": user, "password": password})[0]

    def render(self, path: str, search: str = "") -> tuple[int, str]:
        """The router callback for a URL: (status, the screen's children as JSON text)."""
        status, _, text = self.request("POST", "/_dash-update-component", router_request(path, search))
        if status != 200:
            return status, text
        page = json.loads(text)["response"]["page"]["children"]
        return status, json.dumps(page, ensure_ascii=False)

    def wall_refresh(self, index: int, good: dict | None) -> tuple[int, dict]:
        """The wall's refresh callback: (status, response by component id)."""
        options = {"size": "1080", "interval_s": 30.0, "refresh_s": 60.0, "pinned": None}
        inputs = [loadrun.prop("wall-screen", "data", index), loadrun.prop("wall-refresh", "n_intervals", 1)]
        state = [loadrun.prop("wall-options", "data", options), loadrun.prop("wall-good", "data", good)]
        body = loadrun.dash_body(WALL_REFRESH, inputs, state, "wall-refresh.n_intervals")
        status, _, text = self.request("POST", "/_dash-update-component", body)
        return status, (json.loads(text)["response"] if status == 200 else {"text": text})


@pytest.fixture(scope="module")
def site(own_pg_server, store_demo, tmp_path_factory):
    """The served demo city: ``.server`` (``onemap serve``), ``.pg`` (the database server), accounts."""
    work = tmp_path_factory.mktemp("load")
    store = open_store(own_pg_server.url)
    load_layers(store, store_demo)
    accounts = loadrun.make_accounts(store, work / "accounts.json")
    staff = store.read("staff", columns=["staff_id", "role", "unit_code"], geometry=False)
    worker = staff[staff.role == "专职网格员"].sort_values("staff_id").iloc[0]
    add_user(store, "load_worker", "worker-pass-1", "grid_worker", worker.unit_code, staff_id=worker.staff_id)
    order = wf.dispatch(store, worker.unit_code, "负载测试工单", "J000001")
    store.close()
    server = loadrun.Server(work, own_pg_server.url, work / "server.log")
    try:
        server.wait_ready()
        yield SimpleNamespace(
            server=server, pg=own_pg_server, work=work, accounts=accounts, order=order, url=own_pg_server.url
        )
    finally:
        server.stop()


def _browser(site, kind: str = "analysts") -> Browser:
    b = Browser(site.server.base)
    user, password = site.accounts[kind][0]
    assert b.log_in(user, password) == 200
    return b


def _worker(site) -> Browser:
    b = Browser(site.server.base)
    assert b.log_in("load_worker", "worker-pass-1") == 200
    return b


def _by_name(rows: list[dict]) -> dict[str, dict]:
    return {r["Name"]: r for r in rows if r["Name"] != "Aggregated"}


def _failures(prefix) -> str:
    rows = loadrun.read_failures(prefix)
    return "\n".join(f"{f['Name']} ×{f['Occurrences']}: {f['Error'][:300]}" for f in rows)


def test_fifty_analysts_and_ten_walls_get_no_error(site):
    prefix = site.work / "normal"
    opts = loadrun.LoadOptions(analysts=50, walls=10, seconds=LOAD_SECONDS)
    rows = loadrun.run_locust(site.server.base, site.work / "accounts.json", prefix, opts)
    print("\n" + loadrun.table(rows))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    assert int(total["Failure Count"]) == 0, _failures(prefix)
    names = _by_name(rows)
    expected = {f"render {s}" for s in ("overview", "empower", "warnings", "quality", "map", "wall")}
    expected |= {"login", "filter", "drill", "export", "wall rotate", "wall refresh"}
    answered = {n for n, r in names.items() if int(r["Request Count"]) > 0}
    assert expected <= answered, f"never asked: {sorted(expected - answered)}"
    assert not any(loadrun.DEGRADED in n for n in names), "the store was up: no answer may say otherwise"
    assert int(names["login"]["Request Count"]) == 60
    assert site.server.alive


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(1.0)


def test_the_database_stopped_mid_run_degrades_and_comes_back(site):
    analyst, wall, worker = _browser(site), _browser(site, "walls"), _worker(site)
    status, page = analyst.render("/overview")
    assert status == 200 and DOWN not in page and "网格总数" in page
    status, first = wall.wall_refresh(0, None)
    assert status == 200 and first["wall-status"]["className"] == "wall-status ok"
    good = first["wall-good"]["data"]

    prefix = site.work / "outage"
    opts = loadrun.LoadOptions(analysts=50, walls=10, seconds=OUTAGE_S + 30, outage_ok=True)
    locust = loadrun.start_locust(site.server.base, site.work / "accounts.json", prefix, opts)
    try:
        time.sleep(12)  # users logged in and working
        site.pg.stop("fast")
        down_at = time.monotonic()
        # after the log-in guard's principal cache has aged out every request meets the dead database
        time.sleep(6)
        status, out = wall.wall_refresh(1, good)
        assert status == 200, out
        assert set(out) == {"wall-status"}, "the wall keeps its figures, title and progress as they are"
        assert out["wall-status"]["className"] == "wall-status stale"
        assert out["wall-status"]["children"].startswith("数据更新失败，显示 ")
        for path in ("/overview", "/map", "/quality"):
            status, page = analyst.render(path)
            assert status == 200 and DOWN in page, page[:300]
        status, headers, text = worker.request("GET", "/api/v1/work-orders")
        assert status == 503 and headers.get("Retry-After"), text
        assert json.loads(text)["error"] == "store_unavailable"
        status, _, text = Browser(site.server.base).request(
            "POST", "/login", {"user": "load_worker", "password": "worker-pass-1"}
        )
        assert status == 503 and json.loads(text)["error"] == "store_unavailable"
        status, _, text = Browser(site.server.base).request("GET", "/healthz")
        assert status == 200
        time.sleep(max(OUTAGE_S - (time.monotonic() - down_at), 0))
        assert site.server.alive, "the server process survived the outage"
    finally:
        if not site.pg.running:
            site.pg.start()

    def back() -> bool:
        status, page = analyst.render("/overview")
        return status == 200 and DOWN not in page and "网格总数" in page

    _wait_for(back, 30, "the screens answer normally again")
    status, out = wall.wall_refresh(2, good)
    assert status == 200 and out["wall-status"]["className"] == "wall-status ok"
    assert "wall-screen-warnings" in json.dumps(out["wall-body"])
    status, _, text = worker.request("GET", "/api/v1/work-orders")
    assert status == 200, text
    assert Browser(site.server.base).log_in("load_worker", "worker-pass-1") == 200

    locust.wait(opts.seconds + 180)
    rows = loadrun.read_stats(prefix)
    print("\n" + loadrun.table(rows))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    assert int(total["Failure Count"]) == 0, _failures(prefix)
    names = _by_name(rows)
    degraded = {n for n in names if n.endswith(loadrun.DEGRADED)}
    assert f"wall refresh{loadrun.DEGRADED}" in degraded, "the walls met the outage"
    assert any(n.startswith("render") or n.startswith("drill") for n in degraded), "analysts met it"
    assert site.server.alive


def test_a_transition_cut_by_a_database_crash_leaves_nothing_half_done(site, monkeypatch):
    store = open_store(site.url, migrate=False)
    try:
        order = store.work_order(site.order["order_id"])
        trail = len(store.work_order_events(order["order_id"]))
        insert_events = wf._insert_events

        def crash_then_insert(conn, events):
            site.pg.stop("immediate")  # every server process killed: no commit can follow
            insert_events(conn, events)

        monkeypatch.setattr(wf, "_insert_events", crash_then_insert)
        with pytest.raises(sa.exc.DBAPIError) as info:
            store.transition(order["order_id"], "已签收", "J000001", expected_version=order["version"])
        monkeypatch.undo()
        assert is_unavailable(info.value), info.value
        site.pg.start()  # crash recovery replays the log: only committed work survives
        after = store.work_order(order["order_id"])
        assert (after["state"], after["version"]) == (order["state"], order["version"])
        assert len(store.work_order_events(order["order_id"])) == trail
        moved = store.transition(order["order_id"], "已签收", "J000001", expected_version=order["version"])
        assert moved["version"] == order["version"] + 1
        assert len(store.work_order_events(order["order_id"])) == trail + 1
    finally:
        if not site.pg.running:
            site.pg.start()
        store.close()
