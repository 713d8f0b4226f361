"""Trusted-header single sign-on (统一身份认证) behind a reverse proxy, on both stores: off by default,
honoured only from the trusted proxies, only for existing enabled local users, every log-in audited."""

from __future__ import annotations

import logging

import flask
import pytest

from dashboard import auth
from dashboard.api import API_PREFIX, api_blueprint
from data.store import users as U

HEADER = "X-Remote-User"
PROXY, OTHER = "10.0.0.5", "192.168.7.7"
PASSWORD = "sso-test-pass-1"


def _server(store, **sso) -> flask.Flask:
    server = flask.Flask(__name__)
    auth.install(server, lambda: store, key=b"s" * 32, login_limit="1000 per minute", **sso)
    server.register_blueprint(api_blueprint(lambda: store))

    @server.route("/page")
    def _page():
        return "ok"

    return server


@pytest.fixture
def sso(store):
    """A server with single sign-on on (proxy 10.0.0.5 and the network 10.9.0.0/24), and three users."""
    county = store.units("county").unit_code.iloc[0]
    for user in ("li.si", "zhao", "wang"):
        U.add_user(store, user, PASSWORD, "analyst", county)
    U.set_disabled(store, "zhao")
    return _server(store, sso_header=HEADER, trusted_proxies=[PROXY, "10.9.0.0/24"])


def _client(server: flask.Flask, address: str):
    """A test client whose requests come from ``address``."""
    client = server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _logins(store, via=None):
    frame = store.audit_entries(filters={"action": "login"}).frame
    if via is not None:
        frame = frame[frame.detail.str.contains(f'"{via}"')]
    return frame


def _me(client, user=None, **headers):
    if user is not None:
        headers[HEADER] = user
    return client.get(f"{API_PREFIX}/me", headers=headers)


def test_a_trusted_proxy_logs_in_existing_enabled_users_only(sso, store):
    proxy = _client(sso, PROXY)
    r = _me(proxy, "li.si", **{"X-Forwarded-For": "1.2.3.4, 172.16.0.9"})
    assert r.status_code == 200 and (r.json["user_id"], r.json["role"]) == ("li.si", "analyst")
    entry = _logins(store, "sso").iloc[0]
    assert (entry.actor, entry.address) == ("li.si", "172.16.0.9")  # the address the proxy saw
    for _ in range(3):  # the session holds: no log-in per request
        assert _me(proxy, "li.si").json["user_id"] == "li.si"
    assert len(_logins(store, "sso")) == 1
    # the header decides who it is: another name switches the session
    assert _me(proxy, "wang").json["user_id"] == "wang"
    # a proxy inside the trusted network
    assert _me(_client(sso, "10.9.0.77"), "wang").status_code == 200
    # unknown, disabled and malformed names are refused, and the earlier session is gone
    for name in ("ghost", "zhao", "' OR 1=1 --", "li si", "x" * 65, ""):
        r = _me(proxy, name)
        assert (r.status_code, r.json["error"]) == (403, "sso_unknown_user"), name
        assert _me(proxy).status_code == 401
    page = proxy.get("/page", headers={HEADER: "ghost"})
    assert page.status_code == 403 and "不存在或已停用" in page.get_data(as_text=True)
    assert set(_logins(store, "sso").actor) == {"li.si", "wang"}


def test_the_header_is_ignored_from_other_addresses_and_when_sso_is_off(sso, store, caplog):
    other = _client(sso, OTHER)
    with caplog.at_level(logging.WARNING, logger="dashboard.auth"):
        r = _me(other, "li.si", **{"X-Forwarded-For": PROXY})
    assert r.status_code == 401 and "untrusted address 192.168.7.7" in caplog.text
    # a local log-in from there stays who it is, whatever the header says
    assert other.post("/login", json={"user": "wang", "password": PASSWORD}).status_code == 200
    assert _me(other, "li.si").json["user_id"] == "wang"
    assert _logins(store, "sso").empty
    entry = _logins(store, "password").iloc[0]
    assert (entry.actor, entry.address) == ("wang", OTHER)  # an untrusted X-Forwarded-For is not believed
    # off by default: the header from the proxy's address means nothing
    off = _client(_server(store), PROXY)
    assert _me(off, "li.si").status_code == 401
    assert _logins(store, "sso").empty


def test_bad_proxy_settings_are_refused_naming_the_entry():
    assert [str(n) for n in auth.parse_proxies(["10.0.0.5", " 10.1.0.0/16 ", "::1"])] == [
        "10.0.0.5/32",
        "10.1.0.0/16",
        "::1/128",
    ]
    with pytest.raises(ValueError, match=r"'proxy\.local' is not an IP address"):
        auth.parse_proxies(["10.0.0.5", "proxy.local"])
