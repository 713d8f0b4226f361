"""The product's clock (时钟): the current time and day in ``settings.TIMEZONE`` (``ONEMAP_TIMEZONE``).

Everything that asks "what time is it" for the data — work-order deadlines and overdue sweeps, the demo
city's default end, the dashboard's "today" when there is no data — asks here, so that one zone decides
and a test can pin the clock in one place (``monkeypatch.setattr(data.clock, "now", …)``).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from data import settings


def time_zone() -> zoneinfo.ZoneInfo | None:
    """The zone of the store's naive times (``settings.TIMEZONE``); ``None``: the server's local zone."""
    name = settings.TIMEZONE
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"ONEMAP_TIMEZONE={name!r} is not a known IANA time zone (e.g. Asia/Shanghai)"
        ) from None


def now() -> dt.datetime:
    """The current naive time in :func:`time_zone`, to the second (the store keeps seconds)."""
    return dt.datetime.now(time_zone()).replace(tzinfo=None, microsecond=0)


def today() -> dt.date:
    """The current day in :func:`time_zone` (the day of :func:`now`)."""
    return now().date()
