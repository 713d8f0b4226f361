"""The video wall (大屏) through Flask's test client: every screen in both sizes, rotation, refresh that
keeps the last good figures when the store fails, and no personal data for the display role."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from dashboard import wall
from dashboard.app import AppConfig, create_app, router_request
from dashboard.queries import Queries
from dashboard.state import PAGES
from data.access import find_personal_data
from data.store import load_layers, open_store
from data.store.users import add_user

ROTATE_OUTPUTS = [("wall-screen", "data")]
REFRESH_OUTPUTS = [
    ("wall-body", "children"),
    ("wall-title", "children"),
    ("wall-progress", "children"),
    ("wall-status", "children"),
    ("wall-status", "className"),
    ("wall-good", "data"),
]
#: A fixed server clock for the status lines (local time of the test machine).
NOW = dt.datetime(2026, 11, 1, 9, 30, 0).timestamp()


@pytest.fixture(scope="module")
def wall_store(tiny_demo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("wall_store")
    store = open_store(data_dir=folder)
    load_layers(store, tiny_demo)
    city = store.units("city").unit_code.iloc[0]
    add_user(store, "wall", "wall-pass-12", "display", city)
    yield store, folder
    store.close()


@pytest.fixture(scope="module")
def wall_app(wall_store):
    store, folder = wall_store
    q = Queries(store)
    app = create_app(store, AppConfig(data_dir=folder, wall_interval_s=20, wall_refresh_s=45), queries=q)
    return app, q


@pytest.fixture()
def client(wall_app):
    app, _ = wall_app
    c = app.server.test_client()
    r = c.post("/login", json={"user": "wall", "password": "wall-pass-12"})
    assert r.status_code == 200, r.get_data(as_text=True)
    return c


def _post(client, outputs, inputs, state=(), changed=None):
    """One ``/_dash-update-component`` request; returns the Flask response."""
    many = len(outputs) > 1
    out_str = "...".join(f"{i}.{p}" for i, p in outputs)
    body = {
        "output": f"..{out_str}.." if many else out_str,
        "outputs": [{"id": i, "property": p} for i, p in outputs]
        if many
        else {"id": outputs[0][0], "property": outputs[0][1]},
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
        "changedPropIds": [changed or f"{inputs[0][0]}.{inputs[0][1]}"],
    }
    return client.post("/_dash-update-component", json=body)


def _route(client, search=""):
    r = client.post("/_dash-update-component", json=router_request("/wall", search))
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return r.json["response"]


def _refresh(client, index, options, good=None):
    return _post(
        client,
        REFRESH_OUTPUTS,
        [("wall-screen", "data", index), ("wall-refresh", "n_intervals", 3)],
        [("wall-options", "data", options), ("wall-good", "data", good)],
        changed="wall-refresh.n_intervals",
    )


def _text(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _component_types(node, found=None) -> set[str]:
    """Every component type (``namespace.type``) in a serialised Dash tree."""
    found = set() if found is None else found
    if isinstance(node, dict):
        if "type" in node and "namespace" in node:
            found.add(f"{node['namespace']}.{node['type']}")
        for v in node.values():
            _component_types(v, found)
    elif isinstance(node, list):
        for v in node:
            _component_types(v, found)
    return found


def _ids(node, found=None) -> set[str]:
    found = set() if found is None else found
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and isinstance(props.get("id"), str):
            found.add(props["id"])
        for v in node.values():
            _ids(v, found)
    elif isinstance(node, list):
        for v in node:
            _ids(v, found)
    return found


def _assert_aggregates_only(tree) -> None:
    text = _text(tree)
    assert find_personal_data(text) == []
    types = _component_types(tree)
    assert not any("DataTable" in t for t in types), types
    ids = _ids(tree)
    assert not {"orders-table", "overview-table", "models-table", "sources-table", "order-trace"} & ids
    assert not any(i.endswith("-table") for i in ids), ids


# ---------------------------------------------------------------------- pure parts
def test_options_from_the_query_string_are_clamped_and_default_to_the_config():
    config = AppConfig(wall_interval_s=25, wall_refresh_s=90)
    default = wall.parse_options("", config)
    assert (default.size, default.interval_s, default.refresh_s, default.pinned) == ("1080", 25, 90, None)
    assert default.font_scale == 1.0
    big = wall.parse_options("?size=2160&interval=2&screen=map", config)
    assert (big.size, big.font_scale, big.interval_s, big.pinned) == ("2160", 2.0, wall.MIN_INTERVAL_S, "map")
    assert wall.parse_options("interval=86400", config).interval_s == wall.MAX_INTERVAL_S
    assert wall.parse_options("refresh=1", config).refresh_s == wall.MIN_INTERVAL_S
    assert wall.parse_options("refresh=120", config).refresh_s == 120
    odd = wall.parse_options("?size=720&interval=nan&screen=records", config)
    assert (odd.size, odd.interval_s, odd.pinned) == ("1080", 25, None)


def test_next_screen_cycles_through_the_five_modulo_five():
    assert wall.SCREENS == ("overview", "empower", "warnings", "quality", "map")
    assert [wall.next_screen(i) for i in range(5)] == [1, 2, 3, 4, 0]
    assert wall.next_screen(None) == 0
    assert wall.next_screen(1, pinned="quality") == 3


def test_status_lines_give_the_time_and_the_age_of_the_figures():
    assert wall.status_ok(NOW) == "数据更新于 09:30:00"
    assert wall.status_stale(NOW - 7 * 60 - 5, NOW) == "数据更新失败，显示 09:22:55 的数据（7 分钟前）"
    assert "暂无可显示的数据" in wall.status_stale(None, NOW)


# ---------------------------------------------------------------------- through the server
@pytest.mark.parametrize("size", ["1080", "2160"])
@pytest.mark.parametrize("screen", list(PAGES))
def test_the_wall_renders_each_screen_in_both_sizes_for_the_display_role(client, screen, size):
    response = _route(client, f"?screen={screen}&size={size}")
    page = response["page"]["children"]
    text = _text(page)
    assert page["props"]["className"] == f"wall wall-{size}"
    assert page["props"]["id"] == "wall"
    ids = _ids(page)
    assert {"wall-title", "wall-body", "wall-status", "wall-rotate", "wall-refresh", "wall-progress"} <= ids
    by_id = _by_id(page)
    assert by_id["wall-title"]["children"] == PAGES[screen]
    assert "数据更新于" in text and "数据更新失败" not in text
    assert f"wall-screen-{screen}" in text
    # a pinned screen does not rotate; the nav and filter bar are empty on the wall
    assert by_id["wall-rotate"]["disabled"] is True
    assert response["nav"]["children"]["props"].get("children") is None
    graphs = [n for n in _walk(page) if n.get("type") == "Graph"]
    heights = {g["props"]["figure"]["layout"]["height"] for g in graphs}
    assert heights, "every screen has charts"
    assert max(heights) >= (wall.HALF_PX * 2 if size == "2160" else wall.HALF_PX)
    assert max(heights) <= wall.TALL_PX * (2 if size == "2160" else 1)
    _assert_aggregates_only(page)


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _by_id(tree) -> dict[str, dict]:
    """Props of every component with a string id."""
    return {
        n["props"]["id"]: n["props"] for n in _walk(tree) if isinstance(n.get("props", {}).get("id"), str)
    }


def test_unpinned_wall_rotates_at_the_configured_or_asked_interval(client):
    page = _route(client, "")["page"]["children"]
    by_id = {
        n["props"]["id"]: n["props"] for n in _walk(page) if isinstance(n.get("props", {}).get("id"), str)
    }
    assert by_id["wall-rotate"]["interval"] == 20_000 and by_id["wall-rotate"]["disabled"] is False
    assert by_id["wall-refresh"]["interval"] == 45_000
    assert by_id["wall-screen"]["data"] == 0
    assert by_id["wall-title"]["children"] == "基本概况"
    page = _route(client, "?interval=7")["page"]["children"]
    by_id = {
        n["props"]["id"]: n["props"] for n in _walk(page) if isinstance(n.get("props", {}).get("id"), str)
    }
    assert by_id["wall-rotate"]["interval"] == 7_000


@pytest.mark.parametrize(("index", "expected"), [(0, 1), (3, 4), (4, 0)])
def test_rotation_callback_advances_the_screen_modulo_five(client, index, expected):
    options = wall.WallOptions().__dict__
    r = _post(
        client,
        ROTATE_OUTPUTS,
        [("wall-rotate", "n_intervals", 1)],
        [("wall-screen", "data", index), ("wall-options", "data", options)],
    )
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.json["response"]["wall-screen"]["data"] == expected


def test_rotation_callback_leaves_a_pinned_screen(client):
    options = {**wall.WallOptions().__dict__, "pinned": "map"}
    r = _post(
        client,
        ROTATE_OUTPUTS,
        [("wall-rotate", "n_intervals", 1)],
        [("wall-screen", "data", 4), ("wall-options", "data", options)],
    )
    # no_update: Dash answers without a new value (204 or an empty response, by Dash version)
    assert r.status_code in (200, 204)
    answer = r.json["response"] if r.status_code == 200 else {}
    assert "wall-screen" not in answer


@pytest.mark.parametrize("index", range(5))
def test_refresh_draws_the_screen_and_records_the_good_time(client, monkeypatch, index):
    monkeypatch.setattr(wall, "_now", lambda: NOW)
    r = _refresh(client, index, wall.WallOptions().__dict__)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    out = r.json["response"]
    assert out["wall-title"]["children"] == PAGES[wall.SCREENS[index]]
    assert out["wall-status"] == {"children": "数据更新于 09:30:00", "className": "wall-status ok"}
    assert out["wall-good"]["data"] == {"at": NOW, "screen": wall.SCREENS[index]}
    assert f"wall-screen-{wall.SCREENS[index]}" in _text(out["wall-body"])
    _assert_aggregates_only(out)


class _DownStore:
    """A store whose database is gone: every read raises what SQLAlchemy raises then."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("could not connect to server"))

        return fail


