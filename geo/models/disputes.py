"""矛盾纠纷 dispute models: repeated dispute calls at one address, unresolved or violent disputes (民转刑
risk), mediation overdue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from geo.models.base import (
    as_bool,
    collect,
    empty_warnings,
    finish,
    fmt_date,
    id_sample,
    period_of,
    raise_one,
    register,
    upto,
)

ASPECT = "矛盾纠纷"


@register(
    "DISP-01",
    "同址纠纷警情反复预警",
    ASPECT,
    reads={
        "incidents": ("incident_id", "occurred_at", "category", "valid", "address_id", "grid_code"),
        "disputes": ("dispute_id", "reported_at", "address_id", "grid_code"),
        "addresses": ("address_id", "address", "grid_code", "created_at"),
    },
    history={"incidents": lambda p: p["window_days"], "disputes": lambda p: p["window_days"]},
)
def repeat_address(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Address with at least ``min_events`` dispute calls or disputes within ``window_days`` (反复纠纷).

    Counts, per standard address, the police incidents of ``incident_categories`` (纠纷 by default;
    only valid ones with ``valid_only``) and the registered disputes (矛盾纠纷) of the ``window_days`` up
    to ``as_of``; ``sources`` chooses which of the two to count.

    Why it matters: the same household calling the police again and again about a quarrel is the pattern
    that precedes "民转刑" (a civil dispute turning criminal); the grid head should mediate on the spot
    and the officer should note the parties.

    Severity 中, 高 from ``high_count`` events. Key: address + period.
    """
    parts = []
    if "incidents" in params["sources"]:
        inc = upto(layers["incidents"], "occurred_at", as_of, params["window_days"])
        keep = inc["category"].isin(params["incident_categories"]).to_numpy()
        if params["valid_only"]:
            keep = keep & as_bool(inc["valid"]).to_numpy()
        inc = inc[keep]
        parts.append(
            pd.DataFrame(
                {
                    "address_id": inc["address_id"].to_numpy(),
                    "rid": inc["incident_id"].to_numpy(),
                    "is_call": True,
                    "rec_grid": inc["grid_code"].to_numpy(),
                }
            )
        )
    if "disputes" in params["sources"]:
        dis = upto(layers["disputes"], "reported_at", as_of, params["window_days"])
        parts.append(
            pd.DataFrame(
                {
                    "address_id": dis["address_id"].to_numpy(),
                    "rid": dis["dispute_id"].to_numpy(),
                    "is_call": False,
                    "rec_grid": dis["grid_code"].to_numpy(),
                }
            )
        )
    if not parts:
        return empty_warnings()
    ev = pd.concat(parts, ignore_index=True)
    ev = ev[ev["address_id"].notna().to_numpy()]
    per = ev.groupby("address_id").agg(
        n=("rid", "size"), calls=("is_call", "sum"), rec_grid=("rec_grid", "first")
    )
    per = per[per.n >= params["min_events"]]
    if per.empty:
        return empty_warnings()
    addr = (
        upto(layers["addresses"], "created_at", as_of).drop_duplicates("address_id").set_index("address_id")
    )
    addr = addr.reindex(per.index)
    grid = addr["grid_code"].astype("str").fillna(per.rec_grid.astype("str"))
    evidence = collect(ev[ev.address_id.isin(per.index).to_numpy()], "address_id", "rid").reindex(per.index)
    ids = per.index.to_series().astype("str")
    reason = (
        "标准地址 "
        + ids
        + "（"
        + addr["address"].astype("str").fillna("")
        + "）近 "
        + str(params["window_days"])
        + " 天纠纷警情 "
        + per.calls.astype(int).astype(str)
        + " 起、登记矛盾纠纷 "
        + (per.n - per.calls).astype(int).astype(str)
        + " 起，共 "
        + per.n.astype(str)
        + " 起（阈值 "
        + str(params["min_events"])
        + "，"
        + id_sample(evidence)
        + "），纠纷反复，请网格长上门调解、民警关注当事人"
    )
    return finish(
        "DISP-01",
        layers,
        as_of,
        params,
        grid_code=grid,
        severity=np.where(per.n >= params["high_count"], "高", "中"),
        reason=reason,
        evidence_ids=evidence,
        evidence_key="DISP-01:" + ids + ":" + period_of(as_of, params),
    )


