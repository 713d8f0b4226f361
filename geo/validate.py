"""Validation (数据校验) of grids, 警格 police districts, their binding and point layers.

Every check runs and every problem is collected: nothing stops at the first error, so one run tells
the data owner everything that is wrong. Each problem is a :class:`Problem` naming its rule, layer,
the ids concerned (codes or record ids, ``row N`` when a row has no id), a plain-sentence detail and,
for spatial rules, the area in m².

Rules (the names are used by ``onemap validate --json`` and must not change):

========================  ===================================================================
rule                      fires when
========================  ===================================================================
invalid_geometry          a polygon is not valid (detail = ``shapely.is_valid_reason``)
empty_geometry            a row has no geometry or an empty one
malformed_code            a code column does not match ``data.schema.CODE_PATTERNS``, or a
                          grid_code does not start with its village_code
duplicate_code            the same grid_code / district_code on several rows (ids = the code,
                          rows = all its rows); an exact duplicate binding row is a warning
overlap                   two grids (or two 警格) share more than ``tolerance_m2`` of area
                          (ids = both codes, area_m2 = the shared area)
gap                       area of the jurisdiction covered by no grid, more than ``tolerance_m2``
                          (one problem per gap polygon; ids = the grids touching it)
unbound_grid              a grid not in exactly one known 警格: district_code empty, unknown
                          警格, not in the binding table, in it twice, or the binding table and
                          the grid's own district_code disagree (detail says which)
grid_outside_district     more than ``tolerance_m2`` AND more than 1 % of a grid's area lies
                          outside the polygon of the 警格 it is bound to (ids = grid, 警格;
                          area_m2 = the outside area)
point_outside_grids       a point inside no grid (one problem per point; points on a grid's
                          edge are inside; points with a bad coordinate are not checked)
bad_coordinate            a point (or a polygon's bounding box) not in China: missing,
                          out_of_range, swapped or outside_china (``geo.crs.check_lonlat``)
bad_id_number             an ID number failing GB 11643 (format, birth date or check digit);
                          the detail never repeats the number
bad_date                  a date that cannot be parsed or whose year is outside 1900–2100
markup_in_text            a text field (a name, an address …) holds HTML markup: a tag opening
                          (``<`` followed by a letter, ``/``, ``!`` or ``?``) or a character
                          reference (``&lt;``, ``&#60;``); an error, as no real name holds one
                          and a poisoned name is how markup reaches a screen (every screen
                          shows it as text; the source should still be cleaned)
========================  ===================================================================

The jurisdiction is ``jurisdiction`` if given, else the union of the 警格, else the union of the
grids, in the last two cases with interior holes filled: a hole in the grid cover is a gap.
Binding is taken from the ``binding`` table when given, else from the grids' ``district_code``
column; with neither, it is not checked.

:func:`validate_paths` adds, one per rejected row, the importer's own rules (``geo.io.RULES``:
``missing_value``, ``wrong_geometry_type``, ``bad_value``, ``duplicate_key`` ... and the ones above);
a row it rejects is not reported again by the checks that follow (a rejected grid still counts as
covered ground, and grids bound to a rejected 警格 are not called unbound).

Severity is ``"error"`` except for slivers (碎片): an overlap or gap whose area is at most
:data:`SLIVER_AREA_M2` or whose mean width (2 × area / perimeter) is below :data:`SLIVER_WIDTH_M`
is a ``"warning"`` — typically two neighbours digitised with slightly different shared edges,
harmless for assigning records but worth fixing in the source. Exact duplicate rows of the binding
table are warnings too (the grid is still bound to one 警格).

Areas are measured in the projected CRS :func:`geo.crs.projected_crs_for` picks for the centre of
the data. Spatial checks use the non-empty polygons with plausible coordinates; an invalid polygon
is reported once and then repaired with ``shapely.make_valid`` for the spatial checks, so that it
neither hides its overlaps nor leaves a false gap where it lies. Overlaps are found from STRtree
candidate pairs (no pairwise loop): about 3 s for 13,700 grids of 50 vertices.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from data import schema
from data.idnumber import id_number_problems
from geo.crs import check_lonlat, parse_crs, projected_crs_for, to_wgs84

__all__ = [
    "OUTSIDE_SHARE",
    "RULES",
    "SLIVER_AREA_M2",
    "SLIVER_WIDTH_M",
    "Problem",
    "problems_to_json",
    "summarise",
    "validate_frames",
    "validate_paths",
]

RULES = (
    "invalid_geometry",
    "empty_geometry",
    "malformed_code",
    "duplicate_code",
    "overlap",
    "gap",
    "unbound_grid",
    "grid_outside_district",
    "point_outside_grids",
    "bad_coordinate",
    "bad_id_number",
    "bad_date",
    "markup_in_text",
)

#: Overlaps and gaps of at most this area (m²) are slivers (severity "warning").
SLIVER_AREA_M2 = 10.0
#: Overlaps and gaps thinner than this mean width (m, 2 × area / perimeter) are slivers.
SLIVER_WIDTH_M = 1.0
#: A grid is outside its 警格 only if the outside part exceeds this share of its area (and tolerance).
OUTSIDE_SHARE = 0.01
#: Distance (m) within which a grid counts as touching a gap (absorbs floating-point noise).
_TOUCH_M = 0.01
#: Precision grid (m) of the overlays that find gaps: shared edges digitised (or reprojected) with
#: sub-millimetre differences must not leave zero-width spikes that inflate the touching grids.
_GRID_SIZE_M = 0.001
#: Widening (m) of polygons rebuilt from an importer's rejects (WKT rounded to 6 decimals).
_COVER_BUFFER_M = 0.25
_YEARS = (1900, 2100)

_ID_REASONS = {
    "missing": "ID number is missing",
    "format": "ID number is not 17 digits followed by a digit or X",
    "birth_date": "the birth date inside the ID number is not a real past date",
    "check_digit": "the GB 11643 check digit does not match",
}


@dataclass
class Problem:
    """One problem found by validation.

    ``ids`` are codes or record ids (never personal data such as ID numbers); ``rows`` are the
    ``source_row`` numbers of the records when the data came from a file (else positions in the
    frame); ``area_m2`` is set for overlaps, gaps and grids outside their 警格.
    """

    rule: str
    layer: str
    ids: list[str]
    detail: str
    severity: str = "error"
    area_m2: float | None = None
    rows: list[int] | None = None

    def __post_init__(self) -> None:
        # Callers pass numpy scalars; keep plain Python types so that problems compare and serialise.
        self.ids = [str(i) for i in self.ids]
        if self.area_m2 is not None:
            self.area_m2 = float(self.area_m2)
        if self.rows is not None:
            self.rows = [int(r) for r in self.rows]

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (area rounded to 0.01 m²)."""
        out = asdict(self)
        if self.area_m2 is not None:
            out["area_m2"] = round(self.area_m2, 2)
        return out


