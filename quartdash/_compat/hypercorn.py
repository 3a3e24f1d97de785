"""Every touch of hypercorn's internals (and of wsproto's, which hypercorn drives).

What hypercorn 0.17/0.18 does with inbound WebSocket frames, and why it is changed here:

* It negotiates permessage-deflate, and wsproto inflates each TCP read with no bound:
  a 64 KiB read of deflated zeros becomes 64 MiB before anyone can look at it.
  hypercorn then compares the inflated message with ``websocket_max_message_size``
  (16 MiB by default, not ours), and once a message is over it keeps buffering the
  rest of it anyway. Measured: two deflated frames of 128 MiB (255 KiB on the wire)
  grew a worker by about 400 MB.
* It hands every message to the app through a queue of ``max_app_queue_size`` (10)
  messages, also after the app has closed the socket or finished: a closed socket's
  messages pile up, and once the queue is full hypercorn's reading task blocks forever.

So, once ``install`` has run (``QuartDash(...)`` calls it with its
``max_message_bytes``):

* the deflate extension inflates at most ``limit + 1`` bytes per message, in pieces,
  and fails the message with 1009 (MESSAGE_TOO_BIG) as soon as it is over the limit;
* the message buffer holds at most the limit (or hypercorn's own, if smaller) and stops
  buffering once a message is over it;
* after the app sends its close, or returns, messages are dropped instead of queued;
  only the disconnect is still passed on, so the app learns when the peer is gone;
* once wsproto's parser has failed (a malformed frame, a message over the limit), it
  parses nothing more but would keep every byte that arrives: 1.8 GB in the 5 s a
  closing socket waits for the peer's answer (measured on loopback). What arrives then
  is dropped unread instead; and after a close the deflate extension stops inflating
  without failing the parser, so the peer's close frame is still seen;
* every frame (a fragment, a ping, a pong) costs a token of a per-socket bucket of
  ``FRAMES_PER_MESSAGE`` times the app's ``rate_limit``: a flood of pings or of empty
  fragments (which never become a message the app's buckets count) kept a worker busy
  for seconds and delayed every other socket by as long. Past the bucket the socket is
  closed with 4429, and a closing socket's further frames are dropped unread. Handling
  one read of many small frames yields to the loop every ``YIELD_EVERY`` frames.

With several QuartDash apps in one process the largest ``max_message_bytes`` applies to
all of them (hypercorn's stream does not know which app it serves); each app still
checks its own limit on every message. Other ASGI servers are left as they are.

The server-stop watch (``watch_server_stop``):

Closing every socket with 1001 as soon as the server begins to stop.

ASGI tells an app that its server stops only through the lifespan "shutdown" event, and
hypercorn sends that after it has waited (``graceful_timeout``, 3 s by default) for the
open connections to end by themselves. WebSockets never end by themselves, so hypercorn
drops them when the wait is over and the browser sees a close without a code (1006).

So quartdash acts when the stop begins. Each hypercorn worker (asyncio) runs
``hypercorn.utils.raise_shutdown`` tasks that finish at that moment; the watcher finds
them once the server is up and, when one finishes, closes this worker's sockets with
1001 (GOING_AWAY): the pages reconnect with backoff, and hypercorn's wait ends as soon
as the sockets are closed instead of after the whole timeout. Under a server without
those tasks the watcher gives up quietly and the lifespan shutdown is the fallback
(uvicorn and granian: see ``servers.py``).

The direct write (``direct_writer``, see ``transport/direct.py``):

An asyncio worker's socket over HTTP/1.1 is a chain of bound methods: the app's ASGI
``send`` is its ``WSStream.app_send``, whose ``send`` is the ``H11Protocol``'s, whose
``send`` is the ``TCPServer``'s; the last holds the transport and the lock every write
of the socket takes. A frame is written directly only while that lock is free and has
no waiter (a write of hypercorn's that wsproto has framed waits there, even once woken),
the stream has not closed and wsproto is OPEN (no close frame sent). Anything else
(HTTP/2, trio, a wrapped ``send``) has no direct write.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.protocol import ws_stream
from hypercorn.protocol.events import Data, StreamClosed
from hypercorn.protocol.h11 import H11Protocol
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, Opcode, RsvBits

from quartdash.transport.direct import DirectWriter, TransportWriter
from quartdash.transport.limits import TokenBucket
from quartdash.transport.protocol import CloseCode, close_notice, close_reason

log = logging.getLogger("quartdash")
_limits: set[int] = set()
_rates: set[float] = set()
_installed = False

#: Frames (fragments and control frames) a socket may send per message its
#: ``rate_limit`` allows: browsers send a message as one frame; other clients may
#: fragment, or ping now and then.
FRAMES_PER_MESSAGE = 4
#: Frames handled in one go before the reading task lets other tasks run.
YIELD_EVERY = 64


def message_limit() -> int | None:
    """The inbound message limit in force (the largest an installed app asked for)."""
    return max(_limits) if _limits else None


def frame_rate() -> float | None:
    """Inbound frames per second per socket (from the largest ``rate_limit``)."""
    return FRAMES_PER_MESSAGE * max(_rates) if _rates else None


class BoundedDeflate(PerMessageDeflate):
    """wsproto's permessage-deflate, inflating no message past ``message_limit()``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit = message_limit() or (1 << 62)
        #: Bytes inflated so far for the message being received.
        self._inflated = 0
        #: The socket is closing: compressed payloads are dropped uninflated.
        self._stopped = False

    def frame_inbound_header(
        self, proto: Any, opcode: Opcode, rsv: RsvBits, payload_length: int
    ) -> CloseReason | RsvBits:
        if opcode is not Opcode.CONTINUATION and not opcode.iscontrol():
            self._inflated = 0  # the first frame of a new message
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        if self._stopped:
            return b""
        assert self._decompressor is not None
        room = self._limit - self._inflated
        if room < 0:  # this message was refused already (and max_length 0 is no limit)
            return CloseReason.MESSAGE_TOO_BIG
        try:
            # At most room + 1 bytes: one more than fits is enough to know.
            inflated = self._decompressor.decompress(bytes(data), room + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        return self._count(inflated)

    def frame_inbound_complete(self, proto: Any, fin: bool) -> bytes | CloseReason | None:
        if self._stopped:
            if fin:  # what wsproto's own would reset, without its unbounded flush
                self._inbound_compressed = None
            return None
        result = super().frame_inbound_complete(proto, fin)
        return self._count(result) if isinstance(result, bytes) else result

    def stop(self) -> None:
        """The socket is closing: inflate nothing more. What still arrives is dropped
        unread, so a peer that ignores the close cannot make the server inflate; the
        frames are still parsed (not failed), so the peer's close frame is seen."""
        self._stopped = True

    def _count(self, inflated: bytes) -> bytes | CloseReason:
        self._inflated += len(inflated)
        if self._inflated > self._limit:
            return CloseReason.MESSAGE_TOO_BIG
        return inflated


class BoundedBuffer(ws_stream.WebsocketBuffer):
    """hypercorn's message buffer, but holding nothing more once over its limit."""

    def extend(self, event: Message[Any]) -> None:
        length: int = self.length
        if length > self.max_length:
            raise ws_stream.FrameTooLargeError()  # already refused: keep nothing more
        if length + len(event.data) > self.max_length:
            self.value = None
            self.length = self.max_length + 1
            raise ws_stream.FrameTooLargeError()
        super().extend(event)


def _drop_after_close(put: Callable[[Any], Awaitable[None]], finished: bool
                      ) -> Callable[[Any], Awaitable[None]]:
    """The app's queue, once it closed the socket (only the disconnect still matters)
    or finished (nothing matters: nobody reads the queue any more)."""

    async def put_after_close(message: Any) -> None:
        if finished or message.get("type") == "websocket.receive":
            return
        queue = getattr(put, "__self__", None)
        if isinstance(queue, asyncio.Queue) and queue.full():
            return  # never block hypercorn's reader on an app that stopped reading
        await put(message)

    return put_after_close


def install(max_message_bytes: int, rate_limit: float | None = None) -> None:
    """Bound inbound messages to ``max_message_bytes`` in hypercorn, and inbound frames
    to ``FRAMES_PER_MESSAGE`` times ``rate_limit`` a second (idempotent)."""
    global _installed  # pylint: disable=global-statement
    _limits.add(max_message_bytes)
    if rate_limit is not None:
        _rates.add(rate_limit)
    if _installed:
        return
    _installed = True
    # hypercorn's handshake builds its extension from this module-level name.
    setattr(ws_stream, "PerMessageDeflate", BoundedDeflate)  # noqa: B010
    stream = ws_stream.WSStream
    original_init = stream.__init__
    original_send = stream.app_send
    original_handle = stream.handle

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.quartdash_ended = asyncio.Event()
        limit = min(self.config.websocket_max_message_size, message_limit() or (1 << 62))
        self.buffer = BoundedBuffer(limit)
        rate = frame_rate()
        self.quartdash_frames = None if rate is None else TokenBucket(rate, 2 * rate)
        #: Set once nothing more is to be parsed: what arrives is dropped unread.
        self.quartdash_deaf = False

    async def handle(self: Any, event: Any) -> None:
        if isinstance(event, Data) and self.quartdash_deaf:
            return  # wsproto would only buffer it (see ``_handle_events``)
        await original_handle(self, event)

    async def app_send(self: Any, message: Any) -> None:
        if message is None and not self.closed and _closing(self):
            # The app is done but the peer has not answered its close yet: wait for the
            # answer (``_handle_events`` ends the stream then), at most CLOSE_WAIT
            # seconds; closing the TCP connection under a peer that is still sending
            # resets it, and the peer never reads the close frame's code.
            self.app_put = _drop_after_close(self.app_put, finished=True)
            self.task_group.spawn(_end_stream_later, self)
            return
        await original_send(self, message)
        if message is not None and message.get("type") == "websocket.close":
            _stop_inflating(self)
        if message is None and self.app_put is not None:
            self.app_put = _drop_after_close(self.app_put, finished=True)

    async def _handle_events(self: Any) -> None:
        """hypercorn's, with the failures above answered by a close frame of their code,
        and nothing handed to the app once either side began to close."""
        connection = self.connection
        frames = self.quartdash_frames
        handled = 0
        for event in connection.events():
            state = connection.state
            if isinstance(event, (Ping, Pong)) or (
                isinstance(event, Message) and event.frame_finished
            ):
                if frames is not None and not frames.take():
                    # Too many frames: the socket is closed (or was closing), and the
                    # rest goes unparsed.
                    self.quartdash_deaf = True
                    if state is ConnectionState.OPEN:
                        await _fail(self, CloseCode.RATE_LIMITED, "frame rate limit exceeded")
                    return
                handled += 1
                if handled % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # one read of tiny frames must not hog the loop
                    if self.closed:
                        return
                    state = connection.state
            if isinstance(event, Message):
                if state is not ConnectionState.OPEN:
                    continue  # closing: the app has nothing more to read
                try:
                    self.buffer.extend(event)
                except ws_stream.FrameTooLargeError:
                    await _fail(self, CloseReason.MESSAGE_TOO_BIG)
                    continue
                if event.message_finished:
                    await self.app_put(self.buffer.to_message())
                    self.buffer.clear()
            elif isinstance(event, Ping):
                if state is ConnectionState.OPEN:
                    await self._send_wsproto_event(event.response())
            elif isinstance(event, CloseConnection):
                if state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
                    # wsproto failed a frame (over the limit, a bad deflate stream): it
                    # reports that as a close without sending one, and leaves the state.
                    # Its parser is done for good, but would keep buffering all that
                    # arrives: drop it unread from now on.
                    self.quartdash_deaf = True
                    if state is ConnectionState.OPEN:
                        await _fail(self, event.code)
                    return
                else:
                    if state is ConnectionState.REMOTE_CLOSING:
                        await self._send_wsproto_event(event.response())
                    self.quartdash_ended.set()
                    await self.send(StreamClosed(stream_id=self.stream_id))

    stream.__init__ = __init__  # type: ignore[method-assign]
    stream.handle = handle  # type: ignore[method-assign]
    stream.app_send = app_send  # type: ignore[method-assign]
    stream._handle_events = _handle_events  # type: ignore[method-assign]


#: How long a stream whose app finished waits for the peer's answer to its close.
CLOSE_WAIT_SECONDS = 5.0


def _closing(stream: Any) -> bool:
    connection = getattr(stream, "connection", None)
    return connection is not None and connection.state is ConnectionState.LOCAL_CLOSING


async def _fail(stream: Any, code: int, reason: str | None = None) -> None:
    """Refuse the message being received: a close frame with ``code``, announced as the
    app's own closes are (``protocol.close_notice``); the peer may still be sending the
    rest, which is read and dropped; and the app is told."""
    stream.buffer.clear()
    if reason is None:
        reason = (f"frame larger than {stream.buffer.max_length} bytes"
                  if code == CloseReason.MESSAGE_TOO_BIG else "malformed frame")
    reason = close_reason(reason)
    client = stream.client[0] if stream.client else "-"
    log.warning("quartdash: closing WebSocket with %d: %s (address=%s)", code, reason, client)
    # pylint: disable=protected-access
    await stream._send_wsproto_event(TextMessage(data=close_notice(int(code), reason)))
    await stream._send_wsproto_event(CloseConnection(code=code, reason=reason))
    _stop_inflating(stream)
    put = _drop_after_close(stream.app_put, finished=False)
    stream.app_put = put
    await put({"type": "websocket.disconnect", "code": int(code)})


def _stop_inflating(stream: Any) -> None:
    connection = getattr(stream, "connection", None)
    # pylint: disable-next=protected-access
    for extension in getattr(getattr(connection, "_proto", None), "extensions", ()):
        if isinstance(extension, BoundedDeflate):
            extension.stop()


async def _end_stream_later(stream: Any) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_WAIT_SECONDS):
            await stream.quartdash_ended.wait()
    if not stream.quartdash_ended.is_set() and not stream.closed:
        stream.quartdash_ended.set()
        await stream.send(StreamClosed(stream_id=stream.stream_id))


