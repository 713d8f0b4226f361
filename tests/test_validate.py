"""Tests for geo.validate: one crafted bad input per rule, a clean tiling with no problems, files."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, Polygon, box

from data.idnumber import make_id_numbers
from geo.validate import Problem, problems_to_json, summarise, validate_frames

# Squares are drawn in CGCS2000 3° Gauss–Krüger zone 40 (EPSG:4549, central meridian 120°E) around
# (120.9°E, 32.0°N) so that every area below is known exactly by hand.
GK = 4549
X0, Y0 = Transformer.from_crs(4326, GK, always_xy=True).transform(120.9, 32.0)
SIDE = 200.0
VILLAGE = "320612001001"
STATION = "320612000001"
D1, D2 = STATION + "01", STATION + "02"  # 警格: D1 = columns 0-1, D2 = column 2


def code(k: int) -> str:
    return f"{VILLAGE}{k:03d}"


def cell(i: int, j: int) -> Polygon:
    """The square of column i, row j of the 3×3 tiling, in EPSG:4549."""
    return box(X0 + i * SIDE, Y0 + j * SIDE, X0 + (i + 1) * SIDE, Y0 + (j + 1) * SIDE)


def to_lonlat(x: float, y: float) -> tuple[float, float]:
    return Transformer.from_crs(GK, 4326, always_xy=True).transform(x, y)


def make_grids(cells: dict[str, Polygon | None], districts: dict[str, str] | None = None) -> gpd.GeoDataFrame:
    """Grids from {grid_code: polygon in EPSG:4549}, converted to EPSG:4326."""
    codes = list(cells)
    frame = gpd.GeoDataFrame(
        {
            "grid_code": codes,
            "grid_name": [f"网格{c[-3:]}" for c in codes],
            "grid_type": "综合",
            "village_code": VILLAGE,
            "district_code": [(districts or {}).get(c, "") for c in codes],
            "households": 300,
            "population": 800,
        },
        geometry=list(cells.values()),
        crs=GK,
    )
    return frame.to_crs(4326)


def tiling() -> tuple[dict[str, Polygon], dict[str, str]]:
    """The clean 3×3 tiling: cells and their 警格, codes 001..009 row by row."""
    cells, bound = {}, {}
    for j in range(3):
        for i in range(3):
            k = 3 * j + i + 1
            cells[code(k)] = cell(i, j)
            bound[code(k)] = D1 if i < 2 else D2
    return cells, bound


def make_districts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "district_code": [D1, D2],
            "district_name": ["城东警务区", "城西警务区"],
            "station_code": STATION,
        },
        geometry=[
            box(X0, Y0, X0 + 2 * SIDE, Y0 + 3 * SIDE),
            box(X0 + 2 * SIDE, Y0, X0 + 3 * SIDE, Y0 + 3 * SIDE),
        ],
        crs=GK,
    ).to_crs(4326)


def make_points(xy: list[tuple[float, float]], **columns) -> gpd.GeoDataFrame:
    """Incident points at EPSG:4549 positions."""
    n = len(xy)
    frame = gpd.GeoDataFrame(
        {
            "incident_id": columns.pop("incident_id", [f"JQ{k:04d}" for k in range(n)]),
            "occurred_at": columns.pop("occurred_at", ["2024-05-01 10:00:00"] * n),
            "category": "治安",
            "valid": True,
            **columns,
        },
        geometry=[Point(x, y) for x, y in xy],
        crs=GK,
    )
    return frame.to_crs(4326)


def rules(problems: list[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in problems:
        out.setdefault(p.rule, []).append(p)
    return out


def only(problems: list[Problem], rule: str) -> Problem:
    found = [p for p in problems if p.rule == rule]
    assert len(found) == 1, (rule, problems)
    return found[0]


# --- no false positives ----------------------------------------------------------------------------


def test_clean_tiling_with_districts_has_no_problems():
    cells, bound = tiling()
    binding = pd.DataFrame({"grid_code": list(bound), "district_code": list(bound.values())})
    inside = [(X0 + 100 + 200 * i, Y0 + 100 + 200 * j) for i in range(3) for j in range(3)]
    problems = validate_frames(
        grids=make_grids(cells, bound),
        districts=make_districts(),
        binding=binding,
        points={"incidents": make_points(inside)},
    )
    assert problems == []


def test_clean_tiling_without_districts_has_no_problems():
    cells, bound = tiling()
    assert validate_frames(grids=make_grids(cells, bound)) == []


# --- geometry ----------------------------------------------------------------------------------------


def test_invalid_geometry_reports_reason_and_keeps_checking():
    cells, bound = tiling()
    x, y = X0 + 3 * SIDE, Y0
    bowtie = Polygon([(x, y), (x + SIDE, y + SIDE), (x + SIDE, y), (x, y + SIDE)])
    cells[code(10)] = bowtie
    bound[code(10)] = D2
    problems = validate_frames(grids=make_grids(cells, bound))
    p = only(problems, "invalid_geometry")
    assert p.ids == [code(10)]
    assert "Self-intersection" in p.detail
    assert p.rows == [9]


def test_empty_geometry():
    cells, bound = tiling()
    cells[code(10)] = None
    cells[code(11)] = Polygon()
    problems = validate_frames(grids=make_grids(cells, bound))
    assert sorted(p.ids[0] for p in problems if p.rule == "empty_geometry") == [code(10), code(11)]


def test_polygon_with_swapped_coordinates_is_a_bad_coordinate():
    cells, bound = tiling()
    grids = make_grids(cells, bound)
    lonlat = grids.geometry.iloc[0]
    grids.loc[0, "geometry"] = shapely.transform(lonlat, lambda xy: xy[:, ::-1])
    problems = validate_frames(grids=grids)
    p = only(problems, "bad_coordinate")
    assert p.ids == [code(1)]
    assert "swapped" in p.detail


# --- codes -------------------------------------------------------------------------------------------


def test_malformed_codes():
    cells, bound = tiling()
    grids = make_grids(cells, bound)
    grids.loc[0, "grid_code"] = "32061200100101"  # 14 digits
    grids.loc[1, "grid_code"] = "320612001999002"  # 15 digits, other village
    districts = make_districts()
    districts.loc[1, "district_code"] = "3206120000010X"
    problems = validate_frames(grids=grids, districts=districts)
    found = {(p.layer, p.ids[0]): p.detail for p in problems if p.rule == "malformed_code"}
    assert set(found) == {
        ("grids", "32061200100101"),
        ("grids", "320612001999002"),
        ("districts", "3206120000010X"),
    }
    assert "15 digits" in found["grids", "32061200100101"]
    assert "village_code" in found["grids", "320612001999002"]


def test_duplicate_codes_list_every_row():
    cells, bound = tiling()
    grids = make_grids(cells, bound)
    grids.loc[4, "grid_code"] = code(1)
    grids.loc[7, "grid_code"] = code(1)
    p = only(validate_frames(grids=grids), "duplicate_code")
    assert p.ids == [code(1)]
    assert p.rows == [0, 4, 7]


def test_duplicate_district_codes():
    districts = make_districts()
    districts.loc[1, "district_code"] = D1
    p = only(validate_frames(districts=districts), "duplicate_code")
    assert (p.layer, p.ids, p.rows) == ("districts", [D1], [0, 1])


# --- overlaps and gaps -------------------------------------------------------------------------------


def test_overlap_area():
    cells, bound = tiling()
    # grid 001 reaches 20 m into grid 002: 20 m × 200 m = 4,000 m².
    cells[code(1)] = box(X0, Y0, X0 + SIDE + 20, Y0 + SIDE)
    p = only(validate_frames(grids=make_grids(cells, bound)), "overlap")
    assert sorted(p.ids) == [code(1), code(2)]
    assert p.area_m2 == pytest.approx(4000.0, rel=0.01)
    assert p.severity == "error"


def test_overlap_below_tolerance_is_ignored():
    cells, bound = tiling()
    cells[code(1)] = box(X0, Y0, X0 + SIDE + 0.004, Y0 + SIDE)  # 0.8 m²
    assert [p for p in validate_frames(grids=make_grids(cells, bound)) if p.rule == "overlap"] == []


def test_gap_is_a_hole_in_the_grid_cover():
    cells, bound = tiling()
    del cells[code(5)]  # the centre square: 40,000 m² surrounded by the other eight
    p = only(validate_frames(grids=make_grids(cells, bound)), "gap")
    assert p.area_m2 == pytest.approx(SIDE * SIDE, rel=0.01)
    assert sorted(p.ids) == sorted(code(k) for k in range(1, 10) if k != 5)
    assert p.severity == "error"


def test_gap_against_districts_and_sliver_warning():
    cells, bound = tiling()
    del cells[code(9)]  # a corner: not a hole of the cover, but inside 警格 D2
    # the centre grid stops 0.5 m short of its east neighbour: a 0.5 m × 200 m sliver.
    cells[code(5)] = box(X0 + SIDE, Y0 + SIDE, X0 + 2 * SIDE - 0.5, Y0 + 2 * SIDE)
    gaps = rules(validate_frames(grids=make_grids(cells, bound), districts=make_districts()))["gap"]
    assert len(gaps) == 2
    corner, sliver = sorted(gaps, key=lambda p: -p.area_m2)
    assert corner.area_m2 == pytest.approx(SIDE * SIDE, rel=0.01)
    assert sorted(corner.ids) == [code(6), code(8)]  # 005 stops 0.5 m short of the corner
    assert D2 in corner.detail
    assert corner.severity == "error"
    assert sliver.area_m2 == pytest.approx(0.5 * SIDE, rel=0.01)
    assert sliver.severity == "warning"
    assert sorted(sliver.ids) == [code(2), code(3), code(5), code(6), code(8)]  # 003 at a corner


def test_gap_against_an_explicit_jurisdiction():
    cells, bound = tiling()
    # the jurisdiction reaches 50 m beyond the tiling on the north: 600 m × 50 m uncovered.
    area = gpd.GeoSeries([box(X0, Y0, X0 + 3 * SIDE, Y0 + 3 * SIDE + 50)], crs=GK).to_crs(4326)
    p = only(validate_frames(grids=make_grids(cells, bound), jurisdiction=area), "gap")
    assert p.area_m2 == pytest.approx(600 * 50, rel=0.01)
    assert sorted(p.ids) == [code(7), code(8), code(9)]


# --- binding -----------------------------------------------------------------------------------------


def test_unbound_grids_from_the_grid_layer():
    cells, bound = tiling()
    bound[code(1)] = ""
    bound[code(2)] = STATION + "77"  # no such 警格
    problems = validate_frames(grids=make_grids(cells, bound), districts=make_districts())
    found = {p.ids[0]: p.detail for p in problems if p.rule == "unbound_grid"}
    assert set(found) == {code(1), code(2)}
    assert "empty" in found[code(1)]
    assert "not in the districts layer" in found[code(2)]


def test_unbound_grids_from_the_binding_table():
    cells, bound = tiling()
    table = pd.DataFrame({"grid_code": list(bound), "district_code": list(bound.values())})
    table = table[table.grid_code != code(3)]  # 003 not listed
    table = pd.concat([table, pd.DataFrame({"grid_code": [code(4)], "district_code": [D2]})])  # 004 in two
    grids = make_grids(cells).drop(columns="district_code")
    problems = validate_frames(grids=grids, districts=make_districts(), binding=table)
    found = {p.ids[0]: p.detail for p in problems if p.rule == "unbound_grid"}
    assert set(found) == {code(3), code(4)}
    assert "not listed" in found[code(3)]
    assert "2 警格" in found[code(4)] and D1 in found[code(4)] and D2 in found[code(4)]


def test_exact_duplicate_binding_row_is_a_warning():
    cells, bound = tiling()
    table = pd.DataFrame({"grid_code": list(bound), "district_code": list(bound.values())})
    table = pd.concat([table, table.iloc[[0]]], ignore_index=True)
    problems = validate_frames(grids=make_grids(cells, bound), districts=make_districts(), binding=table)
    p = only(problems, "duplicate_code")
    assert (p.layer, p.ids, p.rows, p.severity) == ("grid_district", [code(1)], [0, 9], "warning")
    assert not [q for q in problems if q.rule == "unbound_grid"]


def test_grid_outside_its_district():
    cells, bound = tiling()
    bound[code(1)] = D2  # grid 001 lies wholly in D1
    # grid 004 pokes 1 m west out of D1: 200 m² = 0.5 % of its area, below the 1 % share.
    cells[code(4)] = box(X0 - 1, Y0 + SIDE, X0 + SIDE, Y0 + 2 * SIDE)
    problems = validate_frames(grids=make_grids(cells, bound), districts=make_districts())
    p = only(problems, "grid_outside_district")
    assert p.ids == [code(1), D2]
    assert p.area_m2 == pytest.approx(SIDE * SIDE, rel=0.01)


def test_grid_partly_outside_its_district():
    cells, bound = tiling()
    # grid 003 (in D2) stretched 60 m west into D1 (and over grid 002): 60 m × 200 m outside D2.
    cells[code(3)] = box(X0 + 2 * SIDE - 60, Y0, X0 + 3 * SIDE, Y0 + SIDE)
    problems = validate_frames(grids=make_grids(cells, bound), districts=make_districts())
    p = only(problems, "grid_outside_district")
    assert p.ids == [code(3), D2]
    assert p.area_m2 == pytest.approx(60 * SIDE, rel=0.01)
    assert only(problems, "overlap").area_m2 == pytest.approx(60 * SIDE, rel=0.01)


# --- points ------------------------------------------------------------------------------------------


def test_point_outside_grids():
    cells, bound = tiling()
    points = make_points([(X0 + 50, Y0 + 50), (X0 - 500, Y0 + 50), (X0 + 700, Y0 + 700)])
    problems = validate_frames(grids=make_grids(cells, bound), points={"incidents": points})
    outside = [p for p in problems if p.rule == "point_outside_grids"]
    assert [p.ids for p in outside] == [["JQ0001"], ["JQ0002"]]
    assert all(p.layer == "incidents" for p in outside)


def test_point_on_a_shared_edge_is_inside():
    cells, bound = tiling()
    points = make_points([(X0 + SIDE, Y0 + 50)])
    assert validate_frames(grids=make_grids(cells, bound), points={"incidents": points}) == []


def test_bad_coordinates_are_not_also_outside_grids():
    cells, bound = tiling()
    points = make_points([(X0 + 50, Y0 + 50)] * 3)
    points.loc[1, "geometry"] = Point(32.0, 120.9)  # lat/lon swapped
    points.loc[2, "geometry"] = None
    problems = validate_frames(grids=make_grids(cells, bound), points={"incidents": points})
    found = {p.ids[0]: p.detail for p in problems if p.rule == "bad_coordinate"}
    assert set(found) == {"JQ0001", "JQ0002"}
    assert "swapped" in found["JQ0001"]
    assert "missing" in found["JQ0002"]
    assert not [p for p in problems if p.rule == "point_outside_grids"]


def test_bad_date():
    points = make_points(
        [(X0 + 50, Y0 + 50)] * 4,
        occurred_at=["2024-05-01 10:00", "2024-13-45 10:00", "昨天", "1024-05-01"],
    )
    problems = validate_frames(points={"incidents": points})
    found = {p.ids[0]: p.detail for p in problems if p.rule == "bad_date"}
    assert set(found) == {"JQ0001", "JQ0002", "JQ0003"}
    assert "occurred_at" in found["JQ0001"]


def test_bad_id_number_names_the_record_not_the_number():
    good = make_id_numbers(
        np.array(["320612"] * 3), np.array(["1980-01-02"] * 3, "datetime64[D]"), np.arange(3)
    )
    wrong = good[1][:17] + ("0" if good[1][17] != "0" else "1")
    poc = gpd.GeoDataFrame(
        {
            "poc_id": ["GZ1", "GZ2", "GZ3"],
            "name": ["张三", "李四", "王五"],
            "id_number": [good[0], wrong, "32061219800102"],
            "category": "社区矫正",
            "risk_colour": "红",
            "visit_interval_days": 7,
            "listed_at": "2023-01-01",
        },
        geometry=[Point(120.9, 32.0)] * 3,
        crs=4326,
    )
    problems = validate_frames(points={"persons_of_concern": poc})
    found = {p.ids[0]: p for p in problems if p.rule == "bad_id_number"}
    assert set(found) == {"GZ2", "GZ3"}
    assert "check digit" in found["GZ2"].detail
    assert wrong not in problems_to_json(problems)


# --- everything at once, output ----------------------------------------------------------------------


def test_every_problem_is_collected_at_once():
    cells, bound = tiling()
    cells[code(1)] = box(X0, Y0, X0 + SIDE + 20, Y0 + SIDE)  # overlap
    del cells[code(5)]  # gap
    bound[code(2)] = ""  # unbound
    grids = make_grids(cells, bound)
    grids.loc[grids.grid_code == code(9), "grid_code"] = "123"  # malformed
    points = make_points([(X0 - 500, Y0)], occurred_at=["bad"])
    counts = summarise(validate_frames(grids=grids, districts=make_districts(), points={"incidents": points}))
    assert counts == {
        "malformed_code": 1,
        "overlap": 1,
        "gap": 1,
        "unbound_grid": 1,
        "point_outside_grids": 1,
        "bad_date": 1,
    }


def test_json_is_a_list_of_objects_with_the_four_keys():
    cells, bound = tiling()
    del cells[code(5)]
    bound[code(1)] = ""
    points = {"incidents": make_points([(X0 - 9, Y0)])}
    problems = validate_frames(grids=make_grids(cells, bound), points=points)
    text = problems_to_json(problems)
    data = json.loads(text)
    assert isinstance(data, list) and len(data) == 3
    for obj in data:
        assert {"rule", "layer", "ids", "detail"} <= set(obj)
        assert isinstance(obj["ids"], list) and all(isinstance(i, str) for i in obj["ids"])
    assert "警格" in text  # ensure_ascii=False keeps Chinese readable
    assert summarise(problems) == {"gap": 1, "unbound_grid": 1, "point_outside_grids": 1}


# --- files (validate_paths) ---------------------------------------------------------------------------

ZH_GRID_HEADERS = {
    "grid_code": "网格编码",
    "grid_name": "网格名称",
    "grid_type": "网格类型",
    "village_code": "村居编码",
    "district_code": "警格编码",
    "households": "户数",
    "population": "人口数",
}


@pytest.fixture
def field_files(tmp_path):
    """A GBK shapefile of grids with Chinese headers (one row with a malformed code) and point CSVs."""
    cells, bound = tiling()
    grids = make_grids(cells, bound)
    grids.loc[4, "grid_code"] = "32061200100100X"  # the centre grid: rejected on import
    shp = tmp_path / "网格数据.shp"
    grids.rename(columns=ZH_GRID_HEADERS).to_file(shp, encoding="GBK")
    assert "网格编码".encode("gbk") in (tmp_path / "网格数据.dbf").read_bytes()
    (tmp_path / "网格数据.cpg").unlink()  # as often in the field: no code page file, the reader guesses

    ids = make_id_numbers(
        np.array(["320612"] * 6), np.array(["1975-06-01"] * 6, "datetime64[D]"), np.arange(6)
    )
    wrong_check = ids[3][:17] + ("0" if ids[3][17] != "0" else "1")
    inside = to_lonlat(X0 + 50, Y0 + 50)
    centre = to_lonlat(X0 + 300, Y0 + 300)  # inside the rejected centre grid
    outside = to_lonlat(X0 - 800, Y0 + 50)
    rows = [
        ("GZ001", ids[0], "2023-03-01", *inside),  # clean
        ("GZ002", ids[1], "2023-03-01", inside[1], inside[0]),  # lon/lat swapped
        ("GZ003", ids[2], "2023-02-30", *inside),  # no such date
        ("GZ004", wrong_check, "2023-03-01", *inside),  # check digit
        ("GZ005", ids[4], "2023-03-01", *outside),  # in no grid
        ("GZ006", ids[5], "2023-03-01", *centre),  # in the grid the importer rejected
    ]
    poc = pd.DataFrame(
        {
            "关注人员编号": [r[0] for r in rows],
            "姓名": ["张三"] * len(rows),
            "身份证号": [r[1] for r in rows],
            "类别": "社区矫正",
            "风险等级": "红",
            "走访周期(天)": 7,
            "列管日期": [r[2] for r in rows],
            "经度": [f"{r[3]:.7f}" for r in rows],
            "纬度": [f"{r[4]:.7f}" for r in rows],
        }
    )
    poc_csv = tmp_path / "poc_2024.csv"
    poc.to_csv(poc_csv, index=False, encoding="gbk")

    incidents = pd.DataFrame(
        {
            "警情编号": ["JQ1", "JQ2"],
            "发生时间": ["2024-05-01 10:00:00", "2024-05-02 11:00:00"],
            "警情类别": ["治安", "纠纷"],
            "有效警情": ["是", "是"],
            "经度": [f"{inside[0]:.7f}", f"{outside[0]:.7f}"],
            "纬度": [f"{inside[1]:.7f}", f"{outside[1]:.7f}"],
        }
    )
    jq_csv = tmp_path / "jq_export.csv"
    incidents.to_csv(jq_csv, index=False, encoding="utf-8")
    return {"grids": shp, "poc": poc_csv, "incidents": jq_csv, "wrong_check": wrong_check}


def test_validate_paths_reports_every_bad_row(field_files):
    from geo.validate import validate_paths

    problems = validate_paths(
        grids=str(field_files["grids"]),
        points=[f"persons_of_concern={field_files['poc']}", str(field_files["incidents"])],
    )
    got = {(p.rule, p.layer, p.ids[0]) for p in problems}
    assert got == {
        ("malformed_code", "grids", "32061200100100X"),
        ("bad_coordinate", "persons_of_concern", "GZ002"),
        ("bad_date", "persons_of_concern", "GZ003"),
        ("bad_id_number", "persons_of_concern", "GZ004"),
        ("point_outside_grids", "persons_of_concern", "GZ005"),
        ("point_outside_grids", "incidents", "JQ2"),
    }
    # the rejected centre grid is reported once: not again as a gap, and GZ006 inside it is no problem
    by_id = {p.ids[0]: p for p in problems}
    assert by_id["32061200100100X"].rows == [5]
    assert by_id["GZ003"].rows == [3]
    assert by_id["GZ004"].rows == [4]
    assert field_files["wrong_check"] not in problems_to_json(problems)
    data = json.loads(problems_to_json(problems))
    assert all({"rule", "layer", "ids", "detail"} <= set(obj) for obj in data)


def test_validate_paths_needs_a_layer_for_each_point_file(tmp_path):
    from geo.validate import validate_paths

    odd = tmp_path / "misc.csv"
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(odd, index=False)
    with pytest.raises(ValueError, match="LAYER=PATH"):
        validate_paths(points=[str(odd)])


def test_validate_paths_districts_binding_and_duplicates(tmp_path):
    from geo.validate import validate_paths

    cells, bound = tiling()
    grids = make_grids(cells, bound)
    grids = pd.concat([grids, grids.iloc[[2]]], ignore_index=True)  # grid 003 twice: rows 3 and 10
    grids.to_file(tmp_path / "grids.gpkg")
    districts = make_districts()
    districts.loc[1, "station_code"] = None  # 警格 D2 is rejected on import (missing value)
    districts.to_file(tmp_path / "districts.gpkg")
    table = pd.DataFrame({"网格编码": [*bound, code(1)], "警格编码": [*bound.values(), D2]})
    table.to_csv(tmp_path / "binding.csv", index=False)  # grid 001 bound to D1 and to D2

    problems = validate_paths(
        grids=str(tmp_path / "grids.gpkg"),
        districts=str(tmp_path / "districts.gpkg"),
        binding=str(tmp_path / "binding.csv"),
    )
    got = sorted((p.rule, p.layer, tuple(p.ids), tuple(p.rows or ())) for p in problems)
    assert got == [
        ("duplicate_code", "grids", (code(3),), (3, 10)),
        ("missing_value", "districts", (D2,), (2,)),
        ("unbound_grid", "grids", (code(1),), (1,)),
    ]
    # the grids of the rejected 警格 D2 are not "unbound", and its area is no false gap
    assert "2 警格" in next(p.detail for p in problems if p.rule == "unbound_grid")


# --- markup in text --------------------------------------------------------------------------------

POISONED_NAMES = [
    '<img src=x onerror=alert(1)><div style="position:fixed;inset:0">请重新登录</div>',
    "和平桥街道<script>",
    "和平桥街道</b",  # a closing tag without its ">": the template's next ">" would close it
    "<!-- 注释 -->",
    "<?xml",
    "&lt;b&gt;街道",
    "&#60;img&#62;",
    "&#x3C;img",
    "街道&nbsp;",
]
CLEAN_NAMES = ["A&B大厦", "<5层住宅", "3<4", "a & b;", "楼层>3", "&", "&;", "＜b＞全角"]


@pytest.mark.parametrize("name", POISONED_NAMES)
def test_markup_in_a_name_is_an_error_naming_the_field_and_row(name):
    cells, bound = tiling()
    grids = make_grids(cells, bound)
    grids.loc[4, "grid_name"] = name
    districts = make_districts()
    districts.loc[0, "district_name"] = name
    points = make_points([(X0 + 100, Y0 + 100)], address_id=[name])
    problems = rules(validate_frames(grids=grids, districts=districts, points={"incidents": points}))
    found = problems["markup_in_text"]
    assert {(p.layer, p.severity) for p in found} == {
        ("grids", "error"),
        ("districts", "error"),
        ("incidents", "error"),
    }
    by_layer = {p.layer: p for p in found}
    assert by_layer["grids"].ids == [code(5)] and "grid_name" in by_layer["grids"].detail
    assert "district_name" in by_layer["districts"].detail and "HTML" in by_layer["grids"].detail


@pytest.mark.parametrize("name", CLEAN_NAMES)
def test_angle_brackets_and_ampersands_in_ordinary_text_are_not_markup(name):
    cells, bound = tiling()
    grids = make_grids(cells, bound)
    grids.loc[4, "grid_name"] = name
    assert "markup_in_text" not in rules(validate_frames(grids=grids))
