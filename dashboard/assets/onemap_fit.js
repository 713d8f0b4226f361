/* 地图自适应 map framing: deck.gl maps frame their unit with deckgl-dash's fitBounds, which measures the
   map's box when the prop arrives. A map mounted before the page was laid out (the overview's card,
   the wall's panes) was framed for a guessed size and showed a cut-off city; a window resized later
   (the wall on another screen) kept the old frame. Here every map is framed again, with the bounds it
   already holds, whenever its box gets a new non-zero size. Tested in tests/browser/test_map_layers.py. */
window.onemap = window.onemap || {};
(function (ns) {
    "use strict";
    var sizes = new WeakMap();

    function refit(el) {
        var api = window.dash_component_api, dc = window.dash_clientside;
        if (!api || !api.getLayout || !dc || !dc.set_props || !el.id || !el.isConnected) { return; }
        var id = el.id;
        if (id.charAt(0) === "{") {
            try { id = JSON.parse(id); } catch (e) { return; }
        }
        try {
            var node = api.getLayout(id);
            var fit = node && node.props && node.props.fitBounds;
            if (!fit || !fit.bounds) { return; }
            dc.set_props(id, {fitBounds: Object.assign({}, fit)});  // a new object: deckgl-dash frames again
        } catch (e) {
            // a map replaced meanwhile (the wall rotating): nothing to frame
        }
    }

    var observer = new ResizeObserver(function (entries) {
        entries.forEach(function (entry) {
            var w = Math.round(entry.contentRect.width), h = Math.round(entry.contentRect.height);
            if (!w || !h) { return; }
            var key = w + "x" + h;
            if (sizes.get(entry.target) === key) { return; }
            var first = !sizes.has(entry.target);
            sizes.set(entry.target, key);
            // the first size: deckgl-dash may have framed already; a frame later the layout has settled
            window.requestAnimationFrame(function () { refit(entry.target); });
            if (first) { window.setTimeout(function () { refit(entry.target); }, 300); }
        });
    });

    function watch(root) {
        var maps = root.querySelectorAll ? root.querySelectorAll(".map-wrap > div[id]") : [];
        maps.forEach(function (el) {
            if (!el.dataset.onemapFit) { el.dataset.onemapFit = "1"; observer.observe(el); }
        });
    }

    new MutationObserver(function () { watch(document); }).observe(document.documentElement, {
        childList: true, subtree: true
    });
    ns.refitMaps = function () { watch(document); };
})(window.onemap);
