"""Writing a push's frame straight to the socket's transport, when that is safe.

Why: a push to N pages costs N sends. Through ASGI each is a task, Quart's
``websocket.send`` (a message dict, a signal), the server's send (hypercorn: its stream,
its HTTP/1.1 protocol, a lock, a drain; uvicorn: the same with its own names), the
server's WebSocket library framing the message, and, when the page negotiated
permessage-deflate, a compression of the same text once per socket. Measured with
1,000 subscribers (``bench/fanout.py``), that chain was most of the 65 µs of server
CPU per delivered update. Written here, the frame costs its header and one
``transport.write``.

What makes it safe (each ``DirectWriter`` of ``_compat`` checks it on every write):

* The socket is open at both levels: the server's stream and its WebSocket library have
  sent no close, so nothing is written after a close frame.
* Nothing of the server's is half way to the transport: hypercorn writes under a lock,
  and a frame is written directly only while no one holds it or waits for it; uvicorn
  writes synchronously. The connection (``connection.py``) writes directly only when
  nothing of its own is queued or in flight, and from a push's delivery to its write
  holds its next send for it (``Connection.hold``), so frames keep their order.
* The peer is reading: the transport's buffer is at or below its high-water mark (and
  the message is at most one batch, ``outbound.DEFAULT_MAX_BATCH_BYTES``).
  Otherwise the push is queued as any frame is, and the queue's budgets, coalescing and
  the send timeout take over as before (``outbound.py``), so a page that stopped reading
  costs at most the high-water mark more than it did.

The frame is a whole, unmasked, uncompressed text frame (RFC 6455 section 5.2). RFC 7692
lets an endpoint that negotiated permessage-deflate send a message uncompressed (RSV1
clear); such a message never enters the compressor's window on either side, so the
server's own compressed frames stay valid. A push thus costs a page its uncompressed
size on the wire.

Quart's ``websocket_sent`` signal is not sent for a frame written here.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Protocol


class DirectWriter(Protocol):
    """One socket's direct write (see the module's docstring)."""

    def try_write(self, frame: bytes) -> bool:
        """Write ``frame``, one whole frame (``text_frame``), if that is safe and in
        order and the peer is reading; else False, and nothing written. On the loop."""


def text_frame(payload: bytes) -> bytes:
    """``payload`` (UTF-8) as one final, unmasked text frame (RFC 6455 section 5.2)."""
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class TransportWriter:
    """A ``DirectWriter`` on an asyncio transport; ``is_open`` is the server's own check
    (its stream and WebSocket library open, none of its writes half way)."""

    __slots__ = ("_high", "_is_open", "_transport")

    def __init__(self, transport: asyncio.WriteTransport, is_open: Callable[[], bool]) -> None:
        self._transport = transport
        self._is_open = is_open
        try:
            self._high = transport.get_write_buffer_limits()[1]
        except NotImplementedError:
            self._high = 0  # unknown: write only into an empty buffer

    def try_write(self, frame: bytes) -> bool:
        transport = self._transport
        if (not self._is_open() or transport.is_closing()
                or transport.get_write_buffer_size() > self._high):
            return False
        try:
            transport.write(frame)
        except (RuntimeError, OSError):  # closing under us (after write_eof, say)
            return False
        return True
