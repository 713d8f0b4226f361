"""Video-wall mode (大屏): the five screens rotating on an unattended display, dark, never blank.

``/wall`` (``onemap serve --wall`` prints it) shows one screen at a time, full window, in the dark theme,
laid out for 1920×1080 (``?size=1080``, default) or 3840×2160 (``?size=2160``: fonts and tiles twice as
big). Query string:

* ``size``: ``1080`` or ``2160``;
* ``interval``: seconds per screen (default :attr:`AppConfig.wall_interval_s`, clamped to
  :data:`MIN_INTERVAL_S` … :data:`MAX_INTERVAL_S`);
* ``refresh``: seconds between data refreshes (default :attr:`AppConfig.wall_refresh_s`, same clamp);
* ``screen``: ``overview`` | ``empower`` | ``warnings`` | ``quality`` | ``map`` pins one screen.

Two timers drive it: ``wall-rotate`` moves to the next screen, ``wall-refresh`` recomputes the current
one on the server (the :class:`~dashboard.queries.Queries` cache ages out on its own). The panels are
compact aggregates built here, never the desk screens' record tables: the wall's role (大屏, ``display``)
may see aggregates only.

Never blank: when the store cannot be read the panel callback returns ``no_update`` for the content and
says how old the figures on display are (the time of the last good refresh lives in the ``wall-good``
store). When the server itself cannot be reached Dash keeps the previous children, and a clientside
clock shows how long the figures have not been refreshed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs

import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html, no_update

from dashboard import auth
from dashboard.components import card, fmt_int, graph
from dashboard.queries import LEVEL_NAMES, Queries
from dashboard.state import PAGES, ViewState
from data.access import Principal
from data.store.base import is_unavailable
from layers.colours import THEMES
from layers.figures import (
    kpi_bar_figure,
    monthly_figure,
    status_donut,
    template,
    three_up_four_down_figure,
    yoy_figure,
)

log = logging.getLogger(__name__)

#: The screens in rotation order (the five modules, 五大模块).
SCREENS: tuple[str, ...] = tuple(PAGES)
#: Wall size → (font scale, CSS class).
SIZES: dict[str, tuple[float, str]] = {"1080": (1.0, "wall-1080"), "2160": (2.0, "wall-2160")}
MIN_INTERVAL_S = 5.0
MAX_INTERVAL_S = 600.0
#: Pixel heights of the 1920×1080 layout (doubled for 3840×2160): tall tile, half tile, full-width map.
TALL_PX, HALF_PX, MAP_PX = 800, 390, 900
#: The wall's 3D view (a pydeck page) and pydeck's own deck.gl bundle, both served by this server.
HEX3D_ROUTE = "/wall/hex3d"
HEX3D_BUNDLE_ROUTE = "/assets-pydeck/index.js"
THEME = "dark"
#: Rate KPIs (0–100 %) of the quality screen's bar chart.
WALL_KPIS = (
    "registration_rate",
    "accuracy",
    "closure_rate",
    "visit_coverage",
    "poc_visit_coverage",
    "mediation_success",
    "rectification_rate",
    "single_binding",
)


# ---------------------------------------------------------------------- options
@dataclass(frozen=True)
class WallOptions:
    """What one wall shows, from its URL query string (see the module docstring).

    Attributes
    ----------
    size : str
        ``"1080"`` or ``"2160"``.
    interval_s : float
        Seconds per screen.
    refresh_s : float
        Seconds between data refreshes.
    pinned : str or None
        The only screen shown, or None to rotate.
    """

    size: str = "1080"
    interval_s: float = 30.0
    refresh_s: float = 60.0
    pinned: str | None = None

    @property
    def font_scale(self) -> float:
        return SIZES[self.size][0]

    def px(self, height: int) -> int:
        """A 1080-layout pixel height at this wall's size."""
        return int(height * self.font_scale)


