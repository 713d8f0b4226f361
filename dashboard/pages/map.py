"""可视化地图 the map: toggleable layers over the drilled unit, legend, hover and click details; a click
on a unit drills into it."""

from __future__ import annotations

from dash import Input, Output, State, dcc, html, no_update

from dashboard.mapview import view_map
from dashboard.state import MAP_LAYERS, parse

TITLE = "可视化地图"


def layout(ctx) -> html.Div:
    options = []
    for key, label in MAP_LAYERS.items():
        disabled = key == "concern" and not ctx.principal.may_read_layer("persons_of_concern")
        options.append(
            {"label": label + ("（无权限）" if disabled else ""), "value": key, "disabled": disabled}
        )
    toggles = dcc.Checklist(
        id="map-layers", options=options, value=list(ctx.state.layers), inline=True, className="layer-toggles"
    )
    hint = html.Div("点击地图上的单元下钻；面包屑返回上级。", className="hint")
    return html.Div([toggles, hint, view_map(ctx, "calc(100vh - 230px)")], className="map-page")


def register(app, q, config) -> None:
    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("map-layers", "value"),
        State("url", "pathname"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def _layers(values, pathname, search):
        state = parse(pathname, search)
        chosen = tuple(k for k in MAP_LAYERS if k in (values or []))
        new = state.with_(layers=chosen).search()
        return new if new != (search or "") else no_update
