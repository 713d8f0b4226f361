"""Log-in (登录) for every page, callback, REST route and download of the server.

:func:`install` puts a guard in front of the Flask server behind the Dash app: nothing but the log-in
page, the health check and the log-in route's own POST answers an anonymous request. Pages redirect to
``/login?next=…``; anything else (``/_dash-*``, ``/api/…``, downloads, assets) gets ``401`` JSON. The
session is Flask's signed cookie holding the user id and a random session id (HttpOnly, SameSite=Lax,
Secure when configured); the user is read from the store at most once every :data:`PRINCIPAL_TTL_S`
seconds per session (:class:`PrincipalCache`), so a user disabled with ``onemap users disable`` loses
access within that many seconds, and log-out drops its session's entry at once. Wrong passwords are
counted per account (lock-out in :mod:`data.store.users`) and per client address (:class:`RateLimiter`).

When the store cannot be read (:func:`data.store.base.is_unavailable`) and the session's entry has aged
out, the user cannot be checked: ``/api/…`` answers ``503`` JSON; pages and Dash requests go through
with no principal and :func:`store_unavailable` true, so the screens say "数据暂不可用，请稍后刷新" and the
video wall keeps its last good figures instead of getting a ``500``. No data is served without a
principal checked in the last :data:`PRINCIPAL_TTL_S` seconds.

The logged-in :class:`~data.access.Principal` is :func:`current_principal`; its ``scope`` is what every
store query of the request must use. Every log-in is written to the audit log.

Trusted-header single sign-on (统一身份认证, off by default; :func:`sso_login`): behind a reverse proxy that
authenticates users against a site's unified identity system, a request *from one of the trusted proxy
addresses* carrying the configured header (e.g. ``X-Remote-User``) logs in the local user of that name,
who must exist and be enabled (role and unit come from the local users table; nobody is created). The
same header from any other address is ignored and logged.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import flask

from data.access import Principal
from data.store import users as U
from data.store.base import Store, is_unavailable

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)

#: Paths answered without a log-in.
PUBLIC_PATHS = ("/login", "/healthz")
#: Failed log-ins per client address per window before ``429``.
RATE_LIMIT, RATE_WINDOW_S = 10, 60.0
#: Seconds a session's user, once read from the store, is trusted before it is read again.
PRINCIPAL_TTL_S = 5.0
#: What a user is told when the store cannot be read.
STORE_DOWN_MESSAGE = "数据暂不可用，请稍后刷新 (the data store cannot be reached)"


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (sliding window, in memory, thread-safe)."""

    def __init__(self, limit: int = RATE_LIMIT, window: float = RATE_WINDOW_S) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """True while ``key`` has had fewer than ``limit`` events in the window."""
        t = time.monotonic() if now is None else now
        with self._lock:
            q = self._events.setdefault(key, deque())
            while q and q[0] <= t - self.window:
                q.popleft()
            return len(q) < self.limit

    def record(self, key: str, now: float | None = None) -> None:
        """Count one event (a failed log-in) for ``key``."""
        with self._lock:
            self._events.setdefault(key, deque()).append(time.monotonic() if now is None else now)


