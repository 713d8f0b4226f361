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

* leader, analyst, officer: any record of their scope, persons of concern included;
* grid worker: records of their own grid only (their scope is the grid), never a person of concern
  (they may not read that layer at all): they visit and phone these residents;
* admin: never. The administrator manages accounts and reads the audit log; keeping them away from
  personal data separates the duties (三员分立: who audits does not also read what is audited);
* display (大屏): never, and no record at all.

Masking (:func:`mask_value`): ID numbers keep the first 6 and last 4 characters (``320602********1234``),
phones the first 3 and last 4 (``138****5678``), names the first character (``张*``; two-character names
``张*``, longer ones ``欧**``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from data.schema import LAYERS

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
#: ``work_orders``: act on work orders; ``users``: manage users; ``audit``: read the audit log.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"records", "export", "work_orders", "users", "audit", "aggregates"}),
    "leader": frozenset({"records", "concern", "unmask", "export", "work_orders", "aggregates"}),
    "analyst": frozenset({"records", "concern", "unmask", "export", "aggregates"}),
    "officer": frozenset({"records", "concern", "unmask", "export", "work_orders", "aggregates"}),
    "grid_worker": frozenset({"records", "unmask", "work_orders", "aggregates"}),
    "display": frozenset({"aggregates"}),
}

#: Layers holding persons of concern: only roles with ``concern`` see them at all.
CONCERN_LAYERS = ("persons_of_concern",)


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
        """True when the user may unmask a record of ``layer`` (one with personal data) in their scope."""
        return self.can("unmask") and self.may_read_layer(layer) and bool(masked_columns(layer))


# ---------------------------------------------------------------------- masking
_KEEP = {"id_number": (6, 4), "phone": (3, 4)}


def mask_value(value: object, kind: str) -> object:
    """Mask one personal value of ``kind`` (``id_number``, ``phone``, ``name``); missing stays missing.

    Parameters
    ----------
    value : object
    kind : str

    Returns
    -------
    object
        The masked string, or ``value`` itself when it is missing.
    """
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return value
    text = str(value)
    if not text:
        return text
    if kind == "name":
        # several names joined (当事人 "张三;李四") are masked one by one
        parts = re.split(r"([;；,，、\s]+)", text)
        return "".join(
            p if re.fullmatch(r"[;；,，、\s]+", p) or not p else p[0] + "*" * max(len(p) - 1, 1)
            for p in parts
        )
    head, tail = _KEEP.get(kind, (0, 0))
    if len(text) <= head + tail:
        return "*" * len(text)
    return text[:head] + "*" * (len(text) - head - tail) + text[len(text) - tail :]


def mask_text(text: object) -> object:
    """Free text with every ID number and mobile number in it masked (``320602********1234``)."""
    if not isinstance(text, str):
        return text
    text = ID_NUMBER_PATTERN.sub(lambda m: str(mask_value(m.group(0), "id_number")), text)
    return PHONE_PATTERN.sub(lambda m: str(mask_value(m.group(0), "phone")), text)


def mask_frame(
    frame: pd.DataFrame, layer: str | None = None, columns: dict[str, str] | None = None
) -> pd.DataFrame:
    """A copy of ``frame`` with every personal column of ``layer`` masked (see :func:`mask_value`).

    Every other text column has the ID numbers and mobile numbers written into it masked
    (:func:`mask_text`): free text such as a work order's summary (事由) may quote them.

    Parameters
    ----------
    frame : pandas.DataFrame
    layer : str, optional
        Layer whose ``pii`` columns (:mod:`data.schema`) are masked.
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
        if col in out.columns:
            out[col] = [mask_value(v, kind) for v in out[col]]
    for col in out.columns:
        values = out[col]
        if col in kinds or not pd.api.types.is_string_dtype(values):
            continue
        text = values.map(lambda v: isinstance(v, str))
        if text.any() and values[text].str.contains(_ANY_PERSONAL, regex=True).any():
            out[col] = values.map(mask_text)
    return out


#: Patterns of unmasked personal data: an 18-character ID number, a mainland mobile number.
ID_NUMBER_PATTERN = re.compile(
    r"(?<![0-9])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[0-9Xx](?![0-9])"
)
PHONE_PATTERN = re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])")
_ANY_PERSONAL = re.compile(f"{ID_NUMBER_PATTERN.pattern}|{PHONE_PATTERN.pattern}")


def find_personal_data(text: str) -> list[str]:
    """Unmasked ID numbers and mobile numbers found in ``text`` (for tests and response checks)."""
    return ID_NUMBER_PATTERN.findall(text) + PHONE_PATTERN.findall(text)


def masked_columns(layer: str) -> Iterable[str]:
    """Columns of ``layer`` that are masked by default."""
    return LAYERS[layer].pii_columns.keys() if layer in LAYERS else ()
