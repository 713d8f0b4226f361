"""3D H3 hexagon columns (三维六边形柱状图) for the video wall, with pydeck, fully offline.

pydeck's ``Deck.to_html()`` page loads six assets from CDNs (mapbox-gl, the ``@deck.gl/jupyter-widget``
bundle, the widgets CSS, bootstrap, font-awesome, the maplibre CSS) and on an isolated network draws
nothing ("createDeck is not defined"); ``offline=True`` inlines the deck.gl bundle (2 → 6.3 MB a page)
but still requests the other five (``/work/shared/FACTS.md``). What works offline, and is done here:

* no basemap: ``map_provider=None, map_style=None`` (the columns stand on the wall's dark background);
* every ``<script src="http…">`` and ``<link href="http…">`` tag is removed from the page;
* the deck.gl bundle that ships inside the pydeck wheel (``pydeck/nbextension/static/index.js``, which
  defines ``createDeck``; :func:`pydeck_bundle_path`) is referenced from a **local** URL that the
  dashboard serves from the package (default ``/assets-pydeck/index.js``; not under Dash's ``assets/``
  folder, which Dash would inject into every page next to deckgl-dash's own deck.gl: "multiple
  versions detected").

The page is a string for an ``html.Iframe(srcDoc=…)`` or a route; it carries aggregates only (cell id,
count), as the wall must.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pydeck as pdk
from pydeck.io.html import deck_to_html

from layers.colours import THEMES, Classes, classify, hex_to_rgba

__all__ = ["DEFAULT_ASSET_URL", "hex3d_deck", "hex3d_html", "offline_html", "pydeck_bundle_path"]

#: Where the dashboard serves :func:`pydeck_bundle_path`.
DEFAULT_ASSET_URL = "/assets-pydeck/index.js"
_REMOTE_SCRIPT = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>\s*", re.IGNORECASE
)
_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*", re.IGNORECASE)


def pydeck_bundle_path() -> Path:
    """The deck.gl bundle inside the installed pydeck package (defines ``createDeck``).

    Returns
    -------
    pathlib.Path
        ``…/site-packages/pydeck/nbextension/static/index.js``.

    Raises
    ------
    FileNotFoundError
        If this pydeck build does not ship it.
    """
    path = Path(pdk.__file__).resolve().parent / "nbextension" / "static" / "index.js"
    if not path.is_file():
        raise FileNotFoundError(f"pydeck ships no bundle at {path}; reinstall pydeck>=0.9")
    return path


def _tooltip(theme: str, unit: str) -> dict:
    t = THEMES[theme]
    return {
        "html": f"<b>{{h}}</b><br/>{{v}} {html.escape(unit)}",
        "style": {"backgroundColor": t["paper"], "color": t["text"], "fontSize": "14px"},
    }


def hex3d_deck(
    frame: pd.DataFrame,
    value_col: str = "count",
    *,
    classes: Classes | None = None,
    theme: str = "dark",
    max_height_m: float = 4000.0,
    view_state: dict | None = None,
    pitch: float = 50.0,
    bearing: float = -15.0,
    unit: str = "起",
    outlines: dict | None = None,
) -> pdk.Deck:
    """A pydeck ``Deck`` of extruded H3 hexagons, without basemap.

    Parameters
    ----------
    frame : DataFrame
        ``h3`` (hex string cell ids) and ``value_col`` (e.g. ``geo.heat.h3_aggregate``).
    value_col : str
        Height and colour of each column.
    classes : Classes, optional
        Colour classes (default Fisher–Jenks, 5 classes, wall ramp).
    theme : {"dark", "light"}
    max_height_m : float
        Height of the tallest column.
    view_state : dict, optional
        ``longitude``, ``latitude``, ``zoom`` …; default centred on the cells at zoom 8.
    pitch, bearing : float
        Camera tilt and rotation of the default view.
    unit : str
        Unit in the tooltip.
    outlines : dict, optional
        A FeatureCollection of unit polygons (counties, townships …) drawn as lines on the ground, so
        the columns stand on a recognisable map without any basemap.

    Returns
    -------
    pydeck.Deck
    """
    values = pd.to_numeric(frame[value_col], errors="coerce").fillna(0).to_numpy(np.float64)
    cls = classes or classify(values, theme=theme)
    colours = cls.rgba(values)
    data = pd.DataFrame(
        {
            "h": frame["h3"].astype(str).to_numpy(),
            "v": np.round(values, 3),
            "c": colours.tolist(),
        }
    )
    top = float(values.max()) if len(values) else 0.0
    layer = pdk.Layer(
        "H3HexagonLayer",
        data=data,
        id="hex3d",
        get_hexagon="h",
        get_fill_color="c",
        get_elevation="v",
        elevation_scale=max_height_m / top if top > 0 else 1.0,
        extruded=True,
        high_precision=True,
        coverage=0.88,
        pickable=True,
        auto_highlight=True,
    )
    layers = [layer]
    if outlines and outlines.get("features"):
        line = THEMES[theme]["county"] if theme == "light" else THEMES[theme]["outline"]
        layers.insert(
            0,
            pdk.Layer(
                "PathLayer",
                data=[{"p": ring} for ring in _rings(outlines)],
                id="outlines",
                get_path="p",
                get_color=list(hex_to_rgba(line, 220)),
                width_units=pdk.types.String("pixels"),  # a bare string would become an accessor
                get_width=1.5,
                pickable=False,
            ),
        )
    if view_state is None:
        latlng = np.array([h3.cell_to_latlng(c) for c in data["h"].head(2000)]) if len(data) else None
        lat, lon = latlng.mean(axis=0) if latlng is not None else (32.0, 120.9)
        view_state = {"latitude": float(lat), "longitude": float(lon), "zoom": 8.2}
    vs = pdk.ViewState(**{"pitch": pitch, "bearing": bearing, **view_state})
    return pdk.Deck(
        layers=layers,
        initial_view_state=vs,
        map_provider=None,
        map_style=None,
        tooltip=_tooltip(theme, unit),
    )


def _rings(fc: dict) -> list[list[list[float]]]:
    """Every ring of a FeatureCollection's (multi)polygons as a lon/lat path."""
    rings = []
    for feature in fc["features"]:
        geom = feature.get("geometry") or {}
        polys = [geom["coordinates"]] if geom.get("type") == "Polygon" else geom.get("coordinates", [])
        for poly in polys:
            rings += [[[float(x), float(y)] for x, y, *_ in ring] for ring in poly]
    return rings


