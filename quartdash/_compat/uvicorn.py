"""uvicorn (0.30+): learning that it stops, and bounding inbound WebSocket messages.

How uvicorn stops: its ``Server.handle_exit`` is the process's SIGINT/SIGTERM handler
(``signal.signal``, installed before the lifespan startup). It sets ``should_exit``; the
main loop sees it within 0.1 s and calls ``shutdown()``, which at once fails every open
WebSocket with its own 1012 (no ``quartdash_close`` notice), then waits up to
``--timeout-graceful-shutdown`` for the rest, and only then sends the lifespan
"shutdown" event. So the lifespan is too late, and so is anything polling
``should_exit``.

So ``hold_stop`` puts a handler of ours in front of uvicorn's (at the lifespan startup,
in the worker, never at import time): the first SIGINT/SIGTERM runs ``on_stop`` on the
loop (quartdash closes its sockets with 1001, announced) and waits until uvicorn has
no WebSocket connection left, bounded by ``holding.STOP_WAIT_SECONDS``; only then is the signal
handed to uvicorn's handler, which stops the server as it always does. A second
SIGINT while waiting is handed on at once (uvicorn's force exit).

Inbound messages: uvicorn's ``websockets`` implementations (the default) bound a
message, inflated or not, by ``ws_max_size`` (16 MiB by default) and close with 1009;
``bound_messages`` lowers it to the app's ``max_message_bytes``. Its ``wsproto``
implementation inflates permessage-deflate without a bound (a 64 KiB read of deflated
zeros becomes 64 MiB before any size check), so under it permessage-deflate is turned
off (the browser then sends uncompressed frames, which ``ws_max_size`` bounds).

The direct write (``direct_writer``, see ``transport/direct.py``): the app's ASGI
``send`` is the socket's protocol object's; under the ``websockets`` (sans-I/O) and the
``wsproto`` implementations that object holds the transport and writes each frame
synchronously, so a frame is written directly while the handshake is done, no close
was sent or seen, and the WebSocket library's connection is OPEN. The legacy
``websockets`` implementation has none.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

from quartdash._compat.holding import run_on_stop
from quartdash.transport.direct import DirectWriter, TransportWriter

log = logging.getLogger("quartdash")

#: Longest the stop of uvicorn waits for quartdash's sockets to close.
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def find_server() -> Any | None:
    """The running ``uvicorn.Server`` of this process, if uvicorn serves it: the owner
    of the SIGTERM handler it installed."""
    handler = signal.getsignal(signal.SIGTERM)
    owner = getattr(handler, "__self__", None)
    if owner is None or not type(owner).__module__.startswith("uvicorn"):
        return None
    if getattr(handler, "__name__", "") != "handle_exit":
        return None
    return owner


def bound_messages(server: Any, max_message_bytes: int) -> None:
    """Bound inbound messages to ``max_message_bytes`` in uvicorn's ``server`` (see the
    module's docstring); takes effect for every socket opened from now on."""
    config = server.config
    config.ws_max_size = min(int(config.ws_max_size), max_message_bytes)
    protocol = getattr(config, "ws_protocol_class", None)
    if config.ws_per_message_deflate and protocol is not None and (
        "wsproto" in getattr(protocol, "__module__", "")
    ):
        config.ws_per_message_deflate = False
        log.info("quartdash: permessage-deflate turned off under uvicorn's wsproto "
                 "WebSockets (it cannot bound inflation); use --ws websockets to keep it")


#: The end of the path of Dash's (and so quartdash's) WebSocket route.
SOCKET_ROUTE = "_dash-ws-callback"

def _websockets_open(server: Any) -> int:
    """quartdash's WebSockets uvicorn still has open: those on the route of Dash's
    socket. Another WebSocket of the process (a route of the app's own) is not
    quartdash's to close, and must not hold the stop: uvicorn closes it (1012)."""
    return sum(1 for c in server.server_state.connections
               if "websockets" in type(c).__module__
               and str((getattr(c, "scope", None) or {}).get("path", "")).endswith(
                   SOCKET_ROUTE))


def hold_stop(server: Any, on_stop: Callable[[], object]) -> bool:
    """Run ``on_stop`` (awaited if it returns an awaitable) before uvicorn's ``server``
    learns of a SIGINT/SIGTERM, then until its WebSockets are closed (at most
    ``holding.STOP_WAIT_SECONDS``). True once installed; False (nothing done) outside the main
    thread, where signals cannot be caught."""
    loop = asyncio.get_running_loop()
    original = server.handle_exit
    state: dict[str, asyncio.Task[None]] = {}

    async def stopping(sig: int) -> None:
        try:
            await run_on_stop(on_stop, "uvicorn", lambda: not _websockets_open(server))
        finally:
            original(sig, None)

    def handle(sig: int, frame: Any) -> None:
        if "task" in state:
            if sig == signal.SIGINT:
                # A second Ctrl-C: uvicorn stops now (its normal stop; a third is its
                # force exit), without waiting for the drain.
                original(sig, frame)
            return
        state["task"] = loop.create_task(stopping(sig))

    def handle_threadsafe(sig: int, frame: Any) -> None:
        loop.call_soon_threadsafe(handle, sig, frame)

    try:
        for sig in _SIGNALS:
            signal.signal(sig, handle_threadsafe)
    except ValueError:  # not the main thread
        return False
    return True


#: uvicorn's WebSocket implementations that write every frame synchronously.
_DIRECT = ("WebSocketsSansIOProtocol", "WSProtocol")


def direct_writer(send: Any) -> DirectWriter | None:
    """The direct write of the socket whose ASGI ``send`` this is, under uvicorn's
    ``websockets`` (sans-I/O) or ``wsproto`` implementation; None elsewhere."""
    proto = getattr(send, "__self__", None)
    kind = type(proto)
    if (proto is None or not kind.__module__.startswith("uvicorn.")
            or kind.__name__ not in _DIRECT):
        return None

    def is_open() -> bool:
        return (proto.handshake_complete and not proto.close_sent and not proto.disconnected
                and getattr(proto.conn.state, "name", "") == "OPEN")

    return TransportWriter(proto.transport, is_open)
