"""The warning and work-order loop: state machine, trace, deadlines, overdue sweep, reports, diversion."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pandas as pd
import pytest
import sqlalchemy as sa

from data.store import NotFoundError, StaleVersionError
from data.store import tables as T
from data.store import workflow as wf
from data.store.testing import point_inside
from data.store.workflow import TransitionError

T0 = dt.datetime(2026, 11, 1, 9, 0, 0)


def _grid(store, i=0):
    return store.grids_of()[i]


def _order(store, severity="中", i=0):
    return wf.dispatch(store, _grid(store, i), "核查出租屋人员信息", "J000001", severity=severity, now=T0)


def test_the_whole_loop_is_traced(store):
    order = _order(store)
    assert (order["state"], order["version"], order["kind"]) == ("待签收", 1, "派单")
    assert order["worker_id"] is not None and order["officer_id"] is not None
    steps = [
        ("已签收", "W1", "收到"),
        ("处置中", "W1", "上门核查"),
        ("已反馈", "W1", "已核实 3 户"),
        ("已办结", "J000001", "审核通过"),
    ]
    version = order["version"]
    for i, (state, actor, note) in enumerate(steps, start=1):
        after = store.transition(
            order["order_id"], state, actor, note, version, now=T0 + dt.timedelta(hours=i)
        )
        assert after["state"] == state and after["version"] == version + 1
        version = after["version"]
    final = store.work_order(order["order_id"])
    assert final["closed_at"] == T0 + dt.timedelta(hours=4)
    trace = store.work_order_events(order["order_id"])
    assert list(trace.to_state) == ["待签收", "已签收", "处置中", "已反馈", "已办结"]
    assert list(trace.from_state.iloc[1:]) == ["待签收", "已签收", "处置中", "已反馈"]
    assert list(trace.actor.iloc[1:]) == [a for _, a, _ in steps]
    assert list(trace.note.iloc[1:]) == [n for _, _, n in steps]
    assert list(trace.version) == [1, 2, 3, 4, 5]
    assert trace["at"].is_monotonic_increasing


def test_illegal_moves_are_refused_with_the_allowed_ones(store):
    order = _order(store)
    with pytest.raises(TransitionError) as err:
        store.transition(order["order_id"], "已办结", "J000001")
    msg = str(err.value)
    assert order["order_id"] in msg and "待签收" in msg and "已办结" in msg
    assert "已签收, 升级, 超期" in msg
    assert store.work_order(order["order_id"])["version"] == 1
    assert len(store.work_order_events(order["order_id"])) == 1
    with pytest.raises(ValueError, match="unknown state"):
        store.transition(order["order_id"], "done", "x")
    with pytest.raises(NotFoundError):
        store.transition("NOPE", "已签收", "x")
    for state in ("已签收", "处置中", "已反馈", "已办结"):
        store.transition(order["order_id"], state, "W1")
    with pytest.raises(TransitionError, match="none \\(the order is closed\\)"):
        store.transition(order["order_id"], "处置中", "W1")


def test_a_repeated_move_by_the_same_actor_changes_nothing(store):
    order = _order(store)
    first = store.transition(order["order_id"], "已签收", "W1", "签收", expected_version=1)
    again = store.transition(order["order_id"], "已签收", "W1", "签收", expected_version=1)
    assert again["version"] == first["version"] == 2
    assert len(store.work_order_events(order["order_id"])) == 2
    with pytest.raises(StaleVersionError, match="reload"):
        store.transition(order["order_id"], "已签收", "W2", "签收", expected_version=1)
    with pytest.raises(TransitionError):
        store.transition(order["order_id"], "已签收", "W2", "签收")


def test_stale_version_is_refused(store):
    order = _order(store)
    store.transition(order["order_id"], "已签收", "W1", expected_version=1)
    with pytest.raises(StaleVersionError) as err:
        store.transition(order["order_id"], "升级", "J000001", "升级到派出所", expected_version=1)
    assert err.value.actual == 2 and err.value.state == "已签收"
    assert store.work_order(order["order_id"])["state"] == "已签收"


def test_deadlines_follow_severity(store):
    for severity, hours in wf.DEFAULT_DEADLINE_HOURS.items():
        order = _order(store, severity)
        assert order["deadline"] == T0 + dt.timedelta(hours=hours)
    explicit = wf.dispatch(store, _grid(store), "x", "J1", deadline="2026-11-03 18:00", now=T0)
    assert explicit["deadline"] == dt.datetime(2026, 11, 3, 18)
    with pytest.raises(ValueError, match="severity"):
        wf.dispatch(store, _grid(store), "x", "J1", severity="紧急")
    with pytest.raises(NotFoundError, match="unknown grid"):
        wf.dispatch(store, "000000000000000", "x", "J1")


def test_overdue_sweep_marks_each_order_once(store):
    high, low = _order(store, "高"), _order(store, "低", 1)
    signed = _order(store, "高", 2)
    store.transition(signed["order_id"], "已签收", "W1", now=T0)
    before_sweep = store.count("work_orders", filters={"state": "超期"})
    n = store.sweep_overdue(T0 + dt.timedelta(hours=5))  # past 4 h, before 72 h
    assert store.work_order(high["order_id"])["state"] == "超期"
    assert store.work_order(signed["order_id"])["state"] == "超期"
    assert store.work_order(low["order_id"])["state"] == "待签收"
    assert store.count("work_orders", filters={"state": "超期"}) == before_sweep + n
    trace = store.work_order_events(signed["order_id"])
    assert list(trace.to_state) == ["待签收", "已签收", "超期"] and trace.actor.iloc[-1] == "system"
    # late handling resumes and is not swept again
    store.transition(high["order_id"], "处置中", "W1", "补办", now=T0 + dt.timedelta(hours=6))
    assert store.sweep_overdue(T0 + dt.timedelta(hours=7)) == 0
    assert store.work_order(high["order_id"])["overdue_at"] == T0 + dt.timedelta(hours=5)
    later = T0 + dt.timedelta(hours=7)
    stats = store.work_order_stats(now=later).iloc[0]
    orders = store.read("work_orders", geometry=False)
    open_late = (orders.state != "已办结") & (orders.deadline < later)
    # 超期 is one figure: open past the deadline, so never more than 未办结
    assert stats.overdue == int(open_late.sum()) >= 2 and stats.overdue <= stats.open
    for state in ("已反馈", "已办结"):  # handled late, then closed: no longer 超期, still not on time
        store.transition(high["order_id"], state, "W1", now=later)
    after = store.work_order_stats(now=later).iloc[0]
    assert (after.overdue, after.closed - after.closed_on_time) == (
        stats.overdue - 1,
        1 + stats.closed - stats.closed_on_time,
    )


def test_the_server_sweeps_overdue_orders_by_itself(store):
    """``onemap serve`` runs the sweep in the background (``ONEMAP_SWEEP_MINUTES``): an order past its
    deadline on the clock becomes 超期 without anyone running a command; one still in time does not."""
    import time

    from dashboard.app import start_sweeper

    late = _order(store, "高")  # pushed on 2026-11-01, 4 h to act: past on the clock
    in_time = wf.dispatch(store, _grid(store, 1), "复核", "J000002", severity="低", now=wf.now())
    stop = start_sweeper(store, 0.2)
    try:
        deadline = time.monotonic() + 20
        while store.work_order(late["order_id"])["state"] != "超期" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
    assert store.work_order(late["order_id"])["state"] == "超期"
    assert store.work_order(in_time["order_id"])["state"] == "待签收"
    assert store.work_order_events(late["order_id"]).actor.iloc[-1] == "system"


def test_warnings_are_stored_once_and_pushed(store):
    grids = store.grids_of()[:3]
    frame = pd.DataFrame(
        {
            "model_id": ["addr_vacant", "addr_vacant", "poc_visit_overdue"],
            "grid_code": grids,
            "severity": ["中", "高", "低"],
            "reason": ["地址有警情无登记人口", "地址有警情无登记人口", "红色关注人员超期未走访"],
            "evidence_ids": [["A2", "A1"], "A3", ["Q1"]],
        }
    )
    assert store.upsert_warnings(frame, now=T0) == (3, 0)
    again = frame.assign(evidence_ids=[["A1", "A2"], "A3", ["Q1"]])  # same evidence, other order
    assert store.upsert_warnings(again, now=T0 + dt.timedelta(days=1)) == (0, 3)
    warnings = store.warnings(page_size=100).frame
    assert len(warnings) == 3
    assert set(warnings.evidence_ids) == {"A1;A2", "A3", "Q1"}
    assert warnings.district_code.notna().all()
    orders = store.work_orders(kinds=["预警推送"]).frame
    assert len(orders) == 3 and set(orders.state) == {"待签收"}
    high = orders[orders.severity == "高"].iloc[0]
    assert high.deadline == T0 + dt.timedelta(hours=4)
    assert high.summary.startswith("[addr_vacant]")
    mine = store.work_orders(assignee=high.worker_id).frame
    assert high.order_id in set(mine.order_id)
    assert wf.push_warnings(store, T0) == 0
    with pytest.raises(ValueError, match="severity"):
        store.upsert_warnings(frame.assign(severity="urgent"))


def test_the_demo_history_works_pushed_orders_by_the_rules(store):
    """The demo's recorded warning loop (``onemap up``): pushed orders are worked up to the history's end
    by moves the state machine allows, each traced; most in time, some late; nothing after the end."""
    from data.store.demo_history import simulate_handling

    grids = store.grids_of()
    n = min(len(grids), 300)
    frame = pd.DataFrame(
        {
            "model_id": "HAZ-01",
            "grid_code": grids[:n],
            "severity": ["高", "中", "低"] * (n // 3) + ["低"] * (n % 3),
            "reason": "隐患整改超期",
            "evidence_ids": [[f"Y{i}"] for i in range(n)],
        }
    )
    store.upsert_warnings(frame, now=T0)
    store.upsert_warnings(
        frame.assign(evidence_ids=[[f"L{i}"] for i in range(n)]).head(5), now=T0 + dt.timedelta(days=30)
    )
    untouched_before = wf.dispatch(store, grids[0], "复核", "J9", severity="低", now=T0)  # not a warning
    end = T0 + dt.timedelta(days=20)
    states = simulate_handling(store, end, seed=1)
    orders = store.work_orders(kinds=["预警推送"], page_size=1000).frame.set_index("order_id")
    pushed_late = orders[orders.created_at > end]
    assert len(pushed_late) == 5 and set(pushed_late.state) == {"待签收"}  # after the end: not worked
    worked = orders[orders.created_at <= end]
    assert sum(states.values()) == len(worked) == n
    assert states.get("已办结", 0) > 0.7 * n  # most closed
    assert 0 < len(worked[worked.overdue_at.notna()]) < 0.3 * n  # some late
    _assert_worked_by_the_rules(store, worked, end)
    assert store.work_order(untouched_before["order_id"])["state"] == "待签收"
    assert simulate_handling(store, end, seed=1) == {}  # worked orders are not worked again


def _assert_worked_by_the_rules(store, worked: pd.DataFrame, end: dt.datetime) -> None:
    """Each order's trace is a chain of allowed moves from its push, none after ``end``, and the order
    is where its trace ends."""
    for order_id, order in worked.iterrows():
        trace = store.work_order_events(order_id)
        chain = list(trace.to_state)  # from the push (None → 待签收) on
        assert chain[0] == "待签收" and pd.isna(trace.from_state.iloc[0])
        assert list(trace.from_state.iloc[1:]) == chain[:-1], (
            order_id
        )  # each move starts where the last ended
        for a, b in itertools.pairwise(chain):
            assert b in wf.TRANSITIONS[a], (order_id, a, b)
        assert (trace["at"] <= end).all() and (trace["at"] >= order.created_at).all()
        assert trace["at"].is_monotonic_increasing, order_id
        assert order.state == chain[-1] and order.version == len(chain)
        assert pd.notna(order.overdue_at) == ("超期" in chain)
        assert pd.notna(order.closed_at) == (order.state == "已办结")
        if order.state == "已办结" and "超期" not in chain:
            assert order.closed_at <= order.deadline
        if "超期" in chain:  # marked when its deadline had passed, never before
            assert order.overdue_at >= order.deadline


def _push(store, grid: str, at: dt.datetime, deadlines_h, tag: str) -> None:
    frame = pd.DataFrame(
        {
            "model_id": "HAZ-01",
            "grid_code": grid,
            "severity": "中",
            "reason": "隐患整改超期",
            "evidence_ids": [[f"{tag}{i}"] for i in range(len(deadlines_h))],
            "deadline": [at + dt.timedelta(hours=h) for h in deadlines_h],
        }
    )
    store.upsert_warnings(frame, now=at)


def test_the_live_demo_leaves_the_demo_worker_and_officer_orders_in_every_state(store):
    """A demo whose history ends now: the busiest grid worker (the demo account) and their officer find
    orders in every state, each reached by allowed moves in time order, and a sweep at the end finds
    nothing left to mark (the history agrees with the clock at its end)."""
    from data.store.demo_history import LIVE_STATES, demo_pair, simulate_handling

    grids = store.grids_of()
    end = T0 + dt.timedelta(days=14, hours=5, minutes=7, seconds=3)
    for k, days in enumerate((13, 9, 6, 3, 1, 0)):
        _push(store, grids[0], end - dt.timedelta(days=days), (6, 30, 100, 200, 400), f"B{k}-")
    for i, grid in enumerate(grids[1:40]):  # everyone else has less to do
        _push(store, grid, end - dt.timedelta(days=i % 7), (24,), f"O{i}-")
    pair = demo_pair(store)
    mine = store.work_orders(grids[0], kinds=["预警推送"], page_size=1000).frame
    assert pair == (mine.worker_id.iloc[0], mine.officer_id.iloc[0]) and None not in pair
    states = simulate_handling(store, end, seed=3, live=pair)
    worker, officer = pair
    for who in (worker, officer):
        got = store.work_orders(assignee=who, page_size=1000).frame
        assert set(LIVE_STATES) <= set(got.state), (who, got.state.value_counts())
    orders = store.work_orders(kinds=["预警推送", "派单"], page_size=1000).frame.set_index("order_id")
    assert (orders.kind == "预警推送").all()  # every state reached by a pushed order: no instruction needed
    assert sum(states.values()) == len(orders)
    _assert_worked_by_the_rules(store, orders, end)
    _assert_nothing_overdue_left_open(orders, end)


def _assert_nothing_overdue_left_open(orders: pd.DataFrame, end: dt.datetime) -> None:
    """What a sweep at the history's end would find: no open order past its deadline."""
    still_open = orders[orders.state.isin(wf.OPEN_STATES)]
    assert (still_open.deadline > end).all(), still_open[still_open.deadline <= end]