def parse_options(search: str | None, config: Any) -> WallOptions:
    """The wall options of a query string; bad values fall back to the defaults (never raises).

    Parameters
    ----------
    search : str
        ``?size=2160&interval=20&refresh=60&screen=map`` (with or without ``?``).
    config : dashboard.app.AppConfig
        Supplies the default interval and the refresh period.

    Returns
    -------
    WallOptions
    """
    q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}
    size = q.get("size", "1080").removesuffix("p")
    size = size if size in SIZES else "1080"
    interval = _seconds(q.get("interval"), float(getattr(config, "wall_interval_s", 30.0)))
    interval = min(max(interval, MIN_INTERVAL_S), MAX_INTERVAL_S)
    refresh = _seconds(q.get("refresh"), float(getattr(config, "wall_refresh_s", 60.0)))
    refresh = min(max(refresh, MIN_INTERVAL_S), MAX_INTERVAL_S)
    pinned = q.get("screen")
    return WallOptions(size, interval, refresh, pinned if pinned in SCREENS else None)


def _seconds(text: str | None, default: float) -> float:
    try:
        value = float(text) if text is not None else default
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def next_screen(index: Any, pinned: str | None = None) -> int:
    """The screen after ``index`` in :data:`SCREENS` (modulo their number); a pinned screen stays."""
    if pinned in SCREENS:
        return SCREENS.index(pinned)
    try:
        return (int(index) + 1) % len(SCREENS)
    except (TypeError, ValueError):
        return 0


# ---------------------------------------------------------------------- status lines
def _now() -> float:
    """Epoch seconds of the server clock (a seam for tests)."""
    return time.time()


def _clock(at: float) -> str:
    return dt.datetime.fromtimestamp(at).strftime("%H:%M:%S")


def status_ok(at: float) -> str:
    """``数据更新于 HH:MM:SS`` for a refresh at epoch seconds ``at``."""
    return f"数据更新于 {_clock(at)}"


