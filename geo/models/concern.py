"""关注人员 persons-of-concern models: visits overdue for the risk colour (分色管理), a person of concern in a
new incident or dispute, repeated disputes (risk rising).

Persons appear in reasons by ``poc_id`` only: their category, name, ID number and phone stay in the
sensitive layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from geo.models.base import (
    as_bool,
    collect,
    empty_warnings,
    explode_ids,
    finish,
    fmt_date,
    id_sample,
    period_of,
    raise_one,
    register,
    upto,
)

ASPECT = "关注人员"


@register(
    "POC-01",
    "关注人员走访超期预警",
    ASPECT,
    reads={
        "persons_of_concern": ("poc_id", "risk_colour", "visit_interval_days", "grid_code", "listed_at"),
        "visits": ("visit_id", "target_kind", "target_id", "visited_at"),
    },
)
def visit_overdue(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Person of concern not visited within the interval of their risk colour (走访超期).

    The interval is the person's ``visit_interval_days`` (分色管理: red 7 days, orange 15, yellow 30,
    green 90 by default; ``interval_days`` fills a missing value from the colour). The clock runs from
    the last visit (走访, ``target_kind = person_of_concern``) up to ``as_of``, or from the listing date
    when the person was never visited.

    Why it matters: regular visits are how community police and grid workers notice a person of concern
    deteriorating (a relapse, a new grievance) before it becomes an incident; an overdue red-listed
    person is a gap in control.

    Severity by colour (``severity_by_colour``), one step higher once the gap reaches
    ``escalate_factor`` × the interval. Key: person + date of the last visit (a new gap, a new warning).
    """
    poc = upto(layers["persons_of_concern"], "listed_at", as_of)
    vis = upto(layers["visits"], "visited_at", as_of)
    vis = vis[(vis["target_kind"] == "person_of_concern").to_numpy()]
    last = (
        vis.sort_values(["visited_at", "visit_id"])
        .drop_duplicates("target_id", keep="last")
        .set_index("target_id")[["visit_id", "visited_at"]]
    )
    poc_id = poc["poc_id"].astype("str")
    last_at = pd.to_datetime(poc_id.map(last["visited_at"]))
    ref = last_at.fillna(pd.to_datetime(poc["listed_at"]))
    colour = poc["risk_colour"].astype("str")
    interval = pd.to_numeric(poc["visit_interval_days"], errors="coerce")
    interval = interval.fillna(colour.map(params["interval_days"])).astype(float)
    days = (as_of - ref).dt.total_seconds() / 86400.0
    fire = (days > interval).to_numpy()
    if not fire.any():
        return empty_warnings()
    hit = poc[fire]
    ids = poc_id[fire]
    last_id = ids.map(last["visit_id"])
    never = last_id.isna()
    d = np.floor(days[fire]).astype(int)
    iv = interval[fire].astype(int)
    since = np.where(
        never,
        "列管（" + fmt_date(hit["listed_at"]) + "）以来未走访",
        "上次走访 " + fmt_date(last_at[fire]) + "（" + last_id.astype("str") + "）",
    )
    reason = (
        "关注人员 "
        + ids
        + "（"
        + colour[fire]
        + "色管控，走访周期 "
        + iv.astype(str)
        + " 天）"
        + since
        + "，已 "
        + d.astype(str)
        + " 天未走访，超期 "
        + (d - iv).astype(str)
        + " 天，请责任民警与网格员尽快走访"
    )
    severity = colour[fire].map(params["severity_by_colour"]).fillna("中").to_numpy()
    severity = raise_one(severity, (days[fire] >= params["escalate_factor"] * interval[fire]).to_numpy())
    evidence = [[p] if pd.isna(v) else [p, v] for p, v in zip(ids, last_id, strict=True)]
    return finish(
        "POC-01",
        layers,
        as_of,
        params,
        grid_code=hit["grid_code"],
        severity=severity,
        reason=reason,
        evidence_ids=evidence,
        evidence_key="POC-01:" + ids + ":" + fmt_date(ref[fire]),
    )


