"""The five screens in a real browser (headless Chromium): they render, draw, drill, filter and stay offline.

Every test runs in its own browser context with the offline guard of ``conftest.py`` (a request to any
origin but the live server fails the test) and fails on console errors.
"""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import PASSWORD, login, wait_screen

#: Screen path → the Chinese title of its navigation link, a heading of its body, whether it has plotly
#: graphs, whether it has the map.
SCREENS = {
    "overview": ("基本概况", "组织架构图", False, True),
    "empower": ("数据赋能", "预警趋势", True, False),
    "warnings": ("预警推送", "工单状态", True, False),
    "quality": ("质态监测", "排名", True, False),
    "map": ("可视化地图", "H3警情热力", False, True),
}


def query(page) -> dict[str, list[str]]:
    """The parsed query string of the page's current URL."""
    return parse_qs(urlsplit(page.url).query)


def crumb(page) -> str:
    return page.inner_text("#crumb-current").strip()


def wait_crumb_change(page, before: str) -> str:
    """Wait for the breadcrumb's current unit to differ from ``before``; return the new one."""
    page.wait_for_function(
        "(b) => { const c = document.querySelector('#crumb-current');"
        " return c && c.innerText.trim() !== b; }",
        arg=before,
    )
    wait_screen(page)
    return crumb(page)


def wait_crumb_is(page, name: str) -> None:
    """Wait for the breadcrumb's current unit to be ``name`` and the screen to be drawn."""
    page.wait_for_function(
        "(n) => document.querySelector('#crumb-current')?.innerText.trim() === n", arg=name
    )
    wait_screen(page)


def canvas_pixels_vary(page, selector: str) -> bool:
    """True when the screenshot of the element's box is not one flat colour (something was drawn)."""
    from PIL import Image

    box = page.locator(selector).first.bounding_box()
    # the legend floats over the canvas: hide it, so that only what deck.gl drew is measured
    page.evaluate(
        "() => { const l = document.querySelector('#map-legend'); if (l) l.style.visibility = 'hidden'; }"
    )
    try:
        shot = page.screenshot(clip=box)
    finally:
        page.evaluate(
            "() => { const l = document.querySelector('#map-legend'); if (l) l.style.visibility = ''; }"
        )
    img = Image.open(io.BytesIO(shot)).convert("L")
    lo, hi = img.getextrema()
    return hi - lo > 20


def wait_map_drawn(page) -> None:
    """Wait for deck.gl's canvas inside ``#map`` to have a non-zero drawing buffer."""
    page.wait_for_function(
        "() => { const c = document.querySelector('#map canvas');"
        " return c && c.width > 0 && c.height > 0 && c.clientWidth > 0 && c.clientHeight > 0; }"
    )


# ---------------------------------------------------------------------- screens
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_renders_offline(admin_page, live_server, screens_dir, screen):
    page = admin_page
    title, heading, has_graphs, has_map = SCREENS[screen]
    page.click(f"#nav-{screen}")
    page.wait_for_url(f"**/{screen}*")
    page.wait_for_selector(f"#nav-{screen}.active")  # the router answered for the new path
    wait_screen(page)
    assert page.locator(f"#nav-{screen}").inner_text().strip() == title
    assert "active" in (page.get_attribute(f"#nav-{screen}", "class") or "")
    assert page.locator("#page .error").count() == 0, page.inner_text("#page")
    assert page.title() == "警网融合一张图"
    assert page.get_by_text(heading).first.is_visible()
    assert "（市）" in page.inner_text("#breadcrumb")
    if has_graphs:
        page.wait_for_selector("#page .js-plotly-plot .main-svg", state="attached")
        assert page.locator("#page .js-plotly-plot").count() >= 1
    if has_map:
        wait_map_drawn(page)
        page.wait_for_selector("#map-legend .legend-title")
        assert page.locator("#map canvas").first.bounding_box()["width"] > 100
        # deck.gl draws on the next animation frames: poll the pixels until they are not blank
        for _ in range(20):
            if canvas_pixels_vary(page, "#map canvas"):
                break
            page.wait_for_timeout(250)
        assert canvas_pixels_vary(page, "#map canvas"), "the map canvas is blank"
    page.screenshot(path=str(screens_dir / f"{screen}.png"), full_page=True)


