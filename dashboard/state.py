"""The view state (视图状态) of the dashboard, held in the URL so that a link reopens the same view.

``/map?unit=320612001&h=admin&from=2026-10-01&to=2026-10-31&cat=刑事,电诈&layers=grids,heat&cmp=yoy``

* path: the screen (:data:`PAGES`);
* ``unit``: the unit drilled into (any level of either hierarchy; absent = the user's own unit);
* ``h``: the hierarchy drilled along, ``admin`` (city → county → township → community → grid) or
  ``police`` (分局 → 派出所 → 警格 → grid);
* ``from``/``to``: the days, both included; ``range``: a quick range (:data:`QUICK_RANGES`) that wins
  over them;
* ``cat``: incident categories (empty = all);
* ``layers``: the map layers shown (:data:`MAP_LAYERS`);
* ``cmp``: the comparison period, ``yoy`` (same days last year) or ``prev`` (the days just before).

Parsing never fails: a value that does not parse falls back to the default and is reported in
``ViewState.problems`` so the page can say so. The state is only a request: the server intersects the
unit with the user's scope (:mod:`data.access`), so editing the URL never widens what one sees.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, urlencode

from data.schema import INCIDENT_CATEGORIES

#: Screen path → Chinese title, in navigation order.
PAGES: dict[str, str] = {
    "overview": "基本概况",
    "empower": "数据赋能",
    "warnings": "预警推送",
    "quality": "质态监测",
    "map": "可视化地图",
}
HIERARCHIES: dict[str, str] = {"admin": "行政区划", "police": "公安警务"}
#: Quick range id → Chinese label.
QUICK_RANGES: dict[str, str] = {"today": "今日", "7d": "近7天", "30d": "近30天", "ytd": "今年"}
COMPARISONS: dict[str, str] = {"yoy": "同比", "prev": "环比"}
#: Map layer id → Chinese label, in legend order.
MAP_LAYERS: dict[str, str] = {
    "grids": "网格",
    "districts": "警格",
    "stations": "派出所",
    "h3": "H3警情热力",
    "kde": "核密度",
    "incidents": "警情点位",
    "hotspots": "热点冷点(Gi*)",
    "hazards": "风险隐患",
    "disputes": "矛盾纠纷",
    "concern": "关注人员",
    "cameras": "视频监控",
    "patrol": "巡逻覆盖",
}
DEFAULT_LAYERS = ("grids", "h3")
_CODE = re.compile(r"^[0-9A-Za-z]{2,20}$")


@dataclass(frozen=True)
class ViewState:
    """One view of the dashboard (see the module docstring for the URL form)."""

    page: str = "overview"
    unit: str | None = None
    hierarchy: str = "admin"
    start: dt.date | None = None
    end: dt.date | None = None
    quick: str | None = "30d"
    categories: tuple[str, ...] = ()
    layers: tuple[str, ...] = DEFAULT_LAYERS
    compare: str = "yoy"
    problems: tuple[str, ...] = field(default=(), compare=False)

    def dates(self, as_of: dt.date) -> tuple[dt.date, dt.date]:
        """The first and last day shown; quick ranges end at ``as_of`` (the data's latest day)."""
        if self.quick == "today":
            return as_of, as_of
        if self.quick == "7d":
            return as_of - dt.timedelta(days=6), as_of
        if self.quick == "30d":
            return as_of - dt.timedelta(days=29), as_of
        if self.quick == "ytd":
            return dt.date(as_of.year, 1, 1), as_of
        end = self.end or as_of
        start = self.start or end - dt.timedelta(days=29)
        return (start, end) if start <= end else (end, start)

    def comparison(self, as_of: dt.date) -> tuple[dt.date, dt.date]:
        """The period compared with (same days a year earlier, or the same length just before)."""
        start, end = self.dates(as_of)
        if self.compare == "prev":
            days = (end - start).days + 1
            return start - dt.timedelta(days=days), start - dt.timedelta(days=1)
        return _year_back(start), _year_back(end)

    def with_(self, **changes) -> ViewState:
        """A copy with ``changes`` (and no problems)."""
        return replace(self, problems=(), **changes)

    def search(self) -> str:
        """The URL query string (with a leading ``?``, or empty) of this state."""
        q: dict[str, str] = {}
        if self.unit:
            q["unit"] = self.unit
        if self.hierarchy != "admin":
            q["h"] = self.hierarchy
        if self.quick:
            if self.quick != "30d":
                q["range"] = self.quick
        else:
            if self.start:
                q["from"] = self.start.isoformat()
            if self.end:
                q["to"] = self.end.isoformat()
        if self.categories:
            q["cat"] = ",".join(self.categories)
        if self.layers != DEFAULT_LAYERS:
            q["layers"] = ",".join(self.layers)
        if self.compare != "yoy":
            q["cmp"] = self.compare
        return ("?" + urlencode(q, safe=",")) if q else ""

    def href(self, page: str | None = None) -> str:
        """Path and query of this state on ``page`` (default its own)."""
        return "/" + (page or self.page) + self.search()


def _year_back(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def parse(pathname: str | None, search: str | None) -> ViewState:
    """The state of a URL path and query string; never raises (bad values → defaults + ``problems``).

    Parameters
    ----------
    pathname : str
        ``/map``, ``/overview`` … (``/`` is the overview).
    search : str
        The query string, with or without ``?``.

    Returns
    -------
    ViewState
    """
    problems: list[str] = []
    page = (pathname or "/").strip("/").split("/")[0] or "overview"
    if page not in PAGES:
        problems.append(f"未知页面 {page[:40]!r}")
        page = "overview"
    q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?"), keep_blank_values=False).items()}
    unit = q.get("unit")
    if unit is not None and not _CODE.match(unit):
        problems.append("单元编码格式不对")
        unit = None
    hierarchy = q.get("h", "admin")
    if hierarchy not in HIERARCHIES:
        problems.append("未知层级")
        hierarchy = "admin"
    quick = q.get("range")
    start, end = _date(q.get("from", "")), _date(q.get("to", ""))
    if ("from" in q and start is None) or ("to" in q and end is None):
        problems.append("日期格式应为 YYYY-MM-DD")
    if quick is not None and quick not in QUICK_RANGES:
        problems.append("未知快捷时段")
        quick = None
    if quick is None and start is None and end is None:
        quick = "30d"
    cats = tuple(c for c in q.get("cat", "").split(",") if c)
    unknown = [c for c in cats if c not in INCIDENT_CATEGORIES]
    if unknown:
        problems.append("未知警情类别")
        cats = tuple(c for c in cats if c in INCIDENT_CATEGORIES)
    layers = tuple(x for x in q["layers"].split(",") if x in MAP_LAYERS) if "layers" in q else DEFAULT_LAYERS
    compare = q.get("cmp", "yoy")
    if compare not in COMPARISONS:
        compare = "yoy"
    return ViewState(page, unit, hierarchy, start, end, quick, cats, layers, compare, tuple(problems))
