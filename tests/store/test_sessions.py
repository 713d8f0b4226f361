"""Server-side sessions and log-in defences on both stores, tried as an attacker would.

A cookie saved before log-out, disabling or a password change is replayed on a page, a Dash callback
and the REST API; sessions idle out and age out on an injected clock (no sleeping); failed log-ins of an
unknown, disabled or locked account are byte-identical to a wrong password and cost one scrypt each;
an attacker at one address cannot lock the owner out at another, nor escape the count by forging
``X-Forwarded-For``; the cookie is ``Secure`` when configured.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from types import SimpleNamespace

import flask
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dashboard import auth
from dashboard.api import API_PREFIX, api_blueprint
from data.store import open_store
from data.store import sessions as S
from data.store import tables as T
from data.store import users as U
from onemap import cli

PASSWORD = "session-pass-1"
TTL = 5.0
LIFETIME = S.Lifetime(idle_minutes=30, max_hours=12, display_max_hours=72)
PROXY = "10.0.0.5"


class Clock:
    """The store's time and the principal cache's monotonic clock, moved together by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 9, 0, 0)

    def __call__(self) -> dt.datetime:
        return self.now

    def monotonic(self) -> float:
        return self.now.timestamp()

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def _server(store, clock: Clock, ttl: float = TTL, **options) -> tuple[flask.Flask, auth.PrincipalCache]:
    server = flask.Flask(__name__)
    options.setdefault("login_limit", "1000 per minute")
    cache = auth.install(
        server,
        lambda: store,
        key=b"k" * 32,
        principals=auth.PrincipalCache(ttl, clock=clock.monotonic),
        lifetime=LIFETIME,
        clock=clock,
        **options,
    )
    server.register_blueprint(api_blueprint(lambda: store))

    @server.route("/page")
    def _page():
        return "ok"

    @server.route("/_dash-update-component", methods=["POST"])
    def _callback():  # stands for Dash's route: the guard answers before it
        return flask.jsonify(response={"who": auth.current_principal().user_id})

    return server, cache


@pytest.fixture
def site(store):
    """A guarded server on an injected clock, users ``alice`` (analyst), ``wall`` (display), ``dora``
    (disabled), and ``.login(user, address)`` giving a logged-in client."""
    county = store.units("county").unit_code.iloc[0]
    for user, role in (("alice", "analyst"), ("bob", "analyst"), ("wall", "display"), ("dora", "analyst")):
        U.add_user(store, user, PASSWORD, role, county)
    U.set_disabled(store, "dora")
    clock = Clock()
    server, cache = _server(store, clock)

    def login(user="alice", address="127.0.0.1", password=PASSWORD, srv=None):
        c = _client(srv or server, address)
        r = c.post("/login", json={"user": user, "password": password})
        assert r.status_code == 200, r.get_data(as_text=True)
        return c

    return SimpleNamespace(store=store, server=server, cache=cache, clock=clock, login=login)


def _client(server: flask.Flask, address: str = "127.0.0.1"):
    c = server.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return c


def _cookie(client) -> str:
    return client.get_cookie(auth.COOKIE_NAME).value


def _replay(server, session_id: str):
    """A fresh browser presenting a saved cookie."""
    c = server.test_client()
    c.set_cookie(auth.COOKIE_NAME, session_id)
    return c


def _answers(client) -> tuple:
    """(page, Dash callback, REST) statuses, a page refusal shown as 'login'."""
    page = client.get("/page")
    status = "login" if page.status_code == 302 and page.headers["Location"].startswith("/login") else 0
    callback = client.post("/_dash-update-component", json={"output": "x", "inputs": []})
    api = client.get(f"{API_PREFIX}/me")
    return (page.status_code if page.status_code == 200 else status, callback.status_code, api.status_code)


SERVED, REFUSED = (200, 200, 200), ("login", 401, 401)


# ---------------------------------------------------------------------- revocation
def test_a_cookie_saved_before_log_out_is_refused_everywhere(site):
    laptop, phone = site.login(), site.login()
    saved = _cookie(laptop)
    assert _answers(laptop) == SERVED and _answers(_replay(site.server, saved)) == SERVED
    assert laptop.post("/logout").status_code == 302
    # at once in this process (no clock moved), and in another process once its cache ages out
    assert _answers(_replay(site.server, saved)) == REFUSED
    other, _ = _server(site.store, site.clock)
    assert _answers(_replay(other, saved)) == REFUSED
    assert _answers(laptop) == REFUSED  # the browser dropped it
    assert _answers(phone) == SERVED  # the other device keeps its own session
    # logging in again gives a new id; the old one stays dead
    again = site.login()
    assert _cookie(again) != saved and _answers(_replay(site.server, saved)) == REFUSED


