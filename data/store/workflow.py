"""Work orders and their closed loop (工单闭环, 全过程留痕).

States (:data:`data.schema.WORK_ORDER_STATES`)::

    待签收 pushed ─sign─▶ 已签收 signed ─handle─▶ 处置中 handling ─feed back─▶ 已反馈 fed back ─close─▶ 已办结
                                                 ▲                                  │
                                                 └────────── send back (退回) ───────┘
    any open state ─deadline passed (sweep)─▶ 超期 overdue ─▶ signed / handling / fed back / escalated
    any open state ─escalate─▶ 升级 escalated to the station ─▶ signed / handling / fed back / closed

    a report (上报): 已反馈 under review ─reject (驳回)─▶ 处置中 back with the worker ─resubmit─▶ 已反馈

Only the moves in :data:`TRANSITIONS` succeed; any other raises :class:`TransitionError` naming the order,
both states and the allowed moves. Every move is one transaction that updates the order (bumping its
``version``) and appends one row to ``work_order_events`` (actor, time, note), so an interrupted write
leaves nothing half-done. Two people moving the same order at once: the order's ``version`` decides, one
wins and the other gets :class:`~data.store.base.StaleVersionError` (reload). A retried move is recognised
by the version it read and its client id (kept in the trace row), never by the order's current state: the
move that took the order from that version was the same actor's to the same state with the same client id
(or both none). It is then not an error and changes nothing; any other request at an old version is stale.
Creating an order with a client's idempotency ``key`` (:func:`dispatch`, :func:`submit_report`) is as safe
to retry: the key, scoped to its user, is the order's ``source_id`` under the unique ``(kind, source_id)``
constraint, so a retry returns the order created first and the same key with a different request raises
:class:`IdempotencyConflict`.

Where a report's record lies is computed by the store (:func:`place_record`: the grid covering its point,
else its address's grid, else the submitter's own grid), every field placing it must lie in the writer's
scope, and approval places it again within the approver's scope (上报定位, no write outside one's area).

Kinds (:data:`data.schema.WORK_ORDER_KINDS`): 预警推送 a pushed warning (:func:`push_warnings`), 派单 an
officer's instruction to a grid worker (:func:`dispatch`), 上报审核 a grid worker's report that enters the
data only when an officer approves it (:func:`submit_report`, :func:`approve_report`,
:func:`reject_report`), 非警务分流 a non-police incident diverted to its grid (:func:`divert_non_police`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import shapely
import sqlalchemy as sa

from data import clock, settings
from data.schema import LAYERS, SEVERITIES, WORK_ORDER_KINDS, WORK_ORDER_STATES
from data.store import tables as T
from data.store._arrow import frame_to_arrow
from data.store.base import NotFoundError, StaleVersionError, StoreError, _insert_ignore, day_bounds

if TYPE_CHECKING:
    from data.store.base import Store

PENDING, SIGNED, HANDLING, FED_BACK, CLOSED, OVERDUE, ESCALATED = WORK_ORDER_STATES
KIND_WARNING, KIND_DISPATCH, KIND_REPORT, KIND_DIVERT = WORK_ORDER_KINDS

#: States that the overdue sweep watches (not closed, not already escalated or overdue).
OPEN_STATES = (PENDING, SIGNED, HANDLING, FED_BACK)

#: Allowed moves: state → states it may go to.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    PENDING: (SIGNED, ESCALATED, OVERDUE),
    SIGNED: (HANDLING, ESCALATED, OVERDUE),
    HANDLING: (FED_BACK, ESCALATED, OVERDUE),
    FED_BACK: (CLOSED, HANDLING, ESCALATED, OVERDUE),
    OVERDUE: (SIGNED, HANDLING, FED_BACK, ESCALATED),
    ESCALATED: (SIGNED, HANDLING, FED_BACK, CLOSED),
    CLOSED: (),
}

#: Verbs of the mobile app / REST API → target state.
ACTIONS: dict[str, str] = {
    "sign": SIGNED,
    "handle": HANDLING,
    "feed_back": FED_BACK,
    "close": CLOSED,
    "send_back": HANDLING,
    "escalate": ESCALATED,
}

#: Hours to the deadline by severity (紧急程度) unless ``settings.WORK_ORDER_DEADLINE_HOURS`` says otherwise.
DEFAULT_DEADLINE_HOURS: dict[str, float] = {"高": 4, "中": 24, "低": 72}

#: Layers a grid worker's report (上报) may add a record to, once approved.
REPORT_LAYERS = ("hazards", "disputes", "visits", "addresses", "population")
#: States from which a report back with its worker (rejected or sent back, maybe overdue since) may be
#: corrected and resubmitted for review (:func:`resubmit_report`).
RESUBMIT_FROM = (HANDLING, OVERDUE)

#: Fields of a record that place it (定位字段): its grid and every unit derived from the grid, in both
#: hierarchies. The stored row's are computed on the server (:func:`place_record`); one sent by the client
#: is only a claim, which must agree.
PLACING_CODES = ("grid_code", *T.GRID_PARENT_CODES)
#: What a visit's ``target_kind`` names: the layer of its ``target_id``.
VISIT_TARGETS = {"address": "addresses", "person_of_concern": "persons_of_concern"}
#: Years a date in a report's record may lie in (a typo such as 0206 or 9999 is refused).
RECORD_DATE_YEARS = (1900, 2100)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?")

#: Default of :func:`submit_report`'s ``fallback``: the grid the caller names.
SAME_GRID: Any = object()

SYSTEM_ACTOR = "system"
IMPORT_ACTOR = "import"
APPROVED, REJECTED = "通过", "驳回"


class TransitionError(StoreError):
    """A move the state machine does not allow (the message names the order, the states and the moves)."""

    def __init__(self, order_id: str, current: str, to_state: str, reason: str = "") -> None:
        allowed = TRANSITIONS.get(current, ())
        moves = ", ".join(allowed) if allowed else "none (the order is closed)"
        super().__init__(
            f"work order {order_id}: cannot go from {current} to {to_state}"
            + (f" ({reason})" if reason else "")
            + f"; allowed from {current}: {moves}"
        )
        self.order_id, self.current, self.to_state, self.allowed = order_id, current, to_state, allowed


class PlacementError(StoreError):
    """A report's record placed outside the writer's scope, in no grid, without a location, or with a
    placing field that disagrees with where it lies. ``field`` names the field; ``code`` is
    ``outside_scope``, ``location_mismatch`` or ``location_required``."""

    def __init__(self, field: str, message: str, code: str = "outside_scope") -> None:
        super().__init__(message)
        self.field, self.code = field, code


class IdempotencyConflict(StoreError):
    """An idempotency key used again for a different request (the message names the order and fields)."""

    def __init__(self, key: str, order_id: str, fields: Sequence[str]) -> None:
        super().__init__(
            f"idempotency key {key!r} was used for work order {order_id} with a different "
            f"{', '.join(fields)}; use a new key for a new order"
        )
        self.key, self.order_id, self.fields = key, order_id, list(fields)


def time_zone() -> zoneinfo.ZoneInfo | None:
    """The zone of the store's naive times (:func:`data.clock.time_zone`)."""
    return clock.time_zone()