def _events_of_pocs(
    layers: Mapping[str, pd.DataFrame],
    as_of: pd.Timestamp,
    days: float,
    incident_categories: Sequence[str] | None,
    with_disputes: bool,
) -> pd.DataFrame:
    """Incidents and disputes of the last ``days`` days involving a listed person of concern.

    ``incident_categories`` keeps incidents of these categories (None or empty: all categories);
    ``with_disputes`` adds the disputes.
    Returns one row per (person, record): ``poc_id, risk_colour, poc_grid, rid, kind, when, what,
    violent, rec_grid``.
    """
    parts = []
    inc = upto(layers["incidents"], "occurred_at", as_of, days)
    inc = inc[inc["person_ids"].notna().to_numpy()]
    if incident_categories is not None and len(incident_categories):
        inc = inc[inc["category"].isin(list(incident_categories)).to_numpy()]
    parts.append(
        pd.DataFrame(
            {
                "rid": inc["incident_id"].to_numpy(),
                "kind": "警情",
                "when": pd.to_datetime(inc["occurred_at"]).to_numpy(),
                "what": inc["category"].to_numpy(),
                "violent": False,
                "rec_grid": inc["grid_code"].to_numpy(),
                "person_ids": inc["person_ids"].to_numpy(),
            }
        )
    )
    if with_disputes:
        dis = upto(layers["disputes"], "reported_at", as_of, days)
        dis = dis[dis["person_ids"].notna().to_numpy()]
        violent = as_bool(dis["violence_history"]).to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "rid": dis["dispute_id"].to_numpy(),
                    "kind": "矛盾纠纷",
                    "when": pd.to_datetime(dis["reported_at"]).to_numpy(),
                    "what": dis["dispute_type"].to_numpy(),
                    "violent": violent,
                    "rec_grid": dis["grid_code"].to_numpy(),
                    "person_ids": dis["person_ids"].to_numpy(),
                }
            )
        )
    records = explode_ids(pd.concat(parts, ignore_index=True))
    poc = upto(layers["persons_of_concern"], "listed_at", as_of)
    poc = poc[poc["person_id"].notna().to_numpy()][["poc_id", "person_id", "risk_colour", "grid_code"]]
    poc = poc.rename(columns={"grid_code": "poc_grid"}).astype({"person_id": "str"})
    out = records.astype({"id": "str"}).merge(poc, left_on="id", right_on="person_id")
    out["poc_grid"] = out["poc_grid"].fillna(out["rec_grid"])
    return out.drop_duplicates(["poc_id", "rid"])


#: Layers and columns of the two models that follow persons of concern into incidents and disputes.
_INVOLVEMENT_READS = {
    "persons_of_concern": ("poc_id", "person_id", "risk_colour", "grid_code", "listed_at"),
    "incidents": ("incident_id", "occurred_at", "category", "person_ids", "grid_code"),
    "disputes": ("dispute_id", "reported_at", "dispute_type", "person_ids", "violence_history", "grid_code"),
}