def stop_triggers() -> list[asyncio.Task[object]]:
    """hypercorn's tasks that end when the server is told to stop (``raise_shutdown``)."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and code.co_name == "raise_shutdown" and (
            "hypercorn" in code.co_filename
        ):
            found.append(task)
    return found


# --- the server-stop watch ----------------------------------------------------------
#: How long after the lifespan startup the watcher looks for the server's tasks.
FIND_SECONDS = 10.0
_POLL_SECONDS = 0.05


async def watch_server_stop(on_stop: Callable[[], object]) -> None:
    """Call ``on_stop`` once, when the ASGI server (hypercorn) begins to stop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FIND_SECONDS
    triggers = stop_triggers()
    while not triggers:
        if loop.time() > deadline:
            log.debug("quartdash: no hypercorn stop signal found; 1001 at lifespan shutdown")
            return
        await asyncio.sleep(_POLL_SECONDS)
        triggers = stop_triggers()
    await asyncio.wait(triggers, return_when=asyncio.FIRST_COMPLETED)
    result = on_stop()
    if inspect.isawaitable(result):
        await result  # hypercorn does not wait for it: its graceful timeout bounds it


def direct_writer(send: Any) -> DirectWriter | None:
    """The direct write of the socket whose ASGI ``send`` this is, under hypercorn's
    asyncio worker over HTTP/1.1; None elsewhere (see the module's docstring)."""
    stream = getattr(send, "__self__", None)
    if not isinstance(stream, ws_stream.WSStream):
        return None
    http = getattr(stream.send, "__self__", None)
    if not isinstance(http, H11Protocol):
        return None
    server = getattr(http.send, "__self__", None)
    if not isinstance(server, TCPServer):
        return None
    lock = server.send_lock
    connected = ws_stream.ASGIWebsocketState.CONNECTED

    def is_open() -> bool:
        # A waiter of the lock, even one already woken, holds bytes wsproto has framed
        # and not yet written: it goes first.
        return (not stream.closed and stream.state is connected
                and stream.connection.state is ConnectionState.OPEN and not lock.locked()
                and not lock._waiters)  # pylint: disable=protected-access

    return TransportWriter(server.writer.transport, is_open)
