"""Which ASGI server runs this worker, and how quartdash learns that it stops.

ASGI tells an app that its server stops only through the lifespan "shutdown" event,
and every server tested sends it after its WebSockets are gone: hypercorn drops them
when its graceful timeout is over (1006), uvicorn fails them at once with its own 1012,
granian drops them at once (1006). So each server's stop is found where it begins, by
the module of that server (``hypercorn.py``, ``uvicorn.py``, ``granian.py``), and the
lifespan shutdown stays the fallback for any other server.

A socket's direct write (``transport/direct.py``) is found the same way, from the
server's ASGI ``send`` (``direct_writer``): hypercorn's HTTP/1.1 sockets and uvicorn's
sans-I/O ``websockets`` (its default) and ``wsproto`` implementations have one; granian,
hypercorn's WebSockets over HTTP/2, uvicorn's legacy ``websockets`` implementation, a
middleware that wraps ``send``, or any other server has none, and pushes go through
ASGI there.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

from quartdash._compat import granian, hypercorn, quart, uvicorn
from quartdash.transport.direct import DirectWriter

log = logging.getLogger("quartdash")


async def watch_server_stop(on_stop: Callable[[], object]) -> None:
    """Call ``on_stop`` once, when the server begins to stop; if it returns an
    awaitable, uvicorn and granian wait for it (bounded) before they stop serving.
    Called once the server is up (the lifespan startup)."""
    server = uvicorn.find_server()
    if server is not None:
        limit = hypercorn.message_limit()
        if limit is not None:
            uvicorn.bound_messages(server, limit)
        if uvicorn.hold_stop(server, on_stop):
            return
    if granian.serves() and granian.hold_stop(on_stop):
        return
    if "granian" in sys.modules:
        # granian's worker, on a loop whose signal handlers cannot be read (uvloop,
        # rloop: granian's --loop auto prefers them): no drain, no 1001 on a stop.
        log.warning("quartdash: under granian with the %s loop a stop drops the sockets "
                    "(1006) without the 1001 and its notice: run granian with --loop asyncio",
                    type(asyncio.get_running_loop()).__module__.split(".")[0])
    await hypercorn.watch_server_stop(on_stop)


def direct_writer(ws: object) -> DirectWriter | None:
    """The direct write of the socket ``ws`` (a ``quart.Websocket``), if its server
    has one (see the module's docstring)."""
    send = quart.asgi_send(ws)
    if send is None:
        return None
    return hypercorn.direct_writer(send) or uvicorn.direct_writer(send)
