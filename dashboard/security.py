"""Security headers (安全响应头) on every answer of the server, and clear answers to oversized requests.

:func:`install` adds to every response (pages, Dash callbacks, REST API, the wall, assets, errors):

``Content-Security-Policy`` (:func:`content_security_policy`), no origin but this server's (and the
intranet tile service's, when one is configured). Each directive, and why it is what it is:

* ``default-src 'self'``: anything not named below comes from this server only;
* ``script-src 'self' 'unsafe-eval' 'sha256-…'``: the bundles are served by this server; the hashes are
  those of Dash's own inline scripts (the renderer start-up and the clientside callbacks,
  ``Dash.csp_hashes``), so no other inline script runs (no ``'unsafe-inline'``). ``'unsafe-eval'`` is
  needed by deckgl-dash alone: it compiles the layers' colour accessors (:mod:`layers.deck`) with
  ``new Function`` and its loaders compile WebAssembly; without it (measured in Chromium) every
  accessor fails with an ``EvalError`` and the map draws in default colours. Plotly and Dash need no
  eval;
* ``style-src 'self' 'unsafe-inline'``: React, plotly and deck.gl set ``style`` attributes and inject
  ``<style>`` elements at run time (styles cannot run code);
* ``img-src``, ``font-src``, ``worker-src``: ``'self'`` only. No ``data:`` or ``blob:``: every screen
  and the wall draw without them in Chromium (the browser tests fail on any violation);
* ``connect-src 'self' data:``: deck.gl's loaders ``fetch`` the kernel-density image (核密度,
  :func:`layers.deck.kde_layer`), which the server sends inline as a ``data:`` URL so that every server
  process can answer without a second request. A ``data:`` URL carries nothing anywhere (no
  exfiltration channel); network connections still go to this server only;
* the tile service's origin is added to ``img-src`` and ``connect-src`` when ``ONEMAP_TILE_URL`` is set
  (the map fetches its tiles; ``{s}`` sub-domain placeholders become ``*``);
* ``frame-ancestors 'none'`` (and ``X-Frame-Options: DENY``): no other page may frame the dashboard
  (click-jacking); the wall is a top-level page. The one page the product frames itself, the wall's 3D
  view, answers with ``frame-ancestors 'self'`` and the hash of its one inline script
  (:func:`framed_by_self`);
* ``object-src 'none'``, ``base-uri 'self'``, ``form-action 'self'``: no plug-ins, no ``<base>``
  hijack, forms post only here.

Also ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
``Cross-Origin-Opener-Policy: same-origin``, ``Cross-Origin-Resource-Policy: same-origin``, a
``Permissions-Policy`` turning off camera, microphone and geolocation, ``Strict-Transport-Security`` when
cookies are marked secure (HTTPS), and ``Cache-Control: no-store`` on everything but the static bundles
(pages, callbacks, exports and API answers hold data of one user's scope).

Requests larger than the server's ``MAX_CONTENT_LENGTH`` get ``413`` with a JSON body below ``/_dash``
and ``/api/`` and a short page elsewhere.

Cross-site request forgery (CSRF): every state-changing request (``POST``, ``PUT``, ``PATCH``,
``DELETE``: log-in, Dash callbacks, which export and unmask, and the REST API) that a browser says comes
from another site (``Origin`` of another host, ``Sec-Fetch-Site: cross-site``) is refused with ``403``
(:func:`dashboard.api.check_origin`); the session cookie is ``SameSite=Lax`` besides. A callback request
that is not a JSON object naming a callback of the app gets ``400`` instead of Dash's ``500``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import flask
from dash.exceptions import DependencyException
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard.api import UNSAFE_METHODS, ApiError, check_origin, error_response

#: Paths whose answers are static bundles (may be cached); everything else is ``no-store``.
STATIC_PREFIXES = ("/assets/", "/assets-pydeck/", "/_dash-component-suites/", "/_favicon.ico")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
#: Below the static prefixes: parent steps, backslashes, NUL and characters left encoded after decoding.
_HOSTILE_PATH = re.compile(r"(^|/)\.\.?(/|$)|[\\\x00%]")
CALLBACK_PATH = "/_dash-update-component"


class BadCallbackArgument(ValueError):
    """A callback argument the browser could not have sent (wrong type or value): the answer is ``400``."""


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**53


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | bool) or _number(v)


def _text(v: Any) -> bool:
    return isinstance(v, str)


#: JSON type of each property a callback of the app reads (``None`` is always allowed: not set yet).
#: Properties not listed (``data`` of a store, ``layers``, ``fitBounds``) are checked by the callback.
PROPERTY_TYPES: dict[str, Any] = {
    "pathname": _text,
    "search": _text,
    "href": _text,
    "className": _text,
    "start_date": _text,
    "end_date": _text,
    "n_clicks": _count,
    "n_intervals": _count,
    "value": lambda v: _scalar(v) or (isinstance(v, list) and all(_scalar(x) for x in v)),
    "active_cell": lambda v: (
        isinstance(v, dict)
        and _count(v.get("row"))
        and _count(v.get("column"))
        and _text(v.get("column_id", ""))
    ),
    "clickInfo": lambda v: isinstance(v, dict),
    "derived_viewport_data": lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v),
    "selected_row_ids": lambda v: isinstance(v, list) and all(_scalar(x) for x in v),
    "selected_rows": lambda v: isinstance(v, list) and all(_count(x) for x in v),
}


def _pattern(spec_id: str) -> tuple[dict[str, Any] | None, bool]:
    """A declared id as (pattern, ALL) for a pattern-matching id, else (None, False)."""
    if not spec_id.startswith("{"):
        return None, False
    pattern = json.loads(spec_id)
    many = any(isinstance(v, list) and v[0] in ("ALL", "ALLSMALLER") for v in pattern.values())
    return pattern, many


def _id_problem(spec_id: str, ident: Any) -> str | None:
    pattern, _ = _pattern(spec_id)
    if pattern is None:
        return None if ident == spec_id else f"id must be {spec_id!r}"
    if not isinstance(ident, dict) or set(ident) != set(pattern):
        return f"id must be an object with the keys {sorted(pattern)}"
    for key, want in pattern.items():
        got = ident[key]
        if isinstance(want, list):
            if not _scalar(got) or got is None:
                return f"id.{key} must be a text or a number"
        elif got != want:
            return f"id.{key} must be {want!r}"
    return None


def _item_problem(spec: Mapping[str, str], item: Any, *, value: bool = True) -> str | None:
    """What is wrong with one argument (or output, ``value=False``) of a callback request."""
    if not isinstance(item, dict) or "id" not in item or "property" not in item:
        return "each argument must be an object with id and property"
    prop = item["property"]
    if value:
        ok = prop == spec["property"]
    else:  # an output of a callback allowed to share it says so as property@hash (Dash strips it)
        ok = isinstance(prop, str) and prop.split("@")[0] == spec["property"]
    if not ok:
        return f"property must be {spec['property']!r}"
    problem = _id_problem(spec["id"], item["id"])
    if problem or not value:
        return problem
    check = PROPERTY_TYPES.get(spec["property"])
    v = item.get("value")
    if v is not None and check is not None and not check(v):
        return f"{spec['property']} has the wrong type ({type(v).__name__})"
    return None


def _args_problem(
    specs: Sequence[Mapping[str, str]], items: Any, what: str, *, value: bool = True
) -> str | None:
    if not isinstance(items, list) or len(items) != len(specs):
        return f"{what} must be a list of {len(specs)}"
    for i, (spec, item) in enumerate(zip(specs, items, strict=True)):
        _, many = _pattern(spec["id"])
        if many and not isinstance(item, list):
            return f"{what}[{i}] must be a list (a pattern with ALL)"
        for one in item if many else [item]:
            problem = _item_problem(spec, one, value=value)
            if problem:
                return f"{what}[{i}]: {problem}"
    return None


def _changed_ok(prop_id: Any, specs: Sequence[Mapping[str, str]]) -> bool:
    """True when ``prop_id`` (``id.property``) names one of the callback's inputs."""
    if not isinstance(prop_id, str) or len(prop_id) > 2000:
        return False
    ident, _, prop = prop_id.rpartition(".")
    for spec in specs:
        if spec["property"] != prop:
            continue
        if not spec["id"].startswith("{"):
            if ident == spec["id"]:
                return True
            continue
        try:
            parsed = json.loads(ident)
        except ValueError:
            continue
        if _id_problem(spec["id"], parsed) is None:
            return True
    return False


