"""数据赋能 data empowerment: the fifteen push models, their hits over time, and the data sources'
freshness and quality (rows, load time, registration rate)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from dash import html

from dashboard.components import card, cards, drill_table, graph, section
from data.schema import LAYERS
from geo.models import list_models
from layers.figures import template

TITLE = "数据赋能"


def layer_zh(name: str) -> str:
    """The Chinese name of a stored layer (``incidents`` → 警情), else the name itself."""
    known = LAYERS.get(name)
    return known.zh if known is not None else name


def layout(ctx) -> html.Div:
    q, scope = ctx.q, ctx.scope
    models = list_models()
    hits = q.layer_counts("warnings", ctx.code, ctx.start, ctx.end, "model_id", scope)
    monthly = q.layer_counts("warnings", ctx.code, None, ctx.end, ["model_id", "month"], scope)
    table = models.merge(hits.rename(columns={"n": "hits"}), on="model_id", how="left")
    table["hits"] = table["hits"].fillna(0).astype("int64")
    table["layers"] = [
        "、".join(layer_zh(n.strip()) for n in str(v).split(",") if n.strip()) for v in table["layers"]
    ]
    total = int(table["hits"].sum())
    fig = go.Figure()
    fig.update_layout(
        template=template(ctx.theme, ctx.font_scale),
        title_text="各模型预警数（按月）",
        barmode="stack",
        height=360,
    )
    for aspect, part in models.groupby("aspect", sort=False):
        ids = set(part.model_id)
        sub = monthly[monthly["model_id"].isin(ids)]
        if len(sub):
            agg = sub.groupby("month", as_index=False)["n"].sum()
            # months as labels: a date axis puts its own ticks (in English, at month ends) under the bars
            fig.add_bar(x=pd.to_datetime(agg["month"]).dt.strftime("%Y年%m月"), y=agg["n"], name=aspect)
    fig.update_xaxes(type="category", categoryorder="category ascending")
    status = q.layer_status()
    base = q.base_figures(ctx.code, None, scope)
    b = base.iloc[0] if len(base) else {}
    pop = int(b.get("population", 0))
    reg = int(b.get("registered", 0))
    ver = int(b.get("verified", 0))
    fresh = status.rename(
        columns={"layer": "图层", "rows": "记录数", "loaded_at": "更新时间", "seconds": "导入耗时(秒)"}
    )
    if "source" in fresh:
        fresh = fresh.drop(columns=["source"])
    fresh["图层"] = [layer_zh(n) for n in fresh["图层"]]
    fresh["导入耗时(秒)"] = fresh["导入耗时(秒)"].astype(float).round(2)
    return html.Div(
        [
            cards(
                [
                    card("推送模型", len(models), "五大领域 × 3", card_id="card-models"),
                    card("本期预警", total, f"{ctx.start:%m-%d} 至 {ctx.end:%m-%d}", card_id="card-hits"),
                    card(
                        "登记率",
                        f"{reg / pop * 100:.1f}%" if pop else "—",
                        f"已登记 {reg:,} / {pop:,}",
                        card_id="card-registered",
                    ),
                    card("核验率", f"{ver / pop * 100:.1f}%" if pop else "—", card_id="card-verified"),
                ]
            ),
            section(
                "数据赋能模型",
                drill_table(
                    table,
                    {
                        "model_id": "编号",
                        "aspect": "领域",
                        "name": "模型",
                        "layers": "数据来源",
                        "hits": "本期预警",
                    },
                    table_id="models-table",
                ),
                section_id="models",
            ),
            section("预警趋势", graph(fig, "models-trend"), section_id="models-trend-section"),
            section(
                "数据源鲜活度与质量",
                drill_table(fresh, {c: c for c in fresh.columns}, table_id="sources-table"),
                section_id="sources",
            ),
        ]
    )
