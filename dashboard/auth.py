"""Log-in (登录) for every page, callback, REST route and download of the server.

:func:`install` puts a guard in front of the Flask server behind the Dash app: nothing but the log-in
page, the health check and the log-in route's own POST answers an anonymous request. Pages redirect to
``/login?next=…``; anything else (``/_dash-*``, ``/api/…``, downloads, assets) gets ``401`` JSON.

Sessions (会话) live on the server, in the store (:mod:`data.store.sessions`), shared by every server
process: the cookie ``onemap_session`` holds only a random 256-bit session id (HttpOnly, SameSite=Lax,
``Secure`` with ``ONEMAP_SECURE_COOKIES`` or an ``https://`` ``ONEMAP_PUBLIC_URL``, which also turn on
``Strict-Transport-Security``). ``POST /logout`` revokes its session; ``onemap users disable``, ``onemap
users passwd`` and a user's own password change (``/password``) revoke every session of the user, on
every device. Sessions end after ``ONEMAP_SESSION_IDLE_MINUTES`` unused and ``ONEMAP_SESSION_MAX_HOURS``
after log-in (``ONEMAP_SESSION_MAX_HOURS_DISPLAY`` for video-wall accounts). A revoked or expired
cookie is refused like no cookie (and deleted).

Each request's session is checked in the store (one primary-key lookup; ``last_seen`` written at most
once a minute) at most once every :data:`PRINCIPAL_TTL_S` seconds per session (:class:`PrincipalCache`).
So a revocation takes effect at once in the process that made it (log-out and password change drop
the entries of the sessions they end) and within :data:`PRINCIPAL_TTL_S` seconds in every other
process (``onemap users disable`` run from a shell, another server worker).

When the store cannot be read (:func:`data.store.base.is_unavailable`) and the session's entry has aged
out, the user cannot be checked: ``/api/…`` answers ``503`` JSON; pages and Dash requests go through
with no principal and :func:`store_unavailable` true, so the screens say "数据暂不可用，请稍后刷新" and the
video wall keeps its last good figures instead of getting a ``500``. No data is served without a
principal checked in the last :data:`PRINCIPAL_TTL_S` seconds. A log-out during an outage deletes the
browser's cookie and the process's cache entry and answers ``503``; the store's row cannot be revoked
then, and ends by its idle time.

Failed log-ins (no account enumeration: an unknown, disabled or locked account answers byte for byte
like a wrong password, after the same scrypt work; see :func:`data.store.users.authenticate`): the
lock-out per (account, client address) and the slow-down per account are counted in the store; failed
log-ins per client address, across accounts, are limited by Flask-Limiter (:data:`LOGIN_LIMIT`, counted
in ``ONEMAP_RATELIMIT_STORAGE``: ``memory://`` per process, ``redis://…`` for several processes). The
client address is the peer's, or behind a trusted proxy the one it appended to ``X-Forwarded-For``
(:func:`client_address`).

The logged-in :class:`~data.access.Principal` is :func:`current_principal`; its ``scope`` is what every
store query of the request must use. Every log-in, log-out and password change is written to the audit
log.

Trusted-header single sign-on (统一身份认证, off by default; :func:`sso_login`): behind a reverse proxy that
authenticates users against a site's unified identity system, a request *from one of the trusted proxy
addresses* carrying the configured header (e.g. ``X-Remote-User``) logs in the local user of that name,
who must exist and be enabled (role and unit come from the local users table; nobody is created). The
same header from any other address is ignored and logged.
"""

from __future__ import annotations

import datetime as dt
import html
import ipaddress
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import flask
from flask_limiter import Limiter

from data import settings
from data.access import Principal
from data.store import sessions as S
from data.store import users as U
from data.store.base import Store, is_unavailable

log = logging.getLogger(__name__)

#: Paths answered without a log-in.
PUBLIC_PATHS = ("/login", "/healthz")
#: The session cookie (its value: the session id, nothing else).
COOKIE_NAME = "onemap_session"
#: Failed log-ins per client address, across accounts, before ``429`` (Flask-Limiter notation).
LOGIN_LIMIT = "10 per minute;60 per hour"
#: Seconds a session, once checked in the store, is trusted before it is checked again.
PRINCIPAL_TTL_S = 5.0
#: What a user is told when the store cannot be read.
STORE_DOWN_MESSAGE = "数据暂不可用，请稍后刷新 (the data store cannot be reached)"


