"""No lost updates: concurrent writers on real connections (threads and processes), interrupted writes."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest
import sqlalchemy as sa

from data.store import StaleVersionError, open_store
from data.store import workflow as wf

WRITERS = 6


def _new_order(url: str) -> dict:
    store = open_store(url, migrate=False)
    try:
        return wf.dispatch(store, store.grids_of()[0], "并发测试", "J000001")
    finally:
        store.close()


def _race_threads(url: str, order_id: str, version: int, moves: list[str]) -> list[str]:
    """Every writer, on its own connection, tries its move with the same expected version at once."""
    barrier = threading.Barrier(len(moves))
    results: list[str] = []
    lock = threading.Lock()

    def writer(i: int, to_state: str) -> None:
        store = open_store(url, migrate=False)
        try:
            store.work_order(order_id)  # connection open and warm before the start
            barrier.wait()
            try:
                store.transition(order_id, to_state, f"W{i}", "race", expected_version=version)
                outcome = "won"
            except StaleVersionError:
                outcome = "stale"
            with lock:
                results.append(outcome)
        finally:
            store.close()

    threads = [threading.Thread(target=writer, args=(i, m)) for i, m in enumerate(moves)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_one_of_many_concurrent_writers_wins(store_url):
    for moves in (["已签收"] * WRITERS, ["已签收", "升级"] * (WRITERS // 2)):
        order = _new_order(store_url)
        results = _race_threads(store_url, order["order_id"], order["version"], moves)
        assert sorted(results) == ["stale"] * (len(moves) - 1) + ["won"]
        store = open_store(store_url, migrate=False)
        try:
            after = store.work_order(order["order_id"])
            trace = store.work_order_events(order["order_id"])
        finally:
            store.close()
        assert after["version"] == order["version"] + 1
        assert len(trace) == 2 and trace.to_state.iloc[-1] == after["state"]


def _process_writer(url: str, order_id: str, version: int, actor: str, ready, go, queue) -> None:
    store = open_store(url, migrate=False)
    try:
        store.work_order(order_id)  # imported, connected and warm
        ready.put(actor)
        go.wait(60)
        try:
            store.transition(order_id, "已签收", actor, "race", expected_version=version)
            queue.put("won")
        except StaleVersionError:
            queue.put("stale")
    finally:
        store.close()


def test_concurrent_processes_do_not_lose_updates(store_url):
    order = _new_order(store_url)
    ctx = multiprocessing.get_context("spawn")
    ready, queue, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_process_writer, args=(store_url, order["order_id"], 1, f"P{i}", ready, go, queue))
        for i in range(3)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    go.set()
    for p in procs:
        p.join(timeout=120)
    results = sorted(queue.get(timeout=10) for _ in procs)
    assert results == ["stale", "stale", "won"]
    store = open_store(store_url, migrate=False)
    try:
        assert store.work_order(order["order_id"])["version"] == 2
        assert len(store.work_order_events(order["order_id"])) == 2
    finally:
        store.close()


def test_a_write_failing_between_update_and_trace_leaves_nothing(store, monkeypatch):
    order = wf.dispatch(store, store.grids_of()[0], "中断测试", "J000001")

    def broken(conn, events):
        raise OSError("connection lost")

    monkeypatch.setattr(wf, "_insert_events", broken)
    with pytest.raises(OSError, match="connection lost"):
        store.transition(order["order_id"], "已签收", "W1", expected_version=1)
    monkeypatch.undo()
    after = store.work_order(order["order_id"])
    assert (after["state"], after["version"]) == ("待签收", 1)
    assert len(store.work_order_events(order["order_id"])) == 1


def _die_mid_write(url: str, order_id: str) -> None:
    """A real transition whose process dies between its two statements (order updated, trace not yet)."""
    store = open_store(url, migrate=False)

    def die(conn, events):
        os._exit(3)

    wf._insert_events = die
    store.transition(order_id, "已签收", "W1", expected_version=1)


def test_a_process_killed_mid_write_leaves_no_partial_state(store_url):
    order = _new_order(store_url)
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_die_mid_write, args=(store_url, order["order_id"]))
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == 3
    store = open_store(store_url, migrate=False)
    try:
        after = store.work_order(order["order_id"])
        assert (after["state"], after["version"]) == ("待签收", 1)
        assert len(store.work_order_events(order["order_id"])) == 1
        # the store still takes writes afterwards (no lock left behind)
        assert store.transition(order["order_id"], "已签收", "W1", expected_version=1)["version"] == 2
        assert len(store.work_order_events(order["order_id"])) == 2
    finally:
        store.close()


def test_concurrent_creations_with_one_key_make_one_order(store_url):
    barrier = threading.Barrier(WRITERS)
    orders: list[dict] = []
    lock = threading.Lock()

    def writer() -> None:
        store = open_store(store_url, migrate=False)
        try:
            grid = store.grids_of()[0]
            barrier.wait()
            order = wf.dispatch(store, grid, "并发派单", "J000001", key="same-key-1")
            with lock:
                orders.append(order)
        finally:
            store.close()

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(orders) == WRITERS and len({o["order_id"] for o in orders}) == 1
    assert sorted(o["replayed"] for o in orders) == [False] + [True] * (WRITERS - 1)
    store = open_store(store_url, migrate=False)
    try:
        assert store.count("work_orders", filters={"source_id": "J000001/same-key-1"}) == 1
        assert len(store.work_order_events(orders[0]["order_id"])) == 1
    finally:
        store.close()


def _waiting_on_a_lock(store) -> bool:
    with store.connect() as conn:
        return bool(conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE NOT granted").scalar())


def test_a_creation_racing_an_uncommitted_one_with_its_key_returns_that_order(store_url):
    """The second request misses the first's uncommitted order, inserts, waits on the unique index
    (PostgreSQL; SQLite queues it at BEGIN), and when the first commits answers the first's order."""
    store = open_store(store_url, migrate=False)
    grid, at = store.grids_of()[0], wf.now()
    first = {
        "order_id": "PDRACE000001",
        "kind": "派单",
        "source_id": "J000001/race-key-1",
        "grid_code": grid,
        "state": "待签收",
        "severity": "中",
        "created_at": at,
        "deadline": wf.deadline_for("中", at),
        "summary": "并发派单",
        "created_by": "J000001",
    }
    answer: list[dict] = []
    second = threading.Thread(target=lambda: answer.append(_dispatch_with_key(store_url, grid)))
    try:
        with store.begin() as conn:
            assert wf.insert_orders(store, conn, [first], "J000001", "并发派单", at) == ["PDRACE000001"]
            second.start()
            deadline = time.monotonic() + 30
            if store.engine.dialect.name == "postgresql":
                while not _waiting_on_a_lock(store):
                    assert time.monotonic() < deadline, "the second request never waited on the first"
                    time.sleep(0.05)
            else:
                time.sleep(0.5)
        second.join(timeout=60)
        assert answer and (answer[0]["order_id"], answer[0]["replayed"]) == ("PDRACE000001", True)
        assert store.count("work_orders", filters={"source_id": "J000001/race-key-1"}) == 1
    finally:
        store.close()


