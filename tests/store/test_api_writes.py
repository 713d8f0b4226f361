"""Writes through the REST API stay inside the writer's scope, on both stores (issue 12, items 3 and 14).

Attacks crafted as a hostile grid worker or officer would: reports (上报) whose record points elsewhere by
each placing field alone and all together (coordinates, WKT geometry, grid, address, visited person,
staff, parties), approvals of records that lie outside the approver's area, dispatches (派单) to other
areas or naming their own assignee, stale versions replayed as retries, and deadlines that are not in the
future."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from data.store import tables as T
from data.store import users as U
from data.store import workflow as wf
from data.store.testing import point_inside
from tests.store import test_api
from tests.store.test_api import API_PREFIX, PASSWORD, Api, _act

api = test_api.api  # the fixture: the API over a store of its own, users bound to two areas


@pytest.fixture
def far(api: Api) -> dict:
    """Places of grid B (another county) and of another grid of worker A's own county."""
    store = api.store
    gu = store.grid_units()
    home = gu[gu.grid_code == api.grid_a].iloc[0]
    assert gu[gu.grid_code == api.grid_b].county_code.iloc[0] != home.county_code
    neighbour = gu[(gu.county_code == home.county_code) & (gu.district_code != home.district_code)]
    addresses = store.read("addresses", geometry=False, columns=["address_id", "grid_code"])
    pocs = store.read("persons_of_concern", geometry=False, columns=["poc_id", "grid_code"])
    people = store.read("population", geometry=False, columns=["person_id", "grid_code"])
    staff_b = store.read("staff", filters={"unit_code": api.grid_b}).staff_id.iloc[0]
    b_grids = set(store.grids_of(api.grid_b[:6]))
    return {
        "neighbour": neighbour.grid_code.iloc[0],
        "address_a": addresses[addresses.grid_code == api.grid_a].address_id.iloc[0],
        "address_b": addresses[addresses.grid_code.isin(b_grids)].address_id.iloc[0],
        "poc_b": pocs[pocs.grid_code.isin(b_grids)].poc_id.iloc[0],
        "person_b": people[people.grid_code.isin(b_grids)].person_id.iloc[0],
        "staff_b": staff_b,
    }


HAZARD = {"hazard_type": "燃气", "level": "一般", "found_at": "2026-10-30", "deadline": "2026-11-30"}


def _person(address_id: str, **more) -> dict:
    return {
        "name": "王小明",
        "id_number": "320602199001011234",
        "gender": "男",
        "birth_date": "1990-01-01",
        "resident_kind": "流动",
        "address_id": address_id,
        "registered": False,
        "verified": False,
        **more,
    }


def _report(client, layer: str, record: dict, **body):
    return client.post(f"{API_PREFIX}/reports", json={"layer": layer, "record": record, **body})


def _counts(store) -> tuple[int, ...]:
    return tuple(
        store.count(n) for n in ("work_orders", "work_order_events", "population", "hazards", "disputes")
    )


