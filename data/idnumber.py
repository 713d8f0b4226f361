"""Resident identity numbers (公民身份号码, GB 11643-1999): check digit, validation, generation.

An 18-character number = 6-digit address code + 8-digit birth date (YYYYMMDD) + 3-digit sequence
(odd for men, even for women) + a check character computed as ISO 7064 MOD 11-2 ('0'-'9' or 'X').
All functions are vectorised over numpy arrays of strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHECK = np.array(list("10X98765432"))


def check_chars(first17: np.ndarray) -> np.ndarray:
    """Check characters for an array of 17-digit strings (GB 11643 MOD 11-2)."""
    arr = np.asarray(first17, dtype="U17")
    digits = arr.view("U1").reshape(len(arr), 17).astype(np.int64) if len(arr) else np.zeros((0, 17), int)
    return _CHECK[(digits @ _WEIGHTS) % 11]


def id_number_problems(values) -> np.ndarray:
    """For each value, ``""`` when it is a well-formed 18-character ID number, else the reason.

    Reasons: ``missing``, ``format`` (not 17 digits + digit/X), ``birth_date`` (not a real date, or in
    the future), ``check_digit`` (the GB 11643 check character does not match).
    """
    s = pd.Series(values, dtype=object)
    out = np.full(len(s), "", dtype=object)
    missing = s.isna().to_numpy() | (s.astype(str).str.strip() == "").to_numpy()
    out[missing] = "missing"
    text = s.where(~missing, "").astype(str).str.strip().str.upper()
    fmt_ok = text.str.fullmatch(r"\d{17}[\dX]").to_numpy() & ~missing
    out[~fmt_ok & ~missing] = "format"
    idx = np.flatnonzero(fmt_ok)
    if len(idx):
        t = text.to_numpy()[idx].astype("U18")
        births = pd.to_datetime(pd.Series(t).str.slice(6, 14), format="%Y%m%d", errors="coerce")
        bad_birth = births.isna().to_numpy() | (births > pd.Timestamp.now()).to_numpy()
        out[idx[bad_birth]] = "birth_date"
        good = ~bad_birth
        if good.any():
            tt = t[good]
            expect = check_chars(np.char.ljust(tt, 17).astype("U17"))
            actual = np.array([x[17] for x in tt])
            out[idx[good][expect != actual]] = "check_digit"
    return out


def is_valid_id_number(values) -> np.ndarray:
    """Boolean array: True where the value is a valid 18-character ID number."""
    return id_number_problems(values) == ""


def make_id_numbers(region: np.ndarray, birth: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Build valid ID numbers from 6-digit region codes, birth dates (datetime64) and sequences 0-999."""
    region = np.asarray(region).astype("U6")
    births = pd.DatetimeIndex(np.asarray(birth, dtype="datetime64[ns]")).strftime("%Y%m%d").to_numpy("U8")
    seqs = np.char.zfill(np.asarray(seq, dtype=np.int64).astype("U3"), 3)
    first = np.char.add(np.char.add(region, births), seqs)
    return np.char.add(first, check_chars(first))
