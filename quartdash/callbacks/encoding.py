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

from typing import Any

import orjson

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
