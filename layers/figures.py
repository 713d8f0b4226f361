"""Charts (图表) for the five screens, as plotly figures with Chinese labels, light or dark (大屏).

Each function takes the frame an analysis in ``geo/`` returns and gives a ``plotly.graph_objects.Figure``:

* :func:`hour_weekday_heatmap`: weekday × hour counts (``geo.heat.time_profile``);
* :func:`monthly_figure`: monthly series per category (``geo.heat.monthly_series``);
* :func:`ranking_figure`: a KPI ranking with its target line (``geo.kpi.rank``);
* :func:`kpi_bar_figure`: several KPIs of one unit against their targets;
* :func:`yoy_figure`: this period against the same period last year per category, with ↑/↓ changes
  (``geo.kpi.yoy_by_category``); :func:`three_up_four_down_figure`: the 三提升四下降 scorecard
  (``geo.kpi.three_up_four_down``);
* :func:`status_donut`: work orders by state (工单状态);
* :func:`static_map_figure`: a choropleth drawn on plain cartesian axes, for briefing PNG/PDF exports.

No map here uses plotly's map subplots: every built-in style but ``white-bg`` loads style JSON and tiles
from the internet, and any text on a MapLibre map fetches glyph fonts from the internet
(``/work/shared/FACTS.md``). :func:`static_map_figure` draws polygons as filled SVG paths instead, so a
briefing map needs no WebGL, no tile and no glyph, and its title and legend are ordinary SVG text in the
CJK fonts of the machine (vector in a PDF, where a MapLibre map would be a raster).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import shapely
from numpy.typing import ArrayLike

from layers.colours import (
    CATEGORY_COLOURS,
    SEQUENTIAL,
    THEMES,
    WORK_ORDER_COLOURS,
    CategoricalClasses,
    Classes,
    rgba_css,
)

__all__ = [
    "FONT_FAMILY",
    "hour_weekday_heatmap",
    "kpi_bar_figure",
    "monthly_figure",
    "ranking_figure",
    "static_map_figure",
    "status_donut",
    "template",
    "three_up_four_down_figure",
    "yoy_figure",
]

#: CJK-capable fonts, first found wins (Debian's fonts-noto-cjk provides the first).
FONT_FAMILY = (
    "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, WenQuanYi Micro Hei, sans-serif"
)
_OTHER = "#9aa5b1"


def template(theme: str = "light", font_scale: float = 1.0) -> go.layout.Template:
    """Plotly template of a theme: CJK fonts, background, grid colours, category colourway.

    Parameters
    ----------
    theme : {"light", "dark"}
        ``dark`` is the video wall's.
    font_scale : float
        Multiplies font sizes (1.0 for 1920×1080, 2.0 for 3840×2160).

    Returns
    -------
    plotly.graph_objects.layout.Template
    """
    t = THEMES[theme]
    size = 13 * font_scale
    axis = {
        "gridcolor": t["gridline"],
        "zerolinecolor": t["gridline"],
        "linecolor": t["gridline"],
        "tickfont": {"color": t["muted"], "size": size * 0.9},
        "title": {"font": {"color": t["muted"], "size": size}},
        "automargin": True,
    }
    layout = go.Layout(
        font={"family": FONT_FAMILY, "color": t["text"], "size": size},
        title={"font": {"size": size * 1.3, "color": t["text"]}, "x": 0.02, "xanchor": "left"},
        paper_bgcolor=t["paper"],
        plot_bgcolor=t["paper"],
        colorway=list(CATEGORY_COLOURS[theme].values()),
        xaxis=axis,
        yaxis=axis,
        legend={"font": {"size": size * 0.9, "color": t["text"]}, "bgcolor": "rgba(0,0,0,0)"},
        hoverlabel={"font": {"family": FONT_FAMILY, "size": size}},
        margin={"l": 40 * font_scale, "r": 20 * font_scale, "t": 50 * font_scale, "b": 40 * font_scale},
    )
    return go.layout.Template(layout=layout)


def _figure(theme: str, font_scale: float, title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(template=template(theme, font_scale), title_text=title)
    return fig


def hour_weekday_heatmap(
    profile: pd.DataFrame,
    *,
    title: str = "警情时段分布（星期 × 小时）",
    theme: str = "light",
    font_scale: float = 1.0,
) -> go.Figure:
    """Heat map of counts by weekday and hour (时段分布).

    Parameters
    ----------
    profile : DataFrame
        7 rows (一 … 日) × 24 columns (0 … 23), as ``geo.heat.time_profile`` returns.
    title : str
    theme : {"light", "dark"}
    font_scale : float

    Returns
    -------
    plotly.graph_objects.Figure
    """
    ramp = SEQUENTIAL["YlOrRd"] if theme == "light" else SEQUENTIAL["inferno"][1:]
    scale = [[i / (len(ramp) - 1), c] for i, c in enumerate(ramp)]
    days = [f"周{d}" for d in profile.index.astype(str)]
    hours = [f"{int(h)}时" for h in profile.columns]
    fig = _figure(theme, font_scale, title)
    fig.add_trace(
        go.Heatmap(
            z=profile.to_numpy(),
            x=hours,
            y=days,
            colorscale=scale,
            colorbar={"title": {"text": "起数"}},
            hovertemplate="%{y} %{x}<br>%{z} 起<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="星期")
    fig.update_xaxes(title_text="小时", dtick=2)
    return fig


def monthly_figure(
    table: pd.DataFrame,
    *,
    title: str = "月度警情趋势",
    theme: str = "light",
    font_scale: float = 1.0,
    stacked: bool = False,
) -> go.Figure:
    """Monthly counts per category (月度趋势), one line (or stacked area) each.

    Parameters
    ----------
    table : DataFrame
        Indexed by month (Timestamps), one column per category or ``count`` (``geo.heat.monthly_series``).
    title : str
    theme : {"light", "dark"}
    font_scale : float
    stacked : bool
        Stacked areas instead of lines.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    colours = CATEGORY_COLOURS[theme]
    fig = _figure(theme, font_scale, title)
    for col in table.columns:
        name = "合计" if col == "count" else str(col)
        fig.add_trace(
            go.Scatter(
                x=table.index,
                y=table[col].to_numpy(),
                name=name,
                mode="lines+markers" if len(table) <= 24 else "lines",
                line={
                    "color": colours.get(name, THEMES[theme]["accent"] if name == "合计" else _OTHER),
                    "width": 2,
                },
                stackgroup="one" if stacked else None,
                hovertemplate=f"{name} %{{x|%Y年%m月}}: %{{y}} 起<extra></extra>",
            )
        )
    fig.update_xaxes(tickformat="%Y年%m月", title_text="月份")
    fig.update_yaxes(title_text="起数", rangemode="tozero")
    return fig


