"""Benchmark: the dashboard in a real headless Chromium against a live server, as a user feels it.

Usage::

    /tmp/venv/bin/python bench/bench_dashboard.py [--data /tmp/demo_full] [--repeat 5]
        [--user NAME --password PASS] [--port 0]

``--data`` is a folder with an embedded store (``onemap.sqlite``), or a folder of GeoParquet layers
without one (they are then loaded into a throw-away store first). Default ``/tmp/demo_full`` when its
store exists. Without ``--user`` a city administrator ``onemap_bench`` is created (or its password reset).

Measured, median of ``--repeat`` runs, each interaction timed in the page's own clock
(``performance.now()``) up to when the view is *usable*: shown (below), then the end of the browser's last
long task (``PerformanceObserver('longtask')``) before half a second without one, so deck.gl's drawing
and any other work that would delay the next click are counted:

* **first screen** (首屏可用): navigation start → ``#page`` has content, the render callback answered,
  nothing loading, and the map canvas inside ``#map`` has a size (then one animation frame);
  cold cache (a new browser context each time);
* **filter** (筛选): click 近7天 on ``/map`` → URL has ``range=7d`` and the new view is rendered;
* **map drill** (地图下钻): click the middle of the map on ``/map`` → the breadcrumb shows a county;
* **table drill** (列表下钻): click the first ``a.drill`` row on ``/overview`` → the breadcrumb shows
  that unit.

Next to it, in the same run, the **naive baseline** of the issue: one plotly ``choropleth_map`` of every
grid of the city at full precision on the offline ``white-bg`` style, recoloured by sending a whole new
figure when the range changes (first map drawn, then recolour visible: MapLibre idle after plotly's
``afterplot``). ``--no-baseline`` skips it.

Also: server time of each ``/_dash-update-component`` request (request sent → first response byte,
from Playwright's ``request.timing``; p50/p95/max) and the bytes of response bodies per interaction.
Not a test: it prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from onemap.chromium import CHROMIUM, CHROMIUM_ARGS

UPDATE = "/_dash-update-component"

#: Counts the Dash callbacks in flight and notes when the screen's render callback last answered.
INIT_SCRIPT = """
(() => {
  window.__inflight = 0; window.__renderDone = -1; window.__lastLong = 0; window.__clicks = -1;
  // long tasks (>50 ms) of the main thread: deck.gl building layers, WebGL set-up, React rendering
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        window.__lastLong = Math.max(window.__lastLong, e.startTime + e.duration);
      }
    }).observe({type: 'longtask', buffered: true});
  } catch (e) { /* no long-task timing: the settled time alone */ }
  const orig = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === 'string' ? input : (input && input.url) || '';
    if (!url.includes('__UPDATE__')) return orig.apply(this, arguments);
    const isRender = !!(init && typeof init.body === 'string' && init.body.includes('page.children'));
    if (init && typeof init.body === 'string' && init.body.includes('map-click.data')) {
      window.__clicks = performance.now();
    }
    window.__inflight += 1;
    const done = () => { window.__inflight -= 1; if (isRender) window.__renderDone = performance.now(); };
    return orig.apply(this, arguments).then(
      (r) => { r.clone().arrayBuffer().then(done, done); return r; },
      (e) => { done(); throw e; });
  };
})();
""".replace("__UPDATE__", UPDATE)

#: True when the render callback answered after ``t0``, nothing is in flight and nothing is loading.
SETTLED = (
    "window.__renderDone > t0 && window.__inflight === 0"
    " && !document.querySelector('[data-dash-is-loading=\"true\"]')"
    " && (() => { const p = document.querySelector('#page'); return p && p.innerText.trim().length > 0; })()"
)
MAP_DRAWN = (
    "(() => { const c = document.querySelector('#map canvas');"
    " return !!c && c.width > 0 && c.height > 0; })()"
)
NEXT_FRAME = (
    "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))"
)


#: The main thread counts as free again after this long without a long task.
QUIET_MS = 500


def _wait(page, condition: str, t0: float, timeout_ms: float = 120_000) -> float:
    """Wait for a JS ``condition`` (may use ``t0``) and then for the main thread to be free; return when
    the view was usable: two frames after the condition held, or the end of the last long task after it
    when later (what the browser still had to do, e.g. deck.gl drawing, before it answers a click)."""
    page.wait_for_function(f"(t0) => {condition}", arg=t0, timeout=timeout_ms)
    shown = page.evaluate(NEXT_FRAME)
    page.wait_for_function(
        f"() => performance.now() - Math.max(window.__lastLong || 0, {shown}) > {QUIET_MS}",
        timeout=timeout_ms,
    )
    return max(shown, page.evaluate("window.__lastLong || 0"))


def open_data(folder: Path):
    """The store of ``folder``: its own ``onemap.sqlite``, or its layers loaded into a temporary store."""
    from data.store import load_layers, open_store

    if (folder / "onemap.sqlite").exists():
        return open_store(url="", data_dir=folder), folder
    tmp = Path(tempfile.mkdtemp(prefix="onemap_bench_"))
    print(f"no store in {folder}: loading its layers into {tmp} …", flush=True)
    store = open_store(url="", data_dir=tmp)
    t = time.perf_counter()
    load_layers(store, folder)
    print(f"  loaded in {time.perf_counter() - t:.1f} s", flush=True)
    return store, tmp


def bench_user(store, user: str | None, password: str | None) -> tuple[str, str]:
    """The account to log in with (a city administrator created for the run when none is given)."""
    from data.store import users as U

    if user:
        return user, password or ""
    user, password = "onemap_bench", secrets.token_urlsafe(12)
    city = str(store.units("city")["unit_code"].iloc[0])
    try:
        U.add_user(store, user, password, "admin", city)
    except ValueError:
        U.set_password(store, user, password)
    return user, password


def serve(store, var_dir: Path, port: int):
    """Run the app's Flask server in a daemon thread; return (server, base URL)."""
    from werkzeug.serving import make_server

    from dashboard.app import AppConfig, create_app

    app = create_app(store, AppConfig(data_dir=var_dir))
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # a server that has run a while has its incident index and KPI base (read at start-up in the
    # background): measure that one, not the first minute of a new one
    q, t = app.server.extensions["onemap"]["queries"], time.perf_counter()
    while not q.warmed() and time.perf_counter() - t < 600:
        time.sleep(0.5)
    print(f"server warm in {time.perf_counter() - t:.1f} s", flush=True)
    return server, f"http://127.0.0.1:{server.server_port}"


