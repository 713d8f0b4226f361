"""Units of the two hierarchies (两条层级): administrative and police, both ending in the grid.

Administrative: city (市) → county (区县) → township (乡镇/街道) → village (村/社区) → grid (网格).
Police: city → bureau (分局) → station (派出所) → district (警格/警务区) → grid.

Every figure of the product is computed per grid and rolled up: :func:`grid_units` gives, for each grid,
the code of every unit above it in both hierarchies, so that "all grids of unit X" is one column test.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

ADMIN_LEVELS = ("city", "county", "township", "village", "grid")
POLICE_LEVELS = ("city", "bureau", "station", "district", "grid")
LEVEL_COLUMN = {
    "city": "city_code",
    "county": "county_code",
    "township": "township_code",
    "village": "village_code",
    "grid": "grid_code",
    "bureau": "bureau_code",
    "station": "station_code",
    "district": "district_code",
}
LEVEL_ZH = {
    "city": "市",
    "county": "区县",
    "township": "乡镇街道",
    "village": "村社区",
    "grid": "网格",
    "bureau": "分局",
    "station": "派出所",
    "district": "警格",
}


def child_level(level: str, hierarchy: str = "admin") -> str | None:
    """The level below ``level`` (下级) along ``hierarchy``; None below a grid.

    ``hierarchy`` decides only where both hierarchies meet (the city); a level belonging to one
    hierarchy (county, 派出所 …) always continues in its own.

    Parameters
    ----------
    level : str
    hierarchy : {"admin", "police"}

    Returns
    -------
    str or None
    """
    levels = POLICE_LEVELS if hierarchy == "police" else ADMIN_LEVELS
    if level not in levels:
        levels = ADMIN_LEVELS if level in ADMIN_LEVELS else POLICE_LEVELS
    if level not in levels:
        raise ValueError(f"unknown level {level!r}")
    i = levels.index(level)
    return levels[i + 1] if i + 1 < len(levels) else None


@dataclass(frozen=True)
class Unit:
    """One unit: its code, name, level (``county`` … ``district``) and hierarchy (``admin``/``police``)."""

    code: str
    name: str
    level: str
    hierarchy: str
    parent_code: str | None = None

    @property
    def column(self) -> str:
        return LEVEL_COLUMN[self.level]


def grid_units(
    grids: pd.DataFrame, districts: pd.DataFrame | None = None, city_code: str | None = None
) -> pd.DataFrame:
    """One row per grid with the code of every unit above it: ``grid_code, village_code, township_code,
    county_code, city_code, district_code, station_code, bureau_code``.

    Administrative codes come from the grid code itself (GB/T 2260 / 10114 prefixes); police codes from
    the grid's ``district_code`` and the 警格 table (``station_code``, ``bureau_code``).
    """
    g = pd.DataFrame({"grid_code": grids["grid_code"].astype(str).to_numpy()})
    g["village_code"] = g.grid_code.str.slice(0, 12)
    g["township_code"] = g.grid_code.str.slice(0, 9)
    g["county_code"] = g.grid_code.str.slice(0, 6)
    g["city_code"] = city_code or (g.county_code.str.slice(0, 4) + "00")
    g["district_code"] = grids["district_code"].to_numpy() if "district_code" in grids else None
    if districts is not None and len(districts):
        d = pd.DataFrame(districts).drop_duplicates("district_code").set_index("district_code")
        g["station_code"] = g.district_code.map(d["station_code"])
        bureau = d["bureau_code"] if "bureau_code" in d else d["station_code"].str.slice(0, 6) + "000000"
        g["bureau_code"] = g.district_code.map(bureau)
    else:
        g["station_code"] = None
        g["bureau_code"] = None
    return g


def unit_table(
    admin_units: pd.DataFrame, police_units: pd.DataFrame, grids: pd.DataFrame | None = None
) -> pd.DataFrame:
    """All units of both hierarchies: ``unit_code, unit_name, level, hierarchy, parent_code``.

    The city (level ``city``) heads both hierarchies; grids are included when given.
    """
    admin = pd.DataFrame(admin_units)[["unit_code", "unit_name", "level", "parent_code"]].assign(
        hierarchy="admin"
    )
    police = pd.DataFrame(police_units)[["unit_code", "unit_name", "level", "parent_code"]].assign(
        hierarchy="police"
    )
    city = admin.loc[admin.level == "city", "unit_code"]
    if len(city):
        police.loc[police.level == "bureau", "parent_code"] = city.iloc[0]
    parts = [admin, police]
    if grids is not None:
        gr = pd.DataFrame(
            {
                "unit_code": grids["grid_code"].to_numpy(),
                "unit_name": grids["grid_name"].to_numpy(),
                "level": "grid",
                "parent_code": grids["village_code"].to_numpy(),
                "hierarchy": "admin",
            }
        )
        parts.append(gr)
    return pd.concat(parts, ignore_index=True)


def find_unit(units: pd.DataFrame, code: str) -> Unit:
    """The unit with ``code`` in a :func:`unit_table`; ``KeyError`` naming the code when unknown."""
    rows = units[units.unit_code == str(code)]
    if rows.empty:
        raise KeyError(f"unknown unit code {code!r}")
    row = rows.iloc[0]
    parent = row.parent_code if pd.notna(row.parent_code) else None
    return Unit(str(row.unit_code), str(row.unit_name), str(row.level), str(row.hierarchy), parent)


def children(units: pd.DataFrame, code: str) -> pd.DataFrame:
    """Units directly below ``code`` (for the city: counties and bureaus)."""
    return units[units.parent_code == str(code)]


def grids_of(gunits: pd.DataFrame, unit: Unit) -> pd.Index:
    """Grid codes inside ``unit`` (any level of either hierarchy)."""
    return pd.Index(gunits.loc[gunits[unit.column] == unit.code, "grid_code"])


def roll_up(
    per_grid: pd.DataFrame, gunits: pd.DataFrame, level: str, agg: str | dict = "sum"
) -> pd.DataFrame:
    """Aggregate a frame indexed by ``grid_code`` to ``level`` (its index becomes the unit code)."""
    col = LEVEL_COLUMN[level]
    mapping = gunits.set_index("grid_code", drop=False)[col]
    keys = pd.Index(per_grid.index.map(mapping), name=col)
    return per_grid.groupby(keys).agg(agg)