def test_disabling_ends_every_session_of_the_user(site, monkeypatch):
    laptop, phone, bob = site.login(), site.login(address="10.2.0.9"), site.login("bob")
    saved = [_cookie(laptop), _cookie(phone)]
    assert all(_answers(_replay(site.server, s)) == SERVED for s in saved)
    url = site.store.engine.url.render_as_string(hide_password=False)
    monkeypatch.setattr(cli, "_open_store", lambda folder, url_=None: open_store(url))
    result = CliRunner().invoke(cli.main, ["users", "disable", "alice"])
    assert result.exit_code == 0 and "2 session(s) ended" in result.output, result.output
    site.clock.advance(seconds=TTL - 1)
    assert _answers(laptop) == SERVED, "within the cache's time to live (the documented window)"
    site.clock.advance(seconds=1)
    for c in (laptop, phone, _replay(site.server, saved[0]), _replay(site.server, saved[1])):
        assert _answers(c) == REFUSED
    assert _answers(bob) == SERVED
    U.set_disabled(site.store, "alice", False)
    assert all(_answers(_replay(site.server, s)) == REFUSED for s in saved), "enabling revives nothing"
    assert _answers(site.login()) == SERVED


def test_a_password_change_ends_every_session_of_the_user(site, monkeypatch):
    laptop, phone, bob = site.login(), site.login(address="10.2.0.9"), site.login("bob")
    saved_laptop, saved_phone = _cookie(laptop), _cookie(phone)
    # the user's own change needs the current password (a stolen cookie alone cannot change it)
    r = laptop.post("/password", json={"current": "guess-guess", "new": "new-password-1"})
    assert r.status_code == 403 and _answers(_replay(site.server, saved_phone)) == SERVED
    r = laptop.post("/password", json={"current": PASSWORD, "new": "short"})
    assert r.status_code == 400 and "too short" in r.json["message"]
    r = laptop.post("/password", json={"current": PASSWORD, "new": "new-password-1"})
    assert r.status_code == 200 and r.json["sessions_ended"] == 2
    # at once in this process: the other device and the saved cookie of this one
    for c in (phone, _replay(site.server, saved_laptop), _replay(site.server, saved_phone)):
        assert _answers(c) == REFUSED
    assert _answers(laptop) == SERVED and _cookie(laptop) != saved_laptop  # this device, a new id
    assert _answers(bob) == SERVED
    assert (
        _client(site.server).post("/login", json={"user": "alice", "password": PASSWORD}).status_code == 401
    )
    # an administrator's `onemap users passwd` (another process): within the cache's time to live
    fresh = _cookie(laptop)
    url = site.store.engine.url.render_as_string(hide_password=False)
    monkeypatch.setattr(cli, "_open_store", lambda folder, url_=None: open_store(url))
    result = CliRunner().invoke(cli.main, ["users", "passwd", "alice", "--password", "third-password-1"])
    assert result.exit_code == 0 and "1 session(s) ended" in result.output, result.output
    site.clock.advance(seconds=TTL)
    assert _answers(laptop) == REFUSED and _answers(_replay(site.server, fresh)) == REFUSED
    assert _answers(site.login(password="third-password-1")) == SERVED
    changes = site.store.audit_entries(filters={"action": "password_change"}).frame
    assert list(changes.actor) == ["alice"]


# ---------------------------------------------------------------------- expiry
def test_a_session_idles_out(site):
    c = site.login()
    for _ in range(5):  # busy for two and a half hours: never idle
        site.clock.advance(minutes=29)
        assert _answers(c) == SERVED
    site.clock.advance(minutes=30)
    assert _answers(c) == REFUSED


def test_a_session_ages_out_however_busy_and_a_wall_lives_longer(site):
    analyst, wall = site.login(), site.login("wall")
    for _ in range(12 * 3 - 1):
        site.clock.advance(minutes=20)
        assert _answers(analyst) == SERVED and _answers(wall) == SERVED
    site.clock.advance(minutes=20)  # 12 hours after log-in
    assert _answers(analyst) == REFUSED
    assert _answers(wall) == SERVED  # display accounts: ONEMAP_SESSION_MAX_HOURS_DISPLAY (72 here)
    for _ in range(3 * (72 - 12) - 1):
        site.clock.advance(minutes=20)
        assert _answers(wall)[2] == 200
    site.clock.advance(minutes=20)
    assert _answers(wall) == REFUSED