def test_the_live_demo_fills_states_no_pushed_order_can_reach_with_instructions(store):
    """Everything the worker has was pushed at the very end (nothing can have moved yet): the officer's
    instructions (派单) fill the other states, traced like any order, each in a state once."""
    from data.store.demo_history import LIVE_STATES, demo_pair, simulate_handling

    grid = store.grids_of()[3]
    end = T0 + dt.timedelta(days=3)
    _push(store, grid, end, (6, 30), "E")
    pair = demo_pair(store)
    simulate_handling(store, end, seed=0, live=pair)
    orders = store.work_orders(assignee=pair[0], page_size=1000).frame.set_index("order_id")
    assert set(orders.state) == set(LIVE_STATES)
    pushed, told = orders[orders.kind == "预警推送"], orders[orders.kind == "派单"]
    assert set(pushed.state) == {"待签收"}
    assert sorted(told.state) == sorted(set(LIVE_STATES) - {"待签收"})
    assert set(told.created_by) == {pair[1]} and set(told.grid_code) == {grid}
    _assert_worked_by_the_rules(store, orders, end)
    _assert_nothing_overdue_left_open(orders, end)


def test_no_demo_pair_without_pushed_orders(store):
    from data.store.demo_history import demo_pair, simulate_handling

    wf.dispatch(store, store.grids_of()[0], "复核", "J9", severity="低", now=T0)  # not a warning
    assert demo_pair(store) is None
    assert simulate_handling(store, T0 + dt.timedelta(days=1), live=("W404", "J404")) == {}


