"""Coordinate reference systems (坐标系) for Chinese data.

Three families of lon/lat coordinates are met in Chinese field data:

* **WGS84** (EPSG:4326) and **CGCS2000** (国家大地坐标系 2000, EPSG:4490). CGCS2000 agrees with
  WGS84 to within centimetres and pyproj treats 4490 -> 4326 as the identity; this module does the
  same. Every layer of the product is stored in EPSG:4326.
* **GCJ-02** (火星坐标, "Mars coordinates"): the obfuscated datum required of published Chinese maps
  (AMap/高德, Tencent/腾讯, Google China). It is WGS84 plus a smooth, deterministic offset of
  roughly 100-700 m. The published forward algorithm is implemented exactly here, with an exact
  iterative inverse.
* **BD-09** (百度坐标): Baidu's further rotation/scale of GCJ-02, a few hundred metres more.

Projected CRSs (EPSG codes such as CGCS2000 3-degree Gauss–Krüger 高斯-克吕格 zones, EPSG:4534 to
EPSG:4554, or UTM) are handled by pyproj.

Out-of-China behaviour
----------------------
The GCJ-02 and BD-09 transforms are applied to **every** point, inside or outside China. Many
implementations silently return points outside a "China" rectangle unchanged; this module does not,
because

* the declared CRS of the data is the source of truth: data declared GCJ-02 were offset by whoever
  produced them, wherever the points lie, so skipping some would leave them wrong by hundreds of
  metres without any notice;
* a skip rule creates a jump of hundreds of metres at an arbitrary rectangle edge (and libraries
  disagree on where that edge is), which breaks geometries straddling it and makes the inverse
  no longer an inverse;
* points outside China are a data-quality problem that :func:`check_lonlat` reports explicitly
  (``"outside_china"``, ``"swapped"``, ...), rather than something to hide inside a transform.

Missing values: NaN (or ``None``/``pd.NA``) in gives NaN out, never an exception. Non-finite
inputs (``inf``) also give NaN.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CHINA_BBOX",
    "EARTH_RADIUS_M",
    "CRSSpec",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_lonlat",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "haversine_m",
    "parse_crs",
    "projected_crs_for",
    "to_wgs84",
    "to_wgs84_xy",
    "transformer",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

# --------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------

#: Krasovsky 1940 ellipsoid (克拉索夫斯基椭球) semi-major axis used by GCJ-02, metres.
KRASOVSKY_A = 6378245.0
#: Krasovsky 1940 first eccentricity squared as used by the published GCJ-02 algorithm.
KRASOVSKY_EE = 0.00669342162296594323
#: Baidu's constant ``x_pi = pi * 3000 / 180``.
BD_X_PI = np.pi * 3000.0 / 180.0
#: Baidu's constant offsets (degrees).
BD_DLON = 0.0065
BD_DLAT = 0.006

#: Mean Earth radius (IUGG R1), metres, used by :func:`haversine_m`.
EARTH_RADIUS_M = 6371008.8

#: Generous bounding box of China (lon_min, lat_min, lon_max, lat_max), degrees. It is a *bounding
#: box*, not the border: it also contains parts of neighbouring countries and sea.
CHINA_BBOX = (73.4, 3.8, 135.1, 53.6)

#: Range of longitude/latitude where the CGCS2000 3-degree Gauss–Krüger zones 75E..135E are used.
_GK_LON_RANGE = (73.5, 136.5)
_GK_LAT_RANGE = (3.0, 54.0)
#: EPSG code of "CGCS2000 / 3-degree Gauss-Kruger CM 75E" (no zone prefix in the easting).
_GK_FIRST_EPSG = 4534
_GK_FIRST_CM = 75
_GK_LAST_CM = 135

DEFAULT_TOL_DEG = 1e-9
DEFAULT_MAX_ITER = 50

_T = TypeVar("_T")

# --------------------------------------------------------------------------------------------------
# Array helpers
# --------------------------------------------------------------------------------------------------


def _as_float_array(values: ArrayLike) -> NDArray[np.float64]:
    """Convert scalars/array-likes to a float64 array, mapping ``None``/``pd.NA``/``NaT`` to NaN."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        obj = np.array(values, dtype=object)
        missing = pd.isna(obj)
        obj[missing] = np.nan
        return obj.astype(np.float64)