def test_last_seen_is_written_at_most_once_a_minute(site):
    server, _ = _server(site.store, site.clock, ttl=0)  # every request checks the store
    c = site.login(srv=server)

    def last_seen():
        with site.store.connect() as conn:
            return conn.execute(sa.select(T.sessions.c.last_seen_at)).scalar_one()

    start = last_seen()
    for _ in range(5):
        site.clock.advance(seconds=11)
        assert _answers(c) == SERVED
    assert last_seen() == start
    site.clock.advance(seconds=5)
    assert _answers(c) == SERVED and last_seen() == site.clock.now


# ---------------------------------------------------------------------- the cookie
def test_the_cookie_holds_only_a_random_id_and_the_store_only_its_hash(site):
    ids = {_cookie(site.login()) for _ in range(3)}
    assert len(ids) == 3 and all(len(i) == 43 for i in ids)  # 32 random bytes, URL-safe base64
    with site.store.connect() as conn:
        rows = conn.execute(sa.select(T.sessions)).mappings().all()
    stored = {r["session_hash"] for r in rows}
    assert stored == {hashlib.sha256(i.encode()).hexdigest() for i in ids}
    assert not ids & {str(v) for r in rows for v in r.values()}, "the id itself is never stored"
    # forged cookies: a stored hash presented as the id, Flask-style signed data, junk, SQL
    forged = [*stored, "alice", "eyJ1c2VyIjoiYWxpY2UifQ.abc.def", "' OR 1=1 --", "A" * 43, "x" * 5000]
    for value in forged:
        assert _answers(_replay(site.server, value)) == REFUSED, value
    assert {r["via"] for r in rows} == {"password"}


def test_the_cookie_is_secure_when_configured(site):
    for secure in (False, True):
        server, _ = _server(site.store, site.clock, secure_cookies=secure)
        r = _client(server).post("/login", json={"user": "alice", "password": PASSWORD})
        header = r.headers["Set-Cookie"]
        assert header.startswith(auth.COOKIE_NAME + "=") and "HttpOnly" in header and "SameSite=Lax" in header
        assert ("Secure" in header) == secure, header


# ---------------------------------------------------------------------- no enumeration
def _attempt(server, user, password, form: bool, address="127.0.0.1"):
    c = _client(server, address)
    if form:
        return c.post("/login", data={"user": user, "password": password, "next": "/overview"})
    return c.post("/login", json={"user": user, "password": password})


def _same(responses) -> None:
    first = responses[0]
    for r in responses:
        headers = sorted((k, v) for k, v in r.headers.items() if k != "Date")
        assert (r.status_code, r.get_data(), headers) == (
            first.status_code,
            first.get_data(),
            sorted((k, v) for k, v in first.headers.items() if k != "Date"),
        )


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_unknown_disabled_locked_and_wrong_password_answer_alike(site, monkeypatch, form):
    U.add_user(site.store, "locky", PASSWORD, "analyst", site.store.units("county").unit_code.iloc[0])
    for _ in range(U.MAX_FAILED_LOGINS):
        _attempt(site.server, "locky", "bad-password", form)
    calls = []
    scrypt = U._scrypt
    monkeypatch.setattr(U, "_scrypt", lambda *a: calls.append(a[0]) or scrypt(*a))
    cases = {
        "wrong password": ("alice", "bad-password"),
        "unknown": ("ghost", PASSWORD),
        "unknown, plausible": ("alice2", "bad-password"),
        "disabled, right password": ("dora", PASSWORD),
        "disabled, wrong password": ("dora", "bad-password"),
        "locked, right password": ("locky", PASSWORD),
        "malformed": ("x" * 65, PASSWORD),
    }
    answers = []
    for what, (user, password) in cases.items():
        before = len(calls)
        answers.append(_attempt(site.server, user, password, form))
        assert len(calls) == before + 1, f"{what}: one scrypt, as for a real account"
    assert answers[0].status_code == 401 and "wrong user name or password" in answers[0].get_data(
        as_text=True
    )
    _same(answers)
    assert auth.COOKIE_NAME not in answers[0].headers.get("Set-Cookie", "")