def status_stale(good_at: float | None, now: float) -> str:
    """The line shown when a refresh failed: the figures' time and age, or that there are none yet."""
    if good_at is None:
        return "数据更新失败，暂无可显示的数据，稍后自动重试"
    minutes = max(int((now - good_at) // 60), 0)
    return f"数据更新失败，显示 {_clock(good_at)} 的数据（{minutes} 分钟前）"


# ---------------------------------------------------------------------- panels
def _bar(
    labels: list[str],
    values: list[float],
    title: str,
    scale: float,
    *,
    unit: str = "",
    horizontal: bool = True,
    colour: str | None = None,
) -> go.Figure:
    """One series of bars in the wall's theme, values written on the bars."""
    t = THEMES[THEME]
    fig = go.Figure()
    fig.update_layout(template=template(THEME, scale), title_text=title, showlegend=False)
    text = [f"{v:,.1f}{unit}" if unit == "%" else f"{v:,.0f}{unit}" for v in values]
    bar = go.Bar(
        x=values if horizontal else labels,
        y=labels if horizontal else values,
        orientation="h" if horizontal else "v",
        marker_color=colour or t["accent"],
        text=text,
        textposition="auto",
        hoverinfo="skip",
    )
    fig.add_trace(bar)
    if horizontal:
        fig.update_yaxes(autorange="reversed")
    return fig


def _tile(title: str | None, body: Any, area: str) -> html.Section:
    kids = [html.H3(title, className="wall-tile-title")] if title else []
    return html.Section([*kids, body], className=f"wall-tile wall-{area}")


def _kpis(items: list[html.Div]) -> html.Div:
    return html.Div(items, className="wall-kpis")


def _pct(part: float, whole: float) -> str:
    return f"{part / whole * 100:.1f}%" if whole else "—"


def _child_names(ctx, frame: pd.DataFrame, level: str) -> pd.DataFrame:
    key = level if level in frame.columns else frame.columns[0]
    frame = frame.rename(columns={key: "code"})
    if "unit_name" not in frame:
        frame = frame.assign(unit_name=frame["code"].map(ctx.q.unit_names()))
    return frame


def _overview(ctx, opts: WallOptions) -> list:
    from dashboard.mapview import view_map

    q, s = ctx.q, opts.font_scale
    total = q.base_figures(ctx.code, None, ctx.scope)
    t = total.iloc[0] if len(total) else {}
    level = ctx.child_level or "grid"
    by_child = _child_names(ctx, q.base_figures(ctx.code, level, ctx.scope), level).head(15)
    workers = int(t.get("full_time_workers", 0)) + int(t.get("part_time_workers", 0))
    name = LEVEL_NAMES.get(level, level)
    kpis = _kpis(
        [
            card("网格", t.get("grids", 0), f"综合 {fmt_int(t.get('comprehensive_grids', 0))}"),
            card("警格", t.get("districts", 0)),
            card("派出所", t.get("stations", 0)),
            card("社区民警", t.get("officers", 0)),
            card("网格员", workers, f"专职 {fmt_int(t.get('full_time_workers', 0))}"),
            card("实有人口", t.get("population", 0), f"流动 {fmt_int(t.get('floating', 0))}"),
            card("关注人员", t.get("persons_of_concern", 0)),
            card("视频监控", t.get("cameras", 0), f"在线 {fmt_int(t.get('cameras_online', 0))}"),
        ]
    )
    grids = _bar(by_child["unit_name"].tolist(), by_child.get("grids", 0).tolist(), f"各{name}网格数", s)
    pop = _bar(
        by_child["unit_name"].tolist(),
        by_child.get("population", 0).tolist(),
        f"各{name}实有人口",
        s,
        colour=THEMES[THEME]["good"],
    )
    return [
        kpis,
        _tile(
            f"组织架构图（按{name}）",
            view_map(ctx, f"{opts.px(TALL_PX - 44)}px", ("grids",), "wall-map", live=False),
            "main",
        ),
        _tile(None, graph(grids, "wall-g1", opts.px(HALF_PX)), "side1"),
        _tile(None, graph(pop, "wall-g2", opts.px(HALF_PX)), "side2"),
    ]


def _empower(ctx, opts: WallOptions) -> list:
    from geo.models import list_models

    q, s = ctx.q, opts.font_scale
    models = list_models()
    hits = q.layer_counts("warnings", ctx.code, ctx.start, ctx.end, "model_id", ctx.scope)
    monthly = q.layer_counts("warnings", ctx.code, None, ctx.end, ["model_id", "month"], ctx.scope)
    table = models.merge(hits.rename(columns={"n": "hits"}), on="model_id", how="left")
    table["hits"] = table["hits"].fillna(0).astype("int64")
    base = q.base_figures(ctx.code, None, ctx.scope)
    b = base.iloc[0] if len(base) else {}
    pop, reg, ver = (int(b.get(k, 0)) for k in ("population", "registered", "verified"))
    kpis = _kpis(
        [
            card("推送模型", len(models), "五大领域 × 3"),
            card("本期预警", int(table["hits"].sum()), f"{ctx.start:%m-%d} 至 {ctx.end:%m-%d}"),
            card("登记率", _pct(reg, pop), f"已登记 {reg:,}"),
            card("核验率", _pct(ver, pop), f"已核验 {ver:,}"),
            card("标准地址", b.get("addresses", 0)),
            card("流动人口", b.get("floating", 0)),
        ]
    )
    trend = go.Figure()
    trend.update_layout(template=template(THEME, s), title_text="各领域预警数（按月）", barmode="stack")
    for aspect, part in models.groupby("aspect", sort=False):
        sub = monthly[monthly["model_id"].isin(set(part.model_id))]
        if len(sub):
            agg = sub.groupby("month", as_index=False)["n"].sum()
            trend.add_bar(x=pd.to_datetime(agg["month"]), y=agg["n"], name=str(aspect))
    by_model = table.sort_values("hits", ascending=False)
    top = _bar(
        by_model["name"].astype(str).tolist()[:10], by_model["hits"].tolist()[:10], "本期预警最多的模型", s
    )
    status = q.layer_status()
    rows = status.sort_values("rows", ascending=False) if len(status) else status
    sources = _bar(
        rows["layer"].astype(str).tolist() if len(rows) else [],
        rows["rows"].astype(float).tolist() if len(rows) else [],
        "数据源记录数",
        s,
        colour=THEMES[THEME]["good"],
    )
    return [
        kpis,
        _tile(None, graph(trend, "wall-g0", opts.px(TALL_PX)), "main"),
        _tile(None, graph(top, "wall-g1", opts.px(HALF_PX)), "side1"),
        _tile(None, graph(sources, "wall-g2", opts.px(HALF_PX)), "side2"),
    ]


def _warnings(ctx, opts: WallOptions) -> list:
    q, s = ctx.q, opts.font_scale
    by_state = q.order_stats(ctx.code, ctx.start, ctx.end, "state", ctx.scope)
    total = q.order_stats(ctx.code, ctx.start, ctx.end, None, ctx.scope)
    t = total.iloc[0] if len(total) else {}
    level = ctx.child_level or "grid"
    by_unit = _child_names(ctx, q.order_stats(ctx.code, ctx.start, ctx.end, level, ctx.scope), level)
    warn = q.layer_counts("warnings", ctx.code, ctx.start, ctx.end, None, ctx.scope)
    kpis = _kpis(
        [
            card("预警", int(warn["n"].iloc[0]) if len(warn) else 0),
            card("工单", t.get("orders", 0)),
            card("未办结", t.get("open", 0)),
            card("超期", t.get("overdue", 0)),
            card("升级", t.get("escalated", 0)),
            card("办结率", f"{float(t.get('closure_rate', 0)) * 100:.1f}%"),
            card("按期办结率", f"{float(t.get('on_time_rate', 0)) * 100:.1f}%"),
        ]
    )
    counts = dict(zip(by_state["state"], by_state["orders"], strict=True)) if len(by_state) else {}
    donut = status_donut(pd.Series(counts, dtype="int64"), theme=THEME, font_scale=s)
    name = LEVEL_NAMES.get(level, level)
    ranked = by_unit.sort_values("closure_rate", ascending=False).head(15)
    closure = _bar(
        ranked["unit_name"].astype(str).tolist(),
        (ranked["closure_rate"].astype(float) * 100).tolist(),
        f"各{name}办结率",
        s,
        unit="%",
        colour=THEMES[THEME]["good"],
    )
    overdue = by_unit.sort_values("overdue", ascending=False).head(15)
    late = _bar(
        overdue["unit_name"].astype(str).tolist(),
        overdue["overdue"].astype(float).tolist(),
        f"各{name}超期工单",
        s,
        colour=THEMES[THEME]["bad"],
    )
    return [
        kpis,
        _tile(None, graph(donut, "wall-g0", opts.px(TALL_PX)), "main"),
        _tile(None, graph(closure, "wall-g1", opts.px(HALF_PX)), "side1"),
        _tile(None, graph(late, "wall-g2", opts.px(HALF_PX)), "side2"),
    ]


def _quality(ctx, opts: WallOptions) -> list:
    from dashboard.pages.quality import _yoy
    from geo.kpi import KPIS, kpi_for_unit, three_up_four_down

    q, s = ctx.q, opts.font_scale
    base = q.kpi_base()
    values = kpi_for_unit(base, ctx.unit.code, ctx.start, ctx.end, ctx.unit.level)
    shown, targets = {}, {}
    for kid in WALL_KPIS:
        v = values.get(kid)
        if kid in KPIS and v is not None and not (isinstance(v, float) and math.isnan(v)):
            shown[KPIS[kid].zh], targets[KPIS[kid].zh] = float(v), KPIS[kid].target
    kpi_fig = kpi_bar_figure(shown, targets, title="质态指标（虚线为考核目标）", theme=THEME, font_scale=s)
    yoy = yoy_figure(_yoy(q, ctx), title="警情同比（近30天）", theme=THEME, font_scale=s)
    tutd = three_up_four_down_figure(
        three_up_four_down(base, ctx.unit.code, ctx.start, ctx.end, ctx.unit.level), theme=THEME, font_scale=s
    )
    monthly = q.series(ctx.code, None, ctx.end, ctx.categories, ctx.scope, by=("month", "category"))
    if len(monthly):
        table = monthly.pivot_table(index="month", columns="category", values="n", aggfunc="sum").fillna(0)
        table.index = pd.to_datetime(table.index)
        trend = monthly_figure(table.tail(12), title="月度警情趋势（近12个月）", theme=THEME, font_scale=s)
    else:
        trend = go.Figure().update_layout(template=template(THEME, s), title_text="月度警情趋势：暂无数据")
    half = opts.px(HALF_PX)
    return [
        _tile(None, graph(kpi_fig, "wall-g0", half), "q1"),
        _tile(None, graph(yoy, "wall-g1", half), "q2"),
        _tile(None, graph(tutd, "wall-g2", half), "q3"),
        _tile(None, graph(trend, "wall-g3", half), "q4"),
    ]


def _map(ctx, opts: WallOptions) -> list:
    q, s = ctx.q, opts.font_scale
    level = ctx.child_level or "grid"
    counts = q.child_counts(ctx.code, ctx.state.hierarchy, ctx.start, ctx.end, ctx.categories, ctx.scope)
    now = q.totals(ctx.code, ctx.start, ctx.end, ctx.categories, ctx.scope)
    before = q.totals(ctx.code, ctx.cmp_start, ctx.cmp_end, ctx.categories, ctx.scope)
    n_now, n_before = int(now["n"].sum()) if len(now) else 0, int(before["n"].sum()) if len(before) else 0
    change = f"{(n_now / n_before - 1) * 100:+.1f}%" if n_before else "—"
    kpis = _kpis(
        [
            card("近30天警情", n_now, f"同比 {change}"),
            card("有效警情", int(now["n_valid"].sum()) if "n_valid" in now else n_now),
        ]
    )
    top = counts.head(12)
    ranking = _bar(
        top["name"].astype(str).tolist(),
        top["n"].astype(float).tolist(),
        f"警情最多的{LEVEL_NAMES.get(level, level)}",
        s,
    )
    cats = now.sort_values("n", ascending=False) if len(now) else now
    by_cat = _bar(
        cats["category"].astype(str).tolist() if len(cats) else [],
        cats["n"].astype(float).tolist() if len(cats) else [],
        "警情类别",
        s,
        colour=THEMES[THEME]["good"],
    )
    return [
        _tile(None, _hex3d_frame(opts), "map"),
        kpis,
        _tile(None, graph(ranking, "wall-g1", opts.px(HALF_PX)), "side1"),
        _tile(None, graph(by_cat, "wall-g2", opts.px(HALF_PX)), "side2"),
    ]


def _hex3d_frame(opts: WallOptions) -> html.Iframe:
    """The 3D hexagon columns (三维六边形热力) of the wall's map screen: a same-origin page drawn by pydeck
    (:func:`hex3d_page`), reloaded with each refresh of the screen."""
    return html.Iframe(
        src=f"{HEX3D_ROUTE}?px={opts.px(MAP_PX)}",
        title="三维警情热力",
        id="wall-hex3d",
        style={"width": "100%", "height": f"{opts.px(MAP_PX)}px", "border": "0", "display": "block"},
    )


def hex3d_page(q: Queries, principal: Principal, config: Any, height_px: int = MAP_PX) -> str:
    """The offline pydeck page of the wall's 3D view: incidents of the wall's unit and days per H3 cell.

    Aggregates only (cell and count), whatever the role; cached with the other queries for the user's
    scope and days. ``height_px`` (the frame's height) sets the zoom that frames the unit.
    """
    from dashboard.app import page_context
    from layers.deck import H3_RESOLUTION_FOR_LEVEL
    from layers.geometry import bounds_of
    from layers.hex3d import hex3d_html

    ctx = page_context(q, principal, ViewState(page="map"), config)
    res = H3_RESOLUTION_FOR_LEVEL.get(ctx.unit.level, 9)

    def compute() -> str:
        cells = q.incident_cells(ctx.code, ctx.start, ctx.end, ctx.categories, ctx.scope, res)
        fc, _codes, _level = q.child_shapes(ctx.code, ctx.state.hierarchy, ctx.scope)
        view = None
        if fc["features"]:
            w, s, e, n = bounds_of(fc)
            # web-mercator zoom at which the unit spans about half a frame 1.4 times as wide as high (the
            # camera is tilted 50°, which brings the near half closer)
            span = max(e - w, (n - s) * 1.2, 1e-3)
            fit = 0.5 * 1.4 * height_px * 360.0 / (256.0 * span)
            view = {"longitude": (w + e) / 2, "latitude": (s + n) / 2}
            view["zoom"] = max(3.0, min(14.0, math.log2(fit)))
        return hex3d_html(cells, HEX3D_BUNDLE_ROUTE, theme=THEME, view_state=view, outlines=fc)

    return q.cache.get(("hex3d", ctx.code, ctx.start, ctx.end, res, height_px, repr(ctx.scope)), compute)


#: Screen → panel builder (context, options) → list of tiles.
PANELS: dict[str, Callable[[Any, WallOptions], list]] = {
    "overview": _overview,
    "empower": _empower,
    "warnings": _warnings,
    "quality": _quality,
    "map": _map,
}


def screen_panels(q: Queries, principal: Principal, screen: str, opts: WallOptions, config: Any) -> html.Div:
    """The tiles of one wall screen for the user's own unit, last 30 days (raises when the store fails).

    Parameters
    ----------
    q : Queries
    principal : Principal
        The wall's user (normally the display role 大屏).
    screen : str
        One of :data:`SCREENS`.
    opts : WallOptions
    config : dashboard.app.AppConfig

    Returns
    -------
    dash.html.Div
    """
    from dashboard.app import page_context

    ctx = page_context(q, principal, ViewState(page=screen), config)
    ctx.theme, ctx.font_scale = THEME, opts.font_scale
    return html.Div(PANELS[screen](ctx, opts), className=f"wall-screen wall-screen-{screen}")


def _progress(index: int, opts: WallOptions) -> list:
    """Screen dots (the current one lit) and a bar filling over the interval (restarted per screen)."""
    dots = [
        html.Span(PAGES[s], className="wall-dot" + (" active" if i == index else ""))
        for i, s in enumerate(SCREENS)
    ]
    kids: list = [html.Div(dots, className="wall-dots")]
    if opts.pinned is None:
        # alternating the animation's name restarts it on every screen change
        anim = "wall-fill-a" if index % 2 else "wall-fill-b"
        style = {"animationName": anim, "animationDuration": f"{opts.interval_s:g}s"}
        kids.append(html.Div(html.Div(className="wall-bar-fill", style=style), className="wall-bar"))
    return kids


def _render(q, principal, index: int, opts: WallOptions, config, good: dict | None, now: float) -> tuple:
    """(body, title, progress, status, status class, good) of screen ``index``; the content parts are
    ``no_update`` when the store fails or ``principal`` is None (the store was down when the log-in guard
    checked the user), so the wall keeps its last good figures."""
    screen = SCREENS[index % len(SCREENS)]
    body = None
    if principal is not None:  # None: the store was down when the log-in guard tried to check the user
        try:
            body = screen_panels(q, principal, screen, opts, config)
        except Exception as exc:  # the store is down or a figure failed: keep what is on the wall
            if is_unavailable(exc):
                log.warning("wall screen %s could not be refreshed: the store is unavailable", screen)
            else:
                log.exception("wall screen %s could not be refreshed", screen)
    if body is None:
        from dashboard import security

        good_at = security.arg_object(good, "wall-good").get("at")
        if good_at is not None:
            good_at = security.arg_number(good_at, "wall-good.at", default=0.0, low=0, high=1e11)
        return no_update, no_update, no_update, status_stale(good_at, now), "wall-status stale", no_update
    good = {"at": now, "screen": screen}
    title = f"{PAGES[screen]}"
    return body, title, _progress(index, opts), status_ok(now), "wall-status ok", good


# ---------------------------------------------------------------------- layout
def layout(q: Queries, principal: Principal | None, search: str | None, config: Any) -> html.Div:
    """The whole wall for a URL query string: header (title, screen, progress, status), the first
    screen's tiles already drawn, the two timers and the stores of the rotation.

    Parameters
    ----------
    q : Queries
    principal : Principal or None
        The logged-in user; None shows a log-in hint (or, when the store was down so the user could not
        be checked, the wall's frame with its timers, which draws the figures once the store is back).
    search : str
        The URL query string (see :func:`parse_options`).
    config : dashboard.app.AppConfig

    Returns
    -------
    dash.html.Div
    """
    opts = parse_options(search, config)
    size_class = SIZES[opts.size][1]
    if principal is None and not auth.store_unavailable():
        return html.Div(html.Div("请先登录", className="wall-empty"), className=f"wall {size_class}")
    index = SCREENS.index(opts.pinned) if opts.pinned else 0
    now = _now()
    body, title, progress, status, status_class, good = _render(q, principal, index, opts, config, None, now)
    if body is no_update:
        body = html.Div("正在连接数据，稍后自动刷新", className="wall-empty")
        title, progress, good = PAGES[SCREENS[index]], _progress(index, opts), None
    header = html.Header(
        [
            html.Div("警网融合一张图", className="wall-brand"),
            html.Div(title, id="wall-title", className="wall-title"),
            html.Div(progress, id="wall-progress", className="wall-progress"),
            html.Div(
                [
                    html.Div(id="wall-clock", className="wall-clock"),
                    html.Div(status, id="wall-status", className=status_class),
                    html.Div(id="wall-offline", className="wall-status stale"),
                ],
                className="wall-meta",
            ),
        ],
        className="wall-header",
    )
    return html.Div(
        [
            header,
            html.Div(body, id="wall-body", className="wall-body"),
            dcc.Store(id="wall-options", data=asdict(opts)),
            dcc.Store(id="wall-screen", data=index),
            dcc.Store(id="wall-good", data=good),
            dcc.Store(id="wall-seen"),
            dcc.Interval(
                id="wall-rotate", interval=int(opts.interval_s * 1000), disabled=opts.pinned is not None
            ),
            dcc.Interval(id="wall-refresh", interval=int(opts.refresh_s * 1000)),
            dcc.Interval(id="wall-tick", interval=1000),
        ],
        className=f"wall {size_class}",
        id="wall",
    )


def _options(data: Any) -> WallOptions:
    """The wall's options as the browser sends them back (the ``wall-options`` store), type-checked:
    :class:`dashboard.security.BadCallbackArgument` (a ``400``) for a value the page never holds."""
    from dashboard import security

    data = security.arg_object(data, "wall-options")
    unknown = sorted(set(data) - set(WallOptions.__dataclass_fields__))
    if unknown:
        raise security.BadCallbackArgument(f"wall-options has no field {unknown[0][:40]!r}")
    size = security.arg_text(data.get("size"), "size", default="1080")
    pinned = security.arg_text(data.get("pinned"), "pinned")
    if size not in SIZES or (pinned is not None and pinned not in SCREENS):
        raise security.BadCallbackArgument("size or pinned is not one of the wall's")
    day = 86_400.0
    return WallOptions(
        size=size,
        interval_s=security.arg_number(data.get("interval_s"), "interval_s", default=30.0, low=1, high=day),
        refresh_s=security.arg_number(data.get("refresh_s"), "refresh_s", default=60.0, low=1, high=day),
        pinned=pinned,
    )


# ---------------------------------------------------------------------- callbacks
#: Browser side: remember when good figures last arrived (browser clock, so no clock skew).
_SEEN_JS = "function(good) { return Date.now() / 1000; }"
#: Browser side: the clock, and a note when no good figures arrived for two refresh periods (server down).
_TICK_JS = """
function(n, seen, options, good, statusClass) {
    var pad = function(x) { return (x < 10 ? '0' : '') + x; };
    var hms = function(d) {
        return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    };
    var now = new Date();
    var note = '';
    var refresh = (options && options.refresh_s) || 60;
    var stale = statusClass && statusClass.indexOf('stale') >= 0;
    if (seen && !stale && now.getTime() / 1000 - seen > 2 * refresh + 5) {
        var at = good && good.at ? new Date(good.at * 1000) : new Date(seen * 1000);
        var minutes = Math.floor((now.getTime() / 1000 - seen) / 60);
        note = '连接中断，显示 ' + hms(at) + ' 的数据（' + minutes + ' 分钟前）';
    }
    return [hms(now), note];
}
"""


def install_hex3d(server, q: Queries, config: Any) -> None:
    """Routes of the wall's 3D view: the page (:func:`hex3d_page`) and pydeck's deck.gl bundle, from the
    installed pydeck package (no CDN). Both sit behind the log-in guard like every other route."""
    import flask

    from dashboard import auth, security
    from layers.hex3d import pydeck_bundle_path

    @server.route(HEX3D_ROUTE)
    def _hex3d():
        principal = auth.current_principal()
        if principal is None:
            flask.abort(401)
        try:
            height = min(max(int(flask.request.args.get("px", MAP_PX)), 100), 4000)
        except ValueError:
            height = MAP_PX
        try:
            page = hex3d_page(q, principal, config, height)
        except PermissionError:
            flask.abort(403)
        response = flask.Response(security.framed_by_self(page), mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    @server.route(HEX3D_BUNDLE_ROUTE)
    def _hex3d_bundle():
        return flask.send_file(pydeck_bundle_path(), mimetype="text/javascript", max_age=86_400)


def install(app, q: Queries, config: Any) -> None:
    """Register the wall's callbacks on ``app``: rotation, refresh (keeping the last good figures) and
    the browser-side clock.

    Parameters
    ----------
    app : dash.Dash
    q : Queries
    config : dashboard.app.AppConfig
    """

    install_hex3d(app.server, q, config)

    @app.callback(
        Output("wall-screen", "data"),
        Input("wall-rotate", "n_intervals"),
        State("wall-screen", "data"),
        State("wall-options", "data"),
        prevent_initial_call=True,
    )
    def _rotate(_n, index, options):
        opts = _options(options)
        if opts.pinned is not None:
            return no_update
        return next_screen(index)

    @app.callback(
        Output("wall-body", "children"),
        Output("wall-title", "children"),
        Output("wall-progress", "children"),
        Output("wall-status", "children"),
        Output("wall-status", "className"),
        Output("wall-good", "data"),
        Input("wall-screen", "data"),
        Input("wall-refresh", "n_intervals"),
        State("wall-options", "data"),
        State("wall-good", "data"),
        prevent_initial_call=True,
    )
    def _refresh(index, _n, options, good):
        principal = auth.current_principal()
        now = _now()
        if principal is None and not auth.store_unavailable():
            return (no_update,) * 3 + ("登录已失效，请重新登录", "wall-status stale", no_update)
        try:
            index = int(index or 0) % len(SCREENS)
        except (TypeError, ValueError):
            index = 0
        return _render(q, principal, index, _options(options), config, good, now)

    app.clientside_callback(_SEEN_JS, Output("wall-seen", "data"), Input("wall-good", "data"))
    app.clientside_callback(
        _TICK_JS,
        Output("wall-clock", "children"),
        Output("wall-offline", "children"),
        Input("wall-tick", "n_intervals"),
        State("wall-seen", "data"),
        State("wall-options", "data"),
        State("wall-good", "data"),
        State("wall-status", "className"),
    )
