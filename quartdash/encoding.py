"""JSON for outbound values: orjson on the fast path, Dash's encoder for the rest.

``set_props`` values are anything a Dash prop may hold: plain data, components, figures,
``Patch`` objects, numpy arrays. orjson handles plain data and numpy natively and is
several times faster than plotly's encoder; objects that know ``to_plotly_json``
(components, figures, Patch) are expanded through its ``default`` hook. Anything orjson
still refuses (pandas objects, decimals, ...) goes through Dash's own ``to_json`` so the
output stays what Dash would send.
"""

from __future__ import annotations

from typing import Any

import orjson
from dash._utils import to_json

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    to_plotly_json = getattr(value, "to_plotly_json", None)
    if to_plotly_json is not None:
        return to_plotly_json()
    raise TypeError


def encode_json(value: Any) -> str:
    """Serialise ``value`` as Dash would, as text."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS).decode()
    except TypeError:
        return str(to_json(value))
