"""deck.gl map layers (地图图层) for the dashboard, as deckgl-dash layer dicts.

Why deckgl-dash rather than plotly maps or embedded pydeck HTML
-----------------------------------------------------------------
Measured in headless Chromium with software WebGL on 2 cores (``/work/shared/FACTS.md``), 13,669 grid
polygons:

* plotly ``choropleth_map``: 7.8 s to the first map and 4.2–5.9 s per recolour even when simplified to
  ~7 vertices (3.8 MB) and recoloured with a 54 kB ``dash.Patch``: plotly re-tessellates every polygon
  on any colour change;
* deckgl-dash ``GeoJsonLayer`` (the Dash 3/4 component for deck.gl 9, PyPI ``deckgl-dash``): 1.4–1.9 s
  to the first map and 0.36–0.53 s per recolour with a ``dash.Patch`` of ``getFillColor`` plus
  ``updateTriggers``: deck.gl recomputes one colour attribute and keeps the tessellation;
  ``H3HexagonLayer`` 1.3–2.0 s and 0.42–0.56 s;
* pydeck's ``Deck.to_html()`` pulls six assets from CDNs (mapbox-gl, the deck.gl jupyter-widget
  bundle, widget CSS, bootstrap, font-awesome, maplibre CSS) and draws nothing offline; embedded in an
  iframe it also gives no click callbacks into Dash.

deckgl-dash serves its own 3.2 MB bundle from the Python package (no request leaves the origin with no
basemap or a self-contained MapLibre style, see :mod:`layers.basemap`), delivers clicks as
``clickInfo`` (picked object, index, layer id, coordinate) with ``enable_events=["click"]`` and
accepts ``dash.Patch`` updates of single layer props. pydeck is used only for the wall's 3D view
(:mod:`layers.hex3d`), whose HTML is made offline there.

Recolouring without resending geometry
--------------------------------------
A choropleth's fill is one accessor expression: a small palette (one RGBA per class, then the
no-data colour) indexed by one character per feature, read by the feature's ``id`` (its position in
the FeatureCollection, see :func:`layers.geometry.feature_collection`)::

    @@=[[255,237,160,200],…,[210,214,220,110]]["0312…4".charCodeAt(d.id)-48]

A new period or filter only sends a new expression (about one byte per feature: 14 kB for 13.7 K
grids) and a new ``updateTriggers.getFillColor`` (:func:`recolour`, :func:`patch_layer`); deck.gl
ignores a changed accessor unless its trigger changes, so the trigger is the hash of the expression.
deckgl-dash compiles ``@@=`` strings containing an operator into ``new Function("d", …)`` once; the long
string literal is a constant of that function, so a call builds the small palette array and reads one
character (``tests/test_layers.py`` runs the expressions in node through the wrapper read from the
installed bundle; their browser timing is measured with the dashboard).

Payload: a city of 13.7 K grids is 4.4 MB at city detail (0.6 MB gzipped), too much for a Dash
callback; serve large, static geometry as JSON text from a route
(:func:`layers.geometry.feature_collection_json`) and pass its same-origin URL as ``data``; a
township's grids (≤ 350) are 0.2 MB inline. ``bench/bench_layers.py`` prints the figures per level and scale.

Layers here never read files; data arrive as frames, FeatureCollections or same-origin URLs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import h3.api.numpy_int as h3int
import numpy as np
import pandas as pd
from deckgl_dash import DeckGL
from deckgl_dash.binary import binary_data
from deckgl_dash.layers import BitmapLayer, GeoJsonLayer, ScatterplotLayer
from numpy.typing import ArrayLike, NDArray

from geo.crs import transformer
from geo.heat import KDESurface, cells_of, lonlat_of
from layers.colours import (
    THEMES,
    CategoricalClasses,
    Classes,
    category_classes,
    classify,
    gi_classes,
    hex_to_rgba,
)
from layers.geometry import feature_codes

__all__ = [
    "DEFAULT_MAX_POINTS",
    "H3_RESOLUTION_FOR_LEVEL",
    "deck_map",
    "district_outline_layer",
    "fill_expression",
    "fit_bounds",
    "grid_layer",
    "h3_layer",
    "hotspot_layer",
    "kde_layer",
    "layer_index",
    "patch_layer",
    "points_layer",
    "recolour",
    "tooltip_config",
    "view_state_for",
]

#: Above this many points, :func:`points_layer` bins them on the server (20 K points ≈ 300 kB).
DEFAULT_MAX_POINTS = 20_000
#: H3 resolution that suits each view level (7: 5.2 km² a cell, 8: 0.74 km², 9: 0.11 km²).
H3_RESOLUTION_FOR_LEVEL = {"city": 7, "county": 8, "bureau": 8, "township": 9, "station": 9, "village": 9}
#: Most classes one character per feature can encode ("0" … "X": no quote or backslash in the range).
MAX_CLASSES = 40
_OPERATORS = re.compile(r"[?:<>=!&|+\-*/%]")  # deckgl-dash compiles "@@=" strings with one of these
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------------
# helpers


def _expression(js: str) -> str:
    """A deckgl-dash ``@@=`` accessor; it must contain an operator to be compiled as JavaScript (without
    one it is read as a property path)."""
    if not _OPERATORS.search(js):
        raise ValueError(f"accessor expression needs an operator to be compiled: {js[:60]!r}")
    return "@@=" + js


def _version(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _palette_js(palette: Sequence[Sequence[int]]) -> str:
    return json.dumps([[int(v) for v in c] for c in palette], separators=(",", ":"))


def fill_expression(class_index: ArrayLike, palette: Sequence[Sequence[int]], key: str = "d.id") -> str:
    """The ``getFillColor`` accessor colouring feature ``i`` with ``palette[class_index[i]]``.

    Parameters
    ----------
    class_index : array_like of int
        Class of each feature, in feature order (0 … ``len(palette) - 1``).
    palette : sequence of RGBA
        At most ``MAX_CLASSES + 1`` colours.
    key : str
        JavaScript expression of the feature's position (``d.id`` for our FeatureCollections).

    Returns
    -------
    str
        ``@@=[[r,g,b,a],…]["<one character per feature>".charCodeAt(<key>)-48]``
    """
    idx = np.asarray(class_index, dtype=np.int64)
    if len(palette) > MAX_CLASSES + 1:
        raise ValueError(f"at most {MAX_CLASSES} classes (+ no data), got {len(palette)} colours")
    if len(idx) and (idx.min() < 0 or idx.max() >= len(palette)):
        raise ValueError("class index outside the palette")
    codes = (idx + 48).astype(np.uint8).tobytes().decode("ascii")
    return _expression(f'{_palette_js(palette)}["{codes}".charCodeAt({key})-48]')


def _aligned_values(
    values: ArrayLike | pd.Series, codes: Sequence[str] | None, n: int | None
) -> NDArray[np.float64] | NDArray[np.object_]:
    """Values in feature order: a Series indexed by code is aligned on ``codes``; anything else is taken
    as already in feature order."""
    if isinstance(values, pd.Series) and not isinstance(values.index, pd.RangeIndex):
        if codes is None:
            raise ValueError("values indexed by code need the features' codes (pass codes=…)")
        v = values.copy()
        v.index = v.index.astype(str)
        return v.reindex(pd.Index([str(c) for c in codes])).to_numpy()
    arr = np.asarray(values)
    if n is not None and len(arr) != n:
        raise ValueError(f"{len(arr)} values for {n} features")
    return arr


def _codes_of(data: Mapping[str, Any] | str, codes: Sequence[str] | None) -> list[str] | None:
    if codes is not None:
        return [str(c) for c in codes]
    if isinstance(data, Mapping):
        return feature_codes(data)
    return None


def recolour(
    values: ArrayLike | pd.Series,
    classes: Classes | CategoricalClasses,
    *,
    codes: Sequence[str] | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The props that recolour a :func:`grid_layer` for new values: ``getFillColor`` and its trigger.

    Parameters
    ----------
    values : array_like (feature order) or Series indexed by unit code
        New values (numbers for :class:`~layers.colours.Classes`, categories for categorical classes).
    classes : Classes or CategoricalClasses
        The scale (keep the legend in step with it).
    codes : sequence of str, optional
        Feature codes in feature order, needed when ``values`` is indexed by code.
    version : str, optional
        ``updateTriggers`` value; default a hash of the expression, so any change of colours changes it.

    Returns
    -------
    dict
        ``{"getFillColor": "@@=…", "updateTriggers": {"getFillColor": version}}``; merge into the layer
        dict or send with :func:`patch_layer`.
    """
    v = _aligned_values(values, codes, len(codes) if codes is not None else None)
    expr = fill_expression(classes.classify(v), classes.palette())
    return {"getFillColor": expr, "updateTriggers": {"getFillColor": version or _version(expr)}}


