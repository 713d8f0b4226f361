"""Hotspot statistics (热点统计) an analyst can defend.

Every statistic is one function that returns a :class:`pandas.DataFrame` (with a small summary in
``DataFrame.attrs``), in the spirit of PySAL ``esda``: construct from data and spatial weights, read the
results as columns. The spatial statistics are computed by ``esda`` itself (``G_Local``,
``Moran_Local``) on ``libpysal`` weights; this module adds the bookkeeping an analyst needs around
them: aligning values to weights, islands, two-sided p-values, the false discovery rate (FDR, 错误发现率)
correction, ArcGIS-style confidence bins and the Chinese labels shown on the map.

Contents
--------
* weights (空间权重): :func:`contiguity_weights` (grid polygons, Queen/Rook), :func:`h3_weights`
  (H3 hexagons, neighbours from ``h3.grid_disk``);
* local statistics: :func:`getis_ord` (Getis–Ord Gi*, 冷热点分析), :func:`local_moran` (局部莫兰 LISA);
* space–time (时空热点): :func:`space_time_counts`, :func:`mann_kendall`, :func:`classify_emerging`,
  :func:`emerging_hotspots` (the eight patterns of ArcGIS Pro's Emerging Hot Spot Analysis);
* repeats (重复警情): :func:`repeat_incidents` (same address), :func:`near_repeat_pairs` and
  :func:`near_repeat` (近重复, Knox test);
* concentration (集中度): :func:`pareto_concentration` (80/20, Gini).

p-values, FDR and the confidence bins
-------------------------------------
``esda`` reports *folded* one-sided p-values: ``p_sim = (m + 1) / (permutations + 1)`` where ``m`` is
the number of permuted statistics at least as extreme as the observed one *in the tail the observed
value lies in*, and ``p_norm = norm.sf(|z|)``. The alternative hypothesis of a hot-or-cold-spot test is
two-sided, so the p-value used for classification here is ``p_value = min(1, 2 * p)`` (the conventional
two-sided p-value, the one ArcGIS uses for its 90/95/99 % bins; esda itself warns that its default
will become two-sided, "which will generally double the p-value returned", and a test fails if that
default changes under this module). By default ``p`` is the permutation
pseudo p-value ``p_sim`` (conditional randomisation, no normality assumption); with ``permutations=0``
it is ``p_norm``. The raw esda values are kept in the output (``gi_p_sim``/``p_sim``, ``p_norm``) so
that they can be checked against esda directly.

The two p-values answer different questions, which matters with the heavy-tailed counts of police
data. Conditional randomisation holds a unit's own value fixed and shuffles its neighbours, so
``p_sim`` asks "are the neighbours of this unit unusually high (low)?": a single extreme grid among
ordinary neighbours is not a hot spot. The analytic z counts the unit's own value in its Gi* sum, so
such a grid gets a large z and a tiny ``p_norm``. On the demo cities the permutation test with FDR
finds no hot spot while the normal approximation marks 211 of 13,666 grids, mostly lone extreme ones.

With ``fdr=True`` the Benjamini–Hochberg procedure is applied to the two-sided p-values of the
testable units: ``p_fdr`` is the BH-adjusted p-value (q-value), and a unit is significant at level
``a`` when ``p_fdr <= a``, which is exactly "rejected by BH at level ``a``" (the same decision as
``p < esda.fdr(p, a)``, up to ties at the threshold). The confidence bins follow ArcGIS' ``Gi_Bin``
with FDR: BH is run at each of the three levels separately, so bin ±3 means ``p_fdr <= 0.01``, ±2
``p_fdr <= 0.05`` and ±1 ``p_fdr <= 0.10``, the sign being the sign of the z-score. Note the floor
of permutation p-values: with 999 permutations the smallest two-sided pseudo p-value is 0.002, and
BH at 0.01 over ``n`` units then needs at least ``n / 5`` units at that floor before any unit can reach
the 99 % bin; use more permutations (9 999) for large maps when the 99 % bin matters.

Islands (孤岛)
--------------
A unit with no neighbour is kept in the weights with zero weights, and its value stays in the data (it
is part of the study area, so it counts in the global mean and variance the other units are compared
with), but its local statistic is not a test of anything: it is reported with NaN statistics,
``testable=False``, ``gi_bin=0`` and the class ``不可检验`` (not testable), and it is left out of the
FDR family.

Cost (bench/bench_hotspots.py, this 2-core machine under load, esda 2.9 without numba)
-------------------------------------------------------------------------------------
Gi* with 999 permutations: 0.04 s on 210 grids, 0.19 s on 1,368, 2.4 s on 13,666 (about linear);
local Moran about the same; Queen weights of the 13,666 demo grids 3.9 s (built once, reused).
numba is deliberately not required: with numba installed esda compiles its kernels on the first call
of every process (22-39 s measured here) and was no faster afterwards on 13,666 units (1.4 s vs 1.1 s).
Emerging hot spots cost one Gi* per time bin: 69 s for 24 monthly bins of the 13,666 grids (use
``permutations=0`` for a quick analytic preview).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Literal

import esda
import geopandas as gpd
import h3
import libpysal
import numpy as np
import pandas as pd
from libpysal.weights import W
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.spatial import cKDTree

from geo.crs import projected_crs_for, transformer

__all__ = [
    "EMERGING_PATTERNS",
    "GI_CLASSES",
    "MORAN_CLUSTERS",
    "NOT_TESTABLE",
    "bh_adjust",
    "classify_emerging",
    "contiguity_weights",
    "emerging_hotspots",
    "getis_ord",
    "h3_hotspots",
    "h3_weights",
    "local_moran",
    "mann_kendall",
    "near_repeat",
    "near_repeat_pairs",
    "pareto_concentration",
    "repeat_incidents",
    "space_time_counts",
]

#: Default permutations of Gi* and local Moran: with FDR over thousands of units, 999 permutations leave
#: a p floor (0.002) that no unit can pass unless hundreds sit at it; 9,999 lowers it to 0.0002.
DEFAULT_PERMUTATIONS = 9999

#: Gi* confidence bin (ArcGIS ``Gi_Bin``) -> class label (热点/冷点 at 99/95/90 % confidence).
GI_CLASSES: dict[int, str] = {
    3: "热点99",
    2: "热点95",
    1: "热点90",
    0: "不显著",
    -1: "冷点90",
    -2: "冷点95",
    -3: "冷点99",
}
#: Label of a unit whose local statistic cannot be tested (an island: no neighbour).
NOT_TESTABLE = "不可检验"
#: esda ``Moran_Local.q`` quadrant -> (quadrant code, cluster label).
MORAN_CLUSTERS: dict[int, tuple[str, str]] = {
    1: ("HH", "高高"),
    2: ("LH", "低高"),
    3: ("LL", "低低"),
    4: ("HL", "高低"),
}
#: Emerging hot spot patterns: English name (ArcGIS Pro) -> Chinese label.
EMERGING_PATTERNS: dict[str, str] = {
    "new hot spot": "新增热点",
    "consecutive hot spot": "连续热点",
    "intensifying hot spot": "加剧热点",
    "persistent hot spot": "持续热点",
    "diminishing hot spot": "减弱热点",
    "sporadic hot spot": "零星热点",
    "oscillating hot spot": "振荡热点",
    "historical hot spot": "历史热点",
    "new cold spot": "新增冷点",
    "consecutive cold spot": "连续冷点",
    "intensifying cold spot": "加剧冷点",
    "persistent cold spot": "持续冷点",
    "diminishing cold spot": "减弱冷点",
    "sporadic cold spot": "零星冷点",
    "oscillating cold spot": "振荡冷点",
    "historical cold spot": "历史冷点",
    "no pattern detected": "无模式",
    "not testable": NOT_TESTABLE,
}
_BIN_LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))
_DAY_NS = 86_400 * 10**9


# --------------------------------------------------------------------------------------------------
# Weights (空间权重)
# --------------------------------------------------------------------------------------------------


def contiguity_weights(
    polygons_gdf: gpd.GeoDataFrame,
    kind: Literal["queen", "rook"] = "queen",
    id_col: str | None = "grid_code",
) -> W:
    """Contiguity weights (邻接权重) of grid polygons, with unit codes as ids.

    Parameters
    ----------
    polygons_gdf : geopandas.GeoDataFrame
        Polygons or multipolygons (grids 网格, 警格, admin units), one row per unit.
    kind : {"queen", "rook"}
        ``"queen"``: units sharing at least one vertex are neighbours; ``"rook"``: an edge.
    id_col : str or None
        Column holding the unit code (default ``grid_code``); when it is None or absent the index is
        used. Codes must be unique.

    Returns
    -------
    libpysal.weights.W
        Binary weights whose ids (``w.id_order``) are the unit codes as strings, in the frame's order.
        Units without any neighbour (islands 孤岛) are kept with zero weights and are listed in
        ``w.islands``; the statistics of this module report them as not testable.

    Raises
    ------
    ValueError
        If ``kind`` is unknown or the codes are not unique.
    """
    builders = {"queen": libpysal.weights.Queen, "rook": libpysal.weights.Rook}
    if kind not in builders:
        raise ValueError(f"contiguity_weights: kind must be 'queen' or 'rook', not {kind!r}")
    if id_col is not None and id_col in polygons_gdf.columns:
        codes = polygons_gdf[id_col].astype(str)
    else:
        codes = pd.Series(polygons_gdf.index.astype(str), index=polygons_gdf.index)
    if codes.duplicated().any():
        dup = codes[codes.duplicated()].iloc[:5].tolist()
        raise ValueError(f"contiguity_weights: unit codes are not unique, e.g. {dup}")
    return builders[kind].from_dataframe(
        polygons_gdf, ids=codes.tolist(), use_index=False, silence_warnings=True
    )


def h3_weights(h3_cells: Iterable[str], k: int = 1) -> W:
    """Binary weights of H3 hexagons (六边形) from the H3 grid itself, not from geometry.

    Parameters
    ----------
    h3_cells : iterable of str
        H3 cell indexes, all of one resolution; duplicates are dropped (first occurrence kept).
    k : int
        Neighbourhood radius in grid steps: the neighbours of a cell are the cells of
        ``h3.grid_disk(cell, k)`` other than itself that are among ``h3_cells`` (k=1: the 6 adjacent
        hexagons, 5 around a pentagon).

    Returns
    -------
    libpysal.weights.W
        Symmetric binary weights with ids = the cells in input order. Cells with no neighbour among
        ``h3_cells`` are islands (``w.islands``).

    Raises
    ------
    ValueError
        If ``k < 1``, a cell is not a valid H3 index, or resolutions differ.
    """
    if k < 1:
        raise ValueError(f"h3_weights: k must be >= 1, not {k}")
    cells = list(dict.fromkeys(str(c) for c in h3_cells))
    bad = [c for c in cells if not h3.is_valid_cell(c)]
    if bad:
        raise ValueError(f"h3_weights: {len(bad)} invalid H3 cells, e.g. {bad[:3]}")
    resolutions = {h3.get_resolution(c) for c in cells}
    if len(resolutions) > 1:
        raise ValueError(f"h3_weights: cells of several resolutions {sorted(resolutions)}")
    present = set(cells)
    # h3-py has no vectorised grid_disk; one C call per cell (a few microseconds each).
    neighbors = {c: [n for n in h3.grid_disk(c, k) if n != c and n in present] for c in cells}
    return W(neighbors, id_order=cells, silence_warnings=True)


# --------------------------------------------------------------------------------------------------
# p-values
# --------------------------------------------------------------------------------------------------


def bh_adjust(pvalues: ArrayLike) -> NDArray[np.float64]:
    """Benjamini–Hochberg adjusted p-values (q-values); NaN stays NaN and is not counted.

    Parameters
    ----------
    pvalues : array_like
        p-values of one family of tests.

    Returns
    -------
    numpy.ndarray
        ``q_(i) = min_{j >= i} (m p_(j) / j)`` capped at 1, in the input order, where ``m`` is the number
        of finite p-values. ``q <= a`` exactly when BH at false discovery rate ``a`` rejects the test.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    pv = p[ok]
    order = np.argsort(pv, kind="mergesort")
    ranked = pv[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(q, 1.0)
    out[ok] = adjusted
    return out


def _two_sided(p_one_sided: NDArray[np.float64], permutations: int = 0) -> NDArray[np.float64]:
    """Two-sided p-value; pseudo p-values are snapped back to ``(k + 1) / (permutations + 1)``.

    esda returns ``p_sim`` in float32 for some statistics: ``0.025`` comes back as ``0.0250000004``,
    which doubled would miss the 0.05 level. The exact fraction is recovered before doubling.
    """
    p = np.asarray(p_one_sided, dtype=float)
    if permutations:
        p = np.round(p * (permutations + 1)) / (permutations + 1)
    return np.minimum(1.0, 2.0 * p)


def _decision_p(p_value: NDArray[np.float64], testable: NDArray[np.bool_], fdr: bool) -> NDArray:
    """The p-value compared with the levels: BH-adjusted over the testable units, or raw."""
    p = np.where(testable, p_value, np.nan)
    return bh_adjust(p) if fdr else p


def _gi_bins(z: NDArray[np.float64], p_decision: NDArray[np.float64]) -> NDArray[np.int8]:
    level = np.zeros(len(z), dtype=np.int8)
    pd_ = np.where(np.isfinite(p_decision), p_decision, np.inf)
    for value, a in reversed(_BIN_LEVELS):  # 90 % first, overwritten by 95 % and 99 %
        level[pd_ <= a] = value
    return (level * np.sign(np.nan_to_num(z))).astype(np.int8)


def _resolve_p_source(p_source: str | None, permutations: int) -> str:
    source = p_source or ("sim" if permutations else "norm")
    if source not in ("sim", "norm"):
        raise ValueError(f"p_source must be 'sim' or 'norm', not {source!r}")
    if source == "sim" and not permutations:
        raise ValueError("p_source='sim' needs permutations > 0")
    return source


# --------------------------------------------------------------------------------------------------
# Local statistics
# --------------------------------------------------------------------------------------------------


def _aligned(values: pd.Series, w: W, who: str) -> NDArray[np.float64]:
    """Values in ``w.id_order``; every weights id must have exactly one finite value."""
    if values.index.has_duplicates:
        raise ValueError(f"{who}: values has duplicate index labels")
    ids = pd.Index(w.id_order).astype(str)
    index = values.index.astype(str)
    missing = ids.difference(index)
    extra = index.difference(ids)
    if len(missing) or len(extra):
        raise ValueError(
            f"{who}: values and weights disagree: {len(missing)} weights ids without a value "
            f"(e.g. {list(missing[:3])}), {len(extra)} values outside the weights (e.g. {list(extra[:3])})"
        )
    y = pd.Series(values.to_numpy(dtype=float, na_value=np.nan), index=index).reindex(ids).to_numpy()
    if not np.isfinite(y).all():
        raise ValueError(f"{who}: values contain NaN or infinite entries")
    return y


def _testable(w: W) -> NDArray[np.bool_]:
    islands = set(w.islands)
    return np.array([i not in islands for i in w.id_order], dtype=bool)


def _star_weights(w: W) -> W:
    """``w`` with a self-weight of 1 (the Gi* neighbourhood), built once and reused across calls."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "not fully connected" is reported by w itself
        return libpysal.weights.fill_diagonal(w, 1.0)


def _gi_star(
    y: NDArray[np.float64], w_star: W, permutations: int, seed: int | None
) -> tuple[NDArray, NDArray, NDArray]:
    """Gi* z-scores and esda's one-sided p_sim and p_norm; a constant ``y`` gives z=0, p=1."""
    n = len(y)
    if np.ptp(y) == 0:
        return np.zeros(n), np.ones(n), np.full(n, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # esda warns that its default alternative will become two-sided; this module doubles the
        # current directed p-value itself (a test guards against a silent change of default).
        warnings.simplefilter("ignore", DeprecationWarning)
        g = esda.G_Local(
            y,
            w_star,
            transform="B",
            permutations=permutations,
            star=True,
            keep_simulations=False,
            n_jobs=1,
            seed=seed,
        )
    p_sim = np.asarray(g.p_sim, dtype=float) if permutations else np.full(n, np.nan)
    return np.asarray(g.Zs, dtype=float), p_sim, np.asarray(g.p_norm, dtype=float)


def getis_ord(
    values: pd.Series,
    w: W,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int | None = 0,
    alpha: float = 0.05,
    fdr: bool = True,
    p_source: Literal["sim", "norm"] | None = None,
) -> pd.DataFrame:
    """Getis–Ord Gi* hot and cold spots (冷热点分析) with ArcGIS-style confidence bins.

    Runs ``esda.G_Local(y, w, transform="B", star=True, permutations=..., seed=...)``: binary weights
    with each unit in its own neighbourhood, as ArcGIS' Hot Spot Analysis does with contiguity weights.

    Parameters
    ----------
    values : pandas.Series
        One value per unit (e.g. incident counts per grid), indexed by the unit codes of ``w``. Every
        weights id needs a finite value (reindex counts with ``fill_value=0`` first).
    w : libpysal.weights.W
        Binary spatial weights, e.g. from :func:`contiguity_weights` or :func:`h3_weights`. Not modified.
    permutations : int
        Conditional randomisation permutations for the pseudo p-value (0: analytic p only).
    seed : int or None
        Seed passed to esda (its numba kernels seed their own generator; the global RNG is not used).
    alpha : float
        Level of the ``significant`` column.
    fdr : bool
        Benjamini–Hochberg correction over the testable units (see the module notes).
    p_source : {"sim", "norm"} or None
        p-value behind the decision: permutation ``p_sim`` (default when ``permutations > 0``) or the
        normal approximation ``p_norm``.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``values``: ``gi_z`` (esda ``Zs``), ``gi_p_sim`` (esda ``p_sim``, one-sided
        folded), ``p_norm`` (esda ``p_norm``, one-sided), ``p_value`` (two-sided, from ``p_source``),
        ``p_fdr`` (BH-adjusted ``p_value``), ``gi_bin`` (-3..3), ``class`` (热点99 … 冷点99, or
        不可检验 for islands), ``significant`` (decision p <= ``alpha``), ``testable``. ``attrs``: the
        settings, ``n_hot`` / ``n_cold`` (units with a non-zero bin), ``n_significant`` and
        ``n_significant_raw`` (at ``alpha`` with and without FDR, to show what the correction removed)
        and ``p_floor`` (smallest attainable two-sided p-value, ``2 / (permutations + 1)``).
    """
    y = _aligned(values, w, "getis_ord")
    source = _resolve_p_source(p_source, permutations)
    testable = _testable(w)
    z, p_sim, p_norm = _gi_star(y, _star_weights(w), permutations, seed)
    z = np.where(testable, z, np.nan)
    p_sim = np.where(testable, p_sim, np.nan)
    p_norm = np.where(testable, p_norm, np.nan)
    p_value = _two_sided(p_sim, permutations) if source == "sim" else _two_sided(p_norm)
    p_fdr = bh_adjust(np.where(testable, p_value, np.nan))
    decision = p_fdr if fdr else p_value
    gi_bin = _gi_bins(z, decision)
    labels = np.array([GI_CLASSES[b] for b in range(-3, 4)], dtype=object)[gi_bin + 3]
    labels[~testable] = NOT_TESTABLE
    out = pd.DataFrame(
        {
            "gi_z": z,
            "gi_p_sim": p_sim,
            "p_norm": p_norm,
            "p_value": p_value,
            "p_fdr": p_fdr,
            "gi_bin": gi_bin,
            "class": labels,
            "significant": np.nan_to_num(decision, nan=np.inf) <= alpha,
            "testable": testable,
        },
        index=pd.Index(w.id_order).astype(str),
    )
    out = out.reindex(values.index.astype(str))
    out.index = values.index
    out.attrs = {
        "statistic": "Getis-Ord Gi* (esda.G_Local star=True, transform='B')",
        "permutations": permutations,
        "seed": seed,
        "alpha": alpha,
        "fdr": fdr,
        "p_source": source,
        "n_units": len(y),
        "n_islands": int((~testable).sum()),
        "n_hot": int((out["gi_bin"] > 0).sum()),
        "n_cold": int((out["gi_bin"] < 0).sum()),
        "n_significant": int(out["significant"].sum()),
        "n_significant_raw": int((np.nan_to_num(p_value, nan=np.inf) <= alpha).sum()),
        "p_floor": 2.0 / (permutations + 1) if source == "sim" else 0.0,
    }
    _warn_if_floor_limited(out.attrs)
    return out


def h3_hotspots(
    points: gpd.GeoDataFrame | pd.DataFrame | None,
    area: Iterable,
    resolution: int = 8,
    *,
    counts: pd.DataFrame | None = None,
    permutations: int = 0,
    seed: int | None = 0,
    alpha: float = 0.05,
    fdr: bool = True,
) -> pd.DataFrame:
    """Gi* hot and cold spots of point counts on the H3 cells of an area (H3 冷热点), empty cells included.

    A hot spot is a cell whose neighbourhood holds more points than the area's cells on average; a test
    over only the cells that have points would compare busy cells with each other and miss that
    contrast, so every cell whose centre lies in ``area`` takes part, with 0 where nothing happened
    (cells of points outside ``area`` are added too).

    Parameters
    ----------
    points : GeoDataFrame or DataFrame, or None
        Events (lon/lat); None when ``counts`` are given.
    area : iterable of shapely geometries
        Polygons in lon/lat (e.g. the units on the map).
    resolution : int
        H3 resolution of the cells.
    counts : DataFrame, optional
        The events already counted per cell at ``resolution`` (``h3``, ``count``, as
        :func:`geo.heat.h3_aggregate` gives), instead of ``points``.
    permutations : int
        0 (default): the normal approximation, fast enough for an interactive map; more: permutation
        p-values (:func:`getis_ord`).
    seed, alpha, fdr
        As in :func:`getis_ord`.

    Returns
    -------
    pandas.DataFrame
        One row per cell, in cell order: ``h3``, ``count`` and the columns of :func:`getis_ord`.
    """
    from geo.heat import h3_aggregate  # geo.heat reads no statistics: no cycle, kept local anyway

    if counts is None:
        if points is None:
            raise ValueError("h3_hotspots: give the events (points) or their counts per cell")
        counts = h3_aggregate(points, resolution=resolution)
    cells: set[str] = set(counts["h3"].astype(str))
    for geom in area:
        if geom is not None and not geom.is_empty:
            cells.update(h3.geo_to_cells(geom, resolution))
    order = sorted(cells)
    values = counts.set_index("h3")["count"].reindex(order, fill_value=0).astype(np.float64)
    if len(order) < 3:
        raise ValueError(f"h3_hotspots: {len(order)} cells at resolution {resolution}; need at least 3")
    gi = getis_ord(
        values,
        h3_weights(order),
        permutations=permutations,
        seed=seed,
        alpha=alpha,
        fdr=fdr,
        p_source="sim" if permutations else "norm",
    )
    out = gi.reset_index(drop=True)
    out.insert(0, "count", values.to_numpy())
    out.insert(0, "h3", order)
    out.attrs = gi.attrs
    return out


def _warn_if_floor_limited(attrs: dict) -> None:
    """Say so when FDR removed every raw finding and the permutation floor is the likely cause.

    With Benjamini–Hochberg over n units, a unit at the floor p0 passes only when at least p0·n/level
    units sit at that floor; too few permutations then leave every map empty however strong the data.
    """
    floor = attrs.get("p_floor", 0.0)
    limited = bool(
        attrs.get("fdr")
        and floor > 0
        and attrs.get("n_significant_raw", 0) > 0
        and attrs.get("n_significant", 0) == 0
    )
    attrs["floor_limited"] = limited
    if limited:
        warnings.warn(
            f"no unit is significant after FDR although {attrs['n_significant_raw']} are before it; with "
            f"{attrs['permutations']} permutations the smallest p is {floor:.4f}: use more permutations",
            RuntimeWarning,
            stacklevel=3,
        )


def local_moran(
    values: pd.Series,
    w: W,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int | None = 0,
    alpha: float = 0.05,
    fdr: bool = True,
    p_source: Literal["sim", "norm"] | None = None,
) -> pd.DataFrame:
    """Local Moran's I (局部莫兰指数, LISA) clusters and outliers.

    Runs ``esda.Moran_Local(y, w, transformation="r", permutations=..., seed=...)`` (row-standardised
    weights). The caller's ``w`` keeps its transformation (esda changes it in place; it is restored).

    Parameters
    ----------
    values : pandas.Series
        One value per unit, indexed by the unit codes of ``w``.
    w : libpysal.weights.W
        Spatial weights.
    permutations, seed, alpha, fdr, p_source
        As in :func:`getis_ord`; ``p_source="norm"`` uses the conditional-randomisation moments
        (esda ``EIc``, ``VIc``) for the z-score and a two-sided normal p-value.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``values``: ``I`` (esda ``Is``), ``z`` (esda ``z_sim``, the standardised I under
        permutation; with ``permutations=0`` the conditional analytic z), ``p_sim`` (esda ``p_sim``,
        one-sided folded), ``p_value`` (two-sided), ``p_fdr``, ``quadrant`` (HH / LH / LL / HL: the
        unit's value / its spatial lag above or below the mean), ``cluster`` (高高 / 低高 / 低低 / 高低
        when significant, else 不显著; 不可检验 for islands), ``significant``, ``testable``. ``attrs``
        as in :func:`getis_ord` (``n_significant``, ``n_significant_raw``, ``p_floor``).
    """
    y = _aligned(values, w, "local_moran")
    source = _resolve_p_source(p_source, permutations)
    testable = _testable(w)
    n = len(y)
    original_transform = w.transform
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = esda.Moran_Local(
                y,
                w,
                transformation="r",
                permutations=permutations,
                keep_simulations=bool(permutations),
                n_jobs=1,
                seed=seed,
            )
    finally:
        w.transform = original_transform
    with np.errstate(divide="ignore", invalid="ignore"):
        z_cond = (m.Is - m.EIc) / np.sqrt(m.VIc)
    if permutations:
        z = np.asarray(m.z_sim, dtype=float)
        p_sim = np.asarray(m.p_sim, dtype=float)
    else:
        z = z_cond
        p_sim = np.full(n, np.nan)
    if source == "sim":
        p_value = _two_sided(p_sim, permutations)
    else:
        p_value = _two_sided(stats.norm.sf(np.abs(z_cond)))
    p_value = np.where(testable, p_value, np.nan)
    p_fdr = bh_adjust(p_value)
    decision = p_fdr if fdr else p_value
    significant = np.nan_to_num(decision, nan=np.inf) <= alpha
    q = np.asarray(m.q, dtype=int)
    quadrant = np.array([MORAN_CLUSTERS[k][0] for k in range(1, 5)], dtype=object)[q - 1]
    cluster = np.array([MORAN_CLUSTERS[k][1] for k in range(1, 5)], dtype=object)[q - 1]
    cluster[~significant] = "不显著"
    cluster[~testable] = NOT_TESTABLE
    out = pd.DataFrame(
        {
            "I": np.where(testable, m.Is, np.nan),
            "z": np.where(testable, z, np.nan),
            "p_sim": np.where(testable, p_sim, np.nan),
            "p_value": p_value,
            "p_fdr": p_fdr,
            "quadrant": quadrant,
            "cluster": cluster,
            "significant": significant,
            "testable": testable,
        },
        index=pd.Index(w.id_order).astype(str),
    )
    out = out.reindex(values.index.astype(str))
    out.index = values.index
    out.attrs = {
        "statistic": "Local Moran's I (esda.Moran_Local transformation='r')",
        "permutations": permutations,
        "seed": seed,
        "alpha": alpha,
        "fdr": fdr,
        "p_source": source,
        "n_units": n,
        "n_islands": int((~testable).sum()),
        "n_significant": int(significant.sum()),
        "n_significant_raw": int((np.nan_to_num(p_value, nan=np.inf) <= alpha).sum()),
        "p_floor": 2.0 / (permutations + 1) if source == "sim" else 0.0,
    }
    _warn_if_floor_limited(out.attrs)
    return out


# --------------------------------------------------------------------------------------------------
# Space-time (时空热点)
# --------------------------------------------------------------------------------------------------


def space_time_counts(
    events: pd.DataFrame,
    unit_ids: Sequence[str],
    unit_col: str = "grid_code",
    time_col: str = "occurred_at",
    bin: str = "M",
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Space-time cube (时空立方体) of event counts: one row per unit, one column per time bin.

    Parameters
    ----------
    events : pandas.DataFrame
        Events with a unit code and a timestamp.
    unit_ids : sequence of str
        The units of the cube (rows), e.g. ``w.id_order``; units without events get zeros.
    unit_col, time_col : str
        Columns of ``events`` holding the unit code and the time.
    bin : str
        pandas period frequency: ``"M"`` calendar months, ``"W"`` weeks Monday–Sunday, ``"D"``, ``"Q"``.
    start, end : str or Timestamp, optional
        First and last bin (inclusive, any time inside them); default: the events' range. Events
        outside are dropped.

    Returns
    -------
    pandas.DataFrame
        Integer counts, index = ``unit_ids`` (str), columns = a ``PeriodIndex``. ``attrs`` records the
        number of events dropped (no unit, unit not in the cube, no time, outside the range) and
        whether the first / last bin is only partly covered by the events (a partial bin has lower
        counts, which biases the count trend but hardly Gi*, which compares units within one bin).
    """
    ids = pd.Index([str(u) for u in unit_ids])
    if ids.has_duplicates:
        raise ValueError("space_time_counts: unit_ids are not unique")
    times = pd.to_datetime(events[time_col])
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert(None)
    freq = "W-SUN" if bin == "W" else bin
    periods = times.dt.to_period(freq)
    valid = periods.notna().to_numpy()
    if not valid.any() and (start is None or end is None):
        raise ValueError("space_time_counts: no event has a time")
    first = pd.Period(start, freq) if start is not None else periods[valid].min()
    last = pd.Period(end, freq) if end is not None else periods[valid].max()
    columns = pd.period_range(first, last, freq=freq)
    t_pos = np.full(len(events), -1, dtype=np.int64)
    t_pos[valid] = periods[valid].array.asi8 - first.ordinal
    u_pos = ids.get_indexer(events[unit_col].astype(str).to_numpy())
    keep = (u_pos >= 0) & (t_pos >= 0) & (t_pos < len(columns))
    flat = np.bincount(u_pos[keep] * len(columns) + t_pos[keep], minlength=len(ids) * len(columns))
    counts = pd.DataFrame(flat.reshape(len(ids), len(columns)), index=ids, columns=columns)
    tmin, tmax = times[valid].min(), times[valid].max()
    counts.attrs = {
        "bin": freq,
        "n_events": len(events),
        "n_dropped": int((~keep).sum()),
        "first_bin_partial": bool(len(columns) and tmin > columns[0].start_time),
        "last_bin_partial": bool(len(columns) and tmax < columns[-1].end_time.floor("D")),
    }
    return counts


def mann_kendall(series: pd.DataFrame | ArrayLike) -> pd.DataFrame:
    """Mann–Kendall trend test (曼-肯德尔趋势检验) of every row, vectorised over rows.

    The original test (Mann 1945, Kendall 1975) as in ``pymannkendall.original_test``, whose results
    it reproduces (tested): ``S = sum_{i<j} sign(x_j - x_i)``, tie-corrected variance
    ``(n(n-1)(2n+5) - sum t(t-1)(2t+5)) / 18``, continuity-corrected ``z = (S - sign S) / sqrt(var)``,
    two-sided normal p-value, ``tau = S / (n(n-1)/2)``. Written here because calling pymannkendall
    once per unit is a Python loop: measured on 13,700 series of 24 bins, 0.05 s here against about
    20 s for the pymannkendall loop (bench/bench_hotspots.py).

    Parameters
    ----------
    series : pandas.DataFrame or 2-D array_like
        One series per row, time along the columns, no missing values.

    Returns
    -------
    pandas.DataFrame
        ``s``, ``var_s``, ``z``, ``p``, ``tau`` per row (index kept from a DataFrame). A constant row
        has ``s = 0``, ``z = 0``, ``p = 1``.
    """
    index = series.index if isinstance(series, pd.DataFrame) else None
    x = np.atleast_2d(np.asarray(series, dtype=float))
    if not np.isfinite(x).all():
        raise ValueError("mann_kendall: series contain NaN or infinite values")
    rows, n = x.shape
    s = np.zeros(rows)
    for i in range(n - 1):
        s += np.sign(x[:, i + 1 :] - x[:, i : i + 1]).sum(axis=1)
    # tie groups per row: run lengths of equal values in the sorted row
    xs = np.sort(x, axis=1)
    new_group = np.ones((rows, n), dtype=bool)
    new_group[:, 1:] = xs[:, 1:] != xs[:, :-1]
    group = np.cumsum(new_group, axis=1) - 1 + (np.arange(rows) * n)[:, None]
    t = np.bincount(group.ravel(), minlength=rows * n).reshape(rows, n).astype(float)
    ties = (t * (t - 1) * (2 * t + 5)).sum(axis=1)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s == 0, 0.0, (s - np.sign(s)) / np.sqrt(var_s))
    z = np.nan_to_num(z, nan=0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    tau = s / (0.5 * n * (n - 1)) if n > 1 else np.zeros(rows)
    return pd.DataFrame({"s": s, "var_s": var_s, "z": z, "p": p, "tau": tau}, index=index)


def classify_emerging(
    z: pd.DataFrame,
    significant: pd.DataFrame,
    alpha: float = 0.05,
    testable: pd.Series | None = None,
) -> pd.DataFrame:
    """Classify each location's Gi* series into the emerging hot spot patterns (时空热点模式).

    Definitions implemented (ArcGIS Pro, *How Emerging Hot Spot Analysis works*; "hot bin" = a
    statistically significant hot spot bin, ``n`` = number of bins, "final" = the last bin, "trend" =
    the Mann–Kendall trend of the location's Gi* z-scores, significant when ``p <= alpha``):

    * 新增热点 new: final bin hot and never a hot bin before.
    * 连续热点 consecutive: a single uninterrupted run of at least two hot bins ending at the final bin,
      no hot bin before that run, and less than 90 % of all bins hot.
    * 加剧热点 intensifying: at least 90 % of the bins hot, including the final one, and a significant
      increasing trend.
    * 持续热点 persistent: at least 90 % of the bins hot, including the final one, and no significant
      trend.
    * 减弱热点 diminishing: at least 90 % of the bins hot, including the final one, and a significant
      decreasing trend.
    * 零星热点 sporadic: final bin hot, less than 90 % of the bins hot, hot bins before the final run
      (an on-and-off history), and never a significant cold bin.
    * 振荡热点 oscillating: final bin hot, less than 90 % of the bins hot, and at least one significant
      cold bin before.
    * 历史热点 historical: final bin not hot, but at least 90 % of the bins hot.

    Cold spots mirror these with cold bins, an "intensifying" cold spot having a significant
    *decreasing* z trend (colder). Precedence where ArcGIS' wording overlaps: a location whose final
    bin is significant is classified by its final state first; a final hot bin preceded by any cold
    bin is oscillating even when it is the first or only hot run (the cold history is the more specific
    fact), and historical applies only when no final-bin pattern does. Persistent, intensifying and
    diminishing require the final bin to be hot (a location hot 90 % of the time but not at the end is
    historical). "At least 90 %" is evaluated in whole bins: ``10 * hot >= 9 * n``; with fewer than
    10 bins that means every bin (historical then cannot occur); ArcGIS requires at least 10 bins.

    Parameters
    ----------
    z : pandas.DataFrame
        Gi* z-scores, one row per location, one column per bin (time ascending).
    significant : pandas.DataFrame of bool
        Same shape: whether the bin's Gi* is significant (after FDR, as the caller decided).
    alpha : float
        Level of the Mann–Kendall trend test.
    testable : pandas.Series of bool, optional
        Per location; False rows get the pattern 不可检验 (islands).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``z``: ``pattern`` (Chinese), ``pattern_en``, ``n_bins``, ``n_hot_bins``,
        ``n_cold_bins``, ``final_bin`` (+1 hot, -1 cold, 0 not significant), ``gi_trend_tau``,
        ``gi_trend_z``, ``gi_trend_p``.
    """
    if z.shape != significant.shape:
        raise ValueError("classify_emerging: z and significant differ in shape")
    zv = np.nan_to_num(z.to_numpy(dtype=float), nan=0.0)
    sig = significant.to_numpy(dtype=bool)
    n = zv.shape[1]
    if n == 0:
        raise ValueError("classify_emerging: no time bin")
    trend = mann_kendall(zv)
    tau = trend["tau"].to_numpy()
    trend_sig = trend["p"].to_numpy() <= alpha
    hot = sig & (zv > 0)
    cold = sig & (zv < 0)
    pattern = np.full(zv.shape[0], "no pattern detected", dtype=object)
    historical = {}
    for kind, this, other, up in (("hot", hot, cold, 1.0), ("cold", cold, hot, -1.0)):
        k = this.sum(axis=1)
        final = this[:, -1]
        mostly = 10 * k >= 9 * n
        run = np.cumprod(this[:, ::-1], axis=1).sum(axis=1)  # trailing run length
        other_before = other[:, :-1].any(axis=1)
        increasing = trend_sig & (np.sign(tau) == up)
        decreasing = trend_sig & (np.sign(tau) == -up)
        rules = [
            (final & mostly & increasing, "intensifying"),
            (final & mostly & decreasing, "diminishing"),
            (final & mostly & ~increasing & ~decreasing, "persistent"),
            (final & ~mostly & other_before, "oscillating"),
            (final & ~mostly & (k == 1), "new"),
            (final & ~mostly & (k == run) & (run >= 2), "consecutive"),
            (final & ~mostly & (k > run), "sporadic"),
        ]
        for mask, name in rules:
            pattern[mask & (pattern == "no pattern detected")] = f"{name} {kind} spot"
        historical[kind] = ~final & mostly
    for kind in ("hot", "cold"):
        pattern[historical[kind] & (pattern == "no pattern detected")] = f"historical {kind} spot"
    if testable is not None:
        pattern[~testable.reindex(z.index, fill_value=True).to_numpy(dtype=bool)] = "not testable"
    return pd.DataFrame(
        {
            "pattern": pd.Series(pattern, index=z.index).map(EMERGING_PATTERNS),
            "pattern_en": pattern,
            "n_bins": n,
            "n_hot_bins": hot.sum(axis=1),
            "n_cold_bins": cold.sum(axis=1),
            "final_bin": hot[:, -1].astype(np.int8) - cold[:, -1].astype(np.int8),
            "gi_trend_tau": tau,
            "gi_trend_z": trend["z"].to_numpy(),
            "gi_trend_p": trend["p"].to_numpy(),
        },
        index=z.index,
    )


def emerging_hotspots(
    events: pd.DataFrame,
    units_w: W,
    unit_col: str = "grid_code",
    time_col: str = "occurred_at",
    bin: str = "M",
    permutations: int = 999,
    seed: int | None = 0,
    alpha: float = 0.05,
    fdr: bool = True,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Emerging hot spot analysis (时空热点分析) on a space-time cube of event counts.

    Method (after ArcGIS Pro's Emerging Hot Spot Analysis): count the events per unit and time bin
    (:func:`space_time_counts`, every unit of ``units_w`` present, zeros included); run Gi* on every
    time slice with the same weights (:func:`getis_ord`'s computation: esda ``G_Local``, star, binary,
    permutation pseudo p-values seeded with ``seed + bin number``, two-sided, BH-corrected within each
    bin when ``fdr``); test each location's Gi* z-series and count series for a monotonic trend with
    Mann–Kendall (:func:`mann_kendall`, checked against pymannkendall); classify with
    :func:`classify_emerging` (definitions there). Difference from ArcGIS: the neighbourhood is
    spatial only (each bin's Gi* uses the bin's counts), whereas ArcGIS can also add neighbouring
    time steps to the neighbourhood. A time slice in which every unit has the same count has no
    clustering to test: z = 0, not significant.

    Parameters
    ----------
    events : pandas.DataFrame
        Events with ``unit_col`` and ``time_col``; events outside the units are dropped.
    units_w : libpysal.weights.W
        Weights over the units (ids = unit codes).
    unit_col, time_col, bin, start, end
        As in :func:`space_time_counts`.
    permutations, seed, alpha, fdr
        As in :func:`getis_ord`; ``alpha`` is also the trend test level.

    Returns
    -------
    pandas.DataFrame
        Indexed by unit code (``units_w.id_order``): the columns of :func:`classify_emerging` plus
        ``count_total``, ``count_trend_tau``, ``count_trend_z``, ``count_trend_p`` and ``testable``.
        ``attrs``: bins (first, last, count, whether the first / last is only partly covered),
        events dropped, pattern counts, settings.
    """
    counts = space_time_counts(events, units_w.id_order, unit_col, time_col, bin, start, end)
    n_bins = counts.shape[1]
    if n_bins < 10:
        warnings.warn(
            f"emerging_hotspots: {n_bins} time bins; the 90 % rules need at least 10 to be meaningful",
            UserWarning,
            stacklevel=2,
        )
    testable = _testable(units_w)
    w_star = _star_weights(units_w)
    source = _resolve_p_source(None, permutations)
    cube = counts.to_numpy(dtype=float)
    z = np.zeros(cube.shape)
    sig = np.zeros(cube.shape, dtype=bool)
    for t in range(n_bins):
        zt, p_sim, p_norm = _gi_star(cube[:, t], w_star, permutations, None if seed is None else seed + t)
        p_value = _two_sided(p_sim, permutations) if source == "sim" else _two_sided(p_norm)
        decision = _decision_p(p_value, testable, fdr)
        z[:, t] = np.where(testable, zt, 0.0)
        sig[:, t] = np.nan_to_num(decision, nan=np.inf) <= alpha
    labels = [str(c) for c in counts.columns]
    out = classify_emerging(
        pd.DataFrame(z, index=counts.index, columns=labels),
        pd.DataFrame(sig, index=counts.index, columns=labels),
        alpha=alpha,
        testable=pd.Series(testable, index=counts.index),
    )
    count_trend = mann_kendall(cube)
    out["count_total"] = cube.sum(axis=1).astype(np.int64)
    out["count_trend_tau"] = count_trend["tau"].to_numpy()
    out["count_trend_z"] = count_trend["z"].to_numpy()
    out["count_trend_p"] = count_trend["p"].to_numpy()
    out["testable"] = testable
    out.attrs = {
        "statistic": "Emerging hot spots (Gi* per bin + Mann-Kendall)",
        "bin": counts.attrs["bin"],
        "first_bin": labels[0],
        "last_bin": labels[-1],
        "n_bins": n_bins,
        "first_bin_partial": counts.attrs["first_bin_partial"],
        "last_bin_partial": counts.attrs["last_bin_partial"],
        "n_events_dropped": counts.attrs["n_dropped"],
        "permutations": permutations,
        "seed": seed,
        "alpha": alpha,
        "fdr": fdr,
        "patterns": out["pattern"].value_counts().to_dict(),
    }
    return out


# --------------------------------------------------------------------------------------------------
# Repeats and near repeats (重复警情 / 近重复)
# --------------------------------------------------------------------------------------------------


def _days(times: pd.Series) -> NDArray[np.float64]:
    """Times as float days since the epoch (timezone-aware times in UTC)."""
    t = pd.to_datetime(times)
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert(None)
    ns = t.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return ns / _DAY_NS


def repeat_incidents(
    events: pd.DataFrame,
    address_col: str = "address_id",
    days: float = 30,
    time_col: str = "occurred_at",
) -> pd.DataFrame:
    """Repeat incidents (重复警情) at the same address within ``days``.

    An incident is a *repeat* when an earlier incident at the same address happened at most ``days``
    before it (the first incident of a chain is not a repeat). Incidents without an address are left
    out and counted in ``attrs``.

    Parameters
    ----------
    events : pandas.DataFrame
        Incidents with an address code and a time.
    address_col, time_col : str
        Columns holding the standard address code (标准地址编码) and the time.
    days : float
        Repeat window in days.

    Returns
    -------
    pandas.DataFrame
        One row per address with an incident, most repeats first (then most incidents): ``n_incidents``,
        ``n_repeats``, ``repeat_share`` (of the address's incidents), ``first_at``, ``last_at``,
        ``min_gap_days`` (shortest gap between two incidents, NaN for a single one). ``attrs``:
        ``n_incidents`` (with an address and a time), ``n_without_address``, ``n_without_time``
        (with an address but no time; left out too), ``n_addresses``, ``n_repeats``,
        ``repeat_share`` (of all incidents with an address), ``n_repeat_addresses``,
        ``share_at_multi_addresses`` (incidents at addresses with two or more incidents in the data).
    """
    has_addr = events[address_col].notna() & events[time_col].notna()
    no_address = int(events[address_col].isna().sum())
    frame = pd.DataFrame(
        {
            "address": events.loc[has_addr, address_col].astype(str).to_numpy(),
            "at": pd.to_datetime(events.loc[has_addr, time_col]).to_numpy(),
            "t": _days(events.loc[has_addr, time_col]),
        }
    ).sort_values(["address", "t"], kind="mergesort", ignore_index=True)
    same = frame["address"].eq(frame["address"].shift())
    gap = frame["t"].diff().where(same)
    frame["repeat"] = (gap <= days).to_numpy()
    frame["gap"] = gap
    per = frame.groupby("address", sort=False).agg(
        n_incidents=("t", "size"),
        n_repeats=("repeat", "sum"),
        first_at=("at", "min"),
        last_at=("at", "max"),
        min_gap_days=("gap", "min"),
    )
    per["n_repeats"] = per["n_repeats"].astype(np.int64)
    per["repeat_share"] = per["n_repeats"] / per["n_incidents"]
    per = per[["n_incidents", "n_repeats", "repeat_share", "first_at", "last_at", "min_gap_days"]]
    per = per.sort_values(["n_repeats", "n_incidents"], ascending=False, kind="mergesort")
    per.index.name = address_col
    n = len(frame)
    n_rep = int(frame["repeat"].sum())
    per.attrs = {
        "days": days,
        "n_incidents": n,
        "n_without_address": no_address,
        "n_without_time": int((~has_addr).sum()) - no_address,
        "n_addresses": len(per),
        "n_repeats": n_rep,
        "repeat_share": n_rep / n if n else math.nan,
        "n_repeat_addresses": int((per["n_repeats"] > 0).sum()),
        "share_at_multi_addresses": (
            float(per.loc[per["n_incidents"] >= 2, "n_incidents"].sum() / n) if n else math.nan
        ),
    }
    return per


def _projected_xy(events: gpd.GeoDataFrame) -> tuple[NDArray[np.float64], int | str]:
    """Point coordinates in metres: the events' own projected CRS, else a local Gauss–Krüger zone."""
    geom = events.geometry
    if geom.crs is not None and geom.crs.is_projected:
        return np.column_stack([geom.x.to_numpy(), geom.y.to_numpy()]), geom.crs.to_string()
    if geom.crs is None:
        raise ValueError("near_repeat: events have no CRS")
    lon, lat = geom.x.to_numpy(), geom.y.to_numpy()
    epsg = projected_crs_for(lon, lat)
    x, y = transformer(geom.crs, epsg).transform(lon, lat)
    return np.column_stack([x, y]), epsg


def _check_points(events: gpd.GeoDataFrame, time_col: str) -> None:
    if not isinstance(events, gpd.GeoDataFrame):
        raise TypeError("near_repeat: events must be a GeoDataFrame of points")
    if len(events) and not (events.geom_type == "Point").all():
        raise ValueError("near_repeat: events must all be points")
    if events.geometry.is_empty.any() or events.geometry.isna().any() or events[time_col].isna().any():
        raise ValueError("near_repeat: drop events without a location or a time first")


def near_repeat_pairs(
    events: gpd.GeoDataFrame,
    distance_m: float = 200,
    days: float = 14,
    time_col: str = "occurred_at",
    id_col: str | None = "incident_id",
) -> pd.DataFrame:
    """Pairs of events within ``distance_m`` metres and ``days`` days of each other (近重复事件对).

    Space first (``scipy.spatial.cKDTree.query_pairs`` in a projected CRS), then time.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Point events with a time; EPSG:4326 points are projected to the local CGCS2000 Gauss–Krüger
        zone (:func:`geo.crs.projected_crs_for`), a projected CRS is used as is.
    distance_m, days : float
        Inclusive thresholds (``<=``).
    time_col : str
        Time column.
    id_col : str or None
        Identifier column reported for both events (the positional index when absent).

    Returns
    -------
    pandas.DataFrame
        One row per pair, earlier event first: ``first``, ``second`` (positions in ``events``),
        ``first_id``, ``second_id``, ``distance_m``, ``lag_days``; sorted by ``first``, ``second``.
    """
    _check_points(events, time_col)
    xy, epsg = _projected_xy(events)
    t = _days(events[time_col])
    pairs = cKDTree(xy).query_pairs(r=distance_m, output_type="ndarray")
    a, b = pairs[:, 0], pairs[:, 1]
    lag = t[b] - t[a]
    keep = np.abs(lag) <= days
    a, b, lag = a[keep], b[keep], lag[keep]
    swap = lag < 0
    first = np.where(swap, b, a)
    second = np.where(swap, a, b)
    ids = events[id_col].to_numpy() if id_col and id_col in events.columns else np.arange(len(events))
    out = pd.DataFrame(
        {
            "first": first,
            "second": second,
            "first_id": ids[first],
            "second_id": ids[second],
            "distance_m": np.hypot(*(xy[first] - xy[second]).T),
            "lag_days": np.abs(lag),
        }
    ).sort_values(["first", "second"], ignore_index=True)
    out.attrs = {"n_events": len(events), "n_pairs": len(out), "crs": epsg}
    return out


def _pairs_within_time(t_sorted: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.int64]:
    """Number of unordered pairs with ``|t_i - t_j| <= e`` for every edge ``e`` (O(n log n) each)."""
    positions = np.arange(1, len(t_sorted) + 1)
    return np.array(
        [int((np.searchsorted(t_sorted, t_sorted + e, side="right") - positions).sum()) for e in edges]
    )


def _half_point(mid: NDArray[np.float64], excess: NDArray[np.float64]) -> float:
    """Where ``excess`` first falls to half its first value, linearly interpolated between midpoints."""
    if len(excess) == 0 or not np.isfinite(excess[0]) or excess[0] <= 0:
        return math.nan
    half = excess[0] / 2.0
    below = np.flatnonzero(np.nan_to_num(excess, nan=-np.inf) <= half)
    if len(below) == 0:
        return math.nan
    k = below[0]
    e0, e1 = excess[k - 1], excess[k]
    return float(mid[k - 1] + (e0 - half) / (e0 - e1) * (mid[k] - mid[k - 1]))


def near_repeat(
    events: gpd.GeoDataFrame,
    distance_m: float = 200,
    days: float = 14,
    distance_bands: int = 4,
    time_bands: int = 7,
    same_location_m: float | None = 1.0,
    permutations: int = 99,
    seed: int | None = 0,
    time_col: str = "occurred_at",
) -> pd.DataFrame:
    """Near-repeat analysis (近重复分析): a Knox table over distance × time bands.

    Method (Knox test as in Ratcliffe's Near Repeat Calculator). Every unordered pair of events falls
    in one distance band and one time band; the observed count of a cell is compared with what
    independence of space and time would give. The expected count is the Knox expectation
    ``E = N_d * N_t / N`` (``N_d`` pairs in the distance band, ``N_t`` pairs in the time band, ``N``
    all pairs), which is *exactly* the mean of the permutation distribution obtained by shuffling
    the times over the events. ``permutations`` such shuffles give the one-sided p-value
    ``(#{perm >= observed} + 1) / (permutations + 1)``. Only pairs within ``distance_m`` are listed
    (KD-tree); counts beyond it come from the totals: ``N_t`` over all pairs by sorting the times, so
    the "beyond" row and column are exact. Same-location pairs (``<= same_location_m``, typically one
    geocoded address) get their own row: they are repeat victimisation rather than near repeats.

    The excess is ``observed / expected - 1``. The half-distance is the distance (band midpoints,
    linear interpolation) at which the excess of the closest time band falls to half its value in the
    closest distance band (excluding same-location pairs); the half-life is the time lag at which the
    excess of the closest distance band falls to half its value in the closest time band. Either is
    NaN when the closest excess is not positive or does not fall to half within the table (then widen
    ``distance_m`` / ``days``).

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Point events with a time (EPSG:4326 or a projected CRS).
    distance_m, days : float
        Extent of the table; the bands split it evenly: ``distance_bands`` bands of
        ``distance_m / distance_bands`` metres (the first starting after ``same_location_m``) and
        ``time_bands`` bands of ``days / time_bands`` days (the first including a lag of 0).
        Intervals are closed on the right.
    same_location_m : float or None
        Same-location threshold; None puts those pairs into the first distance band.
    permutations : int
        Monte Carlo shuffles of the times (0: expectation only, no p-values). Each costs about 20 ns
        per pair within ``distance_m``: 100 K demo incidents with 1.5 M such pairs take 3.8 s with
        99 shuffles, a dense sample with 11 M pairs 21 s (0.6 s and 1.2 s without).
    seed : int or None
        Seed of the shuffles (``numpy.random.default_rng``).
    time_col : str
        Time column.

    Returns
    -------
    pandas.DataFrame
        Long format, one row per cell: ``distance_band``, ``d_lo``, ``d_hi``, ``time_band``, ``t_lo``,
        ``t_hi``, ``observed``, ``expected``, ``ratio`` (Knox ratio), ``excess``, ``p_value``,
        ``perm_mean``; beyond-distance and beyond-time bands have ``d_hi`` / ``t_hi`` = inf.
        ``attrs``: ``half_distance_m``, ``half_life_days``, ``closest_excess``, ``n_events``,
        ``n_pairs_close`` (within ``distance_m`` and ``days``), ``crs``, settings.
    """
    _check_points(events, time_col)
    if distance_bands < 1 or time_bands < 1:
        raise ValueError("near_repeat: distance_bands and time_bands must be >= 1")
    if len(events) < 2:
        raise ValueError("near_repeat: needs at least two events")
    xy, epsg = _projected_xy(events)
    t = _days(events[time_col])
    n = len(t)
    n_all = n * (n - 1) // 2
    pairs = cKDTree(xy).query_pairs(r=distance_m, output_type="ndarray")
    a = np.ascontiguousarray(pairs[:, 0], dtype=np.int32)
    b = np.ascontiguousarray(pairs[:, 1], dtype=np.int32)
    del pairs
    dist = np.hypot(xy[a, 0] - xy[b, 0], xy[a, 1] - xy[b, 1])

    same = same_location_m is not None
    d_width = distance_m / distance_bands
    d_edges = np.arange(1, distance_bands + 1) * d_width
    # min(): the KD-tree's own distance may admit a pair a hair beyond distance_m
    d_band = np.minimum(np.searchsorted(d_edges, dist, side="left"), distance_bands - 1) + int(same)
    if same:
        d_band[dist <= same_location_m] = 0
    n_d_rows = distance_bands + int(same)
    t_width = days / time_bands
    t_edges = np.arange(1, time_bands + 1) * t_width
    n_t_cols = time_bands + 1  # + beyond
    d_code = (d_band * n_t_cols).astype(np.int32)
    del d_band

    def table(times: NDArray[np.float64], chunk: int = 1 << 20) -> NDArray[np.int64]:
        # Time band k covers (k w, (k+1) w], the first one from 0: ceil(lag / w) - 1 clipped to
        # [0, time_bands]. Chunks of a million pairs keep the temporaries in cache (2x faster).
        flat = np.zeros(n_d_rows * n_t_cols, dtype=np.int64)
        for s0 in range(0, len(a), chunk):
            lag = times[a[s0 : s0 + chunk]]
            lag -= times[b[s0 : s0 + chunk]]
            np.abs(lag, out=lag)
            lag /= t_width
            np.ceil(lag, out=lag)
            lag -= 1.0
            np.clip(lag, 0.0, time_bands, out=lag)
            code = lag.astype(np.int32)
            code += d_code[s0 : s0 + chunk]
            flat += np.bincount(code, minlength=n_d_rows * n_t_cols)
        return flat.reshape(n_d_rows, n_t_cols)

    observed_close = table(t)
    within = _pairs_within_time(np.sort(t), t_edges)
    n_t = np.append(np.diff(np.concatenate([[0], within])), n_all - within[-1])
    # add the beyond-distance row: all pairs of the time band minus those within distance_m
    observed = np.vstack([observed_close, n_t - observed_close.sum(axis=0)])
    n_dist = observed.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.outer(n_dist, n_t) / n_all if n_all else np.zeros(observed.shape)
    p_value = np.full(observed.shape, np.nan)
    perm_mean = np.full(observed.shape, np.nan)
    if permutations:
        rng = np.random.default_rng(seed)
        at_least = np.zeros(observed.shape, dtype=np.int64)
        total = np.zeros(observed.shape)
        for _ in range(permutations):
            close = table(t[rng.permutation(n)])
            perm = np.vstack([close, n_t - close.sum(axis=0)])
            at_least += perm >= observed
            total += perm
        p_value = (at_least + 1) / (permutations + 1)
        perm_mean = total / permutations

    d_lo = np.concatenate(
        [[0.0] if same else [], [same_location_m if same else 0.0], d_edges[:-1], [distance_m]]
    )
    d_hi = np.concatenate([[same_location_m] if same else [], d_edges, [np.inf]])
    d_labels = (["同址"] if same else []) + [
        f"{lo:g}-{hi:g}m" for lo, hi in zip(d_lo[int(same) : -1], d_hi[int(same) : -1], strict=True)
    ]
    d_labels.append(f">{distance_m:g}m")
    t_lo = np.concatenate([[0.0], t_edges])
    t_hi = np.concatenate([t_edges, [np.inf]])
    t_labels = [f"{lo:g}-{hi:g}d" for lo, hi in zip(t_lo[:-1], t_hi[:-1], strict=True)] + [f">{days:g}d"]

    rows, cols = observed.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = observed / expected
    out = pd.DataFrame(
        {
            "distance_band": np.repeat(d_labels, cols),
            "d_lo": np.repeat(d_lo, cols),
            "d_hi": np.repeat(d_hi, cols),
            "time_band": np.tile(t_labels, rows),
            "t_lo": np.tile(t_lo, rows),
            "t_hi": np.tile(t_hi, rows),
            "observed": observed.ravel(),
            "expected": expected.ravel(),
            "ratio": ratio.ravel(),
            "excess": (ratio - 1.0).ravel(),
            "p_value": p_value.ravel(),
            "perm_mean": perm_mean.ravel(),
        }
    )
    near = slice(int(same), rows - 1)  # distance bands proper, without same-location and beyond
    excess = ratio - 1.0
    d_mid = (d_lo[near] + d_hi[near]) / 2.0
    t_mid = (t_lo[:-1] + t_hi[:-1]) / 2.0
    out.attrs = {
        "method": "Knox table; expected = N_d * N_t / N (= permutation mean); p from time shuffles",
        "half_distance_m": _half_point(d_mid, excess[near, 0]),
        "half_life_days": _half_point(t_mid, excess[int(same), :-1]),
        "closest_excess": float(excess[int(same), 0]),
        "n_events": n,
        "n_pairs_close": int(observed_close[:, :-1].sum()),
        "distance_m": distance_m,
        "days": days,
        "permutations": permutations,
        "seed": seed,
        "crs": epsg,
    }
    return out


# --------------------------------------------------------------------------------------------------
# Concentration (集中度)
# --------------------------------------------------------------------------------------------------


def pareto_concentration(counts: pd.Series) -> pd.DataFrame:
    """The 80-20 analysis (二八定律) of incidents over units: cumulative shares and the Gini index.

    Parameters
    ----------
    counts : pandas.Series
        Non-negative counts per unit (addresses, grids, H3 cells), indexed by the unit. Include the
        units with zero incidents when they belong to the population studied (all grids), since
        they change every share and the Gini index.

    Returns
    -------
    pandas.DataFrame
        Units sorted by decreasing count (ties in input order): ``rank`` (1 = most), ``count``,
        ``share`` (of all incidents), ``cum_share``, ``cum_unit_share`` (rank / number of units).
        ``attrs``: ``n_units``, ``total``, ``units_for_50`` / ``units_for_80`` (fewest units carrying
        at least 50 % / 80 % of the incidents), ``unit_share_for_50`` / ``unit_share_for_80`` (the same
        as shares of all units), ``top20_share`` (share of incidents in the top ``ceil(0.2 n)`` units),
        ``gini`` (``sum_i (2i - n - 1) x_(i) / (n sum x)`` with ascending ``x``, 0 = even, ->1 = all
        in one unit).
    """
    x = counts.to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(x).all() or (x < 0).any():
        raise ValueError("pareto_concentration: counts must be finite and non-negative")
    n = len(x)
    order = np.argsort(-x, kind="mergesort")
    xs = x[order]
    total = float(xs.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        share = xs / total
    cum = np.cumsum(share)
    out = pd.DataFrame(
        {
            "rank": np.arange(1, n + 1),
            "count": counts.to_numpy()[order],
            "share": share,
            "cum_share": cum,
            "cum_unit_share": np.arange(1, n + 1) / n if n else np.array([]),
        },
        index=counts.index[order],
    )

    def units_for(p: float) -> int | None:
        hit = np.flatnonzero(cum >= p - 1e-12)
        return int(hit[0] + 1) if total > 0 and len(hit) else None

    asc = xs[::-1]
    gini = float(((2 * np.arange(1, n + 1) - n - 1) * asc).sum() / (n * total)) if total > 0 else math.nan
    u50, u80 = units_for(0.5), units_for(0.8)
    top = math.ceil(0.2 * n)
    out.attrs = {
        "n_units": n,
        "total": total,
        "units_for_50": u50,
        "units_for_80": u80,
        "unit_share_for_50": u50 / n if u50 else math.nan,
        "unit_share_for_80": u80 / n if u80 else math.nan,
        "top20_share": float(cum[top - 1]) if total > 0 and top else math.nan,
        "gini": gini,
    }
    return out