def ranking_figure(
    ranked: pd.DataFrame,
    *,
    title: str,
    names: Mapping[str, str] | None = None,
    unit: str = "%",
    target: float | None = None,
    higher_is_better: bool = True,
    top: int = 15,
    theme: str = "light",
    font_scale: float = 1.0,
) -> go.Figure:
    """A KPI ranking (排名) as horizontal bars, best at the top, with the target as a dashed line.

    Parameters
    ----------
    ranked : DataFrame
        ``geo.kpi.rank`` output: indexed by unit code, ``value`` and optionally ``target`` and
        ``meets_target``; rows already best first.
    title : str
        Chinese title, e.g. ``派出所 动态事件流转办结率 排名``.
    names : mapping of code to name, optional
        Unit names shown instead of codes.
    unit : str
        Unit of the values (``%``, ``h``, ``起``).
    target : float, optional
        Default: the ``target`` column when it has one value.
    higher_is_better : bool
        Colours bars meeting the target (``meets_target``, else compared with ``target``).
    top : int
        Units shown.
    theme : {"light", "dark"}
    font_scale : float

    Returns
    -------
    plotly.graph_objects.Figure
    """
    t = THEMES[theme]
    rows = ranked.dropna(subset=["value"]).head(top)
    if target is None and "target" in ranked and ranked["target"].notna().any():
        target = float(ranked["target"].dropna().iloc[0])
    labels = [str(names.get(str(c), c)) if names else str(c) for c in rows.index]
    if "meets_target" in rows:
        meets = rows["meets_target"].astype("boolean")
    elif target is not None:
        meets = pd.Series(rows["value"] >= target if higher_is_better else rows["value"] <= target).astype(
            "boolean"
        )
    else:
        meets = pd.Series(pd.NA, index=rows.index, dtype="boolean")
    colour = np.where(meets.isna(), t["accent"], np.where(meets.fillna(False), t["good"], t["bad"]))
    fig = _figure(theme, font_scale, title)
    fig.add_trace(
        go.Bar(
            x=rows["value"].to_numpy(),
            y=labels,
            orientation="h",
            marker_color=colour.tolist(),
            text=[f"{v:.1f}{unit}" for v in rows["value"]],
            textposition="auto",
            hovertemplate=f"%{{y}}: %{{x:.1f}}{unit}<extra></extra>",
            showlegend=False,
        )
    )
    if target is not None:
        fig.add_vline(
            x=target,
            line_dash="dash",
            line_color=t["muted"],
            annotation_text=f"目标 {target:g}{unit}",
            annotation_position="top",
            annotation_font_color=t["muted"],
        )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=unit)
    fig.update_layout(height=max(300, 26 * len(rows) + 120) * font_scale)
    return fig


