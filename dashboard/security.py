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
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import flask
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard.api import UNSAFE_METHODS, ApiError, check_origin, error_response

#: Paths whose answers are static bundles (may be cached); everything else is ``no-store``.
STATIC_PREFIXES = ("/assets/", "/assets-pydeck/", "/_dash-component-suites/", "/_favicon.ico")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


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
        if callbacks is not None and req.path == "/_dash-update-component":
            body = req.get_json(silent=True)
            ok = isinstance(body, dict) and isinstance(body.get("inputs"), list)
            if not ok or not isinstance(body.get("output"), str) or body["output"] not in callbacks:
                msg = "回调请求格式错误 (not a callback request of this app)"
                return error_response(ApiError(400, "bad_callback_request", msg))
        return None

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
