"""Colour scales (配色) for maps and legends: classed, diverging (Gi* 冷热点) and categorical.

Every map colour of the product comes from here, as RGBA lists (0–255, deck.gl's format) with a legend
whose labels are Chinese. Two themes: ``light`` (desk) and ``dark`` (指挥中心大屏 video wall), where
low classes fade into the dark background and high classes are bright.

Classification (分级)
--------------------
:func:`classify` puts values into ``k`` classes by one of

* ``quantiles`` (分位数): ``mapclassify.Quantiles``;
* ``equal_interval`` (等间距): ``mapclassify.EqualInterval``;
* ``fisher_jenks`` (自然断点, alias ``natural_breaks``): Jenks' natural breaks solved exactly by Fisher's
  dynamic programme, implemented here (:func:`fisher_jenks_bins`) on the *distinct* values with their
  multiplicities, vectorised with numpy. Written here because it was measured far faster: on 13,700
  grid counts ``mapclassify.FisherJenks`` took 449 s (pure Python: numba is not installed),
  ``FisherJenksSampled`` 3.2 s and ``NaturalBreaks`` (a k-means heuristic with random restarts, so not
  reproducible) 1.25 s, against milliseconds here (``bench/bench_layers.py`` prints the figures). The
  result equals ``mapclassify.FisherJenks`` (``tests/test_layers.py`` checks it); above
  ``MAX_JENKS_VALUES`` distinct values they are first merged into that many equal-count groups, so
  breaks then fall between groups (an approximation, as with any sampled Jenks).

Bins are upper bounds, as in mapclassify: class ``i`` holds ``bins[i-1] < v <= bins[i]``; values
above the last bin (a later, larger value) fall in the last class, NaN in the no-data class.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import mapclassify
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CATEGORY_COLOURS",
    "GI_LABELS",
    "MAP_LAYER_COLOURS",
    "MAX_JENKS_VALUES",
    "SCHEMES",
    "SEQUENTIAL",
    "THEMES",
    "WORK_ORDER_COLOURS",
    "CategoricalClasses",
    "Classes",
    "category_classes",
    "classify",
    "fisher_jenks_bins",
    "gi_classes",
    "hex_to_rgba",
    "layer_classes",
    "rgba_css",
    "work_order_classes",
]

RGBA = tuple[int, int, int, int]

#: Theme colours (主题): page and map background, text, outlines, grid lines of charts.
THEMES: dict[str, dict[str, str]] = {
    "light": {
        "background": "#f4f6f8",
        "paper": "#ffffff",
        "land": "#eef1f4",
        "text": "#1f2933",
        "muted": "#6b7785",
        "outline": "#5c6b7a",
        "county": "#34495e",
        "gridline": "#e3e8ee",
        "accent": "#1f6feb",
        "good": "#2e9e5b",
        "bad": "#d64541",
    },
    "dark": {
        "background": "#07111f",
        "paper": "#0b1a2e",
        "land": "#0f2238",
        "text": "#e6edf5",
        "muted": "#8da2bb",
        "outline": "#3f6e9c",
        "county": "#7fb2e5",
        "gridline": "#1c3350",
        "accent": "#36c5f0",
        "good": "#3ddc97",
        "bad": "#ff5d5d",
    },
}

#: Sequential ramps (ColorBrewer YlOrRd / Blues / Purples / Greens 9-class for the light theme;
#: matplotlib's inferno / viridis for the dark wall, whose lightness rises with the class).
SEQUENTIAL: dict[str, tuple[str, ...]] = {
    "YlOrRd": tuple("#ffffcc #ffeda0 #fed976 #feb24c #fd8d3c #fc4e2a #e31a1c #bd0026 #800026".split()),
    "Blues": tuple("#f7fbff #deebf7 #c6dbef #9ecae1 #6baed6 #4292c6 #2171b5 #08519c #08306b".split()),
    "Purples": tuple("#fcfbfd #efedf5 #dadaeb #bcbddc #9e9ac8 #807dba #6a51a3 #54278f #3f007d".split()),
    "Greens": tuple("#f7fcf5 #e5f5e0 #c7e9c0 #a1d99b #74c476 #41ab5d #238b45 #006d2c #00441b".split()),
    "inferno": tuple(
        "#000004 #1b0c41 #4a0c6b #781c6d #a52c60 #cf4446 #ed6925 #fb9b06 #f7d13d #fcffa4".split()
    ),
    "viridis": tuple(
        "#440154 #482878 #3e4a89 #31688e #26828e #1f9e89 #35b779 #6ece58 #b5de2b #fde725".split()
    ),
}
#: Ramp used by default in each theme.
DEFAULT_RAMP = {"light": "YlOrRd", "dark": "inferno"}
#: Light ramps skip their near-white first colour (it vanishes on a light base); dark ramps skip their
#: two near-black ones (they vanish on the wall's background).
_RAMP_SKIP = {"light": 1, "dark": 2}

SCHEMES = ("quantiles", "equal_interval", "fisher_jenks", "natural_breaks")
#: Largest number of distinct values Fisher–Jenks runs on exactly; more are merged into this many groups.
MAX_JENKS_VALUES = 1000
NO_DATA_LABEL = "无数据"

#: Gi* confidence bin (ArcGIS ``Gi_Bin``, -3 … 3) → label; the same strings as ``geo.hotspots.GI_CLASSES``
#: (not imported: geo.hotspots pulls in esda, 4 s of import for seven labels).
GI_LABELS: dict[int, str] = {
    3: "热点99",
    2: "热点95",
    1: "热点90",
    0: "不显著",
    -1: "冷点90",
    -2: "冷点95",
    -3: "冷点99",
}
NOT_TESTABLE = "不可检验"
_GI_COLOURS = {
    "light": ("#b2182b", "#ef8a62", "#fddbc7", "#ececec", "#d1e5f0", "#67a9cf", "#2166ac"),
    "dark": ("#ff3b3b", "#ff8c5a", "#ffc9a8", "#2a3a52", "#a8d8ff", "#4fa3f0", "#1f6fe0"),
}

#: Incident categories (警情类别) → colour, per theme (tab10-like; brighter on the wall).
CATEGORY_COLOURS: dict[str, dict[str, str]] = {
    "light": {
        "刑事": "#d62728",
        "治安": "#ff7f0e",
        "纠纷": "#9467bd",
        "交通": "#1f77b4",
        "火警": "#e6b800",
        "电诈": "#17becf",
        "求助": "#2ca02c",
        "非警务": "#7f7f7f",
    },
    "dark": {
        "刑事": "#ff4d4f",
        "治安": "#ffa940",
        "纠纷": "#b37feb",
        "交通": "#40a9ff",
        "火警": "#ffd666",
        "电诈": "#36cfc9",
        "求助": "#73d13d",
        "非警务": "#bfbfbf",
    },
}
#: Work-order states (工单状态) → colour, in the order of ``data.schema.WORK_ORDER_STATES``.
WORK_ORDER_COLOURS: dict[str, str] = {
    "待签收": "#f0ad4e",
    "已签收": "#5bc0de",
    "处置中": "#337ab7",
    "已反馈": "#9b59b6",
    "已办结": "#5cb85c",
    "超期": "#d9534f",
    "升级": "#8b1a1a",
}
_OTHER_COLOUR = {"light": "#b0b7c3", "dark": "#5d6b80"}
_NO_DATA = {"light": (210, 214, 220, 110), "dark": (60, 72, 92, 90)}


# --------------------------------------------------------------------------------------------------
# colour helpers


def hex_to_rgba(colour: str, alpha: int = 255) -> RGBA:
    """``"#rrggbb"`` (or ``"#rrggbbaa"``) → ``(r, g, b, a)`` integers 0–255.

    Parameters
    ----------
    colour : str
        Hex colour.
    alpha : int
        Alpha when the colour has none.

    Returns
    -------
    tuple of int
    """
    h = colour.lstrip("#")
    if len(h) not in (6, 8):
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    a = int(h[6:8], 16) if len(h) == 8 else int(alpha)
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), a)


def rgba_css(rgba: Sequence[int]) -> str:
    """``(r, g, b, a)`` → CSS ``"rgba(r,g,b,0.78)"`` for legends and plotly."""
    r, g, b = (int(v) for v in rgba[:3])
    a = (int(rgba[3]) if len(rgba) > 3 else 255) / 255
    return f"rgba({r},{g},{b},{a:.3g})"


def _relative_luminance(rgba: Sequence[int]) -> float:
    """WCAG relative luminance of an sRGB colour (0 black … 1 white)."""
    c = np.asarray(rgba[:3], dtype=float) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ np.array([0.2126, 0.7152, 0.0722]))


def ramp(name: str, k: int, theme: str = "light", alpha: int = 210) -> list[RGBA]:
    """``k`` colours sampled evenly from a sequential ramp (light end first).

    Parameters
    ----------
    name : str
        A key of :data:`SEQUENTIAL`.
    k : int
        Number of colours (1 … len(ramp)).
    theme : {"light", "dark"}
        Sets how many near-background colours at the ramp's start are skipped.
    alpha : int
        Alpha of every colour.

    Returns
    -------
    list of (r, g, b, a)
    """
    colours = SEQUENTIAL[name]
    skip = _RAMP_SKIP.get(theme, 1) if len(colours) - _RAMP_SKIP.get(theme, 1) >= k else 0
    usable = colours[skip:]
    if not 1 <= k <= len(usable):
        raise ValueError(f"ramp {name!r} has {len(usable)} usable colours, asked for {k}")
    idx = np.round(np.linspace(0, len(usable) - 1, k)).astype(int) if k > 1 else np.array([len(usable) - 1])
    return [hex_to_rgba(usable[i], alpha) for i in idx]


# --------------------------------------------------------------------------------------------------
# classes


@dataclass(frozen=True)
class _Legend:
    colours: tuple[RGBA, ...]
    labels: tuple[str, ...]
    no_data_colour: RGBA
    no_data_label: str

    @property
    def k(self) -> int:
        """Number of classes (the no-data class not counted)."""
        return len(self.colours)

    def palette(self) -> list[list[int]]:
        """RGBA of every class, then the no-data colour at index ``k`` (what :meth:`classify` returns
        for a missing value): the lookup table deck.gl layers index into."""
        return [list(c) for c in self.colours] + [list(self.no_data_colour)]

    def rgba(self, values: ArrayLike) -> NDArray[np.uint8]:
        """RGBA per value, shape ``(n, 4)`` uint8."""
        return np.asarray(self.palette(), dtype=np.uint8)[self.classify(values)]

    def legend(self, with_no_data: bool = True) -> list[dict]:
        """Legend entries ``{"label", "colour" (CSS rgba), "rgba"}``, first class first."""
        out = [
            {"label": lab, "colour": rgba_css(c), "rgba": list(c)}
            for lab, c in zip(self.labels, self.colours, strict=True)
        ]
        if with_no_data:
            out.append(
                {
                    "label": self.no_data_label,
                    "colour": rgba_css(self.no_data_colour),
                    "rgba": list(self.no_data_colour),
                }
            )
        return out

    def classify(self, values: ArrayLike) -> NDArray[np.int16]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Classes(_Legend):
    """Classes of a numeric scale: ``bins`` (upper bounds, ascending), one colour and label each.

    Attributes
    ----------
    bins : tuple of float
        Upper bound of each class; class ``i`` holds ``bins[i-1] < v <= bins[i]``.
    colours, labels : tuple
        One RGBA colour and one Chinese legend label per class.
    scheme : str
        The classification scheme that made the bins.
    no_data_colour, no_data_label :
        Colour and label (无数据) of missing values.
    """

    bins: tuple[float, ...] = ()
    scheme: str = ""

    def classify(self, values: ArrayLike) -> NDArray[np.int16]:
        """Class index (0 … k-1) of every value; ``k`` (the no-data class) for NaN / None.

        Parameters
        ----------
        values : array_like of float

        Returns
        -------
        ndarray of int16
        """
        v = pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce")
        v = v.to_numpy(dtype=np.float64, na_value=np.nan)
        idx = np.searchsorted(np.asarray(self.bins, dtype=np.float64), v, side="left")
        idx = np.minimum(idx, self.k - 1).astype(np.int16)
        idx[np.isnan(v)] = self.k
        return idx


@dataclass(frozen=True)
class CategoricalClasses(_Legend):
    """Classes of a categorical scale: one colour per category (警情类别, Gi* bin, 工单状态 …).

    Attributes
    ----------
    categories : tuple
        The category values in legend order; any other value is classified as no data.
    """

    categories: tuple = field(default=())

    def classify(self, values: ArrayLike) -> NDArray[np.int16]:
        """Position of every value in ``categories``; ``k`` (no data) for unknown or missing ones."""
        index = pd.Index(list(self.categories))
        codes = index.get_indexer(pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object))
        return np.where(codes < 0, self.k, codes).astype(np.int16)


# --------------------------------------------------------------------------------------------------
# Fisher–Jenks


def _merge_to_groups(
    x: NDArray[np.float64], w: NDArray[np.float64], n_groups: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Merge sorted distinct values into ``n_groups`` groups of about equal weight.

    Returns the groups' weighted means, weights and maxima (the candidate class bounds).
    """
    cw = np.cumsum(w)
    group = np.minimum((cw - w / 2) / cw[-1] * n_groups, n_groups - 1).astype(np.int64)
    weight = np.bincount(group, weights=w, minlength=n_groups)
    total = np.bincount(group, weights=w * x, minlength=n_groups)
    keep = weight > 0
    top = np.full(n_groups, -np.inf)
    np.maximum.at(top, group, x)
    return (total[keep] / weight[keep]), weight[keep], top[keep]


