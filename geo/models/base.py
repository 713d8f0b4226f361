"""Registry and shared machinery of the push models (数据赋能模型).

A model is a pure function ``(layers, as_of, params) -> warnings`` registered with :func:`register`
under an id (``ADDR-01`` …), a Chinese name, an aspect (one of :data:`ASPECTS`) and the layer columns it
reads. Its thresholds live in one settings file, ``data/models.toml`` (:func:`load_thresholds`), and can
be overridden per call.

Every model returns the same frame (:data:`WARNING_COLUMNS`):

``model_id``
    the model's id.
``grid_code``, ``district_code``
    the target grid (网格) and its 警格, taken from the ``grids`` table.
``severity``
    ``低`` / ``中`` / ``高``.
``reason``
    a specific Chinese sentence naming the record ids and figures; persons appear by ``person_id`` or
    ``poc_id`` only, never by name, ID number or phone.
``evidence_ids``
    the ids of the records behind the warning (a list).
``evidence_key``
    a stable text key, unique per model: the model id and either the subject record (one warning per
    record, e.g. an overdue hazard) or the subject and the period of ``as_of`` (a pattern that persists,
    e.g. a grid's low registration rate, is pushed once per period, ``key_period`` in the settings). A
    re-run on the same data yields the same keys, so a store keyed on ``(model_id, evidence_key)`` stays
    free of duplicates.
``deadline``
    ``as_of`` plus the days of ``deadline_days`` for the severity.
``as_of``
    the moment the model looked at: records dated after it are ignored (no look-ahead).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data import settings

__all__ = [
    "ASPECTS",
    "MODELS",
    "SEVERITIES",
    "WARNING_COLUMNS",
    "Model",
    "ModelError",
    "finish",
    "load_thresholds",
    "register",
    "to_as_of",
]

#: The five aspects (方面), three models each, in display order.
ASPECTS: tuple[str, ...] = ("标准地址", "人口管理", "关注人员", "矛盾纠纷", "风险隐患")
#: Severities from least to most urgent.
SEVERITIES: tuple[str, ...] = ("低", "中", "高")
#: Columns of every model's output, in order.
WARNING_COLUMNS: tuple[str, ...] = (
    "model_id",
    "grid_code",
    "district_code",
    "severity",
    "reason",
    "evidence_ids",
    "evidence_key",
    "deadline",
    "as_of",
)
#: The bundled settings file; ``ONEMAP_MODELS_FILE`` names another.
DEFAULT_MODELS_FILE = Path(__file__).resolve().parents[2] / "data" / "models.toml"

ModelFunc = Callable[[Mapping[str, pd.DataFrame], pd.Timestamp, dict[str, Any]], pd.DataFrame]


class ModelError(ValueError):
    """A model cannot run: bad settings, unknown model id or parameter, missing layers or columns."""


@dataclass(frozen=True)
class Model:
    """One push model (数据赋能模型) of the registry.

    Attributes
    ----------
    model_id : str
        Id such as ``ADDR-01``.
    name : str
        Chinese name shown to users.
    aspect : str
        One of :data:`ASPECTS`.
    reads : Mapping[str, tuple[str, ...]]
        Layer name → columns the model reads (``geometry`` included where needed).
    func : callable
        The pure function ``(layers, as_of, params) -> warnings``.
    history : Mapping[str, Callable[[dict], int]]
        Layer name → days of history before ``as_of`` the model needs, from its parameters (layers not
        named are needed in full); lets a loader skip older rows.
    """

    model_id: str
    name: str
    aspect: str
    reads: Mapping[str, tuple[str, ...]]
    func: ModelFunc
    history: Mapping[str, Callable[[dict[str, Any]], int]] = field(default_factory=dict)

    @property
    def doc(self) -> str:
        """The model function's docstring: what it detects and why an officer should care."""
        return (self.func.__doc__ or "").strip()

    @property
    def summary(self) -> str:
        """First line of :attr:`doc`."""
        return self.doc.splitlines()[0] if self.doc else ""

    def params(self, overrides: Mapping[str, Any] | None = None, path: str | Path | None = None) -> dict:
        """Thresholds of this model: the settings file's values, then ``overrides``.

        Parameters
        ----------
        overrides : Mapping, optional
            Values replacing those of the settings file; a table value (``deadline_days`` …) is merged
            key by key.
        path : str or Path, optional
            Settings file (default :func:`models_file`).

        Returns
        -------
        dict

        Raises
        ------
        ModelError
            When an override names a parameter the model does not have.
        """
        base = load_thresholds(path)[self.model_id]
        out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
        unknown = sorted(set(overrides or {}) - set(out))
        if unknown:
            raise ModelError(
                f"{self.model_id}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(out))}"
            )
        for k, v in (overrides or {}).items():
            out[k] = {**out[k], **v} if isinstance(out[k], dict) and isinstance(v, Mapping) else v
        return out

    def history_days(self, params: Mapping[str, Any]) -> dict[str, int]:
        """Layer name → days of history needed with ``params`` (see :attr:`history`)."""
        return {name: int(f(dict(params))) for name, f in self.history.items()}

    def run(
        self,
        layers: Mapping[str, pd.DataFrame],
        as_of: Any,
        params: Mapping[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Check the layers, merge ``params`` over the settings and call the model.

        Parameters
        ----------
        layers : Mapping[str, DataFrame]
            Layer name → frame with at least the columns of :attr:`reads`.
        as_of : str or Timestamp
            Moment of the run (:func:`to_as_of`: a bare date means the end of that day).
        params : Mapping, optional
            Overrides of the settings file's thresholds.

        Returns
        -------
        DataFrame
            Warnings with :data:`WARNING_COLUMNS`.
        """
        check_layers(layers, {self.model_id: self.reads})
        return self.func(layers, to_as_of(as_of), self.params(params))


#: The registry: model id → :class:`Model`, in registration order (aspect by aspect).
MODELS: dict[str, Model] = {}


def register(
    model_id: str,
    name: str,
    aspect: str,
    reads: Mapping[str, Iterable[str]],
    history: Mapping[str, Callable[[dict[str, Any]], int]] | None = None,
) -> Callable[[ModelFunc], ModelFunc]:
    """Decorator adding a model function to :data:`MODELS` (the function itself is returned unchanged).

    Parameters
    ----------
    model_id, name, aspect : str
        See :class:`Model`; ``aspect`` must be one of :data:`ASPECTS` and ``model_id`` new.
    reads : Mapping[str, Iterable[str]]
        Layer name → columns read.
    history : Mapping, optional
        Layer name → function of the parameters giving the days of history needed.

    Returns
    -------
    callable
    """
    if aspect not in ASPECTS:
        raise ModelError(f"{model_id}: unknown aspect {aspect!r}; choose one of {', '.join(ASPECTS)}")

    def wrap(func: ModelFunc) -> ModelFunc:
        if model_id in MODELS and MODELS[model_id].func is not func:
            raise ModelError(f"model id {model_id} registered twice")
        cols = {layer: tuple(c) for layer, c in reads.items()}
        cols.setdefault("grids", ("grid_code", "district_code"))
        MODELS[model_id] = Model(model_id, name, aspect, cols, func, dict(history or {}))
        return func

    return wrap


def check_layers(
    layers: Mapping[str, pd.DataFrame], reads: Mapping[str, Mapping[str, Iterable[str]]]
) -> None:
    """Raise one :class:`ModelError` listing every missing layer and column of the given models."""
    problems = []
    for model_id, need in reads.items():
        for name, cols in need.items():
            if name not in layers:
                problems.append(f"{model_id}: layer {name!r} missing")
                continue
            missing = [c for c in cols if c not in layers[name].columns]
            if missing:
                problems.append(f"{model_id}: layer {name!r} lacks column(s) {', '.join(missing)}")
    if problems:
        raise ModelError("; ".join(dict.fromkeys(problems)))


# --------------------------------------------------------------------------------------------------
# settings


def models_file(path: str | Path | None = None) -> Path:
    """The thresholds file: ``path``, else ``$ONEMAP_MODELS_FILE``, else the bundled ``data/models.toml``."""
    return Path(path or settings.MODELS_FILE or DEFAULT_MODELS_FILE)


_SETTINGS_CACHE: dict[tuple[str, float], dict[str, dict[str, Any]]] = {}


def load_thresholds(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every model's thresholds from the settings file, with the ``[defaults]`` table merged in.

    Parameters
    ----------
    path : str or Path, optional
        TOML file (default :func:`models_file`). Its ``[defaults]`` table (``deadline_days`` by
        severity, ``key_period``) applies to every model unless the model's own table overrides it.

    Returns
    -------
    dict
        Model id → parameters. Read once per file and modification time.

    Raises
    ------
    ModelError
        Listing every problem at once: unreadable file, a registered model without a table, a table for
        an unknown model, a ``deadline_days`` without all three severities, and (for a file other than
        the bundled one) a key the bundled file does not have or a key it lacks.
    """
    file = models_file(path)
    try:
        stamp = file.stat().st_mtime
    except OSError as exc:
        raise ModelError(f"{file}: thresholds file not readable ({exc})") from exc
    cached = _SETTINGS_CACHE.get((str(file), stamp))
    if cached is not None:
        return cached
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"{file}: not a readable TOML file ({exc})") from exc
    defaults = raw.pop("defaults", {})
    problems = [f"no table [{m}]" for m in MODELS if m not in raw]
    problems += [f"table [{m}] names no registered model" for m in raw if m not in MODELS]
    out: dict[str, dict[str, Any]] = {}
    for model_id, table in raw.items():
        merged = {**defaults, **table}
        merged["deadline_days"] = {**defaults.get("deadline_days", {}), **table.get("deadline_days", {})}
        lacking = [s for s in SEVERITIES if s not in merged["deadline_days"]]
        if lacking:
            problems.append(f"[{model_id}] deadline_days lacks {', '.join(lacking)}")
        out[model_id] = merged
    if file.resolve() != DEFAULT_MODELS_FILE.resolve():
        bundled = load_thresholds(DEFAULT_MODELS_FILE)
        for model_id in set(out) & set(bundled):
            unknown = sorted(set(out[model_id]) - set(bundled[model_id]))
            lacking = sorted(set(bundled[model_id]) - set(out[model_id]))
            if unknown:
                problems.append(f"[{model_id}] unknown key(s) {', '.join(unknown)}")
            if lacking:
                problems.append(f"[{model_id}] lacks key(s) {', '.join(lacking)}")
    if problems:
        raise ModelError(f"{file}: " + "; ".join(problems))
    _SETTINGS_CACHE[(str(file), stamp)] = out
    return out


# --------------------------------------------------------------------------------------------------
# helpers shared by the models


def to_as_of(value: Any) -> pd.Timestamp:
    """The run's moment as a naive timestamp; a bare date (``"2026-10-31"``) means the end of that day.

    Parameters
    ----------
    value : str, date, datetime or Timestamp
        A time zone-aware value is converted to China time (Asia/Shanghai) and made naive, as the
        layers store naive local times.

    Returns
    -------
    Timestamp
    """
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("Asia/Shanghai").tz_localize(None)
    bare_date = (isinstance(value, str) and len(value.strip()) <= 10) or (
        isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    )
    if bare_date:
        ts = ts.normalize() + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    return ts


def upto(frame: pd.DataFrame, col: str, as_of: pd.Timestamp, days: float | None = None) -> pd.DataFrame:
    """Rows with ``col`` in ``(as_of - days, as_of]`` (``days`` None: all rows up to ``as_of``)."""
    t = pd.to_datetime(frame[col])
    keep = t <= as_of
    if days is not None:
        keep &= t > as_of - pd.Timedelta(days=days)
    return frame[keep.to_numpy()]


def as_bool(values: pd.Series) -> pd.Series:
    """A boolean column with missing values read as False."""
    return values.astype("boolean").fillna(False).astype(bool)


def member(values: Any, pool: Any) -> np.ndarray:
    """Boolean array: is each of ``values`` in ``pool``? Missing values are never members.

    ``Series.isin`` on pandas' Arrow-backed strings converts the pool one scalar at a time: 200 K ids
    against the full demo's 1 M addresses take 10.9 s, against 0.3 s with ``pyarrow.compute.is_in``
    (``bench/bench_models.py``). A categorical ``values`` is matched on its categories only.
    """
    v = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    if isinstance(v.dtype, pd.CategoricalDtype):
        hit = member(pd.Series(v.cat.categories), pool)
        codes = v.cat.codes.to_numpy()
        return np.where(codes >= 0, hit[np.maximum(codes, 0)], False)
    arr = pa.array(v.astype("str")).cast(pa.large_string())
    p = (
        pd.Series(pool)
        if isinstance(pool, pd.Series | pd.Index)
        else pd.Series(np.asarray(pool, dtype=object))
    )
    pool_arr = pa.array(p.astype("str").dropna()).cast(pa.large_string())
    return np.asarray(pc.is_in(arr, value_set=pool_arr).fill_null(False).to_numpy(zero_copy_only=False), bool)


def explode_ids(frame: pd.DataFrame, col: str = "person_ids") -> pd.DataFrame:
    """One row per id of a ``';'``-joined id column (stripped; empty ids dropped), as column ``id``."""
    ids = frame[col].astype("str").str.split(";")
    out = frame.assign(id=ids).explode("id")
    out["id"] = out["id"].astype("str").str.strip()
    return out[out["id"].notna() & (out["id"] != "") & (out["id"] != "nan")]


def grade(values: Any, medium: float, high: float) -> np.ndarray:
    """Severity by thresholds: ``高`` at or above ``high``, ``中`` at or above ``medium``, else ``低``."""
    v = np.asarray(values, dtype=float)
    return np.select([v >= high, v >= medium], ["高", "中"], "低").astype(object)


def raise_one(severity: Any, mask: Any) -> np.ndarray:
    """Severity one step more urgent where ``mask`` (``高`` stays ``高``)."""
    s = np.asarray(severity, dtype=object)
    up = {"低": "中", "中": "高", "高": "高"}
    return np.where(np.asarray(mask, dtype=bool), pd.Series(s).map(up).to_numpy(), s).astype(object)


def period_of(as_of: pd.Timestamp, params: Mapping[str, Any]) -> str:
    """Label of the period of ``as_of`` for subject keys (``key_period``: ``D``, ``W`` or ``M``)."""
    return str(as_of.to_period(str(params.get("key_period", "M"))))


def id_sample(ids: pd.Series, limit: int = 5) -> pd.Series:
    """``'P1、P2、P3 等 12 条'``-style text of each list of ids (first ``limit`` ids)."""
    n = ids.map(len)
    head = ids.map(lambda v: "、".join(map(str, v[:limit])))
    return head.where(n <= limit, head + " 等 " + n.astype(str) + " 条")


def collect(frame: pd.DataFrame, by: str | list[str], id_col: str) -> pd.Series:
    """Sorted list of the ``id_col`` values per group of ``by`` (for the warnings that fire only)."""
    return frame.sort_values(id_col).groupby(by, sort=True, observed=True)[id_col].agg(list)


def fmt_date(values: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` text of a date column (``未知`` where missing)."""
    return pd.to_datetime(values).dt.strftime("%Y-%m-%d").fillna("未知")


def fmt_num(values: Any, digits: int = 1) -> pd.Series:
    """Numbers as text with ``digits`` decimals."""
    return pd.Series(np.round(np.asarray(values, dtype=float), digits)).map(f"{{:.{digits}f}}".format)


#: How unlikely a result is by chance, in words a grid worker reads (p-value upper bound → phrase).
CHANCE_WORDS: tuple[tuple[float, str], ...] = (
    (0.001, "偶然出现的可能不足千分之一"),
    (0.01, "偶然出现的可能不足百分之一"),
    (0.05, "偶然出现的可能不足二十分之一"),
)


def chance_text(p: Any) -> pd.Series:
    """A test's p-values as plain Chinese (``偶然出现的可能不足千分之一``), never ``p=2.7e-08``: an order's
    reason is read by the person who must act on it; the number itself stays in the model's evidence."""
    values = pd.Series(np.asarray(p, dtype=float))

    def words(v: float) -> str:
        return next((w for bound, w in CHANCE_WORDS if v < bound), "可能属于偶然波动")

    return values.map(words)


def empty_warnings() -> pd.DataFrame:
    """A warnings frame with no rows and the right columns."""
    return pd.DataFrame(
        {
            "model_id": pd.Series(dtype="str"),
            "grid_code": pd.Series(dtype="str"),
            "district_code": pd.Series(dtype="str"),
            "severity": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
            "evidence_ids": pd.Series(dtype=object),
            "evidence_key": pd.Series(dtype="str"),
            "deadline": pd.Series(dtype="datetime64[ns]"),
            "as_of": pd.Series(dtype="datetime64[ns]"),
        }
    )


def district_of(layers: Mapping[str, pd.DataFrame]) -> pd.Series:
    """Grid code → 警格 code, from the ``grids`` table (or the ``grid_district`` binding if absent)."""
    for name in ("grids", "grid_district"):
        frame = layers.get(name)
        if frame is not None and "district_code" in frame.columns:
            table = pd.DataFrame(
                {"g": frame["grid_code"].astype("str").to_numpy(), "d": frame["district_code"].to_numpy()}
            )
            table = table[table.d.notna()]
            if len(table):
                return table.drop_duplicates("g").set_index("g")["d"].astype("str")
    return pd.Series(dtype="str")


def finish(
    model_id: str,
    layers: Mapping[str, pd.DataFrame],
    as_of: pd.Timestamp,
    params: Mapping[str, Any],
    *,
    grid_code: Any,
    severity: Any,
    reason: Any,
    evidence_ids: Any,
    evidence_key: Any,
) -> pd.DataFrame:
    """Assemble a model's warnings: add the 警格, deadline and ``as_of``; order rows by key.

    Parameters
    ----------
    model_id : str
    layers : Mapping[str, DataFrame]
        The layers (for the grid → 警格 table).
    as_of : Timestamp
    params : Mapping
        The model's parameters (``deadline_days`` by severity).
    grid_code, severity, reason, evidence_ids, evidence_key : array-like
        One value per warning; ``evidence_ids`` holds lists.

    Returns
    -------
    DataFrame
        :data:`WARNING_COLUMNS`; duplicate keys are dropped (first kept).
    """
    keys = np.asarray(evidence_key, dtype=object)
    if len(keys) == 0:
        return empty_warnings()
    grid = pd.Series(np.asarray(grid_code, dtype=object)).astype("str")
    sev = pd.Series(np.asarray(severity, dtype=object)).astype("str")
    days = sev.map({k: float(v) for k, v in params["deadline_days"].items()})
    out = pd.DataFrame(
        {
            "model_id": model_id,
            "grid_code": grid,
            "district_code": grid.map(district_of(layers)).astype("str"),
            "severity": sev,
            "reason": pd.Series(np.asarray(reason, dtype=object)).astype("str"),
            "evidence_ids": pd.Series(list(evidence_ids), dtype=object).map(lambda v: [str(x) for x in v]),
            "evidence_key": pd.Series(keys).astype("str"),
            "deadline": as_of + pd.to_timedelta(days, unit="D"),
            "as_of": as_of,
        }
    )
    out["deadline"] = out["deadline"].astype("datetime64[ns]")
    out["as_of"] = out["as_of"].astype("datetime64[ns]")
    out = out.drop_duplicates("evidence_key").sort_values("evidence_key", kind="stable")
    return out.reset_index(drop=True)[list(WARNING_COLUMNS)]
