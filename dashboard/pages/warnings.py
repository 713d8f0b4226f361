"""预警推送 warning push: warnings and work orders by state, closure rate and timeliness by unit, and a
list with drill to the record and its trace (全过程留痕)."""

from __future__ import annotations

import pandas as pd
from dash import Input, Output, html

from dashboard.components import card, cards, data_table, drill_table, graph, section
from dashboard.queries import LEVEL_NAMES
from data.access import mask_frame, mask_text
from data.store.workflow import IMPORT_ACTOR, SYSTEM_ACTOR
from layers.figures import status_donut

TITLE = "预警推送"
ORDER_COLUMNS = ["order_id", "kind", "state", "severity", "grid_code", "created_at", "deadline", "summary"]


def layout(ctx) -> html.Div:
    q, scope = ctx.q, ctx.scope
    by_state = q.order_stats(ctx.code, ctx.start, ctx.end, "state", scope)
    total = q.order_stats(ctx.code, ctx.start, ctx.end, None, scope)
    t = total.iloc[0] if len(total) else {}
    level = ctx.child_level or "grid"
    by_unit = q.order_stats(ctx.code, ctx.start, ctx.end, level, scope)
    warn = q.layer_counts("warnings", ctx.code, ctx.start, ctx.end, None, scope)
    n_warn = int(warn["n"].iloc[0]) if len(warn) else 0
    counts = dict(zip(by_state["state"], by_state["orders"], strict=True)) if len(by_state) else {}
    donut = status_donut(pd.Series(counts, dtype="int64"), theme=ctx.theme, font_scale=ctx.font_scale)
    by_unit = by_unit.rename(columns={level: "code"})
    if "unit_name" not in by_unit:
        by_unit["unit_name"] = by_unit["code"].map(q.unit_names())
    by_unit["closure"] = by_unit["closure_rate"] * 100
    by_unit["on_time"] = by_unit["on_time_rate"] * 100
    by_unit = by_unit.sort_values("closure", ascending=False)
    units = drill_table(
        by_unit,
        {
            "unit_name": LEVEL_NAMES.get(level, "单元"),
            "orders": "工单",
            "open": "未办结",
            "overdue": "超期",
            "escalated": "升级",
            "closure": "办结率%",
            "on_time": "按期办结率%",
        },
        [ctx.href(unit=c) for c in by_unit["code"]],
        table_id="orders-by-unit",
        link_col="unit_name",
    )
    parts = [
        cards(
            [
                card("预警", n_warn, card_id="card-warnings"),
                card("工单", t.get("orders", 0), card_id="card-orders"),
                card("未办结", t.get("open", 0), card_id="card-open"),
                card("超期", t.get("overdue", 0), card_id="card-overdue"),
                card("办结率", f"{float(t.get('closure_rate', 0)) * 100:.1f}%", card_id="card-closure"),
                card("按期办结率", f"{float(t.get('on_time_rate', 0)) * 100:.1f}%", card_id="card-ontime"),
            ]
        ),
        html.Div(
            [
                section("工单状态", graph(donut, "orders-donut", 340)),
                section(f"分{LEVEL_NAMES.get(level, level)}闭环情况", units),
            ],
            className="two-col",
        ),
    ]
    if ctx.principal.can("records"):
        page = q.store.work_orders(ctx.code, start=ctx.start, end=ctx.end, scope=scope, page_size=200)
        frame = page.frame.reindex(columns=ORDER_COLUMNS)
        frame = mask_frame(frame, "work_orders", ctx.principal)
        parts.append(
            section(
                f"工单列表（共 {page.total:,} 条，显示最新 {len(frame)} 条；点选查看流转记录）",
                data_table(frame, "orders-table", layer="work_orders"),
                html.Div(id="order-trace", className="trace"),
                section_id="orders-list",
            )
        )
    return html.Div(parts)


def register(app, q, config) -> None:
    from dashboard import auth

    @app.callback(
        Output("order-trace", "children"),
        Input("orders-table", "active_cell"),
        Input("orders-table", "derived_viewport_data"),
        prevent_initial_call=True,
    )
    def _trace(cell, rows):
        principal = auth.current_principal()
        if not cell or not rows or principal is None or not principal.can("records"):
            return ""
        row = cell.get("row", -1)
        if not 0 <= row < len(rows):
            return ""
        order_id = str(rows[row].get("order_id", ""))
        # the order must lie in the user's scope (the id came from the browser)
        grid = rows[row].get("grid_code")
        if not grid or grid not in set(q.store.grids_of(None, scope=principal.scope)):
            return html.Div("无权查看该工单", className="error")
        try:
            order = q.store.work_order(order_id)
        except LookupError:
            return html.Div("工单不存在", className="error")
        if order.get("grid_code") != grid:
            return html.Div("无权查看该工单", className="error")
        events = q.store.work_order_events(order_id)
        events["actor"] = events["actor"].replace({SYSTEM_ACTOR: "系统", IMPORT_ACTOR: "数据导入"})
        return html.Div(
            [
                html.H4(f"工单 {order_id} 流转记录（{order['state']}，版本 {order['version']}）"),
                drill_table(
                    mask_frame(events.assign(at=events["at"].astype(str)), principal=principal),
                    {
                        "at": "时间",
                        "from_state": "原状态",
                        "to_state": "新状态",
                        "actor": "操作人",
                        "note": "说明",
                    },
                    table_id="trace-table",
                ),
                html.P(f"摘要：{mask_text(order.get('summary'), principal) or ''}"),
            ]
        )