def kpi_bar_figure(
    values: Mapping[str, float],
    targets: Mapping[str, float | None] | None = None,
    *,
    title: str = "质态监测指标",
    unit: str = "%",
    theme: str = "light",
    font_scale: float = 1.0,
) -> go.Figure:
    """Several KPIs of one unit as bars, each with its target marked (指标 vs 目标).

    Parameters
    ----------
    values : mapping of KPI label to value
        E.g. ``{"基础信息采集登记率": 97.5, "规范化服务走访覆盖率": 88.0}``.
    targets : mapping of KPI label to target, optional
        Missing or None: no target for that KPI.
    title : str
    unit : str
    theme : {"light", "dark"}
    font_scale : float

    Returns
    -------
    plotly.graph_objects.Figure
    """
    t = THEMES[theme]
    labels = list(values)
    v = np.array([values[k] for k in labels], dtype=float)
    tg = np.array([(targets or {}).get(k, None) for k in labels], dtype=float)
    colour = np.where(np.isnan(tg), t["accent"], np.where(v >= tg, t["good"], t["bad"]))
    fig = _figure(theme, font_scale, title)
    fig.add_trace(
        go.Bar(
            x=v,
            y=labels,
            orientation="h",
            name="实际",
            marker_color=colour.tolist(),
            text=[f"{x:.1f}{unit}" if np.isfinite(x) else "—" for x in v],
            textposition="auto",
            hovertemplate=f"%{{y}}: %{{x:.1f}}{unit}<extra></extra>",
        )
    )
    has = np.isfinite(tg)
    if has.any():
        fig.add_trace(
            go.Scatter(
                x=tg[has],
                y=[lab for lab, h in zip(labels, has, strict=True) if h],
                mode="markers",
                name="目标",
                marker={
                    "symbol": "line-ns-open",
                    "size": 22 * font_scale,
                    "line": {"width": 3, "color": t["text"]},
                },
                hovertemplate=f"%{{y}} 目标 %{{x:.1f}}{unit}<extra></extra>",
            )
        )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=unit, rangemode="tozero")
    fig.update_layout(height=max(260, 40 * len(labels) + 120) * font_scale, barmode="overlay")
    return fig


def _arrow(change_pct: float) -> str:
    if not np.isfinite(change_pct):
        return "—"
    if change_pct > 0:
        return f"↑{change_pct:.1f}%"
    if change_pct < 0:
        return f"↓{abs(change_pct):.1f}%"
    return "持平"


