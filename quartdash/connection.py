"""One WebSocket connection: its outbound queue and sender, pending get_prop requests,
and the callbacks running on its behalf.

Callbacks run in two places: async ones as tasks on the connection's loop, sync ones in
a thread pool. Everything a callback does to the connection (``set_props``,
``get_prop``, the final response) therefore goes through methods that are safe from any
thread: work from a thread is handed to the loop with ``call_soon_threadsafe``, which
keeps it in order with the callback's own response.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import secrets
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from dash._utils import stringify_id
from dash.exceptions import WebsocketDisconnected

from . import protocol
from .encoding import encode_json

#: Frames one connection may have waiting before it is treated as not reading.
DEFAULT_MAX_PENDING_FRAMES = 10_000


class Connection:
    """The server's side of one socket, independent of Quart so it can be tested alone."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        batch_delay: float = 0.005,
        max_pending: int = DEFAULT_MAX_PENDING_FRAMES,
    ) -> None:
        self._send = send
        #: Names this socket in the registry and the admin API.
        self.id = secrets.token_hex(8)
        self._batch_delay = batch_delay
        self._max_pending = max_pending
        #: The loop this socket lives on; threads hand their work to it.
        self.loop = asyncio.get_running_loop()
        #: The task serving this socket; ``abort`` cancels it to close from outside.
        self._owner = asyncio.current_task()
        #: Why the server closes this socket, once it has decided to.
        self.abort_reason: tuple[int, str] | None = None
        self._loop_thread = threading.get_ident()
        self._frames: deque[str] = deque()
        self._wake = asyncio.Event()
        self._flush = asyncio.Event()
        #: Set whenever the sender has taken the queue (or the socket closed): the
        #: awaitable senders (``emit``) wait on it when the queue is long.
        self._drained = asyncio.Event()
        self._closed = threading.Event()
        self._ids = itertools.count(1)
        #: get_prop requests awaiting the page's answer, by request id.
        self.pending_props: dict[str, concurrent.futures.Future[Any]] = {}
        #: callbacks in flight, by request id (a sync one's task awaits its thread).
        self.running: dict[str, asyncio.Task[None]] = {}
        self._sender = self.loop.create_task(self._run_sender())

    @property
    def is_shutdown(self) -> bool:
        """True once the socket is closing; long-running callbacks should stop."""
        return self._closed.is_set()

    def on_loop_thread(self) -> bool:
        """True when called from the thread running this connection's event loop."""
        return threading.get_ident() == self._loop_thread

    # --- outbound ---------------------------------------------------------------------
    def send_frame(self, frame: str, urgent: bool = True) -> None:
        """Queue a frame from any thread. ``urgent`` frames end the batching delay."""
        if self.on_loop_thread():
            self._enqueue(frame, urgent)
        elif not self._closed.is_set():
            self.loop.call_soon_threadsafe(self._enqueue, frame, urgent)

    def crowded(self) -> bool:
        """The queue is past half its limit: a sender that can wait should."""
        return len(self._frames) >= self._max_pending // 2

    async def room(self) -> None:
        """Wait (on the loop) until the queue is below half its limit or the socket
        closed. A callback that sends in a tight loop then goes at the page's pace
        instead of filling the queue until the socket is closed as not reading."""
        while self.crowded() and not self._closed.is_set():
            self._drained.clear()
            await self._drained.wait()

    def _enqueue(self, frame: str, urgent: bool) -> None:
        if self._closed.is_set():
            return
        if len(self._frames) >= self._max_pending:
            self.abort(protocol.CloseCode.TRY_AGAIN_LATER, "client is not reading")
            return
        self._frames.append(frame)
        self._wake.set()
        if urgent:
            self._flush.set()

    async def _run_sender(self) -> None:
        """Send queued frames; set_props wait up to ``batch_delay`` to share a frame."""
        while True:
            await self._wake.wait()
            if self._batch_delay and not self._flush.is_set() and not self._closed.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._batch_delay):
                        await self._flush.wait()
            self._wake.clear()
            self._flush.clear()
            frames = list(self._frames)
            self._frames.clear()
            self._drained.set()
            if not frames:
                if self._closed.is_set():
                    return
                continue
            try:
                await self._send(protocol.batch(frames))
            except Exception:  # the peer went away: nothing more can be sent
                self._closed.set()
                return

    def abort(self, code: int, reason: str) -> bool:
        """Close this socket from outside its receive loop (from any thread). True if
        this call decided the close (from the loop), or handed it to the loop."""
        if not self.on_loop_thread():
            self.loop.call_soon_threadsafe(self.abort, code, reason)
            return True
        if self.abort_reason is not None or self._closed.is_set():
            return False
        self.abort_reason = (code, reason)
        self.stop()  # is_shutdown turns true before anything is cancelled
        if self._owner is not None:
            self._owner.cancel()
        return True

    # --- get_prop ---------------------------------------------------------------------
    def request_prop(
        self, renderer_id: str, component_id: str, prop: str
    ) -> concurrent.futures.Future[Any]:
        """Ask the page for a property; the future resolves with ``{prop: value}``."""
        if self._closed.is_set():
            raise WebsocketDisconnected()
        request_id = f"p{next(self._ids)}"
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.pending_props[request_id] = future
        future.add_done_callback(lambda _f: self.pending_props.pop(request_id, None))
        self.send_frame(
            protocol.get_props_request(renderer_id, request_id, component_id, [prop])
        )
        return future

    def resolve_prop(self, request_id: str, payload: dict[str, Any] | None) -> None:
        """The page answered; an unknown or late answer is ignored."""
        future = self.pending_props.get(request_id)
        if future is not None and not future.done():
            future.set_result(payload or {})

    # --- teardown ---------------------------------------------------------------------
    def stop(self) -> None:
        """Begin the teardown at once: ``is_shutdown`` turns true first, so loops in
        callbacks can end by themselves; pending ``get_prop`` calls fail and every
        running callback is cancelled. Idempotent."""
        self._closed.set()
        self._drained.set()
        for future in list(self.pending_props.values()):
            if not future.done():
                future.set_exception(WebsocketDisconnected())
        for task in list(self.running.values()):
            task.cancel()

    async def shutdown(self, grace: float = 2.0) -> None:
        """Stop everything for this socket and wait for it: callbacks (bounded by
        ``grace``), pending requests, the sender. Cancelling a sync callback's task
        cancels its thread-pool job if it has not started; a running thread cannot be
        stopped, and its output is dropped."""
        self.stop()
        tasks = list(self.running.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        self._wake.set()
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender


#: Longest a thread-pool ``emit_sync`` waits for the page to catch up.
EMIT_WAIT_SECONDS = 30.0
_MAX_EVENT_NAME = 200


def _event_name(event: str) -> str:
    if not isinstance(event, str) or not 0 < len(event) <= _MAX_EVENT_NAME:
        raise ValueError(f"an event name is a string of 1 to {_MAX_EVENT_NAME} characters")
    return event


class CallbackSocket:
    """What a callback sees as ``ctx.websocket``: its connection, from its renderer.

    The same methods as Dash's ``DashWebsocketCallback`` (``set_prop``,
    ``set_prop_sync``, ``get_prop``, ``is_shutdown``), safe from the loop and from a
    thread-pool callback alike, plus ``get_prop_sync`` for sync callbacks.
    """

    __slots__ = ("_conn", "_renderer_id")

    def __init__(self, conn: Connection, renderer_id: str) -> None:
        self._conn = conn
        self._renderer_id = renderer_id

    @property
    def is_shutdown(self) -> bool:
        """True once the socket is closing: a streaming loop should return."""
        return self._conn.is_shutdown

    @property
    def renderer_id(self) -> str:
        """The id of the page (tab) whose callback this is."""
        return self._renderer_id

    def set_props(self, component_id: str | dict[str, Any], props: dict[str, Any]) -> None:
        """Push several properties of one component to the page now, in one message."""
        frame = protocol.set_props_frame(
            self._renderer_id, stringify_id(component_id), encode_json(props)
        )
        self._conn.send_frame(frame, urgent=False)

    def set_prop_sync(self, component_id: str | dict[str, Any], prop: str, value: Any) -> None:
        """Push one property to the page now (Dash's name for it)."""
        self.set_props(component_id, {prop: value})

    async def set_prop(self, component_id: str | dict[str, Any], prop: str, value: Any) -> None:
        """Awaitable form of ``set_prop_sync``, as in Dash."""
        self.set_props(component_id, {prop: value})

    def emit_sync(self, event: str, data: Any = None) -> None:
        """Send one event to this page: ``window.quartdash.on(event, handler)`` calls
        ``handler(data)``. Every event is delivered, once, in the order sent (also
        relative to ``set_props``); unlike props, events are never merged, so a fast
        stream into a clientside drawing loses nothing. ``data`` is encoded as Dash
        encodes props. From a thread-pool callback this waits while the page is far
        behind; raises ``WebsocketDisconnected`` once the socket is closing."""
        conn = self._conn
        if conn.is_shutdown:
            raise WebsocketDisconnected()
        frame = protocol.event_frame(self._renderer_id, _event_name(event), encode_json(data))
        if conn.crowded() and not conn.on_loop_thread():
            asyncio.run_coroutine_threadsafe(conn.room(), conn.loop).result(EMIT_WAIT_SECONDS)
        conn.send_frame(frame, urgent=False)

    async def emit(self, event: str, data: Any = None) -> None:
        """Awaitable ``emit_sync``: waits while the page is far behind."""
        if self._conn.crowded():
            await self._conn.room()
        self.emit_sync(event, data)

    async def get_prop(
        self,
        component_id: str | dict[str, Any],
        prop: str,
        timeout: float = 30.0,  # noqa: ASYNC109 - Dash's signature
    ) -> Any:
        """The property's current value in the page. Raises ``TimeoutError`` after
        ``timeout`` seconds and ``WebsocketDisconnected`` if the socket closes."""
        future = self._conn.request_prop(self._renderer_id, stringify_id(component_id), prop)
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer for {component_id}.{prop} in {timeout} s") from None
        return result.get(prop)

    def get_prop_sync(
        self, component_id: str | dict[str, Any], prop: str, timeout: float = 30.0
    ) -> Any:
        """Blocking ``get_prop`` for sync callbacks (they run in the thread pool)."""
        if self._conn.on_loop_thread():
            raise RuntimeError("get_prop_sync would block the event loop: await get_prop")
        future = self._conn.request_prop(self._renderer_id, stringify_id(component_id), prop)
        try:
            result = future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer for {component_id}.{prop} in {timeout} s") from None
        return result.get(prop)
