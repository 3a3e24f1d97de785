"""JSON for outbound values: orjson on the fast path, with Dash's exact output.

Values are anything a Dash prop may hold: plain data, components, figures, ``Patch``
objects, numpy arrays, pandas and datetime values. Dash serialises them with plotly's
``to_json_plotly``, which on the orjson engine tries ``orjson.dumps`` on the top-level
object and, if any nested value is not plain, walks the whole value in Python first
(``clean_to_json_compatible``): every response with a component or figure inside pays a
full Python pass. Here orjson expands nested objects itself through its ``default`` hook
(``to_plotly_json``), and only what orjson still refuses goes through Dash's own
``to_json``. The result is then escaped as plotly escapes it (``<``, ``>``, ``/``,
U+2028, U+2029, for HTML safety), so the text is byte for byte what Dash would send;
``tests/callbacks/test_encoding.py`` checks that over a corpus of values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from dash import Patch

from quartdash._compat.dash import to_json

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
#: plotly's escapes (``plotly.io._json._swap_orjson``), applied after encoding.
_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("/", "\\u002f"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def _default(value: Any) -> Any:
    to_plotly_json = getattr(value, "to_plotly_json", None)
    if to_plotly_json is not None:
        return to_plotly_json()
    raise TypeError


def encode_json(value: Any) -> str:
    """Serialise ``value`` exactly as Dash would, as text."""
    try:
        text = orjson.dumps(value, default=_default, option=_OPTIONS).decode()
    except TypeError:
        return to_json(value)
    for unsafe, safe in _ESCAPES:
        if unsafe in text:
            text = text.replace(unsafe, safe)
    return text


#: Props whose value is a change to apply rather than a state to show (dcc.Graph's
#: ``extendData`` and ``prependData``, AG Grid's ``rowTransaction``): a later update
#: does not make an earlier one obsolete, so they never coalesce. Nor does a ``Patch``.
DELTA_PROPS = frozenset({"extendData", "prependData", "rowTransaction"})
#: Longest event name (``ctx.websocket.emit``, ``push(event=...)``) and topic name.
MAX_NAME = 200


def coalesces(props: Mapping[str, Any]) -> bool:
    """True when ``props`` replace what they set, so the latest alone may be sent to a
    page that is behind (neither a ``Patch`` nor one of ``DELTA_PROPS``)."""
    return not any(name in DELTA_PROPS or isinstance(value, Patch)
                   for name, value in props.items())


def checked_name(name: object, what: str = "an event name") -> str:
    """``name`` if it is a string of 1 to ``MAX_NAME`` characters, else ``ValueError``
    (events and topics: the names server code gives, often taken from a page's input)."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise ValueError(f"{what} is a string of 1 to {MAX_NAME} characters")
    return name