def fisher_jenks_bins(values: ArrayLike, k: int, max_values: int = MAX_JENKS_VALUES) -> NDArray[np.float64]:
    """Jenks natural breaks (自然断点) by Fisher's exact dynamic programme: the ``k`` classes of least
    total within-class sum of squared deviations.

    Runs on the distinct values weighted by how often each occurs, one numpy matrix per class (an
    ``m × m`` array for ``m`` distinct values), so ties cost nothing.

    Parameters
    ----------
    values : array_like of float
        NaN values are ignored.
    k : int
        Number of classes.
    max_values : int
        More distinct values than this are first merged into this many equal-count groups.

    Returns
    -------
    ndarray of float64
        Upper bound of each class, ascending; fewer than ``k`` when there are fewer distinct values.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if not len(v):
        return np.empty(0)
    x, counts = np.unique(v, return_counts=True)
    w = counts.astype(np.float64)
    top = x
    if len(x) > max_values:
        x, w, top = _merge_to_groups(x, w, max_values)
    m = len(x)
    if m <= k:
        return top.astype(np.float64)
    # prefix sums with a leading 0: segment [a, b) of the sorted values
    cw = np.concatenate([[0.0], np.cumsum(w)])
    c1 = np.concatenate([[0.0], np.cumsum(w * x)])
    c2 = np.concatenate([[0.0], np.cumsum(w * x * x)])
    a = np.arange(m + 1)[:, None]
    b = np.arange(m + 1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        ssd = (c2[b] - c2[a]) - (c1[b] - c1[a]) ** 2 / (cw[b] - cw[a])
    ssd = np.where(b > a, np.maximum(ssd, 0.0), np.inf)
    cost = ssd[0].copy()  # one class: segment [0, j)
    back = np.zeros((k, m + 1), dtype=np.int64)
    for c in range(1, k):
        total = cost[:, None] + ssd  # last class is [a, j), the first c classes end at a
        total[:c, :] = np.inf  # c classes need at least c values before a
        back[c] = np.argmin(total, axis=0)
        cost = total[back[c], np.arange(m + 1)]
    ends = [m]
    for c in range(k - 1, 0, -1):
        ends.append(int(back[c, ends[-1]]))
    ends = np.array(ends[::-1])  # exclusive end of each class
    return top[ends - 1].astype(np.float64)


# --------------------------------------------------------------------------------------------------
# classify


def _number_format(values: NDArray[np.float64]) -> tuple[Callable[[float], str], bool]:
    """A number formatter fitting the data, and whether the data are whole numbers."""
    finite = values[np.isfinite(values)]
    integer = bool(len(finite)) and bool(np.all(np.equal(np.mod(finite, 1), 0)))
    if integer:
        return (lambda x: f"{x:,.0f}"), True
    span = float(np.nanmax(np.abs(finite))) if len(finite) else 0.0
    digits = 0 if span >= 100 else 1 if span >= 1 else 2
    return (lambda x: f"{x:,.{digits}f}"), False


def _labels(
    bins: NDArray[np.float64],
    fmt: Callable[[float], str],
    integer: bool,
    unit: str,
    lowest: float | None = None,
    highest: float | None = None,
) -> tuple[str, ...]:
    """Chinese range labels: ``12 起及以下``, ``13–25 起``, …, ``101 起及以上`` (whole numbers) or
    ``2.5以上``. A class that holds one whole number says just it (``2 起``, never ``2–2 起``; ``0 起``
    when nothing is below 0, never ``0 起及以下``); ``lowest`` and ``highest`` are the data's extremes."""
    u = f" {unit}" if unit else ""
    first = f"{fmt(bins[0])}{u}" if lowest is not None and lowest >= bins[0] else f"{fmt(bins[0])}{u}及以下"
    if len(bins) == 1:
        return (first,)
    out = [first]
    for lo, hi in itertools.pairwise(bins[:-1]):
        low = fmt(math.floor(lo) + 1) if integer else fmt(lo)
        out.append(f"{low}{u}" if integer and math.floor(lo) + 1 == hi else f"{low}–{fmt(hi)}{u}")
    if integer:
        top = math.floor(bins[-2]) + 1
        only = highest is not None and highest <= top
        out.append(f"{fmt(top)}{u}" if only else f"{fmt(top)}{u}及以上")
    else:
        out.append(f"{fmt(bins[-2])}{u}以上")
    return tuple(out)


