"""REST API for the grid workers' mobile app (移动端接口), served by the dashboard's Flask server.

:func:`api_blueprint` mounts ``/api/v1``: who am I, my work orders (我的工单) and their trace (流转记录),
the actions of the closed loop (签收 sign, 处置 handle, 反馈 feed back, 办结 close / 审核通过 approve,
退回 send back, 驳回 reject, 重新上报 resubmit, 升级 escalate), an officer's instruction (派单) and a grid
worker's report (上报), both safe to retry with a ``client_id``, unmasking one record with a stated
reason (查看明文, audited) and the audit log for the administrator (审计日志, read only). Every route is
one row of :data:`ROUTES`, the table that registers the Flask rule, validates the query and body and
writes the OpenAPI 3.1 document
(:func:`openapi_document`), so the three cannot drift.

Security:

- identity comes only from :func:`dashboard.auth.current_principal` (the log-in guard), never from a
  parameter; every store query takes the principal's ``scope``; a ``unit`` filter only narrows it;
- an order outside the caller's scope answers ``404``, exactly as one that does not exist;
- state-changing routes need ``Content-Type: application/json`` (a cross-site form cannot send it without
  a CORS preflight, which this server never grants) and, when the browser sends ``Origin`` or
  ``Sec-Fetch-Site``, a same-origin request (CSRF, 跨站请求伪造);
- bodies are limited to :data:`MAX_BODY_BYTES`; strings may not hold control characters or lone
  surrogates (which PostgreSQL would refuse half-way);
- personal data in answers is masked for the caller's role as every record is
  (:func:`data.access.mask_frame`): the fields of a report's record by their layer's ``pii`` columns (a
  birth date to its year beside a masked ID number), ID and mobile numbers anywhere in free text in any
  form they are written, house numbers for roles with a wide area. The one exception is the answer
  of the unmask route, which writes its audit entry before it answers (:mod:`data.store.unmask`);
- no route changes or deletes an audit entry (the database refuses it too).

Errors are JSON ``{"error": code, "message": "中文 (English)", "detail": …}``: 400 malformed request (the
detail lists every field, the rule it breaks and why), 401 not logged in, 403 role or origin not allowed,
404 unknown or out of scope (any unknown path below ``/api``, whatever the method), 405 a route asked with
another method, 409 stale version or disallowed move, 413 body too large, 415 not JSON, 422 well-formed
but not acceptable, 429 too many unmaskings, 503 store busy. Bad input never ends in a 500.

Writes stay in the caller's area: a report's record is placed by the store from its point or its address
(:func:`data.store.workflow.place_record`), each placing field must lie in the caller's scope, a grid the
client names is only a claim, and an approval places the record again within the approver's scope. A
retried move is recognised by the version it read and its ``client_id``, never by the order's state.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import flask
import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule

from dashboard.auth import client_address, current_principal
from data import settings
from data.access import PERMISSIONS, ROLES, Principal, mask_record, mask_text, mask_value
from data.schema import LAYERS, SEVERITIES, WORK_ORDER_KINDS, WORK_ORDER_STATES
from data.store import unmask as um
from data.store import workflow as wf
from data.store.base import NotFoundError, StaleVersionError, Store, UnknownUnitError

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
API_VERSION = "1.0.0"
#: Largest request body accepted (bytes); larger ones get ``413``.
MAX_BODY_BYTES = 64 * 1024
#: Longest note (说明) and summary (事由), in characters.
MAX_NOTE, MAX_SUMMARY = 2000, 500
#: Rows per page of the work-order list.
MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 100, 20
#: Methods that change state (CSRF checks apply).
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

#: Named actions: the workflow's (:data:`data.store.workflow.ACTIONS`) plus, for a report only, 驳回 reject
#: and 重新上报 resubmit (a corrected record after a rejection).
ACTIONS: tuple[str, ...] = (*wf.ACTIONS, "reject", "resubmit")
#: Roles that review: close / approve (办结, 审核通过), send back (退回), reject (驳回), dispatch (派单).
REVIEW_ROLES = ("officer", "leader", "admin")
#: Actions each role may take; a grid worker (网格员) cannot close, approve, send back or reject.
ROLE_ACTIONS: dict[str, tuple[str, ...]] = {
    "grid_worker": ("sign", "handle", "feed_back", "escalate", "resubmit"),
    **{role: ACTIONS for role in REVIEW_ROLES},
}
#: Actions that need a note saying why.
NOTE_REQUIRED = ("send_back", "reject")

ORDER_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TEXT_FIELDS = ("summary", "note", "resolution")

# ---------------------------------------------------------------------- errors


class ApiError(Exception):
    """An answer other than success: HTTP ``status``, a machine ``code``, a bilingual message, detail.

    Parameters
    ----------
    status : int
    code : str
    message : str
        ``中文 (English)``.
    detail : object, optional
        JSON-native detail (fields, allowed moves, current version …).
    """

    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def _problem(where: str, name: str, rule: str, message: str) -> dict[str, str]:
    return {"in": where, "field": name, "rule": rule, "message": f"{name or 'body'}: {message}"}


def _invalid(problems: list[dict[str, str]]) -> ApiError:
    text = "; ".join(p["message"] for p in problems)
    return ApiError(400, "invalid_request", f"请求参数有误 (invalid request): {text}", problems)


def _json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    body = json.dumps(to_json(payload), ensure_ascii=False, allow_nan=False)
    resp = flask.Response(body, status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def error_response(err: ApiError) -> flask.Response:
    """The JSON answer of an :class:`ApiError`."""
    payload = {"error": err.code, "message": err.message, "detail": err.detail}
    headers = {"Retry-After": "1"} if err.status == 503 else None
    return _json_response(payload, err.status, headers)


_HTTP_CODES = {
    400: ("bad_request", "请求有误 (bad request)"),
    404: ("not_found", "不存在 (not found)"),
    405: ("method_not_allowed", "不支持该方法 (method not allowed)"),
    413: ("body_too_large", f"请求体过大 (request body larger than {MAX_BODY_BYTES} bytes)"),
    429: ("too_many_requests", "请求过于频繁 (too many requests)"),
    415: ("unsupported_media_type", "请使用 JSON (Content-Type must be application/json)"),
}


def _http_error(exc: HTTPException) -> ApiError:
    code = exc.code or 500
    name, message = _HTTP_CODES.get(
        code, (re.sub(r"\W+", "_", (exc.name or "error").lower()), exc.name or "")
    )
    return ApiError(code, name, message)


# ---------------------------------------------------------------------- JSON out, masking
def to_json(value: Any) -> Any:
    """``value`` with numpy / pandas / datetime values made JSON-native (ISO 8601 times, ``None``)."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_json(v) for v in value.tolist()]
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dt.datetime | dt.date):  # pd.Timestamp included
        if isinstance(value, dt.datetime):
            return value.replace(microsecond=0).isoformat()
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _report(payload: Any, principal: Principal) -> dict[str, Any] | None:
    """The report (上报) held by an order, masked for the caller as a record of its layer is."""
    if not isinstance(payload, str) or not payload:
        return None
    try:
        data = json.loads(payload)
        layer, record = data["layer"], dict(data["record"])
    except (ValueError, KeyError, TypeError):
        return None
    masked = mask_record(record, layer if layer in LAYERS else None, principal)
    return {"layer": layer, "layer_name": LAYERS[layer].zh if layer in LAYERS else layer, "record": masked}