def test_reports_enter_the_data_only_when_approved(store):
    grid = _grid(store)
    record = {
        "hazard_type": "消防",
        "level": "较大",
        "found_by": "W1",
        "found_at": "2026-10-30",
        "deadline": "2026-11-15",
        **point_inside(store, grid),
    }
    order = wf.submit_report(store, grid, "hazards", record, "W1", now=T0)
    assert (order["kind"], order["state"]) == ("上报审核", "已反馈")
    hazards_before = store.count("hazards")
    back = wf.reject_report(store, order["order_id"], "J000001", "照片不清楚", order["version"], now=T0)
    assert back["state"] == "处置中" and store.count("hazards") == hazards_before
    again = wf.resubmit_report(
        store, order["order_id"], {**record, "level": "重大"}, "W1", back["version"], now=T0
    )
    assert again["state"] == "已反馈"
    done = wf.approve_report(store, order["order_id"], "J000001", expected_version=again["version"], now=T0)
    assert done["state"] == "已办结" and done["resolution"] == "通过"
    assert store.count("hazards") == hazards_before + 1
    added = store.read("hazards", filters={"found_by": "W1", "level": "重大"})
    assert len(added) == 1 and added.grid_code.iloc[0] == grid
    lon, lat = record["lon"], record["lat"]
    assert (
        store.features("hazards", bbox=(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01))
        .hazard_id.tolist()
        .count(added.hazard_id.iloc[0])
        == 1
    )
    # a retried approval adds nothing
    wf.approve_report(store, order["order_id"], "J000001", now=T0)
    assert store.count("hazards") == hazards_before + 1