@pytest.fixture()
def store_down(wall_app, monkeypatch):
    """The wall's data source fails (the log-in still works: the session was opened before)."""
    _, q = wall_app
    monkeypatch.setattr(q, "store", _DownStore())
    monkeypatch.setattr(q, "_kpi", None)
    q.cache.clear()
    yield q
    q.cache.clear()


def test_failing_store_keeps_the_last_figures_and_says_how_old_they_are(client, store_down, monkeypatch):
    monkeypatch.setattr(wall, "_now", lambda: NOW)
    good = {"at": NOW - 12 * 60 - 30, "screen": "overview"}
    r = _refresh(client, 1, wall.WallOptions().__dict__, good)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    out = r.json["response"]
    # no_update: Dash leaves the content, title, progress and the good time as they are
    assert set(out) == {"wall-status"}
    assert out["wall-status"]["children"] == "数据更新失败，显示 09:17:30 的数据（12 分钟前）"
    assert out["wall-status"]["className"] == "wall-status stale"


def test_the_wall_comes_back_after_the_store_recovers(client, wall_app, monkeypatch):
    _, q = wall_app
    monkeypatch.setattr(wall, "_now", lambda: NOW)
    with monkeypatch.context() as m:
        m.setattr(q, "store", _DownStore())
        q.cache.clear()
        down = _refresh(client, 2, wall.WallOptions().__dict__, {"at": NOW - 60, "screen": "empower"})
        assert set(down.json["response"]) == {"wall-status"}
    q.cache.clear()
    up = _refresh(client, 2, wall.WallOptions().__dict__, {"at": NOW - 60, "screen": "empower"})
    out = up.json["response"]
    assert out["wall-title"]["children"] == "预警推送"
    assert out["wall-status"]["className"] == "wall-status ok"


