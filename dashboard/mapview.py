"""The map of one view (一张图): the layers the view asks for, for the user's scope, as a deck.gl map.

Only what the level needs is sent: the child units of the drilled unit (counties at the city, grids in a
community), H3 cells at the level's resolution, points clustered on the server when many. The base is
drawn from local county outlines (no internet basemap); a site may set an intranet tile URL.
"""

from __future__ import annotations

from typing import Any

import h3
import numpy as np
import pandas as pd
import shapely.geometry
from dash import html

from dashboard.live import block as live_block
from dashboard.queries import LEVEL_NAMES
from geo.coverage import patrol_coverage
from geo.heat import kde_surface
from geo.hotspots import h3_hotspots
from layers import deck
from layers.basemap import base_layers
from layers.colours import (
    THEMES,
    CategoricalClasses,
    category_classes,
    classify,
    gi_classes,
    hex_to_rgba,
    layer_classes,
    rgba_css,
)
from layers.geometry import bounds_of

#: Point layers of the map: layer id → (store layer, columns read).
POINT_LAYERS = {
    "hazards": ("hazards", ["hazard_type", "level", "grid_code"]),
    "disputes": ("disputes", ["dispute_type", "status", "grid_code"]),
    "cameras": ("cameras", ["grid_code"]),
    "concern": ("persons_of_concern", ["category", "grid_code"]),
}
MAP_ID = "map"
#: Layers that read the incidents of the view.
INCIDENT_LAYERS = frozenset({"h3", "kde", "incidents", "hotspots", "patrol"})
#: Share of the view's incident cells taken as hot spots for the patrol check (the busiest tenth).
PATROL_HOTSPOT_SHARE = 0.10


def _legend_rows(title: str, labels, colours) -> html.Div:
    rows = [
        html.Div(
            [html.Span(className="swatch", style={"background": rgba_css(c)}), html.Span(str(lab))],
            className="legend-row",
        )
        for lab, c in zip(labels, colours, strict=False)
    ]
    return html.Div([html.Div(title, className="legend-title"), *rows], className="legend-block")


