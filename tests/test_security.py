"""Security of the whole server (Flask test client, SQLite store): each role by crafted requests, security
headers and the Content-Security-Policy, oversized requests, unmasking in the grid records table, safe
export file names, and an audit log no request can change."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.app import AppConfig, create_app, router_request
from dashboard.auth import COOKIE_NAME
from dashboard.records import safe_filename
from dashboard.security import content_security_policy, tile_origin
from data import settings as onemap_settings
from data.access import find_personal_data
from data.store import load_layers, open_store
from data.store.users import add_user

PASSWORD = "security-test-1"
ROLES = ("admin", "leader", "analyst", "officer", "grid_worker", "display")


@pytest.fixture(scope="module")
def world(tiny_demo, tmp_path_factory):
    """A loaded SQLite store, the server, one user per role, and a grid inside / a grid outside their area.

    The analyst is bound to the worker's county, the officer to the worker's 警格, the grid worker to
    their grid; ``far`` is a grid of another county, with its people.
    """
    folder = tmp_path_factory.mktemp("security_store")
    store = open_store(url="", data_dir=folder)
    load_layers(store, tiny_demo)
    gu = store.grid_units()
    people = store.read("population", geometry=False, columns=["person_id", "grid_code", "name", "id_number"])
    populated = gu[gu.grid_code.isin(set(people.grid_code))].sort_values("grid_code")
    home = populated.iloc[0]
    far = populated[populated.county_code != home.county_code].iloc[0]
    city = store.units("city").unit_code.iloc[0]
    units = {
        "admin": city,
        "leader": city,
        "analyst": home.county_code,
        "officer": home.district_code,
        "grid_worker": home.grid_code,
        "display": city,
    }
    for role, unit in units.items():
        add_user(store, role, PASSWORD, role, unit)
    app = create_app(store, AppConfig(data_dir=folder))
    yield {
        "store": store,
        "folder": folder,
        "app": app,
        "home": home.grid_code,
        "far": far.grid_code,
        "home_person": people[people.grid_code == home.grid_code].iloc[0],
        "far_person": people[people.grid_code == far.grid_code].iloc[0],
    }
    store.close()


def _client(world, role=None):
    c = world["app"].server.test_client()
    if role:
        r = c.post("/login", json={"user": role, "password": PASSWORD})
        assert r.status_code == 200, _text(r)
    return c


def _callback(client, output, outputs, inputs, state, changed):
    body = {"output": output, "outputs": outputs, "inputs": inputs, "state": state, "changedPropIds": changed}
    return client.post("/_dash-update-component", json=body)


def _render(client, path, search=""):
    return client.post("/_dash-update-component", json=router_request(path, search))


def _export(client, grid, layer="population"):
    ident = {"fmt": "csv", "layer": layer, "type": "export"}
    state = [
        {"id": "url", "property": "pathname", "value": "/overview"},
        {"id": "url", "property": "search", "value": f"?unit={grid}"},
    ]
    changed = [json.dumps(ident, separators=(",", ":"), sort_keys=True) + ".n_clicks"]
    inputs = [[{"id": ident, "property": "n_clicks", "value": 1}]]
    outputs = {"id": "export-download", "property": "data"}
    return _callback(client, "export-download.data", outputs, inputs, state, changed)


def _unmask(world, client, grid, person_id, reason="入户核查身份", layer="population", row=0):
    """The 查看明文 button's request, crafted: any grid in the URL, any row id."""
    key = next(k for k in world["app"].callback_map if "unmask-msg" in k)

    def ident(kind):
        return {"layer": layer, "type": kind}

    outputs = [
        {"id": ident("grid-records"), "property": "data"},
        {"id": ident("unmask-msg"), "property": "children"},
        {"id": ident("unmask-reason"), "property": "value"},
    ]
    inputs = [{"id": ident("unmask"), "property": "n_clicks", "value": 1}]
    state = [
        {"id": ident("unmask-reason"), "property": "value", "value": reason},
        {"id": ident("grid-records"), "property": "selected_row_ids", "value": [person_id]},
        {"id": ident("grid-records"), "property": "selected_rows", "value": [row]},
        {"id": "url", "property": "pathname", "value": "/overview"},
        {"id": "url", "property": "search", "value": f"?unit={grid}"},
    ]
    changed = [json.dumps(ident("unmask"), separators=(",", ":"), sort_keys=True) + ".n_clicks"]
    return _callback(client, key, outputs, inputs, state, changed)


def _text(resp) -> str:
    """The answer as text, JSON with its non-ASCII characters as they are (Dash escapes them)."""
    data = resp.get_json(silent=True)
    return resp.get_data(as_text=True) if data is None else json.dumps(data, ensure_ascii=False)


