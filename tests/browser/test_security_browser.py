"""Security in a real browser (headless Chromium): the Content-Security-Policy blocks an injected inline
script and the guard of ``conftest.py`` reports it; unmasking one row of the grid records table."""

from __future__ import annotations

import json

from data.access import find_personal_data
from tests.browser.conftest import login


def _dom_id(**ident) -> str:
    """The DOM id Dash gives a component with a dict id (keys sorted, compact JSON)."""
    return json.dumps(ident, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_an_injected_inline_script_is_blocked_and_reported(new_page, context, live_server, users):
    page = new_page()
    seen: list[str] = []
    page.on("console", lambda msg: seen.append(msg.text))
    login(page, live_server, users.ids["analyst"])
    # provoked here on purpose: Chromium's own report, and the guard's
    context.watch.expected += ["Content Security Policy directive", "CSP violation"]
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__injected = 1';"
        " document.body.appendChild(s); }"
    )
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__injected") is None
    assert any("CSP violation: script-src" in text for text in seen), seen


def test_unmask_one_row_of_the_grid_records(new_page, live_server, users, browser_store):
    page = new_page()
    login(page, live_server, users.ids["analyst"], target=f"/overview?unit={users.grid}")
    table = page.locator(f"[id='{_dom_id(layer='population', type='grid-records')}']")
    table.locator("td").first.wait_for()
    assert find_personal_data(table.inner_text()) == []  # masked at first
    before = browser_store.audit_entries(filters={"action": "unmask"}).total
    table.locator("input[type=radio]").first.check()
    reason = page.locator(f"[id='{_dom_id(layer='population', type='unmask-reason')}']")
    reason.fill("入户核查身份")
    page.locator(f"[id='{_dom_id(layer='population', type='unmask')}']").click()
    message = page.locator(f"[id='{_dom_id(layer='population', type='unmask-msg')}']")
    page.wait_for_function(
        "(sel) => document.querySelector(sel)?.innerText.includes('审计')",
        arg=f"[id='{_dom_id(layer='population', type='unmask-msg')}']",
    )
    entry = browser_store.audit_entries(filters={"action": "unmask"}).frame.iloc[0]
    person_id = entry.target.split(":")[1]
    person = browser_store.read("population", filters={"person_id": person_id}, geometry=False).iloc[0]
    assert browser_store.audit_entries(filters={"action": "unmask"}).total == before + 1
    assert (entry.actor, entry.reason) == (users.ids["analyst"], "入户核查身份")
    assert person.id_number in message.inner_text()
    page.wait_for_function(
        "([sel, v]) => document.querySelector(sel)?.innerText.includes(v)",
        arg=[f"[id='{_dom_id(layer='population', type='grid-records')}']", person.id_number],
    )
    assert reason.input_value() == ""


def test_the_logout_button_ends_the_session(new_page, live_server, users):
    """退出 posts from the page itself (a GET link could be fired by any other site); the session then
    ends: a screen sends the browser back to the log-in page."""
    page = new_page()
    login(page, live_server, users.ids["analyst"])
    page.locator("button.logout").click()
    page.wait_for_url("**/login**")
    page.goto(live_server + "/overview")
    page.wait_for_url("**/login**")
    assert page.locator("#password").count() == 1