def problems_to_json(problems: Iterable[Problem]) -> str:
    """A JSON array of problem objects (rule, layer, ids, detail, severity, area_m2, rows)."""
    return json.dumps([p.to_dict() for p in problems], ensure_ascii=False, indent=1)


def summarise(problems: Iterable[Problem]) -> dict[str, int]:
    """Number of problems per rule, rules in :data:`RULES` order first."""
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.rule] = counts.get(p.rule, 0) + 1
    order = {r: i for i, r in enumerate(RULES)}
    return dict(sorted(counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


# --------------------------------------------------------------------------------------------------
# helpers


def _text(values) -> np.ndarray:
    """Object array of stripped strings, ``""`` for missing values."""
    s = pd.Series(values, dtype=object).reset_index(drop=True)
    missing = s.isna().to_numpy()
    out = s.where(~missing, "").astype(str).str.strip().to_numpy(dtype=object)
    out[missing] = ""
    return out


def _rows(frame: pd.DataFrame) -> np.ndarray:
    """Row numbers to report: ``source_row`` when the frame came from a file, else positions."""
    if "source_row" in frame.columns:
        rows = pd.to_numeric(frame["source_row"], errors="coerce")
        if rows.notna().all():
            return rows.to_numpy(dtype=np.int64)
    return np.arange(len(frame), dtype=np.int64)


def _layer_schema(name: str) -> schema.Layer | None:
    try:
        return schema.layer(name)
    except KeyError:
        return None


def _ids(frame: pd.DataFrame, key: str | None, rows: np.ndarray) -> np.ndarray:
    """The record id of each row (its key value), ``row N`` where there is none."""
    ids = np.array([f"row {r}" for r in rows], dtype=object)
    for col in (key, "id"):
        if col and col in frame.columns:
            text = _text(frame[col])
            has = text != ""
            ids[has] = text[has]
            break
    return ids


def _as_lonlat(frame, name: str) -> gpd.GeoDataFrame:
    """A copy in EPSG:4326 with a 0..n-1 index (no CRS is taken as lon/lat; 4490 counts as 4326)."""
    if not isinstance(frame, gpd.GeoDataFrame):
        if isinstance(frame, gpd.GeoSeries):
            frame = gpd.GeoDataFrame(geometry=frame)
        elif isinstance(frame, shapely.Geometry):
            frame = gpd.GeoDataFrame(geometry=[frame], crs=schema.STORAGE_CRS)
        elif isinstance(frame, pd.DataFrame) and {"lon", "lat"} <= set(frame.columns):
            lon = pd.to_numeric(frame["lon"], errors="coerce")
            lat = pd.to_numeric(frame["lat"], errors="coerce")
            frame = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs=schema.STORAGE_CRS)
        else:
            raise TypeError(f"{name}: expected a GeoDataFrame, got {type(frame).__name__}")
    frame = frame.reset_index(drop=True)
    if frame.crs is None or frame.crs.is_geographic:
        return frame.set_crs(schema.STORAGE_CRS, allow_override=True)
    return frame.to_crs(schema.STORAGE_CRS)


def _sliver_severity(areas: np.ndarray, perimeters: np.ndarray) -> np.ndarray:
    width = np.divide(2 * areas, perimeters, out=np.zeros_like(areas), where=perimeters > 0)
    sliver = (areas <= SLIVER_AREA_M2) | (width < SLIVER_WIDTH_M)
    return np.where(sliver, "warning", "error")


def _fmt_m2(area: float) -> str:
    return f"{area:,.1f} m²"


# --------------------------------------------------------------------------------------------------
# record-level checks (codes, ID numbers, dates, markup)


def _check_codes(name: str, frame: pd.DataFrame, ids: np.ndarray, rows: np.ndarray) -> list[Problem]:
    problems: list[Problem] = []
    for col, pattern in schema.CODE_PATTERNS.items():
        if col not in frame.columns:
            continue
        text = _text(frame[col])
        matches = pd.Series(text, dtype=object).str.fullmatch(pattern).fillna(False).to_numpy(bool)
        bad = (text != "") & ~matches
        width = re.fullmatch(r"\\d\{(\d+)\}", pattern)
        want = f"{width.group(1)} digits" if width else f"of the form {pattern}"
        for i in np.flatnonzero(bad):
            problems.append(
                Problem("malformed_code", name, [ids[i]], f"{col} {text[i]!r} is not {want}", rows=[rows[i]])
            )
        if col == "grid_code" and "village_code" in frame.columns:
            village = _text(frame["village_code"])
            check = ~bad & (text != "") & (village != "")
            prefix = np.array([t[:12] for t in text], dtype=object)
            for i in np.flatnonzero(check & (prefix != village)):
                problems.append(
                    Problem(
                        "malformed_code",
                        name,
                        [ids[i]],
                        f"grid_code {text[i]} does not start with its village_code {village[i]}",
                        rows=[rows[i]],
                    )
                )
    return problems


def _check_duplicates(name: str, frame: pd.DataFrame, key: str, rows: np.ndarray) -> list[Problem]:
    if key not in frame.columns:
        return []
    text = pd.Series(_text(frame[key]))
    dup = text.duplicated(keep=False) & (text != "")
    problems = []
    for code, idx in text[dup].groupby(text[dup], sort=True).groups.items():
        where = rows[np.asarray(idx)]
        problems.append(
            Problem(
                "duplicate_code",
                name,
                [code],
                f"{key} {code} appears on {len(where)} rows",
                rows=[int(r) for r in where],
            )
        )
    return problems


def _check_id_numbers(name: str, frame: pd.DataFrame, ids: np.ndarray, rows: np.ndarray) -> list[Problem]:
    if "id_number" not in frame.columns:
        return []
    lay = _layer_schema(name)
    required = bool(lay and "id_number" in lay.column_names and lay.column("id_number").required)
    reasons = id_number_problems(frame["id_number"].to_numpy(dtype=object))
    bad = (reasons != "") & ((reasons != "missing") | required)
    return [
        Problem("bad_id_number", name, [ids[i]], _ID_REASONS.get(reasons[i], reasons[i]), rows=[rows[i]])
        for i in np.flatnonzero(bad)
    ]


def _parse_dates(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    text = pd.Series(_text(values), index=values.index)
    # utc=True: a column mixing time-zone offsets must not raise; only validity matters here.
    parsed = pd.to_datetime(text.where(text != ""), format="ISO8601", errors="coerce", utc=True)
    retry = parsed.isna() & (text != "")
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], format="mixed", errors="coerce", utc=True)
    return parsed