def test_bad_reports_and_final_rejection(store):
    grid = _grid(store)
    with pytest.raises(ValueError, match="level='巨大' is not one of"):
        wf.submit_report(store, grid, "hazards", {"hazard_type": "消防", "level": "巨大"}, "W1")
    with pytest.raises(ValueError, match="found_at is required"):
        wf.submit_report(store, grid, "hazards", {"hazard_type": "消防", "level": "一般"}, "W1")
    with pytest.raises(ValueError, match="reports may add to"):
        wf.submit_report(store, grid, "incidents", {}, "W1")
    record = {"hazard_type": "燃气", "level": "一般", "found_at": "2026-10-30", "deadline": "2026-11-30"}
    order = wf.submit_report(store, grid, "hazards", record, "W1", now=T0)
    n = store.count("hazards")
    final = wf.reject_report(store, order["order_id"], "J000001", "重复上报", final=True, now=T0)
    assert (final["state"], final["resolution"]) == ("已办结", "驳回") and store.count("hazards") == n
    plain = _order(store)
    for state in ("已签收", "处置中", "已反馈"):
        store.transition(plain["order_id"], state, "W1")
    with pytest.raises(TransitionError, match="not a report"):
        wf.approve_report(store, plain["order_id"], "J000001")


def test_a_failed_approval_leaves_the_order_open(store, monkeypatch):
    record = {"hazard_type": "燃气", "level": "一般", "found_at": "2026-10-30", "deadline": "2026-11-30"}
    order = wf.submit_report(store, _grid(store), "hazards", record, "W1", now=T0)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(store), "insert_records", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        wf.approve_report(store, order["order_id"], "J000001", now=T0)
    after = store.work_order(order["order_id"])
    assert (after["state"], after["version"]) == ("已反馈", 1)
    assert len(store.work_order_events(order["order_id"])) == 1


