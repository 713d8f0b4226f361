"""The five screens (五大模块), one module each, in navigation order, and their callbacks."""

from __future__ import annotations

from dash import ALL, Input, Output, State, no_update

from dashboard.pages import empower, overview, quality, warnings
from dashboard.pages import map as map_page
from dashboard.state import parse

MODULES = {
    "overview": overview,
    "empower": empower,
    "warnings": warnings,
    "quality": quality,
    "map": map_page,
}


#: Browser side of a click on the map: a unit of the map drills into that unit at once (its code is in
#: the click; no round trip, and the unit's polygon is not sent back to the server); a click on another
#: layer (a hexagon, a point) finds the unit below it in the map's own "units" layer
#: (``window.onemap.unitAt``, ``assets/onemap_click.js``) and drills the same way; only when the map holds
#: no such layer does the position go to the server, which finds the unit there.
CLICK_JS = """
function(clicks, search, layersOfMaps) {
    var nu = window.dash_clientside.no_update;
    var trig = window.dash_clientside.callback_context.triggered;
    var click = trig && trig.length ? trig[0].value : null;
    if (!click || !click.picked) { return [nu, nu]; }
    var props = (click.object && click.object.properties) || {};
    var at = Array.isArray(click.coordinate) && click.coordinate.length >= 2 ? click.coordinate : null;
    var code = click.layerId === 'units' && props.code ? String(props.code) : null;
    for (var i = 0; !code && at && window.onemap && i < (layersOfMaps || []).length; i++) {
        code = window.onemap.unitAt(layersOfMaps[i], at[0], at[1]);
    }
    if (code) {
        var params = new URLSearchParams(search || '');
        if (params.get('unit') === code) { return [nu, nu]; }
        params.set('unit', code);
        return ['?' + params.toString(), nu];
    }
    if (at) { return [nu, {lon: at[0], lat: at[1], at: Date.now()}]; }
    return [nu, nu];
}
"""
#: Id of the store that carries a click's position to the server.
MAP_CLICK = "map-click"


def register_callbacks(app, q, config) -> None:
    """Callbacks shared by the screens: a click on the map drills into the unit under it (writes the
    URL): directly in the browser for a unit, through the server for another layer (:data:`CLICK_JS`)."""
    app.clientside_callback(
        CLICK_JS,
        Output("url", "search", allow_duplicate=True),
        Output(MAP_CLICK, "data"),
        Input({"live-map": ALL}, "clickInfo"),
        State("url", "search"),
        State({"live-map": ALL}, "layers"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(MAP_CLICK, "data"),
        State("url", "pathname"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def _drill(point, pathname, search):
        state = parse(pathname, search)
        code = _unit_under(q, point, state)
        if not code or code == state.unit:
            return no_update
        return state.with_(unit=code).search()

    from dashboard import records

    records.register(app, q, config)
    for module in MODULES.values():
        hook = getattr(module, "register", None)
        if hook is not None:
            hook(app, q, config)


def _unit_under(q, point, state) -> str | None:
    """The child unit under a clicked position (``{"lon", "lat"}``), within the user's scope."""
    import math

    from dashboard import auth

    principal = auth.current_principal()
    if principal is None or not isinstance(point, dict):
        return None
    try:
        lon, lat = float(point.get("lon")), float(point.get("lat"))
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    unit = q.unit(state.unit or principal.unit_code)  # no unit in the URL: the user's own
    if unit is not None and unit.level == "grid":
        return None
    code = None if unit is None or unit.level == "city" else unit.code
    return q.child_at(code, state.hierarchy, principal.scope, lon, lat)