class PrincipalCache:
    """The logged-in user of each session, checked in the store at most once per ``ttl`` seconds.

    Entries are keyed by the session id, so two sessions of one user are separate and log-out
    (:meth:`forget`) drops exactly its own; :meth:`forget_user` drops every session of a user (password
    change). A session revoked by another process, or whose user was disabled or moved to another unit,
    keeps what the entry says for at most ``ttl`` seconds after the entry was read: that is how long it
    may keep access there. A refused session is never cached (every request asks again), and a failed
    read caches nothing and raises.

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
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str, load: Callable[[str], Principal | None]) -> Principal | None:
        """The principal of session ``session_id``, from the entry while it is fresh.

        Parameters
        ----------
        session_id : str
        load : callable
            Checks the session in the store (``None``: unknown, revoked, expired, user disabled); its
            errors propagate.

        Returns
        -------
        Principal or None
        """
        now = self._clock()
        with self._lock:
            hit = self._entries.get(session_id)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        found = load(session_id)
        with self._lock:
            self._entries.pop(session_id, None)  # re-inserted last: the dict keeps read order
            if found is None:
                return None
            self._entries[session_id] = (now, found)
            while len(self._entries) > self.max_entries:
                del self._entries[next(iter(self._entries))]
        return found

    def forget(self, session_id: str) -> None:
        """Drop the entry of one session (log-out)."""
        with self._lock:
            self._entries.pop(session_id, None)

    def forget_user(self, user_id: str) -> None:
        """Drop the entries of every session of ``user_id`` (password change, disabling)."""
        with self._lock:
            for key in [k for k, (_, who) in self._entries.items() if who.user_id == user_id]:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


def store_unavailable() -> bool:
    """True when the current request's user could not be checked because the store cannot be read."""
    return flask.has_request_context() and bool(flask.g.get("store_unavailable"))


def secret_key(folder: Path) -> bytes:
    """The server's Flask signing key, created once (mode 0600) in ``folder`` (the session cookie holds
    no signed data, but Flask and extensions may sign other things)."""
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
#: ``GET /password``: a user changes their own password (every other session of theirs ends).
PASSWORD_PAGE = (
    _PAGE_HEAD.replace("{title}", "修改密码")
    + """<form method="post" action="/password"><h1>修改密码</h1>
<label for="current">当前密码</label><input id="current" name="current" type="password"
 autocomplete="current-password" required>
<label for="new">新密码（至少 8 位）</label><input id="new" name="new" type="password"
 autocomplete="new-password" minlength="8" required>
<button type="submit">修改密码</button>
<div class="err">{error}</div>
</form></body></html>"""
)


