"""KPIs of 质态监测 (geo.kpi): hand-computed fixtures, windows, ranking, and a roll-up smoke test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from geo import kpi
from geo.units import LEVEL_COLUMN
from geo.units import Unit as GeoUnit

# --------------------------------------------------------------------------------------------------
# A hand-built city 3206 (code 320600): 2 counties x 2 grids.
#
#   county 320612, township 320612001: G1 (village V1 320612001001), G2 (village V2 320612001002)
#   county 320613, township 320613001: G3 and G4, both in village V3 320613001001 (G4 dedicated 专属)
#   警格  D1 (station S1) = {G1, G2};  D2 (station S2) = {G3};  D3 (station S2) = {G4};
#         D4 (station S2) has no grid.  G4 is also bound to D2 in grid_district (bound twice).
#   officers (社区民警): D1, D2, D4; D3 has only an auxiliary (辅警).
# The period is March 2025: [2025-03-01, 2025-03-31]; a year earlier: March 2024.

G1, G2, G3, G4 = "320612001001001", "320612001002001", "320613001001001", "320613001001002"
V1, V3 = "320612001001", "320613001001"
D1, D2, D3, D4 = "32061250010001", "32061350010001", "32061350010002", "32061350010003"
S1, S2 = "320612500100", "320613500100"
START, END = "2025-03-01", "2025-03-31"


def _ts(values):
    return pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601")


def _layers() -> dict[str, pd.DataFrame]:
    grids = pd.DataFrame(
        {
            "grid_code": [G1, G2, G3, G4],
            "grid_type": ["综合", "综合", "综合", "专属"],
            "district_code": [D1, D1, D2, D3],
            "households": [15, 8, 24, 0],
        }
    )
    districts = pd.DataFrame(
        {
            "district_code": [D1, D2, D3, D4],
            "station_code": [S1, S2, S2, S2],
            "bureau_code": ["320612000000", "320613000000", "320613000000", "320613000000"],
        }
    )
    grid_district = pd.DataFrame({"grid_code": [G1, G2, G3, G4, G4], "district_code": [D1, D1, D2, D3, D2]})
    staff = pd.DataFrame(
        {
            "staff_id": ["W1", "W2", "W3", "H2", "J1", "J2", "J4", "A3"],
            "role": [
                "专职网格员",
                "专职网格员",
                "专职网格员",
                "网格长",
                "社区民警",
                "社区民警",
                "社区民警",
                "辅警",
            ],
            "unit_code": [G1, G2, G3, G2, D1, D2, D4, D3],
            "active": [True, False, True, True, True, True, True, True],
        }
    )
    # population: G1 4 persons (3 registered, 2 of them verified), G2 2 (2, 2), G3 5 (4, 3), G4 none;
    # the last row lies in an unknown grid and counts nowhere.
    population = pd.DataFrame(
        {
            "grid_code": [G1] * 4 + [G2] * 2 + [G3] * 5 + ["999999999999999"],
            "registered": [True, True, True, False, True, True, True, True, True, True, False, True],
            "verified": [True, True, False, False, True, True, True, True, True, False, False, True],
        }
    )
    addresses = pd.DataFrame(
        {
            "address_id": ["A1", "A2", "A3", "A4", "A5", "A6"],
            "grid_code": [G1, G1, G2, G3, G3, G4],
            "households": [10, 5, 8, 20, 4, 0],
            "created_at": _ts(
                ["2020-01-01", "2020-01-01", "2020-01-01", "2020-01-01", "2025-04-15", "2020-01-01"]
            ),
        }
    )
    pocs = pd.DataFrame(
        {
            "poc_id": ["P1", "P2", "P3", "P4", "P5"],
            "person_id": ["PP1", "PP2", "PP3", "PP4", "PP5"],
            "category": ["社区矫正", "重点信访", "吸毒人员", "刑满释放", "六失人员"],
            "visit_interval_days": [7, 15, 30, 7, 30],
            "grid_code": [G1, G1, G3, G3, G3],
            "listed_at": _ts(["2024-01-01", "2024-01-01", "2025-03-20", "2025-04-05", "2023-01-01"]),
        }
    )
    visit_rows = [
        # (target_kind, target_id, visited_at, grid_code of the visit record)
        ("address", "A1", "2025-03-05 10:00", G1),
        ("address", "A1", "2025-03-20 10:00", G2),  # recorded under G2, but A1 lies in G1
        ("address", "A2", "2025-02-27 10:00", G1),  # before the period
        ("address", "A4", "2025-03-31 23:59", G3),  # last minute of the period
        ("address", "A5", "2025-04-20 10:00", G3),  # after the period
        ("address", "A3", "2025-04-02 10:00", G2),  # after the period
        ("person_of_concern", "P1", "2025-02-26 09:00", G1),
        ("person_of_concern", "P1", "2025-03-05 18:00", G1),
        ("person_of_concern", "P1", "2025-03-12 08:00", G1),
        ("person_of_concern", "P1", "2025-03-19 08:00", G1),
        ("person_of_concern", "P1", "2025-03-26 08:00", G1),
        ("person_of_concern", "P2", "2025-02-20 08:00", G1),
        ("person_of_concern", "P2", "2025-03-10 08:00", G1),
        ("person_of_concern", "P5", "2025-01-15 08:00", G3),
        ("person_of_concern", "P5", "2025-02-10 08:00", G3),
    ]
    visits = pd.DataFrame(visit_rows, columns=["target_kind", "target_id", "visited_at", "grid_code"])
    visits["visited_at"] = pd.to_datetime(visits["visited_at"], format="ISO8601")
    dispute_rows = [
        ("2025-03-02 09:00", "已化解", G1),
        ("2025-03-03 09:00", "调解失败", G1),
        ("2025-03-04 09:00", "调解中", G1),  # not concluded
        ("2025-02-28 23:59", "已化解", G1),  # before the period
        ("2025-03-31 23:59:59", "已上报", G2),  # last second of the period
        ("2025-03-15 09:00", "已化解", G3),
        ("2025-03-16 09:00", "已化解", G3),
        ("2024-03-10 09:00", "已化解", G1),  # March 2024: 1 resolved of 3 concluded
        ("2024-03-11 09:00", "调解失败", G1),
        ("2024-03-12 09:00", "调解失败", G3),
    ]
    disputes = pd.DataFrame(dispute_rows, columns=["reported_at", "status", "grid_code"])
    disputes["reported_at"] = pd.to_datetime(disputes["reported_at"], format="ISO8601")
    hazards = pd.DataFrame(
        {
            "found_by": ["W1", "J1", "W3", "X999", "H2"],
            "found_at": _ts(["2025-03-03", "2025-02-20", "2025-03-10", "2025-03-31", "2025-02-01"]),
            "deadline": _ts(["2025-03-18", "2025-03-07", "2025-04-09", "2025-03-31", "2025-03-01"]),
            "rectified_at": _ts(["2025-03-18", "2025-03-09", None, None, "2025-02-25"]),
            "grid_code": [G1, G1, G3, G3, G2],
        }
    )
    incident_rows = [
        # March 2025
        ("2025-03-05 10:00", "刑事", True, None, G1),
        ("2025-03-06 10:00", "刑事", True, None, G1),
        ("2025-03-10 10:00", "纠纷", True, None, G3),
        ("2025-03-11 10:00", "火警", False, None, G1),  # invalid: never counted
        ("2025-03-12 10:00", "交通", True, None, G2),
        ("2025-03-13 10:00", "刑事", True, None, None),  # outside every grid
        ("2025-03-08 10:00", "治安", True, "PX;PP2", G1),  # involves the 重点信访 person P2
        ("2025-04-01 00:00", "纠纷", True, None, G3),  # April
        # March 2024
        ("2024-03-10 10:00", "刑事", True, None, G1),
        ("2024-03-02 10:00", "纠纷", True, None, G3),
        ("2024-03-03 10:00", "纠纷", True, None, G3),
        ("2024-03-04 10:00", "火警", True, None, G2),
        ("2024-03-31 23:30", "交通", True, None, G2),
        ("2024-04-01 00:10", "交通", True, None, G2),  # April 2024
        ("2024-02-29 12:00", "交通", True, None, G4),  # leap day, February 2024
    ]
    incidents = pd.DataFrame(
        incident_rows, columns=["occurred_at", "category", "valid", "person_ids", "grid_code"]
    )
    incidents["occurred_at"] = pd.to_datetime(incidents["occurred_at"], format="ISO8601")
    work_orders = pd.DataFrame(
        {
            "grid_code": [G1, G1, G1, G3, G3],
            "created_at": _ts(
                [
                    "2025-03-10 08:00",
                    "2025-03-30 23:00",
                    "2025-03-31 09:00",
                    "2025-02-28 20:00",
                    "2025-03-14 12:00",
                ]
            ),
            "deadline": _ts(
                [
                    "2025-03-10 12:00",
                    "2025-03-31 23:00",
                    "2025-04-01 00:30",
                    "2025-03-01 00:00",
                    "2025-03-15 00:00",
                ]
            ),
            "closed_at": _ts(
                ["2025-03-10 11:00", "2025-04-01 01:00", "2025-03-31 10:00", None, "2025-03-15 00:00"]
            ),
        }
    )
    return {
        "grids": grids,
        "districts": districts,
        "grid_district": grid_district,
        "staff": staff,
        "population": population,
        "addresses": addresses,
        "persons_of_concern": pocs,
        "visits": visits,
        "disputes": disputes,
        "hazards": hazards,
        "incidents": incidents,
        "work_orders": work_orders,
    }


@pytest.fixture(scope="module")
def layers():
    return _layers()


@pytest.fixture(scope="module")
def base(layers):
    return kpi.per_grid_base(layers)


def _check(got: dict, expected: dict) -> None:
    for key, want in expected.items():
        value = got[key]
        if want is None:
            assert math.isnan(value), (key, value)
        else:
            assert value == pytest.approx(want, abs=1e-9), (key, value, want)


# --------------------------------------------------------------------------------------------------
# hand-computed KPIs


def test_grid_g1(base):
    got = kpi.kpi_for_unit(base, G1, START, END)
    assert got["level"] == "grid"
    _check(
        got,
        {
            "registration_rate": 3 / 4 * 100,  # 3 registered of 4 persons
            "accuracy": 2 / 3 * 100,  # 2 verified of 3 registered
            # due in March: W1 (closed 11:00 before its 12:00 deadline) and W2 (closed 04-01 01:00,
            # 2 h late); W3 is due on 04-01
            "closure_rate": 1 / 2 * 100,
            # closed in March: W1 after 3 h, W3 after 1 h (W2 closed in April) -> median 2 h
            "response_hours": 2.0,
            "response_hours_den": 2,
            # A1 (10 households) visited twice (once recorded under G2), A2 (5) visited in February
            "visit_coverage": 10 / 15 * 100,
            # P1 visited every 7 days (gaps 7, 7, 7, 7, then 5 to 03-31) -> covered;
            # P2: 02-20 -> 03-10 is 18 days > 15 -> overdue
            "poc_visit_coverage": 1 / 2 * 100,
            # 已化解 1 of concluded 2 (调解中 not concluded; the 02-28 one is before the period)
            "mediation_success": 1 / 2 * 100,
            "grid_disputes": 3,  # 已化解, 调解失败, 调解中 reported in March
            "hazard_discovery": 1 / 1 * 100,  # H1 found 03-03 by W1 (grid staff)
            "hazards_per_1k_households": 1 / 15 * 1000,
            # deadline in March: H1 rectified on its deadline, H2 two days late
            "rectification_rate": 1 / 2 * 100,
            # valid incidents: 2 刑事 + 1 治安 in March 2025 against 1 刑事 in March 2024
            "incidents_yoy": (3 / 1 - 1) * 100,
            "criminal_yoy": (2 / 1 - 1) * 100,
            "dispute_calls_yoy": None,  # 0 / 0
            "fire_yoy": None,  # the March 2025 火警 is invalid; 0 / 0
            "petition_yoy": None,  # 1 / 0
            "petition_yoy_num": 1,
            "grid_hazards": 1,
            "full_time_staffing": 100.0,  # W1 active
            "officer_staffing": 100.0,  # G1's 警格 D1 has J1
            "single_binding": 100.0,
        },
    )


def test_village_v3_sums_before_dividing(base):
    got = kpi.kpi_for_unit(base, V3, START, END)
    assert got["level"] == "village"
    _check(
        got,
        {
            "registration_rate": 4 / 5 * 100,  # G3 4/5 + G4 0/0
            "accuracy": 3 / 4 * 100,
            "closure_rate": 1 / 2 * 100,  # W4 due 03-01 00:00 and never closed; W5 closed at its deadline
            "response_hours": 12.0,  # W5: 03-14 12:00 -> 03-15 00:00
            # A4 (20) visited at 23:59 on 03-31; A5 (4) created 04-15, after the period: not counted
            "visit_coverage": 20 / 20 * 100,
            # P3 listed 03-20, never visited, due 04-19 -> covered; P5 last visited 02-10, 49 days
            # before 03-31 > 30 -> overdue; P4 listed 04-05 -> not counted
            "poc_visit_coverage": 1 / 2 * 100,
            "poc_visit_coverage_den": 2,
            "mediation_success": 2 / 2 * 100,
            "hazard_discovery": 1 / 2 * 100,  # H3 by W3; H4 by X999, not a known grid worker
            "hazards_per_1k_households": 2 / 20 * 1000,
            "rectification_rate": 0 / 1 * 100,  # H4 due 03-31, open
            "incidents_yoy": (1 / 2 - 1) * 100,  # 纠纷 1 vs 2 (the 2024-02-29 G4 交通 is in February)
            "dispute_calls_yoy": (1 / 2 - 1) * 100,
            "full_time_staffing": 1 / 1 * 100,  # G4 is dedicated: not in the denominator
            "officer_staffing": 1 / 2 * 100,  # 警格 of its grids: D2 (officer), D3 (none)
            "single_binding": 1 / 2 * 100,  # G4 bound to D3 and D2
        },
    )


def test_police_district_d1(base):
    got = kpi.kpi_for_unit(base, D1, START, END)
    assert got["level"] == "district"
    _check(
        got,
        {
            # G1 3/4 and G2 2/2: 5/6 = 83.3 %, not the mean of 75 % and 100 % (87.5 %)
            "registration_rate": 5 / 6 * 100,
            "accuracy": 4 / 5 * 100,
            "visit_coverage": 10 / 23 * 100,  # G1 10/15 + G2 0/8
            "mediation_success": 1 / 3 * 100,  # G1 1/2 + G2 0/1 (已上报 at 23:59:59 on 03-31)
            "rectification_rate": 2 / 3 * 100,  # G1 1/2 + G2 H5 due 03-01, rectified 02-25
            "incidents_yoy": (4 / 3 - 1) * 100,  # G1 3 vs 1, G2 1 vs 2
            "fire_yoy": (0 / 1 - 1) * 100,  # G2 火警 2024-03-04
            "full_time_staffing": 1 / 2 * 100,  # G2's worker is inactive
            "officer_staffing": 100.0,
            "single_binding": 100.0,
        },
    )


def test_station_s2_counts_districts_without_grids(base):
    got = kpi.kpi_for_unit(base, S2, START, END)
    assert got["level"] == "station"
    # grids G3 and G4 as for V3, but the station's 警格 are D2, D3 and D4 (D4 has no grid)
    _check(got, {"registration_rate": 80.0, "closure_rate": 50.0, "officer_staffing": 2 / 3 * 100})
    assert got["officer_staffing_den"] == 3
    lone = kpi.kpi_for_unit(base, D4, START, END)  # a 警格 without grids: staffing only
    assert lone["level"] == "district" and lone["officer_staffing"] == 100.0
    assert math.isnan(lone["registration_rate"])


def test_city(base, layers):
    got = kpi.kpi_for_unit(base, "320600", START, END)
    assert got["level"] == "city"
    expected = {
        "registration_rate": 9 / 11 * 100,  # 3+2+4 of 4+2+5 (the unknown grid's person excluded)
        "accuracy": 7 / 9 * 100,
        "closure_rate": 2 / 4 * 100,
        "response_hours": 3.0,  # median of 3 h, 1 h, 12 h
        "visit_coverage": 30 / 43 * 100,
        "poc_visit_coverage": 2 / 4 * 100,
        "mediation_success": 3 / 5 * 100,
        "hazard_discovery": 2 / 3 * 100,
        "hazards_per_1k_households": 3 / 43 * 1000,
        "rectification_rate": 2 / 4 * 100,
        "incidents_yoy": (5 / 5 - 1) * 100,  # the out-of-grid 刑事 is in no unit
        "criminal_yoy": (2 / 1 - 1) * 100,
        "dispute_calls_yoy": (1 / 2 - 1) * 100,
        "fire_yoy": (0 / 1 - 1) * 100,
        "petition_yoy": None,
        "grid_hazards": 2,
        "grid_disputes": 6,
        "full_time_staffing": 2 / 3 * 100,
        "officer_staffing": 3 / 4 * 100,  # D1, D2, D4 of 4 警格
        "single_binding": 3 / 4 * 100,
    }
    _check(got, expected)
    # object-dtype codes (no Arrow strings) take the pandas look-up path and agree
    plain = {
        name: frame.astype({c: object for c in frame.columns if c.endswith("_code")})
        for name, frame in layers.items()
    }
    _check(kpi.kpi_for_unit(plain, "320600", START, END), expected)


def test_zero_denominators_are_nan_and_shown_as_dash(base):
    table = kpi.kpi_table(base, "grid", START, END)
    assert math.isnan(table.loc[G4, "registration_rate"])  # no population
    assert math.isnan(table.loc[G2, "closure_rate"])  # no work order due
    assert math.isnan(table.loc[G4, "visit_coverage"])  # 0 households
    assert math.isnan(table.loc[G2, "response_hours"])  # nothing closed
    assert table.loc[G4, "registration_rate_den"] == 0
    assert kpi.format_value("registration_rate", table.loc[G4, "registration_rate"]) == "—"
    assert kpi.format_value("registration_rate", table.loc[G1, "registration_rate"]) == "75.0%"
    assert kpi.format_value("incidents_yoy", -9.76) == "-9.8%"
    # a period with no events at all
    empty = kpi.kpi_for_unit(base, "320600", "2010-01-01", "2010-01-31")
    assert math.isnan(empty["closure_rate"]) and math.isnan(empty["mediation_success"])
    assert empty["registration_rate"] == pytest.approx(9 / 11 * 100)  # not date-bound


def test_tables_of_each_level_agree_with_single_units(base):
    for level, code in (("grid", G1), ("village", V3), ("district", D1), ("station", S2), ("city", "320600")):
        row = kpi.kpi_table(base, level, START, END).loc[code]
        one = kpi.kpi_for_unit(base, code, START, END, level=level)
        for col, value in row.items():
            assert (math.isnan(value) and math.isnan(one[col])) or value == pytest.approx(one[col]), (
                level,
                col,
            )
    unit = GeoUnit(S2, "S2", "station", "police")
    assert kpi.kpi_for_unit(base, unit, START, END)["officer_staffing_den"] == 3


def test_units_argument_orders_and_fills(base):
    table = kpi.kpi_table(base, "county", START, END, units=["320613", "320612", "320699"])
    assert list(table.index) == ["320613", "320612", "320699"]
    assert table.loc["320612", "registration_rate"] == pytest.approx(5 / 6 * 100)
    assert table.loc["320699"].isna().all()
    assert table.attrs == {"level": "county", "start": START, "end": END}


def test_bad_arguments(base):
    with pytest.raises(ValueError, match="before it starts"):
        kpi.kpi_table(base, "city", END, START)
    with pytest.raises(ValueError, match="unknown level"):
        kpi.kpi_table(base, "province", START, END)
    with pytest.raises(KeyError, match="unknown unit"):
        kpi.kpi_for_unit(base, "123", START, END)
    with pytest.raises(KeyError, match="grids"):
        kpi.per_grid_base({})


def test_missing_layers_give_nan(layers):
    only = {"grids": layers["grids"], "population": layers["population"]}
    got = kpi.kpi_for_unit(only, "320600", START, END)
    assert got["registration_rate"] == pytest.approx(9 / 11 * 100)
    for key in (
        "closure_rate",
        "visit_coverage",
        "mediation_success",
        "rectification_rate",
        "response_hours",
    ):
        assert math.isnan(got[key]), key


def test_timezone_aware_stamps_use_shanghai_wall_time(layers):
    # 2025-02-28 16:30 UTC is 03-01 00:30 in Shanghai (in March); 2025-03-31 16:30 UTC is 04-01 00:30
    inc = pd.DataFrame(
        {
            "occurred_at": pd.to_datetime(["2025-02-28 16:30", "2025-03-31 16:30"]).tz_localize("UTC"),
            "category": ["刑事", "刑事"],
            "valid": [True, True],
            "grid_code": [G1, G1],
        }
    )
    assert kpi.yoy_by_category(inc, None, START, END).loc["刑事", "current"] == 1
    got = kpi.kpi_for_unit({"grids": layers["grids"], "incidents": inc}, G1, START, END)
    assert got["criminal_yoy_num"] == 1
    # a tz-aware period bound is read as a Shanghai date too: 2025-02-28 17:00 UTC = 2025-03-01
    assert (
        kpi.kpi_for_unit(
            {"grids": layers["grids"], "incidents": inc}, G1, pd.Timestamp("2025-02-28 17:00", tz="UTC"), END
        )["criminal_yoy_num"]
        == 1
    )


# --------------------------------------------------------------------------------------------------
# year over year, CompStat windows and the leap day


@pytest.mark.parametrize(
    ("start", "end", "prev_start", "prev_end"),
    [
        ("2024-02-29", "2024-02-29", "2023-02-28", "2023-02-28"),  # single leap day -> 28 Feb
        ("2025-02-01", "2025-02-28", "2024-02-01", "2024-02-29"),  # whole month -> whole month
        ("2024-02-01", "2024-02-29", "2023-02-01", "2023-02-28"),
        ("2025-01-01", "2025-02-28", "2024-01-01", "2024-02-29"),  # YTD through a month end
        ("2025-02-28", "2025-02-28", "2024-02-28", "2024-02-28"),  # single day, not a whole month
        ("2025-03-10", "2025-04-09", "2024-03-10", "2024-04-09"),
        ("2024-01-01", "2024-12-31", "2023-01-01", "2023-12-31"),
    ],
)
def test_same_period_last_year(start, end, prev_start, prev_end):
    ps, pe = kpi.same_period_last_year(start, end)
    assert (str(ps.date()), str(pe.date())) == (prev_start, prev_end)


def test_yoy_by_category(layers):
    inc = layers["incidents"]
    city = kpi.yoy_by_category(inc, None, START, END)
    assert list(city.index) == [*kpi.INCIDENT_CATEGORIES, "合计"]
    # every valid incident, also the one outside the grids: 刑事 3 (G1 x2 + stray) vs 1
    assert city.loc["刑事", ["current", "previous", "change"]].tolist() == [3, 1, 2]
    assert city.loc["刑事", "change_pct"] == pytest.approx(200.0)
    assert math.isnan(city.loc["治安", "change_pct"])  # 1 vs 0
    assert city.loc["交通", ["current", "previous"]].tolist() == [1, 1]  # 2024-03-31 23:30 in, 04-01 out
    assert city.loc["火警", ["current", "previous"]].tolist() == [0, 1]  # the 2025 one is invalid
    assert city.loc["合计", ["current", "previous"]].tolist() == [6, 5]
    assert city.attrs["previous_start"] == "2024-03-01" and city.attrs["previous_end"] == "2024-03-31"
    d1 = kpi.yoy_by_category(inc, [G1, G2], START, END)
    assert d1.loc["合计", ["current", "previous"]].tolist() == [4, 3]
    assert d1.loc["合计", "change_pct"] == pytest.approx((4 / 3 - 1) * 100)
    everything = kpi.yoy_by_category(inc, None, START, END, valid_only=False)
    assert everything.loc["火警", "current"] == 1
    # February 2025 (28 days) against February 2024 (29 days, with the leap-day 交通 in G4)
    feb = kpi.yoy_by_category(inc, [G4], "2025-02-01", "2025-02-28")
    assert feb.loc["交通", ["current", "previous"]].tolist() == [0, 1]


def _leap_incidents() -> pd.DataFrame:
    rows = [
        ("2024-02-29 10:00", "刑事"),  # e1: last 28 days [02-29, 03-27]
        ("2024-03-27 23:59", "刑事"),  # e2: last 28 days
        ("2024-02-28 23:00", "刑事"),  # e3: previous 28 days [02-01, 02-28]
        ("2024-02-01 00:00", "刑事"),  # e4: previous 28 days
        ("2024-01-31 12:00", "刑事"),  # e5: year to date only
        ("2024-03-28 00:00", "刑事"),  # e6: after as_of
        ("2023-03-27 12:00", "刑事"),  # e7: previous year to date [2023-01-01, 2023-03-27]
        ("2023-03-28 00:00", "刑事"),  # e8: after it
        ("2023-12-31 12:00", "刑事"),  # e9: in no window
        ("2024-03-01 10:00", "治安"),  # e10: last 28 days
    ]
    frame = pd.DataFrame(rows, columns=["occurred_at", "category"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"])
    frame["grid_code"] = G1
    frame["valid"] = True
    return frame


def test_compstat_windows_across_the_leap_day():
    table = kpi.compstat(_leap_incidents(), None, "2024-03-27")
    assert table.attrs["d28"] == ("2024-02-29", "2024-03-27")  # 27 days back from 03-27 is 02-29
    assert table.attrs["d28_prev"] == ("2024-02-01", "2024-02-28")
    assert table.attrs["ytd"] == ("2024-01-01", "2024-03-27")
    assert table.attrs["ytd_prev"] == ("2023-01-01", "2023-03-27")
    crim = table.loc["刑事"]
    assert [crim.d28, crim.d28_prev, crim.d28_change, crim.d28_change_pct] == [2, 2, 0, 0.0]
    assert [crim.ytd, crim.ytd_prev, crim.ytd_change] == [5, 1, 4]
    assert crim.ytd_change_pct == pytest.approx(400.0)
    assert table.loc["治安", "d28"] == 1 and math.isnan(table.loc["治安", "d28_change_pct"])
    total = table.loc["合计"]
    assert [total.d28, total.d28_prev, total.ytd, total.ytd_prev] == [3, 2, 6, 1]
    assert total.d28_change_pct == pytest.approx(50.0)
    only_total = kpi.compstat(_leap_incidents(), [G1], "2024-03-27", by=None)
    assert list(only_total.index) == ["合计"] and only_total.loc["合计", "d28"] == 3
    assert kpi.compstat(_leap_incidents(), [G2], "2024-03-27").loc["合计", "ytd"] == 0


def test_compstat_year_to_date_through_february_of_a_non_leap_year():
    table = kpi.compstat(_leap_incidents(), None, "2025-02-28")
    assert table.attrs["ytd_prev"] == ("2024-01-01", "2024-02-29")
    # 2024-01-01 .. 2024-02-29 holds e1 (02-29), e3, e4, e5
    assert table.loc["刑事", "ytd_prev"] == 4


def test_three_up_four_down(base):
    card = kpi.three_up_four_down(base, "320600", START, END).set_index("indicator")
    assert list(card.direction) == ["↑", "↑", "↑", "↓", "↓", "↓", "↓"]
    # mediation: 3/5 = 60 % now against 1/3 in March 2024 -> +26.7 points
    assert card.loc["矛盾纠纷化解", "current"] == pytest.approx(60.0)
    assert card.loc["矛盾纠纷化解", "previous"] == pytest.approx(100 / 3)
    assert card.loc["矛盾纠纷化解", "change"] == pytest.approx(60 - 100 / 3)
    assert bool(card.loc["矛盾纠纷化解", "achieved"])
    assert pd.isna(card.loc["人口信息准确率", "achieved"])  # snapshot, no previous value
    assert (
        pd.isna(card.loc["群众满意度", "current"])
        and "no satisfaction data" in card.loc["群众满意度", "note"]
    )
    assert card.loc["刑事案件", "change"] == pytest.approx(100.0) and not card.loc["刑事案件", "achieved"]
    assert bool(card.loc["纠纷警情", "achieved"]) and bool(card.loc["安全事故", "achieved"])
    assert "火警" in card.loc["安全事故", "note"]
    assert pd.isna(card.loc["信访", "achieved"])  # 1 vs 0


# --------------------------------------------------------------------------------------------------
# ranking


def test_rank_ties_nan_and_target_gap():
    table = pd.DataFrame(
        {"registration_rate": [90.0, 95.0, 95.0, np.nan, 80.0, 100.0]},
        index=pd.Index(["u1", "u3", "u2", "u4", "u5", "u6"], name="unit_code"),
    )
    ranked = kpi.rank(table, "registration_rate")
    assert list(ranked.index) == ["u6", "u2", "u3", "u1", "u5", "u4"]  # ties by code, NaN last
    assert ranked["rank"].tolist()[:5] == [1.0, 2.0, 2.0, 4.0, 5.0]
    assert math.isnan(ranked.loc["u4", "rank"])
    assert ranked.loc["u1", "gap"] == pytest.approx(-10.0)
    assert bool(ranked.loc["u6", "meets_target"]) and not bool(ranked.loc["u1", "meets_target"])
    assert pd.isna(ranked.loc["u4", "meets_target"])
    worst_first = kpi.rank(table, "registration_rate", ascending=True)
    assert list(worst_first.index[:2]) == ["u5", "u1"]


def test_rank_lower_is_better_without_target():
    table = pd.DataFrame({"response_hours": [5.0, 3.0, 3.0]}, index=["a", "c", "b"])
    ranked = kpi.rank(table, "response_hours")
    assert list(ranked.index) == ["b", "c", "a"] and ranked["rank"].tolist() == [1.0, 1.0, 3.0]
    assert ranked["gap"].isna().all() and ranked["meets_target"].isna().all()
    with pytest.raises(KeyError):
        kpi.rank(table, "nonsense")


def test_registry_is_complete_for_the_dashboard(base):
    table = kpi.kpi_table(base, "city", START, END)
    for spec in kpi.KPIS.values():
        assert spec.id in table.columns
        assert spec.unit in ("%", "h", "count", "per 1,000 households")
        if spec.kind in ("rate", "change"):
            assert {f"{spec.id}_num", f"{spec.id}_den"} <= set(table.columns)
    assert kpi.KPIS["registration_rate"].target == 100.0
    assert kpi.KPIS["mediation_success"].target is None


# --------------------------------------------------------------------------------------------------
# smoke test on the tiny demo city


def test_tiny_demo_roll_up_equals_grid_sums(tiny_demo):
    layers = kpi.read_layers(tiny_demo)
    base = kpi.per_grid_base(layers)
    start, end = "2026-05-01", "2026-10-31"
    grids = kpi.grid_frame(base, start, end)
    additive = [c for c in grids.columns if c.endswith(("_num", "_den"))]
    city = kpi.kpi_table(base, "city", start, end)
    assert len(city) == 1
    for level in ("county", "township", "village", "bureau", "station", "district"):
        table = kpi.kpi_table(base, level, start, end)
        assert table.index.is_unique
        assert set(table.index) >= set(base.gunits[LEVEL_COLUMN[level]].dropna())
        np.testing.assert_allclose(table[additive].sum().to_numpy(), grids[additive].sum().to_numpy())
        np.testing.assert_allclose(city[additive].iloc[0].to_numpy(), grids[additive].sum().to_numpy())
    # independent counts straight from the layers
    pop = layers["population"]
    assert city["registration_rate_den"].iloc[0] == len(pop) > 0
    assert city["registration_rate_num"].iloc[0] == pop["registered"].sum()
    inc = layers["incidents"]
    when = inc["occurred_at"].dt.normalize()
    mine = inc["valid"] & inc["grid_code"].notna() & when.between(start, end)
    assert city["incidents_yoy_num"].iloc[0] == mine.sum() > 0
    assert city["officer_staffing_den"].iloc[0] == len(layers["districts"])
    assert 0 < city["closure_rate"].iloc[0] <= 100 and city["response_hours_den"].iloc[0] > 0


def test_deadlines_falling_due_later_today_are_not_late_yet(base, monkeypatch):
    """A period ending today (live data) is judged by the clock, not as if the day were over: an order due
    at 23:00 is not late at 20:00, a hazard due today is not due before the day ends; once the day is
    over they count as before."""
    import datetime as dt

    from data import clock

    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2025, 3, 31, 20, 0))
    assert kpi.kpi_for_unit(base, G1, START, END)["closure_rate"] == 100.0  # W1 in time; W2 due at 23:00
    assert math.isnan(kpi.kpi_for_unit(base, G3, START, END)["rectification_rate"])  # H4 due today
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2025, 4, 1, 0, 0))
    assert kpi.kpi_for_unit(base, G1, START, END)["closure_rate"] == 50.0
    assert kpi.kpi_for_unit(base, G3, START, END)["rectification_rate"] == 0.0
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2025, 3, 10, 12, 30))  # mid-period
    assert kpi.kpi_for_unit(base, G1, START, END)["closure_rate"] == 100.0  # only W1 has fallen due