#: Fields of a work order in an answer, in this order.
ORDER_FIELDS = (
    "order_id",
    "kind",
    "state",
    "severity",
    "summary",
    "grid_code",
    "district_code",
    "worker_id",
    "officer_id",
    "created_by",
    "created_at",
    "deadline",
    "updated_at",
    "overdue_at",
    "closed_at",
    "resolution",
    "source_id",
    "warning_id",
    "version",
)


def _scalar(v: Any) -> Any:
    if isinstance(v, list | tuple | dict | np.ndarray):
        return v
    try:
        return None if pd.isna(v) else v
    except (TypeError, ValueError):
        return v


def order_json(order: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """One work order as the API answers it: masked text, the report, the caller's allowed actions."""
    out = {k: _scalar(order.get(k)) for k in ORDER_FIELDS}
    for k in _TEXT_FIELDS:
        if k in out:
            out[k] = mask_text(out[k], principal)
    out["report"] = _report(_scalar(order.get("payload")), principal)
    out["allowed_actions"] = allowed_actions(order, principal)
    return to_json(out)


def events_json(events: pd.DataFrame, principal: Principal | None = None) -> list[dict[str, Any]]:
    """The trace rows (流转记录), oldest first, notes masked."""
    cols = ("event_id", "from_state", "to_state", "actor", "at", "note", "version")
    rows = []
    for rec in events.to_dict("records"):
        row = {c: _scalar(rec.get(c)) for c in cols}
        row["note"] = mask_text(row["note"], principal)
        rows.append(row)
    return to_json(rows)


# ---------------------------------------------------------------------- roles and actions
def role_actions(principal: Principal) -> tuple[str, ...]:
    """Actions the principal's role may take at all (none without the ``work_orders`` permission)."""
    if not principal.can("work_orders"):
        return ()
    return ROLE_ACTIONS.get(principal.role, ())


def _assigned_elsewhere(order: dict[str, Any], principal: Principal) -> bool:
    """A grid worker acts only on orders assigned to them (or to nobody) in their grid, and on reports
    they submitted themselves."""
    worker = _scalar(order.get("worker_id"))
    own_report = order.get("kind") == wf.KIND_REPORT and order.get("created_by") == principal.user_id
    return (
        principal.role == "grid_worker"
        and worker is not None
        and worker != principal.staff_id
        and not own_report
    )


def allowed_actions(order: dict[str, Any], principal: Principal) -> list[str]:
    """Actions the principal may take on ``order`` now (state machine ∩ role ∩ assignment)."""
    if _assigned_elsewhere(order, principal):
        return []
    state, is_report = order.get("state"), order.get("kind") == wf.KIND_REPORT
    moves = wf.TRANSITIONS.get(state, ())
    out = []
    for action in role_actions(principal):
        if action == "reject":
            ok = is_report and (wf.HANDLING in moves or wf.CLOSED in moves)
        elif action == "resubmit":
            ok = is_report and state in wf.RESUBMIT_FROM
        elif action == "send_back":
            ok = state in (wf.FED_BACK, wf.ESCALATED) and wf.HANDLING in moves
        else:
            ok = wf.ACTIONS[action] in moves
        if ok:
            out.append(action)
    return out


# ---------------------------------------------------------------------- validation
def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    return name == "null" and value is None


def _text_problem(text: str) -> str | None:
    if _CONTROL.search(text):
        return "must not contain control characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (no lone surrogates)"
    return None


def validate(value: Any, schema: dict[str, Any], name: str = "", where: str = "body") -> list[dict[str, str]]:
    """Every way ``value`` breaks ``schema`` (the JSON-Schema subset the route table uses).

    Supported keywords: ``type`` (one or a list), ``enum``, ``minLength``, ``maxLength``, ``pattern``,
    ``minimum``, ``maximum``, ``properties``, ``required``, ``additionalProperties``, ``maxProperties``,
    ``items``, ``maxItems``, ``minItems``. Strings never hold control characters or lone surrogates.

    Parameters
    ----------
    value : object
        Parsed JSON (or a converted query parameter).
    schema : dict
    name : str
        Dotted field name for the messages.
    where : str
        ``body``, ``query`` or ``path``.

    Returns
    -------
    list of dict
        ``{"in", "field", "rule", "message"}`` per problem; empty when valid.
    """
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if types and not any(_is_type(value, t) for t in types):
        got = "null" if value is None else type(value).__name__
        if isinstance(value, float) and not math.isfinite(value):
            got = "a non-finite number"
        return [_problem(where, name, "type", f"must be {' or '.join(types)}, got {got}")]
    out: list[dict[str, str]] = []
    if "enum" in schema and not any(value == e and type(value) is type(e) for e in schema["enum"]):
        shown = ", ".join(map(str, schema["enum"]))
        return [_problem(where, name, "enum", f"must be one of {shown}, got {_short(value)}")]
    if isinstance(value, str):
        bad = _text_problem(value)
        if bad:
            out.append(_problem(where, name, "text", bad))
        if len(value) < schema.get("minLength", 0):
            rule = "must not be empty" if schema["minLength"] == 1 else f"needs {schema['minLength']}+ chars"
            out.append(_problem(where, name, "minLength", rule))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(_problem(where, name, "maxLength", f"at most {schema['maxLength']} characters"))
        if "pattern" in schema and not bad and not re.fullmatch(schema["pattern"], value):
            out.append(_problem(where, name, "pattern", f"must match {schema['pattern']}"))
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(_problem(where, name, "minimum", f"must be >= {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            out.append(_problem(where, name, "maximum", f"must be <= {schema['maximum']}"))
    if isinstance(value, dict):
        out += _validate_object(value, schema, name, where)
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", math.inf):
            out.append(_problem(where, name, "maxItems", f"at most {schema['maxItems']} items"))
        if len(value) < schema.get("minItems", 0):
            out.append(_problem(where, name, "minItems", f"at least {schema['minItems']} items"))
        if "items" in schema and len(value) <= schema.get("maxItems", math.inf):
            for i, item in enumerate(value):
                out += validate(item, schema["items"], f"{name}[{i}]", where)
    return out


def _validate_object(value: dict, schema: dict[str, Any], name: str, where: str) -> list[dict[str, str]]:
    out = []
    prefix = f"{name}." if name else ""
    props = schema.get("properties", {})
    if len(value) > schema.get("maxProperties", math.inf):
        return [_problem(where, name, "maxProperties", f"at most {schema['maxProperties']} fields")]
    for key in schema.get("required", ()):
        if key not in value:
            out.append(_problem(where, prefix + key, "required", "is required"))
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in props:
            out += validate(item, props[key], prefix + key, where)
        elif extra is False:
            known = ", ".join(props) or "none"
            out.append(_problem(where, prefix + _field(key), "unknown", f"unknown field (fields: {known})"))
        elif isinstance(extra, dict):
            bad = _text_problem(key)
            if bad:
                out.append(_problem(where, prefix + "<key>", "text", f"field names {bad}"))
            else:
                out += validate(item, extra, prefix + key, where)
    return out


def _field(key: str) -> str:
    """A field name fit to echo in a message (printable, at most 40 characters)."""
    return key if key.isprintable() and len(key) <= 40 else _short(key, 40)


def _short(value: Any, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class Param:
    """A query parameter: its name, JSON schema (of one value) and description; ``many`` repeats it."""

    name: str
    schema: dict[str, Any]
    description: str
    many: bool = False

    def parse(self, raw: list[str]) -> tuple[Any, list[dict[str, str]]]:
        """The typed value of the raw strings, and the problems found."""
        values, problems = [], []
        if not self.many and len(raw) > 1:
            return None, [_problem("query", self.name, "single", "give it once")]
        for text in raw:
            value = _from_query(text, self.schema.get("type"))
            problems += validate(value, self.schema, self.name, "query")
            values.append(value)
        return (values if self.many else values[0]), problems


def _from_query(text: str, kind: Any) -> Any:
    if kind == "integer" and re.fullmatch(r"[+-]?\d{1,12}", text.strip()):
        return int(text)
    if kind == "boolean":
        return {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}.get(
            text.strip().lower(), text
        )
    return text


# ---------------------------------------------------------------------- request plumbing
@dataclass
class Call:
    """What a view gets: the store, the logged-in principal, the checked query values and body."""

    store: Store
    principal: Principal
    query: dict[str, Any]
    body: Any


@dataclass(frozen=True)
class Route:
    """One REST route: the single declaration the Flask rule, the checks and the OpenAPI path come from.

    Attributes
    ----------
    method, path : str
        HTTP method; Flask rule below :data:`API_PREFIX` (``/work-orders/<order_id>``).
    name : str
        Endpoint name and OpenAPI ``operationId``.
    view : callable
        ``view(call, **path_args) -> (payload, status[, headers])``.
    summary : str
        One line, Chinese and English.
    access : str
        ``login`` (any logged-in user), ``read`` (``records`` or ``work_orders`` permission), ``act``
        (``work_orders``), ``review`` (``work_orders`` and one of :data:`REVIEW_ROLES`), ``unmask`` or
        ``audit`` (the permission of that name).
    query : tuple of Param
    body : dict, optional
        JSON schema of the body (state-changing routes).
    ok : (int, str)
        Success status and the component schema answered.
    more_ok : tuple of int
        Other success statuses answering the same schema (``200`` for a retried creation).
    errors : tuple of int
        Error statuses the route may answer.
    """

    method: str
    path: str
    name: str
    view: Callable[..., tuple]
    summary: str
    access: str = "login"
    query: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None
    ok: tuple[int, str] = (200, "WorkOrder")
    errors: tuple[int, ...] = ()
    more_ok: tuple[int, ...] = ()
    description: str = ""
    tags: tuple[str, ...] = ("work orders",)


def _allowed(principal: Principal, access: str) -> bool:
    if access == "login":
        return True
    if access == "read":
        return principal.can("work_orders") or principal.can("records")
    if access == "act":
        return principal.can("work_orders")
    if access == "review":
        return principal.can("work_orders") and principal.role in REVIEW_ROLES
    if access in ("unmask", "audit"):
        return principal.can(access)
    return False


def check_origin(req: flask.Request) -> None:
    """Refuse a state-changing request that a browser says comes from another site (CSRF)."""
    origin = req.headers.get("Origin")
    if origin is not None:
        parts = urlsplit(origin)
        if not parts.netloc or parts.netloc.lower() != req.host.lower():
            raise ApiError(
                403,
                "cross_origin",
                "拒绝跨站请求 (cross-origin request refused: Origin does not match this server)",
                {"origin": _short(origin, 200), "host": req.host},
            )
    if req.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        raise ApiError(403, "cross_origin", "拒绝跨站请求 (cross-site request refused)", None)


def _read_body(req: flask.Request, route: Route) -> Any:
    if req.content_length is not None and req.content_length > MAX_BODY_BYTES:
        raise _http_error(RequestEntityTooLarge())
    if req.mimetype != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            "请使用 JSON (Content-Type must be application/json)",
            {"content_type": _short(req.content_type, 100)},
        )
    data = req.get_data(cache=True)  # raises 413 past max_content_length
    if not data.strip():
        raise ApiError(400, "invalid_json", "请求体为空 (empty body: send a JSON object)")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ApiError(
            400, "invalid_json", f"JSON 格式错误 (malformed JSON: {_short(str(exc), 120)})"
        ) from None
    problems = validate(body, route.body or {"type": "object"})
    if problems:
        raise _invalid(problems)
    return body


def _read_query(req: flask.Request, route: Route) -> dict[str, Any]:
    known = {p.name: p for p in route.query}
    problems = [
        _problem(
            "query", _field(k), "unknown", f"unknown parameter (parameters: {', '.join(known) or 'none'})"
        )
        for k in req.args
        if k not in known
    ]
    out: dict[str, Any] = {}
    for name, param in known.items():
        raw = req.args.getlist(name)
        if raw:
            out[name], found = param.parse(raw)
            problems += found
    if problems:
        raise _invalid(problems)
    return out


def _wrap(route: Route, get_store: Callable[[], Store]) -> Callable[..., flask.Response]:
    def view(**path_args: str) -> flask.Response:
        req = flask.request
        try:
            principal = current_principal()
            if principal is None:
                raise ApiError(401, "unauthorized", "请先登录 (log in first)")
            body = None
            if req.method in UNSAFE_METHODS:
                check_origin(req)
            if not _allowed(principal, route.access):
                raise ApiError(
                    403,
                    "forbidden",
                    f"无权限 (the role {principal.role} ({principal.role_name}) may not use this route)",
                    {"role": principal.role, "access": route.access},
                )
            query = _read_query(req, route)
            if req.method in UNSAFE_METHODS:
                body = _read_body(req, route)
            result = route.view(Call(get_store(), principal, query, body), **path_args)
            return _json_response(*result)
        except ApiError as err:
            return error_response(err)
        except HTTPException as exc:
            return error_response(_http_error(exc))
        except UnknownUnitError:
            # units named by a parameter are checked in the views: this is the account's own unit
            return error_response(
                ApiError(403, "no_scope", "账号所属单元不存在 (your account's unit is unknown to the store)")
            )
        except sa.exc.IntegrityError:
            # the transaction rolled back whole: e.g. an approved report whose record key exists already
            log.info("integrity conflict on %s %s", req.method, req.path, exc_info=True)
            return error_response(
                ApiError(
                    409,
                    "conflict",
                    "与已有数据冲突，未作任何修改 (conflicts with existing data; nothing changed)",
                )
            )
        except sa.exc.DataError:
            log.info("data refused on %s %s", req.method, req.path, exc_info=True)
            return error_response(
                ApiError(
                    422,
                    "unprocessable",
                    "数据库拒绝该数据，未作任何修改 (the store refused a value; nothing changed)",
                )
            )
        except sa.exc.OperationalError:
            log.warning("store busy on %s %s", req.method, req.path, exc_info=True)
            return error_response(ApiError(503, "busy", "系统繁忙，请稍后重试 (store busy, retry shortly)"))
        except Exception:
            log.exception("internal error on %s %s", req.method, req.path)
            return error_response(ApiError(500, "internal_error", "服务器内部错误 (internal error)"))

    view.__name__ = route.name
    return view


# ---------------------------------------------------------------------- views
def _me(call: Call) -> tuple:
    p = call.principal
    unit = None
    if p.unit_code:
        try:
            u = call.store.unit(p.unit_code)
            unit = {"code": u.code, "name": u.name, "level": u.level, "hierarchy": u.hierarchy}
        except UnknownUnitError:
            unit = {"code": p.unit_code, "name": None, "level": None, "hierarchy": None}
    perms = sorted(PERMISSIONS.get(p.role, ())) if p.unit_code else []
    return (
        {
            "user_id": p.user_id,
            "name": mask_value(p.name, "name"),
            "role": p.role,
            "role_name": ROLES.get(p.role, p.role),
            "staff_id": p.staff_id,
            "unit": unit,
            "permissions": perms,
            "actions": list(role_actions(p)),
        },
        200,
    )


def _page_json(items: list, result: Any, page: int, size: int) -> dict[str, Any]:
    return {"items": items, "total": result.total, "page": page, "page_size": size, "pages": result.pages}


def _list_orders(call: Call) -> tuple:
    p, q = call.principal, call.query
    mine = q.get("mine", p.role == "grid_worker" and p.staff_id is not None)
    if mine and not p.staff_id:
        raise ApiError(
            422,
            "no_staff_record",
            "账号未关联人员 (your account is not linked to a staff record, so it has no own work orders)",
            {"field": "mine"},
        )
    page, size = q.get("page", 1), q.get("page_size", DEFAULT_PAGE_SIZE)
    try:
        result = call.store.work_orders(
            q.get("unit"),
            states=q.get("state"),
            kinds=q.get("kind"),
            assignee=p.staff_id if mine else None,
            scope=p.scope,
            page=page,
            page_size=size,
        )
    except UnknownUnitError:
        if q.get("unit") is None:
            raise
        raise ApiError(
            422, "unknown_unit", f"单元不存在 (unknown unit {q.get('unit')!r})", {"field": "unit"}
        ) from None
    return _page_json([order_json(r, p) for r in result.frame.to_dict("records")], result, page, size), 200


def _order_in_scope(call: Call, order_id: str) -> dict[str, Any]:
    """The order if it exists and lies in the caller's scope, else ``404`` (existence is not revealed)."""
    missing = ApiError(404, "not_found", f"工单不存在 (no work order {_short(order_id, 70)})", None)
    if not ORDER_ID_PATTERN.fullmatch(order_id):
        raise missing
    frame = call.store.read(
        "work_orders", filters={"order_id": order_id}, scope=call.principal.scope, geometry=False
    )
    if frame.empty:
        raise missing
    return frame.iloc[0].to_dict()


def _detail(call: Call, order_id: str) -> dict[str, Any]:
    order = call.store.work_order(order_id)
    return {
        **order_json(order, call.principal),
        "events": events_json(call.store.work_order_events(order_id), call.principal),
    }


def _get_order(call: Call, order_id: str) -> tuple:
    _order_in_scope(call, order_id)
    return _detail(call, order_id), 200


def _act(call: Call, order_id: str) -> tuple:
    p, body = call.principal, call.body
    action, note, version = body["action"], body.get("note", ""), body["version"]
    order = _order_in_scope(call, order_id)
    if action not in role_actions(p):
        raise ApiError(
            403,
            "action_not_allowed",
            f"无权执行 {action} (the role {p.role} ({p.role_name}) may not {action}; "
            f"allowed: {', '.join(role_actions(p)) or 'none'})",
            {"action": action, "role": p.role, "role_actions": list(role_actions(p))},
        )
    if _assigned_elsewhere(order, p):
        raise ApiError(
            403, "not_assigned", "该工单未派给您 (this work order is assigned to another grid worker)", None
        )
    if action in NOTE_REQUIRED and not note.strip():
        raise ApiError(
            422, "note_required", f"请填写原因 (a {action} needs a note saying why)", {"field": "note"}
        )
    if (action == "resubmit") != ("record" in body):
        raise ApiError(
            422,
            "record_required" if action == "resubmit" else "unexpected_record",
            "重新上报须附补正后的内容 (a resubmit needs the corrected record)"
            if action == "resubmit"
            else f"只有重新上报可附内容 (a record goes only with resubmit, not {action})",
            {"field": "record"},
        )
    key = body.get("client_id")
    try:
        if action == "resubmit":
            wf.resubmit_report(
                call.store,
                order_id,
                body["record"],
                p.user_id,
                version,
                note=note,
                scope=p.scope,
                client_id=key,
            )
        elif action == "reject":
            final = bool(body.get("final"))
            wf.reject_report(call.store, order_id, p.user_id, note, version, final=final, client_id=key)
        elif action == "send_back" and order.get("state") not in (wf.FED_BACK, wf.ESCALATED, wf.HANDLING):
            # (from 处置中 only a retried send-back succeeds, unchanged: the workflow decides)
            raise wf.TransitionError(order_id, order["state"], wf.HANDLING, "send back only a fed-back order")
        else:
            wf.act(call.store, order_id, action, p.user_id, note, version, scope=p.scope, client_id=key)
    except StaleVersionError as exc:
        raise ApiError(
            409,
            "stale_version",
            f"工单已变更（您提交的版本 {exc.expected}，当前版本 {exc.actual}，状态 {exc.state}），"
            "请刷新后重试 "
            f"(the order changed since version {exc.expected} you read: it is at version {exc.actual}; "
            "reload and retry)",
            {
                "order_id": order_id,
                "expected_version": exc.expected,
                "version": exc.actual,
                "state": exc.state,
            },
        ) from None
    except wf.TransitionError as exc:
        allowed = allowed_actions(call.store.work_order(order_id), p)
        raise ApiError(
            409,
            "transition_not_allowed",
            f"当前状态不允许该操作 (not allowed: {exc})",
            {
                "order_id": order_id,
                "state": exc.current,
                "requested_state": exc.to_state,
                "allowed_states": list(exc.allowed),
                "allowed_actions": allowed,
            },
        ) from None
    except wf.PlacementError as exc:
        raise _misplaced(exc) from None
    except wf.IdempotencyConflict as exc:
        raise _key_reused(exc) from None
    except ValueError as exc:
        if action == "resubmit":
            raise _invalid_record(exc) from None
        raise ApiError(422, "unprocessable", f"无法处理 (cannot do it: {exc})", None) from None
    except (TypeError, OverflowError, pa.ArrowException) as exc:
        if action != "resubmit":
            raise
        raise _invalid_record(exc) from None
    return _detail(call, order_id), 200


def _grid_in_scope(call: Call, grid_code: str) -> str:
    try:
        grids = call.store.grids_of(grid_code, scope=call.principal.scope)
    except UnknownUnitError:
        grids = []
    if grids != [grid_code]:
        raise ApiError(
            422,
            "unknown_grid",
            f"网格不存在或不在您的辖区 (grid {grid_code} is unknown or outside your area)",
            {"field": "grid_code"},
        )
    return grid_code


#: An ISO 8601 time as the API takes it: a day and a time to the minute at least, optionally a zone
#: (``Z`` or ``±HH:MM``). Words (``now``, ``today``), bare days, week or ordinal dates and epoch numbers are
#: refused: a parser that takes them would take a deadline of "now".
ISO_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)


def _deadline(text: str | None, *, ahead: bool = True) -> dt.datetime | None:
    """The request's deadline in store time (:func:`data.store.workflow.to_store_time`; a time without a
    zone is in the store's zone). ``ahead``: it must lie after now and at most
    ``settings.MAX_DEADLINE_DAYS`` ahead."""
    if text is None:
        return None
    value = None
    if ISO_TIME.fullmatch(text):
        try:
            value = wf.to_store_time(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except (ValueError, OverflowError):
            value = None
    if value is None:
        raise ApiError(
            422,
            "bad_deadline",
            f"办理时限格式错误，应为 2026-12-31T18:00 这样的时间 (deadline {_short(text)} is not an ISO 8601 "
            "date and time: YYYY-MM-DDTHH:MM[:SS][±HH:MM])",
            {"field": "deadline"},
        )
    value = value.replace(microsecond=0)
    now = wf.now()
    if ahead and value <= now:
        raise ApiError(
            422,
            "bad_deadline",
            f"办理时限须晚于当前时间 {now:%Y-%m-%d %H:%M:%S} (deadline must lie ahead)",
            {"field": "deadline"},
        )
    days = settings.MAX_DEADLINE_DAYS
    if ahead and value > now + dt.timedelta(days=days):
        raise ApiError(
            422,
            "bad_deadline",
            f"办理时限过远，最多 {days} 天 (deadline more than {days} days ahead)",
            {"field": "deadline"},
        )
    return value


def _created(call: Call, order: dict[str, Any]) -> tuple:
    """``201`` with the new order, or ``200`` with the order a retried request (same ``client_id``) made."""
    location = f"{API_PREFIX}/work-orders/{order['order_id']}"
    return _detail(call, order["order_id"]), 200 if order.get("replayed") else 201, {"Location": location}


def _key_reused(exc: wf.IdempotencyConflict) -> ApiError:
    return ApiError(
        422,
        "client_id_reused",
        f"该 client_id 已用于另一请求 (client_id already used for work order {exc.order_id} with a different "
        f"{', '.join(exc.fields)}: send a new client_id for a new order)",
        {"field": "client_id", "order_id": exc.order_id, "fields": exc.fields},
    )


def _misplaced(exc: wf.PlacementError) -> ApiError:
    """422 for a record placed outside the caller's scope, nowhere, inconsistently or without a location;
    an unknown place and one outside the scope answer alike (existence is not revealed)."""
    return ApiError(422, exc.code, f"上报位置有误 (the record's location: {exc})", {"field": exc.field})


def _invalid_record(exc: Exception) -> ApiError:
    return ApiError(
        422,
        "invalid_record",
        f"上报内容有误 (the record is not valid: {_short(str(exc), 400)})",
        {"field": "record"},
    )


def _dispatch(call: Call) -> tuple:
    body = call.body
    if not body["summary"].strip():
        raise _invalid([_problem("body", "summary", "minLength", "must not be blank")])
    grid = _grid_in_scope(call, body["grid_code"])
    key = body.get("client_id")
    # a retry of an order already made keeps its deadline, which may have passed since the first request
    retry = key is not None and wf.order_by_key(call.store, wf.KIND_DISPATCH, call.principal.user_id, key)
    deadline = _deadline(body.get("deadline"), ahead=not retry)
    try:
        order = wf.dispatch(
            call.store,
            grid,
            body["summary"],
            call.principal.user_id,
            severity=body.get("severity", "中"),
            deadline=deadline,
            key=key,
        )
    except wf.IdempotencyConflict as exc:
        raise _key_reused(exc) from None
    except (ValueError, NotFoundError) as exc:
        raise ApiError(422, "unprocessable", f"无法派单 (cannot dispatch: {exc})", None) from None
    return _created(call, order)


def _own_grid(call: Call) -> str | None:
    """The grid the caller's account is bound to, if it is bound to a grid (a grid worker's)."""
    p = call.principal
    if not p.unit_code:
        return None
    try:
        unit = call.store.unit(p.unit_code)
    except UnknownUnitError:
        return None
    return unit.code if unit.level == "grid" else None


def _submit_report(call: Call) -> tuple:
    """上报: the record is placed by the store (:func:`data.store.workflow.place_record`) from its point or
    its address, each of which must lie in the caller's scope; a record without a location takes the
    caller's own grid, for an account bound to one grid only. ``grid_code`` is a claim that must match."""
    p, body = call.principal, call.body
    own = _own_grid(call)
    try:
        order = wf.submit_report(
            call.store,
            body.get("grid_code") or own,
            body["layer"],
            body["record"],
            p.user_id,
            scope=p.scope,
            fallback=own,
            summary=body.get("summary") or None,
            severity=body.get("severity", "中"),
            key=body.get("client_id"),
        )
    except wf.IdempotencyConflict as exc:
        raise _key_reused(exc) from None
    except wf.PlacementError as exc:
        raise _misplaced(exc) from None
    except (ValueError, TypeError, OverflowError, pa.ArrowException) as exc:
        raise _invalid_record(exc) from None
    return _created(call, order)


def _unmask(call: Call, layer: str, record_id: str) -> tuple:
    try:
        found = um.unmask(
            call.store,
            call.principal,
            layer,
            record_id,
            call.body["reason"],
            address=client_address(),
            via="api",
        )
    except um.UnmaskRefused as exc:
        raise ApiError(403, "unmask_not_allowed", str(exc), {"layer": _short(layer, 70)}) from None
    except um.ReasonError as exc:
        raise _invalid([_problem("body", "reason", "reason", str(exc))]) from None
    except um.UnmaskLimit as exc:
        raise ApiError(429, "too_many_unmaskings", str(exc), {"per_hour": settings.UNMASK_PER_HOUR}) from None
    except NotFoundError as exc:
        raise ApiError(404, "not_found", str(exc), None) from None
    return (
        {
            "layer": found.layer,
            "layer_name": LAYERS[found.layer].zh,
            "record_id": found.record_id,
            "fields": found.fields,
            "audit_id": found.audit_id,
        },
        200,
    )


def _audit(call: Call) -> tuple:
    q = call.query
    filters = {k: q[k] for k in ("actor", "action") if k in q}
    page, size = q.get("page", 1), q.get("page_size", DEFAULT_PAGE_SIZE)
    days, problems = {}, []
    for name in ("from", "to"):
        try:
            days[name] = dt.date.fromisoformat(q[name]) if name in q else None
        except ValueError:
            problems.append(_problem("query", name, "date", f"{_short(q[name])} is not a day (YYYY-MM-DD)"))
    if not problems and days["from"] and days["to"] and days["to"] < days["from"]:
        problems.append(_problem("query", "to", "order", "must not be before from"))
    if problems:
        raise _invalid(problems)
    result = call.store.audit_entries(days["from"], days["to"], filters, page, size)
    items = []
    for rec in result.frame.to_dict("records"):
        detail = _scalar(rec.get("detail"))
        try:
            detail = json.loads(detail) if isinstance(detail, str) else detail
        except ValueError:
            pass
        items.append(
            {
                **{
                    k: _scalar(rec.get(k)) for k in ("audit_id", "at", "actor", "action", "target", "address")
                },
                "reason": mask_text(_scalar(rec.get("reason")), call.principal),
                "detail": detail,
            }
        )
    return _page_json(to_json(items), result, page, size), 200


def _openapi(call: Call) -> tuple:
    return openapi_document(), 200


# ---------------------------------------------------------------------- the route table
_ORDER_ID = {"type": "string", "pattern": ORDER_ID_PATTERN.pattern}
#: Schemas of the path parameters (OpenAPI); the views check them and answer 404 for anything else.
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "order_id": _ORDER_ID,
    "layer": {"type": "string", "enum": list(um.UNMASK_LAYERS)},
    "record_id": {"type": "string", "pattern": um.RECORD_ID_PATTERN.pattern},
}
_STATE = {"type": "string", "enum": list(WORK_ORDER_STATES)}
_TEXT = {"type": "string", "maxLength": MAX_NOTE}
_RECORD: dict[str, Any] = {
    "type": "object",
    "maxProperties": 50,
    "properties": {
        "lon": {"type": "number", "minimum": -180, "maximum": 180, "description": "经度 (EPSG:4326)"},
        "lat": {"type": "number", "minimum": -90, "maximum": 90, "description": "纬度 (EPSG:4326)"},
    },
    "additionalProperties": {"type": ["string", "number", "boolean", "null"], "maxLength": MAX_NOTE},
    "description": "Column → value of the new record; lon/lat for a point (EPSG:4326)",
}
_CLIENT_ID: dict[str, Any] = {
    "type": "string",
    "pattern": r"[A-Za-z0-9._:-]{8,100}",
    "description": "幂等键 (idempotency key): an id the app makes once per new order (e.g. a UUID) and sends "
    "again with every retry of that request. A retry by the same user answers 200 with the order the first "
    "request created, creating nothing; the same client_id with a different request answers 422 "
    "client_id_reused. Without it every request creates an order.",
}

ACTION_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["action", "version"],
    "properties": {
        "action": {
            "type": "string",
            "enum": list(ACTIONS),
            "description": "sign 签收 · handle 处置 · feed_back 反馈 · close 办结/审核通过 · "
            "send_back 退回 · reject 驳回 (a report) · resubmit 重新上报 (a rejected report, with record) · "
            "escalate 升级",
        },
        "version": {
            "type": "integer",
            "minimum": 1,
            "maximum": 2**31 - 1,
            "description": "The order's version as read (optimistic locking, 乐观锁)",
        },
        "note": {**_TEXT, "description": "What was done or why (needed for send_back and reject)"},
        "final": {
            "type": "boolean",
            "description": "reject for good (已办结, 驳回) instead of back to the worker",
        },
        "record": {
            **_RECORD,
            "description": "resubmit only (and required there): the corrected record, all of it; it keeps "
            "the first record's key unless it names one",
        },
        "client_id": {
            **_CLIENT_ID,
            "description": "请求号 (request id): an id the app makes once per move and sends again with "
            "every retry of it. A retry (same user, action, version read and client_id) answers 200 with the "
            "order as it is now, changing nothing; any other request at an old version answers 409 "
            "stale_version.",
        },
    },
}

DISPATCH_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["grid_code", "summary"],
    "properties": {
        "grid_code": {"type": "string", "pattern": r"[0-9]{15}", "description": "网格编码 (15 digits)"},
        "summary": {"type": "string", "minLength": 1, "maxLength": MAX_SUMMARY, "description": "事由"},
        "severity": {"type": "string", "enum": list(SEVERITIES), "description": "紧急程度 (default 中)"},
        "deadline": {
            "type": "string",
            "maxLength": 40,
            "format": "date-time",
            "description": "办理时限, ISO 8601 (default by severity)",
        },
        "client_id": _CLIENT_ID,
    },
}