def test_a_wall_opened_while_the_store_is_down_is_not_blank(client, store_down):
    page = _route(client, "?size=2160")["page"]["children"]
    text = _text(page)
    assert "正在连接数据" in text
    assert "数据更新失败，暂无可显示的数据" in text
    assert page["props"]["className"] == "wall wall-2160"


def test_the_wall_needs_a_login(wall_app):
    app, _ = wall_app
    c = app.server.test_client()
    r = c.post("/_dash-update-component", json=router_request("/wall"))
    assert r.status_code == 401


# ---------------------------------------------------------------------- the 3D view (pydeck)
def test_the_3d_view_is_an_offline_page_of_aggregates(client, wall_app, wall_store):
    from layers.basemap import external_urls

    store, _ = wall_store
    r = _refresh(client, wall.SCREENS.index("map"), wall.WallOptions().__dict__)
    body = _text(r.json["response"]["wall-body"])
    assert wall.HEX3D_ROUTE in body  # the map screen frames the 3D page
    page = client.get(f"{wall.HEX3D_ROUTE}?px=900")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert external_urls(text) == []  # no CDN: pydeck's bundle comes from this server
    assert f'src="{wall.HEX3D_BUNDLE_ROUTE}"' in text and "createDeck" in text
    data = json.loads(text.split("const jsonInput = ", 1)[1].split(";\n", 1)[0])
    hexes = next(layer for layer in data["layers"] if layer["@@type"] == "H3HexagonLayer")["data"]
    assert {k for row in hexes for k in row} == {"h", "v", "c"}  # cell, count, colour: nothing else
    city = store.units("city").unit_code.iloc[0]
    start, end = wall_app[1].as_of() - dt.timedelta(days=29), wall_app[1].as_of()
    total = int(store.aggregate_incidents(None, start, end, by="category")["n"].sum())
    assert sum(row["v"] for row in hexes) == total > 0  # every incident of the wall's 30 days, once
    assert city and find_personal_data(text) == []
    bundle = client.get(wall.HEX3D_BUNDLE_ROUTE)
    assert bundle.status_code == 200 and "javascript" in bundle.mimetype and len(bundle.data) > 1_000_000


def test_the_3d_view_needs_a_login(wall_app):
    app, _ = wall_app
    c = app.server.test_client()
    assert c.get(wall.HEX3D_ROUTE).status_code in (302, 401)
    assert c.get(wall.HEX3D_BUNDLE_ROUTE).status_code in (302, 401)