def _check_dates(name: str, frame: pd.DataFrame, ids: np.ndarray, rows: np.ndarray) -> list[Problem]:
    lay = _layer_schema(name)
    if lay is None:
        return []
    problems = []
    for col in lay.columns:
        if col.dtype not in ("date", "datetime") or col.name not in frame.columns:
            continue
        raw = frame[col.name].reset_index(drop=True)
        text = _text(raw)
        parsed = _parse_dates(raw)
        years = parsed.dt.year
        given = (text != "") & (text != "NaT")
        unparsed = given & parsed.isna().to_numpy()
        odd_year = parsed.notna().to_numpy() & ~years.between(*_YEARS).fillna(False).to_numpy(bool)
        for i in np.flatnonzero(unparsed | odd_year):
            why = "is not a date" if unparsed[i] else f"has an implausible year (not {_YEARS[0]}–{_YEARS[1]})"
            problems.append(
                Problem("bad_date", name, [ids[i]], f"{col.name} {text[i]!r} {why}", rows=[rows[i]])
            )
    return problems


#: HTML markup in a text: where a browser's tokenizer opens a tag, or a character reference.
MARKUP = r"<[A-Za-z/!?]|&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);"


def _check_markup(name: str, frame: pd.DataFrame, ids: np.ndarray, rows: np.ndarray) -> list[Problem]:
    problems = []
    for col in frame.columns:
        values = frame[col]
        if col == "geometry" or not (
            pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)
        ):
            continue
        try:  # Arrow's vectorised regex: a full-scale population (8 M rows) in about a second a column
            arr = pa.array(values, pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: as text
            arr = pa.array(_text(values), pa.string())
        found = pc.extract_regex(arr, f"(?P<m>{MARKUP})")
        hit = found.is_valid().to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(hit):
            markup = found[int(i)]["m"].as_py()
            problems.append(
                Problem(
                    "markup_in_text",
                    name,
                    [ids[i]],
                    f"文本含HTML标记，请在源数据中删除 ({col} holds HTML markup {markup!r}…; remove it at "
                    "the source)",
                    rows=[rows[i]],
                )
            )
    return problems


def _record_checks(name: str, frame: pd.DataFrame, ids: np.ndarray, rows: np.ndarray) -> list[Problem]:
    return (
        _check_codes(name, frame, ids, rows)
        + _check_id_numbers(name, frame, ids, rows)
        + _check_dates(name, frame, ids, rows)
        + _check_markup(name, frame, ids, rows)
    )


# --------------------------------------------------------------------------------------------------
# geometry


@dataclass
class _Polygons:
    """A polygon layer prepared for spatial checks."""

    name: str
    frame: gpd.GeoDataFrame
    ids: np.ndarray
    rows: np.ndarray
    usable: np.ndarray  # bool: non-empty and plausible coordinates
    repaired: np.ndarray  # lon/lat geometries, invalid ones made valid (None where not usable)
    proj: np.ndarray | None = None  # projected geometries (None where not usable)
    # Rows the importer rejected (validate_paths): their keys, and their polygons (lon/lat, from the
    # rejects' WKT) which only count as cover, so that a rejected grid is not reported again as a gap.
    rejected_keys: frozenset[str] = frozenset()
    rejected: np.ndarray | None = None
    rejected_proj: np.ndarray | None = None


def _prepare_polygons(
    name: str, frame: gpd.GeoDataFrame, key: str | None, problems: list[Problem], *, report: bool = True
) -> _Polygons:
    rows = _rows(frame)
    ids = _ids(frame, key, rows)
    geoms = frame.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    valid = shapely.is_valid(geoms) | empty
    xmin, ymin, xmax, ymax = shapely.bounds(geoms).T
    status_lo = np.asarray(check_lonlat(xmin, ymin), dtype=object)
    status_hi = np.asarray(check_lonlat(xmax, ymax), dtype=object)
    status = np.where(status_lo != "ok", status_lo, status_hi)
    bad_xy = ~empty & (status != "ok")
    if report:
        for i in np.flatnonzero(empty):
            problems.append(Problem("empty_geometry", name, [ids[i]], "no geometry", rows=[rows[i]]))
        reasons = shapely.is_valid_reason(geoms)
        for i in np.flatnonzero(~valid):
            problems.append(Problem("invalid_geometry", name, [ids[i]], str(reasons[i]), rows=[rows[i]]))
        for i in np.flatnonzero(bad_xy):
            problems.append(
                Problem(
                    "bad_coordinate",
                    name,
                    [ids[i]],
                    f"polygon coordinates are {status[i]} (bounds {xmin[i]:.6g}, {ymin[i]:.6g}, "
                    f"{xmax[i]:.6g}, {ymax[i]:.6g})",
                    rows=[rows[i]],
                )
            )
    usable = ~empty & ~bad_xy
    repaired = np.full(len(geoms), None, dtype=object)
    repaired[usable] = geoms[usable]
    fix = usable & ~valid
    if fix.any():
        fixed = shapely.make_valid(geoms[fix], method="structure", keep_collapsed=False)
        repaired[fix] = fixed
        still_empty = shapely.is_empty(fixed)
        usable[np.flatnonzero(fix)[still_empty]] = False
        repaired[~usable] = None
    return _Polygons(name, frame, ids, rows, usable, repaired)


def _project(layer: _Polygons | None, epsg: int) -> None:
    if layer is None:
        return
    proj = np.full(len(layer.repaired), None, dtype=object)
    if layer.usable.any():
        series = gpd.GeoSeries(layer.repaired[layer.usable], crs=schema.STORAGE_CRS).to_crs(epsg)
        proj[layer.usable] = series.to_numpy()
    layer.proj = proj
    if layer.rejected is not None and len(layer.rejected):
        series = gpd.GeoSeries(layer.rejected, crs=schema.STORAGE_CRS).to_crs(epsg)
        layer.rejected_proj = series.to_numpy()


def _cover(layer: _Polygons, *, grow: float = _COVER_BUFFER_M) -> np.ndarray:
    """Projected polygons of the area a layer covers: its usable rows and its rejected rows.

    Rejected rows come from WKT rounded to about 0.1 m, so they are buffered by ``grow`` metres:
    grown, they open no slivers along their neighbours when they serve as cover; shrunk (``grow``
    negative), they add no false fringe to a jurisdiction.
    """
    geoms = layer.proj[layer.usable]
    if layer.rejected_proj is not None and len(layer.rejected_proj):
        extra = shapely.buffer(layer.rejected_proj, grow, join_style="mitre")
        geoms = np.concatenate([geoms, extra[~shapely.is_empty(extra)]])
    return geoms


def _check_overlaps(layer: _Polygons, tolerance_m2: float, what: str) -> list[Problem]:
    index = np.flatnonzero(layer.usable)
    if len(index) < 2:
        return []
    geoms = layer.proj[index]
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    # Neighbours in a tiling only touch; skip them before the (costlier) overlay.
    touching = shapely.touches(geoms[left], geoms[right])
    left, right = left[~touching], right[~touching]
    if not len(left):
        return []
    inter = shapely.intersection(geoms[left], geoms[right])
    areas = shapely.area(inter)
    big = areas > tolerance_m2
    left, right, inter, areas = left[big], right[big], inter[big], areas[big]
    severity = _sliver_severity(areas, shapely.length(inter))
    problems = []
    for a, b, area, sev in zip(left, right, areas, severity, strict=True):
        ia, ib = index[a], index[b]
        problems.append(
            Problem(
                "overlap",
                layer.name,
                [layer.ids[ia], layer.ids[ib]],
                f"{what} {layer.ids[ia]} and {layer.ids[ib]} overlap by {_fmt_m2(area)}",
                severity=str(sev),
                area_m2=float(area),
                rows=[int(layer.rows[ia]), int(layer.rows[ib])],
            )
        )
    return problems


def _fill_holes(geom):
    """The polygonal ``geom`` with every interior ring filled."""
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == 3]
    return shapely.union_all(shapely.polygons(shapely.get_exterior_ring(parts)))