def test_non_police_incidents_are_diverted_once(store):
    existing = store.count("work_orders", filters={"kind": "非警务分流"})
    n = wf.divert_non_police(store, "2025-01-01", "2025-12-31", now=T0)
    in_2025 = store.count("incidents", None, "2025-01-01", "2025-12-31", {"category": "非警务"})
    with store.connect() as conn:
        inc, wo = T.LAYER_TABLES["incidents"], T.work_orders
        already = conn.execute(
            sa.select(sa.func.count())
            .select_from(inc)
            .where(
                inc.c.category == "非警务",
                inc.c.grid_code.is_not(None),
                inc.c.occurred_at >= dt.datetime(2025, 1, 1),
                inc.c.occurred_at < dt.datetime(2026, 1, 1),
                inc.c.incident_id.in_(sa.select(wo.c.source_id).where(wo.c.created_at < T0)),
            )
        ).scalar_one()
        no_grid = conn.execute(
            sa.select(sa.func.count())
            .select_from(inc)
            .where(
                inc.c.category == "非警务",
                inc.c.grid_code.is_(None),
                inc.c.occurred_at >= dt.datetime(2025, 1, 1),
                inc.c.occurred_at < dt.datetime(2026, 1, 1),
            )
        ).scalar_one()
    assert n == in_2025 - already - no_grid > 0
    assert store.count("work_orders", filters={"kind": "非警务分流"}) == existing + n
    assert wf.divert_non_police(store, "2025-01-01", "2025-12-31", now=T0) == 0


