"""An in-memory index of point events (事件索引) for interactive views: any unit, days and categories in
milliseconds.

Why
---
A map of a long period reads many points: a year of a city's incidents is 600 K rows, and reading them
from the store with their geometry took 5–6 s on the full demo (SQLite; most of it fetching rows and
decoding WKB), before any hexagon was counted. The dashboard asks such questions on every filter change.
Kept here as a few numpy columns (lon, lat, day, time, category code, grid index: about 40 bytes an
event, 60 MB for 1.6 M incidents), the same answer is a boolean mask and a ``bincount``.

What it answers is exactly what the store answers (the tests compare them): the days are the half-open
range ``[start 00:00, end + 1 day)`` of :func:`data.store.base.day_bounds`; a set of grids keeps the events
assigned to one of them, ``None`` keeps every event (those outside every grid too, as the store does for
the whole city without a scope).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.heat import _cells_as_str, cells_of, lonlat_of

__all__ = ["EventIndex"]

_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass
class EventIndex:
    """Point events as numpy columns, for masks by grid, day and category (see the module docstring).

    Build it with :meth:`from_frame`; it is read-only afterwards and safe to share between threads
    (H3 cells are added per resolution on first use, under a lock).
    """

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    time_ns: NDArray[np.int64]
    day: NDArray[np.int32]
    category: NDArray[np.int16]
    categories: tuple[str, ...]
    grid: NDArray[np.int32]
    grid_codes: tuple[str, ...]
    _cells: dict[int, NDArray[np.uint64]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        time_col: str = "occurred_at",
        category_col: str = "category",
        grid_col: str = "grid_code",
    ) -> EventIndex:
        """Index a frame of events (GeoDataFrame of points, or ``lon``/``lat`` columns).

        Parameters
        ----------
        frame : DataFrame
            One row per event with ``time_col``, ``category_col`` and ``grid_col`` (empty or missing:
            outside every grid).
        time_col, category_col, grid_col : str

        Returns
        -------
        EventIndex
        """
        lon, lat = lonlat_of(frame)
        times = pd.to_datetime(frame[time_col]).to_numpy("datetime64[ns]")
        if np.isnat(times).any():
            raise ValueError(f"EventIndex: {int(np.isnat(times).sum())} events without {time_col}")
        cat_codes, categories = pd.factorize(frame[category_col].astype("string").fillna(""), sort=True)
        grids = frame[grid_col].astype("string").fillna("").to_numpy(dtype=object)
        grid_index, grid_codes = pd.factorize(grids, sort=True)
        codes = [str(c) for c in grid_codes]
        if "" in codes:  # no grid: index -1, as for a missing value
            empty = codes.index("")
            grid_index = np.where(grid_index == empty, -1, grid_index - (grid_index > empty))
            codes.pop(empty)
        return cls(
            lon=np.asarray(lon, dtype=np.float64),
            lat=np.asarray(lat, dtype=np.float64),
            time_ns=times.astype(np.int64),
            day=(times.astype("datetime64[D]") - _EPOCH).astype(np.int32),
            category=cat_codes.astype(np.int16),
            categories=tuple(str(c) for c in categories),
            grid=grid_index.astype(np.int32),
            grid_codes=tuple(codes),
        )

    def __len__(self) -> int:
        return len(self.lon)

    def mask(
        self,
        grids: Iterable[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        categories: Iterable[str] | None = None,
    ) -> NDArray[np.bool_]:
        """The events of ``grids`` (None: all) on the days ``start`` … ``end`` (both included, either may
        be None) in ``categories`` (None or empty: all)."""
        keep = np.ones(len(self), dtype=bool)
        if grids is not None:
            wanted = set(grids)
            lookup = np.fromiter(
                (c in wanted for c in self.grid_codes), dtype=bool, count=len(self.grid_codes)
            )
            keep &= np.append(lookup, False)[self.grid]  # index -1 (no grid) reads the appended False
        if start is not None:
            keep &= self.day >= _day_number(start)
        if end is not None:
            keep &= self.day <= _day_number(end)
        cats = [c for c in (categories or ()) if c]
        if cats:
            codes = [i for i, c in enumerate(self.categories) if c in set(cats)]
            keep &= np.isin(self.category, np.asarray(codes, dtype=np.int16))
        return keep

    def cells(self, resolution: int) -> NDArray[np.uint64]:
        """The H3 cell (integer) of every event at ``resolution`` (0 without coordinates)."""
        with self._lock:
            found = self._cells.get(resolution)
            if found is None:
                found = self._cells[resolution] = cells_of(self.lon, self.lat, resolution)
        return found

    def cell_counts(self, mask: NDArray[np.bool_], resolution: int) -> pd.DataFrame:
        """Events per H3 cell among ``mask``: ``h3`` (hex string) and ``count``, like
        :func:`geo.heat.h3_aggregate` without ``by``."""
        cells = self.cells(resolution)[mask]
        uniq, count = np.unique(cells[cells != 0], return_counts=True)
        return pd.DataFrame({"h3": _cells_as_str(uniq), "count": count.astype(np.int64)})

    def frame(self, mask: NDArray[np.bool_]) -> pd.DataFrame:
        """The events of ``mask`` as ``lon``, ``lat``, ``category``, ``occurred_at`` (what the map's
        layers read), in index order."""
        cats = np.asarray(self.categories, dtype=object)
        return pd.DataFrame(
            {
                "lon": self.lon[mask],
                "lat": self.lat[mask],
                "category": cats[self.category[mask]] if len(cats) else np.empty(int(mask.sum()), object),
                "occurred_at": self.time_ns[mask].astype("datetime64[ns]"),
            }
        )


def _day_number(day: dt.date | str | pd.Timestamp) -> int:
    return int((np.datetime64(pd.Timestamp(day).date(), "D") - _EPOCH).astype(np.int64))
