"""The map of one view (一张图): the layers the view asks for, for the user's scope, as a deck.gl map.

Only what the level needs is sent: the child units of the drilled unit (counties at the city, grids in a
community), H3 cells at the level's resolution, points clustered on the server when many. The base is
drawn from local county outlines (no internet basemap); a site may set an intranet tile URL.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from dash import html

from dashboard.queries import LEVEL_NAMES
from geo.heat import h3_aggregate, kde_surface
from layers import deck
from layers.basemap import base_layers
from layers.colours import THEMES, category_classes, classify, rgba_css
from layers.geometry import bounds_of

#: Point layers of the map: layer id → (store layer, columns read).
POINT_LAYERS = {
    "hazards": ("hazards", ["hazard_type", "level", "grid_code"]),
    "disputes": ("disputes", ["dispute_type", "status", "grid_code"]),
    "cameras": ("cameras", ["grid_code"]),
    "concern": ("persons_of_concern", ["category", "grid_code"]),
}
MAP_ID = "map"


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
    ctx, height: str = "640px", layers: tuple[str, ...] | None = None, map_id: str = MAP_ID
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

    Returns
    -------
    dash.html.Div
    """
    q, theme, scope = ctx.q, ctx.theme, ctx.scope
    wanted = tuple(layers if layers is not None else ctx.state.layers)
    out: list[dict[str, Any]] = []
    legend: list = []
    counties = q.outline_shapes("county", scope)
    out += base_layers(counties, theme=theme, tile_url=ctx.config.tile_url)

    fc, codes, level = q.child_shapes(ctx.code, ctx.state.hierarchy, scope)
    counts = q.child_counts(ctx.code, ctx.state.hierarchy, ctx.start, ctx.end, ctx.categories, scope)
    values = counts.set_index("code")["n"].reindex(codes).fillna(0).to_numpy(np.float64)
    cls = classify(values, k=5, theme=theme, unit="起")
    fc = with_values(fc, values)
    out.append(deck.grid_layer(fc, values, cls, layer_id="units", theme=theme, opacity=0.75))
    legend.append(_legend_rows(f"{LEVEL_NAMES.get(level, level)}警情数（起）", cls.labels, cls.colours))
    if "h3" in wanted or "kde" in wanted or "incidents" in wanted or "hotspots" in wanted:
        pts = q.points(
            "incidents",
            ctx.code,
            ctx.start,
            ctx.end,
            scope,
            filters={"category": list(ctx.categories)} if ctx.categories else None,
            columns=["category"],
        )
        if "h3" in wanted and len(pts):
            res = deck.H3_RESOLUTION_FOR_LEVEL.get(ctx.unit.level, 9)
            cells = h3_aggregate(pts, resolution=res)
            hcls = classify(cells["count"].to_numpy(np.float64), k=5, theme=theme, unit="起")
            out.append(deck.h3_layer(cells, "count", hcls, theme=theme, opacity=0.7))
            legend.append(_legend_rows(f"H3 热力（第{res}级，起）", hcls.labels, hcls.colours))
        if "kde" in wanted and len(pts) >= 3:
            surface = kde_surface(
                pts, bandwidth_m=_bandwidth(ctx.unit.level), cell_m=_bandwidth(ctx.unit.level) / 4
            )
            out.append(deck.kde_layer(surface, theme=theme))
            legend.append(html.Div("核密度（起/平方公里）", className="legend-title"))
        if "incidents" in wanted and len(pts):
            ccls = category_classes(theme=theme)
            out += deck.points_layer(pts, classes=ccls, theme=theme, layer_id="incidents")
            legend.append(_legend_rows("警情类别", ccls.labels, ccls.colours))
    for key, (layer, cols) in POINT_LAYERS.items():
        if key not in wanted:
            continue
        if not ctx.principal.may_read_layer(layer) and key == "concern":
            legend.append(html.Div("关注人员：本角色无权查看", className="legend-title"))
            continue
        pts = q.points(layer, ctx.code, None, None, scope, columns=cols)
        if len(pts):
            pts = pts.assign(kind=key)
            cc = category_classes([key], theme=theme)
            out += deck.points_layer(
                pts, category_col="kind", classes=cc, theme=theme, layer_id=key, radius_px=4
            )
            legend.append(_legend_rows(ctx_label(key), [len(pts)], [cc.colours[0]]))
    bounds = bounds_of(fc) if fc["features"] else None
    tooltip = deck.tooltip_config({"units": "<b>{name}</b><br>{code}<br>{v} 起", "h3": "{v} 起"}, theme)
    the_map = deck.deck_map(map_id, out, bounds, theme=theme, tooltip=tooltip, style={"height": height})
    return html.Div(
        [the_map, html.Div(legend, className="legend", id=f"{map_id}-legend")],
        className="map-wrap",
        style={"height": height, "background": THEMES[theme]["background"]},
    )


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


def clicked_code(click: dict | None) -> str | None:
    """The unit code of a click on the units layer (``clickInfo.object.properties.code``)."""
    if not isinstance(click, dict):
        return None
    obj = click.get("object") or {}
    props = obj.get("properties") if isinstance(obj, dict) else None
    code = (props or {}).get("code") if isinstance(props, dict) else None
    layer = click.get("layer") or click.get("layerId") or ""
    if isinstance(layer, dict):
        layer = layer.get("id", "")
    if code and (not layer or layer == "units"):
        return str(code)
    return None


def frame_or_empty(frame: pd.DataFrame | None) -> pd.DataFrame:
    return frame if frame is not None else pd.DataFrame()