def classify(
    values: ArrayLike,
    scheme: str = "fisher_jenks",
    k: int = 5,
    *,
    theme: str = "light",
    ramp_name: str | None = None,
    unit: str = "",
    alpha: int | None = None,
    bins: Sequence[float] | None = None,
) -> Classes:
    """Classed colour scale (分级设色) of numeric values.

    Parameters
    ----------
    values : array_like of float
        The values the classes are fitted to (NaN ignored).
    scheme : {"quantiles", "equal_interval", "fisher_jenks", "natural_breaks"}
        Classification; ``natural_breaks`` is Jenks' natural breaks, i.e. ``fisher_jenks``.
    k : int
        Number of classes wanted (fewer when the values have fewer distinct values).
    theme : {"light", "dark"}
        ``dark``: the wall's ramp (dim → bright) and a stronger alpha.
    ramp_name : str, optional
        A key of :data:`SEQUENTIAL`; default per theme (YlOrRd light, inferno dark).
    unit : str
        Unit appended in labels (``起``, ``%``, ``人``).
    alpha : int, optional
        Fill alpha 0–255 (default 200 light, 225 dark).
    bins : sequence of float, optional
        Fixed upper bounds instead of a scheme (e.g. the same classes for two periods).

    Returns
    -------
    Classes
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, not {scheme!r}")
    v = pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce")
    y = v.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = y[np.isfinite(y)]
    if bins is not None:
        upper = np.unique(np.asarray(bins, dtype=np.float64))
    elif not len(finite):
        upper = np.array([0.0])
    elif len(np.unique(finite)) <= k:
        upper = np.unique(finite)
    elif scheme in ("fisher_jenks", "natural_breaks"):
        upper = fisher_jenks_bins(finite, k)
    else:
        cls = mapclassify.Quantiles if scheme == "quantiles" else mapclassify.EqualInterval
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mapclassify warns when ties merge quantiles
            upper = np.unique(np.asarray(cls(finite, k=k).bins, dtype=np.float64))
    alpha = alpha if alpha is not None else (225 if theme == "dark" else 200)
    colours = ramp(ramp_name or DEFAULT_RAMP[theme], len(upper), theme, alpha)
    fmt, integer = _number_format(np.concatenate([finite, upper]))
    return Classes(
        colours=tuple(colours),
        labels=_labels(
            upper,
            fmt,
            integer,
            unit,
            float(finite.min()) if len(finite) else None,
            float(finite.max()) if len(finite) else None,
        ),
        no_data_colour=_NO_DATA[theme],
        no_data_label=NO_DATA_LABEL,
        bins=tuple(float(b) for b in upper),
        scheme="fixed" if bins is not None else scheme,
    )


def _categorical(
    categories: Iterable, colours: Iterable[str], labels: Iterable[str], theme: str, alpha: int
) -> CategoricalClasses:
    return CategoricalClasses(
        colours=tuple(hex_to_rgba(c, alpha) for c in colours),
        labels=tuple(labels),
        no_data_colour=_NO_DATA[theme],
        no_data_label=NO_DATA_LABEL,
        categories=tuple(categories),
    )


def gi_classes(
    theme: str = "light", alpha: int | None = None, not_testable: bool = True
) -> CategoricalClasses:
    """Diverging scale of Getis–Ord Gi* confidence bins (冷热点): 热点99 … 不显著 … 冷点99.

    Classify ``gi_bin`` values (-3 … 3, ``geo.hotspots.getis_ord``); the no-data class is 不可检验
    (islands) when ``not_testable``.

    Parameters
    ----------
    theme : {"light", "dark"}
    alpha : int, optional
        Fill alpha (default 200 light, 225 dark); 不显著 is drawn at a third of it.
    not_testable : bool
        Label the no-data class 不可检验 rather than 无数据.

    Returns
    -------
    CategoricalClasses
        Categories ``(3, 2, 1, 0, -1, -2, -3)``.
    """
    a = alpha if alpha is not None else (225 if theme == "dark" else 200)
    bins = (3, 2, 1, 0, -1, -2, -3)
    out = _categorical(bins, _GI_COLOURS[theme], (GI_LABELS[b] for b in bins), theme, a)
    colours = list(out.colours)
    colours[3] = (*colours[3][:3], a // 3)  # 不显著 stays in the background
    label = NOT_TESTABLE if not_testable else NO_DATA_LABEL
    return CategoricalClasses(
        colours=tuple(colours),
        labels=out.labels,
        no_data_colour=out.no_data_colour,
        no_data_label=label,
        categories=bins,
    )


def category_classes(
    categories: Iterable[str] | None = None, theme: str = "light", alpha: int = 230
) -> CategoricalClasses:
    """Categorical scale of incident categories (警情类别 刑事 … 非警务).

    Parameters
    ----------
    categories : iterable of str, optional
        Categories in legend order (default the eight of ``data.schema.INCIDENT_CATEGORIES``); an
        unknown category gets a neutral grey.
    theme : {"light", "dark"}
    alpha : int

    Returns
    -------
    CategoricalClasses
    """
    table = CATEGORY_COLOURS[theme]
    cats = list(table) if categories is None else [str(c) for c in categories]
    colours = [table.get(c, _OTHER_COLOUR[theme]) for c in cats]
    return _categorical(cats, colours, cats, theme, alpha)


#: Point layers of the map (地图点位图层) → colour, one per layer, apart from the incident categories.
MAP_LAYER_COLOURS: dict[str, dict[str, str]] = {
    "light": {
        "stations": "#1d3557",
        "hazards": "#e8590c",
        "disputes": "#7048e8",
        "concern": "#c92a2a",
        "cameras": "#0c8599",
    },
    "dark": {
        "stations": "#a5d8ff",
        "hazards": "#ff922b",
        "disputes": "#b197fc",
        "concern": "#ff6b6b",
        "cameras": "#3bc9db",
    },
}


def layer_classes(
    layers: Iterable[str], labels: Iterable[str], theme: str = "light", alpha: int = 230
) -> CategoricalClasses:
    """One colour per map point layer (:data:`MAP_LAYER_COLOURS`; grey for another layer id).

    Parameters
    ----------
    layers : iterable of str
        Layer ids (the categories: colour a frame by a column holding the layer id).
    labels : iterable of str
        Their legend labels, in the same order.
    theme : {"light", "dark"}
    alpha : int
    """
    keys = [str(k) for k in layers]
    table = MAP_LAYER_COLOURS[theme]
    return _categorical(keys, (table.get(k, _OTHER_COLOUR[theme]) for k in keys), labels, theme, alpha)


def work_order_classes(theme: str = "light", alpha: int = 255) -> CategoricalClasses:
    """Categorical scale of work-order states (工单状态 待签收 … 升级)."""
    return _categorical(WORK_ORDER_COLOURS, WORK_ORDER_COLOURS.values(), WORK_ORDER_COLOURS, theme, alpha)
