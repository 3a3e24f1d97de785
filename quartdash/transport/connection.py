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
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from dash.exceptions import WebsocketDisconnected

from quartdash.config import DEFAULTS
from quartdash.transport import protocol

#: Largest batch the sender joins into one frame. Past it, what is queued goes out in
#: several frames, so a backlog never becomes one huge string (and a copy of it in the
#: server's write buffer).
DEFAULT_MAX_BATCH_BYTES = 256 << 10
#: How long a send may be in flight before the page counts as behind.
BEHIND_SECONDS = 0.1
#: Sent frames kept for a resume, until the worker acknowledges them. Past this many
#: bytes the oldest go, and a resume that needs them falls back to a fresh start.
DEFAULT_REPLAY_BYTES = 1 << 20


class Connection:
    """The server's side of one socket, independent of Quart so it can be tested alone.

    Outbound frames wait in one insertion-ordered dict. While the socket keeps up they
    are all sent, in order; while it is behind (a send is blocked on the peer, the
    socket is parked for a resume, or half the limit is queued), a ``set_props`` to the
    same properties of the same component replaces the queued one and moves to the end,
    so what is delivered keeps its order and the queue stays bounded by the number of
    distinct properties, however fast a callback streams. Events, responses and
    requests never merge; past ``max_pending`` frames or ``max_pending_bytes`` bytes
    waiting, the socket is closed (1013).

    The sender is a task only while there is something to send: an idle socket costs no
    task, and a callback's response on an idle socket is sent by the callback's own task
    (``respond``) without a hop through the sender.
    """

    __slots__ = (
        "_batch_delay", "_busy", "_busy_since", "_closed", "_flush", "_ids",
        "_loop_thread", "_max_batch_bytes", "_max_pending", "_max_pending_bytes", "_owner",
        "_queue", "_queued_bytes", "_replay", "_replay_bytes",
        "_replay_floor", "_replay_limit", "_room", "_send", "_sender", "_urgent",
        "abort_reason", "id", "loop", "pending_props", "running", "sent",
    )

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        batch_delay: float = 0.005,
        max_pending: int = DEFAULTS.max_pending_frames,
        max_pending_bytes: int = DEFAULTS.max_pending_bytes,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        replay_bytes: int = DEFAULT_REPLAY_BYTES,
    ) -> None:
        #: The socket's send, or None while the socket is parked for a resume.
        self._send: Callable[[str], Awaitable[None]] | None = send
        #: Names this socket in the registry and the admin API.
        self.id = secrets.token_hex(8)
        self._batch_delay = batch_delay
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._max_batch_bytes = max_batch_bytes
        #: Characters of the frames in ``_queue`` (what a non-reading peer costs).
        self._queued_bytes = 0
        #: The loop this socket lives on; threads hand their work to it.
        self.loop = asyncio.get_running_loop()
        #: The task serving this socket; ``abort`` cancels it to close from outside.
        self._owner = asyncio.current_task()
        #: Why the server closes this socket, once it has decided to.
        self.abort_reason: tuple[int, str] | None = None
        self._loop_thread = threading.get_ident()
        self._queue: dict[Any, str] = {}
        self._ids = itertools.count(1)
        self._urgent = False
        self._busy = False
        self._busy_since = 0.0
        self._sender: asyncio.Task[None] | None = None
        self._flush: asyncio.Future[None] | None = None
        #: Set when the queue has room again; made on first need (see ``room``).
        self._room: asyncio.Event | None = None
        self._closed = threading.Event()
        #: Frames sent so far: each frame's sequence number, for resume.
        self.sent = 0
        self._replay_limit = replay_bytes
        #: (sequence, frame) sent but not yet acknowledged; None until resume is on.
        self._replay: deque[tuple[int, str]] | None = None
        self._replay_bytes = 0
        #: The highest sequence number dropped from the replay buffer unacknowledged.
        self._replay_floor = 0
        #: get_prop requests awaiting the page's answer, by request id.
        self.pending_props: dict[str, concurrent.futures.Future[Any]] = {}
        #: callbacks in flight, by request id (a sync one's task awaits its thread).
        self.running: dict[str, asyncio.Task[None]] = {}

    @property
    def is_shutdown(self) -> bool:
        """True once the socket is closing; long-running callbacks should stop."""
        return self._closed.is_set()

    def on_loop_thread(self) -> bool:
        """True when called from the thread running this connection's event loop."""
        return threading.get_ident() == self._loop_thread

    # --- outbound ---------------------------------------------------------------------
    def send_frame(self, frame: str, urgent: bool = True, key: Any = None) -> None:
        """Queue a frame from any thread. ``urgent`` frames end the batching delay;
        a ``key`` lets a later frame with the same key replace this one while behind."""
        if self.on_loop_thread():
            self._enqueue(frame, urgent, key)
        elif not self._closed.is_set():
            self.loop.call_soon_threadsafe(self._enqueue, frame, urgent, key)

    async def respond(self, frame: str) -> None:
        """Send a frame now from a task on the loop (a callback's response): straight to
        the socket when nothing is queued or in flight, else behind what is."""
        if self._queue or self._busy or self._send is None or self._closed.is_set():
            self._enqueue(frame, True, None)
        else:
            await self._transmit(frame)
            self._kick()

    def behind(self) -> bool:
        """The page is not keeping up: a send has been blocked for ``BEHIND_SECONDS``,
        the socket is parked, or half a limit is queued. set_props coalesce from here on.
        (A send merely in flight is not behind: a page that reads as fast as a callback
        streams gets every update, even when the callback yields between them.)"""
        return (self._send is None or self.crowded()
                or (self._busy and time.monotonic() - self._busy_since > BEHIND_SECONDS))

    def crowded(self) -> bool:
        """The queue is past half its limits: a sender that can wait should."""
        return (len(self._queue) >= self._max_pending // 2
                or self._queued_bytes >= self._max_pending_bytes // 2)

    async def room(self) -> None:
        """Wait (on the loop) until the queue is below half its limit or the socket
        closed. A callback that sends in a tight loop then goes at the page's pace
        instead of filling the queue until the socket is closed as not reading."""
        while self.crowded() and not self._closed.is_set():
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()

    def stalled_for(self, now: float) -> float:
        """How long the send in flight has been blocked (``time.monotonic`` seconds)."""
        return now - self._busy_since if self._busy else 0.0

    def _enqueue(self, frame: str, urgent: bool, key: Any) -> None:
        if self._closed.is_set():
            return
        queue = self._queue
        if key is not None and self.behind():
            old = queue.pop(key, None)  # the newer value goes last: delivery keeps its order
            if old is not None:
                self._queued_bytes -= len(old)
        else:
            key = next(self._ids)
        if queue and (len(queue) >= self._max_pending
                      or self._queued_bytes + len(frame) > self._max_pending_bytes):
            self.abort(protocol.CloseCode.TRY_AGAIN_LATER, "client is not reading")
            return
        queue[key] = frame
        self._queued_bytes += len(frame)
        if urgent:
            self._urgent = True
            if self._flush is not None and not self._flush.done():
                self._flush.set_result(None)
        self._kick()

    def _kick(self) -> None:
        """Start the sender if frames wait and nothing else is sending."""
        if (
            self._sender is None and self._queue and not self._busy
            and self._send is not None and not self._closed.is_set()
        ):
            self._sender = self.loop.create_task(self._run_sender())

    async def _run_sender(self, replay: list[str] | None = None) -> None:
        """Send what is queued; set_props wait up to ``batch_delay`` to share a frame.
        After a resume, first the frames the page missed (``replay``), as they were."""
        try:
            for frame in replay or ():
                await self._transmit(frame, renumber=False)
            while self._queue and self._send is not None and not self._closed.is_set():
                if self._batch_delay and not self._urgent:
                    self._flush = self.loop.create_future()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._batch_delay):
                            await self._flush
                    self._flush = None
                if self._busy or self._send is None:
                    break
                frames = self._take_batch()
                self._urgent = False
                if self._room is not None:
                    self._room.set()
                await self._transmit(protocol.batch(frames))
        finally:
            self._sender = None
        self._kick()

    def _take_batch(self) -> list[str]:
        """The oldest queued frames, up to ``max_batch_bytes`` (at least one)."""
        queue = self._queue
        if self._queued_bytes <= self._max_batch_bytes:
            frames = list(queue.values())
            queue.clear()
            self._queued_bytes = 0
            return frames
        frames, size, taken = [], 0, []
        for key, frame in queue.items():
            if frames and size + len(frame) > self._max_batch_bytes:
                break
            frames.append(frame)
            taken.append(key)
            size += len(frame)
        for key in taken:
            del queue[key]
        self._queued_bytes -= size
        return frames

    async def _transmit(self, text: str, renumber: bool = True) -> None:
        """Send one frame, numbered and kept for a resume when that is on."""
        send = self._send
        if send is None:
            return
        if renumber:
            self.sent += 1
            if self._replay is not None:
                self._keep(self.sent, text)
        self._busy = True
        self._busy_since = time.monotonic()
        try:
            await send(text)
        except Exception:  # pylint: disable=broad-exception-caught
            # The peer went away. A resumable socket waits for its resume (the frame is
            # in the replay buffer); any other is done.
            if self._replay is None:
                self._closed.set()
            elif self._send is send:
                self._send = None  # stop sending into a dead socket until the resume
        finally:
            # Unless a resume has since put a new socket in its place (with its own send
            # in flight), this send is over.
            if self._send is send or self._send is None:
                self._busy = False

    # --- resume -----------------------------------------------------------------------
    def enable_resume(self) -> None:
        """Keep sent frames until acknowledged, so this socket can be resumed."""
        if self._replay is None:
            self._replay = deque()

    @property
    def resumable(self) -> bool:
        """Resume is on and the connection is not closing."""
        return self._replay is not None and not self._closed.is_set()

    def _keep(self, seq: int, text: str) -> None:
        replay = self._replay
        assert replay is not None
        replay.append((seq, text))
        self._replay_bytes += len(text)
        while self._replay_bytes > self._replay_limit and len(replay) > 1:
            dropped, old = replay.popleft()
            self._replay_bytes -= len(old)
            self._replay_floor = dropped

    def acknowledge(self, received: int) -> None:
        """The page has every frame up to ``received``: forget them."""
        replay = self._replay
        if replay is None:
            return
        while replay and replay[0][0] <= received:
            self._replay_bytes -= len(replay.popleft()[1])

    def park(self, owner: asyncio.Task[Any] | None) -> None:
        """The socket is gone: stop sending, keep everything else running. ``owner`` is
        the task that answers for the connection now (``abort`` cancels it): the one
        waiting for a resume, then the handler of the socket that claims it."""
        self._send = None
        self._owner = owner
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None
        self._busy = False

    def can_resume(self, received: int) -> bool:
        """A page that has every frame up to ``received`` can be given the rest: they
        are still kept (and it does not claim frames never sent)."""
        return self.resumable and self._replay_floor <= received <= self.sent

    def resume(self, send: Callable[[str], Awaitable[None]], received: int) -> None:
        """Attach a new socket whose page has every frame up to ``received`` (checked
        with ``can_resume``): it gets the frames it missed, then what was queued."""
        replay = self._replay
        assert replay is not None
        self.acknowledge(received)
        self._send = send
        self._sender = self.loop.create_task(self._run_sender([text for _seq, text in replay]))

    def abort(self, code: int, reason: str) -> bool:
        """Close this socket from outside its receive loop (from any thread). True if
        this call decided the close (from the loop), or handed it to the loop."""
        if not self.on_loop_thread():
            self.loop.call_soon_threadsafe(self.abort, code, reason)
            return True
        if self.abort_reason is not None or self._closed.is_set():
            return False
        self.abort_reason = (code, protocol.close_reason(reason))
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
        if self._room is not None:
            self._room.set()
        if self._flush is not None and not self._flush.done():
            self._flush.set_result(None)
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
        sender = self._sender
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
