"""Unmasking one record and the append-only audit log on both stores; values never become SQL.

The REST route and the dashboard are tested in ``test_api.py`` and ``tests/test_security.py``; here the
store side: :func:`data.store.unmask.unmask` on SQLite and PostGIS, the database refusing to change or
delete audit entries whatever SQL is sent, and hostile values bound as values.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from data.access import Principal
from data.store import tables as T
from data.store import unmask as um
from data.store.base import NotFoundError, UnknownUnitError


def _grid_and_person(store):
    grid = store.grids_of()[0]
    person = store.read("population", filters={"grid_code": grid}, geometry=False).iloc[0]
    return grid, person


def test_unmask_writes_the_audit_entry_and_answers_the_fields(store):
    grid, person = _grid_and_person(store)
    worker = Principal("w1", "grid_worker", grid)
    got = um.unmask(store, worker, "population", person.person_id, "  入户核查  ", address="10.1.2.3")
    assert got.fields == {
        "name": person["name"],
        "phone": person.phone,
        "id_number": person.id_number,
        "birth_date": str(person.birth_date.date()),
    }
    entry = store.audit_entries(filters={"audit_id": got.audit_id}).frame.iloc[0]
    assert (entry.actor, entry.action, entry.target, entry.reason, entry.address) == (
        "w1",
        "unmask",
        f"population:{person.person_id}",
        "入户核查",
        "10.1.2.3",
    )
    assert um.recent_unmaskings(store, "w1") == 1 and um.recent_unmaskings(store, "other") == 0


@pytest.mark.parametrize(
    ("role", "layer", "error"),
    [
        ("display", "population", um.UnmaskRefused),
        ("admin", "population", um.UnmaskRefused),
        ("grid_worker", "persons_of_concern", um.UnmaskRefused),
        ("analyst", "hazards", um.UnmaskRefused),  # no personal data to unmask
        ("officer", "addresses", um.UnmaskRefused),  # shown whole to officers already
        ("officer", "staff", um.UnmaskRefused),  # staff: the leader role only
        ("grid_worker", "staff", um.UnmaskRefused),
        ("analyst", "staff", um.UnmaskRefused),
        ("superuser", "population", um.UnmaskRefused),  # an unknown role: default deny
    ],
)
def test_roles_that_may_not_unmask_are_refused_before_anything_is_read(loaded, role, layer, error):
    grid, person = _grid_and_person(loaded)
    with pytest.raises(error, match="may not unmask"):
        um.unmask(loaded, Principal("x", role, grid), layer, person.person_id, "核查身份信息")


def test_out_of_scope_unknown_or_hostile_records_and_bad_reasons_write_nothing(store):
    grid, person = _grid_and_person(store)
    other = store.grids_of()[-1]
    leader = Principal("l1", "leader", grid[:6])
    cases = [
        (Principal("w", "grid_worker", other), person.person_id, "核查身份信息", NotFoundError),
        (Principal("w", "grid_worker", "' OR 1=1 --"), person.person_id, "核查身份信息", NotFoundError),
        (Principal("w", "grid_worker", None), person.person_id, "核查身份信息", um.UnmaskRefused),
        (leader, "' OR '1'='1", "核查身份信息", NotFoundError),
        (leader, "P%", "核查身份信息", NotFoundError),
        (leader, person.person_id, "看看", um.ReasonError),
        (leader, person.person_id, "   \t  ", um.ReasonError),
        (leader, person.person_id, "核查\x00身份", um.ReasonError),
        (leader, person.person_id, None, um.ReasonError),
        (leader, person.person_id, "长" * (um.MAX_REASON + 1), um.ReasonError),
    ]
    for who, record, reason, error in cases:
        with pytest.raises(error):
            um.unmask(store, who, "population", record, reason)
    # narrowed to a unit the record is not in: not found either
    with pytest.raises(NotFoundError):
        um.unmask(store, leader, "population", person.person_id, "核查身份信息", unit=other)
    assert store.audit_entries().total == 0


@pytest.mark.parametrize("table", T.APPEND_ONLY)
def test_append_only_tables_refuse_update_delete_and_truncate_in_the_database(store, table):
    from data.store import workflow as wf

    store.append_audit("someone", "unmask", "population:P1", reason="核查身份信息")
    wf.dispatch(store, store.grids_of()[0], "核查出租屋", "J-leader")
    tbl = T.table(table)
    before = store.records(table, page_size=1000).frame
    assert len(before) >= 1
    statements = [
        sa.update(tbl).values(actor="nobody"),
        sa.delete(tbl),
        sa.text(f"UPDATE {table} SET actor = 'nobody'"),
        sa.text(f"DELETE FROM {table}"),
    ]
    if store.backend == "postgis":
        statements.append(sa.text(f"TRUNCATE {table}"))
    for stmt in statements:
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.begin() as conn:
            conn.execute(stmt)
    after = store.records(table, page_size=1000).frame
    assert after.equals(before)


def test_hostile_values_are_bound_as_values_and_match_nothing(loaded):
    evil = "' OR 1=1 --"
    assert loaded.read("population", filters={"person_id": evil}, geometry=False).empty
    assert loaded.count("population", filters={"name": evil}) == 0
    assert loaded.records("incidents", scope=[evil, "x'); DROP TABLE incidents; --"]).total == 0
    assert loaded.audit_entries(filters={"actor": evil}).total == 0
    for unit in (evil, "320612' OR '1'='1"):
        with pytest.raises(UnknownUnitError):
            loaded.records("incidents", unit)
        with pytest.raises(UnknownUnitError):
            loaded.grids_of(scope=unit)
    with pytest.raises(ValueError, match="no column"):
        loaded.read("population", filters={"1=1 OR person_id": "x"})
    assert loaded.count("incidents") > 0  # and nothing was dropped


def test_a_concurrent_burst_of_unmaskings_stops_exactly_at_the_hourly_limit(store_url, monkeypatch):
    """90 parallel unmaskings by one user, from two stores (two server processes) with a pool of
    connections each, against a limit of 60: exactly 60 pass, whatever the interleaving."""
    from data import settings
    from data.store import open_store

    monkeypatch.setattr(settings, "UNMASK_PER_HOUR", 60)
    stores = [open_store(store_url, migrate=False) for _ in range(2)]
    try:
        grid, person = _grid_and_person(stores[0])
        worker = Principal("w-burst", "grid_worker", grid)
        for s in stores:  # connections open and warm before the start
            s.read("population", filters={"grid_code": grid}, geometry=False)
        barrier = threading.Barrier(90)
        outcomes: list[str] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            barrier.wait()
            try:
                um.unmask(stores[i % 2], worker, "population", person.person_id, "并发核查身份")
                outcome = "shown"
            except um.UnmaskLimit:
                outcome = "limit"
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(90)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert sorted(outcomes) == ["limit"] * 30 + ["shown"] * 60
        assert um.recent_unmaskings(stores[0], "w-burst") == 60
        assert stores[0].audit_entries(filters={"actor": "w-burst"}).total == 60
    finally:
        for s in stores:
            s.close()


@pytest.mark.parametrize("table", T.APPEND_ONLY)
def test_append_only_tables_cannot_be_rewritten_by_replace_or_upsert(store, table):
    """``INSERT OR REPLACE`` / ``REPLACE`` fire no delete trigger in SQLite, and ``ON CONFLICT DO
    UPDATE`` is an update in disguise: an insert naming an existing key is refused on both stores."""
    from data.store import workflow as wf

    store.append_audit("someone", "unmask", "population:P1", reason="核查身份信息")
    wf.dispatch(store, store.grids_of()[0], "核查出租屋", "J-leader")
    tbl = T.table(table)
    key = tbl.primary_key.columns[0].name
    before = store.records(table, page_size=1000).frame
    row = {k: (None if v != v else v) for k, v in before.iloc[0].to_dict().items()}
    row["actor"] = "nobody"
    first = int(row[key])
    cols = ", ".join(row)
    marks = ", ".join(f":{c}" for c in row)
    others = ", ".join(f"{c} = excluded.{c}" for c in row if c != key)
    statements = [
        f"INSERT INTO {table} ({cols}) VALUES ({marks})",
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {others}",
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING",
    ]
    if store.backend == "sqlite":
        statements += [
            f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})",
            f"REPLACE INTO {table} ({cols}) VALUES ({marks})",
            f"INSERT OR IGNORE INTO {table} ({cols}) VALUES ({marks})",
            f"INSERT INTO {table} ({cols}) SELECT {marks} ON CONFLICT ({key}) DO UPDATE SET {others}",
        ]
    params = {k: (v.to_pydatetime() if hasattr(v, "to_pydatetime") else v) for k, v in row.items()}
    for sql in statements:
        with pytest.raises(sa.exc.DatabaseError, match=r"append-only|duplicate key"), store.begin() as conn:
            conn.execute(sa.text(sql), params)
    after = store.records(table, page_size=1000).frame
    assert after.equals(before)
    assert "nobody" not in set(after["actor"])
    # a new entry (a key that does not exist) is still accepted
    with store.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO {table} ({cols}) VALUES ({marks})"), {**params, key: first + 10_000}
        )
    assert store.records(table, page_size=1000).total == len(before) + 1
