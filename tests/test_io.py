"""Tests for geo.io: ingestion (数据导入) of field files into the layer schemas."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from data.idnumber import make_id_numbers
from geo.crs import haversine_m, wgs84_to_bd09, wgs84_to_gcj02
from geo.io import (
    RULES,
    IngestError,
    detect_layer,
    parse_datetimes,
    read_layer,
    read_raw,
    write_result,
)

# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------


def _same_geoms(a, b, tolerance: float) -> np.ndarray:
    """Element-wise geometry equality up to ring orientation/start and ``tolerance`` degrees."""
    return shapely.equals_exact(shapely.normalize(np.asarray(a)), shapely.normalize(np.asarray(b)), tolerance)


GRID_HEADERS = ["网格编码", "网格名称", "网格类型", "所属社区", "户数", "人口数"]


def _valid_ids(n: int) -> list[str]:
    births = np.array(["1980-01-15", "1975-06-30", "1992-11-02", "1968-03-09"] * n, dtype="datetime64[D]")[:n]
    return list(make_id_numbers(np.array(["320602"] * n), births, np.arange(n) + 11))


def _bad_check_digit(id_number: str) -> str:
    wrong = "0" if id_number[-1] != "0" else "1"
    return id_number[:17] + wrong


def _grids_gdf() -> gpd.GeoDataFrame:
    """Three comprehensive/dedicated grids in 崇川 with Chinese headers and values."""
    boxes = [shapely.box(120.86 + i * 0.01, 32.0, 120.87 + i * 0.01, 32.01) for i in range(3)]
    return gpd.GeoDataFrame(
        {
            "网格编码": ["320613001001001", "320613001001002", "320613001002001"],
            "网格名称": ["和平桥社区第一网格", "和平桥社区第二网格", "南大街工业园专属网格"],
            "网格类型": ["综合", "综合", "专属"],
            "所属社区": ["320613001001", "320613001001", "320613001002"],
            "户数": [300, 280, 12],
            "人口数": [860, 790, 40],
        },
        geometry=boxes,
        crs="EPSG:4326",
    )


def _write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


INCIDENT_HEADER = ["警情编号", "报警时间", "警情类别", "有效警情", "经度", "纬度", "身份证号"]


def _incident_rows() -> list[list[str]]:
    ids = _valid_ids(4)
    return [
        ["000123", "2024-03-05 14:30:00", "治安", "是", "120.8641", "32.0103", ids[0]],
        ["000124", "2024/3/6 8:05", "纠纷", "否", "120.8702", "32.0158", ""],
        ["0320613", "2024年3月7日", "电诈", "Y", "120.8813", "32.0044", ids[1]],
        ["000126", "20240308", "求助", "1", "120.8555", "31.9987", ids[2]],
    ]


# --------------------------------------------------------------------------------------------------
# Shapefile encodings
# --------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Could not decode error message:RuntimeWarning")  # GDAL laundering
@pytest.mark.parametrize(
    ("written", "keep_cpg", "expected_encoding"),
    [
        ("GBK", False, "GB18030"),
        ("UTF-8", True, "UTF-8"),
        ("UTF-8", False, "UTF-8"),
        ("GBK", True, "GB18030"),
    ],
)
def test_shapefile_chinese_encodings(tmp_path, written, keep_cpg, expected_encoding):
    gdf = _grids_gdf()
    shp = tmp_path / "网格.shp"
    gdf.to_file(shp, encoding=written)
    cpg = shp.with_suffix(".cpg")
    assert cpg.exists()
    if not keep_cpg:
        cpg.unlink()

    result = read_layer(shp, "grids")

    assert result.encoding == expected_encoding
    assert result.rejected_count == 0, result.rejects["reason"].tolist()
    acc = result.accepted
    assert acc["grid_code"].tolist() == gdf["网格编码"].tolist()
    assert acc["grid_name"].tolist() == gdf["网格名称"].tolist()
    assert acc["grid_type"].tolist() == ["综合", "综合", "专属"]
    assert acc["village_code"].tolist() == gdf["所属社区"].tolist()
    assert acc["households"].dtype == "Int64"
    assert acc["population"].tolist() == [860, 790, 40]
    assert acc["source_row"].tolist() == [1, 2, 3]
    assert acc.crs.to_epsg() == 4326
    assert _same_geoms(acc.geometry.to_numpy(), gdf.geometry.to_numpy(), 1e-9).all()


def test_gbk_shapefile_without_cpg_is_garbled_by_default_reader(tmp_path):
    """Guard for the test above: GDAL alone does not read such a file correctly."""
    shp = tmp_path / "grids.shp"
    _grids_gdf().to_file(shp, encoding="GBK")
    shp.with_suffix(".cpg").unlink()
    plain = pyogrio.read_dataframe(shp)
    assert "网格名称" not in plain.columns
    assert "网格名称" in read_raw(shp).columns


# --------------------------------------------------------------------------------------------------
# CSV encodings, Excel
# --------------------------------------------------------------------------------------------------


def test_csv_encodings_give_the_same_frame(tmp_path):
    rows = _incident_rows()
    results = {}
    for enc, expected in [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030")]:
        path = _write_csv(tmp_path / f"incidents_{enc}.csv", INCIDENT_HEADER, rows, enc)
        res = read_layer(path, "incidents")
        assert res.encoding == expected
        assert res.rejected_count == 0, res.rejects["reason"].tolist()
        results[enc] = res.accepted

    base = results["utf-8"]
    for enc in ("utf-8-sig", "gbk"):
        pd.testing.assert_frame_equal(pd.DataFrame(results[enc]), pd.DataFrame(base))
    assert base["incident_id"].tolist() == ["000123", "000124", "0320613", "000126"]
    assert base["category"].tolist() == ["治安", "纠纷", "电诈", "求助"]
    assert base["valid"].tolist() == [True, False, True, True]
    assert str(base["valid"].dtype) == "boolean"
    assert base["occurred_at"].tolist() == [
        pd.Timestamp("2024-03-05 14:30"),
        pd.Timestamp("2024-03-06 08:05"),
        pd.Timestamp("2024-03-07"),
        pd.Timestamp("2024-03-08"),
    ]
    assert base["身份证号"].iloc[0] == rows[0][6]  # unknown extra column kept under its own header
    assert "lon" not in base.columns
    np.testing.assert_allclose(base.geometry.x, [120.8641, 120.8702, 120.8813, 120.8555])


def test_csv_explicit_encoding_wins(tmp_path):
    path = _write_csv(tmp_path / "x.csv", INCIDENT_HEADER, _incident_rows(), "gbk")
    with pytest.raises(IngestError, match=r"x\.csv"):
        read_layer(path, "incidents", encoding="utf-8")
    assert read_layer(path, "incidents", encoding="gbk").encoding == "gbk"


def test_excel_with_title_row_float_codes_and_dates(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "警情"
    ws.append(["南通市崇川区警情明细表"])
    ws.append(["警情编号", "报警时间", "警情类别", "有效警情", "经度", "纬度", "网格编码"])
    ws.append(["J001", dt.datetime(2024, 3, 5, 14, 30), "治安", "是", 120.8641, 32.0103, 320613001001001.0])
    ws.append(["J002", "2024-03-06", "交通", "否", 120.87, 32.0158, "320613001001002.0"])
    ws.append(["J003", 45359, "火警", "true", "120.88", "32.0044", "320613001001003"])
    path = tmp_path / "incidents.xlsx"
    wb.save(path)

    res = read_layer(path, "incidents")

    assert res.rejected_count == 0, res.rejects["reason"].tolist()
    acc = res.accepted
    assert acc["grid_code"].tolist() == ["320613001001001", "320613001001002", "320613001001003"]
    assert acc["occurred_at"].tolist() == [
        pd.Timestamp("2024-03-05 14:30"),
        pd.Timestamp("2024-03-06"),
        pd.Timestamp("2024-03-08"),  # Excel serial day 45359
    ]
    assert acc["source_row"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(acc.geometry.y, [32.0103, 32.0158, 32.0044])
    assert any("title" in w for w in res.warnings)


# --------------------------------------------------------------------------------------------------
# Coordinates
# --------------------------------------------------------------------------------------------------


def _truth_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.uniform(120.5, 121.5, 25), rng.uniform(31.7, 32.4, 25)


@pytest.mark.parametrize(("crs", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_gcj02_and_bd09_csv_land_on_wgs84_truth(tmp_path, crs, forward):
    lon, lat = _truth_points()
    glon, glat = forward(lon, lat)
    rows = [
        [f"E{i:03d}", "2024-03-05 10:00", "治安", "是", f"{x:.9f}", f"{y:.9f}"]
        for i, (x, y) in enumerate(zip(glon, glat, strict=True))
    ]
    path = _write_csv(tmp_path / "gcj.csv", INCIDENT_HEADER[:6], rows)

    res = read_layer(path, "incidents", crs=crs)
    assert res.accepted_count == len(lon)
    d = haversine_m(res.accepted.geometry.x, res.accepted.geometry.y, lon, lat)
    assert d.max() < 1.0

    naive = read_layer(path, "incidents")  # treated as WGS84: hundreds of metres off
    d_naive = haversine_m(naive.accepted.geometry.x, naive.accepted.geometry.y, lon, lat)
    assert d_naive.min() > 100.0


def test_projected_xy_columns_and_swapped_axes(tmp_path):
    lon, lat = _truth_points()
    import pyproj

    x, y = pyproj.Transformer.from_crs(4326, 4549, always_xy=True).transform(lon, lat)
    rows = [
        [f"S{i}", "2024-03-05", "治安", "是", f"{a:.3f}", f"{b:.3f}"]
        for i, (a, b) in enumerate(zip(x, y, strict=True))
    ]
    rows[3][4], rows[3][5] = rows[3][5], rows[3][4]
    path = _write_csv(tmp_path / "xy.csv", ["编号", "发生时间", "警情类别", "有效警情", "X", "Y"], rows)

    res = read_layer(path, "incidents", crs=4549)
    assert res.rejects["source_row"].tolist() == [4]
    assert "swapped" in res.rejects["reason"].iloc[0]
    keep = np.arange(len(lon)) != 3
    d = haversine_m(res.accepted.geometry.x, res.accepted.geometry.y, lon[keep], lat[keep])
    assert d.max() < 0.01

    fixed = read_layer(path, "incidents", crs="EPSG:4549", fix_swapped=True)
    assert fixed.rejected_count == 0
    d = haversine_m(fixed.accepted.geometry.x, fixed.accepted.geometry.y, lon, lat)
    assert d.max() < 0.01


# --------------------------------------------------------------------------------------------------
# One row per rule
# --------------------------------------------------------------------------------------------------

POC_HEADER = [
    "关注人员编号",
    "姓名",
    "身份证号",
    "类别",
    "风险等级",
    "走访周期(天)",
    "网格编码",
    "列管日期",
    "经度",
    "纬度",
]


def _messy_poc_csv(tmp_path: Path) -> tuple[Path, dict[int, str], list[str]]:
    ids = _valid_ids(13)
    keys = ["category", "colour", "interval", "grid", "date", "lon", "lat"]
    good = ["社区矫正", "红", "7", "320613001001001", "2024-03-05", "120.8641", "32.0103"]

    def row(i: int, id_number: str | None = None, **over: str) -> list[str]:
        vals = dict(zip(keys, good, strict=True)) | over
        return [f"P{i:03d}", "张三", id_number or ids[i], *(vals[k] for k in keys)]

    rows = [
        row(1),
        row(2, grid="320613001001002.0", date="2024/3/5"),
        row(3, lon="32.01", lat="120.86"),  # swapped
        row(4, lon="2.3522", lat="48.8566"),  # Paris
        row(5, lon=""),  # missing coordinate
        row(6, date="2024-13-45"),  # bad date
        row(7, id_number=_bad_check_digit(ids[7])),  # bad ID check digit
        row(8, category="抢劫"),  # not a person-of-concern category
        row(9, grid="32061300100100X"),  # malformed grid code
        row(10),  # name emptied below: missing required value
        row(11, category="无业", date="yesterday"),  # two problems
        row(12, date="2024年3月5日", colour="黄", interval="30"),
    ]
    rows[9][1] = ""
    expected = {
        3: "bad_coordinate",
        4: "bad_coordinate",
        5: "bad_coordinate",
        6: "bad_date",
        7: "bad_id_number",
        8: "bad_value",
        9: "malformed_code",
        10: "missing_value",
        11: "bad_value",
    }
    path = _write_csv(tmp_path / "关注人员.csv", POC_HEADER, rows, "gbk")
    return path, expected, ids


def test_messy_csv_one_row_per_rule(tmp_path):
    path, expected, ids = _messy_poc_csv(tmp_path)
    res = read_layer(path, "persons_of_concern")

    assert res.read == 12
    assert res.read == res.accepted_count + res.rejected_count
    rej = res.rejects.set_index("source_row")
    assert dict(rej["rule"]) == expected
    assert rej.loc[11, "rules"] == "bad_value; bad_date"
    assert rej.loc[11, "reason"].count("; ") == 1
    assert "经纬度颠倒" in rej.loc[3, "reason"] and "swapped" in rej.loc[3, "reason"]
    assert "(32.01, 120.86)" in rej.loc[3, "reason"]
    assert "outside China" in rej.loc[4, "reason"]
    assert "missing coordinate" in rej.loc[5, "reason"]
    assert "2024-13-45" in rej.loc[6, "reason"]
    assert "check_digit" in rej.loc[7, "reason"]
    assert _bad_check_digit(ids[7]) not in rej.loc[7, "reason"]  # masked in the reason
    assert "抢劫" in rej.loc[8, "reason"]
    assert "网格编码" in rej.loc[9, "reason"] and "32061300100100X" in rej.loc[9, "reason"]
    assert "姓名" in rej.loc[10, "reason"]
    # rejects keep the original headers and values
    assert rej.loc[9, "网格编码"] == "32061300100100X"
    assert list(res.rejects.columns[: len(POC_HEADER)]) == POC_HEADER

    acc = res.accepted
    assert acc["source_row"].tolist() == [1, 2, 12]
    assert acc["grid_code"].tolist() == ["320613001001001", "320613001001002", "320613001001001"]
    assert acc["listed_at"].tolist() == [pd.Timestamp("2024-03-05")] * 3
    assert acc["visit_interval_days"].tolist() == [7, 7, 30]
    assert acc["risk_colour"].tolist() == ["红", "红", "黄"]
    assert set(res.rejects["rule"]) <= set(RULES)


def test_messy_csv_outputs(tmp_path):
    path, expected, _ = _messy_poc_csv(tmp_path)
    res = read_layer(path, "persons_of_concern")
    out = tmp_path / "out"
    report = write_result(res, out)

    rejects_csv = out / "rejects" / "persons_of_concern.rejects.csv"
    assert rejects_csv.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(rejects_csv, encoding="utf-8-sig", dtype=str)
    assert len(back) == len(expected)
    assert back["source_row"].astype(int).tolist() == sorted(expected)
    assert "姓名" in back.columns

    on_disk = json.loads((out / "rejects" / "persons_of_concern.report.json").read_text(encoding="utf-8"))
    for rep in (report, on_disk):
        assert rep["read"] == 12 and rep["accepted"] == 3 and rep["rejected"] == 9
        assert sum(rep["by_rule"].values()) == rep["rejected"]
        assert rep["by_rule"] == {
            "missing_value": 1,
            "bad_coordinate": 3,
            "malformed_code": 1,
            "bad_id_number": 1,
            "bad_value": 2,
            "bad_date": 1,
        }
        assert rep["encoding"] == "gb18030"
    assert "关注人员" in (out / "rejects" / "persons_of_concern.report.json").read_text(encoding="utf-8")

    stored = gpd.read_parquet(out / "persons_of_concern.parquet")
    assert len(stored) == 3 and stored.crs.to_epsg() == 4326
    assert stored["grid_code"].tolist() == res.accepted["grid_code"].tolist()


def test_fix_swapped_keeps_row_with_warning(tmp_path):
    path, expected, _ = _messy_poc_csv(tmp_path)
    res = read_layer(path, "persons_of_concern", fix_swapped=True)
    assert 3 in res.accepted["source_row"].tolist()
    assert 3 not in res.rejects["source_row"].tolist()
    assert res.rejected_count == len(expected) - 1
    pt = res.accepted.set_index("source_row").geometry.loc[3]
    assert (pt.x, pt.y) == pytest.approx((120.86, 32.01))
    assert any("swapped" in w and "3" in w for w in res.warnings)


def test_empty_rejects_still_written_with_header(tmp_path):
    path = _write_csv(tmp_path / "incidents.csv", INCIDENT_HEADER, _incident_rows())
    res = read_layer(path, "incidents")
    report = write_result(res, tmp_path / "out")
    text = (tmp_path / "out" / "rejects" / "incidents.rejects.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines() == [",".join([*INCIDENT_HEADER, "source_row", "rule", "rules", "reason"])]
    assert report["rejected"] == 0 and report["by_rule"] == {}


# --------------------------------------------------------------------------------------------------
# Missing columns, unreadable files
# --------------------------------------------------------------------------------------------------


def test_missing_required_column_names_file_and_column(tmp_path):
    gdf = _grids_gdf().drop(columns=["户数"])
    path = tmp_path / "my_grids.geojson"
    gdf.to_file(path, driver="GeoJSON")
    with pytest.raises(IngestError) as info:
        read_layer(path, "grids")
    msg = str(info.value)
    assert "my_grids.geojson" in msg
    assert "households" in msg and "户数" in msg
    assert "网格名称" in msg  # the headers found


def test_point_layer_without_coordinates_raises(tmp_path):
    path = _write_csv(tmp_path / "a.csv", INCIDENT_HEADER[:4], [r[:4] for r in _incident_rows()])
    with pytest.raises(IngestError, match=r"a\.csv.*lon/lat"):
        read_layer(path, "incidents")


@pytest.mark.parametrize(
    ("name", "content"),
    [("broken.gpkg", b"not a geopackage at all"), ("empty.csv", b""), ("bad.xlsx", b"PK\x03\x04garbage")],
)
def test_unreadable_files_raise_ingest_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError, match=name.replace(".", r"\.")):
        read_raw(path)
    with pytest.raises(IngestError):
        read_raw(tmp_path / "does_not_exist.csv")


# --------------------------------------------------------------------------------------------------
# Geometry layers
# --------------------------------------------------------------------------------------------------


def test_geojson_invalid_and_empty_geometries_rejected(tmp_path):
    gdf = _grids_gdf()
    extra = gpd.GeoDataFrame(
        {
            "网格编码": ["320613001002002", "320613001002003", "320613001002004", "320613001003001"],
            "网格名称": ["蝴蝶网格", "空网格", "无几何网格", "错社区网格"],
            "网格类型": ["综合"] * 4,
            "所属社区": ["320613001002", "320613001002", "320613001002", "320613001002"],
            "户数": [1, 2, 3, 4],
            "人口数": [1, 2, 3, 4],
        },
        geometry=[
            shapely.Polygon([(120.9, 32.0), (120.91, 32.01), (120.91, 32.0), (120.9, 32.01)]),  # bow-tie
            shapely.Polygon(),
            None,
            shapely.box(120.95, 32.0, 120.96, 32.01),  # grid code not under its village
        ],
        crs="EPSG:4326",
    )
    all_grids = pd.concat([gdf, extra], ignore_index=True)
    path = tmp_path / "grids.geojson"
    all_grids.to_file(path, driver="GeoJSON")

    res = read_layer(path, "grids")
    rej = res.rejects.set_index("source_row")
    assert dict(rej["rule"]) == {
        4: "invalid_geometry",
        5: "empty_geometry",
        6: "empty_geometry",
        7: "malformed_code",
    }
    assert "Self-intersection" in rej.loc[4, "reason"]
    assert "POLYGON" in rej.loc[4, "geometry"]  # original geometry as WKT
    assert "320613001002" in rej.loc[7, "reason"]
    assert res.accepted["grid_code"].tolist() == gdf["网格编码"].tolist()


def test_gcj02_geojson_declared_wgs84_is_treated_as_gcj02(tmp_path):
    gdf = _grids_gdf()
    truth = gdf.geometry.to_numpy()
    gcj = shapely.transform(truth, lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1])))
    gpd.GeoDataFrame(gdf.drop(columns="geometry"), geometry=gcj, crs="EPSG:4326").to_file(
        tmp_path / "amap.geojson", driver="GeoJSON"
    )
    res = read_layer(tmp_path / "amap.geojson", "grids", crs="gcj02")
    assert "GCJ-02" in res.crs_label
    assert _same_geoms(res.accepted.geometry.to_numpy(), truth, 1e-7).all()
    wrong = read_layer(tmp_path / "amap.geojson", "grids")
    assert not _same_geoms(wrong.accepted.geometry.to_numpy(), truth, 1e-4).any()


def test_projected_shapefile_is_reprojected(tmp_path):
    gdf = _grids_gdf()
    gdf.to_crs(4549).to_file(tmp_path / "grids.shp", encoding="GBK")
    res = read_layer(tmp_path / "grids.shp", "grids")
    assert res.crs_label.startswith("EPSG:4549")
    assert res.accepted.crs.to_epsg() == 4326
    assert _same_geoms(res.accepted.geometry.to_numpy(), gdf.geometry.to_numpy(), 1e-7).all()


def test_point_in_polygon_layer_is_wrong_geometry_type(tmp_path):
    gdf = _grids_gdf()
    gdf.loc[1, "geometry"] = shapely.Point(120.87, 32.005)
    gdf.to_file(tmp_path / "g.gpkg", layer="grids")
    res = read_layer(tmp_path / "g.gpkg", "grids")
    assert res.rejects["rule"].tolist() == ["wrong_geometry_type"]
    assert "Point" in res.rejects["reason"].iloc[0]


def test_geoparquet_and_geopackage_round_trip(tmp_path):
    shp = tmp_path / "grids.shp"
    _grids_gdf().to_file(shp, encoding="GBK")
    first = read_layer(shp, "grids")
    write_result(first, tmp_path / "store")

    again = read_layer(tmp_path / "store" / "grids.parquet", "grids")
    assert again.rejected_count == 0
    cols = ["grid_code", "grid_name", "grid_type", "village_code", "households", "population"]
    pd.testing.assert_frame_equal(pd.DataFrame(again.accepted[cols]), pd.DataFrame(first.accepted[cols]))
    assert _same_geoms(again.accepted.geometry.to_numpy(), first.accepted.geometry.to_numpy(), 1e-12).all()

    gpkg = tmp_path / "city.gpkg"
    first.accepted.drop(columns="source_row").to_file(gpkg, layer="grids")
    _grids_gdf().iloc[:1].to_file(gpkg, layer="other")  # a second layer: grids is chosen by name
    from_gpkg = read_layer(gpkg, "grids")
    assert from_gpkg.encoding == "UTF-8"
    pd.testing.assert_frame_equal(pd.DataFrame(from_gpkg.accepted[cols]), pd.DataFrame(first.accepted[cols]))
    only_other = read_layer(gpkg, "grids", gpkg_layer="other")
    assert only_other.accepted_count == 1


# --------------------------------------------------------------------------------------------------
# Tables without geometry, duplicates, detection, dates
# --------------------------------------------------------------------------------------------------


def test_table_layer_and_duplicate_keys(tmp_path):
    rows = [
        ["320613001001001", "32061300100101"],
        ["320613001001002", "32061300100101"],
        ["320613001001001", "32061300100102"],  # second binding of the same grid
        ["", ""],  # an empty row is skipped, not counted
        ["320613001001003", "3206130010010"],
    ]
    path = _write_csv(tmp_path / "binding.csv", ["网格编码", "警格编码"], rows)
    res = read_layer(path, "grid_district")
    assert not isinstance(res.accepted, gpd.GeoDataFrame)
    assert res.read == 4
    rej = res.rejects.set_index("source_row")
    assert dict(rej["rule"]) == {3: "duplicate_key", 5: "malformed_code"}
    assert "first at row 1" in rej.loc[3, "reason"]
    write_result(res, tmp_path / "out")
    assert len(pd.read_parquet(tmp_path / "out" / "grid_district.parquet")) == 2


def test_detect_layer_from_name_and_headers(tmp_path):
    assert detect_layer("some/dir/grids.csv") == "grids"
    assert detect_layer(Path("警情.xlsx")) == "incidents"
    assert detect_layer(INCIDENT_HEADER) == "incidents"
    assert detect_layer(GRID_HEADERS) == "grids"
    assert detect_layer(["网格编码", "警格编码"]) == "grid_district"
    assert detect_layer(POC_HEADER) == "persons_of_concern"
    assert detect_layer(["名称", "备注"]) is None
    path = _write_csv(tmp_path / "export_2024.csv", INCIDENT_HEADER, _incident_rows(), "gbk")
    assert detect_layer(path) == "incidents"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05", "2024-03-05 00:00"),
        ("2024/3/5", "2024-03-05 00:00"),
        ("2024.3.5 9:07", "2024-03-05 09:07"),
        ("2024年3月5日", "2024-03-05 00:00"),
        ("2024年3月5日 14时30分", "2024-03-05 14:30"),
        ("20240305", "2024-03-05 00:00"),
        ("20240305143000", "2024-03-05 14:30"),
        ("45356.5", "2024-03-05 12:00"),
        ("2024-03-05T06:30:00Z", "2024-03-05 14:30"),
        ("2024-03-05 14:30:00+08:00", "2024-03-05 14:30"),
    ],
)
def test_parse_datetimes_field_formats(text, expected):
    got = parse_datetimes(pd.Series([text], dtype="str"))
    assert got.iloc[0] == pd.Timestamp(expected)


def test_parse_datetimes_rejects_nonsense():
    got = parse_datetimes(pd.Series(["2024-13-45", "yesterday", None, "2024-02-30"], dtype="str"))
    assert got.isna().all()


def test_old_and_future_dates_rejected(tmp_path):
    future = (pd.Timestamp.now() + pd.Timedelta(days=3)).strftime("%Y-%m-%d")
    rows = [r[:6] for r in _incident_rows()]
    rows[0][1] = "1899-12-31"
    rows[1][1] = future
    path = _write_csv(tmp_path / "d.csv", INCIDENT_HEADER[:6], rows)
    rej = read_layer(path, "incidents").rejects.set_index("source_row")
    assert dict(rej["rule"]) == {1: "bad_date", 2: "bad_date"}
    assert "1900" in rej.loc[1, "reason"] and "future" in rej.loc[2, "reason"]


@settings(max_examples=30, deadline=None)
@given(codes=st.lists(st.from_regex(r"0[0-9]{5,14}", fullmatch=True), min_size=1, max_size=8, unique=True))
def test_leading_zero_ids_survive_csv(tmp_path_factory, codes):
    tmp = tmp_path_factory.mktemp("ids")
    rows = [[c, "2024-03-05", "治安", "是", "120.86", "32.01"] for c in codes]
    res = read_layer(_write_csv(tmp / "i.csv", INCIDENT_HEADER[:6], rows), "incidents")
    assert res.accepted["incident_id"].tolist() == codes


def test_csv_with_wkt_geometry_column(tmp_path):
    gdf = _grids_gdf()
    wkt = [f'"{w}"' for w in shapely.to_wkt(gdf.geometry.to_numpy())]
    rows = [[*map(str, r[:6]), w] for r, w in zip(gdf.drop(columns="geometry").to_numpy(), wkt, strict=True)]
    rows[1][6] = '"POLYGON ((120.87 32, 120.88"'  # truncated WKT
    path = _write_csv(tmp_path / "grids.csv", [*GRID_HEADERS, "WKT"], rows, "gbk")
    res = read_layer(path, "grids")
    assert res.accepted["source_row"].tolist() == [1, 3]
    assert res.rejects["rule"].tolist() == ["empty_geometry"]
    assert "unparseable WKT" in res.rejects["reason"].iloc[0]
    assert res.rejects["reason"].iloc[0].count("empty_geometry") == 1
    assert _same_geoms(res.accepted.geometry.to_numpy(), gdf.geometry.to_numpy()[[0, 2]], 1e-12).all()