def patch_layer(patch: Any, index: int, update: Mapping[str, Any]) -> Any:
    """Write ``update`` (from :func:`recolour`) into a ``dash.Patch`` of a DeckGL ``layers`` prop.

    Parameters
    ----------
    patch : dash.Patch
        A Patch of the ``layers`` prop.
    index : int
        Position of the layer in ``layers`` (:func:`layer_index`).
    update : mapping
        Props to set; ``updateTriggers`` entries are set one by one so other triggers stay.

    Returns
    -------
    dash.Patch
        The same patch.
    """
    for key, value in update.items():
        if key == "updateTriggers":
            for name, trigger in value.items():
                patch[index]["updateTriggers"][name] = trigger
        else:
            patch[index][key] = value
    return patch


def layer_index(layers: Sequence[Mapping[str, Any]], layer_id: str) -> int:
    """Position of the layer with ``id == layer_id`` in a list of layer dicts (``ValueError`` if none)."""
    for i, layer in enumerate(layers):
        if layer.get("id") == layer_id:
            return i
    raise ValueError(f"no layer {layer_id!r}")


# --------------------------------------------------------------------------------------------------
# polygons


def grid_layer(
    data: Mapping[str, Any] | str,
    values: ArrayLike | pd.Series | None = None,
    classes: Classes | CategoricalClasses | None = None,
    pickable: bool = True,
    *,
    layer_id: str = "grids",
    codes: Sequence[str] | None = None,
    theme: str = "light",
    version: str | None = None,
    stroked: bool = True,
    line_colour: str | None = None,
    line_width_px: float = 0.6,
    opacity: float = 1.0,
    visible: bool = True,
) -> dict[str, Any]:
    """Choropleth of unit polygons (网格 / 警格 / 乡镇 …) as a deck.gl ``GeoJsonLayer``.

    Parameters
    ----------
    data : dict or str
        A FeatureCollection from :func:`layers.geometry.feature_collection`, or the same-origin URL of
        one (:func:`layers.geometry.feature_collection_json` served by the app).
    values : array_like (feature order) or Series indexed by code, optional
        Value per feature; None draws every feature in the theme's land colour.
    classes : Classes or CategoricalClasses, optional
        Scale; default :func:`layers.colours.classify` of ``values`` (Fisher–Jenks, 5 classes).
    pickable : bool
        Hover and click report the feature (``clickInfo.object.properties.code``).
    layer_id : str
    codes : sequence of str, optional
        Feature codes in feature order (needed with a URL ``data`` and values indexed by code).
    theme : {"light", "dark"}
    version : str, optional
        ``updateTriggers.getFillColor``; default a hash of the colours.
    stroked : bool
        Draw polygon outlines.
    line_colour : str, optional
        Outline hex colour (default the theme's outline).
    line_width_px : float
    opacity : float
    visible : bool

    Returns
    -------
    dict
        A deckgl-dash layer dict (``@@type`` GeoJsonLayer) with ``updateTriggers``.
    """
    t = THEMES[theme]
    if values is None:
        fill: Any = list(hex_to_rgba(t["land"], 160))
        trigger = version or "constant"
    else:
        cls = classes or classify(_aligned_values(values, _codes_of(data, codes), None), theme=theme)
        update = recolour(values, cls, codes=_codes_of(data, codes), version=version)
        fill, trigger = update["getFillColor"], update["updateTriggers"]["getFillColor"]
    layer = GeoJsonLayer(
        id=layer_id,
        data=data,
        filled=True,
        stroked=stroked,
        get_fill_color=fill,
        get_line_color=list(hex_to_rgba(line_colour or t["outline"], 150)),
        line_width_units="pixels",
        line_width_min_pixels=line_width_px,
        get_line_width=1,
        pickable=pickable,
        auto_highlight=pickable,
        highlight_color=[255, 255, 255, 90] if theme == "dark" else [0, 0, 0, 50],
        opacity=opacity,
        visible=visible,
        update_triggers={"getFillColor": trigger},
    )
    return layer.to_dict()