def test_named_actions_and_escalation(store):
    order = _order(store)
    up = wf.act(store, order["order_id"], "escalate", "J000001", "需派出所协调")
    assert up["state"] == "升级"
    closed = wf.act(store, order["order_id"], "close", "S0001", "派出所已处置")
    assert closed["state"] == "已办结"
    with pytest.raises(ValueError, match="unknown action"):
        wf.act(store, order["order_id"], "delete", "x")


def test_audit_log_appends(store):
    first = store.append_audit(
        "u1", "unmask", "population:P1", reason="核查", address="10.0.0.1", detail={"k": 1}
    )
    second = store.append_audit("u2", "export", "incidents")
    assert second > first
    page = store.audit_entries(filters={"actor": "u1"})
    assert page.total == 1 and page.frame.reason.iloc[0] == "核查"
    assert page.frame.detail.iloc[0] == '{"k": 1}'


# ---------------------------------------------------------------------- idempotent creation, resubmission
HAZARD = {"hazard_type": "燃气", "level": "一般", "found_at": "2026-10-30", "deadline": "2026-11-30"}


def test_a_retried_dispatch_with_the_same_key_returns_the_first_order(store):
    grid, n = _grid(store), store.count("work_orders")
    first = wf.dispatch(store, grid, "排查电动车充电", "J000001", key="k-0001", now=T0)
    # retried an hour later: its default deadline would differ, but the first order's came from its own time
    again = wf.dispatch(
        store, grid, "排查电动车充电", "J000001", key="k-0001", now=T0 + dt.timedelta(hours=1)
    )
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["order_id"] == first["order_id"] and again["version"] == 1
    assert again["source_id"] == "J000001/k-0001"
    assert store.count("work_orders") == n + 1 and len(store.work_order_events(first["order_id"])) == 1
    # the key belongs to its user: another officer's same key is another order
    other = wf.dispatch(store, grid, "排查电动车充电", "J000002", key="k-0001", now=T0)
    assert not other["replayed"] and other["order_id"] != first["order_id"]
    # the same key for a different request is refused, naming what differs, and creates nothing
    with pytest.raises(wf.IdempotencyConflict, match=r"k-0001.*summary, severity, deadline") as err:
        wf.dispatch(store, grid, "另一件事", "J000001", severity="高", key="k-0001", now=T0)
    assert err.value.order_id == first["order_id"]
    with pytest.raises(wf.IdempotencyConflict, match="grid_code"):
        wf.dispatch(store, _grid(store, 1), "排查电动车充电", "J000001", key="k-0001", now=T0)
    timed = wf.dispatch(store, grid, "限时", "J000001", deadline="2026-11-03 18:00", key="k-0002", now=T0)
    assert wf.dispatch(store, grid, "限时", "J000001", deadline="2026-11-03 18:00", key="k-0002")["replayed"]
    with pytest.raises(wf.IdempotencyConflict, match="deadline"):
        wf.dispatch(store, grid, "限时", "J000001", deadline="2026-11-04 18:00", key="k-0002")
    with pytest.raises(wf.IdempotencyConflict, match="deadline"):  # the first had an explicit deadline
        wf.dispatch(store, grid, "限时", "J000001", key="k-0002", now=T0)
    assert store.count("work_orders") == n + 3 and timed["deadline"] == dt.datetime(2026, 11, 3, 18)
    with pytest.raises(ValueError, match="idempotency key"):
        wf.dispatch(store, grid, "x", "J000001", key=" ")