def _check_gaps(
    grids: _Polygons,
    jurisdiction_proj,
    districts: _Polygons | None,
    tolerance_m2: float,
    epsg: int,
    source: str,
) -> list[Problem]:
    index = np.flatnonzero(grids.usable)
    if not len(index):
        return []
    geoms = grids.proj[index]
    covered = shapely.union_all(_cover(grids))  # a precision grid here costs 2-3x; the difference snaps
    if jurisdiction_proj is None:
        jurisdiction_proj = _fill_holes(covered)
    uncovered = shapely.difference(jurisdiction_proj, covered, grid_size=_GRID_SIZE_M)
    parts = shapely.get_parts(uncovered)
    parts = parts[shapely.get_type_id(parts) == 3]
    areas = shapely.area(parts)
    big = areas > tolerance_m2
    parts, areas = parts[big], areas[big]
    if not len(parts):
        return []
    order = np.argsort(-areas, kind="stable")
    parts, areas = parts[order], areas[order]
    severity = _sliver_severity(areas, shapely.length(parts))
    tree = shapely.STRtree(geoms)
    gap_i, grid_i = tree.query(parts, predicate="dwithin", distance=_TOUCH_M)
    where = gpd.GeoSeries(shapely.point_on_surface(parts), crs=epsg).to_crs(schema.STORAGE_CRS)
    in_district: list[list[str]] = [[] for _ in parts]
    if districts is not None and districts.usable.any():
        d_index = np.flatnonzero(districts.usable)
        d_geoms = districts.proj[d_index]
        g_i, d_i = shapely.STRtree(d_geoms).query(parts, predicate="intersects")
        inner = shapely.relate_pattern(parts[g_i], d_geoms[d_i], "2********")  # interiors share area
        for g, d in zip(g_i[inner], d_i[inner], strict=True):
            in_district[g].append(str(districts.ids[d_index[d]]))
    problems = []
    for k, area in enumerate(areas):
        codes = sorted({str(grids.ids[index[j]]) for j in grid_i[gap_i == k]})
        pt = where.iloc[k]
        detail = (
            f"{_fmt_m2(area)} inside the {source} covered by no grid, around ({pt.x:.6f}, {pt.y:.6f})"
            f"; touching {len(codes)} grid(s)"
        )
        if in_district[k]:
            detail += f"; inside 警格 {', '.join(sorted(set(in_district[k])))}"
        problems.append(
            Problem("gap", grids.name, codes, detail, severity=str(severity[k]), area_m2=float(area))
        )
    return problems


