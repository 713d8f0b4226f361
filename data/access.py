"""Who may see what (权限): roles scoped to a unit, and masking of personal data (个人信息脱敏).

Every user has one role and is bound to one unit of either hierarchy (county … grid, 分局 … 警格). The
server turns the logged-in :class:`Principal` into the ``scope`` every store query takes, so a request can
never widen it: the unit a page or REST call asks for is intersected with the user's scope, never the
other way round. Default deny: a user without a unit, or with a role this module does not know, gets an
empty scope and sees nothing.

Roles (:data:`ROLES`)::

    admin        管理员  records (masked) and exports in scope, manages users, reads the audit log
    leader       领导    aggregates, warnings, work orders, persons of concern in scope
    analyst      分析员  as leader, plus record tables and exports
    officer      社区民警 their 警格 (or unit): records, persons of concern, work orders
    grid_worker  网格员  their grid: records, their work orders; no persons of concern
    display      大屏    aggregates only: no record, no personal data, never unmasked

Unmasking one record (查看明文, :meth:`Principal.may_unmask`) needs the ``unmask`` permission, a record
the user may read inside their scope, and a stated reason; every unmasking is written to the audit log
(:mod:`data.store.unmask`). Who may:

* leader, analyst, officer: any resident record of their scope, persons of concern included;
* grid worker: records of their own grid only (their scope is the grid), never a person of concern
  (they may not read that layer at all): they visit and phone these residents;
* admin: never. The administrator manages accounts and reads the audit log; keeping them away from
  personal data separates the duties (三员分立: who audits does not also read what is audited);
* display (大屏): never, and no record at all.

Staff (人员力量, layer ``staff``: community officers, auxiliaries, grid heads and workers) are not
residents. Their names are work identities, shown whole to the roles that work with them (admin, leader,
officer, grid worker); their phone and ID numbers are masked for everyone and only the leader role
(station leadership and above, permission ``unmask_staff``) may unmask them. Nobody below station
leadership may: an officer or a grid worker never unmasks the officer above their grid or a colleague.

Masking is decided per record (:func:`mask_frame`, the one function every record leaving the server goes
through), so that no combination of the fields shown to a role rebuilds a masked value. The kinds of
personal data are declared per column in :mod:`data.schema` (``Column.pii``) and masked by
:func:`mask_value`:

* ``id_number``: ``320602***********X`` (15 digits: ``320602********1``), the region digits and the last
  character only; the eight birth digits and the sequence are hidden;
* ``birth_date``: the year (``1990``); the birth date is the ID's digits 7–14, so shown whole beside a
  masked ID it would give them back;
* ``phone``: ``138****5678``, the national norm (10^4 numbers remain);
* ``name``: ``张*``, the surname and one star whatever the length;
* ``work_name``: a staff member's name (a work identity), whole to the roles that work with staff, else
  as ``name``;
* ``address``: house numbers hidden (``华林社区1组*号``, ``园河路*号*幢``) from roles with a wide area (admin,
  leader, analyst), who read records of a whole county or city: a house number beside a surname, a
  gender and a birth year is an identity. Officers and grid workers see addresses whole: they work them.

With the fields a role is shown beside a masked ID (region, birth year, gender, last character) about
365 × 500 / 11 ≈ 16,600 ID numbers remain possible (:data:`MIN_CANDIDATES` is the floor the tests hold
every record to); gender alone halves the sequence, the check digit keeps one in eleven.

Free text (summaries, notes, reasons, fields a report does not declare) has every ID number and mobile
number in it masked in the same forms (:func:`mask_text`), however it is written: ``+86 138 1234 5678``,
``138-1234-5678``, spaced or full-width digits (１３８…), 15-digit old IDs, IDs split by spaces or hyphens,
a lowercase ``x``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from data.schema import CODE_PATTERNS, LAYERS

#: Role id → Chinese name.
ROLES: dict[str, str] = {
    "admin": "管理员",
    "leader": "领导",
    "analyst": "分析员",
    "officer": "社区民警",
    "grid_worker": "网格员",
    "display": "大屏",
}

#: Permissions per role. ``records``: record-level tables (masked); ``concern``: persons of concern
#: (关注人员); ``unmask``: may unmask one record with a stated reason (audited); ``export``: CSV/Excel;
#: ``work_orders``: act on work orders; ``users``: manage users; ``audit``: read the audit log;
#: ``unmask_staff``: may also unmask a staff record (民警, 辅警, 网格员): station leadership and above only.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"records", "export", "work_orders", "users", "audit", "aggregates"}),
    "leader": frozenset(
        {"records", "concern", "unmask", "unmask_staff", "export", "work_orders", "aggregates"}
    ),
    "analyst": frozenset({"records", "concern", "unmask", "export", "aggregates"}),
    "officer": frozenset({"records", "concern", "unmask", "export", "work_orders", "aggregates"}),
    "grid_worker": frozenset({"records", "unmask", "work_orders", "aggregates"}),
    "display": frozenset({"aggregates"}),
}

#: Layers holding persons of concern: only roles with ``concern`` see them at all.
CONCERN_LAYERS = ("persons_of_concern",)
#: Layers of staff (人员力量), not residents: unmasked only with ``unmask_staff``.
STAFF_LAYERS = ("staff",)

#: Kinds of personal data (``Column.pii`` in :mod:`data.schema`) each role sees whole in a record; every
#: other kind is masked by :func:`mask_value`. A role not listed sees every kind masked.
SHOWN_WHOLE: dict[str, frozenset[str]] = {
    "admin": frozenset({"work_name"}),
    "leader": frozenset({"work_name"}),
    "analyst": frozenset(),
    "officer": frozenset({"work_name", "address"}),
    "grid_worker": frozenset({"work_name", "address"}),
    "display": frozenset(),
}
#: Fewest ID numbers that must remain possible given everything a role is shown of one record.
MIN_CANDIDATES = 1000


@dataclass(frozen=True)
class Principal:
    """The logged-in user (当前用户) as the server sees it.

    Attributes
    ----------
    user_id : str
        Login name.
    role : str
        One of :data:`ROLES`.
    unit_code : str or None
        The unit the user is bound to (any level of either hierarchy); ``None`` sees nothing.
    staff_id : str or None
        The staff record (网格员 / 民警) this user is, for "my work orders".
    name : str
        Display name.
    """

    user_id: str
    role: str
    unit_code: str | None
    staff_id: str | None = None
    name: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def role_name(self) -> str:
        return ROLES.get(self.role, self.role)

    @property
    def scope(self) -> str | list[str]:
        """The store ``scope`` of this user: their unit's code, or an empty list (nothing) by default."""
        if self.role not in PERMISSIONS or not self.unit_code:
            return []
        return self.unit_code

    def can(self, permission: str) -> bool:
        """True when the role has ``permission`` (and the user has a scope at all)."""
        return bool(self.unit_code) and permission in PERMISSIONS.get(self.role, frozenset())

    def may_read_layer(self, layer: str) -> bool:
        """True when the user may see records of ``layer`` (never for the display role)."""
        if not self.can("records"):
            return False
        if layer in CONCERN_LAYERS:
            return self.can("concern")
        return True

    def may_unmask(self, layer: str) -> bool:
        """True when the user may unmask a record of ``layer`` in their scope: one with personal data the
        role is shown masked; a staff record only with ``unmask_staff`` (the leader role)."""
        if not (self.can("unmask") and self.may_read_layer(layer)):
            return False
        if layer in STAFF_LAYERS and not self.can("unmask_staff"):
            return False
        return bool(masked_columns(layer, self))

    def sees_whole(self, kind: str) -> bool:
        """True when the role is shown personal data of ``kind`` unmasked in records."""
        return bool(self.unit_code) and kind in SHOWN_WHOLE.get(self.role, frozenset())


