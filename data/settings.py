"""Every tunable of the product in one place (设置). Nothing else reads the environment.

Values come from environment variables (``ONEMAP_*``) where set, else the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Where ``onemap up`` / ``onemap demo`` keep the demo city by default.
DATA_DIR = Path(os.environ.get("ONEMAP_DATA", "var/demo"))
#: Scale of the demo city built by ``onemap up`` on first run.
DEFAULT_SCALE = os.environ.get("ONEMAP_SCALE", "small")
#: Weeks of push-model history ``onemap up`` gives the demo city: the models run at the end of each of its
#: last weeks, and the pushed orders are worked as workers and officers would have (演示预警闭环).
DEMO_MODEL_WEEKS = int(os.environ.get("ONEMAP_DEMO_MODEL_WEEKS", "12"))
#: Seed of the demo city built by ``onemap up``.
DEFAULT_SEED = int(os.environ.get("ONEMAP_SEED", "0"))
#: Areas below this (m²) are floating-point noise, not overlaps or gaps.
AREA_TOLERANCE_M2 = float(os.environ.get("ONEMAP_AREA_TOLERANCE_M2", "1.0"))
#: Thresholds of the fifteen push models; empty means the bundled ``data/models.toml``.
MODELS_FILE = os.environ.get("ONEMAP_MODELS_FILE", "")
#: Database URL of the store; empty means the embedded SQLite store beside the layers.
DATABASE_URL = os.environ.get("ONEMAP_DATABASE_URL", "")
#: Address and port ``onemap serve`` listens on (loopback by default: put a reverse proxy in front).
HOST = os.environ.get("ONEMAP_HOST", "127.0.0.1")
PORT = int(os.environ.get("ONEMAP_PORT", "8050"))
#: An intranet tile service for the map's base (e.g. a PGIS service, ``http://pgis.local/{z}/{x}/{y}.png``);
#: empty: the base is drawn from local outlines only (no request leaves the server).
TILE_URL = os.environ.get("ONEMAP_TILE_URL", "")
#: Seconds each screen stays on the video wall.
WALL_INTERVAL_S = float(os.environ.get("ONEMAP_WALL_INTERVAL_S", "30"))
#: IANA time zone of the store's times (e.g. ``Asia/Shanghai``): "now" for work-order deadlines, overdue
#: sweeps and traces, and the zone a deadline sent with an offset is converted to. Empty: the server's own.
TIMEZONE = os.environ.get("ONEMAP_TIMEZONE", "")

#: Minutes between the overdue sweeps (超期巡检) ``onemap serve`` runs itself (open work orders past their
#: deadline become 超期); 0: none (then run ``onemap orders sweep`` from cron or a systemd timer).
SWEEP_MINUTES = float(os.environ.get("ONEMAP_SWEEP_MINUTES", "5"))
#: Trusted-header single sign-on (统一身份认证) behind a reverse proxy, off by default: the request header
#: naming the logged-in user (e.g. ``X-Remote-User``), honoured only from the proxies below; the user must
#: exist and be enabled in the local users table (its role and unit come from there).
SSO_HEADER = os.environ.get("ONEMAP_SSO_HEADER", "")
#: Addresses or networks (comma-separated, e.g. ``10.0.0.5,10.1.0.0/24``) of the reverse proxies allowed
#: to set :data:`SSO_HEADER` (and ``X-Forwarded-For`` for the audit log's client address).
SSO_TRUSTED_PROXIES = tuple(
    p.strip() for p in os.environ.get("ONEMAP_SSO_TRUSTED_PROXIES", "").split(",") if p.strip()
)
#: Furthest a work order's deadline (办理时限) may be set ahead, in days; further answers 422 bad_deadline.
MAX_DEADLINE_DAYS = int(os.environ.get("ONEMAP_MAX_DEADLINE_DAYS", "366"))
#: Most records one user may unmask (查看明文) per hour; more answer "too many" (bulk reading is not
#: what unmasking one record is for).
UNMASK_PER_HOUR = int(os.environ.get("ONEMAP_UNMASK_PER_HOUR", "60"))

#: Server-side sessions (登录会话, :mod:`data.store.sessions`): a session not used for this many minutes
#: ends (idle time; a video wall refreshes every minute, so it never idles out) …
SESSION_IDLE_MINUTES = float(os.environ.get("ONEMAP_SESSION_IDLE_MINUTES", "30"))
#: … and every session ends this many hours after its log-in, however busy (absolute lifetime) …
SESSION_MAX_HOURS = float(os.environ.get("ONEMAP_SESSION_MAX_HOURS", "12"))
#: … except the sessions of ``display`` (大屏) accounts, which may live longer so that a video wall runs
#: for days unattended (e.g. ``168`` = a week; default: :data:`SESSION_MAX_HOURS`).
SESSION_MAX_HOURS_DISPLAY = float(
    os.environ.get("ONEMAP_SESSION_MAX_HOURS_DISPLAY", os.environ.get("ONEMAP_SESSION_MAX_HOURS", "12"))
)
#: The address users reach the server at (e.g. ``https://onemap.gaj.local``), behind whatever proxy.
PUBLIC_URL = os.environ.get("ONEMAP_PUBLIC_URL", "")


def secure_cookies(flag: str, public_url: str) -> bool:
    """``ONEMAP_SECURE_COOKIES`` as a bool: 1/true/yes/on and 0/false/no/off as said; empty: on exactly
    when ``public_url`` is ``https://…``.

    Raises
    ------
    ValueError
        Any other value (named in the message).
    """
    value = flag.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if value:
        raise ValueError(f"ONEMAP_SECURE_COOKIES={flag!r}: use 1 or 0 (or leave it unset)")
    return public_url.strip().lower().startswith("https://")


#: Session cookie ``Secure`` (sent over HTTPS only) and ``Strict-Transport-Security``: on when set to 1 /
#: true / yes, off for 0 / false / no; unset: on exactly when :data:`PUBLIC_URL` is ``https://…``.
SECURE_COOKIES = secure_cookies(os.environ.get("ONEMAP_SECURE_COOKIES", ""), PUBLIC_URL)

#: Where the log-in rate limits per client address are counted (Flask-Limiter storage URI):
#: ``memory://`` counts per server process; with several processes use a shared one, e.g.
#: ``redis://127.0.0.1:6379``. (The lock-out itself is counted in the store, shared by every process.)
RATELIMIT_STORAGE = os.environ.get("ONEMAP_RATELIMIT_STORAGE", "memory://")