# --------------------------------------------------------------------------------------------------
# binding (一格一警)


def _binding_codes(binding: pd.DataFrame) -> dict[str, list[str]]:
    if not {"grid_code", "district_code"} <= set(binding.columns):
        raise ValueError("binding: needs the columns grid_code and district_code")
    table = pd.DataFrame({"g": _text(binding["grid_code"]), "d": _text(binding["district_code"])})
    table = table[(table["g"] != "") & (table["d"] != "")].drop_duplicates()
    return {g: sorted(ds) for g, ds in table.groupby("g")["d"]}


def _check_binding_duplicates(binding: pd.DataFrame, rows: np.ndarray) -> list[Problem]:
    """Exact duplicate rows of the binding table: warnings (the grid is still in one 警格)."""
    pairs = pd.DataFrame({"g": _text(binding["grid_code"]), "d": _text(binding["district_code"])})
    dup = pairs.duplicated(keep=False) & (pairs["g"] != "")
    problems = []
    for (g, d), idx in pairs[dup].groupby(["g", "d"], sort=True).groups.items():
        where = rows[np.asarray(idx)]
        problems.append(
            Problem(
                "duplicate_code",
                "grid_district",
                [g],
                f"the binding of grid {g} to 警格 {d} appears on {len(where)} rows",
                severity="warning",
                rows=[int(r) for r in where],
            )
        )
    return problems


def _check_binding(
    grids: _Polygons,
    districts: _Polygons | None,
    binding: pd.DataFrame | None,
    tolerance_m2: float,
) -> list[Problem]:
    frame = grids.frame
    own = _text(frame["district_code"]) if "district_code" in frame.columns else None
    if binding is None and own is None:
        return []
    codes = _text(frame["grid_code"]) if "grid_code" in frame.columns else grids.ids.astype(object)
    bound = _binding_codes(binding) if binding is not None else None
    known: dict[str, int] = {}  # district_code -> its first row in the districts layer
    if districts is not None:
        for i, code in enumerate(districts.ids):
            known.setdefault(str(code), i)
    problems: list[Problem] = []
    target = np.full(len(codes), -1, dtype=np.int64)  # index into districts of the single 警格

    def unbound(i: int, why: str) -> None:
        problems.append(Problem("unbound_grid", grids.name, [grids.ids[i]], why, rows=[int(grids.rows[i])]))

    for i, code in enumerate(codes):
        if bound is not None:
            listed = bound.get(code, [])
            if not listed:
                unbound(i, "not listed in the binding table (grid_district): no 警格")
                continue
            if len(listed) > 1:
                unbound(i, f"bound to {len(listed)} 警格 in the binding table: {', '.join(listed)}")
                continue
            district = listed[0]
            if own is not None and own[i] and own[i] != district:
                unbound(i, f"the binding table says 警格 {district} but the grids layer says {own[i]}")
                continue
        else:
            district = own[i]
            if not district:
                unbound(i, "district_code is empty: no 警格")
                continue
        if districts is not None:
            if district not in known:
                if district not in districts.rejected_keys:  # else its row's reject says why
                    unbound(i, f"bound to 警格 {district}, which is not in the districts layer")
                continue
            target[i] = known[district]

    if districts is None:
        return problems
    check = np.flatnonzero((target >= 0) & grids.usable)
    check = check[districts.usable[target[check]]]
    if len(check):
        g = grids.proj[check]
        d = districts.proj[target[check]]
        outside = shapely.area(shapely.difference(g, d))
        share = outside / np.maximum(shapely.area(g), 1e-12)
        far = (outside > tolerance_m2) & (share > OUTSIDE_SHARE)
        for i, area, pct in zip(check[far], outside[far], share[far], strict=True):
            district = districts.ids[target[i]]
            problems.append(
                Problem(
                    "grid_outside_district",
                    grids.name,
                    [grids.ids[i], district],
                    f"{_fmt_m2(area)} ({pct:.1%}) of grid {grids.ids[i]} lies outside its 警格 {district}",
                    area_m2=float(area),
                    rows=[int(grids.rows[i])],
                )
            )
    return problems


# --------------------------------------------------------------------------------------------------
# points


