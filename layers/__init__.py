"""Map layers and figures (图层与图表): analysed frames in, browser-ready layers and charts out.

* :mod:`layers.geometry`: per-level simplification and quantisation of polygons, compact GeoJSON;
* :mod:`layers.colours`: classed, diverging (Gi*) and categorical colour scales with Chinese legends;
* :mod:`layers.deck`: deck.gl layers for deckgl-dash (choropleths recoloured by ``dash.Patch``, H3,
  points, kernel density, hot spots) and the map component;
* :mod:`layers.basemap`: the offline base (local outlines, a self-contained MapLibre style);
* :mod:`layers.figures`: plotly charts (light and wall themes);
* :mod:`layers.hex3d`: the wall's offline 3D H3 view with pydeck.

This package never reads files and never imports ``dashboard``.
"""