def yoy_figure(
    yoy: pd.DataFrame,
    *,
    title: str = "警情同比（本期 vs 去年同期）",
    include_total: bool = False,
    theme: str = "light",
    font_scale: float = 1.0,
) -> go.Figure:
    """Incidents by category this period and a year earlier (同比), with the change as ↑/↓ above each pair.

    A fall is coloured good (green) and a rise bad (red): every incident category is one the police
    want fewer of.

    Parameters
    ----------
    yoy : DataFrame
        ``geo.kpi.yoy_by_category`` output: indexed by category (then ``合计``), ``current``,
        ``previous``, ``change_pct``; ``attrs`` may hold the periods.
    title : str
    include_total : bool
        Keep the ``合计`` row.
    theme : {"light", "dark"}
    font_scale : float

    Returns
    -------
    plotly.graph_objects.Figure
    """
    t = THEMES[theme]
    rows = yoy if include_total else yoy.drop(index="合计", errors="ignore")
    cats = [str(c) for c in rows.index]
    now_label = "本期"
    then_label = "去年同期"
    if {"start", "end"} <= set(yoy.attrs):
        now_label = f"本期 {yoy.attrs['start']}至{yoy.attrs['end']}"
    if {"previous_start", "previous_end"} <= set(yoy.attrs):
        then_label = f"去年同期 {yoy.attrs['previous_start']}至{yoy.attrs['previous_end']}"
    fig = _figure(theme, font_scale, title)
    fig.add_trace(go.Bar(x=cats, y=rows["previous"].to_numpy(), name=then_label, marker_color=t["muted"]))
    fig.add_trace(go.Bar(x=cats, y=rows["current"].to_numpy(), name=now_label, marker_color=t["accent"]))
    top = np.nanmax(rows[["current", "previous"]].to_numpy(dtype=float), axis=1) if len(rows) else []
    for cat, pct, y in zip(cats, rows["change_pct"].to_numpy(dtype=float), top, strict=True):
        colour = t["muted"] if not np.isfinite(pct) or pct == 0 else (t["good"] if pct < 0 else t["bad"])
        fig.add_annotation(
            x=cat, y=y, text=_arrow(pct), showarrow=False, yshift=14 * font_scale, font={"color": colour}
        )
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.15})
    fig.update_yaxes(title_text="起数", rangemode="tozero")
    return fig


