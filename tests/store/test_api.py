"""The mobile app's REST API (dashboard.api) on both stores: log-in, scope, the closed loop, errors, CSRF,
optimistic locking under real concurrency, idempotent retries, masking, unmasking one record with a reason
(audited), the read-only audit log, and a bounded fuzz."""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass

import flask
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import auth
from dashboard.api import ACTIONS, API_PREFIX, MAX_BODY_BYTES, api_blueprint, openapi_document, openapi_path
from data.access import find_personal_data
from data.store import users as U
from data.store import workflow as wf
from data.store.testing import point_inside

PASSWORD = "correct-horse-1"
PHONE, ID_NUMBER = "13812345678", "320602199001011234"
#: A dispute as a grid worker reports it (上报).
DISPUTE = {
    "dispute_type": "邻里",
    "status": "调解中",
    "level": "一般",
    "reported_at": "2026-10-30 10:00:00",
    "party_names": "张三丰;李四",
}


@dataclass
class Api:
    """A Flask server with the guard and the API over ``store``, users bound to real units and staff."""

    store: object
    server: flask.Flask
    grid_a: str
    grid_b: str
    order_a: str  # grid A, assigned to the user ``wa``
    order_b: str  # grid B, assigned to ``wb``
    worker_a: str
    dispute: dict  # :data:`DISPUTE` at a point inside grid A

    def inside(self, grid: str) -> dict[str, float]:
        """``lon``/``lat`` of a point inside ``grid``."""
        return point_inside(self.store, grid)

    def client(self, user: str | None = None):
        c = self.server.test_client()
        if user is not None:
            r = c.post("/login", json={"user": user, "password": PASSWORD})
            assert r.status_code == 200, r.json
        return c

    def events(self, order_id: str):
        return self.store.work_order_events(order_id)


def _server(store) -> flask.Flask:
    server = flask.Flask(__name__)
    auth.install(server, lambda: store, key=b"k" * 32, login_limit="1000 per minute")
    server.register_blueprint(api_blueprint(lambda: store))
    return server


@pytest.fixture
def api(store) -> Api:
    grids = store.grids_of()
    grid_a, grid_b = grids[0], grids[-1]
    a = wf.dispatch(store, grid_a, f"核查出租屋，房东电话 {PHONE}", "J-leader")
    b = wf.dispatch(store, grid_b, "核查群租房", "J-leader")
    assert a["district_code"] != b["district_code"] and a["worker_id"] and b["worker_id"]
    staff = store.read("staff", filters={"unit_code": grid_a})
    other = sorted(set(staff.staff_id) - {a["worker_id"]})[0]
    city = store.units("city").unit_code.iloc[0]
    for user, role, unit, staff_id in (
        ("wa", "grid_worker", grid_a, a["worker_id"]),
        ("wa2", "grid_worker", grid_a, other),
        ("wb", "grid_worker", grid_b, b["worker_id"]),
        ("oa", "officer", a["district_code"], a["officer_id"]),
        ("ob", "officer", b["district_code"], b["officer_id"]),
        ("an", "analyst", grid_a[:6], None),
        ("wall", "display", city, None),
        ("adm", "admin", city, None),
    ):
        U.add_user(store, user, PASSWORD, role, unit, staff_id=staff_id)
    dispute = {**DISPUTE, **point_inside(store, grid_a)}
    return Api(store, _server(store), grid_a, grid_b, a["order_id"], b["order_id"], a["worker_id"], dispute)


def _act(client, order_id, action, version, note="", **extra):
    body = {"action": action, "version": version, "note": note, **extra}
    return client.post(f"{API_PREFIX}/work-orders/{order_id}/actions", json=body)


def _raw(client, path, data, content_type="application/json", **headers):
    return client.post(API_PREFIX + path, data=data, content_type=content_type, headers=headers)


# ---------------------------------------------------------------------- log-in and scope
def test_anonymous_requests_get_401_from_the_guard_and_from_the_api_itself(api):
    anon = api.client()
    for r in (
        anon.get(f"{API_PREFIX}/me"),
        anon.get(f"{API_PREFIX}/work-orders"),
        anon.get(f"{API_PREFIX}/openapi.json"),
        _act(anon, api.order_a, "sign", 1),
    ):
        assert r.status_code == 401 and r.json["error"] == "unauthorized"
    # without the guard the API still refuses: identity comes only from the log-in
    bare = flask.Flask(__name__)
    bare.register_blueprint(api_blueprint(lambda: api.store))
    r = bare.test_client().get(f"{API_PREFIX}/work-orders?mine=0")
    assert r.status_code == 401 and r.json["error"] == "unauthorized"
    assert len(api.events(api.order_a)) == 1