def test_a_report_pointing_elsewhere_by_any_field_is_refused_and_writes_nothing(api, far):
    wa = api.client("wa")
    in_a, in_b, in_next = (point_inside(api.store, g) for g in (api.grid_a, api.grid_b, far["neighbour"]))
    wkt_b = f"POINT ({in_b['lon']} {in_b['lat']})"
    before = _counts(api.store)
    attacks = [
        # (layer, record, body extras, field named in the refusal)
        ("disputes", {**api.dispute, **in_b}, {}, "lon/lat"),
        ("disputes", {**api.dispute, **in_b, "grid_code": api.grid_a}, {"grid_code": api.grid_a}, "lon/lat"),
        ("disputes", {**api.dispute, **in_next}, {}, "lon/lat"),  # own county, another grid
        ("hazards", {**HAZARD, "geometry": wkt_b}, {}, "lon/lat"),
        ("hazards", {**HAZARD, "lon": 0.5, "lat": 0.5}, {}, "lon/lat"),  # in no grid at all
        ("disputes", {**api.dispute, "grid_code": api.grid_b}, {}, "grid_code"),  # grid B, point in A
        ("disputes", api.dispute, {"grid_code": api.grid_b}, "grid_code"),
        ("hazards", {**HAZARD, "grid_code": api.grid_b}, {}, "grid_code"),  # no location, own grid
        ("hazards", {**HAZARD, "address_id": far["address_b"]}, {}, "address_id"),
        ("hazards", {**HAZARD, **in_a, "address_id": far["address_b"]}, {}, "address_id"),
        ("hazards", {**HAZARD, "address_id": "NO-SUCH-ADDRESS"}, {}, "address_id"),
        ("population", _person(far["address_b"]), {}, "address_id"),
        (
            "population",
            _person(far["address_b"], grid_code=api.grid_b),
            {"grid_code": api.grid_b},
            "address_id",
        ),
        ("population", _person(far["address_a"], grid_code=api.grid_b), {}, "grid_code"),
        ("disputes", {**api.dispute, "person_ids": far["person_b"]}, {}, "person_ids"),
        (
            "visits",
            {
                "staff_id": api.worker_a,
                "target_kind": "person_of_concern",
                "target_id": far["poc_b"],
                "visited_at": "2026-10-30 10:00:00",
            },
            {},
            "target_id",
        ),
        (
            "visits",
            {
                "staff_id": far["staff_b"],
                "target_kind": "address",
                "target_id": far["address_a"],
                "visited_at": "2026-10-30 10:00:00",
            },
            {},
            "staff_id",
        ),
        # everything at once
        (
            "hazards",
            {**HAZARD, **in_b, "address_id": far["address_b"], "grid_code": api.grid_b},
            {"grid_code": api.grid_b},
            None,
        ),
    ]
    for layer, record, extra, field in attacks:
        r = _report(wa, layer, record, **extra)
        assert r.status_code == 422, (layer, record, r.json)
        assert r.json["error"] in ("outside_scope", "location_mismatch"), r.json
        if field is not None:
            assert r.json["detail"] == {"field": field}, (record, r.json)
        assert "(" in r.json["message"] and r.json["message"][0] > "\u2e80"  # 中文 (English)
    # placing codes the layer does not have are refused too (they are not columns to write)
    for name in ("village_code", "district_code", "county_code"):
        r = _report(wa, "disputes", {**api.dispute, name: api.grid_b[:12]})
        assert r.status_code == 422 and r.json["error"] == "invalid_record"
    assert _counts(api.store) == before


def test_the_stored_placement_is_computed_by_the_server(api, far):
    wa, oa = api.client("wa"), api.client("oa")
    # a resident at a standard address of grid A: the row's grid comes from the address
    r = _report(wa, "population", _person(far["address_a"]))
    assert r.status_code == 201, r.json
    assert r.json["grid_code"] == api.grid_a
    person_id = r.json["report"]["record"]["person_id"]
    assert _act(oa, r.json["order_id"], "close", r.json["version"], "核实无误").status_code == 200
    row = api.store.read("population", filters={"person_id": person_id}, geometry=False).iloc[0]
    assert (row.grid_code, row.address_id) == (api.grid_a, far["address_a"])
    # a record without a location takes the worker's own grid; an account not bound to a grid is refused
    visit = {
        "staff_id": api.worker_a,
        "target_kind": "address",
        "target_id": far["address_a"],
        "visited_at": "2026-10-30 10:00:00",
    }
    r = _report(wa, "visits", visit)
    assert r.status_code == 201 and r.json["grid_code"] == api.grid_a, r.json
    r = _report(oa, "visits", visit, grid_code=api.grid_a)
    assert (r.status_code, r.json["error"]) == (422, "location_required")
    # an officer's report with a location in their 警格 is placed by it, whatever grid it was sent with
    r = _report(oa, "disputes", api.dispute)
    assert r.status_code == 201 and r.json["grid_code"] == api.grid_a


def _tamper(store, order_id: str, **record_changes) -> None:
    """Rewrite the record a report holds (as a row written before placement was checked would hold it)."""
    wo = T.work_orders
    with store.begin() as conn:
        payload = json.loads(
            conn.execute(sa.select(wo.c.payload).where(wo.c.order_id == order_id)).scalar_one()
        )
        payload["record"].update(record_changes)
        conn.execute(sa.update(wo).where(wo.c.order_id == order_id).values(payload=json.dumps(payload)))


