"""Dash's background callbacks, as far as quartdash must know them (Dash 4.4).

``cancel=`` works through a callback Dash adds itself (``Dash._setup_server``, one per
cancel input, named ``cancel_call``): it reads the jobs to stop from the HTTP query
string (``cancelJob``, with the page's signed ``endId``), which Dash's renderer writes
only on an HTTP callback request; over the socket it would have nothing to stop. So
quartdash serves these callbacks over HTTP, and must recognise them: by the qualified
name of Dash's function, which ``functools.wraps`` keeps on the registered wrapper.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: ``__qualname__`` of the function Dash 4.4 registers for each cancel input.
CANCEL_QUALNAME = "Dash._setup_server.<locals>.cancel_call"


def cancel_outputs(callback_map: Mapping[str, Any]) -> set[str]:
    """The outputs (``callback_map`` keys) of Dash's hidden cancel callbacks."""
    found = set()
    for output, entry in callback_map.items():
        func = entry.get("callback") if isinstance(entry, Mapping) else None
        if getattr(func, "__qualname__", None) == CANCEL_QUALNAME:
            found.add(output)
    return found