def test_my_orders_are_mine_and_in_scope_and_no_parameter_widens_them(api):
    wa = api.client("wa")
    me = wa.get(f"{API_PREFIX}/me").json
    assert (me["role"], me["staff_id"], me["unit"]["code"]) == ("grid_worker", api.worker_a, api.grid_a)
    assert "close" not in me["actions"] and "sign" in me["actions"]
    mine = wa.get(f"{API_PREFIX}/work-orders").json
    assert [o["order_id"] for o in mine["items"]] == [api.order_a] and mine["total"] == 1
    assert mine["items"][0]["allowed_actions"] == ["sign", "escalate"]
    everything = wa.get(f"{API_PREFIX}/work-orders?mine=0&page_size=100").json
    assert everything["total"] >= 1 and {o["grid_code"] for o in everything["items"]} == {api.grid_a}
    # a unit outside the scope narrows to nothing; the city does not widen anything
    county_b = api.grid_b[:6]
    assert wa.get(f"{API_PREFIX}/work-orders?mine=0&unit={county_b}").json["total"] == 0
    city = api.store.units("city").unit_code.iloc[0]
    assert wa.get(f"{API_PREFIX}/work-orders?mine=0&unit={city}").json["total"] == everything["total"]
    # unknown parameters (scope=, assignee=, user=) are refused, naming them
    r = wa.get(f"{API_PREFIX}/work-orders?scope={city}&user=oa")
    assert r.status_code == 400 and {p["field"] for p in r.json["detail"]} == {"scope", "user"}
    # the officer of 警格 A sees A's orders but not B's
    oa = api.client("oa")
    ids = {o["order_id"] for o in oa.get(f"{API_PREFIX}/work-orders?page_size=100").json["items"]}
    assert api.order_a in ids and api.order_b not in ids
    # an order outside the scope answers exactly like one that does not exist
    out, none = wa.get(f"{API_PREFIX}/work-orders/{api.order_b}"), wa.get(f"{API_PREFIX}/work-orders/NOPE1")
    assert out.status_code == none.status_code == 404
    assert out.json["error"] == none.json["error"] == "not_found"
    r = _act(wa, api.order_b, "sign", 1)
    assert r.status_code == 404 and len(api.events(api.order_b)) == 1
    # the big screen's role reads no work orders; an analyst reads but cannot act
    assert api.client("wall").get(f"{API_PREFIX}/work-orders").status_code == 403
    an = api.client("an")
    assert an.get(f"{API_PREFIX}/work-orders/{api.order_a}").status_code == 200
    assert _act(an, api.order_a, "sign", 1).status_code == 403


def test_the_whole_loop_through_the_api_with_a_masked_trace(api):
    wa, oa = api.client("wa"), api.client("oa")
    version = 1
    for client, action, note in (
        (wa, "sign", "收到"),
        (wa, "handle", "上门核查"),
        (wa, "feed_back", f"已核实，房东 {PHONE} 身份证 {ID_NUMBER}"),
        (oa, "close", "审核通过"),
    ):
        r = _act(client, api.order_a, action, version, note)
        assert r.status_code == 200, r.json
        assert r.json["version"] == version + 1
        version = r.json["version"]
    detail = oa.get(f"{API_PREFIX}/work-orders/{api.order_a}")
    order = detail.json
    assert (order["state"], order["version"], order["allowed_actions"]) == ("已办结", 5, [])
    assert order["closed_at"] is not None and order["closed_at"][4] == "-" and "T" in order["closed_at"]
    events = order["events"]
    assert [e["to_state"] for e in events] == ["待签收", "已签收", "处置中", "已反馈", "已办结"]
    assert [e["actor"] for e in events] == ["J-leader", "wa", "wa", "wa", "oa"]
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5]
    # personal data in free text is masked in every answer, but kept whole in the store
    assert "138****5678" in order["summary"] and "320602***********4" in events[3]["note"]
    assert find_personal_data(detail.get_data(as_text=True)) == []
    assert PHONE in api.events(api.order_a).note.iloc[3]


def test_a_repeated_sign_is_not_an_error_and_changes_nothing(api):
    wa = api.client("wa")
    first = _act(wa, api.order_a, "sign", 1, "收到")
    again = _act(wa, api.order_a, "sign", 1, "收到")
    assert first.status_code == again.status_code == 200
    assert first.json["version"] == again.json["version"] == 2
    assert len(api.events(api.order_a)) == 2
    # somebody else signing the signed order is a conflict, not a retry
    other = _act(api.client("oa"), api.order_a, "sign", 2)
    assert other.status_code == 409 and other.json["error"] == "transition_not_allowed"
    assert api.store.work_order(api.order_a)["version"] == 2
    # a retried send-back (退回) is as harmless as a retried sign
    assert _act(wa, api.order_a, "handle", 2).status_code == 200
    assert _act(wa, api.order_a, "feed_back", 3).status_code == 200
    oa = api.client("oa")
    backs = [_act(oa, api.order_a, "send_back", 4, "照片不清楚") for _ in range(2)]
    assert [(r.status_code, r.json["state"], r.json["version"]) for r in backs] == [(200, "处置中", 5)] * 2
    assert len(api.events(api.order_a)) == 5