def _unmask_audits(world):
    return world["store"].audit_entries(filters={"action": "unmask"}, page_size=1000).frame


# ---------------------------------------------------------------------- each role, crafted requests
@pytest.mark.parametrize("role", ROLES)
def test_crafted_requests_get_nothing_outside_the_scope_and_nothing_unmasked(world, role):
    c = _client(world, role)
    home, far, far_person = world["home"], world["far"], world["far_person"]
    city_wide = role in ("admin", "leader", "display")
    answers = []
    for page in ("overview", "empower", "warnings", "quality", "map"):
        for search in ("", f"?unit={far}", f"?unit={home}&layers=grids,concern,incidents,h3"):
            r = _render(c, f"/{page}", search)
            assert r.status_code == 200, _text(r)[:300]
            answers.append(r)
            if not city_wide:  # the other county's grid is refused, and none of its codes comes back
                assert far not in _text(r)
    for grid in (home, far):
        answers.append(_export(c, grid))
    if role != "leader":  # (the leader's area is the city: the far person is theirs to unmask)
        answers.append(_unmask(world, c, far, far_person.person_id))  # the browser names a far record
        answers.append(_unmask(world, c, home, far_person.person_id))  # … under a URL of their own
        answers.append(
            c.post(
                f"/api/v1/records/population/{far_person.person_id}/unmask", json={"reason": "核查身份信息"}
            )
        )
    for path in (
        "/api/v1/me",
        f"/api/v1/work-orders?unit={far}&mine=0",
        "/api/v1/work-orders?mine=0&page_size=100",
        "/api/v1/audit",
    ):
        answers.append(c.get(path))
    for r in answers:
        text = _text(r)
        assert r.status_code < 500, (role, r.request.path, text[:300])
        assert find_personal_data(text) == [], (role, r.request.path, find_personal_data(text)[:3])
        if not city_wide:  # neither the far grid nor the far person, in any answer
            assert far not in text and far_person["name"] not in text, (role, r.request.path)
    assert far_person.person_id not in set(_unmask_audits(world).target.str.split(":").str[1])


def test_unmasking_in_the_grid_records_table(world):
    store, home, person = world["store"], world["home"], world["home_person"]
    c = _client(world, "analyst")
    page = _text(_render(c, "/overview", f"?unit={home}"))
    assert "查看明文" in page and find_personal_data(page) == []
    before = len(_unmask_audits(world))
    short = _unmask(world, c, home, person.person_id, reason="看看")
    assert short.status_code == 200 and "至少 4 个汉字、字母或数字" in _text(short)
    assert find_personal_data(_text(short)) == [] and len(_unmask_audits(world)) == before
    r = _unmask(world, c, home, person.person_id, row=3)
    assert r.status_code == 200, _text(r)[:300]
    answer = r.json["response"]
    patch = json.dumps(answer[next(k for k in answer if "grid-records" in k)]["data"], ensure_ascii=False)
    assert person.id_number in patch and person["name"] in patch  # the row's fields, filled in
    assert '"location": [3, "id_number"]' in patch
    message = json.dumps(answer, ensure_ascii=False)
    assert "已记入审计日志" in message and person.id_number in message
    entries = _unmask_audits(world)
    assert len(entries) == before + 1
    e = entries.iloc[0]
    assert (e.actor, e.target, e.reason, e.address) == (
        "analyst",
        f"population:{person.person_id}",
        "入户核查身份",
        "127.0.0.1",
    )
    assert json.loads(e.detail)["via"] == "dashboard"
    # the display and the administrator have no button, and a crafted request unmasks nothing
    for role in ("display", "admin"):
        client = _client(world, role)
        assert "查看明文" not in _text(_render(client, "/overview", f"?unit={home}"))
        r = _unmask(world, client, home, person.person_id)
        assert find_personal_data(_text(r)) == []
    assert len(_unmask_audits(world)) == before + 1
    # the grid worker may, for their own grid, but not for a person of concern
    worker = _client(world, "grid_worker")
    assert person.id_number in _text(_unmask(world, worker, home, person.person_id))
    poc = store.read("persons_of_concern", geometry=False).iloc[0]
    r = _unmask(world, worker, home, poc.poc_id, layer="persons_of_concern")
    assert "may not unmask" in _text(r) and poc.id_number not in _text(r)


