"""Tests of the fifteen push models (geo.models): each must fire on its pattern and stay silent just
under its threshold; the registry, idempotent keys, no look-ahead and no personal data in reasons."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geo.models as gm
from data import settings
from geo.heat import cells_of
from geo.models import MODELS, ModelError

AS_OF = "2026-10-31"
END = pd.Timestamp("2026-10-31 23:59:59")
GRID_A, GRID_B = "320602001001001", "320602001001002"
DIST_A, DIST_B = "32060250010001", "32060250010002"
# Two adjacent 0.01° squares; a point well inside each, and one well outside both.
BOX_A = shapely.box(120.80, 32.00, 120.81, 32.01)
BOX_B = shapely.box(120.81, 32.00, 120.82, 32.01)
IN_A, IN_B, OUTSIDE = (120.805, 32.005), (120.815, 32.005), (120.90, 32.10)
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
PHONE = re.compile(r"(?<![\d])1[3-9]\d{9}(?!\d)")


def day(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


def make(layer: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame of ``layer`` with every column any model reads; missing values are None, points default to
    the middle of grid A (``xy`` overrides)."""
    cols = gm.needed_columns()[layer]
    data = {c: [r.get(c) for r in rows] for c in cols if c != "geometry"}
    frame = pd.DataFrame(data, columns=[c for c in cols if c != "geometry"])
    for c in frame.columns:
        if c.endswith("_at") or c in ("deadline", "permit_expiry"):
            frame[c] = pd.to_datetime(frame[c])
    if "geometry" in cols:
        geoms = [r.get("geom") or shapely.Point(r.get("xy", IN_A)) for r in rows]
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)
    return frame


