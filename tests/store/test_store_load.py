"""Loading GeoParquet layers into the store, and what the load derives (units, grids, aggregates)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from data.schema import LAYERS
from data.store import load_layers
from data.store import tables as T
from data.store.base import COUNTED_LEVELS
from data.store.derived import ROLLUP_STEPS
from geo.units import grid_units


def _read(folder, name):
    path = folder / f"{name}.parquet"
    return gpd.read_parquet(path) if LAYERS[name].geometry else pd.read_parquet(path)


def test_every_layer_loaded_with_all_rows(loaded, store_demo):
    counts = loaded.counts()
    for name in LAYERS:
        assert counts[name] == len(_read(store_demo, name)), name
    status = loaded.layer_status().set_index("layer")
    assert status.loc["incidents", "rows"] == counts["incidents"]
    assert str(status.loc["incidents", "source"]).endswith("incidents.parquet")


def test_values_and_geometry_round_trip(loaded, store_demo):
    src = _read(store_demo, "incidents").sort_values("incident_id").reset_index(drop=True)
    got = loaded.read("incidents").sort_values("incident_id").reset_index(drop=True)
    assert list(got.incident_id) == list(src.incident_id)
    assert (got.occurred_at.to_numpy() == src.occurred_at.astype("datetime64[ns]").to_numpy()).all()
    assert (got.category.to_numpy() == src.category.to_numpy()).all()
    assert (got.valid.to_numpy() == src.valid.to_numpy()).all()
    assert got.crs.to_epsg() == 4326
    assert shapely.equals_exact(got.geometry.values, src.geometry.values, tolerance=0).all()
    grids = loaded.read("grids").set_index("grid_code")
    sgrids = _read(store_demo, "grids").set_index("grid_code").loc[grids.index]
    assert shapely.equals_exact(grids.geometry.values, sgrids.geometry.values, tolerance=0).all()
    assert (grids.households == sgrids.households).all()


def test_unit_tables_match_geo_units(loaded, store_demo):
    expect = grid_units(_read(store_demo, "grids"), _read(store_demo, "districts"))
    got = loaded.grid_units()
    expect = expect.sort_values("grid_code").reset_index(drop=True)
    pd.testing.assert_frame_equal(got[expect.columns], expect, check_dtype=False)
    units = loaded.units()
    levels = units.level.value_counts()
    assert levels["grid"] == len(expect)
    assert levels["county"] == expect.county_code.nunique()
    assert levels["district"] == expect.district_code.nunique()


def test_cameras_get_the_grid_they_stand_in(loaded, store_demo):
    cams = _read(store_demo, "cameras")
    grids = _read(store_demo, "grids")
    joined = gpd.sjoin(cams, grids[["grid_code", "geometry"]], predicate="within", how="left")
    expect = joined.groupby("camera_id").grid_code.min()
    got = loaded.read("cameras", geometry=False).set_index("camera_id").grid_code
    assert got.notna().sum() > len(cams) * 0.5
    pd.testing.assert_series_equal(
        got.sort_index(), expect.sort_index(), check_names=False, check_dtype=False
    )


def test_incident_counts_roll_up_every_level(loaded, store_demo):
    inc = _read(store_demo, "incidents")
    in_grid = inc[inc.grid_code.notna()]
    with loaded.connect() as conn:
        ic = T.incident_counts
        per_level = dict(conn.execute(sa.select(ic.c.level, sa.func.sum(ic.c.n)).group_by(ic.c.level)).all())
    outside = per_level.pop("outside")
    assert set(per_level) == {"grid", "township", "county", "city", "station", "bureau"}
    assert all(v == len(in_grid) for v in per_level.values())
    assert outside == len(inc) - len(in_grid) > 0


def test_grid_figures_count_the_population(loaded, store_demo):
    pop = _read(store_demo, "population")
    figs = loaded.grid_figures().set_index("grid_code")
    persons = pop.groupby("grid_code").size()
    registered = pop[pop.registered].groupby("grid_code").size()
    assert (figs.persons.reindex(persons.index) == persons).all()
    assert (figs.registered.reindex(registered.index) == registered).all()
    assert figs.persons.sum() == len(pop[pop.grid_code.isin(figs.index)])


def test_reload_replaces_and_keeps_the_work_order_trace(store, store_demo):
    before = store.counts()
    order_id = store.records("work_orders", page_size=1).frame.order_id.iloc[0]
    trace = store.work_order_events(order_id)
    load_layers(store, store_demo, layers=["incidents", "work_orders"])
    assert store.counts() == before
    pd.testing.assert_frame_equal(store.work_order_events(order_id), trace)
    assert len(trace) == 1 and trace.actor.iloc[0] == "import"


def test_append_adds_rows_and_spatial_index_entries(store, store_demo):
    extra = _read(store_demo, "cameras").head(3).copy()
    extra["camera_id"] = ["X1", "X2", "X3"]
    n = store.count("cameras")
    store.load_frame("cameras", extra, replace=False)
    assert store.count("cameras") == n + 3
    x, y = extra.geometry.iloc[0].x, extra.geometry.iloc[0].y
    found = store.features("cameras", bbox=(x - 1e-6, y - 1e-6, x + 1e-6, y + 1e-6))
    assert "X1" in set(found.camera_id)


def test_load_frame_reprojects_and_checks_columns(empty_store):
    pts = gpd.GeoDataFrame(
        {
            "camera_id": ["C1"],
            "camera_kind": ["治安监控"],
            "range_m": [50.0],
            "online": [True],
            "installed_at": [pd.Timestamp("2025-01-01")],
        },
        geometry=[shapely.Point(120.9, 32.0)],
        crs=4326,
    ).to_crs(3857)
    assert empty_store.load_frame("cameras", pts) == 1
    got = empty_store.read("cameras")
    assert np.allclose(shapely.get_coordinates(got.geometry.values), [[120.9, 32.0]])
    with pytest.raises(ValueError, match="required column"):
        empty_store.load_frame("cameras", pts.drop(columns=["camera_kind"]))


def test_load_layers_names_missing_files(empty_store, tmp_path):
    with pytest.raises(ValueError, match="no file for layer"):
        load_layers(empty_store, tmp_path, layers=["grids"])
    with pytest.raises(ValueError, match="unknown layer"):
        load_layers(empty_store, tmp_path, layers=["nonsense"])


def test_reloaded_grids_reassign_points_in_sql(store, store_demo):
    expect = store.read("cameras", geometry=False).set_index("camera_id").grid_code.sort_index()
    with store.begin() as conn:
        conn.execute(sa.update(T.LAYER_TABLES["cameras"]).values(grid_code="stale"))
    store.refresh()  # the cameras were loaded after the grids: nothing to redo
    assert set(store.read("cameras", geometry=False).grid_code) == {"stale"}
    load_layers(store, store_demo, layers=["grids"])  # new grids: every camera is located again
    got = store.read("cameras", geometry=False).set_index("camera_id").grid_code.sort_index()
    pd.testing.assert_series_equal(got, expect)


def test_counted_levels_are_the_rollup_targets():
    assert set(COUNTED_LEVELS) == {"grid"} | {parent for _, parent in ROLLUP_STEPS}
