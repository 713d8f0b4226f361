"""Live parts of a screen (局部刷新): what changes with the view is updated in place, the rest stays.

Why
---
Dash 4 remounts every component below a ``children`` prop it replaces, even when the new tree has the
same shape, and a ``dash.Patch`` of ``children`` does the same. Remounting a deck.gl map creates a new
WebGL context and recompiles its shaders: measured with software WebGL in headless Chromium on 2 cores,
3–4 s of the browser's main thread for a map of a few hundred polygons, against well under a second
to recolour the same map in place. So a filter change or a drill-down must not replace the screen.

How
---
A screen marks what depends on the view with ids of a few *live kinds* (:data:`LIVE_PROPS`):

* ``{"live": key}``: a block whose ``children`` are replaced (:func:`block`);
* ``{"live-map": key}``: a deck.gl map whose ``layers``, ``fitBounds`` and ``tooltip`` are replaced;
* ``{"f": key}`` / ``{"fd": key}``: filter controls whose ``value`` (or ``start_date``/``end_date``) follow
  the URL (Back and forward, a pasted link).

The router builds the whole new tree on the server as before, then :func:`split` separates its
*skeleton* (everything but the live props) from the live values. When the skeleton's hash equals the
one the browser shows, only the live values are sent, to the components already on the page (Dash's
``ALL`` pattern outputs address exactly the ones present); otherwise the whole tree is sent. A screen
therefore stays correct whatever it marks: marking only decides how much stays mounted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from dash import ALL, Input, Output, State, html, no_update
from dash.development.base_component import Component

#: Live kind → the props of such components that follow the view (excluded from the skeleton).
LIVE_PROPS: dict[str, tuple[str, ...]] = {
    "live": ("children",),
    "live-map": ("layers", "fitBounds", "initialViewState", "tooltip"),
    "f": ("value",),
    "fd": ("start_date", "end_date"),
}
#: Live outputs of the router, in order: (kind, prop). ``initialViewState`` only counts on a first
#: render (a mounted map moves with ``fitBounds``), so it is no output.
OUTPUTS: tuple[tuple[str, str], ...] = (
    ("live", "children"),
    ("live-map", "layers"),
    ("live-map", "fitBounds"),
    ("live-map", "tooltip"),
    ("f", "value"),
    ("fd", "start_date"),
    ("fd", "end_date"),
)
#: Outputs sent only when they differ from what the browser holds (so a filter control the user just
#: set is not set again, and a map the user panned is not moved back while the unit stays the same).
COMPARED: frozenset[tuple[str, str]] = frozenset(
    {("live-map", "fitBounds"), ("f", "value"), ("fd", "start_date"), ("fd", "end_date")}
)


def block(key: str, children: Any = None, tag: type[Component] = html.Div, **props: Any) -> Component:
    """An element whose children follow the view (replaced in place on a filter change or drill-down).

    Parameters
    ----------
    key : str
        Unique on the page.
    children : component(s)
    tag : Dash html component class
        ``html.Div`` by default (``html.H3`` for a title, ``html.Span`` inline).
    **props
        Other props (``className``, ``style``).
    """
    return tag(children, id={"live": key}, **props)


def kind_of(ident: Any) -> tuple[str, str] | None:
    """``(kind, key)`` of a live component id, or None for any other id."""
    if isinstance(ident, Mapping) and len(ident) == 1:
        ((kind, key),) = ident.items()
        if kind in LIVE_PROPS:
            return kind, str(key)
    return None


def _plain(value: Any, live: dict[tuple[str, str, str], Any]) -> Any:
    """``value`` as JSON-able data with live props taken out (into ``live``)."""
    if isinstance(value, Component):
        props = value.to_plotly_json()["props"]
        found = kind_of(props.get("id"))
        out = {}
        for name, v in props.items():
            if found and name in LIVE_PROPS[found[0]]:
                live[(*found, name)] = v
                continue
            out[name] = _plain(v, live)
        return {"type": value._type, "namespace": value._namespace, "props": out}
    if isinstance(value, list | tuple):
        return [_plain(v, live) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, live) for k, v in value.items()}
    return value


def split(tree: Any) -> tuple[str, dict[tuple[str, str, str], Any]]:
    """The skeleton hash of a component tree and its live values.

    Parameters
    ----------
    tree : component, list of components or None

    Returns
    -------
    (str, dict)
        A hash of everything but the live props, and ``{(kind, key, prop): value}`` of the live props
        (a live block's children are not looked into: they are replaced as a whole).
    """
    live: dict[tuple[str, str, str], Any] = {}
    plain = _plain(tree, live)
    text = json.dumps(plain, sort_keys=True, ensure_ascii=False, default=_json_default)
    return hashlib.sha1(text.encode("utf-8")).hexdigest(), live


def _json_default(value: Any) -> Any:
    to = getattr(value, "tolist", None) or getattr(value, "isoformat", None)
    return to() if to is not None else str(value)


def outputs() -> list[Output]:
    """The router's pattern outputs (:data:`OUTPUTS`), each ``ALL`` of its kind."""
    return [Output({kind: ALL}, prop) for kind, prop in OUTPUTS]


def states() -> list[State]:
    """What the router reads of the browser to compare (:data:`COMPARED`), in :data:`OUTPUTS` order."""
    return [State({kind: ALL}, prop) for kind, prop in OUTPUTS if (kind, prop) in COMPARED]


def inputs(kind: str, prop: str) -> Input:
    return Input({kind: ALL}, prop)


def values_for(
    outputs_list: list[list[dict]],
    current: Iterable[list[Any]],
    live: Mapping[tuple[str, str, str], Any],
) -> list[list[Any]]:
    """The value of each pattern output present in the browser (``no_update`` where nothing changes).

    Parameters
    ----------
    outputs_list : list of list of dict
        ``dash.ctx.outputs_list`` for the :func:`outputs` (ids and props present in the browser).
    current : iterable of list
        The :func:`states` values, in order.
    live : mapping
        From :func:`split` of the new trees.
    """
    now = iter(current)
    out: list[list[Any]] = []
    for (kind, prop), present in zip(OUTPUTS, outputs_list, strict=True):
        held = list(next(now, None) or []) if (kind, prop) in COMPARED else []
        held += [_UNKNOWN] * (len(present) - len(held))  # a request that did not say: send the value
        row = []
        for spec, old in zip(present, held, strict=False):
            key = (kind, str(spec["id"][kind]), prop)
            if key not in live:
                row.append(no_update)
            elif (kind, prop) in COMPARED and _same(live[key], old):
                row.append(no_update)
            else:
                row.append(live[key])
        out.append(row)
    return out


_UNKNOWN = object()


def _same(a: Any, b: Any) -> bool:
    if b is _UNKNOWN:
        return False

    def norm(v: Any) -> str:
        return json.dumps(v, sort_keys=True, default=_json_default)

    return norm(a) == norm(b)
