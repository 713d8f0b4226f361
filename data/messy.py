"""Messy field files (现场数据样例) cut from a demo city, with known planted defects.

Real data arrives as GBK shapefiles with Chinese headers in a Gauss–Krüger projection, GBK CSV exports
with GCJ-02 coordinates from a mobile app, and Excel sheets typed by hand. ``make_messy`` writes such
files for one part of a demo city and plants one or more defects per validation rule, listing each in
``expected.json`` so that ``onemap validate`` can be checked against it.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

FIELD_CRS = 4549  # CGCS2000 3-degree Gauss–Krüger, central meridian 120°E: official survey data


def _pick_area(grids: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, min_grids: int = 25):
    """Whole townships (so their 警格 are complete) until at least ``min_grids`` grids."""
    sizes = grids.groupby("township_code").size().sort_values(ascending=False)
    chosen, total = [], 0
    for code, n in sizes.items():
        chosen.append(code)
        total += n
        if total >= min_grids:
            break
    g = grids[grids.township_code.isin(chosen)].copy()
    d = districts[districts.district_code.isin(g.district_code)].copy()
    return g.reset_index(drop=True), d.reset_index(drop=True)


def _self_intersecting(poly: shapely.Polygon) -> shapely.Polygon:
    """The same outline with a run of vertices in reverse order, as a careless digitiser leaves it:
    its edges cross (GEOS reports a self-intersection) while it covers about the same ground."""
    ring = np.asarray(poly.exterior.coords)[:-1]
    n = len(ring)
    for a, b in ((n // 4, n // 2), (1, n // 2), (1, n - 2)):
        twisted = np.concatenate([ring[:a], ring[a:b][::-1], ring[b:]])
        candidate = shapely.Polygon(twisted)
        if not candidate.is_valid:
            return candidate
    minx, miny, maxx, maxy = poly.bounds
    return shapely.Polygon([(minx, miny), (maxx, maxy), (maxx, miny), (minx, maxy)])


def make_messy(demo_dir: str | Path, out_dir: str | Path, seed: int = 0) -> dict:
    """Write messy field files from the demo city in ``demo_dir`` into ``out_dir``; return the manifest."""
    from geo.crs import projected_crs_for, wgs84_to_gcj02

    rng = np.random.default_rng(seed)
    demo, out = Path(demo_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    grids, districts = _pick_area(
        gpd.read_parquet(demo / "grids.parquet"), gpd.read_parquet(demo / "districts.parquet")
    )
    expected: list[dict] = []

    def plant(rule, layer, ids, file):
        expected.append({"rule": rule, "layer": layer, "ids": [str(i) for i in ids], "file": file})

    metric = projected_crs_for(*grids.geometry.union_all().centroid.coords[0])
    gm = grids.to_crs(metric)
    geoms = gm.geometry.values.copy()
    codes = grids.grid_code.to_numpy().astype(object)
    dcodes = grids.district_code.to_numpy().astype(object)
    comp = np.flatnonzero((grids.grid_type == "综合").to_numpy())
    # pick victims far apart so that their defects do not mask each other
    order = comp[np.argsort(gm.geometry.centroid.x.to_numpy()[comp])]
    v = order[np.linspace(0, len(order) - 1, 8).round().astype(int)]
    dup_a, dup_b, bad_code, overlap, shrink, bowtie, unbound, outside = v
    shp = "grids_gbk.shp"
    codes[dup_b] = codes[dup_a]
    plant("duplicate_code", "grids", [codes[dup_a]], shp)
    codes[bad_code] = codes[bad_code][:14]
    plant("malformed_code", "grids", [codes[bad_code]], shp)
    geoms[overlap] = shapely.buffer(geoms[overlap], 40.0, join_style="mitre")
    plant("overlap", "grids", [codes[overlap]], shp)
    geoms[shrink] = shapely.buffer(geoms[shrink], -30.0, join_style="mitre")
    plant("gap", "grids", [codes[shrink]], shp)
    geoms[bowtie] = _self_intersecting(shapely.get_parts(geoms[bowtie])[0])
    plant("invalid_geometry", "grids", [codes[bowtie]], shp)
    dcodes[unbound] = None
    plant("unbound_grid", "grids", [codes[unbound]], shp)
    others = districts.district_code[districts.district_code != dcodes[outside]].to_numpy()
    far = districts.set_index("district_code").to_crs(metric).centroid
    here = gm.geometry.values[outside].centroid
    dcodes[outside] = max(others, key=lambda c: far[c].distance(here))
    plant("grid_outside_district", "grids", [codes[outside]], shp)
    field = gpd.GeoDataFrame(
        {
            "网格编码": codes,
            "网格名称": grids.grid_name,
            "网格类型": grids.grid_type,
            "所属社区": grids.village_code,
            "警格编码": dcodes,
            "户数": grids.households,
            "人口数": grids.population,
        },
        geometry=geoms,
        crs=metric,
    ).to_crs(FIELD_CRS)
    field.to_file(out / shp, encoding="GBK", engine="pyogrio")
    (out / shp).with_suffix(".cpg").unlink(missing_ok=True)  # field files rarely carry one

    districts.to_file(out / "districts.geojson", driver="GeoJSON", engine="pyogrio")

    # incidents: GBK CSV from a mobile app, GCJ-02 lon/lat, Chinese headers
    inc = gpd.read_parquet(demo / "incidents.parquet")
    inc = inc[inc.grid_code.isin(grids.grid_code)]
    inc = inc.iloc[rng.choice(len(inc), min(200, len(inc)), replace=False)].sort_values("incident_id")
    lon, lat = wgs84_to_gcj02(inc.geometry.x.to_numpy(), inc.geometry.y.to_numpy())
    csv = pd.DataFrame(
        {
            "警情编号": inc.incident_id.to_numpy(),
            "报警时间": inc.occurred_at.dt.strftime("%Y/%m/%d %H:%M").to_numpy(),
            "警情类别": inc.category.to_numpy(),
            "经度": lon.round(6).astype(object),
            "纬度": lat.round(6).astype(object),
            "联系电话": inc.caller_phone.to_numpy(),
        }
    )
    csv_name = "incidents_gbk.csv"
    rows = rng.choice(len(csv), 7, replace=False)
    r_swap, r_paris, r_missing, r_date, r_cat, r_outside, r_two = rows
    swapped = [csv.loc[r_swap, "纬度"], csv.loc[r_swap, "经度"]]
    csv.loc[r_swap, ["经度", "纬度"]] = swapped
    plant("bad_coordinate", "incidents", [csv.警情编号[r_swap]], csv_name)
    csv.loc[r_paris, ["经度", "纬度"]] = [2.3522, 48.8566]
    plant("bad_coordinate", "incidents", [csv.警情编号[r_paris]], csv_name)
    csv.loc[r_missing, "经度"] = ""
    plant("bad_coordinate", "incidents", [csv.警情编号[r_missing]], csv_name)
    csv.loc[r_date, "报警时间"] = "2025/02/30 08:15"
    plant("bad_date", "incidents", [csv.警情编号[r_date]], csv_name)
    csv.loc[r_cat, "警情类别"] = "盗窃案"
    plant("bad_value", "incidents", [csv.警情编号[r_cat]], csv_name)
    _, miny, maxx, maxy = grids.total_bounds
    gx, gy = wgs84_to_gcj02(
        maxx + 0.05, (miny + maxy) / 2
    )  # east of the area: inside China, outside the grids
    csv.loc[r_outside, ["经度", "纬度"]] = [round(gx, 6), round(gy, 6)]
    plant("point_outside_grids", "incidents", [csv.警情编号[r_outside]], csv_name)
    csv.loc[r_two, "报警时间"] = "昨天晚上"
    csv.loc[r_two, "纬度"] = "abc"
    plant("bad_coordinate", "incidents", [csv.警情编号[r_two]], csv_name)
    plant("bad_date", "incidents", [csv.警情编号[r_two]], csv_name)
    csv.to_csv(out / csv_name, index=False, encoding="gb18030")

    # persons of concern: an Excel sheet typed by hand
    poc = gpd.read_parquet(demo / "persons_of_concern.parquet")
    poc = poc[poc.grid_code.isin(grids.grid_code)].head(30)
    if len(poc) < 5:
        poc = gpd.read_parquet(demo / "persons_of_concern.parquet").head(30)
    xls = pd.DataFrame(
        {
            "关注人员编号": poc.poc_id.to_numpy(),
            "姓名": poc.name.to_numpy(),
            "身份证号": poc.id_number.to_numpy(),
            "类别": poc.category.to_numpy(),
            "风险等级": poc.risk_colour.to_numpy(),
            "走访周期(天)": poc.visit_interval_days.to_numpy(),
            "列管日期": poc.listed_at.dt.strftime("%Y年%m月%d日").to_numpy(),
            "经度": poc.geometry.x.round(6).to_numpy(),
            "纬度": poc.geometry.y.round(6).to_numpy(),
        }
    )
    xls_name = "persons_of_concern.xlsx"
    p_check, p_birth, p_date = 0, 1, 2
    last = xls.loc[p_check, "身份证号"][-1]
    xls.loc[p_check, "身份证号"] = xls.loc[p_check, "身份证号"][:-1] + ("0" if last != "0" else "1")
    plant("bad_id_number", "persons_of_concern", [xls.关注人员编号[p_check]], xls_name)
    idn = xls.loc[p_birth, "身份证号"]
    xls.loc[p_birth, "身份证号"] = idn[:10] + "1340" + idn[14:]  # 13th month, 40th day
    plant("bad_id_number", "persons_of_concern", [xls.关注人员编号[p_birth]], xls_name)
    xls.loc[p_date, "列管日期"] = "2024年13月45日"
    plant("bad_date", "persons_of_concern", [xls.关注人员编号[p_date]], xls_name)
    xls.to_excel(out / xls_name, index=False)

    manifest = {
        "files": {
            shp: {"layer": "grids", "rows": len(field), "crs": f"EPSG:{FIELD_CRS}", "encoding": "GBK"},
            "districts.geojson": {"layer": "districts", "rows": len(districts), "crs": "EPSG:4326"},
            csv_name: {"layer": "incidents", "rows": len(csv), "crs": "gcj02", "encoding": "GB18030"},
            xls_name: {"layer": "persons_of_concern", "rows": len(xls), "crs": "EPSG:4326"},
        },
        "expected": expected,
    }
    (out / "expected.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest
