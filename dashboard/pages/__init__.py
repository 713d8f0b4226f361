"""The five screens (五大模块), one module each, in navigation order, and their callbacks."""

from __future__ import annotations

from dash import Input, Output, State, no_update

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
    from dashboard.mapview import MAP_ID, clicked_code

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(MAP_ID, "clickInfo"),
        State("url", "pathname"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def _drill(click, pathname, search):
        code = clicked_code(click)
        if not code:
            return no_update
        state = parse(pathname, search)
        if code == state.unit:
            return no_update
        return state.with_(unit=code).search()

    from dashboard import records

    records.register(app, q, config)
    for module in MODULES.values():
        hook = getattr(module, "register", None)
        if hook is not None:
            hook(app, q, config)