def test_work_order_text_is_masked_in_the_trace_and_other_areas_are_refused(world):
    from data.access import mask_frame
    from data.store import workflow as wf

    store, home, far = world["store"], world["home"], world["far"]
    phone, id_number = "13812345678", "320602199001011234"
    mine = wf.dispatch(store, home, f"核查出租屋，房东电话 {phone}", "J-leader")
    wf.act(store, mine["order_id"], "sign", "worker", f"已联系，身份证 {id_number}", 1)
    theirs = wf.dispatch(store, far, "核查群租房", "J-leader")

    def trace(client, order):
        body = {
            "output": "order-trace.children",
            "outputs": {"id": "order-trace", "property": "children"},
            "inputs": [
                {"id": "orders-table", "property": "active_cell", "value": {"row": 0, "column": 0}},
                {
                    "id": "orders-table",
                    "property": "derived_viewport_data",
                    "value": [{"order_id": order["order_id"], "grid_code": order["grid_code"]}],
                },
            ],
            "changedPropIds": ["orders-table.active_cell"],
        }
        return _text(client.post("/_dash-update-component", json=body))

    wf.act(store, mine["order_id"], "handle", wf.SYSTEM_ACTOR, "自动转处置", 2)
    analyst = _client(world, "analyst")
    text = trace(analyst, mine)
    assert "138****5678" in text and "320602***********4" in text and find_personal_data(text) == []
    # the first move has no earlier state ("—", not "nan"); moves by the system say so in Chinese
    assert '"—"' in text and '"nan"' not in text and '"系统"' in text and '"system"' not in text
    assert "无权查看该工单" in trace(analyst, theirs) and "群租房" not in trace(analyst, theirs)
    frame = mask_frame(store.read("work_orders", filters={"order_id": mine["order_id"]}, geometry=False))
    assert frame.summary.iloc[0] == "核查出租屋，房东电话 138****5678"


def test_no_request_changes_the_audit_log(world):
    """Every route of the server, with every state-changing method, by the administrator: the audit log
    keeps every entry as it was (new entries may only be appended)."""
    store = world["store"]
    store.append_audit("someone", "unmask", "population:P1", reason="核查身份信息", address="10.0.0.1")
    before = store.audit_entries(page_size=1000).frame
    c = _client(world, "admin")
    server = world["app"].server
    body = {"reason": "删除审计", "audit_id": int(before.audit_id.max()), "action": "delete"}
    for rule in server.url_map.iter_rules():
        if rule.rule == "/logout":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", "audit_log", rule.rule)
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            r = c.open(path, method=method, json=body)
            assert r.status_code < 500, (method, path, r.status_code)
    after = store.audit_entries(page_size=1000).frame
    kept = after[after.audit_id.isin(before.audit_id)].reset_index(drop=True)
    # compared as text: a column's dtype follows the entries appended since (None beside strings)
    same = kept.astype(str).replace({"nan": "None", "<NA>": "None"})
    pd.testing.assert_frame_equal(same, before.reset_index(drop=True).astype(str))


# ---------------------------------------------------------------------- headers
_KEYWORDS = re.compile(r"'(self|none|unsafe-eval|unsafe-inline|sha256-[A-Za-z0-9+/=]+)'")


def _csp(resp) -> dict[str, list[str]]:
    policy = resp.headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}


def test_every_kind_of_answer_carries_the_security_headers(world):
    anon, c = _client(world), _client(world, "analyst")
    suites = re.search(r'src="(/_dash-component-suites/[^"]+)"', c.get("/overview").get_data(as_text=True))
    answers = {
        "page": (c.get("/overview"), True),
        "login page": (anon.get("/login"), True),
        "callback": (_render(c, "/overview"), True),
        "layout": (c.get("/_dash-layout"), True),
        "api": (c.get("/api/v1/me"), True),
        "api error": (c.get("/api/v1/nope"), True),
        "anonymous api": (anon.get("/api/v1/me"), True),
        "export": (_export(c, world["home"]), True),
        "asset": (c.get("/assets/onemap.css"), False),
        "bundle": (c.get(suites.group(1)), False),
    }
    for what, (r, data) in answers.items():
        assert r.status_code in (200, 204, 401, 404), (what, r.status_code)
        h = r.headers
        assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "DENY", what
        assert h["Referrer-Policy"] == "same-origin", what
        csp = _csp(r)
        assert csp["default-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"], what
        assert csp["object-src"] == ["'none'"] and "'unsafe-inline'" not in csp["script-src"], what
        sources = [s for values in csp.values() for s in values]
        assert all(_KEYWORDS.fullmatch(s) for s in sources if s != "data:"), (what, sources)  # no origin
        # data: only where deck.gl fetches the inline density image; never a script, frame or object
        assert [name for name, values in csp.items() if "data:" in values] == ["connect-src"], (what, csp)
        assert (h.get("Cache-Control") == "no-store") == data, (what, h.get("Cache-Control"))
    assert "Strict-Transport-Security" not in answers["page"][0].headers