REPORT_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["layer", "record"],
    "properties": {
        "layer": {
            "type": "string",
            "enum": list(wf.REPORT_LAYERS),
            "description": "The layer the record adds to",
        },
        "record": _RECORD,
        "grid_code": {
            "type": "string",
            "pattern": r"[0-9]{15}",
            "description": "网格编码: a claim checked against where the record lies (its lon/lat or "
            "address_id), never trusted; a record without a location takes the reporter's own grid, for an "
            "account bound to one grid only",
        },
        "summary": {"type": "string", "maxLength": MAX_SUMMARY},
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "client_id": _CLIENT_ID,
    },
}

PAGE_QUERY = (
    Param("page", {"type": "integer", "minimum": 1, "maximum": 100_000}, "1-based page (default 1)"),
    Param(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        f"Rows per page (default {DEFAULT_PAGE_SIZE})",
    ),
)

UNMASK_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reason"],
    "properties": {
        "reason": {
            "type": "string",
            "minLength": um.MIN_REASON,
            "maxLength": um.MAX_REASON,
            "description": (
                f"查看原因 (why; at least {um.MIN_REASON} visible Chinese characters, letters or digits), "
                "kept in the audit log as typed"
            ),
        }
    },
}

_DAY = {"type": "string", "pattern": r"[0-9]{4}-[0-9]{2}-[0-9]{2}"}
AUDIT_QUERY = (
    Param("actor", {"type": "string", "maxLength": 64}, "Only entries of this user"),
    Param(
        "action", {"type": "string", "maxLength": 40}, "Only entries of this action (login, unmask, export …)"
    ),
    Param("from", _DAY, "First day (YYYY-MM-DD)"),
    Param("to", _DAY, "Last day (YYYY-MM-DD), included"),
    *PAGE_QUERY,
)

