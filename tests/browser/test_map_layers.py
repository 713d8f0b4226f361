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

    box = page.locator("#map canvas").first.bounding_box()
    page.evaluate(
        "() => { const l = document.querySelector('#map-legend'); if (l) l.style.visibility = 'hidden'; }"
    )
    previous = None
    for _ in range(20):  # deck.gl draws on the next frames: wait until two shots agree
        page.wait_for_timeout(300)
        shot = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB")
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
