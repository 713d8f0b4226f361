"""Push models (数据赋能模型): fifteen rules, three per aspect, turning the layers into warnings (预警).

Aspects (方面): 标准地址 standard addresses (ADDR), 人口管理 population (POP), 关注人员 persons of concern
(POC), 矛盾纠纷 disputes (DISP), 风险隐患 hazards (HAZ). Each model is a pure function of the layers, the
moment ``as_of`` and its thresholds (``data/models.toml``); :mod:`geo.models.base` describes the warning
frame they all return. ``onemap models list`` / ``onemap models run`` are built on :func:`cli_list` and
:func:`cli_run`.

Example
-------
>>> from geo.models import load_layers, run_models, needed_columns
>>> layers = load_layers("/tmp/demo_tiny", columns=needed_columns())       # doctest: +SKIP
>>> warnings, counts = run_models(layers, "2026-10-31")                       # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from geo.models import address, concern, disputes, hazards, population  # noqa: F401  (registers)
from geo.models.base import (
    ASPECTS,
    MODELS,
    SEVERITIES,
    WARNING_COLUMNS,
    Model,
    ModelError,
    check_layers,
    empty_warnings,
    load_thresholds,
    models_file,
    register,
    to_as_of,
)

__all__ = [
    "ASPECTS",
    "DICTIONARY_COLUMNS",
    "MODELS",
    "SEVERITIES",
    "TIME_COLUMNS",
    "WARNING_COLUMNS",
    "Model",
    "ModelError",
    "cli_list",
    "cli_run",
    "get_models",
    "list_models",
    "load_layers",
    "load_thresholds",
    "models_file",
    "needed_columns",
    "register",
    "replay",
    "run_dir",
    "run_models",
    "to_as_of",
]

# Registry in display order: aspect by aspect, ids within an aspect.
_ordered = sorted(MODELS.values(), key=lambda m: (ASPECTS.index(m.aspect), m.model_id))
MODELS.clear()
MODELS.update((m.model_id, m) for m in _ordered)

#: Time column of each layer: rows after ``until`` (and before ``since``) are skipped when loading.
TIME_COLUMNS: dict[str, str] = {
    "incidents": "occurred_at",
    "disputes": "reported_at",
    "hazards": "found_at",
    "visits": "visited_at",
    "addresses": "created_at",
    "persons_of_concern": "listed_at",
    "patrol_points": "recorded_at",
}

#: Key columns read as categoricals (Parquet dictionary pages). Measured on the full demo's 8 M residents
#: (``bench/bench_models.py``): 65 MB instead of 448 MB for these three columns, grouping by address
#: about 3x faster, reading about 2x slower (+1.3 s); a wash in time over the four population models,
#: a saving of ~380 MB in memory.
DICTIONARY_COLUMNS: dict[str, tuple[str, ...]] = {
    "population": ("address_id", "grid_code", "resident_kind"),
}


def get_models(model_ids: Iterable[str] | None = None) -> list[Model]:
    """The models with these ids (all, in registry order, when None).

    Raises
    ------
    ModelError
        Naming every unknown id and the known ones.
    """
    if model_ids is None:
        return list(MODELS.values())
    ids = [str(m).upper() for m in model_ids]
    unknown = [m for m in ids if m not in MODELS]
    if unknown:
        raise ModelError(f"unknown model id(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    return [MODELS[m] for m in dict.fromkeys(ids)]


def list_models() -> pd.DataFrame:
    """The registry as a table: ``model_id, aspect, name, layers, summary`` (one row per model)."""
    return pd.DataFrame(
        [
            {
                "model_id": m.model_id,
                "aspect": m.aspect,
                "name": m.name,
                "layers": ",".join(k for k in m.reads if k != "grids"),
                "summary": m.summary,
            }
            for m in MODELS.values()
        ]
    )


def needed_columns(model_ids: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
    """Layer name → union of the columns the given models read (all models when None)."""
    out: dict[str, dict[str, None]] = {}
    for m in get_models(model_ids):
        for name, cols in m.reads.items():
            out.setdefault(name, {}).update(dict.fromkeys(cols))
    return {name: tuple(cols) for name, cols in out.items()}


def _history(models: list[Model], params: Mapping[str, Mapping[str, Any]] | None) -> dict[str, int | None]:
    """Layer → days of history the models need (None: all of it)."""
    out: dict[str, int | None] = {}
    for m in models:
        days = m.history_days(m.params((params or {}).get(m.model_id)))
        for name in m.reads:
            need = days.get(name)
            if name in out and (out[name] is None or need is None):
                out[name] = None
            else:
                out[name] = need if name not in out else max(out[name], need)  # type: ignore[type-var]
    return out


def load_layers(
    data_dir: str | Path,
    names: Iterable[str] | None = None,
    columns: Mapping[str, Iterable[str]] | None = None,
    since: Mapping[str, Any] | None = None,
    until: Any = None,
) -> dict[str, pd.DataFrame]:
    """Read layers from a folder of (Geo)Parquet files, only the columns and rows asked for.

    Parameters
    ----------
    data_dir : str or Path
        Folder with one ``NAME.parquet`` per layer (the demo city's layout).
    names : iterable of str, optional
        Layers to read (default: the keys of ``columns``).
    columns : Mapping, optional
        Layer → columns to read (absent columns are skipped; default: all). A layer is read with
        geopandas when ``geometry`` is among its columns, else as a plain frame without geometry.
    since : Mapping, optional
        Layer → earliest time to keep, on the layer's :data:`TIME_COLUMNS` column (pushed down to the
        Parquet reader, so older row groups are not decoded).
    until : str or Timestamp, optional
        Latest time to keep on every layer's time column (no rows after ``as_of``).

    Key columns of :data:`DICTIONARY_COLUMNS` come back as pandas categoricals.

    Returns
    -------
    dict of str to DataFrame

    Raises
    ------
    ModelError
        Listing every layer file that is missing.
    """
    import geopandas as gpd
    import pyarrow.parquet as pq

    folder = Path(data_dir)
    wanted = list(names) if names is not None else list(columns or {})
    missing = [n for n in wanted if not (folder / f"{n}.parquet").exists()]
    if missing:
        raise ModelError(f"{folder}: missing layer file(s) {', '.join(f'{n}.parquet' for n in missing)}")
    out: dict[str, pd.DataFrame] = {}
    for name in wanted:
        path = folder / f"{name}.parquet"
        have = pq.read_schema(path).names
        cols = [c for c in (columns or {}).get(name, have) if c in have] if columns else list(have)
        filters = []
        tcol = TIME_COLUMNS.get(name)
        if tcol in have:
            if since and since.get(name) is not None:
                filters.append((tcol, ">=", pd.Timestamp(since[name]).to_pydatetime()))
            if until is not None:
                filters.append((tcol, "<=", to_as_of(until).to_pydatetime()))
        kw: dict[str, Any] = {"filters": filters} if filters else {}
        dictionary = [c for c in DICTIONARY_COLUMNS.get(name, ()) if c in cols]
        if dictionary and "geometry" not in cols:
            kw["read_dictionary"] = dictionary
        if "geometry" in cols:
            out[name] = gpd.read_parquet(path, columns=cols, **kw)
        else:
            out[name] = pd.read_parquet(path, columns=[c for c in cols if c != "bbox"], **kw)
    return out


def run_models(
    layers: Mapping[str, pd.DataFrame],
    as_of: Any,
    model_ids: Iterable[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Run models on in-memory layers.

    Parameters
    ----------
    layers : Mapping[str, DataFrame]
        Layer name → frame with the columns the models read (:func:`needed_columns`).
    as_of : str or Timestamp
        Moment of the run (:func:`to_as_of`: a bare date means the end of that day).
    model_ids : iterable of str, optional
        Models to run (default: all fifteen).
    params : Mapping, optional
        Model id → threshold overrides.
    timings : dict, optional
        Filled with model id → seconds.

    Returns
    -------
    warnings : DataFrame
        :data:`WARNING_COLUMNS`, models in registry order.
    counts : dict of str to int
        Model id → number of warnings (zero included).

    Raises
    ------
    ModelError
        For an unknown model id or parameter, or missing layers/columns (all listed at once).
    """
    models = get_models(model_ids)
    check_layers(layers, {m.model_id: m.reads for m in models})
    when = to_as_of(as_of)
    frames, counts = [], {}
    for m in models:
        t0 = time.perf_counter()
        w = m.run(layers, when, (params or {}).get(m.model_id))
        if timings is not None:
            timings[m.model_id] = time.perf_counter() - t0
        counts[m.model_id] = len(w)
        if len(w):
            frames.append(w)
    warnings = pd.concat(frames, ignore_index=True) if frames else empty_warnings()
    return warnings, counts