def now() -> dt.datetime:
    """The current naive time in :func:`time_zone`, to the second (:func:`data.clock.now`)."""
    return clock.now()


def to_store_time(value: dt.datetime) -> dt.datetime:
    """A time as the store keeps it: naive, in :func:`time_zone` (an aware time is converted)."""
    if value.tzinfo is not None:
        value = value.astimezone(time_zone()).replace(tzinfo=None)
    return value


def deadline_hours() -> dict[str, float]:
    """Hours to the deadline per severity (settings override the defaults)."""
    return {**DEFAULT_DEADLINE_HOURS, **getattr(settings, "WORK_ORDER_DEADLINE_HOURS", {})}


def deadline_for(severity: str, start: Any) -> dt.datetime:
    """Deadline of an order of ``severity`` created at ``start``.

    Parameters
    ----------
    severity : str
        低, 中 or 高.
    start : datetime-like
        Creation time.

    Returns
    -------
    datetime.datetime
    """
    hours = deadline_hours()
    if severity not in hours:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    return (pd.Timestamp(start) + pd.Timedelta(hours=hours[severity])).to_pydatetime().replace(microsecond=0)


def allowed_moves(state: str) -> tuple[str, ...]:
    """States an order in ``state`` may move to."""
    if state not in TRANSITIONS:
        raise ValueError(f"unknown state {state!r}; states: {', '.join(WORK_ORDER_STATES)}")
    return TRANSITIONS[state]