def _check_points(
    name: str, frame: gpd.GeoDataFrame, grids: _Polygons | None, epsg: int | None
) -> list[Problem]:
    lay = _layer_schema(name)
    rows = _rows(frame)
    ids = _ids(frame, lay.key if lay else None, rows)
    problems = _record_checks(name, frame, ids, rows)
    geoms = frame.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    pts = ~empty & (shapely.get_type_id(geoms) == 0)
    x[pts], y[pts] = shapely.get_x(geoms[pts]), shapely.get_y(geoms[pts])
    other = ~empty & ~pts  # a multipoint or a polygon in a point layer: judge its centroid
    if other.any():
        c = shapely.centroid(geoms[other])
        x[other], y[other] = shapely.get_x(c), shapely.get_y(c)
    status = np.asarray(check_lonlat(x, y), dtype=object)
    for i in np.flatnonzero(status != "ok"):
        if status[i] == "missing":
            detail = "coordinates are missing"
        else:
            detail = f"coordinates ({x[i]:.6g}, {y[i]:.6g}) are {status[i].replace('_', ' ')}"
        problems.append(Problem("bad_coordinate", name, [ids[i]], detail, rows=[int(rows[i])]))
    if grids is None or epsg is None or not len(_cover(grids)):
        return problems
    good = np.flatnonzero(status == "ok")
    if not len(good):
        return problems
    projected = (
        gpd.GeoSeries(shapely.points(x[good], y[good]), crs=schema.STORAGE_CRS).to_crs(epsg).to_numpy()
    )
    inside = shapely.STRtree(_cover(grids)).query(projected, predicate="intersects")[0]
    outside = np.setdiff1d(np.arange(len(good)), inside)
    for k in outside:
        i = good[k]
        problems.append(
            Problem(
                "point_outside_grids",
                name,
                [ids[i]],
                f"point ({x[i]:.6f}, {y[i]:.6f}) lies in no grid",
                rows=[int(rows[i])],
            )
        )
    return problems


# --------------------------------------------------------------------------------------------------
# entry points


def validate_frames(
    *,
    grids: gpd.GeoDataFrame | None = None,
    districts: gpd.GeoDataFrame | None = None,
    points: Mapping[str, gpd.GeoDataFrame] | None = None,
    binding: pd.DataFrame | None = None,
    jurisdiction=None,
    tolerance_m2: float = 1.0,
) -> list[Problem]:
    """Validate layers held in memory and return every problem found.

    Parameters
    ----------
    grids, districts : GeoDataFrame, optional
        网格 and 警格 polygons in EPSG:4326 (no CRS is read as lon/lat; a projected CRS is converted),
        with the columns of ``data.schema.layer("grids")`` / ``layer("districts")``.
    points : dict of layer name -> GeoDataFrame, optional
        Point layers (``"incidents"``, ``"persons_of_concern"`` ...); the name selects the schema
        used for dates, ID numbers and the record id.
    binding : DataFrame, optional
        The grid → 警格 table (``grid_code``, ``district_code``). When given it is authoritative;
        otherwise the grids' own ``district_code`` column is used; with neither, binding is not
        checked.
    jurisdiction : GeoDataFrame, GeoSeries or shapely geometry, optional
        The area the grids must tile. Default: the union of ``districts``, else of the grids, with
        interior holes filled (so holes in the grid cover are gaps).
    tolerance_m2 : float
        Overlaps, gaps and outside parts at most this large (m²) are ignored.

    Returns
    -------
    list of Problem
        In rule order per layer: record checks, geometry, overlaps, gaps, binding, points.
    """
    return _validate(
        grids=grids,
        districts=districts,
        points=points,
        binding=binding,
        jurisdiction=jurisdiction,
        tolerance_m2=tolerance_m2,
        report_geometry=True,
    )


def _validate(
    *,
    grids,
    districts,
    points,
    binding,
    jurisdiction=None,
    tolerance_m2: float,
    report_geometry: bool,
    rejected: Mapping[str, tuple[frozenset[str], np.ndarray]] | None = None,
) -> list[Problem]:
    """:func:`validate_frames`, plus what :func:`validate_paths` knows from the importer.

    ``report_geometry=False`` leaves empty/invalid polygons to the importer's rejects; ``rejected``
    maps ``"grids"``/``"districts"`` to the keys and lon/lat polygons of the rows it rejected.
    """
    rejected = rejected or {}
    problems: list[Problem] = []
    g_layer = d_layer = None
    if grids is not None:
        grids = _as_lonlat(grids, "grids")
        rows = _rows(grids)
        problems += _record_checks("grids", grids, _ids(grids, "grid_code", rows), rows)
        problems += _check_duplicates("grids", grids, "grid_code", rows)
        g_layer = _prepare_polygons("grids", grids, "grid_code", problems, report=report_geometry)
        if "grids" in rejected:
            g_layer.rejected_keys, g_layer.rejected = rejected["grids"]
    if districts is not None:
        districts = _as_lonlat(districts, "districts")
        rows = _rows(districts)
        problems += _record_checks("districts", districts, _ids(districts, "district_code", rows), rows)
        problems += _check_duplicates("districts", districts, "district_code", rows)
        d_layer = _prepare_polygons("districts", districts, "district_code", problems, report=report_geometry)
        if "districts" in rejected:
            d_layer.rejected_keys, d_layer.rejected = rejected["districts"]
    j_layer = None
    if jurisdiction is not None:
        jur = _as_lonlat(jurisdiction, "jurisdiction")
        j_layer = _prepare_polygons("jurisdiction", jur, None, problems, report=report_geometry)
    if binding is not None:
        binding = pd.DataFrame(binding).reset_index(drop=True)
        rows = _rows(binding)
        ids = _ids(binding, "grid_code", rows)
        problems += _check_codes("grid_district", binding, ids, rows)
        problems += _check_binding_duplicates(binding, rows)

    epsg = _choose_crs(g_layer, d_layer, j_layer)
    if epsg is not None:
        for layer in (g_layer, d_layer, j_layer):
            _project(layer, epsg)

    if g_layer is not None and epsg is not None:
        problems += _check_overlaps(g_layer, tolerance_m2, "grids")
    if d_layer is not None and epsg is not None:
        problems += _check_overlaps(d_layer, tolerance_m2, "警格")
    if g_layer is not None and epsg is not None:
        if j_layer is not None:
            jur, source = shapely.union_all(j_layer.proj[j_layer.usable]), "jurisdiction"
        elif d_layer is not None and d_layer.usable.any():
            jur = _fill_holes(shapely.union_all(_cover(d_layer, grow=-_COVER_BUFFER_M)))
            source = "警格 (police districts)"
        else:
            jur, source = None, "area the grids enclose"
        problems += _check_gaps(g_layer, jur, d_layer, tolerance_m2, epsg, source)
    if g_layer is not None:
        problems += _check_binding(g_layer, d_layer, binding, tolerance_m2)
    for name, frame in (points or {}).items():
        problems += _check_points(name, _as_lonlat(frame, name), g_layer, epsg)
    return problems


