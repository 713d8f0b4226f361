"""Running the server: waitress (a production WSGI server, pure Python, threads) on one address."""

from __future__ import annotations

import flask

#: Worker threads: callbacks wait on the store and on numpy, which release the GIL.
THREADS = 8


def run(server: flask.Flask, host: str, port: int, threads: int = THREADS) -> None:
    """Serve ``server`` until interrupted."""
    from waitress import serve

    serve(server, host=host, port=port, threads=threads, ident="onemap", channel_timeout=120)