def test_the_policy_allows_exactly_the_inline_scripts_of_the_page(world):
    r = _client(world, "analyst").get("/wall")
    allowed = set(_csp(r)["script-src"])
    html = re.sub(r"<!--.*?-->", "", _text(r), flags=re.S)  # (IE-only comments)
    inline = [
        body
        for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
        if "src=" not in attrs and "application/json" not in attrs
    ]
    assert len(inline) >= 2  # Dash's renderer and the wall's clientside callbacks
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed


def test_a_tile_service_is_the_only_other_origin_and_only_for_images_and_data():
    assert tile_origin(None) is None
    assert tile_origin("http://pgis.local:8080/tiles/{z}/{x}/{y}.png") == "http://pgis.local:8080"
    assert tile_origin("https://{s}.tiles.gov.local/{z}/{x}/{y}.png") == "https://*.tiles.gov.local"
    with pytest.raises(ValueError, match="absolute http"):
        tile_origin("/tiles/{z}/{x}/{y}.png")
    policy = content_security_policy(["'sha256-abc='"], "http://pgis.local/{z}/{x}/{y}.png")
    with_tiles = [d for d in policy.split("; ") if "pgis.local" in d]
    assert [d.split()[0] for d in with_tiles] == ["img-src", "connect-src"]
    assert "'sha256-abc='" in policy and "script-src 'self' 'unsafe-eval' 'sha256-abc='" in policy


def test_cross_site_and_malformed_callbacks_are_refused(world):
    c = _client(world, "analyst")
    before = len(_unmask_audits(world))
    home, person = world["home"], world["home_person"]
    key = next(k for k in world["app"].callback_map if "unmask-msg" in k)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        r = c.post("/_dash-update-component", json={"output": key, "inputs": []}, headers=headers)
        assert (r.status_code, r.json["error"]) == (403, "cross_origin")
        r = c.post("/login", data={"user": "analyst", "password": PASSWORD}, headers=headers)
        assert r.status_code == 403
    for body in ({}, [], {"output": "no.such"}, {"output": key}, {"output": 5, "inputs": []}):
        r = c.post("/_dash-update-component", json=body)
        assert (r.status_code, r.json["error"]) == (400, "bad_callback_request"), body
    assert len(_unmask_audits(world)) == before
    # the same request from the page itself goes through
    ok = _unmask(world, c, home, person.person_id)
    assert ok.status_code == 200 and len(_unmask_audits(world)) == before + 1