def view_map(
    ctx,
    height: str = "640px",
    layers: tuple[str, ...] | None = None,
    map_id: str = MAP_ID,
    live: bool = True,
) -> html.Div:
    """The deck.gl map and its legend for a :class:`dashboard.app.PageContext`.

    Parameters
    ----------
    ctx : PageContext
    height : str
        CSS height of the map.
    layers : tuple of str, optional
        Layer ids (:data:`dashboard.state.MAP_LAYERS`); default the view's.
    map_id : str
        DOM id of the map's container (``#map canvas`` is the drawn map).
    live : bool
        Mark the map and its legend live (:mod:`dashboard.live`): a new view updates the layers, the
        legend and the camera of the mounted map, and a click on a unit drills into it. The wall,
        which draws its screens whole, passes False.

    Returns
    -------
    dash.html.Div
    """
    q, theme, scope = ctx.q, ctx.theme, ctx.scope
    wanted = tuple(layers if layers is not None else ctx.state.layers)
    out: list[dict[str, Any]] = list(
        base_layers(q.outline_shapes("county", scope), theme=theme, tile_url=ctx.config.tile_url)
    )
    legend: list = []
    tips = {"units": "<b>{name}</b><br>{code}<br>{v} 起"}

    fc, codes, level = q.child_shapes(ctx.code, ctx.state.hierarchy, scope)
    counts = q.child_counts(ctx.code, ctx.state.hierarchy, ctx.start, ctx.end, ctx.categories, scope)
    values = counts.set_index("code")["n"].reindex(codes).fillna(0).to_numpy(np.float64)
    if "grids" in wanted:  # 网格: the child units coloured by their incidents
        cls = classify(values, k=5, theme=theme, unit="起")
        out.append(
            deck.grid_layer(with_values(fc, values), values, cls, layer_id="units", theme=theme, opacity=0.75)
        )
        legend.append(_legend_rows(f"{LEVEL_NAMES.get(level, level)}警情数（起）", cls.labels, cls.colours))
    else:  # unticked: the units stay as faint outlines, still there to hover and to click into
        out.append(
            deck.grid_layer(with_values(fc, values), None, layer_id="units", theme=theme, opacity=0.15)
        )
    if "districts" in wanted:
        out.append(_district_layer(ctx))
        tips["districts"] = "<b>{name}</b><br>{code}"
        legend.append(_legend_rows("警格边界", ["警格"], [hex_to_rgba(THEMES[theme]["county"], 230)]))

    res = deck.H3_RESOLUTION_FOR_LEVEL.get(ctx.unit.level, 9)
    # the hexagon counts come from the incident index; the points themselves only for the layers that
    # draw or smooth points (density, points), as reading a long period's points costs
    cells = q.incident_cells(ctx.code, ctx.start, ctx.end, ctx.categories, scope, res)
    if INCIDENT_LAYERS.intersection(wanted) and len(cells):
        if "h3" in wanted:
            hcls = classify(cells["count"].to_numpy(np.float64), k=5, theme=theme, unit="起")
            out.append(deck.h3_layer(cells, "count", hcls, theme=theme, opacity=0.7))
            tips["h3"] = "{v} 起"
            legend.append(_legend_rows(f"H3 热力（第{res}级，起）", hcls.labels, hcls.colours))
        if "kde" in wanted and int(cells["count"].sum()) >= 3:
            bw = _bandwidth(ctx.unit.level)
            surface = kde_surface(_incidents(ctx), bandwidth_m=bw, cell_m=bw / 4)
            out.append(deck.kde_layer(surface, theme=theme))
            legend.append(html.Div(f"核密度（带宽 {bw:,.0f} 米）", className="legend-title"))
        if "hotspots" in wanted:
            out_layers, block = _hotspot_layers(ctx, fc, res)
            out += out_layers
            legend.append(block)
            tips["hotspots"] = "Gi* 等级 {v}（3 为 99% 热点，-3 为 99% 冷点）"
        if "patrol" in wanted:
            out_layers, block = _patrol_layers(ctx, res)
            out += out_layers
            legend.append(block)
            tips["patrol"] = "热点格：{v}（1 已在高发时段巡逻，0 未巡逻）"
        if "incidents" in wanted:
            ccls = category_classes(theme=theme)
            out += deck.points_layer(_incidents(ctx), classes=ccls, theme=theme, layer_id="incidents")
            legend.append(_legend_rows("警情类别", ccls.labels, ccls.colours))
    for key in ("stations", *POINT_LAYERS):
        if key in wanted:
            out_layers, block = _point_layers(ctx, key)
            out += out_layers
            legend.append(block)
    bounds = bounds_of(fc) if fc["features"] else None
    tooltip = deck.tooltip_config(tips, theme)
    the_map = deck.deck_map(
        {"live-map": map_id} if live else map_id,
        out,
        bounds,
        theme=theme,
        tooltip=tooltip,
        style={"height": height},
        fit=True,  # framed to the map's real size (also re-framed on resize: assets/onemap_fit.js)
    )
    legend_rows = live_block(f"{map_id}-legend", legend) if live else legend
    return html.Div(
        [the_map, html.Div(legend_rows, className="legend", id=f"{map_id}-legend")],
        className="map-wrap",
        id=map_id if live else f"{map_id}-wrap",
        style={"height": height, "background": THEMES[theme]["background"]},
    )


def _incidents(ctx) -> pd.DataFrame:
    """The view's incidents (unit, days, categories) with what every incident layer reads."""
    return ctx.q.incident_points(ctx.code, ctx.start, ctx.end, ctx.categories, ctx.scope)


def _district_layer(ctx) -> dict[str, Any]:
    """Outlines of the 警格 in the view, over the choropleth."""
    fc = ctx.q.district_shapes(ctx.code, ctx.unit.level, ctx.scope)
    return deck.district_outline_layer(fc, layer_id="districts", theme=ctx.theme, pickable=True)