class Recorder:
    """Response bodies and server times of the requests made while an interaction is labelled."""

    def __init__(self) -> None:
        self.label: str | None = None
        self.bytes: dict[str, int] = {}
        self.server_ms: list[float] = []
        self.slowest: list[tuple[float, str]] = []  # (ms, interaction: callback) of the callbacks

    def attach(self, page) -> None:
        page.on("requestfinished", self._finished)

    def _finished(self, request) -> None:
        label = self.label  # read once: the calls below let the main code run (and relabel) meanwhile
        if label is None:
            return
        try:
            size = request.sizes()["responseBodySize"]
        except Exception:  # a request whose sizes are gone (page closed) counts as nothing
            size = 0
        self.bytes[label] = self.bytes.get(label, 0) + max(int(size), 0)
        if UPDATE in request.url:
            t = request.timing
            if t.get("responseStart", -1) >= 0 and t.get("requestStart", -1) >= 0:
                ms = t["responseStart"] - t["requestStart"]
                self.server_ms.append(ms)
                output = (request.post_data_json or {}).get("output", "?") if request.post_data else "?"
                self.slowest.append((ms, f"{label.split('#')[0]}: {output[:60]}"))


def login(context, base: str, user: str, password: str) -> None:
    r = context.request.post(f"{base}/login", data={"user": user, "password": password})
    if r.status != 200:
        raise SystemExit(f"log-in failed ({r.status}): {r.text()[:200]}")


#: True when the map took the click: the browser drilled into the unit clicked (the URL changed) or
#: sent the clicked position to the server (a hexagon or a point was clicked).
CLICK_SENT = "window.__clicks > t0 || location.search !== window.__searchAtClick"


def click_map(page, tries: int = 5) -> float:
    """Click the middle of the map as a hand does (move, rest, press, release) until deck.gl reports
    the click (software WebGL sometimes drops a click that comes while it is still picking for the
    hover); returns ``performance.now()`` at the release that was taken."""
    box = page.locator("#map canvas").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for attempt in range(tries):
        page.mouse.move(x + attempt, y + attempt, steps=5)
        page.wait_for_timeout(1000)  # deck.gl picks on hover first (not timed)
        page.mouse.down()
        page.wait_for_timeout(80)  # a press, not a twitch: deck.gl takes the click on release
        t0 = page.evaluate("() => { window.__searchAtClick = location.search; return performance.now(); }")
        page.mouse.up()
        try:
            page.wait_for_function(f"(t0) => {CLICK_SENT}", arg=t0, timeout=3000)
            return t0
        except Exception:  # the click was not taken: press again
            continue
    raise RuntimeError(f"the map did not take a click in {tries} tries")


