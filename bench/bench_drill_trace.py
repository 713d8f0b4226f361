"""Where the time of a drill-down by a map click goes, in headless Chromium against a live server.

Usage::

    python bench/bench_drill_trace.py [--data /tmp/demo_full] [--runs 3]

The same server, browser, log-in and "usable" rule as ``bench/bench_dashboard.py`` (its *map drill*); for
each run it prints, in ms after the mouse button is released on the middle of ``/map``:

* ``unitAt``: the click reached the page's callback and the browser looked up the unit under it (absent
  when deck.gl reported the unit's own polygon; the lookup itself takes well under a millisecond);
* ``send`` / ``recv`` of each ``/_dash-update-component`` request (``render`` is the screen's router);
* ``long``: each long task of the main thread (> 50 ms: React, deck.gl building layers) with its duration;
* ``usable``: the end of the interaction as ``bench_dashboard.py`` times it.

Not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_dashboard as B

#: Marks (name, performance.now()) of the page: requests sent and answered, long tasks, unit look-ups.
TRACE_SCRIPT = """
(() => {
  window.__t = [];
  const mark = (k) => window.__t.push([k, performance.now()]);
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) window.__t.push(['long', e.startTime, e.duration]);
  }).observe({type: 'longtask', buffered: true});
  const orig = window.fetch;
  window.fetch = function (input, init) {
    const body = init && typeof init.body === 'string' ? init.body : '';
    const what = body.includes('page.children') ? 'render'
      : (body.match(/"output":"([^"]{0,40})/) || [0, 'other'])[1];
    mark('send ' + what);
    return orig.apply(this, arguments).then((r) => {
      r.clone().arrayBuffer().then(() => mark('recv ' + what));
      return r;
    });
  };
  const wrap = setInterval(() => {
    if (window.onemap && window.onemap.unitAt) {
      const f = window.onemap.unitAt;
      window.onemap.unitAt = function () { mark('unitAt'); return f.apply(this, arguments); };
      clearInterval(wrap);
    }
  }, 20);
})();
"""


def trace(base: str, user: str, password: str, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(B.CHROMIUM), args=list(B.CHROMIUM_ARGS))
        for i in range(runs):
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.add_init_script(B.INIT_SCRIPT)
            context.add_init_script(TRACE_SCRIPT)
            B.login(context, base, user, password)
            page = context.new_page()
            page.goto(f"{base}/map", wait_until="commit")
            B._wait(page, f"{B.SETTLED} && {B.MAP_DRAWN}", -1)
            before = page.inner_text("#crumb-current").strip()
            page.evaluate("window.__t = []")
            t0 = B.click_map(page)
            cond = (
                f"{B.SETTLED} && (() => {{ const c = document.querySelector('#crumb-current');"
                f" return c && c.innerText.trim() !== {before!r}; }})()"
            )
            usable = B._wait(page, cond, t0) - t0
            print(f"run {i + 1}")
            for mark in page.evaluate("window.__t"):
                if mark[1] >= t0 - 50:
                    extra = f"  ({mark[2]:.0f} ms)" if len(mark) > 2 else ""
                    print(f"  {mark[0]:<28} {mark[1] - t0:+7.0f}{extra}")
            print(f"  {'usable':<28} {usable:+7.0f}")
            context.close()
        browser.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path("/tmp/demo_full")
    ap.add_argument("--data", type=Path, default=default if (default / "onemap.sqlite").exists() else None)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    if args.data is None:
        ap.error("--data is required (no store in /tmp/demo_full)")
    store, _ = B.open_data(args.data)
    user, password = B.bench_user(store, None, None)
    server, base = B.serve(store, Path(tempfile.mkdtemp(prefix="onemap_bench_var_")), 0)
    try:
        trace(base, user, password, args.runs)
    finally:
        server.shutdown()
        store.close()


if __name__ == "__main__":
    main()