def _hotspot_layers(ctx, fc: dict, res: int) -> tuple[list[dict], html.Div]:
    """Gi* hot and cold spots of the view's incidents on the H3 cells of the units shown."""
    area = [shapely.geometry.shape(f["geometry"]) for f in fc["features"]]
    try:
        cells = ctx.q.incident_cells(ctx.code, ctx.start, ctx.end, ctx.categories, ctx.scope, res)
        gi = h3_hotspots(None, area, res, counts=cells)
    except ValueError as exc:  # too few cells for a test: say so in the legend
        return [], html.Div(f"热点冷点（Gi*）：{exc}", className="legend-title")
    shown = gi[gi["gi_bin"] != 0]
    gcls = gi_classes(ctx.theme)
    layers = [
        deck.hotspot_layer(shown[["h3"]], shown.reset_index(drop=True), layer_id="hotspots", theme=ctx.theme)
    ]
    hot, cold = gi.attrs["n_hot"], gi.attrs["n_cold"]
    title = f"热点冷点 Gi*（第{res}级，FDR 校正，{len(gi):,} 格中热点 {hot}、冷点 {cold}）"
    return layers, _legend_rows(title, gcls.labels, gcls.colours)


def _patrol_layers(ctx, res: int) -> tuple[list[dict], html.Div]:
    """Hot cells (the busiest tenth) coloured by whether a patrol passed in their peak hours (一格一策)."""
    cells = ctx.q.incident_cells(ctx.code, ctx.start, ctx.end, ctx.categories, ctx.scope, res)
    cells = cells.sort_values(["count", "h3"], ascending=[False, True])
    hot = cells["h3"].head(max(1, int(len(cells) * PATROL_HOTSPOT_SHARE)))
    # only the hot cells' own events set their peak hours: pass just those (a tenth of a big period)
    pts = ctx.q.incident_points(ctx.code, ctx.start, ctx.end, ctx.categories, ctx.scope, res)
    pts = pts[np.isin(pts["cell"].to_numpy(), [h3.str_to_int(c) for c in hot])]
    fixes = ctx.q.points(
        "patrol_points", ctx.code, ctx.start, ctx.end, ctx.scope, columns=["track_id", "recorded_at"]
    )
    frame, summary = patrol_coverage(fixes, hot, pts, resolution=res)
    pcls = CategoricalClasses(
        colours=(hex_to_rgba(THEMES[ctx.theme]["good"], 210), hex_to_rgba(THEMES[ctx.theme]["bad"], 210)),
        labels=("高发时段有巡逻", "高发时段无巡逻"),
        no_data_colour=(0, 0, 0, 0),
        no_data_label="",
        categories=(1, 0),
    )
    layer = deck.h3_layer(
        frame.assign(v=frame["covered"].astype(int)), "v", pcls, layer_id="patrol", theme=ctx.theme
    )
    title = f"热点巡逻覆盖 {summary['covered']}/{summary['hotspots']}（{summary['share']:.0%}，第{res}级）"
    return [layer], _legend_rows(title, pcls.labels, pcls.colours)


def _point_layers(ctx, key: str) -> tuple[list[dict], html.Div]:
    """One point layer (stations, hazards, disputes, persons of concern, cameras) with its legend row."""
    label = ctx_label(key)
    store_layer, cols = POINT_LAYERS.get(key, ("stations", ["station_code"]))
    if not ctx.principal.may_read_layer(store_layer):
        return [], html.Div(f"{label}：本角色无权查看", className="legend-title")
    pts = ctx.q.points(store_layer, ctx.code, None, None, ctx.scope, columns=cols)
    classes = layer_classes([key], [label], ctx.theme)
    if not len(pts):
        return [], _legend_rows(f"{label}（0）", [label], classes.colours)
    layers = deck.points_layer(
        pts.assign(kind=key),
        category_col="kind",
        classes=classes,
        theme=ctx.theme,
        layer_id=key,
        radius_px=6 if key == "stations" else 4,
    )
    return layers, _legend_rows(f"{label}（{len(pts):,}）", [label], classes.colours)


def with_values(fc: dict, values: np.ndarray) -> dict:
    """A shallow copy of a FeatureCollection with ``v`` (the value shown in hovers) in each feature."""
    feats = [
        {**f, "properties": {**f.get("properties", {}), "v": int(v)}}
        for f, v in zip(fc["features"], values, strict=True)
    ]
    return {**fc, "features": feats}


def ctx_label(key: str) -> str:
    from dashboard.state import MAP_LAYERS

    return MAP_LAYERS.get(key, key)


def _bandwidth(level: str) -> float:
    return {"city": 2000.0, "county": 1000.0, "bureau": 1000.0, "township": 400.0, "station": 400.0}.get(
        level, 200.0
    )


def frame_or_empty(frame: pd.DataFrame | None) -> pd.DataFrame:
    return frame if frame is not None else pd.DataFrame()
