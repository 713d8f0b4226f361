"""Briefing maps (简报地图): figures against pandas on the same store, PNG/PDF export, concurrent exports."""

from __future__ import annotations

import datetime as dt
import os
import struct
import threading
import unicodedata
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pypdf
import pytest
import sqlalchemy as sa

from dashboard import brief as B
from data.schema import INCIDENT_CATEGORIES
from data.store import UnknownUnitError
from data.store import tables as T
from layers.basemap import external_urls

START, END = "2026-08-01", "2026-09-30"
GENERATED = dt.date(2026, 10, 8)
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module", autouse=True)
def _stop_renderer():
    yield
    B.close_renderer()


@pytest.fixture
def browser():
    """Skip export tests without Chromium, except in CI where they must run."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"briefing export needs {CHROMIUM} in CI (apt-get install chromium)")
        pytest.skip(f"briefing export needs headless Chromium at {CHROMIUM}; not installed")


def _county(store) -> str:
    return str(store.units(level="county").unit_code.sort_values().iloc[0])


@pytest.fixture(scope="module")
def made(loaded):
    """(county code, brief data, brief figure) of the first county over START..END, per backend."""
    county = _county(loaded)
    data = B.brief_data(loaded, county, START, END, generated=GENERATED)
    return county, data, B.brief_figure(loaded, county, START, END, generated=GENERATED)


def _incidents(store, unit, start, end) -> pd.DataFrame:
    frame = store.read("incidents", unit, start, end, columns=["occurred_at", "category", "grid_code"])
    return frame.assign(day=pd.to_datetime(frame["occurred_at"]).dt.normalize())


def _n(frame: pd.DataFrame, lo, hi) -> int:
    return int(((frame.day >= pd.Timestamp(lo)) & (frame.day <= pd.Timestamp(hi))).sum())


def _table(fig, first_header: str):
    return next(t for t in fig.data if t.type == "table" and t.header.values[0] == f"<b>{first_header}</b>")


def _text(path: Path) -> str:
    """Text of a one-page PDF, NFKC-normalised (Chromium's PDF maps 比 to U+2F50), without whitespace."""
    text = pypdf.PdfReader(path).pages[0].extract_text()
    return "".join(unicodedata.normalize("NFKC", text).split())


def _png(path: Path) -> np.ndarray:
    """Pixels of an 8-bit RGB/RGBA PNG (no Pillow needed): height × width × channels."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            size = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    width, height, depth, colour = size
    assert depth == 8 and colour in (2, 6)
    bpp = 4 if colour == 6 else 3
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, width * bpp + 1)
    out = np.zeros((height, width * bpp), np.int64)
    prev = np.zeros(width * bpp, np.int64)
    for y in range(height):
        f, line = rows[y, 0], rows[y, 1:].astype(np.int64)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) % 256
        elif f == 1:
            cur = (np.cumsum(line.reshape(width, bpp), axis=0) % 256).ravel()
        else:  # Average / Paeth: sequential within the row
            cur = line.copy()
            for i in range(len(cur)):
                a = cur[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                if f == 3:
                    cur[i] = (cur[i] + (a + b) // 2) % 256
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) % 256
        out[y], prev = cur, cur
    return out.reshape(height, width, bpp)


# ---------------------------------------------------------------------------------------------- figures


def test_figure_counts_equal_pandas_on_the_incidents(loaded, made):
    county, _, fig = made
    w = {  # written out, not from B.windows_for, so that a wrong window fails
        "period": (START, END),
        "period_prev": ("2025-08-01", "2025-09-30"),
        "d28": ("2026-09-03", END),
        "d28_prev": ("2026-08-06", "2026-09-02"),
        "ytd": ("2026-01-01", END),
        "ytd_prev": ("2025-01-01", "2025-09-30"),
    }
    inc = _incidents(loaded, county, "2025-01-01", END)
    expect = {name: _n(inc, a, b) for name, (a, b) in w.items()}
    assert expect["period"] > 0 and expect["d28"] != expect["d28_prev"]

    meta = fig.layout.meta
    assert meta["unit_code"] == county and meta["start"] == START and meta["end"] == END
    assert {k: meta[k] for k in expect} == expect

    table = _table(fig, "类别")
    rows = list(table.cells.values[0])
    assert rows[: len(INCIDENT_CATEGORIES)] == list(INCIDENT_CATEGORIES)
    in_period = inc[(inc.day >= pd.Timestamp(START)) & (inc.day <= pd.Timestamp(END))]
    by_cat = in_period.groupby("category").size()
    now = [int(v.replace(",", "")) for v in table.cells.values[1]]
    assert now[: len(INCIDENT_CATEGORIES)] == [int(by_cat.get(c, 0)) for c in INCIDENT_CATEGORIES]
    total = rows.index("合计")
    assert now[total] == expect["period"]
    # 28-day change (环比) of the total: last 28 days against the 28 before
    assert int(table.cells.values[4][total].replace(",", "")) == expect["d28"]
    assert int(table.cells.values[5][total].replace(",", "")) == expect["d28_prev"]
    assert table.cells.values[6][total] == B.change_text(expect["d28"], expect["d28_prev"])
    assert table.cells.values[6][total].startswith("↑" if expect["d28"] > expect["d28_prev"] else "↓")


def test_children_grids_and_work_orders_equal_pandas(loaded, made):
    county, data, fig = made
    inc = _incidents(loaded, county, START, END)
    gu = loaded.grid_units(county)
    per_township = inc.merge(gu, on="grid_code").groupby("township_code").size()
    got = data.children.set_index("code")["n"]
    assert got[got > 0].sort_index().to_dict() == per_township.sort_index().to_dict()
    assert data.children["n"].is_monotonic_decreasing
    assert sorted(data.map_frame["code"]) == sorted(data.children["code"])  # every township drawn
    top_grid = inc.groupby("grid_code").size().sort_values(ascending=False)
    assert data.top_grids["n"].iloc[0] == top_grid.iloc[0]

    orders = loaded.read("work_orders", county, START, END, columns=["state"])
    assert data.work_orders["orders"] == len(orders) > 0
    assert data.work_orders["closure_rate"] == pytest.approx((orders.state == "已办结").mean())
    card = [a.text for a in fig.layout.annotations if a.text.startswith("共 ")]
    assert card == [f"共 {len(orders):,} 件 · 未办结 {int((orders.state != '已办结').sum()):,}"]


def test_scope_limits_every_figure(loaded):
    county = _county(loaded)
    inc = _incidents(loaded, county, START, END)
    scoped = B.brief_data(loaded, None, START, END, scope=county, gi_star=False)
    assert scoped.count("period") == len(inc) and scoped.scoped
    assert scoped.children["code"].tolist() == [county]  # the city's counties, cut to the scope
    whole = B.brief_data(loaded, None, START, END, gi_star=False)
    assert whole.count("period") > len(inc) and len(whole.children) > 1
    nothing = B.brief_data(loaded, None, START, END, scope=[], generated=GENERATED)
    assert nothing.count("period") == 0 and nothing.children.empty and nothing.work_orders["orders"] == 0


def test_errors_name_the_problem(loaded):
    with pytest.raises(UnknownUnitError, match="999999"):
        B.brief_figure(loaded, "999999", START, END)
    with pytest.raises(UnknownUnitError, match="999999"):
        B.brief(loaded, "999999", START, END, "/nonexistent/brief.pdf")
    with pytest.raises(ValueError, match="after it ends"):
        B.brief_figure(loaded, _county(loaded), END, START)
    with pytest.raises(ValueError, match=r"\.png or \.pdf"):
        B.brief(loaded, _county(loaded), START, END, "brief.svg")


def test_the_page_needs_no_internet(made):
    fig = made[2]
    assert external_urls(fig.to_dict()) == []
    assert not any(getattr(t, "type", "").endswith(("map", "mapbox", "geo")) for t in fig.data)
    page = B.export_page().generate_index()
    assert "<script" in page and "http" not in page.lower()  # plotly.js bundled, MathJax off


def test_brief_filename_is_safe():
    name = B.brief_filename("崇川区/../a:b*\x00\n 街道", "2026-08-01", dt.date(2026, 9, 30), "PDF")
    assert name.startswith("治安态势简报_崇川区") and name.endswith("_20260801-20260930.pdf")
    assert not any(c in name for c in '/\\:*?"<>|') and name.isprintable() and " " not in name
    assert B.brief_filename("", START, END, "png").endswith(".png")
    with pytest.raises(ValueError, match="png or pdf"):
        B.brief_filename("x", START, END, "svg")


# ---------------------------------------------------------------------------------------------- export


def test_a_browser_that_cannot_start_raises_instead_of_hanging(monkeypatch, tmp_path):
    import kaleido

    def no_browser(*args, **kwargs):
        raise RuntimeError("no chrome here")

    B.close_renderer()
    monkeypatch.setattr(kaleido, "Kaleido", no_browser)
    with pytest.raises(B.BriefExportError, match="no chrome here"):
        B.render_brief(go.Figure(), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(ValueError, match="suffix"):
        B.render_brief(go.Figure(), tmp_path / "x")


def test_pdf_is_one_page_with_the_unit_and_period(loaded, made, browser, tmp_path):
    county, data, _ = made
    out = B.brief(loaded, county, START, END, tmp_path / "sub" / "brief.pdf")
    assert out == tmp_path / "sub" / "brief.pdf"
    assert len(pypdf.PdfReader(out).pages) == 1
    text = _text(out)
    total = data.count("period")
    assert loaded.unit(county).name in text
    assert f"{START}至{END}" in text
    assert "治安态势简报" in text and f"{total:,}" in text
    assert not list(out.parent.glob(".*"))  # no temporary file left behind
    # the document's own title (a PDF reader's title bar) is the briefing's, in Chinese, no tool's name
    info = pypdf.PdfReader(out).metadata
    assert info.title == f"治安态势简报 · {loaded.unit(county).name} · {START}至{END}"
    assert all("kaleido" not in str(v).lower() and "chrom" not in str(v).lower() for v in info.values())


def test_the_screens_briefing_button_sends_the_view_in_the_users_scope(loaded, browser, tmp_path):
    """The 简报 button of the screens: the unit and period of the URL, drawn for the logged-in user; a
    unit outside their scope in a crafted URL gives their own unit's briefing, never the other one."""
    import json

    from dashboard.app import AppConfig, create_app
    from data.store.users import add_user

    counties = sorted(loaded.units("county")["unit_code"])
    mine, other = counties[0], counties[1]
    add_user(loaded, "brief_analyst", "brief-test-pass-1", "analyst", mine)
    app = create_app(loaded, AppConfig(data_dir=tmp_path))
    c = app.server.test_client()
    assert (
        c.post("/login", json={"user": "brief_analyst", "password": "brief-test-pass-1"}).status_code == 200
    )

    def press(unit: str, fmt: str = "pdf") -> dict:
        ident = {"fmt": fmt, "type": "brief"}
        others = [
            {"id": {"fmt": f, "type": "brief"}, "property": "n_clicks", "value": None} for f in B.FORMATS
        ]
        inputs = [[dict(o, value=1) if o["id"] == ident else o for o in others]]
        body = {
            "output": "brief-download.data",
            "outputs": {"id": "brief-download", "property": "data"},
            "inputs": inputs,
            "state": [
                {"id": "url", "property": "pathname", "value": "/overview"},
                {"id": "url", "property": "search", "value": f"?unit={unit}&from={START}&to={END}"},
            ],
            "changedPropIds": [json.dumps(ident, separators=(",", ":"), sort_keys=True) + ".n_clicks"],
        }
        r = c.post("/_dash-update-component", json=body)
        assert r.status_code == 200, r.get_data(as_text=True)[:500]
        return r.get_json()["response"]["brief-download"]["data"]

    import base64
    import io

    sent = press(mine)
    name = loaded.unit(mine).name
    assert sent["filename"] == B.brief_filename(name, START, END, "pdf")
    pdf = pypdf.PdfReader(io.BytesIO(base64.b64decode(sent["content"])))
    assert pdf.metadata.title == f"治安态势简报 · {name} · {START}至{END}"
    crafted = press(other)
    assert loaded.unit(other).name not in crafted["filename"] and name in crafted["filename"]
    png = press(mine, "png")
    assert png["filename"].endswith(".png") and base64.b64decode(png["content"])[:4] == b"\x89PNG"


def test_png_has_the_page_size_and_is_not_blank(made, browser, tmp_path):
    out = B.render_brief(made[2], tmp_path / "brief.png")
    pixels = _png(out)
    assert pixels.shape[:2] == (B.PAGE_HEIGHT, B.PAGE_WIDTH)
    rgb = pixels[..., :3].astype(float)
    assert rgb.std() > 20  # a blank page has none
    assert len(np.unique(rgb.reshape(-1, 3)[::97], axis=0)) > 50  # map classes, text, tables


def test_two_threads_get_their_own_images(loaded, made, browser, tmp_path):
    county, _, light = made
    dark = B.brief_figure(loaded, county, START, END, theme="dark", generated=GENERATED)
    figs = {"light": light, "dark": dark}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def export(theme):
        try:
            barrier.wait()
            B.render_brief(figs[theme], tmp_path / f"{theme}.png")
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=export, args=(theme,)) for theme in figs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    light = _png(tmp_path / "light.png")[..., :3].mean()
    dark = _png(tmp_path / "dark.png")[..., :3].mean()
    assert light > 180 and dark < 90  # each file holds its own theme's page


def test_children_without_polygons_are_drawn_from_their_grids(store):
    county = _county(store)
    admin = T.LAYER_TABLES["admin_units"]
    with store.begin() as conn:
        conn.execute(sa.delete(admin).where(admin.c.level == "township"))
    data = B.brief_data(store, county, START, END, gi_star=False)
    assert sorted(data.map_frame["code"]) == sorted(data.children["code"]) != []
    grids = store.features("grids", county, columns=["grid_code"])
    assert data.map_frame.union_all().area == pytest.approx(grids.union_all().area, rel=0.02)