def offline_html(page: str, asset_url: str = DEFAULT_ASSET_URL) -> str:
    """Make a pydeck HTML page offline: drop remote ``<script>``/``<link>`` tags, load the bundle locally.

    Parameters
    ----------
    page : str
        HTML from ``Deck.to_html(as_string=True)``.
    asset_url : str
        Same-origin URL where :func:`pydeck_bundle_path` is served.

    Returns
    -------
    str
    """
    if re.match(r"(?:https?:)?//", asset_url):
        raise ValueError(f"asset_url must be on the app's own origin, not {asset_url!r}")
    out = _REMOTE_SCRIPT.sub("", page)
    out = _REMOTE_LINK.sub("", out)
    tag = f'<script src="{html.escape(asset_url, quote=True)}"></script>\n'
    return out.replace("</head>", tag + "  </head>", 1)


def hex3d_html(
    frame: pd.DataFrame,
    asset_url: str = DEFAULT_ASSET_URL,
    *,
    value_col: str = "count",
    theme: str = "dark",
    unit: str = "起",
    **kwargs,
) -> str:
    """An offline HTML page of 3D H3 columns for the wall (:func:`hex3d_deck` + :func:`offline_html`).

    Parameters
    ----------
    frame : DataFrame
        ``h3`` and ``value_col``.
    asset_url : str
        Same-origin URL of pydeck's deck.gl bundle (:func:`pydeck_bundle_path`).
    value_col : str
    theme : {"dark", "light"}
    unit : str
        Unit in the tooltip.
    **kwargs
        Passed to :func:`hex3d_deck` (``classes``, ``max_height_m``, ``view_state``, ``pitch`` …).

    Returns
    -------
    str
        A complete HTML page whose only script source is ``asset_url``.
    """
    deck = hex3d_deck(frame, value_col, theme=theme, unit=unit, **kwargs)
    # pydeck indents its JSON (3x the bytes); the page gets it compact
    compact = json.dumps(json.loads(deck.to_json()), separators=(",", ":"), ensure_ascii=False)
    page = deck_to_html(
        compact,
        tooltip=_tooltip(theme, unit),
        css_background_color=THEMES[theme]["background"],
        as_string=True,
        notebook_display=False,
    )
    return offline_html(page, asset_url)
