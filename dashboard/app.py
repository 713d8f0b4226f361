"""The 警网融合一张图 Dash application: five screens, drill-down along both hierarchies, state in the URL.

:func:`create_app` builds one server: the Dash app, the log-in guard (:mod:`dashboard.auth`), the REST
API for the grid workers' app (:mod:`dashboard.api`), the video wall (``/wall``) and the offline assets
(every script and style is served by this server; ``serve_locally``; no CDN, no internet basemap) and
the security headers (:mod:`dashboard.security`: a Content-Security-Policy naming no other origin).

Rendering: one callback turns the URL (path + query, :mod:`dashboard.state`) into the screen, for the
logged-in user's scope; controls (filters, map clicks) only write the URL, so every view has a link,
Back works, and the server recomputes from one place. Each screen is one module of
:mod:`dashboard.pages` with ``layout(ctx) -> component``. What a screen marks live (:mod:`dashboard.live`)
is updated in place when only the view changed (dates, categories, unit, layers), so its map stays
mounted; a new screen is sent whole.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dash
import flask
from dash import Input, Output, State, dcc, html

from dashboard import auth, brief, live, security
from dashboard.queries import LEVEL_NAMES, Queries
from dashboard.state import COMPARISONS, HIERARCHIES, MAP_LAYERS, PAGES, QUICK_RANGES, ViewState, parse
from data.access import Principal
from data.schema import INCIDENT_CATEGORIES
from data.store.base import Store, is_unavailable
from geo.units import Unit

log = logging.getLogger(__name__)
ASSETS = Path(__file__).with_name("assets")


@dataclass
class AppConfig:
    """Settings of one server.

    Attributes
    ----------
    tile_url : str, optional
        An intranet tile service (e.g. a PGIS service) for the map's base; default none: the base is
        drawn from local outlines only.
    wall_interval_s : float
        Seconds each screen stays on the video wall.
    wall_refresh_s : float
        Seconds between the wall's data refreshes.
    secure_cookies : bool
        Session cookie only over HTTPS.
    data_dir : Path
        Where the session key lives.
    sso_header : str
        Trusted-header single sign-on: the header a reverse proxy names the user in (default empty: off;
        :func:`dashboard.auth.sso_login`).
    trusted_proxies : tuple of str
        Addresses or networks of the reverse proxies trusted with ``sso_header`` and
        ``X-Forwarded-For``.
    sweep_minutes : float
        Minutes between overdue sweeps (超期巡检) run by the server itself: open work orders past their
        deadline become 超期 (:meth:`data.store.base.Store.sweep_overdue`). 0 (the default of a bare
        config): the server does not sweep (``onemap serve`` sweeps every ``ONEMAP_SWEEP_MINUTES``).
    """

    tile_url: str | None = None
    wall_interval_s: float = 30.0
    wall_refresh_s: float = 60.0
    secure_cookies: bool = False
    data_dir: Path = Path("var")
    sso_header: str = ""
    trusted_proxies: tuple[str, ...] = ()
    sweep_minutes: float = 0.0
    extra: dict = field(default_factory=dict)


@dataclass
class PageContext:
    """Everything a screen needs to draw one view for one user."""

    q: Queries
    principal: Principal
    state: ViewState
    unit: Unit
    start: dt.date
    end: dt.date
    cmp_start: dt.date
    cmp_end: dt.date
    as_of: dt.date
    config: AppConfig
    theme: str = "light"
    font_scale: float = 1.0
    notes: list[str] = field(default_factory=list)

    @property
    def scope(self) -> Any:
        return self.principal.scope

    @property
    def code(self) -> str | None:
        """The unit code for store queries (None for the city: the scope limits it anyway)."""
        return None if self.unit.level == "city" else self.unit.code

    @property
    def categories(self) -> tuple[str, ...]:
        return self.state.categories

    @property
    def child_level(self) -> str | None:
        return self.q.child_level(self.unit, self.state.hierarchy)

    def href(self, **changes) -> str:
        return self.state.with_(**changes).href()


def page_context(q: Queries, principal: Principal, state: ViewState, config: AppConfig) -> PageContext:
    """Resolve a view for a user: the unit is the one asked for if the user may see it, else their own."""
    notes = list(state.problems)
    own = q.unit(principal.unit_code) if principal.unit_code else None
    if own is None:
        own = q.city() if principal.unit_code == q.city().code else None
    if own is None:
        raise PermissionError("该账号没有管辖范围，无权查看数据 (no scope)")
    unit = own
    if state.unit and state.unit != own.code:
        asked = q.unit(state.unit)
        if asked is None:
            notes.append(f"未找到单元 {state.unit}")
        elif not q.visible(asked.code, principal.scope) or not _inside(q, asked, own, state.hierarchy):
            notes.append("超出本账号管辖范围，已显示本辖区")
        else:
            unit = asked
    as_of = q.as_of()
    start, end = state.dates(as_of)
    cs, ce = state.comparison(as_of)
    return PageContext(q, principal, state, unit, start, end, cs, ce, as_of, config, notes=notes)


def _inside(q: Queries, unit: Unit, own: Unit, hierarchy: str) -> bool:
    """True when ``unit`` lies at or below ``own`` (so the breadcrumb never climbs above the scope)."""
    if own.level == "city":
        return True
    for h in (hierarchy, "admin", "police"):
        if any(u.code == own.code for u in q.path(unit.code, h, None)):
            return True
    return False


# ---------------------------------------------------------------------- shell
def _nav(ctx: PageContext | None, state: ViewState) -> html.Nav:
    links = [
        dcc.Link(
            title,
            href=state.href(page),
            className="nav-link" + (" active" if page == state.page else ""),
            id=f"nav-{page}",
        )
        for page, title in PAGES.items()
    ]
    who = []
    if ctx is not None:
        p = ctx.principal
        who = [
            *(brief.buttons() if p.can("aggregates") else []),
            html.Span(f"{p.name or p.user_id} · {p.role_name}", className="who"),
            html.A("修改密码", href="/password", className="password-link"),
            html.Form(
                html.Button("退出", type="submit", className="logout"),
                method="POST",
                action="/logout",
                className="logout-form",
            ),
        ]
    return html.Nav(
        [html.Span("警网融合一张图", className="brand"), *links, html.Span(who, className="user")],
        className="topnav",
    )


def _filters(ctx: PageContext) -> html.Div:
    """The filter bar. Its controls' values follow the URL in place (:mod:`dashboard.live` kinds ``f``
    and ``fd``), so a filter change neither remounts the bar nor closes an open drop-down."""
    s = ctx.state
    return html.Div(
        [
            dcc.RadioItems(
                id={"f": "quick"},
                options=[{"label": v, "value": k} for k, v in QUICK_RANGES.items()]
                + [{"label": "自定义", "value": ""}],
                value=s.quick or "",
                inline=True,
                className="f-quick",
            ),
            dcc.DatePickerRange(
                id={"fd": "dates"},
                start_date=ctx.start.isoformat(),
                end_date=ctx.end.isoformat(),
                display_format="YYYY-MM-DD",
                month_format="YYYY年M月",
                first_day_of_week=1,  # weeks start on Monday; names from the zh-CN locale in assets/
                start_date_placeholder_text="开始日期",
                end_date_placeholder_text="结束日期",
                max_date_allowed=ctx.as_of.isoformat(),
                className="f-dates",
            ),
            dcc.Dropdown(
                id={"f": "cats"},
                options=[{"label": c, "value": c} for c in INCIDENT_CATEGORIES],
                value=list(s.categories),
                multi=True,
                placeholder="全部警情类别",
                className="f-cats",
            ),
            dcc.RadioItems(
                id={"f": "hier"},
                options=[{"label": v, "value": k} for k, v in HIERARCHIES.items()],
                value=s.hierarchy,
                inline=True,
                className="f-hier",
            ),
            dcc.RadioItems(
                id={"f": "cmp"},
                options=[{"label": v, "value": k} for k, v in COMPARISONS.items()],
                value=s.compare,
                inline=True,
                className="f-cmp",
            ),
            html.Span(f"数据截至 {ctx.as_of:%Y-%m-%d}", className="asof"),
        ],
        className="filters",
    )


def _breadcrumb(ctx: PageContext) -> html.Div:
    chain = ctx.q.path(ctx.unit.code, ctx.state.hierarchy, ctx.principal.unit_code)
    items: list = []
    for i, u in enumerate(chain):
        if i:
            items.append(html.Span("›", className="sep"))
        label = f"{u.name}"
        if u.code == ctx.unit.code:
            items.append(html.Span(label, className="crumb current", id="crumb-current"))
        else:
            items.append(dcc.Link(label, href=ctx.href(unit=u.code), className="crumb"))
    level = LEVEL_NAMES.get(ctx.unit.level, ctx.unit.level)
    items.append(html.Span(f"（{level}）", className="level"))
    notes = [html.Div(n, className="note") for n in ctx.notes]
    return html.Div([html.Div(items, className="breadcrumb", id="breadcrumb"), *notes])


def render(q: Queries, principal: Principal | None, pathname: str, search: str, config: AppConfig) -> tuple:
    """Navigation, filter bar, breadcrumb and screen of a URL for a user.

    When the store cannot be read (or the log-in guard could not check the user because of it) the
    screen is :data:`dashboard.auth.STORE_DOWN_MESSAGE`, never an error ``500``.
    """
    from dashboard import pages

    if (pathname or "").rstrip("/") == "/wall":
        from dashboard import wall

        return html.Div(), html.Div(), html.Div(), wall.layout(q, principal, search, config)
    state = parse(pathname, search)

    def message(text: str) -> tuple:
        return _nav(None, state), html.Div(), html.Div(), html.Div(text, className="error")

    if principal is None:
        return message(auth.STORE_DOWN_MESSAGE if auth.store_unavailable() else "请先登录")
    try:
        ctx = page_context(q, principal, state, config)
        try:
            body = pages.MODULES[state.page].layout(ctx)
        except Exception as exc:  # a screen that fails says so; the shell stays usable
            if is_unavailable(exc):
                raise
            log.exception("screen %s failed for %s", state.page, state.href())
            body = html.Div("本页数据暂不可用，请稍后刷新 (the data could not be read)", className="error")
        shown = state.with_(unit=None if ctx.unit.code == principal.unit_code else ctx.unit.code)
        return _nav(ctx, shown), _filters(ctx), _breadcrumb(ctx), body
    except PermissionError as exc:
        return message(str(exc))
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("screen %s: the store is unavailable (%s)", state.page, exc)
        return message(auth.STORE_DOWN_MESSAGE)


def route(trees: tuple, shown: dict | None, current: tuple, present: list) -> tuple:
    """The router's answer: each container whole when its skeleton changed, else only its live values.

    Parameters
    ----------
    trees : tuple
        ``(nav, filters, crumbs, page)`` from :func:`render`.
    shown : dict or None
        Skeleton hashes of what the browser shows (the ``view-key`` store).
    current : tuple
        The browser's values of :func:`dashboard.live.states`.
    present : list
        ``dash.ctx.outputs_list`` of :func:`dashboard.live.outputs`.

    Returns
    -------
    tuple
        Values for nav, filters, crumbs, page, view-key and the live outputs.
    """
    nav, filters, crumbs, body = trees
    shown = shown or {}
    key, values, out = {}, {}, []
    for name, tree in (("filters", filters), ("page", body)):
        key[name], found = live.split(tree)
        if shown.get(name) == key[name]:
            values.update(found)
            out.append(dash.no_update)
        else:
            out.append(tree)
    return (nav, out[0], crumbs, out[1], key, *live.values_for(present, current, values))


def apply_filters(
    state: ViewState,
    chosen: dict[str, Any],
    dates: tuple[dt.date | None, dt.date | None],
    trigger: str | None,
    as_of: dt.date,
) -> ViewState:
    """The view after a filter control changed.

    Parameters
    ----------
    state : ViewState
        The view in the URL.
    chosen : dict
        Values of the controls on the page (``quick``, ``cats``, ``hier``, ``cmp``, ``layers``).
    dates : (date, date)
        The date picker's days.
    trigger : str or None
        The control that changed (``dates`` for the picker).
    as_of : date
        The data's latest day (quick ranges end there).

    Returns
    -------
    ViewState
        Equal to ``state`` when the controls only show what the URL already says (the router sets them
        after Back or a pasted link).
    """
    changes: dict[str, Any] = {}
    if "cats" in chosen:
        changes["categories"] = tuple(c for c in (chosen["cats"] or []) if c in INCIDENT_CATEGORIES)
    if "hier" in chosen:
        changes["hierarchy"] = chosen["hier"] if chosen["hier"] in HIERARCHIES else "admin"
    if "cmp" in chosen:
        changes["compare"] = chosen["cmp"] if chosen["cmp"] in COMPARISONS else "yoy"
    if "layers" in chosen:
        changes["layers"] = tuple(k for k in MAP_LAYERS if k in (chosen["layers"] or []))
    if trigger == "dates":
        start, end = dates
        if start and end and (start, end) != state.dates(as_of):
            changes.update(quick=None, start=min(start, end), end=max(start, end))
    elif trigger == "quick":
        if chosen.get("quick"):
            changes.update(quick=chosen["quick"], start=None, end=None)
        elif state.quick:  # 自定义: keep the days shown, now as explicit dates
            start, end = state.dates(as_of)
            changes.update(quick=None, start=start, end=end)
    if trigger == "hier" and changes.get("hierarchy", state.hierarchy) != state.hierarchy:
        changes["unit"] = (
            None  # the caller puts the nearest unit of the other hierarchy (Queries.counterpart)
        )
    return state.with_(**changes)


#: The router's fixed outputs, in order (then :func:`dashboard.live.outputs`).
ROUTER_OUTPUTS: tuple[tuple[str, str], ...] = (
    ("nav", "children"),
    ("filters", "children"),
    ("crumbs", "children"),
    ("page", "children"),
    ("view-key", "data"),
)


def router_request(pathname: str, search: str = "", shown: dict | None = None) -> dict[str, Any]:
    """The body of the ``/_dash-update-component`` request the browser sends to render a URL.

    For scripts that drive the server without a browser (tests, load tests): with ``shown=None`` the
    answer is the whole screen; with the ``view-key`` of an earlier answer, only what changed.

    Parameters
    ----------
    pathname, search : str
        The URL.
    shown : dict, optional
        ``view-key`` data of the screen on display.

    Returns
    -------
    dict
        JSON body; no live component is declared present (a browser lists those it holds).
    """
    fixed = [{"id": i, "property": p} for i, p in ROUTER_OUTPUTS]
    pattern = [(f'{{"{kind}":["ALL"]}}', prop) for kind, prop in live.OUTPUTS]
    names = [f"{i}.{p}" for i, p in ROUTER_OUTPUTS] + [f"{i}.{p}" for i, p in pattern]
    states = [{"id": "view-key", "property": "data", "value": shown}]
    states += [[] for kind_prop in live.OUTPUTS if kind_prop in live.COMPARED]
    return {
        "output": ".." + "...".join(names) + "..",
        "outputs": fixed + [[] for _ in pattern],
        "inputs": [
            {"id": "url", "property": "pathname", "value": pathname},
            {"id": "url", "property": "search", "value": search},
        ],
        "state": states,
        "changedPropIds": ["url.pathname"],
    }


def start_sweeper(store: Store, every_s: float) -> threading.Event:
    """Run the overdue sweep (超期巡检) now and every ``every_s`` seconds in a background thread.

    Orders it marks 超期 show on the screens within the read cache's minute
    (:data:`dashboard.queries.TTL_S`). A failure (the store down) is logged and the next round tries
    again. Several servers on one store may all sweep: an order is marked once (the sweep takes only
    orders not yet marked, under a row lock).

    Returns
    -------
    threading.Event
        Set it to stop the thread.
    """
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                n = store.sweep_overdue()
            except Exception:
                log.warning("overdue sweep failed; next try in %.0f s", every_s, exc_info=True)
            else:
                if n:
                    log.info("overdue sweep: %d work order(s) marked 超期", n)
            stop.wait(every_s)

    threading.Thread(target=run, daemon=True, name="onemap-sweep").start()
    return stop


def create_app(
    store: Store,
    config: AppConfig | None = None,
    *,
    queries: Queries | None = None,
) -> dash.Dash:
    """The whole server: Dash app, log-in, REST API, wall.

    Parameters
    ----------
    store : Store
        The open store (shared; thread-safe).
    config : AppConfig, optional
    queries : Queries, optional
        The read side (default one over ``store``).

    Returns
    -------
    dash.Dash
        ``app.server`` is the Flask server to run.
    """
    from dashboard import pages

    config = config or AppConfig()
    q = queries or Queries(store)
    q.warm()
    server = flask.Flask(__name__)
    server.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    auth.install(
        server,
        lambda: store,
        key=auth.secret_key(config.data_dir),
        secure_cookies=config.secure_cookies,
        sso_header=config.sso_header,
        trusted_proxies=config.trusted_proxies,
    )
    try:
        from dashboard.api import api_blueprint

        server.register_blueprint(api_blueprint(lambda: store))
    except ImportError:  # pragma: no cover - the API module is optional for the screens
        log.warning("REST API not available")
    app = dash.Dash(
        __name__,
        server=server,
        title="警网融合一张图",
        update_title=None,
        suppress_callback_exceptions=True,
        serve_locally=True,
        assets_folder=str(ASSETS),
        compress=False,
        on_error=_callback_failed,
    )
    server.extensions["onemap"] = {"queries": q, "store": store, "config": config}
    app.layout = html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            dcc.Store(id="view-key"),
            dcc.Store(id="map-click"),  # dashboard.pages.MAP_CLICK
            dcc.Download(id=brief.DOWNLOAD_ID),
            html.Div(id=NOTICE_ID, className="notice", role="alert"),
            html.Div(id="nav"),
            html.Div(id="filters"),
            html.Div(id="crumbs"),
            dcc.Loading(
                html.Div(id="page", className="page"),
                delay_show=400,
                type="dot",
                overlay_style={"visibility": "visible", "opacity": 0.7},
            ),
        ],
        className="shell",
    )

    @app.callback(
        Output("nav", "children"),
        Output("filters", "children"),
        Output("crumbs", "children"),
        Output("page", "children"),
        Output("view-key", "data"),
        *live.outputs(),
        Input("url", "pathname"),
        Input("url", "search"),
        State("view-key", "data"),
        *live.states(),
    )
    def _render(pathname, search, shown, *current):
        shown = security.arg_object(shown, "view-key")
        trees = render(q, auth.current_principal(), pathname, search, config)
        return route(trees, shown, current, dash.ctx.outputs_list[5:])

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        live.inputs("f", "value"),
        live.inputs("fd", "start_date"),
        live.inputs("fd", "end_date"),
        State("url", "pathname"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def _filter(values, starts, ends, pathname, search):
        chosen = {spec["id"]["f"]: v for spec, v in zip(dash.ctx.inputs_list[0], values, strict=True)}
        trigger = dash.ctx.triggered_id
        trigger = next(iter(trigger.values()), None) if isinstance(trigger, dict) else None
        dates = (_day(starts[0]), _day(ends[0])) if starts and ends else (None, None)
        state = parse(pathname, search)
        view = apply_filters(state, chosen, dates, trigger, q.as_of())
        if trigger == "hier" and view.hierarchy != state.hierarchy and state.unit:  # nearest unit there
            view = view.with_(unit=q.counterpart(state.unit, view.hierarchy))
        new = view.search()
        return new if new != (search or "") else dash.no_update

    # a new view starts without the notice of an earlier failure
    app.clientside_callback(
        "function(href) { return null; }", Output(NOTICE_ID, "children"), Input("url", "href")
    )
    pages.register_callbacks(app, q, config)
    brief.register(app, q, config)
    if config.sweep_minutes > 0:
        start_sweeper(store, config.sweep_minutes * 60)
    from dashboard import wall

    wall.install(app, q, config)
    # last: the policy holds the hashes of every inline script, clientside callbacks included
    security.install(
        server,
        security.content_security_policy(app.csp_hashes(), config.tile_url),
        https=config.secure_cookies,
        callbacks=app.callback_map,
    )
    return app


#: Where a callback that could not read the store says so (the screens' own outputs stay as they are).
NOTICE_ID = "notice"


def _callback_failed(exc: Exception) -> None:
    """Dash's handler of errors raised in callbacks: a store that cannot be read leaves every output as
    it is and shows :data:`dashboard.auth.STORE_DOWN_MESSAGE` above the screen (an export or a work
    order's trace asked while the database is down); anything else is a bug and stays an error."""
    if not is_unavailable(exc):
        raise exc
    log.warning("callback %s: the store is unavailable (%s)", dash.ctx.triggered_id, exc)
    dash.set_props(NOTICE_ID, {"children": auth.STORE_DOWN_MESSAGE})


def _day(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(str(text)[:10])
    except ValueError:
        return None