# ---------------------------------------------------------------------- transitions
def transition(
    store: Store,
    order_id: str,
    to_state: str,
    actor: str,
    note: str = "",
    expected_version: int | None = None,
    *,
    client_id: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Move a work order to ``to_state`` in one transaction, with a trace row.

    Parameters
    ----------
    store : Store
    order_id : str
    to_state : str
        Target state (已签收, 处置中, …).
    actor : str
        Who moves it (staff or user id); kept in the trace.
    note : str
        Why / what was done; kept in the trace.
    expected_version : int, optional
        The ``version`` the caller read; if the order has changed since, :class:`StaleVersionError`,
        unless this very move was applied from that version (a retry, see :func:`_applied_before`).
    client_id : str, optional
        The client's id of this request (kept in the trace row): a retry sends it again.
    now : datetime, optional
        Time of the move (default the clock).

    Returns
    -------
    dict
        The order after the move (unchanged for a retried move).
    """
    _check_state(to_state)
    with store.begin() as conn:
        return _transition(
            conn, order_id, to_state, actor, note, expected_version, now or _now(), client_id=client_id
        )


def _now() -> dt.datetime:
    return now()


def _check_state(state: str) -> None:
    if state not in WORK_ORDER_STATES:
        raise ValueError(f"unknown state {state!r}; states: {', '.join(WORK_ORDER_STATES)}")


def _transition(
    conn: sa.Connection,
    order_id: str,
    to_state: str,
    actor: str,
    note: str,
    expected_version: int | None,
    at: dt.datetime,
    extra: dict[str, Any] | None = None,
    check: Any = None,
    client_id: str | None = None,
) -> dict[str, Any]:
    if not actor:
        raise ValueError("a transition needs an actor (全过程留痕)")
    wo, ev = T.work_orders, T.work_order_events
    row = conn.execute(sa.select(wo).where(wo.c.order_id == order_id).with_for_update()).mappings().first()
    if row is None:
        raise NotFoundError(f"no work order {order_id!r}")
    current, version = row["state"], row["version"]
    if expected_version is not None:
        # a caller that read a version: a retry is recognised by that version and its client_id, never
        # by the order's current state (a stale request to a state the order happens to be in is stale)
        if int(expected_version) != version:
            if _applied_before(conn, order_id, to_state, actor, int(expected_version), client_id):
                return dict(row)
            raise StaleVersionError(order_id, expected_version, version, current)
        if client_id is not None and _client_id_used(conn, order_id, actor, client_id):
            raise IdempotencyConflict(client_id, order_id, ["action", "version"])
    elif current == to_state:
        last = (
            conn.execute(
                sa.select(ev.c.to_state, ev.c.actor)
                .where(ev.c.order_id == order_id)
                .order_by(ev.c.event_id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        if last is not None and last["to_state"] == to_state and last["actor"] == actor:
            return dict(row)  # a retried request of a caller that names no version: nothing to do
    if to_state not in TRANSITIONS[current]:
        raise TransitionError(order_id, current, to_state)
    if check is not None:
        check(dict(row))
    values: dict[str, Any] = {"state": to_state, "version": version + 1, "updated_at": at, **(extra or {})}
    if to_state == CLOSED:
        values["closed_at"] = at
    if to_state == OVERDUE:
        values["overdue_at"] = at
    res = conn.execute(
        sa.update(wo).where(wo.c.order_id == order_id, wo.c.version == version).values(**values)
    )
    if res.rowcount != 1:
        fresh = conn.execute(sa.select(wo.c.version, wo.c.state).where(wo.c.order_id == order_id)).one()
        raise StaleVersionError(order_id, version, fresh.version, fresh.state)
    _insert_events(conn, [(order_id, current, to_state, actor, at, note, version + 1, client_id)])
    return {**dict(row), **values}


def _applied_before(
    conn: sa.Connection, order_id: str, to_state: str, actor: str, expected: int, client_id: str | None
) -> bool:
    """True when the move that took the order from version ``expected`` was this very request: the same
    actor, target state and client id (none for none). Then the request is a retry and changes nothing."""
    ev = T.work_order_events
    row = conn.execute(
        sa.select(ev.c.to_state, ev.c.actor, ev.c.client_id)
        .where(ev.c.order_id == order_id, ev.c.version == expected + 1)
        .order_by(ev.c.event_id)
        .limit(1)
    ).first()
    return row is not None and (row.to_state, row.actor, row.client_id) == (to_state, actor, client_id)


def _client_id_used(conn: sa.Connection, order_id: str, actor: str, client_id: str) -> bool:
    ev = T.work_order_events
    stmt = sa.select(ev.c.event_id).where(
        ev.c.order_id == order_id, ev.c.actor == actor, ev.c.client_id == client_id
    )
    return conn.execute(stmt.limit(1)).first() is not None


def _insert_events(conn: sa.Connection, events: Sequence[tuple]) -> None:
    """Append trace rows ``(order_id, from_state, to_state, actor, at, note, version[, client_id])``."""
    if not events:
        return
    keys = ("order_id", "from_state", "to_state", "actor", "at", "note", "version", "client_id")
    conn.execute(sa.insert(T.work_order_events), [dict(zip(keys, e, strict=False)) for e in events])


def act(
    store: Store,
    order_id: str,
    action: str,
    actor: str,
    note: str = "",
    expected_version: int | None = None,
    *,
    scope: Any = None,
    client_id: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Apply a named action (``sign``, ``handle``, ``feed_back``, ``close``, ``send_back``, ``escalate``).

    ``close`` of a report order (上报审核) approves it (see :func:`approve_report`, which checks that the
    record lies in ``scope``).

    Returns
    -------
    dict
        The order after the move.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
    if action == "close" and store.work_order(order_id)["kind"] == KIND_REPORT:
        return approve_report(
            store, order_id, actor, note, expected_version, scope=scope, client_id=client_id, now=now
        )
    return transition(
        store, order_id, ACTIONS[action], actor, note, expected_version, client_id=client_id, now=now
    )


def sweep_overdue(store: Store, now: dt.datetime | None = None, actor: str = SYSTEM_ACTOR) -> int:
    """Mark every open order past its deadline 超期 (each at most once), with a trace row each.

    Parameters
    ----------
    store : Store
    now : datetime, optional
        Reference time (default the clock).
    actor : str
        Recorded as the actor of the moves.

    Returns
    -------
    int
        Orders marked overdue.
    """
    at = now or _now()
    wo = T.work_orders
    with store.begin() as conn:
        rows = conn.execute(
            sa.select(wo.c.order_id, wo.c.state, wo.c.version)
            .where(wo.c.state.in_(OPEN_STATES), wo.c.deadline < at, wo.c.overdue_at.is_(None))
            .with_for_update()
        ).all()
        if not rows:
            return 0
        conn.execute(
            sa.update(wo)
            .where(wo.c.order_id == sa.bindparam("oid"), wo.c.version == sa.bindparam("v"))
            .values(state=OVERDUE, version=sa.bindparam("v_new"), overdue_at=at, updated_at=at),
            [{"oid": r.order_id, "v": r.version, "v_new": r.version + 1} for r in rows],
        )
        note = f"超过办理时限（{at:%Y-%m-%d %H:%M} 超期巡检）"
        _insert_events(conn, [(r.order_id, r.state, OVERDUE, actor, at, note, r.version + 1) for r in rows])
    return len(rows)


# ---------------------------------------------------------------------- creating orders
def _assignees(store: Store, conn: sa.Connection, grid_codes: Iterable[str]) -> dict[str, tuple]:
    """grid → (district_code, worker_id, officer_id): the grid's full-time worker (else its head) and the
    警格's community officer."""
    codes = sorted({str(g) for g in grid_codes if g is not None})
    if not codes:
        return {}
    gu, st, d = T.grid_units, T.LAYER_TABLES["staff"], T.LAYER_TABLES["districts"]
    districts = dict(
        conn.execute(
            sa.select(gu.c.grid_code, gu.c.district_code).where(store._codes_in(gu.c.grid_code, codes))
        ).all()
    )
    workers: dict[str, str] = {}
    for role in ("网格长", "专职网格员"):  # a full-time worker (专职网格员), else the grid head (网格长)
        workers.update(
            conn.execute(
                sa.select(st.c.unit_code, sa.func.min(st.c.staff_id))
                .where(
                    store._codes_in(st.c.unit_code, codes),
                    st.c.role == role,
                    sa.func.coalesce(st.c.active, sa.true()).is_(sa.true()),
                )
                .group_by(st.c.unit_code)
            ).all()
        )
    dcodes = sorted({v for v in districts.values() if v})
    officers = (
        dict(
            conn.execute(
                sa.select(d.c.district_code, d.c.officer_id).where(store._codes_in(d.c.district_code, dcodes))
            ).all()
        )
        if dcodes
        else {}
    )
    return {g: (districts.get(g), workers.get(g), officers.get(districts.get(g))) for g in codes}


def insert_orders(
    store: Store, conn: sa.Connection, rows: list[dict[str, Any]], actor: str, note: str, at: dt.datetime
) -> list[str]:
    """Insert new orders (skipping any whose id or ``(kind, source_id)`` exists) with a first trace row.

    Set-based, for tens of thousands of orders at once (a model run, an import): the orders go in with
    ``ON CONFLICT DO NOTHING``, then one ``INSERT … SELECT`` adds the first trace row of every candidate
    order that has none yet, i.e. of exactly the orders just inserted.

    Returns
    -------
    list of str
        Ids of the orders inserted.
    """
    if not rows:
        return []
    wo, ev = T.work_orders, T.work_order_events
    cols = [c.name for c in wo.c]
    full = [{c: r.get(c) for c in cols} for r in rows]
    for r in full:
        r["version"] = r["version"] or 1
        r["updated_at"] = r["updated_at"] or at
    conn.execute(_insert_ignore(conn, wo, None), full)
    untraced = (
        sa.select(
            wo.c.order_id,
            sa.null(),
            wo.c.state,
            sa.literal(actor, sa.Text),
            sa.literal(at, T.DATETIME),
            sa.literal(note, sa.Text),
            sa.literal(1, sa.Integer),
        )
        .where(
            store._codes_in(wo.c.order_id, [r["order_id"] for r in full]),
            ~sa.exists().where(ev.c.order_id == wo.c.order_id),
        )
        .order_by(wo.c.order_id)
    )
    names = ["order_id", "from_state", "to_state", "actor", "at", "note", "version"]
    inserted = conn.execute(sa.insert(ev).from_select(names, untraced).returning(ev.c.order_id)).scalars()
    return list(inserted)


def _new_id(prefix: str, at: dt.datetime) -> str:
    return f"{prefix}{at:%Y%m%d}{uuid.uuid4().hex[:10].upper()}"


def push_warnings(
    store: Store,
    now: dt.datetime | None = None,
    *,
    conn: sa.Connection | None = None,
    actor: str = SYSTEM_ACTOR,
) -> int:
    """Push every warning that has no work order yet as a 预警推送 order to its grid (预警推送).

    The order goes to the grid's full-time worker (专职网格员) and the 警格's community officer; its deadline
    is the warning's, else by severity. Warnings without a grid are not pushed.

    Parameters
    ----------
    store : Store
    now : datetime, optional
    conn : sqlalchemy.Connection, optional
        Run inside this transaction (default a new one).
    actor : str

    Returns
    -------
    int
        Orders created.
    """
    at = now or _now()
    if conn is None:
        with store.begin() as c:
            return push_warnings(store, at, conn=c, actor=actor)
    w, wo = T.warnings, T.work_orders
    pending = (
        conn.execute(
            sa.select(w)
            .where(
                w.c.grid_code.is_not(None),
                ~sa.exists().where(wo.c.kind == KIND_WARNING, wo.c.warning_id == w.c.warning_id),
            )
            .order_by(w.c.warning_id)
        )
        .mappings()
        .all()
    )
    if not pending:
        return 0
    who = _assignees(store, conn, (r["grid_code"] for r in pending))
    rows = []
    for r in pending:
        district, worker, officer = who.get(r["grid_code"], (None, None, None))
        rows.append(
            {
                "order_id": f"YJ{r['warning_id']:010d}",
                "kind": KIND_WARNING,
                "source_id": str(r["warning_id"]),
                "warning_id": r["warning_id"],
                "grid_code": r["grid_code"],
                "district_code": r["district_code"] or district,
                "state": PENDING,
                "severity": r["severity"],
                "created_at": at,
                "deadline": r["deadline"] or deadline_for(r["severity"], at),
                "summary": f"[{r['model_id']}] {r['reason']}",
                "worker_id": worker,
                "officer_id": officer,
                "created_by": actor,
            }
        )
    return len(insert_orders(store, conn, rows, actor, "预警推送", at))


def _new_order(
    store: Store,
    kind: str,
    grid_code: str,
    summary: str,
    actor: str,
    severity: str,
    state: str,
    at: dt.datetime,
    deadline: Any = None,
    note: str = "",
    *,
    key: str | None = None,
    differs: Callable[[dict[str, Any]], list[str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Create one order; with an idempotency ``key``, return the order created first under it instead.

    ``differs(order)`` names the fields in which a first order differs from this request (empty: a retry).
    """
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    if not summary:
        raise ValueError("a work order needs a summary (事由)")
    source_id = idempotency_source(actor, key) if key is not None else None
    with store.begin() as conn:
        gu = T.grid_units
        if conn.execute(sa.select(gu.c.grid_code).where(gu.c.grid_code == grid_code)).first() is None:
            raise NotFoundError(f"unknown grid {grid_code!r}")
        first = _order_by_source(conn, kind, source_id) if source_id else None
        if first is None:
            district, worker, officer = _assignees(store, conn, [grid_code])[grid_code]
            prefix = {KIND_DISPATCH: "PD", KIND_REPORT: "SB"}.get(kind, "WO")
            row = {
                "order_id": _new_id(prefix, at),
                "kind": kind,
                "source_id": source_id,
                "grid_code": grid_code,
                "district_code": district,
                "state": state,
                "severity": severity,
                "created_at": at,
                "deadline": pd.Timestamp(deadline).to_pydatetime()
                if deadline is not None
                else deadline_for(severity, at),
                "summary": summary,
                "worker_id": worker,
                "officer_id": officer,
                "created_by": actor,
                **extra,
            }
            if not insert_orders(store, conn, [row], actor, note or summary, at):
                # a concurrent request with the same key committed first (PostgreSQL waits for it on the
                # unique index, then skips the row); this statement sees its order
                first = _order_by_source(conn, kind, source_id) if source_id else None
                if first is None:
                    raise StoreError(f"work order {row['order_id']} was not created (an id collision); retry")
    if first is None:
        return {**store.work_order(row["order_id"]), "replayed": False}
    fields = differs(first) if differs is not None else []
    if fields:
        raise IdempotencyConflict(str(key), first["order_id"], fields)
    return {**store.work_order(first["order_id"]), "replayed": True}


def idempotency_source(actor: str, key: str) -> str:
    """``source_id`` of an order created with a client's idempotency key: the key, scoped to its user."""
    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        raise ValueError(
            f"an idempotency key must be a non-empty string of at most 200 characters, got {key!r}"
        )
    return f"{actor}/{key}"


def order_by_key(store: Store, kind: str, actor: str, key: str) -> dict[str, Any] | None:
    """The order of ``kind`` that ``actor`` created with the idempotency ``key``, or None (none yet, or a
    key that cannot be one)."""
    try:
        source_id = idempotency_source(actor, key)
    except ValueError:
        return None
    with store.connect() as conn:
        return _order_by_source(conn, kind, source_id)


def _order_by_source(conn: sa.Connection, kind: str, source_id: str) -> dict[str, Any] | None:
    wo = T.work_orders
    row = conn.execute(sa.select(wo).where(wo.c.kind == kind, wo.c.source_id == source_id)).mappings().first()
    return dict(row) if row is not None else None


def _changed(first: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Names of the fields whose value in the first order differs from the retried request."""
    return [name for name, value in wanted.items() if first.get(name) != value]


def dispatch(
    store: Store,
    grid_code: str,
    summary: str,
    actor: str,
    *,
    severity: str = "中",
    deadline: Any = None,
    key: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """An officer's instruction to a grid's worker (派单), waiting to be signed (待签收).

    Parameters
    ----------
    store : Store
    grid_code : str
        The grid whose worker must act.
    summary : str
        The instruction.
    actor : str
        The officer.
    severity : str
        低, 中 or 高 (sets the default deadline).
    deadline : datetime-like, optional
        Explicit deadline.
    key : str, optional
        The client's idempotency key (e.g. a UUID the app made for this order). A retry with the same
        key by the same actor creates nothing and returns the first order; the same key with a different
        grid, summary, severity or deadline raises :class:`IdempotencyConflict`.
    now : datetime, optional

    Returns
    -------
    dict
        The order, with ``replayed`` True when it was created by an earlier request with ``key``.
    """
    at = now or _now()
    explicit = pd.Timestamp(deadline).to_pydatetime() if deadline is not None else None

    def differs(first: dict[str, Any]) -> list[str]:
        out = _changed(first, {"grid_code": grid_code, "summary": summary, "severity": severity})
        # without an explicit deadline the first order's is the default from its own creation time
        want = explicit if explicit is not None else deadline_for(severity, first["created_at"])
        if pd.Timestamp(first["deadline"]) != pd.Timestamp(want):
            out.append("deadline")
        return out

    return _new_order(
        store,
        KIND_DISPATCH,
        grid_code,
        summary,
        actor,
        severity,
        PENDING,
        at,
        explicit,
        key=key,
        differs=differs,
    )


def _normalised(layer: str, record: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    """A report's record with ``lon``/``lat`` as a WKT point and its key (generated when missing); raises
    ``ValueError`` for an unknown layer or column or half a coordinate pair."""
    if layer not in REPORT_LAYERS:
        raise ValueError(f"reports may add to {', '.join(REPORT_LAYERS)}, not {layer!r}")
    lay = LAYERS[layer]
    rec = dict(record)
    lon, lat = rec.pop("lon", None), rec.pop("lat", None)
    if (lon is None) != (lat is None):
        raise ValueError("lon and lat go together (经纬度须成对)")
    if lon is not None:
        if rec.get("geometry") is not None:
            raise ValueError("give lon/lat or geometry, not both")
        rec["geometry"] = f"POINT ({float(lon)} {float(lat)})"
    allowed = set(lay.column_names) | ({"geometry"} if lay.geometry else set())
    unknown = sorted(set(rec) - allowed)
    if unknown:
        raise ValueError(
            f"{layer} has no column(s) {', '.join(unknown)}; columns: {', '.join(sorted(allowed))}"
        )
    rec.setdefault(lay.key, _new_id("R", at))
    return rec


def _point(rec: dict[str, Any]) -> shapely.Point | None:
    """The record's point (``geometry`` as WKT), written back in a canonical form; ``ValueError`` for
    anything but one finite point in lon/lat range."""
    value = rec.get("geometry")
    if value is None or value == "":
        rec.pop("geometry", None)
        return None
    try:
        geom = shapely.from_wkt(value) if isinstance(value, str) else None
    except (shapely.errors.ShapelyError, ValueError, TypeError):
        geom = None
    ok = isinstance(geom, shapely.Point) and not geom.is_empty and not geom.has_z
    if not ok or not (math.isfinite(geom.x) and math.isfinite(geom.y)):
        raise ValueError("geometry must be one point as WKT, POINT (lon lat) in EPSG:4326")
    if not (-180 <= geom.x <= 180 and -90 <= geom.y <= 90):
        raise ValueError(f"geometry {geom.x}, {geom.y} is not a longitude, latitude pair")
    rec["geometry"] = geom.wkt
    return geom


def _address_grid(store: Store, conn: sa.Connection, address_id: str) -> str | None:
    """The grid of a stored standard address (its ``grid_code``, else the grid covering its point)."""
    adr = T.LAYER_TABLES["addresses"]
    row = conn.execute(
        sa.select(adr.c.grid_code, store._geom_out(adr.c.geometry)).where(adr.c.address_id == address_id)
    ).first()
    if row is None:
        return None
    if row[0]:
        return str(row[0])
    if row[1] is None:
        return None
    point = shapely.from_wkb(row[1])
    return store.grid_covering(conn, point.x, point.y)


def _outside(field: str) -> PlacementError:
    return PlacementError(
        field,
        f"{field} 指向的位置不存在或不在您的辖区 ({field} places the record outside your area, or names "
        "nothing that exists)",
    )


def place_record(
    store: Store,
    conn: sa.Connection,
    layer: str,
    rec: dict[str, Any],
    *,
    claim: str | None = None,
    fallback: str | None = None,
    scope: Any = None,
) -> str:
    """Place a report's record (定位) on the server and check it lies in the writer's ``scope``.

    The grid is computed, never taken from the client: from the record's point (the grid whose polygon
    covers it, :meth:`~data.store.base.Store.grid_covering`), else from its ``address_id`` (a stored
    address), else ``fallback`` (the writer's own grid, for a record without a location). Every field
    that places it must lie in ``scope``: the point's grid, the address, and what a visit or a dispute
    refers to (staff, visited address or person of concern, parties). A placing code the record or the
    request names (``grid_code``, ``village_code``, ``district_code`` … and ``claim``) is only a claim:
    it must equal the computed grid's. The record's placing columns are then set from the computed grid.

    Parameters
    ----------
    store : Store
    conn : sqlalchemy.Connection
        The caller's connection (the approval's transaction).
    layer : str
    rec : dict
        The normalised record (:func:`_normalised`); changed in place.
    claim : str, optional
        A grid the request names for it.
    fallback : str, optional
        The grid of a record that has no location.
    scope : optional
        The writer's scope (``None``: a trusted caller, nothing is out of scope).

    Returns
    -------
    str
        The grid.

    Raises
    ------
    PlacementError
        Naming the field.
    """
    point = _point(rec) if LAYERS[layer].geometry else None
    address = rec.get("address_id")
    address = None if address is None or address == "" else str(address)
    address_grid = None
    if address is not None:
        address_grid = _address_grid(store, conn, address)
        if address_grid is None or not store.grid_in_scope(conn, address_grid, scope):
            raise _outside("address_id")
    if point is not None:
        grid, source = store.grid_covering(conn, point.x, point.y), "lon/lat"
        if grid is None:
            raise PlacementError(source, "坐标不在任何网格内 (lon/lat lie in no grid)")
    elif address_grid is not None:
        grid, source = address_grid, "address_id"
    elif fallback:
        grid, source = str(fallback), "grid_code"
    else:
        raise PlacementError(
            "lon/lat",
            "上报内容须有位置：经纬度或标准地址 (the record needs a location, lon/lat or address_id: your "
            "account is not bound to one grid that could place it)",
            "location_required",
        )
    units = store.grid_row(conn, grid)
    if units is None or not store.grid_in_scope(conn, grid, scope):
        raise _outside(source)
    claims = [("grid_code", claim), *((name, rec.get(name)) for name in PLACING_CODES)]
    for name, value in claims:
        if value is not None and value != "" and str(value) != str(units.get(name)):
            raise PlacementError(
                name,
                f"{name} 与记录位置不符：位置在网格 {grid} (the record lies in grid {grid}; {name} "
                f"{str(value)[:20]!r} does not match it)",
                "location_mismatch",
            )
    for name in PLACING_CODES:
        if name in LAYERS[layer].column_names:
            rec[name] = units[name]
    if scope is not None:
        for field, target, value in _references(layer, rec):
            if not store.record_in_scope(conn, target, value, scope):
                raise _outside(field)
    return grid


def _references(layer: str, rec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, layer, id) of the records a report's record refers to."""
    out = []
    if layer == "visits":
        out.append(("staff_id", "staff", rec.get("staff_id")))
        if rec.get("target_kind") in VISIT_TARGETS:
            out.append(("target_id", VISIT_TARGETS[rec["target_kind"]], rec.get("target_id")))
    if layer == "disputes" and isinstance(rec.get("person_ids"), str):
        out += [("person_ids", "population", p.strip()) for p in rec["person_ids"].split(";")]
    return [(f, t, str(v)) for f, t, v in out if v is not None and str(v).strip()]


def _date_problems(layer: str, rec: dict[str, Any]) -> list[str]:
    """Dates of a record that are not ISO 8601 days or times of a plausible year ('now', 'today', 9999 …)."""
    lo, hi = RECORD_DATE_YEARS
    out = []
    for col in LAYERS[layer].columns:
        value = rec.get(col.name)
        if col.dtype not in ("date", "datetime") or value is None or value == "":
            continue
        ok = isinstance(value, str) and _ISO_DAY.fullmatch(value.strip()) is not None
        try:
            ok = ok and lo <= dt.datetime.fromisoformat(value.strip()).year <= hi
        except ValueError:
            ok = False
        if not ok:
            out.append(f"{col.name}={str(value)[:40]!r} is not a date YYYY-MM-DD[ HH:MM[:SS]] in {lo}–{hi}")
    return out


def _report_frame(layer: str, rec: dict[str, Any]) -> pd.DataFrame:
    """A placed record as a one-row frame of ``layer``, validated (raises ``ValueError``)."""
    lay = LAYERS[layer]
    problems = [f"{c.name} is required" for c in lay.columns if c.required and rec.get(c.name) in (None, "")]
    problems += [
        f"{c.name}={rec[c.name]!r} is not one of {', '.join(c.choices)}"
        for c in lay.columns
        if c.choices and rec.get(c.name) is not None and rec[c.name] not in c.choices
    ]
    problems += _date_problems(layer, rec)
    if problems:
        raise ValueError(f"report for {layer}: " + "; ".join(problems))
    frame = pd.DataFrame([rec])
    frame_to_arrow(frame, layer)  # types convert, or raise
    return frame


def _report_record(
    store: Store,
    conn: sa.Connection,
    layer: str,
    record: dict[str, Any],
    at: dt.datetime,
    *,
    claim: str | None = None,
    fallback: str | None = None,
    scope: Any = None,
) -> tuple[dict[str, Any], str]:
    """The record, placed (:func:`place_record`) and validated, as the order's payload keeps it
    (JSON-native values), and its grid."""
    rec = _normalised(layer, record, at)
    grid = place_record(store, conn, layer, rec, claim=claim, fallback=fallback, scope=scope)
    row = _report_frame(layer, rec).iloc[0].to_dict()
    return json.loads(json.dumps(row, ensure_ascii=False, default=str)), grid


def _payload(layer: str, record: dict[str, Any], **more: Any) -> str:
    return json.dumps({"layer": layer, "record": record, **more}, ensure_ascii=False)


def submit_report(
    store: Store,
    grid_code: str | None,
    layer: str,
    record: dict[str, Any],
    actor: str,
    *,
    scope: Any = None,
    fallback: Any = SAME_GRID,
    summary: str | None = None,
    severity: str = "中",
    key: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A grid worker's report (上报) of a new record, waiting for the officer's review (已反馈).

    The record enters its layer only when approved (:func:`approve_report`, 上报审核入库).

    The record is placed on the server (:func:`place_record`): its grid is the one covering its point,
    else its address's, else ``grid_code``; the order goes to that grid.

    Parameters
    ----------
    store : Store
    grid_code : str or None
        The grid the caller names: the grid of a record without a location, and for one with a location
        a claim that must match where it lies (:class:`PlacementError` otherwise).
    layer : str
        One of :data:`REPORT_LAYERS`.
    record : dict
        Column → value of the new record; ``lon``/``lat`` (or ``geometry`` as WKT) for a point. The key is
        generated when missing; the placing columns (``grid_code`` …) are computed.
    actor : str
        The grid worker.
    scope : optional
        The submitter's scope: every field placing the record must lie in it (``None``: a trusted
        caller).
    fallback : str or None, optional
        The grid of a record without a location when it is not ``grid_code`` (the REST API: the
        submitter's own grid if the account is bound to one, else ``None``: such a record is refused).
    summary : str, optional
    severity : str
    key : str, optional
        The client's idempotency key. A retry with the same key by the same actor creates nothing and
        returns the first order (even after a resubmission changed its record); the same key with a
        different grid, layer, record, summary or severity raises :class:`IdempotencyConflict`.
    now : datetime, optional

    Returns
    -------
    dict
        The order (kind 上报审核), with ``replayed`` True when created by an earlier request with ``key``.
    """
    at = now or _now()
    with store.connect() as conn:
        rec, grid = _report_record(
            store,
            conn,
            layer,
            record,
            at,
            claim=grid_code,
            fallback=grid_code if fallback is SAME_GRID else fallback,
            scope=scope,
        )
    text = summary or f"上报{LAYERS[layer].zh}待审核"
    generated_key = LAYERS[layer].key not in record

    def differs(first: dict[str, Any]) -> list[str]:
        out = _changed(first, {"grid_code": grid, "summary": text, "severity": severity})
        held = json.loads(first["payload"] or "{}")
        if held.get("layer") != layer:
            return [*out, "layer"]
        submitted = dict(held.get("submitted", held.get("record", {})))
        mine = dict(rec)
        if generated_key:  # the first request's key was generated, as this one's was
            submitted.pop(LAYERS[layer].key, None)
            mine.pop(LAYERS[layer].key, None)
        return out + (["record"] if submitted != mine else [])

    return _new_order(
        store,
        KIND_REPORT,
        grid,
        text,
        actor,
        severity,
        FED_BACK,
        at,
        payload=_payload(layer, rec),
        note=text,
        key=key,
        differs=differs,
    )


def _report_of(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if row["kind"] != KIND_REPORT or not row.get("payload"):
        raise TransitionError(row["order_id"], row["state"], CLOSED, f"a {row['kind']} order is not a report")
    data = json.loads(row["payload"])
    return data["layer"], data["record"]


def approve_report(
    store: Store,
    order_id: str,
    actor: str,
    note: str = "",
    expected_version: int | None = None,
    *,
    scope: Any = None,
    client_id: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Approve a report: its record enters the layer and the order closes (已办结), in one transaction.

    The record is placed again now (:func:`place_record`; its placing columns as submitted are not
    trusted), and must lie in the approver's ``scope``: :class:`PlacementError` otherwise, and nothing
    changes.

    Returns
    -------
    dict
        The closed order.
    """
    at = now or _now()
    with store.begin() as conn:
        state: dict[str, Any] = {}

        def check(row):
            layer, held = _report_of(row)
            rec = {k: v for k, v in held.items() if k not in PLACING_CODES}
            place_record(store, conn, layer, rec, fallback=row["grid_code"], scope=scope)
            state["report"] = layer, _report_frame(layer, rec)

        order = _transition(
            conn,
            order_id,
            CLOSED,
            actor,
            note or "审核通过, 入库",
            expected_version,
            at,
            extra={"resolution": APPROVED},
            check=check,
            client_id=client_id,
        )
        if "report" in state:  # not a retried approval
            store.insert_records(conn, *state["report"])
        return order


def reject_report(
    store: Store,
    order_id: str,
    actor: str,
    note: str,
    expected_version: int | None = None,
    *,
    final: bool = False,
    client_id: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Reject a report: back to the worker to correct (处置中), or for good (已办结, 驳回) with ``final``.

    Returns
    -------
    dict
        The order after the move.
    """
    if not note:
        raise ValueError("a rejection needs a note saying why (驳回原因)")
    at = now or _now()
    with store.begin() as conn:
        extra = {"resolution": REJECTED} if final else {}
        return _transition(
            conn,
            order_id,
            CLOSED if final else HANDLING,
            actor,
            note,
            expected_version,
            at,
            extra=extra,
            check=_report_of,
            client_id=client_id,
        )


def resubmit_report(
    store: Store,
    order_id: str,
    record: dict[str, Any],
    actor: str,
    expected_version: int | None = None,
    *,
    note: str = "",
    scope: Any = None,
    client_id: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Send a corrected report back for review (补正后重新上报): 处置中 (or 超期 since) → 已反馈.

    For a report an officer rejected (驳回, not for good) or sent back (退回). The record is validated as
    :func:`submit_report` validates it and replaces the one under review (send all of it); it keeps the
    first record's key unless it names one. The trace row names the fields that changed (names only: the
    values may be personal data); the payload keeps the record first submitted (``submitted``), so that a
    retried creation is still recognised. Repeating the same resubmission is not an error and changes
    nothing; a different record while the report is under review raises :class:`TransitionError`.

    Parameters
    ----------
    store : Store
    order_id : str
    record : dict
        The corrected record, as for :func:`submit_report`.
    actor : str
        The grid worker.
    expected_version : int, optional
        The ``version`` the caller read (optimistic locking).
    note : str
        What was corrected; the changed fields are appended.
    scope : optional
        The worker's scope: the corrected record must lie in it, as for :func:`submit_report`.
    client_id : str, optional
        The client's id of this request (a retry sends it again).
    now : datetime, optional

    Returns
    -------
    dict
        The order after the move.
    """
    at = now or _now()
    wo = T.work_orders
    with store.begin() as conn:
        row = (
            conn.execute(sa.select(wo).where(wo.c.order_id == order_id).with_for_update()).mappings().first()
        )
        if row is None:
            raise NotFoundError(f"no work order {order_id!r}")
        if row["kind"] != KIND_REPORT or not row["payload"]:
            raise TransitionError(order_id, row["state"], FED_BACK, f"a {row['kind']} order is not a report")
        held = json.loads(row["payload"])
        layer, old = held["layer"], held["record"]
        key = LAYERS[layer].key
        new, _ = _report_record(
            store, conn, layer, {key: old.get(key), **record}, at, fallback=row["grid_code"], scope=scope
        )
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if row["state"] == FED_BACK and changed:
            if expected_version is not None and int(expected_version) != row["version"]:
                raise StaleVersionError(order_id, expected_version, row["version"], FED_BACK)
            raise TransitionError(
                order_id, FED_BACK, FED_BACK, "under review already: resubmit only after a rejection (驳回)"
            )

        def check(current: dict[str, Any]) -> None:
            if current["state"] not in RESUBMIT_FROM:
                raise TransitionError(
                    order_id, current["state"], FED_BACK, "resubmit a report that was rejected or sent back"
                )

        what = f"修改: {', '.join(changed)}" if changed else "未修改"
        text = f"{note or '补正后重新上报'} ({what})"
        order = _transition(
            conn, order_id, FED_BACK, actor, text, expected_version, at, check=check, client_id=client_id
        )
        if order["version"] != row["version"]:  # not a retried resubmission
            payload = _payload(layer, new, submitted=held.get("submitted", old))
            conn.execute(sa.update(wo).where(wo.c.order_id == order_id).values(payload=payload))
            order["payload"] = payload
        return order


def divert_non_police(
    store: Store,
    start: Any = None,
    end: Any = None,
    *,
    severity: str = "低",
    now: dt.datetime | None = None,
    actor: str = SYSTEM_ACTOR,
) -> int:
    """Divert non-police incidents (非警务警情分流) to their grids as work orders, once each.

    Parameters
    ----------
    store : Store
    start, end : date-like, optional
        Days of the incidents, both included.
    severity : str
        Severity of the orders (sets the deadline).
    now : datetime, optional
    actor : str

    Returns
    -------
    int
        Orders created (incidents already diverted are skipped).
    """
    at = now or _now()
    inc, wo = T.LAYER_TABLES["incidents"], T.work_orders
    lo, hi = day_bounds(start, end)
    conds = [
        inc.c.category == "非警务",
        inc.c.grid_code.is_not(None),
        ~sa.exists().where(wo.c.kind == KIND_DIVERT, wo.c.source_id == inc.c.incident_id),
    ]
    if lo is not None:
        conds.append(inc.c.occurred_at >= lo)
    if hi is not None:
        conds.append(inc.c.occurred_at < hi)
    with store.begin() as conn:
        found = conn.execute(sa.select(inc.c.incident_id, inc.c.grid_code).where(*conds)).all()
        who = _assignees(store, conn, (r.grid_code for r in found))
        deadline = deadline_for(severity, at)
        rows = []
        for r in found:
            district, worker, officer = who.get(r.grid_code, (None, None, None))
            rows.append(
                {
                    "order_id": f"FL{r.incident_id}",
                    "kind": KIND_DIVERT,
                    "source_id": r.incident_id,
                    "grid_code": r.grid_code,
                    "district_code": district,
                    "state": PENDING,
                    "severity": severity,
                    "created_at": at,
                    "deadline": deadline,
                    "summary": f"非警务警情分流至网格处置（{r.incident_id}）",
                    "worker_id": worker,
                    "officer_id": officer,
                    "created_by": actor,
                }
            )
        return len(insert_orders(store, conn, rows, actor, "非警务警情分流至网格", at))
