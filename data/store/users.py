"""Local users of the store (本地账号): salted scrypt password hashes, roles scoped to a unit, lock-out.

Passwords are hashed with scrypt (``hashlib.scrypt``, n=2**14, r=8, p=1, 16-byte random salt), stored as
``scrypt$n$r$p$salt_hex$hash_hex`` and compared in constant time. Users are never deleted (the audit log
names them): they are disabled, which ends every session of theirs (:mod:`data.store.sessions`), as a
password change does.

No account enumeration (:func:`authenticate`): an unknown name, a disabled account, a locked one and a
wrong password all raise the same :class:`LoginError` with the same message, after the same work (one
scrypt, against a dummy hash when there is no user); only :attr:`LoginError.reason` (for the server's
log, never shown) tells them apart.

Lock-out (临时锁定), counted in the store (table ``login_failures``, shared by every server process) by the
login name as typed, whether it exists or not:

* per (name, client address): after :data:`MAX_FAILED_LOGINS` failures in a row from one address, that
  address may not log in to that name for :data:`LOCK_MINUTES` minutes. Nobody else is affected: the
  owner logs in from their own address, so one attacker cannot lock a user (or everyone) out;
* per name, across addresses: once a name has had :data:`ACCOUNT_SLOW_AFTER` failures within
  :data:`ACCOUNT_WINDOW_MINUTES` minutes (an attack from many addresses), its password is checked at
  most once every :data:`ACCOUNT_SLOW_SECONDS` seconds: attempts in between get :class:`LoginThrottled`
  ("too many attempts, retry in a few seconds", ``429``), never locked. The attacker is slowed to one
  guess per few seconds in all; the owner, at any address, gets in on a retry a few seconds later;
* per client address across names: the server's rate limit (Flask-Limiter, :mod:`dashboard.auth`).

(The ``users`` table's ``failed_logins`` and ``locked_until`` columns, the per-account lock-out of old,
are no longer read; they are cleared on a successful log-in and a password change.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from data.access import ROLES, Principal
from data.store import sessions
from data.store import tables as T
from data.store.base import NotFoundError, StoreError, _insert_ignore

if TYPE_CHECKING:
    from data.store.base import Store

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
#: Failures in a row from one client address that lock that (name, address) pair …
MAX_FAILED_LOGINS = 5
#: … for this many minutes.
LOCK_MINUTES = 15
#: Failures of one name from all addresses within :data:`ACCOUNT_WINDOW_MINUTES` after which its password
#: is checked at most once per :data:`ACCOUNT_SLOW_SECONDS`.
ACCOUNT_SLOW_AFTER = 20
ACCOUNT_WINDOW_MINUTES = 15
ACCOUNT_SLOW_SECONDS = 5
MIN_PASSWORD_LENGTH = 8
#: The one message of every failed log-in.
FAILED_MESSAGE = "用户名或密码错误 (wrong user name or password)"
THROTTLED_MESSAGE = "尝试过于频繁，请稍后再试 (too many attempts, retry in a few seconds)"
_WHOLE = "*"  # the address key of a name's row counting failures from every address


class LoginError(StoreError):
    """A failed log-in. The message is :data:`FAILED_MESSAGE` whatever the cause; ``reason`` (``unknown``,
    ``disabled``, ``locked``, ``wrong_password``) is for the server's log only."""

    def __init__(self, reason: str, message: str = FAILED_MESSAGE) -> None:
        super().__init__(message)
        self.reason = reason


