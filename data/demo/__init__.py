"""Demo city generator (演示城市): ``onemap demo --scale {tiny,small,full} --seed N --out DIR``.

Builds a realistic, deterministic city inside real county boundaries: admin units, grids, police units,
staff, addresses, population, persons of concern, 24 months of incidents, disputes, hazards, visits,
patrol tracks, cameras and work orders, with planted data-quality defects. One GeoParquet file per layer
plus a GeoPackage export and a ``manifest.json`` with the counts and the build time.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from data.schema import LAYERS

BOUNDARIES_DIR = Path(__file__).resolve().parent.parent / "boundaries"
#: The day the demo city is generated to end on; a city ending on another day (``until``) is this one with
#: every date moved by the same number of days, so that the content never depends on the end chosen.
REFERENCE_END = "2026-10-31"
#: Last day of :func:`build_demo` when none is given (``onemap demo`` and ``onemap up`` default to today).
DEFAULT_UNTIL = REFERENCE_END
#: Date columns that do not move with the end: who a person is (the birth date, which the ID number
#: 公民身份号码 carries) is not part of the recorded history.
FIXED_DATES: dict[str, tuple[str, ...]] = {"population": ("birth_date",)}
GPKG_NAME = "onemap.gpkg"


@dataclass(frozen=True)
class Scale:
    """Size of a demo city: comprehensive and dedicated grids, incidents over 24 months."""

    comprehensive: int
    dedicated: int
    incidents: int


SCALES = {
    "tiny": Scale(150, 60, 20_000),
    "small": Scale(920, 450, 160_000),
    "full": Scale(9_200, 4_500, 1_600_000),
}


class BoundaryError(ValueError):
    """The boundary files cannot be used (message names the file and the problem)."""


def _features(path: Path) -> list[tuple[dict, object]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BoundaryError(f"{path}: not a readable GeoJSON file ({exc})") from exc
    if doc.get("type") == "FeatureCollection":
        return [(f.get("properties") or {}, shapely.geometry.shape(f["geometry"])) for f in doc["features"]]
    if doc.get("type") == "Feature":
        return [(doc.get("properties") or {}, shapely.geometry.shape(doc["geometry"]))]
    if "coordinates" in doc:
        return [(doc.get("properties") or {}, shapely.geometry.shape(doc))]
    raise BoundaryError(f"{path}: expected a GeoJSON geometry, Feature or FeatureCollection")


def load_boundaries(
    directory: str | Path | None = None, crs: str = "gcj02"
) -> tuple[str, str, gpd.GeoDataFrame]:
    """Read county boundaries from ``directory`` (default: the bundled Nantong ones, GCJ-02).

    Each ``*.geojson`` is a bare geometry, a Feature or a FeatureCollection. A unit's 6-digit code comes
    from its ``adcode``/``code`` property or the file name; its name from the ``name`` property or
    ``names.json`` beside the files. A unit whose code ends in ``00`` is the city (市) and is not a county.
    Returns ``(city_code, city_name, counties)`` with counties in EPSG:4326.
    """
    from geo.crs import to_wgs84

    folder = Path(directory) if directory else BOUNDARIES_DIR
    files = sorted(folder.glob("*.geojson")) if folder.is_dir() else [folder]
    if not files:
        raise BoundaryError(f"{folder}: no *.geojson boundary files")
    names_file = (folder if folder.is_dir() else folder.parent) / "names.json"
    names = json.loads(names_file.read_text(encoding="utf-8")) if names_file.exists() else {}
    rows = []
    for f in files:
        for props, geom in _features(f):
            code = str(props.get("adcode") or props.get("code") or props.get("county_code") or f.stem)
            if not (len(code) == 6 and code.isdigit()):
                raise BoundaryError(f"{f}: unit code {code!r} is not a 6-digit GB/T 2260 code")
            if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
                raise BoundaryError(f"{f}: unit {code} has geometry {geom.geom_type}, expected a polygon")
            rows.append((code, props.get("name") or names.get(code), shapely.make_valid(geom)))
    frame = gpd.GeoDataFrame(
        {"code": [r[0] for r in rows], "name": [r[1] for r in rows]}, geometry=[r[2] for r in rows], crs=4326
    )
    frame = to_wgs84(frame, crs)
    is_city = frame.code.str.endswith("00")
    counties = frame[~is_city].drop_duplicates("code").sort_values("code").reset_index(drop=True)
    if counties.empty:
        raise BoundaryError(f"{folder}: no county-level units (codes not ending in 00)")
    city_code = frame.code[is_city].iloc[0] if is_city.any() else counties.code.iloc[0][:4] + "00"
    city_name = (
        (frame.name[is_city].iloc[0] if is_city.any() else None) or names.get(city_code) or f"{city_code}市"
    )
    counties["name"] = [n or f"{c}区" for c, n in zip(counties.code, counties.name, strict=True)]
    counties = counties.rename(columns={"code": "county_code", "name": "county_name"})
    return city_code, city_name, counties


def _write(frames: dict[str, pd.DataFrame], out: Path, gpkg: bool, step) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, frame in frames.items():
        schema_cols = [c for c in LAYERS[name].column_names if c in frame.columns]
        extra = [c for c in frame.columns if c not in schema_cols and c != "geometry"]
        cols = schema_cols + extra + (["geometry"] if "geometry" in frame.columns else [])
        frame = frame[cols]
        path = out / f"{name}.parquet"
        if isinstance(frame, gpd.GeoDataFrame):
            frame.to_parquet(path, index=False, compression="zstd", write_covering_bbox=True)
        else:
            frame.to_parquet(path, index=False, compression="zstd")
        counts[name] = len(frame)
        frames[name] = frame
        step(f"写入 {name}")
    if gpkg:
        import pyogrio

        target = out / GPKG_NAME
        target.unlink(missing_ok=True)
        for name, frame in frames.items():
            pyogrio.write_dataframe(
                frame, target, layer=name, driver="GPKG", use_arrow=True, append=target.exists()
            )
        step("导出 GeoPackage")
    return counts


def _end_day(until) -> pd.Timestamp:
    """The last day as a midnight timestamp; a date, a timestamp or ``YYYY-MM-DD`` text."""
    if isinstance(until, dt.date):  # date, datetime and Timestamp
        return pd.Timestamp(until).normalize()
    try:
        return pd.Timestamp(dt.date.fromisoformat(str(until).strip()))
    except ValueError:
        raise ValueError(f"演示城市结束日期无效 (until {until!r} is not a day, YYYY-MM-DD)") from None


def shift_dates(frames: dict[str, pd.DataFrame], days: int) -> None:
    """Move every date and time of the layers by ``days`` whole days (in place), but :data:`FIXED_DATES`.

    Whole days keep every time of day, so hour profiles and day boundaries stay as generated."""
    if not days:
        return
    delta = pd.Timedelta(days=days)
    for name, frame in frames.items():
        fixed = FIXED_DATES.get(name, ())
        for col in frame.columns:
            if col not in fixed and pd.api.types.is_datetime64_any_dtype(frame[col]):
                frame[col] = frame[col] + delta


def build_demo(
    out: str | Path,
    scale: str = "tiny",
    seed: int = 0,
    boundaries: str | Path | None = None,
    boundaries_crs: str = "gcj02",
    until: str = DEFAULT_UNTIL,
    gpkg: bool = True,
    progress: bool = True,
) -> dict:
    """Generate the demo city into ``out`` and return its manifest (counts, seconds, parameters).

    Deterministic for a given ``(scale, seed, until)``: the city is generated ending on
    :data:`REFERENCE_END` and then every date is moved to end on ``until`` (:func:`shift_dates`), so two
    cities of the same seed and scale differ only by that shift, whatever their ends."""
    from tqdm import tqdm

    from data.demo import events, people
    from data.demo.territory import build_territory
    from geo.crs import projected_crs_for

    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    spec = SCALES[scale]
    started = time.perf_counter()
    end_day = _end_day(until)
    shift = (end_day - pd.Timestamp(REFERENCE_END)).days
    until_ts = pd.Timestamp(REFERENCE_END) + pd.Timedelta(hours=23, minutes=59)
    rng = np.random.default_rng(seed)
    n_steps = 12 + len(LAYERS) + (1 if gpkg else 0)
    bar = tqdm(total=n_steps, desc="生成演示城市", unit="步", disable=not progress)

    def step(label: str) -> None:
        bar.set_postfix_str(label)
        bar.update(1)

    city_code, city_name, counties = load_boundaries(boundaries, boundaries_crs)
    centre = counties.geometry.union_all().centroid
    crs = projected_crs_for(centre.x, centre.y)
    step("读取边界")
    terr = build_territory(counties, city_code, city_name, spec.comprehensive, spec.dedicated, rng, crs)
    step("划分网格")
    staff, officer_ids = people.make_staff(terr.grids, terr.districts, rng)
    terr.districts["officer_id"] = officer_ids.to_numpy()
    step("人员力量")
    vnames = terr.admin_units[terr.admin_units.level == "village"].set_index("unit_code").unit_name
    addresses = people.make_addresses(terr.grids, vnames, until_ts, rng)
    step("标准地址")
    population = people.make_population(addresses, terr.grids, until_ts, rng)
    step("实有人口")
    officers = terr.districts.set_index("district_code").officer_id
    poc = people.make_persons_of_concern(population, addresses, terr.grids, officers, until_ts, rng)
    step("关注人员")
    incidents = events.make_incidents(spec.incidents, terr.grids, addresses, population, until_ts, rng)
    step("警情")
    disputes = events.make_disputes(
        max(50, spec.incidents // 25), terr.grids, addresses, population, poc, until_ts, rng
    )
    step("矛盾纠纷")
    hazards = events.make_hazards(max(50, spec.incidents // 40), terr.grids, addresses, staff, until_ts, rng)
    step("安全隐患")
    visits = events.make_visits(terr.grids, addresses, poc, staff, until_ts, rng)
    step("走访")
    patrols = events.make_patrols(terr.districts, until_ts, rng)
    cameras = events.make_cameras(terr.grids, incidents, until_ts, rng)
    work_orders = events.make_work_orders(incidents, terr.grids, until_ts, rng)
    step("巡逻、设备、工单")

    grids = terr.grids
    pop_by_grid = population.groupby("grid_code").size()
    grids["population"] = grids.grid_code.map(pop_by_grid).fillna(0).astype(int)
    grid_staff = staff.groupby(["unit_code", "role"]).size().unstack(fill_value=0)
    for col, role in (("full_time_workers", "专职网格员"), ("part_time_workers", "兼职网格员")):
        grids[col] = grids.grid_code.map(grid_staff.get(role, pd.Series(dtype=int))).fillna(0).astype(int)
    step("汇总")
    frames = {
        "admin_units": terr.admin_units,
        "grids": grids,
        "police_units": terr.police_units,
        "districts": terr.districts,
        "stations": terr.stations,
        "grid_district": terr.grid_district,
        "staff": staff,
        "addresses": addresses,
        "population": population,
        "persons_of_concern": poc,
        "incidents": incidents,
        "disputes": disputes,
        "hazards": hazards,
        "visits": visits,
        "patrol_points": patrols,
        "cameras": cameras,
        "work_orders": work_orders,
    }
    shift_dates(frames, shift)
    counts = _write(frames, Path(out), gpkg, step)
    bar.close()
    manifest = {
        "scale": scale,
        "seed": seed,
        "until": f"{end_day:%Y-%m-%d}",
        "city_code": city_code,
        "city_name": city_name,
        "boundaries": str(boundaries or "bundled:nantong"),
        "boundaries_crs": boundaries_crs,
        "projected_crs": f"EPSG:{crs}",
        "storage_crs": "EPSG:4326",
        "spec": asdict(spec),
        "counts": counts,
        "grids_by_type": grids.grid_type.value_counts().to_dict(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    Path(out, "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    from data.private import make_private

    make_private(out, recursive=True)  # residents' names, ID numbers, phones: owner only
    return manifest