def install(
    server: flask.Flask,
    get_store: Callable[[], Store],
    *,
    key: bytes,
    secure_cookies: bool = False,
    login_limit: str = LOGIN_LIMIT,
    ratelimit_storage: str = settings.RATELIMIT_STORAGE,
    sso_header: str = "",
    trusted_proxies: Iterable[str] = (),
    principals: PrincipalCache | None = None,
    lifetime: S.Lifetime | None = None,
    clock: Callable[[], dt.datetime] = S.now,
) -> PrincipalCache:
    """Require a log-in for everything the server answers but :data:`PUBLIC_PATHS`.

    Parameters
    ----------
    server : flask.Flask
    get_store : callable
        Returns the open store (users and sessions live there).
    key : bytes
        Flask's signing key (:func:`secret_key`).
    secure_cookies : bool
        Mark the session cookie ``Secure`` (behind HTTPS).
    login_limit : str
        Failed log-ins per client address, across accounts (Flask-Limiter notation, default
        :data:`LOGIN_LIMIT`).
    ratelimit_storage : str
        Where Flask-Limiter counts (``memory://``, ``redis://…``; ``ONEMAP_RATELIMIT_STORAGE``).
    sso_header : str
        Trusted-header single sign-on: the header naming the user (default empty: off).
    trusted_proxies : iterable of str
        Addresses or networks of the reverse proxies allowed to send ``sso_header`` and
        ``X-Forwarded-For`` (:func:`parse_proxies`).
    principals : PrincipalCache, optional
        Where the sessions' users are kept between store checks (default one with
        :data:`PRINCIPAL_TTL_S`).
    lifetime : data.store.sessions.Lifetime, optional
        Idle time and absolute lifetime of sessions (default from the settings).
    clock : callable
        The store's time now (tests move it instead of sleeping).

    Returns
    -------
    PrincipalCache
        The cache in use.
    """
    principals = PrincipalCache() if principals is None else principals
    lifetime = lifetime or S.Lifetime()
    server.secret_key = key
    server.config.update(ONEMAP_TRUSTED_PROXIES=parse_proxies(trusted_proxies))
    cookie = {"httponly": True, "samesite": "Lax", "secure": bool(secure_cookies), "path": "/"}
    sso = sso_login(get_store, sso_header, principals, clock) if sso_header else None

    def check(session_id: str) -> Principal | None:
        return S.check(get_store(), session_id, at=clock(), lifetime=lifetime)

    @server.before_request
    def _guard():
        path = flask.request.path
        flask.g.principal = None
        session_id = flask.request.cookies.get(COOKIE_NAME)
        if session_id:
            try:
                flask.g.principal = principals.get(session_id, check)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("cannot check a session: the store is unavailable (%s)", exc)
                flask.g.store_unavailable = True
            else:
                if flask.g.principal is None:
                    flask.g.session_cookie = ""  # refused: the browser drops it
                else:
                    flask.g.session_id = session_id
        if sso is not None:
            refused = sso()
            if refused is not None:
                return refused
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

    @server.after_request
    def _cookie(resp: flask.Response) -> flask.Response:
        value = flask.g.get("session_cookie")
        if value:
            resp.set_cookie(COOKIE_NAME, value, **cookie)
        elif value == "":
            resp.delete_cookie(COOKIE_NAME, **cookie)
        return resp

    @server.route("/healthz")
    def _health():
        return flask.jsonify(status="ok")

    def answer(status: int, error: str, message: str, target: str = "/", page: str = LOGIN_PAGE):
        if flask.request.is_json:
            return flask.jsonify(error=error, message=message), status
        body = page.format(next=html.escape(target), error=html.escape(message))
        return body, status, {"Content-Type": "text/html; charset=utf-8"}

    def breach(_limit) -> flask.Response:
        resp = flask.make_response(answer(429, "rate_limited", U.THROTTLED_MESSAGE, _form_next()))
        resp.headers["Retry-After"] = "60"
        return resp

    limiter = Limiter(client_address_key, app=server, storage_uri=ratelimit_storage, strategy="moving-window")
    per_address = limiter.limit(
        login_limit, methods=["POST"], deduct_when=lambda r: r.status_code == 401, on_breach=breach
    )

    @server.route("/login", methods=["GET", "POST"])
    @per_address
    def _login():
        req = flask.request
        if req.method == "GET":
            return _page(_safe_next(req.args.get("next")), "")
        data = _form()
        user, password = str(data.get("user", "")), str(data.get("password", ""))
        target = _form_next()
        try:
            if not user or len(user) > 64 or "\x00" in user or len(password) > 1024:
                U.verify_password(password[:1024], U._DUMMY_HASH)  # the same work as any refusal
                raise U.LoginError("malformed")
            who = U.authenticate(get_store(), user, password, address=client_address(), now=clock())
        except U.LoginThrottled as exc:
            log.warning("log-in to %r from %s slowed: %s", user[:70], client_address(), exc.reason)
            resp = flask.make_response(answer(429, "rate_limited", str(exc), target))
            resp.headers["Retry-After"] = str(exc.retry_after)
            return resp
        except U.LoginError as exc:
            log.info("log-in to %r from %s refused: %s", user[:70], client_address(), exc.reason)
            return answer(401, "login_failed", U.FAILED_MESSAGE, target)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("log-in of %s: the store is unavailable (%s)", user, exc)
            return answer(503, "store_unavailable", STORE_DOWN_MESSAGE, target)
        _end_session(get_store, principals)
        start_session(get_store(), who, "password", clock())
        if req.is_json:
            return flask.jsonify(
                user=who.user_id, role=who.role, unit_code=who.unit_code, staff_id=who.staff_id
            )
        return flask.redirect(target)

    @server.route("/logout", methods=["POST", "GET"])
    def _logout():
        if flask.request.method == "GET":
            return flask.Response(LOGOUT_PAGE, mimetype="text/html")
        who = current_principal()
        try:
            _end_session(get_store, principals)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("log-out: the store is unavailable (%s)", exc)
            flask.g.session_cookie = ""
            return answer(503, "store_unavailable", STORE_DOWN_MESSAGE)
        if who is not None:
            get_store().append_audit(who.user_id, "logout", None, address=client_address())
        return flask.redirect("/login")

    @server.route("/password", methods=["GET", "POST"])
    def _password():
        who = current_principal()
        if who is None:  # only while the store is down (the guard let the request through)
            return answer(503, "store_unavailable", STORE_DOWN_MESSAGE, page=PASSWORD_PAGE)
        if flask.request.method == "GET":
            return PASSWORD_PAGE.format(error=""), 200, {"Content-Type": "text/html; charset=utf-8"}
        data = _form()
        current, new = str(data.get("current", ""))[:1024], str(data.get("new", ""))[:1024]
        store = get_store()
        try:
            U.authenticate(store, who.user_id, current, address=client_address(), now=clock())
        except U.LoginThrottled as exc:
            return answer(429, "rate_limited", str(exc), page=PASSWORD_PAGE)
        except U.LoginError:
            return answer(403, "wrong_password", "当前密码错误 (wrong current password)", page=PASSWORD_PAGE)
        try:
            ended = U.set_password(store, who.user_id, new)
        except ValueError as exc:
            return answer(400, "bad_password", f"新密码不符合要求 ({exc})", page=PASSWORD_PAGE)
        principals.forget_user(who.user_id)
        store.append_audit(
            who.user_id, "password_change", None, address=client_address(), detail={"sessions_ended": ended}
        )
        start_session(store, who, "password_change", clock())  # this device stays logged in
        if flask.request.is_json:
            return flask.jsonify(ok=True, sessions_ended=ended)
        return flask.redirect("/")

    return principals


