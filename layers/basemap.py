"""The base of the map (底图) drawn from our own data, never from an internet host.

Command centres run on isolated networks: no request may leave the server's origin. An internet
basemap (CARTO, OpenFreeMap, MapTiler, Mapbox …) is therefore never a default. The base is drawn from
the city's own layers instead, in one of two ways:

* :func:`base_layers`: deck.gl layers (land fill and outlines from the county polygons, township
  outlines) under the data layers, no MapLibre at all. deckgl-dash then makes no request beyond its
  own bundle (measured in headless Chromium, ``/work/shared/FACTS.md``);
* :func:`local_style` + :func:`maplibre_config`: a self-contained MapLibre style object (version 8)
  whose sources are inline GeoJSON (or same-origin URLs): a background colour, land, outlines. It has
  **no** ``glyphs`` and **no** ``sprite`` entry and no ``symbol`` layer, because any text label makes
  MapLibre fetch glyph fonts from the ``glyphs`` host, and no remote tile source.

A site with its own tile service on the intranet (e.g. a PGIS 警用地理信息 service) can set
``tile_url`` (off by default): a raster source ``{z}/{x}/{y}`` drawn between the background and the
outlines. It must be Web Mercator XYZ tiles (MapLibre draws no other tiling; a PGIS in CGCS2000 lon/lat
tiling needs its Web Mercator service) in WGS84/CGCS2000 coordinates: GCJ-02-shifted tiles (高德 /
腾讯-style) sit 170–620 m off our data.

:func:`external_urls` finds every ``http(s)://`` reference in a layer, style or HTML, so tests can
prove the defaults stay on the origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from deckgl_dash.layers import GeoJsonLayer, TileLayer

from layers.colours import THEMES, hex_to_rgba

__all__ = [
    "URL_PATTERN",
    "base_layers",
    "external_urls",
    "local_style",
    "maplibre_config",
]

#: An absolute http(s) URL.
URL_PATTERN = re.compile(r"https?://[^\s\"'<>)\\]+", re.IGNORECASE)
_TILE_PLACEHOLDERS = ("{z}", "{x}", "{y}")


def _strings(obj: Any) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(obj, list | tuple | set):
        for v in obj:
            yield from _strings(v)
    elif hasattr(obj, "to_plotly_json"):
        yield from _strings(obj.to_plotly_json())


def external_urls(obj: Any, allowed_origins: Sequence[str] = ()) -> list[str]:
    """Every absolute ``http://`` / ``https://`` URL inside ``obj`` not on an allowed origin.

    Parameters
    ----------
    obj : str, mapping, sequence or plotly object
        HTML text, a layer dict, a MapLibre style, a figure … (searched recursively, keys included).
    allowed_origins : sequence of str
        Origins (``http://10.0.0.5:8080``) whose URLs are fine, e.g. a configured intranet tile service.

    Returns
    -------
    list of str
        The offending URLs, in order of appearance.
    """
    allowed = {_origin(o) for o in allowed_origins}
    found = []
    for text in _strings(obj):
        for url in URL_PATTERN.findall(text):
            if _origin(url) not in allowed:
                found.append(url)
    return found


def _origin(url: str) -> str:
    p = urlparse(url)
    return f"{p.scheme.lower()}://{p.netloc.lower()}"


def _check_tile_url(tile_url: str) -> None:
    if not all(p in tile_url for p in _TILE_PLACEHOLDERS) and "{quadkey}" not in tile_url:
        raise ValueError(f"tile_url needs {{z}}, {{x}} and {{y}} placeholders: {tile_url!r}")


def base_layers(
    counties: Mapping[str, Any] | str,
    townships: Mapping[str, Any] | str | None = None,
    *,
    theme: str = "light",
    prefix: str = "base",
    tile_url: str | None = None,
    tile_size: int = 256,
    max_zoom: int = 18,
) -> list[dict[str, Any]]:
    """deck.gl base layers from our own polygons: land, township outlines, county outlines.

    Parameters
    ----------
    counties : dict or str
        FeatureCollection (or same-origin URL) of the county polygons (区县), e.g.
        ``layers.geometry.level_geojson(admin_units[level == "county"], "city", "unit_code", "unit_name")``.
    townships : dict or str, optional
        FeatureCollection (or URL) of township polygons (乡镇/街道), drawn as thin outlines.
    theme : {"light", "dark"}
    prefix : str
        Layer ids are ``{prefix}-counties`` (land fill and county outlines) and ``{prefix}-townships``.
    tile_url : str, optional
        The site's own XYZ raster tiles (see the module notes), drawn first as ``{prefix}-tiles`` by a
        deck.gl ``TileLayer``; the land fill is then left out. Off by default.
    tile_size, max_zoom : int
        Of that tile service.

    Returns
    -------
    list of dict
        Bottom first; put them before the data layers. Not pickable.
    """
    t = THEMES[theme]
    out = []
    if tile_url:
        _check_tile_url(tile_url)
        out.append(
            TileLayer(id=f"{prefix}-tiles", data=tile_url, tile_size=tile_size, max_zoom=max_zoom).to_dict()
        )
    # land and county outlines in one layer, so the county polygons are sent once
    out.append(
        GeoJsonLayer(
            id=f"{prefix}-counties",
            data=counties,
            filled=not tile_url,
            stroked=True,
            get_fill_color=list(hex_to_rgba(t["land"], 255)),
            get_line_color=list(hex_to_rgba(t["county"], 230)),
            get_line_width=1,
            line_width_units="pixels",
            line_width_min_pixels=1.6,
            pickable=False,
        ).to_dict()
    )
    if townships is not None:
        out.append(
            GeoJsonLayer(
                id=f"{prefix}-townships",
                data=townships,
                filled=False,
                stroked=True,
                get_line_color=list(hex_to_rgba(t["outline"], 110)),
                get_line_width=1,
                line_width_units="pixels",
                line_width_min_pixels=0.7,
                pickable=False,
            ).to_dict()
        )
    return out


def local_style(
    counties: Mapping[str, Any] | str | None = None,
    townships: Mapping[str, Any] | str | None = None,
    *,
    theme: str = "light",
    tile_url: str | None = None,
    tile_size: int = 256,
    tile_attribution: str | None = None,
    max_zoom: int = 18,
) -> dict[str, Any]:
    """A self-contained MapLibre style (version 8) drawing the base from local data only.

    Parameters
    ----------
    counties : dict or str, optional
        FeatureCollection (or same-origin URL) of county polygons: land fill and thick outlines.
    townships : dict or str, optional
        FeatureCollection (or URL) of township polygons: thin outlines.
    theme : {"light", "dark"}
    tile_url : str, optional
        The site's own XYZ raster tile service, e.g. ``http://10.1.2.3/pgis/{z}/{x}/{y}.png``; off by
        default. Drawn over the background, under the outlines (the land fill is left out so the tiles
        show).
    tile_size : int
        Tile size in pixels of that service.
    tile_attribution : str, optional
    max_zoom : int
        Highest zoom the tile service has.

    Returns
    -------
    dict
        A MapLibre style without ``glyphs``, ``sprite`` or symbol layers.
    """
    t = THEMES[theme]
    sources: dict[str, Any] = {}
    layers: list[dict[str, Any]] = [
        {"id": "background", "type": "background", "paint": {"background-color": t["background"]}}
    ]
    if tile_url:
        _check_tile_url(tile_url)
        source: dict[str, Any] = {
            "type": "raster",
            "tiles": [tile_url],
            "tileSize": tile_size,
            "maxzoom": max_zoom,
        }
        if tile_attribution:
            source["attribution"] = tile_attribution
        sources["site-tiles"] = source
        layers.append({"id": "site-tiles", "type": "raster", "source": "site-tiles"})
    if counties is not None:
        sources["counties"] = {"type": "geojson", "data": counties}
        if not tile_url:
            layers.append(
                {
                    "id": "land",
                    "type": "fill",
                    "source": "counties",
                    "paint": {"fill-color": t["land"], "fill-opacity": 1},
                }
            )
    if townships is not None:
        sources["townships"] = {"type": "geojson", "data": townships}
        layers.append(
            {
                "id": "township-lines",
                "type": "line",
                "source": "townships",
                "paint": {"line-color": t["outline"], "line-width": 0.7, "line-opacity": 0.45},
            }
        )
    if counties is not None:
        layers.append(
            {
                "id": "county-lines",
                "type": "line",
                "source": "counties",
                "paint": {"line-color": t["county"], "line-width": 1.6, "line-opacity": 0.9},
            }
        )
    return {"version": 8, "name": f"onemap-local-{theme}", "sources": sources, "layers": layers}


def maplibre_config(style: Mapping[str, Any], *, interleaved: bool = False) -> dict[str, Any]:
    """deckgl-dash ``maplibre_config`` prop for a :func:`local_style`.

    Parameters
    ----------
    style : mapping
        A style object (never a style URL on another host).
    interleaved : bool
        Draw deck.gl layers between MapLibre layers.

    Returns
    -------
    dict
        ``{"style": …, "attributionControl": False}`` (the attribution control would link to
        maplibre.org).
    """
    if not isinstance(style, Mapping):
        raise TypeError("style must be a style object, not a URL: a URL would be fetched")
    out: dict[str, Any] = {"style": dict(style), "attributionControl": False}
    if interleaved:
        out["interleaved"] = True
    return out
