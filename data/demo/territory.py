"""The demo city's territory (辖区): admin units, grids, police units, built inside real county boundaries.

Nothing here knows about Nantong. Given any set of county polygons it lays out:

- an urban core per county around its pole of inaccessibility; how urban a county is follows its
  GB/T 2260 code: 01-20 市辖区 (the smallest of them is the city core, the most urban of all), 81-99
  县级市, 21-80 县;
- comprehensive grids (综合网格) with ~300 households in town and 200-300 in the countryside, and
  dedicated grids (专属网格) for parks, markets, schools, hospitals and enterprises, as one exact
  tessellation: Voronoi cells of seeds plus jittered satellites, dissolved per seed, so boundaries are
  irregular like real ones while grids never overlap and leave no gap;
- villages/communities (12-digit codes) as unions of grids, townships/streets (9 digits) as unions of
  villages, counties as given;
- 警格 police districts: one community in town, 2-3 villages in the countryside; one 派出所 station per
  township, one 分局 bureau per county.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.errors
import shapely.ops
from scipy.spatial import cKDTree

from data.demo.names import place_names

URBAN_HOUSEHOLDS = (300, 30)  # mean, sd of households per urban comprehensive grid
RURAL_HOUSEHOLDS = (200, 300)  # uniform range in the countryside
URBAN_DENSITY_RATIO = 12.0  # grids per km² in town relative to the countryside
GRIDS_PER_COMMUNITY = 10
GRIDS_PER_VILLAGE = 4
COMMUNITIES_PER_STREET = 8
VILLAGES_PER_TOWN = 15
DEDICATED_KINDS = ("园区", "商圈市场", "学校", "医院", "企事业单位")
DEDICATED_P = (0.10, 0.30, 0.25, 0.05, 0.30)
DEDICATED_SUFFIX = {
    "园区": "工业园",
    "商圈市场": "农贸市场",
    "学校": "学校",
    "医院": "医院",
    "企事业单位": "公司",
}


@dataclass
class Territory:
    """Everything spatial about the demo city, in EPSG:4326 except ``crs`` (metres) for measuring."""

    admin_units: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    police_units: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    grid_district: pd.DataFrame
    crs: int


def county_kind(code: str) -> str:
    """GB/T 2260 county type from digits 5-6: 01-20 市辖区 ``district``, 81-99 ``city``, else ``county``."""
    n = int(code[4:6])
    return "district" if 1 <= n <= 20 else ("city" if n >= 81 else "county")


def _urban_fraction(counties: gpd.GeoDataFrame) -> np.ndarray:
    kinds = counties["county_code"].map(county_kind).to_numpy()
    frac = np.where(kinds == "district", 0.12, np.where(kinds == "city", 0.08, 0.06))
    districts = np.flatnonzero(kinds == "district")
    if len(districts):
        core = districts[np.argmin(counties.geometry.area.to_numpy()[districts])]
        frac[core] = 0.55
    return frac


def _sample_in(geom, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random points inside ``geom`` (rejection sampling in its bounding box)."""
    if n <= 0:
        return np.empty((0, 2))
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    out: list[np.ndarray] = []
    have = 0
    ratio = max(geom.area / ((maxx - minx) * (maxy - miny)), 0.02)
    while have < n:
        m = int((n - have) / ratio * 1.2) + 16
        xy = np.column_stack([rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)])
        xy = xy[shapely.contains_xy(geom, xy[:, 0], xy[:, 1])]
        out.append(xy)
        have += len(xy)
    return np.concatenate(out)[:n]


def _lloyd(seeds: np.ndarray, zone, iterations: int = 2) -> np.ndarray:
    """Relax seeds towards even spacing inside ``zone`` (Lloyd iterations on clipped Voronoi cells)."""
    if len(seeds) < 3:
        return seeds
    for _ in range(iterations):
        cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=zone, ordered=True)
        cells = shapely.intersection(shapely.get_parts(cells), zone)
        cent = shapely.centroid(cells)
        ok = ~shapely.is_empty(cent)
        cent_xy = shapely.get_coordinates(cent[ok])
        # keep a seed whose centroid fell outside the zone (concave shapes) where it was
        inside = shapely.contains_xy(zone, cent_xy[:, 0], cent_xy[:, 1])
        new = seeds.copy()
        idx = np.flatnonzero(ok)[inside]
        new[idx] = cent_xy[inside]
        seeds = new
    return seeds