def _choose_crs(*layers: _Polygons | None) -> int | None:
    """The metric CRS for the median centre of the usable polygons (None if there are none)."""
    centres = [
        shapely.bounds(layer.repaired[layer.usable])
        for layer in layers
        if layer is not None and layer.usable.any()
    ]
    if not centres:
        return None
    b = np.vstack(centres)
    return projected_crs_for((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2)


def validate_paths(
    *,
    grids: str | None = None,
    districts: str | None = None,
    points: Iterable[str] = (),
    binding: str | None = None,
    crs: str = "EPSG:4326",
    tolerance_m2: float = 1.0,
) -> list[Problem]:
    """Read files with :func:`geo.io.read_layer` and validate them; return every problem.

    Each row the importer rejects becomes one Problem (its rule and reason, the row's key value or
    ``row N`` as id, its ``source_row``); the accepted rows then go through :func:`validate_frames`,
    which does not report empty or invalid polygons again (the importer already did).

    Parameters
    ----------
    grids, districts, binding : str, optional
        Paths of the 网格 and 警格 polygon files and of the grid → 警格 table.
    points : iterable of str
        Point files, each ``"PATH"`` (layer guessed by :func:`geo.io.detect_layer`) or
        ``"LAYER=PATH"``. A layer named twice has its files concatenated.
    crs : str
        CRS of the coordinates in the files (``EPSG:4326``, ``EPSG:4490``, ``GCJ-02`` ...); a path may
        carry its own as ``PATH@CRS`` (see :func:`geo.io.split_path_crs`).
    tolerance_m2 : float
        As in :func:`validate_frames`.

    Raises
    ------
    ValueError
        If the layer of a point file can be neither read from its spec nor detected.
    """
    from geo import io as geo_io  # imported here: validate_frames must not need the readers

    specs = _point_specs(points, geo_io.detect_layer)
    problems: list[Problem] = []
    rejected: dict[str, tuple[frozenset[str], np.ndarray]] = {}

    def load(spec: str, name: str):
        path, path_crs = geo_io.split_path_crs(spec, crs)
        result = geo_io.read_layer(path, name, crs=path_crs)
        accepted, rejects = result.accepted, result.rejects.reset_index(drop=True)
        dup = (_text(rejects["rule"]) == "duplicate_key") if len(rejects) else np.zeros(0, bool)
        # The importer keeps the first row of a repeated key; the rules of this module want them all.
        if name in ("grids", "districts") and dup.any():
            problems.extend(_duplicate_code_problems(name, accepted, rejects[dup]))
            rejects_left = rejects[~dup]
        elif name == "grid_district" and dup.any():
            accepted = pd.concat([accepted, _binding_rows(rejects[dup])], ignore_index=True)
            rejects_left = rejects[~dup]
        else:
            rejects_left = rejects
        found = _reject_problems(name, rejects_left)
        problems.extend(found)
        if name in ("grids", "districts"):
            keys = frozenset(p.ids[0] for p in found)
            rejected[name] = (keys, _rejected_polygons(rejects, result.crs_label))
        return accepted

    frames = {
        "grids": load(grids, "grids") if grids else None,
        "districts": load(districts, "districts") if districts else None,
        "binding": load(binding, "grid_district") if binding else None,
    }
    point_frames: dict[str, list[gpd.GeoDataFrame]] = {}
    for name, path in specs:
        point_frames.setdefault(name, []).append(load(path, name))
    merged = {
        name: parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        for name, parts in point_frames.items()
    }
    problems += _validate(
        grids=frames["grids"],
        districts=frames["districts"],
        points=merged,
        binding=frames["binding"],
        tolerance_m2=tolerance_m2,
        report_geometry=False,
        rejected=rejected,
    )
    return problems


def _point_specs(points: Iterable[str], detect_layer) -> list[tuple[str, str]]:
    if isinstance(points, str | Path):
        points = [points]
    specs, unknown = [], []
    for spec in points:
        spec = str(spec)
        name, sep, path = spec.partition("=")
        if sep and name.strip() in schema.LAYERS:
            specs.append((name.strip(), path.strip()))
            continue
        detected = detect_layer(_path_only(spec))
        if detected is None:
            unknown.append(spec)
        else:
            specs.append((detected, spec))
    if unknown:
        raise ValueError(
            f"cannot tell the layer of {', '.join(unknown)}; write it as LAYER=PATH "
            f"(layers: {', '.join(schema.LAYERS)})"
        )
    return specs


_REJECT_META = ("geometry", "source_row", "rule", "rules", "reason")
#: Reject rules after which a row's geometry cannot stand for the area it covers.
_GEOMETRY_UNUSABLE = {"empty_geometry", "wrong_geometry_type", "bad_coordinate"}


def _key_header(name: str, headers: list[str]) -> str | None:
    """The original header holding the key of layer ``name`` (also a dBase name cut at 10 bytes)."""
    lay = _layer_schema(name)
    if lay is None:
        return None
    if lay.key in headers:
        return lay.key
    rename = schema.canonical_columns(name, headers)
    found = next((h for h, target in rename.items() if target == lay.key), None)
    if found is None:
        spellings = [a for a, target in schema.alias_map(name).items() if target == lay.key]
        norm = {h: re.sub(r"\s+", "", h).lower() for h in headers}
        found = next(
            (h for h, n in norm.items() if len(n) >= 2 and any(a.startswith(n) for a in spellings)), None
        )
    return found


def _key_text(values) -> np.ndarray:
    """Codes as the importer compares them: NFKC, stripped, without a spreadsheet's ``.0``."""
    text = pd.Series(_text(values), dtype=object).str.normalize("NFKC").str.strip()
    return text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True).to_numpy(dtype=object)


