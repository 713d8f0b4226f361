"""Malformed Dash callback requests and hostile asset paths, crafted for every registered callback of the
app and sent by a logged-in user of each role: each answers 2xx or 400 (never 500), and no path outside the
registered bundles is ever served (404)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dashboard.app import AppConfig, create_app
from data.store import load_layers, open_store
from data.store.users import add_user

PASSWORD = "callback-fuzz-1"
ROLES = ("admin", "leader", "analyst", "officer", "grid_worker", "display")

#: Values of a wildcard key of a pattern-matching id (any other key gets "x").
_WILD = {"layer": "population", "fmt": "csv", "f": "quick", "fd": "dates", "type": "export"}
#: A plausible value per property (the shape a browser sends).
_GOOD: dict[str, Any] = {
    "pathname": "/overview",
    "search": "",
    "href": "http://localhost/overview",
    "n_clicks": 1,
    "n_intervals": 1,
    "start_date": "2026-01-01",
    "end_date": "2026-01-31",
    "active_cell": {"row": 0, "column": 0, "column_id": "order_id"},
    "derived_viewport_data": [{"order_id": "NOPE1", "grid_code": "1"}],
    "selected_row_ids": [],
    "selected_rows": [],
    "className": "",
}
#: Values of every JSON type and shape a property should never hold (and some it may).
GARBAGE: tuple[Any, ...] = (
    None,
    "",
    "abc",
    "x" * 5000,
    0,
    -1,
    1.5,
    10**30,
    True,
    [],
    [None],
    ["a", 1, {}],
    {},
    {"a": 1},
    {"interval_s": "abc", "refresh_s": [], "pinned": {}, "screen": "x"},
    {"row": "x", "column_id": None},
    [[[]]],
)
#: Bodies that are not JSON objects at all.
RAW = (b"{", b"\xff\xfe", b"null", b"[]", b"1", b'"x"', b'{"output": ', b"[" * 5000, b"{}" * 3, b"NaN")


def _ident(spec_id: str) -> tuple[Any, bool]:
    """A concrete id for a spec id (pattern ids get a value per wildcard) and whether it is an ALL list."""
    if not spec_id.startswith("{"):
        return spec_id, False
    pattern = json.loads(spec_id)
    concrete = {k: (_WILD.get(k, "x") if isinstance(v, list) else v) for k, v in pattern.items()}
    many = any(isinstance(v, list) and v[0] in ("ALL", "ALLSMALLER") for v in pattern.values())
    return concrete, many


def _item(spec: dict[str, str], value: Any = ...) -> Any:
    ident, many = _ident(spec["id"])
    item = {"id": ident, "property": spec["property"]}
    item["value"] = _GOOD.get(spec["property"]) if value is ... else value
    return [item] if many else item


def _outputs(key: str) -> Any:
    names = key.strip(".").split("...") if key.startswith("..") else [key]
    out = []
    for name in names:
        ident, prop = name.split("@")[0].rsplit(".", 1)
        concrete, many = _ident(ident)
        out.append([] if many else {"id": concrete, "property": prop})
    return out if key.startswith("..") else out[0]


def valid_body(key: str, cb: dict[str, Any]) -> dict[str, Any]:
    """The request a browser would send to run the callback ``key``."""
    inputs = [_item(s) for s in cb["inputs"]]
    state = [_item(s) for s in cb.get("state", [])]
    first = cb["inputs"][0]
    changed = [f"{json.dumps(_ident(first['id'])[0], separators=(',', ':'))}.{first['property']}"]
    if not first["id"].startswith("{"):
        changed = [f"{first['id']}.{first['property']}"]
    return {
        "output": key,
        "outputs": _outputs(key),
        "inputs": inputs,
        "state": state,
        "changedPropIds": changed,
    }


def payloads(callback_map: dict[str, Any], values: tuple[Any, ...] = GARBAGE) -> Iterator[tuple[str, Any]]:
    """(name, body) of crafted requests for every callback of the app: wrong values in each argument,
    missing, extra and malformed arguments, ids and properties, outputs and changed ids, raw bodies."""
    for raw in RAW:
        yield f"raw:{raw[:12]!r}", raw
    for key, cb in callback_map.items():
        ok = valid_body(key, cb)
        yield f"{key[:40]}:valid", ok
        for part in ("inputs", "state"):
            items = ok[part]
            for i, _ in enumerate(items):
                spec = (cb["inputs"] if part == "inputs" else cb.get("state", []))[i]
                for v in values:
                    yield (
                        f"{key[:40]}:{part}[{i}].value={v!r:.20}",
                        {
                            **ok,
                            part: [*items[:i], _item(spec, v), *items[i + 1 :]],
                        },
                    )
                for v in (None, "x", 1, [], {}, [1], {"id": 1}, {"property": "value"}):
                    yield f"{key[:40]}:{part}[{i}]={v!r:.20}", {**ok, part: [*items[:i], v, *items[i + 1 :]]}
                good = _item(spec)
                one = good[0] if isinstance(good, list) else good
                for field, v in (
                    ("id", 1),
                    ("id", None),
                    ("id", ["x"]),
                    ("id", {"x": 1}),
                    ("id", "no-such"),
                    ("property", 1),
                    ("property", "nope"),
                    ("property", None),
                ):
                    bad = {**one, field: v}
                    yield (
                        f"{key[:40]}:{part}[{i}].{field}={v!r}",
                        {
                            **ok,
                            part: [*items[:i], [bad] if isinstance(good, list) else bad, *items[i + 1 :]],
                        },
                    )
                yield f"{key[:40]}:{part}-missing[{i}]", {**ok, part: items[:i] + items[i + 1 :]}
            yield f"{key[:40]}:{part}-extra", {**ok, part: [*items, items[0] if items else {}]}
            for v in (None, {}, "x", 1, [[]]):
                yield f"{key[:40]}:{part}={v!r}", {**ok, part: v}
            yield f"{key[:40]}:{part}-absent", {k: x for k, x in ok.items() if k != part}
        for v in (None, [], {}, "x", 1, [{}], [ok["outputs"]] * 3, {"id": 1, "property": "x"}):
            yield f"{key[:40]}:outputs={v!r:.20}", {**ok, "outputs": v}
        for v in (None, "x", [1], [{}], ["no.such"], [None], "url.pathname"):
            yield f"{key[:40]}:changedPropIds={v!r}", {**ok, "changedPropIds": v}


@pytest.fixture(scope="module")
def app(tiny_demo, tmp_path_factory):
    """The whole server over a loaded SQLite store, with one user per role (the worker in the first grid)."""
    folder = tmp_path_factory.mktemp("callback_fuzz")
    store = open_store(url="", data_dir=folder)
    load_layers(store, tiny_demo)
    home = store.grid_units().sort_values("grid_code").iloc[0]
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
    yield create_app(store, AppConfig(data_dir=folder))
    store.close()


def _login(app, role: str):
    c = app.server.test_client()
    assert c.post("/login", json={"user": role, "password": PASSWORD}).status_code == 200
    return c


def _post(client, body: Any):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post("/_dash-update-component", data=data, content_type="application/json")


@pytest.mark.parametrize("role", ROLES)
def test_crafted_callback_requests_get_400_never_500(app, role):
    client = _login(app, role)
    # every role sends the whole set of shapes; the full set of wrong values goes with two roles
    values = GARBAGE if role in ("analyst", "grid_worker") else GARBAGE[:4] + GARBAGE[9:14]
    failed, refused = [], 0
    for name, body in payloads(app.callback_map, values):
        r = _post(client, body)
        if r.status_code >= 500 or r.status_code not in (200, 204, 400):
            failed.append((name, r.status_code, r.get_data(as_text=True)[:200]))
        elif r.status_code == 400:
            refused += 1
            assert r.is_json and r.json["error"] == "bad_callback_request", name
            assert "(" in r.json["message"] and r.json["message"][0] > "\u2e80", name  # 中文 (English)
    assert failed == [], failed[:5]
    assert refused > 100  # the crafted shapes were refused, not silently run


def test_every_valid_callback_request_still_runs(app):
    client = _login(app, "analyst")
    for key, cb in app.callback_map.items():
        if "callback" not in cb:
            continue  # a browser-side callback: the server refuses to run it (400)
        r = _post(client, valid_body(key, cb))
        assert r.status_code in (200, 204), (key, r.status_code, r.get_data(as_text=True)[:300])


def test_the_wall_s_options_are_type_checked(app):
    """The wall's options come from the browser: a text where a number belongs is a 400, not a 500."""
    client = _login(app, "display")
    key = next(k for k in app.callback_map if k.startswith("..wall-body.children"))
    body = valid_body(key, app.callback_map[key])
    for options in ({"interval_s": "abc"}, {"refresh_s": []}, {"pinned": {"x": 1}}, {"interval_s": 1e308}):
        body["state"][0] = {"id": "wall-options", "property": "data", "value": options}
        r = _post(client, body)
        assert r.status_code in (200, 204, 400), (options, r.status_code)


