"""The log-in guard's principal cache on both stores: a disabled user keeps access for at most the cache's
time to live, log-out drops the session's entry, and each session has an entry of its own."""

from __future__ import annotations

from types import SimpleNamespace

import flask
import pytest
import sqlalchemy as sa

from dashboard import auth
from data.store import tables as T
from data.store import users as U

TTL = 5.0


class Clock:
    """A monotonic clock the test moves by hand (the cache's ``clock``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def guarded(store, tmp_path):
    """A Flask server behind the log-in guard with one page: ``.login()`` (a logged-in client), ``.cache``,
    ``.clock``, ``.store``."""
    server = flask.Flask(__name__)
    clock = Clock()
    cache = auth.install(
        server, lambda: store, key=auth.secret_key(tmp_path), principals=auth.PrincipalCache(TTL, clock=clock)
    )

    @server.route("/data")
    def _data():
        who = auth.current_principal()
        return flask.jsonify(user=who.user_id, role=who.role)

    U.add_user(store, "analyst1", "password-1", "analyst", store.units("county").unit_code.iloc[0])

    def login():
        c = server.test_client()
        r = c.post("/login", json={"user": "analyst1", "password": "password-1"})
        assert r.status_code == 200, r.get_data(as_text=True)
        return c

    return SimpleNamespace(login=login, cache=cache, clock=clock, store=store)


def _role(client) -> str | None:
    """The role the server sees for the session, None when it sends the client to log in."""
    r = client.get("/data")
    if r.status_code == 200:
        assert r.json["user"] == "analyst1"
        return r.json["role"]
    assert r.status_code == 302 and r.headers["Location"].startswith("/login"), r.status_code
    return None


def _allowed(client) -> bool:
    return _role(client) is not None


def test_a_disabled_user_loses_access_once_the_entry_ages_out(guarded):
    g = guarded
    c = g.login()
    assert _allowed(c)
    U.set_disabled(g.store, "analyst1")
    g.clock.now += TTL - 1
    assert _allowed(c), "within the time to live the cached entry answers (the documented window)"
    g.clock.now += 1
    assert not _allowed(c), "one time to live after the last read the store is asked and says disabled"
    assert len(g.cache) == 0
    U.set_disabled(g.store, "analyst1", False)
    assert not _allowed(c), "the refused session was cleared: enabling the user again needs a new log-in"
    assert _allowed(g.login())


def test_log_out_drops_its_own_session_entry_only(guarded):
    g = guarded
    a, b = g.login(), g.login()
    assert _allowed(a) and _allowed(b)
    assert len(g.cache) == 2
    assert a.post("/logout").status_code == 302
    assert len(g.cache) == 1
    assert not _allowed(a)
    assert _allowed(b)


def test_an_entry_is_read_again_after_the_ttl_and_sees_a_changed_role(guarded):
    g = guarded
    c = g.login()
    assert _role(c) == "analyst"
    with g.store.begin() as conn:
        conn.execute(sa.update(T.users).where(T.users.c.user_id == "analyst1").values(role="display"))
    assert _role(c) == "analyst"
    g.clock.now += TTL
    assert _role(c) == "display"