def district_outline_layer(
    data: Mapping[str, Any] | str,
    *,
    layer_id: str = "districts",
    theme: str = "light",
    colour: str | None = None,
    width_px: float = 1.5,
    pickable: bool = False,
    visible: bool = True,
) -> dict[str, Any]:
    """Outlines of units (警格, 乡镇, 区县 …) drawn over a choropleth, unfilled.

    Parameters
    ----------
    data : dict or str
        FeatureCollection (or its URL) of the units' polygons.
    layer_id : str
    theme : {"light", "dark"}
    colour : str, optional
        Hex colour (default the theme's ``county`` colour).
    width_px : float
    pickable : bool
    visible : bool

    Returns
    -------
    dict
        A ``GeoJsonLayer`` dict with ``filled=False``.
    """
    rgba = list(hex_to_rgba(colour or THEMES[theme]["county"], 230))
    return GeoJsonLayer(
        id=layer_id,
        data=data,
        filled=False,
        stroked=True,
        get_line_color=rgba,
        get_line_width=1,
        line_width_units="pixels",
        line_width_min_pixels=width_px,
        pickable=pickable,
        visible=visible,
        update_triggers={"getLineColor": _version(str(rgba))},
    ).to_dict()


# --------------------------------------------------------------------------------------------------
# H3 hexagons


