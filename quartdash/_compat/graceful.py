"""How long the ASGI server serving this worker lets quartdash close its sockets once told
to stop: a drain (``drain_seconds``) that outlasts it is cut short, and the sockets not
closed yet are dropped without a close of ours.

- hypercorn: its graceful timeout (``--graceful-timeout``, 3 s by default), the wait for
  open connections after the stop began. hypercorn does not tell the app its
  configuration, so this reads the ``config`` local of its ``worker_serve`` coroutine.
- uvicorn and granian: quartdash acts on the stop signal before the server does, and
  holds the server's own stop for at most ``holding.STOP_WAIT_SECONDS``
  (``uvicorn.py``, ``granian.py``); the server's own timeouts only start after it.

None when no known server is found (another server, or one started otherwise). Call it
on the server's loop at the lifespan startup, before the stop watch replaces uvicorn's
and granian's signal handlers (which is how they are recognised).
"""

from __future__ import annotations

import asyncio

from quartdash._compat import granian, uvicorn
from quartdash._compat.holding import STOP_WAIT_SECONDS


def _hypercorn_timeout() -> float | None:
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        code = getattr(coro, "cr_code", None)
        frame = getattr(coro, "cr_frame", None)
        if code is None or frame is None:
            continue
        if code.co_name == "worker_serve" and "hypercorn" in code.co_filename:
            value = getattr(frame.f_locals.get("config"), "graceful_timeout", None)
            if isinstance(value, (int, float)):
                return float(value)
    return None


def graceful_timeout() -> float | None:
    """The seconds the running server leaves quartdash to close its sockets."""
    if uvicorn.find_server() is not None:
        return STOP_WAIT_SECONDS
    if granian.serves():
        return STOP_WAIT_SECONDS
    return _hypercorn_timeout()