def test_an_approval_recomputes_the_placement_and_checks_the_approver_s_scope(api, far):
    wa, oa = api.client("wa"), api.client("oa")
    city = api.store.units("city").unit_code.iloc[0]
    U.add_user(api.store, "boss", PASSWORD, "leader", city)
    in_b = point_inside(api.store, api.grid_b)
    # a report whose held record lies in county B (written before this check existed, or tampered with)
    order = _report(wa, "disputes", api.dispute).json
    _tamper(api.store, order["order_id"], geometry=f"POINT ({in_b['lon']} {in_b['lat']})")
    before = _counts(api.store)
    r = _act(oa, order["order_id"], "close", order["version"], "通过")
    assert (r.status_code, r.json["error"], r.json["detail"]) == (422, "outside_scope", {"field": "lon/lat"})
    assert _counts(api.store) == before and api.store.work_order(order["order_id"])["state"] == "已反馈"
    # the city's leader may approve it: the row lands where it lies (B), not in the order's grid
    r = _act(api.client("boss"), order["order_id"], "close", order["version"], "通过")
    assert r.status_code == 200, r.json
    added = api.store.read(
        "disputes", filters={"dispute_type": "邻里", "party_names": "张三丰;李四"}, geometry=False
    )
    assert set(added.grid_code) == {api.grid_b}
    # a held grid_code pointing elsewhere is not trusted: the row goes to the grid the point lies in
    other = _report(wa, "hazards", {**HAZARD, **point_inside(api.store, api.grid_a)}).json
    _tamper(api.store, other["order_id"], grid_code=api.grid_b)
    assert _act(oa, other["order_id"], "close", other["version"]).status_code == 200
    hazard_id = other["report"]["record"]["hazard_id"]
    assert api.store.read("hazards", filters={"hazard_id": hazard_id}).grid_code.iloc[0] == api.grid_a
    # a resubmission that moves the record out of the area is refused, and the report stays as it was
    third = _report(wa, "disputes", api.dispute).json
    back = _act(oa, third["order_id"], "reject", third["version"], "地址不准")
    assert back.status_code == 200
    r = _act(wa, third["order_id"], "resubmit", back.json["version"], record={**api.dispute, **in_b})
    assert (r.status_code, r.json["error"]) == (422, "outside_scope")
    assert api.store.work_order(third["order_id"])["version"] == back.json["version"]


def test_a_dispatch_goes_only_to_a_grid_in_scope_and_to_its_own_workers(api, far):
    oa = api.client("oa")
    for grid in (api.grid_b, far["neighbour"], "000000000000000"):
        r = oa.post(f"{API_PREFIX}/work-orders", json={"grid_code": grid, "summary": "越界派单"})
        assert (r.status_code, r.json["detail"]) == (422, {"field": "grid_code"}), grid
    for field, value in (("worker_id", "W-OTHER"), ("officer_id", "J-OTHER"), ("district_code", "x")):
        body = {"grid_code": api.grid_a, "summary": "指定他人", field: value}
        r = oa.post(f"{API_PREFIX}/work-orders", json=body)
        assert r.status_code == 400 and r.json["detail"][0]["field"] == field
    r = oa.post(f"{API_PREFIX}/work-orders", json={"grid_code": api.grid_a, "summary": "排查隐患"})
    assert r.status_code == 201
    staff = api.store.read("staff", geometry=False).set_index("staff_id")
    assert staff.unit_code[r.json["worker_id"]] == api.grid_a
    assert staff.unit_code[r.json["officer_id"]] == r.json["district_code"]
    assert api.store.grid_units(api.grid_a).district_code.iloc[0] == r.json["district_code"]


# ---------------------------------------------------------------------- item 14: deadlines and retries
def _in(hours: float) -> str:
    return (wf.now() + dt.timedelta(hours=hours)).isoformat(timespec="seconds")


@pytest.mark.parametrize(
    "deadline",
    [
        "now",
        "today",
        "tomorrow",
        "",
        " ",
        "soon",
        "1700000000",
        "2026-12-31",  # a day without a time
        "9999-12-31T23:59:59",
        "+10000-01-01T00:00",
        "2026-13-01T00:00",
        "２０３０-０１-０１T００:００",  # full-width digits
        "2030-01-01T00:00+25:00",
        "P1D",
        "2000-01-01T00:00:00",  # the past
        "-1",
    ],
)
def test_a_deadline_must_be_a_time_in_the_future(api, deadline):
    oa = api.client("oa")
    n = api.store.count("work_orders")
    r = oa.post(
        f"{API_PREFIX}/work-orders", json={"grid_code": api.grid_a, "summary": "x", "deadline": deadline}
    )
    assert r.status_code in (400, 422) and r.status_code != 500, r.json
    if r.status_code == 422:
        assert (r.json["error"], r.json["detail"]) == ("bad_deadline", {"field": "deadline"})
    assert api.store.count("work_orders") == n


