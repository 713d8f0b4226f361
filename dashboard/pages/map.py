"""可视化地图 the map: toggleable layers over the drilled unit, legend, hover and click details; a click
on a unit drills into it."""

from __future__ import annotations

from dash import dcc, html

from dashboard.mapview import view_map
from dashboard.state import MAP_LAYERS

TITLE = "可视化地图"


def layout(ctx) -> html.Div:
    options = []
    for key, label in MAP_LAYERS.items():
        disabled = key == "concern" and not ctx.principal.may_read_layer("persons_of_concern")
        options.append(
            {"label": label + ("（无权限）" if disabled else ""), "value": key, "disabled": disabled}
        )
    toggles = dcc.Checklist(
        id={"f": "layers"},
        options=options,
        value=list(ctx.state.layers),
        inline=True,
        className="layer-toggles",
        # written to the URL by the filter callback of dashboard.app, like the other filters
    )
    hint = html.Div("点击地图上的单元下钻；面包屑返回上级。", className="hint")
    return html.Div([toggles, hint, view_map(ctx, "calc(100vh - 230px)")], className="map-page")