# ---------------------------------------------------------------------- lock-out
def test_an_attacker_at_one_address_cannot_lock_the_owner_out(site):
    server, _ = _server(site.store, site.clock, login_limit=auth.LOGIN_LIMIT)  # the real limit
    attacker = "10.66.0.1"
    guesses = [_attempt(server, "alice", f"guess-{i}", False, attacker).status_code for i in range(5)]
    assert guesses == [401] * U.MAX_FAILED_LOGINS
    # the pair is locked: even the right password from there is refused, like a wrong one
    assert _attempt(server, "alice", PASSWORD, False, attacker).status_code == 401
    more = [_attempt(server, "alice", f"guess-{i}", False, attacker).status_code for i in range(5)]
    assert more == [401, 401, 401, 401, 429]  # and 10 failures a minute from one address: 429
    # the owner, at their own address, is not locked out, and neither is anyone else
    assert _attempt(server, "alice", PASSWORD, False, "10.2.0.9").status_code == 200
    assert _attempt(server, "bob", PASSWORD, False, "10.2.0.10").status_code == 200
    # one address trying many accounts meets the per-address limit, not the accounts' owners
    sprayer = "10.66.0.2"
    sprayed = [_attempt(server, f"user{i}", "password-1", False, sprayer).status_code for i in range(12)]
    assert sprayed[:10] == [401] * 10 and sprayed[10:] == [429, 429]
    assert _attempt(server, "bob", PASSWORD, False, "10.2.0.11").status_code == 200


def test_the_pair_lock_holds_for_its_minutes_then_lifts(site):
    attacker = "10.66.0.3"
    for i in range(U.MAX_FAILED_LOGINS):
        assert _attempt(site.server, "alice", f"guess-{i}", False, attacker).status_code == 401
    site.clock.advance(minutes=U.LOCK_MINUTES - 1)
    assert _attempt(site.server, "alice", PASSWORD, False, attacker).status_code == 401
    site.clock.advance(minutes=1)
    assert _attempt(site.server, "alice", PASSWORD, False, attacker).status_code == 200


def test_an_account_attacked_from_many_addresses_is_slowed_not_locked(site):
    for name in ("alice", "nobody"):  # a real and an unknown account, under the same attack
        for i in range(U.ACCOUNT_SLOW_AFTER + 1):
            r = _attempt(site.server, name, f"guess-{i}", False, f"10.9.{i // 250}.{i % 250 + 1}")
            assert r.status_code == 401
    site.clock.advance(seconds=1)
    slowed = [_attempt(site.server, n, PASSWORD, False, "10.2.0.9") for n in ("alice", "nobody")]
    assert [r.status_code for r in slowed] == [429, 429]
    assert slowed[0].get_data() == slowed[1].get_data(), "an unknown name is slowed alike"
    assert slowed[0].headers["Retry-After"] == str(U.ACCOUNT_SLOW_SECONDS - 1)
    site.clock.advance(seconds=U.ACCOUNT_SLOW_SECONDS)
    assert _attempt(site.server, "alice", PASSWORD, False, "10.2.0.9").status_code == 200, "not locked"


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(site):
    server, _ = _server(site.store, site.clock, login_limit=auth.LOGIN_LIMIT, trusted_proxies=[PROXY])

    def via_proxy(user, password, client, peer=PROXY):
        c = _client(server, peer)
        return c.post(
            "/login", json={"user": user, "password": password}, headers={"X-Forwarded-For": client}
        )

    # behind the proxy: the address the proxy appended is the one locked and rate-limited
    for i in range(10):
        assert via_proxy("alice", f"guess-{i}", "1.1.1.1").status_code == 401
    assert via_proxy("alice", PASSWORD, "1.1.1.1").status_code == 429
    assert via_proxy("alice", PASSWORD, "2.2.2.2").status_code == 200, "the proxy is not one address"
    # a client claiming an address before the proxy's entry is not believed
    assert via_proxy("alice", PASSWORD, "2.2.2.2, 1.1.1.1").status_code == 429
    # from an untrusted peer the header is ignored: rotating it does not escape the count
    outsider = "192.168.7.7"
    for i in range(10):
        assert via_proxy("bob", f"guess-{i}", f"3.3.3.{i}", peer=outsider).status_code == 401
    assert via_proxy("bob", PASSWORD, "4.4.4.4", peer=outsider).status_code == 429
    with site.store.connect() as conn:
        f = T.login_failures
        counted = set(conn.execute(sa.select(f.c.account, f.c.address).where(f.c.address != "*")).all())
    assert counted == {("alice", "1.1.1.1"), ("bob", outsider)}