def _duplicate_code_problems(name: str, accepted: pd.DataFrame, dups: pd.DataFrame) -> list[Problem]:
    """``duplicate_code`` from the importer's ``duplicate_key`` rejects, with every row of each code."""
    key = schema.layer(name).key
    header = _key_header(name, [str(c) for c in dups.columns if c not in _REJECT_META])
    if header is None:
        return _reject_problems(name, dups)
    kept = pd.DataFrame({"code": _key_text(accepted[key]), "row": _rows(accepted)})
    extra = pd.DataFrame({"code": _key_text(dups[header]), "row": _rows(dups)})
    problems = []
    for code, group in extra.groupby("code", sort=True):
        first = kept.loc[kept["code"] == code, "row"].tolist()
        rows = sorted(first + group["row"].tolist())
        where = f"; the importer kept row {first[0]}" if first else ""
        problems.append(
            Problem(
                "duplicate_code", name, [code], f"{key} {code} appears on {len(rows)} rows{where}", rows=rows
            )
        )
    return problems


def _binding_rows(dups: pd.DataFrame) -> pd.DataFrame:
    """Binding rows the importer rejected as repeated grid_code, back as grid_code/district_code."""
    rename = schema.canonical_columns("grid_district", [str(c) for c in dups.columns])
    table = dups.rename(columns=rename)
    out = pd.DataFrame({"source_row": _rows(dups)})
    for col in ("grid_code", "district_code"):
        out[col] = _key_text(table[col]) if col in table.columns else ""
    return out


def _reject_problems(name: str, rejects: pd.DataFrame | None) -> list[Problem]:
    """One Problem per row the importer rejected: its first rule, its reasons, its key or ``row N``."""
    if rejects is None or not len(rejects):
        return []
    rejects = rejects.reset_index(drop=True)
    headers = [str(c) for c in rejects.columns if c not in _REJECT_META]
    rows = _rows(rejects)
    ids = _ids(rejects, _key_header(name, headers), rows)
    rules = _text(rejects["rule"]) if "rule" in rejects.columns else np.full(len(rejects), "")
    all_rules = _text(rejects["rules"]) if "rules" in rejects.columns else rules
    reasons = _text(rejects["reason"]) if "reason" in rejects.columns else rules
    problems = []
    # a row breaking several rules gives one Problem per rule, each with its own part of the reason
    for i in range(len(rejects)):
        row_rules = [r.strip() for r in str(all_rules[i]).split(";") if r.strip()] or [
            str(rules[i]) or "bad_value"
        ]
        parts = [p.strip() for p in str(reasons[i]).split("; ")]
        for rule in dict.fromkeys(row_rules):
            mine = [p for p in parts if p.startswith(f"{rule}:")]
            detail = "; ".join(mine) if mine else str(reasons[i])
            problems.append(Problem(rule, name, [str(ids[i])], detail, rows=[int(rows[i])]))
    return problems


def _label_crs(label: str):
    """The CRS of an ImportResult's ``crs_label`` (``"EPSG:4326 (WGS 84)"``, ``"GCJ-02 (火星坐标)"``)."""
    match = re.match(r"\s*(EPSG:\d+|GCJ-02|BD-09)\b", label or "")
    try:
        return parse_crs(match.group(1)) if match else None
    except (ValueError, TypeError):
        return None


def _rejected_polygons(rejects: pd.DataFrame, crs_label: str) -> np.ndarray:
    """Lon/lat polygons of rejected rows whose geometry still shows the area they cover.

    The rejects hold each row's geometry as WKT in the source CRS; rows rejected for an empty,
    mistyped or misplaced geometry are left out, invalid ones are repaired.
    """
    none = np.empty(0, dtype=object)
    spec = _label_crs(crs_label)
    if spec is None or not len(rejects) or "geometry" not in rejects.columns:
        return none
    rules = _text(rejects["rules"] if "rules" in rejects.columns else rejects["rule"])
    keep = np.array([not (_GEOMETRY_UNUSABLE & set(r.split("; "))) for r in rules], dtype=bool)
    wkt = _text(rejects["geometry"])[keep]
    geoms = shapely.from_wkt(np.where(wkt == "", None, wkt), on_invalid="ignore")
    geoms = geoms[~shapely.is_missing(geoms)]
    geoms = shapely.make_valid(geoms[~shapely.is_empty(geoms)], method="structure", keep_collapsed=False)
    geoms = geoms[shapely.area(geoms) > 0]
    if not len(geoms):
        return none
    return to_wgs84(gpd.GeoSeries(geoms), spec).to_numpy()


def _path_only(spec: str) -> str:
    from geo.io import split_path_crs

    return split_path_crs(spec)[0]
