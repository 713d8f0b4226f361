"""Both hierarchies per grid, unit lookup and roll-ups."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from geo.units import children, find_unit, grid_units, grids_of, roll_up, unit_table


@pytest.fixture(scope="module")
def frames(tiny_demo):
    return {
        n: gpd.read_parquet(tiny_demo / f"{n}.parquet")
        for n in ("grids", "districts", "admin_units", "police_units")
    }


def test_grid_units_carry_both_hierarchies(frames):
    gu = grid_units(frames["grids"], frames["districts"])
    assert (gu.grid_code.str.slice(0, 12) == gu.village_code).all()
    assert gu.district_code.notna().all() and gu.station_code.notna().all()
    assert (gu.bureau_code == gu.county_code + "000000").all()
    assert (gu.station_code == gu.district_code.str.slice(0, 12)).all()


def test_find_unit_and_grids_of(frames):
    units = unit_table(frames["admin_units"], frames["police_units"], frames["grids"])
    gu = grid_units(frames["grids"], frames["districts"])
    city = find_unit(units, "320600")
    assert city.level == "city" and len(grids_of(gu, city)) == len(frames["grids"])
    first_district = frames["districts"].district_code.iloc[0]
    unit = find_unit(units, first_district)
    assert unit.hierarchy == "police" and unit.level == "district"
    assert set(grids_of(gu, unit)) == set(
        frames["grids"].loc[frames["grids"].district_code == first_district, "grid_code"]
    )
    below = children(units, "320600")
    assert set(below.level) == {"county", "bureau"}
    with pytest.raises(KeyError, match="999"):
        find_unit(units, "999")


@pytest.mark.parametrize("level", ["grid", "village", "county", "district", "bureau", "city"])
def test_roll_up_sums_to_the_city(frames, level):
    gu = grid_units(frames["grids"], frames["districts"])
    per_grid = pd.DataFrame(
        {"households": frames["grids"].households.to_numpy()}, index=frames["grids"].grid_code
    )
    rolled = roll_up(per_grid, gu, level)
    assert rolled.households.sum() == frames["grids"].households.sum()
    assert (
        len(rolled)
        == gu[
            {
                "grid": "grid_code",
                "village": "village_code",
                "county": "county_code",
                "district": "district_code",
                "bureau": "bureau_code",
                "city": "city_code",
            }[level]
        ].nunique()
    )
