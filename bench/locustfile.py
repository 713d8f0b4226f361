"""Load of the dashboard (负载): analysts at their desks and video walls, as locust users over real HTTP.

Run by ``bench/bench_load.py`` and ``tests/test_load.py`` (through :mod:`bench.loadrun`), or by hand::

    locust -f bench/locustfile.py --headless --host http://127.0.0.1:8050 --users 60 --spawn-rate 20 \\
        --run-time 60s --accounts accounts.json [--outage-ok]

Each user sends what the browser sends, nothing more: the page ``GET``, ``/_dash-layout`` and
``/_dash-dependencies`` once, then ``POST /_dash-update-component`` with the payload of the callback a click
fires (the payloads are built from the server's own ``/_dash-dependencies``, so they follow the app).

* :class:`Analyst`: logs in, then at random opens one of the five screens (page ``GET`` and the
  render callback), changes a filter (the filter callback, then the render of the URL it wrote), or drills
  from the top of their scope down to a grid (one render per level) and exports its population records.
* :class:`Wall` (``--walls`` of the users, the display role 大屏): opens ``/wall`` and then, every
  ``--wall-period`` seconds, rotates and refreshes like the wall's two timers.

A request fails when the server answers outside 2xx (204 only where Dash answers "nothing to update"),
when a callback's answer lacks its outputs, or when it carries an error message. With ``--outage-ok`` (the
fault test stops the database on purpose) the answers that say the data is unavailable ("数据暂不可用"
on the screens, "数据更新失败" on the wall) count as successes under the request's name with
:data:`DEGRADED` appended, so the run tells how many such answers there were.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import sys
from pathlib import Path

from locust import FastHttpUser, between, constant, events, task

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.loadrun import DEGRADED, dash_body, prop
from dashboard.app import router_request

UPDATE = "/_dash-update-component"
SCREENS = ("overview", "empower", "warnings", "quality", "map")
QUICK = ("7d", "30d", "90d", "ytd")


def _escaped(text: str) -> str:
    """``text`` as Dash writes it in a response (non-ASCII as ``\\uXXXX``)."""
    return json.dumps(text)[1:-1]


#: Markers of an answer that says the store cannot be read (screens; wall status line).
DOWN_MARKERS = tuple(m for t in ("数据暂不可用", "数据更新失败") for m in (t, _escaped(t)))
#: Markers of any other error shown to the user.
ERROR_RE = re.compile(r'"className"\s*:\s*"error"|Traceback|' + re.escape(_escaped("请先登录")))
DRILL_RE = re.compile(r"\?unit=(\d+)")


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument(
        "--accounts", default="", help="JSON file: {analysts: [[user, pw], ...], walls: [...]}"
    )
    parser.add_argument(
        "--outage-ok", action="store_true", help="answers saying the data is unavailable pass"
    )
    parser.add_argument("--walls", type=int, default=10, help="how many of the users are walls")
    parser.add_argument("--wall-period", type=float, default=10.0, help="seconds between a wall's refreshes")
    parser.add_argument("--think", type=float, default=6.0, help="an analyst's longest pause (s)")


_accounts: dict[str, list] = {}
_turn = {"analysts": itertools.count(), "walls": itertools.count()}


@events.init.add_listener
def _init(environment, **_kw) -> None:
    opts = environment.parsed_options
    if opts is None:
        return
    if opts.accounts:
        with open(opts.accounts, encoding="utf-8") as fh:
            _accounts.update(json.load(fh))
    # exactly --walls walls, the other users analysts (instead of the classes' weights)
    Wall.fixed_count = opts.walls
    Analyst.fixed_count = max(int(opts.num_users or 0) - opts.walls, 0)


def _account(kind: str) -> tuple[str, str]:
    pool = _accounts.get(kind) or []
    if not pool:
        raise RuntimeError(f"no {kind} accounts: pass --accounts FILE")
    user, password = pool[next(_turn[kind]) % len(pool)]
    return user, password


class DashUser(FastHttpUser):
    """A logged-in browser: its account kind, and the app's callbacks read from ``/_dash-dependencies``."""

    abstract = True
    kind = "analysts"
    # a loaded two-core server may take long: a timeout is an error, so it must mean "stuck"
    network_timeout = connection_timeout = 120.0

    def on_start(self) -> None:
        self.outage_ok = bool(getattr(self.environment.parsed_options, "outage_ok", False))
        user, password = _account(self.kind)
        while not self.log_in(user, password):
            self.wait()  # the store is down (503): try again, as a person would
        self.load_app()

    def log_in(self, user: str, password: str) -> bool:
        """Log in; False after a ``503`` the run allows (``--outage-ok``)."""
        body = {"user": user, "password": password}
        with self.client.post("/login", json=body, name="login", catch_response=True) as r:
            if r.status_code == 503 and self.outage_ok:
                r.request_meta["name"] = "login" + DEGRADED
                r.success()  # the answer the outage calls for
                return False
            if r.status_code != 200:
                r.failure(f"log-in of {user}: {r.status_code} {r.text[:200]}")
                raise RuntimeError(f"log-in of {user} failed")
        return True

    def load_app(self) -> None:
        """What the browser fetches once logged in: the layout and the callbacks of the app."""
        self.client.get("/_dash-layout", name="_dash-layout")
        deps = self.client.get("/_dash-dependencies", name="_dash-dependencies").json()
        self.deps = {}
        for dep in deps:
            if dep.get("clientside_function"):
                continue
            first = dep["inputs"][0]
            self.deps[f"{first['id']}.{first['property']}"] = dep

    def check(self, r, name: str, needs: tuple[str, ...] = ()) -> str:
        """Judge one callback answer (see the module docstring); returns its text ('' when empty)."""
        text = r.text or ""
        down = any(m in text for m in DOWN_MARKERS)
        # an answer without the outputs: Dash's "nothing to update" (204, or 200 with an empty response)
        complete = r.status_code == 200 and all(f'"{n}"' in text for n in needs)
        if r.status_code not in (200, 204):
            r.failure(f"{name}: HTTP {r.status_code} {text[:200]}")
        elif (down or not complete) and self.outage_ok:
            r.request_meta["name"] = name + DEGRADED  # the data, or the user, could not be read
        elif down or ERROR_RE.search(text):
            r.failure(f"{name}: error shown: {text[:300]}")
        elif not complete:
            r.failure(f"{name}: outputs {needs} missing: HTTP {r.status_code} {text[:300]}")
        return text if complete else ""

    def callback(self, trigger: str, inputs: list, state: list, name: str, **check) -> str:
        """Fire the callback whose first input is ``trigger`` (``id.property``; a pattern id as Dash
        writes it in ``/_dash-dependencies``), as if ``trigger`` changed."""
        dep = self.deps.get(trigger) or next(d for k, d in self.deps.items() if trigger in k)
        changed = check.pop("changed", None) or trigger
        body = dash_body(dep, inputs, state, changed)
        with self.client.post(UPDATE, json=body, name=name, catch_response=True) as r:
            return self.check(r, name, **check)

    def render(self, path: str, search: str = "", name: str | None = None) -> str:
        """The router callback for a URL: what a page load or a link click asks (the whole screen: a
        load script holds no screen whose live parts could be updated in place)."""
        name = name or f"render {path}"
        with self.client.post(UPDATE, json=router_request(path, search), name=name, catch_response=True) as r:
            return self.check(r, name, needs=("page",))


