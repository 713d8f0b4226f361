"""Files holding personal data are readable by their owner only (0600, folders 0700), whatever the
umask of the shell that started the process; ``onemap up`` / ``onemap serve`` warn about a data folder
others may read."""

from __future__ import annotations

import os
import stat

import pytest
from click.testing import CliRunner

from data.private import PRIVATE_UMASK, exposed, exposure_warning, make_private, private_umask


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def loose_umask():
    """The umask of a careless shell (0o022: everything world-readable), restored afterwards."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_sqlite_store_and_its_wal_and_shm_are_private(tmp_path, loose_umask):
    from data.store import open_store

    store = open_store(url="", data_dir=tmp_path / "data")
    try:
        store.append_audit("someone", "unmask", "population:P1", reason="核查身份信息")
        files = [tmp_path / "data" / f"onemap.sqlite{s}" for s in ("", "-wal", "-shm")]
        assert all(f.exists() for f in files)
        assert {_mode(f) for f in files} == {0o600}
    finally:
        store.close()


def test_an_existing_world_readable_store_is_tightened_when_opened(tmp_path, loose_umask):
    from data.store import open_store

    open_store(url="", data_dir=tmp_path).close()
    for suffix in ("", "-wal", "-shm"):
        path = tmp_path / f"onemap.sqlite{suffix}"
        if path.exists():
            path.chmod(0o644)
    store = open_store(url="", data_dir=tmp_path)
    try:
        store.append_audit("someone", "login")
        for suffix in ("", "-wal", "-shm"):
            path = tmp_path / f"onemap.sqlite{suffix}"
            assert not path.exists() or _mode(path) == 0o600, path
    finally:
        store.close()


def test_the_demo_city_layers_are_private(tiny_demo):
    assert _mode(tiny_demo) == 0o700
    files = [p for p in tiny_demo.rglob("*") if p.is_file()]
    assert files and {_mode(p) for p in files} == {0o600}
    assert exposed(tiny_demo) == []


def test_imported_layers_and_rejects_are_private(tmp_path, loose_umask):
    import pandas as pd

    from geo.io import read_layer, write_result

    src = tmp_path / "incidents.csv"
    pd.DataFrame(
        {
            "incident_id": ["J1", "J2"],
            "occurred_at": ["2026-01-01 08:00:00", "not a time"],
            "category": ["刑事", "治安"],
            "caller_phone": ["13812345678", "13912345678"],
            "lon": [120.9, 120.9],
            "lat": [32.0, 32.0],
        }
    ).to_csv(src, index=False)
    result = read_layer(src, "incidents")
    report = write_result(result, tmp_path / "out")
    for key in ("accepted", "rejects", "report"):
        assert _mode(report["outputs"][key]) == 0o600, key
    assert _mode(tmp_path / "out" / "rejects") == 0o700


def test_the_command_sets_a_private_umask_and_warns_about_a_readable_data_folder(
    tmp_path, loose_umask, monkeypatch
):
    from onemap import cli

    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    (folder / "onemap.sqlite").write_bytes(b"")
    (folder / "onemap.sqlite").chmod(0o644)
    served = []
    monkeypatch.setattr(cli, "_serve", lambda *a, **k: served.append(a))
    result = CliRunner().invoke(cli.main, ["serve", "--data", str(folder)])
    assert result.exit_code == 0, result.output
    assert served
    text = result.output
    assert "警告" in text and "readable by the group or others" in text
    assert str(folder / "onemap.sqlite") in text and "chmod -R go-rwx" in text
    assert os.umask(0o022) & PRIVATE_UMASK == PRIVATE_UMASK  # main() set it (the fixture restores it)
    # once private, no warning
    make_private(folder, recursive=True)
    result = CliRunner().invoke(cli.main, ["serve", "--data", str(folder)])
    assert "警告" not in result.output


def test_private_umask_keeps_stricter_bits_and_exposure_names_what_others_may_read(tmp_path):
    old = os.umask(0o027)
    try:
        private_umask()
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(old)
    (tmp_path / "a").write_text("x")
    (tmp_path / "a").chmod(0o640)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub").chmod(0o711)
    tmp_path.chmod(0o700)
    assert set(exposed(tmp_path)) == {tmp_path / "a", tmp_path / "sub"}
    assert "640" in exposure_warning(tmp_path)
    make_private(tmp_path, recursive=True)
    assert exposed(tmp_path) == [] and exposure_warning(tmp_path) is None
    assert _mode(tmp_path / "a") == 0o600 and _mode(tmp_path / "sub") == 0o700