def test_conflicts_and_roles_answer_409_and_403_and_change_nothing(api):
    wa, oa = api.client("wa"), api.client("oa")
    r = _act(wa, api.order_a, "feed_back", 1)
    assert r.status_code == 409 and r.json["error"] == "transition_not_allowed"
    d = r.json["detail"]
    assert (d["state"], d["requested_state"]) == ("待签收", "已反馈")
    assert d["allowed_actions"] == ["sign", "escalate"] and "已签收" in d["allowed_states"]
    assert _act(wa, api.order_a, "sign", 1).status_code == 200
    stale = _act(oa, api.order_a, "escalate", 1)
    assert stale.status_code == 409 and stale.json["error"] == "stale_version"
    assert (stale.json["detail"]["version"], stale.json["detail"]["state"]) == (2, "已签收")
    assert "reload" in stale.json["message"] and "刷新" in stale.json["message"]
    for action in ("close", "send_back", "reject"):
        r = _act(wa, api.order_a, action, 2, "想办结")
        assert r.status_code == 403 and r.json["error"] == "action_not_allowed"
    r = _act(api.client("wa2"), api.order_a, "handle", 2)  # same grid, not the assignee
    assert r.status_code == 403 and r.json["error"] == "not_assigned"
    r = _act(oa, api.order_a, "send_back", 2)  # a send-back needs a reason …
    assert r.status_code == 422 and r.json["detail"] == {"field": "note"}
    r = _act(oa, api.order_a, "send_back", 2, "补充照片")  # … and a fed-back order
    assert r.status_code == 409
    after = api.store.work_order(api.order_a)
    assert (after["state"], after["version"], len(api.events(api.order_a))) == ("已签收", 2, 2)


def test_bad_requests_get_a_clear_4xx_naming_the_field(api):
    wa = api.client("wa")
    path = f"/work-orders/{api.order_a}/actions"

    def fields(r):
        return {(p["field"], p["rule"]) for p in r.json["detail"]}

    r = _raw(wa, path, b"{not json")
    assert (r.status_code, r.json["error"]) == (400, "invalid_json")
    assert _raw(wa, path, b"[1, 2]").status_code == 400
    assert _raw(wa, path, b"").json["error"] == "invalid_json"
    assert _raw(wa, path, b"[" * 30_000 + b"]" * 30_000).json["error"] == "invalid_json"
    r = _act(wa, api.order_a, "approve", 1)
    assert r.status_code == 400 and fields(r) == {("action", "enum")} and "sign" in r.json["message"]
    r = wa.post(API_PREFIX + path, json={"action": "sign", "version": "1", "note": 5, "by": "oa"})
    assert fields(r) == {("version", "type"), ("note", "type"), ("by", "unknown")}
    assert fields(wa.post(API_PREFIX + path, json={"action": "sign"})) == {("version", "required")}
    assert fields(wa.post(API_PREFIX + path, json={"action": "sign", "version": True})) == {
        ("version", "type")
    }
    assert fields(wa.post(API_PREFIX + path, json={"action": "sign", "version": 2**40})) == {
        ("version", "maximum")
    }
    r = wa.post(API_PREFIX + path, json={"action": "sign", "version": 1, "note": "a\x00b"})
    assert fields(r) == {("note", "text")}
    r = _raw(wa, path, b'{"action": "sign", "version": 1, "note": "\\ud800"}')
    assert fields(r) == {("note", "text")}
    r = _raw(wa, path, b'{"action": "sign", "version": NaN}')
    assert fields(r) == {("version", "type")}
    r = wa.post(API_PREFIX + path, json={"action": "sign", "version": 1, "note": "x" * 2001})
    assert fields(r) == {("note", "maxLength")}
    r = wa.post(API_PREFIX + path, data={"action": "sign", "version": "1"})  # a form post
    assert (r.status_code, r.json["error"]) == (415, "unsupported_media_type")
    assert _raw(wa, path, b'{"action": "sign", "version": 1}', "text/plain").status_code == 415
    big = json.dumps({"action": "sign", "version": 1, "note": "x" * MAX_BODY_BYTES}).encode()
    r = _raw(wa, path, big)
    assert (r.status_code, r.json["error"]) == (413, "body_too_large")
    r = wa.get(f"{API_PREFIX}/work-orders?page=abc&page_size=1000&state=done&mine=maybe")
    assert r.status_code == 400
    assert fields(r) == {("page", "type"), ("page_size", "maximum"), ("state", "enum"), ("mine", "type")}
    assert wa.get(f"{API_PREFIX}/work-orders?unit=999999").status_code == 422
    r = wa.get(f"{API_PREFIX}/no-such-route")
    assert (r.status_code, r.json["error"]) == (404, "not_found")
    r = wa.delete(f"{API_PREFIX}/work-orders/{api.order_a}")
    assert (r.status_code, r.json["error"]) == (405, "method_not_allowed")
    assert wa.get(f"{API_PREFIX}/work-orders/{'x' * 300}").status_code == 404
    # nothing of all that touched the order
    assert api.store.work_order(api.order_a)["version"] == 1 and len(api.events(api.order_a)) == 1


