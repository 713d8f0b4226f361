"""The five screens (五大模块), one module each, in navigation order, and their callbacks."""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, no_update

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


def register_callbacks(app, q, config) -> None:
    """Callbacks shared by the screens: a click on a map unit drills into it (writes the URL)."""
    from dashboard.mapview import clicked_code

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input({"live-map": ALL}, "clickInfo"),
        State("url", "pathname"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def _drill(clicks, pathname, search):
        click = triggered_value(clicks)
        state = parse(pathname, search)
        code = clicked_code(click) or _unit_under(q, click, state)
        if not code:
            return no_update
        if code == state.unit:
            return no_update
        return state.with_(unit=code).search()

    from dashboard import records

    records.register(app, q, config)
    for module in MODULES.values():
        hook = getattr(module, "register", None)
        if hook is not None:
            hook(app, q, config)


def triggered_value(values: list):
    """The value of the pattern input that fired (the map clicked), or None."""
    for spec, value in zip(ctx.inputs_list[0], values, strict=False):
        if spec.get("id") == ctx.triggered_id:
            return value
    return None


def _unit_under(q, click, state) -> str | None:
    """The child unit under a click on another layer (a hexagon, a point), for the user's scope."""
    from dashboard import auth

    coord = click.get("coordinate") if isinstance(click, dict) else None
    principal = auth.current_principal()
    if principal is None or not isinstance(coord, list | tuple) or len(coord) < 2:
        return None
    try:
        lon, lat = float(coord[0]), float(coord[1])
    except (TypeError, ValueError):
        return None
    unit = q.unit(state.unit or principal.unit_code)  # no unit in the URL: the user's own
    if unit is not None and unit.level == "grid":
        return None
    code = None if unit is None or unit.level == "city" else unit.code
    return q.child_at(code, state.hierarchy, principal.scope, lon, lat)