LIST_QUERY = (
    Param("state", _STATE, "Only orders in these states (repeat the parameter for several)", many=True),
    Param(
        "kind", {"type": "string", "enum": list(WORK_ORDER_KINDS)}, "Only orders of these kinds", many=True
    ),
    Param(
        "unit",
        {"type": "string", "pattern": r"[0-9]{4,15}"},
        "Only orders of this unit (either hierarchy); narrows the caller's scope, never widens it",
    ),
    Param(
        "mine",
        {"type": "boolean"},
        "Only orders whose worker or officer the caller is (default: true for grid workers)",
    ),
    *PAGE_QUERY,
)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/me", "me", _me, "当前用户 (who am I)", ok=(200, "Me"), tags=("session",)),
    Route(
        "GET",
        "/work-orders",
        "list_work_orders",
        _list_orders,
        "工单列表 (work orders in my scope, newest first)",
        access="read",
        query=LIST_QUERY,
        ok=(200, "WorkOrderPage"),
        errors=(400, 403, 422),
    ),
    Route(
        "POST",
        "/work-orders",
        "dispatch_work_order",
        _dispatch,
        "派单 (an officer's instruction to a grid's worker)",
        access="review",
        body=DISPATCH_BODY,
        ok=(201, "WorkOrderDetail"),
        more_ok=(200,),
        errors=(400, 403, 413, 415, 422),
        description="201 with the new order; 200 with the order made first when a retry sends the same "
        "client_id; 422 client_id_reused for the same client_id with a different request.",
    ),
    Route(
        "GET",
        "/work-orders/<order_id>",
        "get_work_order",
        _get_order,
        "工单详情与流转记录 (one work order with its trace)",
        access="read",
        ok=(200, "WorkOrderDetail"),
        errors=(403, 404),
    ),
    Route(
        "POST",
        "/work-orders/<order_id>/actions",
        "act_on_work_order",
        _act,
        "签收/处置/反馈/办结/退回/驳回/重新上报/升级 (move a work order)",
        access="act",
        body=ACTION_BODY,
        ok=(200, "WorkOrderDetail"),
        errors=(400, 403, 404, 409, 413, 415, 422),
        description="Repeating the same action by the same user (a retried request) answers 200 with the "
        "unchanged order. A version other than the current one answers 409 stale_version (reload). "
        "resubmit (a report rejected or sent back, 处置中 or 超期) sends the corrected record for review "
        "again (已反馈); the trace row names the fields that changed.",
    ),
    Route(
        "POST",
        "/reports",
        "submit_report",
        _submit_report,
        "上报 (a grid worker's report, entering the data once an officer approves it)",
        access="act",
        body=REPORT_BODY,
        ok=(201, "WorkOrderDetail"),
        more_ok=(200,),
        errors=(400, 403, 413, 415, 422),
        description="201 with the new order; 200 with the order made first when a retry sends the same "
        "client_id (even after a resubmission changed its record); 422 client_id_reused for the same "
        "client_id with a different request.",
    ),
    Route(
        "POST",
        "/records/<layer>/<record_id>/unmask",
        "unmask_record",
        _unmask,
        "查看明文 (one record's personal fields unmasked, with a stated reason; audited)",
        access="unmask",
        body=UNMASK_BODY,
        ok=(200, "Unmasked"),
        errors=(400, 403, 404, 413, 415, 429),
        description="Writes an audit entry (who, which record, when, from which address, why) before it "
        "answers. A record outside the caller's scope answers 404, as one that does not exist.",
        tags=("personal data",),
    ),
    Route(
        "GET",
        "/audit",
        "list_audit_entries",
        _audit,
        "审计日志 (the audit log, newest first; read only, administrators)",
        access="audit",
        query=AUDIT_QUERY,
        ok=(200, "AuditPage"),
        errors=(400, 403),
        tags=("audit",),
    ),
    Route(
        "GET",
        "/openapi.json",
        "openapi",
        _openapi,
        "OpenAPI 3.1 document of this API",
        ok=(200, "OpenAPI"),
        tags=("meta",),
    ),
)