def layers(**given: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """Every layer the models read: the two grids, the given rows, every other layer empty."""
    out = {name: make(name, given.get(name, [])) for name in gm.needed_columns()}
    out["grids"] = make(
        "grids",
        [
            {"grid_code": GRID_A, "grid_name": "甲网格", "district_code": DIST_A, "geom": BOX_A},
            {"grid_code": GRID_B, "grid_name": "乙网格", "district_code": DIST_B, "geom": BOX_B},
        ],
    )
    return out


def run(model_id: str, data: Mapping[str, pd.DataFrame], **params: Any) -> pd.DataFrame:
    return MODELS[model_id].run(data, AS_OF, params or None)


def only(w: pd.DataFrame) -> pd.Series:
    assert len(w) == 1, w[["evidence_key", "reason"]].to_string()
    return w.iloc[0]


def person(pid: str, **kw: Any) -> dict[str, Any]:
    base = {
        "person_id": pid,
        "resident_kind": "户籍",
        "address_id": "A1",
        "grid_code": GRID_A,
        "registered": True,
        "registered_at": day("2024-01-01"),
    }
    return {**base, **kw}


def address(aid: str = "A1", **kw: Any) -> dict[str, Any]:
    base = {
        "address_id": aid,
        "address": f"甲社区{aid}号",
        "grid_code": GRID_A,
        "households": 2,
        "created_at": day("2025-01-01"),
    }
    return {**base, **kw}


# --------------------------------------------------------------------------------------------------
# registry and settings


def test_registry_has_fifteen_models_three_per_aspect():
    assert len(MODELS) == 15
    assert len({m.model_id for m in MODELS.values()}) == 15
    per_aspect = pd.Series([m.aspect for m in MODELS.values()]).value_counts()
    assert sorted(per_aspect.index) == sorted(gm.ASPECTS)
    assert set(per_aspect) == {3}
    for m in MODELS.values():
        assert "Why it matters" in m.doc, m.model_id
        assert re.search(r"[\u4e00-\u9fff]", m.name), m.model_id
        assert set(m.params()) >= {"deadline_days", "key_period"}


def test_cli_list_one_line_per_model_in_aspect_order():
    lines = gm.cli_list()
    assert len(lines) == 15
    assert [ln.split()[0] for ln in lines[:3]] == ["ADDR-01", "ADDR-02", "ADDR-03"]
    assert lines[-1].split()[:2] == ["HAZ-03", "风险隐患"]


def test_unknown_model_parameter_and_layer_are_reported():
    with pytest.raises(ModelError, match="NOPE-01"):
        gm.get_models(["ADDR-01", "NOPE-01"])
    with pytest.raises(ModelError, match="min_activty"):
        MODELS["ADDR-01"].params({"min_activty": 2})
    data = layers()
    del data["visits"]
    data["addresses"] = data["addresses"].drop(columns=["created_at"])
    with pytest.raises(ModelError, match=r"visits.*missing.*created_at|created_at.*visits"):
        gm.run_models(data, AS_OF, ["ADDR-03"])


def test_thresholds_file_from_settings(tmp_path, monkeypatch):
    text = gm.models_file().read_text(encoding="utf-8").replace("min_activity = 3", "min_activity = 2")
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(settings, "MODELS_FILE", str(tmp_path / "m.toml"))
    assert MODELS["ADDR-01"].params()["min_activity"] == 2
    (tmp_path / "bad.toml").write_text("[defaults]\n[ADDR-01]\n", encoding="utf-8")
    with pytest.raises(ModelError, match=r"no table \[HAZ-03\]"):
        gm.load_thresholds(tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text(text.replace("min_activity = 2", "min_activty = 2"), encoding="utf-8")
    with pytest.raises(
        ModelError, match=r"\[ADDR-01\] unknown key\(s\) min_activty.*lacks key\(s\) min_activity"
    ):
        gm.load_thresholds(tmp_path / "typo.toml")


def test_bare_date_means_end_of_day():
    assert gm.to_as_of("2026-10-31") == END
    assert gm.to_as_of(pd.Timestamp("2026-10-31 08:00")) == pd.Timestamp("2026-10-31 08:00")


# --------------------------------------------------------------------------------------------------
# 标准地址


def _vacant(n_unreg: int, registered: bool = False, incident_day: str = "2026-10-01"):
    pop = [person(f"P{i}", registered=False, registered_at=None) for i in range(1, n_unreg + 1)]
    if registered:
        pop.append(person("P9"))
    return layers(
        addresses=[address("A1")],
        population=pop,
        incidents=[{"incident_id": "J1", "occurred_at": day(incident_day), "address_id": "A1"}],
    )


def test_addr01_fires_on_activity_without_registration():
    w = only(run("ADDR-01", _vacant(2)))
    assert w.evidence_ids == ["J1", "P1", "P2"]
    assert (w.grid_code, w.district_code, w.model_id) == (GRID_A, DIST_A, "ADDR-01")
    assert "A1" in w.reason and "警情 1 起" in w.reason


def test_addr01_silent_below_threshold_or_with_a_registered_resident():
    assert run("ADDR-01", _vacant(1)).empty  # activity 2 < 3
    assert run("ADDR-01", _vacant(2, registered=True)).empty
    assert run("ADDR-01", _vacant(2, incident_day="2026-11-05")).empty  # the incident is after as_of
    assert len(run("ADDR-01", _vacant(1), min_activity=2)) == 1


def _outside(xy, when="2026-10-20", addr_xy=IN_A, addr_grid=GRID_A):
    return layers(
        addresses=[address("A1", xy=addr_xy, grid_code=addr_grid)],
        incidents=[{"incident_id": "J1", "occurred_at": day(when), "category": "交通", "xy": xy}],
    )


def test_addr02_fires_on_incident_and_address_outside_every_grid():
    w = only(run("ADDR-02", _outside(OUTSIDE)))
    assert w.evidence_ids == ["J1"] and w.severity == "中"
    assert w.grid_code == GRID_B  # the nearest grid
    assert "米" in w.reason
    w = run("ADDR-02", _outside((120.805, 31.99), addr_xy=(120.80, 31.98)))
    assert sorted(map(tuple, w.evidence_ids)) == [("A1",), ("J1",)]
    assert set(w.grid_code) == {GRID_A}
    assert w.set_index("evidence_key").severity.filter(like="A1").item() == "高"


def test_addr02_fires_on_address_in_another_grid():
    w = only(run("ADDR-02", _outside(IN_A, addr_xy=IN_B, addr_grid=GRID_A)))
    assert (w.evidence_ids, w.grid_code, w.severity) == (["A1"], GRID_B, "低")


def test_addr02_silent_inside_or_before_lookback():
    assert run("ADDR-02", _outside(IN_A)).empty
    assert run("ADDR-02", _outside(IN_B, addr_xy=IN_B, addr_grid=GRID_B)).empty
    assert run("ADDR-02", _outside(OUTSIDE, when="2026-09-30")).empty  # 31 days before as_of
    assert run("ADDR-02", _outside(OUTSIDE, when="2026-11-01")).empty  # after as_of


def _new_address(created: str, visit: str | None = None):
    visits = [{"visit_id": "V1", "target_kind": "address", "target_id": "A1", "visited_at": day(visit)}]
    return layers(addresses=[address("A1", created_at=day(created))], visits=visits if visit else [])


def test_addr03_fires_on_new_address_not_visited():
    w = only(run("ADDR-03", _new_address("2026-09-30")))  # 31 days old
    assert (w.evidence_ids, w.grid_code, w.evidence_key) == (["A1"], GRID_A, "ADDR-03:A1")
    assert len(run("ADDR-03", _new_address("2026-09-20", visit="2026-11-02"))) == 1  # visit after as_of


def test_addr03_silent_when_young_or_visited():
    assert run("ADDR-03", _new_address("2026-10-02")).empty  # 29 days old
    assert run("ADDR-03", _new_address("2026-09-20", visit="2026-10-05")).empty


# --------------------------------------------------------------------------------------------------
# 人口管理


def _permits(*expiry: str):
    return layers(
        population=[
            person(f"P{i}", resident_kind="流动", permit_expiry=day(e)) for i, e in enumerate(expiry, start=1)
        ]
    )


def test_pop01_fires_on_permits_expiring_or_just_expired():
    w = only(run("POP-01", _permits("2026-11-30", "2026-10-02", "2026-12-15", "2026-09-01")))
    assert w.evidence_ids == ["P1", "P2"]
    assert (w.grid_code, w.district_code) == (GRID_A, DIST_A)
    assert "已过期 1 人" in w.reason and "到期 1 人" in w.reason


def test_pop01_silent_just_outside_the_windows():
    assert run("POP-01", _permits("2026-12-01", "2026-09-30")).empty  # 31 days ahead / 31 days ago


def _rental(n_floating: int):
    addrs = [address(f"A{i}", households=1) for i in range(11)]
    pop = [person(f"F{i}", resident_kind="流动", address_id=f"A{i}") for i in range(1, 11)]
    pop += [person(f"R{k:02d}", resident_kind="流动", address_id="A0") for k in range(n_floating)]
    return layers(addresses=addrs, population=pop)


def test_pop02_fires_on_far_more_floating_residents_than_expected():
    w = only(run("POP-02", _rental(10)))  # expected 1 (the rest of the grid: 1 per household)
    assert w.evidence_ids == [f"R{k:02d}" for k in range(10)]
    assert w.grid_code == GRID_A and "A0" in w.reason
    assert_plain_chinese(w.reason)


def test_pop02_silent_just_under_threshold():
    assert run("POP-02", _rental(9)).empty


def _registration(n_registered: int, late: int = 0):
    pop = [person(f"P{i:02d}") for i in range(n_registered)]
    pop += [person(f"U{i:02d}", registered=False, registered_at=None) for i in range(30 - n_registered)]
    for i in range(late):  # registered only after as_of: unregistered at as_of
        pop[i]["registered_at"] = day("2026-11-02")
    return layers(population=pop)


def test_pop03_fires_below_target_rate():
    w = only(run("POP-03", _registration(26)))  # 86.7 % < 90 %
    assert w.evidence_ids == ["U00", "U01", "U02", "U03"]
    assert w.grid_code == GRID_A and "86.7%" in w.reason
    w = only(run("POP-03", _registration(27, late=1)))  # no look-ahead
    assert w.evidence_ids == ["P00", "U00", "U01", "U02"]


def test_pop03_silent_at_target_rate():
    assert run("POP-03", _registration(27)).empty  # 90.0 %


# --------------------------------------------------------------------------------------------------
# 关注人员


def _poc(**kw: Any) -> dict[str, Any]:
    base = {
        "poc_id": "G1",
        "person_id": "P1",
        "risk_colour": "红",
        "visit_interval_days": 7,
        "grid_code": GRID_B,
        "listed_at": day("2025-01-01"),
    }
    return {**base, **kw}


def _visited(*when: str):
    visits = [
        {"visit_id": f"V{i}", "target_kind": "person_of_concern", "target_id": "G1", "visited_at": day(w)}
        for i, w in enumerate(when, start=1)
    ]
    return layers(persons_of_concern=[_poc()], visits=visits)


def test_poc01_fires_when_visit_overdue_for_colour():
    w = only(run("POC-01", _visited("2026-10-01", "2026-10-24", "2026-11-02")))  # last by as_of: 10-24
    assert w.evidence_ids == ["G1", "V2"]
    assert (w.grid_code, w.district_code) == (GRID_B, DIST_B)
    assert w.evidence_key == "POC-01:G1:2026-10-24" and w.severity == "高"


def test_poc01_silent_within_interval():
    assert run("POC-01", _visited("2026-10-01", "2026-10-25")).empty  # 6.99 days


def _involved(when: str, persons: str = "P9;P1"):
    return layers(
        persons_of_concern=[_poc(risk_colour="黄")],
        incidents=[
            {
                "incident_id": "J1",
                "occurred_at": day(when),
                "category": "求助",
                "person_ids": persons,
                "grid_code": GRID_A,
            }
        ],
    )


def test_poc02_fires_on_new_incident_naming_the_person():
    w = only(run("POC-02", _involved("2026-10-28")))
    assert (w.evidence_ids, w.grid_code, w.severity) == (["G1", "J1"], GRID_B, "中")
    assert w.evidence_key == "POC-02:G1:J1" and f"网格 {GRID_A}" in w.reason


def test_poc02_silent_when_old_future_or_other_person():
    assert run("POC-02", _involved("2026-10-24")).empty  # 7.99 days ago
    assert run("POC-02", _involved("2026-11-02")).empty
    assert run("POC-02", _involved("2026-10-28", persons="P11;P9")).empty


def _poc_disputes(*when: str):
    return layers(
        persons_of_concern=[_poc()],
        disputes=[
            {"dispute_id": f"M{i}", "reported_at": day(w), "dispute_type": "邻里", "person_ids": "P1;P7"}
            for i, w in enumerate(when, start=1)
        ],
    )


def test_poc03_fires_on_two_disputes_in_ninety_days():
    w = only(run("POC-03", _poc_disputes("2026-08-10", "2026-10-15")))
    assert (w.evidence_ids, w.grid_code, w.severity) == (["M1", "M2"], GRID_B, "高")


def test_poc03_silent_with_one_dispute_in_window():
    assert run("POC-03", _poc_disputes("2026-08-01", "2026-10-15")).empty  # 91 days ago
    assert run("POC-03", _poc_disputes("2026-10-15", "2026-11-02")).empty  # second after as_of


# --------------------------------------------------------------------------------------------------
# 矛盾纠纷


def _calls(n_calls: int, valid_last: bool = True):
    inc = [
        {
            "incident_id": f"J{i}",
            "occurred_at": day(f"2026-10-{10 + i}"),
            "category": "纠纷",
            "valid": valid_last or i < n_calls,
            "address_id": "A1",
            "grid_code": GRID_A,
        }
        for i in range(1, n_calls + 1)
    ]
    inc.append(  # another category does not count
        {
            "incident_id": "J9",
            "occurred_at": day("2026-10-20"),
            "category": "治安",
            "valid": True,
            "address_id": "A1",
            "grid_code": GRID_A,
        }
    )
    dis = [{"dispute_id": "M1", "reported_at": day("2026-10-05"), "address_id": "A1", "grid_code": GRID_A}]
    return layers(addresses=[address("A1")], incidents=inc, disputes=dis)


def test_disp01_fires_on_three_dispute_events_at_one_address():
    w = only(run("DISP-01", _calls(2)))
    assert (w.evidence_ids, w.grid_code) == (["J1", "J2", "M1"], GRID_A)
    assert "共 3 起" in w.reason


def test_disp01_silent_just_under_threshold():
    assert run("DISP-01", _calls(1)).empty
    assert run("DISP-01", _calls(2, valid_last=False)).empty  # an invalid call does not count


def _dispute(reported: str, **kw: Any):
    base = {
        "dispute_id": "M1",
        "reported_at": day(reported),
        "dispute_type": "邻里",
        "status": "调解中",
        "level": "一般",
        "violence_history": False,
        "grid_code": GRID_A,
        "resolved_at": None,
    }
    return layers(disputes=[{**base, **kw}])


def test_disp02_fires_on_long_unresolved_or_violent_dispute():
    w = only(run("DISP-02", _dispute("2026-10-16")))  # 15.99 days open
    assert (w.evidence_ids, w.grid_code, w.evidence_key) == (["M1"], GRID_A, "DISP-02:M1:overdue")
    w = only(run("DISP-02", _dispute("2026-10-29", violence_history=True)))
    assert (w.severity, w.evidence_key) == ("高", "DISP-02:M1:violence")
    resolved_later = _dispute("2026-10-01", status="已化解", resolved_at=day("2026-11-03"))
    assert len(run("DISP-02", resolved_later)) == 1  # still open at as_of


def test_disp02_silent_when_young_or_resolved():
    assert run("DISP-02", _dispute("2026-10-17")).empty  # 14.99 days
    assert run("DISP-02", _dispute("2026-09-01", status="已化解", resolved_at=day("2026-10-01"))).empty


def test_disp03_fires_on_missed_mediation_stage():
    w = only(run("DISP-03", _dispute("2026-10-28", status="待调解")))  # 3.99 days > 3
    assert (w.evidence_ids, w.grid_code, w.evidence_key) == (["M1"], GRID_A, "DISP-03:M1:待调解")
    w = only(run("DISP-03", _dispute("2026-10-25", status="调解失败", level="复杂")))
    assert w.severity == "高" and "未上报" in w.reason


def test_disp03_silent_within_stage_deadline():
    assert run("DISP-03", _dispute("2026-10-29", status="待调解")).empty  # 2.99 days
    assert run("DISP-03", _dispute("2026-10-25", status="待调解", level="复杂")).empty  # 6.99 < 7


# --------------------------------------------------------------------------------------------------
# 风险隐患


def _hazard(deadline: str, rectified: str | None = None):
    return layers(
        hazards=[
            {
                "hazard_id": "Y1",
                "hazard_type": "消防",
                "level": "较大",
                "found_at": day("2026-10-01"),
                "deadline": day(deadline),
                "rectified_at": day(rectified) if rectified else None,
                "address_id": "A1",
                "grid_code": GRID_B,
            }
        ]
    )


def test_haz01_fires_on_overdue_rectification():
    w = only(run("HAZ-01", _hazard("2026-10-30")))
    assert (w.evidence_ids, w.grid_code, w.district_code, w.severity) == (["Y1"], GRID_B, DIST_B, "中")
    assert len(run("HAZ-01", _hazard("2026-10-30", rectified="2026-11-02"))) == 1  # rectified later


def test_haz01_silent_on_deadline_day_or_rectified():
    assert run("HAZ-01", _hazard("2026-10-31")).empty
    assert run("HAZ-01", _hazard("2026-10-20", rectified="2026-10-25")).empty


def _cluster(n: int, kinds=("消防",), where=(IN_A,), found: str = "2026-10-01"):
    rows = []
    for i in range(n):
        xy = where[i % len(where)]
        rows.append(
            {
                "hazard_id": f"Y{i}",
                "hazard_type": kinds[i % len(kinds)],
                "found_at": day(found),
                "grid_code": GRID_A if xy[0] < 120.81 else GRID_B,
                "xy": xy,
            }
        )
    return layers(hazards=rows)


def test_haz02_fires_on_same_type_cluster_in_one_grid():
    w = only(run("HAZ-02", _cluster(4)))
    assert (w.evidence_ids, w.grid_code) == (["Y0", "Y1", "Y2", "Y3"], GRID_A)
    assert w.evidence_key.startswith("HAZ-02:grid:")


def test_haz02_fires_on_h3_cluster_across_grid_border():
    near = ((120.8099, 32.0050), (120.8101, 32.0050))
    cells = cells_of(np.array([p[0] for p in near]), np.array([p[1] for p in near]), 8)
    assert cells[0] == cells[1]  # both sides of the border in one H3 cell
    w = only(run("HAZ-02", _cluster(4, where=near)))
    assert w.evidence_ids == ["Y0", "Y1", "Y2", "Y3"] and w.evidence_key.startswith("HAZ-02:h3:")
    assert w.grid_code in (GRID_A, GRID_B)


def test_haz02_silent_just_under_threshold():
    assert run("HAZ-02", _cluster(3)).empty
    assert run("HAZ-02", _cluster(4, kinds=("消防", "燃气"))).empty  # different types
    assert run("HAZ-02", _cluster(4, found="2026-08-31")).empty  # 61 days ago


def _surge(recent: int, grid_b_weekly: int = 3):
    rows, k = [], 0
    for week in range(1, 13):  # baseline: one incident a week in grid A, a busy grid B
        for g, n in ((GRID_A, 1), (GRID_B, grid_b_weekly)):
            for _ in range(n):
                k += 1
                rows.append(
                    {
                        "incident_id": f"J{k:03d}",
                        "occurred_at": END - pd.Timedelta(days=7 * week + 3),
                        "category": "治安",
                        "valid": True,
                        "grid_code": g,
                    }
                )
    for i in range(recent):
        rows.append(
            {
                "incident_id": f"R{i}",
                "occurred_at": END - pd.Timedelta(days=1, hours=i),
                "category": "治安",
                "valid": True,
                "grid_code": GRID_A,
            }
        )
    rows.append(
        {
            "incident_id": "R9",
            "occurred_at": END - pd.Timedelta(hours=2),
            "category": "治安",
            "valid": False,
            "grid_code": GRID_A,
        }
    )  # invalid: not counted
    rows.append(
        {
            "incident_id": "F1",
            "occurred_at": END + pd.Timedelta(days=1),
            "category": "治安",
            "valid": True,
            "grid_code": GRID_A,
        }
    )  # after as_of: not counted
    return layers(incidents=rows)


def test_haz03_fires_on_week_far_above_own_baseline():
    w = only(run("HAZ-03", _surge(6)))
    assert (w.evidence_ids, w.grid_code) == ([f"R{i}" for i in range(6)], GRID_A)
    assert "近 7 天警情 6 起" in w.reason
    assert_plain_chinese(w.reason)


def assert_plain_chinese(reason: str) -> None:
    """An order's reason is read by a grid worker: no statistics jargon (``p=2.7e-08``, ``queen``)."""
    assert not re.search(r"p\s*=|\de-?\d|[Qq]ueen|置换|泊松|FDR", reason), reason
    assert "偶然出现的可能" in reason, reason


def test_haz03_silent_just_under_threshold():
    assert run("HAZ-03", _surge(4)).empty  # below min_count 5
    assert run("HAZ-03", _surge(5), min_count=6).empty


# --------------------------------------------------------------------------------------------------
# the demo city


@pytest.fixture(scope="module")
def demo_layers(tiny_demo):
    return gm.load_layers(tiny_demo, columns=gm.needed_columns())


def test_smoke_on_tiny_demo(tiny_demo, demo_layers, capsys):
    warnings, counts = gm.run_models(demo_layers, AS_OF)
    with capsys.disabled():
        print("\nper-model warnings on the tiny demo (as_of 2026-10-31):", counts)
    assert list(counts) == list(MODELS)
    assert sum(counts.values()) == len(warnings)
    assert list(warnings.columns) == list(gm.WARNING_COLUMNS)
    planted = ["ADDR-01", "ADDR-03", "POP-01", "POP-02", "POP-03", "POC-01", "POC-03"]
    planted += ["DISP-01", "DISP-02", "DISP-03", "HAZ-01", "HAZ-02"]
    assert all(counts[m] > 0 for m in planted), counts
    grids = demo_layers["grids"].set_index("grid_code")["district_code"]
    assert warnings.grid_code.isin(grids.index).all()
    assert (warnings.district_code == warnings.grid_code.map(grids)).all()
    assert set(warnings.severity) <= {"低", "中", "高"}
    assert (warnings.deadline > END).all() and (warnings.as_of == END).all()
    assert warnings.evidence_ids.map(len).min() >= 1
    assert not warnings.duplicated(["model_id", "evidence_key"]).any()


def test_reruns_give_identical_keys(demo_layers):
    first, _ = gm.run_models(demo_layers, AS_OF)
    again, _ = gm.run_models(demo_layers, AS_OF)
    assert len(first) > 100
    assert first.evidence_key.tolist() == again.evidence_key.tolist()
    pd.testing.assert_frame_equal(first, again)


def test_no_look_ahead_on_demo(demo_layers):
    """Cutting every record dated after as_of away changes nothing."""
    as_of = "2026-06-30"
    cut = dict(demo_layers)
    for name, col in gm.TIME_COLUMNS.items():
        if name in cut:
            cut[name] = cut[name][pd.to_datetime(cut[name][col]) <= gm.to_as_of(as_of)]
    full, counts = gm.run_models(demo_layers, as_of)
    trimmed, _ = gm.run_models(cut, as_of)
    assert sum(counts.values()) > 100
    pd.testing.assert_frame_equal(full, trimmed)


def test_reasons_hold_no_id_number_or_phone(tiny_demo, demo_layers):
    warnings, _ = gm.run_models(demo_layers, AS_OF)
    text = "\n".join(warnings.reason)
    assert not ID_NUMBER.search(text)
    assert not PHONE.search(text)
    pocs = pd.read_parquet(tiny_demo / "persons_of_concern.parquet", columns=["name", "id_number"])
    poc_warnings = warnings[warnings.model_id.str.startswith("POC")]
    assert len(poc_warnings) > 0
    assert not any(n in r for n in pocs.name for r in poc_warnings.reason)


def test_load_layers_reads_only_asked_columns_and_rows(tiny_demo):
    got = gm.load_layers(
        tiny_demo,
        columns={"incidents": ("incident_id", "occurred_at"), "population": ("person_id", "grid_code")},
        since={"incidents": "2026-10-01"},
        until="2026-10-15",
    )
    inc = got["incidents"]
    assert list(inc.columns) == ["incident_id", "occurred_at"]
    assert inc.occurred_at.min() >= pd.Timestamp("2026-10-01")
    assert inc.occurred_at.max() <= pd.Timestamp("2026-10-15 23:59:59")
    assert isinstance(got["population"]["grid_code"].dtype, pd.CategoricalDtype)
    with pytest.raises(ModelError, match=r"nope\.parquet"):
        gm.load_layers(tiny_demo, names=["nope"])


def test_cli_run_lines(tiny_demo):
    lines = gm.cli_run(tiny_demo, "2026-10-31", ["haz-01", "DISP-02"])
    assert lines[0].startswith("as_of 2026-10-31 23:59:59")
    assert [ln.split()[0] for ln in lines[1:3]] == ["HAZ-01", "DISP-02"]
    assert lines[-1].startswith("total")


def test_replay_reads_once_and_gives_each_moment_what_run_dir_gives(tiny_demo, monkeypatch):
    """The weekly replay of ``onemap up``: one read, then each moment sees exactly its own rows (nothing
    after it, the history before it); moments in any order, a repeated one twice."""
    moments = ["2026-10-31", "2026-09-12 10:00", "2026-10-03 08:30:15", "2026-09-12 10:00"]
    reads = []
    real = gm.load_layers
    monkeypatch.setattr(gm, "load_layers", lambda *a, **k: reads.append(k) or real(*a, **k))
    got = list(gm.replay(tiny_demo, moments))
    assert len(reads) == 1
    monkeypatch.setattr(gm, "load_layers", real)
    assert [w for w, _, _ in got] == [gm.to_as_of(m) for m in moments]
    for (_when, warnings, counts), moment in zip(got, moments, strict=True):
        want, want_counts = gm.run_dir(tiny_demo, moment)
        assert counts == want_counts, moment
        pd.testing.assert_frame_equal(warnings, want, obj=moment)
    assert len(got[0][1]) != len(got[1][1])  # different moments, different warnings
    assert list(gm.replay(tiny_demo, [])) == []


def test_default_as_of_never_lies_after_now(tiny_demo, tmp_path, monkeypatch):
    import datetime as dt

    from data import clock

    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 10, 31, 9, 15, 2))
    assert gm.default_as_of(tiny_demo) == pd.Timestamp("2026-10-31 09:15:02")  # the data's last day is today
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 12, 4, 9, 15, 2))
    assert gm.default_as_of(tiny_demo) == END  # a recorded history: its end
    assert gm.default_as_of(tmp_path) == pd.Timestamp("2026-12-04 09:15:02")  # live data: now