def _output_specs(key: str) -> list[dict[str, str]]:
    """The outputs a callback's key declares, as ``{"id", "property"}``."""
    names = key[2:-2].split("...") if key.startswith("..") else [key]
    out = []
    for name in names:
        ident, _, prop = name.split("@")[0].rpartition(".")
        out.append({"id": ident, "property": prop})
    return out


def callback_problem(body: Any, callbacks: Mapping[str, Any]) -> str | None:
    """What makes a ``/_dash-update-component`` request malformed for the callback it names, or ``None``.

    Parameters
    ----------
    body : object
        The parsed JSON body.
    callbacks : mapping
        The Dash app's ``callback_map``.

    Returns
    -------
    str or None
        An English description of the first problem.
    """
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    key = body.get("output")
    cb = callbacks.get(key) if isinstance(key, str) else None
    if cb is None or cb.get("callback") is None:
        return "output must name a server-side callback of this app"
    problem = _args_problem(cb["inputs"], body.get("inputs"), "inputs")
    problem = problem or _args_problem(cb.get("state", []), body.get("state", []), "state")
    if problem:
        return problem
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(_changed_ok(c, cb["inputs"]) for c in changed):
        return "changedPropIds must name inputs of the callback (id.property)"
    if cb.get("no_output"):
        return None
    specs, outputs = _output_specs(key), body.get("outputs")
    if key.startswith(".."):
        return _args_problem(specs, outputs, "outputs", value=False)
    problem = _args_problem(specs, [outputs], "outputs", value=False)
    return problem


