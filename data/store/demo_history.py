"""The demo city's warning loop as a recorded history (演示预警闭环).

``onemap up`` runs the push models at the end of each of the demo's last weeks and pushes their warnings at
those moments (:func:`onemap.cli._ensure_store`); :func:`simulate_handling` then works the pushed orders as
grid workers and officers would have up to the end of the history: signed (签收), handled (处置), fed back
(反馈) and closed (办结), most in time, some late (超期, a few escalated to the station, 升级). Every move
follows :data:`data.store.workflow.TRANSITIONS` and leaves its trace row (actor, time, note), exactly as the
moves of :func:`data.store.workflow.transition` do, so the demo's 预警推送 screen, closure rates and traces
look like a system in use. Never used outside the demo.
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


def simulate_handling(store: Store, until: dt.datetime, seed: int = 0) -> dict[str, int]:
    """Work every pushed warning order (预警推送) still untouched (待签收, version 1) up to ``until``.

    Parameters
    ----------
    store : Store
    until : datetime
        The end of the demo's history: moves after it are not made (those orders stay where they are).
    seed : int
        Seed of the simulated times (deterministic for a given store).

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
        for r in rows:
            worker = r.worker_id or r.officer_id or wf.SYSTEM_ACTOR
            officer = r.officer_id or wf.SYSTEM_ACTOR
            state, version = wf.PENDING, 1
            values: dict[str, Any] = {}
            for when, to_state, actor in _path(r.created_at, r.deadline, worker, officer, rng):
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
    return dict(states)
