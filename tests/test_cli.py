"""The ``onemap`` command end to end: messy field files, import that loses no row, validation, schema."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from data.schema import SchemaDoc
from onemap.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def messy(tiny_demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("messy")
    result = CliRunner().invoke(main, ["messy", "--from", str(tiny_demo), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "expected.json").read_text(encoding="utf-8"))


def _validate_json(messy_dir: Path) -> tuple[int, list[dict]]:
    incidents = f"incidents={messy_dir / 'incidents_gbk.csv'}@gcj02"
    args = [
        "validate", "--grids", str(messy_dir / "grids_gbk.shp"),
        "--districts", str(messy_dir / "districts.geojson"),
        "--points", incidents, "--points", str(messy_dir / "persons_of_concern.xlsx"), "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(main, args)
    return result.exit_code, json.loads(result.stdout)


def test_validate_finds_every_planted_defect(messy):
    folder, manifest = messy
    code, problems = _validate_json(folder)
    assert code == 1
    assert all({"rule", "layer", "ids", "detail"} <= set(p) for p in problems)
    for planted in manifest["expected"]:
        hits = [p for p in problems if p["rule"] == planted["rule"] and set(planted["ids"]) <= set(p["ids"])]
        assert hits, f"not found: {planted}"
    assert {p["rule"] for p in problems} >= {
        "invalid_geometry", "malformed_code", "duplicate_code", "overlap", "gap", "unbound_grid",
        "grid_outside_district", "point_outside_grids", "bad_coordinate", "bad_id_number", "bad_date",
    }  # fmt: skip


def _file_rows(path: Path) -> int:
    if path.suffix == ".csv":
        return len(pd.read_csv(path, encoding="gb18030", dtype=str))
    if path.suffix == ".xlsx":
        return openpyxl.load_workbook(path, read_only=True).active.max_row - 1
    return pyogrio.read_info(path)["features"]


@pytest.mark.parametrize(
    ("name", "crs"),
    [
        ("grids_gbk.shp", "EPSG:4326"),
        ("incidents_gbk.csv", "gcj02"),
        ("persons_of_concern.xlsx", "EPSG:4326"),
    ],
)
def test_import_loses_no_row(messy, tmp_path, name, crs):
    folder, manifest = messy
    layer = manifest["files"][name]["layer"]
    out = tmp_path / "imported"
    result = CliRunner().invoke(
        main, ["import", str(folder / name), "--layer", layer, "--crs", crs, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "rejects" / f"{layer}.report.json").read_text(encoding="utf-8"))
    rows = _file_rows(folder / name)
    assert report["read"] == rows
    assert report["accepted"] + report["rejected"] == rows
    assert sum(report["by_rule"].values()) == report["rejected"]
    accepted = pd.read_parquet(out / f"{layer}.parquet")
    rejects = pd.read_csv(out / "rejects" / f"{layer}.rejects.csv", encoding="utf-8-sig", dtype=str)
    assert len(accepted) == report["accepted"] and len(rejects) == report["rejected"]
    planted = {e["ids"][0] for e in manifest["expected"] if e["file"] == name and e["rule"] not in (
        "overlap", "gap", "unbound_grid", "grid_outside_district", "point_outside_grids")}  # fmt: skip
    key_header = {"grids": "网格编码", "incidents": "警情编号", "persons_of_concern": "关注人员编号"}[layer]
    assert planted <= set(rejects[key_header]) | {e["ids"][0] for e in manifest["expected"]
                                                   if e["rule"] == "duplicate_code"}  # fmt: skip
    assert "reason" in rejects.columns and rejects["reason"].str.len().gt(0).all()


def test_validate_demo_reports_only_planted_out_of_grid_points(tiny_demo):
    result = CliRunner().invoke(main, ["validate", "--data", str(tiny_demo), "--json"])
    problems = json.loads(result.stdout)
    errors = [p for p in problems if p.get("severity", "error") == "error"]
    assert {p["rule"] for p in errors} == {"point_outside_grids"}
    incidents = gpd.read_parquet(tiny_demo / "incidents.parquet")
    stray = set(incidents.loc[incidents.grid_code.isna(), "incident_id"])
    reported = {i for p in errors if p["layer"] == "incidents" for i in p["ids"]}
    assert reported == stray and len(stray) >= 5
    assert result.exit_code == 1


def test_schema_doc_is_in_sync():
    doc = ROOT / "docs" / "schema.md"
    assert doc.read_text(encoding="utf-8") == SchemaDoc().render(), (
        "run: onemap schema --markdown > docs/schema.md"
    )


def test_up_builds_then_reuses(tmp_path):
    runner = CliRunner()
    first = runner.invoke(main, ["up", "--data", str(tmp_path / "city"), "--scale", "tiny", "--no-serve"])
    assert first.exit_code == 0, first.output
    assert "首次运行" in first.output and "校验 validation" in first.output
    assert (tmp_path / "city" / "manifest.json").exists()
    second = runner.invoke(main, ["up", "--data", str(tmp_path / "city"), "--no-serve"])
    assert second.exit_code == 0 and "使用已有演示城市" in second.output


def test_unknown_layer_is_a_clear_error(tmp_path):
    f = tmp_path / "mystery.csv"
    f.write_text("a,b\n1,2\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(f), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "mystery.csv" in result.output and "--layer" in result.output


def test_assign_adds_codes_that_match_the_generator(tiny_demo, tmp_path):
    out = tmp_path / "assigned.parquet"
    args = ["assign", "--points", f"incidents={tiny_demo / 'incidents.parquet'}",
            "--grids", str(tiny_demo / "grids.parquet"), "--districts", str(tiny_demo / "districts.parquet"),
            "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assigned = gpd.read_parquet(out)
    source = gpd.read_parquet(tiny_demo / "incidents.parquet")
    assert len(assigned) == len(source)
    codes = assigned[["incident_id", "grid_code", "station_code"]]
    merged = source[["incident_id", "grid_code"]].merge(codes, on="incident_id", suffixes=("_demo", ""))
    inside = merged.grid_code_demo.notna()
    assert (merged.grid_code[inside] == merged.grid_code_demo[inside]).all()
    assert merged.grid_code[~inside].isna().all()
    assert merged.station_code[inside].notna().all()
    assert f"{(~inside).sum():,} outside every grid" in result.output


def test_models_list_and_run(tiny_demo):
    runner = CliRunner()
    listed = runner.invoke(main, ["models", "list"])
    assert listed.exit_code == 0 and len(listed.output.strip().splitlines()) == 15
    ran = runner.invoke(
        main,
        [
            "models",
            "run",
            "--no-store",
            "--data",
            str(tiny_demo),
            "--as-of",
            "2026-10-31",
            "HAZ-01",
            "POC-01",
        ],
    )
    assert ran.exit_code == 0, ran.output
    assert "HAZ-01" in ran.output and "POC-01" in ran.output and "ADDR-01" not in ran.output
    bad = runner.invoke(main, ["models", "run", "--data", str(tiny_demo), "NOPE-9"])
    assert bad.exit_code != 0 and "NOPE-9" in bad.output


def test_up_loads_the_store_runs_the_models_and_makes_demo_users(tmp_path, monkeypatch):
    """``onemap up`` on a pinned 'today': the city ends today, its warning loop up to now leaves the demo
    worker and officer orders in every state, and the dashboard's default view (近30天) counts them."""
    from dashboard.queries import Queries
    from dashboard.state import ViewState
    from data import clock
    from data.store import open_store
    from data.store import users as U
    from data.store.demo_history import LIVE_STATES

    now = dt.datetime(2026, 11, 20, 14, 30, 5)
    monkeypatch.setattr(clock, "now", lambda: now)
    folder = tmp_path / "city"
    result = CliRunner().invoke(main, ["up", "--data", str(folder), "--scale", "tiny", "--no-serve"])
    assert result.exit_code == 0, result.output
    store = open_store(data_dir=folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert store.count("incidents") == manifest["counts"]["incidents"]
        assert store.count("warnings") > 0
        # the demo is a recorded history: its models pushed weekly up to its end (inside the dashboard's
        # periods), and the orders were worked up to that end
        until = dt.date.fromisoformat(manifest["until"][:10])
        pushed = store.work_orders(kinds=["预警推送"], page_size=10_000)
        assert pushed.total == store.count("warnings") <= 10_000
        days = set(pushed.frame["created_at"].dt.date)
        assert max(days) == until and len(days) > 1
        assert all((until - d).days % 7 == 0 for d in days)
        states = pushed.frame.state.value_counts()
        assert states.get("已办结", 0) > len(pushed.frame) / 2 and states.get("待签收", 0) > 0
        users = (folder / "demo_users.txt").read_text(encoding="utf-8")
        assert "admin" in users and "grid_worker" in users
        assert oct((folder / "demo_users.txt").stat().st_mode & 0o777) == "0o600"
        # live today: the history ends now, nothing is left for the overdue sweep to find
        assert until == now.date() and max(pushed.frame["created_at"]) == now
        assert store.sweep_overdue(now=now) == 0
        accounts = U.list_users(store).set_index("user_id")
        start, end = ViewState().dates(Queries(store).as_of())
        assert end == now.date()
        for user_id in ("worker", "officer"):
            staff_id, unit = accounts.loc[user_id, "staff_id"], accounts.loc[user_id, "unit_code"]
            mine = store.work_orders(assignee=staff_id, page_size=1000).frame
            assert set(LIVE_STATES) <= set(mine.state), (user_id, mine.state.value_counts())
            assert (mine.created_at <= now).all()
            shown = store.work_order_stats(None, start, end, by="state", scope=unit, now=now)
            counted = set(shown.loc[shown.orders > 0, "state"])
            assert set(LIVE_STATES) <= counted, (user_id, shown)
    finally:
        store.close()
    again = CliRunner().invoke(main, ["up", "--data", str(folder), "--no-serve", "--end", "2026-11-19"])
    assert again.exit_code != 0 and "2026-11-20" in again.output and "2026-11-19" in again.output
    bad = CliRunner().invoke(main, ["up", "--data", str(folder), "--no-serve", "--end", "2026-02-30"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output


def _city_in_store(tiny_demo, tmp_path) -> Path:
    """A copy of the tiny demo's layers (without other tests' stores) loaded into its embedded store."""
    import shutil

    folder = tmp_path / "city"
    shutil.copytree(tiny_demo, folder, ignore=shutil.ignore_patterns("onemap.sqlite*"))
    loaded = CliRunner().invoke(main, ["import", str(folder), "--store", "embedded", "--data", str(folder)])
    assert loaded.exit_code == 0, loaded.output
    return folder


def test_models_run_stores_warnings_once(tiny_demo, tmp_path):
    from data.store import open_store

    folder = _city_in_store(tiny_demo, tmp_path)
    runner = CliRunner()
    first = runner.invoke(main, ["models", "run", "--data", str(folder), "HAZ-01", "DISP-02"])
    assert first.exit_code == 0, first.output
    new = int(first.output.split("store: ")[1].split()[0])
    assert new > 0
    again = runner.invoke(main, ["models", "run", "--data", str(folder), "HAZ-01", "DISP-02"])
    assert f"store: 0 new warnings (pushed as work orders), {new} already stored" in again.output
    store = open_store(data_dir=folder)
    try:
        assert store.count("warnings") == new
    finally:
        store.close()


def test_models_run_pushes_at_the_clock_or_at_the_runs_moment(tiny_demo, tmp_path):
    from data.store import open_store

    folder = _city_in_store(tiny_demo, tmp_path)
    runner = CliRunner()
    run = ["models", "run", "--data", str(folder)]
    replay = runner.invoke(main, [*run, "--as-of", "2026-09-30", "--push-at", "as-of", "HAZ-01"])
    assert replay.exit_code == 0, replay.output
    live = runner.invoke(main, [*run, "DISP-02"])
    assert live.exit_code == 0, live.output
    store = open_store(data_dir=folder)
    try:
        orders = store.work_orders(kinds=["预警推送"], page_size=10_000).frame
        prefix = orders["summary"].str.slice(0, 9)
        replayed = orders.loc[prefix == "[HAZ-01] ", "created_at"]
        clocked = orders.loc[prefix == "[DISP-02]", "created_at"]
        assert len(replayed) and len(clocked)
        assert set(replayed) == {pd.Timestamp("2026-09-30 23:59:59")}
        assert set(clocked.dt.date) == {dt.date.today()}
    finally:
        store.close()


def test_orders_sweep_marks_overdue_orders_once(tiny_demo, tmp_path):
    from data.store import open_store

    folder = _city_in_store(tiny_demo, tmp_path)
    store = open_store(data_dir=folder)
    try:
        at = pd.Timestamp("2027-01-01 12:00").to_pydatetime()
        open_states = ["待签收", "已签收", "处置中", "已反馈"]
        frame = store.work_orders(page_size=10_000)
        assert frame.total <= 10_000
        frame = frame.frame
        due = frame[frame.state.isin(open_states) & (frame.deadline < at) & frame.overdue_at.isna()]
    finally:
        store.close()
    runner = CliRunner()
    first = runner.invoke(main, ["orders", "sweep", "--data", str(folder), "--at", "2027-01-01 12:00"])
    assert first.exit_code == 0, first.output
    assert f"{len(due)} work order(s) marked 超期" in first.output and len(due) > 0
    again = runner.invoke(main, ["orders", "sweep", "--data", str(folder), "--at", "2027-01-01 12:00"])
    assert "0 work order(s) marked 超期" in again.output
    bad = runner.invoke(main, ["orders", "sweep", "--data", str(folder), "--at", "yesterday-ish"])
    assert bad.exit_code != 0 and "--at" in bad.output


def test_import_a_messy_file_into_the_store_loses_no_row(tiny_demo, tmp_path):
    from data.store import open_store

    messy = tmp_path / "messy"
    assert CliRunner().invoke(main, ["messy", "--from", str(tiny_demo), "--out", str(messy)]).exit_code == 0
    csv = next(messy.glob("*.csv"))
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["import", str(csv), "--store", "embedded", "--data", str(data)])
    assert result.exit_code == 0, result.output
    accepted = int(result.output.split("accepted ")[1].split(",")[0])
    store = open_store(data_dir=data)
    try:
        layer = result.output.split(" → ")[1].split(":")[0]
        assert store.count(layer) == accepted
    finally:
        store.close()


def test_users_cli(tiny_demo, tmp_path):
    folder = _city_in_store(tiny_demo, tmp_path)
    runner = CliRunner()
    ok = runner.invoke(
        main,
        [
            "users",
            "add",
            "--data",
            str(folder),
            "li",
            "--role",
            "analyst",
            "--unit",
            "320612",
            "--password",
            "long-enough-1",
        ],
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(
        main,
        [
            "users",
            "add",
            "--data",
            str(folder),
            "zhao",
            "--role",
            "boss",
            "--unit",
            "320612",
            "--password",
            "long-enough-1",
        ],
    )
    assert bad.exit_code != 0 and "unknown role" in bad.output
    nowhere = runner.invoke(
        main,
        [
            "users",
            "add",
            "--data",
            str(folder),
            "qian",
            "--role",
            "analyst",
            "--unit",
            "999999",
            "--password",
            "long-enough-1",
        ],
    )
    assert nowhere.exit_code != 0 and "999999" in nowhere.output
    assert runner.invoke(main, ["users", "disable", "--data", str(folder), "li"]).exit_code == 0
    listed = runner.invoke(main, ["users", "list", "--data", str(folder)])
    assert "li" in listed.output and "停用" in listed.output and "scrypt" not in listed.output


def test_brief_command_names_an_unknown_unit(tiny_demo, tmp_path):
    folder = _city_in_store(tiny_demo, tmp_path)
    runner = CliRunner()
    bad = runner.invoke(
        main,
        [
            "brief",
            "--data",
            str(folder),
            "--unit",
            "999999",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-31",
            "--out",
            str(tmp_path / "b.pdf"),
        ],
    )
    assert bad.exit_code != 0 and "999999" in bad.output


def test_serving_an_empty_folder_says_what_to_run(tmp_path):
    """`onemap serve` on a folder whose store holds no city exits 2 with what to run, no traceback, and
    serves nothing (the server would be started after the check)."""
    folder = tmp_path / "empty"
    folder.mkdir()
    result = CliRunner().invoke(main, ["serve", "--data", str(folder), "--port", "1"])
    assert result.exit_code == 2, result.output
    assert "onemap up" in result.output and "onemap import" in result.output
    assert "没有城市数据" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_demo_end_day_defaults_to_today_and_is_checked(tmp_path, monkeypatch):
    from data import clock

    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2027, 3, 1, 0, 5))
    out = tmp_path / "city"
    made = CliRunner().invoke(main, ["demo", "--out", str(out), "--no-gpkg"])
    assert made.exit_code == 0, made.output
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["until"] == "2027-03-01"
    days = pd.read_parquet(out / "incidents.parquet", columns=["occurred_at"]).occurred_at.dt.date
    assert days.max() == dt.date(2027, 3, 1)
    for flag, bad in (
        ("--end", "2026-11-31"),
        ("--end", "yesterday"),
        ("--until", "1/3/2027"),
        ("--end", ""),
    ):
        refused = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "x"), flag, bad])
        assert refused.exit_code == 2 and "YYYY-MM-DD" in refused.output, (flag, bad)
    assert not (tmp_path / "x").exists()