# ---------------------------------------------------------------------- OpenAPI
def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path (``/work-orders/<order_id>`` → ``/work-orders/{order_id}``)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _page_schema(item: str) -> dict[str, Any]:
    """The schema of one page of ``item`` components (``items``, ``total``, ``page`` …)."""
    items = {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}
    counts = {k: {"type": "integer"} for k in ("total", "page", "page_size", "pages")}
    return {"type": "object", "properties": {"items": items, **counts}}


_STR_OR_NULL = {"type": ["string", "null"]}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "machine code, e.g. stale_version"},
            "message": {"type": "string", "description": "中文 (English)"},
            "detail": {"description": "fields and rules broken, allowed moves, current version …"},
        },
    },
    "WorkOrder": {
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "kind": {"type": "string", "enum": list(WORK_ORDER_KINDS)},
            "state": _STATE,
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "summary": {"type": "string", "description": "事由 (ID and phone numbers masked)"},
            **{
                k: _STR_OR_NULL
                for k in ("grid_code", "district_code", "worker_id", "officer_id", "created_by")
            },
            **{k: _TIME_OR_NULL for k in ("created_at", "deadline", "updated_at", "overdue_at", "closed_at")},
            "resolution": _STR_OR_NULL,
            "source_id": _STR_OR_NULL,
            "warning_id": {"type": ["integer", "null"]},
            "version": {"type": "integer", "description": "send it back with an action (optimistic locking)"},
            "report": {
                "type": ["object", "null"],
                "description": "上报内容 of a report order, personal fields masked",
                "properties": {"layer": {"type": "string"}, "layer_name": {"type": "string"}, "record": {}},
            },
            "allowed_actions": {"type": "array", "items": {"type": "string", "enum": list(ACTIONS)}},
        },
    },
    "Event": {
        "type": "object",
        "properties": {
            "event_id": {"type": "integer"},
            "from_state": _STR_OR_NULL,
            "to_state": {"type": "string"},
            "actor": {"type": "string", "description": "user id of who moved it"},
            "at": {"type": "string", "format": "date-time"},
            "note": _STR_OR_NULL,
            "version": {"type": "integer"},
        },
    },
    "WorkOrderDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/WorkOrder"},
            {
                "type": "object",
                "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}},
            },
        ]
    },
    "WorkOrderPage": _page_schema("WorkOrder"),
    "Me": {
        "type": "object",
        "properties": {
            "user_id": {"type": "string"},
            "name": {"type": "string", "description": "masked"},
            "role": {"type": "string", "enum": list(ROLES)},
            "role_name": {"type": "string"},
            "staff_id": _STR_OR_NULL,
            "unit": {"type": ["object", "null"]},
            "permissions": {"type": "array", "items": {"type": "string"}},
            "actions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Unmasked": {
        "type": "object",
        "properties": {
            "layer": {"type": "string", "enum": list(um.UNMASK_LAYERS)},
            "layer_name": {"type": "string"},
            "record_id": {"type": "string"},
            "fields": {"type": "object", "description": "personal column → unmasked value"},
            "audit_id": {"type": "integer", "description": "the audit entry written for this unmasking"},
        },
    },
    "AuditEntry": {
        "type": "object",
        "properties": {
            "audit_id": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "target": _STR_OR_NULL,
            "address": _STR_OR_NULL,
            "reason": {"type": ["string", "null"], "description": "ID and phone numbers masked"},
            "detail": {},
        },
    },
    "AuditPage": _page_schema("AuditEntry"),
    "OpenAPI": {"type": "object"},
}

_STATUS_TEXT = {
    400: "请求参数有误 (malformed JSON, or a field breaks a rule: detail lists field, rule, message)",
    401: "未登录 (not logged in)",
    403: "无权限或跨站请求 (role not allowed, not your order, or cross-origin)",
    404: "不存在或不在辖区 (unknown or outside your scope)",
    409: "版本过期或状态不允许 (stale version: reload; or a move the state machine does not allow)",
    413: f"请求体过大 (body larger than {MAX_BODY_BYTES} bytes)",
    415: "请使用 JSON (Content-Type must be application/json)",
    422: "无法处理 (well-formed but not acceptable: unknown grid, invalid record, a record placed outside "
    "your area or without a location, missing note, deadline not ahead …)",
    429: f"查看明文过于频繁 (more than {settings.UNMASK_PER_HOUR} unmaskings in an hour)",
    500: "服务器内部错误 (internal error; never caused by bad input)",
    503: "系统繁忙 (store busy: retry)",
}


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": list(route.tags),
        "x-access": route.access,
    }
    if route.description:
        op["description"] = route.description
    params = [
        {"name": name, "in": "path", "required": True, "schema": PATH_SCHEMAS.get(name, _ORDER_ID)}
        for name in re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", route.path)
    ]
    for p in route.query:
        schema = {"type": "array", "items": p.schema} if p.many else p.schema
        params.append(
            {
                "name": p.name,
                "in": "query",
                "required": False,
                "description": p.description,
                "schema": schema,
                **({"explode": True} if p.many else {}),
            }
        )
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
    status, schema = route.ok
    responses: dict[str, Any] = {
        str(code): {
            "description": "OK" if code == 200 else "Created",
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
        for code in sorted({status, *route.more_ok})
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for code in sorted({401, 503, *route.errors}):
        responses[str(code)] = {"description": _STATUS_TEXT[code], "content": error}
    op["responses"] = responses
    return op


def openapi_document(routes: Sequence[Route] = ROUTES) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API, built from the route table.

    Parameters
    ----------
    routes : sequence of Route
        Default :data:`ROUTES`.

    Returns
    -------
    dict
    """
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(API_PREFIX + openapi_path(route.path), {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "警网融合一张图 移动端接口 (one-map mobile API)",
            "version": API_VERSION,
            "description": (__doc__ or "").split("\n\n")[0],
        },
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "onemap_session"}},
        },
        "security": [{"session": []}],
    }


# ---------------------------------------------------------------------- the blueprint
def api_blueprint(get_store: Callable[[], Store]) -> flask.Blueprint:
    """The REST API as a Flask blueprint mounted at :data:`API_PREFIX`.

    Install the log-in guard (:func:`dashboard.auth.install`) on the server first; the API never takes
    the acting user from a parameter.

    Parameters
    ----------
    get_store : callable
        Returns the open store.

    Returns
    -------
    flask.Blueprint
    """
    bp = flask.Blueprint("api_v1", __name__, url_prefix=API_PREFIX)

    @bp.before_request
    def _limit_body():
        flask.request.max_content_length = MAX_BODY_BYTES

    for route in ROUTES:
        bp.add_url_rule(
            route.path, endpoint=route.name, view_func=_wrap(route, get_store), methods=[route.method]
        )

    def _api_http_error(exc: HTTPException):
        # unknown paths and methods below /api/ answer JSON; the rest of the server keeps its own pages
        if flask.request.path.startswith(API_PREFIX + "/") or flask.request.path == API_PREFIX:
            return error_response(_http_error(exc))
        return exc

    bp.register_error_handler(HTTPException, _api_http_error)
    bp.app_errorhandler(404)(_api_http_error)
    bp.app_errorhandler(405)(_api_http_error)
    bp.before_app_request(_unknown_api_path)
    return bp


#: The API's own rules, to tell an unknown ``/api/`` path or method from a known one whatever else the
#: server routes (the dashboard answers every other path with its page).
_API_MAP = Map(
    [Rule(API_PREFIX + r.path, endpoint=r.name, methods=[r.method]) for r in ROUTES], strict_slashes=False
)


def _unknown_api_path() -> flask.Response | None:
    """``404`` JSON for a path below ``/api`` that is no route of the API (any method), ``405`` JSON for a
    route asked with another method; before any other route (the dashboard's page) can answer."""
    req = flask.request
    path = req.path
    if not (path == "/api" or path.startswith("/api/")):
        return None
    try:
        _API_MAP.bind("", url_scheme=req.scheme).match(path, method=req.method)
    except MethodNotAllowed as exc:
        resp = error_response(_http_error(exc))
        resp.headers["Allow"] = ", ".join(sorted(exc.valid_methods or ()))
        return resp
    except HTTPException as exc:  # NotFound, or a redirect to a slash form the API does not use
        return error_response(_http_error(NotFound() if exc.code != 405 else exc))
    return None