# ---------------------------------------------------------------------- masking
_DIGITS = "0-9０-９"
_SEPARATORS = " \u00a0\u3000\\-－‐‑–"  # spaces (also no-break and ideographic) and hyphens
#: A run of digits, single separators (at most three characters) between them, an ``X`` at the end.
_RUN = re.compile(
    rf"[{_DIGITS}](?:[{_SEPARATORS}]{{0,3}}[{_DIGITS}])*(?:[{_SEPARATORS}]{{0,3}}[XxＸｘ](?![A-Za-z]))?"
)
_GROUP = re.compile(rf"[{_DIGITS}XxＸｘ]+")
_ASCII = str.maketrans("０１２３４５６７８９ｘＸx", "0123456789XXX")
_MMDD = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
#: 18-character ID number (GB 11643): region, birth YYYYMMDD, sequence, check character.
_ID18 = re.compile(rf"[1-9]\d{{5}}(?:18|19|20)\d{{2}}{_MMDD}\d{{3}}[\dX]")
#: 15-digit ID number (before 1999): region, birth YYMMDD, sequence. Births before 1920 are left out: a
#: grid code (网格编码) of a 街道 or 镇 reads as one born in 1900 or 1901.
_ID15 = re.compile(rf"[1-9]\d{{5}}[2-9]\d{_MMDD}\d{{3}}")
_MOBILE = re.compile(r"(?:0086|86)?(1[3-9]\d{9})")
#: House numbers after a place word: the digits of ``1组2号``'s ``2号``, ``园河路1号2幢``'s ``1号2幢``.
_UNIT_WORDS = "号楼|号|幢|栋|座|单元|室|层|楼|户"
_HOUSE = re.compile(
    rf"(?<=[路街巷道弄组村里苑园庄湾区城寓厦])(?:[{_DIGITS}]+[-－]?)+(?:{_UNIT_WORDS})"
    rf"(?:(?:[{_DIGITS}]+[-－]?)+(?:{_UNIT_WORDS}))*"
)
_HOUSE_DIGITS = re.compile(rf"[{_DIGITS}]+")
#: A quick screen before :func:`_personal_spans`: at least eleven digits in a run.
_SCREEN = re.compile(rf"[{_DIGITS}](?:[{_SEPARATORS}]{{0,3}}[{_DIGITS}]){{10}}")