def _rounded(values: NDArray[np.float64], decimals: int = 3) -> list:
    v = np.round(values.astype(np.float64), decimals)
    whole = np.isfinite(v) & (v == np.round(v))
    return [
        int(x) if w else (None if x != x else float(x))
        for x, w in zip(v.tolist(), whole.tolist(), strict=True)
    ]


def h3_layer(
    frame: pd.DataFrame,
    value_col: str = "count",
    classes: Classes | CategoricalClasses | None = None,
    elevation: bool = False,
    high_precision: bool = True,
    *,
    layer_id: str = "h3",
    theme: str = "light",
    max_height_m: float = 3000.0,
    coverage: float = 0.92,
    pickable: bool = True,
    opacity: float = 0.85,
    visible: bool = True,
) -> dict[str, Any]:
    """Hexagon heat map (H3 六边形热力) as a deck.gl ``H3HexagonLayer``, flat or as 3D columns.

    Parameters
    ----------
    frame : DataFrame
        ``h3`` (hex string cell ids, e.g. from :func:`geo.heat.h3_aggregate`) and ``value_col``.
    value_col : str
        Column coloured (and raised, with ``elevation``).
    classes : Classes or CategoricalClasses, optional
        Default: Fisher–Jenks classes of the values, 5 classes.
    elevation : bool
        Extrude each hexagon to a column proportional to its value.
    high_precision : bool
        deck.gl's ``highPrecision``: True is needed over Nantong, whose cells straddle two icosahedron
        faces (``"auto"`` draws them misshapen).
    layer_id : str
    theme : {"light", "dark"}
    max_height_m : float
        Height of the tallest column.
    coverage : float
        Hexagon size relative to the cell (gaps between columns).
    pickable : bool
        Click reports ``{h, v, k}`` of the cell (``clickInfo.object``).
    opacity : float
    visible : bool

    Returns
    -------
    dict
        Layer dict ``@@type`` H3HexagonLayer; rows ``{"h": cell, "v": value, "k": class}``.
    """
    values = pd.to_numeric(frame[value_col], errors="coerce").to_numpy(np.float64)
    cls = classes or classify(values, theme=theme)
    k = cls.classify(values)
    records = [
        {"h": h, "v": v, "k": int(c)}
        for h, v, c in zip(frame["h3"].astype(str).tolist(), _rounded(values), k.tolist(), strict=True)
    ]
    palette = _palette_js(cls.palette())
    expr = _expression(f"{palette}[d.k|0]")
    trigger = _version(palette + str(len(records)))
    layer: dict[str, Any] = {
        "@@type": "H3HexagonLayer",
        "id": layer_id,
        "data": records,
        "getHexagon": "@@=h",
        "getFillColor": expr,
        "highPrecision": bool(high_precision),
        "filled": True,
        "stroked": False,
        "extruded": bool(elevation),
        "coverage": coverage,
        "pickable": pickable,
        "autoHighlight": pickable,
        "opacity": opacity,
        "visible": visible,
        "updateTriggers": {"getFillColor": trigger},
    }
    if elevation:
        top = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
        layer.update(
            getElevation=_expression("d.v||0"),
            elevationScale=max_height_m / top if top > 0 else 1.0,
            material=True,
        )
        layer["updateTriggers"]["getElevation"] = trigger
    return layer