class Analyst(DashUser):
    """An analyst (研判人员) moving between screens, filters and drill-downs, and exporting grid records."""

    kind = "analysts"

    def wait_time(self):
        return between(1.0, max(float(self.environment.parsed_options.think), 1.0))(self)

    @task(5)
    def open_screen(self) -> None:
        page = random.choice(SCREENS)
        self.client.get(f"/{page}", name="page GET")
        self.render(f"/{page}", name=f"render {page}")

    @task(2)
    def change_filter(self) -> None:
        page = random.choice(SCREENS)
        quick = random.choice(QUICK)
        controls = {"quick": quick, "cats": [], "hier": random.choice(("admin", "police"))}
        controls["cmp"] = random.choice(("yoy", "prev"))
        inputs = [
            [prop({"f": k}, "value", v) for k, v in controls.items()],
            [prop({"fd": "dates"}, "start_date", None)],
            [prop({"fd": "dates"}, "end_date", None)],
        ]
        state = [prop("url", "pathname", f"/{page}"), prop("url", "search", "")]
        text = self.callback(
            '{"f":["ALL"]}.value', inputs, state, "filter", changed='{"f":"quick"}.value', needs=("response",)
        )
        try:
            # no "url" in the answer: the filters asked for the view already shown
            search = json.loads(text)["response"].get("url", {}).get("search", "") if text else ""
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # already counted as a failure
        self.render(f"/{page}", search, name=f"render {page}")

    @task(2)
    def drill_and_export(self) -> None:
        code, search = "", ""
        for _ in range(4):  # city → county → township → village → grid at most
            text = self.render("/overview", search, name="drill" if search else "render overview")
            deeper = sorted({c for c in DRILL_RE.findall(text) if len(c) > len(code)})
            if not deeper:
                break
            code = random.choice(deeper)
            search = f"?unit={code}"
        if len(code) != 15:
            return
        self.render("/overview", search, name="drill")
        ident = {"fmt": "csv", "layer": "population", "type": "export"}
        self.callback(
            '"type":"export"}.n_clicks',
            [[prop(ident, "n_clicks", 1)]],
            [prop("url", "pathname", "/overview"), prop("url", "search", search)],
            "export",
            changed=json.dumps(ident, separators=(",", ":"), sort_keys=True) + ".n_clicks",
            needs=("export-download",),
        )


class Wall(DashUser):
    """A video wall (大屏) on the display role: rotates through the five screens and refreshes them."""

    kind = "walls"

    def wait_time(self):
        return constant(float(self.environment.parsed_options.wall_period))(self)

    def on_start(self) -> None:
        super().on_start()
        self.index, self.good = 0, None
        self.options = {"size": "1080", "interval_s": 30.0, "refresh_s": 60.0, "pinned": None}
        self.client.get("/wall", name="page GET wall")
        self.render("/wall", name="render wall")

    @task
    def rotate_and_refresh(self) -> None:
        state = [prop("wall-screen", "data", self.index), prop("wall-options", "data", self.options)]
        text = self.callback(
            "wall-rotate.n_intervals",
            [prop("wall-rotate", "n_intervals", 1)],
            state,
            "wall rotate",
            needs=("wall-screen",),
        )
        if text:
            self.index = json.loads(text)["response"]["wall-screen"]["data"]
        inputs = [prop("wall-screen", "data", self.index), prop("wall-refresh", "n_intervals", 1)]
        state = [prop("wall-options", "data", self.options), prop("wall-good", "data", self.good)]
        text = self.callback("wall-screen.data", inputs, state, "wall refresh", needs=("wall-status",))
        if text:
            good = json.loads(text)["response"].get("wall-good")
            self.good = good["data"] if good else self.good