def _kind_of(digits: str, lengths: list[int]) -> str | None:
    """``id_number`` or ``phone`` when ``digits`` (written in groups of ``lengths``) is one, else None.

    Groups: one group, one digit a group (``1 3 8 …``), or groups of at least three digits but the last
    (``138 1234 5678``, ``320602 19900101 123 X``); anything else (dates, lists of counts) is no number.
    """
    if not (len(lengths) == 1 or max(lengths) == 1 or min(lengths[:-1]) >= 3):
        return None
    if _ID18.fullmatch(digits) or _ID15.fullmatch(digits):
        return "id_number"
    return "phone" if _MOBILE.fullmatch(digits) else None


def _personal_spans(text: str) -> list[tuple[int, int, str, str]]:
    """``(start, end, kind, digits)`` of every ID number and mobile number written in ``text``, whatever
    the separators, width of the digits or case of the ``X`` (digits as plain ASCII)."""
    spans = []
    for run in _RUN.finditer(text):
        groups = []
        for m in _GROUP.finditer(run.group()):
            start, end, digits = run.start() + m.start(), run.start() + m.end(), m.group().translate(_ASCII)
            if not groups and start and text[start - 1] in "+＋" and digits[:2] == "86" and len(digits) > 2:
                groups.append((start, start + 2, "86"))  # a country code written onto the number
                start, digits = start + 2, digits[2:]
            groups.append((start, end, digits))
        i = 0
        while i < len(groups):
            best, digits = None, ""
            for j in range(i, len(groups)):
                digits += groups[j][2]
                if len(digits) > 18:
                    break
                kind = _kind_of(digits, [len(g[2]) for g in groups[i : j + 1]])
                if kind:
                    best = (j, kind, digits)  # the longest: an ID before the mobile number inside it
            if best is None:
                i += 1
                continue
            j, kind, digits = best
            spans.append((groups[i][0], groups[j][1], kind, digits))
            i = j + 1
    return spans


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def mask_value(value: object, kind: str) -> object:
    """Mask one personal value of ``kind`` (see the table of this module); missing stays missing.

    Parameters
    ----------
    value : object
    kind : str
        ``id_number``, ``phone``, ``name``, ``work_name``, ``birth_date`` or ``address``; any other kind
        is masked whole.

    Returns
    -------
    object
        The masked string, or ``value`` itself when it is missing.
    """
    if _is_missing(value):
        return value
    if kind == "birth_date":
        year = re.match(r"\s*(\d{4})", str(value))
        return year.group(1) if year else "****"
    text = str(value)
    if not text:
        return text
    if kind in ("name", "work_name"):
        # several names joined (当事人 "张三;李四") are masked one by one: the surname and one star
        parts = re.split(r"([;；,，、\s]+)", text)
        return "".join(p if not p or re.fullmatch(r"[;；,，、\s]+", p) else p[0] + "*" for p in parts)
    if kind == "address":
        return _HOUSE.sub(lambda m: _HOUSE_DIGITS.sub("*", m.group()), text)
    digits = re.sub(rf"[^{_DIGITS}XxＸｘ]", "", text).translate(_ASCII)
    if kind == "id_number" and len(digits) in (15, 18):
        return digits[:6] + "*" * (len(digits) - 7) + digits[-1]
    if kind == "phone":
        mobile = _MOBILE.fullmatch(digits)
        if mobile:
            return digits[: mobile.start(1)] + _mask_mobile(mobile.group(1))
        if len(digits) >= 8:  # a landline: the last four
            return "*" * (len(digits) - 4) + digits[-4:]
    return "*" * len(text)