def test_a_retried_report_is_recognised_even_after_it_was_corrected(store):
    grid, n = _grid(store), store.count("work_orders")
    first = wf.submit_report(store, grid, "hazards", HAZARD, "W1", key="r-0001", now=T0)
    again = wf.submit_report(
        store, grid, "hazards", HAZARD, "W1", key="r-0001", now=T0 + dt.timedelta(days=1)
    )
    assert again["replayed"] and again["order_id"] == first["order_id"]
    assert store.count("work_orders") == n + 1
    with pytest.raises(wf.IdempotencyConflict, match="record"):
        wf.submit_report(store, grid, "hazards", {**HAZARD, "level": "重大"}, "W1", key="r-0001")
    dispute = {"dispute_type": "邻里", "status": "调解中", "level": "一般", "reported_at": "2026-10-30"}
    with pytest.raises(wf.IdempotencyConflict, match="layer"):
        wf.submit_report(store, grid, "disputes", dispute, "W1", key="r-0001")
    back = wf.reject_report(store, first["order_id"], "J000001", "等级有误", 1, now=T0)
    wf.resubmit_report(store, first["order_id"], {**HAZARD, "level": "较大"}, "W1", back["version"], now=T0)
    late = wf.submit_report(store, grid, "hazards", HAZARD, "W1", key="r-0001", now=T0)
    assert late["replayed"] and late["state"] == "已反馈" and store.count("work_orders") == n + 1