def test_deadlines_now_far_ahead_and_with_zones(api):
    oa = api.client("oa")

    def send(deadline):
        return oa.post(
            f"{API_PREFIX}/work-orders", json={"grid_code": api.grid_a, "summary": "x", "deadline": deadline}
        )

    assert send(_in(0)).status_code == 422  # "now", written as a time
    assert send(_in(24 * 400)).status_code == 422  # beyond ONEMAP_MAX_DEADLINE_DAYS
    ok = send(_in(2))
    assert ok.status_code == 201 and ok.json["deadline"] == _in(2)[:16] + ok.json["deadline"][16:]
    utc = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).replace(microsecond=0)
    zoned = send(utc.isoformat().replace("+00:00", "Z"))
    assert zoned.status_code == 201
    assert dt.datetime.fromisoformat(zoned.json["deadline"]) == wf.to_store_time(utc)


@pytest.mark.parametrize(
    "found_at", ["now", "today", "9999-01-01", "0206-01-01", "20261030", 20261030, "2026-02-30"]
)
def test_dates_inside_a_report_are_iso_days_of_a_plausible_year(api, found_at):
    r = _report(api.client("wa"), "hazards", {**HAZARD, "found_at": found_at})
    assert (r.status_code, r.json["error"]) == (422, "invalid_record"), r.json


def test_a_stale_action_is_409_and_only_a_true_retry_is_200(api):
    wa = api.client("wa")
    oid = api.order_a
    assert _act(wa, oid, "sign", 1).status_code == 200
    assert _act(wa, oid, "handle", 2).status_code == 200
    assert _act(wa, oid, "escalate", 3, "需派出所协助").status_code == 200
    assert _act(wa, oid, "handle", 4).status_code == 200  # 处置中 again, at version 5, moved by wa
    events = len(api.events(oid))
    # a handle read at version 1: the order happens to be 处置中 and wa moved it last, but it is stale
    r = _act(wa, oid, "handle", 1)
    assert r.status_code == 409 and r.json["error"] == "stale_version", r.json
    assert "版本 1" in r.json["message"] and "当前版本 5" in r.json["message"]
    assert (r.json["detail"]["expected_version"], r.json["detail"]["version"]) == (1, 5)
    for action, version in (("sign", 2), ("escalate", 1), ("feed_back", 3), ("handle", 3)):
        assert _act(wa, oid, action, version).status_code == 409, (action, version)
    # the handle that moved it from version 2 (its answer lost): a true retry, 200 with nothing changed
    again = _act(wa, oid, "handle", 2)
    assert again.status_code == 200 and again.json["version"] == 5
    # somebody else's identical request at that version is not a retry of it
    assert _act(api.client("oa"), oid, "handle", 2).status_code == 409
    assert len(api.events(oid)) == events


def test_retries_are_recognised_by_their_client_id(api):
    wa = api.client("wa")
    oid = api.order_a
    first = _act(wa, oid, "sign", 1, client_id="move-0000001")
    assert first.status_code == 200 and first.json["version"] == 2
    assert _act(wa, oid, "sign", 1, client_id="move-0000001").status_code == 200  # the retry
    assert _act(wa, oid, "sign", 1, client_id="move-0000002").status_code == 409  # another request
    assert _act(wa, oid, "sign", 1).status_code == 409  # no id: not that request either
    # a client id already used for another move of this order, sent with a new move
    r = _act(wa, oid, "handle", 2, client_id="move-0000001")
    assert (r.status_code, r.json["error"]) == (422, "client_id_reused")
    assert _act(wa, oid, "handle", 2, client_id="move-0000003").status_code == 200
    trace = api.events(oid)
    assert [c if isinstance(c, str) else None for c in trace.client_id] == [
        None,
        "move-0000001",
        "move-0000003",
    ]
    for bad in ("short", "x" * 101, "has space!", 12345678):
        r = _act(wa, oid, "feed_back", 3, client_id=bad)
        assert r.status_code == 400 and r.json["detail"][0]["field"] == "client_id"
