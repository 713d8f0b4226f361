"""A grid's records (网格台账), masked, with export to CSV and Excel (导出).

Shown at grid level to roles with the ``records`` permission; persons of concern only to roles that may
see them. Every export re-derives the view on the server from the URL and the logged-in user (the
browser only says which layer and format), masks personal data, names the file safely and writes an
audit entry.
"""

from __future__ import annotations

import io
import re

import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from dashboard.components import data_table, section
from data.access import mask_frame

#: Layers listed for a grid, with their Chinese titles.
GRID_LAYERS: dict[str, str] = {
    "population": "实有人口",
    "addresses": "标准地址",
    "hazards": "风险隐患",
    "disputes": "矛盾纠纷",
    "persons_of_concern": "关注人员",
}
MAX_EXPORT_ROWS = 50_000
_UNSAFE = re.compile(r"[^0-9A-Za-z\u4e00-\u9fff._-]+")


def safe_filename(*parts: str, suffix: str) -> str:
    """A file name from ``parts`` with only letters, digits, CJK, ``._-`` (no path, no control chars)."""
    stem = "_".join(_UNSAFE.sub("-", str(p)).strip("-.") for p in parts if p)[:120] or "export"
    return f"{stem}.{suffix.lstrip('.')}"


def grid_records(q, principal, grid_code: str, layer: str, limit: int = MAX_EXPORT_ROWS) -> pd.DataFrame:
    """The masked records of ``layer`` in ``grid_code`` within the user's scope (empty when not allowed)."""
    if layer not in GRID_LAYERS or not principal.may_read_layer(layer):
        return pd.DataFrame()
    if limit <= 10_000:
        frame = q.store.records(layer, grid_code, scope=principal.scope, page_size=limit, count=False).frame
    else:
        frame = q.store.read(layer, grid_code, scope=principal.scope, geometry=False).head(limit)
    return mask_frame(frame.drop(columns=["geometry"], errors="ignore"), layer)


def grid_section(ctx) -> html.Div | None:
    """Tables of the grid's records with export buttons, or None when the role may not see records."""
    if ctx.unit.level != "grid" or not ctx.principal.can("records"):
        return None
    tabs = []
    for layer, title in GRID_LAYERS.items():
        if not ctx.principal.may_read_layer(layer):
            continue
        frame = grid_records(ctx.q, ctx.principal, ctx.unit.code, layer, limit=2000)
        buttons = []
        if ctx.principal.can("export"):
            buttons = [
                html.Button("导出CSV", id={"type": "export", "layer": layer, "fmt": "csv"}, className="btn"),
                html.Button(
                    "导出Excel", id={"type": "export", "layer": layer, "fmt": "xlsx"}, className="btn"
                ),
            ]
        tabs.append(
            dcc.Tab(
                label=f"{title}（{len(frame):,}）",
                children=[html.Div(buttons, className="export-bar"), data_table(frame, f"grid-{layer}", 12)],
            )
        )
    return section(
        "网格台账（个人信息已脱敏）",
        dcc.Tabs(tabs),
        dcc.Download(id="export-download"),
        section_id="grid-records",
    )


def register(app, q, config) -> None:
    from dash import ALL
    from dash import ctx as dash_ctx

    from dashboard import auth
    from dashboard.app import page_context
    from dashboard.state import parse

    @app.callback(
        Output("export-download", "data"),
        Input({"type": "export", "layer": ALL, "fmt": ALL}, "n_clicks"),
        State("url", "pathname"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def _export(clicks, pathname, search):
        trigger = dash_ctx.triggered_id
        principal = auth.current_principal()
        if not trigger or not any(clicks) or principal is None or not principal.can("export"):
            return no_update
        layer, fmt = trigger.get("layer"), trigger.get("fmt")
        if layer not in GRID_LAYERS or fmt not in ("csv", "xlsx"):
            return no_update
        view = page_context(q, principal, parse(pathname, search), config)
        if view.unit.level != "grid":
            return no_update
        frame = grid_records(q, principal, view.unit.code, layer)
        name = safe_filename(view.unit.name, GRID_LAYERS[layer], f"{view.as_of:%Y%m%d}", suffix=fmt)
        q.store.append_audit(
            principal.user_id,
            "export",
            f"{layer}:{view.unit.code}",
            address=_address(),
            detail={"rows": len(frame), "format": fmt, "file": name},
        )
        if fmt == "csv":
            return dcc.send_string(frame.to_csv(index=False), name, type="text/csv")
        buf = io.BytesIO()
        frame.to_excel(buf, index=False, sheet_name=GRID_LAYERS[layer])
        return dcc.send_bytes(buf.getvalue(), name)


def _address() -> str | None:
    import flask

    return flask.request.remote_addr if flask.has_request_context() else None