def hotspot_layer(
    data: Mapping[str, Any] | str | pd.DataFrame,
    gi: pd.DataFrame | pd.Series | ArrayLike,
    *,
    layer_id: str = "hotspots",
    codes: Sequence[str] | None = None,
    theme: str = "light",
    pickable: bool = True,
    visible: bool = True,
) -> dict[str, Any]:
    """Getis–Ord Gi* hot and cold spots (冷热点) on grid polygons or H3 cells.

    Parameters
    ----------
    data : dict, str or DataFrame
        A FeatureCollection (or URL) of the units tested, or a frame with an ``h3`` column for cells.
    gi : DataFrame, Series or array_like
        ``geo.hotspots.getis_ord`` output (``gi_bin`` and ``testable``; untestable units, islands,
        are drawn as 不可检验), or the ``gi_bin`` values (-3 … 3) alone, in feature order or indexed by
        code (for H3 frames: in row order or indexed by cell).
    layer_id : str
    codes : sequence of str, optional
        Feature codes when ``data`` is a URL and ``gi`` is indexed by code.
    theme : {"light", "dark"}
    pickable : bool
    visible : bool

    Returns
    -------
    dict
        A GeoJsonLayer or H3HexagonLayer dict coloured 热点99 … 冷点99.
    """
    if isinstance(gi, pd.DataFrame):
        bins = gi["gi_bin"].astype("float64")
        if "testable" in gi:
            bins = bins.where(gi["testable"].astype(bool))
    else:
        bins = gi if isinstance(gi, pd.Series) else pd.Series(np.asarray(gi, dtype=np.float64))
    cls = gi_classes(theme)
    if isinstance(data, pd.DataFrame):
        frame = pd.DataFrame({"h3": data["h3"].astype(str).to_numpy()})
        v = _aligned_values(bins, frame["h3"].tolist(), len(frame))
        frame["gi_bin"] = np.asarray(v, dtype=np.float64)
        return h3_layer(
            frame, "gi_bin", cls, layer_id=layer_id, theme=theme, pickable=pickable, visible=visible
        )
    return grid_layer(
        data, bins, cls, pickable, layer_id=layer_id, codes=codes, theme=theme, visible=visible, opacity=1.0
    )


# --------------------------------------------------------------------------------------------------
# points