def run(base: str, user: str, password: str, repeat: int) -> dict:
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {"first screen": [], "filter": [], "map drill": [], "table drill": []}
    rec = Recorder()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        for i in range(repeat + 1):  # run 0 warms the server's caches and is not counted
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.add_init_script(INIT_SCRIPT)
            login(context, base, user, password)
            page = context.new_page()
            rec.attach(page)

            rec.label = f"first screen#{i}"
            page.goto(f"{base}/map", wait_until="commit")
            t_first = _wait(page, f"{SETTLED} && {MAP_DRAWN}", -1)

            rec.label = f"filter#{i}"
            t0 = page.evaluate("performance.now()")
            page.locator(".f-quick label", has_text="近7天").click()
            t_filter = _wait(page, f"location.search.includes('range=7d') && {SETTLED}", t0) - t0

            rec.label = f"map drill#{i}"
            before = page.inner_text("#crumb-current").strip()
            t0 = click_map(page)
            cond = (
                f"{SETTLED} && (() => {{ const c = document.querySelector('#crumb-current');"
                f" return c && c.innerText.trim() !== {before!r}; }})()"
            )
            t_map = _wait(page, cond, t0) - t0

            rec.label = None
            page.goto(f"{base}/overview")
            _wait(page, SETTLED, -1)
            rec.label = f"table drill#{i}"
            link = page.locator("#overview-table a.drill").first
            name = link.inner_text().strip()
            before = page.inner_text("#crumb-current").strip()
            t0 = page.evaluate("performance.now()")
            link.click()
            cond = (
                f"{SETTLED} && (() => {{ const c = document.querySelector('#crumb-current');"
                f" return c && c.innerText.trim() === {name!r} && {name!r} !== {before!r}; }})()"
            )
            t_drill = _wait(page, cond, t0) - t0
            page.wait_for_timeout(200)  # let the last requestfinished events arrive for the byte count
            rec.label = None
            if i:
                times["first screen"].append(t_first)
                times["filter"].append(t_filter)
                times["map drill"].append(t_map)
                times["table drill"].append(t_drill)
            context.close()
        browser.close()
    return {
        "times": times,
        "bytes": rec.bytes,
        "server_ms": rec.server_ms,
        "slowest": rec.slowest,
        "repeat": repeat,
    }


# ---------------------------------------------------------------------- the naive baseline
#: True when plotly drew the map and MapLibre is idle (style and sources loaded, nothing moving).
NAIVE_DRAWN = """(() => {
  const gd = document.querySelector('#g .js-plotly-plot') || document.querySelector('#g.js-plotly-plot');
  if (!gd || !gd.on || !gd._fullLayout || !gd._fullLayout.map) return false;
  if (!gd.__hooked) {
    gd.__hooked = true; gd.__after = 0; gd.on('plotly_afterplot', () => { gd.__after += 1; });
  }
  const sub = gd._fullLayout.map._subplot; const m = sub && sub.map;
  return !!m && m.loaded() && !m.isMoving() && gd.__after >= (window.__want || 0)
    && String(gd._fullLayout.meta) === String(window.__days || 30);
})()"""


def naive_app(store, as_of):
    """The issue's naive map: every grid at full precision in one plotly ``choropleth_map`` (offline
    ``white-bg``), recoloured by sending a whole new figure. Returns ``(app, n_grids)``."""
    import datetime as dt

    import dash
    import plotly.graph_objects as go
    import shapely
    from dash import Input, Output, dcc, html

    grids = store.features("grids", columns=["grid_code"])
    codes = grids["grid_code"].astype(str).tolist()
    geojson = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": c, "properties": {}, "geometry": json.loads(g)}
            for c, g in zip(codes, shapely.to_geojson(grids.geometry.to_numpy()), strict=True)
        ],
    }
    w, s_, e, n = grids.total_bounds

    def counts(days: int):
        frame = store.aggregate_incidents(None, as_of - dt.timedelta(days=days - 1), as_of, by="grid")
        return frame.set_index("grid")["n"].reindex(codes).fillna(0).tolist()

    def figure(days: int) -> go.Figure:
        fig = go.Figure(
            go.Choroplethmap(
                geojson=geojson, locations=codes, z=counts(days), colorscale="YlOrRd", marker_line_width=0.2
            )
        )
        fig.update_layout(
            map={"style": "white-bg", "center": {"lon": (w + e) / 2, "lat": (s_ + n) / 2}, "zoom": 7.5},
            margin={"l": 0, "r": 0, "t": 0, "b": 0},
            height=800,
            meta=days,  # which figure is drawn (the bench waits for the new one)
        )
        return fig

    app = dash.Dash(__name__, serve_locally=True, title="naive")
    app.layout = html.Div(
        [
            dcc.RadioItems(
                id="r", options=[{"label": "近30天", "value": 30}, {"label": "近7天", "value": 7}], value=30
            ),
            dcc.Graph(id="g", figure=figure(30)),
        ]
    )

    @app.callback(Output("g", "figure"), Input("r", "value"), prevent_initial_call=True)
    def _recolour(days):
        return figure(int(days))

    return app, len(codes)


