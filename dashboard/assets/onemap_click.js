/* 地图点击下钻 map clicks: the unit under a clicked position, found in the browser in the "units" layer
   the map already holds (point in polygon, holes and multipolygons included), so that a click on a
   hexagon or a point drills down with one request, as a click on the unit's own polygon does. The
   server checks the unit against the user's scope like any other URL. Used by
   dashboard.pages.CLICK_JS; tested against shapely in tests/browser/test_screens.py. */
window.onemap = window.onemap || {};
(function (ns) {
    "use strict";

    function inRing(ring, x, y) {
        var inside = false;
        for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
            var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
            if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) {
                inside = !inside;
            }
        }
        return inside;
    }

    function inPolygon(rings, x, y) {
        if (!rings || !rings.length || !inRing(rings[0], x, y)) { return false; }
        for (var k = 1; k < rings.length; k++) {
            if (inRing(rings[k], x, y)) { return false; }  // in a hole
        }
        return true;
    }

    function inGeometry(geometry, x, y) {
        if (!geometry) { return false; }
        if (geometry.type === "Polygon") { return inPolygon(geometry.coordinates, x, y); }
        if (geometry.type === "MultiPolygon") {
            for (var p = 0; p < geometry.coordinates.length; p++) {
                if (inPolygon(geometry.coordinates[p], x, y)) { return true; }
            }
        }
        return false;
    }

    /* The ``code`` of the feature of the "units" layer containing (lon, lat), or null (no such layer,
       its data is a URL, or no unit there). ``layers``: a deck.gl map's layers prop. */
    ns.unitAt = function (layers, lon, lat) {
        if (!Array.isArray(layers)) { return null; }
        for (var i = 0; i < layers.length; i++) {
            var layer = layers[i];
            if (!layer || layer.id !== "units") { continue; }
            var data = layer.data;
            var features = data && (Array.isArray(data) ? data : data.features);
            if (!Array.isArray(features)) { return null; }
            for (var n = 0; n < features.length; n++) {
                var f = features[n];
                if (f && inGeometry(f.geometry, lon, lat)) {
                    var code = f.properties && f.properties.code;
                    return code === undefined || code === null ? null : String(code);
                }
            }
            return null;
        }
        return null;
    };
})(window.onemap);
