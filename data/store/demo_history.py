"""The demo city's warning loop as a recorded history (演示预警闭环).

``onemap up`` runs the push models at the end of each of the demo's last weeks and pushes their warnings at
those moments (:func:`onemap.cli._ensure_store`); :func:`simulate_handling` then works the pushed orders as
grid workers and officers would have up to the end of the history: signed (签收), handled (处置), fed back
(反馈) and closed (办结), most in time, some late (超期, a few escalated to the station, 升级). Every move
follows :data:`data.store.workflow.TRANSITIONS` and leaves its trace row (actor, time, note), exactly as the
moves of :func:`data.store.workflow.transition` do, so the demo's 预警推送 screen, closure rates and traces
look like a system in use. Never used outside the demo.

The history ends *now* when the demo ends today (``onemap up`` with the default ``--end``), so the demo is
live: the orders of the demo grid worker and officer (:func:`demo_pair`, the accounts ``onemap up`` makes)
are brought to every state at that moment (:data:`LIVE_STATES`, where an order's push time and deadline
allow it), and a state no pushed order can reach is filled by an instruction (派单) from the officer to the
worker, worked to it in the same way.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
import sqlalchemy as sa

from data.store import tables as T
from data.store import workflow as wf
from data.store.base import Store

#: Share of orders handled late (past their deadline), and of those escalated to the station.
LATE_SHARE = 0.12
ESCALATED_SHARE = 0.3
#: Hours to the deadline of an order without one (the longest default).
_DEFAULT_SPAN_H = 72.0
#: States the demo worker's and officer's orders are left in at the end of the history (so that whoever
#: logs in as them has something in every state), and how many orders each, at most.
LIVE_STATES = (wf.PENDING, wf.SIGNED, wf.HANDLING, wf.FED_BACK, wf.OVERDUE, wf.ESCALATED, wf.CLOSED)
LIVE_PER_STATE = 2
_OPEN_CHAIN = (wf.PENDING, wf.SIGNED, wf.HANDLING, wf.FED_BACK)
#: Instructions (派单) the demo officer gives the demo worker where no pushed order can reach a state:
#: state → (task, hours from the push to the end, hours from the deadline to the end: negative while ahead).
_TOP_UP = {
    wf.PENDING: ("核查辖区新增出租房屋的住户登记情况", 3, -21),
    wf.SIGNED: ("走访独居老人，核实紧急联系人电话", 30, -18),
    wf.HANDLING: ("排查沿街商铺消防通道堵塞情况并督促整改", 40, -32),
    wf.FED_BACK: ("回访上周邻里纠纷当事人，了解调解协议履行情况", 50, -22),
    wf.OVERDUE: ("核实新增标准地址门牌并补录采集信息", 96, 20),
    wf.ESCALATED: ("协查辖区内一处群租房安全隐患", 120, 30),
    wf.CLOSED: ("入户开展反诈宣传并登记宣传情况", 100, 40),
}

_NOTES = {
    wf.SIGNED: "已签收",
    wf.HANDLING: "已上门核查，正在处置",
    wf.FED_BACK: "已处置，反馈结果",
    wf.CLOSED: "审核通过，办结",
    wf.OVERDUE: "超过办理时限（超期巡检）",
    wf.ESCALATED: "超期未办结，升级至派出所督办",
}


def _path(
    created: dt.datetime, deadline: dt.datetime | None, worker: str, officer: str, rng: np.random.Generator
) -> list[tuple[dt.datetime, str, str]]:
    """The moves ``(time, state, actor)`` of one order pushed at ``created``, in time order."""
    span = (deadline - created) if deadline is not None else dt.timedelta(0)
    if span <= dt.timedelta(0):  # no deadline, or one not after the push
        span = dt.timedelta(hours=_DEFAULT_SPAN_H)
    late = rng.random() < LATE_SHARE
    m = rng.uniform(1.2, 3.0) if late else rng.uniform(0.25, 0.9)  # close time, in spans

    def at(spans: float) -> dt.datetime:
        return (created + span * spans).replace(microsecond=0)

    steps = [
        (at(0.08 * m), wf.SIGNED, worker),
        (at(0.2 * m), wf.HANDLING, worker),
        (at(0.75 * m), wf.FED_BACK, worker),
        (at(m), wf.CLOSED, officer),
    ]
    if late:
        steps.append((at(1.0), wf.OVERDUE, wf.SYSTEM_ACTOR))
        if rng.random() < ESCALATED_SHARE:
            steps.append((at(1.1), wf.ESCALATED, officer))
        steps.sort(key=lambda s: s[0])
        # fed back in time, closed late: 超期 → 已办结 is not a move, so the worker confirms again
        for i in range(1, len(steps)):
            if steps[i][1] == wf.CLOSED and steps[i - 1][1] == wf.OVERDUE:
                steps.insert(i, (steps[i][0] - span * 0.02, wf.FED_BACK, worker))
                break
    return steps


def _at(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=0)


def _staged(
    created: dt.datetime,
    deadline: dt.datetime | None,
    until: dt.datetime,
    target: str,
    worker: str,
    officer: str,
    rng: np.random.Generator,
) -> list[tuple[dt.datetime, str, str]] | None:
    """The moves bringing an order pushed at ``created`` to ``target`` at ``until``; ``None`` when its times
    do not allow it (an open state needs a deadline still ahead, 超期/升级/已办结 one already past)."""
    if deadline is None or deadline <= created:
        return None
    room = until - created
    if target in _OPEN_CHAIN:
        k = _OPEN_CHAIN.index(target)
        if deadline <= until or (k and room < dt.timedelta(hours=1)):
            return None
        chain = ((wf.SIGNED, worker), (wf.HANDLING, worker), (wf.FED_BACK, worker))[:k]
        fractions = np.sort(rng.uniform(0.05, 0.95, k))
        return [(_at(created + room * f), s, a) for f, (s, a) in zip(fractions, chain, strict=True)]
    if deadline >= until:
        return None
    span = deadline - created
    signed = (_at(created + span * rng.uniform(0.05, 0.3)), wf.SIGNED, worker)
    if target == wf.CLOSED:
        h, f, c = np.sort(rng.uniform(0.35, 0.95, 3))
        return [
            signed,
            (_at(created + span * h), wf.HANDLING, worker),
            (_at(created + span * f), wf.FED_BACK, worker),
            (_at(created + span * c), wf.CLOSED, officer),
        ]
    overdue = (_at(deadline), wf.OVERDUE, wf.SYSTEM_ACTOR)
    if target == wf.OVERDUE:
        return [signed, overdue]
    late = min(until - deadline, dt.timedelta(days=1)) * rng.uniform(0.2, 0.9)
    return [signed, overdue, (_at(deadline + late), wf.ESCALATED, officer)]


def _live_targets(
    rows: list, until: dt.datetime, live: tuple[str, str], rng: np.random.Generator
) -> dict[str, list[tuple[dt.datetime, str, str]]]:
    """order id → staged moves: up to :data:`LIVE_PER_STATE` of the demo worker's orders per state of
    :data:`LIVE_STATES`, the most recent that can reach it."""
    worker, officer = live
    mine = sorted((r for r in rows if r.worker_id == worker), key=lambda r: (r.created_at, r.order_id))
    out: dict[str, list] = {}
    # 待签收 last: an order pushed at the very end can be nothing else, one with room goes to a move first
    for target in sorted(LIVE_STATES, key=lambda s: s == wf.PENDING):
        n = 0
        for r in reversed(mine):
            if n == LIVE_PER_STATE:
                break
            if r.order_id in out:
                continue
            moves = _staged(r.created_at, r.deadline, until, target, worker, officer, rng)
            if moves is not None:
                out[r.order_id] = moves
                n += 1
    return out


def demo_pair(store: Store) -> tuple[str, str] | None:
    """``(worker, officer)`` staff ids of the demo accounts: the grid worker with the most pushed warning
    orders (预警推送; ties: the lower id) and the community officer of those orders; ``None`` without any."""
    wo = T.work_orders
    n = sa.func.count().label("n")
    with store.connect() as conn:
        row = conn.execute(
            sa.select(wo.c.worker_id, wo.c.officer_id, n)
            .where(wo.c.kind == wf.KIND_WARNING, wo.c.worker_id.is_not(None), wo.c.officer_id.is_not(None))
            .group_by(wo.c.worker_id, wo.c.officer_id)
            .order_by(n.desc(), wo.c.worker_id, wo.c.officer_id)
            .limit(1)
        ).first()
    return (row.worker_id, row.officer_id) if row is not None else None


def _top_up(
    store: Store, states: Counter[str], until: dt.datetime, live: tuple[str, str], rng: np.random.Generator
) -> Counter[str]:
    """Instructions (派单) from the demo officer to the demo worker for the states none of the worker's
    pushed orders reached; returns the states they were brought to."""
    worker, officer = live
    wo = T.work_orders
    with store.connect() as conn:
        grid = conn.execute(
            sa.select(wo.c.grid_code)
            .where(wo.c.worker_id == worker, wo.c.kind == wf.KIND_WARNING)
            .order_by(wo.c.created_at.desc(), wo.c.order_id)
            .limit(1)
        ).scalar()
    made: Counter[str] = Counter()
    if grid is None:
        return made
    for target in LIVE_STATES:
        if states[target]:
            continue
        task, pushed_h, late_h = _TOP_UP[target]
        created = _at(until - dt.timedelta(hours=pushed_h))
        deadline = _at(until - dt.timedelta(hours=late_h))
        moves = _staged(created, deadline, until, target, worker, officer, rng) or []
        order = wf.dispatch(store, grid, task, officer, severity="中", deadline=deadline, now=created)
        for when, to_state, actor in moves:
            wf.transition(store, order["order_id"], to_state, actor, _NOTES[to_state], now=when)
        made[target] += 1
    return made


def simulate_handling(
    store: Store, until: dt.datetime, seed: int = 0, live: tuple[str, str] | None = None
) -> dict[str, int]:
    """Work every pushed warning order (预警推送) still untouched (待签收, version 1) up to ``until``.

    Parameters
    ----------
    store : Store
    until : datetime
        The end of the demo's history: moves after it are not made (those orders stay where they are).
    seed : int
        Seed of the simulated times (deterministic for a given store).
    live : (str, str), optional
        Staff ids of the demo grid worker and officer (:func:`demo_pair`): their orders are left in every
        state of :data:`LIVE_STATES` at ``until`` (instructions 派单 fill the states no order can reach).

    Returns
    -------
    dict
        Orders by their state after the simulation.
    """
    wo = T.work_orders
    rng = np.random.default_rng(seed)
    updates: list[dict[str, Any]] = []
    events: list[tuple] = []
    states: Counter[str] = Counter()
    with store.begin() as conn:
        rows = conn.execute(
            sa.select(wo.c.order_id, wo.c.created_at, wo.c.deadline, wo.c.worker_id, wo.c.officer_id)
            .where(
                wo.c.kind == wf.KIND_WARNING,
                wo.c.state == wf.PENDING,
                wo.c.version == 1,
                wo.c.created_at <= until,
            )
            .order_by(wo.c.order_id)
        ).all()
        staged = _live_targets(rows, until, live, np.random.default_rng(seed + 1)) if live else {}
        live_states: Counter[str] = Counter()
        for r in rows:
            worker = r.worker_id or r.officer_id or wf.SYSTEM_ACTOR
            officer = r.officer_id or wf.SYSTEM_ACTOR
            state, version = wf.PENDING, 1
            values: dict[str, Any] = {}
            staged_path = staged.get(r.order_id)
            path = (
                staged_path
                if staged_path is not None
                else _path(r.created_at, r.deadline, worker, officer, rng)
            )
            for when, to_state, actor in path:
                if when > until:
                    break
                if to_state not in wf.TRANSITIONS[state]:  # pragma: no cover - a defect of _path
                    raise AssertionError(f"{r.order_id}: {state} → {to_state} is not a move")
                events.append((r.order_id, state, to_state, actor, when, _NOTES[to_state], version + 1))
                state, version = to_state, version + 1
                values["updated_at"] = when
                if to_state == wf.OVERDUE:
                    values["overdue_at"] = when
                if to_state == wf.CLOSED:
                    values["closed_at"] = when
            states[state] += 1
            if r.worker_id is not None and live and r.worker_id == live[0]:
                live_states[state] += 1
            if version > 1:
                updates.append(
                    {
                        "oid": r.order_id,
                        "state": state,
                        "v_new": version,
                        "updated_at": values["updated_at"],
                        "overdue_at": values.get("overdue_at"),
                        "closed_at": values.get("closed_at"),
                    }
                )
        if updates:
            conn.execute(
                sa.update(wo)
                .where(wo.c.order_id == sa.bindparam("oid"), wo.c.version == 1)
                .values(
                    state=sa.bindparam("state"),
                    version=sa.bindparam("v_new"),
                    updated_at=sa.bindparam("updated_at"),
                    overdue_at=sa.bindparam("overdue_at"),
                    closed_at=sa.bindparam("closed_at"),
                ),
                updates,
            )
        wf._insert_events(conn, events)
    if live:
        states.update(_top_up(store, live_states, until, live, np.random.default_rng(seed + 2)))
    return dict(states)