TRAVERSALS = (
    "/_dash-component-suites/dash/../../etc/passwd",
    "/_dash-component-suites/dash/%2e%2e/%2e%2e/etc/passwd",
    "/_dash-component-suites/dash/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/_dash-component-suites/dash/..%2f..%2fetc%2fpasswd",
    "/_dash-component-suites/dash/..\\..\\etc\\passwd",
    "/_dash-component-suites/dash/..%5c..%5cetc%5cpasswd",
    "/_dash-component-suites/dash/%252e%252e/%252e%252e/etc/passwd",
    "/_dash-component-suites/dash/dash-renderer/../../../../../../etc/passwd",
    "/_dash-component-suites/os/../../etc/passwd",
    "/_dash-component-suites/sys/version",
    "/_dash-component-suites/dash/__init__.py",
    "/_dash-component-suites/dash/deps/..%2f..%2f__init__.py",
    "/_dash-component-suites/nope/x.js",
    "/_dash-component-suites/dash/%00.js",
    "/assets/../dashboard/app.py",
    "/assets/%2e%2e/app.py",
    "/assets/..%2fauth.py",
    "/assets-pydeck/../../etc/passwd",
)


@pytest.mark.parametrize("path", TRAVERSALS)
def test_paths_outside_the_bundles_are_404(app, path):
    for client in (app.server.test_client(), _login(app, "analyst")):
        r = client.get(path)
        body = r.get_data()
        assert r.status_code in (404, 401), (path, r.status_code)
        assert b"root:" not in body and b"import " not in body and b"def " not in body


