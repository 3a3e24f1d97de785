"""Helpers for testing a quartdash app against the real thing, and for benchmarking it.

- ``quartdash.testing.DashClient`` (``client.py``, its pure parts in ``page.py``): a
  page of an app, in process, without a server or a browser: it loads the layout, fires
  the initial callbacks, keeps every component's props as Dash's renderer would, logs a
  user in, and drops and resumes its socket. ``plugin.py`` is the pytest plugin (the
  ``dash_client`` fixture) that installing quartdash registers. See docs/testing.md.
- ``quartdash.testing.servers``: a real hypercorn serving an app (``hypercorn``), a real
  redis-server (``redis_server``), a TCP relay whose connections can be cut as a network
  failure cuts them (``TcpProxy``), and the polling they need (``wait_http``,
  ``log_shows``). Standard library only.
- ``quartdash.testing.wsclient``: a minimal client of Dash's WebSocket protocol and of
  quartdash's additions to it (resume, acknowledgements), for driving a served app
  without a browser. It needs ``websockets`` (the ``test`` extra), imported only when a
  socket is opened.

This package imports none of them until a name is asked for, nor pytest, so importing
it costs nothing and needs no test dependency.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ANY", "CallbackFailed", "DashClient"]

#: The names exported here, and the module of each.
_EXPORTS = {"DashClient": "client", "CallbackFailed": "client", "ANY": "page"}


def __getattr__(name: str) -> Any:
    """``DashClient`` and its companions, imported when first asked for (PEP 562).

    By then this package has finished initialising, so its submodules importing it is
    no cycle at run time; ``importlib`` keeps it out of tests/test_imports.py's graph,
    whose reader counts every ``import`` statement, deferred ones included. The types
    are in ``__init__.pyi``."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'quartdash.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"quartdash.testing.{module}"), name)
