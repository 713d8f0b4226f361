"""Unmasking one record (查看明文): permission, scope, a stated reason, and an audit entry first.

Personal data is masked everywhere by default (:mod:`data.access`). :func:`unmask` is the one way to
see one record's personal fields whole, used by the dashboard's grid records table and by the REST API
alike, on either store:

1. the user's role must allow it for the layer (:meth:`data.access.Principal.may_unmask`); a staff
   record (民警, 辅警, 网格员: not a resident) only for the leader role (``unmask_staff``);
2. the reason must say why: at least :data:`MIN_REASON` visible Chinese characters, letters or digits
   (:func:`check_reason`; invisible, control, bidi and emoji characters and punctuation do not count);
3. the user may unmask at most :data:`data.settings.UNMASK_PER_HOUR` records an hour (counted and
   recorded in one locked transaction, so a burst of parallel requests cannot pass one count);
4. the record must exist *inside the user's scope* (and inside ``unit`` when given); a record outside
   it is reported exactly as one that does not exist;
5. the audit entry (who, which record, when, from which address, why) is written, and committed,
   before any value is returned: an unmasking that cannot be audited shows nothing.

The audit log is append-only in the database itself (triggers refuse ``UPDATE``, ``DELETE`` and, in
PostgreSQL, ``TRUNCATE``); no route of the application changes it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from data import settings
from data.access import STAFF_LAYERS, Principal, masked_columns
from data.schema import LAYERS
from data.store import tables as T
from data.store.base import LimitReachedError, NotFoundError, UnknownUnitError

if TYPE_CHECKING:
    from data.store.base import Store

#: Shortest reason accepted, in characters (e.g. ``核查身份``).
MIN_REASON = 4
#: Longest reason kept, in characters.
MAX_REASON = 500
#: The audit log's action for one unmasking.
ACTION = "unmask"
#: Layers holding personal data, which a record of may be unmasked.
UNMASK_LAYERS: tuple[str, ...] = tuple(name for name in LAYERS if masked_columns(name))
#: Record keys as the layers spell them (letters, digits, ``_-``).
RECORD_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class UnmaskRefused(PermissionError):
    """The role may not unmask this layer (or anything)."""


class UnmaskLimit(PermissionError):
    """The user unmasked :data:`data.settings.UNMASK_PER_HOUR` records in the last hour already."""


class ReasonError(ValueError):
    """The stated reason is missing, too short, too long or holds control characters."""


@dataclass(frozen=True)
class Unmasked:
    """One unmasked record: its personal fields whole, and the audit entry that recorded it.

    Attributes
    ----------
    layer : str
    record_id : str
        The value of the layer's key.
    fields : dict
        Personal column → unmasked value (missing values as ``None``).
    audit_id : int
    """

    layer: str
    record_id: str
    fields: dict[str, Any]
    audit_id: int


#: Names of the characters a reason's words are counted in: CJK ideographs, kana, Hangul syllables, Latin
#: letters and decimal digits (also full width). Invisible look-alikes are not among them: zero-width and
#: bidi controls, the BOM and soft hyphen are format characters (Cf), the Hangul fillers are letters by
#: category but have names of their own, emoji and punctuation are symbols (S*) and punctuation (P*).
_WORD_NAMES = (
    "CJK UNIFIED IDEOGRAPH",
    "CJK COMPATIBILITY IDEOGRAPH",
    "HIRAGANA LETTER",
    "KATAKANA LETTER",
    "HANGUL SYLLABLE",
    "LATIN CAPITAL LETTER",
    "LATIN SMALL LETTER",
    "FULLWIDTH LATIN",
    "DIGIT",
    "FULLWIDTH DIGIT",
)


def visible_words(text: str) -> int:
    """How many characters of ``text`` are visible CJK or Latin letters or digits (a reason's words).

    Everything else does not count: white space, punctuation, emoji and other symbols, combining marks,
    control and format characters (zero-width space/joiner, soft hyphen, BOM, bidi overrides and
    isolates U+202A–202E, U+2066–2069) and the invisible Hangul fillers.
    """
    count = 0
    for ch in text:
        if unicodedata.category(ch)[0] in "LN" and unicodedata.name(ch, "").startswith(_WORD_NAMES):
            count += 1
    return count


def check_reason(reason: Any) -> str:
    """The reason, stripped, if it says why; else :class:`ReasonError` naming the rule it breaks.

    A reason is words: at least :data:`MIN_REASON` visible CJK or Latin letters or digits
    (:func:`visible_words`), whatever padding of invisible characters, emoji or punctuation surrounds
    them. It is kept as typed (only stripped of surrounding white space); whoever shows it escapes it.
    """
    if not isinstance(reason, str):
        raise ReasonError("请填写查看原因 (a reason is required: say why you need to see this record)")
    text = reason.strip()
    if _CONTROL.search(text):
        raise ReasonError("原因不能包含控制字符 (the reason must not contain control characters)")
    if len(text) > MAX_REASON:
        raise ReasonError(f"原因至多 {MAX_REASON} 个字 (the reason may have at most {MAX_REASON} characters)")
    if visible_words(text) < MIN_REASON:
        raise ReasonError(
            f"原因至少 {MIN_REASON} 个汉字、字母或数字 (the reason needs at least {MIN_REASON} visible "
            "Chinese characters, letters or digits; invisible characters, emoji and punctuation do not count)"
        )
    return text


def _shown(value: Any, dtype: str) -> str | None:
    """One unmasked value as text: a date as ``YYYY-MM-DD``, missing as ``None``."""
    if pd.isna(value):
        return None
    return pd.Timestamp(value).date().isoformat() if dtype == "date" else str(value)


def _limit_error() -> UnmaskLimit:
    return UnmaskLimit(
        f"一小时内查看明文已达 {settings.UNMASK_PER_HOUR} 条上限 (at most {settings.UNMASK_PER_HOUR} "
        "unmaskings an hour)"
    )


def recent_unmaskings(store: Store, user_id: str, now: dt.datetime | None = None) -> int:
    """How many records ``user_id`` unmasked in the hour before ``now``."""
    from data.store import workflow

    since = (now or workflow.now()) - dt.timedelta(hours=1)
    a = T.audit_log
    stmt = sa.select(sa.func.count()).where(a.c.actor == user_id, a.c.action == ACTION, a.c.at >= since)
    with store.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def unmask(
    store: Store,
    principal: Principal,
    layer: str,
    record_id: str,
    reason: Any,
    *,
    address: str | None = None,
    unit: str | None = None,
    via: str = "api",
) -> Unmasked:
    """Show one record's personal fields whole, after writing the audit entry.

    Parameters
    ----------
    store : Store
    principal : data.access.Principal
        The logged-in user (never taken from a request parameter).
    layer : str
        One of :data:`UNMASK_LAYERS`.
    record_id : str
        The record's key (e.g. ``P0000000001``).
    reason : str
        Why (at least :data:`MIN_REASON` characters).
    address : str, optional
        The client's address, for the audit entry.
    unit : str, optional
        Narrow the lookup to this unit as well (the view the dashboard shows).
    via : str
        Where the request came from (``api``, ``dashboard``), kept in the entry's detail.

    Returns
    -------
    Unmasked

    Raises
    ------
    UnmaskRefused
        The role may not unmask records of ``layer``.
    ReasonError
        The reason is missing or too short.
    UnmaskLimit
        Too many unmaskings in the last hour.
    data.store.base.NotFoundError
        No such record inside the user's scope (and ``unit``); nothing is written.
    """
    if layer in STAFF_LAYERS and not principal.may_unmask(layer):
        raise UnmaskRefused(
            f"工作人员信息仅限领导查看明文 (the role {principal.role} ({principal.role_name}) may not "
            f"unmask staff records: only the leader role may)"
        )
    if layer not in UNMASK_LAYERS or not principal.may_unmask(layer):
        raise UnmaskRefused(
            f"无权查看明文 (the role {principal.role} ({principal.role_name}) may not unmask "
            f"records of {layer!r})"
        )
    text = check_reason(reason)
    if recent_unmaskings(store, principal.user_id) >= settings.UNMASK_PER_HOUR:
        raise _limit_error()  # checked again, atomically with the audit entry, below
    lay = LAYERS[layer]
    missing = NotFoundError(f"记录不存在或不在辖区 (no {layer} record {str(record_id)[:70]!r} in your area)")
    if not isinstance(record_id, str) or not RECORD_ID_PATTERN.fullmatch(record_id):
        raise missing
    columns = list(masked_columns(layer))
    try:
        frame = store.read(
            layer,
            unit,
            filters={lay.key: record_id},
            scope=principal.scope,
            columns=[lay.key, *columns],
            geometry=False,
        )
    except UnknownUnitError:
        raise missing from None
    if len(frame) != 1:
        raise missing
    row = frame.iloc[0]
    fields = {c: _shown(row[c], lay.column(c).dtype) for c in columns}
    try:
        audit_id = store.append_audit(
            principal.user_id,
            ACTION,
            f"{layer}:{record_id}",
            reason=text,
            address=address,
            detail={"fields": columns, "via": via, "role": principal.role},
            at_most=settings.UNMASK_PER_HOUR,
        )
    except LimitReachedError:
        raise _limit_error() from None
    return Unmasked(layer, record_id, fields, audit_id)