def test_a_registered_bundle_is_still_served(app):
    client = _login(app, "analyst")
    page = client.get("/overview").get_data(as_text=True)
    src = next(s for s in page.split('"') if s.startswith("/_dash-component-suites/") and s.endswith(".js"))
    assert client.get(src.split("?")[0]).status_code == 200


UNKNOWN_API = (
    "/api",
    "/api/",
    "/api/v1",
    "/api/v1/",
    "/api/v2/me",
    "/api/v1/nope",
    "/api/v1/me/extra",
    "/api/v1/work-orders/X1/unknown",
    "/api/v1/work-orders/X1/actions/more",
    "/api/v1/../v1/me/..",
    "/api/%2e%2e/overview",
    "/api/v1/openapi.json/x",
)


@pytest.mark.parametrize("path", UNKNOWN_API)
def test_unknown_api_paths_answer_404_json_not_the_dashboard(app, path):
    client = _login(app, "analyst")
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        r = client.open(path, method=method, json={})
        assert r.status_code == 404, (method, path, r.status_code)
        if method != "HEAD":
            assert r.is_json and r.json["error"] == "not_found" and "不存在" in r.json["message"], (
                method,
                path,
            )
            assert set(r.json) == {"error", "message", "detail"}


@pytest.mark.parametrize(
    ("path", "method", "allow"),
    [
        ("/api/v1/me", "POST", "GET, HEAD"),
        ("/api/v1/me", "DELETE", "GET, HEAD"),
        ("/api/v1/work-orders", "PUT", "GET, HEAD, POST"),
        ("/api/v1/work-orders/X1/actions", "GET", "POST"),
        ("/api/v1/reports", "PATCH", "POST"),
        ("/api/v1/audit", "OPTIONS", "GET, HEAD"),
    ],
)
def test_a_known_api_path_with_another_method_is_405_json(app, path, method, allow):
    r = _login(app, "analyst").open(path, method=method, json={})
    assert (r.status_code, r.json["error"]) == (405, "method_not_allowed"), r.get_data(as_text=True)[:200]
    assert r.headers["Allow"] == allow
