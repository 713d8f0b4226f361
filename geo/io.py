"""Ingestion (数据导入) of field data into the layer schemas.

Field data arrive as GeoPackage, GeoJSON, Shapefile, GeoParquet, CSV/TXT and Excel files, with
Chinese headers (中文表头), GBK encodings, lon/lat columns in WGS84, CGCS2000, GCJ-02 (火星坐标) or
BD-09 (百度坐标), codes that spreadsheets turned into floats, and every kind of hand-typed mistake.
This module reads such a file, renames its headers onto a layer of :mod:`data.schema`, converts the
values to their proper types, builds geometries in EPSG:4326 and sorts every row into *accepted*
(入库) or *rejected* (退回), with the rule and a bilingual reason for each rejected row.

Reading is text-first: every attribute is read as text where the format allows, so that codes such
as ``320613001001001`` and leading zeros survive; typing happens afterwards, column by column, with
vectorised pandas/numpy/shapely operations.

Rejection rules (校验规则), in priority order (a row failing several rules is rejected once; ``rule``
holds the first of these that applies, ``rules`` all of them):

``missing_value``
    a required value is empty (必填项为空).
``empty_geometry``
    the geometry is missing, empty or unparseable WKT (几何为空).
``wrong_geometry_type``
    e.g. a point in a polygon layer (几何类型错误).
``invalid_geometry``
    ``shapely.is_valid`` is False, e.g. a self-intersecting bow-tie polygon (几何无效).
``bad_coordinate``
    lon/lat missing, unparseable, swapped (经纬度颠倒), out of range or outside China (坐标异常).
``malformed_code``
    a code does not match its pattern, or does not start with its parent's code (编码格式错误).
``bad_id_number``
    a resident ID number fails GB 11643 (身份证号错误); the reason masks the number.
``bad_value``
    a value outside the layer's code list, or an unparseable number or boolean (取值错误).
``bad_date``
    an unparseable date, before 1900 or more than one day in the future (deadlines and expiry dates:
    from 2200 on) (日期错误).
``duplicate_key``
    the layer's key repeats a key of an earlier accepted row (编码重复).
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from data.access import mask_value
from data.idnumber import id_number_problems
from data.private import make_private
from data.schema import LAYERS, STORAGE_CRS, Column, Layer, alias_map, canonical_columns
from data.schema import layer as schema_layer
from data.spreadsheet import write_csv
from geo.crs import CRSSpec, check_lonlat, parse_crs, to_wgs84, to_wgs84_xy

__all__ = [
    "RULES",
    "ImportResult",
    "IngestError",
    "detect_layer",
    "read_layer",
    "read_raw",
    "write_result",
]

#: Rejection rules in priority order (the first that applies to a row is its ``rule``).
RULES: tuple[str, ...] = (
    "missing_value",
    "empty_geometry",
    "wrong_geometry_type",
    "invalid_geometry",
    "bad_coordinate",
    "malformed_code",
    "bad_id_number",
    "bad_value",
    "bad_date",
    "duplicate_key",
)

_TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
_PARQUET_SUFFIXES = (".parquet", ".geoparquet")
_DBF_SUFFIXES = (".shp", ".dbf")
_DEFAULT_CRS = "EPSG:4326"
_DATETIME_DTYPE = "datetime64[ns]"
_MIN_DATE = pd.Timestamp("1900-01-01")
# later dates do not fit the nanosecond datetimes of the layers (pandas ends in 2262): typos, e.g. 2263
_MAX_DATE = pd.Timestamp("2200-01-01")
_DBF_SAMPLE_BYTES = 4 << 20

# Header names (normalised: no white space, lower case) recognised as longitude / latitude columns
# when a point layer has no geometry column.
_LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "x坐标", "东经", "gps经度", "经度坐标")
_LAT_NAMES = ("lat", "latitude", "y", "纬度", "y坐标", "北纬", "gps纬度", "纬度坐标")
_WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "几何", "空间信息")

# Child code -> parent code: the child's code must start with the parent's (GB/T 10114 hierarchy,
# grid = village + 3 digits, 警格 = station + 2 digits).
_PREFIX_PAIRS = (
    ("grid_code", "village_code"),
    ("village_code", "township_code"),
    ("township_code", "county_code"),
    ("district_code", "station_code"),
)

_BOOL_MAP = {
    "是": True,
    "否": False,
    "有": True,
    "无": False,
    "√": True,
    "×": False,
    "y": True,
    "n": False,
    "yes": True,
    "no": False,
    "true": True,
    "false": False,
    "t": True,
    "f": False,
    "1": True,
    "0": False,
    "1.0": True,
    "0.0": False,
}

_COORD_REASONS = {
    "swapped": "经纬度颠倒 swapped lon/lat",
    "outside_china": "坐标不在中国范围内 outside China",
    "out_of_range": "坐标超出取值范围 out of range",
    "missing": "缺少坐标 missing coordinate",
    "unparseable": "坐标无法解析 unparseable coordinate",
}

_ID_REASONS = {
    "format": "格式错误 format",
    "birth_date": "出生日期无效 birth_date",
    "check_digit": "校验位错误 check_digit",
}

_GEOM_TYPE_NAMES = np.array(
    [
        "Point",
        "LineString",
        "LinearRing",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    ]
)
_ALLOWED_TYPE_IDS = {"Point": (0,), "LineString": (1, 5), "Polygon": (3, 6)}


class IngestError(ValueError):
    """A file cannot be ingested at all (unreadable, undecodable, or missing required columns).

    The message names the file and what is wrong. Row-level problems never raise: they become
    rejected rows of :class:`ImportResult`.
    """


@dataclass
class ImportResult:
    """Outcome of importing one file into one layer (导入结果).

    Attributes
    ----------
    layer : str
        Layer name (see :data:`data.schema.LAYERS`).
    source : str
        Path of the file read.
    accepted : geopandas.GeoDataFrame or pandas.DataFrame
        Accepted rows (入库数据): the layer's columns with canonical names and proper dtypes (all
        schema columns, absent optional ones as NA), then unknown extra columns as text under their
        original headers, ``source_row`` (1-based data row number in the file, header excluded) and,
        for geometry layers, ``geometry`` in EPSG:4326. A plain DataFrame for layers without geometry.
    rejects : pandas.DataFrame
        Rejected rows (退回数据): the original values under the original headers (geometries as WKT in
        the source CRS), then ``source_row``, ``rule`` (first rule in :data:`RULES` order), ``rules``
        (all rules, ``"; "``-joined) and ``reason`` (all reasons, ``"; "``-joined, Chinese + English).
    read : int
        Data rows read (rows that are entirely empty are skipped and not counted).
    encoding : str or None
        Text encoding used (None for formats without one, e.g. Excel and Parquet).
    crs_label : str
        The source coordinate reference system the geometries were converted from.
    warnings : list of str
        File-level observations (assumed CRS, skipped rows, fixed swaps, unknown columns ...).
    """

    layer: str
    source: str
    accepted: pd.DataFrame
    rejects: pd.DataFrame
    read: int
    encoding: str | None
    crs_label: str
    warnings: list[str] = field(default_factory=list)

    @property
    def accepted_count(self) -> int:
        """Number of accepted rows."""
        return len(self.accepted)

    @property
    def rejected_count(self) -> int:
        """Number of rejected rows."""
        return len(self.rejects)

    def report(self) -> dict[str, Any]:
        """Summary dict: ``layer, source, read, accepted, rejected, by_rule, encoding, crs, warnings``.

        ``by_rule`` counts rejected rows by their first rule, so its values add up to ``rejected``.
        """
        counts = self.rejects["rule"].value_counts() if len(self.rejects) else pd.Series(dtype=int)
        by_rule = {r: int(counts[r]) for r in RULES if r in counts.index}
        return {
            "layer": self.layer,
            "source": self.source,
            "read": int(self.read),
            "accepted": self.accepted_count,
            "rejected": self.rejected_count,
            "by_rule": by_rule,
            "encoding": self.encoding,
            "crs": self.crs_label,
            "warnings": list(self.warnings),
        }


# ==================================================================================================
# Reading raw files (读取原始文件)
# ==================================================================================================


def read_raw(
    path: str | os.PathLike[str],
    *,
    encoding: str | None = None,
    sheet: str | int | None = None,
    layer: str | None = None,
) -> pd.DataFrame | gpd.GeoDataFrame:
    """Read a field data file with every attribute as text (原样读取).

    Parameters
    ----------
    path : str or path-like
        GeoPackage (``.gpkg``), GeoJSON (``.geojson``/``.json``), Shapefile (``.shp``, or a bare
        ``.dbf``), GeoParquet or Parquet (``.parquet``), CSV/TXT (``.csv``, ``.txt``, ``.tsv``) or
        Excel (``.xlsx``, ``.xlsm``; ``.xls`` needs ``xlrd`` unless it is really an xlsx). Any other
        suffix is tried with pyogrio (GDAL).
    encoding : str, optional
        Text encoding; wins over detection. Without it CSV is decoded as UTF-8 (with or without BOM),
        then GB18030 (a superset of GBK), then whatever charset-normalizer finds; a shapefile honours
        its ``.cpg`` file, else UTF-8 if its .dbf bytes are UTF-8 with non-ASCII content, else GB18030.
    sheet : str or int, optional
        Excel sheet name or 0-based index (default: the first sheet).
    layer : str, optional
        Layer of a multi-layer source such as a GeoPackage (default: the first).

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        Attribute columns as pandas ``str`` dtype with empty cells as NA; geometry (if any) as read,
        with the file's CRS. The index, named ``source_row``, holds the 1-based data row number in
        the file (header excluded); rows that are entirely empty are dropped. ``attrs`` holds
        ``encoding`` (str or None), ``warnings`` (list of str) and ``source`` (the path).

    Raises
    ------
    IngestError
        The file does not exist, is empty, cannot be decoded or parsed; the message names the file.
    """
    p = Path(path)
    if not p.exists():
        raise IngestError(f"{p}: 文件不存在 file not found")
    suffix = p.suffix.lower()
    notes: list[str] = []
    enc: str | None
    if suffix in _TEXT_SUFFIXES:
        df, enc = _read_text(p, encoding, notes)
    elif suffix in _EXCEL_SUFFIXES:
        df, enc = _read_excel(p, sheet, notes), None
    elif suffix in _PARQUET_SUFFIXES:
        df, enc = _read_parquet(p), None
    else:
        df, enc = _read_ogr(p, layer, encoding, notes)
    df.attrs.update(encoding=enc, warnings=notes, source=str(p))
    return df


def _read_text(p: Path, encoding: str | None, notes: list[str]) -> tuple[pd.DataFrame, str]:
    """Read a delimited text file with every column as text."""
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise IngestError(f"{p}: 无法读取 cannot read file: {exc}") from exc
    if not raw.strip():
        raise IngestError(f"{p}: 文件为空 the file is empty")
    text, enc = _decode_bytes(raw, encoding, p, notes)
    sep = _sniff_separator(text, p.suffix.lower())
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise IngestError(f"{p}: 无法解析为CSV cannot parse as delimited text (sep={sep!r}): {exc}") from exc
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    df.index = pd.RangeIndex(1, len(df) + 1)
    return _tidy_table(df, notes), enc


def _decode_bytes(raw: bytes, encoding: str | None, p: Path, notes: list[str]) -> tuple[str, str]:
    """Decode file bytes: explicit encoding, else BOM/UTF-8, GB18030, charset-normalizer."""
    if encoding:
        try:
            return raw.decode(encoding).lstrip("\ufeff"), encoding
        except (LookupError, UnicodeDecodeError) as exc:
            raise IngestError(
                f"{p}: 无法按 {encoding} 解码 cannot decode with encoding={encoding!r}: {exc}"
            ) from exc
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    if raw.startswith(codecs.BOM_UTF8):
        try:
            return raw.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError:
            pass
    for enc in ("utf-8", "gb18030"):
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None or best.encoding is None:
        raise IngestError(f"{p}: 无法识别文本编码 cannot detect the text encoding (tried UTF-8, GB18030)")
    notes.append(f"文本编码由自动识别得出 encoding guessed by charset-normalizer: {best.encoding}")
    return str(best), best.encoding


def _sniff_separator(text: str, suffix: str) -> str:
    """Pick the delimiter that occurs most often in the header line (default ``,``)."""
    if suffix == ".tsv":
        return "\t"
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: first.count(sep) for sep in (",", "\t", ";", "|")}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] > 0 else ","


def _blank_to_na(df: pd.DataFrame, skip: str | None = None) -> pd.DataFrame:
    """Every column but ``skip`` as ``str`` dtype, with empty or white-space-only cells as NA."""
    out = df.copy()
    for i, name in enumerate(out.columns):
        if skip is not None and name == skip:
            continue
        s = out.iloc[:, i].astype("str")
        out.isetitem(i, s.mask(s.str.strip().eq("")))
    return out


def _tidy_table(df: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Empty cells to NA; drop entirely empty rows and unnamed entirely empty columns."""
    df = _blank_to_na(df)
    unnamed = [
        i
        for i, c in enumerate(df.columns)
        if (str(c).startswith("Unnamed:") or str(c) == "") and df.iloc[:, i].isna().all()
    ]
    if unnamed:
        df = df.iloc[:, [i for i in range(df.shape[1]) if i not in set(unnamed)]]
    empty_rows = df.isna().all(axis=1).to_numpy() if df.shape[1] else np.zeros(len(df), bool)
    if empty_rows.any():
        notes.append(f"跳过空行 skipped {int(empty_rows.sum())} empty row(s)")
        df = df.loc[~empty_rows]
    df.index.name = "source_row"
    return df