class LoginThrottled(LoginError):
    """The name is under attack from many addresses: retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("throttled", THROTTLED_MESSAGE)
        self.retry_after = retry_after


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    """The one place a password is hashed (tests count the calls)."""
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen)


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` (``scrypt$n$r$p$salt$hash``)."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the hash ``stored`` (constant-time comparison)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p), len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


_DUMMY_HASH = hash_password(secrets.token_hex(8))


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def add_user(
    store: Store,
    user_id: str,
    password: str,
    role: str,
    unit_code: str,
    *,
    staff_id: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Create a user bound to ``unit_code`` (a unit of either hierarchy known to the store).

    Parameters
    ----------
    store : Store
    user_id : str
        Login name (letters, digits, ``._-``).
    password : str
        At least :data:`MIN_PASSWORD_LENGTH` characters.
    role : str
        One of :data:`data.access.ROLES`.
    unit_code : str
        The unit whose data the user may see.
    staff_id, name : str, optional

    Returns
    -------
    dict
        The user without the hash.
    """
    if not user_id or not all(ch.isalnum() or ch in "._-" for ch in user_id) or len(user_id) > 64:
        raise ValueError(f"user id {user_id!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(f'{k} ({v})' for k, v in ROLES.items())}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    store.unit(unit_code)  # raises UnknownUnitError naming the code
    values = dict(
        user_id=user_id,
        name=name or user_id,
        role=role,
        unit_code=unit_code,
        staff_id=staff_id,
        password_hash=hash_password(password),
        disabled=False,
        failed_logins=0,
        created_at=_now(),
    )
    with store.begin() as conn:
        exists = conn.execute(sa.select(T.users.c.user_id).where(T.users.c.user_id == user_id)).first()
        if exists:
            raise ValueError(f"user {user_id!r} exists already")
        conn.execute(sa.insert(T.users).values(**values))
    values.pop("password_hash")
    return values


def set_password(store: Store, user_id: str, password: str) -> int:
    """Replace a user's password, clear any lock-out of the name and end every session of the user (on
    every device); returns the number of sessions ended."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    return _update(
        store, user_id, True, password_hash=hash_password(password), failed_logins=0, locked_until=None
    )


def set_disabled(store: Store, user_id: str, disabled: bool = True) -> int:
    """Disable (or enable again) a user; disabling ends every session of the user (returns how many)."""
    return _update(store, user_id, bool(disabled), disabled=bool(disabled))


def _update(store: Store, user_id: str, end_sessions: bool, **values: Any) -> int:
    with store.begin() as conn:
        res = conn.execute(sa.update(T.users).where(T.users.c.user_id == user_id).values(**values))
        if res.rowcount != 1:
            raise NotFoundError(f"no user {user_id!r}")
        if "password_hash" in values:
            f = T.login_failures
            conn.execute(sa.delete(f).where(f.c.account == user_id))
        return sessions.revoke_user(conn, user_id) if end_sessions else 0


def list_users(store: Store) -> pd.DataFrame:
    """Every user (no hashes), by login name."""
    u = T.users
    cols = [c for c in u.c if c.name != "password_hash"]
    with store.connect() as conn:
        return pd.DataFrame(
            conn.execute(sa.select(*cols).order_by(u.c.user_id)).mappings().all(),
            columns=[c.name for c in cols],
        )


def principal(store: Store, user_id: str) -> Principal | None:
    """The :class:`~data.access.Principal` of an enabled user, ``None`` for an unknown or disabled one."""
    u = T.users
    with store.connect() as conn:
        row = conn.execute(sa.select(u).where(u.c.user_id == user_id)).mappings().first()
    if row is None or row["disabled"]:
        return None
    return Principal(row["user_id"], row["role"], row["unit_code"], row["staff_id"], row["name"] or "")


def authenticate(
    store: Store, user_id: str, password: str, *, address: str | None = None, now: dt.datetime | None = None
) -> Principal:
    """Check a log-in from client ``address``, counting failures for the lock-out (see the module).

    Raises
    ------
    LoginThrottled
        The name is under attack from many addresses and was checked less than
        :data:`ACCOUNT_SLOW_SECONDS` ago.
    LoginError
        Unknown name, disabled account, (name, address) locked, or wrong password: one message for all.
    """
    at = now or _now()
    addr = address or ""
    u, f = T.users, T.login_failures
    with store.begin() as conn:  # the counts must be committed, so raise only after the block
        fresh = {"failures": 0, "last_at": at, "locked_until": None}
        conn.execute(
            _insert_ignore(conn, f, ["account", "address"]),
            [{"account": user_id, "address": a, **fresh} for a in (addr, _WHOLE)],
        )
        query = sa.select(f).where(f.c.account == user_id, f.c.address.in_([addr, _WHOLE]))
        counts = {c["address"]: c for c in conn.execute(query.with_for_update()).mappings()}
        pair, whole = counts[addr], counts[_WHOLE]
        window = at - dt.timedelta(minutes=ACCOUNT_WINDOW_MINUTES)
        recent = whole["failures"] if whole["last_at"] >= window else 0
        row = conn.execute(sa.select(u).where(u.c.user_id == user_id)).mappings().first()
        # exactly one scrypt whatever happens: the answer's time says nothing about the account
        matches = verify_password(password, row["password_hash"] if row is not None else _DUMMY_HASH)
        reason = _refusal(row, pair, matches, at)
        if recent >= ACCOUNT_SLOW_AFTER:  # under attack from many addresses: one check per few seconds
            if whole["locked_until"] is not None and whole["locked_until"] > at:
                reason = "throttled"
            else:
                next_check = at + dt.timedelta(seconds=ACCOUNT_SLOW_SECONDS)
                _set(conn, user_id, _WHOLE, locked_until=next_check)
        if reason is None:
            conn.execute(sa.delete(f).where(f.c.account == user_id, f.c.address == addr))
            conn.execute(sa.delete(f).where(f.c.last_at < at - dt.timedelta(days=1)))  # old counts
            conn.execute(
                sa.update(u)
                .where(u.c.user_id == user_id)
                .values(failed_logins=0, locked_until=None, last_login_at=at)
            )
        elif reason not in ("throttled", "locked"):
            failed = int(pair["failures"]) + 1
            lock = at + dt.timedelta(minutes=LOCK_MINUTES) if failed >= MAX_FAILED_LOGINS else None
            _set(conn, user_id, addr, failures=0 if lock else failed, last_at=at, locked_until=lock)
            _set(conn, user_id, _WHOLE, failures=recent + 1, last_at=at)
    if reason == "throttled":
        raise LoginThrottled(max(1, int((whole["locked_until"] - at).total_seconds())))
    if reason is not None:
        raise LoginError(reason)
    return Principal(row["user_id"], row["role"], row["unit_code"], row["staff_id"], row["name"] or "")


def _refusal(row: Any, pair: Any, matches: bool, at: dt.datetime) -> str | None:
    """Why a checked log-in is refused (``None``: it is not)."""
    if pair["locked_until"] is not None and pair["locked_until"] > at:
        return "locked"
    if row is None:
        return "unknown"
    if row["disabled"]:
        return "disabled"
    return None if matches else "wrong_password"


def _set(conn: sa.Connection, account: str, address: str, **values: Any) -> None:
    f = T.login_failures
    conn.execute(sa.update(f).where(f.c.account == account, f.c.address == address).values(**values))
