"""Polygons for the browser (浏览器端几何): simplified and quantised per view level, as compact GeoJSON.

A map shows only what its level needs (city view: county and township outlines, coarse H3; township
view: its grids), and at each level the polygons carry only the detail a screen can show:

1. **simplify** the whole layer as a *coverage* with ``shapely.coverage_simplify`` (GEOS ≥ 3.12,
   Visvalingam–Whyatt on the shared edges): a shared edge is simplified once, so neighbours stay
   edge-matched with no gap or overlap, which per-polygon ``simplify`` cannot promise. The tolerance is
   in metres (:data:`LEVELS`): the layer is projected to the CGCS2000 Gauss–Krüger zone of
   :func:`geo.crs.projected_crs_for`, simplified, and brought back to lon/lat;
2. **drop slivers**: parts of a multipolygon smaller than the level's ``min_part_m2`` go (never a
   unit's largest part, so no unit disappears);
3. **quantise**: coordinates are rounded to 5 decimals (about 1 m) or 6 at grid level. Shared vertices
   round identically, so shared edges stay shared; the few polygons rounding makes invalid (a thin
   spike crossing itself) are repaired with ``make_valid(method="structure")``;
4. **write** a FeatureCollection with only ``code`` (and optionally ``name``, ``value``) per feature
   and the feature's position as its ``id`` (what :mod:`layers.deck` recolours by).

Simplify the whole city once per level and cache the result (1–3 s for 13.7 K grids); select a
unit's rows from it afterwards, so that the borders of two neighbouring townships drawn at different
times still match.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.crs import projected_crs_for, transformer

__all__ = [
    "LEVELS",
    "LevelSpec",
    "bounds_of",
    "feature_codes",
    "feature_collection",
    "feature_collection_json",
    "level_geojson",
    "payload_bytes",
    "prepare",
    "quantise",
    "simplify_coverage",
]


@dataclass(frozen=True)
class LevelSpec:
    """How much detail a view level keeps.

    Attributes
    ----------
    tolerance_m : float
        ``coverage_simplify`` tolerance in metres (about the square root of the largest triangle
        area removed).
    decimals : int
        Decimals kept in lon/lat (5 ≈ 1.1 m north–south, 0.95 m east–west at 32°N).
    min_part_m2 : float
        Secondary parts of a multipolygon below this area are dropped.
    """

    tolerance_m: float
    decimals: int
    min_part_m2: float


#: Detail per view level (视图层级). A city view on a 1920-px screen shows ~100 km, about 50 m a pixel;
#: a township view ~10 km, 5 m a pixel; a grid view ~1 km.
LEVELS: dict[str, LevelSpec] = {
    "city": LevelSpec(tolerance_m=150.0, decimals=5, min_part_m2=150.0**2),
    "county": LevelSpec(tolerance_m=50.0, decimals=5, min_part_m2=50.0**2),
    "township": LevelSpec(tolerance_m=10.0, decimals=5, min_part_m2=10.0**2),
    "village": LevelSpec(tolerance_m=4.0, decimals=5, min_part_m2=4.0**2),
    "grid": LevelSpec(tolerance_m=1.0, decimals=6, min_part_m2=1.0),
}
# police levels show like their administrative peers
LEVELS.update(bureau=LEVELS["county"], station=LEVELS["township"], district=LEVELS["village"])


def _spec(level: str | LevelSpec) -> LevelSpec:
    if isinstance(level, LevelSpec):
        return level
    try:
        return LEVELS[level]
    except KeyError:
        raise ValueError(f"unknown level {level!r}; known: {', '.join(LEVELS)}") from None


def _geometries(frame: gpd.GeoDataFrame | gpd.GeoSeries | ArrayLike) -> NDArray[np.object_]:
    """Geometries as a shapely array in lon/lat (a GeoDataFrame in another CRS is converted)."""
    if isinstance(frame, gpd.GeoDataFrame | gpd.GeoSeries):
        geo = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
        if geo.crs is not None and not geo.crs.is_geographic:
            geo = geo.to_crs(4326)
        return geo.to_numpy()
    return np.asarray(frame, dtype=object)


def _transformer(src: int, dst: int):
    tr = transformer(src, dst)

    def apply(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return apply


def _epsg_for(geoms: NDArray[np.object_]) -> int:
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return 4549  # no geometry: any metric CRS will do
    x0, y0, x1, y1 = shapely.total_bounds(geoms[ok])
    return projected_crs_for([(x0 + x1) / 2], [(y0 + y1) / 2])


def _drop_small_parts(geoms: NDArray[np.object_], min_area: float) -> NDArray[np.object_]:
    """Drop secondary parts smaller than ``min_area`` (projected units) from multipolygons."""
    multi = np.flatnonzero(shapely.get_type_id(geoms) == 6)
    if not len(multi) or min_area <= 0:
        return geoms
    parts, which = shapely.get_parts(geoms[multi], return_index=True)
    area = shapely.area(parts)
    order = np.lexsort((-area, which))  # by geometry, largest part first
    largest = order[np.r_[True, which[order][1:] != which[order][:-1]]]
    keep = area >= min_area
    keep[largest] = True
    rebuilt = shapely.multipolygons(parts[keep], indices=which[keep])
    single = shapely.get_num_geometries(rebuilt) == 1
    rebuilt[single] = shapely.get_geometry(rebuilt[single], 0)
    out = geoms.copy()
    out[multi] = rebuilt
    return out


def simplify_coverage(
    geometries: gpd.GeoDataFrame | gpd.GeoSeries | ArrayLike,
    tolerance_m: float,
    *,
    min_part_m2: float = 0.0,
    epsg: int | None = None,
    simplify_boundary: bool = True,
) -> NDArray[np.object_]:
    """Simplify polygons that tile an area, keeping shared edges shared (覆盖简化).

    Parameters
    ----------
    geometries : GeoDataFrame, GeoSeries or array of shapely polygons
        One coverage (non-overlapping, edge-matched polygons: the grids of a city, the townships of a
        city …), lon/lat.
    tolerance_m : float
        Tolerance in metres; 0 returns the polygons unchanged (but small parts are still dropped).
    min_part_m2 : float
        Drop secondary multipolygon parts below this area (m²).
    epsg : int, optional
        Metric CRS to simplify in; default :func:`geo.crs.projected_crs_for` of the layer's centre.
    simplify_boundary : bool
        Also simplify the coverage's outer boundary.

    Returns
    -------
    ndarray of shapely geometries
        In lon/lat, one per input, same order; missing and empty geometries stay as they are.
    """
    geoms = _geometries(geometries)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out = geoms.copy()
    if not ok.any():
        return out
    code = epsg or _epsg_for(geoms)
    projected = shapely.transform(geoms[ok], _transformer(4326, code))
    if tolerance_m > 0:
        projected = shapely.coverage_simplify(projected, tolerance_m, simplify_boundary=simplify_boundary)
    projected = _drop_small_parts(np.asarray(projected, dtype=object), min_part_m2)
    out[ok] = shapely.transform(projected, _transformer(code, 4326))
    return out


def quantise(
    geometries: gpd.GeoDataFrame | gpd.GeoSeries | ArrayLike, decimals: int = 5
) -> NDArray[np.object_]:
    """Round coordinates to ``decimals`` and repair what rounding broke (坐标量化).

    Parameters
    ----------
    geometries : GeoDataFrame, GeoSeries or array of shapely geometries
        Lon/lat.
    decimals : int
        Decimals kept.

    Returns
    -------
    ndarray of shapely geometries
        Same order; repeated consecutive vertices removed; polygons made invalid by rounding are
        repaired (``make_valid(method="structure")``), which may leave a collapsed one empty.
    """
    geoms = _geometries(geometries)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out = geoms.copy()
    rounded = shapely.transform(geoms[ok], lambda xy: np.round(xy, decimals))
    bad = ~shapely.is_valid(rounded)
    if bad.any():
        rounded[bad] = shapely.make_valid(rounded[bad], method="structure", keep_collapsed=False)
    good = shapely.is_valid(rounded) & ~shapely.is_empty(rounded)
    rounded[good] = shapely.remove_repeated_points(rounded[good], 0.0)
    out[ok] = rounded
    return out


def prepare(frame: gpd.GeoDataFrame, level: str | LevelSpec, *, epsg: int | None = None) -> gpd.GeoDataFrame:
    """Simplify and quantise one coverage layer for a view level.

    Parameters
    ----------
    frame : GeoDataFrame
        A coverage (grids, townships, 警格 …), any CRS.
    level : str or LevelSpec
        A key of :data:`LEVELS` (``city`` … ``grid``, or a police level) or an explicit spec.
    epsg : int, optional
        Metric CRS for the tolerance (default: the layer's Gauss–Krüger zone).

    Returns
    -------
    GeoDataFrame
        The same rows and columns in EPSG:4326 with the simplified, quantised geometry.
    """
    spec = _spec(level)
    geoms = simplify_coverage(frame, spec.tolerance_m, min_part_m2=spec.min_part_m2, epsg=epsg)
    geoms = quantise(geoms, spec.decimals)
    out = frame.copy() if frame.crs is None or frame.crs.is_geographic else frame.to_crs(4326)
    return out.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=4326))


def _values_for(codes: pd.Series, values: pd.Series | ArrayLike | None) -> NDArray[np.float64] | None:
    if values is None:
        return None
    if isinstance(values, pd.Series) and not isinstance(values.index, pd.RangeIndex):
        v = values.copy()
        v.index = v.index.astype(str)
        return pd.to_numeric(codes.map(v), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    arr = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
    if len(arr) != len(codes):
        raise ValueError(f"values has {len(arr)} entries for {len(codes)} features")
    return arr.to_numpy(np.float64, na_value=np.nan)


def _number_texts(values: NDArray[np.float64], decimals: int) -> list[str]:
    """JSON numbers, shortest form (``12``, ``3.5``), ``null`` for NaN."""
    out = []
    for x in np.round(values, decimals).tolist():
        if x != x:  # NaN
            out.append("null")
        elif x == int(x) and abs(x) < 2**53:
            out.append(str(int(x)))
        else:
            out.append(repr(x))
    return out


def html_text(value: Any) -> str:
    """``value`` as text safe to put into HTML (``< > & " '`` escaped, and ``$`` too).

    deck.gl's tooltips (deckgl-dash and pydeck alike) put a feature's properties into their HTML
    template as they are, with JavaScript's ``String.replace`` (where ``$&`` and the like are patterns):
    a unit called ``<img src=x onerror=…>`` would become markup. Every text property a tooltip may
    show is therefore written escaped; the browser shows it as typed.
    """
    return html.escape(str(value)).replace("$", "&#36;")


def feature_collection_json(
    frame: gpd.GeoDataFrame,
    code_col: str,
    name_col: str | None = None,
    values: pd.Series | ArrayLike | None = None,
    *,
    value_decimals: int = 4,
) -> str:
    """A compact GeoJSON FeatureCollection as JSON text, written without a Python object per coordinate.

    Serve it from a route of the app (cacheable, compressible) and give deck.gl its URL as a layer's
    ``data``: a city of 13.7 K grids is then never part of a Dash callback's payload. Geometries are
    written by GEOS (``shapely.to_geojson``); see :func:`feature_collection` for the content.

    Parameters
    ----------
    frame, code_col, name_col, values, value_decimals :
        As in :func:`feature_collection`.

    Returns
    -------
    str
    """
    geoms = _geometries(frame)
    codes = frame[code_col].astype(str).tolist()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    texts = np.where(empty, None, shapely.to_geojson(np.where(empty, None, geoms)))
    texts[empty] = '{"type":"Polygon","coordinates":[]}'
    extra: list[list[str]] = []
    if name_col is not None:
        names = frame[name_col].astype(str)
        extra.append([',"name":' + json.dumps(html_text(n), ensure_ascii=False) for n in names])
    vals = _values_for(pd.Series(codes), values)
    if vals is not None:
        extra.append([',"value":' + t for t in _number_texts(vals, value_decimals)])
    tails = ["".join(t) for t in zip(*extra, strict=True)] if extra else [""] * len(codes)
    features = ",".join(
        f'{{"type":"Feature","id":{i},"geometry":{g},"properties":{{"code":{json.dumps(html_text(c))}{t}}}}}'
        for i, (g, c, t) in enumerate(zip(texts.tolist(), codes, tails, strict=True))
    )
    return '{"type":"FeatureCollection","features":[' + features + "]}"


def feature_collection(
    frame: gpd.GeoDataFrame,
    code_col: str,
    name_col: str | None = None,
    values: pd.Series | ArrayLike | None = None,
    *,
    value_decimals: int = 4,
) -> dict[str, Any]:
    """A compact GeoJSON FeatureCollection of already prepared geometries, as a dict for a layer prop.

    Parameters
    ----------
    frame : GeoDataFrame
        Lon/lat polygons (see :func:`prepare`).
    code_col : str
        Column of unit codes, written as property ``code``.
    name_col : str, optional
        Column of names, written as ``name`` (costs ~50 bytes a feature in Dash's ASCII-escaped JSON;
        leave it out of large layers and look the name up on click).
    values : Series indexed by code, or array aligned with the rows, optional
        Written as ``value`` (NaN → null), rounded to ``value_decimals``.
    value_decimals : int

    Returns
    -------
    dict
        ``{"type": "FeatureCollection", "features": [...]}``; feature ``i`` has ``"id": i`` (its
        position, which :func:`layers.deck.grid_layer` recolours by) and the properties asked for.
        For a large layer prefer :func:`feature_collection_json` served from a URL (parsing 13.7 K
        grids into Python objects takes about 0.5 s, and Dash then serialises them again).
    """
    return json.loads(
        feature_collection_json(frame, code_col, name_col, values, value_decimals=value_decimals)
    )


def level_geojson(
    frame: gpd.GeoDataFrame,
    level: str | LevelSpec,
    code_col: str,
    name_col: str | None = None,
    values: pd.Series | ArrayLike | None = None,
    *,
    epsg: int | None = None,
) -> dict[str, Any]:
    """:func:`prepare` then :func:`feature_collection`: one coverage as GeoJSON for a view level.

    Parameters
    ----------
    frame : GeoDataFrame
        One coverage layer.
    level : str or LevelSpec
    code_col, name_col, values :
        As in :func:`feature_collection`.
    epsg : int, optional

    Returns
    -------
    dict
        A FeatureCollection.
    """
    return feature_collection(prepare(frame, level, epsg=epsg), code_col, name_col, values)


def feature_codes(collection: Mapping[str, Any]) -> list[str]:
    """The ``code`` property of every feature, in feature (``id``) order."""
    return [str(f["properties"].get("code")) for f in collection["features"]]


def bounds_of(
    data: Mapping[str, Any] | gpd.GeoDataFrame | gpd.GeoSeries,
) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of a FeatureCollection or a GeoDataFrame, in lon/lat."""
    if isinstance(data, gpd.GeoDataFrame | gpd.GeoSeries):
        geoms = _geometries(data)
    else:
        geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in data["features"]])
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    return float(x0), float(y0), float(x1), float(y1)


def payload_bytes(obj: Any, *, encoding: str = "dash") -> int:
    """Bytes ``obj`` costs on the wire.

    Parameters
    ----------
    obj : JSON-serialisable object (a FeatureCollection, a layer dict, a list of layers …)
    encoding : {"dash", "utf8"}
        ``dash``: as Dash sends a prop (``plotly.io.json.to_json_plotly``: without orjson, stdlib
        ``json`` with ASCII escapes, so a Chinese character costs 6 bytes); ``utf8``: compact JSON in
        UTF-8 (what orjson would send: 3 bytes a Chinese character).

    Returns
    -------
    int
    """
    if encoding == "dash":
        from plotly.io.json import to_json_plotly

        return len(to_json_plotly(obj).encode("utf-8"))
    if encoding == "utf8":
        return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    raise ValueError(f"encoding must be 'dash' or 'utf8', not {encoding!r}")