def _read_excel(p: Path, sheet: str | int | None, notes: list[str]) -> pd.DataFrame:
    """Read an Excel sheet as text, finding the header row below any title rows."""
    engine = "openpyxl"
    if p.suffix.lower() == ".xls":
        with open(p, "rb") as fh:
            is_zip = fh.read(2) == b"PK"
        if not is_zip:
            try:
                import xlrd  # noqa: F401
            except ImportError:
                raise IngestError(
                    f"{p}: 旧版 .xls 需要 xlrd legacy .xls (BIFF) needs the xlrd package; "
                    "install it or save the file as .xlsx"
                ) from None
            engine = "xlrd"
    try:
        df = pd.read_excel(
            p,
            sheet_name=sheet if sheet is not None else 0,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            engine=engine,
        )
    except Exception as exc:  # openpyxl raises many types (zip, xml, key errors)
        raise IngestError(f"{p}: 无法读取Excel cannot read Excel sheet {sheet!r}: {exc}") from exc
    df = _blank_to_na(df)
    if df.shape[0] == 0 or df.notna().to_numpy().sum() == 0:
        raise IngestError(f"{p}: 工作表为空 the sheet is empty")
    filled = df.notna().sum(axis=1).to_numpy()[:20]
    header_at = int(np.argmax(filled >= filled.max()))
    if header_at:
        notes.append(f"跳过表头上方 {header_at} 行标题 skipped {header_at} title row(s) above the header")
    names = _dedupe(
        [
            str(v).strip() if pd.notna(v) else f"Unnamed: {i}"
            for i, v in enumerate(df.iloc[header_at].tolist())
        ]
    )
    body = df.iloc[header_at + 1 :].copy()
    body.columns = names
    body.index = pd.RangeIndex(1, len(body) + 1)
    return _tidy_table(body, notes)


