"""The in-memory incident index (geo.events) answers exactly what the store answers, and the dashboard's
queries use it once it is built."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest

from dashboard.queries import Queries
from data.store import load_layers, open_store
from geo.events import EventIndex
from geo.heat import h3_aggregate


@pytest.fixture(scope="module")
def store(tiny_demo, tmp_path_factory):
    s = open_store(data_dir=tmp_path_factory.mktemp("events_store"))
    load_layers(s, tiny_demo)
    yield s
    s.close()


@pytest.fixture(scope="module")
def index(store):
    return EventIndex.from_frame(store.read("incidents", columns=["occurred_at", "category", "grid_code"]))


def _views(store, n=25, seed=4):
    """Random views: a unit of either hierarchy (or the city), days, categories."""
    rng = np.random.default_rng(seed)
    units = store.units()
    units = units[units["level"] != "city"]["unit_code"].tolist()
    cats = sorted(store.read("incidents", columns=["category"], geometry=False)["category"].unique())
    last = dt.date(2026, 10, 31)
    views = [(None, None, None, ())]
    for _ in range(n):
        unit = None if rng.random() < 0.2 else str(rng.choice(units))
        end = last - dt.timedelta(days=int(rng.integers(0, 400)))
        start = end - dt.timedelta(days=int(rng.integers(0, 200)))
        chosen = tuple(sorted(rng.choice(cats, size=int(rng.integers(0, 3)), replace=False)))
        views.append((unit, start, end, chosen))
    return views


def test_masks_count_what_the_store_counts(store, index):
    for unit, start, end, cats in _views(store):
        grids = store.grids_of(unit) if unit else None
        mine = int(index.mask(grids, start, end, cats).sum())
        theirs = store.count(
            "incidents", unit, start, end, filters={"category": list(cats)} if cats else None
        )
        assert mine == theirs, (unit, start, end, cats)


def test_cell_counts_equal_h3_aggregate_of_the_store_points(store, index):
    for unit, start, end, cats in _views(store, n=8, seed=9):
        for res in (7, 9):
            mask = index.mask(store.grids_of(unit) if unit else None, start, end, cats)
            mine = index.cell_counts(mask, res).set_index("h3")["count"].sort_index()
            pts = store.features(
                "incidents", unit, start=start, end=end, filters={"category": list(cats)} if cats else None
            )
            theirs = h3_aggregate(pts, resolution=res).set_index("h3")["count"].sort_index()
            pd.testing.assert_series_equal(mine, theirs.astype(np.int64), check_names=False)


def test_events_outside_every_grid_count_only_for_the_whole_city(store, index):
    outside = index.grid < 0
    assert outside.any()  # the demo plants incidents outside every grid
    assert not (index.mask(store.grids_of(None)) & outside).any()
    assert index.mask(None)[outside].all()


def test_queries_answer_the_same_before_and_after_the_index_is_built(store):
    q = Queries(store)
    view = ("320612", dt.date(2026, 1, 1), dt.date(2026, 10, 31), ("刑事", "治安"), None)
    assert q.events() is None  # the first call starts the build and answers from the store
    before_cells = q.incident_cells(*view, 8).set_index("h3")["count"].sort_index()
    before_points = q.incident_points(*view)
    deadline = time.monotonic() + 60
    while q.events() is None:
        assert time.monotonic() < deadline, "the index was not built"
        time.sleep(0.1)
    after_cells = q.incident_cells(*view, 8).set_index("h3")["count"].sort_index()
    after_points = q.incident_points(*view)
    pd.testing.assert_series_equal(before_cells, after_cells, check_names=False, check_dtype=False)
    assert len(before_points) == len(after_points) > 0
    assert sorted(before_points["category"]) == sorted(after_points["category"])
    # a scope of one grid keeps only that grid's incidents
    grid = store.grids_of("320612")[0]
    scoped = q.incident_points(None, None, None, (), [grid])
    assert len(scoped) == store.count("incidents", grid)