def test_only_a_same_origin_post_logs_out(world):
    """A link or image on another page (GET) or a cross-site form cannot end a session; the page's own
    button (a POST from this origin) does."""
    c = _client(world, "analyst")
    assert c.get("/api/v1/work-orders").status_code == 200
    asked = c.get("/logout")
    assert asked.status_code == 200 and 'method="post" action="/logout"' in _text(asked)
    r = c.post("/logout", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert c.get("/api/v1/work-orders").status_code == 200  # still logged in
    r = c.post("/logout", headers={"Origin": "http://localhost"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert c.get("/api/v1/work-orders").status_code == 401


def _cookie(client) -> str:
    return client.get_cookie(COOKIE_NAME).value


def _replayed(world, saved: str) -> tuple:
    """A fresh browser presenting a saved session cookie: (page, Dash callback, REST) answers."""
    c = world["app"].server.test_client()
    c.set_cookie(COOKIE_NAME, saved)
    page = c.get("/overview")
    page_status = "login" if page.status_code == 302 and "/login" in page.headers["Location"] else 0
    return (
        page_status or page.status_code,
        _render(c, "/overview").status_code,
        c.get("/api/v1/me").status_code,
    )


def test_a_cookie_saved_before_log_out_or_a_password_change_is_refused(world):
    c = _client(world, "analyst")
    saved = _cookie(c)
    assert _replayed(world, saved) == (200, 200, 200)
    assert c.post("/logout").status_code == 302
    assert _replayed(world, saved) == ("login", 401, 401)
    # a password change (the user's own page) ends the sessions of every device, saved copies included
    add_user(world["store"], "changer", PASSWORD, "analyst", world["store"].units("county").unit_code.iloc[0])
    devices = [world["app"].server.test_client() for _ in range(2)]
    for d in devices:
        assert d.post("/login", json={"user": "changer", "password": PASSWORD}).status_code == 200
    saved = [_cookie(d) for d in devices]
    assert "修改密码" in devices[0].get("/password").get_data(as_text=True)
    r = devices[0].post("/password", data={"current": PASSWORD, "new": "changed-pass-1"})
    assert r.status_code == 302
    for cookie in saved:
        assert _replayed(world, cookie) == ("login", 401, 401)
    assert _replayed(world, _cookie(devices[0])) == (200, 200, 200)  # the device that changed it
    assert devices[1].get("/api/v1/me").status_code == 401


def test_secure_cookies_and_hsts_when_configured_or_the_public_url_is_https(world, monkeypatch):
    assert onemap_settings.secure_cookies("", "https://onemap.gaj.local") is True
    assert onemap_settings.secure_cookies("", "http://10.1.2.3:8050") is False
    assert onemap_settings.secure_cookies("", "") is False
    assert onemap_settings.secure_cookies("0", "https://onemap.gaj.local") is False
    assert onemap_settings.secure_cookies(" TRUE ", "") is True
    with pytest.raises(ValueError, match="ONEMAP_SECURE_COOKIES='sometimes'"):
        onemap_settings.secure_cookies("sometimes", "")
    app = create_app(world["store"], AppConfig(data_dir=world["folder"], secure_cookies=True))
    c = app.server.test_client()
    r = c.post("/login", json={"user": "analyst", "password": PASSWORD})
    assert r.status_code == 200 and "; Secure" in r.headers["Set-Cookie"]
    for resp in (r, c.get("/overview"), c.get("/api/v1/me"), c.get("/login")):
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = _client(world).post("/login", json={"user": "analyst", "password": PASSWORD})
    assert "Secure" not in plain.headers["Set-Cookie"]
    # `onemap serve` hands the setting to the app
    import dashboard.app
    import dashboard.serve
    from onemap import cli

    seen = {}
    monkeypatch.setattr(onemap_settings, "SECURE_COOKIES", True)
    monkeypatch.setattr(cli, "_open_store", lambda folder: _Closable())
    monkeypatch.setattr(
        dashboard.app, "create_app", lambda store, config: seen.setdefault("app", _Closable(config))
    )
    monkeypatch.setattr(dashboard.serve, "run", lambda *a: None)
    cli._serve(world["folder"], None, None, False)
    assert seen["app"].config.secure_cookies is True


class _Closable:
    """Stands for the store and the app in ``onemap serve``."""

    def __init__(self, config=None) -> None:
        self.config, self.server = config, None

    def close(self) -> None:
        pass

    def grids_of(self) -> list[str]:  # a store holding a city (``onemap serve`` refuses an empty one)
        return ["320602001001001"]


def test_oversized_requests_get_a_clear_413(world):
    c = _client(world, "analyst")
    big = b"x" * (3 * 1024 * 1024)
    r = c.post("/_dash-update-component", data=big, content_type="application/json")
    assert r.status_code == 413 and r.json["error"] == "body_too_large" and "larger than" in r.json["message"]
    r = _client(world).post("/login", data={"user": "x", "password": "y" * (3 * 1024 * 1024)})
    assert r.status_code == 413 and "请求过大" in _text(r)
    worker = _client(world, "grid_worker")
    r = worker.post("/api/v1/reports", data=b"{" + b" " * 100_000 + b"}", content_type="application/json")
    assert (r.status_code, r.json["error"]) == (413, "body_too_large")


# ---------------------------------------------------------------------- export file names
_SEPARATORS = st.sampled_from(["/", "\\", ".", "..", "\x00", "\r\n", '"', "%2e%2e%2f"])
_HOSTILE = st.lists(st.characters(codec="utf-8", exclude_categories=["Cs"]) | _SEPARATORS, max_size=40).map(
    "".join
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(parts=st.lists(_HOSTILE, max_size=4), suffix=st.sampled_from(["csv", ".xlsx"]))
def test_export_file_names_are_safe_whatever_the_unit_is_called(parts, suffix):
    name = safe_filename(*parts, suffix=suffix)
    stem, ext = name.rsplit(".", 1)
    assert ext == suffix.lstrip(".") and stem and len(stem) <= 120
    assert re.fullmatch(r"[0-9A-Za-z\u4e00-\u9fff._-]+", stem), name
    assert ".." not in name and not stem.startswith(".")


def test_export_names_of_real_units_keep_their_chinese():
    assert safe_filename("南通市崇川区/../和平桥街道", "实有人口", "20261031", suffix="csv") == (
        "南通市崇川区-和平桥街道_实有人口_20261031.csv"
    )