def test_a_rejected_report_is_corrected_and_resubmitted_with_its_trace(store):
    order = wf.submit_report(store, _grid(store), "hazards", HAZARD, "W1", now=T0)
    oid, hazard_id = order["order_id"], json.loads(order["payload"])["record"]["hazard_id"]
    with pytest.raises(TransitionError, match="under review already"):  # not rejected yet
        wf.resubmit_report(store, oid, {**HAZARD, "level": "重大"}, "W1", 1, now=T0)
    back = wf.reject_report(store, oid, "J000001", "等级有误", 1, now=T0)
    with pytest.raises(ValueError, match="level='巨大'"):
        wf.resubmit_report(store, oid, {**HAZARD, "level": "巨大"}, "W1", back["version"], now=T0)
    with pytest.raises(StaleVersionError):
        wf.resubmit_report(store, oid, {**HAZARD, "level": "重大"}, "W1", 1, now=T0)
    again = wf.resubmit_report(store, oid, {**HAZARD, "level": "重大"}, "W1", back["version"], now=T0)
    assert (again["state"], again["version"]) == ("已反馈", 3)
    held = json.loads(again["payload"])
    assert held["record"]["level"] == "重大" and held["record"]["hazard_id"] == hazard_id
    assert held["submitted"]["level"] == "一般"
    events = store.work_order_events(oid)
    assert list(events.to_state) == ["已反馈", "处置中", "已反馈"]
    assert list(events.actor) == ["W1", "J000001", "W1"]
    assert events.note.iloc[-1] == "补正后重新上报 (修改: level)"
    # the same resubmission again (a retry) changes nothing; a different record under review is refused
    same = wf.resubmit_report(store, oid, {**HAZARD, "level": "重大"}, "W1", back["version"], now=T0)
    assert same["version"] == 3 and len(store.work_order_events(oid)) == 3
    with pytest.raises(TransitionError, match="under review already"):
        wf.resubmit_report(store, oid, {**HAZARD, "level": "较大"}, "W1", 3, now=T0)
    # rejected again, then overdue: still the worker's to correct; approval takes the corrected record
    wf.reject_report(store, oid, "J000001", "照片不清楚", 3, now=T0)
    assert wf.sweep_overdue(store, now=T0 + dt.timedelta(days=30)) >= 1
    late = wf.resubmit_report(store, oid, {**HAZARD, "level": "较大"}, "W1", 5, note="补拍照片", now=T0)
    assert (
        late["state"] == "已反馈" and store.work_order_events(oid).note.iloc[-1] == "补拍照片 (修改: level)"
    )
    n = store.count("hazards")
    wf.approve_report(store, oid, "J000001", expected_version=6, now=T0)
    assert store.read("hazards", filters={"hazard_id": hazard_id}).level.tolist() == ["较大"]
    assert store.count("hazards") == n + 1
    # a report rejected for good, and an order that is no report, cannot be resubmitted
    final = wf.submit_report(store, _grid(store), "hazards", HAZARD, "W1", now=T0)
    wf.reject_report(store, final["order_id"], "J000001", "重复上报", 1, final=True, now=T0)
    with pytest.raises(TransitionError, match="已办结 to 已反馈"):
        wf.resubmit_report(store, final["order_id"], HAZARD, "W1", 2, now=T0)
    with pytest.raises(TransitionError, match="not a report"):
        wf.resubmit_report(store, _order(store)["order_id"], HAZARD, "W1", 1, now=T0)


def test_now_and_deadlines_follow_the_configured_time_zone(monkeypatch):
    utc = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    monkeypatch.setattr(wf.settings, "TIMEZONE", "Pacific/Kiritimati")  # UTC+14, no DST
    assert abs(wf.now() - (utc + dt.timedelta(hours=14))) < dt.timedelta(seconds=5)
    aware = dt.datetime(2026, 11, 1, 0, 0, tzinfo=dt.UTC)
    assert wf.to_store_time(aware) == dt.datetime(2026, 11, 1, 14, 0)
    assert wf.to_store_time(dt.datetime(2026, 11, 1, 8)) == dt.datetime(2026, 11, 1, 8)
    monkeypatch.setattr(wf.settings, "TIMEZONE", "Pacific/Pago_Pago")  # UTC-11
    assert abs(wf.now() - (utc - dt.timedelta(hours=11))) < dt.timedelta(seconds=5)
    monkeypatch.setattr(wf.settings, "TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="ONEMAP_TIMEZONE='Mars/Olympus' is not a known IANA time zone"):
        wf.now()
