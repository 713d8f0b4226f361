"""Fixtures for the browser tests (浏览器测试): a loaded store, a live server, headless Chromium.

The server runs in a daemon thread of the test process (werkzeug, port chosen by the system); one
Chromium serves the whole session and every test gets its own context (cookies, storage), so tests do
not see each other's log-in. Every context has an *offline guard*: any request to another origin is
aborted and recorded, and the test fails at its end if there was one (the product must work without
the internet). Console errors, uncaught page errors and Content-Security-Policy violations fail the test
too.

The tests are skipped when Playwright or ``/usr/bin/chromium`` is missing, unless the environment
variable ``CI`` is set: then a missing browser is a failure.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from onemap.chromium import CHROMIUM, CHROMIUM_ARGS

PASSWORD = "browser-test-1"
SCREENS_DIR = Path(__file__).resolve().parents[2] / "test-output" / "screens"
#: Generous upper bound for a screen to render (a wait, never an assertion on speed).
TIMEOUT_MS = 30_000


def _require_browser():
    """The Playwright sync API, or skip (fail on CI) when it or Chromium is missing."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason, sync_playwright = "playwright is not installed", None
    if reason is None and not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need a browser on CI: {reason}")
        pytest.skip(reason)
    return sync_playwright


# ---------------------------------------------------------------------- data
@dataclass
class Users:
    """The test accounts (all with :data:`PASSWORD`) and the units they are bound to."""

    city: str
    county: str
    grid: str
    grid_name: str
    ids: dict[str, str] = field(default_factory=dict)  # role → user id


@pytest.fixture(scope="session")
def browser_store(tiny_demo, tmp_path_factory):
    """A SQLite store loaded with the tiny demo, its model warnings pushed as work orders."""
    from data.store import load_layers, open_store
    from geo.models import run_dir

    # url="" forces the embedded SQLite store even when ONEMAP_DATABASE_URL is set
    store = open_store(url="", data_dir=tmp_path_factory.mktemp("browser_store"))
    load_layers(store, tiny_demo)
    warnings, _ = run_dir(tiny_demo)
    store.upsert_warnings(warnings, push=True)
    return store


@pytest.fixture(scope="session")
def users(browser_store) -> Users:
    """One account per role, bound to real units of the store (the grid worker to their own grid)."""
    from data.store.users import add_user

    store = browser_store
    city = str(store.units("city")["unit_code"].iloc[0])
    county = str(store.units("county").sort_values("unit_code")["unit_code"].iloc[0])
    grids = store.units("grid")
    staff = store.read("staff")
    # a grid worker (网格员) is bound to a grid: the first staff row whose unit is a grid
    workers = staff[staff["unit_code"].isin(set(grids["unit_code"]))].sort_values("staff_id")
    assert len(workers), "the tiny demo has no staff bound to a grid"
    worker = workers.iloc[0]
    grid = str(worker["unit_code"])
    grid_name = str(grids.loc[grids["unit_code"] == grid, "unit_name"].iloc[0])
    out = Users(city=city, county=county, grid=grid, grid_name=grid_name)
    for role, unit, staff_id in [
        ("admin", city, None),
        ("leader", city, None),
        ("analyst", city, None),
        ("display", city, None),
        ("officer", county, None),
        ("grid_worker", grid, str(worker["staff_id"])),
    ]:
        user_id = f"bt_{role}"
        add_user(store, user_id, PASSWORD, role, unit, staff_id=staff_id)
        out.ids[role] = user_id
    return out


# ---------------------------------------------------------------------- server
@pytest.fixture(scope="session")
def live_server(browser_store, users, tmp_path_factory):
    """The dashboard served on 127.0.0.1 (a free port) from a daemon thread; yields its base URL."""
    from werkzeug.serving import make_server

    from dashboard.app import AppConfig, create_app

    app = create_app(browser_store, AppConfig(data_dir=tmp_path_factory.mktemp("browser_var")))
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dash-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


# ---------------------------------------------------------------------- browser
@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (Debian's) for the whole session."""
    sync_playwright = _require_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            yield b
        finally:
            b.close()


@dataclass
class Watch:
    """What a page did that a test must not let pass: foreign requests, console and page errors."""

    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Console texts a test provokes on purpose (e.g. the 401 of a wrong password), each with its reason.
    expected: list[str] = field(default_factory=list)


#: Turns every Content-Security-Policy violation of a page into a console error.
CSP_REPORTER = """
document.addEventListener('securitypolicyviolation', (e) => console.error(
  'CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' in ' +
  (e.sourceFile || document.location.pathname) + ':' + e.lineNumber));
"""

#: Console messages that are not the product's errors (none so far: add one only with the reason).
IGNORED_CONSOLE: tuple[str, ...] = ()


@pytest.fixture
def context(browser, live_server):
    """A fresh browser context with the offline guard; fails the test on any foreign request."""
    origin = live_server
    watch = Watch()
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    ctx.set_default_timeout(TIMEOUT_MS)

    def guard(route):
        url = route.request.url
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" == origin or parts.scheme in ("data", "blob"):
            route.continue_()
        else:
            watch.foreign.append(url)
            route.abort()

    ctx.route("**/*", guard)
    # a Content-Security-Policy violation is only a warning in Chromium's console (or nothing, when the
    # page catches the EvalError): report each one as an error, so that it fails the test
    ctx.add_init_script(CSP_REPORTER)
    ctx.watch = watch
    yield ctx
    ctx.close()
    assert not watch.foreign, f"requests left the server's origin (offline rule): {watch.foreign}"


def _watch_page(page, watch: Watch) -> None:
    def on_console(msg):
        allowed = IGNORED_CONSOLE + tuple(watch.expected)
        if msg.type == "error" and not any(s in msg.text for s in allowed):
            watch.errors.append(f"console: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc}"))


@pytest.fixture
def new_page(context):
    """A function making a watched page in the test's context; no console error may remain at the end."""
    pages = []

    def make():
        page = context.new_page()
        _watch_page(page, context.watch)
        pages.append(page)
        return page

    yield make
    assert not context.watch.errors, "errors in the browser console:\n" + "\n".join(context.watch.errors)


def login(page, base: str, user: str, password: str = PASSWORD, target: str = "/overview") -> None:
    """Log in through the form (``/login?next=…``) and wait for the screen to render."""
    from urllib.parse import quote

    page.goto(f"{base}/login?next={quote(target)}")
    page.fill("#user", user)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    wait_screen(page)


def wait_screen(page) -> None:
    """Wait until the Dash callbacks filled the screen (breadcrumb and page body present, no loading)."""
    page.wait_for_selector("#crumbs #breadcrumb", state="attached")
    page.wait_for_function(
        "() => { const p = document.querySelector('#page'); return p && p.children.length > 0"
        " && p.innerText.trim().length > 0 && !document.querySelector('[data-dash-is-loading=\"true\"]'); }"
    )


@pytest.fixture
def admin_page(new_page, live_server, users):
    """A page logged in as the city administrator, on /overview."""
    page = new_page()
    login(page, live_server, users.ids["admin"])
    return page


@pytest.fixture(scope="session")
def screens_dir() -> Path:
    """``test-output/screens/`` (screenshots of each screen; not tracked by git)."""
    SCREENS_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENS_DIR
