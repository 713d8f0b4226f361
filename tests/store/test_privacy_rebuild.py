"""Masked values cannot be rebuilt (issue 12, items 1 and 12), on SQLite and PostGIS.

For every role, everything the role can read is collected the way an insider would collect it: the grid
records tables (网格台账) of the dashboard, their CSV and Excel exports, the work-order list and trace of
the 预警推送 screen, the REST answers (who am I, work orders with their report, trace and summary, the
audit log, refused unmaskings) and the briefing's figures. Then an automatic attempt rebuilds each masked
value from every other field shown of the same person (joined across tables by ``person_id``): an ID
number from its visible digits, the birth date or year, the gender and the GB 11643 check character; a
phone from its visible digits; a name from its visible characters. The number of values that remain
possible must stay at least :data:`data.access.MIN_CANDIDATES`, and no whole ID or mobile number of a
resident may appear anywhere, in any form it could be written (:func:`data.access.find_personal_data`).

Planted as an insider would see it: a dispatched order (派单) and a move whose texts quote a landlord's
phone and ID in the forms people type, and a grid worker's report (上报) of a new resident, approved
into the population layer, with a whole birth date beside the ID number.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import io
import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from dashboard.api import API_PREFIX
from dashboard.app import AppConfig, create_app, router_request
from dashboard.records import GRID_LAYERS
from data.access import MIN_CANDIDATES, find_personal_data
from data.idnumber import make_id_numbers
from data.schema import LAYERS
from data.store import users as U
from data.store import workflow as wf

PASSWORD = "privacy-test-1"
ROLES = ("admin", "leader", "analyst", "officer", "grid_worker", "display")
LANDLORD_PHONE, LANDLORD_ID = "13912345678", "32060219800203451X"
#: A new resident as a grid worker reports them: a whole birth date beside the ID number.
NEW_BIRTH = dt.date(1985, 3, 7)
NEW_ID = str(make_id_numbers(np.array(["320612"]), np.array([np.datetime64(NEW_BIRTH)]), np.array([123]))[0])
NEW_RESIDENT = {
    "name": "欧阳明华",
    "id_number": NEW_ID,
    "phone": "15851234567",
    "gender": "男",
    "birth_date": NEW_BIRTH.isoformat(),
    "resident_kind": "流动",
    "registered": True,
    "verified": False,
    "origin": "贵州省贵阳市",
}


@dataclass
class World:
    store: object
    app: object
    home: str  # the grid worker's grid
    officer_staff: str  # the community officer (社区民警) of the 警格 above it
    orders: list[str]
    names: set[str]  # whole names of residents of the home grid (3+ characters)

    def client(self, role: str | None = None):
        c = self.app.server.test_client()
        if role is not None:
            r = c.post("/login", json={"user": role, "password": PASSWORD})
            assert r.status_code == 200, r.get_data(as_text=True)[:300]
        return c


@pytest.fixture
def world(store, tmp_path) -> World:
    gu = store.grid_units()
    staff = store.read("staff", geometry=False)
    officers = staff[staff.role == "社区民警"]
    people = store.read("population", geometry=False, columns=["person_id", "grid_code", "name"])
    home = gu[gu.grid_code.isin(set(people.grid_code)) & gu.district_code.isin(set(officers.unit_code))]
    home = home.sort_values("grid_code").iloc[0]
    workers = staff[(staff.unit_code == home.grid_code) & (staff.role != "社区民警")]
    officer = officers[officers.unit_code == home.district_code].staff_id.min()
    city = store.units("city").unit_code.iloc[0]
    units = {
        "admin": (city, None),
        "leader": (city, None),
        "analyst": (home.county_code, None),
        "officer": (home.district_code, officer),
        "grid_worker": (home.grid_code, workers.staff_id.min()),
        "display": (city, None),
    }
    for role, (unit, staff_id) in units.items():
        U.add_user(store, role, PASSWORD, role, unit, staff_id=staff_id, name="测试用户")
    # an order and a move whose texts quote a landlord's phone and ID as people type them
    spaced_id = f"{LANDLORD_ID[:6]} {LANDLORD_ID[6:14]} {LANDLORD_ID[14:].lower()}"
    order = wf.dispatch(
        store,
        home.grid_code,
        f"核查出租屋，房东电话 +86 {LANDLORD_PHONE[:3]}-{LANDLORD_PHONE[3:7]}-"
        f"{LANDLORD_PHONE[7:]}，身份证 {spaced_id}",
        "J-leader",
    )
    wf.act(store, order["order_id"], "sign", "worker", f"已联系 {' '.join(LANDLORD_PHONE)}", 1)
    # a grid worker's report of a new resident, approved into the population layer
    address = store.read("addresses", filters={"grid_code": home.grid_code}, geometry=False).address_id.iloc[
        0
    ]
    record = {**NEW_RESIDENT, "address_id": address}
    report = wf.submit_report(
        store, home.grid_code, "population", record, "grid_worker", summary="新增流动人口"
    )
    wf.approve_report(store, report["order_id"], "officer", "属实", report["version"])
    residents = store.read("population", filters={"grid_code": home.grid_code}, geometry=False)
    names = {n for n in residents["name"] if isinstance(n, str) and len(n) >= 3}
    assert NEW_ID in set(residents.id_number)
    app = create_app(store, AppConfig(data_dir=tmp_path))
    return World(store, app, home.grid_code, officer, [order["order_id"], report["order_id"]], names)


# ---------------------------------------------------------------------- what a role can read
@dataclass
class Answer:
    where: str
    text: str
    rows: list[tuple[str | None, dict]]  # (layer when known, record as column → shown value)


def _text(resp) -> str:
    data = resp.get_json(silent=True)
    return resp.get_data(as_text=True) if data is None else json.dumps(data, ensure_ascii=False)


def _rows_in(value, layer=None) -> list[tuple[str | None, dict]]:
    """Every list of records anywhere in a JSON answer (DataTable data, REST items, report records)."""
    out = []
    if isinstance(value, dict):
        ident = value.get("id")
        if isinstance(ident, dict) and ident.get("layer") in LAYERS:
            layer = ident["layer"]
        if isinstance(value.get("layer"), str) and isinstance(value.get("record"), dict):
            out.append((value["layer"], value["record"]))
        for v in value.values():
            out += _rows_in(v, layer)
    elif isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            # not Dash components, not a DataTable's column headers ({"name": "姓名", "id": "name"})
            out += [
                (layer, v)
                for v in value
                if not {"props", "type", "namespace"} <= set(v) and set(v) - {"name", "id"}
            ]
        for v in value:
            out += _rows_in(v, layer)
    return out


def _callback(client, output, outputs, inputs, state, changed):
    body = {"output": output, "outputs": outputs, "inputs": inputs, "state": state, "changedPropIds": changed}
    return client.post("/_dash-update-component", json=body)


def _url_state(grid):
    return [
        {"id": "url", "property": "pathname", "value": "/overview"},
        {"id": "url", "property": "search", "value": f"?unit={grid}"},
    ]


def _export(client, grid, layer, fmt) -> Answer:
    ident = {"fmt": fmt, "layer": layer, "type": "export"}
    changed = [json.dumps(ident, separators=(",", ":"), sort_keys=True) + ".n_clicks"]
    inputs = [[{"id": ident, "property": "n_clicks", "value": 1}]]
    outputs = {"id": "export-download", "property": "data"}
    r = _callback(client, "export-download.data", outputs, inputs, _url_state(grid), changed)
    assert r.status_code < 500
    data = (r.get_json(silent=True) or {}).get("response", {}).get("export-download", {}).get("data")
    if not data:
        return Answer(f"export {layer}.{fmt}", _text(r), [])
    raw = base64.b64decode(data["content"]) if data.get("base64") else data["content"].encode()
    if fmt == "csv" and not raw.decode("utf-8-sig").strip():
        return Answer(f"export {layer}.{fmt}", "", [])  # no columns: a layer the role may not read
    if fmt == "csv":
        frame = pd.read_csv(io.BytesIO(raw), dtype=str, encoding="utf-8-sig")
        text = raw.decode("utf-8-sig")
    else:
        frame = pd.read_excel(io.BytesIO(raw), dtype=str)
        text = frame.to_csv(index=False)
    frame = frame.rename(columns={zh: c for c, zh in LAYERS[layer].zh_names.items()})
    rows = [(layer, {k: v for k, v in rec.items() if isinstance(v, str)}) for rec in frame.to_dict("records")]
    return Answer(f"export {layer}.{fmt}", text, rows)


def _unmask_callback(world, client, layer, record_id) -> Answer:
    key = next(k for k in world.app.callback_map if "unmask-msg" in k)

    def ident(kind):
        return {"layer": layer, "type": kind}

    outputs = [
        {"id": ident("grid-records"), "property": "data"},
        {"id": ident("unmask-msg"), "property": "children"},
        {"id": ident("unmask-reason"), "property": "value"},
    ]
    state = [
        {"id": ident("unmask-reason"), "property": "value", "value": "核查人员身份信息"},
        {"id": ident("grid-records"), "property": "selected_row_ids", "value": [record_id]},
        {"id": ident("grid-records"), "property": "selected_rows", "value": [0]},
        *_url_state(world.home),
    ]
    inputs = [{"id": ident("unmask"), "property": "n_clicks", "value": 1}]
    changed = [json.dumps(ident("unmask"), separators=(",", ":"), sort_keys=True) + ".n_clicks"]
    r = _callback(client, key, outputs, inputs, state, changed)
    assert r.status_code < 500
    return Answer(f"dashboard unmask {layer}", _text(r), [])


def _trace(client, order_id, grid) -> Answer:
    body = {
        "output": "order-trace.children",
        "outputs": {"id": "order-trace", "property": "children"},
        "inputs": [
            {"id": "orders-table", "property": "active_cell", "value": {"row": 0, "column": 0}},
            {
                "id": "orders-table",
                "property": "derived_viewport_data",
                "value": [{"order_id": order_id, "grid_code": grid}],
            },
        ],
        "changedPropIds": ["orders-table.active_cell"],
    }
    r = client.post("/_dash-update-component", json=body)
    return Answer("trace", _text(r), _rows_in(r.get_json(silent=True)))


def _json_answer(where, r) -> Answer:
    assert r.status_code < 500, (where, _text(r)[:300])
    return Answer(where, _text(r), _rows_in(r.get_json(silent=True)))


def everything_readable(world: World, role: str) -> list[Answer]:
    """All a role can read of the home grid and its people, collected as an insider would."""
    from dashboard.brief import brief_data

    c = world.client(role)
    out = []
    for page in ("overview", "warnings"):
        r = c.post("/_dash-update-component", json=router_request(f"/{page}", f"?unit={world.home}"))
        out.append(_json_answer(f"page {page}", r))
    for layer in GRID_LAYERS:
        for fmt in ("csv", "xlsx"):
            out.append(_export(c, world.home, layer, fmt))
    for order_id in world.orders:
        out.append(_trace(c, order_id, world.home))
    for path in ("/me", f"/work-orders?mine=0&page_size=100&unit={world.home}", "/audit"):
        out.append(_json_answer(path, c.get(API_PREFIX + path)))
    for order_id in world.orders:
        out.append(_json_answer(f"order {order_id}", c.get(f"{API_PREFIX}/work-orders/{order_id}")))
    # refused (or, for the leader, allowed) unmaskings answer without personal data of anyone else
    if role != "leader":
        body = {"reason": "核查人员身份信息"}
        r = c.post(f"{API_PREFIX}/records/staff/{world.officer_staff}/unmask", json=body)
        out.append(_json_answer("REST unmask staff", r))
        out.append(_unmask_callback(world, c, "staff", world.officer_staff))
    scope = U.principal(world.store, role).scope
    brief = brief_data(world.store, world.home, dt.date(2024, 11, 1), dt.date(2026, 10, 31), scope=scope)
    parts = [brief.categories, brief.children, brief.top_grids, brief.order_kinds]
    text = "\n".join(p.to_csv() for p in parts) + json.dumps(brief.work_orders, default=str)
    out.append(Answer("brief", text, []))
    return out


# ---------------------------------------------------------------------- the attempt to rebuild
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ZH = {zh: col for lay in LAYERS.values() for col, zh in lay.zh_names.items() if col != "staff_id"}


def _visible(forms: list[str], length: int) -> dict[int, str] | None:
    """Position → character shown by any of the masked ``forms`` of one value (None when they disagree)."""
    seen: dict[int, str] = {}
    for form in forms:
        if len(form) != length:
            continue
        for i, ch in enumerate(form):
            if ch != "*":
                if seen.setdefault(i, ch.upper()) != ch.upper():
                    return None
    return seen


def _dates(first: int, last: int, year: int | None, day: dt.date | None):
    if day is not None:
        yield day
        return
    for y in [year] if year else range(first, last + 1):
        for m in range(1, 13):
            for d in range(1, calendar.monthrange(y, m)[1] + 1):
                yield dt.date(y, m, d)


def id_candidates(forms: list[str], birth: str | None, gender: str | None) -> int:
    """How many ID numbers agree with the masked ``forms`` of one person's ID, the birth date or year
    shown (``1985`` or ``1985-03-07``) and the gender (男: odd sequence), counted exactly with the GB 11643
    check character (sums of the weighted digits modulo 11)."""
    length = max(len(f) for f in forms)
    seen = _visible(forms, length)
    if seen is None:
        return 0
    year = day = None
    if birth:
        m = re.match(r"(\d{4})(?:-(\d{2})-(\d{2}))?", birth)
        year = int(m.group(1))
        day = dt.date(year, int(m.group(2)), int(m.group(3))) if m.group(2) else None
    parity = {"男": 1, "女": 0}.get(gender or "")
    seq_at = (14, 15, 16) if length == 18 else (12, 13, 14)
    seqs = [
        s
        for s in range(1000)
        if all(seen.get(p, c) == c for p, c in zip(seq_at, f"{s:03d}", strict=True))
        and (parity is None or s % 2 == parity)
    ]
    region_free = 10 ** sum(1 for p in range(6) if p not in seen)
    if length == 15:
        dates = [d for d in _dates(1920, 1999, year, day) if 1920 <= d.year <= 1999]
        ok = [d for d in dates if all(seen.get(6 + i, c) == c for i, c in enumerate(d.strftime("%y%m%d")))]
        return region_free * len(ok) * len(seqs)
    region = sum(_WEIGHTS[p] * int(seen[p]) for p in range(6) if p in seen)
    hist = np.zeros(11, dtype=np.int64)
    for s in seqs:
        hist[sum(w * int(c) for w, c in zip(_WEIGHTS[14:17], f"{s:03d}", strict=True)) % 11] += 1
    total = 0
    for d in _dates(1900, 2026, year, day):
        text = d.strftime("%Y%m%d")
        if any(seen.get(6 + i, c) != c for i, c in enumerate(text)):
            continue
        r = (region + sum(w * int(c) for w, c in zip(_WEIGHTS[6:14], text, strict=True))) % 11
        if 17 in seen:
            total += int(hist[(_CHECK.index(seen[17]) - r) % 11])
        else:
            total += int(hist.sum())
    return total * region_free


def _person_key(layer, row) -> str:
    for key in ("person_id", "poc_id", "staff_id"):
        if isinstance(row.get(key), str) and row[key]:
            return row[key]
    return f"{layer}:{id(row)}"


def rebuild_attempts(answers: list[Answer]) -> dict[str, dict]:
    """Per person (joined across every table and answer by ``person_id``): the masked ID forms, phones and
    names shown, the birth date or year and the gender shown, and the number of candidates left."""
    people: dict[str, dict] = {}
    for answer in answers:
        for layer, row in answer.rows:
            row = {_ZH.get(k, k): v for k, v in row.items()}
            if not any(k in row for k in ("id_number", "phone", "name", "party_names")):
                continue
            p = people.setdefault(
                _person_key(layer, row), {"ids": [], "phones": [], "names": [], "birth": None, "gender": None}
            )
            if isinstance(row.get("id_number"), str) and "*" in row["id_number"]:
                p["ids"].append(row["id_number"])
            if isinstance(row.get("phone"), str):
                p["phones"].append(row["phone"])
            for col in ("name", "party_names"):
                if isinstance(row.get(col), str) and layer != "staff":
                    p["names"].append(row[col])
            if isinstance(row.get("birth_date"), str) and row["birth_date"]:
                shown = row["birth_date"]
                if p["birth"] is None or len(shown) > len(p["birth"]):
                    p["birth"] = shown  # the most precise a role is shown
            p["gender"] = row.get("gender") or p["gender"]
    for p in people.values():
        p["id_candidates"] = id_candidates(p["ids"], p["birth"], p["gender"]) if p["ids"] else None
        seen = _visible(p["phones"], 11)
        p["phone_candidates"] = None if not p["phones"] else 0 if seen is None else 10 ** (11 - len(seen))
    return people


@pytest.mark.parametrize("role", ROLES)
def test_no_masked_value_can_be_rebuilt_from_anything_a_role_can_read(world, role):
    answers = everything_readable(world, role)
    # no whole ID or mobile number, in any written form, and no resident's whole name, anywhere
    for a in answers:
        assert find_personal_data(a.text) == [], (role, a.where, find_personal_data(a.text)[:3])
        shown = [n for n in world.names if n in a.text]
        assert not shown, (role, a.where, shown[:3])
    for value in (LANDLORD_ID, NEW_ID, LANDLORD_PHONE, NEW_RESIDENT["phone"]):
        assert all(value not in re.sub(r"[\s-]", "", a.text).upper() for a in answers), (role, value)
    people = rebuild_attempts(answers)
    with_ids = {k: p for k, p in people.items() if p["id_candidates"] is not None}
    if role == "display":
        assert not people  # no record at all
        return
    assert len(with_ids) >= 5, (role, len(people))  # the attempt had records to work on
    for key, p in with_ids.items():
        assert p["id_candidates"] >= MIN_CANDIDATES, (role, key, p)
        assert p["birth"] is None or re.fullmatch(r"\d{4}", p["birth"]), (role, key, p["birth"])
    for key, p in people.items():
        if p["phone_candidates"] is not None:
            assert p["phone_candidates"] >= MIN_CANDIDATES, (role, key, p["phones"])
        for name in p["names"]:  # the surname, one star a name (several names joined stay apart)
            for part in re.split(r"[;；,，、\s]+", name):
                assert not part or re.fullmatch(r"[^*]\*", part), (role, key, name)
    # house numbers beside a masked name: whole for the officer and grid worker, who work these addresses
    addresses = [row["address"] for a in answers for layer, row in a.rows if layer == "addresses"]
    assert addresses, role
    house = re.compile(r"[路街巷道弄组村里区][0-9]+号")
    if role in ("officer", "grid_worker"):
        assert all(house.search(x) for x in addresses if "号" in x)
    else:
        assert not any(house.search(x) for x in addresses), (role, addresses[:3])
    # the reported resident is among them: their whole birth date never shown beside the masked ID
    phone = NEW_RESIDENT["phone"]
    reported = [p for p in with_ids.values() if f"{phone[:3]}****{phone[7:]}" in p["phones"]]
    assert reported and all(p["birth"] in (None, str(NEW_BIRTH.year)) for p in reported), reported


def test_the_rebuild_finds_a_value_masked_the_old_way():
    """The attempt works: 6 + 4 digits beside the whole birth date leave one ID; with the new masking
    about 16,600; and two maskings of the same ID that show different digits are combined."""
    old = f"{NEW_ID[:6]}********{NEW_ID[-4:]}"
    assert id_candidates([old], NEW_BIRTH.isoformat(), "男") == 1
    new = f"{NEW_ID[:6]}{'*' * 11}{NEW_ID[-1]}"
    assert 15_000 < id_candidates([new], str(NEW_BIRTH.year), "男") < 18_000
    assert id_candidates([new, f"{'*' * 14}{NEW_ID[-4:]}"], str(NEW_BIRTH.year), "男") < 400
    assert id_candidates(["320602********1"], "1970", "男") == 365 * 100


# ---------------------------------------------------------------------- staff (item 12)
def test_a_grid_worker_cannot_unmask_the_officer_above_their_grid(world):
    staff = world.store.read("staff", geometry=False)
    officer = staff[staff.staff_id == world.officer_staff].iloc[0]
    colleagues = sorted(staff[staff.unit_code == world.home].staff_id)  # the grid's own workers
    secrets = {*staff.id_number.dropna(), *staff.phone.dropna()}
    before = world.store.audit_entries(filters={"action": "unmask"}).total
    for role in ("grid_worker", "officer", "analyst", "admin", "display"):
        c = world.client(role)
        for target in (world.officer_staff, *colleagues):
            r = c.post(f"{API_PREFIX}/records/staff/{target}/unmask", json={"reason": "核查人员身份信息"})
            assert r.status_code == 403, (role, r.status_code, _text(r)[:200])
            assert not any(v in _text(r) for v in secrets)
        # the layer spelt otherwise, or smuggled in the body: nothing either
        for path in ("Staff", "staff%20", "staff%00", "..%2fstaff", "population%2F..%2Fstaff"):
            r = c.post(
                f"{API_PREFIX}/records/{path}/{world.officer_staff}/unmask", json={"reason": "核查人员身份"}
            )
            assert 400 <= r.status_code < 500, (role, path, r.status_code)
            assert not any(v in _text(r) for v in secrets)
        r = c.post(
            f"{API_PREFIX}/records/population/{world.officer_staff}/unmask",
            json={"reason": "核查人员身份信息", "layer": "staff"},
        )
        assert r.status_code in (400, 403, 404) and not any(v in _text(r) for v in secrets)
        answer = _unmask_callback(world, c, "staff", world.officer_staff)
        assert officer.id_number not in answer.text and officer.phone not in answer.text
        if role in ("grid_worker", "officer", "analyst"):
            assert "仅限领导" in answer.text, (role, answer.text[:300])
    assert world.store.audit_entries(filters={"action": "unmask"}).total == before
    # the leader may, with a reason, audited
    r = world.client("leader").post(
        f"{API_PREFIX}/records/staff/{world.officer_staff}/unmask", json={"reason": "核查人员身份信息"}
    )
    assert r.status_code == 200 and r.json["fields"]["id_number"] == officer.id_number
    assert world.store.audit_entries(filters={"action": "unmask"}).total == before + 1