def test_cross_origin_state_changes_are_refused(api):
    wa = api.client("wa")
    body = json.dumps({"action": "sign", "version": 1})
    path = f"/work-orders/{api.order_a}/actions"
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        r = _raw(wa, path, body, **headers)
        assert (r.status_code, r.json["error"]) == (403, "cross_origin")
    assert len(api.events(api.order_a)) == 1
    r = _raw(wa, path, body, Origin="http://localhost", **{"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200 and r.json["state"] == "已签收"


def test_the_openapi_document_lists_every_route(api):
    doc = api.client("wa").get(f"{API_PREFIX}/openapi.json").json
    assert doc["openapi"].startswith("3.1") and doc == json.loads(json.dumps(openapi_document()))
    registered = {
        (openapi_path(rule.rule), method.lower())
        for rule in api.server.url_map.iter_rules()
        if rule.endpoint.startswith("api_v1.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert registered == documented and len(registered) >= 6
    act = doc["paths"][f"{API_PREFIX}/work-orders/{{order_id}}/actions"]["post"]
    assert set(
        act["requestBody"]["content"]["application/json"]["schema"]["properties"]["action"]["enum"]
    ) == set(ACTIONS)
    assert {"400", "401", "403", "404", "409", "413", "415"} <= set(act["responses"])
    for path in ("/work-orders", "/reports"):  # 201 created, 200 a retry with the same client_id
        create = doc["paths"][API_PREFIX + path]["post"]
        assert {"200", "201", "422"} <= set(create["responses"]) and "client_id" in create["description"]
        assert "client_id" in create["requestBody"]["content"]["application/json"]["schema"]["properties"]


def test_two_people_acting_at_once_one_wins_and_the_other_is_told_to_reload(api):
    wa, oa = api.client("wa"), api.client("oa")
    assert _act(wa, api.order_a, "sign", 1).status_code == 200
    barrier = threading.Barrier(2)
    answers: dict[str, object] = {}

    def go(name, client, action):
        barrier.wait()
        answers[name] = _act(client, api.order_a, action, 2, f"{name} 抢先")

    threads = [
        threading.Thread(target=go, args=("wa", wa, "handle")),
        threading.Thread(target=go, args=("oa", oa, "escalate")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in answers.values())
    assert codes == [200, 409], [r.json for r in answers.values()]
    loser = next(r for r in answers.values() if r.status_code == 409)
    assert loser.json["error"] == "stale_version" and loser.json["detail"]["version"] == 3
    events = api.events(api.order_a)
    assert len(events) == 3 and api.store.work_order(api.order_a)["version"] == 3


def test_dispatch_and_report_through_the_api(api):
    oa, wa = api.client("oa"), api.client("wa")
    r = oa.post(
        f"{API_PREFIX}/work-orders",
        json={"grid_code": api.grid_a, "summary": "排查电动车充电", "severity": "高"},
    )
    assert r.status_code == 201 and r.headers["Location"].endswith(r.json["order_id"])
    assert (r.json["kind"], r.json["state"], r.json["worker_id"]) == ("派单", "待签收", api.worker_a)
    assert r.json["order_id"] in {o["order_id"] for o in wa.get(f"{API_PREFIX}/work-orders").json["items"]}
    assert (
        wa.post(f"{API_PREFIX}/work-orders", json={"grid_code": api.grid_a, "summary": "x"}).status_code
        == 403
    )
    r = oa.post(f"{API_PREFIX}/work-orders", json={"grid_code": api.grid_b, "summary": "越界派单"})
    assert (r.status_code, r.json["detail"]) == (422, {"field": "grid_code"})
    r = oa.post(
        f"{API_PREFIX}/work-orders", json={"grid_code": api.grid_a, "summary": "x", "deadline": "soon"}
    )
    assert (r.status_code, r.json["detail"]) == (422, {"field": "deadline"})
    # a grid worker's report: masked in answers, into the data only once the officer approves
    record = api.dispute
    orders_before, disputes_before = api.store.count("work_orders"), api.store.count("disputes")
    bad = wa.post(f"{API_PREFIX}/reports", json={"layer": "disputes", "record": {**record, "level": "巨大"}})
    assert bad.status_code == 422 and "level" in bad.json["message"]
    far = wa.post(
        f"{API_PREFIX}/reports", json={"layer": "disputes", "record": record, "grid_code": api.grid_b}
    )
    assert far.status_code == 422
    assert wa.post(f"{API_PREFIX}/reports", json={"layer": "incidents", "record": record}).status_code == 400
    assert api.store.count("work_orders") == orders_before
    r = wa.post(
        f"{API_PREFIX}/reports", json={"layer": "disputes", "record": record, "summary": "邻里噪音纠纷"}
    )
    assert r.status_code == 201, r.json
    report = r.json
    assert (report["kind"], report["state"], report["grid_code"]) == ("上报审核", "已反馈", api.grid_a)
    assert report["report"]["record"]["party_names"] == "张*;李*"
    assert "张三丰" not in r.get_data(as_text=True)
    assert api.store.count("disputes") == disputes_before
    assert _act(wa, report["order_id"], "close", report["version"]).status_code == 403
    r = _act(oa, report["order_id"], "close", report["version"], "属实")
    assert (r.status_code, r.json["state"], r.json["resolution"]) == (200, "已办结", "通过")
    assert api.store.count("disputes") == disputes_before + 1


def test_an_approval_that_the_store_refuses_leaves_the_report_open(api):
    existing = api.store.read("hazards", geometry=False).hazard_id.iloc[0]
    record = {
        "hazard_id": existing,
        "hazard_type": "燃气",
        "level": "一般",
        "found_at": "2026-10-30",
        "deadline": "2026-11-30",
    }
    wa, oa = api.client("wa"), api.client("oa")
    r = wa.post(f"{API_PREFIX}/reports", json={"layer": "hazards", "record": record})
    assert r.status_code == 201
    order_id = r.json["order_id"]
    r = _act(oa, order_id, "close", 1)
    assert (r.status_code, r.json["error"]) == (409, "conflict")
    after = api.store.work_order(order_id)
    assert (after["state"], after["version"], len(api.events(order_id))) == ("已反馈", 1, 1)
    r = _act(oa, order_id, "reject", 1, "编号重复，请重报")
    assert (r.status_code, r.json["state"]) == (200, "处置中")


# ---------------------------------------------------------------------- unmasking one record, audit log
REASON = "上门核实联系电话"


def _unmask(client, layer, record_id, body=None, **headers):
    body = {"reason": REASON} if body is None else body
    return client.post(f"{API_PREFIX}/records/{layer}/{record_id}/unmask", json=body, headers=headers)


def _audits(api, action="unmask"):
    return api.store.audit_entries(filters={"action": action}, page_size=1000).frame


def _person(api, grid):
    return api.store.read("population", filters={"grid_code": grid}, geometry=False).iloc[0]


def test_unmasking_one_record_needs_the_permission_and_a_reason_and_is_audited_first(api):
    wa = api.client("wa")
    mine, theirs = _person(api, api.grid_a), _person(api, api.grid_b)
    r = _unmask(wa, "population", mine.person_id)
    assert r.status_code == 200, r.json
    assert r.json["fields"] == {
        "name": mine["name"],
        "phone": mine["phone"],
        "id_number": mine["id_number"],
        "birth_date": str(pd.Timestamp(mine["birth_date"]).date()),
    }
    assert r.json["record_id"] == mine.person_id and r.headers["Cache-Control"] == "no-store"
    entries = _audits(api)
    assert len(entries) == 1
    e = entries.iloc[0]
    assert (e.actor, e.action, e.target, e.reason, e.address) == (
        "wa",
        "unmask",
        f"population:{mine.person_id}",
        REASON,
        "127.0.0.1",
    )
    assert int(e.audit_id) == r.json["audit_id"] and json.loads(e.detail)["via"] == "api"
    # every refusal answers without personal data and writes nothing
    refusals = [
        (_unmask(wa, "population", theirs.person_id), 404, "not_found"),  # outside the grid
        (_unmask(wa, "population", "P9999999999"), 404, "not_found"),  # no such record: same answer
        (_unmask(wa, "population", "x' OR '1'='1"), 404, "not_found"),
        (_unmask(wa, "persons_of_concern", "G0000001"), 403, "unmask_not_allowed"),  # no concern layer
        (_unmask(wa, "users", "adm"), 403, "unmask_not_allowed"),  # not a layer with personal data
        (_unmask(wa, "population", mine.person_id, {}), 400, "invalid_request"),
        (_unmask(wa, "population", mine.person_id, {"reason": "看看"}), 400, "invalid_request"),
        (_unmask(wa, "population", mine.person_id, {"reason": "      \t"}), 400, "invalid_request"),
        (_unmask(wa, "population", mine.person_id, Origin="https://evil.example"), 403, "cross_origin"),
        (_unmask(api.client("wall"), "population", mine.person_id), 403, "forbidden"),  # the display
        (_unmask(api.client("adm"), "population", mine.person_id), 403, "forbidden"),  # 三员分立
        (_unmask(api.client("wb"), "population", mine.person_id), 404, "not_found"),
    ]
    for resp, status, code in refusals:
        assert (resp.status_code, resp.json["error"]) == (status, code), resp.json
        text = resp.get_data(as_text=True)
        assert find_personal_data(text) == [] and mine["name"] not in text and "scrypt" not in text
    assert {p["field"] for p in refusals[5][0].json["detail"]} == {"reason"}
    assert len(_audits(api)) == 1
    assert wa.get(f"{API_PREFIX}/records/population/{mine.person_id}/unmask").status_code == 405


def test_officers_unmask_persons_of_concern_of_their_area_only(api):
    store = api.store
    order = store.work_order(api.order_a)
    poc = store.read("persons_of_concern", order["district_code"], geometry=False)
    outside = store.read(
        "persons_of_concern", api.store.work_order(api.order_b)["district_code"], geometry=False
    )
    assert len(poc) and len(outside)
    oa = api.client("oa")
    r = _unmask(oa, "persons_of_concern", poc.poc_id.iloc[0], {"reason": "重点人员走访核查"})
    assert r.status_code == 200 and r.json["fields"]["id_number"] == poc.id_number.iloc[0]
    assert _unmask(oa, "persons_of_concern", outside.poc_id.iloc[0]).status_code == 404
    assert [t.split(":")[1] for t in _audits(api).target] == [poc.poc_id.iloc[0]]


def test_unmaskings_per_hour_are_capped(api, monkeypatch):
    from data import settings

    monkeypatch.setattr(settings, "UNMASK_PER_HOUR", 2)
    wa, person = api.client("wa"), _person(api, api.grid_a)
    codes = [_unmask(wa, "population", person.person_id).status_code for _ in range(3)]
    assert codes == [200, 200, 429] and len(_audits(api)) == 2


def test_the_audit_log_is_read_only_and_for_the_administrator(api):
    person = _person(api, api.grid_a)
    wa, adm = api.client("wa"), api.client("adm")
    reason = f"回访，电话 {PHONE}"
    assert _unmask(wa, "population", person.person_id, {"reason": reason}).status_code == 200
    r = adm.get(f"{API_PREFIX}/audit?action=unmask")
    assert r.status_code == 200 and r.json["total"] == 1, r.json
    item = r.json["items"][0]
    assert (item["actor"], item["target"]) == ("wa", f"population:{person.person_id}")
    assert item["reason"] == "回访，电话 138****5678" and find_personal_data(r.get_data(as_text=True)) == []
    logins = adm.get(f"{API_PREFIX}/audit?action=login&actor=wa").json
    assert logins["total"] >= 1 and logins["items"][0]["detail"] == {"via": "password"}
    for user in ("wa", "oa", "an", "wall"):
        assert api.client(user).get(f"{API_PREFIX}/audit").status_code == 403
    before = api.store.audit_entries(page_size=1000).frame
    for method in ("post", "put", "patch", "delete"):
        r = getattr(adm, method)(f"{API_PREFIX}/audit", json={"reason": "x"})
        assert (r.status_code, r.json["error"]) == (405, "method_not_allowed")
    r = adm.get(f"{API_PREFIX}/audit?user=x")
    assert r.status_code == 400 and {p["field"] for p in r.json["detail"]} == {"user"}
    r = adm.get(f"{API_PREFIX}/audit?from=2026-13-45&to=2026-01-01")
    assert r.status_code == 400 and {p["field"] for p in r.json["detail"]} == {"from"}
    assert adm.get(f"{API_PREFIX}/audit?from=2026-02-01&to=2026-01-01").status_code == 400
    # a value made to break out of the SQL string is bound as a value: it matches nothing
    assert adm.get(f"{API_PREFIX}/audit", query_string={"actor": "' OR 1=1 --"}).json["total"] == 0
    after = api.store.audit_entries(page_size=1000).frame
    pd.testing.assert_frame_equal(after, before)


# ---------------------------------------------------------------------- fuzz
def _fuzz(examples: int, *health_checks: HealthCheck):
    """Hypothesis settings of a bounded, reproducible fuzz (no deadline: a store round trip varies)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, *health_checks],
    )


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
CURRENT = "<the order's current version>"
_bodies = st.one_of(
    st.fixed_dictionaries(
        {
            "action": st.sampled_from(ACTIONS) | _values,
            "version": st.just(CURRENT) | st.integers(0, 8) | _values,
        },
        optional={
            "note": st.text(max_size=40) | _values,
            "final": _values,
            "actor": _values,
            "record": _values,
        },
    ),
    _values,
)


def test_fuzzed_action_bodies_end_in_2xx_or_4xx_and_never_half_written(api):
    clients = {"wa": api.client("wa"), "oa": api.client("oa")}
    path = f"{API_PREFIX}/work-orders/{api.order_a}/actions"
    seen: set[int] = set()

    @_fuzz(60, HealthCheck.data_too_large)
    @given(who=st.sampled_from(sorted(clients)), body=_bodies, raw=st.booleans())
    def check(who, body, raw):
        if isinstance(body, dict) and body.get("version") == CURRENT:
            body = {**body, "version": int(api.store.work_order(api.order_a)["version"])}
        data = json.dumps(body) if not raw else json.dumps(body)[:-1]
        r = clients[who].post(path, data=data, content_type="application/json")
        seen.add(r.status_code)
        assert 200 <= r.status_code < 300 or 400 <= r.status_code < 500, (r.status_code, r.json)
        assert r.json is not None and ("error" in r.json) == (r.status_code >= 400)
        order, events = api.store.work_order(api.order_a), api.events(api.order_a)
        assert len(events) == order["version"] and list(events.version) == list(
            range(1, order["version"] + 1)
        )
        assert events.to_state.iloc[-1] == order["state"]

    check()
    assert 200 in seen and 400 in seen and 409 in seen


_records = st.dictionaries(
    st.sampled_from(
        ["hazard_type", "level", "found_at", "deadline", "found_by", "lon", "lat", "hazard_id", "x"]
    ),
    _scalars | st.sampled_from(["消防", "一般", "2026-10-30", "2026-11-30"]),
    max_size=8,
)


def test_fuzzed_reports_create_one_order_or_none(api):
    wa = api.client("wa")

    @_fuzz(40)
    @given(record=_records)
    def check(record):
        before = api.store.count("work_orders")
        r = wa.post(
            f"{API_PREFIX}/reports",
            data=json.dumps({"layer": "hazards", "record": record}),
            content_type="application/json",
        )
        assert r.status_code in (201, 400, 422), (r.status_code, r.json)
        assert api.store.count("work_orders") == before + (r.status_code == 201)

    check()


# ---------------------------------------------------------------------- retry-safe creation, resubmission


def test_a_retried_dispatch_with_its_client_id_creates_one_order(api):
    oa = api.client("oa")
    body = {
        "grid_code": api.grid_a,
        "summary": "排查电动车充电",
        "severity": "高",
        "client_id": "a1b2c3d4-0001",
    }
    n = api.store.count("work_orders")
    first = oa.post(f"{API_PREFIX}/work-orders", json=body)
    again = oa.post(f"{API_PREFIX}/work-orders", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["order_id"] == first.json["order_id"] and again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert first.json["source_id"] == "oa/a1b2c3d4-0001"
    assert api.store.count("work_orders") == n + 1 and len(api.events(first.json["order_id"])) == 1
    # the same client_id for another request: refused, naming the order and the fields; nothing created
    r = oa.post(f"{API_PREFIX}/work-orders", json={**body, "summary": "另一件事"})
    assert (r.status_code, r.json["error"]) == (422, "client_id_reused")
    assert r.json["detail"] == {
        "field": "client_id",
        "order_id": first.json["order_id"],
        "fields": ["summary"],
    }
    assert "client_id" in r.json["message"] and first.json["order_id"] in r.json["message"]
    # without a client_id every request is a new order; a malformed one is a 400 naming the field
    plain = {k: v for k, v in body.items() if k != "client_id"}
    assert [oa.post(f"{API_PREFIX}/work-orders", json=plain).status_code for _ in range(2)] == [201, 201]
    r = oa.post(f"{API_PREFIX}/work-orders", json={**body, "client_id": "短"})
    assert r.status_code == 400 and {(p["field"], p["rule"]) for p in r.json["detail"]} == {
        ("client_id", "pattern")
    }
    assert api.store.count("work_orders") == n + 3


def test_a_retry_after_its_deadline_passed_returns_the_order_made(api):
    """A phone that lost the answer retries later: the deadline it asked for may have passed since. The
    retry returns the order made (200); a new order with that deadline is refused (422 bad_deadline)."""
    import time

    oa = api.client("oa")
    soon = wf.now() + dt.timedelta(seconds=2)
    body = {
        "grid_code": api.grid_a,
        "summary": "核查门前堆物",
        "severity": "中",
        "deadline": soon.isoformat(),
        "client_id": "a1b2c3d4-0009",
    }
    first = oa.post(f"{API_PREFIX}/work-orders", json=body)
    assert first.status_code == 201, first.json
    while wf.now() <= soon:
        time.sleep(0.2)
    again = oa.post(f"{API_PREFIX}/work-orders", json=body)
    assert again.status_code == 200 and again.json["order_id"] == first.json["order_id"], again.json
    new = oa.post(f"{API_PREFIX}/work-orders", json={**body, "client_id": "a1b2c3d4-0010"})
    assert (new.status_code, new.json["error"]) == (422, "bad_deadline")


def test_a_retried_report_with_its_client_id_creates_one_order(api):
    wa = api.client("wa")
    body = {
        "layer": "disputes",
        "record": api.dispute,
        "summary": "邻里噪音纠纷",
        "client_id": "rep-000000001",
    }
    n = api.store.count("work_orders")
    first, again = (wa.post(f"{API_PREFIX}/reports", json=body) for _ in range(2))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["order_id"] == first.json["order_id"] and api.store.count("work_orders") == n + 1
    r = wa.post(f"{API_PREFIX}/reports", json={**body, "record": {**api.dispute, "level": "复杂"}})
    assert (r.status_code, r.json["detail"]["fields"]) == (422, ["record"])
    # another user's identical request with the same client_id is theirs, not a retry of this one
    other = api.client("wa2").post(f"{API_PREFIX}/reports", json=body)
    assert other.status_code == 201 and other.json["order_id"] != first.json["order_id"]
    assert api.store.count("work_orders") == n + 2


def test_two_identical_creations_at_once_make_one_order(api):
    oa, wa = api.client("oa"), api.client("wa")
    requests = (
        (oa, "/work-orders", {"grid_code": api.grid_a, "summary": "并发派单", "client_id": "double-tap-01"}),
        (wa, "/reports", {"layer": "disputes", "record": api.dispute, "client_id": "double-tap-02"}),
    )
    for client, path, body in requests:
        barrier = threading.Barrier(2)
        answers = []

        def go(client=client, path=path, body=body, barrier=barrier, answers=answers):
            barrier.wait()
            answers.append(client.post(API_PREFIX + path, json=body))

        n = api.store.count("work_orders")
        threads = [threading.Thread(target=go) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.status_code for r in answers) == [200, 201], [r.json for r in answers]
        assert answers[0].json["order_id"] == answers[1].json["order_id"]
        assert api.store.count("work_orders") == n + 1
        assert len(api.events(answers[0].json["order_id"])) == 1


def test_a_rejected_report_is_corrected_and_resubmitted(api):
    wa, oa = api.client("wa"), api.client("oa")
    report = wa.post(f"{API_PREFIX}/reports", json={"layer": "disputes", "record": api.dispute}).json
    oid = report["order_id"]
    assert "resubmit" not in report["allowed_actions"]
    r = _act(wa, oid, "resubmit", 1, record={**api.dispute, "level": "复杂"})
    assert (r.status_code, r.json["error"]) == (409, "transition_not_allowed")  # not rejected yet
    back = _act(oa, oid, "reject", 1, "等级有误，请补正")
    assert (back.status_code, back.json["state"]) == (200, "处置中")
    detail = wa.get(f"{API_PREFIX}/work-orders/{oid}").json
    assert detail["allowed_actions"] == ["feed_back", "escalate", "resubmit"]
    r = _act(wa, oid, "resubmit", 2)
    assert (r.status_code, r.json["error"], r.json["detail"]) == (422, "record_required", {"field": "record"})
    r = _act(wa, oid, "resubmit", 2, record={**api.dispute, "level": "巨大"})
    assert (r.status_code, r.json["error"]) == (422, "invalid_record") and "level" in r.json["message"]
    r = _act(wa, oid, "sign", 2, record=api.dispute)
    assert (r.status_code, r.json["error"]) == (422, "unexpected_record")
    assert api.store.work_order(oid)["version"] == 2 and len(api.events(oid)) == 2
    fixed = {**api.dispute, "level": "复杂"}
    answers = [_act(wa, oid, "resubmit", 2, "已补正等级", record=fixed) for _ in range(2)]  # with a retry
    assert [(r.status_code, r.json["state"], r.json["version"]) for r in answers] == [(200, "已反馈", 3)] * 2
    done = answers[0].json
    assert (
        done["report"]["record"]["level"] == "复杂" and done["report"]["record"]["party_names"] == "张*;李*"
    )
    assert [(e["to_state"], e["actor"]) for e in done["events"]] == [
        ("已反馈", "wa"),
        ("处置中", "oa"),
        ("已反馈", "wa"),
    ]
    assert done["events"][-1]["note"] == "已补正等级 (修改: level)"
    assert "张三丰" not in answers[0].get_data(as_text=True)
    disputes = api.store.count("disputes")
    r = _act(oa, oid, "close", 3, "属实")
    assert (r.status_code, r.json["resolution"]) == (200, "通过") and api.store.count(
        "disputes"
    ) == disputes + 1
    assert api.store.read("disputes", filters={"level": "复杂", "party_names": "张三丰;李四"}).shape[0] == 1


def test_a_grid_worker_resubmits_their_own_report_and_no_one_else_s(api):
    wa2, oa = api.client("wa2"), api.client("oa")
    report = wa2.post(f"{API_PREFIX}/reports", json={"layer": "disputes", "record": api.dispute}).json
    assert report["worker_id"] == api.worker_a  # the grid's worker is wa, the reporter wa2
    assert _act(oa, report["order_id"], "reject", 1, "请补充当事人").status_code == 200
    r = _act(
        api.client("wa"), report["order_id"], "resubmit", 2, record=api.dispute
    )  # the grid's worker: fine
    r2 = _act(
        wa2, report["order_id"], "resubmit", 2, record={**api.dispute, "party_names": "张三丰;李四;王五"}
    )
    assert r.status_code == 200 and (r2.status_code, r2.json["error"]) == (409, "stale_version")
    plain = wa2.post(f"{API_PREFIX}/reports", json={"layer": "disputes", "record": api.dispute}).json
    assert _act(oa, plain["order_id"], "reject", 1, "请补充").status_code == 200
    assert _act(wa2, plain["order_id"], "resubmit", 2, record=api.dispute).status_code == 200
    r = _act(api.client("wb"), plain["order_id"], "resubmit", 3, record=api.dispute)
    assert r.status_code == 404  # another grid's worker does not even see it


def test_fuzzed_unmask_requests_answer_4xx_or_an_audited_record_in_scope(api):
    from urllib.parse import quote

    from data.store.unmask import UNMASK_LAYERS

    clients = {u: api.client(u) for u in ("wa", "oa", "wall")}
    people = [_person(api, api.grid_a).person_id, _person(api, api.grid_b).person_id]
    seen: set[int] = set()

    @_fuzz(50)
    @given(
        who=st.sampled_from(sorted(clients)),
        layer=st.just("population") | st.sampled_from([*UNMASK_LAYERS, "users"]) | st.text(max_size=12),
        record=st.sampled_from(people) | st.text(max_size=20),
        body=st.just({"reason": REASON})
        | st.fixed_dictionaries({"reason": st.text(max_size=12) | _values})
        | _values,
    )
    def check(who, layer, record, body):
        before = len(_audits(api))
        path = f"{API_PREFIX}/records/{quote(layer, safe='')}/{quote(record, safe='')}/unmask"
        r = clients[who].post(path, data=json.dumps(body), content_type="application/json")
        seen.add(r.status_code)
        assert r.status_code in (200, 400, 403, 404, 405, 429), (r.status_code, r.get_data(as_text=True))
        assert r.json is not None and ("error" in r.json) == (r.status_code >= 400)
        after = _audits(api)
        assert len(after) == before + (r.status_code == 200)
        if r.status_code == 200:
            assert who != "wall" and record in people and after.iloc[0].target == f"{layer}:{record}"
            assert who == "oa" or record == people[0]  # the grid worker: only their own grid
        else:
            assert find_personal_data(r.get_data(as_text=True)) == []

    check()
    assert {200, 400, 403, 404} <= seen