def _tessellate(county_geom, seeds: np.ndarray, spacing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Irregular cells, one per seed, tiling ``county_geom`` exactly.

    Each seed gets six satellites jittered around it; the Voronoi diagram of seeds and satellites is
    clipped to the county and its cells are dissolved by their nearest seed. Returns an array of
    geometries in seed order.
    """
    k = 6
    ang = rng.uniform(0, 2 * np.pi, (len(seeds), k))
    rad = rng.uniform(0.2, 0.6, (len(seeds), k)) * spacing[:, None]
    sat = np.stack([seeds[:, 0:1] + rad * np.cos(ang), seeds[:, 1:2] + rad * np.sin(ang)], axis=-1).reshape(
        -1, 2
    )
    sat = sat[shapely.contains_xy(county_geom, sat[:, 0], sat[:, 1])]
    pts = np.concatenate([seeds, sat])
    label = np.concatenate([np.arange(len(seeds)), cKDTree(seeds).query(sat)[1]])
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=county_geom, ordered=True)
    )
    shapely.prepare(county_geom)
    inside = shapely.contains(county_geom, cells)
    clipped = cells.copy()
    clipped[~inside] = shapely.intersection(cells[~inside], county_geom)
    frame = gpd.GeoDataFrame({"label": label}, geometry=clipped)
    frame = frame[~frame.geometry.is_empty]
    merged = _dissolve(frame, "label")
    merged.geometry = shapely.make_valid(merged.geometry.values)
    merged.geometry = _polygonal(merged.geometry.values)
    return merged.geometry.reindex(np.arange(len(seeds))).to_numpy()


DEDICATED_RADIUS_M = {
    "园区": (350, 800),
    "商圈市场": (70, 180),
    "学校": (80, 220),
    "医院": (60, 160),
    "企事业单位": (80, 260),
}


def _carve(cells: np.ndarray, xy: np.ndarray, kinds: np.ndarray, rng: np.random.Generator):
    """Cut dedicated grids (campuses, markets, parks) out of the comprehensive cells they fall in.

    Each dedicated grid is an irregular blob (three overlapping discs) clipped to its host cell and to
    the blobs already carved there; the host keeps the rest, so the tiling stays exact. A blob never
    takes more than about a third of its host. Returns the new host cells and the dedicated cells with
    their host index and kind.
    """
    tree = shapely.STRtree(cells)
    pi, host = tree.query(shapely.points(xy), predicate="within")
    order = np.argsort(pi)
    pi, host = pi[order], host[order]
    _, first = np.unique(pi, return_index=True)
    pi, host = pi[first], host[first]
    xy, kinds = xy[pi], kinds[pi]
    lo = np.array([DEDICATED_RADIUS_M[k][0] for k in kinds])
    hi = np.array([DEDICATED_RADIUS_M[k][1] for k in kinds])
    radius = np.minimum(rng.uniform(lo, hi), 0.35 * np.sqrt(shapely.area(cells[host])))
    blob = None
    for _ in range(3):
        off = rng.normal(0, 0.35, (len(xy), 2)) * radius[:, None]
        disc = shapely.buffer(shapely.points(xy + off), radius * rng.uniform(0.6, 1.0, len(xy)), quad_segs=4)
        blob = disc if blob is None else shapely.union(blob, disc)
    blob = shapely.intersection(blob, cells[host])
    keep = shapely.area(blob) > 100.0  # a campus smaller than 100 m² is not worth a grid
    blob, host, kinds = blob[keep], host[keep], kinds[keep]
    cells = cells.copy()
    out = np.empty(len(blob), dtype=object)
    for h in np.unique(host):
        idx = np.flatnonzero(host == h)
        taken = None
        for i in idx:
            b = blob[i] if taken is None else shapely.difference(blob[i], taken)
            out[i] = b
            taken = b if taken is None else shapely.union(taken, b)
        cells[h] = shapely.difference(cells[h], taken)
    # snap hosts and carved pieces to one 1 cm grid so that their shared edges have identical vertices
    cells = _polygonal(shapely.set_precision(cells, 0.01))
    out = _polygonal(shapely.set_precision(out, 0.01))
    keep = ~shapely.is_empty(out)
    return cells, out[keep], host[keep], kinds[keep]


def _dissolve(frame: gpd.GeoDataFrame, by: str, aggfunc=None) -> gpd.GeoDataFrame:
    """Dissolve a tiling by ``by``: the fast coverage union, or a full union where carving left the
    pieces not exactly noded (GEOS refuses those for a coverage union)."""
    kw = {"aggfunc": aggfunc} if aggfunc else {}
    try:
        return frame.dissolve(by=by, method="coverage", **kw)
    except shapely.errors.GEOSException:
        return frame.dissolve(by=by, **kw)


def _valid(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Repair the rare ring that reprojection leaves self-touching (vertices centimetres apart)."""
    bad = ~frame.geometry.is_valid.to_numpy()
    if bad.any():
        frame = frame.copy()
        frame.loc[bad, frame.geometry.name] = _polygonal(shapely.make_valid(frame.geometry.values[bad]))
    return frame


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Drop non-areal parts (points, lines) that make_valid or clipping may leave behind."""
    out = geoms.copy()
    for i in np.flatnonzero(shapely.get_type_id(geoms) == 7):  # GeometryCollection
        parts = shapely.get_parts(geoms[i])
        polys = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
        out[i] = shapely.union_all(polys)
    return out


def _allocate(total: int, weights: np.ndarray, minimum: int) -> np.ndarray:
    """Integer counts proportional to ``weights`` that add up to ``total`` with a floor."""
    raw = np.maximum(weights / weights.sum() * total, minimum)
    counts = np.floor(raw).astype(int)
    rest = int(total - counts.sum())
    if rest > 0:
        counts[np.argsort(-(raw - counts))[:rest]] += 1
    return counts


def _pick_centres(xy: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` well-spread centres among ``xy`` (k-means++ seeding)."""
    n = max(1, min(n, len(xy)))
    first = rng.integers(len(xy))
    chosen = [first]
    d2 = ((xy - xy[first]) ** 2).sum(1)
    for _ in range(n - 1):
        p = d2 / d2.sum() if d2.sum() > 0 else None
        nxt = rng.choice(len(xy), p=p)
        chosen.append(nxt)
        d2 = np.minimum(d2, ((xy - xy[nxt]) ** 2).sum(1))
    return np.array(chosen)


def _spatial_order(xy: np.ndarray) -> np.ndarray:
    """North-to-south, west-to-east reading order on a coarse raster: stable, readable code sequences."""
    span = max(np.ptp(xy[:, 1]), 1.0)
    row = np.floor((xy[:, 1].max() - xy[:, 1]) / (span / max(np.sqrt(len(xy)), 1)))
    return np.lexsort((xy[:, 0], row))


def build_territory(
    counties: gpd.GeoDataFrame,
    city_code: str,
    city_name: str,
    comprehensive: int,
    dedicated: int,
    rng: np.random.Generator,
    crs: int,
    progress=None,
) -> Territory:
    """Lay out the whole territory inside ``counties`` (county_code, county_name, geometry in 4326)."""
    # densify first: a long straight edge in lon/lat is a curve in metres, and back again
    dense = counties.set_geometry(shapely.segmentize(counties.geometry.values, 0.0005))
    cp = dense.to_crs(crs).reset_index(drop=True)
    area = cp.geometry.area.to_numpy()
    frac = _urban_fraction(cp)
    seats, urban_zones, rural_zones = [], [], []
    for geom, f in zip(cp.geometry, frac, strict=True):
        main = max(shapely.get_parts(geom), key=lambda g: g.area)
        seat = shapely.ops.polylabel(main, tolerance=50.0)
        r = np.sqrt(f * geom.area / np.pi)
        uz = shapely.intersection(seat.buffer(r, quad_segs=16), geom)
        seats.append(seat)
        urban_zones.append(uz)
        rural_zones.append(shapely.difference(geom, uz))
    urban_area = np.array([z.area for z in urban_zones])
    weights = np.concatenate([urban_area * URBAN_DENSITY_RATIO, area - urban_area])
    n_zone = _allocate(comprehensive, weights, 2)
    n_ded = _allocate(dedicated, area * (1 + 4 * frac), 1)

    grid_rows = []
    offset = 0
    for ci, row in cp.iterrows():
        nu, nr = n_zone[ci], n_zone[len(cp) + ci]
        uz, rz = urban_zones[ci], rural_zones[ci]
        useeds = _lloyd(_sample_in(uz, nu, rng), uz)
        rseeds = _lloyd(_sample_in(rz, nr, rng), rz) if rz.area > 0 else np.empty((0, 2))
        seeds = np.concatenate([useeds, rseeds])
        urban = np.concatenate([np.ones(len(useeds), bool), np.zeros(len(rseeds), bool)])
        spacing = np.where(
            urban, np.sqrt(max(uz.area, 1) / max(nu, 1)), np.sqrt(max(rz.area, 1) / max(nr, 1))
        )
        cells = _tessellate(row.geometry, seeds, spacing, rng)
        # dedicated grids: 70 % in town, the rest beside village centres (town markets, factories, schools)
        nd = n_ded[ci]
        nd_u = round(nd * 0.7)
        base = rseeds if len(rseeds) else useeds
        near = base[rng.integers(len(base), size=nd - nd_u)] + rng.normal(0, 300, (nd - nd_u, 2))
        d_xy = np.concatenate([_sample_in(uz, nd_u, rng), near])
        kinds = rng.choice(DEDICATED_KINDS, size=nd, p=DEDICATED_P)
        cells, d_cells, d_host, d_kind = _carve(cells, d_xy, kinds, rng)
        centroids = (
            shapely.get_coordinates(shapely.point_on_surface(d_cells)) if len(d_cells) else np.empty((0, 2))
        )
        grid_rows.append(
            pd.DataFrame(
                {
                    "county_code": row.county_code,
                    "x": np.concatenate([seeds[:, 0], centroids[:, 0]]),
                    "y": np.concatenate([seeds[:, 1], centroids[:, 1]]),
                    "urban": np.concatenate([urban, urban[d_host]]),
                    "grid_type": ["综合"] * len(seeds) + ["专属"] * len(d_cells),
                    "dedicated_kind": np.concatenate(
                        [np.full(len(seeds), None, dtype=object), d_kind.astype(object)]
                    ),
                    "geometry": np.concatenate([cells, d_cells]),
                    "host": np.concatenate([np.full(len(seeds), -1), offset + d_host]),
                }
            )
        )
        offset += len(seeds) + len(d_cells)
        if progress:
            progress(1)
    g = pd.concat(grid_rows, ignore_index=True)
    g = gpd.GeoDataFrame(g, geometry="geometry", crs=crs)
    # one exact coverage for the whole city: shared edges identical, centimetre slivers gone
    g.geometry = _polygonal(shapely.coverage_clean(g.geometry.values, gap_width=0.05, snapping_distance=0.01))
    return _organise(g, cp, seats, city_code, city_name, rng, crs)


def _organise(g, cp, seats, city_code, city_name, rng, crs) -> Territory:
    """Group grids into villages, townships, 警格 and stations; give every unit its code and name."""
    g["village_key"] = -1
    g["township_key"] = -1
    village_urban: dict[int, bool] = {}
    village_xy: dict[int, tuple[float, float]] = {}
    next_v = 0
    for county in cp.county_code:
        idx = np.flatnonzero(g.county_code.to_numpy() == county)
        comp = idx[g.grid_type.to_numpy()[idx] == "综合"]
        xy_all = g.loc[idx, ["x", "y"]].to_numpy()
        centres = []
        for is_urban, per in ((True, GRIDS_PER_COMMUNITY), (False, GRIDS_PER_VILLAGE)):
            sub = comp[g.urban.to_numpy()[comp] == is_urban]
            if len(sub):
                pick = _pick_centres(g.loc[sub, ["x", "y"]].to_numpy(), round(len(sub) / per), rng)
                centres += [(sub[p], is_urban) for p in pick]
        cxy = g.loc[[c for c, _ in centres], ["x", "y"]].to_numpy()
        nearest = cKDTree(cxy).query(xy_all)[1]
        for k, (cidx, is_urban) in enumerate(centres):
            village_urban[next_v + k] = is_urban
            village_xy[next_v + k] = tuple(g.loc[cidx, ["x", "y"]])
        g.loc[idx, "village_key"] = next_v + nearest
        # a dedicated grid belongs to the village it was carved from
        ded = idx[g.host.to_numpy()[idx] >= 0]
        g.loc[ded, "village_key"] = g.village_key.to_numpy()[g.host.to_numpy()[ded]]
        next_v += len(centres)

    villages = _dissolve(g, "village_key", {"county_code": "first"})
    villages["urban"] = [village_urban[k] for k in villages.index]
    vxy = np.array([village_xy[k] for k in villages.index])
    villages["x"], villages["y"] = vxy[:, 0], vxy[:, 1]
    villages["township_key"] = -1
    next_t = 0
    for county in cp.county_code:
        vi = np.flatnonzero(villages.county_code.to_numpy() == county)
        centres = []
        for is_urban, per in ((True, COMMUNITIES_PER_STREET), (False, VILLAGES_PER_TOWN)):
            sub = vi[villages.urban.to_numpy()[vi] == is_urban]
            if len(sub):
                pick = _pick_centres(vxy[sub], round(len(sub) / per), rng)
                centres += [sub[p] for p in pick]
        nearest = cKDTree(vxy[centres]).query(vxy[vi])[1]
        villages.iloc[vi, villages.columns.get_loc("township_key")] = next_t + nearest
        next_t += len(centres)
    # a township is a street (街道) when most of its villages are urban communities
    t_urban = villages.groupby("township_key").urban.mean() >= 0.5
    villages = villages.reset_index()

    # codes: townships 001-099 streets / 101-199 towns; villages 001-199 communities / 201-399 villages
    town_rows = []
    village_code = {}
    for county in cp.county_code:
        tks = villages.loc[villages.county_code == county, "township_key"].unique()
        txy = np.array([villages.loc[villages.township_key == t, ["x", "y"]].mean().to_numpy() for t in tks])
        order = _spatial_order(txy)
        n_street = n_town = 0
        for t in tks[order]:
            if t_urban[t]:
                n_street += 1
                tcode = f"{county}{n_street:03d}"
            else:
                n_town += 1
                tcode = f"{county}{100 + n_town:03d}"
            town_rows.append((t, tcode, bool(t_urban[t]), county))
            vsel = np.flatnonzero(villages.township_key.to_numpy() == t)
            vorder = vsel[_spatial_order(villages.loc[vsel, ["x", "y"]].to_numpy())]
            n_c = n_v = 0
            for v in vorder:
                if villages.urban.iloc[v]:
                    n_c += 1
                    village_code[villages.village_key.iloc[v]] = f"{tcode}{n_c:03d}"
                else:
                    n_v += 1
                    village_code[villages.village_key.iloc[v]] = f"{tcode}{200 + n_v:03d}"
    towns = pd.DataFrame(town_rows, columns=["township_key", "township_code", "urban", "county_code"])
    villages["village_code"] = villages.village_key.map(village_code)
    villages = villages.merge(towns[["township_key", "township_code"]], on="township_key")
    g["village_code"] = g.village_key.map(village_code)
    g = g.merge(villages[["village_key", "township_code"]], on="village_key")

    # names
    towns["township_name"] = place_names(rng, len(towns), "镇")
    towns.loc[towns.urban, "township_name"] = towns.loc[towns.urban, "township_name"].str.replace(
        "镇", "街道"
    )
    vnames = place_names(rng, len(villages), "村")
    villages["village_name"] = np.where(villages.urban, np.char.replace(vnames, "村", "社区"), vnames)

    # grid codes: village code + sequence, comprehensive grids first, then dedicated
    g["_order"] = 0
    g = g.sort_values(["village_code", "grid_type", "y", "x"], ascending=[True, False, False, True])
    g["seq"] = g.groupby("village_code").cumcount() + 1
    g["grid_code"] = g.village_code + g.seq.map("{:03d}".format)
    vname = villages.set_index("village_code").village_name
    comp_seq = g.groupby(["village_code", "grid_type"]).cumcount() + 1
    kind_names = g.dedicated_kind.map(DEDICATED_SUFFIX)
    ded_base = place_names(rng, len(g), "")
    g["grid_name"] = np.where(
        g.grid_type == "综合",
        g.village_code.map(vname) + "第" + comp_seq.astype(str) + "网格",
        pd.Series(ded_base, index=g.index) + kind_names.fillna("") + "专属网格",
    )
    hh_u = np.clip(rng.normal(*URBAN_HOUSEHOLDS, len(g)), 180, 420)
    hh_r = rng.uniform(*RURAL_HOUSEHOLDS, len(g))
    hh = np.where(g.urban, hh_u, hh_r).round().astype(int)
    hh = np.where(g.grid_type == "综合", hh, rng.integers(0, 25, len(g)))
    g["households"] = hh
    g = g.reset_index(drop=True)

    # 警格: one community, or 2-3 neighbouring villages of one township
    dist_rows = []
    station_rows = []
    for t in towns.itertuples():
        vs = villages[villages.township_code == t.township_code]
        groups = [[c] for c in vs.village_code[vs.urban]]
        vs = vs[~vs.urban]
        if len(vs):
            ang = np.arctan2(vs.y - vs.y.mean(), vs.x - vs.x.mean()).to_numpy()
            ordered = vs.village_code.to_numpy()[np.argsort(ang)]
            i = 0
            while i < len(ordered):
                size = int(rng.choice([2, 3]))
                if len(ordered) - (i + size) == 1:
                    size += 1 if size == 2 else -1
                groups.append(list(ordered[i : i + size]))
                i += size
        bureau = f"{t.county_code}000000"
        st = len([s for s in station_rows if s[2] == bureau]) + 1
        station_code = f"{t.county_code}5{st:03d}00"
        station_rows.append(
            (
                station_code,
                t.township_name.removesuffix("街道").removesuffix("镇") + "派出所",
                bureau,
                t.county_code,
                t.township_code,
            )
        )
        for k, grp in enumerate(groups, start=1):
            dist_rows.append((f"{station_code}{k:02d}", station_code, grp))
    binding = pd.DataFrame(
        [(v, d) for d, _, grp in dist_rows for v in grp], columns=["village_code", "district_code"]
    )
    g = g.merge(binding, on="village_code")
    vmap = villages.set_index("village_code")
    districts = _dissolve(g, "district_code", {"village_code": "first"}).reset_index()
    dmeta = pd.DataFrame(
        [(d, s, "、".join(vmap.village_name[v] for v in grp)) for d, s, grp in dist_rows],
        columns=["district_code", "station_code", "villages"],
    )
    stations = pd.DataFrame(
        station_rows, columns=["station_code", "station", "bureau_code", "county_code", "township_code"]
    )
    districts = (
        districts[["district_code", "geometry"]]
        .merge(dmeta, on="district_code")
        .merge(stations[["station_code", "station", "bureau_code"]], on="station_code")
    )
    districts["district_name"] = (
        districts.villages.where(
            districts.villages.str.len() <= 12, districts.villages.str.slice(0, 10) + "等"
        )
        + "警务区"
    )
    districts = districts.drop(columns="villages")

    # station buildings: at the most populous grid of their township
    top = g.sort_values("households", ascending=False).drop_duplicates("township_code")
    sxy = shapely.point_on_surface(top.set_index("township_code").geometry)
    stations["geometry"] = stations.township_code.map(sxy)
    stations = gpd.GeoDataFrame(stations, geometry="geometry", crs=crs)

    # admin units
    county_rows = gpd.GeoDataFrame(
        {
            "unit_code": cp.county_code,
            "unit_name": cp.county_name,
            "level": "county",
            "parent_code": city_code,
            "urban": [county_kind(c) == "district" for c in cp.county_code],
        },
        geometry=cp.geometry.values,
        crs=crs,
    )
    town_geo = _dissolve(villages, "township_code")
    town_units = gpd.GeoDataFrame(
        {
            "unit_code": towns.township_code,
            "unit_name": towns.township_name,
            "level": "township",
            "parent_code": towns.county_code,
            "urban": towns.urban,
        },
        geometry=towns.township_code.map(town_geo.geometry).values,
        crs=crs,
    )
    village_units = gpd.GeoDataFrame(
        {
            "unit_code": villages.village_code,
            "unit_name": villages.village_name,
            "level": "village",
            "parent_code": villages.township_code,
            "urban": villages.urban,
        },
        geometry=villages.geometry.values,
        crs=crs,
    )
    city = gpd.GeoDataFrame(
        {
            "unit_code": [city_code],
            "unit_name": [city_name],
            "level": ["city"],
            "parent_code": [None],
            "urban": [True],
        },
        geometry=[shapely.union_all(cp.geometry.values)],
        crs=crs,
    )
    admin = pd.concat([city, county_rows, town_units, village_units], ignore_index=True)

    # police units: bureaus (= counties), stations (= townships), districts
    bureaus = gpd.GeoDataFrame(
        {
            "unit_code": cp.county_code + "000000",
            "unit_name": cp.county_name.str.slice(0, -1) + "分局",
            "level": "bureau",
            "parent_code": None,
            "county_code": cp.county_code,
        },
        geometry=cp.geometry.values,
        crs=crs,
    )
    st_units = gpd.GeoDataFrame(
        {
            "unit_code": stations.station_code,
            "unit_name": stations.station,
            "level": "station",
            "parent_code": stations.bureau_code,
            "county_code": stations.county_code,
        },
        geometry=stations.township_code.map(town_geo.geometry).values,
        crs=crs,
    )
    d_units = gpd.GeoDataFrame(
        {
            "unit_code": districts.district_code,
            "unit_name": districts.district_name,
            "level": "district",
            "parent_code": districts.station_code,
            "county_code": districts.district_code.str.slice(0, 6),
        },
        geometry=districts.geometry.values,
        crs=crs,
    )
    police = pd.concat([bureaus, st_units, d_units], ignore_index=True)

    grids = gpd.GeoDataFrame(
        g[
            [
                "grid_code",
                "grid_name",
                "grid_type",
                "dedicated_kind",
                "village_code",
                "township_code",
                "county_code",
                "district_code",
                "households",
                "urban",
                "geometry",
            ]
        ],
        geometry="geometry",
        crs=crs,
    )
    to4326 = {
        name: _valid(frame.to_crs(4326))
        for name, frame in {
            "admin": admin,
            "grids": grids,
            "police": police,
            "districts": districts,
            "stations": stations,
        }.items()
    }
    return Territory(
        admin_units=to4326["admin"],
        grids=to4326["grids"],
        police_units=to4326["police"],
        districts=to4326["districts"],
        stations=to4326["stations"].drop(columns="township_code"),
        grid_district=grids[["grid_code", "district_code"]].copy(),
        crs=crs,
    )
