"""Every map layer draws in a real browser, under the app's own Content-Security-Policy.

Each layer of :data:`dashboard.state.MAP_LAYERS` is shown alone over the same unit and period, and the
map's pixels are compared with the map drawn with no layer at all: a layer that draws nothing (its image
blocked by the CSP, its data empty, its colours transparent) fails. A CSP violation or a console error
fails the test too (``conftest.py``).
"""

from __future__ import annotations

import io

import pytest

from dashboard.state import MAP_LAYERS
from tests.browser.conftest import login, wait_screen
from tests.browser.test_screens import wait_map_drawn

#: Pixels of the map a layer must change (a few stations as dots on a county change a few hundred).
MIN_CHANGED = 100


def _map_shot(page):
    """The map canvas as a greyscale image, legend and tooltips hidden, once deck.gl settled."""
    from PIL import Image

    canvas = page.locator("#map canvas").first
    page.evaluate(
        "() => { const l = document.querySelector('#map-legend'); if (l) l.style.visibility = 'hidden'; }"
    )
    previous = None
    for _ in range(20):  # deck.gl draws on the next frames: wait until two shots agree
        page.wait_for_timeout(300)
        # the element's own screenshot: scrolled into view, not cut at the window's bottom
        shot = Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")
        if previous is not None and shot.tobytes() == previous.tobytes():
            return shot
        previous = shot
    return previous


def _changed(a, b) -> int:
    from PIL import ImageChops

    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 24 else 0)
    return diff.histogram()[255]


def _open(page, base: str, unit: str, layers: str) -> None:
    page.goto(f"{base}/map?unit={unit}&layers={layers}&range=ytd")
    wait_screen(page)
    wait_map_drawn(page)


@pytest.fixture
def leader_page(new_page, live_server, users):
    """A page logged in as the city leader (who may see persons of concern)."""
    page = new_page()
    login(page, live_server, users.ids["leader"], target=f"/map?unit={users.county}&layers=none&range=ytd")
    return page


def test_every_map_layer_draws(leader_page, live_server, users):
    page = leader_page
    _open(page, live_server, users.county, "none")
    blank = _map_shot(page)
    silent = {}
    for layer in MAP_LAYERS:
        _open(page, live_server, users.county, layer)
        share = _changed(blank, _map_shot(page))
        if share < MIN_CHANGED:
            silent[layer] = f"{MAP_LAYERS[layer]}: {share} pixels changed"
    assert not silent, f"layers that drew nothing: {silent}"


def _edge_drawn(shot, background) -> float:
    """Share of the image's border pixels (2 px wide) that differ from the map's background colour."""
    from PIL import Image, ImageChops

    w, h = shot.size
    flat = Image.new("RGB", shot.size, background)
    diff = ImageChops.difference(shot, flat).convert("L").point(lambda v: 255 if v > 24 else 0)
    strips = [diff.crop(b) for b in ((0, 0, w, 2), (0, h - 2, w, h), (0, 0, 2, h), (w - 2, 0, w, h))]
    drawn = sum(s.histogram()[255] for s in strips)
    return drawn / sum(s.width * s.height for s in strips)


@pytest.mark.parametrize(("path", "size"), [("/overview", (1600, 1000)), ("/map", (1280, 720))])
def test_the_map_frames_the_whole_unit_on_first_load(new_page, live_server, users, path, size):
    """The city is drawn whole, with a margin, on the first map a user sees (the overview's card was
    framed for a guessed size and cut the city off), and again after the window is resized."""
    page = new_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    login(page, live_server, users.ids["leader"], target=path)
    wait_map_drawn(page)
    background = page.evaluate(
        "() => getComputedStyle(document.querySelector('.map-wrap')).backgroundColor"
        ".match(/\\d+/g).slice(0, 3).map(Number)"
    )
    assert _edge_drawn(_map_shot(page), tuple(background)) < 0.01, "the unit touches the map's edge"
    page.set_viewport_size({"width": size[0] - 400, "height": size[1]})
    assert _edge_drawn(_map_shot(page), tuple(background)) < 0.01, "not framed again after a resize"
