"""The video wall (大屏) in headless Chromium: it rotates on its own, and when the server stops answering
it keeps the figures on display and says how old they are."""

from __future__ import annotations

import io
import re
from urllib.parse import quote

from tests.browser.conftest import PASSWORD

#: The shortest rotation and refresh the wall accepts, so the test waits seconds, not minutes.
FAST = "?interval=5&refresh=5"


def _open_wall(page, base: str, user: str, search: str = FAST) -> None:
    page.goto(f"{base}/login?next={quote('/wall' + search)}")
    page.fill("#user", user)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_selector("#wall #wall-body .wall-screen")


def _title(page) -> str:
    return page.inner_text("#wall-title").strip()


def test_the_wall_rotates_through_the_screens_dark_and_full_window(new_page, live_server, users, screens_dir):
    page = new_page()
    page.set_viewport_size({"width": 1920, "height": 1080})
    _open_wall(page, live_server, users.ids["display"])
    assert _title(page) == "基本概况"
    background = page.evaluate("() => getComputedStyle(document.querySelector('#wall')).backgroundColor")
    assert background == "rgb(7, 17, 31)"
    box = page.locator("#wall").bounding_box()
    assert (box["width"], box["height"]) == (1920, 1080)
    assert page.locator("#nav .topnav").count() == 0 and page.locator("#filters .filters").count() == 0
    page.screenshot(path=str(screens_dir / "wall-overview-1080.png"))
    page.wait_for_function("() => document.querySelector('#wall-title').innerText.trim() === '数据赋能'")
    page.wait_for_selector("#wall-body .wall-screen-empower")
    assert page.inner_text(".wall-dot.active").strip() == "数据赋能"
    assert "数据更新于" in page.inner_text("#wall-status")


def test_the_wall_keeps_its_figures_when_the_server_stops_answering(new_page, context, live_server, users):
    page = new_page()
    _open_wall(page, live_server, users.ids["display"], FAST + "&screen=warnings")
    page.wait_for_selector("#wall-body .js-plotly-plot")
    assert "办结率" in page.inner_text("#wall-body")
    charts = page.locator("#wall-body .js-plotly-plot").count()
    # from now on every callback request fails as if the server were down
    context.watch.expected.append("Failed to load resource")
    context.watch.expected.append("500")
    context.watch.expected.append("Callback error updating")  # Dash's own report of the failed request
    page.route(re.compile(r"/_dash-update-component"), lambda route: route.fulfill(status=500, body="down"))
    # a refresh already in flight may still bring new figures: mark what is on display only once a
    # refresh has failed, then the same DOM nodes must stay
    with page.expect_response(
        lambda r: "_dash-update-component" in r.url and r.status == 500, timeout=30_000
    ):
        pass
    page.evaluate("() => { document.querySelector('#wall-body .wall-screen').dataset.mark = 'shown'; }")
    # the browser-side clock notices after two refresh periods without good figures
    page.wait_for_function(
        "() => document.querySelector('#wall-offline').innerText.includes('连接中断')", timeout=60_000
    )
    note = page.inner_text("#wall-offline")
    assert "分钟前" in note and "的数据" in note
    assert _title(page) == "预警推送"
    assert page.locator("#wall-body .wall-screen-warnings[data-mark=shown]").is_visible()
    assert page.locator("#wall-body .js-plotly-plot").count() == charts
    assert "办结率" in page.inner_text("#wall-body")


def test_the_wall_map_draws_3d_columns_offline(new_page, live_server, users, screens_dir):
    """The map screen's 3D hexagon columns (pydeck) draw from this server alone (the context's guard
    fails the test on a request to any other origin)."""
    from PIL import Image

    page = new_page()
    page.set_viewport_size({"width": 1920, "height": 1080})
    _open_wall(page, live_server, users.ids["display"], FAST + "&screen=map")
    frame = page.frame_locator("#wall-hex3d")
    frame.locator("#deck-container canvas").first.wait_for(timeout=60_000)
    box = page.locator("#wall-hex3d").bounding_box()
    for _ in range(40):  # deck.gl draws on the next frames
        shot = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("L")
        lo, hi = shot.getextrema()
        if hi - lo > 40:
            break
        page.wait_for_timeout(250)
    assert hi - lo > 40, "the 3D view is blank"
    page.screenshot(path=str(screens_dir / "wall-map-3d-1080.png"))
