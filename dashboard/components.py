"""Small building blocks shared by the screens: KPI cards, ranking tables with drill links, graphs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import dash_table, dcc, html

from dashboard.live import block as live_block
from data.schema import LAYERS


def fmt_int(value: Any) -> str:
    """``12,345`` (or ``—`` for missing)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—"


def change_pct(now: float, before: float) -> float | None:
    """Percentage change from ``before`` to ``now`` (None when ``before`` is 0)."""
    return None if not before else (now - before) / before * 100.0


def change_text(now: float, before: float, lower_is_better: bool = True) -> html.Span:
    """``↓12.5%`` coloured good (a fall of incidents) or bad."""
    pct = change_pct(now, before)
    if pct is None:
        return html.Span("—", className="chg")
    good = (pct < 0) == lower_is_better if pct else True
    arrow = "↑" if pct > 0 else ("↓" if pct < 0 else "→")
    return html.Span(f"{arrow}{abs(pct):.1f}%", className="chg " + ("good" if good else "bad"))


def card(label: str, value: Any, sub: Any = None, *, card_id: str | None = None) -> html.Div:
    """A KPI card (指标卡): big number, label, optional line below."""
    kids = [
        html.Div(value if isinstance(value, str) else fmt_int(value), className="card-value"),
        html.Div(label, className="card-label"),
    ]
    if sub is not None:
        kids.append(html.Div(sub, className="card-sub"))
    props = {"id": card_id} if card_id else {}
    return html.Div(kids, className="card", **props)


def cards(items: Sequence[html.Div]) -> html.Div:
    return html.Div(list(items), className="cards")


def graph(fig: go.Figure, graph_id: str, height: int | None = None) -> dcc.Graph:
    """A plotly figure with the mode bar off and no external requests (no MathJax, no plotly CDN)."""
    if height:
        fig.update_layout(height=height)
    return dcc.Graph(
        id=graph_id,
        figure=fig,
        config={"displaylogo": False, "displayModeBar": False, "responsive": True},
        className="graph",
    )


def drill_table(
    frame: pd.DataFrame,
    columns: dict[str, str],
    hrefs: Sequence[str] | None = None,
    table_id: str = "table",
    link_col: str | None = None,
) -> html.Table:
    """A plain HTML table; ``link_col`` cells link to ``hrefs`` (drill-down from a ranking row)."""
    head = html.Thead(html.Tr([html.Th(v) for v in columns.values()]))
    rows = []
    for i, rec in enumerate(frame.to_dict("records")):
        cells = []
        for col in columns:
            v = rec.get(col)
            missing = v is None or (isinstance(v, float | str) and pd.isna(v)) or v is pd.NA
            text = (
                "—"
                if missing
                else fmt_int(v)
                if isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer()
                else (f"{v:.1f}" if isinstance(v, float) else str(v))
            )
            if col == link_col and hrefs is not None:
                cells.append(html.Td(dcc.Link(text, href=hrefs[i], className="drill")))
            else:
                cells.append(html.Td(text))
        rows.append(html.Tr(cells))
    return html.Table([head, html.Tbody(rows)], className="tbl", id=table_id)


#: How a yes/no value reads in a table.
YES_NO = {True: "是", False: "否"}


def _holds_bools(values: pd.Series) -> bool:
    """True for an object column whose values are all booleans or missing (a nullable flag)."""
    if values.dtype != object:
        return False
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, bool | np.bool_) for v in present)


def data_table(
    frame: pd.DataFrame,
    table_id: str | dict,
    page_size: int = 15,
    *,
    row_id: str | None = None,
    layer: str | None = None,
) -> dash_table.DataTable:
    """A sortable, paged Dash DataTable of (already masked) records.

    ``layer``: the schema layer of the records; its columns are headed by their Chinese names (the
    column ids, which callbacks read, stay English).

    ``row_id``: the column whose value identifies each row (DataTable's row ``id``, hidden): rows can then
    be selected one at a time (``selected_row_ids``).
    """
    shown = frame.copy()
    for col in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[col]):
            shown[col] = shown[col].dt.strftime("%Y-%m-%d %H:%M")
        elif pd.api.types.is_bool_dtype(shown[col]) or _holds_bools(shown[col]):
            shown[col] = shown[col].map(YES_NO.get)  # 是/否, never true/false (the importer reads them back)
    shown = shown.astype(object).where(shown.notna(), None)
    zh = LAYERS[layer].zh_names if layer in LAYERS else {}
    columns = [{"name": zh.get(c, c), "id": c} for c in shown.columns]
    data = shown.to_dict("records")
    select: dict = {}
    if row_id is not None and row_id in shown.columns and "id" not in shown.columns:
        for row in data:
            row["id"] = row[row_id]
        select = {"row_selectable": "single", "selected_rows": [], "selected_row_ids": []}
    return dash_table.DataTable(
        id=table_id,
        data=data,
        columns=columns,
        page_size=page_size,
        sort_action="native",
        style_table={"overflowX": "auto"},
        style_cell={"fontFamily": "inherit", "fontSize": 13, "textAlign": "left", "padding": "4px 8px"},
        **select,
    )


def section(title: str, *children: Any, section_id: str | None = None, live: bool = False) -> html.Section:
    """A titled section; ``live`` makes the title follow the view in place (``{section_id}-title``).

    A figure placed directly in the section loses its own title: the section's heading names it (the
    same figures keep their titles in the briefing sheet).
    """
    for child in children:
        if isinstance(child, dcc.Graph) and isinstance(child.figure, go.Figure):
            child.figure.update_layout(title_text=None)
    props = {"id": section_id} if section_id else {}
    head = live_block(f"{section_id}-title", title, tag=html.H3) if live and section_id else html.H3(title)
    return html.Section([head, *children], className="section", **props)
