"""Map tooltips escape data: deck.gl puts feature properties into the tooltip's HTML as they are
(deckgl-dash: ``template.replace(new RegExp('{' + key + '}', 'g'), value)``), so every text property a
tooltip may show is written HTML-escaped by :func:`layers.geometry.feature_collection_json`."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import geopandas as gpd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from layers.geometry import feature_collection, html_text

POISON = [
    '<img src=x onerror=alert(1)><div style="position:fixed;inset:0">请重新登录</div>',
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "&lt;b&gt;already escaped&lt;/b&gt;",
    "$&$`$'$1 {code} {name}",
    "<a href='javascript:alert(1)'>点击</a>",
]
#: The templates the dashboard's maps use (dashboard/mapview.py), and the wall's 3D page.
TEMPLATES = [
    "<b>{name}</b><br>{code}<br>{v} 起",
    "<b>{name}</b><br>{code}",
    "{v} 起",
    "<b>{h}</b><br/>{v} 起",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def _deckgl_dash_tooltip(template: str, props: dict) -> str:
    """What deckgl-dash's getTooltip does, including JavaScript's ``$`` replacement patterns."""
    out = template
    for key, value in props.items():

        def js_replacement(m, value=str(value)):
            # String.prototype.replace: $$ → $, $& → the match, $` / $' → before / after it
            s, i, res = m.string, 0, []
            while i < len(value):
                if value[i] == "$" and i + 1 < len(value) and value[i + 1] in "$&`'":
                    res.append(
                        {"$": "$", "&": m.group(0), "`": s[: m.start()], "'": s[m.end() :]}[value[i + 1]]
                    )
                    i += 2
                else:
                    res.append(value[i])
                    i += 1
            return "".join(res)

        out = re.sub(re.escape("{" + key + "}"), js_replacement, out)
    return out


def _features(names, codes):
    frame = gpd.GeoDataFrame(
        {"code": codes, "name": names},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(len(names))],
        crs=4326,
    )
    return feature_collection(frame, "code", "name")["features"]


def _assert_only_template_markup(rendered: str, template: str, shown: list[str]) -> None:
    got, want = _Tags(), _Tags()
    got.feed(rendered)
    want.feed(template)
    assert [t for t, _ in got.tags] == [t for t, _ in want.tags], rendered
    assert all(not attrs for _, attrs in got.tags), rendered
    text = "".join(got.text)  # character references resolved: what the browser shows
    for value in shown:
        assert value in text, (value, rendered)


@pytest.mark.parametrize("poison", POISON)
@pytest.mark.parametrize("template", TEMPLATES)
def test_a_poisoned_unit_name_or_code_is_text_in_every_tooltip(poison, template):
    (feature,) = _features([poison], [poison])
    props = {**feature["properties"], "v": 3, "h": feature["properties"]["code"]}
    rendered = _deckgl_dash_tooltip(template, props)
    shown = [poison] if "{name}" in template or "{code}" in template or "{h}" in template else []
    _assert_only_template_markup(rendered, template, shown)


@given(name=st.text(max_size=40), code=st.text(max_size=20))
def test_any_text_stays_text(name, code):
    (feature,) = _features([name], [code])
    assert feature["properties"]["name"] == html_text(name)
    rendered = _deckgl_dash_tooltip(TEMPLATES[0], {**feature["properties"], "v": 1})
    _assert_only_template_markup(rendered, TEMPLATES[0], [])
    assert "<" not in rendered.replace("<b>", "").replace("</b>", "").replace("<br>", "")


def test_plain_names_and_codes_are_unchanged():
    (feature,) = _features(["崇川区和平桥街道"], ["320602001"])
    assert feature["properties"] == {"code": "320602001", "name": "崇川区和平桥街道"}
