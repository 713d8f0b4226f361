"""基本概况 overview: the organisation of the unit (grids, 警格, stations, staff, people, cameras) by child
unit, with the organisation map."""

from __future__ import annotations

from dash import html

from dashboard.components import card, cards, drill_table, section
from dashboard.live import block as live_block
from dashboard.mapview import view_map
from dashboard.queries import LEVEL_NAMES

TITLE = "基本概况"


def layout(ctx) -> html.Div:
    q, scope = ctx.q, ctx.scope
    total = q.base_figures(ctx.code, None, scope)
    t = total.iloc[0] if len(total) else {}
    level = ctx.child_level or "grid"
    by_child = q.base_figures(ctx.code, level if level != "grid" else "grid", scope)
    top = cards(
        [
            card(
                "网格总数",
                t.get("grids", 0),
                f"综合 {int(t.get('comprehensive_grids', 0)):,} · 专属 {int(t.get('dedicated_grids', 0)):,}",
                card_id="card-grids",
            ),
            card("警格", t.get("districts", 0), card_id="card-districts"),
            card("派出所", t.get("stations", 0), card_id="card-stations"),
            card("社区民警", t.get("officers", 0), card_id="card-officers"),
            card(
                "网格员",
                int(t.get("full_time_workers", 0)) + int(t.get("part_time_workers", 0)),
                f"专职 {int(t.get('full_time_workers', 0)):,}",
                card_id="card-workers",
            ),
            card("户数", t.get("households", 0), card_id="card-households"),
            card(
                "人口",
                t.get("population", 0),
                f"流动 {int(t.get('floating', 0)):,}",
                card_id="card-population",
            ),
            card("关注人员", t.get("persons_of_concern", 0), card_id="card-concern"),
            card(
                "视频监控",
                t.get("cameras", 0),
                f"在线 {int(t.get('cameras_online', 0)):,}",
                card_id="card-cameras",
            ),
        ]
    )
    key = (
        level
        if level in by_child.columns
        else ("grid" if "grid" in by_child.columns else by_child.columns[0])
    )
    frame = by_child.rename(columns={key: "code"})
    if "unit_name" not in frame:
        frame["unit_name"] = frame["code"].map(q.unit_names())
    frame["workers"] = frame.get("full_time_workers", 0) + frame.get("part_time_workers", 0)
    cols = {
        "unit_name": LEVEL_NAMES.get(level, "单元"),
        "grids": "网格",
        "districts": "警格",
        "stations": "派出所",
        "officers": "民警",
        "workers": "网格员",
        "households": "户数",
        "population": "人口",
        "persons_of_concern": "关注人员",
        "cameras": "监控",
    }
    cols = {k: v for k, v in cols.items() if k in frame.columns}
    hrefs = [ctx.href(unit=c) for c in frame["code"]]
    table = drill_table(frame, cols, hrefs, table_id="overview-table", link_col="unit_name")
    from dashboard.records import grid_section

    records = grid_section(ctx)
    return html.Div(
        [
            live_block("overview-cards", top),
            html.Div(
                [
                    section(
                        f"组织架构图（按{LEVEL_NAMES.get(level, level)}）",
                        view_map(ctx, "520px", ("grids",)),
                        section_id="overview-map",
                        live=True,
                    ),
                    section(
                        f"分{LEVEL_NAMES.get(level, level)}统计",
                        live_block("overview-table-wrap", table),
                        section_id="overview-units",
                        live=True,
                    ),
                ],
                className="two-col",
            ),
            live_block("overview-records", records),
        ]
    )
