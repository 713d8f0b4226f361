"""A poisoned unit name (a township or county called ``<img …><div style="position:fixed">请重新登录</div>``)
hovered on the map is shown as text in deck.gl's tooltip: no element of the payload reaches the DOM.

The module serves its own store (every county renamed with the payload), so that the other browser
tests keep their clean names; the browser, contexts and offline guard are those of ``conftest.py``.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from tests.browser.conftest import PASSWORD, login, wait_screen

PAYLOAD = '<img src=x onerror=alert(1)><div style="position:fixed;inset:0">请重新登录</div>'

#: Anything of the payload that became markup, anywhere in the page.
FOUND_MARKUP = """() => {
  const imgs = [...document.querySelectorAll('img')].filter(i => (i.getAttribute('src') || '') === 'x');
  const fixed = [...document.querySelectorAll('div')].filter(
    d => d.style.position === 'fixed' && d.textContent.includes('请重新登录'));
  return imgs.length + fixed.length;
}"""


@pytest.fixture(scope="module")
def live_server(tiny_demo, tmp_path_factory):
    """The dashboard over a store whose counties are all called :data:`PAYLOAD` (plus a number)."""
    from werkzeug.serving import make_server

    from dashboard.app import AppConfig, create_app
    from data.store import load_layers, open_store
    from data.store.users import add_user

    store = open_store(url="", data_dir=tmp_path_factory.mktemp("poisoned_map"))
    load_layers(store, tiny_demo)
    with store.begin() as conn:
        conn.execute(
            sa.text("UPDATE admin_units SET unit_name = :p || unit_code WHERE level = 'county'"),
            {"p": PAYLOAD},
        )
    city = str(store.units("city")["unit_code"].iloc[0])
    add_user(store, "tt_admin", PASSWORD, "admin", city)
    app = create_app(store, AppConfig(data_dir=tmp_path_factory.mktemp("poisoned_var")))
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        store.close()


def test_hovering_a_poisoned_unit_shows_its_name_as_text(new_page, live_server):
    page = new_page()
    login(page, live_server, "tt_admin", target="/map")
    wait_screen(page)
    page.wait_for_function(
        "() => { const c = document.querySelector('#map canvas');"
        " return c && c.width > 0 && c.clientWidth > 0; }"
    )
    box = page.locator("#map canvas").first.bounding_box()
    shown = ""
    for attempt in range(12):  # software WebGL on a busy machine: hover again until deck.gl picks
        fx, fy = 0.35 + 0.03 * (attempt % 4), 0.4 + 0.05 * (attempt // 4)
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy, steps=4)
        page.wait_for_timeout(1200)
        shown = page.evaluate(
            "() => { const t = document.querySelector('.deck-tooltip');"
            " return t && t.style.display !== 'none' ? t.innerText : ''; }"
        )
        if "请重新登录" in shown:
            break
    assert "请重新登录" in shown, f"no tooltip with the unit's name appeared ({shown!r})"
    assert "<img src=x" in shown and "<div" in shown  # the name, shown as typed
    tooltip_children = page.evaluate(
        "() => [...document.querySelector('.deck-tooltip').querySelectorAll('*')].map(e => e.tagName)"
    )
    assert set(tooltip_children) <= {"B", "BR"}, tooltip_children
    assert page.evaluate(FOUND_MARKUP) == 0