def _prepare_pair(a: ArrayLike, b: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    """Broadcast two coordinate inputs to float arrays; also report whether both were scalars."""
    fa = _as_float_array(a)
    fb = _as_float_array(b)
    scalar = fa.ndim == 0 and fb.ndim == 0
    fa, fb = np.broadcast_arrays(fa, fb)
    return np.array(fa, dtype=np.float64), np.array(fb, dtype=np.float64), scalar


def _finish(x: NDArray[np.float64], y: NDArray[np.float64], scalar: bool) -> tuple[Any, Any]:
    """Return floats for scalar input, arrays otherwise."""
    if scalar:
        return float(x), float(y)
    return x, y


# --------------------------------------------------------------------------------------------------
# GCJ-02 (火星坐标) and BD-09 (百度坐标)
# --------------------------------------------------------------------------------------------------


def _transform_lat(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Published GCJ-02 latitude distortion in metres, for ``x = lon - 105``, ``y = lat - 35``."""
    pi = np.pi
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Published GCJ-02 longitude distortion in metres, for ``x = lon - 105``, ``y = lat - 35``."""
    pi = np.pi
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    return ret


def _wgs_to_gcj(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """Array-only GCJ-02 forward transform (no input normalisation)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        x = lon - 105.0
        y = lat - 35.0
        dlat = _transform_lat(x, y)
        dlon = _transform_lon(x, y)
        radlat = lat / 180.0 * np.pi
        magic = 1.0 - KRASOVSKY_EE * np.sin(radlat) ** 2
        sqrtmagic = np.sqrt(magic)
        dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrtmagic) * np.pi)
        dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrtmagic * np.cos(radlat) * np.pi)
        return lon + dlon, lat + dlat


def _gcj_to_bd(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """Array-only BD-09 forward transform from GCJ-02."""
    with np.errstate(invalid="ignore"):
        z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * BD_X_PI)
        theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * BD_X_PI)
        return z * np.cos(theta) + BD_DLON, z * np.sin(theta) + BD_DLAT


def _bd_to_gcj_approx(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """The commonly published (approximate, ~1e-6 deg) BD-09 -> GCJ-02 formula."""
    with np.errstate(invalid="ignore"):
        x = lon - BD_DLON
        y = lat - BD_DLAT
        z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * BD_X_PI)
        theta = np.arctan2(y, x) - 0.000003 * np.cos(x * BD_X_PI)
        return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[NDArray, NDArray], tuple[NDArray, NDArray]],
    target_x: NDArray[np.float64],
    target_y: NDArray[np.float64],
    x0: NDArray[np.float64],
    y0: NDArray[np.float64],
    tol: float,
    max_iter: int,
    name: str,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Invert a near-identity ``forward`` by fixed-point iteration over whole arrays.

    Iterates ``p <- p - (forward(p) - target)`` on the points that have not yet converged (the
    Jacobian of the GCJ/BD offsets is ~1e-3 away from identity, so each step gains about three
    decimal digits). A point has converged when both residual components are ``<= tol`` degrees;
    the last update is applied after that test, so the final error is far below ``tol``.
    Non-finite targets give NaN. Points still unconverged after ``max_iter`` steps keep their last
    iterate (NaN if the iteration diverged) and a :class:`RuntimeWarning` is emitted.
    """
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter!r}")
    valid = np.isfinite(target_x) & np.isfinite(target_y)
    x = np.where(valid, x0, np.nan)
    y = np.where(valid, y0, np.nan)
    flat_x, flat_y = x.reshape(-1), y.reshape(-1)  # views on the (contiguous) results
    tx, ty = target_x.reshape(-1), target_y.reshape(-1)
    idx = np.flatnonzero(valid.reshape(-1))
    for _ in range(max_iter):
        if idx.size == 0:
            break
        fx, fy = forward(flat_x[idx], flat_y[idx])
        dx = fx - tx[idx]
        dy = fy - ty[idx]
        flat_x[idx] -= dx
        flat_y[idx] -= dy
        done = (np.abs(dx) <= tol) & (np.abs(dy) <= tol)
        idx = idx[~done]
    if idx.size:
        warnings.warn(
            f"{name}: {idx.size} point(s) did not converge to tol={tol:g} deg in {max_iter} "
            "iterations (e.g. near the poles); their last iterate (possibly NaN) is returned.",
            RuntimeWarning,
            stacklevel=3,
        )
    return x, y


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert WGS84 lon/lat to GCJ-02 (火星坐标) with the published algorithm.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 longitude and latitude in degrees; broadcast against each other.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        GCJ-02 longitude and latitude (floats if both inputs are scalars). NaN where the input is
        missing or non-finite.

    Notes
    -----
    Uses the Krasovsky 1940 ellipsoid (a = 6378245.0, e² = 0.00669342162296594323) and the standard
    ``_transform_lat``/``_transform_lon`` polynomials. Applied everywhere, including outside China
    (see the module docstring).
    """
    x, y, scalar = _prepare_pair(lon, lat)
    ok = np.isfinite(x) & np.isfinite(y)
    gx, gy = _wgs_to_gcj(x, y)
    return _finish(np.where(ok, gx, np.nan), np.where(ok, gy, np.nan), scalar)


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, tol: float = DEFAULT_TOL_DEG, max_iter: int = DEFAULT_MAX_ITER
) -> tuple[Any, Any]:
    """Convert GCJ-02 (火星坐标) lon/lat to WGS84, exactly, by iteration.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees.
    tol : float, default 1e-9
        Convergence tolerance in degrees on the forward residual ``wgs84_to_gcj02(result) - input``
        (1e-9 deg is about 0.1 mm).
    max_iter : int, default 50
        Maximum number of iterations; in China 3-5 are needed.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        WGS84 longitude and latitude, such that ``wgs84_to_gcj02`` of them reproduces the input to
        within ``tol``. NaN for missing input.

    Warns
    -----
    RuntimeWarning
        If some points did not converge within ``max_iter`` (only happens near the poles).
    """
    x, y, scalar = _prepare_pair(lon, lat)
    fx, fy = _wgs_to_gcj(x, y)
    x0, y0 = 2.0 * x - fx, 2.0 * y - fy  # the usual one-step "rough" inverse as a start
    wx, wy = _invert(_wgs_to_gcj, x, y, x0, y0, tol, max_iter, "gcj02_to_wgs84")
    return _finish(wx, wy, scalar)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert GCJ-02 lon/lat to BD-09 (百度坐标) with the standard Baidu formula.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        BD-09 longitude and latitude. NaN for missing input.

    Notes
    -----
    ``z = hypot(x, y) + 2e-5 sin(y x_pi)``, ``θ = atan2(y, x) + 3e-6 cos(x x_pi)`` with
    ``x_pi = π·3000/180``, then ``(z cos θ + 0.0065, z sin θ + 0.006)``.
    """
    x, y, scalar = _prepare_pair(lon, lat)
    ok = np.isfinite(x) & np.isfinite(y)
    bx, by = _gcj_to_bd(x, y)
    return _finish(np.where(ok, bx, np.nan), np.where(ok, by, np.nan), scalar)


def bd09_to_gcj02(
    lon: ArrayLike, lat: ArrayLike, tol: float = DEFAULT_TOL_DEG, max_iter: int = DEFAULT_MAX_ITER
) -> tuple[Any, Any]:
    """Convert BD-09 (百度坐标) lon/lat to GCJ-02, exactly, by iteration.

    Starts from the commonly published approximate inverse (accurate to ~1e-6 deg) and refines it
    by fixed-point iteration until ``gcj02_to_bd09(result)`` reproduces the input within ``tol``.

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees.
    tol : float, default 1e-9
        Convergence tolerance in degrees on the forward residual.
    max_iter : int, default 50
        Maximum number of iterations.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        GCJ-02 longitude and latitude. NaN for missing input.
    """
    x, y, scalar = _prepare_pair(lon, lat)
    x0, y0 = _bd_to_gcj_approx(x, y)
    gx, gy = _invert(_gcj_to_bd, x, y, x0, y0, tol, max_iter, "bd09_to_gcj02")
    return _finish(gx, gy, scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert WGS84 lon/lat to BD-09 (百度坐标), via GCJ-02.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 longitude and latitude in degrees.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        BD-09 longitude and latitude. NaN for missing input.
    """
    x, y, scalar = _prepare_pair(lon, lat)
    ok = np.isfinite(x) & np.isfinite(y)
    bx, by = _gcj_to_bd(*_wgs_to_gcj(x, y))
    return _finish(np.where(ok, bx, np.nan), np.where(ok, by, np.nan), scalar)


def bd09_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, tol: float = DEFAULT_TOL_DEG, max_iter: int = DEFAULT_MAX_ITER
) -> tuple[Any, Any]:
    """Convert BD-09 (百度坐标) lon/lat to WGS84 exactly (both inverse steps iterate).

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees.
    tol : float, default 1e-9
        Convergence tolerance in degrees, applied to each of the two inverse steps.
    max_iter : int, default 50
        Maximum number of iterations of each step.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        WGS84 longitude and latitude. NaN for missing input.
    """
    x, y, scalar = _prepare_pair(lon, lat)
    gx, gy = bd09_to_gcj02(x, y, tol=tol, max_iter=max_iter)
    wx, wy = gcj02_to_wgs84(gx, gy, tol=tol, max_iter=max_iter)
    return _finish(np.asarray(wx, dtype=np.float64), np.asarray(wy, dtype=np.float64), scalar)


# --------------------------------------------------------------------------------------------------
# CRS specification
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CRSSpec:
    """A parsed coordinate reference system.

    Attributes
    ----------
    kind : {"epsg", "gcj02", "bd09"}
        ``"epsg"`` for anything pyproj knows by EPSG code; ``"gcj02"``/``"bd09"`` for the Chinese
        obfuscated lon/lat systems, which have no EPSG code.
    epsg : int or None
        The EPSG code for ``kind == "epsg"``, else ``None``.
    label : str
        Human-readable label, e.g. ``"EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E)"``.
    """

    kind: Literal["epsg", "gcj02", "bd09"]
    epsg: int | None
    label: str


_GCJ_LABEL = "GCJ-02 (火星坐标)"
_BD_LABEL = "BD-09 (百度坐标)"

#: Accepted names (compared after upper-casing and removing spaces, '-' and '_').
_NAMED: dict[str, tuple[Literal["epsg", "gcj02", "bd09"], int | None]] = {
    "WGS84": ("epsg", 4326),
    "CGCS2000": ("epsg", 4490),
    "GCJ02": ("gcj02", None),
    "火星": ("gcj02", None),
    "火星坐标": ("gcj02", None),
    "火星坐标系": ("gcj02", None),
    "BD09": ("bd09", None),
    "BD09LL": ("bd09", None),
    "百度": ("bd09", None),
    "百度坐标": ("bd09", None),
    "百度坐标系": ("bd09", None),
}

_ACCEPTED_HELP = (
    "accepted: an EPSG code as int (4326) or text ('4490', 'EPSG:4549'), 'WGS84', 'CGCS2000', "
    "'GCJ02'/'GCJ-02'/'火星', 'BD09'/'BD-09'/'百度' (case-insensitive), a pyproj.CRS with an EPSG "
    "code, or a CRSSpec"
)


@functools.lru_cache(maxsize=256)
def _epsg_spec(code: int) -> CRSSpec:
    """Validate an EPSG code with pyproj and build its :class:`CRSSpec`."""
    try:
        crs = pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError as exc:
        raise ValueError(f"unknown EPSG code {code}: {exc}") from exc
    return CRSSpec(kind="epsg", epsg=code, label=f"EPSG:{code} ({crs.name})")


def parse_crs(value: object) -> CRSSpec:
    """Parse a CRS given in any of the spellings met in Chinese data.

    Parameters
    ----------
    value : int, str, pyproj.CRS or CRSSpec
        * ``int``: an EPSG code, e.g. ``4326``;
        * ``str``: ``"EPSG:4326"``, ``"4490"``, ``"WGS84"``, ``"CGCS2000"``,
          ``"GCJ02"``/``"GCJ-02"``/``"gcj02"``/``"火星"``, ``"BD09"``/``"BD-09"``/``"百度"``
          (case, spaces, ``-`` and ``_`` are ignored);
        * ``pyproj.CRS``: must be identifiable by an EPSG code (``CRS.to_epsg()``);
        * ``CRSSpec``: returned unchanged.

    Returns
    -------
    CRSSpec

    Raises
    ------
    ValueError
        Unknown text, an EPSG code pyproj does not know, or a pyproj.CRS without an EPSG code. The
        message lists what is accepted.
    TypeError
        Any other type (including ``bool`` and ``float``).

    Notes
    -----
    EPSG:4490 (CGCS2000) is kept as its own code; converting it to EPSG:4326 is the identity in
    pyproj, which is correct to within centimetres.
    """
    if isinstance(value, CRSSpec):
        return value
    if isinstance(value, bool):
        raise TypeError(f"cannot parse a CRS from a bool ({value!r}); {_ACCEPTED_HELP}")
    if isinstance(value, int | np.integer):
        return _epsg_spec(int(value))
    if isinstance(value, pyproj.CRS):
        code = value.to_epsg()
        if code is None:
            raise ValueError(f"pyproj.CRS {value.name!r} has no EPSG code; {_ACCEPTED_HELP}")
        return _epsg_spec(int(code))
    if isinstance(value, str):
        text = value.strip()
        key = text.upper().replace(" ", "").replace("-", "").replace("_", "")
        if key in _NAMED:
            kind, code = _NAMED[key]
            if kind == "epsg":
                assert code is not None
                return _epsg_spec(code)
            return CRSSpec(kind=kind, epsg=None, label=_GCJ_LABEL if kind == "gcj02" else _BD_LABEL)
        if key.startswith("EPSG:"):
            key = key[len("EPSG:") :]
        if key.isascii() and key.isdigit():
            return _epsg_spec(int(key))
        raise ValueError(f"unknown CRS {value!r}; {_ACCEPTED_HELP}")
    raise TypeError(f"cannot parse a CRS from {type(value).__name__}; {_ACCEPTED_HELP}")


# --------------------------------------------------------------------------------------------------
# Conversion to WGS84
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=128)
def transformer(src: int | str | pyproj.CRS, dst: int | str | pyproj.CRS) -> pyproj.Transformer:
    """A cached pyproj transformer from ``src`` to ``dst`` in lon/lat (x, y) order.

    ``Transformer.from_crs`` looks the operation up in PROJ's database: 50–300 ms a call measured on
    this 2-core machine under load, more than projecting a few thousand points, and paid on every map
    layer, density surface and coverage figure of a dashboard view. pyproj's transformers are
    thread-safe since 3.1 (one PROJ object per thread), so one cached instance serves every request.
    """
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


@functools.lru_cache(maxsize=64)
def _transformer_to_wgs84(code: int) -> pyproj.Transformer:
    """Cached pyproj transformer from ``EPSG:code`` to EPSG:4326, lon/lat order."""
    try:
        return pyproj.Transformer.from_crs(code, 4326, always_xy=True)
    except pyproj.exceptions.ProjError as exc:  # e.g. a vertical CRS
        raise ValueError(f"cannot transform EPSG:{code} to EPSG:4326: {exc}") from exc


def _xy_to_wgs84(
    x: NDArray[np.float64], y: NDArray[np.float64], spec: CRSSpec
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Array-only conversion of x/y in ``spec`` to WGS84 lon/lat."""
    if spec.kind == "gcj02":
        lon, lat = gcj02_to_wgs84(x, y)
    elif spec.kind == "bd09":
        lon, lat = bd09_to_wgs84(x, y)
    elif spec.epsg == 4326:
        lon, lat = x.copy(), y.copy()
    else:
        assert spec.epsg is not None
        lon, lat = _transformer_to_wgs84(spec.epsg).transform(x, y)
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))  # PROJ reports failures as inf
    if bad.any():
        lon = np.where(bad, np.nan, lon)
        lat = np.where(bad, np.nan, lat)
    return lon, lat


def to_wgs84_xy(x: ArrayLike, y: ArrayLike, crs: object) -> tuple[Any, Any]:
    """Convert coordinates in any supported CRS to WGS84 (EPSG:4326) lon/lat.

    Parameters
    ----------
    x, y : float or array_like
        Coordinates in ``crs`` (lon/lat for geographic CRSs and GCJ-02/BD-09; easting/northing for
        projected CRSs, always in x/y order whatever the CRS axis order).
    crs : object
        Anything :func:`parse_crs` accepts.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        WGS84 lon/lat (floats if both inputs are scalars). NaN for missing input and for points
        pyproj cannot transform.

    Notes
    -----
    EPSG codes go through a pyproj ``Transformer`` (``always_xy=True``) cached per code; GCJ-02 and
    BD-09 go through the exact inverses :func:`gcj02_to_wgs84` and :func:`bd09_to_wgs84`.
    """
    spec = parse_crs(crs)
    fx, fy, scalar = _prepare_pair(x, y)
    lon, lat = _xy_to_wgs84(fx, fy, spec)
    return _finish(lon, lat, scalar)


def to_wgs84(data: _T, crs: object | None = None) -> _T:
    """Convert a GeoDataFrame or GeoSeries to EPSG:4326 (WGS84), including from GCJ-02/BD-09.

    Parameters
    ----------
    data : geopandas.GeoDataFrame or geopandas.GeoSeries
        Geometries of any type (points, lines, polygons, multi-parts, collections; empty and
        missing geometries are kept as they are). Z coordinates are passed through unchanged.
    crs : object, optional
        Source CRS, anything :func:`parse_crs` accepts. It takes precedence over ``data.crs``,
        because GCJ-02/BD-09 data usually arrive mislabelled as EPSG:4326 or unlabelled. If omitted,
        ``data.crs`` is used.

    Returns
    -------
    Same type as ``data``
        A copy whose active geometry column is in EPSG:4326 (other columns, including any other
        geometry columns of a GeoDataFrame, are unchanged).

    Raises
    ------
    ValueError
        If no CRS is given and ``data.crs`` is not set, or if ``crs`` is GCJ-02/BD-09 while
        ``data.crs`` is a projected CRS (GCJ-02/BD-09 are lon/lat systems, so that is a mistake).

    Notes
    -----
    Every coordinate is transformed with one vectorised ``shapely.transform`` call, for EPSG codes
    and GCJ-02/BD-09 alike.
    """
    import geopandas as gpd  # local import: keeps geopandas off the import path of array users

    if not isinstance(data, gpd.GeoDataFrame | gpd.GeoSeries):
        raise TypeError(f"to_wgs84 expects a GeoDataFrame or GeoSeries, got {type(data).__name__}")
    source = crs if crs is not None else data.crs
    if source is None:
        raise ValueError("to_wgs84: the data have no CRS; pass crs=... (e.g. 'gcj02', 4326, 4549)")
    spec = parse_crs(source)
    if spec.kind != "epsg" and data.crs is not None and data.crs.is_projected:
        raise ValueError(
            f"to_wgs84: crs={spec.label} is a lon/lat system but the data are labelled with the "
            f"projected CRS {data.crs.name!r}"
        )

    def _func(
        x: NDArray[np.float64], y: NDArray[np.float64], z: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        lon, lat = _xy_to_wgs84(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), spec)
        return lon, lat, z

    geoms = np.asarray(data.geometry.array, dtype=object)
    out = shapely.transform(geoms, _func, include_z=True, interleaved=False)
    new_geom = gpd.GeoSeries(out, index=data.index, crs="EPSG:4326", name=data.geometry.name)
    if isinstance(data, gpd.GeoSeries):
        return new_geom  # type: ignore[return-value]
    result = data.copy()
    result[data.geometry.name] = new_geom
    return result.set_geometry(data.geometry.name, crs="EPSG:4326")  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------
# Projected CRS for measuring
# --------------------------------------------------------------------------------------------------


def projected_crs_for(lon: ArrayLike, lat: ArrayLike) -> int:
    """EPSG code of a metric projected CRS suited to measuring areas (m²) and distances (m).

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 lon/lat of the data; the median of the finite values is used.

    Returns
    -------
    int
        Inside 73.5 <= lon <= 136.5 and 3 <= lat <= 54: the CGCS2000 3-degree Gauss–Krüger zone
        (高斯-克吕格 3 度带) *without* zone prefix in the easting, EPSG:4534 (central meridian 75°E)
        to EPSG:4554 (135°E), with central meridian ``3 * round(lon / 3)`` (halves rounded up).
        Elsewhere: the WGS84 UTM zone, EPSG:326xx (north) or 327xx (south), without the
        Norway/Svalbard exceptions.

    Raises
    ------
    ValueError
        If there is no finite lon/lat pair.

    Notes
    -----
    The median longitude is not meaningful for data spanning the antimeridian; that does not occur
    for Chinese data.
    """
    x, y, _ = _prepare_pair(lon, lat)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        raise ValueError("projected_crs_for: no finite lon/lat pair")
    mlon = float(np.median(x[ok]))
    mlat = float(np.median(y[ok]))
    if _GK_LON_RANGE[0] <= mlon <= _GK_LON_RANGE[1] and _GK_LAT_RANGE[0] <= mlat <= _GK_LAT_RANGE[1]:
        cm = 3 * int(np.floor(mlon / 3.0 + 0.5))
        cm = min(max(cm, _GK_FIRST_CM), _GK_LAST_CM)
        return _GK_FIRST_EPSG + (cm - _GK_FIRST_CM) // 3
    zone = int(np.floor((mlon + 180.0) / 6.0)) + 1
    zone = min(max(zone, 1), 60)
    return (32600 if mlat >= 0 else 32700) + zone


# --------------------------------------------------------------------------------------------------
# Validation and distances
# --------------------------------------------------------------------------------------------------


def _in_china_bbox(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    lon_min, lat_min, lon_max, lat_max = CHINA_BBOX
    return (lon >= lon_min) & (lon <= lon_max) & (lat >= lat_min) & (lat <= lat_max)


def check_lonlat(lon: ArrayLike, lat: ArrayLike) -> Any:
    """Classify lon/lat pairs for data validation.

    Parameters
    ----------
    lon, lat : scalar or array_like
        Longitude and latitude in degrees (WGS84, CGCS2000 or GCJ-02/BD-09: the check is coarse
        enough for all of them). ``None``/``pd.NA`` count as missing.

    Returns
    -------
    numpy.ndarray of str, or str
        One label per pair (a plain ``str`` if both inputs are scalars), the first that applies:

        * ``"missing"``: lon or lat is NaN/None;
        * ``"ok"``: inside the China bounding box;
        * ``"swapped"``: not inside the box, but (lat, lon) is -- the columns were exchanged
          (checked before range, since a swapped Chinese pair has "latitude" > 90);
        * ``"out_of_range"``: |lon| > 180 or |lat| > 90 (or infinite);
        * ``"outside_china"``: a valid position outside the box.

    Notes
    -----
    The China test uses a generous bounding box, :data:`CHINA_BBOX` = lon 73.4–135.1,
    lat 3.8–53.6. It is a **bounding box, not the border**: points in neighbouring countries or at
    sea inside the box are "ok". It is meant to catch gross errors (swapped columns, projected
    metres in a lon/lat column, zeros, data from elsewhere), not to decide jurisdiction.
    """
    x, y, scalar = _prepare_pair(lon, lat)
    missing = np.isnan(x) | np.isnan(y)
    ok = _in_china_bbox(x, y)
    swapped = _in_china_bbox(y, x)
    out_of_range = ~(np.abs(x) <= 180.0) | ~(np.abs(y) <= 90.0)
    labels = np.select(
        [missing, ok, swapped, out_of_range],
        ["missing", "ok", "swapped", "out_of_range"],
        default="outside_china",
    ).astype("<U13")
    if scalar:
        return str(labels[()])
    return labels


def haversine_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> Any:
    """Great-circle distance in metres between lon/lat points (haversine formula, vectorised).

    Parameters
    ----------
    lon1, lat1, lon2, lat2 : float or array_like
        Degrees; broadcast against each other.

    Returns
    -------
    float or numpy.ndarray
        Distance in metres on a sphere of radius :data:`EARTH_RADIUS_M` (6371008.8 m); a float if
        all inputs are scalars. NaN where any input is missing. Error versus the ellipsoid is up to
        about 0.5 %, which is fine for offsets and proximity checks (use
        :func:`projected_crs_for` for survey-grade lengths).
    """
    arrays = [_as_float_array(v) for v in (lon1, lat1, lon2, lat2)]
    scalar = all(a.ndim == 0 for a in arrays)
    p1, q1, p2, q2 = (np.radians(a) for a in np.broadcast_arrays(*arrays))
    h = np.sin((q2 - q1) / 2.0) ** 2 + np.cos(q1) * np.cos(q2) * np.sin((p2 - p1) / 2.0) ** 2
    d = 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    if scalar:
        return float(d)
    return d
