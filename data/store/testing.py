"""A throwaway PostgreSQL + PostGIS server for tests and benchmarks (临时数据库服务器).

:func:`throwaway_postgis` runs ``initdb`` into a temporary folder, starts ``postgres`` on a free
loopback port with its socket under ``/tmp``, creates a database with the ``postgis`` extension, yields
its URL and removes everything on exit. It never touches a server somebody started by hand.
:func:`throwaway_server` does the same but yields the :class:`ThrowawayServer` itself, which a fault test
can stop and start again on the same port (the store going away under a running dashboard).

PostgreSQL refuses to run as root. Under root (as in CI containers) the server runs as the ``postgres``
system user created by the Debian package, through ``runuser``; otherwise as the current user. Needs the
Debian packages ``postgresql`` and ``postgresql-15-postgis-3`` (``scripts/test.sh`` installs them).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

__all__ = [
    "PostgresUnavailable",
    "ThrowawayServer",
    "find_pg_bin",
    "point_inside",
    "throwaway_postgis",
    "throwaway_server",
]


def point_inside(store, grid: str) -> dict[str, float]:
    """``lon``/``lat`` of a point well inside ``grid`` of a loaded store (its representative point), for
    tests that report a record where it belongs."""
    shape = store.read("grids", filters={"grid_code": grid}).geometry.iloc[0]
    point = shape.representative_point()
    return {"lon": point.x, "lat": point.y}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL or PostGIS binaries are missing, or the server would not start (message says which)."""


def find_pg_bin(version: str | None = None) -> Path:
    """The ``bin`` folder of the newest installed PostgreSQL (``/usr/lib/postgresql/<v>/bin``).

    Parameters
    ----------
    version : str, optional
        A major version such as ``"15"``; default the newest installed.

    Returns
    -------
    pathlib.Path
        Folder holding ``initdb``, ``pg_ctl`` and ``postgres``.
    """
    env = os.environ.get("ONEMAP_PG_BIN")
    candidates = [Path(env)] if env else []
    pattern = f"/usr/lib/postgresql/{version or '*'}/bin"
    candidates += sorted(
        (Path(p) for p in glob.glob(pattern)), key=lambda p: int(p.parent.name), reverse=True
    )
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    raise PostgresUnavailable(
        "PostgreSQL is not installed (no initdb/pg_ctl under /usr/lib/postgresql/*/bin); install the "
        "Debian packages: apt-get install -y postgresql postgresql-15-postgis-3"
    )