@register(
    "POC-02",
    "关注人员涉警涉纠纷预警",
    ASPECT,
    reads=_INVOLVEMENT_READS,
    history={"incidents": lambda p: p["new_within_days"], "disputes": lambda p: p["new_within_days"]},
)
def new_involvement(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Person of concern named in a police incident or a dispute of the last ``new_within_days`` days.

    Matches the ``';'``-joined ``person_ids`` of incidents (警情, optionally only ``incident_categories``)
    and disputes (矛盾纠纷) against the persons of concern listed by ``as_of``; one warning per person and
    record. The warning goes to the person's own grid (where the responsible officer and grid worker
    are), whatever grid the record happened in.

    Why it matters: a person of concern turning up in a new incident or dispute is the classic early sign
    of escalation (a released prisoner in a fight, a petitioner in a land dispute); the responsible
    officer must know at once and reassess the person's risk colour.

    Severity 高 for a colour of ``high_colours``, an incident category of ``high_categories`` or a
    dispute with violence history, else 中. Key: person + record.
    """
    ev = _events_of_pocs(
        layers, as_of, params["new_within_days"], params["incident_categories"], params["include_disputes"]
    )
    if ev.empty:
        return empty_warnings()
    high = (
        ev["risk_colour"].isin(params["high_colours"])
        | ((ev["kind"] == "警情") & ev["what"].isin(params["high_categories"]))
        | ev["violent"].astype(bool)
    )
    where = np.where(
        ev["rec_grid"].astype("str").fillna("") == ev["poc_grid"].astype("str").fillna(""),
        "本网格",
        "网格 " + ev["rec_grid"].astype("str").fillna("未知"),
    )
    reason = (
        "关注人员 "
        + ev["poc_id"].astype("str")
        + "（"
        + ev["risk_colour"].astype("str")
        + "色管控）于 "
        + pd.Series(fmt_date(ev["when"]).to_numpy(), index=ev.index)
        + " 涉及"
        + ev["kind"]
        + " "
        + ev["rid"].astype("str")
        + "（"
        + ev["what"].astype("str")
        + np.where(ev["violent"].astype(bool), "，有暴力倾向", "")
        + "，"
        + where
        + "），请责任民警及时掌握情况并重新评估风险等级"
    )
    return finish(
        "POC-02",
        layers,
        as_of,
        params,
        grid_code=ev["poc_grid"],
        severity=np.where(high, "高", "中"),
        reason=reason,
        evidence_ids=[[p, r] for p, r in zip(ev["poc_id"], ev["rid"], strict=True)],
        evidence_key="POC-02:" + ev["poc_id"].astype("str") + ":" + ev["rid"].astype("str"),
    )


@register(
    "POC-03",
    "关注人员纠纷频发预警",
    ASPECT,
    reads=_INVOLVEMENT_READS,
    history={"incidents": lambda p: p["window_days"], "disputes": lambda p: p["window_days"]},
)
def repeated_disputes(
    layers: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, params: dict[str, Any]
) -> pd.DataFrame:
    """Person of concern in at least ``min_disputes`` disputes within ``window_days`` (risk rising, 风险升高).

    Counts the disputes (矛盾纠纷) naming the person and, with ``count_dispute_incidents``, the dispute
    calls (警情 of category 纠纷) naming them, over the ``window_days`` up to ``as_of``.

    Why it matters: repeated conflict is the strongest predictor of a person of concern's risk rising
    (矛盾升级, 个人极端); the officer should raise the risk colour, step up visits and bring the
    dispute to joint mediation (1+1+N).

    Severity 中, 高 from ``high_count`` events or for a colour of ``high_colours``. Key: person + period.
    """
    ev = _events_of_pocs(layers, as_of, params["window_days"], ["纠纷"], True)
    if not params["count_dispute_incidents"]:
        ev = ev[(ev["kind"] == "矛盾纠纷").to_numpy()]
    if ev.empty:
        return empty_warnings()
    per = (
        ev.assign(is_dispute=(ev["kind"] == "矛盾纠纷").to_numpy())
        .groupby("poc_id")
        .agg(
            n=("rid", "size"),
            n_dispute=("is_dispute", "sum"),
            colour=("risk_colour", "first"),
            grid=("poc_grid", "first"),
        )
    )
    per = per[per.n >= params["min_disputes"]]
    if per.empty:
        return empty_warnings()
    evidence = collect(ev[ev.poc_id.isin(per.index).to_numpy()], "poc_id", "rid").reindex(per.index)
    ids = per.index.to_series().astype("str")
    reason = (
        "关注人员 "
        + ids
        + "（"
        + per.colour.astype("str")
        + "色管控）近 "
        + str(params["window_days"])
        + " 天涉及矛盾纠纷 "
        + per.n_dispute.astype(str)
        + " 起、纠纷警情 "
        + (per.n - per.n_dispute).astype(str)
        + " 起（"
        + id_sample(evidence)
        + "），风险上升，建议提升管控等级并纳入联合调解"
    )
    severity = np.where((per.n >= params["high_count"]) | per.colour.isin(params["high_colours"]), "高", "中")
    return finish(
        "POC-03",
        layers,
        as_of,
        params,
        grid_code=per.grid,
        severity=severity,
        reason=reason,
        evidence_ids=evidence,
        evidence_key="POC-03:" + ids + ":" + period_of(as_of, params),
    )
