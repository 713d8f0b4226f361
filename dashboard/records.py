"""A grid's records (网格台账), masked, with export to CSV and Excel (导出) and unmasking of one row.

Shown at grid level to roles with the ``records`` permission; persons of concern only to roles that may
see them. Every export re-derives the view on the server from the URL and the logged-in user (the
browser only says which layer and format), masks personal data, names the file safely and writes an
audit entry.

Unmasking (查看明文): a role that may (:meth:`data.access.Principal.may_unmask`) selects one row, states a
reason (at least :data:`data.store.unmask.MIN_REASON` characters) and presses 查看明文; the server checks
the record lies in the grid of the URL and in the user's scope, writes the audit entry
(:func:`data.store.unmask.unmask`) and only then fills that row's personal fields in. The browser names
only the row's key and the reason; everything else is decided on the server.
"""

from __future__ import annotations

import re

import pandas as pd
from dash import MATCH, Input, Output, Patch, State, dcc, html, no_update

from dashboard.components import data_table, section
from data.access import mask_frame
from data.schema import LAYERS
from data.spreadsheet import csv_text, xlsx_bytes
from data.store import unmask as um
from data.store.base import NotFoundError

#: Layers listed for a grid, with their Chinese titles.
GRID_LAYERS: dict[str, str] = {
    "population": "实有人口",
    "addresses": "标准地址",
    "hazards": "风险隐患",
    "disputes": "矛盾纠纷",
    "persons_of_concern": "关注人员",
}
MAX_EXPORT_ROWS = 50_000
_UNSAFE = re.compile(r"(?:[^0-9A-Za-z\u4e00-\u9fff._-]|\.{2,})+")


def safe_filename(*parts: str, suffix: str) -> str:
    """A file name from ``parts`` with only letters, digits, CJK, ``._-`` (no path, no ``..``, no control
    characters, no quotes), at most 120 characters before the suffix; ``export`` when nothing is left."""
    stem = "_".join(_UNSAFE.sub("-", str(p)).strip("-.") for p in parts if p)[:120] or "export"
    return f"{stem}.{suffix.lstrip('.')}"


def grid_records(q, principal, grid_code: str, layer: str, limit: int = MAX_EXPORT_ROWS) -> pd.DataFrame:
    """The records of ``layer`` in ``grid_code`` within the user's scope, masked for their role
    (:func:`data.access.mask_frame`; empty when not allowed)."""
    if layer not in GRID_LAYERS or not principal.may_read_layer(layer):
        return pd.DataFrame()
    if limit <= 10_000:
        frame = q.store.records(layer, grid_code, scope=principal.scope, page_size=limit, count=False).frame
    else:
        frame = q.store.read(layer, grid_code, scope=principal.scope, geometry=False).head(limit)
    return mask_frame(frame.drop(columns=["geometry"], errors="ignore"), layer, principal)


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
        unmask = ctx.principal.may_unmask(layer)
        if unmask:
            buttons += _unmask_bar(layer)
        table = data_table(
            frame,
            {"type": "grid-records", "layer": layer},
            12,
            row_id=LAYERS[layer].key if unmask else None,
            layer=layer,
        )
        tabs.append(
            dcc.Tab(
                label=f"{title}（{len(frame):,}）",
                children=[
                    html.Div(buttons, className="export-bar"),
                    html.Div(id={"type": "unmask-msg", "layer": layer}, className="unmask-msg"),
                    table,
                ],
            )
        )
    return section(
        "网格台账（个人信息已脱敏）",
        dcc.Tabs(tabs),
        dcc.Download(id="export-download"),
        section_id="grid-records",
    )


def _unmask_bar(layer: str) -> list:
    """Reason input and button to unmask the selected row of ``layer``."""
    return [
        dcc.Input(
            id={"type": "unmask-reason", "layer": layer},
            type="text",
            maxLength=um.MAX_REASON,
            placeholder=f"查看明文的原因（至少{um.MIN_REASON}个字）",
            className="unmask-reason",
            debounce=False,
        ),
        html.Button("查看明文", id={"type": "unmask", "layer": layer}, className="btn btn-unmask"),
    ]


def unmask_row(q, principal, pathname, search, config, layer, row_ids, rows, reason) -> tuple:
    """The answer of the 查看明文 button: (table patch, message, reason box); see :mod:`data.store.unmask`."""
    from dashboard import auth
    from dashboard.app import page_context
    from dashboard.state import parse

    if not row_ids or not isinstance(row_ids, list):
        return no_update, "请先在表格中选中一行 (select one row first)", no_update
    view = page_context(q, principal, parse(pathname, search), config)
    if view.unit.level != "grid":
        return no_update, no_update, no_update
    try:
        found = um.unmask(
            q.store,
            principal,
            layer,
            row_ids[0],
            reason,
            address=auth.client_address(),
            unit=view.unit.code,
            via="dashboard",
        )
    except (um.UnmaskRefused, um.UnmaskLimit, um.ReasonError, NotFoundError) as exc:
        return no_update, str(exc), no_update
    names = LAYERS[layer].zh_names
    shown = "，".join(f"{names.get(k, k)} {v or '—'}" for k, v in found.fields.items())
    message = f"{found.record_id}：{shown}（本次查看已记入审计日志）"
    patch = no_update
    index = rows[0] if isinstance(rows, list) and rows else None
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < MAX_EXPORT_ROWS:
        patch = Patch()
        for col, value in found.fields.items():
            patch[index][col] = value
    return patch, message, ""


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
        frame = frame.rename(columns=LAYERS[layer].zh_names)
        # cells a spreadsheet could run as formulas are neutralised (data.spreadsheet)
        if fmt == "csv":  # a BOM, or Excel on a Chinese desktop reads UTF-8 as GBK
            return dcc.send_string("\ufeff" + csv_text(frame), name, type="text/csv")
        return dcc.send_bytes(xlsx_bytes(frame, GRID_LAYERS[layer]), name)

    @app.callback(
        Output({"type": "grid-records", "layer": MATCH}, "data"),
        Output({"type": "unmask-msg", "layer": MATCH}, "children"),
        Output({"type": "unmask-reason", "layer": MATCH}, "value"),
        Input({"type": "unmask", "layer": MATCH}, "n_clicks"),
        State({"type": "unmask-reason", "layer": MATCH}, "value"),
        State({"type": "grid-records", "layer": MATCH}, "selected_row_ids"),
        State({"type": "grid-records", "layer": MATCH}, "selected_rows"),
        State("url", "pathname"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def _unmask(clicks, reason, row_ids, rows, pathname, search):
        trigger = dash_ctx.triggered_id
        principal = auth.current_principal()
        if not clicks or not trigger or principal is None:
            return no_update, no_update, no_update
        return unmask_row(q, principal, pathname, search, config, trigger.get("layer"), row_ids, rows, reason)


def _address() -> str | None:
    import flask

    return flask.request.remote_addr if flask.has_request_context() else None