def points_layer(
    points: pd.DataFrame,
    *,
    category_col: str | None = "category",
    classes: CategoricalClasses | None = None,
    layer_id: str = "points",
    theme: str = "light",
    max_points: int = DEFAULT_MAX_POINTS,
    radius_px: float = 3.0,
    cluster_resolution: int = 8,
    label_clusters: int = 300,
    cells: ArrayLike | None = None,
    pickable: bool = True,
    visible: bool = True,
) -> list[dict[str, Any]]:
    """Event points (警情点位): every point when few, else server-side clusters on H3 cells.

    Few points (``<= max_points``) go as one ``ScatterplotLayer`` in deckgl-dash's binary transport
    (float32 positions and uint8 colours, base64: about 15 bytes a point). More are binned on H3 cells
    of ``cluster_resolution`` on the server and drawn as circles sized by count, with the count written
    on the largest ones (deck.gl ``TextLayer`` draws digits from a font atlas it renders itself; no
    glyph request). deck.gl's own aggregation layers (``HexagonLayer``, ``GridLayer``,
    ``ScreenGridLayer``) would cluster in the browser, but only after every point was sent to it: 1.6 M
    incidents are over 20 MB, against a budget of 1 MB an interaction, so clustering is done here.

    Parameters
    ----------
    points : GeoDataFrame or DataFrame
        Point geometries (lon/lat) or ``lon``/``lat`` columns; rows without coordinates are skipped.
    category_col : str or None
        Column coloured by :func:`layers.colours.category_classes` (警情类别); None: one colour.
    classes : CategoricalClasses, optional
        Scale for ``category_col``.
    layer_id : str
        Id of the point layer; clusters use ``{layer_id}-clusters`` and ``{layer_id}-labels``.
    theme : {"light", "dark"}
    max_points : int
    radius_px : float
    cluster_resolution : int
        H3 resolution of the clusters (7 city, 8 county, 9 township).
    label_clusters : int
        How many of the largest clusters get a count label.
    cells : array_like of uint64, optional
        The points' H3 cells at ``cluster_resolution`` (``geo.heat.cells_of``), one per row of
        ``points``, when the caller keeps them: finding the cells of 1.6 M points costs about 2 s.
    pickable : bool
        Points: ``clickInfo.index`` is the row position among the points with coordinates (the layer
        carries no record, so no personal data); clusters: ``clickInfo.object`` is ``{p: [lon, lat],
        n: count}`` (the cell is ``h3.latlng_to_cell(lat, lon, cluster_resolution)``).
    visible : bool

    Returns
    -------
    list of dict
        One point layer, or a cluster layer and a label layer.
    """
    lon, lat = lonlat_of(points)
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[ok], lat[ok]
    t = THEMES[theme]
    if len(lon) <= max_points:
        if category_col is not None and category_col in points:
            cls = classes or category_classes(theme=theme)
            colours = cls.rgba(points[category_col].to_numpy()[ok])
        else:
            colours = np.tile(np.array(hex_to_rgba(t["accent"], 220), dtype=np.uint8), (len(lon), 1))
        layer = ScatterplotLayer(
            id=layer_id,
            data=binary_data(
                len(lon),
                {"getPosition": np.column_stack([lon, lat]).astype(np.float32), "getFillColor": colours},
            ),
            get_radius=radius_px,
            radius_units="pixels",
            radius_min_pixels=1,
            stroked=False,
            pickable=pickable,
            auto_highlight=pickable,
            visible=visible,
        )
        return [layer.to_dict()]
    if cells is None:
        cells = cells_of(lon, lat, cluster_resolution)
    else:
        cells = np.asarray(cells, dtype=np.uint64)[ok]
        if len(cells) and int(h3int.get_resolution(int(cells[cells != 0][0]))) != cluster_resolution:
            raise ValueError(f"cells are not at resolution {cluster_resolution}")
    uniq, count = np.unique(cells[cells != 0], return_counts=True)
    order = np.argsort(-count, kind="stable")
    uniq, count = uniq[order], count[order]
    centres = np.array([h3int.cell_to_latlng(int(c)) for c in uniq], dtype=np.float64).reshape(-1, 2)
    records = [
        {"p": [round(x, 5), round(y, 5)], "n": int(n)}
        for x, y, n in zip(centres[:, 1].tolist(), centres[:, 0].tolist(), count.tolist(), strict=True)
    ]
    top = max(int(count.max()), 1) if len(count) else 1
    fill = list(hex_to_rgba(t["accent"], 170))
    clusters = ScatterplotLayer(
        id=f"{layer_id}-clusters",
        data=records,
        get_position="@@=p",
        get_radius=_expression(f"4+18*Math.sqrt(d.n/{top})"),
        radius_units="pixels",
        get_fill_color=fill,
        stroked=True,
        get_line_color=list(hex_to_rgba(t["paper"], 220)),
        line_width_min_pixels=1,
        pickable=pickable,
        auto_highlight=pickable,
        visible=visible,
        update_triggers={"getRadius": _version(f"{len(records)}:{top}:{count[:50].tolist()}")},
    ).to_dict()
    labels = {
        "@@type": "TextLayer",
        "id": f"{layer_id}-labels",
        "data": [{"p": r["p"], "t": str(r["n"])} for r in records[:label_clusters]],
        "getPosition": "@@=p",
        "getText": "@@=t",
        "getSize": 11,
        "getColor": list(hex_to_rgba(t["text"] if theme == "dark" else "#ffffff", 255)),
        "fontFamily": "Arial, Helvetica, sans-serif",
        "fontWeight": "bold",
        "getTextAnchor": "middle",
        "getAlignmentBaseline": "center",
        "pickable": False,
        "visible": visible,
    }
    return [clusters, labels]


# --------------------------------------------------------------------------------------------------
# kernel density