def _open_disputes(disputes: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Disputes reported by ``as_of`` and not resolved by then, with their age in days (``age``).

    Resolved at ``as_of`` means a ``resolved_at`` on or before it, or status 已化解 without a date; a
    dispute resolved after ``as_of`` was still open then (no look-ahead).
    """
    d = upto(disputes, "reported_at", as_of)
    resolved_at = pd.to_datetime(d["resolved_at"])
    resolved = (resolved_at <= as_of) | ((d["status"] == "已化解") & resolved_at.isna())
    d = d[~resolved.to_numpy()]
    return d.assign(age=((as_of - pd.to_datetime(d["reported_at"])).dt.total_seconds() / 86400.0).to_numpy())


@register(
    "DISP-02",
    "纠纷久拖未决及民转刑风险预警",
    ASPECT,
    reads={
        "disputes": (
            "dispute_id",
            "reported_at",
            "dispute_type",
            "status",
            "level",
            "violence_history",
            "grid_code",
            "resolved_at",
        )
    },
)
def unresolved_risk(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Dispute unresolved for more than ``unresolved_days``, or unresolved with violence history (民转刑风险).

    A dispute is open at ``as_of`` unless resolved (化解) by then. It fires when open longer than
    ``unresolved_days`` or, at any age, when a party has a history of violence (有暴力倾向).

    Why it matters: "民转刑" (a civil dispute turning into a criminal case) happens in disputes that drag
    on or involve violent parties; these are the ones the officer must track until resolved.

    Severity: violence history 高; level 复杂 or open for ``escalate_factor`` × ``unresolved_days`` 中;
    else 低. Key: dispute + trigger (``violence`` or ``overdue``).
    """
    d = _open_disputes(layers["disputes"], as_of)
    violent = as_bool(d["violence_history"]).to_numpy()
    overdue = (d["age"] > params["unresolved_days"]).to_numpy()
    fire = violent | overdue
    if not fire.any():
        return empty_warnings()
    hit = d[fire]
    violent, overdue = violent[fire], overdue[fire]
    age = np.floor(hit["age"].to_numpy()).astype(int)
    ids = hit["dispute_id"].astype("str").to_numpy()
    severity = np.where(
        violent,
        "高",
        np.where(
            (hit["level"] == "复杂").to_numpy()
            | (age >= params["escalate_factor"] * params["unresolved_days"]),
            "中",
            "低",
        ),
    )
    trigger = np.where(violent, "violence", "overdue")
    reason = (
        "矛盾纠纷 "
        + ids
        + "（"
        + hit["dispute_type"].astype("str").to_numpy()
        + "，"
        + hit["level"].astype("str").to_numpy()
        + "，"
        + hit["status"].astype("str").to_numpy()
        + "）登记于 "
        + fmt_date(hit["reported_at"]).to_numpy()
        + "，已 "
        + age.astype(str)
        + " 天未化解"
        + np.where(violent, "，当事人有暴力倾向", "")
        + "，存在民转刑风险，请民警与网格长跟踪化解"
    )
    return finish(
        "DISP-02",
        layers,
        as_of,
        params,
        grid_code=hit["grid_code"],
        severity=severity,
        reason=reason,
        evidence_ids=[[i] for i in ids],
        evidence_key="DISP-02:" + pd.Series(ids) + ":" + trigger,
    )


@register(
    "DISP-03",
    "纠纷调解超期预警",
    ASPECT,
    reads={
        "disputes": (
            "dispute_id",
            "reported_at",
            "dispute_type",
            "status",
            "level",
            "grid_code",
            "resolved_at",
        )
    },
)
def mediation_overdue(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Dispute whose mediation (调解) missed its stage deadline for its level.

    Stage deadlines in days from the report, by level (一般 general / 复杂 complex): mediation not
    started (status 待调解) beyond ``start_days``; mediation under way (调解中) beyond ``finish_days``;
    failed mediation (调解失败) not escalated to joint mediation (已上报, "1+1+N") beyond
    ``escalate_days``.

    Why it matters: a general dispute is for the grid head to mediate at once and a complex one for joint
    mediation; a missed stage means the dispute has fallen between the grid and the police, which is
    what the closed loop (闭环) is meant to prevent.

    Severity: 调解失败 高, level 复杂 中, else 低; one step higher once twice past the deadline.
    Key: dispute + status (a new stage, a new warning). The status is the layer's current one: for an
    ``as_of`` in the past it may already reflect later mediation steps (the layer keeps no history).
    """
    d = _open_disputes(layers["disputes"], as_of)
    level = d["level"].astype("str")
    status = d["status"].astype("str")
    limit = pd.Series(np.nan, index=d.index)
    limit[status == "待调解"] = level[status == "待调解"].map(params["start_days"])
    limit[status == "调解中"] = level[status == "调解中"].map(params["finish_days"])
    limit[status == "调解失败"] = float(params["escalate_days"])
    fire = (d["age"] > limit).to_numpy()
    if not fire.any():
        return empty_warnings()
    hit = d[fire]
    lim = limit[fire].to_numpy()
    age = np.floor(hit["age"].to_numpy()).astype(int)
    st = status[fire].to_numpy()
    ids = hit["dispute_id"].astype("str").to_numpy()
    base = np.where(st == "调解失败", "高", np.where(level[fire].to_numpy() == "复杂", "中", "低"))
    severity = raise_one(base, hit["age"].to_numpy() >= 2 * lim)
    what = np.select(
        [st == "待调解", st == "调解中"],
        ["尚未启动调解", "调解未完成"],
        "调解失败后未上报联合调解",
    )
    reason = (
        "矛盾纠纷 "
        + ids
        + "（"
        + hit["dispute_type"].astype("str").to_numpy()
        + "，"
        + level[fire].to_numpy()
        + "）登记于 "
        + fmt_date(hit["reported_at"]).to_numpy()
        + "（已 "
        + age.astype(str)
        + " 天），"
        + what
        + "，超过时限 "
        + lim.astype(int).astype(str)
        + " 天，请督促调解"
    )
    return finish(
        "DISP-03",
        layers,
        as_of,
        params,
        grid_code=hit["grid_code"],
        severity=severity,
        reason=reason,
        evidence_ids=[[i] for i in ids],
        evidence_key="DISP-03:" + pd.Series(ids) + ":" + pd.Series(st),
    )