def run_baseline(store, repeat: int) -> dict:
    """First map drawn and recolour visible of :func:`naive_app`, median of ``repeat`` (+1 warm-up)."""
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from dashboard.queries import Queries

    app, n = naive_app(store, Queries(store).as_of())
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    times: dict[str, list[float]] = {"first screen": [], "recolour": []}
    rec = Recorder()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
            for i in range(repeat + 1):
                context = browser.new_context(viewport={"width": 1600, "height": 1000})
                page = context.new_page()
                rec.attach(page)
                rec.label = f"first screen#{i}"
                page.goto(base, wait_until="commit")
                t_first = _wait(page, NAIVE_DRAWN, -1, timeout_ms=600_000)
                rec.label = f"recolour#{i}"
                page.evaluate(
                    "() => { const gd = document.querySelector('#g .js-plotly-plot')"
                    " || document.querySelector('#g.js-plotly-plot'); window.__want = gd.__after + 1;"
                    " window.__days = 7; }"
                )
                t0 = page.evaluate("performance.now()")
                page.locator("#r label", has_text="近7天").click()
                t_recolour = _wait(page, NAIVE_DRAWN, t0, timeout_ms=600_000) - t0
                page.wait_for_timeout(200)
                rec.label = None
                if i:
                    times["first screen"].append(t_first)
                    times["recolour"].append(t_recolour)
                context.close()
            browser.close()
    finally:
        server.shutdown()
    return {"times": times, "bytes": rec.bytes, "server_ms": rec.server_ms, "repeat": repeat, "grids": n}


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))] if s else float("nan")


def report(result: dict, data: Path, title: str = "dashboard") -> None:
    n = result["repeat"]
    print(f"\n{title} in headless Chromium · data {data} · median of {n} (one warm-up run not counted)\n")
    print(f"{'interaction':<14}{'median ms':>11}{'min ms':>9}{'max ms':>9}{'bytes (median)':>16}")
    for name, values in result["times"].items():
        sizes = [v for k, v in result["bytes"].items() if k.split("#")[0] == name and not k.endswith("#0")]
        print(
            f"{name:<14}{statistics.median(values):>11.0f}{min(values):>9.0f}{max(values):>9.0f}"
            f"{statistics.median(sizes) if sizes else 0:>16,.0f}"
        )
    ms = result["server_ms"]
    print(
        f"\n{UPDATE}: {len(ms)} requests, server time (request sent → first byte) "
        f"p50 {_pct(ms, 50):.0f} ms · p95 {_pct(ms, 95):.0f} ms · max {max(ms, default=float('nan')):.0f} ms"
    )
    for took, what in sorted(result.get("slowest", []), reverse=True)[:5]:
        print(f"  {took:6.0f} ms  {what}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path("/tmp/demo_full")
    ap.add_argument("--data", type=Path, default=default if (default / "onemap.sqlite").exists() else None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-baseline", action="store_true", help="skip the naive plotly baseline")
    ap.add_argument("--baseline-repeat", type=int, default=2)
    args = ap.parse_args(argv)
    if args.data is None:
        ap.error("--data is required (no store in /tmp/demo_full)")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found")
    store, _store_dir = open_data(args.data)
    user, password = bench_user(store, args.user, args.password)
    server, base = serve(store, Path(tempfile.mkdtemp(prefix="onemap_bench_var_")), args.port)
    try:
        result = run(base, user, password, args.repeat)
        baseline = None if args.no_baseline else run_baseline(store, args.baseline_repeat)
    finally:
        server.shutdown()
        store.close()
    report(result, args.data)
    if baseline is not None:
        report(baseline, args.data, f"naive baseline (plotly choropleth_map of {baseline['grids']:,} grids)")


if __name__ == "__main__":
    main()