def _png(rgba: NDArray[np.uint8]) -> bytes:
    """Encode an ``(h, w, 4)`` uint8 image as PNG (zlib only: no imaging library needed)."""
    h, w, _ = rgba.shape
    raw = np.empty((h, 1 + 4 * w), dtype=np.uint8)
    raw[:, 0] = 0  # filter type None on every row
    raw[:, 1:] = rgba.reshape(h, 4 * w)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        _PNG_MAGIC
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def _block_mean(a: NDArray[np.float64], max_side: int) -> tuple[NDArray[np.float64], int]:
    """Average ``a`` over square blocks so that no side exceeds ``max_side`` (zero-padded at the far
    edges, so the extent only grows)."""
    step = max(1, math.ceil(max(a.shape) / max_side))
    if step == 1:
        return a, 1
    ny, nx = math.ceil(a.shape[0] / step) * step, math.ceil(a.shape[1] / step) * step
    padded = np.zeros((ny, nx))
    padded[: a.shape[0], : a.shape[1]] = a
    return padded.reshape(ny // step, step, nx // step, step).mean(axis=(1, 3)), step


def kde_layer(
    surface: KDESurface,
    classes: Classes | None = None,
    *,
    scheme: str = "quantiles",
    k: int = 7,
    min_density: float | None = None,
    layer_id: str = "kde",
    theme: str = "light",
    opacity: float = 0.8,
    max_side: int = 1024,
    visible: bool = True,
) -> dict[str, Any]:
    """Kernel density surface (核密度) as a deck.gl ``BitmapLayer`` with an inline PNG.

    The surface (in its projected CRS) is classed, painted into an RGBA image (transparent below
    ``min_density``), encoded as a ``data:image/png`` URL (no request) and pinned to the map by its four
    corners converted to lon/lat.

    Parameters
    ----------
    surface : geo.heat.KDESurface
        ``density`` (row 0 north), ``transform`` and ``crs`` (projected EPSG).
    classes : Classes, optional
        Scale; default ``scheme`` classes of the densities above ``min_density``. Transparency falls
        with the class (alpha 90 in the lowest class to 235 in the highest).
    scheme : str
        Classification of the default scale (quantiles: a skewed surface still shows its gradient).
    k : int
        Number of classes of the default scale.
    min_density : float, optional
        Cells at or below it are transparent; default 10⁻⁶ of the maximum (the quartic kernel is exactly
        zero beyond the bandwidth, so this hides only the area no event reaches).
    layer_id : str
    theme : {"light", "dark"}
    opacity : float
    max_side : int
        Larger surfaces are averaged down by whole blocks to at most this many pixels a side.
    visible : bool

    Returns
    -------
    dict
        A ``BitmapLayer`` dict; ``image`` is a data URL, ``bounds`` four lon/lat corners.
    """
    density = np.asarray(surface.density, dtype=np.float64)
    small, step = _block_mean(density, max_side)
    top = float(np.nanmax(small)) if small.size else 0.0
    floor = 1e-6 * top if min_density is None else float(min_density)
    shown = small > floor
    cls = classes or classify(small[shown], scheme, k, theme=theme, alpha=255)
    idx = cls.classify(np.where(shown, small, np.nan).ravel()).reshape(small.shape)
    rgba = np.asarray(cls.palette(), dtype=np.uint8)[idx]
    # the lowest classes fade into the base, the highest are opaque
    rgba[..., 3] = np.append(np.linspace(90, 235, cls.k), 0).astype(np.uint8)[idx]
    rgba[~shown] = 0
    a, _, c, _, e, f = surface.transform
    ny, nx = small.shape
    left, right, top_y, bottom = c, c + a * step * nx, f, f + e * step * ny
    xs, ys = transformer(surface.crs, 4326).transform(
        [left, left, right, right], [bottom, top_y, top_y, bottom]
    )
    corners = [[round(x, 6), round(y, 6)] for x, y in zip(xs, ys, strict=True)]
    image = "data:image/png;base64," + base64.b64encode(_png(rgba)).decode("ascii")
    return BitmapLayer(
        id=layer_id, image=image, bounds=corners, opacity=opacity, pickable=False, visible=visible
    ).to_dict()


# --------------------------------------------------------------------------------------------------
# view and map


def view_state_for(
    bounds: Sequence[float],
    *,
    width_px: int = 1200,
    height_px: int = 800,
    padding_px: int = 20,
    pitch: float = 0.0,
    bearing: float = 0.0,
    max_zoom: float = 18.0,
) -> dict[str, float]:
    """Initial view (centre and zoom) framing ``bounds`` in a map of the given size.

    deck.gl's Web Mercator world is 512 px wide at zoom 0, so the zoom is the log2 of the screen span
    over the bounds' span in that world.

    Parameters
    ----------
    bounds : (west, south, east, north)
        Lon/lat.
    width_px, height_px : int
        Map size on screen.
    padding_px : int
    pitch, bearing : float
    max_zoom : float

    Returns
    -------
    dict
        ``longitude``, ``latitude``, ``zoom``, ``pitch``, ``bearing``.
    """
    west, south, east, north = (float(b) for b in bounds)

    def merc_y(lat: float) -> float:
        s = math.sin(math.radians(max(min(lat, 85.05), -85.05)))
        return 512 * (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi))

    dx = (east - west) / 360 * 512
    dy = abs(merc_y(south) - merc_y(north))
    w, h = max(width_px - 2 * padding_px, 1), max(height_px - 2 * padding_px, 1)
    scale = min(w / dx if dx > 0 else math.inf, h / dy if dy > 0 else math.inf)
    zoom = min(math.log2(scale), max_zoom) if math.isfinite(scale) else max_zoom
    ym = (merc_y(south) + merc_y(north)) / 2
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * ym / 512))))
    return {
        "longitude": round((west + east) / 2, 6),
        "latitude": round(lat, 6),
        "zoom": round(zoom, 3),
        "pitch": pitch,
        "bearing": bearing,
    }