# ---------------------------------------------------------------------- drill-down
def test_drill_down_city_to_grid_and_back(admin_page, users):
    page = admin_page
    city = crumb(page)
    assert "unit" not in query(page)  # the user's own unit, the city
    trail = [(city, None)]
    for _level in ("county", "township", "village", "grid"):
        link = page.locator("#overview-table a.drill").first
        name = link.inner_text().strip()
        link.click()
        now = wait_crumb_change(page, trail[-1][0])
        assert now == name
        unit = query(page)["unit"][0]
        assert unit and unit != trail[-1][1]
        trail.append((name, unit))
    # four levels down: the last one is a grid, whose code has the grid length of the demo (15 digits)
    assert len(trail[-1][1]) == len(users.grid)
    assert page.locator("#breadcrumb a.crumb").count() == 4
    # Back returns to the previous unit, twice (grid → village → township)
    for name, unit in (trail[-2], trail[-3]):
        page.go_back()
        wait_crumb_is(page, name)
        assert query(page)["unit"] == [unit]


def test_breadcrumb_link_climbs_up(admin_page):
    page = admin_page
    city = crumb(page)
    page.locator("#overview-table a.drill").first.click()
    wait_crumb_change(page, city)
    assert page.locator("#breadcrumb a.crumb").all_inner_texts() == [city]
    page.locator("#breadcrumb a.crumb").first.click()
    wait_crumb_is(page, city)
    assert page.locator("#breadcrumb a.crumb").count() == 0


# ---------------------------------------------------------------------- filters
def test_quick_range_changes_url_and_numbers(admin_page):
    page = admin_page
    page.click("#nav-empower")
    page.wait_for_selector("#card-hits")
    wait_screen(page)
    before = page.inner_text("#card-hits")
    assert "range" not in query(page)  # the default, 近30天, is not written in the URL
    assert page.locator(".f-quick input[value='30d']").is_checked()
    page.locator(".f-quick label", has_text="近7天").click()
    page.wait_for_url("**range=7d**")
    page.wait_for_function("(b) => document.querySelector('#card-hits')?.innerText !== b", arg=before)
    wait_screen(page)
    assert query(page)["range"] == ["7d"]
    after = page.inner_text("#card-hits")
    assert after != before
    # the card's period line says the seven days ending on the data's last day
    assert "10-25 至 10-31" in after and "10-02 至 10-31" in before
    assert page.locator(".f-quick input[value='7d']").is_checked()


def test_police_hierarchy_shows_bureaus(admin_page):
    page = admin_page
    page.locator(".f-hier label", has_text="公安警务").click()
    page.wait_for_url("**h=police**")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#overview-table a.drill')]"
        ".some(a => a.innerText.includes('分局'))"
    )
    names = page.locator("#overview-table a.drill").all_inner_texts()
    assert names and all(n.strip().endswith("分局") for n in names)
    assert query(page)["h"] == ["police"]


# ---------------------------------------------------------------------- URL state
def test_direct_url_restores_the_view(new_page, live_server, users):
    page = new_page()
    target = f"/map?unit={users.county}&layers=grids,h3,incidents&range=7d"
    login(page, live_server, users.ids["admin"], target=target)
    assert urlsplit(page.url).path == "/map"
    q = query(page)
    assert q["unit"] == [users.county] and q["range"] == ["7d"]
    assert q["layers"] == ["grids,h3,incidents"]
    crumbs = page.locator("#breadcrumb a.crumb").all_inner_texts()
    assert len(crumbs) == 1  # city › county
    assert crumb(page) != crumbs[0]
    assert page.locator(".f-quick input[value='7d']").is_checked()
    wait_map_drawn(page)
    assert "警情类别" in page.inner_text("#map-legend")  # the incidents layer is on