def default_as_of(data_dir: str | Path) -> pd.Timestamp:
    """End of the demo city's last day (``until`` in ``manifest.json``), else the end of today; never later
    than now (the product's clock, :func:`data.clock.now`): a run does not look past the present."""
    from data import clock

    now = pd.Timestamp(clock.now())
    manifest = Path(data_dir) / "manifest.json"
    if manifest.exists():
        until = json.loads(manifest.read_text(encoding="utf-8")).get("until")
        if until:
            return min(to_as_of(str(until)[:10]), now)
    return now


def run_dir(
    data_dir: str | Path,
    as_of: Any = None,
    model_ids: Iterable[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Load what the models need from a layer folder and run them (see :func:`run_models`).

    Only the columns the models read are loaded, and event layers only over the history they need
    (:attr:`Model.history`) up to ``as_of`` (default :func:`default_as_of`). ``timings`` also receives
    ``load`` (seconds spent reading).
    """
    when = to_as_of(as_of) if as_of is not None else default_as_of(data_dir)
    models = get_models(model_ids)
    ids = [m.model_id for m in models]
    t0 = time.perf_counter()
    hist = _history(models, params)
    since = {name: when - pd.Timedelta(days=d) for name, d in hist.items() if d is not None}
    layers = load_layers(data_dir, columns=needed_columns(ids), since=since, until=when)
    if timings is not None:
        timings["load"] = time.perf_counter() - t0
    return run_models(layers, when, ids, params, timings)


def replay(
    data_dir: str | Path,
    moments: Iterable[Any],
    model_ids: Iterable[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[tuple[pd.Timestamp, pd.DataFrame, dict[str, int]]]:
    """Run the models at each of ``moments`` (a recorded history replayed, 历史回放), reading the layers once.

    Each run sees exactly the rows :func:`run_dir` would read for its moment (the history each model needs,
    nothing after the moment), cut from one read of the whole span instead of a read per moment.

    Yields
    ------
    (Timestamp, DataFrame, dict)
        The moment, its warnings and counts (as :func:`run_models`), in the order given.
    """
    whens = [to_as_of(m) for m in moments]
    if not whens:
        return
    models = get_models(model_ids)
    ids = [m.model_id for m in models]
    hist = _history(models, params)
    first, last = min(whens), max(whens)
    since = {name: first - pd.Timedelta(days=d) for name, d in hist.items() if d is not None}
    layers = load_layers(data_dir, columns=needed_columns(ids), since=since, until=last)
    for when in whens:
        view = {}
        for name, frame in layers.items():
            tcol = TIME_COLUMNS.get(name)
            if tcol in frame.columns:
                t = frame[tcol]
                keep = t <= when
                if hist.get(name) is not None:
                    keep &= t >= when - pd.Timedelta(days=hist[name])
                frame = frame[keep.to_numpy()].reset_index(drop=True)
            view[name] = frame
        warnings, counts = run_models(view, when, ids, params)
        yield when, warnings, counts


def cli_list() -> list[str]:
    """Lines for ``onemap models list``: id, aspect and Chinese name of each model."""
    return [f"{m.model_id:<8} {m.aspect}  {m.name}" for m in MODELS.values()]


def cli_run(
    data_dir: str | Path, as_of: Any = None, ids: Iterable[str] | None = None, result: dict | None = None
) -> list[str]:
    """Lines for ``onemap models run``: the moment, one line per model with its count, the total.

    Parameters
    ----------
    data_dir : str or Path
        Folder of layers.
    as_of : str or Timestamp, optional
        Default :func:`default_as_of`.
    ids : iterable of str, optional
        Model ids (empty or None: all).
    result : dict, optional
        Receives ``warnings`` (the frame), ``counts`` and ``as_of`` (the run's moment).
    """
    when = to_as_of(as_of) if as_of is not None else default_as_of(data_dir)
    timings: dict[str, float] = {}
    warnings, counts = run_dir(data_dir, when, list(ids) if ids else None, timings=timings)
    if result is not None:
        result.update(warnings=warnings, counts=counts, as_of=when)
    lines = [f"as_of {when:%Y-%m-%d %H:%M:%S}  data {data_dir}"]
    for mid, n in counts.items():
        m = MODELS[mid]
        lines.append(f"{mid:<8} {m.aspect}  {m.name:<16} {n:>7}  ({timings[mid]:.2f} s)")
    lines.append(f"total    {len(warnings)} warnings from {len(counts)} models")
    return lines