def tooltip_config(templates: Mapping[str, str], theme: str = "light") -> dict[str, Any]:
    """deckgl-dash ``tooltip`` prop: an HTML template per layer id, ``{property}`` placeholders.

    Parameters
    ----------
    templates : mapping of layer id to HTML
        E.g. ``{"grids": "<b>{name}</b><br>{code}", "h3": "{v} 起"}``.
    theme : {"light", "dark"}

    Returns
    -------
    dict
    """
    t = THEMES[theme]
    style = {
        "backgroundColor": t["paper"],
        "color": t["text"],
        "fontSize": "13px",
        "border": f"1px solid {t['outline']}",
        "padding": "4px 8px",
    }
    return {"layers": {k: {"html": v, "style": style} for k, v in templates.items()}}


def deck_map(
    component_id: str | dict,
    layers: Sequence[Mapping[str, Any]],
    bounds: Sequence[float] | None = None,
    *,
    theme: str = "light",
    maplibre_config: Mapping[str, Any] | None = None,
    tooltip: Mapping[str, Any] | bool = False,
    events: Sequence[str] = ("click",),
    view_state: Mapping[str, float] | None = None,
    style: Mapping[str, Any] | None = None,
    fit: bool = False,
) -> DeckGL:
    """The ``DeckGL`` component of a map: layers, initial view, click events, theme background.

    Parameters
    ----------
    component_id : str or dict
    layers : sequence of layer dicts
        Bottom first (basemap layers of :mod:`layers.basemap` first).
    bounds : (west, south, east, north), optional
        Frames the initial view (ignored when ``view_state`` is given).
    theme : {"light", "dark"}
    maplibre_config : mapping, optional
        From :func:`layers.basemap.maplibre_config`; None draws deck.gl layers on the theme background.
    tooltip : mapping or bool
        From :func:`tooltip_config`.
    events : sequence of str
        deckgl-dash ``enable_events`` (``click`` fills ``clickInfo``).
    view_state : mapping, optional
    style : mapping, optional
        CSS of the container (default: fills its parent, theme background).
    fit : bool
        Also frame ``bounds`` with deckgl-dash's ``fitBounds``, which uses the container's real size;
        a new value moves the camera of a mounted map (a drill-down without remounting it).

    Returns
    -------
    deckgl_dash.DeckGL
    """
    initial = dict(view_state) if view_state else (view_state_for(bounds) if bounds is not None else None)
    css = {
        "position": "relative",
        "width": "100%",
        "height": "100%",
        "background": THEMES[theme]["background"],
    }
    css.update(style or {})
    return DeckGL(
        id=component_id,
        layers=[dict(layer) for layer in layers],
        initial_view_state=initial,
        controller=True,
        enable_events=list(events),
        tooltip=dict(tooltip) if isinstance(tooltip, Mapping) else tooltip,
        maplibre_config=dict(maplibre_config) if maplibre_config else None,
        style=css,
        fit_bounds=fit_bounds(bounds) if fit and bounds is not None else None,
    )


def fit_bounds(bounds: Sequence[float], padding_px: int = 24) -> dict[str, Any]:
    """deckgl-dash ``fitBounds`` for ``(west, south, east, north)``."""
    w, s, e, n = (round(float(v), 5) for v in bounds)
    return {"bounds": [[w, s], [e, n]], "padding": padding_px}