# ---------------------------------------------------------------------- scope
def test_grid_worker_sees_only_their_grid(new_page, live_server, users):
    page = new_page()
    login(page, live_server, users.ids["grid_worker"])
    assert crumb(page) == users.grid_name
    assert page.locator("#breadcrumb a.crumb").count() == 0  # nothing above their grid to climb to
    page.goto(f"{live_server}/overview?unit={users.city}")
    wait_screen(page)
    assert crumb(page) == users.grid_name
    assert "超出本账号管辖范围" in page.inner_text("#crumbs")


def test_officer_stays_in_their_county(new_page, live_server, users, browser_store):
    page = new_page()
    login(page, live_server, users.ids["officer"], target="/map")
    counties = browser_store.units("county").set_index("unit_code")["unit_name"]
    assert crumb(page) == counties[users.county]
    other = next(c for c in counties.index if c != users.county)
    page.goto(f"{live_server}/map?unit={other}")
    wait_screen(page)
    assert crumb(page) == counties[users.county]
    assert "超出本账号管辖范围" in page.inner_text("#crumbs")
    wait_map_drawn(page)


def test_anonymous_is_sent_to_login(new_page, live_server):
    page = new_page()
    response = page.goto(f"{live_server}/quality?range=7d")
    assert urlsplit(page.url).path == "/login"
    assert query(page)["next"] == ["/quality?range=7d"]
    assert response.status == 200 and page.locator("#password").count() == 1


def test_wrong_password_stays_on_login(new_page, live_server, users):
    page = new_page()
    page.goto(f"{live_server}/login")
    page.fill("#user", users.ids["admin"])
    page.fill("#password", PASSWORD + "x")
    # the log-in answers a wrong password with 401, which Chromium reports in the console
    page.context.watch.expected.append("status of 401")
    page.click("button[type=submit]")
    page.wait_for_selector(".err:not(:empty)")
    assert urlsplit(page.url).path == "/login"
    assert page.locator("#crumbs").count() == 0  # no screen behind a failed log-in


# ---------------------------------------------------------------------- the map stays mounted
def _mark_map(page) -> None:
    page.evaluate("() => { document.querySelector('#map canvas').dataset.mark = 'kept'; }")


def _map_kept(page) -> bool:
    return page.evaluate("() => document.querySelector('#map canvas')?.dataset.mark === 'kept'")