def _dispatch_with_key(url: str, grid: str) -> dict:
    store = open_store(url, migrate=False)
    try:
        return wf.dispatch(store, grid, "并发派单", "J000001", key="race-key-1")
    finally:
        store.close()


def _cut(store, conn: sa.Connection) -> None:
    """Cut the database connection under ``conn``, as a network failure or a killed backend would."""
    if store.backend == "postgis":
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with store.engine.connect() as admin:  # another pooled connection kills this one's backend
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    else:
        conn.connection.dbapi_connection.close()  # SQLite rolls back what was not committed


def test_a_connection_cut_mid_write_leaves_no_partial_state(store, monkeypatch):
    order = wf.dispatch(store, store.grids_of()[0], "断线测试", "J000001")
    insert_events = wf._insert_events

    def cut_then_insert(conn, events):
        _cut(store, conn)
        insert_events(conn, events)

    monkeypatch.setattr(wf, "_insert_events", cut_then_insert)
    with pytest.raises(sa.exc.DBAPIError) as info:
        store.transition(order["order_id"], "已签收", "W1", expected_version=1)
    monkeypatch.undo()
    assert info.value.connection_invalidated, "the pool must drop the dead connection"
    after = store.work_order(order["order_id"])
    assert (after["state"], after["version"]) == ("待签收", 1)
    assert len(store.work_order_events(order["order_id"])) == 1
    assert store.transition(order["order_id"], "已签收", "W1", expected_version=1)["version"] == 2
    assert len(store.work_order_events(order["order_id"])) == 2
