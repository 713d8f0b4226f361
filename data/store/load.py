"""Loading a folder of GeoParquet layers into the store (导入), fast, then refreshing the aggregates.

Each layer file (``<layer>.parquet``, named as in :data:`data.schema.LAYERS`) is read in Arrow record
batches and handed to the store's bulk path: ``executemany`` in one large transaction for SQLite,
``COPY … FROM STDIN`` for PostGIS, with secondary indexes dropped during the load and rebuilt after.
Afterwards :meth:`Store.refresh` rebuilds the unit tables, the grid of cameras and patrol fixes, the
per grid × day × category incident counts and the per-grid base figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from data.schema import LAYERS
from data.store._arrow import ACCEPTED_EPSG, geoparquet_crs_epsg, target_columns
from data.store.base import Store

#: Load order: units first, work orders last.
LOAD_ORDER = (
    "admin_units",
    "police_units",
    "districts",
    "stations",
    "grids",
    "grid_district",
    "staff",
    "addresses",
    "population",
    "persons_of_concern",
    "incidents",
    "disputes",
    "hazards",
    "visits",
    "patrol_points",
    "cameras",
    "work_orders",
)


@dataclass
class LoadReport:
    """What :func:`load_layers` did: rows and seconds per layer, seconds per refresh step, total seconds."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    refresh: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0

    def lines(self) -> list[str]:
        """One line per layer and refresh step, for printing."""
        out = [f"{name:<20} {self.rows[name]:>10,} rows {self.seconds[name]:8.1f} s" for name in self.rows]
        out += [f"refresh {name:<32} {sec:8.1f} s" for name, sec in self.refresh.items()]
        out.append(f"{'total':<37} {self.total_seconds:8.1f} s")
        return out


def _batches(path: Path, layer: str, batch_size: int) -> Iterable:
    pf = pq.ParquetFile(path)
    epsg = geoparquet_crs_epsg(pf.schema_arrow.metadata)
    if LAYERS[layer].geometry and epsg is not None and epsg not in ACCEPTED_EPSG:
        raise ValueError(f"{path}: geometry in EPSG:{epsg}; the store keeps EPSG:4326 (reproject first)")
    names = set(pf.schema_arrow.names)
    cols = [c for c, _ in target_columns(layer) if c in names]
    yield from pf.iter_batches(batch_size=batch_size, columns=cols)


def load_layers(
    store: Store,
    folder: str | Path,
    layers: Iterable[str] | None = None,
    *,
    replace: bool = True,
    refresh: bool = True,
    batch_size: int = 250_000,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Load the GeoParquet layers of ``folder`` (e.g. a demo city) into ``store``.

    Parameters
    ----------
    store : Store
        Target store (SQLite or PostGIS).
    folder : str or Path
        Folder with ``<layer>.parquet`` files.
    layers : iterable of str, optional
        Layers to load (default every layer file found). A named layer without a file is an error.
    replace : bool
        Replace each layer's rows (default) or append. Work orders are always merged.
    refresh : bool
        Rebuild the unit tables and aggregates afterwards (default True).
    batch_size : int
        Rows per Arrow batch.
    progress : callable, optional
        Called with one line per finished step.

    Returns
    -------
    LoadReport
    """
    folder = Path(folder)
    wanted = list(layers) if layers is not None else None
    if wanted is not None:
        unknown = [n for n in wanted if n not in LAYERS]
        missing = [n for n in wanted if n in LAYERS and not (folder / f"{n}.parquet").exists()]
        if unknown or missing:
            raise ValueError(
                "; ".join(
                    ([f"unknown layer(s): {', '.join(unknown)}"] if unknown else [])
                    + ([f"no file for layer(s) {', '.join(missing)} in {folder}"] if missing else [])
                )
            )
    names = [n for n in LOAD_ORDER if (wanted is None or n in wanted) and (folder / f"{n}.parquet").exists()]
    if not names:
        raise ValueError(f"no layer files (<layer>.parquet) in {folder}")
    report = LoadReport()
    t_all = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        path = folder / f"{name}.parquet"
        report.rows[name] = store.load_arrow(
            name, _batches(path, name, batch_size), replace=replace, source=str(path)
        )
        report.seconds[name] = time.perf_counter() - t0
        if progress:
            progress(f"{name:<20} {report.rows[name]:>10,} rows {report.seconds[name]:8.1f} s")
    if refresh:
        report.refresh = store.refresh()
        if progress:
            progress("refresh " + ", ".join(f"{k} {v:.1f} s" for k, v in report.refresh.items()))
    report.total_seconds = time.perf_counter() - t_all
    return report