def _mask_mobile(digits: str) -> str:
    return digits[:3] + "****" + digits[7:]


def mask_text(text: object, principal: Principal | None = None) -> object:
    """Free text with every ID number and mobile number in it masked, in any form it is written
    (``+86 138 1234 5678`` → ``+86 138****5678``; ``320602 19900101 123x`` → ``320602***********X``);
    house numbers too unless ``principal`` sees addresses whole (without one: masked)."""
    if not isinstance(text, str):
        return text
    for start, end, kind, digits in reversed(_personal_spans(text)):
        text = text[:start] + str(mask_value(digits, kind)) + text[end:]
    if principal is None or not principal.sees_whole("address"):
        text = str(mask_value(text, "address"))
    return text


def mask_frame(
    frame: pd.DataFrame,
    layer: str | None = None,
    principal: Principal | None = None,
    columns: dict[str, str] | None = None,
) -> pd.DataFrame:
    """A copy of the records ``frame`` as ``principal`` may see them: the one masking every record
    leaving the server goes through (tables, exports, REST answers, work orders).

    Every personal column of ``layer`` (``Column.pii`` in :mod:`data.schema`) is masked by its kind
    (:func:`mask_value`) unless the role sees that kind whole (:data:`SHOWN_WHOLE`); the kinds are chosen
    per record, so that the fields shown beside a masked value cannot rebuild it (a birth date beside an
    ID number is its year only). Every other text column has the ID numbers, mobile numbers and house
    numbers written into it masked (:func:`mask_text`): free text such as a work order's summary (事由)
    may quote them.

    Parameters
    ----------
    frame : pandas.DataFrame
    layer : str, optional
        Layer whose ``pii`` columns are masked.
    principal : Principal, optional
        Who reads it; without one everything is masked.
    columns : dict, optional
        Extra column → kind to mask.

    Returns
    -------
    pandas.DataFrame
    """
    kinds = dict(LAYERS[layer].pii_columns) if layer in LAYERS else {}
    kinds.update(columns or {})
    out = frame.copy()
    for col, kind in kinds.items():
        if col in out.columns and not (principal is not None and principal.sees_whole(kind)):
            out[col] = pd.Series([mask_value(v, kind) for v in out[col]], index=out.index, dtype=object)
    for col in out.columns:
        values = out[col]
        if col in kinds or not (pd.api.types.is_string_dtype(values) or values.dtype == object):
            continue
        code = re.compile(CODE_PATTERNS.get(col, r"(?!)"))
        text = pd.Series([isinstance(v, str) and not code.fullmatch(v) for v in values], index=values.index)
        if text.any() and values[text].map(_may_hold_personal_data).any():
            # a unit code (a 乡's 15-digit grid code reads as an old ID number) is no free text
            out[col] = values.where(~text, values.map(lambda v: mask_text(v, principal)))
    return out


def mask_record(record: dict, layer: str | None, principal: Principal | None = None) -> dict:
    """One record (column → value) as ``principal`` may see it (:func:`mask_frame`)."""
    if not record:
        return {}
    masked = mask_frame(pd.DataFrame([record]), layer, principal)
    return {k: masked[k].iloc[0] for k in record}


def _may_hold_personal_data(text: str) -> bool:
    return bool(_SCREEN.search(text) or _HOUSE.search(text))


def find_personal_data(text: str) -> list[str]:
    """Unmasked ID numbers and mobile numbers found in ``text``, in any form they are written (for tests
    and response checks); as plain digits."""
    return [digits for _, _, _, digits in _personal_spans(text)]


def masked_columns(layer: str, principal: Principal | None = None) -> list[str]:
    """Columns of ``layer`` holding personal data; with ``principal``, those the role is shown masked."""
    if layer not in LAYERS:
        return []
    return [
        c
        for c, kind in LAYERS[layer].pii_columns.items()
        if principal is None or not principal.sees_whole(kind)
    ]