class PrincipalCache:
    """The logged-in user of each session, read from the store at most once per ``ttl`` seconds.

    Entries are keyed by the session's random id (made at log-in), so two sessions of one user are
    separate and log-out (:meth:`forget`) drops exactly its own. A user disabled or moved to another unit
    in the store keeps what the entry says for at most ``ttl`` seconds after the entry was read: that is
    how long a disabled user may keep access. A user the store no longer knows or has disabled is never
    cached (every request asks again), and a failed read caches nothing and raises.

    Parameters
    ----------
    ttl : float
        Seconds an entry is trusted (default :data:`PRINCIPAL_TTL_S`).
    max_entries : int
        Sessions kept; the least recently read are dropped first.
    clock : callable, optional
        Seconds, monotonic (default :func:`time.monotonic`).
    """

    def __init__(
        self,
        ttl: float = PRINCIPAL_TTL_S,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.max_entries, self._clock = ttl, max_entries, clock
        self._entries: dict[str, tuple[float, str, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str, user_id: str, load: Callable[[str], Principal | None]) -> Principal | None:
        """The principal of ``user_id`` in session ``session_id``, from the entry while it is fresh.

        Parameters
        ----------
        session_id : str
        user_id : str
        load : callable
            Reads the principal from the store (``None`` for an unknown or disabled user); its errors
            propagate.

        Returns
        -------
        Principal or None
        """
        now = self._clock()
        with self._lock:
            hit = self._entries.get(session_id)
            if hit is not None and hit[1] == user_id and now - hit[0] < self.ttl:
                return hit[2]
        found = load(user_id)
        with self._lock:
            if found is None:
                self._entries.pop(session_id, None)
                return None
            self._entries.pop(session_id, None)  # re-inserted last: the dict keeps read order
            self._entries[session_id] = (now, user_id, found)
            while len(self._entries) > self.max_entries:
                del self._entries[next(iter(self._entries))]
        return found

    def forget(self, session_id: str) -> None:
        """Drop the entry of one session (log-out)."""
        with self._lock:
            self._entries.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._entries)


def store_unavailable() -> bool:
    """True when the current request's user could not be checked because the store cannot be read."""
    return flask.has_request_context() and bool(flask.g.get("store_unavailable"))


def secret_key(folder: Path) -> bytes:
    """The server's session-signing key, created once (mode 0600) in ``folder``."""
    path = Path(folder) / ".onemap_secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def current_principal() -> Principal | None:
    """The logged-in user of the current request (``None`` outside a request or when anonymous)."""
    if not flask.has_request_context():
        return None
    return flask.g.get("principal")


def _safe_next(target: str | None) -> str:
    """Only same-origin relative targets after log-in (no open redirect)."""
    if not target or not isinstance(target, str):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


_PAGE_HEAD = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title} · 警网融合一张图</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{margin:0;font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;background:#0b1f3a;color:#fff;
display:flex;align-items:center;justify-content:center;height:100vh}}
form{{background:#fff;color:#1d2b3a;padding:32px 40px;border-radius:8px;width:320px}}
h1{{font-size:22px;margin:0 0 20px}} label{{display:block;margin:12px 0 4px;font-size:14px}}
input{{width:100%;box-sizing:border-box;padding:8px;font-size:15px}}
button{{margin-top:20px;width:100%;padding:10px;background:#1f5fbf;color:#fff;border:0;font-size:16px}}
.err{{color:#c0392b;margin-top:12px;font-size:14px}}
</style></head><body>
"""
LOGIN_PAGE = (
    _PAGE_HEAD.replace("{title}", "登录")
    + """<form method="post" action="/login">
<h1>警网融合一张图</h1>
<input type="hidden" name="next" value="{next}">
<label for="user">用户名</label><input id="user" name="user" autocomplete="username" required>
<label for="password">密码</label><input id="password" name="password" type="password"
 autocomplete="current-password" required>
<button type="submit">登录</button>
<div class="err">{error}</div>
</form></body></html>"""
)
#: ``GET /logout`` (a typed or bookmarked address) asks; only a same-origin POST logs out, so that a link
#: or image on another site cannot end a session.
LOGOUT_PAGE = (
    _PAGE_HEAD.replace("{title}", "退出登录").format()
    + """<form method="post" action="/logout"><h1>警网融合一张图</h1><p>确认退出登录？</p>
<button type="submit">退出登录</button></form></body></html>"""
)


def install(
    server: flask.Flask,
    get_store: Callable[[], Store],
    *,
    key: bytes,
    secure_cookies: bool = False,
    limiter: RateLimiter | None = None,
    sso_header: str = "",
    trusted_proxies: Iterable[str] = (),
    principals: PrincipalCache | None = None,
) -> PrincipalCache:
    """Require a log-in for everything the server answers but :data:`PUBLIC_PATHS`.

    Parameters
    ----------
    server : flask.Flask
    get_store : callable
        Returns the open store (users live there).
    key : bytes
        Session-signing key (:func:`secret_key`).
    secure_cookies : bool
        Mark the session cookie ``Secure`` (behind HTTPS).
    limiter : RateLimiter, optional
        Log-in attempts per client address (default :data:`RATE_LIMIT` per minute).
    sso_header : str
        Trusted-header single sign-on: the header naming the user (default empty: off).
    trusted_proxies : iterable of str
        Addresses or networks of the reverse proxies allowed to send ``sso_header`` and
        ``X-Forwarded-For`` (:func:`parse_proxies`).
    principals : PrincipalCache, optional
        Where the sessions' users are kept between store reads (default one with
        :data:`PRINCIPAL_TTL_S`).

    Returns
    -------
    PrincipalCache
        The cache in use.
    """
    limiter = limiter or RateLimiter()
    principals = PrincipalCache() if principals is None else principals
    server.secret_key = key
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        SESSION_COOKIE_NAME="onemap_session",
        ONEMAP_TRUSTED_PROXIES=parse_proxies(trusted_proxies),
    )
    if sso_header:
        server.before_request(sso_login(get_store, sso_header))

    @server.before_request
    def _guard():
        path = flask.request.path
        flask.g.principal = None
        user_id = flask.session.get("user")
        if user_id:
            session_id = str(flask.session.get("sid", ""))
            try:
                flask.g.principal = principals.get(session_id, user_id, lambda u: U.principal(get_store(), u))
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("cannot check user %s: the store is unavailable (%s)", user_id, exc)
                flask.g.store_unavailable = True
            else:
                if flask.g.principal is None:
                    flask.session.clear()
        if path in PUBLIC_PATHS or flask.g.principal is not None:
            return None
        if store_unavailable():
            if path.startswith("/api/"):
                resp = flask.jsonify(error="store_unavailable", message=STORE_DOWN_MESSAGE)
                resp.headers["Retry-After"] = "5"
                return resp, 503
            return None  # the screens and the wall answer for themselves, without a principal
        if flask.request.method == "GET" and not path.startswith(("/_dash", "/api/", "/assets")):
            query = flask.request.query_string.decode()
            target = path + ("?" + query if query else "")
            return flask.redirect("/login?next=" + _quote(target))
        return flask.jsonify(error="unauthorized", message="请先登录 (log in first)"), 401

    @server.route("/healthz")
    def _health():
        return flask.jsonify(status="ok")

    @server.route("/login", methods=["GET", "POST"])
    def _login():
        req = flask.request
        if req.method == "GET":
            return _page(_safe_next(req.args.get("next")), "")
        data = req.get_json(silent=True) if req.is_json else req.form
        if not isinstance(data, Mapping):
            data = {}
        user, password = str(data.get("user", "")), str(data.get("password", ""))
        target = _safe_next(data.get("next"))
        if not limiter.allow(req.remote_addr or "?"):
            msg = "尝试过于频繁，请稍后再试 (too many attempts)"
            return (
                (flask.jsonify(error="rate_limited", message=msg), 429)
                if req.is_json
                else (_page(target, msg), 429)
            )
        try:
            if not user or len(user) > 64 or "\x00" in user or len(password) > 1024:
                raise U.LoginError("用户名或密码错误 (wrong user name or password)")
            who = U.authenticate(get_store(), user, password)
        except U.LoginError as exc:
            limiter.record(req.remote_addr or "?")
            return (
                (flask.jsonify(error="login_failed", message=str(exc)), 401)
                if req.is_json
                else (
                    _page(target, str(exc)),
                    401,
                )
            )
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("log-in of %s: the store is unavailable (%s)", user, exc)
            return (
                (flask.jsonify(error="store_unavailable", message=STORE_DOWN_MESSAGE), 503)
                if req.is_json
                else (_page(target, STORE_DOWN_MESSAGE), 503)
            )
        principals.forget(str(flask.session.get("sid", "")))
        flask.session.clear()
        flask.session["user"] = who.user_id
        flask.session["sid"] = secrets.token_urlsafe(16)
        audit_login(get_store(), who.user_id, "password")
        if req.is_json:
            return flask.jsonify(
                user=who.user_id, role=who.role, unit_code=who.unit_code, staff_id=who.staff_id
            )
        return flask.redirect(target)

    @server.route("/logout", methods=["POST", "GET"])
    def _logout():
        if flask.request.method == "GET":
            return flask.Response(LOGOUT_PAGE, mimetype="text/html")
        principals.forget(str(flask.session.get("sid", "")))
        flask.session.clear()
        return flask.redirect("/login")

    return principals


def _quote(target: str) -> str:
    from urllib.parse import quote

    return quote(target, safe="")


def _page(next_url: str, error: str) -> flask.Response:
    resp = flask.make_response(LOGIN_PAGE.format(next=html.escape(next_url), error=html.escape(error)))
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    return resp


# ---------------------------------------------------------------------- proxies, single sign-on, audit
_USER_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(entries: Iterable[str]) -> tuple[Network, ...]:
    """Trusted proxy addresses or networks (``10.0.0.5``, ``10.1.0.0/24``, ``::1``) as networks.

    Raises
    ------
    ValueError
        An entry that is not an address or network, named in the message.
    """
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"ONEMAP_SSO_TRUSTED_PROXIES: {entry!r} is not an IP address or network (e.g. 10.0.0.5, "
                "10.1.0.0/24)"
            ) from None
    return tuple(out)


def _trusted(address: str | None) -> bool:
    """True when ``address`` (the request's peer) is one of the configured trusted proxies."""
    networks = flask.current_app.config.get("ONEMAP_TRUSTED_PROXIES", ())
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address() -> str | None:
    """The client's address for the audit log (``None`` outside a request).

    The peer's address; when the peer is a trusted proxy, the address that proxy appended to
    ``X-Forwarded-For`` (the right-most entry: the ones before it are whatever the client claimed).
    """
    if not flask.has_request_context():
        return None
    peer = flask.request.remote_addr
    forwarded = flask.request.headers.get("X-Forwarded-For", "")
    if forwarded and _trusted(peer):
        last = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer


def audit_login(store: Store, user_id: str, via: str) -> None:
    """Write a log-in (``action="login"``) to the audit log: who, when, from where, how."""
    store.append_audit(user_id, "login", None, address=client_address(), detail={"via": via})


def sso_login(get_store: Callable[[], Store], header: str) -> Callable[[], flask.Response | None]:
    """A ``before_request`` function logging in the user a trusted proxy names in ``header``.

    A request from a trusted proxy (:func:`install`'s ``trusted_proxies``) with the header: the local
    user of that name is logged in (session, audit entry ``login`` via ``sso``) unless the session is
    theirs already; an unknown or disabled user gets ``403`` and the session is cleared. The header from
    any other address is ignored (and logged). Without the header nothing changes (local log-in).
    """

    def _sso() -> flask.Response | None:
        req = flask.request
        name = req.headers.get(header)
        if name is None:
            return None
        if not _trusted(req.remote_addr):
            log.warning("ignored %s header from untrusted address %s", header, req.remote_addr)
            return None
        name = name.strip()
        if name and flask.session.get("user") == name:
            return None
        flask.session.clear()
        who = U.principal(get_store(), name) if _USER_ID.fullmatch(name) else None
        if who is None:
            log.warning(
                "single sign-on refused for %r from %s: no enabled local user", name[:70], req.remote_addr
            )
            msg = "统一身份用户在本系统中不存在或已停用 (no enabled local user of that name)"
            if req.path.startswith(("/_dash", "/api/")):
                return flask.make_response(flask.jsonify(error="sso_unknown_user", message=msg), 403)
            return flask.make_response(
                f"<!doctype html><meta charset=utf-8><title>无权访问</title><p>{html.escape(msg)}</p>", 403
            )
        flask.session["user"] = who.user_id
        flask.session["sid"] = secrets.token_urlsafe(16)  # its own entry in the principal cache
        audit_login(get_store(), who.user_id, "sso")
        return None

    return _sso