def _dedupe(names: list[str]) -> list[str]:
    """Make column names unique by appending ``.1``, ``.2`` ... as pandas does for CSV."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            out.append(f"{name}.{seen[name]}")
        else:
            seen[name] = 0
            out.append(name)
    return out


def _read_parquet(p: Path) -> pd.DataFrame:
    """Read GeoParquet (or plain Parquet) with attributes converted to text."""
    try:
        df: pd.DataFrame = gpd.read_parquet(p)
    except ValueError as exc:
        if "geo" not in str(exc).lower():
            raise IngestError(f"{p}: 无法读取Parquet cannot read Parquet: {exc}") from exc
        try:
            df = pd.read_parquet(p)
        except Exception as exc2:
            raise IngestError(f"{p}: 无法读取Parquet cannot read Parquet: {exc2}") from exc2
    except Exception as exc:
        raise IngestError(f"{p}: 无法读取Parquet cannot read Parquet: {exc}") from exc
    df = _attributes_to_text(df)
    df.index = pd.RangeIndex(1, len(df) + 1, name="source_row")
    return df


def _attributes_to_text(df: pd.DataFrame) -> pd.DataFrame:
    """Convert every non-geometry column to pandas ``str`` dtype, keeping NA as NA."""
    geom_name = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
    out = df.copy()
    for i, name in enumerate(out.columns):
        if name == geom_name:
            continue
        s = out.iloc[:, i]
        if isinstance(s.dtype, gpd.array.GeometryDtype):
            text = s.to_wkt()
        elif isinstance(s.dtype, pd.DatetimeTZDtype):
            text = s.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).astype("str")
        else:
            text = s.astype("str")
        out.isetitem(i, text.mask(s.isna()))
    return _blank_to_na(out, skip=geom_name)


def _read_ogr(
    p: Path, layer: str | None, encoding: str | None, notes: list[str]
) -> tuple[pd.DataFrame, str | None]:
    """Read a vector source with pyogrio; shapefile encodings are detected (see read_raw)."""
    suffix = p.suffix.lower()
    enc = encoding
    if suffix in _DBF_SUFFIXES and enc is None:
        enc = _shapefile_encoding(p, notes)
    if layer is None and suffix == ".gpkg":
        try:
            names = [str(n) for n in pyogrio.list_layers(p)[:, 0]]
        except Exception as exc:
            raise IngestError(f"{p}: 无法读取GeoPackage cannot read GeoPackage: {exc}") from exc
        if len(names) > 1:
            notes.append(f"GeoPackage 含多个图层 has layers {names}; read the first, {names[0]!r}")
    kwargs: dict[str, Any] = {"layer": layer, "datetime_as_string": True, "on_invalid": "ignore"}
    try:
        df = pyogrio.read_dataframe(p, encoding=enc, **kwargs)
    except UnicodeDecodeError:
        # Typically a UTF-8 .dbf whose field names GDAL cut at 10 bytes inside a character: read the
        # bytes losslessly as Latin-1 and decode them here, dropping the partial characters.
        df = _read_ogr_transcoded(p, enc or "utf-8", kwargs, notes)
    except Exception as exc:
        raise IngestError(f"{p}: 无法读取 cannot read as a vector data source: {exc}") from exc
    if enc is None and suffix in (".gpkg", ".geojson", ".json"):
        enc = "UTF-8"
    df = _attributes_to_text(df)
    df.index = pd.RangeIndex(1, len(df) + 1, name="source_row")
    return df, enc


def _read_ogr_transcoded(p: Path, enc: str, kwargs: dict[str, Any], notes: list[str]) -> pd.DataFrame:
    """Read with Latin-1 (byte-transparent) and decode names and string values with ``enc``."""
    try:
        df = pyogrio.read_dataframe(p, encoding="ISO-8859-1", **kwargs)
    except Exception as exc:
        raise IngestError(f"{p}: 无法读取 cannot read as a vector data source: {exc}") from exc
    geom_name = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
    renamed = {}
    for name in df.columns:
        if name == geom_name:
            continue
        renamed[name] = str(name).encode("latin-1", "replace").decode(enc, "ignore")
        s = df[name]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            df[name] = s.str.encode("latin-1").str.decode(enc, "replace")
    df = df.rename(columns=renamed)
    notes.append(f"字段名按 {enc} 重新解码 field names re-decoded as {enc} (some were cut at 10 bytes)")
    return df


def _normalise_codepage(text: str) -> str | None:
    """Encoding named by a .cpg file (``UTF-8``, ``GBK``, ``936``, ``ANSI 936`` ...), or None."""
    t = text.strip().upper().replace("ANSI", "").strip()
    if not t:
        return None
    if t.isdigit():
        t = {"65001": "UTF-8", "936": "GB18030", "54936": "GB18030", "20936": "GB18030"}.get(t, f"CP{t}")
    if t.replace("-", "").replace("_", "") in ("GBK", "GB2312", "CP936", "GB18030", "EUCCN"):
        return "GB18030"  # GB18030 decodes every GBK/GB2312 byte sequence
    if t.replace("-", "") == "UTF8":
        return "UTF-8"
    try:
        codecs.lookup(t)
    except LookupError:
        return None
    return t


def _sibling(p: Path, suffix: str) -> Path | None:
    for cand in (p.with_suffix(suffix.lower()), p.with_suffix(suffix.upper())):
        if cand.exists():
            return cand
    return None


def _shapefile_encoding(p: Path, notes: list[str]) -> str:
    """Encoding of a shapefile's .dbf: its .cpg, else UTF-8 if the bytes say so, else GB18030."""
    cpg = _sibling(p, ".cpg")
    if cpg is not None:
        named = _normalise_codepage(cpg.read_bytes().decode("ascii", "ignore"))
        if named:
            return named
        notes.append(f".cpg 内容无法识别 unrecognised .cpg content in {cpg.name}; encoding detected instead")
    dbf = p if p.suffix.lower() == ".dbf" else _sibling(p, ".dbf")
    names, values = _dbf_text_bytes(dbf) if dbf is not None else ([], b"")
    if _looks_utf8(names, values):
        return "UTF-8"
    return "GB18030"


