"""Server-side sessions (登录会话) in the store, shared by every server process and revocable.

The browser's cookie holds only a random session id (:data:`SESSION_ID_BYTES` = 32 bytes, 256 bits,
URL-safe base64); the store keeps the SHA-256 of it (table ``sessions``: user, created, last seen,
revoked), so a copy of the database gives no usable cookie. A session is valid while

* it is not revoked: log-out revokes its own row (:func:`revoke`); disabling a user and changing a
  password revoke every row of that user, on every device (:func:`revoke_user`, called by
  :func:`data.store.users.set_disabled` and :func:`~data.store.users.set_password`);
* the user exists and is enabled (read in the same primary-key query);
* it was used within the idle time (``ONEMAP_SESSION_IDLE_MINUTES``, default 30) and is younger than
  the absolute lifetime (``ONEMAP_SESSION_MAX_HOURS``, default 12). A video wall refreshes every minute
  and never idles out, but its log-in would end every 12 hours: give wall accounts (role ``display``)
  a longer lifetime with ``ONEMAP_SESSION_MAX_HOURS_DISPLAY`` (e.g. ``168``, a week) rather than raising
  everybody's. The limits are applied when a session is checked, so shortening them takes effect at
  once for existing sessions.

Checking a session (:func:`check`) is one primary-key lookup joined with the user's primary key;
``last_seen_at`` is written at most once every :data:`TOUCH_SECONDS` seconds per session (so the idle
time is measured to that precision). Why not Flask-Session's SQLAlchemy backend: it stores a pickled
blob per session keyed by the raw id (a database reader could replay it), needs Flask-SQLAlchemy beside
the store's own engine and migrations, and has no user column, so revoking every session of a user
would mean unpickling every row; the few statements here do exactly what the product needs on both
stores.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
from typing import TYPE_CHECKING

import sqlalchemy as sa

from data import settings
from data.access import Principal
from data.store import tables as T

if TYPE_CHECKING:
    from data.store.base import Store

#: Random bytes of a session id (256 bits).
SESSION_ID_BYTES = 32
#: ``last_seen_at`` is written at most once per this many seconds per session.
TOUCH_SECONDS = 60
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclasses.dataclass(frozen=True)
class Lifetime:
    """How long sessions live (defaults from :mod:`data.settings`).

    Attributes
    ----------
    idle_minutes : float
        A session unused this long ends.
    max_hours : float
        Every session ends this long after its log-in …
    display_max_hours : float
        … but those of ``display`` (video wall) accounts after this long.
    """

    idle_minutes: float = settings.SESSION_IDLE_MINUTES
    max_hours: float = settings.SESSION_MAX_HOURS
    display_max_hours: float = settings.SESSION_MAX_HOURS_DISPLAY

    def max_age(self, role: str) -> dt.timedelta:
        """The absolute lifetime of a session of a user with ``role``."""
        return dt.timedelta(hours=self.display_max_hours if role == "display" else self.max_hours)

    @property
    def longest(self) -> dt.timedelta:
        """The longest any session may live (rows older than that are purged)."""
        return dt.timedelta(hours=max(self.max_hours, self.display_max_hours))


def now() -> dt.datetime:
    """The store's clock (local time, whole seconds), as :mod:`data.store.users` uses it."""
    return dt.datetime.now().replace(microsecond=0)


def digest(session_id: str) -> str:
    """The SHA-256 (hex) of a session id: what the store keeps instead of the id."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def create(
    store: Store,
    user_id: str,
    *,
    via: str = "password",
    address: str | None = None,
    at: dt.datetime | None = None,
    lifetime: Lifetime | None = None,
) -> str:
    """Start a session of ``user_id``; returns its id (for the cookie, never stored as such).

    Rows older than the longest lifetime are deleted on the way (a cheap indexed delete).
    """
    at = at or now()
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    s = T.sessions
    with store.begin() as conn:
        old = at - (lifetime or Lifetime()).longest - dt.timedelta(days=1)
        conn.execute(sa.delete(s).where(s.c.created_at < old))
        conn.execute(
            sa.insert(s).values(
                session_hash=digest(session_id),
                user_id=user_id,
                created_at=at,
                last_seen_at=at,
                revoked_at=None,
                via=via,
                address=address,
            )
        )
    return session_id


def check(
    store: Store, session_id: str, *, at: dt.datetime | None = None, lifetime: Lifetime | None = None
) -> Principal | None:
    """The principal of a valid session; ``None`` for an unknown, revoked, idle, too old session or a
    disabled user. Marks the session seen (at most once per :data:`TOUCH_SECONDS`). Store errors
    propagate (the caller decides what an outage means)."""
    if not isinstance(session_id, str) or not _TOKEN.fullmatch(session_id):
        return None  # not one of ours: no need to ask the store
    at = at or now()
    lifetime = lifetime or Lifetime()
    s, u = T.sessions, T.users
    key = digest(session_id)
    cols = [s.c.created_at, s.c.last_seen_at, s.c.revoked_at]
    cols += [u.c.user_id, u.c.role, u.c.unit_code, u.c.staff_id, u.c.name, u.c.disabled]
    query = sa.select(*cols).join(u, u.c.user_id == s.c.user_id).where(s.c.session_hash == key)
    with store.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None or row["revoked_at"] is not None or row["disabled"]:
        return None
    if at - row["last_seen_at"] >= dt.timedelta(minutes=lifetime.idle_minutes):
        return None
    if at - row["created_at"] >= lifetime.max_age(row["role"]):
        return None
    if at - row["last_seen_at"] >= dt.timedelta(seconds=TOUCH_SECONDS):
        with store.begin() as conn:
            conn.execute(sa.update(s).where(s.c.session_hash == key).values(last_seen_at=at))
    return Principal(row["user_id"], row["role"], row["unit_code"], row["staff_id"], row["name"] or "")


def revoke(store: Store, session_id: str, *, at: dt.datetime | None = None) -> None:
    """End one session (log-out)."""
    s = T.sessions
    with store.begin() as conn:
        conn.execute(
            sa.update(s)
            .where(s.c.session_hash == digest(str(session_id)), s.c.revoked_at.is_(None))
            .values(revoked_at=at or now())
        )


def revoke_user(conn: sa.Connection, user_id: str, *, at: dt.datetime | None = None) -> int:
    """End every session of ``user_id`` inside the caller's transaction; the number ended."""
    s = T.sessions
    res = conn.execute(
        sa.update(s).where(s.c.user_id == user_id, s.c.revoked_at.is_(None)).values(revoked_at=at or now())
    )
    return res.rowcount


def active(store: Store, user_id: str) -> int:
    """How many unrevoked session rows ``user_id`` has (expired ones included until purged)."""
    s = T.sessions
    with store.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(s.c.user_id == user_id, s.c.revoked_at.is_(None))
        ).scalar_one()