def three_up_four_down_figure(
    frame: pd.DataFrame, *, title: str = "三提升四下降", theme: str = "light", font_scale: float = 1.0
) -> go.Figure:
    """The 三提升四下降 scorecard: each indicator's change, green when it moved the wanted way.

    Parameters
    ----------
    frame : DataFrame
        ``geo.kpi.three_up_four_down`` output: ``indicator``, ``direction`` (↑/↓), ``change``
        (percentage points for the three rises, percent for the four falls), ``achieved``.
    title : str
    theme : {"light", "dark"}
    font_scale : float

    Returns
    -------
    plotly.graph_objects.Figure
    """
    t = THEMES[theme]
    change = frame["change"].to_numpy(dtype=float)
    achieved = frame["achieved"].astype("boolean")
    colour = np.where(achieved.isna(), t["muted"], np.where(achieved.fillna(False), t["good"], t["bad"]))
    up = (frame["direction"] == "↑").to_numpy()
    labels = [f"{d} {name}" for d, name in zip(frame["direction"], frame["indicator"], strict=True)]
    text = []
    for c, u in zip(change, up, strict=True):
        if not np.isfinite(c):
            text.append("无数据")
        else:
            text.append(f"{'↑' if c > 0 else '↓' if c < 0 else ''}{abs(c):.1f}{'个百分点' if u else '%'}")
    fig = _figure(theme, font_scale, title)
    fig.add_trace(
        go.Bar(
            x=np.nan_to_num(change),
            y=labels,
            orientation="h",
            marker_color=colour.tolist(),
            text=text,
            textposition="outside",
            hovertemplate="%{y}: %{text}<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_vline(x=0, line_color=t["muted"])
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="变化（提升类: 百分点；下降类: %）")
    return fig


def status_donut(
    counts: Mapping[str, int] | pd.Series,
    *,
    title: str = "工单状态",
    theme: str = "light",
    font_scale: float = 1.0,
) -> go.Figure:
    """Work orders by state (工单状态) as a donut with the total in the middle.

    Parameters
    ----------
    counts : mapping or Series of state to count
        States of ``data.schema.WORK_ORDER_STATES`` (待签收 … 升级) come in that order, others after.
    title : str
    theme : {"light", "dark"}
    font_scale : float

    Returns
    -------
    plotly.graph_objects.Figure
    """
    s = pd.Series(counts, dtype="float64")
    order = [k for k in WORK_ORDER_COLOURS if k in s.index] + [
        k for k in s.index if k not in WORK_ORDER_COLOURS
    ]
    s = s.reindex(order).fillna(0)
    fig = _figure(theme, font_scale, title)
    fig.add_trace(
        go.Pie(
            labels=[str(k) for k in s.index],
            values=s.to_numpy(),
            hole=0.6,
            sort=False,
            direction="clockwise",
            marker={"colors": [WORK_ORDER_COLOURS.get(str(k), _OTHER) for k in s.index]},
            textinfo="label+percent",
            hovertemplate="%{label}: %{value} 件（%{percent}）<extra></extra>",
        )
    )
    fig.add_annotation(
        text=f"共 {int(s.sum()):,} 件",
        showarrow=False,
        font={"size": 18 * font_scale, "color": THEMES[theme]["text"]},
    )
    return fig


def _ring_xy(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y of the exterior rings of polygons, rings separated by NaN (plotly's gaps)."""
    parts = shapely.get_parts(geoms)
    rings = shapely.get_exterior_ring(parts[shapely.get_type_id(parts) == 3])
    xy, which = shapely.get_coordinates(rings, return_index=True)
    if not len(xy):
        return np.empty(0), np.empty(0)
    breaks = np.flatnonzero(np.diff(which)) + 1
    xy = np.insert(xy, breaks, np.nan, axis=0)
    return xy[:, 0], xy[:, 1]


def static_map_figure(
    frame: gpd.GeoDataFrame,
    values: ArrayLike,
    classes: Classes | CategoricalClasses,
    *,
    title: str,
    legend_title: str = "",
    theme: str = "light",
    font_scale: float = 1.0,
    outlines: gpd.GeoDataFrame | None = None,
) -> go.Figure:
    """A choropleth on plain axes (no map subplot, no tile, no glyph) for briefings (简报地图).

    Parameters
    ----------
    frame : GeoDataFrame
        Polygons in lon/lat, simplified for the view (:func:`layers.geometry.prepare`).
    values : array_like
        One value per row of ``frame``, classed by ``classes``.
    classes : Classes or CategoricalClasses
    title : str
        Chinese title (unit, period).
    legend_title : str
        E.g. ``警情（起）``.
    theme : {"light", "dark"}
    font_scale : float
    outlines : GeoDataFrame, optional
        Polygons drawn as outlines on top (e.g. the townships of a county).

    Returns
    -------
    plotly.graph_objects.Figure
        One filled trace per class (legend entries in class order) on axes with lon/lat aspect.
    """
    t = THEMES[theme]
    geoms = frame.to_crs(4326).geometry.to_numpy() if frame.crs is not None else frame.geometry.to_numpy()
    k = classes.classify(values)
    palette = classes.palette()
    labels = [*classes.labels, classes.no_data_label]
    fig = _figure(theme, font_scale, title)
    for c in range(len(palette)):
        members = geoms[k == c]
        if not len(members):
            continue
        x, y = _ring_xy(members)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                fill="toself",
                fillcolor=rgba_css(palette[c]),
                line={"color": t["outline"], "width": 0.4},
                name=labels[c],
                hoverinfo="skip",
            )
        )
    if outlines is not None:
        x, y = _ring_xy(outlines.to_crs(4326).geometry.to_numpy())
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                line={"color": t["county"], "width": 1.4},
                name="边界",
                hoverinfo="skip",
            )
        )
    _, y0, _, y1 = shapely.total_bounds(geoms)
    ratio = 1 / math.cos(math.radians((y0 + y1) / 2)) if np.isfinite(y0) else 1.0
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x", scaleratio=ratio)
    fig.update_layout(legend_title_text=legend_title, plot_bgcolor=t["background"])
    return fig