def arg_number(value: Any, name: str, *, default: float, low: float, high: float) -> float:
    """A numeric callback argument (``None``: ``default``); :class:`BadCallbackArgument` for anything but a
    finite number in ``[low, high]`` (``"abc"``, a list, an object, ``true``)."""
    if value is None:
        return default
    if not _number(value) or not low <= value <= high:
        raise BadCallbackArgument(f"{name} must be a number from {low} to {high}")
    return float(value)


def arg_text(value: Any, name: str, *, default: str | None = None, max_len: int = 2000) -> str | None:
    """A text callback argument (``None``: ``default``); :class:`BadCallbackArgument` otherwise."""
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > max_len:
        raise BadCallbackArgument(f"{name} must be a text of at most {max_len} characters")
    return value


def arg_object(value: Any, name: str) -> dict[str, Any]:
    """An object callback argument (``None``: empty); :class:`BadCallbackArgument` otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadCallbackArgument(f"{name} must be an object")
    return value


def bad_callback(message: str) -> flask.Response:
    """The ``400`` answer to a malformed callback request (JSON, ``中文 (English)``)."""
    return error_response(ApiError(400, "bad_callback_request", f"回调请求格式错误 ({message})"))


def tile_origin(tile_url: str | None) -> str | None:
    """The CSP source of a tile URL template (``http://pgis.local/{z}/{x}/{y}.png`` → ``http://pgis.local``).

    Placeholders in the host (``{s}``, ``{a-c}``) become the wildcard ``*``. ``None`` without a URL.

    Raises
    ------
    ValueError
        A tile URL that is not absolute ``http(s)://host…``.
    """
    if not tile_url:
        return None
    parts = urlsplit(tile_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"ONEMAP_TILE_URL must be an absolute http(s) URL, got {tile_url!r}")
    host = parts.netloc.rsplit("@", 1)[-1]
    labels = ["*" if "{" in label or "}" in label else label for label in host.split(".")]
    return f"{parts.scheme}://{'.'.join(labels)}"


def content_security_policy(
    script_hashes: Sequence[str] = (),
    tile_url: str | None = None,
    frame_ancestors: str = "'none'",
    images: Sequence[str] = (),
) -> str:
    """The ``Content-Security-Policy`` value (see the module's docstring for each directive).

    Parameters
    ----------
    script_hashes : sequence of str
        ``'sha256-…'`` sources of the inline scripts allowed (``Dash.csp_hashes()``).
    tile_url : str, optional
        The intranet tile service (``AppConfig.tile_url``), whose origin may serve images and data.
    frame_ancestors : str
        Who may frame the answer (``'none'``; ``'self'`` for the wall's own 3D view).
    images : sequence of str
        More ``img-src`` sources (``data:`` for the wall's 3D view only).

    Returns
    -------
    str
    """
    tiles = tile_origin(tile_url)
    extra = [tiles] if tiles else []
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-eval'", *sorted(set(script_hashes))],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", *extra, *images],
        "font-src": ["'self'"],
        "connect-src": ["'self'", "data:", *extra],
        "worker-src": ["'self'"],
        "frame-ancestors": [frame_ancestors],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def install(
    server: flask.Flask, csp: str, *, https: bool = False, callbacks: Mapping[str, object] | None = None
) -> None:
    """Add the security headers to every response of ``server``, refuse cross-site state changes and
    answer oversized or malformed requests clearly.

    Parameters
    ----------
    server : flask.Flask
    csp : str
        The ``Content-Security-Policy`` (:func:`content_security_policy`).
    https : bool
        The server is reached over HTTPS (adds ``Strict-Transport-Security``).
    callbacks : mapping, optional
        The Dash app's ``callback_map``: callback requests must name one of them.
    """
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000"

    @server.before_request
    def _same_site_and_well_formed():
        req = flask.request
        if req.method not in UNSAFE_METHODS:
            return None
        try:
            check_origin(req)
        except ApiError as err:
            return error_response(err)
        if callbacks is not None and req.path == CALLBACK_PATH:
            try:
                body = json.loads(req.get_data(cache=True) or b"null")
            except (ValueError, RecursionError):
                body = None
            problem = callback_problem(body, callbacks)
            if problem:
                return bad_callback(problem)
        return None

    @server.before_request
    def _no_path_tricks():
        # werkzeug has decoded %2e and %2f already: what is left is what the route would see
        path = flask.request.path
        for prefix in ("/_dash-component-suites/", "/assets/", "/assets-pydeck/"):
            if path.startswith(prefix) and _HOSTILE_PATH.search(path[len(prefix) :]):
                return _not_found()
        return None

    @server.errorhandler(DependencyException)
    def _unknown_bundle(exc: DependencyException):
        return _not_found()

    @server.errorhandler(BadCallbackArgument)
    def _bad_argument(exc: BadCallbackArgument):
        return bad_callback(str(exc))

    @server.after_request
    def _headers(resp: flask.Response) -> flask.Response:
        for name, value in {**headers, **flask.g.get("security_headers", {})}.items():
            resp.headers[name] = value
        if not flask.request.path.startswith(STATIC_PREFIXES):
            resp.headers["Cache-Control"] = "no-store"
            resp.headers.pop("Expires", None)
            resp.headers.pop("ETag", None)
        return resp

    @server.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        limit = flask.request.max_content_length or server.config.get("MAX_CONTENT_LENGTH")
        msg = f"请求过大 (request body larger than {limit} bytes)"
        if flask.request.path.startswith(("/_dash", "/api/")):
            return flask.jsonify(error="body_too_large", message=msg, limit=limit), 413
        page = f"<!doctype html><meta charset=utf-8><title>请求过大</title><p>{msg}</p>"
        return page, 413, {"Content-Type": "text/html; charset=utf-8"}


def _not_found() -> tuple[str, int, dict[str, str]]:
    page = "<!doctype html><meta charset=utf-8><title>不存在</title><p>不存在 (not found)</p>"
    return page, 404, {"Content-Type": "text/html; charset=utf-8"}


def framed_by_self(page: str) -> str:
    """Let the answer of the current request be framed by this server's own pages, with the inline
    scripts of ``page`` allowed by their hashes (the wall's 3D view: a pydeck page whose start-up script
    carries its data) and ``data:`` images. Every other header stays as :func:`install` sets it.

    Parameters
    ----------
    page : str
        The HTML answered.

    Returns
    -------
    str
        ``page``, unchanged.
    """
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"
        for body in _INLINE_SCRIPT.findall(page)
    ]
    # img-src data:: pydeck's bundle probes WebP support with a one-pixel data: image at start-up
    flask.g.security_headers = {
        "Content-Security-Policy": content_security_policy(
            hashes, frame_ancestors="'self'", images=["data:"]
        ),
        "X-Frame-Options": "SAMEORIGIN",
    }
    return page
