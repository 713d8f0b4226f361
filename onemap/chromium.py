"""How this project starts Debian's headless Chromium (browser tests and the dashboard bench).

One list of flags, so that the tests and ``bench/bench_dashboard.py`` measure the same browser.

Software WebGL: the machines this runs on have no GPU, and deck.gl needs WebGL. Chromium's current
software path is ANGLE over SwiftShader (``--use-angle=swiftshader``; ``--enable-unsafe-swiftshader``
allows it for WebGL). The legacy ``--disable-gpu --use-gl=swiftshader`` pair also draws, but measured
on this 2-core machine with the full demo city it spends 2.8 s of native time setting up the first deck.gl
map against 0.4 s on ANGLE (``/map`` usable 4.3 s against 1.8 s, the same page and server): a browser
without a GPU falls back to ANGLE + SwiftShader by itself, so that is the one to measure.
``--disable-background-networking``: no request to Google's hosts (this machine has no internet).
"""

from __future__ import annotations

from pathlib import Path

#: Debian's Chromium (``apt-get install chromium``).
CHROMIUM = Path("/usr/bin/chromium")
#: Launch flags for headless runs as root in a container, with software WebGL (see the module docstring).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
)
