"""Local users on both stores: salted scrypt hashes, lock-out after failed log-ins, disabling."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from data.store import tables as T
from data.store import users as U


def _county(store):
    return store.units("county").unit_code.iloc[0]


def test_hash_is_salted_and_verifies(empty_store):
    a, b = U.hash_password("same-password"), U.hash_password("same-password")
    assert a != b and a.startswith("scrypt$")
    assert U.verify_password("same-password", a) and not U.verify_password("other-password", a)
    assert not U.verify_password("x", "not-a-hash")


def test_add_authenticate_and_scope(store):
    U.add_user(store, "li.si", "password-1", "officer", _county(store), staff_id="J000001")
    who = U.authenticate(store, "li.si", "password-1")
    assert (who.role, who.unit_code, who.staff_id, who.scope) == (
        "officer",
        _county(store),
        "J000001",
        _county(store),
    )
    with store.connect() as conn:
        stored = conn.execute(sa.select(T.users.c.password_hash)).scalar_one()
    assert "password-1" not in stored


def test_lock_out_after_failed_logins(store):
    U.add_user(store, "wang", "password-1", "analyst", _county(store))
    t0 = dt.datetime(2026, 11, 1, 9, 0)
    for _ in range(U.MAX_FAILED_LOGINS):
        with pytest.raises(U.LoginError):
            U.authenticate(store, "wang", "bad-password", now=t0)
    with pytest.raises(U.LoginError) as refused:
        U.authenticate(store, "wang", "password-1", now=t0 + dt.timedelta(minutes=1))
    assert refused.value.reason == "locked" and str(refused.value) == U.FAILED_MESSAGE
    # the lock is of that (name, address) pair: the owner at another address is not locked out
    assert U.authenticate(store, "wang", "password-1", address="10.3.0.7", now=t0).user_id == "wang"
    later = t0 + dt.timedelta(minutes=U.LOCK_MINUTES + 1)
    assert U.authenticate(store, "wang", "password-1", now=later).user_id == "wang"


def test_disabled_user_cannot_log_in_and_loses_the_session_principal(store):
    U.add_user(store, "zhao", "password-1", "leader", _county(store))
    U.set_disabled(store, "zhao")
    with pytest.raises(U.LoginError) as refused:
        U.authenticate(store, "zhao", "password-1")
    assert refused.value.reason == "disabled" and str(refused.value) == U.FAILED_MESSAGE
    assert U.principal(store, "zhao") is None


@pytest.mark.parametrize(
    ("user_id", "password", "role", "unit", "message"),
    [
        ("a b", "password-1", "admin", None, "user id"),
        ("ok", "short", "admin", None, "too short"),
        ("ok", "password-1", "root", None, "unknown role"),
        ("ok", "password-1", "admin", "999999", "999999"),
    ],
)
def test_bad_users_are_refused_with_the_reason(store, user_id, password, role, unit, message):
    with pytest.raises((ValueError, LookupError), match=message):
        U.add_user(store, user_id, password, role, unit or _county(store))
