"""The Dash app through Flask's test client (no browser): log-in, the five screens, scope, URL state."""

from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd
import pytest

from dashboard import live
from dashboard.app import ROUTER_OUTPUTS, AppConfig, create_app, router_request
from dashboard.state import DEFAULT_LAYERS, ViewState, parse
from data.access import ROLES, Principal, find_personal_data, mask_frame, mask_value
from data.schema import alias_map
from data.store import load_layers, open_store
from data.store.users import add_user


@pytest.fixture(scope="module")
def app_store(tiny_demo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dash_store")
    store = open_store(data_dir=folder)
    load_layers(store, tiny_demo)
    staff = store.read("staff", geometry=False)
    worker = staff[staff.role == "专职网格员"].sort_values("staff_id").iloc[0]
    add_user(store, "admin", "admin-pass-1", "admin", store.units("city").unit_code.iloc[0])
    add_user(store, "worker", "worker-pass-1", "grid_worker", worker.unit_code, staff_id=worker.staff_id)
    add_user(store, "wall", "wall-pass-12", "display", store.units("city").unit_code.iloc[0])
    add_user(store, "nobody", "nobody-pass-1", "analyst", store.units("county").unit_code.iloc[0])
    store.worker_grid = worker.unit_code
    yield store, folder
    store.close()


@pytest.fixture(scope="module")
def app(app_store):
    store, folder = app_store
    return create_app(store, AppConfig(data_dir=folder))


def _client(app, user=None, password=None):
    c = app.server.test_client()
    if user:
        r = c.post("/login", json={"user": user, "password": password})
        assert r.status_code == 200, r.get_data(as_text=True)
    return c


def _render(client, path, search=""):
    r = client.post("/_dash-update-component", json=router_request(path, search))
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return json.dumps(r.json, ensure_ascii=False)


def test_everything_but_login_and_health_needs_a_login(app):
    c = _client(app)
    assert c.get("/healthz").status_code == 200
    assert c.get("/login").status_code == 200
    page = c.get("/map?unit=320612")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login?next=")
    assert c.get("/_dash-layout").status_code == 401
    assert c.post("/_dash-update-component", json={}).status_code == 401
    assert c.get("/api/v1/work-orders").status_code == 401


def test_wrong_password_is_refused_without_saying_which(app):
    c = _client(app)
    a = c.post("/login", json={"user": "admin", "password": "wrong-password"})
    b = c.post("/login", json={"user": "ghost", "password": "wrong-password"})
    assert a.status_code == b.status_code == 401
    assert a.json["message"] == b.json["message"]


def test_open_redirect_after_login_is_refused(app):
    c = _client(app)
    r = c.post("/login", data={"user": "admin", "password": "admin-pass-1", "next": "https://evil.example/x"})
    assert r.status_code == 302 and r.headers["Location"] == "/"


@pytest.mark.parametrize("page", ["overview", "empower", "warnings", "quality", "map"])
def test_every_screen_renders_in_chinese_for_the_admin(app, page):
    text = _render(_client(app, "admin", "admin-pass-1"), f"/{page}")
    assert "本页数据暂不可用" not in text
    assert "南通市" in text  # breadcrumb at the city
    title = {
        "overview": "网格总数",
        "empower": "数据赋能模型",
        "warnings": "工单状态",
        "quality": "三提升四下降",
        "map": "点击地图上的单元下钻",
    }[page]
    assert title in text


def test_overview_counts_match_the_store(app, app_store):
    store, _ = app_store
    text = _render(_client(app, "admin", "admin-pass-1"), "/overview")
    n_grids = store.count("grids")
    assert f"{n_grids:,}" in text
    county = store.units("county").iloc[0]
    assert county.unit_name in text and f"unit={county.unit_code}" in text  # drill link per county


def test_drill_down_to_a_grid_shows_the_path_in_both_hierarchies(app, app_store):
    store, _ = app_store
    grid = store.grid_units().sort_values("grid_code").iloc[0]
    c = _client(app, "admin", "admin-pass-1")
    admin = _render(c, "/overview", f"?unit={grid.grid_code}")
    police = _render(c, "/overview", f"?unit={grid.grid_code}&h=police")
    names = store.units().set_index("unit_code")["unit_name"]
    assert names[grid.township_code] in admin and names[grid.village_code] in admin
    assert names[grid.station_code] in police and names[grid.district_code] in police
    assert names[grid.township_code] not in police


def test_grid_worker_sees_only_their_grid_whatever_the_url_asks(app, app_store):
    store, _ = app_store
    c = _client(app, "worker", "worker-pass-1")
    city = store.units("city").unit_code.iloc[0]
    other = store.grid_units().query("grid_code != @store.worker_grid").grid_code.iloc[0]
    for search in ("", f"?unit={city}", f"?unit={other}"):
        text = _render(c, "/overview", search)
        assert store.worker_grid in text
        assert "超出本账号管辖范围" in text or search == ""
        assert f"unit={other}" not in text
    assert '"children": "1", "className": "card-value"' in text  # one grid


def test_tables_are_headed_in_chinese(app, app_store):
    """Record tables and the work-order list show the schema's Chinese column names (ids stay English)."""
    store, _ = app_store
    c = _client(app, "admin", "admin-pass-1")
    orders = _render(c, "/warnings")
    assert '"name": "工单编号", "id": "order_id"' in orders and '"name": "order_id"' not in orders
    assert '"text": "工单状态"' not in orders  # the section's heading names the figure, once
    grid = _render(c, "/overview", f"?unit={store.worker_grid}")
    assert '"name": "身份证号", "id": "id_number"' in grid
    assert re.search(r'"children": "修改密码", [^{}]*"href": "/password"', grid)  # change one's own password
    # yes/no flags read 是/否, never true/false
    assert re.search(r'"registered": "[是否]"', grid) and not re.search(r'"registered": (true|false)', grid)
    grids = store.grids_of()[:2]
    store.upsert_warnings(
        pd.DataFrame(
            {
                "model_id": ["HAZ-01", "POP-01"],
                "grid_code": grids,
                "severity": ["中", "低"],
                "reason": ["隐患整改超期", "居住证到期"],
                "evidence_ids": [["Y-T1"], ["P-T1"]],
                "created_at": pd.to_datetime(["2026-09-15 10:00", "2026-10-15 10:00"]),
            }
        ),
        push=False,
    )
    app.server.extensions["onemap"]["queries"].cache.clear()
    empower = _render(c, "/empower")
    assert "实有人口" in empower and "persons_of_concern" not in empower
    assert re.search(r'"x": \["20\d\d年\d\d月"', empower)  # the trend's months are labels, not a date axis


def test_display_role_gets_no_personal_data(app):
    c = _client(app, "wall", "wall-pass-12")
    for page in ("overview", "empower", "warnings", "quality", "map"):
        text = _render(c, f"/{page}", "?layers=grids,concern,incidents")
        assert find_personal_data(text) == []
        assert "orders-table" not in text


def test_state_round_trips_through_the_url():
    s = ViewState(
        page="map",
        unit="320612001",
        hierarchy="police",
        quick=None,
        start=dt.date(2026, 9, 1),
        end=dt.date(2026, 9, 30),
        categories=("刑事", "电诈"),
        layers=("grids", "kde"),
        compare="prev",
    )
    again = parse("/map", s.search())
    assert again == s
    assert parse("/", "").layers == DEFAULT_LAYERS


def test_bad_url_values_fall_back_with_a_note():
    s = parse("/nowhere", "?unit=<script>&from=2026-13-40&cat=刑事,bogus&h=x")
    assert s.page == "overview" and s.unit is None and s.categories == ("刑事",) and s.hierarchy == "admin"
    assert len(s.problems) >= 4


def test_quick_ranges_end_on_the_data_day():
    as_of = dt.date(2026, 10, 31)
    assert parse("/", "?range=7d").dates(as_of) == (dt.date(2026, 10, 25), as_of)
    assert parse("/", "?range=ytd").dates(as_of) == (dt.date(2026, 1, 1), as_of)
    assert parse("/", "?range=30d&cmp=yoy").comparison(as_of) == (dt.date(2025, 10, 2), dt.date(2025, 10, 31))
    assert parse("/", "?range=7d&cmp=prev").comparison(as_of) == (
        dt.date(2026, 10, 18),
        dt.date(2026, 10, 24),
    )


def test_masking_rules():
    # an ID keeps its region digits and last character, a birth date its year, a name its surname
    assert mask_value("320602199001011234", "id_number") == "320602***********4"
    assert mask_value("32060219900101123x", "id_number") == "320602***********X"
    assert mask_value("320602900101123", "id_number") == "320602********3"
    assert mask_value("1990-01-01", "birth_date") == "1990"
    assert mask_value("13812345678", "phone") == "138****5678"
    assert mask_value("张三", "name") == "张*" and mask_value("欧阳修", "name") == "欧*"
    assert mask_value(None, "phone") is None
    import pandas as pd

    frame = pd.DataFrame({"name": ["王小明"], "id_number": ["32060219900101123X"], "phone": ["13900001111"]})
    masked = mask_frame(frame, "population")
    assert find_personal_data(masked.to_json(force_ascii=False)) == []
    assert find_personal_data(frame.to_json(force_ascii=False)) != []


def test_the_permission_table_for_staff_and_addresses():
    """Staff (民警, 辅警, 网格员) are unmasked by the leader role only; a grid worker never unmasks the
    officer above their grid. House numbers are whole for those who work the addresses."""
    unit = {"grid_worker": "320600001001001", "officer": "32060050010001"}
    who = {role: Principal("x", role, unit.get(role, "320600")) for role in ROLES}
    assert [r for r, p in who.items() if p.may_unmask("staff")] == ["leader"]
    assert not Principal("x", "leader", None).may_unmask("staff")  # no unit: nothing
    assert [r for r, p in who.items() if p.may_unmask("population")] == [
        "leader",
        "analyst",
        "officer",
        "grid_worker",
    ]
    assert [r for r, p in who.items() if p.sees_whole("address")] == ["officer", "grid_worker"]
    assert not any(
        p.sees_whole(kind) for p in who.values() for kind in ("id_number", "phone", "name", "birth_date")
    )
    frame = pd.DataFrame({"address": ["华林社区园河路1号2幢"], "name": ["徐晓丽"], "phone": ["15837260455"]})
    assert mask_frame(frame, "addresses", who["analyst"]).address.iloc[0] == "华林社区园河路*号*幢"
    assert mask_frame(frame, "addresses", who["officer"]).address.iloc[0] == "华林社区园河路1号2幢"
    staff = mask_frame(frame.drop(columns="address"), "staff", who["grid_worker"]).iloc[0]
    assert (staff["name"], staff["phone"]) == ("徐晓丽", "158****0455")  # a work identity; the phone masked
    assert mask_frame(frame.drop(columns="address"), "staff", who["analyst"]).iloc[0]["name"] == "徐*"


def test_default_deny():
    assert Principal("x", "analyst", None).scope == []
    assert Principal("x", "superuser", "320600").scope == []
    assert not Principal("x", "display", "320600").may_read_layer("population")
    assert not Principal("x", "grid_worker", "320600001001001").may_read_layer("persons_of_concern")
    assert Principal("x", "officer", "32060050010001").may_read_layer("persons_of_concern")


def _export(client, grid, layer, fmt):
    ident = {"fmt": fmt, "layer": layer, "type": "export"}
    body = {
        "output": "export-download.data",
        "outputs": {"id": "export-download", "property": "data"},
        "inputs": [[{"id": ident, "property": "n_clicks", "value": 1}]],
        "state": [
            {"id": "url", "property": "pathname", "value": "/overview"},
            {"id": "url", "property": "search", "value": f"?unit={grid}"},
        ],
        "changedPropIds": [json.dumps(ident, separators=(",", ":"), sort_keys=True) + ".n_clicks"],
    }
    return client.post("/_dash-update-component", json=body)


def test_grid_records_are_masked_and_export_is_audited(app, app_store):
    import base64
    import io

    import pandas as pd

    store, _ = app_store
    grid = store.worker_grid
    c = _client(app, "admin", "admin-pass-1")
    text = _render(c, "/overview", f"?unit={grid}")
    assert "网格台账" in text and find_personal_data(text) == []
    before = store.audit_entries(filters={"action": "export"}).total
    r = _export(c, grid, "population", "csv")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    data = r.json["response"]["export-download"]["data"]
    assert data["filename"].endswith(".csv") and "/" not in data["filename"]
    content = data["content"] if not data.get("base64") else base64.b64decode(data["content"]).decode()
    assert content.startswith("\ufeff")  # Excel on a Chinese desktop reads UTF-8 only with a BOM
    exported = pd.read_csv(io.StringIO(content[1:]), dtype=str)
    assert {"网格编码", "身份证号"} <= set(exported.columns)  # Chinese headers, which the importer reads
    exported = exported.rename(columns=alias_map("population"))
    assert len(exported) == store.count("population", filters={"grid_code": grid}) > 0
    assert set(exported["grid_code"]) == {grid}
    assert find_personal_data(content) == [] and exported["id_number"].str.contains(r"\*").all()
    assert store.audit_entries(filters={"action": "export"}).total == before + 1
    xlsx = _export(c, grid, "hazards", "xlsx").json["response"]["export-download"]["data"]
    assert xlsx["filename"].endswith(".xlsx") and xlsx["base64"]


def test_display_role_cannot_export(app, app_store):
    store, _ = app_store
    r = _export(_client(app, "wall", "wall-pass-12"), store.worker_grid, "population", "csv")
    assert r.status_code == 204 or "export-download" not in (r.get_data(as_text=True) or "")


# ---------------------------------------------------------------------- in-place updates
def _route(client, path, search="", shown=None, held=None):
    """The router's answer as JSON; ``held`` is what a browser showing an earlier answer declares."""
    body = router_request(path, search, shown)
    if held is not None:
        body["outputs"][len(ROUTER_OUTPUTS) :], body["state"][1:] = held
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return r.json["response"]


def _held(answer):
    """The live outputs and compared states a browser showing ``answer``'s trees sends with a request."""
    found: list[tuple[dict, dict]] = []

    def walk(node):
        if isinstance(node, dict):
            ident = node.get("props", {}).get("id") if "props" in node else None
            if live.kind_of(ident):
                found.append((ident, node["props"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(answer)
    outputs, states = [], []
    for kind, prop in live.OUTPUTS:
        mine = [(i, props) for i, props in found if kind in i]
        outputs.append([{"id": i, "property": prop} for i, _ in mine])
        if (kind, prop) in live.COMPARED:
            states.append([{"id": i, "property": prop, "value": props.get(prop)} for i, props in mine])
    return outputs, states


def test_a_new_view_of_the_same_screen_sends_only_its_live_parts(app):
    c = _client(app, "admin", "admin-pass-1")
    first = _route(c, "/map")
    assert set(first) >= {"nav", "filters", "crumbs", "page", "view-key"}
    shown = first["view-key"]["data"]
    held = _held({k: first[k] for k in ("filters", "page")})
    # dates and a drill-down: the screen's skeleton is the same, so only live values come back
    second = _route(c, "/map", "?range=7d&unit=320612", shown, held)
    assert "page" not in second and "filters" not in second
    assert second["view-key"]["data"] == shown
    text = json.dumps(second, ensure_ascii=False)
    assert '"layers"' in text and "fitBounds" in text  # the mounted map gets new layers and camera
    assert "通州区" in json.dumps(second["crumbs"], ensure_ascii=False)
    # the quick-range control follows the URL; the hierarchy control already shows it: not sent
    values = {json.dumps(k): v for k, v in second.items() if k.startswith("{")}
    assert values['"{\\"f\\":\\"quick\\"}"']["value"] == "7d"
    assert '"{\\"f\\":\\"hier\\"}"' not in values
    # another screen is sent whole
    third = _route(c, "/overview", "?range=7d", shown, held)
    assert "page" in third and third["view-key"]["data"]["page"] != shown["page"]


def test_router_answer_for_another_user_holds_only_their_scope(app):
    admin = _client(app, "admin", "admin-pass-1")
    shown = _route(admin, "/map")["view-key"]["data"]
    # a grid worker replaying the admin's view key gets their own grid, never the city
    worker = _client(app, "worker", "worker-pass-1")
    answer = json.dumps(_route(worker, "/map", "?unit=320612", shown), ensure_ascii=False)
    assert "超出本账号管辖范围" in answer
    assert find_personal_data(answer) == []


def _drill(app, client, point, search=""):
    """The server half of a map click: the position the browser hands over (``map-click``)."""
    key = next(
        k for k, cb in app.callback_map.items() if any("map-click" in json.dumps(i) for i in cb["inputs"])
    )
    body = {
        "output": key,
        "outputs": {"id": "url", "property": key.split(".", 1)[1]},
        "inputs": [{"id": "map-click", "property": "data", "value": point}],
        "state": [
            {"id": "url", "property": "pathname", "value": "/map"},
            {"id": "url", "property": "search", "value": search},
        ],
        "changedPropIds": ["map-click.data"],
    }
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code in (200, 204), r.get_data(as_text=True)[:300]
    return r.json["response"].get("url", {}).get("search") if r.status_code == 200 else None


def test_a_click_on_a_hexagon_drills_into_the_unit_below_it(app, app_store):
    store, _ = app_store
    c = _client(app, "admin", "admin-pass-1")
    county = store.units("county").iloc[0]
    inside = store.features("admin_units", filters={"unit_code": [county.unit_code]}).geometry.iloc[0]
    p = inside.representative_point()
    hexagon = {"lon": p.x, "lat": p.y, "at": 1}
    assert _drill(app, c, hexagon) == f"?unit={county.unit_code}"
    assert _drill(app, c, {"lon": 0.0, "lat": 0.0, "at": 2}) is None  # outside every unit
    assert _drill(app, c, {"lon": "x", "lat": None}) is None and _drill(app, c, "junk") is None
    # a grid worker clicking the same point stays in their grid (nothing below a grid)
    worker = _client(app, "worker", "worker-pass-1")
    assert _drill(app, worker, hexagon) is None


def test_apply_filters_changes_only_what_the_control_changed():
    from dashboard.app import apply_filters

    as_of = dt.date(2026, 10, 31)
    state = parse("/map", "?unit=320612&range=7d&cat=刑事")
    controls = {
        "quick": "7d",
        "cats": ["刑事"],
        "hier": "admin",
        "cmp": "yoy",
        "layers": list(DEFAULT_LAYERS),
    }
    # the controls show what the URL says (the router set them): nothing changes
    for trigger in ("quick", "dates", "cats", "hier", "cmp", "layers", None):
        assert apply_filters(state, controls, state.dates(as_of), trigger, as_of) == state
    # a quick range
    new = apply_filters(state, {**controls, "quick": "30d"}, state.dates(as_of), "quick", as_of)
    assert (new.quick, new.start, new.end, new.unit) == ("30d", None, None, "320612")
    # days picked by hand become explicit days (in order), the quick range goes
    picked = (dt.date(2026, 9, 30), dt.date(2026, 9, 1))
    new = apply_filters(state, controls, picked, "dates", as_of)
    assert (new.quick, new.start, new.end) == (None, dt.date(2026, 9, 1), dt.date(2026, 9, 30))
    # 自定义 keeps the days on display as explicit days
    new = apply_filters(state, {**controls, "quick": ""}, state.dates(as_of), "quick", as_of)
    assert (new.quick, (new.start, new.end)) == (None, state.dates(as_of))
    # another hierarchy starts again from the top; unknown values fall back
    new = apply_filters(state, {**controls, "hier": "police"}, state.dates(as_of), "hier", as_of)
    assert (new.hierarchy, new.unit) == ("police", None)
    new = apply_filters(
        state, {**controls, "cats": ["刑事", "x"], "cmp": "y", "layers": ["kde", "nope"]}, None, "cats", as_of
    )
    assert (new.categories, new.compare, new.layers) == (("刑事",), "yoy", ("kde",))


def _switch_hierarchy(client, app, unit: str, to: str) -> str | None:
    """The filter callback's request when the hierarchy control changes at ``unit``; the new ``unit``."""
    from urllib.parse import parse_qs

    key = next(k for k in app.callback_map if k.startswith("url.search"))
    ident = {"f": "hier"}
    body = {
        "output": key,
        "outputs": {"id": "url", "property": "search"},
        "inputs": [[{"id": ident, "property": "value", "value": to}], [], []],
        "state": [
            {"id": "url", "property": "pathname", "value": "/overview"},
            {
                "id": "url",
                "property": "search",
                "value": f"?unit={unit}&h={'admin' if to == 'police' else 'police'}",
            },
        ],
        "changedPropIds": [json.dumps(ident, separators=(",", ":"), sort_keys=True) + ".value"],
    }
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    search = r.get_json()["response"]["url"]["search"]
    return (parse_qs(search.lstrip("?")).get("unit") or [None])[0]


def test_switching_hierarchy_keeps_the_nearest_unit(app, app_store):
    """A county becomes the smallest police unit holding all its grids (its 分局 in the demo), a township
    its 派出所, a grid stays itself, and back; checked against the grids each unit holds."""
    store, _ = app_store
    c = _client(app, "admin", "admin-pass-1")
    gu = store.grid_units()
    levels_all = ("county", "township", "village", "bureau", "station", "district")
    own = {lvl: gu.groupby(f"{lvl}_code")["grid_code"].agg(frozenset) for lvl in levels_all}
    for level, to in [
        ("county", "police"),
        ("township", "police"),
        ("village", "police"),
        ("bureau", "admin"),
        ("station", "admin"),
        ("district", "admin"),
    ]:
        code = sorted(own[level].index)[0]
        grids = own[level][code]
        got = _switch_hierarchy(c, app, code, to)
        levels = ("district", "station", "bureau") if to == "police" else ("village", "township", "county")
        holders = [(lvl, u) for lvl in levels for u, g in own[lvl].items() if grids <= g]
        assert got == (holders[0][1] if holders else None), (level, code, got, holders[:2])
    grid = sorted(gu.grid_code)[0]
    assert _switch_hierarchy(c, app, grid, "police") == grid


class _DaysStore:
    """A store whose incidents fall on the given days (all ``Queries.as_of`` reads)."""

    def __init__(self, days):
        self.days = days

    def aggregate_incidents(self, unit, by=None, fill=True):
        return pd.DataFrame({"day": pd.to_datetime(self.days), "n": 1})


@pytest.mark.parametrize(
    ("last", "today", "want"),
    [
        ("2026-11-20", "2026-11-20", "2026-11-20"),  # live, today's incidents in
        ("2026-11-19", "2026-11-20", "2026-11-20"),  # live, none yet today: 今日 is still today
        ("2026-10-31", "2026-11-20", "2026-10-31"),  # a recorded history: its last day (数据截至)
        ("2026-11-22", "2026-11-20", "2026-11-22"),  # data dated ahead of the clock: shown as it is
        (None, "2026-11-20", "2026-11-20"),  # no incidents
    ],
)
def test_quick_ranges_end_on_the_clocks_today_for_live_data(monkeypatch, last, today, want):
    from dashboard.queries import Queries
    from data import clock

    monkeypatch.setattr(clock, "now", lambda: dt.datetime.fromisoformat(today + " 09:30:00"))
    q = Queries(_DaysStore(["2026-10-01", last] if last else []))
    assert q.as_of() == dt.date.fromisoformat(want)
    start, end = ViewState().dates(q.as_of())  # the default view, 近30天
    assert (end - start).days == 29 and end == dt.date.fromisoformat(want)