def _postgis_installed(bin_dir: Path) -> bool:
    share = Path("/usr/share/postgresql") / bin_dir.parent.name / "extension" / "postgis.control"
    return share.exists()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _runner() -> tuple[list[str], str | None]:
    """Command prefix to run the server binaries, and the owner of its folders (None: current user)."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root but there is no 'postgres' system user (PostgreSQL refuses to run as root); "
            "install the Debian package 'postgresql', which creates it"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and 'runuser' is missing (util-linux)")
    return [runuser, "-u", "postgres", "--"], "postgres"


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PostgresUnavailable(f"{what} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")


class ThrowawayServer:
    """A private PostgreSQL + PostGIS server in a temporary folder, which tests may stop and start again.

    Made by :func:`throwaway_server`; :attr:`url` stays valid across :meth:`stop` / :meth:`start` (same
    folder, same port), so a client can watch the database go away and come back.

    Attributes
    ----------
    url : str
        SQLAlchemy URL of the database with PostGIS.
    """

    def __init__(self, bin_dir: Path, prefix: list[str], root: Path, port: int, options: str, url: str):
        self._bin, self._prefix, self._root, self._port, self._options = bin_dir, prefix, root, port, options
        self.url = url

    @property
    def running(self) -> bool:
        """True while the server process is up (``pg_ctl status``)."""
        cmd = [*self._prefix, str(self._bin / "pg_ctl"), "-D", str(self._root / "data"), "status"]
        return subprocess.run(cmd, capture_output=True, check=False).returncode == 0

    def start(self) -> None:
        """Start the server and wait until it takes connections."""
        _run(
            [
                *self._prefix,
                str(self._bin / "pg_ctl"),
                "-D",
                str(self._root / "data"),
                "-l",
                str(self._root / "server.log"),
                "-o",
                self._options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            "pg_ctl start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (sessions ended, open transactions rolled back) or ``immediate``
        (every process killed at once, crash recovery on the next start)."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"pg_ctl stop mode {mode!r}: smart, fast or immediate")
        _run(
            [
                *self._prefix,
                str(self._bin / "pg_ctl"),
                "-D",
                str(self._root / "data"),
                "-m",
                mode,
                "-w",
                "stop",
            ],
            "pg_ctl stop",
        )


@contextlib.contextmanager
def throwaway_server(
    dbname: str = "onemap", version: str | None = None, settings: dict[str, str] | None = None
) -> Iterator[ThrowawayServer]:
    """Start a private PostgreSQL server with PostGIS; yield it; stop it and delete its folder.

    Parameters
    ----------
    dbname : str
        Database to create (with ``CREATE EXTENSION postgis``).
    version : str, optional
        PostgreSQL major version; default the newest installed.
    settings : dict, optional
        Extra server settings (``-c name=value``), e.g. ``{"shared_buffers": "512MB"}``.

    Yields
    ------
    ThrowawayServer
        Its ``url`` is ``postgresql+psycopg://postgres@127.0.0.1:<port>/<dbname>``.
    """
    bin_dir = find_pg_bin(version)
    if not _postgis_installed(bin_dir):
        raise PostgresUnavailable(
            f"PostGIS is not installed for PostgreSQL {bin_dir.parent.name}; "
            f"apt-get install -y postgresql-{bin_dir.parent.name}-postgis-3"
        )
    prefix, owner = _runner()
    root = Path(tempfile.mkdtemp(prefix="onemap-pg-", dir="/tmp"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if owner:
        for path in (root, sock):
            shutil.chown(path, owner, owner)
    port = _free_port()
    opts = {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "60",
        **(settings or {}),
    }
    options = f"-p {port} -k {sock} " + " ".join(f"-c {k}={v}" for k, v in opts.items())
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{dbname}"
    server = ThrowawayServer(bin_dir, prefix, root, port, options, url)
    try:
        _run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            "initdb",
        )
        server.start()
        admin = sa.create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{dbname}"')
        admin.dispose()
        eng = sa.create_engine(url)
        with eng.begin() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
        eng.dispose()
        yield server
    finally:
        if server.running:
            with contextlib.suppress(PostgresUnavailable):
                server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_postgis(
    dbname: str = "onemap", version: str | None = None, settings: dict[str, str] | None = None
) -> Iterator[str]:
    """Start a private PostgreSQL server with PostGIS; yield the database URL; stop and delete it.

    Parameters
    ----------
    dbname, version, settings
        As for :func:`throwaway_server`.

    Yields
    ------
    str
        A SQLAlchemy URL ``postgresql+psycopg://postgres@127.0.0.1:<port>/<dbname>``.
    """
    with throwaway_server(dbname, version, settings) as server:
        yield server.url


def create_database(url: str, name: str, template: str | None = None) -> str:
    """Create database ``name`` on the server of ``url`` (optionally as a copy of ``template``).

    Parameters
    ----------
    url : str
        URL of any database on the server.
    name : str
        New database name (letters, digits, underscores).
    template : str, optional
        Database to copy (it must have no open connections).

    Returns
    -------
    str
        URL of the new database.
    """
    if not name.replace("_", "").isalnum() or (template and not template.replace("_", "").isalnum()):
        raise ValueError("database names must be letters, digits and underscores")
    u = sa.engine.make_url(url)
    admin = sa.create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        conn.exec_driver_sql(sql)
    admin.dispose()
    return u.set(database=name).render_as_string(hide_password=False)