def _click_map_centre(page, crumb_before: str, tries: int = 4) -> None:
    """Click the middle of the map as a hand does (move, rest, press, release) until the breadcrumb
    changes. With software WebGL on a busy machine deck.gl may drop a click that comes while it is still
    picking for the hover (a person clicks again); the product's answer to a click it took is tested
    by what follows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator("#map canvas").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for attempt in range(tries):
        page.mouse.move(x + attempt, y + attempt, steps=5)
        page.wait_for_timeout(1500)
        page.mouse.down()
        page.wait_for_timeout(80)
        page.mouse.up()
        try:
            page.wait_for_function(
                "(b) => document.querySelector('#crumb-current')?.innerText.trim() !== b",
                arg=crumb_before,
                timeout=8000,
            )
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the map took none of {tries} clicks")


def test_the_map_is_updated_in_place_and_the_controls_follow_the_url(admin_page):
    """A filter change, a layer toggle and a click on the map update the mounted deck.gl map (the same
    canvas, so no new WebGL context); Back brings the controls back to what the URL says."""
    page = admin_page
    page.click("#nav-map")
    page.wait_for_url("**/map*")
    page.wait_for_selector("#nav-map.active")  # the map screen arrived (the overview has a map too)
    wait_screen(page)
    wait_map_drawn(page)
    _mark_map(page)
    legend = page.inner_text("#map-legend")
    city = crumb(page)

    page.locator(".f-quick label", has_text="近7天").click()
    page.wait_for_url("**range=7d**")
    page.wait_for_function("(b) => document.querySelector('#map-legend').innerText !== b", arg=legend)
    wait_screen(page)
    assert _map_kept(page), "the map was remounted by a filter change"

    page.locator(".layer-toggles label", has_text="警情点位").click()
    page.wait_for_function("() => document.querySelector('#map-legend').innerText.includes('警情类别')")
    wait_screen(page)
    assert "incidents" in query(page)["layers"][0]
    assert _map_kept(page), "the map was remounted by a layer toggle"

    # a click in the middle of the city's map lands in a county (on its polygon or on a hexagon or a
    # point over it): the map drills into that county, still the same canvas
    _click_map_centre(page, city)
    county = wait_crumb_change(page, city)
    assert query(page)["unit"][0] and county != city
    assert _map_kept(page), "the map was remounted by a drill-down"
    assert canvas_pixels_vary(page, "#map canvas")

    # Back: the city again, then the layers and the range of before, shown by the controls too
    page.go_back()
    wait_crumb_is(page, city)
    page.go_back()
    page.wait_for_function("() => !location.search.includes('incidents')")
    wait_screen(page)
    assert not page.locator(".layer-toggles input[value='incidents']").is_checked()
    page.go_back()
    page.wait_for_function("() => !location.search.includes('range=7d')")
    wait_screen(page)
    assert page.locator(".f-quick input[value='30d']").is_checked()
    assert _map_kept(page)


def test_the_browser_finds_the_unit_under_a_click_as_shapely_does(admin_page, browser_store):
    """A click on a hexagon or a point drills into the unit below it, found in the browser in the map's
    own units layer (``window.onemap.unitAt``): the same unit as shapely finds in the same shapes, for
    random positions over the city's counties and over one township's grids."""
    import numpy as np
    import shapely
    from shapely.geometry import shape

    from dashboard.queries import Queries

    q = Queries(browser_store)
    township = browser_store.units("township").unit_code.iloc[0]
    rng = np.random.default_rng(7)
    for code in (None, township):
        fc, _codes, _level = q.child_shapes(code, "admin", None)
        shapes = [shape(f["geometry"]) for f in fc["features"]]
        x0, y0, x1, y1 = shapely.union_all(shapes).bounds
        pts = np.column_stack([rng.uniform(x0, x1, 400), rng.uniform(y0, y1, 400)]).tolist()
        expected = [
            next(
                (
                    f["properties"]["code"]
                    for f, s in zip(fc["features"], shapes, strict=True)
                    if s.contains(shapely.Point(x, y))
                ),
                None,
            )
            for x, y in pts
        ]
        got = admin_page.evaluate(
            "([fc, pts]) => pts.map(p => window.onemap.unitAt([{id: 'units', data: fc}], p[0], p[1]))",
            [fc, pts],
        )
        assert got == [None if e is None else str(e) for e in expected]
        assert sum(e is not None for e in expected) > 100  # most positions lie in a unit


def test_a_click_on_a_hexagon_drills_down_without_asking_the_server(admin_page, browser_store):
    """A click that deck.gl reports on another layer than the units (a hexagon here) drills into the
    unit below it with no round trip for the position: the unit the server would find, no request
    carrying the click."""
    from shapely.geometry import shape

    from dashboard.queries import Queries

    page = admin_page
    page.click("#nav-map")
    page.wait_for_selector("#nav-map.active")
    wait_screen(page)
    wait_map_drawn(page)
    q = Queries(browser_store)
    fc, _codes, _level = q.child_shapes(None, "admin", None)
    where = shape(fc["features"][-1]["geometry"]).representative_point()
    expected = q.child_at(None, "admin", None, where.x, where.y)
    assert expected
    to_server: list[str] = []
    page.on("request", lambda r: to_server.append(r.url) if '"map-click"' in (r.post_data or "") else None)
    page.evaluate(
        "([x, y]) => window.dash_clientside.set_props({'live-map': 'map'}, {clickInfo: {picked: true,"
        " layerId: 'h3', coordinate: [x, y], object: {h: '872830828ffffff', v: 3}}})",
        [where.x, where.y],
    )
    page.wait_for_function("(u) => new URLSearchParams(location.search).get('unit') === u", arg=expected)
    wait_screen(page)
    assert to_server == []