def _form() -> Mapping:
    """The request's JSON object or form (an empty mapping for anything else)."""
    req = flask.request
    data = req.get_json(silent=True) if req.is_json else req.form
    return data if isinstance(data, Mapping) else {}


def _form_next() -> str:
    return _safe_next(_form().get("next"))


def start_session(store: Store, who: Principal, via: str, at: dt.datetime) -> str:
    """Start a server-side session for ``who`` (the response sets its cookie), audit the log-in."""
    address = client_address()
    session_id = S.create(store, who.user_id, via=via, address=address, at=at)
    flask.g.principal, flask.g.session_id, flask.g.session_cookie = who, session_id, session_id
    if via != "password_change":
        audit_login(store, who.user_id, via)
    return session_id


def _end_session(get_store: Callable[[], Store], principals: PrincipalCache) -> None:
    """Revoke the request's session (if any) in the store and the cache; the browser drops the cookie."""
    session_id = flask.request.cookies.get(COOKIE_NAME)
    flask.g.session_cookie = ""
    if session_id:
        principals.forget(session_id)
        S.revoke(get_store(), session_id)


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


def client_address_key() -> str:
    """The key Flask-Limiter counts a request under: :func:`client_address`."""
    return client_address() or "?"


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


def sso_login(
    get_store: Callable[[], Store],
    header: str,
    principals: PrincipalCache | None = None,
    clock: Callable[[], dt.datetime] = S.now,
) -> Callable[[], flask.Response | None]:
    """A function the log-in guard calls, after reading the session, to log in the user a trusted proxy
    names in ``header``.

    A request from a trusted proxy (:func:`install`'s ``trusted_proxies``) with the header: the local
    user of that name is logged in (a new server-side session, audit entry ``login`` via ``sso``) unless
    the session is theirs already; an unknown or disabled user gets ``403`` and the request's session is
    revoked. The header from any other address is ignored (and logged). Without the header nothing
    changes (local log-in).
    """
    principals = principals if principals is not None else PrincipalCache()

    def _sso() -> flask.Response | None:
        req = flask.request
        name = req.headers.get(header)
        if name is None:
            return None
        if not _trusted(req.remote_addr):
            log.warning("ignored %s header from untrusted address %s", header, req.remote_addr)
            return None
        name = name.strip()
        current = flask.g.get("principal")
        if name and current is not None and current.user_id == name:
            return None
        flask.g.principal = None
        try:
            _end_session(get_store, principals)
            store = get_store()
            who = U.principal(store, name) if _USER_ID.fullmatch(name) else None
            if who is not None:
                start_session(store, who, "sso", clock())
                return None
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("single sign-on of %r: the store is unavailable (%s)", name[:70], exc)
            flask.g.store_unavailable = True
            return None
        log.warning(
            "single sign-on refused for %r from %s: no enabled local user", name[:70], req.remote_addr
        )
        msg = "统一身份用户在本系统中不存在或已停用 (no enabled local user of that name)"
        if req.path.startswith(("/_dash", "/api/")):
            return flask.make_response(flask.jsonify(error="sso_unknown_user", message=msg), 403)
        return flask.make_response(
            f"<!doctype html><meta charset=utf-8><title>无权访问</title><p>{html.escape(msg)}</p>", 403
        )

    return _sso
