"""Local users of the store (本地账号): salted scrypt password hashes, roles scoped to a unit, lock-out.

Passwords are hashed with scrypt (``hashlib.scrypt``, n=2**14, r=8, p=1, 16-byte random salt), stored as
``scrypt$n$r$p$salt_hex$hash_hex`` and compared in constant time. After :data:`MAX_FAILED_LOGINS` wrong
passwords in a row the account is locked for :data:`LOCK_MINUTES` minutes (临时锁定); a disabled account
cannot log in at all. Users are never deleted (the audit log names them): they are disabled.
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
from data.store import tables as T
from data.store.base import NotFoundError, StoreError

if TYPE_CHECKING:
    from data.store.base import Store

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 8


class LoginError(StoreError):
    """A failed log-in; the message never says whether the user exists."""


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` (``scrypt$n$r$p$salt$hash``)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the hash ``stored`` (constant-time comparison)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
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


def set_password(store: Store, user_id: str, password: str) -> None:
    """Replace a user's password (and clear any lock-out)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    _update(store, user_id, password_hash=hash_password(password), failed_logins=0, locked_until=None)


def set_disabled(store: Store, user_id: str, disabled: bool = True) -> None:
    """Disable (or enable again) a user."""
    _update(store, user_id, disabled=bool(disabled))


def _update(store: Store, user_id: str, **values: Any) -> None:
    with store.begin() as conn:
        res = conn.execute(sa.update(T.users).where(T.users.c.user_id == user_id).values(**values))
    if res.rowcount != 1:
        raise NotFoundError(f"no user {user_id!r}")


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


def authenticate(store: Store, user_id: str, password: str, *, now: dt.datetime | None = None) -> Principal:
    """Check a log-in; count failures and lock the account after :data:`MAX_FAILED_LOGINS` in a row.

    Raises
    ------
    LoginError
        Wrong name or password, disabled or locked account (the message does not tell which of the
        first two).
    """
    at = now or _now()
    u = T.users
    failure: str | None = None
    with store.begin() as conn:  # the failure count must be committed, so raise only after the block
        row = conn.execute(sa.select(u).where(u.c.user_id == user_id).with_for_update()).mappings().first()
        if row is None:
            verify_password(password, _DUMMY_HASH)  # same work as for a real user
            failure = "用户名或密码错误 (wrong user name or password)"
        elif row["disabled"]:
            failure = "账号已停用 (account disabled)"
        elif row["locked_until"] is not None and row["locked_until"] > at:
            failure = f"账号已临时锁定至 {row['locked_until']:%H:%M} (too many failed log-ins)"
        elif not verify_password(password, row["password_hash"]):
            failed = int(row["failed_logins"]) + 1
            lock = at + dt.timedelta(minutes=LOCK_MINUTES) if failed >= MAX_FAILED_LOGINS else None
            conn.execute(
                sa.update(u)
                .where(u.c.user_id == user_id)
                .values(failed_logins=0 if lock else failed, locked_until=lock)
            )
            failure = "用户名或密码错误 (wrong user name or password)"
        else:
            conn.execute(
                sa.update(u)
                .where(u.c.user_id == user_id)
                .values(failed_logins=0, locked_until=None, last_login_at=at)
            )
    if failure is not None:
        raise LoginError(failure)
    return Principal(row["user_id"], row["role"], row["unit_code"], row["staff_id"], row["name"] or "")