def _dbf_text_bytes(dbf: Path) -> tuple[list[bytes], bytes]:
    """Raw bytes of a .dbf's field names, and of its character fields (a sample of the records)."""
    try:
        with open(dbf, "rb") as fh:
            head = fh.read(32)
            if len(head) < 32:
                return [], b""
            n_records = struct.unpack("<I", head[4:8])[0]
            header_len, record_len = struct.unpack("<HH", head[8:12])
            descriptors = fh.read(max(header_len - 32, 0))
            n_sample = min(n_records, max(_DBF_SAMPLE_BYTES // max(record_len, 1), 1))
            records = fh.read(n_sample * record_len) if record_len else b""
    except OSError:
        return [], b""
    names: list[bytes] = []
    char_cols: list[np.ndarray] = []
    offset = 1  # the deletion flag
    for i in range(0, len(descriptors) - 31, 32):
        desc = descriptors[i : i + 32]
        if desc[:1] == b"\r":
            break
        names.append(desc[:11].split(b"\0", 1)[0])
        width = desc[16]
        if desc[11:12] == b"C":
            char_cols.append(np.arange(offset, offset + width))
        offset += width
    values = b""
    k = len(records) // record_len if record_len else 0
    if char_cols and k:
        arr = np.frombuffer(records[: k * record_len], dtype=np.uint8).reshape(k, record_len)
        cols = np.concatenate(char_cols)
        cols = cols[cols < record_len]
        values = arr[:, cols].tobytes()
    return names, values


def _looks_utf8(names: list[bytes], values: bytes) -> bool:
    """True when .dbf field names and values have non-ASCII bytes that read as UTF-8.

    Each field name may end in a partial character (GDAL cuts names at 10 bytes, inside a UTF-8
    character if need be). In the values, a few decoding errors (values cut at their field width)
    are tolerated: text in GBK decoded as UTF-8 fails on nearly every character instead.
    """
    good = bad = 0
    for name in names:
        if name.isascii():
            continue
        try:
            good += sum(ord(ch) > 127 for ch in codecs.getincrementaldecoder("utf-8")().decode(name))
        except UnicodeDecodeError:
            bad += 1
    if not values.isascii():
        decoded = values.decode("utf-8", "replace")
        errors = decoded.count("\ufffd")
        bad += errors
        good += sum(1 for ch in decoded if ord(ch) > 127) - errors
    return good > 0 and bad * 4 <= good


# ==================================================================================================
# Importing into a layer (导入图层)
# ==================================================================================================


class _Problems:
    """Accumulates (rule, row mask, reasons) triples for the rows of one file."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.items: list[tuple[str, np.ndarray, np.ndarray]] = []

    def add(self, rule: str, mask: Any, reasons: Any) -> None:
        m = np.asarray(mask, dtype=bool)
        if not m.any():
            return
        r = np.full(self.n, None, dtype=object)
        if isinstance(reasons, str):
            r[m] = reasons
        else:
            r[m] = np.asarray(reasons, dtype=object)[m]
        self.items.append((rule, m, r))

    def mask(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for _, m, _ in self.items:
            out |= m
        return out

    def collect(self) -> tuple[np.ndarray, list[str], list[str], list[str]]:
        """Rejected row positions and, for each, first rule, all rules and all reasons."""
        items = sorted(self.items, key=lambda it: RULES.index(it[0]))
        bad = self.mask()
        idx = np.flatnonzero(bad)
        firsts, alls, reasons = [], [], []
        for i in idx:  # loop over rejected rows only, to join their reasons
            rules = [rule for rule, m, _ in items if m[i]]
            firsts.append(rules[0])
            alls.append("; ".join(dict.fromkeys(rules)))
            reasons.append("; ".join(str(r[i]) for _, m, r in items if m[i]))
        return idx, firsts, alls, reasons


def read_layer(
    path: str | os.PathLike[str],
    layer_name: str,
    *,
    crs: Any = _DEFAULT_CRS,
    lon: str | None = None,
    lat: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    gpkg_layer: str | None = None,
    fix_swapped: bool = False,
) -> ImportResult:
    """Import a field data file into layer ``layer_name`` (数据导入), sorting rows into accepted/rejected.

    Parameters
    ----------
    path : str or path-like
        Any file :func:`read_raw` reads.
    layer_name : str
        Target layer (see :data:`data.schema.LAYERS`).
    crs : int, str, pyproj.CRS or CRSSpec, default "EPSG:4326"
        CRS of lon/lat (or x/y) columns, and of geometries when the file declares none. ``"gcj02"``
        or ``"bd09"`` also applies to a file that declares a geographic CRS (AMap/Baidu exports are
        usually labelled WGS84 or not labelled at all). A file's declared CRS otherwise wins.
    lon, lat : str, optional
        Names (original header or canonical) of the coordinate columns of a point layer; by default
        ``lon``/``lat`` after aliasing (经度/纬度), ``x``/``y``, ``lng``, ``longitude``/``latitude``.
    encoding, sheet : optional
        Passed to :func:`read_raw`.
    gpkg_layer : str, optional
        GeoPackage layer to read (default: the one named ``layer_name`` if present, else the first).
    fix_swapped : bool, default False
        Swap lon/lat back where they are exchanged (keeping the row, with a warning) instead of
        rejecting the row with ``bad_coordinate``.

    Returns
    -------
    ImportResult
        With ``read == accepted_count + rejected_count``.

    Raises
    ------
    IngestError
        Unreadable file, required columns absent (the message lists them and the headers found), or a
        geometry layer without geometry or coordinate columns.
    KeyError
        Unknown ``layer_name``.
    ValueError, TypeError
        ``crs`` not understood by :func:`geo.crs.parse_crs`.
    """
    lay = schema_layer(layer_name)
    spec = parse_crs(crs)
    p = Path(path)
    if gpkg_layer is None and p.suffix.lower() == ".gpkg" and p.exists():
        try:
            names = [str(n) for n in pyogrio.list_layers(p)[:, 0]]
        except Exception as exc:
            raise IngestError(f"{p}: 无法读取GeoPackage cannot read GeoPackage: {exc}") from exc
        if layer_name in names:
            gpkg_layer = layer_name
    raw = read_raw(p, encoding=encoding, sheet=sheet, layer=gpkg_layer)
    notes: list[str] = list(raw.attrs.get("warnings", []))
    enc = raw.attrs.get("encoding")
    n = len(raw)
    source_row = raw.index.to_numpy(dtype=np.int64)

    geom_name = raw.geometry.name if isinstance(raw, gpd.GeoDataFrame) else None
    attrs = pd.DataFrame(raw.drop(columns=geom_name)) if geom_name else pd.DataFrame(raw)
    attrs = attrs.reset_index(drop=True)
    headers = [str(h) for h in attrs.columns]
    attrs.columns = headers
    rename = _rename_map(layer_name, headers, p, enc, notes)
    for h in headers:  # an unmapped header spelling a column name that another header took
        if h not in rename and h in set(rename.values()):
            rename[h] = f"{h}_dup"
            notes.append(f"重复列 duplicate column {h!r} kept as {h}_dup")
    data = attrs.rename(columns=rename)
    original_of = {v: k for k, v in rename.items()}

    missing_cols = [c for c in lay.required if c not in data.columns]
    if missing_cols:
        wanted = ", ".join(f"{c} ({lay.column(c).zh})" for c in missing_cols)
        raise IngestError(
            f"{p}: 缺少必填列 missing required column(s) for layer {layer_name!r}: {wanted}; "
            f"文件表头 headers found: {headers}"
        )

    probs = _Problems(n)
    consumed: set[str] = set()
    geoms: np.ndarray | None = None
    source_wkt: pd.Series | None = None
    crs_label = "none (no geometry)"
    lon_col = _resolve_column(data, rename, lon, p, "lon") if lon else _find_column(data, _LON_NAMES)
    lat_col = _resolve_column(data, rename, lat, p, "lat") if lat else _find_column(data, _LAT_NAMES)
    has_lonlat = lay.geometry == "Point" and lon_col is not None and lat_col is not None
    has_geometry = geom_name is not None and not (has_lonlat and raw.geometry.isna().all())
    if lay.geometry is None:
        if geom_name is not None and raw.geometry.notna().any():
            notes.append("图层无几何 layer has no geometry; the file's geometry was dropped")
    elif has_geometry:
        gs = raw.geometry
        source_wkt = pd.Series(shapely.to_wkt(gs.to_numpy()), dtype="str")
        geoms, crs_label = _geometry_from_geoseries(
            gs.to_numpy().copy(), gs.crs, lay.geometry, spec, crs, fix_swapped, probs, notes, source_row
        )
    else:
        wkt_col = _find_column(data, _WKT_NAMES)
        if has_lonlat:
            consumed |= {lon_col, lat_col}
            geoms, crs_label = _points_from_lonlat(
                data[lon_col], data[lat_col], spec, fix_swapped, probs, notes, source_row
            )
        elif wkt_col:
            consumed.add(wkt_col)
            text = data[wkt_col]
            parsed = shapely.from_wkt(text.to_numpy(dtype=object, na_value=None), on_invalid="ignore")
            unparseable = text.notna().to_numpy() & shapely.is_missing(parsed)
            why = np.where(
                unparseable,
                f"empty_geometry: {_label(wkt_col, original_of)} WKT无法解析 unparseable WKT",
                "empty_geometry: 几何为空 empty or missing geometry",
            )
            geoms, crs_label = _geometry_from_geoseries(
                parsed, None, lay.geometry, spec, crs, fix_swapped, probs, notes, source_row, why
            )
        else:
            need = (
                "经度/纬度 lon/lat columns" if lay.geometry == "Point" else "a geometry (几何) or WKT column"
            )
            raise IngestError(
                f"{p}: 缺少几何 layer {layer_name!r} needs {need}, none found; "
                f"文件表头 headers found: {headers}"
            )

    columns: dict[str, pd.Series] = {}
    absent: list[str] = []
    for col in lay.columns:
        if col.name in data.columns:
            columns[col.name] = _convert_column(
                col, data[col.name], _label(col.name, original_of), probs, notes
            )
        else:
            absent.append(col.name)
            columns[col.name] = _empty_column(col, n)
    if absent:
        notes.append(f"文件缺少可选列 optional columns absent (filled with NA): {', '.join(absent)}")
    _check_prefixes(lay, data, columns, original_of, probs)
    _check_duplicate_keys(lay, columns, original_of, probs, source_row)

    schema_names = set(lay.column_names)
    extras = [c for c in data.columns if c not in schema_names and c not in consumed]
    if extras:
        notes.append(f"未知列原样保留 unknown columns kept as they are: {', '.join(map(str, extras))}")

    bad = probs.mask()
    good = ~bad
    accepted = pd.DataFrame(columns, index=pd.RangeIndex(n))
    for c in extras:
        name = f"{c}_src" if c in ("source_row", "geometry") else c
        accepted[name] = data[c]
    accepted["source_row"] = source_row
    accepted = accepted.loc[good].reset_index(drop=True)
    if geoms is not None:
        accepted = gpd.GeoDataFrame(accepted, geometry=gpd.array.from_shapely(geoms[good], crs=STORAGE_CRS))

    rejects = _build_rejects(attrs, source_wkt, source_row, probs)
    result = ImportResult(
        layer=layer_name,
        source=str(p),
        accepted=accepted,
        rejects=rejects,
        read=n,
        encoding=enc,
        crs_label=crs_label,
        warnings=notes,
    )
    assert result.read == result.accepted_count + result.rejected_count, "rows lost during import"
    return result


def _rename_map(layer_name: str, headers: list[str], p: Path, enc: str | None, notes: list[str]) -> dict:
    """Header -> column name; for shapefiles also match field names cut at the 10-byte dBase limit."""
    rename = canonical_columns(layer_name, headers)
    if p.suffix.lower() not in _DBF_SUFFIXES:
        return rename
    amap = alias_map(layer_name)
    taken = set(rename.values())
    codec = enc or "utf-8"
    for h in headers:
        if h in rename or h in taken:
            continue
        key = re.sub(r"\s+", "", h).lower()
        try:
            nbytes = len(h.encode(codec))
        except (LookupError, UnicodeEncodeError):
            nbytes = len(h.encode("utf-8"))
        if len(key) < 2 or nbytes < 8:
            continue  # too short to have been truncated at 10 bytes
        targets = {t for alias, t in amap.items() if alias.startswith(key) and alias != key}
        if len(targets) == 1 and (target := targets.pop()) not in taken:
            rename[h] = target
            taken.add(target)
            notes.append(f"截断字段名 truncated field name {h!r} taken as {target}")
    return rename


def _label(name: str, original_of: dict[str, str]) -> str:
    """``原表头 (column)`` for reasons, or just the column name when the header was the name."""
    orig = original_of.get(name, name)
    return f"{orig} ({name})" if orig != name else name


def _find_column(data: pd.DataFrame, candidates: tuple[str, ...]) -> str | None:
    """First column whose normalised name is in ``candidates`` (in candidate order)."""
    norm = {re.sub(r"\s+", "", str(c)).lower(): c for c in reversed(list(data.columns))}
    for cand in candidates:
        if cand in norm:
            return norm[cand]
    return None


def _resolve_column(data: pd.DataFrame, rename: dict[str, str], name: str, p: Path, what: str) -> str:
    """Column of ``data`` for a user-given header (original or canonical)."""
    if name in data.columns:
        return name
    if name in rename:
        return rename[name]
    raise IngestError(
        f"{p}: 找不到{what}列 column {name!r} given as {what}= not found; headers: {list(data.columns)}"
    )


def _is_geographic(src: CRSSpec | pyproj.CRS) -> bool:
    if isinstance(src, CRSSpec):
        return src.kind != "epsg" or pyproj.CRS.from_epsg(src.epsg).is_geographic
    return bool(src.is_geographic)


def _xy_to_wgs84(x: np.ndarray, y: np.ndarray, src: CRSSpec | pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    """Arrays in ``src`` to WGS84 lon/lat arrays (NaN where the transform fails)."""
    if isinstance(src, CRSSpec):
        lon, lat = to_wgs84_xy(np.asarray(x, float), np.asarray(y, float), src)
    else:
        lon, lat = pyproj.Transformer.from_crs(src, 4326, always_xy=True).transform(x, y)
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    return np.where(bad, np.nan, lon), np.where(bad, np.nan, lat)


def _classify_coords(
    x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, src: CRSSpec | pyproj.CRS
) -> np.ndarray:
    """Status ("ok", "swapped", "outside_china", "out_of_range", "missing") of probe point pairs.

    Each row is probed at two points in source coordinates (a point twice, or the two corners of a
    geometry's bounding box). Geographic sources are checked as given; projected sources after
    conversion to WGS84, and rows that fail are retried with x/y exchanged to detect swapped axes.
    """
    src_missing = np.isnan(x1) | np.isnan(y1) | np.isnan(x2) | np.isnan(y2)
    if _is_geographic(src):
        s1 = np.asarray(check_lonlat(x1, y1), dtype=object)
        s2 = np.asarray(check_lonlat(x2, y2), dtype=object)
    else:
        s1 = np.asarray(check_lonlat(*_xy_to_wgs84(x1, y1, src)), dtype=object)
        s2 = np.asarray(check_lonlat(*_xy_to_wgs84(x2, y2, src)), dtype=object)
        for s in (s1, s2):  # after a projection a failed transform means out of range
            s[(s == "missing") & ~src_missing] = "out_of_range"
            s[s == "swapped"] = "outside_china"
        retry = ((s1 != "ok") | (s2 != "ok")) & ~src_missing
        if retry.any():
            r1 = check_lonlat(*_xy_to_wgs84(y1[retry], x1[retry], src))
            r2 = check_lonlat(*_xy_to_wgs84(y2[retry], x2[retry], src))
            idx = np.flatnonzero(retry)[(r1 == "ok") & (r2 == "ok")]
            s1[idx] = s2[idx] = "swapped"
    same = s1 == s2
    first_bad = np.where(s1 != "ok", s1, s2)
    first_bad = np.where(first_bad == "swapped", "outside_china", first_bad)
    status = np.where(same, s1, first_bad).astype(object)
    status[src_missing] = "missing"
    return status


def _coord_reasons(status: np.ndarray, coords: pd.Series, extra: str = "") -> pd.Series:
    """``bad_coordinate: <中文 English> (<values>)`` for every row (used where status != ok)."""
    desc = pd.Series(status, dtype=object).map(_COORD_REASONS).fillna("坐标异常 bad coordinate")
    return "bad_coordinate: " + desc.astype("str") + extra + " " + coords.astype("str")


def _note_rows(rows: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (", ..." if len(rows) > limit else "")


def _points_from_lonlat(
    lon_text: pd.Series,
    lat_text: pd.Series,
    spec: CRSSpec,
    fix_swapped: bool,
    probs: _Problems,
    notes: list[str],
    source_row: np.ndarray,
) -> tuple[np.ndarray, str]:
    """Points in EPSG:4326 from lon/lat (or x/y) text columns in ``spec``; problems go to ``probs``."""
    lon_v = _to_number(lon_text).to_numpy(dtype=float, na_value=np.nan)
    lat_v = _to_number(lat_text).to_numpy(dtype=float, na_value=np.nan)
    unparseable = (lon_text.notna().to_numpy() & np.isnan(lon_v)) | (
        lat_text.notna().to_numpy() & np.isnan(lat_v)
    )
    status = _classify_coords(lon_v, lat_v, lon_v, lat_v, spec)
    status[unparseable] = "unparseable"
    swapped = status == "swapped"
    if fix_swapped and swapped.any():
        lon_v, lat_v = np.where(swapped, lat_v, lon_v), np.where(swapped, lon_v, lat_v)
        status[swapped] = "ok"
        notes.append(
            f"经纬度颠倒已纠正 swapped lon/lat fixed in {int(swapped.sum())} row(s): "
            f"rows {_note_rows(source_row[swapped])}"
        )
    ok = status == "ok"
    far = status == "out_of_range"
    if far.any() and far.sum() == (~np.isnan(lon_v) & ~np.isnan(lat_v)).sum():
        notes.append(
            f"坐标均超出经纬度范围 every coordinate is out of lon/lat range for {spec.label}: "
            "projected metres? pass crs=, e.g. crs='EPSG:4549'"
        )
    coords = "(" + lon_text.fillna("").astype("str") + ", " + lat_text.fillna("").astype("str") + ")"
    extra = "" if _is_geographic(spec) else f" [{spec.label}]"
    probs.add("bad_coordinate", ~ok, _coord_reasons(status, coords, extra))
    x = np.full(len(lon_v), np.nan)
    y = np.full(len(lat_v), np.nan)
    if ok.any():
        x[ok], y[ok] = _xy_to_wgs84(lon_v[ok], lat_v[ok], spec)
    geoms = np.full(len(lon_v), None, dtype=object)
    geoms[ok] = shapely.points(x[ok], y[ok])
    return geoms, spec.label


def _geometry_from_geoseries(
    g: np.ndarray,
    file_crs: pyproj.CRS | None,
    layer_geometry: str,
    spec: CRSSpec,
    crs_arg: Any,
    fix_swapped: bool,
    probs: _Problems,
    notes: list[str],
    source_row: np.ndarray,
    empty_reason: str | pd.Series = "empty_geometry: 几何为空 empty or missing geometry",
) -> tuple[np.ndarray, str]:
    """Check and convert source geometries to EPSG:4326; problems go to ``probs``."""
    n = len(g)
    missing = shapely.is_missing(g) | shapely.is_empty(g)
    probs.add("empty_geometry", missing, empty_reason)
    if layer_geometry == "Point":  # a MultiPoint of one point is a point
        single = (shapely.get_type_id(g) == 4) & (shapely.get_num_geometries(g) == 1)
        if single.any():
            g[single] = shapely.get_geometry(g[single], 0)
    type_ids = shapely.get_type_id(g)
    wrong = ~missing & ~np.isin(type_ids, _ALLOWED_TYPE_IDS[layer_geometry])
    if wrong.any():
        got = np.full(n, "", dtype=object)
        got[wrong] = _GEOM_TYPE_NAMES[type_ids[wrong]]
        probs.add(
            "wrong_geometry_type",
            wrong,
            f"wrong_geometry_type: 几何类型错误 expected {layer_geometry}, got "
            + pd.Series(got, dtype="str"),
        )
    checkable = ~missing & ~wrong
    invalid = checkable & ~shapely.is_valid(g)
    if invalid.any():
        why = np.full(n, "", dtype=object)
        why[invalid] = shapely.is_valid_reason(g[invalid])
        probs.add(
            "invalid_geometry",
            invalid,
            "invalid_geometry: 几何无效 invalid geometry: " + pd.Series(why, dtype="str"),
        )

    src, label = _source_crs(file_crs, spec, crs_arg, notes)
    bounds = np.full((n, 4), np.nan)
    if checkable.any():
        bounds[checkable] = shapely.bounds(g[checkable])
    status = _classify_coords(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3], src)
    swapped = checkable & (status == "swapped")
    if fix_swapped and swapped.any():
        g[swapped] = shapely.transform(g[swapped], lambda c: c[:, ::-1])
        status[swapped] = "ok"
        notes.append(
            f"经纬度颠倒已纠正 swapped x/y fixed in {int(swapped.sum())} geometr(ies): "
            f"rows {_note_rows(source_row[swapped])}"
        )
    bad_coord = checkable & (status != "ok")
    if bad_coord.any():
        box = np.full(n, "", dtype=object)
        box[bad_coord] = [f"(bbox {b[0]:.6g}, {b[1]:.6g}, {b[2]:.6g}, {b[3]:.6g})" for b in bounds[bad_coord]]
        box = pd.Series(box, dtype="str")  # formatted for the rejected rows only
        probs.add("bad_coordinate", bad_coord, _coord_reasons(status, box))

    out = np.full(n, None, dtype=object)
    conv = ~missing
    if conv.any():
        if isinstance(src, CRSSpec):
            out[conv] = to_wgs84(gpd.GeoSeries(g[conv]), src).to_numpy()
        else:
            out[conv] = gpd.GeoSeries(g[conv], crs=src).to_crs(STORAGE_CRS).to_numpy()
    return out, label


def _source_crs(
    file_crs: pyproj.CRS | None, spec: CRSSpec, crs_arg: Any, notes: list[str]
) -> tuple[CRSSpec | pyproj.CRS, str]:
    """The CRS geometries are converted from: the file's own, else ``spec`` (see read_layer)."""
    if file_crs is None:
        notes.append(f"文件未声明坐标系 no CRS declared in the file; assumed {spec.label}")
        return spec, spec.label
    file_crs = pyproj.CRS(file_crs)
    if spec.kind != "epsg":
        if file_crs.is_geographic:
            notes.append(
                f"声明的坐标系 declared CRS {file_crs.name!r} taken as {spec.label} values, as requested"
            )
            return spec, spec.label
        notes.append(f"文件声明投影坐标系 file declares projected {file_crs.name!r}; crs={crs_arg!r} ignored")
    code = file_crs.to_epsg() or file_crs.to_epsg(min_confidence=25)
    src: CRSSpec | pyproj.CRS
    if code is not None:
        src = parse_crs(int(code))
        label = src.label
    else:
        src, label = file_crs, file_crs.name
    explicit = not (isinstance(crs_arg, str) and crs_arg == _DEFAULT_CRS)
    if spec.kind == "epsg" and explicit and spec.epsg != code:
        notes.append(f"文件声明坐标系优先 file declares {label}; crs={crs_arg!r} ignored")
    return src, label


# --------------------------------------------------------------------------------------------------
# Column conversion (字段类型转换)
# --------------------------------------------------------------------------------------------------


def _mask(result: pd.Series) -> np.ndarray:
    """Boolean numpy mask from a (possibly NA-holding) string-method result."""
    return result.fillna(False).to_numpy(dtype=bool)


def _positions(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Boolean mask over the whole frame for the rows ``inner`` selects among those ``outer`` selects."""
    full = np.zeros(len(outer), dtype=bool)
    full[np.flatnonzero(outer)[inner]] = True
    return full


def _nfkc(text: pd.Series) -> pd.Series:
    """NFKC-normalise text (full-width digits and punctuation to ASCII), touching non-ASCII rows only."""
    t = text.astype("str")
    wide = _mask(t.str.contains(r"[^\x00-\x7f]", regex=True))
    if wide.any():
        t = t.mask(pd.Series(wide, index=t.index), t[wide].str.normalize("NFKC"))
    return t


def _to_number(text: pd.Series) -> pd.Series:
    """Parse numbers from text: full-width digits, thousands separators, a trailing ° allowed."""
    t = _nfkc(text).str.strip().str.replace(",", "", regex=False)
    t = t.str.rstrip("°").str.strip()
    return pd.to_numeric(t, errors="coerce")


def _strip_float_suffix(t: pd.Series) -> pd.Series:
    """``320613001001001.0`` (a code that a spreadsheet turned into a float) -> ``320613001001001``."""
    floaty = _mask(t.str.fullmatch(r"\d+\.0+"))
    if not floaty.any():
        return t
    return t.mask(pd.Series(floaty, index=t.index), t[floaty].str.replace(r"\.0+$", "", regex=True))


def _quoted(t: pd.Series) -> pd.Series:
    return "'" + t.fillna("").astype("str") + "'"


def _empty_column(col: Column, n: int) -> pd.Series:
    """All-NA column of the right dtype for an optional column absent from the file."""
    if col.dtype == "int":
        return pd.Series(pd.array([pd.NA] * n, dtype="Int64"))
    if col.dtype == "float":
        return pd.Series(np.full(n, np.nan))
    if col.dtype == "bool":
        return pd.Series(pd.array([pd.NA] * n, dtype="boolean"))
    if col.dtype in ("datetime", "date"):
        return pd.Series(np.full(n, np.datetime64("NaT"), dtype=_DATETIME_DTYPE))
    return pd.Series(np.full(n, np.nan), dtype="str")


def _convert_column(col: Column, s: pd.Series, label: str, probs: _Problems, notes: list[str]) -> pd.Series:
    """Type one column; add ``missing_value``/``malformed_code``/``bad_*`` problems to ``probs``."""
    text = s.astype("str").str.strip()
    text = text.mask(text.eq(""))
    present = text.notna().to_numpy()
    if col.required:
        probs.add("missing_value", ~present, f"missing_value: 缺少必填值 missing required value in {label}")
    if col.dtype == "int":
        num = _to_number(text)
        integral = num.notna() & np.isfinite(num) & (num == np.floor(num)) & (num.abs() < 2**53)
        bad = present & ~integral.to_numpy()
        probs.add("bad_value", bad, f"bad_value: {label} 不是整数 not an integer " + _quoted(text))
        return num.where(integral).astype("Int64")
    if col.dtype == "float":
        num = _to_number(text)
        finite = num.notna() & np.isfinite(num)
        probs.add(
            "bad_value",
            present & ~finite.to_numpy(),
            f"bad_value: {label} 不是数值 not a number " + _quoted(text),
        )
        return num.where(finite).astype("float64")
    if col.dtype == "bool":
        mapped = text.str.lower().map(_BOOL_MAP)
        retry = present & mapped.isna().to_numpy()
        if retry.any():  # full-width Ｙ, １ ...
            mapped = mapped.mask(pd.Series(retry), _nfkc(text[retry]).str.lower().map(_BOOL_MAP))
        bad = present & mapped.isna().to_numpy()
        probs.add("bad_value", bad, f"bad_value: {label} 不是是/否 not a yes/no value " + _quoted(text))
        return mapped.astype("boolean")
    if col.dtype in ("datetime", "date"):
        return _convert_dates(col, text, label, probs)
    return _convert_text(col, text, label, probs, notes)


def _convert_text(col: Column, text: pd.Series, label: str, probs: _Problems, notes: list[str]) -> pd.Series:
    """Codes (pattern), code lists (choices) and ID numbers; other text is only stripped."""
    present = text.notna().to_numpy()
    codelike = col.pattern or col.name.endswith(("_id", "_code")) or col.pii in ("phone", "id_number")
    if codelike:
        text = _strip_float_suffix(_nfkc(text).str.strip())
    if col.pattern:
        ok = text.str.fullmatch(col.pattern).fillna(False).to_numpy(dtype=bool)
        bad = present & ~ok
        hint = np.where(
            text.str.contains(r"^\d(?:\.\d+)?[eE]\+?\d+$", regex=True).fillna(False).to_numpy(dtype=bool),
            " (疑似科学计数法 scientific notation: digits lost in a spreadsheet)",
            "",
        )
        reasons = (
            f"malformed_code: {label} 编码格式错误 malformed code "
            + _quoted(text)
            + f", expected {col.pattern}"
            + pd.Series(hint, dtype="str")
        )
        probs.add("malformed_code", bad, reasons)
        if bad.any() and bad.sum() == present.sum():
            notes.append(
                f"{label}: 全部取值格式错误 every value is malformed; is the column mapped correctly?"
            )
    if col.choices:
        bad = present & ~text.isin(col.choices).to_numpy()
        probs.add(
            "bad_value",
            bad,
            f"bad_value: {label} 取值不在代码表 not an allowed value "
            + _quoted(text)
            + f" (allowed: {'/'.join(col.choices)})",
        )
    if col.pii == "id_number":
        text = text.str.upper()
        why = pd.Series(id_number_problems(text.fillna("").to_numpy(dtype=object)), dtype="str")
        bad = present & (why != "").to_numpy()
        masked = text.map(lambda v: mask_value(v, "id_number")).fillna("").to_numpy(dtype=object)
        probs.add(
            "bad_id_number",
            bad,
            f"bad_id_number: {label} 身份证号无效 invalid ID number: "
            + why.map(_ID_REASONS).fillna(why).astype("str")
            + " "
            + pd.Series(masked, dtype="str"),
        )
    return text.astype("str")


def _convert_dates(col: Column, text: pd.Series, label: str, probs: _Problems) -> pd.Series:
    """Parse dates/datetimes; flag unparseable, pre-1900 and (unless the column is ``future_ok``) future
    (> now + 1 day) values; a ``future_ok`` date still has to lie before 2200."""
    present = text.notna().to_numpy()
    parsed = parse_datetimes(text)
    unparseable = present & parsed.isna().to_numpy()
    too_early = (parsed < _MIN_DATE).to_numpy()
    # deadlines and expiry dates lie ahead by nature; other dates more than a day ahead are typos
    latest = _MAX_DATE if col.future_ok else pd.Timestamp.now() + pd.Timedelta(days=1)
    future = (parsed > latest).to_numpy()
    probs.add("bad_date", unparseable, f"bad_date: {label} 日期无法解析 unparseable date " + _quoted(text))
    probs.add("bad_date", too_early, f"bad_date: {label} 早于1900年 before 1900 " + _quoted(text))
    late = "晚于2200年 after 2200" if col.future_ok else "晚于当前时间 in the future"
    probs.add("bad_date", future, f"bad_date: {label} {late} " + _quoted(text))
    parsed = parsed.mask(too_early | future)
    out = parsed.astype(_DATETIME_DTYPE)
    if col.dtype == "date":
        out = out.dt.normalize()
    return out


def parse_datetimes(text: pd.Series) -> pd.Series:
    """Parse field date/time text into naive datetimes (Asia/Shanghai wall time), NaT if unparseable.

    Accepted: ISO and ``/``-separated forms with optional time (``2024-03-05``, ``2024/3/5 14:30``),
    ``.``-separated dates, ``2024年3月5日 14时30分``, compact ``20240305`` / ``20240305143000``,
    Excel serial day numbers (``45356`` or ``45356.5``) and timestamps with an offset (converted to
    Beijing time).

    Parameters
    ----------
    text : pandas.Series of str

    Returns
    -------
    pandas.Series
        datetime64 values (resolution as pandas infers it), NaT where unparseable or empty.
    """
    t = _nfkc(text).str.strip().reset_index(drop=True)
    out = pd.Series(pd.NaT, index=t.index, dtype="datetime64[us]")

    def put(mask: np.ndarray, values: pd.Series) -> None:
        out.loc[mask] = values.to_numpy(dtype="datetime64[us]")

    serial = _mask(t.str.fullmatch(r"\d{5}(?:\.\d+)?"))
    if serial.any():
        days = pd.to_numeric(t[serial], errors="coerce")
        put(serial, pd.to_datetime(days, unit="D", origin="1899-12-30", errors="coerce"))
    digits = _mask(t.str.fullmatch(r"\d{8}|\d{12}|\d{14}"))
    for length, fmt in {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}.items():
        m = digits & _mask(t.str.len() == length)
        if m.any():
            put(m, pd.to_datetime(t[m], format=fmt, errors="coerce"))
    aware = _mask(t.str.contains(r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})$", regex=True))
    rest = t.notna().to_numpy() & ~serial & ~digits & ~aware
    if rest.any():  # fast path: ISO 8601 (2024-03-05, 2024-03-05 14:30:00, 2024-03-05T14:30)
        put(rest, pd.to_datetime(t[rest], format="ISO8601", errors="coerce"))
    todo = (rest | aware) & out.isna().to_numpy()
    if todo.any():  # field formats: 2024/3/5, 2024.3.5, 2024年3月5日 14时30分 ...
        r = t[todo]
        zh = _mask(r.str.contains(r"[年月日号时点分秒]", regex=True))
        if zh.any():
            z = r[zh]
            z = z.str.replace(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?", r"\1-\2-\3", regex=True)
            z = z.str.replace(
                r"(\d{1,2})\s*[时点]\s*(\d{1,2})\s*分(?:\s*(\d{1,2})\s*秒)?", r"\1:\2:\3", regex=True
            )
            z = z.str.replace(r"(\d{1,2})\s*[时点]$", r"\1:00", regex=True)
            r = r.mask(pd.Series(zh, index=r.index), z.str.replace(r":$", "", regex=True).str.strip())
        r = r.str.replace(r"^(\d{4})[./](\d{1,2})[./](\d{1,2})", r"\1-\2-\3", regex=True)
        tz = aware[todo]
        if tz.any():
            a = pd.to_datetime(r[tz], format="mixed", utc=True, errors="coerce")
            put(_positions(todo, tz), a.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None))
        if (~tz).any():
            put(_positions(todo, ~tz), pd.to_datetime(r[~tz], format="mixed", errors="coerce"))
    out.index = text.index
    return out


def _check_prefixes(
    lay: Layer,
    data: pd.DataFrame,
    columns: dict[str, pd.Series],
    original_of: dict[str, str],
    probs: _Problems,
) -> None:
    """A child code must start with its parent's code (grid_code with village_code, ...)."""
    for child, parent in _PREFIX_PAIRS:
        if child not in data.columns or parent not in data.columns:
            continue
        c, par = columns[child], columns[parent]
        c_ok = c.str.fullmatch(lay.column(child).pattern or r".+").fillna(False)
        p_ok = par.str.fullmatch(lay.column(parent).pattern or r".+").fillna(False)
        both = (c_ok & p_ok).to_numpy(dtype=bool)
        starts = np.zeros(len(c), dtype=bool)
        if both.any():
            starts[both] = np.char.startswith(c[both].to_numpy(dtype="U"), par[both].to_numpy(dtype="U"))
        bad = both & ~starts
        probs.add(
            "malformed_code",
            bad,
            f"malformed_code: {_label(child, original_of)} "
            + _quoted(c)
            + f" 与上级编码不符 does not start with {_label(parent, original_of)} "
            + _quoted(par),
        )


def _check_duplicate_keys(
    lay: Layer,
    columns: dict[str, pd.Series],
    original_of: dict[str, str],
    probs: _Problems,
    source_row: np.ndarray,
) -> None:
    """Reject later rows whose key repeats the key of an earlier otherwise-accepted row."""
    key = columns.get(lay.key)
    if key is None:
        return
    candidates = ~probs.mask() & key.notna().to_numpy()
    k = key.where(candidates)
    dup = (k.duplicated(keep="first") & k.notna()).to_numpy()
    if not dup.any():
        return
    first_row = pd.Series(source_row).where(candidates).groupby(k).transform("min")
    probs.add(
        "duplicate_key",
        dup,
        f"duplicate_key: {_label(lay.key, original_of)} 编码重复 duplicate key "
        + _quoted(key)
        + " (first at row "
        + first_row.fillna(0).astype(int).astype("str")
        + ")",
    )


def _build_rejects(
    attrs: pd.DataFrame, source_wkt: pd.Series | None, source_row: np.ndarray, probs: _Problems
) -> pd.DataFrame:
    """Original rows (original headers and text) of the rejected rows, with rule and reason."""
    idx, first, rules, reasons = probs.collect()
    rej = attrs.iloc[idx].copy()
    reserved = ("geometry", "source_row", "rule", "rules", "reason")
    rej.columns = [f"{c}_src" if c in reserved else c for c in rej.columns]
    if source_wkt is not None:
        rej["geometry"] = source_wkt.iloc[idx].to_numpy()
    rej["source_row"] = source_row[idx]
    rej["rule"] = pd.Series(first, dtype="str", index=rej.index)
    rej["rules"] = pd.Series(rules, dtype="str", index=rej.index)
    rej["reason"] = pd.Series(reasons, dtype="str", index=rej.index)
    return rej.reset_index(drop=True)


# ==================================================================================================
# Writing and layer detection
# ==================================================================================================


def write_result(result: ImportResult, out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Write an import result (导入结果落盘) and return its report.

    Writes ``out_dir/<layer>.parquet`` (GeoParquet for geometry layers, else plain Parquet),
    ``out_dir/rejects/<layer>.rejects.csv`` (UTF-8 with BOM so that Excel shows Chinese; always
    written, with its header even when empty) and ``out_dir/rejects/<layer>.report.json``.

    Parameters
    ----------
    result : ImportResult
    out_dir : str or path-like
        Created if needed.

    Returns
    -------
    dict
        ``{layer, source, read, accepted, rejected, by_rule, encoding, crs, warnings, outputs}``, the
        same content as the JSON report; ``by_rule`` counts rejected rows by first rule.
    """
    out = Path(out_dir)
    rej_dir = out / "rejects"
    rej_dir.mkdir(parents=True, exist_ok=True)
    accepted_path = out / f"{result.layer}.parquet"
    rejects_path = rej_dir / f"{result.layer}.rejects.csv"
    report_path = rej_dir / f"{result.layer}.report.json"
    if isinstance(result.accepted, gpd.GeoDataFrame):
        result.accepted.to_parquet(accepted_path, index=False)
    else:
        pd.DataFrame(result.accepted).to_parquet(accepted_path, index=False)
    write_csv(result.rejects, rejects_path)  # raw field values: neutralised for Excel (data.spreadsheet)
    report = result.report()
    report["outputs"] = {
        "accepted": str(accepted_path),
        "rejects": str(rejects_path),
        "report": str(report_path),
    }
    report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    make_private(rej_dir, accepted_path, rejects_path, report_path)  # personal data: owner only
    return report


def split_path_crs(spec: str, default: object = "EPSG:4326") -> tuple[str, object]:
    """Split ``"PATH@CRS"`` (e.g. ``incidents.csv@gcj02``, ``grids.shp@EPSG:4549``) into path and CRS.

    A suffix that is not a CRS :func:`geo.crs.parse_crs` accepts stays part of the path, as does a
    spec naming an existing file; without a suffix the CRS is ``default``.
    """
    spec = str(spec)
    path, sep, suffix = spec.rpartition("@")
    if not sep or Path(spec).exists():
        return spec, default
    try:
        parse_crs(suffix)
    except (ValueError, TypeError):
        return spec, default
    return path, suffix


def detect_layer(path_or_headers: str | os.PathLike[str] | list[str] | tuple[str, ...]) -> str | None:
    """Guess the layer of a file (识别图层) from its name or its headers.

    Parameters
    ----------
    path_or_headers : path or sequence of str
        A file: its stem is tried first as a layer name (``grids.csv``) or a layer's Chinese name
        (``网格.xlsx``); otherwise its headers are read. A sequence: the headers themselves.

    Returns
    -------
    str or None
        For headers: the layer whose key column is present after aliasing and whose required columns
        are best covered (at least half of them); ties on coverage are broken by the number of matched
        columns. None if no layer qualifies or the best two tie.
    """
    if isinstance(path_or_headers, str | os.PathLike):
        p = Path(path_or_headers)
        stem = p.stem
        if stem in LAYERS:
            return stem
        if stem.lower() in LAYERS:
            return stem.lower()
        by_zh = [name for name, lay in LAYERS.items() if lay.zh == stem]
        if len(by_zh) == 1:
            return by_zh[0]
        raw = read_raw(p)
        geom = raw.geometry.name if isinstance(raw, gpd.GeoDataFrame) else None
        headers = [str(c) for c in raw.columns if c != geom]
    else:
        headers = [str(h) for h in path_or_headers]
    scores: list[tuple[float, int, str]] = []
    for name, lay in LAYERS.items():
        targets = set(canonical_columns(name, headers).values())
        if lay.key not in targets:
            continue
        required = set(lay.required)
        cover = len(required & targets) / len(required) if required else 0.0
        if cover >= 0.5:
            scores.append((cover, len(targets & set(lay.column_names)), name))
    if not scores:
        return None
    scores.sort(key=lambda s: (s[0], s[1]), reverse=True)
    if len(scores) > 1 and scores[0][:2] == scores[1][:2]:
        return None
    return scores[0][2]
