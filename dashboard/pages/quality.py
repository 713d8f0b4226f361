"""质态监测 quality monitoring: the KPIs with targets, year-over-year by category, "三提升四下降",
rankings of 派出所 / 警格 / communities, and the monthly trend."""

from __future__ import annotations

import math

import pandas as pd
from dash import html

from dashboard.components import graph, section
from dashboard.queries import LEVEL_NAMES
from geo.kpi import KPIS, kpi_for_unit, kpi_table, rank, three_up_four_down
from layers.figures import (
    kpi_bar_figure,
    monthly_figure,
    ranking_figure,
    three_up_four_down_figure,
    yoy_figure,
)

TITLE = "质态监测"
#: KPIs ranked on this screen.
RANKED = ("closure_rate", "registration_rate", "poc_visit_coverage")


def _yoy(q, ctx) -> pd.DataFrame:
    now = q.totals(ctx.code, ctx.start, ctx.end, ctx.categories, ctx.scope).set_index("category")["n"]
    then = q.totals(ctx.code, ctx.cmp_start, ctx.cmp_end, ctx.categories, ctx.scope).set_index("category")[
        "n"
    ]
    frame = pd.DataFrame({"current": now, "previous": then}).fillna(0).astype("int64")
    frame.loc["合计"] = frame.sum()
    prev = frame["previous"].where(frame["previous"] > 0)
    frame["change_pct"] = (frame["current"] / prev - 1) * 100
    return frame


def layout(ctx) -> html.Div:
    q, scope = ctx.q, ctx.scope
    base = q.kpi_base()
    unit_level = ctx.unit.level
    values = kpi_for_unit(base, ctx.unit.code, ctx.start, ctx.end, unit_level)
    shown = {}
    targets = {}
    for kid in (
        "registration_rate",
        "closure_rate",
        "visit_coverage",
        "poc_visit_coverage",
        "rectification_rate",
        "single_binding",
    ):
        if (
            kid in KPIS
            and kid in values
            and values[kid] is not None
            and not (isinstance(values[kid], float) and math.isnan(values[kid]))
        ):
            shown[KPIS[kid].zh] = float(values[kid])
            targets[KPIS[kid].zh] = KPIS[kid].target
    parts = []
    if shown:
        parts.append(
            section(
                "质态指标（目标线为考核目标）",
                graph(
                    kpi_bar_figure(shown, targets, theme=ctx.theme, font_scale=ctx.font_scale),
                    "kpi-bars",
                    320,
                ),
                section_id="kpis",
            )
        )
    cmp_label = "同比" if ctx.state.compare == "yoy" else "环比"
    yoy = _yoy(q, ctx)
    parts.append(
        section(
            f"警情{cmp_label}（{ctx.start:%Y-%m-%d}~{ctx.end:%Y-%m-%d} vs "
            f"{ctx.cmp_start:%Y-%m-%d}~{ctx.cmp_end:%Y-%m-%d}）",
            graph(
                yoy_figure(yoy, title=f"警情{cmp_label}", theme=ctx.theme, font_scale=ctx.font_scale),
                "yoy",
                340,
            ),
            section_id="yoy-section",
        )
    )
    tutd = three_up_four_down(base, ctx.unit.code, ctx.start, ctx.end, unit_level)
    parts.append(
        section(
            "三提升四下降",
            graph(three_up_four_down_figure(tutd, theme=ctx.theme, font_scale=ctx.font_scale), "tutd", 320),
        )
    )
    child = ctx.child_level
    if child and child != "grid":
        codes = q.child_counts(ctx.code, ctx.state.hierarchy, None, None, (), scope)["code"].tolist()
        table = kpi_table(base, child, ctx.start, ctx.end, units=codes)
        names = q.unit_names()
        figs = []
        for kid in RANKED:
            if kid not in table.columns:
                continue
            ranked = rank(table, kid)
            figs.append(
                graph(
                    ranking_figure(
                        ranked,
                        title=f"{LEVEL_NAMES.get(child, child)} {KPIS[kid].zh} 排名",
                        names=names,
                        unit=KPIS[kid].unit,
                        target=KPIS[kid].target,
                        higher_is_better=KPIS[kid].higher_is_better,
                        theme=ctx.theme,
                        font_scale=ctx.font_scale,
                    ),
                    f"rank-{kid}",
                    360,
                )
            )
        parts.append(section("排名（互评）", html.Div(figs, className="three-col"), section_id="rankings"))
    monthly = q.series(ctx.code, None, ctx.end, ctx.categories, scope, by=("month", "category"))
    if len(monthly):
        table = monthly.pivot_table(index="month", columns="category", values="n", aggfunc="sum").fillna(0)
        table.index = pd.to_datetime(table.index)
        parts.append(
            section(
                "月度趋势",
                graph(monthly_figure(table, theme=ctx.theme, font_scale=ctx.font_scale), "monthly", 340),
            )
        )
    return html.Div(parts)
