"""Arrow batches shaped like a store table: the fast path from GeoParquet (or a frame) into the store."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from data.schema import LAYERS
from data.store.tables import DERIVED_GRID_CODE

ACCEPTED_EPSG = (4326, 4490)

_ARROW_TYPES = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("s"),
    "date": pa.date32(),
}


def target_columns(layer: str) -> list[tuple[str, str]]:
    """(column, dtype) in table order for ``layer``; ``geometry`` has dtype ``geometry``."""
    lay = LAYERS[layer]
    cols = [(c.name, c.dtype) for c in lay.columns]
    if layer in DERIVED_GRID_CODE:
        cols.append(("grid_code", "str"))
    if lay.geometry:
        cols.append(("geometry", "geometry"))
    return cols


def _to_timestamp(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            arr = pc.local_timestamp(arr)
        return arr.cast(pa.timestamp("s"), safe=False)
    if pa.types.is_date(t):
        return arr.cast(pa.timestamp("s"))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.cast(pc.cast(arr, pa.string()), pa.timestamp("s"))
    raise TypeError(f"cannot read {t} as a time")


def _convert(arr, dtype: str, name: str):
    if dtype == "datetime":
        return _to_timestamp(arr)
    if dtype == "date":
        return _to_timestamp(arr).cast(pa.date32(), safe=False)
    if dtype == "str" and not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        if pa.types.is_floating(arr.type):
            raise TypeError(f"column {name!r} holds floats where codes (text) are expected")
        return pc.cast(arr, pa.string())
    return pc.cast(arr, _ARROW_TYPES[dtype])


def geoparquet_crs_epsg(metadata: dict | None) -> int | None:
    """EPSG code of the primary geometry column declared in GeoParquet ``geo`` metadata, if any."""
    if not metadata or b"geo" not in metadata:
        return None
    geo = json.loads(metadata[b"geo"])
    col = geo.get("columns", {}).get(geo.get("primary_column", "geometry"), {})
    crs = col.get("crs")
    if crs is None:
        return 4326  # GeoParquet: a missing crs means OGC:CRS84
    ident = crs.get("id", {}) if isinstance(crs, dict) else {}
    if ident.get("authority") in ("EPSG", "OGC") and str(ident.get("code")) in ("4326", "4490", "CRS84"):
        return 4326 if str(ident.get("code")) == "CRS84" else int(ident["code"])
    try:
        import pyproj

        return pyproj.CRS.from_user_input(crs).to_epsg()
    except Exception:
        return None


def shape_batch(batch: pa.RecordBatch | pa.Table, layer: str) -> pa.Table:
    """Columns of ``layer`` in table order with the store's Arrow types.

    Missing optional columns become nulls; a missing required column raises ``ValueError`` naming it.
    Times become ``timestamp[s]`` (naive local time), dates ``date32``, geometry stays WKB ``binary``.
    """
    lay = LAYERS[layer]
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    names = set(table.column_names)
    missing = [c.name for c in lay.columns if c.required and c.name not in names]
    if missing:
        raise ValueError(f"layer {layer!r}: required column(s) missing: {', '.join(missing)}")
    arrays, fields = [], []
    for name, dtype in target_columns(layer):
        if name not in names:
            typ = pa.binary() if dtype == "geometry" else _ARROW_TYPES[dtype]
            arrays.append(pa.nulls(table.num_rows, typ))
        elif dtype == "geometry":
            arrays.append(pc.cast(table.column(name), pa.binary()))
        else:
            arrays.append(_convert(table.column(name), dtype, name))
        fields.append(name)
    return pa.Table.from_arrays(arrays, names=fields)


def _wkb(values) -> list:
    """WKB of shapely geometries, WKT strings or WKB bytes (None stays None)."""
    arr = pd.Series(values, dtype=object).to_numpy()
    sample = next((v for v in arr if v is not None and v == v), None)
    if isinstance(sample, bytes | bytearray | memoryview):
        return list(arr)
    geoms = shapely.from_wkt(arr) if isinstance(sample, str) else arr
    return list(shapely.to_wkb(geoms, output_dimension=2))


def frame_to_arrow(frame: pd.DataFrame, layer: str) -> pa.Table:
    """A (Geo)DataFrame of ``layer`` as an Arrow table shaped by :func:`shape_batch`.

    The geometry may be a GeoDataFrame's geometry (reprojected to EPSG:4326 unless it is in EPSG:4326 or
    4490) or a ``geometry`` column of shapely objects, WKT or WKB.
    """
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame:
        gdf = frame
        if gdf.crs is not None and gdf.crs.to_epsg() not in ACCEPTED_EPSG:
            gdf = gdf.to_crs(4326)
        df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        df["geometry"] = _wkb(gdf.geometry.array)
    else:
        df = pd.DataFrame(frame).copy()
        if "geometry" in df:
            df["geometry"] = _wkb(df["geometry"])
    keep = [c for c, _ in target_columns(layer) if c in df.columns]
    return shape_batch(pa.Table.from_pandas(df[keep], preserve_index=False), layer)
