"""Bounded fuzzing of the importers (geo.io.read_layer): CSV, Excel and GeoJSON files of random bytes,
encodings, separators, headers and values. Every file ends either in rows sorted into accepted and
rejected (``read == accepted + rejected``, each rejected row with a known rule) or in an ``IngestError``
naming the file, never in another exception. Each test runs a fixed number of examples (derandomized; 40,
or ``ONEMAP_FUZZ_EXAMPLES`` for a longer run by hand)."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as _ILLEGAL_XML

from data.schema import LAYERS as LAYERS_SCHEMA
from data.schema import Layer
from geo.io import RULES, IngestError, read_layer

FUZZ = settings(
    max_examples=int(os.environ.get("ONEMAP_FUZZ_EXAMPLES", "40")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Target layers: points from lon/lat, polygons from WKT, a table layer, free text with names.
LAYERS = ("incidents", "grids", "population", "disputes", "hazards")
CRSES = ("EPSG:4326", "gcj02", "bd09", 4549)
HEADERS = (
    "警情编号",
    "报警时间",
    "警情类别",
    "有效警情",
    "经度",
    "纬度",
    "身份证号",
    "网格编码",
    "网格名称",
    "网格类型",
    "所属社区",
    "户数",
    "人口数",
    "姓名",
    "联系电话",
    "人员编号",
    "lon",
    "lat",
    "x",
    "y",
    "wkt",
    "geometry",
    "source_row",
    "",
)
CELLS = (
    "",
    " ",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "-0",
    "0",
    "120.9",
    "32.0",
    "32.0,120.9",
    "3.2e1",
    "１２０．９",
    "320613001001001",
    "3.20613001001001e+14",
    "320602199001011234",
    "32060219900101123X",
    "13812345678",
    "2026-10-30 10:00:00",
    "2026/13/45",
    "1899-12-31",
    "9999-12-31 23:59:59",
    "刑事",
    "是",
    "否",
    "综合",
    "张三;李四",
    "POINT (120.9 32.0)",
    "POINT (1e400 1)",
    "POLYGON ((120.9 32, 120.91 32, 120.91 32.01, 120.9 32))",
    "POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))",
    "LINESTRING EMPTY",
    "GEOMETRYCOLLECTION (POINT (1 2))",
    "not wkt (",
    '"quoted, with comma"',
    "line\nbreak",
    "\x00",
    "x" * 5000,
)
ENCODINGS = ("utf-8", "utf-8-sig", "gb18030", "utf-16", "big5", "latin-1")


def _check(path: Path, layer: str, crs) -> None:
    """Import ``path``: a clean split into accepted + rejected rows, or an IngestError naming the file."""
    try:
        result = read_layer(path, layer, crs=crs)
    except IngestError as exc:
        assert str(path) in str(exc)
        return
    assert result.read == result.accepted_count + result.rejected_count
    if result.rejected_count:
        assert set(result.rejects["rule"]) <= set(RULES)
        assert result.rejects["reason"].map(lambda r: isinstance(r, str) and r != "").all()


def _cell_text(value: str, sep: str) -> str:
    if any(ch in value for ch in (sep, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


#: A valid value per column type (so that some rows are accepted and the row rules all run).
GOOD = {
    "datetime": "2026-10-30 10:00:00",
    "date": "2026-10-30",
    "int": "12",
    "float": "3.5",
    "bool": "是",
    "lon": "120.9",
    "lat": "32.0",
    "wkt": "POLYGON ((120.9 32, 120.91 32, 120.91 32.01, 120.9 32))",
}
GEOMETRY_HEADERS = {
    "Point": [("经度", "纬度"), ("lon", "lat"), ("x", "y"), ("wkt",)],
    "Polygon": [("wkt",), ("geometry",), ("空间信息",)],
    None: [()],
}


def _good(layer: Layer, name: str) -> str:
    """A value ``name`` of ``layer`` accepts (geometry headers included)."""
    if name in ("经度", "lon", "x"):
        return GOOD["lon"]
    if name in ("纬度", "lat", "y"):
        return GOOD["lat"]
    if name in ("wkt", "geometry", "空间信息"):
        return GOOD["wkt"] if layer.geometry == "Polygon" else "POINT (120.9 32.0)"
    col = next((c for c in layer.columns if name in (c.name, c.zh)), None)
    if col is None:
        return "备注"
    if col.choices:
        return col.choices[0]
    if col.pattern:
        digits = int(col.pattern.strip("\\d{}").split(",")[0] or 6)
        return ("3206130010010010" * 2)[:digits]
    return GOOD.get(col.dtype, "A0001")


#: Whether a cell gets a good value: mostly, so that whole rows get through and the typing runs too.
_MOSTLY_GOOD = st.integers(0, 5).map(bool)


@st.composite
def layer_tables(draw) -> tuple[str, list[str], list[list[str]]]:
    """A layer, a header with its required columns (Chinese or canonical names, sometimes one missing),
    geometry columns and extras in any order, and rows of good, odd and hostile values."""
    layer = draw(st.sampled_from(LAYERS))
    lay = LAYERS_SCHEMA[layer]
    names = [draw(st.sampled_from([c, lay.column(c).zh])) for c in lay.required]
    if names and draw(st.integers(0, 9)) == 0:
        names.pop(draw(st.integers(0, len(names) - 1)))
    names += list(draw(st.sampled_from(GEOMETRY_HEADERS[lay.geometry])))
    names += draw(st.lists(st.sampled_from(HEADERS) | st.text(max_size=6), max_size=2))
    header = draw(st.permutations(names))
    cell = st.sampled_from(CELLS) | st.text(max_size=12)
    rows = draw(
        st.lists(
            st.lists(_MOSTLY_GOOD, min_size=len(header), max_size=len(header)).flatmap(
                lambda keep: st.tuples(
                    *[st.just(_good(lay, h)) if k else cell for h, k in zip(header, keep, strict=True)]
                )
            ),
            max_size=6,
        )
    )
    return layer, list(header), [list(r) for r in rows]


@FUZZ
@given(
    table=layer_tables(),
    sep=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(ENCODINGS),
    crs=st.sampled_from(CRSES),
    garbage=st.none() | st.binary(max_size=200),
)
def test_fuzzed_csv_files_are_sorted_or_refused_naming_the_file(table, sep, encoding, crs, garbage):
    layer, header, rows = table
    text = "\n".join(sep.join(_cell_text(c, sep) for c in line) for line in [header, *rows])
    data = text.encode(encoding, errors="replace") if garbage is None else garbage
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "现场数据.csv"
        path.write_bytes(data)
        _check(path, layer, crs)


_excel_odd = (
    st.integers(-(10**15), 10**15)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.datetimes()
    | st.none()
)


@FUZZ
@given(
    table=layer_tables(),
    titles=st.integers(0, 2),
    odd=st.lists(st.tuples(st.integers(0, 50), _excel_odd), max_size=5),
    corrupt=st.none() | st.integers(0, 4000),
)
def test_fuzzed_excel_files_are_sorted_or_refused_naming_the_file(table, titles, odd, corrupt):
    layer, header, rows = table
    wb = openpyxl.Workbook()
    ws = wb.active
    for i in range(titles):
        ws.append([f"标题行 {i}"])
    ws.append([_ILLEGAL_XML.sub("", h) for h in header])
    for row in rows:
        ws.append([_ILLEGAL_XML.sub("", v) for v in row])
    for at, value in odd:  # typed cells: numbers, dates, booleans, blanks
        ws.cell(row=titles + 2 + at % (len(rows) + 1), column=1 + at % len(header), value=value)
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if corrupt is not None:  # one byte of the zip flipped
        i = corrupt % len(data)
        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "台账.xlsx"
        path.write_bytes(data)
        _check(path, layer, "EPSG:4326")


_numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**70), 2**70)
_position = st.lists(_numbers | st.text(max_size=3) | st.none(), max_size=4) | st.just([120.9, 32.0])
_geometries = st.one_of(
    st.none(),
    st.fixed_dictionaries({"type": st.just("Point"), "coordinates": _position}),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["Polygon", "LineString", "MultiPolygon"]),
            "coordinates": st.lists(st.lists(_position, max_size=5), max_size=2),
        }
    ),
    st.just({"type": "Polygon", "coordinates": [[[120.9, 32], [120.91, 32], [120.91, 32.01], [120.9, 32]]]}),
    st.fixed_dictionaries({"type": st.text(max_size=10), "coordinates": st.just([])}),
    st.dictionaries(st.text(max_size=5), _numbers, max_size=2),
)
_json_values = (
    st.sampled_from(CELLS) | _numbers | st.booleans() | st.none() | st.lists(st.integers(), max_size=2)
)


@FUZZ
@given(
    table=layer_tables(),
    geometries=st.lists(_geometries, min_size=6, max_size=6),
    odd=st.dictionaries(st.sampled_from(HEADERS) | st.text(max_size=6), _json_values, max_size=3),
    raw=st.none() | st.text(max_size=60),
)
def test_fuzzed_geojson_files_are_sorted_or_refused_naming_the_file(table, geometries, odd, raw):
    layer, header, rows = table
    features = [
        {"type": "Feature", "geometry": geom, "properties": {**dict(zip(header, row, strict=True)), **odd}}
        for row, geom in zip(rows, geometries, strict=False)
    ]
    doc = {"type": "FeatureCollection", "features": features}
    text = json.dumps(doc, ensure_ascii=False, allow_nan=True) if raw is None else raw
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "上报.geojson"
        path.write_text(text, encoding="utf-8")
        _check(path, layer, "EPSG:4326")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".geojson", ".parquet", ".shp", ".gpkg"])
def test_empty_and_truncated_files_are_refused_naming_the_file(tmp_path, suffix):
    for data in (b"", b"\x00" * 10, b"PK\x03\x04broken"):
        path = tmp_path / f"坏文件{suffix}"
        path.write_bytes(data)
        with pytest.raises(IngestError) as err:
            read_layer(path, "incidents")
        assert str(path) in str(err.value)


def test_a_deadline_past_what_datetimes_hold_is_a_bad_date_not_a_crash(tmp_path):
    """Found by the fuzz above: an Excel cell 2263 in a deadline column overflowed the datetimes."""
    path = tmp_path / "隐患.csv"
    path.write_text(
        "隐患编号,隐患类型,隐患等级,发现日期,整改期限,经度,纬度\n"
        "H1,消防,一般,2026-10-30,2263,120.9,32.0\n"
        "H2,消防,一般,2026-10-30,2199-12-31,120.9,32.0\n",
        encoding="utf-8",
    )
    result = read_layer(path, "hazards")
    assert list(result.accepted.hazard_id) == ["H2"]
    assert list(result.rejects.rule) == ["bad_date"] and "2200" in result.rejects.reason.iloc[0]
